/*
 * The chat-completions client against a stand-in server run inside the test
 * (a plain socket on 127.0.0.1, one thread, one connection): it records the
 * request and writes a scripted response in pieces, pausing before each, so
 * the client sees the stream split where the script splits it. The chats
 * run on a libre loop on the test's thread, as on the worker's. Also the
 * clause splitter.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/libre.h"
#include <re_main.h>
#include "core/utf8.h"
#include "net/httpc.h"
#include "worker/llm.h"
#include "standin.h"
#include "test.h"

struct srv {
	int lfd;
	char base[64]; /* the base_url to give the client */
	pthread_t th;
	atomic_bool stop;
	/* script, set before srv_start */
	const char *head; /* status line and headers; NULL = answer nothing */
	bool chunked;     /* Transfer-Encoding: chunked, a chunk per step */
	bool cut;         /* chunked, but the last chunk never comes */
	bool hold;        /* keep the connection open after the script */
	const struct standin_step *steps;
	size_t nsteps;
	/* recorded; read after srv_stop */
	char *req_head;
	char *req_body;
	uint64_t done_ms; /* when the last step was written */
};

static void srv_script(struct srv *sv, int fd)
{
	if (!standin_send_head(fd, sv->head, sv->chunked) ||
	    !standin_play(fd, sv->steps, sv->nsteps, sv->chunked, &sv->stop,
	                  NULL))
		return;
	if (sv->chunked && !sv->cut && !standin_send_all(fd, "0\r\n\r\n", 5))
		return;
	sv->done_ms = now_ms();
}

static void *srv_run(void *arg)
{
	struct srv *sv = arg;
	int fd = standin_accept(sv->lfd, &sv->stop);

	if (fd < 0)
		return NULL;
	if (standin_read_request(fd, &sv->req_head, &sv->req_body) == 0 &&
	    sv->head)
		srv_script(sv, fd);
	if (sv->hold || !sv->head)
		while (!atomic_load(&sv->stop))
			sleep_ms(5);
	close(fd);
	return NULL;
}

static int srv_start(struct srv *sv)
{
	int port;

	sv->lfd = standin_listen(&port);
	if (sv->lfd < 0)
		return -1;
	snprintf(sv->base, sizeof(sv->base), "http://127.0.0.1:%d/v1", port);
	return pthread_create(&sv->th, NULL, srv_run, sv);
}

static void srv_stop(struct srv *sv)
{
	atomic_store(&sv->stop, true);
	pthread_join(sv->th, NULL);
	close(sv->lfd);
}

static void srv_free(struct srv *sv)
{
	free(sv->req_head);
	free(sv->req_body);
}

struct got {
	char text[1024];
	size_t len;
	int n;
	int empty; /* pieces of length 0, which must not come */
	uint64_t first_ms;
	atomic_bool any;
};

static void on_delta(const char *text, size_t len, void *arg)
{
	struct got *g = arg;

	if (!g->n)
		g->first_ms = now_ms();
	if (!len)
		g->empty++;
	if (g->len + len < sizeof(g->text)) {
		memcpy(g->text + g->len, text, len);
		g->len += len;
		g->text[g->len] = '\0';
	}
	g->n++;
	atomic_store(&g->any, true);
}

static const struct llm_message hello[] = {{"user", "Hello"}};

/* The chats' state, as a caller's per-call state holds it. */
static struct llm_run run;

/* The chats run on the loop, on the test's thread. */
static struct httpc *hc;

/* One handler argument for both handlers: the pieces are relayed to the
 * caller's handler with the caller's arg. */
struct loop_chat {
	bool done;
	int err;
	llm_delta_h *h;
	void *arg;
};

static void loop_done(int err, const char *why, void *arg)
{
	struct loop_chat *lc = arg;

	lc->done = true;
	lc->err = err;
	snprintf(run.why, sizeof(run.why), "%s", why);
	re_cancel();
}

static void loop_give_up(void *arg)
{
	(void)arg;
	re_cancel();
}

static void relay_delta(const char *text, size_t len, void *arg)
{
	struct loop_chat *lc = arg;

	lc->h(text, len, lc->arg);
}

static int run_chat(const struct llm_params *p, const struct llm_message *msgs,
                    size_t n, llm_delta_h *h, void *arg, const char **why)
{
	struct loop_chat lc = {.h = h, .arg = arg};
	struct llm_chat *c = NULL;
	struct tmr t;
	int err;

	run.why[0] = '\0';
	err = llm_chat_start(&c, hc, p, msgs, n, relay_delta, loop_done, &lc,
	                     why);
	if (err)
		return err;
	tmr_init(&t);
	tmr_start(&t, 10000, loop_give_up, NULL);
	re_main(NULL);
	tmr_cancel(&t);
	mem_deref(c);
	if (!lc.done)
		return -1;
	if (why)
		*why = lc.err ? run.why : "";
	return lc.err;
}

/* One chat against sv with default timeouts but the given ones that are
 * not 0; the server is stopped before returning. */
static int chat(struct srv *sv, struct got *g, unsigned first_ms,
                unsigned total_ms, const char **why)
{
	struct llm_params p;
	int rc;

	llm_params_default(&p);
	p.base_url = sv->base;
	p.model = "m";
	if (first_ms)
		p.first_token_timeout_ms = first_ms;
	if (total_ms)
		p.total_timeout_ms = total_ms;
	llm_run_init(&run);
	rc = run_chat(&p, hello, 1, on_delta, g, why);
	srv_stop(sv);
	return rc;
}

