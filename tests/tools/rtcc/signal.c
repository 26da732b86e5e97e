/*
 * A client's /rtc WebSocket, as LiveKit's SDKs drive it (the project's
 * livekit-rtc notes, section a): the token in the query, the JoinResponse
 * first, the server's subscriber offer answered, add_track then the
 * publisher offer when publishing, ping_req every ping_interval, leave at
 * the end.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token.h"
#include "rtcc/rtcc.h"

#define PING_US          (5 * 1000000ull)
#define PC_FAIL_GRACE_US (3 * 1000000ull)

static const char *reason_name(int r)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &livekit__disconnect_reason__descriptor, r);

	return v ? v->name : "?";
}

const char *rtcc_leave_name(int reason)
{
	return reason < 0 ? "none" : reason_name(reason);
}

void rtcc_fail(struct rtcc_client *cl, const char *fmt, ...)
{
	va_list ap;

	if (cl->state == RTCC_DONE || cl->state == RTCC_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(cl->fail, sizeof(cl->fail), fmt, ap);
	va_end(ap);
	cl->state = RTCC_FAILED;
	cl->t_end_us = rtcc_now_us();
	/* Often inside a handler of what is to be closed: the tick does it. */
	cl->teardown = true;
	rtcc_client_over(cl);
}

static int send_req(struct rtcc_client *cl, const Livekit__SignalRequest *req)
{
	struct mbuf *mb;
	int err;

	if (!cl->wc)
		return ENOTCONN;
	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;
	err = lkpb_pack(mb, &req->base);
	if (!err)
		err = rtcc_ws_send(cl->wc, mb->buf, mb->end);
	mem_deref(mb);
	return err;
}

static void send_sdp(struct rtcc_client *cl, bool offer, const char *sdp,
                     uint32_t id)
{
	Livekit__SignalRequest req = LIVEKIT__SIGNAL_REQUEST__INIT;
	Livekit__SessionDescription sd = LIVEKIT__SESSION_DESCRIPTION__INIT;

	sd.type = offer ? "offer" : "answer";
	sd.sdp = (char *)sdp;
	sd.id = id;
	if (offer) {
		req.message_case = LIVEKIT__SIGNAL_REQUEST__MESSAGE_OFFER;
		req.offer = &sd;
	} else {
		req.message_case = LIVEKIT__SIGNAL_REQUEST__MESSAGE_ANSWER;
		req.answer = &sd;
	}
	if (send_req(cl, &req))
		rtcc_fail(cl, "could not send the %s", sd.type);
}

void rtcc_signal_close(struct rtcc_client *cl)
{
	cl->teardown = false;
	rtcc_ws_shutdown(cl->wc);
	cl->wc = NULL;
	rtcc_pc_shutdown(cl->sub);
	rtcc_pc_shutdown(cl->pub);
}

void rtcc_signal_leave(struct rtcc_client *cl)
{
	Livekit__SignalRequest req = LIVEKIT__SIGNAL_REQUEST__INIT;
	Livekit__LeaveRequest leave = LIVEKIT__LEAVE_REQUEST__INIT;

	if (cl->state == RTCC_DONE || cl->state == RTCC_FAILED)
		return;
	leave.reason = LIVEKIT__DISCONNECT_REASON__CLIENT_INITIATED;
	req.message_case = LIVEKIT__SIGNAL_REQUEST__MESSAGE_LEAVE;
	req.leave = &leave;
	(void)send_req(cl, &req);
	cl->leaving = true;
	cl->state = RTCC_DONE;
	cl->t_end_us = rtcc_now_us();
	rtcc_signal_close(cl);
	rtcc_client_over(cl);
}

/* ---- what the server says ------------------------------------------------ */

static void on_join(struct rtcc_client *cl, const Livekit__JoinResponse *j)
{
	Livekit__SignalRequest req = LIVEKIT__SIGNAL_REQUEST__INIT;
	Livekit__AddTrackRequest at = LIVEKIT__ADD_TRACK_REQUEST__INIT;

	if (cl->state != RTCC_CONNECTING) {
		rtcc_fail(cl, "a second JoinResponse");
		return;
	}
	cl->state = RTCC_JOINED;
	cl->t_join_us = rtcc_now_us();
	if (j->participant)
		snprintf(cl->psid, sizeof(cl->psid), "%s", j->participant->sid);
	if (rtcc.signal_only || !rtcc.publish)
		return;
	snprintf(cl->cid, sizeof(cl->cid), "rtcc-track-%u", cl->idx);
	at.cid = cl->cid;
	at.name = "rtcc";
	at.type = LIVEKIT__TRACK_TYPE__AUDIO;
	at.source = LIVEKIT__TRACK_SOURCE__MICROPHONE;
	req.message_case = LIVEKIT__SIGNAL_REQUEST__MESSAGE_ADD_TRACK;
	req.add_track = &at;
	if (send_req(cl, &req))
		rtcc_fail(cl, "could not send add_track");
}

