/*
 * Media threads and call sessions.
 *
 * DESIGN. Each media thread runs an epoll loop over its sessions' sockets,
 * an eventfd for commands and a 20 ms periodic timerfd. Commands (add,
 * update, remove) and events back to signalling (first RTP, timeout,
 * stopped) travel as pending bits on the session, linked into a list under
 * a mutex that is taken once per command or event, never per packet.
 *
 * Sockets are plain non-blocking UDP rather than libre's udp_sock because
 * libre allocates an mbuf for every datagram it reads; here a packet is
 * read into a buffer on the thread's stack and copied into the jitter
 * buffer's slot, and the reply is built on the stack too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <netinet/in.h>
#include "media/media.h"
#include "media/g711.h"
#include "media/jitter.h"
#include "media/rtp.h"
#include "core/ring.h"

#define FRAME_MS            20
#define CLOCK_RATE          8000
#define FRAME_SAMPLES       (CLOCK_RATE * FRAME_MS / 1000)
#define PCM_FIFO_SAMPLES    1024
#define RTCP_INTERVAL_MS    5000
#define RX_BUDGET           16 /* datagrams read per socket per wake-up */
#define MAX_DATAGRAM        1500
#define RESIDENCE_BUCKET_US 50
#define RESIDENCE_BUCKETS   10000 /* up to 500 ms */
#define MAX_THREADS         64
/* A source other than the SDP's address has the call only after this many
 * packets in sequence (one SSRC, consecutive numbers): a stray or guessed
 * packet, or a spray of them, never does. */
#define LATCH_RUN 3
/* Sources proving themselves at once: a spray from one address cannot
 * push the caller's run out. */
#define LATCH_CANDIDATES 4
/* In sequence: numbers at most this far apart, so a lost packet or one
 * of a payload type we do not count (comfort noise) does not break it. */
#define LATCH_GAP 4

enum cmd_bits {
	CMD_ADD = 1,
	CMD_UPDATE = 2,
	CMD_REMOVE = 4,
	CMD_AGENT = 8,
	CMD_CONFIRM = 16,
};

enum ev_bits {
	EV_FIRST_RTP = 1,
	EV_TIMEOUT = 2,
	EV_STOPPED = 4,
	EV_DTMF = 8,
	EV_AGENT_SWAPPED = 16,
};

/* Digits waiting for the signalling thread. */
#define DTMF_RING 32

struct media_thread;

/* A source on probation: its run of packets in sequence so far. */
struct latch_candidate {
	struct sa addr;
	uint32_t ssrc;
	uint16_t seq;
	uint8_t run; /* 0 = free slot */
	uint64_t last_us;
};

