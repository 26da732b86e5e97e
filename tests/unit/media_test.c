/*
 * The media engine over loopback: real sessions on real UDP ports, driven
 * by plain UDP sockets that play the caller. libre's main loop runs the
 * engine's events; a libre timer ends each turn of the loop so the test
 * can pump its sockets, send RTP on a 20 ms schedule and check conditions.
 *
 * Checked: echo of the caller's audio over symmetric RTP (header fields,
 * sequence, timestamps, marker, SSRC, payload), the greeting, dropping of
 * packets from elsewhere, of unknown payload types and of malformed
 * packets, PCMA, events (first RTP, media timeout, stopped), hold,
 * re-INVITE to a new address, port range exhaustion and RTCP reports;
 * SRTP calls (the caller's socket protects and unprotects with srtpx):
 * the echo, damaged, replayed and plain packets dropped and counted, a
 * re-key, and no allocation on the packet path; a room's WebRTC media
 * (a publisher's Opus forwarded to a subscriber, decoded for the calls),
 * with no allocation per packet either.
 *
 * The RTCP interval is 5 s: the RTCP sessions start first and are checked
 * last, so that wait overlaps the other cases.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <re.h>

#include <opus/opus.h>

#include "agent/echo.h"
#include "core/g711.h"
#include "media/media.h"
#include "media/rtp.h"
#include "media/webrtc.h"

#include "webrtc/dtls.h"
#include "webrtc/ice.h"
#include "webrtc/srtpx.h"

#include "allocs.h"
#include "test.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define PORT_MIN   41000
#define PORT_MAX   41100
#define TIMEOUT_MS 500
#define FRAME      160
#define RTP_LEN    (12 + FRAME)
#define DTMF_PT    101
#define MAX_RX     400
#define MAX_TX     256
#define RX_BYTES   256

static struct media_engine *engine;

/* ---- time and the main loop ------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void pump_all(void);

static struct tmr step_tmr;

static void step_end(void *arg)
{
	(void)arg;
	re_cancel();
}

/* One turn of the main loop (about a millisecond, dispatching the
 * engine's events), then the test sockets are pumped. */
static void step(void)
{
	tmr_start(&step_tmr, 1, step_end, NULL);
	re_main(NULL);
	pump_all();
}

/* Runs the loop until cond holds or ms have passed; check cond after. */
#define WAIT(cond, ms)                                                         \
	do {                                                                   \
		uint64_t end_ = now_us() + (uint64_t)(ms)*1000u;               \
		while (!(cond) && now_us() < end_)                             \
			step();                                                \
	} while (0)

static void sleep_loop(unsigned ms)
{
	WAIT(0, ms);
}

/* Runs the loop until the clock reads t. */
static void sleep_until(uint64_t t)
{
	while (now_us() < t)
		step();
}

/* ---- helpers' failures ------------------------------------------------ */

static char why[512];

#define FAILED(...) (snprintf(why, sizeof(why), __VA_ARGS__), why)

/* For helpers returning NULL or what went wrong. */
#define CHECK_OK(expr)                                                         \
	do {                                                                   \
		const char *e_ = (expr);                                       \
		if (e_)                                                        \
			TEST_FAIL(__func__ + 5, "%s: %s", #expr, e_);          \
	} while (0)

/* ---- the caller's sockets --------------------------------------------- */

struct rx {
	uint64_t t_us;
	struct sa src;
	size_t len;
	uint8_t b[RX_BYTES];
};

struct peer {
	const char *name;
	int fd;
	struct sa addr;
	struct rx *rx;
	size_t nrx;

	/* RTP sender: one packet every 20 ms on an absolute schedule. */
	struct sa dst;
	uint8_t pt;
	unsigned seed;
	uint32_t ssrc, ts0;
	uint16_t seq0;
	unsigned sent, limit;
	unsigned dtmf_from, dtmf_to; /* these frames are a DTMF event */
	uint64_t t0_us, last_send_us;
	uint8_t sent_pt[MAX_TX];
	/* An SRTP caller: what it sends is protected, what it gets is
	 * unprotected before it is kept (refusals counted). */
	struct srtpx *srtp;
	unsigned srtp_bad;
};

/* Static, so a failed case never leaves a dangling peer behind. */
#define PEER(n)                                                                \
	{                                                                      \
		.name = n, .fd = -1                                            \
	}
static struct peer A = PEER("A"), B = PEER("B"), C = PEER("C"), D = PEER("D");
/* On 127.0.0.2 and 127.0.0.3: other hosts, as far as the engine can tell. */
static struct peer E = PEER("E"), F = PEER("F");
static struct peer A1 = PEER("A1"), R1 = PEER("R1"), A2 = PEER("A2"),
                   R2a = PEER("R2a"), R2b = PEER("R2b"), R3 = PEER("R3"),
                   R4 = PEER("R4"), X4 = PEER("X4"), R5 = PEER("R5");
static struct peer *const peers[] = {&A,  &B,   &C,   &D,  &E,  &F,  &A1, &R1,
                                     &A2, &R2a, &R2b, &R3, &R4, &X4, &R5};

static void peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->rx);
	p->rx = NULL;
	p->nrx = 0;
	p->limit = p->sent = 0;
	p->dtmf_from = p->dtmf_to = 0;
	p->srtp = NULL;
	p->srtp_bad = 0;
}

/* A UDP socket on ip (host order, within 127/8) with a kernel-chosen
 * port. */
