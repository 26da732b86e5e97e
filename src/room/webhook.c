/*
 * Webhook delivery (livekit-compat.md section 2).
 *
 * DESIGN
 *
 * One delivery thread owns all HTTP I/O through one curl multi handle.
 * webhook_send, on the caller's thread, fills "id"/"createdAt", serialises
 * the event once (json_dumps, JSON_COMPACT), signs the exact bytes with
 * token_sign_body and builds the header list; the resulting body is shared,
 * reference counted, by every receiver's queue. Under the mutex it appends
 * one item per receiver and then wakes the thread with curl_multi_wakeup.
 * It never touches the network, never logs and never waits for the thread;
 * the mutex is only ever held for list manipulation (the thread never holds
 * it across curl_multi_perform/poll or a log write).
 *
 * Each receiver (URL) has a list of queues, one per queue key (the room).
 * A queue has at most one request in flight, its head, so a room's events
 * go out strictly in order: the next one starts only when the head is
 * delivered, failed or dropped. Different queues of one receiver run
 * concurrently (up to WH_MAX_INFLIGHT requests per receiver), and all
 * receivers run concurrently on the multi handle. curl multi rather than
 * a thread per receiver: one thread, one wake-up mechanism, one connection
 * cache, and a stalled receiver only occupies its own sockets, whose
 * requests end at the per-request timeout, so it delays no other receiver
 * and no other room. A retry is not a sleeping thread either, just a due
 * time on the queue head that bounds the next curl_multi_poll.
 *
 * Outcome of one try, as go-retryablehttp (LiveKit's client) decides:
 *   2xx                                   delivered
 *   transport error (except a bad URL,
 *   unsupported scheme, TLS verification)  retried
 *   429, 5xx except 501                   retried
 *   anything else (incl. 3xx, 501)        failed, not retried
 * The n-th retry waits backoff_min_ms << (n-1), at most backoff_max_ms, or
 * Retry-After (seconds or HTTP date, as libcurl parses it) when the response
 * carries one. Retry-After is capped at backoff_max_ms: a longer wait would
 * hold the room's queue past max_age anyway. After max_attempts tries the
 * event has failed.
 *
 * An event that waited longer than max_age_ms before its first try is
 * dropped when it reaches the head of its queue (as LiveKit's queue does;
 * once being tried, its retries run to the end). A receiver holding
 * max_depth events (in flight included) drops new ones. webhook_close gives
 * the thread up to timeout_ms to empty the queues, then aborts requests in
 * flight and drops whatever is left.
 *
 * Stats count per receiver: sending one event to 3 URLs queues 3. retried
 * counts extra tries; dropped counts age, full queue and close.
 *
 * Logs (from the delivery thread only): webhook_failed per event given up
 * (url event room attempts, status or error), webhook_dropped per event
 * aged out or left at close, and one webhook_dropped reason=queue_full line
 * per receiver with the count of events refused since the previous line.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token.h"
#include "core/id.h"
#include "core/log.h"
#include "room/webhook.h"

#define WH_CONNECT_TIMEOUT_MS 5000
#define WH_REQUEST_TIMEOUT_MS 10000
#define WH_MAX_INFLIGHT       8    /* per receiver, different rooms */
#define WH_POLL_MAX_MS        1000 /* upper bound of one curl_multi_poll */
#define WH_START_RETRY_MS     100  /* when a request cannot be set up */

/* One serialised, signed event, shared by every receiver's queue. */
struct wh_body {
	atomic_uint refs;
	char *data;
	size_t len;
	struct curl_slist *hdrs;
	char *event; /* event name, for logs */
	char *key;   /* queue key, for logs */
};

struct wh_recv;

struct wh_item {
	struct wh_item *next;
	struct wh_recv *rv;
	struct wh_body *body;
	uint64_t queued_ms; /* monotonic */
	uint64_t due_ms;    /* next try not before */
	unsigned attempts;  /* tries made */
};

