/*
 * libcurl's multi interface on libre's loop.
 *
 * curl tells which sockets it wants watched (CURLMOPT_SOCKETFUNCTION) and
 * when it next needs the time (CURLMOPT_TIMERFUNCTION); fd_listen and a
 * tmr do the watching, and each event is handed back with
 * curl_multi_socket_action. Nothing here waits: the loop stays free for
 * every other call's audio.
 *
 * curl must not have a transfer removed from inside its own callbacks,
 * and a request's handlers run inside them (the body arrives in curl's
 * write callback). So a request the caller releases while curl is running
 * (depth > 0) is only marked: its transfer answers curl's next callback
 * with an abort and is taken out once curl_multi_socket_action has
 * returned. The transfer's state (struct xfer) lives apart from the
 * request the caller holds for that reason.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_list.h>
#include <re_tmr.h>
#include <re_main.h>

#include "net/httpc.h"

#define CONNECT_MS 5000
#define TOTAL_MS   60000
#define HEAD_MAX   16384 /* response header bytes kept; the rest dropped */
#define WHY_MAX    256

struct httpc {
	CURLM *multi;
	struct tmr tmr;  /* curl's timeout */
	struct tmr reap; /* transfers released inside curl's callbacks */
	struct list xfers;
	unsigned depth; /* inside curl_multi_socket_action */
	bool global;    /* curl_global_init succeeded */
};

/* A socket curl asked us to watch. */
struct sock {
	struct httpc *c;
	curl_socket_t fd;
};

struct xfer {
	struct le le; /* in httpc.xfers */
	struct httpc *c;
	struct httpc_req *req; /* NULL once released */
	CURL *easy;
	struct curl_slist *hdrs;
	bool in_multi;
	bool head_done;
	bool finished;
	long status;
	char head[HEAD_MAX];
	size_t hlen;
	struct tmr idle;
	unsigned idle_ms;
	bool idle_fired;
	char cerr[CURL_ERROR_SIZE];
};

struct httpc_req {
	struct xfer *x;
	httpc_head_h *headh;
	httpc_body_h *bodyh;
	httpc_done_h *doneh;
	void *arg;
};

static void check_done(struct httpc *c);

/* ---- transfers -------------------------------------------------------- */

