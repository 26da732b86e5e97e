/*
 * Call media: an RTP/RTCP socket pair per call, run by a small fixed set of
 * media threads.
 *
 * The signalling thread creates a session (which binds its ports), starts
 * it with the negotiated parameters and an agent, updates it on re-INVITE
 * and stops it at hang-up. A media thread owns a started session: it reads
 * RTP as it arrives into the jitter buffer, and every 20 ms decodes one
 * frame for the agent, takes one frame from it, encodes and sends it. The
 * per-packet path neither allocates nor blocks nor takes a shared lock.
 *
 * Media goes to the SDP's address until the caller's RTP arrives, then to
 * where that comes from (symmetric RTP, for callers behind NAT). A packet
 * from the SDP's address has the call at once; another source only when
 * the SDP allows it (the same host, or any host when the SDP's address is
 * private) and after a few packets in sequence, while no source has it.
 * Nothing at all is sent (RTP or RTCP), and the agent waits, until the
 * caller shows it is where the SDP says: the ACK of our answer arrives
 * (media_session_confirm) or its RTP from the SDP's address does. So an
 * INVITE with a forged source cannot make us stream at a third party.
 *
 * A call keyed with SDES (RFC 4568) runs SRTP: every packet in is
 * authenticated and decrypted before anything else trusts it (the source
 * latch included), every packet out is protected. The contexts are set up
 * on the signalling thread, at the start and at a re-key, so the packet
 * path allocates nothing here either.
 *
 * Events (first RTP, media timeout, stopped) come back on the signalling
 * thread's loop through the handler given at creation. After STOPPED the
 * media thread no longer touches the session: its statistics may be read
 * and it may be freed (mem_deref), which also stops the agent.
 */
#ifndef VOXGATE_MEDIA_MEDIA_H
#define VOXGATE_MEDIA_MEDIA_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "media/agent.h"
#include "webrtc/srtpx.h"

#define MEDIA_PT_PCMU 0
#define MEDIA_PT_PCMA 8

struct media_engine;
struct media_session;

struct media_engine_params {
	unsigned threads; /* 0 = one per CPU */
	struct sa bind;   /* address the RTP sockets bind to (port ignored) */
	uint16_t port_min, port_max;
	uint32_t jitter_min_ms, jitter_max_ms;
	uint32_t media_timeout_ms;
	/* each thread's SCHED_FIFO priority (core/prio.h), 0 = normal */
	unsigned call_priority;
};

/* A call's SRTP keys, master key then salt: ours protect what we send,
 * the caller's (rx) unprotect what it sends. */
#define MEDIA_SRTP_KEY_LEN (SRTPX_MAX_KEY + SRTPX_MAX_SALT)

struct media_srtp {
	bool on;
	enum srtpx_profile profile; /* AES_CM_128_HMAC_SHA1_80 or _32 */
	uint8_t tx[MEDIA_SRTP_KEY_LEN], rx[MEDIA_SRTP_KEY_LEN];
};

struct media_params {
	uint8_t send_pt; /* MEDIA_PT_PCMU or MEDIA_PT_PCMA */
	int dtmf_pt;     /* telephone-event payload type, -1 = none */
	struct sa raddr; /* the SDP's: where to send until the caller's RTP
	                    arrives, and whose RTP that may be */
	struct sa raddr_rtcp;
	bool send; /* false while the caller holds the call */
	bool recv; /* the caller sends us audio */
	struct media_srtp srtp;
	/* A call we dialled that nobody has answered yet: no address (the
	 * only case an unset raddr is allowed at the start), nothing sent,
	 * every packet in refused so no source can take the call. The room
	 * may hear its ringback meanwhile; media_session_update with the
	 * answer's address ends it. */
	bool await_answer;
};

struct media_stats {
	uint64_t packets_in, packets_out;
	uint64_t lost, late, duplicate, discarded;
	uint64_t underrun, stretched; /* the jitter buffer ran dry, deepened */
	/* Missing frames of the caller's audio the agent heard filled in
	 * by packet loss concealment (a lost packet, or a tick the buffer
	 * had nothing for). */
	uint64_t concealed;
	uint32_t jitter_target_ms; /* the delay it had adapted to, per call */
	/* From a source that may not have the call; from one still proving
	 * itself (packets in sequence) before it has it. */
	uint64_t wrong_source, probation;
	uint64_t unknown_pt, malformed;
	uint64_t dtmf_in, rtcp_in, rtcp_out;
	/* SRTP packets refused: authentication failed (damaged, forged,
	 * another key), replayed, or otherwise (too short, too many SSRCs). */
	uint64_t srtp_auth_fail, srtp_replay, srtp_other;
};

/* Engine-wide figures, complete once the engine is stopped. */
struct media_totals {
	uint64_t calls;
	struct media_stats stats;
	uint64_t tick_late; /* 20 ms ticks that ran more than a tick late */
	uint64_t residence_count;
	uint32_t residence_p50_us, residence_p99_us, residence_max_us;
};

