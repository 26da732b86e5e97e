/*
 * Media Streams frames: every frame of Twilio's and Telnyx's documentation
 * (carriers.md T4, X4) read into its fields, with payloads encoded here by
 * a base64 of the test's own; what a bot sends when voxgate is the
 * carrier; every way a frame is refused; every writer's output compared
 * byte for byte with the documented frame and read back; writers against
 * short buffers behind a canary; hostile strings. Prints the cost of one
 * 20 ms media frame written and read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <jansson.h>

#include "mstream/mstream.h"
#include "test.h"

#define MZ     "MZ18ad3ab5a668481ce02b83e7395059f0"
#define AC     "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
#define CA     "CA4c6b5e9c8c1b0a5f3e2d1c0b9a8f7e6d"
#define SID    "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
#define CCID   "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
#define USERID "3E6F995F-85F7-4705-9741-53B116D28237"

#define TW_CONNECTED                                                           \
	"{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0."    \
	"0\"}"
#define TW_START                                                               \
	"{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{"            \
	"\"accountSid\":\"" AC "\",\"streamSid\":\"" MZ "\",\"callSid\":\"" CA \
	"\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":"           \
	"\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},"               \
	"\"customParameters\":{\"FirstName\":\"Jane\",\"LastName\":\"Doe\","   \
	"\"RemoteParty\":\"Bob\"}},\"streamSid\":\"" MZ "\"}"
#define TW_DTMF                                                                \
	"{\"event\":\"dtmf\",\"streamSid\":\"" MZ "\",\"sequenceNumber\":"     \
	"\"5\",\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"1\"}}"
#define TW_MARK                                                                \
	"{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" MZ     \
	"\",\"mark\":{\"name\":\"my label\"}}"
#define TW_STOP                                                                \
	"{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"stop\":{"              \
	"\"accountSid\":\"" AC "\",\"callSid\":\"" CA                          \
	"\"},\"streamSid\":\"" MZ "\"}"

#define TX_CONNECTED "{\"event\":\"connected\",\"version\":\"1.0.0\"}"
#define TX_START                                                               \
	"{\"event\":\"start\",\"sequence_number\":\"1\",\"stream_id\":\"" SID  \
	"\",\"start\":{\"user_id\":\"" USERID "\",\"call_control_id\":\"" CCID \
	"\",\"call_session_id\":\"ff55a038-6f5d-11ef-9692-02420aeffb1f\""      \
	",\"from\":\"+13122010094\",\"to\":\"+13122123456\",\"tags\":["        \
	"\"TAG1\",\"TAG2\"],\"client_state\":\"aGF2ZSBhIG5pY2UgZGF5ID1d\","    \
	"\"custom_parameters\":{\"customer_id\":\"customer_123\"},"            \
	"\"media_format\":{\"encoding\":\"PCMU\",\"sample_rate\":8000,"        \
	"\"channels\":1}}}"
#define TX_STOP                                                                \
	"{\"event\":\"stop\",\"sequence_number\":\"5\",\"stop\":{\"user_id\":" \
	"\"" USERID "\",\"call_control_id\":\"" CCID                           \
	"\"},\"stream_id\":\"" SID "\"}"

/* Room for any frame here: 8000 bytes of payload make 10668 chars. */
#define BIG 12000

static struct mstream_msg m;
static const char *why = "";
static char frame[BIG + 1024];

/* 160 bytes: twenty periods of G.711's digital milliwatt (ITU-T G.711
 * table 5), 1 kHz at 0 dBm0 in μ-law. */
static const uint8_t milliwatt[8] = {0x1E, 0x0B, 0x0B, 0x1E,
                                     0x9E, 0x8B, 0x8B, 0x9E};
static uint8_t ulaw[160];

/* The test's own base64, so the module's use of OpenSSL is checked
 * against something other than OpenSSL. */
static void b64(char *out, const uint8_t *in, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v;
	size_t i;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*out++ = a[v >> 18 & 63];
		*out++ = a[v >> 12 & 63];
		*out++ = i + 1 < n ? a[v >> 6 & 63] : '=';
		*out++ = i + 2 < n ? a[v & 63] : '=';
	}
	*out = '\0';
}

static int parse(enum mstream_dialect d, const char *s)
{
	why = "";
	return mstream_parse(&m, d, s, strlen(s), &why);
}

/* A refused frame: err, with a reason of some length that fits, kept in
 * the message. */
static int refused(enum mstream_dialect d, const char *s, int err)
{
	return parse(d, s) == err && why == m.why && why[0] != '\0' &&
	       strlen(why) < 120;
}

static void ulaw_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(ulaw); i++)
		ulaw[i] = milliwatt[i % sizeof(milliwatt)];
}

/* A media frame with the given payload (already base64). */
static const char *tw_media(const char *b64text)
{
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"media\":{"
	         "\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5\","
	         "\"payload\":\"%s\"},\"streamSid\":\"" MZ "\"}",
	         b64text);
	return frame;
}

static const char *tw_media_of(const uint8_t *bytes, size_t n)
{
	static char text[BIG];

	b64(text, bytes, n);
	return tw_media(text);
}

TEST(twilio_connected)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_CONNECTED), 0);
	CHECK_EQ(m.event, MSTREAM_CONNECTED);
	CHECK_STR(m.name, "connected");
	CHECK_STR(m.stream_id, "");
	CHECK_EQ(m.sequence, 0);
	CHECK_STR(why, "");
	return 0;
}