static int peer_open_on(struct peer *p, uint32_t ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	peer_close(p);
	p->rx = calloc(MAX_RX, sizeof(*p->rx));
	if (!p->rx)
		return ENOMEM;
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return errno;
	a.sin_addr.s_addr = htonl(ip);
	if (bind(p->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(p->fd, (struct sockaddr *)&a, &alen))
		return errno;
	sa_set_in(&p->addr, ip, ntohs(a.sin_port));
	return 0;
}

static int peer_open(struct peer *p)
{
	return peer_open_on(p, INADDR_LOOPBACK);
}

static void peer_send(struct peer *p, const struct sa *dst, const void *b,
                      size_t len)
{
	if (sendto(p->fd, b, len, 0, &dst->u.sa, dst->len) != (ssize_t)len)
		printf("# %s: sendto: %s\n", p->name, strerror(errno));
}

/* An RTP packet of p's stream: protected first when p speaks SRTP (b has
 * cap bytes of room). */
static void peer_send_rtp(struct peer *p, const struct sa *dst, uint8_t *b,
                          size_t len, size_t cap)
{
	if (p->srtp && srtpx_protect_rtp(p->srtp, b, &len, cap)) {
		printf("# %s: protect failed\n", p->name);
		return;
	}
	peer_send(p, dst, b, len);
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

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The caller's audio: packet j of stream seed. A tone whose level steps
 * with j, so every packet of a stream differs from its neighbours. */
static void caller_pcm(unsigned seed, unsigned j, int16_t *pcm)
{
	double amp = 1500 + 97 * ((j + 31 * seed) % 200);
	double hz = 300 + 70 * seed;

	for (unsigned k = 0; k < FRAME; k++)
		pcm[k] = (int16_t)lrint(
		    amp * sin(2 * M_PI * hz * (FRAME * j + k) / 8000.0));
}

/* The greeting: a tone rising in level frame by frame. */
static int16_t greeting_sample(size_t k)
{
	double amp = 2000 + 300 * (double)(k / FRAME);

	return (int16_t)lrint(amp * sin(2 * M_PI * 350.0 * (double)k / 8000.0));
}

static void encode(uint8_t pt, uint8_t *dst, const int16_t *pcm, size_t n)
{
	if (pt == MEDIA_PT_PCMA)
		g711_alaw_encode(dst, pcm, n);
	else
		g711_ulaw_encode(dst, pcm, n);
}

static void decode(uint8_t pt, int16_t *dst, const uint8_t *src, size_t n)
{
	if (pt == MEDIA_PT_PCMA)
		g711_alaw_decode(dst, src, n);
	else
		g711_ulaw_decode(dst, src, n);
}

/* RTP header: V=2, no padding, extension or CSRC. */
static size_t rtp_header(uint8_t *b, bool marker, uint8_t pt, uint16_t seq,
                         uint32_t ts, uint32_t ssrc)
{
	b[0] = 0x80;
	b[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	put_be16(b + 2, seq);
	put_be32(b + 4, ts);
	put_be32(b + 8, ssrc);
	return 12;
}

/* Sends packet j of p's stream now. */
static void peer_send_frame(struct peer *p, unsigned j)
{
	uint8_t b[RTP_LEN + SRTPX_MAX_TRAILER];
	int16_t pcm[FRAME];
	uint8_t pt = p->pt;

	if (j >= p->dtmf_from && j < p->dtmf_to) {
		/* RFC 4733: digit 5, one timestamp for the whole event, the
		 * duration growing, E on the last packet. */
		pt = DTMF_PT;
		rtp_header(b, j == p->dtmf_from, pt, (uint16_t)(p->seq0 + j),
		           p->ts0 + p->dtmf_from * FRAME, p->ssrc);
		b[12] = 5;
		b[13] = (uint8_t)((j + 1 == p->dtmf_to ? 0x80 : 0) | 10);
		put_be16(b + 14, (uint16_t)((j - p->dtmf_from + 1) * FRAME));
		peer_send_rtp(p, &p->dst, b, 16, sizeof(b));
	} else {
		rtp_header(b, j == 0, pt, (uint16_t)(p->seq0 + j),
		           p->ts0 + j * FRAME, p->ssrc);
		caller_pcm(p->seed, j, pcm);
		encode(pt, b + 12, pcm, FRAME);
		peer_send_rtp(p, &p->dst, b, RTP_LEN, sizeof(b));
	}
	if (j < MAX_TX)
		p->sent_pt[j] = pt;
	p->last_send_us = now_us();
}

/* Starts sending count packets (more may be added by raising limit). */
static void peer_stream(struct peer *p, uint16_t dst_port, uint8_t pt,
                        unsigned seed, unsigned count)
{
	sa_set_in(&p->dst, INADDR_LOOPBACK, dst_port);
	p->pt = pt;
	p->seed = seed;
	p->ssrc = 0x10203040u + seed;
	p->seq0 = (uint16_t)(65500 + 7 * seed); /* wraps during the test */
	p->ts0 = 0xfffff000u + seed;
	p->sent = 0;
	p->limit = count;
	p->dtmf_from = p->dtmf_to = 0;
	p->t0_us = now_us();
}

static bool peer_done(const struct peer *p)
{
	return p->sent >= p->limit;
}

static void peer_pump(struct peer *p)
{
	if (p->fd < 0)
		return;
	for (;;) {
		uint8_t buf[1500];
		struct sa src;
		ssize_t n;

		sa_init(&src, AF_INET);
		src.len = sizeof(src.u);
		n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT, &src.u.sa,
		             &src.len);
		if (n < 0)
			break;
		if (p->srtp) {
			size_t len = (size_t)n;

			if (srtpx_unprotect_rtp(p->srtp, buf, &len)) {
				p->srtp_bad++;
				continue;
			}
			n = (ssize_t)len;
		}
		if (p->nrx < MAX_RX) {
			struct rx *r = &p->rx[p->nrx++];
			r->t_us = now_us();
			r->src = src;
			r->len = (size_t)n;
			memcpy(r->b, buf,
			       (size_t)n < RX_BYTES ? (size_t)n : RX_BYTES);
		}
	}
	if (p->sent < p->limit) {
		uint64_t due = (now_us() - p->t0_us) / 20000u + 1;
		while (p->sent < p->limit && p->sent < due)
			peer_send_frame(p, p->sent++);
	}
}

static void pump_all(void)
{
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		peer_pump(peers[i]);
}

/* ---- sessions --------------------------------------------------------- */

struct sess {
	struct media_session *ms;
	bool started;
	uint16_t port;
	unsigned n_first, n_timeout, n_stopped, n_after_stop, n_dtmf;
	char digits[64];
	size_t ndigits;
	uint64_t t_start_us, t_first_us, t_timeout_us, t_stopped_us;
	struct sa first_addr;
	struct media_stats stats; /* copied at STOPPED */
};

static struct sess S, S1, S2, S3, S4, S5;
static struct sess *const sessions[] = {&S, &S1, &S2, &S3, &S4, &S5};

static void sess_event(enum media_event ev, void *arg)
{
	struct sess *s = arg;

	if (s->n_stopped)
		s->n_after_stop++;
	switch (ev) {
	case MEDIA_EVENT_FIRST_RTP:
		s->n_first++;
		s->t_first_us = now_us();
		s->first_addr = *media_session_first_rtp_addr(s->ms);
		break;
	case MEDIA_EVENT_DTMF:
		s->n_dtmf++;
		s->ndigits +=
		    media_session_dtmf_read(s->ms, s->digits + s->ndigits,
		                            sizeof(s->digits) - 1 - s->ndigits);
		s->digits[s->ndigits] = '\0';
		break;
	case MEDIA_EVENT_TIMEOUT:
		s->n_timeout++;
		s->t_timeout_us = now_us();
		break;
	case MEDIA_EVENT_STOPPED:
		s->n_stopped++;
		s->t_stopped_us = now_us();
		s->stats = *media_session_stats(s->ms);
		break;
	}
}

/* Stops (when started), waits for STOPPED and frees. False when STOPPED
 * did not come: the session is then left alone, not freed. */
static bool sess_release(struct sess *s)
{
	if (!s->ms)
		return true;
	if (s->started && !s->n_stopped) {
		media_session_stop(s->ms);
		WAIT(s->n_stopped, 2000);
		if (!s->n_stopped)
			return false;
	}
	s->ms = mem_deref(s->ms);
	return true;
}

static int sess_alloc(struct sess *s, struct media_engine *me)
{
	int err;

	if (!sess_release(s))
		return EBUSY;
	memset(s, 0, sizeof(*s));
	err = media_session_alloc(&s->ms, me, sess_event, s);
	if (!err)
		s->port = media_session_port(s->ms);
	return err;
}

static struct media_params params(uint8_t pt, const struct peer *rtp,
                                  const struct peer *rtcp)
{
	struct media_params prm = {
	    .send_pt = pt,
	    .dtmf_pt = DTMF_PT,
	    .raddr = rtp->addr,
	    .send = true,
	    .recv = true,
	};

	if (rtcp)
		prm.raddr_rtcp = rtcp->addr;
	else
		sa_init(&prm.raddr_rtcp, AF_INET); /* none: no RTCP */
	return prm;
}

/* Starts the session as the answer does: the ACK has not come yet. */
static int sess_start_unacked(struct sess *s, const struct media_params *prm,
                              const int16_t *greeting, size_t greeting_samples)
{
	const struct agent_ops *ops = &agent_audio_echo;
	struct agent_call_info info = {"call-1", "sip:a@test", "sip:b@test",
	                               8000};
	struct agent_assets assets = {greeting, greeting_samples};
	void *st = NULL;
	int err;

	err = ops->start(&st, &info, &assets);
	if (err)
		return err;
	s->t_start_us = now_us();
	err = media_session_start(s->ms, prm, ops, st);
	if (err)
		ops->stop(st);
	else
		s->started = true;
	return err;
}

/* Starts the session as if the ACK had come with the answer. */
static int sess_start(struct sess *s, const struct media_params *prm,
                      const int16_t *greeting, size_t greeting_samples)
{
	int err = sess_start_unacked(s, prm, greeting, greeting_samples);

	if (!err)
		media_session_confirm(s->ms);
	return err;
}

/* Stops the session and waits for STOPPED; the stats are then in s. */
static const char *sess_stop(struct sess *s)
{
	media_session_stop(s->ms);
	WAIT(s->n_stopped, 2000);
	if (!s->n_stopped)
		return "no STOPPED event";
	if (s->n_stopped != 1)
		return FAILED("%u STOPPED events", s->n_stopped);
	return NULL;
}

static int16_t greeting[100 * FRAME];

/* ---- checking what came back ------------------------------------------ */

struct rtp {
	bool marker;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts, ssrc;
	const uint8_t *payload;
};

/* Packet i of p must be one of our RTP packets from the session's port. */
static const char *rtp_get(const struct peer *p, size_t i, uint16_t port,
                           struct rtp *h)
{
	const struct rx *r = &p->rx[i];
	struct sa from;

	sa_set_in(&from, INADDR_LOOPBACK, port);
	if (!sa_cmp(&r->src, &from, SA_ALL))
		return FAILED("%s[%zu] from port %u, not %u", p->name, i,
		              sa_port(&r->src), port);
	if (r->len != RTP_LEN)
		return FAILED("%s[%zu]: %zu bytes", p->name, i, r->len);
	if (r->b[0] != 0x80)
		return FAILED("%s[%zu]: first byte %#x", p->name, i, r->b[0]);
	h->marker = r->b[1] & 0x80;
	h->pt = r->b[1] & 0x7f;
	h->seq = get_be16(r->b + 2);
	h->ts = get_be32(r->b + 4);
	h->ssrc = get_be32(r->b + 8);
	h->payload = r->b + 12;
	return NULL;
}

/* One outgoing stream, possibly spread over several peers: */
struct stream {
	bool have;
	uint16_t seq;
	uint32_t ts, ssrc;
	size_t n, markers;
};

/*
 * Packets [from, to) of p continue stream st: payload type pt, one SSRC,
 * consecutive sequence numbers; a packet without marker is 20 ms after
 * the previous one, a marker starts a talk-spurt after silence (so at
 * least one tick later, in whole ticks). The first packet of all has
 * the marker.
 */
static const char *stream_check(struct stream *st, const struct peer *p,
                                size_t from, size_t to, uint16_t port,
                                uint8_t pt)
{
	for (size_t i = from; i < to; i++) {
		struct rtp h;
		const char *e = rtp_get(p, i, port, &h);

		if (e)
			return e;
		if (h.pt != pt)
			return FAILED("%s[%zu]: PT %u, not %u", p->name, i,
			              h.pt, pt);
		if (h.marker)
			st->markers++;
		if (!st->have) {
			if (!h.marker)
				return FAILED("%s[%zu]: first packet has no "
				              "marker",
				              p->name, i);
		} else {
			uint32_t dts = h.ts - st->ts;

			if (h.ssrc != st->ssrc)
				return FAILED("%s[%zu]: SSRC %08x, was %08x",
				              p->name, i, h.ssrc, st->ssrc);
			if (h.seq != (uint16_t)(st->seq + 1))
				return FAILED("%s[%zu]: seq %u after %u",
				              p->name, i, h.seq, st->seq);
			if (!h.marker && dts != FRAME)
				return FAILED("%s[%zu]: ts +%u without marker",
				              p->name, i, dts);
			if (h.marker &&
			    (dts % FRAME || dts < 2 * FRAME || dts > 8000 * 10))
				return FAILED("%s[%zu]: ts +%u at a marker",
				              p->name, i, dts);
		}
		st->have = true;
		st->seq = h.seq;
		st->ts = h.ts;
		st->ssrc = h.ssrc;
		st->n++;
	}
	return NULL;
}

/* Is payload (encoded as out_pt) what src's packet j decodes to? Same law:
 * exactly; transcoded: within the coarser law's quantisation. The first
 * skip samples are not compared. */
static bool frame_is_from(const struct peer *src, unsigned j, uint8_t out_pt,
                          const uint8_t *payload, size_t skip)
{
	int16_t pcm[FRAME], want[FRAME], got[FRAME];
	uint8_t enc[FRAME];
	uint8_t in_pt = src->sent_pt[j];

	caller_pcm(src->seed, j, pcm);
	encode(in_pt, enc, pcm, FRAME);
	decode(in_pt, want, enc, FRAME);
	decode(out_pt, got, payload, FRAME);
	for (size_t k = skip; k < FRAME; k++) {
		int d = abs(got[k] - want[k]);
		if (in_pt == out_pt ? d != 0 : d > 16 + abs(want[k]) / 16)
			return false;
	}
	return true;
}

static bool frame_is(const struct peer *src, unsigned j, uint8_t out_pt,
                     const uint8_t *payload)
{
	return frame_is_from(src, j, out_pt, payload, 0);
}

static bool is_silence(const uint8_t *payload, uint8_t pt)
{
	int16_t pcm[FRAME];

	decode(pt, pcm, payload, FRAME);
	for (size_t k = 0; k < FRAME; k++)
		if (pcm[k])
			return false;
	return true;
}

/* Audio that was due and never came (the end of a stream, or a packet
 * late under load) is filled in for up to this many frames; the frame
 * heard after them is blended with the fill-in over its first samples. */
#define FILL_FRAMES 3
#define FILL_BLEND  30 /* spandsp's PLC_PITCH_OVERLAP_MAX */

/*
 * Packets [from, to) of p are src's audio said back, in order: each is
 * one of src's audio packets, each later than the one before, or after
 * one of them up to FILL_FRAMES filled in (the first heard may be
 * blended with a fill-in too: that of another source). *first is the index of the
 * first one. With silences, frames of silence (lost audio past the
 * fill-in) are allowed too, and counted there.
 */
static const char *echo_check(const struct peer *p, size_t from, size_t to,
                              const struct peer *src, unsigned *first,
                              size_t *silences)
{
	unsigned next = 0, fill = 0;
	bool heard = false;

	for (size_t i = from; i < to; i++) {
		const struct rx *r = &p->rx[i];
		unsigned j;

		if (silences && is_silence(r->b + 12, r->b[1] & 0x7f)) {
			(*silences)++;
			continue;
		}
		for (j = next; j < src->sent && j < MAX_TX; j++) {
			if (src->sent_pt[j] != DTMF_PT &&
			    frame_is_from(src, j, r->b[1] & 0x7f, r->b + 12,
			                  fill || !heard ? FILL_BLEND : 0))
				break;
		}
		if (j >= src->sent || j >= MAX_TX) {
			if (heard && fill < FILL_FRAMES) {
				fill++;
				continue;
			}
			return FAILED("%s[%zu] is none of %s's frames from "
			              "#%u on",
			              p->name, i, src->name, next);
		}
		if (i == from && first)
			*first = j;
		next = j + 1;
		heard = true;
		fill = 0;
	}
	return NULL;
}

/* Packet i of p is greeting frame g (encoded as pt). */
static bool greeting_is(const struct peer *p, size_t i, size_t g, uint8_t pt)
{
	int16_t want[FRAME], got[FRAME];
	uint8_t enc[FRAME];

	encode(pt, enc, greeting + g * FRAME, FRAME);
	decode(pt, want, enc, FRAME);
	decode(pt, got, p->rx[i].b + 12, FRAME);
	return memcmp(want, got, sizeof(want)) == 0;
}

/* ---- RTCP sessions: started first, checked last ------------------------ */

static uint64_t rtcp_t0_us;
static uint64_t sr_sent_us;
static unsigned a1_sent;

/* An SR from the caller: NTP 0x11223344.55667788, so LSR is 0x33445566. */
static void send_sr(struct peer *p, uint16_t port)
{
	uint8_t b[28];
	struct sa dst;

	b[0] = 0x80;
	b[1] = 200;
	put_be16(b + 2, 6);
	put_be32(b + 4, 0xC0C0C0C0u);
	put_be32(b + 8, 0x11223344u);
	put_be32(b + 12, 0x55667788u);
	put_be32(b + 16, 1234);
	put_be32(b + 20, 10);
	put_be32(b + 24, 1600);
	sa_set_in(&dst, INADDR_LOOPBACK, port);
	peer_send(p, &dst, b, sizeof(b));
}

/*
 * S1: echo session; the caller (A1) sends 10 packets numbered 1000..1010
 * with 1005 missing: its report is an SR with a report block (1 lost of
 * 11) and goes to the SDP's RTCP address R1.
 * S2: send=false, the caller (A2) sends 5 packets and an SR from R2b,
 * not the SDP's R2a: its report is an RR that goes to R2b (symmetric
 * RTCP) and echoes the SR's time (LSR, DLSR).
 * S3: nothing arrives: an RR without report block to R3.
 * S4: an SR from X4, another host than the SDP's, arrives first: it is
 * dropped, and S4's RR still goes to the SDP's R4, not to X4.
 * S5: the ACK never comes and nothing arrives: no report goes to R5.
 */
TEST(rtcp_start)
{
	struct media_params prm;
	struct sa dst;

	CHECK_EQ(peer_open(&A1), 0);
	CHECK_EQ(peer_open(&R1), 0);
	CHECK_EQ(peer_open(&A2), 0);
	CHECK_EQ(peer_open(&R2a), 0);
	CHECK_EQ(peer_open(&R2b), 0);
	CHECK_EQ(peer_open(&R3), 0);
	CHECK_EQ(peer_open(&R4), 0);
	CHECK_EQ(peer_open_on(&X4, INADDR_LOOPBACK + 1), 0);
	CHECK_EQ(peer_open(&R5), 0);

	CHECK_EQ(sess_alloc(&S1, engine), 0);
	CHECK_EQ(sess_alloc(&S2, engine), 0);
	CHECK_EQ(sess_alloc(&S3, engine), 0);
	CHECK_EQ(sess_alloc(&S4, engine), 0);
	CHECK_EQ(sess_alloc(&S5, engine), 0);

	rtcp_t0_us = now_us();
	prm = params(MEDIA_PT_PCMU, &A1, &R1);
	CHECK_EQ(sess_start(&S1, &prm, NULL, 0), 0);
	prm = params(MEDIA_PT_PCMU, &A2, &R2a);
	prm.send = false;
	CHECK_EQ(sess_start(&S2, &prm, NULL, 0), 0);
	prm = params(MEDIA_PT_PCMU, &A2, &R3);
	CHECK_EQ(sess_start(&S3, &prm, NULL, 0), 0);
	prm = params(MEDIA_PT_PCMU, &A2, &R4);
	CHECK_EQ(sess_start(&S4, &prm, NULL, 0), 0);
	prm = params(MEDIA_PT_PCMU, &A2, &R5);
	CHECK_EQ(sess_start_unacked(&S5, &prm, NULL, 0), 0);

	send_sr(&X4, (uint16_t)(S4.port + 1));
	send_sr(&R2b, (uint16_t)(S2.port + 1));
	sr_sent_us = now_us();

	/* By hand, 20 ms apart: the sender does not skip numbers. */
	for (unsigned i = 0; i <= 10; i++) {
		sleep_until(sr_sent_us + 20000u * i);
		uint8_t b[RTP_LEN];

		memset(b, 0xd5, sizeof(b));
		if (i != 5) {
			rtp_header(b, i == 0, MEDIA_PT_PCMU,
			           (uint16_t)(1000 + i), 5000 + FRAME * i,
			           0xA1A1A1A1u);
			sa_set_in(&dst, INADDR_LOOPBACK, S1.port);
			peer_send(&A1, &dst, b, sizeof(b));
			a1_sent++;
		}
		if (i < 5) {
			rtp_header(b, i == 0, MEDIA_PT_PCMU,
			           (uint16_t)(500 + i), 700 + FRAME * i,
			           0xB2B2B2B2u);
			sa_set_in(&dst, INADDR_LOOPBACK, S2.port);
			peer_send(&A2, &dst, b, sizeof(b));
		}
	}
	sleep_loop(100);
	return 0;
}

/* Parses one compound report received by p: sender or receiver report,
 * then SDES with our CNAME. Fills the report's fields. */
struct report {
	uint8_t pt;
	unsigned rc;
	uint32_t ssrc;
	uint64_t ntp;
	uint32_t rtp_ts, packets, octets;
	uint32_t blk_ssrc, lost, ext_seq, jitter, lsr, dlsr;
	uint8_t fraction;
};

static const char *report_parse(const struct peer *p, size_t i, uint16_t port,
                                struct report *rep)
{
	const struct rx *r = &p->rx[i];
	const uint8_t *b = r->b;
	size_t len = r->len, off, sdes_len, cl;
	struct sa from;
	char cname[32];

	memset(rep, 0, sizeof(*rep));
	sa_set_in(&from, INADDR_LOOPBACK, (uint16_t)(port + 1));
	if (!sa_cmp(&r->src, &from, SA_ALL))
		return FAILED("%s[%zu] from port %u, not the RTCP port %u",
		              p->name, i, sa_port(&r->src), port + 1);
	if (len < 8 || len > RX_BYTES || len % 4)
		return FAILED("%s[%zu]: %zu bytes", p->name, i, len);
	if ((b[0] & 0xe0) != 0x80)
		return FAILED("%s[%zu]: first byte %#x", p->name, i, b[0]);
	rep->pt = b[1];
	rep->rc = b[0] & 0x1f;
	rep->ssrc = get_be32(b + 4);
	off = 4u * (get_be16(b + 2) + 1u);
	if (rep->pt != 200 && rep->pt != 201)
		return FAILED("%s[%zu]: PT %u first", p->name, i, rep->pt);
	if (off != 8 + (rep->pt == 200 ? 20 : 0) + 24 * rep->rc || off > len)
		return FAILED("%s[%zu]: report length %zu with RC %u", p->name,
		              i, off, rep->rc);
	if (rep->pt == 200) {
		rep->ntp = (uint64_t)get_be32(b + 8) << 32 | get_be32(b + 12);
		rep->rtp_ts = get_be32(b + 16);
		rep->packets = get_be32(b + 20);
		rep->octets = get_be32(b + 24);
	}
	if (rep->rc) {
		const uint8_t *blk = b + off - 24 * rep->rc;
		rep->blk_ssrc = get_be32(blk);
		rep->fraction = blk[4];
		rep->lost = get_be32(blk + 4) & 0xffffff;
		rep->ext_seq = get_be32(blk + 8);
		rep->jitter = get_be32(blk + 12);
		rep->lsr = get_be32(blk + 16);
		rep->dlsr = get_be32(blk + 20);
	}

	/* SDES: one chunk, our SSRC, CNAME item, END, padding. */
	if (off + 12 > len)
		return FAILED("%s[%zu]: no SDES", p->name, i);
	b += off;
	sdes_len = 4u * (get_be16(b + 2) + 1u);
	if (b[0] != 0x81 || b[1] != 202 || off + sdes_len != len)
		return FAILED("%s[%zu]: SDES %#x %u, %zu+%zu of %zu bytes",
		              p->name, i, b[0], b[1], off, sdes_len, len);
	if (get_be32(b + 4) != rep->ssrc)
		return FAILED("%s[%zu]: SDES SSRC %08x, report %08x", p->name,
		              i, get_be32(b + 4), rep->ssrc);
	cl = b[9];
	snprintf(cname, sizeof(cname), "voxgate-%08x", rep->ssrc);
	if (b[8] != 1 || cl != strlen(cname) || 10 + cl >= sdes_len ||
	    memcmp(b + 10, cname, cl))
		return FAILED("%s[%zu]: CNAME item %u/%zu", p->name, i, b[8],
		              cl);
	for (size_t k = 10 + cl; k < sdes_len; k++)
		if (b[k])
			return FAILED("%s[%zu]: SDES END/padding not zero",
			              p->name, i);
	return NULL;
}

/* Reports are 5 s apart, the first 5 s after the start: at most one
 * per 5 s so far. */
static const char *report_times(const struct peer *p, const struct sess *s)
{
	uint64_t prev = s->t_start_us;

	for (size_t i = 0; i < p->nrx; i++) {
		uint64_t gap = p->rx[i].t_us - prev;

		if (gap < 4900000u || (i == 0 && gap < 5000000u))
			return FAILED("%s: report %zu after %.3f s", p->name, i,
			              gap / 1e6);
		prev = p->rx[i].t_us;
	}
	return NULL;
}

static uint64_t ntp_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + 2208988800u) << 32 |
	       (uint64_t)((double)ts.tv_nsec / 1e9 * 4294967296.0);
}

