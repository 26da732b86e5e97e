/*
 * DESIGN. One table maps "<service>/<method>" to a handler and the grant it
 * needs. A request is checked in LiveKit's order: route and content type
 * (bad_route), token (401 plain text when present but invalid), body size
 * and JSON (malformed), grant (unauthenticated "permissions denied"), then
 * the handler. Request keys are accepted in camelCase or snake_case and
 * turned to camelCase; replies are snake_case, as LiveKit's Twirp server
 * writes them. Map fields (attributes, headers) keep their keys as given.
 *
 * This file is the server: routing, auth, the table. The handlers are in
 * api_rooms.c, api_sip.c and api_agents.c, /api/admin in api_admin.c, the JSON in and
 * out in api_json.c; api_int.h is what they share.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "api/api_int.h"
#include "core/libre.h"
#include "carrier/front.h"
#include "mstream/stream.h"
#include "rtc/rtc.h"
#include "core/log.h"

/* Below libre's own 512 KiB buffer, past which it drops the connection
 * without a reply: bodies in between get a Twirp error. */
#define MAX_BODY_DEFAULT (256u << 10)

/* As LiveKit's EnsureAdminPermission: roomAdmin holds for the token's own
 * room only; a token without a room administers none. */
static bool room_admin(const struct call_ctx *c, const char *room)
{
	const struct token_grants *g = &c->claims->grants;

	return g->room_admin && !strcmp(g->room, room);
}

static bool permitted(const struct call_ctx *c, enum grant g)
{
	const struct token_grants *gr = &c->claims->grants;

	switch (g) {
	case GRANT_ROOM_CREATE:
		return gr->room_create;
	case GRANT_ROOM_LIST:
		return gr->room_list;
	case GRANT_ROOM_ADMIN:
		return room_admin(c, api_req_str(c, "room"));
	case GRANT_SIP_ADMIN:
		return gr->sip_admin;
	case GRANT_SIP_CALL:
		return gr->sip_call;
	case GRANT_SIP_CALL_ROOM_ADMIN:
		return gr->sip_call &&
		       room_admin(c, api_req_str(c, "roomName"));
	}
	return false;
}

/* ---- dispatch --------------------------------------------------------- */

static const struct route {
	const char *path;
	enum grant grant;
	handler_h *h;
	enum store_trunk_kind kind;
} routes[] = {
    {"livekit.RoomService/CreateRoom", GRANT_ROOM_CREATE, api_create_room},
    {"livekit.RoomService/ListRooms", GRANT_ROOM_LIST, api_list_rooms},
    {"livekit.RoomService/DeleteRoom", GRANT_ROOM_CREATE, api_delete_room},
    {"livekit.RoomService/ListParticipants", GRANT_ROOM_ADMIN,
     api_list_participants},
    {"livekit.RoomService/GetParticipant", GRANT_ROOM_ADMIN,
     api_get_participant},
    {"livekit.RoomService/RemoveParticipant", GRANT_ROOM_ADMIN,
     api_remove_participant},
    {"livekit.RoomService/UpdateRoomMetadata", GRANT_ROOM_ADMIN,
     api_update_room_metadata},
    {"livekit.RoomService/UpdateParticipant", GRANT_ROOM_ADMIN,
     api_update_participant},
    {"livekit.RoomService/MutePublishedTrack", GRANT_ROOM_ADMIN,
     api_mute_published_track},
    {"livekit.SIP/CreateSIPInboundTrunk", GRANT_SIP_ADMIN, api_create_trunk,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/ListSIPInboundTrunk", GRANT_SIP_ADMIN, api_list_trunks,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/CreateSIPOutboundTrunk", GRANT_SIP_ADMIN, api_create_trunk,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/ListSIPOutboundTrunk", GRANT_SIP_ADMIN, api_list_trunks,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/UpdateSIPInboundTrunk", GRANT_SIP_ADMIN, api_update_trunk,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/UpdateSIPOutboundTrunk", GRANT_SIP_ADMIN, api_update_trunk,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/GetSIPInboundTrunk", GRANT_SIP_ADMIN, api_get_trunk,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/GetSIPOutboundTrunk", GRANT_SIP_ADMIN, api_get_trunk,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/DeleteSIPTrunk", GRANT_SIP_ADMIN, api_delete_trunk},
    {"livekit.SIP/CreateSIPDispatchRule", GRANT_SIP_ADMIN, api_create_rule},
    {"livekit.SIP/ListSIPDispatchRule", GRANT_SIP_ADMIN, api_list_rules},
    {"livekit.SIP/UpdateSIPDispatchRule", GRANT_SIP_ADMIN, api_update_rule},
    {"livekit.SIP/DeleteSIPDispatchRule", GRANT_SIP_ADMIN, api_delete_rule},
    {"livekit.SIP/CreateSIPParticipant", GRANT_SIP_CALL,
     api_create_participant},
    {"livekit.SIP/TransferSIPParticipant", GRANT_SIP_CALL_ROOM_ADMIN,
     api_transfer_participant},
    {"livekit.AgentDispatchService/CreateDispatch", GRANT_ROOM_ADMIN,
     api_create_dispatch},
    {"livekit.AgentDispatchService/ListDispatch", GRANT_ROOM_ADMIN,
     api_list_dispatch},
    {"livekit.AgentDispatchService/DeleteDispatch", GRANT_ROOM_ADMIN,
     api_delete_dispatch},
};

