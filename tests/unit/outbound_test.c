/*
 * CreateSIPParticipant's request and trunk turned into an outbound call:
 * every refusal (a URI or a line break where a number goes, a bad dtmf, a
 * forged header, a bad duration, a URI as the trunk's address), the
 * defaults LiveKit applies, and the URIs the INVITE will carry.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "sip/outbound.h"
#include "test.h"

/* JSON from a literal with ' for " (freed by the caller). */
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
	return v;
}

static const char *TRUNK =
    "{'sipTrunkId':'ST_x','address':'sip.example.com:5080',"
    "'numbers':['+15550001111'],'authUsername':'u',"
    "'authPassword':'p','transport':'SIP_TRANSPORT_TCP',"
    "'headers':{'X-Trunk':'t'}}";

/* outbound_parse of req against TRUNK (or inline when trunk_lit is NULL). */
static int parse(const char *req_lit, const char *trunk_lit,
                 struct outbound_call *oc, const char **why)
{
	json_t *req = J(req_lit);
	json_t *trunk = trunk_lit ? J(trunk_lit) : NULL;
	int err;

	*why = NULL;
	err = outbound_parse(req, trunk, "203.0.113.5", 60000, oc, why);
	json_decref(req);
	json_decref(trunk);
	return err;
}

TEST(defaults)
{
	struct outbound_call oc;
	const char *why;

	CHECK_EQ(parse("{'sipCallTo':'+15552223333','roomName':'r'}", TRUNK,
	               &oc, &why),
	         0);
	CHECK_STR(oc.to_uri, "sip:+15552223333@sip.example.com:5080;"
	                     "transport=tcp");
	CHECK_STR(oc.from_uri, "sip:+15550001111@203.0.113.5");
	CHECK_STR(oc.identity, "sip_+15552223333");
	CHECK_STR(oc.name, "Phone +15552223333");
	CHECK_STR(oc.number, "+15550001111");
	CHECK_STR(oc.trunk_id, "ST_x");
	CHECK_STR(oc.auth_user, "u");
	CHECK_STR(oc.auth_pass, "p");
	CHECK_STR(oc.headers, "X-Trunk: t\r\n");
	CHECK_EQ(oc.ringing_ms, OUTBOUND_RINGING_DEFAULT_MS);
	CHECK_EQ(oc.max_ms, 60000);
	CHECK(!oc.wait_answer);
	CHECK(oc.attrs == NULL);
	outbound_reset(&oc);
	return 0;
}

TEST(fields)
{
	struct outbound_call oc;
	const char *why;

	CHECK_EQ(parse("{'sipCallTo':'100','sipNumber':'+1999','roomName':'r',"
	               "'participantIdentity':'me','participantName':'Me',"
	               "'participantMetadata':'m','participantAttributes':"
	               "{'a':'b'},'dtmf':'12w#abcd','ringingTimeout':'2.5s',"
	               "'maxCallDuration':90,'waitUntilAnswered':true,"
	               "'playDialtone':true,'displayName':'Voxgate Desk',"
	               "'headers':{'X-Req':'r'},'krispEnabled':true}",
	               TRUNK, &oc, &why),
	         0);
	CHECK_STR(oc.number, "+1999");
	CHECK_STR(oc.identity, "me");
	CHECK_STR(oc.name, "Me");
	CHECK_STR(oc.metadata, "m");
	CHECK_STR(json_string_value(json_object_get(oc.attrs, "a")), "b");
	CHECK_STR(oc.dtmf, "12w#ABCD");
	CHECK_EQ(oc.ringing_ms, 2500);
	CHECK_EQ(oc.max_ms, 90000);
	CHECK(oc.wait_answer);
	CHECK(oc.play_dialtone);
	CHECK_STR(oc.from_name, "Voxgate Desk");
	CHECK_STR(oc.headers, "X-Trunk: t\r\nX-Req: r\r\n");
	outbound_reset(&oc);
	return 0;
}

