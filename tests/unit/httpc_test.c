/*
 * Streaming HTTP on the loop against a stand-in server run inside the test
 * (plain sockets on 127.0.0.1, a thread per connection): the path of each
 * request picks how it is answered. The loop runs on the test's thread, so
 * every handler is seen where the worker would see it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>

#include "net/httpc.h"
#include "loop.h"
#include "standin.h"
#include "test.h"

static struct standin_srv srv;

/* ---- the stand-in server ------------------------------------------------ */

static void answer(int fd, const struct standin_req *rq)
{
	const char *path = rq->path, *body = rq->body;
	static const struct standin_step three[] = {
	    {0, "one "}, {80, "two "}, {80, "three"}};
	char buf[256];

	if (!strcmp(path, "/ok")) {
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: "
		         "a b \r\nConnection: close\r\n\r\nhello");
		standin_send_all(fd, buf, strlen(buf));
	} else if (!strcmp(path, "/echo")) {
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
		         "Connection: close\r\n\r\n%s",
		         strlen(body), body);
		standin_send_all(fd, buf, strlen(buf));
	} else if (!strcmp(path, "/chunked")) {
		if (standin_send_head(fd, "HTTP/1.1 200 OK\r\n", true) &&
		    standin_play(fd, three, 3, true, &srv.stop, NULL))
			standin_send_all(fd, "0\r\n\r\n", 5);
	} else if (!strcmp(path, "/cut")) {
		/* Chunks, then the connection closes without the last. */
		if (standin_send_head(fd, "HTTP/1.1 200 OK\r\n", true))
			standin_play(fd, three, 2, true, &srv.stop, NULL);
	} else if (!strcmp(path, "/short")) {
		/* Fewer bytes than Content-Length says. */
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
		standin_send_all(fd, buf, strlen(buf));
	} else if (!strcmp(path, "/stall")) {
		if (standin_send_head(fd, "HTTP/1.1 200 OK\r\n", true))
			standin_play(fd, three, 1, true, &srv.stop, NULL);
		standin_pause(fd, 3000, &srv.stop);
	} else if (!strcmp(path, "/silent")) {
		standin_pause(fd, 3000, &srv.stop);
	} else if (!strcmp(path, "/404")) {
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
		         "Connection: close\r\n\r\nno model.");
		standin_send_all(fd, buf, strlen(buf));
	} else if (!strcmp(path, "/503")) {
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
		         "0\r\nConnection: close\r\n\r\n");
		standin_send_all(fd, buf, strlen(buf));
	} else if (!strcmp(path, "/garbage")) {
		standin_send_all(fd, "SSH-2.0-OpenSSH\r\n\r\n", 19);
	} else if (!strcmp(path, "/slow")) {
		/* Answers after 200 ms: many at once must overlap. */
		standin_pause(fd, 200, &srv.stop);
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		         "Connection: close\r\n\r\nok");
		standin_send_all(fd, buf, strlen(buf));
	}
}

/* ---- a request, run on the loop --------------------------------------- */

struct got {
	struct httpc_req *req;
	uint16_t head_status;
	int heads;
	char body[1024];
	size_t len;
	int pieces;
	bool done;
	int err;
	uint16_t status;
	char why[256];
	uint64_t t_start, t_done;
	size_t cancel_after; /* release the request after this many bytes */
	int *pending;        /* re_cancel when it reaches 0 */
};

static void on_head(uint16_t status, void *arg)
{
	struct got *g = arg;

	g->head_status = status;
	g->heads++;
}

static void on_body(const uint8_t *data, size_t n, void *arg)
{
	struct got *g = arg;
	size_t k =
	    n < sizeof(g->body) - 1 - g->len ? n : sizeof(g->body) - 1 - g->len;

	memcpy(g->body + g->len, data, k);
	g->len += k;
	g->body[g->len] = '\0';
	g->pieces++;
	if (g->cancel_after && g->len >= g->cancel_after) {
		/* Released inside its own handler: nothing more comes. */
		g->req = mem_deref(g->req);
		g->done = true;
		if (g->pending && !--*g->pending)
			re_cancel();
	}
}

static void on_done(int err, uint16_t status, const char *why, void *arg)
{
	struct got *g = arg;

	g->done = true;
	g->err = err;
	g->status = status;
	g->t_done = now_ms();
	snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
	if (g->pending && !--*g->pending)
		re_cancel();
}

static int get(struct httpc *c, struct got *g, const char *path,
               const struct httpc_prm *base)
{
	struct httpc_prm prm = base ? *base : (struct httpc_prm){0};
	char url[128];
	int pending = 1, err;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
	prm.url = url;
	g->pending = &pending;
	g->t_start = now_ms();
	err = httpc_request(&g->req, c, &prm, on_head, on_body, on_done, g);
	if (err)
		return err;
	run_loop(5000);
	return 0;
}

