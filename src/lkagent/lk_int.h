/*
 * Inside the LiveKit agent dispatch, shared by its files and no one else:
 * lkagent.c (rooms and their dispatches, the service's JSON, life),
 * lk_jobs.c (a job's life, a worker's answer, agents told to leave),
 * lk_workers.c (the sockets on /agent, the worker protocol, what is sent to
 * a worker) and lk_call.c (the agent a call gets). Signalling thread only.
 */
#ifndef VOXGATE_LKAGENT_LK_INT_H
#define VOXGATE_LKAGENT_LK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "core/libre.h"
#include "lkagent/lkagent.h"
#include "livekit/lkpb.h"

#define LK_REGISTER_TIMEOUT_MS     10000 /* LiveKit's RegisterTimeout */
#define LK_AVAILABILITY_TIMEOUT_MS 10000 /* LiveKit's AssignJobTimeout */
#define LK_LEAVE_GRACE_MS          3000  /* a terminated agent's to leave */
#define LK_JOBS_KEPT               8     /* ended jobs a dispatch lists */
#define LK_TRIED_MAX               16

#define LK_NAME_MAX     128 /* agent names, deployments */
#define LK_IDENTITY_MAX 256
#define LK_METADATA_MAX (64 * 1024)

struct arena;
struct lk_worker;
struct lk_room;
struct lk_call;

enum lk_sock {
	LK_SOCK_NEW,     /* no frame yet */
	LK_SOCK_OWN,     /* voxgate's protocol: frames go to the hub */
	LK_SOCK_LIVEKIT, /* LiveKit's */
};

struct lk_worker {
	struct le le; /* lk->workers, then lk->gone once its socket closed */
	struct lkagent *lk;
	struct websock_conn *wc;
	enum lk_sock kind;
	uint32_t seq; /* this process's number for it, for the logs */
	char peer[64];
	char api_key[128];
	struct tmr tmr; /* the first frame, the register; then the reap */
	bool closed;
	/* LK_SOCK_OWN */
	lkagent_recv_h *own_recv;
	lkagent_close_h *own_close;
	void *own_arg;
	/* LK_SOCK_LIVEKIT, from its register */
	bool registered;
	char id[16]; /* AW_... */
	char agent_name[LK_NAME_MAX];
	char deployment[LK_NAME_MAX];
	char version[32];
	int job_type;
	struct {
		bool can_subscribe, can_publish, can_publish_data;
		bool can_update_metadata, hidden;
	} perm;
	int status; /* Livekit__WorkerStatus */
	float load;
	uint32_t job_count;
	struct list jobs; /* offered to it, or running on it */
};

enum lk_job_state {
	LK_JOB_PENDING, /* waiting for a worker */
	LK_JOB_OFFERED, /* AvailabilityRequest sent */
	LK_JOB_RUNNING, /* assigned */
	LK_JOB_ENDED,
};

struct lk_dispatch;

struct lk_job {
	struct le le;  /* its dispatch's jobs */
	struct le wle; /* its worker's jobs, or lk->pending */
	struct lk_dispatch *d;
	char id[16]; /* AJ_... */
	enum lk_job_state state;
	int status; /* Livekit__JobStatus */
	char error[128];
	int64_t started_ns, ended_ns, updated_ns;
	char identity[LK_IDENTITY_MAX]; /* its agent in the room */
	char worker_id[16];
	struct lk_worker *worker;
	uint32_t tried[LK_TRIED_MAX]; /* workers (seq) asked already */
	size_t ntried;
	uint64_t deadline_ms; /* a pending job fails at this time */
	struct tmr tmr;       /* the worker's answer; the deadline */
};

struct lk_dispatch {
	struct le le; /* its room's dispatches */
	struct lk_room *r;
	char id[16]; /* AD_... */
	char agent_name[LK_NAME_MAX];
	char deployment[LK_NAME_MAX];
	char *metadata;
	struct json_t *attributes; /* string map */
	int64_t created_ns;
	bool automatic; /* the room's implicit one, for nameless workers */
	struct list jobs;
};