TEST(inline_trunk)
{
	struct outbound_call oc;
	const char *why;

	CHECK_EQ(parse("{'sipCallTo':'+1','sipNumber':'+2','roomName':'r',"
	               "'trunk':{'hostname':'[2001:db8::1]:5062',"
	               "'transport':'SIP_TRANSPORT_UDP'}}",
	               NULL, &oc, &why),
	         0);
	CHECK_STR(oc.to_uri, "sip:+1@[2001:db8::1]:5062");
	CHECK_STR(oc.trunk_id, "");
	outbound_reset(&oc);
	/* an inline trunk has no numbers: sipNumber is needed */
	CHECK_EQ(parse("{'sipCallTo':'+1','roomName':'r','trunk':{'hostname':"
	               "'h'}}",
	               NULL, &oc, &why),
	         EINVAL);
	CHECK(strstr(why, "sipNumber") != NULL);
	CHECK_EQ(parse("{'sipCallTo':'+1','roomName':'r'}", NULL, &oc, &why),
	         EINVAL);
	return 0;
}

/* SRTP on the call: the stronger of the trunk's mediaEncryption and the
 * request's (its deprecated mediaEncryption or media.encryption, as the
 * Node SDK sends it), by name or number; anything else refused. */
TEST(encryption)
{
	static const struct {
		const char *trunk_enc; /* the stored trunk's, "" = none */
		const char *req_enc;   /* the request's members, "" = none */
		enum sdes_policy want;
	} ok[] = {
	    {"", "", SDES_DISABLE},
	    {"'SIP_MEDIA_ENCRYPT_REQUIRE'", "", SDES_REQUIRE},
	    {"'SIP_MEDIA_ENCRYPT_ALLOW'", "", SDES_ALLOW},
	    {"1", "", SDES_ALLOW},
	    {"null", "", SDES_DISABLE},
	    {"'SIP_MEDIA_ENCRYPT_ALLOW'",
	     ",'media':{'encryption':'SIP_MEDIA_ENCRYPT_REQUIRE'}",
	     SDES_REQUIRE},
	    {"'SIP_MEDIA_ENCRYPT_DISABLE'", ",'mediaEncryption':2",
	     SDES_REQUIRE},
	    /* a request cannot weaken its trunk */
	    {"'SIP_MEDIA_ENCRYPT_REQUIRE'",
	     ",'media':{'encryption':'SIP_MEDIA_ENCRYPT_DISABLE'}",
	     SDES_REQUIRE},
	    {"'SIP_MEDIA_ENCRYPT_REQUIRE'",
	     ",'mediaEncryption':'SIP_MEDIA_ENCRYPT_ALLOW'", SDES_REQUIRE},
	    {"", ",'media':{'encryption':'SIP_MEDIA_ENCRYPT_ALLOW'}",
	     SDES_ALLOW},
	};
	static const struct {
		const char *trunk_enc, *req_enc;
	} bad[] = {
	    {"'SIP_MEDIA_ENCRYPT_REQUIRED'", ""},
	    {"3", ""},
	    {"-1", ""},
	    {"true", ""},
	    {"'require'", ""},
	    {"", ",'mediaEncryption':'SIP_MEDIA_ENCRYPT_MAYBE'"},
	    {"", ",'media':{'encryption':7}"},
	    {"'SIP_MEDIA_ENCRYPT_ALLOW'", ",'media':{'encryption':{}}"},
	};
	struct outbound_call oc;
	const char *why;
	char req[256], trunk[512];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(req, sizeof(req),
		         "{'sipCallTo':'+1','roomName':'r'%s}", ok[i].req_enc);
		snprintf(trunk, sizeof(trunk),
		         "{'address':'h','numbers':['+2']%s%s}",
		         ok[i].trunk_enc[0] ? ",'mediaEncryption':" : "",
		         ok[i].trunk_enc);
		if (parse(req, trunk, &oc, &why))
			TEST_FAIL("encryption", "case %zu refused: %s", i, why);
		if (oc.encryption != ok[i].want)
			TEST_FAIL("encryption", "case %zu: %d, want %d", i,
			          (int)oc.encryption, (int)ok[i].want);
		outbound_reset(&oc);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req),
		         "{'sipCallTo':'+1','roomName':'r'%s}", bad[i].req_enc);
		snprintf(trunk, sizeof(trunk),
		         "{'address':'h','numbers':['+2']%s%s}",
		         bad[i].trunk_enc[0] ? ",'mediaEncryption':" : "",
		         bad[i].trunk_enc);
		if (parse(req, trunk, &oc, &why) != EINVAL)
			TEST_FAIL("encryption", "bad case %zu taken", i);
		CHECK(why && strstr(why, "SIP_MEDIA_ENCRYPT_REQUIRE") != NULL);
	}
	/* an inline trunk's, too */
	CHECK_EQ(parse("{'sipCallTo':'+1','sipNumber':'+2','roomName':'r',"
	               "'trunk':{'hostname':'h','mediaEncryption':"
	               "'SIP_MEDIA_ENCRYPT_REQUIRE'}}",
	               NULL, &oc, &why),
	         0);
	CHECK_EQ(oc.encryption, SDES_REQUIRE);
	outbound_reset(&oc);
	return 0;
}