TEST(twilio_start)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_START), 0);
	CHECK_EQ(m.event, MSTREAM_START);
	CHECK_STR(m.name, "start");
	CHECK_EQ(m.sequence, 1);
	CHECK_STR(m.stream_id, MZ);
	CHECK_STR(m.call_id, CA);
	CHECK_STR(m.account_id, AC);
	CHECK_STR(m.encoding, "PCMU");
	CHECK_EQ(m.sample_rate, 8000);
	CHECK_STR(m.from, "");
	CHECK_STR(m.to, "");
	CHECK_EQ(m.nparams, 3);
	CHECK_STR(m.params[0].name, "FirstName");
	CHECK_STR(m.params[0].value, "Jane");
	CHECK_STR(m.params[1].name, "LastName");
	CHECK_STR(m.params[1].value, "Doe");
	CHECK_STR(m.params[2].name, "RemoteParty");
	CHECK_STR(m.params[2].value, "Bob");
	CHECK_EQ(m.payload_len, 0);
	return 0;
}

/* The stream id from start.streamSid alone; numbers as JSON numbers. */
TEST(twilio_start_variants)
{
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"start\",\"sequenceNumber\":7,\"start\":{"
	               "\"streamSid\":\"" MZ "\",\"callSid\":\"" CA "\"}}"),
	         0);
	CHECK_STR(m.stream_id, MZ);
	CHECK_STR(m.call_id, CA);
	CHECK_EQ(m.sequence, 7);
	CHECK_STR(m.account_id, "");
	CHECK_STR(m.encoding, "");
	CHECK_EQ(m.sample_rate, 0);
	CHECK_EQ(m.nparams, 0);
	/* The top-level one, with start's absent. */
	CHECK_EQ(parse(MSTREAM_TWILIO, "{\"event\":\"start\",\"start\":{"
	                               "\"callSid\":\"" CA "\"},"
	                               "\"streamSid\":\"" MZ "\"}"),
	         0);
	CHECK_STR(m.stream_id, MZ);
	CHECK_EQ(m.sequence, 0);
	return 0;
}

TEST(twilio_media)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, tw_media_of(ulaw, sizeof(ulaw))), 0);
	CHECK_EQ(m.event, MSTREAM_MEDIA);
	CHECK_STR(m.name, "media");
	CHECK_EQ(m.sequence, 4);
	CHECK_STR(m.track, "inbound");
	CHECK_EQ(m.chunk, 2);
	CHECK_EQ(m.timestamp, 5);
	CHECK_STR(m.stream_id, MZ);
	CHECK_EQ(m.payload_len, sizeof(ulaw));
	CHECK(memcmp(m.payload, ulaw, sizeof(ulaw)) == 0);
	return 0;
}

/* The start of the payload in Twilio's own example. */
TEST(twilio_media_doc_payload)
{
	static const uint8_t want[] = {0x9e, 0x8f, 0x89, 0x86, 0x86,
	                               0x89, 0x8e, 0x9c, 0xd2};

	CHECK_EQ(parse(MSTREAM_TWILIO, tw_media("no+JhoaJjpzS")), 0);
	CHECK_EQ(m.payload_len, sizeof(want));
	CHECK(memcmp(m.payload, want, sizeof(want)) == 0);
	return 0;
}

/* Every padding, every length up to a few groups, and the largest. */
TEST(payload_lengths)
{
	static uint8_t bytes[MSTREAM_PAYLOAD_MAX];
	size_t i, n;

	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 131 + 7);
	for (n = 0; n <= 13; n++) {
		CHECK_EQ(parse(MSTREAM_TWILIO, tw_media_of(bytes, n)), 0);
		CHECK_EQ(m.payload_len, n);
		CHECK(memcmp(m.payload, bytes, n) == 0);
	}
	for (n = MSTREAM_PAYLOAD_MAX - 2; n <= MSTREAM_PAYLOAD_MAX; n++) {
		CHECK_EQ(parse(MSTREAM_TWILIO, tw_media_of(bytes, n)), 0);
		CHECK_EQ(m.payload_len, n);
		CHECK(memcmp(m.payload, bytes, n) == 0);
	}
	return 0;
}

TEST(payload_too_large)
{
	static uint8_t bytes[MSTREAM_PAYLOAD_MAX + 1];

	CHECK(refused(MSTREAM_TWILIO, tw_media_of(bytes, sizeof(bytes)),
	              EMSGSIZE));
	CHECK(refused(MSTREAM_TELNYX, tw_media_of(bytes, sizeof(bytes)),
	              EMSGSIZE));
	return 0;
}

TEST(payload_not_base64)
{
	static const char *const bad[] = {
	    "Q",    "QQ",       "QQ=",          "QUI",       "A===",  "====",
	    "QQ=A", "Q=Q=",     "QUJD=",        " QUJD",     "QUJD ", "QU\\nJD",
	    "QU*D", "QUJD-_==", "QUJDQQ==QUJD", "\\u00e9UJ",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!refused(MSTREAM_TWILIO, tw_media(bad[i]), EBADMSG))
			TEST_FAIL("payload_not_base64", "accepted \"%s\"",
			          bad[i]);
	}
	return 0;
}

TEST(twilio_dtmf)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_DTMF), 0);
	CHECK_EQ(m.event, MSTREAM_DTMF);
	CHECK_STR(m.name, "dtmf");
	CHECK_STR(m.stream_id, MZ);
	CHECK_EQ(m.sequence, 5);
	CHECK_STR(m.track, "inbound_track");
	CHECK_STR(m.digit, "1");
	return 0;
}

TEST(twilio_mark)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_MARK), 0);
	CHECK_EQ(m.event, MSTREAM_MARK);
	CHECK_STR(m.name, "mark");
	CHECK_EQ(m.sequence, 4);
	CHECK_STR(m.stream_id, MZ);
	CHECK_STR(m.mark, "my label");
	return 0;
}

TEST(twilio_stop)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_STOP), 0);
	CHECK_EQ(m.event, MSTREAM_STOP);
	CHECK_STR(m.name, "stop");
	CHECK_EQ(m.sequence, 5);
	CHECK_STR(m.stream_id, MZ);
	CHECK_STR(m.account_id, AC);
	CHECK_STR(m.call_id, CA);
	return 0;
}