TEST(streams_split_anywhere)
{
	static const struct standin_step steps[] = {
	    {0,
	     "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"},
	    /* mid-JSON */
	    {20, "data: {\"choices\":[{\"delta\":{\"content\":\"Hel"},
	    /* between the line's end and the blank line */
	    {20, "lo, \"}}]}\n"},
	    /* mid-"data:" */
	    {20, "\ndat"},
	    /* mid-UTF-8 character (é is C3 A9) */
	    {20, "a: {\"choices\":[{\"delta\":{\"content\":\"caf\xc3"},
	    {20, "\xa9 time.\"}}]}\n\n"},
	    {300, TEXT(" The rest")},
	    {20, TEXT(" is \\u00e9t\\u00e9.") "data: [DO"},
	    {20, "NE]\n\n"},
	};
	struct srv sv = {.head = SSE_HEAD,
	                 .chunked = true,
	                 .steps = steps,
	                 .nsteps = sizeof(steps) / sizeof(steps[0])};
	struct got g = {0};
	const char *err = "";
	uint64_t t0;

	CHECK(srv_start(&sv) == 0);
	t0 = now_ms();
	CHECK_EQ(chat(&sv, &g, 0, 0, &err), 0);
	CHECK_STR(err, "");
	CHECK_STR(g.text,
	          "Hello, caf\xc3\xa9 time. The rest is \xc3\xa9t\xc3\xa9.");
	CHECK_EQ(g.n, 4);
	CHECK_EQ(g.empty, 0);
	/* The first piece came before the server's 300 ms pause ended. */
	CHECK(sv.done_ms > 0);
	CHECK(g.first_ms < sv.done_ms);
	CHECK(sv.done_ms - g.first_ms >= 250);
	CHECK(g.first_ms - t0 < 250);
	srv_free(&sv);
	return 0;
}

static const struct standin_step ok_steps[] = {{0, TEXT("ok") DONE}};

/* The request sv got, parsed; checks the parts every request shares. */
static json_t *request_json(struct srv *sv, const char *path)
{
	char v[256], line[128];

	snprintf(line, sizeof(line), "POST %s HTTP/1.1\r\n", path);
	if (!sv->req_head || strncmp(sv->req_head, line, strlen(line)) != 0)
		return NULL;
	if (!standin_header(sv->req_head, "Content-Type", v, sizeof(v)) ||
	    strcmp(v, "application/json") != 0)
		return NULL;
	return json_loads(sv->req_body, 0, NULL);
}

TEST(request_body_and_auth)
{
	const struct llm_message msgs[] = {
	    {"system", "Be brief."},
	    {"user", "What time is it?"},
	    {"assistant", "Noon."},
	    {"user", "Caf\xc3\xa9 \"quoted\"\nnext line"},
	};
	struct srv a = {.head = SSE_HEAD, .steps = ok_steps, .nsteps = 1};
	struct srv b = {.head = SSE_HEAD, .steps = ok_steps, .nsteps = 1};
	struct llm_params p;
	struct got g = {0};
	char v[256], url[80];
	json_t *req, *m;

	CHECK(srv_start(&a) == 0);
	llm_params_default(&p);
	p.base_url = a.base;
	p.api_key = "sk-test";
	p.model = "llama-3.1-8b";
	p.temperature = 0.5;
	p.max_tokens = 64;
	CHECK_EQ(run_chat(&p, msgs, 4, on_delta, &g, NULL), 0);
	srv_stop(&a);
	CHECK_STR(g.text, "ok");
	req = request_json(&a, "/v1/chat/completions");
	CHECK(req);
	CHECK_STR(json_string_value(json_object_get(req, "model")),
	          "llama-3.1-8b");
	CHECK(json_is_true(json_object_get(req, "stream")));
	CHECK(json_real_value(json_object_get(req, "temperature")) == 0.5);
	CHECK_EQ(json_integer_value(json_object_get(req, "max_tokens")), 64);
	CHECK_EQ(json_array_size(json_object_get(req, "messages")), 4);
	for (size_t i = 0; i < 4; i++) {
		m = json_array_get(json_object_get(req, "messages"), i);
		CHECK_EQ(json_object_size(m), 2);
		CHECK_STR(json_string_value(json_object_get(m, "role")),
		          msgs[i].role);
		CHECK_STR(json_string_value(json_object_get(m, "content")),
		          msgs[i].content);
	}
	json_decref(req);
	CHECK(standin_header(a.req_head, "Authorization", v, sizeof(v)));
	CHECK_STR(v, "Bearer sk-test");
	CHECK(!standin_header(a.req_head, "Expect", v, sizeof(v)));
	srv_free(&a);

	/* No key, no temperature, no max_tokens; a trailing slash. */
	CHECK(srv_start(&b) == 0);
	snprintf(url, sizeof(url), "%s/", b.base);
	llm_params_default(&p);
	p.base_url = url;
	p.api_key = "";
	p.model = "m";
	CHECK_EQ(run_chat(&p, msgs + 1, 1, on_delta, &g, NULL), 0);
	srv_stop(&b);
	req = request_json(&b, "/v1/chat/completions");
	CHECK(req);
	CHECK(!json_object_get(req, "temperature"));
	CHECK(!json_object_get(req, "max_tokens"));
	CHECK_EQ(json_array_size(json_object_get(req, "messages")), 1);
	json_decref(req);
	CHECK(!standin_header(b.req_head, "Authorization", v, sizeof(v)));
	srv_free(&b);
	return 0;
}