TEST(rtcp_reports)
{
	struct report rep;
	struct rtp last;
	uint64_t t_rep;
	double diff;

	CHECK(S1.started && S2.started && S3.started && S4.started &&
	      S5.started);
	while (!(R1.nrx && R2b.nrx && R3.nrx && R4.nrx) &&
	       now_us() < rtcp_t0_us + 6000000u)
		step();
	CHECK_EQ(X4.nrx, 0);
	CHECK(R1.nrx && R2b.nrx && R3.nrx && R4.nrx);
	sleep_loop(50);
	/* Every 5 s, the first 5 s after the start. */
	CHECK_OK(report_times(&R1, &S1));
	CHECK_OK(report_times(&R2b, &S2));
	CHECK_OK(report_times(&R3, &S3));
	CHECK_OK(report_times(&R4, &S4));

	/* S1: an SR about what it sent, a block about A1's stream. */
	CHECK(A1.nrx >= 8);
	CHECK_OK(rtp_get(&A1, A1.nrx - 1, S1.port, &last));
	CHECK_OK(report_parse(&R1, 0, S1.port, &rep));
	CHECK_EQ(rep.pt, 200);
	CHECK_EQ(rep.rc, 1);
	CHECK_EQ(rep.ssrc, last.ssrc);
	CHECK_EQ(rep.packets, A1.nrx);
	CHECK_EQ(rep.octets, A1.nrx * FRAME);
	/* The wall clock when it arrived, within half a second. */
	diff = ((double)ntp_wall() - (double)rep.ntp) / 4294967296.0 -
	       (double)(now_us() - R1.rx[0].t_us) / 1e6;
	if (diff < -0.5 || diff > 0.5)
		TEST_FAIL("rtcp_reports", "NTP time off by %.3f s", diff);
	/* The RTP clock ran on since the last packet: 8 per ms. */
	t_rep = R1.rx[0].t_us - A1.rx[A1.nrx - 1].t_us;
	diff = (double)(uint32_t)(rep.rtp_ts - last.ts) - (double)t_rep * 8e-3;
	if (diff < -1600 || diff > 800)
		TEST_FAIL("rtcp_reports", "SR RTP time off by %.0f", diff);
	CHECK_EQ(rep.blk_ssrc, 0xA1A1A1A1u);
	CHECK_EQ(rep.ext_seq, 1010);
	CHECK_EQ(rep.lost, 1);
	CHECK_EQ(rep.fraction, 256 / 11);
	CHECK(rep.jitter < 8000);
	CHECK_EQ(rep.lsr, 0);
	CHECK_EQ(rep.dlsr, 0);

	/* S2: nothing sent, so an RR; it went where the SR came from. */
	CHECK_EQ(R2a.nrx, 0);
	CHECK_EQ(A2.nrx, 0);
	CHECK_OK(report_parse(&R2b, 0, S2.port, &rep));
	CHECK_EQ(rep.pt, 201);
	CHECK_EQ(rep.rc, 1);
	CHECK_EQ(rep.blk_ssrc, 0xB2B2B2B2u);
	CHECK_EQ(rep.ext_seq, 504);
	CHECK_EQ(rep.lost, 0);
	CHECK_EQ(rep.fraction, 0);
	CHECK_EQ(rep.lsr, 0x33445566u);
	/* DLSR: from the SR's arrival to the report, in 1/65536 s. */
	diff = rep.dlsr / 65536.0 - (R2b.rx[0].t_us - sr_sent_us) / 1e6;
	if (diff < -0.25 || diff > 0.05)
		TEST_FAIL("rtcp_reports", "DLSR off by %.3f s", diff);

	/* S3: nothing heard, nothing sent: an RR without a block. */
	CHECK_OK(report_parse(&R3, 0, S3.port, &rep));
	CHECK_EQ(rep.pt, 201);
	CHECK_EQ(rep.rc, 0);

	/* S5: no ACK, nothing from the caller: nothing sent. */
	CHECK_EQ(R5.nrx, 0);

	/* S4: X4's SR was not the caller's; the SDP still decides. */
	CHECK_OK(report_parse(&R4, 0, S4.port, &rep));
	CHECK_EQ(rep.pt, 201);
	CHECK_EQ(X4.nrx, 0);

	CHECK_OK(sess_stop(&S1));
	CHECK_OK(sess_stop(&S2));
	CHECK_OK(sess_stop(&S3));
	CHECK_OK(sess_stop(&S4));
	CHECK_OK(sess_stop(&S5));
	sleep_loop(50);
	/* The other cases ran meanwhile: more than 5 s may have passed. */
	CHECK_EQ(S1.stats.rtcp_out, R1.nrx);
	CHECK_EQ(S1.stats.packets_in, a1_sent);
	CHECK_EQ(S1.stats.packets_out, A1.nrx);
	CHECK_EQ(S1.stats.lost, 1);
	CHECK_EQ(S2.stats.rtcp_out, R2b.nrx);
	CHECK_EQ(S2.stats.rtcp_in, 1);
	CHECK_EQ(S2.stats.packets_in, 5);
	CHECK_EQ(S2.stats.packets_out, 0);
	CHECK_EQ(S3.stats.rtcp_out, R3.nrx);
	CHECK_EQ(S3.stats.packets_in, 0);
	CHECK_EQ(S4.stats.rtcp_out, R4.nrx);
	CHECK_EQ(S4.stats.wrong_source, 1);
	CHECK_EQ(S5.stats.rtcp_out, 0);
	CHECK_EQ(S5.stats.packets_out, 0);
	CHECK(sess_release(&S1) && sess_release(&S2) && sess_release(&S3) &&
	      sess_release(&S4) && sess_release(&S5));
	return 0;
}

/* ---- argument checks -------------------------------------------------- */

/* The header read on its own: where the payload lies, and every way a
 * header can overrun its datagram. */
TEST(rtp_parse_bounds)
{
	uint8_t b[64] = {0x80, 0x08, 0x12, 0x34, 0, 0, 0x01, 0x40, 0, 0, 0, 9};
	struct rtp_packet h;
	struct rtcp_packet r;

	CHECK_EQ(rtp_parse(b, 11, &h), EBADMSG);
	CHECK_EQ(rtp_parse(b, 12, &h), 0);
	CHECK(h.pt == 8 && h.seq == 0x1234 && h.ts == 320 && h.ssrc == 9);
	CHECK(h.off == 12 && h.end == 12 && !h.marker);
	b[0] = 0x40; /* version 1 */
	CHECK_EQ(rtp_parse(b, 20, &h), EBADMSG);
	b[0] = 0x80;
	b[1] = 200; /* RTCP on the RTP port */
	CHECK_EQ(rtp_parse(b, 20, &h), EPROTO);
	b[1] = 0x80;
	/* Two CSRCs, an extension of one word, 4 bytes of payload and 4 of
	 * padding. */
	b[0] = 0x80 | 0x20 | 0x10 | 2;
	b[22] = 0;
	b[23] = 1;
	b[35] = 4;
	CHECK_EQ(rtp_parse(b, 36, &h), 0);
	CHECK(h.marker && h.pt == 0 && h.off == 28 && h.end == 32);
	/* Each part cut short: the extension's header, its body, then the
	 * padding. */
	b[0] = 0x80 | 0x10 | 2;
	CHECK_EQ(rtp_parse(b, 23, &h), EBADMSG);
	CHECK_EQ(rtp_parse(b, 27, &h), EBADMSG);
	CHECK_EQ(rtp_parse(b, 28, &h), 0);
	b[0] = 0x80 | 0x20 | 0x10 | 2;
	b[35] = 36 + 1;
	CHECK_EQ(rtp_parse(b, 36, &h), EBADMSG);
	b[35] = 0;
	CHECK_EQ(rtp_parse(b, 36, &h), EBADMSG);
	b[0] = 0x80 | 15; /* fifteen CSRCs */
	CHECK_EQ(rtp_parse(b, 64, &h), EBADMSG);

	memset(b, 0, sizeof(b));
	b[0] = 0x80;
	b[1] = 200;
	b[10] = 0xab;
	b[13] = 0xcd;
	CHECK_EQ(rtcp_parse(b, 7, &r), EBADMSG);
	CHECK_EQ(rtcp_parse(b, 27, &r), 0);
	CHECK(r.pt == 200 && !r.sr);
	CHECK_EQ(rtcp_parse(b, 28, &r), 0);
	CHECK(r.sr && r.sr_ntp == 0xab0000cd);
	b[1] = 96;
	CHECK_EQ(rtcp_parse(b, 28, &r), EBADMSG);
	return 0;
}

TEST(bad_arguments)
{
	struct media_engine_params ep = {.threads = 1,
	                                 .port_min = 41300,
	                                 .port_max = 41300,
	                                 .jitter_min_ms = 40,
	                                 .jitter_max_ms = 60,
	                                 .media_timeout_ms = TIMEOUT_MS};
	struct media_engine *me = NULL;
	struct media_params prm;
	void *st = NULL;
	struct agent_call_info info = {.sample_rate = 8000};

	sa_set_str(&ep.bind, "127.0.0.1", 0);
	CHECK_EQ(media_engine_open(&me, &ep), EINVAL);
	ep.port_max = 41200;
	CHECK_EQ(media_engine_open(&me, &ep), EINVAL);
	CHECK_EQ(media_engine_open(NULL, &ep), EINVAL);
	CHECK_EQ(media_engine_open(&me, NULL), EINVAL);
	CHECK(me == NULL);

	CHECK_EQ(media_session_alloc(NULL, engine, sess_event, &S), EINVAL);
	CHECK_EQ(media_session_alloc(&S.ms, NULL, sess_event, &S), EINVAL);
	CHECK_EQ(media_session_alloc(&S.ms, engine, NULL, &S), EINVAL);
	CHECK(S.ms == NULL);

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	/* Not started: nothing to update. */
	CHECK_EQ(media_session_update(S.ms, &prm), EINVAL);
	CHECK_EQ(media_session_start(S.ms, NULL, &agent_audio_echo, NULL),
	         EINVAL);
	CHECK_EQ(media_session_start(S.ms, &prm, NULL, NULL), EINVAL);
	CHECK_EQ(media_session_start(NULL, &prm, &agent_audio_echo, NULL),
	         EINVAL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	/* Started once only. */
	CHECK_EQ(agent_audio_echo.start(&st, &info, NULL), 0);
	CHECK_EQ(media_session_start(S.ms, &prm, &agent_audio_echo, st),
	         EINVAL);
	agent_audio_echo.stop(st);
	CHECK_EQ(media_session_update(S.ms, NULL), EINVAL);
	CHECK_EQ(media_session_update(S.ms, &prm), 0);
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_after_stop, 0);
	CHECK(sess_release(&S));
	return 0;
}

/* A session that never started still reports STOPPED, from the loop. */
TEST(stop_unstarted)
{
	CHECK_EQ(sess_alloc(&S, engine), 0);
	CHECK(S.port >= PORT_MIN && S.port + 1 <= PORT_MAX);
	CHECK_EQ(S.port % 2, 0);
	media_session_stop(S.ms);
	CHECK_EQ(S.n_stopped, 0); /* not from inside the call */
	WAIT(S.n_stopped, 1000);
	CHECK_EQ(S.n_stopped, 1);
	CHECK_EQ(S.stats.packets_in, 0);
	CHECK_EQ(S.stats.packets_out, 0);
	S.ms = mem_deref(S.ms);
	return 0;
}

/* ---- echo over symmetric RTP ------------------------------------------ */

/*
 * The SDP says C; the caller really sends from A, on C's host (a NAT that
 * rewrote the port). The greeting goes to C until A has proved itself with
 * three packets in sequence (the first two are not heard); from then on
 * everything goes to A: the rest of the call's single stream, with A's
 * audio said back.
 */
TEST(greeting_then_echo)
{
	enum { G = 10, N = 25 };
	struct media_params prm;
	struct stream st = {0};
	unsigned first = 0;
	size_t c_count;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&C), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &C, NULL);
	CHECK_EQ(sess_start(&S, &prm, greeting, G * FRAME), 0);

	/* The greeting, to the SDP's address, frame by frame. */
	WAIT(C.nrx >= G, 1000);
	sleep_loop(80);
	CHECK_EQ(C.nrx, G);
	CHECK_EQ(A.nrx, 0);
	CHECK_OK(stream_check(&st, &C, 0, G, S.port, MEDIA_PT_PCMU));
	CHECK_EQ(st.markers, 1);
	for (size_t g = 0; g < G; g++)
		CHECK(greeting_is(&C, g, g, MEDIA_PT_PCMU));
	CHECK_EQ(S.n_first, 0);

	/* The caller talks from A. */
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 0, N);
	WAIT(S.n_first, 500);
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	CHECK(S.t_first_us >= A.t0_us);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(peer_done(&A));
	c_count = C.nrx;
	CHECK_EQ(c_count, G);

	/* Echo: all of A's frames, in order (a few may be dropped if the
	 * test's own timing bunches packets beyond the jitter maximum). */
	CHECK(A.nrx >= N - 6 && A.nrx <= N - 2 + FILL_FRAMES);
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMU));
	CHECK(st.markers <= 1 + A.nrx / 5);
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, &first, NULL));
	CHECK(first >= 2 && first <= 4);

	CHECK_OK(sess_stop(&S));
	sleep_loop(60);
	CHECK_EQ(S.stats.packets_in, N - 2);
	CHECK_EQ(S.stats.probation, 2);
	CHECK_EQ(S.stats.packets_out, G + A.nrx);
	/* Each frame heard or filled in is said back unless the jitter
	 * buffer dropped it (or, after an underrun, the last one is left
	 * waiting alone). */
	CHECK(S.stats.concealed <=
	      FILL_FRAMES * (1 + S.stats.underrun + S.stats.stretched));
	CHECK(S.stats.packets_out + S.stats.discarded <=
	      G + N - 2 + S.stats.concealed);
	CHECK(S.stats.packets_out + S.stats.discarded >= G + N - 3);
	CHECK_EQ(S.stats.wrong_source, 0);
	CHECK_EQ(S.stats.unknown_pt, 0);
	CHECK_EQ(S.stats.malformed, 0);
	CHECK_EQ(S.stats.lost, 0);
	CHECK_EQ(S.stats.late, 0);
	CHECK_EQ(S.stats.duplicate, 0);
	/* Nothing after STOPPED. */
	CHECK_EQ(C.nrx, c_count);
	CHECK_EQ(A.nrx, st.n - G);
	CHECK_EQ(S.n_timeout, 0);
	CHECK(sess_release(&S));
	return 0;
}

/* An agent that says SPURT frames (sample value 3000 + k) when told to,
 * counting how each was taken: at a tick or early. */
enum { SPURT = 3 };
struct spurt {
	atomic_uint ready;  /* frames to say, set by the test */
	atomic_uint taken;  /* of them, taken so far */
	atomic_uint early;  /* taken by audio_early */
	atomic_uint missed; /* audio_early calls that found nothing */
	/* The spurt's first frame is audio_early's alone: a tick between
	 * the test's ready and its kick would otherwise take it. */
	atomic_bool kick_first;
};

static void spurt_frame(struct spurt *a, int16_t *pcm)
{
	unsigned k = atomic_fetch_add(&a->taken, 1);

	for (size_t i = 0; i < FRAME; i++)
		pcm[i] = (int16_t)(3000 + k);
}

static void spurt_in(void *state, const int16_t *pcm, size_t n, uint64_t t)
{
	(void)state, (void)pcm, (void)n, (void)t;
}

static size_t spurt_out(void *state, int16_t *pcm, size_t n)
{
	struct spurt *a = state;

	if (n != FRAME || atomic_load(&a->kick_first) ||
	    atomic_load(&a->taken) >= atomic_load(&a->ready))
		return 0;
	spurt_frame(a, pcm);
	return FRAME;
}

static size_t spurt_early(void *state, int16_t *pcm, size_t n)
{
	struct spurt *a = state;

	if (n != FRAME || atomic_load(&a->taken) >= atomic_load(&a->ready)) {
		atomic_fetch_add(&a->missed, 1);
		return 0;
	}
	atomic_fetch_add(&a->early, 1);
	atomic_store(&a->kick_first, false);
	spurt_frame(a, pcm);
	return FRAME;
}

static void spurt_stop(void *state)
{
	(void)state;
}

static const struct agent_ops spurt_agent = {
    .name = "spurt",
    .audio_in = spurt_in,
    .audio_out = spurt_out,
    .audio_early = spurt_early,
    .stop = spurt_stop,
};

/* A kick sends the agent's first frame at once through audio_early; the
 * tick it stood for sends nothing, so the spurt goes on at the next tick
 * with the RTP clock and sequence unbroken. A kick while the call talks,
 * or with nothing ready, sends nothing more. */
