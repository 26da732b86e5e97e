/*
 * brain: realtime, the model's function calls (pipeline_realtime.c).
 * Apart because a call is the model's words run through the same checked
 * handlers as the LLM brain's (brain_tool_run), a part that grows with
 * the tools while the session's audio does not.
 *
 * Function calls. The model is offered the LLM brain's tools
 * (pipeline_tools: end_call, and transfer_call when transfer_to is set)
 * in the Realtime API's format, and its calls run through the same
 * handlers (brain_tool_run), checked the same way. Each call's result
 * goes back as its function_call_output, in the session it was made in,
 * even once the reply is gone, so the model's history stays whole. Once
 * the response is done and every call answered: a result that ends the
 * reply (end_call, a transfer under way) ends it, its words said by the
 * embedded voice if the model said nothing, and end_call hangs up once
 * that is played; otherwise (a transfer refused, a call refused) the
 * model is asked again (response.create) and says what follows in the
 * same reply, as the LLM brain's next round does. A reply takes at most
 * BRAIN_TOOL_ROUNDS responses, the last asked for words only; a model
 * that calls tools all the same ends it with the apology.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/log.h"
#include "worker/pipeline_realtime_int.h"

/* A function call of the model's, until its tool answers. */
struct rt_call {
	struct prt *t; /* pipeline_tools_reset drops the call before it goes */
	uint32_t utt;  /* the reply it came in */
	unsigned session;
	char id[RT_ID_MAX];
};

/* The reply's response is done and every call answered: the model says
 * what follows the results, or the reply ends. */
void prt_round_over(struct prt *t)
{
	struct pipeline *p = t->p;
	struct reply *r = prt_my_reply(t);
	char why[80];

	if (!r)
		return;
	if (t->overrun) {
		snprintf(why, sizeof(why),
		         "the model called tools past %d responses",
		         BRAIN_TOOL_ROUNDS);
		prt_fail(t, why, 0);
		return;
	}
	if (t->again && !t->end && t->rounds < BRAIN_TOOL_ROUNDS) {
		t->again = t->resp_over = false;
		t->resp[0] = '\0';
		t->want = t->sep = true;
		prt_stage_arm(t);
		prt_ask(t);
		return;
	}
	prt_clause_end(r);
	r->hangup = t->hangup;
	if (!r->made && t->say)
		prt_say_embedded(p, r, t->say);
	prt_reply_forget(t);
	r->brain_done = r->brain_over = true;
	pipeline_reply_check(r);
	pipeline_pump(p);
}

static void call_output(struct prt *t, const char *call_id, const char *error)
{
	json_t *o = json_pack("{s:s}", "error", error);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	(void)rt_call_output(t->rt, call_id,
	                     s ? s : "{\"error\":\"the call failed\"}");
	free(s);
}

static void tool_answered(const struct brain_tool_result *res, void *arg)
{
	struct rt_call *c = arg;
	struct prt *t = c->t;

	/* Answered in the session it was made in, whatever became of the
	 * reply: a new session knows no such call. */
	if (c->session == t->sessions && rt_up(t->rt))
		(void)rt_call_output(t->rt, c->id,
		                     res->content ? res->content : "{}");
	/* The reply was cut, or failed, meanwhile: nothing more to say. */
	if (!t->utt || c->utt != t->utt || !t->calls)
		return;
	t->calls--;
	if (res->end || res->hangup)
		t->end = true;
	else
		t->again = true;
	t->hangup |= res->hangup;
	if (res->say && res->say[0] && !t->say)
		t->say = strdup(res->say);
	if (t->resp_over && !t->calls)
		prt_round_over(t);
}

void prt_on_call(struct prt *t, const struct rt_event *ev)
{
	const struct pipeline_config *cfg = t->p->cfg;
	const struct brain_tool *tools;
	struct rt_call *c;
	const char *why = NULL;
	char q[2 * RT_ID_MAX + 8];
	size_t n;
	int err;

	if (!prt_my_reply(t) || strcmp(ev->response_id, t->resp))
		return;
	log_event(LOGL_INFO, cfg->call_id, "realtime_call", "name=\"%s\"",
	          log_quote(q, sizeof(q), ev->name));
	if (t->rounds >= BRAIN_TOOL_ROUNDS) {
		t->overrun = true;
		call_output(t, ev->call_id, "no more tool calls in this reply");
		return;
	}
	c = mem_zalloc(sizeof(*c), NULL);
	if (!c) {
		call_output(t, ev->call_id, "out of memory");
		t->again = true;
		return;
	}
	c->t = t;
	c->utt = t->utt;
	c->session = t->sessions;
	snprintf(c->id, sizeof(c->id), "%s", ev->call_id);
	tools = pipeline_tools(cfg->transfer_to && cfg->transfer_to[0], &n);
	t->calls++;
	err = brain_tool_run(tools, n, ev->name, ev->text, t->p, tool_answered,
	                     c, &why);
	mem_deref(c);
	if (err) {
		/* The model is told why, and says what follows. */
		t->calls--;
		call_output(t, ev->call_id, why);
		t->again = true;
	}
}

/* The LLM brain's tools, as the Realtime API's session takes them. */
char *prt_tools_json(const struct pipeline_config *cfg)
{
	size_t n;
	const struct brain_tool *tools =
	    pipeline_tools(cfg->transfer_to && cfg->transfer_to[0], &n);
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; a && i < n; i++) {
		const struct llm_tool *d = &tools[i].def;
		json_t *prm = json_loads(d->parameters, 0, NULL);

		if (!json_is_object(prm) ||
		    json_array_append_new(
		        a, json_pack("{s:s,s:s,s:s,s:o}", "type", "function",
		                     "name", d->name, "description",
		                     d->description, "parameters", prm))) {
			json_decref(a);
			return NULL;
		}
	}
	s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}
