/*
 * The agent a call gets (lkagent_call_agent). Its start looks at the
 * call's room: a room with LiveKit agents makes the call a LiveKit call,
 * any other gets the built-in agent, and from then on the chosen agent's
 * operations are called through (one indirect call per frame).
 *
 * A LiveKit call's agent is the room: its audio goes by the room's media
 * (media/webrtc.h), which forwards the caller's packets to the room's
 * WebRTC subscribers and mixes the room's publishers into what the caller
 * hears, whatever the call's agent; this agent itself only says the busy
 * message when no worker comes. The call waits for one of its room's jobs to be assigned, up to
 * queue_timeout_ms, and at most queue_max calls wait at once; a call that
 * waits in vain hears the busy message whole (nothing cuts it), and is
 * hung up once it has been played.
 *
 * Threads: start, stop, dtmf and the rest of this file on the signalling
 * thread; audio_out on the media thread, which reads only the busy
 * message (handed over by busy_on, then the media thread's alone).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "lkagent/lk_int.h"
#include "core/log.h"
#include "room/room.h"

#define BUSY_POLL_MS  100
#define BUSY_SLACK_MS 2000 /* past the message's length, hang up anyway */

enum lk_call_state {
	CALL_WAITING, /* for one of its room's jobs */
	CALL_SERVED,  /* a job was assigned */
	CALL_BUSY,    /* hearing the busy message */
	CALL_DONE,    /* hung up, waiting for its stop */
};

struct lk_call {
	struct le le;       /* its room's calls */
	struct le ale;      /* lk->calls */
	struct lkagent *lk; /* NULL once lkagent is gone */
	struct lk_room *r;  /* NULL once the room is gone */
	char call_id[128];
	enum lk_call_state state;
	bool counted; /* in lk->waiting */
	struct tmr tmr;
	uint64_t busy_until; /* CLOCK_MONOTONIC ms */
	char reason[128];
	void (*hangup)(void *arg, const char *reason);
	void *hangup_arg;
	/* The busy message: written before busy_on, then media thread's. */
	const int16_t *busy;
	size_t busy_left;
	atomic_bool busy_on, busy_done;
};

/* Whichever agent the call got. */
struct pick {
	const struct agent_ops *ops;
	void *state;
};

static const struct agent_ops call_ops;

/* ---- waiting and the busy message -------------------------------------- */

static void uncount(struct lk_call *c)
{
	if (c->counted && c->lk) {
		c->counted = false;
		c->lk->waiting--;
	}
}

static void hangup_now(struct lk_call *c)
{
	c->state = CALL_DONE;
	tmr_cancel(&c->tmr);
	log_event(LOGL_INFO, c->call_id, "agent_hangup", "reason=\"%s\"",
	          c->reason);
	/* The call may end, and stop us, inside; nothing after it. */
	if (c->hangup)
		c->hangup(c->hangup_arg, c->reason);
}

static void busy_poll(void *arg)
{
	struct lk_call *c = arg;
	uint64_t now = tmr_jiffies();

	if (!atomic_load_explicit(&c->busy_done, memory_order_acquire) &&
	    now < c->busy_until) {
		tmr_start(&c->tmr, BUSY_POLL_MS, busy_poll, c);
		return;
	}
	hangup_now(c);
}

static void busy(struct lk_call *c, const char *why)
{
	const struct lkagent *lk = c->lk;

	uncount(c);
	c->state = CALL_BUSY;
	c->lk->n.busy++;
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	log_event(LOGL_WARN, c->call_id, "agent_busy", "room=%s reason=\"%s\"",
	          c->r ? room_name(c->r->room) : "", why);
	c->busy = lk->prm.busy;
	c->busy_left = lk->prm.busy ? lk->prm.busy_samples : 0;
	atomic_store_explicit(&c->busy_on, true, memory_order_release);
	c->busy_until =
	    tmr_jiffies() + c->busy_left / 8 + (uint64_t)BUSY_SLACK_MS;
	/* Never from inside start: the call is still starting its media. */
	tmr_start(&c->tmr, c->busy_left ? BUSY_POLL_MS : 0, busy_poll, c);
}

static void queue_timeout(void *arg)
{
	busy(arg, "no agent took the call in time");
}

/* Where the call stands now that its room's jobs changed. */
static void call_update(struct lk_call *c)
{
	const char *error;
	bool running, alive;

	if (c->state != CALL_WAITING || !c->r)
		return;
	lk_room_jobs(c->r, &running, &alive, &error);
	if (running) {
		tmr_cancel(&c->tmr);
		uncount(c);
		c->state = CALL_SERVED;
		log_event(LOGL_INFO, c->call_id, "agent_dispatched",
		          "room=%s agent=livekit", room_name(c->r->room));
	} else if (!alive) {
		tmr_cancel(&c->tmr);
		busy(c, error ? error : "no agent worker took the call");
	}
}

void lk_calls_update(struct lk_room *r)
{
	struct le *le = list_head(&r->calls);

	while (le) {
		struct lk_call *c = le->data;

		le = le->next;
		call_update(c);
	}
}

void lk_calls_detach(struct lkagent *lk)
{
	struct le *le;

	while ((le = list_head(&lk->calls)) != NULL) {
		struct lk_call *c = le->data;

		uncount(c);
		tmr_cancel(&c->tmr);
		list_unlink(&c->ale);
		list_unlink(&c->le);
		c->r = NULL;
		c->lk = NULL;
	}
}

