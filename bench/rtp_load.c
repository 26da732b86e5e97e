/*
 * rtp_load: a small RTP load generator that measures what comes back.
 *
 * N streams, each on its own UDP socket, send 172-byte RTP packets (12-byte
 * header + 160 bytes of PCMU, 20 ms) at 50 packets/s, phases spread evenly
 * over the 20 ms. Each payload carries a marker (stream index and packet
 * index, encoded in PCMU codes that survive a G.711 decode/encode), so the
 * echoed packets give a round-trip time, a loss count and a cross-talk
 * count even when the far end rewrites the RTP header.
 *
 * Two targets:
 *   --echo HOST:PORT   stream i sends to HOST:PORT+i (bench/udp_echo)
 *   --sip HOST:PORT    each stream is a call: INVITE with SDP (PCMU), the
 *                      RTP goes where the 200 OK's SDP says, BYE at the end
 *                      (the server's media path, e.g. voxgate's echo agent)
 *
 * With --sip, --srtp 80|32 makes each call SRTP: the INVITE offers RTP/SAVP
 * with an SDES key (a=crypto, AES_CM_128_HMAC_SHA1_80 or _32), the 200's
 * a=crypto keys the other way, every packet is protected before it goes
 * (voxgate's srtpx, the server's own code) and every echo unprotected
 * before it is matched; echoes that fail are counted (srtp_fail).
 * --corrupt N flips a payload bit of every Nth packet after protecting it
 * (so the server must refuse it: it never comes back).
 *
 * Phases: setup (calls placed at --cps), warm-up (-w s), measurement window
 * (-d s), drain, teardown (BYE). Counters and RTTs cover the window only.
 * With --watch-pid the CPU time (utime+stime from /proc/PID/stat) and VmRSS
 * of that process are read at the window's edges, which gives the target's
 * CPU cost per offered packet under exactly the same load.
 *
 * Prints progress on stderr and one JSON object on stdout at the end.
 * Exit status: 0, or 1 when a call failed or nothing came back.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sip/sdes.h"
#include "webrtc/srtpx.h"

#define RING         64 /* packets remembered per stream (1.28 s) */
#define PAYLOAD      160
#define RTP_HDR      12
#define PTIME_NS     20000000ull
#define MS           1000000ull
#define SIP_T1_NS    (500 * MS)
#define SIP_MAX      8192
#define SIP_SOCK_TAG UINT32_MAX
#define TIMER_TAG    (UINT32_MAX - 1)

enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_TEARDOWN, PH_DONE };
static const char *phase_names[] = {"setup", "warmup",   "measure",
                                    "drain", "teardown", "done"};

enum call_state {
	CS_IDLE,     /* INVITE not sent yet */
	CS_INVITING, /* INVITE sent, no response */
	CS_PROCEEDING,
	CS_UP,
	CS_BYEING,
	CS_ENDED, /* BYE answered, or the far end hung up */
	CS_FAILED,
};

struct slot {
	uint64_t sent_ns;
	uint32_t idx;
	uint8_t used;
	uint8_t echoed;
	uint8_t in_window;
};

struct stream {
	int fd;
	uint16_t local_port;
	struct sockaddr_in dst;
	bool active; /* sending RTP */
	uint64_t next_due;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint32_t idx; /* next packet index */
	struct slot ring[RING];
	/* SIP */
	enum call_state cs;
	int tries;
	uint64_t t_first; /* first INVITE / BYE sent */
	uint64_t t_retx;  /* next retransmission */
	int fail_code;
	bool by_server;
	char to[256];   /* To header value of the dialog, with tag */
	char ruri[160]; /* remote target (Contact of the 200) */
	/* --srtp: our offered key, and the context once the 200 keyed it */
	struct sdes_crypto mine;
	struct srtpx srtp;
	bool srtp_on;
};

static struct {
	/* options */
	unsigned n;
	double duration, warmup, cps;
	char local[64];
	char host[64];
	unsigned port;
	bool sip;
	int watch_pid;
	unsigned rtp_base;
	double setup_timeout;
	unsigned srtp; /* 0, or 80 / 32: the SDES suite offered */
	unsigned corrupt;
	/* state */
	struct stream *st;
	int epfd, tfd, sipfd;
	uint16_t sip_port;
	struct sockaddr_in sip_dst;
	enum phase ph;
	uint64_t ph_start;
	uint64_t t0;
	unsigned placed; /* INVITEs started */
	unsigned byes;   /* BYEs started */
	uint64_t last_sip_scan;
	uint64_t last_rss_sample;
	/* counters (window only unless noted) */
	uint64_t sent, matched, lost, dup, unmatched, misrouted;
	uint64_t rx_total, tx_total; /* whole run */
	uint64_t send_late, send_skipped;
	uint64_t srtp_fail, corrupted, rtcp; /* whole run */
	uint64_t late_max_ns;
	uint32_t *rtt;
	size_t nrtt, rtt_cap;
	unsigned calls_ok, calls_failed, bye_failed, by_server;
	uint64_t setup_ns_sum, setup_ns_max;
	/* target process */
	double cpu0, cpu1;
	long rss0_kb, rss1_kb, rss_peak_kb;
	uint64_t win_start, win_end;
	volatile sig_atomic_t interrupted;
} g;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "rtp_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void on_signal(int sig)
{
	(void)sig;
	g.interrupted = 1;
}

