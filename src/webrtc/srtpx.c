/*
 * SRTP and SRTCP (RFC 3711, RFC 7714) on OpenSSL's AES and SHA-1.
 *
 * Nothing allocates per packet. NSS, under Debian's libsrtp2, does (5 to
 * 14 times a packet), and so does OpenSSL 3's HMAC in every form: an
 * HMAC_CTX or EVP_MAC_CTX re-initialised with its key 2 times a call (it
 * duplicates its digest contexts), EVP_MAC_CTX_dup 11, HMAC() 13. So
 * each direction keeps two EVP cipher contexts (RTP's keys, RTCP's keys)
 * keyed at init, and each packet only sets its IV on one
 * (EVP_CipherInit_ex without a cipher or key allocates nothing);
 * HMAC-SHA1 copies SHA-1 states that hashed the key's inner and outer
 * pads at init.
 *
 * What OpenSSL does not do is here, done as libsrtp2 does it so that the
 * two agree on every byte and every refusal: the key derivation (RFC 3711
 * 4.3, key derivation rate 0), the IVs, the index guess across sequence
 * number rollovers (Appendix A), the replay windows and the table of SSRCs
 * each way. libre 1.1.0's SRTP (re_srtp.h) does not serve: it allocates
 * per packet under CM, keeps a 64-packet window, takes a stream (of 8)
 * for a new SSRC and moves the rollover counter before the tag is
 * checked, and under GCM takes an SRTCP packet whose E flag is cleared
 * without checking any tag or index.
 *
 * Order of checks, inbound: lengths, the SSRC limit, the replay window
 * (read only), the tag, then the state moves on (the SSRC is taken, the
 * window slides). A forged packet therefore changes nothing, and a
 * replayed one costs no cryptography. Outbound: lengths and room, SSRC
 * limit, window, limits, then the state moves on before encrypting, so
 * an index is never used twice even after a failure.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Init and friends, see above */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/be.h"
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

static const struct {
	const char *name;
	unsigned dtls_id;
	size_t key, salt;
	unsigned rtp_tag, rtcp_tag;
	bool gcm;
} profiles[] = {
    [SRTPX_AEAD_AES_128_GCM] = {"AEAD_AES_128_GCM", 0x0007, 16, 12, 16, 16,
                                true},
    /* SRTCP keeps its 80-bit tag under _32, as libsrtp2 (and with it
     * libwebrtc) makes it; libre cuts it to 32 bits */
    [SRTPX_AES_CM_128_HMAC_SHA1_80] = {"AES_CM_128_HMAC_SHA1_80", 0x0001, 16,
                                       14, 10, 10, false},
    [SRTPX_AES_CM_128_HMAC_SHA1_32] = {"AES_CM_128_HMAC_SHA1_32", 0x0002, 16,
                                       14, 4, 10, false},
};

#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static bool profile_ok(enum srtpx_profile p)
{
	return (unsigned)p < NPROFILES;
}

