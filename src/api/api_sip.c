/*
 * The SIP service: inbound and outbound trunks and dispatch rules, kept in
 * the store as LiveKit's protobuf-JSON; their Update requests and the
 * ListUpdate, validated whole before anything is applied.
 */
#include <errno.h>
#include <string.h>
#include "api/api_int.h"
#include "core/id.h"
#include "core/log.h"
#include "sip/routing.h"
#include "sip/sipx.h"
#include "sip/outbound.h"

#define MISSING_RULE "requested sip dispatch rule does not exist"

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

const struct field api_rule_fields[] = {
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

const struct field *api_trunk_fields(enum store_trunk_kind kind)
{
	return kind == STORE_TRUNK_INBOUND ? inbound_fields : outbound_fields;
}

json_t *api_with_zero_fields(json_t *obj, const struct field *f)
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

	json_array_foreach(items, i, x) api_with_zero_fields(x, f);
	return items;
}

/* A trunk's headers go into the messages of its calls: checked when
 * written, so that a call never finds one it must drop. */
static const char *headers_why(const json_t *trunk)
{
	const char *why = NULL;
	char buf[4096];

	if (sipx_headers_format(json_object_get(trunk, "headers"), true, buf,
	                        sizeof(buf), &why))
		return why;
	return NULL;
}

/* mediaEncryption, LiveKit's SIPMediaEncryption: its name or number, kept
 * as the name (what LiveKit returns). false with invalid_argument sent. */
static bool encryption_ok(struct call_ctx *c, json_t *obj)
{
	enum sdes_policy p;

	if (routing_media_encryption(obj, &p)) {
		api_twirp_error(c->conn, "invalid_argument",
		                "mediaEncryption must be "
		                "SIP_MEDIA_ENCRYPT_DISABLE, "
		                "SIP_MEDIA_ENCRYPT_ALLOW or "
		                "SIP_MEDIA_ENCRYPT_REQUIRE");
		return false;
	}
	if (json_object_get(obj, "mediaEncryption"))
		json_object_set_new(obj, "mediaEncryption",
		                    json_string(sdes_policy_name(p)));
	return true;
}

void api_create_trunk(struct call_ctx *c)
{
	bool inbound = c->kind == STORE_TRUNK_INBOUND;
	json_t *trunk = json_object_get(c->req, "trunk");
	json_t *existing = NULL;
	const char *why = NULL;
	char id[16];
	int err;

	if (!json_is_object(trunk)) {
		api_twirp_error(c->conn, "invalid_argument",
		                "trunk is required");
		return;
	}
	if (!api_string_list(c, trunk, "numbers") ||
	    !api_string_list(c, trunk, "allowedAddresses") ||
	    !api_string_list(c, trunk, "allowedNumbers"))
		return;
	if (*api_obj_str(trunk, "sipTrunkId")) {
		api_twirp_error(c->conn, "invalid_argument",
		                "trunk ID must be empty");
		return;
	}
	trunk = json_deep_copy(trunk);
	if (!encryption_ok(c, trunk)) {
		json_decref(trunk);
		return;
	}
	if (inbound) {
		err = store_trunk_list(c->api->prm.store, STORE_TRUNK_INBOUND,
		                       &existing);
		if (err) {
			json_decref(trunk);
			api_store_failed(c, err);
			return;
		}
		err = routing_check_inbound_trunk(existing, trunk, &why);
		json_decref(existing);
		if (err) {
			json_decref(trunk);
			api_twirp_error(c->conn, "invalid_argument", why);
			return;
		}
	} else if (!json_array_size(json_object_get(trunk, "numbers")) ||
	           !*api_obj_str(trunk, "address")) {
		json_decref(trunk);
		api_twirp_error(c->conn, "invalid_argument",
		                "address and numbers are required");
		return;
	} else if (!outbound_address_ok(api_obj_str(trunk, "address"))) {
		json_decref(trunk);
		api_twirp_error(
		    c->conn, "invalid_argument",
		    "trunk address should be a hostname or IP, not SIP "
		    "URI");
		return;
	}
	why = headers_why(trunk);
	if (why) {
		json_decref(trunk);
		api_twirp_error(c->conn, "invalid_argument", why);
		return;
	}
	id_make(id, sizeof(id), "ST_");
	json_object_set_new(trunk, "sipTrunkId", json_string(id));
	api_stamp(trunk, true);
	err = store_trunk_put(
	    c->api->prm.store, id,
	    inbound ? STORE_TRUNK_INBOUND : STORE_TRUNK_OUTBOUND, trunk);
	if (err) {
		json_decref(trunk);
		api_store_failed(c, err);
		return;
	}
	log_event(LOGL_INFO, NULL, "trunk_created", "id=%s kind=%s", id,
	          inbound ? "inbound" : "outbound");
	api_changed(c);
	api_reply_ok(c, api_with_zero_fields(trunk, api_trunk_fields(c->kind)));
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
		if (json_array_size(ids) &&
		    !in_list(ids, api_obj_str(x, id_key)))
			continue;
		if (json_array_size(want) &&
		    !any_in_list(json_object_get(x, list_key), want))
			continue;
		json_array_append(out, x);
	}
	json_decref(items);
	return out;
}