/* epoll user data: tells a session's RTP socket from its RTCP socket. */
struct fd_tag {
	struct media_session *ms;
	bool rtcp;
};

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

	/* Single producer (media thread), single consumer (signalling). */
	struct ring dtmf;

	/* Owned by the media thread while started; by signalling after
	 * STOPPED. */
	struct media_params prm;
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
	bool talking; /* last tick sent audio: the next spurt has no marker */
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
	bool quit;

	/* Owned by the thread. */
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
	int ev_fd;
	bool ev_listening;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wake(int fd)
{
	uint64_t one = 1;

	/* A full counter already means "wake up"; nothing to do on error. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

static void stats_add(struct media_stats *dst, const struct media_stats *s)
{
	dst->packets_in += s->packets_in;
	dst->packets_out += s->packets_out;
	dst->lost += s->lost;
	dst->late += s->late;
	dst->duplicate += s->duplicate;
	dst->discarded += s->discarded;
	dst->underrun += s->underrun;
	dst->stretched += s->stretched;
	dst->wrong_source += s->wrong_source;
	dst->probation += s->probation;
	dst->unknown_pt += s->unknown_pt;
	dst->malformed += s->malformed;
	dst->dtmf_in += s->dtmf_in;
	dst->rtcp_in += s->rtcp_in;
	dst->rtcp_out += s->rtcp_out;
}

/* ---- events to the signalling thread ---------------------------------- */

static void event_post(struct media_session *ms, unsigned bit)
{
	struct media_engine *me = ms->me;

	pthread_mutex_lock(&me->ev_lock);
	ms->ev |= bit;
	if (!ms->ev_linked) {
		ms->ev_linked = true;
		ms->ev_next = me->ev_head;
		me->ev_head = ms;
	}
	pthread_mutex_unlock(&me->ev_lock);
	wake(me->ev_fd);
}

static void event_dispatch(int flags, void *arg)
{
	struct media_engine *me = arg;
	struct media_session *list, *next;
	uint64_t n;

	(void)flags;
	if (read(me->ev_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;

	pthread_mutex_lock(&me->ev_lock);
	list = me->ev_head;
	me->ev_head = NULL;
	pthread_mutex_unlock(&me->ev_lock);

	for (struct media_session *ms = list; ms; ms = next) {
		unsigned ev;
		const struct agent_ops *retired_ops;
		void *retired_state;

		/* Unlinked one at a time under the lock: a media thread may
		 * post again for a session further down this list. */
		pthread_mutex_lock(&me->ev_lock);
		next = ms->ev_next;
		ev = ms->ev;
		ms->ev = 0;
		ms->ev_linked = false;
		retired_ops = ms->retired_ops;
		retired_state = ms->retired_state;
		ms->retired_ops = NULL;
		ms->retired_state = NULL;
		pthread_mutex_unlock(&me->ev_lock);

		if (ev & EV_AGENT_SWAPPED) {
			if (retired_ops && retired_state)
				retired_ops->stop(retired_state);
			ms->swapping = false;
		}
		/* STOPPED is last: the handler may free the session. */
		if (ev & EV_FIRST_RTP)
			ms->evh(MEDIA_EVENT_FIRST_RTP, ms->arg);
		if (ev & EV_DTMF)
			ms->evh(MEDIA_EVENT_DTMF, ms->arg);
		if (ev & EV_TIMEOUT)
			ms->evh(MEDIA_EVENT_TIMEOUT, ms->arg);
		if (ev & EV_STOPPED)
			ms->evh(MEDIA_EVENT_STOPPED, ms->arg);
	}
}

/* ---- addresses -------------------------------------------------------- */

/* The IPv4 address in a (host order), also when a holds it IPv4-mapped. */
static bool ipv4_of(const struct sa *a, uint32_t *v4)
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

static bool same_host(const struct sa *a, const struct sa *b)
{
	uint32_t x, y;
	uint8_t x6[16], y6[16];
	bool v4a = ipv4_of(a, &x), v4b = ipv4_of(b, &y);

	if (v4a || v4b)
		return v4a && v4b && x == y;
	if (sa_af(a) != AF_INET6 || sa_af(b) != AF_INET6)
		return false;
	sa_in6(a, x6);
	sa_in6(b, y6);
	return !memcmp(x6, y6, sizeof(x6));
}

static bool same_addr(const struct sa *a, const struct sa *b)
{
	return sa_port(a) == sa_port(b) && same_host(a, b);
}

bool media_addr_private(const struct sa *a)
{
	uint32_t v;
	uint8_t b[16];

	if (!a)
		return false;
	if (ipv4_of(a, &v))
		return (v >> 24) == 10 ||                  /* RFC 1918 */
		       (v & 0xfff00000u) == 0xac100000u || /* 172.16/12 */
		       (v & 0xffff0000u) == 0xc0a80000u || /* 192.168/16 */
		       (v & 0xffc00000u) == 0x64400000u || /* 100.64/10 */
		       (v & 0xffff0000u) == 0xa9fe0000u;   /* link-local */
	if (sa_af(a) != AF_INET6)
		return false;
	sa_in6(a, b);
	return (b[0] & 0xfe) == 0xfc ||                 /* fc00::/7 */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80); /* fe80::/10 */
}

/* Why no media may go to a: one that is not a single host (multicast,
 * limited broadcast, the reserved 240/4 and 0/8), or none (unspecified).
 * A subnet's directed broadcast needs SO_BROADCAST, which our sockets do
 * not set: the kernel refuses to send there (EACCES). */
static const char *addr_refusal(const struct sa *a, bool *unspecified)
{
	uint32_t v;
	uint8_t b[16];
	static const uint8_t zero[16];

	*unspecified = false;
	if (ipv4_of(a, &v)) {
		if (!v) {
			*unspecified = true;
			return "unspecified address";
		}
		if ((v >> 24) == 0)
			return "reserved address"; /* "this network", 0/8 */
		if ((v & 0xf0000000u) == 0xe0000000u)
			return "multicast address";
		if ((v & 0xf0000000u) == 0xf0000000u)
			return "broadcast or reserved address";
		return NULL;
	}
	if (sa_af(a) != AF_INET6) {
		*unspecified = true;
		return "no address";
	}
	sa_in6(a, b);
	if (!memcmp(b, zero, sizeof(b))) {
		*unspecified = true;
		return "unspecified address";
	}
	if (b[0] == 0xff)
		return "multicast address";
	return NULL;
}

int media_params_check(const struct media_params *prm, bool update,
                       const char **why)
{
	const char *r;
	bool unspecified;

	if (!prm)
		return EINVAL;
	r = addr_refusal(&prm->raddr, &unspecified);
	/* c=0.0.0.0 puts a call on hold (RFC 2543): nothing is sent there.
	 * The call's first offer or answer must say where the caller is. */
	if (r && !(unspecified && update)) {
		if (why)
			*why = r;
		return EADDRNOTAVAIL;
	}
	/* No RTCP address (or an unspecified one) means no reports. */
	r = addr_refusal(&prm->raddr_rtcp, &unspecified);
	if (r && !unspecified) {
		if (why)
			*why = r;
		return EADDRNOTAVAIL;
	}
	return 0;
}

/* ---- receive path ----------------------------------------------------- */

/* RFC 3550 A.1: extended highest sequence number and cycle count. */
static void seq_update(struct media_session *ms, uint16_t seq, uint32_t ssrc)
{
	if (!ms->have_remote || ssrc != ms->remote_ssrc) {
		ms->have_remote = true;
		ms->remote_ssrc = ssrc;
		ms->max_seq = seq;
		ms->cycles = 0;
		ms->base_seq = seq;
		ms->received = 0;
		ms->expected_prior = 0;
		ms->received_prior = 0;
		ms->transit = 0;
		ms->jitter = 0;
		jitter_reset(ms->jb);
	} else {
		uint16_t delta = (uint16_t)(seq - ms->max_seq);

		if (delta < 0x8000) {
			if (seq < ms->max_seq)
				ms->cycles += 0x10000;
			ms->max_seq = seq;
		}
	}
	ms->received++;
}

static void jitter_update(struct media_session *ms, uint32_t ts,
                          uint64_t arrival_us)
{
	int64_t arrival = (int64_t)(arrival_us * CLOCK_RATE / 1000000u);
	int64_t transit = arrival - (int64_t)ts;
	int64_t d;

	if (ms->transit) {
		d = transit - ms->transit;
		if (d < 0)
			d = -d;
		ms->jitter += ((double)d - ms->jitter) / 16.0;
	}
	ms->transit = transit;
}

/* Which candidate slot a new source takes: a free one, else the one with
 * the shortest run, else the one heard from longest ago. */
static bool better_victim(const struct latch_candidate *a,
                          const struct latch_candidate *b)
{
	if (a->run != b->run)
		return a->run < b->run;
	return a->last_us < b->last_us;
}

/* Counts src's packet in its run; true once the run is long enough. */
static bool candidate_run(struct media_session *ms, const struct sa *src,
                          uint16_t seq, uint32_t ssrc, uint64_t t)
{
	struct latch_candidate *c = NULL, *victim = &ms->cand[0];

	for (size_t i = 0; i < LATCH_CANDIDATES; i++) {
		struct latch_candidate *k = &ms->cand[i];

		if (k->run && same_addr(&k->addr, src)) {
			c = k;
			break;
		}
		if (better_victim(k, victim))
			victim = k;
	}
	if (c && c->ssrc == ssrc &&
	    (unsigned)(uint16_t)(seq - c->seq) - 1u < LATCH_GAP) {
		if (c->run < LATCH_RUN)
			c->run++;
	} else {
		if (!c)
			c = victim;
		c->addr = *src;
		c->ssrc = ssrc;
		c->run = 1;
	}
	c->seq = seq;
	c->last_us = t;
	return c->run >= LATCH_RUN;
}

/*
 * Whether RTP from src is the caller's. The SDP's address is trusted at
 * once: media goes there anyway, and its packet takes the call back from
 * any other source. Another source may have the call only where the SDP
 * allows it: the same host on another port (a NAT that rewrote the port),
 * any host when the SDP's address is private (the caller is behind a NAT
 * and does not know its public address). Even then it needs LATCH_RUN
 * packets in sequence first, and no source may have the call already.
 */
static bool rtp_source_ok(struct media_session *ms, const struct sa *src,
                          uint16_t seq, uint32_t ssrc, uint64_t t)
{
	if (ms->latched && same_addr(src, &ms->peer))
		return true;
	if (!same_addr(src, &ms->prm.raddr)) {
		if (ms->latched ||
		    !(ms->raddr_private || same_host(src, &ms->prm.raddr))) {
			ms->stats.wrong_source++;
			return false;
		}
		if (!candidate_run(ms, src, seq, ssrc, t)) {
			ms->stats.probation++;
			return false;
		}
	} else {
		ms->cleared = true;
	}
	ms->latched = true;
	ms->peer = *src;
	memset(ms->cand, 0, sizeof(ms->cand));
	if (!sa_isset(&ms->first_rtp, SA_ADDR)) {
		ms->first_rtp = *src;
		event_post(ms, EV_FIRST_RTP);
	}
	return true;
}

/* RTCP carries no sequence: a report is the caller's when it comes from
 * the SDP's RTCP address, or else from the caller's host (the SDP's, or
 * the one its RTP has the call from) while no source has the RTCP. */
static bool rtcp_source_ok(struct media_session *ms, const struct sa *src)
{
	if (ms->rtcp_latched && same_addr(src, &ms->peer_rtcp))
		return true;
	if (!same_addr(src, &ms->prm.raddr_rtcp)) {
		bool host = same_host(src, &ms->prm.raddr_rtcp) ||
		            same_host(src, &ms->prm.raddr) ||
		            (ms->latched && same_host(src, &ms->peer));

		if (ms->rtcp_latched || !host) {
			ms->stats.wrong_source++;
			return false;
		}
	}
	ms->rtcp_latched = true;
	ms->peer_rtcp = *src;
	return true;
}

static bool is_dtmf(const struct media_session *ms, uint8_t pt)
{
	return ms->prm.dtmf_pt >= 0 && pt == ms->prm.dtmf_pt;
}

static bool known_pt(const struct media_session *ms, uint8_t pt)
{
	return pt == MEDIA_PT_PCMU || pt == MEDIA_PT_PCMA || is_dtmf(ms, pt);
}

/*
 * RFC 4733: an event is sent as a run of packets sharing one timestamp,
 * its end repeated three times. A digit is reported on the first packet
 * of a new timestamp, so a lost start or end still yields it once.
 */
static void dtmf_input(struct media_session *ms, uint32_t ts, const uint8_t *p,
                       size_t len)
{
	static const char digits[] = "0123456789*#ABCD";

	if (len < 4 || p[0] >= sizeof(digits) - 1)
		return;
	if (ms->dtmf_seen && ts == ms->dtmf_ts)
		return;
	ms->dtmf_seen = true;
	ms->dtmf_ts = ts;
	if (ring_write(&ms->dtmf, &digits[p[0]], 1))
		return;
	event_post(ms, EV_DTMF);
}

static void rtp_input(struct media_session *ms, const uint8_t *b, size_t len,
                      const struct sa *src, uint64_t t)
{
	struct rtp_packet h;
	size_t off, end;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts, ssrc;
	int err = rtp_parse(b, len, &h);

	/* RFC 5761: RTCP multiplexed on the RTP port. */
	if (err == EPROTO) {
		ms->stats.rtcp_in++;
		return;
	}
	if (err) {
		ms->stats.malformed++;
		return;
	}
	off = h.off;
	end = h.end;
	pt = h.pt;
	if (!known_pt(ms, pt)) {
		ms->stats.unknown_pt++;
		return;
	}
	seq = h.seq;
	ts = h.ts;
	ssrc = h.ssrc;
	if (!rtp_source_ok(ms, src, seq, ssrc, t))
		return;

	ms->stats.packets_in++;
	ms->last_rx_us = t;
	ms->timeout_sent = false;
	seq_update(ms, seq, ssrc);
	jitter_update(ms, ts, t);
	if (is_dtmf(ms, pt)) {
		ms->stats.dtmf_in++;
		dtmf_input(ms, ts, b + off, end - off);
	}
	if (!ms->prm.recv)
		return;
	/* Telephone-events share the audio's sequence numbers: they pass
	 * through the jitter buffer as empty packets, or their numbers
	 * would be counted as lost audio. */
	if (is_dtmf(ms, pt))
		end = off;
	switch (jitter_put(ms->jb, seq, ts, (uint32_t)(end - off), pt, t,
	                   b + off, end - off)) {
	case JITTER_PUT_OK:
		break;
	case JITTER_PUT_DUPLICATE:
		ms->stats.duplicate++;
		break;
	case JITTER_PUT_LATE:
		ms->stats.late++;
		break;
	case JITTER_PUT_TOO_LARGE:
		ms->stats.malformed++;
		break;
	}
}

static void rtcp_input(struct media_session *ms, const uint8_t *b, size_t len,
                       const struct sa *src, uint64_t t)
{
	struct rtcp_packet h;

	if (rtcp_parse(b, len, &h)) {
		ms->stats.malformed++;
		return;
	}
	ms->stats.rtcp_in++;
	if (!rtcp_source_ok(ms, src))
		return;
	/* An SR's NTP time is echoed in our next report (LSR/DLSR). */
	if (h.sr) {
		ms->last_sr_ntp = h.sr_ntp;
		ms->last_sr_us = t;
	}
}

static void socket_readable(struct media_session *ms, bool rtcp)
{
	uint8_t buf[MAX_DATAGRAM];
	int fd = rtcp ? ms->rtcp_fd : ms->rtp_fd;

	for (int i = 0; i < RX_BUDGET; i++) {
		struct sa src;
		ssize_t n;

		sa_init(&src, AF_UNSPEC);
		src.len = sizeof(src.u);
		n = recvfrom(fd, buf, sizeof(buf), 0, &src.u.sa, &src.len);
		if (n < 0)
			break;
		if (rtcp)
			rtcp_input(ms, buf, (size_t)n, &src, now_us());
		else
			rtp_input(ms, buf, (size_t)n, &src, now_us());
	}
}

/* ---- the 20 ms tick --------------------------------------------------- */

static void decode_into_fifo(struct media_session *ms,
                             const struct jitter_frame *f)
{
	size_t room = PCM_FIFO_SAMPLES - ms->fifo_len;
	size_t n = f->len < room ? f->len : room;

	if (f->pt == MEDIA_PT_PCMA)
		g711_alaw_decode(ms->fifo + ms->fifo_len, f->payload, n);
	else
		g711_ulaw_decode(ms->fifo + ms->fifo_len, f->payload, n);
	ms->fifo_len += n;
}

/* Fills the fifo with at least one frame from the jitter buffer, or
 * returns false when there is no audio to hear this tick. */
static bool pull_frame(struct media_session *ms)
{
	struct jitter_frame f;

	while (ms->fifo_len < FRAME_SAMPLES) {
		switch (jitter_get(ms->jb, &f)) {
		case JITTER_GET_FRAME:
			if (!f.len)
				break;
			decode_into_fifo(ms, &f);
			ms->fifo_arrival_us = f.arrival_us;
			break;
		case JITTER_GET_LOST: {
			size_t room = PCM_FIFO_SAMPLES - ms->fifo_len;
			size_t n = f.samples < room ? f.samples : room;

			/* Silence conceals a lost packet; the agent
			 * hears a gap, not stale audio. */
			memset(ms->fifo + ms->fifo_len, 0, n * sizeof(int16_t));
			ms->fifo_len += n;
			if (!n)
				return false;
			break;
		}
		case JITTER_GET_EMPTY:
			return false;
		}
	}
	return true;
}

static void fifo_consume(struct media_session *ms, size_t n)
{
	ms->fifo_len -= n;
	memmove(ms->fifo, ms->fifo + n, ms->fifo_len * sizeof(int16_t));
}

static void send_rtp(struct media_session *ms, const int16_t *pcm)
{
	uint8_t pkt[12 + FRAME_SAMPLES];

	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((ms->talking ? 0 : 0x80) | ms->prm.send_pt);
	put_be16(pkt + 2, ms->seq);
	put_be32(pkt + 4, ms->ts);
	put_be32(pkt + 8, ms->ssrc);
	if (ms->prm.send_pt == MEDIA_PT_PCMA)
		g711_alaw_encode(pkt + 12, pcm, FRAME_SAMPLES);
	else
		g711_ulaw_encode(pkt + 12, pcm, FRAME_SAMPLES);

	if (sendto(ms->rtp_fd, pkt, sizeof(pkt), MSG_DONTWAIT, &ms->peer.u.sa,
	           ms->peer.len) < 0)
		return;
	ms->seq++;
	ms->stats.packets_out++;
	ms->sent_since_rtcp++;
	ms->octets_out += FRAME_SAMPLES;
}

static uint64_t ntp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + 2208988800u) << 32 |
	       (uint64_t)(((double)ts.tv_nsec / 1e9) * 4294967296.0);
}

