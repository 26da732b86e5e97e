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
static bool negotiate(struct sdp_session *sess, struct sdp_media *m,
                      const uint8_t *p, size_t len, bool first)
{
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
	if (sipua_sdp_params(m, &mp))
		goto out;
	check_params(&mp);
	ok = true;
	if (answer)
		goto out;
	sipua_sdp_direction(m);
	err = sdp_encode(&desc, sess, false);
	FUZZ_CHECK(!err);
out:
	mem_deref(desc);
	mem_deref(mb);
	return ok || !first;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct sdp_session *sess = NULL;
	struct sdp_media *m = NULL;
	const uint8_t *p;
	struct sa laddr;
	size_t len;
	bool first = true;

	sa_set_str(&laddr, "192.0.2.10", 0);
	if (sipua_sdp_alloc(&sess, &m, &laddr, 10000))
		abort();
	while (fuzz_piece(&in, "\n~~\n", &p, &len)) {
		uint8_t *b = fuzz_copy(p, len, false);
		bool go_on = negotiate(sess, m, b, len, first);

		free(b);
		first = false;
		if (!go_on)
			break;
	}
	mem_deref(sess);
	return 0;
}
