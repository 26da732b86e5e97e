/*
 * The engine pool (engine.h). One lock guards the run list (queues with a
 * job waiting and none running), each queue's jobs and the list of results
 * for the loop; the threads hold it only to take a job and to hand back a
 * result, never while an engine runs.
 *
 * Results go back through a list and one mqueue message: the loop is woken
 * when the list goes from empty to not, and takes the whole list at once,
 * so a busy pool costs one wake-up per loop turn rather than one per
 * result.
 *
 * A queue the call released may still have a job running: its internal
 * half (struct eq) stays until that job is over, and the job's end, with
 * no handler called, still goes to the loop, since arg must be released
 * there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re_types.h>
#include <re_mem.h>
#include <re_mqueue.h>

#include "worker/engine.h"

#define THREADS_MAX 64

struct eq;

struct engine_job {
	struct engine_job *next; /* in its queue */
	struct eq *q;
	engine_work_h *work;
	engine_out_h *outh;
	engine_done_h *doneh;
	void *arg;
	atomic_bool cancel;
	unsigned epoch; /* the queue's at submit; loop only */
};

/* A result for the loop: a piece (data) or the job's end (done). */
struct rec {
	struct rec *next;
	struct engine_job *job;
	bool done;
	size_t len;
	uint8_t data[];
};

struct eq {
	struct engine_pool *pool;
	struct engine_job *head, **tail; /* waiting */
	struct eq *run_next;
	struct engine_job *running;
	/* Bumped by each flush: a job of an older epoch is cancelled, even
	 * one whose end is already on its way to the loop. Loop only. */
	unsigned epoch;
	bool listed;   /* in the run list */
	bool busy;     /* a job of it runs */
	bool detached; /* the call released it */
	unsigned pending;
};

struct engine_queue {
	struct eq *q;
};

struct engine_pool {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	pthread_t *th;
	unsigned n, started;
	bool stop;
	struct eq *run_head, **run_tail;
	struct rec *out_head, **out_tail;
	bool woken;
	struct mqueue *mq;
	bool has_lock, has_cv; /* made, for the destructor */
};

/* ---- the pool's threads ----------------------------------------------- */

/* With the lock held. */
static void run_add(struct engine_pool *p, struct eq *q)
{
	if (q->listed || q->busy || !q->head)
		return;
	q->listed = true;
	q->run_next = NULL;
	*p->run_tail = q;
	p->run_tail = &q->run_next;
	pthread_cond_signal(&p->cv);
}

/* With the lock held. */
static void out_add(struct engine_pool *p, struct rec *r)
{
	bool wake = !p->out_head && !p->woken;

	r->next = NULL;
	*p->out_tail = r;
	p->out_tail = &r->next;
	if (wake) {
		p->woken = true;
		/* Out of memory, the loop is woken by the next result. */
		if (mqueue_push(p->mq, 0, NULL))
			p->woken = false;
	}
}

