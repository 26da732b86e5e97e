/*
 * Many deadlines on one libre timer.
 *
 * libre 1.1.0 keeps the loop's timers in one sorted list, and tmr_start
 * finds a timer's place by walking back from the latest: a short timer
 * started while tens of thousands of longer ones are pending (a SIP
 * transaction keeps its timers for 32 s) walks past all of them. A queue
 * holds its own deadlines sorted (a deadline started with the same delay
 * as the one before it goes to the end at once) and keeps one libre timer
 * at the earliest; that timer is moved only when a new deadline comes
 * before it or when it fires, not for every deadline started or
 * cancelled. A cancelled earliest deadline leaves the timer where it was:
 * it fires for nothing and moves on to the next.
 *
 * Signalling thread only, like the libre timers it stands in for.
 * Include after re.h or core/libre.h (libre's headers have no include
 * guards of their own).
 */
#ifndef VOXGATE_CORE_TMRQ_H
#define VOXGATE_CORE_TMRQ_H

#include <stdbool.h>
#include <stdint.h>

typedef void(tmrq_h)(void *arg);

/* A deadline, embedded in its owner like a struct tmr. */
struct tmrq_ent {
	struct le le;
	uint64_t due; /* tmr_jiffies() at which it expires */
	tmrq_h *h;
	void *arg;
};

struct tmrq {
	struct list l; /* of tmrq_ent, earliest first */
	struct tmr tmr;
	uint64_t armed; /* when tmr fires; 0 when it is not running */
	bool firing;
};

/* Embedded structs: tmrq_reset cancels every deadline still queued. */
void tmrq_init(struct tmrq *q);
void tmrq_reset(struct tmrq *q);
void tmrq_ent_init(struct tmrq_ent *e);

/* Starts (or restarts) e: h(arg) runs on the loop after delay ms, unless
 * e is cancelled first. A handler may start and cancel deadlines of the
 * same queue, its own included, but not reset the queue. */
void tmrq_start(struct tmrq *q, struct tmrq_ent *e, uint64_t delay, tmrq_h *h,
                void *arg);
/* Safe on a deadline that is not running. */
void tmrq_cancel(struct tmrq_ent *e);
bool tmrq_running(const struct tmrq_ent *e);
/* How many deadlines are queued. */
uint32_t tmrq_count(const struct tmrq *q);

#endif
