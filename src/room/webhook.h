/*
 * Webhook delivery, as a LiveKit server does it (livekit-compat.md section
 * 2): POST of the event's JSON with `Authorization: <token with sha256>`,
 * `Content-Type: application/webhook+json`, in order per queue key (the
 * room), retried with backoff on transport errors, 429 and 5xx.
 *
 * Delivery runs on its own thread with one queue per receiver URL, so a slow
 * or dead receiver delays no call and no other receiver's events.
 */
#ifndef VOXGATE_ROOM_WEBHOOK_H
#define VOXGATE_ROOM_WEBHOOK_H

#include <stddef.h>
/* declared, not included: see core/libre.h */
struct json_t;

struct webhook;

struct webhook_params {
	const char *const *urls; /* copied */
	size_t nurls;
	const char *api_key; /* copied; signs every event */
	const char *api_secret;
	unsigned max_attempts;   /* 0 = 5 (LiveKit: 1 try + 4 retries) */
	unsigned backoff_min_ms; /* 0 = 1000 */
	unsigned backoff_max_ms; /* 0 = 30000 */
	unsigned max_age_ms;     /* events older are dropped; 0 = 30000 */
	unsigned max_depth;      /* per receiver queue; 0 = 200 */
};

/* Starts the delivery thread. webhook_close drains nothing: queued events
 * still undelivered after timeout_ms are dropped and counted. */
int webhook_open(struct webhook **whp, const struct webhook_params *prm);
void webhook_close(struct webhook *wh, unsigned timeout_ms);

/* Queues an event for every receiver. event is a WebhookEvent object; the
 * function fills in "id" (EV_...) and "createdAt" when missing and does
 * not steal the reference. Never blocks. */
int webhook_send(struct webhook *wh, const char *queue_key,
                 struct json_t *event);

struct webhook_stats {
	unsigned long long queued, delivered, retried, dropped, failed;
};
void webhook_get_stats(struct webhook *wh, struct webhook_stats *st);

#endif
