/*
 * SRTP and SRTCP packets (srtpx.h): RTP headers, the index guess, the
 * replay windows, the ciphers and tags, protect and unprotect. The order
 * of checks each way is srtpx.c's opening's; nothing here allocates.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Update and friends (srtpx.c) */

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/be.h"
#include "webrtc/srtpx.h"
#include "webrtc/srtpx_int.h"

/* HMAC-SHA1 of a || b. */
static void hmac(const struct keys *k, const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen, uint8_t out[SHA1_LEN])
{
	uint8_t inner[SHA1_LEN];
	SHA_CTX c = k->ipad;

	SHA1_Update(&c, a, alen);
	SHA1_Update(&c, b, blen);
	SHA1_Final(inner, &c);
	c = k->opad;
	SHA1_Update(&c, inner, sizeof(inner));
	SHA1_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

/* The length of the RTP header at b: fixed part, CSRCs and extension. */
static int rtp_hdr_len(const uint8_t *b, size_t len, size_t *hl)
{
	size_t n;

	if (len < RTP_HDR)
		return EMSGSIZE;
	n = RTP_HDR + 4 * (size_t)(b[0] & 0x0f);
	if (b[0] & 0x10) {
		if (n + 4 > len)
			return EMSGSIZE;
		n += 4 + 4 * (size_t)(b[n + 2] << 8 | b[n + 3]);
	}
	if (n > len)
		return EMSGSIZE;
	*hl = n;
	return 0;
}

static struct stream *stream_find(struct srtpx_dir *d, uint32_t ssrc)
{
	for (unsigned i = 0; i < d->n; i++) {
		if (d->st[i].ssrc == ssrc)
			return &d->st[i];
	}
	return NULL;
}

/* A free stream for ssrc; the caller checked that one is left. */
static struct stream *stream_take(struct srtpx_dir *d, uint32_t ssrc)
{
	struct stream *st = &d->st[d->n++];

	memset(st, 0, sizeof(*st));
	st->ssrc = ssrc;
	return st;
}

static uint64_t *ring_of(struct srtpx_dir *d, const struct stream *st,
                         bool rtcp)
{
	size_t words = d->ring / 64, i = (size_t)(st - d->st);

	return d->bits + (d->rx ? 2 * i + rtcp : i) * words;
}

/* The index of seq on a stream whose highest is w->top, as libsrtp2
 * guesses it (RFC 3711 Appendix A): the rollover counter stays 0 until
 * the index passes 2^15, so that it never guesses one below 0. */
static uint64_t rtp_index(const struct window *w, uint16_t seq)
{
	uint64_t roc = w->top >> 16;
	uint16_t s_l = (uint16_t)w->top;

	if (!w->seen || w->top <= 0x8000)
		return seq;
	if (s_l < 0x8000) {
		if ((int)seq - (int)s_l > 0x8000)
			roc--;
	} else if ((int)s_l - 0x8000 > (int)seq) {
		roc++;
	}
	return roc << 16 | seq;
}

/* 0 when index ix is new to the window: above it, or inside it unseen. */
static int window_check(const struct srtpx_dir *d, const struct window *w,
                        const uint64_t *ring, uint64_t ix)
{
	uint64_t bit = ix & (d->ring - 1);

	if (!w->seen || ix > w->top)
		return 0;
	if (w->top - ix >= d->window)
		return EALREADY;
	return ring[bit / 64] >> (bit % 64) & 1 ? EALREADY : 0;
}

/* Clears n bits of the ring from bit at (n < ring). */
static void ring_clear(const struct srtpx_dir *d, uint64_t *ring, uint64_t at,
                       uint64_t n)
{
	while (n) {
		uint64_t bit = at & (d->ring - 1), k = 64 - bit % 64;

		if (k > n)
			k = n;
		ring[bit / 64] &=
		    ~((k == 64 ? ~0ull : (1ull << k) - 1) << (bit % 64));
		at += k;
		n -= k;
	}
}

static void window_add(const struct srtpx_dir *d, struct window *w,
                       uint64_t *ring, uint64_t ix)
{
	uint64_t bit = ix & (d->ring - 1);

	if (!w->seen || (ix > w->top && ix - w->top >= d->ring))
		memset(ring, 0, d->ring / 8);
	else if (ix > w->top)
		ring_clear(d, ring, w->top + 1, ix - w->top);
	if (!w->seen || ix > w->top)
		w->top = ix;
	w->seen = true;
	ring[bit / 64] |= 1ull << (bit % 64);
}

static void xor32(uint8_t *b, uint32_t v)
{
	b[0] ^= (uint8_t)(v >> 24);
	b[1] ^= (uint8_t)(v >> 16);
	b[2] ^= (uint8_t)(v >> 8);
	b[3] ^= (uint8_t)v;
}

static void xor48(uint8_t *b, uint64_t v)
{
	xor32(b, (uint32_t)(v >> 16));
	b[4] ^= (uint8_t)(v >> 8);
	b[5] ^= (uint8_t)v;
}

static int ssl_fail(void)
{
	ERR_clear_error();
	return EPROTO;
}

/* AES-CM (RFC 3711 4.1.1) over b[0, n) in place: the IV is the session
 * salt, the SSRC at byte 4 and the index (RTP's 48 bits, SRTCP's 31) at
 * byte 8 xored in. */
static int ctr(const struct keys *k, uint32_t ssrc, uint64_t ix, uint8_t *b,
               size_t n)
{
	uint8_t iv[16] = {0};
	int ol;

	memcpy(iv, k->salt, CM_SALT);
	xor32(iv + 4, ssrc);
	xor48(iv + 8, ix);
	if (EVP_EncryptInit_ex(k->c, NULL, NULL, NULL, iv) != 1 ||
	    (n && EVP_EncryptUpdate(k->c, b, &ol, b, (int)n) != 1))
		return ssl_fail();
	return 0;
}

/* The AES-GCM IV of RFC 7714 8.1 and 9.1: the session salt, the SSRC at
 * byte 2 and the index at byte 6 (ROC and sequence number, or 0 and the
 * SRTCP index) xored in. */
static int gcm_start(const struct keys *k, uint32_t ssrc, uint64_t ix,
                     const uint8_t *aad, size_t aad_n, const uint8_t *aad2,
                     size_t aad2_n)
{
	uint8_t iv[GCM_SALT];
	int ol;

	memcpy(iv, k->salt, GCM_SALT);
	xor32(iv + 2, ssrc);
	xor48(iv + 6, ix);
	if (EVP_CipherInit_ex(k->c, NULL, NULL, NULL, iv, -1) != 1 ||
	    EVP_CipherUpdate(k->c, NULL, &ol, aad, (int)aad_n) != 1 ||
	    (aad2_n &&
	     EVP_CipherUpdate(k->c, NULL, &ol, aad2, (int)aad2_n) != 1))
		return ssl_fail();
	return 0;
}

/* Encrypts b[0, n) in place, the tag after it. */
static int gcm_seal(const struct keys *k, uint32_t ssrc, uint64_t ix,
                    const uint8_t *aad, size_t aad_n, const uint8_t *aad2,
                    size_t aad2_n, uint8_t *b, size_t n)
{
	int ol, err = gcm_start(k, ssrc, ix, aad, aad_n, aad2, aad2_n);

	if (err)
		return err;
	if ((n && EVP_EncryptUpdate(k->c, b, &ol, b, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(k->c, b + n, &ol) != 1 ||
	    EVP_CIPHER_CTX_ctrl(k->c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, b + n) !=
	        1)
		return ssl_fail();
	return 0;
}

/* Decrypts b[0, n) in place and checks the tag after it: EBADMSG when
 * it does not match. */
static int gcm_open(const struct keys *k, uint32_t ssrc, uint64_t ix,
                    const uint8_t *aad, size_t aad_n, const uint8_t *aad2,
                    size_t aad2_n, uint8_t *b, size_t n)
{
	int ol, err = gcm_start(k, ssrc, ix, aad, aad_n, aad2, aad2_n);

	if (err)
		return err;
	if ((n && EVP_DecryptUpdate(k->c, b, &ol, b, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(k->c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, b + n) !=
	        1)
		return ssl_fail();
	if (EVP_DecryptFinal_ex(k->c, b + n, &ol) != 1) {
		ERR_clear_error();
		return EBADMSG;
	}
	return 0;
}

static int protect_rtp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap)
{
	struct srtpx_dir *d = s->tx;
	size_t hl, n = *len;
	struct stream *st;
	uint32_t ssrc;
	uint64_t ix;
	int err;

	err = rtp_hdr_len(buf, n, &hl);
	if (!err && n + s->rtp_tag > SRTPX_MAX_PACKET)
		err = EMSGSIZE;
	if (!err && n + s->rtp_tag > cap)
		err = ENOBUFS;
	if (err)
		return err;
	ssrc = get_be32(buf + 8);
	st = stream_find(d, ssrc);
	if (!st && d->n >= SRTPX_MAX_SSRC)
		return ENOSPC;
	ix = st ? rtp_index(&st->rtp, (uint16_t)(buf[2] << 8 | buf[3]))
	        : (uint16_t)(buf[2] << 8 | buf[3]);
	if (st && window_check(d, &st->rtp, ring_of(d, st, false), ix))
		return EALREADY;
	if (ix >= INDEX_LIMIT || d->rtp_used >= INDEX_LIMIT)
		return EKEYEXPIRED;

	if (!st)
		st = stream_take(d, ssrc);
	window_add(d, &st->rtp, ring_of(d, st, false), ix);
	d->rtp_used++;

	if (d->gcm) {
		err = gcm_seal(&d->rtp, ssrc, ix, buf, hl, NULL, 0, buf + hl,
		               n - hl);
	} else {
		uint8_t roc[4], mac[SHA1_LEN];

		err = ctr(&d->rtp, ssrc, ix, buf + hl, n - hl);
		put_be32(roc, (uint32_t)(ix >> 16));
		hmac(&d->rtp, buf, n, roc, sizeof(roc), mac);
		memcpy(buf + n, mac, s->rtp_tag);
	}
	if (!err)
		*len = n + s->rtp_tag;
	return err;
}

static int protect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap)
{
	struct srtpx_dir *d = s->tx;
	size_t n = *len, trailer = SRTCP_TRAILER + s->rtcp_tag;
	uint8_t word[SRTCP_TRAILER];
	struct stream *st;
	uint32_t ssrc;
	int err;

	if (n < RTCP_HDR || n + trailer > SRTPX_MAX_PACKET)
		return EMSGSIZE;
	if (n + trailer > cap)
		return ENOBUFS;
	ssrc = get_be32(buf + 4);
	st = stream_find(d, ssrc);
	if (!st && d->n >= SRTPX_MAX_SSRC)
		return ENOSPC;
	if (st && st->rtcp_ix >= SRTCP_MAX_IX)
		return EKEYEXPIRED;

	if (!st)
		st = stream_take(d, ssrc);
	st->rtcp_ix++;
	put_be32(word, SRTCP_E | st->rtcp_ix);

	if (d->gcm) {
		/* RFC 7714 9.1: header | ciphertext | tag | E and index */
		err = gcm_seal(&d->rtcp, ssrc, st->rtcp_ix, buf, RTCP_HDR, word,
		               sizeof(word), buf + RTCP_HDR, n - RTCP_HDR);
		memcpy(buf + n + GCM_TAG, word, sizeof(word));
	} else {
		/* header | ciphertext | E and index | tag over all before */
		uint8_t mac[SHA1_LEN];

		err = ctr(&d->rtcp, ssrc, st->rtcp_ix, buf + RTCP_HDR,
		          n - RTCP_HDR);
		memcpy(buf + n, word, sizeof(word));
		hmac(&d->rtcp, buf, n + sizeof(word), NULL, 0, mac);
		memcpy(buf + n + sizeof(word), mac, s->rtcp_tag);
	}
	if (!err)
		*len = n + trailer;
	return err;
}

static int protect(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap,
                   bool rtcp)
{
	int err;

	if (!s || !s->tx || !buf || !len)
		return EINVAL;
	err = rtcp ? protect_rtcp(s, buf, len, cap)
	           : protect_rtp(s, buf, len, cap);
	if (err)
		s->st.tx_fail++;
	else
		s->st.tx++;
	return err;
}

int srtpx_protect_rtp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap)
{
	return protect(s, buf, len, cap, false);
}

int srtpx_protect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len, size_t cap)
{
	return protect(s, buf, len, cap, true);
}

static int unprotect_rtp(struct srtpx *s, uint8_t *buf, size_t *len)
{
	struct srtpx_dir *d = s->rx;
	size_t hl, body, n = *len;
	struct stream *st;
	uint32_t ssrc;
	uint64_t ix;
	int err;

	if (n > SRTPX_MAX_PACKET)
		return EMSGSIZE;
	err = rtp_hdr_len(buf, n, &hl);
	if (!err && hl + s->rtp_tag > n)
		err = EMSGSIZE;
	if (err)
		return err;
	ssrc = get_be32(buf + 8);
	st = stream_find(d, ssrc);
	if (!st && d->n >= SRTPX_MAX_SSRC)
		return ENOSPC;
	ix = st ? rtp_index(&st->rtp, (uint16_t)(buf[2] << 8 | buf[3]))
	        : (uint16_t)(buf[2] << 8 | buf[3]);
	if (st && window_check(d, &st->rtp, ring_of(d, st, false), ix))
		return EALREADY;
	if (ix >= INDEX_LIMIT || d->rtp_used >= INDEX_LIMIT)
		return EKEYEXPIRED;

	body = n - s->rtp_tag;
	if (d->gcm) {
		err = gcm_open(&d->rtp, ssrc, ix, buf, hl, NULL, 0, buf + hl,
		               body - hl);
	} else {
		uint8_t roc[4], mac[SHA1_LEN];

		put_be32(roc, (uint32_t)(ix >> 16));
		hmac(&d->rtp, buf, body, roc, sizeof(roc), mac);
		err = CRYPTO_memcmp(mac, buf + body, s->rtp_tag) ? EBADMSG : 0;
		if (!err)
			err = ctr(&d->rtp, ssrc, ix, buf + hl, body - hl);
	}
	if (err)
		return err;

	if (!st) {
		st = stream_take(d, ssrc);
		s->nssrc = d->n;
	}
	window_add(d, &st->rtp, ring_of(d, st, false), ix);
	d->rtp_used++;
	*len = body;
	return 0;
}

static int unprotect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len)
{
	struct srtpx_dir *d = s->rx;
	size_t n = *len, at, body;
	struct stream *st;
	uint32_t ssrc, word;
	int err;

	if (n < RTCP_HDR + SRTCP_TRAILER + s->rtcp_tag || n > SRTPX_MAX_PACKET)
		return EMSGSIZE;
	ssrc = get_be32(buf + 4);
	st = stream_find(d, ssrc);
	if (!st && d->n >= SRTPX_MAX_SSRC)
		return ENOSPC;
	at = d->gcm ? n - SRTCP_TRAILER : n - s->rtcp_tag - SRTCP_TRAILER;
	word = get_be32(buf + at);
	/* we encrypt, so does the peer: a cleared E flag is damage or
	 * forgery (libsrtp2 refuses it as well, before the tag) */
	if (!(word & SRTCP_E))
		return EBADMSG;
	if (st && window_check(d, &st->rtcp, ring_of(d, st, true),
	                       word & SRTCP_MAX_IX))
		return EALREADY;

	body = n - SRTCP_TRAILER - s->rtcp_tag;
	if (d->gcm) {
		err = gcm_open(&d->rtcp, ssrc, word & SRTCP_MAX_IX, buf,
		               RTCP_HDR, buf + at, SRTCP_TRAILER,
		               buf + RTCP_HDR, body - RTCP_HDR);
	} else {
		uint8_t mac[SHA1_LEN];

		hmac(&d->rtcp, buf, n - s->rtcp_tag, NULL, 0, mac);
		err = CRYPTO_memcmp(mac, buf + n - s->rtcp_tag, s->rtcp_tag)
		          ? EBADMSG
		          : 0;
		if (!err)
			err = ctr(&d->rtcp, ssrc, word & SRTCP_MAX_IX,
			          buf + RTCP_HDR, body - RTCP_HDR);
	}
	if (err)
		return err;

	if (!st) {
		st = stream_take(d, ssrc);
		s->nssrc = d->n;
	}
	window_add(d, &st->rtcp, ring_of(d, st, true), word & SRTCP_MAX_IX);
	*len = body;
	return 0;
}

static void count_refusal(struct srtpx *s, int err)
{
	switch (err) {
	case EBADMSG:
		s->st.auth_fail++;
		break;
	case EALREADY:
		s->st.replay++;
		break;
	case EMSGSIZE:
		s->st.bad_len++;
		break;
	default:
		s->st.other++;
		break;
	}
}

static int unprotect(struct srtpx *s, uint8_t *buf, size_t *len, bool rtcp)
{
	int err;

	if (!s || !s->rx || !buf || !len)
		return EINVAL;
	err = rtcp ? unprotect_rtcp(s, buf, len) : unprotect_rtp(s, buf, len);
	if (err)
		count_refusal(s, err);
	else
		s->st.rx++;
	return err;
}

int srtpx_unprotect_rtp(struct srtpx *s, uint8_t *buf, size_t *len)
{
	return unprotect(s, buf, len, false);
}

int srtpx_unprotect_rtcp(struct srtpx *s, uint8_t *buf, size_t *len)
{
	return unprotect(s, buf, len, true);
}
