/*
 * Inside srtpx: what srtpx.c (the keys, each direction's contexts) and
 * srtpx_packet.c (the packets: indexes, replay windows, protect and
 * unprotect) share, and no one else.
 */
#ifndef VOXGATE_WEBRTC_SRTPX_INT_H
#define VOXGATE_WEBRTC_SRTPX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "webrtc/srtpx.h"

#define RTP_HDR       12
#define RTCP_HDR      8
#define SRTCP_TRAILER 4 /* E flag and SRTCP index */
#define SRTCP_E       0x80000000u
#define SRTCP_MAX_IX  0x7fffffffu
#define INDEX_LIMIT   (1ull << 48) /* RTP packets under one key, RFC 3711 9.2 */
#define GCM_TAG       16
#define GCM_SALT      12
#define CM_SALT       14
#define SHA1_LEN      20

/* A replay window (RFC 3711 3.3.2) over the indexes of one SSRC's RTP or
 * SRTCP: the highest index taken and a bit per index, in a ring of
 * dir->ring bits (a power of two, at least the window). */
struct window {
	uint64_t top;
	bool seen;
};

struct stream {
	uint32_t ssrc; /* as read from the packet */
	struct window rtp, rtcp;
	uint32_t rtcp_ix; /* outbound: the last SRTCP index sent */
};

/* The keys of RTP or of RTCP in one direction. */
struct keys {
	EVP_CIPHER_CTX *c;
	SHA_CTX ipad, opad; /* CM: HMAC-SHA1 after the key's pads */
	uint8_t salt[CM_SALT];
};

struct srtpx_dir {
	struct keys rtp, rtcp;
	bool gcm, rx;
	unsigned window; /* indexes a window spans */
	unsigned ring;   /* bits in each ring */
	unsigned n;      /* streams in use */
	uint64_t rtp_used;
	struct stream st[SRTPX_MAX_SSRC];
	uint64_t *bits; /* rings: per stream RTP, and SRTCP when rx */
};

#endif