/* CRLF and lone CR line ends, comments, event/id/retry fields, a role-only
 * chunk, null and missing content, an event over two data lines, a usage
 * chunk with no choices. */
TEST(crlf_comments_and_empty_chunks)
{
	static const struct standin_step steps[] = {
	    {0, ": connected\r\n\r\n"},
	    {10, "event: message\r\nid: 1\r\nretry: 100\r\n"
	         "data: {\"choices\":[{\"index\":0,\"delta\":"
	         "{\"role\":\"assistant\"}}]}\r\n\r\n"},
	    {10,
	     "data: {\"choices\":[{\"delta\":{\"content\":null}}]}\r\n\r\n"},
	    {10, "data: {\"choices\":[{\"delta\":{\"content\":\"One\"}}]}\r"},
	    {10, "\n\r\n: keep-alive\r\n"},
	    {10, "data: {\"choices\":[{\"delta\":\r\n"
	         "data: {\"content\":\" two\"}}]}\r\n\r\n"},
	    {10,
	     "data:{\"choices\":[{\"delta\":{\"content\":\" three\"}}]}\r\r"},
	    {10, "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\r\n\r\n"
	         "data: {\"choices\":[{\"delta\":{},"
	         "\"finish_reason\":\"stop\"}]}\r\n\r\n"},
	    {10, "data: [DONE]\r\n\r\n"},
	};
	struct srv sv = {.head = SSE_HEAD,
	                 .steps = steps,
	                 .nsteps = sizeof(steps) / sizeof(steps[0])};
	struct got g = {0};
	const char *err = "";

	CHECK(srv_start(&sv) == 0);
	CHECK_EQ(chat(&sv, &g, 0, 0, &err), 0);
	CHECK_STR(g.text, "One two three");
	CHECK_EQ(g.n, 3);
	CHECK_EQ(g.empty, 0);
	srv_free(&sv);
	return 0;
}

TEST(http_error)
{
	static const struct standin_step json_body[] = {
	    {0, "{\"error\":{\"message\":\"model overloaded\","
	        "\"type\":\"server_error\",\"code\":null}}"}};
	static const struct standin_step text_body[] = {
	    {0, "Unauthorized\nbye"}};
	struct srv a = {.head = "HTTP/1.1 500 Internal Server Error\r\n"
	                        "Content-Type: application/json\r\n",
	                .steps = json_body,
	                .nsteps = 1};
	struct srv b = {.head = "HTTP/1.1 401 Unauthorized\r\n",
	                .steps = text_body,
	                .nsteps = 1};
	struct got g = {0};
	const char *err = "";

	CHECK(srv_start(&a) == 0);
	CHECK_EQ(chat(&a, &g, 0, 0, &err), EIO);
	CHECK_STR(err, "HTTP 500: model overloaded");
	CHECK_EQ(g.n, 0);
	srv_free(&a);

	/* Not JSON: the body's text, on one line. */
	CHECK(srv_start(&b) == 0);
	CHECK_EQ(chat(&b, &g, 0, 0, &err), EIO);
	CHECK_STR(err, "HTTP 401: Unauthorized bye");
	CHECK_EQ(g.n, 0);
	srv_free(&b);
	return 0;
}

TEST(malformed_json)
{
	static const struct standin_step bad[] = {
	    {0, TEXT("Hello")},
	    {20, "data: {\"choices\":[{\"delta\":{\"content\":\"oops\"}}]\n\n"},
	    {20, TEXT(" never") DONE}};
	static const struct standin_step not_object[] = {
	    {0, "data: 42\n\n" DONE}};
	static const struct standin_step in_stream[] = {
	    {0, TEXT("Hi") "data: {\"error\":{\"message\":\"context too "
	                   "long\"}}\n\n" DONE}};
	struct srv a = {.head = SSE_HEAD, .steps = bad, .nsteps = 3};
	struct srv b = {.head = SSE_HEAD, .steps = not_object, .nsteps = 1};
	struct srv c = {.head = SSE_HEAD, .steps = in_stream, .nsteps = 1};
	struct got ga = {0}, gb = {0}, gc = {0};
	const char *err = "";

	CHECK(srv_start(&a) == 0);
	CHECK_EQ(chat(&a, &ga, 0, 0, &err), EPROTO);
	CHECK_STR(ga.text, "Hello");
	CHECK(strstr(err, "malformed JSON"));
	srv_free(&a);

	CHECK(srv_start(&b) == 0);
	CHECK_EQ(chat(&b, &gb, 0, 0, &err), EPROTO);
	CHECK_EQ(gb.n, 0);
	srv_free(&b);

	/* An error object inside a 200 stream, as vLLM sends one. */
	CHECK(srv_start(&c) == 0);
	CHECK_EQ(chat(&c, &gc, 0, 0, &err), EIO);
	CHECK_STR(gc.text, "Hi");
	CHECK_STR(err, "error in the stream: context too long");
	srv_free(&c);
	return 0;
}

