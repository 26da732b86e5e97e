/*
 * Header lines from the API go verbatim into SIP messages, so a name that
 * is not a token or a value with a line break could end the header block
 * or forge another header; and a header the stack writes itself would be
 * sent twice, which peers resolve in different ways.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "sip/sipx.h"

#define SIPX_VALUE_MAX 1024

static bool token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("-.!%*_+`'~", *s))
			return false;
	}
	return true;
}

static bool reserved(const char *name)
{
	static const char *const names[] = {
	    "Via",
	    "From",
	    "To",
	    "Call-ID",
	    "CSeq",
	    "Contact",
	    "Max-Forwards",
	    "Route",
	    "Record-Route",
	    "Refer-To",
	    "Referred-By",
	    "Event",
	    "Subscription-State",
	    "Expires",
	    "Authorization",
	    "Proxy-Authorization",
	    "WWW-Authenticate",
	    "Proxy-Authenticate",
	    "Allow",
	    "Supported",
	    "Require",
	    "User-Agent",
	    "f",
	    "t",
	    "v",
	    "i",
	    "m",
	    "l",
	    "c",
	    "e",
	    "k",
	    "o",
	    "r",
	    "b",
	    "u",
	    "x",
	};

	if (!strncasecmp(name, "Content-", 8))
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(names[i], name))
			return true;
	}
	return false;
}

int sipx_header_check(const char *name, const char *value, const char **why)
{
	const char *w = NULL;

	if (!name || !token_ok(name))
		w = "a header name must be a SIP token";
	else if (reserved(name))
		w = "this header is written by voxgate itself";
	else if (!value || strpbrk(value, "\r\n"))
		w = "a header value must not contain a line break";
	else if (strlen(value) > SIPX_VALUE_MAX)
		w = "a header value is longer than 1024 bytes";
	if (w && why)
		*why = w;
	return w ? EINVAL : 0;
}

int sipx_headers_format(const json_t *headers, bool strict, char *out,
                        size_t sz, const char **why)
{
	size_t len = 0;
	const char *k;
	json_t *v;

	if (!out || !sz)
		return EINVAL;
	out[0] = '\0';
	if (!headers || json_is_null(headers))
		return 0;
	if (!json_is_object(headers)) {
		if (why)
			*why = "headers must be an object of strings";
		return strict ? EINVAL : 0;
	}
	json_object_foreach((json_t *)headers, k, v)
	{
		const char *val = json_string_value(v);
		const char *w = NULL;
		int n;

		if (!val)
			w = "a header value must be a string";
		else if (sipx_header_check(k, val, &w))
			;
		else
			w = NULL;
		if (w) {
			if (!strict)
				continue;
			if (why)
				*why = w;
			return EINVAL;
		}
		n = snprintf(out + len, sz - len, "%s: %s\r\n", k, val);
		if (n < 0 || (size_t)n >= sz - len) {
			out[len] = '\0';
			if (!strict)
				break;
			if (why)
				*why = "the headers are too long";
			return E2BIG;
		}
		len += (size_t)n;
	}
	return 0;
}

#define SIPX_TARGET_MAX  512
#define SIPX_SIPFRAG_MAX 256

int sipx_transfer_to_check(const char *to, const char **why)
{
	const char *w = NULL;
	size_t n = to ? strnlen(to, SIPX_TARGET_MAX + 1) : 0;

	if (!n)
		w = "transfer_to is empty";
	else if (n > SIPX_TARGET_MAX)
		w = "transfer_to is longer than 512 bytes";
	else if (strncasecmp(to, "sip:", 4) && strncasecmp(to, "sips:", 5) &&
	         strncasecmp(to, "tel:", 4))
		w = "transfer_to must be a sip:, sips: or tel: URI";
	for (const char *s = to; !w && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c == 0x7f || strchr("<>\"", c))
			w = "transfer_to must not contain spaces, control "
			    "characters, '<', '>' or '\"'";
	}
	if (!w && strchr(to, ':')[1] == '\0')
		w = "transfer_to names no one";
	if (w && why)
		*why = w;
	return w ? EINVAL : 0;
}

int sipx_sipfrag_status(const char *body, size_t len, uint16_t *code,
                        char *reason, size_t sz)
{
	static const char ver[] = "SIP/2.0 ";
	size_t n = 0, r, o = 0;
	unsigned v;

	if (!body || !code)
		return EBADMSG;
	if (len > SIPX_SIPFRAG_MAX + 2)
		len = SIPX_SIPFRAG_MAX + 2;
	while (n < len && body[n] != '\r' && body[n] != '\n')
		n++;
	if (n > SIPX_SIPFRAG_MAX)
		return EBADMSG;
	if (n < len && body[n] == '\r' && (n + 1 >= len || body[n + 1] != '\n'))
		return EBADMSG;
	if (n < sizeof(ver) - 1 + 3 || memcmp(body, ver, sizeof(ver) - 1))
		return EBADMSG;
	r = sizeof(ver) - 1;
	if (!isdigit((unsigned char)body[r]) ||
	    !isdigit((unsigned char)body[r + 1]) ||
	    !isdigit((unsigned char)body[r + 2]))
		return EBADMSG;
	v = (unsigned)(body[r] - '0') * 100 +
	    (unsigned)(body[r + 1] - '0') * 10 + (unsigned)(body[r + 2] - '0');
	if (v < 100 || v > 699)
		return EBADMSG;
	r += 3;
	if (r < n && body[r] != ' ')
		return EBADMSG;
	if (r < n)
		r++;
	if (reason && sz) {
		for (; r < n && o + 1 < sz; r++) {
			unsigned char c = (unsigned char)body[r];

			reason[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		reason[o] = '\0';
	}
	*code = (uint16_t)v;
	return 0;
}
