#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "core/le.h"
#include "core/utf8.h"
#include "proto/proto.h"

/* Which fields each message carries: one table drives both directions. */
enum field {
	F_JOB = 1 << 0,
	F_WORKER = 1 << 1,
	F_UTT = 1 << 2,
	F_MARK = 1 << 3,
	F_FRAME = 1 << 4,
	F_HEARD = 1 << 5,
	F_LATENCY = 1 << 6,
	F_VAD = 1 << 7,
	F_REASON = 1 << 8,
	F_DIGITS = 1 << 9,
	F_CALL = 1 << 10, /* call_id, room, participant, from, to, rate */
	F_REG = 1 << 11,  /* capacity, name, version */
	F_TURN = 1 << 12,
	F_REQUEST = 1 << 13,
	F_TO = 1 << 14,
	F_OK = 1 << 15,
	F_PROVIDERS = 1 << 16, /* stt, brain, tts */
};

static const struct kind {
	enum proto_type type;
	const char *name;
	bool from_server;
	unsigned fields;
} kinds[] = {
    {PROTO_REGISTER, "register", false, F_REG | F_PROVIDERS},
    {PROTO_ACCEPT, "accept", false, F_JOB},
    {PROTO_DECLINE, "decline", false, F_JOB | F_REASON},
    {PROTO_SAY_END, "say_end", false, F_JOB | F_UTT},
    {PROTO_MARK_AFTER, "mark", false, F_JOB | F_UTT | F_MARK},
    {PROTO_CLEAR, "clear", false, F_JOB},
    {PROTO_TURN, "turn", false, F_JOB | F_TURN | F_REASON | F_PROVIDERS},
    {PROTO_HANGUP, "hangup", false, F_JOB | F_REASON},
    {PROTO_TRANSFER, "transfer", false, F_JOB | F_REQUEST | F_TO | F_REASON},
    {PROTO_REGISTERED, "registered", true, F_WORKER},
    {PROTO_JOB, "job", true, F_JOB | F_CALL},
    {PROTO_VAD, "vad", true, F_JOB | F_VAD | F_FRAME},
    {PROTO_SPEAKING, "speaking", true, F_JOB | F_UTT | F_LATENCY},
    {PROTO_MARK_PLAYED, "mark", true, F_JOB | F_UTT | F_MARK},
    {PROTO_PLAYED, "played", true, F_JOB | F_UTT | F_HEARD},
    {PROTO_INTERRUPTED, "interrupted", true,
     F_JOB | F_UTT | F_HEARD | F_LATENCY},
    {PROTO_DTMF, "dtmf", true, F_JOB | F_DIGITS},
    {PROTO_END, "end", true, F_JOB | F_REASON},
    {PROTO_TRANSFER_RESULT, "transfer_result", true,
     F_JOB | F_REQUEST | F_OK | F_REASON},
};

static const char *const vad_names[] = {
    [VAD_EVENT_NONE] = "none",     [VAD_EVENT_ONSET] = "onset",
    [VAD_EVENT_START] = "start",   [VAD_EVENT_CANCEL] = "cancel",
    [VAD_EVENT_STOP] = "stop",     [VAD_EVENT_PAUSE] = "pause",
    [VAD_EVENT_RESUME] = "resume",
};

const char *proto_vad_name(enum vad_event ev)
{
	return (unsigned)ev < sizeof(vad_names) / sizeof(vad_names[0])
	           ? vad_names[ev]
	           : "none";
}

void proto_init(struct proto_msg *m, enum proto_type type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->latency_ms = m->stt_ms = m->llm_ms = m->tts_ms = m->v2v_ms = -1;
}

static const struct kind *kind_of(enum proto_type type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].type == type)
			return &kinds[i];
	}
	return NULL;
}

static void set_u(json_t *o, const char *k, uint32_t v)
{
	json_object_set_new(o, k, json_integer(v));
}

static void set_ms(json_t *o, const char *k, int32_t v)
{
	if (v >= 0)
		json_object_set_new(o, k, json_integer(v));
}

static void set_s(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v));
}

