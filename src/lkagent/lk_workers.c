/*
 * The sockets on GET /agent and LiveKit's worker protocol on them.
 *
 * A socket is NEW until its first frame: text is voxgate's own protocol,
 * handed to the hub (every frame and the close are passed on); binary is
 * a LiveKit WorkerMessage, and the worker must register within 10 s
 * (LiveKit's RegisterTimeout). The RegisterWorkerResponse is the first
 * message the server sends: both SDKs refuse anything else first. Before
 * its register a worker may only ping; a second register, a frame that is
 * not a WorkerMessage or a text frame closes the socket, as LiveKit does.
 * Messages this subset does not know (simulate_job) are logged and left.
 *
 * A closed socket is freed from a 0 ms timer, never inside libre's close
 * handler; its offered jobs go to the next worker, its running jobs end.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include "lkagent/lk_int.h"
#include <jansson.h>
#include "core/arena.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "net/wsguard.h"
#include "room/room.h"
#include "room/room_pb.h"

#define WS_KEEPALIVE_MS 30000 /* libre pings; Python's aiohttp pings too */
/* LiveKit's ServerInfo.protocol and CurrentProtocol of pkg/agent. */
#define LK_SIGNAL_PROTOCOL 16
#define LK_AGENT_PROTOCOL  1

/* ---- sending ----------------------------------------------------------- */

int lk_send(struct lk_worker *w, const Livekit__ServerMessage *m)
{
	struct mbuf *mb;
	int err;

	if (!w || !w->wc || w->closed)
		return ENOTCONN;
	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;
	err = lkpb_pack(mb, &m->base);
	if (!err)
		err = websock_send(w->wc, WEBSOCK_BIN, "%b", mb->buf, mb->end);
	mem_deref(mb);
	if (err)
		log_event(LOGL_WARN, NULL, "lk_send_failed",
		          "worker=%s message=%s error=\"%s\"", w->id,
		          lkpb_member(&m->base), strerror(err));
	return err;
}

/* Strings the message only reads while it is packed. */
#define RW(s) ((char *)(s))

Livekit__Job *lk_job_pb(struct arena *a, const struct lk_job *job)
{
	const struct lk_dispatch *d = job->d;
	Livekit__Job *j = arena_zalloc(a, sizeof(*j));
	Livekit__JobState *st = arena_zalloc(a, sizeof(*st));
	size_t n = json_object_size(d->attributes), i = 0;
	const char *k;
	json_t *v;

	if (!j || !st)
		return NULL;
	livekit__job__init(j);
	livekit__job_state__init(st);
	j->id = RW(job->id);
	j->dispatch_id = RW(d->id);
	j->type = LIVEKIT__JOB_TYPE__JT_ROOM;
	j->room = room_pb_room(a, d->r->room);
	if (!j->room)
		return NULL;
	j->metadata = RW(d->metadata ? d->metadata : "");
	j->agent_name = RW(d->agent_name);
	j->deployment = RW(d->deployment);
	j->state = st;
	st->status = (Livekit__JobStatus)job->status;
	st->error = RW(job->error);
	st->started_at = job->started_ns;
	st->ended_at = job->ended_ns;
	st->updated_at = job->updated_ns;
	st->participant_identity = RW(job->identity);
	st->worker_id = RW(job->worker_id);
	if (!n)
		return j;
	j->attributes = arena_zalloc(a, n * sizeof(*j->attributes));
	if (!j->attributes)
		return NULL;
	json_object_foreach(d->attributes, k, v)
	{
		Livekit__Job__AttributesEntry *e = arena_zalloc(a, sizeof(*e));

		if (!e || i >= n)
			return NULL;
		livekit__job__attributes_entry__init(e);
		e->key = RW(k);
		e->value = RW(json_string_value(v));
		j->attributes[i++] = e;
	}
	j->n_attributes = i;
	return j;
}

