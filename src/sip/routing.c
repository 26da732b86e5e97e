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

#define WHY_MAX 1024

static _Thread_local char why_buf[WHY_MAX];

/* ---- small JSON helpers ------------------------------------------------ */

static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

/* The array under key, or NULL when absent, not an array or empty. */
static const json_t *jarr(const json_t *obj, const char *key)
{
	const json_t *a = json_object_get(obj, key);
	if (!json_is_array(a) || json_array_size(a) == 0)
		return NULL;
	return a;
}

static const char *arr_str(const json_t *arr, size_t i)
{
	const char *s = json_string_value(json_array_get(arr, i));
	return s ? s : "";
}

static bool arr_contains(const json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (strcmp(arr_str(arr, i), s) == 0)
			return true;
	}
	return false;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* ---- Go-style quoting (%q) into a bounded buffer ----------------------- */

struct sbuf {
	char *p;
	size_t size, len; /* len may exceed size - 1: output was truncated */
};

static void sb_putc(struct sbuf *b, char c)
{
	if (b->len + 1 < b->size) {
		b->p[b->len] = c;
		b->p[b->len + 1] = '\0';
	}
	b->len++;
}

static void sb_puts(struct sbuf *b, const char *s)
{
	while (*s)
		sb_putc(b, *s++);
}

static void sb_quote(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	static const char special[] = "\"\\\a\b\f\n\r\t\v";
	static const char letter[] = "\"\\abfnrtv";

	sb_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *e = strchr(special, c);
		if (e) {
			sb_putc(b, '\\');
			sb_putc(b, letter[e - special]);
		} else if (c < 0x20 || c == 0x7f) {
			sb_puts(b, "\\x");
			sb_putc(b, hex[c >> 4]);
			sb_putc(b, hex[c & 15]);
		} else {
			sb_putc(b, (char)c);
		}
	}
	sb_putc(b, '"');
}

static struct sbuf why_begin(void)
{
	struct sbuf b = {why_buf, sizeof(why_buf), 0};
	why_buf[0] = '\0';
	return b;
}

/* ---- numbers ------------------------------------------------------------ */

/* ^\+?[\d\- ()]+$ */
static bool number_like(const char *s)
{
	if (*s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == ' ' ||
		      *s == '(' || *s == ')'))
			return false;
	}
	return true;
}

void routing_normalize_number(const char *in, char *out, size_t outsz)
{
	struct sbuf b = {out, outsz, 0};

	if (!outsz)
		return;
	out[0] = '\0';
	in = nz(in);
	if (!number_like(in)) {
		sb_puts(&b, in);
		return;
	}
	/* Stripping space - ( ) leaves "+digits" or "digits"; either way the
	 * result is "+" and the digits. */
	sb_putc(&b, '+');
	for (; *in; in++) {
		if (*in >= '0' && *in <= '9')
			sb_putc(&b, *in);
	}
}

static bool digits_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a && !(*a >= '0' && *a <= '9'))
			a++;
		while (*b && !(*b >= '0' && *b <= '9'))
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

static bool has_digit(const char *s)
{
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			return true;
	}
	return false;
}

/* NormalizeNumber(a) == NormalizeNumber(b), without allocating. */
static bool norm_eq(const char *a, const char *b)
{
	bool na = number_like(a), nb = number_like(b);

	if (!na && !nb)
		return strcmp(a, b) == 0;
	if (na && nb)
		return digits_eq(a, b);
	if (nb) {
		const char *t = a;
		a = b;
		b = t;
	}
	/* a normalises to "+digits"; b is kept as is and is not number-like,
	 * so only "+" (from a digitless a such as "()") can equal it. */
	return strcmp(b, "+") == 0 && !has_digit(a);
}

/* ---- addresses ---------------------------------------------------------- */

struct ipaddr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char b[16];
};

static bool parse_ip(const char *s, struct ipaddr *ip)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, s + 1, n - 2);
		tmp[n - 2] = '\0';
		s = tmp;
	}
	if (inet_pton(AF_INET, s, ip->b) == 1) {
		ip->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, ip->b) == 1) {
		ip->family = AF_INET6;
		return true;
	}
	return false;
}

static bool ip_eq(const struct ipaddr *a, const struct ipaddr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;
	return a->family == b->family && memcmp(a->b, b->b, n) == 0;
}