char *proto_encode(const struct proto_msg *m, bool from_server)
{
	const struct kind *k = kind_of(m->type);
	json_t *o;
	char *s;

	if (!k || k->from_server != from_server)
		return NULL;
	o = json_pack("{s:s}", "type", k->name);
	if (!o)
		return NULL;
	if (k->fields & F_JOB)
		set_u(o, "job", m->job);
	if (k->fields & F_WORKER)
		set_u(o, "worker", m->worker);
	if (k->fields & F_UTT)
		set_u(o, "utterance", m->utterance);
	if (k->fields & F_MARK)
		set_u(o, "mark", m->mark);
	if (k->fields & F_FRAME)
		set_u(o, "frame", m->frame);
	if (k->fields & F_HEARD)
		set_u(o, "heard_ms", m->heard_ms);
	if (k->fields & F_LATENCY)
		set_ms(o, "latency_ms", m->latency_ms);
	if (k->fields & F_VAD)
		set_s(o, "event", proto_vad_name(m->vad));
	if (k->fields & F_REASON)
		set_s(o, "reason", m->reason);
	if (k->fields & F_DIGITS)
		set_s(o, "digits", m->digits);
	if (k->fields & F_CALL) {
		set_s(o, "call_id", m->call_id);
		set_s(o, "room", m->room);
		set_s(o, "participant", m->participant);
		set_s(o, "from", m->from);
		set_s(o, "to", m->to);
		set_u(o, "sample_rate", m->sample_rate);
	}
	if (k->fields & F_REG) {
		set_u(o, "capacity", m->capacity);
		set_s(o, "name", m->name);
		set_u(o, "version", m->version);
	}
	if (k->fields & F_PROVIDERS) {
		set_s(o, "stt", m->stt);
		set_s(o, "brain", m->brain);
		set_s(o, "tts", m->tts);
	}
	if (k->fields & F_REQUEST)
		set_u(o, "request", m->request);
	if (k->fields & F_TO)
		set_s(o, "to", m->to);
	if (k->fields & F_OK)
		json_object_set_new(o, "ok", json_boolean(m->ok));
	/* Only when set: a final result reads as it did before. */
	if ((k->fields & F_OK) && m->accepted)
		json_object_set_new(o, "accepted", json_true());
	if (k->fields & F_TURN) {
		set_s(o, "transcript", m->transcript);
		set_s(o, "reply", m->reply);
		if (m->dtmf_keys)
			set_u(o, "dtmf_keys", m->dtmf_keys);
		set_ms(o, "stt_ms", m->stt_ms);
		set_ms(o, "llm_ms", m->llm_ms);
		set_ms(o, "tts_ms", m->tts_ms);
		set_ms(o, "v2v_ms", m->v2v_ms);
		json_object_set_new(o, "interrupted",
		                    json_boolean(m->interrupted));
		if (m->preemptive[0])
			set_s(o, "preemptive", m->preemptive);
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static uint32_t get_u(const json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v < 0 || v > UINT32_MAX ? 0 : (uint32_t)v;
}

static int32_t get_ms(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	json_int_t i = json_integer_value(v);

	return !json_is_integer(v) || i < 0 || i > INT32_MAX ? -1 : (int32_t)i;
}

/* Cut, if it must be, before a character that does not fit whole: the
 * field stays UTF-8 and encodes again. */
static void get_s(const json_t *o, const char *k, char *out, size_t sz)
{
	const char *v = json_string_value(json_object_get(o, k));

	utf8_copy(out, sz, v ? v : "", v ? strlen(v) : 0);
}

static enum vad_event vad_of(const char *name)
{
	for (size_t i = 0; i < sizeof(vad_names) / sizeof(vad_names[0]); i++) {
		if (!strcmp(vad_names[i], name))
			return (enum vad_event)i;
	}
	return VAD_EVENT_NONE;
}

int proto_decode(const char *json, size_t len, bool from_server,
                 struct proto_msg *m)
{
	const struct kind *k = NULL;
	const char *type;
	json_t *o;
	char ev[16];

	proto_init(m, PROTO_UNKNOWN);
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	type = json_string_value(json_object_get(o, "type"));
	if (!json_is_object(o) || !type) {
		json_decref(o);
		return EBADMSG;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].from_server == from_server &&
		    !strcmp(kinds[i].name, type))
			k = &kinds[i];
	}
	if (!k) {
		snprintf(m->name, sizeof(m->name), "%s", type);
		json_decref(o);
		return 0;
	}
	m->type = k->type;
	m->job = get_u(o, "job");
	m->worker = get_u(o, "worker");
	m->utterance = get_u(o, "utterance");
	m->mark = get_u(o, "mark");
	m->frame = get_u(o, "frame");
	m->heard_ms = get_u(o, "heard_ms");
	m->latency_ms = get_ms(o, "latency_ms");
	get_s(o, "event", ev, sizeof(ev));
	m->vad = vad_of(ev);
	get_s(o, "reason", m->reason, sizeof(m->reason));
	get_s(o, "digits", m->digits, sizeof(m->digits));
	get_s(o, "call_id", m->call_id, sizeof(m->call_id));
	get_s(o, "room", m->room, sizeof(m->room));
	get_s(o, "participant", m->participant, sizeof(m->participant));
	get_s(o, "from", m->from, sizeof(m->from));
	get_s(o, "to", m->to, sizeof(m->to));
	m->sample_rate = get_u(o, "sample_rate");
	m->capacity = get_u(o, "capacity");
	get_s(o, "name", m->name, sizeof(m->name));
	m->version = get_u(o, "version");
	get_s(o, "transcript", m->transcript, sizeof(m->transcript));
	get_s(o, "reply", m->reply, sizeof(m->reply));
	m->dtmf_keys = get_u(o, "dtmf_keys");
	m->stt_ms = get_ms(o, "stt_ms");
	m->llm_ms = get_ms(o, "llm_ms");
	m->tts_ms = get_ms(o, "tts_ms");
	m->v2v_ms = get_ms(o, "v2v_ms");
	m->interrupted = json_is_true(json_object_get(o, "interrupted"));
	get_s(o, "preemptive", m->preemptive, sizeof(m->preemptive));
	get_s(o, "stt", m->stt, sizeof(m->stt));
	get_s(o, "brain", m->brain, sizeof(m->brain));
	get_s(o, "tts", m->tts, sizeof(m->tts));
	m->request = get_u(o, "request");
	m->ok = json_is_true(json_object_get(o, "ok"));
	m->accepted = json_is_true(json_object_get(o, "accepted"));
	json_decref(o);
	return 0;
}

