/*
 * The messages between the server and its agent workers
 * (docs/agent-protocol.md): JSON text frames to and from struct proto_msg,
 * and the binary audio frames. Free of libre and jansson types, so both
 * the server's hub and the worker can use it.
 */
#ifndef VOXGATE_PROTO_PROTO_H
#define VOXGATE_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "speech/vad.h"

#define PROTO_VERSION 1

enum proto_type {
	PROTO_UNKNOWN = 0,
	/* worker → server */
	PROTO_REGISTER,
	PROTO_ACCEPT,
	PROTO_DECLINE,
	PROTO_SAY_END,
	PROTO_MARK_AFTER, /* "mark" sent by the worker */
	PROTO_CLEAR,
	PROTO_TURN,
	PROTO_HANGUP,
	PROTO_TRANSFER,
	/* server → worker */
	PROTO_REGISTERED,
	PROTO_JOB,
	PROTO_VAD,
	PROTO_SPEAKING,
	PROTO_MARK_PLAYED, /* "mark" sent by the server */
	PROTO_PLAYED,
	PROTO_INTERRUPTED,
	PROTO_DTMF,
	PROTO_END,
	PROTO_TRANSFER_RESULT,
};

struct proto_msg {
	enum proto_type type;
	uint32_t job, worker, utterance, mark, frame, heard_ms;
	uint32_t capacity, version, sample_rate;
	int32_t latency_ms; /* -1 = none */
	enum vad_event vad;
	char name[64], reason[160], digits[32];
	/* job; and transfer's target in to */
	char call_id[128], room[256], participant[300], from[256], to[256];
	/* turn; a DTMF turn has no transcript, only how many keys were
	 * pressed (the digits may be a card number: they never leave the
	 * worker's conversation) */
	char transcript[1024], reply[2048];
	uint32_t dtmf_keys;
	int32_t stt_ms, llm_ms, tts_ms, v2v_ms; /* -1 = not measured */
	bool interrupted;
	/* turn: "used" (its reply was asked for before the end of the turn
	 * and said), "discarded" (one was, and dropped), "" = neither */
	char preemptive[12];
	/* register, turn: which provider does each stage, as the worker's
	 * settings name them ("deepgram", "llm", "cartesia") */
	char stt[32], brain[32], tts[32];
	/* transfer, transfer_result: the worker's number for the request,
	 * and whether the call is being transferred; accepted: not the
	 * outcome yet, the far side took the transfer and it rings (a later
	 * transfer_result for the same request gives the outcome). Workers
	 * that predate it read such a result as ok. */
	uint32_t request;
	bool ok, accepted;
};

/* Zeroes m and sets the "not measured" markers. */
void proto_init(struct proto_msg *m, enum proto_type type);

/* m as a JSON object; malloc'd (free it), NULL when out of memory. The
 * server and the worker name two messages "mark": from_server picks. */
char *proto_encode(const struct proto_msg *m, bool from_server);

/* Parses one text frame sent by the other side (from_server: the server
 * sent it). EBADMSG when it is not a JSON object with a string type; an
 * unknown type gives 0 and PROTO_UNKNOWN (the name in m->name). Strings
 * too long for their field are cut; numbers of the wrong type count as
 * missing. */
int proto_decode(const char *json, size_t len, bool from_server,
                 struct proto_msg *m);

const char *proto_vad_name(enum vad_event ev);

/* Binary frames: a 12-byte header, then 16-bit little-endian PCM. */
#define PROTO_AUDIO_HDR    12
#define PROTO_AUDIO_MAX    8000 /* samples in one frame: 1 s */
#define PROTO_AUDIO_CALLER 1
#define PROTO_AUDIO_AGENT  2

/* Writes the frame into buf (at least PROTO_AUDIO_HDR + 2n bytes);
 * returns its length, 0 when it does not fit. seq is the caller frame
 * number or the utterance id. */
size_t proto_audio_encode(uint8_t *buf, size_t size, uint8_t kind, uint32_t job,
                          uint32_t seq, const int16_t *pcm, size_t n);
/* Reads a frame; the samples are copied into pcm (room for max). EBADMSG
 * for a short or odd-length frame or an unknown kind, EMSGSIZE when it
 * holds more than max samples. */
int proto_audio_decode(const uint8_t *buf, size_t len, uint8_t *kind,
                       uint32_t *job, uint32_t *seq, int16_t *pcm, size_t max,
                       size_t *n);

#endif
