/*
 * The media engine's insides, shared by its files and by no one else:
 *
 *   media.c          the engine and its threads, the commands signalling
 *                    hands a thread and the events a thread hands back
 *   media_session.c  a call's session as the signalling thread drives it,
 *                    and which addresses its media may use
 *   media_rx.c       a media thread's loop and what it reads: RTP and RTCP,
 *                    which source has the call, statistics, DTMF
 *   media_tick.c     the 20 ms tick: audio to and from the agent, RTP and
 *                    RTCP reports out
 *
 * Every struct says which thread owns which of its fields.
 */
#ifndef VOXGATE_MEDIA_MEDIA_INT_H
#define VOXGATE_MEDIA_MEDIA_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <spandsp/telephony.h>
#include <spandsp/plc.h>
#include "core/clock.h"
#include "media/media.h"
#include "media/webrtc.h"
#include "core/ring.h"

#define FRAME_MS            20
#define CLOCK_RATE          8000
#define FRAME_SAMPLES       (CLOCK_RATE * FRAME_MS / 1000)
#define PCM_FIFO_SAMPLES    1024
#define RTCP_INTERVAL_MS    5000
#define RESIDENCE_BUCKET_US 50
#define RESIDENCE_BUCKETS   10000 /* up to 500 ms */
#define MAX_THREADS         64
/* Audio that was due and never came is filled in for at most this long
 * in one run; spandsp's fill-in has faded to silence by then. */
#define PLC_MAX_SAMPLES (3 * FRAME_SAMPLES)
/* Sources proving themselves at once: a spray from one address cannot
 * push the caller's run out. */
#define LATCH_CANDIDATES 4

enum cmd_bits {
	CMD_ADD = 1,
	CMD_UPDATE = 2,
	CMD_REMOVE = 4,
	CMD_AGENT = 8,
	CMD_CONFIRM = 16,
	CMD_KICK = 32,  /* the agent has an utterance's first frame */
	CMD_REKEY = 64, /* srtp_next holds the new SRTP context */
};

enum ev_bits {
	EV_FIRST_RTP = 1,
	EV_TIMEOUT = 2,
	EV_STOPPED = 4,
	EV_DTMF = 8,
	EV_AGENT_SWAPPED = 16,
	EV_REKEYED = 32, /* srtp_next holds the old context, to reset */
};

struct media_thread;

/* A source on probation: its run of packets in sequence so far. */
struct latch_candidate {
	struct sa addr;
	uint32_t ssrc;
	uint16_t seq;
	uint8_t run; /* 0 = free slot */
	uint64_t last_us;
};

/* epoll user data: tells a session's RTP socket from its RTCP socket, or
 * names another reader (a WebRTC peer connection's socket) by io. */
struct fd_tag {
	struct media_session *ms;
	bool rtcp;
	void (*io)(void *arg);
	void *io_arg;
};

/* A function to run on another thread, posted with media_job_post (to a
 * media thread) or media_job_main (to the signalling thread). Jobs run in
 * the order they were posted, so an object's last job (its stop) comes
 * after all the others posted for it. */
typedef void(media_job_h)(void *arg);

struct media_job {
	struct media_job *next;
	media_job_h *h;
	void *arg;
};

struct media_jobq {
	struct media_job *head, *tail;
};

struct media_room;
struct mroom_track;

struct media_session {
	/* Set at creation, read-only afterwards. */
	struct media_engine *me;
	media_event_h *evh;
	void *arg;
	int rtp_fd, rtcp_fd;
	uint16_t port;
	struct fd_tag rtp_tag, rtcp_tag;
	const struct agent_ops *ops;
	void *agent_state;
	struct media_thread *mt;
	bool started;
	bool confirm_at_start; /* the ACK came before the start */

	/* Guarded by mt->lock. */
	unsigned cmd;
	struct media_params pending;
	const struct agent_ops *pending_ops;
	void *pending_state;
	struct media_session *cmd_next;
	bool cmd_linked;

	/* Guarded by me->ev_lock. */
	unsigned ev;
	struct media_session *ev_next;
	bool ev_linked;
	/* The agent a swap replaced, for the signalling thread to stop. */
	const struct agent_ops *retired_ops;
	void *retired_state;

	/* Signalling thread only. */
	bool swapping;
	/* A re-key is under way: srtp_next is the media thread's until
	 * EV_REKEYED. */
	bool rekeying;
	struct media_srtp srtp_keys; /* what srtp is, or will be, keyed with */
	struct media_thread *home;   /* where to start: its room's thread */

