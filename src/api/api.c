/*
 * DESIGN. One table maps "<service>/<method>" to a handler and the grant it
 * needs. A request is checked in LiveKit's order: route and content type
 * (bad_route), token (401 plain text when present but invalid), body size
 * and JSON (malformed), grant (unauthenticated "permissions denied"), then
 * the handler. Request keys are accepted in camelCase or snake_case and
 * turned to camelCase; replies are snake_case, as LiveKit's Twirp server
 * writes them. Map fields (attributes, headers) keep their keys as given.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include "core/libre.h"
#include "api/api.h"
#include "carrier/front.h"
#include "mstream/stream.h"
#include "room/room.h"
#include "store/store.h"
#include "sip/routing.h"
#include "core/id.h"
#include "core/log.h"

/* Below libre's own 512 KiB buffer, past which it drops the connection
 * without a reply: bodies in between get a Twirp error. */
#define MAX_BODY_DEFAULT (256u << 10)

struct api {
	struct api_params prm;
	struct http_sock *sock;
	bool ready;
	bool draining;
	api_changed_h *changedh;
	void *arg;
};

enum grant {
	GRANT_ROOM_CREATE,
	GRANT_ROOM_LIST,
	GRANT_ROOM_ADMIN,
	GRANT_SIP_ADMIN,
};

struct call_ctx {
	struct api *api;
	struct http_conn *conn;
	const struct token_claims *claims;
	json_t *req;
	enum store_trunk_kind kind; /* for trunk methods: the route's */
};

typedef void(handler_h)(struct call_ctx *c);

/* ---- replies ---------------------------------------------------------- */

static uint16_t twirp_status(const char *code)
{
	static const struct {
		const char *code;
		uint16_t status;
	} map[] = {
	    {"invalid_argument", 400},
	    {"malformed", 400},
	    {"out_of_range", 400},
	    {"unauthenticated", 401},
	    {"permission_denied", 403},
	    {"not_found", 404},
	    {"bad_route", 404},
	    {"canceled", 408},
	    {"deadline_exceeded", 408},
	    {"already_exists", 409},
	    {"aborted", 409},
	    {"failed_precondition", 412},
	    {"resource_exhausted", 429},
	    {"unimplemented", 501},
	    {"unavailable", 503},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(map[i].code, code))
			return map[i].status;
	}
	return 500;
}

static void reply_json(struct http_conn *conn, uint16_t status,
                       const char *reason, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	(void)http_creply(conn, status, reason, "application/json", "%s",
	                  text ? text : "{}");
	free(text);
	json_decref(body);
}

static void twirp_error(struct http_conn *conn, const char *code,
                        const char *msg)
{
	reply_json(conn, twirp_status(code), "Error",
	           json_pack("{s:s,s:s}", "code", code, "msg", msg));
}

static void plain(struct http_conn *conn, uint16_t status, const char *reason,
                  const char *text)
{
	(void)http_creply(conn, status, reason, "text/plain", "%s", text);
}

/* ---- key names -------------------------------------------------------- */

static bool is_map_field(const char *key)
{
	static const char *const maps[] = {
	    "attributes",
	    "headers",
	    "headersToAttributes",
	    "attributesToHeaders",
	    "headers_to_attributes",
	    "attributes_to_headers",
	    "participantAttributes",
	    "participant_attributes",
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		if (!strcmp(maps[i], key))
			return true;
	}
	return false;
}

static void key_to_camel(const char *in, char *out, size_t sz)
{
	size_t o = 0;
	bool up = false;

	for (; *in && o + 1 < sz; in++) {
		if (*in == '_') {
			up = true;
			continue;
		}
		out[o++] = up ? (char)toupper((unsigned char)*in) : *in;
		up = false;
	}
	out[o] = '\0';
}

static void key_to_snake(const char *in, char *out, size_t sz)
{
	size_t o = 0;

	for (; *in && o + 2 < sz; in++) {
		if (isupper((unsigned char)*in)) {
			out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)*in);
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* A copy of v with object keys renamed (not inside map fields). */
static json_t *rename_keys(const json_t *v, bool to_snake)
{
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *x;

		json_object_foreach((json_t *)v, k, x)
		{
			char name[128];

			if (to_snake)
				key_to_snake(k, name, sizeof(name));
			else
				key_to_camel(k, name, sizeof(name));
			json_object_set_new(o, name,
			                    is_map_field(k)
			                        ? json_deep_copy(x)
			                        : rename_keys(x, to_snake));
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *x;

		json_array_foreach(v, i, x)
		    json_array_append_new(a, rename_keys(x, to_snake));
		return a;
	}
	return json_deep_copy(v);
}

static void reply_ok(struct call_ctx *c, json_t *camel)
{
	json_t *snake = rename_keys(camel, true);

	json_decref(camel);
	reply_json(c->conn, 200, "OK", snake);
}

/* ---- request helpers -------------------------------------------------- */

static const char *obj_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static const char *req_str(const struct call_ctx *c, const char *key)
{
	return obj_str(c->req, key);
}

/* protobuf-JSON fields of the wrong type fail the decode: malformed. */
static bool check_types(struct call_ctx *c, const char *const *strings)
{
	for (; *strings; strings++) {
		json_t *v = json_object_get(c->req, *strings);

		if (v && !json_is_string(v) && !json_is_null(v)) {
			char msg[160];

			snprintf(msg, sizeof(msg),
			         "the json request could not be decoded: "
			         "field %s must be a string",
			         *strings);
			twirp_error(c->conn, "malformed", msg);
			return false;
		}
	}
	return true;
}

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
		return room_admin(c, req_str(c, "room"));
	case GRANT_SIP_ADMIN:
		return gr->sip_admin;
	}
	return false;
}

