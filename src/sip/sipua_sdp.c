/*
 * The SDP side of a call (sipua_sdp.h): voxgate's description, and what it
 * takes from the caller's, SRTP keys included.
 */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include "sip/sipua_sdp.h"

#define DTMF_PT "101"

_Static_assert(MEDIA_SRTP_KEY_LEN == SDES_KEY_LEN,
               "the media takes SDES's key and salt as they come");

static const struct sipua_srtp plain;

int sipua_sdp_alloc(struct sdp_session **sessp, struct sdp_media **mp,
                    const struct sa *laddr, uint16_t port)
{
	return sipua_sdp_alloc_srtp(sessp, mp, laddr, port, &plain);
}

int sipua_sdp_alloc_srtp(struct sdp_session **sessp, struct sdp_media **mp,
                         const struct sa *laddr, uint16_t port,
                         const struct sipua_srtp *s)
{
	struct sdp_session *sess;
	struct sdp_media *m = NULL;
	int err;

	if (!s)
		return EINVAL;
	err = sdp_session_alloc(&sess, laddr);
	if (err)
		return err;
	err = sdp_media_add(&m, sess, sdp_media_audio, port,
	                    s->policy == SDES_REQUIRE ? sdp_proto_rtpsavp
	                                              : sdp_proto_rtpavp);
	if (err)
		goto out;
	/* An offer in the other profile still finds our stream (libre gives
	 * it port 0 otherwise): the policy decides, with a reason. */
	err =
	    sdp_media_set_alt_protos(m, 2, sdp_proto_rtpavp, sdp_proto_rtpsavp);
	if (err)
		goto out;
	err = sipua_sdp_srtp_offer(m, s);
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

/* ---- SRTP (SDES) ------------------------------------------------------ */

int sipua_sdp_srtp_init(struct sipua_srtp *s, enum sdes_policy p)
{
	int err;

	if (!s || (unsigned)p > SDES_REQUIRE)
		return EINVAL;
	OPENSSL_cleanse(s, sizeof(*s));
	s->policy = p;
	if (p == SDES_DISABLE)
		return 0;
	err = sdes_make(&s->offer[0], 1, SRTPX_AES_CM_128_HMAC_SHA1_80);
	if (!err)
		err = sdes_make(&s->offer[1], 2, SRTPX_AES_CM_128_HMAC_SHA1_32);
	if (err)
		OPENSSL_cleanse(s, sizeof(*s));
	return err;
}

int sipua_sdp_srtp_offer(struct sdp_media *m, const struct sipua_srtp *s)
{
	char v[SDES_VALUE_MAX];
	int err = 0;

	if (!m || !s)
		return EINVAL;
	sdp_media_del_lattr(m, "crypto");
	if (s->policy == SDES_DISABLE)
		return 0;
	for (size_t i = 0; i < 2 && !err; i++) {
		err = sdes_format(v, sizeof(v), &s->offer[i]);
		if (!err)
			err = sdp_media_set_lattr(m, false, "crypto", "%s", v);
	}
	OPENSSL_cleanse(v, sizeof(v));
	return err;
}

/* The first a=crypto line of the peer's we can use. */
struct crypto_pick {
	const struct sipua_srtp *s;
	bool answer; /* to our offer: only a tag and suite we offered */
	bool found;
	struct sdes_crypto c;
	const char *why; /* the first line's refusal, when none is usable */
	unsigned lines;
};

static bool crypto_line(const char *name, const char *value, void *arg)
{
	struct crypto_pick *p = arg;
	const char *why = NULL;

	(void)name;
	p->lines++;
	if (sdes_parse(value, &p->c, &why)) {
		if (!p->why)
			p->why = why;
		return false;
	}
	if (p->answer) {
		const struct sdes_crypto *o = p->c.tag >= 1 && p->c.tag <= 2
		                                  ? &p->s->offer[p->c.tag - 1]
		                                  : NULL;

		if (!o || o->profile != p->c.profile) {
			if (!p->why)
				p->why =
				    "a=crypto tag or suite we did not offer";
			OPENSSL_cleanse(&p->c, sizeof(p->c));
			return false;
		}
	}
	p->found = true;
	return true;
}

static int refuse(struct sipua_srtp_refusal *r, const char *reason,
                  uint16_t code, const char *text)
{
	if (r) {
		r->reason = reason;
		r->warn_code = code;
		r->warn_text = text;
	}
	return EPROTO;
}

static bool same_key(const struct sdes_crypto *a, const struct sdes_crypto *b)
{
	return a->tag == b->tag && a->profile == b->profile &&
	       !CRYPTO_memcmp(a->key, b->key, sizeof(a->key));
}

int sipua_sdp_srtp(struct sdp_media *m, struct sipua_srtp *s, bool remote_offer,
                   struct sipua_srtp_refusal *r)
{
	struct crypto_pick p = {.s = s, .answer = !remote_offer};
	struct sdes_crypto ours;
	char v[SDES_VALUE_MAX];
	bool savp;
	int err;

	if (!m || !s)
		return EINVAL;
	/* After sdp_decode the stream's profile is the offer's (ours when
	 * this is an answer: look at what the peer said, below). */
	savp = !str_casecmp(sdp_media_proto(m), sdp_proto_rtpsavp);
	if (s->policy != SDES_DISABLE)
		(void)sdp_media_rattr_apply(m, "crypto", crypto_line, &p);

	if (s->policy == SDES_DISABLE && savp && remote_offer)
		return refuse(r, "SRTP offered to a trunk without it", 302,
		              "SRTP not enabled");
	if (!p.found) {
		if (s->policy == SDES_REQUIRE)
			return refuse(r,
			              p.why ? p.why
			                    : (savp ? "no a=crypto"
			                            : "plain RTP offered"),
			              302, "SRTP required");
		if (savp && remote_offer)
			return refuse(r, p.why ? p.why : "no a=crypto", 306,
			              "No usable a=crypto");
		if (remote_offer)
			sdp_media_del_lattr(m, "crypto");
		s->on = false;
		OPENSSL_cleanse(&s->ours, sizeof(s->ours));
		OPENSSL_cleanse(&s->theirs, sizeof(s->theirs));
		return 0;
	}

	if (!remote_offer) {
		/* Our offered key of the tag the answer took. */
		ours = s->offer[p.c.tag - 1];
	} else if (s->on && same_key(&p.c, &s->theirs)) {
		ours = s->ours; /* nothing changed: no re-key */
	} else {
		err = sdes_make(&ours, p.c.tag, p.c.profile);
		if (err) {
			OPENSSL_cleanse(&p.c, sizeof(p.c));
			return refuse(r, "no key could be made", 399,
			              "SRTP unavailable");
		}
	}
	if (remote_offer) {
		err = sdes_format(v, sizeof(v), &ours);
		if (!err)
			err = sdp_media_set_lattr(m, true, "crypto", "%s", v);
		OPENSSL_cleanse(v, sizeof(v));
		if (err) {
			OPENSSL_cleanse(&ours, sizeof(ours));
			OPENSSL_cleanse(&p.c, sizeof(p.c));
			return refuse(r, "answer could not be written", 399,
			              "SRTP unavailable");
		}
	}
	s->on = true;
	s->ours = ours;
	s->theirs = p.c;
	OPENSSL_cleanse(&ours, sizeof(ours));
	OPENSSL_cleanse(&p.c, sizeof(p.c));
	return 0;
}

void sipua_sdp_srtp_params(const struct sipua_srtp *s, struct media_params *mp)
{
	memset(&mp->srtp, 0, sizeof(mp->srtp));
	if (!s || !s->on)
		return;
	mp->srtp.on = true;
	mp->srtp.profile = s->theirs.profile;
	memcpy(mp->srtp.tx, s->ours.key, sizeof(mp->srtp.tx));
	memcpy(mp->srtp.rx, s->theirs.key, sizeof(mp->srtp.rx));
}

/* libre answers with our direction masked by the caller's (already seen
 * from our side), so hold (sendonly) is answered recvonly by itself. Only
 * the old c=0.0.0.0 hold needs saying: answer it inactive. */
void sipua_sdp_direction(struct sdp_media *m)
{
	const struct sa *raddr = sdp_media_raddr(m);

	sdp_media_set_ldir(m, sa_is_any(raddr) ? SDP_INACTIVE : SDP_SENDRECV);
}
