/*
 * The option parser of the commands: every kind of option in both
 * spellings, ranges, positional arguments, and each mistake refused with
 * exactly one line on stderr and the value it was for left alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/opt.h"

#include "test.h"

static struct {
	bool loud;
	double secs, gain;
	unsigned rate;
	const char *voice, *note, *in, *out;
	int join;
} v;

static const struct cli_opt opts[] = {
    {"loud", CLI_OPT_FLAG, &v.loud},
    {"start_secs", CLI_OPT_DOUBLE, &v.secs, 0, 10},
    {"gain", CLI_OPT_DOUBLE, &v.gain},
    {"out_rate", CLI_OPT_UNSIGNED, &v.rate, 8000, 48000},
    {"voice", CLI_OPT_STRING, &v.voice},
    {"note", CLI_OPT_TEXT, &v.note},
    {"join", CLI_OPT_SET, &v.join, .set = 1},
    {"no_join", CLI_OPT_SET, &v.join, .set = 0},
};

static const char **const args[] = {&v.in, &v.out};

static const struct cli_opt_cmd cmd = {
    .name = "test",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(*opts),
    .args = args,
    .nargs = 2,
    .args_what = "IN and OUT",
};

/* What the last parse wrote on stderr. */
static char said[512];

/* cli_opt_parse with the given arguments, NULL-terminated, from fresh
 * values, catching stderr in said. -1 when stderr cannot be caught. */
