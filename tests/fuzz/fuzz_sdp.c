/*
 * A caller's SDP, through what the SIP side does with it on one call:
 * libre decodes it into the call's session (sdp_decode), voxgate reads the
 * negotiated stream (sipua_sdp_params), sets its direction and encodes the
 * answer. An offer comes in an INVITE or re-INVITE; an answer comes in the
 * ACK after voxgate's own offer (an INVITE without SDP).
 *
 * Input: descriptions separated by a line "~~", each starting with 'A'
 * (an answer to our offer) or anything else (an offer); the first one is
 * the INVITE's, the others re-INVITEs or ACKs of the same call.
 *
 * Each input runs three calls, one per mediaEncryption (DISABLE, ALLOW,
 * REQUIRE), with the SRTP of each description taken (sipua_sdp_srtp):
 * DISABLE never agrees on SRTP, REQUIRE never goes on without it, an
 * agreed key is one of the two suites, and our answer carries exactly one
 * a=crypto line when SRTP is on and none when it is off.
 */
#include <re.h>

#include "sip/sipua_sdp.h"

#include "fuzz.h"

static void check_params(const struct media_params *mp)
{
	FUZZ_CHECK(mp->send_pt == MEDIA_PT_PCMU ||
	           mp->send_pt == MEDIA_PT_PCMA);
	FUZZ_CHECK(mp->dtmf_pt >= -1 && mp->dtmf_pt <= 127);
}

/* One description; false when the call would end here. */
static unsigned crypto_lines(const struct mbuf *mb)
{
	const char *p = (const char *)mb->buf;
	unsigned n = 0;

	/* Attribute lines only: a rejected m-line echoes the offer's
	 * transport token, which may hold the same bytes. */
	for (size_t i = 0; i + 9 <= mb->end; i++)
		if ((i == 0 || p[i - 1] == '\n') &&
		    !memcmp(p + i, "a=crypto:", 9))
			n++;
	return n;
}

static bool negotiate(struct sdp_session *sess, struct sdp_media *m,
                      struct sipua_srtp *s, const uint8_t *p, size_t len,
                      bool first)
{
	struct sipua_srtp_refusal r;
	bool answer = len && p[0] == 'A';
	struct mbuf *mb = mbuf_alloc(len + 1), *desc = NULL;
	struct media_params mp;
	bool ok = false;
	int err;

	if (!mb)
		abort();
	if (len > 1)
		(void)mbuf_write_mem(mb, p + 1, len - 1);
	mb->pos = 0;
	if (answer) {
		/* Our offer goes out in the 200 first. */
		err = sipua_sdp_srtp_offer(m, s);
		FUZZ_CHECK(!err);
		err = sdp_encode(&desc, sess, true);
		FUZZ_CHECK(!err);
		desc = mem_deref(desc);
		err = sdp_decode(sess, mb, false);
	} else {
		err = sdp_decode(sess, mb, true);
	}
	if (err)
		goto out;
	if (first && !answer && !sdp_media_rport(m))
		goto out;
	if (sipua_sdp_srtp(m, s, !answer, &r)) {
		FUZZ_CHECK(r.reason && r.warn_text);
		goto out;
	}
	FUZZ_CHECK(!(s->policy == SDES_DISABLE && s->on));
	FUZZ_CHECK(!(s->policy == SDES_REQUIRE && !s->on));
	FUZZ_CHECK(!s->on ||
	           s->theirs.profile == SRTPX_AES_CM_128_HMAC_SHA1_80 ||
	           s->theirs.profile == SRTPX_AES_CM_128_HMAC_SHA1_32);
	FUZZ_CHECK(!s->on || s->ours.profile == s->theirs.profile);
	if (sipua_sdp_params(m, &mp))
		goto out;
	check_params(&mp);
	sipua_sdp_srtp_params(s, &mp);
	FUZZ_CHECK(mp.srtp.on == s->on);
	ok = true;
	if (answer)
		goto out;
	sipua_sdp_direction(m);
	err = sdp_encode(&desc, sess, false);
	FUZZ_CHECK(!err);
	if (sdp_media_rport(m))
		FUZZ_CHECK(crypto_lines(desc) == (s->on ? 1u : 0u));
out:
	mem_deref(desc);
	mem_deref(mb);
	return ok || !first;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sa laddr;

	sa_set_str(&laddr, "192.0.2.10", 0);
	for (unsigned pol = SDES_DISABLE; pol <= SDES_REQUIRE; pol++) {
		struct fuzz_in in = {data, size};
		struct sdp_session *sess = NULL;
		struct sdp_media *m = NULL;
		struct sipua_srtp s;
		const uint8_t *p;
		size_t len;
		bool first = true;

		if (sipua_sdp_srtp_init(&s, (enum sdes_policy)pol) ||
		    sipua_sdp_alloc_srtp(&sess, &m, &laddr, 10000, &s))
			abort();
		while (fuzz_piece(&in, "\n~~\n", &p, &len)) {
			uint8_t *b = fuzz_copy(p, len, false);
			bool go_on = negotiate(sess, m, &s, b, len, first);

			free(b);
			first = false;
			if (!go_on)
				break;
		}
		mem_deref(sess);
	}
	return 0;
}
