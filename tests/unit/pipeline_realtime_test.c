/*
 * A call's pipeline with brain realtime (pipeline_realtime.c) against a
 * scripted Realtime server in a thread of this test; the test plays the
 * voxgate server on the loop: VAD events and frames in, the agent's audio
 * reported speaking, played or interrupted. One call, in order:
 * - the greeting asked of the model and its audio said, mu-law decoded;
 * - a turn: its frames with the pre-roll appended (a byte a sample),
 *   committed, the reply asked for after the commit, the caller's words
 *   from the input transcription in the turn's figures;
 * - barge-in over that reply: response.cancel for it, then
 *   conversation.item.truncate to the heard_ms the server reported;
 * - the next turn's response failing with an error event: the embedded
 *   voice apologises, the turn carries the reason, and the model is told
 *   the apology as said.
 * And a call offered the tools (transfer_to set), in order:
 * - the session's tools: end_call and transfer_call, as functions;
 * - transfer_call refused by the server after the response is done: the
 *   refusal as the call's output, then response.create, whose words and
 *   audio end the same reply;
 * - transfer_call under way, the model silent: the output, no new
 *   response, the embedded voice says the hold;
 * - calls of no tool, the model asked again each time, the last response
 *   for words only; a call in it ends the reply with the apology;
 * - end_call with the goodbye: the output, no new response, the hangup
 *   once the goodbye is played;
 * - barge-in over a reply of two responses (a refused transfer's): each
 *   response's audio item truncated to what was heard of it.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include <re_main.h>
#include "core/g711.h"
#include "worker/brain.h"
#include "worker/engine.h"
#include "worker/pipeline.h"
#include "worker/provider.h"
#include "worker/realtime.h"
#include "speech/tts.h"

#include "ws_standin.h"
#include "test.h"

#define GREETING "Hello there."
#define REPLY    "We have rooms on three floors."
#define HEARD    "book a room"
#define CODE     0x10 /* the model's audio: one mu-law code */

/* ---- the model --------------------------------------------------------- */

struct srv {
	int lfd, port;
	atomic_bool stop;
	pthread_t th;
	atomic_int phase; /* the script's step reached */
	char *greet_create;
	size_t turn_bytes; /* appended before the first commit */
	char cancel_id[64];
	char trunc_item[64];
	int trunc_ms;
	char *told; /* the apology, told to the model */
	bool bad;
};

/* Reads until a message of type `until`; appends' audio bytes counted
 * into *bytes. The message found is returned (malloc'd). */
static char *read_until(int fd, const char *until, size_t *bytes)
{
	for (;;) {
		char *p;
		size_t n;
		json_t *j;
		const char *type;
		int op = ws_read_frame(fd, &p, &n);

		if (op < 0)
			return NULL;
		j = op == 1 ? json_loads(p, 0, NULL) : NULL;
		type = json_string_value(json_object_get(j, "type"));
		if (type && bytes &&
		    !strcmp(type, "input_audio_buffer.append")) {
			const char *a =
			    json_string_value(json_object_get(j, "audio"));
			size_t l = a ? strlen(a) : 0;

			*bytes += l / 4 * 3 - (l && a[l - 1] == '=') -
			          (l > 1 && a[l - 2] == '=');
		}
		if (type && !strcmp(type, until)) {
			json_decref(j);
			return p;
		}
		json_decref(j);
		free(p);
	}
}

static void audio(int fd, const char *resp, const char *item, size_t bytes)
{
	uint8_t raw[800];
	char b64[1100], msg[1300];

	memset(raw, CODE, sizeof(raw));
	while (bytes) {
		size_t k = bytes < sizeof(raw) ? bytes : sizeof(raw);

		b64[EVP_EncodeBlock((uint8_t *)b64, raw, (int)k)] = '\0';
		snprintf(msg, sizeof(msg),
		         "{\"type\":\"response.output_audio.delta\","
		         "\"response_id\":\"%s\",\"item_id\":\"%s\","
		         "\"output_index\":0,\"content_index\":0,\"delta\":"
		         "\"%s\"}",
		         resp, item, b64);
		ws_send_text(fd, msg);
		bytes -= k;
	}
}