TEST(stream_cut_before_done)
{
	static const struct standin_step cut[] = {
	    {0, TEXT("Hello")}, {20, TEXT(" world")}, {20, "data: [DO"}};
	struct srv a = {.head = SSE_HEAD, .steps = cut, .nsteps = 3};
	struct srv b = {.head = SSE_HEAD,
	                .chunked = true,
	                .cut = true,
	                .steps = cut,
	                .nsteps = 3};
	struct srv c = {.head = SSE_HEAD};
	struct got ga = {0}, gb = {0}, gc = {0};
	const char *err = "";

	/* The connection closes: a clean end for HTTP, not for the reply. */
	CHECK(srv_start(&a) == 0);
	CHECK_EQ(chat(&a, &ga, 0, 0, &err), EPROTO);
	CHECK_STR(ga.text, "Hello world");
	CHECK_STR(err, "the stream ended before [DONE]");
	srv_free(&a);

	/* Chunked, without its last chunk. */
	CHECK(srv_start(&b) == 0);
	CHECK_EQ(chat(&b, &gb, 0, 0, &err), EPROTO);
	CHECK_STR(gb.text, "Hello world");
	CHECK(strncmp(err, "the stream was cut: ", 20) == 0);
	srv_free(&b);

	/* Headers, then nothing at all. */
	CHECK(srv_start(&c) == 0);
	CHECK_EQ(chat(&c, &gc, 0, 0, &err), EPROTO);
	CHECK_EQ(gc.n, 0);
	CHECK_STR(err, "no data in the stream");
	srv_free(&c);
	return 0;
}

/* Each line is bounded, and so is one event: short data lines that never
 * meet a blank line must not pile up without end. The client gives up at
 * once, as with any malformed stream (the caller then apologises), rather
 * than holding all of it until a timeout. */
TEST(event_size_bounded)
{
	static const char line[] =
	    "data: {\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";
	const size_t nlines = (3u << 20) / (sizeof(line) - 1); /* 3 MiB */
	struct standin_step step = {0, NULL};
	struct srv sv = {.head = SSE_HEAD, .hold = true, .nsteps = 1};
	struct got g = {0};
	const char *err = "";
	char *big;
	uint64_t t0, dt;
	int rc;

	big = malloc(nlines * (sizeof(line) - 1) + 1);
	CHECK(big);
	for (size_t i = 0; i < nlines; i++)
		memcpy(big + i * (sizeof(line) - 1), line, sizeof(line) - 1);
	big[nlines * (sizeof(line) - 1)] = '\0';
	step.data = big;
	sv.steps = &step;
	CHECK(srv_start(&sv) == 0);
	t0 = now_ms();
	rc = chat(&sv, &g, 4000, 4000, &err);
	dt = now_ms() - t0;
	srv_free(&sv);
	free(big);
	CHECK_EQ(rc, EPROTO);
	CHECK_STR(err, "event too large in the stream");
	CHECK(dt < 3000);
	CHECK_EQ(g.n, 0);
	return 0;
}

/* The parse without the transfer: the same reply in pieces of every size
 * reads the same, and ends as llm_chat's would. */
TEST(sse_parse_any_piece_size)
{
	static const char body[] =
	    ": keep-alive\r\n\r\n"
	    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
	    "data: "
	    "{\"choices\":[{\"delta\":{\"content\":\"caf\xc3\xa9\"}}]}\r\r"
	    "event: x\ndata: {\"choices\":[{\"delta\":\ndata: "
	    "{\"content\":\" ok\"}}]}\n\n" DONE;
	const char *err = "";

	for (size_t chunk = 0; chunk <= sizeof(body); chunk++) {
		struct got g = {0};

		CHECK_EQ(llm_sse_parse(body, sizeof(body) - 1, chunk, on_delta,
		                       &g, &run, &err),
		         0);
		CHECK_STR(g.text, "caf\xc3\xa9 ok");
		CHECK_EQ(g.empty, 0);
	}
	{
		static const char busy[] = "data: {\"error\":\"busy\"}\n\n";
		struct got g = {0};

		CHECK_EQ(llm_sse_parse(body, sizeof(body) - 1 - strlen(DONE), 7,
		                       on_delta, &g, &run, &err),
		         EPROTO);
		CHECK_STR(err, "the stream ended before [DONE]");
		CHECK_EQ(llm_sse_parse(busy, strlen(busy), 0, on_delta, &g,
		                       &run, &err),
		         EIO);
		CHECK_STR(err, "error in the stream: busy");
		CHECK_EQ(llm_sse_parse("", 0, 0, on_delta, &g, &run, &err),
		         EPROTO);
		CHECK_STR(err, "no data in the stream");
	}
	return 0;
}

#define TC(frag)                                                               \
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[" frag    \
	"]},\"finish_reason\":null}]}\n\n"

/* Tool calls as OpenAI streams them (index, id and name first, arguments
 * in pieces), as some servers do (each call whole, without index, ids
 * and names repeated), joined the same in pieces of every size; the
 * reply's words beside them still stream. */
