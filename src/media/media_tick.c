/*
 * The 20 ms tick of a media thread: for every session, the caller's audio
 * from the jitter buffer to the agent (to an unpaced one as each packet
 * comes, media_session_hear), the agent's audio back as RTP, and every
 * RTCP_INTERVAL_MS a report. Nothing is sent before the caller showed it
 * is where its SDP says (media.h).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "core/be.h"
#include "media/media_int.h"
#include "core/g711.h"
#include "media/jitter.h"
#include "media/media_pc.h"

/* ---- the 20 ms tick --------------------------------------------------- */

/* An unpaced agent's frames: at most this many at once (a burst after a
 * stall), and a frame this long overdue is filled in at the tick. */
#define UNPACED_BURST   8
#define UNPACED_WAIT_US 40000

static void decode_into_fifo(struct media_session *ms,
                             const struct jitter_frame *f)
{
	size_t room = PCM_FIFO_SAMPLES - ms->fifo_len;
	size_t n = f->len < room ? f->len : room;
	int16_t *pcm = ms->fifo + ms->fifo_len;

	if (f->pt == MEDIA_PT_PCMA)
		g711_alaw_decode(pcm, f->payload, n);
	else
		g711_ulaw_decode(pcm, f->payload, n);
	/* Remembered for a fill-in later; after one, the first samples are
	 * blended with it so the audio resumes without a click. */
	plc_rx(&ms->plc, pcm, (int)n);
	ms->plc_primed = true;
	ms->plc_run = 0;
	ms->fifo_len += n;
}

/* spandsp 0.0.6 starts a fill-in by rotating its history buffer with
 * memcpy over overlapping ranges (undefined behaviour, caught by ASan).
 * Rotated here first, with memmove, it finds nothing left to do. */
static void plc_history_rotate(plc_state_t *s)
{
	int16_t tmp[PLC_HISTORY_LEN];
	size_t p;

	if (s->buf_ptr <= 0 || s->buf_ptr >= PLC_HISTORY_LEN) {
		s->buf_ptr = 0; /* a full turn: already in order */
		return;
	}
	p = (size_t)s->buf_ptr;
	memcpy(tmp, s->history, p * sizeof(int16_t));
	memmove(s->history, s->history + p,
	        (PLC_HISTORY_LEN - p) * sizeof(int16_t));
	memcpy(s->history + PLC_HISTORY_LEN - p, tmp, p * sizeof(int16_t));
	s->buf_ptr = 0;
}

/* Fills n samples that were due and never came: spandsp repeats the last
 * pitch period, fading out; past PLC_MAX_SAMPLES of one run, before the
 * caller's first audio or during a telephone-event, silence. Returns how
 * many samples were filled in. */
static size_t conceal(struct media_session *ms, int16_t *pcm, size_t n)
{
	size_t k = 0;

	if (ms->plc_primed && ms->plc_run < PLC_MAX_SAMPLES) {
		k = PLC_MAX_SAMPLES - ms->plc_run;
		if (k > n)
			k = n;
		if (!ms->plc.missing_samples)
			plc_history_rotate(&ms->plc);
		plc_fillin(&ms->plc, pcm, (int)k);
		ms->plc_run += (uint32_t)k;
	}
	memset(pcm + k, 0, (n - k) * sizeof(int16_t));
	return k;
}

enum pulled {
	PULLED_NONE,      /* nothing to hear this tick */
	PULLED_HEARD,     /* a frame in the fifo, from packets */
	PULLED_CONCEALED, /* a frame in the fifo, partly filled in */
};

/* One read of the jitter buffer into the fifo: a packet decoded (a
 * telephone-event only noted: no voice to continue), or a lost packet's
 * samples filled in while that lasts. TAKEN_NONE: no room for them. */
enum taken {
	TAKEN_NONE,
	TAKEN_HEARD,
	TAKEN_FILLED,
};

