/*
 * rtc_data_stamp: what the room's others get of a DataPacket a client
 * sent. Its sender's identity and sid are stamped on it, as LiveKit's
 * server does; an agent's text stream in another's name (the caller's
 * transcription) keeps that name and is marked generated; a legacy
 * Transcription from anyone but an agent goes nowhere.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/libre.h"
#include "livekit/lkpb.h"
#include "rtc/rtc_int.h"

#include "test.h"

#define AGENT     "agent-AJ_Fv6d2kGc8sQp"
#define AGENT_SID "PA_agent000001"
#define CALLER    "sip_+15551234567"
#define WEB       "web-1"
#define WEB_SID   "PA_web00000001"

/* msg as a client sends it, decoded as route() decodes it. */
static Livekit__DataPacket *sent(const Livekit__DataPacket *msg)
{
	uint8_t buf[1024];
	size_t len = 0;
	ProtobufCMessage *m = NULL;

	if (lkpb_pack_buf(buf, sizeof(buf), &msg->base, &len) ||
	    lkpb_unpack(&livekit__data_packet__descriptor, buf, len, &m, NULL))
		return NULL;
	return (Livekit__DataPacket *)m;
}

/* What rtc_data_stamp writes for dp, from identity, decoded; *errp is its
 * result. NULL when it wrote nothing that decodes. */
static Livekit__DataPacket *stamped(Livekit__DataPacket *dp,
                                    const char *identity, const char *sid,
                                    bool agent, int *errp)
{
	struct mbuf *mb = mbuf_alloc(256);
	ProtobufCMessage *m = NULL;

	if (!mb)
		return NULL;
	*errp = rtc_data_stamp(mb, dp, identity, sid, agent);
	if (!*errp && mb->end)
		(void)lkpb_unpack(&livekit__data_packet__descriptor, mb->buf,
		                  mb->end, &m, NULL);
	mem_deref(mb);
	return (Livekit__DataPacket *)m;
}

/* A text stream's header on topic, written as identity. */
static Livekit__DataPacket *text_header(const char *identity, bool bytes)
{
	Livekit__DataPacket dp = LIVEKIT__DATA_PACKET__INIT;
	Livekit__DataStream__Header h = LIVEKIT__DATA_STREAM__HEADER__INIT;
	Livekit__DataStream__TextHeader th =
	    LIVEKIT__DATA_STREAM__TEXT_HEADER__INIT;
	Livekit__DataStream__ByteHeader bh =
	    LIVEKIT__DATA_STREAM__BYTE_HEADER__INIT;
	Livekit__DataStream__Header__AttributesEntry track =
	    LIVEKIT__DATA_STREAM__HEADER__ATTRIBUTES_ENTRY__INIT;
	Livekit__DataStream__Header__AttributesEntry *attrs[] = {&track};

	track.key = "lk.transcribed_track_id";
	track.value = "TR_caller000001";
	h.stream_id = "ST_1";
	h.topic = bytes ? "lk.agent.session" : "lk.transcription";
	h.mime_type = bytes ? "application/octet-stream" : "text/plain";
	h.n_attributes = 1;
	h.attributes = attrs;
	if (bytes) {
		bh.name = "state";
		h.content_header_case =
		    LIVEKIT__DATA_STREAM__HEADER__CONTENT_HEADER_BYTE_HEADER;
		h.byte_header = &bh;
	} else {
		h.content_header_case =
		    LIVEKIT__DATA_STREAM__HEADER__CONTENT_HEADER_TEXT_HEADER;
		h.text_header = &th;
	}
	dp.participant_identity = (char *)identity;
	dp.value_case = LIVEKIT__DATA_PACKET__VALUE_STREAM_HEADER;
	dp.stream_header = &h;
	return sent(&dp);
}

TEST(a_packet_carries_its_sender)
{
	Livekit__DataPacket dp = LIVEKIT__DATA_PACKET__INIT;
	Livekit__UserPacket u = LIVEKIT__USER_PACKET__INIT;
	Livekit__DataPacket *in, *out;
	int err = -1;

	u.payload.data = (uint8_t *)"hi";
	u.payload.len = 2;
	dp.participant_identity = CALLER; /* a lie */
	dp.participant_sid = "PA_lie";
	dp.value_case = LIVEKIT__DATA_PACKET__VALUE_USER;
	dp.user = &u;
	in = sent(&dp);
	CHECK(in);
	out = stamped(in, WEB, WEB_SID, false, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, WEB);
	CHECK_STR(out->participant_sid, WEB_SID);
	CHECK_EQ(out->user->payload.len, 2);
	/* the decoded message is left as it was, to be freed */
	CHECK_STR(in->participant_identity, CALLER);
	CHECK_STR(in->participant_sid, "PA_lie");
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

TEST(an_agent_writes_the_callers_transcription_as_the_caller)
{
	Livekit__DataPacket *in = text_header(CALLER, false), *out;
	Livekit__DataStream__Header *h;
	int err = -1;

	CHECK(in);
	CHECK(!in->stream_header->text_header->generated);
	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, CALLER);
	CHECK_EQ(out->value_case, LIVEKIT__DATA_PACKET__VALUE_STREAM_HEADER);
	h = out->stream_header;
	CHECK_STR(h->stream_id, "ST_1");
	CHECK_STR(h->topic, "lk.transcription");
	CHECK_EQ(h->n_attributes, 1);
	CHECK_STR(h->attributes[0]->value, "TR_caller000001");
	CHECK_EQ(h->content_header_case,
	         LIVEKIT__DATA_STREAM__HEADER__CONTENT_HEADER_TEXT_HEADER);
	CHECK(h->text_header->generated);
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

TEST(an_agents_own_text_stream_is_not_generated)
{
	Livekit__DataPacket *in, *out;
	int err = -1;

	/* in its own name */
	in = text_header(AGENT, false);
	CHECK(in);
	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, AGENT);
	CHECK_STR(out->participant_sid, AGENT_SID);
	CHECK(!out->stream_header->text_header->generated);
	lkpb_free(out);
	lkpb_free(in);

	/* in no name */
	in = text_header("", false);
	CHECK(in);
	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, AGENT);
	CHECK(!out->stream_header->text_header->generated);
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

