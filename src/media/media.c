/*
 * Media threads and call sessions.
 *
 * DESIGN. Each media thread runs an epoll loop over its sessions' sockets,
 * an eventfd for commands and a 20 ms periodic timerfd. Commands (add,
 * update, remove) and events back to signalling (first RTP, timeout,
 * stopped) travel as pending bits on the session, linked into a list under
 * a mutex that is taken once per command or event, never per packet.
 *
 * Sockets are plain non-blocking UDP rather than libre's udp_sock because
 * libre allocates an mbuf for every datagram it reads; here a packet is
 * read into a buffer on the thread's stack and copied into the jitter
 * buffer's slot, and the reply is built on the stack too.
 *
 * This file holds the engine, its threads and the commands and events
 * between them and the signalling thread; media_int.h lists the others.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include "media/media_int.h"
#include "media/jitter.h"

static void wake(int fd)
{
	uint64_t one = 1;

	/* A full counter already means "wake up"; nothing to do on error. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

static void stats_add(struct media_stats *dst, const struct media_stats *s)
{
	dst->packets_in += s->packets_in;
	dst->packets_out += s->packets_out;
	dst->lost += s->lost;
	dst->late += s->late;
	dst->duplicate += s->duplicate;
	dst->discarded += s->discarded;
	dst->underrun += s->underrun;
	dst->stretched += s->stretched;
	dst->concealed += s->concealed;
	dst->wrong_source += s->wrong_source;
	dst->probation += s->probation;
	dst->unknown_pt += s->unknown_pt;
	dst->malformed += s->malformed;
	dst->dtmf_in += s->dtmf_in;
	dst->rtcp_in += s->rtcp_in;
	dst->rtcp_out += s->rtcp_out;
	dst->srtp_auth_fail += s->srtp_auth_fail;
	dst->srtp_replay += s->srtp_replay;
	dst->srtp_other += s->srtp_other;
}

/* What an SRTP context refused, into the session's figures: when the
 * context is swapped out by a re-key, and when the session stops. */
static void srtp_fold(struct media_stats *st, const struct srtpx *s)
{
	const struct srtpx_stats *ss = srtpx_stats(s);

	st->srtp_auth_fail += ss->auth_fail;
	st->srtp_replay += ss->replay;
	st->srtp_other += ss->bad_len + ss->other;
}

/* ---- jobs ---------------------------------------------------------------- */

static struct media_job *job_new(media_job_h *h, void *arg)
{
	struct media_job *j = malloc(sizeof(*j));

	if (j) {
		j->next = NULL;
		j->h = h;
		j->arg = arg;
	}
	return j;
}