TEST(first_frame_early)
{
	static struct spurt a;
	struct media_params prm;
	struct rtp h[2 * SPURT];
	unsigned n0;

	memset(&a, 0, sizeof(a));
	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(media_session_start(S.ms, &prm, &spurt_agent, &a), 0);
	S.started = true;
	media_session_confirm(S.ms);
	sleep_loop(60);

	/* nothing ready: the kick finds nothing and nothing is sent */
	media_session_kick(S.ms);
	WAIT(atomic_load(&a.missed) >= 1, 500);
	CHECK_EQ(atomic_load(&a.missed), 1);
	sleep_loop(60);
	CHECK_EQ(A.nrx, 0);

	for (int spurt = 0; spurt < 2; spurt++) {
		n0 = A.nrx;
		atomic_store(&a.kick_first, true);
		atomic_fetch_add(&a.ready, SPURT);
		media_session_kick(S.ms);
		WAIT(A.nrx >= n0 + SPURT, 1000);
		sleep_loop(60);
		CHECK_EQ(A.nrx, n0 + SPURT);
		CHECK_EQ(atomic_load(&a.early), (unsigned)spurt + 1);
		for (unsigned i = 0; i < SPURT; i++) {
			int16_t pcm[FRAME];

			CHECK_OK(rtp_get(&A, n0 + i, S.port, &h[n0 + i]));
			decode(MEDIA_PT_PCMU, pcm, h[n0 + i].payload, FRAME);
			/* mu-law keeps 3000 + k within a step */
			CHECK(abs(pcm[0] - (3000 + (int)(n0 + i))) <= 64);
			CHECK_EQ(h[n0 + i].marker, i == 0);
			if (i) {
				CHECK_EQ((uint16_t)(h[n0 + i].seq -
				                    h[n0 + i - 1].seq),
				         1);
				CHECK_EQ(h[n0 + i].ts - h[n0 + i - 1].ts,
				         FRAME);
			}
		}
	}
	/* between the spurts the clock ran on through silence */
	CHECK(h[SPURT].ts - h[SPURT - 1].ts > FRAME);
	CHECK_EQ((uint16_t)(h[SPURT].seq - h[SPURT - 1].seq), 1);

	/* a kick in the middle of a spurt sends nothing early */
	n0 = A.nrx;
	atomic_store(&a.kick_first, true);
	atomic_fetch_add(&a.ready, 25);
	media_session_kick(S.ms);
	WAIT(A.nrx >= n0 + 5, 1000);
	media_session_kick(S.ms);
	WAIT(A.nrx >= n0 + 25, 1500);
	sleep_loop(60);
	CHECK_EQ(A.nrx, n0 + 25);
	CHECK_EQ(atomic_load(&a.early), 3);
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.packets_out, 2 * SPURT + 25);
	CHECK(sess_release(&S));
	peer_close(&A);
	return 0;
}

/* Latched to A: B's packets (valid RTP, another port) are dropped and
 * counted, and nothing is sent to B. */
TEST(wrong_source_dropped)
{
	enum { NA = 20, NB = 10 };
	struct media_params prm;
	struct stream st = {0};

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&B), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMU, 0, NA);
	WAIT(A.nrx >= 2, 1000);
	CHECK(A.nrx >= 2);
	peer_stream(&B, S.port, MEDIA_PT_PCMU, 1, NB);
	WAIT(peer_done(&A) && peer_done(&B) &&
	         now_us() - A.last_send_us > 200000,
	     2000);
	CHECK(peer_done(&A) && peer_done(&B));

	CHECK_EQ(B.nrx, 0);
	CHECK(A.nrx >= NA - 4);
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMU));
	/* Only A's audio: B's never reached the agent. */
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	CHECK_EQ(S.stats.wrong_source, NB);
	CHECK_EQ(S.stats.packets_in, NA);
	CHECK_EQ(S.stats.packets_out, A.nrx);
	CHECK(sess_release(&S));
	return 0;
}

/* ---- whom the call latches to ----------------------------------------- */

/* One packet by hand from p: seq, its timestamp, SSRC ssrc. */
static void send_seq(struct peer *p, uint16_t port, uint16_t seq, uint32_t ssrc)
{
	uint8_t b[RTP_LEN];
	struct sa dst;

	memset(b, 0xff, sizeof(b));
	rtp_header(b, false, MEDIA_PT_PCMU, seq, FRAME * seq, ssrc);
	sa_set_in(&dst, INADDR_LOOPBACK, port);
	peer_send(p, &dst, b, sizeof(b));
}

/* n packets in sequence from p, 20 ms apart, from seq on. */
static void send_run(struct peer *p, uint16_t port, uint16_t seq, unsigned n)
{
	uint64_t t0 = now_us();

	for (unsigned i = 0; i < n; i++) {
		sleep_until(t0 + 20000u * i);
		send_seq(p, port, (uint16_t)(seq + i), 0x77);
	}
}

/*
 * A third party's packet reaches the call's port before the caller's
 * first one: the call does not go to it. The caller (the SDP's address)
 * is heard and hears its echo; the third party hears nothing.
 */
TEST(stray_packet_first)
{
	enum { N = 20 };
	struct media_params prm;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&B), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	send_seq(&B, S.port, 1, 0x77);
	sleep_loop(40);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 0, N);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(peer_done(&A));
	CHECK_EQ(B.nrx, 0);
	CHECK(A.nrx >= N - 4);
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	CHECK_EQ(S.stats.packets_in, N);
	CHECK_EQ(S.stats.wrong_source, 0);
	CHECK_EQ(S.stats.probation, 1);
	CHECK(sess_release(&S));
	return 0;
}

/*
 * A third party on the caller's host (another port, as a NAT would
 * rewrite it) sends a run in sequence before the caller: it may have the
 * call until the caller's first packet from the SDP's address, which
 * takes it back for good.
 */
TEST(sdp_address_takes_the_call_back)
{
	enum { N = 20 };
	struct media_params prm;
	size_t b_had;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&B), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	send_run(&B, S.port, 100, 5);
	/* What B earned is said back to it before A starts. */
	sleep_loop(200);
	b_had = B.nrx;
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 0, N);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(peer_done(&A));
	CHECK(A.nrx >= N - 4);
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));
	CHECK_EQ(B.nrx, b_had);
	/* From now on B is the wrong source, however long its run. */
	send_run(&B, S.port, 105, 5);
	sleep_loop(100);
	CHECK_EQ(B.nrx, b_had);

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.wrong_source, 5);
	CHECK_EQ(S.stats.probation, 2);
	CHECK_EQ(S.stats.packets_in, 3 + N);
	CHECK(sess_release(&S));
	return 0;
}

/*
 * The SDP's address is public and a source on its host sends from another
 * port (a NAT or SBC there that rewrites the port, or a third party on
 * that host): its packets out of sequence, or from SSRCs that change, never
 * have the call, however many; three in sequence from one SSRC do.
 */
TEST(same_host_needs_a_run)
{
	struct media_params prm;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&B), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK(!media_addr_private(&prm.raddr));
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	for (unsigned i = 0; i < 8; i++) {
		send_seq(&B, S.port, (uint16_t)(1000 + 7 * i), 0x77);
		sleep_loop(20);
	}
	for (unsigned i = 0; i < 8; i++) {
		send_seq(&B, S.port, (uint16_t)(2000 + i), 0x100 + i);
		sleep_loop(20);
	}
	sleep_loop(60);
	CHECK_EQ(S.n_first, 0);

	send_run(&B, S.port, 3000, 3);
	sleep_loop(60);
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &B.addr, SA_ALL));

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.probation, 16 + 2);
	CHECK_EQ(S.stats.wrong_source, 0);
	CHECK_EQ(S.stats.packets_in, 1);
	CHECK(sess_release(&S));
	return 0;
}

/* The SDP's address is public (not one behind NAT): another host is never
 * the caller, however well it numbers its packets. */
TEST(other_host_refused)
{
	enum { N = 12 };
	struct media_params prm;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open_on(&E, INADDR_LOOPBACK + 1), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	peer_stream(&E, S.port, MEDIA_PT_PCMU, 1, N);
	WAIT(peer_done(&E) && now_us() - E.last_send_us > 100000, 2000);
	CHECK(peer_done(&E));
	CHECK_EQ(E.nrx, 0);
	CHECK_EQ(S.n_first, 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMU, 0, N);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(A.nrx >= N - 4);
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));
	CHECK_EQ(E.nrx, 0);

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	CHECK_EQ(S.stats.wrong_source, N);
	CHECK_EQ(S.stats.packets_in, N);
	CHECK(sess_release(&S));
	return 0;
}

/*
 * The SDP names a private address (a caller behind NAT): the caller's
 * packets will come from elsewhere, so any host may have the call, but
 * only with packets in sequence. E's scattered packets come first and
 * get nothing; F's stream has the call although E goes on spraying
 * between F's packets.
 */
TEST(private_sdp_needs_a_run)
{
	enum { N = 20 };
	struct media_params prm;
	unsigned sprayed = 0;
	uint64_t last = 0;

	CHECK_EQ(peer_open_on(&E, INADDR_LOOPBACK + 1), 0);
	CHECK_EQ(peer_open_on(&F, INADDR_LOOPBACK + 2), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &F, NULL);
	CHECK_EQ(sa_set_str(&prm.raddr, "10.11.12.13", 4000), 0);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	for (unsigned i = 0; i < 8; i++) {
		send_seq(&E, S.port, (uint16_t)(1000 + 7 * i), 0x77);
		sleep_loop(20);
	}
	sleep_loop(60);
	CHECK_EQ(S.n_first, 0);

	peer_stream(&F, S.port, MEDIA_PT_PCMU, 3, N);
	while (!peer_done(&F) && now_us() - F.t0_us < 2000000) {
		step();
		if (now_us() - last >= 7000) {
			send_seq(&E, S.port, (uint16_t)(3000 + 11 * sprayed++),
			         0x77);
			last = now_us();
		}
	}
	WAIT(now_us() - F.last_send_us > 200000, 1000);
	CHECK(peer_done(&F));
	CHECK(F.nrx >= N - 6);
	CHECK_OK(echo_check(&F, 0, F.nrx, &F, NULL, NULL));
	CHECK_EQ(E.nrx, 0);

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &F.addr, SA_ALL));
	CHECK_EQ(S.stats.packets_in, N - 2);
	/* E's spray once F had the call: from the wrong source. */
	CHECK(S.stats.wrong_source > 0);
	CHECK_EQ(S.stats.probation + S.stats.wrong_source, 8 + 2 + sprayed);
	CHECK(sess_release(&S));
	return 0;
}

TEST(private_addresses)
{
	static const struct {
		const char *addr;
		bool private;
	} cases[] = {
	    {"10.0.0.1", true},
	    {"10.255.255.255", true},
	    {"11.0.0.1", false},
	    {"9.255.255.255", false},
	    {"172.16.0.1", true},
	    {"172.31.255.254", true},
	    {"172.32.0.1", false},
	    {"172.15.255.255", false},
	    {"192.168.1.1", true},
	    {"192.169.0.1", false},
	    {"100.64.0.1", true},
	    {"100.127.255.255", true},
	    {"100.128.0.1", false},
	    {"100.63.255.255", false},
	    {"169.254.7.7", true},
	    {"169.253.0.1", false},
	    {"127.0.0.1", false},
	    {"203.0.113.7", false},
	    {"fd12:3456::1", true},
	    {"fc00::1", true},
	    {"fe80::1", true},
	    {"febf::1", true},
	    {"fec0::1", false},
	    {"2001:db8::1", false},
	    {"::1", false},
	    {"::ffff:192.168.0.1", true},
	    {"::ffff:8.8.8.8", false},
	    {"::ffff:100.100.0.1", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sa a;

		CHECK_EQ(sa_set_str(&a, cases[i].addr, 5000), 0);
		if (media_addr_private(&a) != cases[i].private)
			TEST_FAIL("private_addresses",
			          "%s: private %d, want %d", cases[i].addr,
			          !cases[i].private, cases[i].private);
	}
	CHECK(!media_addr_private(NULL));
	return 0;
}

/* ---- nothing before the caller shows it is there ---------------------- */

/*
 * The SDP names C, who sends nothing and has not ACKed: the INVITE may
 * have been sent with a forged source to make us stream at C. Nothing goes
 * to C, though the agent has a greeting. The ACK comes: the greeting
 * plays, from its first frame.
 */
TEST(nothing_before_ack)
{
	enum { G = 10 };
	struct media_params prm;
	struct stream st = {0};

	CHECK_EQ(peer_open(&C), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &C, NULL);
	CHECK_EQ(sess_start_unacked(&S, &prm, greeting, G * FRAME), 0);
	sleep_loop(300);
	CHECK_EQ(C.nrx, 0);

	media_session_confirm(S.ms);
	WAIT(C.nrx >= G, 1000);
	sleep_loop(60);
	CHECK_EQ(C.nrx, G);
	CHECK_OK(stream_check(&st, &C, 0, G, S.port, MEDIA_PT_PCMU));
	for (size_t g = 0; g < G; g++)
		CHECK(greeting_is(&C, g, g, MEDIA_PT_PCMU));

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.packets_out, G);
	CHECK(sess_release(&S));
	return 0;
}

/* The ACK may be known before the media starts (the answer came in it). */
TEST(ack_before_start)
{
	enum { G = 5 };
	struct media_params prm;

	CHECK_EQ(peer_open(&C), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &C, NULL);
	media_session_confirm(S.ms);
	CHECK_EQ(sess_start_unacked(&S, &prm, greeting, G * FRAME), 0);
	WAIT(C.nrx >= G, 1000);
	CHECK_EQ(C.nrx, G);
	CHECK(greeting_is(&C, 0, 0, MEDIA_PT_PCMU));
	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	return 0;
}

/* A packet from the SDP's address shows the caller is there as well as
 * the ACK does: the greeting starts, from its first frame. */
TEST(caller_rtp_before_ack)
{
	enum { G = 10 };
	struct media_params prm;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start_unacked(&S, &prm, greeting, G * FRAME), 0);
	sleep_loop(200);
	CHECK_EQ(A.nrx, 0);
	send_seq(&A, S.port, 1, 0x77);
	WAIT(A.nrx >= G, 1000);
	CHECK_EQ(A.nrx, G);
	for (size_t g = 0; g < G; g++)
		CHECK(greeting_is(&A, g, g, MEDIA_PT_PCMU));

	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	return 0;
}

/* The SDP's address is private, so F's run has the call; but F is not
 * the SDP's address and could be anyone: nothing goes to it until the ACK
 * comes, then the greeting does. */
TEST(run_from_elsewhere_waits_for_ack)
{
	enum { G = 5 };
	struct media_params prm;

	CHECK_EQ(peer_open_on(&F, INADDR_LOOPBACK + 2), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &F, NULL);
	CHECK_EQ(sa_set_str(&prm.raddr, "10.11.12.13", 4000), 0);
	CHECK_EQ(sess_start_unacked(&S, &prm, greeting, G * FRAME), 0);
	peer_stream(&F, S.port, MEDIA_PT_PCMU, 5, 15);
	WAIT(S.n_first, 500);
	CHECK_EQ(S.n_first, 1);
	WAIT(peer_done(&F) && now_us() - F.last_send_us > 150000, 1000);
	CHECK(peer_done(&F));
	CHECK_EQ(F.nrx, 0);

	media_session_confirm(S.ms);
	WAIT(F.nrx >= G, 1000);
	CHECK(F.nrx >= G);
	for (size_t g = 0; g < G; g++)
		CHECK(greeting_is(&F, g, g, MEDIA_PT_PCMU));

	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	return 0;
}

/* The SDP's addresses must be where one caller can be: not multicast,
 * broadcast or reserved; not unspecified either, except to put the call
 * on hold in an update (c=0.0.0.0, RFC 2543). */
