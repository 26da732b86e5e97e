/*
 * LiveKit's protobuf frames: the frames @livekit/protocol writes (made by
 * fixtures/lkpb/make.mjs) decode into the fields they were given, fields
 * and members the subset leaves out are skipped and kept, what voxgate
 * writes reads back, and hostile frames are refused with a reason.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <re.h>

#include "livekit/lkpb.h"

#include "fixtures/lkpb/fixtures.h"
#include "test.h"

#define FX(name) fx_##name, sizeof(fx_##name)

/* The value of key in a map field's entries (any map<string, string>:
 * protoc-c gives each its own entry type of the same layout). */
#define MAP_GET(entries, n, k) map_get((void *const *)(entries), (n), (k))

struct entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static const char *map_get(void *const *entries, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = entries[i];

		if (!strcmp(e->key, key))
			return e->value;
	}
	return NULL;
}

static Livekit__SignalRequest *sr(const uint8_t *p, size_t len)
{
	Livekit__SignalRequest *req = NULL;
	const char *why = NULL;
	int err = lkpb_signal_request_unpack(&req, p, len, &why);

	if (err)
		printf("# signal request: %s (%s)\n", strerror(err), why);
	return req;
}

static Livekit__WorkerMessage *wm(const uint8_t *p, size_t len)
{
	Livekit__WorkerMessage *msg = NULL;
	const char *why = NULL;
	int err = lkpb_worker_message_unpack(&msg, p, len, &why);

	if (err)
		printf("# worker message: %s (%s)\n", strerror(err), why);
	return msg;
}

/* Any message, or NULL. */
static void *unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                    size_t len)
{
	ProtobufCMessage *m = NULL;
	const char *why = NULL;
	int err = lkpb_unpack(desc, p, len, &m, &why);

	if (err)
		printf("# %s: %s (%s)\n", desc->name, strerror(err), why);
	return m;
}

static Livekit__DataPacket *dp(const uint8_t *p, size_t len)
{
	return unpack(&livekit__data_packet__descriptor, p, len);
}

