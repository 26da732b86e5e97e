#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"

/* "--start-secs" and "--start_secs" alike: shells and habits differ. */
static bool name_is(const char *arg, size_t len, const char *name)
{
	if (len != strlen(name))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = arg[i] == '-' ? '_' : arg[i];

		if (c != name[i])
			return false;
	}
	return true;
}

/* strtoul alone would take "-5" as a huge number and " 5" or "+5" too. */
static bool parse_unsigned(const char *s, unsigned *v)
{
	unsigned long n;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > UINT_MAX)
		return false;
	*v = (unsigned)n;
	return true;
}

static bool parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !errno && end != s && !*end && isfinite(*v);
}

/* Checks and stores the value of the number option o. */
static int set_number(const char *cmd, const struct cli_opt *o, const char *val)
{
	bool dbl = o->kind == CLI_OPT_DOUBLE;
	double d = 0;
	unsigned u = 0;

	if (dbl ? !parse_double(val, &d) : !parse_unsigned(val, &u)) {
		fprintf(stderr, "voxgate %s: --%s: \"%s\" is not a %snumber\n",
		        cmd, o->name, val, dbl ? "" : "whole ");
		return EINVAL;
	}
	if (!dbl)
		d = u;
	if ((o->min || o->max) && (d < o->min || d > o->max)) {
		fprintf(stderr,
		        "voxgate %s: --%s: \"%s\" is out of range (%g..%g)\n",
		        cmd, o->name, val, o->min, o->max);
		return EINVAL;
	}
	if (dbl)
		*(double *)o->val = d;
	else
		*(unsigned *)o->val = u;
	return 0;
}

int cli_opt_parse(const struct cli_opt_cmd *cmd, int argc, char **argv)
{
	size_t got = 0;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *val;
		const struct cli_opt *o = NULL;
		size_t len;
		int err;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
			return EALREADY;
		/* "-" is stdout or stdin and "--" could be a file name */
		if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
			if (got == cmd->nargs) {
				fprintf(stderr,
				        "voxgate %s: %s only, got \"%s\" too\n",
				        cmd->name, cmd->args_what, arg);
				return EINVAL;
			}
			*cmd->args[got++] = arg;
			continue;
		}
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		for (size_t k = 0; !o && k < cmd->nopts; k++)
			if (name_is(name, len, cmd->opts[k].name))
				o = &cmd->opts[k];
		if (!o) {
			fprintf(stderr,
			        "voxgate %s: unknown option \"%s\" (voxgate %s "
			        "--help)\n",
			        cmd->name, arg, cmd->name);
			return EINVAL;
		}
		if (o->kind == CLI_OPT_FLAG || o->kind == CLI_OPT_SET) {
			if (eq) {
				fprintf(stderr,
				        "voxgate %s: --%s takes no value\n",
				        cmd->name, o->name);
				return EINVAL;
			}
			if (o->kind == CLI_OPT_FLAG)
				*(bool *)o->val = true;
			else
				*(int *)o->val = o->set;
			continue;
		}
		/* A text may be empty, so only this tells that its value was
		 * left out: the next argument is an option. */
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc && (o->kind != CLI_OPT_TEXT ||
		                          strncmp(argv[i + 1], "--", 2) != 0))
			val = argv[++i];
		else
			val = NULL;
		/* an empty name or path is one left out, not one meant; an
		 * empty text (a token's metadata) is meant */
		if (!val || (o->kind == CLI_OPT_STRING && !val[0])) {
			fprintf(stderr, "voxgate %s: --%s needs a value\n",
			        cmd->name, o->name);
			return EINVAL;
		}
		if (o->kind == CLI_OPT_STRING || o->kind == CLI_OPT_TEXT) {
			*(const char **)o->val = val;
			continue;
		}
		err = set_number(cmd->name, o, val);
		if (err)
			return err;
	}
	return 0;
}
