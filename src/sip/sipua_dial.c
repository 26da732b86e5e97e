/*
 * DESIGN. An outbound call is a struct call like any other: the callee
 * joins its room before anything is sent (a taken identity or a full room
 * then costs nothing), the INVITE goes through libre's sipsess_connect
 * with our SDP offer, and the answer starts the media and the room's agent
 * exactly as an inbound call's does. From then on the call is ended by
 * sipua_call_end like any other: a BYE either way, the media timeout, the
 * room, the limit, the drain.
 *
 * What libre 1.1.0 does by itself and this file relies on
 * (re:sipsess/connect.c, sess.c, sip/request.c, sip/auth.c):
 *  - it follows a 3xx to the first Contact on its own (we cannot refuse);
 *  - it answers 401/407 through dial_auth (the credentials are the
 *    session's, not the call's: a challenged BYE may come after the call
 *    is gone), and a second challenge for the
 *    same realm (credentials refused) ends the call with err 0 and that
 *    401/407 as if it were any final failure;
 *  - after a 2xx it calls answerh, sends the ACK, and on an error from
 *    answerh sends a BYE and calls closeh(err, the 2xx);
 *  - releasing an unanswered session sends CANCEL once a provisional came
 *    (the INVITE otherwise lives until Timer B); a 2xx that crosses the
 *    CANCEL is ACKed and BYE'd. The session then no longer calls us.
 *
 * The API request that waits (wait_until_answered) hears the outcome once,
 * from whichever comes first: the answer, the failure, the ringing
 * timeout, or the call ending for another reason.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include "core/clock.h"
#include "core/id.h"
#include "sip/sipua_int.h"
#include "sip/outbound.h"
#include "sip/sipua_dial.h"
#include "room/room.h"
#include "media/webrtc.h"
#include "core/log.h"

#define ALLOW_HDR "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
/* A key goes out as 5 tone and 3 end packets, then 3 ticks of gap. */
#define DTMF_KEY_MS   220
#define DTMF_PAUSE_MS 500

/* The trunk's credentials, held by the session's digest state rather than
 * by the call: libre keeps that state as long as the session, which may
 * outlive the call (a BYE or a CANCEL still in flight can be challenged). */
struct dial_creds {
	char user[128], pass[128];
	char call_id[128]; /* for the log */
};

struct sipua_dial {
	struct call *call;
	sipua_dial_h *h; /* NULL once told, or when no one waits */
	void *arg;
	struct tmrq_ent ring;
	struct tmr dtmf_tmr;
	uint32_t ringing_ms, max_ms;
	char address[256];
	char dtmf[OUTBOUND_DTMF_MAX + 1];
	size_t dtmf_pos;
	const char *bad_answer; /* why the 2xx's SDP could not be taken */
	char bad_srtp[128];     /* its words when SRTP was why */
	bool ringing, early;
	bool dialtone; /* play_dialtone: the room hears a ringback */
};

static void dial_destructor(void *arg)
{
	struct sipua_dial *d = arg;
	sipua_dial_h *h = d->h;

	tmrq_cancel(&d->ring);
	tmr_cancel(&d->dtmf_tmr);
	d->h = NULL;
	/* Never left waiting, whatever ended the call. */
	if (h)
		h(ECANCELED, 0, "the call ended", d->arg);
}

/* Tells the one waiting, once. */
static void settle(struct sipua_dial *d, int err, uint16_t scode,
                   const char *reason)
{
	sipua_dial_h *h = d->h;

	d->h = NULL;
	if (h)
		h(err, scode, reason, d->arg);
}

static void set_status(struct call *call, const char *status)
{
	if (call->participant)
		(void)participant_set_attribute(call->participant,
		                                "sip.callStatus", status);
}

/* A failure before the answer: the callee leaves as LiveKit reports a
 * trunk's failure, and the record keeps the SIP status. */
static void dial_failed(struct call *call, int err, uint16_t scode,
                        const char *reason, uint16_t rec_scode)
{
	log_event(LOGL_WARN, call->id, "dial_failed",
	          "code=%u reason=\"%s\" address=%s", scode, reason,
	          call->dial->address);
	settle(call->dial, err, scode, reason);
	if (call->participant) {
		set_status(call, "hangup");
		participant_leave(call->participant, "SIP_TRUNK_FAILURE");
		call->participant = NULL;
	}
	call->end_scode = rec_scode;
	sipua_call_end(call, "callee", reason, 0);
}