static void xfer_free(struct xfer *x)
{
	tmr_cancel(&x->idle);
	list_unlink(&x->le);
	if (x->in_multi)
		curl_multi_remove_handle(x->c->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	free(x);
}

static void reap(struct httpc *c)
{
	struct le *le = list_head(&c->xfers);

	if (c->depth)
		return;
	while (le) {
		struct xfer *x = le->data;

		le = le->next;
		if (!x->req)
			xfer_free(x);
	}
}

static void reap_handler(void *arg)
{
	reap(arg);
}

static void req_destructor(void *arg)
{
	struct httpc_req *r = arg;
	struct xfer *x = r->x;

	if (!x)
		return;
	x->req = NULL;
	tmr_cancel(&x->idle);
	if (x->c->depth)
		tmr_start(&x->c->reap, 0, reap_handler, x->c);
	else
		xfer_free(x);
}

static void why_fmt(char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void why_fmt(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(why, WHY_MAX, fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
	for (char *p = why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* Ends the transfer and tells its request; x is out of curl's hands. */
static void finish(struct xfer *x, int err, const char *why)
{
	struct httpc_req *r = x->req;

	tmr_cancel(&x->idle);
	if (x->in_multi) {
		curl_multi_remove_handle(x->c->multi, x->easy);
		x->in_multi = false;
	}
	x->finished = true;
	if (r && r->doneh)
		r->doneh(err,
		         (uint16_t)(x->status > 0 && x->status < 1000
		                        ? x->status
		                        : 0),
		         why, r->arg);
}

static int code_err(CURLcode res, long status)
{
	switch (res) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_UNSUPPORTED_PROTOCOL: /* HTTP/0.9: not an HTTP server */
		return EPROTO;
	case CURLE_RECV_ERROR:
		return status ? EPROTO : EIO;
	default:
		return EIO;
	}
}

static void done_msg(struct xfer *x, CURLcode res)
{
	char why[WHY_MAX];
	int err;

	if (!x->status)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	err = code_err(res, x->status);
	if (!err)
		why_fmt(why, "HTTP %ld", x->status);
	else if (x->cerr[0])
		why_fmt(why, "%s", x->cerr);
	else
		why_fmt(why, "%s", curl_easy_strerror(res));
	finish(x, err, why);
}

static void check_done(struct httpc *c)
{
	CURLMsg *m;
	int left;

	if (c->depth)
		return;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		if (!x || !x->in_multi)
			continue;
		/* m is invalid once the handle is removed. */
		done_msg(x, m->data.result);
	}
	reap(c);
}

static void action(struct httpc *c, curl_socket_t fd, int ev)
{
	int running;

	c->depth++;
	(void)curl_multi_socket_action(c->multi, fd, ev, &running);
	c->depth--;
	check_done(c);
}

/* ---- curl's callbacks ------------------------------------------------- */

static void idle_fired(void *arg)
{
	struct xfer *x = arg;
	char why[WHY_MAX];

	x->idle_fired = true;
	why_fmt(why, "no data from the server for %u ms", x->idle_ms);
	finish(x, ETIMEDOUT, why);
}

static void idle_reset(struct xfer *x)
{
	if (x->idle_ms && !x->finished)
		tmr_start(&x->idle, x->idle_ms, idle_fired, x);
}

static void head_complete(struct xfer *x)
{
	struct httpc_req *r = x->req;

	if (x->head_done)
		return;
	x->head_done = true;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (r && r->headh)
		r->headh((uint16_t)(x->status > 0 && x->status < 1000
		                        ? x->status
		                        : 0),
		         r->arg);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (!x->req || x->finished)
		return 0;
	idle_reset(x);
	/* A new status line: a 1xx or a redirect's headers are not the
	 * response's. */
	if (n >= 5 && !strncmp(ptr, "HTTP/", 5)) {
		x->hlen = 0;
		x->head_done = false;
	}
	if (x->hlen + n <= sizeof(x->head)) {
		memcpy(x->head + x->hlen, ptr, n);
		x->hlen += n;
	}
	if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') ||
	    (n == 1 && ptr[0] == '\n')) {
		long code = 0;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200)
			head_complete(x);
	}
	return x->req ? n : 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (!x->req || x->finished)
		return 0;
	idle_reset(x);
	head_complete(x);
	if (n && x->req && x->req->bodyh)
		x->req->bodyh((const uint8_t *)ptr, n, x->req->arg);
	/* A short count makes curl abort: the request was released. */
	return x->req ? n : 0;
}

static void sock_handler(int flags, void *arg)
{
	struct sock *s = arg;
	int ev = 0;

	if (flags & FD_READ)
		ev |= CURL_CSELECT_IN;
	if (flags & FD_WRITE)
		ev |= CURL_CSELECT_OUT;
	if (flags & FD_EXCEPT)
		ev |= CURL_CSELECT_ERR;
	/* s may be freed by curl's socket callback inside. */
	action(s->c, s->fd, ev);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
	struct httpc *c = userp;
	struct sock *s = socketp;
	int flags = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		fd_close(fd);
		if (s) {
			curl_multi_assign(c->multi, fd, NULL);
			free(s);
		}
		return 0;
	}
	if (!s) {
		s = malloc(sizeof(*s));
		if (!s)
			return -1;
		s->c = c;
		s->fd = fd;
		if (curl_multi_assign(c->multi, fd, s) != CURLM_OK) {
			free(s);
			return -1;
		}
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		flags |= FD_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		flags |= FD_WRITE;
	return fd_listen(fd, flags, sock_handler, s) ? -1 : 0;
}

static void tmr_handler(void *arg)
{
	action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *c = userp;

	(void)multi;
	if (timeout_ms < 0)
		tmr_cancel(&c->tmr);
	else
		tmr_start(&c->tmr, (uint64_t)timeout_ms, tmr_handler, c);
	return 0;
}

/* ---- the client ------------------------------------------------------- */

static void httpc_destructor(void *arg)
{
	struct httpc *c = arg;
	struct le *le;

	tmr_cancel(&c->tmr);
	tmr_cancel(&c->reap);
	while ((le = list_head(&c->xfers))) {
		struct xfer *x = le->data;

		if (x->req)
			x->req->x = NULL;
		xfer_free(x);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->global)
		curl_global_cleanup();
}

int httpc_alloc(struct httpc **cp)
{
	struct httpc *c;
	bool bad = false;

	if (!cp)
		return EINVAL;
	c = mem_zalloc(sizeof(*c), httpc_destructor);
	if (!c)
		return ENOMEM;
	tmr_init(&c->tmr);
	tmr_init(&c->reap);
	list_init(&c->xfers);
	/* Counted and thread-safe since libcurl 7.84. */
	c->global = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	c->multi = c->global ? curl_multi_init() : NULL;
	if (!c->multi) {
		mem_deref(c);
		return EIO;
	}
	bad |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION,
	                         on_socket) != CURLM_OK;
	bad |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK;
	bad |= curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer) !=
	       CURLM_OK;
	bad |= curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK;
	if (bad) {
		mem_deref(c);
		return EIO;
	}
	*cp = c;
	return 0;
}