static struct room *need_room(struct call_ctx *c)
{
	struct room *room = room_find(c->api->prm.rooms, req_str(c, "room"));

	if (!room)
		twirp_error(c->conn, "not_found",
		            "requested room does not exist");
	return room;
}

/* ---- RoomService ------------------------------------------------------ */

static void create_room(struct call_ctx *c)
{
	static const char *const strs[] = {"name", "metadata", "nodeId", NULL};
	struct room *room;
	int err;

	if (!check_types(c, strs))
		return;
	if (!*req_str(c, "name")) {
		twirp_error(c->conn, "invalid_argument", "name is required");
		return;
	}
	err = room_open(c->api->prm.rooms, req_str(c, "name"), c->req, &room,
	                NULL);
	if (err) {
		twirp_error(c->conn, "invalid_argument", "invalid room name");
		return;
	}
	reply_ok(c, room_json(room, false));
}

static void list_rooms(struct call_ctx *c)
{
	json_t *names = json_object_get(c->req, "names");

	if (names && !json_is_array(names)) {
		twirp_error(c->conn, "malformed",
		            "the json request could not be decoded");
		return;
	}
	reply_ok(c,
	         json_pack("{s:o}", "rooms",
	                   rooms_list_json(c->api->prm.rooms, names, false)));
}

static void delete_room(struct call_ctx *c)
{
	struct room *room = need_room(c);

	if (!room)
		return;
	room_delete(room);
	reply_ok(c, json_object());
}

static void list_participants(struct call_ctx *c)
{
	struct room *room = need_room(c);

	if (room)
		reply_ok(c, json_pack("{s:o}", "participants",
		                      room_participants_json(room, false)));
}

static struct participant *need_participant(struct call_ctx *c)
{
	struct room *room = need_room(c);
	struct participant *p;

	if (!room)
		return NULL;
	p = participant_find(room, req_str(c, "identity"));
	if (!p)
		twirp_error(c->conn, "not_found", "participant does not exist");
	return p;
}

static void get_participant(struct call_ctx *c)
{
	struct participant *p = need_participant(c);

	if (p)
		reply_ok(c, participant_json(p, false));
}

static void remove_participant(struct call_ctx *c)
{
	struct participant *p = need_participant(c);

	if (!p)
		return;
	participant_kick(p, "PARTICIPANT_REMOVED");
	reply_ok(c, json_object());
}

static void update_room_metadata(struct call_ctx *c)
{
	static const char *const strs[] = {"room", "metadata", NULL};
	struct room *room;

	if (!check_types(c, strs))
		return;
	room = need_room(c);
	if (!room)
		return;
	if (room_set_metadata(room, req_str(c, "metadata"))) {
		twirp_error(c->conn, "internal", "out of memory");
		return;
	}
	reply_ok(c, room_json(room, false));
}

/* ---- SIP -------------------------------------------------------------- */

static void store_failed(struct call_ctx *c, int err)
{
	log_event(LOGL_ERROR, NULL, "store_failed", "error=\"%s\"",
	          strerror(err));
	twirp_error(c->conn, "internal", "the store could not be written");
}

static void changed(struct call_ctx *c)
{
	if (c->api->changedh)
		c->api->changedh(c->api->arg);
}

/* google.protobuf.Timestamp in protobuf-JSON is an RFC 3339 string. */
static void stamp(json_t *obj, bool create)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (create)
		json_object_set_new(obj, "createdAt", json_string(buf));
	json_object_set_new(obj, "updatedAt", json_string(buf));
}

static bool string_list(struct call_ctx *c, const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	size_t i;
	json_t *x;

	if (!v || json_is_null(v))
		return true;
	if (!json_is_array(v))
		goto bad;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x))
			goto bad;
	}
	return true;
bad:
	twirp_error(c->conn, "malformed",
	            "the json request could not be decoded");
	return false;
}

/* Twirp's JSON writes every field (EmitUnpopulated); stored objects keep
 * only what was set, so replies fill in the zero values. */
struct field {
	const char *name;
	char type;        /* s string, a list, m map, b bool, n null, e enum */
	const char *zero; /* the enum's zero name */
};

static const struct field inbound_fields[] = {
    {"sipTrunkId", 's'},
    {"name", 's'},
    {"metadata", 's'},
    {"numbers", 'a'},
    {"allowedAddresses", 'a'},
    {"allowedNumbers", 'a'},
    {"authUsername", 's'},
    {"authPassword", 's'},
    {"headers", 'm'},
    {"headersToAttributes", 'm'},
    {"attributesToHeaders", 'm'},
    {"includeHeaders", 'e', "SIP_NO_HEADERS"},
    {"ringingTimeout", 'n'},
    {"maxCallDuration", 'n'},
    {"krispEnabled", 'b'},
    {"mediaEncryption", 'e', "SIP_MEDIA_ENCRYPT_DISABLE"},
    {"createdAt", 'n'},
    {"updatedAt", 'n'},
    {NULL, 0, NULL}};

