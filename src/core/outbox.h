/*
 * Outbox: HTTP POSTs sent from a thread of their own, in order per queue
 * key and retried with backoff, so that the threads handling calls never
 * wait on a network peer. Webhooks (room/webhook.c) and Telnyx Call Control
 * commands (carrier/telnyx_api.c) go out through it.
 *
 * Requests go to destinations fixed at open (a webhook receiver, an API);
 * within one, they queue by key (a room, a call). A key's requests go one
 * at a time, in the order posted; other keys and destinations go on
 * meanwhile. A try is delivered on 2xx; retried on a transport error (not a
 * bad URL, an unsupported scheme or a TLS verification failure), 429 or 5xx
 * other than 501; failed otherwise or once max_attempts tries are spent.
 *
 * The outbox logs nothing: its user logs from the callbacks.
 */
#ifndef VOXGATE_CORE_OUTBOX_H
#define VOXGATE_CORE_OUTBOX_H

#include <stddef.h>

/* What an outcome keeps of a response body. */
#define OUTBOX_RESPONSE_MAX 4096

struct outbox;

/* Called on the outbox thread with the number of posts the destination
 * refused, its queue being full, since the previous call. */
typedef void(outbox_full_h)(const char *dest, unsigned long long count,
                            void *arg);

struct outbox_params {
	const char *const *dests; /* names (copied), e.g. the URLs */
	size_t ndests;
	const char *user_agent;  /* copied; NULL = "voxgate" */
	unsigned max_attempts;   /* tries per request; 0 = 5 */
	unsigned backoff_min_ms; /* first retry; 0 = 1000 */
	unsigned backoff_max_ms; /* 0 = 30000 */
	unsigned max_age_ms; /* older before a first try: dropped; 0 = 30000 */
	unsigned max_depth;  /* per destination, in flight too; 0 = 200 */
	unsigned max_inflight; /* per destination; 0 = 8 */
	unsigned timeout_ms;   /* per try; 0 = 10000 */
	outbox_full_h *full;   /* may be NULL */
	void *full_arg;
};

/* Starts the thread. The outbox belongs to the caller until outbox_close. */
int outbox_open(struct outbox **obp, const struct outbox_params *prm);

/* Waits up to timeout_ms for every queue to empty, then aborts requests in
 * flight and drops what is left, calling their done callbacks, and frees
 * the outbox. Not from a done or full callback. */
void outbox_close(struct outbox *ob, unsigned timeout_ms);

/* Header lines and body bytes, both copied; one reference is the
 * caller's, each post takes its own, so the same request can go to several
 * destinations. Not a libre mem object: the last reference may go on the
 * outbox's thread while the caller drops its own on another, and libre's
 * reference counts are not atomic; these are. */
struct outbox_payload;
int outbox_payload_alloc(struct outbox_payload **pp, const char *const *headers,
                         size_t nheaders, const void *data, size_t len);
void outbox_payload_deref(struct outbox_payload *p);

enum outbox_result {
	OUTBOX_DELIVERED,
	OUTBOX_FAILED,  /* a final response, or max_attempts tries spent */
	OUTBOX_DROPPED, /* max_age, or left at close */
};

/* Valid during the done callback only. */
struct outbox_outcome {
	enum outbox_result result;
	const char *dest, *url, *key;
	long status; /* the last response's HTTP status; 0 = none */
	/* FAILED without a response: curl's error text; DROPPED: "max_age"
	 * or "closed"; otherwise NULL. */
	const char *error;
	/* The last response's body, NUL-terminated, cut to
	 * OUTBOX_RESPONSE_MAX bytes; "" if none. */
	const char *body;
	size_t body_len;
	unsigned attempts; /* tries made */
};

/* Called on the outbox thread, without the outbox's lock: it may post. */
typedef void(outbox_done_h)(const struct outbox_outcome *o, void *arg);

/*
 * Queues payload p for a POST to url (copied) at destination index dest,
 * behind the earlier posts of key (NULL is ""). Never blocks on the
 * network. On 0, done (may be NULL) will be called exactly once, with
 * arg; on an error never: EINVAL, ENOMEM, ENOSPC (the destination is full;
 * counted and reported to the full callback) or ECANCELED (closing).
 */
int outbox_post(struct outbox *ob, size_t dest, const char *url,
                const char *key, struct outbox_payload *p, outbox_done_h *done,
                void *arg);

/* Counted per post: retried counts extra tries, dropped includes refused
 * posts. */
struct outbox_stats {
	unsigned long long queued, delivered, retried, dropped, failed;
};
void outbox_get_stats(struct outbox *ob, struct outbox_stats *st);

#endif
