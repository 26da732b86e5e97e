/*
 * Webhook delivery (livekit-compat.md section 2).
 *
 * DESIGN
 *
 * Delivery is core/outbox's: one thread, one destination per receiver URL,
 * one queue per room at each, one request in flight per queue, the retry
 * rules of go-retryablehttp (LiveKit's client), max_age and max_depth. What
 * is LiveKit's is here: webhook_send, on the caller's thread, fills
 * "id"/"createdAt", serialises the event once (json_dumps, JSON_COMPACT),
 * signs the exact bytes with token_sign_body, and posts that one payload,
 * shared, to every receiver with the room as queue key. It never touches
 * the network and never logs.
 *
 * Logs come from the outbox callbacks, on its thread: webhook_failed per
 * event given up (url event room attempts, status or error),
 * webhook_dropped per event aged out or left at close, and one
 * webhook_dropped reason=queue_full line per receiver with the count of
 * events refused since the previous line.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token.h"
#include "core/id.h"
#include "core/log.h"
#include "core/outbox.h"
#include "room/webhook.h"

struct webhook {
	struct outbox *ob;
	char **urls;
	size_t nurls;
	char *api_key, *api_secret;
};

/* arg: the event's name, one copy per receiver. */
static void on_done(const struct outbox_outcome *o, void *arg)
{
	char *event = arg;

	if (o->result == OUTBOX_DROPPED)
		log_event(LOGL_WARN, NULL, "webhook_dropped",
		          "url=\"%s\" event=%s room=\"%s\" reason=%s", o->url,
		          event, o->key, o->error);
	else if (o->result == OUTBOX_FAILED && o->error)
		log_event(LOGL_WARN, NULL, "webhook_failed",
		          "url=\"%s\" event=%s room=\"%s\" error=\"%s\" "
		          "attempts=%u",
		          o->url, event, o->key, o->error, o->attempts);
	else if (o->result == OUTBOX_FAILED)
		log_event(LOGL_WARN, NULL, "webhook_failed",
		          "url=\"%s\" event=%s room=\"%s\" status=%ld "
		          "attempts=%u",
		          o->url, event, o->key, o->status, o->attempts);
	free(event);
}

static void on_full(const char *dest, unsigned long long count, void *arg)
{
	(void)arg;
	log_event(LOGL_WARN, NULL, "webhook_dropped",
	          "url=\"%s\" reason=queue_full count=%llu", dest, count);
}

static void destroy(struct webhook *wh)
{
	for (size_t i = 0; i < wh->nurls; i++)
		free(wh->urls[i]);
	free(wh->urls);
	free(wh->api_key);
	free(wh->api_secret);
	free(wh);
}

int webhook_open(struct webhook **whp, const struct webhook_params *prm)
{
	struct webhook *wh;
	struct outbox_params op;
	int err;

	if (!whp || !prm || (prm->nurls && !prm->urls))
		return EINVAL;
	if (prm->nurls && (!prm->api_key || !*prm->api_key ||
	                   !prm->api_secret || !*prm->api_secret))
		return EINVAL;
	for (size_t i = 0; i < prm->nurls; i++) {
		if (!prm->urls[i] || !*prm->urls[i])
			return EINVAL;
	}
	wh = calloc(1, sizeof(*wh));
	if (!wh)
		return ENOMEM;
	wh->api_key = strdup(prm->api_key ? prm->api_key : "");
	wh->api_secret = strdup(prm->api_secret ? prm->api_secret : "");
	wh->urls = calloc(prm->nurls ? prm->nurls : 1, sizeof(*wh->urls));
	if (!wh->api_key || !wh->api_secret || !wh->urls) {
		destroy(wh);
		return ENOMEM;
	}
	for (size_t i = 0; i < prm->nurls; i++) {
		wh->urls[i] = strdup(prm->urls[i]);
		wh->nurls++;
		if (!wh->urls[i]) {
			destroy(wh);
			return ENOMEM;
		}
	}
	op = (struct outbox_params){
	    .dests = (const char *const *)wh->urls,
	    .ndests = wh->nurls,
	    .user_agent = "LiveKit",
	    .max_attempts = prm->max_attempts,
	    .backoff_min_ms = prm->backoff_min_ms,
	    .backoff_max_ms = prm->backoff_max_ms,
	    .max_age_ms = prm->max_age_ms,
	    .max_depth = prm->max_depth,
	    .full = on_full,
	};
	err = outbox_open(&wh->ob, &op);
	if (err) {
		destroy(wh);
		return err;
	}
	*whp = wh;
	return 0;
}

