/*
 * Providers' endpoints from their base URLs (url.h).
 *
 * Only what a provider's base URL needs is read: scheme, host, port and
 * path. Anything else a URL may hold (credentials, a fragment) is refused
 * rather than carried along, so that a URL can be logged without its
 * query and sent without surprises.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include "core/form.h"
#include "net/url.h"

static bool scheme_is(const struct url_parts *u, const char *s)
{
	return u->scheme_len == strlen(s) &&
	       strncasecmp(u->scheme, s, u->scheme_len) == 0;
}

/* Printable ASCII but the space: what a URL may hold once encoded. */
static bool url_chars_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	uint32_t v = 0;

	if (n == 0 || n > 5)
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int url_split(const char *url, struct url_parts *u, const char **why)
{
	const char *why_local, *p, *auth, *auth_end, *colon;
	size_t n;

	if (!why)
		why = &why_local;
	if (!url || !u) {
		*why = "no URL";
		return EINVAL;
	}
	memset(u, 0, sizeof(*u));
	n = strnlen(url, URL_MAX_LEN + 1);
	if (n > URL_MAX_LEN) {
		*why = "URL too long";
		return EINVAL;
	}
	if (!url_chars_ok(url, n)) {
		*why = "URL with a space or a character outside ASCII";
		return EINVAL;
	}
	p = strstr(url, "://");
	if (!p) {
		*why = "not an absolute URL (no scheme://)";
		return EINVAL;
	}
	u->scheme = url;
	u->scheme_len = (size_t)(p - url);
	if (scheme_is(u, "https") || scheme_is(u, "wss")) {
		u->tls = true;
		u->port = 443;
	} else if (scheme_is(u, "http") || scheme_is(u, "ws")) {
		u->port = 80;
	} else {
		*why = "scheme is not http, https, ws or wss";
		return EINVAL;
	}
	auth = p + 3;
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth))) {
		*why = "credentials in the URL (give them as a key setting)";
		return EINVAL;
	}
	if (strchr(url, '#')) {
		*why = "fragment in the URL";
		return EINVAL;
	}
	u->host = auth;
	if (*auth == '[') {
		const char *close =
		    memchr(auth, ']', (size_t)(auth_end - auth));

		if (!close) {
			*why = "IPv6 address without its closing bracket";
			return EINVAL;
		}
		colon = close + 1 < auth_end ? close + 1 : NULL;
		if (colon && *colon != ':') {
			*why = "bad characters after an IPv6 address";
			return EINVAL;
		}
		u->host_len = (size_t)(close + 1 - auth);
	} else {
		colon = memchr(auth, ':', (size_t)(auth_end - auth));
		u->host_len = (size_t)((colon ? colon : auth_end) - auth);
	}
	if (u->host_len == 0 || (*auth == '[' && u->host_len <= 2)) {
		*why = "no host in the URL";
		return EINVAL;
	}
	if (colon) {
		if (parse_port(colon + 1, (size_t)(auth_end - colon - 1),
		               &u->port)) {
			*why = "bad port in the URL";
			return EINVAL;
		}
		u->port_given = true;
	}
	u->target = auth_end;
	u->target_len = strlen(auth_end);
	return 0;
}

int url_endpoint(char **urlp, const char *base, const char *path, bool socket,
                 const struct url_param *qv, size_t qc, const char **why)
{
	const char *why_local;
	struct url_parts u;
	struct mbuf *mb = NULL;
	char *enc = NULL;
	size_t blen, plen;
	char sep = '?';
	int err;

	if (!why)
		why = &why_local;
	if (!urlp || !path || (qc && !qv)) {
		*why = "no URL or path";
		return EINVAL;
	}
	err = url_split(base, &u, why);
	if (err)
		return err;
	if (!scheme_is(&u, "http") && !scheme_is(&u, "https") &&
	    !(socket && (scheme_is(&u, "ws") || scheme_is(&u, "wss")))) {
		*why = "a provider's base URL must be http or https (or ws or "
		       "wss for a WebSocket)";
		return EINVAL;
	}
	if (memchr(u.target, '?', u.target_len)) {
		*why = "query in a provider's base URL";
		return EINVAL;
	}
	plen = strnlen(path, URL_MAX_LEN + 1);
	if (plen > URL_MAX_LEN || !url_chars_ok(path, plen) ||
	    strpbrk(path, "?#")) {
		*why = "endpoint path with a query, fragment, space or control "
		       "character";
		return EINVAL;
	}

	mb = mbuf_alloc(256);
	if (!mb)
		return ENOMEM;
	/* The base without its trailing slashes, then one slash. */
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/' && base + blen > u.target)
		blen--;
	while (*path == '/')
		path++;
	if (socket)
		err = mbuf_printf(mb, "%s", u.tls ? "wss" : "ws");
	else
		err = mbuf_write_mem(mb, (const uint8_t *)base, u.scheme_len);
	err |= mbuf_write_mem(mb, (const uint8_t *)base + u.scheme_len,
	                      blen - u.scheme_len);
	err |= mbuf_printf(mb, "/%s", path);
	for (size_t i = 0; i < qc && !err; i++) {
		const char *name = qv[i].name, *value = qv[i].value;
		size_t nn, vn;

		if (!value)
			continue;
		if (!name || !*name) {
			err = EINVAL;
			*why = "query parameter without a name";
			break;
		}
		nn = form_encode(NULL, 0, name, strlen(name));
		vn = form_encode(NULL, 0, value, strlen(value));
		if (nn > URL_MAX_LEN || vn > URL_MAX_LEN) {
			err = EINVAL;
			*why = "endpoint URL too long";
			break;
		}
		enc = mem_alloc(nn + vn + 3, NULL);
		if (!enc) {
			err = ENOMEM;
			break;
		}
		enc[0] = sep;
		form_encode(enc + 1, nn + 1, name, strlen(name));
		enc[1 + nn] = '=';
		form_encode(enc + 2 + nn, vn + 1, value, strlen(value));
		err = mbuf_write_mem(mb, (const uint8_t *)enc, nn + vn + 2);
		enc = mem_deref(enc);
		sep = '&';
	}
	if (!err && mb->end > URL_MAX_LEN) {
		err = EINVAL;
		*why = "endpoint URL too long";
	}
	if (!err) {
		mb->pos = 0;
		err = mbuf_strdup(mb, urlp, mb->end);
	}
	mem_deref(mb);
	if (err == ENOMEM)
		*why = "out of memory";
	return err;
}