static void *thread_main(void *arg)
{
	struct engine_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct engine_job *job;
		struct rec *r;
		struct eq *q;

		while (!p->stop && !p->run_head)
			pthread_cond_wait(&p->cv, &p->lock);
		if (p->stop)
			break;
		q = p->run_head;
		p->run_head = q->run_next;
		if (!p->run_head)
			p->run_tail = &p->run_head;
		q->listed = false;
		/* A flush empties a queue but leaves it listed. */
		job = q->head;
		if (!job)
			continue;
		q->head = job->next;
		if (!q->head)
			q->tail = &q->head;
		q->busy = true;
		q->running = job;
		pthread_mutex_unlock(&p->lock);

		if (!atomic_load(&job->cancel))
			job->work(job, job->arg);
		/* The end goes back even without a handler: arg is
		 * released on the loop. The record is the job's own, made
		 * at submit, so it cannot fail here. */
		r = (struct rec *)(job + 1);

		pthread_mutex_lock(&p->lock);
		q->busy = false;
		q->running = NULL;
		out_add(p, r);
		run_add(p, q);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- results on the loop ---------------------------------------------- */

static bool job_live(const struct engine_job *job)
{
	return !atomic_load(&job->cancel) && job->epoch == job->q->epoch &&
	       !job->q->detached;
}

static void job_end(struct engine_job *job)
{
	struct eq *q = job->q;
	struct engine_pool *p = q->pool;
	bool gone;

	if (job_live(job) && job->doneh)
		job->doneh(job->arg);
	mem_deref(job->arg);
	pthread_mutex_lock(&p->lock);
	q->pending--;
	gone = q->detached && !q->pending;
	pthread_mutex_unlock(&p->lock);
	free(job);
	if (gone)
		free(q);
}

static void deliver(struct rec *r)
{
	struct engine_job *job = r->job;

	if (r->done) {
		job_end(job);
		return;
	}
	if (job_live(job) && job->outh)
		job->outh(r->data, r->len, job->arg);
	free(r);
}

static void mq_handler(int id, void *data, void *arg)
{
	struct engine_pool *p = arg;
	struct rec *r;

	(void)id;
	(void)data;
	pthread_mutex_lock(&p->lock);
	r = p->out_head;
	p->out_head = NULL;
	p->out_tail = &p->out_head;
	p->woken = false;
	pthread_mutex_unlock(&p->lock);
	while (r) {
		struct rec *next = r->next;

		/* A handler may release the queue or submit: both take
		 * the lock, which is not held here. */
		deliver(r);
		r = next;
	}
}

/* ---- the pool --------------------------------------------------------- */

static void pool_destructor(void *arg)
{
	struct engine_pool *p = arg;
	struct rec *r;

	if (!p->has_cv) {
		if (p->has_lock)
			pthread_mutex_destroy(&p->lock);
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->started; i++)
		pthread_join(p->th[i], NULL);
	/* Every queue is gone (each held the pool), so every job left is
	 * cancelled: its end only releases it. */
	r = p->out_head;
	p->out_head = NULL;
	while (r) {
		struct rec *next = r->next;

		if (r->done) {
			atomic_store(&r->job->cancel, true);
			job_end(r->job);
		} else {
			free(r);
		}
		r = next;
	}
	mem_deref(p->mq);
	free(p->th);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
}

int engine_pool_open(struct engine_pool **pp, unsigned threads)
{
	struct engine_pool *p;
	int err;

	if (!pp || threads > THREADS_MAX)
		return EINVAL;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n < 1             ? 1
		          : n > THREADS_MAX ? THREADS_MAX
		                            : (unsigned)n;
	}
	p = mem_zalloc(sizeof(*p), pool_destructor);
	if (!p)
		return ENOMEM;
	p->run_tail = &p->run_head;
	p->out_tail = &p->out_head;
	p->n = threads;
	err = pthread_mutex_init(&p->lock, NULL);
	if (!err) {
		p->has_lock = true;
		err = pthread_cond_init(&p->cv, NULL);
	}
	if (err) {
		mem_deref(p);
		return err;
	}
	p->has_cv = true;
	p->th = calloc(threads, sizeof(*p->th));
	err = p->th ? mqueue_alloc(&p->mq, mq_handler, p) : ENOMEM;
	for (unsigned i = 0; !err && i < threads; i++) {
		err = pthread_create(&p->th[i], NULL, thread_main, p);
		if (!err)
			p->started++;
	}
	if (err) {
		mem_deref(p);
		return err;
	}
	*pp = p;
	return 0;
}

void engine_pool_close(struct engine_pool *p)
{
	mem_deref(p);
}

unsigned engine_pool_threads(const struct engine_pool *p)
{
	return p ? p->n : 0;
}

/* ---- queues ----------------------------------------------------------- */

/* With the lock held: the waiting jobs leave for the loop's list,
 * cancelled (their ends release their args there), and the running one is
 * told to stop. */
