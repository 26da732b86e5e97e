/*
 * Inside the server's assembly: what serve.c and serve_planes.c share.
 *
 *   serve.c         serve(): the settings checked, the audio loaded, the
 *                   connections capped, the media engine and the SIP user
 *                   agent started, the loop run, signals, the drain and the
 *                   order in which everything goes down
 *   serve_planes.c  the control plane (store, webhooks, rooms, routing and
 *                   registrations, carriers, Media Streams, WebRTC
 *                   signalling, LiveKit's agents and the HTTP API) and the
 *                   agent plane (the hub, its local workers, the busy
 *                   message)
 */
#ifndef VOXGATE_SERVER_SERVE_INT_H
#define VOXGATE_SERVER_SERVE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "auth/token.h"
#include "core/config.h"
#include "media/agent.h"
#include "sip/regclient.h"

#define EXIT_USAGE 2

struct server {
	struct config cfg;
	struct media_engine *media;
	struct sipua *ua;
	struct tls *tls; /* SIP over TLS's certificate, NULL = no TLS */
	struct store *store;
	struct retention *retention; /* prunes the store's history */
	struct webhook *webhook;
	struct rooms *rooms;
	struct dispatch *dispatch;
	struct hosts *hosts; /* allowedAddresses host names, resolved */
	struct api *api;
	struct carrier *carrier;
	struct stream_server *streams;
	struct rtc *rtc;               /* LiveKit clients on /rtc */
	char ice_addr[64];             /* the external address, in WebRTC SDP */
	struct lkagent *lkagent;       /* LiveKit's agent workers */
	const struct agent_ops *agent; /* what talks on each call */
	char sip_uri[512];             /* what carriers dial: sip_uri or ours */
	struct token_key keys[CONFIG_KEYS_MAX];
	struct token_keyring ring;
	struct agent_assets assets;
	int16_t *greeting, *pin_prompt, *pin_wrong;
	struct hub *hub;
	int16_t *busy;
	size_t busy_samples;
	char **worker_env;
	char exe[PATH_MAX];
	char agent_url[128];
	int sigfd;
	bool draining;
	/* The registrations setting, parsed at start; the trunk ids in it
	 * are read again from the store when routes change. */
	struct regclient_item reg_items[REGCLIENT_MAX];
	size_t nreg_items;
	bool reg_trunks;
};

/* Checks the registrations setting whole before anything starts. */
int serve_registrations_parse(struct server *srv);
/* What registers now: the sip: entries as set, the trunks as stored. */
void serve_registrations_apply(struct server *srv);
/* The store, webhooks, rooms, call routing and the HTTP API. Returns an
 * exit code, 0 when all is up. */
int serve_control_open(struct server *srv);
/* The pipeline agent: its controller, the pool of local workers and the
 * busy message. Returns an exit code. */
int serve_agent_open(struct server *srv);
/* The busy message, synthesized once at start (agent_busy_message): the
 * server says it itself when no worker takes a call. */
int serve_busy_message(struct server *srv);
/* Takes the control plane down, rooms first. */
void serve_control_close(struct server *srv);

#endif
