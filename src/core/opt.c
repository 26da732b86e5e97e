#include <string.h>

#include "core/opt.h"

void opt_init(struct opt_reader *r, int argc, char *const argv[])
{
	r->argv = argv;
	r->argc = argc > 0 && argv ? argc : 0;
	r->next = 0;
}

enum opt_type opt_next(struct opt_reader *r, struct opt *o)
{
	const char *arg, *eq;

	memset(o, 0, sizeof(*o));
	if (r->next >= r->argc)
		return OPT_END;
	arg = r->argv[r->next++];
	o->arg = arg;
	if (opt_is_help(arg))
		return OPT_HELP;
	/* "-" is stdout or stdin and "--" could be a file name */
	if (strncmp(arg, "--", 2) != 0 || !arg[2])
		return OPT_ARG;
	o->name = arg + 2;
	eq = strchr(o->name, '=');
	o->namelen = eq ? (size_t)(eq - o->name) : strlen(o->name);
	o->val = eq ? eq + 1 : NULL;
	return OPT_NAMED;
}

const char *opt_value(struct opt_reader *r, const struct opt *o, bool any)
{
	const char *next;

	if (o->val)
		return o->val;
	if (r->next >= r->argc)
		return NULL;
	next = r->argv[r->next];
	if (!any && !strncmp(next, "--", 2))
		return NULL;
	r->next++;
	return next;
}

/* "--start-secs" and "--start_secs" alike: shells and habits differ. */
bool opt_name_is(const char *s, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n && name[i]; i++) {
		char c = s[i] == '-' ? '_' : s[i];

		if (c != name[i])
			return false;
	}
	return i == n && !name[i];
}

bool opt_is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

bool opt_help_asked(int argc, char *const argv[])
{
	for (int i = 0; i < argc; i++)
		if (opt_is_help(argv[i]))
			return true;
	return false;
}