TEST(random_number)
{
	const char *t = "{'address':'h','numbers':['+1','+2','+3']}";
	bool seen[4] = {false};
	struct outbound_call oc;
	const char *why;

	for (int i = 0; i < 200; i++) {
		CHECK_EQ(
		    parse("{'sipCallTo':'9','roomName':'r'}", t, &oc, &why), 0);
		seen[oc.number[1] - '0'] = true;
		outbound_reset(&oc);
	}
	CHECK(seen[1] && seen[2] && seen[3]);
	CHECK_EQ(parse("{'sipCallTo':'9','roomName':'r'}",
	               "{'address':'h','numbers':[]}", &oc, &why),
	         EINVAL);
	return 0;
}

TEST(bad_numbers)
{
	static const char *const bad[] = {
	    "{'sipCallTo':'','roomName':'r'}",
	    "{'roomName':'r'}",
	    "{'sipCallTo':'sip:+1@evil','roomName':'r'}",
	    "{'sipCallTo':'+1@evil','roomName':'r'}",
	    "{'sipCallTo':'+1;transport=tcp','roomName':'r'}",
	    "{'sipCallTo':'+1\\r\\nVia: x','roomName':'r'}",
	    "{'sipCallTo':'+1 2','roomName':'r'}",
	    "{'sipCallTo':'<+1>','roomName':'r'}",
	    "{'sipCallTo':'%2B1','roomName':'r'}",
	    "{'sipCallTo':'\\u00e9','roomName':'r'}",
	    "{'sipCallTo':'"
	    "12345678901234567890123456789012345678901234567890123456789012345"
	    "','roomName':'r'}",
	    "{'sipCallTo':'1','sipNumber':'a@b','roomName':'r'}",
	    "{'sipCallTo':'1','toUserOverride':'a:b','roomName':'r'}",
	    "{'sipCallTo':'1','roomName':''}",
	    "{'sipCallTo':'1'}",
	};
	struct outbound_call oc;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], TRUNK, &oc, &why) != EINVAL)
			TEST_FAIL("bad_numbers", "accepted: %s", bad[i]);
		CHECK(why && *why);
	}
	/* 64 characters is the most */
	CHECK_EQ(parse("{'sipCallTo':'"
	               "1234567890123456789012345678901234567890123456789012345"
	               "678901234','roomName':'r'}",
	               TRUNK, &oc, &why),
	         0);
	outbound_reset(&oc);
	return 0;
}

TEST(bad_fields)
{
	static const char *const bad[] = {
	    "{'sipCallTo':'1','roomName':'r','dtmf':'12x'}",
	    "{'sipCallTo':'1','roomName':'r','dtmf':'"
	    "123456789012345678901234567890123'}",
	    "{'sipCallTo':'1','roomName':'r','headers':{'X-A':'a\\r\\nVia: "
	    "x'}}",
	    "{'sipCallTo':'1','roomName':'r','headers':{'Contact':'<sip:x>'}}",
	    "{'sipCallTo':'1','roomName':'r','headers':{'Bad Name':'x'}}",
	    "{'sipCallTo':'1','roomName':'r','ringingTimeout':'-3s'}",
	    "{'sipCallTo':'1','roomName':'r','ringingTimeout':'3'}",
	    "{'sipCallTo':'1','roomName':'r','ringingTimeout':'3m'}",
	    "{'sipCallTo':'1','roomName':'r','ringingTimeout':'s'}",
	    "{'sipCallTo':'1','roomName':'r','maxCallDuration':-1}",
	    "{'sipCallTo':'1','roomName':'r','maxCallDuration':true}",
	    "{'sipCallTo':'1','roomName':'r','displayName':'a\\u0022b'}",
	    "{'sipCallTo':'1','roomName':'r','displayName':'a\\nb'}",
	};
	struct outbound_call oc;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], TRUNK, &oc, &why) != EINVAL)
			TEST_FAIL("bad_fields", "accepted: %s", bad[i]);
	}
	/* wrong JSON types are malformed, not invalid */
	CHECK_EQ(parse("{'sipCallTo':5,'roomName':'r'}", TRUNK, &oc, &why),
	         EBADMSG);
	CHECK_EQ(parse("{'sipCallTo':'1','roomName':'r','headers':[]}", TRUNK,
	               &oc, &why),
	         EBADMSG);
	CHECK_EQ(parse("{'sipCallTo':'1','roomName':'r',"
	               "'participantAttributes':{'a':1}}",
	               TRUNK, &oc, &why),
	         EBADMSG);
	CHECK_EQ(parse("{'sipCallTo':'1','roomName':'r','waitUntilAnswered':"
	               "'yes'}",
	               TRUNK, &oc, &why),
	         EBADMSG);
	return 0;
}