/* The events of one queue key at one receiver; head is the one being
 * tried (easy != NULL while a request is in flight). */
struct wh_keyq {
	struct wh_keyq *next;
	struct wh_recv *rv;
	struct wh_item *head, *tail;
	CURL *easy;
	char key[];
};

struct wh_recv {
	char *url;
	struct wh_keyq *queues;
	size_t depth; /* events queued, in flight included */
	unsigned inflight;
	unsigned long long full_drops; /* refused, not yet logged */
};

struct webhook {
	pthread_mutex_t mtx;
	pthread_cond_t idle_cv; /* CLOCK_MONOTONIC */
	pthread_t thread;
	CURLM *multi;
	struct wh_recv *recv;
	size_t nrecv;
	unsigned long long *full; /* thread only: queue_full counts to log */
	char *api_key, *api_secret;
	unsigned max_attempts, backoff_min_ms, backoff_max_ms, max_age_ms,
	    max_depth;
	bool stop; /* set by webhook_close: the thread ends */
	bool idle; /* nothing queued, nothing in flight */
	struct webhook_stats st;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void body_unref(struct wh_body *b)
{
	if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	free(b->data); /* json_dumps uses malloc by default */
	curl_slist_free_all(b->hdrs);
	free(b->event);
	free(b->key);
	free(b);
}

static void item_free(struct wh_item *it)
{
	if (!it)
		return;
	body_unref(it->body);
	free(it);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

static bool transport_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return false;
	default:
		return true;
	}
}

static uint64_t backoff_ms(const struct webhook *wh, unsigned attempts,
                           long long retry_after_s)
{
	uint64_t d = wh->backoff_min_ms;

	if (retry_after_s > 0) {
		if ((uint64_t)retry_after_s > wh->backoff_max_ms / 1000u)
			return wh->backoff_max_ms;
		return (uint64_t)retry_after_s * 1000u;
	}
	for (unsigned i = 1; i < attempts && d < wh->backoff_max_ms; i++)
		d *= 2;
	return d < wh->backoff_max_ms ? d : wh->backoff_max_ms;
}

/* Unlinks the head of q. Caller holds the mutex. */
static struct wh_item *pop_head(struct wh_keyq *q)
{
	struct wh_item *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	it->next = NULL;
	q->rv->depth--;
	return it;
}

/* Starts a try of q's head. Caller holds the mutex. */
static int start(struct webhook *wh, struct wh_keyq *q)
{
	struct wh_item *it = q->head;
	CURL *e = curl_easy_init();

	if (!e)
		return ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, q->rv->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)it->body->len);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, it->body->data);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->body->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "LiveKit");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)WH_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)WH_REQUEST_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)q);
	if (curl_multi_add_handle(wh->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		return ENOMEM;
	}
	it->attempts++;
	q->easy = e;
	q->rv->inflight++;
	return 0;
}

static void log_dropped(const struct wh_item *it, const char *reason)
{
	log_event(LOGL_WARN, NULL, "webhook_dropped",
	          "url=\"%s\" event=%s room=\"%s\" reason=%s", it->rv->url,
	          it->body->event, it->body->key, reason);
}