/* A compound report: SR (or RR when we sent nothing) with one report
 * block about the caller, then SDES with our CNAME. */
static void send_rtcp(struct media_session *ms, uint64_t t)
{
	uint8_t p[128];
	size_t off = 0;
	bool sr = ms->sent_since_rtcp > 0;
	unsigned rc = ms->have_remote ? 1 : 0;
	char cname[24];
	size_t cl, sdes_len;

	p[off++] = (uint8_t)(0x80 | rc);
	p[off++] = sr ? 200 : 201;
	off += 2; /* length, below */
	put_be32(p + off, ms->ssrc);
	off += 4;
	if (sr) {
		uint64_t ntp = ntp_now();
		put_be32(p + off, (uint32_t)(ntp >> 32));
		put_be32(p + off + 4, (uint32_t)ntp);
		put_be32(p + off + 8, ms->ts);
		put_be32(p + off + 12, (uint32_t)ms->stats.packets_out);
		put_be32(p + off + 16, (uint32_t)ms->octets_out);
		off += 20;
	}
	if (rc) {
		uint32_t ext_max = ms->cycles + ms->max_seq;
		uint32_t expected = ext_max - ms->base_seq + 1;
		int64_t lost = (int64_t)expected - (int64_t)ms->received;
		uint32_t exp_int = expected - ms->expected_prior;
		uint32_t rec_int = (uint32_t)ms->received - ms->received_prior;
		int64_t lost_int = (int64_t)exp_int - (int64_t)rec_int;
		uint8_t fraction = 0;
		uint32_t dlsr = 0;

		if (exp_int && lost_int > 0)
			fraction = (uint8_t)((lost_int << 8) / exp_int);
		ms->expected_prior = expected;
		ms->received_prior = (uint32_t)ms->received;
		if (lost > 0x7fffff)
			lost = 0x7fffff;
		if (lost < -0x800000)
			lost = -0x800000;
		if (ms->last_sr_us)
			dlsr =
			    (uint32_t)((t - ms->last_sr_us) * 65536 / 1000000u);

		put_be32(p + off, ms->remote_ssrc);
		put_be32(p + off + 4, (uint32_t)fraction << 24 |
		                          ((uint32_t)lost & 0xffffff));
		put_be32(p + off + 8, ext_max);
		put_be32(p + off + 12, (uint32_t)ms->jitter);
		put_be32(p + off + 16, ms->last_sr_ntp);
		put_be32(p + off + 20, dlsr);
		off += 24;
	}
	put_be16(p + 2, (uint16_t)(off / 4 - 1));

	cl = (size_t)snprintf(cname, sizeof(cname), "voxgate-%08x", ms->ssrc);
	sdes_len = 4 + 4 + 2 + cl + 1; /* header, ssrc, item, end */
	sdes_len = (sdes_len + 3) & ~(size_t)3;
	memset(p + off, 0, sdes_len);
	p[off] = 0x81;
	p[off + 1] = 202;
	put_be16(p + off + 2, (uint16_t)(sdes_len / 4 - 1));
	put_be32(p + off + 4, ms->ssrc);
	p[off + 8] = 1; /* CNAME */
	p[off + 9] = (uint8_t)cl;
	memcpy(p + off + 10, cname, cl);
	off += sdes_len;

	ms->sent_since_rtcp = 0;
	if (sendto(ms->rtcp_fd, p, off, MSG_DONTWAIT, &ms->peer_rtcp.u.sa,
	           ms->peer_rtcp.len) >= 0)
		ms->stats.rtcp_out++;
}

