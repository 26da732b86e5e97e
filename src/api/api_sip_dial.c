/*
 * CreateSIPParticipant: an outbound call through the SIP edge
 * (sip/sipua_dial.h), answered once the INVITE has gone, or with
 * wait_until_answered once the call's outcome is known.
 */
#include <errno.h>
#include <string.h>
#include "api/api_int.h"
#include "core/log.h"
#include "sip/outbound.h"
#include "sip/sipua_dial.h"

/* A request waiting for its call's outcome (wait_until_answered). It
 * holds the connection: a client that left makes the reply a no-op. */
struct dial_wait {
	struct le le;
	struct http_conn *conn;
	struct sipua_dial_info info;
};

static void dial_wait_destructor(void *arg)
{
	struct dial_wait *w = arg;

	list_unlink(&w->le);
	mem_deref(w->conn);
}

static json_t *dial_reply(const struct sipua_dial_info *info)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "participantId",
	                 info->participant_id, "participantIdentity",
	                 info->identity, "roomName", info->room, "sipCallId",
	                 info->sip_call_id);
}

static void dial_done(int err, uint16_t scode, const char *reason, void *arg)
{
	struct dial_wait *w = arg;

	if (!err && scode < 300)
		api_reply_conn(w->conn, dial_reply(&w->info));
	else if (!err)
		api_twirp_sip_error(w->conn, NULL, NULL, scode, reason);
	else if (err == EPROTO)
		api_twirp_sip_error(w->conn, "failed_precondition", NULL,
		                    scode ? scode : 488, reason);
	else if (err == ENOSYS)
		api_twirp_sip_error(w->conn, "permission_denied", NULL, scode,
		                    reason);
	else
		api_twirp_error(w->conn,
		                err == ETIMEDOUT   ? "deadline_exceeded"
		                : err == ECANCELED ? "canceled"
		                                   : "unavailable",
		                reason);
	mem_deref(w);
}

void api_dials_forget(struct api *api)
{
	struct le *le = list_head(&api->dials);

	while (le) {
		struct dial_wait *w = le->data;

		le = le->next;
		sipua_dial_forget(api->sipua, w);
		mem_deref(w);
	}
}

static void dial_refused(struct call_ctx *c, int err, const char *why)
{
	const char *code;

	switch (err) {
	case EBADMSG:
		code = "malformed";
		break;
	case EINVAL:
		code = "invalid_argument";
		break;
	case EPROTONOSUPPORT:
		code = "failed_precondition";
		break;
	case EEXIST:
		code = "already_exists";
		break;
	case EMLINK:
		code = "resource_exhausted";
		break;
	default:
		code = "unavailable";
		break;
	}
	log_event(LOGL_WARN, NULL, "create_participant_refused",
	          "code=%s reason=\"%s\"", code, why ? why : strerror(err));
	api_twirp_error(c->conn, code, why ? why : strerror(err));
}

void api_create_participant(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipTrunkId");
	struct outbound_call oc;
	struct sipua_dial_info info;
	struct dial_wait *w = NULL;
	enum store_trunk_kind kind;
	json_t *trunk = NULL;
	const char *why = NULL;
	int err;

	if (!c->api->sipua) {
		api_twirp_error(c->conn, "unavailable",
		                "the SIP edge is not running");
		return;
	}
	if (*id || !json_is_object(json_object_get(c->req, "trunk"))) {
		err =
		    *id ? store_trunk_get(c->api->prm.store, id, &kind, &trunk)
		        : ENOENT;
		if (!err && kind != STORE_TRUNK_OUTBOUND) {
			json_decref(trunk);
			err = ENOENT;
		}
		if (!api_sip_found(c, err, API_MISSING_TRUNK))
			return;
	}
	err = outbound_parse(c->req, trunk, sipua_from_host(c->api->sipua), 0,
	                     &oc, &why);
	json_decref(trunk);
	if (err) {
		dial_refused(c, err, why);
		return;
	}
	if (oc.wait_answer) {
		w = mem_zalloc(sizeof(*w), dial_wait_destructor);
		if (!w) {
			outbound_reset(&oc);
			api_twirp_error(c->conn, "internal", "out of memory");
			return;
		}
	}
	err = sipua_dial(c->api->sipua, &oc, w ? dial_done : NULL, w, &info,
	                 &why);
	outbound_reset(&oc);
	if (err) {
		mem_deref(w);
		dial_refused(c, err, why);
		return;
	}
	if (!w) {
		/* LiveKit answers once the INVITE has gone. */
		api_reply_ok(c, dial_reply(&info));
		return;
	}
	w->conn = mem_ref(c->conn);
	w->info = info;
	list_append(&c->api->dials, &w->le, w);
}
