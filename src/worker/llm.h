/*
 * A client for OpenAI-compatible streaming chat completions (OpenAI, Groq,
 * vLLM, llama.cpp server, Ollama ...): POST {base_url}/chat/completions
 * with "stream": true, the reply read as Server-Sent Events and handed out
 * piece by piece as it arrives, so an agent can start speaking on the
 * first clause; the model may call the tools it is offered instead of, or
 * after, answering. Also the clause splitter that decides when to start.
 */
#ifndef VOXGATE_WORKER_LLM_H
#define VOXGATE_WORKER_LLM_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds on the tool calls of one reply: a reply past them is malformed
 * (EPROTO), but for arguments, which are cut and flagged. */
#define LLM_TOOL_CALLS_MAX 4
#define LLM_TOOL_NAME_MAX  64 /* OpenAI's own limit on a function name */
#define LLM_TOOL_ID_MAX    128
#define LLM_TOOL_ARGS_MAX  4096
#define LLM_FINISH_MAX     32

/* A function offered to the model, sent as OpenAI's
 * {"type":"function","function":{name, description, parameters}}. */
struct llm_tool {
	const char *name;
	const char *description;
	const char *parameters; /* a JSON Schema object, as JSON text */
};

/* A call the model made, assembled from its streamed fragments; also what
 * an assistant message sends back with the history. */
struct llm_tool_call {
	char id[LLM_TOOL_ID_MAX + 1];
	char name[LLM_TOOL_NAME_MAX + 1];
	char args[LLM_TOOL_ARGS_MAX + 1]; /* JSON text, NUL-terminated */
	size_t args_len;
	bool args_cut; /* longer than LLM_TOOL_ARGS_MAX: args is its start */
};

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
	/* Offered to the model; with tools_off, "tool_choice": "none" asks
	 * it to answer in words only (the tools still describe the calls
	 * in the history). */
	const struct llm_tool *tools;
	size_t ntools;
	bool tools_off;
};

/* Fills p with the defaults above, temperature -1, max_tokens 0 and
 * NULL strings. */
void llm_params_default(struct llm_params *p);

/* One chat message, role "system", "user", "assistant" or "tool". An
 * assistant message may carry the calls the model made (content may then
 * be NULL); a "tool" message answers the call tool_call_id. */
struct llm_message {
	const char *role;
	const char *content;
	const struct llm_tool_call *calls;
	size_t ncalls;
	const char *tool_call_id;
};

/* A piece of the reply's text, len bytes of UTF-8, not NUL-terminated and
 * only valid during the call; pieces come in order and are never empty. */
typedef void(llm_delta_h)(const char *text, size_t len, void *arg);

/*
 * Where llm_sse_parse keeps the reason it fails with: reasons are mostly
 * made at run time (the server's message, what was malformed), so they
 * need a home that outlives the call. Set up with llm_run_init.
 */
#define LLM_WHY_MAX 256

struct llm_run {
	char why[LLM_WHY_MAX];
	/* The reply's tool calls and its last finish_reason ("" = none). */
	struct llm_tool_call calls[LLM_TOOL_CALLS_MAX];
	size_t ncalls;
	char finish[LLM_FINISH_MAX];
};

/* No reason, no calls. */
void llm_run_init(struct llm_run *run);

struct httpc;
struct llm_chat;

/* The chat is over: err 0 once "[DONE]" came, otherwise ETIMEDOUT (no
 * text within first_token_timeout_ms, or a connect or total timeout),
 * ECONNREFUSED (cannot resolve or connect), EPROTO (malformed stream, or
 * one that ends before "[DONE]"), EIO (HTTP error status, an error
 * reported inside the stream, or another transfer failure) or ENOMEM; why
 * is a one-line reason (an HTTP status and the server's message, curl's
 * error, the URL), valid during the call. Text handed out before an error
 * stays handed out. The chat may be released here. */
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
 * The tool calls of c's reply (choices[0].delta.tool_calls, fragments
 * joined by their index), *n of them, and its finish_reason in *finish
 * when finish is not NULL; valid until c is released. Complete once doneh
 * was called with 0. A call may lack a name or an id, or hold arguments
 * that are not JSON: what to do about it is the caller's business.
 */
const struct llm_tool_call *llm_chat_calls(const struct llm_chat *c, size_t *n,
                                           const char **finish);

/*
 * The reply's Server-Sent Events without the transfer: body read as a
 * chat reads a 200 response arriving in pieces of chunk bytes (0 = in one
 * piece), its text handed to h, its tool calls and finish_reason kept in run. 0 once "[DONE]" came; otherwise what a
 * chat ends with for that stream (EPROTO, EIO or ENOMEM), or EINVAL for
 * bad arguments. *why (when why is not NULL) is the one-line reason: in
 * run->why, valid as long as run; without run, the error's name.
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
