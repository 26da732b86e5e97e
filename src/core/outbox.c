/*
 * Ordered HTTP POST queues with retry.
 *
 * DESIGN
 *
 * One delivery thread owns all HTTP I/O through one curl multi handle.
 * outbox_post, on the caller's thread, appends one item to its key's queue
 * under the mutex and wakes the thread with curl_multi_wakeup. It never
 * touches the network, never calls back and never waits for the thread;
 * the mutex is only ever held for list manipulation (the thread never holds
 * it across curl_multi_perform/poll or a callback). The request itself, a
 * payload of header lines and body bytes, is reference counted so that the
 * same one can wait in several destinations' queues.
 *
 * Each destination has a list of queues, one per queue key. A queue has at
 * most one request in flight, its head, so a key's items go out strictly
 * in order: the next one starts only when the head is delivered, failed or
 * dropped. Different queues of one destination run concurrently (up to
 * max_inflight requests per destination), and all destinations run
 * concurrently on the multi handle. curl multi rather than a thread per
 * destination: one thread, one wake-up mechanism, one connection cache,
 * and a stalled peer only occupies its own sockets, whose requests end at
 * the per-request timeout, so it delays no other destination, and no other
 * key beyond its share of max_inflight. A retry is not a sleeping thread
 * either, just a due time on the queue head that bounds the next
 * curl_multi_poll.
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
 * hold the key's queue past max_age anyway. After max_attempts tries the
 * item has failed.
 *
 * An item that waited longer than max_age_ms before its first try is
 * dropped when it reaches the head of its queue (as LiveKit's webhook queue
 * does; once being tried, its retries run to the end). A destination
 * holding max_depth items (in flight included) refuses new ones; the thread
 * reports how many to the full callback. outbox_close gives the thread up
 * to timeout_ms to empty the queues; then the thread aborts requests in
 * flight, drops whatever is left and ends.
 *
 * Callbacks run on the thread only, outside the mutex, so they may post.
 * An item leaves its queue before its callback and carries its own key and
 * URL, so the thread may free an emptied queue before reporting.
 *
 * Stats count per post: one payload posted to 3 destinations queues 3.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/outbox.h"

#define OB_CONNECT_TIMEOUT_MS 5000
#define OB_POLL_MAX_MS        1000 /* upper bound of one curl_multi_poll */
#define OB_START_RETRY_MS     100  /* when a request cannot be set up */

struct outbox_payload {
	atomic_uint refs;
	struct curl_slist *hdrs;
	size_t len;
	char data[];
};

struct ob_dest;

struct ob_item {
	struct ob_item *next;
	struct ob_dest *d;
	struct outbox_payload *p;
	outbox_done_h *done;
	void *arg;
	uint64_t queued_ms; /* monotonic */
	uint64_t due_ms;    /* next try not before */
	unsigned attempts;  /* tries made */
	long status;        /* the last try's response; 0 = none */
	const char *key;    /* in url's allocation */
	char url[];
};

/* The items of one queue key at one destination; head is the one being
 * tried (easy != NULL while a request is in flight). */
struct ob_keyq {
	struct ob_keyq *next;
	struct ob_dest *d;
	struct ob_item *head, *tail;
	CURL *easy;
	char *resp; /* the try's response body; thread only */
	size_t resp_len;
	char key[];
};

struct ob_dest {
	char *name;
	struct ob_keyq *queues;
	size_t depth; /* items queued, in flight included */
	unsigned inflight;
	unsigned long long full_drops; /* refused, not yet reported */
};

struct outbox {
	pthread_mutex_t mtx;
	pthread_cond_t idle_cv; /* CLOCK_MONOTONIC */
	pthread_t thread;
	CURLM *multi;
	struct ob_dest *dests;
	size_t ndests;
	unsigned long long *full; /* thread only: counts to report */
	char *user_agent;
	unsigned max_attempts, backoff_min_ms, backoff_max_ms, max_age_ms,
	    max_depth, max_inflight, timeout_ms;
	outbox_full_h *full_h;
	void *full_arg;
	bool stop; /* set by outbox_close: the thread ends */
	bool idle; /* nothing queued, nothing in flight */
	struct outbox_stats st;
};