static void *serve(void *arg)
{
	struct srv *sv = arg;
	int fd = standin_accept(sv->lfd, &sv->stop);
	char *m;
	json_t *j;

	if (fd < 0 || !ws_upgrade(fd, NULL, 0))
		goto out;
	/* The apology is paced out in real time before it is told. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){10, 0},
	           sizeof(struct timeval));
	free(read_until(fd, "session.update", NULL));
	/* the greeting */
	sv->greet_create = read_until(fd, "response.create", NULL);
	ws_send_text(fd, "{\"type\":\"response.created\",\"response\":{\"id\":"
	                 "\"r1\"}}");
	audio(fd, "r1", "item_a1", 800);
	ws_send_text(fd, "{\"type\":\"response.output_audio_transcript.delta\","
	                 "\"response_id\":\"r1\",\"item_id\":\"item_a1\","
	                 "\"delta\":\"" GREETING "\"}");
	ws_send_text(fd, "{\"type\":\"response.done\",\"response\":{\"id\":"
	                 "\"r1\",\"status\":\"completed\"}}");
	atomic_store(&sv->phase, 1);
	/* the turn: committed, transcribed, answered with 1 s */
	m = read_until(fd, "input_audio_buffer.commit", &sv->turn_bytes);
	free(m);
	ws_send_text(fd, "{\"type\":\"input_audio_buffer.committed\","
	                 "\"item_id\":\"item_u1\"}");
	ws_send_text(fd, "{\"type\":\"conversation.item.input_audio_"
	                 "transcription.completed\",\"item_id\":\"item_u1\","
	                 "\"content_index\":0,\"transcript\":\"" HEARD "\"}");
	free(read_until(fd, "response.create", NULL));
	ws_send_text(fd, "{\"type\":\"response.created\",\"response\":{\"id\":"
	                 "\"r2\"}}");
	ws_send_text(fd, "{\"type\":\"response.output_audio_transcript.delta\","
	                 "\"response_id\":\"r2\",\"item_id\":\"item_a2\","
	                 "\"delta\":\"" REPLY "\"}");
	audio(fd, "r2", "item_a2", 8000);
	atomic_store(&sv->phase, 2);
	/* cut: cancelled, then truncated */
	m = read_until(fd, "response.cancel", NULL);
	j = m ? json_loads(m, 0, NULL) : NULL;
	snprintf(sv->cancel_id, sizeof(sv->cancel_id), "%s",
	         json_string_value(json_object_get(j, "response_id"))
	             ? json_string_value(json_object_get(j, "response_id"))
	             : "");
	json_decref(j);
	free(m);
	ws_send_text(fd, "{\"type\":\"response.done\",\"response\":{\"id\":"
	                 "\"r2\",\"status\":\"cancelled\"}}");
	m = read_until(fd, "conversation.item.truncate", NULL);
	j = m ? json_loads(m, 0, NULL) : NULL;
	snprintf(sv->trunc_item, sizeof(sv->trunc_item), "%s",
	         json_string_value(json_object_get(j, "item_id"))
	             ? json_string_value(json_object_get(j, "item_id"))
	             : "");
	sv->trunc_ms =
	    (int)json_integer_value(json_object_get(j, "audio_end_ms"));
	json_decref(j);
	free(m);
	atomic_store(&sv->phase, 3);
	/* the next turn's response fails */
	free(read_until(fd, "input_audio_buffer.commit", NULL));
	ws_send_text(fd, "{\"type\":\"input_audio_buffer.committed\","
	                 "\"item_id\":\"item_u2\"}");
	free(read_until(fd, "response.create", NULL));
	ws_send_text(fd, "{\"type\":\"response.created\",\"response\":{\"id\":"
	                 "\"r3\"}}");
	ws_send_text(fd, "{\"type\":\"error\",\"error\":{\"type\":"
	                 "\"server_error\",\"code\":null,\"message\":\"The "
	                 "server had an error.\"}}");
	ws_send_text(fd, "{\"type\":\"response.done\",\"response\":{\"id\":"
	                 "\"r3\",\"status\":\"failed\"}}");
	sv->told = read_until(fd, "conversation.item.create", NULL);
	atomic_store(&sv->phase, 4);
	while (!atomic_load(&sv->stop))
		sleep_ms(10);
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* ---- the model, with tools --------------------------------------------- */

struct tsrv {
	int lfd, port;
	atomic_bool stop;
	pthread_t th;
	atomic_int phase;
	char *session, *out[12], *create[12], *told;
	int nout, ncreate;
	char trunc_item[2][32];
	int trunc_ms[2];
	char bad[160]; /* the first event out of the script */
};

/* The next client event but appends, which must be of type want: the
 * message (malloc'd), or NULL with sv->bad saying what came instead. */
static char *expect(struct tsrv *sv, int fd, const char *want)
{
	for (;;) {
		char *p;
		size_t n;
		json_t *j;
		const char *type;
		int op = ws_read_frame(fd, &p, &n);

		if (op < 0) {
			if (!sv->bad[0])
				snprintf(sv->bad, sizeof(sv->bad),
				         "no %s: socket closed", want);
			return NULL;
		}
		j = op == 1 ? json_loads(p, 0, NULL) : NULL;
		type = json_string_value(json_object_get(j, "type"));
		if (!type || !strcmp(type, "input_audio_buffer.append")) {
			json_decref(j);
			free(p);
			continue;
		}
		if (strcmp(type, want)) {
			if (!sv->bad[0])
				snprintf(sv->bad, sizeof(sv->bad),
				         "%s where %s was due", type, want);
			json_decref(j);
			free(p);
			return NULL;
		}
		json_decref(j);
		return p;
	}
}

static void keep(char **slot, int *n, char *m)
{
	if (*n < 12)
		slot[(*n)++] = m;
	else
		free(m);
}

struct fcall {
	const char *name, *id, *args;
};

/* response.created, the words and audio (bytes; none without words),
 * the call if any, response.done. */
static void respond(int fd, const char *resp, const char *words, size_t bytes,
                    const struct fcall *call)
{
	char msg[512], item[32];

	snprintf(msg, sizeof(msg),
	         "{\"type\":\"response.created\",\"response\":{\"id\":"
	         "\"%s\"}}",
	         resp);
	ws_send_text(fd, msg);
	snprintf(item, sizeof(item), "item_%s", resp);
	if (words) {
		snprintf(msg, sizeof(msg),
		         "{\"type\":\"response.output_audio_transcript."
		         "delta\",\"response_id\":\"%s\",\"item_id\":\"%s\","
		         "\"delta\":\"%s\"}",
		         resp, item, words);
		ws_send_text(fd, msg);
		audio(fd, resp, item, bytes);
	}
	if (call) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type",
		                      "response.function_call_arguments.done",
		                      "response_id", resp, "item_id", "item_f",
		                      "call_id", call->id, "name", call->name,
		                      "arguments", call->args);
		char *t = json_dumps(o, JSON_COMPACT);

		ws_send_text(fd, t);
		free(t);
		json_decref(o);
	}
	snprintf(msg, sizeof(msg),
	         "{\"type\":\"response.done\",\"response\":{\"id\":"
	         "\"%s\",\"status\":\"completed\"}}",
	         resp);
	ws_send_text(fd, msg);
}

