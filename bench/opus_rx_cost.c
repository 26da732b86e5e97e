/*
 * opus_rx_cost: what the receive side of one published WebRTC track costs
 * the media thread per 20 ms frame (src/media/opus_rx.c), and why its
 * resampler runs at the quality it does.
 *
 *   opus_rx_cost [-s SECONDS]
 *
 * Streams are encoded here with libopus (complexity 5 as libwebrtc, 10 s
 * each by default): a voice-like signal (a 140 Hz harmonic series up to
 * 7 kHz, syllables at 4 Hz, a little noise) as a WebRTC sender would send
 * it. Each stream then goes through opus_rx_put + opus_rx_get as the media
 * thread drives them, and through its parts alone: opus_decode at 16 kHz
 * and the 16 to 8 kHz resampling (what opus_rx does), and for comparison
 * opus_decode at 48 kHz resampled from there, and opus_decode straight at
 * 8 kHz. Times are CPU time (CLOCK_THREAD_CPUTIME_ID), the best of 5
 * runs, per 20 ms of audio. The end of each stream is concealed (60 ms):
 * 3 frames.
 *
 * Then the resampler's response at each speexdsp quality: pure tones at
 * 16 kHz straight into it, the level out at the tone (in the band) or at
 * its alias (above 4 kHz, what folds back into the band), in dB, and its
 * cost per frame.
 *
 * Last, tones through the whole chain (a voice stream at 32 kbps, the
 * tone alone or over white noise 24 dB down, which makes the encoder
 * code the band above 4 kHz), decoded at 16 or 48 kHz and resampled by
 * speexdsp, or decoded straight at 8 kHz by libopus, whose own band
 * limiting lets more fold back.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <opus/opus.h>
#include <re.h>
#include <speex/speex_resampler.h>

#include "media/opus_rx.h"

#define MAX_PKTS 3000 /* 60 s of 20 ms */
#define RUNS     5
#define QUALITY  4     /* opus_rx.c's RESAMPLE_QUALITY */
#define IN_RATE  16000 /* opus_rx.c's DEC_RATE */
#define IN_FRAME (IN_RATE / 50)

struct stream {
	const char *name;
	int channels, ms, bitrate;
	bool fec;
	double loss; /* share of packets dropped */
	bool music;  /* OPUS_APPLICATION_AUDIO: CELT at these bitrates */
};

static uint8_t data[MAX_PKTS][1500];
static int lens[MAX_PKTS];

static double cpu_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static int encode(const struct stream *st, int n)
{
	static int16_t pcm[2880 * 2];
	int samples = 48 * st->ms, err;
	OpusEncoder *enc = opus_encoder_create(
	    48000, st->channels,
	    st->music ? OPUS_APPLICATION_AUDIO : OPUS_APPLICATION_VOIP, &err);
	uint32_t seed = 1;
	long k = 0;

	if (!enc)
		return -1;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(st->bitrate));
	opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
	if (st->fec) {
		opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
		opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(10));
	}
	for (int i = 0; i < n; i++) {
		for (int s = 0; s < samples; s++, k++) {
			double v = 0, t = (double)k / 48000;

			for (int h = 1; h * 140 < 7000; h++)
				v += sin(2 * M_PI * 140 * h * t) / h;
			v *= 4000 * (0.6 + 0.4 * sin(2 * M_PI * 4 * t));
			v += (double)(rnd(&seed) % 400) - 200;
			for (int c = 0; c < st->channels; c++)
				pcm[s * st->channels + c] = (int16_t)v;
		}
		lens[i] = opus_encode(enc, pcm, samples, data[i], 1500);
		if (lens[i] <= 0)
			return -1;
	}
	opus_encoder_destroy(enc);
	return 0;
}

/* opus_rx as the media thread drives it: packets as they come, a frame
 * a tick. */
static double run_rx(const struct stream *st, int n, struct opus_rx_stats *s)
{
	struct opus_rx_prm prm = {.jitter_min_ms = 20, .jitter_max_ms = 100};
	int16_t out[OPUS_RX_FRAME];
	struct opus_rx *rx;
	int ticks = n * st->ms / 20, next = 0;
	uint32_t seed = 7;
	double t0, t;

	if (opus_rx_alloc(&rx, &prm))
		exit(1);
	t0 = cpu_us();
	for (int k = 0; k < ticks + 5; k++) {
		uint64_t now = (uint64_t)k * 20000 + 1000;

		while (next < n &&
		       (uint64_t)(next + 1) * (uint64_t)st->ms * 1000 <= now) {
			bool drop = rnd(&seed) % 1000 < st->loss * 1000;

			if (!drop)
				opus_rx_put(rx, (uint16_t)next,
				            (uint32_t)(next * 48 * st->ms),
				            data[next], (size_t)lens[next],
				            now);
			next++;
		}
		opus_rx_get(rx, out);
	}
	t = cpu_us() - t0;
	opus_rx_stats(rx, s);
	mem_deref(rx);
	return t / ticks;
}

