/*
 * Inbound routing as LiveKit SIP does it: number normalisation, trunk and
 * dispatch rule matching, room and participant naming, the create-time
 * checks with their exact messages, and the external bot a rule names.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "sip/routing.h"
#include "test.h"

/* JSON from a literal with ' for " (kept until exit, freed in main). */
static json_t *pool[256];
static size_t pool_n;

static json_t *J(const char *lit)
{
	char buf[4096];
	json_error_t jerr;
	json_t *v;
	size_t i;

	for (i = 0; lit[i] && i + 1 < sizeof(buf); i++)
		buf[i] = lit[i] == '\'' ? '"' : lit[i];
	buf[i] = '\0';
	v = json_loads(buf, 0, &jerr);
	if (!v) {
		fprintf(stderr, "bad test JSON: %s: %s\n", buf, jerr.text);
		abort();
	}
	if (pool_n < sizeof(pool) / sizeof(pool[0]))
		pool[pool_n++] = v;
	return v;
}

static const char *id_of(const json_t *obj, const char *key)
{
	return obj ? json_string_value(json_object_get(obj, key)) : "(none)";
}

static const char *trunk_id(const json_t *t)
{
	return id_of(t, "sipTrunkId");
}

static const char *rule_id(const json_t *r)
{
	return id_of(r, "sipDispatchRuleId");
}

static struct routing_call call_of(const char *from, const char *to,
                                   const char *src)
{
	struct routing_call c = {from, to, src, NULL, NULL, NULL};
	return c;
}

/* ---- normalisation ------------------------------------------------------ */

TEST(normalize_table)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"+1 (555) 123-4567", "+15551234567"},
	    {"15551234567", "+15551234567"},
	    {"+15551234567", "+15551234567"},
	    {"555-1234", "+5551234"},
	    {" 1 ", "+1"},
	    {"()", "+"},
	    {"", ""},
	    {"alice", "alice"},
	    {"+1555abc", "+1555abc"},
	    {"1+555", "1+555"},
	    {"++1", "++1"},
	    {"+", "+"},
	    {"1.555.123", "1.555.123"},
	    {"sip:+1555", "sip:+1555"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		routing_normalize_number(cases[i].in, out, sizeof(out));
		CHECK_STR(out, cases[i].out);
	}
	routing_normalize_number("+1 555 123 4567", out, 5);
	CHECK_STR(out, "+155");
	routing_normalize_number("alice", out, 3);
	CHECK_STR(out, "al");
	return 0;
}

/* ---- trunks ------------------------------------------------------------- */

TEST(trunk_by_number)
{
	json_t *trunks =
	    J("[{'sipTrunkId':'ST_a','numbers':['+15550001111']},"
	      " {'sipTrunkId':'ST_b','numbers':['+1 555 000 2222']}]");
	struct routing_call c =
	    call_of("+15551234567", "15550002222", "1.2.3.4");
	const json_t *t = NULL;
	const char *why = "x";

	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_b");
	CHECK(why == NULL);
	c.to_user = "+1 (555) 000-1111";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_a");
	c.to_user = "+15550003333";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	return 0;
}

TEST(trunk_by_caller)
{
	json_t *trunks =
	    J("[{'sipTrunkId':'ST_a','allowedNumbers':['+15551230000']},"
	      " {'sipTrunkId':'ST_b','allowedNumbers':['15559990000']}]");
	struct routing_call c = call_of("+1 555 123 0000", "100", "1.2.3.4");
	const json_t *t = NULL;
	const char *why;

	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_a");
	c.from_user = "+15559990000";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_b");
	c.from_user = "+15550000000";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	return 0;
}

static const char *match_src(const json_t *trunks, const char *src)
{
	struct routing_call c = call_of("+15551234567", "+15550001111", src);
	const json_t *t = NULL;
	const char *why;

	if (routing_match_trunk(trunks, &c, &t, &why) != 0)
		return "(error)";
	return t ? trunk_id(t) : "(none)";
}

TEST(trunk_by_cidr_v4)
{
	json_t *trunks =
	    J("[{'sipTrunkId':'ST_net','numbers':['+15550001111'],"
	      "   'allowedAddresses':['10.0.0.0/8','192.168.4.0/22']},"
	      " {'sipTrunkId':'ST_ip','numbers':['+15550001111'],"
	      "   'allowedAddresses':['203.0.113.7']}]");

	CHECK_STR(match_src(trunks, "10.1.2.3"), "ST_net");
	CHECK_STR(match_src(trunks, "192.168.7.255"), "ST_net");
	CHECK_STR(match_src(trunks, "192.168.4.0"), "ST_net");
	CHECK_STR(match_src(trunks, "192.168.8.0"), "(none)");
	CHECK_STR(match_src(trunks, "11.0.0.1"), "(none)");
	CHECK_STR(match_src(trunks, "203.0.113.7"), "ST_ip");
	CHECK_STR(match_src(trunks, "203.0.113.8"), "(none)");
	/* A dual-stack socket's view of an IPv4 peer. */
	CHECK_STR(match_src(trunks, "::ffff:10.9.9.9"), "ST_net");
	/* No usable source address: nothing matches. */
	CHECK_STR(match_src(trunks, NULL), "(none)");
	CHECK_STR(match_src(trunks, "garbage"), "(none)");

	json_t *edge =
	    J("[{'sipTrunkId':'ST_all','allowedAddresses':['0.0.0.0/0']},"
	      " {'sipTrunkId':'ST_one','numbers':['+15550001111'],"
	      "   'allowedAddresses':['1.2.3.4/32','1.2.3.0/33']}]");
	CHECK_STR(match_src(edge, "1.2.3.4"), "ST_one");
	CHECK_STR(match_src(edge, "1.2.3.5"), "ST_all");
	CHECK_STR(match_src(edge, "2001:db8::1"), "(none)");
	/* As in LiveKit, malformed entries (a list in one string) are
	 * ignored, and a list of only those restricts nothing. */
	json_t *bad = J("[{'sipTrunkId':'ST_bad','numbers':['+15550001111'],"
	                "  'allowedAddresses':['1.2.3.4, 5.6.7.8']}]");
	CHECK_STR(match_src(bad, "9.9.9.9"), "ST_bad");
	return 0;
}

