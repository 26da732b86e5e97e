/*
 * The speaker on an OpenAI-compatible /audio/speech, against a stand-in
 * run inside the test (plain sockets, a thread per connection): the
 * request as OpenAI documents it, the 24 kHz pcm stream resampled to 8 kHz
 * and handed on as it arrives, the provider's refusal and stall reported
 * with the rest of the reply's network clauses cancelled unsaid, and the
 * embedded voice still speaking. With tts_format wav: a 22050 Hz WAV
 * whose header comes in pieces, played as it arrives at its rate, and
 * headers refused (a chunk size that points past any header, a float or
 * stereo WAV). The loop runs on the test's thread.
 */
#include <errno.h>
#include <math.h>
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
#include "speech/tts.h"
#include "worker/engine.h"
#include "worker/provider.h"
#include "worker/speaker.h"
#include "loop.h"
#include "standin.h"
#include "test.h"

#define HZ     600
#define CHUNKS 10 /* of 100 ms at 24 kHz */
#define GAP_MS 60

static struct standin_srv srv;
static uint64_t t_last_chunk;

static bool send_chunk(int fd, const void *data, size_t len)
{
	char size[32];

	snprintf(size, sizeof(size), "%zx\r\n", len);
	return standin_send_all(fd, size, strlen(size)) &&
	       standin_send_all(fd, data, len) &&
	       standin_send_all(fd, "\r\n", 2);
}

static void tone(int fd)
{
	int16_t pcm[2400];

	if (!standin_send_head(
	        fd, "HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\n", true))
		return;
	for (int c = 0; c < CHUNKS; c++) {
		for (int i = 0; i < 2400; i++)
			pcm[i] =
			    (int16_t)(8000 * sin(2 * M_PI * HZ *
			                         (c * 2400 + i) / 24000.0));
		if (c && !standin_pause(fd, GAP_MS, &srv.stop))
			return;
		/* an odd split: a sample across two chunks */
		if (!send_chunk(fd, pcm, 2401) ||
		    !send_chunk(fd, (char *)pcm + 2401, sizeof(pcm) - 2401))
			return;
		t_last_chunk = now_ms();
	}
	standin_send_all(fd, "0\r\n\r\n", 5);
}

#define WAV_RATE 22050

