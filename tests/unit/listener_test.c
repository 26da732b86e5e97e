/*
 * The listener on an OpenAI-compatible /audio/transcriptions, against a
 * stand-in run inside the test (plain sockets, a thread per connection):
 * the utterance's audio as a 16-bit 8 kHz WAV in a multipart POST with the
 * model, the format and the language; the answer's text as the final;
 * an error status and a stall as the utterance's error; utterances in
 * flight together told apart by their numbers; and one call's stalled
 * provider not delaying another call's answer. The loop runs on the
 * test's thread.
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
#include "worker/listener.h"
#include "worker/provider.h"
#include "loop.h"
#include "standin.h"
#include "test.h"

static struct standin_srv srv;

static void reply(int fd, const char *status, const char *json)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
	         "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	         status, strlen(json), json);
	standin_send_all(fd, buf, strlen(buf));
}

static void answer(int fd, const struct standin_req *rq)
{
	const char *path = rq->path;

	if (!strcmp(path, "/ok/audio/transcriptions"))
		reply(fd, "200 OK", "{\"text\":\"  Hello,\\n  world. \"}");
	else if (!strcmp(path, "/slow/audio/transcriptions") &&
	         standin_pause(fd, 300, &srv.stop))
		reply(fd, "200 OK", "{\"text\":\"slow\"}");
	else if (!strcmp(path, "/fail/audio/transcriptions"))
		reply(
		    fd, "500 Internal Server Error",
		    "{\"error\":{\"message\":\"The server had an error\","
		    "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
	else if (!strcmp(path, "/stall/audio/transcriptions"))
		standin_pause(fd, 3000, &srv.stop);
}

/* ---- listeners on the loop -------------------------------------------- */

static struct httpc *http;

struct ear {
	struct provider pv;
	char url[128];
	struct listener *l;
	char text[4][256];
	int err[4];
	bool got[4];
	uint64_t t[4];
	int *pending;
};

static void on_final(uint32_t utt, const char *text, void *arg)
{
	struct ear *e = arg;

	snprintf(e->text[utt & 3], sizeof(e->text[0]), "%s", text);
	e->got[utt & 3] = true;
	e->t[utt & 3] = now_ms();
	if (!--*e->pending)
		re_cancel();
}

static void on_error(uint32_t utt, int err, void *arg)
{
	struct ear *e = arg;

	e->err[utt & 3] = err;
	e->got[utt & 3] = true;
	e->t[utt & 3] = now_ms();
	if (!--*e->pending)
		re_cancel();
}

static int make(struct ear *e, const char *path, const char *language,
                int *pending)
{
	const struct listener_handlers h = {.finalh = on_final,
	                                    .errorh = on_error};
	struct listener_config cfg = {.net = &e->pv, .call_id = "c1"};

	memset(e, 0, sizeof(*e));
	snprintf(e->url, sizeof(e->url),
	         "http://127.0.0.1:%d/%s/audio/transcriptions", srv.port, path);
	e->pv = (struct provider){.name = "openai",
	                          .http = http,
	                          .url = e->url,
	                          .api_key = "sk-stt-key-1",
	                          .model = "whisper-1",
	                          .language = language,
	                          .timeout_ms = 500};
	e->pending = pending;
	return listener_alloc(&e->l, &cfg, &h, e);
}

static void speech(int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)((i * 37) % 2000 - 1000);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

TEST(wav_posted_text_final)
{
	static struct ear e;
	static int16_t pcm[8000];
	int pending = 1;
	uint32_t utt = 0;
	const uint8_t *wav;

	speech(pcm, 8000);
	CHECK_EQ(make(&e, "ok", "en", &pending), 0);
	CHECK_EQ(listener_begin(e.l, &utt), 0);
	CHECK_EQ(utt, 1);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(listener_feed(e.l, pcm + i * 160, 160), 0);
	CHECK_EQ(listener_end(e.l), 0);
	run_loop(3000);
	CHECK(e.got[1]);
	CHECK_EQ(e.err[1], 0);
	CHECK_STR(e.text[1], "Hello, world.");
	pthread_mutex_lock(&srv.lock);
	CHECK(strstr(srv.last_head, "POST /ok/audio/transcriptions HTTP/1.1"));
	CHECK(strstr(srv.last_head, "Authorization: Bearer sk-stt-key-1"));
	CHECK(strstr(srv.last_head, "multipart/form-data; boundary="));
	CHECK(memmem(srv.last_body, srv.last_len,
	             "name=\"model\"\r\n\r\nwhisper-1\r\n", 27));
	CHECK(memmem(srv.last_body, srv.last_len,
	             "name=\"response_format\"\r\n\r\njson\r\n", 32));
	CHECK(memmem(srv.last_body, srv.last_len,
	             "name=\"language\"\r\n\r\nen\r\n", 23));
	wav = memmem(srv.last_body, srv.last_len, "RIFF", 4);
	CHECK(wav != NULL);
	CHECK(!memcmp(wav + 8, "WAVEfmt ", 8));
	CHECK_EQ(le32(wav + 24), 8000);          /* rate */
	CHECK_EQ(wav[22] | wav[23] << 8, 1);     /* mono */
	CHECK_EQ(wav[34] | wav[35] << 8, 16);    /* bits */
	CHECK_EQ(le32(wav + 40), 8000 * 2);      /* 1 s of samples */
	CHECK(!memcmp(wav + 44, pcm, 8000 * 2)); /* as fed */
	pthread_mutex_unlock(&srv.lock);
	mem_deref(e.l);
	return 0;
}

