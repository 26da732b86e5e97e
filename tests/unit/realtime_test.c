/*
 * The Realtime client (worker/realtime.h; its server events are parsed
 * by realtime_event.c, tested in realtime_event_test.c) on a socket
 * against a scripted server
 * in a thread of this test: the session it sets, the caller's audio as
 * mu-law, a response's audio delivered, and the socket made again after
 * the server closes it with 3000 (a refused key), after the backoff.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include "core/libre.h"
#include <re_main.h>
#include <stdlib.h>
#include <string.h>

#include "core/g711.h"
#include "worker/realtime.h"
#include "ws_standin.h"
#include "test.h"

/* ---- the client on a socket ----------------------------------------- */

struct srv {
	int lfd, port;
	atomic_bool stop;
	pthread_t th;
	/* what the client sent, per connection */
	char auth[2][128];
	char *msgs[2][16];
	int nmsgs[2];
	int conns;
	uint64_t t_closed, t_second;
};

/* Reads messages until one whose type is `until`, keeping them. */
static bool read_until(struct srv *sv, int fd, int c, const char *until)
{
	for (;;) {
		char *p;
		size_t n;
		int op = ws_read_frame(fd, &p, &n);

		if (op < 0)
			return false;
		if (op != 1) {
			free(p);
			continue;
		}
		if (sv->nmsgs[c] < 16)
			sv->msgs[c][sv->nmsgs[c]++] = p;
		else
			free(p);
		if (strstr(p, until))
			return true;
	}
}

