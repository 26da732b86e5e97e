/*
 * Telnyx Call Control commands against a stand-in API run in a thread of
 * the test (127.0.0.1, ephemeral port). The stand-in records method, path,
 * Authorization and body, and answers by the call id in the path: "flaky"
 * gets 500 once, "ended" 422 with Telnyx's error body, "stall" never an
 * answer, anything else 200.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carrier/telnyx_api.h"
#include "core/log.h"
#include "standin.h"
#include "test.h"

#define KEY "KEY0123_test"

#define API_MAX_REQ   32
#define API_MAX_STALL 8
#define RES_MAX       16

#define ENDED_BODY                                                             \
	"{\"errors\":[{\"code\":\"90018\",\"title\":\"Call has already "       \
	"ended\",\"detail\":\"This call is no longer active and can't "        \
	"receive commands.\"}]}"

struct api_req {
	char method[8];
	char path[160];
	char auth[96];
	char ctype[64];
	char *body;
	uint64_t at_ms;
};

struct api {
	int lfd;
	int port;
	char base[64];
	pthread_t th;
	atomic_bool stop;
	pthread_mutex_t mtx;
	struct api_req req[API_MAX_REQ];
	int nreq;
	int flaky_left;
	int stalled[API_MAX_STALL];
	int nstalled;
};

static void *api_run(void *arg)
{
	struct api *api = arg;
	int fd;

	while ((fd = standin_accept(api->lfd, &api->stop)) >= 0) {
		const char *status = "200 OK", *rbody;
		char *head, *body, resp[256];
		struct api_req *r;

		if (standin_read_request(fd, &head, &body)) {
			close(fd);
			continue;
		}
		pthread_mutex_lock(&api->mtx);
		if (api->nreq == API_MAX_REQ) {
			pthread_mutex_unlock(&api->mtx);
			free(head);
			free(body);
			close(fd);
			continue;
		}
		r = &api->req[api->nreq++];
		sscanf(head, "%7s %159s", r->method, r->path);
		if (!standin_header(head, "Authorization", r->auth,
		                    sizeof(r->auth)))
			*r->auth = '\0';
		if (!standin_header(head, "Content-Type", r->ctype,
		                    sizeof(r->ctype)))
			*r->ctype = '\0';
		r->body = body;
		r->at_ms = now_ms();
		free(head);
		rbody = "{\"data\":{\"result\":\"ok\"}}";
		if (strstr(r->path, "stall") && api->nstalled < API_MAX_STALL) {
			api->stalled[api->nstalled++] = fd;
			pthread_mutex_unlock(&api->mtx);
			continue;
		}
		if (strstr(r->path, "ended")) {
			status = "422 Unprocessable Entity";
			rbody = ENDED_BODY;
		} else if (strstr(r->path, "flaky") && api->flaky_left > 0) {
			api->flaky_left--;
			status = "500 Internal Server Error";
			rbody = "{\"errors\":[{\"code\":\"10007\"}]}";
		}
		pthread_mutex_unlock(&api->mtx);
		snprintf(resp, sizeof(resp),
		         "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		         status, strlen(rbody));
		if (!standin_send_all(fd, resp, strlen(resp)) ||
		    !standin_send_all(fd, rbody, strlen(rbody)))
			perror("send");
		close(fd);
	}
	return NULL;
}

static int api_start(struct api *api)
{
	pthread_mutex_init(&api->mtx, NULL);
	api->lfd = standin_listen(&api->port);
	if (api->lfd < 0)
		return -1;
	/* a trailing slash, as a configuration may have it */
	snprintf(api->base, sizeof(api->base), "http://127.0.0.1:%d/v2/",
	         api->port);
	return pthread_create(&api->th, NULL, api_run, api);
}

static void api_stop(struct api *api)
{
	atomic_store(&api->stop, true);
	pthread_join(api->th, NULL);
	close(api->lfd);
	for (int i = 0; i < api->nstalled; i++)
		close(api->stalled[i]);
	for (int i = 0; i < api->nreq; i++)
		free(api->req[i].body);
	pthread_mutex_destroy(&api->mtx);
}

static int api_count(struct api *api)
{
	int n;

	pthread_mutex_lock(&api->mtx);
	n = api->nreq;
	pthread_mutex_unlock(&api->mtx);
	return n;
}

