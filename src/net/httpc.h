/*
 * Streaming HTTP requests on the calling thread's libre loop: libcurl's
 * multi interface, its sockets watched with fd_listen and its timeouts
 * kept with a tmr, so any number of requests (an LLM's chat stream, a
 * speech provider's transcription upload or streamed audio) run at once
 * on one thread and none of them blocks it.
 *
 * A request hands out its response as it arrives: the status and headers
 * once they are complete, then each piece of the body, then the outcome.
 * Cancelling is mem_deref of the request, allowed anywhere, inside its
 * own handlers too: no handler is called after it.
 */
#ifndef VOXGATE_NET_HTTPC_H
#define VOXGATE_NET_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One per loop (thread), shared by its requests; a mem object. Its
 * requests must be released before it. */
struct httpc;

/* ENOMEM or EIO (libcurl will not start). */
int httpc_alloc(struct httpc **cp);

/* Requests in progress, for the tests and the worker's figures. */
unsigned httpc_active(const struct httpc *c);

struct httpc_req;

/* What went out: the request as the caller describes it. All borrowed for
 * the httpc_request call only (libcurl keeps its own copies). */
struct httpc_prm {
	const char *method; /* NULL: "POST" with a body, else "GET" */
	const char *url;    /* http:// or https:// only */
	/* Extra header lines, "Name: value", NULL-terminated; NULL = none. */
	const char *const *headers;
	const void *body; /* NULL = no body */
	size_t body_len;
	/* 0 = the default given. Connect counts from the start, total the
	 * whole request; idle is the longest silence once connected (a
	 * server that stalls mid-body). */
	unsigned connect_ms; /* 5000 */
	unsigned total_ms;   /* 60000 */
	unsigned idle_ms;    /* 0 = no idle limit */
};

/* The response's status line and headers are in; the request's headers
 * can now be read with httpc_header. */
typedef void(httpc_head_h)(uint16_t status, void *arg);
/* A piece of the body as it came (chunked encoding already undone), n > 0,
 * valid only during the call. */
typedef void(httpc_body_h)(const uint8_t *data, size_t n, void *arg);
/*
 * The request is over: err 0 once the whole body came (whatever the
 * status: a 4xx is the caller's to judge), else ETIMEDOUT (connect, idle
 * or total limit), ECONNREFUSED (cannot resolve or connect), EPROTO (the
 * connection closed mid-body, or the response is not HTTP), ENOMEM, or
 * EIO (another transfer failure); status is 0 when none came. why is a
 * one-line reason, valid during the call. The request may be released
 * here.
 */
typedef void(httpc_done_h)(int err, uint16_t status, const char *why,
                           void *arg);

/*
 * Starts a request; handlers run on the loop. *rp is a mem object: its
 * release cancels the request. EINVAL (no URL, or not http/https), ENOMEM.
 * The handlers are never called from inside httpc_request.
 */
int httpc_request(struct httpc_req **rp, struct httpc *c,
                  const struct httpc_prm *prm, httpc_head_h *headh,
                  httpc_body_h *bodyh, httpc_done_h *doneh, void *arg);

/* Value of response header name (any case), copied to out, cut to fit;
 * false when the response has none (yet). The last one wins. */
bool httpc_header(const struct httpc_req *r, const char *name, char *out,
                  size_t size);

#endif