static enum taken fifo_take(struct media_session *ms, enum jitter_get_result r,
                            const struct jitter_frame *f)
{
	size_t room = PCM_FIFO_SAMPLES - ms->fifo_len;
	size_t n = f->samples < room ? f->samples : room;
	bool filled;

	if (r == JITTER_GET_FRAME) {
		if (!f->len) {
			ms->plc_run = PLC_MAX_SAMPLES;
		} else {
			decode_into_fifo(ms, f);
			ms->fifo_arrival_us = f->arrival_us;
		}
		return TAKEN_HEARD;
	}
	if (!n)
		return TAKEN_NONE;
	filled = conceal(ms, ms->fifo + ms->fifo_len, n) > 0;
	if (filled)
		ms->stats.concealed++;
	ms->fifo_len += n;
	return filled ? TAKEN_FILLED : TAKEN_HEARD;
}

/* Fills the fifo with at least one frame from the jitter buffer, filling
 * in what is missing for a short while. */
static enum pulled pull_frame(struct media_session *ms)
{
	struct jitter_frame f;
	bool filled = false;

	while (ms->fifo_len < FRAME_SAMPLES) {
		enum jitter_get_result r = jitter_get(ms->jb, &f);

		switch (r) {
		case JITTER_GET_FRAME:
		case JITTER_GET_LOST:
			switch (fifo_take(ms, r, &f)) {
			case TAKEN_NONE:
				return PULLED_NONE;
			case TAKEN_FILLED:
				filled = true;
				break;
			case TAKEN_HEARD:
				break;
			}
			break;
		case JITTER_GET_EMPTY:
			/* The frame was due: late, lost at the end of a
			 * burst, or the buffer deepening. */
			if (!conceal(ms, ms->fifo + ms->fifo_len,
			             FRAME_SAMPLES - ms->fifo_len))
				return PULLED_NONE;
			ms->fifo_len = FRAME_SAMPLES;
			ms->stats.concealed++;
			return PULLED_CONCEALED;
		}
	}
	return filled ? PULLED_CONCEALED : PULLED_HEARD;
}

static void fifo_consume(struct media_session *ms, size_t n)
{
	ms->fifo_len -= n;
	memmove(ms->fifo, ms->fifo + n, ms->fifo_len * sizeof(int16_t));
}

/* The caller's frame of this period to the agent; true when it was
 * heard (from packets, nothing filled in). */
static bool hear(struct media_session *ms, uint64_t t)
{
	const struct agent_ops *ops = ms->ops;

	switch (pull_frame(ms)) {
	case PULLED_HEARD:
		ops->audio_in(ms->agent_state, ms->fifo, FRAME_SAMPLES,
		              ms->fifo_arrival_us);
		fifo_consume(ms, FRAME_SAMPLES);
		return true;
	case PULLED_CONCEALED:
		/* No packet's arrival to measure from. */
		ops->audio_in(ms->agent_state, ms->fifo, FRAME_SAMPLES, t);
		fifo_consume(ms, FRAME_SAMPLES);
		return false;
	case PULLED_NONE:
		ops->audio_in(ms->agent_state, NULL, FRAME_SAMPLES, t);
		return false;
	}
	return false;
}

/* Unpaced (agent_ops.unpaced): every frame the packets make, as they
 * come, up to UNPACED_BURST at once; returns how many went. */
static unsigned hear_unpaced(struct media_session *ms)
{
	const struct agent_ops *ops = ms->ops;
	struct jitter_frame f;
	unsigned n = 0;

	while (n < UNPACED_BURST) {
		if (ms->fifo_len >= FRAME_SAMPLES) {
			ops->audio_in(ms->agent_state, ms->fifo, FRAME_SAMPLES,
			              ms->fifo_arrival_us);
			fifo_consume(ms, FRAME_SAMPLES);
			n++;
			continue;
		}
		enum jitter_get_result r = jitter_get_next(ms->jb, &f);

		if (r == JITTER_GET_EMPTY)
			return n;
		if (fifo_take(ms, r, &f) == TAKEN_NONE)
			return n;
		/* A gap filled in: no packet's arrival to measure from. */
		if (r == JITTER_GET_LOST)
			ms->fifo_arrival_us = clock_mono_us();
	}
	return n;
}