/* What a Pipecat bot sends when voxgate is its carrier. */
TEST(twilio_from_bot)
{
	static char text[BIG];

	b64(text, ulaw, sizeof(ulaw));
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"media\",\"streamSid\":\"" MZ "\",\"media\":{"
	         "\"payload\":\"%s\"}}",
	         text);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_MEDIA);
	CHECK_STR(m.stream_id, MZ);
	CHECK_STR(m.track, "");
	CHECK_EQ(m.sequence, 0);
	CHECK_EQ(m.chunk, 0);
	CHECK_EQ(m.timestamp, 0);
	CHECK_EQ(m.payload_len, sizeof(ulaw));
	CHECK(memcmp(m.payload, ulaw, sizeof(ulaw)) == 0);
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"mark\",\"streamSid\":\"" MZ "\",\"mark\":"
	               "{\"name\":\"x\"}}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_MARK);
	CHECK_STR(m.mark, "x");
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"clear\",\"streamSid\":\"" MZ "\"}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_CLEAR);
	CHECK_STR(m.name, "clear");
	CHECK_STR(m.stream_id, MZ);
	return 0;
}

TEST(telnyx_connected)
{
	CHECK_EQ(parse(MSTREAM_TELNYX, TX_CONNECTED), 0);
	CHECK_EQ(m.event, MSTREAM_CONNECTED);
	CHECK_STR(m.token, "");
	CHECK_EQ(parse(MSTREAM_TELNYX,
	               "{\"event\":\"connected\",\"version\":\"1.0.0\","
	               "\"x-telnyx-streaming-auth-token\":\"s3cr3t\"}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_CONNECTED);
	CHECK_STR(m.token, "s3cr3t");
	return 0;
}

TEST(telnyx_start)
{
	CHECK_EQ(parse(MSTREAM_TELNYX, TX_START), 0);
	CHECK_EQ(m.event, MSTREAM_START);
	CHECK_STR(m.name, "start");
	CHECK_EQ(m.sequence, 1);
	CHECK_STR(m.stream_id, SID);
	CHECK_STR(m.call_id, CCID);
	CHECK_STR(m.account_id, USERID);
	CHECK_STR(m.from, "+13122010094");
	CHECK_STR(m.to, "+13122123456");
	CHECK_STR(m.encoding, "PCMU");
	CHECK_EQ(m.sample_rate, 8000);
	CHECK_EQ(m.nparams, 1);
	CHECK_STR(m.params[0].name, "customer_id");
	CHECK_STR(m.params[0].value, "customer_123");
	return 0;
}

TEST(telnyx_start_encodings)
{
	CHECK_EQ(parse(MSTREAM_TELNYX,
	               "{\"event\":\"start\",\"stream_id\":\"s\",\"start\":{"
	               "\"call_control_id\":\"c\",\"media_format\":{"
	               "\"encoding\":\"PCMA\",\"sample_rate\":8000}}}"),
	         0);
	CHECK_STR(m.encoding, "PCMA");
	CHECK_EQ(parse(MSTREAM_TELNYX,
	               "{\"event\":\"start\",\"stream_id\":\"s\",\"start\":{"
	               "\"call_control_id\":\"c\",\"media_format\":{"
	               "\"encoding\":\"L16\",\"sample_rate\":16000}}}"),
	         0);
	CHECK_STR(m.encoding, "L16");
	CHECK_EQ(m.sample_rate, 16000);
	return 0;
}

TEST(telnyx_media)
{
	static char text[BIG];

	b64(text, ulaw, sizeof(ulaw));
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"media\",\"sequence_number\":\"4\",\"media\":{"
	         "\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5\","
	         "\"payload\":\"%s\"},\"stream_id\":\"" SID "\"}",
	         text);
	CHECK_EQ(parse(MSTREAM_TELNYX, frame), 0);
	CHECK_EQ(m.event, MSTREAM_MEDIA);
	CHECK_EQ(m.sequence, 4);
	CHECK_STR(m.track, "inbound");
	CHECK_EQ(m.chunk, 2);
	CHECK_EQ(m.timestamp, 5);
	CHECK_STR(m.stream_id, SID);
	CHECK_EQ(m.payload_len, sizeof(ulaw));
	CHECK(memcmp(m.payload, ulaw, sizeof(ulaw)) == 0);
	return 0;
}

TEST(telnyx_stop)
{
	CHECK_EQ(parse(MSTREAM_TELNYX, TX_STOP), 0);
	CHECK_EQ(m.event, MSTREAM_STOP);
	CHECK_EQ(m.sequence, 5);
	CHECK_STR(m.stream_id, SID);
	CHECK_STR(m.call_id, CCID);
	CHECK_STR(m.account_id, USERID);
	return 0;
}

TEST(telnyx_dtmf_mark_error)
{
	CHECK_EQ(parse(MSTREAM_TELNYX,
	               "{\"event\":\"dtmf\",\"stream_id\":\"" SID "\","
	               "\"sequence_number\":\"6\",\"dtmf\":{\"digit\":\"#\"}}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_DTMF);
	CHECK_STR(m.digit, "#");
	CHECK_EQ(m.sequence, 6);
	CHECK_STR(m.stream_id, SID);
	CHECK_EQ(parse(MSTREAM_TELNYX,
	               "{\"event\":\"mark\",\"sequence_number\":\"7\","
	               "\"stream_id\":\"" SID
	               "\",\"mark\":{\"name\":\"u-3\"}}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_MARK);
	CHECK_STR(m.mark, "u-3");
	CHECK_EQ(m.sequence, 7);
	CHECK_EQ(parse(MSTREAM_TELNYX,
	               "{\"event\":\"error\",\"sequence_number\":\"8\","
	               "\"stream_id\":\"" SID "\",\"payload\":{\"code\":"
	               "100002,\"title\":\"Unknown error\",\"detail\":"
	               "\"An unknown error occurred\"}}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_ERROR);
	CHECK_STR(m.name, "error");
	CHECK_EQ(m.sequence, 8);
	CHECK_STR(m.mark, "");
	return 0;
}

TEST(unknown_event)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, "{\"event\":\"foo\",\"bar\":[1]}"), 0);
	CHECK_EQ(m.event, MSTREAM_UNKNOWN);
	CHECK_STR(m.name, "foo");
	CHECK_EQ(parse(MSTREAM_TELNYX, "{\"event\":\"foo\"}"), 0);
	CHECK_EQ(m.event, MSTREAM_UNKNOWN);
	CHECK_STR(m.name, "foo");
	/* Names are matched whole, not by their cut copy. */
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"media-and-a-name-longer-than-32\"}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_UNKNOWN);
	CHECK_STR(m.name, "media-and-a-name-longer-than-32");
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"connected-and-a-name-longer-than-32\"}"),
	         0);
	CHECK_EQ(m.event, MSTREAM_UNKNOWN);
	CHECK_STR(m.name, "connected-and-a-name-longer-tha");
	return 0;
}

TEST(malformed)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "{\"event\":\"media\"",
	    "[{\"event\":\"media\"}]",
	    "\"media\"",
	    "{}",
	    "{\"Event\":\"media\"}",
	    "{\"event\":null}",
	    "{\"event\":1}",
	    "{\"event\":{\"name\":\"media\"}}",
	    "{\"event\":\"media\"}",
	    "{\"event\":\"media\",\"media\":{}}",
	    "{\"event\":\"media\",\"media\":{\"payload\":null}}",
	    "{\"event\":\"media\",\"media\":[\"QUJD\"]}",
	    "{\"event\":\"media\",\"media\":{\"payload\":7}}",
	    "{\"event\":\"media\",\"media\":{\"payload\":\"QUJD\","
	    "\"chunk\":\"x\"}}",
	    "{\"event\":\"media\",\"media\":{\"payload\":\"QUJD\","
	    "\"timestamp\":-1}}",
	    "{\"event\":\"media\",\"media\":{\"payload\":\"QUJD\","
	    "\"track\":1}}",
	    "{\"event\":\"start\",\"start\":{\"callSid\":\"" CA "\"}}",
	    "{\"event\":\"start\",\"streamSid\":\"" MZ "\"}",
	    "{\"event\":\"start\",\"streamSid\":\"" MZ "\",\"start\":{}}",
	    "{\"event\":\"start\",\"streamSid\":\"" MZ "\",\"start\":[]}",
	    "{\"event\":\"start\",\"streamSid\":\"" MZ "\",\"start\":{"
	    "\"callSid\":\"" CA "\",\"customParameters\":[\"a\"]}}",
	    "{\"event\":\"start\",\"streamSid\":\"" MZ "\",\"start\":{"
	    "\"callSid\":\"" CA "\",\"mediaFormat\":{\"sampleRate\":8e3}}}",
	    "{\"event\":\"start\",\"streamSid\":\"" MZ "\",\"start\":{"
	    "\"callSid\":\"" CA "\",\"mediaFormat\":\"audio/x-mulaw\"}}",
	    "{\"event\":\"mark\",\"streamSid\":\"" MZ "\"}",
	    "{\"event\":\"mark\",\"mark\":{}}",
	    "{\"event\":\"mark\",\"mark\":{\"name\":\"\"}}",
	    "{\"event\":\"mark\",\"mark\":{\"name\":3}}",
	    "{\"event\":\"dtmf\",\"dtmf\":{}}",
	    "{\"event\":\"dtmf\",\"dtmf\":{\"digit\":1}}",
	    "{\"event\":\"stop\",\"stop\":\"CA\"}",
	    "{\"event\":\"clear\",\"streamSid\":5}",
	    "{\"event\":\"foo\",\"sequenceNumber\":\"1.5\"}",
	    "{\"event\":\"foo\",\"sequenceNumber\":\"\"}",
	    "{\"event\":\"foo\",\"sequenceNumber\":\" 1\"}",
	    "{\"event\":\"foo\",\"sequenceNumber\":\"+1\"}",
	    "{\"event\":\"foo\",\"sequenceNumber\":\"4294967296\"}",
	    "{\"event\":\"foo\",\"sequenceNumber\":4294967296}",
	    "{\"event\":\"foo\",\"sequenceNumber\":1.0}",
	    "{\"event\":\"foo\",\"sequenceNumber\":true}",
	    "{\"event\":\"media\",\"media\":{\"payload\":\"QUJD\"}} x",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!refused(MSTREAM_TWILIO, bad[i], EBADMSG))
			TEST_FAIL("malformed", "accepted %s (why \"%s\")",
			          bad[i], why);
	}
	/* The same holes in Telnyx's keys. */
	CHECK(refused(MSTREAM_TELNYX,
	              "{\"event\":\"start\",\"start\":{\"call_control_id\":"
	              "\"" CCID "\"}}",
	              EBADMSG));
	CHECK(refused(MSTREAM_TELNYX,
	              "{\"event\":\"start\",\"stream_id\":\"" SID "\","
	              "\"start\":{\"callSid\":\"" CA "\"}}",
	              EBADMSG));
	CHECK(refused(MSTREAM_TELNYX,
	              "{\"event\":\"foo\",\"sequence_number\":\"x\"}",
	              EBADMSG));
	/* A frame not NUL-terminated is read within len. */
	CHECK_EQ(mstream_parse(&m, MSTREAM_TWILIO, TW_DTMF "garbage",
	                       strlen(TW_DTMF), &why),
	         0);
	CHECK_STR(m.digit, "1");
	/* why may be absent. */
	CHECK_EQ(mstream_parse(&m, MSTREAM_TWILIO, "[]", 2, NULL), EBADMSG);
	CHECK_STR(m.why, "not a JSON object");
	why = NULL;
	CHECK_EQ(mstream_parse(NULL, MSTREAM_TWILIO, "{}", 2, &why), EINVAL);
	CHECK(why && why[0] != '\0');
	why = NULL;
	CHECK_EQ(mstream_parse(&m, MSTREAM_TWILIO, NULL, 0, &why), EINVAL);
	CHECK(why && why[0] != '\0');
	CHECK_EQ(mstream_parse(&m, MSTREAM_TWILIO, NULL, 0, NULL), EINVAL);
	return 0;
}

