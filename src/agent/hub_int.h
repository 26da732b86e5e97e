/*
 * The hub's insides, shared by its files and by no one else: hub.c (jobs,
 * dispatch, relaying, the agent the calls get, life), hub_workers.c (the
 * connected workers and what is sent to them), hub_metrics.c (histograms,
 * /metrics) and hub_pool.c (the local worker processes). All of it runs on
 * the signalling thread.
 */
#ifndef VOXGATE_AGENT_HUB_INT_H
#define VOXGATE_AGENT_HUB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <re.h>
#include "core/clock.h"
#include "agent/hub.h"
#include "proto/proto.h"

#define TRIED_MAX 8

/* Prometheus histograms, in seconds; the bounds are in hub_metrics.c. */
#define HUB_NBUCKETS 14

struct histogram {
	const char *name, *help;
	uint64_t counts[HUB_NBUCKETS + 1];
	uint64_t count;
	double sum;
};

/* The stages whose figures are labelled by the providers that did them. */
enum hub_stage {
	HUB_STAGE_STT, /* final transcript */
	HUB_STAGE_LLM, /* the brain's first text */
	HUB_STAGE_TTS, /* first synthesized audio */
	HUB_STAGE_V2V, /* voice to voice, on the wire */
	HUB_NSTAGES,
};

/* A worker's providers as label values: indexes into fixed lists of the
 * names voxgate knows, so that the label sets stay few whatever workers
 * say (hub_metrics.c). */
struct hub_labels {
	uint8_t stt, brain, tts;
};

/* One set of labels' histograms, made at its first figure. */
struct hub_stage_set {
	struct hub_labels l;
	struct histogram h[HUB_NSTAGES];
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
	bool hangup_quiet; /* played out; waiting for the reply's turn */
	/* The call's transfer (agent_call_info), NULL = none; the worker's
	 * request in flight and its target, while xfer_pending. */
	int (*transfer)(void *arg, const char *to, const char *why,
	                void (*done)(void *darg, bool ok, bool final,
	                             const char *why),
	                void *darg);
	void (*transfer_forget)(void *arg, void *darg);
	uint32_t xfer_request;
	bool xfer_pending;
};

struct worker {
	struct le le;
	struct hub *hub;
	struct websock_conn *wc;
	uint32_t id;
	char name[64];
	uint32_t capacity;
	bool registered;
	struct hub_labels labels; /* its providers, from register */
	struct list jobs;
	struct tmr reap; /* frees it after its socket's close handler */
};

struct hub {
	struct hub_params prm;
	char **env; /* prm.env's strings plus the pool's own two */
	int wake_fd;
	struct list jobs, queue, workers, children;
	struct list gone; /* workers whose socket closed, freed next */
	uint32_t next_job, next_worker;
	bool closing;
	uint64_t jobs_total, busy_total, lost_total;
	/* turns whose reply was asked for before STOP: said, dropped */
	uint64_t preempt_used, preempt_discarded;
	struct histogram reaction;
	struct hub_stage_set *sets; /* at most every labels' combination */
	size_t nsets;
};

/* hub.c */
void hub_job_unassign(struct job *job);
/* Ends the call from our side, once. */
void hub_job_hangup(struct job *job, const char *reason);
void hub_dispatch(struct job *job);
void hub_dispatch_queue(struct hub *h);
struct job *hub_job_find(struct hub *h, uint32_t id);

/* hub_workers.c */
void hub_send(struct worker *w, const struct proto_msg *m);
void hub_send_job(struct job *job, enum proto_type type,
                  void (*fill)(struct proto_msg *m, const void *arg),
                  const void *arg);

/* hub_metrics.c */
void hub_metrics_init(struct hub *h);
void hub_metrics_reset(struct hub *h);
void hub_observe(struct histogram *h, double s);
/* The labels of these names (NULL or "" = "none"; a name voxgate does not
 * know = "other"). */
void hub_labels_of(struct hub_labels *l, const char *stt, const char *brain,
                   const char *tts);
void hub_observe_stage(struct hub *h, enum hub_stage st,
                       const struct hub_labels *l, double s);

/* hub_pool.c */
int hub_pool_start(struct hub *h);
/* SIGTERM, then SIGKILL after two seconds. */
void hub_pool_stop(struct hub *h);

#endif
