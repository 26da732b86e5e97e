/*
 * OpenAI Realtime API server events, read: one parser for both of voxgate's
 * sessions, the speech to speech brain's (realtime.h) and the streaming
 * listener's transcription session (listen_realtime.c). The GA event names
 * are read, and the beta names of the same events where they differ.
 * Every event is bounded: an id over its bound, a field of the wrong JSON
 * type, bad base64 is refused; text is cut at a UTF-8 boundary.
 */
#ifndef VOXGATE_WORKER_REALTIME_EVENT_H
#define VOXGATE_WORKER_REALTIME_EVENT_H

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

enum rt_ev_kind {
	RT_EV_OTHER,        /* an event voxgate does not act on */
	RT_EV_SESSION,      /* session.created / session.updated, and
	                    transcription_session.created / .updated */
	RT_EV_COMMITTED,    /* input_audio_buffer.committed: item_id */
	RT_EV_HEARD,        /* the caller's words: item_id, text (the input
	                    transcription's .completed) */
	RT_EV_HEARD_PART,   /* ... as they come: item_id, text (.delta) */
	RT_EV_HEARD_FAILED, /* ... not transcribed: item_id, code, message,
	                       kind (.failed) */
	RT_EV_RESPONSE,     /* response.created: response_id */
	RT_EV_AUDIO,        /* response_id, item_id, content_index, audio */
	RT_EV_TEXT,         /* the reply's words: response_id, item_id, text */
	RT_EV_CALL,         /* a function call: call_id, name, text (its
	                    arguments), item_id, response_id */
	RT_EV_DONE,         /* response.done: response_id, status, code,
	                    message */
	RT_EV_ERROR,        /* error: code, message, kind (error.type),
	                    event_id (the client event it answers) */
	RT_EV_TRUNCATED,    /* conversation.item.truncated: item_id,
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

#endif
