/*
 * OpenAI's Realtime transcription (listen_ws.h), in the GA interface that
 * api.openai.com serves (the beta one, with its OpenAI-Beta header and
 * transcription_session.update, is being retired):
 * wss://{stt_url}/realtime?intent=transcription, "Authorization: Bearer
 * <key>", then
 *
 *   session.update {session: {type: "transcription", audio: {input: {
 *     format: {type: "audio/pcmu"}, transcription: {model, language},
 *     turn_detection: null}}}}
 *
 * so that the caller's mu-law goes as it is (base64 in
 * input_audio_buffer.append) and voxgate's VAD decides the turn: its end
 * is an input_audio_buffer.commit, whose item id comes back in
 * input_audio_buffer.committed; the item's
 * conversation.item.input_audio_transcription.delta events are partials,
 * .completed its final, .failed its error. A commit the service refuses
 * comes back as an error naming the commit's event_id (vg_commit_<utt>).
 * A wrong key is taken with the upgrade, then refused in an error event
 * (invalid_api_key) and a close. The events are read by the brain's
 * parser (realtime_event.h): one reading of the Realtime API.
 *
 * An early end (the caller paused) is a commit like any other: each
 * commit is an item of its own, transcribed on its own, so the turn's
 * parts are items in a row, the audio appended once. A part that goes on
 * from one whose transcript is not in yet waits for it (the items may
 * complete out of order); a pause the turn ended in, appended after the
 * last commit, is cleared (input_audio_buffer.clear).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include <re_base64.h>

#include "core/log.h"
#include "core/utf8.h"
#include "net/url.h"
#include "worker/listen_ws.h"
#include "worker/realtime_event.h"

#define COMMIT_ID "vg_commit_"

static int rt_url(char **urlp, const struct provider *pv, const char **why)
{
	const struct url_param qv[] = {{"intent", "transcription"}};

	return url_endpoint(urlp, pv->url, "realtime", true, qv, 1, why);
}

static void rt_opened(struct lws *l)
{
	json_t *tr = json_pack("{s:s}", "model", l->pv->model);
	json_t *msg;
	char *s = NULL;

	if (tr && l->pv->language && l->pv->language[0])
		json_object_set_new(tr, "language",
		                    json_string(l->pv->language));
	msg =
	    tr ? json_pack("{s:s, s:{s:s, s:{s:{s:{s:s}, s:o, s:n}}}}", "type",
	                   "session.update", "session", "type", "transcription",
	                   "audio", "input", "format", "type", "audio/pcmu",
	                   "transcription", tr, "turn_detection")
	       : NULL;
	if (msg)
		s = json_dumps(msg, JSON_COMPACT);
	if (!s || lws_send_text(l, s, strlen(s)))
		lws_restart(l, ENOMEM, 0, "cannot set the session up");
	free(s);
	json_decref(msg);
}

static int rt_audio(struct lws *l, const uint8_t *ulaw, size_t n)
{
	static const char head[] = "{\"type\":\"input_audio_buffer.append\","
	                           "\"audio\":\"";
	size_t hl = sizeof(head) - 1, bl = sizeof(l->out) - hl - 3;
	int err;

	memcpy(l->out, head, hl);
	err = base64_encode(ulaw, n, l->out + hl, &bl);
	if (err)
		return err;
	memcpy(l->out + hl + bl, "\"}", 2);
	return lws_send_text(l, l->out, hl + bl + 2);
}

static int rt_end(struct lws *l, struct lws_utt *u)
{
	int k = snprintf(l->out, sizeof(l->out),
	                 "{\"type\":\"input_audio_buffer.commit\","
	                 "\"event_id\":\"" COMMIT_ID "%u\"}",
	                 u->utt);

	return lws_send_text(l, l->out, (size_t)k);
}

static int rt_drop(struct lws *l)
{
	static const char clear[] = "{\"type\":\"input_audio_buffer.clear\"}";

	(void)lws_send_text(l, clear, sizeof(clear) - 1);
	return 0;
}

static struct lws_utt *by_item(struct lws *l, const char *id)
{
	if (!id[0])
		return NULL;
	for (size_t i = 0; i < l->nwait; i++)
		if (!strcmp(l->wait[i].id, id))
			return &l->wait[i];
	return NULL;
}

static void rt_error(struct lws *l, struct rt_event *m)
{
	char why[PROVIDER_WHY_MAX], q[PROVIDER_WHY_MAX + 16];
	size_t cl = strlen(COMMIT_ID);

	/* no code: the error's type stands for it */
	if (!m->code[0])
		snprintf(m->code, sizeof(m->code), "%s", m->err_type);
	snprintf(why, sizeof(why), "%.60s%s%.170s", m->code,
	         m->code[0] ? ": " : "", m->message);
	provider_mask(why, l->pv->api_key);
	if (!strncmp(m->event_id, COMMIT_ID, cl)) {
		unsigned long utt = strtoul(m->event_id + cl, NULL, 10);

		for (size_t i = 0; i < l->nwait; i++) {
			struct lws_utt *u = &l->wait[i];

			if (u->utt != utt || !u->sent || u->id[0])
				continue;
			/* less than 100 ms heard: nothing said */
			if (!strcmp(m->code,
			            "input_audio_buffer_commit_empty")) {
				u->len = 0;
				u->text[0] = '\0';
				lws_resolve(l, u);
			} else {
				lws_fail(l, u, EPROTO, why);
			}
			return;
		}
	}
	log_event(LOGL_WARN, l->call_id[0] ? l->call_id : NULL, "stt_message",
	          "provider=%s error=\"%s\"", l->ops->name,
	          log_quote(q, sizeof(q), why));
	if (!strcmp(m->code, "invalid_api_key") ||
	    !strcmp(m->code, "authentication_error")) {
		lws_restart(l, EACCES, 401, why);
	}
}

