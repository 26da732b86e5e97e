/*
 * Twilio webhooks and TwiML on libc and OpenSSL.
 *
 * DESIGN
 *
 * The signature is checked over the URL Twilio requested, which only the
 * caller can rebuild (behind a TLS terminator the socket sees another), so
 * the URL comes in whole and is never normalised here: Twilio signs the
 * host in the case it was configured with. The one change made is the
 * port, because Twilio signs sometimes with and sometimes without the
 * default port; both variants are tried, as the official SDKs do.
 *
 * The decoded form (core/form.h) keeps every pair as received, since
 * Twilio adds new parameters without notice and any one left out breaks
 * the signature.
 *
 * TwiML is written by hand rather than through an XML library: three
 * fixed shapes, every value escaped, and values XML cannot carry at all
 * (control characters, bytes that are not UTF-8) refused rather than
 * dropped, so what Twilio reads is what the caller asked for.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "carrier/sipuri.h"
#include "core/form.h"
#include "carrier/twilio.h"

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

/* RFC 3986 unreserved, besides letters and digits: what needs no % escape
 * in a SIP URI header value. */
#define UNRESERVED_MARKS "-_.!~*'()"

#define SHA256_HEX_LEN 64

static int param_cmp(const void *a, const void *b)
{
	const struct form_param *pa = *(const struct form_param *const *)a;
	const struct form_param *pb = *(const struct form_param *const *)b;
	int r = strcmp(pa->name, pb->name);

	return r ? r : strcmp(pa->value, pb->value);
}

int twilio_signature(const char *auth_token, const char *url,
                     const struct form *form,
                     char out[TWILIO_SIGNATURE_LEN + 1])
{
	const struct form_param **sorted = NULL;
	size_t n = form ? form->n : 0, len, ulen, keylen, i;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *data, *p;
	int err = 0;

	if (!auth_token || !url || !out || (n && !form->v))
		return EINVAL;
	keylen = strlen(auth_token);
	if (keylen == 0 || keylen > INT_MAX)
		return EINVAL;
	len = ulen = strlen(url);
	if (n) {
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted)
			return ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (!form->v[i].name || !form->v[i].value) {
			free(sorted);
			return EINVAL;
		}
		sorted[i] = &form->v[i];
		len += strlen(form->v[i].name) + strlen(form->v[i].value);
	}
	if (n)
		qsort(sorted, n, sizeof(*sorted), param_cmp);

	data = malloc(len + 1);
	if (!data) {
		free(sorted);
		return ENOMEM;
	}
	p = data;
	memcpy(p, url, ulen);
	p += ulen;
	for (i = 0; i < n; i++) {
		/* A name repeated with the same value counts once. */
		if (i > 0 && param_cmp(&sorted[i - 1], &sorted[i]) == 0)
			continue;
		memcpy(p, sorted[i]->name, strlen(sorted[i]->name));
		p += strlen(sorted[i]->name);
		memcpy(p, sorted[i]->value, strlen(sorted[i]->value));
		p += strlen(sorted[i]->value);
	}
	free(sorted);

	if (!HMAC(EVP_sha1(), auth_token, (int)keylen, (unsigned char *)data,
	          (size_t)(p - data), mac, &maclen))
		err = ENOMEM;
	else
		EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	free(data);
	return err;
}

/* head[0..hlen) + mid + tail, malloc'd. */
static char *splice(const char *head, size_t hlen, const char *mid,
                    const char *tail)
{
	size_t mlen = strlen(mid), tlen = strlen(tail);
	char *s = malloc(hlen + mlen + tlen + 1);

	if (!s)
		return NULL;
	memcpy(s, head, hlen);
	memcpy(s + hlen, mid, mlen);
	memcpy(s + hlen + mlen, tail, tlen + 1);
	return s;
}

/* url with the scheme's default port added when it has no port (*with),
 * and with its port, whatever it is, removed (*without); one of them is
 * url itself. Both malloc'd. The port follows the host, which follows any
 * userinfo: the last '@' of the authority. */