TEST(signal_requests_from_the_sdk)
{
	Livekit__SignalRequest *r;
	Livekit__AddTrackRequest *at;
	Livekit__UpdateParticipantMetadata *um;
	Livekit__UpdateSubscription *us;
	Livekit__TrickleRequest *tr;

	r = sr(FX(sr_add_track));
	CHECK(r);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE_ADD_TRACK);
	CHECK_STR(lkpb_member(&r->base), "add_track");
	at = r->add_track;
	CHECK_STR(at->cid, "c7f1e2d3-mic");
	CHECK_STR(at->name, "roomio_audio");
	CHECK_EQ(at->type, LIVEKIT__TRACK_TYPE__AUDIO);
	CHECK_EQ(at->source, LIVEKIT__TRACK_SOURCE__MICROPHONE);
	CHECK(at->disable_dtx && at->disable_red && !at->muted && !at->stereo);
	CHECK_STR(at->sid, "");
	CHECK_EQ(at->n_audio_features, 3);
	CHECK_EQ(at->audio_features[0],
	         LIVEKIT__AUDIO_TRACK_FEATURE__TF_ECHO_CANCELLATION);
	CHECK_EQ(at->audio_features[1],
	         LIVEKIT__AUDIO_TRACK_FEATURE__TF_NOISE_SUPPRESSION);
	CHECK_EQ(at->audio_features[2],
	         LIVEKIT__AUDIO_TRACK_FEATURE__TF_AUTO_GAIN_CONTROL);
	CHECK_EQ(at->base.n_unknown_fields, 0);
	lkpb_free(r);

	r = sr(FX(sr_update_metadata));
	CHECK(r);
	CHECK_EQ(r->message_case,
	         LIVEKIT__SIGNAL_REQUEST__MESSAGE_UPDATE_METADATA);
	um = r->update_metadata;
	CHECK_STR(um->metadata, "");
	CHECK_STR(um->name, "");
	CHECK_EQ(um->request_id, 3);
	CHECK_EQ(um->n_attributes, 2);
	CHECK_STR(MAP_GET(um->attributes, um->n_attributes, "lk.agent.state"),
	          "listening");
	CHECK_STR(MAP_GET(um->attributes, um->n_attributes, "caf\xc3\xa9"),
	          "\xe2\x82\xac\xf0\x9d\x84\x9e");
	lkpb_free(r);

	r = sr(FX(sr_ping_req));
	CHECK(r);
	CHECK_STR(lkpb_member(&r->base), "ping_req");
	CHECK_EQ(r->ping_req->timestamp, 1733480000123LL);
	CHECK_EQ(r->ping_req->rtt, 37);
	lkpb_free(r);

	r = sr(FX(sr_ping));
	CHECK(r);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE_PING);
	CHECK_EQ(r->ping, 1733480000456LL);
	lkpb_free(r);

	r = sr(FX(sr_answer));
	CHECK(r);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE_ANSWER);
	CHECK_STR(r->answer->type, "answer");
	CHECK_EQ(r->answer->id, 1);
	CHECK(
	    !strncmp(r->answer->sdp, "v=0\r\no=- 4611731400430051336 2 ", 31));
	CHECK(strstr(r->answer->sdp, "a=setup:active\r\n"));
	CHECK_EQ(strlen(r->answer->sdp), 372);
	CHECK_EQ(r->answer->n_mid_to_track_id, 0);
	lkpb_free(r);

	r = sr(FX(sr_trickle));
	CHECK(r);
	tr = r->trickle;
	CHECK_EQ(tr->target, LIVEKIT__SIGNAL_TARGET__SUBSCRIBER);
	CHECK(!tr->final);
	CHECK_STR(tr->candidateinit,
	          "{\"candidate\":\"candidate:1 1 udp 2122260223 192.0.2.5 "
	          "51000 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}");
	lkpb_free(r);

	r = sr(FX(sr_subscription));
	CHECK(r);
	us = r->subscription;
	CHECK(us->subscribe);
	CHECK_EQ(us->n_track_sids, 1);
	CHECK_STR(us->track_sids[0], "TR_caller0000001");
	CHECK_EQ(us->n_participant_tracks, 1);
	CHECK_STR(us->participant_tracks[0]->participant_sid,
	          "PA_caller0000001");
	CHECK_EQ(us->participant_tracks[0]->n_track_sids, 1);
	CHECK_STR(us->participant_tracks[0]->track_sids[0], "TR_caller0000001");
	lkpb_free(r);

	r = sr(FX(sr_leave));
	CHECK(r);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE_LEAVE);
	CHECK_EQ(r->leave->reason,
	         LIVEKIT__DISCONNECT_REASON__CLIENT_INITIATED);
	CHECK_EQ(r->leave->action, LIVEKIT__LEAVE_REQUEST__ACTION__DISCONNECT);
	CHECK(!r->leave->can_reconnect);
	lkpb_free(r);

	r = sr(FX(sr_mute));
	CHECK(r);
	CHECK_STR(r->mute->sid, "TR_agent00000001");
	CHECK(r->mute->muted);
	lkpb_free(r);

	r = sr(FX(sr_update_audio_track));
	CHECK(r);
	CHECK_STR(lkpb_member(&r->base), "update_audio_track");
	CHECK_STR(r->update_audio_track->track_sid, "TR_agent00000001");
	CHECK_EQ(r->update_audio_track->n_features, 2);
	CHECK_EQ(r->update_audio_track->features[0],
	         LIVEKIT__AUDIO_TRACK_FEATURE__TF_NO_DTX);
	CHECK_EQ(r->update_audio_track->features[1],
	         LIVEKIT__AUDIO_TRACK_FEATURE__TF_STEREO);
	lkpb_free(r);
	return 0;
}

