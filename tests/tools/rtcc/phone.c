/*
 * The latency mode's phone: a SIP call (libre's sipsess) with plain RTP,
 * in the same process and on the same clock as the WebRTC client that
 * joins its room, so that what voxgate adds to each direction is read off
 * one time line:
 *
 *   phone → WebRTC  every 20 ms the phone sends PCMU whose first four
 *                   bytes number the packet (low-level codes, about -48
 *                   dBFS, which the echo agent says back inaudibly);
 *                   voxgate forwards the payload as it is, so the
 *                   subscriber matches each packet it receives to the
 *                   time the phone sent it.
 *   WebRTC → phone  the client publishes Opus bursts (rtc_client.c: three
 *                   frames of tone every ten); the time a burst's first
 *                   packet leaves is matched to the first PCMU packet at
 *                   the phone loud enough to be it after a quiet spell.
 *                   This direction holds voxgate's jitter buffer and its
 *                   20 ms tick by design: the report gives the raw figure
 *                   and what lies beyond the buffer's minimum and one tick.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rtcc/rtcc.h"

#define RING       1024
#define SAMPLES    20000
#define LOUD       2000 /* a sample of the burst (tone at 8000) */
#define QUIET_RUN  3    /* packets below LOUD before an onset */
#define MAX_LAT_US 500000

static struct {
	struct sip *sip;
	struct sipsess_sock *sock;
	struct sipsess *sess;
	struct udp_sock *rtp;
	int fd;
	struct sa local, remote;
	bool up, ended;
	uint32_t ssrc, ts;
	uint16_t seq, count;
	uint64_t next_us, sent, received;
	struct {
		uint16_t count;
		uint64_t at_us;
	} ring[RING];
	/* phone → WebRTC: µs */
	double *fwd;
	unsigned nfwd;
	uint64_t fwd_unmatched;
	/* WebRTC → phone */
	uint64_t burst_us[8];
	unsigned nburst;
	double *back;
	double *onset_ms; /* where in its packet the onset fell */
	unsigned nback;
	unsigned quiet;
} ph;

static uint8_t ulaw(int v)
{
	int mask = 0xff, seg = 0;

	if (v < 0) {
		v = -v;
		mask = 0x7f;
	}
	v += 0x84;
	if (v > 0x7fff)
		v = 0x7fff;
	for (int t = v >> 8; t; t >>= 1)
		seg++;
	if (seg > 7)
		seg = 7;
	return (uint8_t)(((seg << 4) | ((v >> (seg + 3)) & 0x0f)) ^ mask);
}

static int16_t linear(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
	return (int16_t)((u & 0x80) ? 0x84 - t : t - 0x84);
}

/* The packet's number in its first four bytes, codes 0xf0-0xff: small
 * positive samples. */
static void mark(uint8_t *p, uint16_t count)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(0xf0 | (count >> (4 * i) & 0x0f));
	memset(p + 4, ulaw(0), 156);
}

static bool unmark(const uint8_t *p, size_t len, uint16_t *count)
{
	*count = 0;
	if (len < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		if ((p[i] & 0xf0) != 0xf0)
			return false;
		*count |= (uint16_t)((p[i] & 0x0f) << (4 * i));
	}
	return true;
}

/* ---- RTP ------------------------------------------------------------------ */

static void phone_rtp_recv(const struct sa *src, struct mbuf *mb, void *arg)
{
	const uint8_t *b = mbuf_buf(mb);
	size_t n = mbuf_get_left(mb);
	uint64_t now = rtcc_now_us();
	int peak = 0, first = -1;

	(void)src;
	(void)arg;
	if (n < 12 + 160 || (b[0] & 0xc0) != 0x80 || (b[1] & 0x7f) != 0)
		return;
	ph.received++;
	for (int i = 0; i < 160; i++) {
		int v = abs(linear(b[12 + i]));

		if (v > peak)
			peak = v;
		if (first < 0 && v >= LOUD)
			first = i;
	}
	if (peak < LOUD) {
		ph.quiet++;
		return;
	}
	if (ph.quiet >= QUIET_RUN && ph.nback < SAMPLES) {
		/* The latest burst sent before this arrived. */
		uint64_t best = 0;

		for (unsigned i = 0; i < 8; i++) {
			if (ph.burst_us[i] && ph.burst_us[i] <= now &&
			    ph.burst_us[i] > best)
				best = ph.burst_us[i];
		}
		if (best && now - best < MAX_LAT_US) {
			ph.back[ph.nback] = (double)(now - best);
			ph.onset_ms[ph.nback] = first / 8.0;
			ph.nback++;
		}
	}
	ph.quiet = 0;
}

