/*
 * The WebRTC SDP (src/webrtc/wsdp*.c), two ways.
 *
 * Input starting with 'v': a client's description. What wsdp_parse keeps
 * must hold to its grammar; the answer to it as a publisher offer (with
 * and without data channels) must read back with the same lines, mids and
 * kinds, Opus alone on each accepted audio line, rejected lines at port 0
 * and out of BUNDLE; and taken as the answer to a subscriber offer of as
 * many lines, wsdp_sub_answer must keep its state whole.
 *
 * Any other first byte: a program run on one subscriber PC, a byte per
 * step, 256 steps at most (low 3 bits the operation, the rest its
 * argument): add a PCMU or Opus track, remove one, add the data channels,
 * write the offer, answer it as libwebrtc does (the next two bytes
 * rejecting lines). Every offer must read back with the PC's lines, BUNDLE
 * of exactly the lines not rejected, and no mid ever carrying a second
 * track.
 */
#include <errno.h>

#include "webrtc/wsdp.h"

#include "fuzz.h"
#include "../unit/wsdp_peer.h"

static struct wsdp_desc d, back;
static struct wsdp_sub s;
static char out[WSDP_SIZE_MAX], ans[WSDP_SIZE_MAX];

static const struct wsdp_local local = {
    .ufrag = "vXg1",
    .pwd = "0123456789abcdefghijKL",
    .fp_sha256 = {0xde, 0xad, 0xbe, 0xef},
    .addr = "2001:db8::7",
    .port = 40002,
};

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

static void answer_publisher(bool data)
{
	const struct wsdp_pub_prm prm = {
	    .sess_id = 7, .version = 2, .data = data};
	struct wsdp_pub_result res;
	const char *why = NULL;
	size_t len = 0;
	int err;

	err = wsdp_pub_answer(&d, &local, &prm, &res, out, sizeof(out), &len,
	                      &why);
	if (d.setup == WSDP_SETUP_HOLDCONN) {
		FUZZ_CHECK(err == EPROTO);
		return;
	}
	FUZZ_CHECK(err == 0 && len == strlen(out));
	err = wsdp_parse(&back, out, len, &why);
	if (err)
		fprintf(stderr, "answer refused: %s (line %u)\n", why,
		        back.err_line);
	FUZZ_CHECK(err == 0);
	check_desc(&back);
	FUZZ_CHECK(back.ice_lite && back.n == d.n && res.n == d.n);
	for (unsigned i = 0; i < d.n; i++) {
		const struct wsdp_media *o = &d.m[i], *a = &back.m[i];

		FUZZ_CHECK(!strcmp(o->mid, a->mid));
		FUZZ_CHECK(!strcmp(o->kind_name, a->kind_name));
		switch (res.line[i].how) {
		case WSDP_ANS_REJECTED:
			FUZZ_CHECK(a->port == 0 && a->rejected);
			break;
		case WSDP_ANS_DATA:
			FUZZ_CHECK(data && o->kind == WSDP_APPLICATION);
			FUZZ_CHECK(a->sctp_port == 5000 && a->bundled);
			break;
		default:
			FUZZ_CHECK(o->kind == WSDP_AUDIO && o->bundled);
			FUZZ_CHECK(o->opus_pt >= 0 && o->rtcp_mux);
			FUZZ_CHECK(a->opus_pt == o->opus_pt && a->nfmt == 1);
			FUZZ_CHECK(a->bundled && a->rtcp_mux && !a->pcmu);
			FUZZ_CHECK(a->dir ==
			           (res.line[i].how == WSDP_ANS_RECEIVING
			                ? WSDP_RECVONLY
			                : WSDP_INACTIVE));
			FUZZ_CHECK((res.line[i].how == WSDP_ANS_RECEIVING) ==
			           (o->dir == WSDP_SENDONLY ||
			            o->dir == WSDP_SENDRECV));
			break;
		}
	}
	if (back.transport >= 0) {
		FUZZ_CHECK(!strcmp(back.ice_ufrag, local.ufrag));
		FUZZ_CHECK(
		    back.setup ==
		    (res.dtls_client ? WSDP_SETUP_ACTIVE : WSDP_SETUP_PASSIVE));
	}
}

/* d taken as the answer to a subscriber offer of as many lines. */
static void answer_subscriber(void)
{
	const char *why = NULL;
	size_t len = 0;
	char tr[16];
	int err;

	wsdp_sub_init(&s, 1);
	for (unsigned i = 0; i < d.n; i++) {
		if (d.m[i].kind == WSDP_APPLICATION && wsdp_sub_data(&s) == 0)
			continue;
		snprintf(tr, sizeof(tr), "TR_%u", i);
		FUZZ_CHECK(wsdp_sub_add(&s, "PA_f", tr, i + 1,
		                        d.m[i].pcmu ? WSDP_PCMU : WSDP_OPUS,
		                        NULL, &why) == 0);
	}
	FUZZ_CHECK(wsdp_sub_offer(&s, &local, out, sizeof(out), &len, &why) ==
	           0);
	err = wsdp_sub_answer(&s, &d, &why);
	FUZZ_CHECK(err == 0 || err == EPROTO);
	FUZZ_CHECK(s.pending == (err != 0));
	for (unsigned i = 0; !err && i < s.n; i++) {
		FUZZ_CHECK(!s.line[i].receiving ||
		           s.line[i].state == WSDP_LINE_TRACK);
		if (d.m[i].rejected)
			FUZZ_CHECK(s.line[i].state == WSDP_LINE_STOPPED);
	}
}

