/*
 * The streaming listener's core (listen_ws.c) on Deepgram's wire, against
 * a WebSocket server this test runs on the same libre loop (libre's own
 * websock): the socket opens at once with the key and the query, the
 * audio goes as the caller's mu-law codes, the end of a turn is a
 * Finalize whose answer is the final; audio of an utterance begun before
 * the socket opened is held and sent; a dropped socket fails the open
 * utterance at its end (reported from the loop, never inside the call)
 * and comes back within the first backoff; a refused key fails turns with
 * the provider's message, the key masked, the backoff growing; KeepAlive
 * goes while idle; no final in time fails the turn and makes a new
 * socket; the release says CloseStream and closes; a turn ended early
 * whose caller goes on continues the stream, its audio sent once and its
 * final the early part's and the rest's, whichever came first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include <re_main.h>
#include <re_tcp.h>

#include "core/log.h"
#include "core/g711.h"
#include "worker/listen_ws.h"
#include "test.h"

/* ---- the server ---- */

struct srv {
	struct http_sock *hs;
	struct websock *ws;
	struct websock_conn *conn;
	uint16_t port;
	unsigned upgrades, refused;
	unsigned refuse; /* refuse this many upgrades with 401 */
	bool answer;     /* answer Finalize */
	/* what the answers say, in turn ("hello  world" past them), and the
	 * stream's seconds the next answer starts at */
	const char *say[4];
	unsigned nsay, said;
	double fin_at;
	size_t pend_end; /* a Finalize not answered (answer false): its audio */
	bool pending;
	char auth[256], path[64], query[1024];
	uint8_t audio[16000];
	size_t alen;
	char texts[4096];
	bool closed;
};

static struct srv srv;

static void srv_text(const char *s)
{
	if (srv.conn)
		(void)websock_send(srv.conn, WEBSOCK_TEXT, "%s", s);
}

/* The last Finalize's answer: its audio since the one before, final. */
static void srv_answer(void)
{
	const char *text =
	    srv.said < srv.nsay ? srv.say[srv.said++] : "hello  world";
	double end = (double)srv.pend_end / 8000;
	char r[512];

	snprintf(r, sizeof(r),
	         "{\"type\":\"Results\",\"start\":%.3f,\"duration\":%.3f,"
	         "\"is_final\":true,\"from_finalize\":true,\"channel\":"
	         "{\"alternatives\":[{\"transcript\":\"%s\"}]}}",
	         srv.fin_at, end - srv.fin_at, text);
	srv.fin_at = end;
	srv.pending = false;
	srv_text(r);
}

static void srv_recv(const struct websock_hdr *hdr, struct mbuf *mb, void *arg)
{
	size_t n = mbuf_get_left(mb);
	const char *txt;

	(void)arg;
	if (hdr->opcode == WEBSOCK_BIN) {
		size_t k = n < sizeof(srv.audio) - srv.alen
		               ? n
		               : sizeof(srv.audio) - srv.alen;

		memcpy(srv.audio + srv.alen, mbuf_buf(mb), k);
		srv.alen += k;
		return;
	}
	txt = (const char *)mbuf_buf(mb);
	if (hdr->opcode != WEBSOCK_TEXT || !txt)
		return;
	snprintf(srv.texts + strlen(srv.texts),
	         sizeof(srv.texts) - strlen(srv.texts), "%.*s|", (int)n, txt);
	if (n == 19 && !memcmp(txt, "{\"type\":\"Finalize\"}", n)) {
		srv.pend_end = srv.alen;
		srv.pending = true;
		if (srv.answer)
			srv_answer();
	}
}

static void srv_close(int err, void *arg)
{
	(void)err;
	(void)arg;
	srv.closed = true;
	srv.conn = mem_deref(srv.conn);
}