static int url_port_variants(const char *url, char **with, char **without)
{
	/* Media Streams requests are signed over their wss:// URL. */
	static const struct {
		const char *scheme, *port;
	} schemes[] = {
	    {"https://", ":443"},
	    {"http://", ":80"},
	    {"wss://", ":443"},
	    {"ws://", ":80"},
	};
	const char *auth = NULL, *end, *host, *port, *dflt = NULL, *p;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].scheme);

		if (!strncasecmp(url, schemes[i].scheme, n)) {
			auth = url + n;
			dflt = schemes[i].port;
			break;
		}
	}
	if (!auth)
		return EINVAL;
	end = auth + strcspn(auth, "/?#");
	host = auth;
	for (p = auth; p < end; p++) {
		if (*p == '@')
			host = p + 1;
	}
	port = host;
	if (*host == '[') { /* an IPv6 literal holds colons of its own */
		port = memchr(host, ']', (size_t)(end - host));
		if (!port)
			return EINVAL;
	}
	port = memchr(port, ':', (size_t)(end - port));

	if (port) {
		*with = strdup(url);
		*without = splice(url, (size_t)(port - url), "", end);
	} else {
		*with = splice(url, (size_t)(end - url), dflt, end);
		*without = strdup(url);
	}
	if (!*with || !*without) {
		free(*with);
		free(*without);
		return ENOMEM;
	}
	return 0;
}

/* Whether the first bodySHA256 in url's query is the lowercase hex
 * SHA-256 of body. Read raw, undecoded: hex digits are never escaped. */
static int body_hash_matches(const char *url, const char *body, size_t len,
                             bool *match)
{
	static const char name[] = "bodySHA256";
	const size_t nlen = sizeof(name) - 1;
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[SHA256_HEX_LEN];
	size_t i;
	const char *q = url + strcspn(url, "?#"), *end, *val = NULL;
	size_t vlen = 0;

	*match = false;
	if (*q != '?')
		return 0;
	q++;
	end = q + strcspn(q, "#");
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		size_t seglen = (amp ? amp : end) - q;

		if (seglen >= nlen && memcmp(q, name, nlen) == 0 &&
		    (seglen == nlen || q[nlen] == '=')) {
			val = seglen == nlen ? q + nlen : q + nlen + 1;
			vlen = seglen == nlen ? 0 : seglen - nlen - 1;
			break;
		}
		if (!amp)
			break;
		q = amp + 1;
	}
	if (!val || vlen != SHA256_HEX_LEN)
		return 0;

	if (!EVP_Digest(body, len, md, NULL, EVP_sha256(), NULL))
		return ENOMEM;
	for (i = 0; i < SHA256_HEX_LEN / 2; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	*match = CRYPTO_memcmp(hex, val, SHA256_HEX_LEN) == 0;
	return 0;
}

int twilio_signature_check(const char *auth_token, const char *url,
                           const struct form *form, const char *body,
                           size_t body_len, const char *signature)
{
	char *with = NULL, *without = NULL;
	char sig[TWILIO_SIGNATURE_LEN + 1];
	bool ok = false;
	int err;

	if (!auth_token || !*auth_token || !url || (form && body))
		return EINVAL;
	err = url_port_variants(url, &with, &without);
	if (err)
		return err;
	if (!signature || strlen(signature) != TWILIO_SIGNATURE_LEN) {
		err = EACCES;
		goto out;
	}
	/* Both variants, always: the work done tells nothing about which
	 * one matched. */
	err = twilio_signature(auth_token, with, form, sig);
	if (err)
		goto out;
	ok = CRYPTO_memcmp(sig, signature, TWILIO_SIGNATURE_LEN) == 0;
	err = twilio_signature(auth_token, without, form, sig);
	if (err)
		goto out;
	ok |= CRYPTO_memcmp(sig, signature, TWILIO_SIGNATURE_LEN) == 0;
	if (ok && body) {
		err = body_hash_matches(url, body, body_len, &ok);
		if (err)
			goto out;
	}
	err = ok ? 0 : EACCES;
out:
	free(with);
	free(without);
	return err;
}

/* A growing string whose first error sticks, so a document is written
 * straight through and checked once at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_fail(struct sbuf *b, int err)
{
	if (!b->err)
		b->err = err;
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n >= b->cap - b->len) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		char *p;

		if (cap < b->len + n + 1)
			cap = b->len + n + 1;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Well-formed UTF-8 (no overlong forms, no surrogates) of characters
 * XML 1.0 allows: of the C0 controls only tab, LF and CR. */
