/*
 * The streaming voice (wsvoice.h): the providers' messages read, mu-law,
 * the endpoints; then whole calls against a provider played here on
 * 127.0.0.1, on the same libre loop (ws_standin_loop.h, answering each
 * client message as the test scripts it): audio in the order of the
 * clauses whatever order it comes in, done per clause, ElevenLabs'
 * contexts bounded, cancel, and each failure (refused key, error message,
 * drop, stall) failing the first clause with its error and the rest with
 * ECANCELED, then a new socket after the backoff; and the speaker
 * keeping the order of clauses across the streaming and embedded voices.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "core/libre.h"
#include <re_tcp.h>
#include <re_srtp.h>
#include <re_tls.h>
#include <re_main.h>
#include "core/g711.h"
#include "net/httpc.h"
#include "speech/tts.h"
#include "worker/engine.h"
#include "worker/provider.h"
#include "worker/speaker.h"
#include "worker/wsvoice.h"
#include "test.h"
#include "ws_standin_loop.h"

/* ---- the provider ---- */

enum smode {
	S_OK,     /* upgrades and answers as the test's handler says */
	S_REFUSE, /* 401 with Cartesia's error JSON */
};

typedef void(text_h)(json_t *msg);

static struct {
	struct wsl_srv ws;
	enum smode mode;
	text_h *on_text;
	json_t *got; /* every message received, in order */
} srv;

/* Answers on the connection being served (srv.ws.cur). */
static void srv_text(const char *s)
{
	wsl_frame(&srv.ws, 0x81, s, strlen(s));
}

static void srv_close(uint16_t code, const char *reason)
{
	uint8_t b[128] = {(uint8_t)(code >> 8), (uint8_t)code};
	size_t n = strlen(reason);

	memcpy(b + 2, reason, n);
	wsl_frame(&srv.ws, 0x88, b, n + 2);
}

/* n bytes of value b, as base64. */
static void b64_of(char *out, uint8_t b, size_t n)
{
	uint8_t raw[600];

	memset(raw, b, n);
	EVP_EncodeBlock((uint8_t *)out, raw, (int)n);
}

static void srv_frame_h(struct wsl_srv *ws, const struct ws_frame_in *f)
{
	if (f->op == 0x1) {
		json_t *m = json_loadb((char *)f->p, f->n, 0, NULL);

		if (m) {
			json_array_append(srv.got, m);
			if (srv.on_text)
				srv.on_text(m);
			json_decref(m);
		}
	} else if (f->op == 0x8) {
		wsl_frame(ws, 0x88, f->p, f->n);
	}
}

static void srv_upgrade_h(struct wsl_srv *ws)
{
	if (srv.mode == S_REFUSE) {
		const char *body = "{\"error_code\":\"unauthorized\",\"title\":"
		                   "\"Unauthorized\",\"message\":\"Invalid API "
		                   "key.\"}";
		char out[512];
		int l = snprintf(out, sizeof(out),
		                 "HTTP/1.1 401 Unauthorized\r\n"
		                 "Content-Type: application/json\r\n"
		                 "Content-Length: %zu\r\n\r\n%s",
		                 strlen(body), body);

		wsl_send(ws, out, (size_t)l);
		return;
	}
	wsl_upgrade(ws, NULL, NULL, 0);
}

static void srv_stop(void)
{
	wsl_stop(&srv.ws);
	json_decref(srv.got);
	srv.got = NULL;
}

static int srv_start(text_h *h)
{
	srv_stop();
	memset(&srv, 0, sizeof(srv));
	srv.on_text = h;
	srv.got = json_array();
	srv.ws.upgradeh = srv_upgrade_h;
	srv.ws.frameh = srv_frame_h;
	return wsl_start(&srv.ws, NULL);
}

/* Makes the live connection the one being served, for a message the
 * provider sends of itself. */
static void srv_serve_live(void)
{
	srv.ws.cur = list_head(&srv.ws.conns)->data;
}

/* The messages received with member name, from the first. */
static unsigned got_with(const char *name)
{
	unsigned n = 0;
	size_t i;
	json_t *m;

	json_array_foreach(srv.got, i, m) n += json_object_get(m, name) != NULL;
	return n;
}

/* ---- the call ---- */

#define MAXC 16

