/*
 * Twilio: every X-Twilio-Signature vector of the official
 * SDKs' tests (carriers.md T3) and their acceptance cases, the port and
 * userinfo variants, the bodySHA256 variant, and the three TwiML answers
 * compared byte for byte, hostile values included.
 */
#include <errno.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "carrier/twilio.h"
#include "test.h"

#define TOKEN "12345"
#define URL_A "https://mycompany.com/myapp.php?foo=1&bar=2"
#define BODY_A                                                                 \
	"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&"         \
	"From=%2B14158675309&To=%2B18005551212"
#define SIG_A  "RSOYDt4T1cUTdK1PDd93/VVr8B8="
#define SIG_B  "kvajT1Ptam85bY51eRf/AJRuM3w="
#define BODY_F "{\"property\": \"value\", \"boolean\": true}"
#define SHA256_F                                                               \
	"0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
#define URL_F   URL_A "&bodySHA256=" SHA256_F
#define SIG_F   "a9nBmqA0ju/hNViExpshrM61xv4="
#define SID     "CA0123456789abcdef0123456789abcdef"
#define HOSTILE "a\"&<b>"

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

static int parse(struct form *f, const char *s)
{
	return form_parse(f, s, strlen(s));
}

/* twilio_signature of url with the params of urlencoded body ("" none),
 * compared to want. */
static int sig_is(const char *url, const char *body, const char *want)
{
	struct form f;
	char sig[TWILIO_SIGNATURE_LEN + 1];
	int err = parse(&f, body);

	if (!err)
		err = twilio_signature(TOKEN, url, &f, sig);
	form_reset(&f);
	return !err && strcmp(sig, want) == 0;
}

/* twilio_signature_check of a form POST. */
static int check_form(const char *url, const char *body, const char *sig)
{
	struct form f;
	int err = parse(&f, body);

	if (!err)
		err = twilio_signature_check(TOKEN, url, &f, NULL, 0, sig);
	form_reset(&f);
	return err;
}

TEST(signed_string)
{
	static const char data[] =
	    URL_A "CallSidCA1234567890ABCDECaller+14158675309Digits1234"
	          "From+14158675309To+18005551212";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char b64[TWILIO_SIGNATURE_LEN + 1];

	CHECK(HMAC(EVP_sha1(), TOKEN, 5, (const unsigned char *)data,
	           strlen(data), mac, &maclen) != NULL);
	CHECK_EQ(EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen),
	         TWILIO_SIGNATURE_LEN);
	CHECK_STR(b64, SIG_A);
	CHECK(sig_is(URL_A, BODY_A, SIG_A));
	return 0;
}

