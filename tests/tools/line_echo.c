/*
 * line_echo: the media end of a phone line whose caller hears the agent
 * through a hybrid that sends it back.
 *
 *   line_echo -p PORT [-d DELAY_MS] [-g GAIN] [-s SPEECH.ul -a AT_S
 *             [-r EVERY_S]] [-t SECONDS]
 *
 * Binds 127.0.0.1:PORT. From the first PCMU packet it receives, it sends a
 * PCMU packet every 20 ms back to where that packet came from: what it
 * received DELAY_MS earlier (default 120) times GAIN (default 0.3, about
 * -10 dB), plus, from AT_S seconds after the first packet, the raw u-law
 * SPEECH file (the caller talking), again every EVERY_S seconds when given.
 * It stops after SECONDS (default 15) and prints "received=N sent=M" on
 * stdout, then what it measured on the wire for each time it spoke:
 *
 *   reply n=K ms=X   the agent's first sound X ms after the caller's speech
 *                    ended (voice to voice, as the caller hears it)
 *   barge n=K ms=X   the agent was talking when the caller began; its
 *                    sound stopped X ms later (barge-in reaction)
 *
 * The caller's speech begins and ends where SPEECH's first and last
 * samples above -36 dBFS are, not with the file's leading and trailing
 * silence.
 *
 * Exit code 0, 1 on a socket error, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME     160
#define MAX_DELAY 100 /* frames: 2 s */
#define MAX_SAYS  256
#define GAP_NS    100000000u /* 100 ms without sound ends a stretch */
#define SOUND_RMS 300.0      /* a packet with sound, about -40 dBFS */

/* G.711 u-law, written out here so the tool does not share the server's
 * codec it tests. */
static int16_t ulaw_to_linear(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
	return (int16_t)((u & 0x80) ? 0x84 - t : t - 0x84);
}

static uint8_t linear_to_ulaw(int v)
{
	int mask = 0xff, seg = 0;

	if (v < 0) {
		v = 0x84 - v;
		mask = 0x7f;
	} else {
		v += 0x84;
	}
	if (v > 0x7fff)
		v = 0x7fff;
	for (int s = v >> 8; s; s >>= 1)
		seg++;
	if (seg > 7)
		seg = 7;
	return (uint8_t)((seg << 4 | ((v >> (seg + 3)) & 0x0f)) ^ mask);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: line_echo -p PORT [-d DELAY_MS] [-g GAIN] "
	                "[-s SPEECH.ul -a AT_S [-r EVERY_S]] [-t SECONDS]\n");
}