int lk_send_availability(struct lk_job *job)
{
	Livekit__ServerMessage m = LIVEKIT__SERVER_MESSAGE__INIT;
	Livekit__AvailabilityRequest ar = LIVEKIT__AVAILABILITY_REQUEST__INIT;
	struct arena *a = NULL;
	int err = arena_alloc(&a);

	if (err)
		return err;
	ar.job = lk_job_pb(a, job);
	if (!ar.job) {
		mem_deref(a);
		return ENOMEM;
	}
	/* As LiveKit's AssignJob, which marks it running as it asks. */
	ar.job->state->status = LIVEKIT__JOB_STATUS__JS_RUNNING;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_AVAILABILITY;
	m.availability = &ar;
	err = lk_send(job->worker, &m);
	mem_deref(a);
	return err;
}

int lk_send_assignment(struct lk_job *job, const char *token)
{
	Livekit__ServerMessage m = LIVEKIT__SERVER_MESSAGE__INIT;
	Livekit__JobAssignment ja = LIVEKIT__JOB_ASSIGNMENT__INIT;
	struct arena *a = NULL;
	int err = arena_alloc(&a);

	if (err)
		return err;
	/* No url: the worker joins on the URL it registered on. */
	ja.job = lk_job_pb(a, job);
	ja.token = RW(token);
	if (!ja.job) {
		mem_deref(a);
		return ENOMEM;
	}
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_ASSIGNMENT;
	m.assignment = &ja;
	err = lk_send(job->worker, &m);
	mem_deref(a);
	return err;
}

int lk_send_termination(struct lk_job *job)
{
	Livekit__ServerMessage m = LIVEKIT__SERVER_MESSAGE__INIT;
	Livekit__JobTermination jt = LIVEKIT__JOB_TERMINATION__INIT;

	jt.job_id = job->id;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_TERMINATION;
	m.termination = &jt;
	log_event(LOGL_INFO, NULL, "lk_job_terminated",
	          "job=%s worker=%s identity=%s", job->id,
	          job->worker ? job->worker->id : "", job->identity);
	return lk_send(job->worker, &m);
}

/* ---- a worker's messages ----------------------------------------------- */

static void gone(struct lk_worker *w, int err);

/* Closes the socket with code and why, and lets the worker go: libre ends
 * the closing handshake itself once the socket is let go of. */
static void refuse(struct lk_worker *w, enum websock_scode code,
                   const char *why)
{
	if (w->closed)
		return;
	log_event(LOGL_WARN, NULL, "lk_worker_refused",
	          "worker=%s seq=%u peer=%s reason=\"%s\"",
	          w->id[0] ? w->id : "-", w->seq, w->peer, why);
	(void)websock_close(w->wc, code, "%s", why);
	gone(w, EPROTO);
}

static void on_register(struct lk_worker *w,
                        const Livekit__RegisterWorkerRequest *req)
{
	Livekit__ServerMessage m = LIVEKIT__SERVER_MESSAGE__INIT;
	Livekit__RegisterWorkerResponse rr =
	    LIVEKIT__REGISTER_WORKER_RESPONSE__INIT;
	Livekit__ServerInfo si = LIVEKIT__SERVER_INFO__INIT;
	const Livekit__ParticipantPermission *p = req->allowed_permissions;
	char name[2 * LK_NAME_MAX], ver[2 * sizeof(w->version)];

	if (w->registered) {
		refuse(w, WEBSOCK_POLICY_VIOLATION, "registered twice");
		return;
	}
	if (req->type > LIVEKIT__JOB_TYPE__JT_PARTICIPANT) {
		refuse(w, WEBSOCK_POLICY_VIOLATION, "unknown job type");
		return;
	}
	if (strlen(req->agent_name) >= sizeof(w->agent_name) ||
	    strlen(req->deployment) >= sizeof(w->deployment)) {
		refuse(w, WEBSOCK_POLICY_VIOLATION,
		       "agent name or deployment longer than 127 bytes");
		return;
	}
	snprintf(w->agent_name, sizeof(w->agent_name), "%s", req->agent_name);
	snprintf(w->deployment, sizeof(w->deployment), "%s", req->deployment);
	snprintf(w->version, sizeof(w->version), "%s", req->version);
	w->job_type = req->type;
	/* As LiveKit: no permissions given, all of them. */
	w->perm.can_subscribe = p ? p->can_subscribe : true;
	w->perm.can_publish = p ? p->can_publish : true;
	w->perm.can_publish_data = p ? p->can_publish_data : true;
	w->perm.can_update_metadata = p ? p->can_update_metadata : true;
	w->perm.hidden = p ? p->hidden : false;
	w->status = LIVEKIT__WORKER_STATUS__WS_AVAILABLE;
	id_make(w->id, sizeof(w->id), "AW_");
	tmr_cancel(&w->tmr);

	si.edition = LIVEKIT__SERVER_INFO__EDITION__Standard;
	si.version = RW(w->lk->prm.version ? w->lk->prm.version : "");
	si.protocol = LK_SIGNAL_PROTOCOL;
	si.agent_protocol = LK_AGENT_PROTOCOL;
	rr.worker_id = w->id;
	rr.server_info = &si;
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_REGISTER;
	m.register_ = &rr;
	if (lk_send(w, &m)) {
		refuse(w, WEBSOCK_INTERNAL_ERROR, "cannot answer the register");
		return;
	}
	w->registered = true;
	log_event(LOGL_INFO, NULL, "lk_worker_registered",
	          "worker=%s seq=%u peer=%s agent_name=\"%s\" type=%d "
	          "version=\"%s\"",
	          w->id, w->seq, w->peer,
	          log_quote(name, sizeof(name), w->agent_name), w->job_type,
	          log_quote(ver, sizeof(ver), w->version));
	lk_dispatch_pending(w->lk);
}

