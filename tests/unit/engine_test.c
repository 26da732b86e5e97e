/*
 * The engine pool: jobs of one queue in order and one at a time, queues
 * side by side, pieces and ends on the loop thread, cancellation, and
 * release with jobs waiting. The loop runs on the test's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>

#include "worker/engine.h"
#include "standin.h"
#include "test.h"

static pthread_t loop_thread;
static atomic_int released; /* job args freed */

static void give_up(void *arg)
{
	(void)arg;
	re_cancel();
}

static void run_loop(unsigned ms)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, ms, give_up, NULL);
	re_main(NULL);
	tmr_cancel(&t);
}

/* A call's log: which jobs ran and ended, in which order. */
struct lane {
	int ran[256];
	atomic_int nran; /* read on the loop while a job runs */
	int ended[256], nended;
	atomic_int inside; /* jobs of this lane running now */
	int most_inside;
	int outs;
	bool out_after_end;
	int *left; /* re_cancel when it reaches 0 */
	unsigned sleep_ms;
};

struct job_arg {
	struct lane *lane;
	int idx;
	bool wrong_thread; /* a handler ran off the loop thread */
	bool long_run;     /* runs until cancelled (at most 3 s) */
	bool stopped;      /* saw the cancel */
};

static void arg_destructor(void *arg)
{
	(void)arg;
	atomic_fetch_add(&released, 1);
}

static struct job_arg *arg_new(struct lane *l, int idx)
{
	struct job_arg *a = mem_zalloc(sizeof(*a), arg_destructor);

	if (a) {
		a->lane = l;
		a->idx = idx;
	}
	return a;
}

static atomic_int busy_now, busy_most;

static void work(struct engine_job *job, void *arg)
{
	struct job_arg *a = arg;
	struct lane *l = a->lane;
	int in = atomic_fetch_add(&l->inside, 1) + 1;
	int b = atomic_fetch_add(&busy_now, 1) + 1, m;

	if (pthread_equal(pthread_self(), loop_thread))
		a->wrong_thread = true;
	/* Only one job of a lane at a time: its log needs no lock. */
	if (in > l->most_inside)
		l->most_inside = in;
	while ((m = atomic_load(&busy_most)) < b &&
	       !atomic_compare_exchange_weak(&busy_most, &m, b))
		;
	l->ran[atomic_fetch_add(&l->nran, 1)] = a->idx;
	if (a->long_run) {
		for (int i = 0; i < 300 && !engine_job_cancelled(job); i++)
			sleep_ms(10);
		a->stopped = engine_job_cancelled(job);
		(void)engine_job_out(job, "x", 1);
	} else {
		if (l->sleep_ms)
			sleep_ms(l->sleep_ms);
		for (int k = 0; k < 2; k++)
			if (engine_job_out(job, &a->idx, sizeof(a->idx)))
				a->wrong_thread = true;
	}
	atomic_fetch_sub(&busy_now, 1);
	atomic_fetch_sub(&l->inside, 1);
}

static void on_out(const void *data, size_t len, void *arg)
{
	struct job_arg *a = arg;
	struct lane *l = a->lane;
	int v;

	if (!pthread_equal(pthread_self(), loop_thread))
		a->wrong_thread = true;
	if (len == sizeof(v)) {
		memcpy(&v, data, sizeof(v));
		if (v != a->idx)
			a->wrong_thread = true;
	}
	/* Pieces of a job come before its end. */
	for (int i = 0; i < l->nended; i++)
		if (l->ended[i] == a->idx)
			l->out_after_end = true;
	l->outs++;
}

static void on_done(void *arg)
{
	struct job_arg *a = arg;
	struct lane *l = a->lane;

	if (!pthread_equal(pthread_self(), loop_thread) || a->wrong_thread)
		l->out_after_end = true;
	l->ended[l->nended++] = a->idx;
	if (l->left && !--*l->left)
		re_cancel();
}

/* 4 calls x 40 jobs on 2 threads: each call's jobs in order, one at a
 * time, with their pieces before their ends on the loop; calls side by
 * side. */