static const struct field outbound_fields[] = {
    {"sipTrunkId", 's'},
    {"name", 's'},
    {"metadata", 's'},
    {"address", 's'},
    {"destinationCountry", 's'},
    {"transport", 'e', "SIP_TRANSPORT_AUTO"},
    {"numbers", 'a'},
    {"authUsername", 's'},
    {"authPassword", 's'},
    {"headers", 'm'},
    {"headersToAttributes", 'm'},
    {"attributesToHeaders", 'm'},
    {"includeHeaders", 'e', "SIP_NO_HEADERS"},
    {"mediaEncryption", 'e', "SIP_MEDIA_ENCRYPT_DISABLE"},
    {"fromHost", 's'},
    {"createdAt", 'n'},
    {"updatedAt", 'n'},
    {NULL, 0, NULL}};

static const struct field rule_fields[] = {
    {"sipDispatchRuleId", 's'},
    {"rule", 'n'},
    {"trunkIds", 'a'},
    {"hidePhoneNumber", 'b'},
    {"inboundNumbers", 'a'},
    {"numbers", 'a'},
    {"name", 's'},
    {"metadata", 's'},
    {"attributes", 'm'},
    {"roomPreset", 's'},
    {"roomConfig", 'n'},
    {"krispEnabled", 'b'},
    {"mediaEncryption", 'e', "SIP_MEDIA_ENCRYPT_DISABLE"},
    {"createdAt", 'n'},
    {"updatedAt", 'n'},
    {NULL, 0, NULL}};

static const struct field *trunk_fields(enum store_trunk_kind kind)
{
	return kind == STORE_TRUNK_INBOUND ? inbound_fields : outbound_fields;
}

static json_t *with_zero_fields(json_t *obj, const struct field *f)
{
	for (; f->name; f++) {
		json_t *zero;

		if (json_object_get(obj, f->name))
			continue;
		switch (f->type) {
		case 's':
			zero = json_string("");
			break;
		case 'a':
			zero = json_array();
			break;
		case 'm':
			zero = json_object();
			break;
		case 'b':
			zero = json_false();
			break;
		case 'e':
			zero = json_string(f->zero);
			break;
		default:
			zero = json_null();
			break;
		}
		json_object_set_new(obj, f->name, zero);
	}
	return obj;
}

static json_t *all_with_zero_fields(json_t *items, const struct field *f)
{
	size_t i;
	json_t *x;

	json_array_foreach(items, i, x) with_zero_fields(x, f);
	return items;
}

/* LiveKit's SIPOutboundTrunkInfo.Validate: a host, not a SIP URI. */
static bool outbound_address_ok(const char *a)
{
	return *a && strncmp(a, "sip:", 4) && strncmp(a, "sips:", 5) &&
	       !strchr(a, '@') && !strchr(a, ';') && !strstr(a, "transport=");
}

static void create_trunk(struct call_ctx *c)
{
	bool inbound = c->kind == STORE_TRUNK_INBOUND;
	json_t *trunk = json_object_get(c->req, "trunk");
	json_t *existing = NULL;
	const char *why = NULL;
	char id[16];
	int err;

	if (!json_is_object(trunk)) {
		twirp_error(c->conn, "invalid_argument", "trunk is required");
		return;
	}
	if (!string_list(c, trunk, "numbers") ||
	    !string_list(c, trunk, "allowedAddresses") ||
	    !string_list(c, trunk, "allowedNumbers"))
		return;
	if (*obj_str(trunk, "sipTrunkId")) {
		twirp_error(c->conn, "invalid_argument",
		            "trunk ID must be empty");
		return;
	}
	trunk = json_deep_copy(trunk);
	if (inbound) {
		err = store_trunk_list(c->api->prm.store, STORE_TRUNK_INBOUND,
		                       &existing);
		if (err) {
			json_decref(trunk);
			store_failed(c, err);
			return;
		}
		err = routing_check_inbound_trunk(existing, trunk, &why);
		json_decref(existing);
		if (err) {
			json_decref(trunk);
			twirp_error(c->conn, "invalid_argument", why);
			return;
		}
	} else if (!json_array_size(json_object_get(trunk, "numbers")) ||
	           !*obj_str(trunk, "address")) {
		json_decref(trunk);
		twirp_error(c->conn, "invalid_argument",
		            "address and numbers are required");
		return;
	} else if (!outbound_address_ok(obj_str(trunk, "address"))) {
		json_decref(trunk);
		twirp_error(c->conn, "invalid_argument",
		            "trunk address should be a hostname or IP, not SIP "
		            "URI");
		return;
	}
	id_make(id, sizeof(id), "ST_");
	json_object_set_new(trunk, "sipTrunkId", json_string(id));
	stamp(trunk, true);
	err = store_trunk_put(
	    c->api->prm.store, id,
	    inbound ? STORE_TRUNK_INBOUND : STORE_TRUNK_OUTBOUND, trunk);
	if (err) {
		json_decref(trunk);
		store_failed(c, err);
		return;
	}
	log_event(LOGL_INFO, NULL, "trunk_created", "id=%s kind=%s", id,
	          inbound ? "inbound" : "outbound");
	changed(c);
	reply_ok(c, with_zero_fields(trunk, trunk_fields(c->kind)));
}