static bool api_wait(struct api *api, int n, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (api_count(api) < n) {
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* What a done callback got; tag is its arg. */
struct res {
	const char *tag;
	bool ok;
	int status;
	char code[16], error[128], body[128];
	bool has_code, has_error;
	unsigned attempts;
	uint64_t at_ms;
};

static struct {
	pthread_mutex_t mtx;
	struct res r[RES_MAX];
	int n;
} got = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void on_done(const struct telnyx_api_result *res, void *arg)
{
	struct res *r;

	pthread_mutex_lock(&got.mtx);
	if (got.n < RES_MAX) {
		r = &got.r[got.n++];
		r->tag = arg;
		r->ok = res->ok;
		r->status = res->status;
		r->has_code = res->code != NULL;
		snprintf(r->code, sizeof(r->code), "%s",
		         res->code ? res->code : "");
		r->has_error = res->error != NULL;
		snprintf(r->error, sizeof(r->error), "%s",
		         res->error ? res->error : "");
		snprintf(r->body, sizeof(r->body), "%s", res->body);
		r->attempts = res->attempts;
		r->at_ms = now_ms();
	}
	pthread_mutex_unlock(&got.mtx);
}

static int got_count(void)
{
	int n;

	pthread_mutex_lock(&got.mtx);
	n = got.n;
	pthread_mutex_unlock(&got.mtx);
	return n;
}

static bool got_wait(int n, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (got_count() < n) {
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

static const struct res *got_find(const char *tag)
{
	for (int i = 0; i < got.n; i++) {
		if (strcmp(got.r[i].tag, tag) == 0)
			return &got.r[i];
	}
	return NULL;
}

static void got_reset(void)
{
	pthread_mutex_lock(&got.mtx);
	got.n = 0;
	pthread_mutex_unlock(&got.mtx);
}

static const char *body_str(const char *body, const char *name, char *out,
                            size_t sz)
{
	json_t *o = json_loads(body, 0, NULL);
	const char *v = json_string_value(json_object_get(o, name));

	snprintf(out, sz, "%s", v ? v : "(none)");
	json_decref(o);
	return out;
}

/* Reads what the log file got since it was set up. */
static void log_read(FILE *f, char *buf, size_t sz)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, sz - 1, f);
	buf[n] = '\0';
}

/* answer, transfer, hangup for one call: in order, Bearer key, the
 * command ids, an escaped call id under a base URL with a slash. */
TEST(order_and_request)
{
	struct api api = {0};
	struct telnyx_api *a = NULL;
	struct telnyx_api_params prm = {.api_key = KEY};
	const char *id = "v3:call/one";
	char v[64], logbuf[4096];
	FILE *log = tmpfile();
	const struct res *r;

	CHECK(log);
	got_reset();
	CHECK(api_start(&api) == 0);
	prm.base_url = api.base;
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, log);
	CHECK(telnyx_api_open(&a, &prm) == 0);
	CHECK(telnyx_api_command(a, id, "answer", NULL, "cmd-1", on_done,
	                         "answer") == 0);
	CHECK(telnyx_api_command(a, id, "transfer", "{\"to\":\"+15550001111\"}",
	                         "cmd-2", on_done, "transfer") == 0);
	CHECK(telnyx_api_command(a, id, "hangup", "{\"command_id\":\"given\"}",
	                         "cmd-3", on_done, "hangup") == 0);
	CHECK(telnyx_api_command(a, "v3-other", "speak", "{}", NULL, NULL,
	                         NULL) == 0);
	CHECK(got_wait(3, 2000));
	CHECK(api_wait(&api, 4, 1000));
	telnyx_api_close(a, 1000);
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, NULL);

	for (int i = 0; i < 4; i++) {
		CHECK_STR(api.req[i].method, "POST");
		CHECK_STR(api.req[i].auth, "Bearer " KEY);
		CHECK_STR(api.req[i].ctype, "application/json");
	}
	/* the call's three in order; the other call's anywhere */
	for (int i = 0, k = 0; i < 4; i++) {
		static const char *const want[] = {
		    "/v2/calls/v3%3Acall%2Fone/actions/answer",
		    "/v2/calls/v3%3Acall%2Fone/actions/transfer",
		    "/v2/calls/v3%3Acall%2Fone/actions/hangup"};

		if (strstr(api.req[i].path, "v3-other")) {
			CHECK_STR(api.req[i].path,
			          "/v2/calls/v3-other/actions/speak");
			CHECK_STR(api.req[i].body, "{}");
			continue;
		}
		CHECK_STR(api.req[i].path, want[k]);
		k++;
	}
	for (int i = 0; i < 4; i++) {
		const char *b = api.req[i].body;

		if (strstr(api.req[i].path, "/answer"))
			CHECK_STR(body_str(b, "command_id", v, sizeof(v)),
			          "cmd-1");
		if (strstr(api.req[i].path, "/transfer")) {
			CHECK_STR(body_str(b, "command_id", v, sizeof(v)),
			          "cmd-2");
			CHECK_STR(body_str(b, "to", v, sizeof(v)),
			          "+15550001111");
		}
		if (strstr(api.req[i].path, "/hangup"))
			CHECK_STR(body_str(b, "command_id", v, sizeof(v)),
			          "given");
	}

	/* callbacks in the call's order, with the outcome */
	CHECK_STR(got.r[0].tag, "answer");
	CHECK_STR(got.r[1].tag, "transfer");
	CHECK_STR(got.r[2].tag, "hangup");
	r = got_find("transfer");
	CHECK(r->ok);
	CHECK_EQ(r->status, 200);
	CHECK_EQ(r->attempts, 1);
	CHECK(!r->has_code && !r->has_error);
	CHECK_STR(r->body, "{\"data\":{\"result\":\"ok\"}}");

	log_read(log, logbuf, sizeof(logbuf));
	fclose(log);
	CHECK(strstr(logbuf, "INFO  telnyx_command action=answer "
	                     "call_control_id=\"v3:call/one\" status=200 "
	                     "attempts=1"));
	CHECK(strstr(logbuf, "telnyx_command action=speak "
	                     "call_control_id=\"v3-other\" status=200"));
	api_stop(&api);
	return 0;
}

