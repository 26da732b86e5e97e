/*
 * DESIGN. A job is PENDING until a worker of its dispatch's name is
 * available, OFFERED while that worker decides (10 s, then the next one is
 * asked), RUNNING once assigned, then ENDED. Unlike LiveKit, a job that
 * finds no worker waits (queue_timeout_ms) for one to register or become
 * available. A running job that is terminated is told so, and its agent is
 * removed from the room if it has not left LK_LEAVE_GRACE_MS later, as
 * LiveKit's DeleteDispatch does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lkagent/lk_int.h"
#include <jansson.h>
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "room/room.h"

/* An agent told to leave, removed from its room if it is still there. */
struct lk_kick {
	struct le le;
	char room[256];
	char identity[LK_IDENTITY_MAX];
	struct tmr tmr;
	struct lkagent *lk;
};

const char *lk_status_name(int status)
{
	switch (status) {
	case LIVEKIT__JOB_STATUS__JS_PENDING:
		return "JS_PENDING";
	case LIVEKIT__JOB_STATUS__JS_RUNNING:
		return "JS_RUNNING";
	case LIVEKIT__JOB_STATUS__JS_SUCCESS:
		return "JS_SUCCESS";
	default:
		return "JS_FAILED";
	}
}

/* ---- agents told to leave --------------------------------------------- */

static void kick_destructor(void *arg)
{
	struct lk_kick *k = arg;

	tmr_cancel(&k->tmr);
	list_unlink(&k->le);
}

static void kick_due(void *arg)
{
	struct lk_kick *k = arg;
	struct room *room = room_find(k->lk->prm.rooms, k->room);
	struct participant *p =
	    room ? participant_find(room, k->identity) : NULL;

	if (p && !participant_leaving(p)) {
		log_event(LOGL_INFO, NULL, "lk_agent_removed",
		          "room=%s identity=%s reason=\"%s\"", k->room,
		          k->identity, "still in the room after its job ended");
		participant_kick(p, "PARTICIPANT_REMOVED");
	}
	mem_deref(k);
}

void lk_kick_later(struct lkagent *lk, const char *room, const char *identity)
{
	struct lk_kick *k = mem_zalloc(sizeof(*k), kick_destructor);

	if (!k)
		return;
	k->lk = lk;
	snprintf(k->room, sizeof(k->room), "%s", room);
	snprintf(k->identity, sizeof(k->identity), "%s", identity);
	tmr_init(&k->tmr);
	list_append(&lk->kicks, &k->le, k);
	tmr_start(&k->tmr, LK_LEAVE_GRACE_MS, kick_due, k);
}

/* ---- jobs -------------------------------------------------------------- */

bool lk_job_alive(const struct lk_job *job)
{
	return job->state != LK_JOB_ENDED;
}

static void job_destructor(void *arg)
{
	struct lk_job *job = arg;

	tmr_cancel(&job->tmr);
	list_unlink(&job->wle);
	list_unlink(&job->le);
}

static const char *room_of(const struct lk_job *job)
{
	return job->d && job->d->r ? room_name(job->d->r->room) : "";
}

void lk_job_end(struct lk_job *job, int status, const char *error, bool tell)
{
	struct lk_dispatch *d = job->d;
	struct lk_worker *w = job->worker;
	char name[2 * LK_NAME_MAX], why[2 * sizeof(job->error)];

	if (!lk_job_alive(job))
		return;
	if (tell && job->state == LK_JOB_RUNNING && w && !w->closed)
		(void)lk_send_termination(job);
	tmr_cancel(&job->tmr);
	list_unlink(&job->wle);
	job->worker = NULL;
	job->state = LK_JOB_ENDED;
	job->status = status;
	snprintf(job->error, sizeof(job->error), "%s", error ? error : "");
	job->ended_ns = job->updated_ns = clock_wall_ns();
	if (status == LIVEKIT__JOB_STATUS__JS_FAILED)
		d->r->lk->n.failed++;
	log_event(
	    LOGL_INFO, NULL, "lk_job_ended",
	    "job=%s room=%s agent_name=\"%s\" status=%s error=\"%s\"", job->id,
	    room_of(job), log_quote(name, sizeof(name), d->agent_name),
	    lk_status_name(status), log_quote(why, sizeof(why), job->error));
	if (w && w->registered)
		lk_dispatch_pending(d->r->lk);
}