TEST(order_per_queue)
{
	enum { Q = 4, N = 40 };
	static struct lane lanes[Q];
	struct engine_pool *p;
	struct engine_queue *q[Q];
	int left = Q * N, before = atomic_load(&released);
	uint64_t t0;

	memset(lanes, 0, sizeof(lanes));
	atomic_store(&busy_most, 0);
	CHECK_EQ(engine_pool_open(&p, 2), 0);
	CHECK_EQ(engine_pool_threads(p), 2);
	for (int i = 0; i < Q; i++) {
		CHECK_EQ(engine_queue_alloc(&q[i], p), 0);
		lanes[i].left = &left;
		lanes[i].sleep_ms = 2;
	}
	t0 = now_ms();
	for (int k = 0; k < N; k++)
		for (int i = 0; i < Q; i++) {
			struct job_arg *a = arg_new(&lanes[i], k);

			CHECK(a != NULL);
			CHECK_EQ(engine_submit(q[i], work, on_out, on_done, a),
			         0);
			mem_deref(a);
		}
	CHECK_EQ(engine_queue_pending(q[0]), N);
	run_loop(10000);
	printf("# %d jobs of 2 ms on 2 threads: %u ms, %d at once at most\n",
	       Q * N, (unsigned)(now_ms() - t0), atomic_load(&busy_most));
	CHECK_EQ(left, 0);
	for (int i = 0; i < Q; i++) {
		struct lane *l = &lanes[i];

		CHECK_EQ(l->nran, N);
		CHECK_EQ(l->nended, N);
		CHECK_EQ(l->outs, 2 * N);
		CHECK_EQ(l->most_inside, 1);
		CHECK(!l->out_after_end);
		for (int k = 0; k < N; k++) {
			CHECK_EQ(l->ran[k], k);
			CHECK_EQ(l->ended[k], k);
		}
		CHECK_EQ(engine_queue_pending(q[i]), 0);
	}
	CHECK_EQ(atomic_load(&busy_most), 2);
	CHECK_EQ(atomic_load(&released) - before, Q * N);
	for (int i = 0; i < Q; i++)
		mem_deref(q[i]);
	engine_pool_close(p);
	return 0;
}

/* A flush stops the running job, drops the waiting ones, calls no
 * handler for any, releases their args; jobs after it run. */
TEST(flush_cancels)
{
	static struct lane l;
	struct engine_pool *p;
	struct engine_queue *q;
	struct job_arg *first;
	int left = 1, before = atomic_load(&released);
	uint64_t t0;

	memset(&l, 0, sizeof(l));
	CHECK_EQ(engine_pool_open(&p, 1), 0);
	CHECK_EQ(engine_queue_alloc(&q, p), 0);
	first = arg_new(&l, 0);
	CHECK(first != NULL);
	first->long_run = true;
	CHECK_EQ(engine_submit(q, work, on_out, on_done, first), 0);
	for (int k = 1; k < 5; k++) {
		struct job_arg *a = arg_new(&l, k);

		CHECK_EQ(engine_submit(q, work, on_out, on_done, a), 0);
		mem_deref(a);
	}
	run_loop(100);
	CHECK_EQ(l.nran, 1);
	t0 = now_ms();
	engine_queue_flush(q);
	{
		struct job_arg *a = arg_new(&l, 9);

		l.left = &left;
		CHECK_EQ(engine_submit(q, work, on_out, on_done, a), 0);
		mem_deref(a);
	}
	run_loop(3000);
	CHECK(now_ms() - t0 < 500);
	CHECK(first->stopped);
	CHECK_EQ(l.nran, 2);
	CHECK_EQ(l.ran[1], 9);
	CHECK_EQ(l.nended, 1);
	CHECK_EQ(l.ended[0], 9);
	CHECK_EQ(l.outs, 2);
	CHECK_EQ(engine_queue_pending(q), 0);
	mem_deref(first);
	CHECK_EQ(atomic_load(&released) - before, 6);
	mem_deref(q);
	engine_pool_close(p);
	return 0;
}

/* A queue flushed while its jobs wait their turn behind another call's:
 * the pool's thread finds it empty and goes on. */
TEST(flush_while_waiting_its_turn)
{
	static struct lane a, b;
	struct engine_pool *p;
	struct engine_queue *qa, *qb;
	struct job_arg *first;
	int left = 1, before = atomic_load(&released);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK_EQ(engine_pool_open(&p, 1), 0);
	CHECK_EQ(engine_queue_alloc(&qa, p), 0);
	CHECK_EQ(engine_queue_alloc(&qb, p), 0);
	first = arg_new(&a, 0);
	first->long_run = true;
	CHECK_EQ(engine_submit(qa, work, on_out, on_done, first), 0);
	run_loop(50);
	for (int k = 0; k < 3; k++) {
		struct job_arg *j = arg_new(&b, k);

		CHECK_EQ(engine_submit(qb, work, on_out, on_done, j), 0);
		mem_deref(j);
	}
	engine_queue_flush(qb);
	/* a's long job ends; the thread then meets b, empty. */
	engine_queue_flush(qa);
	run_loop(100);
	{
		struct job_arg *j = arg_new(&b, 7);

		b.left = &left;
		CHECK_EQ(engine_submit(qb, work, on_out, on_done, j), 0);
		mem_deref(j);
	}
	run_loop(3000);
	CHECK_EQ(left, 0);
	CHECK_EQ(atomic_load(&b.nran), 1);
	CHECK_EQ(b.ended[0], 7);
	mem_deref(first);
	mem_deref(qa);
	mem_deref(qb);
	engine_pool_close(p);
	CHECK_EQ(atomic_load(&released) - before, 5);
	return 0;
}

/* A queue released while its jobs wait their turn behind another call's:
 * their ends come back on the loop, which frees it, and the pool's thread
 * must not meet it in its run list afterwards (ASan tells). */