static void jobq_put(struct media_jobq *q, struct media_job *j)
{
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static void jobs_run(struct media_job *j)
{
	while (j) {
		struct media_job *next = j->next;

		j->h(j->arg);
		free(j);
		j = next;
	}
}

int media_job_post(struct media_thread *mt, media_job_h *h, void *arg)
{
	struct media_job *j;

	if (mt->me->closed) {
		h(arg);
		return 0;
	}
	j = job_new(h, arg);
	if (!j)
		return ENOMEM;
	pthread_mutex_lock(&mt->lock);
	jobq_put(&mt->jobs, j);
	pthread_mutex_unlock(&mt->lock);
	wake(mt->wakefd);
	return 0;
}

int media_job_main(struct media_engine *me, media_job_h *h, void *arg)
{
	struct media_job *j;

	if (me->closed) {
		h(arg);
		return 0;
	}
	j = job_new(h, arg);
	if (!j)
		return ENOMEM;
	pthread_mutex_lock(&me->ev_lock);
	jobq_put(&me->main_jobs, j);
	pthread_mutex_unlock(&me->ev_lock);
	wake(me->ev_fd);
	return 0;
}

struct media_thread *media_thread_pick(struct media_engine *me)
{
	struct media_thread *least = &me->threads[0];

	for (unsigned i = 1; i < me->nthreads; i++) {
		if (atomic_load(&me->threads[i].load) <
		    atomic_load(&least->load))
			least = &me->threads[i];
	}
	atomic_fetch_add(&least->load, 1);
	return least;
}

/* ---- events to the signalling thread ---------------------------------- */

void media_event_post(struct media_session *ms, unsigned bit)
{
	struct media_engine *me = ms->me;

	pthread_mutex_lock(&me->ev_lock);
	ms->ev |= bit;
	if (!ms->ev_linked) {
		ms->ev_linked = true;
		ms->ev_next = me->ev_head;
		me->ev_head = ms;
	}
	pthread_mutex_unlock(&me->ev_lock);
	wake(me->ev_fd);
}

static void event_dispatch(int flags, void *arg)
{
	struct media_engine *me = arg;
	struct media_session *list, *next;
	struct media_job *jobs;
	uint64_t n;

	(void)flags;
	if (read(me->ev_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;

	pthread_mutex_lock(&me->ev_lock);
	list = me->ev_head;
	me->ev_head = NULL;
	jobs = me->main_jobs.head;
	me->main_jobs.head = me->main_jobs.tail = NULL;
	pthread_mutex_unlock(&me->ev_lock);

	for (struct media_session *ms = list; ms; ms = next) {
		unsigned ev;
		const struct agent_ops *retired_ops;
		void *retired_state;

		/* Unlinked one at a time under the lock: a media thread may
		 * post again for a session further down this list. */
		pthread_mutex_lock(&me->ev_lock);
		next = ms->ev_next;
		ev = ms->ev;
		ms->ev = 0;
		ms->ev_linked = false;
		retired_ops = ms->retired_ops;
		retired_state = ms->retired_state;
		ms->retired_ops = NULL;
		ms->retired_state = NULL;
		pthread_mutex_unlock(&me->ev_lock);

		if (ev & EV_REKEYED) {
			srtpx_reset(&ms->srtp_next);
			ms->rekeying = false;
		}
		if (ev & EV_AGENT_SWAPPED) {
			if (retired_ops && retired_state)
				retired_ops->stop(retired_state);
			ms->swapping = false;
		}
		/* STOPPED is last: the handler may free the session. */
		if (ev & EV_FIRST_RTP)
			ms->evh(MEDIA_EVENT_FIRST_RTP, ms->arg);
		if (ev & EV_DTMF)
			ms->evh(MEDIA_EVENT_DTMF, ms->arg);
		if (ev & EV_TIMEOUT)
			ms->evh(MEDIA_EVENT_TIMEOUT, ms->arg);
		if (ev & EV_STOPPED)
			ms->evh(MEDIA_EVENT_STOPPED, ms->arg);
	}
	/* After the sessions' events: a job may free what an event of the
	 * same batch still names. */
	jobs_run(jobs);
}

/* ---- commands from signalling ----------------------------------------- */

static void apply_params(struct media_session *ms,
                         const struct media_params *prm)
{
	bool moved = !sa_cmp(&prm->raddr, &ms->prm.raddr, SA_ALL);

	ms->prm = *prm;
	ms->raddr_private = media_addr_private(&prm->raddr);
	/* A new address in the SDP (re-INVITE) means the caller moved:
	 * send there and latch again on what arrives. */
	if (moved || !ms->latched) {
		ms->latched = false;
		ms->peer = prm->raddr;
		memset(ms->cand, 0, sizeof(ms->cand));
	}
	if (moved || !ms->rtcp_latched) {
		ms->rtcp_latched = false;
		ms->peer_rtcp = prm->raddr_rtcp;
	}
	if (!prm->recv) {
		jitter_restart(ms->jb);
		ms->fifo_len = 0;
		/* Nothing heard on hold is continued after it. */
		plc_init(&ms->plc);
		ms->plc_primed = false;
	}
	ms->last_rx_us = clock_mono_us();
	ms->timeout_sent = false;
}

static int thread_add(struct media_thread *mt, struct media_session *ms)
{
	struct epoll_event ev = {.events = EPOLLIN};

	if (mt->nsessions == mt->cap) {
		size_t cap = mt->cap ? mt->cap * 2 : 64;
		struct media_session **s =
		    realloc(mt->sessions, cap * sizeof(*s));
		if (!s)
			return ENOMEM;
		mt->sessions = s;
		mt->cap = cap;
	}
	ev.data.ptr = &ms->rtp_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, ms->rtp_fd, &ev))
		return errno;
	ev.data.ptr = &ms->rtcp_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, ms->rtcp_fd, &ev)) {
		int err = errno;
		epoll_ctl(mt->epfd, EPOLL_CTL_DEL, ms->rtp_fd, NULL);
		return err;
	}
	ms->index = mt->nsessions;
	mt->sessions[mt->nsessions++] = ms;
	ms->next_rtcp_us = clock_mono_us() + RTCP_INTERVAL_MS * 1000u;
	mt->calls++;
	return 0;
}