/* The worker of the job's name to ask next: one that says it is available
 * and has not been asked, at random weighted by 1 - load (as LiveKit's
 * selectWorkerWeightedByLoad). A worker at load 1 that still says it is
 * available keeps a small weight: the SDKs apply their own threshold
 * (none in dev mode) and report CPU load that can sit at 1 on a busy host. */
static struct lk_worker *pick_worker(struct lkagent *lk,
                                     const struct lk_job *job)
{
	struct lk_worker *cand[64];
	double weight[64], sum = 0, x;
	size_t n = 0;

	for (struct le *le = list_head(&lk->workers); le && n < 64;
	     le = le->next) {
		struct lk_worker *w = le->data;
		bool tried = false;

		if (!w->registered || w->closed ||
		    w->job_type != LIVEKIT__JOB_TYPE__JT_ROOM ||
		    w->status != LIVEKIT__WORKER_STATUS__WS_AVAILABLE ||
		    strcmp(w->agent_name, job->d->agent_name) ||
		    strcmp(w->deployment, job->d->deployment))
			continue;
		for (size_t i = 0; i < job->ntried; i++)
			tried |= job->tried[i] == w->seq;
		if (tried)
			continue;
		cand[n] = w;
		weight[n] = 1.0 - (double)w->load;
		if (!(weight[n] >= 0.05))
			weight[n] = 0.05;
		sum += weight[n++];
	}
	if (!n)
		return NULL;
	x = (double)rand() / ((double)RAND_MAX + 1.0) * sum;
	for (size_t i = 0; i < n; i++) {
		if (x < weight[i])
			return cand[i];
		x -= weight[i];
	}
	return cand[n - 1];
}

static void job_deadline(void *arg)
{
	struct lk_job *job = arg;
	struct lk_room *r = job->d->r;

	r->lk->n.timeouts++;
	lk_job_end(job, LIVEKIT__JOB_STATUS__JS_FAILED,
	           "no agent worker took the job in time", false);
	lk_calls_update(r);
}

static void answer_timeout(void *arg)
{
	struct lk_job *job = arg;
	struct lk_worker *w = job->worker;

	job->d->r->lk->n.timeouts++;
	log_event(LOGL_WARN, NULL, "lk_availability_timeout",
	          "job=%s worker=%s room=%s", job->id, w ? w->id : "",
	          room_of(job));
	list_unlink(&job->wle);
	job->worker = NULL;
	lk_job_dispatch(job);
}

void lk_job_dispatch(struct lk_job *job)
{
	struct lkagent *lk = job->d->r->lk;
	struct lk_worker *w = pick_worker(lk, job);
	uint64_t now = clock_mono_ms();

	list_unlink(&job->wle);
	if (w) {
		if (job->ntried < LK_TRIED_MAX)
			job->tried[job->ntried++] = w->seq;
		job->worker = w;
		job->state = LK_JOB_OFFERED;
		snprintf(job->worker_id, sizeof(job->worker_id), "%s", w->id);
		job->updated_ns = clock_wall_ns();
		list_append(&w->jobs, &job->wle, job);
		tmr_start(&job->tmr, LK_AVAILABILITY_TIMEOUT_MS, answer_timeout,
		          job);
		log_event(LOGL_INFO, NULL, "lk_job_offered",
		          "job=%s worker=%s room=%s", job->id, w->id,
		          room_of(job));
		if (lk_send_availability(job))
			answer_timeout(job);
		return;
	}
	job->state = LK_JOB_PENDING;
	job->worker_id[0] = '\0';
	if (job->ntried >= LK_TRIED_MAX || now >= job->deadline_ms) {
		lk_job_end(job, LIVEKIT__JOB_STATUS__JS_FAILED,
		           job->ntried >= LK_TRIED_MAX
		               ? "every agent worker declined the job"
		               : "no agent worker took the job in time",
		           false);
		lk_calls_update(job->d->r);
		return;
	}
	list_append(&lk->pending, &job->wle, job);
	tmr_start(&job->tmr, job->deadline_ms - now, job_deadline, job);
	log_event(LOGL_INFO, NULL, "lk_job_queued", "job=%s room=%s waiting=%u",
	          job->id, room_of(job), list_count(&lk->pending));
}