static void on_offer(struct rtcc_client *cl,
                     const Livekit__SessionDescription *sd)
{
	char *buf;
	const char *why = NULL;
	int err;

	cl->offers++;
	if (rtcc.signal_only)
		return;
	err = wsdp_parse(cl->desc, sd->sdp, strlen(sd->sdp), &why);
	if (err) {
		rtcc_fail(cl, "subscriber offer unreadable (line %u): %s",
		          cl->desc->err_line, why ? why : strerror(err));
		return;
	}
	rtcc_pc_expect(cl->sub, cl->desc);
	err = rtcc_pc_remote(cl->sub, cl->desc, sd->sdp, &why);
	if (err) {
		rtcc_fail(cl, "subscriber offer: %s",
		          why ? why : strerror(err));
		return;
	}
	buf = malloc(WSDP_SIZE_MAX);
	if (!buf || rtcc_sdp_answer(cl->sub, cl->desc, buf, WSDP_SIZE_MAX)) {
		free(buf);
		rtcc_fail(cl, "could not write the answer");
		return;
	}
	send_sdp(cl, false, buf, sd->id);
	free(buf);
}

static void on_published(struct rtcc_client *cl,
                         const Livekit__TrackPublishedResponse *tp)
{
	char *buf;
	int err;

	if (strcmp(tp->cid, cl->cid) || cl->pub_offered)
		return;
	cl->track_published = true;
	if (tp->track)
		snprintf(cl->track_sid, sizeof(cl->track_sid), "%s",
		         tp->track->sid);
	err = rtcc_pc_alloc(&cl->pub, cl, false);
	if (err) {
		rtcc_fail(cl, "publisher socket: %s", strerror(err));
		return;
	}
	buf = malloc(WSDP_SIZE_MAX);
	if (!buf || rtcc_sdp_pub_offer(cl->pub, cl->cid, buf, WSDP_SIZE_MAX)) {
		free(buf);
		rtcc_fail(cl, "could not write the publisher offer");
		return;
	}
	cl->pub_offered = true;
	send_sdp(cl, true, buf, 1);
	free(buf);
}

static void on_answer(struct rtcc_client *cl,
                      const Livekit__SessionDescription *sd)
{
	const char *why = NULL;
	int err;

	cl->answers_in++;
	if (!cl->pub) {
		rtcc_fail(cl, "an answer to no offer");
		return;
	}
	err = wsdp_parse(cl->desc, sd->sdp, strlen(sd->sdp), &why);
	if (!err)
		err = rtcc_pc_remote(cl->pub, cl->desc, sd->sdp, &why);
	if (err)
		rtcc_fail(cl, "publisher answer: %s",
		          why ? why : strerror(err));
}

static void on_leave(struct rtcc_client *cl, const Livekit__LeaveRequest *lr)
{
	double s = (double)(rtcc_now_us() - cl->t_open_us) / 1e6;

	cl->leave_reason = (int)lr->reason;
	if (cl->state == RTCC_CONNECTED)
		rtcc_fail(cl, "server sent leave %s after %.1f s%s%s",
		          reason_name(lr->reason), s,
		          cl->pc_fail[0] ? "; " : "", cl->pc_fail);
	else
		rtcc_fail(cl,
		          "server sent leave %s before the connection was up, "
		          "%.1f s after opening%s%s",
		          reason_name(lr->reason), s,
		          cl->pc_fail[0] ? "; " : "", cl->pc_fail);
}