static void *serve(void *arg)
{
	struct srv *sv = arg;
	int fd = standin_accept(sv->lfd, &sv->stop);

	if (fd < 0 || !ws_upgrade(fd, sv->auth[0], sizeof(sv->auth[0])))
		goto out;
	sv->conns = 1;
	if (!read_until(sv, fd, 0, "session.update"))
		goto out;
	ws_send_text(fd, "{\"type\":\"session.created\",\"session\":{}}");
	if (!read_until(sv, fd, 0, "response.create"))
		goto out;
	ws_send_text(fd, "{\"type\":\"response.created\",\"response\":{\"id\":"
	                 "\"resp_1\"}}");
	ws_send_text(fd, "{\"type\":\"response.output_audio.delta\","
	                 "\"response_id\":\"resp_1\",\"item_id\":\"item_1\","
	                 "\"content_index\":0,\"delta\":\"AAH/fw==\"}");
	/* something unreadable is skipped */
	ws_send_text(fd, "{\"type\":\"response.output_audio.delta\"");
	ws_send_text(fd, "{\"type\":\"response.done\",\"response\":{\"id\":"
	                 "\"resp_1\",\"status\":\"completed\"}}");
	if (!read_until(sv, fd, 0, "conversation.item.truncate"))
		goto out;
	/* the key refused, as the service does it */
	ws_send_text(fd,
	             "{\"type\":\"error\",\"error\":{\"type\":"
	             "\"invalid_request_error\",\"code\":\"invalid_api_key\","
	             "\"message\":\"Incorrect API key provided: "
	             "sk-unit-******\"}}");
	ws_send_frame(fd, 8,
	              "\x0b\xb8"
	              "invalid_request_error.invalid_api_key",
	              2 + 37);
	sv->t_closed = now_ms();
	sleep_ms(50);
	close(fd);
	fd = standin_accept(sv->lfd, &sv->stop);
	if (fd < 0 || !ws_upgrade(fd, sv->auth[1], sizeof(sv->auth[1])))
		goto out;
	sv->t_second = now_ms();
	sv->conns = 2;
	(void)read_until(sv, fd, 1, "session.update");
	while (!atomic_load(&sv->stop))
		sleep_ms(10);
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct cli {
	struct rt *rt;
	int ups, downs;
	int down_err;
	char down_why[256];
	int audio_len;
	uint8_t audio[8];
	bool done, bad;
	struct tmr guard;
};

static void c_event(const struct rt_event *e, void *arg)
{
	struct cli *c = arg;

	if (e->kind == RT_EV_AUDIO && e->audio_len <= sizeof(c->audio)) {
		memcpy(c->audio + c->audio_len, e->audio, e->audio_len);
		c->audio_len += (int)e->audio_len;
	}
	if (e->kind == RT_EV_DONE) {
		c->done = !strcmp(e->status, "completed");
		(void)rt_cancel(c->rt, NULL);
		(void)rt_truncate(c->rt, "item_1", 0, 120);
	}
}

static void c_state(bool up, int err, const char *why, void *arg)
{
	struct cli *c = arg;
	int16_t pcm[1600];

	if (!up) {
		c->downs++;
		c->down_err = err;
		snprintf(c->down_why, sizeof(c->down_why), "%s", why);
		return;
	}
	if (++c->ups == 2) {
		re_cancel();
		return;
	}
	for (int i = 0; i < 1600; i++)
		pcm[i] = (int16_t)((i % 80) * 400 - 16000);
	if (rt_append(c->rt, pcm, 1600) || rt_commit(c->rt) ||
	    rt_respond(c->rt, NULL, false))
		c->bad = true;
}

static void give_up(void *arg)
{
	(void)arg;
	re_cancel();
}

static json_t *msg(struct srv *sv, int c, const char *type)
{
	for (int i = 0; i < sv->nmsgs[c]; i++) {
		json_t *j = json_loads(sv->msgs[c][i], 0, NULL);

		if (j && !strcmp(json_string_value(json_object_get(j, "type")),
		                 type))
			return j;
		json_decref(j);
	}
	return NULL;
}

TEST(client)
{
	struct srv sv = {0};
	struct cli c = {0};
	struct rt_prm prm = {0};
	char url[128];
	json_t *j, *s;
	uint8_t want[1600], got[1603];
	size_t glen = 0;
	const char *a;
	int16_t pcm;

	sv.lfd = standin_listen(&sv.port);
	CHECK(sv.lfd >= 0);
	CHECK_EQ(pthread_create(&sv.th, NULL, serve, &sv), 0);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/v1/realtime?model=m",
	         sv.port);
	prm.url = url;
	prm.api_key = "sk-unit-key-12345";
	prm.voice = "marin";
	prm.instructions = "Be brief.";
	prm.tools = "[{\"type\":\"function\",\"name\":\"end_call\"}]";
	CHECK_EQ(rt_alloc(&c.rt, &prm, c_event, c_state, &c), 0);
	tmr_init(&c.guard);
	tmr_start(&c.guard, 8000, give_up, NULL);
	re_main(NULL);
	tmr_cancel(&c.guard);
	atomic_store(&sv.stop, true);
	pthread_join(sv.th, NULL);
	close(sv.lfd);
	mem_deref(c.rt);

	CHECK(!c.bad);
	CHECK_EQ(c.ups, 2);
	CHECK_EQ(c.downs, 1);
	CHECK(strstr(c.down_why, "invalid_api_key") != NULL);
	CHECK(strstr(c.down_why, "sk-unit-key") == NULL);
	CHECK_STR(sv.auth[0], "Bearer sk-unit-key-12345");
	CHECK_STR(sv.auth[1], "Bearer sk-unit-key-12345");
	/* back after the backoff: at least half of its first step */
	CHECK(sv.t_second - sv.t_closed >= RT_BACKOFF_MIN_MS / 2);
	CHECK(sv.t_second - sv.t_closed < 2000);

	j = msg(&sv, 0, "session.update");
	CHECK(j);
	s = json_object_get(j, "session");
	CHECK_STR(json_string_value(json_object_get(s, "type")), "realtime");
	CHECK_STR(json_string_value(json_object_get(s, "instructions")),
	          "Be brief.");
	CHECK_STR(json_string_value(json_object_get(
	              json_array_get(json_object_get(s, "tools"), 0), "name")),
	          "end_call");
	a = json_string_value(json_object_get(
	    json_object_get(
	        json_object_get(json_object_get(s, "audio"), "input"),
	        "format"),
	    "type"));
	CHECK(a && !strcmp(a, "audio/pcmu"));
	a = json_string_value(json_object_get(
	    json_object_get(
	        json_object_get(json_object_get(s, "audio"), "output"),
	        "format"),
	    "type"));
	CHECK(a && !strcmp(a, "audio/pcmu"));
	CHECK(json_is_null(json_object_get(
	    json_object_get(json_object_get(s, "audio"), "input"),
	    "turn_detection")));
	CHECK_STR(json_string_value(json_object_get(
	              json_object_get(json_object_get(s, "audio"), "output"),
	              "voice")),
	          "marin");
	json_decref(j);

	/* the caller's audio as mu-law, a byte a sample */
	j = msg(&sv, 0, "input_audio_buffer.append");
	CHECK(j);
	a = json_string_value(json_object_get(j, "audio"));
	CHECK(a);
	/* OpenSSL counts the padding's zero bytes too */
	CHECK(strlen(a) == 2136 && !strcmp(a + 2134, "=="));
	CHECK_EQ(EVP_DecodeBlock(got, (const uint8_t *)a, (int)strlen(a)),
	         1602);
	glen = 1600;
	for (int i = 0; i < 1600; i++) {
		pcm = (int16_t)((i % 80) * 400 - 16000);
		want[i] = g711_ulaw_from_linear(pcm);
	}
	CHECK(memcmp(got, want, glen) == 0);
	json_decref(j);
	CHECK((j = msg(&sv, 0, "input_audio_buffer.commit")));
	json_decref(j);
	CHECK((j = msg(&sv, 0, "response.create")));
	json_decref(j);
	CHECK((j = msg(&sv, 0, "response.cancel")));
	CHECK(!strncmp(json_string_value(json_object_get(j, "event_id")),
	               RT_EVID_CANCEL, strlen(RT_EVID_CANCEL)));
	json_decref(j);
	CHECK((j = msg(&sv, 0, "conversation.item.truncate")));
	CHECK_STR(json_string_value(json_object_get(j, "item_id")), "item_1");
	CHECK_EQ(json_integer_value(json_object_get(j, "audio_end_ms")), 120);
	CHECK_EQ(json_integer_value(json_object_get(j, "content_index")), 0);
	json_decref(j);
	/* the response's audio, the unreadable event skipped */
	CHECK(c.done);
	CHECK_EQ(c.audio_len, 4);
	CHECK(c.audio[0] == 0 && c.audio[1] == 1 && c.audio[2] == 0xff &&
	      c.audio[3] == 0x7f);
	/* the second session is set the same way */
	CHECK((j = msg(&sv, 1, "session.update")));
	json_decref(j);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < sv.nmsgs[k]; i++)
			free(sv.msgs[k][i]);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	RUN(client);
	libre_close();
	TEST_EXIT();
}