static bool in_list(const json_t *list, const char *s)
{
	size_t i;
	json_t *x;

	json_array_foreach(list, i, x)
	{
		if (json_is_string(x) && !strcmp(json_string_value(x), s))
			return true;
	}
	return false;
}

static bool any_in_list(const json_t *list, const json_t *values)
{
	size_t i;
	json_t *x;

	json_array_foreach(values, i, x)
	{
		if (json_is_string(x) && in_list(list, json_string_value(x)))
			return true;
	}
	return false;
}

/* The List requests' filters: ids (id_key) and, when given, a list the
 * item must share an entry with. Empty filters keep everything. */
static json_t *filtered(json_t *items, const json_t *ids, const char *id_key,
                        const json_t *want, const char *list_key)
{
	json_t *out = json_array();
	size_t i;
	json_t *x;

	json_array_foreach(items, i, x)
	{
		if (json_array_size(ids) && !in_list(ids, obj_str(x, id_key)))
			continue;
		if (json_array_size(want) &&
		    !any_in_list(json_object_get(x, list_key), want))
			continue;
		json_array_append(out, x);
	}
	json_decref(items);
	return out;
}

static void list_trunks(struct call_ctx *c)
{
	enum store_trunk_kind kind = c->kind;
	json_t *items = NULL;
	int err;

	if (!string_list(c, c->req, "trunkIds") ||
	    !string_list(c, c->req, "numbers"))
		return;
	err = store_trunk_list(c->api->prm.store, kind, &items);
	if (err) {
		store_failed(c, err);
		return;
	}
	items =
	    filtered(items, json_object_get(c->req, "trunkIds"), "sipTrunkId",
	             json_object_get(c->req, "numbers"), "numbers");
	all_with_zero_fields(items, trunk_fields(kind));
	reply_ok(c, json_pack("{s:o}", "items", items));
}

/* The request's trunk, of the route's kind; NULL with a reply sent. An
 * empty id (the store's EINVAL) names no trunk: not_found, as in LiveKit,
 * here and in the other lookups by id. */
static json_t *load_trunk(struct call_ctx *c)
{
	const char *id = req_str(c, "sipTrunkId");
	enum store_trunk_kind kind;
	json_t *trunk = NULL;
	int err = *id ? store_trunk_get(c->api->prm.store, id, &kind, &trunk)
	              : ENOENT;

	if (err == ENOENT || (!err && kind != c->kind)) {
		json_decref(trunk);
		twirp_error(c->conn, "not_found",
		            "requested sip trunk does not exist");
		return NULL;
	}
	if (err)
		store_failed(c, err);
	return err ? NULL : trunk;
}

static void get_trunk(struct call_ctx *c)
{
	json_t *trunk = load_trunk(c);

	if (trunk)
		reply_ok(c, json_pack("{s:o}", "trunk",
		                      with_zero_fields(trunk,
		                                       trunk_fields(c->kind))));
}

static void delete_trunk(struct call_ctx *c)
{
	const char *id = req_str(c, "sipTrunkId");
	int err = *id ? store_trunk_delete(c->api->prm.store, id) : ENOENT;

	if (err == ENOENT) {
		twirp_error(c->conn, "not_found",
		            "requested sip trunk does not exist");
		return;
	}
	if (err) {
		store_failed(c, err);
		return;
	}
	log_event(LOGL_INFO, NULL, "trunk_deleted", "id=%s", id);
	changed(c);
	reply_ok(c, json_pack("{s:s}", "sipTrunkId", id));
}

/* CreateSIPDispatchRule takes the rule nested ({dispatchRule:{...}}) or as
 * legacy top-level fields, which is what the Node SDK sends. */
static json_t *rule_from_request(const json_t *req)
{
	static const char *const legacy[] = {
	    "rule",       "trunkIds",   "hidePhoneNumber", "inboundNumbers",
	    "numbers",    "name",       "metadata",        "attributes",
	    "roomPreset", "roomConfig", "krispEnabled",    "media",
	    NULL};
	json_t *nested = json_object_get(req, "dispatchRule");
	json_t *rule;

	if (json_is_object(nested))
		return json_deep_copy(nested);
	rule = json_object();
	for (const char *const *k = legacy; *k; k++) {
		json_t *v = json_object_get(req, *k);
		if (v)
			json_object_set(rule, *k, v);
	}
	return rule;
}

static bool rule_valid(struct call_ctx *c, json_t *rule)
{
	json_t *r = json_object_get(rule, "rule");

	if (!string_list(c, rule, "trunkIds") ||
	    !string_list(c, rule, "inboundNumbers") ||
	    !string_list(c, rule, "numbers"))
		return false;
	if (!json_is_object(r)) {
		twirp_error(c->conn, "invalid_argument", "rule is required");
		return false;
	}
	return true;
}