TEST(vectors)
{
	char sig[TWILIO_SIGNATURE_LEN + 1];

	CHECK(sig_is(URL_A, BODY_A, SIG_A));
	CHECK(sig_is("https://mycompany.com:443/myapp.php?foo=1&bar=2", BODY_A,
	             SIG_B));
	CHECK(sig_is("http://mycompany.com:80/myapp.php?foo=1&bar=2", BODY_A,
	             "0ZXoZLH/DfblKGATFgpif+LLRf4="));
	CHECK(sig_is("http://mycompany.com:1234/myapp.php?foo=1&bar=2", BODY_A,
	             "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
	/* E: a repeated name, each distinct value once, values sorted. */
	CHECK(sig_is(URL_A,
	             "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
	             "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
	CHECK(sig_is(URL_A,
	             "Digits=1234&Sid=CA123&Digits=5678&SidAccount=AC123&"
	             "Digits=1234",
	             "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
	CHECK(sig_is(URL_F, "", SIG_F));
	CHECK(sig_is("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
	             BODY_A, "CukzLTc1tT5dXEDIHm/tKBanW10="));
	CHECK(sig_is("https://MyCompany.com/myapp.php?foo=1&bar=2", BODY_A,
	             "g9IN/x4Cft2g517EjYvEvM/W7LU="));

	/* No form and an empty one sign the same: the URL alone. */
	CHECK_EQ(twilio_signature(TOKEN, URL_F, NULL, sig), 0);
	CHECK_STR(sig, SIG_F);

	CHECK_EQ(twilio_signature(NULL, URL_A, NULL, sig), EINVAL);
	CHECK_EQ(twilio_signature("", URL_A, NULL, sig), EINVAL);
	CHECK_EQ(twilio_signature(TOKEN, NULL, NULL, sig), EINVAL);
	return 0;
}

/* The acceptance cases of the SDKs' validator tests. */
TEST(check_sdk_cases)
{
	CHECK_EQ(check_form(URL_A, BODY_A, SIG_A), 0);
	CHECK_EQ(check_form("https://mycompany.com:1234/myapp.php?foo=1&bar=2",
	                    BODY_A, SIG_A),
	         0);
	CHECK_EQ(check_form(URL_A, BODY_A, SIG_B), 0);
	CHECK_EQ(check_form("http://mycompany.com/myapp.php?foo=1&bar=2",
	                    BODY_A, "0ZXoZLH/DfblKGATFgpif+LLRf4="),
	         0);
	CHECK_EQ(check_form(URL_A, BODY_A, "FAIL"), EACCES);
	/* One param changed, one dropped, one added. */
	CHECK_EQ(check_form(URL_A,
	                    "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&"
	                    "Digits=1235&From=%2B14158675309&To=%2B18005551212",
	                    SIG_A),
	         EACCES);
	CHECK_EQ(check_form(URL_A,
	                    "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&"
	                    "Digits=1234&From=%2B14158675309",
	                    SIG_A),
	         EACCES);
	CHECK_EQ(check_form(URL_A, BODY_A "&New=1", SIG_A), EACCES);
	/* The form's params are not the URL's: a GET check signs none. */
	CHECK_EQ(twilio_signature_check(TOKEN, URL_A, NULL, NULL, 0, SIG_A),
	         EACCES);
	CHECK_EQ(twilio_signature_check("54321", URL_A, NULL, NULL, 0, SIG_A),
	         EACCES);
	return 0;
}

TEST(check_host_and_userinfo)
{
	static const char url_g[] =
	    "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
	static const char url_g443[] =
	    "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2";
	static const char sig_g[] = "CukzLTc1tT5dXEDIHm/tKBanW10=";
	static const char sig_h[] = "g9IN/x4Cft2g517EjYvEvM/W7LU=";
	struct form f;
	char sig443[TWILIO_SIGNATURE_LEN + 1];

	CHECK_EQ(parse(&f, BODY_A), 0);
	CHECK_EQ(twilio_signature(TOKEN, url_g443, &f, sig443), 0);
	form_reset(&f);

	CHECK_EQ(check_form(url_g, BODY_A, sig_g), 0);
	/* The port goes after the host, not after the userinfo. */
	CHECK_EQ(check_form(url_g, BODY_A, sig443), 0);
	CHECK_EQ(check_form(url_g443, BODY_A, sig_g), 0);
	CHECK_EQ(
	    check_form(
	        "https://user:pass@mycompany.com:8443/myapp.php?foo=1&bar=2",
	        BODY_A, sig_g),
	    0);
	CHECK_EQ(check_form(URL_A, BODY_A, sig_g), EACCES);

	CHECK_EQ(check_form("https://MyCompany.com/myapp.php?foo=1&bar=2",
	                    BODY_A, sig_h),
	         0);
	CHECK_EQ(check_form(URL_A, BODY_A, sig_h), EACCES);
	CHECK_EQ(check_form("https://MyCompany.com/myapp.php?foo=1&bar=2",
	                    BODY_A, SIG_A),
	         EACCES);
	return 0;
}

TEST(check_port_forms)
{
	char sig[TWILIO_SIGNATURE_LEN + 1];

	/* An IPv6 literal: its colons are not a port. */
	CHECK_EQ(
	    twilio_signature(TOKEN, "https://[2001:db8::1]/hook", NULL, sig),
	    0);
	CHECK_EQ(twilio_signature_check(TOKEN,
	                                "https://[2001:db8::1]:8443/hook", NULL,
	                                NULL, 0, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, "https://[2001:db8::1]:443/hook",
	                                NULL, NULL, 0, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, "https://[2001:db8::1]/hook",
	                                NULL, NULL, 0, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, "https://[2001:db8::1/hook",
	                                NULL, NULL, 0, sig),
	         EINVAL);

	/* No path: the port goes before the query. */
	CHECK_EQ(twilio_signature(TOKEN, "http://gw.example:80?x=1", NULL, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, "http://gw.example?x=1", NULL,
	                                NULL, 0, sig),
	         0);
	CHECK_EQ(twilio_signature(TOKEN, "HTTPS://gw.example", NULL, sig), 0);
	CHECK_EQ(twilio_signature_check(TOKEN, "HTTPS://gw.example:9", NULL,
	                                NULL, 0, sig),
	         0);
	/* http's default port is not https's. */
	CHECK_EQ(twilio_signature(TOKEN, "https://gw.example:80/", NULL, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, "https://gw.example/", NULL,
	                                NULL, 0, sig),
	         EACCES);

	/* A Media Streams WebSocket request, signed over its wss:// URL. */
	CHECK_EQ(twilio_signature(TOKEN, "wss://gw.example/twilio/stream", NULL,
	                          sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN,
	                                "wss://gw.example:443/twilio/stream",
	                                NULL, NULL, 0, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, "ws://gw.example/twilio/stream",
	                                NULL, NULL, 0, sig),
	         EACCES);
	return 0;
}

TEST(check_body_sha256)
{
	static const char body[] = BODY_F;
	size_t len = strlen(body);
	char sig[TWILIO_SIGNATURE_LEN + 1];
	struct form f;

	CHECK_EQ(twilio_signature_check(TOKEN, URL_F, NULL, body, len, SIG_F),
	         0);
	/* bodySHA256 need not come last. */
	CHECK_EQ(twilio_signature(
	             TOKEN, "https://gw.example/h?bodySHA256=" SHA256_F "&x=1",
	             NULL, sig),
	         0);
	CHECK_EQ(twilio_signature_check(
	             TOKEN, "https://gw.example/h?bodySHA256=" SHA256_F "&x=1",
	             NULL, body, len, sig),
	         0);

	/* The body changed, or not covered by any bodySHA256. */
	CHECK_EQ(
	    twilio_signature_check(TOKEN, URL_F, NULL, body, len - 1, SIG_F),
	    EACCES);
	CHECK_EQ(
	    twilio_signature_check(TOKEN, URL_F, NULL,
	                           "{\"property\": \"value\", \"boolean\": "
	                           "false}",
	                           len + 1, SIG_F),
	    EACCES);
	CHECK_EQ(twilio_signature(TOKEN, URL_A, NULL, sig), 0);
	CHECK_EQ(twilio_signature_check(TOKEN, URL_A, NULL, body, len, sig),
	         EACCES);
	CHECK_EQ(twilio_signature_check(TOKEN, URL_A, NULL, body, len, SIG_F),
	         EACCES);
	/* Uppercase hex, a truncated hash, a lookalike name. */
	CHECK_EQ(twilio_signature(TOKEN,
	                          URL_A
	                          "&bodySHA256=0A1FF7634D9AB3B95DB5C9A2DFE94"
	                          "16E41502B283A80C7CF19632632F96E6620",
	                          NULL, sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN,
	                                URL_A
	                                "&bodySHA256=0A1FF7634D9AB3B95DB5C9A2"
	                                "DFE9416E41502B283A80C7CF19632632F96E"
	                                "6620",
	                                NULL, body, len, sig),
	         EACCES);
	CHECK_EQ(twilio_signature(TOKEN, URL_A "&bodySHA256=0a1ff7634d9a", NULL,
	                          sig),
	         0);
	CHECK_EQ(twilio_signature_check(TOKEN, URL_A "&bodySHA256=0a1ff7634d9a",
	                                NULL, body, len, sig),
	         EACCES);
	CHECK_EQ(
	    twilio_signature(TOKEN, URL_A "&xbodySHA256=" SHA256_F, NULL, sig),
	    0);
	CHECK_EQ(twilio_signature_check(TOKEN, URL_A "&xbodySHA256=" SHA256_F,
	                                NULL, body, len, sig),
	         EACCES);

	/* A form and a raw body at once is a caller's mistake. */
	CHECK_EQ(parse(&f, BODY_A), 0);
	CHECK_EQ(twilio_signature_check(TOKEN, URL_F, &f, body, len, SIG_F),
	         EINVAL);
	form_reset(&f);
	return 0;
}

TEST(check_garbage)
{
	static const char *const bad[] = {
	    "",
	    "FAIL",
	    "RSOYDt4T1cUTdK1PDd93/VVr8B8",   /* 27 */
	    "RSOYDt4T1cUTdK1PDd93/VVr8B8==", /* 29 */
	    "RSOYDt4T1cUTdK1PDd93/VVr8B8=RSOYDt4T1cUTdK1PDd93/VVr8B8=",
	    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!", /* 28, not base64 */
	    "rsoydt4t1cutdk1pdd93/vvr8b8=",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(check_form(URL_A, BODY_A, bad[i]), EACCES);
	CHECK_EQ(check_form(URL_A, BODY_A, NULL), EACCES);

	CHECK_EQ(twilio_signature_check(NULL, URL_A, NULL, NULL, 0, SIG_A),
	         EINVAL);
	CHECK_EQ(twilio_signature_check("", URL_A, NULL, NULL, 0, SIG_A),
	         EINVAL);
	CHECK_EQ(twilio_signature_check(TOKEN, NULL, NULL, NULL, 0, SIG_A),
	         EINVAL);
	CHECK_EQ(twilio_signature_check(TOKEN, "ftp://mycompany.com/x", NULL,
	                                NULL, 0, SIG_A),
	         EINVAL);
	CHECK_EQ(twilio_signature_check(TOKEN, "mycompany.com/myapp.php", NULL,
	                                NULL, 0, SIG_A),
	         EINVAL);
	return 0;
}

TEST(twiml_dial)
{
	char *x = NULL;

	CHECK_EQ(twilio_twiml_dial(&x, "sip:voxgate.example.com:5060",
	                           "+15551234567", SID),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Dial answerOnBridge=\"true\"><Sip>"
	                      "sip:+15551234567@voxgate.example.com:5060"
	                      "?X-Voxgate-CallSid=" SID
	                      "</Sip></Dial></Response>");
	free(x);

	CHECK_EQ(twilio_twiml_dial(&x, "sip:1.2.3.4:5060;transport=udp",
	                           "+15551234567", SID),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Dial answerOnBridge=\"true\"><Sip>"
	                      "sip:+15551234567@1.2.3.4:5060;transport=udp"
	                      "?X-Voxgate-CallSid=" SID
	                      "</Sip></Dial></Response>");
	free(x);

	/* A user part is replaced; headers already there are kept. */
	CHECK_EQ(twilio_twiml_dial(&x,
	                           "sips:agent@lk.example.com;transport=tls",
	                           "+15551234567", SID),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Dial answerOnBridge=\"true\"><Sip>"
	                      "sips:+15551234567@lk.example.com;transport=tls"
	                      "?X-Voxgate-CallSid=" SID
	                      "</Sip></Dial></Response>");
	free(x);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:lk.example.com?x-tenant=t1",
	                           "+15551234567", SID),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Dial answerOnBridge=\"true\"><Sip>"
	                      "sip:+15551234567@lk.example.com?x-tenant=t1"
	                      "&amp;X-Voxgate-CallSid=" SID
	                      "</Sip></Dial></Response>");
	free(x);

	/* Hostile values: %-escaped inside the URI, the URI XML-escaped. */
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h;x=" HOSTILE, HOSTILE, HOSTILE),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Dial answerOnBridge=\"true\"><Sip>"
	                      "sip:a%22%26%3Cb%3E@h;x=a&quot;&amp;&lt;b&gt;"
	                      "?X-Voxgate-CallSid=a%22%26%3Cb%3E"
	                      "</Sip></Dial></Response>");
	free(x);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h", "client:al ice", "C+A=1'"), 0);
	CHECK_STR(x, XML_HEAD
	          "<Response><Dial answerOnBridge=\"true\"><Sip>"
	          "sip:client%3Aal%20ice@h?X-Voxgate-CallSid=C%2BA%3D1&apos;"
	          "</Sip></Dial></Response>");
	free(x);
	return 0;
}

TEST(twiml_dial_refused)
{
	static const char fixed[] = "sip:+1@?X-Voxgate-CallSid=" SID;
	char host[300], uri[310];
	size_t hlen = TWILIO_SIP_URI_MAX - (sizeof(fixed) - 1);
	char *x = NULL;

	memset(host, 'h', hlen);
	host[hlen] = '\0';
	snprintf(uri, sizeof(uri), "sip:%s", host);
	CHECK_EQ(twilio_twiml_dial(&x, uri, "+1", SID), 0);
	CHECK(strstr(x, "?X-Voxgate-CallSid=" SID "</Sip>") != NULL);
	free(x);
	snprintf(uri, sizeof(uri), "sip:%sh", host);
	CHECK_EQ(twilio_twiml_dial(&x, uri, "+1", SID), EMSGSIZE);
	CHECK(x == NULL);

	CHECK_EQ(twilio_twiml_dial(&x, "http://h", "+1", SID), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:", "+1", SID), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:user@", "+1", SID), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:;transport=tcp", "+1", SID),
	         EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, NULL, "+1", SID), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h", "", SID), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h", NULL, SID), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h", "+1", ""), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h", "+1", NULL), EINVAL);
	CHECK_EQ(twilio_twiml_dial(&x, "sip:h\x01", "+1", SID), EINVAL);
	CHECK(x == NULL);
	CHECK_EQ(twilio_twiml_dial(NULL, "sip:h", "+1", SID), EINVAL);
	return 0;
}

