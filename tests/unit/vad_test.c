/*
 * The voice activity detector on synthetic telephone audio: line noise,
 * hum, clicks, a cough and DC never START; a speech-like signal (harmonics
 * on a gliding pitch, formants, syllable-rate loudness, the telephone band)
 * STARTs start_secs after its onset and STOPs stop_secs after its end, also
 * when quiet, noisy or G.711-quantised; a short pause keeps the turn, a long
 * one ends it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <re.h>

#include "agent/echo_guard.h"
#include "speech/tts.h"
#include "speech/vad.h"
#include "core/g711.h"

#include "test.h"

#define RATE  8000
#define FRAME 160
/* the longest signal a test builds, in seconds */
#define MAX_SECS 12

static int16_t sig[MAX_SECS * 16000];
static double acc[MAX_SECS * 16000];

/* xorshift64*: the same noise on every run */
static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
	rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}

static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) /
	       9007199254740992.0;
}

static double gauss(void)
{
	double u = uniform() + 1e-300, w = uniform();

	return sqrt(-2 * log(u)) * cos(2 * M_PI * w);
}

static double dbfs_to_rms(double db)
{
	return 32768.0 * pow(10, db / 20);
}

static void acc_clear(size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc[i] = 0;
}

/* acc -> sig, clipping like a codec would */
static void acc_to_sig(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double x = round(acc[i]);
		sig[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
	}
}

static void add_noise(size_t from, size_t to, double db)
{
	double rms = dbfs_to_rms(db);

	for (size_t i = from; i < to; i++)
		acc[i] += rms * gauss();
}

struct biquad {
	double b0, b1, b2, a1, a2, z1, z2;
};

/* RBJ cookbook: type 'h' high-pass, 'l' low-pass, 'b' band-pass (0 dB
 * peak). */
static struct biquad biquad(char type, double hz, double q, double rate)
{
	double w = 2 * M_PI * hz / rate, al = sin(w) / (2 * q), c = cos(w);
	double a0 = 1 + al;
	struct biquad f = {.a1 = -2 * c / a0, .a2 = (1 - al) / a0};

	if (type == 'h') {
		f.b0 = f.b2 = (1 + c) / 2 / a0;
		f.b1 = -(1 + c) / a0;
	} else if (type == 'l') {
		f.b0 = f.b2 = (1 - c) / 2 / a0;
		f.b1 = (1 - c) / a0;
	} else {
		f.b0 = al / a0;
		f.b1 = 0;
		f.b2 = -al / a0;
	}
	return f;
}

static double biquad_run(struct biquad *f, double x)
{
	double y = f->b0 * x + f->z1;

	f->z1 = f->b1 * x - f->a1 * y + f->z2;
	f->z2 = f->b2 * x - f->a2 * y;
	return y;
}

/* The telephone channel: 300-3400 Hz. */
static void telephone_band(double *x, size_t n, double rate)
{
	struct biquad h1 = biquad('h', 300, M_SQRT1_2, rate);
	struct biquad h2 = biquad('h', 300, M_SQRT1_2, rate);
	struct biquad l1 = biquad('l', 3400, M_SQRT1_2, rate);

	for (size_t i = 0; i < n; i++)
		x[i] = biquad_run(&l1, biquad_run(&h2, biquad_run(&h1, x[i])));
}

/*
 * Speech from `from` to `to` (samples) at RMS db dBFS: espeak-ng saying a
 * sentence of voiced sounds only (no stops, no fricatives, so it has no
 * gap a frame long and its edges are the voice's), repeated as needed and
 * cut at `to`, in the telephone band. The detector is a model trained on
 * speech (vad.c), so the tests speak to it; until it was, these tests used
 * a harmonic buzz through two formants, which the model does not take for
 * a voice all the time, nor should it.
 */
#define VOICED_TEXT "we were all in a long line all morning and no one came"

static double *voice[2]; /* at 8 and 16 kHz */
static size_t voice_len[2];

static bool voice_take(const int16_t *pcm, size_t n, void *arg)
{
	int k = *(int *)arg;
	double *x = realloc(voice[k], (voice_len[k] + n) * sizeof(double));

	if (!x)
		return false;
	for (size_t i = 0; i < n; i++)
		x[voice_len[k] + i] = pcm[i];
	voice[k] = x;
	voice_len[k] += n;
	return true;
}

static const double *voice_at(double rate, size_t *len)
{
	int k = rate > 8000;

	if (!voice[k]) {
		struct tts_params tp;
		struct tts *t = NULL;

		tts_params_default(&tp);
		tp.out_rate = (uint32_t)rate;
		if (tts_alloc(&t, &tp, NULL) ||
		    tts_synth(t, VOICED_TEXT, voice_take, &k) || !voice[k]) {
			mem_deref(t);
			fprintf(stderr, "vad_test: espeak-ng failed\n");
			exit(1);
		}
		mem_deref(t);
		/* the synthesiser leaves out leading silence; trim the
		 * trailing */
		while (voice_len[k] > 0 &&
		       fabs(voice[k][voice_len[k] - 1]) < 64)
			voice_len[k]--;
	}
	*len = voice_len[k];
	return voice[k];
}

