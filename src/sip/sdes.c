/*
 * SDES a=crypto values (sdes.h), to RFC 4568 section 9.1's grammar:
 *
 *   value      = tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
 *   tag        = 1*9DIGIT
 *   key-params = "inline:" key-salt ["|" lifetime] ["|" mki-value ":" mki-length]
 *   lifetime   = ["2^"] 1*DIGIT
 *
 * Parsed by hand over the bytes, each field bounded before it is read.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "core/b64.h"
#include "sip/sdes.h"

/* 30 bytes are exactly 40 base64 characters, no padding. */
#define KEY_B64_LEN 40
#define TAG_MAX     999999999u

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The profiles SDES carries here: AES_CM with a 16 + 14 byte key. */
static bool sdes_profile(enum srtpx_profile p)
{
	return p == SRTPX_AES_CM_128_HMAC_SHA1_80 ||
	       p == SRTPX_AES_CM_128_HMAC_SHA1_32;
}

/* The next token of s[*i, n): its start and length; false at the end. */
static bool token(const char *s, size_t n, size_t *i, const char **t,
                  size_t *tl)
{
	size_t k = *i;

	while (k < n && is_wsp(s[k]))
		k++;
	if (k == n)
		return false;
	*t = s + k;
	while (k < n && !is_wsp(s[k]))
		k++;
	*tl = (size_t)(s + k - *t);
	*i = k;
	return true;
}

/* A run of digits of length 1..max as a number. */
static bool digits(const char *s, size_t n, size_t max, unsigned long long *v)
{
	unsigned long long x = 0;

	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		x = x * 10 + (unsigned)(s[i] - '0');
	}
	*v = x;
	return true;
}

static int fail(int err, const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return err;
}

/* "2^n" or a packet count: at least 2^31 packets, or we would have to
 * re-key within the call. */
static int lifetime(const char *s, size_t n, const char **why)
{
	unsigned long long v;

	if (n > 2 && s[0] == '2' && s[1] == '^') {
		if (!digits(s + 2, n - 2, 2, &v))
			return fail(EBADMSG, why, "malformed key lifetime");
		if (v < 31)
			return fail(ENOTSUP, why,
			            "key lifetime below 2^31 packets");
		return 0;
	}
	if (!digits(s, n, 19, &v))
		return fail(EBADMSG, why, "malformed key lifetime");
	if (v < (1ull << 31))
		return fail(ENOTSUP, why, "key lifetime below 2^31 packets");
	return 0;
}

/* inline:<key||salt>[|lifetime][|mki:len] */
static int key_params(const char *s, size_t n, struct sdes_crypto *c,
                      const char **why)
{
	static const char pre[] = "inline:";
	const size_t pl = sizeof(pre) - 1;
	const char *bar;
	size_t len = 0;

	if (n < pl || memcmp(s, pre, pl))
		return fail(EBADMSG, why, "key method is not inline");
	s += pl;
	n -= pl;
	if (memchr(s, ';', n))
		return fail(ENOTSUP, why, "more than one key");
	bar = memchr(s, '|', n);
	if ((bar ? (size_t)(bar - s) : n) != KEY_B64_LEN)
		return fail(EBADMSG, why, "key is not 40 base64 characters");
	if (b64_decode(s, KEY_B64_LEN, 0, c->key, sizeof(c->key), &len) ||
	    len != SDES_KEY_LEN)
		return fail(EBADMSG, why, "key is not base64 of 30 bytes");
	/* Up to two fields: a lifetime, then an MKI; or an MKI alone. */
	for (unsigned k = 0; bar; k++) {
		const char *f = bar + 1, *colon;
		size_t fl;
		unsigned long long v, w;
		int err;

		n -= (size_t)(f - s);
		s = f;
		bar = memchr(s, '|', n);
		fl = bar ? (size_t)(bar - s) : n;
		colon = memchr(s, ':', fl);
		if (!colon) {
			if (k || !fl)
				return fail(EBADMSG, why,
				            "malformed key parameters");
			err = lifetime(s, fl, why);
			if (err)
				return err;
			continue;
		}
		/* Checked for form, then refused: an MKI is a field in every
		 * packet, which srtpx does not read. */
		if (bar || !digits(s, (size_t)(colon - s), 19, &v) ||
		    !digits(colon + 1, fl - (size_t)(colon - s) - 1, 3, &w) ||
		    !w || w > 128)
			return fail(EBADMSG, why, "malformed MKI");
		return fail(ENOTSUP, why, "MKI not supported");
	}
	return 0;
}

/* Session parameters (RFC 4568 section 6.3). One not understood makes
 * the line unusable (6.3.7 has no "ignore"). */