TEST(worker_messages_from_the_sdk)
{
	Livekit__WorkerMessage *m;
	Livekit__RegisterWorkerRequest *rg;
	Livekit__UpdateWorkerStatus *us;
	Livekit__AvailabilityResponse *av;

	/* the frame @livekit/agents 1.9.0 sent, byte for byte */
	m = wm(FX(wm_register));
	CHECK(m);
	CHECK_EQ(m->message_case, LIVEKIT__WORKER_MESSAGE__MESSAGE_REGISTER);
	CHECK_STR(lkpb_member(&m->base), "register");
	rg = m->register_;
	CHECK_STR(rg->version, "1.9.0");
	CHECK_EQ(rg->type, LIVEKIT__JOB_TYPE__JT_ROOM);
	CHECK_STR(rg->agent_name, "");
	CHECK_STR(rg->deployment, "");
	CHECK_EQ(rg->ping_interval, 0);
	CHECK_EQ(rg->_namespace_case,
	         LIVEKIT__REGISTER_WORKER_REQUEST___NAMESPACE__NOT_SET);
	CHECK(rg->allowed_permissions);
	CHECK(rg->allowed_permissions->can_subscribe);
	CHECK(rg->allowed_permissions->can_publish);
	CHECK(rg->allowed_permissions->can_publish_data);
	CHECK(rg->allowed_permissions->can_update_metadata);
	CHECK(rg->allowed_permissions->agent);
	CHECK(!rg->allowed_permissions->hidden);
	CHECK(!rg->allowed_permissions->recorder);
	CHECK_EQ(rg->allowed_permissions->n_can_publish_sources, 0);
	lkpb_free(m);

	/* WS_AVAILABLE is 0: sent, and told apart from no status */
	m = wm(FX(wm_update_available));
	CHECK(m);
	CHECK_STR(lkpb_member(&m->base), "update_worker");
	us = m->update_worker;
	CHECK_EQ(us->_status_case,
	         LIVEKIT__UPDATE_WORKER_STATUS___STATUS_STATUS);
	CHECK_EQ(us->status, LIVEKIT__WORKER_STATUS__WS_AVAILABLE);
	CHECK(us->load > 0.1599f && us->load < 0.1601f);
	CHECK_EQ(us->job_count, 0);
	lkpb_free(m);

	m = wm(FX(wm_update_full));
	CHECK(m);
	us = m->update_worker;
	CHECK_EQ(us->_status_case,
	         LIVEKIT__UPDATE_WORKER_STATUS___STATUS_STATUS);
	CHECK_EQ(us->status, LIVEKIT__WORKER_STATUS__WS_FULL);
	CHECK(us->load > 0.9799f && us->load < 0.9801f);
	CHECK_EQ(us->job_count, 2);
	lkpb_free(m);

	m = wm(FX(wm_update_no_status));
	CHECK(m);
	us = m->update_worker;
	CHECK_EQ(us->_status_case,
	         LIVEKIT__UPDATE_WORKER_STATUS___STATUS__NOT_SET);
	CHECK(us->load == 0.5f);
	CHECK_EQ(us->job_count, 1);
	lkpb_free(m);

	m = wm(FX(wm_availability));
	CHECK(m);
	av = m->availability;
	CHECK_STR(av->job_id, "AJ_Fv6d2kGc8sQp");
	CHECK(av->available && !av->terminate && !av->supports_resume);
	CHECK_STR(av->participant_identity, "agent-AJ_Fv6d2kGc8sQp");
	CHECK_STR(av->participant_name, "");
	CHECK_EQ(av->n_participant_attributes, 1);
	CHECK_STR(MAP_GET(av->participant_attributes,
	                  av->n_participant_attributes, "lk.agent.name"),
	          "");
	lkpb_free(m);

	m = wm(FX(wm_update_job));
	CHECK(m);
	CHECK_STR(m->update_job->job_id, "AJ_Fv6d2kGc8sQp");
	CHECK_EQ(m->update_job->status, LIVEKIT__JOB_STATUS__JS_FAILED);
	CHECK_STR(m->update_job->error, "entrypoint raised");
	lkpb_free(m);

	m = wm(FX(wm_ping));
	CHECK(m);
	CHECK_EQ(m->message_case, LIVEKIT__WORKER_MESSAGE__MESSAGE_PING);
	CHECK_EQ(m->ping->timestamp, 1733480000789LL);
	lkpb_free(m);

	m = wm(FX(wm_migrate_job));
	CHECK(m);
	CHECK_EQ(m->migrate_job->n_job_ids, 2);
	CHECK_STR(m->migrate_job->job_ids[0], "AJ_a");
	CHECK_STR(m->migrate_job->job_ids[1], "AJ_b");
	lkpb_free(m);
	return 0;
}

TEST(data_packets_from_the_sdk)
{
	Livekit__DataPacket *d;
	Livekit__UserPacket *u;
	Livekit__DataStream__Header *h;

	d = dp(FX(dp_sip_dtmf));
	CHECK(d);
	CHECK_EQ(d->value_case, LIVEKIT__DATA_PACKET__VALUE_SIP_DTMF);
	CHECK_STR(d->participant_identity, "sip_+15551234567");
	CHECK_EQ(d->sip_dtmf->code, 11);
	CHECK_STR(d->sip_dtmf->digit, "#");
	lkpb_free(d);

	/* an empty topic that was set is told apart from none; the payload
	 * is bytes, not UTF-8 */
	d = dp(FX(dp_user));
	CHECK(d);
	CHECK_STR(lkpb_member(&d->base), "user");
	CHECK_EQ(d->kind, LIVEKIT__DATA_PACKET__KIND__RELIABLE);
	CHECK_STR(d->participant_identity, "web-1");
	CHECK_EQ(d->n_destination_identities, 1);
	CHECK_STR(d->destination_identities[0], "agent-AJ_Fv6d2kGc8sQp");
	u = d->user;
	CHECK_EQ(u->payload.len, 4);
	CHECK(!memcmp(u->payload.data, "\x00\x01\x02\xff", 4));
	CHECK_EQ(u->_topic_case, LIVEKIT__USER_PACKET___TOPIC_TOPIC);
	CHECK_STR(u->topic, "");
	CHECK_EQ(u->_id_case, LIVEKIT__USER_PACKET___ID__NOT_SET);
	CHECK_EQ(u->n_destination_identities, 1);
	lkpb_free(d);

	d = dp(FX(dp_stream_header));
	CHECK(d);
	CHECK_EQ(d->value_case, LIVEKIT__DATA_PACKET__VALUE_STREAM_HEADER);
	h = d->stream_header;
	CHECK_STR(h->stream_id, "ST_1");
	CHECK_STR(h->topic, "lk.transcription");
	CHECK_STR(h->mime_type, "text/plain");
	CHECK_EQ(h->timestamp, 1733480001000LL);
	CHECK_EQ(h->_total_length_case,
	         LIVEKIT__DATA_STREAM__HEADER___TOTAL_LENGTH__NOT_SET);
	CHECK_STR(
	    MAP_GET(h->attributes, h->n_attributes, "lk.transcribed_track_id"),
	    "TR_agent00000001");
	/* the text_header says whether it was written in another's name */
	CHECK_EQ(h->content_header_case,
	         LIVEKIT__DATA_STREAM__HEADER__CONTENT_HEADER_TEXT_HEADER);
	CHECK_EQ(h->text_header->operation_type,
	         LIVEKIT__DATA_STREAM__OPERATION_TYPE__CREATE);
	CHECK(h->text_header->generated);
	CHECK_EQ(h->base.n_unknown_fields, 0);
	lkpb_free(d);

	d = dp(FX(dp_rpc_request));
	CHECK(d);
	CHECK_STR(lkpb_member(&d->base), "rpc_request");
	CHECK_STR(d->destination_identities[0], "sip_+15551234567");
	CHECK_STR(d->rpc_request->id, "r-1");
	CHECK_STR(d->rpc_request->method, "greet");
	CHECK_STR(d->rpc_request->payload, "{\"a\":1}");
	CHECK_EQ(d->rpc_request->response_timeout_ms, 10000);
	CHECK_EQ(d->rpc_request->version, 1);
	lkpb_free(d);
	return 0;
}

