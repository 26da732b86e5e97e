/*
 * /api/admin/...: voxgate's own endpoints beside LiveKit's API, behind the
 * admin token.
 */
#include <string.h>
#include <openssl/crypto.h>
#include "api/api_int.h"
#include "core/libre.h"
#include "core/id.h"
#include "core/log.h"

/* What marks the trunk and rule /api/admin/sip/setup made, so a second run
 * finds them instead of making more. */
#define TELNYX_SETUP_MARK "voxgate:telnyx-default"

static json_t *find_marked(json_t *items)
{
	size_t i;
	json_t *x;

	json_array_foreach(items, i, x)
	{
		if (!strcmp(api_obj_str(x, "metadata"), TELNYX_SETUP_MARK))
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
	const char *room = api_req_str(c, "room"),
	           *prefix = api_req_str(c, "room_prefix");
	bool created = false;
	char id[20];
	int err;

	numbers = json_object_get(c->req, "numbers");
	if (numbers && !api_string_list(c, c->req, "numbers"))
		return;
	err = store_trunk_list(st, STORE_TRUNK_INBOUND, &trunks);
	if (!err)
		err = store_rule_list(st, &rules);
	if (err) {
		json_decref(trunks);
		api_store_failed(c, err);
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
		api_stamp(trunk, true);
		err = store_trunk_put(st, id, STORE_TRUNK_INBOUND, trunk);
		if (err) {
			json_decref(trunk);
			json_decref(rule);
			api_store_failed(c, err);
			return;
		}
		log_event(LOGL_INFO, NULL, "trunk_created",
		          "id=%s kind=inbound by=admin_setup", id);
		created = true;
		api_changed(c);
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
		                 api_obj_str(trunk, "sipTrunkId"), "rule", how);
		if (api_save_rule(c, rule, id, true)) {
			json_decref(rule);
			json_decref(trunk);
			return;
		}
		log_event(LOGL_INFO, NULL, "rule_created",
		          "id=%s by=admin_setup", id);
		created = true;
	}
	log_event(
	    LOGL_INFO, NULL, "admin_sip_setup", "trunk=%s rule=%s created=%s",
	    api_obj_str(trunk, "sipTrunkId"),
	    api_obj_str(rule, "sipDispatchRuleId"), created ? "true" : "false");
	api_reply_ok(
	    c, json_pack("{s:o,s:o,s:b}", "trunk",
	                 api_with_zero_fields(
	                     trunk, api_trunk_fields(STORE_TRUNK_INBOUND)),
	                 "rule", api_with_zero_fields(rule, api_rule_fields),
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
		api_plain(conn, 404, "Not Found",
		          "the admin API is off: admin_token is not set");
		return 1;
	}
	if (!h || h->val.l != sizeof(bearer) - 1 + n ||
	    memcmp(h->val.p, bearer, sizeof(bearer) - 1) ||
	    CRYPTO_memcmp(h->val.p + sizeof(bearer) - 1, want, n)) {
		log_event(LOGL_WARN, NULL, "admin_refused", "path=%.*s",
		          (int)msg->path.l, msg->path.p);
		api_plain(
		    conn, 401, "Unauthorized",
		    "a valid admin token is required (Authorization: Bearer)");
		return 1;
	}
	return 0;
}

void api_handle_admin(struct api *api, struct http_conn *conn,
                      const struct http_msg *msg)
{
	struct call_ctx c = {.api = api, .conn = conn};
	json_error_t jerr;

	if (admin_refused(api, conn, msg))
		return;
	if (pl_strcmp(&msg->path, "/api/admin/sip/setup") ||
	    pl_strcmp(&msg->met, "POST")) {
		api_plain(conn, 404, "Not Found", "no such admin endpoint");
		return;
	}
	if (mbuf_get_left(msg->mb)) {
		c.req = json_loadb((const char *)mbuf_buf(msg->mb),
		                   mbuf_get_left(msg->mb), 0, &jerr);
		if (!json_is_object(c.req)) {
			json_decref(c.req);
			api_plain(conn, 400, "Bad Request",
			          "the body is not a JSON object");
			return;
		}
	} else {
		c.req = json_object();
	}
	admin_sip_setup(&c);
	json_decref(c.req);
}
