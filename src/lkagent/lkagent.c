/*
 * DESIGN. A room's dispatches are made when the room starts (the rooms'
 * watcher), from the options it started with; each launches one job, as
 * LiveKit's room does (lk_jobs.c: a job's life); ended jobs stay listed (a
 * few per dispatch) as LiveKit lists them. Unlike LiveKit, a call that
 * starts in a room whose jobs have ended launches new ones: phone calls
 * come one after another into the same room.
 *
 * Jobs end with JobTermination when the room's last phone caller leaves,
 * when the dispatch is deleted and when the room ends; an agent that has
 * not left LK_LEAVE_GRACE_MS after its termination is removed from the
 * room, as LiveKit's DeleteDispatch does. A job whose agent leaves the room
 * ends as failed ("agent worker left the room"), as in LiveKit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lkagent/lk_int.h"
#include <jansson.h>
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "room/room.h"

static bool has_nameless_worker(const struct lkagent *lk,
                                const struct lk_dispatch *d)
{
	for (struct le *le = list_head(&lk->workers); le; le = le->next) {
		const struct lk_worker *w = le->data;

		if (w->registered && !w->closed && !w->agent_name[0] &&
		    w->job_type == LIVEKIT__JOB_TYPE__JT_ROOM &&
		    !strcmp(w->deployment, d->deployment))
			return true;
	}
	return false;
}

static bool dispatch_alive(const struct lk_dispatch *d)
{
	for (struct le *le = list_head(&d->jobs); le; le = le->next) {
		if (lk_job_alive(le->data))
			return true;
	}
	return false;
}

void lk_room_launch(struct lk_room *r)
{
	struct le *le = list_head(&r->dispatches);

	tmr_cancel(&r->launch);
	while (le) {
		struct lk_dispatch *d = le->data;

		le = le->next;
		if (dispatch_alive(d))
			continue;
		if (d->automatic && !has_nameless_worker(r->lk, d))
			continue;
		(void)lk_job_launch(d);
	}
}

bool lk_room_wants(const struct lk_room *r)
{
	for (struct le *le = list_head(&r->dispatches); le; le = le->next) {
		const struct lk_dispatch *d = le->data;

		if (!d->automatic || dispatch_alive(d) ||
		    has_nameless_worker(r->lk, d))
			return true;
	}
	return false;
}

void lk_room_jobs(const struct lk_room *r, bool *running, bool *alive,
                  const char **last_error)
{
	int64_t last = 0;

	*running = *alive = false;
	*last_error = NULL;
	for (struct le *le = list_head(&r->dispatches); le; le = le->next) {
		const struct lk_dispatch *d = le->data;

		for (struct le *je = list_head(&d->jobs); je; je = je->next) {
			const struct lk_job *job = je->data;

			*running |= job->state == LK_JOB_RUNNING;
			*alive |= lk_job_alive(job);
			if (!lk_job_alive(job) && job->error[0] &&
			    job->ended_ns >= last) {
				last = job->ended_ns;
				*last_error = job->error;
			}
		}
	}
}

/* ---- dispatches -------------------------------------------------------- */

static void dispatch_destructor(void *arg)
{
	struct lk_dispatch *d = arg;

	list_flush(&d->jobs);
	list_unlink(&d->le);
	mem_deref(d->metadata);
	json_decref(d->attributes);
}

/* Ends the dispatch's jobs: a running one is told, and its agent removed
 * if it stays in the room (kick); the others fail with error. */