static int save_rule(struct call_ctx *c, json_t *rule, const char *id,
                     bool create)
{
	json_t *existing = NULL;
	const char *why = NULL;
	int err;

	err = store_rule_list(c->api->prm.store, &existing);
	if (err) {
		store_failed(c, err);
		return err;
	}
	err = routing_check_rule(existing, rule, &why);
	json_decref(existing);
	if (err) {
		twirp_error(c->conn, "invalid_argument", why);
		return err;
	}
	stamp(rule, create);
	err = store_rule_put(c->api->prm.store, id, rule);
	if (err) {
		store_failed(c, err);
		return err;
	}
	changed(c);
	return 0;
}

static void create_rule(struct call_ctx *c)
{
	json_t *rule = rule_from_request(c->req);
	char id[20];

	if (!rule_valid(c, rule)) {
		json_decref(rule);
		return;
	}
	id_make(id, sizeof(id), "SDR_");
	json_object_set_new(rule, "sipDispatchRuleId", json_string(id));
	if (save_rule(c, rule, id, true)) {
		json_decref(rule);
		return;
	}
	log_event(LOGL_INFO, NULL, "rule_created", "id=%s", id);
	reply_ok(c, with_zero_fields(rule, rule_fields));
}

static void list_rules(struct call_ctx *c)
{
	json_t *items = NULL;
	int err;

	if (!string_list(c, c->req, "dispatchRuleIds") ||
	    !string_list(c, c->req, "trunkIds"))
		return;
	err = store_rule_list(c->api->prm.store, &items);
	if (err) {
		store_failed(c, err);
		return;
	}
	items = filtered(items, json_object_get(c->req, "dispatchRuleIds"),
	                 "sipDispatchRuleId",
	                 json_object_get(c->req, "trunkIds"), "trunkIds");
	all_with_zero_fields(items, rule_fields);
	reply_ok(c, json_pack("{s:o}", "items", items));
}

/* UpdateSIPDispatchRule: {sipDispatchRuleId, replace: rule} or
 * {sipDispatchRuleId, update: {fields to set, trunkIds as ListUpdate}}. */
/* LiveKit's ListUpdate: {set, add, remove, clear} over a string list. Its
 * lists hold only strings: update_check has made sure. */
static json_t *list_update(const json_t *old, const json_t *u)
{
	json_t *set = json_object_get(u, "set");
	json_t *out =
	    json_array_size(set) ? json_deep_copy(set)
	    : json_is_true(json_object_get(u, "clear")) || !json_is_array(old)
	        ? json_array()
	        : json_deep_copy(old);
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(u, "add"), i, x)
	{
		if (!in_list(out, json_string_value(x)))
			json_array_append(out, x);
	}
	json_array_foreach(json_object_get(u, "remove"), i, x)
	{
		for (size_t k = json_array_size(out); k--;) {
			const char *have =
			    json_string_value(json_array_get(out, k));

			/* The stored list may hold anything an older
			 * version let through. */
			if (!have || !strcmp(have, json_string_value(x)))
				json_array_remove(out, k);
		}
	}
	return out;
}

static bool list_field(const struct field *f, const char *name)
{
	for (; f->name; f++) {
		if (!strcmp(f->name, name))
			return f->type == 'a';
	}
	return false;
}

/* Absent, null, or a list of non-empty strings; its length in *n. */
static bool strings_or_null(const json_t *v, size_t *n)
{
	size_t i;
	json_t *x;

	*n = 0;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_array(v))
		return false;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x) || !json_string_length(x))
			return false;
	}
	*n = json_array_size(v);
	return true;
}

/* LiveKit's ListUpdate.Validate, with the types protojson would check. */
static const char *list_update_why(const json_t *u)
{
	static const char *const keys[] = {"set", "add", "remove"};
	size_t n[3];
	const json_t *clear = json_object_get(u, "clear");

	for (size_t i = 0; i < 3; i++) {
		if (!strings_or_null(json_object_get(u, keys[i]), &n[i]))
			return "set, add and remove must be lists of "
			       "non-empty strings";
	}
	if (clear && !json_is_boolean(clear) && !json_is_null(clear))
		return "clear must be true or false";
	if (!json_is_true(clear) && !n[0] && !n[1] && !n[2])
		return "unsupported list update operation";
	if (json_is_true(clear) && (n[0] || n[1] || n[2]))
		return "cannot clear and change the list at the same time";
	if (n[0] && (n[1] || n[2]))
		return "cannot set and change the list at the same time";
	return NULL;
}

/* Every field of an update request's ListUpdates, checked before any is
 * applied. An object given for a list field is a ListUpdate; one that
 * looks like a ListUpdate on any other field is refused. false with an
 * invalid_argument reply sent. */
static bool update_check(struct call_ctx *c, const json_t *update,
                         const struct field *fields)
{
	const char *k, *why = NULL;
	json_t *v;
	char msg[200];

	json_object_foreach((json_t *)update, k, v)
	{
		bool listed = list_field(fields, k);

		if (listed && json_is_object(v))
			why = list_update_why(v);
		else if (!listed && json_is_object(v) &&
		         (json_object_get(v, "set") ||
		          json_object_get(v, "add") ||
		          json_object_get(v, "remove") ||
		          json_object_get(v, "clear")))
			why = "not a list field, it takes no ListUpdate";
		if (why)
			break;
	}
	if (!why)
		return true;
	snprintf(msg, sizeof(msg), "update.%.64s: %s", k, why);
	log_event(LOGL_WARN, NULL, "api_update_refused", "error=\"%s\"", msg);
	twirp_error(c->conn, "invalid_argument", msg);
	return false;
}

