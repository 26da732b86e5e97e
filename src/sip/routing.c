/*
 * Inbound call routing, after LiveKit's protocol/sip/sip.go
 * (MatchTrunkDetailed, MatchDispatchRuleIter, EvaluateDispatchRule,
 * ValidateTrunksIter, DispatchRuleValidator) and livekit/sip.go
 * (NormalizeNumber, SIPInboundTrunkInfo.Validate).
 *
 * Messages handed back through `why` are string literals or a thread-local
 * buffer: never pointers into the JSON given, valid until the next call into
 * this file on the same thread.
 *
 * The dispatch rules, the room's and participant's names and the rules'
 * create-time checks are here, with the helpers both files share; the
 * trunk an INVITE matches, and a new trunk's checks, are in
 * routing_trunk.c.
 *
 * Where this differs from LiveKit, on purpose:
 * - allowedAddresses are matched against the INVITE's source address
 *   only: an address or CIDR entry directly, a host name entry through
 *   the addresses DNS gives for it. LiveKit also takes a From host equal
 *   to an entry, which any caller can write. An INVITE whose source
 *   address is missing or not an IP matches no entry (LiveKit lets it
 *   through unchecked);
 * - a trunk listing the called number twice (e.g. "+1555..." and
 *   "1555...") is one match, not a conflict with itself;
 * - an IPv4-mapped IPv6 source address (::ffff:a.b.c.d) is matched as the
 *   IPv4 address;
 * - without a PIN, pinned rules are left out and an open rule is taken if
 *   one matches (LiveKit ranks pinned rules first and asks for the PIN);
 *   *needs_pin only reports that nothing but pinned rules matched;
 * - an empty PIN is the same as no PIN.
 */
#include "sip/routing.h"
#include "sip/routing_int.h"
#include "core/id.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

_Thread_local char routing_why_buf[ROUTING_WHY_MAX];

/* ---- small JSON helpers ------------------------------------------------ */

const char *routing_jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

/* The array under key, or NULL when absent, not an array or empty. */
const json_t *routing_jarr(const json_t *obj, const char *key)
{
	const json_t *a = json_object_get(obj, key);
	if (!json_is_array(a) || json_array_size(a) == 0)
		return NULL;
	return a;
}

const char *routing_arr_str(const json_t *arr, size_t i)
{
	const char *s = json_string_value(json_array_get(arr, i));
	return s ? s : "";
}

static bool arr_contains(const json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (strcmp(routing_arr_str(arr, i), s) == 0)
			return true;
	}
	return false;
}

const char *routing_nz(const char *s)
{
	return s ? s : "";
}

/* ---- Go-style quoting (%q) into a bounded buffer ----------------------- */

void routing_sb_putc(struct routing_sbuf *b, char c)
{
	if (b->len + 1 < b->size) {
		b->p[b->len] = c;
		b->p[b->len + 1] = '\0';
	}
	b->len++;
}

void routing_sb_puts(struct routing_sbuf *b, const char *s)
{
	while (*s)
		routing_sb_putc(b, *s++);
}

void routing_sb_quote(struct routing_sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	static const char special[] = "\"\\\a\b\f\n\r\t\v";
	static const char letter[] = "\"\\abfnrtv";

	routing_sb_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *e = strchr(special, c);
		if (e) {
			routing_sb_putc(b, '\\');
			routing_sb_putc(b, letter[e - special]);
		} else if (c < 0x20 || c == 0x7f) {
			routing_sb_puts(b, "\\x");
			routing_sb_putc(b, hex[c >> 4]);
			routing_sb_putc(b, hex[c & 15]);
		} else {
			routing_sb_putc(b, (char)c);
		}
	}
	routing_sb_putc(b, '"');
}

struct routing_sbuf routing_why_begin(void)
{
	struct routing_sbuf b = {routing_why_buf, sizeof(routing_why_buf), 0};
	routing_why_buf[0] = '\0';
	return b;
}

/* ---- dispatch rules ----------------------------------------------------- */

enum rule_kind { KIND_NONE, KIND_DIRECT, KIND_INDIVIDUAL, KIND_CALLEE };

