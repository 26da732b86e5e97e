/*
 * Media Streams: the way into voxgate without SIP. A carrier opens a
 * WebSocket (Twilio Media Streams at /twilio/stream, Telnyx media
 * streaming at /telnyx/stream), and each stream becomes a call: a
 * participant in room pstn-<call id> with the same agent SIP calls get.
 * The caller's audio comes in as "media" frames, the agent's goes out the
 * same way, paced in real time; a barge-in sends "clear"; DTMF reaches the
 * agent; "stop" or a closed socket ends the call.
 *
 * Runs on the signalling thread's loop, agent and all: a stream's audio
 * arrives over TCP in bursts, so a 20 ms timer, not a media thread's
 * socket, paces it.
 */
#ifndef VOXGATE_MSTREAM_STREAM_H
#define VOXGATE_MSTREAM_STREAM_H

#include <stdbool.h>

struct agent_ops;
struct agent_assets;
struct http_conn;
struct http_msg;
struct rooms;

struct stream_params {
	struct rooms *rooms;               /* borrowed */
	const struct agent_ops *agent;     /* borrowed */
	const struct agent_assets *assets; /* borrowed */
	/* Twilio signs the WebSocket request like its webhooks, over the
	 * wss:// form of public_url; "" = Twilio streams are refused. */
	const char *twilio_auth_token;
	const char *public_url;
	/* What Telnyx sends as x-telnyx-streaming-auth-token (the
	 * stream_auth_token given to Telnyx); "" = Telnyx streams refused. */
	const char *telnyx_stream_token;
	/* A live stream with no media this long ends; 0 = 15 s. */
	unsigned media_timeout_ms;
};

struct stream_server;

/* The caller owns *sp, a libre mem object: mem_deref closes every stream
 * (their calls end). EINVAL, ENOMEM. */
int stream_server_alloc(struct stream_server **sp,
                        const struct stream_params *prm);

/* Takes the request when its path is one of the streams' and returns
 * true; false otherwise. */
bool stream_http(struct stream_server *s, struct http_conn *conn,
                 const struct http_msg *msg);

/* Streams open now. */
unsigned stream_count(const struct stream_server *s);

#endif
