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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "worker/llm.h"

struct brain_script;

struct brain_config {
	enum brain_kind { BRAIN_ECHO, BRAIN_SCRIPT, BRAIN_LLM } kind;
	struct llm_params llm;     /* BRAIN_LLM */
	const char *system_prompt; /* BRAIN_LLM; NULL or "" = none */
	/* BRAIN_SCRIPT: made by brain_script_load, borrowed */
	const struct brain_script *script;
};

/*
 * Reads a script file into *sp, a mem object (mem_deref). EINVAL for a
 * malformed script, with the reason and the line ("booking.script:7: ...")
 * in why; an errno value from opening or reading the file otherwise, with
 * why naming the file.
 */
int brain_script_load(const char *path, struct brain_script **sp, char *why,
                      size_t whysz);

/* A piece of the reply, len bytes of UTF-8, valid only during the call. */
typedef void(brain_text_h)(const char *text, size_t len, void *arg);

/*
 * Blocking: answers the last message of history (n >= 1, the last one the
 * caller's) by handing the reply to h piece by piece. *hangup is set when
 * the call should end after this reply. run, the caller's as llm_chat
 * takes it, may be NULL: then nothing cancels the reply. Returns 0,
 * EINVAL, ECANCELED, or one of llm_chat's errors (the LLM brain) with a
 * one-line reason in err; text handed out before an error stays handed
 * out.
 */
int brain_reply(const struct brain_config *cfg,
                const struct llm_message *history, size_t n, brain_text_h *h,
                void *arg, struct llm_run *run, bool *hangup, char *err,
                size_t errsz);

#endif