static void on_availability(struct lk_worker *w,
                            const Livekit__AvailabilityResponse *res)
{
	struct lk_job *job = lk_worker_job(w, res->job_id);
	char id[64];

	if (!job || job->state != LK_JOB_OFFERED) {
		/* As LiveKit: an answer for no job it asked is noted. */
		log_event(LOGL_DEBUG, NULL, "lk_stale_availability",
		          "worker=%s job=\"%s\"", w->id,
		          log_quote(id, sizeof(id), res->job_id));
		return;
	}
	lk_job_answered(job, res);
}

static void on_update_worker(struct lk_worker *w,
                             const Livekit__UpdateWorkerStatus *u)
{
	int before = w->status;
	float load = u->load;

	if (u->_status_case == LIVEKIT__UPDATE_WORKER_STATUS___STATUS_STATUS)
		w->status = u->status == LIVEKIT__WORKER_STATUS__WS_AVAILABLE
		                ? LIVEKIT__WORKER_STATUS__WS_AVAILABLE
		                : LIVEKIT__WORKER_STATUS__WS_FULL;
	if (isnan(load) || load > 1)
		load = 1;
	if (load < 0)
		load = 0;
	w->load = load;
	w->job_count = u->job_count;
	if (before != w->status)
		log_event(LOGL_INFO, NULL, "lk_worker_status",
		          "worker=%s status=%s load=%.2f", w->id,
		          w->status == LIVEKIT__WORKER_STATUS__WS_AVAILABLE
		              ? "available"
		              : "full",
		          (double)w->load);
	if (w->status == LIVEKIT__WORKER_STATUS__WS_AVAILABLE)
		lk_dispatch_pending(w->lk);
}

static void on_update_job(struct lk_worker *w,
                          const Livekit__UpdateJobStatus *u)
{
	struct lk_job *job = lk_worker_job(w, u->job_id);
	struct lk_room *r;
	char err[256], id[64];

	if (!job || job->state != LK_JOB_RUNNING) {
		log_event(LOGL_DEBUG, NULL, "lk_stale_update",
		          "worker=%s job=\"%s\"", w->id,
		          log_quote(id, sizeof(id), u->job_id));
		return;
	}
	job->updated_ns = clock_wall_ns();
	switch (u->status) {
	case LIVEKIT__JOB_STATUS__JS_SUCCESS:
	case LIVEKIT__JOB_STATUS__JS_FAILED:
		r = job->d->r;
		snprintf(err, sizeof(err), "%.127s", u->error);
		lk_job_end(job, u->status, err, false);
		lk_calls_update(r);
		break;
	default:
		job->status = LIVEKIT__JOB_STATUS__JS_RUNNING;
		break;
	}
}

