/*
 * The chat client's insides, shared by llm.c (the request and its life on
 * the loop) and llm_sse.c (the reply's parse) and by no one else.
 */
#ifndef VOXGATE_WORKER_LLM_INT_H
#define VOXGATE_WORKER_LLM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/llm.h"

#define LLM_LINE_MAX    (1024 * 1024) /* a longer SSE line is malformed */
#define LLM_EVENT_MAX   (1024 * 1024) /* and so is an event's data, whole */
#define LLM_ERRBODY_MAX 4096          /* of an HTTP error's body, kept */
#define LLM_ERRMSG_MAX  200           /* of a server's message, in err */
#define LLM_CONNECT_MS  2000
#define LLM_FIRST_MS    5000
#define LLM_TOTAL_MS    30000

struct llm_buf {
	char *data;
	size_t len;
	size_t cap;
};

struct llm_stream {
	llm_delta_h *h;
	void *arg;
	long status;          /* 0 until the response's first body byte */
	struct llm_buf line;  /* the SSE line being read, without its end */
	struct llm_buf data;  /* the event's data lines, joined with \n */
	struct llm_buf ebody; /* the body of a non-200 response */
	bool has_data;        /* the event being read has a data line */
	bool after_cr;        /* an LF right after CR ends no second line */
	bool done;            /* "[DONE]" came */
	bool got_text;
	size_t events;
	int err;             /* what stopped the parse: EPROTO, EIO or ENOMEM */
	struct llm_run *run; /* NULL: nothing cancels, no reason is kept */
	char *why;           /* run->why, or own */
	char own[LLM_WHY_MAX];
	/* run->calls, or own: allocated at the first call, freed with the
	 * stream */
	struct llm_tool_call *calls;
	size_t ncalls;
	char finish[LLM_FINISH_MAX];
};

/* llm_sse.c */
/* Formats the reason into why (LLM_WHY_MAX bytes) and blanks control
 * characters, since a server's text may hold newlines and a reason is one
 * line. */
void llm_set_why(char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void llm_stream_init(struct llm_stream *s, struct llm_run *run);
void llm_stream_free(struct llm_stream *s);
int llm_stream_why(const struct llm_stream *s, int rc, const char **why);
int llm_buf_add(struct llm_buf *b, const char *s, size_t n);
int llm_stream_fail(struct llm_stream *s, int err, const char *what,
                    const char *detail);
int llm_sse_feed(struct llm_stream *s, const char *p, size_t n);
void llm_http_error(struct llm_stream *s);

#endif