/* "a.b.c.d/n" or "v6/n" contains ip (n as netip.ParsePrefix reads it). */
static bool prefix_contains(const char *mask, const struct ipaddr *ip)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *slash = strchr(mask, '/');
	const char *bits_s = slash + 1;
	size_t alen = (size_t)(slash - mask);
	struct ipaddr net;
	unsigned bits = 0;

	if (alen >= sizeof(addr))
		return false;
	memcpy(addr, mask, alen);
	addr[alen] = '\0';
	if (!parse_ip(addr, &net) || addr[0] == '[')
		return false;
	if (!*bits_s || (bits_s[0] == '0' && bits_s[1]))
		return false;
	for (const char *p = bits_s; *p; p++) {
		if (*p < '0' || *p > '9' || bits > 128)
			return false;
		bits = bits * 10 + (unsigned)(*p - '0');
	}
	if (bits > (net.family == AF_INET ? 32u : 128u))
		return false;
	if (net.family != ip->family)
		return false;
	for (unsigned i = 0; i < bits / 8; i++) {
		if (net.b[i] != ip->b[i])
			return false;
	}
	if (bits % 8) {
		unsigned char m = (unsigned char)(0xff << (8 - bits % 8));
		if ((net.b[bits / 8] & m) != (ip->b[bits / 8] & m))
			return false;
	}
	return true;
}

/* isValidMask: entries LiveKit ignores. */
static bool valid_mask(const char *m)
{
	return !strpbrk(m, "()+*;, \t\n\r") && !strstr(m, "://");
}

/* A name as DNS takes it: letters, digits, '-' and '.', 253 at most. */
static bool host_syntax(const char *s)
{
	size_t n = 0;
	bool letter = false;

	for (; *s; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (isalpha(c))
			letter = true;
		else if (!isdigit(c) && c != '-' && c != '.')
			return false;
	}
	return n && n <= 253 && letter;
}

bool routing_addr_is_host(const char *entry)
{
	struct ipaddr ip;

	return entry && valid_mask(entry) && !strchr(entry, '/') &&
	       !parse_ip(entry, &ip) && host_syntax(entry);
}

bool routing_trunk_checks_source(const json_t *trunk)
{
	const json_t *masks = jarr(trunk, "allowedAddresses");

	for (size_t i = 0; i < json_array_size(masks); i++) {
		if (valid_mask(arr_str(masks, i)))
			return true;
	}
	return false;
}

static bool match_addr_masks(const struct routing_call *call,
                             const json_t *masks)
{
	struct ipaddr ip;
	bool have_ip = call->src_ip && parse_ip(call->src_ip, &ip);
	char ip_text[INET6_ADDRSTRLEN];
	size_t valid = 0;

	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0,    0,
	                                           0, 0, 0, 0, 0xff, 0xff};

	if (have_ip && ip.family == AF_INET6 &&
	    memcmp(ip.b, v4mapped, sizeof(v4mapped)) == 0) {
		/* a dual-stack socket's view of an IPv4 peer */
		memmove(ip.b, ip.b + 12, 4);
		ip.family = AF_INET;
	}
	if (have_ip && !inet_ntop(ip.family, ip.b, ip_text, sizeof(ip_text)))
		have_ip = false;
	for (size_t i = 0; i < json_array_size(masks); i++) {
		const char *m = arr_str(masks, i);
		struct ipaddr exp;

		if (!valid_mask(m))
			continue;
		valid++;
		if (!have_ip)
			continue;
		if (strchr(m, '/')) {
			if (prefix_contains(m, &ip))
				return true;
		} else if (parse_ip(m, &exp)) {
			if (ip_eq(&exp, &ip))
				return true;
		} else if (call->host_match && host_syntax(m) &&
		           call->host_match(m, ip_text, call->host_arg)) {
			return true;
		}
	}
	/* Only invalid entries: LiveKit applies no restriction. */
	return valid == 0;
}

static bool match_numbers(const char *num, const json_t *allowed)
{
	for (size_t i = 0; i < json_array_size(allowed); i++) {
		const char *a = arr_str(allowed, i);
		if (strcmp(num, a) == 0 || norm_eq(num, a))
			return true;
	}
	return false;
}

/* ---- trunk matching ----------------------------------------------------- */

