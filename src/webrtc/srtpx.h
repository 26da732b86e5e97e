/*
 * SRTP for one media stream (RFC 3711, RFC 7714): our keys protect what
 * we send, the peer's keys unprotect what it sends. RTP and RTCP share
 * the keys (rtcp-mux). WebRTC peer connections key it from DTLS-SRTP
 * (srtpx_dtls_keys), SIP calls from SDES a=crypto lines.
 *
 * The packet transforms are OpenSSL's (AES-CTR and AES-GCM through
 * EVP cipher contexts made at init and re-keyed with each packet's IV,
 * HMAC-SHA1 from SHA-1 states keyed at init); the key derivation, the
 * rollover counter, the replay windows and the SSRC table are here. It
 * makes the same bytes as libsrtp2 (and libwebrtc) for every profile,
 * including the 80-bit SRTCP tag under AES_CM_128_HMAC_SHA1_32.
 *
 * The prefix is srtpx_ because libre and libsrtp2 own srtp_*.
 *
 * Threads: srtpx_global_init fetches OpenSSL's ciphers once per process
 * (pthread_once) and keeps them for its lifetime; srtpx_init calls it, so
 * nothing else needs to. A context is used by one thread at a time (the
 * one that owns the stream's socket); different contexts may be used on
 * different threads at once.
 *
 * Allocation: srtpx_init allocates everything a context needs, the state
 * of SRTPX_MAX_SSRC SSRCs each way included (their replay windows take
 * 3 x 64 x window/8 bytes, window rounded up to a power of two: 3 KB at
 * the default 128). The packet calls work in place on the caller's buffer
 * and allocate nothing, for every profile, whether they accept or refuse
 * (tests/unit/srtpx_test.c counts it). Buffers need no alignment.
 */
#ifndef VOXGATE_WEBRTC_SRTPX_H
#define VOXGATE_WEBRTC_SRTPX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum srtpx_profile {
	SRTPX_AEAD_AES_128_GCM,        /* RFC 7714; DTLS-SRTP id 0x0007 */
	SRTPX_AES_CM_128_HMAC_SHA1_80, /* RFC 3711; id 0x0001 */
	SRTPX_AES_CM_128_HMAC_SHA1_32, /* id 0x0002; SRTCP's tag stays 80 bits */
};

/*
 * Bytes protect may add after a packet: the longest tag (16, GCM) plus the
 * SRTCP index word (4). A buffer with len + SRTPX_MAX_TRAILER bytes of
 * room always suffices; srtpx_trailer() gives the exact figure.
 */
#define SRTPX_MAX_TRAILER 20

/* The longest packet taken in or made, in bytes (a UDP payload). */
#define SRTPX_MAX_PACKET 65507

/* Distinct SSRCs the peer may send with (RTP and RTCP together). */
#define SRTPX_MAX_SSRC 64

/* Longest master key and salt of the profiles above. */
#define SRTPX_MAX_KEY  16
#define SRTPX_MAX_SALT 14

struct srtpx_keys {
	const uint8_t *key; /* master key, srtpx_key_len(profile) bytes */
	size_t key_len;
	const uint8_t *salt; /* master salt, srtpx_salt_len(profile) bytes */
	size_t salt_len;
};

struct srtpx_prm {
	enum srtpx_profile profile;
	struct srtpx_keys local;  /* protects what we send */
	struct srtpx_keys remote; /* unprotects what the peer sends */
	unsigned replay_window;   /* packets, 0 = 128, 128..32767: each
	                           * SSRC's RTP and its SRTCP have one each */
};

/*
 * Counters of one context. Refusals of inbound packets are split by cause:
 * auth_fail, a tag mismatch (damaged, forged, or another key); replay,
 * seen before or older than the window; bad_len, shorter than its header
 * and tag, longer than SRTPX_MAX_PACKET, or header lengths overrunning
 * it; other, the SSRC limit, keys used up, a cipher failure. tx_fail
 * counts our own packets refused (no room, bad header, sequence number
 * reused, SSRC limit).
 */
struct srtpx_stats {
	uint64_t tx; /* RTP and RTCP packets protected */
	uint64_t rx; /* RTP and RTCP packets accepted */
	uint64_t auth_fail, replay, bad_len, other;
	uint64_t tx_fail;
};

struct srtpx_dir; /* one direction: cipher contexts, keys, SSRC states */

/* Embed it in its owner zeroed; srtpx_init, then srtpx_reset. */
struct srtpx {
	struct srtpx_dir *tx, *rx;
	enum srtpx_profile profile;
	unsigned rtp_tag, rtcp_tag; /* tag bytes */
	unsigned nssrc;             /* inbound SSRCs held */
	struct srtpx_stats st;
};