TEST(trunk_by_cidr_v6)
{
	json_t *trunks =
	    J("[{'sipTrunkId':'ST_v6','numbers':['+15550001111'],"
	      "   'allowedAddresses':['2001:db8::/32','::1','fe80::/10']}]");

	CHECK_STR(match_src(trunks, "2001:db8:1::5"), "ST_v6");
	CHECK_STR(match_src(trunks, "2001:db9::1"), "(none)");
	CHECK_STR(match_src(trunks, "::1"), "ST_v6");
	CHECK_STR(match_src(trunks, "::2"), "(none)");
	CHECK_STR(match_src(trunks, "febf::1"), "ST_v6");
	CHECK_STR(match_src(trunks, "fec0::1"), "(none)");
	CHECK_STR(match_src(trunks, "32.1.13.184"), "(none)");
	return 0;
}

/* A stand-in for DNS: pbx.carrier.example has 198.51.100.7 and
 * 2001:db8::7; every other name has nothing. */
static unsigned fake_dns_asked;

static bool fake_dns(const char *name, const char *ip, void *arg)
{
	(void)arg;
	fake_dns_asked++;
	return !strcmp(name, "pbx.carrier.example") &&
	       (!strcmp(ip, "198.51.100.7") || !strcmp(ip, "2001:db8::7"));
}

/* The From host is written by the caller: it never satisfies an entry,
 * whether the entry is an address or a name. */
TEST(trunk_not_by_from_host)
{
	json_t *trunks = J("[{'sipTrunkId':'ST_ip','numbers':['+15550001111'],"
	                   "   'allowedAddresses':['203.0.113.7']},"
	                   " {'sipTrunkId':'ST_net','numbers':['+15550002222'],"
	                   "   'allowedAddresses':['203.0.113.0/24']},"
	                   " {'sipTrunkId':'ST_h','numbers':['+15550003333'],"
	                   "   'allowedAddresses':['sip.carrier.example']}]");
	struct routing_call c =
	    call_of("+15551234567", "+15550001111", "198.51.100.1");
	const json_t *t = NULL;
	const char *why;

	/* routing_call has no From host: that is the fix. What an INVITE
	 * from 198.51.100.1 claiming "From: <sip:x@203.0.113.7>" reaches is
	 * what the source address reaches, and nothing else. */
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	c.to_user = "+15550002222";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	c.to_user = "+15550003333";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	/* No resolver: a name entry matches nothing, not even its own
	 * addresses. */
	c.src_ip = "203.0.113.7";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	c.to_user = "+15550001111";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_ip");
	return 0;
}

TEST(trunk_by_host_name)
{
	json_t *trunks =
	    J("[{'sipTrunkId':'ST_h','numbers':['+15550001111'],"
	      "   'allowedAddresses':['10.0.0.0/8','pbx.carrier.example']}]");
	struct routing_call c =
	    call_of("+15551234567", "+15550001111", "198.51.100.7");
	const json_t *t = NULL;
	const char *why;

	c.host_match = fake_dns;
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_h");
	c.src_ip = "2001:db8::7";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_h");
	/* The name's address as a dual-stack socket shows it. */
	c.src_ip = "::ffff:198.51.100.7";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_h");
	c.src_ip = "198.51.100.8";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	/* No source address: DNS is not even asked. */
	fake_dns_asked = 0;
	c.src_ip = NULL;
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	CHECK_EQ(fake_dns_asked, 0);
	return 0;
}

TEST(addr_is_host)
{
	CHECK(routing_addr_is_host("pbx.carrier.example"));
	CHECK(routing_addr_is_host("localhost"));
	CHECK(routing_addr_is_host("sip-1.example.com."));
	CHECK(!routing_addr_is_host("203.0.113.7"));
	CHECK(!routing_addr_is_host("2001:db8::1"));
	CHECK(!routing_addr_is_host("[2001:db8::1]"));
	CHECK(!routing_addr_is_host("10.0.0.0/8"));
	CHECK(!routing_addr_is_host("1.2.3.4, 5.6.7.8"));
	CHECK(!routing_addr_is_host("sip://pbx.example"));
	CHECK(!routing_addr_is_host("pbx_1.example"));
	CHECK(!routing_addr_is_host("1.2.3"));
	CHECK(!routing_addr_is_host(""));
	CHECK(!routing_addr_is_host(NULL));
	return 0;
}

