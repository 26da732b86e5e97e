/* Cutting text on character boundaries. */
#include <string.h>
#include "core/utf8.h"
#include "test.h"

TEST(copy_cuts_before_a_character)
{
	/* "aé€𝄞": 1, 2, 3 and 4 bytes */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e";
	static const size_t whole[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10};
	char out[16];

	for (size_t size = 1; size <= 11; size++) {
		size_t n = utf8_copy(out, size, s, strlen(s));

		CHECK_EQ(n, whole[size - 1]);
		CHECK_EQ(strlen(out), n);
		CHECK(memcmp(out, s, n) == 0);
	}
	CHECK_EQ(utf8_copy(out, sizeof(out), s, strlen(s)), 10);
	CHECK_EQ(utf8_copy(out, 0, s, 1), 0);
	return 0;
}

TEST(trim_drops_an_incomplete_tail)
{
	static const char s[] = "a\xc3\xa9\xe2\x82\xac";

	CHECK_EQ(utf8_trim(s, 6), 6);
	CHECK_EQ(utf8_trim(s, 5), 3);
	CHECK_EQ(utf8_trim(s, 4), 3);
	CHECK_EQ(utf8_trim(s, 2), 1);
	CHECK_EQ(utf8_trim(s, 1), 1);
	/* stray continuation bytes are not ours to judge */
	CHECK_EQ(utf8_trim("\x80\x80", 2), 2);
	return 0;
}

TEST(valid_takes_well_formed_text_only)
{
	/* "aé€𝄞" and the bounds of each sequence length */
	static const char good[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
	                           "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80"
	                           "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
	                           "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
	static const char *const bad[] = {
	    "\x80",             /* a stray continuation byte */
	    "\xc0\xaf",         /* overlong '/' */
	    "\xc1\xbf",         /* overlong */
	    "\xe0\x9f\xbf",     /* overlong, 3 bytes */
	    "\xf0\x8f\xbf\xbf", /* overlong, 4 bytes */
	    "\xed\xa0\x80",     /* a surrogate, U+D800 */
	    "\xed\xbf\xbf",     /* U+DFFF */
	    "\xf4\x90\x80\x80", /* U+110000 */
	    "\xf5\x80\x80\x80", /* no such lead byte */
	    "\xff",
	    "\xc3", /* cut short */
	    "\xe2\x82",
	    "\xf0\x9d\x84",
	    "\xe2\x28\xa1", /* a continuation byte missing */
	    "\xf0\x9d\x84\x41",
	};

	CHECK(utf8_valid(good, sizeof(good) - 1));
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("a\0b", 3)); /* NUL is a character */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[16];
		size_t n = strlen(bad[i]);

		if (utf8_valid(bad[i], n))
			TEST_FAIL("valid_takes_well_formed_text_only",
			          "bad[%zu] taken", i);
		/* and inside text */
		snprintf(s, sizeof(s), "ab%scd", bad[i]);
		CHECK(!utf8_valid(s, strlen(s)));
	}
	/* the length bounds the read: a cut sequence at the end of the
	 * span is refused although the bytes after it would complete it */
	CHECK(!utf8_valid("\xe2\x82\xac", 2));
	CHECK(utf8_valid("\xe2\x82\xac", 3));
	return 0;
}

TEST(next_reads_one_character)
{
	/* "aé€𝄞": 1, 2, 3 and 4 bytes */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e";
	static const struct {
		size_t at, len;
		uint32_t cp;
	} want[] = {{0, 1, 'a'}, {1, 2, 0xe9}, {3, 3, 0x20ac}, {6, 4, 0x1d11e}};
	uint32_t cp = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ(
		    utf8_next(s + want[i].at, sizeof(s) - 1 - want[i].at, &cp),
		    want[i].len);
		CHECK_EQ(cp, want[i].cp);
		/* one byte short of the character */
		if (want[i].len > 1)
			CHECK_EQ(
			    utf8_next(s + want[i].at, want[i].len - 1, &cp), 0);
	}
	CHECK_EQ(utf8_next(s, 0, &cp), 0);
	CHECK_EQ(utf8_next("\xed\xa0\x80", 3, &cp), 0); /* a surrogate */
	CHECK_EQ(utf8_next("\xc0\xaf", 2, &cp), 0);     /* overlong */
	CHECK_EQ(utf8_next("\x80", 1, &cp), 0);
	return 0;
}

int main(void)
{
	RUN(copy_cuts_before_a_character);
	RUN(trim_drops_an_incomplete_tail);
	RUN(valid_takes_well_formed_text_only);
	RUN(next_reads_one_character);
	TEST_EXIT();
}
