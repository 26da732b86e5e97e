/*
 * The WebRTC SDP (src/webrtc/wsdp.c): a client's description through
 * wsdp_parse. What it keeps must hold to its grammar (every string bounded
 * and of its characters, mids unique, BUNDLE and the transport consistent)
 * and a refusal must say why.
 */
#include <errno.h>

#include "webrtc/wsdp.h"

#include "fuzz.h"

static struct wsdp_desc d;

static bool chars_ok(const char *str, size_t cap, size_t min,
                     bool (*ok)(unsigned char))
{
	size_t n = strnlen(str, cap);

	if (n == cap || n < min)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ok((unsigned char)str[i]))
			return false;
	}
	return true;
}

/* RFC 8866 token-char: visible, but not these. */
static bool token(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]", c);
}

static bool proto(unsigned char c)
{
	return token(c) || c == '/';
}

static bool visible(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static bool printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

static bool ice(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || c == '+' || c == '/';
}

static void check_desc(const struct wsdp_desc *x)
{
	FUZZ_CHECK(x->n >= 1 && x->n <= WSDP_MEDIA_MAX);
	FUZZ_CHECK(x->nbundle <= x->n);
	for (unsigned k = 0; k < x->nbundle; k++)
		FUZZ_CHECK(x->bundle[k] < x->n);
	for (unsigned i = 0; i < x->n; i++) {
		const struct wsdp_media *m = &x->m[i];

		FUZZ_CHECK(
		    chars_ok(m->kind_name, sizeof(m->kind_name), 1, token));
		FUZZ_CHECK(chars_ok(m->proto, sizeof(m->proto), 1, proto));
		FUZZ_CHECK(chars_ok(m->fmt0, sizeof(m->fmt0), 1, token));
		FUZZ_CHECK(chars_ok(m->mid, sizeof(m->mid), m->rejected ? 0 : 1,
		                    token));
		FUZZ_CHECK(chars_ok(m->msid_stream, sizeof(m->msid_stream),
		                    m->has_msid ? 1 : 0, token));
		FUZZ_CHECK(
		    chars_ok(m->msid_track, sizeof(m->msid_track), 0, token));
		FUZZ_CHECK(chars_ok(m->cname, sizeof(m->cname), 0, visible));
		FUZZ_CHECK(
		    chars_ok(m->opus_fmtp, sizeof(m->opus_fmtp), 0, printable));
		FUZZ_CHECK(m->nfmt >= 1);
		FUZZ_CHECK(m->opus_pt >= -1 && m->opus_pt < 128);
		if (m->opus_pt >= 0)
			FUZZ_CHECK(m->pts[m->opus_pt / 8] >> (m->opus_pt % 8) &
			           1);
		FUZZ_CHECK(!(m->rejected && m->bundled));
		FUZZ_CHECK(!m->rejected || m->port == 0);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(!m->mid[0] || strcmp(m->mid, x->m[j].mid));
	}
	if (x->transport < 0) {
		for (unsigned i = 0; i < x->n; i++)
			FUZZ_CHECK(!x->m[i].bundled);
		return;
	}
	FUZZ_CHECK((unsigned)x->transport < x->n);
	FUZZ_CHECK(x->m[x->transport].bundled);
	FUZZ_CHECK(chars_ok(x->ice_ufrag, sizeof(x->ice_ufrag), 4, ice));
	FUZZ_CHECK(chars_ok(x->ice_pwd, sizeof(x->ice_pwd), 22, ice));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	char *text;
	int err;

	text = fuzz_copy(data, size, false);
	err = wsdp_parse(&d, text, size, &why);
	free(text);
	if (err) {
		FUZZ_CHECK(err == E2BIG || err == EBADMSG || err == EPROTO);
		FUZZ_CHECK(why && why[0]);
		return 0;
	}
	check_desc(&d);
	return 0;
}
