/*
 * Webhook delivery against small HTTP receivers run inside the test (plain
 * sockets, one thread each, 127.0.0.1 ephemeral ports). Each receiver
 * records the requests it gets and answers as scripted: a fixed status, a
 * few failures for bodies matching a string, a delay, or never (stall).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/token.h"
#include "core/log.h"
#include "room/webhook.h"
#include "standin.h"
#include "test.h"

#define KEY    "whkey"
#define SECRET "whsecret-0123456789-0123456789-0123456789"

#define RX_MAX_REQ   64
#define RX_MAX_STALL 32

struct rx_req {
	char *head; /* request line and headers */
	char *body;
	uint64_t at_ms;
};

struct rx {
	int lfd;
	int port;
	char url[64];
	pthread_t th;
	atomic_bool stop;
	pthread_mutex_t mtx;
	struct rx_req req[RX_MAX_REQ];
	int nreq;
	int stalled[RX_MAX_STALL];
	int nstalled;
	/* behaviour, set before rx_start */
	bool stall;             /* read the request, never answer */
	int status;             /* answer; 0 = 200 */
	const char *fail_match; /* bodies containing this ... */
	int fail_left;          /* ... get fail_status this many times */
	int fail_status;
	const char *first_extra; /* extra header lines on the first failure */
	unsigned delay_first_ms; /* before answering the first request */
};

static void *rx_run(void *arg)
{
	struct rx *rx = arg;
	int fd;

	while ((fd = standin_accept(rx->lfd, &rx->stop)) >= 0) {
		char *head, *body, extra[128] = "";
		int status, idx;
		char resp[256];

		if (standin_read_request(fd, &head, &body)) {
			close(fd);
			continue;
		}
		pthread_mutex_lock(&rx->mtx);
		idx = rx->nreq;
		if (idx < RX_MAX_REQ) {
			rx->req[idx].head = head;
			rx->req[idx].body = body;
			rx->req[idx].at_ms = now_ms();
			rx->nreq++;
		} else {
			free(head);
			free(body);
			body = NULL;
		}
		status = rx->status ? rx->status : 200;
		if (body && rx->fail_match && rx->fail_left > 0 &&
		    strstr(body, rx->fail_match)) {
			if (rx->first_extra)
				snprintf(extra, sizeof(extra), "%s",
				         rx->first_extra);
			rx->first_extra = NULL;
			rx->fail_left--;
			status = rx->fail_status;
		}
		if (rx->stall && rx->nstalled < RX_MAX_STALL) {
			rx->stalled[rx->nstalled++] = fd;
			pthread_mutex_unlock(&rx->mtx);
			continue;
		}
		pthread_mutex_unlock(&rx->mtx);
		if (idx == 0 && rx->delay_first_ms)
			sleep_ms(rx->delay_first_ms);
		snprintf(resp, sizeof(resp),
		         "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
		         "Connection: close\r\n%s\r\n",
		         status, extra);
		if (!standin_send_all(fd, resp, strlen(resp)))
			perror("send");
		close(fd);
	}
	return NULL;
}

static int rx_start(struct rx *rx)
{
	pthread_mutex_init(&rx->mtx, NULL);
	rx->lfd = standin_listen(&rx->port);
	if (rx->lfd < 0)
		return -1;
	snprintf(rx->url, sizeof(rx->url), "http://127.0.0.1:%d/hook",
	         rx->port);
	return pthread_create(&rx->th, NULL, rx_run, rx);
}

static void rx_stop(struct rx *rx)
{
	atomic_store(&rx->stop, true);
	pthread_join(rx->th, NULL);
	close(rx->lfd);
	for (int i = 0; i < rx->nstalled; i++)
		close(rx->stalled[i]);
	for (int i = 0; i < rx->nreq; i++) {
		free(rx->req[i].head);
		free(rx->req[i].body);
	}
	pthread_mutex_destroy(&rx->mtx);
}

static int rx_count(struct rx *rx)
{
	int n;

	pthread_mutex_lock(&rx->mtx);
	n = rx->nreq;
	pthread_mutex_unlock(&rx->mtx);
	return n;
}

