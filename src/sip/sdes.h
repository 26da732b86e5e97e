/*
 * SDES keys for SRTP on SIP calls (RFC 4568): the value of an SDP
 * a=crypto attribute, read, written and made, and the trunk setting
 * (mediaEncryption) that says whether a call's media is encrypted.
 *
 * Only what srtpx can run is taken: AES_CM_128_HMAC_SHA1_80 and _32 with
 * one inline key (16 bytes of master key, 14 of salt), no MKI (srtpx has
 * no MKI field: such packets would all fail authentication), a lifetime
 * of at least 2^31 packets when one is given (we never re-key on our
 * own), and no session parameter that weakens SRTP or that srtpx does
 * not do (UNENCRYPTED_*, UNAUTHENTICATED_SRTP, a KDR other than 0, FEC).
 * Everything else is refused with the reason, so the caller can go on to
 * the offer's next line.
 *
 * Pure functions apart from sdes_make's random key; any thread.
 */
#ifndef VOXGATE_SIP_SDES_H
#define VOXGATE_SIP_SDES_H

#include <stddef.h>
#include <stdint.h>
#include "webrtc/srtpx.h"

/* Master key then master salt, as the inline key carries them. */
#define SDES_KEY_LEN (SRTPX_MAX_KEY + SRTPX_MAX_SALT)
/* The longest value sdes_format writes, NUL included. */
#define SDES_VALUE_MAX 96

struct sdes_crypto {
	unsigned tag; /* 0..999999999 */
	enum srtpx_profile profile;
	uint8_t key[SDES_KEY_LEN];
};

/* A trunk's mediaEncryption (LiveKit's SIPMediaEncryption). */
enum sdes_policy {
	SDES_DISABLE = 0, /* plain RTP only: an RTP/SAVP offer is refused */
	SDES_ALLOW = 1,   /* SRTP when the peer offers or takes it */
	SDES_REQUIRE = 2, /* SRTP only: a plain offer is refused */
};

/*
 * Reads an a=crypto value ("1 AES_CM_128_HMAC_SHA1_80 inline:<40 base64
 * characters>[|2^31]", what follows "a=crypto:"), NUL-terminated. 0 with
 * *c filled; EBADMSG when it does not follow RFC 4568's grammar, ENOTSUP
 * when it does but asks for what we do not do; the reason in *why (may be
 * NULL). *c is wiped on error.
 */
int sdes_parse(const char *value, struct sdes_crypto *c, const char **why);

/* Writes c's value into out (sz bytes, SDES_VALUE_MAX suffice): 0,
 * EINVAL (a profile SDES does not carry here, a tag out of range) or
 * ENOSPC. */
int sdes_format(char *out, size_t sz, const struct sdes_crypto *c);

/* A new random key for profile p with tag: 0, EINVAL (a profile other
 * than AES_CM_128_HMAC_SHA1_80 and _32, a tag out of range) or EIO (no
 * randomness). */
int sdes_make(struct sdes_crypto *c, unsigned tag, enum srtpx_profile p);

/* The srtpx parameters of a call whose keys are ours (what we send) and
 * theirs (what the peer sends), one profile for both: the keys point into
 * the two structs, which must outlive the srtpx_init that uses *prm. */
void sdes_srtpx_prm(struct srtpx_prm *prm, enum srtpx_profile p,
                    const uint8_t ours[SDES_KEY_LEN],
                    const uint8_t theirs[SDES_KEY_LEN]);

/* mediaEncryption's name ("SIP_MEDIA_ENCRYPT_ALLOW", ...) or number as
 * text ("1"): 0 with *p, or EINVAL. An empty name is DISABLE, proto3's
 * zero value. */
int sdes_policy_by_name(const char *name, enum sdes_policy *p);
const char *sdes_policy_name(enum sdes_policy p);

#endif
