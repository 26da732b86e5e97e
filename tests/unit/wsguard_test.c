/*
 * The WebSocket frame guard: the frame checker on byte streams, then a
 * guard on a real libre WebSocket fed hostile frames over TCP.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <re.h>
#include "net/wsguard.h"
#include "test.h"

static int feed_hex(struct wsframe *f, const char *hex, size_t step,
                    const char **why)
{
	uint8_t buf[256];
	size_t n = strlen(hex) / 2;
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		buf[i] = (uint8_t)v;
	}
	for (size_t i = 0; i < n && !err; i += step)
		err =
		    wsframe_feed(f, buf + i, n - i < step ? n - i : step, why);
	return err;
}

TEST(valid_frames_any_split)
{
	/* masked "Hello" (RFC 6455 5.7), a ping, a 126-byte binary frame
	 * header with its payload, a fragmented text message */
	char hex[1024];
	const char *why = NULL;
	int n = snprintf(hex, sizeof(hex), "%s%s%s", "818537fa213d7f9f4d5158",
	                 "89800102030482fe007e01020304", "");

	for (int i = 0; i < 126; i++)
		n += snprintf(hex + n, sizeof(hex) - (size_t)n, "00");
	n += snprintf(hex + n, sizeof(hex) - (size_t)n, "%s",
	              "01810102030441"
	              "80810102030442");
	for (size_t step = 1; step < 40; step++) {
		struct wsframe f;

		wsframe_init(&f, true, 0);
		CHECK_EQ(feed_hex(&f, hex, step, &why), 0);
		CHECK_EQ(f.left, 0);
		CHECK_EQ(f.have, 0);
		CHECK(!f.in_message);
	}
	return 0;
}