TEST(release_while_waiting_its_turn)
{
	static struct lane a, b;
	struct engine_pool *p;
	struct engine_queue *qa, *qb;
	struct job_arg *first;
	int before = atomic_load(&released);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK_EQ(engine_pool_open(&p, 1), 0);
	CHECK_EQ(engine_queue_alloc(&qa, p), 0);
	CHECK_EQ(engine_queue_alloc(&qb, p), 0);
	first = arg_new(&a, 0);
	first->long_run = true;
	CHECK_EQ(engine_submit(qa, work, on_out, on_done, first), 0);
	run_loop(50);
	for (int k = 0; k < 2; k++) {
		struct job_arg *j = arg_new(&b, k);

		CHECK_EQ(engine_submit(qb, work, on_out, on_done, j), 0);
		mem_deref(j);
	}
	mem_deref(qb);
	/* b's ends are released: b's queue is gone. */
	run_loop(50);
	CHECK_EQ(atomic_load(&released) - before, 2);
	/* a's long job ends; the thread goes on to what is listed. */
	engine_queue_flush(qa);
	run_loop(200);
	CHECK_EQ(atomic_load(&b.nran), 0);
	mem_deref(first);
	mem_deref(qa);
	engine_pool_close(p);
	CHECK_EQ(atomic_load(&released) - before, 3);
	return 0;
}

/* A call released while its job runs: the job is told to stop, nothing
 * is called back, and the arg goes on the loop once the job is over. */
TEST(queue_released_while_running)
{
	static struct lane l;
	struct engine_pool *p;
	struct engine_queue *q;
	struct job_arg *a;
	int before = atomic_load(&released);

	memset(&l, 0, sizeof(l));
	CHECK_EQ(engine_pool_open(&p, 1), 0);
	CHECK_EQ(engine_queue_alloc(&q, p), 0);
	a = arg_new(&l, 0);
	a->long_run = true;
	CHECK_EQ(engine_submit(q, work, on_out, on_done, a), 0);
	mem_deref(a);
	for (int k = 1; k < 4; k++) {
		a = arg_new(&l, k);
		CHECK_EQ(engine_submit(q, work, on_out, on_done, a), 0);
		mem_deref(a);
	}
	run_loop(50);
	mem_deref(q);
	/* The waiting three are released on the next loop turn; the
	 * running one once it has stopped. */
	run_loop(300);
	CHECK_EQ(atomic_load(&released) - before, 4);
	CHECK_EQ(l.nran, 1);
	CHECK_EQ(l.nended, 0);
	CHECK_EQ(l.outs, 0);
	engine_pool_close(p);
	return 0;
}

/* Released pool and queues with jobs waiting and running: the release
 * waits for the running ones, drops the rest, calls nothing, leaks
 * nothing. */
TEST(shutdown_with_jobs_queued)
{
	static struct lane l[3];
	struct engine_pool *p;
	struct engine_queue *q[3];
	int before = atomic_load(&released);

	memset(l, 0, sizeof(l));
	CHECK_EQ(engine_pool_open(&p, 2), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(engine_queue_alloc(&q[i], p), 0);
		l[i].sleep_ms = 20;
		for (int k = 0; k < 20; k++) {
			struct job_arg *a = arg_new(&l[i], k);

			CHECK_EQ(engine_submit(q[i], work, on_out, on_done, a),
			         0);
			mem_deref(a);
		}
	}
	run_loop(30);
	engine_pool_close(p); /* the queues still hold it */
	for (int i = 0; i < 3; i++)
		mem_deref(q[i]);
	CHECK_EQ(atomic_load(&released) - before, 60);
	for (int i = 0; i < 3; i++)
		CHECK(atomic_load(&l[i].nran) < 20);
	return 0;
}

TEST(threads_and_bad_arguments)
{
	struct engine_pool *p;
	struct engine_queue *q;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	CHECK_EQ(engine_pool_open(&p, 0), 0);
	CHECK_EQ(engine_pool_threads(p), cpus > 64 ? 64 : cpus);
	CHECK_EQ(engine_queue_alloc(&q, p), 0);
	CHECK_EQ(engine_submit(q, NULL, NULL, NULL, NULL), EINVAL);
	CHECK_EQ(engine_submit(NULL, work, NULL, NULL, NULL), EINVAL);
	CHECK_EQ(engine_queue_alloc(&q, NULL), EINVAL);
	CHECK_EQ(engine_pool_open(&p, 65), EINVAL);
	CHECK_EQ(engine_pool_open(NULL, 1), EINVAL);
	mem_deref(q);
	engine_pool_close(p);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	loop_thread = pthread_self();
	RUN(order_per_queue);
	RUN(flush_cancels);
	RUN(flush_while_waiting_its_turn);
	RUN(release_while_waiting_its_turn);
	RUN(queue_released_while_running);
	RUN(shutdown_with_jobs_queued);
	RUN(threads_and_bad_arguments);
	libre_close();
	TEST_EXIT();
}
