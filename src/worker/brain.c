/*
 * A brain's reply (brain.h): started for a turn, handed out in pieces and
 * ended once, and the LLM brain's rounds with the model in between. The
 * script and echo brains' answers (brain_script.c) and the tool calls
 * (brain_tool.c) are apart: this file is only the reply's life.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include "core/utf8.h"
#include "worker/brain_int.h"

struct brain_reply {
	struct reply_run *r;
};

/* A round's words kept for its assistant message; a longer text is cut,
 * the model's own words past it mattering little to the next round. */
#define ROUND_TEXT_MAX 4096

static void msgs_free(struct reply_run *r)
{
	for (size_t i = 0; i < r->nmsgs; i++) {
		free((char *)r->msgs[i].role);
		free((char *)r->msgs[i].content);
		free((char *)r->msgs[i].tool_call_id);
		free((struct llm_tool_call *)r->msgs[i].calls);
	}
	free(r->msgs);
}

static void run_destructor(void *arg)
{
	struct reply_run *r = arg;

	tmr_cancel(&r->tmr);
	mem_deref(r->chat);
	free(r->text);
	if (r->pending) {
		r->pending->r = NULL;
		mem_deref(r->pending);
	}
	msgs_free(r);
	free(r->defs);
	free(r->round_text);
	free(r->calls);
	free(r->say);
}

static void handle_destructor(void *arg)
{
	struct brain_reply *h = arg;
	struct reply_run *r = h->r;

	r->h = NULL;
	tmr_cancel(&r->tmr);
	r->chat = mem_deref(r->chat);
	mem_deref(r);
}

static void fixed_answer(void *arg)
{
	struct reply_run *r = mem_ref(arg);

	if (r->h && r->text[0])
		r->texth(r->text, strlen(r->text), r->arg);
	if (r->h)
		r->doneh(0, "", r->hangup, r->arg);
	mem_deref(r);
}

/* Appends a message whose strings are copied (content, id: NULL = none)
 * and whose calls are taken. */
int brain_msg_add(struct reply_run *r, const char *role, const char *content,
                  const char *id, struct llm_tool_call *calls, size_t ncalls)
{
	struct llm_message *m;

	if (r->nmsgs == r->capmsgs) {
		size_t cap = r->capmsgs ? 2 * r->capmsgs : 8;

		m = realloc(r->msgs, cap * sizeof(*m));
		if (!m)
			return ENOMEM;
		r->msgs = m;
		r->capmsgs = cap;
	}
	m = &r->msgs[r->nmsgs];
	memset(m, 0, sizeof(*m));
	m->role = strdup(role);
	m->content = content ? strdup(content) : NULL;
	m->tool_call_id = id ? strdup(id) : NULL;
	if (!m->role || (content && !m->content) || (id && !m->tool_call_id)) {
		free((char *)m->role);
		free((char *)m->content);
		free((char *)m->tool_call_id);
		return ENOMEM;
	}
	m->calls = calls;
	m->ncalls = ncalls;
	r->nmsgs++;
	return 0;
}

static void say(struct reply_run *r, const char *text, size_t len)
{
	if (!len || !r->h)
		return;
	r->said = true;
	r->space = strchr(" \t\r\n", text[len - 1]) != NULL;
	r->texth(text, len, r->arg);
}

static void llm_text(const char *text, size_t len, void *arg)
{
	struct reply_run *r = arg;

	if (!r->h)
		return;
	/* A round's words follow the last one's as a new sentence would. */
	if (!r->round_got && r->said && !r->space)
		say(r, " ", 1);
	r->round_got = true;
	if (!r->round_full) {
		size_t n = len;
		char *t;

		/* Cut on a character: the text goes back as JSON. */
		if (n > ROUND_TEXT_MAX - r->round_len) {
			n = utf8_trim(text, ROUND_TEXT_MAX - r->round_len);
			r->round_full = true;
		}
		t = realloc(r->round_text, r->round_len + n + 1);
		if (t) {
			memcpy(t + r->round_len, text, n);
			r->round_len += n;
			t[r->round_len] = '\0';
			r->round_text = t;
		}
	}
	if (r->h)
		say(r, text, len);
}

/* The reply is over: what the tools asked to be said if the model said
 * nothing, then doneh. */
static void finish(struct reply_run *r, int err, const char *why)
{
	if (!err && !r->said && r->say)
		say(r, r->say, strlen(r->say));
	if (r->h)
		r->doneh(err, err ? why : "", !err && r->hangup, r->arg);
}

static void llm_done(int err, const char *why, void *arg);

static int round_start(struct reply_run *r, const char **why)
{
	struct llm_params p = r->cfg->llm;

	p.tools = r->defs;
	p.ntools = r->defs ? r->cfg->ntools : 0;
	/* The last completion is asked for words: the caller must hear
	 * something. */
	p.tools_off = p.ntools && r->round + 1 >= BRAIN_TOOL_ROUNDS;
	r->round++;
	r->round_len = 0;
	r->round_full = false;
	r->round_got = false;
	r->chat = mem_deref(r->chat);
	return llm_chat_start(&r->chat, r->hc, &p, r->msgs, r->nmsgs, llm_text,
	                      llm_done, r, why);
}
/* Runs the calls not yet run, one at a time; then ends the reply or asks
 * the model again. */
void brain_run_tools(struct reply_run *r)
{
	const char *why = NULL;
	int err;

	if (r->running)
		return;
	if (r->hold) {
		r->calls_due = true;
		return;
	}
	mem_ref(r);
	r->running = true;
	while (r->h && !r->pending && r->next < r->ncalls)
		brain_call_one(r);
	r->running = false;
	if (r->h && !r->pending && r->next == r->ncalls) {
		if (r->end) {
			finish(r, 0, "");
		} else {
			err = round_start(r, &why);
			if (err)
				finish(r, err, why);
		}
	}
	mem_deref(r);
}