/* An unpaced agent's frames as the packets come (after each packet and
 * after the tick); a paced one hears at the tick alone, where its audio
 * goes out too. */
void media_session_hear(struct media_session *ms)
{
	if (!ms->cleared || !ms->prm.recv || !ms->ops || !ms->ops->unpaced ||
	    !ms->ops->unpaced(ms->agent_state))
		return;
	if (hear_unpaced(ms))
		ms->unpaced_us = clock_mono_us();
}

/* ---- ringback ----------------------------------------------------------- */

/* 440 and 480 Hz meet again every 25 ms (40 Hz): one period of their sum
 * is 200 samples, which the cadence (2 s on, 4 s off) holds a whole
 * number of times. Each tone at -16 dBFS or so. */
#define RB_PERIOD 200
#define RB_ON     (2 * CLOCK_RATE)
#define RB_CYCLE  (6 * CLOCK_RATE)
#define RB_AMP    5000.0

static int16_t rb_period[RB_PERIOD];
static pthread_once_t rb_once = PTHREAD_ONCE_INIT;

static void rb_build(void)
{
	for (size_t i = 0; i < RB_PERIOD; i++) {
		double t = (double)i / CLOCK_RATE;

		rb_period[i] =
		    (int16_t)lrint(RB_AMP * (sin(2 * M_PI * 440 * t) +
		                             sin(2 * M_PI * 480 * t)));
	}
}

void media_ringback_init(void)
{
	(void)pthread_once(&rb_once, rb_build);
}

/* The frame at pos in the cadence. */
static void rb_frame(uint32_t pos, int16_t *pcm)
{
	for (size_t i = 0; i < FRAME_SAMPLES; i++) {
		uint32_t p = (pos + (uint32_t)i) % RB_CYCLE;

		pcm[i] = p < RB_ON ? rb_period[p % RB_PERIOD] : 0;
	}
}

/* This tick's ringback into tone, and to the room when it goes there;
 * the bits that are on. */
static unsigned ringback_tick(struct media_session *ms, int16_t *tone)
{
	unsigned rb = atomic_load_explicit(&ms->ringback, memory_order_acquire);

	if (rb & ~ms->rb_last)
		ms->rb_pos = 0;
	ms->rb_last = rb;
	if (!rb)
		return 0;
	rb_frame(ms->rb_pos, tone);
	ms->rb_pos = (ms->rb_pos + FRAME_SAMPLES) % RB_CYCLE;
	if ((rb & RINGBACK_ROOM) && ms->track)
		mroom_phone_tone(ms, tone);
	return rb;
}

/* Sends one of our RTP packets (len bytes of buf, cap of room), protected
 * first on an SRTP call. true when it went. With SRTP a sequence number
 * once protected is spent even when sendto fails: srtpx refuses to
 * protect one twice, so the next packet takes the next (the caller sees
 * a lost packet). */
static bool rtp_out(struct media_session *ms, uint8_t *buf, size_t len,
                    size_t cap)
{
	if (ms->prm.srtp.on && srtpx_protect_rtp(&ms->srtp, buf, &len, cap))
		return false;
	if (sendto(ms->rtp_fd, buf, len, MSG_DONTWAIT, &ms->peer.u.sa,
	           ms->peer.len) < 0) {
		if (ms->prm.srtp.on)
			ms->seq++;
		return false;
	}
	return true;
}

static void send_rtp(struct media_session *ms, const int16_t *pcm)
{
	uint8_t pkt[12 + FRAME_SAMPLES + SRTPX_MAX_TRAILER];

	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((ms->talking ? 0 : 0x80) | ms->prm.send_pt);
	put_be16(pkt + 2, ms->seq);
	put_be32(pkt + 4, ms->ts);
	put_be32(pkt + 8, ms->ssrc);
	if (ms->prm.send_pt == MEDIA_PT_PCMA)
		g711_alaw_encode(pkt + 12, pcm, FRAME_SAMPLES);
	else
		g711_ulaw_encode(pkt + 12, pcm, FRAME_SAMPLES);

	if (!rtp_out(ms, pkt, 12 + FRAME_SAMPLES, sizeof(pkt)))
		return;
	ms->seq++;
	ms->stats.packets_out++;
	ms->sent_since_rtcp++;
	ms->octets_out += FRAME_SAMPLES;
}

