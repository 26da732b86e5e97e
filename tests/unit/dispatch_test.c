/*
 * Routing an INVITE into a room with the stored trunks and rules (an
 * SQLite file per run): the carriers' headers (X-Twilio-*, X-Telnyx-*)
 * count only on calls from a trunk that checks the source address or the
 * credentials, and never name the room over a rule.
 *
 * libre is included header by header: its re_json.h clashes with jansson.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_main.h>
#include <jansson.h>

#include "sip/dispatch.h"
#include "room/room.h"
#include "store/store.h"
#include "core/log.h"
#include "test.h"

static struct store *st;
static struct rooms *rooms;
static struct dispatch *disp;
static char db[64];

/* ---- an INVITE's headers ---------------------------------------------- */

struct hdrs {
	const char *const *kv; /* name, value, ..., NULL */
};

static void foreach_hdr(const void *m, dispatch_hdr_h *h, void *harg)
{
	const struct hdrs *hs = m;

	for (const char *const *p = hs->kv; p && p[0]; p += 2)
		h(p[0], strlen(p[0]), p[1], strlen(p[1]), harg);
}

static const char *const forged[] = {
    "X-Twilio-CallSid",
    "CAforged0000000000000000000000000",
    "X-Twilio-AccountSid",
    "ACforged",
    "X-Telnyx-Call-Control-Id",
    "v3:forged",
    "X-call_leg_id",
    "leg-forged",
    "X-call_session_id",
    "session-forged",
    "X-Other",
    "kept",
    NULL,
};
static const struct hdrs forged_hdrs = {forged};

static struct dispatch_call call_of(const char *to, const char *src,
                                    const char *sid)
{
	return (struct dispatch_call){
	    .sip_call_id = "cid@test",
	    .from_user = "+15552223333",
	    .to_user = to,
	    .src_ip = src,
	    .twilio_call_sid = sid,
	    .twilio_account_sid = sid ? "ACforged" : NULL,
	    .msg = &forged_hdrs,
	    .foreach_hdr = foreach_hdr,
	};
}

static void kicked(struct participant *p, const char *reason, void *arg)
{
	(void)arg;
	participant_leave(p, reason);
}

/* The joined participant's attribute key, "" when absent. Leaves the
 * room. */
static char attr_buf[8][128];

static void attrs_of(struct dispatch_result *res, const char *const keys[],
                     size_t n)
{
	json_t *pj = participant_json(res->p, false);
	json_t *a = json_object_get(pj, "attributes");

	for (size_t i = 0; i < n && i < 8; i++) {
		const char *v = json_string_value(json_object_get(a, keys[i]));

		snprintf(attr_buf[i], sizeof(attr_buf[i]), "%s", v ? v : "");
	}
	json_decref(pj);
	participant_leave(res->p, "CLIENT_INITIATED");
	res->p = NULL;
}

static const char *const carrier_keys[] = {
    "sip.twilio.callSid",
    "sip.twilio.accountSid",
    "sip.telnyx.callControlID",
    "sip.telnyx.callLegID",
    "sip.telnyx.callSessionID",
    "sip.h.x-twilio-callsid",
    "sip.h.x-other",
    "telnyx.ccid",
};

static int put(const char *kind, const char *id, const char *json)
{
	json_error_t jerr;
	json_t *o = json_loads(json, 0, &jerr);
	int err;

	if (!o) {
		fprintf(stderr, "bad test JSON: %s\n", jerr.text);
		return EINVAL;
	}
	err = !strcmp(kind, "trunk")
	          ? store_trunk_put(st, id, STORE_TRUNK_INBOUND, o)
	          : store_rule_put(st, id, o);
	json_decref(o);
	return err;
}