void outbox_payload_deref(struct outbox_payload *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	curl_slist_free_all(p->hdrs);
	free(p);
}

int outbox_payload_alloc(struct outbox_payload **pp, const char *const *headers,
                         size_t nheaders, const void *data, size_t len)
{
	struct outbox_payload *p;

	if (!pp || (nheaders && !headers) || (len && !data))
		return EINVAL;
	for (size_t i = 0; i < nheaders; i++) {
		/* A line break would let a value smuggle in headers. */
		if (!headers[i] || strpbrk(headers[i], "\r\n"))
			return EINVAL;
	}
	p = malloc(sizeof(*p) + len + 1);
	if (!p)
		return ENOMEM;
	atomic_init(&p->refs, 1);
	p->hdrs = NULL;
	p->len = len;
	if (len)
		memcpy(p->data, data, len);
	p->data[len] = '\0';
	for (size_t i = 0; i <= nheaders; i++) {
		/* "Expect:" last: no 100-continue round trip before a body. */
		struct curl_slist *h = curl_slist_append(
		    p->hdrs, i < nheaders ? headers[i] : "Expect:");

		if (!h) {
			outbox_payload_deref(p);
			return ENOMEM;
		}
		p->hdrs = h;
	}
	*pp = p;
	return 0;
}

static void item_free(struct ob_item *it)
{
	if (!it)
		return;
	outbox_payload_deref(it->p);
	free(it);
}

/* Hands an item's outcome to its callback, then frees it. */
static void report(struct ob_item *it, enum outbox_result r, const char *error,
                   const char *body, size_t len)
{
	const struct outbox_outcome o = {
	    .result = r,
	    .dest = it->d->name,
	    .url = it->url,
	    .key = it->key,
	    .status = it->status,
	    .error = error,
	    .body = body ? body : "",
	    .body_len = body ? len : 0,
	    .attempts = it->attempts,
	};

	if (it->done)
		it->done(&o, it->arg);
	item_free(it);
}

static void report_dropped(struct ob_item *list, const char *reason)
{
	while (list) {
		struct ob_item *it = list;

		list = it->next;
		report(it, OUTBOX_DROPPED, reason, NULL, 0);
	}
}

static void report_full(struct outbox *ob)
{
	for (size_t i = 0; i < ob->ndests; i++) {
		if (ob->full[i] && ob->full_h)
			ob->full_h(ob->dests[i].name, ob->full[i],
			           ob->full_arg);
		ob->full[i] = 0;
	}
}

/* Keeps at most OUTBOX_RESPONSE_MAX bytes, and always takes the rest: a
 * short count would abort the transfer. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct ob_keyq *q = arg;
	size_t n = size * nmemb, keep = OUTBOX_RESPONSE_MAX - q->resp_len;

	if (!q->resp && !(q->resp = malloc(OUTBOX_RESPONSE_MAX + 1)))
		return n; /* the body only informs the callback */
	if (keep > n)
		keep = n;
	memcpy(q->resp + q->resp_len, ptr, keep);
	q->resp_len += keep;
	q->resp[q->resp_len] = '\0';
	return n;
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

static uint64_t backoff_ms(const struct outbox *ob, unsigned attempts,
                           long long retry_after_s)
{
	uint64_t d = ob->backoff_min_ms;

	if (retry_after_s > 0) {
		if ((uint64_t)retry_after_s > ob->backoff_max_ms / 1000u)
			return ob->backoff_max_ms;
		return (uint64_t)retry_after_s * 1000u;
	}
	for (unsigned i = 1; i < attempts && d < ob->backoff_max_ms; i++)
		d *= 2;
	return d < ob->backoff_max_ms ? d : ob->backoff_max_ms;
}

/* Unlinks the head of q. Caller holds the mutex. */
static struct ob_item *pop_head(struct ob_keyq *q)
{
	struct ob_item *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	it->next = NULL;
	q->d->depth--;
	return it;
}