static void add_speech(size_t from, size_t to, double db, double rate)
{
	static double x[MAX_SECS * 16000];
	size_t n = to - from, len;
	const double *v = voice_at(rate, &len);
	double ss = 0, gain;

	for (size_t i = 0; i < n; i++)
		x[i] = v[i % len];
	telephone_band(x, n, rate);
	for (size_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	gain = dbfs_to_rms(db) / sqrt(ss / n);
	for (size_t i = 0; i < n; i++)
		acc[from + i] += gain * x[i];
}

/* What a run of the detector over sig did. */
struct run {
	unsigned onsets, starts, cancels, stops, pauses, resumes, voiced;
	long start_at[8], stop_at[8]; /* frame indexes */
	double conf_max;
};

static int analyse(const struct vad_params *p, uint32_t rate, size_t samples,
                   struct run *r)
{
	size_t frame = rate / 50;
	struct vad *v = NULL;
	int err = vad_alloc(&v, p, rate);

	memset(r, 0, sizeof(*r));
	if (err)
		return err;
	for (size_t i = 0; i + frame <= samples; i += frame) {
		struct vad_frame f;
		long k = (long)(i / frame);

		vad_process(v, sig + i, frame, &f);
		r->voiced += f.voiced;
		if (f.confidence > r->conf_max)
			r->conf_max = f.confidence;
		switch (f.event) {
		case VAD_EVENT_ONSET:
			r->onsets++;
			break;
		case VAD_EVENT_START:
			if (r->starts < 8)
				r->start_at[r->starts] = k;
			r->starts++;
			break;
		case VAD_EVENT_CANCEL:
			r->cancels++;
			break;
		case VAD_EVENT_STOP:
			if (r->stops < 8)
				r->stop_at[r->stops] = k;
			r->stops++;
			break;
		case VAD_EVENT_PAUSE:
			r->pauses++;
			break;
		case VAD_EVENT_RESUME:
			r->resumes++;
			break;
		case VAD_EVENT_NONE:
			break;
		}
	}
	mem_deref(v);
	return 0;
}

/* Frame indexes of a stretch [from, to) of samples at RATE. */
#define FRAME_OF(sample) ((long)((sample) / FRAME))

static struct vad_params defaults(void)
{
	struct vad_params p;

	vad_params_default(&p);
	return p;
}

static unsigned frames(double secs)
{
	return (unsigned)lround(secs / 0.02);
}

/* The unvoiced frames before STOP: at least stop_secs from the middle of
 * the last voiced frame. */
static unsigned stop_frames(double secs)
{
	return (unsigned)(lround(secs * 1000) + 9) / 20;
}

/* START came start_secs after the onset at `from`, give or take three
 * frames; STOP stop_secs after the voice ended at `to`, from three frames
 * before to seven after. The detector is a model that weighs 260 ms of
 * context (vad.c): on a quiet line it hears a cut-off syllable fade a
 * frame or two before its last sample, and in noise it holds a voice's
 * end for up to 140 ms (the confidence's hold and its context), where the
 * rule-based detector it replaced was held to 2-4 frames. */
static int turn_ok(const struct run *r, unsigned i, size_t from, size_t to,
                   const struct vad_params *p)
{
	long on = FRAME_OF(from), end = FRAME_OF(to) - 1;
	long start = on + frames(p->start_secs) - 1;
	long stop = end + stop_frames(p->stop_secs);

	return r->start_at[i] >= start && r->start_at[i] <= start + 3 &&
	       r->stop_at[i] >= stop - 3 && r->stop_at[i] <= stop + 7;
}

static void print_run(const char *what, const struct run *r)
{
	printf("# %s: onsets %u starts %u cancels %u stops %u voiced %u "
	       "conf_max %.2f",
	       what, r->onsets, r->starts, r->cancels, r->stops, r->voiced,
	       r->conf_max);
	for (unsigned i = 0; i < r->starts && i < 8; i++)
		printf(" start@%ld", r->start_at[i]);
	for (unsigned i = 0; i < r->stops && i < 8; i++)
		printf(" stop@%ld", r->stop_at[i]);
	printf("\n");
}

TEST(silence_is_quiet)
{
	struct vad_params p = defaults();
	struct vad *v = NULL;
	struct vad_frame f;
	int16_t zero[FRAME] = {0};

	CHECK_EQ(vad_alloc(&v, &p, RATE), 0);
	for (int i = 0; i < 200; i++) {
		vad_process(v, zero, FRAME, &f);
		CHECK_EQ(f.event, VAD_EVENT_NONE);
		CHECK(!f.voiced && !f.speaking);
		CHECK(f.confidence == 0);
		CHECK(f.volume < 0.2);
	}
	mem_deref(v);
	return 0;
}

/* Hiss at every level a line has, flat and in the telephone band: never
 * a START, and at most 240 ms of its 6 s voiced (stray onsets the agent
 * pauses for and resumes after: the model has a few in loud steady
 * noise, -25 dBFS and up, where the rule-based detector before it had
 * none; bench/README.md counts them on the set). */
TEST(noise_is_not_speech)
{
	const double levels[] = {-70, -55, -40, -25, -10};
	struct vad_params p = defaults();
	size_t n = 6 * RATE;
	struct run r;

	for (int band = 0; band < 2; band++) {
		for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]);
		     l++) {
			rng_seed(10 + l);
			acc_clear(n);
			add_noise(0, n, levels[l]);
			if (band)
				telephone_band(acc, n, RATE);
			acc_to_sig(n);
			CHECK_EQ(analyse(&p, RATE, n, &r), 0);
			if (r.starts || r.voiced > 12) {
				print_run(band ? "band noise" : "white noise",
				          &r);
				TEST_FAIL("noise_is_not_speech",
				          "noise at %.0f dBFS taken for speech",
				          levels[l]);
			}
		}
	}
	return 0;
}

