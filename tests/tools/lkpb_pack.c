/*
 * lkpb_pack: the frames voxgate sends to LiveKit clients, written by lkpb
 * from fixed values, one line each: "<name> <kind> <hex>", kind being the
 * message type (SignalResponse, ServerMessage, WorkerMessage, DataPacket).
 * tests/integration/node/lkpb.test.mjs reads them with @livekit/protocol
 * and compares them with the same values built there.
 *
 *   build/tools/lkpb_pack
 */
#include <stdio.h>
#include <stdlib.h>

#include <re.h>

#include "livekit/lkpb.h"

static int failures;

static void put(const char *name, const ProtobufCMessage *m)
{
	struct mbuf *mb = mbuf_alloc(256);
	const char *kind = m->descriptor->short_name;

	if (!mb || lkpb_pack(mb, m)) {
		fprintf(stderr, "lkpb_pack: %s: cannot pack\n", name);
		failures++;
		mem_deref(mb);
		return;
	}
	printf("%s %s ", name, kind);
	for (size_t i = 0; i < mb->end; i++)
		printf("%02x", mb->buf[i]);
	printf("\n");
	mem_deref(mb);
}

static void signal_responses(void)
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
	Livekit__ICEServer ice = LIVEKIT__ICESERVER__INIT;
	Livekit__ICEServer *ices[] = {&ice};
	char *urls[] = {"stun:stun.example.net:3478"};
	Livekit__Codec opus = LIVEKIT__CODEC__INIT, pcmu = LIVEKIT__CODEC__INIT;
	Livekit__Codec *codecs[] = {&opus, &pcmu};
	Livekit__JoinResponse join = LIVEKIT__JOIN_RESPONSE__INIT;
	Livekit__SessionDescription sd = LIVEKIT__SESSION_DESCRIPTION__INIT;
	Livekit__SessionDescription__MidToTrackIdEntry mid =
	    LIVEKIT__SESSION_DESCRIPTION__MID_TO_TRACK_ID_ENTRY__INIT;
	Livekit__SessionDescription__MidToTrackIdEntry *mids[] = {&mid};
	Livekit__ParticipantInfo gone = LIVEKIT__PARTICIPANT_INFO__INIT;
	Livekit__ParticipantInfo *goners[] = {&gone};
	Livekit__ParticipantUpdate update = LIVEKIT__PARTICIPANT_UPDATE__INIT;
	Livekit__TrackInfo pub = LIVEKIT__TRACK_INFO__INIT;
	Livekit__AudioTrackFeature feats[] = {
	    LIVEKIT__AUDIO_TRACK_FEATURE__TF_STEREO,
	    LIVEKIT__AUDIO_TRACK_FEATURE__TF_NO_DTX};
	Livekit__TrackPublishedResponse published =
	    LIVEKIT__TRACK_PUBLISHED_RESPONSE__INIT;
	Livekit__TrackSubscribed subscribed = LIVEKIT__TRACK_SUBSCRIBED__INIT;
	Livekit__Pong pong = LIVEKIT__PONG__INIT;
	Livekit__UpdateParticipantMetadata um =
	    LIVEKIT__UPDATE_PARTICIPANT_METADATA__INIT;
	Livekit__UpdateParticipantMetadata__AttributesEntry st =
	    LIVEKIT__UPDATE_PARTICIPANT_METADATA__ATTRIBUTES_ENTRY__INIT;
	Livekit__UpdateParticipantMetadata__AttributesEntry *sts[] = {&st};
	Livekit__RequestResponse rr = LIVEKIT__REQUEST_RESPONSE__INIT;
	Livekit__LeaveRequest leave = LIVEKIT__LEAVE_REQUEST__INIT;
	Livekit__SignalResponse r;

	room.sid = "RM_wFhDVkTqEn7c";
	room.name = "call-+15551234567";
	room.empty_timeout = 300;
	room.departure_timeout = 20;
	room.creation_time = 1733480000;
	room.creation_time_ms = 1733480000123;
	room.num_participants = 2;
	perm.can_subscribe = perm.can_publish = perm.can_publish_data = 1;
	perm.can_update_metadata = 1;
	perm.agent = 1;
	me.sid = "PA_agent00000001";
	me.identity = "agent-AJ_Fv6d2kGc8sQp";
	me.state = LIVEKIT__PARTICIPANT_INFO__STATE__JOINED;
	me.kind = LIVEKIT__PARTICIPANT_INFO__KIND__AGENT;
	me.permission = &perm;
	me.joined_at = 1733480001;
	me.joined_at_ms = 1733480001456;
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
	caller.name = "Phone +15551234567";
	caller.state = LIVEKIT__PARTICIPANT_INFO__STATE__ACTIVE;
	caller.kind = LIVEKIT__PARTICIPANT_INFO__KIND__SIP;
	caller.is_publisher = 1;
	caller.version = 3;
	caller.n_tracks = 1;
	caller.tracks = tracks;
	caller.n_attributes = 1;
	caller.attributes = attrs;
	si.edition = LIVEKIT__SERVER_INFO__EDITION__Standard;
	si.version = "0.12.0";
	si.protocol = 16;
	si.agent_protocol = 1;
	si.node_id = "ND_voxgate";
	ice.n_urls = 1;
	ice.urls = urls;
	opus.mime = "audio/opus";
	pcmu.mime = "audio/PCMU";
	join.room = &room;
	join.participant = &me;
	join.n_other_participants = 1;
	join.other_participants = others;
	join.server_version = "0.12.0";
	join.n_ice_servers = 1;
	join.ice_servers = ices;
	join.subscriber_primary = 1;
	join.ping_timeout = 15;
	join.ping_interval = 5;
	join.server_info = &si;
	join.n_enabled_publish_codecs = 2;
	join.enabled_publish_codecs = codecs;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_JOIN;
	r.join = &join;
	put("join", &r.base);

	mid.key = "0";
	mid.value = "TR_caller0000001";
	sd.type = "offer";
	sd.sdp = "v=0\r\no=- 32349875 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
	sd.id = 7;
	sd.n_mid_to_track_id = 1;
	sd.mid_to_track_id = mids;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_OFFER;
	r.offer = &sd;
	put("offer", &r.base);

	gone.sid = "PA_web000000001";
	gone.identity = "web-1";
	gone.state = LIVEKIT__PARTICIPANT_INFO__STATE__DISCONNECTED;
	gone.disconnect_reason = LIVEKIT__DISCONNECT_REASON__CLIENT_INITIATED;
	gone.version = 5;
	update.n_participants = 1;
	update.participants = goners;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_UPDATE;
	r.update = &update;
	put("update", &r.base);

	pub.sid = "TR_agent00000001";
	pub.type = LIVEKIT__TRACK_TYPE__AUDIO;
	pub.name = "roomio_audio";
	pub.source = LIVEKIT__TRACK_SOURCE__MICROPHONE;
	pub.mime_type = "audio/opus";
	pub.n_audio_features = 2;
	pub.audio_features = feats;
	published.cid = "c7f1e2d3-mic";
	published.track = &pub;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_TRACK_PUBLISHED;
	r.track_published = &published;
	put("track_published", &r.base);

	subscribed.track_sid = "TR_agent00000001";
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_TRACK_SUBSCRIBED;
	r.track_subscribed = &subscribed;
	put("track_subscribed", &r.base);

	pong.last_ping_timestamp = 1733480000123;
	pong.timestamp = 1733480000130;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_PONG_RESP;
	r.pong_resp = &pong;
	put("pong_resp", &r.base);

	/* a oneof member at its default value is still sent */
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_PONG;
	r.pong = 0;
	put("pong", &r.base);

	st.key = "lk.agent.state";
	st.value = "speaking";
	um.n_attributes = 1;
	um.attributes = sts;
	um.request_id = 3;
	rr.request_id = 3;
	rr.reason = LIVEKIT__REQUEST_RESPONSE__REASON__OK;
	rr.request_case = LIVEKIT__REQUEST_RESPONSE__REQUEST_UPDATE_METADATA;
	rr.update_metadata = &um;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_REQUEST_RESPONSE;
	r.request_response = &rr;
	put("request_response", &r.base);

	leave.reason = LIVEKIT__DISCONNECT_REASON__ROOM_DELETED;
	leave.action = LIVEKIT__LEAVE_REQUEST__ACTION__DISCONNECT;
	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_LEAVE;
	r.leave = &leave;
	put("leave", &r.base);

	r = (Livekit__SignalResponse)LIVEKIT__SIGNAL_RESPONSE__INIT;
	r.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_REFRESH_TOKEN;
	r.refresh_token = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln";
	put("refresh_token", &r.base);
}