static void residence_add(struct media_thread *mt, uint64_t us)
{
	uint64_t b = us / RESIDENCE_BUCKET_US;

	mt->residence[b < RESIDENCE_BUCKETS ? b : RESIDENCE_BUCKETS - 1]++;
}

static void session_tick(struct media_thread *mt, struct media_session *ms,
                         uint64_t t)
{
	const struct agent_ops *ops = ms->ops;
	int16_t out[FRAME_SAMPLES];
	size_t n;
	bool heard = false;

	if (ms->prm.recv && !ms->timeout_sent &&
	    t - ms->last_rx_us >
	        (uint64_t)mt->me->prm.media_timeout_ms * 1000) {
		ms->timeout_sent = true;
		event_post(ms, EV_TIMEOUT);
	}
	/* Until the caller shows it is where the SDP says, the INVITE may
	 * have been forged to make us stream at someone else: send nothing,
	 * and let the agent wait, so a greeting starts from its beginning. */
	if (!ms->cleared) {
		ms->ts += FRAME_SAMPLES;
		return;
	}

	if (pull_frame(ms)) {
		ops->audio_in(ms->agent_state, ms->fifo, FRAME_SAMPLES,
		              ms->fifo_arrival_us);
		fifo_consume(ms, FRAME_SAMPLES);
		heard = true;
	} else {
		ops->audio_in(ms->agent_state, NULL, FRAME_SAMPLES, t);
	}

	n = ops->audio_out(ms->agent_state, out, FRAME_SAMPLES);
	if (n && ms->prm.send && sa_isset(&ms->peer, SA_ALL)) {
		if (n < FRAME_SAMPLES)
			memset(out + n, 0, (FRAME_SAMPLES - n) * sizeof(*out));
		send_rtp(ms, out);
		if (heard)
			residence_add(mt, now_us() - ms->fifo_arrival_us);
		ms->talking = true;
	} else {
		ms->talking = false;
	}
	/* The clock runs on through silence (RFC 3550 5.1). */
	ms->ts += FRAME_SAMPLES;

	if (t >= ms->next_rtcp_us) {
		ms->next_rtcp_us = t + RTCP_INTERVAL_MS * 1000u;
		if (sa_isset(&ms->peer_rtcp, SA_ALL))
			send_rtcp(ms, t);
	}
}

