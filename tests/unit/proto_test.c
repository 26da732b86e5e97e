/*
 * The agent protocol's messages: every type survives encode → decode with
 * its fields, direction matters for "mark", bad text is refused, unknown
 * types are reported by name, and audio frames round-trip little-endian.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#include "test.h"

static int roundtrip(const struct proto_msg *in, bool from_server,
                     struct proto_msg *out)
{
	char *s = proto_encode(in, from_server);
	int err;

	if (!s)
		return ENOMEM;
	err = proto_decode(s, strlen(s), from_server, out);
	free(s);
	return err;
}

TEST(job_and_register)
{
	struct proto_msg m, got;

	proto_init(&m, PROTO_JOB);
	m.job = 7;
	strcpy(m.call_id, "SCL_abc");
	strcpy(m.room, "call_+1555_x");
	strcpy(m.participant, "sip_+1555");
	strcpy(m.from, "sip:+1555@example.com");
	strcpy(m.to, "sip:+1666@example.com");
	m.sample_rate = 8000;
	CHECK_EQ(roundtrip(&m, true, &got), 0);
	CHECK_EQ(got.type, PROTO_JOB);
	CHECK_EQ(got.job, 7);
	CHECK_STR(got.call_id, "SCL_abc");
	CHECK_STR(got.room, "call_+1555_x");
	CHECK_STR(got.participant, "sip_+1555");
	CHECK_STR(got.to, "sip:+1666@example.com");
	CHECK_EQ(got.sample_rate, 8000);

	proto_init(&m, PROTO_REGISTER);
	m.capacity = 3;
	m.version = PROTO_VERSION;
	strcpy(m.name, "w\"1\n");
	strcpy(m.stt, "deepgram");
	strcpy(m.brain, "llm");
	strcpy(m.tts, "cartesia");
	CHECK_EQ(roundtrip(&m, false, &got), 0);
	CHECK_EQ(got.type, PROTO_REGISTER);
	CHECK_EQ(got.capacity, 3);
	CHECK_STR(got.name, "w\"1\n");
	CHECK_STR(got.stt, "deepgram");
	CHECK_STR(got.brain, "llm");
	CHECK_STR(got.tts, "cartesia");
	/* a worker's message is not one the server sends */
	CHECK(proto_encode(&m, true) == NULL);
	return 0;
}

TEST(events_and_turns)
{
	struct proto_msg m, got;
	char *s;

	proto_init(&m, PROTO_VAD);
	m.job = 2;
	m.vad = VAD_EVENT_STOP;
	m.frame = 123;
	CHECK_EQ(roundtrip(&m, true, &got), 0);
	CHECK_EQ(got.vad, VAD_EVENT_STOP);
	CHECK_EQ(got.frame, 123);

	proto_init(&m, PROTO_INTERRUPTED);
	m.utterance = 4;
	m.heard_ms = 860;
	m.latency_ms = 40;
	CHECK_EQ(roundtrip(&m, true, &got), 0);
	CHECK_EQ(got.type, PROTO_INTERRUPTED);
	CHECK_EQ(got.heard_ms, 860);
	CHECK_EQ(got.latency_ms, 40);

	/* "mark" means one thing each way */
	proto_init(&m, PROTO_MARK_AFTER);
	m.utterance = 4;
	m.mark = 2;
	s = proto_encode(&m, false);
	CHECK(s != NULL);
	CHECK_EQ(proto_decode(s, strlen(s), true, &got), 0);
	CHECK_EQ(got.type, PROTO_MARK_PLAYED);
	CHECK_EQ(proto_decode(s, strlen(s), false, &got), 0);
	CHECK_EQ(got.type, PROTO_MARK_AFTER);
	CHECK_EQ(got.mark, 2);
	free(s);

	proto_init(&m, PROTO_TURN);
	strcpy(m.transcript, "hello there");
	strcpy(m.reply, "You said: hello there.");
	m.stt_ms = 30;
	m.tts_ms = 45;
	m.interrupted = true;
	strcpy(m.stt, "openai");
	strcpy(m.brain, "echo");
	strcpy(m.tts, "openai");
	CHECK_EQ(roundtrip(&m, false, &got), 0);
	CHECK_STR(got.transcript, "hello there");
	CHECK_STR(got.stt, "openai");
	CHECK_STR(got.brain, "echo");
	CHECK_STR(got.tts, "openai");
	CHECK_EQ(got.stt_ms, 30);
	CHECK_EQ(got.llm_ms, -1);
	CHECK_EQ(got.tts_ms, 45);
	CHECK(got.interrupted);
	CHECK_EQ(got.dtmf_keys, 0);
	/* Said only when the reply was asked for before the turn ended. */
	CHECK_STR(got.preemptive, "");
	strcpy(m.preemptive, "used");
	CHECK_EQ(roundtrip(&m, false, &got), 0);
	CHECK_STR(got.preemptive, "used");
	m.preemptive[0] = '\0';
	/* A DTMF turn: the count of keys, no transcript. */
	m.transcript[0] = '\0';
	m.dtmf_keys = 4;
	CHECK_EQ(roundtrip(&m, false, &got), 0);
	CHECK_STR(got.transcript, "");
	CHECK_EQ(got.dtmf_keys, 4);
	/* A name longer than its field is cut, as every string is. */
	{
		static const char long_name[] =
		    "{\"type\":\"turn\",\"job\":1,\"tts\":\"a-provider-name-"
		    "much-longer-than-its-field-is\"}";

		CHECK_EQ(
		    proto_decode(long_name, strlen(long_name), false, &got), 0);
		CHECK_EQ(strlen(got.tts), sizeof(got.tts) - 1);
	}
	return 0;
}