TEST(hostile_headers)
{
	static const struct {
		const char *hex;
		int err;
		bool masked;
	} cases[] = {
	    /* 64-bit length near 2^64 */
	    {"82ffffffffffffffffff01020304", EPROTO, true},
	    /* 2^32: far over the limit */
	    {"82ff000000010000000001020304", EMSGSIZE, true},
	    /* 16-bit length over a 1000-byte limit */
	    {"82fe100001020304", EMSGSIZE, true},
	    /* unmasked from a client, masked from a server */
	    {"820100", EPROTO, true},
	    {"828101020304", EPROTO, false},
	    /* reserved bits, unknown opcodes */
	    {"c28001020304", EPROTO, true},
	    {"838001020304", EPROTO, true},
	    {"8b8001020304", EPROTO, true},
	    /* long or fragmented control frames */
	    {"89fe007e01020304", EPROTO, true},
	    {"098001020304", EPROTO, true},
	    /* continuation with no message, a message inside a message */
	    {"808001020304", EPROTO, true},
	    {"018001020304018001020304", EPROTO, true},
	    /* lengths not in their shortest form */
	    {"82fe000501020304", EPROTO, true},
	    {"82ff000000000000000501020304", EPROTO, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wsframe f;
		const char *why = NULL;

		wsframe_init(&f, cases[i].masked, 1000);
		if (feed_hex(&f, cases[i].hex, 1, &why) != cases[i].err)
			TEST_FAIL("hostile_headers", "case %zu (%s): why=%s", i,
			          cases[i].hex, why ? why : "-");
		CHECK(why != NULL);
	}
	return 0;
}

/* ---- a guarded libre WebSocket fed over TCP ---------------------------- */

struct live {
	struct http_sock *hs;
	struct websock *ws;
	struct websock_conn *wc;
	struct tcp_conn *cli;
	struct tmr tmr;
	const char *frame; /* hex, sent after the 101 */
	bool upgraded, server_closed, client_closed;
	int close_err;
	unsigned texts;
};

static void srv_recv(const struct websock_hdr *hdr, struct mbuf *mb, void *arg)
{
	struct live *l = arg;

	(void)mb;
	if (hdr->opcode == WEBSOCK_TEXT)
		l->texts++;
}

static void srv_close(int err, void *arg)
{
	struct live *l = arg;

	l->server_closed = true;
	l->close_err = err;
}

static void srv_request(struct http_conn *conn, const struct http_msg *msg,
                        void *arg)
{
	struct live *l = arg;

	if (websock_accept(&l->wc, l->ws, conn, msg, 0, srv_recv, srv_close,
	                   l) ||
	    wsguard_attach(l->wc, &(struct wsguard_prm){.server = true,
	                                                .max_payload = 1000,
	                                                .label = "test"}))
		re_cancel();
}

static void cli_estab(void *arg)
{
	struct live *l = arg;
	struct mbuf *mb = mbuf_alloc(256);

	(void)mbuf_printf(mb, "GET /ws HTTP/1.1\r\nHost: x\r\n"
	                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                      "Sec-WebSocket-Version: 13\r\n\r\n");
	mb->pos = 0;
	(void)tcp_send(l->cli, mb);
	mem_deref(mb);
}

static void cli_recv(struct mbuf *mb, void *arg)
{
	struct live *l = arg;
	struct mbuf *out;
	size_t n = strlen(l->frame) / 2;

	(void)mb;
	if (l->upgraded)
		return;
	l->upgraded = true;
	out = mbuf_alloc(n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(l->frame + 2 * i, "%2x", &v);
		(void)mbuf_write_u8(out, (uint8_t)v);
	}
	out->pos = 0;
	(void)tcp_send(l->cli, out);
	mem_deref(out);
}

static void cli_close(int err, void *arg)
{
	struct live *l = arg;

	(void)err;
	l->client_closed = true;
	re_cancel();
}

static void give_up(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Sends the upgrade, then frame; returns once the client sees the
 * connection close or after ms. */
static int run_live(struct live *l, const char *frame, unsigned ms)
{
	struct sa laddr, srv;
	int err;

	memset(l, 0, sizeof(*l));
	l->frame = frame;
	tmr_init(&l->tmr);
	sa_set_str(&laddr, "127.0.0.1", 0);
	err = http_listen(&l->hs, &laddr, srv_request, l);
	if (!err)
		err = tcp_sock_local_get(http_sock_tcp(l->hs), &srv);
	if (!err)
		err = websock_alloc(&l->ws, NULL, NULL);
	if (!err)
		err = tcp_connect(&l->cli, &srv, cli_estab, cli_recv, cli_close,
		                  l);
	if (!err) {
		tmr_start(&l->tmr, ms, give_up, NULL);
		err = re_main(NULL);
	}
	tmr_cancel(&l->tmr);
	return err;
}

static void live_free(struct live *l)
{
	l->cli = mem_deref(l->cli);
	l->wc = mem_deref(l->wc);
	l->ws = mem_deref(l->ws);
	l->hs = mem_deref(l->hs);
}

TEST(guarded_socket)
{
	static const char *const hostile[] = {
	    "82ffffffffffffffffff01020304",   /* near 2^64 */
	    "82ff00000001000000000102030400", /* 2^32 */
	    "82fe100001020304",               /* over the 1000 bytes */
	    "c28001020304",                   /* reserved bits */
	};
	struct live l;

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		CHECK_EQ(run_live(&l, hostile[i], 3000), 0);
		CHECK(l.upgraded);
		CHECK(l.server_closed);
		CHECK(l.close_err == EPROTO || l.close_err == EMSGSIZE);
		CHECK(l.client_closed);
		live_free(&l);
	}
	/* a good frame passes and the connection stays */
	CHECK_EQ(run_live(&l, "818537fa213d7f9f4d5158", 300), 0);
	CHECK(l.upgraded);
	CHECK_EQ(l.texts, 1);
	CHECK(!l.server_closed);
	CHECK_EQ(wsguard_count(), 1);
	/* what the server writes leaves at once, Nagle's algorithm off */
	{
		int nodelay = 0;
		socklen_t len = sizeof(nodelay);

		CHECK_EQ(getsockopt(tcp_conn_fd(websock_tcp(l.wc)), IPPROTO_TCP,
		                    TCP_NODELAY, &nodelay, &len),
		         0);
		CHECK_EQ(nodelay, 1);
	}
	/* let go while open: libre keeps the socket closing a while, the
	 * guard with it, and both go when the peer has gone */
	l.wc = mem_deref(l.wc);
	CHECK_EQ(wsguard_count(), 1);
	l.cli = mem_deref(l.cli);
	tmr_start(&l.tmr, 300, give_up, NULL);
	(void)re_main(NULL);
	CHECK_EQ(wsguard_count(), 0);
	live_free(&l);
	return 0;
}

int main(void)
{
	int err;

	RUN(valid_frames_any_split);
	RUN(hostile_headers);
	err = libre_init();
	if (err) {
		printf("FAIL libre_init: %d\n", err);
		return 1;
	}
	RUN(guarded_socket);
	libre_close();
	TEST_EXIT();
}