static const struct route *find_route(const struct pl *path)
{
	static const char prefix[] = "/twirp/";
	struct pl rest;

	if (path->l <= sizeof(prefix) - 1 ||
	    memcmp(path->p, prefix, sizeof(prefix) - 1))
		return NULL;
	rest.p = path->p + sizeof(prefix) - 1;
	rest.l = path->l - (sizeof(prefix) - 1);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!pl_strcmp(&rest, routes[i].path))
			return &routes[i];
	}
	return NULL;
}

/* 0 with claims filled; 1 when a reply was sent. No token is not an error:
 * the grant check refuses it later, as LiveKit does. */
static int authenticate(struct api *api, struct http_conn *conn,
                        const struct http_msg *msg, struct token_claims *cl)
{
	const struct http_hdr *h = http_msg_hdr(msg, HTTP_HDR_AUTHORIZATION);
	static const char bearer[] = "Bearer ";
	char *jwt = NULL;
	const char *why = NULL;
	int err;

	memset(cl, 0, sizeof(*cl));
	if (!h)
		return 0;
	if (h->val.l < sizeof(bearer) - 1 ||
	    memcmp(h->val.p, bearer, sizeof(bearer) - 1)) {
		api_plain(
		    conn, 401, "Unauthorized",
		    "invalid authorization header. Must start with Bearer ");
		return 1;
	}
	struct pl tok = {h->val.p + sizeof(bearer) - 1,
	                 h->val.l - (sizeof(bearer) - 1)};
	if (pl_strdup(&jwt, &tok)) {
		api_plain(conn, 500, "Internal Server Error", "out of memory");
		return 1;
	}
	err = token_verify(jwt, &api->prm.keys, time(NULL), cl, &why);
	mem_deref(jwt);
	if (err) {
		char text[160];

		snprintf(text, sizeof(text), "could not verify token: %s",
		         why ? why : "invalid token");
		api_plain(conn, 401, "Unauthorized", text);
		return 1;
	}
	return 0;
}

static void handle_twirp(struct api *api, struct http_conn *conn,
                         const struct http_msg *msg)
{
	const struct route *r = find_route(&msg->path);
	struct token_claims claims;
	struct call_ctx c = {.api = api, .conn = conn, .claims = &claims};
	size_t max = api->prm.max_body ? api->prm.max_body : MAX_BODY_DEFAULT;
	json_error_t jerr;
	json_t *req;

	if (!r || pl_strcmp(&msg->met, "POST") ||
	    !msg_ctype_cmp(&msg->ctyp, "application", "json")) {
		char text[256];

		re_snprintf(text, sizeof(text),
		            "%r %r: no handler for this method and path, or "
		            "the content type is not application/json",
		            &msg->met, &msg->path);
		api_twirp_error(conn, "bad_route", text);
		return;
	}
	if (authenticate(api, conn, msg, &claims))
		return;
	if (mbuf_get_left(msg->mb) > max) {
		api_twirp_error(conn, "malformed",
		                "the request body is too large");
		return;
	}
	req = json_loadb((const char *)mbuf_buf(msg->mb),
	                 mbuf_get_left(msg->mb), 0, &jerr);
	if (!mbuf_get_left(msg->mb))
		req = json_object();
	if (!json_is_object(req)) {
		json_decref(req);
		api_twirp_error(conn, "malformed",
		                "the json request could not be decoded");
		return;
	}
	c.req = api_rename_keys(req, false);
	json_decref(req);
	if (!permitted(&c, r->grant)) {
		api_twirp_error(conn, "unauthenticated", "permissions denied");
	} else {
		c.kind = r->kind;
		r->h(&c);
	}
	json_decref(c.req);
}