static int parse(const char *arg, ...)
{
	char *argv[16];
	int argc = 0, saved, err;
	size_t n;
	va_list ap;
	FILE *f;

	va_start(ap, arg);
	for (; arg && argc < 16; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	va_end(ap);
	v.loud = false;
	v.secs = 1;
	v.gain = 1;
	v.rate = 8000;
	v.voice = v.note = v.in = v.out = NULL;
	v.join = -1;

	fflush(stderr);
	f = tmpfile();
	saved = dup(2);
	if (!f || saved < 0 || dup2(fileno(f), 2) < 0)
		return -1;
	err = cli_opt_parse(&cmd, argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(said, 1, sizeof(said) - 1, f);
	said[n] = '\0';
	fclose(f);
	return err;
}

TEST(flags)
{
	CHECK_EQ(parse("--loud", NULL), 0);
	CHECK(v.loud);
	CHECK_STR(said, "");
	CHECK_EQ(parse(NULL), 0);
	CHECK(!v.loud);
	CHECK_EQ(parse("--loud=yes", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --loud takes no value\n");
	CHECK(!v.loud);
	return 0;
}

TEST(numbers_in_range)
{
	CHECK_EQ(parse("--start_secs", "2.5", "--out_rate", "16000", NULL), 0);
	CHECK(v.secs == 2.5);
	CHECK_EQ(v.rate, 16000);
	CHECK_STR(said, "");
	/* the bounds are in */
	CHECK_EQ(parse("--start_secs=0", "--out_rate=8000", NULL), 0);
	CHECK(v.secs == 0);
	CHECK_EQ(v.rate, 8000);
	CHECK_EQ(parse("--start_secs=10", "--out_rate=48000", NULL), 0);
	CHECK(v.secs == 10);
	CHECK_EQ(v.rate, 48000);
	/* no range given: any finite number */
	CHECK_EQ(parse("--gain=-3.5", NULL), 0);
	CHECK(v.gain == -3.5);
	CHECK_EQ(parse("--gain", "1e300", NULL), 0);
	CHECK(v.gain == 1e300);
	return 0;
}

TEST(numbers_out_of_range)
{
	CHECK_EQ(parse("--start_secs", "10.5", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --start_secs: \"10.5\" is out of range "
	                "(0..10)\n");
	CHECK(v.secs == 1);
	CHECK_EQ(parse("--start_secs=-0.1", NULL), EINVAL);
	CHECK(v.secs == 1);
	CHECK_EQ(parse("--out_rate", "7999", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --out_rate: \"7999\" is out of range "
	                "(8000..48000)\n");
	CHECK_EQ(v.rate, 8000);
	CHECK_EQ(parse("--out_rate=48001", NULL), EINVAL);
	return 0;
}

TEST(not_numbers)
{
	static const char *const reals[] = {"abc", "",    "1.5x",
	                                    "inf", "nan", "1e999"};
	/* a sign or a space would let strtoul take "-5" for a huge number */
	static const char *const wholes[] = {"-5", "+5",  " 5",        "5x",
	                                     "",   "1.5", "4294967296"};
	char want[128];

	for (size_t i = 0; i < sizeof(reals) / sizeof(*reals); i++) {
		CHECK_EQ(parse("--gain", reals[i], NULL), EINVAL);
		snprintf(want, sizeof(want),
		         "voxgate test: --gain: \"%s\" is not a number\n",
		         reals[i]);
		CHECK_STR(said, want);
		CHECK(v.gain == 1);
	}
	for (size_t i = 0; i < sizeof(wholes) / sizeof(*wholes); i++) {
		CHECK_EQ(parse("--out_rate", wholes[i], NULL), EINVAL);
		snprintf(want, sizeof(want),
		         "voxgate test: --out_rate: \"%s\" is not a whole "
		         "number\n",
		         wholes[i]);
		CHECK_STR(said, want);
		CHECK_EQ(v.rate, 8000);
	}
	return 0;
}

TEST(equals_and_space)
{
	CHECK_EQ(parse("--voice=en-us", NULL), 0);
	CHECK_STR(v.voice, "en-us");
	CHECK_EQ(parse("--voice", "en-us", NULL), 0);
	CHECK_STR(v.voice, "en-us");
	/* the first '=' ends the name */
	CHECK_EQ(parse("--voice=a=b", NULL), 0);
	CHECK_STR(v.voice, "a=b");
	/* the next argument is the value, even one that looks like an
	 * option */
	CHECK_EQ(parse("--voice", "--loud", NULL), 0);
	CHECK_STR(v.voice, "--loud");
	CHECK(!v.loud);
	CHECK_EQ(parse("--gain", "-2", NULL), 0);
	CHECK(v.gain == -2);
	return 0;
}

TEST(texts_may_be_empty)
{
	CHECK_EQ(parse("--note=", NULL), 0);
	CHECK_STR(v.note, "");
	CHECK_EQ(parse("--note", "", "a", NULL), 0);
	CHECK_STR(v.note, "");
	CHECK_STR(v.in, "a");
	CHECK_EQ(parse("--note", "a b", NULL), 0);
	CHECK_STR(v.note, "a b");
	CHECK_STR(said, "");
	/* given no value at all is still a mistake, and as an empty text
	 * cannot tell so, an option that follows is not taken for one */
	CHECK_EQ(parse("--note", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --note needs a value\n");
	CHECK(!v.note);
	CHECK_EQ(parse("--note", "--loud", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --note needs a value\n");
	CHECK(!v.note);
	CHECK(!v.loud);
	CHECK_EQ(parse("--note", "--", NULL), EINVAL);
	CHECK_EQ(parse("--note=--loud", NULL), 0);
	CHECK_STR(v.note, "--loud");
	CHECK(!v.loud);
	CHECK_EQ(parse("--note", "-x", NULL), 0);
	CHECK_STR(v.note, "-x");
	return 0;
}

TEST(switch_pairs)
{
	CHECK_EQ(parse(NULL), 0);
	CHECK_EQ(v.join, -1);
	CHECK_EQ(parse("--join", NULL), 0);
	CHECK_EQ(v.join, 1);
	CHECK_EQ(parse("--no-join", NULL), 0);
	CHECK_EQ(v.join, 0);
	/* the last one given wins */
	CHECK_EQ(parse("--join", "--no_join", NULL), 0);
	CHECK_EQ(v.join, 0);
	CHECK_EQ(parse("--no-join", "--loud", "--join", NULL), 0);
	CHECK_EQ(v.join, 1);
	CHECK(v.loud);
	CHECK_STR(said, "");
	CHECK_EQ(parse("--join=1", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --join takes no value\n");
	CHECK_EQ(v.join, -1);
	return 0;
}

TEST(dashes_and_underscores)
{
	CHECK_EQ(parse("--start-secs=3", "--out-rate", "16000", NULL), 0);
	CHECK(v.secs == 3);
	CHECK_EQ(v.rate, 16000);
	CHECK_EQ(parse("--start_secs", "4", "--out-rate=22050", NULL), 0);
	CHECK(v.secs == 4);
	CHECK_EQ(v.rate, 22050);
	/* errors name the option as the help text spells it */
	CHECK_EQ(parse("--start-secs=x", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --start_secs: \"x\" is not a number\n");
	return 0;
}

TEST(missing_value)
{
	CHECK_EQ(parse("--start_secs", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --start_secs needs a value\n");
	CHECK(v.secs == 1);
	CHECK_EQ(parse("a", "--voice", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --voice needs a value\n");
	/* an empty string is no name or path */
	CHECK_EQ(parse("--voice=", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: --voice needs a value\n");
	CHECK_EQ(parse("--voice", "", NULL), EINVAL);
	CHECK(!v.voice);
	CHECK_EQ(parse("--out_rate=", NULL), EINVAL);
	CHECK_STR(said,
	          "voxgate test: --out_rate: \"\" is not a whole number\n");
	return 0;
}

TEST(unknown_options)
{
	CHECK_EQ(parse("--bogus", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: unknown option \"--bogus\" (voxgate "
	                "test --help)\n");
	/* named without its value, which may be a secret typed under a
	 * misspelt name */
	CHECK_EQ(parse("--bogus=s3cret", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: unknown option \"--bogus\" (voxgate "
	                "test --help)\n");
	CHECK_EQ(parse("--=x", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: unknown option \"--\" (voxgate "
	                "test --help)\n");
	/* neither prefixes, nor other cases, nor a trailing dash */
	CHECK_EQ(parse("--start", "1", NULL), EINVAL);
	CHECK_EQ(parse("--START_SECS", "1", NULL), EINVAL);
	CHECK_EQ(parse("--loud-", NULL), EINVAL);
	CHECK(!v.loud);
	return 0;
}

TEST(positional_arguments)
{
	CHECK_EQ(parse("a.wav", "--loud", "b.wav", NULL), 0);
	CHECK_STR(v.in, "a.wav");
	CHECK_STR(v.out, "b.wav");
	CHECK(v.loud);
	/* an option's value is not one */
	CHECK_EQ(parse("--voice", "a", "b", NULL), 0);
	CHECK_STR(v.voice, "a");
	CHECK_STR(v.in, "b");
	CHECK(!v.out);
	/* "-" (stdout) and "--" are, and so is what has one dash */
	CHECK_EQ(parse("-", "--", NULL), 0);
	CHECK_STR(v.in, "-");
	CHECK_STR(v.out, "--");
	CHECK_EQ(parse("-x", NULL), 0);
	CHECK_STR(v.in, "-x");
	CHECK_EQ(parse(NULL), 0);
	CHECK(!v.in && !v.out);
	CHECK_EQ(parse("a", "b", "c", "--bogus", NULL), EINVAL);
	CHECK_STR(said, "voxgate test: IN and OUT only, got \"c\" too\n");
	return 0;
}

TEST(help)
{
	CHECK_EQ(parse("--help", NULL), EALREADY);
	CHECK_STR(said, "");
	CHECK_EQ(parse("a", "-h", "--bogus", NULL), EALREADY);
	CHECK_STR(said, "");
	/* the first of a mistake and --help wins */
	CHECK_EQ(parse("--bogus", "--help", NULL), EINVAL);
	/* a value that reads "--help" is a value */
	CHECK_EQ(parse("--voice", "--help", NULL), 0);
	CHECK_STR(v.voice, "--help");
	return 0;
}

int main(void)
{
	RUN(flags);
	RUN(numbers_in_range);
	RUN(numbers_out_of_range);
	RUN(not_numbers);
	RUN(equals_and_space);
	RUN(texts_may_be_empty);
	RUN(switch_pairs);
	RUN(dashes_and_underscores);
	RUN(missing_value);
	RUN(unknown_options);
	RUN(positional_arguments);
	RUN(help);
	TEST_EXIT();
}