static struct {
	struct wsvoice *v;
	struct provider pv;
	char url[128];
	/* what came, in order: the tag and first sample of each chunk */
	uint32_t atag[256];
	int16_t asample[256];
	size_t nsamples[MAXC + 1];
	unsigned na;
	uint32_t dtag[MAXC];
	int derr[MAXC];
	unsigned nd;
	unsigned want_done; /* stop the loop once this many are done */
	bool cancel_on_audio;
} call;

static struct tmr guard;

static void stop_h(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Runs the loop for ms, or until want_done clauses are done. */
static void run(uint32_t ms)
{
	tmr_start(&guard, ms, stop_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&guard);
}

static void audio_h(uint32_t tag, const int16_t *pcm, size_t n, void *arg)
{
	(void)arg;
	if (call.na < 256) {
		call.atag[call.na] = tag;
		call.asample[call.na++] = pcm[0];
	}
	if (tag <= MAXC)
		call.nsamples[tag] += n;
	if (call.cancel_on_audio) {
		call.cancel_on_audio = false;
		wsvoice_cancel(call.v);
	}
}

static void done_h(uint32_t tag, int err, void *arg)
{
	(void)arg;
	if (call.nd < MAXC) {
		call.dtag[call.nd] = tag;
		call.derr[call.nd++] = err;
	}
	if (call.want_done && call.nd >= call.want_done)
		re_cancel();
}

/* The provider's settings, for the server started. */
static void call_prm(const char *name, unsigned timeout_ms)
{
	memset(&call, 0, sizeof(call));
	snprintf(call.url, sizeof(call.url), "ws://127.0.0.1:%u/x",
	         srv.ws.port);
	call.pv = (struct provider){.name = name,
	                            .url = call.url,
	                            .api_key = "secret-key-1234",
	                            .model = "m1",
	                            .voice = "v1",
	                            .timeout_ms = timeout_ms};
}

static int call_start(const char *name, unsigned timeout_ms)
{
	call_prm(name, timeout_ms);
	return wsvoice_alloc(&call.v, &call.pv, "c1", audio_h, done_h, NULL);
}

static void call_end(void)
{
	call.v = mem_deref(call.v);
}

static int say(const char *text, uint32_t tag)
{
	return wsvoice_say(call.v, text, strlen(text), tag);
}

/* ---- scripted providers ---- */

/* The mu-law byte of context "vgN": N * 16 + 1. */
static uint8_t byte_of(const char *ctx)
{
	return (uint8_t)(atoi(ctx + 2) * 16 + 1);
}

static void el_audio(const char *ctx, size_t n)
{
	char a[900], m[1100];

	b64_of(a, byte_of(ctx), n);
	snprintf(m, sizeof(m),
	         "{\"audio\":\"%s\",\"isFinal\":null,\"contextId\":\"%s\","
	         "\"alignment\":null}",
	         a, ctx);
	srv_text(m);
}

static void el_final(const char *ctx)
{
	char m[128];

	snprintf(m, sizeof(m), "{\"isFinal\":true,\"contextId\":\"%s\"}", ctx);
	srv_text(m);
}

static const char *ctx_of(json_t *msg)
{
	return json_string_value(json_object_get(msg, "context_id"));
}

/* ElevenLabs answering each context when it is closed, in order. */
static void el_plain(json_t *msg)
{
	const char *ctx = ctx_of(msg);

	if (ctx && json_is_true(json_object_get(msg, "close_context"))) {
		el_audio(ctx, 300);
		el_audio(ctx, 100);
		el_final(ctx);
	}
}

/* ElevenLabs making two contexts at once: the second is answered (and
 * over) before the first. */
static char held[WSVOICE_CTX_MAX];
static void el_reversed(json_t *msg)
{
	const char *ctx = ctx_of(msg);

	if (!ctx || !json_is_true(json_object_get(msg, "close_context")))
		return;
	if (!held[0]) {
		snprintf(held, sizeof(held), "%s", ctx);
		el_audio(ctx, 200); /* part of the first */
		return;
	}
	el_audio(ctx, 300);
	el_final(ctx);
	el_audio(held, 100);
	el_final(held);
	held[0] = '\0';
}

/* ElevenLabs that answers nothing: contexts stay open. */
static void el_mute(json_t *msg)
{
	(void)msg;
}

static void el_badkey(json_t *msg)
{
	(void)msg;
	srv_close(1008, "Invalid API key");
}

static void el_error(json_t *msg)
{
	const char *ctx = ctx_of(msg);

	if (ctx && json_is_true(json_object_get(msg, "close_context"))) {
		el_audio(ctx, 100);
		srv_text("{\"message\":\"An internal server error occurred.\","
		         "\"error\":\"internal_server_error\",\"code\":1011}");
	}
}

static void el_drop(json_t *msg)
{
	const char *ctx = ctx_of(msg);

	if (ctx && json_is_true(json_object_get(msg, "close_context"))) {
		el_audio(ctx, 100);
		wsl_cut(&srv.ws);
	}
}

/* Cartesia: each flush answered with a chunk and its flush_done. */
static void ca_plain(json_t *msg)
{
	const char *ctx = ctx_of(msg);
	char a[900], m[1100];

	if (!ctx || !json_is_true(json_object_get(msg, "flush")))
		return;
	b64_of(a, byte_of(ctx), 240);
	snprintf(m, sizeof(m),
	         "{\"type\":\"chunk\",\"data\":\"%s\",\"done\":false,"
	         "\"status_code\":206,\"context_id\":\"%s\"}",
	         a, ctx);
	srv_text(m);
	snprintf(m, sizeof(m),
	         "{\"type\":\"flush_done\",\"done\":false,\"flush_done\":true,"
	         "\"flush_id\":1,\"status_code\":206,\"context_id\":\"%s\"}",
	         ctx);
	srv_text(m);
}

static void ca_error(json_t *msg)
{
	const char *ctx = ctx_of(msg);
	char m[300];

	if (!ctx || !json_is_true(json_object_get(msg, "flush")))
		return;
	snprintf(m, sizeof(m),
	         "{\"type\":\"error\",\"done\":true,\"status_code\":500,"
	         "\"error_code\":\"internal_server_error\",\"message\":\"An "
	         "internal server error occurred.\",\"context_id\":\"%s\"}",
	         ctx);
	srv_text(m);
}

/* ---- the messages ---- */

static int read_msg(enum wsvoice_dialect d, const char *s,
                    struct wsvoice_msg *m)
{
	void *root = NULL;
	int err = wsvoice_read(d, (const uint8_t *)s, strlen(s), m, &root);

	json_decref(root);
	return err;
}

TEST(read_elevenlabs)
{
	static const char audio[] = "{\"audio\":\"AAEC\",\"isFinal\":null,"
	                            "\"contextId\":\"vg3\"}";
	struct wsvoice_msg m;
	char big[200];
	void *root;

	CHECK_EQ(wsvoice_read(WSVOICE_ELEVENLABS, (const uint8_t *)audio,
	                      strlen(audio), &m, &root),
	         0);
	CHECK_STR(m.ctx, "vg3");
	CHECK_EQ(m.audio_len, 4);
	CHECK(!memcmp(m.audio, "AAEC", 4));
	CHECK(!m.end && !m.error);
	json_decref(root);
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS,
	                  "{\"isFinal\":true,\"contextId\":\"vg3\"}", &m),
	         0);
	CHECK(m.end && !m.audio);
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS, "{\"audio\":null}", &m), 0);
	CHECK(!m.audio && !m.ctx[0]);
	/* errors: a refused key told apart, the reason on one line */
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS,
	                  "{\"message\":\"Invalid API\\nkey\",\"error\":"
	                  "\"invalid_api_key\",\"code\":1008}",
	                  &m),
	         0);
	CHECK(m.error && m.auth);
	CHECK_STR(m.why, "invalid_api_key: Invalid API key");
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS,
	                  "{\"message\":\"Maximum simultaneous contexts\","
	                  "\"error\":\"max_active_conversations\"}",
	                  &m),
	         0);
	CHECK(m.error && !m.auth);
	/* an empty error still says something */
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS, "{\"error\":\"\"}", &m), 0);
	CHECK(m.error);
	CHECK_STR(m.why, "error");
	/* a context id that is too long or not a string is none of ours */
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"contextId\":\"", 14);
	memcpy(big + sizeof(big) - 3, "\"}", 3);
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS, big, &m), 0);
	CHECK(m.ctx_bad && !m.ctx[0]);
	/* a NUL inside is refused by the reader itself */
	CHECK_EQ(
	    read_msg(WSVOICE_ELEVENLABS, "{\"contextId\":\"a\\u0000b\"}", &m),
	    EBADMSG);
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS, "[1]", &m), EBADMSG);
	CHECK_EQ(read_msg(WSVOICE_ELEVENLABS, "{\"audio\":", &m), EBADMSG);
	return 0;
}