/* Numbers as strings, as JSON numbers, absent or null, at the limits. */
TEST(numbers)
{
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"media\",\"sequenceNumber\":\"4294967295\","
	               "\"media\":{\"chunk\":4294967295,\"timestamp\":\"0\","
	               "\"payload\":\"QUJD\"}}"),
	         0);
	CHECK_EQ(m.sequence, UINT32_MAX);
	CHECK_EQ(m.chunk, UINT32_MAX);
	CHECK_EQ(m.timestamp, 0);
	CHECK_EQ(parse(MSTREAM_TWILIO,
	               "{\"event\":\"media\",\"sequenceNumber\":null,"
	               "\"media\":{\"chunk\":\"0000000012\",\"payload\":"
	               "\"QUJD\"}}"),
	         0);
	CHECK_EQ(m.sequence, 0);
	CHECK_EQ(m.chunk, 12);
	CHECK_EQ(m.payload_len, 3);
	CHECK(memcmp(m.payload, "ABC", 3) == 0);
	return 0;
}

/* What does not fit a field: ids refused, text cut at a character. */
TEST(field_sizes)
{
	char id[200], text[400];
	size_t i;

	memset(id, 'z', sizeof(id));
	id[sizeof(m.stream_id)] = '\0';
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"clear\",\"streamSid\":\"%s\"}", id);
	CHECK(refused(MSTREAM_TWILIO, frame, EBADMSG));
	id[sizeof(m.stream_id) - 1] = '\0';
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"clear\",\"streamSid\":\"%s\"}", id);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_STR(m.stream_id, id);
	memset(id, 'z', sizeof(id));
	id[sizeof(m.call_id)] = '\0';
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"start\",\"streamSid\":\"" MZ "\",\"start\":{"
	         "\"callSid\":\"%s\"}}",
	         id);
	CHECK(refused(MSTREAM_TWILIO, frame, EBADMSG));
	memset(id, 'z', sizeof(id));
	id[sizeof(m.mark)] = '\0';
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"mark\",\"mark\":{\"name\":\"%s\"}}", id);
	CHECK(refused(MSTREAM_TWILIO, frame, EBADMSG));
	memset(id, 'z', sizeof(id));
	id[sizeof(id) - 1] = '\0';
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"connected\",\"x-telnyx-streaming-auth-token\":"
	         "\"%s%s\"}",
	         id, id);
	CHECK(refused(MSTREAM_TELNYX, frame, EBADMSG));
	/* 255 bytes of é cut to 254: whole characters only. */
	for (i = 0; i + 1 < 300; i += 2) {
		text[i] = (char)0xC3;
		text[i + 1] = (char)0xA9;
	}
	text[300] = '\0';
	snprintf(frame, sizeof(frame),
	         "{\"event\":\"start\",\"streamSid\":\"s\",\"start\":{"
	         "\"callSid\":\"c\",\"from\":\"%s\",\"customParameters\":{"
	         "\"%s\":\"%s\"}}}",
	         text, text, text);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(strlen(m.from), sizeof(m.from) - 2);
	CHECK_EQ(strlen(m.params[0].name), sizeof(m.params[0].name) - 2);
	CHECK_EQ(strlen(m.params[0].value), sizeof(m.params[0].value) - 2);
	CHECK(memcmp(m.params[0].value, text, 254) == 0);
	return 0;
}

