/*
 * Telnyx webhooks: the signature against a fixed vector (RFC 8032's first
 * key) and every way a request is refused, events read from bodies shaped
 * as Telnyx sends them, client_state, and the seen set under retries,
 * expiry, eviction and volume. Further signed bodies are made here with
 * OpenSSL directly from the RFC's secret seed, not through the code under
 * test.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <openssl/evp.h>

#include "core/libre.h"
#include "carrier/telnyx.h"
#include "test.h"

#define PUBKEY "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define SEED   "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define TS     "1700000000"
#define NOW    ((int64_t)1700000000)
#define BODY                                                                   \
	"{\"data\":{\"event_type\":\"call.initiated\",\"id\":\"0ccc7b54-4df3-" \
	"4bca-a65a-3da1ecc777f0\",\"payload\":{\"call_control_id\":\"v3:"      \
	"abc\","                                                               \
	"\"direction\":\"incoming\",\"state\":\"parked\"},\"record_type\":"    \
	"\"event\"}}"
#define SIG                                                                    \
	"uJvHOzA6jBWaHEgOUICYtsiaOSFJAOGr7Pl/BXg65rYhByoAJzC/4baJedd554c/"     \
	"hsat40AlLwZJ4pwuz8heAw=="

/* The example from Telnyx's Call Control documentation, every field set. */
#define FULL_EVENT                                                             \
	"{\"data\":{\"record_type\":\"event\",\"event_type\":\"call.hangup\"," \
	"\"id\":\"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0\",\"occurred_at\":"     \
	"\"2018-02-02T22:25:27.521992Z\",\"payload\":{\"call_control_id\":"    \
	"\"v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg\","       \
	"\"call_leg_id\":\"2dc6fc34-f9e0-11ea-b68e-02420a0f7768\","            \
	"\"call_session_id\":\"2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768\","        \
	"\"connection_id\":\"1240401930086254526\",\"client_state\":"          \
	"\"aGF2ZSBhIG5pY2UgZGF5ID1d\",\"from\":\"+35319605860\",\"to\":"       \
	"\"+13129457420\",\"direction\":\"incoming\",\"state\":\"hangup\","    \
	"\"custom_headers\":[{\"name\":\"head_1\",\"value\":\"val_1\"}],"      \
	"\"hangup_cause\":\"normal_clearing\",\"hangup_source\":\"caller\","   \
	"\"sip_hangup_cause\":\"603\",\"digit\":\"#\"}},\"meta\":{"            \
	"\"attempt\":"                                                         \
	"1,\"delivered_to\":\"https://example.com/webhooks/telnyx\"}}"

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* The Ed25519 signature Telnyx would send for timestamp|body, base64 into
 * out (at least 89 bytes). 0 or -1. */
static int sign(const char *timestamp, const char *body, char *out)
{
	unsigned char seed[32], sig[64];
	size_t siglen = sizeof(sig), tl = strlen(timestamp), bl = strlen(body);
	unsigned char *msg = malloc(tl + 1 + bl);
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	int ok;

	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (unsigned char)(hexval(SEED[2 * i]) * 16 +
		                          hexval(SEED[2 * i + 1]));
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	                                    sizeof(seed));
	ctx = EVP_MD_CTX_new();
	ok = msg && pkey && ctx;
	if (ok) {
		memcpy(msg, timestamp, tl);
		msg[tl] = '|';
		memcpy(msg + tl + 1, body, bl);
		ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, &siglen, msg, tl + 1 + bl) == 1;
	}
	if (ok)
		EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	free(msg);
	return ok ? 0 : -1;
}

static int verify_at(const char *sig, const char *ts, const char *body,
                     int64_t now)
{
	struct telnyx_key *k;
	int err = telnyx_key_parse(&k, PUBKEY);

	if (err)
		return -1;
	err = telnyx_verify(k, sig, ts, body, body ? strlen(body) : 0, now);
	mem_deref(k);
	return err;
}