void sipua_dial_ending(struct call *call, const char *reason)
{
	char why[96];

	if (!call->dial)
		return;
	tmrq_cancel(&call->dial->ring);
	tmr_cancel(&call->dial->dtmf_tmr);
	if (call->dial->h) {
		snprintf(why, sizeof(why),
		         "the call ended before the answer: %s", reason);
		settle(call->dial, ECANCELED, 0, why);
	}
	/* A CANCEL is on its way: the INVITE ends with 487. */
	if (!call->answer_ms && !call->end_scode)
		call->end_scode = 487;
	set_status(call, "hangup");
}

void sipua_dial_drain(struct sipua *ua)
{
	struct le *le = list_head(&ua->calls);

	while (le) {
		struct call *call = le->data;

		le = le->next;
		if (call->outbound && !call->answer_ms)
			sipua_call_end(call, "server", "shutdown", 0);
	}
}

void sipua_dial_forget(struct sipua *ua, void *arg)
{
	if (!ua)
		return;
	for (struct le *le = list_head(&ua->calls); le; le = le->next) {
		struct call *call = le->data;

		if (call->dial && call->dial->arg == arg)
			call->dial->h = NULL;
	}
}

const char *sipua_from_host(const struct sipua *ua)
{
	static char host[80];

	if (re_snprintf(host, sizeof(host),
	                sa_af(&ua->prm.external) == AF_INET6 ? "[%j]" : "%j",
	                &ua->prm.external) < 0)
		host[0] = '\0';
	return host;
}

bool sipua_udp_backlog(const struct sipua *ua)
{
	int n = 0;

	/* For UDP, the size of the next datagram; 0 with none. */
	return ua && ua->udp_fd >= 0 && !ioctl(ua->udp_fd, FIONREAD, &n) &&
	       n > 0;
}

int sipua_dial_metrics(const struct sipua *ua, struct mbuf *mb)
{
	unsigned in = 0, out = 0;

	if (ua) {
		for (struct le *le = list_head(&ua->calls); le; le = le->next) {
			const struct call *call = le->data;

			if (call->outbound)
				out++;
			else
				in++;
		}
	}
	return mbuf_printf(mb,
	                   "# TYPE voxgate_sip_calls gauge\n"
	                   "voxgate_sip_calls{direction=\"inbound\"} %u\n"
	                   "voxgate_sip_calls{direction=\"outbound\"} %u\n",
	                   in, out);
}

/* ---- DTMF once answered ----------------------------------------------- */

/* Sends the keys up to the next 'w', then waits for them to go out and
 * for the pause. */
static void dtmf_next(void *arg)
{
	struct call *call = arg;
	struct sipua_dial *d = call->dial;
	size_t start, n;

	if (call->ending)
		return;
	while (d->dtmf[d->dtmf_pos] == 'w')
		d->dtmf_pos++;
	start = d->dtmf_pos;
	while (d->dtmf[d->dtmf_pos] && d->dtmf[d->dtmf_pos] != 'w')
		d->dtmf_pos++;
	n = d->dtmf_pos - start;
	if (n && media_session_dtmf_send(call->media, d->dtmf + start, n))
		log_event(LOGL_WARN, call->id, "dtmf_send_failed", "keys=%zu",
		          n);
	if (!d->dtmf[d->dtmf_pos]) {
		/* After the last key has gone out, the call is the
		 * callee's. */
		if (n)
			tmr_start(&d->dtmf_tmr, n * DTMF_KEY_MS, dtmf_next,
			          call);
		else
			set_status(call, "active");
		return;
	}
	tmr_start(&d->dtmf_tmr, n * DTMF_KEY_MS + DTMF_PAUSE_MS, dtmf_next,
	          call);
}

/* ---- the dial tone ---------------------------------------------------- */

/*
 * play_dialtone: the room hears a ringback while the callee's phone rings,
 * as LiveKit plays one. The call's media starts now with no address and no
 * agent (nothing goes to the callee, nothing from anywhere is taken) so
 * that its track is in the room with the tone on it. The callee's first
 * packet of early media takes the tone's place (the media thread turns it
 * off), the answer turns it off in any case. A tone that cannot start
 * leaves the call as it is: it rings silently.
 */