static void send_rtp(uint64_t now)
{
	uint8_t b[12 + 160];

	b[0] = 0x80;
	b[1] = ph.sent ? 0 : 0x80;
	b[2] = (uint8_t)(ph.seq >> 8);
	b[3] = (uint8_t)ph.seq;
	b[4] = (uint8_t)(ph.ts >> 24);
	b[5] = (uint8_t)(ph.ts >> 16);
	b[6] = (uint8_t)(ph.ts >> 8);
	b[7] = (uint8_t)ph.ts;
	b[8] = (uint8_t)(ph.ssrc >> 24);
	b[9] = (uint8_t)(ph.ssrc >> 16);
	b[10] = (uint8_t)(ph.ssrc >> 8);
	b[11] = (uint8_t)ph.ssrc;
	mark(b + 12, ph.count);
	ph.ring[ph.count % RING].count = ph.count;
	ph.ring[ph.count % RING].at_us = now;
	if (sendto(ph.fd, b, sizeof(b), MSG_DONTWAIT, &ph.remote.u.sa,
	           ph.remote.len) == (ssize_t)sizeof(b))
		ph.sent++;
	ph.seq++;
	ph.ts += 160;
	ph.count++;
}

void rtcc_phone_tick(uint64_t now_us)
{
	if (!ph.up || ph.ended)
		return;
	if (!ph.next_us || now_us > ph.next_us + 100000)
		ph.next_us = now_us;
	while (now_us >= ph.next_us) {
		send_rtp(now_us);
		ph.next_us += 20000;
	}
}

void rtcc_phone_webrtc_rx(const uint8_t *p, size_t len, uint64_t at_us)
{
	uint16_t c;

	if (!unmark(p, len, &c) || ph.ring[c % RING].count != c ||
	    !ph.ring[c % RING].at_us || at_us < ph.ring[c % RING].at_us) {
		ph.fwd_unmatched++;
		return;
	}
	if (ph.nfwd < SAMPLES)
		ph.fwd[ph.nfwd++] = (double)(at_us - ph.ring[c % RING].at_us);
}

void rtcc_phone_webrtc_tx(unsigned frame, uint64_t at_us)
{
	if (frame != rtcc.opus_onset)
		return;
	ph.burst_us[ph.nburst++ % 8] = at_us;
}

/* ---- SIP ------------------------------------------------------------------ */

static int answer_h(const struct sip_msg *msg, void *arg)
{
	const char *b = (const char *)mbuf_buf(msg->mb);
	size_t n = mbuf_get_left(msg->mb);
	char sdp[2048], ip[64];
	unsigned port;
	const char *c, *m;

	(void)arg;
	if (n >= sizeof(sdp))
		return EBADMSG;
	memcpy(sdp, b, n);
	sdp[n] = '\0';
	c = strstr(sdp, "c=IN IP4 ");
	m = strstr(sdp, "m=audio ");
	if (!c || !m || sscanf(c + 9, "%63s", ip) != 1 ||
	    sscanf(m + 8, "%u", &port) != 1 || !port || port > 65535)
		return EBADMSG;
	return sa_set_str(&ph.remote, ip, (uint16_t)port);
}

static void estab_h(const struct sip_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	ph.up = true;
}

static void close_h(int err, const struct sip_msg *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "rtc_client: the call ended: %s %s\n",
	        err ? strerror(err) : "", msg ? "by the server" : "");
	ph.ended = true;
	ph.sess = mem_deref(ph.sess);
}

static void conn_h(const struct sip_msg *msg, void *arg)
{
	(void)arg;
	(void)sip_treply(NULL, ph.sip, msg, 486, "Busy Here");
}

