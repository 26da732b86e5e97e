/*
 * OpenAI's Realtime API client (realtime.h): the socket, its session and
 * the client events voxgate sends; the server events are read by
 * realtime_event.c.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"
#include <re_base64.h>

#include "core/clock.h"
#include "core/g711.h"
#include "core/log.h"
#include "net/backoff.h"
#include "net/wsc.h"
#include "worker/provider.h"
#include "worker/realtime.h"

/* The caller's audio goes in pieces of at most this many samples (1 s),
 * so that one append stays a small message. */
#define APPEND_MAX 8000
/* The input transcription's model; the reply does not wait for it, it
 * only puts the caller's words in the turn's log line. */
#define TRANSCRIBE_MODEL "gpt-4o-mini-transcribe"

struct rt {
	struct wsc *ws;
	bool up;
	char *url, *key, *voice, *instructions, *call_id;
	json_t *tools;
	uint32_t connect_ms;
	rt_event_h *eventh;
	rt_state_h *stateh;
	void *arg;
	struct tmr retry;
	unsigned attempts; /* since the last session that came up */
	uint64_t t_connect;
	unsigned seq;   /* event ids */
	uint8_t *audio; /* RT_AUDIO_MAX: a delta decoded */
};

/* ---- the socket -------------------------------------------------------- */

static void connect_now(void *arg);

static void schedule(struct rt *rt, uint32_t *retry_ms)
{
	uint32_t d =
	    backoff_ms(rt->attempts + 1, RT_BACKOFF_MIN_MS, RT_BACKOFF_MAX_MS);

	if (rt->attempts < 16)
		rt->attempts++;
	tmr_start(&rt->retry, d, connect_now, rt);
	if (retry_ms)
		*retry_ms = d;
}

static int send_json(struct rt *rt, json_t *root)
{
	char *s;
	int err;

	if (!root)
		return ENOMEM;
	if (!rt->up) {
		json_decref(root);
		return ENOTCONN;
	}
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!s)
		return ENOMEM;
	err = wsc_send(rt->ws, WSC_TEXT, s, strlen(s));
	free(s);
	return err;
}

static void on_open(void *arg)
{
	struct rt *rt = arg;
	json_t *s;
	int err;

	rt->up = true;
	/* mu-law both ways, the model's turn detection off (null), the
	 * caller's words transcribed for the log. */
	s = json_pack("{s:s,s:{s:s,s:[s],s:{s:{s:{s:s},s:{s:s},s:n},s:{s:{s:s},"
	              "s:s}}}}",
	              "type", "session.update", "session", "type", "realtime",
	              "output_modalities", "audio", "audio", "input", "format",
	              "type", "audio/pcmu", "transcription", "model",
	              TRANSCRIBE_MODEL, "turn_detection", "output", "format",
	              "type", "audio/pcmu", "voice", rt->voice);
	if (s && rt->instructions[0])
		json_object_set_new(json_object_get(s, "session"),
		                    "instructions",
		                    json_string(rt->instructions));
	if (s && rt->tools)
		json_object_set(json_object_get(s, "session"), "tools",
		                rt->tools);
	err = send_json(rt, s);
	log_event(LOGL_INFO, rt->call_id, "realtime_connected",
	          "connect_ms=%llu",
	          (unsigned long long)(clock_mono_ms() - rt->t_connect));
	if (err) {
		rt_restart(rt);
		rt->stateh(false, err, "the session could not be set", rt->arg);
		return;
	}
	rt->stateh(true, 0, NULL, rt->arg);
}

static void on_msg(enum wsc_op op, const uint8_t *p, size_t n, void *arg)
{
	struct rt *rt = arg;
	struct rt_event *ev;
	int err;

	if (op != WSC_TEXT)
		return;
	ev = malloc(sizeof(*ev));
	if (!ev)
		return;
	err = rt_event_parse((const char *)p, n, ev, rt->audio, RT_AUDIO_MAX);
	if (err) {
		log_event(LOGL_WARN, rt->call_id, "realtime_bad_event",
		          "type=\"%s\" len=%zu error=\"%s\"", ev->type, n,
		          strerror(err));
	} else {
		if (ev->kind == RT_EV_SESSION)
			rt->attempts = 0;
		rt->eventh(ev, rt->arg);
	}
	free(ev);
}