TEST(params_limits)
{
	char *p = frame;
	size_t i;

	p += sprintf(p, "{\"event\":\"start\",\"streamSid\":\"s\",\"start\":{"
	                "\"callSid\":\"c\",\"customParameters\":{"
	                "\"n\":null,\"o\":{},\"x\":1");
	for (i = 0; i < MSTREAM_PARAMS_MAX + 4; i++)
		p += sprintf(p, ",\"k%zu\":\"v%zu\"", i, i);
	sprintf(p, "}}}");
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.nparams, MSTREAM_PARAMS_MAX);
	CHECK_STR(m.params[0].name, "k0");
	CHECK_STR(m.params[0].value, "v0");
	CHECK_STR(m.params[MSTREAM_PARAMS_MAX - 1].name, "k15");
	CHECK_STR(m.params[MSTREAM_PARAMS_MAX - 1].value, "v15");
	return 0;
}

/* A frame read after another keeps nothing of it. */
TEST(cleared_between_frames)
{
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_START), 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_DTMF), 0);
	CHECK_STR(m.call_id, "");
	CHECK_STR(m.account_id, "");
	CHECK_EQ(m.nparams, 0);
	CHECK_STR(m.params[0].name, "");
	CHECK_EQ(m.sample_rate, 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, tw_media_of(ulaw, sizeof(ulaw))), 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, TW_MARK), 0);
	CHECK_EQ(m.payload_len, 0);
	CHECK_STR(m.track, "");
	return 0;
}