void webhook_close(struct webhook *wh, unsigned timeout_ms)
{
	if (!wh)
		return;
	outbox_close(wh->ob, timeout_ms);
	destroy(wh);
}

/* The event's bytes and the headers that sign them. The caller owns the
 * payload. */
static int payload_make(struct webhook *wh, json_t *event,
                        struct outbox_payload **pp)
{
	char *data = json_dumps(event, JSON_COMPACT);
	char *jwt = NULL, *auth = NULL;
	const char *hdrs[2];
	size_t len;
	int err;

	if (!data)
		return ENOMEM;
	len = strlen(data);
	err = token_sign_body(&jwt, wh->api_key, wh->api_secret, data, len,
	                      time(NULL));
	if (!err && !jwt)
		err = ENOMEM;
	if (!err && asprintf(&auth, "Authorization: %s", jwt) < 0) {
		auth = NULL;
		err = ENOMEM;
	}
	if (!err) {
		hdrs[0] = auth;
		hdrs[1] = "Content-Type: application/webhook+json";
		err = outbox_payload_alloc(pp, hdrs, 2, data, len);
	}
	free(auth);
	free(jwt);
	free(data); /* json_dumps uses malloc by default */
	return err;
}

/* Fills "id" and "createdAt" when missing. */
static int fill_event(json_t *event)
{
	if (!json_object_get(event, "id")) {
		char id[3 + ID_RANDOM_LEN + 1];

		id_make(id, sizeof(id), "EV_");
		if (json_object_set_new(event, "id", json_string(id)))
			return ENOMEM;
	}
	if (!json_object_get(event, "createdAt")) {
		char now[24];

		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		if (json_object_set_new(event, "createdAt", json_string(now)))
			return ENOMEM;
	}
	return 0;
}

/*
 * Returns 0 when the event was queued for at least one receiver (or there
 * are none), ENOSPC when every receiver's queue was full (the drops are
 * counted and logged by the delivery thread), EINVAL/ENOMEM/ECANCELED (after
 * webhook_close started) or token_sign_body's error otherwise. queue_key
 * NULL is the empty key.
 */
int webhook_send(struct webhook *wh, const char *queue_key, json_t *event)
{
	struct outbox_payload *p = NULL;
	const char *name;
	size_t nq = 0;
	int err;

	if (!wh || !json_is_object(event))
		return EINVAL;
	err = fill_event(event);
	if (err)
		return err;
	if (!wh->nurls)
		return 0;
	err = payload_make(wh, event, &p);
	if (err)
		return err;
	name = json_string_value(json_object_get(event, "event"));
	for (size_t i = 0; i < wh->nurls; i++) {
		char *ev = strdup(name ? name : "");
		int e = ev ? outbox_post(wh->ob, i, wh->urls[i], queue_key, p,
		                         on_done, ev)
		           : ENOMEM;

		if (e) {
			free(ev);
			err = e;
			if (e == ECANCELED)
				break;
			continue;
		}
		nq++;
	}
	outbox_payload_deref(p);
	return nq ? 0 : err;
}

void webhook_get_stats(struct webhook *wh, struct webhook_stats *st)
{
	struct outbox_stats os;

	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!wh)
		return;
	outbox_get_stats(wh->ob, &os);
	st->queued = os.queued;
	st->delivered = os.delivered;
	st->retried = os.retried;
	st->dropped = os.dropped;
	st->failed = os.failed;
}