static void le32_at(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A streamed WAV header (sizes all ones) with a LIST chunk before fmt. */
static size_t wav_header(uint8_t *h, uint16_t format, uint16_t channels,
                         uint16_t bits, uint32_t list_len)
{
	memcpy(h, "RIFF\xff\xff\xff\xffWAVELIST", 16);
	le32_at(h + 16, list_len);
	memcpy(h + 20, "INFOISFT", 8);
	le32_at(h + 28, 2);
	memcpy(h + 32, "x\0fmt ", 6);
	le32_at(h + 38, 16);
	h[42] = (uint8_t)format;
	h[43] = 0;
	h[44] = (uint8_t)channels;
	h[45] = 0;
	le32_at(h + 46, WAV_RATE);
	le32_at(h + 50, WAV_RATE * channels * bits / 8);
	h[54] = (uint8_t)(channels * bits / 8);
	h[55] = 0;
	h[56] = (uint8_t)bits;
	h[57] = 0;
	memcpy(h + 58, "data\xff\xff\xff\xff", 8);
	return 66;
}

/* The tone at 22050 Hz, the header in three pieces, the third with the
 * first samples. */
static void tone_wav(int fd)
{
	static int16_t pcm[WAV_RATE];
	uint8_t h[66];
	size_t hl = wav_header(h, 1, 1, 16, 14);
	const size_t step = WAV_RATE / 10;

	for (int i = 0; i < WAV_RATE; i++)
		pcm[i] = (int16_t)(8000 * sin(2 * M_PI * HZ * i / WAV_RATE));
	if (!standin_send_head(
	        fd, "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n", true))
		return;
	if (!send_chunk(fd, h, 5) || !standin_pause(fd, 20, &srv.stop) ||
	    !send_chunk(fd, h + 5, 30) || !standin_pause(fd, 20, &srv.stop))
		return;
	/* the rest of the header and the first samples, in one piece */
	{
		uint8_t first[66 + 2 * WAV_RATE / 10];

		memcpy(first, h + 35, hl - 35);
		memcpy(first + hl - 35, pcm, 2 * step);
		if (!send_chunk(fd, first, hl - 35 + 2 * step))
			return;
	}
	for (size_t off = step; off < WAV_RATE; off += step) {
		size_t n = WAV_RATE - off < step ? WAV_RATE - off : step;

		if (!standin_pause(fd, GAP_MS, &srv.stop) ||
		    !send_chunk(fd, pcm + off, 2 * n))
			return;
		t_last_chunk = now_ms();
	}
	standin_send_all(fd, "0\r\n\r\n", 5);
}

/* A header the speaker must refuse, then audio it must not play. */
static void bad_wav(int fd, uint16_t format, uint16_t channels, uint16_t bits,
                    uint32_t list_len)
{
	uint8_t h[66], noise[3200];

	wav_header(h, format, channels, bits, list_len);
	memset(noise, 0x55, sizeof(noise));
	if (!standin_send_head(
	        fd, "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n", true))
		return;
	if (!send_chunk(fd, h, sizeof(h)) || !send_chunk(fd, noise, 3200))
		return;
	standin_send_all(fd, "0\r\n\r\n", 5);
}

static void answer(int fd, const struct standin_req *rq)
{
	const char *path = rq->path;
	static const char refused[] =
	    "{\"error\":{\"message\":\"Incorrect API key provided: "
	    "sk-wrong-0123456789.\",\"type\":\"invalid_request_error\","
	    "\"param\":null,\"code\":\"invalid_api_key\"}}";
	char buf[512];

	if (!strcmp(path, "/ok/audio/speech")) {
		tone(fd);
	} else if (!strcmp(path, "/refuse/audio/speech")) {
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 401 Unauthorized\r\nContent-Type: "
		         "application/json\r\nContent-Length: %zu\r\n"
		         "Connection: close\r\n\r\n%s",
		         strlen(refused), refused);
		standin_send_all(fd, buf, strlen(buf));
	} else if (!strcmp(path, "/wav/audio/speech")) {
		tone_wav(fd);
	} else if (!strcmp(path, "/wavhuge/audio/speech")) {
		bad_wav(fd, 1, 1, 16, 0xFFFFFFF0u);
	} else if (!strcmp(path, "/wavfloat/audio/speech")) {
		bad_wav(fd, 3, 1, 32, 14);
	} else if (!strcmp(path, "/wavstereo/audio/speech")) {
		bad_wav(fd, 1, 2, 16, 14);
	} else if (!strcmp(path, "/stall/audio/speech")) {
		standin_pause(fd, 3000, &srv.stop);
	}
}

/* ---- the speaker, on the loop ----------------------------------------- */

static struct httpc *http;
static struct engine_pool *pool;
static struct tts *tts;

struct clause_log {
	int16_t pcm[40000];
	size_t n;
	uint64_t t_first;
	int err;
	/* the first end's: a failed clause's, before its reply's others */
	int first_err;
	char why[256];
	bool done;
};

struct heard {
	struct clause_log c[4];
	int pending;
};

static void on_audio(uint32_t tag, const int16_t *pcm, size_t n, void *arg)
{
	struct heard *h = arg;
	struct clause_log *c = &h->c[tag];
	size_t k = n < 40000 - c->n ? n : 40000 - c->n;

	if (!c->t_first)
		c->t_first = now_ms();
	memcpy(c->pcm + c->n, pcm, k * sizeof(*pcm));
	c->n += k;
}

static void on_done(uint32_t tag, int err, const char *why, void *arg)
{
	struct heard *h = arg;

	if (!h->c[tag].done)
		h->c[tag].first_err = err;
	if (!h->c[tag].done)
		snprintf(h->c[tag].why, sizeof(h->c[tag].why), "%s",
		         why ? why : "");
	h->c[tag].done = true;
	h->c[tag].err = err;
	if (!--h->pending)
		re_cancel();
}

/* The share of pcm's energy at hz (Goertzel). */
static double share(const int16_t *pcm, size_t n, double hz)
{
	double k = 2 * M_PI * hz / 8000, c = 2 * cos(k), s1 = 0, s2 = 0;
	double total = 0;

	for (size_t i = 0; i < n; i++) {
		double s0 = pcm[i] + c * s1 - s2;

		s2 = s1;
		s1 = s0;
		total += (double)pcm[i] * pcm[i];
	}
	return total ? 2 * (s1 * s1 + s2 * s2 - c * s1 * s2) / (n * total) : 0;
}

