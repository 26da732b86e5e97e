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
 * by rt_event_parse (realtime_event.h), bounded: a malformed one is
 * logged and skipped.
 */
#ifndef VOXGATE_WORKER_REALTIME_H
#define VOXGATE_WORKER_REALTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/realtime_event.h"

/* Reconnection backoff: from RT_BACKOFF_MIN_MS doubling up to
 * RT_BACKOFF_MAX_MS, each wait drawn in its upper half. */
#define RT_BACKOFF_MIN_MS 250
#define RT_BACKOFF_MAX_MS 8000
/* Nothing from the server for this long (a ping goes at half of it)
 * ends the socket, which is then made again. */
#define RT_IDLE_MS 60000

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
