/*
 * DESIGN. A session is one client on /rtc: its WebSocket and its
 * participant. The JoinResponse is the first frame (the SDKs refuse any
 * other); after it the client's SignalRequests are answered in order and
 * the room's changes are pushed as ParticipantUpdate and RoomUpdate.
 *
 * A session ends one of four ways: the client's leave, its socket closing,
 * its silence past ping_timeout, or the room removing it (hang-up,
 * RemoveParticipant, DeleteRoom, a second join with the same identity).
 * Each takes the participant out of the room at once and frees the
 * session from a 0 ms timer, never inside libre's callback that reported
 * the end.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "rtc/rtc_int.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/wsguard.h"
#include "room/room.h"
#include "room/room_pb.h"
#include "livekit/lkpb.h"
#include <jansson.h>

#define KEEPALIVE_MS 0 /* the client pings; libre need not */

static void session_destructor(void *arg)
{
	struct rtc_session *s = arg;

	tmr_cancel(&s->silence);
	tmr_cancel(&s->end);
	rtc_media_reset(s);
	list_unlink(&s->le);
	if (s->p)
		participant_leave(s->p, "SIGNAL_CLOSE");
	mem_deref(s->wc);
}

unsigned rtc_session_count(const struct rtc *r)
{
	return list_count(&r->sessions);
}

/* ---- sending ----------------------------------------------------------- */

int rtc_session_send(struct rtc_session *s, const Livekit__SignalResponse *m)
{
	struct mbuf *mb;
	int err;

	if (!s->wc || s->ending)
		return ENOTCONN;
	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;
	err = lkpb_pack(mb, &m->base);
	if (!err)
		err = websock_send(s->wc, WEBSOCK_BIN, "%b", mb->buf, mb->end);
	mem_deref(mb);
	if (err)
		log_event(LOGL_WARN, NULL, "rtc_send_failed",
		          "room=%s identity=%s message=%s error=\"%s\"",
		          s->room, s->identity, lkpb_member(&m->base),
		          strerror(err));
	return err;
}

static Livekit__DisconnectReason reason_of(const char *name)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value_by_name(
	        &livekit__disconnect_reason__descriptor, name ? name : "");

	return v ? (Livekit__DisconnectReason)v->value
	         : LIVEKIT__DISCONNECT_REASON__UNKNOWN_REASON;
}

static void end_h(void *arg)
{
	mem_deref(arg);
}

/* Out of the room now; the session goes from a 0 ms timer. */
static void session_end(struct rtc_session *s, const char *reason)
{
	rtc_media_reset(s);
	if (s->p) {
		struct participant *p = s->p;

		s->p = NULL;
		participant_leave(p, reason);
	}
	s->ending = true;
	tmr_cancel(&s->silence);
	tmr_start(&s->end, 0, end_h, s);
}

/* The server ends the session: leave (no reconnect), then the close. */
void rtc_session_end(struct rtc_session *s, const char *reason)
{
	Livekit__LeaveRequest leave = LIVEKIT__LEAVE_REQUEST__INIT;
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;

	if (s->ending)
		return;
	leave.can_reconnect = false;
	leave.reason = reason_of(reason);
	leave.action = LIVEKIT__LEAVE_REQUEST__ACTION__DISCONNECT;
	m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_LEAVE;
	m.leave = &leave;
	(void)rtc_session_send(s, &m);
	if (s->wc)
		(void)websock_close(s->wc, WEBSOCK_NORMAL_CLOSURE, "%s",
		                    reason);
	log_event(LOGL_INFO, NULL, "rtc_closed",
	          "room=%s identity=%s reason=%s", s->room, s->identity,
	          reason);
	session_end(s, reason);
}

/* A frame that breaks the protocol: the reason goes in the close frame. */
static void session_refuse(struct rtc_session *s, enum websock_scode code,
                           const char *why)
{
	if (s->ending)
		return;
	log_event(LOGL_WARN, NULL, "rtc_protocol_error",
	          "room=%s identity=%s peer=%s reason=\"%s\"", s->room,
	          s->identity, s->peer, why);
	(void)websock_close(s->wc, code, "%s", why);
	session_end(s, "STATE_MISMATCH");
}