enum part {
	DECODE,       /* at `rate` */
	RESAMPLE,     /* from `rate` to 8 kHz, after decoding there */
	DECODE_AND_RS /* both */
};

/* The parts alone: decode at `rate`, resample from it to 8 kHz, or both. */
static double run_part(const struct stream *st, int n, int rate, enum part part)
{
	static int16_t pcm[5760];
	int16_t out[960];
	int err, frames = n * st->ms / 20;
	OpusDecoder *dec = opus_decoder_create(rate, 1, &err);
	SpeexResamplerState *rs =
	    speex_resampler_init(1, (spx_uint32_t)rate, 8000, QUALITY, &err);
	double t0, spent = 0;

	for (int i = 0; i < n; i++) {
		int got;

		t0 = cpu_us();
		got = opus_decode(dec, data[i], lens[i], pcm, 5760, 0);
		if (part != DECODE && rate != 8000) {
			spx_uint32_t in_len = (spx_uint32_t)got, out_len = 960;

			if (part == RESAMPLE)
				t0 = cpu_us();
			speex_resampler_process_int(rs, 0, pcm, &in_len, out,
			                            &out_len);
		}
		spent += cpu_us() - t0;
	}
	opus_decoder_destroy(dec);
	speex_resampler_destroy(rs);
	return spent / frames;
}

static double best(double a, double b)
{
	return a < b ? a : b;
}

static void streams(int seconds)
{
	static const struct stream list[] = {
	    {"voice mono 20 ms 32 kbps", 1, 20, 32000, false, 0},
	    {"voice mono 20 ms 32 kbps FEC, 5 % lost", 1, 20, 32000, true,
	     0.05},
	    {"voice mono 60 ms 32 kbps", 1, 60, 32000, false, 0},
	    {"voice stereo 20 ms 64 kbps", 2, 20, 64000, false, 0},
	    {"voice mono 20 ms 16 kbps", 1, 20, 16000, false, 0},
	    {"music mode (CELT) stereo 20 ms 96 kbps", 2, 20, 96000, false, 0,
	     true},
	};

	printf("| stream | opus_rx put+get | decode 16 kHz | resample 16 to "
	       "8 kHz | decode 48 kHz and resample (alternative) | decode "
	       "8 kHz (alternative) | lost / FEC / concealed |\n"
	       "|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(list) / sizeof(*list); i++) {
		const struct stream *st = &list[i];
		int n = seconds * 1000 / st->ms;
		double rx = 1e9, dec = 1e9, res = 1e9, dec48 = 1e9, dec8 = 1e9;
		struct opus_rx_stats s;

		if (n > MAX_PKTS)
			n = MAX_PKTS;
		if (encode(st, n)) {
			fprintf(stderr, "encode failed: %s\n", st->name);
			exit(1);
		}
		for (int r = 0; r < RUNS; r++) {
			rx = best(rx, run_rx(st, n, &s));
			dec = best(dec, run_part(st, n, IN_RATE, DECODE));
			res = best(res, run_part(st, n, IN_RATE, RESAMPLE));
			dec48 =
			    best(dec48, run_part(st, n, 48000, DECODE_AND_RS));
			dec8 = best(dec8, run_part(st, n, 8000, DECODE));
		}
		printf("| %s | %.1f us | %.1f us | %.1f us | %.1f us | %.1f us "
		       "| %llu / %llu / %llu |\n",
		       st->name, rx, dec, res, dec48, dec8,
		       (unsigned long long)s.lost, (unsigned long long)s.fec,
		       (unsigned long long)s.concealed);
	}
}

/* Level out of the resampler for a tone in at f, measured at f or, above
 * 4 kHz, where it folds to; in dB against the tone in. */
