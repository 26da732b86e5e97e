/*
 * The controller of agent workers, on the server's signalling thread.
 *
 * Workers connect over a WebSocket (docs/agent-protocol.md) and say how
 * many calls they take. Each call that asks for the pipeline agent gets a
 * job: a bridge on its media thread (VAD, barge-in, playout) and a worker
 * with capacity, to which the hub relays the caller's audio and events and
 * from which it plays the agent's speech. With no capacity the call waits
 * in a bounded queue, or hears the busy message and ends. A worker that
 * disconnects ends its own calls only. The hub can also start and watch a
 * pool of local worker processes.
 */
#ifndef VOXGATE_AGENT_HUB_H
#define VOXGATE_AGENT_HUB_H

#include <stddef.h>
#include <stdint.h>
#include "media/agent.h"
#include "speech/vad.h"

struct hub;
struct mbuf;
struct websock_conn;
struct websock_hdr;

/* libre's websock_recv_h and websock_close_h, kept out of this header. */
typedef void(hub_recv_h)(const struct websock_hdr *hdr, struct mbuf *mb,
                         void *arg);
typedef void(hub_close_h)(int err, void *arg);

struct hub_params {
	struct vad_params vad;
	uint32_t dispatch_timeout_ms; /* to accept an offered call */
	uint32_t queue_max;           /* calls waiting for capacity */
	uint32_t queue_timeout_ms;
	const int16_t *busy; /* 8 kHz; said when no worker takes a call */
	size_t busy_samples;
	/* The local pool: workers processes of `exe agent`, connecting to
	 * url with a token minted from key/secret; env is their whole
	 * environment (borrowed: it must outlive the hub). */
	uint32_t workers;
	const char *exe;
	const char *url;
	const char *key, *secret;
	char *const *env;
};

/* A libre mem object; mem_deref stops the pool (SIGTERM, then SIGKILL
 * after two seconds). Jobs must have ended first. */
int hub_alloc(struct hub **hp, const struct hub_params *prm);

/*
 * Takes a worker's WebSocket that GET /agent upgraded (authenticated with
 * the agent grant) and whose first frame was text, voxgate's protocol.
 * The hub keeps a reference to wc; the one who accepted it keeps its
 * handlers and hands every frame, that first one included, to *recvhp
 * and the close to *closehp, with *argp. ESHUTDOWN while the hub closes.
 */
int hub_adopt(struct hub *h, struct websock_conn *wc, hub_recv_h **recvhp,
              hub_close_h **closehp, void **argp);

/* Prometheus text: latency histograms and worker/job gauges. */
int hub_metrics(struct hub *h, struct mbuf *mb);

/* Workers connected and registered. */
unsigned hub_worker_count(const struct hub *h);

/* The agent calls get when agent = pipeline: its start needs assets->hub
 * and info->hangup. */
extern const struct agent_ops agent_pipeline;

#endif
