/*
 * Cartesia's TTS WebSocket (/tts/websocket), as wsvoice.c uses it.
 *
 * A context per reply: each clause goes as a continuation (continue
 * true), followed by a manual flush (an empty transcript with flush
 * true), whose flush_done marks the end of that clause's audio; the
 * reply's input ends with an empty transcript and continue false. A
 * cancel is {context_id, cancel: true}.
 *
 * In:  {type: "chunk", data: base64, context_id, ...},
 *      {type: "flush_done", flush_id, context_id}, {type: "done"},
 *      {type: "timestamps"}, {type: "error", status_code, error_code,
 *      title, message, error, context_id}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/wsvoice_int.h"

static json_t *request(const struct provider *pv, const char *ctx,
                       const char *text, size_t len, bool more, bool flush)
{
	json_t *j =
	    json_pack("{s:s,s:s%,s:{s:s,s:s},s:{s:s,s:s,s:i},s:s,s:b}",
	              "model_id", pv->model, "transcript", text, len, "voice",
	              "mode", "id", "id", pv->voice, "output_format",
	              "container", "raw", "encoding", "pcm_mulaw",
	              "sample_rate", 8000, "context_id", ctx, "continue", more);

	if (j && flush && json_object_set_new(j, "flush", json_true())) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int wsvoice_cartesia_say(struct wsc *w, const struct provider *pv,
                         const char *ctx, const char *text, size_t len)
{
	char *t;
	int err;

	/* Continuations are joined as written: a space keeps the clauses'
	 * words apart. */
	t = malloc(len + 2);
	if (!t)
		return ENOMEM;
	memcpy(t, text, len);
	t[len] = ' ';
	t[len + 1] = '\0';
	err = wsvoice_send_json(w, request(pv, ctx, t, len + 1, true, false));
	free(t);
	if (!err)
		err = wsvoice_send_json(w, request(pv, ctx, "", 0, true, true));
	return err;
}

int wsvoice_cartesia_end(struct wsc *w, const struct provider *pv,
                         const char *ctx)
{
	return wsvoice_send_json(w, request(pv, ctx, "", 0, false, false));
}

int wsvoice_cartesia_cancel(struct wsc *w, const char *ctx)
{
	return wsvoice_send_json(
	    w, json_pack("{s:s,s:b}", "context_id", ctx, "cancel", 1));
}

void wsvoice_cartesia_read(json_t *root, struct wsvoice_msg *m)
{
	const char *type = json_string_value(json_object_get(root, "type"));
	json_t *st = json_object_get(root, "status_code");

	wsvoice_read_ctx(root, "context_id", m);
	if (json_is_integer(st) && json_integer_value(st) > 0 &&
	    json_integer_value(st) < 1000)
		m->status = (uint16_t)json_integer_value(st);
	if (!type)
		return;
	if (!strcmp(type, "chunk")) {
		json_t *d = json_object_get(root, "data");

		if (json_is_string(d) && json_string_length(d)) {
			m->audio = json_string_value(d);
			m->audio_len = json_string_length(d);
		}
	} else if (!strcmp(type, "flush_done")) {
		m->end = true;
	} else if (!strcmp(type, "done")) {
		m->done = true;
	} else if (!strcmp(type, "error")) {
		const char *msg =
		    json_string_value(json_object_get(root, "message"));
		const char *code =
		    json_string_value(json_object_get(root, "error_code"));
		char pre[64];

		if (!msg)
			msg = json_string_value(json_object_get(root, "error"));
		if (!msg)
			msg = json_string_value(json_object_get(root, "title"));
		m->error = true;
		m->auth = m->status == 401 || m->status == 403;
		snprintf(pre, sizeof(pre), "%u %s", m->status,
		         code ? code : "error");
		wsvoice_why(m, pre, msg ? msg : "");
	}
}