TEST(vector_valid)
{
	CHECK_EQ(strlen(BODY), 185);
	CHECK_EQ(verify_at(SIG, TS, BODY, NOW), 0);
	CHECK_EQ(verify_at(SIG, TS, BODY, NOW + 300), 0);
	CHECK_EQ(verify_at(SIG, TS, BODY, NOW - 300), 0);
	/* Padding is optional, as for the key. */
	CHECK_EQ(
	    verify_at("uJvHOzA6jBWaHEgOUICYtsiaOSFJAOGr7Pl/BXg65rYhByoAJzC/"
	              "4baJedd554c/hsat40AlLwZJ4pwuz8heAw",
	              TS, BODY, NOW),
	    0);
	return 0;
}

TEST(vector_stale)
{
	CHECK_EQ(verify_at(SIG, TS, BODY, NOW + 301), ETIME);
	CHECK_EQ(verify_at(SIG, TS, BODY, 1699999699), ETIME);
	CHECK_EQ(verify_at(SIG, TS, BODY, 0), ETIME);
	CHECK_EQ(verify_at(SIG, TS, BODY, INT64_MIN), ETIME);
	CHECK_EQ(verify_at(SIG, TS, BODY, INT64_MAX), ETIME);
	/* A forged request is a forgery, however old. */
	CHECK_EQ(verify_at(SIG, TS, "{}", NOW + 1000), EACCES);
	return 0;
}

TEST(vector_tampered)
{
	char body[] = BODY;

	CHECK_EQ(verify_at(SIG, "1700000001", BODY, NOW), EACCES);
	CHECK_EQ(verify_at(SIG, "01700000000", BODY, NOW), EACCES);
	body[100] ^= 1;
	CHECK_EQ(verify_at(SIG, TS, body, NOW), EACCES);
	body[100] ^= 1;
	CHECK_EQ(verify_at(SIG, TS, body, NOW), 0);
	CHECK_EQ(verify_at(SIG, TS, BODY "\n", NOW), EACCES);
	CHECK_EQ(verify_at(SIG, TS, "", NOW), EACCES);
	CHECK_EQ(verify_at(SIG, TS, NULL, NOW), EACCES);
	return 0;
}

TEST(bad_signature)
{
	char sig[] = SIG;

	/* Truncated: 63 bytes. */
	CHECK_EQ(
	    verify_at("uJvHOzA6jBWaHEgOUICYtsiaOSFJAOGr7Pl/BXg65rYhByoAJzC/"
	              "4baJedd554c/hsat40AlLwZJ4pwuz8he",
	              TS, BODY, NOW),
	    EACCES);
	CHECK_EQ(verify_at("uJvHOzA6", TS, BODY, NOW), EACCES);
	/* 65 bytes. */
	CHECK_EQ(
	    verify_at("uJvHOzA6jBWaHEgOUICYtsiaOSFJAOGr7Pl/BXg65rYhByoAJzC/"
	              "4baJedd554c/hsat40AlLwZJ4pwuz8heAwA=",
	              TS, BODY, NOW),
	    EACCES);
	CHECK_EQ(verify_at(SIG "AAAA", TS, BODY, NOW), EACCES);
	CHECK_EQ(verify_at("not base64!", TS, BODY, NOW), EACCES);
	CHECK_EQ(verify_at(" " SIG, TS, BODY, NOW), EACCES);
	CHECK_EQ(verify_at(SIG "\n", TS, BODY, NOW), EACCES);
	CHECK_EQ(verify_at(SIG "=", TS, BODY, NOW), EACCES);
	CHECK_EQ(verify_at("", TS, BODY, NOW), EACCES);
	CHECK_EQ(verify_at(NULL, TS, BODY, NOW), EACCES);
	/* Right length, wrong bits. */
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	CHECK_EQ(verify_at(sig, TS, BODY, NOW), EACCES);
	/* base64url is not what Telnyx sends. */
	CHECK_EQ(
	    verify_at("uJvHOzA6jBWaHEgOUICYtsiaOSFJAOGr7Pl_BXg65rYhByoAJzC_"
	              "4baJedd554c_hsat40AlLwZJ4pwuz8heAw==",
	              TS, BODY, NOW),
	    EACCES);
	return 0;
}