TEST(read_cartesia)
{
	struct wsvoice_msg m;

	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"chunk\",\"data\":\"//8=\",\"done\":"
	                  "false,\"status_code\":206,\"context_id\":\"vg1\"}",
	                  &m),
	         0);
	CHECK_STR(m.ctx, "vg1");
	CHECK_EQ(m.audio_len, 4);
	CHECK_EQ(m.status, 206);
	CHECK(!m.end && !m.done && !m.error);
	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"flush_done\",\"flush_id\":2,"
	                  "\"context_id\":\"vg1\"}",
	                  &m),
	         0);
	CHECK(m.end && !m.done);
	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"done\",\"done\":true,\"context_id\":"
	                  "\"vg1\"}",
	                  &m),
	         0);
	CHECK(m.done && !m.end);
	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"timestamps\",\"context_id\":\"vg1\"}",
	                  &m),
	         0);
	CHECK(!m.audio && !m.end && !m.done && !m.error);
	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"error\",\"status_code\":401,"
	                  "\"error_code\":\"unauthorized\",\"message\":"
	                  "\"Invalid API key.\"}",
	                  &m),
	         0);
	CHECK(m.error && m.auth);
	CHECK_STR(m.why, "401 unauthorized: Invalid API key.");
	/* the older versions' error string */
	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"error\",\"status_code\":400,\"error\":"
	                  "\"bad transcript\",\"context_id\":\"vg2\"}",
	                  &m),
	         0);
	CHECK(m.error && !m.auth);
	CHECK_STR(m.why, "400 error: bad transcript");
	CHECK_STR(m.ctx, "vg2");
	/* a status out of range is none */
	CHECK_EQ(read_msg(WSVOICE_CARTESIA,
	                  "{\"type\":\"chunk\",\"status_code\":99999}", &m),
	         0);
	CHECK_EQ(m.status, 0);
	CHECK_EQ(read_msg(WSVOICE_CARTESIA, "\"chunk\"", &m), EBADMSG);
	return 0;
}