static void dispatch_terminate(struct lk_dispatch *d, const char *error,
                               bool kick)
{
	struct lkagent *lk = d->r->lk;

	for (struct le *le = list_head(&d->jobs); le; le = le->next) {
		struct lk_job *job = le->data;

		if (!lk_job_alive(job))
			continue;
		if (job->state == LK_JOB_RUNNING) {
			lk->n.terminated++;
			if (kick)
				lk_kick_later(lk, room_name(d->r->room),
				              job->identity);
			lk_job_end(job, LIVEKIT__JOB_STATUS__JS_SUCCESS, "",
			           true);
		} else {
			lk_job_end(job, LIVEKIT__JOB_STATUS__JS_FAILED, error,
			           false);
		}
	}
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool is_bot_url(const char *name)
{
	return !strncasecmp(name, "ws://", 5) ||
	       !strncasecmp(name, "wss://", 6);
}

/* spec: a RoomAgentDispatch or a CreateAgentDispatchRequest (camelCase). */
static struct lk_dispatch *dispatch_add(struct lk_room *r, const json_t *spec,
                                        bool automatic)
{
	struct lk_dispatch *d = mem_zalloc(sizeof(*d), dispatch_destructor);
	const json_t *attrs = json_object_get(spec, "attributes");
	char name[2 * LK_NAME_MAX];

	if (!d)
		return NULL;
	d->r = r;
	list_init(&d->jobs);
	id_make(d->id, sizeof(d->id), "AD_");
	snprintf(d->agent_name, sizeof(d->agent_name), "%s",
	         jstr(spec, "agentName"));
	snprintf(d->deployment, sizeof(d->deployment), "%s",
	         jstr(spec, "deployment"));
	if (*jstr(spec, "metadata"))
		(void)str_dup(&d->metadata, jstr(spec, "metadata"));
	d->attributes =
	    json_is_object(attrs) ? json_deep_copy(attrs) : json_object();
	d->created_ns = clock_wall_ns();
	d->automatic = automatic;
	list_append(&r->dispatches, &d->le, d);
	log_event(LOGL_INFO, NULL, "lk_dispatch_created",
	          "dispatch=%s room=%s agent_name=\"%s\" automatic=%s", d->id,
	          room_name(r->room),
	          log_quote(name, sizeof(name), d->agent_name),
	          automatic ? "true" : "false");
	return d;
}

/* ---- rooms ------------------------------------------------------------- */

static void room_destructor(void *arg)
{
	struct lk_room *r = arg;

	tmr_cancel(&r->launch);
	mem_deref(r->bot_url);
	lk_calls_orphan(r);
	list_flush(&r->dispatches);
	list_unlink(&r->le);
}

const char *lkagent_room_bot(struct lkagent *lk, const char *room)
{
	const struct lk_room *r = lk ? lk_room_find(lk, room) : NULL;

	return r ? r->bot_url : NULL;
}

/* By name on every call placed and every participant that leaves: a
 * hash, with a room per call there are thousands. */
static bool name_cmp(struct le *le, void *arg)
{
	const struct lk_room *r = le->data;

	return !strcmp(room_name(r->room), arg);
}

static bool room_cmp(struct le *le, void *arg)
{
	const struct lk_room *r = le->data;

	return r->room == arg;
}

struct lk_room *lk_room_find(struct lkagent *lk, const char *name)
{
	if (!name)
		return NULL;
	return list_ledata(hash_lookup(lk->rooms, hash_joaat_str(name),
	                               name_cmp, (void *)name));
}

static struct lk_room *room_of_room(struct lkagent *lk, const struct room *rm)
{
	return list_ledata(hash_lookup(lk->rooms, hash_joaat_str(room_name(rm)),
	                               room_cmp, (void *)rm));
}

static bool valid_name(const char *name)
{
	return strlen(name) < LK_NAME_MAX;
}

static void launch_due(void *arg)
{
	lk_room_launch(arg);
}

static void watch_started(struct room *room, const json_t *opts, void *arg)
{
	struct lkagent *lk = arg;
	const json_t *agents = json_object_get(opts, "agents");
	struct lk_room *r;
	size_t i, named = 0;
	json_t *a;

	if (lk->closing)
		return;
	r = mem_zalloc(sizeof(*r), room_destructor);
	if (!r)
		return;
	r->lk = lk;
	r->room = room;
	list_init(&r->dispatches);
	list_init(&r->calls);
	tmr_init(&r->launch);
	hash_append(lk->rooms, hash_joaat_str(room_name(room)), &r->le, r);
	json_array_foreach(agents, i, a)
	{
		const char *name = jstr(a, "agentName");

		/* A bot's URL is the SIP side's (Media Streams): the first
		 * one is kept for the calls placed into the room. */
		named++;
		if (is_bot_url(name)) {
			if (!i)
				(void)str_dup(&r->bot_url, name);
			continue;
		}
		if (!valid_name(name) || !valid_name(jstr(a, "deployment"))) {
			log_event(LOGL_WARN, NULL, "lk_dispatch_refused",
			          "room=%s reason=\"%s\"", room_name(room),
			          "agent name or deployment too long");
			continue;
		}
		(void)dispatch_add(r, a, false);
	}
	/* As LiveKit: a room that names no agent gets the automatic
	 * dispatch, for workers registered without a name. */
	if (!named)
		(void)dispatch_add(r, NULL, true);
	/* Once the room's first participant (the caller) is in. */
	tmr_start(&r->launch, 0, launch_due, r);
}

static bool has_caller(const struct room *room, const struct participant *but)
{
	const struct participant *p = NULL;

	while ((p = room_participant_next(room, p)) != NULL) {
		if (p != but && !participant_leaving(p) &&
		    !strcmp(participant_kind(p), "SIP"))
			return true;
	}
	return false;
}

static void watch_left(struct room *room, const struct participant *p,
                       void *arg)
{
	struct lk_room *r = room_of_room(arg, room);
	const char *identity = participant_identity(p);

	if (!r)
		return;
	/* A job's agent that leaves ends its job, as LiveKit's room ends it
	 * (AGENT_LEFT_ROOM). */
	for (struct le *le = list_head(&r->dispatches); le; le = le->next) {
		struct lk_dispatch *d = le->data;

		for (struct le *je = list_head(&d->jobs); je; je = je->next) {
			struct lk_job *job = je->data;

			if (job->state == LK_JOB_RUNNING &&
			    !strcmp(job->identity, identity))
				lk_job_end(job, LIVEKIT__JOB_STATUS__JS_FAILED,
				           "agent worker left the room", true);
		}
	}
	/* The last phone caller hung up: the agents' jobs are done. */
	if (!strcmp(participant_kind(p), "SIP") && !has_caller(room, p)) {
		for (struct le *le = list_head(&r->dispatches); le;
		     le = le->next)
			dispatch_terminate(le->data,
			                   "the call ended before a worker "
			                   "took the job",
			                   true);
	}
}

static void watch_finished(struct room *room, void *arg)
{
	struct lk_room *r = room_of_room(arg, room);

	if (!r)
		return;
	for (struct le *le = list_head(&r->dispatches); le; le = le->next)
		dispatch_terminate(le->data,
		                   "the room closed before a worker took "
		                   "the job",
		                   false);
	mem_deref(r);
}

/* ---- AgentDispatchService ---------------------------------------------- */

/* protobuf-JSON writes int64 as strings. */
static json_t *json_int64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

static json_t *job_json(const struct lk_job *job)
{
	const struct lk_dispatch *d = job->d;

	return json_pack(
	    "{s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:{s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:s},"
	    "s:b,s:s,s:O,s:b}",
	    "id", job->id, "dispatchId", d->id, "type", "JT_ROOM", "room",
	    room_json(d->r->room, false), "namespace", "", "metadata",
	    d->metadata ? d->metadata : "", "agentName", d->agent_name, "state",
	    "status", lk_status_name(job->status), "error", job->error,
	    "startedAt", json_int64(job->started_ns), "endedAt",
	    json_int64(job->ended_ns), "updatedAt", json_int64(job->updated_ns),
	    "participantIdentity", job->identity, "workerId", job->worker_id,
	    "agentId", "", "enableRecording", 0, "deployment", d->deployment,
	    "attributes", d->attributes, "enableRedaction", 0);
}

static json_t *dispatch_json(const struct lk_dispatch *d)
{
	json_t *jobs = json_array();

	for (struct le *le = list_head(&d->jobs); le; le = le->next)
		json_array_append_new(jobs, job_json(le->data));
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:{s:o,s:o,s:o},s:s,s:s,s:O}", "id", d->id,
	    "agentName", d->agent_name, "room", room_name(d->r->room),
	    "metadata", d->metadata ? d->metadata : "", "state", "jobs", jobs,
	    "createdAt", json_int64(d->created_ns), "deletedAt", json_int64(0),
	    "restartPolicy", "JRP_ON_FAILURE", "deployment", d->deployment,
	    "attributes", d->attributes);
}

