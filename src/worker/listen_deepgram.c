/*
 * Deepgram's live speech to text (listen_ws.h): wss://{stt_url}/v1/listen,
 * "Authorization: Token <key>", the caller's audio as binary mu-law
 * frames at 8 kHz.
 *
 * voxgate's VAD decides the turn: at its end a {"type":"Finalize"} flushes
 * what Deepgram still holds, and the turn's final is every is_final
 * segment of its audio, closed by the result marked from_finalize.
 * Deepgram's own endpointing is set longer than the VAD's stop, so that it
 * rarely ends a segment ahead of the VAD; when it has (final segments of
 * the turn came, nothing interim is outstanding) Deepgram may not answer
 * the Finalize at all, and the turn settles LWS_DG_SETTLE_MS later with what
 * it has. Results are told to utterances by the stream's clock: each ended
 * utterance knows how much audio the socket had carried at its end, and
 * a result belongs to the first whose end it does not pass.
 *
 * An early end (the caller paused) is a Finalize like any other: Deepgram
 * makes a segment boundary there, and the audio after it (the pause, and
 * the words should the caller go on) is new segments on the same stream,
 * heard once. A result that ends inside a pause the turn ended in belongs
 * to no turn (listen_ws.h).
 *
 * Deepgram closes a stream that gets neither audio nor a message for 10 s:
 * between turns a {"type":"KeepAlive"} goes every DG_KEEPALIVE_MS, and
 * {"type":"CloseStream"} says goodbye when the call ends.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/log.h"
#include "core/utf8.h"
#include "net/url.h"
#include "worker/listen_ws.h"

#define DG_KEEPALIVE_MS 3000
/* Seconds a result's end may pass an utterance's and still be its. */
#define DG_TOL 0.05
/* Longer than the VAD's stop (vad_stop_secs, 0.25 s by default) and the
 * pause that ends a turn early: Deepgram's endpoint is a backstop. */
#define DG_ENDPOINTING_MS "800"
/* The least Deepgram takes; voxgate does not wait for UtteranceEnd. */
#define DG_UTTERANCE_END_MS "1000"

static void copy_str(char *dst, size_t size, json_t *v)
{
	if (json_is_string(v))
		(void)utf8_copy(dst, size, json_string_value(v),
		                json_string_length(v));
	else
		dst[0] = '\0';
}

static double seconds(json_t *v)
{
	double d = json_is_number(v) ? json_number_value(v) : 0;

	return isfinite(d) && d >= 0 && d <= 1e7 ? d : 0;
}

int dg_parse(const char *p, size_t n, struct dg_msg *m)
{
	json_t *root, *t;
	const char *type;

	memset(m, 0, sizeof(*m));
	if (!p || n > LWS_MSG_MAX)
		return EMSGSIZE;
	root = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	t = json_object_get(root, "type");
	if (!json_is_object(root) || !json_is_string(t)) {
		json_decref(root);
		return EBADMSG;
	}
	type = json_string_value(t);
	if (!strcmp(type, "Results")) {
		json_t *alt = json_array_get(
		    json_object_get(json_object_get(root, "channel"),
		                    "alternatives"),
		    0);

		m->type = DG_RESULTS;
		m->is_final = json_is_true(json_object_get(root, "is_final"));
		m->speech_final =
		    json_is_true(json_object_get(root, "speech_final"));
		m->from_finalize =
		    json_is_true(json_object_get(root, "from_finalize"));
		m->start = seconds(json_object_get(root, "start"));
		m->duration = seconds(json_object_get(root, "duration"));
		copy_str(m->text, sizeof(m->text),
		         json_object_get(alt, "transcript"));
	} else if (!strcmp(type, "Metadata")) {
		m->type = DG_METADATA;
	} else if (!strcmp(type, "UtteranceEnd")) {
		m->type = DG_UTTERANCE_END;
	} else if (!strcmp(type, "SpeechStarted")) {
		m->type = DG_SPEECH_STARTED;
	} else if (!strcmp(type, "Error")) {
		json_t *d = json_object_get(root, "description");

		m->type = DG_ERROR;
		copy_str(m->error, sizeof(m->error),
		         json_is_string(d) ? d
		                           : json_object_get(root, "message"));
	}
	json_decref(root);
	return 0;
}

static int dg_url(char **urlp, const struct provider *pv, const char **why)
{
	const struct url_param qv[] = {
	    {"model", pv->model},
	    {"language", pv->language && pv->language[0] ? pv->language : NULL},
	    {"encoding", "mulaw"},
	    {"sample_rate", "8000"},
	    {"channels", "1"},
	    {"interim_results", "true"},
	    {"punctuate", "true"},
	    {"endpointing", DG_ENDPOINTING_MS},
	    {"utterance_end_ms", DG_UTTERANCE_END_MS},
	};

	return url_endpoint(urlp, pv->url, "v1/listen", true, qv,
	                    sizeof(qv) / sizeof(qv[0]), why);
}

static int dg_text(struct lws *l, const char *s)
{
	return lws_send_text(l, s, strlen(s));
}

