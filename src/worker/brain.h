/*
 * The brains of the agent: what it answers to what the caller said.
 *
 * echo   "You said: <transcript>." (the default);
 * script a dialog read from a file by brain_script_load;
 * llm    an OpenAI-compatible chat model, given the system prompt and the
 *        conversation so far, and the tools of brain_config to call: a
 *        reply with calls runs them (handlers in the table), sends their
 *        results back as OpenAI expects (the assistant message with its
 *        tool_calls, a "tool" message for each) and asks again, at most
 *        BRAIN_TOOL_ROUNDS completions a turn. A call to no tool of the
 *        table, or with arguments that are not a JSON object, is answered
 *        to the model with the error.
 *
 * A brain hands its reply out as text pieces as they come, so the pipeline
 * can speak the first clause while the rest is still being written. It is
 * called with the history of the call (user and assistant messages, the
 * last one the caller's), never with an empty transcript: what to do about
 * silence is the pipeline's business.
 *
 * Script format, one item per line (see examples/booking.script):
 *
 *   # text          a comment; blank lines are ignored too
 *   > words | more  a rule's pattern: alternatives separated by |; an
 *                   alternative matches when each of its words occurs in
 *                   what the caller said (any order, any case, whole
 *                   words). Further > lines add alternatives to the rule.
 *   < text          the rule's reply; further < lines continue it.
 *   ? text          the fallback reply, when no rule matches; exactly one.
 *                   Further < lines continue it.
 *   ! hangup        the call ends once the reply above has been played.
 *
 * Rules are tried in the order of the file and the first match answers.
 */
#ifndef VOXGATE_WORKER_BRAIN_H
#define VOXGATE_WORKER_BRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/llm.h"

struct brain_script;
struct brain_tool_call;

/*
 * What a tool call comes to, given by its handler. content goes back to
 * the model as the "tool" message; unless end, the model is asked again
 * with it, to say what follows. say is said when the reply ends with
 * nothing said (the model's own words come first); hangup ends the call
 * once the reply has been played, and implies end.
 */
struct brain_tool_result {
	const char *content;
	const char *say;
	bool end;
	bool hangup;
};

/*
 * A tool's handler, on the loop: args is the call's arguments, a JSON
 * object (checked by the brain). It answers with brain_tool_answer, at
 * once or later from the loop, holding a reference to call (mem_ref) until
 * then; the reply may be gone by then, and the answer is dropped. Returns
 * 0, or an errno value and a reason in *why (a static string, since
 * brain_tool_run hands it on), then the model is told the call failed and
 * why, and answer is not called.
 * arg: the reply's handler argument (brain_reply_start's).
 */
typedef int(brain_tool_h)(struct brain_tool_call *call, const char *args,
                          void *arg, const char **why);

/* One tool the LLM brain offers: more join the table without touching
 * the brain or the stream's parser. */
struct brain_tool {
	struct llm_tool def; /* name, description, parameters (JSON Schema) */
	brain_tool_h *h;
};

/* r is copied; a second answer, or one after the reply is gone, is
 * dropped. */
void brain_tool_answer(struct brain_tool_call *call,
                       const struct brain_tool_result *r);

/* Where the answer to a call run by brain_tool_run goes: once, on the
 * loop, with arg (brain_tool_run's aarg); r is valid during the call. */
typedef void(brain_tool_answer_h)(const struct brain_tool_result *r, void *arg);

/*
 * Runs a call of another model than the LLM brain's (the Realtime model's
 * function calls) on the same tools, checked as the LLM brain checks its
 * own: the tool of tools[0..n) named name, with args ("" = {}) that must
 * be a JSON object; its handler is given arg. The answer goes to ah, at
 * once or later from the loop; aarg, a mem object, is held until then
 * (or until the handler drops the call unanswered). 0; or an errno value
 * with the reason in *why, a static string (no such tool, arguments that
 * are not an object, the handler's refusal), and ah is not called.
 */
int brain_tool_run(const struct brain_tool *tools, size_t n, const char *name,
                   const char *args, void *arg, brain_tool_answer_h *ah,
                   void *aarg, const char **why);

/* Completions a turn may take: the first, and those that follow tool
 * calls. The last is asked for words only ("tool_choice": "none"); a
 * model that calls tools all the same ends the turn with an error. */
#define BRAIN_TOOL_ROUNDS 3

struct brain_config {
	/* BRAIN_REALTIME: the pipeline talks to the model itself
	 * (pipeline_realtime.c); brain_reply_start refuses it. */
	enum brain_kind {
		BRAIN_ECHO,
		BRAIN_SCRIPT,
		BRAIN_LLM,
		BRAIN_REALTIME
	} kind;
	struct llm_params llm;     /* BRAIN_LLM (its tools: below) */
	const char *system_prompt; /* BRAIN_LLM, BRAIN_REALTIME; NULL or ""
	                              = none */
	/* BRAIN_LLM: the tools offered, borrowed; none = a plain chat */
	const struct brain_tool *tools;
	size_t ntools;
	/* BRAIN_SCRIPT: loaded by brain_script_load, borrowed */
	const struct brain_script *script;
};

/* A script with nothing loaded yet, a mem object (mem_deref). ENOMEM. */
int brain_script_alloc(struct brain_script **sp);

/*
 * Reads the script file at path into s, in place of what s held. EINVAL
 * for a malformed script, with the reason and the line
 * ("booking.script:7: ...") in *why; an errno value from opening or
 * reading the file otherwise, with *why naming the file. The reason is
 * kept in s: valid as long as s, until its next load. On failure s holds
 * no script, and a script brain on it answers EINVAL.
 */
int brain_script_load(struct brain_script *s, const char *path,
                      const char **why);

/* A piece of the reply, len bytes of UTF-8, valid only during the call. */
typedef void(brain_text_h)(const char *text, size_t len, void *arg);
/* The reply is over: err 0 (then hangup says whether the call should end
 * once it has been played) or why it failed, in why (valid during the
 * call); text handed out before an error stays handed out. The reply may
 * be released here. */
typedef void(brain_done_h)(int err, const char *why, bool hangup, void *arg);

struct httpc;
struct brain_reply;

/*
 * Answers the last message of history (n >= 1, the last one the caller's)
 * on the calling thread's loop: the reply goes to texth piece by piece,
 * then doneh is called once. hc carries the LLM brain's requests (unused
 * by the others). history is copied. *rp is a mem object; its release,
 * anywhere (in the handlers too), cancels the reply and no handler is
 * called after it. No handler is called from inside brain_reply_start.
 * Returns EINVAL (bad arguments, no script loaded), ENOMEM, or an error of
 * llm_chat_start, with a one-line reason in *why; the errors of the reply
 * itself (the LLM's: ETIMEDOUT, ECONNREFUSED, EPROTO, EIO) come to doneh.
 */
int brain_reply_start(struct brain_reply **rp, const struct brain_config *cfg,
                      struct httpc *hc, const struct llm_message *history,
                      size_t n, brain_text_h *texth, brain_done_h *doneh,
                      void *arg, const char **why);

/*
 * While held, the tool calls of the reply wait to be run (their handlers
 * act on the call: a transfer must not start for a reply that may never
 * be said); the text goes on coming. Released, the calls that came are
 * run from the loop, never from inside this call.
 */
void brain_reply_hold(struct brain_reply *h, bool hold);

#endif