void lk_dispatch_pending(struct lkagent *lk)
{
	struct le *le = list_head(&lk->pending);

	while (le) {
		struct lk_job *job = le->data;

		le = le->next;
		if (!pick_worker(lk, job))
			continue;
		tmr_cancel(&job->tmr);
		lk_job_dispatch(job);
		/* The list may have changed under le; each pass asks one more
		 * worker, so this ends. */
		le = list_head(&lk->pending);
	}
}

struct lk_job *lk_worker_job(const struct lk_worker *w, const char *id)
{
	for (struct le *le = list_head(&w->jobs); le; le = le->next) {
		struct lk_job *job = le->data;

		if (!strcmp(job->id, id))
			return job;
	}
	return NULL;
}

/* Drops the oldest ended jobs beyond what a dispatch lists. */
static void trim_jobs(struct lk_dispatch *d)
{
	size_t ended = 0;

	for (struct le *le = list_head(&d->jobs); le; le = le->next)
		ended += !lk_job_alive(le->data);
	for (struct le *le = list_head(&d->jobs); le && ended > LK_JOBS_KEPT;) {
		struct lk_job *job = le->data;

		le = le->next;
		if (!lk_job_alive(job)) {
			mem_deref(job);
			ended--;
		}
	}
}

int lk_job_launch(struct lk_dispatch *d)
{
	struct lkagent *lk = d->r->lk;
	struct lk_job *job = mem_zalloc(sizeof(*job), job_destructor);

	if (!job)
		return ENOMEM;
	job->d = d;
	id_make(job->id, sizeof(job->id), "AJ_");
	tmr_init(&job->tmr);
	job->state = LK_JOB_PENDING;
	job->status = LIVEKIT__JOB_STATUS__JS_PENDING;
	job->started_ns = job->updated_ns = clock_wall_ns();
	job->deadline_ms = clock_mono_ms() + lk->prm.queue_timeout_ms;
	list_append(&d->jobs, &job->le, job);
	lk->n.jobs++;
	trim_jobs(d);
	lk_job_dispatch(job);
	return 0;
}

/* ---- a worker's answer ------------------------------------------------- */

static bool bounded(const char *s, size_t max)
{
	return strlen(s) < max;
}

static json_t *answer_attributes(const Livekit__AvailabilityResponse *res,
                                 const struct lk_worker *w)
{
	json_t *a = json_object();
	size_t total = 0;

	if (!a)
		return NULL;
	for (size_t i = 0; i < res->n_participant_attributes; i++) {
		const char *k = res->participant_attributes[i]->key;
		const char *v = res->participant_attributes[i]->value;

		total += strlen(k) + strlen(v);
		if (!*k || total > LK_METADATA_MAX) {
			json_decref(a);
			return NULL;
		}
		json_object_set_new(a, k, json_string(v));
	}
	/* As LiveKit's AssignJob: the worker's name, whatever it said. */
	json_object_set_new(a, "lk.agent_name", json_string(w->agent_name));
	return a;
}

/* The job's token, as LiveKit's BuildAgentToken makes it: join the room
 * as an agent with the worker's permissions, valid one hour, signed with
 * the key the worker connected with. */