static int dg_audio(struct lws *l, const uint8_t *ulaw, size_t n)
{
	return lws_send_binary(l, ulaw, n);
}

static void settle_h(void *arg)
{
	struct lws *l = arg;

	for (size_t i = l->nwait; i-- > 0;) {
		if (!l->wait[i].sent)
			continue;
		l->done_until = l->wait[i].audio_end;
		lws_resolve(l, &l->wait[i]);
		return;
	}
}

/* The last utterance sent settles when Deepgram has already made final
 * segments of it and has no words interim: a stream that said nothing of
 * it waits for the Finalize's answer, or stt_timeout (a stalled stream
 * is not silence). */
static void settle(struct lws *l)
{
	const struct lws_utt *last = NULL;

	for (size_t i = 0; i < l->nwait; i++)
		if (l->wait[i].sent)
			last = &l->wait[i];
	if (last && last->segs && !l->dg_interim)
		tmr_start(&l->tmr_settle, LWS_DG_SETTLE_MS, settle_h, l);
	else
		tmr_cancel(&l->tmr_settle);
}

static int dg_end(struct lws *l, struct lws_utt *u)
{
	int err = dg_text(l, "{\"type\":\"Finalize\"}");

	(void)u;
	if (!err)
		settle(l);
	return err;
}

static int dg_drop(struct lws *l)
{
	return dg_text(l, "{\"type\":\"Finalize\"}") ? 0 : 1;
}

static int dg_keepalive(struct lws *l)
{
	return dg_text(l, "{\"type\":\"KeepAlive\"}");
}

static int dg_bye(struct lws *l)
{
	return dg_text(l, "{\"type\":\"CloseStream\"}");
}

static void dg_opened(struct lws *l)
{
	/* Deepgram says nothing until it has audio: the upgrade is its
	 * word that the key is good. */
	l->dg_interim = false;
	lws_healthy(l);
}

static void dg_results(struct lws *l, const struct dg_msg *m)
{
	double e = m->start + m->duration;
	struct lws_utt *u = NULL;

	if (l->done_until > 0 && e <= l->done_until + DG_TOL)
		return; /* a turn already told (or dropped) */
	if (e > l->skip_from + DG_TOL && e <= l->skip_to + DG_TOL)
		return; /* the pause a turn ended in, after its early end */
	if (!m->is_final) {
		size_t len = 0;

		l->dg_interim = true;
		tmr_cancel(&l->tmr_settle);
		/* a turn already ended has no partials to tell */
		for (size_t i = 0; i < l->nwait; i++)
			if (l->wait[i].sent &&
			    e <= l->wait[i].audio_end + DG_TOL)
				return;
		l->partial[0] = '\0';
		lws_append(l->partial, &len, l->open_text);
		lws_append(l->partial, &len, m->text);
		lws_partial(l, l->partial);
		return;
	}
	l->dg_interim = false;
	for (size_t i = 0; i < l->nwait; i++) {
		if (l->wait[i].sent && e <= l->wait[i].audio_end + DG_TOL) {
			u = &l->wait[i];
			break;
		}
	}
	/* Finalizes are answered in order: one its time does not place
	 * answers the first still waiting. */
	for (size_t i = 0; !u && m->from_finalize && i < l->nwait; i++)
		if (l->wait[i].sent)
			u = &l->wait[i];
	if (u) {
		lws_append(u->text, &u->len, m->text);
		u->segs++;
	} else if (l->open_utt && !l->open_broken) {
		lws_append(l->open_text, &l->open_len, m->text);
		l->open_segs++;
	}
	if (u && m->from_finalize) {
		tmr_cancel(&l->tmr_settle);
		l->done_until = u->audio_end;
		lws_resolve(l, u);
		return;
	}
	settle(l);
}

static void dg_msg(struct lws *l, const char *p, size_t n)
{
	struct dg_msg m;

	if (dg_parse(p, n, &m)) {
		log_event(LOGL_WARN, l->call_id[0] ? l->call_id : NULL,
		          "stt_message",
		          "provider=%s bytes=%zu error=\"not a message\"",
		          l->ops->name, n);
		return;
	}
	if (m.type == DG_RESULTS) {
		dg_results(l, &m);
	} else if (m.type == DG_ERROR) {
		char q[PROVIDER_WHY_MAX + 16];

		provider_mask(m.error, l->pv->api_key);
		log_event(LOGL_WARN, l->call_id[0] ? l->call_id : NULL,
		          "stt_message", "provider=%s error=\"%s\"",
		          l->ops->name, log_quote(q, sizeof(q), m.error));
		lws_restart(l, EPROTO, 0, m.error);
	}
}

const struct lws_ops lws_deepgram = {
    .name = "deepgram",
    .url = dg_url,
    .auth = "Token",
    .keepalive_ms = DG_KEEPALIVE_MS,
    .ordered = true,
    .opened = dg_opened,
    .audio = dg_audio,
    .end = dg_end,
    .drop = dg_drop,
    .keepalive = dg_keepalive,
    .msg = dg_msg,
    .bye = dg_bye,
};
