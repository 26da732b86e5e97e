/*
 * UpdateSIPDispatchRule, UpdateSIPInboundTrunk and UpdateSIPOutboundTrunk:
 * a replacement, or the fields to set with LiveKit's ListUpdate over the
 * string lists, checked whole (strings only) before anything is applied.
 */
#include <errno.h>
#include <string.h>
#include "api/api_int.h"
#include "core/log.h"
#include "sip/outbound.h"
#include "sip/routing.h"

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
		if (!api_sip_in_list(out, json_string_value(x)))
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

/* UpdateSIPDispatchRule: {sipDispatchRuleId, replace: rule} or
 * {sipDispatchRuleId, update: {fields to set, trunkIds as ListUpdate}}. */
void api_update_rule(struct call_ctx *c)
{
	const char *id = api_req_str(c, "sipDispatchRuleId");
	json_t *rule = NULL;
	int err;

	err = *id ? store_rule_get(c->api->prm.store, id, &rule) : ENOENT;
	if (!api_sip_found(c, err, API_MISSING_RULE))
		return;
	rule = apply_update(c, rule, api_rule_fields);
	if (!rule)
		return;
	json_object_set_new(rule, "sipDispatchRuleId", json_string(id));
	if (!api_sip_rule_valid(c, rule) || api_save_rule(c, rule, id, false)) {
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
	json_t *trunk = api_sip_load_trunk(c), *existing = NULL;
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
	    !api_sip_encryption_ok(c, trunk))
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
	if (!err && (why = api_sip_headers_why(trunk)) != NULL)
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