TEST(bad_timestamp)
{
	CHECK_EQ(verify_at(SIG, NULL, BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, "", BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, " 1700000000", BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, "+1700000000", BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, "-1", BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, "1700000000.5", BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, "17e8", BODY, NOW), ETIME);
	CHECK_EQ(verify_at(SIG, "9999999999999999999", BODY, NOW), ETIME);
	return 0;
}

TEST(bad_args)
{
	struct telnyx_key *k;

	CHECK_EQ(telnyx_verify(NULL, SIG, TS, BODY, strlen(BODY), NOW), EINVAL);
	CHECK_EQ(telnyx_key_parse(&k, PUBKEY), 0);
	CHECK_EQ(telnyx_verify(k, SIG, TS, NULL, 5, NOW), EINVAL);
	/* The length given is what is checked, not up to a NUL. */
	CHECK_EQ(telnyx_verify(k, SIG, TS, BODY "xyz", strlen(BODY), NOW), 0);
	mem_deref(k);
	mem_deref(NULL);
	return 0;
}

TEST(key_parse)
{
	struct telnyx_key *k = NULL;

	/* Unpadded, as it may be pasted. */
	CHECK_EQ(
	    telnyx_key_parse(&k, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
	    0);
	mem_deref(k);
	/* 31 and 33 bytes. */
	CHECK_EQ(telnyx_key_parse(
	             &k, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ=="),
	         EINVAL);
	CHECK_EQ(telnyx_key_parse(
	             &k, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA"),
	         EINVAL);
	/* A signature is no key. */
	CHECK_EQ(telnyx_key_parse(&k, SIG), EINVAL);
	CHECK_EQ(telnyx_key_parse(&k, "not a key"), EINVAL);
	CHECK_EQ(telnyx_key_parse(&k, PUBKEY " "), EINVAL);
	CHECK_EQ(telnyx_key_parse(&k, ""), EINVAL);
	CHECK_EQ(telnyx_key_parse(&k, NULL), EINVAL);
	CHECK_EQ(telnyx_key_parse(NULL, PUBKEY), EINVAL);
	return 0;
}

/* The seed signs what the vector says, so bodies signed here are as good
 * as Telnyx's. */
TEST(seed_signs_vector)
{
	char sig[100];

	CHECK_EQ(sign(TS, BODY, sig), 0);
	CHECK_STR(sig, SIG);
	CHECK_EQ(sign("1700000123", FULL_EVENT, sig), 0);
	CHECK_EQ(verify_at(sig, "1700000123", FULL_EVENT, NOW), 0);
	CHECK_EQ(verify_at(sig, TS, FULL_EVENT, NOW), EACCES);
	return 0;
}

TEST(event_full)
{
	struct telnyx_event ev;

	CHECK_EQ(telnyx_event_parse(&ev, FULL_EVENT, strlen(FULL_EVENT)), 0);
	CHECK_EQ(ev.type, TELNYX_EV_CALL_HANGUP);
	CHECK_STR(ev.event_type, "call.hangup");
	CHECK_STR(ev.id, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
	CHECK_STR(ev.occurred_at, "2018-02-02T22:25:27.521992Z");
	CHECK(fabs(ev.occurred - 1517610327.521992) < 1e-5);
	CHECK_STR(ev.call_control_id,
	          "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg");
	CHECK_STR(ev.call_leg_id, "2dc6fc34-f9e0-11ea-b68e-02420a0f7768");
	CHECK_STR(ev.call_session_id, "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768");
	CHECK_STR(ev.connection_id, "1240401930086254526");
	CHECK_STR(ev.client_state, "aGF2ZSBhIG5pY2UgZGF5ID1d");
	CHECK_STR(ev.from, "+35319605860");
	CHECK_STR(ev.to, "+13129457420");
	CHECK_STR(ev.direction, "incoming");
	CHECK_STR(ev.state, "hangup");
	CHECK_STR(ev.hangup_cause, "normal_clearing");
	CHECK_STR(ev.hangup_source, "caller");
	CHECK_STR(ev.sip_hangup_cause, "603");
	CHECK_STR(ev.digit, "#");
	return 0;
}

static int parse(const char *body, struct telnyx_event *ev)
{
	return telnyx_event_parse(ev, body, strlen(body));
}

TEST(event_types)
{
	static const struct {
		const char *name;
		enum telnyx_event_type type;
	} cases[] = {
	    {"call.initiated", TELNYX_EV_CALL_INITIATED},
	    {"call.answered", TELNYX_EV_CALL_ANSWERED},
	    {"call.bridged", TELNYX_EV_CALL_BRIDGED},
	    {"call.hangup", TELNYX_EV_CALL_HANGUP},
	    {"call.dtmf.received", TELNYX_EV_DTMF},
	    {"streaming.started", TELNYX_EV_STREAMING_STARTED},
	    {"streaming.stopped", TELNYX_EV_STREAMING_STOPPED},
	    {"streaming.failed", TELNYX_EV_STREAMING_FAILED},
	    {"call.speak.ended", TELNYX_EV_OTHER},
	    {"call.dtmf", TELNYX_EV_OTHER},
	    {"Call.Hangup", TELNYX_EV_OTHER},
	    {"", TELNYX_EV_OTHER},
	};
	struct telnyx_event ev;
	char body[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body),
		         "{\"data\":{\"event_type\":\"%s\",\"id\":\"x\"}}",
		         cases[i].name);
		CHECK_EQ(parse(body, &ev), 0);
		CHECK_EQ(ev.type, cases[i].type);
		CHECK_STR(ev.event_type, cases[i].name);
	}
	return 0;
}

TEST(event_sparse)
{
	struct telnyx_event ev;

	/* No payload at all, and fields that are null or not strings. */
	CHECK_EQ(parse("{\"data\":{\"event_type\":\"call.answered\",\"id\":"
	               "\"a\"}}",
	               &ev),
	         0);
	CHECK_EQ(ev.type, TELNYX_EV_CALL_ANSWERED);
	CHECK_STR(ev.call_control_id, "");
	CHECK_STR(ev.occurred_at, "");
	CHECK(ev.occurred == 0);
	CHECK_EQ(
	    parse("{\"data\":{\"event_type\":\"call.answered\",\"id\":\"a\","
	          "\"payload\":{\"client_state\":null,\"from\":42,\"to\":"
	          "[\"+1\"],\"digit\":\"1\"}}}",
	          &ev),
	    0);
	CHECK_STR(ev.client_state, "");
	CHECK_STR(ev.from, "");
	CHECK_STR(ev.to, "");
	CHECK_STR(ev.digit, "1");
	CHECK_EQ(
	    parse("{\"data\":{\"event_type\":\"call.answered\",\"id\":\"a\","
	          "\"payload\":\"v3:abc\"}}",
	          &ev),
	    0);
	CHECK_STR(ev.call_control_id, "");
	return 0;
}

TEST(event_malformed)
{
	struct telnyx_event ev;

	CHECK_EQ(parse("", &ev), EBADMSG);
	CHECK_EQ(parse("not json", &ev), EBADMSG);
	CHECK_EQ(parse("{\"data\":", &ev), EBADMSG);
	CHECK_EQ(parse("[]", &ev), EBADMSG);
	CHECK_EQ(parse("{}", &ev), EBADMSG);
	CHECK_EQ(parse("{\"data\":[]}", &ev), EBADMSG);
	CHECK_EQ(parse("{\"data\":{\"id\":\"a\"}}", &ev), EBADMSG);
	CHECK_EQ(parse("{\"data\":{\"event_type\":\"call.hangup\"}}", &ev),
	         EBADMSG);
	CHECK_EQ(
	    parse("{\"data\":{\"event_type\":\"call.hangup\",\"id\":7}}", &ev),
	    EBADMSG);
	CHECK_EQ(parse("{\"data\":{\"event_type\":null,\"id\":\"a\"}}", &ev),
	         EBADMSG);
	/* The record is Telnyx's envelope; the event alone is not one. */
	CHECK_EQ(parse("{\"event_type\":\"call.hangup\",\"id\":\"a\"}", &ev),
	         EBADMSG);
	/* Only the given length is read. */
	CHECK_EQ(telnyx_event_parse(&ev, FULL_EVENT, strlen(FULL_EVENT) - 1),
	         EBADMSG);
	CHECK_EQ(telnyx_event_parse(&ev, NULL, 0), EINVAL);
	CHECK_EQ(telnyx_event_parse(NULL, "{}", 2), EINVAL);
	return 0;
}

TEST(event_cut)
{
	struct telnyx_event ev;
	char body[1024], from[300];
	size_t i;

	/* "é" (2 bytes) repeated: 127 bytes would end inside the 64th, so
	 * the field keeps 63. */
	from[0] = '\0';
	for (i = 0; i < 100; i++)
		strcat(from, "\xc3\xa9");
	snprintf(body, sizeof(body),
	         "{\"data\":{\"event_type\":\"call.initiated\",\"id\":\"a\","
	         "\"payload\":{\"from\":\"%s\",\"digit\":\"12345\","
	         "\"direction\":\"incoming-and-then-some\"}}}",
	         from);
	CHECK_EQ(parse(body, &ev), 0);
	CHECK_EQ(strlen(ev.from), 2 * 63);
	CHECK(memcmp(ev.from, from, strlen(ev.from)) == 0);
	CHECK_STR(ev.digit, "123");
	CHECK_STR(ev.direction, "incoming-and-th");
	return 0;
}

static double occurred(const char *at)
{
	struct telnyx_event ev;
	char body[256];

	snprintf(body, sizeof(body),
	         "{\"data\":{\"event_type\":\"call.hangup\",\"id\":\"a\","
	         "\"occurred_at\":\"%s\"}}",
	         at);
	if (parse(body, &ev) != 0)
		return -1;
	return ev.occurred;
}

TEST(event_occurred)
{
	CHECK(occurred("2018-02-02T22:25:27Z") == 1517610327);
	CHECK(occurred("2024-02-29T23:59:59Z") == 1709251199);
	CHECK(fabs(occurred("2018-02-02T22:25:27.5Z") - 1517610327.5) < 1e-6);
	CHECK(occurred("2018-02-02T23:25:27+01:00") == 1517610327);
	CHECK(occurred("2018-02-02T17:25:27-05:00") == 1517610327);
	CHECK(occurred("1970-01-01T00:00:00Z") == 0);
	CHECK(occurred("2018-02-02T22:25:27") == 0);
	CHECK(occurred("2018-02-02T22:25:27.Z") == 0);
	CHECK(occurred("2018-02-02T22:25:27Zjunk") == 0);
	CHECK(occurred("2018-13-02T22:25:27Z") == 0);
	CHECK(occurred("2018-02-02") == 0);
	CHECK(occurred("") == 0);
	CHECK(occurred("yesterday") == 0);
	return 0;
}

TEST(rank)
{
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_CALL_INITIATED), 1);
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_CALL_ANSWERED), 2);
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_CALL_BRIDGED), 3);
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_CALL_HANGUP), 9);
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_DTMF), 0);
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_STREAMING_STARTED), 0);
	CHECK_EQ(telnyx_event_rank(TELNYX_EV_OTHER), 0);
	/* The case it exists for. */
	CHECK(telnyx_event_rank(TELNYX_EV_CALL_ANSWERED) <
	      telnyx_event_rank(TELNYX_EV_CALL_HANGUP));
	return 0;
}

