/*
 * An outbound call as CreateSIPParticipant asks for it (livekit-compat.md
 * section 4): the request (camelCase, after api_rename_keys) and its
 * outbound trunk (stored, or the request's inline `trunk`) checked and
 * turned into the URIs, credentials, room and limits the dialler needs.
 * Pure functions: no I/O, no libre object.
 */
#ifndef VOXGATE_SIP_OUTBOUND_H
#define VOXGATE_SIP_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sip/sdes.h"

/* declared, not included: see core/libre.h */
struct json_t;

/* sipCallTo and sipNumber: 1 to 64 bytes of [0-9A-Za-z+*#._~-]. */
#define OUTBOUND_NUMBER_MAX 64
/* dtmf: [0-9*#A-Dw] ('w' = a pause of half a second). */
#define OUTBOUND_DTMF_MAX           32
#define OUTBOUND_RINGING_DEFAULT_MS 30000u
#define OUTBOUND_RINGING_MAX_MS     80000u /* LiveKit RPC's longest wait */
#define OUTBOUND_MAX_CALL_MAX_MS    (24u * 3600u * 1000u)

struct outbound_call {
	char trunk_id[32];
	char call_to[OUTBOUND_NUMBER_MAX + 1]; /* the callee */
	char number[OUTBOUND_NUMBER_MAX + 1];  /* ours, in From */
	char address[256];                     /* the trunk's host[:port] */
	char transport[4];                     /* "udp", "tcp" or "tls" */
	char to_uri[512], from_uri[512];
	char from_name[129]; /* displayName, "" = none */
	char auth_user[128], auth_pass[128];
	char room[256], identity[256], name[256];
	char metadata[4096];
	struct json_t *attrs; /* participantAttributes, a string map (owned) */
	char headers[1024];   /* the trunk's, then the request's, as lines */
	char dtmf[OUTBOUND_DTMF_MAX + 1];
	uint32_t ringing_ms, max_ms;
	bool wait_answer, play_dialtone, hide_number;
	enum sdes_policy encryption; /* SRTP: the trunk's or the request's */
};

/*
 * Fills oc from the request and the trunk (NULL: the request's inline
 * `trunk`). from_host is our host for the From URI when the trunk names
 * no fromHost; max_ms_default is the server's max_call_duration (0 =
 * none). 0, or EINVAL with why for a request LiveKit would refuse
 * (invalid_argument), EBADMSG for a field of the wrong JSON type
 * (malformed). On error oc holds nothing to free.
 */
int outbound_parse(const struct json_t *req, const struct json_t *trunk,
                   const char *from_host, uint32_t max_ms_default,
                   struct outbound_call *oc, const char **why);
/* Releases oc->attrs. */
void outbound_reset(struct outbound_call *oc);

/* LiveKit's SIPOutboundTrunkInfo.Validate for address: a host, not a SIP
 * URI (no scheme, '@', ';' or transport=). */
bool outbound_address_ok(const char *a);

/* A protobuf-JSON Duration ("30s", "1.5s") or a number of seconds, in
 * milliseconds, at most max_ms: 0, or EINVAL for anything else or a
 * negative value. An absent or null v is 0 ms. */
int outbound_duration_ms(const struct json_t *v, uint32_t max_ms, uint32_t *ms);

#endif
