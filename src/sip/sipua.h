/*
 * The SIP edge: answers calls over UDP and TCP, negotiates G.711 by SDP
 * offer/answer and gives each call a media session and an agent.
 *
 * Runs on the signalling thread (libre's main loop); nothing here is
 * thread-safe.
 */
#ifndef VOXGATE_SIP_SIPUA_H
#define VOXGATE_SIP_SIPUA_H

#include <stdint.h>
#include <re.h>
#include "media/agent.h"
#include "media/media.h"
#include "sip/regclient.h"
#include "sip/sipua_xfer.h"

struct sipua;
struct dispatch;

struct sipua_params {
	struct sa listen;   /* SIP address and port, UDP and TCP */
	struct sa external; /* advertised in SDP and Contact (port unused) */
	struct media_engine *media;        /* borrowed */
	const struct agent_ops *agent;     /* borrowed */
	const struct agent_assets *assets; /* borrowed */
	struct dispatch *dispatch; /* borrowed; NULL = no rooms, answer all */
	uint32_t answer_delay_ms;
	uint32_t max_call_duration_ms;
	uint32_t pin_timeout_ms; /* to enter a dispatch rule's PIN, 0 = none */
	/* Wrong PINs one source address may key in within the window
	 * before its PIN calls are refused (403); 0 = no limit. */
	uint32_t pin_max_tries;
	uint32_t pin_tries_window_ms;
	/* The bot URL a room names (agents[0] of its options), for the calls
	 * placed into it; NULL: none. */
	const char *(*room_bot)(const char *room, void *arg);
	void *room_bot_arg;
	/* SIP over TLS on tls_port when tls is set (sipua_tls_load); the
	 * context is borrowed and also the one outbound TLS goes out on. */
	struct tls *tls;
	uint16_t tls_port;
};

typedef void(sipua_idle_h)(void *arg);

/* Opens the transports. EADDRINUSE when the port is taken. A libre mem
 * object: mem_deref closes it (calls must have ended first). */
int sipua_alloc(struct sipua **uap, const struct sipua_params *prm);
/* From now on new INVITEs get 503. idleh runs once no call is left;
 * after timeout_ms the remaining calls are hung up. */
/* The SRTP figures for /metrics (Prometheus text): calls with SRTP,
 * offers refused for it, packets dropped. */
int sipua_srtp_metrics(const struct sipua *ua, struct mbuf *mb);

void sipua_drain(struct sipua *ua, uint32_t timeout_ms, sipua_idle_h *idleh,
                 void *arg);
unsigned sipua_call_count(const struct sipua *ua);
/* The certificate chain and key for SIP over TLS, checked (readable,
 * PEM, matching): the key in its own file, or in cert's when key is "" or
 * the same path. A libre mem object. On failure *why says which setting
 * and what is wrong with it (a static string), *file is the file at
 * fault (cert or key). */
int sipua_tls_load(struct tls **tlsp, const char *cert, const char *key,
                   const char **file, const char **why);
/* Whether SIP over TLS is on: what a `transport: TLS` trunk needs, since
 * libre opens TLS connections only on a listening TLS transport. */
bool sipua_tls_ready(const struct sipua *ua);

/* The registrations (sip/regclient.h) become exactly v: unchanged ones
 * keep running. Drain unregisters them. */
int sipua_registrations(struct sipua *ua, const struct regclient_entry *v,
                        size_t n);
/* The SIP edge's /metrics lines: the calls up now by direction, the
 * registrations, SRTP. */
int sipua_metrics(const struct sipua *ua, struct mbuf *mb);

#endif
