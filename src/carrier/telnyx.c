/*
 * Telnyx Call Control webhooks on OpenSSL (Ed25519, base64) and jansson.
 *
 * DESIGN
 *
 * The timestamp is parsed before anything else so that a malformed one is
 * refused without running the verifier, but it is held against the clock
 * only after the signature is good: ETIME then always means "Telnyx sent
 * this, but not recently" (a replay, or a clock that is off), which is what
 * the caller wants to tell apart in its log from a forged request.
 *
 * Pure Ed25519 cannot be fed piecewise (EVP_DigestVerifyUpdate is refused
 * for it), so the signed message is assembled in one buffer.
 *
 * Base64, padded or not, is read strictly (core/b64.h): a header or a key
 * must look like nothing else.
 *
 * The seen set is a ring of the last `capacity` records, which makes
 * eviction of the oldest free, with a chained hash table over the ring's
 * slots for lookup. A record whose time has run out stays until the ring
 * comes round to it; a lookup that finds it treats it as absent, unlinks it
 * and records the id afresh at the head.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/libre.h"
#include "carrier/telnyx.h"
#include "core/b64.h"

#define ED25519_KEY_LEN 32
#define ED25519_SIG_LEN 64
/* 18 digits cannot overflow int64_t and reach far past any real time. */
#define TIMESTAMP_MAX_DIGITS 18

struct telnyx_key {
	EVP_PKEY *pkey;
};

static void telnyx_key_destructor(void *arg)
{
	struct telnyx_key *k = arg;

	if (k->pkey)
		EVP_PKEY_free(k->pkey);
}

int telnyx_key_parse(struct telnyx_key **kp, const char *base64)
{
	unsigned char raw[ED25519_KEY_LEN];
	struct telnyx_key *k;
	size_t len;

	if (!kp || !base64)
		return EINVAL;
	if (b64_decode(base64, strlen(base64), 0, raw, sizeof(raw), &len) !=
	        0 ||
	    len != sizeof(raw))
		return EINVAL;
	k = mem_zalloc(sizeof(*k), telnyx_key_destructor);
	if (!k)
		return ENOMEM;
	k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw,
	                                      sizeof(raw));
	if (!k->pkey) {
		mem_deref(k);
		return ENOMEM;
	}
	*kp = k;
	return 0;
}

/* A Unix time in decimal digits only: Telnyx sends no sign, no space. */
static int timestamp_parse(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (!s || !s[0])
		return ETIME;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i == TIMESTAMP_MAX_DIGITS)
			return ETIME;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int ed25519_verify(EVP_PKEY *pkey, const unsigned char *sig,
                          const unsigned char *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return ENOMEM;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (ok)
		return 0;
	/* A stale error would be taken by a later TLS call on this thread
	 * as its own. */
	ERR_clear_error();
	return EACCES;
}

int telnyx_verify(const struct telnyx_key *k, const char *signature_b64,
                  const char *timestamp, const char *body, size_t body_len,
                  int64_t now)
{
	unsigned char sig[ED25519_SIG_LEN];
	unsigned char *msg;
	size_t sig_len, ts_len;
	uint64_t skew;
	int64_t ts;
	int err;

	if (!k || (!body && body_len > 0))
		return EINVAL;
	err = timestamp_parse(timestamp, &ts);
	if (err)
		return err;
	if (!signature_b64 ||
	    b64_decode(signature_b64, strlen(signature_b64), 0, sig,
	               sizeof(sig), &sig_len) != 0 ||
	    sig_len != sizeof(sig))
		return EACCES;
	ts_len = strlen(timestamp);
	if (body_len > SIZE_MAX - ts_len - 1)
		return ENOMEM;
	msg = malloc(ts_len + 1 + body_len);
	if (!msg)
		return ENOMEM;
	memcpy(msg, timestamp, ts_len);
	msg[ts_len] = '|';
	if (body_len > 0)
		memcpy(msg + ts_len + 1, body, body_len);
	err = ed25519_verify(k->pkey, sig, msg, ts_len + 1 + body_len);
	free(msg);
	if (err)
		return err;
	/* Unsigned: ts >= 0, so the distance fits whatever now is. */
	skew = ts > now ? (uint64_t)ts - (uint64_t)now
	                : (uint64_t)now - (uint64_t)ts;
	return skew > TELNYX_TOLERANCE_S ? ETIME : 0;
}

/* Copies src (n bytes) into a field of size bytes, cutting before a
 * character that would not fit whole so the field stays UTF-8. */