TEST(trunk_specific_beats_default)
{
	json_t *a = J("[{'sipTrunkId':'ST_def','authUsername':'u'},"
	              " {'sipTrunkId':'ST_spec','numbers':['+15550001111']}]");
	json_t *b = J("[{'sipTrunkId':'ST_spec','numbers':['+15550001111']},"
	              " {'sipTrunkId':'ST_def','authUsername':'u'}]");
	struct routing_call c =
	    call_of("+15551234567", "+15550001111", "1.2.3.4");
	const json_t *t = NULL;
	const char *why;

	CHECK_EQ(routing_match_trunk(a, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_spec");
	CHECK_EQ(routing_match_trunk(b, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_spec");
	c.to_user = "+15550009999";
	CHECK_EQ(routing_match_trunk(a, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_def");
	return 0;
}

TEST(trunk_conflicts)
{
	json_t *two_spec =
	    J("[{'sipTrunkId':'ST_1','numbers':['+15550001111']},"
	      " {'sipTrunkId':'ST_2','numbers':['1 555 000 1111']}]");
	json_t *two_def = J("[{'sipTrunkId':'ST_1','authUsername':'a'},"
	                    " {'sipTrunkId':'ST_2','authUsername':'b'}]");
	json_t *spec_and_defs =
	    J("[{'sipTrunkId':'ST_1','authUsername':'a'},"
	      " {'sipTrunkId':'ST_2','authUsername':'b'},"
	      " {'sipTrunkId':'ST_3','numbers':['+15550001111']}]");
	/* One trunk listing the number in two spellings is one match. */
	json_t *dup = J("[{'sipTrunkId':'ST_1',"
	                "  'numbers':['+15550001111','15550001111']}]");
	struct routing_call c =
	    call_of("+15551234567", "+15550001111", "1.2.3.4");
	const json_t *t = (const json_t *)1;
	const char *why = NULL;

	CHECK_EQ(routing_match_trunk(two_spec, &c, &t, &why), EEXIST);
	CHECK(t == NULL);
	CHECK(why != NULL);
	CHECK_STR(why, "Multiple SIP Trunks matched for \"+15550001111\"");
	CHECK_EQ(routing_match_trunk(two_def, &c, &t, &why), EEXIST);
	CHECK_STR(why,
	          "Multiple default SIP Trunks matched for \"+15550001111\"");
	CHECK_EQ(routing_match_trunk(spec_and_defs, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_3");
	CHECK_EQ(routing_match_trunk(dup, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_1");
	return 0;
}

TEST(trunk_allowed_numbers_exclude)
{
	json_t *trunks = J("[{'sipTrunkId':'ST_vip','numbers':['+15550001111'],"
	                   "   'allowedNumbers':['+15551111111']},"
	                   " {'sipTrunkId':'ST_def','authUsername':'u'}]");
	struct routing_call c =
	    call_of("+15552222222", "+15550001111", "1.2.3.4");
	const json_t *t = NULL;
	const char *why;

	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_def");
	c.from_user = "1-555-111-1111";
	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK_STR(trunk_id(t), "ST_vip");
	return 0;
}

TEST(trunk_none)
{
	json_t *trunks = J("[{'sipTrunkId':'ST_a','numbers':['+15550001111'],"
	                   "  'allowedAddresses':['10.0.0.0/8']}]");
	json_t *empty = J("[]");
	struct routing_call c =
	    call_of("+15551234567", "+15550009999", "1.2.3.4");
	const json_t *t = (const json_t *)1;
	const char *why;

	CHECK_EQ(routing_match_trunk(trunks, &c, &t, &why), 0);
	CHECK(t == NULL);
	t = (const json_t *)1;
	CHECK_EQ(routing_match_trunk(empty, &c, &t, &why), 0);
	CHECK(t == NULL);
	t = (const json_t *)1;
	CHECK_EQ(routing_match_trunk(NULL, &c, &t, &why), 0);
	CHECK(t == NULL);
	return 0;
}

/* ---- dispatch rules ----------------------------------------------------- */

static const char *pick(const json_t *rules, const char *trunk,
                        const char *from, const char *to, const char *pin,
                        bool *needs_pin)
{
	struct routing_call c = call_of(from, to, "1.2.3.4");
	const json_t *r = NULL;
	bool np = false;

	c.pin = pin;
	if (routing_match_rule(rules, trunk, &c, &r, &np) != 0)
		return "(error)";
	if (needs_pin)
		*needs_pin = np;
	return r ? rule_id(r) : "(none)";
}

#define A "+15551234567" /* caller */
#define B "+15550001111" /* called */

TEST(rule_priorities)
{
	json_t *kinds = J(
	    "[{'sipDispatchRuleId':'callee','rule':{'dispatchRuleCallee':{}}},"
	    " {'sipDispatchRuleId':'indiv','rule':{'dispatchRuleIndividual':{}}"
	    "},"
	    " {'sipDispatchRuleId':'direct','rule':{'dispatchRuleDirect':"
	    "   {'roomName':'r'}}}]");
	/* direct, no filters: 2100; callee for the number: 1102;
	 * individual for caller and number: 101. */
	json_t *filters =
	    J("[{'sipDispatchRuleId':'direct','rule':{'dispatchRuleDirect':"
	      "   {'roomName':'r'}}},"
	      " {'sipDispatchRuleId':'callee','numbers':['" B "'],"
	      "   'rule':{'dispatchRuleCallee':{}}},"
	      " {'sipDispatchRuleId':'indiv','numbers':['" B "'],"
	      "   'inboundNumbers':['" A "'],"
	      "   'rule':{'dispatchRuleIndividual':{}}}]");
	json_t *ties =
	    J("[{'sipDispatchRuleId':'b','rule':{'dispatchRuleDirect':"
	      "   {'roomName':'b-room'}}},"
	      " {'sipDispatchRuleId':'a','rule':{'dispatchRuleDirect':"
	      "   {'roomName':'a-room'}}},"
	      " {'sipDispatchRuleId':'c','rule':{'dispatchRuleDirect':"
	      "   {'roomName':'c-room'}}}]");
	json_t *prefix_tie =
	    J("[{'sipDispatchRuleId':'z','rule':{'dispatchRuleIndividual':"
	      "   {'roomPrefix':'zz'}}},"
	      " {'sipDispatchRuleId':'y','rule':{'dispatchRuleIndividual':"
	      "   {'roomPrefix':'yy'}}}]");

	CHECK_STR(pick(kinds, NULL, A, B, NULL, NULL), "direct");
	CHECK_STR(pick(filters, NULL, A, B, NULL, NULL), "indiv");
	CHECK_STR(pick(filters, NULL, "+15559999999", B, NULL, NULL), "callee");
	CHECK_STR(pick(filters, NULL, A, "+15550002222", NULL, NULL), "direct");
	CHECK_STR(pick(ties, NULL, A, B, NULL, NULL), "a");
	CHECK_STR(pick(prefix_tie, NULL, A, B, NULL, NULL), "y");
	return 0;
}

TEST(rule_pin)
{
	json_t *both = J(
	    "[{'sipDispatchRuleId':'secret','rule':{'dispatchRuleDirect':"
	    "   {'roomName':'s','pin':'1234'}}},"
	    " {'sipDispatchRuleId':'open','rule':{'dispatchRuleCallee':{}}}]");
	json_t *pinned =
	    J("[{'sipDispatchRuleId':'secret','rule':{'dispatchRuleDirect':"
	      "   {'roomName':'s','pin':'1234'}}},"
	      " {'sipDispatchRuleId':'secret2','rule':{'dispatchRuleCallee':"
	      "   {'pin':'5678'}}}]");
	json_t *other_trunk =
	    J("[{'sipDispatchRuleId':'secret','trunkIds':['ST_x'],"
	      "   'rule':{'dispatchRuleDirect':{'roomName':'s','pin':'1'}}}]");
	bool np = true;

	/* No PIN: open rules only, no PIN asked for. */
	CHECK_STR(pick(both, NULL, A, B, NULL, &np), "open");
	CHECK(!np);
	CHECK_STR(pick(both, NULL, A, B, "", &np), "open");
	CHECK(!np);
	/* A PIN: only the rule with that PIN. */
	CHECK_STR(pick(both, NULL, A, B, "1234", &np), "secret");
	CHECK(!np);
	CHECK_STR(pick(both, NULL, A, B, "9999", &np), "(none)");
	CHECK(!np);
	CHECK_STR(pick(pinned, NULL, A, B, "5678", &np), "secret2");
	/* Only pinned rules would match: ask for one. */
	CHECK_STR(pick(pinned, NULL, A, B, NULL, &np), "(none)");
	CHECK(np);
	/* A pinned rule for another trunk does not count. */
	CHECK_STR(pick(other_trunk, "ST_y", A, B, NULL, &np), "(none)");
	CHECK(!np);
	CHECK_STR(pick(other_trunk, "ST_x", A, B, NULL, &np), "(none)");
	CHECK(np);
	/* needs_pin may be NULL. */
	struct routing_call c = call_of(A, B, "1.2.3.4");
	const json_t *r = (const json_t *)1;
	CHECK_EQ(routing_match_rule(pinned, NULL, &c, &r, NULL), 0);
	CHECK(r == NULL);
	return 0;
}

TEST(rule_specific_vs_wildcard)
{
	/* The wildcard has the better priority (101 vs 2102) but the
	 * specific rule names the trunk. */
	json_t *rules =
	    J("[{'sipDispatchRuleId':'wild','numbers':['" B "'],"
	      "   'inboundNumbers':['" A "'],"
	      "   'rule':{'dispatchRuleIndividual':{}}},"
	      " {'sipDispatchRuleId':'spec','trunkIds':['ST_a','ST_b'],"
	      "   'rule':{'dispatchRuleCallee':{}}}]");
	json_t *only_specific =
	    J("[{'sipDispatchRuleId':'spec','trunkIds':['ST_a'],"
	      "   'rule':{'dispatchRuleCallee':{}}}]");

	CHECK_STR(pick(rules, "ST_a", A, B, NULL, NULL), "spec");
	CHECK_STR(pick(rules, "ST_b", A, B, NULL, NULL), "spec");
	CHECK_STR(pick(rules, "ST_c", A, B, NULL, NULL), "wild");
	/* No trunk matched: wildcards only. */
	CHECK_STR(pick(rules, NULL, A, B, NULL, NULL), "wild");
	CHECK_STR(pick(only_specific, NULL, A, B, NULL, NULL), "(none)");
	CHECK_STR(pick(only_specific, "ST_a", A, B, NULL, NULL), "spec");
	return 0;
}

TEST(rule_number_filters)
{
	json_t *rules =
	    J("[{'sipDispatchRuleId':'caller','inboundNumbers':['" A "'],"
	      "   'rule':{'dispatchRuleDirect':{'roomName':'r1'}}},"
	      " {'sipDispatchRuleId':'called','numbers':['" B "'],"
	      "   'rule':{'dispatchRuleDirect':{'roomName':'r2'}}}]");

	/* caller (1100) vs called (1100): tie on room name. */
	CHECK_STR(pick(rules, NULL, A, B, NULL, NULL), "caller");
	CHECK_STR(pick(rules, NULL, "+15559999999", B, NULL, NULL), "called");
	CHECK_STR(pick(rules, NULL, A, "+15550002222", NULL, NULL), "caller");
	/* Exact strings, not normalised. */
	CHECK_STR(pick(rules, NULL, "15551234567", "15550001111", NULL, NULL),
	          "(none)");
	CHECK_STR(pick(J("[]"), NULL, A, B, NULL, NULL), "(none)");
	CHECK_STR(pick(NULL, NULL, A, B, NULL, NULL), "(none)");
	/* A rule of no known kind is skipped. */
	CHECK_STR(pick(J("[{'sipDispatchRuleId':'bad','rule':{}}]"), NULL, A, B,
	               NULL, NULL),
	          "(none)");
	return 0;
}

/* ---- naming ------------------------------------------------------------- */

static bool guid_ok(const char *s)
{
	static const char alphabet[] =
	    "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

	if (strlen(s) != 12)
		return false;
	for (; *s; s++) {
		if (!strchr(alphabet, *s))
			return false;
	}
	return true;
}

TEST(room_names)
{
	struct routing_call c = call_of(A, B, "1.2.3.4");
	char room[128], room2[128];

	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleDirect':"
	                             "{'roomName':'lobby','pin':'1'}}}"),
	                           &c, room, sizeof(room)),
	         0);
	CHECK_STR(room, "lobby");

	/* Individual: prefix_from_guid12. */
	json_t *ind =
	    J("{'rule':{'dispatchRuleIndividual':{'roomPrefix':'call'}}}");
	CHECK_EQ(routing_room_name(ind, &c, room, sizeof(room)), 0);
	CHECK_EQ(strlen(room), strlen("call_" A "_") + 12);
	CHECK(strncmp(room, "call_" A "_", strlen("call_" A "_")) == 0);
	CHECK(guid_ok(room + strlen("call_" A "_")));
	CHECK_EQ(routing_room_name(ind, &c, room2, sizeof(room2)), 0);
	CHECK(strcmp(room, room2) != 0);

	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleIndividual':{}}}"),
	                           &c, room, sizeof(room)),
	         0);
	CHECK_EQ(strlen(room), strlen(A "_") + 12);
	CHECK(strncmp(room, A "_", strlen(A "_")) == 0);
	CHECK(guid_ok(room + strlen(A "_")));

	CHECK_EQ(
	    routing_room_name(J("{'rule':{'dispatchRuleIndividual':"
	                        "{'roomPrefix':'call','noRandomness':true}}}"),
	                      &c, room, sizeof(room)),
	    0);
	CHECK_STR(room, "call_" A);
	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleIndividual':"
	                             "{'noRandomness':true}}}"),
	                           &c, room, sizeof(room)),
	         0);
	CHECK_STR(room, A);
	/* The room shows what the participant shows: last 4 when hidden. */
	CHECK_EQ(
	    routing_room_name(J("{'hidePhoneNumber':true,"
	                        " 'rule':{'dispatchRuleIndividual':"
	                        "{'roomPrefix':'call','noRandomness':true}}}"),
	                      &c, room, sizeof(room)),
	    0);
	CHECK_STR(room, "call_4567");

	/* Callee: prefix_to, random only when asked. */
	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleCallee':"
	                             "{'roomPrefix':'c'}}}"),
	                           &c, room, sizeof(room)),
	         0);
	CHECK_STR(room, "c_" B);
	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleCallee':{}}}"), &c,
	                           room, sizeof(room)),
	         0);
	CHECK_STR(room, B);
	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleCallee':"
	                             "{'roomPrefix':'c','randomize':true}}}"),
	                           &c, room, sizeof(room)),
	         0);
	CHECK_EQ(strlen(room), strlen("c_" B "_") + 12);
	CHECK(strncmp(room, "c_" B "_", strlen("c_" B "_")) == 0);
	CHECK(guid_ok(room + strlen("c_" B "_")));
	return 0;
}