unsigned httpc_active(const struct httpc *c)
{
	unsigned n = 0;

	if (!c)
		return 0;
	for (struct le *le = list_head(&c->xfers); le; le = le->next) {
		const struct xfer *x = le->data;

		n += x->in_multi;
	}
	return n;
}

static int easy_setup(struct xfer *x, const struct httpc_prm *prm)
{
	CURL *e = x->easy;
	bool bad = false;
	const char *method = prm->method;

	bad |= curl_easy_setopt(e, CURLOPT_URL, prm->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->cerr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "voxgate") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK;
	bad |=
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                     (long)(prm->connect_ms ? prm->connect_ms
	                                            : CONNECT_MS)) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	                        (long)(prm->total_ms ? prm->total_ms
	                                             : TOTAL_MS)) != CURLE_OK;
	bad |=
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
	if (prm->body) {
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		                        (curl_off_t)prm->body_len) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, prm->body) !=
		       CURLE_OK;
	} else if (!method || !strcmp(method, "GET")) {
		bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	}
	if (method && strcmp(method, prm->body ? "POST" : "GET"))
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) !=
		       CURLE_OK;
	return bad ? ENOMEM : 0;
}

static int headers_make(struct xfer *x, const char *const *extra)
{
	struct curl_slist *h;

	/* No 100-continue round trip before a body. */
	h = curl_slist_append(x->hdrs, "Expect:");
	if (!h)
		return ENOMEM;
	x->hdrs = h;
	for (size_t i = 0; extra && extra[i]; i++) {
		h = curl_slist_append(x->hdrs, extra[i]);
		if (!h)
			return ENOMEM;
		x->hdrs = h;
	}
	return 0;
}

int httpc_request(struct httpc_req **rp, struct httpc *c,
                  const struct httpc_prm *prm, httpc_head_h *headh,
                  httpc_body_h *bodyh, httpc_done_h *doneh, void *arg)
{
	struct httpc_req *r;
	struct xfer *x;
	int err;

	if (!rp || !c || !prm || !prm->url ||
	    (strncasecmp(prm->url, "http://", 7) &&
	     strncasecmp(prm->url, "https://", 8)) ||
	    (prm->body_len && !prm->body))
		return EINVAL;
	r = mem_zalloc(sizeof(*r), req_destructor);
	x = calloc(1, sizeof(*x));
	if (!r || !x) {
		free(x);
		mem_deref(r);
		return ENOMEM;
	}
	x->c = c;
	x->idle_ms = prm->idle_ms;
	tmr_init(&x->idle);
	r->headh = headh;
	r->bodyh = bodyh;
	r->doneh = doneh;
	r->arg = arg;
	x->easy = curl_easy_init();
	err = x->easy ? headers_make(x, prm->headers) : ENOMEM;
	if (!err)
		err = easy_setup(x, prm);
	if (!err && curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
		err = ENOMEM;
	if (err) {
		curl_easy_cleanup(x->easy);
		curl_slist_free_all(x->hdrs);
		free(x);
		mem_deref(r);
		return err;
	}
	x->in_multi = true;
	x->req = r;
	r->x = x;
	list_append(&c->xfers, &x->le, x);
	idle_reset(x);
	*rp = r;
	return 0;
}

bool httpc_header(const struct httpc_req *r, const char *name, char *out,
                  size_t size)
{
	const struct xfer *x = r ? r->x : NULL;
	size_t nl = name ? strlen(name) : 0, i = 0;
	bool found = false;

	if (!x || !nl || !out || !size)
		return false;
	while (i < x->hlen) {
		const char *line = x->head + i;
		const char *end = memchr(line, '\n', x->hlen - i);
		size_t len = end ? (size_t)(end - line) : x->hlen - i;

		i += len + (end ? 1 : 0);
		if (len > nl && !strncasecmp(line, name, nl) &&
		    line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t vl = len - nl - 1, k;

			while (vl && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			k = vl < size - 1 ? vl : size - 1;
			memcpy(out, v, k);
			out[k] = '\0';
			found = true;
		}
	}
	return found;
}