/* The writers' frames, byte for byte as documented. */
TEST(writers_exact)
{
	static const uint8_t abc[3] = {'A', 'B', 'C'};
	struct mstream_param params[2] = {{"FirstName", "Jane"},
	                                  {"LastName", "Doe"}};
	char buf[1024];

#define EXACT(call, want)                                                      \
	do {                                                                   \
		CHECK_EQ(call, strlen(want));                                  \
		CHECK_STR(buf, want);                                          \
	} while (0)
	EXACT(mstream_media(buf, sizeof(buf), MSTREAM_TWILIO, MZ, abc, 3),
	      "{\"event\":\"media\",\"streamSid\":\"" MZ "\",\"media\":{"
	      "\"payload\":\"QUJD\"}}");
	EXACT(mstream_mark(buf, sizeof(buf), MSTREAM_TWILIO, MZ, "utt-17"),
	      "{\"event\":\"mark\",\"streamSid\":\"" MZ "\",\"mark\":{"
	      "\"name\":\"utt-17\"}}");
	EXACT(mstream_clear(buf, sizeof(buf), MSTREAM_TWILIO, MZ),
	      "{\"event\":\"clear\",\"streamSid\":\"" MZ "\"}");
	EXACT(mstream_media(buf, sizeof(buf), MSTREAM_TELNYX, SID, abc, 3),
	      "{\"event\":\"media\",\"media\":{\"payload\":\"QUJD\"}}");
	EXACT(mstream_mark(buf, sizeof(buf), MSTREAM_TELNYX, SID, "utt-17"),
	      "{\"event\":\"mark\",\"mark\":{\"name\":\"utt-17\"}}");
	EXACT(mstream_clear(buf, sizeof(buf), MSTREAM_TELNYX, SID),
	      "{\"event\":\"clear\"}");
	EXACT(mstream_connected(buf, sizeof(buf)), TW_CONNECTED);
	EXACT(mstream_start(buf, sizeof(buf), MZ, AC, CA, params, 2, 1),
	      "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{"
	      "\"accountSid\":\"" AC "\",\"streamSid\":\"" MZ "\",\"callSid\":"
	      "\"" CA "\",\"tracks\":[\"inbound\"],\"mediaFormat\":{"
	      "\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,"
	      "\"channels\":1},\"customParameters\":{\"FirstName\":\"Jane\","
	      "\"LastName\":\"Doe\"}},\"streamSid\":\"" MZ "\"}");
	EXACT(mstream_start(buf, sizeof(buf), MZ, AC, CA, NULL, 0, 1),
	      "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{"
	      "\"accountSid\":\"" AC "\",\"streamSid\":\"" MZ "\",\"callSid\":"
	      "\"" CA "\",\"tracks\":[\"inbound\"],\"mediaFormat\":{"
	      "\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,"
	      "\"channels\":1},\"customParameters\":{}},\"streamSid\":\"" MZ
	      "\"}");
	EXACT(mstream_media_in(buf, sizeof(buf), MZ, 4, 2, 5, abc, 3),
	      "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"media\":{"
	      "\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5\","
	      "\"payload\":\"QUJD\"},\"streamSid\":\"" MZ "\"}");
	EXACT(mstream_mark_played(buf, sizeof(buf), MZ, "my label", 4),
	      TW_MARK);
	EXACT(mstream_dtmf(buf, sizeof(buf), MZ, "1", 5), TW_DTMF);
	EXACT(mstream_stop(buf, sizeof(buf), MZ, AC, CA, 5), TW_STOP);
	EXACT(
	    mstream_media_in(buf, sizeof(buf), MZ, 0, UINT32_MAX, 10, NULL, 0),
	    "{\"event\":\"media\",\"sequenceNumber\":\"0\",\"media\":{"
	    "\"track\":\"inbound\",\"chunk\":\"4294967295\",\"timestamp\":"
	    "\"10\",\"payload\":\"\"},\"streamSid\":\"" MZ "\"}");
	EXACT(mstream_stop(buf, sizeof(buf), NULL, NULL, NULL, 0),
	      "{\"event\":\"stop\",\"sequenceNumber\":\"0\",\"stop\":{"
	      "\"accountSid\":\"\",\"callSid\":\"\"},\"streamSid\":\"\"}");
#undef EXACT
	/* Nothing written when the arguments cannot make a frame. */
	CHECK_EQ(mstream_start(buf, sizeof(buf), MZ, AC, CA, NULL, 1, 1), 0);
	CHECK_EQ(mstream_media(buf, sizeof(buf), MSTREAM_TWILIO, MZ, NULL, 1),
	         0);
	return 0;
}

