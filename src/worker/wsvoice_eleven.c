/*
 * ElevenLabs' multi-context WebSocket
 * (/v1/text-to-speech/{voice}/multi-stream-input), as wsvoice.c uses it.
 *
 * ElevenLabs tells the end of audio only per context (isFinal), with no
 * answer to a flush, so each clause is a context of its own: opened with
 * the documented single space, its text sent with flush so that its audio
 * starts at once, then closed, and its isFinal ends the clause. A cancel
 * needs no message and no new socket: the contexts in flight are already
 * closed, and what they still bring is dropped.
 *
 * In:  {audio: base64 | null, isFinal: null | true, contextId,
 *      normalizedAlignment, alignment}, and on trouble
 *      {message, error, code} before the socket is closed.
 */
#include <errno.h>
#include <string.h>

#include "worker/wsvoice_int.h"

int wsvoice_eleven_say(struct wsc *w, const char *ctx, const char *text,
                       size_t len)
{
	int err;

	err = wsvoice_send_json(
	    w, json_pack("{s:s,s:s}", "text", " ", "context_id", ctx));
	/* The text ends with a space, as ElevenLabs asks, so that the
	 * next context's words are not run into it. */
	if (!err)
		err = wsvoice_send_json(
		    w, json_pack("{s:s%+,s:s,s:b}", "text", text, len, " ",
		                 "context_id", ctx, "flush", 1));
	if (!err)
		err = wsvoice_send_json(w, json_pack("{s:s,s:b}", "context_id",
		                                     ctx, "close_context", 1));
	return err;
}

/* Whether an error's words refuse the key. */
static bool refuses_key(const char *s)
{
	static const char *const words[] = {"api key",  "api_key",
	                                    "apikey",   "unauthorized",
	                                    "authoriz", "authentic"};

	if (!s)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasestr(s, words[i]))
			return true;
	}
	return false;
}

void wsvoice_eleven_read(json_t *root, struct wsvoice_msg *m)
{
	json_t *audio = json_object_get(root, "audio");
	json_t *err = json_object_get(root, "error");
	const char *msg = json_string_value(json_object_get(root, "message"));

	wsvoice_read_ctx(root, "contextId", m);
	if (!m->ctx[0] && !m->ctx_bad)
		wsvoice_read_ctx(root, "context_id", m);
	if (json_is_string(audio) && json_string_length(audio)) {
		m->audio = json_string_value(audio);
		m->audio_len = json_string_length(audio);
	}
	m->end = json_is_true(json_object_get(root, "isFinal"));
	if (err && !json_is_null(err)) {
		const char *e = json_string_value(err);

		m->error = true;
		m->auth = refuses_key(e) || refuses_key(msg);
		/* Never an error without a reason: "" says nothing. */
		wsvoice_why(m, e && e[0] ? e : "error", msg ? msg : "");
	}
}
