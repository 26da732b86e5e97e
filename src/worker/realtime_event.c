/*
 * OpenAI Realtime API server events, read (realtime_event.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "worker/realtime_event.h"

/* A string member into out (cap bytes, cut at a UTF-8 boundary): absent
 * or null leaves it "", another JSON type is refused. */
static int get_str(json_t *o, const char *name, char *out, size_t cap, bool cut)
{
	json_t *v = json_object_get(o, name);
	size_t n;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return EBADMSG;
	n = json_string_length(v);
	if (n >= cap) {
		if (!cut)
			return EBADMSG;
		n = cap - 1;
		/* Back to the start of a character. */
		while (n &&
		       ((unsigned char)json_string_value(v)[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	/* An id or name with a NUL inside is not one. */
	if (!cut && strlen(out) != n)
		return EBADMSG;
	return 0;
}

static int get_u32(json_t *o, const char *name, uint32_t *out)
{
	json_t *v = json_object_get(o, name);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)UINT32_MAX)
		return EBADMSG;
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static bool is(const char *type, const char *a, const char *b)
{
	return !strcmp(type, a) || (b && !strcmp(type, b));
}

static int parse_ids(json_t *root, struct rt_event *ev)
{
	int err =
	    get_str(root, "response_id", ev->response_id, RT_ID_MAX, false);

	if (!err)
		err = get_str(root, "item_id", ev->item_id, RT_ID_MAX, false);
	if (!err)
		err = get_u32(root, "content_index", &ev->content_index);
	return err;
}

static int parse_text(json_t *root, const char *name, struct rt_event *ev)
{
	int err = get_str(root, name, ev->text, sizeof(ev->text), true);

	ev->text_len = strlen(ev->text);
	return err;
}

static int parse_audio(json_t *root, struct rt_event *ev, uint8_t *audio,
                       size_t cap)
{
	json_t *d = json_object_get(root, "delta");
	size_t n, len = 0;
	int err;

	if (!json_is_string(d))
		return EBADMSG;
	n = json_string_length(d);
	if (B64_DECODED_MAX(n) > cap + 2)
		return EMSGSIZE;
	err = b64_decode(json_string_value(d), n, 0, audio, cap, &len);
	if (err == ENOSPC)
		return EMSGSIZE;
	if (err)
		return EBADMSG;
	ev->audio = audio;
	ev->audio_len = len;
	return 0;
}

static int parse_done(json_t *root, struct rt_event *ev)
{
	json_t *r = json_object_get(root, "response"), *d, *e;
	int err;

	if (!json_is_object(r))
		return EBADMSG;
	err = get_str(r, "id", ev->response_id, RT_ID_MAX, false);
	if (!err)
		err =
		    get_str(r, "status", ev->status, sizeof(ev->status), true);
	d = json_object_get(r, "status_details");
	e = json_is_object(d) ? json_object_get(d, "error") : NULL;
	if (!err && json_is_object(e)) {
		err = get_str(e, "code", ev->code, RT_ID_MAX, true);
		if (!err)
			err = get_str(e, "message", ev->message,
			              sizeof(ev->message), true);
		if (!err)
			err = get_str(e, "type", ev->err_type, RT_ID_MAX, true);
	}
	if (!err && !ev->message[0] && json_is_object(d))
		err = get_str(d, "reason", ev->message, sizeof(ev->message),
		              true);
	return err;
}

static int parse_error(json_t *root, struct rt_event *ev)
{
	json_t *e = json_object_get(root, "error");
	int err;

	if (!json_is_object(e))
		return EBADMSG;
	err = get_str(e, "code", ev->code, RT_ID_MAX, true);
	if (!err)
		err = get_str(e, "type", ev->err_type, RT_ID_MAX, true);
	if (!err)
		err = get_str(e, "message", ev->message, sizeof(ev->message),
		              true);
	if (!err)
		err = get_str(e, "event_id", ev->event_id, RT_ID_MAX, true);
	return err;
}

int rt_event_parse(const char *msg, size_t n, struct rt_event *ev,
                   uint8_t *audio, size_t cap)
{
	json_t *root;
	const char *type;
	int err = 0;

	if (!msg || !ev)
		return EINVAL;
	memset(ev, 0, sizeof(*ev));
	if (n > RT_MAX_MESSAGE)
		return EMSGSIZE;
	root = json_loadb(msg, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root) ||
	    !json_is_string(json_object_get(root, "type"))) {
		json_decref(root);
		return EBADMSG;
	}
	type = json_string_value(json_object_get(root, "type"));
	snprintf(ev->type, sizeof(ev->type), "%s", type);
	for (char *p = ev->type; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' ||
		    (unsigned char)*p >= 0x7f)
			*p = '?';
	if (is(type, "session.created", "session.updated") ||
	    is(type, "transcription_session.created",
	       "transcription_session.updated")) {
		ev->kind = RT_EV_SESSION;
	} else if (is(type, "input_audio_buffer.committed", NULL)) {
		ev->kind = RT_EV_COMMITTED;
		err = get_str(root, "item_id", ev->item_id, RT_ID_MAX, false);
	} else if (is(type,
	              "conversation.item.input_audio_transcription.completed",
	              NULL)) {
		ev->kind = RT_EV_HEARD;
		err = get_str(root, "item_id", ev->item_id, RT_ID_MAX, false);
		if (!err)
			err = parse_text(root, "transcript", ev);
	} else if (is(type, "conversation.item.input_audio_transcription.delta",
	              NULL)) {
		ev->kind = RT_EV_HEARD_PART;
		err = get_str(root, "item_id", ev->item_id, RT_ID_MAX, false);
		if (!err)
			err = parse_text(root, "delta", ev);
	} else if (is(type,
	              "conversation.item.input_audio_transcription.failed",
	              NULL)) {
		ev->kind = RT_EV_HEARD_FAILED;
		err = get_str(root, "item_id", ev->item_id, RT_ID_MAX, false);
		if (!err)
			err = parse_error(root, ev);
	} else if (is(type, "response.created", NULL)) {
		json_t *r = json_object_get(root, "response");

		ev->kind = RT_EV_RESPONSE;
		err = json_is_object(r)
		          ? get_str(r, "id", ev->response_id, RT_ID_MAX, false)
		          : EBADMSG;
	} else if (is(type, "response.output_audio.delta",
	              "response.audio.delta")) {
		ev->kind = RT_EV_AUDIO;
		err = parse_ids(root, ev);
		if (!err)
			err = parse_audio(root, ev, audio, audio ? cap : 0);
	} else if (is(type, "response.output_audio_transcript.delta",
	              "response.audio_transcript.delta")) {
		ev->kind = RT_EV_TEXT;
		err = parse_ids(root, ev);
		if (!err)
			err = parse_text(root, "delta", ev);
	} else if (is(type, "response.function_call_arguments.done", NULL)) {
		ev->kind = RT_EV_CALL;
		err = parse_ids(root, ev);
		if (!err)
			err = get_str(root, "call_id", ev->call_id, RT_ID_MAX,
			              false);
		if (!err)
			err = get_str(root, "name", ev->name, RT_ID_MAX, false);
		if (!err)
			err = parse_text(root, "arguments", ev);
	} else if (is(type, "response.done", NULL)) {
		ev->kind = RT_EV_DONE;
		err = parse_done(root, ev);
	} else if (is(type, "error", NULL)) {
		ev->kind = RT_EV_ERROR;
		err = parse_error(root, ev);
	} else if (is(type, "conversation.item.truncated", NULL)) {
		ev->kind = RT_EV_TRUNCATED;
		err = get_str(root, "item_id", ev->item_id, RT_ID_MAX, false);
		if (!err)
			err = get_u32(root, "audio_end_ms", &ev->audio_end_ms);
	} else {
		ev->kind = RT_EV_OTHER;
	}
	json_decref(root);
	if (err) {
		ev->audio = NULL;
		ev->audio_len = 0;
	}
	return err;
}
