/*
 * CreateSIPParticipant: the request checked (its trunk, sip/outbound.c),
 * queued, and dialed (sip/sipua_dial.c) one by one between the loop's
 * reads of its sockets; a request with wait_until_answered is answered
 * with the call's outcome, holding its connection until then.
 */
#include <errno.h>
#include <string.h>
#include "api/api_int.h"
#include <re_mqueue.h>
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

static void dial_refused(struct http_conn *conn, int err, const char *why)
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
	api_twirp_error(conn, code, why ? why : strerror(err));
}

/*
 * Requests checked and waiting for their turn to dial. Placing a call
 * costs the signalling thread far more than checking its request (the
 * room, the media session, the SDP, the INVITE: up to a millisecond on a
 * loaded host, most of it libre walking its timer list for the INVITE's
 * T1), and a backend that catches up after a pause sends hundreds at once:
 * placed all in one turn of the loop, they kept the loop from reading the
 * SIP socket for longer than T1 (500 ms), the INVITEs went out again and
 * the callees gave up calls they had answered. libre reads one datagram of
 * a socket per turn, so calls are placed one per turn (a message on an
 * mqueue: its pipe is read once per turn, after no wait), and not while
 * the SIP UDP socket holds answers not read yet, for up to DIAL_YIELDS
 * turns in a row: the answers to the calls placed go before new calls.
 */
#define DIAL_YIELDS 8

struct dial_queued {
	struct le le;
	struct http_conn *conn;
	struct outbound_call oc;
};

static void queued_destructor(void *arg)
{
	struct dial_queued *q = arg;

	list_unlink(&q->le);
	outbound_reset(&q->oc);
	mem_deref(q->conn);
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
	api->dial_mq = mem_deref(api->dial_mq);
	api->dial_turn = false;
	list_flush(&api->dialq);
}

static void dial_place(struct api *api, struct http_conn *conn,
                       const struct outbound_call *oc)
{
	struct sipua_dial_info info;
	struct dial_wait *w = NULL;
	const char *why = NULL;
	int err;

	if (!api->sipua) {
		api_twirp_error(conn, "unavailable",
		                "the SIP edge is not running");
		return;
	}
	if (oc->wait_answer) {
		w = mem_zalloc(sizeof(*w), dial_wait_destructor);
		if (!w) {
			api_twirp_error(conn, "internal", "out of memory");
			return;
		}
	}
	err = sipua_dial(api->sipua, oc, w ? dial_done : NULL, w, &info, &why);
	if (err) {
		mem_deref(w);
		dial_refused(conn, err, why);
		return;
	}
	if (!w) {
		/* LiveKit answers once the INVITE has gone. */
		api_reply_conn(conn, dial_reply(&info));
		return;
	}
	w->conn = mem_ref(conn);
	w->info = info;
	list_append(&api->dials, &w->le, w);
}

static void dial_next(struct api *api)
{
	if (api->dial_turn || list_isempty(&api->dialq))
		return;
	api->dial_turn = !mqueue_push(api->dial_mq, 0, NULL);
	if (!api->dial_turn)
		log_event(LOGL_ERROR, NULL, "dial_queue_stalled", "queued=%u",
		          list_count(&api->dialq));
}

static void dial_turn(int id, void *data, void *arg)
{
	struct api *api = arg;
	struct dial_queued *q = list_ledata(list_head(&api->dialq));

	(void)id;
	(void)data;
	api->dial_turn = false;
	if (!q)
		return;
	if (api->dial_yields < DIAL_YIELDS && sipua_udp_backlog(api->sipua)) {
		api->dial_yields++;
		dial_next(api);
		return;
	}
	api->dial_yields = 0;
	list_unlink(&q->le);
	dial_place(api, q->conn, &q->oc);
	mem_deref(q);
	dial_next(api);
}

void api_create_participant(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipTrunkId");
	struct dial_queued *q;
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
	if (!c->api->dial_mq &&
	    mqueue_alloc(&c->api->dial_mq, dial_turn, c->api)) {
		json_decref(trunk);
		api_twirp_error(c->conn, "internal", "no dial queue");
		return;
	}
	q = mem_zalloc(sizeof(*q), queued_destructor);
	if (!q) {
		json_decref(trunk);
		api_twirp_error(c->conn, "internal", "out of memory");
		return;
	}
	err = outbound_parse(c->req, trunk, sipua_from_host(c->api->sipua), 0,
	                     &q->oc, &why);
	json_decref(trunk);
	if (err) {
		mem_deref(q);
		dial_refused(c->conn, err, why);
		return;
	}
	q->conn = mem_ref(c->conn);
	list_append(&c->api->dialq, &q->le, q);
	dial_next(c->api);
}
