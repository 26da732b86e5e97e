/*
 * The SDP side of a call (sipua_sdp.h): voxgate's description, and what it
 * takes from the caller's.
 */
#include <string.h>
#include "sip/sipua_sdp.h"

#define DTMF_PT "101"

int sipua_sdp_alloc(struct sdp_session **sessp, struct sdp_media **mp,
                    const struct sa *laddr, uint16_t port)
{
	struct sdp_session *sess;
	struct sdp_media *m = NULL;
	int err;

	err = sdp_session_alloc(&sess, laddr);
	if (err)
		return err;
	err = sdp_media_add(&m, sess, sdp_media_audio, port, sdp_proto_rtpavp);
	if (err)
		goto out;
	err = sdp_format_add(NULL, m, false, "0", "PCMU", 8000, 1, NULL, NULL,
	                     NULL, false, NULL);
	err |= sdp_format_add(NULL, m, false, "8", "PCMA", 8000, 1, NULL, NULL,
	                      NULL, false, NULL);
	err |= sdp_format_add(NULL, m, false, DTMF_PT, "telephone-event", 8000,
	                      1, NULL, NULL, NULL, false, "0-15");
	if (err)
		goto out;
	err = sdp_media_set_lattr(m, true, sdp_attr_ptime, "20");
out:
	if (err) {
		mem_deref(sess);
		return err;
	}
	*sessp = sess;
	*mp = m;
	return 0;
}

int sipua_sdp_params(const struct sdp_media *m, struct media_params *mp)
{
	const struct sa *raddr = sdp_media_raddr(m);
	enum sdp_dir rdir = sdp_media_rdir(m);
	bool found = false;

	memset(mp, 0, sizeof(*mp));
	mp->dtmf_pt = -1;
	for (struct le *le = list_head(sdp_media_format_lst(m, false)); le;
	     le = le->next) {
		const struct sdp_format *f = le->data;

		if (!f->sup)
			continue;
		if (!str_casecmp(f->name, "telephone-event")) {
			/* An RTP payload type has 7 bits: a larger one
			 * could never match a packet. */
			if (mp->dtmf_pt < 0 && f->pt >= 0 && f->pt <= 127)
				mp->dtmf_pt = f->pt;
		} else if (!found &&
		           (f->pt == MEDIA_PT_PCMU || f->pt == MEDIA_PT_PCMA)) {
			mp->send_pt = (uint8_t)f->pt;
			found = true;
		}
	}
	if (!found)
		return ENOENT;

	mp->raddr = *raddr;
	sdp_media_raddr_rtcp(m, &mp->raddr_rtcp);
	/* c=0.0.0.0 is the old way to put a call on hold (RFC 2543). */
	if (!sa_isset(raddr, SA_ADDR) || sa_is_any(raddr))
		rdir = SDP_INACTIVE;
	/* libre stores the caller's direction from our side: their
	 * "sendonly" is our SDP_RECVONLY. */
	mp->send = (rdir & SDP_SENDONLY) != 0;
	mp->recv = (rdir & SDP_RECVONLY) != 0;
	return 0;
}

/* libre answers with our direction masked by the caller's (already seen
 * from our side), so hold (sendonly) is answered recvonly by itself. Only
 * the old c=0.0.0.0 hold needs saying: answer it inactive. */
void sipua_sdp_direction(struct sdp_media *m)
{
	const struct sa *raddr = sdp_media_raddr(m);

	sdp_media_set_ldir(m, sa_is_any(raddr) ? SDP_INACTIVE : SDP_SENDRECV);
}
