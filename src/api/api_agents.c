/*
 * AgentDispatchService: explicit dispatches of LiveKit agents to a room,
 * as livekit-server-sdk's AgentDispatchClient calls them (CreateDispatch,
 * ListDispatch, DeleteDispatch; roomAdmin for the room). The dispatches
 * themselves are lkagent's.
 */
#include <errno.h>
#include "api/api_int.h"
#include "lkagent/lkagent.h"

static bool have_agents(struct call_ctx *c)
{
	if (c->api->prm.lkagent)
		return true;
	api_twirp_error(c->conn, "unimplemented",
	                "agent dispatch is not available");
	return false;
}

void api_create_dispatch(struct call_ctx *c)
{
	static const char *const strs[] = {"room", "agentName", "metadata",
	                                   "deployment", NULL};
	const char *why = NULL;
	json_t *out = NULL;
	int err;

	if (!api_check_types(c, strs) || !have_agents(c))
		return;
	err = lkagent_dispatch_create(c->api->prm.lkagent, c->req, &out, &why);
	if (err == EINVAL)
		api_twirp_error(c->conn, "invalid_argument",
		                why ? why : "invalid request");
	else if (err)
		api_twirp_error(c->conn, "internal", "out of memory");
	else
		api_reply_ok(c, out);
}

void api_list_dispatch(struct call_ctx *c)
{
	static const char *const strs[] = {"room", "dispatchId", NULL};
	json_t *out = NULL;
	int err;

	if (!api_check_types(c, strs) || !have_agents(c))
		return;
	err = lkagent_dispatch_list(c->api->prm.lkagent, api_req_str(c, "room"),
	                            api_req_str(c, "dispatchId"), &out);
	if (err == ENOENT)
		api_twirp_error(c->conn, "not_found",
		                "requested room does not exist");
	else if (err)
		api_twirp_error(c->conn, "internal", "out of memory");
	else
		api_reply_ok(c, out);
}

void api_delete_dispatch(struct call_ctx *c)
{
	static const char *const strs[] = {"room", "dispatchId", NULL};
	json_t *out = NULL;
	int err;

	if (!api_check_types(c, strs) || !have_agents(c))
		return;
	err =
	    lkagent_dispatch_delete(c->api->prm.lkagent, api_req_str(c, "room"),
	                            api_req_str(c, "dispatchId"), &out);
	if (err == ENOENT)
		api_twirp_error(c->conn, "not_found",
		                "requested room does not exist");
	else if (err == ESRCH)
		api_twirp_error(c->conn, "not_found", "dispatch ID not found");
	else if (err)
		api_twirp_error(c->conn, "internal", "out of memory");
	else
		api_reply_ok(c, out);
}