struct lk_room {
	struct le le; /* lk->rooms */
	struct lkagent *lk;
	struct room *room;
	struct list dispatches;
	struct list calls; /* lk_call: calls this room's agents serve */
	struct tmr launch; /* launches the jobs once the room has started */
	char *bot_url;     /* agents[0] when it names a bot by URL, or NULL */
};

struct lk_counters {
	uint64_t jobs, assigned, declined, timeouts, failed, terminated;
	uint64_t busy;
};

struct lkagent {
	struct lkagent_params prm;
	struct websock *ws;
	struct list workers;
	struct list gone;    /* workers whose socket closed, freed next */
	struct hash *rooms;  /* lk_room by its room's name */
	struct list pending; /* jobs waiting for a worker, oldest first */
	struct list kicks;   /* agents told to leave, removed if they stay */
	struct list calls;   /* every LiveKit call, for the end */
	uint32_t next_seq;
	uint32_t waiting; /* calls waiting for a job */
	bool closing;
	struct lk_counters n;
};

/* ---- lkagent.c --------------------------------------------------------- */

struct lk_room *lk_room_find(struct lkagent *lk, const char *name);
/* Makes sure each of the room's dispatches has a job that is pending,
 * offered or running; an automatic one only while a nameless worker is
 * connected. */
void lk_room_launch(struct lk_room *r);
/* Whether a call in the room is for its LiveKit agents. */
bool lk_room_wants(const struct lk_room *r);
/* The job states a call waits on: any job running; any still alive; the
 * error of the job that ended last with one (NULL: none). */
void lk_room_jobs(const struct lk_room *r, bool *running, bool *alive,
                  const char **last_error);
/* ---- lk_jobs.c --------------------------------------------------------- */

const char *lk_status_name(int status);
bool lk_job_alive(const struct lk_job *job);
/* A new job for the dispatch, offered or queued. */
int lk_job_launch(struct lk_dispatch *d);
/* The agent identity is removed from room if it is still there after
 * LK_LEAVE_GRACE_MS. */
void lk_kick_later(struct lkagent *lk, const char *room, const char *identity);
/* Offers the job to a worker, or queues it. */
void lk_job_dispatch(struct lk_job *job);
/* Offers queued jobs to the workers that can take them now. */
void lk_dispatch_pending(struct lkagent *lk);
/* A worker's answer to the job's AvailabilityRequest. */
void lk_job_answered(struct lk_job *job,
                     const Livekit__AvailabilityResponse *res);
/* Ends the job; status is a Livekit__JobStatus; tell: send JobTermination
 * to a running job's worker. */
void lk_job_end(struct lk_job *job, int status, const char *error, bool tell);
struct lk_job *lk_worker_job(const struct lk_worker *w, const char *id);

/* ---- lk_workers.c ------------------------------------------------------ */

int lk_send(struct lk_worker *w, const Livekit__ServerMessage *m);
/* AvailabilityRequest for job, to its worker. */
int lk_send_availability(struct lk_job *job);
int lk_send_assignment(struct lk_job *job, const char *token);
int lk_send_termination(struct lk_job *job);
/* The Job message of job, from arena a; NULL when out of memory. */
Livekit__Job *lk_job_pb(struct arena *a, const struct lk_job *job);
void lk_workers_reset(struct lkagent *lk);

/* ---- lk_call.c --------------------------------------------------------- */

/* The room's jobs changed: waiting calls are served, or hear the busy
 * message when nothing is left to wait for. */
void lk_calls_update(struct lk_room *r);
/* The room is gone: its calls are left alone until they end. */
void lk_calls_orphan(struct lk_room *r);
/* lkagent is going: calls that outlive it are cut loose. */
void lk_calls_detach(struct lkagent *lk);

#endif