void api_list_trunks(struct call_ctx *c)
{
	enum store_trunk_kind kind = c->kind;
	json_t *items = NULL;
	int err;

	if (!api_string_list(c, c->req, "trunkIds") ||
	    !api_string_list(c, c->req, "numbers"))
		return;
	err = store_trunk_list(c->api->prm.store, kind, &items);
	if (err) {
		api_store_failed(c, err);
		return;
	}
	items =
	    filtered(items, json_object_get(c->req, "trunkIds"), "sipTrunkId",
	             json_object_get(c->req, "numbers"), "numbers");
	all_with_zero_fields(items, api_trunk_fields(kind));
	api_reply_ok(c, json_pack("{s:o}", "items", items));
}

bool api_found(struct call_ctx *c, int err, const char *missing)
{
	if (err == ENOENT)
		api_twirp_error(c->conn, "not_found", missing);
	else if (err)
		api_store_failed(c, err);
	return !err;
}

/* The request's trunk, of the route's kind; NULL with a reply sent. An
 * empty id (the store's EINVAL) names no trunk: not_found, as in LiveKit,
 * here and in the other lookups by id. */
static json_t *load_trunk(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipTrunkId");
	enum store_trunk_kind kind;
	json_t *trunk = NULL;
	int err = *id ? store_trunk_get(c->api->prm.store, id, &kind, &trunk)
	              : ENOENT;

	if (!err && kind != c->kind) {
		json_decref(trunk);
		err = ENOENT;
	}
	return api_found(c, err, API_MISSING_TRUNK) ? trunk : NULL;
}

void api_get_trunk(struct call_ctx *c)
{
	json_t *trunk = load_trunk(c);

	if (trunk)
		api_reply_ok(c,
		             json_pack("{s:o}", "trunk",
		                       api_with_zero_fields(
		                           trunk, api_trunk_fields(c->kind))));
}

void api_delete_trunk(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipTrunkId");
	int err = *id ? store_trunk_delete(c->api->prm.store, id) : ENOENT;

	if (!api_found(c, err, API_MISSING_TRUNK))
		return;
	log_event(LOGL_INFO, NULL, "trunk_deleted", "id=%s", id);
	api_changed(c);
	api_reply_ok(c, json_pack("{s:s}", "sipTrunkId", id));
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

	if (!api_string_list(c, rule, "trunkIds") ||
	    !api_string_list(c, rule, "inboundNumbers") ||
	    !api_string_list(c, rule, "numbers"))
		return false;
	if (!json_is_object(r)) {
		api_twirp_error(c->conn, "invalid_argument",
		                "rule is required");
		return false;
	}
	return encryption_ok(c, rule);
}

int api_save_rule(struct call_ctx *c, json_t *rule, const char *id, bool create)
{
	json_t *existing = NULL;
	const char *why = NULL;
	int err;

	err = store_rule_list(c->api->prm.store, &existing);
	if (err) {
		api_store_failed(c, err);
		return err;
	}
	err = routing_check_rule(existing, rule, &why);
	json_decref(existing);
	if (err) {
		api_twirp_error(c->conn, "invalid_argument", why);
		return err;
	}
	api_stamp(rule, create);
	err = store_rule_put(c->api->prm.store, id, rule);
	if (err) {
		api_store_failed(c, err);
		return err;
	}
	api_changed(c);
	return 0;
}

