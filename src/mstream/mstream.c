/*
 * Media Streams frames on jansson (reading) and OpenSSL (base64).
 *
 * DESIGN
 *
 * The two dialects carry the same events and differ in key names, so one
 * reader walks both with a table of the keys that differ; where a dialect
 * lacks a key (Twilio's start.streamSid has no Telnyx twin) the lookup
 * simply finds nothing. Event names map the same way in both dialects:
 * "clear" only ever comes from a bot and "error" only from Telnyx, and
 * accepting either from the other costs nothing.
 *
 * A value that identifies something (stream id, call id, account id, mark
 * name, auth token) is refused when it does not fit its field: cut, it
 * would name another stream or call, echo back a mark the sender never
 * set, or compare equal to a token it is not. Free text (from, to, custom
 * parameters, track, encoding) is cut at a character boundary instead.
 * JSON null reads as absent, since senders use it for "no value".
 *
 * The payload is padded base64, read strictly (core/b64.h).
 *
 * The writers run once per 20 ms per call and per direction, so they
 * never allocate: they append to the caller's buffer and only remember
 * that something did not fit. Strings are escaped for JSON and made valid
 * UTF-8 (a bad byte becomes U+FFFD), because a peer must close a
 * WebSocket whose text frame is not UTF-8, and custom parameters come
 * from SIP headers that may carry anything.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "core/b64.h"
#include "core/utf8.h"
#include "mstream/mstream.h"

#define TELNYX_TOKEN_KEY "x-telnyx-streaming-auth-token"

/* Keys that differ between the dialects. */
struct keys {
	const char *stream;
	const char *sequence;
	const char *call;
	const char *account;
	const char *format;
	const char *sample_rate;
	const char *params;
};

static const struct keys twilio_keys = {
    .stream = "streamSid",
    .sequence = "sequenceNumber",
    .call = "callSid",
    .account = "accountSid",
    .format = "mediaFormat",
    .sample_rate = "sampleRate",
    .params = "customParameters",
};

/* Telnyx names no account; its user_id is the nearest thing. */
static const struct keys telnyx_keys = {
    .stream = "stream_id",
    .sequence = "sequence_number",
    .call = "call_control_id",
    .account = "user_id",
    .format = "media_format",
    .sample_rate = "sample_rate",
    .params = "custom_parameters",
};

static const char *const event_names[] = {
    [MSTREAM_CONNECTED] = "connected", [MSTREAM_START] = "start",
    [MSTREAM_MEDIA] = "media",         [MSTREAM_MARK] = "mark",
    [MSTREAM_DTMF] = "dtmf",           [MSTREAM_STOP] = "stop",
    [MSTREAM_CLEAR] = "clear",         [MSTREAM_ERROR] = "error",
};

struct reader {
	struct mstream_msg *m;
	const struct keys *k;
};

/* The reason, "<member> <problem>", is put together in the message being
 * read, which each socket has its own of. */
static int fail(struct reader *r, int err, const char *key, const char *what)
{
	snprintf(r->m->why, sizeof(r->m->why), "%s%s%s", key, key[0] ? " " : "",
	         what);
	return err;
}

/* obj's member key, NULL when absent or null (obj itself may be NULL). */
static json_t *member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* *out is obj's member key when an object, NULL when absent. */
static int get_obj(struct reader *r, json_t *obj, const char *key, json_t **out)
{
	json_t *v = member(obj, key);

	if (v && !json_is_object(v))
		return fail(r, EBADMSG, key, "not an object");
	*out = v;
	return 0;
}

/* A string member into a field, left "" when absent. Whole: refused
 * rather than cut when it does not fit. */