static void field_copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void field_get(char *dst, size_t size, const json_t *obj,
                      const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		field_copy(dst, size, json_string_value(v),
		           json_string_length(v));
	else
		dst[0] = '\0';
}

#define FIELD(ev, obj, name) field_get(ev->name, sizeof(ev->name), obj, #name)

static const struct {
	const char *name;
	enum telnyx_event_type type;
} event_names[] = {
    {"call.initiated", TELNYX_EV_CALL_INITIATED},
    {"call.answered", TELNYX_EV_CALL_ANSWERED},
    {"call.bridged", TELNYX_EV_CALL_BRIDGED},
    {"call.hangup", TELNYX_EV_CALL_HANGUP},
    {"call.dtmf.received", TELNYX_EV_DTMF},
    {"streaming.started", TELNYX_EV_STREAMING_STARTED},
    {"streaming.stopped", TELNYX_EV_STREAMING_STOPPED},
    {"streaming.failed", TELNYX_EV_STREAMING_FAILED},
};

static enum telnyx_event_type event_type_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
		if (strcmp(name, event_names[i].name) == 0)
			return event_names[i].type;
	}
	return TELNYX_EV_OTHER;
}

/* Reads n digits; false if any is not one. */
static bool digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no time zone or timegm is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + (yoe * 365 + yoe / 4 - yoe / 100 + doy) - 719468;
}

/* RFC 3339 ("2018-02-02T22:25:27.521992Z", or an offset such as +01:00)
 * to Unix seconds; 0 when it is not that. */
static double rfc3339_seconds(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om;
	double frac = 0, scale = 0.1;
	int64_t t;
	const char *p;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return 0;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return 0;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
		if (p[-1] == '.')
			return 0;
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return (double)t + frac;
	if ((*p != '+' && *p != '-') || !digits(p + 1, 2, &oh) || p[3] != ':' ||
	    !digits(p + 4, 2, &om) || p[6] != '\0' || oh > 23 || om > 59)
		return 0;
	/* Local time ahead of UTC: UTC is earlier. */
	t += (*p == '+' ? -1 : 1) * (oh * 3600 + om * 60);
	return (double)t + frac;
}

int telnyx_event_parse(struct telnyx_event *ev, const char *body, size_t len)
{
	json_t *root, *data, *payload, *type, *id, *at;
	json_error_t jerr;

	if (!ev || !body)
		return EINVAL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return EBADMSG;
	data = json_object_get(root, "data");
	type = json_object_get(data, "event_type");
	id = json_object_get(data, "id");
	if (!json_is_object(data) || !json_is_string(type) ||
	    !json_is_string(id)) {
		json_decref(root);
		return EBADMSG;
	}
	memset(ev, 0, sizeof(*ev));
	ev->type = event_type_of(json_string_value(type));
	FIELD(ev, data, event_type);
	FIELD(ev, data, id);
	FIELD(ev, data, occurred_at);
	/* From the whole string: a cut one would read as another time. */
	at = json_object_get(data, "occurred_at");
	if (json_is_string(at))
		ev->occurred = rfc3339_seconds(json_string_value(at));
	/* json_object_get of a non-object is NULL, so every field of a
	 * missing payload reads as "". */
	payload = json_object_get(data, "payload");
	FIELD(ev, payload, call_control_id);
	FIELD(ev, payload, call_leg_id);
	FIELD(ev, payload, call_session_id);
	FIELD(ev, payload, connection_id);
	FIELD(ev, payload, client_state);
	FIELD(ev, payload, from);
	FIELD(ev, payload, to);
	FIELD(ev, payload, direction);
	FIELD(ev, payload, state);
	FIELD(ev, payload, hangup_cause);
	FIELD(ev, payload, hangup_source);
	FIELD(ev, payload, sip_hangup_cause);
	FIELD(ev, payload, digit);
	json_decref(root);
	return 0;
}

int telnyx_event_rank(enum telnyx_event_type t)
{
	switch (t) {
	case TELNYX_EV_CALL_INITIATED:
		return 1;
	case TELNYX_EV_CALL_ANSWERED:
		return 2;
	case TELNYX_EV_CALL_BRIDGED:
		return 3;
	case TELNYX_EV_CALL_HANGUP:
		return 9;
	default:
		return 0;
	}
}

int telnyx_client_state_encode(char *out, size_t sz, const char *state)
{
	size_t n;

	if (!out || !state)
		return EINVAL;
	n = strlen(state);
	if (n > INT_MAX / 4 * 3 - 3 || (n + 2) / 3 * 4 >= sz)
		return ENOSPC;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)state,
	                (int)n);
	return 0;
}