void lk_calls_orphan(struct lk_room *r)
{
	struct le *le;

	while ((le = list_head(&r->calls)) != NULL) {
		struct lk_call *c = le->data;

		list_unlink(&c->le);
		c->r = NULL;
	}
}

/* ---- the LiveKit call -------------------------------------------------- */

static int call_start(void **statep, struct lk_room *r,
                      const struct agent_call_info *info)
{
	struct lkagent *lk = r->lk;
	struct lk_call *c = calloc(1, sizeof(*c));
	const char *why = NULL, *error;
	bool running, alive;

	if (!c)
		return ENOMEM;
	c->lk = lk;
	c->r = r;
	snprintf(c->call_id, sizeof(c->call_id), "%s",
	         info->call_id ? info->call_id : "");
	c->hangup = info->hangup;
	c->hangup_arg = info->hangup_arg;
	tmr_init(&c->tmr);
	atomic_init(&c->busy_on, false);
	atomic_init(&c->busy_done, false);
	list_append(&r->calls, &c->le, c);
	list_append(&lk->calls, &c->ale, c);
	lk_room_launch(r);
	lk_room_jobs(r, &running, &alive, &error);
	if (running) {
		c->state = CALL_SERVED;
	} else if (!alive) {
		why = error ? error : "no agent worker took the call";
	} else if (lk->waiting >= lk->prm.queue_max) {
		why = "every agent is busy";
	} else {
		c->state = CALL_WAITING;
		c->counted = true;
		lk->waiting++;
		tmr_start(&c->tmr, lk->prm.queue_timeout_ms, queue_timeout, c);
	}
	if (why)
		busy(c, why);
	else
		log_event(LOGL_INFO, c->call_id,
		          running ? "agent_dispatched" : "agent_queued",
		          "room=%s agent=livekit waiting=%u",
		          room_name(r->room), lk->waiting);
	*statep = c;
	return 0;
}

static void call_audio_in(void *state, const int16_t *pcm, size_t samples,
                          uint64_t arrival_us)
{
	(void)state;
	(void)pcm;
	(void)samples;
	(void)arrival_us;
}

static size_t call_audio_out(void *state, int16_t *pcm, size_t samples)
{
	struct lk_call *c = state;

	if (atomic_load_explicit(&c->busy_on, memory_order_acquire)) {
		size_t n = samples < c->busy_left ? samples : c->busy_left;

		if (!n) {
			atomic_store_explicit(&c->busy_done, true,
			                      memory_order_release);
			return 0;
		}
		memcpy(pcm, c->busy, n * sizeof(*pcm));
		c->busy += n;
		c->busy_left -= n;
		return n;
	}
	return 0;
}

static void call_stop(void *state)
{
	struct lk_call *c = state;

	tmr_cancel(&c->tmr);
	uncount(c);
	list_unlink(&c->le);
	list_unlink(&c->ale);
	free(c);
}

static const struct agent_ops call_ops = {
    .name = "livekit",
    .start = NULL,
    .audio_in = call_audio_in,
    .audio_out = call_audio_out,
    .stop = call_stop,
    .dtmf = NULL,
};

/* ---- the agent calls get ----------------------------------------------- */

static int pick_start(void **statep, const struct agent_call_info *info,
                      const struct agent_assets *assets)
{
	struct lkagent *lk = assets ? assets->lkagent : NULL;
	struct lk_room *r;
	struct pick *pk;
	int err;

	if (!statep || !info || !lk)
		return EINVAL;
	pk = calloc(1, sizeof(*pk));
	if (!pk)
		return ENOMEM;
	r = lk_room_find(lk, info->room);
	if (r && lk_room_wants(r)) {
		pk->ops = &call_ops;
		err = call_start(&pk->state, r, info);
	} else {
		pk->ops = lk->prm.builtin;
		err = pk->ops->start(&pk->state, info, assets);
	}
	if (err) {
		free(pk);
		return err;
	}
	log_event(LOGL_INFO, info->call_id, "agent_started", "agent=%s room=%s",
	          pk->ops->name, info->room ? info->room : "");
	*statep = pk;
	return 0;
}

static void pick_audio_in(void *state, const int16_t *pcm, size_t samples,
                          uint64_t arrival_us)
{
	struct pick *pk = state;

	pk->ops->audio_in(pk->state, pcm, samples, arrival_us);
}

static size_t pick_audio_out(void *state, int16_t *pcm, size_t samples)
{
	struct pick *pk = state;

	return pk->ops->audio_out(pk->state, pcm, samples);
}

static size_t pick_audio_early(void *state, int16_t *pcm, size_t samples)
{
	struct pick *pk = state;

	return pk->ops->audio_early
	           ? pk->ops->audio_early(pk->state, pcm, samples)
	           : 0;
}

static bool pick_unpaced(void *state)
{
	struct pick *pk = state;

	return pk->ops->unpaced && pk->ops->unpaced(pk->state);
}

static void pick_stop(void *state)
{
	struct pick *pk = state;

	pk->ops->stop(pk->state);
	free(pk);
}

static void pick_dtmf(void *state, const char *digits, size_t n)
{
	struct pick *pk = state;

	if (pk->ops->dtmf)
		pk->ops->dtmf(pk->state, digits, n);
}

const struct agent_ops lkagent_call_agent = {
    .name = "livekit-or-builtin",
    .unpaced = pick_unpaced,
    .start = pick_start,
    .audio_in = pick_audio_in,
    .audio_out = pick_audio_out,
    .stop = pick_stop,
    .dtmf = pick_dtmf,
    .audio_early = pick_audio_early,
};