enum media_event {
	MEDIA_EVENT_FIRST_RTP,
	MEDIA_EVENT_TIMEOUT,
	MEDIA_EVENT_DTMF, /* digits wait in media_session_dtmf_read */
	MEDIA_EVENT_STOPPED,
};

typedef void(media_event_h)(enum media_event ev, void *arg);

/* Starts the media threads; media_engine_close stops them. */
int media_engine_open(struct media_engine **mep,
                      const struct media_engine_params *prm);
/*
 * Stops and joins the media threads, fills t (when not NULL) with the
 * engine's totals, complete once the threads are joined, and lets the
 * engine go. Sessions that outlive it may then only be stopped and freed:
 * no thread runs them any more.
 */
void media_engine_close(struct media_engine *me, struct media_totals *t);

/* Binds an even RTP port, picked at random, and the next odd RTCP port
 * from the range. EADDRINUSE when the range is exhausted. */
int media_session_alloc(struct media_session **msp, struct media_engine *me,
                        media_event_h *evh, void *arg);
uint16_t media_session_port(const struct media_session *ms);
/* Whether prm's addresses can carry a call's media: EADDRNOTAVAIL (with
 * the reason in *why) for multicast, broadcast or reserved ones, and for
 * an unspecified c= (0.0.0.0, ::) except in an update (update = true),
 * where it puts the call on hold, or with await_answer, where there is
 * none yet (such params must then neither send nor receive). An
 * unspecified RTCP address means no reports. */
int media_params_check(const struct media_params *prm, bool update,
                       const char **why);
/* Hands the session to a media thread. The session takes ownership of
 * agent_state: ops->stop runs when the session is freed. EADDRNOTAVAIL
 * when media_params_check refuses prm; EPROTO or ENOMEM when its SRTP
 * keys cannot be set up. */
int media_session_start(struct media_session *ms,
                        const struct media_params *prm,
                        const struct agent_ops *ops, void *agent_state);
/* New parameters (a re-INVITE). New SRTP keys (or SRTP switched on or
 * off) re-key the call: the context is made here and the media thread
 * takes it at its next command. EBUSY while the previous re-key is still
 * under way (the caller may answer the re-INVITE 491 or 500), EPROTO or
 * ENOMEM when the keys cannot be set up. */
int media_session_update(struct media_session *ms,
                         const struct media_params *prm);
/* The ACK of our answer came: the caller is where its SDP says, so media
 * may go there. Before or after the start. */
void media_session_confirm(struct media_session *ms);
/* The agent has the first frame of an utterance (agent.h, audio_ready):
 * the media thread sends it now, not at its next tick. Signalling thread;
 * a session not running on a media thread ignores it. */
void media_session_kick(struct media_session *ms);
/*
 * Ringback, the North American one (440 + 480 Hz, 2 s on, 4 s off), from
 * the next media tick, each from the start of its cadence. Signalling
 * thread, no allocation; before the start it waits for it.
 * media_session_ringback: the room's WebRTC subscribers hear it in place
 * of the call's audio, until it is turned off or the call's first packet
 * (a callee that answers, or its early media) turns it off; a session in
 * no room ignores it. For a call dialled out with play_dialtone.
 * media_session_ringback_caller: the call hears it, under what the agent
 * says, until it is turned off. For a transfer with play_dialtone, which
 * LiveKit plays to the SIP participant.
 */
void media_session_ringback(struct media_session *ms, bool on);
void media_session_ringback_caller(struct media_session *ms, bool on);
/* Hands the call to another agent at the next frame; the one it replaces
 * is stopped on the signalling thread afterwards. Takes ownership of
 * agent_state, also on error. EBUSY while the previous swap is under way. */
int media_session_set_agent(struct media_session *ms,
                            const struct agent_ops *ops, void *agent_state);
/* Copies up to max digits (0-9 * # A-D) received as RFC 4733 events since
 * the last read; returns how many. */
size_t media_session_dtmf_read(struct media_session *ms, char *out, size_t max);
/* Asynchronous: MEDIA_EVENT_STOPPED follows (at once if never started). */
void media_session_stop(struct media_session *ms);
/* The first source the call latched to. Valid from MEDIA_EVENT_FIRST_RTP
 * on. */
const struct sa *media_session_first_rtp_addr(const struct media_session *ms);
/* Valid after MEDIA_EVENT_STOPPED. */
const struct media_stats *media_session_stats(const struct media_session *ms);

/* An address a caller behind NAT puts in its SDP: RFC 1918, shared
 * address space (100.64/10), link-local, IPv6 unique-local (fc00::/7) and
 * link-local (fe80::/10), also IPv4-mapped. Media from such a caller comes
 * from elsewhere (its NAT), so any source may prove itself the caller. */
bool media_addr_private(const struct sa *a);

#endif