TEST(twiml_stream)
{
	const struct form_param params[] = {
	    {(char *)"tenant", (char *)"t1"},
	    {(char *)HOSTILE, (char *)"caf\xc3\xa9 'x'"},
	    {(char *)"empty", (char *)""},
	};
	const struct form_param bad_utf8[] = {{(char *)"k", (char *)"\xc3("}};
	const struct form_param overlong[] = {
	    {(char *)"k", (char *)"\xc0\xbc"}};
	const struct form_param ctrl[] = {{(char *)"k", (char *)"a\x1b"}};
	const struct form_param null_value[] = {{(char *)"k", NULL}};
	char *x = NULL;

	CHECK_EQ(twilio_twiml_stream(&x, "wss://gw.example.com/twilio/ws",
	                             params, 3),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Connect>"
	                      "<Stream url=\"wss://gw.example.com/twilio/ws\">"
	                      "<Parameter name=\"tenant\" value=\"t1\"/>"
	                      "<Parameter name=\"a&quot;&amp;&lt;b&gt;\" "
	                      "value=\"caf\xc3\xa9 &apos;x&apos;\"/>"
	                      "<Parameter name=\"empty\" value=\"\"/>"
	                      "</Stream></Connect></Response>");
	free(x);

	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/a&b\"", NULL, 0), 0);
	CHECK_STR(x, XML_HEAD "<Response><Connect>"
	                      "<Stream url=\"wss://h/a&amp;b&quot;\">"
	                      "</Stream></Connect></Response>");
	free(x);

	CHECK_EQ(twilio_twiml_stream(&x, "ws://h/ws", NULL, 0), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "https://h/ws", NULL, 0), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://", NULL, 0), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/ws?tenant=t1", NULL, 0),
	         EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, NULL, NULL, 0), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/ws", NULL, 1), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/ws", bad_utf8, 1), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/ws", overlong, 1), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/ws", ctrl, 1), EINVAL);
	CHECK_EQ(twilio_twiml_stream(&x, "wss://h/ws", null_value, 1), EINVAL);
	CHECK(x == NULL);
	return 0;
}