static int send_update(struct rtc_session *s, const struct participant *other)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__ParticipantUpdate up = LIVEKIT__PARTICIPANT_UPDATE__INIT;
	Livekit__ParticipantInfo *pi;
	struct arena *a = NULL;
	int err = arena_alloc(&a);

	if (err)
		return err;
	pi = room_pb_participant(a, other);
	if (pi) {
		up.n_participants = 1;
		up.participants = &pi;
		m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_UPDATE;
		m.update = &up;
		err = rtc_session_send(s, &m);
	} else {
		err = ENOMEM;
	}
	mem_deref(a);
	return err;
}

static int send_room_update(struct rtc_session *s, const struct room *room)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__RoomUpdate ru = LIVEKIT__ROOM_UPDATE__INIT;
	struct arena *a = NULL;
	int err = arena_alloc(&a);

	if (err)
		return err;
	ru.room = room_pb_room(a, room);
	if (ru.room) {
		m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_ROOM_UPDATE;
		m.room_update = &ru;
		err = rtc_session_send(s, &m);
	} else {
		err = ENOMEM;
	}
	mem_deref(a);
	return err;
}

static int send_join(struct rtc_session *s)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__JoinResponse jr = LIVEKIT__JOIN_RESPONSE__INIT;
	Livekit__ServerInfo si = LIVEKIT__SERVER_INFO__INIT;
	struct room *room = participant_room(s->p);
	const struct participant *q = NULL;
	struct arena *a = NULL;
	size_t n = 0;
	int err = arena_alloc(&a);

	if (err)
		return err;
	si.edition = LIVEKIT__SERVER_INFO__EDITION__Standard;
	si.version = (char *)s->rtc->prm.version;
	si.protocol = 16;
	si.agent_protocol = 1;
	jr.room = room_pb_room(a, room);
	jr.participant = room_pb_participant(a, s->p);
	while ((q = room_participant_next(room, q)) != NULL)
		n++;
	jr.other_participants = arena_zalloc(a, (n + 1) * sizeof(void *));
	err = jr.room && jr.participant && jr.other_participants ? 0 : ENOMEM;
	q = NULL;
	while (!err && (q = room_participant_next(room, q)) != NULL) {
		Livekit__ParticipantInfo *pi;

		if (q == s->p || participant_permission(q)->hidden)
			continue;
		pi = room_pb_participant(a, q);
		if (!pi)
			err = ENOMEM;
		else
			jr.other_participants[jr.n_other_participants++] = pi;
	}
	jr.server_version = si.version;
	jr.subscriber_primary = true;
	jr.ping_timeout = (int32_t)s->rtc->prm.ping_timeout_s;
	jr.ping_interval = (int32_t)s->rtc->prm.ping_interval_s;
	jr.server_info = &si;
	jr.fast_publish = false;
	m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_JOIN;
	m.join = &jr;
	if (!err)
		err = rtc_session_send(s, &m);
	mem_deref(a);
	return err;
}

/* ---- the room's side ---------------------------------------------------- */

static void kicked(struct participant *p, const char *reason, void *arg)
{
	struct rtc_session *s = arg;

	(void)p;
	rtc_session_end(s, reason);
}

static void room_changed(struct participant *self,
                         const struct participant *other,
                         enum participant_change what, void *arg)
{
	struct rtc_session *s = arg;

	(void)self;
	if (s->ending)
		return;
	if (what == PARTICIPANT_ROOM)
		(void)send_room_update(s, participant_room(self));
	else
		(void)send_update(s, other);
	rtc_media_changed(s, other, what);
}

static void room_dtmf(struct participant *self, const struct participant *from,
                      const char *digits, size_t n, void *arg)
{
	(void)self;
	rtc_data_dtmf(arg, from, digits, n);
}

static const struct participant_ops session_ops = {
    .kick = kicked,
    .update = room_changed,
    .dtmf = room_dtmf,
};

/* ---- the client's requests --------------------------------------------- */

static void on_ping(struct rtc_session *s, const Livekit__SignalRequest *req)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__Pong pong = LIVEKIT__PONG__INIT;

	if (req->message_case == LIVEKIT__SIGNAL_REQUEST__MESSAGE_PING) {
		m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_PONG;
		m.pong = clock_wall_ms();
	} else {
		pong.last_ping_timestamp = req->ping_req->timestamp;
		pong.timestamp = clock_wall_ms();
		m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_PONG_RESP;
		m.pong_resp = &pong;
	}
	(void)rtc_session_send(s, &m);
}

