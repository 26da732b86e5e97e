/*
 * WebSocket client (wsc.h): the upgrade, our request and the server's
 * answer.
 *
 * Apart from the frames because it is HTTP, not RFC 6455 framing: the
 * request with its key and the caller's headers, the 101 checked header by
 * header, and a refusal's body read for the provider's message. Its limits
 * and its parsing of hostile text concern only the first bytes of a
 * socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "core/log.h"
#include "core/utf8.h"
#include "net/url.h"
#include "net/wsc_int.h"

/* The upgrade answer's headers: far above what a server sends. */
#define HS_MAX (16 * 1024)
/* A refused upgrade's body is waited for at most this long. */
#define BODY_WAIT_MS 1000
/* Bytes of a refusal's message kept in its reason. */
#define REFUSAL_MSG_MAX 200

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- the upgrade answer ---- */

/* The value of header name in h (the header block), trimmed. */
static bool hdr_find(const char *h, size_t n, const char *name, const char **v,
                     size_t *vlen)
{
	size_t nl = strlen(name);
	const char *end = h + n, *line = memchr(h, '\n', n);

	while (line && line + 1 < end) {
		const char *s = line + 1;
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *e;

		if (!eol)
			eol = end;
		e = eol;
		if (e > s && e[-1] == '\r')
			e--;
		if ((size_t)(e - s) > nl && s[nl] == ':' &&
		    strncasecmp(s, name, nl) == 0) {
			s += nl + 1;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*v = s;
			*vlen = (size_t)(e - s);
			return true;
		}
		line = eol < end ? eol : NULL;
	}
	return false;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return true;
	}
	return false;
}