int routing_match_trunk(const json_t *trunks, const struct routing_call *call,
                        const json_t **trunkp, const char **why)
{
	const json_t *selected = NULL, *deflt = NULL;
	const char *to = nz(call->to_user), *from = nz(call->from_user);
	size_t ndefault = 0;

	*trunkp = NULL;
	if (why)
		*why = NULL;
	for (size_t i = 0; i < json_array_size(trunks); i++) {
		const json_t *tr = json_array_get(trunks, i);
		const json_t *allowed_nums, *masks, *numbers;

		if (!json_is_object(tr))
			continue;
		allowed_nums = jarr(tr, "allowedNumbers");
		if (allowed_nums && !match_numbers(from, allowed_nums))
			continue;
		masks = jarr(tr, "allowedAddresses");
		if (masks && !match_addr_masks(call, masks))
			continue;
		numbers = jarr(tr, "numbers");
		if (!numbers) {
			deflt = deflt ? deflt : tr;
			ndefault++;
			continue;
		}
		if (!match_numbers(to, numbers))
			continue;
		if (selected) {
			struct sbuf b = why_begin();
			sb_puts(&b, "Multiple SIP Trunks matched for ");
			sb_quote(&b, to);
			if (why)
				*why = why_buf;
			return EEXIST;
		}
		selected = tr;
	}
	if (selected) {
		*trunkp = selected;
		return 0;
	}
	if (ndefault > 1) {
		struct sbuf b = why_begin();
		sb_puts(&b, "Multiple default SIP Trunks matched for ");
		sb_quote(&b, to);
		if (why)
			*why = why_buf;
		return EEXIST;
	}
	*trunkp = deflt;
	return 0;
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
		*room = jstr(r, "roomName");
	} else if ((r = json_object_get(rule, "dispatchRuleIndividual")) &&
	           json_is_object(r)) {
		k = KIND_INDIVIDUAL;
		*room = jstr(r, "roomPrefix");
	} else if ((r = json_object_get(rule, "dispatchRuleCallee")) &&
	           json_is_object(r)) {
		k = KIND_CALLEE;
		*room = jstr(r, "roomPrefix");
	} else {
		*room = *pin = "";
		if (body)
			*body = NULL;
		return KIND_NONE;
	}
	*pin = jstr(r, "pin");
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
	if (!jarr(info, "inboundNumbers"))
		p += 1000;
	if (!jarr(info, "numbers"))
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
	const char *sent_pin = nz(call->pin);
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
		in_nums = jarr(info, "inboundNumbers");
		if (in_nums && !arr_contains(in_nums, nz(call->from_user)))
			continue;
		nums = jarr(info, "numbers");
		if (nums && !arr_contains(nums, nz(call->to_user)))
			continue;
		if (rule_kind(info, NULL, &room, &rule_pin) == KIND_NONE)
			continue;
		trunk_ids = jarr(info, "trunkIds");
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
		             shown_from(rule, nz(call->from_user)),
		             rnd ? "_" : "", guid);
		break;
	case KIND_CALLEE:
		rnd = json_is_true(json_object_get(body, "randomize"));
		if (rnd) {
			id_random(guid, GUID_LEN);
			guid[GUID_LEN] = '\0';
		}
		n = snprintf(out, outsz, "%s%s%s%s%s", room, *room ? "_" : "",
		             nz(call->to_user), rnd ? "_" : "", guid);
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
	const char *from = nz(from_user);

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

static const char *print_id(const char *s)
{
	return *s ? s : "<new>";
}

/* printNumbers: <any>, or Go's %q of a []string: ["a" "b"]. */
static void sb_numbers(struct sbuf *b, const json_t *numbers)
{
	if (!numbers) {
		sb_puts(b, "<any>");
		return;
	}
	sb_putc(b, '[');
	for (size_t i = 0; i < json_array_size(numbers); i++) {
		if (i)
			sb_putc(b, ' ');
		sb_quote(b, arr_str(numbers, i));
	}
	sb_putc(b, ']');
}

/* The i-th value of a key dimension: the array's entries, or one "" when
 * the array is empty. */
static size_t dim_len(const json_t *arr)
{
	return arr ? json_array_size(arr) : 1;
}

static const char *dim_get(const json_t *arr, size_t i)
{
	return arr ? arr_str(arr, i) : "";
}

/* Does trunk t own the key (number, allowed number)? Stops before
 * (stop_n, stop_a), to look only at a trunk's earlier keys. */
static bool trunk_has_key(const json_t *t, const char *num, const char *allow,
                          size_t stop_n, size_t stop_a)
{
	const json_t *nums = jarr(t, "numbers");
	const json_t *allowed = jarr(t, "allowedNumbers");

	for (size_t i = 0; i < dim_len(nums); i++) {
		if (!norm_eq(dim_get(nums, i), num))
			continue;
		for (size_t j = 0; j < dim_len(allowed); j++) {
			if (i == stop_n && j == stop_a)
				return false;
			if (norm_eq(dim_get(allowed, j), allow))
				return true;
		}
		if (i == stop_n)
			return false;
	}
	return false;
}

/* The trunk that already holds obj's key (number i, allowed number j): an
 * existing one other than obj's own id, or obj itself when the key repeats
 * one of its earlier keys. */