static void request_response(struct rtc_session *s,
                             Livekit__UpdateParticipantMetadata *u,
                             Livekit__RequestResponse__Reason reason,
                             const char *message)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__RequestResponse rr = LIVEKIT__REQUEST_RESPONSE__INIT;

	rr.request_id = u->request_id;
	rr.reason = reason;
	rr.message = (char *)message;
	rr.request_case = LIVEKIT__REQUEST_RESPONSE__REQUEST_UPDATE_METADATA;
	rr.update_metadata = u;
	m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_REQUEST_RESPONSE;
	m.request_response = &rr;
	(void)rtc_session_send(s, &m);
}

static void on_update_metadata(struct rtc_session *s,
                               Livekit__UpdateParticipantMetadata *u)
{
	size_t attr_len = 0;
	json_t *attrs = NULL;
	int err;

	if (!participant_permission(s->p)->can_update_metadata) {
		request_response(s, u,
		                 LIVEKIT__REQUEST_RESPONSE__REASON__NOT_ALLOWED,
		                 "does not have permission to update own "
		                 "metadata");
		return;
	}
	for (size_t i = 0; i < u->n_attributes; i++)
		attr_len += strlen(u->attributes[i]->key) +
		            strlen(u->attributes[i]->value);
	if (strlen(u->name) >= PARTICIPANT_NAME_MAX ||
	    strlen(u->metadata) > PARTICIPANT_METADATA_MAX ||
	    attr_len > PARTICIPANT_ATTRIBUTES_MAX) {
		request_response(
		    s, u, LIVEKIT__REQUEST_RESPONSE__REASON__LIMIT_EXCEEDED,
		    strlen(u->name) >= PARTICIPANT_NAME_MAX
		        ? "exceeds name length limit"
		    : attr_len > PARTICIPANT_ATTRIBUTES_MAX
		        ? "exceeds attributes size limit"
		        : "exceeds metadata size limit");
		return;
	}
	if (u->n_attributes) {
		attrs = json_object();
		for (size_t i = 0; attrs && i < u->n_attributes; i++) {
			if (json_object_set_new(
			        attrs, u->attributes[i]->key,
			        json_string(u->attributes[i]->value))) {
				json_decref(attrs);
				attrs = NULL;
			}
		}
		if (!attrs) {
			request_response(
			    s, u,
			    LIVEKIT__REQUEST_RESPONSE__REASON__UNCLASSIFIED_ERROR,
			    "out of memory");
			return;
		}
	}
	/* As LiveKit: an empty name or metadata leaves it as it is. */
	err = participant_update(s->p, *u->name ? u->name : NULL,
	                         *u->metadata ? u->metadata : NULL, attrs);
	json_decref(attrs);
	request_response(
	    s, u,
	    err ? LIVEKIT__REQUEST_RESPONSE__REASON__INVALID_REQUEST
	        : LIVEKIT__REQUEST_RESPONSE__REASON__OK,
	    err ? strerror(err) : "");
}

static void subscribe_one(struct rtc_session *s, const char *sid, bool on)
{
	rtc_media_subscribe(s, sid, on);
	for (size_t i = 0; i < s->nsubscribed; i++) {
		if (strcmp(s->subscribed[i], sid))
			continue;
		if (!on) {
			memmove(s->subscribed[i], s->subscribed[i + 1],
			        (s->nsubscribed - i - 1) *
			            sizeof(s->subscribed[0]));
			s->nsubscribed--;
		}
		return;
	}
	if (on && s->nsubscribed < RTC_SUBSCRIBED_MAX &&
	    strlen(sid) < sizeof(s->subscribed[0]))
		snprintf(s->subscribed[s->nsubscribed++],
		         sizeof(s->subscribed[0]), "%s", sid);
}

static void on_subscription(struct rtc_session *s,
                            const Livekit__UpdateSubscription *u)
{
	for (size_t i = 0; i < u->n_track_sids; i++)
		subscribe_one(s, u->track_sids[i], u->subscribe);
	for (size_t i = 0; i < u->n_participant_tracks; i++) {
		const Livekit__ParticipantTracks *pt = u->participant_tracks[i];

		for (size_t k = 0; k < pt->n_track_sids; k++)
			subscribe_one(s, pt->track_sids[k], u->subscribe);
	}
	log_event(LOGL_DEBUG, NULL, "rtc_subscription",
	          "room=%s identity=%s subscribe=%s tracks=%zu", s->room,
	          s->identity, u->subscribe ? "yes" : "no", s->nsubscribed);
}

