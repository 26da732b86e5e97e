/*
 * Where phone calls meet WebRTC participants: a room's media, on one
 * media thread.
 *
 * A room's media holds its tracks: a phone call's (its PCMU or PCMA
 * packets, re-wrapped as they arrive for every WebRTC subscriber, never
 * transcoded) and a WebRTC publisher's (Opus, forwarded as it is to the
 * other subscribers, and decoded once per tick for the phone calls, which
 * hear every publisher mixed with their own agent). Everything of a room
 * runs on one media thread: a call joins the room of its thread, and a
 * room made for a call is made on the call's thread.
 *
 * The signalling thread drives it; each call posts the change to the
 * room's thread, where it takes effect in order.
 */
#ifndef VOXGATE_MEDIA_WEBRTC_H
#define VOXGATE_MEDIA_WEBRTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct media_engine;
struct media_session;
struct media_room;
struct media_pc;

#define MEDIA_ROOM_TRACKS 16 /* tracks in one room */
#define MEDIA_TRACK_SUBS  32 /* WebRTC subscribers of one track */
#define MEDIA_PT_OPUS     111

/*
 * A room's media, on the thread of near when given (a started call), else
 * on the least busy thread. A libre mem object; media_room_stop takes it
 * off its thread (mem_deref after it is fine: the thread keeps its own
 * reference until it has let go).
 */
int media_room_alloc(struct media_room **mrp, struct media_engine *me,
                     struct media_session *near);
void media_room_stop(struct media_room *mr);

/*
 * Publishes a started call's audio as track sid and lets it hear the
 * room. The call must run on the room's thread (EXDEV otherwise: it
 * stays as it is). *ssrc and *pt tell what its subscribers receive.
 * ENOSPC past MEDIA_ROOM_TRACKS.
 */
int media_room_add_phone(struct media_room *mr, struct media_session *ms,
                         const char *sid, uint32_t *ssrc, uint8_t *pt);
/* A call not started yet will run on the room's thread. */
void media_room_home(struct media_room *mr, struct media_session *ms);
/* A track whose packets arrive on a publisher peer connection with
 * in_ssrc (0: the first SSRC the connection has no track for). */
int media_room_add_opus(struct media_room *mr, struct media_pc *pc,
                        const char *sid, uint32_t in_ssrc, uint32_t *ssrc);
int media_room_remove_track(struct media_room *mr, const char *sid);
/* Sends track sid's packets to a subscriber peer connection, or stops. */
int media_room_subscribe(struct media_room *mr, struct media_pc *pc,
                         const char *sid, bool on);
/* A WebRTC participant's sip_dtmf for a call: sends keys (0-9 * # A-D) to the caller as RFC 4733 events, one after
 * the other (100 ms each, 60 ms apart), in place of the call's audio
 * while they last; not when the caller offered no telephone-event.
 * EINVAL for another character, ENOSPC when too many are waiting. */
int media_session_dtmf_send(struct media_session *ms, const char *digits,
                            size_t n);
/* What subscribers of sid receive; false when the room has no such
 * track. */
bool media_room_track(const struct media_room *mr, const char *sid,
                      uint32_t *ssrc, uint8_t *pt);

/*
 * A WebRTC peer connection: one UDP socket from the RTP port range,
 * ICE-lite, DTLS-SRTP, BUNDLE and rtcp-mux, run by its room's media
 * thread. A subscriber connection sends the room's tracks it is
 * subscribed to; a publisher connection receives the client's tracks.
 */
enum media_pc_event {
	MEDIA_PC_CONNECTED, /* ICE and DTLS done, SRTP keyed; why: profile */
	MEDIA_PC_FAILED,    /* why says what; it sends nothing any more */
	MEDIA_PC_STOPPED,   /* not delivered after media_pc_stop */
};

typedef void(media_pc_event_h)(enum media_pc_event ev, const char *why,
                               void *arg);
/* DTLS application data from the peer (its data channels' SCTP), on the
 * signalling thread; not after media_pc_stop. */
typedef void(media_pc_app_h)(const uint8_t *data, size_t len, void *arg);

struct dtls_cert;

struct media_pc_prm {
	struct media_engine *engine;
	struct dtls_cert *cert; /* ours, for every connection */
	bool subscriber;
	const char *label;    /* names it in the logs */
	media_pc_app_h *apph; /* NULL: application data is dropped */
};

struct media_pc_stats {
	uint64_t stun_in, stun_refused;
	/* Of the refused: signed with another pwd (a peer with stale or
	 * forged credentials), or naming another ufrag. */
	uint64_t stun_bad_integrity, stun_bad_username;
	uint64_t rtp_in, rtp_out, rtcp_in;
	uint64_t early;        /* DTLS or SRTP before its time */
	uint64_t wrong_source; /* media from elsewhere than the ICE peer */
	uint64_t malformed, unknown_ssrc, not_ready, send_errors;
	uint64_t srtp_auth_fail, srtp_replay;
	uint64_t dtls_retransmits;
	uint64_t handshake_us;
	uint64_t app_in, app_out; /* DTLS application records (SCTP) */
};

/* Binds its socket and makes its ICE credentials; a libre mem object. */
int media_pc_alloc(struct media_pc **pcp, const struct media_pc_prm *prm,
                   media_pc_event_h *evh, void *arg);
uint16_t media_pc_port(const struct media_pc *pc);
const char *media_pc_ufrag(const struct media_pc *pc); /* a=ice-ufrag */
const char *media_pc_pwd(const struct media_pc *pc);   /* a=ice-pwd */
/* Runs it on the room's thread. */
int media_pc_start(struct media_pc *pc, struct media_room *mr);
/*
 * The peer's description: its ICE credentials and certificate
 * fingerprint ("sha-256 AB:..."), and whether we are the DTLS server (the
 * peer answered our offer with a=setup:active) or its client (we answered
 * active). A later call changes the ICE credentials only.
 */
int media_pc_remote(struct media_pc *pc, const char *ufrag, const char *pwd,
                    const char *fingerprint, bool dtls_server);
/* Sends DTLS application data (one SCTP packet) once the connection is
 * up; dropped before. 0, EINVAL or ENOMEM. */
int media_pc_send_app(struct media_pc *pc, const uint8_t *data, size_t len);
/* Takes it off its thread; mem_deref may follow at once. */
void media_pc_stop(struct media_pc *pc);
/* As of its last event. */
const struct media_pc_stats *media_pc_stats(const struct media_pc *pc);

/* Where a live connection is, as of its thread's last tick. */
enum media_pc_state {
	MEDIA_PC_S_NEW,       /* no valid ICE check yet */
	MEDIA_PC_S_CHECKING,  /* ICE answered, DTLS not done */
	MEDIA_PC_S_CONNECTED, /* SRTP keyed */
	MEDIA_PC_S_FAILED,    /* failed, not stopped yet */
	MEDIA_PC_STATES
};

/*
 * An engine's connections and their counters added up: those that have
 * stopped (each hands its own to the signalling thread with its STOPPED
 * event, which also logs them, webrtc_pc_closed) and the live ones, as of
 * their thread's last tick (20 ms). Signalling thread.
 */
struct media_pc_totals {
	uint64_t closed; /* connections stopped */
	uint64_t up;     /* of them, ones that were connected (SRTP keyed) */
	/* Live and closed; handshake_us: summed over the closed ones up. */
	struct media_pc_stats sum;
	uint64_t open[MEDIA_PC_STATES]; /* live connections by state */
};

void media_pc_totals(const struct media_engine *me, struct media_pc_totals *t);

#endif