/* A transfer the worker asks for, and the server's answer, matched by the
 * request's number. */
TEST(transfer)
{
	struct proto_msg m, got;
	char *s;

	proto_init(&m, PROTO_TRANSFER);
	m.job = 3;
	m.request = 9;
	strcpy(m.to, "sip:desk@example.com");
	s = proto_encode(&m, false);
	CHECK(s != NULL);
	CHECK_STR(s, "{\"type\":\"transfer\",\"job\":3,\"reason\":\"\","
	             "\"request\":9,\"to\":\"sip:desk@example.com\"}");
	free(s);
	CHECK_EQ(roundtrip(&m, false, &got), 0);
	CHECK_EQ(got.type, PROTO_TRANSFER);
	CHECK_EQ(got.request, 9);
	CHECK_STR(got.to, "sip:desk@example.com");
	/* Only the worker sends it. */
	CHECK(proto_encode(&m, true) == NULL);

	proto_init(&m, PROTO_TRANSFER_RESULT);
	m.job = 3;
	m.request = 9;
	strcpy(m.reason, "this server cannot transfer calls yet");
	CHECK_EQ(roundtrip(&m, true, &got), 0);
	CHECK_EQ(got.type, PROTO_TRANSFER_RESULT);
	CHECK_EQ(got.request, 9);
	CHECK(!got.ok);
	CHECK_STR(got.reason, "this server cannot transfer calls yet");
	m.ok = true;
	CHECK_EQ(roundtrip(&m, true, &got), 0);
	CHECK(got.ok);
	CHECK(!got.accepted);
	/* accepted: the target rings, the outcome follows; written only when
	 * set, so a final result reads as older workers know it. */
	s = proto_encode(&m, true);
	CHECK(s && !strstr(s, "accepted"));
	free(s);
	m.accepted = true;
	CHECK_EQ(roundtrip(&m, true, &got), 0);
	CHECK(got.ok && got.accepted);
	return 0;
}