static bool string_map(const json_t *m, size_t *bytes)
{
	const char *k;
	json_t *v;

	*bytes = 0;
	if (!m || json_is_null(m))
		return true;
	if (!json_is_object(m))
		return false;
	json_object_foreach((json_t *)m, k, v)
	{
		if (!json_is_string(v))
			return false;
		*bytes += strlen(k) + json_string_length(v);
	}
	return true;
}

int lkagent_dispatch_create(struct lkagent *lk, const json_t *req,
                            json_t **outp, const char **why)
{
	const char *name = jstr(req, "room");
	struct room *room = NULL;
	struct lk_dispatch *d;
	struct lk_room *r;
	size_t bytes;
	int err;

	*why = NULL;
	if (!*name) {
		*why = "room is required";
		return EINVAL;
	}
	if (!valid_name(jstr(req, "agentName")) ||
	    !valid_name(jstr(req, "deployment"))) {
		*why = "agent_name and deployment must be shorter than 128 "
		       "bytes";
		return EINVAL;
	}
	if (strlen(jstr(req, "metadata")) > LK_METADATA_MAX) {
		*why = "metadata size exceeds limits";
		return EINVAL;
	}
	if (!string_map(json_object_get(req, "attributes"), &bytes) ||
	    bytes > LK_METADATA_MAX) {
		*why = "attributes must be a map of strings within limits";
		return EINVAL;
	}
	/* As LiveKit's auto-create: the room is made if it is not there. */
	err = room_ensure(lk->prm.rooms, name, NULL, &room, NULL);
	if (err) {
		*why = "invalid room name";
		return EINVAL;
	}
	r = room_of_room(lk, room);
	if (!r) {
		*why = "the room is closing";
		return EINVAL;
	}
	d = dispatch_add(r, req, false);
	if (!d)
		return ENOMEM;
	(void)lk_job_launch(d);
	*outp = dispatch_json(d);
	return *outp ? 0 : ENOMEM;
}

