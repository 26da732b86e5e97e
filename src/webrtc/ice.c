/*
 * The ICE-lite responder: a STUN reader and writer for the one request a
 * lite agent answers (RFC 5389 sections 6, 7.3, 10.1.2 and 15, RFC 8445
 * 7.3). Read ice.h first for what is checked and why nothing is allocated.
 */

/* SHA1_Init and friends are deprecated in OpenSSL 3.0 in favour of EVP,
 * whose contexts allocate on every use (HMAC(): 13 allocations a call);
 * the plain functions work on a context on our stack. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <re_types.h>
#include <re_sa.h>
#include <re_sys.h>

#include "core/be.h"
#include "core/id.h"
#include "webrtc/ice.h"

enum {
	HDR_LEN = 20,
	TID_LEN = ICE_TID_LEN,
	MAGIC = 0x2112a442,
	FP_XOR = 0x5354554e, /* "STUN", RFC 5389 section 15.5 */
	MI_LEN = 20,
	MI_ATTR = 4 + MI_LEN,
	FP_ATTR = 4 + 4,
	UNKNOWN_MAX = 8, /* listed in a 420 at most */

	BINDING_REQUEST = 0x0001,
	BINDING_SUCCESS = 0x0101,
	BINDING_ERROR = 0x0111,

	A_USERNAME = 0x0006,
	A_MESSAGE_INTEGRITY = 0x0008,
	A_ERROR_CODE = 0x0009,
	A_UNKNOWN_ATTRIBUTES = 0x000a,
	A_XOR_MAPPED_ADDRESS = 0x0020,
	A_PRIORITY = 0x0024,
	A_USE_CANDIDATE = 0x0025,
	A_FINGERPRINT = 0x8028,
	A_ICE_CONTROLLED = 0x8029,
	A_ICE_CONTROLLING = 0x802a,
};

_Static_assert(ICE_PWD_LEN <= 64, "the HMAC key fits one SHA-1 block");

/* A Binding request as read: where its parts are in the datagram. */
struct request {
	uint16_t type;
	const uint8_t *tid;
	const uint8_t *user_ptr; /* USERNAME's value, user_len bytes */
	size_t user_len;
	size_t mi_off; /* MESSAGE-INTEGRITY's attribute header; 0: none */
	bool user, priority, use_candidate, controlling, controlled;
	bool fingerprint;
	unsigned err_code; /* ERROR-CODE's, in a response; 0: none */
	uint16_t unknown[UNKNOWN_MAX];
	size_t n_unknown;
};

/* CRC-32 (ISO-HDLC, as zlib's crc32) four bits at a time: libre 1.1.0 as
 * Debian builds it takes crc32 from zlib, which voxgate does not link. */
static uint32_t crc32_iso(const uint8_t *p, size_t n)
{
	static const uint32_t t[16] = {
	    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
	    0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
	    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		c = (c >> 4) ^ t[c & 15];
		c = (c >> 4) ^ t[c & 15];
	}
	return ~c;
}

/* HMAC-SHA1 (RFC 2104) of a || b. A key longer than a block (a peer's
 * ice-pwd may have 256 characters) is hashed first, as RFC 2104 says. */
static void hmac_sha1(const char *key, size_t klen, const uint8_t *a,
                      size_t alen, const uint8_t *b, size_t blen,
                      uint8_t out[MI_LEN])
{
	uint8_t pad[64], inner[SHA_DIGEST_LENGTH], khash[SHA_DIGEST_LENGTH];
	SHA_CTX c;

	if (klen > sizeof(pad)) {
		SHA1_Init(&c);
		SHA1_Update(&c, key, klen);
		SHA1_Final(khash, &c);
		key = (const char *)khash;
		klen = sizeof(khash);
	}
	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < klen; i++)
		pad[i] ^= (uint8_t)key[i];
	SHA1_Init(&c);
	SHA1_Update(&c, pad, sizeof(pad));
	SHA1_Update(&c, a, alen);
	SHA1_Update(&c, b, blen);
	SHA1_Final(inner, &c);

	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < klen; i++)
		pad[i] ^= (uint8_t)key[i];
	SHA1_Init(&c);
	SHA1_Update(&c, pad, sizeof(pad));
	SHA1_Update(&c, inner, sizeof(inner));
	SHA1_Final(out, &c);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(khash, sizeof(khash));
	OPENSSL_cleanse(&c, sizeof(c));
}