static int get_str(struct reader *r, json_t *obj, const char *key, char *dst,
                   size_t size, bool whole)
{
	json_t *v = member(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(r, EBADMSG, key, "not a string");
	if (whole && json_string_length(v) >= size)
		return fail(r, EBADMSG, key, "too long");
	utf8_copy(dst, size, json_string_value(v), json_string_length(v));
	return 0;
}

/* Twilio writes its numbers as strings of digits; a JSON number is taken
 * too, and absence is 0. */
static int get_u32(struct reader *r, json_t *obj, const char *key,
                   uint32_t *out)
{
	json_t *v = member(obj, key);
	const char *s;
	uint64_t n = 0;
	size_t i, len;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x < 0 || (uint64_t)x > UINT32_MAX)
			return fail(r, EBADMSG, key, "out of range");
		*out = (uint32_t)x;
		return 0;
	}
	if (!json_is_string(v))
		return fail(r, EBADMSG, key, "not a number");
	s = json_string_value(v);
	len = json_string_length(v);
	/* Ten digits hold any uint32_t and cannot overflow n. */
	if (len == 0 || len > 10)
		return fail(r, EBADMSG, key, "not a number");
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(r, EBADMSG, key, "not a number");
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (n > UINT32_MAX)
		return fail(r, EBADMSG, key, "out of range");
	*out = (uint32_t)n;
	return 0;
}

/* Padded base64 (n chars) into m->payload. */
static int payload_decode(struct reader *r, const char *s, size_t n)
{
	struct mstream_msg *m = r->m;
	size_t len = 0;
	int err = b64_decode(s, n, B64_PAD_REQUIRED, m->payload,
	                     sizeof(m->payload), &len);

	if (err == ENOSPC)
		return fail(r, EMSGSIZE, "payload", "too large");
	if (err)
		return fail(r, EBADMSG, "payload", "not base64");
	m->payload_len = len;
	return 0;
}

static int read_params(struct reader *r, json_t *start)
{
	struct mstream_msg *m = r->m;
	json_t *obj, *v;
	const char *name;
	int err;

	err = get_obj(r, start, r->k->params, &obj);
	if (err || !obj)
		return err;
	json_object_foreach(obj, name, v)
	{
		struct mstream_param *p;

		if (m->nparams == MSTREAM_PARAMS_MAX)
			break;
		if (!json_is_string(v))
			continue;
		p = &m->params[m->nparams];
		utf8_copy(p->name, sizeof(p->name), name, strlen(name));
		utf8_copy(p->value, sizeof(p->value), json_string_value(v),
		          json_string_length(v));
		m->nparams++;
	}
	return 0;
}

static int read_start(struct reader *r, json_t *root)
{
	struct mstream_msg *m = r->m;
	json_t *start, *format;
	int err;

	err = get_obj(r, root, "start", &start);
	if (!err && !m->stream_id[0])
		err = get_str(r, start, r->k->stream, m->stream_id,
		              sizeof(m->stream_id), true);
	if (!err)
		err = get_str(r, start, r->k->call, m->call_id,
		              sizeof(m->call_id), true);
	if (!err)
		err = get_str(r, start, r->k->account, m->account_id,
		              sizeof(m->account_id), true);
	if (!err)
		err =
		    get_str(r, start, "from", m->from, sizeof(m->from), false);
	if (!err)
		err = get_str(r, start, "to", m->to, sizeof(m->to), false);
	if (!err)
		err = get_obj(r, start, r->k->format, &format);
	if (!err)
		err = get_str(r, format, "encoding", m->encoding,
		              sizeof(m->encoding), false);
	if (!err)
		err = get_u32(r, format, r->k->sample_rate, &m->sample_rate);
	if (!err)
		err = read_params(r, start);
	if (err)
		return err;
	if (!m->stream_id[0])
		return fail(r, EBADMSG, "", "start without a stream id");
	if (!m->call_id[0])
		return fail(r, EBADMSG, "", "start without a call id");
	/* Both dialects name the codec alike from here on. */
	if (strcmp(m->encoding, "audio/x-mulaw") == 0)
		strcpy(m->encoding, "PCMU");
	return 0;
}

static int read_media(struct reader *r, json_t *root)
{
	struct mstream_msg *m = r->m;
	json_t *media, *payload;
	int err;

	err = get_obj(r, root, "media", &media);
	if (!err)
		err = get_str(r, media, "track", m->track, sizeof(m->track),
		              false);
	if (!err)
		err = get_u32(r, media, "chunk", &m->chunk);
	if (!err)
		err = get_u32(r, media, "timestamp", &m->timestamp);
	if (err)
		return err;
	payload = member(media, "payload");
	if (!payload)
		return fail(r, EBADMSG, "", "media without payload");
	if (!json_is_string(payload))
		return fail(r, EBADMSG, "payload", "not a string");
	return payload_decode(r, json_string_value(payload),
	                      json_string_length(payload));
}