/* protobuf-c skips what the subset does not know, and keeps it: written
 * again, the frame is as long as it came. */
TEST(unknown_fields_are_skipped_and_kept)
{
	Livekit__SignalRequest *r;
	Livekit__WorkerMessage *m;
	Livekit__DataPacket *d;
	uint8_t out[256];
	size_t n;

	r = sr(FX(sr_unknown_fields));
	CHECK(r);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE_ADD_TRACK);
	CHECK_STR(r->add_track->cid, "cam-1");
	CHECK_STR(r->add_track->name, "camera");
	CHECK_EQ(r->add_track->type, LIVEKIT__TRACK_TYPE__VIDEO);
	CHECK_EQ(r->add_track->source, LIVEKIT__TRACK_SOURCE__CAMERA);
	/* width, height, layers, simulcast_codecs, encryption,
	 * backup_codec_policy */
	CHECK_EQ(r->add_track->base.n_unknown_fields, 6);
	CHECK_EQ(lkpb_pack_buf(out, sizeof(out), &r->base, &n), 0);
	CHECK_EQ(n, sizeof(fx_sr_unknown_fields));
	lkpb_free(r);

	/* a member left out reads as none set */
	r = sr(FX(sr_unknown_member));
	CHECK(r);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE__NOT_SET);
	CHECK(!lkpb_member(&r->base));
	CHECK_EQ(r->base.n_unknown_fields, 1);
	CHECK_EQ(r->base.unknown_fields[0].tag, 13);
	lkpb_free(r);

	m = wm(FX(wm_unknown_member));
	CHECK(m);
	CHECK_EQ(m->message_case, LIVEKIT__WORKER_MESSAGE__MESSAGE__NOT_SET);
	CHECK_EQ(m->base.n_unknown_fields, 1);
	lkpb_free(m);

	/* routing still reads the destinations, and forwarding keeps the
	 * member it cannot read */
	d = dp(FX(dp_unknown_member));
	CHECK(d);
	CHECK_EQ(d->value_case, LIVEKIT__DATA_PACKET__VALUE__NOT_SET);
	CHECK_EQ(d->kind, LIVEKIT__DATA_PACKET__KIND__LOSSY);
	CHECK_EQ(d->n_destination_identities, 1);
	CHECK_STR(d->destination_identities[0], "web-1");
	CHECK_EQ(lkpb_pack_buf(out, sizeof(out), &d->base, &n), 0);
	CHECK_EQ(n, sizeof(fx_dp_unknown_member));
	lkpb_free(d);
	return 0;
}

/* Whether the frame read and written again is the same bytes. */
static bool writes_back(const ProtobufCMessageDescriptor *desc,
                        const uint8_t *p, size_t len)
{
	ProtobufCMessage *m = NULL;
	uint8_t out[1024];
	size_t n = 0;
	int err = lkpb_unpack(desc, p, len, &m, NULL);

	if (!err)
		err = lkpb_pack_buf(out, sizeof(out), m, &n);
	lkpb_free(m);
	return !err && n == len && !memcmp(out, p, n);
}

