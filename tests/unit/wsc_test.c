/*
 * The WebSocket client against a server this test runs on 127.0.0.1, on
 * the same libre loop (ws_standin_loop.h), scripted here so that it can
 * misbehave on purpose (refuse, answer with a wrong key, never answer,
 * announce huge frames, cut the line mid-frame), plain and over TLS with
 * a CA and certificate made by the openssl command.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <re.h>
#include "core/log.h"
#include "net/conngate.h"
#include "net/wsc.h"
#include "allocs.h"
#include "test.h"
#include "ws_standin_loop.h"

/* ---- the server ---- */

enum mode {
	M_ECHO,       /* echoes messages, answers pings, runs commands */
	M_REFUSE,     /* 401 with a JSON body, in one segment */
	M_REFUSE_CH,  /* 429, body chunked, in two segments */
	M_REFUSE_EOF, /* 503, a text body ended by closing the connection */
	M_REFUSE_KEY, /* 403 whose JSON message quotes the request's key */
	M_REFUSE_REQ, /* 400 whose text body is the request, key and all */
	M_BADACCEPT,  /* 101 with a wrong Sec-WebSocket-Accept */
	M_SILENT,     /* takes the connection, never answers */
	M_COMBINED,   /* 101 and a first frame in one segment */
	M_SINK,       /* reads messages, echoes none, counts their bytes */
	M_DEAF,       /* opens, then answers nothing (no pong either) */
};

struct srv {
	struct wsl_srv ws;
	enum mode mode;
	unsigned frames;
	bool all_masked;
	uint32_t keys[4];
	unsigned nkeys;
	int close_code; /* received, -1 none */
	char close_reason[128];
	char pong[128];
	unsigned pongs;
	uint64_t sink_bytes, sink_sum;
};

static struct srv srv;
static void srv_send(const void *p, size_t n)
{
	wsl_send(&srv.ws, p, n);
}

static void srv_frame(uint8_t b0, const void *p, size_t n)
{
	wsl_frame(&srv.ws, b0, p, n);
}

static void srv_command(const char *c, size_t n)
{
	uint8_t buf[64];

	if (n == 4 && !memcmp(c, "frag", 4)) {
		srv_frame(0x01, "Hel", 3);
		srv_frame(0x89, "p1", 2); /* a ping between fragments */
		srv_frame(0x00, "lo ", 3);
		srv_frame(0x80, "world", 5);
	} else if (n > 5 && !memcmp(c, "ping:", 5)) {
		srv_frame(0x89, c + 5, n - 5);
	} else if (n == 5 && !memcmp(c, "close", 5)) {
		uint8_t pl[] = {0x0f, 0xa0, 'b', 'y', 'e', ' ', 'n', 'o', 'w'};

		srv_frame(0x88, pl, sizeof(pl));
	} else if (n == 4 && !memcmp(c, "huge", 4)) {
		/* a 64-bit length near 2^64: libre's decoder wraps on it */
		uint8_t h[] = {0x82, 0x7f, 0xff, 0xff, 0xff, 0xff,
		               0xff, 0xff, 0xff, 0xf0, 1,    2};
		srv_send(h, sizeof(h));
	} else if (n == 5 && !memcmp(c, "huge2", 5)) {
		uint8_t h[] = {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff,
		               0xff, 0xff, 0xff, 0xff, 1,    2};
		srv_send(h, sizeof(h));
	} else if (n == 3 && !memcmp(c, "big", 3)) {
		uint8_t z[400];

		memset(z, 'z', sizeof(z));
		srv_frame(0x02, z, sizeof(z));
		srv_frame(0x00, z, sizeof(z));
		srv_frame(0x80, z, sizeof(z));
	} else if (n == 3 && !memcmp(c, "mid", 3)) {
		uint8_t h[12] = {0x82, 100};

		memset(h + 2, 'm', 10);
		srv_send(h, sizeof(h));
		wsl_cut(&srv.ws);
	} else if (n == 7 && !memcmp(c, "badutf8", 7)) {
		srv_frame(0x81, "\xc3\x28", 2);
	} else if (n == 3 && !memcmp(c, "two", 3)) {
		size_t l = ws_frame(buf, 0x81, "one", 3);

		l += ws_frame(buf + l, 0x81, "two", 3);
		srv_send(buf, l);
	}
}

/* A client frame: the keys seen, then as the mode says. */
static void srv_frame_h(struct wsl_srv *ws, const struct ws_frame_in *f)
{
	const uint8_t *p = f->p;
	size_t n = f->n;
	uint32_t k32;
	bool seen = false;

	(void)ws;
	if (!f->masked)
		srv.all_masked = false;
	memcpy(&k32, f->key, 4);
	for (unsigned i = 0; i < srv.nkeys; i++)
		seen |= srv.keys[i] == k32;
	if (!seen && srv.nkeys < 4)
		srv.keys[srv.nkeys++] = k32;
	srv.frames++;
	if (f->op == 0x8) {
		srv.close_code = n >= 2 ? p[0] << 8 | p[1] : 0;
		snprintf(srv.close_reason, sizeof(srv.close_reason), "%.*s",
		         n >= 2 ? (int)n - 2 : 0, p + 2);
		if (srv.mode != M_DEAF)
			srv_frame(0x88, p, n); /* the echo */
	} else if (f->op == 0x9) {
		if (srv.mode != M_DEAF)
			srv_frame(0x8a, p, n);
	} else if (f->op == 0xa) {
		srv.pongs++;
		snprintf(srv.pong, sizeof(srv.pong), "%.*s", (int)n, p);
	} else if (srv.mode == M_SINK) {
		for (size_t i = 0; i < n; i++)
			srv.sink_sum = srv.sink_sum * 31 + p[i];
		srv.sink_bytes += n;
	} else if (srv.mode == M_DEAF) {
		/* nothing */
	} else if (n > 4 && !memcmp(p, "cmd:", 4)) {
		srv_command((const char *)p + 4, n - 4);
	} else {
		srv_frame((uint8_t)(0x80 | f->op), p, n);
	}
}