TEST(bad_text)
{
	struct proto_msg got;
	const char *bad[] = {"",
	                     "[]",
	                     "{\"type\":3}",
	                     "{\"job\":1}",
	                     "{",
	                     "{\"type\":\"a\",\"type\":\"b\"}"};
	const char *unknown = "{\"type\":\"dance\",\"job\":1}";
	const char *wrong = "{\"type\":\"played\",\"job\":\"x\","
	                    "\"utterance\":-4,\"heard_ms\":1.5}";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(proto_decode(bad[i], strlen(bad[i]), true, &got),
		         EBADMSG);
	CHECK_EQ(proto_decode(unknown, strlen(unknown), true, &got), 0);
	CHECK_EQ(got.type, PROTO_UNKNOWN);
	CHECK_STR(got.name, "dance");
	CHECK_EQ(proto_decode(wrong, strlen(wrong), true, &got), 0);
	CHECK_EQ(got.type, PROTO_PLAYED);
	CHECK_EQ(got.job, 0);
	CHECK_EQ(got.utterance, 0);
	CHECK_EQ(got.heard_ms, 0);
	return 0;
}

/* A string too long for its field is cut before the character that does
 * not fit whole: what was read stays UTF-8, so it encodes again (jansson
 * refuses to encode a broken character, and the field would vanish). */
TEST(long_text_cut_on_a_character)
{
	struct proto_msg got, back;
	char json[512], want[200];

	memset(want, 'a', 158);
	want[158] = '\0';
	snprintf(json, sizeof(json),
	         "{\"type\":\"decline\",\"job\":1,\"reason\":\"%s"
	         "\xc3\xa9\xc3\xa9\"}",
	         want);
	CHECK_EQ(proto_decode(json, strlen(json), false, &got), 0);
	CHECK_STR(got.reason, want);
	CHECK_EQ(roundtrip(&got, false, &back), 0);
	CHECK_STR(back.reason, want);
	/* Cut inside a four-byte character too. */
	snprintf(json, sizeof(json),
	         "{\"type\":\"dtmf\",\"job\":1,\"digits\":"
	         "\"123456789012345678901234567890\xf0\x9f\x93\x9e\"}");
	CHECK_EQ(proto_decode(json, strlen(json), true, &got), 0);
	CHECK_STR(got.digits, "123456789012345678901234567890");
	return 0;
}

TEST(audio_frames)
{
	int16_t pcm[160], back[160];
	uint8_t buf[PROTO_AUDIO_HDR + 320];
	uint8_t kind;
	uint32_t job, seq;
	size_t n, len;

	for (int i = 0; i < 160; i++)
		pcm[i] = (int16_t)(i * 397 - 32000);
	len = proto_audio_encode(buf, sizeof(buf), PROTO_AUDIO_CALLER, 9,
	                         0x01020304, pcm, 160);
	CHECK_EQ(len, sizeof(buf));
	CHECK_EQ(buf[0], PROTO_AUDIO_CALLER);
	CHECK_EQ(buf[4], 9);
	CHECK_EQ(buf[8], 4);
	CHECK_EQ(buf[12], (uint8_t)pcm[0]);
	CHECK_EQ(proto_audio_decode(buf, len, &kind, &job, &seq, back, 160, &n),
	         0);
	CHECK_EQ(kind, PROTO_AUDIO_CALLER);
	CHECK_EQ(job, 9);
	CHECK_EQ(seq, 0x01020304);
	CHECK_EQ(n, 160);
	CHECK(!memcmp(pcm, back, sizeof(pcm)));

	CHECK_EQ(
	    proto_audio_encode(buf, 100, PROTO_AUDIO_AGENT, 1, 1, pcm, 160), 0);
	CHECK_EQ(
	    proto_audio_decode(buf, len - 1, &kind, &job, &seq, back, 160, &n),
	    EBADMSG);
	CHECK_EQ(proto_audio_decode(buf, 5, &kind, &job, &seq, back, 160, &n),
	         EBADMSG);
	CHECK_EQ(proto_audio_decode(buf, len, &kind, &job, &seq, back, 100, &n),
	         EMSGSIZE);
	buf[0] = 9;
	CHECK_EQ(proto_audio_decode(buf, len, &kind, &job, &seq, back, 160, &n),
	         EBADMSG);
	return 0;
}

int main(void)
{
	RUN(job_and_register);
	RUN(events_and_turns);
	RUN(transfer);
	RUN(bad_text);
	RUN(long_text_cut_on_a_character);
	RUN(audio_frames);
	return test_failures ? 1 : 0;
}
