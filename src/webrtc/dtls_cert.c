/*
 * DTLS's certificate and its SDP fingerprint, the peer's fingerprint read,
 * and the SRTP key material split into keys (dtls.h). Apart from dtls.c
 * because none of it touches a connection: the certificate is made once
 * per process and shared by every connection, and these are its setup and
 * pure functions, while dtls.c runs each connection's handshake and records.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <re_types.h>
#include <re_mem.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "webrtc/dtls.h"
#include "webrtc/dtls_int.h"

#define CERT_DAYS 30

/* ECDHE with AEAD only (every WebRTC stack offers AES-128-GCM, RFC 8827
 * requires it), so the shortest genuine protected record is known (see
 * check_framing); ECDSA suites for our certificate, RSA ones for peers
 * that present an RSA certificate when we are the client. */
#define CIPHERS                                                                \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define GROUPS "X25519:P-256:P-384"

/* ---- the certificate ---- */

static void cert_destructor(void *arg)
{
	struct dtls_cert *cert = arg;

	SSL_CTX_free(cert->ctx);
	X509_free(cert->x509);
	EVP_PKEY_free(cert->pkey);
}

static void fp_format(char *out, const uint8_t md[DTLS_FP_LEN])
{
	static const char hex[] = "0123456789ABCDEF";
	char *p = out;

	memcpy(p, "sha-256 ", 8);
	p += 8;
	for (size_t i = 0; i < DTLS_FP_LEN; i++) {
		if (i)
			*p++ = ':';
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 0xf];
	}
	*p = '\0';
}

static int make_x509(struct dtls_cert *cert, const char **why)
{
	uint8_t serial[8];
	BIGNUM *bn = NULL;
	X509_NAME *name;
	int ok = 0;

	cert->pkey = EVP_EC_gen("P-256");
	cert->x509 = X509_new();
	if (!cert->pkey || !cert->x509) {
		*why = "no memory for the key or certificate";
		return ENOMEM;
	}
	/* A positive, non-zero 63-bit serial: certificates from restarts
	 * must not look like the same one to a peer. */
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		*why = "no random bytes for the serial";
		return EIO;
	}
	serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01);
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_get_subject_name(cert->x509);
	/* The day before now covers peers whose clocks lag ours. */
	ok = bn && X509_set_version(cert->x509, X509_VERSION_3) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert->x509)) &&
	     X509_gmtime_adj(X509_getm_notBefore(cert->x509), -86400L) &&
	     X509_gmtime_adj(X509_getm_notAfter(cert->x509),
	                     (long)CERT_DAYS * 86400L) &&
	     X509_set_pubkey(cert->x509, cert->pkey) && name &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                (const unsigned char *)"voxgate", -1,
	                                -1, 0) &&
	     X509_set_issuer_name(cert->x509, name) &&
	     X509_sign(cert->x509, cert->pkey, EVP_sha256()) > 0;
	BN_free(bn);
	if (!ok) {
		*why = "the certificate could not be made";
		return EIO;
	}
	return 0;
}

static int make_ctx(struct dtls_cert *cert, const char **why)
{
	SSL_CTX *ctx = SSL_CTX_new(DTLS_method());

	cert->ctx = ctx;
	if (!ctx) {
		*why = "no memory for the DTLS context";
		return ENOMEM;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_TICKET |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* A connection carries a datagram now and then (SCTP, a resent
	 * flight): its read buffer need not stay between them. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* The peer must present a certificate; dtls_verify_cert matches it
	 * against its fingerprint instead of a CA chain. */
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, dtls_verify_cert, NULL);
	/* SSL_CTX_set_tlsext_use_srtp returns 0 on success. */
	if (!SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, CIPHERS) ||
	    !SSL_CTX_set1_groups_list(ctx, GROUPS) ||
	    SSL_CTX_set_tlsext_use_srtp(ctx, DTLS_SRTP_ALL) != 0 ||
	    !SSL_CTX_use_certificate(ctx, cert->x509) ||
	    !SSL_CTX_use_PrivateKey(ctx, cert->pkey) ||
	    !SSL_CTX_check_private_key(ctx)) {
		*why = "the DTLS context could not be set up";
		return EIO;
	}
	return 0;
}

int dtls_cert_alloc(struct dtls_cert **certp, const char **why)
{
	struct dtls_cert *cert;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	if (!certp) {
		*why = "no result pointer";
		return EINVAL;
	}
	cert = mem_zalloc(sizeof(*cert), cert_destructor);
	if (!cert) {
		*why = "no memory for the certificate";
		return ENOMEM;
	}
	ERR_clear_error();
	err = make_x509(cert, why);
	if (!err)
		err = make_ctx(cert, why);
	if (!err && (X509_digest(cert->x509, EVP_sha256(), md, &mdlen) != 1 ||
	             mdlen != DTLS_FP_LEN)) {
		*why = "the certificate's digest could not be taken";
		err = EIO;
	}
	ERR_clear_error();
	if (err) {
		mem_deref(cert);
		return err;
	}
	fp_format(cert->fp, md);
	*certp = cert;
	return 0;
}