/* RFC 8839: ice-char = ALPHA / DIGIT / "+" / "/". */
static bool cred_ok(const char *s, size_t n, size_t min, size_t max)
{
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

enum ice_pkt ice_demux(const uint8_t *b, size_t len)
{
	if (!b || !len)
		return ICE_PKT_OTHER;
	if (b[0] <= 3)
		return ICE_PKT_STUN;
	if (b[0] >= 20 && b[0] <= 63)
		return ICE_PKT_DTLS;
	if (b[0] >= 128 && b[0] <= 191) {
		/* RTCP's packet types 192-223 are where RTP's marker bit and
		 * the payload types 64-95 that RFC 5761 keeps free would be. */
		if (len >= 2 && b[1] >= 192 && b[1] <= 223)
			return ICE_PKT_RTCP;
		return ICE_PKT_RTP;
	}
	return ICE_PKT_OTHER;
}

const char *ice_rx_name(enum ice_rx rx)
{
	static const char *const names[ICE_RX_COUNT] = {
	    [ICE_RX_ANSWERED] = "answered",
	    [ICE_RX_REJECTED] = "rejected",
	    [ICE_RX_MALFORMED] = "malformed",
	    [ICE_RX_BAD_FINGERPRINT] = "bad_fingerprint",
	    [ICE_RX_NOT_REQUEST] = "not_request",
	    [ICE_RX_BAD_USERNAME] = "bad_username",
	    [ICE_RX_BAD_INTEGRITY] = "bad_integrity",
	};

	return (unsigned)rx < ICE_RX_COUNT ? names[rx] : "?";
}

void ice_restart(struct ice_lite *ice, uint64_t now_ms)
{
	id_random(ice->ufrag, ICE_UFRAG_LEN);
	ice->ufrag[ICE_UFRAG_LEN] = '\0';
	id_random(ice->pwd, ICE_PWD_LEN);
	ice->pwd[ICE_PWD_LEN] = '\0';
	ice->rufrag[0] = '\0';
	ice->rpwd[0] = '\0';
	ice->consent_ms = now_ms;
	ice->checked = false;
}

void ice_init(struct ice_lite *ice, uint64_t now_ms)
{
	memset(ice, 0, sizeof(*ice));
	ice_restart(ice, now_ms);
}

const char *ice_local_ufrag(const struct ice_lite *ice)
{
	return ice->ufrag;
}

const char *ice_local_pwd(const struct ice_lite *ice)
{
	return ice->pwd;
}

const char *ice_remote_ufrag(const struct ice_lite *ice)
{
	return ice->rufrag;
}

int ice_set_local(struct ice_lite *ice, const char *ufrag, const char *pwd,
                  const char **why)
{
	size_t ul = ufrag ? strnlen(ufrag, ICE_UFRAG_LEN + 1) : 0;
	size_t pl = pwd ? strnlen(pwd, ICE_PWD_LEN + 1) : 0;

	if (!cred_ok(ufrag, ul, ICE_UFRAG_MIN, ICE_UFRAG_LEN)) {
		*why = "local ufrag is not 4-16 ice-chars";
		return EINVAL;
	}
	if (!cred_ok(pwd, pl, ICE_PWD_MIN, ICE_PWD_LEN)) {
		*why = "local pwd is not 22-32 ice-chars";
		return EINVAL;
	}
	memcpy(ice->ufrag, ufrag, ul + 1);
	memcpy(ice->pwd, pwd, pl + 1);
	return 0;
}

int ice_set_remote(struct ice_lite *ice, const char *ufrag, const char *pwd,
                   const char **why)
{
	size_t ul = ufrag ? strnlen(ufrag, ICE_CRED_MAX + 1) : 0;
	size_t pl = pwd ? strnlen(pwd, ICE_CRED_MAX + 1) : 0;

	if (!cred_ok(ufrag, ul, ICE_UFRAG_MIN, ICE_CRED_MAX)) {
		*why = "remote ice-ufrag is not 4-256 ice-chars";
		return EINVAL;
	}
	if (pwd && !cred_ok(pwd, pl, ICE_PWD_MIN, ICE_CRED_MAX)) {
		*why = "remote ice-pwd is not 22-256 ice-chars";
		return EINVAL;
	}
	memcpy(ice->rufrag, ufrag, ul + 1);
	if (pwd)
		memcpy(ice->rpwd, pwd, pl + 1);
	return 0;
}

bool ice_expired(const struct ice_lite *ice, uint64_t now_ms)
{
	return now_ms >= ice->consent_ms &&
	       now_ms - ice->consent_ms >= ICE_CONSENT_MS;
}

/*
 * The header and the attributes, every length bounded before it is used.
 * Only the first of each attribute counts (RFC 5389 section 15); those
 * after MESSAGE-INTEGRITY are skipped but for FINGERPRINT, which must be
 * the last. ICE_RX_ANSWERED here means "read, go on".
 */
static enum ice_rx parse(const uint8_t *b, size_t len, struct request *r)
{
	size_t off = HDR_LEN;

	memset(r, 0, sizeof(*r));
	if (len < HDR_LEN || (b[0] & 0xc0) || get_be32(b + 4) != MAGIC)
		return ICE_RX_MALFORMED;
	if (get_be16(b + 2) != len - HDR_LEN || (len & 3))
		return ICE_RX_MALFORMED;
	r->type = get_be16(b);
	r->tid = b + 8;

	while (off < len) {
		uint16_t type, alen;
		size_t padded;
		const uint8_t *v;

		if (len - off < 4)
			return ICE_RX_MALFORMED;
		type = get_be16(b + off);
		alen = get_be16(b + off + 2);
		padded = ((size_t)alen + 3) & ~(size_t)3;
		if (padded > len - off - 4)
			return ICE_RX_MALFORMED;
		v = b + off + 4;

		if (type == A_FINGERPRINT) {
			if (alen != 4 || off + FP_ATTR != len)
				return ICE_RX_MALFORMED;
			if (get_be32(v) != (crc32_iso(b, off) ^ FP_XOR))
				return ICE_RX_BAD_FINGERPRINT;
			r->fingerprint = true;
		} else if (r->mi_off) {
			/* after MESSAGE-INTEGRITY: ignored */
		} else if (type == A_USERNAME) {
			if (!r->user) {
				r->user = true;
				r->user_ptr = v;
				r->user_len = alen;
			}
		} else if (type == A_ERROR_CODE && r->type == BINDING_ERROR) {
			/* Class 3-6, number 0-99 (RFC 5389 15.6). */
			if (alen < 4 || (v[2] & 7) < 3 || (v[2] & 7) > 6 ||
			    v[3] > 99)
				return ICE_RX_MALFORMED;
			if (!r->err_code)
				r->err_code = (v[2] & 7) * 100u + v[3];
		} else if (type == A_MESSAGE_INTEGRITY) {
			if (alen != MI_LEN)
				return ICE_RX_MALFORMED;
			r->mi_off = off;
		} else if (type == A_PRIORITY) {
			if (alen != 4)
				return ICE_RX_MALFORMED;
			r->priority = true;
		} else if (type == A_USE_CANDIDATE) {
			if (alen != 0)
				return ICE_RX_MALFORMED;
			r->use_candidate = true;
		} else if (type == A_ICE_CONTROLLING ||
		           type == A_ICE_CONTROLLED) {
			if (alen != 8)
				return ICE_RX_MALFORMED;
			if (type == A_ICE_CONTROLLING)
				r->controlling = true;
			else
				r->controlled = true;
		} else if (type < 0x8000 && r->n_unknown < UNKNOWN_MAX) {
			/* comprehension-required, and not ours */
			r->unknown[r->n_unknown++] = type;
		}
		off += 4 + padded;
	}
	if (!r->fingerprint)
		return ICE_RX_BAD_FINGERPRINT;
	return ICE_RX_ANSWERED;
}

/* USERNAME is "<our ufrag>:<their ufrag>"; theirs is any while unknown.
 * Where theirs starts in it, or 0 when it is not ours. */
static size_t username_ok(const struct ice_lite *ice, const struct request *r)
{
	size_t ul = strlen(ice->ufrag), rl = strlen(ice->rufrag);
	const char *u = (const char *)r->user_ptr;

	if (!r->user || r->user_len <= ul + 1 || memcmp(u, ice->ufrag, ul) ||
	    u[ul] != ':')
		return 0;
	if (rl)
		return r->user_len - ul - 1 == rl &&
		               !memcmp(u + ul + 1, ice->rufrag, rl)
		           ? ul + 1
		           : 0;
	return cred_ok(u + ul + 1, r->user_len - ul - 1, ICE_UFRAG_MIN,
	               ICE_CRED_MAX)
	           ? ul + 1
	           : 0;
}

/* HMAC over the message up to MESSAGE-INTEGRITY, with the header's length
 * as if it ended there (RFC 5389 section 15.4). */
static bool integrity_ok(const char *key, const uint8_t *b,
                         const struct request *r)
{
	uint8_t hdr[HDR_LEN], mac[MI_LEN];

	if (!r->mi_off)
		return false;
	memcpy(hdr, b, HDR_LEN);
	put_be16(hdr + 2, (uint16_t)(r->mi_off + MI_ATTR - HDR_LEN));
	hmac_sha1(key, strlen(key), hdr, HDR_LEN, b + HDR_LEN,
	          r->mi_off - HDR_LEN, mac);
	return CRYPTO_memcmp(mac, b + r->mi_off + 4, MI_LEN) == 0;
}

static size_t put_attr(uint8_t *p, uint16_t type, const void *v, uint16_t len)
{
	size_t padded = ((size_t)len + 3) & ~(size_t)3;

	put_be16(p, type);
	put_be16(p + 2, len);
	if (len)
		memcpy(p + 4, v, len);
	memset(p + 4 + len, 0, padded - len);
	return 4 + padded;
}

/* XOR-MAPPED-ADDRESS of src (RFC 5389 section 15.2); an IPv4 peer seen
 * through a dual-stack socket is given back as IPv4. 0 for other
 * families. */
static size_t put_xor_mapped(uint8_t *p, const struct sa *src,
                             const uint8_t *tid)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
	                                     0, 0, 0, 0, 0xff, 0xff};
	uint8_t v[20], a6[16], key[16];
	uint16_t len;

	put_be32(key, MAGIC);
	memcpy(key + 4, tid, TID_LEN);
	v[0] = 0;
	put_be16(v + 2, (uint16_t)(sa_port(src) ^ (MAGIC >> 16)));
	if (sa_af(src) == AF_INET) {
		v[1] = 0x01;
		put_be32(v + 4, sa_in(src) ^ MAGIC);
		len = 8;
	} else if (sa_af(src) == AF_INET6) {
		sa_in6(src, a6);
		if (!memcmp(a6, v4mapped, sizeof(v4mapped))) {
			v[1] = 0x01;
			put_be32(v + 4, get_be32(a6 + 12) ^ MAGIC);
			len = 8;
		} else {
			v[1] = 0x02;
			for (size_t i = 0; i < 16; i++)
				v[4 + i] = a6[i] ^ key[i];
			len = 20;
		}
	} else {
		return 0;
	}
	return put_attr(p, A_XOR_MAPPED_ADDRESS, v, len);
}