/* GetPinAndRoom: the kind, the room name (direct) or prefix, the PIN. */
static enum rule_kind rule_kind(const json_t *info, const json_t **body,
                                const char **room, const char **pin)
{
	const json_t *rule = json_object_get(info, "rule");
	const json_t *r;
	enum rule_kind k;

	if ((r = json_object_get(rule, "dispatchRuleDirect")) &&
	    json_is_object(r)) {
		k = KIND_DIRECT;
		*room = routing_jstr(r, "roomName");
	} else if ((r = json_object_get(rule, "dispatchRuleIndividual")) &&
	           json_is_object(r)) {
		k = KIND_INDIVIDUAL;
		*room = routing_jstr(r, "roomPrefix");
	} else if ((r = json_object_get(rule, "dispatchRuleCallee")) &&
	           json_is_object(r)) {
		k = KIND_CALLEE;
		*room = routing_jstr(r, "roomPrefix");
	} else {
		*room = *pin = "";
		if (body)
			*body = NULL;
		return KIND_NONE;
	}
	*pin = routing_jstr(r, "pin");
	if (body)
		*body = r;
	return k;
}

/* DispatchRulePriority: lower wins. */
static long rule_priority(const json_t *info)
{
	const char *room, *pin;
	enum rule_kind k = rule_kind(info, NULL, &room, &pin);
	long p;

	if (k == KIND_NONE)
		return LONG_MAX;
	p = (k == KIND_DIRECT       ? 0
	     : k == KIND_INDIVIDUAL ? 1
	                            : 2) +
	    (*pin ? 0 : 100);
	if (!routing_jarr(info, "inboundNumbers"))
		p += 1000;
	if (!routing_jarr(info, "numbers"))
		p += 1000;
	return p;
}

/* hasHigherPriority: priority, then room name or prefix. */
static bool rule_better(const json_t *r1, const json_t *r2)
{
	long p1 = rule_priority(r1), p2 = rule_priority(r2);
	const char *room1, *room2, *pin;

	if (p1 != p2)
		return p1 < p2;
	rule_kind(r1, NULL, &room1, &pin);
	rule_kind(r2, NULL, &room2, &pin);
	return strcmp(room1, room2) < 0;
}

int routing_match_rule(const json_t *rules, const char *trunk_id,
                       const struct routing_call *call, const json_t **rulep,
                       bool *needs_pin)
{
	const json_t *specific = NULL, *deflt = NULL;
	const char *sent_pin = routing_nz(call->pin);
	bool pinned_seen = false;

	*rulep = NULL;
	if (needs_pin)
		*needs_pin = false;
	for (size_t i = 0; i < json_array_size(rules); i++) {
		const json_t *info = json_array_get(rules, i);
		const json_t *in_nums, *nums, *trunk_ids;
		const char *room, *rule_pin;

		if (!json_is_object(info))
			continue;
		in_nums = routing_jarr(info, "inboundNumbers");
		if (in_nums &&
		    !arr_contains(in_nums, routing_nz(call->from_user)))
			continue;
		nums = routing_jarr(info, "numbers");
		if (nums && !arr_contains(nums, routing_nz(call->to_user)))
			continue;
		if (rule_kind(info, NULL, &room, &rule_pin) == KIND_NONE)
			continue;
		trunk_ids = routing_jarr(info, "trunkIds");
		if (trunk_ids &&
		    (!trunk_id || !arr_contains(trunk_ids, trunk_id)))
			continue;
		if (!*sent_pin) {
			if (*rule_pin) {
				pinned_seen = true;
				continue;
			}
		} else if (!*rule_pin || strcmp(rule_pin, sent_pin) != 0) {
			continue;
		}
		if (!trunk_ids) {
			if (!deflt || rule_better(info, deflt))
				deflt = info;
		} else if (!specific || rule_better(info, specific)) {
			specific = info;
		}
	}
	*rulep = specific ? specific : deflt;
	if (needs_pin && !*rulep && pinned_seen)
		*needs_pin = true;
	return 0;
}

/* ---- naming ------------------------------------------------------------- */

#define GUID_LEN ID_RANDOM_LEN

/* The caller as EvaluateDispatchRule shows it: the last 4 characters when
 * the rule hides the number (the last one for 4 or fewer). */
static const char *shown_from(const json_t *rule, const char *from)
{
	size_t len = strlen(from);

	if (!json_is_true(json_object_get(rule, "hidePhoneNumber")))
		return from;
	if (len == 0)
		return from;
	return from + len - (len <= 4 ? 1 : 4);
}