TEST(client_state)
{
	char b64[64], out[64];

	CHECK_EQ(telnyx_client_state_encode(b64, sizeof(b64), "call=42;room=a"),
	         0);
	CHECK_STR(b64, "Y2FsbD00Mjtyb29tPWE=");
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), b64), 0);
	CHECK_STR(out, "call=42;room=a");
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out),
	                                    "aGF2ZSBhIG5pY2UgZGF5ID1d"),
	         0);
	CHECK_STR(out, "have a nice day =]");
	CHECK_EQ(telnyx_client_state_encode(b64, sizeof(b64), ""), 0);
	CHECK_STR(b64, "");
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), ""), 0);
	CHECK_STR(out, "");
	/* "abc" needs 4 + 1 bytes; the decoded "abc" 3 + 1. */
	CHECK_EQ(telnyx_client_state_encode(b64, 4, "abc"), ENOSPC);
	CHECK_EQ(telnyx_client_state_encode(b64, 5, "abc"), 0);
	CHECK_STR(b64, "YWJj");
	CHECK_EQ(telnyx_client_state_decode(out, 3, "YWJj"), ENOSPC);
	CHECK_STR(out, "");
	CHECK_EQ(telnyx_client_state_decode(out, 4, "YWJj"), 0);
	CHECK_STR(out, "abc");
	/* Padding never costs room in out. */
	CHECK_EQ(telnyx_client_state_decode(out, 2, "YQ=="), 0);
	CHECK_STR(out, "a");
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), "not base64"),
	         EBADMSG);
	CHECK_STR(out, "");
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), "YQ==YQ=="),
	         EBADMSG);
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), "Y"), EBADMSG);
	/* A NUL inside is no state of ours. */
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), "YQBi"), EBADMSG);
	CHECK_EQ(telnyx_client_state_encode(NULL, 5, "a"), EINVAL);
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), NULL), EINVAL);
	CHECK_EQ(telnyx_client_state_decode(out, 0, "YQ=="), EINVAL);
	return 0;
}