static bool xml_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned int c = *p, cp, min;
		size_t more, i;

		if (c < 0x80) {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		for (i = 1; i <= more; i++) {
			if ((p[i] & 0xc0) != 0x80) /* a NUL stops here too */
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
		    cp == 0xffff)
			return false;
		p += more + 1;
	}
	return true;
}

/* s escaped for both element text and a double- or single-quoted
 * attribute. */
static void sb_put_xml(struct sbuf *b, const char *s)
{
	if (!s || !xml_text_ok(s)) {
		sb_fail(b, EINVAL);
		return;
	}
	while (*s) {
		size_t n = strcspn(s, "&<>\"'");

		sb_put(b, s, n);
		s += n;
		switch (*s) {
		case '&':
			sb_puts(b, "&amp;");
			break;
		case '<':
			sb_puts(b, "&lt;");
			break;
		case '>':
			sb_puts(b, "&gt;");
			break;
		case '"':
			sb_puts(b, "&quot;");
			break;
		case '\'':
			sb_puts(b, "&apos;");
			break;
		default: /* the end */
			return;
		}
		s++;
	}
}

/* s with every byte but letters, digits and marks %-escaped. */
static void sb_put_pct(struct sbuf *b, const char *s, const char *marks)
{
	static const char digits[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[3] = {'%', digits[c >> 4], digits[c & 15]};

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(marks, c))
			sb_put(b, s, 1);
		else
			sb_put(b, esc, sizeof(esc));
	}
}

static int sb_finish(struct sbuf *b, char **out)
{
	if (b->err) {
		free(b->p);
		return b->err;
	}
	*out = b->p;
	return 0;
}

int twilio_twiml_dial(char **out, const char *sip_uri,
                      const char *called_number, const char *call_sid)
{
	struct sbuf uri = {0}, doc = {0};
	char *base = NULL;
	int err;

	if (!out)
		return EINVAL;
	*out = NULL;
	if (!call_sid || !*call_sid)
		return EINVAL;
	err = sipuri_with_user(&base, sip_uri, called_number);
	if (err)
		return err;
	sb_puts(&uri, base);
	/* Twilio turns the URI's headers into INVITE headers; custom ones
	 * must be X- named. */
	sb_puts(&uri, strchr(base, '?') ? "&" : "?");
	free(base);
	sb_puts(&uri, "X-Voxgate-CallSid=");
	sb_put_pct(&uri, call_sid, UNRESERVED_MARKS);
	if (!uri.err && uri.len > TWILIO_SIP_URI_MAX)
		uri.err = EMSGSIZE;
	if (uri.err) {
		free(uri.p);
		return uri.err;
	}

	sb_puts(&doc, XML_HEAD "<Response><Dial answerOnBridge=\"true\"><Sip>");
	sb_put_xml(&doc, uri.p);
	sb_puts(&doc, "</Sip></Dial></Response>");
	free(uri.p);
	return sb_finish(&doc, out);
}

int twilio_twiml_stream(char **out, const char *wss_url,
                        const struct form_param *params, size_t nparams)
{
	struct sbuf doc = {0};
	size_t i;

	if (!out)
		return EINVAL;
	*out = NULL;
	if (!wss_url || strncasecmp(wss_url, "wss://", 6) != 0 || !wss_url[6] ||
	    strchr(wss_url, '?') || (nparams && !params))
		return EINVAL;

	sb_puts(&doc, XML_HEAD "<Response><Connect><Stream url=\"");
	sb_put_xml(&doc, wss_url);
	sb_puts(&doc, "\">");
	for (i = 0; i < nparams; i++) {
		sb_puts(&doc, "<Parameter name=\"");
		sb_put_xml(&doc, params[i].name);
		sb_puts(&doc, "\" value=\"");
		sb_put_xml(&doc, params[i].value);
		sb_puts(&doc, "\"/>");
	}
	sb_puts(&doc, "</Stream></Connect></Response>");
	return sb_finish(&doc, out);
}

int twilio_twiml_say_hangup(char **out, const char *text)
{
	struct sbuf doc = {0};

	if (!out)
		return EINVAL;
	*out = NULL;
	if (!text || !*text) /* silence before a hangup explains nothing */
		return EINVAL;
	sb_puts(&doc, XML_HEAD "<Response><Say>");
	sb_put_xml(&doc, text);
	sb_puts(&doc, "</Say><Hangup/></Response>");
	return sb_finish(&doc, out);
}