/* ---- commands from signalling ----------------------------------------- */

static void apply_params(struct media_session *ms,
                         const struct media_params *prm)
{
	bool moved = !sa_cmp(&prm->raddr, &ms->prm.raddr, SA_ALL);

	ms->prm = *prm;
	ms->raddr_private = media_addr_private(&prm->raddr);
	/* A new address in the SDP (re-INVITE) means the caller moved:
	 * send there and latch again on what arrives. */
	if (moved || !ms->latched) {
		ms->latched = false;
		ms->peer = prm->raddr;
		memset(ms->cand, 0, sizeof(ms->cand));
	}
	if (moved || !ms->rtcp_latched) {
		ms->rtcp_latched = false;
		ms->peer_rtcp = prm->raddr_rtcp;
	}
	if (!prm->recv) {
		jitter_reset(ms->jb);
		ms->fifo_len = 0;
	}
	ms->last_rx_us = now_us();
	ms->timeout_sent = false;
}

static int thread_add(struct media_thread *mt, struct media_session *ms)
{
	struct epoll_event ev = {.events = EPOLLIN};

	if (mt->nsessions == mt->cap) {
		size_t cap = mt->cap ? mt->cap * 2 : 64;
		struct media_session **s =
		    realloc(mt->sessions, cap * sizeof(*s));
		if (!s)
			return ENOMEM;
		mt->sessions = s;
		mt->cap = cap;
	}
	ev.data.ptr = &ms->rtp_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, ms->rtp_fd, &ev))
		return errno;
	ev.data.ptr = &ms->rtcp_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, ms->rtcp_fd, &ev)) {
		int err = errno;
		epoll_ctl(mt->epfd, EPOLL_CTL_DEL, ms->rtp_fd, NULL);
		return err;
	}
	ms->index = mt->nsessions;
	mt->sessions[mt->nsessions++] = ms;
	ms->next_rtcp_us = now_us() + RTCP_INTERVAL_MS * 1000u;
	mt->calls++;
	return 0;
}

