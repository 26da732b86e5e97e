/*
 * The outbox against a stand-in HTTP server run in a thread of the test
 * (127.0.0.1, ephemeral port). The server records each request and answers
 * by the first rule whose path prefix matches and whose uses are not spent:
 * a status, a body, an extra header, a delay, or never (stall); 200 "ok"
 * when none matches. Outcomes are recorded from the done callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/outbox.h"
#include "standin.h"
#include "test.h"

#define SV_MAX_REQ   64
#define SV_MAX_RULE  8
#define SV_MAX_STALL 16
#define OC_MAX       32

struct sv_rule {
	const char *prefix;
	int status;
	int times;         /* 0 = every time */
	const char *extra; /* header lines, each with its CRLF */
	const char *body;
	unsigned delay_ms;
	bool stall; /* read the request, never answer */
	int used;
};

struct sv_req {
	char *head;
	char *body;
	char path[128];
	uint64_t at_ms;
};

struct sv {
	int lfd;
	int port;
	pthread_t th;
	atomic_bool stop;
	pthread_mutex_t mtx;
	struct sv_rule rules[SV_MAX_RULE];
	struct sv_req req[SV_MAX_REQ];
	int nreq;
	int stalled[SV_MAX_STALL];
	int nstalled;
};

/* The path of a request line "POST /x HTTP/1.1". */
static void sv_path(const char *head, char *out, size_t sz)
{
	const char *p = strchr(head, ' '), *e;
	size_t n;

	*out = '\0';
	if (!p || !(e = strchr(p + 1, ' ')))
		return;
	n = (size_t)(e - p - 1);
	if (n >= sz)
		n = sz - 1;
	memcpy(out, p + 1, n);
	out[n] = '\0';
}

static void *sv_run(void *arg)
{
	struct sv *sv = arg;
	int fd;

	while ((fd = standin_accept(sv->lfd, &sv->stop)) >= 0) {
		struct sv_rule *r = NULL;
		char *head, *body, path[128], resp[512];
		const char *rbody;

		if (standin_read_request(fd, &head, &body)) {
			close(fd);
			continue;
		}
		sv_path(head, path, sizeof(path));
		pthread_mutex_lock(&sv->mtx);
		if (sv->nreq < SV_MAX_REQ) {
			struct sv_req *q = &sv->req[sv->nreq++];

			q->head = head;
			q->body = body;
			snprintf(q->path, sizeof(q->path), "%s", path);
			q->at_ms = now_ms();
		} else {
			free(head);
			free(body);
		}
		for (int i = 0; i < SV_MAX_RULE && sv->rules[i].prefix; i++) {
			struct sv_rule *c = &sv->rules[i];

			if (strncmp(path, c->prefix, strlen(c->prefix)) == 0 &&
			    (!c->times || c->used < c->times)) {
				c->used++;
				r = c;
				break;
			}
		}
		if (r && r->stall && sv->nstalled < SV_MAX_STALL) {
			sv->stalled[sv->nstalled++] = fd;
			pthread_mutex_unlock(&sv->mtx);
			continue;
		}
		pthread_mutex_unlock(&sv->mtx);
		if (r && r->delay_ms)
			sleep_ms(r->delay_ms);
		rbody = r && r->body ? r->body : "ok";
		snprintf(resp, sizeof(resp),
		         "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
		         "Connection: close\r\n%s\r\n",
		         r && r->status ? r->status : 200, strlen(rbody),
		         r && r->extra ? r->extra : "");
		if (!standin_send_all(fd, resp, strlen(resp)) ||
		    !standin_send_all(fd, rbody, strlen(rbody)))
			perror("send");
		close(fd);
	}
	return NULL;
}

static int sv_start(struct sv *sv)
{
	pthread_mutex_init(&sv->mtx, NULL);
	sv->lfd = standin_listen(&sv->port);
	if (sv->lfd < 0)
		return -1;
	return pthread_create(&sv->th, NULL, sv_run, sv);
}