/* The upgrade request, in srv.ws.request: answered as the mode says. */
static void srv_upgrade_h(struct wsl_srv *ws)
{
	char out[1024];
	uint8_t first[16];
	size_t l;

	switch (srv.mode) {
	case M_REFUSE: {
		const char *body = "{\"err_code\":\"INVALID_AUTH\","
		                   "\"err_msg\":\"Invalid credentials.\","
		                   "\"request_id\":\"r1\"}";

		l = (size_t)snprintf(out, sizeof(out),
		                     "HTTP/1.1 401 Unauthorized\r\n"
		                     "Content-Type: application/json\r\n"
		                     "Content-Length: %zu\r\n\r\n%s",
		                     strlen(body), body);
		srv_send(out, l);
		return;
	}
	case M_REFUSE_CH: {
		const char *a = "HTTP/1.1 429 Too Many Requests\r\n"
		                "Transfer-Encoding: chunked\r\n\r\n"
		                "2a\r\n{\"error\":{\"message\":\"Rate limit";
		const char *b = " reached\"}}\r\n0\r\n\r\n";

		srv_send(a, strlen(a));
		srv_send(b, strlen(b));
		return;
	}
	case M_REFUSE_EOF: {
		const char *a = "HTTP/1.1 503 Service Unavailable\r\n"
		                "Connection: close\r\n\r\n"
		                "upstream\nbusy";

		srv_send(a, strlen(a));
		wsl_cut(ws);
		return;
	}
	case M_REFUSE_KEY: {
		/* the key whole, escaped, alone, and across the cut of the
		 * reason's 200 bytes */
		char body[700];
		size_t bl = (size_t)snprintf(
		    body, sizeof(body),
		    "{\"err_msg\":\"Authorization: Token sekrit-key refused, "
		    "sekrit\\u002dkey is not a key we know; %0120d "
		    "sekrit-key\"}",
		    0);

		l = (size_t)snprintf(out, sizeof(out),
		                     "HTTP/1.1 403 Forbidden\r\n"
		                     "Content-Length: %zu\r\n\r\n%s",
		                     bl, body);
		srv_send(out, l);
		return;
	}
	case M_REFUSE_REQ: {
		char body[600];
		size_t bl = (size_t)snprintf(body, sizeof(body),
		                             "bad request:\n%s", ws->request);

		l = (size_t)snprintf(out, sizeof(out),
		                     "HTTP/1.1 400 Bad Request\r\n"
		                     "Content-Length: %zu\r\n\r\n%s",
		                     bl, body);
		srv_send(out, l);
		return;
	}
	case M_SILENT:
		return;
	case M_BADACCEPT:
		wsl_upgrade(ws, "dGhlIHNhbXBsZSBub25jZQ==", NULL, 0);
		return;
	case M_COMBINED:
		wsl_upgrade(ws, NULL, first, ws_frame(first, 0x81, "first", 5));
		return;
	default:
		wsl_upgrade(ws, NULL, NULL, 0);
		return;
	}
}

static void srv_stop(void)
{
	wsl_stop(&srv.ws);
}

/* tls: 0 none, 1 the certificate for 127.0.0.1 and localhost, 2 one for
 * another name */
static int srv_start(enum mode mode, int tls)
{
	static char chain[300];

	srv_stop();
	memset(&srv, 0, sizeof(srv));
	srv.mode = mode;
	srv.close_code = -1;
	srv.all_masked = true;
	srv.ws.upgradeh = srv_upgrade_h;
	srv.ws.frameh = srv_frame_h;
	if (tls)
		snprintf(chain, sizeof(chain), "%s/%s_chain.pem",
		         getenv("WSC_TEST_DIR"), tls == 1 ? "srv" : "other");
	return wsl_start(&srv.ws, tls ? chain : NULL);
}

/* ---- the client's side ---- */

struct cli {
	struct wsc *w;
	bool opened, closed, free_on_msg;
	unsigned close_at; /* wsc_close after this many messages */
	struct wsc_end end;
	char reason[320], body[WSC_BODY_MAX + 1];
	unsigned msgs, writable;
	enum wsc_op last_op;
	uint8_t *last;
	size_t last_n;
	char texts[256];
	void (*on_open)(struct cli *c);
};

static struct cli cli;
static struct tmr guard;
static bool guard_fired;

static void guard_h(void *arg)
{
	(void)arg;
	guard_fired = true;
	re_cancel();
}

/* Runs the loop until the socket ends (or ms pass); true if it ended. */
static bool run(uint32_t ms)
{
	guard_fired = false;
	tmr_start(&guard, ms, guard_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&guard);
	return !guard_fired;
}

static void open_h(void *arg)
{
	struct cli *c = arg;

	c->opened = true;
	if (c->on_open)
		c->on_open(c);
}

static void msg_h(enum wsc_op op, const uint8_t *p, size_t n, void *arg)
{
	struct cli *c = arg;

	c->msgs++;
	c->last_op = op;
	c->last = realloc(c->last, n ? n : 1);
	memcpy(c->last, p, n);
	c->last_n = n;
	if (op == WSC_TEXT)
		snprintf(c->texts + strlen(c->texts),
		         sizeof(c->texts) - strlen(c->texts), "%s%.*s",
		         c->texts[0] ? "|" : "", (int)n, p);
	if (c->close_at && c->msgs == c->close_at)
		wsc_close(c->w, 1000, "done");
	if (c->free_on_msg) {
		c->w = mem_deref(c->w);
		re_cancel();
	}
}