static void on_ping(struct lk_worker *w, const Livekit__WorkerPing *ping)
{
	Livekit__ServerMessage m = LIVEKIT__SERVER_MESSAGE__INIT;
	Livekit__WorkerPong pong = LIVEKIT__WORKER_PONG__INIT;

	pong.last_timestamp = ping->timestamp;
	pong.timestamp = clock_wall_ms();
	m.message_case = LIVEKIT__SERVER_MESSAGE__MESSAGE_PONG;
	m.pong = &pong;
	(void)lk_send(w, &m);
}

static void livekit_frame(struct lk_worker *w, const uint8_t *p, size_t len)
{
	Livekit__WorkerMessage *m = NULL;
	const char *why = NULL;
	int err = lkpb_worker_message_unpack(&m, p, len, &why);

	if (err) {
		refuse(w, WEBSOCK_INVALID_PAYLOAD,
		       why ? why : "not a WorkerMessage");
		return;
	}
	if (!w->registered &&
	    m->message_case != LIVEKIT__WORKER_MESSAGE__MESSAGE_REGISTER &&
	    m->message_case != LIVEKIT__WORKER_MESSAGE__MESSAGE_PING) {
		refuse(w, WEBSOCK_POLICY_VIOLATION,
		       "the first message must be register");
		lkpb_free(m);
		return;
	}
	switch (m->message_case) {
	case LIVEKIT__WORKER_MESSAGE__MESSAGE_REGISTER:
		on_register(w, m->register_);
		break;
	case LIVEKIT__WORKER_MESSAGE__MESSAGE_AVAILABILITY:
		on_availability(w, m->availability);
		break;
	case LIVEKIT__WORKER_MESSAGE__MESSAGE_UPDATE_WORKER:
		on_update_worker(w, m->update_worker);
		break;
	case LIVEKIT__WORKER_MESSAGE__MESSAGE_UPDATE_JOB:
		on_update_job(w, m->update_job);
		break;
	case LIVEKIT__WORKER_MESSAGE__MESSAGE_PING:
		on_ping(w, m->ping);
		break;
	case LIVEKIT__WORKER_MESSAGE__MESSAGE_MIGRATE_JOB:
		/* LiveKit's own server moves no job either; a job lives
		 * and ends with its agent in the room. */
		log_event(LOGL_INFO, NULL, "lk_migrate_ignored",
		          "worker=%s jobs=%zu", w->id,
		          m->migrate_job->n_job_ids);
		break;
	default:
		log_event(LOGL_INFO, NULL, "lk_unknown_message",
		          "worker=%s len=%zu", w->id, len);
		break;
	}
	lkpb_free(m);
}

/* ---- the socket -------------------------------------------------------- */

static void register_timeout(void *arg)
{
	struct lk_worker *w = arg;

	refuse(w, WEBSOCK_POLICY_VIOLATION,
	       w->kind == LK_SOCK_NEW ? "nothing sent within 10 s"
	                              : "no register within 10 s");
}

static void adopt_own(struct lk_worker *w)
{
	struct lkagent *lk = w->lk;
	int err = lk->prm.own_adopt
	              ? lk->prm.own_adopt(w->wc, &w->own_recv, &w->own_close,
	                                  &w->own_arg, lk->prm.own_arg)
	              : ENOTSUP;

	if (err) {
		refuse(w, WEBSOCK_POLICY_VIOLATION,
		       err == ENOTSUP ? "voxgate's worker protocol needs "
		                        "agent: pipeline"
		                      : "the agent hub cannot take a worker");
		return;
	}
	w->kind = LK_SOCK_OWN;
}

