/*
 * LiveKit's room signalling on the HTTP port: the /rtc WebSocket that
 * LiveKit's SDKs (rtc-node, livekit-client, the agents' Rust engine) open
 * to join a room, and /rtc/validate, which they ask when the upgrade
 * fails. Wire format: ../shared/specs/livekit-rtc.md section a.
 *
 * A client on /rtc is a room participant like the phone caller: it sees
 * the others (JoinResponse, ParticipantUpdate), updates its metadata and
 * attributes, and leaves or is removed (RemoveParticipant, DeleteRoom).
 * Runs on the signalling thread.
 */
#ifndef VOXGATE_RTC_RTC_H
#define VOXGATE_RTC_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include "auth/token.h"

struct rtc;
struct rooms;
struct http_conn;
struct http_msg;
struct mbuf;
struct media_engine;

/* The LiveKit server release whose signalling /rtc follows, told to the
 * clients as the server's version: the SDKs gate features on it. */
#define RTC_LIVEKIT_VERSION "1.9.0"

struct rtc_params {
	struct token_keyring keys; /* borrowed */
	struct rooms *rooms;       /* borrowed */
	uint32_t ping_interval_s;  /* 0 = 5, as LiveKit */
	uint32_t ping_timeout_s;   /* 0 = 15: silent this long, gone */
	const char *version;       /* NULL = RTC_LIVEKIT_VERSION */
	/* Audio over WebRTC: the media threads, and the address the
	 * clients reach our UDP ports at (the host candidate). NULL media:
	 * signalling only. */
	struct media_engine *media;
	const char *ice_addr;
};

/* A libre mem object; mem_deref sends every client a leave
 * (SERVER_SHUTDOWN) and closes its socket. */
int rtc_alloc(struct rtc **rp, const struct rtc_params *prm);

/*
 * Serves /rtc, /rtc/validate, /rtc/v1 and /rtc/v1/validate (any method
 * but GET is 405); false for any other path, which is left to the caller.
 */
bool rtc_http(struct rtc *r, struct http_conn *conn,
              const struct http_msg *msg);

/* Appends the signalling counters as Prometheus text. */
int rtc_metrics(const struct rtc *r, struct mbuf *mb);

#endif
