/*
 * rtc_client: a small LiveKit WebRTC client for voxgate's load and hostile
 * tests, written on voxgate's own ICE, DTLS, SRTP and SDP code
 * (src/webrtc/) and libre's loop. It is not libwebrtc: it does what
 * LiveKit's SDKs do on the wire for audio (the project's livekit-rtc
 * notes, section a), no more, so that hundreds of clients fit in one
 * process on one loop (no thread per client) where the real SDK costs
 * about 13 % of a core each.
 *
 *   rtc_client -p HTTP_PORT -k KEY -s SECRET (-r ROOM | --rooms FILE)
 *              [-n COUNT] [--ramp PER_S | --sequential] [-d SECONDS]
 *              [--publish] [--signal-only] [hostile flags]
 *              [--phone SIP_HOST:PORT --number N]
 *
 * Each client mints its token (src/auth/token.h), opens
 * ws://HOST:PORT/rtc?access_token=..., reads the JoinResponse, answers the
 * subscriber offer as libwebrtc does (a=setup:active, recvonly), runs ICE
 * as the controlling agent (checks with USE-CANDIDATE, then one every 4-5
 * s for consent), DTLS as the client and SRTP, and counts the RTP of every
 * track it subscribes to (packets, loss, RFC 3550 jitter). With --publish
 * it sends add_track, then a publisher offer (Opus, sendonly, msid
 * "- <cid>", a=setup:actpass), takes voxgate's answer (setup:active: it is
 * the DTLS server then) and sends Opus every 20 ms from a buffer encoded
 * once at start (a 440 Hz tone, looped). After -d seconds connected it
 * sends leave and closes.
 *
 * Clients start all at once, --ramp a second, or --sequential (each when
 * the one before has left). --rooms FILE gives client i the room on line
 * i (cycling). --signal-only joins and takes the offer but never answers
 * it (a signalling connection only).
 *
 * Hostile flags (for voxgate's tests; each alone):
 *   --wrong-ice-pwd      checks signed with a password not voxgate's
 *   --wrong-fingerprint  the answer names another certificate than the
 *                        one the DTLS handshake presents
 *   --bad-srtp N         every Nth published packet has a damaged tag
 *   --garbage PPS        junk datagrams of every kind to each connection's
 *                        port, from its address and from another
 *
 * --phone places a SIP call itself (plain RTP, PCMU) to NUMBER and joins
 * the room as one client: it measures what voxgate adds to each direction
 * (phone RTP in → SRTP to the subscriber out; published Opus in → PCMU to
 * the phone out), matching packets by their payload (tests/tools/rtcc/
 * phone.c).
 *
 * Prints a line per client ("client ...") and one JSON object with the
 * totals ("{...}"), and with --phone one more ("latency {...}"). Exit
 * status 0 when every client connected and left as planned, 1 otherwise,
 * 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "net/conngate.h"
#include "rtcc/rtcc.h"

/* Every client's periodic work, and the send times' granularity: 1 ms
 * when measuring latency, whose jitter buffer would adapt to ours. */
#define TICK_MS       2
#define TICK_PHONE_MS 1
#define MAX_CLIENTS   2000
#define MAX_ROOMS     2000
#define FD_WANT       8192
#define TONE_HZ       440
#define TONE_AMP      8000
#define BURST_FRAMES  3
#define BURST_PERIOD  10

struct rtcc_run rtcc;

static struct {
	unsigned n;
	double ramp; /* clients a second, 0: all at once */
	bool sequential;
	uint32_t duration_ms;
	uint32_t join_timeout_ms;
	bool quiet;
	const char *prefix;
	const char *room;
	char *rooms[MAX_ROOMS];
	unsigned nrooms;
	const char *phone_host;
	uint16_t phone_port;
	const char *number;
	uint32_t jitter_min_ms;

	struct rtcc_client *cl;
	unsigned started, over;
	uint64_t t0_us, next_start_us;
	struct tmr tick;
	bool stopping;
	bool phone_waiting;
} g;

uint64_t rtcc_now_us(void)
{
	return clock_mono_us();
}

void rtcc_client_over(struct rtcc_client *cl)
{
	(void)cl;
	g.over++;
}

/* ---- the Opus every publisher loops ---------------------------------------- */

