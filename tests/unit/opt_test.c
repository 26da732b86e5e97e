/*
 * The command-line reader under config and the commands: what is an
 * option, its name and value, what is positional, and help.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "core/opt.h"

#include "test.h"

/* The reading so far, one line per argument: "arg x", "help -h",
 * "named <name> <value>" with "-" for no value, then "end". Each option's
 * value is taken with opt_value(any). */
static char got[512];

static const char *read_all(bool any, const char *arg, ...)
{
	char *argv[16];
	int argc = 0;
	struct opt_reader r;
	struct opt o;
	enum opt_type t;
	size_t n = 0;
	va_list ap;

	va_start(ap, arg);
	for (; arg && argc < 16; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	va_end(ap);

	got[0] = '\0';
	opt_init(&r, argc, argv);
	while ((t = opt_next(&r, &o)) != OPT_END && n < sizeof(got)) {
		const char *v;

		switch (t) {
		case OPT_ARG:
			n += snprintf(got + n, sizeof(got) - n, "arg %s\n",
			              o.arg);
			break;
		case OPT_HELP:
			n += snprintf(got + n, sizeof(got) - n, "help %s\n",
			              o.arg);
			break;
		default:
			v = opt_value(&r, &o, any);
			n += snprintf(got + n, sizeof(got) - n,
			              "named %.*s %s%s%s\n", (int)o.namelen,
			              o.name, v ? "\"" : "", v ? v : "-",
			              v ? "\"" : "");
			break;
		}
	}
	if (n < sizeof(got))
		snprintf(got + n, sizeof(got) - n, "end");
	return got;
}

TEST(space_and_equals)
{
	CHECK_STR(read_all(false, "--voice", "en", "--rate=8000", NULL),
	          "named voice \"en\"\nnamed rate \"8000\"\nend");
	/* the first '=' ends the name; the rest is the value */
	CHECK_STR(read_all(false, "--a=b=c", NULL), "named a \"b=c\"\nend");
	/* a value after '=' leaves the next argument alone */
	CHECK_STR(read_all(true, "--a=1", "x", NULL),
	          "named a \"1\"\narg x\nend");
	return 0;
}

TEST(empty_values)
{
	CHECK_STR(read_all(false, "--a=", "x", NULL),
	          "named a \"\"\narg x\nend");
	CHECK_STR(read_all(false, "--a", "", "x", NULL),
	          "named a \"\"\narg x\nend");
	return 0;
}

TEST(next_argument_starting_with_dashes)
{
	/* without any, it is the next option: the value was left out */
	CHECK_STR(read_all(false, "--a", "--b", "1", NULL),
	          "named a -\nnamed b \"1\"\nend");
	CHECK_STR(read_all(false, "--a", "--", NULL), "named a -\narg --\nend");
	CHECK_STR(read_all(false, "--a", "--help", NULL),
	          "named a -\nhelp --help\nend");
	/* with any, it is the value, "--help" too */
	CHECK_STR(read_all(true, "--a", "--b", "1", NULL),
	          "named a \"--b\"\narg 1\nend");
	CHECK_STR(read_all(true, "--a", "--help", NULL),
	          "named a \"--help\"\nend");
	/* one dash is a value either way: "-5", "-h" */
	CHECK_STR(read_all(false, "--a", "-5", "--b", "-h", NULL),
	          "named a \"-5\"\nnamed b \"-h\"\nend");
	/* "=" gives what looks like an option as a value */
	CHECK_STR(read_all(false, "--a=--b", NULL), "named a \"--b\"\nend");
	return 0;
}

TEST(no_value_at_the_end)
{
	CHECK_STR(read_all(true, "--a", NULL), "named a -\nend");
	CHECK_STR(read_all(false, "x", "--a", NULL), "arg x\nnamed a -\nend");
	return 0;
}

TEST(positional)
{
	/* "-" is stdin or stdout, "--" could be a file's name, and an
	 * empty argument is not an option */
	CHECK_STR(read_all(false, "a.wav", "-", "--", "-x", "", NULL),
	          "arg a.wav\narg -\narg --\narg -x\narg \nend");
	CHECK_STR(read_all(false, NULL), "end");
	return 0;
}

TEST(odd_names)
{
	/* options all the same, with names no one has */
	CHECK_STR(read_all(false, "--=x", "---a", "--a-", NULL),
	          "named  \"x\"\nnamed -a -\nnamed a- -\nend");
	return 0;
}

TEST(help)
{
	CHECK_STR(
	    read_all(false, "x", "-h", "--help", "--help=1", "-help", NULL),
	    "arg x\nhelp -h\nhelp --help\nnamed help \"1\"\narg "
	    "-help\nend");
	CHECK(opt_is_help("--help"));
	CHECK(opt_is_help("-h"));
	CHECK(!opt_is_help("--h"));
	CHECK(!opt_is_help("-help"));
	CHECK(!opt_is_help("--HELP"));
	CHECK(!opt_is_help(""));
	return 0;
}

TEST(help_asked)
{
	char *with[] = {"--a", "x", "-h"}, *value[] = {"--a=--help"};

	CHECK(opt_help_asked(3, with));
	CHECK(!opt_help_asked(2, with));
	CHECK(!opt_help_asked(1, value));
	CHECK(!opt_help_asked(0, NULL));
	return 0;
}

TEST(names)
{
	static const char s[] = "start-secs=1";

	CHECK(opt_name_is("start-secs", 10, "start_secs"));
	CHECK(opt_name_is("start_secs", 10, "start_secs"));
	CHECK(opt_name_is(s, 10, "start_secs"));
	CHECK(opt_name_is("", 0, ""));
	/* no prefix either way, no other case, no trailing dash */
	CHECK(!opt_name_is("start", 5, "start_secs"));
	CHECK(!opt_name_is(s, 12, "start_secs"));
	CHECK(!opt_name_is("START_SECS", 10, "start_secs"));
	CHECK(!opt_name_is("start_secs-", 11, "start_secs"));
	CHECK(!opt_name_is("", 0, "a"));
	/* '_' in the name is not '-' in return */
	CHECK(!opt_name_is("a_b", 3, "a-b"));
	/* the length counts, not a NUL */
	CHECK(!opt_name_is("a\0b", 3, "a"));
	return 0;
}

TEST(reading_ends)
{
	char *argv[] = {"--a"};
	struct opt_reader r;
	struct opt o;

	opt_init(&r, 1, argv);
	CHECK_EQ(opt_next(&r, &o), OPT_NAMED);
	CHECK(!opt_value(&r, &o, true));
	CHECK_EQ(opt_next(&r, &o), OPT_END);
	CHECK_EQ(opt_next(&r, &o), OPT_END);
	CHECK(!o.arg && !o.name && !o.val);
	/* no arguments, or none given */
	opt_init(&r, 0, NULL);
	CHECK_EQ(opt_next(&r, &o), OPT_END);
	opt_init(&r, 2, NULL);
	CHECK_EQ(opt_next(&r, &o), OPT_END);
	opt_init(&r, -1, argv);
	CHECK_EQ(opt_next(&r, &o), OPT_END);
	return 0;
}

int main(void)
{
	RUN(space_and_equals);
	RUN(empty_values);
	RUN(next_argument_starting_with_dashes);
	RUN(no_value_at_the_end);
	RUN(positional);
	RUN(odd_names);
	RUN(help);
	RUN(help_asked);
	RUN(names);
	RUN(reading_ends);
	TEST_EXIT();
}