/* Turn n committed, its response asked for. */
static bool turn_in(struct tsrv *sv, int fd, int n)
{
	char msg[128], *m = expect(sv, fd, "input_audio_buffer.commit");

	if (!m)
		return false;
	free(m);
	snprintf(msg, sizeof(msg),
	         "{\"type\":\"input_audio_buffer.committed\","
	         "\"item_id\":\"item_u%d\"}",
	         n);
	ws_send_text(fd, msg);
	m = expect(sv, fd, "response.create");
	if (m)
		keep(sv->create, &sv->ncreate, m);
	return m != NULL;
}

static bool output_in(struct tsrv *sv, int fd)
{
	char *m = expect(sv, fd, "conversation.item.create");

	if (m)
		keep(sv->out, &sv->nout, m);
	return m != NULL;
}

static bool create_in(struct tsrv *sv, int fd)
{
	char *m = expect(sv, fd, "response.create");

	if (m)
		keep(sv->create, &sv->ncreate, m);
	return m != NULL;
}

static const struct fcall xfer1 = {"transfer_call", "call_1",
                                   "{\"reason\":\"wants a person\"}"};
static const struct fcall xfer2 = {"transfer_call", "call_2", ""};
static const struct fcall moon1 = {"fly_to_the_moon", "call_3", "{}"};
static const struct fcall moon2 = {"fly_to_the_moon", "call_4", "{}"};
static const struct fcall end1 = {"end_call", "call_5", "{}"};
static const struct fcall end2 = {"end_call", "call_6", "{}"};
static const struct fcall xfer3 = {"transfer_call", "call_7", "{}"};