/* Silence, then white noise suddenly much louder: still not speech while
 * the floor catches up, since noise has no pitch. */
TEST(noise_burst_is_not_speech)
{
	struct vad_params p = defaults();
	size_t n = 6 * RATE;
	struct run r;

	rng_seed(3);
	acc_clear(n);
	add_noise(0, n, -70);
	add_noise(2 * RATE, 4 * RATE, -20);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("noise burst", &r);
	CHECK_EQ(r.starts, 0);
	return 0;
}

/* Mains hum with its harmonics, 50 Hz (period longer than any voice) and
 * 60 Hz (inside the pitch range: only its steadiness gives it away). */
static void add_hum(size_t from, size_t to, double hz, double db)
{
	double a = dbfs_to_rms(db);

	for (size_t i = from; i < to; i++) {
		double w = 2 * M_PI * hz * (double)i / RATE;

		acc[i] += a * (sin(w) + 0.3 * sin(2 * w) + 0.5 * sin(3 * w) +
		               0.25 * sin(5 * w));
	}
}

TEST(hum_is_not_speech)
{
	struct vad_params p = defaults();
	size_t n = 6 * RATE;
	struct run r;

	for (double hz = 50; hz <= 60; hz += 10) {
		for (double db = -50; db <= -10; db += 20) {
			rng_seed(4);
			acc_clear(n);
			add_noise(0, n, -65);
			add_hum(0, n, hz, db);
			acc_to_sig(n);
			CHECK_EQ(analyse(&p, RATE, n, &r), 0);
			if (r.starts || r.voiced > 2) {
				print_run("hum", &r);
				TEST_FAIL("hum_is_not_speech",
				          "%.0f Hz hum at %.0f dBFS", hz, db);
			}
		}
	}
	return 0;
}