TEST(sdp_addresses_refused)
{
	static const char *const refused[] = {
	    "224.0.0.1",
	    "239.255.255.250",
	    "255.255.255.255",
	    "240.0.0.1",
	    "0.0.0.0",
	    "0.1.2.3",
	    "ff02::1",
	    "::",
	    "::ffff:224.0.0.251",
	    "::ffff:0.0.0.0",
	};
	static const char *const hold_ok[] = {"0.0.0.0", "::"};
	struct media_params prm;

	CHECK_EQ(peer_open(&A), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CHECK_EQ(sess_alloc(&S, engine), 0);
		prm = params(MEDIA_PT_PCMU, &A, NULL);
		CHECK_EQ(sa_set_str(&prm.raddr, refused[i], 4000), 0);
		if (sess_start_unacked(&S, &prm, NULL, 0) != EADDRNOTAVAIL)
			TEST_FAIL("sdp_addresses_refused", "c=%s accepted",
			          refused[i]);
		/* The RTCP address too, where it would be sent to. */
		prm = params(MEDIA_PT_PCMU, &A, NULL);
		CHECK_EQ(sa_set_str(&prm.raddr_rtcp, refused[i], 4001), 0);
		if (sa_isset(&prm.raddr_rtcp, SA_ADDR) &&
		    sess_start_unacked(&S, &prm, NULL, 0) != EADDRNOTAVAIL)
			TEST_FAIL("sdp_addresses_refused",
			          "a=rtcp:4001 IN IP4 %s accepted", refused[i]);
		CHECK(sess_release(&S));
	}

	/* An update may put the call on hold with an unspecified address,
	 * but not move it to a refused one. */
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(hold_ok) / sizeof(hold_ok[0]); i++) {
		CHECK_EQ(sa_set_str(&prm.raddr, hold_ok[i], 4000), 0);
		CHECK_EQ(media_session_update(S.ms, &prm), 0);
	}
	CHECK_EQ(sa_set_str(&prm.raddr, "224.0.0.1", 4000), 0);
	CHECK_EQ(media_session_update(S.ms, &prm), EADDRNOTAVAIL);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(media_session_update(S.ms, &prm), 0);
	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	return 0;
}

/* ---- bad packets ------------------------------------------------------ */

TEST(bad_packets_counted)
{
	uint8_t b[RTP_LEN];
	struct media_params prm;
	struct sa dst;
	unsigned malformed = 0, unknown = 0;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, greeting, 20 * FRAME), 0);
	sa_set_in(&dst, INADDR_LOOPBACK, S.port);

	memset(b, 0xd5, sizeof(b));
	/* Shorter than a header. */
	rtp_header(b, false, 0, 1, 0, 1);
	peer_send(&A, &dst, b, 0);
	peer_send(&A, &dst, b, 8);
	peer_send(&A, &dst, b, 11);
	malformed += 3;
	/* Version 1, version 0, version 3. */
	b[0] = 0x40;
	peer_send(&A, &dst, b, sizeof(b));
	b[0] = 0x00;
	peer_send(&A, &dst, b, sizeof(b));
	b[0] = 0xc0;
	peer_send(&A, &dst, b, sizeof(b));
	malformed += 3;
	/* 15 CSRCs (72 bytes of header) in 20 bytes. */
	b[0] = 0x8f;
	peer_send(&A, &dst, b, 20);
	malformed++;
	/* Padding: a zero count, and more than the packet. */
	b[0] = 0xa0;
	b[sizeof(b) - 1] = 0;
	peer_send(&A, &dst, b, sizeof(b));
	b[sizeof(b) - 1] = 200;
	peer_send(&A, &dst, b, sizeof(b));
	malformed += 2;
	/* A header extension longer than the packet. */
	b[0] = 0x90;
	put_be16(b + 12, 0xbede);
	put_be16(b + 14, 100);
	peer_send(&A, &dst, b, 40);
	malformed++;

	/* Payload types not negotiated: dynamic 96, 127 and CN (13). */
	rtp_header(b, false, 96, 2, 0, 1);
	for (int i = 0; i < 5; i++)
		peer_send(&A, &dst, b, sizeof(b));
	rtp_header(b, false, 127, 3, 0, 1);
	peer_send(&A, &dst, b, sizeof(b));
	rtp_header(b, false, 13, 4, 0, 1);
	peer_send(&A, &dst, b, 13);
	unknown += 7;

	/* None of that latches, sends or counts as received. */
	sleep_loop(100);
	CHECK_EQ(S.n_first, 0);

	/* RTCP multiplexed on the RTP port (RFC 5761): counted as RTCP. */
	b[0] = 0x80;
	b[1] = 200;
	put_be16(b + 2, 6);
	peer_send(&A, &dst, b, 28);

	/* A telephone-event packet: valid, latches, is DTMF. */
	rtp_header(b, true, DTMF_PT, 5, 0, 1);
	b[12] = 1;
	b[13] = 0x0a;
	put_be16(b + 14, 160);
	peer_send(&A, &dst, b, 16);
	WAIT(S.n_first, 500);
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	/* Latched to A: the greeting now goes there. */
	WAIT(A.nrx >= 1, 500);
	CHECK(A.nrx >= 1);

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.malformed, malformed);
	CHECK_EQ(S.stats.unknown_pt, unknown);
	CHECK_EQ(S.stats.rtcp_in, 1);
	CHECK_EQ(S.stats.dtmf_in, 1);
	CHECK_EQ(S.stats.packets_in, 1);
	CHECK_EQ(S.stats.wrong_source, 0);
	CHECK(sess_release(&S));
	return 0;
}

/* A packet that announces a header extension but ends before the
 * extension's own header is truncated, not a packet with no payload. */
TEST(truncated_extension_malformed)
{
	uint8_t b[16];
	struct media_params prm;
	struct sa dst;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	sa_set_in(&dst, INADDR_LOOPBACK, S.port);

	memset(b, 0, sizeof(b));
	rtp_header(b, false, 0, 1, 0, 1);
	b[0] |= 0x10; /* X */
	peer_send(&A, &dst, b, 12);
	peer_send(&A, &dst, b, 14);
	sleep_loop(60);

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 0);
	CHECK_EQ(S.stats.packets_in, 0);
	CHECK_EQ(S.stats.malformed, 2);
	CHECK(sess_release(&S));
	return 0;
}

/* CSRCs, a header extension and padding are all skipped: the agent hears
 * exactly the payload. */
TEST(header_extras_skipped)
{
	enum { N = 6 };
	struct media_params prm;
	struct stream st = {0};

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&B), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	/* B only makes the frames (it sends nothing: limit 0); A sends them
	 * with the extras, 20 ms apart. */
	peer_stream(&B, 9, MEDIA_PT_PCMU, 2, 0);
	for (unsigned j = 0; j < N; j++) {
		uint8_t b[12 + 8 + 8 + FRAME + 3];
		int16_t pcm[FRAME];
		struct sa dst;
		size_t off;

		sleep_until(B.t0_us + 20000u * j);
		off = rtp_header(b, j == 0, MEDIA_PT_PCMU, (uint16_t)(7 + j),
		                 FRAME * j, 0x55);
		b[0] |= 0x20 | 0x10 | 2; /* P, X, CC=2 */
		put_be32(b + off, 0x11111111);
		put_be32(b + off + 4, 0x22222222);
		off += 8;
		put_be16(b + off, 0xbede);
		put_be16(b + off + 2, 1);
		put_be32(b + off + 4, 0x10ff0000);
		off += 8;
		caller_pcm(B.seed, j, pcm);
		encode(MEDIA_PT_PCMU, b + off, pcm, FRAME);
		B.sent_pt[j] = MEDIA_PT_PCMU;
		off += FRAME;
		b[off] = 0;
		b[off + 1] = 0;
		b[off + 2] = 3;
		sa_set_in(&dst, INADDR_LOOPBACK, S.port);
		peer_send(&A, &dst, b, sizeof(b));
	}
	B.sent = N;
	WAIT(A.nrx >= N, 500);
	CHECK_EQ(A.nrx, N);
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMU));
	CHECK_OK(echo_check(&A, 0, A.nrx, &B, NULL, NULL));
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.malformed, 0);
	CHECK_EQ(S.stats.packets_in, N);
	CHECK(sess_release(&S));
	return 0;
}

/* ---- PCMA ------------------------------------------------------------- */

/* A PCMA call sends PCMA: what arrives as PCMA comes back the same, what
 * arrives as PCMU comes back transcoded. */
TEST(pcma_session)
{
	enum { N = 24 };
	struct media_params prm;
	struct stream st = {0};
	size_t k;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMA, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMA, 3, N / 2);
	WAIT(peer_done(&A), 1000);
	A.pt = MEDIA_PT_PCMU; /* the same stream goes on in PCMU */
	A.limit = N;
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(peer_done(&A));

	CHECK(A.nrx >= N - 4);
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMA));
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));
	/* Both kinds came back. */
	CHECK(frame_is(&A, 0, MEDIA_PT_PCMA, A.rx[0].b + 12) ||
	      frame_is(&A, 1, MEDIA_PT_PCMA, A.rx[0].b + 12));
	/* The last heard, before the fill-in of the stream's end. */
	for (k = A.nrx; k-- > 0 && k + FILL_FRAMES + 1 >= A.nrx;)
		if (frame_is(&A, N - 1, MEDIA_PT_PCMA, A.rx[k].b + 12) ||
		    frame_is(&A, N - 2, MEDIA_PT_PCMA, A.rx[k].b + 12))
			break;
	CHECK(k < A.nrx && k + FILL_FRAMES + 1 >= A.nrx);
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.packets_in, N);
	CHECK_EQ(S.stats.unknown_pt, 0);
	CHECK(sess_release(&S));
	return 0;
}

/* ---- what the agent hears --------------------------------------------- */

/* ---- packet loss concealment ------------------------------------------ */

#define TONE_AMP 8000.0
#define TONE_RMS (TONE_AMP / M_SQRT2)

/* Packet j of a 1 kHz tone from p (after the probation run, A is the
 * call's source), sent now. */
static void send_tone(struct peer *p, uint16_t port, unsigned j)
{
	uint8_t b[RTP_LEN];
	int16_t pcm[FRAME];
	struct sa dst;

	for (unsigned k = 0; k < FRAME; k++)
		pcm[k] =
		    (int16_t)lrint(TONE_AMP * sin(2 * M_PI * 1000.0 *
		                                  (FRAME * j + k) / 8000.0));
	rtp_header(b, j == 0, MEDIA_PT_PCMU, (uint16_t)(1000 + j), FRAME * j,
	           0x5eed);
	encode(MEDIA_PT_PCMU, b + 12, pcm, FRAME);
	sa_set_in(&dst, INADDR_LOOPBACK, port);
	peer_send(p, &dst, b, sizeof(b));
}

/* Packets [0, n) of the tone 20 ms apart, except [gap_from, gap_to). */
static void tone_run(struct peer *p, uint16_t port, unsigned n,
                     unsigned gap_from, unsigned gap_to)
{
	uint64_t t0 = now_us();

	for (unsigned j = 0; j < n; j++) {
		sleep_until(t0 + 20000u * j);
		if (j < gap_from || j >= gap_to)
			send_tone(p, port, j);
	}
	sleep_loop(200);
}

static double rx_rms(const struct rx *r)
{
	int16_t pcm[FRAME];
	double e = 0;

	decode(r->b[1] & 0x7f, pcm, r->b + 12, FRAME);
	for (size_t k = 0; k < FRAME; k++)
		e += (double)pcm[k] * pcm[k];
	return sqrt(e / FRAME);
}

/* Talks at every tick and notes when it hears a frame of tone. */
struct clocked {
	atomic_uint ins, outs;
	unsigned nheard;
	uint64_t heard_us[64];
};

static void clocked_in(void *state, const int16_t *pcm, size_t n, uint64_t t)
{
	struct clocked *a = state;
	int peak = 0;

	(void)t;
	atomic_fetch_add(&a->ins, 1);
	for (size_t k = 0; pcm && k < n; k++)
		peak = abs(pcm[k]) > peak ? abs(pcm[k]) : peak;
	if (peak > TONE_AMP / 2 && a->nheard < 64)
		a->heard_us[a->nheard++] = now_us();
}

static size_t clocked_out(void *state, int16_t *pcm, size_t n)
{
	struct clocked *a = state;

	atomic_fetch_add(&a->outs, 1);
	for (size_t k = 0; k < n; k++)
		pcm[k] = 1000;
	return n;
}

static bool always(void *state)
{
	(void)state;
	return true;
}

static const struct agent_ops clocked_unpaced_agent = {
    .name = "clocked-unpaced",
    .audio_in = clocked_in,
    .audio_out = clocked_out,
    .stop = spurt_stop,
    .unpaced = always,
};

/*
 * An unpaced agent hears every packet as it comes: three held back and
 * sent at once with the fourth are all heard at once (the engine's
 * jitter buffer, 40 ms at least, would play them a period apart), and
 * nothing is lost or heard twice but the frames filled in while they
 * were overdue.
 */
TEST(unpaced_hears_a_burst_at_once)
{
	enum { N = 30 };
	static struct clocked a;
	struct media_params prm;
	uint64_t t0, burst_us = 0;
	unsigned by_burst = 0;

	memset(&a, 0, sizeof(a));
	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(media_session_start(S.ms, &prm, &clocked_unpaced_agent, &a),
	         0);
	S.started = true;
	media_session_confirm(S.ms);
	sleep_loop(60);
	t0 = now_us();
	for (unsigned j = 0; j < N; j++) {
		if (j >= 10 && j < 13)
			continue;
		sleep_until(t0 + 20000u * j);
		if (j == 13) {
			burst_us = now_us();
			for (unsigned k = 10; k < 13; k++)
				send_tone(&A, S.port, k);
		}
		send_tone(&A, S.port, j);
	}
	sleep_loop(100);
	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	peer_close(&A);

	for (unsigned i = 0; i < a.nheard; i++)
		by_burst += a.heard_us[i] >= burst_us &&
		            a.heard_us[i] <= burst_us + 4000;
	/* the four packets of the burst at once */
	CHECK(by_burst >= 4);
	/* every packet, and what was filled in while 10-12 were overdue
	 * and after the last (PLC_MAX_SAMPLES, three frames, each time) */
	CHECK(a.nheard >= N && a.nheard <= N + 6);
	return 0;
}

/*
 * One packet of a tone never comes: the echo agent hears its slot filled
 * in from the tone around it, not silence, and says it back. Every frame
 * it said back from the first to the last is tone-like.
 */
TEST(lost_frame_concealed)
{
	enum { N = 30, LOST = 15 };
	struct media_params prm;
	size_t quiet = 0, last;
	double min_rms = 1e9;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	tone_run(&A, S.port, N, LOST, LOST + 1);
	CHECK_OK(sess_stop(&S));
	last = A.nrx;
	CHECK(A.nrx >= N - 8);
	/* From the first to the last frame of tone heard (the stream's end
	 * fades out after it). */
	while (last > 0 && rx_rms(&A.rx[last - 1]) < 0.9 * TONE_RMS)
		last--;
	CHECK(last >= N - 8);
	for (size_t i = 0; i < last; i++) {
		double rms = rx_rms(&A.rx[i]);

		if (rms < 0.4 * TONE_RMS)
			quiet++;
		if (rms < min_rms)
			min_rms = rms;
	}
	CHECK_EQ(quiet, 0);
	CHECK(min_rms > 0.4 * TONE_RMS);
	CHECK_EQ(S.stats.lost, 1);
	CHECK(S.stats.concealed >= 1);
	/* Frames are concealed only for a loss or the buffer running dry. */
	CHECK(S.stats.concealed <=
	      S.stats.lost + 3 * (S.stats.underrun + S.stats.stretched));
	CHECK(sess_release(&S));
	return 0;
}

/*
 * A long silence from the caller (200 ms): the first frames missing are
 * filled in, fading, and within 60 ms the agent hears nothing; then the
 * tone again.
 */
TEST(long_loss_fades)
{
	enum { N = 30, FROM = 10, TO = 20 };
	struct media_params prm;
	size_t i, fading = 0, silent = 0, faded = 0, after = 0;
	double prev;
	int16_t pcm[FRAME];

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	tone_run(&A, S.port, N, FROM, TO);
	CHECK_OK(sess_stop(&S));
	CHECK(A.nrx >= N - (TO - FROM) - 8);

	/* The tone, then frames fading out, the last ending in silence,
	 * then the tone again. */
	for (i = 0; i < A.nrx && rx_rms(&A.rx[i]) > 0.9 * TONE_RMS; i++)
		;
	CHECK(i >= FROM - 2 - 4);
	prev = TONE_RMS;
	for (; i < A.nrx && rx_rms(&A.rx[i]) < 0.9 * TONE_RMS; i++) {
		double rms = rx_rms(&A.rx[i]);

		/* Packets the buffer knows lost, past the fill-in. */
		if (rms == 0) {
			silent++;
			continue;
		}
		CHECK(!silent);
		CHECK(rms < prev);
		prev = rms;
		faded = i;
		fading++;
	}
	CHECK(fading >= 1 && fading <= 3);
	decode(MEDIA_PT_PCMU, pcm, A.rx[faded].b + 12, FRAME);
	CHECK(prev < 0.2 * TONE_RMS);
	CHECK_EQ(pcm[FRAME - 1], 0);
	for (; i < A.nrx; i++)
		if (rx_rms(&A.rx[i]) > 0.8 * TONE_RMS)
			after++;
	CHECK(after >= N - TO - 4);
	CHECK(S.stats.concealed >= 1);
	CHECK(S.stats.concealed <= 3 + S.stats.lost);
	CHECK(sess_release(&S));
	return 0;
}