/* Programs stop after this many steps: each offer is read back, and long
 * programs find nothing short ones do not, only slower. */
#define STEPS 256

/* Which track each mid ever carried: none may carry a second. */
#define MIDS (STEPS + 2)
static char owner[MIDS][WSDP_SID_MAX + 1];

static void check_offer(void)
{
	const char *why = NULL;
	size_t len = 0;
	unsigned k = 0;

	FUZZ_CHECK(wsdp_sub_offer(&s, &local, out, sizeof(out), &len, &why) ==
	           0);
	FUZZ_CHECK(wsdp_parse(&back, out, len, &why) == 0);
	check_desc(&back);
	FUZZ_CHECK(back.ice_lite && back.n == s.n);
	for (unsigned i = 0; i < s.n; i++) {
		const struct wsdp_sub_line *ln = &s.line[i];
		const struct wsdp_media *m = &back.m[i];
		unsigned long mid = strtoul(ln->mid, NULL, 10);

		FUZZ_CHECK(!strcmp(m->mid, ln->mid));
		FUZZ_CHECK(m->rejected == (ln->state == WSDP_LINE_STOPPED));
		if (!m->rejected) {
			FUZZ_CHECK(k < back.nbundle && back.bundle[k] == i);
			k++;
		}
		FUZZ_CHECK(mid < MIDS);
		if (ln->state != WSDP_LINE_TRACK)
			continue;
		FUZZ_CHECK(m->dir == WSDP_SENDONLY &&
		           m->ssrc == ln->track.ssrc);
		FUZZ_CHECK(!strcmp(m->msid_track, ln->track.tr_sid));
		if (!owner[mid][0])
			strcpy(owner[mid], ln->track.tr_sid);
		FUZZ_CHECK(!strcmp(owner[mid], ln->track.tr_sid));
	}
	FUZZ_CHECK(k == back.nbundle);
}

static void run_program(struct fuzz_in *in)
{
	const char *why = NULL;
	char tr[16];
	size_t len;

	wsdp_sub_init(&s, 3);
	memset(owner, 0, sizeof(owner));
	for (unsigned step = 0; step < STEPS && in->n; step++) {
		uint8_t b = fuzz_u8(in), arg = b >> 3;

		snprintf(tr, sizeof(tr), "TR_%u", arg);
		switch (b & 7) {
		case 0:
		case 1: {
			int err = wsdp_sub_add(&s, "PA_f", tr, arg + 1u,
			                       b & 1 ? WSDP_OPUS : WSDP_PCMU,
			                       NULL, &why);
			FUZZ_CHECK(err == 0 || err == EEXIST || err == ENOSPC);
			/* Same argument, same sid and SSRC. */
			FUZZ_CHECK((wsdp_sub_find(&s, tr) >= 0) ==
			           (err != ENOSPC));
			break;
		}
		case 2:
			FUZZ_CHECK(wsdp_sub_remove(&s, tr) == 0 ||
			           wsdp_sub_find(&s, tr) < 0);
			FUZZ_CHECK(wsdp_sub_find(&s, tr) < 0);
			break;
		case 3:
			wsdp_sub_data(&s);
			break;
		case 4:
			if (!s.pending)
				check_offer();
			break;
		case 5:
			if (!s.pending)
				break;
			FUZZ_CHECK(peer_answer(&back, fuzz_u16(in), ans,
			                       sizeof(ans), &len) == 0);
			FUZZ_CHECK(wsdp_parse(&d, ans, len, &why) == 0);
			FUZZ_CHECK(wsdp_sub_answer(&s, &d, &why) == 0);
			for (unsigned i = 0; i < d.n; i++) {
				if (d.m[i].rejected &&
				    !strcmp(s.line[i].mid, d.m[i].mid))
					FUZZ_CHECK(s.line[i].state ==
					           WSDP_LINE_STOPPED);
			}
			break;
		default:
			break;
		}
		FUZZ_CHECK(s.n <= WSDP_MEDIA_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	const char *why = NULL;
	char *text;
	int err;

	if (!size)
		return 0;
	if (data[0] != 'v') {
		in.p++;
		in.n--;
		run_program(&in);
		return 0;
	}
	text = fuzz_copy(data, size, false);
	err = wsdp_parse(&d, text, size, &why);
	free(text);
	if (err) {
		FUZZ_CHECK(err == E2BIG || err == EBADMSG || err == EPROTO);
		FUZZ_CHECK(why && why[0]);
		return 0;
	}
	check_desc(&d);
	answer_publisher(false);
	answer_publisher(true);
	answer_subscriber();
	return 0;
}