static void thread_remove(struct media_thread *mt, struct media_session *ms)
{
	size_t i = ms->index;

	mroom_session_gone(ms);
	if (i >= mt->nsessions || mt->sessions[i] != ms)
		return;
	epoll_ctl(mt->epfd, EPOLL_CTL_DEL, ms->rtp_fd, NULL);
	epoll_ctl(mt->epfd, EPOLL_CTL_DEL, ms->rtcp_fd, NULL);
	mt->sessions[i] = mt->sessions[--mt->nsessions];
	mt->sessions[i]->index = i;

	const struct jitter_stats *js = jitter_stats(ms->jb);
	ms->stats.lost = js->lost;
	ms->stats.discarded = js->discarded;
	ms->stats.underrun = js->underrun;
	ms->stats.stretched = js->stretched;
	ms->stats.jitter_target_ms =
	    jitter_target(ms->jb) / (CLOCK_RATE / 1000);
	srtp_fold(&ms->stats, &ms->srtp);
	stats_add(&mt->totals, &ms->stats);
}

void media_commands_run(struct media_thread *mt)
{
	struct media_session *list, *next;
	struct media_job *jobs;
	bool quit;

	pthread_mutex_lock(&mt->lock);
	list = mt->cmd_head;
	mt->cmd_head = NULL;
	jobs = mt->jobs.head;
	mt->jobs.head = mt->jobs.tail = NULL;
	quit = mt->quit;
	pthread_mutex_unlock(&mt->lock);

	/* Jobs first: one posted before a session's stop must not find the
	 * session already gone. */
	jobs_run(jobs);
	for (struct media_session *ms = list; ms; ms = next) {
		unsigned cmd;
		struct media_params prm;
		const struct agent_ops *ops;
		void *state;

		pthread_mutex_lock(&mt->lock);
		next = ms->cmd_next;
		ms->cmd_linked = false;
		cmd = ms->cmd;
		ms->cmd = 0;
		prm = ms->pending;
		ops = ms->pending_ops;
		state = ms->pending_state;
		ms->pending_ops = NULL;
		ms->pending_state = NULL;
		pthread_mutex_unlock(&mt->lock);

		if (cmd & CMD_AGENT) {
			pthread_mutex_lock(&ms->me->ev_lock);
			ms->retired_ops = ms->ops;
			ms->retired_state = ms->agent_state;
			pthread_mutex_unlock(&ms->me->ev_lock);
			ms->ops = ops;
			ms->agent_state = state;
			media_event_post(ms, EV_AGENT_SWAPPED);
		}

		if (cmd & CMD_ADD) {
			apply_params(ms, &prm);
			/* A call whose sockets cannot be polled would
			 * be silent: end it as a media timeout. */
			if (thread_add(mt, ms))
				media_event_post(ms, EV_TIMEOUT);
		} else if (cmd & CMD_UPDATE) {
			apply_params(ms, &prm);
		}
		if (cmd & CMD_REKEY) {
			struct srtpx old = ms->srtp;

			srtp_fold(&ms->stats, &old);
			ms->srtp = ms->srtp_next;
			ms->srtp_next = old;
			media_event_post(ms, EV_REKEYED);
		}
		if (cmd & CMD_CONFIRM)
			ms->cleared = true;
		/* Only a session this thread runs: its ADD may have failed. */
		if ((cmd & CMD_KICK) && !(cmd & CMD_REMOVE) &&
		    ms->index < mt->nsessions && mt->sessions[ms->index] == ms)
			media_session_early(mt, ms);
		if (cmd & CMD_REMOVE) {
			thread_remove(mt, ms);
			atomic_fetch_sub(&mt->load, 1);
			media_event_post(ms, EV_STOPPED);
		}
	}
	if (quit)
		mt->running = false;
}

