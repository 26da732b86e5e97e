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
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <re.h>
#include "agent/hub.h"
#include "agent/bridge.h"
#include "proto/proto.h"
#include "auth/token.h"
#include "net/wsguard.h"
#include "core/log.h"

#define WS_KEEPALIVE_MS  30000 /* libre counts it in ms */
#define POOL_TOKEN_TTL_S (7 * 24 * 3600)
#define RESPAWN_MIN_MS   1000
#define RESPAWN_MAX_MS   30000
#define HANGUP_POLL_MS   100
#define HANGUP_WAIT_MS   30000
#define TRIED_MAX        8

/* Prometheus histograms, in seconds. */
static const double bucket_s[] = {0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                  0.6,  0.8, 1.0,  1.5, 2.0, 3.0, 5.0};
#define NBUCKETS (sizeof(bucket_s) / sizeof(bucket_s[0]))

struct histogram {
	const char *name, *help;
	uint64_t counts[NBUCKETS + 1];
	uint64_t count;
	double sum;
};

enum job_state {
	JOB_QUEUED,
	JOB_OFFERED,
	JOB_ACTIVE,
	JOB_BUSY,
	JOB_DONE,
};

struct worker;

struct job {
	struct le le;  /* hub->jobs */
	struct le wle; /* worker->jobs or hub->queue */
	struct hub *hub;
	uint32_t id;
	struct bridge *bridge;
	struct worker *worker;
	enum job_state state;
	struct tmr tmr;
	uint32_t tried[TRIED_MAX];
	size_t ntried;
	char call_id[128], room[256], participant[300], from[256], to[256];
	void (*hangup)(void *arg, const char *reason);
	void *hangup_arg;
	void (*interrupted)(void *arg);
	char hangup_reason[160];
	uint64_t hangup_deadline;
};

struct worker {
	struct le le;
	struct hub *hub;
	struct websock_conn *wc;
	uint32_t id;
	char name[64];
	uint32_t capacity;
	bool registered;
	struct list jobs;
	struct tmr reap; /* frees it after its socket's close handler */
};

struct child {
	struct le le;
	struct hub *hub;
	pid_t pid;
	int pidfd;
	uint64_t started_ms;
	uint32_t backoff_ms;
	struct tmr respawn;
};

struct hub {
	struct hub_params prm;
	char **env; /* prm.env's strings plus the pool's own two */
	struct websock *ws;
	int wake_fd;
	struct list jobs, queue, workers, children;
	struct list gone; /* workers whose socket closed, freed next */
	uint32_t next_job, next_worker;
	bool closing;
	uint64_t jobs_total, busy_total, lost_total;
	struct histogram v2v, reaction, stt, llm, tts;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void observe(struct histogram *h, double s)
{
	size_t i = 0;