/* RFC 4733: an event is 100 ms of packets (5), its end told three times,
 * then 60 ms of nothing before the next key. */
#define DTMF_TONE_PKTS 5
#define DTMF_END_PKTS  3
#define DTMF_GAP_TICKS 3

static void send_event(struct media_session *ms, bool end)
{
	uint8_t pkt[16 + SRTPX_MAX_TRAILER];
	uint32_t dur = (ms->dtmf_sent + 1) * FRAME_SAMPLES;

	if (dur > DTMF_TONE_PKTS * FRAME_SAMPLES)
		dur = DTMF_TONE_PKTS * FRAME_SAMPLES;
	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((ms->dtmf_sent ? 0 : 0x80) | ms->prm.dtmf_pt);
	put_be16(pkt + 2, ms->seq);
	put_be32(pkt + 4, ms->dtmf_out_ts);
	put_be32(pkt + 8, ms->ssrc);
	pkt[12] = (uint8_t)ms->dtmf_code;
	pkt[13] = (uint8_t)((end ? 0x80 : 0) | 10); /* volume -10 dBm0 */
	put_be16(pkt + 14, (uint16_t)dur);
	if (!rtp_out(ms, pkt, 16, sizeof(pkt)))
		return;
	ms->seq++;
	ms->stats.packets_out++;
	ms->sent_since_rtcp++;
}

/* True while a key is being sent: the tick sends it in place of audio. */
static bool dtmf_tick(struct media_session *ms)
{
	unsigned char code;

	if (ms->dtmf_code < 0) {
		if (!ring_read(&ms->dtmf_out, &code, 1))
			return false;
		if (ms->prm.dtmf_pt < 0 || ms->prm.dtmf_pt > 127)
			return false; /* the caller takes none: dropped */
		ms->dtmf_code = code;
		ms->dtmf_out_ts = ms->ts;
		ms->dtmf_sent = 0;
	}
	if (ms->dtmf_sent < DTMF_TONE_PKTS + DTMF_END_PKTS)
		send_event(ms, ms->dtmf_sent >= DTMF_TONE_PKTS);
	if (++ms->dtmf_sent >= DTMF_TONE_PKTS + DTMF_END_PKTS + DTMF_GAP_TICKS)
		ms->dtmf_code = -1;
	return true;
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
	uint8_t p[128 + SRTPX_MAX_TRAILER];
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
	/* Each SRTCP packet has its own index: one refused now is not
	 * made again. */
	if (ms->prm.srtp.on &&
	    srtpx_protect_rtcp(&ms->srtp, p, &off, sizeof(p)))
		return;
	if (sendto(ms->rtcp_fd, p, off, MSG_DONTWAIT, &ms->peer_rtcp.u.sa,
	           ms->peer_rtcp.len) >= 0)
		ms->stats.rtcp_out++;
}

static void residence_add(struct media_thread *mt, uint64_t us)
{
	uint64_t b = us / RESIDENCE_BUCKET_US;

	mt->residence[b < RESIDENCE_BUCKETS ? b : RESIDENCE_BUCKETS - 1]++;
}

/* One session's frame, once per session and tick: as often as a packet
 * is sent, so it stays inside media_tick's loop (gcc would not inline it
 * there by itself, for the stack it adds to so small a function). */
