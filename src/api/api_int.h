/*
 * Inside the HTTP API, shared by its files and by nothing else: api.c (the
 * server, routing, auth and the Twirp dispatch table), api_json.c (replies,
 * key names, request helpers), api_rooms.c (RoomService), api_sip.c (SIP
 * trunks and dispatch rules; their updates in api_sip_update.c,
 * CreateSIPParticipant in api_sip_dial.c) and api_admin.c (/api/admin/...).
 */
#ifndef VOXGATE_API_API_INT_H
#define VOXGATE_API_API_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "core/libre.h"
#include "api/api.h"
#include "store/store.h"

struct api {
	struct api_params prm;
	struct http_sock *sock;
	bool ready;
	bool draining;
	api_changed_h *changedh;
	void *arg;
	struct sipua *sipua;    /* borrowed; NULL until api_set_sipua */
	struct list dials;      /* CreateSIPParticipant requests waiting */
	struct list dialq;      /* CreateSIPParticipant requests yet to dial */
	struct mqueue *dial_mq; /* a message per turn that places the next */
	bool dial_turn;         /* a message is on its way */
	unsigned dial_yields;   /* turns left to the SIP answers in a row */
	struct list xfers;      /* TransferSIPParticipant requests waiting */
};

enum grant {
	GRANT_ROOM_CREATE,
	GRANT_ROOM_LIST,
	GRANT_ROOM_ADMIN,
	GRANT_SIP_ADMIN,
	GRANT_SIP_CALL,            /* sip.call */
	GRANT_SIP_CALL_ROOM_ADMIN, /* sip.call and roomAdmin of roomName */
};

/* One request on its way through a handler. */
struct call_ctx {
	struct api *api;
	struct http_conn *conn;
	const struct token_claims *claims;
	json_t *req;
	enum store_trunk_kind kind; /* for trunk methods: the route's */
};

typedef void(handler_h)(struct call_ctx *c);

/* Twirp's JSON writes every field (EmitUnpopulated); stored objects keep
 * only what was set, so replies fill in the zero values. */
struct field {
	const char *name;
	char type;        /* s string, a list, m map, b bool, n null, e enum */
	const char *zero; /* the enum's zero name */
};

/* ---- api.c ------------------------------------------------------------ */

/* Tells SIP routing that trunks or rules changed. */
void api_changed(struct call_ctx *c);

/* ---- api_json.c: replies, key names, request helpers ------------------ */

/* A Twirp error: {code, msg} with the code's HTTP status. */
void api_twirp_error(struct http_conn *conn, const char *code, const char *msg);
/* The Twirp code LiveKit gives a SIP failure status: 486/600
 * resource_exhausted, 404/604 not_found, 401/403/407/603
 * permission_denied, 408/480 deadline_exceeded, 487 canceled, 5xx
 * failed_precondition, other codes unavailable. */
const char *api_sip_twirp_code(uint16_t scode);
/* A SIP failure as LiveKit reports it: code from scode (unless code is
 * set), msg "<scode> <reason>" (prefix and ": " before it when set) and
 * meta {sip_status_code, sip_status}. */
void api_twirp_sip_error(struct http_conn *conn, const char *code,
                         const char *prefix, uint16_t scode,
                         const char *reason);
/* 200 with camel (stolen) in snake_case, on a connection held for a reply
 * that comes later (mem_ref'd by the one who waits). A client that went
 * away meanwhile makes the reply a no-op. */
void api_reply_conn(struct http_conn *conn, json_t *camel);
void api_plain(struct http_conn *conn, uint16_t status, const char *reason,
               const char *text);
/* 200 with camel (stolen) in snake_case. */
void api_reply_ok(struct call_ctx *c, json_t *camel);
json_t *api_rename_keys(const json_t *v, bool to_snake);
/* obj's string at key, "" when absent or not a string. */
const char *api_obj_str(const json_t *obj, const char *key);
const char *api_req_str(const struct call_ctx *c, const char *key);
/* strings: the request's fields that must be strings, NULL-terminated.
 * false with a malformed reply sent. */
