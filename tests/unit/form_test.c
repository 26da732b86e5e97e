/*
 * application/x-www-form-urlencoded: decoding, refusals, bounds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/form.h"
#include "test.h"

static int parse(struct form *f, const char *s)
{
	return form_parse(f, s, strlen(s));
}

TEST(decode)
{
	struct form f;

	CHECK_EQ(parse(&f, "a=1&b=x+y%2Bz%2b&empty=&bare&a=2&&=v&"), 0);
	CHECK_EQ(f.n, 6);
	CHECK_STR(f.v[0].name, "a");
	CHECK_STR(f.v[0].value, "1");
	CHECK_STR(f.v[1].value, "x y+z+");
	CHECK_STR(f.v[2].name, "empty");
	CHECK_STR(f.v[2].value, "");
	CHECK_STR(f.v[3].name, "bare");
	CHECK_STR(f.v[3].value, "");
	CHECK_STR(f.v[4].name, "a");
	CHECK_STR(f.v[4].value, "2");
	CHECK_STR(f.v[5].name, "");
	CHECK_STR(f.v[5].value, "v");
	CHECK_STR(form_get(&f, "a"), "1");
	CHECK_STR(form_get(&f, "bare"), "");
	CHECK(form_get(&f, "A") == NULL);
	CHECK(form_get(&f, "missing") == NULL);
	form_reset(&f);
	CHECK(f.v == NULL && f.n == 0);
	form_reset(&f);

	/* The length bounds the input, not a NUL. */
	CHECK_EQ(form_parse(&f, "k%20=v%C3%A9&rest", 12), 0);
	CHECK_EQ(f.n, 1);
	CHECK_STR(f.v[0].name, "k ");
	CHECK_STR(f.v[0].value, "v\xc3\xa9");
	form_reset(&f);

	CHECK_EQ(parse(&f, ""), 0);
	CHECK_EQ(f.n, 0);
	CHECK_EQ(parse(&f, "&&&"), 0);
	CHECK_EQ(f.n, 0);
	CHECK_EQ(form_parse(&f, NULL, 0), 0);
	CHECK_EQ(f.n, 0);
	form_reset(&f);
	return 0;
}

TEST(refused)
{
	static const char *const bad[] = {
	    "a=%",   "a=%4",   "a=%zz", "a=%4g",      "a=1&%=b",
	    "a=%00", "%00a=1", "a=1%",  "ok=1&b=%G0",
	};
	struct form f;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(parse(&f, bad[i]), EBADMSG);
		CHECK(f.v == NULL && f.n == 0);
	}
	CHECK_EQ(form_parse(&f, "a=b\0c", 5), EBADMSG);
	CHECK_EQ(form_parse(&f, NULL, 3), EINVAL);
	CHECK_EQ(form_parse(NULL, "a=1", 3), EINVAL);
	return 0;
}

TEST(bounds)
{
	size_t cap = FORM_MAX_LEN + 2, i;
	char *s = malloc(cap);
	struct form f;

	CHECK(s != NULL);
	/* "a&" per param: the most params in the fewest bytes. */
	for (i = 0; i < 2 * FORM_MAX_PARAMS; i += 2) {
		s[i] = 'a';
		s[i + 1] = '&';
	}
	CHECK_EQ(form_parse(&f, s, 2 * FORM_MAX_PARAMS), 0);
	CHECK_EQ(f.n, FORM_MAX_PARAMS);
	form_reset(&f);
	s[2 * FORM_MAX_PARAMS] = 'b';
	CHECK_EQ(form_parse(&f, s, 2 * FORM_MAX_PARAMS + 1), EMSGSIZE);
	CHECK(f.v == NULL && f.n == 0);

	memset(s, 'x', cap);
	CHECK_EQ(form_parse(&f, s, FORM_MAX_LEN), 0);
	CHECK_EQ(f.n, 1);
	CHECK_EQ(strlen(f.v[0].name), FORM_MAX_LEN);
	form_reset(&f);
	CHECK_EQ(form_parse(&f, s, FORM_MAX_LEN + 1), EMSGSIZE);
	free(s);
	return 0;
}

/* What encoding writes, decoding reads back; the length is known first. */
TEST(encode)
{
	const char in[] = "a b+c&d=é~-._/?%\x01";
	char out[64];
	struct form f;
	size_t need = form_encode(NULL, 0, in, strlen(in));

	CHECK_EQ(form_encode(out, sizeof(out), in, strlen(in)), need);
	CHECK_STR(out, "a%20b%2Bc%26d%3D%C3%A9~-._%2F%3F%25%01");
	CHECK_EQ(form_encode(out, 4, in, strlen(in)), need);
	CHECK_STR(out, "a%2");
	CHECK_EQ(form_encode(out, sizeof(out), "", 0), 0);
	CHECK_STR(out, "");

	char pair[80];
	snprintf(pair, sizeof(pair), "k=");
	form_encode(pair + 2, sizeof(pair) - 2, "x y&z", 5);
	CHECK_EQ(form_parse(&f, pair, strlen(pair)), 0);
	CHECK_STR(form_get(&f, "k"), "x y&z");
	form_reset(&f);
	return 0;
}

/* The documented string for vector A, signed with OpenSSL directly. */
int main(void)
{
	RUN(decode);
	RUN(refused);
	RUN(bounds);
	RUN(encode);
	TEST_EXIT();
}