TEST(endpoints)
{
	const char *why = NULL;
	char *u = NULL;

	CHECK_EQ(wsvoice_endpoint(&u, "elevenlabs", "https://api.elevenlabs.io",
	                          "eleven_flash_v2_5", "JBFqnCBsd6RMkjVDRZzb",
	                          &why),
	         0);
	CHECK_STR(u, "wss://api.elevenlabs.io/v1/text-to-speech/"
	             "JBFqnCBsd6RMkjVDRZzb/multi-stream-input?model_id="
	             "eleven_flash_v2_5&output_format=ulaw_8000&auto_mode="
	             "true&inactivity_timeout=180");
	u = mem_deref(u);
	CHECK_EQ(wsvoice_endpoint(&u, "cartesia", "http://127.0.0.1:9/base/",
	                          "sonic-2", "x", &why),
	         0);
	CHECK_STR(u, "ws://127.0.0.1:9/base/tts/websocket");
	u = mem_deref(u);
	/* a voice that would move the path is refused */
	CHECK_EQ(wsvoice_endpoint(&u, "elevenlabs", "https://a.b", "m",
	                          "../v2/x", &why),
	         EINVAL);
	CHECK_STR(why, "tts_voice is not an ElevenLabs voice id");
	CHECK_EQ(
	    wsvoice_endpoint(&u, "elevenlabs", "https://a.b", "m", "", &why),
	    EINVAL);
	CHECK_EQ(wsvoice_endpoint(&u, "openai", "https://a.b", "m", "v", &why),
	         EINVAL);
	CHECK_EQ(wsvoice_endpoint(&u, "cartesia", "ftp://a.b", "m", "v", &why),
	         EINVAL);
	CHECK(!u);
	CHECK_EQ(wsvoice_dialect("elevenlabs"), WSVOICE_ELEVENLABS);
	CHECK_EQ(wsvoice_dialect("cartesia"), WSVOICE_CARTESIA);
	CHECK_EQ(wsvoice_dialect("openai"), WSVOICE_NONE);
	return 0;
}

/* ---- calls ---- */