TEST(room_name_errors)
{
	struct routing_call c = call_of(A, B, "1.2.3.4");
	json_t *direct =
	    J("{'rule':{'dispatchRuleDirect':{'roomName':'lobby'}}}");
	char room[32];

	CHECK_EQ(routing_room_name(direct, &c, room, 5), ENOSPC);
	CHECK_EQ(routing_room_name(direct, &c, room, 6), 0);
	CHECK_STR(room, "lobby");
	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRuleIndividual':{}}}"),
	                           &c, room, strlen(A "_") + 12),
	         ENOSPC);
	CHECK_EQ(routing_room_name(J("{'rule':{}}"), &c, room, sizeof(room)),
	         EINVAL);
	CHECK_EQ(routing_room_name(J("{}"), &c, room, sizeof(room)), EINVAL);
	CHECK_EQ(routing_room_name(J("{'rule':{'dispatchRulePin':{}}}"), &c,
	                           room, sizeof(room)),
	         EINVAL);
	return 0;
}

TEST(participant)
{
	json_t *plain = J("{'rule':{'dispatchRuleCallee':{}}}");
	json_t *hidden =
	    J("{'hidePhoneNumber':true,'rule':{'dispatchRuleCallee':{}}}");
	char id[64], name[64];

	routing_participant(plain, A, id, sizeof(id), name, sizeof(name));
	CHECK_STR(id, "sip_" A);
	CHECK_STR(name, "Phone " A);
	routing_participant(hidden, A, id, sizeof(id), name, sizeof(name));
	CHECK_STR(id, "sip_8a59780bb8cd2ba0"); /* sha256("+15551234567")[:8] */
	CHECK_STR(name, "Phone 4567");
	routing_participant(hidden, "123", id, sizeof(id), name, sizeof(name));
	CHECK_EQ(strlen(id), 4 + 16);
	CHECK_STR(name, "Phone 3");
	routing_participant(hidden, "", id, sizeof(id), name, sizeof(name));
	CHECK_STR(name, "Phone ");
	/* Small buffers truncate. */
	routing_participant(plain, A, id, 6, name, 8);
	CHECK_STR(id, "sip_+");
	CHECK_STR(name, "Phone +");
	return 0;
}

