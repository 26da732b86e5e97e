/*
 * The HTTP API: LiveKit's Twirp server API (RoomService, SIP,
 * AgentDispatchService) in JSON,
 * GET /healthz, GET /metrics, the agent workers' WebSocket (GET /agent)
 * and LiveKit's room signalling (/rtc). Runs on the signalling thread's loop.
 */
#ifndef VOXGATE_API_API_H
#define VOXGATE_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "auth/token.h"

struct api;
struct carrier;
struct http_conn;
struct http_msg;
struct stream_server;
struct rtc;
struct lkagent;
struct mbuf;
struct rooms;
struct sipua;
struct store;

struct api_params {
	const char *host; /* listen address */
	uint16_t port;
	struct token_keyring keys; /* borrowed */
	struct rooms *rooms;       /* borrowed */
	struct store *store;       /* borrowed */
	size_t max_body;           /* 0 = 256 KiB */
	const char *admin_token;   /* for /api/admin/...; NULL or "" = off */
	struct carrier *carrier;   /* Twilio's and Telnyx's paths; NULL = off */
	struct stream_server *streams; /* Media Streams; NULL = off */
	struct rtc *rtc;               /* LiveKit's /rtc; NULL = off */
	/* AgentDispatchService; NULL = unimplemented */
	struct lkagent *lkagent;
	/* GET /agent with a token holding the agent grant, signed with
	 * api_key: an agent worker's WebSocket (NULL = 404). */
	void (*agenth)(struct http_conn *conn, const struct http_msg *msg,
	               const char *api_key, void *arg);
	/* GET /metrics: appends Prometheus text (NULL = 404). */
	int (*metricsh)(struct mbuf *mb, void *arg);
	void *harg;
};

/* Called when trunks or rules change, so SIP routing reloads them. */
typedef void(api_changed_h)(void *arg);

/* EADDRINUSE when the port is taken. A libre mem object. */
int api_alloc(struct api **ap, const struct api_params *prm,
              api_changed_h *changedh, void *arg);
/* /healthz answers 200 from now on (503 before). */
void api_set_ready(struct api *api, bool ready);
/* /healthz answers 503 "draining" from now on, so that a load balancer
 * stops sending new work; everything else keeps being served. */
void api_set_draining(struct api *api);

/* The SIP edge, for CreateSIPParticipant and TransferSIPParticipant
 * (borrowed; NULL again before it is freed). Until set, they answer
 * unavailable. */
void api_set_sipua(struct api *api, struct sipua *sipua);

/* A request to /twirp/..., as the HTTP server hands it over; its body is
 * msg->mb. Exposed so that requests can be driven without a socket: with
 * conn NULL the reply is dropped. */
void api_twirp(struct api *api, struct http_conn *conn,
               const struct http_msg *msg);

#endif