static void srv_req(struct http_conn *hc, const struct http_msg *msg, void *arg)
{
	const struct http_hdr *a = http_msg_xhdr(msg, "Authorization");

	(void)arg;
	srv.auth[0] = '\0';
	if (a)
		pl_strcpy(&a->val, srv.auth, sizeof(srv.auth));
	pl_strcpy(&msg->path, srv.path, sizeof(srv.path));
	pl_strcpy(&msg->prm, srv.query, sizeof(srv.query));
	if (srv.refuse || strcmp(srv.auth, "Token dg-unit-secret-key")) {
		if (srv.refuse)
			srv.refuse--;
		srv.refused++;
		(void)http_creply(hc, 401, "Unauthorized", "application/json",
		                  "{\"err_code\":\"INVALID_AUTH\",\"err_msg\":"
		                  "\"Invalid credentials.\"}");
		return;
	}
	srv.conn = mem_deref(srv.conn);
	srv.closed = false;
	srv.alen = 0;
	srv.fin_at = 0;
	srv.pending = false;
	if (!websock_accept(&srv.conn, srv.ws, hc, msg, 0, srv_recv, srv_close,
	                    NULL))
		srv.upgrades++;
}

static int srv_start(void)
{
	struct sa laddr;
	int err;

	memset(&srv, 0, sizeof(srv));
	srv.answer = true;
	sa_set_str(&laddr, "127.0.0.1", 0);
	err = websock_alloc(&srv.ws, NULL, NULL);
	if (!err)
		err = http_listen(&srv.hs, &laddr, srv_req, NULL);
	if (!err)
		err = tcp_sock_local_get(http_sock_tcp(srv.hs), &laddr);
	srv.port = sa_port(&laddr);
	return err;
}

static void srv_stop(void)
{
	srv.conn = mem_deref(srv.conn);
	srv.hs = mem_deref(srv.hs);
	srv.ws = mem_deref(srv.ws);
}

/* ---- the listener's side ---- */

static struct {
	uint32_t final_utt, error_utt;
	int err;
	char text[LWS_TEXT_MAX];
	unsigned finals, errors;
	bool inside; /* within a listener call */
	bool reported_inside;
} got;

static void on_final(uint32_t utt, const char *text, void *arg)
{
	(void)arg;
	got.final_utt = utt;
	snprintf(got.text, sizeof(got.text), "%s", text);
	got.finals++;
	got.reported_inside |= got.inside;
}

static void on_error(uint32_t utt, int err, void *arg)
{
	(void)arg;
	got.error_utt = utt;
	got.err = err;
	got.errors++;
	got.reported_inside |= got.inside;
}

static const struct listener_handlers handlers = {NULL, on_final, on_error};

static struct tmr guard, poll_tmr;
static bool (*until)(void);

static void guard_h(void *arg)
{
	(void)arg;
	re_cancel();
}

static void poll_h(void *arg)
{
	(void)arg;
	if (until && until())
		re_cancel();
	else
		tmr_start(&poll_tmr, 5, poll_h, NULL);
}

static bool never(void)
{
	return false;
}

/* Runs the loop for ms. */
static void run_loop_ms(uint32_t ms)
{
	until = never;
	tmr_start(&guard, ms, guard_h, NULL);
	tmr_start(&poll_tmr, 0, poll_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&guard);
	tmr_cancel(&poll_tmr);
}

/* Runs the loop until cond holds (true) or ms pass (false). */
static bool run_until(bool (*cond)(void), uint32_t ms)
{
	until = cond;
	tmr_start(&guard, ms, guard_h, NULL);
	tmr_start(&poll_tmr, 0, poll_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&guard);
	tmr_cancel(&poll_tmr);
	return !cond || cond();
}

static struct lws *cur;
static bool is_open(void)
{
	return cur && cur->state == LWS_OPEN && srv.conn;
}
static bool has_final(void)
{
	return got.finals > 0;
}
static bool has_error(void)
{
	return got.errors > 0;
}
static bool two_upgrades(void)
{
	return srv.upgrades >= 2 && is_open();
}
static bool server_closed(void)
{
	return srv.closed;
}
static bool keepalive_seen(void)
{
	return strstr(srv.texts, "KeepAlive") != NULL;
}
static bool refused_twice(void)
{
	return srv.refused >= 2;
}
static bool finalize_pending(void)
{
	return srv.pending;
}
static size_t want_audio;
static bool audio_in(void)
{
	return srv.alen >= want_audio;
}