TEST(error_status_and_stall)
{
	static struct ear a, b;
	static int16_t pcm[1600];
	int pending = 2;
	uint64_t t0;

	speech(pcm, 1600);
	CHECK_EQ(make(&a, "fail", "", &pending), 0);
	CHECK_EQ(make(&b, "stall", NULL, &pending), 0);
	t0 = now_ms();
	CHECK_EQ(listener_begin(a.l, NULL), 0);
	CHECK_EQ(listener_feed(a.l, pcm, 1600), 0);
	CHECK_EQ(listener_end(a.l), 0);
	CHECK_EQ(listener_begin(b.l, NULL), 0);
	CHECK_EQ(listener_feed(b.l, pcm, 1600), 0);
	CHECK_EQ(listener_end(b.l), 0);
	run_loop(3000);
	CHECK_EQ(a.err[1], EPROTO);
	CHECK(!memmem(srv.last_body, srv.last_len, "name=\"language\"", 15));
	CHECK_EQ(b.err[1], ETIMEDOUT);
	CHECK(b.t[1] - t0 >= 490 && b.t[1] - t0 < 1500);
	/* the 500 came at once, not after the other call's stall */
	CHECK(a.t[1] - t0 < 300);
	mem_deref(a.l);
	mem_deref(b.l);
	return 0;
}

/* An utterance ended, then another begun and ended at once: both answered
 * under their own numbers; a listener released with one in flight calls
 * nothing. */
TEST(utterances_in_flight)
{
	static struct ear e;
	static int16_t pcm[1600];
	int pending = 2;
	uint32_t u1 = 0, u2 = 0;

	speech(pcm, 1600);
	CHECK_EQ(make(&e, "slow", "", &pending), 0);
	CHECK_EQ(listener_begin(e.l, &u1), 0);
	CHECK_EQ(listener_feed(e.l, pcm, 1600), 0);
	CHECK_EQ(listener_end(e.l), 0);
	CHECK_EQ(listener_begin(e.l, &u2), 0);
	CHECK_EQ(listener_feed(e.l, pcm, 800), 0);
	CHECK_EQ(listener_end(e.l), 0);
	CHECK_EQ(u2, u1 + 1);
	CHECK_EQ(listener_end(e.l), EINVAL); /* none open */
	run_loop(3000);
	CHECK_STR(e.text[u1 & 3], "slow");
	CHECK_STR(e.text[u2 & 3], "slow");
	pending = 1;
	e.got[3] = false;
	CHECK_EQ(listener_begin(e.l, NULL), 0);
	CHECK_EQ(listener_end(e.l), 0);
	mem_deref(e.l);
	run_loop(500);
	CHECK_EQ(pending, 1);
	return 0;
}

/* The caller went on after the final pass ran ahead: the reopened
 * utterance's request carries the turn from its start, what came after
 * the end included, without the pipeline keeping a copy; once the turn is
 * over (listener_rest) nothing is kept and there is nothing to reopen. */
TEST(reopen_goes_on_from_the_end)
{
	static struct ear e;
	static int16_t pcm[4800];
	int pending = 2;
	uint32_t u1 = 0, u2 = 0;
	const uint8_t *wav;

	speech(pcm, 4800);
	CHECK_EQ(make(&e, "ok", "", &pending), 0);
	CHECK_EQ(listener_reopen(e.l, &u2), EINVAL); /* nothing ended */
	CHECK_EQ(listener_begin(e.l, &u1), 0);
	CHECK_EQ(listener_feed(e.l, pcm, 1600), 0);
	CHECK_EQ(listener_reopen(e.l, &u2), EINVAL); /* not ended yet */
	CHECK_EQ(listener_end(e.l), 0);
	CHECK_EQ(listener_end(e.l), EINVAL);
	CHECK_EQ(listener_feed(e.l, pcm + 1600, 1600), 0); /* the pause */
	run_loop(3000);
	CHECK_EQ(pending, 1);
	CHECK(e.got[u1 & 3]);
	pthread_mutex_lock(&srv.lock);
	wav = memmem(srv.last_body, srv.last_len, "RIFF", 4);
	CHECK(wav != NULL);
	CHECK_EQ(le32(wav + 40), 1600 * 2); /* what came before the end */
	pthread_mutex_unlock(&srv.lock);

	CHECK_EQ(listener_reopen(e.l, &u2), 0);
	CHECK_EQ(u2, u1 + 1);
	CHECK_EQ(listener_feed(e.l, pcm + 3200, 1600), 0);
	CHECK_EQ(listener_end(e.l), 0);
	run_loop(3000);
	CHECK(e.got[u2 & 3]);
	CHECK_STR(e.text[u2 & 3], "Hello, world.");
	pthread_mutex_lock(&srv.lock);
	wav = memmem(srv.last_body, srv.last_len, "RIFF", 4);
	CHECK(wav != NULL);
	CHECK_EQ(le32(wav + 40), 4800 * 2); /* the whole turn, in order */
	CHECK(!memcmp(wav + 44, pcm, 4800 * 2));
	pthread_mutex_unlock(&srv.lock);

	listener_rest(e.l);
	CHECK_EQ(listener_reopen(e.l, &u2), EINVAL);
	CHECK_EQ(listener_feed(e.l, pcm, 160), 0); /* no utterance: unkept */
	CHECK_EQ(listener_end(e.l), EINVAL);
	mem_deref(e.l);
	return 0;
}

int main(void)
{
	int err = libre_init();

	if (err || httpc_alloc(&http))
		return 1;
	if (standin_srv_start(&srv, answer))
		return 1;
	RUN(wav_posted_text_final);
	RUN(error_status_and_stall);
	RUN(utterances_in_flight);
	RUN(reopen_goes_on_from_the_end);
	standin_srv_stop(&srv);
	mem_deref(http);
	libre_close();
	TEST_EXIT();
}