int lkagent_dispatch_list(struct lkagent *lk, const char *room,
                          const char *dispatch_id, json_t **outp)
{
	struct lk_room *r = lk_room_find(lk, room);
	json_t *arr;

	if (!r)
		return ENOENT;
	arr = json_array();
	for (struct le *le = list_head(&r->dispatches); le; le = le->next) {
		const struct lk_dispatch *d = le->data;

		if (!dispatch_id || !*dispatch_id ||
		    !strcmp(d->id, dispatch_id))
			json_array_append_new(arr, dispatch_json(d));
	}
	*outp = json_pack("{s:o}", "agentDispatches", arr);
	return *outp ? 0 : ENOMEM;
}

int lkagent_dispatch_delete(struct lkagent *lk, const char *room,
                            const char *dispatch_id, json_t **outp)
{
	struct lk_room *r = lk_room_find(lk, room);

	if (!r)
		return ENOENT;
	for (struct le *le = list_head(&r->dispatches); le; le = le->next) {
		struct lk_dispatch *d = le->data;

		if (strcmp(d->id, dispatch_id ? dispatch_id : ""))
			continue;
		/* As LiveKit: the dispatch as it was, then its jobs end. */
		*outp = dispatch_json(d);
		log_event(LOGL_INFO, NULL, "lk_dispatch_deleted",
		          "dispatch=%s room=%s", d->id, room);
		dispatch_terminate(d, "the dispatch was deleted", true);
		mem_deref(d);
		lk_calls_update(r);
		return *outp ? 0 : ENOMEM;
	}
	return ESRCH;
}