void media_command_post(struct media_session *ms, unsigned cmd,
                        const struct media_params *prm)
{
	struct media_thread *mt = ms->mt;

	pthread_mutex_lock(&mt->lock);
	ms->cmd |= cmd;
	if (prm)
		ms->pending = *prm;
	if (!ms->cmd_linked) {
		ms->cmd_linked = true;
		ms->cmd_next = mt->cmd_head;
		mt->cmd_head = ms;
	}
	pthread_mutex_unlock(&mt->lock);
	wake(mt->wakefd);
}

/* ---- engine ----------------------------------------------------------- */

static void thread_stop(struct media_thread *mt)
{
	if (!mt->joinable)
		return;
	pthread_mutex_lock(&mt->lock);
	mt->quit = true;
	pthread_mutex_unlock(&mt->lock);
	wake(mt->wakefd);
	pthread_join(mt->tid, NULL);
	mt->joinable = false;
}

static void thread_close(struct media_thread *mt)
{
	thread_stop(mt);
	if (mt->epfd >= 0)
		close(mt->epfd);
	if (mt->wakefd >= 0)
		close(mt->wakefd);
	if (mt->timerfd >= 0)
		close(mt->timerfd);
	pthread_mutex_destroy(&mt->lock);
	free(mt->sessions);
	free(mt->residence);
}

static int thread_open(struct media_thread *mt, struct media_engine *me)
{
	struct itimerspec its = {
	    .it_interval = {.tv_nsec = FRAME_MS * 1000000L},
	    .it_value = {.tv_nsec = FRAME_MS * 1000000L},
	};
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	mt->me = me;
	mt->epfd = mt->wakefd = mt->timerfd = -1;
	list_init(&mt->rooms);
	list_init(&mt->pcs);
	pthread_mutex_init(&mt->lock, NULL);
	mt->residence = calloc(RESIDENCE_BUCKETS, sizeof(*mt->residence));
	if (!mt->residence)
		return ENOMEM;
	mt->epfd = epoll_create1(EPOLL_CLOEXEC);
	mt->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	mt->timerfd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (mt->epfd < 0 || mt->wakefd < 0 || mt->timerfd < 0)
		return errno;
	if (timerfd_settime(mt->timerfd, 0, &its, NULL))
		return errno;
	ev.data.ptr = &mt->wake_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, mt->wakefd, &ev))
		return errno;
	ev.data.ptr = &mt->timer_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, mt->timerfd, &ev))
		return errno;
	mt->running = true;
	err = pthread_create(&mt->tid, NULL, media_thread_main, mt);
	mt->joinable = !err;
	return err;
}