TEST(bad_trunks)
{
	static const char *const bad[] = {
	    "{'address':'sip:h','numbers':['1']}",
	    "{'address':'u@h','numbers':['1']}",
	    "{'address':'h;transport=tcp','numbers':['1']}",
	    "{'address':'h:0','numbers':['1']}",
	    "{'address':'h:70000','numbers':['1']}",
	    "{'address':'h:5060x','numbers':['1']}",
	    "{'address':'h h','numbers':['1']}",
	    "{'address':'','numbers':['1']}",
	    "{'address':'[zz::1]','numbers':['1']}",
	    "{'address':'h','numbers':['1'],'transport':'SIP_TRANSPORT_X'}",
	    "{'address':'h','numbers':['1'],'fromHost':'a@b'}",
	};
	struct outbound_call oc;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse("{'sipCallTo':'1','roomName':'r'}", bad[i], &oc,
		          &why) != EINVAL)
			TEST_FAIL("bad_trunks", "accepted: %s", bad[i]);
	}
	CHECK_EQ(parse("{'sipCallTo':'1','roomName':'r','trunk':{'hostname':"
	               "'sip:x@y'}}",
	               NULL, &oc, &why),
	         EINVAL);
	/* TLS by name and number: the URI says it, libre picks the
	 * transport from it */
	CHECK_EQ(parse("{'sipCallTo':'1','roomName':'r'}",
	               "{'address':'h','numbers':['1'],'transport':3,"
	               "'fromHost':'pbx.example.com'}",
	               &oc, &why),
	         0);
	CHECK_STR(oc.transport, "tls");
	CHECK_STR(oc.to_uri, "sip:1@h;transport=tls");
	CHECK_STR(oc.from_uri, "sip:1@pbx.example.com");
	outbound_reset(&oc);
	return 0;
}

TEST(durations)
{
	uint32_t ms;
	json_t *v;

	v = json_string("30s");
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), 0);
	CHECK_EQ(ms, 30000);
	json_decref(v);
	v = json_string("0.020s");
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), 0);
	CHECK_EQ(ms, 20);
	json_decref(v);
	v = json_string("300s"); /* above the cap: the cap */
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), 0);
	CHECK_EQ(ms, 80000);
	json_decref(v);
	v = json_real(1e300);
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), 0);
	CHECK_EQ(ms, 80000);
	json_decref(v);
	v = json_integer(2);
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), 0);
	CHECK_EQ(ms, 2000);
	json_decref(v);
	CHECK_EQ(outbound_duration_ms(NULL, 80000, &ms), 0);
	CHECK_EQ(ms, 0);
	v = json_string("1e3s");
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), EINVAL);
	json_decref(v);
	v = json_string("nans");
	CHECK_EQ(outbound_duration_ms(v, 80000, &ms), EINVAL);
	json_decref(v);
	return 0;
}

TEST(address_ok)
{
	CHECK(outbound_address_ok("sip.telnyx.com"));
	CHECK(outbound_address_ok("1.2.3.4:5060"));
	CHECK(!outbound_address_ok(""));
	CHECK(!outbound_address_ok("sip:x"));
	CHECK(!outbound_address_ok("sips:x"));
	CHECK(!outbound_address_ok("x;transport=tcp"));
	return 0;
}

int main(void)
{
	RUN(defaults);
	RUN(fields);
	RUN(inline_trunk);
	RUN(encryption);
	RUN(random_number);
	RUN(bad_numbers);
	RUN(bad_fields);
	RUN(bad_trunks);
	RUN(durations);
	RUN(address_ok);
	TEST_EXIT();
}
