/*
 * From an INVITE to a room: what routing reads from the INVITE, the
 * trunk's digest challenge when it has credentials, and the room, rule and
 * agent dispatch gives the call (sip/dispatch.h).
 */
#include <string.h>
#include <time.h>
#include "sip/sipua_int.h"
#include "room/room.h"
#include "core/log.h"

static void foreach_header(const void *m, dispatch_hdr_h *h, void *harg)
{
	const struct sip_msg *msg = m;

	for (struct le *le = list_head(&msg->hdrl); le; le = le->next) {
		const struct sip_hdr *hdr = le->data;

		h(hdr->name.p, hdr->name.l, hdr->val.p, hdr->val.l, harg);
	}
}

void sipua_kick_handler(struct participant *p, const char *reason, void *arg)
{
	struct call *call = arg;

	participant_leave(p, reason);
	call->participant = NULL;
	log_event(LOGL_INFO, call->id, "removed", "reason=%s room=%s", reason,
	          call->room);
	sipua_call_end(call, "server", reason, 480);
}

static void xhdr_copy(const struct sip_msg *msg, const char *name, char *out,
                      size_t sz)
{
	const struct sip_hdr *h = sip_msg_xhdr(msg, name);

	sipua_pl_copy(out, sz, h ? &h->val : NULL);
}

void sipua_invite_read(const struct call *call, const struct sip_msg *msg,
                       struct invite_keys *k, struct dispatch_call *dc)
{
	sipua_pl_copy(k->from_user, sizeof(k->from_user), &msg->from.uri.user);
	sipua_pl_copy(k->to_user, sizeof(k->to_user), &msg->to.uri.user);
	if (re_snprintf(k->src, sizeof(k->src), "%j", &msg->src) < 0)
		k->src[0] = '\0';
	xhdr_copy(msg, "X-Twilio-CallSid", k->sid, sizeof(k->sid));
	xhdr_copy(msg, "X-Twilio-AccountSid", k->account, sizeof(k->account));
	sipua_tag_copy(k->tag, &msg->from.tag);
	*dc = (struct dispatch_call){
	    .sip_call_id = call->id,
	    .from_user = k->from_user,
	    .to_user = k->to_user,
	    .src_ip = k->src,
	    .twilio_call_sid = k->sid[0] ? k->sid : NULL,
	    .twilio_account_sid = k->account[0] ? k->account : NULL,
	    .call_tag = k->tag,
	    .msg = msg,
	    .foreach_hdr = foreach_header,
	};
}

void sipua_adopt_route(struct call *call, const struct dispatch_result *res)
{
	call->participant = res->p;
	call->room_made = res->room_created;
	/* Routed again after the answer (a PIN): its media is running. */
	if (call->media_started)
		participant_set_media(call->participant, call->media);
	snprintf(call->room, sizeof(call->room), "%s", res->room);
	snprintf(call->identity, sizeof(call->identity), "%s", res->identity);
	snprintf(call->rule_id, sizeof(call->rule_id), "%s", res->rule_id);
	snprintf(call->agent_url, sizeof(call->agent_url), "%s",
	         res->agent_url);
	log_event(LOGL_INFO, call->id, "routed",
	          "room=%s identity=%s call=%s trunk=%s rule=%s agent=%s",
	          res->room, res->identity, res->call_id,
	          res->trunk_id[0] ? res->trunk_id : "none",
	          res->rule_id[0] ? res->rule_id : "default",
	          res->agent_url[0] ? res->agent_url : "default");
}

bool sipua_route_call(struct sipua *ua, struct call *call,
                      const struct sip_msg *msg)
{
	struct invite_keys k;
	struct dispatch_result res;
	struct dispatch_call dc;

	sipua_invite_read(call, msg, &k, &dc);
	dispatch_route(ua->prm.dispatch, &dc, false, sipua_kick_handler, call,
	               &res);
	if (res.outcome == DISPATCH_AUTH) {
		if (!sipua_authorized(ua, msg, &res.auth))
			return false;
		dispatch_route(ua->prm.dispatch, &dc, true, sipua_kick_handler,
		               call, &res);
	}
	if (res.outcome != DISPATCH_JOINED && res.outcome != DISPATCH_PIN) {
		log_event(LOGL_WARN, call->id, "route_rejected",
		          "from=%s to=%s src=%s trunk=%s reason=\"%s\"",
		          k.from_user, k.to_user, k.src,
		          res.trunk_id[0] ? res.trunk_id : "none", res.reason);
		sipua_reply_reject(ua, msg, (uint16_t)res.status, res.reason);
		return false;
	}
	if (res.outcome == DISPATCH_PIN && sipua_pin_refused(ua, call, msg))
		return false;
	snprintf(call->scl_id, sizeof(call->scl_id), "%s", res.call_id);
	snprintf(call->trunk_id, sizeof(call->trunk_id), "%s", res.trunk_id);
	snprintf(call->headers, sizeof(call->headers), "%s", res.headers);
	call->srtp.policy = res.encryption;
	call->rec = (struct dispatch_record){
	    .sip_call_id = call->id,
	    .from = call->from,
	    .to = call->to,
	    .room = call->room,
	    .identity = call->identity,
	    .trunk_id = call->trunk_id,
	    .rule_id = call->rule_id,
	    .status = "ringing",
	    .ringing_at = (long long)time(NULL),
	};
	if (res.outcome == DISPATCH_PIN) {
		call->pin = PIN_COLLECTING;
		call->invite = mem_ref((void *)msg);
		log_event(LOGL_INFO, call->id, "pin_requested",
		          "call=%s trunk=%s", res.call_id,
		          res.trunk_id[0] ? res.trunk_id : "none");
	} else {
		sipua_adopt_route(call, &res);
	}
	sipua_call_record(call);
	return true;
}

void sipua_route_refused(struct call *call)
{
	struct room *room;

	if (!call->participant)
		return;
	room = participant_room(call->participant);
	participant_leave(call->participant, "JOIN_FAILURE");
	call->participant = NULL;
	/* Left empty, such a room would wait out its departure_timeout, and
	 * the store would keep it open that long for every INVITE from
	 * anyone: it held the refused caller and nobody else. */
	if (call->room_made && !room_participant_next(room, NULL))
		room_delete(room);
}