/*
 * Fetches OpenSSL's AES-128-CTR and AES-128-GCM, once per process, from
 * any thread. 0, or EPROTO when OpenSSL lacks them (then every srtpx_init
 * fails too).
 */
int srtpx_global_init(void);

/*
 * Sets up a zeroed (or reset) context with prm's keys: 0, or EINVAL
 * (a key or salt of the wrong length for the profile, a window out of
 * range), ENOMEM, EPROTO (OpenSSL refused), with the reason in *why
 * (may be NULL). The keys are copied; the caller may wipe its own.
 * On error the context is left reset.
 */
int srtpx_init(struct srtpx *s, const struct srtpx_prm *prm, const char **why);

/* Frees the context's state, wipes its keys and zeroes it, counters
 * included. Safe on a zeroed or reset context. */
void srtpx_reset(struct srtpx *s);

/*
 * Protects the RTP (or RTCP) packet buf[0, *len) in place; buf has cap
 * bytes of room. 0 with *len grown by srtpx_trailer(); or
 * EMSGSIZE  shorter than a header, header lengths overrun it, or longer
 *           than SRTPX_MAX_PACKET,
 * ENOBUFS   cap lacks room for the trailer,
 * EALREADY  RTP only: this SSRC already sent this sequence number, or
 *           one older than the replay window,
 * ENOSPC    a new SSRC beyond SRTPX_MAX_SSRC,
 * EKEYEXPIRED the keys have protected as many packets as allowed (2^48
 *           RTP in all, 2^31 - 1 SRTCP per SSRC): rekey,
 * EPROTO    OpenSSL failed,
 * EINVAL    no context or buffer.
 * On error *len is unchanged and buf must not be sent (every check comes
 * before encryption, so buf is untouched except after EPROTO).
 */
int srtpx_protect_rtp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap);
int srtpx_protect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap);

/*
 * Checks and decrypts the SRTP (or SRTCP) packet buf[0, *len) in place.
 * 0 with *len shrunk to the plain packet; or
 * EBADMSG   authentication failed (damaged, forged, or another key),
 * EALREADY  a replay: seen before, or older than the replay window,
 * EMSGSIZE  shorter than header and tag, header lengths overrun it, or
 *           longer than SRTPX_MAX_PACKET,
 * ENOSPC    a new SSRC beyond SRTPX_MAX_SSRC,
 * EKEYEXPIRED, EPROTO, EINVAL as above.
 * Every refusal is counted. On error *len is unchanged and buf's bytes
 * are unspecified (GCM decrypts before it knows): drop the packet.
 */
int srtpx_unprotect_rtp(struct srtpx *s, uint8_t *buf, size_t *len);
int srtpx_unprotect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len);

/* Bytes protect adds to an RTP or an RTCP packet with this context. */
size_t srtpx_trailer(const struct srtpx *s, bool rtcp);

const struct srtpx_stats *srtpx_stats(const struct srtpx *s);

/* Master key and salt lengths; 0 for an unknown profile. */
size_t srtpx_key_len(enum srtpx_profile p);
size_t srtpx_salt_len(enum srtpx_profile p);

/* The name SDES (RFC 4568, RFC 7714 §14.2) gives it: "AES_CM_128_HMAC_
 * SHA1_80", ...; "?" for an unknown profile. */
const char *srtpx_profile_name(enum srtpx_profile p);

/* The profile of an SDES crypto-suite name of n bytes: 0, or ENOTSUP. */
int srtpx_profile_by_name(const char *name, size_t n, enum srtpx_profile *p);

/* The profile of a DTLS-SRTP protection profile id (RFC 5764 §4.1.2,
 * RFC 7714 §14.2): 0, or ENOTSUP. */
int srtpx_profile_from_dtls(unsigned id, enum srtpx_profile *p);

/* Bytes of keying material DTLS-SRTP exports for the profile
 * ("EXTRACTOR-dtls_srtp"): both keys and both salts. */
size_t srtpx_dtls_material_len(enum srtpx_profile p);

/*
 * Points prm's keys into the exported keying material km (laid out
 * client key, server key, client salt, server salt, RFC 5764 §4.2) and
 * sets its profile: our keys are the client's when we are the DTLS
 * client. km must outlive the srtpx_init that uses prm. 0, or EINVAL
 * when km_len is not srtpx_dtls_material_len(p).
 */
int srtpx_dtls_keys(struct srtpx_prm *prm, enum srtpx_profile p,
                    const uint8_t *km, size_t km_len, bool dtls_client);

#endif
