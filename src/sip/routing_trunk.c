/*
 * Inbound trunks (routing.h): numbers normalised and compared, the
 * INVITE's source address against allowedAddresses, the trunk an INVITE
 * matches (MatchTrunkDetailed) and a new trunk's conflicts with the stored
 * ones (ValidateTrunksIter). Apart from routing.c, which picks the
 * dispatch rule and names the room, because a trunk is matched on the
 * call's addresses and numbers alone, before any rule is looked at.
 * routing.c's header says where this differs from LiveKit; its `why`
 * messages are the same thread-local buffer.
 */
#include "sip/routing.h"
#include "sip/routing_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
	struct routing_sbuf b = {out, outsz, 0};

	if (!outsz)
		return;
	out[0] = '\0';
	in = routing_nz(in);
	if (!number_like(in)) {
		routing_sb_puts(&b, in);
		return;
	}
	/* Stripping space - ( ) leaves "+digits" or "digits"; either way the
	 * result is "+" and the digits. */
	routing_sb_putc(&b, '+');
	for (; *in; in++) {
		if (*in >= '0' && *in <= '9')
			routing_sb_putc(&b, *in);
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
bool routing_norm_eq(const char *a, const char *b)
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
	const json_t *masks = routing_jarr(trunk, "allowedAddresses");

	for (size_t i = 0; i < json_array_size(masks); i++) {
		if (valid_mask(routing_arr_str(masks, i)))
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
		const char *m = routing_arr_str(masks, i);
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
		const char *a = routing_arr_str(allowed, i);
		if (strcmp(num, a) == 0 || routing_norm_eq(num, a))
			return true;
	}
	return false;
}

/* ---- trunk matching ----------------------------------------------------- */

int routing_match_trunk(const json_t *trunks, const struct routing_call *call,
                        const json_t **trunkp, const char **why)
{
	const json_t *selected = NULL, *deflt = NULL;
	const char *to = routing_nz(call->to_user),
	           *from = routing_nz(call->from_user);
	size_t ndefault = 0;

	*trunkp = NULL;
	if (why)
		*why = NULL;
	for (size_t i = 0; i < json_array_size(trunks); i++) {
		const json_t *tr = json_array_get(trunks, i);
		const json_t *allowed_nums, *masks, *numbers;

		if (!json_is_object(tr))
			continue;
		allowed_nums = routing_jarr(tr, "allowedNumbers");
		if (allowed_nums && !match_numbers(from, allowed_nums))
			continue;
		masks = routing_jarr(tr, "allowedAddresses");
		if (masks && !match_addr_masks(call, masks))
			continue;
		numbers = routing_jarr(tr, "numbers");
		if (!numbers) {
			deflt = deflt ? deflt : tr;
			ndefault++;
			continue;
		}
		if (!match_numbers(to, numbers))
			continue;
		if (selected) {
			struct routing_sbuf b = routing_why_begin();
			routing_sb_puts(&b, "Multiple SIP Trunks matched for ");
			routing_sb_quote(&b, to);
			if (why)
				*why = routing_why_buf;
			return EEXIST;
		}
		selected = tr;
	}
	if (selected) {
		*trunkp = selected;
		return 0;
	}
	if (ndefault > 1) {
		struct routing_sbuf b = routing_why_begin();
		routing_sb_puts(&b, "Multiple default SIP Trunks matched for ");
		routing_sb_quote(&b, to);
		if (why)
			*why = routing_why_buf;
		return EEXIST;
	}
	*trunkp = deflt;
	return 0;
}

/* printNumbers: <any>, or Go's %q of a []string: ["a" "b"]. */
static void sb_numbers(struct routing_sbuf *b, const json_t *numbers)
{
	if (!numbers) {
		routing_sb_puts(b, "<any>");
		return;
	}
	routing_sb_putc(b, '[');
	for (size_t i = 0; i < json_array_size(numbers); i++) {
		if (i)
			routing_sb_putc(b, ' ');
		routing_sb_quote(b, routing_arr_str(numbers, i));
	}
	routing_sb_putc(b, ']');
}

/* Does trunk t own the key (number, allowed number)? Stops before
 * (stop_n, stop_a), to look only at a trunk's earlier keys. */
static bool trunk_has_key(const json_t *t, const char *num, const char *allow,
                          size_t stop_n, size_t stop_a)
{
	const json_t *nums = routing_jarr(t, "numbers");
	const json_t *allowed = routing_jarr(t, "allowedNumbers");

	for (size_t i = 0; i < routing_dim_len(nums); i++) {
		if (!routing_norm_eq(routing_dim_get(nums, i), num))
			continue;
		for (size_t j = 0; j < routing_dim_len(allowed); j++) {
			if (i == stop_n && j == stop_a)
				return false;
			if (routing_norm_eq(routing_dim_get(allowed, j), allow))
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
	const char *id = routing_jstr(obj, "sipTrunkId");
	const char *num = routing_dim_get(routing_jarr(obj, "numbers"), i);
	const char *allow =
	    routing_dim_get(routing_jarr(obj, "allowedNumbers"), j);

	for (size_t k = 0; k < json_array_size(existing); k++) {
		const json_t *t = json_array_get(existing, k);
		if (!json_is_object(t) ||
		    (*id && strcmp(routing_jstr(t, "sipTrunkId"), id) == 0))
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
	const char *id = routing_jstr(obj, "sipTrunkId");
	const json_t *nums = routing_jarr(obj, "numbers");
	const json_t *allowed = routing_jarr(obj, "allowedNumbers");
	bool has_auth = *routing_jstr(obj, "authUsername") ||
	                *routing_jstr(obj, "authPassword");

	if (why)
		*why = NULL;
	if (!has_auth && !routing_jarr(obj, "allowedAddresses") && !nums) {
		if (why)
			*why = "for security, one of the fields must be set: "
			       "AuthUsername+AuthPassword, AllowedAddresses or "
			       "Numbers";
		return EINVAL;
	}
	for (size_t i = 0; i < routing_dim_len(nums); i++) {
		for (size_t j = 0; j < routing_dim_len(allowed); j++) {
			const char *allow = routing_dim_get(allowed, j);
			const json_t *other =
			    trunk_conflict(existing, obj, i, j);
			struct routing_sbuf b;

			if (!other)
				continue;
			b = routing_why_begin();
			routing_sb_puts(&b, "Conflicting inbound SIP Trunks: ");
			routing_sb_quote(&b, routing_print_id(id));
			routing_sb_puts(&b, " and ");
			routing_sb_quote(&b, routing_print_id(routing_jstr(
			                         other, "sipTrunkId")));
			routing_sb_puts(&b, ", using the same number(s) ");
			sb_numbers(&b, nums);
			if (!allowed) {
				routing_sb_puts(&b,
				                " without AllowedNumbers set");
			} else {
				routing_sb_puts(&b, " and AllowedNumber ");
				routing_sb_quote(&b, allow);
			}
			if (why)
				*why = routing_why_buf;
			return EINVAL;
		}
	}
	return 0;
}

int routing_media_encryption(const json_t *obj, enum sdes_policy *p)
{
	const json_t *v = json_object_get(obj, "mediaEncryption");

	*p = SDES_DISABLE;
	if (!v || json_is_null(v))
		v = json_object_get(json_object_get(obj, "media"),
		                    "encryption");
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return sdes_policy_by_name(json_string_value(v), p);
	if (json_is_integer(v) && json_integer_value(v) >= SDES_DISABLE &&
	    json_integer_value(v) <= SDES_REQUIRE) {
		*p = (enum sdes_policy)json_integer_value(v);
		return 0;
	}
	return EINVAL;
}