TEST(eleven_in_order)
{
	struct wsvoice_stats st;

	CHECK_EQ(srv_start(el_reversed), 0);
	CHECK_EQ(call_start("elevenlabs", 2000), 0);
	/* the socket opens before any clause needs it */
	run(300);
	CHECK_EQ(srv.ws.upgrades, 1);
	CHECK(strcasestr(srv.ws.request, "xi-api-key: secret-key-1234\r\n"));
	CHECK(strstr(srv.ws.request, "GET /x "));
	CHECK_EQ(say("First clause,", 1), 0);
	CHECK_EQ(say("second one.", 1), 0);
	CHECK(wsvoice_busy(call.v));
	call.want_done = 2;
	run(3000);
	CHECK_EQ(call.nd, 2);
	CHECK_EQ(call.derr[0], 0);
	CHECK_EQ(call.derr[1], 0);
	CHECK(!wsvoice_busy(call.v));
	/* all of the first (vg1) before any of the second (vg2), though
	 * the provider sent most of the second first */
	CHECK_EQ(call.nsamples[1], 600);
	CHECK(call.na >= 2);
	{
		int16_t s1, s2;
		uint8_t b1 = 17, b2 = 33;
		unsigned i = 0;

		g711_ulaw_decode(&s1, &b1, 1);
		g711_ulaw_decode(&s2, &b2, 1);
		while (i < call.na && call.asample[i] == s1)
			i++;
		CHECK(i >= 1);
		for (; i < call.na; i++)
			CHECK_EQ(call.asample[i], s2);
	}
	/* each context: " ", the clause with a space and flush, close */
	{
		json_t *m0 = json_array_get(srv.got, 0);
		json_t *m1 = json_array_get(srv.got, 1);
		json_t *m2 = json_array_get(srv.got, 2);

		CHECK_STR(json_string_value(json_object_get(m0, "text")), " ");
		CHECK_STR(ctx_of(m0), "vg1");
		CHECK_STR(json_string_value(json_object_get(m1, "text")),
		          "First clause, ");
		CHECK(json_is_true(json_object_get(m1, "flush")));
		CHECK(json_is_true(json_object_get(m2, "close_context")));
	}
	wsvoice_stats(call.v, &st);
	CHECK_EQ(st.connects, 1);
	CHECK(st.open);
	call_end();
	return 0;
}

TEST(eleven_contexts_bounded)
{
	CHECK_EQ(srv_start(el_mute), 0);
	CHECK_EQ(call_start("elevenlabs", 5000), 0);
	for (uint32_t i = 0; i < 7; i++)
		CHECK_EQ(say("A clause.", 1), 0);
	run(400);
	/* four contexts at most in flight: the rest wait */
	CHECK_EQ(got_with("close_context"), WSVOICE_ELEVEN_CONTEXTS);
	CHECK_EQ(call.nd, 0);
	/* a cancel sends nothing; the closed contexts still count until
	 * their end comes, so the next reply waits for them */
	wsvoice_cancel(call.v);
	CHECK(!wsvoice_busy(call.v));
	CHECK_EQ(say("Next reply.", 2), 0);
	run(200);
	CHECK_EQ(got_with("close_context"), WSVOICE_ELEVEN_CONTEXTS);
	srv.on_text = el_plain;
	srv_serve_live();
	el_final("vg1");
	srv.ws.cur = NULL;
	call.want_done = 1;
	run(2000);
	CHECK_EQ(got_with("close_context"), WSVOICE_ELEVEN_CONTEXTS + 1);
	CHECK_EQ(call.nd, 1);
	CHECK_EQ(call.dtag[0], 2);
	CHECK_EQ(call.derr[0], 0);
	CHECK_EQ(call.nsamples[1], 0);
	CHECK_EQ(call.nsamples[2], 400);
	CHECK_EQ(srv.ws.upgrades, 1);
	call_end();
	return 0;
}

/* Cancelled contexts whose end never comes: their slots are given up
 * after half the stage's limit, in time for the next reply. */
