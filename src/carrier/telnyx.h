/*
 * Telnyx Call Control webhooks: what the gateway needs to trust, read and
 * de-duplicate the events Telnyx posts to it.
 *
 * - Signature: Telnyx signs timestamp + "|" + raw body with Ed25519 and
 *   sends telnyx-signature-ed25519 and telnyx-timestamp; the account's
 *   public key (base64 in the portal) checks it.
 * - Events: the fields of a webhook body the call logic uses, copied into
 *   fixed-size fields.
 * - Duplicates and order: Telnyx retries deliveries and does not keep them
 *   in order, so a bounded set of recent event ids spots retries, and a
 *   rank per event type lets a per-call state machine drop an event that
 *   would move the call backwards.
 *
 * No libre and no jansson types here, so either kind of file can include
 * this header.
 */
#ifndef VOXGATE_CARRIER_TELNYX_H
#define VOXGATE_CARRIER_TELNYX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far telnyx-timestamp may be from now, either way, before a request
 * counts as a replay. */
#define TELNYX_TOLERANCE_S 300

/* An account public key, ready to verify with. Immutable once parsed:
 * several threads may verify with one key at once. */
struct telnyx_key;

/*
 * Parses the base64 of a raw 32-byte Ed25519 public key (padding
 * optional) into *kp, a mem object (mem_deref). EINVAL when base64 is
 * NULL, not base64 or not 32 bytes; ENOMEM.
 */
int telnyx_key_parse(struct telnyx_key **kp, const char *base64);

/*
 * Checks a webhook: signature_b64 and timestamp are the values of the
 * telnyx-signature-ed25519 and telnyx-timestamp headers (NULL when absent),
 * body the exact bytes received, now Unix seconds. Returns 0 when valid;
 * EACCES for a missing or wrong signature; ETIME for a timestamp that is
 * missing or not a decimal number, or (only once the signature is good)
 * more than TELNYX_TOLERANCE_S from now; EINVAL for a NULL key, or a NULL
 * body with body_len > 0; ENOMEM.
 */
int telnyx_verify(const struct telnyx_key *k, const char *signature_b64,
                  const char *timestamp, const char *body, size_t body_len,
                  int64_t now);

enum telnyx_event_type {
	TELNYX_EV_OTHER,
	TELNYX_EV_CALL_INITIATED,
	TELNYX_EV_CALL_ANSWERED,
	TELNYX_EV_CALL_BRIDGED,
	TELNYX_EV_CALL_HANGUP,
	TELNYX_EV_DTMF, /* call.dtmf.received */
	TELNYX_EV_STREAMING_STARTED,
	TELNYX_EV_STREAMING_STOPPED,
	TELNYX_EV_STREAMING_FAILED,
};

/* Strings longer than their field are cut at a UTF-8 character boundary;
 * a field absent, null or not a string is "". */
struct telnyx_event {
	enum telnyx_event_type type;
	char event_type[64];
	char id[80];
	char occurred_at[40];
	char call_control_id[160];
	char call_leg_id[80];
	char call_session_id[80];
	char connection_id[80];
	char client_state[512]; /* base64 as sent; fits any state we encode
	                           of up to 381 bytes */
	char from[128];
	char to[128];
	char direction[16];
	char state[24];
	char hangup_cause[40];
	char hangup_source[16];
	char sip_hangup_cause[8];
	char digit[4];
	double occurred; /* occurred_at in Unix seconds, 0 if absent or not
	                    RFC 3339 */
};

/*
 * Reads a webhook body into *ev. EBADMSG when it is not JSON, or
 * data.event_type or data.id is missing or not a string; EINVAL for NULL
 * arguments. An event type not in the enum is TELNYX_EV_OTHER, and still
 * 0.
 */
int telnyx_event_parse(struct telnyx_event *ev, const char *body, size_t len);

/*
 * Where an event puts a call in its life: call.initiated 1, call.answered
 * 2, call.bridged 3, call.hangup 9; 0 for events that say nothing about it.
 * An event ranked below what the call has already seen arrived late and
 * should not act (call.answered after call.hangup).
 */
int telnyx_event_rank(enum telnyx_event_type t);

/*
 * client_state travels as base64 of our own opaque state string. encode:
 * EINVAL for NULL arguments, ENOSPC when out (sz bytes, NUL included) is
 * too small. decode: EBADMSG when b64 is not base64 or decodes to bytes
 * holding a NUL, ENOSPC when the state does not fit out; out is "" after
 * either.
 */
int telnyx_client_state_encode(char *out, size_t sz, const char *state);
int telnyx_client_state_decode(char *out, size_t sz, const char *b64);

/*
 * The event ids recently processed: it remembers the last `capacity` ids
 * recorded, each for ttl_s seconds. Fixed memory, no allocation after
 * telnyx_seen_alloc, O(1) per check. Not thread-safe: the caller locks.
 */
struct telnyx_seen;

/* *sp is a mem object: mem_deref.
 * EINVAL for a capacity or ttl_s of 0, or a capacity over 2^28; ENOMEM. */
int telnyx_seen_alloc(struct telnyx_seen **sp, size_t capacity, unsigned ttl_s);

/*
 * true when id was recorded less than ttl_s seconds before now (the event
 * is a retry: skip it). Otherwise records id at now, evicting the oldest
 * record when full, and returns false. A NULL set or id is never a
 * duplicate.
 */
bool telnyx_seen_check(struct telnyx_seen *s, const char *id, int64_t now);

#endif