	/* RINGBACK_* bits: signalling sets and clears them, the media
	 * thread reads them (and clears RINGBACK_ROOM at the call's first
	 * packet). */
	atomic_uint ringback;

	/* Single producer (media thread), single consumer (signalling). */
	struct ring dtmf;
	/* Keys to send the caller as RFC 4733 events: signalling writes,
	 * the media thread reads. */
	struct ring dtmf_out;
	/* The event being sent (media thread): its code, timestamp, and
	 * how many 20 ms packets of it have gone out; -1 none. */
	int dtmf_code;
	uint32_t dtmf_out_ts;
	unsigned dtmf_sent;

	/* Owned by the media thread while started; by signalling after
	 * STOPPED. */
	struct media_params prm;
	/* SRTP when prm.srtp.on: keyed by the signalling thread before the
	 * start; srtp_next is the spare a re-key is made in and swapped
	 * with (CMD_REKEY), the old one going back to be reset. */
	struct srtpx srtp, srtp_next;
	/* The room whose WebRTC participants hear this call and whom it
	 * hears, and the call's own track in it; NULL when none. */
	struct media_room *room;
	struct mroom_track *track;
	struct jitter *jb;
	size_t index; /* in mt->sessions */
	bool latched, rtcp_latched;
	struct sa peer, peer_rtcp; /* where we send */
	bool raddr_private;        /* the SDP's address is one behind NAT */
	/* The caller showed it is where the SDP says: the ACK came, or its
	 * RTP from the SDP's address. Nothing is sent before. */
	bool cleared;
	struct latch_candidate cand[LATCH_CANDIDATES];
	struct sa first_rtp;
	uint64_t last_rx_us;
	bool timeout_sent;

	uint32_t ssrc, ts;
	uint16_t seq;
	/* Ringback (media thread): the bits of the last tick, where in the
	 * cadence the next frame is, and the RTP clock of the room's copy. */
	unsigned rb_last;
	uint32_t rb_pos, rb_ts;
	uint16_t rb_seq;
	bool talking; /* last tick sent audio: the next spurt has no marker */
	/* The frame of the next tick went out early (media_session_early):
	 * that tick sends nothing and the RTP clock has already moved. */
	bool early;
	/* An unpaced agent (agent_ops.unpaced) last got frames as packets
	 * came. */
	uint64_t unpaced_us;
	uint64_t sent_since_rtcp;
	uint64_t octets_out;
	uint64_t next_rtcp_us;

	bool have_remote;
	uint32_t remote_ssrc;
	uint16_t max_seq;
	uint32_t cycles;
	uint32_t base_seq;
	uint64_t received;
	uint32_t expected_prior, received_prior;
	int64_t transit;
	double jitter;
	uint32_t last_sr_ntp; /* middle 32 bits of the last SR's NTP time */
	uint64_t last_sr_us;
	bool dtmf_seen;
	uint32_t dtmf_ts; /* RTP timestamp of the last event reported */

	/* Packet loss concealment of the caller's audio: fed every frame
	 * heard, it fills in the ones missing. Only once audio was heard,
	 * and not after a telephone-event until audio comes again. */
	plc_state_t plc;
	bool plc_primed;
	uint32_t plc_run; /* samples filled in since the last heard */

	int16_t fifo[PCM_FIFO_SAMPLES];
	size_t fifo_len;
	uint64_t fifo_arrival_us;

	struct media_stats stats;
};

struct media_thread {
	struct media_engine *me;
	pthread_t tid;
	bool joinable; /* owned by the engine's thread */
	bool running;  /* owned by the media thread */
	int epfd, wakefd, timerfd;
	int wake_tag, timer_tag; /* addresses used as epoll tags */
	atomic_uint load;

	pthread_mutex_t lock;
	struct media_session *cmd_head;
	struct media_jobq jobs;
	bool quit;

	/* Owned by the thread. */
	struct list rooms; /* struct media_room, in media_room.c */
	struct list pcs;   /* struct media_pc, in media_pc.c */
	struct media_session **sessions;
	size_t nsessions, cap;
	uint64_t tick_late;
	uint64_t calls;
	struct media_stats totals;
	uint32_t *residence; /* histogram, RESIDENCE_BUCKETS */
};

struct media_engine {
	struct media_engine_params prm;
	unsigned nthreads;
	struct media_thread threads[MAX_THREADS];