TEST(eleven_contexts_given_up)
{
	CHECK_EQ(srv_start(el_mute), 0);
	CHECK_EQ(call_start("elevenlabs", 800), 0);
	for (uint32_t i = 0; i < WSVOICE_ELEVEN_CONTEXTS; i++)
		CHECK_EQ(say("A clause.", 1), 0);
	run(200);
	wsvoice_cancel(call.v);
	srv.on_text = el_plain;
	CHECK_EQ(say("Next reply.", 2), 0);
	run(200);
	CHECK_EQ(got_with("close_context"), WSVOICE_ELEVEN_CONTEXTS);
	call.want_done = 1;
	run(1500);
	CHECK_EQ(got_with("close_context"), WSVOICE_ELEVEN_CONTEXTS + 1);
	CHECK_EQ(call.nd, 1);
	CHECK_EQ(call.dtag[0], 2);
	CHECK_EQ(call.derr[0], 0);
	call_end();
	return 0;
}

TEST(eleven_cancel_in_handler)
{
	CHECK_EQ(srv_start(el_plain), 0);
	CHECK_EQ(call_start("elevenlabs", 2000), 0);
	CHECK_EQ(say("One.", 1), 0);
	CHECK_EQ(say("Two.", 1), 0);
	call.cancel_on_audio = true;
	run(500);
	/* no handler after the cancel, late audio dropped */
	CHECK_EQ(call.na, 1);
	CHECK_EQ(call.nd, 0);
	CHECK_EQ(say("Three.", 2), 0);
	call.want_done = 1;
	run(2000);
	CHECK_EQ(call.nd, 1);
	CHECK_EQ(call.dtag[0], 2);
	CHECK_EQ(call.derr[0], 0);
	CHECK_EQ(srv.ws.upgrades, 1);
	call_end();
	return 0;
}

/* One failure: the first clause with err_want, the rest ECANCELED, then
 * a new socket serves the next clause. */
static int failure(const char *name, text_h *bad, text_h *good, int err_want,
                   unsigned timeout_ms)
{
	struct wsvoice_stats st;

	CHECK_EQ(srv_start(bad), 0);
	CHECK_EQ(call_start(name, timeout_ms), 0);
	CHECK_EQ(say("One.", 1), 0);
	CHECK_EQ(say("Two.", 1), 0);
	CHECK_EQ(say("Three.", 1), 0);
	call.want_done = 3;
	run(timeout_ms + 2000);
	CHECK_EQ(call.nd, 3);
	CHECK_EQ(call.derr[0], err_want);
	CHECK_EQ(call.derr[1], ECANCELED);
	CHECK_EQ(call.derr[2], ECANCELED);
	CHECK(!wsvoice_busy(call.v));
	srv.on_text = good;
	srv.mode = S_OK;
	call.nd = 0;
	CHECK_EQ(say("Four.", 2), 0);
	call.want_done = 1;
	run(timeout_ms + 3000);
	CHECK_EQ(call.nd, 1);
	CHECK_EQ(call.dtag[0], 2);
	CHECK_EQ(call.derr[0], 0);
	wsvoice_stats(call.v, &st);
	CHECK(st.connects >= 2);
	call_end();
	return 0;
}

TEST(refused_key)
{
	if (failure("elevenlabs", el_badkey, el_plain, EACCES, 2000))
		return 1;
	/* before the upgrade, as Cartesia refuses */
	CHECK_EQ(srv_start(ca_plain), 0);
	srv.mode = S_REFUSE;
	CHECK_EQ(call_start("cartesia", 2000), 0);
	CHECK_EQ(say("One.", 1), 0);
	call.want_done = 1;
	run(2000);
	CHECK_EQ(call.nd, 1);
	CHECK_EQ(call.derr[0], EACCES);
	CHECK(strcasestr(srv.ws.request, "X-API-Key: secret-key-1234\r\n"));
	CHECK(strcasestr(srv.ws.request,
	                 "Cartesia-Version: " WSVOICE_CARTESIA_VERSION "\r\n"));
	call_end();
	return 0;
}

TEST(error_message)
{
	if (failure("elevenlabs", el_error, el_plain, EPROTO, 2000))
		return 1;
	return failure("cartesia", ca_error, ca_plain, EPROTO, 2000);
}

TEST(dropped)
{
	return failure("elevenlabs", el_drop, el_plain, ECONNRESET, 2000);
}

TEST(stalled)
{
	uint64_t t0 = tmr_jiffies();

	if (failure("cartesia", el_mute, ca_plain, ETIMEDOUT, 400))
		return 1;
	CHECK(tmr_jiffies() - t0 >= 400);
	return 0;
}

