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
 *
 * Here: the profiles, the keys and their derivation, each direction's
 * contexts; the packets themselves are srtpx_packet.c's (srtpx_int.h).
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

#include "webrtc/srtpx.h"
#include "webrtc/srtpx_int.h"

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