static void flush_locked(struct eq *q)
{
	struct engine_job *job = q->head;

	q->head = NULL;
	q->tail = &q->head;
	while (job) {
		struct engine_job *next = job->next;

		atomic_store(&job->cancel, true);
		out_add(q->pool, (struct rec *)(job + 1));
		job = next;
	}
	if (q->running)
		atomic_store(&q->running->cancel, true);
	q->epoch++;
	/* Off the run list too: a queue released once its jobs' ends are
	 * in is freed, and a thread must not find it there afterwards. */
	if (q->listed) {
		struct engine_pool *p = q->pool;
		struct eq **pp = &p->run_head, *prev = NULL;

		while (*pp && *pp != q) {
			prev = *pp;
			pp = &(*pp)->run_next;
		}
		if (*pp) {
			*pp = q->run_next;
			if (p->run_tail == &q->run_next)
				p->run_tail =
				    prev ? &prev->run_next : &p->run_head;
		}
		q->listed = false;
	}
}

static void queue_destructor(void *arg)
{
	struct engine_queue *h = arg;
	struct eq *q = h->q;
	struct engine_pool *p = q->pool;
	bool gone;

	engine_queue_flush(h);
	pthread_mutex_lock(&p->lock);
	q->detached = true;
	gone = !q->pending;
	pthread_mutex_unlock(&p->lock);
	if (gone)
		free(q);
	mem_deref(p);
}

int engine_queue_alloc(struct engine_queue **qp, struct engine_pool *p)
{
	struct engine_queue *h;
	struct eq *q;

	if (!qp || !p)
		return EINVAL;
	q = calloc(1, sizeof(*q));
	h = q ? mem_zalloc(sizeof(*h), queue_destructor) : NULL;
	if (!h) {
		free(q);
		return ENOMEM;
	}
	q->pool = mem_ref(p);
	q->tail = &q->head;
	h->q = q;
	*qp = h;
	return 0;
}

int engine_submit(struct engine_queue *h, engine_work_h *work,
                  engine_out_h *outh, engine_done_h *doneh, void *arg)
{
	struct engine_job *job;
	struct rec *end;
	struct eq *q;
	struct engine_pool *p;

	if (!h || !work)
		return EINVAL;
	q = h->q;
	p = q->pool;
	/* The job and the record of its end in one block. */
	job = calloc(1, sizeof(*job) + sizeof(*end));
	if (!job)
		return ENOMEM;
	end = (struct rec *)(job + 1);
	end->job = job;
	end->done = true;
	job->q = q;
	job->work = work;
	job->outh = outh;
	job->doneh = doneh;
	job->arg = mem_ref(arg);
	job->epoch = q->epoch;
	atomic_init(&job->cancel, false);
	pthread_mutex_lock(&p->lock);
	q->pending++;
	*q->tail = job;
	q->tail = &job->next;
	run_add(p, q);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

unsigned engine_queue_pending(const struct engine_queue *h)
{
	return h ? h->q->pending : 0;
}

void engine_queue_flush(struct engine_queue *h)
{
	struct engine_pool *p;
	struct eq *q;

	if (!h)
		return;
	q = h->q;
	p = q->pool;
	pthread_mutex_lock(&p->lock);
	flush_locked(q);
	pthread_mutex_unlock(&p->lock);
}

bool engine_job_cancelled(const struct engine_job *job)
{
	return atomic_load(&job->cancel);
}

int engine_job_out(struct engine_job *job, const void *data, size_t len)
{
	struct engine_pool *p = job->q->pool;
	struct rec *r;

	if (atomic_load(&job->cancel))
		return ECANCELED;
	r = malloc(sizeof(*r) + len);
	if (!r)
		return ENOMEM;
	r->job = job;
	r->done = false;
	r->len = len;
	if (len)
		memcpy(r->data, data, len);
	pthread_mutex_lock(&p->lock);
	out_add(p, r);
	pthread_mutex_unlock(&p->lock);
	return 0;
}