static inline __attribute__((always_inline)) void
session_tick(struct media_thread *mt, struct media_session *ms, uint64_t t)
{
	const struct agent_ops *ops = ms->ops;
	int16_t out[FRAME_SAMPLES], tone[FRAME_SAMPLES];
	size_t n;
	bool heard = false;
	unsigned rb = ringback_tick(ms, tone);

	if (ms->prm.recv && !ms->timeout_sent &&
	    t - ms->last_rx_us >
	        (uint64_t)mt->me->prm.media_timeout_ms * 1000) {
		ms->timeout_sent = true;
		media_event_post(ms, EV_TIMEOUT);
	}
	/* Until the caller shows it is where the SDP says, the INVITE may
	 * have been forged to make us stream at someone else: send nothing,
	 * and let the agent wait, so a greeting starts from its beginning. */
	if (!ms->cleared) {
		ms->ts += FRAME_SAMPLES;
		return;
	}

	if (ops->unpaced && ops->unpaced(ms->agent_state)) {
		/* Frames go as they come; one missing a while is filled in
		 * (or the line is silent) here, a period at a time. */
		if (t - ms->unpaced_us >= UNPACED_WAIT_US)
			(void)hear(ms, t);
	} else {
		heard = hear(ms, t);
	}

	if (ms->early) {
		/* This tick's frame went out when it came. */
		ms->early = false;
		goto rtcp;
	}
	n = ops->audio_out(ms->agent_state, out, FRAME_SAMPLES);
	if (ms->room) {
		/* The room's WebRTC publishers, over the agent's voice. */
		if (n < FRAME_SAMPLES)
			memset(out + n, 0, (FRAME_SAMPLES - n) * sizeof(*out));
		if (mroom_mix(ms, out, FRAME_SAMPLES) || n)
			n = FRAME_SAMPLES;
	}
	if (rb & RINGBACK_CALLER) {
		/* Under the agent's words: a transfer's hold line stays
		 * heard. */
		if (n < FRAME_SAMPLES)
			memset(out + n, 0, (FRAME_SAMPLES - n) * sizeof(*out));
		for (size_t i = 0; i < FRAME_SAMPLES; i++) {
			int32_t v = (int32_t)out[i] + tone[i];

			out[i] = (int16_t)(v > 32767    ? 32767
			                   : v < -32768 ? -32768
			                                : v);
		}
		n = FRAME_SAMPLES;
	}
	if (ms->prm.send && sa_isset(&ms->peer, SA_ALL) && dtmf_tick(ms)) {
		ms->talking = false;
	} else if (n && ms->prm.send && sa_isset(&ms->peer, SA_ALL)) {
		if (n < FRAME_SAMPLES)
			memset(out + n, 0, (FRAME_SAMPLES - n) * sizeof(*out));
		send_rtp(ms, out);
		if (heard)
			residence_add(mt,
			              clock_mono_us() - ms->fifo_arrival_us);
		ms->talking = true;
	} else {
		ms->talking = false;
	}
	/* The clock runs on through silence (RFC 3550 5.1). */
	ms->ts += FRAME_SAMPLES;

rtcp:
	if (t >= ms->next_rtcp_us) {
		ms->next_rtcp_us = t + RTCP_INTERVAL_MS * 1000u;
		if (sa_isset(&ms->peer_rtcp, SA_ALL))
			send_rtcp(ms, t);
	}
	/* The next period's frame, when it is already there. */
	media_session_hear(ms);
}

void media_session_early(struct media_thread *mt, struct media_session *ms)
{
	const struct agent_ops *ops = ms->ops;
	int16_t out[FRAME_SAMPLES];

	(void)mt;
	/* Only the first frame of a spurt, alone on the line: a room's mix
	 * and a telephone-event are made at the tick. */
	if (ms->talking || ms->early || ms->room || !ms->cleared ||
	    atomic_load_explicit(&ms->ringback, memory_order_relaxed) ||
	    !ms->prm.send || !sa_isset(&ms->peer, SA_ALL) || !ops ||
	    !ops->audio_early || ms->dtmf_code >= 0 || ring_used(&ms->dtmf_out))
		return;
	if (ops->audio_early(ms->agent_state, out, FRAME_SAMPLES) !=
	    FRAME_SAMPLES)
		return;
	send_rtp(ms, out);
	ms->talking = true;
	ms->early = true;
	ms->ts += FRAME_SAMPLES;
}

void media_tick(struct media_thread *mt, uint64_t t)
{
	/* The connections' timers and the rooms' decoding first: the calls
	 * mix what the rooms decoded this tick. */
	mpc_tick(mt, t);
	mroom_tick(mt, t);
	for (size_t k = 0; k < mt->nsessions; k++)
		session_tick(mt, mt->sessions[k], t);
}
