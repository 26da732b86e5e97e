/*
 * OpenAI's Realtime API over its WebSocket, as a call's speech to speech
 * brain (brain: realtime): one socket per call on the loop (net/wsc.h),
 * the GA wire format (session.update with session.type "realtime",
 * response.output_audio.delta...; the beta names of the same events are
 * read too), G.711 mu-law both ways at 8 kHz, so the phone line's audio
 * goes as it is, never resampled.
 *
 * The model's own turn detection is off: voxgate's VAD, echo guard and
 * barge-in decide when the caller spoke and when a reply is cut; this
 * client appends the caller's audio, commits it, asks for responses,
 * cancels and truncates them when told (pipeline_realtime.c tells it).
 *
 * The socket opens at rt_alloc and comes back after any end (a refused
 * key, a drop, a stall the owner gave up on: rt_restart) after a bounded,
 * jittered backoff, until rt is released. Every server event is parsed
 * by rt_event_parse, bounded: a malformed one is logged and skipped.
 */
#ifndef VOXGATE_WORKER_REALTIME_H
#define VOXGATE_WORKER_REALTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of what an event may carry; ids are refused beyond theirs, text
 * is cut (at a UTF-8 boundary). */
#define RT_ID_MAX    64
#define RT_TEXT_MAX  4096
#define RT_MSG_MAX   240
#define RT_AUDIO_MAX (64 * 1024) /* 8 s of mu-law in one delta */
/* The largest server event read: a delta of RT_AUDIO_MAX in base64 and
 * its fields. */
#define RT_MAX_MESSAGE (128 * 1024)
/* Reconnection backoff: from RT_BACKOFF_MIN_MS doubling up to
 * RT_BACKOFF_MAX_MS, each wait drawn in its upper half. */
#define RT_BACKOFF_MIN_MS 250
#define RT_BACKOFF_MAX_MS 8000
/* Nothing from the server for this long (a ping goes at half of it)
 * ends the socket, which is then made again. */
#define RT_IDLE_MS 60000

enum rt_ev_kind {
	RT_EV_OTHER,     /* an event voxgate does not act on */
	RT_EV_SESSION,   /* session.created / session.updated */
	RT_EV_COMMITTED, /* input_audio_buffer.committed: item_id */
	RT_EV_HEARD,     /* the caller's words: item_id, text */
	RT_EV_RESPONSE,  /* response.created: response_id */
	RT_EV_AUDIO,     /* response_id, item_id, content_index, audio */
	RT_EV_TEXT,      /* the reply's words: response_id, item_id, text */
	RT_EV_CALL,      /* a function call: call_id, name, text (its
	                    arguments), item_id, response_id */
	RT_EV_DONE,      /* response.done: response_id, status, code,
	                    message */
	RT_EV_ERROR,     /* error: code, message, kind (error.type),
	                    event_id (the client event it answers) */
	RT_EV_TRUNCATED, /* conversation.item.truncated: item_id,
	                    audio_end_ms */
};

struct rt_event {
	enum rt_ev_kind kind;
	char type[64]; /* the event's type, cut */
	char response_id[RT_ID_MAX], item_id[RT_ID_MAX];
	char call_id[RT_ID_MAX], event_id[RT_ID_MAX];
	char name[RT_ID_MAX];
	char code[RT_ID_MAX];
	char err_type[RT_ID_MAX];
	char status[16];
	uint32_t content_index;
	uint32_t audio_end_ms;
	char message[RT_MSG_MAX];
	char text[RT_TEXT_MAX];
	size_t text_len;
	const uint8_t *audio; /* RT_EV_AUDIO: mu-law bytes in the caller's
	                         buffer */
	size_t audio_len;
};

/*
 * Reads one server event (msg, n bytes of JSON) into *ev, decoding an
 * audio delta's base64 into audio (cap bytes). 0; EBADMSG for what is not
 * a JSON object with a string "type", a field of the wrong JSON type, an
 * id over RT_ID_MAX, bad base64; EMSGSIZE for audio over cap. *ev is
 * zeroed first, so every string in it is NUL-terminated.
 */
int rt_event_parse(const char *msg, size_t n, struct rt_event *ev,
                   uint8_t *audio, size_t cap);

struct rt_prm {
	const char *url; /* the ws(s) endpoint, ?model= included */
	const char *api_key;
	const char *voice;
	const char *instructions; /* NULL or "" = none */
	const char *tools;        /* the session's tools, a JSON array in
	                             the Realtime API's format; NULL = none */
	const char *call_id;      /* the log's; NULL = none */
	uint32_t connect_ms;      /* 0: the socket's default */
};

/* A server event, valid during the call only. */
typedef void(rt_event_h)(const struct rt_event *ev, void *arg);
/* The socket is up (session.update sent) or down: err and why (one line,
 * keys masked) say how it ended; another attempt follows after retry_ms. */
typedef void(rt_state_h)(bool up, int err, const char *why, void *arg);

struct rt;

/* Connects at once; a mem object, whose release closes the socket with
 * no handler called after it. EINVAL, ENOMEM. */
int rt_alloc(struct rt **rtp, const struct rt_prm *prm, rt_event_h *eventh,
             rt_state_h *stateh, void *arg);
/* The socket is open and the session set. */
bool rt_up(const struct rt *rt);
/* Drops the socket now (it stalled) and connects again after the
 * backoff; stateh is not called for this end. */
void rt_restart(struct rt *rt);

/* Client events; each ENOTCONN while the socket is not up, else what
 * wsc_send says. */
/* n samples at 8 kHz, sent as mu-law. */
int rt_append(struct rt *rt, const int16_t *pcm, size_t n);
int rt_commit(struct rt *rt);
int rt_clear(struct rt *rt);
/* A user text message (DTMF keys) added to the conversation. */
int rt_user_text(struct rt *rt, const char *text);
/* A message of the call so far, user's or assistant's, put back into a
 * new session's conversation. */
int rt_history_add(struct rt *rt, bool user, const char *text);
/* instructions: this response's, NULL = the session's; tools_off asks
 * for words only ("tool_choice": "none"). */
int rt_respond(struct rt *rt, const char *instructions, bool tools_off);
/* response_id NULL or "" = the one in progress. */
int rt_cancel(struct rt *rt, const char *response_id);
int rt_truncate(struct rt *rt, const char *item_id, uint32_t content_index,
                uint32_t audio_end_ms);
/* The result of a function call, output a JSON string's content. */
int rt_call_output(struct rt *rt, const char *call_id, const char *output);

/* The event_id prefixes of rt_cancel's and rt_truncate's events: an error
 * answering one of them is about what was already over, not a failure;
 * and of rt_call_output's, whose refusal is the call's, not the reply's. */
#define RT_EVID_CANCEL   "vg_cancel_"
#define RT_EVID_TRUNCATE "vg_truncate_"
#define RT_EVID_OUTPUT   "vg_output_"

#endif