static void writable_h(void *arg)
{
	struct cli *c = arg;

	c->writable++;
}

static void close_h(const struct wsc_end *end, void *arg)
{
	struct cli *c = arg;

	c->closed = true;
	c->end = *end;
	snprintf(c->reason, sizeof(c->reason), "%s", end->reason);
	snprintf(c->body, sizeof(c->body), "%s", end->body);
	c->end.reason = c->reason;
	c->end.body = c->body;
	re_cancel();
}

static const struct wsc_header test_headers[] = {
    {"Authorization", "Token sekrit-key"},
    {"Cartesia-Version", "2024-06-10"},
};

static int cli_start(const char *scheme, const char *host, const char *q,
                     struct wsc_prm *over)
{
	struct wsc_prm prm = {0};
	char url[256];
	const char *why = NULL;

	free(cli.last);
	memset(&cli, 0, sizeof(cli));
	snprintf(url, sizeof(url), "%s://%s:%u/v1/listen%s", scheme,
	         host ? host : "127.0.0.1", srv.ws.port, q ? q : "");
	if (over)
		prm = *over;
	prm.url = url;
	prm.headerv = test_headers;
	prm.headerc = 2;
	prm.label = "test";
	prm.openh = open_h;
	prm.msgh = msg_h;
	prm.writableh = writable_h;
	prm.closeh = close_h;
	prm.arg = &cli;
	return wsc_alloc(&cli.w, &prm, &why);
}

static void cli_end(void)
{
	cli.w = mem_deref(cli.w);
	free(cli.last);
	cli.last = NULL;
}

/* ---- the frame reader alone ---- */

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

TEST(rx_any_split)
{
	/* "Hel" + ping + "lo" (fragmented), a 126-byte binary, a close */
	char hex[1024];
	uint8_t in[512];
	int k = snprintf(hex, sizeof(hex), "%s",
	                 "010348656c89026869"
	                 "80026c6f827e007e");
	size_t n;

	for (int i = 0; i < 126; i++)
		k += snprintf(hex + k, sizeof(hex) - (size_t)k, "%02x", i);
	snprintf(hex + k, sizeof(hex) - (size_t)k, "%s",
	         "880503e8627965" /* 1000 "bye" */);
	n = unhex(hex, in);
	for (size_t step = 1; step <= n; step++) {
		struct wsc_rx rx;
		char got[64] = "";
		size_t at = 0;

		wsc_rx_init(&rx, 0);
		while (at < n) {
			size_t piece = n - at < step ? n - at : step, off = 0;

			while (off < piece) {
				struct wsc_frame f;
				uint16_t code = 0;
				const char *why = NULL;
				size_t used, left = piece - off;
				int err =
				    wsc_rx_next(&rx, in + at + off, piece - off,
				                &used, &f, &code, &why);

				CHECK_EQ(err, 0);
				off += used;
				if (f.op == WSC_TEXT)
					snprintf(got + strlen(got),
					         sizeof(got) - strlen(got),
					         "T%.*s", (int)f.n, f.p);
				else if (f.op == WSC_BINARY)
					snprintf(got + strlen(got),
					         sizeof(got) - strlen(got),
					         "B%zu:%u", f.n, f.p[125]);
				else if (f.op == WSC_PING)
					snprintf(got + strlen(got),
					         sizeof(got) - strlen(got),
					         "P%.*s", (int)f.n, f.p);
				else if (f.op == WSC_CLOSE)
					snprintf(got + strlen(got),
					         sizeof(got) - strlen(got),
					         "C%u%s", f.close_code,
					         f.close_reason);
				else
					CHECK_EQ(used, left);
			}
			at += piece;
		}
		CHECK_STR(got, "PhiTHelloB126:125C1000bye");
		CHECK(!wsc_rx_mid_frame(&rx));
		CHECK_EQ(rx.frames, 5);
		wsc_rx_reset(&rx);
	}
	return 0;
}

TEST(rx_hostile)
{
	static const struct {
		const char *hex;
		int err;
		uint16_t code;
	} cases[] = {
	    {"827fffffffffffffffff", EPROTO, 1002}, /* near 2^64 */
	    {"827f7fffffffffffffff", EMSGSIZE, 1009},
	    {"827f0000000000000010", EPROTO, 1002}, /* not shortest */
	    {"827e0010", EPROTO, 1002},
	    {"82810102030441", EPROTO, 1002}, /* masked */
	    {"c200", EPROTO, 1002},           /* RSV1 */
	    {"8300", EPROTO, 1002},
	    {"8b00", EPROTO, 1002},
	    {"097e00ff", EPROTO, 1002}, /* fragmented, long control */
	    {"8000", EPROTO, 1002},     /* continuation first */
	    {"01014181014242", EPROTO, 1002},
	    {"8102c328", EILSEQ, 1007},
	    {"880103", EPROTO, 1002},
	    {"880203ed", EPROTO, 1002}, /* 1005 on the wire */
	    {"880403e8c328", EILSEQ, 1007},
	    {"827e0400", EMSGSIZE, 1009}, /* over a 1000-byte limit */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wsc_rx rx;
		struct wsc_frame f;
		uint8_t in[64];
		size_t n = unhex(cases[i].hex, in), used;
		uint16_t code = 0;
		const char *why = NULL;

		wsc_rx_init(&rx, 1000);
		CHECK_EQ(wsc_rx_next(&rx, in, n, &used, &f, &code, &why),
		         cases[i].err);
		CHECK_EQ(code, cases[i].code);
		CHECK(why != NULL);
		wsc_rx_reset(&rx);
	}
	return 0;
}

