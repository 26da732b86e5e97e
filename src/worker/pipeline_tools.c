/*
 * The tools a call's model is offered (pipeline.h, pipeline_tools):
 * end_call and transfer_call, to the LLM brain as chat tools and to the
 * Realtime model as its session's functions (pipeline_realtime.c runs
 * them through brain_tool_run). Each is a row of the table below; another
 * tool joins it with its own handler, and neither brain nor their
 * parsers change.
 *
 * transfer_call asks the server (ops->transfer, the agent protocol's
 * "transfer") and waits for its answer on the loop, at most
 * TRANSFER_WAIT_MS for the server to say the far side took it, then at
 * most TRANSFER_RING_MS for the outcome, since the target rings: the SIP
 * edge decides whether and how the call moves.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include "core/log.h"
#include "worker/brain.h"
#include "worker/pipeline_int.h"

#define GOODBYE          "Thank you for calling. Goodbye."
#define TRANSFER_REFUSAL "I can't transfer your call right now."
#define TRANSFER_HOLD    "Please hold while I transfer your call."
#define TRANSFER_WAIT_MS 5000
#define TRANSFER_RING_MS 45000

static int end_call(struct brain_tool_call *call, const char *args, void *arg,
                    const char **why)
{
	static const struct brain_tool_result r = {
	    .content = "{\"ok\":true,\"status\":\"the call ends after your "
	               "goodbye\"}",
	    .say = GOODBYE,
	    .hangup = true,
	};
	struct pipeline *p = arg;

	(void)args;
	(void)why;
	log_event(LOGL_INFO, p->cfg->call_id, "agent_tool", "tool=end_call");
	brain_tool_answer(call, &r);
	return 0;
}

/* The request in flight, if any, is answered with ok or the reason; the
 * model gets {"ok": true} or {"ok": false, "error": reason}. */
static void xfer_answer(struct pipeline *p, bool ok, const char *reason)
{
	struct brain_tool_call *call = p->xfer;
	struct brain_tool_result r = {0};
	json_t *o;
	char *content;

	if (!call)
		return;
	p->xfer = NULL;
	tmr_cancel(&p->xfer_tmr);
	o = ok ? json_pack("{s:b,s:s}", "ok", 1, "status",
	                   "the call is being transferred")
	       : json_pack("{s:b,s:s}", "ok", 0, "error",
	                   reason && reason[0] ? reason : "refused");
	content = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	r.content = content ? content : "{\"ok\":false}";
	/* Transferred, the reply ends: the server moves the call. Refused,
	 * the model is told and says what follows; if it says nothing, the
	 * refusal is said for it. */
	r.say = ok ? TRANSFER_HOLD : TRANSFER_REFUSAL;
	r.end = ok;
	brain_tool_answer(call, &r);
	free(content);
	mem_deref(call);
}

static void xfer_late(void *arg)
{
	struct pipeline *p = arg;

	log_event(LOGL_WARN, p->cfg->call_id, "agent_transfer_result",
	          "request=%u ok=false reason=\"no answer in time\"",
	          p->xfer_id);
	xfer_answer(p, false, "the server did not answer");
}

static int transfer_call(struct brain_tool_call *call, const char *args,
                         void *arg, const char **why)
{
	struct pipeline *p = arg;
	const char *to = p->cfg->transfer_to, *reason;
	json_t *o;

	if (!to || !to[0]) {
		*why = "transfers are not configured";
		return EPERM;
	}
	if (!p->ops->transfer) {
		*why = "transfers are not available";
		return ENOTSUP;
	}
	/* One at a time: an earlier request whose reply is gone is
	 * forgotten, and its late answer dropped. */
	xfer_answer(p, false, "superseded");
	p->xfer = mem_ref(call);
	p->xfer_id = ++p->xfer_seq;
	tmr_start(&p->xfer_tmr, TRANSFER_WAIT_MS, xfer_late, p);
	log_event(LOGL_INFO, p->cfg->call_id, "agent_tool",
	          "tool=transfer_call request=%u", p->xfer_id);
	/* The model's reason, for the server's log: the brain checked the
	 * arguments are an object; a reason that is not a string is none. */
	o = json_loads(args, 0, NULL);
	reason = json_string_value(json_object_get(o, "reason"));
	p->ops->transfer(p->arg, p->xfer_id, to, reason ? reason : "");
	json_decref(o);
	return 0;
}

void pipeline_transfer_result(struct pipeline *p, uint32_t request, bool ok,
                              const char *reason)
{
	if (!p || !p->xfer || request != p->xfer_id)
		return;
	xfer_answer(p, ok, reason);
	pipeline_pump(p);
}

void pipeline_transfer_accepted(struct pipeline *p, uint32_t request)
{
	if (!p || !p->xfer || request != p->xfer_id)
		return;
	log_event(LOGL_INFO, p->cfg->call_id, "agent_transfer_accepted",
	          "request=%u", request);
	tmr_start(&p->xfer_tmr, TRANSFER_RING_MS, xfer_late, p);
}

void pipeline_tools_reset(struct pipeline *p)
{
	tmr_cancel(&p->xfer_tmr);
	p->xfer = mem_deref(p->xfer);
}

/* transfer_call last: without transfers the table is its first row. */
static const struct brain_tool tools[] = {
    {{"end_call",
      "End the phone call. Call it when the conversation is over (the "
      "caller says goodbye or has nothing more to ask); say goodbye in "
      "the same reply. The call ends once the goodbye has been played.",
      "{\"type\":\"object\",\"properties\":{\"reason\":{\"type\":\"string\","
      "\"description\":\"Why the call ends, for the log.\"}},"
      "\"required\":[]}"},
     end_call},
    {{"transfer_call",
      "Transfer the caller to a person. Call it when the caller asks for "
      "a human or for something you cannot do. The result says whether "
      "the transfer goes ahead; if it does not, tell the caller.",
      "{\"type\":\"object\",\"properties\":{\"reason\":{\"type\":\"string\","
      "\"description\":\"Why the caller is transferred.\"}},"
      "\"required\":[]}"},
     transfer_call},
};

const struct brain_tool *pipeline_tools(bool transfer, size_t *n)
{
	*n = transfer ? 2 : 1;
	return tools;
}