/* Waits until rx has at least n requests; true if it got them. */
static bool rx_wait(struct rx *rx, int n, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (rx_count(rx) < n) {
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* Waits until the stats satisfy cond (an expression over st). */
#define STATS_WAIT(wh, st, cond, timeout_ms)                                   \
	do {                                                                   \
		uint64_t end_ = now_ms() + (timeout_ms);                       \
		for (;;) {                                                     \
			webhook_get_stats((wh), &(st));                        \
			if ((cond) || now_ms() > end_)                         \
				break;                                         \
			sleep_ms(5);                                           \
		}                                                              \
	} while (0)

static json_t *event(const char *name, const char *room)
{
	return json_pack("{s:s,s:{s:s,s:s}}", "event", name, "room", "name",
	                 room, "sid", "RM_test");
}

static int send_event(struct webhook *wh, const char *name, const char *room,
                      char *id, size_t idsz)
{
	json_t *ev = event(name, room);
	int err = webhook_send(wh, room, ev);

	if (id)
		snprintf(id, idsz, "%s",
		         json_string_value(json_object_get(ev, "id")));
	json_decref(ev);
	return err;
}

static bool body_has(const struct rx_req *r, const char *s)
{
	return strstr(r->body, s) != NULL;
}

TEST(delivers_signed)
{
	struct rx rx = {0};
	struct webhook *wh = NULL;
	const char *urls[1];
	struct webhook_params prm = {
	    .urls = urls, .nurls = 1, .api_key = KEY, .api_secret = SECRET};
	struct webhook_stats st;
	const struct token_key keys[] = {{KEY, SECRET}};
	const struct token_keyring ring = {keys, 1};
	struct token_claims claims;
	unsigned char dig[SHA256_DIGEST_LENGTH];
	char b64[64], v[2048];
	const char *why = NULL, *id;
	json_t *ev, *got;
	json_error_t jerr;
	long long created;

	CHECK(rx_start(&rx) == 0);
	urls[0] = rx.url;
	CHECK(webhook_open(&wh, &prm) == 0);

	ev = event("room_started", "room-1");
	CHECK(webhook_send(wh, "room-1", ev) == 0);
	/* filled in on the caller's object too */
	id = json_string_value(json_object_get(ev, "id"));
	CHECK(id && strlen(id) == 15 && strncmp(id, "EV_", 3) == 0);
	CHECK(strspn(id + 3, "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	                     "abcdefghijkmnopqrstuvwxyz") == 12);
	json_decref(ev);
	/* an event with id and createdAt keeps them */
	ev = event("room_finished", "room-1");
	json_object_set_new(ev, "id", json_string("EV_given"));
	json_object_set_new(ev, "createdAt", json_string("1735689600"));
	CHECK(webhook_send(wh, "room-1", ev) == 0);
	json_decref(ev);

	CHECK(rx_wait(&rx, 2, 2000));
	STATS_WAIT(wh, st, st.delivered == 2, 1000);
	CHECK_EQ(st.queued, 2);
	CHECK_EQ(st.delivered, 2);
	CHECK_EQ(st.retried + st.failed + st.dropped, 0);

	/* body: compact JSON with id and createdAt */
	got = json_loads(rx.req[0].body, 0, &jerr);
	CHECK(got);
	CHECK_STR(json_string_value(json_object_get(got, "event")),
	          "room_started");
	CHECK_STR(json_string_value(
	              json_object_get(json_object_get(got, "room"), "name")),
	          "room-1");
	id = json_string_value(json_object_get(got, "id"));
	CHECK(id && strlen(id) == 15 && strncmp(id, "EV_", 3) == 0);
	CHECK(json_is_string(json_object_get(got, "createdAt")));
	created = strtoll(json_string_value(json_object_get(got, "createdAt")),
	                  NULL, 10);
	CHECK(llabs(created - (long long)time(NULL)) < 5);
	json_decref(got);
	CHECK(strchr(rx.req[0].body, ' ') == NULL);
	CHECK(strstr(rx.req[1].body, "\"id\":\"EV_given\""));
	CHECK(strstr(rx.req[1].body, "\"createdAt\":\"1735689600\""));

	/* headers */
	CHECK(strncmp(rx.req[0].head, "POST /hook HTTP/1.1\r\n", 21) == 0);
	CHECK(standin_header(rx.req[0].head, "Content-Type", v, sizeof(v)));
	CHECK_STR(v, "application/webhook+json");
	CHECK(standin_header(rx.req[0].head, "User-Agent", v, sizeof(v)));
	CHECK_STR(v, "LiveKit");
	CHECK(!standin_header(rx.req[0].head, "Expect", v, sizeof(v)));

	/* Authorization: a raw JWT over the exact body bytes */
	for (int i = 0; i < 2; i++) {
		const char *body = rx.req[i].body;

		CHECK(standin_header(rx.req[i].head, "Authorization", v,
		                     sizeof(v)));
		CHECK(strncmp(v, "Bearer", 6) != 0);
		memset(&claims, 0, sizeof(claims));
		CHECK_EQ(token_verify(v, &ring, time(NULL), &claims, &why), 0);
		CHECK_STR(claims.api_key, KEY);
		CHECK(claims.exp > (int64_t)time(NULL) + 200);
		CHECK(claims.exp <= (int64_t)time(NULL) + 301);
		SHA256((const unsigned char *)body, strlen(body), dig);
		EVP_EncodeBlock((unsigned char *)b64, dig, sizeof(dig));
		CHECK_STR(claims.sha256, b64);
	}
	/* a wrong secret does not verify */
	{
		const struct token_key bad[] = {{KEY, "other-secret"}};
		const struct token_keyring bring = {bad, 1};

		CHECK(token_verify(v, &bring, time(NULL), &claims, &why) != 0);
	}

	webhook_close(wh, 1000);
	rx_stop(&rx);
	return 0;
}

/* Receiver answers room-a's first event 503 (Retry-After: 1), 503, 200. */
TEST(order_and_retry)
{
	struct rx rx = {.fail_match = "\"room-a\"",
	                .fail_left = 2,
	                .fail_status = 503,
	                .first_extra = "Retry-After: 1\r\n"};
	struct webhook *wh = NULL;
	const char *urls[1];
	struct webhook_params prm = {.urls = urls,
	                             .nurls = 1,
	                             .api_key = KEY,
	                             .api_secret = SECRET,
	                             .backoff_min_ms = 20,
	                             .backoff_max_ms = 2000};
	struct webhook_stats st;
	char a1[32], a2[32], b1[32];
	int ia[8], na = 0, ib = -1;

	CHECK(rx_start(&rx) == 0);
	urls[0] = rx.url;
	CHECK(webhook_open(&wh, &prm) == 0);
	CHECK(send_event(wh, "room_started", "room-a", a1, sizeof(a1)) == 0);
	CHECK(send_event(wh, "participant_joined", "room-a", a2, sizeof(a2)) ==
	      0);
	CHECK(send_event(wh, "room_started", "room-b", b1, sizeof(b1)) == 0);

	CHECK(rx_wait(&rx, 5, 4000));
	STATS_WAIT(wh, st, st.delivered == 3, 1000);
	CHECK_EQ(st.delivered, 3);
	CHECK_EQ(st.retried, 2);
	CHECK_EQ(st.failed, 0);
	sleep_ms(100);
	CHECK_EQ(rx_count(&rx), 5);

	for (int i = 0; i < rx.nreq; i++) {
		if (body_has(&rx.req[i], "\"room-a\"") && na < 8)
			ia[na++] = i;
		else if (body_has(&rx.req[i], b1))
			ib = i;
	}
	CHECK_EQ(na, 4);
	CHECK(body_has(&rx.req[ia[0]], a1));
	CHECK(body_has(&rx.req[ia[1]], a1));
	CHECK(body_has(&rx.req[ia[2]], a1));
	CHECK(body_has(&rx.req[ia[3]], a2));
	/* Retry-After honoured, then the short backoff */
	CHECK(rx.req[ia[1]].at_ms - rx.req[ia[0]].at_ms >= 900);
	CHECK(rx.req[ia[2]].at_ms - rx.req[ia[1]].at_ms < 500);
	/* a2 waited for a1; room-b did not wait for room-a */
	CHECK(rx.req[ia[3]].at_ms >= rx.req[ia[2]].at_ms);
	CHECK(ib >= 0);
	CHECK(rx.req[ib].at_ms < rx.req[ia[1]].at_ms);

	webhook_close(wh, 1000);
	rx_stop(&rx);
	return 0;
}

/* A receiver that accepts and never answers delays nobody else. */
TEST(stalled_receiver)
{
	struct rx slow = {.stall = true}, ok = {0};
	struct webhook *wh = NULL;
	const char *urls[2];
	struct webhook_params prm = {
	    .urls = urls, .nurls = 2, .api_key = KEY, .api_secret = SECRET};
	struct webhook_stats st;
	uint64_t t0;

	CHECK(rx_start(&slow) == 0);
	CHECK(rx_start(&ok) == 0);
	urls[0] = slow.url; /* first: it is served first */
	urls[1] = ok.url;
	CHECK(webhook_open(&wh, &prm) == 0);

	t0 = now_ms();
	CHECK(send_event(wh, "room_started", "room-x", NULL, 0) == 0);
	CHECK(send_event(wh, "participant_joined", "room-x", NULL, 0) == 0);
	CHECK(send_event(wh, "room_started", "room-y", NULL, 0) == 0);
	CHECK(rx_wait(&ok, 3, 1000));
	CHECK(now_ms() - t0 < 1000);
	STATS_WAIT(wh, st, st.delivered == 3, 500);
	CHECK_EQ(st.delivered, 3);
	CHECK_EQ(st.queued, 6);
	/* the stalled one holds room-x's first and room-y's event */
	CHECK(rx_wait(&slow, 2, 1000));
	sleep_ms(100);
	CHECK_EQ(rx_count(&slow), 2);

	t0 = now_ms();
	webhook_close(wh, 300);
	CHECK(now_ms() - t0 >= 290);
	CHECK(now_ms() - t0 < 800);
	rx_stop(&slow);
	rx_stop(&ok);
	return 0;
}

/* 400 and 501 fail at once; the room's next event still goes out. */
TEST(no_retry_4xx_501)
{
	struct rx r400 = {.status = 400}, r501 = {.status = 501};
	struct webhook *wh = NULL;
	const char *urls[2];
	struct webhook_params prm = {.urls = urls,
	                             .nurls = 2,
	                             .api_key = KEY,
	                             .api_secret = SECRET,
	                             .backoff_min_ms = 10,
	                             .backoff_max_ms = 20};
	struct webhook_stats st;

	CHECK(rx_start(&r400) == 0);
	CHECK(rx_start(&r501) == 0);
	urls[0] = r400.url;
	urls[1] = r501.url;
	CHECK(webhook_open(&wh, &prm) == 0);
	CHECK(send_event(wh, "room_started", "room-1", NULL, 0) == 0);
	CHECK(send_event(wh, "room_finished", "room-1", NULL, 0) == 0);
	STATS_WAIT(wh, st, st.failed == 4, 2000);
	CHECK_EQ(st.failed, 4);
	sleep_ms(200);
	CHECK_EQ(rx_count(&r400), 2);
	CHECK_EQ(rx_count(&r501), 2);
	webhook_get_stats(wh, &st);
	CHECK_EQ(st.retried, 0);
	CHECK_EQ(st.delivered, 0);
	CHECK(body_has(&r400.req[0], "room_started"));
	CHECK(body_has(&r400.req[1], "room_finished"));
	webhook_close(wh, 1000);
	rx_stop(&r400);
	rx_stop(&r501);
	return 0;
}

/* 500 every time, and a port nobody listens on: max_attempts tries each,
 * then failed, logged. */
TEST(max_attempts)
{
	struct rx r500 = {.status = 500};
	struct webhook *wh = NULL;
	const char *urls[2];
	char dead[64], logbuf[8192];
	struct webhook_params prm = {.urls = urls,
	                             .nurls = 2,
	                             .api_key = KEY,
	                             .api_secret = SECRET,
	                             .max_attempts = 3,
	                             .backoff_min_ms = 10,
	                             .backoff_max_ms = 40};
	struct webhook_stats st;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	FILE *log = tmpfile();
	size_t n;

	CHECK(log);
	/* a free port: bind, read it back, close */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/",
	         ntohs(sa.sin_port));
	close(fd);

	CHECK(rx_start(&r500) == 0);
	urls[0] = r500.url;
	urls[1] = dead;
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, log);
	CHECK(webhook_open(&wh, &prm) == 0);
	CHECK(send_event(wh, "room_started", "room-1", NULL, 0) == 0);
	STATS_WAIT(wh, st, st.failed == 2, 3000);
	CHECK_EQ(st.failed, 2);
	CHECK_EQ(st.retried, 4);
	CHECK_EQ(st.delivered, 0);
	sleep_ms(100);
	CHECK_EQ(rx_count(&r500), 3);
	webhook_close(wh, 1000);
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, NULL);

	rewind(log);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, log);
	logbuf[n] = '\0';
	fclose(log);
	CHECK(strstr(logbuf, "webhook_failed"));
	CHECK(strstr(logbuf, "status=500"));
	CHECK(strstr(logbuf, "error="));
	CHECK(strstr(logbuf, "attempts=3"));
	CHECK(strstr(logbuf, "event=room_started"));
	CHECK(strstr(logbuf, r500.url));
	rx_stop(&r500);
	return 0;
}