int telnyx_client_state_decode(char *out, size_t sz, const char *b64)
{
	size_t len;
	int err;

	if (!out || sz == 0 || !b64)
		return EINVAL;
	err = b64_decode(b64, strlen(b64), 0, (uint8_t *)out, sz - 1, &len);
	if (!err && memchr(out, '\0', len))
		err = EBADMSG;
	/* Never a half-decoded state for a caller that ignores the error. */
	out[err ? 0 : len] = '\0';
	return err;
}

#define SEEN_MAX_CAPACITY ((size_t)1 << 28)
#define SEEN_NIL          UINT32_MAX
/* Ids are Telnyx UUIDs; longer ones keep this much and are told apart by
 * their length and the hash of the whole. */
#define SEEN_ID_KEEP 79

struct seen_entry {
	uint64_t hash; /* of the whole id */
	int64_t t;     /* when recorded */
	size_t len;    /* of the whole id */
	uint32_t next; /* in the bucket's chain */
	bool linked;   /* false: never used, or superseded */
	char id[SEEN_ID_KEEP];
};

struct telnyx_seen {
	struct seen_entry *ring; /* capacity slots, oldest at head once full */
	uint32_t *buckets;       /* mask + 1 chain heads */
	size_t capacity, head;
	uint64_t mask;
	uint64_t ttl;
};

static void telnyx_seen_destructor(void *arg)
{
	struct telnyx_seen *s = arg;

	free(s->ring);
	free(s->buckets);
}

int telnyx_seen_alloc(struct telnyx_seen **sp, size_t capacity, unsigned ttl_s)
{
	struct telnyx_seen *s;
	size_t nb = 1, i;

	if (!sp || capacity == 0 || capacity > SEEN_MAX_CAPACITY || ttl_s == 0)
		return EINVAL;
	/* Twice as many buckets as records keeps chains about one long. */
	while (nb < capacity * 2)
		nb <<= 1;
	s = mem_zalloc(sizeof(*s), telnyx_seen_destructor);
	if (!s)
		return ENOMEM;
	s->ring = calloc(capacity, sizeof(*s->ring));
	s->buckets = malloc(nb * sizeof(*s->buckets));
	if (!s->ring || !s->buckets) {
		mem_deref(s);
		return ENOMEM;
	}
	for (i = 0; i < nb; i++)
		s->buckets[i] = SEEN_NIL;
	s->capacity = capacity;
	s->mask = nb - 1;
	s->ttl = ttl_s;
	*sp = s;
	return 0;
}

/* FNV-1a: ids reach this only from authenticated events, so there is no
 * one to choose collisions. */
static uint64_t seen_hash(const char *id, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void seen_unlink(struct telnyx_seen *s, uint32_t slot)
{
	uint32_t *link = &s->buckets[s->ring[slot].hash & s->mask];

	while (*link != slot)
		link = &s->ring[*link].next;
	*link = s->ring[slot].next;
	s->ring[slot].linked = false;
}

static uint32_t seen_find(const struct telnyx_seen *s, const char *id,
                          size_t len, uint64_t h)
{
	uint32_t i;

	for (i = s->buckets[h & s->mask]; i != SEEN_NIL; i = s->ring[i].next) {
		const struct seen_entry *e = &s->ring[i];

		if (e->hash == h && e->len == len &&
		    memcmp(e->id, id,
		           len < SEEN_ID_KEEP ? len : SEEN_ID_KEEP) == 0)
			return i;
	}
	return SEEN_NIL;
}

bool telnyx_seen_check(struct telnyx_seen *s, const char *id, int64_t now)
{
	size_t len;
	uint64_t h;
	uint32_t slot, found;
	struct seen_entry *e;

	if (!s || !id)
		return false;
	len = strlen(id);
	h = seen_hash(id, len);
	found = seen_find(s, id, len, h);
	if (found != SEEN_NIL) {
		int64_t t = s->ring[found].t;

		/* A time before the record (the clock stepped back) is within;
		 * unsigned, as the distance may not fit int64_t. */
		if (now < t || (uint64_t)now - (uint64_t)t < s->ttl)
			return true;
		seen_unlink(s, found);
	}
	slot = (uint32_t)s->head;
	e = &s->ring[slot];
	if (e->linked)
		seen_unlink(s, slot);
	e->hash = h;
	e->t = now;
	e->len = len;
	memcpy(e->id, id, len < SEEN_ID_KEEP ? len : SEEN_ID_KEEP);
	e->next = s->buckets[h & s->mask];
	e->linked = true;
	s->buckets[h & s->mask] = slot;
	s->head = (s->head + 1) % s->capacity;
	return false;
}