static void *serve_tools(void *arg)
{
	struct tsrv *sv = arg;
	int fd = standin_accept(sv->lfd, &sv->stop);

	if (fd < 0 || !ws_upgrade(fd, NULL, 0))
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){10, 0},
	           sizeof(struct timeval));
	sv->session = expect(sv, fd, "session.update");
	/* 1: transfer refused once the response is done; told, the model
	 * answers in the same reply */
	if (!sv->session || !turn_in(sv, fd, 1))
		goto out;
	respond(fd, "r1", "Let me see.", 400, &xfer1);
	if (!output_in(sv, fd) || !create_in(sv, fd))
		goto out;
	respond(fd, "r2", "I cannot put you through.", 400, NULL);
	/* 2: transfer under way, the model silent: no new response */
	if (!turn_in(sv, fd, 2))
		goto out;
	respond(fd, "r3", NULL, 0, &xfer2);
	if (!output_in(sv, fd))
		goto out;
	/* 3: calls of no tool, asked again twice, then a call in the
	 * last response */
	if (!turn_in(sv, fd, 3))
		goto out;
	respond(fd, "r4", NULL, 0, &moon1);
	if (!output_in(sv, fd) || !create_in(sv, fd))
		goto out;
	respond(fd, "r5", NULL, 0, &moon2);
	if (!output_in(sv, fd) || !create_in(sv, fd))
		goto out;
	respond(fd, "r6", NULL, 0, &end1);
	if (!output_in(sv, fd))
		goto out;
	sv->told = expect(sv, fd, "conversation.item.create");
	/* 4: the goodbye and end_call */
	if (!sv->told || !turn_in(sv, fd, 4))
		goto out;
	respond(fd, "r7", "Goodbye.", 400, &end2);
	if (!output_in(sv, fd))
		goto out;
	/* 5: a refused transfer's two responses, the caller talking over
	 * the second: each response's audio item truncated */
	if (!turn_in(sv, fd, 5))
		goto out;
	respond(fd, "r8", "One moment.", 800, &xfer3);
	if (!output_in(sv, fd) || !create_in(sv, fd))
		goto out;
	respond(fd, "r9", "I cannot do that now.", 8000, NULL);
	for (int i = 0; i < 2; i++) {
		char *m = expect(sv, fd, "conversation.item.truncate");
		json_t *j = m ? json_loads(m, 0, NULL) : NULL;
		const char *id =
		    json_string_value(json_object_get(j, "item_id"));

		snprintf(sv->trunc_item[i], sizeof(sv->trunc_item[i]), "%s",
		         id ? id : "");
		sv->trunc_ms[i] =
		    (int)json_integer_value(json_object_get(j, "audio_end_ms"));
		json_decref(j);
		free(m);
		if (!m)
			goto out;
	}
	atomic_store(&sv->phase, 1);
	while (!atomic_load(&sv->stop))
		sleep_ms(10);
out:
	atomic_store(&sv->phase, 1);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* ---- the voxgate server's side ----------------------------------------- */

struct utt {
	size_t n;
	bool all_code, ended;
	int marks;
};

struct turn {
	char transcript[64], reply[128], error[200];
	int32_t stt_ms, llm_ms;
	bool interrupted;
};

