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

int main(void)
{
	RUN(copy_cuts_before_a_character);
	RUN(trim_drops_an_incomplete_tail);
	TEST_EXIT();
}
