/*
 * TransferSIPParticipant: hands a SIP caller on with a REFER
 * (sip/sipua_refer.c) and answers only once the outcome is known, since
 * LiveKit's clients cannot learn it otherwise (node-sdks#606): success,
 * or the SIP refusal with the code LiveKit gives it. The request waits
 * holding its connection (mem_ref) in the api's list of pending
 * transfers; a client that went away makes the late reply a no-op, and
 * the api going first forgets them on both sides.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api/api_int.h"
#include "core/id.h"
#include "core/libre.h"
#include "sip/outbound.h"
#include "sip/sipua_xfer.h"
#include "sip/sipx.h"
#include "core/log.h"

struct pending_xfer {
	struct le le;
	struct api *api;
	struct http_conn *conn;
	char id[20]; /* STR_..., LiveKit's transfer id */
};

static void pending_destructor(void *arg)
{
	struct pending_xfer *px = arg;

	list_unlink(&px->le);
	mem_deref(px->conn);
}

static void transfer_h(bool final, int err, uint16_t code, const char *reason,
                       void *arg)
{
	struct pending_xfer *px = arg;

	if (!final)
		return;
	if (!err) {
		char status[8];

		snprintf(status, sizeof(status), "%u", code);
		api_reply_conn(px->conn,
		               json_pack("{s:s,s:s,s:s,s:s}", "transferId",
		                         px->id, "status", "completed",
		                         "reason", reason ? reason : "",
		                         "sipStatus", status));
	} else if (code) {
		api_twirp_sip_error(px->conn, NULL, NULL, code, reason);
	} else if (err == ETIMEDOUT) {
		api_twirp_sip_error(px->conn, "deadline_exceeded", NULL, 408,
		                    reason && reason[0] ? reason
		                                        : "Request Timeout");
	} else {
		api_twirp_error(px->conn, "unavailable",
		                reason && reason[0] ? reason
		                                    : "the transfer failed");
	}
	mem_deref(px);
}

static int code_of(int err, const char **code)
{
	switch (err) {
	case ENOENT:
		*code = "not_found";
		break;
	case EINVAL:
		*code = "invalid_argument";
		break;
	case EALREADY:
	case EAGAIN:
		*code = "failed_precondition";
		break;
	default:
		*code = "unavailable";
		break;
	}
	return err;
}

void api_transfer_participant(struct call_ctx *c)
{
	static const char *const strs[] = {"roomName", "participantIdentity",
	                                   "transferTo", NULL};
	const char *room, *identity, *to, *why = NULL, *code;
	char headers[1024];
	struct pending_xfer *px;
	uint32_t ms;
	int err;

	if (!api_check_types(c, strs))
		return;
	room = api_req_str(c, "roomName");
	identity = api_req_str(c, "participantIdentity");
	to = api_req_str(c, "transferTo");
	if (!room[0] || !identity[0]) {
		api_twirp_error(c->conn, "invalid_argument",
		                "room_name and participant_identity are "
		                "required");
		return;
	}
	if (sipx_transfer_to_check(to, &why)) {
		api_twirp_error(c->conn, "invalid_argument", why);
		return;
	}
	if (sipx_headers_format(json_object_get(c->req, "headers"), true,
	                        headers, sizeof(headers), &why)) {
		api_twirp_error(c->conn, "invalid_argument", why);
		return;
	}
	/* As CreateSIPParticipant reads it: longer is the longest. */
	if (outbound_duration_ms(json_object_get(c->req, "ringingTimeout"),
	                         OUTBOUND_RINGING_MAX_MS, &ms)) {
		api_twirp_error(c->conn, "invalid_argument",
		                "ringing_timeout must be a duration (\"30s\") "
		                "of zero or more");
		return;
	}
	if (!c->api->sipua || c->api->draining) {
		api_twirp_error(c->conn, "unavailable",
		                "the SIP service is not available");
		return;
	}
	px = mem_zalloc(sizeof(*px), pending_destructor);
	if (!px) {
		api_twirp_error(c->conn, "internal", "out of memory");
		return;
	}
	px->api = c->api;
	px->conn = mem_ref(c->conn);
	id_make(px->id, sizeof(px->id), "STR_");
	err = sipua_transfer(
	    c->api->sipua, room, identity, to, headers,
	    json_is_true(json_object_get(c->req, "playDialtone")), ms,
	    transfer_h, px, &why);
	if (err) {
		code_of(err, &code);
		api_twirp_error(c->conn, code, why ? why : strerror(err));
		mem_deref(px);
		return;
	}
	list_append(&c->api->xfers, &px->le, px);
	{
		char r[2 * 256], i[2 * 300];

		log_event(LOGL_INFO, NULL, "api_transfer",
		          "id=%s room=\"%s\" identity=\"%s\"", px->id,
		          log_quote(r, sizeof(r), room),
		          log_quote(i, sizeof(i), identity));
	}
}

void api_transfer_reset(struct api *api)
{
	struct le *le;

	while ((le = list_head(&api->xfers))) {
		struct pending_xfer *px = le->data;

		sipua_transfer_forget(api->sipua, px);
		api_twirp_error(px->conn, "unavailable",
		                "the server is shutting down");
		mem_deref(px);
	}
}