static const json_t *trunk_conflict(const json_t *existing, const json_t *obj,
                                    size_t i, size_t j)
{
	const char *id = jstr(obj, "sipTrunkId");
	const char *num = dim_get(jarr(obj, "numbers"), i);
	const char *allow = dim_get(jarr(obj, "allowedNumbers"), j);

	for (size_t k = 0; k < json_array_size(existing); k++) {
		const json_t *t = json_array_get(existing, k);
		if (!json_is_object(t) ||
		    (*id && strcmp(jstr(t, "sipTrunkId"), id) == 0))
			continue;
		if (trunk_has_key(t, num, allow, SIZE_MAX, SIZE_MAX))
			return t;
	}
	if (trunk_has_key(obj, num, allow, i, j))
		return obj;
	return NULL;
}

int routing_check_inbound_trunk(const json_t *existing, const json_t *obj,
                                const char **why)
{
	const char *id = jstr(obj, "sipTrunkId");
	const json_t *nums = jarr(obj, "numbers");
	const json_t *allowed = jarr(obj, "allowedNumbers");
	bool has_auth =
	    *jstr(obj, "authUsername") || *jstr(obj, "authPassword");

	if (why)
		*why = NULL;
	if (!has_auth && !jarr(obj, "allowedAddresses") && !nums) {
		if (why)
			*why = "for security, one of the fields must be set: "
			       "AuthUsername+AuthPassword, AllowedAddresses or "
			       "Numbers";
		return EINVAL;
	}
	for (size_t i = 0; i < dim_len(nums); i++) {
		for (size_t j = 0; j < dim_len(allowed); j++) {
			const char *allow = dim_get(allowed, j);
			const json_t *other =
			    trunk_conflict(existing, obj, i, j);
			struct sbuf b;

			if (!other)
				continue;
			b = why_begin();
			sb_puts(&b, "Conflicting inbound SIP Trunks: ");
			sb_quote(&b, print_id(id));
			sb_puts(&b, " and ");
			sb_quote(&b, print_id(jstr(other, "sipTrunkId")));
			sb_puts(&b, ", using the same number(s) ");
			sb_numbers(&b, nums);
			if (!allowed) {
				sb_puts(&b, " without AllowedNumbers set");
			} else {
				sb_puts(&b, " and AllowedNumber ");
				sb_quote(&b, allow);
			}
			if (why)
				*why = why_buf;
			return EINVAL;
		}
	}
	return 0;
}

/* Does rule r own the key (pin, trunk, inbound number, number)? Stops
 * before index (st, si, sn), to look only at a rule's earlier keys. */
static bool rule_has_key(const json_t *r, const char *pin, const char *trunk,
                         const char *in_num, const char *num, size_t st,
                         size_t si, size_t sn)
{
	const json_t *trunks = jarr(r, "trunkIds");
	const json_t *in_nums = jarr(r, "inboundNumbers");
	const json_t *nums = jarr(r, "numbers");
	const char *room, *rpin;

	if (rule_kind(r, NULL, &room, &rpin) == KIND_NONE)
		return false;
	for (size_t t = 0; t < dim_len(trunks); t++) {
		for (size_t i = 0; i < dim_len(in_nums); i++) {
			for (size_t n = 0; n < dim_len(nums); n++) {
				if (t == st && i == si && n == sn)
					return false;
				if (strcmp(rpin, pin) == 0 &&
				    strcmp(dim_get(trunks, t), trunk) == 0 &&
				    norm_eq(dim_get(in_nums, i), in_num) &&
				    norm_eq(dim_get(nums, n), num))
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
	const char *id = jstr(obj, "sipDispatchRuleId");
	const char *trunk = dim_get(jarr(obj, "trunkIds"), t);
	const char *in_num = dim_get(jarr(obj, "inboundNumbers"), i);
	const char *num = dim_get(jarr(obj, "numbers"), n);

	for (size_t k = 0; k < json_array_size(existing); k++) {
		const json_t *r = json_array_get(existing, k);
		if (!json_is_object(r) ||
		    (*id && strcmp(jstr(r, "sipDispatchRuleId"), id) == 0))
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
	    jarr(json_object_get(rule, "roomConfig"), "agents");
	const char *s = jstr(json_array_get(agents, 0), "agentName");
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
	size_t nt = dim_len(jarr(obj, "trunkIds"));
	size_t ni = dim_len(jarr(obj, "inboundNumbers"));
	size_t nn = dim_len(jarr(obj, "numbers"));
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
				struct sbuf b;

				if (!other)
					continue;
				name = jstr(other, "name");
				b = why_begin();
				sb_puts(&b, "Dispatch rule for the same trunk, "
				            "inbound number, number, and PIN "
				            "combination already exists in "
				            "dispatch rule ");
				sb_quote(&b, print_id(jstr(
				                 other, "sipDispatchRuleId")));
				sb_putc(&b, ' ');
				sb_quote(&b, *name ? name : "<blank name>");
				if (why)
					*why = why_buf;
				return EINVAL;
			}
		}
	}
	return 0;
}