TEST(tool_calls_assembled)
{
	static const char openai[] = TEXT("One moment.") TC(
	    "{\"index\":0,\"id\":\"call_A\",\"type\":\"function\","
	    "\"function\":{\"name\":\"transfer_call\",\"arguments\":\"\"}}")
	    TC("{\"index\":0,\"function\":{\"arguments\":\"{\\\"rea\"}}")
	        TC("{\"index\":0,\"function\":{\"arguments\":\"son\\\":"
	           "\\\"x\\\"}\"}}")
	            TC("{\"index\":1,\"id\":\"call_B\",\"type\":\"function\","
	               "\"function\":{\"name\":\"end_call\",\"arguments\":\"{}"
	               "\"}}") "data: {\"choices\":[{\"index\":0,\"delta\":{},"
	                       "\"finish_reason\":\"tool_calls\"}]}\n\n" DONE;
	static const char whole[] =
	    TC("{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{"
	       "\\\"x\\\":\"}}") TC("{\"id\":\"a\",\"function\":{\"name\":"
	                            "\"f\",\"arguments\":\"1}\"}}")
	        TC("{\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":"
	           "null}}") "data: "
	                     "{\"choices\":[{\"delta\":{},\"finish_reason\":"
	                     "\"stop\"}]}\n\n" DONE;
	const char *err = "";

	for (size_t chunk = 0; chunk <= sizeof(openai); chunk += 7) {
		struct got g = {0};

		CHECK_EQ(llm_sse_parse(openai, sizeof(openai) - 1, chunk,
		                       on_delta, &g, &run, &err),
		         0);
		CHECK_STR(g.text, "One moment.");
		CHECK_EQ(run.ncalls, 2);
		CHECK_STR(run.calls[0].id, "call_A");
		CHECK_STR(run.calls[0].name, "transfer_call");
		CHECK_STR(run.calls[0].args, "{\"reason\":\"x\"}");
		CHECK_EQ(run.calls[0].args_len, strlen(run.calls[0].args));
		CHECK(!run.calls[0].args_cut);
		CHECK_STR(run.calls[1].id, "call_B");
		CHECK_STR(run.calls[1].name, "end_call");
		CHECK_STR(run.calls[1].args, "{}");
		CHECK_STR(run.finish, "tool_calls");
	}
	{
		struct got g = {0};

		CHECK_EQ(llm_sse_parse(whole, sizeof(whole) - 1, 0, on_delta,
		                       &g, &run, &err),
		         0);
		CHECK_EQ(run.ncalls, 2);
		CHECK_STR(run.calls[0].name, "f");
		CHECK_STR(run.calls[0].args, "{\"x\":1}");
		CHECK_STR(run.calls[1].id, "b");
		CHECK_STR(run.calls[1].name, "g");
		CHECK_STR(run.calls[1].args, "");
		CHECK_STR(run.finish, "stop");
		/* A plain reply after it has none. */
		CHECK_EQ(llm_sse_parse(TEXT("Hi.") DONE,
		                       strlen(TEXT("Hi.") DONE), 0, on_delta,
		                       &g, &run, &err),
		         0);
		CHECK_EQ(run.ncalls, 0);
		CHECK_STR(run.finish, "");
	}
	return 0;
}

/* Calls past the bounds: too many, a name or id too long, a NUL inside,
 * fragments of the wrong shape are malformed; arguments too long are cut
 * and flagged, for the model to be told. */
TEST(tool_calls_bounded)
{
	static const struct {
		const char *body;
		const char *why;
	} bad[] = {
	    {TC("{\"index\":4,\"id\":\"x\",\"function\":{\"name\":\"f\"}}"),
	     "malformed tool call: index 4, at most 4 calls"},
	    {TC("{\"index\":-1}"),
	     "malformed tool call: index -1, at most 4 calls"},
	    {TC("{\"index\":\"0\"}"),
	     "malformed tool call: index is not an integer"},
	    {TC("{\"index\":0,\"function\":{\"name\":"
	        "\"n12345678901234567890123456789012345678901234567890123456789"
	        "012345\"}}"),
	     "malformed tool call: name too long"},
	    {TC("{\"index\":0,\"function\":{\"name\":\"end_call\\u0000x\"}}"),
	     "malformed JSON in the stream: \\u0000 is not allowed without "
	     "JSON_ALLOW_NUL near '\"end_call\\u0000x\"'"},
	    {TC("{\"index\":0,\"function\":{\"arguments\":{}}}"),
	     "malformed tool call: arguments"},
	    {TC("{\"index\":0,\"function\":[]}"),
	     "malformed tool call: function is not an object"},
	    {TC("7"), "malformed tool call: not an object"},
	    {"data: {\"choices\":[{\"delta\":{\"tool_calls\":{}}}]}\n\n",
	     "malformed tool call: tool_calls is not a list"},
	    {TC("{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"},{\"id\":\"d\"},"
	        "{\"id\":\"e\"}"),
	     "malformed tool call: too many calls"},
	};
	char *body, id[LLM_TOOL_ID_MAX + 2];
	const char *err = "";
	size_t n, off;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct got g = {0};
		char full[512];

		snprintf(full, sizeof(full), "%s%s", bad[i].body, DONE);
		CHECK_EQ(llm_sse_parse(full, strlen(full), 0, on_delta, &g,
		                       &run, &err),
		         EPROTO);
		CHECK_STR(err, bad[i].why);
	}
	/* An id one byte too long. */
	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	body = malloc(2 * LLM_TOOL_ARGS_MAX + 1024);
	CHECK(body != NULL);
	snprintf(body, 1024, TC("{\"index\":0,\"id\":\"%s\"}") DONE, id);
	CHECK_EQ(
	    llm_sse_parse(body, strlen(body), 0, on_delta, NULL, &run, &err),
	    EPROTO);
	CHECK_STR(err, "malformed tool call: id too long");
	/* Arguments past LLM_TOOL_ARGS_MAX, in two fragments. */
	off = (size_t)sprintf(body, "%s",
	                      TC("{\"index\":0,\"id\":\"c\",\"function\":{"
	                         "\"name\":\"f\",\"arguments\":\"{\"}}"));
	for (int k = 0; k < 2; k++) {
		off += (size_t)sprintf(body + off, "%s",
		                       "data: {\"choices\":[{\"delta\":{"
		                       "\"tool_calls\":[{\"index\":0,"
		                       "\"function\":{\"arguments\":\"");
		for (n = 0; n < LLM_TOOL_ARGS_MAX / 2 + 10; n++)
			body[off++] = 'a';
		off += (size_t)sprintf(body + off, "\"}}]}}]}\n\n");
	}
	off += (size_t)sprintf(body + off, DONE);
	CHECK_EQ(llm_sse_parse(body, off, 0, on_delta, NULL, &run, &err), 0);
	CHECK_EQ(run.ncalls, 1);
	CHECK(run.calls[0].args_cut);
	CHECK_EQ(run.calls[0].args_len, LLM_TOOL_ARGS_MAX);
	CHECK_EQ(strlen(run.calls[0].args), LLM_TOOL_ARGS_MAX);
	/* Cut on a character: "{" then 2-byte characters past the bound. */
	off = (size_t)sprintf(body, "%s",
	                      TC("{\"index\":0,\"id\":\"c\",\"function\":{"
	                         "\"name\":\"f\",\"arguments\":\"{\"}}"));
	off += (size_t)sprintf(body + off, "%s",
	                       "data: {\"choices\":[{\"delta\":{"
	                       "\"tool_calls\":[{\"index\":0,"
	                       "\"function\":{\"arguments\":\"");
	for (n = 0; n < LLM_TOOL_ARGS_MAX / 2 + 10; n++)
		off += (size_t)sprintf(body + off, "\xc3\xa9");
	off += (size_t)sprintf(
	    body + off,
	    "\"}}]}}]}\n\n" TC("{\"index\":0,\"function\":{\"arguments\":"
	                       "\"}\"}}") DONE);
	CHECK_EQ(llm_sse_parse(body, off, 0, on_delta, NULL, &run, &err), 0);
	CHECK(run.calls[0].args_cut);
	CHECK_EQ(run.calls[0].args_len, LLM_TOOL_ARGS_MAX - 1);
	CHECK(utf8_valid(run.calls[0].args, run.calls[0].args_len));
	free(body);
	return 0;
}