/* Every writer's frame read back. */
TEST(round_trip)
{
	struct mstream_param params[3] = {
	    {"tenant", "t1"}, {"From", "+15551234567"}, {"empty", ""}};
	enum mstream_dialect d;
	size_t i;

	for (d = MSTREAM_TWILIO; d <= MSTREAM_TELNYX; d++) {
		const char *want = d == MSTREAM_TWILIO ? MZ : "";

		CHECK(mstream_media(frame, sizeof(frame), d, MZ, ulaw,
		                    sizeof(ulaw)) > 0);
		CHECK_EQ(parse(d, frame), 0);
		CHECK_EQ(m.event, MSTREAM_MEDIA);
		CHECK_STR(m.stream_id, want);
		CHECK_EQ(m.payload_len, sizeof(ulaw));
		CHECK(memcmp(m.payload, ulaw, sizeof(ulaw)) == 0);
		CHECK(mstream_mark(frame, sizeof(frame), d, MZ, "utt-17") > 0);
		CHECK_EQ(parse(d, frame), 0);
		CHECK_EQ(m.event, MSTREAM_MARK);
		CHECK_STR(m.mark, "utt-17");
		CHECK_STR(m.stream_id, want);
		CHECK(mstream_clear(frame, sizeof(frame), d, MZ) > 0);
		CHECK_EQ(parse(d, frame), 0);
		CHECK_EQ(m.event, MSTREAM_CLEAR);
		CHECK_STR(m.stream_id, want);
	}
	CHECK(mstream_connected(frame, sizeof(frame)) > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_CONNECTED);
	CHECK(mstream_start(frame, sizeof(frame), MZ, AC, CA, params, 3, 1) >
	      0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_START);
	CHECK_EQ(m.sequence, 1);
	CHECK_STR(m.stream_id, MZ);
	CHECK_STR(m.account_id, AC);
	CHECK_STR(m.call_id, CA);
	CHECK_STR(m.encoding, "PCMU");
	CHECK_EQ(m.sample_rate, 8000);
	CHECK_EQ(m.nparams, 3);
	for (i = 0; i < 3; i++) {
		CHECK_STR(m.params[i].name, params[i].name);
		CHECK_STR(m.params[i].value, params[i].value);
	}
	CHECK(mstream_media_in(frame, sizeof(frame), MZ, 3, 2, 20, ulaw,
	                       sizeof(ulaw)) > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_MEDIA);
	CHECK_EQ(m.sequence, 3);
	CHECK_EQ(m.chunk, 2);
	CHECK_EQ(m.timestamp, 20);
	CHECK_STR(m.track, "inbound");
	CHECK_STR(m.stream_id, MZ);
	CHECK_EQ(m.payload_len, sizeof(ulaw));
	CHECK(memcmp(m.payload, ulaw, sizeof(ulaw)) == 0);
	CHECK(mstream_mark_played(frame, sizeof(frame), MZ, "bot-9", 40) > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_MARK);
	CHECK_EQ(m.sequence, 40);
	CHECK_STR(m.mark, "bot-9");
	CHECK_STR(m.stream_id, MZ);
	CHECK(mstream_dtmf(frame, sizeof(frame), MZ, "#", 41) > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_DTMF);
	CHECK_EQ(m.sequence, 41);
	CHECK_STR(m.digit, "#");
	CHECK_STR(m.track, "inbound_track");
	CHECK_STR(m.stream_id, MZ);
	CHECK(mstream_stop(frame, sizeof(frame), MZ, AC, CA, 42) > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_EQ(m.event, MSTREAM_STOP);
	CHECK_EQ(m.sequence, 42);
	CHECK_STR(m.account_id, AC);
	CHECK_STR(m.call_id, CA);
	CHECK_STR(m.stream_id, MZ);
	/* The largest payload a frame may carry goes both ways. */
	{
		static uint8_t bytes[MSTREAM_PAYLOAD_MAX];

		for (i = 0; i < sizeof(bytes); i++)
			bytes[i] = (uint8_t)(i ^ (i >> 8));
		CHECK(mstream_media(frame, sizeof(frame), MSTREAM_TELNYX, NULL,
		                    bytes, sizeof(bytes)) > 0);
		CHECK_EQ(parse(MSTREAM_TELNYX, frame), 0);
		CHECK_EQ(m.payload_len, sizeof(bytes));
		CHECK(memcmp(m.payload, bytes, sizeof(bytes)) == 0);
		CHECK_EQ(mstream_media(frame, sizeof(frame), MSTREAM_TELNYX,
		                       NULL, bytes, sizeof(bytes) + 1),
		         0);
	}
	return 0;
}

/* Telnyx takes no stream id in the frames it is sent. */
TEST(telnyx_no_stream_id)
{
	CHECK(mstream_media(frame, sizeof(frame), MSTREAM_TELNYX, SID, ulaw,
	                    sizeof(ulaw)) > 0);
	CHECK(strstr(frame, "stream") == NULL && strstr(frame, SID) == NULL);
	CHECK(mstream_mark(frame, sizeof(frame), MSTREAM_TELNYX, SID, "x") > 0);
	CHECK(strstr(frame, "stream") == NULL && strstr(frame, SID) == NULL);
	CHECK(mstream_clear(frame, sizeof(frame), MSTREAM_TELNYX, SID) > 0);
	CHECK(strstr(frame, "stream") == NULL && strstr(frame, SID) == NULL);
	return 0;
}

/* Each writer with fixed arguments, for the short-buffer sweep. */
typedef size_t (*writer_fn)(char *buf, size_t size);

static size_t w_media_tw(char *buf, size_t size)
{
	return mstream_media(buf, size, MSTREAM_TWILIO, MZ, ulaw, 160);
}

static size_t w_media_tx(char *buf, size_t size)
{
	return mstream_media(buf, size, MSTREAM_TELNYX, SID, ulaw, 157);
}

static size_t w_mark_tw(char *buf, size_t size)
{
	return mstream_mark(buf, size, MSTREAM_TWILIO, MZ, "a\"b\\c\x01");
}

static size_t w_mark_tx(char *buf, size_t size)
{
	return mstream_mark(buf, size, MSTREAM_TELNYX, SID, "utt-17");
}

static size_t w_clear_tw(char *buf, size_t size)
{
	return mstream_clear(buf, size, MSTREAM_TWILIO, MZ);
}

static size_t w_clear_tx(char *buf, size_t size)
{
	return mstream_clear(buf, size, MSTREAM_TELNYX, SID);
}

static size_t w_connected(char *buf, size_t size)
{
	return mstream_connected(buf, size);
}

static size_t w_start(char *buf, size_t size)
{
	static const struct mstream_param p[2] = {{"a\"", "\x1f\xff"},
	                                          {"b", "é"}};

	return mstream_start(buf, size, MZ, AC, CA, p, 2, 1);
}

static size_t w_media_in(char *buf, size_t size)
{
	return mstream_media_in(buf, size, MZ, 4, 2, 5, ulaw, 158);
}

static size_t w_mark_played(char *buf, size_t size)
{
	return mstream_mark_played(buf, size, MZ, "my label", 4);
}

static size_t w_dtmf(char *buf, size_t size)
{
	return mstream_dtmf(buf, size, MZ, "1", 5);
}

static size_t w_stop(char *buf, size_t size)
{
	return mstream_stop(buf, size, MZ, AC, CA, 5);
}

/* Every size from 0 to one byte short gives 0 and writes nothing past
 * size; the exact size gives the frame. */
TEST(short_buffers)
{
	static const writer_fn writers[] = {
	    w_media_tw, w_media_tx, w_mark_tw,     w_mark_tx,
	    w_clear_tw, w_clear_tx, w_connected,   w_start,
	    w_media_in, w_dtmf,     w_mark_played, w_stop,
	};
	static char want[BIG], buf[BIG];
	size_t i, len, size;

	for (i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
		len = writers[i](want, sizeof(want));
		CHECK(len > 0 && len == strlen(want));
		for (size = 0; size <= len; size++) {
			memset(buf, '#', len + 2);
			if (writers[i](buf, size) != 0)
				TEST_FAIL("short_buffers",
				          "writer %zu fits %zu bytes in %zu", i,
				          len, size);
			if (buf[size] != '#' || buf[size + 1] != '#')
				TEST_FAIL("short_buffers",
				          "writer %zu wrote past %zu", i, size);
			CHECK(size == 0 || buf[0] == '\0');
		}
		memset(buf, '#', len + 2);
		CHECK_EQ(writers[i](buf, len + 1), len);
		CHECK_STR(buf, want);
		CHECK_EQ(buf[len + 1], '#');
	}
	CHECK_EQ(mstream_connected(NULL, 100), 0);
	return 0;
}

/* Hostile strings come out as JSON that reads back to them. */
TEST(escaping)
{
	static const char hostile[] = "a\"b\\c\x01\x1f\x7f/</script>é€😀";
	struct mstream_param p = {"k\"\n", ""};
	json_error_t jerr;
	json_t *root;
	size_t len;

	memcpy(p.value, hostile, sizeof(hostile));
	len = mstream_mark(frame, sizeof(frame), MSTREAM_TWILIO, hostile,
	                   hostile);
	CHECK(len > 0);
	CHECK(strstr(frame, "\\u0001") != NULL);
	CHECK(strstr(frame, "\\u001f") != NULL);
	root = json_loadb(frame, len, 0, &jerr);
	CHECK(root != NULL);
	CHECK_STR(json_string_value(json_object_get(root, "streamSid")),
	          hostile);
	json_decref(root);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_STR(m.stream_id, hostile);
	CHECK_STR(m.mark, hostile);
	len = mstream_start(frame, sizeof(frame), hostile, hostile, hostile, &p,
	                    1, 1);
	CHECK(len > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_STR(m.stream_id, hostile);
	CHECK_STR(m.account_id, hostile);
	CHECK_STR(m.call_id, hostile);
	CHECK_EQ(m.nparams, 1);
	CHECK_STR(m.params[0].name, "k\"\n");
	CHECK_STR(m.params[0].value, hostile);
	CHECK(mstream_dtmf(frame, sizeof(frame), hostile, "\"", 1) > 0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_STR(m.digit, "\"");
	CHECK(mstream_stop(frame, sizeof(frame), hostile, hostile, hostile, 1) >
	      0);
	CHECK_EQ(parse(MSTREAM_TWILIO, frame), 0);
	CHECK_STR(m.call_id, hostile);
	return 0;
}

/* Bytes that are not UTF-8 (from a SIP header, say) become U+FFFD, so
 * the frame stays a valid WebSocket text frame. */
TEST(not_utf8)
{
	static const char *const bad[] = {
	    "\xff",
	    "\xc3",
	    "\xc3(",
	    "\xc0\xaf",
	    "\xe0\x80\xaf",
	    "\xed\xa0\x80",
	    "\xf4\x90\x80\x80",
	    "\xf0\x9f\x98",
	    "\x80",
	    "\xf5\x80\x80\x80",
	};
	char want[64];
	size_t i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = mstream_mark(frame, sizeof(frame), MSTREAM_TELNYX, NULL,
		                   bad[i]);
		CHECK(len > 0);
		if (parse(MSTREAM_TELNYX, frame) != 0)
			TEST_FAIL("not_utf8", "case %zu: %s", i, why);
		CHECK(strncmp(m.mark, "\xef\xbf\xbd", 3) == 0);
		CHECK(strstr(m.mark, bad[i]) == NULL);
	}
	/* One U+FFFD a byte, the rest kept. */
	CHECK(mstream_mark(frame, sizeof(frame), MSTREAM_TELNYX, NULL,
	                   "a\xc3(b\xe2\x82\xac") > 0);
	CHECK_EQ(parse(MSTREAM_TELNYX, frame), 0);
	snprintf(want, sizeof(want), "a\xef\xbf\xbd(b\xe2\x82\xac");
	CHECK_STR(m.mark, want);
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Not a check: what one 20 ms frame costs both ways. */
TEST(cost)
{
	enum { ROUNDS = 20000 };
	double t0, t1;
	size_t len;
	int i;

	t0 = now_ns();
	for (i = 0; i < ROUNDS; i++) {
		len = mstream_media_in(frame, sizeof(frame), MZ, (uint32_t)i,
		                       (uint32_t)i, (uint32_t)i * 20, ulaw,
		                       sizeof(ulaw));
		if (mstream_parse(&m, MSTREAM_TWILIO, frame, len, &why) != 0)
			TEST_FAIL("cost", "%s", why);
	}
	t1 = now_ns();
	CHECK_EQ(m.payload_len, sizeof(ulaw));
	printf("# mstream_media_in + mstream_parse, 160-byte payload: %.0f ns "
	       "(%d rounds)\n",
	       (t1 - t0) / ROUNDS, ROUNDS);
	return 0;
}

int main(void)
{
	ulaw_init();
	RUN(twilio_connected);
	RUN(twilio_start);
	RUN(twilio_start_variants);
	RUN(twilio_media);
	RUN(twilio_media_doc_payload);
	RUN(payload_lengths);
	RUN(payload_too_large);
	RUN(payload_not_base64);
	RUN(twilio_dtmf);
	RUN(twilio_mark);
	RUN(twilio_stop);
	RUN(twilio_from_bot);
	RUN(telnyx_connected);
	RUN(telnyx_start);
	RUN(telnyx_start_encodings);
	RUN(telnyx_media);
	RUN(telnyx_stop);
	RUN(telnyx_dtmf_mark_error);
	RUN(unknown_event);
	RUN(malformed);
	RUN(numbers);
	RUN(field_sizes);
	RUN(params_limits);
	RUN(cleared_between_frames);
	RUN(writers_exact);
	RUN(round_trip);
	RUN(telnyx_no_stream_id);
	RUN(short_buffers);
	RUN(escaping);
	RUN(not_utf8);
	RUN(cost);
	TEST_EXIT();
}