static struct {
	struct pipeline *p;
	struct srv *sv;
	struct utt utt[8];
	struct turn turns[8];
	int nturns;
	uint32_t frame;
	int step;
	struct tmr poll, guard;
	bool timed_out;
	/* the call with tools */
	struct tsrv *tv;
	int hangups, xfers;
	uint32_t xfer_req;
	char xfer_to[64], xfer_why[64];
	struct tmr xfer;
	size_t hung_at; /* utterances ended when the hangup came */
} T;

static void op_say(void *arg, uint32_t u, const int16_t *pcm, size_t n)
{
	(void)arg;
	if (u >= 8)
		return;
	if (!T.utt[u].n)
		T.utt[u].all_code = true;
	for (size_t i = 0; i < n; i++)
		if (pcm[i] != g711_ulaw_to_linear(CODE))
			T.utt[u].all_code = false;
	T.utt[u].n += n;
}

static void op_say_end(void *arg, uint32_t u)
{
	(void)arg;
	if (u < 8)
		T.utt[u].ended = true;
}

static void op_mark(void *arg, uint32_t u, uint32_t mark)
{
	(void)arg;
	(void)mark;
	if (u < 8)
		T.utt[u].marks++;
}

static void op_clear(void *arg)
{
	(void)arg;
}

static void op_turn(void *arg, const struct pipeline_turn *t)
{
	struct turn *r = &T.turns[T.nturns < 8 ? T.nturns++ : 7];

	(void)arg;
	snprintf(r->transcript, sizeof(r->transcript), "%s", t->transcript);
	snprintf(r->reply, sizeof(r->reply), "%s", t->reply);
	snprintf(r->error, sizeof(r->error), "%s", t->error ? t->error : "");
	r->stt_ms = t->stt_ms;
	r->llm_ms = t->llm_ms;
	r->interrupted = t->interrupted;
}

static void op_hangup(void *arg, const char *reason)
{
	(void)arg;
	(void)reason;
	if (!T.hangups++)
		for (int i = 1; i < 8; i++)
			T.hung_at += T.utt[i].ended;
}

/* The server's answer comes a while later, after the response is done:
 * the second transfer under way, the others refused. */
static void xfer_due(void *arg)
{
	(void)arg;
	pipeline_transfer_result(T.p, T.xfer_req, T.xfers == 2,
	                         T.xfers == 2 ? "" : "no REFER here");
}

static void op_transfer(void *arg, uint32_t request, const char *to,
                        const char *why)
{
	(void)arg;
	T.xfers++;
	T.xfer_req = request;
	snprintf(T.xfer_to, sizeof(T.xfer_to), "%s", to);
	if (T.xfers == 1)
		snprintf(T.xfer_why, sizeof(T.xfer_why), "%s", why);
	tmr_start(&T.xfer, 100, xfer_due, NULL);
}

static const struct pipeline_ops ops = {
    .say = op_say,
    .say_end = op_say_end,
    .mark = op_mark,
    .clear = op_clear,
    .turn = op_turn,
    .hangup = op_hangup,
};

static const struct pipeline_ops ops_xfer = {
    .say = op_say,
    .say_end = op_say_end,
    .mark = op_mark,
    .clear = op_clear,
    .turn = op_turn,
    .hangup = op_hangup,
    .transfer = op_transfer,
};

/* A turn: 10 frames of silence, START, 30 of voice, STOP. */
static void say_turn(bool barge)
{
	int16_t quiet[PIPELINE_FRAME] = {0}, voice[PIPELINE_FRAME];

	for (int i = 0; i < PIPELINE_FRAME; i++)
		voice[i] = (int16_t)(i % 20 < 10 ? 6000 : -6000);
	for (int i = 0; i < 10; i++)
		pipeline_audio(T.p, T.frame++, quiet);
	pipeline_vad(T.p, VAD_EVENT_START, T.frame);
	if (barge)
		pipeline_interrupted(T.p, 2, 700);
	for (int i = 0; i < 30; i++)
		pipeline_audio(T.p, T.frame++, voice);
	pipeline_vad(T.p, VAD_EVENT_STOP, T.frame);
	pipeline_audio(T.p, T.frame++, quiet);
}