/* The request offers the tools as OpenAI takes them, tool_choice "none"
 * when they are off, and carries an assistant's calls and a tool's answer
 * in the history; a schema that is not a JSON object is refused. */
TEST(tool_request)
{
	static const struct standin_step steps[] = {{0, TEXT("Ok.") DONE}};
	static const struct llm_tool tools[] = {
	    {"end_call", "Ends the call.", "{\"type\":\"object\"}"}};
	struct llm_tool_call call = {.id = "call_1", .name = "end_call"};
	const struct llm_message msgs[] = {
	    {"user", "bye"},
	    {"assistant", NULL, &call, 1, NULL},
	    {"tool", "{\"ok\":true}", NULL, 0, "call_1"},
	};
	struct srv sv = {
	    .head = SSE_HEAD, .chunked = true, .steps = steps, .nsteps = 1};
	struct llm_params p;
	struct got g = {0};
	const char *err = "";
	struct llm_tool broken = {"x", "", "[1"};
	struct llm_chat *c = NULL;

	strcpy(call.args, "{}");
	call.args_len = 2;
	CHECK(srv_start(&sv) == 0);
	llm_params_default(&p);
	p.base_url = sv.base;
	p.model = "m";
	p.tools = tools;
	p.ntools = 1;
	p.tools_off = true;
	llm_run_init(&run);
	CHECK_EQ(run_chat(&p, msgs, 3, on_delta, &g, &err), 0);
	srv_stop(&sv);
	CHECK_STR(g.text, "Ok.");
	CHECK(strstr(sv.req_body,
	             "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
	             "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{"
	             "\"name\":\"end_call\",\"arguments\":\"{}\"}}]}"));
	CHECK(strstr(sv.req_body, "{\"role\":\"tool\",\"content\":"
	                          "\"{\\\"ok\\\":true}\",\"tool_call_id\":"
	                          "\"call_1\"}"));
	CHECK(strstr(sv.req_body,
	             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
	             "\"end_call\",\"description\":\"Ends the call.\","
	             "\"parameters\":{\"type\":\"object\"}}}]"));
	CHECK(strstr(sv.req_body, "\"tool_choice\":\"none\""));
	srv_free(&sv);
	p.tools = &broken;
	CHECK_EQ(llm_chat_start(&c, hc, &p, msgs, 1, on_delta, loop_done, NULL,
	                        &err),
	         EINVAL);
	CHECK(strncmp(err, "tool x: parameters:", 19) == 0);
	return 0;
}