static int read_mark(struct reader *r, json_t *root)
{
	struct mstream_msg *m = r->m;
	json_t *mark;
	int err;

	err = get_obj(r, root, "mark", &mark);
	if (!err)
		err = get_str(r, mark, "name", m->mark, sizeof(m->mark), true);
	if (!err && !m->mark[0])
		err = fail(r, EBADMSG, "", "mark without name");
	return err;
}

static int read_dtmf(struct reader *r, json_t *root)
{
	struct mstream_msg *m = r->m;
	json_t *dtmf;
	int err;

	err = get_obj(r, root, "dtmf", &dtmf);
	if (!err)
		err = get_str(r, dtmf, "track", m->track, sizeof(m->track),
		              false);
	if (!err)
		err = get_str(r, dtmf, "digit", m->digit, sizeof(m->digit),
		              false);
	if (!err && !m->digit[0])
		err = fail(r, EBADMSG, "", "dtmf without digit");
	return err;
}

static int read_stop(struct reader *r, json_t *root)
{
	struct mstream_msg *m = r->m;
	json_t *stop;
	int err;

	err = get_obj(r, root, "stop", &stop);
	if (!err)
		err = get_str(r, stop, r->k->call, m->call_id,
		              sizeof(m->call_id), true);
	if (!err)
		err = get_str(r, stop, r->k->account, m->account_id,
		              sizeof(m->account_id), true);
	return err;
}

static enum mstream_event event_of(const char *name)
{
	size_t i;

	for (i = 1; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
		if (strcmp(name, event_names[i]) == 0)
			return (enum mstream_event)i;
	}
	return MSTREAM_UNKNOWN;
}

static int read_frame(struct reader *r, json_t *root)
{
	struct mstream_msg *m = r->m;
	json_t *ev;
	int err;

	if (!json_is_object(root))
		return fail(r, EBADMSG, "", "not a JSON object");
	ev = json_object_get(root, "event");
	if (!ev)
		return fail(r, EBADMSG, "", "no event");
	if (!json_is_string(ev))
		return fail(r, EBADMSG, "event", "not a string");
	m->event = event_of(json_string_value(ev));
	utf8_copy(m->name, sizeof(m->name), json_string_value(ev),
	          json_string_length(ev));
	err = get_str(r, root, r->k->stream, m->stream_id, sizeof(m->stream_id),
	              true);
	if (!err)
		err = get_u32(r, root, r->k->sequence, &m->sequence);
	if (err)
		return err;
	switch (m->event) {
	case MSTREAM_CONNECTED:
		return get_str(r, root, TELNYX_TOKEN_KEY, m->token,
		               sizeof(m->token), true);
	case MSTREAM_START:
		return read_start(r, root);
	case MSTREAM_MEDIA:
		return read_media(r, root);
	case MSTREAM_MARK:
		return read_mark(r, root);
	case MSTREAM_DTMF:
		return read_dtmf(r, root);
	case MSTREAM_STOP:
		return read_stop(r, root);
	default:
		return 0;
	}
}

int mstream_parse(struct mstream_msg *m, enum mstream_dialect d,
                  const char *text, size_t len, const char **why)
{
	struct reader r = {m,
	                   d == MSTREAM_TELNYX ? &telnyx_keys : &twilio_keys};
	const size_t pay = offsetof(struct mstream_msg, payload);
	json_error_t jerr;
	json_t *root;
	int err;

	if (!m || !text) {
		if (why)
			*why = "no frame";
		return EINVAL;
	}
	/* Every field but the payload's bytes: only payload_len of them
	 * count, and clearing 8 KB fifty times a second per call is waste. */
	memset(m, 0, pay);
	memset((char *)m + pay + sizeof(m->payload), 0,
	       sizeof(*m) - pay - sizeof(m->payload));
	root = json_loadb(text, len, 0, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			err = fail(&r, ENOMEM, "", "out of memory");
		else
			err = fail(&r, EBADMSG, "", "not JSON");
	} else {
		err = read_frame(&r, root);
		json_decref(root);
	}
	if (err && why)
		*why = m->why;
	return err;
}