void api_create_rule(struct call_ctx *c)
{
	json_t *rule = rule_from_request(c->req);
	char id[20];

	if (!rule_valid(c, rule)) {
		json_decref(rule);
		return;
	}
	id_make(id, sizeof(id), "SDR_");
	json_object_set_new(rule, "sipDispatchRuleId", json_string(id));
	if (api_save_rule(c, rule, id, true)) {
		json_decref(rule);
		return;
	}
	log_event(LOGL_INFO, NULL, "rule_created", "id=%s", id);
	api_reply_ok(c, api_with_zero_fields(rule, api_rule_fields));
}

void api_list_rules(struct call_ctx *c)
{
	json_t *items = NULL;
	int err;

	if (!api_string_list(c, c->req, "dispatchRuleIds") ||
	    !api_string_list(c, c->req, "trunkIds"))
		return;
	err = store_rule_list(c->api->prm.store, &items);
	if (err) {
		api_store_failed(c, err);
		return;
	}
	items = filtered(items, json_object_get(c->req, "dispatchRuleIds"),
	                 "sipDispatchRuleId",
	                 json_object_get(c->req, "trunkIds"), "trunkIds");
	all_with_zero_fields(items, api_rule_fields);
	api_reply_ok(c, json_pack("{s:o}", "items", items));
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
	api_twirp_error(c->conn, "invalid_argument", msg);
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
		api_twirp_error(c->conn, "invalid_argument",
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

void api_update_rule(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipDispatchRuleId");
	json_t *rule = NULL;
	int err;

	err = *id ? store_rule_get(c->api->prm.store, id, &rule) : ENOENT;
	if (!api_found(c, err, MISSING_RULE))
		return;
	rule = apply_update(c, rule, api_rule_fields);
	if (!rule)
		return;
	json_object_set_new(rule, "sipDispatchRuleId", json_string(id));
	if (!rule_valid(c, rule) || api_save_rule(c, rule, id, false)) {
		json_decref(rule);
		return;
	}
	log_event(LOGL_INFO, NULL, "rule_updated", "id=%s", id);
	api_reply_ok(c, api_with_zero_fields(rule, api_rule_fields));
}

void api_update_trunk(struct call_ctx *c)
{
	enum store_trunk_kind want = c->kind;
	const char *id = api_req_str(c, "sipTrunkId");
	json_t *trunk = load_trunk(c), *existing = NULL;
	const char *why = NULL;
	int err = 0;

	if (!trunk)
		return;
	trunk = apply_update(c, trunk, api_trunk_fields(want));
	if (!trunk)
		return;
	json_object_set_new(trunk, "sipTrunkId", json_string(id));
	if (!api_string_list(c, trunk, "numbers") ||
	    !api_string_list(c, trunk, "allowedAddresses") ||
	    !api_string_list(c, trunk, "allowedNumbers") ||
	    !encryption_ok(c, trunk))
		goto out;
	if (want == STORE_TRUNK_INBOUND) {
		err = store_trunk_list(c->api->prm.store, STORE_TRUNK_INBOUND,
		                       &existing);
		if (err) {
			api_store_failed(c, err);
			goto out;
		}
		err = routing_check_inbound_trunk(existing, trunk, &why);
		json_decref(existing);
	} else if (!outbound_address_ok(api_obj_str(trunk, "address"))) {
		err = EINVAL;
		why = "trunk address should be a hostname or IP, not SIP URI";
	}
	if (!err && (why = headers_why(trunk)) != NULL)
		err = EINVAL;
	if (err) {
		api_twirp_error(c->conn, "invalid_argument", why);
		goto out;
	}
	api_stamp(trunk, false);
	err = store_trunk_put(c->api->prm.store, id, want, trunk);
	if (err) {
		api_store_failed(c, err);
		goto out;
	}
	log_event(LOGL_INFO, NULL, "trunk_updated", "id=%s", id);
	api_changed(c);
	api_reply_ok(c, api_with_zero_fields(trunk, api_trunk_fields(want)));
	return;
out:
	json_decref(trunk);
}

void api_delete_rule(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipDispatchRuleId");
	json_t *rule = NULL;
	int err = *id ? store_rule_get(c->api->prm.store, id, &rule) : ENOENT;

	if (!err)
		err = store_rule_delete(c->api->prm.store, id);
	if (!api_found(c, err, MISSING_RULE)) {
		json_decref(rule);
		return;
	}
	log_event(LOGL_INFO, NULL, "rule_deleted", "id=%s", id);
	api_changed(c);
	api_reply_ok(c, api_with_zero_fields(rule, api_rule_fields));
}
