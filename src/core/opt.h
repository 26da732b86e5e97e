/*
 * Reading a command line, one way for every command: config.c reads the
 * settings of serve and agent with it, cli/opt.c the typed options of the
 * others. It says what each argument is and leaves what an option means
 * to its caller.
 *
 *   --name value, --name=value  an option; '-' and '_' are one in names
 *   --help, -h                  help, where an option could stand
 *   anything else               positional: "x", "-", "-x", and "--",
 *                               which could be a file's name
 *
 * The first '=' ends the name, so "--name=" gives the empty value and
 * "--name=--x" the value "--x".
 */
#ifndef VOXGATE_CORE_OPT_H
#define VOXGATE_CORE_OPT_H

#include <stdbool.h>
#include <stddef.h>

enum opt_type {
	OPT_END = 0, /* no arguments left */
	OPT_ARG,     /* positional */
	OPT_NAMED,   /* an option: --name or --name=value */
	OPT_HELP,    /* --help or -h */
};

/* An argument as read. Every pointer points into argv. */
struct opt {
	const char *arg;  /* as typed */
	const char *name; /* OPT_NAMED: after "--", namelen long, no '=' */
	size_t namelen;
	const char *val; /* OPT_NAMED: after the '=', NULL without one */
};

/* Where a reading is in argv; on the stack, nothing to free. */
struct opt_reader {
	char *const *argv;
	int argc;
	int next;
};

void opt_init(struct opt_reader *r, int argc, char *const argv[]);

/* Reads the next argument into *o and returns what it is. */
enum opt_type opt_next(struct opt_reader *r, struct opt *o);

/*
 * The value of the option o just read: the one after its '=', else the
 * next argument, which is then consumed. With any, the next argument is
 * the value whatever it looks like ("--name --x" gives "--x"); without,
 * one that starts with "--" is the next option and not a value, which is
 * how an option whose value may be empty tells one left out. NULL when
 * there is no value.
 */
const char *opt_value(struct opt_reader *r, const struct opt *o, bool any);

/* Whether s (n bytes, as typed) names name, spelt with '_': "start-secs"
 * and "start_secs" both name "start_secs"; no prefix, no other case. */
bool opt_name_is(const char *s, size_t n, const char *name);

/* Whether arg is --help or -h. */
bool opt_is_help(const char *arg);

/* Whether any of argv is --help or -h: for a command that says more than
 * its options' help before it reads them. */
bool opt_help_asked(int argc, char *const argv[]);

#endif
