/*
 * The SIP URI a carrier dials: the called number as user part of sip_uri,
 * escaped, whatever user part, parameters or headers sip_uri has.
 */
#include <errno.h>
#include <stdlib.h>

#include "carrier/sipuri.h"

#include "test.h"

static int with_user(const char *uri, const char *user, const char *want)
{
	char *out = NULL;
	int err = sipuri_with_user(&out, uri, user);

	if (!err && strcmp(out, want)) {
		printf("# %s + %s: got \"%s\", want \"%s\"\n", uri, user, out,
		       want);
		err = EPROTO;
	}
	free(out);
	return err;
}

TEST(number_becomes_the_user)
{
	CHECK_EQ(with_user("sip:gw.example.com", "+15551234567",
	                   "sip:+15551234567@gw.example.com"),
	         0);
	CHECK_EQ(with_user("sip:1.2.3.4:5060;transport=tcp", "+1555",
	                   "sip:+1555@1.2.3.4:5060;transport=tcp"),
	         0);
	CHECK_EQ(with_user("sips:agent@[::1]:5061?X-A=1", "100",
	                   "sips:100@[::1]:5061?X-A=1"),
	         0);
	CHECK_EQ(with_user("SIP:host", "a b;c@d%", "SIP:a%20b%3Bc%40d%25@host"),
	         0);
	return 0;
}

TEST(bad_input)
{
	char *out = (char *)"x";

	CHECK_EQ(sipuri_with_user(&out, "sip:host", ""), EINVAL);
	CHECK(out == NULL);
	CHECK_EQ(sipuri_with_user(&out, "tel:+1555", "1"), EINVAL);
	CHECK_EQ(sipuri_with_user(&out, "sip:", "1"), EINVAL);
	CHECK_EQ(sipuri_with_user(&out, "sip:user@;x", "1"), EINVAL);
	CHECK_EQ(sipuri_with_user(&out, NULL, "1"), EINVAL);
	CHECK_EQ(sipuri_with_user(NULL, "sip:h", "1"), EINVAL);
	return 0;
}

int main(void)
{
	RUN(number_becomes_the_user);
	RUN(bad_input);
	TEST_EXIT();
}
