/*
 * A speech provider's endpoints, from its base URL as its own SDK takes
 * it (https://api.deepgram.com, https://api.openai.com/v1, or a test
 * stand-in on http://127.0.0.1:PORT): the endpoint's path joined to the
 * base's, http(s) turned into ws(s) for a WebSocket, query parameters
 * percent-encoded.
 */
#ifndef VOXGATE_NET_URL_H
#define VOXGATE_NET_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds far above any provider's URL, so that garbage costs little. */
#define URL_MAX_LEN 4096

/* The parts of an absolute URL, pointing into it (not NUL-terminated). */
struct url_parts {
	const char *scheme; /* "http", "https", "ws" or "wss", as written */
	size_t scheme_len;
	const char *host; /* an IPv6 address keeps its brackets */
	size_t host_len;
	uint16_t port;      /* as written, or the scheme's */
	bool port_given;    /* written in the URL */
	bool tls;           /* https or wss */
	const char *target; /* path and query, "" when the URL has neither */
	size_t target_len;
};

/*
 * Splits an absolute http, https, ws or wss URL. EINVAL, with the reason
 * in *why (a static string), for another scheme, no host, a bad port,
 * credentials in the URL (they would reach logs), a fragment, spaces or
 * control characters, or a URL over URL_MAX_LEN.
 */
int url_split(const char *url, struct url_parts *u, const char **why);

struct url_param {
	const char *name;
	const char *value;
};

/*
 * *urlp (a libre string, mem_deref it): base (http or https, or ws or
 * wss when socket is set; with or without a path, with or without a
 * trailing '/', no query) joined with
 * path ("/v1/listen" or "v1/listen"), its scheme turned into ws or wss
 * when socket is set, then the qc parameters of qv, names and values
 * percent-encoded, a NULL value skipped. EINVAL with the reason in *why
 * (static) for a base that is not http(s) or does not split, a path with
 * a query, fragment, space or control character; ENOMEM.
 */
int url_endpoint(char **urlp, const char *base, const char *path, bool socket,
                 const struct url_param *qv, size_t qc, const char **why);

#endif