/* A DTMF event in the middle of the caller's audio is counted, not heard:
 * the agent gets the audio before and after it and, in its place, at
 * most silence. */
TEST(dtmf_not_heard)
{
	enum { N = 20, FROM = 8, TO = 11 };
	struct media_params prm;
	struct stream st = {0};
	size_t silences = 0;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMU, 6, N);
	A.dtmf_from = FROM;
	A.dtmf_to = TO;
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(peer_done(&A));
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMU));
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, &silences));
	CHECK(silences <= TO - FROM);
	CHECK(A.nrx - silences >= N - (TO - FROM) - 4);

	WAIT(S.ndigits, 500);
	CHECK(!strcmp(S.digits, "5"));
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.dtmf_in, TO - FROM);
	CHECK_EQ(S.stats.packets_in, N);
	CHECK_EQ(S.stats.unknown_pt, 0);
	CHECK(sess_release(&S));
	return 0;
}

static void dtmf_send(struct peer *p, uint16_t port, uint16_t seq, uint32_t ts,
                      uint8_t event, bool end, size_t len)
{
	uint8_t b[16];
	struct sa dst;

	sa_set_in(&dst, INADDR_LOOPBACK, port);
	rtp_header(b, false, DTMF_PT, seq, ts, 0x55667788u);
	b[12] = event;
	b[13] = (uint8_t)((end ? 0x80 : 0) | 10);
	put_be16(b + 14, 800);
	peer_send(p, &dst, b, len);
}

/* Each event is reported once however many packets carry it: a whole
 * event, one whose start was lost, the same digit again as a new event;
 * short payloads and unknown event codes are not digits. */
TEST(dtmf_digits_reported)
{
	struct media_params prm;
	uint16_t seq = 100;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	for (int k = 0; k < 6; k++)
		dtmf_send(&A, S.port, seq++, 1000, 1, k >= 3, 16);
	for (int k = 0; k < 3; k++)
		dtmf_send(&A, S.port, seq++, 3000, 11, true, 16);
	dtmf_send(&A, S.port, seq++, 4000, 7, false, 15);
	dtmf_send(&A, S.port, seq++, 5000, 16, true, 16);
	for (int k = 0; k < 4; k++)
		dtmf_send(&A, S.port, seq++, 6000, 1, k == 3, 16);
	WAIT(S.ndigits >= 3, 1000);
	sleep_loop(100);
	CHECK(!strcmp(S.digits, "1#1"));
	CHECK(S.n_dtmf >= 1);

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.dtmf_in, 15);
	CHECK(sess_release(&S));
	return 0;
}

/* A test agent that sends one constant level and counts its stops. */
static unsigned level_stops;

static void level_in(void *state, const int16_t *pcm, size_t samples,
                     uint64_t arrival_us)
{
	(void)arrival_us;
	(void)state;
	(void)pcm;
	(void)samples;
}

static size_t level_out(void *state, int16_t *pcm, size_t samples)
{
	int16_t v = (int16_t)(intptr_t)state;

	for (size_t i = 0; i < samples; i++)
		pcm[i] = v;
	return samples;
}

static void level_stop(void *state)
{
	(void)state;
	level_stops++;
}

static const struct agent_ops level_agent = {"level", NULL, level_in, level_out,
                                             level_stop};

/* The level in the last packet A received, decoded. */
static int last_level(const struct peer *p)
{
	int16_t pcm[FRAME];

	if (!p->nrx || p->rx[p->nrx - 1].len < RTP_LEN)
		return 0;
	decode(MEDIA_PT_PCMU, pcm, p->rx[p->nrx - 1].b + 12, FRAME);
	return pcm[FRAME / 2];
}

/* set_agent hands the call over at the next frame and stops the agent it
 * replaced; a second swap before the first is done is refused (and its
 * agent stopped), a later one goes through. */
TEST(agent_swap)
{
	struct media_params prm;
	int level;

	level_stops = 0;
	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(media_session_start(S.ms, &prm, &level_agent,
	                             (void *)(intptr_t)1000),
	         0);
	S.started = true;
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 8, 40);
	WAIT(A.nrx >= 3, 1000);
	level = last_level(&A);
	CHECK(level > 900 && level < 1100);

	CHECK_EQ(media_session_set_agent(S.ms, &level_agent,
	                                 (void *)(intptr_t)-3000),
	         0);
	CHECK_EQ(
	    media_session_set_agent(S.ms, &level_agent, (void *)(intptr_t)5000),
	    EBUSY);
	CHECK_EQ(level_stops, 1);
	WAIT(level_stops == 2, 1000);
	CHECK_EQ(level_stops, 2);
	sleep_loop(60);
	level = last_level(&A);
	CHECK(level < -2800 && level > -3200);

	CHECK_EQ(
	    media_session_set_agent(S.ms, &level_agent, (void *)(intptr_t)2000),
	    0);
	WAIT(level_stops == 3, 1000);
	sleep_loop(60);
	level = last_level(&A);
	CHECK(level > 1800 && level < 2200);

	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	CHECK_EQ(level_stops, 4);
	return 0;
}

/* recv=false: the caller is not supposed to send; what it sends anyway
 * is counted but not heard, so the echo says nothing. */
TEST(recv_false_not_heard)
{
	enum { N = 10 };
	struct media_params prm;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	prm.recv = false;
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 7, N);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 150000, 2000);
	CHECK(peer_done(&A));
	CHECK_EQ(A.nrx, 0);
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 1);
	CHECK_EQ(S.stats.packets_in, N);
	CHECK_EQ(S.stats.packets_out, 0);
	CHECK(sess_release(&S));
	return 0;
}

/* ---- events ----------------------------------------------------------- */

/* No timeout while RTP flows for longer than the timeout; one timeout
 * media_timeout after it stops; STOPPED last, with the counts. */
TEST(events_and_timeout)
{
	enum { N = 32 }; /* 640 ms > TIMEOUT_MS */
	struct media_params prm;
	uint64_t after;
	size_t got;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMU, 4, N);
	WAIT(peer_done(&A), 2000);
	CHECK(peer_done(&A));
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	CHECK(S.t_first_us >= A.t0_us && S.t_first_us - A.t0_us < 200000);
	CHECK_EQ(S.n_timeout, 0);

	WAIT(S.n_timeout, 1500);
	CHECK_EQ(S.n_timeout, 1);
	after = (S.t_timeout_us - A.last_send_us) / 1000;
	if (after < TIMEOUT_MS || after > TIMEOUT_MS + 250)
		TEST_FAIL("events_and_timeout", "timeout after %llu ms",
		          (unsigned long long)after);
	/* Once per silence. */
	sleep_loop(200);
	CHECK_EQ(S.n_timeout, 1);

	CHECK_OK(sess_stop(&S));
	got = A.nrx;
	sleep_loop(60);
	CHECK_EQ(A.nrx, got);
	CHECK_EQ(S.n_after_stop, 0);
	CHECK_EQ(S.n_first, 1);
	CHECK_EQ(S.stats.packets_in, N);
	CHECK(S.stats.packets_out >= N - 4);
	CHECK_EQ(S.stats.packets_out, A.nrx);
	CHECK(sess_release(&S));
	return 0;
}

/* Without any RTP, the timeout counts from the start. */
TEST(timeout_without_rtp)
{
	struct media_params prm;
	uint64_t after;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	WAIT(S.n_timeout, 1500);
	CHECK_EQ(S.n_timeout, 1);
	CHECK_EQ(S.n_first, 0);
	after = (S.t_timeout_us - S.t_start_us) / 1000;
	if (after < TIMEOUT_MS || after > TIMEOUT_MS + 250)
		TEST_FAIL("timeout_without_rtp", "timeout after %llu ms",
		          (unsigned long long)after);
	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	return 0;
}

/* ---- hold ------------------------------------------------------------- */

/*
 * On hold (send=false, recv=false) nothing is sent, although the agent
 * has a greeting to play, and the silence is no media timeout. Unhold
 * with the same SDP address keeps the latch on A: the greeting goes on
 * there, frame after frame.
 */
/* A transfer's play_dialtone: the caller hears 440 + 480 Hz for 2 s,
 * then 4 s of silence (as frames, the line stays open), under an agent
 * that says nothing; off, the line goes quiet again. */
/* Packets of p from port, in order, into idx (room for max): how many. */
static size_t rx_from(const struct peer *p, uint16_t port, size_t *idx,
                      size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nrx && n < max; i++) {
		if (sa_port(&p->rx[i].src) == port)
			idx[n++] = i;
	}
	return n;
}

/* A transfer's play_dialtone: the caller hears 440 + 480 Hz for 2 s,
 * then 4 s of silence (as frames, the line stays open), under an agent
 * that says nothing; off, the line goes quiet again. */
TEST(ringback_to_caller)
{
	struct media_params prm;
	struct rtp h;
	double xy = 0, xx = 0, yy = 0, quiet = 0;
	const size_t tone_pkts = 2000 / 20;
	size_t idx[MAX_RX], n;

	CHECK_EQ(peer_open(&D), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &D, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	sleep_loop(200);
	CHECK_EQ(rx_from(&D, S.port, idx, MAX_RX), 0);

	media_session_ringback_caller(S.ms, true);
	WAIT(rx_from(&D, S.port, idx, MAX_RX) >= tone_pkts + 10, 3000);
	n = rx_from(&D, S.port, idx, MAX_RX);
	CHECK(n >= tone_pkts + 10);
	/* One stream, a packet a tick from the first; the first 2 s are the
	 * two tones from their start, then silence. */
	for (size_t i = 0; i < tone_pkts + 10; i++) {
		int16_t pcm[FRAME];
		struct rtp h0;

		CHECK_OK(rtp_get(&D, idx[i], S.port, &h));
		CHECK_OK(rtp_get(&D, idx[0], S.port, &h0));
		CHECK_EQ(h.pt, MEDIA_PT_PCMU);
		CHECK_EQ((uint16_t)(h.seq - h0.seq), i);
		CHECK_EQ(h.ts - h0.ts, i * FRAME);
		CHECK_EQ(h.marker, i == 0);
		decode(MEDIA_PT_PCMU, pcm, h.payload, FRAME);
		for (size_t k = 0; k < FRAME; k++) {
			double t = (double)(i * FRAME + k) / 8000;
			double want =
			    sin(2 * M_PI * 440 * t) + sin(2 * M_PI * 480 * t);

			if (i < tone_pkts) {
				xy += want * pcm[k];
				xx += want * want;
				yy += (double)pcm[k] * pcm[k];
			} else {
				quiet += fabs((double)pcm[k]);
			}
		}
	}
	CHECK(xy / sqrt(xx * yy) > 0.99);
	CHECK(sqrt(yy / (double)(tone_pkts * FRAME)) > 2000);
	CHECK(quiet / (10 * FRAME) < 10);

	media_session_ringback_caller(S.ms, false);
	sleep_loop(100);
	n = rx_from(&D, S.port, idx, MAX_RX);
	sleep_loop(300);
	CHECK_EQ(rx_from(&D, S.port, idx, MAX_RX), n);
	CHECK_OK(sess_stop(&S));
	CHECK(sess_release(&S));
	return 0;
}

/*
 * A call we dialled, before anyone answers (a dial tone in its room): no
 * address, so nothing goes anywhere, and whatever comes in is refused (no
 * source takes the call, no first-RTP, no timeout), even confirmed. The
 * answer's update gives the callee the call, and the agent's audio goes
 * there. Only such params may lack an address, and they may neither send
 * nor receive.
 */
TEST(await_answer)
{
	struct media_params prm = {
	    .send_pt = MEDIA_PT_PCMU, .dtmf_pt = -1, .await_answer = true};
	const char *reason = NULL;

	sa_init(&prm.raddr, AF_UNSPEC);
	sa_init(&prm.raddr_rtcp, AF_UNSPEC);
	CHECK_EQ(media_params_check(&prm, false, &reason), 0);
	prm.await_answer = false;
	CHECK_EQ(media_params_check(&prm, false, &reason), EADDRNOTAVAIL);
	prm.await_answer = true;
	prm.send = true;
	CHECK_EQ(media_params_check(&prm, false, &reason), EINVAL);
	prm.send = false;
	prm.recv = true;
	CHECK_EQ(media_params_check(&prm, false, &reason), EINVAL);
	prm.recv = false;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	CHECK_EQ(sess_start(&S, &prm, greeting, 100 * FRAME), 0);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 5, 5);
	sleep_loop(TIMEOUT_MS + 300);
	CHECK(peer_done(&A));
	CHECK_EQ(A.nrx, 0);
	CHECK_EQ(S.n_first, 0);
	CHECK_EQ(S.n_timeout, 0);

	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(media_session_update(S.ms, &prm), 0);
	WAIT(A.nrx >= 5, 500);
	CHECK(A.nrx >= 5);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 3, 3);
	WAIT(S.n_first == 1 && peer_done(&A), 500);
	CHECK_EQ(S.n_first, 1);
	sleep_loop(60);
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.wrong_source, 5);
	CHECK_EQ(S.stats.packets_in, 3);
	CHECK(sess_release(&S));
	return 0;
}

TEST(hold_sends_nothing)
{
	struct media_params prm;
	struct stream st = {0};
	size_t g0;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&C), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &C, NULL);
	prm.send = false;
	prm.recv = false;
	CHECK_EQ(sess_start(&S, &prm, greeting, 100 * FRAME), 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMU, 5, 5);
	/* Silent for longer than the media timeout after that. */
	sleep_loop(TIMEOUT_MS + 300);
	CHECK(peer_done(&A));
	CHECK_EQ(A.nrx, 0);
	CHECK_EQ(C.nrx, 0);
	CHECK_EQ(S.n_first, 1);
	CHECK_EQ(S.n_timeout, 0);

	prm.send = true;
	prm.recv = true;
	CHECK_EQ(media_session_update(S.ms, &prm), 0);
	WAIT(A.nrx >= 5, 500);
	CHECK(A.nrx >= 5);
	CHECK_EQ(C.nrx, 0);
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMU));
	CHECK_EQ(st.markers, 1);
	for (g0 = 0; g0 < 100; g0++)
		if (greeting_is(&A, 0, g0, MEDIA_PT_PCMU))
			break;
	CHECK(g0 < 100);
	for (size_t i = 1; i < A.nrx && g0 + i < 100; i++)
		CHECK(greeting_is(&A, i, g0 + i, MEDIA_PT_PCMU));

	CHECK_OK(sess_stop(&S));
	/* A is not the SDP's address: its first two proved it. */
	CHECK_EQ(S.stats.packets_in, 3);
	CHECK_EQ(S.stats.probation, 2);
	CHECK_EQ(S.stats.packets_out, A.nrx);
	CHECK(sess_release(&S));
	return 0;
}

/* ---- re-INVITE to a new address --------------------------------------- */

/* Waits until p has `more` packets more than before, then checks that
 * none reach the other peers for a while. */
static const char *only_to(struct peer *p, size_t more)
{
	struct peer *others[] = {&A, &B, &C, &D};
	size_t base = p->nrx, n[4];

	WAIT(p->nrx >= base + more, 500);
	if (p->nrx < base + more)
		return FAILED("%s got %zu packets, not %zu", p->name,
		              p->nrx - base, more);
	for (size_t i = 0; i < 4; i++)
		n[i] = others[i]->nrx;
	sleep_loop(80);
	for (size_t i = 0; i < 4; i++) {
		if (others[i] != p && others[i]->nrx != n[i])
			return FAILED("%s got packets while %s had the media",
			              others[i]->name, p->name);
	}
	return NULL;
}

/*
 * The greeting plays to C (the SDP); A's run of packets latches it to A; a
 * re-INVITE moves it to D; B's run latches it to B; A's packet after that
 * is from the wrong source. Through all of it, one stream: the greeting
 * frame after frame, sequence and timestamps unbroken.
 */