static size_t put_error(uint8_t *p, unsigned code, const char *reason)
{
	uint8_t v[4 + 32];
	size_t rl = strlen(reason);

	v[0] = v[1] = 0;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, reason, rl);
	return put_attr(p, A_ERROR_CODE, v, (uint16_t)(4 + rl));
}

/* MESSAGE-INTEGRITY then FINGERPRINT after the n bytes written, each with
 * the header's length up to its own end. The total length. */
static size_t seal(const char *key, uint8_t *w, size_t n)
{
	uint8_t mac[MI_LEN], fp[4];

	put_be16(w + 2, (uint16_t)(n + MI_ATTR - HDR_LEN));
	hmac_sha1(key, strlen(key), w, n, NULL, 0, mac);
	n += put_attr(w + n, A_MESSAGE_INTEGRITY, mac, MI_LEN);
	put_be16(w + 2, (uint16_t)(n + FP_ATTR - HDR_LEN));
	put_be32(fp, crc32_iso(w, n) ^ FP_XOR);
	return n + put_attr(w + n, A_FINGERPRINT, fp, 4);
}

static size_t put_header(uint8_t *w, uint16_t type, const uint8_t *tid)
{
	put_be16(w, type);
	put_be16(w + 2, 0);
	put_be32(w + 4, MAGIC);
	memcpy(w + 8, tid, TID_LEN);
	return HDR_LEN;
}

