/*
 * A call's media and agent (sipua_int.h): the events of its media session,
 * our description on its port, the caller's SDP made into the media's
 * parameters, the agent for the call's stage, re-INVITEs and the ACK's
 * answer. The SDP itself, apart from any call, is sipua_sdp.c's.
 */
#include <errno.h>
#include <string.h>
#include "sip/sipua_int.h"
#include "sip/sipua_sdp.h"
#include "mstream/bot.h"
#include "agent/clip.h"
#include "agent/agents.h"
#include "room/room.h"
#include "media/webrtc.h"
#include "core/log.h"

/* ---- media events ----------------------------------------------------- */

static void media_event(enum media_event ev, void *arg)
{
	struct call *call = arg;

	switch (ev) {
	case MEDIA_EVENT_FIRST_RTP:
		if (!call->ending)
			log_event(LOGL_INFO, call->id, "first_rtp", "addr=%s",
			          sipua_addr_fmt(
			              media_session_first_rtp_addr(call->media))
			              .s);
		break;
	case MEDIA_EVENT_DTMF:
		if (!call->ending)
			sipua_pin_digits(call);
		break;
	case MEDIA_EVENT_TIMEOUT:
		if (!call->ending) {
			log_event(LOGL_WARN, call->id, "media_timeout", NULL);
			sipua_call_end(call, "server", "media timeout", 0);
		}
		break;
	case MEDIA_EVENT_STOPPED:
		sipua_call_finish(call);
		break;
	}
}

/* ---- SDP and media -------------------------------------------------------------- */

int sipua_media_alloc(struct call *call)
{
	return media_session_alloc(&call->media, call->ua->prm.media,
	                           media_event, call);
}

/* Our description, by the trunk's mediaEncryption (set by routing). */
int sipua_sdp_prepare(struct call *call)
{
	int err = sipua_sdp_srtp_init(&call->srtp, call->srtp.policy);

	if (err)
		return err;
	return sipua_sdp_alloc_srtp(
	    &call->sdp, &call->sdpm, &call->ua->prm.external,
	    media_session_port(call->media), &call->srtp);
}

/* The peer's SRTP against the trunk's policy, after each sdp_decode:
 * false, logged and counted, when it must be refused (r says why). */
bool sipua_sdp_srtp_ok(struct call *call, bool remote_offer,
                       struct sipua_srtp_refusal *r)
{
	if (!sipua_sdp_srtp(call->sdpm, &call->srtp, remote_offer, r))
		return true;
	call->ua->srtp.refused++;
	log_event(LOGL_WARN, call->id, "srtp_refused",
	          "policy=%s proto=%s reason=\"%s\"",
	          sdes_policy_name(call->srtp.policy),
	          sdp_media_proto(call->sdpm), r->reason);
	return false;
}

int sipua_call_media(struct call *call)
{
	int err = sipua_media_alloc(call);

	return err ? err : sipua_sdp_prepare(call);
}

/* The call's negotiated stream, where media may go: ENOENT when there is
 * no common codec, EADDRNOTAVAIL when media cannot go where the SDP says
 * (a re-INVITE may hold with c=0.0.0.0; no SDP may name a group). */
int sipua_call_sdp_params(const struct call *call, struct media_params *mp)
{
	const char *why = NULL;
	int err = sipua_sdp_params(call->sdpm, mp);

	if (err)
		return err;
	sipua_sdp_srtp_params(&call->srtp, mp);
	/* A dialled call's first answer must say where the callee is. */
	err = media_params_check(
	    mp, call->media_started && !call->media_awaiting, &why);
	if (err)
		log_event(LOGL_WARN, call->id, "sdp_refused",
		          "rtp=%s rtcp=%s reason=\"%s\"",
		          sipua_addr_fmt(&mp->raddr).s,
		          sipua_addr_fmt(&mp->raddr_rtcp).s, why);
	return err;
}

/* The agent ends the call (the busy message was said, its worker went
 * away, or its dialog ended it). */
static void agent_hangup(void *arg, const char *reason)
{
	struct call *call = arg;

	if (call->ending)
		return;
	/* An agent can give up within a millisecond of the answer (a bot
	 * that is not there), and RFC 3261 (15) allows no BYE before the
	 * ACK of our 200. */
	if (call->answer_ms && !call->acked) {
		snprintf(call->agent_end, sizeof(call->agent_end), "%s",
		         reason ? reason : "agent hung up");
		return;
	}
	sipua_call_end(call, "agent", reason, 0);
}

static void agent_audio_ready(void *arg)
{
	struct call *call = arg;

	media_session_kick(call->media);
}

int sipua_start_agent(struct call *call, const struct agent_ops **opsp,
                      void **statep)
{
	const struct agent_assets *assets = call->ua->prm.assets;
	struct agent_call_info info = {
	    .call_id = call->id,
	    .from = call->from,
	    .to = call->to,
	    .sample_rate = 8000,
	    .room = call->room[0] ? call->room : NULL,
	    .participant = call->identity,
	    .hangup = agent_hangup,
	    .hangup_arg = call,
	    .audio_ready = agent_audio_ready,
	    .audio_ready_arg = call,
	    .transfer = sipua_agent_transfer,
	    .transfer_forget = sipua_agent_transfer_forget,
	};

	*statep = NULL;
	/* Early media: the callee is heard before it answers, and no agent
	 * talks to a call that is not yet one. */
	if (call->agent_held) {
		*opsp = &agent_none;
		return agent_none.start(statep, &info, assets);
	}
	if (call->pin == PIN_COLLECTING) {
		*opsp = &agent_clip;
		return agent_clip_start(statep, assets->pin_prompt,
		                        assets->pin_prompt_samples);
	}
	if (call->agent_url[0]) {
		*opsp = &agent_bot;
		info.agent_url = call->agent_url;
	} else {
		*opsp = call->ua->prm.agent;
	}
	return (*opsp)->start(statep, &info, assets);
}