const char *dtls_cert_fingerprint(const struct dtls_cert *cert)
{
	return cert ? cert->fp : NULL;
}

const struct x509_st *dtls_cert_x509(const struct dtls_cert *cert)
{
	return cert ? cert->x509 : NULL;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

int dtls_fingerprint_parse(uint8_t md[DTLS_FP_LEN], const char *s, size_t len,
                           const char **why)
{
	const char *w = NULL;
	size_t i = 0, alg_end, n = 0;

	if (!why)
		why = &w;
	if (!md || (!s && len)) {
		*why = "no fingerprint";
		return EINVAL;
	}
	while (len && is_blank(s[len - 1]))
		len--;
	while (i < len && is_blank(s[i]))
		i++;
	alg_end = i;
	while (alg_end < len && !is_blank(s[alg_end]))
		alg_end++;
	if (alg_end == i || alg_end == len) {
		*why = "fingerprint is not \"<hash function> <hex pairs>\"";
		return EINVAL;
	}
	if (alg_end - i != 7 || strncasecmp(s + i, "sha-256", 7) != 0) {
		*why = "fingerprint hash function is not sha-256, the only one "
		       "accepted";
		return ENOTSUP;
	}
	i = alg_end;
	while (i < len && is_blank(s[i]))
		i++;
	/* "XX:XX:...:XX", exactly DTLS_FP_LEN pairs. */
	while (i < len) {
		int hi, lo;

		if (n == DTLS_FP_LEN) {
			*why = "fingerprint is longer than a SHA-256 digest";
			return EINVAL;
		}
		if (n && s[i++] != ':') {
			*why =
			    "fingerprint hex pairs are not separated by colons";
			return EINVAL;
		}
		if (len - i < 2 || (hi = hexval(s[i])) < 0 ||
		    (lo = hexval(s[i + 1])) < 0) {
			*why = "fingerprint is not hex pairs";
			return EINVAL;
		}
		md[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	if (n != DTLS_FP_LEN) {
		*why = "fingerprint is shorter than a SHA-256 digest";
		return EINVAL;
	}
	return 0;
}

/* ---- SRTP keys ---- */

const char *dtls_srtp_profile_name(enum dtls_srtp_profile profile)
{
	switch (profile) {
	case DTLS_SRTP_AES128_CM_SHA1_80:
		return "SRTP_AES128_CM_SHA1_80";
	case DTLS_SRTP_AEAD_AES_128_GCM:
		return "SRTP_AEAD_AES_128_GCM";
	default:
		return "none";
	}
}

static bool profile_sizes(enum dtls_srtp_profile profile, size_t *key,
                          size_t *salt)
{
	switch (profile) {
	case DTLS_SRTP_AES128_CM_SHA1_80:
		*key = 16;
		*salt = 14;
		return true;
	case DTLS_SRTP_AEAD_AES_128_GCM:
		*key = 16;
		*salt = 12; /* RFC 7714 12 */
		return true;
	default:
		return false;
	}
}

size_t dtls_srtp_material_len(enum dtls_srtp_profile profile)
{
	size_t key, salt;

	return profile_sizes(profile, &key, &salt) ? 2 * (key + salt) : 0;
}

int dtls_srtp_split(struct dtls_srtp_keys *keys, enum dtls_srtp_profile profile,
                    enum dtls_role role, const uint8_t *material, size_t len)
{
	const uint8_t *ckey, *skey, *csalt, *ssalt, *lkey, *lsalt, *rkey,
	    *rsalt;
	size_t kl, sl;

	if (!keys || !material || !profile_sizes(profile, &kl, &sl) ||
	    len != 2 * (kl + sl) ||
	    (role != DTLS_ROLE_SERVER && role != DTLS_ROLE_CLIENT))
		return EINVAL;
	ckey = material;
	skey = ckey + kl;
	csalt = skey + kl;
	ssalt = csalt + sl;
	lkey = role == DTLS_ROLE_CLIENT ? ckey : skey;
	lsalt = role == DTLS_ROLE_CLIENT ? csalt : ssalt;
	rkey = role == DTLS_ROLE_CLIENT ? skey : ckey;
	rsalt = role == DTLS_ROLE_CLIENT ? ssalt : csalt;
	memset(keys, 0, sizeof(*keys));
	keys->profile = profile;
	keys->key_len = kl;
	keys->salt_len = sl;
	memcpy(keys->local, lkey, kl);
	memcpy(keys->local + kl, lsalt, sl);
	memcpy(keys->remote, rkey, kl);
	memcpy(keys->remote + kl, rsalt, sl);
	return 0;
}
