/*
 * Masking keys: every occurrence of the key and every sk- token becomes
 * '*'s, the length kept; a reason for the log is put on one line first; a
 * key too short to tell from words is left alone.
 */
#include "core/mask.h"
#include "test.h"

TEST(key_and_tokens)
{
	char s[] = "key abcd1234 and abcd1234\nsk-proj-x9 sk-\nend";

	mask_key(s, "abcd1234");
	CHECK_STR(s, "key ******** and ********\nsk-******* sk-\nend");
	return 0;
}

TEST(one_line)
{
	char s[] = "refused\r\nkey k3y-value\tsk-abc.";

	mask_line(s, "k3y-value");
	CHECK_STR(s, "refused  key ********* sk-***.");
	return 0;
}

TEST(short_or_no_key)
{
	char s[] = "the key abc is wrong";

	mask_key(s, "abc");
	CHECK_STR(s, "the key abc is wrong");
	mask_key(s, NULL);
	CHECK_STR(s, "the key abc is wrong");
	return 0;
}

int main(void)
{
	RUN(key_and_tokens);
	RUN(one_line);
	RUN(short_or_no_key);
	TEST_EXIT();
}