static void thread_remove(struct media_thread *mt, struct media_session *ms)
{
	size_t i = ms->index;

	if (i >= mt->nsessions || mt->sessions[i] != ms)
		return;
	epoll_ctl(mt->epfd, EPOLL_CTL_DEL, ms->rtp_fd, NULL);
	epoll_ctl(mt->epfd, EPOLL_CTL_DEL, ms->rtcp_fd, NULL);
	mt->sessions[i] = mt->sessions[--mt->nsessions];
	mt->sessions[i]->index = i;

	const struct jitter_stats *js = jitter_stats(ms->jb);
	ms->stats.lost = js->lost;
	ms->stats.discarded = js->discarded;
	ms->stats.underrun = js->underrun;
	ms->stats.stretched = js->stretched;
	ms->stats.jitter_target_ms =
	    jitter_target(ms->jb) / (CLOCK_RATE / 1000);
	stats_add(&mt->totals, &ms->stats);
}

static void run_commands(struct media_thread *mt)
{
	struct media_session *list, *next;
	bool quit;

	pthread_mutex_lock(&mt->lock);
	list = mt->cmd_head;
	mt->cmd_head = NULL;
	quit = mt->quit;
	pthread_mutex_unlock(&mt->lock);

	for (struct media_session *ms = list; ms; ms = next) {
		unsigned cmd;
		struct media_params prm;
		const struct agent_ops *ops;
		void *state;

		pthread_mutex_lock(&mt->lock);
		next = ms->cmd_next;
		ms->cmd_linked = false;
		cmd = ms->cmd;
		ms->cmd = 0;
		prm = ms->pending;
		ops = ms->pending_ops;
		state = ms->pending_state;
		ms->pending_ops = NULL;
		ms->pending_state = NULL;
		pthread_mutex_unlock(&mt->lock);

		if (cmd & CMD_AGENT) {
			pthread_mutex_lock(&ms->me->ev_lock);
			ms->retired_ops = ms->ops;
			ms->retired_state = ms->agent_state;
			pthread_mutex_unlock(&ms->me->ev_lock);
			ms->ops = ops;
			ms->agent_state = state;
			event_post(ms, EV_AGENT_SWAPPED);
		}

		if (cmd & CMD_ADD) {
			apply_params(ms, &prm);
			/* A call whose sockets cannot be polled would
			 * be silent: end it as a media timeout. */
			if (thread_add(mt, ms))
				event_post(ms, EV_TIMEOUT);
		} else if (cmd & CMD_UPDATE) {
			apply_params(ms, &prm);
		}
		if (cmd & CMD_CONFIRM)
			ms->cleared = true;
		if (cmd & CMD_REMOVE) {
			thread_remove(mt, ms);
			atomic_fetch_sub(&mt->load, 1);
			event_post(ms, EV_STOPPED);
		}
	}
	if (quit)
		mt->running = false;
}

static void *thread_main(void *arg)
{
	struct media_thread *mt = arg;
	struct epoll_event evs[256];

	while (mt->running) {
		int n = epoll_wait(mt->epfd, evs, 256, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		bool commands = false;

		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;

			if (tag == &mt->timer_tag) {
				uint64_t exp = 0, t;

				if (read(mt->timerfd, &exp, sizeof(exp)) < 0)
					continue;
				if (exp > 1)
					mt->tick_late += exp - 1;
				t = now_us();
				for (size_t k = 0; k < mt->nsessions; k++)
					session_tick(mt, mt->sessions[k], t);
			} else if (tag == &mt->wake_tag) {
				uint64_t v;
				if (read(mt->wakefd, &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					continue;
				commands = true;
			} else {
				struct fd_tag *ft = tag;
				socket_readable(ft->ms, ft->rtcp);
			}
		}
		/* After the batch: a command may remove a session, which the
		 * signalling thread then frees, and a later event of the same
		 * batch may still name one of its sockets. */
		if (commands)
			run_commands(mt);
	}
	return NULL;
}

static void post_command(struct media_session *ms, unsigned cmd,
                         const struct media_params *prm)
{
	struct media_thread *mt = ms->mt;

	pthread_mutex_lock(&mt->lock);
	ms->cmd |= cmd;
	if (prm)
		ms->pending = *prm;
	if (!ms->cmd_linked) {
		ms->cmd_linked = true;
		ms->cmd_next = mt->cmd_head;
		mt->cmd_head = ms;
	}
	pthread_mutex_unlock(&mt->lock);
	wake(mt->wakefd);
}

/* ---- engine ----------------------------------------------------------- */

static void thread_stop(struct media_thread *mt)
{
	if (!mt->joinable)
		return;
	pthread_mutex_lock(&mt->lock);
	mt->quit = true;
	pthread_mutex_unlock(&mt->lock);
	wake(mt->wakefd);
	pthread_join(mt->tid, NULL);
	mt->joinable = false;
}

static void thread_close(struct media_thread *mt)
{
	thread_stop(mt);
	if (mt->epfd >= 0)
		close(mt->epfd);
	if (mt->wakefd >= 0)
		close(mt->wakefd);
	if (mt->timerfd >= 0)
		close(mt->timerfd);
	pthread_mutex_destroy(&mt->lock);
	free(mt->sessions);
	free(mt->residence);
}

static int thread_open(struct media_thread *mt, struct media_engine *me)
{
	struct itimerspec its = {
	    .it_interval = {.tv_nsec = FRAME_MS * 1000000L},
	    .it_value = {.tv_nsec = FRAME_MS * 1000000L},
	};
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	mt->me = me;
	mt->epfd = mt->wakefd = mt->timerfd = -1;
	pthread_mutex_init(&mt->lock, NULL);
	mt->residence = calloc(RESIDENCE_BUCKETS, sizeof(*mt->residence));
	if (!mt->residence)
		return ENOMEM;
	mt->epfd = epoll_create1(EPOLL_CLOEXEC);
	mt->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	mt->timerfd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (mt->epfd < 0 || mt->wakefd < 0 || mt->timerfd < 0)
		return errno;
	if (timerfd_settime(mt->timerfd, 0, &its, NULL))
		return errno;
	ev.data.ptr = &mt->wake_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, mt->wakefd, &ev))
		return errno;
	ev.data.ptr = &mt->timer_tag;
	if (epoll_ctl(mt->epfd, EPOLL_CTL_ADD, mt->timerfd, &ev))
		return errno;
	mt->running = true;
	err = pthread_create(&mt->tid, NULL, thread_main, mt);
	mt->joinable = !err;
	return err;
}