TEST(timeouts)
{
	static const struct standin_step role_only[] = {
	    {0, "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}"
	        "\n\n: thinking\n\n"}};
	static const struct standin_step slow[] = {{0, TEXT("Hello")},
	                                           {5000, TEXT(" late") DONE}};
	struct srv silent = {0};
	struct srv a = {
	    .head = SSE_HEAD, .hold = true, .steps = role_only, .nsteps = 1};
	struct srv b = {.head = SSE_HEAD, .steps = slow, .nsteps = 2};
	struct got g = {0}, gb = {0};
	const char *err = "";
	uint64_t t0, dt;

	/* Accepts, reads the request, answers nothing. */
	CHECK(srv_start(&silent) == 0);
	t0 = now_ms();
	CHECK_EQ(chat(&silent, &g, 300, 0, &err), ETIMEDOUT);
	dt = now_ms() - t0;
	CHECK(dt >= 290 && dt < 1000);
	CHECK_STR(err, "no text within 300 ms");
	CHECK(silent.req_body != NULL);
	srv_free(&silent);

	/* Headers and a role, but no text: still late. */
	CHECK(srv_start(&a) == 0);
	t0 = now_ms();
	CHECK_EQ(chat(&a, &g, 300, 0, &err), ETIMEDOUT);
	dt = now_ms() - t0;
	CHECK(dt >= 290 && dt < 1000);
	CHECK_EQ(g.n, 0);
	srv_free(&a);

	/* Text came, but the whole reply is late. */
	CHECK(srv_start(&b) == 0);
	t0 = now_ms();
	CHECK_EQ(chat(&b, &gb, 300, 500, &err), ETIMEDOUT);
	dt = now_ms() - t0;
	CHECK(dt >= 490 && dt < 1200);
	CHECK_STR(gb.text, "Hello");
	srv_free(&b);
	return 0;
}

static size_t clause(const char *s, size_t min_chars)
{
	return llm_clause_end(s, strlen(s), min_chars);
}

TEST(clause_end)
{
	CHECK_EQ(clause("", 0), 0);
	CHECK_EQ(clause("Hello there", 0), 0);
	CHECK_EQ(clause("Hello there. How are", 0), 12);
	CHECK_EQ(clause("Hello there.", 0), 12);
	CHECK_EQ(clause("Wait! Go", 0), 5);
	CHECK_EQ(clause("Why? No", 0), 4);
	CHECK_EQ(clause("First; second", 0), 6);
	CHECK_EQ(clause("Note: this", 0), 5);
	CHECK_EQ(clause("Line one.\nLine two", 0), 9);
	/* Numbers. */
	CHECK_EQ(clause("Pi is 3.14 today. Yes", 0), 17);
	CHECK_EQ(clause("It costs 3", 0), 0);
	CHECK_EQ(clause("It costs 3.", 0), 0);
	CHECK_EQ(clause("It costs 3. Next", 0), 11);
	CHECK_EQ(clause("We are 3!", 0), 9);
	CHECK_EQ(clause("1,000 people at 10:30 came", 0), 0);
	/* Abbreviations. */
	CHECK_EQ(clause("Ask Dr. Smith now. Ok", 0), 18);
	CHECK_EQ(clause("Ask Dr.", 0), 0);
	CHECK_EQ(clause("Mrs. and MR. Jones", 0), 0);
	CHECK_EQ(clause("Salt, e.g. the coarse kind", 100), 0);
	CHECK_EQ(clause("Salt, i.e. the coarse kind. Then", 100), 27);
	CHECK_EQ(clause("Go to the dr. Then rest", 0), 0);
	CHECK_EQ(clause("Go to the shop. Then rest", 0), 15);
	/* Commas wait for min_chars. */
	CHECK_EQ(clause("Well, then", 10), 0);
	CHECK_EQ(clause("Well, then", 5), 5);
	CHECK_EQ(clause("Well, then, I think so", 10), 11);
	CHECK_EQ(clause("Well,", 3), 5);
	/* A mark must be followed by whitespace. */
	CHECK_EQ(clause("Really...? Yes", 0), 10);
	CHECK_EQ(clause("see example.com now", 0), 0);
	CHECK_EQ(llm_clause_end("Hi. There", 2, 0), 0);
	CHECK_EQ(llm_clause_end("Hi. There", 3, 0), 3);
	return 0;
}

/* ---- on the loop only ------------------------------------------------- */

struct cut_in {
	struct llm_chat *c;
	struct got g;
	bool done;
	int err;
	int pending_done;
};

static void cut_delta(const char *text, size_t len, void *arg)
{
	struct cut_in *ci = arg;

	on_delta(text, len, &ci->g);
	/* Released from inside its own handler, as a barge-in does. */
	ci->c = mem_deref(ci->c);
	re_cancel();
}

static void cut_done(int err, const char *why, void *arg)
{
	struct cut_in *ci = arg;

	(void)why;
	ci->done = true;
	ci->err = err;
	re_cancel();
}

static void run_for(unsigned ms)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, ms, loop_give_up, NULL);
	re_main(NULL);
	tmr_cancel(&t);
}

/* Released from its delta handler, and from outside while the server is
 * silent: no handler after, the server sees the connection go. */
TEST(loop_cancel)
{
	static const struct standin_step steps[] = {
	    {0, TEXT("Hello") TEXT(" there")}, {300, TEXT(" late") DONE}};
	struct srv sv = {
	    .head = SSE_HEAD, .chunked = true, .steps = steps, .nsteps = 2};
	struct srv quiet = {0};
	struct cut_in ci = {0};
	struct llm_params p;
	const char *why = NULL;

	CHECK(srv_start(&sv) == 0);
	llm_params_default(&p);
	p.base_url = sv.base;
	p.model = "m";
	CHECK_EQ(llm_chat_start(&ci.c, hc, &p, hello, 1, cut_delta, cut_done,
	                        &ci, &why),
	         0);
	run_for(3000);
	CHECK(ci.c == NULL);
	run_for(500);
	CHECK(!ci.done);
	CHECK_STR(ci.g.text, "Hello");
	CHECK_EQ(ci.g.n, 1);
	CHECK_EQ(httpc_active(hc), 0);
	srv_stop(&sv);
	srv_free(&sv);

	CHECK(srv_start(&quiet) == 0);
	p.base_url = quiet.base;
	memset(&ci, 0, sizeof(ci));
	CHECK_EQ(llm_chat_start(&ci.c, hc, &p, hello, 1, cut_delta, cut_done,
	                        &ci, &why),
	         0);
	run_for(200);
	CHECK(!ci.done);
	ci.c = mem_deref(ci.c);
	CHECK_EQ(httpc_active(hc), 0);
	run_for(300);
	CHECK(!ci.done);
	srv_stop(&quiet);
	CHECK(quiet.req_body != NULL);
	srv_free(&quiet);
	return 0;
}