static void dialtone_start(struct call *call)
{
	int err;

	if (!call->dial->dialtone)
		return;
	err = sipua_await_media(call);
	if (err) {
		log_event(LOGL_WARN, call->id, "dialtone_failed",
		          "error=\"%s\"", strerror(err));
		return;
	}
	media_session_ringback(call->media, true);
	log_event(LOGL_INFO, call->id, "dialtone", "room=%s local_port=%u",
	          call->room, media_session_port(call->media));
}

/* ---- session handlers ------------------------------------------------- */

static int dial_auth(char **user, char **pass, const char *realm, void *arg)
{
	const struct dial_creds *c = arg;
	int err;

	log_event(LOGL_INFO, c->call_id, "dial_challenge",
	          "realm=\"%s\" credentials=%s", realm ? realm : "",
	          c->user[0] ? "yes" : "no");
	/* libre reads EAUTH as "no credentials": the call ends with the
	 * challenge as its failure. */
	if (!c->user[0])
		return EAUTH;
	err = str_dup(user, c->user);
	if (!err)
		err = str_dup(pass, c->pass);
	return err;
}

static bool has_sdp(const struct sip_msg *msg)
{
	return mbuf_get_left(msg->mb) > 0 &&
	       msg_ctype_cmp(&msg->ctyp, "application", "sdp");
}

/* The callee's audio before the answer (183 with SDP): the media runs
 * with no agent until the answer. libre 1.1.0 has no PRACK, so the SDP of
 * a provisional reaches only this handler. */
static void early_media(struct call *call, const struct sip_msg *msg)
{
	struct sipua_dial *d = call->dial;
	struct sipua_srtp_refusal sr;
	int err;

	if (d->early || !has_sdp(msg))
		return;
	err = sdp_decode(call->sdp, msg->mb, false);
	if (!err && !sdp_media_rport(call->sdpm))
		err = EPROTO;
	if (!err && !sipua_sdp_srtp_ok(call, false, &sr))
		err = EPROTO;
	if (!err) {
		call->agent_held = true;
		err = sipua_start_media(call);
	}
	if (err) {
		log_event(LOGL_WARN, call->id, "early_media_refused",
		          "error=\"%s\"", strerror(err));
		/* A dial tone's session still runs with no agent. */
		call->agent_held = call->media_awaiting;
		return;
	}
	d->early = true;
	/* The SDP came in a response to our own request to the trunk. */
	media_session_confirm(call->media);
	log_event(LOGL_INFO, call->id, "early_media", "code=%u", msg->scode);
}

static void dial_progress(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	struct sipua_dial *d = call->dial;

	if (call->ending || msg->scode < 180)
		return;
	if (!d->ringing) {
		d->ringing = true;
		log_event(LOGL_INFO, call->id, "ringing", "code=%u",
		          msg->scode);
		set_status(call, "ringing");
		call->rec.status = "ringing";
		call->rec.ringing_at = (long long)time(NULL);
		sipua_call_record(call);
	}
	early_media(call, msg);
}

/* The 2xx's SDP answers our offer. An error makes libre ACK and then BYE
 * the call and report it to dial_close: only why is kept here. */
static int dial_answer(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	struct sipua_dial *d = call->dial;
	struct sipua_srtp_refusal sr;
	bool was_held = call->agent_held;
	int err;

	if (call->ending)
		return ECANCELED;
	if (!has_sdp(msg)) {
		d->bad_answer = "no SDP answer";
		return EPROTO;
	}
	err = sdp_decode(call->sdp, msg->mb, false);
	if (err) {
		d->bad_answer = "malformed SDP answer";
		return err;
	}
	if (!sdp_media_rport(call->sdpm)) {
		d->bad_answer = "audio stream refused";
		return EPROTO;
	}
	if (!sipua_sdp_srtp_ok(call, false, &sr)) {
		/* What the API caller reads: the policy that refused, then
		 * what was wrong with the answer. */
		snprintf(d->bad_srtp, sizeof(d->bad_srtp), "%s (answer: %s)",
		         sr.warn_text ? sr.warn_text : "SRTP refused",
		         sr.reason);
		d->bad_answer = d->bad_srtp;
		return EPROTO;
	}
	call->agent_held = false;
	err = sipua_start_media(call);
	if (err) {
		d->bad_answer =
		    err == ENOENT ? "no common codec" : "media start failed";
		return err;
	}
	/* Answered: the room hears the callee now, whether or not it has
	 * sent anything yet. */
	media_session_ringback(call->media, false);
	/* Early media ran with no agent: the room's takes over now. */
	if (was_held) {
		const struct agent_ops *ops;
		void *state = NULL;

		err = sipua_start_agent(call, &ops, &state);
		if (!err)
			err = media_session_set_agent(call->media, ops, state);
		if (err) {
			d->bad_answer = "agent start failed";
			return err;
		}
		call->agent_ops = ops;
		call->agent_state = state;
	}
	return 0;
}