static int setup(void)
{
	struct rooms_params rp = {.empty_timeout_s = 1,
	                          .departure_timeout_s = 1};
	struct dispatch_params dp = {.default_route = true};
	int err;

	snprintf(db, sizeof(db), "/tmp/voxgate-dispatch-test-%d.db",
	         (int)getpid());
	unlink(db);
	err = store_alloc(&st, db);
	/* A trunk anyone can reach (numbers only), with SIP_X_HEADERS ... */
	err = err ? err
	          : put("trunk", "ST_open",
	                "{\"sipTrunkId\":\"ST_open\",\"numbers\":"
	                "[\"+15550001111\"],\"includeHeaders\":"
	                "\"SIP_X_HEADERS\",\"headersToAttributes\":"
	                "{\"X-Telnyx-Call-Control-Id\":\"telnyx.ccid\"}}");
	err = err ? err
	          : put("rule", "SDR_open",
	                "{\"sipDispatchRuleId\":\"SDR_open\",\"trunkIds\":"
	                "[\"ST_open\"],\"rule\":{\"dispatchRuleDirect\":"
	                "{\"roomName\":\"open-room\"}}}");
	/* ... a carrier's, by address, with a rule and without one ... */
	err = err ? err
	          : put("trunk", "ST_carrier",
	                "{\"sipTrunkId\":\"ST_carrier\",\"numbers\":"
	                "[\"+15550002222\"],\"includeHeaders\":"
	                "\"SIP_X_HEADERS\",\"allowedAddresses\":"
	                "[\"198.51.100.0/24\"]}");
	err = err ? err
	          : put("rule", "SDR_carrier",
	                "{\"sipDispatchRuleId\":\"SDR_carrier\",\"trunkIds\":"
	                "[\"ST_carrier\"],\"rule\":{\"dispatchRuleDirect\":"
	                "{\"roomName\":\"carrier-room\"}}}");
	err = err ? err
	          : put("trunk", "ST_pstn",
	                "{\"sipTrunkId\":\"ST_pstn\",\"numbers\":"
	                "[\"+15550003333\"],\"allowedAddresses\":"
	                "[\"198.51.100.0/24\"]}");
	/* ... one that wants every header ... */
	err = err ? err
	          : put("trunk", "ST_all",
	                "{\"sipTrunkId\":\"ST_all\",\"numbers\":"
	                "[\"+15550005555\"],\"includeHeaders\":"
	                "\"SIP_ALL_HEADERS\",\"headersToAttributes\":"
	                "{\"Proxy-Authorization\":\"creds\","
	                "\"Authorization\":\"creds2\",\"X-Other\":"
	                "\"other\"}}");
	err = err ? err
	          : put("rule", "SDR_all",
	                "{\"sipDispatchRuleId\":\"SDR_all\",\"trunkIds\":"
	                "[\"ST_all\"],\"rule\":{\"dispatchRuleDirect\":"
	                "{\"roomName\":\"all-room\"}}}");
	/* ... two with SRTP, one asking more of its rule ... */
	err = err ? err
	          : put("trunk", "ST_srtp",
	                "{\"sipTrunkId\":\"ST_srtp\",\"numbers\":"
	                "[\"+15550006666\"],\"mediaEncryption\":"
	                "\"SIP_MEDIA_ENCRYPT_REQUIRE\"}");
	err = err ? err
	          : put("rule", "SDR_srtp",
	                "{\"sipDispatchRuleId\":\"SDR_srtp\",\"trunkIds\":"
	                "[\"ST_srtp\"],\"rule\":{\"dispatchRuleDirect\":"
	                "{\"roomName\":\"srtp-room\"}}}");
	err = err ? err
	          : put("trunk", "ST_allow",
	                "{\"sipTrunkId\":\"ST_allow\",\"numbers\":"
	                "[\"+15550007777\"],\"mediaEncryption\":1}");
	err =
	    err ? err
	        : put("rule", "SDR_allow",
	              "{\"sipDispatchRuleId\":\"SDR_allow\",\"trunkIds\":"
	              "[\"ST_allow\"],\"mediaEncryption\":"
	              "\"SIP_MEDIA_ENCRYPT_REQUIRE\",\"rule\":"
	              "{\"dispatchRuleDirect\":{\"roomName\":\"srtp-room\"}}}");
	/* ... and one with credentials. */
	err = err ? err
	          : put("trunk", "ST_auth",
	                "{\"sipTrunkId\":\"ST_auth\",\"numbers\":"
	                "[\"+15550004444\"],\"authUsername\":\"u\","
	                "\"authPassword\":\"p\"}");
	err = err ? err
	          : put("rule", "SDR_auth",
	                "{\"sipDispatchRuleId\":\"SDR_auth\",\"trunkIds\":"
	                "[\"ST_auth\"],\"rule\":{\"dispatchRuleDirect\":"
	                "{\"roomName\":\"auth-room\"}}}");
	if (err)
		return err;
	rp.store = st;
	err = rooms_alloc(&rooms, &rp);
	if (err)
		return err;
	dp.store = st;
	dp.rooms = rooms;
	return dispatch_alloc(&disp, &dp);
}

/* ---- tests ------------------------------------------------------------ */

TEST(forged_headers_on_an_open_trunk)
{
	struct dispatch_call c = call_of("+15550001111", "203.0.113.9",
	                                 "CAforged0000000000000000000000000");
	struct dispatch_result res;

	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.room, "open-room");
	attrs_of(&res, carrier_keys, 8);
	for (int i = 0; i < 6; i++)
		CHECK_STR(attr_buf[i], "");
	CHECK_STR(attr_buf[6], "kept");
	CHECK_STR(attr_buf[7], "");
	return 0;
}