static char base[64];
static struct provider pv;

static void setup(unsigned timeout_ms)
{
	memset(&got, 0, sizeof(got));
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", srv.port);
	pv = (struct provider){.name = "deepgram",
	                       .url = base,
	                       .api_key = "dg-unit-secret-key",
	                       .model = "nova-3",
	                       .language = "en",
	                       .timeout_ms = timeout_ms};
}

/* PCM whose mu-law codes are every code but 0x7f (-0, which encodes as
 * 0xff), in order, then again. */
static void pcm_of_codes(int16_t *pcm, uint8_t *codes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)(i % 256);

		codes[i] = c == 0x7f ? 0xff : c;
		pcm[i] = g711_ulaw_to_linear(c);
	}
}

static void turn(struct lws *l, uint32_t utt, const int16_t *pcm, size_t n)
{
	got.inside = true;
	lws_begin(l, utt);
	(void)lws_feed(l, pcm, n);
	(void)lws_end(l);
	got.inside = false;
}

TEST(connect_audio_final)
{
	int16_t pcm[1600];
	uint8_t codes[1600];

	setup(2000);
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, "c1", &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	CHECK_STR(srv.auth, "Token dg-unit-secret-key");
	CHECK_STR(srv.path, "/v1/listen");
	CHECK(strstr(srv.query, "encoding=mulaw"));
	CHECK(strstr(srv.query, "sample_rate=8000"));
	CHECK(strstr(srv.query, "channels=1"));
	CHECK(strstr(srv.query, "interim_results=true"));
	CHECK(strstr(srv.query, "model=nova-3"));
	CHECK(strstr(srv.query, "language=en"));
	CHECK(strstr(srv.query, "endpointing="));
	CHECK(strstr(srv.query, "utterance_end_ms=1000"));
	pcm_of_codes(pcm, codes, 1600);
	turn(cur, 1, pcm, 1600);
	CHECK(run_until(has_final, 3000));
	CHECK_EQ(got.final_utt, 1);
	CHECK_STR(got.text, "hello world");
	CHECK_EQ(srv.alen, 1600);
	CHECK(!memcmp(srv.audio, codes, 1600));
	CHECK(strstr(srv.texts, "{\"type\":\"Finalize\"}"));
	CHECK_EQ(srv.upgrades, 1);
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	CHECK(strstr(srv.texts, "{\"type\":\"CloseStream\"}"));
	lws_flush();
	return 0;
}

TEST(held_until_open)
{
	int16_t pcm[800];
	uint8_t codes[800];

	setup(2000);
	srv.alen = 0;
	srv.texts[0] = '\0';
	srv.upgrades = 0;
	pcm_of_codes(pcm, codes, 800);
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	/* the whole turn before the socket is open */
	turn(cur, 5, pcm, 800);
	CHECK(run_until(has_final, 3000));
	CHECK_EQ(got.final_utt, 5);
	CHECK_EQ(srv.alen, 800);
	CHECK(!memcmp(srv.audio, codes, 800));
	lws_release(cur);
	cur = NULL;
	lws_flush(); /* before the goodbye is over: freed all the same */
	return 0;
}

TEST(drop_then_reconnect)
{
	int16_t pcm[800] = {0};
	uint64_t t0;

	setup(2000);
	srv.upgrades = 0;
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	lws_begin(cur, 7);
	(void)lws_feed(cur, pcm, 800);
	/* the line goes mid-utterance */
	srv.conn = mem_deref(srv.conn);
	t0 = tmr_jiffies();
	CHECK(run_until(two_upgrades, 3000));
	CHECK(tmr_jiffies() - t0 < 600);
	CHECK_EQ(cur->attempts, 0);
	got.inside = true;
	(void)lws_end(cur);
	got.inside = false;
	CHECK_EQ(got.errors, 0); /* not from inside the call */
	CHECK(run_until(has_error, 1000));
	CHECK(!got.reported_inside);
	CHECK_EQ(got.error_utt, 7);
	/* the next turn goes through the new socket */
	turn(cur, 8, pcm, 800);
	CHECK(run_until(has_final, 3000));
	CHECK_EQ(got.final_utt, 8);
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	lws_flush();
	return 0;
}