/* The largest state the event's client_state field carries whole. */
TEST(client_state_fits_event)
{
	struct telnyx_event ev;
	char state[383], b64[sizeof(ev.client_state)], out[400], body[1024];

	memset(state, 's', 382);
	state[382] = '\0';
	CHECK_EQ(telnyx_client_state_encode(b64, sizeof(b64), state), ENOSPC);
	state[381] = '\0';
	CHECK_EQ(telnyx_client_state_encode(b64, sizeof(b64), state), 0);
	CHECK_EQ(strlen(b64), 508);
	snprintf(body, sizeof(body),
	         "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"a\","
	         "\"payload\":{\"client_state\":\"%s\"}}}",
	         b64);
	CHECK_EQ(parse(body, &ev), 0);
	CHECK_EQ(telnyx_client_state_decode(out, sizeof(out), ev.client_state),
	         0);
	CHECK_STR(out, state);
	return 0;
}

TEST(seen_duplicates)
{
	struct telnyx_seen *s;

	CHECK_EQ(telnyx_seen_alloc(&s, 8, 60), 0);
	CHECK(!telnyx_seen_check(s, "a", 1000));
	CHECK(!telnyx_seen_check(s, "b", 1000));
	CHECK(telnyx_seen_check(s, "a", 1000));
	CHECK(telnyx_seen_check(s, "b", 1059));
	CHECK(!telnyx_seen_check(s, "ab", 1001));
	CHECK(!telnyx_seen_check(s, "", 1001));
	CHECK(telnyx_seen_check(s, "", 1001));
	/* The clock stepped back: still a retry. */
	CHECK(telnyx_seen_check(s, "a", 900));
	CHECK(!telnyx_seen_check(s, NULL, 1000));
	CHECK(!telnyx_seen_check(NULL, "a", 1000));
	mem_deref(s);
	mem_deref(NULL);
	return 0;
}