static void sv_stop(struct sv *sv)
{
	atomic_store(&sv->stop, true);
	pthread_join(sv->th, NULL);
	close(sv->lfd);
	for (int i = 0; i < sv->nstalled; i++)
		close(sv->stalled[i]);
	for (int i = 0; i < sv->nreq; i++) {
		free(sv->req[i].head);
		free(sv->req[i].body);
	}
	pthread_mutex_destroy(&sv->mtx);
}

static int sv_count(struct sv *sv)
{
	int n;

	pthread_mutex_lock(&sv->mtx);
	n = sv->nreq;
	pthread_mutex_unlock(&sv->mtx);
	return n;
}

static void sv_url(const struct sv *sv, const char *path, char *out, size_t sz)
{
	snprintf(out, sz, "http://127.0.0.1:%d%s", sv->port, path);
}

/* An outcome as the done callback saw it. */
struct oc {
	enum outbox_result result;
	long status;
	unsigned attempts;
	char dest[32], url[128], key[32], error[128], body[OUTBOX_RESPONSE_MAX];
	bool has_error;
	size_t body_len;
	uint64_t at_ms;
	bool on_main;   /* the callback ran on the test's thread */
	int repost_err; /* outbox_post from the callback, when asked */
};

/* What the callbacks record into; arg of every post is a struct oc_ctx. */
struct oc_log {
	pthread_mutex_t mtx;
	pthread_t main;
	struct outbox *ob;
	bool repost; /* callbacks try to post again */
	struct outbox_payload *p;
	struct oc oc[OC_MAX];
	int n;
};

static void oc_done(const struct outbox_outcome *o, void *arg)
{
	struct oc_log *l = arg;
	struct oc *c;

	pthread_mutex_lock(&l->mtx);
	if (l->n >= OC_MAX) {
		pthread_mutex_unlock(&l->mtx);
		return;
	}
	c = &l->oc[l->n];
	c->result = o->result;
	c->status = o->status;
	c->attempts = o->attempts;
	snprintf(c->dest, sizeof(c->dest), "%s", o->dest);
	snprintf(c->url, sizeof(c->url), "%s", o->url);
	snprintf(c->key, sizeof(c->key), "%s", o->key);
	c->has_error = o->error != NULL;
	snprintf(c->error, sizeof(c->error), "%s", o->error ? o->error : "");
	memcpy(c->body, o->body,
	       o->body_len < sizeof(c->body) ? o->body_len : 0);
	c->body_len = o->body_len;
	c->at_ms = now_ms();
	c->on_main = pthread_equal(pthread_self(), l->main);
	pthread_mutex_unlock(&l->mtx);
	/* Outside the log's lock, as a user would: the post may fail. */
	c->repost_err =
	    l->repost ? outbox_post(l->ob, 0, o->url, o->key, l->p, NULL, NULL)
	              : 0;
	pthread_mutex_lock(&l->mtx);
	l->n++;
	pthread_mutex_unlock(&l->mtx);
}

static void oc_init(struct oc_log *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mtx, NULL);
	l->main = pthread_self();
}

static int oc_count(struct oc_log *l)
{
	int n;

	pthread_mutex_lock(&l->mtx);
	n = l->n;
	pthread_mutex_unlock(&l->mtx);
	return n;
}