/* Starts a try of q's head. Caller holds the mutex. */
static int start(struct outbox *ob, struct ob_keyq *q)
{
	const struct ob_item *it = q->head;
	long timeout = (long)ob->timeout_ms;
	long connect =
	    timeout < OB_CONNECT_TIMEOUT_MS ? timeout : OB_CONNECT_TIMEOUT_MS;
	CURL *e = curl_easy_init();
	bool bad = false;

	if (!e)
		return ENOMEM;
	bad |= curl_easy_setopt(e, CURLOPT_URL, &it->url[0]) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	                        (curl_off_t)it->p->len) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, &it->p->data[0]) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->p->hdrs) != CURLE_OK;
	bad |=
	    curl_easy_setopt(e, CURLOPT_USERAGENT, ob->user_agent) != CURLE_OK;
	bad |=
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)q) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)q) != CURLE_OK;
	if (bad || curl_multi_add_handle(ob->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		return ENOMEM;
	}
	q->head->attempts++;
	q->easy = e;
	q->d->inflight++;
	return 0;
}

/* A request ended: decide between delivered, retry and failed. */
static void finish(struct outbox *ob, CURL *e, CURLcode rc)
{
	struct ob_keyq *q;
	struct ob_item *done = NULL;
	enum outbox_result r = OUTBOX_FAILED;
	char *priv = NULL;
	long status = 0;
	curl_off_t retry_after = 0;
	bool retry;

	if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
	    !priv) {
		/* start sets it on every handle; without it no queue to
		 * update, but the handle must still go. */
		curl_multi_remove_handle(ob->multi, e);
		curl_easy_cleanup(e);
		return;
	}
	q = (struct ob_keyq *)(void *)priv;
	if (rc == CURLE_OK) {
		if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) !=
		    CURLE_OK)
			status = 0;
		if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after) !=
		    CURLE_OK)
			retry_after = 0;
	}
	curl_multi_remove_handle(ob->multi, e);
	curl_easy_cleanup(e);

	if (rc != CURLE_OK)
		retry = transport_retryable(rc);
	else
		retry = status == 429 || (status >= 500 && status != 501);

	pthread_mutex_lock(&ob->mtx);
	q->easy = NULL;
	q->d->inflight--;
	q->head->status = status;
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		done = pop_head(q);
		r = OUTBOX_DELIVERED;
		ob->st.delivered++;
	} else if (retry && q->head->attempts < ob->max_attempts) {
		q->head->due_ms =
		    clock_mono_ms() +
		    backoff_ms(ob, q->head->attempts, (long long)retry_after);
		ob->st.retried++;
	} else {
		done = pop_head(q);
		ob->st.failed++;
	}
	pthread_mutex_unlock(&ob->mtx);

	if (done)
		report(done, r, rc != CURLE_OK ? curl_easy_strerror(rc) : NULL,
		       q->resp, q->resp_len);
	free(q->resp);
	q->resp = NULL;
	q->resp_len = 0;
}

/*
 * Starts what is due, drops what aged out and frees empty queues. Returns
 * how long the thread may sleep. Caller holds the mutex; items to report
 * go to *dropped, full-queue counts to ob->full.
 */
static long schedule(struct outbox *ob, struct ob_item **dropped)
{
	struct ob_item **dtail = dropped;
	uint64_t now = clock_mono_ms();
	long timeout = OB_POLL_MAX_MS;
	bool idle = true;

	for (size_t i = 0; i < ob->ndests; i++) {
		struct ob_dest *d = &ob->dests[i];
		struct ob_keyq **pq = &d->queues;

		ob->full[i] += d->full_drops;
		d->full_drops = 0;
		while (*pq) {
			struct ob_keyq *q = *pq;

			while (!q->easy && q->head && !q->head->attempts &&
			       now - q->head->queued_ms > ob->max_age_ms) {
				struct ob_item *it = pop_head(q);

				*dtail = it; /* oldest first */
				dtail = &it->next;
				ob->st.dropped++;
			}
			if (!q->head) {
				*pq = q->next;
				free(q);
				continue;
			}
			idle = false;
			if (!q->easy && d->inflight < ob->max_inflight) {
				if (q->head->due_ms > now) {
					uint64_t w = q->head->due_ms - now;
					if (w < (uint64_t)timeout)
						timeout = (long)w;
				} else if (start(ob, q)) {
					q->head->due_ms =
					    now + OB_START_RETRY_MS;
					if (timeout > OB_START_RETRY_MS)
						timeout = OB_START_RETRY_MS;
				} else {
					timeout = 0;
				}
			}
			pq = &q->next;
		}
	}
	ob->idle = idle;
	if (idle)
		pthread_cond_broadcast(&ob->idle_cv);
	return timeout;
}