static void dial_estab(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	struct sipua_dial *d = call->dial;
	char tag[SIPUA_TAG_MAX + 1];

	if (call->ending)
		return;
	/* LiveKit's sip.callTag is the remote side's tag: the callee's To
	 * tag in the 2xx. Set before the status says active. */
	sipua_tag_copy(tag, msg ? &msg->to.tag : NULL);
	if (tag[0])
		(void)participant_set_attribute(call->participant,
		                                "sip.callTag", tag);
	tmrq_cancel(&d->ring);
	call->acked = true; /* we sent the ACK: a BYE may go */
	call->answer_ms = clock_mono_ms();
	media_session_confirm(call->media);
	set_status(call, d->dtmf[0] ? "automation" : "active");
	call->rec.status = "active";
	call->rec.active_at = (long long)time(NULL);
	sipua_call_record(call);
	log_event(LOGL_INFO, call->id, "answered",
	          "after_ms=%llu direction=outbound",
	          (unsigned long long)(call->answer_ms - call->invite_ms));
	sipua_limit_start(call, d->max_ms);
	settle(d, 0, 200, "OK");
	if (d->dtmf[0])
		dtmf_next(call);
	if (call->agent_end[0] && !call->ending)
		sipua_call_end(call, "agent", call->agent_end, 0);
}

static void dial_close(int err, const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	struct sipua_dial *d = call->dial;
	char reason[300];

	if (call->ending)
		return;
	if (call->answer_ms) {
		/* libre reports the callee's BYE as ECONNRESET. */
		if (err == ECONNRESET)
			snprintf(reason, sizeof(reason), "BYE");
		else if (msg && msg->scode)
			snprintf(reason, sizeof(reason), "%u %.*s", msg->scode,
			         (int)msg->reason.l, msg->reason.p);
		else
			snprintf(reason, sizeof(reason), "%s", strerror(err));
		sipua_call_end(call, "callee", reason, 0);
		return;
	}
	if (err && msg && msg->scode >= 200 && msg->scode < 300) {
		/* libre has ACKed and sent BYE. */
		log_event(LOGL_WARN, call->id, "bad_answer", "reason=\"%s\"",
		          d->bad_answer ? d->bad_answer : strerror(err));
		dial_failed(call, EPROTO, 488,
		            d->bad_answer ? d->bad_answer : "bad answer", 488);
		return;
	}
	if (msg && msg->scode >= 300) {
		char r[96];

		sipua_pl_copy(r, sizeof(r), &msg->reason);
		if (err == ENOSYS) {
			dial_failed(call, ENOSYS, msg->scode,
			            "digest algorithm not supported",
			            msg->scode);
			return;
		}
		dial_failed(call, 0, msg->scode, r, msg->scode);
		return;
	}
	if (err == ETIMEDOUT) {
		snprintf(reason, sizeof(reason), "%s: no response", d->address);
		dial_failed(call, ETIMEDOUT, 0, reason, 408);
		return;
	}
	snprintf(reason, sizeof(reason), "%s: %s", d->address,
	         err == ECONNREFUSED   ? "connection refused"
	         : err == EDESTADDRREQ ? "host name not resolved"
	                               : strerror(err));
	dial_failed(call, err ? err : EPROTO, 0, reason, 503);
}

