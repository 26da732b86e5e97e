/*
 * From an INVITE to a participant in a room: matches the stored inbound
 * trunks and dispatch rules (sip/routing.h), names the room, opens it and
 * joins the caller as a SIP participant with LiveKit's sip.* attributes.
 *
 * Free of libre and jansson types (core/libre.h says why). Signalling
 * thread only.
 */
#ifndef VOXGATE_SIP_DISPATCH_H
#define VOXGATE_SIP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include "room/room.h"
#include "sip/sdes.h"

struct dispatch;
struct store;
struct hosts;

struct dispatch_params {
	struct store *store; /* borrowed */
	struct rooms *rooms; /* borrowed */
	/* borrowed; resolves allowedAddresses host names (NULL: they
	 * match nothing) */
	struct hosts *hosts;
	bool default_route; /* unmatched calls go to call_<caller>_<random> */
};

/* Calls back for each SIP header of the INVITE (for sip.h.* attributes). */
typedef void(dispatch_hdr_h)(const char *name, size_t nlen, const char *val,
                             size_t vlen, void *arg);
typedef void(dispatch_hdr_iter_h)(const void *msg, dispatch_hdr_h *h,
                                  void *harg);

struct dispatch_call {
	const char *sip_call_id; /* Call-ID */
	const char *call_tag;    /* the caller's From tag, or NULL / "" */
	const char *from_user, *to_user;
	const char *src_ip;
	/* X-Twilio-CallSid, or NULL; believed only from a carrier's trunk */
	const char *twilio_call_sid;
	const char *twilio_account_sid;
	const void *msg;                  /* opaque, for headers */
	dispatch_hdr_iter_h *foreach_hdr; /* may be NULL */
	/* The digits entered after DISPATCH_PIN ("" for a bare #), and the
	 * call id that outcome gave; both NULL on the first pass. */
	const char *pin;
	const char *call_id;
};

struct dispatch_auth {
	char username[128];
	char password[128];
	char realm[128];
};

enum dispatch_outcome {
	DISPATCH_JOINED = 0, /* *p is the caller's participant */
	DISPATCH_AUTH,       /* the trunk wants digest credentials (auth) */
	DISPATCH_REJECT,     /* answer status/reason */
	DISPATCH_PIN,        /* only rules with a PIN match: answer, ask for
	                        it, and route again with dispatch_call.pin */
};

struct dispatch_result {
	enum dispatch_outcome outcome;
	unsigned status; /* SIP status for DISPATCH_REJECT */
	char reason[160];
	char call_id[20]; /* SCL_... */
	char room[256];
	char identity[300];
	char trunk_id[32];
	char rule_id[32];
	struct dispatch_auth auth;
	struct participant *p;
	bool room_created; /* the room was made for this call */
	/* SRTP: the matched trunk's mediaEncryption, or the rule's when it
	 * asks for more. */
	enum sdes_policy encryption;
	/* The trunk's headers for our 200 OK, as "Name: value\r\n" lines. */
	char headers[1024];
	/* The external bot the rule names (a ws:// or wss:// URL, scheme in
	 * lower case), "" for voxgate's own agent. */
	char agent_url[512];
};

/* What is known of a call at one step; NULL strings and zero numbers are
 * left out of the record. */
struct dispatch_record {
	const char *sip_call_id;
	const char *from, *to, *room, *identity, *trunk_id, *rule_id;
	/* ringing, active, hangup; failed when we refused the call (a final
	 * response other than 2xx, in sip_status) */
	const char *status;
	long long ringing_at, active_at,
	    ended_at; /* unix seconds, 0 = not yet */
	const char *ended_by, *end_reason;
	unsigned sip_status;
	long long duration_ms;
	unsigned long long packets_in, packets_out, lost;
};

/* *dp is a mem object: mem_deref. */
int dispatch_alloc(struct dispatch **dp, const struct dispatch_params *prm);
/* Reads trunks and rules from the store again (after an API change). */
int dispatch_reload(struct dispatch *d);

/* Writes the whole call record for call_id (SCL_...), replacing the last
 * one: the caller keeps the record and passes all of it at each step, so
 * a step costs one write and no read. */
int dispatch_record(struct dispatch *d, const char *call_id,
                    const struct dispatch_record *rec);

/*
 * Routes a call. authenticated says the INVITE's digest credentials were
 * already checked against res->auth (second pass). kickh/arg become the
 * participant's kick handler.
 */
void dispatch_route(struct dispatch *d, const struct dispatch_call *call,
                    bool authenticated, participant_kick_h *kickh, void *arg,
                    struct dispatch_result *res);

/* The callee of an outbound call (CreateSIPParticipant). */
struct dispatch_outbound {
	const char *room, *identity, *name, *metadata;
	const struct json_t *attrs; /* participantAttributes, or NULL */
	const char *call_id;        /* SCL_... */
	const char *trunk_id;       /* "" for an inline trunk */
	const char *phone;          /* the callee's number */
	const char *trunk_phone;    /* ours, in From */
	const char *hostname;       /* the trunk's address */
	bool hide_number;
};

/* A bot URL a room names, checked as a rule's is (routing_agent_url) and
 * its scheme lowered into out: 0, or EINVAL with why. */
int dispatch_bot_url(const char *url, char *out, size_t sz, const char **why);

/* Opens the room and joins the callee as a SIP participant with the sip.*
 * attributes LiveKit sets on outbound calls (sip.callStatus "dialing"),
 * over the request's own attributes. EEXIST for an identity already in the
 * room, EMLINK for a full one. */
int dispatch_join_outbound(struct dispatch *d,
                           const struct dispatch_outbound *o,
                           participant_kick_h *kickh, void *arg,
                           struct participant **pp);

#endif