static bool oc_wait(struct oc_log *l, int n, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (oc_count(l) < n) {
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* The recorded outcome whose URL ends with path. */
static const struct oc *oc_find(struct oc_log *l, const char *path)
{
	size_t pl = strlen(path);

	for (int i = 0; i < l->n; i++) {
		size_t ul = strlen(l->oc[i].url);

		if (ul >= pl && strcmp(l->oc[i].url + ul - pl, path) == 0)
			return &l->oc[i];
	}
	return NULL;
}

static int post(struct outbox *ob, size_t dest, struct sv *sv, const char *path,
                const char *key, struct oc_log *l)
{
	struct outbox_payload *p;
	const char *hdrs[] = {"Content-Type: text/plain", "X-Test: 1"};
	char url[128];
	int err;

	sv_url(sv, path, url, sizeof(url));
	err = outbox_payload_alloc(&p, hdrs, 2, path, strlen(path));
	if (err)
		return err;
	err = outbox_post(ob, dest, url, key, p, oc_done, l);
	outbox_payload_deref(p);
	return err;
}

/* key a: /a1 gets 503 with Retry-After: 1, 503, then 200; /a2 and /a3
 * wait for it. key b goes meanwhile. */
TEST(order_retry)
{
	struct sv sv = {
	    .rules = {{.prefix = "/a1",
	               .status = 503,
	               .times = 1,
	               .extra = "Retry-After: 1\r\n"},
	              {.prefix = "/a1", .status = 503, .times = 1}}};
	const char *dests[] = {"api"};
	struct outbox_params prm = {.dests = dests,
	                            .ndests = 1,
	                            .backoff_min_ms = 20,
	                            .backoff_max_ms = 2000};
	struct outbox *ob = NULL;
	struct outbox_stats st;
	struct oc_log l;
	const struct oc *o;
	int ia[8], na = 0, ib = -1;

	oc_init(&l);
	CHECK(sv_start(&sv) == 0);
	CHECK(outbox_open(&ob, &prm) == 0);
	CHECK(post(ob, 0, &sv, "/a1", "a", &l) == 0);
	CHECK(post(ob, 0, &sv, "/a2", "a", &l) == 0);
	CHECK(post(ob, 0, &sv, "/a3", "a", &l) == 0);
	CHECK(post(ob, 0, &sv, "/b1", "b", &l) == 0);
	CHECK(oc_wait(&l, 4, 4000));
	sleep_ms(50);
	CHECK_EQ(sv_count(&sv), 6);

	for (int i = 0; i < sv.nreq; i++) {
		if (sv.req[i].path[1] == 'a' && na < 8)
			ia[na++] = i;
		else if (strcmp(sv.req[i].path, "/b1") == 0)
			ib = i;
	}
	CHECK_EQ(na, 5);
	CHECK_STR(sv.req[ia[0]].path, "/a1");
	CHECK_STR(sv.req[ia[1]].path, "/a1");
	CHECK_STR(sv.req[ia[2]].path, "/a1");
	CHECK_STR(sv.req[ia[3]].path, "/a2");
	CHECK_STR(sv.req[ia[4]].path, "/a3");
	CHECK_STR(sv.req[ia[0]].body, "/a1"); /* the same bytes each try */
	CHECK_STR(sv.req[ia[2]].body, "/a1");
	/* Retry-After honoured, then the short backoff */
	CHECK(sv.req[ia[1]].at_ms - sv.req[ia[0]].at_ms >= 900);
	CHECK(sv.req[ia[2]].at_ms - sv.req[ia[1]].at_ms < 500);
	/* b did not wait for a */
	CHECK(ib >= 0 && sv.req[ib].at_ms < sv.req[ia[1]].at_ms);

	/* outcomes: a's in order, on the outbox thread */
	CHECK(!strcmp(l.oc[0].url + strlen(l.oc[0].url) - 3, "/b1"));
	o = oc_find(&l, "/a1");
	CHECK(o && o == &l.oc[1]);
	CHECK_EQ(o->result, OUTBOX_DELIVERED);
	CHECK_EQ(o->status, 200);
	CHECK_EQ(o->attempts, 3);
	CHECK(!o->has_error);
	CHECK_STR(o->body, "ok");
	CHECK_EQ(o->body_len, 2);
	CHECK_STR(o->key, "a");
	CHECK_STR(o->dest, "api");
	CHECK(!o->on_main);
	CHECK(oc_find(&l, "/a2") == &l.oc[2]);
	CHECK(oc_find(&l, "/a3") == &l.oc[3]);
	CHECK_EQ(l.oc[3].attempts, 1);

	outbox_get_stats(ob, &st);
	CHECK_EQ(st.queued, 4);
	CHECK_EQ(st.delivered, 4);
	CHECK_EQ(st.retried, 2);
	CHECK_EQ(st.failed + st.dropped, 0);
	outbox_close(ob, 1000);
	sv_stop(&sv);
	return 0;
}

/* 400 and 501 fail at once with their bodies; the key's next item still
 * goes. A port nobody listens on fails after max_attempts with curl's
 * error text. */
TEST(not_delivered)
{
	struct sv sv = {.rules = {{.prefix = "/bad",
	                           .status = 400,
	                           .body = "{\"error\":\"nope\"}"},
	                          {.prefix = "/ni", .status = 501}}};
	const char *dests[] = {"api", "dead"};
	struct outbox_params prm = {.dests = dests,
	                            .ndests = 2,
	                            .max_attempts = 3,
	                            .backoff_min_ms = 10,
	                            .backoff_max_ms = 40};
	struct outbox *ob = NULL;
	struct outbox_stats st;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct outbox_payload *p;
	char dead[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct oc_log l;
	const struct oc *o;

	/* a free port: bind, read it back, close */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/dead",
	         ntohs(sa.sin_port));
	close(fd);

	oc_init(&l);
	CHECK(sv_start(&sv) == 0);
	CHECK(outbox_open(&ob, &prm) == 0);
	CHECK(post(ob, 0, &sv, "/bad", "k", &l) == 0);
	CHECK(post(ob, 0, &sv, "/ni", "k", &l) == 0);
	CHECK(post(ob, 0, &sv, "/after", "k", &l) == 0);
	CHECK(outbox_payload_alloc(&p, NULL, 0, "x", 1) == 0);
	CHECK(outbox_post(ob, 1, dead, NULL, p, oc_done, &l) == 0);
	outbox_payload_deref(p);
	CHECK(oc_wait(&l, 4, 3000));

	o = oc_find(&l, "/bad");
	CHECK(o);
	CHECK_EQ(o->result, OUTBOX_FAILED);
	CHECK_EQ(o->status, 400);
	CHECK_EQ(o->attempts, 1);
	CHECK(!o->has_error);
	CHECK_STR(o->body, "{\"error\":\"nope\"}");
	o = oc_find(&l, "/ni");
	CHECK(o && o->result == OUTBOX_FAILED && o->status == 501);
	CHECK_EQ(o->attempts, 1);
	o = oc_find(&l, "/after");
	CHECK(o && o->result == OUTBOX_DELIVERED);
	o = oc_find(&l, "/dead");
	CHECK(o);
	CHECK_EQ(o->result, OUTBOX_FAILED);
	CHECK_EQ(o->status, 0);
	CHECK_EQ(o->attempts, 3);
	CHECK(o->has_error && *o->error);
	CHECK_STR(o->key, "");
	CHECK_STR(o->dest, "dead");
	CHECK_STR(o->body, "");

	sleep_ms(50);
	CHECK_EQ(sv_count(&sv), 3);
	outbox_get_stats(ob, &st);
	CHECK_EQ(st.failed, 3);
	CHECK_EQ(st.delivered, 1);
	CHECK_EQ(st.retried, 2);
	outbox_close(ob, 1000);
	sv_stop(&sv);
	return 0;
}

/* A stalled request holds only its key: another key goes at once. Close
 * waits its timeout, then drops the stalled item and the one behind it,
 * calling back on the outbox thread; a post from there is refused. */
TEST(stall_and_close)
{
	struct sv sv = {.rules = {{.prefix = "/stall", .stall = true}}};
	const char *dests[] = {"api"};
	struct outbox_params prm = {.dests = dests, .ndests = 1};
	struct outbox *ob = NULL;
	const char *hdrs[] = {"X-A: 1"};
	struct oc_log l;
	const struct oc *o;
	uint64_t t0;

	oc_init(&l);
	CHECK(sv_start(&sv) == 0);
	CHECK(outbox_open(&ob, &prm) == 0);
	l.ob = ob;
	CHECK(outbox_payload_alloc(&l.p, hdrs, 1, "again", 5) == 0);
	t0 = now_ms();
	CHECK(post(ob, 0, &sv, "/stall", "k1", &l) == 0);
	CHECK(post(ob, 0, &sv, "/next", "k1", &l) == 0);
	CHECK(post(ob, 0, &sv, "/other", "k2", &l) == 0);
	CHECK(oc_wait(&l, 1, 1000));
	CHECK(now_ms() - t0 < 500);
	CHECK(oc_find(&l, "/other") == &l.oc[0]);
	sleep_ms(100);
	CHECK_EQ(oc_count(&l), 1);
	CHECK_EQ(sv_count(&sv), 2);

	l.repost = true;
	t0 = now_ms();
	outbox_close(ob, 300);
	CHECK(now_ms() - t0 >= 290);
	CHECK(now_ms() - t0 < 800);
	/* both callbacks ran before close returned */
	CHECK_EQ(oc_count(&l), 3);
	o = oc_find(&l, "/stall");
	CHECK(o);
	CHECK_EQ(o->result, OUTBOX_DROPPED);
	CHECK_STR(o->error, "closed");
	CHECK_EQ(o->attempts, 1);
	CHECK_EQ(o->status, 0);
	CHECK(!o->on_main);
	CHECK_EQ(o->repost_err, ECANCELED);
	o = oc_find(&l, "/next");
	CHECK(o && o->result == OUTBOX_DROPPED);
	CHECK_EQ(o->attempts, 0);
	CHECK(o == &l.oc[2]); /* in order */
	outbox_payload_deref(l.p);
	sv_stop(&sv);
	return 0;
}

static unsigned long long full_count;
static char full_dest[32];

static void on_full(const char *dest, unsigned long long count, void *arg)
{
	(void)arg;
	full_count += count;
	snprintf(full_dest, sizeof(full_dest), "%s", dest);
}

/* max_depth refuses a post and the full callback hears of it; an item
 * that waited past max_age behind a slow head is dropped. Response bodies
 * are cut to OUTBOX_RESPONSE_MAX; headers and the user agent go out. */
TEST(age_depth_body)
{
	static char big[OUTBOX_RESPONSE_MAX * 2 + 1];
	struct sv sv = {.rules = {{.prefix = "/slow", .delay_ms = 400},
	                          {.prefix = "/big", .body = big}}};
	const char *dests[] = {"api"};
	struct outbox_params prm = {.dests = dests,
	                            .ndests = 1,
	                            .max_age_ms = 200,
	                            .max_depth = 2,
	                            .user_agent = "tester",
	                            .full = on_full};
	struct outbox *ob = NULL;
	struct outbox_stats st;
	struct oc_log l;
	const struct oc *o;
	char v[64];

	memset(big, 'x', sizeof(big) - 1);
	oc_init(&l);
	CHECK(sv_start(&sv) == 0);
	CHECK(outbox_open(&ob, &prm) == 0);
	CHECK(post(ob, 0, &sv, "/slow", "k", &l) == 0);
	CHECK(post(ob, 0, &sv, "/late", "k", &l) == 0);
	CHECK_EQ(post(ob, 0, &sv, "/refused", "k", &l), ENOSPC);
	CHECK(oc_wait(&l, 2, 2000));
	o = oc_find(&l, "/late");
	CHECK(o);
	CHECK_EQ(o->result, OUTBOX_DROPPED);
	CHECK_STR(o->error, "max_age");
	CHECK_EQ(o->attempts, 0);
	o = oc_find(&l, "/slow");
	CHECK(o && o->result == OUTBOX_DELIVERED);
	CHECK_EQ(full_count, 1);
	CHECK_STR(full_dest, "api");
	CHECK_EQ(sv_count(&sv), 1);

	CHECK(post(ob, 0, &sv, "/big", "k", &l) == 0);
	CHECK(oc_wait(&l, 3, 2000));
	o = oc_find(&l, "/big");
	CHECK(o && o->result == OUTBOX_DELIVERED);
	CHECK_EQ(o->body_len, OUTBOX_RESPONSE_MAX);
	CHECK(sv_count(&sv) == 2);
	CHECK(standin_header(sv.req[1].head, "X-Test", v, sizeof(v)));
	CHECK_STR(v, "1");
	CHECK(standin_header(sv.req[1].head, "Content-Type", v, sizeof(v)));
	CHECK_STR(v, "text/plain");
	CHECK(standin_header(sv.req[1].head, "User-Agent", v, sizeof(v)));
	CHECK_STR(v, "tester");
	CHECK(!standin_header(sv.req[1].head, "Expect", v, sizeof(v)));

	outbox_get_stats(ob, &st);
	CHECK_EQ(st.queued, 3);
	CHECK_EQ(st.delivered, 2);
	CHECK_EQ(st.dropped, 2);
	outbox_close(ob, 1000);
	sv_stop(&sv);
	return 0;
}

/* One payload, two destinations: both get the same bytes. */
TEST(shared_payload)
{
	struct sv sv = {0};
	const char *dests[] = {"one", "two"};
	struct outbox_params prm = {.dests = dests, .ndests = 2};
	struct outbox *ob = NULL;
	struct outbox_payload *p;
	const char *hdrs[] = {"X-Sig: abc"};
	char u1[128], u2[128], v[32];
	struct oc_log l;

	oc_init(&l);
	CHECK(sv_start(&sv) == 0);
	CHECK(outbox_open(&ob, &prm) == 0);
	sv_url(&sv, "/one", u1, sizeof(u1));
	sv_url(&sv, "/two", u2, sizeof(u2));
	CHECK(outbox_payload_alloc(&p, hdrs, 1, "{\"n\":1}", 7) == 0);
	CHECK(outbox_post(ob, 0, u1, "k", p, oc_done, &l) == 0);
	CHECK(outbox_post(ob, 1, u2, "k", p, oc_done, &l) == 0);
	outbox_payload_deref(p); /* the posts hold their own */
	CHECK(oc_wait(&l, 2, 2000));
	CHECK_EQ(sv_count(&sv), 2);
	for (int i = 0; i < 2; i++) {
		CHECK_STR(sv.req[i].body, "{\"n\":1}");
		CHECK(standin_header(sv.req[i].head, "X-Sig", v, sizeof(v)));
		CHECK_STR(v, "abc");
		CHECK(
		    standin_header(sv.req[i].head, "User-Agent", v, sizeof(v)));
		CHECK_STR(v, "voxgate");
	}
	CHECK_STR(oc_find(&l, "/one")->dest, "one");
	CHECK_STR(oc_find(&l, "/two")->dest, "two");
	outbox_close(ob, 1000);
	sv_stop(&sv);
	return 0;
}

TEST(errors)
{
	const char *bad[] = {"X: a\r\nY: b"};
	const char *dests[] = {"api"};
	struct outbox_params prm = {.dests = dests, .ndests = 1};
	struct outbox_payload *p = NULL;
	struct outbox *ob = NULL;
	struct outbox_stats st;

	CHECK_EQ(outbox_payload_alloc(&p, bad, 1, "x", 1), EINVAL);
	CHECK_EQ(outbox_payload_alloc(&p, NULL, 1, "x", 1), EINVAL);
	CHECK_EQ(outbox_payload_alloc(&p, NULL, 0, NULL, 1), EINVAL);
	CHECK_EQ(outbox_payload_alloc(&p, NULL, 0, NULL, 0), 0);
	prm.ndests = 1;
	prm.dests = NULL;
	CHECK_EQ(outbox_open(&ob, &prm), EINVAL);
	prm.dests = dests;
	CHECK_EQ(outbox_open(&ob, &prm), 0);
	CHECK_EQ(outbox_post(ob, 1, "http://127.0.0.1:1/", "k", p, NULL, NULL),
	         EINVAL);
	CHECK_EQ(outbox_post(ob, 0, "", "k", p, NULL, NULL), EINVAL);
	CHECK_EQ(
	    outbox_post(ob, 0, "http://127.0.0.1:1/", "k", NULL, NULL, NULL),
	    EINVAL);
	outbox_get_stats(ob, &st);
	CHECK_EQ(st.queued + st.dropped, 0);
	outbox_payload_deref(p);
	outbox_close(ob, 0);
	outbox_close(NULL, 0);
	outbox_get_stats(NULL, &st);
	CHECK_EQ(st.queued, 0);
	return 0;
}

int main(void)
{
	/* the stand-in is local: no proxy from the environment */
	setenv("no_proxy", "*", 1);
	setenv("NO_PROXY", "*", 1);
	RUN(order_retry);
	RUN(not_delivered);
	RUN(stall_and_close);
	RUN(age_depth_body);
	RUN(shared_payload);
	RUN(errors);
	TEST_EXIT();
}