/*
 * A 440 Hz tone, 50 frames (a whole number of cycles: the loop is seamless)
 * or, for the latency mode, BURST_FRAMES of tone every BURST_PERIOD frames
 * and silence between, whose first tone frame is rtcc.opus_onset. Encoded
 * three times over and the last pass kept, so the encoder's state at the
 * loop's start is what the end of the loop leaves.
 */
static int opus_buffer(bool bursts)
{
	unsigned n = bursts ? BURST_PERIOD : 50;
	int16_t pcm[960];
	OpusEncoder *enc;
	int err;

	enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	if (!enc)
		return ENOMEM;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
	opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
	for (unsigned pass = 0; pass < 3; pass++) {
		for (unsigned f = 0; f < n; f++) {
			bool on = !bursts || f < BURST_FRAMES;
			int len;

			for (unsigned i = 0; i < 960; i++) {
				double t = (double)(f * 960 + i) / 48000.0;

				pcm[i] =
				    on ? (int16_t)(TONE_AMP *
				                   sin(2 * M_PI * TONE_HZ * t))
				       : 0;
			}
			len = opus_encode(enc, pcm, 960, rtcc.opus[f],
			                  RTCC_OPUS_PKT);
			if (len <= 0) {
				opus_encoder_destroy(enc);
				return EPROTO;
			}
			rtcc.opus_len[f] = (uint16_t)len;
		}
	}
	opus_encoder_destroy(enc);
	rtcc.opus_n = n;
	rtcc.opus_onset = 0;
	return 0;
}

/* ---- the run -------------------------------------------------------------- */

static int client_start(struct rtcc_client *cl)
{
	int err;

	cl->desc = malloc(sizeof(*cl->desc));
	if (!cl->desc)
		return ENOMEM;
	err = rtcc_signal_open(cl);
	if (err)
		rtcc_fail(cl, "could not open: %s", strerror(err));
	return 0;
}

