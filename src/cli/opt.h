/*
 * The command-line options of voxgate's commands other than serve and agent
 * (vad, stt, tts, token), typed: flags, numbers in a range, names, texts,
 * and the positional arguments a command takes. The command line is read
 * as every command's is (core/opt.h): "--name value" or "--name=value",
 * with '-' and '_' interchangeable in names. Every error is one line on
 * stderr.
 */
#ifndef VOXGATE_CLI_OPT_H
#define VOXGATE_CLI_OPT_H

#include <stddef.h>

enum cli_opt_kind {
	CLI_OPT_FLAG,     /* bool, set by --name alone; "=value" is refused */
	CLI_OPT_DOUBLE,   /* double, finite */
	CLI_OPT_UNSIGNED, /* unsigned, decimal digits only, so no sign */
	CLI_OPT_STRING,   /* const char *, not empty; points into argv */
	CLI_OPT_TEXT,     /* const char *, may be empty; points into argv;
	                   * "--name --x" is no value, "--name=--x" is */
	CLI_OPT_SET,      /* int, set to the option's set by --name alone;
	                   * "=value" is refused */
};

struct cli_opt {
	const char *name; /* spelt with '_', as the help text shows it */
	enum cli_opt_kind kind;
	void *val;       /* of the kind's type; left alone when not given */
	double min, max; /* numbers: the accepted range; both 0: any */
	/* CLI_OPT_SET: what --name stores. A switch and its opposite share
	 * one int (--join 1, --no-join 0): the last one given wins, and the
	 * int keeps its own value when neither is. */
	int set;
};

struct cli_opt_cmd {
	const char *name; /* "vad": errors start "voxgate vad: " */
	const struct cli_opt *opts;
	size_t nopts;
	/* Filled with the positional arguments in order; one more is an
	 * error, "voxgate vad: one file only, got "x" too", where "one file"
	 * is args_what. Slots not given are left alone. */
	const char **const *args;
	size_t nargs;
	const char *args_what;
};

/*
 * Reads argc/argv (the arguments after the command's name). An argument
 * not starting with "--", or "--" itself, is positional. The value of an
 * option without "=" is the next argument, whatever it looks like; only a
 * CLI_OPT_TEXT's is not one that starts with "--" (opt_value).
 * Returns 0; EALREADY at --help or -h, for the caller to print its usage;
 * or EINVAL having printed why on stderr, in one line. It stops at the
 * first of these, with the arguments before it already stored.
 */
int cli_opt_parse(const struct cli_opt_cmd *cmd, int argc, char **argv);

#endif