static int job_token(const struct lk_job *job, const struct lk_worker *w,
                     const Livekit__AvailabilityResponse *res,
                     const json_t *attrs, char **jwtp)
{
	const struct token_key *key =
	    token_keyring_find(&w->lk->prm.keys, w->api_key);
	struct token_spec spec = {
	    .identity = job->identity,
	    .name = res->participant_name,
	    .metadata = res->participant_metadata,
	    .kind = "agent",
	    .ttl_s = 3600,
	    .attributes = attrs,
	};

	if (!key)
		return ENOENT;
	token_grants_default(&spec.grants);
	spec.grants.room_join = true;
	spec.grants.agent = true;
	snprintf(spec.grants.room, sizeof(spec.grants.room), "%s",
	         room_of(job));
	spec.grants.can_subscribe = w->perm.can_subscribe;
	spec.grants.can_publish = w->perm.can_publish;
	spec.grants.can_publish_data = w->perm.can_publish_data;
	spec.grants.can_update_own_metadata = w->perm.can_update_metadata;
	spec.grants.hidden = w->perm.hidden;
	return token_create(jwtp, key->key, key->secret, &spec, time(NULL));
}

static void job_assign(struct lk_job *job,
                       const Livekit__AvailabilityResponse *res)
{
	struct lk_worker *w = job->worker;
	struct lk_room *r = job->d->r;
	char *jwt = NULL;
	json_t *attrs;
	int err;

	if (*res->participant_identity)
		snprintf(job->identity, sizeof(job->identity), "%s",
		         res->participant_identity);
	else
		snprintf(job->identity, sizeof(job->identity), "agent-%s",
		         job->id);
	attrs = answer_attributes(res, w);
	err = attrs ? job_token(job, w, res, attrs, &jwt) : EINVAL;
	json_decref(attrs);
	if (err) {
		log_event(LOGL_WARN, NULL, "lk_token_failed",
		          "job=%s worker=%s error=\"%s\"", job->id, w->id,
		          strerror(err));
		lk_job_end(job, LIVEKIT__JOB_STATUS__JS_FAILED,
		           "the job's token could not be made", false);
		lk_calls_update(r);
		return;
	}
	job->state = LK_JOB_RUNNING;
	job->status = LIVEKIT__JOB_STATUS__JS_RUNNING;
	job->started_ns = job->updated_ns = clock_wall_ns();
	r->lk->n.assigned++;
	err = lk_send_assignment(job, jwt);
	free(jwt);
	log_event(err ? LOGL_WARN : LOGL_INFO, NULL, "lk_job_assigned",
	          "job=%s worker=%s room=%s identity=%s%s", job->id, w->id,
	          room_of(job), job->identity,
	          err ? " error=\"the assignment was not sent\"" : "");
	lk_calls_update(r);
}

void lk_job_answered(struct lk_job *job,
                     const Livekit__AvailabilityResponse *res)
{
	struct lk_worker *w = job->worker;
	struct lk_room *r = job->d->r;

	if (job->state != LK_JOB_OFFERED)
		return;
	tmr_cancel(&job->tmr);
	if (res->terminate) {
		/* As LiveKit: the worker ends the job; nobody else is
		 * asked. */
		log_event(LOGL_INFO, NULL, "lk_job_refused",
		          "job=%s worker=%s room=%s", job->id, w->id,
		          room_of(job));
		lk_job_end(job, LIVEKIT__JOB_STATUS__JS_SUCCESS, "", false);
		lk_calls_update(r);
		return;
	}
	if (!res->available) {
		r->lk->n.declined++;
		log_event(LOGL_INFO, NULL, "lk_job_declined",
		          "job=%s worker=%s room=%s", job->id, w->id,
		          room_of(job));
		list_unlink(&job->wle);
		job->worker = NULL;
		lk_job_dispatch(job);
		return;
	}
	if (!bounded(res->participant_identity, LK_IDENTITY_MAX) ||
	    !bounded(res->participant_name, LK_IDENTITY_MAX) ||
	    !bounded(res->participant_metadata, LK_METADATA_MAX)) {
		log_event(LOGL_WARN, NULL, "lk_bad_availability",
		          "job=%s worker=%s reason=\"%s\"", job->id, w->id,
		          "identity, name or metadata too long");
		list_unlink(&job->wle);
		job->worker = NULL;
		lk_job_dispatch(job);
		return;
	}
	job_assign(job, res);
}