static void frame_h(const uint8_t *p, size_t len, bool binary, void *arg)
{
	struct rtcc_client *cl = arg;
	Livekit__SignalResponse *m = NULL;
	const char *why = NULL;

	if (cl->state == RTCC_DONE || cl->state == RTCC_FAILED)
		return;
	if (!binary) {
		rtcc_fail(cl, "a frame that is not binary");
		return;
	}
	if (lkpb_unpack(&livekit__signal_response__descriptor, p, len,
	                (ProtobufCMessage **)&m, &why)) {
		rtcc_fail(cl, "not a SignalResponse: %s", why ? why : "?");
		return;
	}
	if (cl->state == RTCC_CONNECTING &&
	    m->message_case != LIVEKIT__SIGNAL_RESPONSE__MESSAGE_JOIN) {
		rtcc_fail(cl, "first frame was %s, not join",
		          lkpb_member(&m->base) ? lkpb_member(&m->base) : "?");
		lkpb_free(m);
		return;
	}
	switch (m->message_case) {
	case LIVEKIT__SIGNAL_RESPONSE__MESSAGE_JOIN:
		on_join(cl, m->join);
		break;
	case LIVEKIT__SIGNAL_RESPONSE__MESSAGE_OFFER:
		on_offer(cl, m->offer);
		break;
	case LIVEKIT__SIGNAL_RESPONSE__MESSAGE_ANSWER:
		on_answer(cl, m->answer);
		break;
	case LIVEKIT__SIGNAL_RESPONSE__MESSAGE_TRACK_PUBLISHED:
		on_published(cl, m->track_published);
		break;
	case LIVEKIT__SIGNAL_RESPONSE__MESSAGE_TRACK_SUBSCRIBED:
		if (cl->track_sid[0] &&
		    !strcmp(m->track_subscribed->track_sid, cl->track_sid))
			cl->heard = true;
		break;
	case LIVEKIT__SIGNAL_RESPONSE__MESSAGE_LEAVE:
		on_leave(cl, m->leave);
		break;
	default:
		break;
	}
	lkpb_free(m);
}

static void open_h(void *arg)
{
	struct rtcc_client *cl = arg;

	cl->t_ws_us = rtcc_now_us();
}

static void close_h(int err, const char *why, void *arg)
{
	struct rtcc_client *cl = arg;

	if (cl->state == RTCC_DONE || cl->state == RTCC_FAILED)
		return;
	rtcc_fail(cl, "%s (%s)", why, err ? strerror(err) : "closed");
}

int rtcc_signal_open(struct rtcc_client *cl)
{
	struct token_spec spec = {.identity = cl->identity, .ttl_s = 3600};
	char *jwt = NULL, *url = NULL;
	int err;

	token_grants_default(&spec.grants);
	spec.grants.room_join = true;
	snprintf(spec.grants.room, sizeof(spec.grants.room), "%s", cl->room);
	err = token_create(&jwt, rtcc.key, rtcc.secret, &spec, time(NULL));
	if (err)
		return err;
	err = re_sdprintf(&url,
	                  "/rtc?access_token=%s&auto_subscribe=1"
	                  "&sdk=rtcc&protocol=16",
	                  jwt);
	free(jwt);
	if (err)
		return err;
	if (!rtcc.signal_only) {
		err = rtcc_pc_alloc(&cl->sub, cl, true);
		if (err) {
			mem_deref(url);
			return err;
		}
	}
	cl->state = RTCC_CONNECTING;
	cl->t_open_us = rtcc_now_us();
	cl->next_ping_us = cl->t_open_us + PING_US;
	err = rtcc_ws_connect(&cl->wc, rtcc.host, rtcc.port, url, open_h,
	                      frame_h, close_h, cl);
	mem_deref(url);
	return err;
}

void rtcc_signal_tick(struct rtcc_client *cl, uint64_t now_us)
{
	if (cl->teardown)
		rtcc_signal_close(cl);
	if (cl->state == RTCC_DONE || cl->state == RTCC_FAILED ||
	    cl->state == RTCC_IDLE)
		return;
	if (cl->pc_fail_us && now_us >= cl->pc_fail_us) {
		rtcc_fail(cl, "%s; no leave from the server", cl->pc_fail);
		return;
	}
	if (cl->t_ws_us && now_us >= cl->next_ping_us) {
		Livekit__SignalRequest req = LIVEKIT__SIGNAL_REQUEST__INIT;
		Livekit__Ping ping = LIVEKIT__PING__INIT;

		ping.timestamp = (int64_t)time(NULL) * 1000;
		req.message_case = LIVEKIT__SIGNAL_REQUEST__MESSAGE_PING_REQ;
		req.ping_req = &ping;
		(void)send_req(cl, &req);
		cl->next_ping_us = now_us + PING_US;
	}
	if (cl->sub)
		rtcc_pc_tick(cl->sub, now_us);
	if (cl->pub)
		rtcc_pc_tick(cl->pub, now_us);
}

void rtcc_signal_pc_event(struct rtcc_client *cl, struct rtcc_pc *pc, bool up,
                          const char *why)
{
	if (!up) {
		/* The server's leave, which says what it made of it, has a
		 * moment to come. */
		if (!cl->pc_fail[0]) {
			snprintf(cl->pc_fail, sizeof(cl->pc_fail),
			         "%s connection failed: %s",
			         pc->subscriber ? "subscriber" : "publisher",
			         why);
			cl->pc_fail_us = rtcc_now_us() + PC_FAIL_GRACE_US;
		}
		return;
	}
	if (pc->subscriber && cl->state == RTCC_JOINED) {
		cl->state = RTCC_CONNECTED;
		cl->t_up_us = rtcc_now_us();
	}
}