int rtcc_phone_start(const char *sip_host, uint16_t sip_port,
                     const char *number)
{
	struct mbuf *sdp = NULL;
	struct sa laddr;
	char to[300], from[128], ip[64];
	int err;

	ph.fwd = calloc(SAMPLES, sizeof(double));
	ph.back = calloc(SAMPLES, sizeof(double));
	ph.onset_ms = calloc(SAMPLES, sizeof(double));
	if (!ph.fwd || !ph.back || !ph.onset_ms)
		return ENOMEM;
	ph.ssrc = rand_u32();
	ph.seq = rand_u16();
	ph.ts = rand_u32();
	err = sa_set_str(&laddr, rtcc.host, 0);
	if (!err)
		err = udp_listen(&ph.rtp, &laddr, phone_rtp_recv, NULL);
	if (!err)
		err = udp_local_get(ph.rtp, &ph.local);
	if (!err)
		err = sip_alloc(&ph.sip, rtcc.dnsc, 16, 16, 16, "rtc_client",
		                NULL, NULL);
	if (!err)
		err = sip_transp_add(ph.sip, SIP_TRANSP_UDP, &laddr);
	if (!err)
		err = sipsess_listen(&ph.sock, ph.sip, 16, conn_h, NULL);
	if (err)
		return err;
	ph.fd = udp_sock_fd(ph.rtp, sa_af(&laddr));
	if (sa_ntop(&ph.local, ip, sizeof(ip)))
		return EINVAL;
	sdp = mbuf_alloc(512);
	if (!sdp)
		return ENOMEM;
	err = mbuf_printf(sdp,
	                  "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
	                  "t=0 0\r\nm=audio %u RTP/AVP 0\r\n"
	                  "a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
	                  "a=sendrecv\r\n",
	                  ip, ip, sa_port(&ph.local));
	sdp->pos = 0;
	snprintf(to, sizeof(to), "sip:%s@%s:%u", number, sip_host, sip_port);
	snprintf(from, sizeof(from), "sip:rtcc-phone@%s", ip);
	if (!err)
		err = sipsess_connect(
		    &ph.sess, ph.sock, to, "rtcc phone", from, "rtcc-phone",
		    NULL, 0, "application/sdp", sdp, NULL, NULL, false, NULL,
		    answer_h, NULL, estab_h, NULL, NULL, close_h, NULL, NULL);
	mem_deref(sdp);
	return err;
}

bool rtcc_phone_up(void)
{
	return ph.up && !ph.ended;
}

void rtcc_phone_stop(void)
{
	/* The session's destructor sends the BYE. */
	ph.sess = mem_deref(ph.sess);
	ph.sock = mem_deref(ph.sock);
	if (ph.sip)
		sip_close(ph.sip, false);
	ph.sip = mem_deref(ph.sip);
	ph.rtp = mem_deref(ph.rtp);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, unsigned n, double p)
{
	unsigned i;

	if (!n)
		return -1;
	i = (unsigned)ceil(p / 100.0 * n);
	return v[(i ? i - 1 : 0) < n ? (i ? i - 1 : 0) : n - 1];
}

void rtcc_phone_report(uint32_t jitter_min_ms)
{
	double beyond = (double)jitter_min_ms * 1000.0 + 20000.0;

	qsort(ph.fwd, ph.nfwd, sizeof(double), dcmp);
	qsort(ph.back, ph.nback, sizeof(double), dcmp);
	qsort(ph.onset_ms, ph.nback, sizeof(double), dcmp);
	printf("latency {\"phone_sent\":%llu,\"phone_received\":%llu,"
	       "\"to_webrtc_n\":%u,\"to_webrtc_unmatched\":%llu,"
	       "\"to_webrtc_p50_ms\":%.3f,\"to_webrtc_p99_ms\":%.3f,"
	       "\"to_webrtc_max_ms\":%.3f,\"to_phone_n\":%u,"
	       "\"to_phone_p50_ms\":%.2f,\"to_phone_p99_ms\":%.2f,"
	       "\"to_phone_max_ms\":%.2f,\"jitter_min_ms\":%u,"
	       "\"to_phone_beyond_p50_ms\":%.2f,"
	       "\"to_phone_beyond_p99_ms\":%.2f,"
	       "\"onset_in_packet_p50_ms\":%.2f}\n",
	       (unsigned long long)ph.sent, (unsigned long long)ph.received,
	       ph.nfwd, (unsigned long long)ph.fwd_unmatched,
	       pct(ph.fwd, ph.nfwd, 50) / 1000.0,
	       pct(ph.fwd, ph.nfwd, 99) / 1000.0,
	       ph.nfwd ? ph.fwd[ph.nfwd - 1] / 1000.0 : -1.0, ph.nback,
	       pct(ph.back, ph.nback, 50) / 1000.0,
	       pct(ph.back, ph.nback, 99) / 1000.0,
	       ph.nback ? ph.back[ph.nback - 1] / 1000.0 : -1.0, jitter_min_ms,
	       (pct(ph.back, ph.nback, 50) - beyond) / 1000.0,
	       (pct(ph.back, ph.nback, 99) - beyond) / 1000.0,
	       pct(ph.onset_ms, ph.nback, 50));
}