/* ---- create-time checks ------------------------------------------------- */

TEST(check_trunk_security)
{
	json_t *none = J("[]");
	const char *why = NULL;

	CHECK_EQ(routing_check_inbound_trunk(none, J("{'name':'x'}"), &why),
	         EINVAL);
	CHECK(why != NULL);
	CHECK_STR(why,
	          "for security, one of the fields must be set: "
	          "AuthUsername+AuthPassword, AllowedAddresses or Numbers");
	CHECK_EQ(routing_check_inbound_trunk(
	             none, J("{'allowedNumbers':['+1555']}"), &why),
	         EINVAL);
	CHECK_EQ(
	    routing_check_inbound_trunk(none, J("{'authUsername':'u'}"), &why),
	    0);
	CHECK(why == NULL);
	CHECK_EQ(
	    routing_check_inbound_trunk(none, J("{'authPassword':'p'}"), &why),
	    0);
	CHECK_EQ(routing_check_inbound_trunk(
	             none, J("{'allowedAddresses':['1.2.3.4']}"), &why),
	         0);
	CHECK_EQ(
	    routing_check_inbound_trunk(none, J("{'numbers':['+1555']}"), &why),
	    0);
	return 0;
}

TEST(check_trunk_conflicts)
{
	json_t *existing =
	    J("[{'sipTrunkId':'ST_a','numbers':['+15550001111']},"
	      " {'sipTrunkId':'ST_b','numbers':['+15550002222'],"
	      "   'allowedNumbers':['+15551230000']},"
	      " {'sipTrunkId':'ST_d','authUsername':'u'}]");
	const char *why = NULL;

	CHECK_EQ(routing_check_inbound_trunk(
	             existing, J("{'numbers':['1 555 000 1111']}"), &why),
	         EINVAL);
	CHECK_STR(why, "Conflicting inbound SIP Trunks: \"<new>\" and "
	               "\"ST_a\", using the same number(s) [\"1 555 000 "
	               "1111\"] without AllowedNumbers set");
	/* Same number, but restricted to callers: another key. */
	CHECK_EQ(routing_check_inbound_trunk(
	             existing,
	             J("{'numbers':['+15550001111'],"
	               " 'allowedNumbers':['+15559999999']}"),
	             &why),
	         0);
	CHECK_EQ(routing_check_inbound_trunk(
	             existing,
	             J("{'numbers':['+15550002222','+15550003333'],"
	               " 'allowedNumbers':['+15550000000','1-555-123-0000']}"),
	             &why),
	         EINVAL);
	CHECK_STR(why,
	          "Conflicting inbound SIP Trunks: \"<new>\" and "
	          "\"ST_b\", using the same number(s) [\"+15550002222\" "
	          "\"+15550003333\"] and AllowedNumber \"1-555-123-0000\"");
	CHECK_EQ(routing_check_inbound_trunk(
	             existing, J("{'numbers':['+15550002222']}"), &why),
	         0);
	/* A second default trunk. */
	CHECK_EQ(routing_check_inbound_trunk(
	             existing, J("{'allowedAddresses':['1.2.3.4']}"), &why),
	         EINVAL);
	CHECK_STR(why, "Conflicting inbound SIP Trunks: \"<new>\" and "
	               "\"ST_d\", using the same number(s) <any> without "
	               "AllowedNumbers set");
	/* The trunk's own keys repeat. */
	CHECK_EQ(
	    routing_check_inbound_trunk(
	        J("[]"), J("{'numbers':['+15550004444','15550004444']}"), &why),
	    EINVAL);
	CHECK_STR(why, "Conflicting inbound SIP Trunks: \"<new>\" and "
	               "\"<new>\", using the same number(s) [\"+15550004444\" "
	               "\"15550004444\"] without AllowedNumbers set");
	return 0;
}