TEST(seen_expiry)
{
	struct telnyx_seen *s;

	CHECK_EQ(telnyx_seen_alloc(&s, 4, 60), 0);
	CHECK(!telnyx_seen_check(s, "a", 1000));
	CHECK(telnyx_seen_check(s, "a", 1059));
	/* A retry does not extend the record. */
	CHECK(!telnyx_seen_check(s, "a", 1060));
	/* Recorded afresh at 1060. */
	CHECK(telnyx_seen_check(s, "a", 1119));
	CHECK(!telnyx_seen_check(s, "a", 1120));
	/* Far apart, both ways. */
	CHECK(!telnyx_seen_check(s, "z", INT64_MIN));
	CHECK(!telnyx_seen_check(s, "z", INT64_MAX));
	CHECK(telnyx_seen_check(s, "z", INT64_MAX));
	mem_deref(s);
	return 0;
}

TEST(seen_eviction)
{
	struct telnyx_seen *s;

	CHECK_EQ(telnyx_seen_alloc(&s, 3, 3600), 0);
	CHECK(!telnyx_seen_check(s, "a", 1));
	CHECK(!telnyx_seen_check(s, "b", 2));
	CHECK(!telnyx_seen_check(s, "c", 3));
	CHECK(!telnyx_seen_check(s, "d", 4)); /* evicts a */
	CHECK(telnyx_seen_check(s, "b", 5));
	CHECK(telnyx_seen_check(s, "c", 5));
	CHECK(telnyx_seen_check(s, "d", 5));
	CHECK(!telnyx_seen_check(s, "a", 5)); /* evicts b */
	CHECK(!telnyx_seen_check(s, "b", 6)); /* evicts c */
	CHECK(telnyx_seen_check(s, "d", 6));
	CHECK(telnyx_seen_check(s, "a", 6));
	CHECK(telnyx_seen_check(s, "b", 6));
	mem_deref(s);
	return 0;
}