int routing_room_name(const json_t *rule, const struct routing_call *call,
                      char *out, size_t outsz)
{
	const json_t *body;
	const char *room, *pin;
	char guid[GUID_LEN + 1] = "";
	bool rnd = false;
	int n;

	switch (rule_kind(rule, &body, &room, &pin)) {
	case KIND_DIRECT:
		n = snprintf(out, outsz, "%s", room);
		break;
	case KIND_INDIVIDUAL:
		rnd = !json_is_true(json_object_get(body, "noRandomness"));
		if (rnd) {
			id_random(guid, GUID_LEN);
			guid[GUID_LEN] = '\0';
		}
		n = snprintf(out, outsz, "%s%s%s%s%s", room, *room ? "_" : "",
		             shown_from(rule, routing_nz(call->from_user)),
		             rnd ? "_" : "", guid);
		break;
	case KIND_CALLEE:
		rnd = json_is_true(json_object_get(body, "randomize"));
		if (rnd) {
			id_random(guid, GUID_LEN);
			guid[GUID_LEN] = '\0';
		}
		n = snprintf(out, outsz, "%s%s%s%s%s", room, *room ? "_" : "",
		             routing_nz(call->to_user), rnd ? "_" : "", guid);
		break;
	default:
		return EINVAL;
	}
	if (n < 0 || (size_t)n >= outsz)
		return ENOSPC;
	return 0;
}

void routing_participant(const json_t *rule, const char *from_user,
                         char *identity, size_t idsz, char *name, size_t namesz)
{
	const char *from = routing_nz(from_user);

	if (json_is_true(json_object_get(rule, "hidePhoneNumber"))) {
		unsigned char h[SHA256_DIGEST_LENGTH];
		char hex[17];

		SHA256((const unsigned char *)from, strlen(from), h);
		for (int i = 0; i < 8; i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		snprintf(identity, idsz, "sip_%s", hex);
	} else {
		snprintf(identity, idsz, "sip_%s", from);
	}
	snprintf(name, namesz, "Phone %s", shown_from(rule, from));
}

/* ---- create-time checks ------------------------------------------------- */

const char *routing_print_id(const char *s)
{
	return *s ? s : "<new>";
}

/* The i-th value of a key dimension: the array's entries, or one "" when
 * the array is empty. */
size_t routing_dim_len(const json_t *arr)
{
	return arr ? json_array_size(arr) : 1;
}

const char *routing_dim_get(const json_t *arr, size_t i)
{
	return arr ? routing_arr_str(arr, i) : "";
}

/* Does rule r own the key (pin, trunk, inbound number, number)? Stops
 * before index (st, si, sn), to look only at a rule's earlier keys. */
static bool rule_has_key(const json_t *r, const char *pin, const char *trunk,
                         const char *in_num, const char *num, size_t st,
                         size_t si, size_t sn)
{
	const json_t *trunks = routing_jarr(r, "trunkIds");
	const json_t *in_nums = routing_jarr(r, "inboundNumbers");
	const json_t *nums = routing_jarr(r, "numbers");
	const char *room, *rpin;

	if (rule_kind(r, NULL, &room, &rpin) == KIND_NONE)
		return false;
	for (size_t t = 0; t < routing_dim_len(trunks); t++) {
		for (size_t i = 0; i < routing_dim_len(in_nums); i++) {
			for (size_t n = 0; n < routing_dim_len(nums); n++) {
				if (t == st && i == si && n == sn)
					return false;
				if (strcmp(rpin, pin) == 0 &&
				    strcmp(routing_dim_get(trunks, t), trunk) ==
				        0 &&
				    routing_norm_eq(routing_dim_get(in_nums, i),
				                    in_num) &&
				    routing_norm_eq(routing_dim_get(nums, n),
				                    num))
					return true;
			}
		}
	}
	return false;
}

/* The rule that already holds obj's key (trunk t, inbound number i,
 * number n): an existing one other than obj's own id, or obj itself when
 * the key repeats one of its earlier keys. */
static const json_t *rule_conflict(const json_t *existing, const json_t *obj,
                                   const char *pin, size_t t, size_t i,
                                   size_t n)
{
	const char *id = routing_jstr(obj, "sipDispatchRuleId");
	const char *trunk = routing_dim_get(routing_jarr(obj, "trunkIds"), t);
	const char *in_num =
	    routing_dim_get(routing_jarr(obj, "inboundNumbers"), i);
	const char *num = routing_dim_get(routing_jarr(obj, "numbers"), n);

	for (size_t k = 0; k < json_array_size(existing); k++) {
		const json_t *r = json_array_get(existing, k);
		if (!json_is_object(r) ||
		    (*id &&
		     strcmp(routing_jstr(r, "sipDispatchRuleId"), id) == 0))
			continue;
		if (rule_has_key(r, pin, trunk, in_num, num, SIZE_MAX, SIZE_MAX,
		                 SIZE_MAX))
			return r;
	}
	if (rule_has_key(obj, pin, trunk, in_num, num, t, i, n))
		return obj;
	return NULL;
}

/* ---- external bots ---------------------------------------------------- */

/* Length of a ws:// or wss:// prefix (any case), or 0. */
static size_t bot_scheme_len(const char *s)
{
	if (!strncasecmp(s, "ws://", 5))
		return 5;
	if (!strncasecmp(s, "wss://", 6))
		return 6;
	return 0;
}

/* The host: a name or IPv4 address, or an IPv6 address in brackets. */
static const char *url_host_end(const char *p)
{
	const char *start = p;

	if (*p == '[') {
		for (p++;
		     isxdigit((unsigned char)*p) || *p == ':' || *p == '.';)
			p++;
		return *p == ']' && p > start + 1 ? p + 1 : NULL;
	}
	while (isalnum((unsigned char)*p) || *p == '.' || *p == '-')
		p++;
	return p > start ? p : NULL;
}

int routing_agent_url(const json_t *rule, const char **url, const char **why)
{
	const json_t *agents =
	    routing_jarr(json_object_get(rule, "roomConfig"), "agents");
	const char *s = routing_jstr(json_array_get(agents, 0), "agentName");
	size_t n = bot_scheme_len(s);
	const char *p;

	*url = NULL;
	*why = NULL;
	if (!n)
		return 0;
	if (strlen(s) > ROUTING_AGENT_URL_MAX) {
		*why = "roomConfig.agents[0].agentName: the URL is longer than "
		       "511 bytes";
		return EINVAL;
	}
	p = url_host_end(s + n);
	if (!p) {
		*why = "roomConfig.agents[0].agentName: the URL has no valid "
		       "host";
		return EINVAL;
	}
	if (*p == ':') {
		unsigned long port = 0;
		size_t digits = 0;

		for (p++; isdigit((unsigned char)*p) && digits < 6; p++)
			port = port * 10 + (unsigned long)(*p - '0'), digits++;
		if (!digits || port < 1 || port > 65535) {
			*why = "roomConfig.agents[0].agentName: the URL has a "
			       "bad port";
			return EINVAL;
		}
	}
	if (*p && *p != '/') {
		*why = "roomConfig.agents[0].agentName: the URL's host must "
		       "end with a port or a path starting with /";
		return EINVAL;
	}
	/* What follows goes on the request line as it is. */
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c >= 0x7f || strchr("#\"<>\\^`{|}", c)) {
			*why =
			    "roomConfig.agents[0].agentName: the URL holds a "
			    "character a URL may not (a space, a control "
			    "character, '#', a quote, <>\\^`{|} or a byte "
			    "outside ASCII)";
			return EINVAL;
		}
	}
	*url = s;
	return 0;
}