static void poll_step(void *arg)
{
	(void)arg;
	switch (T.step) {
	case 0: /* the greeting played */
		if (!T.utt[1].ended)
			break;
		pipeline_played(T.p, 1, 100);
		say_turn(false);
		T.step = 1;
		break;
	case 1: /* the reply comes: the caller talks over it */
		if (T.utt[2].n < 8000)
			break;
		pipeline_speaking(T.p, 2, 300);
		say_turn(true);
		T.step = 2;
		break;
	case 2: /* the apology is said */
		if (!T.utt[3].ended || T.nturns < 1)
			break;
		pipeline_played(T.p, 3, (uint32_t)(T.utt[3].n / 8));
		T.step = 3;
		break;
	case 3:
		if (T.nturns < 2 || atomic_load(&T.sv->phase) < 4)
			break;
		re_cancel();
		return;
	}
	tmr_start(&T.poll, 10, poll_step, NULL);
}

static void give_up(void *arg)
{
	(void)arg;
	T.timed_out = true;
	re_cancel();
}

TEST(call)
{
	struct srv sv = {0};
	struct tts *tts = NULL;
	struct tts_params tp;
	struct engine_pool *pool = NULL;
	char url[128];
	struct provider pv = {.name = "openai",
	                      .api_key = "sk-unit-key-1",
	                      .voice = "alloy",
	                      .timeout_ms = 3000};
	struct brain_config brain = {.kind = BRAIN_REALTIME,
	                             .system_prompt = "Be brief."};
	struct pipeline_config cfg = {0};
	int err;

	tts_params_default(&tp);
	tp.out_rate = 8000;
	CHECK_EQ(tts_alloc(&tts, &tp, NULL), 0);
	CHECK_EQ(engine_pool_open(&pool, 1), 0);
	sv.lfd = standin_listen(&sv.port);
	CHECK(sv.lfd >= 0);
	CHECK_EQ(pthread_create(&sv.th, NULL, serve, &sv), 0);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/v1/realtime?model=m",
	         sv.port);
	pv.url = url;
	cfg.tts = tts;
	cfg.pool = pool;
	cfg.brain = &brain;
	cfg.realtime = &pv;
	cfg.greeting = GREETING;
	cfg.call_id = "call-1";
	memset(&T, 0, sizeof(T));
	T.sv = &sv;
	/* no decoder, no recogniser: the model hears the caller */
	err = pipeline_alloc(&T.p, &cfg, &ops, NULL);
	CHECK_EQ(err, 0);
	tmr_init(&T.poll);
	tmr_init(&T.guard);
	tmr_start(&T.poll, 10, poll_step, NULL);
	tmr_start(&T.guard, 20000, give_up, NULL);
	re_main(NULL);
	tmr_cancel(&T.poll);
	tmr_cancel(&T.guard);
	mem_deref(T.p);
	atomic_store(&sv.stop, true);
	pthread_join(sv.th, NULL);
	close(sv.lfd);
	engine_pool_close(pool);
	mem_deref(tts);

	CHECK(!T.timed_out);
	/* the greeting: asked of the model, its audio said as it came */
	CHECK(sv.greet_create && strstr(sv.greet_create, GREETING));
	free(sv.greet_create);
	CHECK_EQ(T.utt[1].n, 800);
	CHECK(T.utt[1].all_code);
	CHECK_EQ(T.utt[1].marks, 1);
	/* the turn: pre-roll and voice, a byte a sample */
	CHECK_EQ(sv.turn_bytes, 40 * PIPELINE_FRAME);
	/* barge-in: the response cancelled, its item truncated to what
	 * was heard */
	CHECK_STR(sv.cancel_id, "r2");
	CHECK_STR(sv.trunc_item, "item_a2");
	CHECK_EQ(sv.trunc_ms, 700);
	CHECK(T.utt[2].all_code);
	CHECK_STR(T.turns[0].transcript, HEARD);
	CHECK(T.turns[0].interrupted);
	CHECK_STR(T.turns[0].error, "");
	CHECK(T.turns[0].stt_ms >= 0 && T.turns[0].llm_ms >= 0);
	/* 700 of 1000 ms: the words of the first 70 % */
	CHECK_STR(T.turns[0].reply, "We have rooms on");
	/* the failed response: the embedded voice's apology */
	CHECK(!strncmp(T.turns[1].error, "realtime: server_error", 22));
	CHECK_STR(T.turns[1].transcript, "");
	CHECK(T.utt[3].n > 8000 && !T.utt[3].all_code);
	CHECK(T.utt[3].ended);
	/* ... and the model told what the caller heard instead */
	CHECK(sv.told && strstr(sv.told, "\"role\":\"assistant\"") &&
	      strstr(sv.told, "output_text") &&
	      strstr(sv.told, "Sorry, I had a problem answering that."));
	free(sv.told);
	return 0;
}

