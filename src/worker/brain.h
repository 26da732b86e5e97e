/*
 * The brains of the agent: what it answers to what the caller said.
 *
 * echo   "You said: <transcript>." (the default);
 * script a dialog read from a file by brain_script_load;
 * llm    an OpenAI-compatible chat model, given the system prompt and the
 *        conversation so far.
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

struct brain_config {
	/* BRAIN_REALTIME: the pipeline talks to the model itself
	 * (pipeline_realtime.c); brain_reply_start refuses it. */
	enum brain_kind {
		BRAIN_ECHO,
		BRAIN_SCRIPT,
		BRAIN_LLM,
		BRAIN_REALTIME
	} kind;
	struct llm_params llm;     /* BRAIN_LLM */
	const char *system_prompt; /* BRAIN_LLM, BRAIN_REALTIME; NULL or ""
	                              = none */
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

#endif