TEST(forged_headers_on_the_default_route)
{
	struct dispatch_call c = call_of("+15559999999", "203.0.113.9",
	                                 "CAforged0000000000000000000000000");
	struct dispatch_result res;

	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK(!strncmp(res.room, "call_+15552223333_", 18));
	attrs_of(&res, carrier_keys, 5);
	for (int i = 0; i < 5; i++)
		CHECK_STR(attr_buf[i], "");
	return 0;
}

TEST(carrier_trunk_keeps_the_rule_room)
{
	struct dispatch_call c = call_of("+15550002222", "198.51.100.7",
	                                 "CAforged0000000000000000000000000");
	struct dispatch_result res;

	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.room, "carrier-room");
	attrs_of(&res, carrier_keys, 7);
	CHECK_STR(attr_buf[0], "CAforged0000000000000000000000000");
	CHECK_STR(attr_buf[1], "ACforged");
	CHECK_STR(attr_buf[2], "v3:forged");
	CHECK_STR(attr_buf[3], "leg-forged");
	CHECK_STR(attr_buf[4], "session-forged");
	CHECK_STR(attr_buf[5], "CAforged0000000000000000000000000");
	/* The same trunk from an address it does not allow: no trunk, the
	 * default route, nothing believed. */
	c.src_ip = "203.0.113.9";
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.trunk_id, "");
	attrs_of(&res, carrier_keys, 1);
	CHECK_STR(attr_buf[0], "");
	return 0;
}

TEST(carrier_trunk_without_rule_names_the_room)
{
	struct dispatch_call c = call_of("+15550003333", "198.51.100.7",
	                                 "CA0123456789abcdef0123456789abcdef");
	struct dispatch_result res;

	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.room, "pstn-CA0123456789abcdef0123456789abcdef");
	attrs_of(&res, carrier_keys, 1);
	CHECK_STR(attr_buf[0], "CA0123456789abcdef0123456789abcdef");
	/* Without a CallSid, or with one that is not, no rule takes it. */
	c.twilio_call_sid = NULL;
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_REJECT);
	CHECK_EQ(res.status, 404);
	c.twilio_call_sid = "CA../../x";
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_REJECT);
	CHECK_EQ(res.status, 404);
	return 0;
}

TEST(carrier_trunk_by_credentials)
{
	struct dispatch_call c = call_of("+15550004444", "203.0.113.9",
	                                 "CAforged0000000000000000000000000");
	struct dispatch_result res;

	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_AUTH);
	dispatch_route(disp, &c, true, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.room, "auth-room");
	attrs_of(&res, carrier_keys, 3);
	CHECK_STR(attr_buf[0], "CAforged0000000000000000000000000");
	CHECK_STR(attr_buf[2], "v3:forged");
	return 0;
}

TEST(credentials_never_become_attributes)
{
	static const char *const kv[] = {
	    "Proxy-Authorization",
	    "Digest username=\"u\", realm=\"voxgate\", response=\"0f\"",
	    "authorization",
	    "Digest username=\"u\", response=\"1e\"",
	    "X-Other",
	    "kept",
	    "Subject",
	    "hello",
	    NULL,
	};
	static const struct hdrs hs = {kv};
	static const char *const keys[] = {
	    "sip.h.proxy-authorization",
	    "sip.h.authorization",
	    "creds",
	    "creds2",
	    "sip.h.x-other",
	    "other",
	    "sip.h.subject",
	};
	struct dispatch_call c = call_of("+15550005555", "203.0.113.9", NULL);
	struct dispatch_result res;

	c.msg = &hs;
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	attrs_of(&res, keys, 7);
	for (int i = 0; i < 4; i++)
		CHECK_STR(attr_buf[i], "");
	CHECK_STR(attr_buf[4], "kept");
	CHECK_STR(attr_buf[5], "kept");
	CHECK_STR(attr_buf[6], "hello");
	return 0;
}

/* sip.callTag is the caller's From tag, as LiveKit's; none, none shown. */
TEST(call_tag)
{
	static const char *const keys[] = {"sip.callTag", "sip.callIDFull"};
	struct dispatch_call c = call_of("+15559999999", "203.0.113.9", NULL);
	struct dispatch_result res;

	c.call_tag = "as7f3e9a01";
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	attrs_of(&res, keys, 2);
	CHECK_STR(attr_buf[0], "as7f3e9a01");
	CHECK_STR(attr_buf[1], "cid@test");

	c.call_tag = NULL;
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	attrs_of(&res, keys, 1);
	CHECK_STR(attr_buf[0], "");
	return 0;
}

/* An outbound call's callee: LiveKit's sip.* attributes win over the
 * request's, the numbers are left out when hidden, and a taken identity
 * is refused. */