	pthread_mutex_t ev_lock;
	struct media_session *ev_head;
	struct media_jobq main_jobs;
	/* Closed: no thread runs any more, so a job runs where it is
	 * posted, on the signalling thread (what is still to let go then
	 * lets go). */
	bool closed;
	int ev_fd;
	bool ev_listening;

	/* Signalling thread only: what stopped connections handed back,
	 * and the connections that have not stopped yet. */
	struct media_pc_totals pc_totals;
	struct list pcs_live;
};

/* The IPv4 address in a (host order), also when a holds it IPv4-mapped. */
static inline bool media_ipv4_of(const struct sa *a, uint32_t *v4)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
	                                   0, 0, 0, 0, 0xff, 0xff};
	uint8_t b[16];

	if (sa_af(a) == AF_INET) {
		*v4 = sa_in(a);
		return true;
	}
	if (sa_af(a) != AF_INET6)
		return false;
	sa_in6(a, b);
	if (memcmp(b, mapped, sizeof(mapped)))
		return false;
	*v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
	      (uint32_t)b[14] << 8 | b[15];
	return true;
}

#define RINGBACK_ROOM   1u
#define RINGBACK_CALLER 2u

/* media.c */

/* Posts an event bit to the signalling thread (first RTP, DTMF, timeout,
 * agent swapped, stopped); it runs the session's handler there. */
void media_event_post(struct media_session *ms, unsigned bit);
/* Posts a command bit (and new parameters) to the session's thread. */
void media_command_post(struct media_session *ms, unsigned cmd,
                        const struct media_params *prm);
/* On the media thread: runs the commands posted since the last call. */
void media_commands_run(struct media_thread *mt);

/* Runs h(arg) on mt after its current batch of packets: ENOMEM, else 0. */
int media_job_post(struct media_thread *mt, media_job_h *h, void *arg);
/* Runs h(arg) on the signalling thread: ENOMEM, else 0. */
int media_job_main(struct media_engine *me, media_job_h *h, void *arg);
/* Binds one UDP port at random in the range (a WebRTC connection's):
 * EADDRINUSE when none is free. */
int media_bind_one(struct media_engine *me, int *fdp, uint16_t *portp);
/* The thread with the fewest sessions and rooms, counted as taken. */
struct media_thread *media_thread_pick(struct media_engine *me);

/* media_tick.c */

/* Builds the ringback's table, once per process; any thread. */
void media_ringback_init(void);

/* media_room.c, on the media thread. */
/* A phone call's packet of audio (PT 0 or 8, already accepted): to the
 * room's subscribers of its track. */
struct rtp_packet;
void mroom_phone_rtp(struct media_session *ms, const struct rtp_packet *h,
                     const uint8_t *payload, size_t len);
/* A frame of ringback to the subscribers of the call's track, in its
 * codec, as a source of its own (the caller's audio runs on after it). */
void mroom_phone_tone(struct media_session *ms, const int16_t *pcm);
/* Adds what the room's WebRTC publishers said this tick into pcm (n
 * samples at 8 kHz); true when there was any. */
bool mroom_mix(struct media_session *ms, int16_t *pcm, size_t n);
/* The thread a room runs on. */
struct media_thread *media_room_thread(const struct media_room *mr);
/* The rooms' work of one tick, before the sessions'. */
void mroom_tick(struct media_thread *mt, uint64_t t);
/* A session leaves its thread: out of its room too. */
void mroom_session_gone(struct media_session *ms);
struct media_pc;
/* A publisher connection's RTP (already unprotected): to the track its
 * SSRC is, forwarded and decoded. */
void mroom_opus_rtp(struct media_room *mr, struct media_pc *pc,
                    const struct rtp_packet *h, const uint8_t *payload,
                    size_t len, uint64_t arrival_us);
/* A connection leaves its thread: no track sends to it or comes from it
 * any more. */
void mroom_pc_gone(struct media_thread *mt, struct media_pc *pc);

/* media_rx.c: a media thread's loop (pthread_create's start routine). */
void *media_thread_main(void *arg);

/* media_tick.c: one 20 ms frame of every session of mt, at time t. */
void media_tick(struct media_thread *mt, uint64_t t);
/* Gives an unpaced agent (agent_ops.unpaced) the caller's frames that
 * are there now: after a packet's arrival and after the tick. */
void media_session_hear(struct media_session *ms);
/* Sends the agent's frame now if one is ready, the call is silent and
 * nothing else shares its next frame (a room's mix, a DTMF event). */
void media_session_early(struct media_thread *mt, struct media_session *ms);

#endif