/* Each reply played to its end, then the next turn; done when the
 * goodbye was played and the model heard its last output. */
static void poll_tools(void *arg)
{
	(void)arg;
	if (T.step <= 4 && T.utt[T.step].ended) {
		pipeline_played(T.p, (uint32_t)T.step,
		                (uint32_t)(T.utt[T.step].n / 8));
		T.step++;
		say_turn(false);
	}
	/* 5: both responses' audio made, 400 ms of it heard */
	if (T.step == 5 && T.utt[5].n >= 800 + 8000) {
		pipeline_speaking(T.p, 5, 300);
		pipeline_vad(T.p, VAD_EVENT_START, T.frame);
		pipeline_interrupted(T.p, 5, 400);
		T.step = 6;
	}
	if (T.step == 6 && T.nturns >= 5 && atomic_load(&T.tv->phase)) {
		re_cancel();
		return;
	}
	tmr_start(&T.poll, 10, poll_tools, NULL);
}

static bool has(const char *msg, const char *s)
{
	return msg && strstr(msg, s);
}

TEST(tools)
{
	struct tsrv sv = {0};
	struct tts *tts = NULL;
	struct tts_params tp;
	struct engine_pool *pool = NULL;
	char url[128];
	struct provider pv = {.name = "openai",
	                      .api_key = "sk-unit-key-2",
	                      .voice = "alloy",
	                      .timeout_ms = 3000};
	struct brain_config brain = {.kind = BRAIN_REALTIME};
	struct pipeline_config cfg = {0};
	json_t *sess;
	int err;

	tts_params_default(&tp);
	tp.out_rate = 8000;
	CHECK_EQ(tts_alloc(&tts, &tp, NULL), 0);
	CHECK_EQ(engine_pool_open(&pool, 1), 0);
	sv.lfd = standin_listen(&sv.port);
	CHECK(sv.lfd >= 0);
	CHECK_EQ(pthread_create(&sv.th, NULL, serve_tools, &sv), 0);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/v1/realtime?model=m",
	         sv.port);
	pv.url = url;
	cfg.tts = tts;
	cfg.pool = pool;
	cfg.brain = &brain;
	cfg.realtime = &pv;
	cfg.call_id = "call-2";
	cfg.transfer_to = "sip:desk@example.com";
	memset(&T, 0, sizeof(T));
	T.tv = &sv;
	T.step = 1;
	err = pipeline_alloc(&T.p, &cfg, &ops_xfer, NULL);
	CHECK_EQ(err, 0);
	tmr_init(&T.poll);
	tmr_init(&T.guard);
	tmr_init(&T.xfer);
	say_turn(false);
	tmr_start(&T.poll, 10, poll_tools, NULL);
	tmr_start(&T.guard, 30000, give_up, NULL);
	re_main(NULL);
	tmr_cancel(&T.poll);
	tmr_cancel(&T.guard);
	tmr_cancel(&T.xfer);
	mem_deref(T.p);
	atomic_store(&sv.stop, true);
	pthread_join(sv.th, NULL);
	close(sv.lfd);
	engine_pool_close(pool);
	mem_deref(tts);

	CHECK_STR(sv.bad, "");
	CHECK(!T.timed_out);
	/* the session's tools: the LLM brain's, as functions */
	sess = json_loads(sv.session ? sv.session : "", 0, NULL);
	CHECK(json_is_object(sess));
	{
		json_t *tools =
		    json_object_get(json_object_get(sess, "session"), "tools");

		CHECK_EQ(json_array_size(tools), 2);
		CHECK_STR(json_string_value(json_object_get(
		              json_array_get(tools, 0), "name")),
		          "end_call");
		CHECK_STR(json_string_value(json_object_get(
		              json_array_get(tools, 1), "name")),
		          "transfer_call");
		CHECK_STR(json_string_value(json_object_get(
		              json_array_get(tools, 1), "type")),
		          "function");
		CHECK(json_is_object(
		    json_object_get(json_array_get(tools, 1), "parameters")));
	}
	json_decref(sess);
	/* 1: the server asked, refused; the model told, its words heard in
	 * the same reply */
	CHECK_EQ(T.xfers, 3);
	CHECK_STR(T.xfer_to, "sip:desk@example.com");
	CHECK_STR(T.xfer_why, "wants a person");
	CHECK_EQ(sv.nout, 7);
	CHECK(has(sv.out[0], "\"function_call_output\"") &&
	      has(sv.out[0], "\"call_id\":\"call_1\"") &&
	      has(sv.out[0], "\\\"ok\\\":false") &&
	      has(sv.out[0], "no REFER here"));
	CHECK(!has(sv.create[1], "tool_choice"));
	CHECK_STR(T.turns[0].reply, "Let me see. I cannot put you through.");
	CHECK_STR(T.turns[0].error, "");
	CHECK_EQ(T.utt[1].n, 800);
	CHECK(T.utt[1].all_code);
	/* 2: under way: told, not asked again (the next event was turn 3's
	 * commit), the hold said by the embedded voice */
	CHECK(has(sv.out[1], "\"call_id\":\"call_2\"") &&
	      has(sv.out[1], "\\\"ok\\\":true"));
	CHECK_STR(T.turns[1].reply, "Please hold while I transfer your call.");
	CHECK(T.utt[2].n > 0 && !T.utt[2].all_code);
	/* 3: no such tool, told each time; the last response for words
	 * only, a call in it refused and the reply ended with the apology */
	CHECK(has(sv.out[2], "call_3") &&
	      has(sv.out[2], "no tool of that name"));
	CHECK(has(sv.out[3], "call_4") &&
	      has(sv.out[3], "no tool of that name"));
	CHECK_EQ(sv.ncreate, 9);
	CHECK(!has(sv.create[3], "tool_choice") &&
	      !has(sv.create[4], "tool_choice"));
	CHECK(has(sv.create[5], "\"tool_choice\":\"none\""));
	CHECK(has(sv.out[4], "call_5") && has(sv.out[4], "no more tool calls"));
	CHECK(!strncmp(T.turns[2].error,
	               "realtime: the model called tools past 3", 39));
	CHECK(has(sv.told, "Sorry, I had a problem answering that."));
	CHECK(T.utt[3].n > 0 && !T.utt[3].all_code);
	/* 4: the goodbye, then the hangup once it was played */
	CHECK(has(sv.out[5], "call_6") && has(sv.out[5], "\\\"ok\\\":true"));
	CHECK_STR(T.turns[3].reply, "Goodbye.");
	CHECK_EQ(T.hangups, 1);
	CHECK_EQ(T.hung_at, 4);
	/* 5: cut 400 ms in: the first response's 100 ms heard whole, 300
	 * of the second's */
	CHECK(T.turns[4].interrupted);
	CHECK_STR(sv.trunc_item[0], "item_r8");
	CHECK_EQ(sv.trunc_ms[0], 100);
	CHECK_STR(sv.trunc_item[1], "item_r9");
	CHECK_EQ(sv.trunc_ms[1], 300);
	for (int i = 0; i < 12; i++)
		free(sv.out[i]);
	for (int i = 0; i < 12; i++)
		free(sv.create[i]);
	free(sv.session);
	free(sv.told);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	RUN(call);
	RUN(tools);
	libre_close();
	TEST_EXIT();
}