static void ring_timeout(void *arg)
{
	struct call *call = arg;
	char reason[64];

	snprintf(reason, sizeof(reason), "no answer within %u ms",
	         call->dial->ringing_ms);
	log_event(LOGL_INFO, call->id, "ringing_timeout", "after_ms=%u",
	          call->dial->ringing_ms);
	settle(call->dial, ETIMEDOUT, 0, reason);
	if (call->participant) {
		set_status(call, "hangup");
		participant_leave(call->participant, "SIP_TRUNK_FAILURE");
		call->participant = NULL;
	}
	call->end_scode = 487;
	sipua_call_end(call, "server", "ringing timeout", 0);
}

/* ---- placing a call --------------------------------------------------- */

/* A room made for an external bot (CreateRoom with agents[0] a ws:// or
 * wss:// URL) gives the bot the calls placed into it, as a rule's bot
 * gets the calls it routes. */
static void room_bot(struct sipua *ua, struct call *call)
{
	const char *url =
	    ua->prm.room_bot
	        ? ua->prm.room_bot(call->room, ua->prm.room_bot_arg)
	        : NULL;
	const char *why = NULL;

	if (url && dispatch_bot_url(url, call->agent_url,
	                            sizeof(call->agent_url), &why)) {
		call->agent_url[0] = '\0';
		log_event(LOGL_WARN, call->scl_id, "bot_url_invalid",
		          "room=%s reason=\"%s\" agent=default", call->room,
		          why);
	}
}

static const char *contact_for(const struct sipua *ua, const char *transport)
{
	if (!strcmp(transport, "tls"))
		return ua->contact_tls;
	return !strcmp(transport, "tcp") ? ua->contact_tcp : ua->contact_udp;
}