/* An Update request's {replace: obj} or {update: fields}, applied to the
 * stored obj (stolen). NULL with a reply sent when neither is given or the
 * update is not valid; nothing is applied then. */
static json_t *apply_update(struct call_ctx *c, json_t *obj,
                            const struct field *fields)
{
	json_t *replace = json_object_get(c->req, "replace");
	json_t *update = json_object_get(c->req, "update");
	const char *k;
	json_t *v;

	if (json_is_object(replace)) {
		json_t *created =
		    json_incref(json_object_get(obj, "createdAt"));

		json_decref(obj);
		obj = json_deep_copy(replace);
		if (created)
			json_object_set_new(obj, "createdAt", created);
		return obj;
	}
	if (!json_is_object(update)) {
		json_decref(obj);
		twirp_error(c->conn, "invalid_argument",
		            "replace or update is required");
		return NULL;
	}
	if (!update_check(c, update, fields)) {
		json_decref(obj);
		return NULL;
	}
	json_object_foreach(update, k, v)
	{
		if (list_field(fields, k) && json_is_object(v))
			json_object_set_new(
			    obj, k, list_update(json_object_get(obj, k), v));
		else
			json_object_set(obj, k, v);
	}
	return obj;
}

static void update_rule(struct call_ctx *c)
{
	const char *id = req_str(c, "sipDispatchRuleId");
	json_t *rule = NULL;
	int err;

	err = *id ? store_rule_get(c->api->prm.store, id, &rule) : ENOENT;
	if (err == ENOENT) {
		twirp_error(c->conn, "not_found",
		            "requested sip dispatch rule does not exist");
		return;
	}
	if (err) {
		store_failed(c, err);
		return;
	}
	rule = apply_update(c, rule, rule_fields);
	if (!rule)
		return;
	json_object_set_new(rule, "sipDispatchRuleId", json_string(id));
	if (!rule_valid(c, rule) || save_rule(c, rule, id, false)) {
		json_decref(rule);
		return;
	}
	log_event(LOGL_INFO, NULL, "rule_updated", "id=%s", id);
	reply_ok(c, with_zero_fields(rule, rule_fields));
}

static void update_trunk(struct call_ctx *c)
{
	enum store_trunk_kind want = c->kind;
	const char *id = req_str(c, "sipTrunkId");
	json_t *trunk = load_trunk(c), *existing = NULL;
	const char *why = NULL;
	int err = 0;

	if (!trunk)
		return;
	trunk = apply_update(c, trunk, trunk_fields(want));
	if (!trunk)
		return;
	json_object_set_new(trunk, "sipTrunkId", json_string(id));
	if (!string_list(c, trunk, "numbers") ||
	    !string_list(c, trunk, "allowedAddresses") ||
	    !string_list(c, trunk, "allowedNumbers"))
		goto out;
	if (want == STORE_TRUNK_INBOUND) {
		err = store_trunk_list(c->api->prm.store, STORE_TRUNK_INBOUND,
		                       &existing);
		if (err) {
			store_failed(c, err);
			goto out;
		}
		err = routing_check_inbound_trunk(existing, trunk, &why);
		json_decref(existing);
	} else if (!outbound_address_ok(obj_str(trunk, "address"))) {
		err = EINVAL;
		why = "trunk address should be a hostname or IP, not SIP URI";
	}
	if (err) {
		twirp_error(c->conn, "invalid_argument", why);
		goto out;
	}
	stamp(trunk, false);
	err = store_trunk_put(c->api->prm.store, id, want, trunk);
	if (err) {
		store_failed(c, err);
		goto out;
	}
	log_event(LOGL_INFO, NULL, "trunk_updated", "id=%s", id);
	changed(c);
	reply_ok(c, with_zero_fields(trunk, trunk_fields(want)));
	return;
out:
	json_decref(trunk);
}

static void delete_rule(struct call_ctx *c)
{
	const char *id = req_str(c, "sipDispatchRuleId");
	json_t *rule = NULL;
	int err = *id ? store_rule_get(c->api->prm.store, id, &rule) : ENOENT;

	if (!err)
		err = store_rule_delete(c->api->prm.store, id);
	if (err == ENOENT) {
		twirp_error(c->conn, "not_found",
		            "requested sip dispatch rule does not exist");
		json_decref(rule);
		return;
	}
	if (err) {
		json_decref(rule);
		store_failed(c, err);
		return;
	}
	log_event(LOGL_INFO, NULL, "rule_deleted", "id=%s", id);
	changed(c);
	reply_ok(c, with_zero_fields(rule, rule_fields));
}

/* ---- admin ------------------------------------------------------------ */

/* What marks the trunk and rule /api/admin/sip/setup made, so a second run
 * finds them instead of making more. */
#define TELNYX_SETUP_MARK "voxgate:telnyx-default"

static json_t *find_marked(json_t *items)
{
	size_t i;
	json_t *x;

	json_array_foreach(items, i, x)
	{
		if (!strcmp(obj_str(x, "metadata"), TELNYX_SETUP_MARK))
			return json_incref(x);
	}
	return NULL;
}