TEST(refused_key)
{
	int16_t pcm[800] = {0};

	setup(2000);
	srv.refuse = 100;
	srv.refused = 0;
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(refused_twice, 3000));
	CHECK(cur->attempts >= 2);
	CHECK_EQ(cur->down_status, 401);
	CHECK(strstr(cur->down_why, "Invalid credentials"));
	CHECK(!strstr(cur->down_why, pv.api_key));
	CHECK(cur->state != LWS_OPEN);
	turn(cur, 3, pcm, 800);
	CHECK(!got.reported_inside);
	CHECK(run_until(has_error, 1000));
	CHECK_EQ(got.error_utt, 3);
	CHECK_EQ(got.err, EACCES);
	lws_release(cur);
	cur = NULL;
	srv.refuse = 0;
	return 0;
}

TEST(keepalive_when_idle)
{
	setup(2000);
	srv.texts[0] = '\0';
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	CHECK(!keepalive_seen());
	CHECK(run_until(keepalive_seen, 4000));
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	lws_flush();
	return 0;
}

TEST(no_final_in_time)
{
	int16_t pcm[800] = {0};
	uint64_t t0;

	setup(300);
	srv.answer = false;
	srv.upgrades = 0;
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	t0 = tmr_jiffies();
	turn(cur, 4, pcm, 800);
	CHECK(run_until(has_error, 2000));
	CHECK(tmr_jiffies() - t0 >= 290);
	CHECK_EQ(got.error_utt, 4);
	CHECK_EQ(got.err, ETIMEDOUT);
	/* the stream that stalled is replaced */
	CHECK(run_until(two_upgrades, 3000));
	srv.answer = true;
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	lws_flush();
	return 0;
}

/* The caller paused, the turn was ended early (a Finalize), the pause
 * went on to the socket, and the caller went on: the next utterance
 * continues the stream, nothing sent again, and its final is the early
 * one's followed by its own. A turn that ends in the pause instead sends
 * no more after it. */
TEST(reopen_goes_on_without_resending)
{
	int16_t pcm[3200];
	uint8_t codes[3200];

	setup(2000);
	pcm_of_codes(pcm, codes, 3200);
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	srv.say[0] = "Book a";
	srv.say[1] = "table for two.";
	srv.nsay = 2;
	srv.said = 0;
	lws_begin(cur, 1);
	(void)lws_feed(cur, pcm, 800);
	CHECK_EQ(lws_end(cur), 0);
	(void)lws_feed(cur, pcm + 800, 800); /* the pause */
	CHECK(run_until(has_final, 3000));
	CHECK_EQ(got.final_utt, 1);
	CHECK_STR(got.text, "Book a");
	CHECK_EQ(lws_reopen(cur, 2), 0);
	CHECK_EQ(lws_reopen(cur, 3), EINVAL); /* one is open */
	(void)lws_feed(cur, pcm + 1600, 800);
	got.finals = 0;
	CHECK_EQ(lws_end(cur), 0);
	CHECK(run_until(has_final, 3000));
	CHECK_EQ(got.final_utt, 2);
	CHECK_STR(got.text, "Book a table for two.");
	CHECK_EQ(srv.alen, 2400); /* the turn's audio went once, in order */
	CHECK(!memcmp(srv.audio, codes, 2400));
	/* the turn ends in the pause after an early end: what was fed
	 * before the rest goes, nothing after it */
	(void)lws_feed(cur, pcm + 2400, 400);
	lws_rest(cur);
	(void)lws_feed(cur, pcm + 2800, 400);
	CHECK_EQ(lws_reopen(cur, 4), EINVAL); /* nothing to go on from */
	want_audio = 2800;
	CHECK(run_until(audio_in, 2000));
	run_loop_ms(100);
	CHECK_EQ(srv.alen, 2800);
	CHECK(!memcmp(srv.audio, codes, 2800));
	CHECK_EQ(got.errors, 0);
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	lws_flush();
	return 0;
}

