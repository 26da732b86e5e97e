/*
 * Routing an inbound call as LiveKit SIP does (livekit-compat.md section 4):
 * which inbound trunk it came through, which dispatch rule takes it, and the
 * room and participant it becomes. Trunks and rules are their protobuf-JSON
 * objects (camelCase), as stored. Pure functions: no I/O, no state.
 */
#ifndef VOXGATE_SIP_ROUTING_H
#define VOXGATE_SIP_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "sip/sdes.h"

/* Does the host name an allowedAddresses entry gives resolve to ip (an
 * IPv4 or IPv6 address as text)? Answered from what was resolved before:
 * the call path never waits on DNS. */
typedef bool(routing_host_h)(const char *name, const char *ip, void *arg);

struct routing_call {
	const char *from_user;      /* caller number */
	const char *to_user;        /* called number */
	const char *src_ip;         /* source address of the INVITE, no port */
	const char *pin;            /* NULL when no PIN was given */
	routing_host_h *host_match; /* NULL: host name entries match nothing */
	void *host_arg;
};

/* Does the trunk restrict calls by source address (allowedAddresses with
 * an entry LiveKit does not ignore)? A call it takes came from there. */
bool routing_trunk_checks_source(const json_t *trunk);

/* A trunk's or rule's mediaEncryption: the top-level field (a name or its
 * number), else media.encryption; DISABLE when neither is set. EINVAL
 * for any other value (*p is then DISABLE). */
int routing_media_encryption(const json_t *obj, enum sdes_policy *p);

/* Is this allowedAddresses entry a host name (not an address, not a
 * CIDR block, not one of the entries LiveKit ignores)? */
bool routing_addr_is_host(const char *entry);

/* NormalizeNumber: strips space - ( ) and prefixes + when the value looks
 * like a phone number; other values are copied. */
void routing_normalize_number(const char *in, char *out, size_t outsz);

/*
 * Picks the inbound trunk (trunks: JSON array of SIPInboundTrunkInfo).
 * 0 with *trunkp (borrowed from trunks) set, or *trunkp NULL when none
 * matches; EEXIST when two specific or two default trunks match (why says
 * "Multiple SIP Trunks matched for ...").
 */
int routing_match_trunk(const json_t *trunks, const struct routing_call *call,
                        const json_t **trunkp, const char **why);

/*
 * Picks the dispatch rule (rules: JSON array of SIPDispatchRuleInfo) for a
 * call through trunk_id (NULL when no trunk matched: only rules with empty
 * trunkIds then count). 0 with *rulep (borrowed) or NULL when none.
 * *needs_pin is set when only PIN-protected rules would match and no PIN
 * was given.
 */
int routing_match_rule(const json_t *rules, const char *trunk_id,
                       const struct routing_call *call, const json_t **rulep,
                       bool *needs_pin);

/* Room name by the rule's kind (direct/individual/callee); random parts are
 * 12 characters from the shortuuid alphabet. */
int routing_room_name(const json_t *rule, const struct routing_call *call,
                      char *out, size_t outsz);

/* Participant identity and name: "sip_<from>" and "Phone <from>", or the
 * hashed/last-4 forms when the rule hides the number. */
void routing_participant(const json_t *rule, const char *from_user,
                         char *identity, size_t idsz, char *name,
                         size_t namesz);

/* The longest external bot URL taken, in bytes. */
#define ROUTING_AGENT_URL_MAX 511

/*
 * The external bot a rule names: its first roomConfig.agents[].agentName
 * when that starts with ws:// or wss:// (any case). 0 with *url borrowed
 * from rule, or NULL when the rule names no bot; EINVAL with why when the
 * name starts like a bot's URL but is not one voxgate can open (no host,
 * a bad port, a character RFC 3986 does not allow or '#', or longer than
 * ROUTING_AGENT_URL_MAX).
 */
int routing_agent_url(const json_t *rule, const char **url, const char **why);

/* Create-time checks, as LiveKit makes them; 0 or EINVAL with the message
 * LiveKit gives in why (a static or thread-local string). existing arrays
 * hold the stored objects; the new one is obj. A rule is also refused, by
 * a check of ours, when its bot URL is not usable (routing_agent_url). */
int routing_check_inbound_trunk(const json_t *existing, const json_t *obj,
                                const char **why);
int routing_check_rule(const json_t *existing, const json_t *obj,
                       const char **why);

#endif