/* A message over the limit in fragments: refused at the frame that
 * passes it, before its payload arrives. */
TEST(rx_message_limit)
{
	struct wsc_rx rx;
	struct wsc_frame f;
	uint8_t in[700];
	size_t used;
	uint16_t code = 0;
	const char *why = NULL;

	wsc_rx_init(&rx, 1000);
	memset(in, 0, sizeof(in));
	in[0] = 0x02;
	in[1] = 126;
	in[2] = 600 >> 8;
	in[3] = 600 & 0xff;
	CHECK_EQ(wsc_rx_next(&rx, in, 604, &used, &f, &code, &why), 0);
	CHECK_EQ(f.op, WSC_CONT);
	in[0] = 0x80;
	CHECK_EQ(wsc_rx_next(&rx, in, 4, &used, &f, &code, &why), EMSGSIZE);
	CHECK_EQ(code, 1009);
	wsc_rx_reset(&rx);
	return 0;
}

/* ---- the socket ---- */

static void echo_open(struct cli *c)
{
	static uint8_t big[70000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	wsc_send(c->w, WSC_TEXT, "hello", 5);
	wsc_send(c->w, WSC_PING, "pp", 2);
	wsc_send(c->w, WSC_BINARY, big, sizeof(big));
}

TEST(echo_and_close)
{
	struct wsc_stats st;
	struct wsc_totals t0, t1;

	wsc_totals(&t0);
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, "?model=nova-2&encoding=mulaw", NULL),
	         0);
	cli.on_open = echo_open;
	cli.close_at = 2; /* after the echo of the big message */
	CHECK_EQ(wsc_send(cli.w, WSC_TEXT, "early", 5), ENOTCONN);
	CHECK(run(3000));
	CHECK(cli.opened);
	CHECK(cli.closed);
	CHECK_EQ(cli.msgs, 2);
	CHECK_STR(cli.texts, "hello");
	CHECK_EQ(cli.last_op, WSC_BINARY);
	CHECK_EQ(cli.last_n, 70000);
	CHECK_EQ(cli.last[69999], (uint8_t)(69999 * 7));
	CHECK_EQ(cli.end.err, 0);
	CHECK_EQ(cli.end.code, 1000);
	CHECK(!cli.end.by_server);
	CHECK_EQ(srv.close_code, 1000);
	CHECK_STR(srv.close_reason, "done");
	CHECK(srv.all_masked);
	CHECK(srv.nkeys >= 3);
	CHECK(
	    strstr(srv.ws.request,
	           "GET /v1/listen?model=nova-2&encoding=mulaw HTTP/1.1\r\n"));
	CHECK(
	    strstr(srv.ws.request, "\r\nAuthorization: Token sekrit-key\r\n"));
	CHECK(strstr(srv.ws.request, "\r\nCartesia-Version: 2024-06-10\r\n"));
	CHECK(strstr(srv.ws.request, "\r\nSec-WebSocket-Version: 13\r\n"));

	wsc_stats(cli.w, &st);
	CHECK_EQ(st.status, 101);
	CHECK_EQ(st.msgs_tx, 2);
	CHECK_EQ(st.msgs_rx, 2);
	CHECK_EQ(st.pings_tx, 1);
	CHECK_EQ(st.frames_tx, 4); /* text, ping, binary, close */
	CHECK_EQ(st.frames_rx, 4); /* text, pong, binary, close */
	CHECK(st.bytes_rx > 70000 && st.bytes_tx > 70000);
	CHECK_EQ(st.close_code, 1000);
	CHECK_EQ(wsc_send(cli.w, WSC_TEXT, "late", 4), ENOTCONN);
	cli_end();
	wsc_totals(&t1);
	CHECK_EQ(t1.opened - t0.opened, 1);
	CHECK_EQ(t1.closes[0] - t0.closes[0], 1);
	CHECK_EQ(t1.open_now, t0.open_now);
	srv_stop();
	return 0;
}

static void send_cmd(struct cli *c, const char *cmd)
{
	wsc_send(c->w, WSC_TEXT, cmd, strlen(cmd));
}

static void frag_open(struct cli *c)
{
	send_cmd(c, "cmd:frag");
	send_cmd(c, "cmd:ping:abc");
}

TEST(fragments_and_pings)
{
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	cli.on_open = frag_open;
	for (int i = 0; i < 20 && srv.pongs < 2; i++)
		run(100);
	CHECK_EQ(cli.msgs, 1);
	CHECK_STR(cli.texts, "Hello world");
	CHECK_EQ(srv.pongs, 2);
	CHECK_STR(srv.pong, "abc");
	CHECK(!cli.closed);
	cli_end();
	/* freed while open: a going-away close reaches the server */
	for (int i = 0; i < 10 && srv.close_code < 0; i++)
		run(50);
	CHECK_EQ(srv.close_code, 1001);
	srv_stop();
	return 0;
}

static void close_open(struct cli *c)
{
	send_cmd(c, "cmd:close");
}

TEST(server_closes)
{
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	cli.on_open = close_open;
	CHECK(run(2000));
	CHECK_EQ(cli.end.err, 0);
	CHECK_EQ(cli.end.code, 4000);
	CHECK_STR(cli.end.reason, "bye now");
	CHECK(cli.end.by_server);
	/* our answer echoes the code */
	for (int i = 0; i < 10 && srv.close_code < 0; i++)
		run(50);
	CHECK_EQ(srv.close_code, 4000);
	cli_end();
	srv_stop();
	return 0;
}