static void on_request(struct rtc_session *s, Livekit__SignalRequest *req)
{
	switch (req->message_case) {
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_PING:
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_PING_REQ:
		on_ping(s, req);
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_LEAVE:
		s->rtc->n.left++;
		log_event(LOGL_INFO, NULL, "rtc_leave", "room=%s identity=%s",
		          s->room, s->identity);
		(void)websock_close(s->wc, WEBSOCK_NORMAL_CLOSURE, "leave");
		session_end(s, "CLIENT_INITIATED");
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_UPDATE_METADATA:
		on_update_metadata(s, req->update_metadata);
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_SUBSCRIPTION:
		on_subscription(s, req->subscription);
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_OFFER:
		rtc_media_offer(s, req->offer);
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_ANSWER:
		rtc_media_answer(s, req->answer);
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_ADD_TRACK:
		rtc_media_add_track(s, req->add_track);
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_TRICKLE:
		/* ICE-lite: the client's candidates are never used; its
		 * checks tell where it is. */
		break;
	case LIVEKIT__SIGNAL_REQUEST__MESSAGE_MUTE:
		(void)participant_track_mute(s->p, req->mute->sid,
		                             req->mute->muted);
		break;
	default:
		log_event(LOGL_DEBUG, NULL, "rtc_request_ignored",
		          "room=%s identity=%s message=%s", s->room,
		          s->identity,
		          lkpb_member(&req->base) ? lkpb_member(&req->base)
		                                  : "unknown");
		break;
	}
}

static void silence_h(void *arg)
{
	struct rtc_session *s = arg;

	s->rtc->n.timed_out++;
	log_event(LOGL_INFO, NULL, "rtc_timeout",
	          "room=%s identity=%s silent_s=%u", s->room, s->identity,
	          s->rtc->prm.ping_timeout_s);
	rtc_session_end(s, "CONNECTION_TIMEOUT");
}

static void recv_h(const struct websock_hdr *hdr, struct mbuf *mb, void *arg)
{
	struct rtc_session *s = arg;
	Livekit__SignalRequest *req = NULL;
	const char *why = NULL;

	if (s->ending)
		return;
	tmr_start(&s->silence, s->rtc->prm.ping_timeout_s * 1000u, silence_h,
	          s);
	if (hdr->opcode != WEBSOCK_BIN) {
		s->rtc->n.malformed++;
		session_refuse(s, WEBSOCK_UNSUPPORTED_DATA,
		               "signal requests are binary protobuf");
		return;
	}
	if (lkpb_signal_request_unpack(&req, mbuf_buf(mb), mbuf_get_left(mb),
	                               &why)) {
		s->rtc->n.malformed++;
		session_refuse(s, WEBSOCK_INVALID_PAYLOAD,
		               why ? why : "not a SignalRequest");
		return;
	}
	on_request(s, req);
	lkpb_free(req);
}

static void close_h(int err, void *arg)
{
	struct rtc_session *s = arg;

	if (s->ending)
		return;
	s->rtc->n.dropped++;
	log_event(LOGL_INFO, NULL, "rtc_disconnected",
	          "room=%s identity=%s error=\"%s\"", s->room, s->identity,
	          err ? strerror(err) : "closed without leave");
	session_end(s, "SIGNAL_CLOSE");
}

/* ---- joining ------------------------------------------------------------ */

static void kind_upper(const char *kind, char *out, size_t size)
{
	size_t i;

	for (i = 0; kind[i] && i + 1 < size; i++)
		out[i] = (char)(kind[i] >= 'a' && kind[i] <= 'z' ? kind[i] - 32
		                                                 : kind[i]);
	out[i] = '\0';
}

