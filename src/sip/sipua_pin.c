/*
 * The PIN stage. A call routed to rules with a PIN is answered with a
 * prompt and its keys are collected up to #, then routed again with them;
 * a wrong PIN plays pin_wrong and hangs up. Wrong PINs are counted per
 * source address, across calls (tries.h). Outside the stage the caller's
 * keys go to the agent.
 */
#include <string.h>
#include "sip/sipua_int.h"
#include "sip/tries.h"
#include "agent/clip.h"
#include "room/room.h"
#include "core/log.h"

bool sipua_pin_refused(struct sipua *ua, struct call *call,
                       const struct sip_msg *msg)
{
	uint64_t wait = tries_blocked(ua->pin_tries, &call->src, tmr_jiffies());
	char ip[64];

	if (!wait)
		return false;
	if (re_snprintf(ip, sizeof(ip), "%j", &call->src) < 0)
		ip[0] = '\0';
	log_event(LOGL_WARN, call->id, "pin_blocked",
	          "src=%s retry_s=%llu max_tries=%u", ip,
	          (unsigned long long)(wait + 999) / 1000,
	          ua->prm.pin_max_tries);
	sipua_reply_reject(ua, msg, 403, "Too many wrong PINs");
	return true;
}

void sipua_pin_timeout(void *arg)
{
	struct call *call = arg;

	log_event(LOGL_INFO, call->id, "pin_timeout", "digits=%zu",
	          strlen(call->digits));
	sipua_call_end(call, "server", "PIN not entered", 0);
}

static void pin_hangup(void *arg)
{
	struct call *call = arg;

	sipua_call_end(call, "server", "wrong PIN", 0);
}

/* Plays pin_wrong, then hangs up. */
static void pin_reject(struct call *call, const char *why)
{
	const struct agent_assets *assets = call->ua->prm.assets;
	void *state = NULL;
	int err;

	log_event(LOGL_WARN, call->id, "pin_rejected",
	          "digits=%zu reason=\"%s\"", strlen(call->digits), why);
	call->pin = PIN_REJECTED;
	tmr_cancel(&call->pin_tmr);
	call->agent_ops = NULL;
	err = agent_clip_start(&state, assets->pin_wrong,
	                       assets->pin_wrong_samples);
	if (!err)
		err = media_session_set_agent(call->media, &agent_clip, state);
	if (err) {
		pin_hangup(call);
		return;
	}
	tmr_start(&call->pin_tmr, assets->pin_wrong_samples / 8 + 200,
	          pin_hangup, call);
}

static void pin_submit(struct call *call)
{
	struct invite_keys k;
	struct dispatch_call dc;
	struct dispatch_result res;
	const struct agent_ops *ops;
	void *state = NULL;
	int err;

	/* Calls from one address at once share its tries. */
	if (tries_blocked(call->ua->pin_tries, &call->src, tmr_jiffies())) {
		pin_reject(call, "too many wrong PINs from this address");
		return;
	}
	sipua_invite_read(call, call->invite, &k, &dc);
	dc.pin = call->digits;
	dc.call_id = call->scl_id;
	dispatch_route(call->ua->prm.dispatch, &dc, true, sipua_kick_handler,
	               call, &res);
	if (res.outcome != DISPATCH_JOINED) {
		tries_fail(call->ua->pin_tries, &call->src, tmr_jiffies());
		pin_reject(call, res.reason);
		return;
	}
	log_event(LOGL_INFO, call->id, "pin_accepted", "rule=%s", res.rule_id);
	call->pin = PIN_NONE;
	tmr_cancel(&call->pin_tmr);
	call->invite = mem_deref((void *)call->invite);
	sipua_adopt_route(call, &res);
	(void)participant_set_attribute(call->participant, "sip.callStatus",
	                                "active");
	call->rec.status = "active";
	sipua_call_record(call);

	call->agent_ops = NULL;
	err = sipua_start_agent(call, &ops, &state);
	if (!err)
		err = media_session_set_agent(call->media, ops, state);
	if (err) {
		log_event(LOGL_ERROR, call->id, "agent_failed", "error=\"%s\"",
		          strerror(err));
		sipua_call_end(call, "server", "agent start failed", 0);
		return;
	}
	call->agent_ops = ops;
	call->agent_state = state;
}

void sipua_pin_digits(struct call *call)
{
	char buf[32];
	size_t n = media_session_dtmf_read(call->media, buf, sizeof(buf));

	if (call->pin != PIN_COLLECTING) {
		/* That keys came tells the call's story; which ones is the
		 * caller's business (card numbers, PINs of other systems),
		 * so they are never logged. */
		if (n)
			log_event(LOGL_INFO, call->id, "dtmf", "keys=%zu", n);
		if (n && call->agent_ops && call->agent_ops->dtmf)
			call->agent_ops->dtmf(call->agent_state, buf, n);
		/* And to the room: LiveKit clients get them as sip_dtmf. */
		if (n && call->participant)
			participant_dtmf(call->participant, buf, n);
		return;
	}
	for (size_t i = 0; i < n && call->pin == PIN_COLLECTING; i++) {
		size_t len = strlen(call->digits);

		if (buf[i] == '#')
			pin_submit(call);
		else if (len == PIN_MAX_DIGITS) {
			tries_fail(call->ua->pin_tries, &call->src,
			           tmr_jiffies());
			pin_reject(call, "more than 16 digits");
		} else
			call->digits[len] = buf[i];
	}
}