TEST(check_trunk_update_excludes_self)
{
	json_t *existing =
	    J("[{'sipTrunkId':'ST_a','numbers':['+15550001111']},"
	      " {'sipTrunkId':'ST_b','numbers':['+15550002222']}]");
	const char *why = NULL;

	CHECK_EQ(routing_check_inbound_trunk(
	             existing,
	             J("{'sipTrunkId':'ST_a','numbers':['+15550001111'],"
	               " 'name':'renamed'}"),
	             &why),
	         0);
	CHECK_EQ(routing_check_inbound_trunk(
	             existing,
	             J("{'sipTrunkId':'ST_a','numbers':['+15550002222']}"),
	             &why),
	         EINVAL);
	CHECK_STR(why, "Conflicting inbound SIP Trunks: \"ST_a\" and "
	               "\"ST_b\", using the same number(s) [\"+15550002222\"] "
	               "without AllowedNumbers set");
	return 0;
}

TEST(check_rule)
{
	json_t *existing =
	    J("[{'sipDispatchRuleId':'SDR_a','name':'main','trunkIds':['ST_1'],"
	      "   'rule':{'dispatchRuleDirect':{'roomName':'r'}}},"
	      " {'sipDispatchRuleId':'SDR_b','numbers':['+15550001111'],"
	      "   'rule':{'dispatchRuleCallee':{}}}]");
	const char *why = NULL;

	CHECK_EQ(routing_check_rule(existing, J("{'name':'x'}"), &why), EINVAL);
	CHECK_STR(why, "missing rule");
	CHECK_EQ(routing_check_rule(existing, J("{'rule':{}}"), &why), EINVAL);
	CHECK(why != NULL);

	CHECK_EQ(routing_check_rule(existing,
	                            J("{'trunkIds':['ST_1'],"
	                              " 'rule':{'dispatchRuleIndividual':{}}}"),
	                            &why),
	         EINVAL);
	CHECK_STR(why, "Dispatch rule for the same trunk, inbound number, "
	               "number, and PIN combination already exists in "
	               "dispatch rule \"SDR_a\" \"main\"");
	/* Normalised numbers; a blank name. */
	CHECK_EQ(routing_check_rule(existing,
	                            J("{'numbers':['1 555 000 1111'],"
	                              " 'rule':{'dispatchRuleDirect':{}}}"),
	                            &why),
	         EINVAL);
	CHECK_STR(why, "Dispatch rule for the same trunk, inbound number, "
	               "number, and PIN combination already exists in "
	               "dispatch rule \"SDR_b\" \"<blank name>\"");
	/* Other PIN, other trunk, wildcard vs specific, other caller. */
	CHECK_EQ(routing_check_rule(existing,
	                            J("{'trunkIds':['ST_1'],'rule':"
	                              "{'dispatchRuleDirect':{'pin':'12'}}}"),
	                            &why),
	         0);
	CHECK(why == NULL);
	CHECK_EQ(routing_check_rule(existing,
	                            J("{'trunkIds':['ST_2'],"
	                              " 'rule':{'dispatchRuleDirect':{}}}"),
	                            &why),
	         0);
	CHECK_EQ(routing_check_rule(
	             existing, J("{'rule':{'dispatchRuleDirect':{}}}"), &why),
	         0);
	CHECK_EQ(routing_check_rule(existing,
	                            J("{'numbers':['+15550001111'],"
	                              " 'inboundNumbers':['+15551234567'],"
	                              " 'rule':{'dispatchRuleDirect':{}}}"),
	                            &why),
	         0);
	/* Its own keys repeat. */
	CHECK_EQ(routing_check_rule(J("[]"),
	                            J("{'trunkIds':['ST_9','ST_9'],"
	                              " 'rule':{'dispatchRuleDirect':{}}}"),
	                            &why),
	         EINVAL);
	CHECK_STR(why, "Dispatch rule for the same trunk, inbound number, "
	               "number, and PIN combination already exists in "
	               "dispatch rule \"<new>\" \"<blank name>\"");
	return 0;
}