static void on_close(const struct wsc_end *end, void *arg)
{
	struct rt *rt = arg;
	char why[PROVIDER_WHY_MAX], q[PROVIDER_WHY_MAX + 32];
	uint32_t retry_ms = 0;
	int err = end->err ? end->err : ECONNRESET;
	const char *reason = end->reason ? end->reason : "";

	if (!end->err)
		snprintf(why, sizeof(why), "closed by %s with %u%s%s",
		         end->by_server ? "the server" : "us", end->code,
		         reason[0] ? ": " : "", reason);
	else
		snprintf(why, sizeof(why), "%s%s",
		         end->opened ? "" : "connecting: ",
		         reason[0] ? reason : strerror(err));
	provider_mask(why, rt->key);
	rt->up = false;
	rt->ws = mem_deref(rt->ws);
	schedule(rt, &retry_ms);
	log_event(LOGL_WARN, rt->call_id, "realtime_disconnected",
	          "status=%u code=%u retry_ms=%u error=\"%s\"", end->status,
	          end->code, retry_ms, log_quote(q, sizeof(q), why));
	rt->stateh(false, err, why, rt->arg);
}

static void connect_now(void *arg)
{
	struct rt *rt = arg;
	char *auth = NULL;
	struct wsc_header h = {"Authorization", NULL};
	struct wsc_prm prm = {0};
	const char *why = NULL;
	int err;

	if (rt->key[0] && asprintf(&auth, "Bearer %s", rt->key) < 0)
		auth = NULL;
	h.value = auth;
	prm.url = rt->url;
	prm.headerv = auth ? &h : NULL;
	prm.headerc = auth ? 1 : 0;
	prm.label = "realtime";
	prm.call_id = rt->call_id;
	prm.connect_ms = rt->connect_ms;
	prm.max_message = RT_MAX_MESSAGE;
	/* A socket that went quiet (a ping unanswered too) is dead: made
	 * again before a reply finds out. */
	prm.idle_ms = RT_IDLE_MS;
	prm.openh = on_open;
	prm.msgh = on_msg;
	prm.closeh = on_close;
	prm.arg = rt;
	rt->t_connect = clock_mono_ms();
	err = wsc_alloc(&rt->ws, &prm, &why);
	free(auth);
	if (err) {
		uint32_t retry_ms = 0;
		char q[128];

		schedule(rt, &retry_ms);
		log_event(LOGL_WARN, rt->call_id, "realtime_disconnected",
		          "status=0 code=0 retry_ms=%u error=\"%s\"", retry_ms,
		          log_quote(q, sizeof(q), why ? why : strerror(err)));
	}
}

static void rt_destructor(void *arg)
{
	struct rt *rt = arg;

	tmr_cancel(&rt->retry);
	rt->ws = mem_deref(rt->ws);
	free(rt->url);
	free(rt->key);
	free(rt->voice);
	free(rt->instructions);
	free(rt->call_id);
	free(rt->audio);
	json_decref(rt->tools);
}

int rt_alloc(struct rt **rtp, const struct rt_prm *prm, rt_event_h *eventh,
             rt_state_h *stateh, void *arg)
{
	struct rt *rt;

	if (!rtp || !prm || !prm->url || !eventh || !stateh)
		return EINVAL;
	rt = mem_zalloc(sizeof(*rt), rt_destructor);
	if (!rt)
		return ENOMEM;
	tmr_init(&rt->retry);
	rt->url = strdup(prm->url);
	rt->key = strdup(prm->api_key ? prm->api_key : "");
	rt->voice = strdup(prm->voice && prm->voice[0] ? prm->voice : "alloy");
	rt->instructions = strdup(prm->instructions ? prm->instructions : "");
	rt->call_id = prm->call_id ? strdup(prm->call_id) : NULL;
	rt->audio = malloc(RT_AUDIO_MAX);
	if (prm->tools) {
		rt->tools = json_loads(prm->tools, 0, NULL);
		if (!json_is_array(rt->tools)) {
			mem_deref(rt);
			return EINVAL;
		}
	}
	if (!rt->url || !rt->key || !rt->voice || !rt->instructions ||
	    (prm->call_id && !rt->call_id) || !rt->audio) {
		mem_deref(rt);
		return ENOMEM;
	}
	rt->connect_ms = prm->connect_ms;
	rt->eventh = eventh;
	rt->stateh = stateh;
	rt->arg = arg;
	connect_now(rt);
	*rtp = rt;
	return 0;
}

bool rt_up(const struct rt *rt)
{
	return rt && rt->up;
}

void rt_restart(struct rt *rt)
{
	if (!rt)
		return;
	rt->up = false;
	rt->ws = mem_deref(rt->ws);
	if (!tmr_isrunning(&rt->retry))
		schedule(rt, NULL);
}

/* ---- client events ----------------------------------------------------- */