static void engine_destructor(void *arg)
{
	struct media_engine *me = arg;

	for (unsigned i = 0; i < me->nthreads; i++)
		thread_close(&me->threads[i]);
	if (me->ev_listening)
		fd_close(me->ev_fd);
	if (me->ev_fd >= 0)
		close(me->ev_fd);
	pthread_mutex_destroy(&me->ev_lock);
}

int media_engine_alloc(struct media_engine **mep,
                       const struct media_engine_params *prm)
{
	struct media_engine *me;
	unsigned nthreads;
	long cpus;
	int err = 0;

	if (!mep || !prm || prm->port_min >= prm->port_max)
		return EINVAL;
	me = mem_zalloc(sizeof(*me), engine_destructor);
	if (!me)
		return ENOMEM;
	me->prm = *prm;
	me->ev_fd = -1;
	pthread_mutex_init(&me->ev_lock, NULL);

	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads =
	    prm->threads ? prm->threads : (unsigned)(cpus > 0 ? cpus : 1);
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;

	me->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (me->ev_fd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(me->ev_fd, FD_READ, event_dispatch, me);
	if (err)
		goto out;
	me->ev_listening = true;

	for (unsigned i = 0; i < nthreads; i++) {
		/* Counted before opening: a half-opened thread is closed by
		 * the destructor too. */
		me->nthreads = i + 1;
		err = thread_open(&me->threads[i], me);
		if (err)
			goto out;
	}
out:
	if (err)
		mem_deref(me);
	else
		*mep = me;
	return err;
}

void media_engine_stop(struct media_engine *me)
{
	if (!me)
		return;
	for (unsigned i = 0; i < me->nthreads; i++)
		thread_stop(&me->threads[i]);
}

void media_engine_totals(const struct media_engine *me, struct media_totals *t)
{
	uint64_t total = 0, seen = 0;
	uint64_t p50 = 0, p99 = 0, max = 0;
	bool have50 = false, have99 = false;

	memset(t, 0, sizeof(*t));
	if (!me)
		return;
	for (unsigned i = 0; i < me->nthreads; i++) {
		const struct media_thread *mt = &me->threads[i];

		t->calls += mt->calls;
		t->tick_late += mt->tick_late;
		stats_add(&t->stats, &mt->totals);
		for (size_t b = 0; mt->residence && b < RESIDENCE_BUCKETS; b++)
			total += mt->residence[b];
	}
	t->residence_count = total;
	for (size_t b = 0; total && b < RESIDENCE_BUCKETS; b++) {
		uint64_t c = 0;

		for (unsigned i = 0; i < me->nthreads; i++)
			c += me->threads[i].residence[b];
		if (!c)
			continue;
		seen += c;
		max = b;
		if (!have50 && seen * 2 >= total) {
			p50 = b;
			have50 = true;
		}
		if (!have99 && seen * 100 >= total * 99) {
			p99 = b;
			have99 = true;
		}
	}
	/* A bucket is reported by its upper edge. */
	t->residence_p50_us = (uint32_t)((p50 + 1) * RESIDENCE_BUCKET_US);
	t->residence_p99_us = (uint32_t)((p99 + 1) * RESIDENCE_BUCKET_US);
	t->residence_max_us = (uint32_t)((max + 1) * RESIDENCE_BUCKET_US);
	if (!total)
		t->residence_p50_us = t->residence_p99_us =
		    t->residence_max_us = 0;
}

/* ---- sessions --------------------------------------------------------- */

static void session_destructor(void *arg)
{
	struct media_session *ms = arg;

	if (ms->ops && ms->agent_state)
		ms->ops->stop(ms->agent_state);
	if (ms->retired_ops && ms->retired_state)
		ms->retired_ops->stop(ms->retired_state);
	if (ms->pending_ops && ms->pending_state)
		ms->pending_ops->stop(ms->pending_state);
	if (ms->rtp_fd >= 0)
		close(ms->rtp_fd);
	if (ms->rtcp_fd >= 0)
		close(ms->rtcp_fd);
	jitter_free(ms->jb);
	ring_destroy(&ms->dtmf);
}

static int bind_udp(const struct sa *laddr, uint16_t port, int *fdp)
{
	struct sa a = *laddr;
	int fd;

	sa_set_port(&a, port);
	fd = socket(sa_af(&a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (bind(fd, &a.u.sa, a.len)) {
		int err = errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

/* Binds a pair at random in the range: the port of one call tells nothing
 * of the next one's, and a guess at a call's port rarely hits. */
static int bind_pair(struct media_engine *me, struct media_session *ms)
{
	unsigned first = (me->prm.port_min + 1u) & ~1u;
	unsigned pairs, start;

	if (first + 1u > me->prm.port_max)
		return EADDRINUSE;
	pairs = (me->prm.port_max - first - 1u) / 2 + 1;
	start = rand_u32() % pairs;

	for (unsigned i = 0; i < pairs; i++) {
		uint16_t port = (uint16_t)(first + 2 * ((start + i) % pairs));
		int err;

		err = bind_udp(&me->prm.bind, port, &ms->rtp_fd);
		if (err == EADDRINUSE || err == EACCES)
			continue;
		if (err)
			return err;
		err =
		    bind_udp(&me->prm.bind, (uint16_t)(port + 1), &ms->rtcp_fd);
		if (err) {
			close(ms->rtp_fd);
			ms->rtp_fd = -1;
			if (err == EADDRINUSE || err == EACCES)
				continue;
			return err;
		}
		ms->port = port;
		return 0;
	}
	return EADDRINUSE;
}

int media_session_alloc(struct media_session **msp, struct media_engine *me,
                        media_event_h *evh, void *arg)
{
	struct media_session *ms;
	int err;

	if (!msp || !me || !evh)
		return EINVAL;
	ms = mem_zalloc(sizeof(*ms), session_destructor);
	if (!ms)
		return ENOMEM;
	ms->me = me;
	ms->evh = evh;
	ms->arg = arg;
	ms->rtp_fd = ms->rtcp_fd = -1;
	ms->rtp_tag = (struct fd_tag){ms, false};
	ms->rtcp_tag = (struct fd_tag){ms, true};
	sa_init(&ms->first_rtp, AF_UNSPEC);
	sa_init(&ms->peer, AF_UNSPEC);
	sa_init(&ms->peer_rtcp, AF_UNSPEC);
	ms->ssrc = rand_u32();
	ms->seq = rand_u16();
	ms->ts = rand_u32();

	err = ring_init(&ms->dtmf, DTMF_RING);
	if (err)
		goto out;
	err = jitter_alloc(&ms->jb, CLOCK_RATE, me->prm.jitter_min_ms,
	                   me->prm.jitter_max_ms);
	if (err)
		goto out;
	err = bind_pair(me, ms);
out:
	if (err)
		mem_deref(ms);
	else
		*msp = ms;
	return err;
}

uint16_t media_session_port(const struct media_session *ms)
{
	return ms ? ms->port : 0;
}

int media_session_start(struct media_session *ms,
                        const struct media_params *prm,
                        const struct agent_ops *ops, void *agent_state)
{
	struct media_engine *me;
	struct media_thread *least;

	if (!ms || !prm || !ops || ms->started)
		return EINVAL;
	if (media_params_check(prm, false, NULL))
		return EADDRNOTAVAIL;
	me = ms->me;
	least = &me->threads[0];
	for (unsigned i = 1; i < me->nthreads; i++) {
		if (atomic_load(&me->threads[i].load) <
		    atomic_load(&least->load))
			least = &me->threads[i];
	}
	ms->ops = ops;
	ms->agent_state = agent_state;
	ms->mt = least;
	ms->started = true;
	atomic_fetch_add(&least->load, 1);
	post_command(ms, CMD_ADD | (ms->confirm_at_start ? CMD_CONFIRM : 0),
	             prm);
	return 0;
}

int media_session_update(struct media_session *ms,
                         const struct media_params *prm)
{
	if (!ms || !prm || !ms->started)
		return EINVAL;
	if (media_params_check(prm, true, NULL))
		return EADDRNOTAVAIL;
	post_command(ms, CMD_UPDATE, prm);
	return 0;
}

void media_session_confirm(struct media_session *ms)
{
	if (!ms)
		return;
	if (ms->started)
		post_command(ms, CMD_CONFIRM, NULL);
	else
		ms->confirm_at_start = true;
}

void media_session_stop(struct media_session *ms)
{
	if (!ms)
		return;
	if (ms->started)
		post_command(ms, CMD_REMOVE, NULL);
	else
		event_post(ms, EV_STOPPED);
}

int media_session_set_agent(struct media_session *ms,
                            const struct agent_ops *ops, void *agent_state)
{
	struct media_thread *mt;

	if (!ops)
		return EINVAL;
	if (!ms || ms->swapping) {
		if (agent_state)
			ops->stop(agent_state);
		return ms ? EBUSY : EINVAL;
	}
	if (!ms->started) {
		if (ms->ops && ms->agent_state)
			ms->ops->stop(ms->agent_state);
		ms->ops = ops;
		ms->agent_state = agent_state;
		return 0;
	}
	mt = ms->mt;
	pthread_mutex_lock(&mt->lock);
	ms->pending_ops = ops;
	ms->pending_state = agent_state;
	pthread_mutex_unlock(&mt->lock);
	ms->swapping = true;
	post_command(ms, CMD_AGENT, NULL);
	return 0;
}

size_t media_session_dtmf_read(struct media_session *ms, char *out, size_t max)
{
	if (!ms || !out)
		return 0;
	return ring_read(&ms->dtmf, out, max);
}

const struct sa *media_session_first_rtp_addr(const struct media_session *ms)
{
	return ms ? &ms->first_rtp : NULL;
}

const struct media_stats *media_session_stats(const struct media_session *ms)
{
	return ms ? &ms->stats : NULL;
}