TEST(twiml_say_hangup)
{
	char *x = NULL;

	CHECK_EQ(twilio_twiml_say_hangup(&x, "Sorry, the assistant is "
	                                     "unavailable."),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Say>Sorry, the assistant is "
	                      "unavailable.</Say><Hangup/></Response>");
	free(x);

	CHECK_EQ(twilio_twiml_say_hangup(&x, HOSTILE "\n\t'"), 0);
	CHECK_STR(x, XML_HEAD "<Response><Say>a&quot;&amp;&lt;b&gt;\n\t&apos;"
	                      "</Say><Hangup/></Response>");
	free(x);
	/* Markup in the text stays text: no SSML or verbs get in. */
	CHECK_EQ(twilio_twiml_say_hangup(&x, "</Say><Dial>+15550000000</Dial>"),
	         0);
	CHECK_STR(x, XML_HEAD "<Response><Say>&lt;/Say&gt;&lt;Dial&gt;"
	                      "+15550000000&lt;/Dial&gt;</Say><Hangup/>"
	                      "</Response>");
	free(x);

	CHECK_EQ(twilio_twiml_say_hangup(&x, ""), EINVAL);
	CHECK_EQ(twilio_twiml_say_hangup(&x, NULL), EINVAL);
	CHECK_EQ(twilio_twiml_say_hangup(&x, "\xed\xa0\x80"), EINVAL);
	CHECK_EQ(twilio_twiml_say_hangup(&x, "\xef\xbf\xbe"), EINVAL);
	CHECK(x == NULL);
	CHECK_EQ(twilio_twiml_say_hangup(NULL, "hi"), EINVAL);
	return 0;
}

int main(void)
{
	RUN(signed_string);
	RUN(vectors);
	RUN(check_sdk_cases);
	RUN(check_host_and_userinfo);
	RUN(check_port_forms);
	RUN(check_body_sha256);
	RUN(check_garbage);
	RUN(twiml_dial);
	RUN(twiml_dial_refused);
	RUN(twiml_stream);
	RUN(twiml_say_hangup);
	TEST_EXIT();
}