/* ---- tests ------------------------------------------------------------ */

TEST(whole_body_and_headers)
{
	struct httpc *c;
	struct got g = {0};
	char v[32];

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/ok", NULL), 0);
	CHECK(g.done);
	CHECK_EQ(g.err, 0);
	CHECK_EQ(g.status, 200);
	CHECK_EQ(g.heads, 1);
	CHECK_EQ(g.head_status, 200);
	CHECK_STR(g.body, "hello");
	CHECK(httpc_header(g.req, "x-test", v, sizeof(v)));
	CHECK_STR(v, "a b");
	CHECK(httpc_header(g.req, "X-TEST", v, 3));
	CHECK_STR(v, "a ");
	CHECK(!httpc_header(g.req, "x-none", v, sizeof(v)));
	mem_deref(g.req);
	CHECK_EQ(httpc_active(c), 0);
	mem_deref(c);
	return 0;
}

TEST(post_body_goes_out)
{
	static const char *const hdrs[] = {"Content-Type: text/plain", NULL};
	struct httpc_prm prm = {
	    .body = "the posted text", .body_len = 15, .headers = hdrs};
	struct httpc *c;
	struct got g = {0};

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/echo", &prm), 0);
	CHECK_EQ(g.err, 0);
	CHECK_EQ(g.status, 200);
	CHECK_STR(g.body, "the posted text");
	mem_deref(g.req);
	mem_deref(c);
	return 0;
}

/* Each chunk is handed out as it comes, not once the body is whole. */
TEST(chunked_streams)
{
	struct httpc *c;
	struct got g = {0};

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/chunked", NULL), 0);
	CHECK_EQ(g.err, 0);
	CHECK_STR(g.body, "one two three");
	CHECK(g.pieces >= 3);
	CHECK(g.t_done - g.t_start >= 150);
	mem_deref(g.req);
	mem_deref(c);
	return 0;
}

TEST(cut_mid_body)
{
	struct httpc *c;
	struct got g = {0}, s = {0};

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/cut", NULL), 0);
	CHECK(g.done);
	CHECK_EQ(g.err, EPROTO);
	CHECK_EQ(g.status, 200);
	CHECK_STR(g.body, "one two ");
	printf("# cut: %s\n", g.why);
	CHECK_EQ(get(c, &s, "/short", NULL), 0);
	CHECK_EQ(s.err, EPROTO);
	CHECK_STR(s.body, "abc");
	mem_deref(g.req);
	mem_deref(s.req);
	mem_deref(c);
	return 0;
}

/* A server that stops sending: the idle limit ends it, then the total. */
TEST(stall_times_out)
{
	struct httpc_prm idle = {.idle_ms = 300}, total = {.total_ms = 400};
	struct httpc *c;
	struct got g = {0}, s = {0}, t = {0};

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/stall", &idle), 0);
	CHECK(g.done);
	CHECK_EQ(g.err, ETIMEDOUT);
	CHECK_STR(g.body, "one ");
	CHECK(g.t_done - g.t_start >= 300 && g.t_done - g.t_start < 1000);
	CHECK(strstr(g.why, "300 ms") != NULL);
	CHECK_EQ(get(c, &s, "/silent", &idle), 0);
	CHECK_EQ(s.err, ETIMEDOUT);
	CHECK_EQ(s.status, 0);
	CHECK_EQ(s.heads, 0);
	CHECK_EQ(get(c, &t, "/silent", &total), 0);
	CHECK_EQ(t.err, ETIMEDOUT);
	CHECK(t.t_done - t.t_start >= 400 && t.t_done - t.t_start < 1500);
	printf("# total: %s\n", t.why);
	mem_deref(g.req);
	mem_deref(s.req);
	mem_deref(t.req);
	CHECK_EQ(httpc_active(c), 0);
	mem_deref(c);
	return 0;
}

/* A 4xx or 5xx is a complete response: the caller judges the status and
 * gets the body. */
TEST(error_status)
{
	struct httpc *c;
	struct got g = {0}, s = {0};

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/404", NULL), 0);
	CHECK_EQ(g.err, 0);
	CHECK_EQ(g.status, 404);
	CHECK_EQ(g.head_status, 404);
	CHECK_STR(g.body, "no model.");
	CHECK_EQ(get(c, &s, "/503", NULL), 0);
	CHECK_EQ(s.err, 0);
	CHECK_EQ(s.status, 503);
	CHECK_EQ(s.len, 0);
	mem_deref(g.req);
	mem_deref(s.req);
	mem_deref(c);
	return 0;
}