TEST(check_rule_update_excludes_self)
{
	json_t *existing = J(
	    "[{'sipDispatchRuleId':'SDR_a','name':'main','trunkIds':['ST_1'],"
	    "   'rule':{'dispatchRuleDirect':{'roomName':'r'}}},"
	    " {'sipDispatchRuleId':'SDR_c','name':'other','trunkIds':['ST_2'],"
	    "   'rule':{'dispatchRuleDirect':{'roomName':'r'}}}]");
	const char *why = NULL;

	CHECK_EQ(
	    routing_check_rule(existing,
	                       J("{'sipDispatchRuleId':'SDR_a',"
	                         " 'trunkIds':['ST_1'],'rule':"
	                         "{'dispatchRuleDirect':{'roomName':'x'}}}"),
	                       &why),
	    0);
	CHECK_EQ(
	    routing_check_rule(existing,
	                       J("{'sipDispatchRuleId':'SDR_a',"
	                         " 'trunkIds':['ST_1','ST_2'],'rule':"
	                         "{'dispatchRuleDirect':{'roomName':'x'}}}"),
	                       &why),
	    EINVAL);
	CHECK_STR(why, "Dispatch rule for the same trunk, inbound number, "
	               "number, and PIN combination already exists in "
	               "dispatch rule \"SDR_c\" \"other\"");
	return 0;
}