/* 500, then 200: two tries, the same body and command_id. */
TEST(retry_same_command_id)
{
	struct api api = {.flaky_left = 1};
	struct telnyx_api *a = NULL;
	struct telnyx_api_params prm = {
	    .api_key = KEY, .backoff_min_ms = 20, .backoff_max_ms = 40};
	struct outbox_stats st;
	const struct res *r;
	char v[32];

	got_reset();
	CHECK(api_start(&api) == 0);
	prm.base_url = api.base;
	CHECK(telnyx_api_open(&a, &prm) == 0);
	CHECK(telnyx_api_command(a, "flaky-1", "answer", NULL, "cmd-r", on_done,
	                         "flaky") == 0);
	CHECK(got_wait(1, 2000));
	r = got_find("flaky");
	CHECK(r && r->ok);
	CHECK_EQ(r->status, 200);
	CHECK_EQ(r->attempts, 2);
	CHECK_EQ(api_count(&api), 2);
	CHECK_STR(api.req[0].body, api.req[1].body);
	CHECK_STR(body_str(api.req[1].body, "command_id", v, sizeof(v)),
	          "cmd-r");
	CHECK(api.req[1].at_ms - api.req[0].at_ms >= 15);
	telnyx_api_get_stats(a, &st);
	CHECK_EQ(st.retried, 1);
	CHECK_EQ(st.delivered, 1);
	telnyx_api_close(a, 1000);
	api_stop(&api);
	return 0;
}

/* 422 "Call has already ended": one try, its code and title. */
TEST(no_retry_422)
{
	struct api api = {0};
	struct telnyx_api *a = NULL;
	struct telnyx_api_params prm = {.api_key = KEY, .backoff_min_ms = 10};
	char logbuf[4096];
	FILE *log = tmpfile();
	const struct res *r;

	CHECK(log);
	got_reset();
	CHECK(api_start(&api) == 0);
	prm.base_url = api.base;
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, log);
	CHECK(telnyx_api_open(&a, &prm) == 0);
	CHECK(telnyx_api_command(a, "ended-1", "hangup", NULL, "cmd-e", on_done,
	                         "ended") == 0);
	CHECK(got_wait(1, 2000));
	sleep_ms(100);
	CHECK_EQ(api_count(&api), 1);
	r = got_find("ended");
	CHECK(r && !r->ok);
	CHECK_EQ(r->status, 422);
	CHECK_EQ(r->attempts, 1);
	CHECK(r->has_code);
	CHECK_STR(r->code, "90018");
	CHECK_STR(r->error, "Call has already ended");
	telnyx_api_close(a, 1000);
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, NULL);

	log_read(log, logbuf, sizeof(logbuf));
	fclose(log);
	CHECK(strstr(logbuf, "WARN  telnyx_command action=hangup "
	                     "call_control_id=\"ended-1\" status=422 "
	                     "attempts=1 code=\"90018\" "
	                     "error=\"Call has already ended\""));
	api_stop(&api);
	return 0;
}

/* A call whose command gets no answer: another call's command goes at
 * once; with one request in flight at a time, it waits no longer than the
 * request timeout. */