/* Both write fields in number order. Left out: wm_availability, whose map
 * entry with an empty value protobuf-es writes with the value and
 * protobuf-c without, and sr_unknown_fields and dp_unknown_member, whose
 * unknown fields protobuf-c writes after the known ones. */
TEST(every_fixture_writes_back_the_same_bytes)
{
	const ProtobufCMessageDescriptor *sreq =
	    &livekit__signal_request__descriptor;
	const ProtobufCMessageDescriptor *wmsg =
	    &livekit__worker_message__descriptor;
	const ProtobufCMessageDescriptor *data =
	    &livekit__data_packet__descriptor;

	CHECK(writes_back(sreq, FX(sr_add_track)));
	CHECK(writes_back(sreq, FX(sr_update_metadata)));
	CHECK(writes_back(sreq, FX(sr_ping_req)));
	CHECK(writes_back(sreq, FX(sr_ping)));
	CHECK(writes_back(sreq, FX(sr_answer)));
	CHECK(writes_back(sreq, FX(sr_trickle)));
	CHECK(writes_back(sreq, FX(sr_subscription)));
	CHECK(writes_back(sreq, FX(sr_leave)));
	CHECK(writes_back(sreq, FX(sr_mute)));
	CHECK(writes_back(sreq, FX(sr_update_audio_track)));
	CHECK(writes_back(sreq, FX(sr_unknown_member)));
	CHECK(writes_back(wmsg, FX(wm_register)));
	CHECK(writes_back(wmsg, FX(wm_update_available)));
	CHECK(writes_back(wmsg, FX(wm_update_full)));
	CHECK(writes_back(wmsg, FX(wm_update_no_status)));
	CHECK(writes_back(wmsg, FX(wm_update_job)));
	CHECK(writes_back(wmsg, FX(wm_ping)));
	CHECK(writes_back(wmsg, FX(wm_migrate_job)));
	CHECK(writes_back(wmsg, FX(wm_unknown_member)));
	CHECK(writes_back(data, FX(dp_sip_dtmf)));
	CHECK(writes_back(data, FX(dp_user)));
	CHECK(writes_back(data, FX(dp_stream_header)));
	CHECK(writes_back(data, FX(dp_rpc_request)));
	return 0;
}