static void rt_msg(struct lws *l, const char *p, size_t n)
{
	struct lws_utt *u;
	struct rt_event m;

	/* A transcription session sends no audio: none is taken. */
	if (rt_event_parse(p, n, &m, NULL, 0)) {
		log_event(LOGL_WARN, l->call_id[0] ? l->call_id : NULL,
		          "stt_message",
		          "provider=%s bytes=%zu error=\"not a message\"",
		          l->ops->name, n);
		return;
	}
	/* Words past what a turn holds are cut, on a character. */
	if (m.text_len >= LWS_TEXT_MAX)
		m.text[utf8_trim(m.text, LWS_TEXT_MAX - 1)] = '\0';
	switch (m.kind) {
	case RT_EV_SESSION:
		lws_healthy(l);
		break;
	case RT_EV_COMMITTED:
		for (size_t i = 0; i < l->nwait; i++) {
			if (l->wait[i].sent && !l->wait[i].id[0]) {
				snprintf(l->wait[i].id, sizeof(l->wait[i].id),
				         "%s", m.item_id);
				break;
			}
		}
		break;
	case RT_EV_HEARD_PART:
		u = by_item(l, m.item_id);
		if (u) {
			/* the deltas carry their own spaces, but for the
			 * first after the turn's earlier parts */
			size_t k = strlen(m.text);

			if (u->len && u->len == u->pre_len &&
			    u->len + 1 < sizeof(u->text) && m.text[0] != ' ') {
				u->text[u->len++] = ' ';
				u->text[u->len] = '\0';
			}

			if (u->len + k >= sizeof(u->text))
				k = utf8_trim(m.text,
				              sizeof(u->text) - 1 - u->len);
			memcpy(u->text + u->len, m.text, k);
			u->len += k;
			u->text[u->len] = '\0';
			if (l->h.partialh && !l->released)
				l->h.partialh(u->utt, u->text, l->arg);
		}
		break;
	case RT_EV_HEARD:
		u = by_item(l, m.item_id);
		if (u) {
			/* the turn's earlier parts stay ahead of it */
			u->len = u->pre_len < u->len ? u->pre_len : u->len;
			u->text[u->len] = '\0';
			lws_append(u->text, &u->len, m.text);
			lws_resolve(l, u);
		}
		break;
	case RT_EV_HEARD_FAILED:
		u = by_item(l, m.item_id);
		if (u) {
			char why[PROVIDER_WHY_MAX];

			snprintf(why, sizeof(why),
			         "transcription failed: %.200s", m.message);
			lws_fail(l, u, EPROTO, why);
		}
		break;
	case RT_EV_ERROR:
		rt_error(l, &m);
		break;
	default:
		break;
	}
}

const struct lws_ops lws_realtime = {
    .name = "openai-realtime",
    .url = rt_url,
    .auth = "Bearer",
    .opened = rt_opened,
    .audio = rt_audio,
    .end = rt_end,
    .drop = rt_drop,
    .rest = rt_drop,
    .msg = rt_msg,
};