	while (i < NBUCKETS && s > bucket_s[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += s;
}

/* ---- sending to workers ------------------------------------------------ */

static void send_msg(struct worker *w, const struct proto_msg *m)
{
	char *s;

	if (!w || !w->wc)
		return;
	s = proto_encode(m, true);
	if (!s)
		return;
	if (websock_send(w->wc, WEBSOCK_TEXT, "%s", s))
		log_event(LOGL_WARN, NULL, "agent_send_failed", "worker=%u",
		          w->id);
	free(s);
}

static void send_job_msg(struct job *job, enum proto_type type,
                         void (*fill)(struct proto_msg *m, const void *arg),
                         const void *arg)
{
	struct proto_msg m;

	proto_init(&m, type);
	m.job = job->id;
	if (fill)
		fill(&m, arg);
	send_msg(job->worker, &m);
}

/* ---- jobs -------------------------------------------------------------- */

static void dispatch(struct job *job);
static void dispatch_queue(struct hub *h);

static void job_unassign(struct job *job)
{
	list_unlink(&job->wle);
	job->worker = NULL;
}

/* Ends the call from our side, once. */
static void job_hangup(struct job *job, const char *reason)
{
	if (job->state == JOB_DONE)
		return;
	tmr_cancel(&job->tmr);
	if (job->worker) {
		job_unassign(job);
		dispatch_queue(job->hub);
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
		job_hangup(job, why);
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
	job_unassign(job);
	dispatch(job);
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

static void dispatch(struct job *job)
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
		send_job_msg(job, PROTO_JOB, fill_job, job);
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

static void dispatch_queue(struct hub *h)
{
	struct le *le = list_head(&h->queue);

	while (le) {
		struct job *job = le->data;

		le = le->next;
		if (!pick_worker(h, job))
			continue;
		tmr_cancel(&job->tmr);
		dispatch(job);
	}
}

static struct job *job_find(struct hub *h, uint32_t id)
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
			observe(&h->v2v, ev->latency_ms / 1000.0);
			log_event(LOGL_INFO, job->call_id, "agent_speaking",
			          "utterance=%u voice_to_voice_ms=%d",
			          ev->utterance, ev->latency_ms);
		}
		break;
	case BRIDGE_EV_INTERRUPTED:
		if (ev->latency_ms >= 0)
			observe(&h->reaction, ev->latency_ms / 1000.0);
		log_event(LOGL_INFO, job->call_id, "barge_in",
		          "utterance=%u heard_ms=%u reaction_ms=%d",
		          ev->utterance, ev->heard_ms, ev->latency_ms);
		if (job->interrupted)
			job->interrupted(job->hangup_arg);
		break;
	case BRIDGE_EV_PLAYED:
		if (job->state == JOB_BUSY) {
			job_hangup(job, job->hangup_reason);
			return;
		}
		break;
	case BRIDGE_EV_MARK:
		break;
	}
	if (job->state == JOB_ACTIVE)
		send_job_msg(job, types[ev->kind], fill_event, ev);
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

/* ---- workers ----------------------------------------------------------- */

static void hangup_when_quiet(void *arg)
{
	struct job *job = arg;

	if (bridge_talking(job->bridge) && mono_ms() < job->hangup_deadline) {
		tmr_start(&job->tmr, HANGUP_POLL_MS, hangup_when_quiet, job);
		return;
	}
	job_hangup(job, job->hangup_reason);
}

static void worker_turn(struct job *job, const struct proto_msg *m)
{
	struct hub *h = job->hub;
	char transcript[2 * sizeof(m->transcript)], reply[2 * sizeof(m->reply)];
	char reason[2 * sizeof(m->reason)];

	if (m->stt_ms >= 0)
		observe(&h->stt, m->stt_ms / 1000.0);
	if (m->llm_ms >= 0)
		observe(&h->llm, m->llm_ms / 1000.0);
	if (m->tts_ms >= 0)
		observe(&h->tts, m->tts_ms / 1000.0);
	log_event(
	    m->reason[0] ? LOGL_WARN : LOGL_INFO, job->call_id, "turn",
	    "job=%u transcript=\"%s\" reply=\"%s\" stt_ms=%d llm_ms=%d "
	    "tts_ms=%d voice_to_voice_ms=%d interrupted=%s error=\"%s\"",
	    job->id, log_quote(transcript, sizeof(transcript), m->transcript),
	    log_quote(reply, sizeof(reply), m->reply), m->stt_ms, m->llm_ms,
	    m->tts_ms, m->v2v_ms, m->interrupted ? "true" : "false",
	    log_quote(reason, sizeof(reason), m->reason));
}

static void fill_registered(struct proto_msg *m, const void *arg)
{
	m->worker = *(const uint32_t *)arg;
}

static void worker_text(struct worker *w, const char *text, size_t len)
{
	struct hub *h = w->hub;
	struct proto_msg m;
	struct job *job;

	if (proto_decode(text, len, false, &m)) {
		log_event(LOGL_WARN, NULL, "agent_bad_message",
		          "worker=%u len=%zu", w->id, len);
		return;
	}
	if (m.type == PROTO_REGISTER) {
		struct proto_msg r;

		w->capacity = m.capacity ? m.capacity : 1;
		snprintf(w->name, sizeof(w->name), "%s", m.name);
		w->registered = true;
		proto_init(&r, PROTO_REGISTERED);
		fill_registered(&r, &w->id);
		send_msg(w, &r);
		log_event(LOGL_INFO, NULL, "agent_worker_registered",
		          "worker=%u name=%s capacity=%u", w->id, w->name,
		          w->capacity);
		dispatch_queue(h);
		return;
	}
	if (m.type == PROTO_UNKNOWN) {
		log_event(LOGL_DEBUG, NULL, "agent_unknown_message",
		          "worker=%u type=%s", w->id, m.name);
		return;
	}
	job = job_find(h, m.job);
	if (!job || job->worker != w) {
		log_event(LOGL_DEBUG, NULL, "agent_stale_message",
		          "worker=%u job=%u", w->id, m.job);
		return;
	}
	switch (m.type) {
	case PROTO_ACCEPT:
		if (job->state != JOB_OFFERED)
			break;
		tmr_cancel(&job->tmr);
		job->state = JOB_ACTIVE;
		log_event(LOGL_INFO, job->call_id, "agent_dispatched",
		          "job=%u worker=%u name=%s", job->id, w->id, w->name);
		break;
	case PROTO_DECLINE: {
		char reason[2 * sizeof(m.reason)];

		log_event(LOGL_INFO, job->call_id, "agent_declined",
		          "job=%u worker=%u reason=\"%s\"", job->id, w->id,
		          log_quote(reason, sizeof(reason), m.reason));
		tmr_cancel(&job->tmr);
		job_unassign(job);
		dispatch(job);
		break;
	}
	case PROTO_SAY_END:
		(void)bridge_say_end(job->bridge, m.utterance);
		break;
	case PROTO_MARK_AFTER:
		(void)bridge_mark(job->bridge, m.utterance, m.mark);
		break;
	case PROTO_CLEAR:
		bridge_silence(job->bridge);
		break;
	case PROTO_TURN:
		worker_turn(job, &m);
		break;
	case PROTO_HANGUP:
		if (job->state != JOB_ACTIVE)
			break;
		snprintf(job->hangup_reason, sizeof(job->hangup_reason), "%s",
		         m.reason[0] ? m.reason : "agent hung up");
		job->hangup_deadline = mono_ms() + HANGUP_WAIT_MS;
		tmr_start(&job->tmr, HANGUP_POLL_MS, hangup_when_quiet, job);
		break;
	default:
		break;
	}
}

static void worker_audio(struct worker *w, const uint8_t *buf, size_t len)
{
	static int16_t pcm[PROTO_AUDIO_MAX];
	uint8_t kind;
	uint32_t id, utt;
	size_t n;
	struct job *job;
	int err;

	err = proto_audio_decode(buf, len, &kind, &id, &utt, pcm,
	                         PROTO_AUDIO_MAX, &n);
	if (err || kind != PROTO_AUDIO_AGENT) {
		log_event(LOGL_WARN, NULL, "agent_bad_audio",
		          "worker=%u len=%zu", w->id, len);
		return;
	}
	job = job_find(w->hub, id);
	if (!job || job->worker != w || job->state != JOB_ACTIVE)
		return;
	err = bridge_say(job->bridge, utt, pcm, n);
	if (err == ENOSPC)
		log_event(LOGL_WARN, job->call_id, "agent_audio_overflow",
		          "job=%u utterance=%u samples=%zu", job->id, utt, n);
}

static void worker_recv(const struct websock_hdr *hdr, struct mbuf *mb,
                        void *arg)
{
	struct worker *w = arg;

	if (hdr->opcode == WEBSOCK_TEXT)
		worker_text(w, (const char *)mbuf_buf(mb), mbuf_get_left(mb));
	else if (hdr->opcode == WEBSOCK_BIN)
		worker_audio(w, mbuf_buf(mb), mbuf_get_left(mb));
}

static void worker_destructor(void *arg)
{
	struct worker *w = arg;

	tmr_cancel(&w->reap);
	list_unlink(&w->le);
	mem_deref(w->wc);
}

static void worker_reap(void *arg)
{
	mem_deref(arg);
}

static void worker_close(int err, void *arg)
{
	struct worker *w = arg;
	struct hub *h = w->hub;
	struct le *le = list_head(&w->jobs);

	log_event(LOGL_WARN, NULL, "agent_worker_lost",
	          "worker=%u name=%s calls=%u error=\"%s\"", w->id, w->name,
	          list_count(&w->jobs), err ? strerror(err) : "closed");
	while (le) {
		struct job *job = le->data;

		le = le->next;
		h->lost_total++;
		job_hangup(job, "agent lost");
	}
	/* Not freed under libre's handler that called us: moved out of the
	 * workers the calls see, freed from a 0 ms timer. */
	w->registered = false;
	list_unlink(&w->le);
	list_append(&h->gone, &w->le, w);
	tmr_start(&w->reap, 0, worker_reap, w);
}

void hub_accept(struct hub *h, struct http_conn *conn,
                const struct http_msg *msg)
{
	struct worker *w;
	char peer[64];
	int err;

	if (!h || h->closing) {
		http_ereply(conn, 503, "Service Unavailable");
		return;
	}
	w = mem_zalloc(sizeof(*w), worker_destructor);
	if (!w) {
		http_ereply(conn, 500, "Internal Server Error");
		return;
	}
	w->hub = h;
	w->id = ++h->next_worker;
	tmr_init(&w->reap);
	list_init(&w->jobs);
	err = websock_accept(&w->wc, h->ws, conn, msg, WS_KEEPALIVE_MS,
	                     worker_recv, worker_close, w);
	if (err) {
		log_event(LOGL_WARN, NULL, "agent_accept_failed",
		          "error=\"%s\"", strerror(err));
		http_ereply(conn, 400, "Bad Request");
		mem_deref(w);
		return;
	}
	err = wsguard_attach(
	    w->wc, &(struct wsguard_prm){.server = true, .label = "agent"});
	if (err) {
		log_event(LOGL_WARN, NULL, "agent_accept_failed",
		          "error=\"%s\"", strerror(err));
		mem_deref(w);
		return;
	}
	list_append(&h->workers, &w->le, w);
	if (re_snprintf(peer, sizeof(peer), "%J", websock_peer(w->wc)) < 0)
		peer[0] = '\0';
	log_event(LOGL_INFO, NULL, "agent_worker_connected",
	          "worker=%u peer=%s", w->id, peer);
}

unsigned hub_worker_count(const struct hub *h)
{
	unsigned n = 0;

	if (!h)
		return 0;
	for (struct le *le = list_head(&h->workers); le; le = le->next)
		n += ((const struct worker *)le->data)->registered;
	return n;
}

/* ---- the agent the calls get ------------------------------------------ */

static void dispatch_later(void *arg)
{
	dispatch(arg);
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

static void pipeline_stop(void *state)
{
	struct job *job = state;
	struct hub *h = job->hub;

	tmr_cancel(&job->tmr);
	if (job->worker) {
		struct proto_msg m;

		proto_init(&m, PROTO_END);
		m.job = job->id;
		snprintf(m.reason, sizeof(m.reason), "call ended");
		send_msg(job->worker, &m);
		job_unassign(job);
	} else {
		list_unlink(&job->wle);
	}
	list_unlink(&job->le);
	/* What the bridge still holds for us is dropped with it. */
	bridge_agent.stop(job->bridge);
	free(job);
	dispatch_queue(h);
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
		send_job_msg(job, PROTO_DTMF, fill_dtmf, &d);
}

const struct agent_ops agent_pipeline = {
    .name = "pipeline",
    .start = pipeline_start,
    .audio_in = pipeline_audio_in,
    .audio_out = pipeline_audio_out,
    .stop = pipeline_stop,
    .dtmf = pipeline_dtmf,
};

/* ---- metrics ----------------------------------------------------------- */

static int print_histogram(struct mbuf *mb, const struct histogram *hg)
{
	uint64_t cum = 0;
	int err;

	err = mbuf_printf(mb, "# HELP %s %s\n# TYPE %s histogram\n", hg->name,
	                  hg->help, hg->name);
	for (size_t i = 0; i < NBUCKETS && !err; i++) {
		char le[16];

		/* libre's printf has no %g. */
		snprintf(le, sizeof(le), "%g", bucket_s[i]);
		cum += hg->counts[i];
		err = mbuf_printf(mb, "%s_bucket{le=\"%s\"} %llu\n", hg->name,
		                  le, (unsigned long long)cum);
	}
	if (!err)
		err = mbuf_printf(mb,
		                  "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
		                  "%s_count %llu\n",
		                  hg->name, (unsigned long long)hg->count,
		                  hg->name, hg->sum, hg->name,
		                  (unsigned long long)hg->count);
	return err;
}

int hub_metrics(struct hub *h, struct mbuf *mb)
{
	unsigned active = 0;
	int err;

	if (!h || !mb)
		return EINVAL;
	for (struct le *le = list_head(&h->jobs); le; le = le->next)
		active += ((struct job *)le->data)->state == JOB_ACTIVE;
	err = print_histogram(mb, &h->v2v);
	err |= print_histogram(mb, &h->reaction);
	err |= print_histogram(mb, &h->stt);
	err |= print_histogram(mb, &h->llm);
	err |= print_histogram(mb, &h->tts);
	err |= mbuf_printf(
	    mb,
	    "# HELP voxgate_agent_workers Agent workers connected.\n"
	    "# TYPE voxgate_agent_workers gauge\n"
	    "voxgate_agent_workers %u\n"
	    "# HELP voxgate_agent_calls Calls with an agent talking.\n"
	    "# TYPE voxgate_agent_calls gauge\n"
	    "voxgate_agent_calls %u\n"
	    "# HELP voxgate_agent_queued Calls waiting for an agent.\n"
	    "# TYPE voxgate_agent_queued gauge\n"
	    "voxgate_agent_queued %u\n"
	    "# HELP voxgate_agent_jobs_total Calls that asked for an agent.\n"
	    "# TYPE voxgate_agent_jobs_total counter\n"
	    "voxgate_agent_jobs_total %llu\n"
	    "# HELP voxgate_agent_busy_total Calls no agent took.\n"
	    "# TYPE voxgate_agent_busy_total counter\n"
	    "voxgate_agent_busy_total %llu\n"
	    "# HELP voxgate_agent_lost_total Calls whose agent went away.\n"
	    "# TYPE voxgate_agent_lost_total counter\n"
	    "voxgate_agent_lost_total %llu\n",
	    hub_worker_count(h), active, list_count(&h->queue),
	    (unsigned long long)h->jobs_total,
	    (unsigned long long)h->busy_total,
	    (unsigned long long)h->lost_total);
	return err ? ENOMEM : 0;
}

/* ---- the local pool ---------------------------------------------------- */

static void child_spawn(struct child *c);

static void child_destructor(void *arg)
{
	struct child *c = arg;

	tmr_cancel(&c->respawn);
	list_unlink(&c->le);
	if (c->pidfd >= 0) {
		fd_close(c->pidfd);
		close(c->pidfd);
	}
}

static void child_respawn(void *arg)
{
	child_spawn(arg);
}

static void child_exited(int flags, void *arg)
{
	struct child *c = arg;
	struct hub *h = c->hub;
	int status = 0;
	uint64_t lived;

	(void)flags;
	if (waitpid(c->pid, &status, WNOHANG) != c->pid)
		return;
	fd_close(c->pidfd);
	close(c->pidfd);
	c->pidfd = -1;
	lived = mono_ms() - c->started_ms;
	log_event(h->closing ? LOGL_INFO : LOGL_WARN, NULL,
	          "agent_worker_exited", "pid=%d status=%d signal=%d",
	          (int)c->pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	c->pid = 0;
	if (h->closing)
		return;
	/* One that dies at once would otherwise be restarted in a loop. */
	c->backoff_ms =
	    lived < 10000 ? (c->backoff_ms ? c->backoff_ms * 2 : RESPAWN_MIN_MS)
	                  : RESPAWN_MIN_MS;
	if (c->backoff_ms > RESPAWN_MAX_MS)
		c->backoff_ms = RESPAWN_MAX_MS;
	tmr_start(&c->respawn, c->backoff_ms, child_respawn, c);
}

static void child_spawn(struct child *c)
{
	struct hub *h = c->hub;
	char *argv[] = {(char *)h->prm.exe, "agent", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int err;

	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	/* The server blocks its signals for its signalfd; workers must
	 * see SIGTERM. */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	/* Not every descriptor of the server is close-on-exec (libre's
	 * sockets are not): a worker keeps stdin, stdout and stderr only, so
	 * it can neither accept on the server's sockets nor read its
	 * database. */
	posix_spawn_file_actions_init(&fa);
	err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!err)
		err = posix_spawn(&pid, h->prm.exe, &fa, &attr, argv, h->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err) {
		log_event(LOGL_ERROR, NULL, "agent_worker_spawn_failed",
		          "exe=%s error=\"%s\"", h->prm.exe, strerror(err));
		tmr_start(&c->respawn, RESPAWN_MAX_MS, child_respawn, c);
		return;
	}
	c->pid = pid;
	c->started_ms = mono_ms();
	c->pidfd = pidfd_open(pid, 0);
	if (c->pidfd < 0 || fd_listen(c->pidfd, FD_READ, child_exited, c)) {
		log_event(LOGL_ERROR, NULL, "agent_worker_watch_failed",
		          "pid=%d", (int)pid);
		if (c->pidfd >= 0)
			close(c->pidfd);
		c->pidfd = -1;
		return;
	}
	log_event(LOGL_INFO, NULL, "agent_worker_started", "pid=%d", (int)pid);
}

/* The pool's environment: the given one without our two variables, then
 * those two. */
static int pool_env(struct hub *h)
{
	char *token = NULL, *server = NULL, *tok = NULL;
	struct token_spec spec = {.identity = "agent-pool",
	                          .kind = "agent",
	                          .ttl_s = POOL_TOKEN_TTL_S};
	size_t n = 0, k = 0;
	int err;

	token_grants_default(&spec.grants);
	spec.grants.agent = true;
	err =
	    token_create(&token, h->prm.key, h->prm.secret, &spec, time(NULL));
	if (err)
		return err;
	err = re_sdprintf(&tok, "VOXGATE_AGENT_TOKEN=%s", token);
	free(token);
	if (!err)
		err =
		    re_sdprintf(&server, "VOXGATE_AGENT_SERVER=%s", h->prm.url);
	while (!err && h->prm.env && h->prm.env[n])
		n++;
	if (!err) {
		h->env = mem_zalloc((n + 3) * sizeof(char *), NULL);
		if (!h->env)
			err = ENOMEM;
	}
	if (err) {
		mem_deref(tok);
		mem_deref(server);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		const char *e = h->prm.env[i];

		if (strncmp(e, "VOXGATE_AGENT_TOKEN=", 20) &&
		    strncmp(e, "VOXGATE_AGENT_SERVER=", 21))
			h->env[k++] = (char *)e;
	}
	h->env[k++] = tok;
	h->env[k++] = server;
	h->env[k] = NULL;
	return 0;
}

static int pool_start(struct hub *h)
{
	int err = pool_env(h);

	if (err)
		return err;
	for (uint32_t i = 0; i < h->prm.workers; i++) {
		struct child *c = mem_zalloc(sizeof(*c), child_destructor);

		if (!c)
			return ENOMEM;
		c->hub = h;
		c->pidfd = -1;
		tmr_init(&c->respawn);
		list_append(&h->children, &c->le, c);
		child_spawn(c);
	}
	return 0;
}

static void pool_stop(struct hub *h)
{
	uint64_t deadline = mono_ms() + 2000;
	bool left;

	for (struct le *le = list_head(&h->children); le; le = le->next) {
		struct child *c = le->data;

		if (c->pid > 0)
			kill(c->pid, SIGTERM);
	}
	do {
		left = false;
		for (struct le *le = list_head(&h->children); le;
		     le = le->next) {
			struct child *c = le->data;

			if (c->pid > 0 &&
			    waitpid(c->pid, NULL, WNOHANG) == c->pid)
				c->pid = 0;
			left |= c->pid > 0;
		}
		if (left)
			usleep(20000);
	} while (left && mono_ms() < deadline);
	for (struct le *le = list_head(&h->children); le; le = le->next) {
		struct child *c = le->data;

		if (c->pid > 0) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			c->pid = 0;
		}
	}
	list_flush(&h->children);
}

/* ---- life -------------------------------------------------------------- */

static void hub_destructor(void *arg)
{
	struct hub *h = arg;

	h->closing = true;
	pool_stop(h);
	list_flush(&h->workers);
	list_flush(&h->gone);
	mem_deref(h->ws);
	if (h->wake_fd >= 0) {
		fd_close(h->wake_fd);
		close(h->wake_fd);
	}
	if (h->env) {
		/* Only the last two are ours. */
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

static void hist_init(struct histogram *hg, const char *name, const char *help)
{
	hg->name = name;
	hg->help = help;
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
	hist_init(&h->v2v, "voxgate_voice_to_voice_seconds",
	          "End of the caller's speech to the first packet of the "
	          "agent's reply on the wire.");
	hist_init(&h->reaction, "voxgate_barge_in_reaction_seconds",
	          "The caller's first speech packet to the agent's last "
	          "packet when the caller talks over the agent.");
	hist_init(&h->stt, "voxgate_stt_final_seconds",
	          "End of the caller's speech to the final transcript.");
	hist_init(&h->llm, "voxgate_llm_first_token_seconds",
	          "End of the caller's speech to the brain's first text.");
	hist_init(&h->tts, "voxgate_tts_first_audio_seconds",
	          "End of the caller's speech to the first synthesized audio.");
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->wake_fd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(h->wake_fd, FD_READ, wake_handler, h);
	if (err)
		goto out;
	err = websock_alloc(&h->ws, NULL, NULL);
	if (err)
		goto out;
	if (prm->workers)
		err = pool_start(h);
out:
	if (err)
		mem_deref(h);
	else
		*hp = h;
	return err;
}