static double pct(double *v, unsigned n, double p)
{
	if (!n)
		return 0;
	return v[(unsigned)ceil(p / 100.0 * n) - 1 < n
	             ? (unsigned)ceil(p / 100.0 * n) - 1
	             : n - 1];
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static const char *state_name(enum rtcc_state s)
{
	static const char *const n[] = {"idle",      "connecting", "joined",
	                                "connected", "done",       "failed"};

	return n[s];
}

static void report(void)
{
	double *join = calloc(g.n ? g.n : 1, sizeof(double));
	unsigned done = 0, failed = 0, connected = 0, heard = 0, with_audio = 0;
	unsigned joined = 0, nj = 0;
	uint64_t rx = 0, tx = 0, bad = 0, junk = 0;
	int64_t lost = 0;
	char reasons[256] = "", first_fail[200] = "";
	unsigned nreason[17] = {0};

	for (unsigned i = 0; i < g.started; i++) {
		struct rtcc_client *cl = &g.cl[i];
		char sub[1024] = "", pub[1024] = "";

		done += cl->state == RTCC_DONE;
		failed += cl->state == RTCC_FAILED;
		joined += cl->t_join_us != 0;
		if (cl->t_up_us) {
			connected++;
			if (join)
				join[nj++] =
				    (double)(cl->t_up_us - cl->t_open_us) /
				    1000.0;
		}
		heard += cl->heard;
		if (cl->sub) {
			rx += rtcc_pc_rx_packets(cl->sub);
			lost += rtcc_pc_rx_lost(cl->sub);
			with_audio += rtcc_pc_rx_packets(cl->sub) > 0;
			rtcc_pc_print(cl->sub, sub, sizeof(sub));
		}
		if (cl->pub) {
			tx += cl->pub->sent;
			bad += cl->pub->sent_bad;
			junk += cl->pub->junk_sent;
			rtcc_pc_print(cl->pub, pub, sizeof(pub));
		}
		if (cl->sub)
			junk += cl->sub->junk_sent;
		if (cl->leave_reason >= 0 && cl->leave_reason < 17)
			nreason[cl->leave_reason]++;
		if (cl->state == RTCC_FAILED && !first_fail[0])
			snprintf(first_fail, sizeof(first_fail), "%s",
			         cl->fail);
		if (g.quiet)
			continue;
		printf("client idx=%u identity=%s room=%s state=%s "
		       "join_ms=%.1f ws_ms=%.1f joinresponse_ms=%.1f "
		       "leave=%s offers=%u heard=%s fail=\"%s\" | %s | %s\n",
		       cl->idx, cl->identity, cl->room, state_name(cl->state),
		       cl->t_up_us ? (double)(cl->t_up_us - cl->t_open_us) / 1e3
		                   : -1.0,
		       cl->t_ws_us ? (double)(cl->t_ws_us - cl->t_open_us) / 1e3
		                   : -1.0,
		       cl->t_join_us
		           ? (double)(cl->t_join_us - cl->t_open_us) / 1e3
		           : -1.0,
		       rtcc_leave_name(cl->leave_reason), cl->offers,
		       cl->heard ? "yes" : "no", cl->fail, sub, pub);
	}
	for (int r = 0; r < 17; r++) {
		size_t o = strlen(reasons);

		if (nreason[r])
			snprintf(reasons + o, sizeof(reasons) - o, "%s%s:%u",
			         o ? "," : "", rtcc_leave_name(r), nreason[r]);
	}
	if (join)
		qsort(join, nj, sizeof(double), dcmp);
	printf("{\"clients\":%u,\"joined\":%u,\"connected\":%u,\"done\":%u,"
	       "\"failed\":%u,\"join_ms_p50\":%.1f,\"join_ms_p99\":%.1f,"
	       "\"join_ms_max\":%.1f,\"rx_packets\":%llu,\"rx_lost\":%lld,"
	       "\"clients_with_audio\":%u,\"tx_packets\":%llu,"
	       "\"tx_bad_tag\":%llu,\"junk_sent\":%llu,\"heard\":%u,"
	       "\"leave_reasons\":\"%s\",\"first_failure\":\"%s\","
	       "\"elapsed_s\":%.1f}\n",
	       g.started, joined, connected, done, failed, pct(join, nj, 50),
	       pct(join, nj, 99), nj ? join[nj - 1] : 0.0,
	       (unsigned long long)rx, (long long)lost, with_audio,
	       (unsigned long long)tx, (unsigned long long)bad,
	       (unsigned long long)junk, heard, reasons, first_fail,
	       (double)(rtcc_now_us() - g.t0_us) / 1e6);
	if (g.phone_host)
		rtcc_phone_report(g.jitter_min_ms);
	fflush(stdout);
	free(join);
}

static void drained_h(void *arg)
{
	(void)arg;
	re_cancel();
}

static void finish(void)
{
	for (unsigned i = 0; i < g.started; i++) {
		struct rtcc_client *cl = &g.cl[i];

		if (cl->state != RTCC_DONE && cl->state != RTCC_FAILED)
			rtcc_fail(cl, "stopped before its end");
		rtcc_signal_close(cl);
	}
	report();
	if (g.phone_host)
		rtcc_phone_stop();
	/* The closing handshakes (WebSocket, SIP BYE) a moment to end. */
	tmr_start(&g.tick, 300, drained_h, NULL);
}

static void tick_h(void *arg)
{
	uint64_t now = rtcc_now_us();

	(void)arg;
	tmr_start(&g.tick, g.phone_host ? TICK_PHONE_MS : TICK_MS, tick_h,
	          NULL);
	if (g.phone_host) {
		rtcc_phone_tick(now);
		if (g.phone_waiting) {
			if (!rtcc_phone_up()) {
				if (now - g.t0_us > 10000000u) {
					fprintf(stderr,
					        "rtc_client: the phone "
					        "call did not come up\n");
					g.stopping = true;
				} else {
					return;
				}
			}
			g.phone_waiting = false;
			g.next_start_us = now;
		}
	}
	while (!g.stopping && g.started < g.n && now >= g.next_start_us &&
	       (!g.sequential || g.over == g.started)) {
		struct rtcc_client *cl = &g.cl[g.started++];

		if (client_start(cl)) {
			fprintf(stderr, "rtc_client: out of memory\n");
			g.stopping = true;
			break;
		}
		if (g.ramp > 0)
			g.next_start_us += (uint64_t)(1e6 / g.ramp);
	}
	for (unsigned i = 0; i < g.started; i++) {
		struct rtcc_client *cl = &g.cl[i];

		rtcc_signal_tick(cl, now);
		if (cl->state == RTCC_DONE || cl->state == RTCC_FAILED)
			continue;
		if (!cl->until_us &&
		    (cl->state == RTCC_CONNECTED ||
		     (rtcc.signal_only && cl->state == RTCC_JOINED)))
			cl->until_us = now + g.duration_ms * 1000ull;
		if (cl->until_us && now >= cl->until_us)
			rtcc_signal_leave(cl);
		else if (!cl->until_us && now > cl->t_open_us &&
		         now - cl->t_open_us > g.join_timeout_ms * 1000ull)
			rtcc_fail(cl, "not connected %u s after opening",
			          g.join_timeout_ms / 1000);
	}
	if (g.stopping || (g.started == g.n && g.over == g.n))
		finish();
}

static void signal_h(int sig)
{
	(void)sig;
	g.stopping = true; /* the next tick reports and ends */
}

/* ---- set-up --------------------------------------------------------------- */

static int read_rooms(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[300];

	if (!f)
		return errno;
	while (g.nrooms < MAX_ROOMS && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		g.rooms[g.nrooms] = strdup(line);
		if (!g.rooms[g.nrooms++])
			break;
	}
	fclose(f);
	return g.nrooms ? 0 : ENOENT;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: rtc_client -p HTTP_PORT -k KEY -s SECRET "
	        "(-r ROOM | --rooms FILE)\n"
	        "  [-H HOST] [-n COUNT] [--ramp PER_S | --sequential] "
	        "[-d SECONDS] [--join-timeout S]\n"
	        "  [--publish] [--signal-only] [--prefix ID] [--quiet]\n"
	        "  [--wrong-ice-pwd] [--wrong-fingerprint] [--bad-srtp N] "
	        "[--garbage PPS]\n"
	        "  [--phone SIP_HOST:PORT --number N [--jitter-min-ms MS]]\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"key", required_argument, NULL, 'k'},
	    {"secret", required_argument, NULL, 's'},
	    {"room", required_argument, NULL, 'r'},
	    {"rooms", required_argument, NULL, 'R'},
	    {"count", required_argument, NULL, 'n'},
	    {"ramp", required_argument, NULL, 'a'},
	    {"sequential", no_argument, NULL, 'q'},
	    {"duration", required_argument, NULL, 'd'},
	    {"join-timeout", required_argument, NULL, 'j'},
	    {"publish", no_argument, NULL, 'P'},
	    {"signal-only", no_argument, NULL, 'S'},
	    {"prefix", required_argument, NULL, 'x'},
	    {"quiet", no_argument, NULL, 'Q'},
	    {"wrong-ice-pwd", no_argument, NULL, 'W'},
	    {"wrong-fingerprint", no_argument, NULL, 'F'},
	    {"bad-srtp", required_argument, NULL, 'B'},
	    {"garbage", required_argument, NULL, 'G'},
	    {"phone", required_argument, NULL, 'O'},
	    {"number", required_argument, NULL, 'N'},
	    {"jitter-min-ms", required_argument, NULL, 'J'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	rtcc.host = "127.0.0.1";
	g.n = 1;
	g.duration_ms = 5000;
	g.join_timeout_ms = 20000;
	g.prefix = "rtcc";
	while ((c = getopt_long(argc, argv, "H:p:k:s:r:n:d:", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'H':
			rtcc.host = optarg;
			break;
		case 'p':
			rtcc.port = (uint16_t)atoi(optarg);
			break;
		case 'k':
			rtcc.key = optarg;
			break;
		case 's':
			rtcc.secret = optarg;
			break;
		case 'r':
			g.room = optarg;
			break;
		case 'R':
			if (read_rooms(optarg)) {
				fprintf(stderr, "rtc_client: no rooms in %s\n",
				        optarg);
				return 2;
			}
			break;
		case 'n':
			g.n = (unsigned)atoi(optarg);
			break;
		case 'a':
			g.ramp = atof(optarg);
			break;
		case 'q':
			g.sequential = true;
			break;
		case 'd':
			g.duration_ms = (uint32_t)(atof(optarg) * 1000);
			break;
		case 'j':
			g.join_timeout_ms = (uint32_t)(atof(optarg) * 1000);
			break;
		case 'P':
			rtcc.publish = true;
			break;
		case 'S':
			rtcc.signal_only = true;
			break;
		case 'x':
			g.prefix = optarg;
			break;
		case 'Q':
			g.quiet = true;
			break;
		case 'W':
			rtcc.hostile.wrong_ice_pwd = true;
			break;
		case 'F':
			rtcc.hostile.wrong_fp = true;
			break;
		case 'B':
			rtcc.hostile.bad_srtp = (unsigned)atoi(optarg);
			break;
		case 'G':
			rtcc.hostile.garbage_pps = (unsigned)atoi(optarg);
			break;
		case 'O': {
			char *colon = strrchr(optarg, ':');

			if (!colon)
				return 2;
			*colon = '\0';
			g.phone_host = optarg;
			g.phone_port = (uint16_t)atoi(colon + 1);
			break;
		}
		case 'N':
			g.number = optarg;
			break;
		case 'J':
			g.jitter_min_ms = (uint32_t)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!rtcc.port || !rtcc.key || !rtcc.secret || (!g.room && !g.nrooms) ||
	    !g.n || g.n > MAX_CLIENTS ||
	    (g.phone_host && (!g.number || !g.phone_port)))
		return 2;
	if (g.phone_host) {
		rtcc.publish = true;
		rtcc.phone_rx = true;
	}
	return 0;
}

static int setup(void)
{
	struct sa dns;
	uint32_t fds = 0;
	const char *why = NULL;
	int err;

	err = libre_init();
	if (err)
		return err;
	err = conngate_fd_setup(FD_WANT, &fds, &why);
	if (err) {
		fprintf(stderr, "rtc_client: descriptors: %s\n", why);
		return err;
	}
	if (fds < g.n * 4 + 32)
		fprintf(stderr, "rtc_client: %u descriptors for %u clients\n",
		        fds, g.n);
	err = srtpx_global_init();
	if (!err)
		err = sa_set_str(&dns, "127.0.0.1", 53);
	if (!err)
		err = dnsc_alloc(&rtcc.dnsc, NULL, &dns, 1);
	if (!err)
		err = dtls_cert_alloc(&rtcc.cert, &why);
	if (!err && rtcc.hostile.wrong_fp)
		err = dtls_cert_alloc(&rtcc.other, &why);
	if (err) {
		fprintf(stderr, "rtc_client: set-up: %s\n",
		        why ? why : strerror(err));
		return err;
	}
	snprintf(rtcc.fp, sizeof(rtcc.fp), "%s",
	         dtls_cert_fingerprint(rtcc.cert));
	if (rtcc.other)
		snprintf(rtcc.other_fp, sizeof(rtcc.other_fp), "%s",
		         dtls_cert_fingerprint(rtcc.other));
	if (rtcc.publish) {
		err = opus_buffer(rtcc.phone_rx);
		if (err) {
			fprintf(stderr, "rtc_client: Opus: %s\n",
			        strerror(err));
			return err;
		}
	}
	g.cl = calloc(g.n, sizeof(*g.cl));
	if (!g.cl)
		return ENOMEM;
	for (unsigned i = 0; i < g.n; i++) {
		struct rtcc_client *cl = &g.cl[i];

		cl->idx = i;
		cl->leave_reason = -1;
		snprintf(cl->identity, sizeof(cl->identity), "%s-%u", g.prefix,
		         i);
		snprintf(cl->room, sizeof(cl->room), "%s",
		         g.nrooms ? g.rooms[i % g.nrooms] : g.room);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (parse_args(argc, argv)) {
		usage();
		return 2;
	}
	if (setup())
		return 1;
	g.t0_us = g.next_start_us = rtcc_now_us();
	if (g.phone_host) {
		if (rtcc_phone_start(g.phone_host, g.phone_port, g.number)) {
			fprintf(stderr, "rtc_client: the phone cannot call\n");
			return 1;
		}
		g.phone_waiting = true;
	}
	tmr_init(&g.tick);
	tmr_start(&g.tick, 0, tick_h, NULL);
	(void)re_main(signal_h);

	rc = g.n && g.over == g.n ? 0 : 1;
	for (unsigned i = 0; i < g.n; i++) {
		if (g.cl[i].state != RTCC_DONE)
			rc = 1;
		free(g.cl[i].desc);
		mem_deref(g.cl[i].sub);
		mem_deref(g.cl[i].pub);
	}
	free(g.cl);
	for (unsigned i = 0; i < g.nrooms; i++)
		free(g.rooms[i]);
	mem_deref(rtcc.cert);
	mem_deref(rtcc.other);
	mem_deref(rtcc.dnsc);
	libre_close();
	return rc;
}