/* 420 with the attributes we do not know, or 400 (RFC 5389 sections
 * 7.3.1 and 15.9), signed: the request authenticated. */
static size_t put_rejection(const struct ice_lite *ice, uint8_t *w,
                            const struct request *r)
{
	size_t n = put_header(w, BINDING_ERROR, r->tid);

	if (r->n_unknown) {
		uint8_t v[2 * UNKNOWN_MAX];

		for (size_t i = 0; i < r->n_unknown; i++)
			put_be16(v + 2 * i, r->unknown[i]);
		n += put_error(w + n, 420, "Unknown Attribute");
		n += put_attr(w + n, A_UNKNOWN_ATTRIBUTES, v,
		              (uint16_t)(2 * r->n_unknown));
	} else {
		n += put_error(w + n, 400, "Bad Request");
	}
	return seal(ice->pwd, w, n);
}

enum ice_rx ice_recv(struct ice_lite *ice, const uint8_t *b, size_t len,
                     const struct sa *src, uint64_t now_ms,
                     uint8_t reply[ICE_REPLY_MAX], struct ice_check *chk)
{
	struct request r;
	enum ice_rx rx;
	size_t theirs, n;

	memset(chk, 0, sizeof(*chk));
	rx = parse(b, len, &r);
	if (rx != ICE_RX_ANSWERED)
		goto out;
	if (r.type != BINDING_REQUEST) {
		rx = ICE_RX_NOT_REQUEST;
		goto out;
	}
	theirs = username_ok(ice, &r);
	if (!theirs) {
		rx = ICE_RX_BAD_USERNAME;
		goto out;
	}
	if (!integrity_ok(ice->pwd, b, &r)) {
		rx = ICE_RX_BAD_INTEGRITY;
		goto out;
	}
	/* A lite agent is controlled (RFC 8445 6.1.1): a peer that is not
	 * controlling cannot nominate, and 487 would not help it. */
	if (r.n_unknown || !r.priority || !r.controlling || r.controlled) {
		chk->reply_len = put_rejection(ice, reply, &r);
		rx = ICE_RX_REJECTED;
		goto out;
	}
	n = put_header(reply, BINDING_SUCCESS, r.tid);
	n += put_xor_mapped(reply + n, src, r.tid);
	if (n == HDR_LEN) {
		rx = ICE_RX_MALFORMED; /* no address to give back */
		goto out;
	}
	chk->reply_len = seal(ice->pwd, reply, n);

	if (!ice->rufrag[0]) {
		size_t rl = r.user_len - theirs;

		memcpy(ice->rufrag, r.user_ptr + theirs, rl);
		ice->rufrag[rl] = '\0';
	}
	if (now_ms > ice->consent_ms)
		ice->consent_ms = now_ms;
	chk->nominated = r.use_candidate;
	chk->first = !ice->checked;
	ice->checked = true;
out:
	ice->count[rx]++;
	return rx;
}