static int make_as(struct speaker **sp, struct provider *pv, char *url,
                   size_t size, const char *path, const char *format,
                   struct heard *h)
{
	snprintf(url, size, "http://127.0.0.1:%d/%s/audio/speech", srv.port,
	         path);
	*pv = (struct provider){.name = "openai",
	                        .http = http,
	                        .url = url,
	                        .api_key = "sk-test-key-77",
	                        .model = "tts-1",
	                        .voice = "alloy",
	                        .format = format,
	                        .timeout_ms = 400};
	const struct speaker_config cfg = {
	    .tts = tts, .pool = pool, .net = pv, .call_id = "c1"};

	return speaker_alloc(sp, &cfg, on_audio, on_done, h);
}

static int make(struct speaker **sp, struct provider *pv, char *url,
                size_t size, const char *path, struct heard *h)
{
	return make_as(sp, pv, url, size, path, NULL, h);
}

/* Says text with the voice at path asking for format: 1 s of the tone
 * at 8 kHz, its first audio before the last chunk was sent. (Named so
 * that a failure reads "FAIL streamed".) */
static int said_streamed(const char *path, const char *format, const char *text)
{
	static struct heard h;
	struct provider pv;
	struct speaker *s;
	char url[128];
	uint64_t t0;

	memset(&h, 0, sizeof(h));
	CHECK_EQ(make_as(&s, &pv, url, sizeof(url), path, format, &h), 0);
	h.pending = 1;
	t0 = now_ms();
	CHECK_EQ(speaker_say(s, text, strlen(text), 1), 0);
	run_loop(5000);
	mem_deref(s);
	CHECK(h.c[1].done);
	CHECK_EQ(h.c[1].err, 0);
	/* within the resampler's edges; a wav at 22050 Hz read as 24 kHz
	 * would be 0.92 s, its 600 Hz 653 */
	CHECK(h.c[1].n > 7900 && h.c[1].n < 8100);
	CHECK(share(h.c[1].pcm + 400, h.c[1].n - 800, HZ) > 0.9);
	CHECK(h.c[1].t_first < t_last_chunk - 3 * GAP_MS);
	CHECK(h.c[1].t_first - t0 < 300);
	return 0;
}

TEST(streams_resampled_as_it_arrives)
{
	if (said_streamed("ok", NULL, "Hello \"there\"."))
		return 1;
	pthread_mutex_lock(&srv.lock);
	CHECK(strstr(srv.last_head, "POST /ok/audio/speech HTTP/1.1"));
	CHECK(strstr(srv.last_head, "Authorization: Bearer sk-test-key-77"));
	CHECK(strstr(srv.last_head, "Content-Type: application/json"));
	CHECK(strstr(srv.last_body, "\"model\":\"tts-1\""));
	CHECK(strstr(srv.last_body, "\"input\":\"Hello \\\"there\\\".\""));
	CHECK(strstr(srv.last_body, "\"voice\":\"alloy\""));
	CHECK(strstr(srv.last_body, "\"response_format\":\"pcm\""));
	pthread_mutex_unlock(&srv.lock);
	return 0;
}

/* tts_format wav: asked for wav, the header read across three pieces,
 * the samples resampled from the header's 22050 Hz as they come. */
TEST(wav_at_its_rate_as_it_arrives)
{
	if (said_streamed("wav", "wav", "Hello."))
		return 1;
	pthread_mutex_lock(&srv.lock);
	CHECK(strstr(srv.last_body, "\"response_format\":\"wav\""));
	pthread_mutex_unlock(&srv.lock);
	return 0;
}

/* A header that claims a 4 GiB chunk, a float WAV, a stereo one: refused
 * at the header with a reason, none of the audio after it played, and
 * the reply's next network clause not asked for. */