TEST(stalled_call)
{
	struct api api = {0};
	struct telnyx_api *a = NULL;
	struct telnyx_api_params prm = {
	    .api_key = KEY, .timeout_ms = 300, .max_attempts = 1};
	const struct res *r;
	uint64_t t0;

	got_reset();
	CHECK(api_start(&api) == 0);
	prm.base_url = api.base;
	CHECK(telnyx_api_open(&a, &prm) == 0);
	t0 = now_ms();
	CHECK(telnyx_api_command(a, "stall-1", "answer", NULL, "c1", on_done,
	                         "stall") == 0);
	CHECK(telnyx_api_command(a, "ok-2", "answer", NULL, "c2", on_done,
	                         "ok") == 0);
	CHECK(got_wait(1, 1000));
	CHECK_STR(got.r[0].tag, "ok");
	CHECK(got.r[0].at_ms - t0 < 200);
	CHECK(got_wait(2, 1000));
	r = got_find("stall");
	CHECK(r && !r->ok);
	CHECK_EQ(r->status, 0);
	CHECK_EQ(r->attempts, 1);
	CHECK(!r->has_code);
	CHECK(strstr(r->error, "Timeout"));
	CHECK(r->at_ms - t0 >= 280);
	telnyx_api_close(a, 1000);

	got_reset();
	prm.max_inflight = 1;
	CHECK(telnyx_api_open(&a, &prm) == 0);
	t0 = now_ms();
	CHECK(telnyx_api_command(a, "stall-3", "answer", NULL, "c3", on_done,
	                         "stall") == 0);
	CHECK(telnyx_api_command(a, "ok-4", "answer", NULL, "c4", on_done,
	                         "ok") == 0);
	CHECK(got_wait(2, 2000));
	r = got_find("ok");
	CHECK(r && r->ok);
	CHECK(r->at_ms - t0 >= 280);
	CHECK(r->at_ms - t0 < 300 + 200);
	telnyx_api_close(a, 1000);
	api_stop(&api);
	return 0;
}

/* Close drops what is queued after its timeout; the callbacks have run
 * by the time it returns. */
TEST(close_drops)
{
	struct api api = {0};
	struct telnyx_api *a = NULL;
	struct telnyx_api_params prm = {.api_key = KEY, .timeout_ms = 5000};
	const struct res *r;
	uint64_t t0;

	got_reset();
	CHECK(api_start(&api) == 0);
	prm.base_url = api.base;
	CHECK(telnyx_api_open(&a, &prm) == 0);
	CHECK(telnyx_api_command(a, "stall-5", "answer", NULL, "c5", on_done,
	                         "first") == 0);
	CHECK(telnyx_api_command(a, "stall-5", "speak", "{\"payload\":\"hi\"}",
	                         "c6", on_done, "second") == 0);
	CHECK(api_wait(&api, 1, 1000));
	t0 = now_ms();
	telnyx_api_close(a, 100);
	CHECK(now_ms() - t0 < 1000);
	CHECK_EQ(got_count(), 2);
	r = got_find("first");
	CHECK(r && !r->ok);
	CHECK_STR(r->error, "dropped: closed");
	CHECK_EQ(r->attempts, 1);
	r = got_find("second");
	CHECK(r && !r->ok);
	CHECK_STR(r->error, "dropped: closed");
	CHECK_EQ(r->attempts, 0);
	CHECK_EQ(api_count(&api), 1);
	api_stop(&api);
	return 0;
}

TEST(errors)
{
	struct telnyx_api *a = NULL;
	struct telnyx_api_params prm = {0};
	struct outbox_stats st;

	got_reset();
	CHECK_EQ(telnyx_api_open(&a, &prm), EINVAL);
	prm.api_key = "a\r\nX-Evil: 1";
	CHECK_EQ(telnyx_api_open(&a, &prm), EINVAL);
	prm.api_key = KEY;
	prm.base_url = "http://127.0.0.1:1/v2";
	CHECK_EQ(telnyx_api_open(&a, &prm), 0);
	CHECK_EQ(telnyx_api_command(a, "", "answer", NULL, NULL, on_done, "x"),
	         EINVAL);
	CHECK_EQ(
	    telnyx_api_command(a, NULL, "answer", NULL, NULL, on_done, "x"),
	    EINVAL);
	CHECK_EQ(telnyx_api_command(a, "c", "../x", NULL, NULL, on_done, "x"),
	         EINVAL);
	CHECK_EQ(telnyx_api_command(a, "c", "Answer", NULL, NULL, on_done, "x"),
	         EINVAL);
	CHECK_EQ(telnyx_api_command(a, "c", NULL, NULL, NULL, on_done, "x"),
	         EINVAL);
	CHECK_EQ(
	    telnyx_api_command(a, "c", "answer", "[1]", NULL, on_done, "x"),
	    EINVAL);
	CHECK_EQ(
	    telnyx_api_command(a, "c", "answer", "{no", NULL, on_done, "x"),
	    EINVAL);
	telnyx_api_get_stats(a, &st);
	CHECK_EQ(st.queued, 0);
	telnyx_api_close(a, 0);
	telnyx_api_close(NULL, 0);
	CHECK_EQ(got_count(), 0);
	return 0;
}

int main(void)
{
	/* the stand-in is local: no proxy from the environment */
	setenv("no_proxy", "*", 1);
	setenv("NO_PROXY", "*", 1);
	RUN(order_and_request);
	RUN(retry_same_command_id);
	RUN(no_retry_422);
	RUN(stalled_call);
	RUN(close_drops);
	RUN(errors);
	TEST_EXIT();
}