bool api_check_types(struct call_ctx *c, const char *const *strings);
/* obj's key absent, null or a list of strings; false with a malformed
 * reply sent. */
bool api_string_list(struct call_ctx *c, const json_t *obj, const char *key);
/* Sets updatedAt (and createdAt when create) to now. */
void api_stamp(json_t *obj, bool create);
/* Logs err and replies internal. */
void api_store_failed(struct call_ctx *c, int err);

/* ---- api_rooms.c: RoomService ----------------------------------------- */

void api_create_room(struct call_ctx *c);
void api_list_rooms(struct call_ctx *c);
void api_delete_room(struct call_ctx *c);
void api_list_participants(struct call_ctx *c);
void api_get_participant(struct call_ctx *c);
void api_remove_participant(struct call_ctx *c);
void api_update_room_metadata(struct call_ctx *c);
void api_update_participant(struct call_ctx *c);
void api_mute_published_track(struct call_ctx *c);

/* ---- api_sip.c: SIP trunks and dispatch rules ------------------------- */

#define API_MISSING_TRUNK "requested sip trunk does not exist"
#define API_MISSING_RULE  "requested sip dispatch rule does not exist"

extern const struct field api_rule_fields[];
const struct field *api_trunk_fields(enum store_trunk_kind kind);
/* obj with every field of f it lacks set to its zero value. */
json_t *api_with_zero_fields(json_t *obj, const struct field *f);
/* Checks rule against the stored ones and stores it under id; 0, or an
 * error with the reply sent. */
int api_save_rule(struct call_ctx *c, json_t *rule, const char *id,
                  bool create);
/* True when a lookup by id found its object; otherwise the reply is sent:
 * not_found with what is missing, or the store's failure. */
bool api_sip_found(struct call_ctx *c, int err, const char *missing);
/* The request's trunk, of the route's kind; NULL with a reply sent. */
json_t *api_sip_load_trunk(struct call_ctx *c);
/* Why a trunk's headers cannot go into its calls' messages, or NULL. */
const char *api_sip_headers_why(const json_t *trunk);
/* mediaEncryption checked and kept as its name; false with
 * invalid_argument sent. */
bool api_sip_encryption_ok(struct call_ctx *c, json_t *obj);
/* s is one of list's strings. */
bool api_sip_in_list(const json_t *list, const char *s);
/* A rule's lists and its rule checked; false with the reply sent. */
bool api_sip_rule_valid(struct call_ctx *c, json_t *rule);

void api_create_trunk(struct call_ctx *c);
void api_list_trunks(struct call_ctx *c);
void api_get_trunk(struct call_ctx *c);
void api_delete_trunk(struct call_ctx *c);
void api_create_rule(struct call_ctx *c);
void api_list_rules(struct call_ctx *c);
void api_delete_rule(struct call_ctx *c);

/* ---- api_sip_update.c: their Update requests --------------------------- */

void api_update_trunk(struct call_ctx *c);
void api_update_rule(struct call_ctx *c);

/* ---- api_sip_dial.c: CreateSIPParticipant ------------------------------ */

/* Dials out (sip/sipua_dial.h sipua_dial), one call at a time between
 * the loop's reads of its sockets. */
void api_create_participant(struct call_ctx *c);
/* Forgets the requests still waiting to dial or for a call's outcome
 * (shutdown). */
void api_dials_forget(struct api *api);

/* ---- api_transfer.c: TransferSIPParticipant ---------------------------- */

void api_transfer_participant(struct call_ctx *c);
/* The api goes: the transfers waiting are forgotten by the SIP edge and
 * answered unavailable. */
void api_transfer_reset(struct api *api);

/* ---- api_agents.c: AgentDispatchService -------------------------------- */

void api_create_dispatch(struct call_ctx *c);
void api_list_dispatch(struct call_ctx *c);
void api_delete_dispatch(struct call_ctx *c);

/* ---- api_admin.c ------------------------------------------------------ */

/* A request to /api/admin/...: the admin token, then the endpoint. */
void api_handle_admin(struct api *api, struct http_conn *conn,
                      const struct http_msg *msg);

#endif