TEST(cartesia_reply_context)
{
	size_t i;
	json_t *m;

	CHECK_EQ(srv_start(ca_plain), 0);
	CHECK_EQ(call_start("cartesia", 2000), 0);
	CHECK_EQ(say("Hello there,", 1), 0);
	CHECK_EQ(say("how are you?", 1), 0);
	call.want_done = 2;
	run(2000);
	CHECK_EQ(call.nd, 2);
	CHECK_EQ(call.nsamples[1], 480);
	/* one context, each clause a continuation and a flush */
	json_array_foreach(srv.got, i, m)
	{
		CHECK_STR(ctx_of(m), "vg1");
		CHECK(json_is_true(json_object_get(m, "continue")));
		CHECK_STR(json_string_value(json_object_get(m, "model_id")),
		          "m1");
		CHECK_STR(json_string_value(json_object_get(
		              json_object_get(m, "voice"), "id")),
		          "v1");
		CHECK_STR(json_string_value(json_object_get(
		              json_object_get(m, "output_format"), "encoding")),
		          "pcm_mulaw");
	}
	CHECK_STR(json_string_value(json_object_get(json_array_get(srv.got, 0),
	                                            "transcript")),
	          "Hello there, ");
	CHECK(
	    json_is_true(json_object_get(json_array_get(srv.got, 1), "flush")));
	/* the next reply ends the last one's input and has a context of
	 * its own; a cancel cancels it */
	CHECK_EQ(say("Next.", 2), 0);
	run(100);
	m = json_array_get(srv.got, 4);
	CHECK_STR(ctx_of(m), "vg1");
	CHECK(json_is_false(json_object_get(m, "continue")));
	CHECK_STR(ctx_of(json_array_get(srv.got, 5)), "vg2");
	srv.on_text = el_mute;
	CHECK_EQ(say("More.", 2), 0);
	run(100);
	wsvoice_cancel(call.v);
	run(100);
	m = json_array_get(srv.got, json_array_size(srv.got) - 1);
	CHECK_STR(ctx_of(m), "vg2");
	CHECK(json_is_true(json_object_get(m, "cancel")));
	CHECK_EQ(json_object_size(m), 2);
	CHECK_EQ(srv.ws.upgrades, 1);
	call_end();
	return 0;
}

TEST(idle_close_reopens)
{
	struct wsvoice_stats st;

	CHECK_EQ(srv_start(el_plain), 0);
	CHECK_EQ(call_start("elevenlabs", 2000), 0);
	CHECK_EQ(say("One.", 1), 0);
	call.want_done = 1;
	run(2000);
	CHECK_EQ(call.nd, 1);
	/* the provider's inactivity close, with nothing in flight: no
	 * failure, and a new socket at once for the next reply */
	srv_serve_live();
	srv_close(1008, "Have not received a new text input within the "
	                "timeout of 180 seconds.");
	srv.ws.cur = NULL;
	run(150);
	CHECK_EQ(call.nd, 1);
	wsvoice_stats(call.v, &st);
	CHECK_EQ(st.connects, 2);
	CHECK_EQ(st.opened, 2);
	CHECK(st.open);
	call_end();
	return 0;
}

TEST(backoff)
{
	struct wsvoice_stats st;

	/* refused again and again with no clause: the attempts space out
	 * (250 ms, 500 ms, 1 s, 2 s, ... less up to half) */
	CHECK_EQ(srv_start(ca_plain), 0);
	srv.mode = S_REFUSE;
	CHECK_EQ(call_start("cartesia", 2000), 0);
	run(1600);
	wsvoice_stats(call.v, &st);
	CHECK(st.connects >= 3 && st.connects <= 5);
	CHECK_EQ(st.opened, 0);
	/* a clause brings the next attempt forward */
	srv.mode = S_OK;
	CHECK_EQ(say("Now.", 1), 0);
	call.want_done = 1;
	run(500);
	CHECK_EQ(call.nd, 1);
	CHECK_EQ(call.derr[0], 0);
	call_end();
	return 0;
}

/* ---- through the speaker ---- */

static struct tts *tts;
static struct engine_pool *pool;
static struct httpc *http;

static struct {
	char kinds[64]; /* one letter per run of audio of a kind */
	size_t nk;
	int err[8];
	unsigned nd;
} sp;

/* A: the provider's first context, C: its second, E: the embedded
 * voice. */
