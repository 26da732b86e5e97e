/*
 * Header lines from the API: what may go into a SIP message and what is
 * refused, strict (a request) and lenient (a stored trunk).
 */
#include <errno.h>
#include <string.h>
#include <jansson.h>

#include "sip/sipx.h"
#include "test.h"

TEST(header_check)
{
	const char *why = NULL;

	CHECK_EQ(sipx_header_check("X-Account", "a b", &why), 0);
	CHECK_EQ(sipx_header_check("P-Asserted-Identity", "<sip:1@x>", &why),
	         0);
	CHECK_EQ(sipx_header_check("X-A", "v\r\nVia: forged", &why), EINVAL);
	CHECK(strstr(why, "line break") != NULL);
	CHECK_EQ(sipx_header_check("X A", "v", &why), EINVAL);
	CHECK_EQ(sipx_header_check("", "v", &why), EINVAL);
	CHECK_EQ(sipx_header_check("X:A", "v", &why), EINVAL);
	CHECK_EQ(sipx_header_check("call-id", "x", &why), EINVAL);
	CHECK(strstr(why, "voxgate itself") != NULL);
	CHECK_EQ(sipx_header_check("Content-Length", "0", &why), EINVAL);
	CHECK_EQ(sipx_header_check("Refer-To", "sip:x", &why), EINVAL);
	CHECK_EQ(sipx_header_check("i", "x", &why), EINVAL);
	CHECK_EQ(sipx_header_check("X-A", NULL, &why), EINVAL);

	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(sipx_header_check("X-A", big, &why), EINVAL);
	big[1024] = '\0';
	CHECK_EQ(sipx_header_check("X-A", big, &why), 0);
	return 0;
}

TEST(format_strict_and_lenient)
{
	json_t *h = json_pack("{s:s,s:s}", "X-One", "1", "X-Two", "2");
	char out[64];
	const char *why = NULL;

	CHECK_EQ(sipx_headers_format(h, true, out, sizeof(out), &why), 0);
	CHECK(!strcmp(out, "X-One: 1\r\nX-Two: 2\r\n"));
	json_object_set_new(h, "Via", json_string("SIP/2.0/UDP evil"));
	CHECK_EQ(sipx_headers_format(h, true, out, sizeof(out), &why), EINVAL);
	CHECK_EQ(sipx_headers_format(h, false, out, sizeof(out), &why), 0);
	CHECK(!strcmp(out, "X-One: 1\r\nX-Two: 2\r\n"));
	json_object_del(h, "Via");
	json_object_set_new(h, "X-Three", json_integer(3));
	CHECK_EQ(sipx_headers_format(h, true, out, sizeof(out), &why), EINVAL);
	CHECK(strstr(why, "string") != NULL);
	json_object_del(h, "X-Three");

	/* Too long: strict refuses, lenient keeps the lines that fit. */
	CHECK_EQ(sipx_headers_format(h, true, out, 16, &why), E2BIG);
	CHECK_EQ(sipx_headers_format(h, false, out, 16, &why), 0);
	CHECK(!strcmp(out, "X-One: 1\r\n"));

	CHECK_EQ(sipx_headers_format(NULL, true, out, sizeof(out), &why), 0);
	CHECK(!strcmp(out, ""));
	json_t *arr = json_array();
	CHECK_EQ(sipx_headers_format(arr, true, out, sizeof(out), &why),
	         EINVAL);
	json_decref(arr);
	json_decref(h);
	return 0;
}

int main(void)
{
	RUN(header_check);
	RUN(format_strict_and_lenient);
	TEST_EXIT();
}
