/*
 * Media Streams messages: the JSON text frames of Twilio's Media Streams
 * WebSocket and of Telnyx's media streaming, both ways. voxgate reads them
 * as the server a carrier streams a call to, and writes them as the
 * carrier when it streams a SIP call to an external bot (a Pipecat bot
 * with its Twilio serializer expects exactly Twilio's frames).
 *
 * Twilio: camelCase, "streamSid" on every frame, numbers as strings,
 * audio/x-mulaw 8000 Hz. Telnyx: snake_case, "stream_id" at the top, the
 * call in start.call_control_id, PCMU or PCMA; frames we send carry no
 * stream id. Wire format: ../shared/specs/carriers.md, T4 and X4.
 *
 * No libre and no jansson types here, so either kind of file can include
 * this header.
 */
#ifndef VOXGATE_MSTREAM_MSTREAM_H
#define VOXGATE_MSTREAM_MSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Media payloads up to 1 s of G.711: what a frame may carry. */
#define MSTREAM_PAYLOAD_MAX 8000
#define MSTREAM_PARAMS_MAX  16

enum mstream_dialect {
	MSTREAM_TWILIO,
	MSTREAM_TELNYX,
};

enum mstream_event {
	MSTREAM_UNKNOWN =
	    0, /* an event name we do not know (name in m->name) */
	MSTREAM_CONNECTED,
	MSTREAM_START,
	MSTREAM_MEDIA,
	MSTREAM_MARK,
	MSTREAM_DTMF,
	MSTREAM_STOP,
	MSTREAM_CLEAR, /* sent to the carrier; read when we are the carrier */
	MSTREAM_ERROR, /* Telnyx's error frames */
};

struct mstream_param {
	char name[64];
	char value[256];
};

/* One frame read. Strings are "" when absent; numbers 0. */
struct mstream_msg {
	enum mstream_event event;
	char name[32];             /* the event name as sent */
	char stream_id[80];        /* streamSid / stream_id */
	char call_id[160];         /* start, stop: callSid / call_control_id */
	char account_id[80];       /* start, stop: accountSid / user_id */
	char from[128], to[128];   /* start: Telnyx's from / to */
	char encoding[16];         /* start: "PCMU", "PCMA" or as sent */
	uint32_t sample_rate;      /* start */
	char track[24];            /* media: "inbound"; dtmf: "inbound_track" */
	uint32_t sequence;         /* sequenceNumber / sequence_number */
	uint32_t chunk, timestamp; /* media */
	uint8_t payload[MSTREAM_PAYLOAD_MAX]; /* media, base64-decoded */
	size_t payload_len;
	char mark[64];   /* mark: its name */
	char digit[4];   /* dtmf */
	char token[256]; /* connected: x-telnyx-streaming-auth-token */
	struct mstream_param params[MSTREAM_PARAMS_MAX]; /* start: custom */
	size_t nparams;
	char why[120]; /* why the frame was refused: mstream_parse's *why */
};

/*
 * Reads one text frame. 0 with *m filled (an unknown event is 0 with
 * MSTREAM_UNKNOWN); EBADMSG when the frame is not a JSON object with a
 * string "event", when a known event lacks what it needs (start without a
 * stream id or call id, media without a base64 payload, mark without a
 * name, dtmf without a digit) or has a field of the wrong type; EMSGSIZE
 * for a payload over MSTREAM_PAYLOAD_MAX; ENOMEM; EINVAL without m or
 * text. On failure *why (when why is not NULL) is a short reason fit for a
 * WebSocket close frame, under 120 bytes, in m->why when m is given:
 * valid as long as m, until the next frame read into it. Custom parameters
 * beyond MSTREAM_PARAMS_MAX are dropped, and so are those whose value is
 * not a string. JSON null reads as absent. An id, a mark name or a token
 * too long for its field is EBADMSG (cut, it would name something else);
 * other text is cut to its field. Twilio's audio/x-mulaw reads as "PCMU".
 */
int mstream_parse(struct mstream_msg *m, enum mstream_dialect d,
                  const char *text, size_t len, const char **why);

/*
 * Frames to write. Each writes a NUL-terminated JSON object into buf and
 * returns its length, or 0 when it does not fit in size (a media frame of
 * n payload bytes needs about 4n/3 + 160) or n is over
 * MSTREAM_PAYLOAD_MAX. Strings are JSON-escaped, a byte that is not UTF-8
 * becomes U+FFFD (a WebSocket text frame must be UTF-8), and a NULL
 * string is written as "".
 */

/* As the stream's server (to the carrier): media to play, a mark to echo
 * once played, clear (barge-in). Telnyx's carry no stream id. */
size_t mstream_media(char *buf, size_t size, enum mstream_dialect d,
                     const char *stream_id, const uint8_t *payload, size_t n);
size_t mstream_mark(char *buf, size_t size, enum mstream_dialect d,
                    const char *stream_id, const char *name);
size_t mstream_clear(char *buf, size_t size, enum mstream_dialect d,
                     const char *stream_id);

/* As the carrier (to an external bot), Twilio's dialect: connected;
 * start with the call's ids, mediaFormat audio/x-mulaw 8000 1, tracks
 * ["inbound"] and customParameters; inbound media with its sequence
 * number, chunk and timestamp (ms since the start); a mark echoed once
 * played; a dtmf digit; stop. */
size_t mstream_connected(char *buf, size_t size);
size_t mstream_start(char *buf, size_t size, const char *stream_id,
                     const char *account_id, const char *call_id,
                     const struct mstream_param *params, size_t nparams,
                     uint32_t sequence);
size_t mstream_media_in(char *buf, size_t size, const char *stream_id,
                        uint32_t sequence, uint32_t chunk, uint32_t timestamp,
                        const uint8_t *payload, size_t n);
size_t mstream_mark_played(char *buf, size_t size, const char *stream_id,
                           const char *name, uint32_t sequence);
size_t mstream_dtmf(char *buf, size_t size, const char *stream_id,
                    const char *digit, uint32_t sequence);
size_t mstream_stop(char *buf, size_t size, const char *stream_id,
                    const char *account_id, const char *call_id,
                    uint32_t sequence);

#endif