/* Closing, on the thread: aborts requests in flight and drops every item
 * left, so that their callbacks too run on the thread. */
static void drain(struct outbox *ob)
{
	struct ob_item *left = NULL, **tail = &left;

	pthread_mutex_lock(&ob->mtx);
	for (size_t i = 0; i < ob->ndests; i++) {
		struct ob_dest *d = &ob->dests[i];

		ob->full[i] += d->full_drops;
		d->full_drops = 0;
		while (d->queues) {
			struct ob_keyq *q = d->queues;

			if (q->easy) {
				curl_multi_remove_handle(ob->multi, q->easy);
				curl_easy_cleanup(q->easy);
			}
			free(q->resp);
			while (q->head) {
				*tail = pop_head(q);
				tail = &(*tail)->next;
				ob->st.dropped++;
			}
			d->queues = q->next;
			free(q);
		}
		d->inflight = 0;
	}
	pthread_mutex_unlock(&ob->mtx);
	report_full(ob);
	report_dropped(left, "closed");
}

static void *run(void *arg)
{
	struct outbox *ob = arg;

	for (;;) {
		struct ob_item *dropped = NULL;
		CURLMsg *msg;
		int running, left;
		long timeout;

		if (curl_multi_perform(ob->multi, &running) != CURLM_OK)
			running = 0; /* schedule and the poll below go on */
		while ((msg = curl_multi_info_read(ob->multi, &left))) {
			if (msg->msg == CURLMSG_DONE)
				finish(ob, msg->easy_handle, msg->data.result);
		}

		pthread_mutex_lock(&ob->mtx);
		if (ob->stop) {
			pthread_mutex_unlock(&ob->mtx);
			break;
		}
		timeout = schedule(ob, &dropped);
		pthread_mutex_unlock(&ob->mtx);

		report_dropped(dropped, "max_age");
		report_full(ob);
		if (timeout > 0 &&
		    curl_multi_poll(ob->multi, NULL, 0, (int)timeout, NULL) !=
		        CURLM_OK) {
			/* Without the poll the loop would spin. */
			struct timespec ts = {timeout / 1000,
			                      (timeout % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	drain(ob);
	return NULL;
}

/* Frees what outbox_open set up; the thread has ended or never started,
 * so no queue is left. */
static void destroy(struct outbox *ob)
{
	for (size_t i = 0; i < ob->ndests; i++)
		free(ob->dests[i].name);
	free(ob->dests);
	free(ob->full);
	if (ob->multi)
		curl_multi_cleanup(ob->multi);
	free(ob->user_agent);
	pthread_cond_destroy(&ob->idle_cv);
	pthread_mutex_destroy(&ob->mtx);
	free(ob);
	curl_global_cleanup();
}

static int sync_init(struct outbox *ob)
{
	pthread_condattr_t ca;
	int err;

	err = pthread_condattr_init(&ca);
	if (err)
		return err;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(&ob->idle_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		return err;
	err = pthread_mutex_init(&ob->mtx, NULL);
	if (err)
		pthread_cond_destroy(&ob->idle_cv);
	return err;
}

int outbox_open(struct outbox **obp, const struct outbox_params *prm)
{
	struct outbox *ob;
	size_t n;
	int err;

	if (!obp || !prm || (prm->ndests && !prm->dests))
		return EINVAL;
	for (size_t i = 0; i < prm->ndests; i++) {
		if (!prm->dests[i])
			return EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ENOMEM;
	ob = calloc(1, sizeof(*ob));
	if (!ob) {
		curl_global_cleanup();
		return ENOMEM;
	}
	err = sync_init(ob);
	if (err) {
		free(ob);
		curl_global_cleanup();
		return err;
	}
	ob->idle = true;
	ob->max_attempts = prm->max_attempts ? prm->max_attempts : 5;
	ob->backoff_min_ms = prm->backoff_min_ms ? prm->backoff_min_ms : 1000;
	ob->backoff_max_ms = prm->backoff_max_ms ? prm->backoff_max_ms : 30000;
	if (ob->backoff_max_ms < ob->backoff_min_ms)
		ob->backoff_max_ms = ob->backoff_min_ms;
	ob->max_age_ms = prm->max_age_ms ? prm->max_age_ms : 30000;
	ob->max_depth = prm->max_depth ? prm->max_depth : 200;
	ob->max_inflight = prm->max_inflight ? prm->max_inflight : 8;
	ob->timeout_ms = prm->timeout_ms ? prm->timeout_ms : 10000;
	ob->full_h = prm->full;
	ob->full_arg = prm->full_arg;
	n = prm->ndests ? prm->ndests : 1;
	ob->user_agent = strdup(prm->user_agent ? prm->user_agent : "voxgate");
	ob->dests = calloc(n, sizeof(*ob->dests));
	ob->full = calloc(n, sizeof(*ob->full));
	ob->multi = curl_multi_init();
	if (!ob->user_agent || !ob->dests || !ob->full || !ob->multi) {
		destroy(ob);
		return ENOMEM;
	}
	for (size_t i = 0; i < prm->ndests; i++) {
		ob->dests[i].name = strdup(prm->dests[i]);
		ob->ndests++;
		if (!ob->dests[i].name) {
			destroy(ob);
			return ENOMEM;
		}
	}
	err = pthread_create(&ob->thread, NULL, run, ob);
	if (err) {
		destroy(ob);
		return err;
	}
	*obp = ob;
	return 0;
}

void outbox_close(struct outbox *ob, unsigned timeout_ms)
{
	struct timespec dl;

	if (!ob)
		return;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ob->mtx);
	while (!ob->idle) {
		if (pthread_cond_timedwait(&ob->idle_cv, &ob->mtx, &dl) ==
		    ETIMEDOUT)
			break;
	}
	ob->stop = true;
	pthread_mutex_unlock(&ob->mtx);
	curl_multi_wakeup(ob->multi);
	pthread_join(ob->thread, NULL);
	destroy(ob);
}

int outbox_post(struct outbox *ob, size_t dest, const char *url,
                const char *key, struct outbox_payload *p, outbox_done_h *done,
                void *arg)
{
	struct ob_dest *d;
	struct ob_keyq *q, **pq;
	struct ob_item *it;
	size_t ul, kl;
	int err = 0;

	if (!ob || dest >= ob->ndests || !url || !*url || !p)
		return EINVAL;
	if (!key)
		key = "";
	ul = strlen(url) + 1;
	kl = strlen(key) + 1;
	it = calloc(1, sizeof(*it) + ul + kl);
	if (!it)
		return ENOMEM;
	memcpy(it->url, url, ul);
	memcpy(it->url + ul, key, kl);
	it->key = it->url + ul;
	d = &ob->dests[dest];
	it->d = d;
	it->done = done;
	it->arg = arg;
	it->queued_ms = clock_mono_ms();
	it->due_ms = it->queued_ms;

	pthread_mutex_lock(&ob->mtx);
	if (ob->stop) {
		pthread_mutex_unlock(&ob->mtx);
		free(it);
		return ECANCELED;
	}
	if (d->depth >= ob->max_depth) {
		d->full_drops++;
		ob->st.dropped++;
		err = ENOSPC;
		goto out;
	}
	for (pq = &d->queues; *pq; pq = &(*pq)->next) {
		if (strcmp((*pq)->key, key) == 0)
			break;
	}
	q = *pq;
	if (!q) {
		q = calloc(1, sizeof(*q) + kl);
		if (!q) {
			err = ENOMEM;
			goto out;
		}
		memcpy(q->key, key, kl);
		q->d = d;
		*pq = q; /* appended: older keys start first */
	}
	atomic_fetch_add(&p->refs, 1);
	it->p = p;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	d->depth++;
	ob->st.queued++;
	ob->idle = false;
	it = NULL;
out:
	pthread_mutex_unlock(&ob->mtx);
	/* Also on ENOSPC: the thread reports the refusal. */
	if (err != ENOMEM)
		curl_multi_wakeup(ob->multi);
	free(it);
	return err;
}

void outbox_get_stats(struct outbox *ob, struct outbox_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!ob)
		return;
	pthread_mutex_lock(&ob->mtx);
	*st = ob->st;
	pthread_mutex_unlock(&ob->mtx);
}