static void sp_audio(uint32_t tag, const int16_t *pcm, size_t n, void *arg)
{
	uint8_t a = 17, c = 33;
	int16_t sa, sc;
	char k = 'E';
	size_t i;

	(void)tag;
	(void)arg;
	g711_ulaw_decode(&sa, &a, 1);
	g711_ulaw_decode(&sc, &c, 1);
	for (i = 0; i < n && pcm[i] == sa; i++)
		;
	if (i == n)
		k = 'A';
	for (i = 0; i < n && pcm[i] == sc; i++)
		;
	if (i == n)
		k = 'C';
	if ((!sp.nk || sp.kinds[sp.nk - 1] != k) && sp.nk < 63)
		sp.kinds[sp.nk++] = k;
}

static void sp_done(uint32_t tag, int err, const char *why, void *arg)
{
	(void)tag;
	(void)why;
	(void)arg;
	if (sp.nd < 8)
		sp.err[sp.nd++] = err;
	if (sp.nd == 3)
		re_cancel();
}

/* The speaker keeps the order across voices: a network clause, an
 * embedded one behind it (which waits for it), a network one behind
 * that (which waits for the embedded one); and after a refused key the
 * embedded voice speaks. */
TEST(speaker_stream_order)
{
	struct speaker *s = NULL;
	struct speaker_config sc = {0};

	CHECK_EQ(srv_start(el_plain), 0);
	memset(&sp, 0, sizeof(sp));
	call_prm("elevenlabs", 3000);
	call.pv.http = http;
	sc.tts = tts;
	sc.pool = pool;
	sc.net = &call.pv;
	sc.call_id = "c2";
	CHECK_EQ(speaker_alloc(&s, &sc, sp_audio, sp_done, NULL), 0);
	CHECK_EQ(speaker_say(s, "One.", 4, 1), 0);
	CHECK_EQ(speaker_say_embedded(s, "Two.", 4, 1), 0);
	CHECK_EQ(speaker_say(s, "Three.", 6, 1), 0);
	run(8000);
	CHECK_EQ(sp.nd, 3);
	CHECK_EQ(sp.err[0], 0);
	CHECK_EQ(sp.err[1], 0);
	CHECK_EQ(sp.err[2], 0);
	sp.kinds[sp.nk] = '\0';
	CHECK_STR(sp.kinds, "AEC");
	CHECK_EQ(srv.ws.upgrades, 1);

	/* a refused key: the network clause fails, the next of its reply
	 * is cancelled, the embedded apology is said */
	srv.on_text = el_badkey;
	memset(&sp, 0, sizeof(sp));
	CHECK_EQ(speaker_say(s, "Four.", 5, 2), 0);
	CHECK_EQ(speaker_say(s, "Five.", 5, 2), 0);
	CHECK_EQ(speaker_say_embedded(s, "Sorry.", 6, 2), 0);
	run(8000);
	CHECK_EQ(sp.nd, 3);
	CHECK_EQ(sp.err[0], EACCES);
	CHECK_EQ(sp.err[1], ECANCELED);
	CHECK_EQ(sp.err[2], 0);
	sp.kinds[sp.nk] = '\0';
	CHECK_STR(sp.kinds, "E");
	mem_deref(s);
	return 0;
}

int main(void)
{
	struct tts_params tp;
	const char *why = NULL;
	int err;

	signal(SIGPIPE, SIG_IGN);
	err = libre_init();
	if (err) {
		printf("FAIL libre_init: %d\n", err);
		return 1;
	}
	tts_params_default(&tp);
	tp.out_rate = 8000;
	if (tts_alloc(&tts, &tp, &why) || httpc_alloc(&http) ||
	    engine_pool_open(&pool, 1)) {
		printf("FAIL setup: %s\n", why ? why : "http or pool");
		return 1;
	}
	RUN(read_elevenlabs);
	RUN(read_cartesia);
	RUN(endpoints);
	RUN(eleven_in_order);
	RUN(eleven_contexts_bounded);
	RUN(eleven_contexts_given_up);
	RUN(eleven_cancel_in_handler);
	RUN(refused_key);
	RUN(error_message);
	RUN(dropped);
	RUN(stalled);
	RUN(cartesia_reply_context);
	RUN(idle_close_reopens);
	RUN(backoff);
	RUN(speaker_stream_order);
	srv_stop();
	engine_pool_close(pool);
	mem_deref(http);
	mem_deref(tts);
	libre_close();
	TEST_EXIT();
}