TEST(wav_refused)
{
	static const struct {
		const char *path;
		int err;
		const char *why;
	} cases[] = {
	    {"wavhuge", EBADMSG, "a bad WAV header: no data chunk within"},
	    {"wavfloat", ENOTSUP, "a WAV of format 3, 1 channels, 32 bits"},
	    {"wavstereo", ENOTSUP, "a WAV of format 1, 2 channels, 16 bits"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct heard h;
		struct provider pv;
		struct speaker *s;
		char url[128];
		int before = atomic_load(&srv.requests);

		memset(&h, 0, sizeof(h));
		CHECK_EQ(make_as(&s, &pv, url, sizeof(url), cases[i].path,
		                 "wav", &h),
		         0);
		h.pending = 2;
		CHECK_EQ(speaker_say(s, "One.", 4, 1), 0);
		CHECK_EQ(speaker_say(s, "Two.", 4, 1), 0);
		run_loop(3000);
		CHECK_EQ(h.pending, 0);
		/* the first clause's error, its reason; the second's
		 * ECANCELED */
		if (h.c[1].first_err != cases[i].err ||
		    strncmp(h.c[1].why, cases[i].why, strlen(cases[i].why)))
			TEST_FAIL("wav_refused", "%s: %d \"%s\"", cases[i].path,
			          h.c[1].first_err, h.c[1].why);
		CHECK_EQ(h.c[1].err, ECANCELED);
		CHECK_EQ(h.c[1].n, 0);
		CHECK_EQ(atomic_load(&srv.requests) - before, 1);
		mem_deref(s);
	}
	return 0;
}

/* A refusal: the clause fails with EACCES, the reply's next network clause
 * is not even asked for, the embedded voice speaks, and a new reply (tag)
 * is tried again. */
TEST(refused_then_embedded)
{
	static struct heard h;
	struct provider pv;
	struct speaker *s;
	char url[128];
	int before;

	memset(&h, 0, sizeof(h));
	CHECK_EQ(make(&s, &pv, url, sizeof(url), "refuse", &h), 0);
	before = atomic_load(&srv.requests);
	h.pending = 4;
	CHECK_EQ(speaker_say(s, "One.", 4, 1), 0);
	CHECK_EQ(speaker_say(s, "Two.", 4, 1), 0);
	CHECK_EQ(speaker_say_embedded(s, "Sorry.", 6, 1), 0);
	CHECK_EQ(speaker_say(s, "Three.", 6, 2), 0);
	run_loop(10000);
	CHECK_EQ(h.pending, 0);
	CHECK_EQ(h.c[1].err, 0); /* the embedded clause's, reported last */
	CHECK(h.c[1].n > 2000);  /* "Sorry." in espeak-ng */
	CHECK_EQ(h.c[2].err, EACCES);
	CHECK_EQ(atomic_load(&srv.requests) - before, 2); /* One, Three */
	mem_deref(s);
	return 0;
}

TEST(stall_times_out)
{
	static struct heard h;
	struct provider pv;
	struct speaker *s;
	char url[128];
	uint64_t t0;

	memset(&h, 0, sizeof(h));
	CHECK_EQ(make(&s, &pv, url, sizeof(url), "stall", &h), 0);
	h.pending = 1;
	t0 = now_ms();
	CHECK_EQ(speaker_say(s, "Hi.", 3, 1), 0);
	run_loop(3000);
	CHECK(h.c[1].done);
	CHECK_EQ(h.c[1].err, ETIMEDOUT);
	CHECK(now_ms() - t0 >= 390 && now_ms() - t0 < 1500);
	mem_deref(s);
	return 0;
}

/* A cancel drops the request in flight: no handler comes. */
TEST(cancel_drops_the_request)
{
	static struct heard h;
	struct provider pv;
	struct speaker *s;
	char url[128];

	memset(&h, 0, sizeof(h));
	CHECK_EQ(make(&s, &pv, url, sizeof(url), "ok", &h), 0);
	h.pending = 1;
	CHECK_EQ(speaker_say(s, "Hi.", 3, 1), 0);
	run_loop(150);
	speaker_cancel(s);
	run_loop(1000);
	CHECK(!h.c[1].done);
	CHECK(h.c[1].n < 8000);
	mem_deref(s);
	return 0;
}

int main(void)
{
	struct tts_params tp;
	const char *why = NULL;
	int err = libre_init();

	if (err)
		return 1;
	tts_params_default(&tp);
	tp.out_rate = 8000;
	if (tts_alloc(&tts, &tp, &why) || httpc_alloc(&http) ||
	    engine_pool_open(&pool, 1)) {
		printf("FAIL setup: %s\n", why ? why : "http or pool");
		return 1;
	}
	if (standin_srv_start(&srv, answer))
		return 1;
	RUN(streams_resampled_as_it_arrives);
	RUN(wav_at_its_rate_as_it_arrives);
	RUN(wav_refused);
	RUN(refused_then_embedded);
	RUN(stall_times_out);
	RUN(cancel_drops_the_request);
	standin_srv_stop(&srv);
	engine_pool_close(pool);
	mem_deref(http);
	mem_deref(tts);
	libre_close();
	TEST_EXIT();
}
