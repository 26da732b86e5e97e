/*
 * The timer queue: deadlines fire in order of their due time (alike ones
 * in the order started), never before it, once; cancelled and reset ones
 * never; handlers may start and cancel deadlines; and however many are
 * queued, the loop holds one libre timer for them, moved only when a
 * deadline comes before it.
 */
#include <stdlib.h>
#include <re.h>

#include "core/tmrq.h"

#include "test.h"
#include "loop.h"

struct hit {
	struct tmrq *q;
	struct tmrq_ent e;
	int id;
	uint64_t started, due_ms, at;
	int *log, *n;
	struct hit *cancel; /* cancelled by this one's handler */
	int again;          /* started once more from its own handler */
};

static void on_due(void *arg)
{
	struct hit *h = arg;

	h->at = tmr_jiffies();
	h->log[(*h->n)++] = h->id;
	if (h->cancel)
		tmrq_cancel(&h->cancel->e);
	if (h->again) {
		h->again--;
		tmrq_start(h->q, &h->e, 0, on_due, h);
	}
}

static void hit_start(struct hit *h, struct tmrq *q, int id, uint64_t ms,
                      int *log, int *n)
{
	h->q = q;
	h->id = id;
	h->log = log;
	h->n = n;
	h->due_ms = ms;
	h->started = tmr_jiffies();
	tmrq_ent_init(&h->e);
	tmrq_start(q, &h->e, ms, on_due, h);
}

/* The number of timers on this thread's libre list. */
static unsigned libre_timers(void)
{
	char buf[64] = "";
	unsigned n = 0;

	(void)re_snprintf(buf, sizeof(buf), "%H", tmr_status, NULL);
	(void)sscanf(buf, "Timers (%u)", &n);
	return n;
}

TEST(fires_in_order_not_early)
{
	static const uint64_t ms[] = {60, 20, 40, 20, 0, 60};
	struct hit h[6] = {0};
	int log[16], n = 0;
	struct tmrq q;

	tmrq_init(&q);
	for (int i = 0; i < 6; i++)
		hit_start(&h[i], &q, i, ms[i], log, &n);
	CHECK_EQ(tmrq_count(&q), 6);
	run_loop(200);
	CHECK_EQ(n, 6);
	CHECK_EQ(log[0], 4);
	CHECK_EQ(log[1], 1);
	CHECK_EQ(log[2], 3);
	CHECK_EQ(log[3], 2);
	CHECK_EQ(log[4], 0);
	CHECK_EQ(log[5], 5);
	for (int i = 0; i < 6; i++) {
		CHECK(h[i].at >= h[i].started + h[i].due_ms);
		CHECK(!tmrq_running(&h[i].e));
	}
	CHECK_EQ(tmrq_count(&q), 0);
	tmrq_reset(&q);
	return 0;
}

TEST(cancel_and_restart)
{
	struct hit h[4] = {0};
	int log[16], n = 0;
	struct tmrq q;

	tmrq_init(&q);
	hit_start(&h[0], &q, 0, 10, log, &n);
	hit_start(&h[1], &q, 1, 30, log, &n);
	hit_start(&h[2], &q, 2, 50, log, &n);
	hit_start(&h[3], &q, 3, 20, log, &n);
	/* the earliest cancelled: the timer fires for nothing, then on */
	tmrq_cancel(&h[0].e);
	tmrq_cancel(&h[0].e);
	CHECK(!tmrq_running(&h[0].e));
	CHECK(tmrq_running(&h[1].e));
	/* restarted later than it was: it moves */
	tmrq_start(&q, &h[3].e, 80, on_due, &h[3]);
	h[3].due_ms = 80;
	/* a null handler stops it */
	tmrq_start(&q, &h[2].e, 5, NULL, NULL);
	CHECK(!tmrq_running(&h[2].e));
	run_loop(200);
	CHECK_EQ(n, 2);
	CHECK_EQ(log[0], 1);
	CHECK_EQ(log[1], 3);
	CHECK(h[3].at >= h[3].started + 80);
	tmrq_reset(&q);
	return 0;
}

TEST(handlers_start_and_cancel)
{
	struct hit h[3] = {0};
	int log[16], n = 0;
	struct tmrq q;

	tmrq_init(&q);
	/* due together: the first to run cancels the other */
	hit_start(&h[0], &q, 0, 10, log, &n);
	hit_start(&h[1], &q, 1, 10, log, &n);
	h[0].cancel = &h[1];
	/* starts itself again twice with no delay: three runs, not a loop
	 * that never ends */
	hit_start(&h[2], &q, 2, 20, log, &n);
	h[2].again = 2;
	run_loop(150);
	CHECK_EQ(n, 4);
	CHECK_EQ(log[0], 0);
	CHECK_EQ(log[1], 2);
	CHECK_EQ(log[2], 2);
	CHECK_EQ(log[3], 2);
	tmrq_reset(&q);
	return 0;
}

TEST(one_libre_timer)
{
	enum { N = 2000 };
	struct hit *h = calloc(N, sizeof(*h));
	int *log = calloc(N, sizeof(*log)), n = 0;
	unsigned before = libre_timers();
	uint64_t armed;
	struct tmrq q;

	CHECK(h && log);
	tmrq_init(&q);
	hit_start(&h[0], &q, 0, 40, log, &n);
	armed = q.armed;
	CHECK(armed);
	/* later ones leave the timer where it is */
	for (int i = 1; i < N - 1; i++)
		hit_start(&h[i], &q, i, 40 + (uint64_t)(i % 7), log, &n);
	CHECK_EQ(q.armed, armed);
	CHECK_EQ(libre_timers(), before + 1);
	/* an earlier one moves it */
	hit_start(&h[N - 1], &q, N - 1, 10, log, &n);
	CHECK(q.armed < armed);
	CHECK_EQ(libre_timers(), before + 1);
	CHECK_EQ(tmrq_count(&q), N);
	run_loop(250);
	CHECK_EQ(n, N);
	CHECK_EQ(log[0], N - 1);
	CHECK_EQ(libre_timers(), before);
	CHECK_EQ(q.armed, 0);
	tmrq_reset(&q);
	free(h);
	free(log);
	return 0;
}

TEST(reset_cancels_everything)
{
	struct hit h[3] = {0};
	int log[16], n = 0;
	unsigned before = libre_timers();
	struct tmrq q;

	tmrq_init(&q);
	for (int i = 0; i < 3; i++)
		hit_start(&h[i], &q, i, 10 + 10 * (uint64_t)i, log, &n);
	tmrq_reset(&q);
	CHECK_EQ(tmrq_count(&q), 0);
	CHECK_EQ(libre_timers(), before);
	for (int i = 0; i < 3; i++) {
		CHECK(!tmrq_running(&h[i].e));
		tmrq_cancel(&h[i].e);
	}
	run_loop(60);
	CHECK_EQ(n, 0);
	/* usable again */
	hit_start(&h[0], &q, 0, 5, log, &n);
	run_loop(50);
	CHECK_EQ(n, 1);
	tmrq_reset(&q);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	RUN(fires_in_order_not_early);
	RUN(cancel_and_restart);
	RUN(handlers_start_and_cancel);
	RUN(one_libre_timer);
	RUN(reset_cancels_everything);
	libre_close();
	TEST_EXIT();
}