TEST(update_moves_media)
{
	struct peer *order[] = {&C, &A, &D, &B};
	struct media_params prm;
	struct stream st = {0};
	uint16_t seq0;
	size_t total = 0;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open(&B), 0);
	CHECK_EQ(peer_open(&C), 0);
	CHECK_EQ(peer_open(&D), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &C, NULL);
	CHECK_EQ(sess_start(&S, &prm, greeting, 100 * FRAME), 0);

	CHECK_OK(only_to(&C, 3));
	send_run(&A, S.port, 1, 3);
	CHECK_OK(only_to(&A, 3));
	prm = params(MEDIA_PT_PCMU, &D, NULL);
	CHECK_EQ(media_session_update(S.ms, &prm), 0);
	CHECK_OK(only_to(&D, 3));
	send_run(&B, S.port, 4, 3);
	CHECK_OK(only_to(&B, 3));
	send_seq(&A, S.port, 7, 0x77);
	CHECK_OK(only_to(&B, 2));

	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.n_first, 1);
	CHECK(sa_cmp(&S.first_addr, &A.addr, SA_ALL));
	CHECK_EQ(S.stats.packets_in, 2);
	CHECK_EQ(S.stats.probation, 4);
	CHECK_EQ(S.stats.wrong_source, 1);

	/* C's, then A's, D's and B's packets make one stream. */
	for (size_t k = 0; k < 4; k++) {
		CHECK_OK(stream_check(&st, order[k], 0, order[k]->nrx, S.port,
		                      MEDIA_PT_PCMU));
		total += order[k]->nrx;
	}
	CHECK_EQ(st.markers, 1);
	CHECK_EQ(S.stats.packets_out, total);
	CHECK(total <= 100);
	seq0 = get_be16(C.rx[0].b + 2);
	for (size_t k = 0; k < 4; k++) {
		for (size_t i = 0; i < order[k]->nrx; i++) {
			uint16_t g =
			    (uint16_t)(get_be16(order[k]->rx[i].b + 2) - seq0);
			CHECK(greeting_is(order[k], i, g, MEDIA_PT_PCMU));
		}
	}
	CHECK(sess_release(&S));
	return 0;
}

/* ---- ports ------------------------------------------------------------ */

static int engine_on(struct media_engine **me, uint16_t lo, uint16_t hi)
{
	struct media_engine_params ep = {.threads = 1,
	                                 .port_min = lo,
	                                 .port_max = hi,
	                                 .jitter_min_ms = 40,
	                                 .jitter_max_ms = 60,
	                                 .media_timeout_ms = TIMEOUT_MS};

	sa_set_str(&ep.bind, "127.0.0.1", 0);
	return media_engine_open(me, &ep);
}

/* Binding p's socket to port fails (the engine holds it) or not. */
static bool port_taken(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool taken;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	taken = bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
	        errno == EADDRINUSE;
	close(fd);
	return taken;
}

/* An even port with the n ports from it free now: fixed numbers could be
 * taken by whatever else runs on the machine (other tests' servers). */
static uint16_t free_base(unsigned n)
{
	for (unsigned tries = 0; tries < 1000; tries++) {
		uint16_t base = (uint16_t)((30000 + rand_u16() % 30000) & ~1u);
		unsigned k = 0;

		while (k < n && !port_taken((uint16_t)(base + k)))
			k++;
		if (k == n)
			return base;
	}
	return 41200;
}

static int hold_port(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void noop_event(enum media_event ev, void *arg)
{
	(void)ev;
	(void)arg;
}

TEST(port_range_exhaustion)
{
	struct media_engine *me = NULL;
	struct media_session *s1 = NULL, *s2 = NULL, *s3 = NULL;
	uint16_t base = free_base(14);
	int fd;

	/* Room for one pair. */
	CHECK_EQ(engine_on(&me, base, base + 1), 0);
	CHECK_EQ(media_session_alloc(&s1, me, noop_event, NULL), 0);
	CHECK_EQ(media_session_port(s1), base);
	CHECK(port_taken(base) && port_taken(base + 1));
	CHECK_EQ(media_session_alloc(&s2, me, noop_event, NULL), EADDRINUSE);
	CHECK(s2 == NULL);
	/* Freed, the pair is free again. */
	s1 = mem_deref(s1);
	CHECK(!port_taken(base) && !port_taken(base + 1));
	CHECK_EQ(media_session_alloc(&s1, me, noop_event, NULL), 0);
	CHECK_EQ(media_session_port(s1), base);
	s1 = mem_deref(s1);
	media_engine_close(me, NULL);
	me = NULL;

	/* An odd bottom: pairs start on even ports, base + 4 and base + 6. */
	CHECK_EQ(engine_on(&me, base + 3, base + 7), 0);
	CHECK_EQ(media_session_alloc(&s1, me, noop_event, NULL), 0);
	CHECK_EQ(media_session_alloc(&s2, me, noop_event, NULL), 0);
	/* In either order. */
	CHECK_EQ(media_session_port(s1) + media_session_port(s2),
	         base + 4 + base + 6);
	CHECK(media_session_port(s1) != media_session_port(s2));
	CHECK_EQ(media_session_alloc(&s3, me, noop_event, NULL), EADDRINUSE);
	s1 = mem_deref(s1);
	s2 = mem_deref(s2);
	media_engine_close(me, NULL);
	me = NULL;

	/* Someone else's RTCP port: that pair is skipped. */
	fd = hold_port(base + 11);
	CHECK(fd >= 0);
	CHECK_EQ(engine_on(&me, base + 10, base + 13), 0);
	CHECK_EQ(media_session_alloc(&s1, me, noop_event, NULL), 0);
	CHECK_EQ(media_session_port(s1), base + 12);
	CHECK(port_taken(base + 13));
	CHECK(!port_taken(base + 10)); /* not left bound by the failed try */
	CHECK_EQ(media_session_alloc(&s2, me, noop_event, NULL), EADDRINUSE);
	close(fd);
	s1 = mem_deref(s1);
	media_engine_close(me, NULL);
	me = NULL;
	return 0;
}

/* Pairs are handed out at random within the range, so one call's port
 * tells nothing of the next call's. */
TEST(ports_random)
{
	enum { N = 12 };
	struct media_engine *me = NULL;
	struct media_session *s[N] = {0};
	uint16_t port[N];
	unsigned next_pair = 0;
	bool ok = true;

	CHECK_EQ(engine_on(&me, 42000, 42999), 0);
	for (size_t i = 0; i < N && ok; i++) {
		ok = !media_session_alloc(&s[i], me, noop_event, NULL);
		port[i] = media_session_port(s[i]);
		ok = ok && port[i] % 2 == 0 && port[i] >= 42000 &&
		     port[i] < 42999;
		if (ok && i && port[i] == port[i - 1] + 2)
			next_pair++;
	}
	for (size_t i = 0; i < N; i++)
		mem_deref(s[i]);
	media_engine_close(me, NULL);
	CHECK(ok);
	/* In order, all N - 1 would be; at random, about one in 500. */
	CHECK(next_pair < 3);
	return 0;
}

/* ---- descriptors above libre's 1024 ---------------------------------- */

/*
 * The media threads poll their sockets with their own epoll, not with a
 * libre loop (whose default fd_listen refuses descriptors from 1024 on):
 * with the process' low descriptors all taken, a call's sockets numbered
 * above 1024 still carry its audio both ways.
 */
TEST(sockets_above_1024)
{
	enum { N = 12, FILL = 1100 };
	static int fill[FILL];
	struct rlimit old, rl;
	struct media_params prm;
	size_t nfill = 0;
	int probe, ok;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < FILL + 100) {
		printf("# sockets_above_1024: RLIMIT_NOFILE hard limit %llu, "
		       "not checked\n",
		       (unsigned long long)old.rlim_max);
		return 0;
	}
	rl = old;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < FILL + 100)
		rl.rlim_cur = FILL + 100;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0); /* frees the last one first */
	S.ms = mem_deref(S.ms);
	for (probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	     probe >= 0 && probe < 1030 && nfill < FILL;
	     probe = open("/dev/null", O_RDONLY | O_CLOEXEC))
		fill[nfill++] = probe;
	if (probe >= 0)
		close(probe);
	ok = probe >= 1024;
	if (ok)
		ok = !sess_alloc(&S, engine);
	for (size_t i = 0; i < nfill; i++)
		close(fill[i]);
	CHECK(ok);

	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 9, N);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 2000);
	CHECK(A.nrx >= N - 4);
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.packets_in, N);
	CHECK(sess_release(&S));
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	return 0;
}

/* A session still held when the engine closes can be stopped and freed
 * afterwards (the server's forced exit), and the totals count what the
 * engine's threads saw. */
TEST(session_outlives_engine)
{
	struct media_engine *me = NULL;
	struct media_session *s1 = NULL;
	struct media_totals t;
	uint16_t base = free_base(4);

	CHECK_EQ(engine_on(&me, base, base + 3), 0);
	CHECK_EQ(media_session_alloc(&s1, me, noop_event, NULL), 0);
	media_engine_close(me, &t);
	CHECK_EQ(t.calls, 0);
	CHECK(port_taken(media_session_port(s1)));
	media_session_stop(s1);
	s1 = mem_deref(s1);
	CHECK(!port_taken(base) && !port_taken(base + 2));
	return 0;
}

/* ---- SRTP ------------------------------------------------------------- */

/* The call's keys (random) and the caller's context keyed the other way
 * round: it protects with the session's rx key, unprotects with its tx. */
static int srtp_keys(struct media_srtp *k, enum srtpx_profile pr,
                     struct srtpx *caller)
{
	struct srtpx_prm prm = {.profile = pr};

	k->on = true;
	k->profile = pr;
	rand_bytes(k->tx, sizeof(k->tx));
	rand_bytes(k->rx, sizeof(k->rx));
	prm.local = (struct srtpx_keys){k->rx, 16, k->rx + 16, 14};
	prm.remote = (struct srtpx_keys){k->tx, 16, k->tx + 16, 14};
	srtpx_reset(caller);
	return srtpx_init(caller, &prm, NULL);
}

static struct srtpx caller_srtp, caller_srtp2;

/* Packet j of p's stream, protected, with one payload bit flipped after. */
static void send_damaged(struct peer *p, unsigned j)
{
	uint8_t b[RTP_LEN + SRTPX_MAX_TRAILER];
	int16_t pcm[FRAME];
	size_t len = RTP_LEN;

	rtp_header(b, false, p->pt, (uint16_t)(p->seq0 + j), p->ts0 + j * FRAME,
	           p->ssrc);
	caller_pcm(p->seed, j, pcm);
	encode(p->pt, b + 12, pcm, FRAME);
	if (srtpx_protect_rtp(p->srtp, b, &len, sizeof(b)))
		return;
	b[40] ^= 0x04;
	peer_send(p, &p->dst, b, len);
}

TEST(srtp_echo)
{
	enum { N = 60 };
	struct media_params prm;
	struct stream st = {0};
	uint8_t b[RTP_LEN + SRTPX_MAX_TRAILER];
	uint8_t plain[RTP_LEN];
	size_t len;
	struct sa dst;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(peer_open_on(&E, 0x7f000002), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(
	    srtp_keys(&prm.srtp, SRTPX_AES_CM_128_HMAC_SHA1_80, &caller_srtp),
	    0);
	A.srtp = &caller_srtp;
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	sa_set_in(&dst, INADDR_LOOPBACK, S.port);

	/* Plain RTP, from the caller's own address and from another host
	 * (which would take a call whose SDP address is private): neither
	 * authenticates, so neither latches nor is heard. */
	rtp_header(plain, true, MEDIA_PT_PCMU, 1, 0, 0x51);
	memset(plain + 12, 0xd5, FRAME);
	for (int i = 0; i < 4; i++) {
		put_be16(plain + 2, (uint16_t)(1 + i));
		peer_send(&A, &dst, plain, sizeof(plain));
		peer_send(&E, &dst, plain, sizeof(plain));
	}
	sleep_loop(60);
	CHECK_EQ(S.n_first, 0);
	CHECK_EQ(A.nrx + A.srtp_bad, 0);

	peer_stream(&A, S.port, MEDIA_PT_PCMU, 4, N);
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 3000);
	CHECK(peer_done(&A));
	CHECK_EQ(S.n_first, 1);
	/* Every packet back authenticates and is the echo. */
	CHECK_EQ(A.srtp_bad, 0);
	CHECK(A.nrx >= N - 4);
	CHECK_OK(stream_check(&st, &A, 0, A.nrx, S.port, MEDIA_PT_PCMU));
	CHECK_OK(echo_check(&A, 0, A.nrx, &A, NULL, NULL));

	/* Damaged (one bit of the ciphertext) and replayed packets: dropped,
	 * counted, and the call goes on. */
	for (unsigned j = N; j < N + 5; j++)
		send_damaged(&A, j);
	for (unsigned j = 0; j < 3; j++) {
		len = RTP_LEN;
		rtp_header(b, false, MEDIA_PT_PCMU, (uint16_t)(A.seq0 + N - 1),
		           A.ts0 + (N - 1) * FRAME, A.ssrc);
		memset(b + 12, 0xd5, FRAME);
		/* Sealed by another context with the same keys: the session
		 * has seen this index already. */
		struct srtpx other = {0};
		struct srtpx_prm op = {.profile =
		                           SRTPX_AES_CM_128_HMAC_SHA1_80};
		op.local =
		    (struct srtpx_keys){prm.srtp.rx, 16, prm.srtp.rx + 16, 14};
		op.remote =
		    (struct srtpx_keys){prm.srtp.tx, 16, prm.srtp.tx + 16, 14};
		CHECK_EQ(srtpx_init(&other, &op, NULL), 0);
		CHECK_EQ(srtpx_protect_rtp(&other, b, &len, sizeof(b)), 0);
		srtpx_reset(&other);
		peer_send(&A, &dst, b, len);
	}
	sleep_loop(100);
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.srtp_auth_fail, 8 + 5);
	CHECK_EQ(S.stats.srtp_replay, 3);
	CHECK_EQ(S.stats.packets_in, N);
	CHECK_EQ(S.stats.wrong_source, 0);
	CHECK_EQ(S.stats.malformed, 0);
	CHECK(sess_release(&S));
	srtpx_reset(&caller_srtp);
	return 0;
}

/* A re-INVITE with new keys: the session takes the new context at its
 * next command and the call goes on under it; what the old one refused
 * is still counted at the end. */
TEST(srtp_rekey)
{
	struct media_params prm, prm2;
	size_t before;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(
	    srtp_keys(&prm.srtp, SRTPX_AES_CM_128_HMAC_SHA1_32, &caller_srtp),
	    0);
	A.srtp = &caller_srtp;
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 6, 20);
	WAIT(peer_done(&A) && A.nrx >= 16, 2000);
	CHECK(A.nrx >= 16);
	send_damaged(&A, 40);
	sleep_loop(40);

	/* The same keys again (a re-INVITE that changes nothing): no
	 * re-key, the stream goes on. */
	CHECK_EQ(media_session_update(S.ms, &prm), 0);
	prm2 = prm;
	CHECK_EQ(
	    srtp_keys(&prm2.srtp, SRTPX_AES_CM_128_HMAC_SHA1_80, &caller_srtp2),
	    0);
	CHECK_EQ(media_session_update(S.ms, &prm2), 0);
	/* A second re-key before the first is through is refused. */
	CHECK_EQ(media_session_update(S.ms, &prm), EBUSY);
	sleep_loop(60);
	A.srtp = &caller_srtp2;
	A.nrx = 0;
	A.srtp_bad = 0;
	before = 0;
	A.limit = 60;
	WAIT(peer_done(&A) && now_us() - A.last_send_us > 200000, 3000);
	CHECK(peer_done(&A));
	CHECK(A.nrx >= 30);
	/* Packets of the old key still in flight at the switch at most. */
	CHECK(A.srtp_bad <= 2);
	CHECK_OK(echo_check(&A, before + 2, A.nrx, &A, NULL, NULL));
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.srtp_auth_fail, 1);
	CHECK(S.stats.packets_in >= 58);
	CHECK(sess_release(&S));
	srtpx_reset(&caller_srtp);
	srtpx_reset(&caller_srtp2);
	return 0;
}

/* Thousands of SRTP packets in and their echo out (protect, unprotect,
 * the tick) without one allocation, in any thread. */