/* An id recorded again after expiry counts as the newest, not by where it
 * was first recorded. */
TEST(seen_rerecord)
{
	struct telnyx_seen *s;

	CHECK_EQ(telnyx_seen_alloc(&s, 3, 10), 0);
	CHECK(!telnyx_seen_check(s, "a", 0));
	CHECK(!telnyx_seen_check(s, "b", 5));
	CHECK(!telnyx_seen_check(s, "a", 10)); /* expired: a again */
	CHECK(!telnyx_seen_check(s, "c", 11));
	CHECK(!telnyx_seen_check(s, "d", 12)); /* evicts b, not a */
	CHECK(telnyx_seen_check(s, "a", 12));
	CHECK(telnyx_seen_check(s, "c", 12));
	CHECK(telnyx_seen_check(s, "d", 12));
	CHECK(!telnyx_seen_check(s, "b", 12));
	mem_deref(s);
	return 0;
}

/* Ids past what a record keeps whole are still told apart. */
TEST(seen_long_ids)
{
	struct telnyx_seen *s;
	char a[200], b[200];

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[150] = 'y';
	CHECK_EQ(telnyx_seen_alloc(&s, 4, 60), 0);
	CHECK(!telnyx_seen_check(s, a, 0));
	CHECK(!telnyx_seen_check(s, b, 0));
	CHECK(telnyx_seen_check(s, a, 0));
	CHECK(telnyx_seen_check(s, b, 0));
	a[120] = '\0';
	CHECK(!telnyx_seen_check(s, a, 0));
	mem_deref(s);
	return 0;
}

TEST(seen_stress)
{
	enum { CAP = 1024, N = 100000 };
	struct telnyx_seen *s;
	char id[48];
	int i;

	CHECK_EQ(telnyx_seen_alloc(&s, CAP, 1000000), 0);
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%08x-4df3-4bca-a65a-3da1ecc777f0",
		         (unsigned)i * 2654435761u);
		CHECK(!telnyx_seen_check(s, id, i / 10));
		/* The oldest still held is a retry... */
		if (i >= CAP - 1) {
			snprintf(id, sizeof(id),
			         "%08x-4df3-4bca-a65a-3da1ecc777f0",
			         (unsigned)(i - CAP + 1) * 2654435761u);
			CHECK(telnyx_seen_check(s, id, i / 10));
		}
	}
	/* ...all the newest CAP are... */
	for (i = N - CAP; i < N; i++) {
		snprintf(id, sizeof(id), "%08x-4df3-4bca-a65a-3da1ecc777f0",
		         (unsigned)i * 2654435761u);
		CHECK(telnyx_seen_check(s, id, N / 10));
	}
	/* ...and none before them. */
	for (i = N - CAP - 1; i >= N - 3 * CAP; i--) {
		snprintf(id, sizeof(id), "%08x-4df3-4bca-a65a-3da1ecc777f0",
		         (unsigned)i * 2654435761u);
		CHECK(!telnyx_seen_check(s, id, N / 10));
	}
	mem_deref(s);
	return 0;
}