static int session_param(const char *s, size_t n, const char **why)
{
	unsigned long long v;

	if (n > 4 && !memcmp(s, "KDR=", 4)) {
		if (!digits(s + 4, n - 4, 2, &v))
			return fail(EBADMSG, why, "malformed KDR");
		return v ? fail(ENOTSUP, why, "KDR not supported") : 0;
	}
	if (n > 4 && !memcmp(s, "WSH=", 4)) {
		/* A hint for the replay window: ours holds 128. */
		if (!digits(s + 4, n - 4, 10, &v) || v < 64)
			return fail(EBADMSG, why, "malformed WSH");
		return 0;
	}
	if ((n == 16 && !memcmp(s, "UNENCRYPTED_SRTP", 16)) ||
	    (n == 17 && !memcmp(s, "UNENCRYPTED_SRTCP", 17)))
		return fail(ENOTSUP, why, "unencrypted SRTP not supported");
	if (n == 20 && !memcmp(s, "UNAUTHENTICATED_SRTP", 20))
		return fail(ENOTSUP, why, "unauthenticated SRTP not supported");
	if ((n > 10 && !memcmp(s, "FEC_ORDER=", 10)) ||
	    (n > 8 && !memcmp(s, "FEC_KEY=", 8)))
		return fail(ENOTSUP, why, "FEC parameters not supported");
	return fail(ENOTSUP, why, "unknown session parameter");
}

int sdes_parse(const char *value, struct sdes_crypto *c, const char **why)
{
	const char *t;
	size_t n, i = 0, tl;
	unsigned long long tag;
	int err;

	if (!value || !c)
		return EINVAL;
	memset(c, 0, sizeof(*c));
	n = strlen(value);
	if (!token(value, n, &i, &t, &tl) || !digits(t, tl, 9, &tag)) {
		err = fail(EBADMSG, why, "malformed tag");
		goto out;
	}
	c->tag = (unsigned)tag;
	if (!token(value, n, &i, &t, &tl)) {
		err = fail(EBADMSG, why, "no crypto suite");
		goto out;
	}
	if (srtpx_profile_by_name(t, tl, &c->profile) ||
	    !sdes_profile(c->profile)) {
		err = fail(ENOTSUP, why, "crypto suite not supported");
		goto out;
	}
	if (!token(value, n, &i, &t, &tl)) {
		err = fail(EBADMSG, why, "no key");
		goto out;
	}
	err = key_params(t, tl, c, why);
	while (!err && token(value, n, &i, &t, &tl))
		err = session_param(t, tl, why);
out:
	if (err)
		OPENSSL_cleanse(c, sizeof(*c));
	return err;
}

int sdes_format(char *out, size_t sz, const struct sdes_crypto *c)
{
	char b64[KEY_B64_LEN + 4];
	int n;

	if (!out || !c || !sdes_profile(c->profile) || c->tag > TAG_MAX)
		return EINVAL;
	EVP_EncodeBlock((unsigned char *)b64, c->key, SDES_KEY_LEN);
	n = snprintf(out, sz, "%u %s inline:%s", c->tag,
	             srtpx_profile_name(c->profile), b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= sz) {
		if (sz)
			*out = '\0';
		return ENOSPC;
	}
	return 0;
}

int sdes_make(struct sdes_crypto *c, unsigned tag, enum srtpx_profile p)
{
	if (!c || !sdes_profile(p) || tag > TAG_MAX)
		return EINVAL;
	c->tag = tag;
	c->profile = p;
	if (RAND_bytes(c->key, sizeof(c->key)) != 1) {
		OPENSSL_cleanse(c, sizeof(*c));
		return EIO;
	}
	return 0;
}

void sdes_srtpx_prm(struct srtpx_prm *prm, enum srtpx_profile p,
                    const uint8_t ours[SDES_KEY_LEN],
                    const uint8_t theirs[SDES_KEY_LEN])
{
	memset(prm, 0, sizeof(*prm));
	prm->profile = p;
	prm->local = (struct srtpx_keys){ours, SRTPX_MAX_KEY,
	                                 ours + SRTPX_MAX_KEY, SRTPX_MAX_SALT};
	prm->remote = (struct srtpx_keys){
	    theirs, SRTPX_MAX_KEY, theirs + SRTPX_MAX_KEY, SRTPX_MAX_SALT};
}

static const char *const policy_names[] = {
    "SIP_MEDIA_ENCRYPT_DISABLE",
    "SIP_MEDIA_ENCRYPT_ALLOW",
    "SIP_MEDIA_ENCRYPT_REQUIRE",
};

int sdes_policy_by_name(const char *name, enum sdes_policy *p)
{
	if (!name || !p)
		return EINVAL;
	if (!*name) {
		*p = SDES_DISABLE;
		return 0;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!strcmp(name, policy_names[i]) ||
		    (name[0] == (char)('0' + i) && !name[1])) {
			*p = (enum sdes_policy)i;
			return 0;
		}
	}
	return EINVAL;
}

const char *sdes_policy_name(enum sdes_policy p)
{
	return (unsigned)p < 3 ? policy_names[p] : "?";
}
