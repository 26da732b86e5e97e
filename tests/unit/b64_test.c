/* Strict base64: RFC 4648's vectors, both alphabets, and what is refused. */
#include <errno.h>
#include <string.h>
#include "core/b64.h"
#include "test.h"

static int dec(const char *s, unsigned flags, char *out, size_t cap)
{
	size_t len = 0;
	int err = b64_decode(s, strlen(s), flags, (uint8_t *)out, cap, &len);

	if (!err)
		out[len] = '\0';
	return err;
}

TEST(rfc4648_vectors)
{
	static const char *const v[][2] = {
	    {"", ""},
	    {"Zg==", "f"},
	    {"Zm8=", "fo"},
	    {"Zm9v", "foo"},
	    {"Zm9vYg==", "foob"},
	    {"Zm9vYmE=", "fooba"},
	    {"Zm9vYmFy", "foobar"},
	};
	char out[16];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_EQ(dec(v[i][0], B64_PAD_REQUIRED, out, sizeof(out) - 1),
		         0);
		CHECK_STR(out, v[i][1]);
		CHECK_EQ(dec(v[i][0], 0, out, sizeof(out) - 1), 0);
		CHECK_STR(out, v[i][1]);
	}
	/* unpadded where allowed */
	CHECK_EQ(dec("Zm9vYg", 0, out, sizeof(out) - 1), 0);
	CHECK_STR(out, "foob");
	CHECK_EQ(dec("Zm9vYg", B64_PAD_REQUIRED, out, sizeof(out)), EBADMSG);
	CHECK_EQ(dec("Zm9vYg==", B64_PAD_FORBIDDEN, out, sizeof(out)), EBADMSG);
	return 0;
}

TEST(alphabets)
{
	char out[8];

	/* 0xfb 0xff: "+/8" standard, "-_8" URL */
	CHECK_EQ(dec("+/8=", 0, out, sizeof(out)), 0);
	CHECK_EQ((unsigned char)out[0], 0xfb);
	CHECK_EQ((unsigned char)out[1], 0xff);
	CHECK_EQ(dec("-_8", B64_URL | B64_PAD_FORBIDDEN, out, sizeof(out)), 0);
	CHECK_EQ((unsigned char)out[0], 0xfb);
	CHECK_EQ(dec("+/8", B64_URL, out, sizeof(out)), EBADMSG);
	CHECK_EQ(dec("-_8=", 0, out, sizeof(out)), EBADMSG);
	return 0;
}

TEST(refused)
{
	static const char *const bad[] = {
	    "Zm9v\n", " Zm9v",    "Zm 9v", "Z===",    "====", "Zg=a",
	    "Zm9vY",  "Zg==Zg==", "Zm9v=", "Zm\x80v", "Zg=",
	};
	char out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dec(bad[i], 0, out, sizeof(out)) != EBADMSG)
			TEST_FAIL("refused", "accepted \"%s\"", bad[i]);
	}
	CHECK_EQ(dec("Zm9vYmFy", 0, out, 5), ENOSPC);
	CHECK_EQ(dec("Zm9vYmFy", 0, out, 6), 0);
	CHECK_EQ(B64_DECODED_MAX(8), 6);
	return 0;
}

int main(void)
{
	RUN(rfc4648_vectors);
	RUN(alphabets);
	RUN(refused);
	TEST_EXIT();
}
