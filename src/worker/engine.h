/*
 * The engine pool: a small fixed set of threads that run the CPU-bound
 * speech engines (pocketsphinx's decoding, espeak-ng's and flite's
 * synthesis) for every call of a worker, so that the loop, which carries
 * all the calls' sockets, never waits for one.
 *
 * Each call has its own queue: its jobs run in the order given, one at a
 * time (a decoder is fed frame after frame), while different calls' jobs
 * run side by side on the pool's threads. What a job makes goes back to
 * the loop: pieces as they are made (engine_job_out), then its end; both
 * handlers run on the loop thread, in the order of the queue. The pool
 * never grows with the calls.
 *
 * The pool, its queues and their handlers belong to one loop thread: all
 * calls below but engine_job_* are made on it.
 */
#ifndef VOXGATE_WORKER_ENGINE_H
#define VOXGATE_WORKER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

struct engine_pool;
struct engine_queue;
struct engine_job;

/* Runs on a pool thread: does the job's work on arg, which the loop must
 * leave alone until the job's end. */
typedef void(engine_work_h)(struct engine_job *job, void *arg);
/* On the loop: a piece the job made (engine_job_out), valid during the
 * call. */
typedef void(engine_out_h)(const void *data, size_t len, void *arg);
/* On the loop: the job is over. */
typedef void(engine_done_h)(void *arg);

/* Starts the pool's threads: threads 0 = the CPU count, at most 64.
 * ENOMEM, EINVAL, or pthread_create's error. */
int engine_pool_open(struct engine_pool **pp, unsigned threads);
/* The owner's end of the pool. Each queue holds the pool, so the threads
 * stop once the last of them is gone too (at once when none is left): the
 * jobs running are asked to stop and waited for, the ones waiting are
 * dropped, and no handler is called. NULL is ignored. */
void engine_pool_close(struct engine_pool *p);
unsigned engine_pool_threads(const struct engine_pool *p);

/* A call's queue, a mem object holding the pool. Its release cancels its
 * jobs as engine_queue_flush does. */
int engine_queue_alloc(struct engine_queue **qp, struct engine_pool *p);

/*
 * Queues a job: work on a pool thread once the queue's jobs before it are
 * over, then outh with each piece it made and doneh on the loop (either
 * may be NULL). arg, a mem object or NULL, is referenced until the job's
 * end has been handled on the loop. EINVAL, ENOMEM.
 */
int engine_submit(struct engine_queue *q, engine_work_h *work,
                  engine_out_h *outh, engine_done_h *doneh, void *arg);

/* Jobs submitted and not yet over (handled on the loop). */
unsigned engine_queue_pending(const struct engine_queue *q);

/*
 * Cancels every job of the queue: those waiting never run, the running
 * one sees engine_job_cancelled, and no handler is called for any of them.
 * Jobs submitted afterwards run as usual.
 */
void engine_queue_flush(struct engine_queue *q);

/* From the work handler: the job was cancelled, stop early. */
bool engine_job_cancelled(const struct engine_job *job);

/* From the work handler: hands a copy of data to the job's outh on the
 * loop. ECANCELED once the job is cancelled, ENOMEM. */
int engine_job_out(struct engine_job *job, const void *data, size_t len);

#endif