/* Fetched once, kept for the process's lifetime, shared read-only: an
 * EVP_CIPHER is reference-counted and safe to use from any thread. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_ctr, *aes_gcm;

static void global_init_once(void)
{
	aes_ctr = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
	aes_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	ERR_clear_error();
}

int srtpx_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return aes_ctr && aes_gcm ? 0 : EPROTO;
}

size_t srtpx_key_len(enum srtpx_profile p)
{
	return profile_ok(p) ? profiles[p].key : 0;
}

size_t srtpx_salt_len(enum srtpx_profile p)
{
	return profile_ok(p) ? profiles[p].salt : 0;
}

const char *srtpx_profile_name(enum srtpx_profile p)
{
	return profile_ok(p) ? profiles[p].name : "?";
}

int srtpx_profile_by_name(const char *name, size_t n, enum srtpx_profile *p)
{
	if (!name || !p)
		return EINVAL;
	for (size_t i = 0; i < NPROFILES; i++) {
		if (strlen(profiles[i].name) == n &&
		    memcmp(profiles[i].name, name, n) == 0) {
			*p = (enum srtpx_profile)i;
			return 0;
		}
	}
	return ENOTSUP;
}

int srtpx_profile_from_dtls(unsigned id, enum srtpx_profile *p)
{
	if (!p)
		return EINVAL;
	for (size_t i = 0; i < NPROFILES; i++) {
		if (profiles[i].dtls_id == id) {
			*p = (enum srtpx_profile)i;
			return 0;
		}
	}
	return ENOTSUP;
}

size_t srtpx_dtls_material_len(enum srtpx_profile p)
{
	return profile_ok(p) ? 2 * (profiles[p].key + profiles[p].salt) : 0;
}

int srtpx_dtls_keys(struct srtpx_prm *prm, enum srtpx_profile p,
                    const uint8_t *km, size_t km_len, bool dtls_client)
{
	struct srtpx_keys client, server;
	size_t k, sl;

	if (!prm || !km || !profile_ok(p) ||
	    km_len != srtpx_dtls_material_len(p))
		return EINVAL;
	k = profiles[p].key;
	sl = profiles[p].salt;
	client = (struct srtpx_keys){km, k, km + 2 * k, sl};
	server = (struct srtpx_keys){km + k, k, km + 2 * k + sl, sl};
	prm->profile = p;
	prm->local = dtls_client ? client : server;
	prm->remote = dtls_client ? server : client;
	return 0;
}

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

/* RFC 3711 4.3.1 with a key derivation rate of 0: AES-CM of zeros under
 * the master key, IV the master salt (padded to 14 bytes) with the label
 * in its byte 7. */
static int derive(EVP_CIPHER_CTX *c, const struct srtpx_keys *mk, uint8_t label,
                  uint8_t *out, size_t n)
{
	static const uint8_t zeros[SHA1_LEN];
	uint8_t iv[16] = {0};
	int ol;

	memcpy(iv, mk->salt, mk->salt_len);
	iv[7] ^= label;
	return EVP_EncryptInit_ex(c, aes_ctr, NULL, mk->key, iv) == 1 &&
	               EVP_EncryptUpdate(c, out, &ol, zeros, (int)n) == 1 &&
	               (size_t)ol == n
	           ? 0
	           : EPROTO;
}

/* HMAC-SHA1's keyed states: SHA-1 after one block of key ^ 0x36, and
 * after one of key ^ 0x5c (RFC 2104; the 20-byte key fits a block). */
static void hmac_key(struct keys *k, const uint8_t key[SHA1_LEN])
{
	uint8_t pad[64];

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < SHA1_LEN; i++)
		pad[i] ^= key[i];
	SHA1_Init(&k->ipad);
	SHA1_Update(&k->ipad, pad, sizeof(pad));
	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < SHA1_LEN; i++)
		pad[i] ^= key[i];
	SHA1_Init(&k->opad);
	SHA1_Update(&k->opad, pad, sizeof(pad));
	OPENSSL_cleanse(pad, sizeof(pad));
}

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

/* One direction's session keys for RTP (labels 0-2) or RTCP (3-5). */
static int keys_init(struct keys *k, bool gcm, bool rx,
                     const struct srtpx_keys *mk, uint8_t label0)
{
	uint8_t ke[SRTPX_MAX_KEY], ka[SHA1_LEN];
	int err;

	k->c = EVP_CIPHER_CTX_new();
	if (!k->c)
		return ENOMEM;
	err = derive(k->c, mk, label0, ke, mk->key_len);
	if (!err)
		err = derive(k->c, mk, label0 + 2, k->salt,
		             gcm ? GCM_SALT : CM_SALT);
	if (!err && !gcm) {
		err = derive(k->c, mk, label0 + 1, ka, sizeof(ka));
		if (!err)
			hmac_key(k, ka);
	}
	/* CTR is its own inverse: both directions encrypt */
	if (!err &&
	    (gcm && rx ? EVP_DecryptInit_ex(k->c, aes_gcm, NULL, ke, NULL)
	               : EVP_EncryptInit_ex(k->c, gcm ? aes_gcm : aes_ctr, NULL,
	                                    ke, NULL)) != 1)
		err = EPROTO;
	OPENSSL_cleanse(ke, sizeof(ke));
	OPENSSL_cleanse(ka, sizeof(ka));
	return err;
}

