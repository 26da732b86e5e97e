/*
 * LiveKit's agent workers and their dispatch, as a LiveKit server runs
 * them (../shared/specs/livekit-rtc.md section c, livekit-compat.md
 * section 7).
 *
 * Workers of @livekit/agents (Node, Python) connect to GET /agent and
 * register, with an agent name or without one. Each room gets dispatches
 * as it starts: one per roomConfig.agents[] entry that names an agent
 * (CreateRoom's, a dispatch rule's, a token's; a ws:// or wss:// name is
 * an external Media Streams bot, not a LiveKit agent), or else the
 * automatic one with no name. A dispatch launches a job: the worker of its
 * name that is available, picked at random weighted by 1 - load, is asked
 * (AvailabilityRequest); one that accepts gets the job's token
 * (JobAssignment) and its agent joins the room on /rtc. A refusal or a
 * silence of 10 s asks the next worker. Jobs end with JobTermination when
 * the room's last phone caller leaves, when the room ends or the dispatch
 * is deleted (AgentDispatchService); a job also ends when its agent leaves
 * the room or its worker goes away.
 *
 * The same socket path serves voxgate's own worker protocol
 * (docs/agent-protocol.md): the first frame tells them apart, text for
 * voxgate's, binary for LiveKit's.
 *
 * Calls get their agent here (lkagent_call_agent): the room, when the room
 * has LiveKit agents (named, or automatic with a nameless worker
 * connected), else the built-in agent. A call waits for its room's job up
 * to queue_timeout_ms, then hears the busy message and is hung up.
 *
 * Everything runs on the signalling thread.
 */
#ifndef VOXGATE_LKAGENT_LKAGENT_H
#define VOXGATE_LKAGENT_LKAGENT_H

#include <stddef.h>
#include <stdint.h>
#include "auth/token.h"
#include "media/agent.h"

/* declared, not included: see core/libre.h */
struct json_t;
struct http_conn;
struct http_msg;
struct mbuf;
struct rooms;
struct websock_conn;
struct websock_hdr;
struct lkagent;

/* libre's websock_recv_h and websock_close_h. */
typedef void(lkagent_recv_h)(const struct websock_hdr *hdr, struct mbuf *mb,
                             void *arg);
typedef void(lkagent_close_h)(int err, void *arg);

/* Takes a socket whose first frame was text (voxgate's own protocol):
 * keeps a reference to wc and returns the handlers its frames and its
 * close go to; 0 or an errno value (the socket is then closed). */
typedef int(lkagent_adopt_h)(struct websock_conn *wc, lkagent_recv_h **recvhp,
                             lkagent_close_h **closehp, void **argp, void *arg);

struct lkagent_params {
	struct rooms *rooms;       /* borrowed */
	struct token_keyring keys; /* borrowed: a job's token is signed with
	                              the key its worker connected with */
	uint32_t queue_max;        /* calls that may wait for a job */
	uint32_t queue_timeout_ms; /* how long a call or a job waits */
	/* Said when no worker takes a call's job (8 kHz, borrowed). */
	const int16_t *busy;
	size_t busy_samples;
	/* The agent of calls whose room has no LiveKit agent. */
	const struct agent_ops *builtin;
	/* voxgate's own workers; NULL: a text first frame is refused. */
	lkagent_adopt_h *own_adopt;
	void *own_arg;
	const char *version; /* the server_info version workers are told */
};

/* A libre mem object. mem_deref, once the loop has stopped and before the
 * rooms go (it stops watching them), closes every worker's socket and
 * forgets the dispatches; calls that outlive it keep their room media
 * until they stop. */
int lkagent_alloc(struct lkagent **lkp, const struct lkagent_params *prm);

/* Takes GET /agent, authenticated by a token with the agent grant signed
 * with api_key: upgrades it and tells the protocol from the first frame,
 * which must come within 10 s. */
void lkagent_accept(struct lkagent *lk, struct http_conn *conn,
                    const struct http_msg *msg, const char *api_key);

/* The agent calls get (assets->lkagent must be set): the room's LiveKit
 * agent, or lkagent_params.builtin. */
extern const struct agent_ops lkagent_call_agent;

/* ---- AgentDispatchService (LiveKit's Twirp JSON, camelCase) ------------ */

/*
 * CreateDispatch: req holds room, agentName, metadata, attributes,
 * deployment. The room is created when it does not exist, as LiveKit's
 * auto-create does. *outp: the AgentDispatch. EINVAL with why.
 */
int lkagent_dispatch_create(struct lkagent *lk, const struct json_t *req,
                            struct json_t **outp, const char **why);
/* ListDispatch: the room's dispatches (only dispatch_id's when it is not
 * empty) with their jobs, as {agentDispatches: [...]}. ENOENT: no room. */
int lkagent_dispatch_list(struct lkagent *lk, const char *room,
                          const char *dispatch_id, struct json_t **outp);
/* DeleteDispatch: its jobs are terminated; *outp the dispatch as it was.
 * ENOENT: no room; ESRCH: no such dispatch in it. */
int lkagent_dispatch_delete(struct lkagent *lk, const char *room,
                            const char *dispatch_id, struct json_t **outp);

/* Prometheus text: LiveKit workers and jobs. */
int lkagent_metrics(const struct lkagent *lk, struct mbuf *mb);
/* The bot a room was made for: its options' agents[0] when that names a
 * ws:// or wss:// URL (CreateRoom, a rule's roomConfig), else NULL. Valid
 * until the room finishes. Signalling thread. */
const char *lkagent_room_bot(struct lkagent *lk, const char *room);

#endif
