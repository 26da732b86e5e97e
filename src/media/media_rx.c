/*
 * What a media thread reads. Its loop lives here, next to the receive path
 * it runs for every datagram, so the compiler makes one function of them:
 * no packet pays for a call from one file into another. The loop hands
 * the 20 ms tick to media_tick.c and the commands to media.c.
 *
 * A packet is read into a buffer on the stack, checked (rtp.c), on an
 * SRTP call authenticated and decrypted there in place (srtpx), counted
 * against the source that may have the call, and copied into the jitter
 * buffer: no allocation, no lock, no blocking.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "core/prio.h"
#include "media/media_int.h"
#include "media/dtmf.h"
#include "media/jitter.h"
#include "media/rtp.h"

#define RX_BUDGET    16 /* datagrams read per socket per wake-up */
#define MAX_DATAGRAM 1500
/* A source other than the SDP's address has the call only after this many
 * packets in sequence (one SSRC, consecutive numbers): a stray or guessed
 * packet, or a spray of them, never does. */
#define LATCH_RUN 3
/* In sequence: numbers at most this far apart, so a lost packet or one
 * of a payload type we do not count (comfort noise) does not break it. */
#define LATCH_GAP 4

/* ---- receive path ----------------------------------------------------- */

static bool same_host(const struct sa *a, const struct sa *b)
{
	/* Zeroed for gcc, which cannot tell they are read only when set. */
	uint32_t x = 0, y = 0;
	uint8_t x6[16], y6[16];
	bool v4a = media_ipv4_of(a, &x), v4b = media_ipv4_of(b, &y);

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
		jitter_restart(ms->jb);
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
 * allows it: any host when the SDP's address is private (the caller is
 * behind a NAT and does not know its public address), and the SDP's own
 * host on another port even when that address is public, because a NAT
 * or SBC on that public host may rewrite the port (a carrier's edge, a
 * home router that keeps the address but not the port) and the call would
 * have no audio if only the SDP's port were taken. Either way it needs
 * LATCH_RUN packets in sequence first, and no source may have the call
 * already.
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
		media_event_post(ms, EV_FIRST_RTP);
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
	char key = len >= 4 ? dtmf_key(p[0]) : '\0';

	if (!key)
		return;
	if (ms->dtmf_seen && ts == ms->dtmf_ts)
		return;
	ms->dtmf_seen = true;
	ms->dtmf_ts = ts;
	if (ring_write(&ms->dtmf, &key, 1))
		return;
	media_event_post(ms, EV_DTMF);
}

static void rtp_input(struct media_session *ms, uint8_t *b, size_t len,
                      const struct sa *src, uint64_t t)
{
	struct rtp_packet h;
	size_t off, end;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts, ssrc;
	int err;

	/* Nobody has answered the call we dialled: no source may have it,
	 * whatever it sends (the answer says where the callee is). */
	if (ms->prm.await_answer) {
		ms->stats.wrong_source++;
		return;
	}
	err = rtp_parse(b, len, &h);
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
	/* After the cheap checks, so garbage costs no HMAC; before the
	 * source's, so a forged packet cannot take the call. A refusal is
	 * counted by the context (srtp_* at the end): no log per packet. */
	if (ms->prm.srtp.on) {
		if (srtpx_unprotect_rtp(&ms->srtp, b, &len))
			return;
		/* The padding count was encrypted: read it now. */
		if (rtp_parse(b, len, &h)) {
			ms->stats.malformed++;
			return;
		}
		off = h.off;
		end = h.end;
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
		/* Re-wrapped for the room's WebRTC subscribers as it came:
		 * their own jitter buffers take it from here. */
		if (ms->track && end > off) {
			/* The callee is heard: its ringback ends. */
			if (atomic_load_explicit(&ms->ringback,
			                         memory_order_relaxed) &
			    RINGBACK_ROOM)
				atomic_fetch_and_explicit(&ms->ringback,
				                          ~RINGBACK_ROOM,
				                          memory_order_relaxed);
			mroom_phone_rtp(ms, &h, b + off, end - off);
		}
		media_session_hear(ms);
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

static void rtcp_input(struct media_session *ms, uint8_t *b, size_t len,
                       const struct sa *src, uint64_t t)
{
	struct rtcp_packet h;

	if (ms->prm.await_answer) {
		ms->stats.wrong_source++;
		return;
	}
	if (rtcp_parse(b, len, &h)) {
		ms->stats.malformed++;
		return;
	}
	/* SRTCP: the first report's header is in the clear, the rest
	 * (an SR's NTP time) is read once decrypted. */
	if (ms->prm.srtp.on && (srtpx_unprotect_rtcp(&ms->srtp, b, &len) ||
	                        rtcp_parse(b, len, &h)))
		return;
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
			rtcp_input(ms, buf, (size_t)n, &src, clock_mono_us());
		else
			rtp_input(ms, buf, (size_t)n, &src, clock_mono_us());
	}
}

/* ---- the thread's loop ------------------------------------------------ */

void *media_thread_main(void *arg)
{
	struct media_thread *mt = arg;
	struct epoll_event evs[256];

	/* The signalling thread was granted the same priority before it
	 * started this one: should this fail all the same, the thread runs
	 * with normal scheduling, as it would with call_priority 0. */
	(void)prio_call_path(mt->me->prm.call_priority, NULL);
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
				uint64_t exp = 0;

				if (read(mt->timerfd, &exp, sizeof(exp)) < 0)
					continue;
				if (exp > 1)
					mt->tick_late += exp - 1;
				media_tick(mt, clock_mono_us());
			} else if (tag == &mt->wake_tag) {
				uint64_t v;
				if (read(mt->wakefd, &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					continue;
				commands = true;
			} else {
				struct fd_tag *ft = tag;

				if (ft->io)
					ft->io(ft->io_arg);
				else
					socket_readable(ft->ms, ft->rtcp);
			}
		}
		/* After the batch: a command may remove a session, which the
		 * signalling thread then frees, and a later event of the same
		 * batch may still name one of its sockets. */
		if (commands)
			media_commands_run(mt);
	}
	return NULL;
}