static void recv_h(const struct websock_hdr *hdr, struct mbuf *mb, void *arg)
{
	struct lk_worker *w = arg;

	if (w->closed)
		return;
	if (w->kind == LK_SOCK_NEW) {
		tmr_cancel(&w->tmr);
		if (hdr->opcode == WEBSOCK_TEXT) {
			adopt_own(w);
		} else if (hdr->opcode == WEBSOCK_BIN) {
			w->kind = LK_SOCK_LIVEKIT;
			tmr_start(&w->tmr, LK_REGISTER_TIMEOUT_MS,
			          register_timeout, w);
		} else {
			return;
		}
	}
	if (w->kind == LK_SOCK_OWN) {
		if (w->own_recv)
			w->own_recv(hdr, mb, w->own_arg);
		return;
	}
	if (w->kind != LK_SOCK_LIVEKIT)
		return;
	if (hdr->opcode == WEBSOCK_BIN)
		livekit_frame(w, mbuf_buf(mb), mbuf_get_left(mb));
	else if (hdr->opcode == WEBSOCK_TEXT)
		refuse(w, WEBSOCK_UNSUPPORTED_DATA,
		       "binary WorkerMessage frames only");
}

static void worker_destructor(void *arg)
{
	struct lk_worker *w = arg;

	tmr_cancel(&w->tmr);
	list_unlink(&w->le);
	mem_deref(w->wc);
}

static void reap(void *arg)
{
	mem_deref(arg);
}

/* Its offered jobs go to the next worker (as LiveKit retries on a closed
 * worker); its running jobs end. */
static void release_jobs(struct lk_worker *w)
{
	struct le *le = list_head(&w->jobs);

	while (le) {
		struct lk_job *job = le->data;
		struct lk_room *r = job->d->r;

		le = le->next;
		list_unlink(&job->wle);
		job->worker = NULL;
		if (job->state == LK_JOB_OFFERED) {
			tmr_cancel(&job->tmr);
			lk_job_dispatch(job);
		} else {
			lk_job_end(job, LIVEKIT__JOB_STATUS__JS_FAILED,
			           "agent worker disconnected", false);
			lk_calls_update(r);
		}
		le = list_head(&w->jobs);
	}
}

static void gone(struct lk_worker *w, int err)
{
	struct lkagent *lk = w->lk;

	if (w->closed)
		return;
	w->closed = true;
	tmr_cancel(&w->tmr);
	if (w->kind == LK_SOCK_OWN && w->own_close)
		w->own_close(err, w->own_arg);
	if (w->kind == LK_SOCK_LIVEKIT)
		log_event(w->registered ? LOGL_INFO : LOGL_WARN, NULL,
		          "lk_worker_closed",
		          "worker=%s seq=%u jobs=%u error=\"%s\"",
		          w->id[0] ? w->id : "-", w->seq, list_count(&w->jobs),
		          err ? strerror(err) : "closed");
	release_jobs(w);
	list_unlink(&w->le);
	list_append(&lk->gone, &w->le, w);
	/* Not under libre's handler that told us: from a 0 ms timer. */
	tmr_start(&w->tmr, 0, reap, w);
}

static void close_h(int err, void *arg)
{
	gone(arg, err);
}

void lkagent_accept(struct lkagent *lk, struct http_conn *conn,
                    const struct http_msg *msg, const char *api_key)
{
	struct lk_worker *w;
	int err;

	if (!lk || lk->closing) {
		http_ereply(conn, 503, "Service Unavailable");
		return;
	}
	w = mem_zalloc(sizeof(*w), worker_destructor);
	if (!w) {
		http_ereply(conn, 500, "Internal Server Error");
		return;
	}
	w->lk = lk;
	w->seq = ++lk->next_seq;
	snprintf(w->api_key, sizeof(w->api_key), "%s", api_key ? api_key : "");
	tmr_init(&w->tmr);
	list_init(&w->jobs);
	err = websock_accept(&w->wc, lk->ws, conn, msg, WS_KEEPALIVE_MS, recv_h,
	                     close_h, w);
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
	if (re_snprintf(w->peer, sizeof(w->peer), "%J", websock_peer(w->wc)) <
	    0)
		w->peer[0] = '\0';
	list_append(&lk->workers, &w->le, w);
	tmr_start(&w->tmr, LK_REGISTER_TIMEOUT_MS, register_timeout, w);
}

void lk_workers_reset(struct lkagent *lk)
{
	list_flush(&lk->workers);
	list_flush(&lk->gone);
}