TEST(speech_over_hum)
{
	struct vad_params p = defaults();
	size_t n = 5 * RATE, from = 2 * RATE, to = 4 * RATE;
	struct run r;

	rng_seed(5);
	acc_clear(n);
	add_noise(0, n, -65);
	add_hum(0, n, 60, -35);
	add_speech(from, to, -25, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("speech over hum", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	CHECK(turn_ok(&r, 0, from, to, &p));
	return 0;
}

/* Clicks and crackle every 0.4 s: an ONSET may come, START never. */
TEST(clicks_are_not_speech)
{
	struct vad_params p = defaults();
	size_t n = 6 * RATE;
	struct run r;

	rng_seed(6);
	acc_clear(n);
	add_noise(0, n, -65);
	for (size_t at = RATE / 2; at + 64 < n; at += 2 * RATE / 5) {
		if ((at / (2 * RATE / 5)) % 2) {
			acc[at] += 25000;
			acc[at + 1] -= 12000;
		} else {
			for (size_t i = 0; i < 40; i++)
				acc[at + i] += 8000 * gauss();
		}
	}
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("clicks", &r);
	CHECK_EQ(r.starts, 0);
	CHECK_EQ(r.onsets, r.cancels);
	return 0;
}

/* A cough: a burst of breath noise, sharp attack, 80 ms decay. */
TEST(cough_is_not_speech)
{
	struct vad_params p = defaults();
	size_t n = 4 * RATE, at = RATE, len = 3 * RATE / 10;
	struct run r;
	double a = dbfs_to_rms(-15);

	rng_seed(7);
	acc_clear(n);
	for (size_t i = 0; i < len; i++) {
		double t = (double)i / RATE;
		double env = (t < 0.01 ? t / 0.01 : exp(-(t - 0.01) / 0.08));

		acc[at + i] = a * env * gauss();
	}
	telephone_band(acc, n, RATE);
	add_noise(0, n, -65);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("cough", &r);
	CHECK_EQ(r.starts, 0);
	return 0;
}

/* A DC offset from the first sample, then a step in it: the filter takes
 * both out; speech on top of an offset is found as without it. */
TEST(dc_offset)
{
	struct vad_params p = defaults();
	size_t n = 5 * RATE, from = 2 * RATE, to = 4 * RATE;
	struct run r, clean;

	rng_seed(8);
	acc_clear(n);
	add_noise(0, n, -65);
	for (size_t i = 0; i < n; i++)
		acc[i] += i < 3 * RATE ? 3000 : -6000;
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("dc", &r);
	CHECK_EQ(r.starts, 0);
	CHECK(r.onsets <= 1);

	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(from, to, -30, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &clean), 0);
	for (size_t i = 0; i < n; i++)
		acc[i] += 8000;
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("speech on dc", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	CHECK(labs(r.start_at[0] - clean.start_at[0]) <= 1);
	CHECK(labs(r.stop_at[0] - clean.stop_at[0]) <= 1);
	return 0;
}

TEST(speech_starts_and_stops)
{
	struct vad_params p = defaults();
	size_t n = 5 * RATE, from = RATE, to = 3 * RATE;
	struct run r;

	rng_seed(9);
	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(from, to, -25, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("speech", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	CHECK_EQ(r.cancels, 0);
	CHECK(turn_ok(&r, 0, from, to, &p));
	return 0;
}

/* A pause shorter than stop_secs keeps the turn; a longer one ends it. */
TEST(pauses)
{
	struct vad_params p = defaults();
	size_t n = 6 * RATE, a = RATE, b = 2 * RATE;
	size_t short_gap = 2 * RATE / 10, long_gap = 6 * RATE / 10;
	struct run r;

	rng_seed(11);
	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(a, b, -25, RATE);
	add_speech(b + short_gap, b + short_gap + RATE, -25, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("short pause", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	/* Every PAUSE ends in RESUME or STOP: the gap's, then the end's. */
	CHECK(r.resumes >= 1);
	CHECK_EQ(r.pauses, r.resumes + r.stops);
	CHECK(turn_ok(&r, 0, a, b + short_gap + RATE, &p));

	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(a, b, -25, RATE);
	add_speech(b + long_gap, b + long_gap + RATE, -25, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("long pause", &r);
	CHECK_EQ(r.starts, 2);
	CHECK_EQ(r.stops, 2);
	CHECK_EQ(r.pauses, r.resumes + r.stops);
	CHECK(turn_ok(&r, 0, a, b, &p));
	CHECK(turn_ok(&r, 1, b + long_gap, b + long_gap + RATE, &p));
	return 0;
}

/* A quiet talker at -40 dBFS with the defaults, also through G.711, and
 * G.711's own quantisation of a quiet line is not speech. */
TEST(quiet_speech_and_g711)
{
	struct vad_params p = defaults();
	size_t n = 5 * RATE, from = RATE, to = 3 * RATE;
	struct run r;
	uint8_t code;

	rng_seed(12);
	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(from, to, -40, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("quiet speech", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	CHECK(turn_ok(&r, 0, from, to, &p));

	for (int law = 0; law < 2; law++) {
		acc_to_sig(n);
		for (size_t i = 0; i < n; i++) {
			code = law ? g711_alaw_from_linear(sig[i])
			           : g711_ulaw_from_linear(sig[i]);
			sig[i] = law ? g711_alaw_to_linear(code)
			             : g711_ulaw_to_linear(code);
		}
		CHECK_EQ(analyse(&p, RATE, n, &r), 0);
		print_run(law ? "quiet speech, A-law" : "quiet speech, u-law",
		          &r);
		CHECK_EQ(r.starts, 1);
		CHECK_EQ(r.stops, 1);
		CHECK(turn_ok(&r, 0, from, to, &p));
	}

	acc_clear(n);
	add_noise(0, n, -75);
	acc_to_sig(n);
	for (size_t i = 0; i < n; i++)
		sig[i] = g711_alaw_to_linear(g711_alaw_from_linear(sig[i]));
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	CHECK_EQ(r.onsets, 0);
	for (size_t i = 0; i < n; i++)
		sig[i] = g711_ulaw_to_linear(g711_ulaw_from_linear(sig[i]));
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	CHECK_EQ(r.onsets, 0);
	return 0;
}

/* Speech 15 dB over telephone-band noise. */
TEST(speech_in_noise)
{
	struct vad_params p = defaults();
	size_t n = 6 * RATE, from = 2 * RATE, to = 4 * RATE;
	struct run r;

	rng_seed(13);
	acc_clear(n);
	add_noise(0, n, -40);
	telephone_band(acc, n, RATE);
	add_speech(from, to, -25, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("speech in noise", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	CHECK(turn_ok(&r, 0, from, to, &p));
	return 0;
}

TEST(params_are_honoured)
{
	struct vad_params p = defaults();
	size_t n = 5 * RATE, from = RATE, to = 3 * RATE;
	struct run fast, slow;

	rng_seed(14);
	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(from, to, -40, RATE);
	acc_to_sig(n);

	p.start_secs = 0.1;
	p.stop_secs = 0.2;
	CHECK_EQ(analyse(&p, RATE, n, &fast), 0);
	print_run("start 0.1 s, stop 0.2 s", &fast);
	CHECK(turn_ok(&fast, 0, from, to, &p));
	p.start_secs = 0.4;
	p.stop_secs = 0.6;
	CHECK_EQ(analyse(&p, RATE, n, &slow), 0);
	print_run("start 0.4 s, stop 0.6 s", &slow);
	CHECK(turn_ok(&slow, 0, from, to, &p));
	CHECK_EQ(fast.starts, 1);
	CHECK_EQ(slow.starts, 1);
	CHECK(labs(slow.start_at[0] - fast.start_at[0] - 15) <= 1);
	CHECK(labs(slow.stop_at[0] - fast.stop_at[0] - 20) <= 1);

	/* -40 dBFS speech is under a -30 dBFS loudness floor */
	p = defaults();
	p.min_volume = 0.8;
	CHECK_EQ(analyse(&p, RATE, n, &slow), 0);
	CHECK_EQ(slow.onsets + slow.starts, 0);

	/* with no thresholds every frame is voiced, the line too */
	p.min_volume = 0;
	p.confidence = 0;
	CHECK_EQ(analyse(&p, RATE, n, &slow), 0);
	CHECK_EQ(slow.starts, 1);
	CHECK_EQ(slow.start_at[0], frames(p.start_secs) - 1);
	CHECK_EQ(slow.voiced, n / FRAME);

	/* under one frame, START comes at once and alone */
	p = defaults();
	p.start_secs = 0;
	CHECK_EQ(analyse(&p, RATE, n, &fast), 0);
	CHECK_EQ(fast.onsets, 0);
	CHECK_EQ(fast.starts, 1);
	CHECK(fast.start_at[0] >= FRAME_OF(from) &&
	      fast.start_at[0] <= FRAME_OF(from) + 2);
	return 0;
}

TEST(bad_params)
{
	struct vad_params p;
	struct vad *v = NULL;

	CHECK_EQ(vad_alloc(NULL, NULL, RATE), EINVAL);
	CHECK_EQ(vad_alloc(&v, NULL, 44100), EINVAL);
	CHECK_EQ(vad_alloc(&v, NULL, 0), EINVAL);
	p = defaults();
	p.start_secs = -0.1;
	CHECK_EQ(vad_alloc(&v, &p, RATE), EINVAL);
	p = defaults();
	p.stop_secs = NAN;
	CHECK_EQ(vad_alloc(&v, &p, RATE), EINVAL);
	p = defaults();
	p.stop_secs = 11;
	CHECK_EQ(vad_alloc(&v, &p, RATE), EINVAL);
	p = defaults();
	p.min_volume = 1.5;
	CHECK_EQ(vad_alloc(&v, &p, RATE), EINVAL);
	p = defaults();
	p.confidence = -0.01;
	CHECK_EQ(vad_alloc(&v, &p, RATE), EINVAL);
	CHECK(v == NULL);
	CHECK_EQ(vad_alloc(&v, NULL, 16000), 0);
	mem_deref(v);
	mem_deref(NULL);
	return 0;
}

/* Mid-turn reset: quiet at once, no STOP for the forgotten turn, and the
 * voice still there is a new ONSET and START. Lost or odd-sized frames are
 * unvoiced: a few inside speech keep the turn. */
TEST(reset_and_lost_frames)
{
	struct vad_params p = defaults();
	size_t n = 6 * RATE, from = RATE, to = 4 * RATE;
	long reset_at = FRAME_OF(2 * RATE);
	struct vad *v = NULL;
	struct vad_frame f;
	unsigned starts = 0, stops = 0, onsets = 0;

	rng_seed(15);
	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(from, to, -25, RATE);
	acc_to_sig(n);
	CHECK_EQ(vad_alloc(&v, &p, RATE), 0);
	for (long k = 0; k < (long)(n / FRAME); k++) {
		if (k == reset_at) {
			CHECK(f.speaking);
			vad_restart(v);
		}
		vad_process(v, sig + k * FRAME, FRAME, &f);
		if (k == reset_at) {
			CHECK(f.event == VAD_EVENT_ONSET);
			CHECK(!f.speaking);
		}
		onsets += f.event == VAD_EVENT_ONSET;
		starts += f.event == VAD_EVENT_START;
		stops += f.event == VAD_EVENT_STOP;
		if (f.event == VAD_EVENT_START && k > reset_at)
			CHECK_EQ(k, reset_at + frames(p.start_secs) - 1);
	}
	CHECK_EQ(onsets, 2);
	CHECK_EQ(starts, 2);
	CHECK_EQ(stops, 1);

	/* 100 ms lost, then 40 ms of wrong-sized frames: one turn */
	vad_restart(v);
	starts = stops = 0;
	for (long k = 0; k < (long)(n / FRAME); k++) {
		long in = k - FRAME_OF(2 * RATE);

		if (in >= 0 && in < 5)
			vad_process(v, NULL, 0, &f);
		else if (in >= 5 && in < 7)
			vad_process(v, sig + k * FRAME, FRAME / 2, &f);
		else
			vad_process(v, sig + k * FRAME, FRAME, &f);
		if (in >= 0 && in < 7)
			CHECK(!f.voiced && f.confidence == 0);
		starts += f.event == VAD_EVENT_START;
		stops += f.event == VAD_EVENT_STOP;
	}
	CHECK_EQ(starts, 1);
	CHECK_EQ(stops, 1);

	/* 400 ms lost: the turn ends during the gap */
	vad_restart(v);
	starts = stops = 0;
	for (long k = 0; k < (long)(n / FRAME); k++) {
		long in = k - FRAME_OF(2 * RATE);

		vad_process(v, in >= 0 && in < 20 ? NULL : sig + k * FRAME,
		            FRAME, &f);
		if (f.event == VAD_EVENT_STOP && !stops)
			CHECK_EQ(in, stop_frames(p.stop_secs) - 1);
		starts += f.event == VAD_EVENT_START;
		stops += f.event == VAD_EVENT_STOP;
	}
	CHECK_EQ(starts, 2);
	CHECK_EQ(stops, 2);
	mem_deref(v);

	/* The server's 0.25 s: STOP on the twelfth frame after the voice,
	 * 250 ms after the middle of the last voiced one (and the default
	 * 0.3 s on the fifteenth, above). */
	CHECK_EQ(stop_frames(p.stop_secs), 15);
	CHECK_EQ(vad_stop_frames(0.25), 12);
	CHECK_EQ(vad_stop_frames(0.3), 15);
	CHECK_EQ(vad_stop_frames(0.2), 10);
	CHECK_EQ(vad_stop_frames(0.251), 13);
	CHECK_EQ(vad_stop_frames(0), 1);
	p.stop_secs = 0.25;
	CHECK_EQ(vad_alloc(&v, &p, RATE), 0);
	stops = 0;
	for (long k = 0; k < (long)(n / FRAME); k++) {
		long in = k - FRAME_OF(2 * RATE);

		vad_process(v, in >= 0 && in < 20 ? NULL : sig + k * FRAME,
		            FRAME, &f);
		if (f.event == VAD_EVENT_STOP && !stops)
			CHECK_EQ(in, 11);
		stops += f.event == VAD_EVENT_STOP;
	}
	CHECK_EQ(stops, 2);
	mem_deref(v);
	return 0;
}

TEST(wideband)
{
	struct vad_params p = defaults();
	const uint32_t rate = 16000;
	size_t n = 5 * rate, from = rate, to = 3 * rate;
	struct run r;

	rng_seed(16);
	acc_clear(n);
	add_noise(0, n, -65);
	add_speech(from, to, -30, rate);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, rate, n, &r), 0);
	print_run("16 kHz speech", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.stops, 1);
	/* the same frame numbers as at 8 kHz: a frame is 20 ms at both */
	CHECK(turn_ok(&r, 0, from / 2, to / 2, &p));

	acc_clear(n);
	add_noise(0, n, -30);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, rate, n, &r), 0);
	CHECK_EQ(r.starts, 0);
	return 0;
}

/* Synthesises text with voice into x (at RATE), up to max samples;
 * returns the samples written. */
struct take_buf {
	double *x;
	size_t n, max;
};

static bool take_into(const int16_t *pcm, size_t n, void *arg)
{
	struct take_buf *b = arg;

	for (size_t i = 0; i < n && b->n < b->max; i++)
		b->x[b->n++] = pcm[i];
	return b->n < b->max;
}

static size_t say(const char *voice_name, const char *text, double *x,
                  size_t max)
{
	struct tts_params tp;
	struct tts *t = NULL;
	struct take_buf b = {.x = x, .max = max};

	tts_params_default(&tp);
	tp.voice = voice_name;
	if (!tts_alloc(&t, &tp, NULL))
		(void)tts_synth(t, text, take_into, &b);
	mem_deref(t);
	return b.n;
}

/* A caller 5 dB over the babble of six others: heard within half a
 * second of starting (the turn may already be open: babble is voices),
 * and held for most of what they say. */
TEST(speech_in_babble)
{
	static const char *const voices[] = {"en-us+m3", "en+f2",  "en-us+f4",
	                                     "en+m5",    "en-029", "en-us+m7"};
	static const char *const texts[] = {
	    "The shop on the corner closes at six on a Saturday",
	    "I told him the parcel would come on Tuesday morning",
	    "Can you pass me the menu and a glass of water please",
	    "They said the train was late again because of the snow",
	    "We should book the hotel before the prices go up",
	    "My sister is flying back from Spain next weekend"};
	static double talk[8 * RATE], bab[8 * RATE];
	struct vad_params p = defaults();
	size_t n = 8 * RATE, from = 4 * RATE, to = 6 * RATE;
	double ps = 0, pn = 0;
	struct vad *v = NULL;
	unsigned voiced = 0, speaking = 0, starts = 0;
	long heard = -1;

	for (size_t i = 0; i < n; i++)
		bab[i] = 0;
	for (int k = 0; k < 6; k++) {
		size_t len = say(voices[k], texts[k], talk, n);
		size_t off = (size_t)k * RATE / 3;

		for (size_t i = 0; i < n; i++)
			bab[i] += len ? talk[(i + off) % len] : 0;
	}
	telephone_band(bab, n, RATE);
	acc_clear(n);
	add_speech(from, to, -25, RATE);
	for (size_t i = from; i < to; i++) {
		ps += acc[i] * acc[i];
		pn += bab[i] * bab[i];
	}
	double g = sqrt(ps / pn / pow(10, 0.5));
	for (size_t i = 0; i < n; i++)
		acc[i] += g * bab[i];
	acc_to_sig(n);
	for (size_t i = 0; i < n; i++)
		sig[i] = g711_ulaw_to_linear(g711_ulaw_from_linear(sig[i]));

	CHECK_EQ(vad_alloc(&v, &p, RATE), 0);
	for (long k = 0; k < (long)(n / FRAME); k++) {
		struct vad_frame f;

		vad_process(v, sig + k * FRAME, FRAME, &f);
		if (k >= FRAME_OF(from) && k < FRAME_OF(to)) {
			voiced += f.voiced;
			speaking += f.speaking;
			if (f.speaking && heard < 0)
				heard = k;
		}
		starts += f.event == VAD_EVENT_START;
	}
	mem_deref(v);
	printf("# speech in babble: starts %u, speaking from frame %ld "
	       "(speech from %ld), voiced %u and speaking %u of %ld speech "
	       "frames\n",
	       starts, heard, FRAME_OF(from), voiced, speaking,
	       FRAME_OF(to) - FRAME_OF(from));
	CHECK(heard >= 0 && heard <= FRAME_OF(from) + 25);
	CHECK(voiced * 2 >= FRAME_OF(to) - FRAME_OF(from));
	CHECK(speaking * 4 >= 3 * (FRAME_OF(to) - FRAME_OF(from)));
	return 0;
}

/* DTMF: digits as a caller keys them, and one held down. */
TEST(dtmf_is_not_speech)
{
	static const double lo[] = {697, 770, 852, 941};
	static const double hi[] = {1209, 1336, 1477, 1633};
	struct vad_params p = defaults();
	size_t n = 8 * RATE, at = RATE / 2;
	struct run r;

	rng_seed(18);
	acc_clear(n);
	add_noise(0, n, -65);
	for (int d = 0; d < 16; d++) {
		size_t len = (d == 15 ? 12 : 1) * RATE / 10;
		double a = dbfs_to_rms(-12);

		for (size_t i = 0; i < len && at + i < n; i++) {
			double t = (double)i / RATE;

			acc[at + i] += a * (sin(2 * M_PI * lo[d % 4] * t) +
			                    sin(2 * M_PI * hi[d / 4] * t));
		}
		at += len + RATE / 10;
	}
	acc_to_sig(n);
	for (size_t i = 0; i < n; i++)
		sig[i] = g711_ulaw_to_linear(g711_ulaw_from_linear(sig[i]));
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("dtmf", &r);
	CHECK_EQ(r.starts, 0);
	return 0;
}

/* The agent's own voice coming back 15 dB down after 60 ms, with no caller:
 * through the echo guard, as the bridge runs it, no START. */
TEST(echo_is_not_speech)
{
	static int16_t out[10 * RATE];
	struct vad_params p = defaults();
	size_t n = 10 * RATE, len;
	struct echo_guard *eg = NULL;
	struct vad *v = NULL;
	unsigned starts = 0, voiced = 0;

	acc_clear(n);
	add_speech(RATE / 2, n - RATE / 2, -18, RATE);
	acc_to_sig(n);
	memcpy(out, sig, n * sizeof(out[0]));
	len = n;
	acc_clear(n);
	rng_seed(19);
	add_noise(0, n, -65);
	for (size_t i = 480; i < len; i++)
		acc[i] += out[i - 480] * pow(10, -15 / 20.0);
	telephone_band(acc, n, RATE);
	acc_to_sig(n);

	CHECK_EQ(echo_guard_alloc(&eg), 0);
	CHECK_EQ(vad_alloc(&v, &p, RATE), 0);
	for (size_t k = 0; k < n / FRAME; k++) {
		struct vad_frame f;

		(void)echo_guard_in(eg, sig + k * FRAME);
		vad_process(v, sig + k * FRAME, FRAME, &f);
		echo_guard_out(eg, out + k * FRAME);
		starts += f.event == VAD_EVENT_START;
		voiced += f.voiced;
	}
	mem_deref(v);
	mem_deref(eg);
	printf("# echo: starts %u voiced %u\n", starts, voiced);
	CHECK_EQ(starts, 0);
	return 0;
}

/* A tune played down the line (hold music, a ringtone): notes of five
 * harmonics on a held pitch, 0.15-0.5 s each, stepping by semitones from
 * 180 Hz, in a voice's range, as bench/vadset.c makes them. A voice's
 * pitch never holds still that long; the model started on such tunes until
 * it was told how long a pitch held (vad.c). */
TEST(tune_is_not_speech)
{
	struct vad_params p = defaults();
	size_t n = 10 * RATE, at = RATE / 2;
	struct run r;

	rng_seed(20);
	acc_clear(n);
	add_noise(0, n, -65);
	while (at < n - RATE / 2) {
		size_t len = (size_t)((0.15 + 0.35 * uniform()) * RATE);
		double f0 = 180 * pow(2, floor(uniform() * 12) / 12.0);
		double a = dbfs_to_rms(-18);

		for (size_t i = 0; i < len && at + i < n; i++) {
			double t = (double)i / RATE,
			       env = fmin(1, t / 0.01) *
			             fmin(1, (double)(len - i) / RATE / 0.08);

			for (int h = 1; h <= 5; h++)
				acc[at + i] += a * env * pow(0.5, h - 1) *
				               sin(2 * M_PI * f0 * h * t);
		}
		at += len;
	}
	telephone_band(acc, n, RATE);
	acc_to_sig(n);
	for (size_t i = 0; i < n; i++)
		sig[i] = g711_ulaw_to_linear(g711_ulaw_from_linear(sig[i]));
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("tune", &r);
	CHECK_EQ(r.starts, 0);
	return 0;
}

/* The echo guard withholds the caller's first words when they are no
 * louder than the agent's echo could be (frames of zeros): an onset waits
 * over up to 200 ms of that rather than ending, so START comes start_secs
 * of voice after the onset, the gap aside. Longer silence ends it: two
 * short sounds a second apart on a muted line are not a turn. */
TEST(onset_waits_over_the_guards_silence)
{
	struct vad_params p = defaults();
	size_t n = 5 * RATE, from = RATE, to = 3 * RATE;
	size_t gap0 = from + 5 * FRAME, gap1 = gap0 + 9 * FRAME;
	struct run r;

	rng_seed(22);
	acc_clear(n);
	add_noise(0, n, -60);
	add_speech(from, to, -26, RATE);
	for (size_t i = gap0; i < gap1; i++)
		acc[i] = 0;
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("onset over 180 ms of silence", &r);
	CHECK_EQ(r.starts, 1);
	CHECK_EQ(r.cancels, 0);
	CHECK(r.start_at[0] <=
	      FRAME_OF(from) + (long)frames(p.start_secs) + 9 + 2);

	acc_clear(n);
	add_speech(from, from + 6 * FRAME, -26, RATE);
	add_speech(2 * RATE, 2 * RATE + 6 * FRAME, -26, RATE);
	acc_to_sig(n);
	CHECK_EQ(analyse(&p, RATE, n, &r), 0);
	print_run("two sounds a second apart, muted line", &r);
	CHECK_EQ(r.starts, 0);
	return 0;
}

/* The cost of one frame, over speech and line noise; a note, not a test
 * (sanitizer builds are several times slower than the release build). */
static void measure_cost(void)
{
	size_t n = 10 * RATE;
	struct vad *v = NULL;
	struct vad_frame f;
	struct timespec t0, t1;
	unsigned voiced = 0;

	rng_seed(17);
	acc_clear(n);
	add_noise(0, n, -60);
	add_speech(2 * RATE, 8 * RATE, -30, RATE);
	acc_to_sig(n);
	if (vad_alloc(&v, NULL, RATE))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int rep = 0; rep < 10; rep++)
		for (size_t i = 0; i + FRAME <= n; i += FRAME) {
			vad_process(v, sig + i, FRAME, &f);
			voiced += f.voiced;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mem_deref(v);
	printf("# vad_process: %.0f ns per 20 ms frame (%u voiced)\n",
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
	           (10.0 * (n / FRAME)),
	       voiced);
}

int main(void)
{
	RUN(silence_is_quiet);
	RUN(noise_is_not_speech);
	RUN(noise_burst_is_not_speech);
	RUN(hum_is_not_speech);
	RUN(speech_over_hum);
	RUN(clicks_are_not_speech);
	RUN(cough_is_not_speech);
	RUN(dc_offset);
	RUN(speech_starts_and_stops);
	RUN(pauses);
	RUN(quiet_speech_and_g711);
	RUN(speech_in_noise);
	RUN(params_are_honoured);
	RUN(bad_params);
	RUN(reset_and_lost_frames);
	RUN(wideband);
	RUN(speech_in_babble);
	RUN(dtmf_is_not_speech);
	RUN(echo_is_not_speech);
	RUN(tune_is_not_speech);
	RUN(onset_waits_over_the_guards_silence);
	measure_cost();
	free(voice[0]);
	free(voice[1]);
	return test_failures ? 1 : 0;
}
