/*
 * The brain's insides, shared by its files and by no one else: brain.c
 * (a reply's life and the LLM's rounds), brain_script.c (the script and
 * echo brains) and brain_tool.c (the tool calls). All of it runs on the
 * loop thread.
 */
#ifndef VOXGATE_WORKER_BRAIN_INT_H
#define VOXGATE_WORKER_BRAIN_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include "core/libre.h"

#include "worker/brain.h"
#include "worker/llm.h"

/* One alternative of a pattern: words that must all be heard. */
struct alt {
	char **words;
	size_t n;
};

/* A rule, or the fallback (which has no alternatives). */
struct item {
	struct alt *alts;
	size_t nalts;
	char *reply;
	bool hangup;
	unsigned line; /* where it starts, for errors */
};

struct brain_script {
	struct item *rules;
	size_t nrules;
	struct item fallback;
	bool has_fallback;
	/* Why the last load failed, "file:line: ..." */
	char why[PATH_MAX + 128];
};

/*
 * A reply in flight. The echo and script brains know their answer at
 * once; it is handed out from a 0 ms timer so that every brain answers
 * the same way, never from inside brain_reply_start. The LLM's comes from
 * its chat, round after round while the model calls tools. The handle the
 * caller holds is apart from this, so that its release inside a handler
 * only marks the reply: each entry from the loop holds a reference until
 * it returns.
 */
struct reply_run {
	struct brain_reply *h; /* NULL once released */
	struct llm_chat *chat;
	struct tmr tmr;
	char *text; /* echo, script */
	bool hangup;
	brain_text_h *texth;
	brain_done_h *doneh;
	void *arg;

	/* the LLM's rounds */
	const struct brain_config *cfg;
	struct httpc *hc;
	struct llm_message *msgs; /* every string owned */
	size_t nmsgs, capmsgs;
	struct llm_tool *defs; /* cfg's tools as a chat takes them */
	unsigned round;        /* completions started */
	char *round_text;      /* this round's words, for its message */
	size_t round_len;
	bool round_full; /* ... cut at ROUND_TEXT_MAX */
	bool round_got;  /* this round said something */
	bool said;       /* words went to texth */
	bool space;      /* ... and the last of them was a space */
	/* the calls of the last round, run one after the other */
	struct llm_tool_call *calls;
	size_t ncalls, next;
	struct brain_tool_call *pending; /* its handler has not answered */
	bool running;                    /* run_tools is on the stack */
	bool hold;                       /* brain_reply_hold: the calls wait */
	bool calls_due;                  /* ... and some came */
	bool end;
	char *say;
};

/* The brain's reference is call->r, cleared once the call is answered or
 * the reply goes; the handler holds the object. A call of brain_tool_run
 * has no reply: its answer goes to ah instead. */
struct brain_tool_call {
	struct reply_run *r;
	brain_tool_answer_h *ah;
	void *aarg; /* held */
};

/* brain_script.c */
int brain_script_reply(const struct brain_script *s, const char *heard,
                       const char **replyp, bool *hangup);
int brain_echo_text(const char *heard, char **textp);

/* brain.c */
int brain_msg_add(struct reply_run *r, const char *role, const char *content,
                  const char *id, struct llm_tool_call *calls, size_t ncalls);
void brain_run_tools(struct reply_run *r);

/* brain_tool.c */
void brain_call_one(struct reply_run *r);

#endif