/* ---- life -------------------------------------------------------------- */

int lkagent_metrics(const struct lkagent *lk, struct mbuf *mb)
{
	unsigned workers = 0, running = 0;

	if (!lk)
		return 0;
	for (struct le *le = list_head(&lk->workers); le; le = le->next) {
		const struct lk_worker *w = le->data;

		workers += w->registered && !w->closed;
		for (struct le *je = list_head(&w->jobs); je; je = je->next)
			running += ((struct lk_job *)je->data)->state ==
			           LK_JOB_RUNNING;
	}
	return mbuf_printf(
	    mb,
	    "# HELP voxgate_livekit_workers LiveKit agent workers "
	    "registered.\n"
	    "# TYPE voxgate_livekit_workers gauge\n"
	    "voxgate_livekit_workers %u\n"
	    "# HELP voxgate_livekit_jobs_running LiveKit agent jobs "
	    "assigned and not ended.\n"
	    "# TYPE voxgate_livekit_jobs_running gauge\n"
	    "voxgate_livekit_jobs_running %u\n"
	    "# HELP voxgate_livekit_jobs_total LiveKit agent jobs "
	    "launched, by what became of them.\n"
	    "# TYPE voxgate_livekit_jobs_total counter\n"
	    "voxgate_livekit_jobs_total{outcome=\"launched\"} %llu\n"
	    "voxgate_livekit_jobs_total{outcome=\"assigned\"} %llu\n"
	    "voxgate_livekit_jobs_total{outcome=\"declined\"} %llu\n"
	    "voxgate_livekit_jobs_total{outcome=\"timed_out\"} %llu\n"
	    "voxgate_livekit_jobs_total{outcome=\"failed\"} %llu\n"
	    "voxgate_livekit_jobs_total{outcome=\"terminated\"} %llu\n"
	    "# HELP voxgate_livekit_calls_busy_total Calls that heard the "
	    "busy message waiting for a LiveKit agent.\n"
	    "# TYPE voxgate_livekit_calls_busy_total counter\n"
	    "voxgate_livekit_calls_busy_total %llu\n",
	    workers, running, (unsigned long long)lk->n.jobs,
	    (unsigned long long)lk->n.assigned,
	    (unsigned long long)lk->n.declined,
	    (unsigned long long)lk->n.timeouts,
	    (unsigned long long)lk->n.failed,
	    (unsigned long long)lk->n.terminated,
	    (unsigned long long)lk->n.busy);
}

static void lkagent_destructor(void *arg)
{
	struct lkagent *lk = arg;

	lk->closing = true;
	rooms_set_watch(lk->prm.rooms, NULL, NULL);
	hash_flush(lk->rooms);
	mem_deref(lk->rooms);
	list_flush(&lk->kicks);
	lk_calls_detach(lk);
	lk_workers_reset(lk);
	mem_deref(lk->ws);
}

int lkagent_alloc(struct lkagent **lkp, const struct lkagent_params *prm)
{
	static const struct rooms_watch watch = {
	    .started = watch_started,
	    .left = watch_left,
	    .finished = watch_finished,
	};
	struct lkagent *lk;
	int err;

	if (!lkp || !prm || !prm->rooms || !prm->builtin)
		return EINVAL;
	lk = mem_zalloc(sizeof(*lk), lkagent_destructor);
	if (!lk)
		return ENOMEM;
	lk->prm = *prm;
	list_init(&lk->workers);
	list_init(&lk->gone);
	list_init(&lk->pending);
	list_init(&lk->kicks);
	list_init(&lk->calls);
	err = hash_alloc(&lk->rooms, 4096);
	if (!err)
		err = websock_alloc(&lk->ws, NULL, NULL);
	if (err) {
		mem_deref(lk);
		return err;
	}
	rooms_set_watch(prm->rooms, &watch, lk);
	*lkp = lk;
	return 0;
}
