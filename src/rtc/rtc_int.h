/* What rtc.c (the HTTP side) and rtc_session.c (a joined client) share. */
#ifndef VOXGATE_RTC_RTC_INT_H
#define VOXGATE_RTC_RTC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "core/libre.h"
#include "rtc/rtc.h"

struct participant;
struct json_t;

struct rtc_counters {
	uint64_t joined;    /* sessions that got their JoinResponse */
	uint64_t refused;   /* upgrades refused (token, grant, room) */
	uint64_t malformed; /* frames that were not a SignalRequest */
	uint64_t timed_out; /* clients silent past ping_timeout */
	uint64_t left;      /* clients that sent leave */
	uint64_t dropped;   /* sockets that closed without leave */
};

struct rtc {
	struct rtc_params prm;
	struct websock *ws;
	struct list sessions;
	struct rtc_counters n;
};

/* Who is joining, as the token and the query say. */
struct rtc_join {
	struct token_claims claims;
	struct json_t *extra; /* the token's claims object */
	char room[256];
	bool auto_subscribe;
};

/* Accepts the upgrade, joins the room and sends the JoinResponse; replies
 * with an HTTP error itself when it cannot. */
void rtc_session_open(struct rtc *r, struct http_conn *conn,
                      const struct http_msg *msg, const struct rtc_join *j);
/* Sends leave (reason, a DisconnectReason name) and closes, as the server
 * shuts down. */
void rtc_session_close_all(struct rtc *r, const char *reason);
unsigned rtc_session_count(const struct rtc *r);

#endif
