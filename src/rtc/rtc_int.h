/* What rtc.c (the HTTP side) and rtc_session.c (a joined client) share. */
#ifndef VOXGATE_RTC_RTC_INT_H
#define VOXGATE_RTC_RTC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "core/libre.h"
#include "rtc/rtc.h"
#include "livekit/lkpb.h"
#include "room/room.h"
#include "webrtc/wsdp.h"

struct participant;
struct json_t;
struct media_pc;
struct media_room;
struct room;
struct dtls_cert;
struct sctpx_assoc;

struct rtc_counters {
	uint64_t joined;    /* sessions that got their JoinResponse */
	uint64_t refused;   /* upgrades refused (token, grant, room) */
	uint64_t malformed; /* frames that were not a SignalRequest */
	uint64_t timed_out; /* clients silent past ping_timeout */
	uint64_t left;      /* clients that sent leave */
	uint64_t dropped;   /* sockets that closed without leave */
	uint64_t connected; /* subscriber connections up */
	uint64_t connect_ms_sum;
	uint64_t pc_failed;     /* connections that failed (DTLS, ICE) */
	uint64_t join_timeouts; /* joins whose connection never came up */
	uint64_t data_in;       /* DataPackets routed */
	uint64_t data_refused;  /* not a DataPacket, text, no grant, a
	                         * Transcription from a non-agent */
	uint64_t data_dropped;  /* a receiver's channel refused it */
};

struct rtc {
	struct rtc_params prm;
	struct dtls_cert *cert; /* every connection's */
	struct tmr sctp_tmr;    /* the data channels' timers */
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

#define RTC_SUBSCRIBED_MAX 32

/* A client's peer connections and what they carry. */
struct rtc_media {
	struct media_pc *sub, *pub;
	bool sub_up, pub_up;
	struct wsdp_sub sdp; /* the subscriber connection's m-lines */
	uint32_t offer_id;
	uint32_t pub_version;
	struct tmr connect; /* the subscriber connection's deadline */
	uint64_t joined_us;
	/* The tracks it publishes that someone consumes, told so. */
	char told[PARTICIPANT_TRACKS_MAX][16];
	size_t ntold;
	/* Data channels: SCTP on each connection, once it is up. */
	struct sctpx_assoc *sub_sctp, *pub_sctp;
	bool data_up; /* ours on the subscriber connection are open */
	/* Reliable packets for it until then (rtc_data.c). */
	struct list held;
	size_t nheld, held_bytes;
	uint16_t sid_reliable, sid_lossy;
	uint16_t pub_sctp_port; /* from the publisher offer */
	uint32_t pub_max_message_size;
	bool pub_dtls_client;
};

struct rtc_session {
	struct le le; /* in rtc->sessions */
	struct rtc *rtc;
	struct websock_conn *wc;
	struct participant *p; /* NULL once out of the room */
	char identity[256];
	char room[256];
	char peer[64];
	struct tmr silence; /* restarted by every frame from the client */
	struct tmr end;     /* frees the session, outside libre's handlers */
	bool auto_subscribe;
	bool ending;
	/* Tracks asked for with UpdateSubscription, beside auto_subscribe. */
	char subscribed[RTC_SUBSCRIBED_MAX][16];
	size_t nsubscribed;
	struct rtc_media media;
};

int rtc_session_send(struct rtc_session *s, const Livekit__SignalResponse *m);
/* The server ends the session: leave (reason), then the close. */
void rtc_session_end(struct rtc_session *s, const char *reason);

/* rtc_media.c: the session's WebRTC side. */
/* After the JoinResponse: the subscriber connection and its offer. */
int rtc_media_init(struct rtc_session *s);
void rtc_media_reset(struct rtc_session *s);
void rtc_media_answer(struct rtc_session *s,
                      const Livekit__SessionDescription *sd);
void rtc_media_offer(struct rtc_session *s,
                     const Livekit__SessionDescription *sd);
void rtc_media_add_track(struct rtc_session *s,
                         const Livekit__AddTrackRequest *req);
/* Tracks subscribed (on) or not, by sid. */
void rtc_media_subscribe(struct rtc_session *s, const char *sid, bool on);
/* Another participant joined, changed or left. */
void rtc_media_changed(struct rtc_session *s, const struct participant *other,
                       enum participant_change what);

/* rtc_data.c: the session's data channels. */
/* A connection is up: its SCTP association starts if its SDP has one. */
void rtc_data_connected(struct rtc_session *s, bool sub);
/* DTLS application data from the client's connection. */
void rtc_data_in(struct rtc_session *s, bool sub, const uint8_t *data,
                 size_t len);
/*
 * Writes into mb (at mb->pos) the DataPacket dp, from the participant
 * identity (sid, agent or not), as the room's others get it: stamped with
 * its sender, as LiveKit's server does, except a text stream's header that
 * an agent sends in another's name, which keeps that name and is marked
 * generated. dp is left as it was but for that mark. 0; EPERM for a
 * Transcription from anyone but an agent (LiveKit passes none on); ENOMEM.
 */
int rtc_data_stamp(struct mbuf *mb, Livekit__DataPacket *dp,
                   const char *identity, const char *sid, bool agent);
void rtc_data_reset(struct rtc_session *s);
/* Keys a phone caller pressed, to the client as sip_dtmf DataPackets. */
void rtc_data_dtmf(struct rtc_session *s, const struct participant *from,
                   const char *digits, size_t n);

/* Accepts the upgrade, joins the room and sends the JoinResponse; replies
 * with an HTTP error itself when it cannot. */
void rtc_session_accept(struct rtc *r, struct http_conn *conn,
                        const struct http_msg *msg, const struct rtc_join *j);
/* Sends leave (reason, a DisconnectReason name) and closes, as the server
 * shuts down. */
void rtc_session_end_all(struct rtc *r, const char *reason);
unsigned rtc_session_count(const struct rtc *r);

#endif