/* max_depth refuses new events; events that waited past max_age behind a
 * slow head are dropped when their turn comes. */
TEST(age_and_depth)
{
	struct rx rx = {.delay_first_ms = 400};
	struct webhook *wh = NULL;
	const char *urls[1];
	struct webhook_params prm = {.urls = urls,
	                             .nurls = 1,
	                             .api_key = KEY,
	                             .api_secret = SECRET,
	                             .max_age_ms = 200,
	                             .max_depth = 3};
	struct webhook_stats st;
	char last[32];

	CHECK(rx_start(&rx) == 0);
	urls[0] = rx.url;
	CHECK(webhook_open(&wh, &prm) == 0);
	CHECK(send_event(wh, "e1", "room-1", NULL, 0) == 0);
	CHECK(send_event(wh, "e2", "room-1", NULL, 0) == 0);
	CHECK(send_event(wh, "e3", "room-1", NULL, 0) == 0);
	CHECK_EQ(send_event(wh, "e4", "room-1", NULL, 0), ENOSPC);
	webhook_get_stats(wh, &st);
	CHECK_EQ(st.queued, 3);
	CHECK_EQ(st.dropped, 1);
	STATS_WAIT(wh, st, st.delivered == 1 && st.dropped == 3, 2000);
	CHECK_EQ(st.delivered, 1);
	CHECK_EQ(st.dropped, 3);
	CHECK_EQ(rx_count(&rx), 1);
	CHECK(body_has(&rx.req[0], "\"e1\""));

	CHECK(send_event(wh, "e5", "room-1", last, sizeof(last)) == 0);
	CHECK(rx_wait(&rx, 2, 1000));
	CHECK(body_has(&rx.req[1], last));
	webhook_close(wh, 1000);
	rx_stop(&rx);
	return 0;
}

TEST(open_errors)
{
	struct webhook *wh = NULL;
	const char *urls[1] = {"http://127.0.0.1:1/"};
	struct webhook_params prm = {.urls = urls, .nurls = 1};
	json_t *ev = event("room_started", "r");

	CHECK_EQ(webhook_open(&wh, &prm), EINVAL); /* no key */
	prm.nurls = 0;
	CHECK_EQ(webhook_open(&wh, &prm), 0); /* no receivers: a no-op */
	CHECK_EQ(webhook_send(wh, "r", ev), 0);
	CHECK(json_object_get(ev, "id"));
	CHECK_EQ(webhook_send(wh, "r", NULL), EINVAL);
	webhook_close(wh, 0);
	webhook_close(NULL, 0);
	json_decref(ev);
	return 0;
}

int main(void)
{
	/* the receivers are local: no proxy from the environment */
	setenv("no_proxy", "*", 1);
	setenv("NO_PROXY", "*", 1);
	RUN(delivers_signed);
	RUN(order_and_retry);
	RUN(stalled_receiver);
	RUN(no_retry_4xx_501);
	RUN(max_attempts);
	RUN(age_and_depth);
	RUN(open_errors);
	TEST_EXIT();
}