/*
 * POST /api/admin/sip/setup: the default route for calls Telnyx transfers
 * to us, as the seed's setupDefaultTelnyxRoute makes it: an inbound trunk
 * (for "numbers", or any number) and a dispatch rule giving each call a
 * room of its own ("room_prefix", default "telnyx-"), or putting every
 * call in one room ("room"). What an earlier run made is kept as it is.
 */
static void admin_sip_setup(struct call_ctx *c)
{
	struct store *st = c->api->prm.store;
	json_t *trunks = NULL, *rules = NULL, *trunk, *rule, *numbers;
	const char *room = req_str(c, "room"),
	           *prefix = req_str(c, "room_prefix");
	bool created = false;
	char id[20];
	int err;

	numbers = json_object_get(c->req, "numbers");
	if (numbers && !string_list(c, c->req, "numbers"))
		return;
	err = store_trunk_list(st, STORE_TRUNK_INBOUND, &trunks);
	if (!err)
		err = store_rule_list(st, &rules);
	if (err) {
		json_decref(trunks);
		store_failed(c, err);
		return;
	}
	trunk = find_marked(trunks);
	rule = find_marked(rules);
	json_decref(trunks);
	json_decref(rules);
	if (!trunk) {
		id_make(id, sizeof(id), "ST_");
		trunk = json_pack(
		    "{s:s,s:s,s:s,s:o}", "sipTrunkId", id, "name",
		    "Telnyx inbound", "metadata", TELNYX_SETUP_MARK, "numbers",
		    numbers ? json_deep_copy(numbers) : json_array());
		stamp(trunk, true);
		err = store_trunk_put(st, id, STORE_TRUNK_INBOUND, trunk);
		if (err) {
			json_decref(trunk);
			json_decref(rule);
			store_failed(c, err);
			return;
		}
		log_event(LOGL_INFO, NULL, "trunk_created",
		          "id=%s kind=inbound by=admin_setup", id);
		created = true;
		changed(c);
	}
	if (!rule) {
		json_t *how =
		    *room
		        ? json_pack("{s:{s:s}}", "dispatchRuleDirect",
		                    "roomName", room)
		        : json_pack("{s:{s:s}}", "dispatchRuleIndividual",
		                    "roomPrefix", *prefix ? prefix : "telnyx-");

		id_make(id, sizeof(id), "SDR_");
		rule = json_pack("{s:s,s:s,s:s,s:[s],s:o}", "sipDispatchRuleId",
		                 id, "name", "Telnyx default", "metadata",
		                 TELNYX_SETUP_MARK, "trunkIds",
		                 obj_str(trunk, "sipTrunkId"), "rule", how);
		if (save_rule(c, rule, id, true)) {
			json_decref(rule);
			json_decref(trunk);
			return;
		}
		log_event(LOGL_INFO, NULL, "rule_created",
		          "id=%s by=admin_setup", id);
		created = true;
	}
	log_event(LOGL_INFO, NULL, "admin_sip_setup",
	          "trunk=%s rule=%s created=%s", obj_str(trunk, "sipTrunkId"),
	          obj_str(rule, "sipDispatchRuleId"),
	          created ? "true" : "false");
	reply_ok(c, json_pack("{s:o,s:o,s:b}", "trunk",
	                      with_zero_fields(
	                          trunk, trunk_fields(STORE_TRUNK_INBOUND)),
	                      "rule", with_zero_fields(rule, rule_fields),
	                      "created", created));
}

/* Bearer admin_token, compared in constant time; 1 when a reply was sent. */
static int admin_refused(struct api *api, struct http_conn *conn,
                         const struct http_msg *msg)
{
	const struct http_hdr *h = http_msg_hdr(msg, HTTP_HDR_AUTHORIZATION);
	const char *want = api->prm.admin_token;
	size_t n = want ? strlen(want) : 0;
	static const char bearer[] = "Bearer ";

	if (!n) {
		plain(conn, 404, "Not Found",
		      "the admin API is off: admin_token is not set");
		return 1;
	}
	if (!h || h->val.l != sizeof(bearer) - 1 + n ||
	    memcmp(h->val.p, bearer, sizeof(bearer) - 1) ||
	    CRYPTO_memcmp(h->val.p + sizeof(bearer) - 1, want, n)) {
		log_event(LOGL_WARN, NULL, "admin_refused", "path=%.*s",
		          (int)msg->path.l, msg->path.p);
		plain(
		    conn, 401, "Unauthorized",
		    "a valid admin token is required (Authorization: Bearer)");
		return 1;
	}
	return 0;
}

static void handle_admin(struct api *api, struct http_conn *conn,
                         const struct http_msg *msg)
{
	struct call_ctx c = {.api = api, .conn = conn};
	json_error_t jerr;

	if (admin_refused(api, conn, msg))
		return;
	if (pl_strcmp(&msg->path, "/api/admin/sip/setup") ||
	    pl_strcmp(&msg->met, "POST")) {
		plain(conn, 404, "Not Found", "no such admin endpoint");
		return;
	}
	if (mbuf_get_left(msg->mb)) {
		c.req = json_loadb((const char *)mbuf_buf(msg->mb),
		                   mbuf_get_left(msg->mb), 0, &jerr);
		if (!json_is_object(c.req)) {
			json_decref(c.req);
			plain(conn, 400, "Bad Request",
			      "the body is not a JSON object");
			return;
		}
	} else {
		c.req = json_object();
	}
	admin_sip_setup(&c);
	json_decref(c.req);
}