int rt_append(struct rt *rt, const int16_t *pcm, size_t n)
{
	/* {"type":"input_audio_buffer.append","audio":"..."} */
	static const char head[] =
	    "{\"type\":\"input_audio_buffer.append\",\"audio\":\"";
	uint8_t ulaw[APPEND_MAX];
	char msg[sizeof(head) + 4 * APPEND_MAX / 3 + 8];

	if (!rt || !rt->up)
		return ENOTCONN;
	while (n) {
		size_t k = n < APPEND_MAX ? n : APPEND_MAX;
		size_t len = sizeof(msg) - (sizeof(head) - 1) - 3;
		int err;

		for (size_t i = 0; i < k; i++)
			ulaw[i] = g711_ulaw_from_linear(pcm[i]);
		memcpy(msg, head, sizeof(head) - 1);
		err = base64_encode(ulaw, k, msg + sizeof(head) - 1, &len);
		if (err)
			return err;
		len += sizeof(head) - 1;
		msg[len++] = '"';
		msg[len++] = '}';
		err = wsc_send(rt->ws, WSC_TEXT, msg, len);
		if (err)
			return err;
		pcm += k;
		n -= k;
	}
	return 0;
}

int rt_commit(struct rt *rt)
{
	return rt ? send_json(rt, json_pack("{s:s}", "type",
	                                    "input_audio_buffer.commit"))
	          : EINVAL;
}

int rt_clear(struct rt *rt)
{
	return rt ? send_json(rt, json_pack("{s:s}", "type",
	                                    "input_audio_buffer.clear"))
	          : EINVAL;
}

int rt_user_text(struct rt *rt, const char *text)
{
	if (!rt || !text)
		return EINVAL;
	return send_json(rt,
	                 json_pack("{s:s,s:{s:s,s:s,s:[{s:s,s:s}]}}", "type",
	                           "conversation.item.create", "item", "type",
	                           "message", "role", "user", "content", "type",
	                           "input_text", "text", text));
}

int rt_history_add(struct rt *rt, bool user, const char *text)
{
	if (!rt || !text)
		return EINVAL;
	return send_json(
	    rt,
	    json_pack("{s:s,s:{s:s,s:s,s:[{s:s,s:s}]}}", "type",
	              "conversation.item.create", "item", "type", "message",
	              "role", user ? "user" : "assistant", "content", "type",
	              user ? "input_text" : "output_text", "text", text));
}

int rt_respond(struct rt *rt, const char *instructions, bool tools_off)
{
	json_t *o, *r = NULL;

	if (!rt)
		return EINVAL;
	o = json_pack("{s:s}", "type", "response.create");
	if (o && (instructions || tools_off)) {
		r = json_object();
		if (r && instructions)
			json_object_set_new(r, "instructions",
			                    json_string(instructions));
		if (r && tools_off)
			json_object_set_new(r, "tool_choice",
			                    json_string("none"));
		if (!r || json_object_set_new(o, "response", r)) {
			json_decref(o);
			o = NULL;
		}
	}
	return send_json(rt, o);
}

int rt_cancel(struct rt *rt, const char *response_id)
{
	char id[32];
	json_t *o;

	if (!rt)
		return EINVAL;
	snprintf(id, sizeof(id), RT_EVID_CANCEL "%u", ++rt->seq);
	o = json_pack("{s:s,s:s}", "type", "response.cancel", "event_id", id);
	if (o && response_id && response_id[0])
		json_object_set_new(o, "response_id", json_string(response_id));
	return send_json(rt, o);
}

int rt_truncate(struct rt *rt, const char *item_id, uint32_t content_index,
                uint32_t audio_end_ms)
{
	char id[32];

	if (!rt || !item_id || !item_id[0])
		return EINVAL;
	snprintf(id, sizeof(id), RT_EVID_TRUNCATE "%u", ++rt->seq);
	return send_json(rt,
	                 json_pack("{s:s,s:s,s:s,s:I,s:I}", "type",
	                           "conversation.item.truncate", "event_id", id,
	                           "item_id", item_id, "content_index",
	                           (json_int_t)content_index, "audio_end_ms",
	                           (json_int_t)audio_end_ms));
}

int rt_call_output(struct rt *rt, const char *call_id, const char *output)
{
	char id[32];

	if (!rt || !call_id || !output)
		return EINVAL;
	snprintf(id, sizeof(id), RT_EVID_OUTPUT "%u", ++rt->seq);
	return send_json(rt,
	                 json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "type",
	                           "conversation.item.create", "event_id", id,
	                           "item", "type", "function_call_output",
	                           "call_id", call_id, "output", output));
}