/* The header block's shape: a status line, then name: value lines. */
static int hs_check_lines(const char *h, size_t n, uint16_t *status,
                          const char **why)
{
	const char *end = h + n, *s, *eol;

	if (memchr(h, '\0', n)) {
		*why = "NUL byte in the upgrade answer";
		return EPROTO;
	}
	if (n < 12 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' ||
	    h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' ||
	    h[11] < '0' || h[11] > '9' ||
	    (n > 12 && h[12] != ' ' && h[12] != '\r')) {
		*why = "not an HTTP/1.1 status line";
		return EPROTO;
	}
	*status =
	    (uint16_t)((h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0'));
	s = memchr(h, '\n', n);
	while (s && ++s < end) {
		eol = memchr(s, '\n', (size_t)(end - s));
		if (!eol)
			eol = end;
		if (eol - s > 1 || (eol - s == 1 && *s != '\r')) {
			const char *colon = memchr(s, ':', (size_t)(eol - s));

			if (*s == ' ' || *s == '\t' || !colon || colon == s) {
				*why = "malformed header line in the upgrade "
				       "answer";
				return EPROTO;
			}
		}
		s = eol < end ? eol : NULL;
	}
	return 0;
}

static int hs_check_101(struct wsc *w, const char *h, size_t n,
                        const char **why)
{
	const char *v;
	size_t vl;

	if (!hdr_find(h, n, "Upgrade", &v, &vl) ||
	    !has_token(v, vl, "websocket")) {
		*why = "101 without Upgrade: websocket";
		return EPROTO;
	}
	if (!hdr_find(h, n, "Connection", &v, &vl) ||
	    !has_token(v, vl, "upgrade")) {
		*why = "101 without Connection: Upgrade";
		return EPROTO;
	}
	if (!hdr_find(h, n, "Sec-WebSocket-Accept", &v, &vl) ||
	    vl != strlen(w->accept) || memcmp(v, w->accept, vl) != 0) {
		*why = "Sec-WebSocket-Accept does not match our key";
		return EPROTO;
	}
	if (hdr_find(h, n, "Sec-WebSocket-Extensions", &v, &vl) && vl) {
		*why = "the server chose an extension we did not offer";
		return EPROTO;
	}
	if (hdr_find(h, n, "Sec-WebSocket-Protocol", &v, &vl) && vl) {
		*why = "the server chose a subprotocol we did not offer";
		return EPROTO;
	}
	return 0;
}

/* A chunked body decoded into out (cap bytes kept); true once its last
 * chunk has been read or the kept bytes are full. */
static bool dechunk(const char *in, size_t n, char *out, size_t cap,
                    size_t *olen)
{
	size_t i = 0;

	*olen = 0;
	while (i < n) {
		uint32_t size = 0;
		int digits = 0;
		const char *eol;

		while (i < n && digits < 8) {
			char c = in[i];
			int d = c >= '0' && c <= '9'   ? c - '0'
			        : c >= 'a' && c <= 'f' ? c - 'a' + 10
			        : c >= 'A' && c <= 'F' ? c - 'A' + 10
			                               : -1;
			if (d < 0)
				break;
			size = size << 4 | (uint32_t)d;
			digits++;
			i++;
		}
		eol = memchr(in + i, '\n', n - i);
		if (!digits || !eol)
			return !digits && i < n; /* garbage: take what is */
		i = (size_t)(eol - in) + 1;
		if (size == 0)
			return true;
		for (uint32_t k = 0; k < size && i < n; k++, i++) {
			if (*olen < cap)
				out[(*olen)++] = in[i];
		}
		if (*olen >= cap)
			return true;
		if (i + 2 > n)
			return false;
		i += 2;
	}
	return false;
}

/* The provider's message in a refusal's JSON body, by the names the
 * providers use (Deepgram err_msg, OpenAI error.message, ElevenLabs
 * detail.message, others message or error). */
static const char *json_message(json_t *j)
{
	static const char *const keys[] = {"err_msg", "message", "error",
	                                   "detail",  "reason",  "description"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(j, keys[i]);

		if (json_is_string(v))
			return json_string_value(v);
		if (json_is_object(v)) {
			json_t *m = json_object_get(v, "message");

			if (json_is_string(m))
				return json_string_value(m);
		}
	}
	return NULL;
}

void wsc_refusal_done(struct wsc *w)
{
	const char *raw = (const char *)w->hs->buf + w->hdr_len;
	size_t rawn = w->hs->end - w->hdr_len, bn;
	const char *msg = NULL;
	json_t *j = NULL;
	char q[200], m[WSC_BODY_MAX + 1];
	size_t ml;

	if (w->chunked) {
		(void)dechunk(raw, rawn, w->body, WSC_BODY_MAX, &bn);
	} else {
		bn = rawn < WSC_BODY_MAX ? rawn : WSC_BODY_MAX;
		memcpy(w->body, raw, bn);
	}
	bn = utf8_trim(w->body, bn);
	w->body[bn] = '\0';
	if (!utf8_valid(w->body, bn)) {
		w->body[0] = '\0';
		bn = 0;
	}
	j = bn ? json_loadb(w->body, bn, 0, NULL) : NULL;
	if (j)
		msg = json_message(j);
	if (!msg && !j)
		msg = w->body;
	/* Masked whole, then cut: a key the cut halved would no longer be
	 * found. The JSON's message is masked after decoding, where an
	 * escaped key is whole again. */
	snprintf(m, sizeof(m), "%s", msg ? msg : "");
	json_decref(j);
	wsc_mask_secrets(w, w->body, false);
	wsc_mask_secrets(w, m, true);
	ml = utf8_trim(m, strnlen(m, REFUSAL_MSG_MAX));
	snprintf(w->reason, sizeof(w->reason), "HTTP %u%s%.*s", w->st.status,
	         ml ? ": " : "", (int)ml, m);
	wsc_total_add(&wsc_tally.refused, 1);
	log_event(LOGL_WARN, w->call_id, "wsc_refused",
	          "label=%s host=%s path=%s status=%u reason=\"%s\"", w->label,
	          w->host, w->path, w->st.status,
	          log_quote(q, sizeof(q), w->reason));
	wsc_finish(w, EPERM, 1006, true, w->reason);
}

static bool body_complete(struct wsc *w)
{
	size_t rawn = w->hs->end - w->hdr_len, bn;

	if (w->st.status == 204 || w->st.status == 304)
		return true;
	if (w->chunked)
		return dechunk((const char *)w->hs->buf + w->hdr_len, rawn,
		               w->body, WSC_BODY_MAX, &bn);
	if (w->content_length >= 0)
		return rawn >= (uint64_t)w->content_length ||
		       rawn >= WSC_BODY_MAX;
	return rawn >= WSC_BODY_MAX;
}

/* Bytes of the upgrade answer. Returns nonzero when reading must stop. */
int wsc_hs_feed(struct wsc *w, const uint8_t *p, size_t n)
{
	size_t from = w->hs->end > 3 ? w->hs->end - 3 : 0;
	const char *why = NULL;
	const uint8_t *e;
	int err;

	if (w->state == ST_REFUSED) {
		size_t lim = w->hdr_len + 2 * WSC_BODY_MAX;
		size_t keep = w->hs->end < lim ? lim - w->hs->end : 0;

		if (mbuf_write_mem(w->hs, p, n < keep ? n : keep)) {
			wsc_finish(w, ENOMEM, 1006, false, "out of memory");
			return 1;
		}
		if (body_complete(w)) {
			wsc_refusal_done(w);
			return 1;
		}
		return 0;
	}
	if (mbuf_write_mem(w->hs, p, n)) {
		wsc_finish(w, ENOMEM, 1006, false, "out of memory");
		return 1;
	}
	e = memmem(w->hs->buf + from, w->hs->end - from, "\r\n\r\n", 4);
	if (!e) {
		if (w->hs->end >= HS_MAX) {
			wsc_finish(w, EPROTO, 1006, true,
			           "upgrade answer headers over 16 KiB");
			return 1;
		}
		return 0;
	}
	w->hdr_len = (size_t)(e + 4 - w->hs->buf);
	err = hs_check_lines((const char *)w->hs->buf, w->hdr_len - 2,
	                     &w->st.status, &why);
	if (!err && w->st.status == 101)
		err = hs_check_101(w, (const char *)w->hs->buf, w->hdr_len - 2,
		                   &why);
	if (err) {
		wsc_finish(w, err, 1006, true, why);
		return 1;
	}
	if (w->st.status != 101) {
		const char *h = (const char *)w->hs->buf, *v;
		size_t hl = w->hdr_len - 2, vl;

		w->state = ST_REFUSED;
		w->content_length = -1;
		if (hdr_find(h, hl, "Transfer-Encoding", &v, &vl))
			w->chunked = has_token(v, vl, "chunked");
		if (!w->chunked && hdr_find(h, hl, "Content-Length", &v, &vl) &&
		    vl && vl <= 12 && strspn(v, "0123456789") >= vl)
			w->content_length = strtoll(v, NULL, 10);
		/* The rest of the body is read into the same buffer: the
		 * request is gone, its place is free. */
		if (body_complete(w)) {
			wsc_refusal_done(w);
			return 1;
		}
		tmr_start(&w->tmr_hs, BODY_WAIT_MS, wsc_hs_timeout_h, w);
		return 0;
	}

	/* Frames that came with the 101 (same read, same segment) are
	 * the socket's first: read them once openh has run. */
	{
		size_t rest = w->hs->end - w->hdr_len;
		uint8_t *first = NULL;
		int stop = 0;

		if (rest) {
			first = malloc(rest);
			if (!first) {
				wsc_finish(w, ENOMEM, 1006, false,
				           "out of memory");
				return 1;
			}
			memcpy(first, w->hs->buf + w->hdr_len, rest);
		}
		w->hs = mem_deref(w->hs);
		wsc_on_open(w);
		if (wsc_owner_gone(w) || w->state == ST_DONE)
			stop = 1;
		else if (rest)
			stop = wsc_frames_feed(w, first, rest);
		free(first);
		return stop;
	}
}

/* ---- the upgrade request ---- */

/* A header the caller may add: a token name, a value on one line, and
 * none of those the handshake sets itself. */
static bool header_ok(const struct wsc_header *h)
{
	static const char *const own[] = {
	    "host",
	    "upgrade",
	    "connection",
	    "sec-websocket-key",
	    "sec-websocket-version",
	    "sec-websocket-extensions",
	    "content-length",
	    "transfer-encoding",
	};
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
	                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                            "abcdefghijklmnopqrstuvwxyz";
	size_t nl;

	if (!h->name || !h->value)
		return false;
	nl = strlen(h->name);
	if (!nl || strspn(h->name, tchar) != nl)
		return false;
	for (const char *v = h->value; *v; v++) {
		if ((unsigned char)*v < 0x20 && *v != '\t')
			return false;
		if (*v == 0x7f)
			return false;
	}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (strcasecmp(h->name, own[i]) == 0)
			return false;
	}
	return true;
}

/* A header that carries a credential: Authorization, or one whose name
 * says key, token or secret (xi-api-key, X-API-Key, ...). */
static bool header_secret(const char *name)
{
	return !strcasecmp(name, "authorization") || strcasestr(name, "key") ||
	       strcasestr(name, "token") || strcasestr(name, "secret");
}

/* w->secrets from the credential headers: each value, and the word after
 * its scheme ("Bearer <key>"), which a server may quote alone. */
int wsc_collect_secrets(struct wsc *w, const struct wsc_prm *prm)
{
	struct mbuf *mb = mbuf_alloc(128);
	int err = mb ? 0 : ENOMEM;

	for (size_t i = 0; i < prm->headerc && !err; i++) {
		const char *v = prm->headerv[i].value, *sp;

		if (!header_secret(prm->headerv[i].name) || !*v)
			continue;
		err = mbuf_write_mem(mb, (const uint8_t *)v, strlen(v) + 1);
		sp = strrchr(v, ' ');
		if (!err && sp && sp[1])
			err = mbuf_write_mem(mb, (const uint8_t *)sp + 1,
			                     strlen(sp + 1) + 1);
	}
	err = err ? err : mbuf_write_u8(mb, 0);
	if (!err) {
		w->secrets = mem_alloc(mb->end, NULL);
		if (w->secrets)
			memcpy(w->secrets, mb->buf, mb->end);
		else
			err = ENOMEM;
	}
	mem_deref(mb);
	return err;
}

int wsc_build_request(struct wsc *w, const struct url_parts *u,
                      const struct wsc_prm *prm, const char **why)
{
	uint8_t key[16], digest[SHA_DIGEST_LENGTH];
	char key64[32], cat[96];
	struct mbuf *mb;
	int err;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		*why = "no random bytes";
		return EIO;
	}
	EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
	snprintf(cat, sizeof(cat), "%s%s", key64, ws_guid);
	SHA1((const unsigned char *)cat, strlen(cat), digest);
	EVP_EncodeBlock((unsigned char *)w->accept, digest, sizeof(digest));

	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;
	err = mbuf_printf(mb, "GET %s%b HTTP/1.1\r\nHost: %b",
	                  u->target_len && u->target[0] == '/' ? "" : "/",
	                  u->target, u->target_len, u->host, u->host_len);
	if (u->port_given && u->port != (u->tls ? 443 : 80))
		err |= mbuf_printf(mb, ":%u", u->port);
	err |= mbuf_printf(mb,
	                   "\r\nUpgrade: websocket\r\n"
	                   "Connection: Upgrade\r\n"
	                   "Sec-WebSocket-Key: %s\r\n"
	                   "Sec-WebSocket-Version: 13\r\n"
	                   "User-Agent: voxgate\r\n",
	                   key64);
	for (size_t i = 0; i < prm->headerc && !err; i++) {
		if (!header_ok(&prm->headerv[i])) {
			*why = "request header with a bad name or value, or "
			       "one the handshake sets";
			mem_deref(mb);
			return EINVAL;
		}
		err = mbuf_printf(mb, "%s: %s\r\n", prm->headerv[i].name,
		                  prm->headerv[i].value);
	}
	err |= mbuf_write_str(mb, "\r\n");
	if (!err) {
		mb->pos = 0;
		err = mbuf_strdup(mb, &w->request, mb->end);
	}
	mem_deref(mb);
	return err;
}