static void engine_totals(const struct media_engine *me, struct media_totals *t)
{
	uint64_t total = 0, seen = 0;
	uint64_t p50 = 0, p99 = 0, max = 0;
	bool have50 = false, have99 = false;

	memset(t, 0, sizeof(*t));
	if (!me)
		return;
	for (unsigned i = 0; i < me->nthreads; i++) {
		const struct media_thread *mt = &me->threads[i];

		t->calls += mt->calls;
		t->tick_late += mt->tick_late;
		stats_add(&t->stats, &mt->totals);
		for (size_t b = 0; mt->residence && b < RESIDENCE_BUCKETS; b++)
			total += mt->residence[b];
	}
	t->residence_count = total;
	for (size_t b = 0; total && b < RESIDENCE_BUCKETS; b++) {
		uint64_t c = 0;

		for (unsigned i = 0; i < me->nthreads; i++)
			c += me->threads[i].residence[b];
		if (!c)
			continue;
		seen += c;
		max = b;
		if (!have50 && seen * 2 >= total) {
			p50 = b;
			have50 = true;
		}
		if (!have99 && seen * 100 >= total * 99) {
			p99 = b;
			have99 = true;
		}
	}
	/* A bucket is reported by its upper edge. */
	t->residence_p50_us = (uint32_t)((p50 + 1) * RESIDENCE_BUCKET_US);
	t->residence_p99_us = (uint32_t)((p99 + 1) * RESIDENCE_BUCKET_US);
	t->residence_max_us = (uint32_t)((max + 1) * RESIDENCE_BUCKET_US);
	if (!total)
		t->residence_p50_us = t->residence_p99_us =
		    t->residence_max_us = 0;
}

static void engine_destructor(void *arg)
{
	struct media_engine *me = arg;

	for (unsigned i = 0; i < me->nthreads; i++)
		thread_close(&me->threads[i]);
	if (me->ev_listening)
		fd_close(me->ev_fd);
	if (me->ev_fd >= 0)
		close(me->ev_fd);
	pthread_mutex_destroy(&me->ev_lock);
}

int media_engine_open(struct media_engine **mep,
                      const struct media_engine_params *prm)
{
	struct media_engine *me;
	unsigned nthreads;
	long cpus;
	int err = 0;

	if (!mep || !prm || prm->port_min >= prm->port_max)
		return EINVAL;
	me = mem_zalloc(sizeof(*me), engine_destructor);
	if (!me)
		return ENOMEM;
	me->prm = *prm;
	me->ev_fd = -1;
	pthread_mutex_init(&me->ev_lock, NULL);

	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads =
	    prm->threads ? prm->threads : (unsigned)(cpus > 0 ? cpus : 1);
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;

	me->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (me->ev_fd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(me->ev_fd, FD_READ, event_dispatch, me);
	if (err)
		goto out;
	me->ev_listening = true;

	for (unsigned i = 0; i < nthreads; i++) {
		/* Counted before opening: a half-opened thread is closed by
		 * the destructor too. */
		me->nthreads = i + 1;
		err = thread_open(&me->threads[i], me);
		if (err)
			goto out;
	}
out:
	if (err)
		mem_deref(me);
	else
		*mep = me;
	return err;
}

void media_engine_close(struct media_engine *me, struct media_totals *t)
{
	if (t)
		memset(t, 0, sizeof(*t));
	if (!me)
		return;
	/* Joined before the totals are read: a thread folds a session's
	 * figures into its own as it lets the session go. */
	for (unsigned i = 0; i < me->nthreads; i++)
		thread_stop(&me->threads[i]);
	/* Jobs still queued run here, the threads gone: each object's stop
	 * then still reaches its owner; later ones run as they are posted. */
	me->closed = true;
	for (unsigned i = 0; i < me->nthreads; i++) {
		struct media_job *j = me->threads[i].jobs.head;

		me->threads[i].jobs.head = me->threads[i].jobs.tail = NULL;
		jobs_run(j);
	}
	while (me->main_jobs.head) {
		struct media_job *j = me->main_jobs.head;

		me->main_jobs.head = me->main_jobs.tail = NULL;
		jobs_run(j);
	}
	if (t)
		engine_totals(me, t);
	if (me->ev_listening) {
		fd_close(me->ev_fd);
		me->ev_listening = false;
	}
	/* Sessions still alive hold a reference: their last commands land
	 * in queues nobody reads, and the memory goes with the last one. */
	mem_deref(me);
}
