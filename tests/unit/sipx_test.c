/*
 * Header lines from the API: what may go into a SIP message and what is
 * refused, strict (a request) and lenient (a stored trunk).
 */
#include <errno.h>
#include <stdlib.h>
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

TEST(transfer_to)
{
	const char *why = NULL;
	char big[600];

	CHECK_EQ(sipx_transfer_to_check("sip:desk@example.com", &why), 0);
	CHECK_EQ(sipx_transfer_to_check("SIPS:desk@example.com;x=1", &why), 0);
	CHECK_EQ(sipx_transfer_to_check("tel:+15550001111", &why), 0);
	CHECK_EQ(sipx_transfer_to_check("http://x", &why), EINVAL);
	CHECK(strstr(why, "sip:, sips: or tel:") != NULL);
	CHECK_EQ(sipx_transfer_to_check("", &why), EINVAL);
	CHECK_EQ(sipx_transfer_to_check(NULL, &why), EINVAL);
	CHECK_EQ(sipx_transfer_to_check("sip:", &why), EINVAL);
	CHECK_EQ(sipx_transfer_to_check("sip:a@b\r\nVia: x", &why), EINVAL);
	CHECK_EQ(sipx_transfer_to_check("sip:a@b>;x=<y", &why), EINVAL);
	CHECK_EQ(sipx_transfer_to_check("sip:a b@c", &why), EINVAL);
	CHECK_EQ(sipx_transfer_to_check("sip:a\"@c", &why), EINVAL);
	memcpy(big, "sip:", 4);
	memset(big + 4, 'a', sizeof(big) - 5);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(sipx_transfer_to_check(big, &why), EINVAL);
	CHECK(strstr(why, "512") != NULL);
	big[512] = '\0';
	CHECK_EQ(sipx_transfer_to_check(big, &why), 0);
	return 0;
}

static int frag(const char *body, uint16_t *code, char *reason, size_t sz)
{
	return sipx_sipfrag_status(body, strlen(body), code, reason, sz);
}

TEST(sipfrag_status)
{
	uint16_t code = 0;
	char reason[32];
	char *big;

	CHECK_EQ(frag("SIP/2.0 200 OK\r\n", &code, reason, sizeof(reason)), 0);
	CHECK_EQ(code, 200);
	CHECK(!strcmp(reason, "OK"));
	CHECK_EQ(frag("SIP/2.0 603 Declined", &code, reason, sizeof(reason)),
	         0);
	CHECK_EQ(code, 603);
	CHECK(!strcmp(reason, "Declined"));
	CHECK_EQ(frag("SIP/2.0 100 Trying\nContent-Length: 0\n\n", &code,
	              reason, sizeof(reason)),
	         0);
	CHECK_EQ(code, 100);
	CHECK(!strcmp(reason, "Trying"));
	CHECK_EQ(frag("SIP/2.0 486\r\n", &code, reason, sizeof(reason)), 0);
	CHECK_EQ(code, 486);
	CHECK(!strcmp(reason, ""));
	/* The reason is cut to the buffer and made printable. */
	CHECK_EQ(frag("SIP/2.0 480 Temporarily Unavailable \x01 here", &code,
	              reason, 8),
	         0);
	CHECK(!strcmp(reason, "Tempora"));
	CHECK_EQ(frag("SIP/2.0 480 a\x01"
	              "b",
	              &code, reason, sizeof(reason)),
	         0);
	CHECK(!strcmp(reason, "a?b"));

	CHECK_EQ(frag("SIP/2.0 20", &code, reason, sizeof(reason)), EBADMSG);
	CHECK_EQ(frag("SIP/2.0 2000 OK", &code, reason, sizeof(reason)),
	         EBADMSG);
	CHECK_EQ(frag("SIP/2.0200 OK", &code, reason, sizeof(reason)), EBADMSG);
	CHECK_EQ(frag("SIP/2.0 099 Low", &code, reason, sizeof(reason)),
	         EBADMSG);
	CHECK_EQ(frag("SIP/2.0 700 High", &code, reason, sizeof(reason)),
	         EBADMSG);
	CHECK_EQ(frag("SIP/1.0 200 OK", &code, reason, sizeof(reason)),
	         EBADMSG);
	CHECK_EQ(frag("INVITE sip:a@b SIP/2.0", &code, reason, sizeof(reason)),
	         EBADMSG);
	CHECK_EQ(frag("SIP/2.0 200 OK\rX", &code, reason, sizeof(reason)),
	         EBADMSG);
	CHECK_EQ(frag("", &code, reason, sizeof(reason)), EBADMSG);
	CHECK_EQ(sipx_sipfrag_status(NULL, 4, &code, reason, sizeof(reason)),
	         EBADMSG);
	/* Truncated: the length given is what counts, not the NUL. */
	CHECK_EQ(sipx_sipfrag_status("SIP/2.0 200 OK", 9, &code, reason,
	                             sizeof(reason)),
	         EBADMSG);

	/* A first line past 256 bytes is refused, whatever follows; a 1 MB
	 * body with a short first line is read no further than it. */
	big = malloc(1 << 20);
	CHECK(big != NULL);
	memset(big, 'x', 1 << 20);
	memcpy(big, "SIP/2.0 180 ", 12);
	CHECK_EQ(
	    sipx_sipfrag_status(big, 1 << 20, &code, reason, sizeof(reason)),
	    EBADMSG);
	memcpy(big + 12, "Ringing\r\n", 9);
	CHECK_EQ(
	    sipx_sipfrag_status(big, 1 << 20, &code, reason, sizeof(reason)),
	    0);
	CHECK_EQ(code, 180);
	CHECK(!strcmp(reason, "Ringing"));
	free(big);
	return 0;
}

int main(void)
{
	RUN(header_check);
	RUN(format_strict_and_lenient);
	RUN(transfer_to);
	RUN(sipfrag_status);
	TEST_EXIT();
}