/* ---- dispatch --------------------------------------------------------- */

static const struct route {
	const char *path;
	enum grant grant;
	handler_h *h;
	enum store_trunk_kind kind;
} routes[] = {
    {"livekit.RoomService/CreateRoom", GRANT_ROOM_CREATE, create_room},
    {"livekit.RoomService/ListRooms", GRANT_ROOM_LIST, list_rooms},
    {"livekit.RoomService/DeleteRoom", GRANT_ROOM_CREATE, delete_room},
    {"livekit.RoomService/ListParticipants", GRANT_ROOM_ADMIN,
     list_participants},
    {"livekit.RoomService/GetParticipant", GRANT_ROOM_ADMIN, get_participant},
    {"livekit.RoomService/RemoveParticipant", GRANT_ROOM_ADMIN,
     remove_participant},
    {"livekit.RoomService/UpdateRoomMetadata", GRANT_ROOM_ADMIN,
     update_room_metadata},
    {"livekit.SIP/CreateSIPInboundTrunk", GRANT_SIP_ADMIN, create_trunk,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/ListSIPInboundTrunk", GRANT_SIP_ADMIN, list_trunks,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/CreateSIPOutboundTrunk", GRANT_SIP_ADMIN, create_trunk,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/ListSIPOutboundTrunk", GRANT_SIP_ADMIN, list_trunks,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/UpdateSIPInboundTrunk", GRANT_SIP_ADMIN, update_trunk,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/UpdateSIPOutboundTrunk", GRANT_SIP_ADMIN, update_trunk,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/GetSIPInboundTrunk", GRANT_SIP_ADMIN, get_trunk,
     STORE_TRUNK_INBOUND},
    {"livekit.SIP/GetSIPOutboundTrunk", GRANT_SIP_ADMIN, get_trunk,
     STORE_TRUNK_OUTBOUND},
    {"livekit.SIP/DeleteSIPTrunk", GRANT_SIP_ADMIN, delete_trunk},
    {"livekit.SIP/CreateSIPDispatchRule", GRANT_SIP_ADMIN, create_rule},
    {"livekit.SIP/ListSIPDispatchRule", GRANT_SIP_ADMIN, list_rules},
    {"livekit.SIP/UpdateSIPDispatchRule", GRANT_SIP_ADMIN, update_rule},
    {"livekit.SIP/DeleteSIPDispatchRule", GRANT_SIP_ADMIN, delete_rule},
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
		plain(conn, 401, "Unauthorized",
		      "invalid authorization header. Must start with Bearer ");
		return 1;
	}
	struct pl tok = {h->val.p + sizeof(bearer) - 1,
	                 h->val.l - (sizeof(bearer) - 1)};
	if (pl_strdup(&jwt, &tok)) {
		plain(conn, 500, "Internal Server Error", "out of memory");
		return 1;
	}
	err = token_verify(jwt, &api->prm.keys, time(NULL), cl, &why);
	mem_deref(jwt);
	if (err) {
		char text[160];

		snprintf(text, sizeof(text), "could not verify token: %s",
		         why ? why : "invalid token");
		plain(conn, 401, "Unauthorized", text);
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
		twirp_error(conn, "bad_route", text);
		return;
	}
	if (authenticate(api, conn, msg, &claims))
		return;
	if (mbuf_get_left(msg->mb) > max) {
		twirp_error(conn, "malformed", "the request body is too large");
		return;
	}
	req = json_loadb((const char *)mbuf_buf(msg->mb),
	                 mbuf_get_left(msg->mb), 0, &jerr);
	if (!mbuf_get_left(msg->mb))
		req = json_object();
	if (!json_is_object(req)) {
		json_decref(req);
		twirp_error(conn, "malformed",
		            "the json request could not be decoded");
		return;
	}
	c.req = rename_keys(req, false);
	json_decref(req);
	if (!permitted(&c, r->grant)) {
		twirp_error(conn, "unauthenticated", "permissions denied");
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
		plain(conn, 500, "Internal Server Error",
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
		plain(conn, 401, "Unauthorized",
		      "an agent worker needs a token with the agent grant");
		return;
	}
	api->prm.agenth(conn, msg, api->prm.harg);
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
	    stream_http(api->prm.streams, conn, msg))
		return;
	if (msg->path.l >= 11 && !memcmp(msg->path.p, "/api/admin/", 11)) {
		handle_admin(api, conn, msg);
		return;
	}
	if (!pl_strcmp(&msg->path, "/healthz") || !pl_strcmp(&msg->path, "/")) {
		if (api->draining)
			plain(conn, 503, "Service Unavailable", "draining");
		else if (api->ready)
			plain(conn, 200, "OK", "OK");
		else
			plain(conn, 503, "Service Unavailable", "starting");
		return;
	}
	handle_twirp(api, conn, msg);
}

static void api_destructor(void *arg)
{
	struct api *api = arg;

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