/* Appends to a caller's buffer, always leaving room for the NUL. */
struct out {
	char *buf;
	char *p;
	char *end;
	bool full;
};

static struct out out_init(char *buf, size_t size)
{
	struct out o = {buf, buf, buf ? buf + size : buf, !buf};

	return o;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= (size_t)(o->end - o->p)) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

#define PUT(o, lit) put(o, lit, sizeof(lit) - 1)

static size_t out_end(struct out *o)
{
	if (o->full) {
		if (o->end > o->buf)
			o->buf[0] = '\0';
		return 0;
	}
	*o->p = '\0';
	return (size_t)(o->p - o->buf);
}

/* s as a JSON string, quotes included; NULL as "". */
static void put_str(struct out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	const unsigned char *end = u + strlen((const char *)u);
	size_t run = 0, n;
	uint32_t cp;

	PUT(o, "\"");
	/* Plain bytes go out in runs, escapes one at a time. */
	while (u[run]) {
		if (u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
		    u[run] != '\\') {
			run++;
			continue;
		}
		if (u[run] >= 0x80 &&
		    (n = utf8_next((const char *)u + run,
		                   (size_t)(end - u) - run, &cp)) > 0) {
			run += n;
			continue;
		}
		put(o, (const char *)u, run);
		u += run;
		run = 0;
		if (*u == '"' || *u == '\\') {
			char esc[2] = {'\\', (char)*u};

			put(o, esc, sizeof(esc));
		} else if (*u < 0x20) {
			char esc[6] = {'\\', 'u',          '0',
			               '0',  hex[*u >> 4], hex[*u & 0xF]};

			put(o, esc, sizeof(esc));
		} else {
			PUT(o, "\\ufffd");
		}
		u++;
	}
	put(o, (const char *)u, run);
	PUT(o, "\"");
}

/* n in decimal within quotes, as Twilio writes its numbers. */
static void put_num(struct out *o, uint32_t n)
{
	char d[12];
	size_t i = sizeof(d);

	d[--i] = '"';
	do {
		d[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	d[--i] = '"';
	put(o, d + i, sizeof(d) - i);
}

/* Encodes straight into the buffer; beyond MSTREAM_PAYLOAD_MAX bytes is
 * more than a frame may carry. */
static void put_b64(struct out *o, const uint8_t *payload, size_t n)
{
	size_t need = (n + 2) / 3 * 4;

	if (o->full || n > MSTREAM_PAYLOAD_MAX || (n > 0 && !payload) ||
	    need >= (size_t)(o->end - o->p)) {
		o->full = true;
		return;
	}
	if (n > 0)
		EVP_EncodeBlock((unsigned char *)o->p, payload, (int)n);
	o->p += need;
}

/* Twilio's streamSid member and its comma; Telnyx's frames to it have
 * none. */
static void put_stream(struct out *o, enum mstream_dialect d,
                       const char *stream_id)
{
	if (d == MSTREAM_TELNYX)
		return;
	PUT(o, "\"streamSid\":");
	put_str(o, stream_id);
	PUT(o, ",");
}

size_t mstream_media(char *buf, size_t size, enum mstream_dialect d,
                     const char *stream_id, const uint8_t *payload, size_t n)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"media\",");
	put_stream(&o, d, stream_id);
	PUT(&o, "\"media\":{\"payload\":\"");
	put_b64(&o, payload, n);
	PUT(&o, "\"}}");
	return out_end(&o);
}

size_t mstream_mark(char *buf, size_t size, enum mstream_dialect d,
                    const char *stream_id, const char *name)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"mark\",");
	put_stream(&o, d, stream_id);
	PUT(&o, "\"mark\":{\"name\":");
	put_str(&o, name);
	PUT(&o, "}}");
	return out_end(&o);
}