static void tools_due(void *arg)
{
	struct reply_run *r = arg;

	r->chat = mem_deref(r->chat);
	brain_run_tools(r);
}

void brain_reply_hold(struct brain_reply *h, bool hold)
{
	struct reply_run *r = h ? h->r : NULL;

	if (!r || r->hold == hold)
		return;
	r->hold = hold;
	if (!hold && r->calls_due) {
		r->calls_due = false;
		tmr_start(&r->tmr, 0, tools_due, r);
	}
}

static void llm_done(int err, const char *why, void *arg)
{
	struct reply_run *r = mem_ref(arg);
	const struct llm_tool_call *calls;
	struct llm_tool_call *mine;
	size_t n = 0;
	char what[80];

	if (!r->h)
		goto out;
	calls = err ? NULL : llm_chat_calls(r->chat, &n, NULL);
	if (err || !n) {
		finish(r, err, why);
		goto out;
	}
	if (r->round >= BRAIN_TOOL_ROUNDS) {
		snprintf(what, sizeof(what),
		         "the model called tools past %d completions",
		         BRAIN_TOOL_ROUNDS);
		finish(r, EPROTO, what);
		goto out;
	}
	free(r->calls);
	r->calls = malloc(n * sizeof(*r->calls));
	/* The assistant message owns its copy, the run another. */
	mine = malloc(n * sizeof(*mine));

	if (!r->calls || !mine) {
		free(mine);
		finish(r, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(r->calls, calls, n * sizeof(*calls));
	for (size_t i = 0; i < n; i++)
		if (!r->calls[i].id[0])
			snprintf(r->calls[i].id, sizeof(r->calls[i].id),
			         "call_%u_%zu", r->round, i);
	memcpy(mine, r->calls, n * sizeof(*mine));
	r->ncalls = n;
	r->next = 0;
	if (brain_msg_add(r, "assistant", r->round_len ? r->round_text : NULL,
	                  NULL, mine, n)) {
		free(mine);
		finish(r, ENOMEM, "out of memory");
		goto out;
	}
	/* Not from inside the chat's handler, which runs within the HTTP
	 * client's transfer: the next round's request could not start
	 * there. */
	tmr_start(&r->tmr, 0, tools_due, r);
out:
	mem_deref(r);
}

static int llm_start(struct reply_run *r, const struct brain_config *cfg,
                     struct httpc *hc, const struct llm_message *history,
                     size_t n, const char **why)
{
	int err = 0;

	r->cfg = cfg;
	r->hc = hc;
	if (cfg->system_prompt && cfg->system_prompt[0])
		err = brain_msg_add(r, "system", cfg->system_prompt, NULL, NULL,
		                    0);
	for (size_t i = 0; !err && i < n; i++)
		err = brain_msg_add(r, history[i].role, history[i].content,
		                    NULL, NULL, 0);
	if (!err && cfg->ntools) {
		r->defs = calloc(cfg->ntools, sizeof(*r->defs));
		if (!r->defs)
			err = ENOMEM;
		for (size_t i = 0; !err && i < cfg->ntools; i++)
			r->defs[i] = cfg->tools[i].def;
	}
	if (err) {
		*why = "out of memory";
		return err;
	}
	return round_start(r, why);
}

int brain_reply_start(struct brain_reply **rp, const struct brain_config *cfg,
                      struct httpc *hc, const struct llm_message *history,
                      size_t n, brain_text_h *texth, brain_done_h *doneh,
                      void *arg, const char **why)
{
	const char *reason = NULL, *reply;
	struct brain_reply *h = NULL;
	struct reply_run *r = NULL;
	int err;

	if (!rp || !cfg || !history || !n || !texth || !doneh ||
	    !history[n - 1].content || (cfg->ntools && !cfg->tools)) {
		reason = "no history or no handler";
		err = EINVAL;
		goto out;
	}
	r = mem_zalloc(sizeof(*r), run_destructor);
	h = r ? mem_zalloc(sizeof(*h), handle_destructor) : NULL;
	if (!h) {
		mem_deref(r);
		r = NULL;
		err = ENOMEM;
		goto out;
	}
	tmr_init(&r->tmr);
	r->texth = texth;
	r->doneh = doneh;
	r->arg = arg;
	r->h = h;
	h->r = r;
	switch (cfg->kind) {
	case BRAIN_ECHO:
		err = brain_echo_text(history[n - 1].content, &r->text);
		break;
	case BRAIN_SCRIPT:
		if (!cfg->script || !cfg->script->has_fallback) {
			reason = "no script loaded";
			err = EINVAL;
			break;
		}
		err = brain_script_reply(cfg->script, history[n - 1].content,
		                         &reply, &r->hangup);
		if (!err && !(r->text = strdup(reply)))
			err = ENOMEM;
		break;
	case BRAIN_LLM:
		if (!hc) {
			reason = "no HTTP client for the LLM";
			err = EINVAL;
			break;
		}
		err = llm_start(r, cfg, hc, history, n, &reason);
		break;
	default:
		reason = "unknown brain";
		err = EINVAL;
		break;
	}
	if (!err && r->text)
		tmr_start(&r->tmr, 0, fixed_answer, r);
	if (err) {
		mem_deref(h);
		goto out;
	}
	*rp = h;
	return 0;
out:
	if (why)
		*why = reason ? reason : strerror(err);
	return err;
}
