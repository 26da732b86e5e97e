/*
 * SIP text voxgate takes from outside into its own messages or decisions:
 * the sipfrag status line of a REFER's NOTIFY (sipx_sipfrag_status), a
 * transfer target (sipx_transfer_to_check) and an API header line
 * (sipx_header_check). What is accepted must be what the checks promise:
 * a status in 100-699 with a printable reason that fits, a target with a
 * known scheme and nothing that could end the header it goes into.
 *
 * Input: a mode byte (modulo 3: sipfrag, transfer target, header), a
 * reason buffer size byte for the sipfrag, then the text (a header is
 * "name\0value").
 */
#include <ctype.h>
#include <errno.h>
#include <strings.h>

#include "sip/sipx.h"

#include "fuzz.h"

static void sipfrag(const uint8_t *p, size_t n, size_t sz)
{
	char *body = fuzz_copy(p, n, false);
	char reason[256];
	uint16_t code = 0;

	if (!sz)
		sz = 1;
	memset(reason, 'Z', sizeof(reason));
	if (!sipx_sipfrag_status(body, n, &code, reason, sz)) {
		size_t len = strnlen(reason, sz);

		FUZZ_CHECK(code >= 100 && code <= 699);
		FUZZ_CHECK(len < sz);
		for (size_t i = 0; i < len; i++)
			FUZZ_CHECK(reason[i] >= 0x20 && reason[i] < 0x7f);
		FUZZ_CHECK(n >= 11 && !memcmp(body, "SIP/2.0 ", 8));
	}
	free(body);
}

static void target(const uint8_t *p, size_t n)
{
	char *to = fuzz_copy(p, n, true);
	const char *why = NULL;

	if (!sipx_transfer_to_check(to, &why)) {
		size_t len = strlen(to);

		FUZZ_CHECK(len > 0 && len <= 512);
		FUZZ_CHECK(!strncasecmp(to, "sip:", 4) ||
		           !strncasecmp(to, "sips:", 5) ||
		           !strncasecmp(to, "tel:", 4));
		FUZZ_CHECK(!strpbrk(to, "\r\n <>\"\t"));
	} else {
		FUZZ_CHECK(why != NULL);
	}
	free(to);
}

static void header(const uint8_t *p, size_t n)
{
	char *s = fuzz_copy(p, n, true);
	const uint8_t *nul = memchr(p, 0, n);
	const char *value = nul ? s + (nul - p) + 1 : "";
	const char *why = NULL;

	if (!sipx_header_check(s, value, &why)) {
		FUZZ_CHECK(!strpbrk(value, "\r\n"));
		FUZZ_CHECK(!strchr(s, ':') && !strchr(s, ' '));
		FUZZ_CHECK(strncasecmp(s, "Content-", 8));
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	uint8_t sz = fuzz_u8(&in);

	switch (mode % 3) {
	case 0:
		sipfrag(in.p, in.n, sz);
		break;
	case 1:
		target(in.p, in.n);
		break;
	default:
		header(in.p, in.n);
		break;
	}
	return 0;
}