size_t proto_audio_encode(uint8_t *buf, size_t size, uint8_t kind, uint32_t job,
                          uint32_t seq, const int16_t *pcm, size_t n)
{
	size_t len = PROTO_AUDIO_HDR + 2 * n;

	if (!buf || len > size || n > PROTO_AUDIO_MAX || (n && !pcm))
		return 0;
	memset(buf, 0, 4);
	buf[0] = kind;
	put_le32(buf + 4, job);
	put_le32(buf + 8, seq);
	for (size_t i = 0; i < n; i++) {
		uint16_t v = (uint16_t)pcm[i];

		buf[PROTO_AUDIO_HDR + 2 * i] = (uint8_t)v;
		buf[PROTO_AUDIO_HDR + 2 * i + 1] = (uint8_t)(v >> 8);
	}
	return len;
}

int proto_audio_decode(const uint8_t *buf, size_t len, uint8_t *kind,
                       uint32_t *job, uint32_t *seq, int16_t *pcm, size_t max,
                       size_t *n)
{
	size_t count;

	if (!buf || len < PROTO_AUDIO_HDR || (len - PROTO_AUDIO_HDR) % 2 ||
	    (buf[0] != PROTO_AUDIO_CALLER && buf[0] != PROTO_AUDIO_AGENT))
		return EBADMSG;
	count = (len - PROTO_AUDIO_HDR) / 2;
	if (count > max)
		return EMSGSIZE;
	*kind = buf[0];
	*job = get_le32(buf + 4);
	*seq = get_le32(buf + 8);
	for (size_t i = 0; i < count; i++)
		pcm[i] =
		    (int16_t)(uint16_t)(buf[PROTO_AUDIO_HDR + 2 * i] |
		                        buf[PROTO_AUDIO_HDR + 2 * i + 1] << 8);
	*n = count;
	return 0;
}