/* A request ended: decide between delivered, retry and failed. */
static void finish(struct webhook *wh, CURL *e, CURLcode rc)
{
	struct wh_keyq *q;
	struct wh_item *done = NULL;
	char *priv = NULL;
	long status = 0;
	curl_off_t retry_after = 0;
	bool ok, retry;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
	q = (struct wh_keyq *)(void *)priv;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after);
	}
	curl_multi_remove_handle(wh->multi, e);
	curl_easy_cleanup(e);

	ok = rc == CURLE_OK && status >= 200 && status < 300;
	if (rc != CURLE_OK)
		retry = transport_retryable(rc);
	else
		retry = status == 429 || (status >= 500 && status != 501);

	pthread_mutex_lock(&wh->mtx);
	q->easy = NULL;
	q->rv->inflight--;
	if (ok) {
		item_free(pop_head(q));
		wh->st.delivered++;
	} else if (retry && q->head->attempts < wh->max_attempts) {
		q->head->due_ms =
		    mono_ms() +
		    backoff_ms(wh, q->head->attempts, (long long)retry_after);
		wh->st.retried++;
	} else {
		done = pop_head(q);
		wh->st.failed++;
	}
	pthread_mutex_unlock(&wh->mtx);

	if (!done)
		return;
	if (rc != CURLE_OK)
		log_event(LOGL_WARN, NULL, "webhook_failed",
		          "url=\"%s\" event=%s room=\"%s\" error=\"%s\" "
		          "attempts=%u",
		          done->rv->url, done->body->event, done->body->key,
		          curl_easy_strerror(rc), done->attempts);
	else
		log_event(LOGL_WARN, NULL, "webhook_failed",
		          "url=\"%s\" event=%s room=\"%s\" status=%ld "
		          "attempts=%u",
		          done->rv->url, done->body->event, done->body->key,
		          status, done->attempts);
	item_free(done);
}

/*
 * Starts what is due, drops what aged out and frees empty queues. Returns
 * how long the thread may sleep. Caller holds the mutex; events to log go
 * to *dropped, full-queue counts to full[] (one per receiver).
 */
static long schedule(struct webhook *wh, struct wh_item **dropped,
                     unsigned long long *full)
{
	struct wh_item **dtail = dropped;
	uint64_t now = mono_ms();
	long timeout = WH_POLL_MAX_MS;
	bool idle = true;

	for (size_t i = 0; i < wh->nrecv; i++) {
		struct wh_recv *rv = &wh->recv[i];
		struct wh_keyq **pq = &rv->queues;

		full[i] = rv->full_drops;
		rv->full_drops = 0;
		while (*pq) {
			struct wh_keyq *q = *pq;

			while (!q->easy && q->head && !q->head->attempts &&
			       now - q->head->queued_ms > wh->max_age_ms) {
				struct wh_item *it = pop_head(q);

				*dtail = it; /* oldest first */
				dtail = &it->next;
				wh->st.dropped++;
			}
			if (!q->head) {
				*pq = q->next;
				free(q);
				continue;
			}
			idle = false;
			if (!q->easy && rv->inflight < WH_MAX_INFLIGHT) {
				if (q->head->due_ms > now) {
					uint64_t d = q->head->due_ms - now;
					if (d < (uint64_t)timeout)
						timeout = (long)d;
				} else if (start(wh, q)) {
					q->head->due_ms =
					    now + WH_START_RETRY_MS;
					if (timeout > WH_START_RETRY_MS)
						timeout = WH_START_RETRY_MS;
				} else {
					timeout = 0;
				}
			}
			pq = &q->next;
		}
	}
	wh->idle = idle;
	if (idle)
		pthread_cond_broadcast(&wh->idle_cv);
	return timeout;
}

static void *run(void *arg)
{
	struct webhook *wh = arg;
	unsigned long long *full = wh->full;

	for (;;) {
		struct wh_item *dropped = NULL;
		CURLMsg *msg;
		int running, left;
		long timeout;

		curl_multi_perform(wh->multi, &running);
		while ((msg = curl_multi_info_read(wh->multi, &left))) {
			if (msg->msg == CURLMSG_DONE)
				finish(wh, msg->easy_handle, msg->data.result);
		}

		pthread_mutex_lock(&wh->mtx);
		if (wh->stop) {
			pthread_mutex_unlock(&wh->mtx);
			break;
		}
		timeout = schedule(wh, &dropped, full);
		pthread_mutex_unlock(&wh->mtx);

		while (dropped) {
			struct wh_item *it = dropped;

			dropped = it->next;
			log_dropped(it, "max_age");
			item_free(it);
		}
		for (size_t i = 0; i < wh->nrecv; i++) {
			if (full[i])
				log_event(
				    LOGL_WARN, NULL, "webhook_dropped",
				    "url=\"%s\" reason=queue_full count=%llu",
				    wh->recv[i].url, full[i]);
		}
		if (timeout > 0)
			curl_multi_poll(wh->multi, NULL, 0, (int)timeout, NULL);
	}
	/* Stopping: abort requests in flight; webhook_close drops the rest. */
	pthread_mutex_lock(&wh->mtx);
	for (size_t i = 0; i < wh->nrecv; i++) {
		for (struct wh_keyq *q = wh->recv[i].queues; q; q = q->next) {
			if (!q->easy)
				continue;
			curl_multi_remove_handle(wh->multi, q->easy);
			curl_easy_cleanup(q->easy);
			q->easy = NULL;
		}
		wh->recv[i].inflight = 0;
	}
	pthread_mutex_unlock(&wh->mtx);
	return NULL;
}