TEST(signal_response_round_trip)
{
	Livekit__Room room = LIVEKIT__ROOM__INIT;
	Livekit__ParticipantPermission perm =
	    LIVEKIT__PARTICIPANT_PERMISSION__INIT;
	Livekit__ParticipantInfo me = LIVEKIT__PARTICIPANT_INFO__INIT;
	Livekit__ParticipantInfo caller = LIVEKIT__PARTICIPANT_INFO__INIT;
	Livekit__ParticipantInfo *others[] = {&caller};
	Livekit__TrackInfo track = LIVEKIT__TRACK_INFO__INIT;
	Livekit__TrackInfo *tracks[] = {&track};
	Livekit__ParticipantInfo__AttributesEntry attr =
	    LIVEKIT__PARTICIPANT_INFO__ATTRIBUTES_ENTRY__INIT;
	Livekit__ParticipantInfo__AttributesEntry *attrs[] = {&attr};
	Livekit__ServerInfo si = LIVEKIT__SERVER_INFO__INIT;
	Livekit__JoinResponse join = LIVEKIT__JOIN_RESPONSE__INIT;
	Livekit__SignalResponse rsp = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__SignalResponse pong = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__SignalResponse *back = NULL;
	Livekit__JoinResponse *j;
	struct mbuf *mb = mbuf_alloc(16);
	size_t first;

	CHECK(mb);
	room.sid = "RM_wFhDVkTqEn7c";
	room.name = "call-+15551234567";
	room.empty_timeout = 300;
	room.departure_timeout = 20;
	room.creation_time = 1733480000;
	perm.can_subscribe = perm.can_publish = perm.can_publish_data = 1;
	perm.can_update_metadata = 1;
	me.sid = "PA_agent00000001";
	me.identity = "agent-AJ_Fv6d2kGc8sQp";
	me.state = LIVEKIT__PARTICIPANT_INFO__STATE__JOINED;
	me.kind = LIVEKIT__PARTICIPANT_INFO__KIND__AGENT;
	me.permission = &perm;
	me.joined_at = 1733480001;
	me.version = 1;
	track.sid = "TR_caller0000001";
	track.type = LIVEKIT__TRACK_TYPE__AUDIO;
	track.source = LIVEKIT__TRACK_SOURCE__MICROPHONE;
	track.name = "phone";
	track.mime_type = "audio/PCMU";
	attr.key = "sip.phoneNumber";
	attr.value = "+15551234567";
	caller.sid = "PA_caller0000001";
	caller.identity = "sip_+15551234567";
	caller.state = LIVEKIT__PARTICIPANT_INFO__STATE__ACTIVE;
	caller.kind = LIVEKIT__PARTICIPANT_INFO__KIND__SIP;
	caller.n_tracks = 1;
	caller.tracks = tracks;
	caller.n_attributes = 1;
	caller.attributes = attrs;
	si.version = "0.12.0";
	si.protocol = 16;
	si.agent_protocol = 1;
	join.room = &room;
	join.participant = &me;
	join.n_other_participants = 1;
	join.other_participants = others;
	join.subscriber_primary = 1;
	join.ping_interval = 5;
	join.ping_timeout = 15;
	join.server_info = &si;
	rsp.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_JOIN;
	rsp.join = &join;
	/* a oneof member at its default value is still sent */
	pong.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_PONG;
	pong.pong = 0;

	/* two frames in one buffer: each lands at pos */
	CHECK_EQ(lkpb_pack(mb, &rsp.base), 0);
	first = mb->pos;
	CHECK_EQ(mb->end, first);
	CHECK_EQ(lkpb_pack(mb, &pong.base), 0);
	CHECK_EQ(mb->end - first, 3);
	CHECK(!memcmp(mb->buf + first, "\x90\x01\x00", 3));

	back = unpack(&livekit__signal_response__descriptor, mb->buf, first);
	CHECK(back);
	CHECK_STR(lkpb_member(&back->base), "join");
	j = back->join;
	CHECK(j->room && j->participant && j->server_info);
	CHECK_STR(j->room->sid, "RM_wFhDVkTqEn7c");
	CHECK_STR(j->room->name, "call-+15551234567");
	CHECK_EQ(j->room->empty_timeout, 300);
	CHECK_EQ(j->room->departure_timeout, 20);
	CHECK_EQ(j->room->creation_time, 1733480000);
	CHECK_STR(j->participant->identity, "agent-AJ_Fv6d2kGc8sQp");
	CHECK_EQ(j->participant->kind, LIVEKIT__PARTICIPANT_INFO__KIND__AGENT);
	CHECK(j->participant->permission->can_update_metadata);
	CHECK(!j->participant->permission->agent);
	CHECK_EQ(j->n_other_participants, 1);
	CHECK_STR(j->other_participants[0]->tracks[0]->mime_type, "audio/PCMU");
	CHECK_STR(MAP_GET(j->other_participants[0]->attributes,
	                  j->other_participants[0]->n_attributes,
	                  "sip.phoneNumber"),
	          "+15551234567");
	CHECK_EQ(j->ping_interval, 5);
	CHECK_EQ(j->ping_timeout, 15);
	CHECK(j->subscriber_primary && !j->fast_publish);
	CHECK_EQ(j->server_info->protocol, 16);
	CHECK_EQ(j->server_info->edition,
	         LIVEKIT__SERVER_INFO__EDITION__Standard);
	CHECK_EQ(j->base.n_unknown_fields, 0);
	lkpb_free(back);

	back = unpack(&livekit__signal_response__descriptor, mb->buf + first,
	              mb->end - first);
	CHECK(back);
	CHECK_EQ(back->message_case, LIVEKIT__SIGNAL_RESPONSE__MESSAGE_PONG);
	CHECK_EQ(back->pong, 0);
	lkpb_free(back);
	mem_deref(mb);
	return 0;
}