TEST(seen_alloc_args)
{
	struct telnyx_seen *s;

	CHECK_EQ(telnyx_seen_alloc(&s, 0, 60), EINVAL);
	CHECK_EQ(telnyx_seen_alloc(&s, 16, 0), EINVAL);
	CHECK_EQ(telnyx_seen_alloc(&s, ((size_t)1 << 28) + 1, 60), EINVAL);
	CHECK_EQ(telnyx_seen_alloc(NULL, 16, 60), EINVAL);
	CHECK_EQ(telnyx_seen_alloc(&s, 1, 60), 0);
	CHECK(!telnyx_seen_check(s, "a", 0));
	CHECK(telnyx_seen_check(s, "a", 0));
	CHECK(!telnyx_seen_check(s, "b", 0));
	CHECK(!telnyx_seen_check(s, "a", 0));
	mem_deref(s);
	return 0;
}

/* What a handler does with a request, end to end: verify, read, drop
 * retries and late events. */
TEST(handler_flow)
{
	static const char *const order[] = {"call.initiated", "call.hangup",
	                                    "call.answered", "call.hangup"};
	static const char *const ids[] = {"e1", "e3", "e2", "e3"};
	static const int acted_expect[] = {1, 1, 0, 0};
	struct telnyx_key *k;
	struct telnyx_seen *seen;
	struct telnyx_event ev;
	char body[256], sig[100];
	int rank = 0;

	CHECK_EQ(telnyx_key_parse(&k, PUBKEY), 0);
	CHECK_EQ(telnyx_seen_alloc(&seen, 64, 600), 0);
	for (size_t i = 0; i < 4; i++) {
		int acted = 0;

		snprintf(body, sizeof(body),
		         "{\"data\":{\"event_type\":\"%s\",\"id\":\"%s\","
		         "\"payload\":{\"call_control_id\":\"v3:abc\"}}}",
		         order[i], ids[i]);
		CHECK_EQ(sign(TS, body, sig), 0);
		CHECK_EQ(telnyx_verify(k, sig, TS, body, strlen(body), NOW + 5),
		         0);
		CHECK_EQ(telnyx_event_parse(&ev, body, strlen(body)), 0);
		if (!telnyx_seen_check(seen, ev.id, NOW + 5) &&
		    telnyx_event_rank(ev.type) >= rank) {
			rank = telnyx_event_rank(ev.type);
			acted = 1;
		}
		CHECK_EQ(acted, acted_expect[i]);
	}
	CHECK_EQ(rank, 9);
	mem_deref(seen);
	mem_deref(k);
	return 0;
}

int main(void)
{
	RUN(vector_valid);
	RUN(vector_stale);
	RUN(vector_tampered);
	RUN(bad_signature);
	RUN(bad_timestamp);
	RUN(bad_args);
	RUN(key_parse);
	RUN(seed_signs_vector);
	RUN(event_full);
	RUN(event_types);
	RUN(event_sparse);
	RUN(event_malformed);
	RUN(event_cut);
	RUN(event_occurred);
	RUN(rank);
	RUN(client_state);
	RUN(client_state_fits_event);
	RUN(seen_duplicates);
	RUN(seen_expiry);
	RUN(seen_eviction);
	RUN(seen_rerecord);
	RUN(seen_long_ids);
	RUN(seen_stress);
	RUN(seen_alloc_args);
	RUN(handler_flow);
	TEST_EXIT();
}
