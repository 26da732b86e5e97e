/*
 * DESIGN. Everything here runs on the signalling thread. A job's bridge
 * writes an eventfd whenever it has audio or events; the hub then drains
 * every bridge and relays to the job's worker, control before audio. The
 * media thread only ever touches the bridge (job->bridge is set before the
 * session starts and never changes), so the job itself needs no lock.
 *
 * A job moves QUEUED → OFFERED → ACTIVE, or to BUSY (saying the busy
 * message, then hanging up) and DONE (hung up, waiting for the call to
 * release it through the agent's stop).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <re.h>
#include "agent/hub_int.h"
#include "agent/bridge.h"
#include "core/log.h"

/* ---- jobs -------------------------------------------------------------- */

void hub_job_unassign(struct job *job)
{
	list_unlink(&job->wle);
	job->worker = NULL;
}

/* Ends the call from our side, once. */
void hub_job_hangup(struct job *job, const char *reason)
{
	if (job->state == JOB_DONE)
		return;
	tmr_cancel(&job->tmr);
	if (job->worker) {
		hub_job_unassign(job);
		hub_dispatch_queue(job->hub);
	} else {
		list_unlink(&job->wle);
	}
	job->state = JOB_DONE;
	log_event(LOGL_INFO, job->call_id, "agent_hangup",
	          "job=%u reason=\"%s\"", job->id, reason);
	if (job->hangup)
		job->hangup(job->hangup_arg, reason);
}

static void say_busy(struct job *job, const char *why)
{
	struct hub *h = job->hub;

	tmr_cancel(&job->tmr);
	list_unlink(&job->wle);
	h->busy_total++;
	log_event(LOGL_WARN, job->call_id, "agent_busy", "job=%u reason=\"%s\"",
	          job->id, why);
	bridge_set_barge_in(job->bridge, false);
	if (!h->prm.busy_samples ||
	    bridge_say(job->bridge, 1, h->prm.busy, h->prm.busy_samples) ||
	    bridge_say_end(job->bridge, 1)) {
		hub_job_hangup(job, why);
		return;
	}
	job->state = JOB_BUSY;
	snprintf(job->hangup_reason, sizeof(job->hangup_reason), "%s", why);
}

static bool tried(const struct job *job, uint32_t worker)
{
	for (size_t i = 0; i < job->ntried; i++) {
		if (job->tried[i] == worker)
			return true;
	}
	return false;
}

static void offer_timeout(void *arg)
{
	struct job *job = arg;

	log_event(LOGL_WARN, job->call_id, "agent_offer_timeout",
	          "job=%u worker=%u", job->id,
	          job->worker ? job->worker->id : 0);
	hub_job_unassign(job);
	hub_dispatch(job);
}

static void queue_timeout(void *arg)
{
	say_busy(arg, "no agent took the call in time");
}

static void fill_job(struct proto_msg *m, const void *arg)
{
	const struct job *job = arg;

	snprintf(m->call_id, sizeof(m->call_id), "%s", job->call_id);
	snprintf(m->room, sizeof(m->room), "%s", job->room);
	snprintf(m->participant, sizeof(m->participant), "%s",
	         job->participant);
	snprintf(m->from, sizeof(m->from), "%s", job->from);
	snprintf(m->to, sizeof(m->to), "%s", job->to);
	m->sample_rate = 8000;
}

/* The registered worker with the most room that has not refused the job;
 * NULL when none has capacity. */
static struct worker *pick_worker(struct hub *h, const struct job *job)
{
	struct worker *best = NULL;
	uint32_t best_free = 0;

	for (struct le *le = list_head(&h->workers); le; le = le->next) {
		struct worker *w = le->data;
		uint32_t used = list_count(&w->jobs);
		uint32_t avail = w->capacity > used ? w->capacity - used : 0;

		if (w->registered && avail > best_free && !tried(job, w->id)) {
			best = w;
			best_free = avail;
		}
	}
	return best;
}

