/*
 * The tools' side of the brain (brain.h): a model's call checked against
 * the table, run through its handler and answered, whether it came from
 * the LLM brain's rounds (brain.c) or from a Realtime session
 * (brain_tool_run). Apart because every call's name and arguments are the
 * model's words, checked here in one place for both brains.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include "core/log.h"
#include "worker/brain_int.h"

static void call_destructor(void *arg)
{
	struct brain_tool_call *call = arg;

	mem_deref(call->aarg);
}

/* The tool a call names, its arguments checked: *args made "{}" when
 * empty. NULL when refused, the reason in why. */
static const struct brain_tool *tool_check(const struct brain_tool *tools,
                                           size_t n, const char *name,
                                           const char **args, const char **why)
{
	const struct brain_tool *tool = NULL;
	char q[2 * LLM_TOOL_NAME_MAX + 8], what[2 * JSON_ERROR_TEXT_LENGTH];
	const char *a = *args;
	json_error_t jerr;
	json_t *o;

	for (size_t i = 0; !tool && i < n; i++)
		if (tools[i].def.name && !strcmp(tools[i].def.name, name))
			tool = &tools[i];
	/* The model's words: quoted for the log. */
	log_quote(q, sizeof(q), name);
	if (!tool) {
		log_event(LOGL_WARN, NULL, "llm_tool_unknown", "name=\"%s\"",
		          q);
		*why = "there is no tool of that name";
		return NULL;
	}
	/* Some servers send no arguments at all for a call without any. */
	while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
		a++;
	if (!*a)
		a = "{}";
	o = json_loads(a, 0, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		log_event(LOGL_WARN, NULL, "llm_tool_bad_arguments",
		          "name=\"%s\" error=\"%s\"", q,
		          log_quote(what, sizeof(what),
		                    o ? "not an object" : jerr.text));
		*why = "the arguments are not a JSON object";
		return NULL;
	}
	json_decref(o);
	*args = a;
	return tool;
}

/* The tool message answering the call being run; the next one is run. */
static void result_add(struct reply_run *r, const char *content)
{
	/* Out of memory, the answer is missing, and the server says so
	 * at the next round: the turn ends with the apology. */
	(void)brain_msg_add(r, "tool", content, r->calls[r->next].id, NULL, 0);
	r->next++;
}

static void result_error(struct reply_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* {"error": "..."}, as models read a failed call. */
static void result_error(struct reply_run *r, const char *fmt, ...)
{
	char text[300], *s = NULL;
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	o = json_pack("{s:s}", "error", text);
	if (!o)
		o = json_pack("{s:s}", "error", "the call failed");
	if (o)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	result_add(r, s ? s : "{\"error\":\"out of memory\"}");
	free(s);
}

void brain_call_one(struct reply_run *r)
{
	const struct llm_tool_call *c = &r->calls[r->next];
	const struct brain_tool *tool;
	struct brain_tool_call *call;
	const char *args = c->args, *why = NULL;
	int err;

	if (c->args_cut) {
		result_error(r, "the arguments are longer than %d bytes",
		             LLM_TOOL_ARGS_MAX);
		return;
	}
	tool = tool_check(r->cfg->tools, r->cfg->ntools, c->name, &args, &why);
	if (!tool) {
		result_error(r, "%s", why);
		return;
	}
	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		result_error(r, "out of memory");
		return;
	}
	call->r = r;
	r->pending = call;
	err = tool->h(call, args, r->arg, &why);
	if (err && r->pending == call) {
		call->r = NULL;
		r->pending = NULL;
		mem_deref(call);
		result_error(r, "%s", why && why[0] ? why : strerror(err));
	}
}

int brain_tool_run(const struct brain_tool *tools, size_t n, const char *name,
                   const char *args, void *arg, brain_tool_answer_h *ah,
                   void *aarg, const char **why)
{
	const struct brain_tool *tool;
	struct brain_tool_call *call;
	const char *hwhy = NULL, *unused;
	int err;

	if (!why)
		why = &unused;
	if (!tools || !name || !args || !ah) {
		*why = "no tool or no call";
		return EINVAL;
	}
	tool = tool_check(tools, n, name, &args, why);
	if (!tool)
		return EINVAL;
	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		*why = "out of memory";
		return ENOMEM;
	}
	call->ah = ah;
	call->aarg = mem_ref(aarg);
	err = tool->h(call, args, arg, &hwhy);
	if (err) {
		/* Refused: no answer, even a late one. */
		call->ah = NULL;
		*why = hwhy && hwhy[0] ? hwhy : strerror(err);
	}
	mem_deref(call);
	return err;
}

void brain_tool_answer(struct brain_tool_call *call,
                       const struct brain_tool_result *res)
{
	struct reply_run *r = call ? call->r : NULL;

	if (call && call->ah && res) {
		brain_tool_answer_h *ah = call->ah;

		call->ah = NULL;
		ah(res, call->aarg);
		return;
	}
	if (!r || !res)
		return;
	call->r = NULL;
	if (r->pending == call) {
		r->pending = NULL;
		mem_deref(call);
	}
	r->end |= res->end || res->hangup;
	r->hangup |= res->hangup;
	if (res->say && res->say[0] && !r->say)
		r->say = strdup(res->say);
	result_add(r, res->content ? res->content : "{}");
	brain_run_tools(r);
}