TEST(loop_refused_and_bad_arguments)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	const struct llm_message not_utf8[] = {{"user", "caf\xe9"}};
	const struct llm_message no_content[] = {{"user", NULL}};
	struct llm_params p;
	struct llm_chat *c = NULL;
	struct got g = {0};
	const char *err = "";
	char base[64];
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/v1",
	         ntohs(sa.sin_port));
	llm_params_default(&p);
	CHECK_EQ(p.connect_timeout_ms, 2000);
	CHECK_EQ(p.first_token_timeout_ms, 5000);
	CHECK_EQ(p.total_timeout_ms, 30000);
	CHECK(p.temperature < 0);
	CHECK_EQ(p.max_tokens, 0);
	CHECK_EQ(
	    llm_chat_start(&c, hc, &p, hello, 1, on_delta, loop_done, &g, &err),
	    EINVAL);
	p.base_url = base;
	p.model = "m";
	CHECK_EQ(run_chat(&p, hello, 1, on_delta, &g, &err), ECONNREFUSED);
	CHECK(strncmp(err, "cannot connect to http://127.0.0.1:", 35) == 0);
	CHECK_EQ(g.n, 0);

	CHECK_EQ(llm_chat_start(&c, hc, &p, no_content, 1, on_delta, loop_done,
	                        &g, &err),
	         EINVAL);
	CHECK_STR(err, "message 0 has no role or content");
	CHECK_EQ(llm_chat_start(&c, hc, &p, not_utf8, 1, on_delta, loop_done,
	                        &g, &err),
	         EINVAL);
	CHECK_STR(err, "message 0 is not UTF-8");
	CHECK_EQ(llm_chat_start(&c, NULL, &p, hello, 1, on_delta, loop_done, &g,
	                        &err),
	         EINVAL);
	CHECK_EQ(llm_chat_start(&c, hc, &p, hello, 1, on_delta, NULL, &g, &err),
	         EINVAL);
	p.model = NULL;
	CHECK_EQ(
	    llm_chat_start(&c, hc, &p, hello, 1, on_delta, loop_done, &g, &err),
	    EINVAL);
	CHECK(c == NULL);
	return 0;
}

/* g first: on_delta takes the handlers' one argument as its struct got. */
struct many {
	struct got g;
	struct llm_chat *c;
	bool done;
	int err;
	int *left;
};

static void many_done(int err, const char *why, void *arg)
{
	struct many *m = arg;

	(void)why;
	m->done = true;
	m->err = err;
	if (!--*m->left)
		re_cancel();
}

/* Chats side by side on the one thread, each answered after 300 ms of
 * thinking: together they take about as long as one. */
TEST(loop_chats_at_once)
{
	enum { N = 8 };
	static const struct standin_step steps[] = {{300, TEXT("ok") DONE}};
	static struct srv sv[N];
	static struct many m[N];
	struct llm_params p;
	int left = N;
	uint64_t t0 = now_ms();

	memset(sv, 0, sizeof(sv));
	memset(m, 0, sizeof(m));
	llm_params_default(&p);
	p.model = "m";
	for (int i = 0; i < N; i++) {
		sv[i].head = SSE_HEAD;
		sv[i].steps = steps;
		sv[i].nsteps = 1;
		CHECK(srv_start(&sv[i]) == 0);
		p.base_url = sv[i].base;
		m[i].left = &left;
		CHECK_EQ(llm_chat_start(&m[i].c, hc, &p, hello, 1, on_delta,
		                        many_done, &m[i], NULL),
		         0);
	}
	run_for(5000);
	printf("# %d chats of 300 ms: %u ms\n", N, (unsigned)(now_ms() - t0));
	CHECK(now_ms() - t0 < 1500);
	for (int i = 0; i < N; i++) {
		CHECK(m[i].done);
		CHECK_EQ(m[i].err, 0);
		CHECK_STR(m[i].g.text, "ok");
		mem_deref(m[i].c);
		srv_stop(&sv[i]);
		srv_free(&sv[i]);
	}
	return 0;
}

int main(void)
{
	if (libre_init() || httpc_alloc(&hc))
		return 1;
	llm_run_init(&run);
	RUN(streams_split_anywhere);
	RUN(request_body_and_auth);
	RUN(crlf_comments_and_empty_chunks);
	RUN(http_error);
	RUN(malformed_json);
	RUN(stream_cut_before_done);
	RUN(event_size_bounded);
	RUN(sse_parse_any_piece_size);
	RUN(tool_calls_assembled);
	RUN(tool_calls_bounded);
	RUN(tool_request);
	RUN(timeouts);
	RUN(loop_cancel);
	RUN(loop_refused_and_bad_arguments);
	RUN(loop_chats_at_once);
	RUN(clause_end);
	mem_deref(hc);
	libre_close();
	return test_failures ? 1 : 0;
}