static void server_messages(void)
{
	Livekit__ServerInfo si = LIVEKIT__SERVER_INFO__INIT;
	Livekit__RegisterWorkerResponse reg =
	    LIVEKIT__REGISTER_WORKER_RESPONSE__INIT;
	Livekit__Room room = LIVEKIT__ROOM__INIT;
	Livekit__ParticipantInfo caller = LIVEKIT__PARTICIPANT_INFO__INIT;
	Livekit__JobState state = LIVEKIT__JOB_STATE__INIT;
	Livekit__Job__AttributesEntry attr =
	    LIVEKIT__JOB__ATTRIBUTES_ENTRY__INIT;
	Livekit__Job__AttributesEntry *attrs[] = {&attr};
	Livekit__Job job = LIVEKIT__JOB__INIT;
	Livekit__AvailabilityRequest av = LIVEKIT__AVAILABILITY_REQUEST__INIT;
	Livekit__JobAssignment as = LIVEKIT__JOB_ASSIGNMENT__INIT;
	Livekit__JobTermination term = LIVEKIT__JOB_TERMINATION__INIT;
	Livekit__WorkerPong pong = LIVEKIT__WORKER_PONG__INIT;
	Livekit__ServerMessage m;

	si.edition = LIVEKIT__SERVER_INFO__EDITION__Standard;
	si.version = "0.12.0";
	si.protocol = 16;
	si.agent_protocol = 1;
	reg.worker_id = "AW_Q6n2cT9xLr4e";
	reg.server_info = &si;
	m = (Livekit__ServerMessage)LIVEKIT__SERVER_MESSAGE__INIT;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_REGISTER;
	m.register_ = &reg;
	put("register", &m.base);

	room.sid = "RM_wFhDVkTqEn7c";
	room.name = "call-+15551234567";
	room.creation_time = 1733480000;
	caller.sid = "PA_caller0000001";
	caller.identity = "sip_+15551234567";
	caller.kind = LIVEKIT__PARTICIPANT_INFO__KIND__SIP;
	caller.state = LIVEKIT__PARTICIPANT_INFO__STATE__ACTIVE;
	state.status = LIVEKIT__JOB_STATUS__JS_PENDING;
	state.updated_at = 1733480002;
	attr.key = "sip.trunkPhoneNumber";
	attr.value = "+15557654321";
	job.id = "AJ_Fv6d2kGc8sQp";
	job.dispatch_id = "AD_Lm3pX8sVq2Tk";
	job.type = LIVEKIT__JOB_TYPE__JT_ROOM;
	job.room = &room;
	job.participant = &caller;
	job.metadata = "{\"lang\":\"en\"}";
	job.agent_name = "support";
	job.state = &state;
	job.n_attributes = 1;
	job.attributes = attrs;
	av.job = &job;
	m = (Livekit__ServerMessage)LIVEKIT__SERVER_MESSAGE__INIT;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_AVAILABILITY;
	m.availability = &av;
	put("availability", &m.base);

	/* without url the worker uses its own */
	as.job = &job;
	as.token = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln";
	m = (Livekit__ServerMessage)LIVEKIT__SERVER_MESSAGE__INIT;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_ASSIGNMENT;
	m.assignment = &as;
	put("assignment", &m.base);
	as._url_case = LIVEKIT__JOB_ASSIGNMENT___URL_URL;
	as.url = "ws://127.0.0.1:7880";
	put("assignment_url", &m.base);

	term.job_id = "AJ_Fv6d2kGc8sQp";
	m = (Livekit__ServerMessage)LIVEKIT__SERVER_MESSAGE__INIT;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_TERMINATION;
	m.termination = &term;
	put("termination", &m.base);

	pong.last_timestamp = 1733480000789;
	pong.timestamp = 1733480000795;
	m = (Livekit__ServerMessage)LIVEKIT__SERVER_MESSAGE__INIT;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_PONG;
	m.pong = &pong;
	put("worker_pong", &m.base);
}