int main(int argc, char **argv)
{
	int port = 0, delay_ms = 120, opt, fd;
	double gain = 0.3, at_s = 0, secs = 15, every_s = 0;
	/* Per time the caller spoke: when it started and ended, the agent's
	 * first sound after the end, and (barge) its last before a gap. */
	struct say {
		uint64_t start, end, reply, last_sound;
		bool over_agent, reply_seen, stopped;
	} says[MAX_SAYS];
	size_t nsays = 0, speech_begin = 0, speech_active = 0;
	uint64_t last_sound = 0;
	const char *speech_path = NULL;
	uint8_t *speech = NULL;
	size_t speech_len = 0;
	int16_t line[MAX_DELAY][FRAME];
	struct sockaddr_in me = {0}, peer = {0};
	socklen_t plen = sizeof(peer);
	bool have_peer = false;
	uint64_t t0 = 0, next = 0, tick = 0, received = 0, sent = 0;
	uint16_t seq = 1;
	uint32_t ts = 0;

	memset(says, 0, sizeof(says));
	while ((opt = getopt(argc, argv, "p:d:g:s:a:t:r:")) != -1) {
		switch (opt) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'd':
			delay_ms = atoi(optarg);
			break;
		case 'g':
			gain = atof(optarg);
			break;
		case 's':
			speech_path = optarg;
			break;
		case 'a':
			at_s = atof(optarg);
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'r':
			every_s = atof(optarg);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || delay_ms < 20 ||
	    delay_ms / 20 >= MAX_DELAY || secs <= 0) {
		usage();
		return 2;
	}
	if (speech_path) {
		FILE *f = fopen(speech_path, "rb");

		if (!f) {
			fprintf(stderr, "line_echo: %s: %s\n", speech_path,
			        strerror(errno));
			return 2;
		}
		fseek(f, 0, SEEK_END);
		speech_len = (size_t)ftell(f);
		fseek(f, 0, SEEK_SET);
		speech = malloc(speech_len ? speech_len : 1);
		if (!speech || fread(speech, 1, speech_len, f) != speech_len) {
			fclose(f);
			return 1;
		}
		fclose(f);
		/* Where the words begin and end, without the file's
		 * leading and trailing silence. */
		for (size_t i = 0; i < speech_len; i++) {
			if (abs(ulaw_to_linear(speech[i])) <= 500)
				continue;
			if (!speech_active)
				speech_begin = i;
			speech_active = i + 1;
		}
	}
	if (every_s && every_s * 8000 < (double)speech_len) {
		usage();
		return 2;
	}
	memset(line, 0, sizeof(line));

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	me.sin_family = AF_INET;
	me.sin_port = htons((uint16_t)port);
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
	    fcntl(fd, F_SETFL, O_NONBLOCK)) {
		perror("line_echo");
		return 1;
	}

	for (;;) {
		uint8_t b[1500];
		ssize_t n;
		uint64_t t = now_ns();

		/* Take what has arrived: the newest frame is this tick's. */
		while ((n = recvfrom(fd, b, sizeof(b), 0,
		                     (struct sockaddr *)&peer, &plen)) > 0) {
			if (n < 12 + FRAME || (b[1] & 0x7f) != 0)
				continue;
			if (!have_peer) {
				have_peer = true;
				t0 = next = t;
			}
			received++;
			double e = 0;
			for (size_t i = 0; i < FRAME; i++) {
				int16_t v = ulaw_to_linear(b[12 + i]);

				line[tick % MAX_DELAY][i] = v;
				e += (double)v * v;
			}
			if (sqrt(e / FRAME) < SOUND_RMS)
				continue;
			for (size_t k = 0; k < nsays; k++) {
				struct say *s = &says[k];

				if (t > s->end && !s->reply_seen) {
					s->reply_seen = true;
					s->reply = t;
				}
				if (s->over_agent && !s->stopped &&
				    t >= s->start) {
					if (s->last_sound &&
					    t - s->last_sound > GAP_NS)
						s->stopped = true;
					else
						s->last_sound = t;
				}
			}
			last_sound = t;
		}
		if (have_peer && t >= next) {
			int16_t *back =
			    line[(tick + MAX_DELAY - (uint64_t)delay_ms / 20) %
			         MAX_DELAY];
			double since = (double)(t - t0) / 1e9;
			double into = since - at_s;
			size_t sp;

			if (every_s > 0 && into > 0)
				into = fmod(into, every_s);
			sp = (size_t)(into * 8000);
			/* A new time the caller speaks: note it. */
			if (speech && into >= 0 && sp < FRAME &&
			    nsays < MAX_SAYS) {
				struct say *s = &says[nsays++];

				s->start = t + (uint64_t)speech_begin * 125000u;
				s->end = t + (uint64_t)speech_active * 125000u;
				s->over_agent =
				    last_sound && t - last_sound < GAP_NS;
				s->last_sound = s->over_agent ? last_sound : 0;
			}

			b[0] = 0x80;
			b[1] = 0;
			b[2] = (uint8_t)(seq >> 8);
			b[3] = (uint8_t)seq;
			b[4] = (uint8_t)(ts >> 24);
			b[5] = (uint8_t)(ts >> 16);
			b[6] = (uint8_t)(ts >> 8);
			b[7] = (uint8_t)ts;
			memcpy(b + 8, "\x0e\xc0\x11\x0e", 4);
			for (size_t i = 0; i < FRAME; i++) {
				double v = gain * back[i];

				if (speech && into >= 0 && sp + i < speech_len)
					v += ulaw_to_linear(speech[sp + i]);
				v = fmax(-32768, fmin(32767, v));
				b[12 + i] = linear_to_ulaw((int)v);
			}
			if (sendto(fd, b, 12 + FRAME, 0,
			           (struct sockaddr *)&peer, plen) > 0)
				sent++;
			seq++;
			ts += FRAME;
			tick++;
			memset(line[tick % MAX_DELAY], 0, sizeof(line[0]));
			next += 20000000u;
			if (since >= secs)
				break;
		}
		usleep(2000);
	}
	printf("received=%llu sent=%llu\n", (unsigned long long)received,
	       (unsigned long long)sent);
	for (size_t k = 0; k < nsays; k++) {
		const struct say *s = &says[k];

		if (s->over_agent && s->last_sound)
			/* 0 when the agent was between words as the caller
			 * began and never sounded again. */
			printf("barge n=%zu ms=%lld\n", k,
			       s->last_sound > s->start
			           ? (long long)((s->last_sound - s->start) /
			                         1000000)
			           : 0LL);
		else if (s->reply_seen &&
		         (k + 1 == nsays || s->reply < says[k + 1].start))
			printf("reply n=%zu ms=%lld\n", k,
			       (long long)((s->reply - s->end) / 1000000));
	}
	free(speech);
	close(fd);
	return 0;
}
