/*
 * A WebSocket server on the test thread's own libre loop, plain or over
 * TLS, for tests that script a provider message by message (wsc,
 * wsvoice): each connection's upgrade request is kept and answered (a 101
 * unless the test's upgradeh answers it otherwise), then each whole client
 * frame goes to the test's frameh, unmasked, while wsl->cur is its
 * connection, so that wsl_send and wsl_frame answer on it. Include after
 * libre's headers (re_tcp.h and re_tls.h among them) and jansson, if any.
 */
#ifndef VOXGATE_WS_STANDIN_LOOP_H
#define VOXGATE_WS_STANDIN_LOOP_H

#include "ws_standin.h"

struct wsl_srv;

struct wsl_conn {
	struct le le;
	struct wsl_srv *srv;
	struct tcp_conn *tc;
	struct tls_conn *tlsc;
	uint8_t *in;
	size_t in_len;
	bool upgraded;
};

struct wsl_srv {
	struct tcp_sock *ts;
	struct tls *tls;
	struct list conns;
	uint16_t port;
	unsigned accepted, upgrades;
	char request[4096];   /* the last upgrade request, its head */
	struct wsl_conn *cur; /* the connection being served */
	/* The request is in request: answer it (wsl_upgrade for a 101, or
	 * wsl_send for anything else). NULL: a 101. */
	void (*upgradeh)(struct wsl_srv *s);
	void (*frameh)(struct wsl_srv *s, const struct ws_frame_in *f);
};

static inline void wsl_send(struct wsl_srv *s, const void *p, size_t n)
{
	struct mbuf *mb = mbuf_alloc(n ? n : 1);

	if (mb && s->cur && s->cur->tc && !mbuf_write_mem(mb, p, n)) {
		mb->pos = 0;
		tcp_send(s->cur->tc, mb);
	}
	mem_deref(mb);
}

/* A server frame; b0 is its first byte (FIN and opcode). */
static inline void wsl_frame(struct wsl_srv *s, uint8_t b0, const void *p,
                             size_t n)
{
	uint8_t *f = malloc(n + 10);

	if (f)
		wsl_send(s, f, ws_frame(f, b0, p, n));
	free(f);
}

/* Cuts the connection being served, without a close frame. */
static inline void wsl_cut(struct wsl_srv *s)
{
	s->cur->tlsc = mem_deref(s->cur->tlsc);
	s->cur->tc = mem_deref(s->cur->tc);
}

/* The 101, with accept (NULL: the request's own) and extra bytes in the
 * same segment. */
static inline void wsl_upgrade(struct wsl_srv *s, const char *accept,
                               const void *extra, size_t extra_n)
{
	char acc[32], out[1024];
	size_t l;

	ws_accept_of(s->request, acc);
	l = ws_101(out, sizeof(out), accept ? accept : acc);
	if (extra_n && extra_n <= sizeof(out) - l) {
		memcpy(out + l, extra, extra_n);
		l += extra_n;
	}
	wsl_send(s, out, l);
	s->cur->upgraded = true;
	s->upgrades++;
}

static inline void wsl_frames(struct wsl_srv *s)
{
	struct wsl_conn *c = s->cur;
	struct ws_frame_in f;
	size_t used;

	while (c->tc && (used = ws_frame_take(c->in, c->in_len, &f))) {
		if (s->frameh)
			s->frameh(s, &f);
		if (!c->tc)
			return;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
}

static inline void wsl_recv_h(struct mbuf *mb, void *arg)
{
	struct wsl_conn *c = arg;
	struct wsl_srv *s = c->srv;
	size_t n = mbuf_get_left(mb);
	uint8_t *in = realloc(c->in, c->in_len + n);

	if (!in)
		return;
	c->in = in;
	memcpy(c->in + c->in_len, mbuf_buf(mb), n);
	c->in_len += n;
	s->cur = c;
	if (!c->upgraded) {
		uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		size_t hl;

		if (!end)
			goto out;
		hl = (size_t)(end + 4 - c->in);
		snprintf(s->request, sizeof(s->request), "%.*s", (int)hl,
		         c->in);
		memmove(c->in, c->in + hl, c->in_len - hl);
		c->in_len -= hl;
		if (s->upgradeh)
			s->upgradeh(s);
		else
			wsl_upgrade(s, NULL, NULL, 0);
	}
	if (c->upgraded && c->tc)
		wsl_frames(s);
out:
	s->cur = NULL;
}

static inline void wsl_conn_free(struct wsl_conn *c)
{
	list_unlink(&c->le);
	mem_deref(c->tlsc);
	mem_deref(c->tc);
	free(c->in);
	free(c);
}

static inline void wsl_close_h(int err, void *arg)
{
	(void)err;
	wsl_conn_free(arg);
}

static inline void wsl_conn_h(const struct sa *peer, void *arg)
{
	struct wsl_srv *s = arg;
	struct wsl_conn *c = calloc(1, sizeof(*c));

	(void)peer;
	if (!c)
		return;
	c->srv = s;
	list_append(&s->conns, &c->le, c);
	s->accepted++;
	if (tcp_accept(&c->tc, s->ts, NULL, wsl_recv_h, wsl_close_h, c) ||
	    (s->tls && tls_start_tcp(&c->tlsc, s->tls, c->tc, 0)))
		wsl_conn_free(c);
}

/* Every connection and the listener gone; the counters and the last
 * request stay until the next start. */
static inline void wsl_stop(struct wsl_srv *s)
{
	while (list_head(&s->conns))
		wsl_conn_free(list_head(&s->conns)->data);
	s->ts = mem_deref(s->ts);
	s->tls = mem_deref(s->tls);
}

/* Listens on 127.0.0.1 (s->port), over TLS with chain (a PEM file of the
 * certificate and its key) unless NULL; the handlers as set in s. */
static inline int wsl_start(struct wsl_srv *s, const char *chain)
{
	struct sa sa;
	int err;

	wsl_stop(s);
	s->accepted = s->upgrades = 0;
	s->request[0] = '\0';
	if (chain) {
		err = tls_alloc(&s->tls, TLS_METHOD_SSLV23, chain, NULL);
		if (err)
			return err;
	}
	sa_set_str(&sa, "127.0.0.1", 0);
	err = tcp_listen(&s->ts, &sa, wsl_conn_h, s);
	if (err)
		return err;
	tcp_sock_local_get(s->ts, &sa);
	s->port = sa_port(&sa);
	return 0;
}

#endif