TEST(only_an_agent_writes_in_anothers_name)
{
	Livekit__DataPacket *in = text_header(CALLER, false), *out;
	int err = -1;

	CHECK(in);
	out = stamped(in, WEB, WEB_SID, false, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, WEB);
	CHECK_STR(out->participant_sid, WEB_SID);
	CHECK(!out->stream_header->text_header->generated);
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

TEST(a_byte_stream_carries_its_sender)
{
	Livekit__DataPacket *in = text_header(CALLER, true), *out;
	int err = -1;

	CHECK(in);
	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, AGENT);
	CHECK_EQ(out->stream_header->content_header_case,
	         LIVEKIT__DATA_STREAM__HEADER__CONTENT_HEADER_BYTE_HEADER);
	CHECK_STR(out->stream_header->byte_header->name, "state");
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

TEST(chunks_and_trailers_carry_the_agent)
{
	Livekit__DataPacket dp = LIVEKIT__DATA_PACKET__INIT;
	Livekit__DataStream__Chunk c = LIVEKIT__DATA_STREAM__CHUNK__INIT;
	Livekit__DataStream__Trailer t = LIVEKIT__DATA_STREAM__TRAILER__INIT;
	Livekit__DataPacket *in, *out;
	int err = -1;

	c.stream_id = "ST_1";
	c.content.data = (uint8_t *)"What are your opening hours?";
	c.content.len = 28;
	dp.participant_identity = CALLER;
	dp.value_case = LIVEKIT__DATA_PACKET__VALUE_STREAM_CHUNK;
	dp.stream_chunk = &c;
	in = sent(&dp);
	CHECK(in);
	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, AGENT);
	CHECK_EQ(out->stream_chunk->content.len, 28);
	lkpb_free(out);
	lkpb_free(in);

	t.stream_id = "ST_1";
	dp.value_case = LIVEKIT__DATA_PACKET__VALUE_STREAM_TRAILER;
	dp.stream_trailer = &t;
	in = sent(&dp);
	CHECK(in);
	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, AGENT);
	CHECK_STR(out->stream_trailer->stream_id, "ST_1");
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

TEST(transcriptions_come_from_agents_only)
{
	Livekit__DataPacket dp = LIVEKIT__DATA_PACKET__INIT;
	Livekit__Transcription tr = LIVEKIT__TRANSCRIPTION__INIT;
	Livekit__TranscriptionSegment seg =
	    LIVEKIT__TRANSCRIPTION_SEGMENT__INIT;
	Livekit__TranscriptionSegment *segs[] = {&seg};
	Livekit__DataPacket *in, *out;
	int err = -1;

	seg.id = "SG_1";
	seg.text = "We are open from nine to five.";
	seg.final = true;
	tr.transcribed_participant_identity = AGENT;
	tr.track_id = "TR_agent0000001";
	tr.n_segments = 1;
	tr.segments = segs;
	dp.value_case = LIVEKIT__DATA_PACKET__VALUE_TRANSCRIPTION;
	dp.transcription = &tr;
	in = sent(&dp);
	CHECK(in);

	out = stamped(in, WEB, WEB_SID, false, &err);
	CHECK_EQ(err, EPERM);
	CHECK(!out);

	out = stamped(in, AGENT, AGENT_SID, true, &err);
	CHECK_EQ(err, 0);
	CHECK(out);
	CHECK_STR(out->participant_identity, AGENT);
	CHECK_STR(out->transcription->track_id, "TR_agent0000001");
	CHECK_STR(out->transcription->segments[0]->text,
	          "We are open from nine to five.");
	lkpb_free(out);
	lkpb_free(in);
	return 0;
}

int main(void)
{
	RUN(a_packet_carries_its_sender);
	RUN(an_agent_writes_the_callers_transcription_as_the_caller);
	RUN(an_agents_own_text_stream_is_not_generated);
	RUN(only_an_agent_writes_in_anothers_name);
	RUN(a_byte_stream_carries_its_sender);
	RUN(chunks_and_trailers_carry_the_agent);
	RUN(transcriptions_come_from_agents_only);
	TEST_EXIT();
}