static int join(struct rtc_session *s, const struct rtc_join *j)
{
	const struct token_grants *g = &j->claims.grants;
	const struct participant_permission perm = {
	    .can_subscribe = g->can_subscribe,
	    .can_publish = g->can_publish,
	    .can_publish_data = g->can_publish_data,
	    .can_update_metadata = g->can_update_own_metadata,
	    .hidden = g->hidden,
	    .agent = g->agent,
	};
	const json_t *attrs = json_object_get(j->extra, "attributes");
	const json_t *meta = json_object_get(j->extra, "metadata");
	const json_t *config = json_object_get(j->extra, "roomConfig");
	char kind[16];
	struct room *room = NULL;
	struct participant *old;
	int err;

	kind_upper(j->claims.kind, kind, sizeof(kind));
	err = room_ensure(s->rtc->prm.rooms, j->room,
	                  json_is_object(config) ? config : NULL, &room, NULL);
	if (err)
		return err;
	/* As LiveKit: the newer connection wins. */
	old = participant_find(room, j->claims.identity);
	if (old)
		participant_kick(old, "DUPLICATE_IDENTITY");
	const struct participant_info info = {
	    .identity = j->claims.identity,
	    .name = j->claims.name,
	    .kind = kind,
	    .metadata = json_is_string(meta) ? json_string_value(meta) : NULL,
	    .attributes = json_is_object(attrs) ? attrs : NULL,
	    .permission = &perm,
	};
	return participant_join(room, &info, &session_ops, s, &s->p);
}

void rtc_session_accept(struct rtc *r, struct http_conn *conn,
                        const struct http_msg *msg, const struct rtc_join *j)
{
	struct rtc_session *s;
	const char *what = "join";
	int err;

	s = mem_zalloc(sizeof(*s), session_destructor);
	if (!s) {
		http_ereply(conn, 500, "Internal Server Error");
		return;
	}
	s->rtc = r;
	tmr_init(&s->silence);
	tmr_init(&s->end);
	s->auto_subscribe = j->auto_subscribe;
	snprintf(s->identity, sizeof(s->identity), "%s", j->claims.identity);
	snprintf(s->room, sizeof(s->room), "%s", j->room);
	if (re_snprintf(s->peer, sizeof(s->peer), "%J", http_conn_peer(conn)) <
	    0)
		s->peer[0] = '\0';
	err = join(s, j);
	if (err) {
		/* Before the upgrade: the client reads an HTTP refusal. */
		log_event(LOGL_WARN, NULL, "rtc_join_failed",
		          "room=%s identity=%s error=\"%s\"", s->room,
		          s->identity, strerror(err));
		if (err == EMLINK)
			(void)http_creply(conn, 503, "Service Unavailable",
			                  "text/plain",
			                  "room has exceeded its max "
			                  "participants");
		else
			http_ereply(conn, 500, "Internal Server Error");
		mem_deref(s);
		return;
	}
	list_append(&r->sessions, &s->le, s);
	what = "accept";
	err = websock_accept(&s->wc, r->ws, conn, msg, KEEPALIVE_MS, recv_h,
	                     close_h, s);
	if (!err) {
		what = "guard";
		err = wsguard_attach(
		    s->wc,
		    &(struct wsguard_prm){.server = true, .label = "rtc"});
	}
	if (!err) {
		what = "join response";
		err = send_join(s);
	}
	if (!err) {
		what = "subscriber connection";
		err = rtc_media_init(s);
	}
	if (err) {
		log_event(LOGL_WARN, NULL, "rtc_open_failed",
		          "room=%s identity=%s step=\"%s\" error=\"%s\"",
		          s->room, s->identity, what, strerror(err));
		if (!s->wc)
			http_ereply(conn, 400, "Bad Request");
		participant_leave(s->p, "JOIN_FAILURE");
		s->p = NULL;
		mem_deref(s);
		return;
	}
	r->n.joined++;
	tmr_start(&s->silence, r->prm.ping_timeout_s * 1000u, silence_h, s);
	log_event(LOGL_INFO, NULL, "rtc_joined",
	          "room=%s identity=%s sid=%s kind=%s peer=%s "
	          "auto_subscribe=%s",
	          s->room, s->identity, participant_sid(s->p),
	          participant_kind(s->p), s->peer,
	          s->auto_subscribe ? "yes" : "no");
}

void rtc_session_end_all(struct rtc *r, const char *reason)
{
	struct le *le = list_head(&r->sessions);

	while (le) {
		struct rtc_session *s = le->data;

		le = le->next;
		rtc_session_end(s, reason);
		/* Shutting down: no timer will run. */
		tmr_cancel(&s->end);
		mem_deref(s);
	}
}