static void dir_free(struct srtpx_dir *d)
{
	if (!d)
		return;
	EVP_CIPHER_CTX_free(d->rtp.c);
	EVP_CIPHER_CTX_free(d->rtcp.c);
	free(d->bits);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}

static int dir_alloc(struct srtpx_dir **dp, bool gcm, bool rx,
                     const struct srtpx_keys *mk, unsigned window)
{
	struct srtpx_dir *d = calloc(1, sizeof(*d));
	size_t rings = rx ? 2 : 1;
	int err;

	if (!d)
		return ENOMEM;
	d->gcm = gcm;
	d->rx = rx;
	d->window = window;
	for (d->ring = 64; d->ring < window; d->ring *= 2)
		;
	d->bits = calloc(SRTPX_MAX_SSRC * rings, d->ring / 8);
	err = d->bits ? 0 : ENOMEM;
	if (!err)
		err = keys_init(&d->rtp, gcm, rx, mk, 0);
	if (!err)
		err = keys_init(&d->rtcp, gcm, rx, mk, 3);
	ERR_clear_error();
	if (err) {
		dir_free(d);
		return err;
	}
	*dp = d;
	return 0;
}

static bool keys_ok(const struct srtpx_keys *k, enum srtpx_profile p)
{
	return k->key && k->salt && k->key_len == profiles[p].key &&
	       k->salt_len == profiles[p].salt;
}

int srtpx_init(struct srtpx *s, const struct srtpx_prm *prm, const char **why)
{
	const char *dummy;
	unsigned window;
	bool gcm;
	int err;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (!s || !prm) {
		*why = "no context or parameters";
		return EINVAL;
	}
	memset(s, 0, sizeof(*s));
	if (!profile_ok(prm->profile)) {
		*why = "unknown SRTP profile";
		return EINVAL;
	}
	if (!keys_ok(&prm->local, prm->profile) ||
	    !keys_ok(&prm->remote, prm->profile)) {
		*why = "master key or salt of the wrong length for the profile";
		return EINVAL;
	}
	window = prm->replay_window ? prm->replay_window : 128;
	if (window < 128 || window > 32767) {
		*why = "replay window out of 128..32767";
		return EINVAL;
	}
	if (srtpx_global_init()) {
		*why = "OpenSSL lacks AES-128-CTR or AES-128-GCM";
		return EPROTO;
	}
	gcm = profiles[prm->profile].gcm;
	err = dir_alloc(&s->tx, gcm, false, &prm->local, window);
	if (!err)
		err = dir_alloc(&s->rx, gcm, true, &prm->remote, window);
	if (err) {
		srtpx_reset(s);
		*why = err == ENOMEM ? "out of memory"
		                     : "OpenSSL refused the session keys";
		return err;
	}
	s->profile = prm->profile;
	s->rtp_tag = profiles[prm->profile].rtp_tag;
	s->rtcp_tag = profiles[prm->profile].rtcp_tag;
	return 0;
}

void srtpx_reset(struct srtpx *s)
{
	if (!s)
		return;
	dir_free(s->tx);
	dir_free(s->rx);
	memset(s, 0, sizeof(*s));
}

size_t srtpx_trailer(const struct srtpx *s, bool rtcp)
{
	if (!s || !s->tx)
		return 0;
	return rtcp ? s->rtcp_tag + SRTCP_TRAILER : s->rtp_tag;
}

const struct srtpx_stats *srtpx_stats(const struct srtpx *s)
{
	return &s->st;
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