TEST(outbound_callee)
{
	json_t *attrs =
	    json_pack("{s:s,s:s}", "team", "a", "sip.callStatus", "forged");
	struct dispatch_outbound o = {
	    .room = "out-room",
	    .identity = "callee",
	    .name = "Callee",
	    .metadata = "m",
	    .attrs = attrs,
	    .call_id = "SCL_test",
	    .trunk_id = "ST_out",
	    .phone = "+15552223333",
	    .trunk_phone = "+15550001111",
	    .hostname = "sip.example.com",
	};
	struct participant *p = NULL, *p2 = NULL;
	json_t *pj, *a;

	CHECK_EQ(dispatch_join_outbound(disp, &o, kicked, NULL, &p), 0);
	pj = participant_json(p, false);
	a = json_object_get(pj, "attributes");
	CHECK_STR(json_string_value(json_object_get(a, "sip.callStatus")),
	          "dialing");
	CHECK_STR(json_string_value(json_object_get(a, "team")), "a");
	CHECK_STR(json_string_value(json_object_get(a, "sip.callID")),
	          "SCL_test");
	CHECK_STR(json_string_value(json_object_get(a, "sip.phoneNumber")),
	          "+15552223333");
	CHECK_STR(json_string_value(json_object_get(a, "sip.trunkPhoneNumber")),
	          "+15550001111");
	CHECK_STR(json_string_value(json_object_get(a, "sip.hostname")),
	          "sip.example.com");
	CHECK_STR(participant_kind(p), "SIP");
	json_decref(pj);
	CHECK_EQ(dispatch_join_outbound(disp, &o, kicked, NULL, &p2), EEXIST);
	participant_leave(p, "CLIENT_INITIATED");

	o.identity = "hidden";
	o.hide_number = true;
	CHECK_EQ(dispatch_join_outbound(disp, &o, kicked, NULL, &p), 0);
	pj = participant_json(p, false);
	a = json_object_get(pj, "attributes");
	CHECK(!json_object_get(a, "sip.phoneNumber"));
	CHECK(!json_object_get(a, "sip.trunkPhoneNumber"));
	json_decref(pj);
	participant_leave(p, "CLIENT_INITIATED");
	json_decref(attrs);
	return 0;
}

TEST(bot_url)
{
	char out[512];
	const char *why;

	CHECK_EQ(dispatch_bot_url("WSS://bot.example.com:8443/x", out,
	                          sizeof(out), &why),
	         0);
	CHECK_STR(out, "wss://bot.example.com:8443/x");
	CHECK_EQ(dispatch_bot_url("ws://:0/x", out, sizeof(out), &why), EINVAL);
	CHECK(why != NULL);
	CHECK_EQ(dispatch_bot_url("https://x", out, sizeof(out), &why), EINVAL);
	CHECK_EQ(dispatch_bot_url("ws://h/x", out, 4, &why), EINVAL);
	return 0;
}

/* SRTP: the trunk's mediaEncryption, or its rule's when stronger; none
 * matched (the default route) is plain. */
TEST(media_encryption)
{
	struct dispatch_call c = call_of("+15550006666", "203.0.113.9", NULL);
	struct dispatch_result res;

	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.trunk_id, "ST_srtp");
	CHECK_EQ(res.encryption, SDES_REQUIRE);
	c.to_user = "+15550007777";
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.room, "srtp-room");
	CHECK_EQ(res.encryption, SDES_REQUIRE);
	c.to_user = "+15550001111";
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_EQ(res.encryption, SDES_DISABLE);
	c.to_user = "+15559999999";
	dispatch_route(disp, &c, false, kicked, NULL, &res);
	CHECK_EQ(res.outcome, DISPATCH_JOINED);
	CHECK_STR(res.trunk_id, "");
	CHECK_EQ(res.encryption, SDES_DISABLE);
	return 0;
}

int main(void)
{
	int err;

	if (libre_init())
		return 1;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, stderr);
	err = setup();
	if (err) {
		printf("FAIL setup: %s (%s)\n", strerror(err),
		       st ? store_error(st) : store_error(NULL));
		return 1;
	}
	RUN(forged_headers_on_an_open_trunk);
	RUN(forged_headers_on_the_default_route);
	RUN(carrier_trunk_keeps_the_rule_room);
	RUN(carrier_trunk_without_rule_names_the_room);
	RUN(carrier_trunk_by_credentials);
	RUN(credentials_never_become_attributes);
	RUN(call_tag);
	RUN(outbound_callee);
	RUN(bot_url);
	RUN(media_encryption);
	mem_deref(disp);
	mem_deref(rooms);
	mem_deref(st);
	unlink(db);
	strcat(db, "-wal");
	unlink(db);
	libre_close();
	TEST_EXIT();
}