size_t mstream_clear(char *buf, size_t size, enum mstream_dialect d,
                     const char *stream_id)
{
	struct out o = out_init(buf, size);

	if (d == MSTREAM_TELNYX) {
		PUT(&o, "{\"event\":\"clear\"}");
	} else {
		PUT(&o, "{\"event\":\"clear\",\"streamSid\":");
		put_str(&o, stream_id);
		PUT(&o, "}");
	}
	return out_end(&o);
}

size_t mstream_connected(char *buf, size_t size)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"connected\",\"protocol\":\"Call\","
	        "\"version\":\"1.0.0\"}");
	return out_end(&o);
}

size_t mstream_start(char *buf, size_t size, const char *stream_id,
                     const char *account_id, const char *call_id,
                     const struct mstream_param *params, size_t nparams,
                     uint32_t sequence)
{
	struct out o = out_init(buf, size);
	size_t i;

	if (nparams > 0 && !params) {
		o.full = true;
		return out_end(&o);
	}
	PUT(&o, "{\"event\":\"start\",\"sequenceNumber\":");
	put_num(&o, sequence);
	PUT(&o, ",\"start\":{\"accountSid\":");
	put_str(&o, account_id);
	PUT(&o, ",\"streamSid\":");
	put_str(&o, stream_id);
	PUT(&o, ",\"callSid\":");
	put_str(&o, call_id);
	PUT(&o, ",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":"
	        "\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},"
	        "\"customParameters\":{");
	for (i = 0; i < nparams; i++) {
		if (i > 0)
			PUT(&o, ",");
		put_str(&o, params[i].name);
		PUT(&o, ":");
		put_str(&o, params[i].value);
	}
	PUT(&o, "}},\"streamSid\":");
	put_str(&o, stream_id);
	PUT(&o, "}");
	return out_end(&o);
}

size_t mstream_media_in(char *buf, size_t size, const char *stream_id,
                        uint32_t sequence, uint32_t chunk, uint32_t timestamp,
                        const uint8_t *payload, size_t n)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"media\",\"sequenceNumber\":");
	put_num(&o, sequence);
	PUT(&o, ",\"media\":{\"track\":\"inbound\",\"chunk\":");
	put_num(&o, chunk);
	PUT(&o, ",\"timestamp\":");
	put_num(&o, timestamp);
	PUT(&o, ",\"payload\":\"");
	put_b64(&o, payload, n);
	PUT(&o, "\"},\"streamSid\":");
	put_str(&o, stream_id);
	PUT(&o, "}");
	return out_end(&o);
}

size_t mstream_mark_played(char *buf, size_t size, const char *stream_id,
                           const char *name, uint32_t sequence)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"mark\",\"sequenceNumber\":");
	put_num(&o, sequence);
	PUT(&o, ",\"streamSid\":");
	put_str(&o, stream_id);
	PUT(&o, ",\"mark\":{\"name\":");
	put_str(&o, name);
	PUT(&o, "}}");
	return out_end(&o);
}

size_t mstream_dtmf(char *buf, size_t size, const char *stream_id,
                    const char *digit, uint32_t sequence)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"dtmf\",\"streamSid\":");
	put_str(&o, stream_id);
	PUT(&o, ",\"sequenceNumber\":");
	put_num(&o, sequence);
	PUT(&o, ",\"dtmf\":{\"track\":\"inbound_track\",\"digit\":");
	put_str(&o, digit);
	PUT(&o, "}}");
	return out_end(&o);
}

size_t mstream_stop(char *buf, size_t size, const char *stream_id,
                    const char *account_id, const char *call_id,
                    uint32_t sequence)
{
	struct out o = out_init(buf, size);

	PUT(&o, "{\"event\":\"stop\",\"sequenceNumber\":");
	put_num(&o, sequence);
	PUT(&o, ",\"stop\":{\"accountSid\":");
	put_str(&o, account_id);
	PUT(&o, ",\"callSid\":");
	put_str(&o, call_id);
	PUT(&o, "},\"streamSid\":");
	put_str(&o, stream_id);
	PUT(&o, "}");
	return out_end(&o);
}