TEST(srtp_no_allocations)
{
	enum { N = 4000 };
	struct media_params prm;
	unsigned long counted;
	unsigned got;

	CHECK_EQ(peer_open(&A), 0);
	CHECK_EQ(sess_alloc(&S, engine), 0);
	prm = params(MEDIA_PT_PCMU, &A, NULL);
	CHECK_EQ(
	    srtp_keys(&prm.srtp, SRTPX_AES_CM_128_HMAC_SHA1_80, &caller_srtp),
	    0);
	A.srtp = &caller_srtp;
	CHECK_EQ(sess_start(&S, &prm, NULL, 0), 0);
	peer_stream(&A, S.port, MEDIA_PT_PCMU, 7, 10);
	WAIT(peer_done(&A) && A.nrx >= 5, 2000);
	CHECK(A.nrx >= 5);
	CHECK_EQ(S.n_first, 1);

	/* Ten packets a millisecond, the echo read back as it comes. */
	got = (unsigned)A.nrx;
	CHECK(allocs_start());
	for (unsigned j = 10; j < N;) {
		for (unsigned k = 0; k < 10 && j < N; k++, j++)
			peer_send_frame(&A, j);
		step();
	}
	sleep_loop(100);
	allocs_stop();
	counted = allocations;
	CHECK_EQ(counted, 0);
	CHECK_EQ(A.srtp_bad, 0);
	CHECK(A.nrx > got);
	A.limit = A.sent = 0;
	CHECK_OK(sess_stop(&S));
	CHECK_EQ(S.stats.srtp_auth_fail, 0);
	CHECK_EQ(S.stats.srtp_other, 0);
	CHECK(S.stats.packets_in >= N - 50);
	CHECK(sess_release(&S));
	srtpx_reset(&caller_srtp);
	return 0;
}

/* ---- WebRTC: a room's media and its peer connections ------------------ */

/* A media_pc's events, on this thread. */
struct wpc {
	struct media_pc *pc;
	bool connected, failed;
	char why[96];
};

static void wpc_event(enum media_pc_event ev, const char *w, void *arg)
{
	struct wpc *c = arg;

	if (ev == MEDIA_PC_CONNECTED)
		c->connected = true;
	if (ev == MEDIA_PC_FAILED) {
		c->failed = true;
		snprintf(c->why, sizeof(c->why), "%s", w ? w : "");
	}
}

/* The client's end of a peer connection, as libwebrtc plays it against an
 * ICE-lite server: checks with USE-CANDIDATE until one is answered, then
 * DTLS, then SRTP; a plain socket, read in place (no allocation). */
struct wpeer {
	int fd;
	struct sa dst;
	struct ice_lite ice; /* ours, and the connection's credentials */
	uint8_t tid[ICE_TID_LEN];
	bool ice_up;
	uint64_t next_check_us;
	struct dtls_conn *dtls;
	struct srtpx srtp;
	bool srtp_up;
	uint64_t rtp_in, rtp_bad;
	uint32_t last_ssrc;
	uint16_t seq;
	uint32_t ts;
};

static void wpeer_send(const uint8_t *p, size_t len, void *arg)
{
	struct wpeer *w = arg;

	(void)sendto(w->fd, p, len, MSG_DONTWAIT, &w->dst.u.sa, w->dst.len);
}

static void wpeer_estab(const struct dtls_srtp_keys *k, void *arg)
{
	struct wpeer *w = arg;
	struct srtpx_prm prm = {
	    .profile = k->profile == DTLS_SRTP_AEAD_AES_128_GCM
	                   ? SRTPX_AEAD_AES_128_GCM
	                   : SRTPX_AES_CM_128_HMAC_SHA1_80,
	};

	prm.local = (struct srtpx_keys){k->local, k->key_len,
	                                k->local + k->key_len, k->salt_len};
	prm.remote = (struct srtpx_keys){k->remote, k->key_len,
	                                 k->remote + k->key_len, k->salt_len};
	w->srtp_up = !srtpx_init(&w->srtp, &prm, NULL);
}

/*
 * Opens the client's end of pc, whose certificate has fingerprint pc_fp,
 * and gives pc the client's description: the subscriber connection is
 * offered by voxgate and answered active (the client is the DTLS client),
 * the publisher's is offered by the client and answered active by
 * voxgate.
 */
static int wpeer_open(struct wpeer *w, struct media_pc *pc,
                      struct dtls_cert *cert, const char *pc_fp,
                      bool subscriber)
{
	struct dtls_conn_prm dp = {
	    .role = subscriber ? DTLS_ROLE_CLIENT : DTLS_ROLE_SERVER,
	    .remote_fp = pc_fp,
	    .label = subscriber ? "client-sub" : "client-pub",
	    .sendh = wpeer_send,
	    .estabh = wpeer_estab,
	    .arg = w,
	};
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int err;

	memset(w, 0, sizeof(*w));
	w->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&a, sizeof(a)))
		return errno;
	sa_set_in(&w->dst, INADDR_LOOPBACK, media_pc_port(pc));
	ice_init(&w->ice, now_us() / 1000);
	err =
	    ice_set_remote(&w->ice, media_pc_ufrag(pc), media_pc_pwd(pc), NULL);
	if (!err)
		err = dtls_conn_alloc(&w->dtls, cert, &dp, NULL);
	if (!err)
		err = media_pc_remote(pc, ice_local_ufrag(&w->ice),
		                      ice_local_pwd(&w->ice),
		                      dtls_cert_fingerprint(cert), subscriber);
	return err;
}

static void wpeer_close(struct wpeer *w)
{
	w->dtls = mem_deref(w->dtls);
	if (w->srtp_up)
		srtpx_reset(&w->srtp);
	w->srtp_up = false;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static void wpeer_pump(struct wpeer *w)
{
	/* srtpx reads the headers as 32-bit words */
	uint32_t buf[1500 / 4];
	uint8_t *b = (uint8_t *)buf;
	uint64_t t = now_us();
	unsigned code;
	ssize_t n;

	if (!w->ice_up && t >= w->next_check_us) {
		const struct ice_request_prm prm = {
		    .priority = 0x7effffff,
		    .tiebreaker = 42,
		    .use_candidate = true,
		};
		size_t len;

		if (!ice_request_write(&w->ice, &prm, w->tid, b, sizeof(buf),
		                       &len))
			wpeer_send(b, len, w);
		w->next_check_us = t + 50000;
	}
	if (w->dtls && dtls_conn_state(w->dtls) == DTLS_STATE_HANDSHAKE &&
	    dtls_conn_timeout_ms(w->dtls) == 0)
		(void)dtls_conn_on_timeout(w->dtls, NULL);
	while ((n = recv(w->fd, b, sizeof(buf), MSG_DONTWAIT)) > 0) {
		size_t len = (size_t)n;
		struct rtp_packet h;

		switch (ice_demux(b, len)) {
		case ICE_PKT_STUN:
			if (ice_response_read(&w->ice, b, len, w->tid, &code) ==
			        ICE_RESP_SUCCESS &&
			    !w->ice_up) {
				w->ice_up = true;
				(void)dtls_conn_start(w->dtls, NULL);
			}
			break;
		case ICE_PKT_DTLS:
			(void)dtls_conn_recv(w->dtls, b, len, NULL);
			break;
		case ICE_PKT_RTP:
			if (w->srtp_up &&
			    !srtpx_unprotect_rtp(&w->srtp, b, &len) &&
			    !rtp_parse(b, len, &h) && h.pt == MEDIA_PT_OPUS) {
				w->rtp_in++;
				w->last_ssrc = h.ssrc;
			} else {
				w->rtp_bad++;
			}
			break;
		default:
			break;
		}
	}
}

/* Sends one Opus frame as SRTP on the publisher connection. */
static void wpeer_send_opus(struct wpeer *w, const uint8_t *opus, size_t len)
{
	uint32_t buf[(12 + 400 + SRTPX_MAX_TRAILER) / 4];
	uint8_t *b = (uint8_t *)buf;
	size_t n = 12 + len;

	rtp_header(b, w->seq == 0, MEDIA_PT_OPUS, w->seq, w->ts, 0x0b05e11e);
	memcpy(b + 12, opus, len);
	w->seq++;
	w->ts += 960;
	if (!srtpx_protect_rtp(&w->srtp, b, &n, sizeof(buf)))
		wpeer_send(b, n, w);
}

/* WAIT, pumping the clients' two sockets too. */
#define WAIT2(cond, ms, a, b)                                                  \
	do {                                                                   \
		uint64_t end_ = now_us() + (uint64_t)(ms)*1000u;               \
		while (!(cond) && now_us() < end_) {                           \
			step();                                                \
			wpeer_pump(a);                                         \
			wpeer_pump(b);                                         \
		}                                                              \
	} while (0)

/* A 20 ms Opus frame of a 440 Hz tone, n of them. */
static int opus_frames(uint8_t frames[][400], size_t *lens, size_t n)
{
	OpusEncoder *enc;
	opus_int16 pcm[960];
	double phase = 0;
	int err;

	enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	if (!enc)
		return EINVAL;
	for (size_t f = 0; f < n; f++) {
		opus_int32 r;

		for (size_t i = 0; i < 960; i++) {
			pcm[i] = (opus_int16)(8000 * sin(phase));
			phase += 2 * M_PI * 440 / 48000;
		}
		r = opus_encode(enc, pcm, 960, frames[f], 400);
		if (r <= 0) {
			opus_encoder_destroy(enc);
			return EINVAL;
		}
		lens[f] = (size_t)r;
	}
	opus_encoder_destroy(enc);
	return 0;
}

/* A publisher's Opus, thousands of packets in on one peer connection
 * (SRTP unprotected, its track found), forwarded to a subscriber's (a
 * header rewritten, SRTP protected, sent) and decoded on the ticks for
 * the room's calls, without one allocation in any thread. */
TEST(webrtc_opus_no_allocations)
{
	enum { N = 3000, FRAMES = 50 };
	static uint8_t opus[FRAMES][400];
	static size_t opus_len[FRAMES];
	struct media_pc_prm pp = {.engine = engine};
	struct dtls_cert *cert = NULL, *client_cert = NULL;
	struct media_room *mr = NULL;
	struct wpc pub = {0}, sub = {0};
	struct wpeer cp = {.fd = -1}, cs = {.fd = -1};
	uint32_t ssrc = 0;
	unsigned long counted;
	uint64_t got;

	CHECK_EQ(opus_frames(opus, opus_len, FRAMES), 0);
	CHECK_EQ(dtls_cert_alloc(&cert, NULL), 0);
	CHECK_EQ(dtls_cert_alloc(&client_cert, NULL), 0);
	CHECK_EQ(media_room_alloc(&mr, engine, NULL), 0);
	pp.cert = cert;
	pp.label = "pub";
	CHECK_EQ(media_pc_alloc(&pub.pc, &pp, wpc_event, &pub), 0);
	pp.subscriber = true;
	pp.label = "sub";
	CHECK_EQ(media_pc_alloc(&sub.pc, &pp, wpc_event, &sub), 0);
	CHECK_EQ(media_pc_start(pub.pc, mr), 0);
	CHECK_EQ(media_pc_start(sub.pc, mr), 0);
	CHECK_EQ(media_room_add_opus(mr, pub.pc, "TR_pub", 0, &ssrc), 0);
	CHECK_EQ(media_room_subscribe(mr, sub.pc, "TR_pub", true), 0);
	CHECK_EQ(wpeer_open(&cp, pub.pc, client_cert,
	                    dtls_cert_fingerprint(cert), false),
	         0);
	CHECK_EQ(wpeer_open(&cs, sub.pc, client_cert,
	                    dtls_cert_fingerprint(cert), true),
	         0);
	WAIT2(pub.connected && sub.connected && cp.srtp_up && cs.srtp_up, 3000,
	      &cp, &cs);
	CHECK_OK(pub.failed ? pub.why : sub.failed ? sub.why : NULL);
	CHECK(pub.connected && sub.connected && cp.srtp_up && cs.srtp_up);

	/* The first packets set up what a track keeps (its source, the
	 * shifts, the decoder's state). */
	for (unsigned j = 0; j < 20; j++)
		wpeer_send_opus(&cp, opus[j % FRAMES], opus_len[j % FRAMES]);
	WAIT2(cs.rtp_in >= 20, 2000, &cp, &cs);
	CHECK_EQ(cs.rtp_in, 20);
	CHECK_EQ(cs.last_ssrc, ssrc);

	got = cs.rtp_in;
	CHECK(allocs_start());
	for (unsigned j = 20; j < N;) {
		for (unsigned k = 0; k < 10 && j < N; k++, j++)
			wpeer_send_opus(&cp, opus[j % FRAMES],
			                opus_len[j % FRAMES]);
		step();
		wpeer_pump(&cp);
		wpeer_pump(&cs);
	}
	WAIT2(0, 100, &cp, &cs);
	allocs_stop();
	counted = allocations;
	CHECK_EQ(counted, 0);
	CHECK_EQ(cs.rtp_bad, 0);
	CHECK(cs.rtp_in - got >= N - 20 - 50);

	media_pc_stop(pub.pc);
	media_pc_stop(sub.pc);
	media_room_stop(mr);
	WAIT(media_pc_stats(sub.pc)->rtp_out, 1000);
	CHECK(media_pc_stats(pub.pc)->rtp_in >= N - 50);
	CHECK_EQ(media_pc_stats(pub.pc)->unknown_ssrc, 0);
	CHECK(media_pc_stats(sub.pc)->rtp_out >= N - 50);
	mem_deref(pub.pc);
	mem_deref(sub.pc);
	mem_deref(mr);
	wpeer_close(&cp);
	wpeer_close(&cs);
	mem_deref(cert);
	mem_deref(client_cert);
	return 0;
}

int main(void)
{
	struct media_engine_params ep = {.threads = 2,
	                                 .port_min = PORT_MIN,
	                                 .port_max = PORT_MAX,
	                                 .jitter_min_ms = 40,
	                                 .jitter_max_ms = 60,
	                                 .media_timeout_ms = TIMEOUT_MS};
	int err;

	for (size_t k = 0; k < sizeof(greeting) / sizeof(greeting[0]); k++)
		greeting[k] = greeting_sample(k);
	err = libre_init();
	if (err) {
		printf("FAIL setup: libre_init: %d\n", err);
		return 1;
	}
	sa_set_str(&ep.bind, "127.0.0.1", 0);
	err = media_engine_open(&engine, &ep);
	if (err) {
		printf("FAIL setup: media_engine_open: %d\n", err);
		return 1;
	}

	RUN(rtcp_start);
	RUN(rtp_parse_bounds);
	RUN(bad_arguments);
	RUN(stop_unstarted);
	RUN(greeting_then_echo);
	RUN(wrong_source_dropped);
	RUN(stray_packet_first);
	RUN(sdp_address_takes_the_call_back);
	RUN(same_host_needs_a_run);
	RUN(other_host_refused);
	RUN(private_sdp_needs_a_run);
	RUN(private_addresses);
	RUN(nothing_before_ack);
	RUN(ack_before_start);
	RUN(caller_rtp_before_ack);
	RUN(run_from_elsewhere_waits_for_ack);
	RUN(sdp_addresses_refused);
	RUN(bad_packets_counted);
	RUN(truncated_extension_malformed);
	RUN(header_extras_skipped);
	RUN(pcma_session);
	RUN(lost_frame_concealed);
	RUN(long_loss_fades);
	RUN(dtmf_not_heard);
	RUN(dtmf_digits_reported);
	RUN(agent_swap);
	RUN(recv_false_not_heard);
	RUN(events_and_timeout);
	RUN(timeout_without_rtp);
	RUN(hold_sends_nothing);
	RUN(await_answer);
	RUN(ringback_to_caller);
	RUN(update_moves_media);
	RUN(port_range_exhaustion);
	RUN(ports_random);
	RUN(session_outlives_engine);
	RUN(sockets_above_1024);
	RUN(rtcp_reports);
	RUN(first_frame_early);
	RUN(unpaced_hears_a_burst_at_once);
	RUN(srtp_echo);
	RUN(srtp_rekey);
	RUN(srtp_no_allocations);
	RUN(webrtc_opus_no_allocations);

	for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
		if (!sess_release(sessions[i]))
			printf("# session %zu never stopped\n", i);
	}
	media_engine_close(engine, NULL);
	engine = NULL;
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		peer_close(peers[i]);
	tmr_cancel(&step_tmr);
	libre_close();
	TEST_EXIT();
}