/* The call's agent and media session, started with mp. */
static int media_begin(struct call *call, const struct media_params *mp)
{
	const struct agent_ops *ops;
	void *state = NULL;
	int err = sipua_start_agent(call, &ops, &state);

	if (err)
		return err;
	/* A room that already carries WebRTC audio runs on one thread: the
	 * call joins it there. */
	if (call->participant)
		media_room_home(room_media(participant_room(call->participant)),
		                call->media);
	err = media_session_start(call->media, mp, ops, state);
	if (err) {
		ops->stop(state);
		return err;
	}
	call->agent_ops = ops;
	call->agent_state = state;
	call->media_started = true;
	return 0;
}

int sipua_start_media(struct call *call)
{
	struct media_params mp;
	int err;

	err = sipua_call_sdp_params(call, &mp);
	if (err)
		return err;
	if (call->media_started && !call->media_awaiting)
		return media_session_update(call->media, &mp);
	if (call->media_awaiting) {
		/* The first answer: the session knows the callee now. */
		err = media_session_update(call->media, &mp);
		if (!err)
			call->media_awaiting = false;
	} else {
		err = media_begin(call, &mp);
	}
	if (err)
		return err;
	if (mp.srtp.on)
		call->ua->srtp.calls++;
	/* The room's WebRTC side takes the call's audio from here. */
	if (call->participant)
		participant_set_media(call->participant, call->media);
	log_event(LOGL_INFO, call->id, "media",
	          "codec=%s dtmf_pt=%d remote=%s local_port=%u srtp=%s",
	          mp.send_pt == MEDIA_PT_PCMA ? "PCMA" : "PCMU", mp.dtmf_pt,
	          sipua_addr_fmt(&mp.raddr).s, media_session_port(call->media),
	          mp.srtp.on ? srtpx_profile_name(mp.srtp.profile) : "off");
	return 0;
}

int sipua_await_media(struct call *call)
{
	struct media_params mp = {
	    /* Our offer's first codec: the room's track is made with it
	     * (the media converts if the answer picks the other law). */
	    .send_pt = MEDIA_PT_PCMU,
	    .dtmf_pt = -1,
	    .await_answer = true,
	};
	bool held = call->agent_held;
	int err;

	if (call->media_started)
		return EALREADY;
	sa_init(&mp.raddr, AF_UNSPEC);
	sa_init(&mp.raddr_rtcp, AF_UNSPEC);
	/* Nobody to talk to: the agent starts at the answer. */
	call->agent_held = true;
	err = media_begin(call, &mp);
	if (err) {
		call->agent_held = held;
		return err;
	}
	call->media_awaiting = true;
	if (call->participant)
		participant_set_media(call->participant, call->media);
	return 0;
}

int sipua_offer_handler(struct mbuf **descp, const struct sip_msg *msg,
                        void *arg)
{
	struct call *call = arg;
	struct media_params mp;
	struct sipua_srtp_refusal sr;
	int err;

	/* The media session is stopping: a re-INVITE now gets a 488. */
	if (call->ending)
		return ECONNRESET;
	if (!mbuf_get_left(msg->mb)) {
		/* A re-INVITE without SDP asks for our offer again. */
		err = sipua_sdp_srtp_offer(call->sdpm, &call->srtp);
		return err ? err : sdp_encode(descp, call->sdp, true);
	}
	err = sdp_decode(call->sdp, msg->mb, true);
	if (err) {
		log_event(LOGL_WARN, call->id, "reinvite_rejected",
		          "reason=\"malformed SDP\"");
		return err;
	}
	if (!sipua_sdp_srtp_ok(call, true, &sr)) {
		log_event(LOGL_WARN, call->id, "reinvite_rejected",
		          "reason=\"%s\"", sr.reason);
		return EPROTO;
	}
	if (sipua_call_sdp_params(call, &mp)) {
		log_event(LOGL_WARN, call->id, "reinvite_rejected",
		          "reason=\"no common codec\"");
		return EPROTO;
	}
	sipua_sdp_direction(call->sdpm);
	err = sipua_start_media(call);
	if (err)
		return err;
	log_event(LOGL_INFO, call->id, "reinvite", "remote=%s direction=%s",
	          sipua_addr_fmt(&mp.raddr).s,
	          sdp_dir_name(sdp_media_dir(call->sdpm)));
	return sdp_encode(descp, call->sdp, false);
}

/* The ACK carries the answer to the offer we put in our 200. An error
 * returned makes libre end the dialog with a BYE once it is done with the
 * ACK; call_end leaves the session to it. */
int sipua_answer_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	struct sipua_srtp_refusal sr;
	const char *why = NULL;
	int err = 0;

	if (call->ending)
		return 0;
	if (!mbuf_get_left(msg->mb)) {
		why = "no SDP answer";
		err = EPROTO;
	} else if ((err = sdp_decode(call->sdp, msg->mb, false))) {
		why = "malformed SDP";
	} else if (!sipua_sdp_srtp_ok(call, false, &sr)) {
		why = sr.reason;
		err = EPROTO;
	} else if ((err = sipua_start_media(call))) {
		why = err == ENOENT ? "no common codec" : "media start failed";
	}
	if (err) {
		log_event(LOGL_WARN, call->id, "bad_answer", "reason=\"%s\"",
		          why);
		sipua_call_end(call, "server", "bad SDP answer in ACK", 0);
	}
	return err;
}