/* ---- target process ---------------------------------------------------- */

static double proc_cpu_s(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, stt = 0;
	/* after ")": state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	           &stt) != 2)
		return -1;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- payload ------------------------------------------------------------ */

static uint8_t tone[8 * PAYLOAD]; /* 1 s loop would be overkill; 160 ms */

static uint8_t ulaw_encode(int16_t pcm)
{
	int sign = (pcm >> 8) & 0x80;
	int mag = sign ? -(int)pcm : pcm;
	if (mag > 32635)
		mag = 32635;
	mag += 0x84;
	int exp = 7;
	for (int mask = 0x4000; !(mag & mask) && exp > 0; mask >>= 1)
		exp--;
	int mant = (mag >> (exp + 3)) & 0x0f;
	return (uint8_t) ~(sign | (exp << 4) | mant);
}

static void make_tone(void)
{
	for (size_t i = 0; i < sizeof(tone); i++)
		tone[i] =
		    ulaw_encode((int16_t)(6000.0 * sin(2.0 * M_PI * 425.0 *
		                                       (double)i / 8000.0)));
}

/* PCMU codes 0x10..0x1f: each carries 4 bits and decodes to a distinct
 * linear value, so a decode/encode round trip keeps them. */
static void put_nibbles(uint8_t *p, uint32_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(0x10 | ((v >> (4 * (n - 1 - i))) & 0xf));
}

static bool get_nibbles(const uint8_t *p, int n, uint32_t *v)
{
	uint32_t x = 0;
	for (int i = 0; i < n; i++) {
		if ((p[i] & 0xf0) != 0x10)
			return false;
		x = (x << 4) | (p[i] & 0xf);
	}
	*v = x;
	return true;
}

static const uint8_t magic[4] = {0x1a, 0x1b, 0x1c, 0x1d};

/* ---- RTP ----------------------------------------------------------------- */

static int open_udp(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons(port)};
	inet_pton(AF_INET, g.local, &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "rtp_load: bind %s:%u: %s\n", g.local, port,
		        strerror(errno));
		exit(1);
	}
	socklen_t sl = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	*bound = ntohs(sin.sin_port);
	return fd;
}

static void send_rtp(unsigned i, uint64_t now)
{
	struct stream *s = &g.st[i];
	uint8_t pkt[RTP_HDR + PAYLOAD + SRTPX_MAX_TRAILER];
	size_t len = RTP_HDR + PAYLOAD;
	uint32_t idx = s->idx++;
	struct slot *sl = &s->ring[idx % RING];

	if (sl->used && sl->in_window && !sl->echoed)
		g.lost++;
	sl->used = 1;
	sl->idx = idx;
	sl->echoed = 0;
	sl->sent_ns = now;
	sl->in_window = g.ph == PH_MEASURE;

	pkt[0] = 0x80;
	pkt[1] = (uint8_t)(idx == 0 ? 0x80 : 0x00); /* marker, PT 0 */
	pkt[2] = (uint8_t)(s->seq >> 8);
	pkt[3] = (uint8_t)s->seq;
	pkt[4] = (uint8_t)(s->ts >> 24);
	pkt[5] = (uint8_t)(s->ts >> 16);
	pkt[6] = (uint8_t)(s->ts >> 8);
	pkt[7] = (uint8_t)s->ts;
	pkt[8] = (uint8_t)(s->ssrc >> 24);
	pkt[9] = (uint8_t)(s->ssrc >> 16);
	pkt[10] = (uint8_t)(s->ssrc >> 8);
	pkt[11] = (uint8_t)s->ssrc;
	uint8_t *pl = pkt + RTP_HDR;
	memcpy(pl, tone + (idx % 8) * PAYLOAD, PAYLOAD);
	memcpy(pl, magic, 4);
	put_nibbles(pl + 4, idx, 8);
	put_nibbles(pl + 12, i, 4);
	s->seq++;
	s->ts += PAYLOAD;
	if (s->srtp_on) {
		if (srtpx_protect_rtp(&s->srtp, pkt, &len, sizeof(pkt))) {
			sl->used = 0;
			return;
		}
		if (g.corrupt && idx % g.corrupt == g.corrupt - 1) {
			pkt[RTP_HDR + 40] ^= 0x01;
			g.corrupted++;
		}
	}

	if (sendto(s->fd, pkt, len, 0, (struct sockaddr *)&s->dst,
	           sizeof(s->dst)) == (ssize_t)len) {
		g.tx_total++;
		if (sl->in_window)
			g.sent++;
	} else {
		sl->used = 0;
	}
}