/* The caller goes on before the early end's final came: the next
 * utterance's final waits for it and has it first. */
TEST(reopen_before_the_first_part_is_in)
{
	int16_t pcm[2400];
	uint8_t codes[2400];

	setup(2000);
	pcm_of_codes(pcm, codes, 2400);
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	srv.say[0] = "Book a";
	srv.say[1] = "table for two.";
	srv.nsay = 2;
	srv.said = 0;
	srv.answer = false;
	lws_begin(cur, 7);
	(void)lws_feed(cur, pcm, 800);
	CHECK_EQ(lws_end(cur), 0);
	(void)lws_feed(cur, pcm + 800, 400);
	CHECK_EQ(lws_reopen(cur, 8), 0);
	(void)lws_feed(cur, pcm + 1200, 1200);
	CHECK(run_until(finalize_pending, 2000));
	srv_answer(); /* the early end's, late */
	CHECK(run_until(has_final, 2000));
	CHECK_EQ(got.final_utt, 7);
	got.finals = 0;
	srv.answer = true;
	CHECK_EQ(lws_end(cur), 0);
	CHECK(run_until(has_final, 3000));
	CHECK_EQ(got.final_utt, 8);
	CHECK_STR(got.text, "Book a table for two.");
	CHECK_EQ(srv.alen, 2400);
	CHECK(!memcmp(srv.audio, codes, 2400));
	lws_rest(cur);
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	lws_flush();
	return 0;
}

/* One call's provider refusing its key, its socket failing over and over,
 * delays no other call's turn. */
TEST(one_call_trouble)
{
	static const struct provider bad_pv = {
	    .name = "deepgram",
	    .url = base,
	    .api_key = "dg-wrong-key",
	    .model = "nova-3",
	    .timeout_ms = 2000,
	};
	int16_t pcm[800] = {0};
	struct lws *bad = NULL;
	uint64_t t0;

	setup(2000);
	srv.refused = 0;
	CHECK_EQ(lws_alloc(&bad, &lws_deepgram, &bad_pv, NULL, &handlers, NULL),
	         0);
	CHECK(run_until(refused_twice, 3000));
	CHECK_EQ(lws_alloc(&cur, &lws_deepgram, &pv, NULL, &handlers, NULL), 0);
	CHECK(run_until(is_open, 3000));
	turn(bad, 1, pcm, 800);
	t0 = tmr_jiffies();
	turn(cur, 2, pcm, 800);
	CHECK(run_until(has_final, 2000));
	CHECK(tmr_jiffies() - t0 < 500);
	CHECK_EQ(got.final_utt, 2);
	CHECK(run_until(has_error, 1000));
	CHECK_EQ(got.error_utt, 1);
	CHECK_EQ(got.err, EACCES);
	lws_release(bad);
	lws_release(cur);
	cur = NULL;
	CHECK(run_until(server_closed, 3000));
	lws_flush();
	return 0;
}

int main(void)
{
	if (libre_init() || srv_start()) {
		printf("FAIL setup: cannot start the loop or the server\n");
		return 1;
	}
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, NULL);
	tmr_init(&guard);
	tmr_init(&poll_tmr);
	RUN(connect_audio_final);
	RUN(held_until_open);
	RUN(drop_then_reconnect);
	RUN(refused_key);
	RUN(keepalive_when_idle);
	RUN(no_final_in_time);
	RUN(one_call_trouble);
	RUN(reopen_goes_on_without_resending);
	RUN(reopen_before_the_first_part_is_in);
	srv_stop();
	tmr_cancel(&guard);
	tmr_cancel(&poll_tmr);
	libre_close();
	TEST_EXIT();
}