TEST(agent_url)
{
	const char *url = "x", *why = "x";
	static const char *const good[] = {
	    "ws://127.0.0.1:8765/bot",
	    "wss://bots.example.com/twilio?token=abc&x=1",
	    "WSS://bots.example.com",
	    "ws://[::1]:9000/",
	    "ws://bot-1.internal/a/b%20c",
	};
	static const char *const bad[] = {
	    "ws://",           "ws:///path",        "ws://host:0/",
	    "ws://host:70000", "ws://host:/",       "ws://host?x=1",
	    "ws://u@host/",    "ws://host/a b",     "ws://host/#frag",
	    "ws://[::1/",      "ws://host/\"quote",
	};
	char buf[700], json[800];

	CHECK_EQ(routing_agent_url(J("{'rule':{}}"), &url, &why), 0);
	CHECK(url == NULL && why == NULL);
	CHECK_EQ(routing_agent_url(J("{'roomConfig':{'agents':"
	                             "[{'agentName':'my-agent'}]}}"),
	                           &url, &why),
	         0);
	CHECK(url == NULL);
	/* Only the first dispatch counts, as the bot takes the call alone. */
	CHECK_EQ(routing_agent_url(J("{'roomConfig':{'agents':"
	                             "[{'agentName':'a'},"
	                             " {'agentName':'ws://h/'}]}}"),
	                           &url, &why),
	         0);
	CHECK(url == NULL);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"roomConfig\":{\"agents\":[{\"agentName\":\"%s\","
		         "\"metadata\":\"m\"}]}}",
		         good[i]);
		json_t *rule = json_loads(json, 0, NULL);

		CHECK(rule != NULL);
		CHECK_EQ(routing_agent_url(rule, &url, &why), 0);
		CHECK(url != NULL);
		CHECK_STR(url, good[i]);
		json_decref(rule);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *rule = json_pack("{s:{s:[{s:s}]}}", "roomConfig",
		                         "agents", "agentName", bad[i]);

		url = "x";
		if (routing_agent_url(rule, &url, &why) != EINVAL)
			TEST_FAIL("agent_url", "%s was taken", bad[i]);
		CHECK(url == NULL && why != NULL);
		json_decref(rule);
	}
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	memcpy(buf, "ws://h/", 7);
	json_t *rule = json_pack("{s:{s:[{s:s}]}}", "roomConfig", "agents",
	                         "agentName", buf);
	CHECK_EQ(routing_agent_url(rule, &url, &why), EINVAL);
	json_decref(rule);

	/* Refused when the rule is created or updated. */
	CHECK_EQ(routing_check_rule(J("[]"),
	                            J("{'rule':{'dispatchRuleIndividual':{}},"
	                              " 'roomConfig':{'agents':"
	                              "  [{'agentName':'ws://'}]}}"),
	                            &why),
	         EINVAL);
	CHECK_STR(why, "roomConfig.agents[0].agentName: the URL has no valid "
	               "host");
	CHECK_EQ(routing_check_rule(J("[]"),
	                            J("{'rule':{'dispatchRuleIndividual':{}},"
	                              " 'roomConfig':{'agents':"
	                              "  [{'agentName':'ws://h:1/b'}]}}"),
	                            &why),
	         0);
	return 0;
}

TEST(media_encryption)
{
	enum sdes_policy p = SDES_REQUIRE;

	CHECK_EQ(routing_media_encryption(J("{}"), &p), 0);
	CHECK_EQ(p, SDES_DISABLE);
	CHECK_EQ(routing_media_encryption(
	             J("{'mediaEncryption':'SIP_MEDIA_ENCRYPT_ALLOW'}"), &p),
	         0);
	CHECK_EQ(p, SDES_ALLOW);
	CHECK_EQ(routing_media_encryption(J("{'mediaEncryption':2}"), &p), 0);
	CHECK_EQ(p, SDES_REQUIRE);
	CHECK_EQ(routing_media_encryption(J("{'mediaEncryption':null,'media':"
	                                    "{'encryption':'SIP_MEDIA_"
	                                    "ENCRYPT_REQUIRE'}}"),
	                                  &p),
	         0);
	CHECK_EQ(p, SDES_REQUIRE);
	CHECK_EQ(
	    routing_media_encryption(J("{'mediaEncryption':'REQUIRE'}"), &p),
	    EINVAL);
	CHECK_EQ(p, SDES_DISABLE);
	CHECK_EQ(routing_media_encryption(J("{'mediaEncryption':3}"), &p),
	         EINVAL);
	CHECK_EQ(routing_media_encryption(J("{'mediaEncryption':true}"), &p),
	         EINVAL);
	return 0;
}

int main(void)
{
	RUN(normalize_table);
	RUN(trunk_by_number);
	RUN(trunk_by_caller);
	RUN(trunk_by_cidr_v4);
	RUN(trunk_by_cidr_v6);
	RUN(trunk_not_by_from_host);
	RUN(trunk_by_host_name);
	RUN(addr_is_host);
	RUN(trunk_specific_beats_default);
	RUN(trunk_conflicts);
	RUN(trunk_allowed_numbers_exclude);
	RUN(trunk_none);
	RUN(rule_priorities);
	RUN(rule_pin);
	RUN(rule_specific_vs_wildcard);
	RUN(rule_number_filters);
	RUN(room_names);
	RUN(room_name_errors);
	RUN(participant);
	RUN(media_encryption);
	RUN(check_trunk_security);
	RUN(check_trunk_conflicts);
	RUN(check_trunk_update_excludes_self);
	RUN(check_rule);
	RUN(check_rule_update_excludes_self);
	RUN(agent_url);
	for (size_t i = 0; i < pool_n; i++)
		json_decref(pool[i]);
	TEST_EXIT();
}