TEST(not_http_and_refused)
{
	struct httpc_prm prm = {0};
	struct httpc *c;
	struct httpc_req *r = NULL;
	struct got g = {0}, s = {0};
	int dead, pending = 1;

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/garbage", NULL), 0);
	CHECK(g.done);
	printf("# not http: %s\n", g.why);
	CHECK_EQ(g.err, EPROTO);
	/* A port nobody listens on. */
	dead = standin_listen(&(int){0});
	CHECK(dead >= 0);
	{
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		char url[64];

		CHECK_EQ(getsockname(dead, (struct sockaddr *)&sa, &sl), 0);
		close(dead);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x",
		         ntohs(sa.sin_port));
		prm.url = url;
		s.pending = &pending;
		CHECK_EQ(httpc_request(&s.req, c, &prm, on_head, on_body,
		                       on_done, &s),
		         0);
		run_loop(3000);
	}
	CHECK(s.done);
	CHECK_EQ(s.err, ECONNREFUSED);
	CHECK_EQ(s.status, 0);
	prm.url = "ftp://127.0.0.1/x";
	CHECK_EQ(httpc_request(&r, c, &prm, NULL, NULL, NULL, NULL), EINVAL);
	prm.url = NULL;
	CHECK_EQ(httpc_request(&r, c, &prm, NULL, NULL, NULL, NULL), EINVAL);
	CHECK_EQ(httpc_request(&r, NULL, &prm, NULL, NULL, NULL, NULL), EINVAL);
	mem_deref(g.req);
	mem_deref(s.req);
	mem_deref(c);
	return 0;
}

/* Released from inside its body handler, and from outside while the
 * server is still sending: no handler after, the server sees the
 * connection go. */
TEST(cancel)
{
	struct httpc *c;
	struct got g = {.cancel_after = 4}, s = {0};
	int pending = 1;
	char url[128];
	struct httpc_prm prm = {0};

	CHECK_EQ(httpc_alloc(&c), 0);
	CHECK_EQ(get(c, &g, "/chunked", NULL), 0);
	CHECK(g.done);
	CHECK(g.req == NULL);
	CHECK_STR(g.body, "one ");
	CHECK_EQ(g.err, 0);
	run_loop(300);
	CHECK_EQ(g.pieces, 1);
	CHECK_EQ(httpc_active(c), 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stall", srv.port);
	prm.url = url;
	s.pending = &pending;
	CHECK_EQ(httpc_request(&s.req, c, &prm, on_head, on_body, on_done, &s),
	         0);
	run_loop(150);
	CHECK(!s.done);
	CHECK_EQ(httpc_active(c), 1);
	s.req = mem_deref(s.req);
	CHECK_EQ(httpc_active(c), 0);
	run_loop(100);
	CHECK(!s.done);
	mem_deref(c);
	return 0;
}

/* Many requests at once on the one thread: they overlap, so 50 answers
 * that each take 200 ms come in far less than 50 x 200 ms. */
TEST(many_at_once)
{
	enum { N = 50 };
	static struct got g[N];
	struct httpc_prm prm = {0};
	struct httpc *c;
	char url[128];
	int pending = N;
	uint64_t t0 = now_ms();

	memset(g, 0, sizeof(g));
	CHECK_EQ(httpc_alloc(&c), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv.port);
	prm.url = url;
	for (int i = 0; i < N; i++) {
		g[i].pending = &pending;
		CHECK_EQ(httpc_request(&g[i].req, c, &prm, on_head, on_body,
		                       on_done, &g[i]),
		         0);
	}
	CHECK_EQ(httpc_active(c), N);
	run_loop(8000);
	printf("# %d requests of 200 ms: %u ms\n", N,
	       (unsigned)(now_ms() - t0));
	CHECK(now_ms() - t0 < 3000);
	for (int i = 0; i < N; i++) {
		CHECK(g[i].done);
		CHECK_EQ(g[i].err, 0);
		CHECK_STR(g[i].body, "ok");
		mem_deref(g[i].req);
	}
	mem_deref(c);
	return 0;
}

/* The client goes with requests still running: they end, quietly. */
TEST(client_released_first)
{
	struct httpc *c;
	struct got g = {0};
	struct httpc_prm prm = {0};
	char url[128];

	CHECK_EQ(httpc_alloc(&c), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stall", srv.port);
	prm.url = url;
	CHECK_EQ(httpc_request(&g.req, c, &prm, on_head, on_body, on_done, &g),
	         0);
	run_loop(100);
	mem_deref(c);
	run_loop(50);
	CHECK(!g.done);
	mem_deref(g.req);
	return 0;
}

int main(void)
{
	int err = libre_init();

	if (err)
		return 1;
	if (standin_srv_start(&srv, answer))
		return 1;
	RUN(whole_body_and_headers);
	RUN(post_body_goes_out);
	RUN(chunked_streams);
	RUN(cut_mid_body);
	RUN(stall_times_out);
	RUN(error_status);
	RUN(not_http_and_refused);
	RUN(cancel);
	RUN(many_at_once);
	RUN(client_released_first);
	standin_srv_stop(&srv);
	libre_close();
	TEST_EXIT();
}