static void destroy(struct webhook *wh)
{
	for (size_t i = 0; i < wh->nrecv; i++) {
		struct wh_recv *rv = &wh->recv[i];

		while (rv->queues) {
			struct wh_keyq *q = rv->queues;

			while (q->head) {
				struct wh_item *it = pop_head(q);

				wh->st.dropped++;
				log_dropped(it, "closed");
				item_free(it);
			}
			rv->queues = q->next;
			free(q);
		}
		free(rv->url);
	}
	free(wh->recv);
	free(wh->full);
	if (wh->multi)
		curl_multi_cleanup(wh->multi);
	free(wh->api_key);
	free(wh->api_secret);
	pthread_cond_destroy(&wh->idle_cv);
	pthread_mutex_destroy(&wh->mtx);
	free(wh);
	curl_global_cleanup();
}

int webhook_open(struct webhook **whp, const struct webhook_params *prm)
{
	struct webhook *wh;
	pthread_condattr_t ca;
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
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ENOMEM;
	wh = calloc(1, sizeof(*wh));
	if (!wh) {
		curl_global_cleanup();
		return ENOMEM;
	}
	pthread_mutex_init(&wh->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wh->idle_cv, &ca);
	pthread_condattr_destroy(&ca);
	wh->idle = true;
	wh->max_attempts = prm->max_attempts ? prm->max_attempts : 5;
	wh->backoff_min_ms = prm->backoff_min_ms ? prm->backoff_min_ms : 1000;
	wh->backoff_max_ms = prm->backoff_max_ms ? prm->backoff_max_ms : 30000;
	if (wh->backoff_max_ms < wh->backoff_min_ms)
		wh->backoff_max_ms = wh->backoff_min_ms;
	wh->max_age_ms = prm->max_age_ms ? prm->max_age_ms : 30000;
	wh->max_depth = prm->max_depth ? prm->max_depth : 200;
	wh->api_key = strdup(prm->api_key ? prm->api_key : "");
	wh->api_secret = strdup(prm->api_secret ? prm->api_secret : "");
	wh->recv = calloc(prm->nurls ? prm->nurls : 1, sizeof(*wh->recv));
	wh->full = calloc(prm->nurls ? prm->nurls : 1, sizeof(*wh->full));
	wh->multi = curl_multi_init();
	if (!wh->api_key || !wh->api_secret || !wh->recv || !wh->full ||
	    !wh->multi) {
		destroy(wh);
		return ENOMEM;
	}
	for (size_t i = 0; i < prm->nurls; i++) {
		wh->recv[i].url = strdup(prm->urls[i]);
		wh->nrecv++;
		if (!wh->recv[i].url) {
			destroy(wh);
			return ENOMEM;
		}
	}
	err = pthread_create(&wh->thread, NULL, run, wh);
	if (err) {
		destroy(wh);
		return err;
	}
	*whp = wh;
	return 0;
}