int sipua_dial(struct sipua *ua, const struct outbound_call *oc,
               sipua_dial_h *h, void *arg, struct sipua_dial_info *info,
               const char **why)
{
	struct call *call;
	struct sipua_dial *d;
	struct dial_creds *creds = NULL;
	struct mbuf *desc = NULL;
	const char *step = "out of memory";
	int err;

	if (!ua || !oc || !info || !why)
		return EINVAL;
	*why = NULL;
	if (ua->draining) {
		*why = "the server is shutting down";
		return ESHUTDOWN;
	}
	if (!strcmp(oc->transport, "tls") && !sipua_tls_ready(ua)) {
		*why = "TLS is not configured (sip_tls_cert)";
		return EPROTONOSUPPORT;
	}
	if (!ua->prm.dispatch) {
		*why = "rooms are off on this server";
		return ENOSYS;
	}
	call = sipua_call_alloc(ua);
	d = call ? mem_zalloc(sizeof(*d), dial_destructor) : NULL;
	if (!d) {
		mem_deref(call);
		*why = step;
		return ENOMEM;
	}
	call->outbound = true;
	call->dial = d;
	d->call = call;
	tmrq_ent_init(&d->ring);
	tmr_init(&d->dtmf_tmr);
	d->ringing_ms = oc->ringing_ms;
	d->max_ms = oc->max_ms ? oc->max_ms : ua->prm.max_call_duration_ms;
	snprintf(d->address, sizeof(d->address), "%s", oc->address);
	snprintf(d->dtmf, sizeof(d->dtmf), "%s", oc->dtmf);
	id_make(call->scl_id, sizeof(call->scl_id), "SCL_");
	snprintf(call->room, sizeof(call->room), "%s", oc->room);
	snprintf(call->identity, sizeof(call->identity), "%s", oc->identity);
	snprintf(call->trunk_id, sizeof(call->trunk_id), "%s", oc->trunk_id);
	snprintf(call->from, sizeof(call->from), "%.*s",
	         (int)sizeof(call->from) - 1, oc->from_uri);
	snprintf(call->to, sizeof(call->to), "%.*s", (int)sizeof(call->to) - 1,
	         oc->to_uri);
	/* Until libre makes the Call-ID, the logs name the call by ours. */
	snprintf(call->id, sizeof(call->id), "%s", call->scl_id);

	const struct dispatch_outbound o = {
	    .room = oc->room,
	    .identity = oc->identity,
	    .name = oc->name,
	    .metadata = oc->metadata,
	    .attrs = oc->attrs,
	    .call_id = call->scl_id,
	    .trunk_id = oc->trunk_id,
	    .phone = oc->call_to,
	    .trunk_phone = oc->number,
	    .hostname = oc->address,
	    .hide_number = oc->hide_number,
	};
	err = dispatch_join_outbound(ua->prm.dispatch, &o, sipua_kick_handler,
	                             call, &call->participant);
	if (err) {
		step = err == EEXIST   ? "a participant with this identity is "
		                         "already in the room"
		       : err == EMLINK ? "the room is full"
		                       : "cannot join the room";
		goto fail;
	}
	room_bot(ua, call);
	call->srtp.policy = oc->encryption;
	call->contact = contact_for(ua, oc->transport);
	err = sipua_call_media(call);
	if (err) {
		step = err == EADDRINUSE ? "no media ports available"
		                         : "media unavailable";
		goto fail;
	}
	err = sdp_encode(&desc, call->sdp, true);
	if (err) {
		step = "SDP offer failed";
		goto fail;
	}
	creds = mem_zalloc(sizeof(*creds), NULL);
	if (!creds) {
		err = ENOMEM;
		goto fail;
	}
	snprintf(creds->user, sizeof(creds->user), "%s", oc->auth_user);
	snprintf(creds->pass, sizeof(creds->pass), "%s", oc->auth_pass);
	snprintf(creds->call_id, sizeof(creds->call_id), "%s", call->scl_id);
	err = sipsess_connect(
	    &call->sess, ua->sock, oc->to_uri,
	    oc->from_name[0] ? oc->from_name : NULL, oc->from_uri,
	    call->contact, NULL, 0, "application/sdp", desc, dial_auth, creds,
	    true, sipua_offer_handler, dial_answer, dial_progress, dial_estab,
	    NULL, NULL, dial_close, call, "%s%s", ALLOW_HDR, oc->headers);
	desc = mem_deref(desc);
	if (err) {
		step = "the INVITE could not be sent";
		goto fail;
	}
	snprintf(call->id, sizeof(call->id), "%s",
	         sip_dialog_callid(sipsess_dialog(call->sess)));
	snprintf(creds->call_id, sizeof(creds->call_id), "%s", call->id);
	creds = mem_deref(creds); /* the session holds it */
	(void)participant_set_attribute(call->participant, "sip.callIDFull",
	                                call->id);
	list_append(&ua->calls, &call->le, call);
	call->rec = (struct dispatch_record){
	    .sip_call_id = call->id,
	    .from = call->from,
	    .to = call->to,
	    .room = call->room,
	    .identity = call->identity,
	    .trunk_id = call->trunk_id,
	    .status = "dialing",
	};
	sipua_call_record(call);
	tmrq_start(&ua->ring_q, &d->ring, d->ringing_ms, ring_timeout, call);
	d->dialtone = oc->play_dialtone;
	dialtone_start(call);
	d->h = h;
	d->arg = arg;

	snprintf(info->participant_id, sizeof(info->participant_id), "%s",
	         participant_sid(call->participant));
	snprintf(info->identity, sizeof(info->identity), "%s", call->identity);
	snprintf(info->room, sizeof(info->room), "%s", call->room);
	snprintf(info->sip_call_id, sizeof(info->sip_call_id), "%s",
	         call->scl_id);
	log_event(LOGL_INFO, call->id, "dial",
	          "call=%s to=%s from=%s transport=%s room=%s identity=%s "
	          "trunk=%s ringing_ms=%u wait=%s agent=%s",
	          call->scl_id, oc->to_uri, oc->from_uri, oc->transport,
	          call->room, call->identity,
	          oc->trunk_id[0] ? oc->trunk_id : "inline", d->ringing_ms,
	          h ? "yes" : "no",
	          call->agent_url[0] ? call->agent_url : "default");
	return 0;

fail:
	mem_deref(desc);
	mem_deref(creds);
	*why = step;
	log_event(LOGL_WARN, call->scl_id, "dial_refused",
	          "reason=\"%s\" error=\"%s\" room=%s identity=%s", step,
	          strerror(err), oc->room, oc->identity);
	if (call->participant) {
		participant_leave(call->participant, "JOIN_FAILURE");
		call->participant = NULL;
	}
	/* Not listed, no session, media never started: freed at once. */
	mem_deref(call);
	return err;
}
