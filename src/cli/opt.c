#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/opt.h"
#include "core/opt.h"

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

/* Stores the option read as a, with its value if it takes one. */
static int set_option(const struct cli_opt_cmd *cmd, struct opt_reader *r,
                      const struct opt *a)
{
	const struct cli_opt *o = NULL;
	const char *val;

	for (size_t k = 0; !o && k < cmd->nopts; k++)
		if (opt_name_is(a->name, a->namelen, cmd->opts[k].name))
			o = &cmd->opts[k];
	if (!o) {
		/* the name alone: the value may be a secret */
		fprintf(stderr,
		        "voxgate %s: unknown option \"--%.*s\" (voxgate %s "
		        "--help)\n",
		        cmd->name, (int)a->namelen, a->name, cmd->name);
		return EINVAL;
	}
	if (o->kind == CLI_OPT_FLAG || o->kind == CLI_OPT_SET) {
		if (a->val) {
			fprintf(stderr, "voxgate %s: --%s takes no value\n",
			        cmd->name, o->name);
			return EINVAL;
		}
		if (o->kind == CLI_OPT_FLAG)
			*(bool *)o->val = true;
		else
			*(int *)o->val = o->set;
		return 0;
	}
	/* A text may be empty, so only this tells that its value was left
	 * out: the next argument is an option. */
	val = opt_value(r, a, o->kind != CLI_OPT_TEXT);
	/* an empty name or path is one left out, not one meant; an empty
	 * text (a token's metadata) is meant */
	if (!val || (o->kind == CLI_OPT_STRING && !val[0])) {
		fprintf(stderr, "voxgate %s: --%s needs a value\n", cmd->name,
		        o->name);
		return EINVAL;
	}
	if (o->kind == CLI_OPT_STRING || o->kind == CLI_OPT_TEXT) {
		*(const char **)o->val = val;
		return 0;
	}
	return set_number(cmd->name, o, val);
}

int cli_opt_parse(const struct cli_opt_cmd *cmd, int argc, char **argv)
{
	struct opt_reader r;
	struct opt a;
	size_t got = 0;
	int err;

	opt_init(&r, argc, argv);
	for (;;) {
		switch (opt_next(&r, &a)) {
		case OPT_END:
			return 0;
		case OPT_HELP:
			return EALREADY;
		case OPT_ARG:
			if (got == cmd->nargs) {
				fprintf(stderr,
				        "voxgate %s: %s only, got \"%s\" too\n",
				        cmd->name, cmd->args_what, a.arg);
				return EINVAL;
			}
			*cmd->args[got++] = a.arg;
			break;
		case OPT_NAMED:
			err = set_option(cmd, &r, &a);
			if (err)
				return err;
			break;
		}
	}
}