void hub_dispatch(struct job *job)
{
	struct hub *h = job->hub;
	struct worker *w = pick_worker(h, job);

	if (w) {
		list_unlink(&job->wle);
		if (job->ntried < TRIED_MAX)
			job->tried[job->ntried++] = w->id;
		job->worker = w;
		job->state = JOB_OFFERED;
		list_append(&w->jobs, &job->wle, job);
		hub_send_job(job, PROTO_JOB, fill_job, job);
		tmr_start(&job->tmr, h->prm.dispatch_timeout_ms, offer_timeout,
		          job);
		log_event(LOGL_INFO, job->call_id, "agent_offered",
		          "job=%u worker=%u name=%s", job->id, w->id, w->name);
		return;
	}
	if (job->ntried >= TRIED_MAX) {
		say_busy(job, "every agent refused the call");
		return;
	}
	if (job->state == JOB_QUEUED && job->wle.list)
		return;
	if (list_count(&h->queue) >= h->prm.queue_max) {
		say_busy(job, list_isempty(&h->workers)
		                  ? "no agent worker is connected"
		                  : "every agent is busy");
		return;
	}
	job->state = JOB_QUEUED;
	list_append(&h->queue, &job->wle, job);
	tmr_start(&job->tmr, h->prm.queue_timeout_ms, queue_timeout, job);
	log_event(LOGL_INFO, job->call_id, "agent_queued", "job=%u waiting=%u",
	          job->id, list_count(&h->queue));
}

void hub_dispatch_queue(struct hub *h)
{
	struct le *le = list_head(&h->queue);

	while (le) {
		struct job *job = le->data;

		le = le->next;
		if (!pick_worker(h, job))
			continue;
		tmr_cancel(&job->tmr);
		hub_dispatch(job);
	}
}

struct job *hub_job_find(struct hub *h, uint32_t id)
{
	for (struct le *le = list_head(&h->jobs); le; le = le->next) {
		struct job *job = le->data;

		if (job->id == id)
			return job;
	}
	return NULL;
}

/* ---- relaying a job's bridge ------------------------------------------ */

static void fill_event(struct proto_msg *m, const void *arg)
{
	const struct bridge_event *ev = arg;

	m->vad = ev->vad;
	m->frame = ev->frame;
	m->utterance = ev->utterance;
	m->mark = ev->mark;
	m->heard_ms = ev->heard_ms;
	m->latency_ms = ev->latency_ms;
}

static void job_event(struct job *job, const struct bridge_event *ev)
{
	static const enum proto_type types[] = {
	    [BRIDGE_EV_VAD] = PROTO_VAD,
	    [BRIDGE_EV_SPEAKING] = PROTO_SPEAKING,
	    [BRIDGE_EV_MARK] = PROTO_MARK_PLAYED,
	    [BRIDGE_EV_PLAYED] = PROTO_PLAYED,
	    [BRIDGE_EV_INTERRUPTED] = PROTO_INTERRUPTED,
	};
	struct hub *h = job->hub;

	switch (ev->kind) {
	case BRIDGE_EV_VAD:
		log_event(LOGL_DEBUG, job->call_id, "vad", "vad=%s frame=%u",
		          proto_vad_name(ev->vad), ev->frame);
		break;
	case BRIDGE_EV_SPEAKING:
		if (ev->latency_ms >= 0) {
			struct hub_labels none;

			hub_labels_of(&none, NULL, NULL, NULL);
			hub_observe_stage(h, HUB_STAGE_V2V,
			                  job->worker ? &job->worker->labels
			                              : &none,
			                  ev->latency_ms / 1000.0);
			log_event(LOGL_INFO, job->call_id, "agent_speaking",
			          "utterance=%u voice_to_voice_ms=%d "
			          "end_of_turn_ms=%d",
			          ev->utterance, ev->latency_ms, ev->stop_ms);
		}
		break;
	case BRIDGE_EV_INTERRUPTED:
		if (ev->latency_ms >= 0)
			hub_observe(&h->reaction, ev->latency_ms / 1000.0);
		log_event(LOGL_INFO, job->call_id, "barge_in",
		          "utterance=%u heard_ms=%u reaction_ms=%d",
		          ev->utterance, ev->heard_ms, ev->latency_ms);
		if (job->interrupted)
			job->interrupted(job->hangup_arg);
		break;
	case BRIDGE_EV_PLAYED:
		if (job->state == JOB_BUSY) {
			hub_job_hangup(job, job->hangup_reason);
			return;
		}
		break;
	case BRIDGE_EV_MARK:
		break;
	}
	if (job->state == JOB_ACTIVE)
		hub_send_job(job, types[ev->kind], fill_event, ev);
}