static void rtt_add(uint64_t ns)
{
	if (g.nrtt == g.rtt_cap) {
		g.rtt_cap = g.rtt_cap ? g.rtt_cap * 2 : 65536;
		g.rtt = realloc(g.rtt, g.rtt_cap * sizeof(*g.rtt));
		if (!g.rtt)
			die("realloc");
	}
	uint64_t us = ns / 1000;
	g.rtt[g.nrtt++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void on_rtp(unsigned i, uint8_t *p, size_t len, uint64_t now)
{
	struct stream *s = &g.st[i];
	g.rx_total++;
	/* The server's RTCP reports go to our RTP port + 1, which may be
	 * another stream's socket (ports picked by the kernel): not RTP. */
	if (len >= 2 && p[1] >= 192 && p[1] <= 223) {
		g.rtcp++;
		return;
	}
	if (s->srtp_on && srtpx_unprotect_rtp(&s->srtp, p, &len)) {
		g.srtp_fail++;
		return;
	}
	if (len < RTP_HDR || (p[0] >> 6) != 2)
		return;
	size_t off = RTP_HDR + 4u * (p[0] & 0x0f);
	if (p[0] & 0x10) { /* header extension */
		if (len < off + 4)
			return;
		off += 4 + 4u * (((size_t)p[off + 2] << 8) | p[off + 3]);
	}
	if (len < off + 16 || memcmp(p + off, magic, 4) != 0) {
		g.unmatched++;
		return;
	}
	uint32_t idx, who;
	if (!get_nibbles(p + off + 4, 8, &idx) ||
	    !get_nibbles(p + off + 12, 4, &who)) {
		g.unmatched++;
		return;
	}
	if (who != (i & 0xffff)) {
		g.misrouted++;
		return;
	}
	struct slot *sl = &s->ring[idx % RING];
	if (!sl->used || sl->idx != idx) {
		g.unmatched++; /* older than the ring: counted lost already */
		return;
	}
	if (sl->echoed) {
		g.dup++;
		return;
	}
	sl->echoed = 1;
	if (sl->in_window) {
		g.matched++;
		rtt_add(now - sl->sent_ns);
	}
}

static void recv_rtp(unsigned i)
{
	enum { B = 16 };
	static uint8_t bufs[B][2048];
	struct mmsghdr m[B];
	struct iovec iov[B];
	for (;;) {
		for (int k = 0; k < B; k++) {
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = sizeof(bufs[k]);
			memset(&m[k], 0, sizeof(m[k]));
			m[k].msg_hdr.msg_iov = &iov[k];
			m[k].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(g.st[i].fd, m, B, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		uint64_t now = now_ns();
		for (int k = 0; k < n; k++)
			on_rtp(i, bufs[k], m[k].msg_len, now);
		if (n < B)
			return;
	}
}

/* ---- SIP ----------------------------------------------------------------- */

static void sip_send(const char *msg, size_t len)
{
	if (sendto(g.sipfd, msg, len, 0, (struct sockaddr *)&g.sip_dst,
	           sizeof(g.sip_dst)) < 0 &&
	    errno != EAGAIN)
		fprintf(stderr, "rtp_load: sip sendto: %s\n", strerror(errno));
}

static int sdp_offer(char *buf, size_t sz, unsigned i)
{
	char crypto[SDES_VALUE_MAX + 16] = "";
	char v[SDES_VALUE_MAX];

	if (g.srtp && !sdes_format(v, sizeof(v), &g.st[i].mine))
		snprintf(crypto, sizeof(crypto), "a=crypto:%s\r\n", v);
	return snprintf(buf, sz,
	                "v=0\r\n"
	                "o=rtp_load %u 1 IN IP4 %s\r\n"
	                "s=-\r\n"
	                "c=IN IP4 %s\r\n"
	                "t=0 0\r\n"
	                "m=audio %u %s 0\r\n"
	                "a=rtpmap:0 PCMU/8000\r\n"
	                "%s"
	                "a=ptime:20\r\n"
	                "a=sendrecv\r\n",
	                i, g.local, g.local, g.st[i].local_port,
	                g.srtp ? "RTP/SAVP" : "RTP/AVP", crypto);
}

/* --srtp: the answer's a=crypto keys the call (ours protect, theirs
 * unprotect). false when it has none we can use. */
static bool srtp_key(struct stream *s, const char *body)
{
	const char *a = strstr(body, "a=crypto:");
	struct sdes_crypto theirs;
	struct srtpx_prm prm;
	char v[256];
	size_t n;

	if (!a)
		return false;
	a += 9;
	n = strcspn(a, "\r\n");
	if (n >= sizeof(v))
		return false;
	memcpy(v, a, n);
	v[n] = 0;
	if (sdes_parse(v, &theirs, NULL) || theirs.profile != s->mine.profile)
		return false;
	sdes_srtpx_prm(&prm, theirs.profile, s->mine.key, theirs.key);
	srtpx_reset(&s->srtp);
	if (srtpx_init(&s->srtp, &prm, NULL))
		return false;
	s->srtp_on = true;
	return true;
}

static void send_invite(unsigned i)
{
	char sdp[512], msg[2048];
	int sl = sdp_offer(sdp, sizeof(sdp), i);
	int n =
	    snprintf(msg, sizeof(msg),
	             "INVITE sip:echo@%s:%u SIP/2.0\r\n"
	             "Via: SIP/2.0/UDP %s:%u;branch=z9hG4bK-rl%d-%u-i;rport\r\n"
	             "Max-Forwards: 70\r\n"
	             "From: <sip:load@%s:%u>;tag=rl%dt%u\r\n"
	             "To: <sip:echo@%s:%u>\r\n"
	             "Call-ID: rl-%d-%u@%s\r\n"
	             "CSeq: 1 INVITE\r\n"
	             "Contact: <sip:load@%s:%u>\r\n"
	             "User-Agent: voxgate-rtp_load\r\n"
	             "Content-Type: application/sdp\r\n"
	             "Content-Length: %d\r\n\r\n%s",
	             g.host, g.port, g.local, g.sip_port, (int)getpid(), i,
	             g.local, g.sip_port, (int)getpid(), i, g.host, g.port,
	             (int)getpid(), i, g.local, g.local, g.sip_port, sl, sdp);
	sip_send(msg, (size_t)n);
}

/* ACK or BYE inside the dialog. ack_non2xx: ACK for a failure response,
 * which reuses the INVITE's branch and goes to the request URI. */
static void send_in_dialog(unsigned i, const char *method, bool ack_non2xx)
{
	struct stream *s = &g.st[i];
	char msg[1536], ruri[200];
	if (s->ruri[0] && !ack_non2xx)
		snprintf(ruri, sizeof(ruri), "%s", s->ruri);
	else
		snprintf(ruri, sizeof(ruri), "sip:echo@%s:%u", g.host, g.port);
	bool bye = strcmp(method, "BYE") == 0;
	int n = snprintf(
	    msg, sizeof(msg),
	    "%s %s SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP %s:%u;branch=z9hG4bK-rl%d-%u-%s;rport\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:load@%s:%u>;tag=rl%dt%u\r\n"
	    "To: %s\r\n"
	    "Call-ID: rl-%d-%u@%s\r\n"
	    "CSeq: %d %s\r\n"
	    "Content-Length: 0\r\n\r\n",
	    method, ruri, g.local, g.sip_port, (int)getpid(), i,
	    ack_non2xx ? "i" : (bye ? "b" : "a"), g.local, g.sip_port,
	    (int)getpid(), i, s->to, (int)getpid(), i, g.local, bye ? 2 : 1,
	    method);
	sip_send(msg, (size_t)n);
}

/* Finds header `name` (or its compact form) in the header part of msg.
 * Returns the value (leading spaces skipped) and its length to the CRLF. */
static const char *sip_hdr(const char *msg, const char *name,
                           const char *compact, size_t *len)
{
	const char *p = strstr(msg, "\r\n");
	size_t nl = strlen(name), cl = compact ? strlen(compact) : 0;
	while (p && p[2] != '\r' && p[2] != 0) {
		const char *line = p + 2;
		const char *eol = strstr(line, "\r\n");
		if (!eol)
			return NULL;
		const char *v = NULL;
		if (strncasecmp(line, name, nl) == 0)
			v = line + nl;
		else if (cl && strncasecmp(line, compact, cl) == 0)
			v = line + cl;
		if (v) {
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v == ':') {
				v++;
				while (*v == ' ' || *v == '\t')
					v++;
				*len = (size_t)(eol - v);
				return v;
			}
		}
		p = eol;
	}
	return NULL;
}

/* Call index from our Call-ID "rl-PID-I@host", or -1. */
static int call_index(const char *msg)
{
	size_t len;
	const char *v = sip_hdr(msg, "Call-ID", "i", &len);
	int pid;
	unsigned i;
	if (!v || sscanf(v, "rl-%d-%u@", &pid, &i) != 2 || pid != getpid() ||
	    i >= g.n)
		return -1;
	return (int)i;
}

/* The SDP answer: media port and connection address. */
static bool parse_sdp(const char *body, struct sockaddr_in *dst)
{
	const char *m = strstr(body, "m=audio ");
	if (!m)
		return false;
	unsigned port = 0;
	if (sscanf(m + 8, "%u", &port) != 1 || port == 0 || port > 65535)
		return false;
	char addr[64] = "";
	const char *c = strstr(m, "c=IN IP4 ");
	if (!c) {
		/* session-level c= before the m= line */
		for (const char *p = body;
		     (p = strstr(p, "c=IN IP4 ")) && p < m; p++)
			c = p;
	}
	if (!c || sscanf(c + 9, "%63[0-9.]", addr) != 1)
		return false;
	memset(dst, 0, sizeof(*dst));
	dst->sin_family = AF_INET;
	dst->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, addr, &dst->sin_addr) == 1;
}

static void copy_hdr(char *out, size_t sz, const char *v, size_t len)
{
	if (len >= sz)
		len = sz - 1;
	memcpy(out, v, len);
	out[len] = 0;
}

static void stream_start(unsigned i, uint64_t now)
{
	struct stream *s = &g.st[i];
	s->active = true;
	s->next_due = now + (uint64_t)i * PTIME_NS / g.n % PTIME_NS;
}

static void on_response(const char *msg, uint64_t now)
{
	int code = 0;
	if (sscanf(msg, "SIP/2.0 %d", &code) != 1)
		return;
	int ci = call_index(msg);
	if (ci < 0)
		return;
	unsigned i = (unsigned)ci;
	struct stream *s = &g.st[i];
	size_t len;
	const char *cseq = sip_hdr(msg, "CSeq", NULL, &len);
	if (!cseq)
		return;
	bool invite =
	    strstr(cseq, "INVITE") && strstr(cseq, "INVITE") < cseq + len;
	bool bye = strstr(cseq, "BYE") && strstr(cseq, "BYE") < cseq + len;
	const char *to = sip_hdr(msg, "To", "t", &len);

	if (invite) {
		if (code < 200) {
			if (s->cs == CS_INVITING)
				s->cs = CS_PROCEEDING;
			return;
		}
		if (to)
			copy_hdr(s->to, sizeof(s->to), to, len);
		if (code >= 300) {
			send_in_dialog(i, "ACK", true);
			if (s->cs == CS_INVITING || s->cs == CS_PROCEEDING) {
				s->cs = CS_FAILED;
				s->fail_code = code;
				g.calls_failed++;
				fprintf(stderr, "rtp_load: call %u: %d\n", i,
				        code);
			}
			return;
		}
		if (s->cs == CS_INVITING || s->cs == CS_PROCEEDING) {
			const char *ct = sip_hdr(msg, "Contact", "m", &len);
			if (ct) {
				const char *lt = memchr(ct, '<', len);
				const char *gt =
				    lt ? memchr(lt, '>',
				                len - (size_t)(lt - ct))
				       : NULL;
				if (lt && gt)
					copy_hdr(s->ruri, sizeof(s->ruri),
					         lt + 1, (size_t)(gt - lt - 1));
			}
			const char *body = strstr(msg, "\r\n\r\n");
			if (!body || !parse_sdp(body + 4, &s->dst) ||
			    (g.srtp && !srtp_key(s, body + 4))) {
				fprintf(stderr,
				        "rtp_load: call %u: 200 without a "
				        "usable SDP answer\n",
				        i);
				send_in_dialog(i, "ACK", false);
				s->cs = CS_FAILED;
				s->fail_code = 606;
				g.calls_failed++;
				return;
			}
			s->cs = CS_UP;
			g.calls_ok++;
			uint64_t d = now - s->t_first;
			g.setup_ns_sum += d;
			if (d > g.setup_ns_max)
				g.setup_ns_max = d;
			if (g.ph <= PH_MEASURE)
				stream_start(i, now);
		}
		send_in_dialog(i, "ACK",
		               false); /* also for retransmitted 200s */
		return;
	}
	if (bye && code >= 200 && s->cs == CS_BYEING)
		s->cs = CS_ENDED;
}

static void on_request(const char *msg, size_t msglen)
{
	char method[16] = "";
	sscanf(msg, "%15s", method);
	if (strcmp(method, "ACK") == 0)
		return;
	int ci = call_index(msg);
	char resp[4096];
	size_t n = 0;
	n += (size_t)snprintf(resp + n, sizeof(resp) - n, "SIP/2.0 200 OK\r\n");
	/* copy Via, From, To, Call-ID, CSeq lines verbatim */
	const char *p = strstr(msg, "\r\n");
	while (p && p + 2 < msg + msglen && p[2] != '\r') {
		const char *line = p + 2;
		const char *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		static const char *keep[] = {
		    "Via:", "v:",       "From:", "f:",   "To:",
		    "t:",   "Call-ID:", "i:",    "CSeq:"};
		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
			if (strncasecmp(line, keep[k], strlen(keep[k])) == 0 &&
			    n + (size_t)(eol - line) + 2 < sizeof(resp) - 600) {
				memcpy(resp + n, line,
				       (size_t)(eol - line) + 2);
				n += (size_t)(eol - line) + 2;
				break;
			}
		}
		p = eol;
	}
	if (strcmp(method, "INVITE") == 0 && ci >= 0) {
		char sdp[512];
		int sl = sdp_offer(sdp, sizeof(sdp), (unsigned)ci);
		n += (size_t)snprintf(resp + n, sizeof(resp) - n,
		                      "Contact: <sip:load@%s:%u>\r\n"
		                      "Content-Type: application/sdp\r\n"
		                      "Content-Length: %d\r\n\r\n%s",
		                      g.local, g.sip_port, sl, sdp);
	} else {
		n += (size_t)snprintf(resp + n, sizeof(resp) - n,
		                      "Content-Length: 0\r\n\r\n");
	}
	sip_send(resp, n);
	if (strcmp(method, "BYE") == 0 && ci >= 0) {
		struct stream *s = &g.st[ci];
		s->active = false;
		if (s->cs == CS_UP || s->cs == CS_BYEING) {
			s->cs = CS_ENDED;
			s->by_server = true;
			g.by_server++;
			fprintf(stderr,
			        "rtp_load: call %d: BYE from the far end\n",
			        ci);
		}
	}
}

static void recv_sip(uint64_t now)
{
	static char buf[SIP_MAX + 1];
	for (;;) {
		ssize_t n = recv(g.sipfd, buf, SIP_MAX, MSG_DONTWAIT);
		if (n <= 0)
			return;
		buf[n] = 0;
		if (strncmp(buf, "SIP/2.0 ", 8) == 0)
			on_response(buf, now);
		else
			on_request(buf, (size_t)n);
	}
}

/* Starts calls at --cps, retransmits INVITEs and BYEs (T1 doubling). */
static void sip_timers(uint64_t now)
{
	double el = (double)(now - g.ph_start) / 1e9;
	if (g.ph == PH_SETUP) {
		unsigned want = (unsigned)(el * g.cps) + 1;
		if (want > g.n)
			want = g.n;
		for (; g.placed < want; g.placed++) {
			struct stream *s = &g.st[g.placed];
			s->cs = CS_INVITING;
			s->tries = 1;
			s->t_first = now;
			s->t_retx = now + SIP_T1_NS;
			send_invite(g.placed);
		}
	}
	if (g.ph == PH_TEARDOWN) {
		unsigned want = (unsigned)(el * g.cps) + 1;
		if (want > g.n)
			want = g.n;
		for (; g.byes < want; g.byes++) {
			struct stream *s = &g.st[g.byes];
			s->active = false;
			if (s->cs != CS_UP)
				continue;
			s->cs = CS_BYEING;
			s->tries = 1;
			s->t_first = now;
			s->t_retx = now + SIP_T1_NS;
			send_in_dialog(g.byes, "BYE", false);
		}
	}
	uint64_t timeout = (uint64_t)(g.setup_timeout * 1e9);
	for (unsigned i = 0; i < g.n; i++) {
		struct stream *s = &g.st[i];
		if (s->cs == CS_INVITING || s->cs == CS_PROCEEDING) {
			if (now - s->t_first > timeout) {
				s->cs = CS_FAILED;
				s->fail_code = 408;
				g.calls_failed++;
				fprintf(stderr,
				        "rtp_load: call %u: no final response "
				        "in %.0f s\n",
				        i, g.setup_timeout);
			} else if (s->cs == CS_INVITING && now >= s->t_retx) {
				s->t_retx = now + (SIP_T1_NS << s->tries);
				s->tries++;
				send_invite(i);
			}
		} else if (s->cs == CS_BYEING && now >= s->t_retx) {
			if (s->tries >= 6) {
				s->cs = CS_FAILED;
				g.bye_failed++;
				fprintf(stderr,
				        "rtp_load: call %u: BYE not "
				        "answered\n",
				        i);
				continue;
			}
			s->t_retx = now + (SIP_T1_NS << s->tries);
			s->tries++;
			send_in_dialog(i, "BYE", false);
		}
	}
}

/* ---- main loop ------------------------------------------------------------ */

static void set_phase(enum phase ph, uint64_t now)
{
	g.ph = ph;
	g.ph_start = now;
	fprintf(stderr, "rtp_load: %.1f s: %s (calls up %u, failed %u)\n",
	        (double)(now - g.t0) / 1e9, phase_names[ph], g.calls_ok,
	        g.calls_failed);
	if (ph == PH_MEASURE) {
		g.win_start = now;
		if (g.watch_pid > 0) {
			g.cpu0 = proc_cpu_s(g.watch_pid);
			g.rss0_kb = proc_rss_kb(g.watch_pid);
			g.rss_peak_kb = g.rss0_kb;
		}
	}
	if (ph == PH_DRAIN) {
		g.win_end = now;
		if (g.watch_pid > 0) {
			g.cpu1 = proc_cpu_s(g.watch_pid);
			g.rss1_kb = proc_rss_kb(g.watch_pid);
		}
		for (unsigned i = 0; i < g.n; i++)
			g.st[i].active = false;
	}
}

static bool setup_done(void)
{
	if (!g.sip)
		return true;
	if (g.placed < g.n)
		return false;
	for (unsigned i = 0; i < g.n; i++)
		if (g.st[i].cs == CS_INVITING || g.st[i].cs == CS_PROCEEDING)
			return false;
	return true;
}

static bool teardown_done(void)
{
	if (g.byes < g.n)
		return false;
	for (unsigned i = 0; i < g.n; i++)
		if (g.st[i].cs == CS_BYEING)
			return false;
	return true;
}

static void tick(uint64_t now)
{
	if (g.ph <= PH_MEASURE) {
		for (unsigned i = 0; i < g.n; i++) {
			struct stream *s = &g.st[i];
			if (!s->active)
				continue;
			if (now >= s->next_due + 100 * MS) {
				/* fell far behind: skip, do not burst */
				uint64_t behind =
				    (now - s->next_due) / PTIME_NS;
				g.send_skipped += behind;
				s->next_due += behind * PTIME_NS;
			}
			while (now >= s->next_due) {
				uint64_t late = now - s->next_due;
				if (g.ph == PH_MEASURE) {
					if (late > 2 * MS)
						g.send_late++;
					if (late > g.late_max_ns)
						g.late_max_ns = late;
				}
				send_rtp(i, now);
				s->next_due += PTIME_NS;
			}
		}
	}
	if (g.sip && now - g.last_sip_scan >= 5 * MS) {
		g.last_sip_scan = now;
		sip_timers(now);
	}
	if (g.ph == PH_MEASURE && g.watch_pid > 0 &&
	    now - g.last_rss_sample >= 1000 * MS) {
		g.last_rss_sample = now;
		long kb = proc_rss_kb(g.watch_pid);
		if (kb > g.rss_peak_kb)
			g.rss_peak_kb = kb;
	}
	double el = (double)(now - g.ph_start) / 1e9;
	switch (g.ph) {
	case PH_SETUP:
		if (setup_done())
			set_phase(PH_WARMUP, now);
		break;
	case PH_WARMUP:
		if (el >= g.warmup)
			set_phase(PH_MEASURE, now);
		break;
	case PH_MEASURE:
		if (el >= g.duration || g.interrupted)
			set_phase(PH_DRAIN, now);
		break;
	case PH_DRAIN:
		if (el >= 0.5)
			set_phase(g.sip ? PH_TEARDOWN : PH_DONE, now);
		break;
	case PH_TEARDOWN:
		if (teardown_done() || el > 40)
			set_phase(PH_DONE, now);
		break;
	case PH_DONE:
		break;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	if (!g.nrtt)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)(g.nrtt - 1) + 0.5);
	return g.rtt[k];
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: rtp_load -n STREAMS -d SECONDS (--echo HOST:PORT | "
	    "--sip HOST:PORT)\n"
	    "  -n, --streams N      concurrent streams / calls\n"
	    "  -d, --duration S     measurement window (default 30)\n"
	    "  -w, --warmup S       warm-up before the window (default 2)\n"
	    "  -a, --local ADDR     local address (default 127.0.0.1)\n"
	    "  --echo HOST:PORT     stream i sends to PORT+i (udp_echo)\n"
	    "  --sip HOST:PORT      place calls, RTP to the SDP answer\n"
	    "  --cps R              call set-up and BYE rate (default 200)\n"
	    "  --rtp-port P         local RTP ports P, P+2, ... (default "
	    "any)\n"
	    "  --watch-pid PID      CPU and RSS of PID over the window\n"
	    "  --setup-timeout S    call fails without final answer "
	    "(default 10)\n"
	    "  --srtp 80|32         with --sip: SRTP, SDES keys "
	    "(AES_CM_128_HMAC_SHA1_80 / _32)\n"
	    "  --corrupt N          with --srtp: flip a bit in every Nth "
	    "packet\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"streams", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"local", required_argument, NULL, 'a'},
	    {"echo", required_argument, NULL, 'E'},
	    {"sip", required_argument, NULL, 'S'},
	    {"cps", required_argument, NULL, 'C'},
	    {"rtp-port", required_argument, NULL, 'P'},
	    {"watch-pid", required_argument, NULL, 'W'},
	    {"setup-timeout", required_argument, NULL, 'T'},
	    {"srtp", required_argument, NULL, 'R'},
	    {"corrupt", required_argument, NULL, 'X'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	g.duration = 30;
	g.warmup = 2;
	g.cps = 200;
	g.setup_timeout = 10;
	snprintf(g.local, sizeof(g.local), "127.0.0.1");
	bool target = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "n:d:w:a:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			g.n = (unsigned)atoi(optarg);
			break;
		case 'd':
			g.duration = atof(optarg);
			break;
		case 'w':
			g.warmup = atof(optarg);
			break;
		case 'a':
			snprintf(g.local, sizeof(g.local), "%s", optarg);
			break;
		case 'E':
		case 'S':
			if (sscanf(optarg, "%63[^:]:%u", g.host, &g.port) != 2)
				usage();
			g.sip = opt == 'S';
			target = true;
			break;
		case 'C':
			g.cps = atof(optarg);
			break;
		case 'P':
			g.rtp_base = (unsigned)atoi(optarg);
			break;
		case 'W':
			g.watch_pid = atoi(optarg);
			break;
		case 'T':
			g.setup_timeout = atof(optarg);
			break;
		case 'R':
			g.srtp = (unsigned)atoi(optarg);
			if (g.srtp != 80 && g.srtp != 32)
				usage();
			break;
		case 'X':
			g.corrupt = (unsigned)atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if ((g.srtp && !g.sip) || (g.corrupt && !g.srtp))
		usage();
	if (!target || g.n == 0 || g.duration <= 0 || g.cps <= 0 ||
	    g.port == 0 || g.port > 65535 || (!g.sip && g.port + g.n > 65536))
		usage();

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	make_tone();
	srand((unsigned)now_ns());

	g.st = calloc(g.n, sizeof(*g.st));
	if (!g.st)
		die("calloc");
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g.epfd < 0)
		die("epoll_create1");
	for (unsigned i = 0; i < g.n; i++) {
		struct stream *s = &g.st[i];
		uint16_t want = g.rtp_base ? (uint16_t)(g.rtp_base + 2 * i) : 0;
		s->fd = open_udp(want, &s->local_port);
		s->ssrc = (uint32_t)rand() ^ (i << 20);
		s->seq = (uint16_t)rand();
		s->ts = (uint32_t)rand();
		if (g.srtp &&
		    sdes_make(&s->mine, 1,
		              g.srtp == 80 ? SRTPX_AES_CM_128_HMAC_SHA1_80
		                           : SRTPX_AES_CM_128_HMAC_SHA1_32)) {
			fprintf(stderr, "rtp_load: no SRTP key\n");
			exit(1);
		}
		if (!g.sip) {
			s->dst.sin_family = AF_INET;
			s->dst.sin_port = htons((uint16_t)(g.port + i));
			if (inet_pton(AF_INET, g.host, &s->dst.sin_addr) != 1)
				usage();
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
			die("epoll_ctl");
	}
	if (g.sip) {
		g.sipfd = open_udp(0, &g.sip_port);
		int big = 4 << 20;
		setsockopt(g.sipfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		g.sip_dst.sin_family = AF_INET;
		g.sip_dst.sin_port = htons((uint16_t)g.port);
		if (inet_pton(AF_INET, g.host, &g.sip_dst.sin_addr) != 1)
			usage();
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u32 = SIP_SOCK_TAG};
		if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.sipfd, &ev) < 0)
			die("epoll_ctl");
	}
	g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (g.tfd < 0)
		die("timerfd_create");
	struct itimerspec its = {.it_interval = {0, 1000000},
	                         .it_value = {0, 1000000}};
	timerfd_settime(g.tfd, 0, &its, NULL);
	struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
	if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.tfd, &tev) < 0)
		die("epoll_ctl");

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	g.t0 = now_ns();
	set_phase(g.sip ? PH_SETUP : PH_WARMUP, g.t0);
	if (!g.sip)
		for (unsigned i = 0; i < g.n; i++)
			stream_start(i, g.t0);

	struct epoll_event evs[512];
	while (g.ph != PH_DONE) {
		int n = epoll_wait(g.epfd, evs, 512, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		bool ticked = n <= 0;
		for (int k = 0; k < n; k++) {
			uint32_t tag = evs[k].data.u32;
			if (tag == TIMER_TAG) {
				uint64_t exp;
				if (read(g.tfd, &exp, sizeof(exp)) < 0 &&
				    errno != EAGAIN)
					die("timerfd read");
				ticked = true;
			} else if (tag == SIP_SOCK_TAG) {
				recv_sip(now_ns());
			} else {
				recv_rtp(tag);
			}
		}
		if (ticked)
			tick(now_ns());
		if (g.interrupted && g.ph < PH_MEASURE) {
			fprintf(stderr, "rtp_load: interrupted during %s\n",
			        phase_names[g.ph]);
			set_phase(PH_MEASURE, now_ns());
			set_phase(PH_DRAIN, now_ns());
		}
	}
	getrusage(RUSAGE_SELF, &ru1);
	/* packets sent in the window and never echoed */
	for (unsigned i = 0; i < g.n; i++)
		for (int k = 0; k < RING; k++) {
			struct slot *sl = &g.st[i].ring[k];
			if (sl->used && sl->in_window && !sl->echoed)
				g.lost++;
		}
	qsort(g.rtt, g.nrtt, sizeof(*g.rtt), cmp_u32);

	double win = (double)(g.win_end - g.win_start) / 1e9;
	double gen_cpu =
	    (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	    (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	    (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double tcpu = g.watch_pid > 0 && g.cpu0 >= 0 && g.cpu1 >= 0
	                  ? g.cpu1 - g.cpu0
	                  : -1;
	unsigned not_placed = g.sip ? g.n - g.placed : 0;
	printf("{\"mode\":\"%s\",\"streams\":%u,\"window_s\":%.3f,"
	       "\"calls_ok\":%u,\"calls_failed\":%u,\"not_placed\":%u,"
	       "\"bye_failed\":%u,\"ended_by_far_end\":%u,"
	       "\"setup_ms_avg\":%.2f,\"setup_ms_max\":%.2f,"
	       "\"sent\":%llu,\"echoed\":%llu,\"lost\":%llu,\"dup\":%llu,"
	       "\"unmatched\":%llu,\"misrouted\":%llu,"
	       "\"tx_total\":%llu,\"rx_total\":%llu,"
	       "\"rtt_p50_us\":%u,\"rtt_p99_us\":%u,\"rtt_p999_us\":%u,"
	       "\"rtt_max_us\":%u,\"send_late\":%llu,\"send_skipped\":%llu,"
	       "\"send_late_max_us\":%llu,\"gen_cpu_s\":%.3f,"
	       "\"target_pid\":%d,\"target_cpu_s\":%.3f,"
	       "\"target_cpu_pct\":%.1f,\"target_cpu_us_per_packet\":%.3f,"
	       "\"target_rss_kb_start\":%ld,\"target_rss_kb_end\":%ld,"
	       "\"target_rss_kb_peak\":%ld,\"srtp\":\"%s\",\"srtp_fail\":%llu,"
	       "\"corrupted\":%llu,\"rtcp\":%llu}\n",
	       g.sip ? "sip" : "echo", g.n, win, g.sip ? g.calls_ok : g.n,
	       g.calls_failed, not_placed, g.bye_failed, g.by_server,
	       g.calls_ok ? (double)g.setup_ns_sum / g.calls_ok / 1e6 : 0.0,
	       (double)g.setup_ns_max / 1e6, (unsigned long long)g.sent,
	       (unsigned long long)g.matched, (unsigned long long)g.lost,
	       (unsigned long long)g.dup, (unsigned long long)g.unmatched,
	       (unsigned long long)g.misrouted, (unsigned long long)g.tx_total,
	       (unsigned long long)g.rx_total, pct(50), pct(99), pct(99.9),
	       g.nrtt ? g.rtt[g.nrtt - 1] : 0, (unsigned long long)g.send_late,
	       (unsigned long long)g.send_skipped,
	       (unsigned long long)(g.late_max_ns / 1000), gen_cpu, g.watch_pid,
	       tcpu, tcpu >= 0 && win > 0 ? 100 * tcpu / win : -1,
	       tcpu >= 0 && g.sent ? 1e6 * tcpu / (double)g.sent : -1,
	       g.rss0_kb, g.rss1_kb, g.rss_peak_kb,
	       g.srtp == 80   ? "AES_CM_128_HMAC_SHA1_80"
	       : g.srtp == 32 ? "AES_CM_128_HMAC_SHA1_32"
	                      : "off",
	       (unsigned long long)g.srtp_fail, (unsigned long long)g.corrupted,
	       (unsigned long long)g.rtcp);
	fflush(stdout);
	for (unsigned i = 0; i < g.n; i++) {
		close(g.st[i].fd);
		srtpx_reset(&g.st[i].srtp);
	}
	free(g.st);
	free(g.rtt);
	return (g.calls_failed || g.bye_failed || g.matched == 0) ? 1 : 0;
}