static double response(int quality, double f, double *us)
{
	static int16_t in[IN_RATE], out[8000];
	spx_uint32_t in_len, out_len;
	SpeexResamplerState *rs;
	double fa = f, w, c, s1 = 0, s2 = 0, p, t0;
	int err, n = 4000;

	for (int i = 0; i < IN_RATE; i++)
		in[i] = (int16_t)(10000 * sin(2 * M_PI * f * i / IN_RATE));
	rs = speex_resampler_init(1, IN_RATE, 8000, quality, &err);
	t0 = cpu_us();
	for (int k = 0; k < 50; k++) {
		in_len = IN_FRAME;
		out_len = 160;
		speex_resampler_process_int(rs, 0, in + IN_FRAME * k, &in_len,
		                            out + 160 * k, &out_len);
	}
	*us = (cpu_us() - t0) / 50;
	speex_resampler_destroy(rs);
	while (fa > 4000)
		fa = fa > 8000 ? fa - 8000 : 8000 - fa;
	w = 2 * M_PI * fa / 8000;
	c = 2 * cos(w);
	/* The second half: past the filter's start. */
	for (int i = 0; i < n; i++) {
		double s0 = out[4000 + i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	p = s1 * s1 + s2 * s2 - c * s1 * s2;
	return 20 * log10(2 * sqrt(p) / n / 10000 + 1e-9);
}

static void print_db(double db)
{
	/* Under the 16-bit output's last bit: nothing. */
	if (db < -90)
		printf(" < -90 |");
	else if (db > -0.05)
		printf(" 0.0 |");
	else
		printf(" %.1f |", db);
}

static void qualities(void)
{
	static const double tones[] = {3000, 3400, 3700, 4300, 4600, 6000};

	printf("\n| quality |");
	for (size_t j = 0; j < sizeof(tones) / sizeof(*tones); j++)
		printf(" %.0f Hz |", tones[j]);
	printf(" us/frame |\n|---|");
	for (size_t j = 0; j <= sizeof(tones) / sizeof(*tones); j++)
		printf("---|");
	printf("\n");
	for (int q = 0; q <= 10; q++) {
		double us = 0, cost = 1e9;

		printf("| %d |", q);
		for (size_t j = 0; j < sizeof(tones) / sizeof(*tones); j++) {
			print_db(response(q, tones[j], &us));
			cost = best(cost, us);
		}
		printf(" %.1f |\n", cost);
	}
}

/* A tone through the whole chain, encoded as a voice stream (SILK or
 * hybrid), then decoded at `rate` and resampled to 8 kHz (none at 8 kHz,
 * where libopus does it all): the level out at the tone or its alias. */
static double through(double f, int rate, bool noise)
{
	static int16_t pcm[960], out[50 * 160];
	static uint8_t pkt[1500];
	int err, o = 0;
	bool native = rate == 8000;
	OpusEncoder *enc =
	    opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	OpusDecoder *dec = opus_decoder_create(rate, 1, &err);
	SpeexResamplerState *rs =
	    speex_resampler_init(1, (spx_uint32_t)rate, 8000, QUALITY, &err);
	double fa = f, w, c, s1 = 0, s2 = 0, p;
	uint32_t seed = 3;
	long k = 0;

	opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
	for (int i = 0; i < 50; i++) {
		int len, got;

		for (int s = 0; s < 960; s++, k++) {
			double v = 10000 * sin(2 * M_PI * f * k / 48000);

			if (noise)
				v += (double)(rnd(&seed) % 2000) - 1000;
			pcm[s] = (int16_t)v;
		}
		len = opus_encode(enc, pcm, 960, pkt, sizeof(pkt));
		if (native) {
			o += opus_decode(dec, pkt, len, out + o, 160, 0);
		} else {
			spx_uint32_t in_len, out_len = 160;

			got = opus_decode(dec, pkt, len, pcm, 960, 0);
			in_len = (spx_uint32_t)(got > 0 ? got : 0);
			speex_resampler_process_int(rs, 0, pcm, &in_len,
			                            out + o, &out_len);
			o += (int)out_len;
		}
	}
	opus_encoder_destroy(enc);
	opus_decoder_destroy(dec);
	speex_resampler_destroy(rs);
	while (fa > 4000)
		fa = fa > 8000 ? fa - 8000 : 8000 - fa;
	w = 2 * M_PI * fa / 8000;
	c = 2 * cos(w);
	for (int i = o / 2; i < o; i++) {
		double s0 = out[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	p = s1 * s1 + s2 * s2 - c * s1 * s2;
	return 20 * log10(2 * sqrt(p) / (o - o / 2) / 10000 + 1e-9);
}

static void chains(void)
{
	static const double tones[] = {1000, 3400, 3700, 4300, 4600, 5000};
	static const int rates[] = {IN_RATE, 48000, 8000};

	printf("\n| signal, decoded |");
	for (size_t j = 0; j < sizeof(tones) / sizeof(*tones); j++)
		printf(" %.0f Hz |", tones[j]);
	printf("\n|---|");
	for (size_t j = 0; j < sizeof(tones) / sizeof(*tones); j++)
		printf("---|");
	printf("\n");
	for (int row = 0; row < 6; row++) {
		int rate = rates[row % 3];
		bool noise = row >= 3;

		if (rate == 8000)
			printf("| %s, at 8 kHz by libopus |",
			       noise ? "tone + noise" : "tone");
		else
			printf("| %s, at %d kHz, speexdsp %d to 8 kHz%s |",
			       noise ? "tone + noise" : "tone", rate / 1000,
			       QUALITY, rate == IN_RATE ? " (opus_rx)" : "");
		for (size_t j = 0; j < sizeof(tones) / sizeof(*tones); j++)
			print_db(through(tones[j], rate, noise));
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	int seconds = 10;

	if (argc == 3 && !strcmp(argv[1], "-s"))
		seconds = atoi(argv[2]);
	if (seconds < 1 || seconds > 60) {
		fprintf(stderr, "usage: opus_rx_cost [-s SECONDS (1-60)]\n");
		return 2;
	}
	streams(seconds);
	qualities();
	chains();
	return 0;
}