void api_twirp(struct api *api, struct http_conn *conn,
               const struct http_msg *msg)
{
	handle_twirp(api, conn, msg);
}

static void handle_metrics(struct api *api, struct http_conn *conn)
{
	struct mbuf *mb = mbuf_alloc(4096);
	int err = mb ? api->prm.metricsh(mb, api->prm.harg) : ENOMEM;

	if (err) {
		log_event(LOGL_ERROR, NULL, "metrics_failed", "error=\"%s\"",
		          strerror(err));
		api_plain(conn, 500, "Internal Server Error",
		          "the metrics could not be written");
	} else {
		(void)http_creply(conn, 200, "OK",
		                  "text/plain; version=0.0.4; charset=utf-8",
		                  "%b", mb->buf, mb->end);
	}
	mem_deref(mb);
}

static void handle_agent(struct api *api, struct http_conn *conn,
                         const struct http_msg *msg)
{
	struct token_claims claims;

	if (authenticate(api, conn, msg, &claims))
		return;
	if (!claims.grants.agent) {
		api_plain(conn, 401, "Unauthorized",
		          "an agent worker needs a token with the agent grant");
		return;
	}
	api->prm.agenth(conn, msg, claims.api_key, api->prm.harg);
}

static void request_handler(struct http_conn *conn, const struct http_msg *msg,
                            void *arg)
{
	struct api *api = arg;

	if (!pl_strcmp(&msg->path, "/metrics") && api->prm.metricsh &&
	    !pl_strcmp(&msg->met, "GET")) {
		handle_metrics(api, conn);
		return;
	}
	if (!pl_strcmp(&msg->path, "/agent") && api->prm.agenth &&
	    !pl_strcmp(&msg->met, "GET")) {
		handle_agent(api, conn, msg);
		return;
	}

	if (carrier_http(api->prm.carrier, conn, msg) ||
	    stream_http(api->prm.streams, conn, msg) ||
	    rtc_http(api->prm.rtc, conn, msg))
		return;
	if (msg->path.l >= 11 && !memcmp(msg->path.p, "/api/admin/", 11)) {
		api_handle_admin(api, conn, msg);
		return;
	}
	if (!pl_strcmp(&msg->path, "/healthz") || !pl_strcmp(&msg->path, "/")) {
		if (api->draining)
			api_plain(conn, 503, "Service Unavailable", "draining");
		else if (api->ready)
			api_plain(conn, 200, "OK", "OK");
		else
			api_plain(conn, 503, "Service Unavailable", "starting");
		return;
	}
	handle_twirp(api, conn, msg);
}

static void api_destructor(void *arg)
{
	struct api *api = arg;

	api_dials_forget(api);
	api_transfer_reset(api);
	mem_deref(api->sock);
}

int api_alloc(struct api **ap, const struct api_params *prm,
              api_changed_h *changedh, void *arg)
{
	struct api *api;
	struct sa laddr;
	int err;

	if (!ap || !prm || !prm->host || !prm->rooms || !prm->store)
		return EINVAL;
	api = mem_zalloc(sizeof(*api), api_destructor);
	if (!api)
		return ENOMEM;
	api->prm = *prm;
	api->changedh = changedh;
	api->arg = arg;
	err = sa_set_str(&laddr, prm->host, prm->port);
	if (!err)
		err = http_listen(&api->sock, &laddr, request_handler, api);
	if (err)
		mem_deref(api);
	else
		*ap = api;
	return err;
}

void api_set_ready(struct api *api, bool ready)
{
	if (api)
		api->ready = ready;
}

void api_set_draining(struct api *api)
{
	if (api)
		api->draining = true;
}

void api_set_sipua(struct api *api, struct sipua *sipua)
{
	if (api)
		api->sipua = sipua;
}

void api_changed(struct call_ctx *c)
{
	if (c->api->changedh)
		c->api->changedh(c->api->arg);
}