/* ---- the controlling side ------------------------------------------------ */

int ice_request_write(const struct ice_lite *ice,
                      const struct ice_request_prm *prm,
                      uint8_t tid[ICE_TID_LEN], uint8_t *buf, size_t size,
                      size_t *len)
{
	size_t ul = strlen(ice->ufrag), rl = strlen(ice->rufrag);
	char user[ICE_CRED_MAX + 1 + ICE_UFRAG_LEN];
	uint8_t v[8], *w = buf;
	size_t n;

	if (!rl || !ice->rpwd[0] || !ul || !prm || !tid || !buf || !len)
		return EINVAL;
	if (size < ICE_REQUEST_MAX)
		return ENOSPC;
	rand_bytes(tid, ICE_TID_LEN);
	n = put_header(w, BINDING_REQUEST, tid);
	/* USERNAME: theirs, then ours (RFC 8445 7.2.2). */
	memcpy(user, ice->rufrag, rl);
	user[rl] = ':';
	memcpy(user + rl + 1, ice->ufrag, ul);
	n += put_attr(w + n, A_USERNAME, user, (uint16_t)(rl + 1 + ul));
	put_be32(v, prm->priority);
	n += put_attr(w + n, A_PRIORITY, v, 4);
	put_be32(v, (uint32_t)(prm->tiebreaker >> 32));
	put_be32(v + 4, (uint32_t)prm->tiebreaker);
	n += put_attr(w + n, A_ICE_CONTROLLING, v, 8);
	if (prm->use_candidate)
		n += put_attr(w + n, A_USE_CANDIDATE, NULL, 0);
	*len = seal(ice->rpwd, w, n);
	return 0;
}

enum ice_resp ice_response_read(const struct ice_lite *ice, const uint8_t *b,
                                size_t len, const uint8_t tid[ICE_TID_LEN],
                                unsigned *code)
{
	struct request r;

	if (code)
		*code = 0;
	if (!b)
		return ICE_RESP_MALFORMED;
	switch (parse(b, len, &r)) {
	case ICE_RX_ANSWERED:
		break;
	case ICE_RX_BAD_FINGERPRINT:
		return ICE_RESP_BAD_FINGERPRINT;
	default:
		return ICE_RESP_MALFORMED;
	}
	if (r.type != BINDING_SUCCESS && r.type != BINDING_ERROR)
		return ICE_RESP_NOT_RESPONSE;
	if (!tid || CRYPTO_memcmp(r.tid, tid, ICE_TID_LEN))
		return ICE_RESP_OTHER_TID;
	if (!ice->rpwd[0] || !integrity_ok(ice->rpwd, b, &r))
		return ICE_RESP_BAD_INTEGRITY;
	if (r.type == BINDING_ERROR) {
		if (code)
			*code = r.err_code;
		return ICE_RESP_ERROR;
	}
	return ICE_RESP_SUCCESS;
}