int routing_check_rule(const json_t *existing, const json_t *obj,
                       const char **why)
{
	size_t nt = routing_dim_len(routing_jarr(obj, "trunkIds"));
	size_t ni = routing_dim_len(routing_jarr(obj, "inboundNumbers"));
	size_t nn = routing_dim_len(routing_jarr(obj, "numbers"));
	const char *room, *pin, *url, *bad_url;

	if (why)
		*why = NULL;
	if (!json_is_object(json_object_get(obj, "rule"))) {
		if (why)
			*why = "missing rule";
		return EINVAL;
	}
	if (rule_kind(obj, NULL, &room, &pin) == KIND_NONE) {
		if (why)
			*why = "Unsupported SIP Dispatch Rule: <nil>";
		return EINVAL;
	}
	if (routing_agent_url(obj, &url, &bad_url)) {
		if (why)
			*why = bad_url;
		return EINVAL;
	}
	for (size_t t = 0; t < nt; t++) {
		for (size_t i = 0; i < ni; i++) {
			for (size_t n = 0; n < nn; n++) {
				const json_t *other =
				    rule_conflict(existing, obj, pin, t, i, n);
				const char *name;
				struct routing_sbuf b;

				if (!other)
					continue;
				name = routing_jstr(other, "name");
				b = routing_why_begin();
				routing_sb_puts(
				    &b, "Dispatch rule for the same trunk, "
				        "inbound number, number, and PIN "
				        "combination already exists in "
				        "dispatch rule ");
				routing_sb_quote(
				    &b, routing_print_id(routing_jstr(
				            other, "sipDispatchRuleId")));
				routing_sb_putc(&b, ' ');
				routing_sb_quote(&b,
				                 *name ? name : "<blank name>");
				if (why)
					*why = routing_why_buf;
				return EINVAL;
			}
		}
	}
	return 0;
}