TEST(refused_json)
{
	struct wsc_totals t0, t1;

	wsc_totals(&t0);
	CHECK_EQ(srv_start(M_REFUSE, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	CHECK(run(2000));
	CHECK(!cli.opened);
	CHECK_EQ(cli.end.err, EPERM);
	CHECK_EQ(cli.end.status, 401);
	CHECK_STR(cli.end.reason, "HTTP 401: Invalid credentials.");
	CHECK(strstr(cli.end.body, "\"err_code\":\"INVALID_AUTH\""));
	cli_end();
	wsc_totals(&t1);
	CHECK_EQ(t1.refused - t0.refused, 1);
	CHECK_EQ(t1.failed - t0.failed, 1);

	CHECK_EQ(srv_start(M_REFUSE_CH, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	CHECK(run(3000));
	CHECK_EQ(cli.end.status, 429);
	CHECK_STR(cli.end.reason, "HTTP 429: Rate limit reached");
	CHECK_STR(cli.end.body, "{\"error\":{\"message\":\"Rate limit "
	                        "reached\"}}");
	cli_end();

	CHECK_EQ(srv_start(M_REFUSE_EOF, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	CHECK(run(3000));
	CHECK_EQ(cli.end.err, EPERM);
	CHECK_EQ(cli.end.status, 503);
	CHECK_STR(cli.end.reason, "HTTP 503: upstream busy");
	CHECK_STR(cli.end.body, "upstream\nbusy");
	cli_end();
	srv_stop();
	return 0;
}

TEST(bad_accept)
{
	CHECK_EQ(srv_start(M_BADACCEPT, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	CHECK(run(2000));
	CHECK(!cli.opened);
	CHECK_EQ(cli.end.err, EPROTO);
	CHECK_EQ(cli.end.status, 101);
	CHECK(strstr(cli.end.reason, "Sec-WebSocket-Accept"));
	cli_end();
	srv_stop();
	return 0;
}

static void huge_open(struct cli *c)
{
	send_cmd(c, "cmd:huge");
}

static void huge2_open(struct cli *c)
{
	send_cmd(c, "cmd:huge2");
}

static void big_open(struct cli *c)
{
	send_cmd(c, "cmd:big");
}

static void badutf8_open(struct cli *c)
{
	send_cmd(c, "cmd:badutf8");
}

/* What the log got while fn ran. */
static int logged(bool (*fn)(void), char *out, size_t sz)
{
	FILE *f = tmpfile();
	size_t n;
	bool ok;

	if (!f)
		return EIO;
	log_setup(LOGL_DEBUG, LOG_FORMAT_TEXT, f);
	ok = fn();
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, NULL);
	rewind(f);
	n = fread(out, 1, sz - 1, f);
	out[n] = '\0';
	fclose(f);
	return ok ? 0 : ETIMEDOUT;
}

static bool refuse_once(void)
{
	return cli_start("ws", NULL, NULL, NULL) == 0 && run(2000);
}

/* A refusal that quotes the key, or the whole request, is logged and
 * told with the key masked, and its message within bounds. */
TEST(refused_key_masked)
{
	char log[8192];

	CHECK_EQ(srv_start(M_REFUSE_KEY, 0), 0);
	CHECK_EQ(logged(refuse_once, log, sizeof(log)), 0);
	CHECK_EQ(cli.end.err, EPERM);
	CHECK_EQ(cli.end.status, 403);
	CHECK(strstr(log, "wsc_refused") != NULL);
	CHECK(strstr(log, "status=403") != NULL);
	CHECK(strstr(log, "sekri") == NULL);
	CHECK(strstr(cli.end.reason, "sekri") == NULL);
	/* the body as it came, but for the key: its escaped form stays */
	CHECK(strstr(cli.end.body, "sekrit-key") == NULL);
	CHECK(strstr(cli.end.body, "sekrit\\u002dkey") != NULL);
	CHECK(strstr(cli.end.reason,
	             "HTTP 403: Authorization: ****************"
	             " refused, ********** is not") == cli.end.reason);
	CHECK(strlen(cli.end.reason) <= strlen("HTTP 403: ") + 200);
	cli_end();

	CHECK_EQ(srv_start(M_REFUSE_REQ, 0), 0);
	CHECK_EQ(logged(refuse_once, log, sizeof(log)), 0);
	CHECK_EQ(cli.end.status, 400);
	CHECK(strstr(srv.ws.request, "Token sekrit-key") != NULL);
	CHECK(strstr(log, "wsc_refused") != NULL);
	CHECK(strstr(log, "sekri") == NULL);
	CHECK(strstr(cli.end.reason, "sekri") == NULL);
	CHECK(strstr(cli.end.body, "sekri") == NULL);
	/* a header that is no credential is left as it was */
	CHECK(strstr(cli.end.body, "Cartesia-Version: 2024-06-10") != NULL);
	CHECK(strstr(cli.end.reason, "HTTP 400: bad request: GET") ==
	      cli.end.reason);
	CHECK(strlen(cli.end.reason) <= strlen("HTTP 400: ") + 200);
	cli_end();
	srv_stop();
	return 0;
}

static int refused_frame(void (*on_open)(struct cli *), size_t max, int err,
                         uint16_t code)
{
	struct wsc_prm over = {.max_message = max};

	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, &over), 0);
	cli.on_open = on_open;
	CHECK(run(2000));
	CHECK(cli.opened);
	CHECK_EQ(cli.end.err, err);
	CHECK_EQ(cli.end.code, code);
	CHECK(!cli.end.by_server);
	CHECK_EQ(cli.msgs, 0);
	for (int i = 0; i < 10 && srv.close_code < 0; i++)
		run(50);
	CHECK_EQ(srv.close_code, code);
	cli_end();
	srv_stop();
	return 0;
}

TEST(hostile_frames)
{
	struct wsc_totals t0, t1;

	wsc_totals(&t0);
	CHECK_EQ(refused_frame(huge_open, 0, EPROTO, 1002), 0);
	CHECK_EQ(refused_frame(huge2_open, 0, EMSGSIZE, 1009), 0);
	CHECK_EQ(refused_frame(big_open, 1000, EMSGSIZE, 1009), 0);
	CHECK_EQ(refused_frame(badutf8_open, 0, EILSEQ, 1007), 0);
	wsc_totals(&t1);
	CHECK_EQ(t1.malformed - t0.malformed, 4);
	CHECK_EQ(t1.closes[2] - t0.closes[2], 1);
	CHECK_EQ(t1.closes[9] - t0.closes[9], 2);
	return 0;
}

TEST(silent_server)
{
	struct wsc_prm over = {.connect_ms = 300};
	uint64_t t0 = tmr_jiffies();

	CHECK_EQ(srv_start(M_SILENT, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, &over), 0);
	CHECK(run(3000));
	CHECK(!cli.opened);
	CHECK_EQ(cli.end.err, ETIMEDOUT);
	CHECK(strstr(cli.end.reason, "no answer to the upgrade within 300"));
	CHECK(tmr_jiffies() - t0 < 1000);
	cli_end();
	srv_stop();
	return 0;
}

static void mid_open(struct cli *c)
{
	send_cmd(c, "cmd:mid");
}

TEST(cut_mid_frame)
{
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	cli.on_open = mid_open;
	CHECK(run(2000));
	CHECK_EQ(cli.end.err, ECONNRESET);
	CHECK_EQ(cli.end.code, 1006);
	CHECK(cli.end.by_server);
	CHECK(strstr(cli.end.reason, "in the middle of a frame"));
	cli_end();
	srv_stop();
	return 0;
}

TEST(frame_with_the_101)
{
	CHECK_EQ(srv_start(M_COMBINED, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, NULL), 0);
	for (int i = 0; i < 20 && !cli.msgs; i++)
		run(50);
	CHECK(cli.opened);
	CHECK_EQ(cli.msgs, 1);
	CHECK_STR(cli.texts, "first");
	cli_end();
	srv_stop();
	return 0;
}

static void two_open(struct cli *c)
{
	send_cmd(c, "cmd:two");
}

/* The owner lets go inside msgh: the second message of the same read is
 * not delivered, nothing is touched after. */
TEST(free_in_handler)
{
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", "localhost", NULL, NULL), 0);
	cli.on_open = two_open;
	cli.free_on_msg = true;
	CHECK(run(2000) || cli.msgs);
	CHECK_EQ(cli.msgs, 1);
	CHECK_STR(cli.texts, "one");
	CHECK(cli.w == NULL);
	for (int i = 0; i < 10 && srv.close_code < 0; i++)
		run(50);
	CHECK_EQ(srv.close_code, 1001);
	srv_stop();
	return 0;
}

TEST(idle)
{
	/* wide enough that a loaded machine's slow turn of the loop (make
	 * test runs the unit tests niced, beside the integration scripts)
	 * does not look like a silent server */
	struct wsc_prm over = {.idle_ms = 1000};
	struct wsc_stats st;

	/* a server that answers pings keeps the socket */
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, &over), 0);
	CHECK(!run(3200));
	CHECK(cli.opened && !cli.closed);
	wsc_stats(cli.w, &st);
	CHECK(st.pings_tx >= 2);
	CHECK(st.pongs_rx >= 2);
	cli_end();

	/* one that answers nothing loses it */
	CHECK_EQ(srv_start(M_DEAF, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, &over), 0);
	CHECK(run(4000));
	CHECK(cli.opened);
	CHECK_EQ(cli.end.err, ETIMEDOUT);
	CHECK(strstr(cli.end.reason, "nothing from the server for 1000 ms"));
	cli_end();
	srv_stop();
	return 0;
}

/* Sends until the queue refuses, then waits for writableh; the server
 * must get every byte in order. */
/* A call's audio, a message at a time with the loop turning between
 * them, plain and over TLS: once the first has made the socket's buffer,
 * no send allocates (but for what OpenSSL does per record), and every
 * length comes out masked right. */
static int sends_allocate_nothing(int tls)
{
	struct wsc_prm over = {0};
	static uint8_t msg[300];
	uint64_t sum = 0, bytes = 0;
	unsigned long allocs = 0;
	struct wsc_stats st;
	char ca[300];

	snprintf(ca, sizeof(ca), "%s/ca.pem", getenv("WSC_TEST_DIR"));
	over.ca_file = tls ? ca : NULL;
	CHECK_EQ(srv_start(M_SINK, tls), 0);
	CHECK_EQ(cli_start(tls ? "wss" : "ws", NULL, NULL, &over), 0);
	for (int i = 0; i < 40 && !cli.opened; i++)
		run(50);
	CHECK(cli.opened);
	for (unsigned i = 0; i < 2000; i++) {
		/* 160 bytes (20 ms of mu-law) mostly; every length up to
		 * 300 too, for the masking's tail and the 16-bit length */
		size_t n = i % 4 ? 160 : 1 + (i / 4) % sizeof(msg);
		int err;

		for (size_t k = 0; k < n; k++)
			msg[k] = (uint8_t)(i * 7 + k);
		if (i >= 10)
			CHECK(allocs_start());
		err = wsc_send(cli.w, WSC_BINARY, msg, n);
		if (i >= 10) {
			allocs_stop();
			allocs += allocations;
		}
		CHECK_EQ(err, 0);
		/* all of it went at once: nothing left for the loop, whose
		 * sending the count would miss */
		wsc_stats(cli.w, &st);
		CHECK_EQ(st.queued, 0);
		for (size_t k = 0; k < n; k++)
			sum = sum * 31 + msg[k];
		bytes += n;
		if (i % 10 == 9)
			run(1);
	}
	/* Over TLS, OpenSSL 3.0 allocates for each record it writes (its
	 * write buffer, which curl has it free when empty, and the record
	 * layer's packet bookkeeping): those only. */
	printf("# %s: %lu allocations in 1990 sends\n", tls ? "wss" : "ws",
	       allocs);
	CHECK(allocs <= (tls ? 4 * 1990 : 0));
	for (int i = 0; i < 100 && srv.sink_bytes < bytes; i++)
		run(20);
	CHECK_EQ(srv.sink_bytes, bytes);
	CHECK(srv.sink_sum == sum);
	CHECK(srv.all_masked);
	CHECK_EQ(srv.nkeys, 4);
	cli_end();
	srv_stop();
	return 0;
}

TEST(send_allocates_nothing)
{
	CHECK_EQ(sends_allocate_nothing(0), 0);
	CHECK_EQ(sends_allocate_nothing(1), 0);
	return 0;
}

TEST(back_pressure)
{
	struct wsc_prm over = {.max_queue = 256 * 1024};
	static uint8_t chunk[65536];
	uint64_t sum = 0, bytes = 0;
	unsigned sent = 0;
	int err = 0;

	CHECK_EQ(srv_start(M_SINK, 0), 0);
	CHECK_EQ(cli_start("ws", NULL, NULL, &over), 0);
	for (int i = 0; i < 20 && !cli.opened; i++)
		run(50);
	CHECK(cli.opened);
	for (int round = 0; round < 3; round++) {
		cli.writable = 0;
		for (;;) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = (uint8_t)(i + sent);
			err = wsc_send(cli.w, WSC_BINARY, chunk, sizeof(chunk));
			if (err)
				break;
			for (size_t i = 0; i < sizeof(chunk); i++)
				sum = sum * 31 + chunk[i];
			bytes += sizeof(chunk);
			sent++;
			CHECK(sent < 2000);
		}
		CHECK_EQ(err, EAGAIN);
		for (int i = 0; i < 40 && !cli.writable; i++)
			run(50);
		CHECK_EQ(cli.writable, 1);
	}
	for (int i = 0; i < 100 && srv.sink_bytes < bytes; i++)
		run(50);
	CHECK_EQ(srv.sink_bytes, bytes);
	CHECK(srv.sink_sum == sum);
	cli_end();
	srv_stop();
	return 0;
}

/* Many sockets on one loop, as a worker holds them: each gets its own
 * echo back, then closes. */
#define MANY 200

struct many {
	struct wsc *w;
	unsigned i;
	bool got, closed;
	int err;
	uint16_t code;
};

static struct many many[MANY];
static unsigned many_closed;

static void many_open_h(void *arg)
{
	struct many *m = arg;
	char t[32];
	int n = snprintf(t, sizeof(t), "n:%u", m->i);

	wsc_send(m->w, WSC_TEXT, t, (size_t)n);
}

static void many_msg_h(enum wsc_op op, const uint8_t *p, size_t n, void *arg)
{
	struct many *m = arg;
	char t[32];
	int tn = snprintf(t, sizeof(t), "n:%u", m->i);

	m->got = op == WSC_TEXT && n == (size_t)tn && !memcmp(p, t, n);
	wsc_close(m->w, 1000, NULL);
}

static void many_close_h(const struct wsc_end *end, void *arg)
{
	struct many *m = arg;

	m->closed = true;
	m->err = end->err;
	m->code = end->code;
	if (++many_closed == MANY)
		re_cancel();
}

TEST(many_sockets)
{
	struct wsc_totals t0, t1;
	char url[64];
	unsigned ok = 0;

	/* the server's listen() with a real backlog (libre's is 5), as
	 * voxgate's own server and any provider's has */
	struct conngate_prm gate = {
	    .max_total = 4096, .max_per_addr = 4096, .backlog = 1024};
	uint32_t fds = 0;
	const char *why = NULL;

	CHECK_EQ(conngate_fd_setup(4096, &fds, &why), 0);
	CHECK_EQ(conngate_start(&gate, fds), 0);
	wsc_totals(&t0);
	CHECK_EQ(srv_start(M_ECHO, 0), 0);
	conngate_stop();
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/v1/listen", srv.ws.port);
	many_closed = 0;
	for (unsigned i = 0; i < MANY; i++) {
		struct wsc_prm prm = {
		    .url = url,
		    .label = "many",
		    .openh = many_open_h,
		    .msgh = many_msg_h,
		    .closeh = many_close_h,
		    .arg = &many[i],
		};

		memset(&many[i], 0, sizeof(many[i]));
		many[i].i = i;
		CHECK_EQ(wsc_alloc(&many[i].w, &prm, NULL), 0);
	}
	wsc_totals(&t1);
	CHECK_EQ(t1.open_now - t0.open_now, MANY);
	CHECK(run(10000));
	for (unsigned i = 0; i < MANY; i++) {
		ok += many[i].got && many[i].closed && many[i].err == 0 &&
		      many[i].code == 1000;
		many[i].w = mem_deref(many[i].w);
	}
	CHECK_EQ(ok, MANY);
	CHECK_EQ(srv.ws.accepted, MANY);
	wsc_totals(&t1);
	CHECK_EQ(t1.opened - t0.opened, MANY);
	CHECK_EQ(t1.closes[0] - t0.closes[0], MANY);
	CHECK_EQ(t1.open_now, t0.open_now);
	srv_stop();
	return 0;
}

static void tls_open(struct cli *c)
{
	send_cmd(c, "over tls");
}

TEST(tls)
{
	struct wsc_prm over = {0};
	char ca[300];

	snprintf(ca, sizeof(ca), "%s/ca.pem", getenv("WSC_TEST_DIR"));
	over.ca_file = ca;
	CHECK_EQ(srv_start(M_ECHO, 1), 0);
	CHECK_EQ(cli_start("wss", NULL, NULL, &over), 0);
	cli.on_open = tls_open;
	for (int i = 0; i < 40 && !cli.msgs && !cli.closed; i++)
		run(50);
	CHECK(cli.opened);
	CHECK_STR(cli.texts, "over tls");
	cli_end();

	/* the CA in a hashed directory, as the system's are read */
	snprintf(ca, sizeof(ca), "%s/cas", getenv("WSC_TEST_DIR"));
	over.ca_file = NULL;
	over.ca_path = ca;
	CHECK_EQ(srv_start(M_ECHO, 1), 0);
	CHECK_EQ(cli_start("wss", NULL, NULL, &over), 0);
	cli.on_open = tls_open;
	for (int i = 0; i < 40 && !cli.msgs && !cli.closed; i++)
		run(50);
	CHECK(cli.opened);
	CHECK_STR(cli.texts, "over tls");
	cli_end();

	/* the same server, the system's CAs: not trusted */
	CHECK_EQ(srv_start(M_ECHO, 1), 0);
	CHECK_EQ(cli_start("wss", NULL, NULL, NULL), 0);
	CHECK(run(3000));
	CHECK(!cli.opened);
	CHECK_EQ(cli.end.err, EACCES);
	CHECK(strstr(cli.end.reason, "certificate"));
	cli_end();

	/* the CA given, but a name the certificate does not hold */
	snprintf(ca, sizeof(ca), "%s/ca.pem", getenv("WSC_TEST_DIR"));
	over.ca_file = ca;
	CHECK_EQ(srv_start(M_ECHO, 2), 0);
	CHECK_EQ(cli_start("wss", NULL, NULL, &over), 0);
	CHECK(run(3000));
	CHECK(!cli.opened);
	CHECK_EQ(cli.end.err, EACCES);
	CHECK(strstr(cli.end.reason, "127.0.0.1"));
	cli_end();
	srv_stop();
	return 0;
}

TEST(refused_params)
{
	struct wsc *w = NULL;
	struct wsc_prm prm = {.closeh = close_h, .arg = &cli};
	struct wsc_header bad[] = {{"X-Key", "a\r\nInjected: 1"}};
	struct wsc_header own[] = {{"sec-websocket-key", "x"}};
	const char *why = NULL;

	prm.url = "https://api.deepgram.com/v1/listen";
	CHECK_EQ(wsc_alloc(&w, &prm, &why), EINVAL);
	CHECK(why && strstr(why, "ws or wss"));
	prm.url = "wss://user:pw@api.deepgram.com/v1/listen";
	CHECK_EQ(wsc_alloc(&w, &prm, &why), EINVAL);
	prm.url = "wss://api.deepgram.com/v1/listen";
	prm.headerv = bad;
	prm.headerc = 1;
	CHECK_EQ(wsc_alloc(&w, &prm, &why), EINVAL);
	prm.headerv = own;
	CHECK_EQ(wsc_alloc(&w, &prm, &why), EINVAL);
	CHECK(w == NULL);
	return 0;
}

static int make_certs(char *dir, size_t sz)
{
	char cmd[2048];

	snprintf(dir, sz, "/tmp/wsc_test.XXXXXX");
	if (!mkdtemp(dir))
		return errno;
	snprintf(cmd, sizeof(cmd),
	         "cd %s && "
	         "openssl req -x509 -newkey ec -pkeyopt "
	         "ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
	         "-out ca.pem -days 2 -subj /CN=voxgate-test-ca && "
	         "openssl req -newkey ec -pkeyopt "
	         "ec_paramgen_curve:prime256v1 -nodes -keyout srv.key "
	         "-out srv.csr -subj /CN=localhost && "
	         "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' "
	         "> ext.cnf && "
	         "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
	         "-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf "
	         "2>/dev/null && "
	         "cat srv.pem srv.key > srv_chain.pem && "
	         "openssl req -newkey ec -pkeyopt "
	         "ec_paramgen_curve:prime256v1 -nodes -keyout other.key "
	         "-out other.csr -subj /CN=other.example && "
	         "printf 'subjectAltName=DNS:other.example\\n' "
	         "> other.cnf && "
	         "openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key "
	         "-CAcreateserial -out other.pem -days 2 -extfile other.cnf && "
	         "cat other.pem other.key > other_chain.pem && "
	         "mkdir cas && cp ca.pem cas/ && openssl rehash cas",
	         dir);
	if (system(cmd) != 0)
		return EIO;
	return setenv("WSC_TEST_DIR", dir, 1);
}

int main(void)
{
	char dir[64], cmd[128];
	int err;

	signal(SIGPIPE, SIG_IGN);
	if (make_certs(dir, sizeof(dir))) {
		printf("FAIL make_certs\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	err = libre_init();
	if (err) {
		printf("FAIL libre_init: %d\n", err);
		return 1;
	}
	RUN(rx_any_split);
	RUN(rx_hostile);
	RUN(rx_message_limit);
	RUN(refused_params);
	RUN(echo_and_close);
	RUN(fragments_and_pings);
	RUN(server_closes);
	RUN(refused_json);
	RUN(refused_key_masked);
	RUN(bad_accept);
	RUN(hostile_frames);
	RUN(silent_server);
	RUN(cut_mid_frame);
	RUN(frame_with_the_101);
	RUN(free_in_handler);
	RUN(idle);
	RUN(send_allocates_nothing);
	RUN(back_pressure);
	RUN(many_sockets);
	RUN(tls);
	srv_stop();
	libre_close();
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
	TEST_EXIT();
}
