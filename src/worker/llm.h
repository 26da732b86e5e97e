/*
 * A client for OpenAI-compatible streaming chat completions (OpenAI, Groq,
 * vLLM, llama.cpp server, Ollama ...): POST {base_url}/chat/completions
 * with "stream": true, the reply read as Server-Sent Events and handed out
 * piece by piece as it arrives, so an agent can start speaking on the
 * first clause. Also the clause splitter that decides when to start.
 */
#ifndef VOXGATE_WORKER_LLM_H
#define VOXGATE_WORKER_LLM_H

#include <stdatomic.h>
#include <stddef.h>

struct llm_params {
	/* e.g. "http://127.0.0.1:8080/v1"; no trailing /chat/completions */
	const char *base_url;
	const char *api_key; /* "" or NULL = no Authorization header */
	const char *model;
	double temperature;  /* < 0 = not sent */
	unsigned max_tokens; /* 0 = not sent */
	/* The three timeouts count from the start of the call; 0 means the
	 * default given. */
	unsigned connect_timeout_ms;     /* 2000 */
	unsigned first_token_timeout_ms; /* 5000: no text by then, ETIMEDOUT */
	unsigned total_timeout_ms;       /* 30000 */
};

/* Fills p with the defaults above, temperature -1, max_tokens 0 and
 * NULL strings. */
void llm_params_default(struct llm_params *p);

/* One chat message, role "system", "user" or "assistant". */
struct llm_message {
	const char *role;
	const char *content;
};

/* A piece of the reply's text, len bytes of UTF-8, not NUL-terminated and
 * only valid during the call; pieces come in order and are never empty. */
typedef void(llm_delta_h)(const char *text, size_t len, void *arg);

/*
 * What a chat shares with its caller, who keeps it with the rest of its
 * per-call state (the pipeline: one per phone call, for the chat in
 * flight): cancel, which any thread may set to cut the chat, and the
 * reason the last chat failed. Reasons are mostly made at run time (an
 * HTTP status and the server's message, curl's error, the URL), so they
 * need a home that outlives the chat. Set up with llm_run_init.
 */
#define LLM_WHY_MAX 256

struct llm_run {
	atomic_bool cancel;
	char why[LLM_WHY_MAX];
};

/* cancel false, no reason. */
void llm_run_init(struct llm_run *run);

/*
 * Blocking: runs one chat completion on the calling thread and streams the
 * reply's text to h as it arrives. run->cancel, when run is not NULL, is
 * polled at least every 50 ms, even while the server is silent, and aborts
 * with ECANCELED. Returns 0, EINVAL (bad arguments), ENOMEM, ECANCELED,
 * ETIMEDOUT, ECONNREFUSED (cannot resolve or connect), EPROTO (malformed
 * stream, or one that ends before "[DONE]"), or EIO (HTTP error status, an
 * error reported inside the stream, or another transfer failure). On an
 * error, the text handed out so far stays handed out, and *why (when why
 * is not NULL) is a one-line reason: in run->why, valid as long as run and
 * until its next chat; without run, only the error's name (strerror).
 */
int llm_chat(const struct llm_params *p, const struct llm_message *msgs,
             size_t n, llm_delta_h *h, void *arg, struct llm_run *run,
             const char **why);

struct httpc;
struct llm_chat;

/* The chat is over: err 0 once "[DONE]" came, otherwise one of the errors
 * llm_chat returns; why is the one-line reason, valid during the call. The
 * chat may be released here. */
typedef void(llm_done_h)(int err, const char *why, void *arg);

/*
 * Starts one chat completion on the calling thread's loop, through hc, and
 * returns at once: the reply's text goes to deltah as it arrives, then
 * doneh is called once. *cp is a mem object; releasing it (anywhere, in
 * the handlers too) cancels the chat, and no handler is called after.
 * first_token_timeout_ms is kept by a timer; connect and total timeouts by
 * hc. Returns EINVAL (bad arguments, *why says which) or ENOMEM, and then
 * no handler is ever called.
 */
int llm_chat_start(struct llm_chat **cp, struct httpc *hc,
                   const struct llm_params *p, const struct llm_message *msgs,
                   size_t n, llm_delta_h *deltah, llm_done_h *doneh, void *arg,
                   const char **why);

/*
 * The reply's Server-Sent Events without the transfer: body read as
 * llm_chat reads a 200 response arriving in pieces of chunk bytes (0 = in
 * one piece), its text handed to h. 0 once "[DONE]" came; otherwise what
 * llm_chat returns for that stream (EPROTO, EIO or ENOMEM), or EINVAL for
 * bad arguments, with *why as llm_chat sets it.
 */
int llm_sse_parse(const char *body, size_t len, size_t chunk, llm_delta_h *h,
                  void *arg, struct llm_run *run, const char **why);

/*
 * Length in bytes of the first complete clause of text, 0 if there is none
 * yet. A clause ends at . ! ? ; : or , followed by whitespace or the end of
 * text; a comma only once the clause is at least min_chars bytes long. Not
 * counted: a mark inside a number ("3.14", "1,000"), a . , or : right after
 * a digit at the very end (more digits may follow), and the . of these
 * abbreviations: Mr. Mrs. Ms. Dr. St. vs. e.g. i.e. (any case).
 */
size_t llm_clause_end(const char *text, size_t len, size_t min_chars);

#endif
