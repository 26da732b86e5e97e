/*
 * The SDP side of a call, apart from the SIP dialog: the description
 * voxgate offers or answers with, and what it takes from the caller's once
 * libre has decoded it (sdp_decode) into that session. sipua.c runs them
 * on every INVITE, re-INVITE and ACK; on their own they can be tested with
 * any description.
 *
 * SRTP (SDES, RFC 4568): the call's trunk says what it takes
 * (mediaEncryption, sdes.h), and the a=crypto lines carry the keys:
 *
 *   policy   our offer                     the peer's offer
 *   DISABLE  RTP/AVP, no a=crypto          RTP/SAVP refused (488); an
 *                                          RTP/AVP one's a=crypto ignored
 *   ALLOW    RTP/AVP with a=crypto (best   SRTP when a usable a=crypto
 *            effort: SRTP if the answer    comes (RTP/AVP or RTP/SAVP);
 *            has a=crypto)                 RTP/SAVP without one refused
 *   REQUIRE  RTP/SAVP with a=crypto        no usable a=crypto: refused
 *
 * We offer AES_CM_128_HMAC_SHA1_80 (tag 1) and _32 (tag 2), and answer
 * the first of the peer's lines sdes_parse takes, with its tag and a key
 * of ours. A later offer or answer with the same keys changes nothing; new
 * keys from the peer get a new key of ours too (a new SRTP context, RFC
 * 4568 section 7.1.4).
 */
#ifndef VOXGATE_SIP_SIPUA_SDP_H
#define VOXGATE_SIP_SIPUA_SDP_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "media/media.h"
#include "sip/sdes.h"

/* A call's SRTP: its policy, the keys we offer, and what was agreed. */
struct sipua_srtp {
	enum sdes_policy policy;
	struct sdes_crypto offer[2]; /* ours to offer: _80 tag 1, _32 tag 2 */
	bool on;                     /* agreed by the last offer/answer */
	struct sdes_crypto ours, theirs;
};

/* Why an offer or answer was refused for its SRTP, for the 488. */
struct sipua_srtp_refusal {
	const char *reason; /* for the log */
	uint16_t warn_code; /* RFC 3261 warn-code */
	const char *warn_text;
};

/* One audio stream on port offering PCMU, PCMA and telephone-event at
 * ptime 20, from laddr, plain RTP. *mp belongs to *sessp, a libre mem
 * object. */
int sipua_sdp_alloc(struct sdp_session **sessp, struct sdp_media **mp,
                    const struct sa *laddr, uint16_t port);

/* Sets s up for policy p: our offer's keys made (ENOTSUP or EIO when no
 * key can be made, EINVAL for an unknown policy). */
int sipua_sdp_srtp_init(struct sipua_srtp *s, enum sdes_policy p);

/* Our description by s's policy (table above): as sipua_sdp_alloc, and,
 * until the peer's offer or answer is taken, our offer. s must have been
 * set up by sipua_sdp_srtp_init. */
int sipua_sdp_alloc_srtp(struct sdp_session **sessp, struct sdp_media **mp,
                         const struct sa *laddr, uint16_t port,
                         const struct sipua_srtp *s);

/* Puts our offer's a=crypto lines back on m before we offer again (an
 * INVITE or re-INVITE without SDP). */
int sipua_sdp_srtp_offer(struct sdp_media *m, const struct sipua_srtp *s);

/*
 * After sdp_decode of the peer's description into m (remote_offer: it is
 * an offer, which we answer; else it answers ours): checks it against the
 * policy, agrees on keys (s->on, ours, theirs) and writes our answer's
 * a=crypto line. 0, or EPROTO with r filled (answer it 488); s is then
 * left as it was.
 */
int sipua_sdp_srtp(struct sdp_media *m, struct sipua_srtp *s, bool remote_offer,
                   struct sipua_srtp_refusal *r);

/* The agreed keys into the media's parameters (off when none). */
void sipua_sdp_srtp_params(const struct sipua_srtp *s, struct media_params *mp);

/* The negotiated stream: the first audio codec the caller listed that we
 * support, and telephone-event when offered. ENOENT when there is no
 * common codec. */
int sipua_sdp_params(const struct sdp_media *m, struct media_params *mp);

/* Sets our direction for the answer from the caller's. */
void sipua_sdp_direction(struct sdp_media *m);

#endif