/* What voxgate does not send but must write as the SDKs read it: an
 * explicit WS_AVAILABLE (0), and DTMF from the caller. */
static void others(void)
{
	Livekit__UpdateWorkerStatus us = LIVEKIT__UPDATE_WORKER_STATUS__INIT;
	Livekit__WorkerMessage w = LIVEKIT__WORKER_MESSAGE__INIT;
	Livekit__SipDTMF dtmf = LIVEKIT__SIP_DTMF__INIT;
	Livekit__DataPacket d = LIVEKIT__DATA_PACKET__INIT;

	us._status_case = LIVEKIT__UPDATE_WORKER_STATUS___STATUS_STATUS;
	us.status = LIVEKIT__WORKER_STATUS__WS_AVAILABLE;
	us.load = 0.25f;
	w.message_case = LIVEKIT__WORKER_MESSAGE__MESSAGE_UPDATE_WORKER;
	w.update_worker = &us;
	put("update_worker", &w.base);

	dtmf.code = 11;
	dtmf.digit = "#";
	d.kind = LIVEKIT__DATA_PACKET__KIND__RELIABLE;
	d.participant_identity = "sip_+15551234567";
	d.participant_sid = "PA_caller0000001";
	d.value_case = LIVEKIT__DATA_PACKET__VALUE_SIP_DTMF;
	d.sip_dtmf = &dtmf;
	put("sip_dtmf", &d.base);
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: lkpb_pack\n");
		return 2;
	}
	signal_responses();
	server_messages();
	others();
	return failures ? 1 : 0;
}