static void job_relay(struct job *job)
{
	struct bridge_event ev;
	int16_t pcm[BRIDGE_FRAME];
	uint8_t buf[PROTO_AUDIO_HDR + 2 * BRIDGE_FRAME];
	uint32_t frame;

	while (bridge_event_next(job->bridge, &ev)) {
		job_event(job, &ev);
		if (job->state == JOB_DONE)
			break;
	}
	while (bridge_audio_next(job->bridge, &frame, pcm)) {
		size_t len;

		if (job->state != JOB_ACTIVE || !job->worker)
			continue;
		len = proto_audio_encode(buf, sizeof(buf), PROTO_AUDIO_CALLER,
		                         job->id, frame, pcm, BRIDGE_FRAME);
		if (len)
			(void)websock_send(job->worker->wc, WEBSOCK_BIN, "%b",
			                   buf, len);
	}
}

static void wake_handler(int flags, void *arg)
{
	struct hub *h = arg;
	uint64_t n;
	struct le *le;

	(void)flags;
	if (read(h->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	le = list_head(&h->jobs);
	while (le) {
		struct job *job = le->data;

		le = le->next;
		job_relay(job);
	}
}

/* ---- the agent the calls get ------------------------------------------ */

static void dispatch_later(void *arg)
{
	hub_dispatch(arg);
}

static int pipeline_start(void **statep, const struct agent_call_info *info,
                          const struct agent_assets *assets)
{
	struct hub *h = assets ? assets->hub : NULL;
	struct bridge_params bp = {.wake_fd = -1};
	struct job *job;
	int err;

	if (!statep || !info || !h)
		return EINVAL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return ENOMEM;
	bp.vad = h->prm.vad;
	bp.wake_fd = h->wake_fd;
	bp.audio_ready = info->audio_ready;
	bp.audio_ready_arg = info->audio_ready_arg;
	err = bridge_alloc(&job->bridge, &bp);
	if (err) {
		free(job);
		return err;
	}
	job->hub = h;
	job->id = ++h->next_job;
	tmr_init(&job->tmr);
	snprintf(job->call_id, sizeof(job->call_id), "%s", info->call_id);
	snprintf(job->room, sizeof(job->room), "%s",
	         info->room ? info->room : "");
	snprintf(job->participant, sizeof(job->participant), "%s",
	         info->participant ? info->participant : "");
	snprintf(job->from, sizeof(job->from), "%s", info->from);
	snprintf(job->to, sizeof(job->to), "%s", info->to);
	job->hangup = info->hangup;
	job->hangup_arg = info->hangup_arg;
	job->interrupted = info->interrupted;
	job->transfer = info->transfer;
	job->transfer_forget = info->transfer_forget;
	job->state = JOB_QUEUED;
	list_append(&h->jobs, &job->le, job);
	h->jobs_total++;
	/* Not now: dispatching may end the call, and the call is still
	 * starting its media. */
	tmr_start(&job->tmr, 0, dispatch_later, job);
	*statep = job;
	return 0;
}

static void pipeline_audio_in(void *state, const int16_t *pcm, size_t samples,
                              uint64_t arrival_us)
{
	struct job *job = state;

	bridge_agent.audio_in(job->bridge, pcm, samples, arrival_us);
}

static size_t pipeline_audio_out(void *state, int16_t *pcm, size_t samples)
{
	struct job *job = state;

	return bridge_agent.audio_out(job->bridge, pcm, samples);
}

static size_t pipeline_audio_early(void *state, int16_t *pcm, size_t samples)
{
	struct job *job = state;

	return bridge_agent.audio_early(job->bridge, pcm, samples);
}

static void pipeline_stop(void *state)
{
	struct job *job = state;
	struct hub *h = job->hub;

	tmr_cancel(&job->tmr);
	/* The call goes on without us (or has told us already). */
	if (job->xfer_pending && job->transfer_forget)
		job->transfer_forget(job->hangup_arg, job);
	if (job->worker) {
		struct proto_msg m;

		proto_init(&m, PROTO_END);
		m.job = job->id;
		snprintf(m.reason, sizeof(m.reason), "call ended");
		hub_send(job->worker, &m);
		hub_job_unassign(job);
	} else {
		list_unlink(&job->wle);
	}
	list_unlink(&job->le);
	/* What the bridge still holds for us is dropped with it. */
	bridge_agent.stop(job->bridge);
	free(job);
	hub_dispatch_queue(h);
}

struct digits {
	const char *p;
	size_t n;
};

static void fill_dtmf(struct proto_msg *m, const void *arg)
{
	const struct digits *d = arg;

	snprintf(m->digits, sizeof(m->digits), "%.*s", (int)d->n, d->p);
}

/* The caller's keys go to the worker, which makes them a turn. */
static void pipeline_dtmf(void *state, const char *digits, size_t n)
{
	struct job *job = state;
	const struct digits d = {digits, n};

	if (job->state == JOB_ACTIVE)
		hub_send_job(job, PROTO_DTMF, fill_dtmf, &d);
}

static bool pipeline_unpaced(void *state)
{
	(void)state;
	return true;
}

const struct agent_ops agent_pipeline = {
    .name = "pipeline",
    .unpaced = pipeline_unpaced,
    .start = pipeline_start,
    .audio_in = pipeline_audio_in,
    .audio_out = pipeline_audio_out,
    .audio_early = pipeline_audio_early,
    .stop = pipeline_stop,
    .dtmf = pipeline_dtmf,
};

/* ---- life -------------------------------------------------------------- */

static void hub_destructor(void *arg)
{
	struct hub *h = arg;

	h->closing = true;
	hub_pool_stop(h);
	hub_metrics_reset(h);
	list_flush(&h->workers);
	list_flush(&h->gone);
	if (h->wake_fd >= 0) {
		fd_close(h->wake_fd);
		close(h->wake_fd);
	}
	if (h->env) {
		/* Only the last two are ours (pool_env, hub_pool.c). */
		size_t n = 0;

		while (h->env[n])
			n++;
		if (n >= 2) {
			mem_deref(h->env[n - 1]);
			mem_deref(h->env[n - 2]);
		}
		mem_deref(h->env);
	}
}

int hub_alloc(struct hub **hp, const struct hub_params *prm)
{
	struct hub *h;
	int err;

	if (!hp || !prm ||
	    (prm->workers &&
	     (!prm->exe || !prm->url || !prm->key || !prm->secret)))
		return EINVAL;
	h = mem_zalloc(sizeof(*h), hub_destructor);
	if (!h)
		return ENOMEM;
	h->prm = *prm;
	h->wake_fd = -1;
	list_init(&h->jobs);
	list_init(&h->queue);
	list_init(&h->workers);
	list_init(&h->gone);
	list_init(&h->children);
	hub_metrics_init(h);
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->wake_fd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(h->wake_fd, FD_READ, wake_handler, h);
	if (err)
		goto out;
	if (prm->workers)
		err = hub_pool_start(h);
out:
	if (err)
		mem_deref(h);
	else
		*hp = h;
	return err;
}