TEST(server_message_round_trip)
{
	Livekit__ServerInfo si = LIVEKIT__SERVER_INFO__INIT;
	Livekit__RegisterWorkerResponse reg =
	    LIVEKIT__REGISTER_WORKER_RESPONSE__INIT;
	Livekit__Job job = LIVEKIT__JOB__INIT;
	Livekit__JobAssignment as = LIVEKIT__JOB_ASSIGNMENT__INIT;
	Livekit__ServerMessage msg = LIVEKIT__SERVER_MESSAGE__INIT;
	Livekit__ServerMessage *back = NULL;
	uint8_t buf[256];
	size_t n = 0, n2 = 0;

	reg.worker_id = "AW_Q6n2cT9xLr4e";
	si.version = "0.12.0";
	si.protocol = 16;
	si.agent_protocol = 1;
	reg.server_info = &si;
	msg.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_REGISTER;
	msg.register_ = &reg;

	/* too small a buffer says how much it needs */
	CHECK_EQ(lkpb_pack_buf(buf, 4, &msg.base, &n), EOVERFLOW);
	CHECK(n > 4 && n < sizeof(buf));
	CHECK_EQ(lkpb_pack_buf(buf, sizeof(buf), &msg.base, &n2), 0);
	CHECK_EQ(n2, n);
	back = unpack(&livekit__server_message__descriptor, buf, n);
	CHECK(back);
	CHECK_STR(lkpb_member(&back->base), "register");
	CHECK_STR(back->register_->worker_id, "AW_Q6n2cT9xLr4e");
	CHECK_EQ(back->register_->server_info->agent_protocol, 1);
	lkpb_free(back);

	/* url: absent and empty are two things */
	job.id = "AJ_Fv6d2kGc8sQp";
	as.job = &job;
	as.token = "eyJhbGciOiJIUzI1NiJ9.e30.x";
	msg.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_ASSIGNMENT;
	msg.assignment = &as;
	CHECK_EQ(lkpb_pack_buf(buf, sizeof(buf), &msg.base, &n), 0);
	back = unpack(&livekit__server_message__descriptor, buf, n);
	CHECK(back);
	CHECK_EQ(back->assignment->_url_case,
	         LIVEKIT__JOB_ASSIGNMENT___URL__NOT_SET);
	CHECK_STR(back->assignment->job->id, "AJ_Fv6d2kGc8sQp");
	lkpb_free(back);
	as._url_case = LIVEKIT__JOB_ASSIGNMENT___URL_URL;
	as.url = "";
	CHECK_EQ(lkpb_pack_buf(buf, sizeof(buf), &msg.base, &n2), 0);
	CHECK_EQ(n2, n + 2);
	back = unpack(&livekit__server_message__descriptor, buf, n2);
	CHECK(back);
	CHECK_EQ(back->assignment->_url_case,
	         LIVEKIT__JOB_ASSIGNMENT___URL_URL);
	CHECK_STR(back->assignment->url, "");
	lkpb_free(back);
	return 0;
}

/* The bytes of f with the first occurrence of what replaced by with (same
 * length), in a malloc'd copy. */
static uint8_t *patched(const uint8_t *f, size_t len, const char *what,
                        const char *with)
{
	size_t wl = strlen(what);
	uint8_t *c = malloc(len), *at;

	if (!c)
		return NULL;
	memcpy(c, f, len);
	at = memmem(c, len, what, wl);
	if (!at) {
		free(c);
		return NULL;
	}
	memcpy(at, with, wl);
	return c;
}

/* A SignalRequest{subscription} of n empty participant_tracks: 2 bytes
 * each on the wire, a struct each in memory. */
static uint8_t *empty_elements(size_t n, size_t *lenp)
{
	size_t body = 2 * n, i = 0, v = body;
	uint8_t *b = malloc(body + 16);

	if (!b)
		return NULL;
	b[i++] = 0x32; /* field 6, length-delimited */
	for (; v >= 0x80; v >>= 7)
		b[i++] = (uint8_t)(v | 0x80);
	b[i++] = (uint8_t)v;
	for (size_t k = 0; k < n; k++) {
		b[i++] = 0x1a; /* participant_tracks */
		b[i++] = 0;
	}
	*lenp = i;
	return b;
}