void webhook_close(struct webhook *wh, unsigned timeout_ms)
{
	struct timespec dl;

	if (!wh)
		return;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wh->mtx);
	while (!wh->idle) {
		if (pthread_cond_timedwait(&wh->idle_cv, &wh->mtx, &dl) ==
		    ETIMEDOUT)
			break;
	}
	wh->stop = true;
	pthread_mutex_unlock(&wh->mtx);
	curl_multi_wakeup(wh->multi);
	pthread_join(wh->thread, NULL);
	destroy(wh);
}

static struct wh_body *body_make(struct webhook *wh, const char *key,
                                 json_t *event)
{
	struct wh_body *b = calloc(1, sizeof(*b));
	const char *name = json_string_value(json_object_get(event, "event"));
	char *jwt = NULL, *auth = NULL;
	struct curl_slist *h;

	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->data = json_dumps(event, JSON_COMPACT);
	b->event = strdup(name ? name : "");
	b->key = strdup(key);
	if (!b->data || !b->event || !b->key)
		goto fail;
	b->len = strlen(b->data);
	if (token_sign_body(&jwt, wh->api_key, wh->api_secret, b->data, b->len,
	                    time(NULL)) ||
	    !jwt)
		goto fail;
	if (asprintf(&auth, "Authorization: %s", jwt) < 0) {
		auth = NULL;
		goto fail;
	}
	h = curl_slist_append(NULL, auth);
	if (!h)
		goto fail;
	b->hdrs = h;
	if (!(h = curl_slist_append(b->hdrs,
	                            "Content-Type: application/webhook+json")))
		goto fail;
	if (!(h = curl_slist_append(b->hdrs, "Expect:"))) /* no 100-continue */
		goto fail;
	free(auth);
	free(jwt);
	return b;
fail:
	free(auth);
	free(jwt);
	body_unref(b);
	return NULL;
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
	struct wh_body *b;
	uint64_t now;
	size_t nq = 0;
	int err;

	if (!wh || !json_is_object(event))
		return EINVAL;
	if (!queue_key)
		queue_key = "";
	err = fill_event(event);
	if (err)
		return err;
	if (!wh->nrecv)
		return 0;
	b = body_make(wh, queue_key, event);
	if (!b)
		return ENOMEM;

	now = mono_ms();
	pthread_mutex_lock(&wh->mtx);
	if (wh->stop) {
		pthread_mutex_unlock(&wh->mtx);
		body_unref(b);
		return ECANCELED;
	}
	for (size_t i = 0; i < wh->nrecv; i++) {
		struct wh_recv *rv = &wh->recv[i];
		struct wh_keyq *q, **pq;
		struct wh_item *it;

		if (rv->depth >= wh->max_depth) {
			rv->full_drops++;
			wh->st.dropped++;
			continue;
		}
		for (pq = &rv->queues; *pq; pq = &(*pq)->next) {
			if (strcmp((*pq)->key, queue_key) == 0)
				break;
		}
		q = *pq;
		if (!q) {
			size_t kl = strlen(queue_key) + 1;

			q = calloc(1, sizeof(*q) + kl);
			if (!q)
				continue;
			memcpy(q->key, queue_key, kl);
			q->rv = rv;
			*pq = q; /* appended: older rooms start first */
		}
		it = calloc(1, sizeof(*it));
		if (!it)
			continue; /* an empty new queue is freed by the thread */
		it->rv = rv;
		it->body = b;
		atomic_fetch_add(&b->refs, 1);
		it->queued_ms = now;
		it->due_ms = now;
		if (q->tail)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		rv->depth++;
		wh->st.queued++;
		nq++;
	}
	wh->idle = false;
	pthread_mutex_unlock(&wh->mtx);
	curl_multi_wakeup(wh->multi);
	body_unref(b);
	return nq ? 0 : ENOSPC;
}

void webhook_get_stats(struct webhook *wh, struct webhook_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!wh)
		return;
	pthread_mutex_lock(&wh->mtx);
	*st = wh->st;
	pthread_mutex_unlock(&wh->mtx);
}