TEST(hostile_frames_are_refused)
{
	Livekit__SignalRequest *r = (void *)1;
	Livekit__WorkerMessage *m = NULL;
	const char *why = NULL;
	uint8_t *b;
	size_t n;
	unsigned failed = 0;

	/* over 1 MiB: refused before it is read */
	b = calloc(1, LKPB_MAX_FRAME + 1);
	CHECK(b);
	CHECK_EQ(lkpb_signal_request_unpack(&r, b, LKPB_MAX_FRAME + 1, &why),
	         EMSGSIZE);
	CHECK(!r);
	CHECK_STR(why, "frame over 1 MiB");
	free(b);

	/* cut anywhere inside: refused or a shorter message, never more */
	for (n = 0; n < sizeof(fx_sr_add_track); n++) {
		int err =
		    lkpb_signal_request_unpack(&r, fx_sr_add_track, n, &why);

		if (err) {
			CHECK_EQ(err, EBADMSG);
			CHECK(!r);
			failed++;
		}
		lkpb_free(r);
	}
	/* one field: only the empty prefix is a message */
	CHECK_EQ(failed, sizeof(fx_sr_add_track) - 1);

	/* a length past the end, a group wire type, a tag of field 0 */
	CHECK_EQ(lkpb_signal_request_unpack(&r, (const uint8_t *)"\x22\x7f\x0a",
	                                    3, &why),
	         EBADMSG);
	CHECK_STR(why, "not a protobuf message of its type");
	CHECK_EQ(
	    lkpb_signal_request_unpack(&r, (const uint8_t *)"\x23", 1, &why),
	    EBADMSG);
	CHECK_EQ(lkpb_signal_request_unpack(&r, (const uint8_t *)"\x00\x00", 2,
	                                    &why),
	         EBADMSG);
	/* field number 0, in a tag of two bytes, which protobuf-c alone
	 * takes (and would write out again), at the top and inside */
	CHECK_EQ(lkpb_signal_request_unpack(&r,
	                                    (const uint8_t *)"\x82\x00\x01"
	                                                     "A",
	                                    4, &why),
	         EBADMSG);
	CHECK_STR(why, "a field numbered 0 in the frame");
	CHECK_EQ(
	    lkpb_signal_request_unpack(&r,
	                               (const uint8_t *)"\x22\x04\x82\x00\x01"
	                                                "A",
	                               6, &why),
	    EBADMSG);
	CHECK_STR(why, "a field numbered 0 in the frame");
	/* a sub-message that is not one */
	CHECK_EQ(lkpb_worker_message_unpack(&m, (const uint8_t *)"\x0a\x01\xff",
	                                    3, &why),
	         EBADMSG);
	CHECK(!m);

	/* strings must be UTF-8, at any depth */
	b = patched(FX(sr_mute), "TR_agent", "TR_\xc0\xafgent");
	CHECK(b);
	why = NULL;
	CHECK_EQ(lkpb_signal_request_unpack(&r, b, sizeof(fx_sr_mute), &why),
	         EBADMSG);
	CHECK_STR(why, "a string in the frame is not UTF-8");
	free(b);
	b = patched(FX(sr_update_metadata), "\xe2\x82\xac", "\xed\xa0\x80");
	CHECK(b);
	CHECK_EQ(lkpb_signal_request_unpack(
	             &r, b, sizeof(fx_sr_update_metadata), &why),
	         EBADMSG);
	free(b);
	b = patched(FX(wm_migrate_job), "AJ_b", "AJ_\xff");
	CHECK(b);
	CHECK_EQ(
	    lkpb_worker_message_unpack(&m, b, sizeof(fx_wm_migrate_job), &why),
	    EBADMSG);
	free(b);

	/* empty elements cost far more memory than bytes: refused */
	b = empty_elements(500000, &n);
	CHECK(b);
	why = NULL;
	CHECK_EQ(lkpb_signal_request_unpack(&r, b, n, &why), ENOMEM);
	CHECK(!r);
	CHECK_STR(why, "frame would take too much memory to decode");
	free(b);
	/* while a few hundred are an ordinary frame */
	b = empty_elements(300, &n);
	CHECK(b);
	CHECK_EQ(lkpb_signal_request_unpack(&r, b, n, &why), 0);
	CHECK_EQ(r->subscription->n_participant_tracks, 300);
	lkpb_free(r);
	free(b);

	/* nothing at all is a message with no member */
	CHECK_EQ(lkpb_signal_request_unpack(&r, NULL, 0, &why), 0);
	CHECK_EQ(r->message_case, LIVEKIT__SIGNAL_REQUEST__MESSAGE__NOT_SET);
	lkpb_free(r);
	CHECK_EQ(lkpb_signal_request_unpack(&r, NULL, 1, &why), EINVAL);
	return 0;
}

/* The largest frame taken is an offer of almost 1 MiB of SDP. */
TEST(large_sdp_is_taken)
{
	Livekit__SessionDescription sd = LIVEKIT__SESSION_DESCRIPTION__INIT;
	Livekit__SignalRequest req = LIVEKIT__SIGNAL_REQUEST__INIT;
	Livekit__SignalRequest *r = NULL;
	static const char line[] =
	    "a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n";
	struct mbuf *mb = mbuf_alloc(1024);
	size_t len = LKPB_MAX_FRAME - 32;
	char *sdp = malloc(len + 1);

	CHECK(mb && sdp);
	for (size_t i = 0; i < len; i++)
		sdp[i] = line[i % (sizeof(line) - 1)];
	sdp[len] = '\0';
	sd.type = "offer";
	sd.sdp = sdp;
	sd.id = 2;
	req.message_case = LIVEKIT__SIGNAL_REQUEST__MESSAGE_OFFER;
	req.offer = &sd;
	CHECK_EQ(lkpb_pack(mb, &req.base), 0);
	CHECK(mb->end <= LKPB_MAX_FRAME);
	CHECK_EQ(lkpb_signal_request_unpack(&r, mb->buf, mb->end, NULL), 0);
	CHECK_STR(lkpb_member(&r->base), "offer");
	CHECK_EQ(strlen(r->offer->sdp), len);
	CHECK_EQ(r->offer->id, 2);
	lkpb_free(r);
	free(sdp);
	mem_deref(mb);
	return 0;
}

int main(void)
{
	RUN(signal_requests_from_the_sdk);
	RUN(worker_messages_from_the_sdk);
	RUN(data_packets_from_the_sdk);
	RUN(unknown_fields_are_skipped_and_kept);
	RUN(every_fixture_writes_back_the_same_bytes);
	RUN(signal_response_round_trip);
	RUN(server_message_round_trip);
	RUN(hostile_frames_are_refused);
	RUN(large_sdp_is_taken);
	TEST_EXIT();
}
