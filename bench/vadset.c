/*
 * vadset OUTDIR: writes the labelled 8 kHz set the VAD benchmark
 * (bench/vad_bench.sh) measures on. Everything is made here from fixed
 * seeds, so the same binary writes the same files; see bench/README.md
 * ("VAD") for what the set holds and how it is labelled.
 *
 * Caller speech: espeak-ng voices and variants at several rates and
 * pitches, and flite, each clip one talker saying sentences separated by
 * 0.7-3 s pauses, at -32..-20 dBFS active level, every other talker on a
 * PSTN line (300-3400 Hz) and the rest on a VoIP one (100-3800 Hz), every
 * third line with mains hum (-50..-35 dBFS). It is heard in six
 * conditions: clean (line hiss only) and in street, car, cafe, babble and
 * steady (hiss: white or pink) noise at 20, 10 and 5 dB SNR. The SNR is
 * measured in the line's band over the speech frames (speech power over
 * the frames the labels mark, noise power over the same frames); the mix
 * ends with a G.711 mu-law round trip.
 *
 * Labels: one character per 10 ms frame, '1' speech. From the clean
 * band-limited speech of each utterance: a frame is speech when its energy
 * is within 35 dB of the loudest frame of the utterance; gaps of up to
 * 150 ms between speech frames of one utterance are filled (stop closures,
 * word joins); runs shorter than 30 ms are dropped.
 *
 * Non-speech clips (all frames '0'): coughs and breaths (shaped noise
 * bursts, a cough with a short glottal buzz), knocks and clicks, DTMF
 * digit strings, music-like tones (harmonic notes, chords), and line
 * impairments: stretches of white, pink, brown or band noise at -60..-10
 * dBFS that start and stop at once, hum, DC steps; one clip in four on a
 * digital line with no hiss at all.
 *
 * Echo-only clips: the agent's own speech as it comes back on the line
 * (delayed 20-200 ms, 10-30 dB down, band-limited and smeared by a short
 * dispersive path), with no caller speech; the agent's audio as sent is
 * written beside it (the echo guard's reference).
 *
 * Splits: train, dev and test use different voices, sentences and seeds.
 * Only train and dev may be used to tune or train anything.
 *
 * OUTDIR/manifest.tsv lists every clip: split, name, kind (speech,
 * nonspeech, echo), noise (clean, street, car, cafe, babble, hiss, -),
 * snr (dB, or -), the wav, its labels, the reference wav (or -).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <re.h>

#include "core/g711.h"
#include "media/wav.h"
#include "speech/tts.h"

#define RATE   8000
#define LABHOP 80 /* 10 ms */

/* ---- randomness: xorshift64*, one stream per purpose ---- */

struct rng {
	uint64_t s;
};

static void rng_seed(struct rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
	if (!r->s)
		r->s = 1;
}

static double uni(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (double)((r->s * 0x2545F4914F6CDD1Dull) >> 11) /
	       9007199254740992.0;
}

static double range(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * uni(r);
}

static unsigned pick(struct rng *r, unsigned n)
{
	unsigned k = (unsigned)(uni(r) * n);

	return k >= n ? n - 1 : k;
}

static double gauss(struct rng *r)
{
	double u = uni(r) + 1e-300, w = uni(r);

	return sqrt(-2 * log(u)) * cos(2 * M_PI * w);
}

/* ---- filters ---- */

struct biquad {
	double b0, b1, b2, a1, a2, z1, z2;
};

/* RBJ cookbook: 'h' high-pass, 'l' low-pass, 'b' band-pass (0 dB peak). */
static struct biquad biquad(char type, double hz, double q)
{
	double w = 2 * M_PI * hz / RATE, al = sin(w) / (2 * q), c = cos(w);
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

static double bq(struct biquad *f, double x)
{
	double y = f->b0 * x + f->z1;

	f->z1 = f->b1 * x - f->a1 * y + f->z2;
	f->z2 = f->b2 * x - f->a2 * y;
	return y;
}

static void filter(double *x, size_t n, char type, double hz, double q)
{
	struct biquad f = biquad(type, hz, q);

	for (size_t i = 0; i < n; i++)
		x[i] = bq(&f, x[i]);
}

/* The telephone band: 4th-order Butterworth high-pass at 300 Hz, 4th-order
 * low-pass at 3400 Hz. */
static void telephone_band(double *x, size_t n)
{
	filter(x, n, 'h', 300, 0.5412);
	filter(x, n, 'h', 300, 1.3066);
	filter(x, n, 'l', 3400, 0.5412);
	filter(x, n, 'l', 3400, 1.3066);
}

/* A VoIP line's band: G.711 end to end carries what the phone's codec
 * passes, 100-3800 Hz, voices' low nasals and fundamentals included. */
static void voip_band(double *x, size_t n)
{
	filter(x, n, 'h', 100, 0.5412);
	filter(x, n, 'h', 100, 1.3066);
	filter(x, n, 'l', 3800, 0.5412);
	filter(x, n, 'l', 3800, 1.3066);
}

static void line_band(double *x, size_t n, bool voip)
{
	if (voip)
		voip_band(x, n);
	else
		telephone_band(x, n);
}

static double power(const double *x, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += x[i] * x[i];
	return n ? s / n : 0;
}

static double db_to_amp(double db)
{
	return 32768.0 * pow(10, db / 20);
}

/* ---- buffers ---- */

struct buf {
	double *x;
	size_t n, cap;
};

static void buf_need(struct buf *b, size_t n)
{
	if (n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 8000;
	while (cap < n)
		cap *= 2;
	double *x = realloc(b->x, cap * sizeof(*x));
	if (!x) {
		fprintf(stderr, "vadset: out of memory\n");
		exit(1);
	}
	memset(x + b->cap, 0, (cap - b->cap) * sizeof(*x));
	b->x = x;
	b->cap = cap;
}

static double *zeros(size_t n)
{
	double *x = calloc(n ? n : 1, sizeof(*x));

	if (!x) {
		fprintf(stderr, "vadset: out of memory\n");
		exit(1);
	}
	return x;
}

/* ---- speech ---- */

struct voice {
	const char *provider, *name;
};

static bool take(const int16_t *pcm, size_t n, void *arg)
{
	struct buf *b = arg;

	buf_need(b, b->n + n);
	for (size_t i = 0; i < n; i++)
		b->x[b->n + i] = pcm[i];
	b->n += n;
	return true;
}

/* Synthesises text into b (replacing it) with its trailing silence
 * trimmed; exits on failure, as the set would be incomplete. */
static void say(struct buf *b, const struct voice *v, unsigned wpm,
                unsigned pitch, const char *text)
{
	struct tts_params p;
	struct tts *t = NULL;
	const char *why = NULL;
	int err;

	tts_params_default(&p);
	p.provider = v->provider;
	p.voice = v->name;
	p.rate_wpm = wpm;
	p.pitch = pitch;
	p.out_rate = RATE;
	b->n = 0;
	err = tts_alloc(&t, &p, &why);
	if (!err)
		err = tts_synth(t, text, take, b);
	mem_deref(t);
	if (err) {
		fprintf(stderr, "vadset: %s %s: %s\n", v->provider, v->name,
		        why ? why : strerror(err));
		exit(1);
	}
	while (b->n > 0 && fabs(b->x[b->n - 1]) < 8)
		b->n--;
}

/* ---- what the splits hold ---- */

static const char *const sentences[] = {
    /* train: 0-39 */
    "I would like to book a table for four people on Friday evening",
    "Can you tell me when the next train to the airport leaves",
    "My account number is seven three one nine four two",
    "The package was supposed to arrive yesterday but it never came",
    "Please transfer me to someone in the billing department",
    "I have been waiting on hold for almost twenty minutes now",
    "Could you repeat the address one more time please",
    "We need a plumber to come out this afternoon if possible",
    "The internet keeps dropping every evening around eight",
    "Yes that is correct my date of birth is the fourth of June",
    "I am calling about the appointment I made last week",
    "Is there any parking near the main entrance of the hospital",
    "Can I change my flight to an earlier one on Monday",
    "The heating in the upstairs bathroom does not work at all",
    "I think there is a mistake on my latest electricity bill",
    "Would it be possible to pay the rest next month instead",
    "Our order number starts with the letters K and T",
    "Sorry I did not quite catch that could you say it again",
    "The doctor asked me to call back with my test results",
    "How much would it cost to upgrade to the bigger plan",
    "I lost my card this morning and I need to block it",
    "We are having a small party and need catering for thirty",
    "What time does the pharmacy close on Sundays",
    "The car makes a strange noise when I turn left",
    "My daughter will pick up the prescription tomorrow",
    "Is breakfast included in the price of the room",
    "I would rather speak to a real person about this",
    "The form asks for a reference that I do not have",
    "Could you send the confirmation to my email address",
    "There was water coming through the kitchen ceiling",
    "I need to cancel my subscription before it renews",
    "Can you check whether my refund has been processed",
    "We moved house last month and want to update the address",
    "The delivery driver left the parcel with a neighbour",
    "Do you have anything available a bit later in the day",
    "I am not sure which option applies to my situation",
    "My password reset link has expired twice already",
    "Please add a note that the gate code is five five two",
    "How long will the repair take once you have the part",
    "Thank you that is everything I needed for today",
    /* dev: 40-51 */
    "The meeting has been moved to half past three on Thursday",
    "I want to report a street light that is not working",
    "Could you check if the shop has the blue one in stock",
    "My neighbour gave me this number and said you could help",
    "We were charged twice for the same order last week",
    "Is it too late to change the delivery address",
    "The printer in the office has stopped connecting again",
    "I will be travelling abroad and need roaming turned on",
    "Can somebody call me back after six this evening",
    "The voucher code does not seem to work on the website",
    "I am calling to confirm the booking for Saturday",
    "How many days does it usually take to get a new card",
    /* test: 52-75 */
    "Good morning I am ringing about the flat on Mill Road",
    "The boiler pressure keeps dropping below one bar",
    "Could you tell me if my claim has been approved yet",
    "I booked a taxi for seven but nobody has turned up",
    "We would like two tickets for the matinee on Sunday",
    "My mother has a hospital appointment she cannot attend",
    "The washing machine stops halfway through every cycle",
    "Please make sure the driver rings the bell when he arrives",
    "Is there a discount for students or pensioners",
    "I have a question about the interest on my savings account",
    "The line was very bad when I called earlier today",
    "Can I bring my dog into the restaurant garden",
    "Our broadband has been slow since the engineer visited",
    "I need a copy of the invoice for my tax return",
    "Could you hold the room until about ten tonight",
    "My son broke his glasses and needs new ones quickly",
    "What documents should I bring to the interview",
    "The lift in our building has been out of order for days",
    "I ordered the large size but received a small one",
    "Does the bus stop outside the museum or further along",
    "We would like to arrange a viewing for next Tuesday",
    "My phone screen cracked and I want to claim on insurance",
    "Can you read back the postcode you have on file",
    "That sounds fine please go ahead and book it",
};

struct split {
	const char *name;
	uint64_t seed;
	unsigned first_sentence, sentences;
	const struct voice *voices;
	unsigned nvoices;
	unsigned clips_per_voice;
	const struct voice *agent; /* the voice heard as echo */
	unsigned nonspeech_clips, echo_clips;
};

static const struct voice train_voices[] = {
    {"espeak-ng", "en-us+m1"},      {"espeak-ng", "en+f1"},
    {"espeak-ng", "en-us+m2"},      {"espeak-ng", "en-gb-scotland+f2"},
    {"espeak-ng", "en-us+m4"},      {"espeak-ng", "en-029+f4"},
    {"espeak-ng", "en-gb-x-rp+m6"}, {"espeak-ng", "en-us+klatt2"},
};
static const struct voice dev_voices[] = {
    {"espeak-ng", "en-us+m5"},
    {"espeak-ng", "en-gb-x-gbcwmd+f5"},
    {"flite", "kal"},
};
static const struct voice test_voices[] = {
    {"espeak-ng", "en-us+m3"},      {"espeak-ng", "en+f3"},
    {"espeak-ng", "en-us-nyc+m7"},  {"espeak-ng", "en-gb-x-gbclan+m8"},
    {"espeak-ng", "en-029+klatt4"}, {"flite", "kal"},
};
static const struct voice train_agent = {"espeak-ng", "en+m2"};
static const struct voice dev_agent = {"espeak-ng", "en-us+f1"};
static const struct voice test_agent = {"espeak-ng", "en-us"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct split splits[] = {
    {"train", 1000, 0, 40, train_voices, N(train_voices), 4, &train_agent, 120,
     8},
    {"dev", 2000, 40, 12, dev_voices, N(dev_voices), 2, &dev_agent, 24, 3},
    {"test", 3000, 52, 24, test_voices, N(test_voices), 2, &test_agent, 14, 6},
};

static const struct voice *pick_voice(struct rng *r, const struct split *s)
{
	return &s->voices[pick(r, s->nvoices)];
}

static const char *pick_sentence(struct rng *r, const struct split *s)
{
	return sentences[s->first_sentence + pick(r, s->sentences)];
}

/* A voice's rate and pitch for one clip. */
static void voice_style(struct rng *r, const struct voice *v, unsigned *wpm,
                        unsigned *pitch)
{
	bool flite = !strcmp(v->provider, "flite");

	*wpm = (unsigned)range(r, 135, 215);
	*pitch = flite ? 50 : (unsigned)range(r, 30, 72);
}

/* ---- talker streams for babble and cafe ---- */

#define BABBLE_STREAMS 10
#define BABBLE_SECS    40

static struct buf babble[BABBLE_STREAMS];

/* Continuous speech from the split's voices and sentences, each stream
 * normalised to unit power. */
static void make_babble(const struct split *s)
{
	struct rng r;
	struct buf u = {0};

	rng_seed(&r, s->seed + 77);
	for (unsigned k = 0; k < BABBLE_STREAMS; k++) {
		struct buf *b = &babble[k];
		const struct voice *v = pick_voice(&r, s);
		unsigned wpm, pitch;

		voice_style(&r, v, &wpm, &pitch);
		b->n = 0;
		while (b->n < (size_t)BABBLE_SECS * RATE) {
			size_t gap = (size_t)(range(&r, 0.05, 0.4) * RATE);

			say(&u, v, wpm, pitch, pick_sentence(&r, s));
			buf_need(b, b->n + u.n + gap);
			memcpy(b->x + b->n, u.x, u.n * sizeof(*u.x));
			memset(b->x + b->n + u.n, 0, gap * sizeof(*u.x));
			b->n += u.n + gap;
		}
		double p = power(b->x, b->n);
		for (size_t i = 0; i < b->n; i++)
			b->x[i] /= sqrt(p + 1e-9);
	}
	free(u.x);
}

/* Adds a babble stream from a random offset, at amp, through a low-pass
 * (distance) and a little reverberation (room). */
static void add_talker(struct rng *r, double *x, size_t n, double amp,
                       double lp_hz)
{
	const struct buf *b = &babble[pick(r, BABBLE_STREAMS)];
	size_t off = pick(r, (unsigned)b->n);
	struct biquad f = biquad('l', lp_hz, M_SQRT1_2);
	double *y = zeros(n);
	size_t d1 = (size_t)range(r, 80, 240), d2 = (size_t)range(r, 250, 500);

	for (size_t i = 0; i < n; i++)
		y[i] = bq(&f, b->x[(off + i) % b->n]) * amp;
	for (size_t i = 0; i < n; i++)
		x[i] += y[i] + (i >= d1 ? 0.35 * y[i - d1] : 0) +
		        (i >= d2 ? 0.2 * y[i - d2] : 0);
	free(y);
}

/* ---- noises, each of unit-ish scale; the mix sets the level ---- */

static void brown(struct rng *r, double *x, size_t n, double amp)
{
	double s = 0;

	for (size_t i = 0; i < n; i++) {
		s = 0.995 * s + 0.1 * gauss(r);
		x[i] += amp * s;
	}
}

static void pink(struct rng *r, double *x, size_t n, double amp)
{
	/* Paul Kellet's economy filter */
	double b0 = 0, b1 = 0, b2 = 0;

	for (size_t i = 0; i < n; i++) {
		double w = gauss(r);

		b0 = 0.99765 * b0 + w * 0.0990460;
		b1 = 0.96300 * b1 + w * 0.2965164;
		b2 = 0.57000 * b2 + w * 1.0526913;
		x[i] += amp * (b0 + b1 + b2 + w * 0.1848) * 0.25;
	}
}

/* A harmonic tone from `from` for len samples: f0, nh harmonics falling
 * by tilt per harmonic, with an attack/release envelope. */
static void tone(double *x, size_t n, size_t from, size_t len, double f0,
                 unsigned nh, double tilt, double amp, double attack,
                 double release)
{
	for (size_t i = 0; i < len && from + i < n; i++) {
		double t = (double)i / RATE, env = 1, s = 0, a = 1;

		if (t < attack)
			env = t / attack;
		if ((double)(len - i) / RATE < release)
			env *= (double)(len - i) / RATE / release;
		for (unsigned h = 1; h <= nh && f0 * h < 3800; h++, a *= tilt)
			s += a * sin(2 * M_PI * f0 * h * t);
		x[from + i] += amp * env * s;
	}
}

static void street(struct rng *r, double *x, size_t n)
{
	double *y = zeros(n);

	/* traffic rumble, slowly swelling */
	brown(r, y, n, 1.0);
	filter(y, n, 'l', 400, M_SQRT1_2);
	double ph = range(r, 0, 6.28), fm = range(r, 0.05, 0.15);
	for (size_t i = 0; i < n; i++)
		x[i] += y[i] * (1 + 0.4 * sin(ph + 2 * M_PI * fm * i / RATE));
	/* vehicles passing: broadband swell with an engine tone sliding
	 * down as it goes by */
	for (double t = range(r, 0, 3); t < (double)n / RATE;
	     t += range(r, 2, 6)) {
		size_t from = (size_t)(t * RATE),
		       len = (size_t)(range(r, 2, 5) * RATE);
		double f0 = range(r, 70, 140), amp = range(r, 0.5, 1.5);
		double *v = zeros(len);

		pink(r, v, len, 1.0);
		filter(v, len, 'b', range(r, 300, 900), 0.7);
		for (size_t i = 0; i < len; i++) {
			double u = (double)i / len,
			       env = sin(M_PI * u) * sin(M_PI * u);
			double f = f0 * (1.04 - 0.08 * u);

			v[i] = v[i] * 2.5 + 0.3 * sin(2 * M_PI * f * i / RATE) +
			       0.15 * sin(4 * M_PI * f * i / RATE);
			if (from + i < n)
				x[from + i] += amp * env * v[i] * 0.3;
		}
		free(v);
	}
	/* now and then a horn */
	for (double t = range(r, 2, 10); t < (double)n / RATE;
	     t += range(r, 6, 15)) {
		size_t len = (size_t)(range(r, 0.25, 0.8) * RATE);
		double f = range(r, 350, 500), amp = range(r, 0.3, 0.8);

		tone(x, n, (size_t)(t * RATE), len, f, 8, 0.7, amp, 0.01, 0.02);
		tone(x, n, (size_t)(t * RATE), len, f * 1.26, 8, 0.7, amp, 0.01,
		     0.02);
	}
	free(y);
}

static void car(struct rng *r, double *x, size_t n)
{
	/* engine: firing frequency 25-50 Hz wandering slowly, many
	 * harmonics */
	double f0 = range(r, 25, 50), ph = 0, drift = 0;
	double amps[40];

	for (unsigned h = 0; h < 40; h++)
		amps[h] = pow(h + 1, -0.9) * range(r, 0.5, 1.5);
	for (size_t i = 0; i < n; i++) {
		double s = 0;

		if (i % 400 == 0)
			drift = 0.98 * drift + 0.02 * range(r, -1, 1);
		ph += 2 * M_PI * f0 * (1 + 0.1 * drift) / RATE;
		for (unsigned h = 0; h < 40; h++)
			s += amps[h] * sin((h + 1) * ph);
		x[i] += 0.15 * s;
	}
	/* road and wind */
	double *y = zeros(n);
	brown(r, y, n, 1.2);
	pink(r, y, n, 0.6);
	filter(y, n, 'l', 600, M_SQRT1_2);
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
	free(y);
}

static void cafe(struct rng *r, double *x, size_t n)
{
	unsigned talkers = 3 + pick(r, 3);

	for (unsigned k = 0; k < talkers; k++)
		add_talker(r, x, n, pow(10, range(r, -12, 0) / 20),
		           range(r, 1500, 3400));
	/* cups and cutlery */
	for (double t = range(r, 0, 1); t < (double)n / RATE;
	     t += range(r, 0.3, 2.5)) {
		size_t from = (size_t)(t * RATE), len = (size_t)(0.15 * RATE);
		double amp = range(r, 0.2, 1.0), dec = range(r, 20, 80);
		double f[3] = {range(r, 1800, 3300), range(r, 1800, 3300),
		               range(r, 1800, 3300)};

		for (size_t i = 0; i < len && from + i < n; i++) {
			double tt = (double)i / RATE;
			double e = exp(-tt * dec);

			for (int j = 0; j < 3; j++)
				x[from + i] +=
				    amp * e * sin(2 * M_PI * f[j] * tt);
		}
	}
	pink(r, x, n, 0.15);
}

static void babble_noise(struct rng *r, double *x, size_t n)
{
	unsigned talkers = 6 + pick(r, 3);

	for (unsigned k = 0; k < talkers; k++)
		add_talker(r, x, n, pow(10, range(r, -3, 0) / 20),
		           range(r, 2500, 3400));
}

/* Steady line or room noise: white or pink, drifting by a dB or two. */
static void hiss(struct rng *r, double *x, size_t n)
{
	double ph = range(r, 0, 6.28), fm = range(r, 0.03, 0.1);

	if (uni(r) < 0.5)
		for (size_t i = 0; i < n; i++)
			x[i] += gauss(r);
	else
		pink(r, x, n, 3.0);
	for (size_t i = 0; i < n; i++)
		x[i] *= 1 + 0.2 * sin(ph + 2 * M_PI * fm * i / RATE);
}

/* Line hiss of every clip: -66 dBFS in the band before mu-law. */
static void line_hiss(struct rng *r, double *x, size_t n)
{
	double *y = zeros(n);

	for (size_t i = 0; i < n; i++)
		y[i] = gauss(r);
	telephone_band(y, n);
	double k = db_to_amp(-66) / sqrt(power(y, n) + 1e-12);
	for (size_t i = 0; i < n; i++)
		x[i] += k * y[i];
	free(y);
}

/* ---- output ---- */

static const char *outdir;
static FILE *manifest;

static void write_clip(const char *split, const char *name, const char *kind,
                       const char *noise, const char *snr, const double *x,
                       size_t n, const char *lab, const double *ref)
{
	char wav[512], labp[512], refp[512];
	int16_t *pcm = malloc(n * sizeof(*pcm));
	int err;

	if (!pcm)
		exit(1);
	snprintf(wav, sizeof(wav), "%s/%s/%s.wav", outdir, split, name);
	snprintf(labp, sizeof(labp), "%s/%s/%s.lab", outdir, split, name);
	snprintf(refp, sizeof(refp), "%s/%s/%s.ref.wav", outdir, split, name);
	/* the telephone channel's codec: a mu-law round trip */
	for (size_t i = 0; i < n; i++) {
		double v = round(x[i]);
		int16_t s = (int16_t)(v > 32767    ? 32767
		                      : v < -32768 ? -32768
		                                   : v);

		pcm[i] = g711_ulaw_to_linear(g711_ulaw_from_linear(s));
	}
	err = wav_save(wav, pcm, n, RATE);
	if (!err && ref) {
		for (size_t i = 0; i < n; i++) {
			double v = round(ref[i]);
			int16_t s = (int16_t)(v > 32767    ? 32767
			                      : v < -32768 ? -32768
			                                   : v);
			pcm[i] = g711_ulaw_to_linear(g711_ulaw_from_linear(s));
		}
		err = wav_save(refp, pcm, n, RATE);
	}
	free(pcm);
	FILE *f = fopen(labp, "w");
	if (err || !f || fputs(lab, f) < 0 || fputc('\n', f) < 0 || fclose(f)) {
		fprintf(stderr, "vadset: cannot write %s\n", wav);
		exit(1);
	}
	fprintf(manifest, "%s\t%s\t%s\t%s\t%s\t%s/%s.wav\t%s/%s.lab\t", split,
	        name, kind, noise, snr, split, name, split, name);
	if (ref)
		fprintf(manifest, "%s/%s.ref.wav\n", split, name);
	else
		fprintf(manifest, "-\n");
}

/* ---- the clips ---- */

#define CLIP_SECS 20

/* Mains hum on the line (after the band filter, as a ground loop adds
 * it): 50 or 60 Hz with odd and even harmonics. */
static void add_hum(struct rng *r, double *x, size_t n, size_t from, size_t len,
                    double db)
{
	double hz = uni(r) < 0.5 ? 50 : 60, a = db_to_amp(db);
	double h[6];

	for (int k = 0; k < 6; k++)
		h[k] = k ? range(r, 0, 0.6) : 1;
	for (size_t i = 0; i < len && from + i < n; i++) {
		double w = 2 * M_PI * hz * (double)i / RATE, s = 0;

		for (int k = 0; k < 6; k++)
			s += h[k] * sin((k + 1) * w);
		x[from + i] += a * s * 0.6;
	}
}

/* A line impairment at t (s), after the band filter: a stretch of steady
 * noise starting and stopping at once (white, pink, brown or in the
 * band), hum, or a DC step. Returns its length in seconds. */
static double line_event(struct rng *r, double *y, size_t n, double t)
{
	size_t from = (size_t)(t * RATE), len = (size_t)(range(r, 1, 4) * RATE);
	double db = range(r, -60, -10);
	unsigned kind = pick(r, 6);
	double *z;

	if (from >= n)
		return 0;
	if (from + len > n)
		len = n - from;
	if (kind == 4) {
		add_hum(r, y, n, from, len, range(r, -50, -10));
		return (double)len / RATE;
	}
	if (kind == 5) {
		double dc = range(r, -8000, 8000);

		for (size_t i = from; i < n; i++)
			y[i] += dc;
		return 0.5;
	}
	z = zeros(len);
	if (kind == 0)
		for (size_t i = 0; i < len; i++)
			z[i] = gauss(r);
	else if (kind == 1)
		pink(r, z, len, 1);
	else if (kind == 2)
		brown(r, z, len, 1);
	else {
		for (size_t i = 0; i < len; i++)
			z[i] = gauss(r);
		telephone_band(z, len);
	}
	double k = db_to_amp(db) / sqrt(power(z, len) + 1e-12);
	for (size_t i = 0; i < len; i++)
		y[from + i] += k * z[i];
	free(z);
	return (double)len / RATE;
}

/* Labels one utterance (samples [from, from + len) of the clean,
 * band-limited speech) into lab (one char per 10 ms). */
static void label(const double *s, size_t from, size_t len, char *lab)
{
	size_t f0 = from / LABHOP, f1 = (from + len + LABHOP - 1) / LABHOP;
	double peak = -200;
	double *db = zeros(f1 - f0);

	for (size_t f = f0; f < f1; f++) {
		db[f - f0] = 10 * log10(power(s + f * LABHOP, LABHOP) + 1e-9);
		if (db[f - f0] > peak)
			peak = db[f - f0];
	}
	for (size_t f = f0; f < f1; f++)
		lab[f] = db[f - f0] >= peak - 35 ? '1' : '0';
	/* fill gaps up to 150 ms between speech frames */
	long last = -1;
	for (size_t f = f0; f < f1; f++) {
		if (lab[f] != '1')
			continue;
		if (last >= 0 && (long)f - last - 1 <= 15)
			for (long g = last + 1; g < (long)f; g++)
				lab[g] = '1';
		last = (long)f;
	}
	/* drop runs under 30 ms */
	for (size_t f = f0; f < f1;) {
		size_t e = f;

		if (lab[f] != '1') {
			f++;
			continue;
		}
		while (e < f1 && lab[e] == '1')
			e++;
		if (e - f < 3)
			memset(lab + f, '0', e - f);
		f = e;
	}
	free(db);
}

static void speech_clips(const struct split *s)
{
	static const char *const kinds[] = {"street", "car", "cafe", "babble",
	                                    "hiss"};
	static const int snrs[] = {20, 10, 5};
	struct buf u = {0};
	size_t n = (size_t)CLIP_SECS * RATE, nlab = n / LABHOP;
	char *lab = malloc(nlab + 1);
	double *sp = zeros(n), *mix = zeros(n), *noise = zeros(n);
	unsigned idx = 0;

	for (unsigned vi = 0; vi < s->nvoices; vi++)
		for (unsigned c = 0; c < s->clips_per_voice; c++, idx++) {
			struct rng r;
			const struct voice *v = &s->voices[vi];
			unsigned wpm, pitch;
			double t, level;
			char name[64];
			/* every other talker is on a VoIP line, the rest on the
			 * narrower PSTN band */
			bool voip = idx % 2;

			rng_seed(&r, s->seed + 100 * idx + 1);
			voice_style(&r, v, &wpm, &pitch);
			level = range(&r, -32, -20);
			memset(sp, 0, n * sizeof(*sp));
			memset(lab, '0', nlab);
			lab[nlab] = 0;
			/* utterances with pauses, the first after 1-2 s */
			t = range(&r, 1.0, 2.0);
			for (;;) {
				size_t from = (size_t)(t * RATE);

				say(&u, v, wpm, pitch, pick_sentence(&r, s));
				if (from + u.n + RATE > n)
					break;
				line_band(u.x, u.n, voip);
				double k = db_to_amp(level) /
				           sqrt(power(u.x, u.n) + 1e-9);
				for (size_t i = 0; i < u.n; i++)
					sp[from + i] = u.x[i] * k;
				label(sp, from, u.n, lab);
				t += (double)u.n / RATE + range(&r, 0.7, 3.0);
			}
			/* the speech power over its labelled frames */
			double ps = 0;
			size_t nf = 0;
			for (size_t f = 0; f < nlab; f++)
				if (lab[f] == '1') {
					ps += power(sp + f * LABHOP, LABHOP);
					nf++;
				}
			ps /= nf ? nf : 1;

			/* every third talker's line hums */
			double hum_db = range(&r, -50, -35);
			double *hum = zeros(n);
			if (idx % 3 == 2)
				add_hum(&r, hum, n, 0, n, hum_db);

			snprintf(name, sizeof(name), "s%02u_clean", idx);
			for (size_t i = 0; i < n; i++)
				mix[i] = sp[i] + hum[i];
			line_hiss(&r, mix, n);
			write_clip(s->name, name, "speech", "clean", "-", mix,
			           n, lab, NULL);
			for (unsigned ki = 0; ki < N(kinds); ki++) {
				struct rng nr;

				rng_seed(&nr, s->seed + 100 * idx + 10 + ki);
				memset(noise, 0, n * sizeof(*noise));
				switch (ki) {
				case 0:
					street(&nr, noise, n);
					break;
				case 1:
					car(&nr, noise, n);
					break;
				case 2:
					cafe(&nr, noise, n);
					break;
				case 3:
					babble_noise(&nr, noise, n);
					break;
				default:
					hiss(&nr, noise, n);
				}
				line_band(noise, n, voip);
				double pn = 0;
				for (size_t f = 0; f < nlab; f++)
					if (lab[f] == '1')
						pn += power(noise + f * LABHOP,
						            LABHOP);
				pn /= nf ? nf : 1;
				for (unsigned si = 0; si < N(snrs); si++) {
					double g =
					    sqrt(ps / (pn + 1e-12) /
					         pow(10, snrs[si] / 10.0));
					char snr[8];

					for (size_t i = 0; i < n; i++)
						mix[i] = sp[i] + g * noise[i] +
						         hum[i];
					line_hiss(&nr, mix, n);
					snprintf(name, sizeof(name),
					         "s%02u_%s%d", idx, kinds[ki],
					         snrs[si]);
					snprintf(snr, sizeof(snr), "%d",
					         snrs[si]);
					write_clip(s->name, name, "speech",
					           kinds[ki], snr, mix, n, lab,
					           NULL);
				}
			}
			free(hum);
		}
	free(u.x);
	free(lab);
	free(sp);
	free(mix);
	free(noise);
}

/* One non-speech event at t (s); returns its length in seconds. */
static double nonspeech_event(struct rng *r, double *x, size_t n, double t,
                              unsigned kind)
{
	size_t from = (size_t)(t * RATE);

	switch (kind) {
	case 0: { /* a cough: 1-3 bursts, each a short buzz then a shaped
	             noise burst */
		unsigned bursts = 1 + pick(r, 3);
		double at = 0, amp = db_to_amp(range(r, -26, -14));

		for (unsigned b = 0; b < bursts; b++) {
			size_t len = (size_t)(range(r, 0.15, 0.4) * RATE),
			       s0 = from + (size_t)(at * RATE);
			double *y = zeros(len);
			double fb = range(r, 150, 350);

			for (size_t i = 0; i < len; i++)
				y[i] = gauss(r);
			filter(y, len, 'b', range(r, 500, 1600), 1.2);
			for (size_t i = 0; i < len && s0 + i < n; i++) {
				double tt = (double)i / RATE,
				       e = (1 - exp(-tt / 0.005)) *
				           exp(-tt / range(r, 0.06, 0.12));
				double buzz =
				    tt < 0.05 ? 0.5 * sin(2 * M_PI * fb * tt)
				              : 0;

				x[s0 + i] += amp * e * (2 * y[i] + buzz);
			}
			free(y);
			at += (double)len / RATE + range(r, 0.1, 0.3);
		}
		return at;
	}
	case 1: { /* a breath */
		size_t len = (size_t)(range(r, 0.4, 1.0) * RATE);
		double *y = zeros(len), amp = db_to_amp(range(r, -42, -30));

		pink(r, y, len, 1.0);
		filter(y, len, 'h', 500, M_SQRT1_2);
		for (size_t i = 0; i < len && from + i < n; i++) {
			double u = (double)i / len;

			x[from + i] += amp * 3 * y[i] * sin(M_PI * u);
		}
		free(y);
		return (double)len / RATE;
	}
	case 2: { /* knocks, or clicks */
		unsigned k = 1 + pick(r, 4);
		bool click = uni(r) < 0.4;
		double amp = db_to_amp(range(r, -24, -10)), at = 0;

		for (unsigned j = 0; j < k; j++) {
			size_t s0 = from + (size_t)(at * RATE);
			double f = range(r, 150, 450), dec = range(r, 25, 60);

			for (size_t i = 0;
			     i < (size_t)(0.12 * RATE) && s0 + i < n; i++) {
				double tt = (double)i / RATE;

				if (click)
					x[s0 + i] +=
					    i < 8 ? amp * 3 * (i % 2 ? -1 : 1)
					          : 0;
				else
					x[s0 + i] +=
					    amp * 2 * exp(-tt * dec) *
					    (sin(2 * M_PI * f * tt) +
					     0.3 * gauss(r) * exp(-tt * 200));
			}
			at += range(r, 0.12, 0.35);
		}
		return at + 0.12;
	}
	case 3: { /* DTMF digits */
		static const double lo[] = {697, 770, 852, 941};
		static const double hi[] = {1209, 1336, 1477, 1633};
		unsigned digits = 3 + pick(r, 8);
		double at = 0, amp = db_to_amp(range(r, -22, -10));

		for (unsigned d = 0; d < digits; d++) {
			size_t s0 = from + (size_t)(at * RATE),
			       len = (size_t)(range(r, 0.07, 0.2) * RATE);
			double fl = lo[pick(r, 4)], fh = hi[pick(r, 4)];

			for (size_t i = 0; i < len && s0 + i < n; i++) {
				double tt = (double)i / RATE;

				x[s0 + i] +=
				    amp * (sin(2 * M_PI * fl * tt) +
				           0.8 * sin(2 * M_PI * fh * tt));
			}
			at += (double)len / RATE + range(r, 0.06, 0.15);
		}
		return at;
	}
	default: { /* a tune: harmonic notes, sometimes chords */
		double at = 0, dur = range(r, 2, 6),
		       amp = db_to_amp(range(r, -30, -18));
		double base = range(r, 180, 500);

		while (at < dur) {
			double note = base * pow(2, pick(r, 12) / 12.0);
			size_t len = (size_t)(range(r, 0.15, 0.5) * RATE);
			size_t s0 = from + (size_t)(at * RATE);
			unsigned voices = uni(r) < 0.3 ? 3 : 1;

			for (unsigned v = 0; v < voices; v++)
				tone(x, n, s0, len,
				     note * pow(2, (4.0 * v - (v > 1)) / 12), 5,
				     0.5, amp / voices, 0.01, 0.08);
			at += (double)len / RATE;
		}
		return at;
	}
	}
}

static void nonspeech_clips(const struct split *s)
{
	size_t n = (size_t)CLIP_SECS * RATE, nlab = n / LABHOP;
	char *lab = malloc(nlab + 1);
	double *x = zeros(n), *y = zeros(n);

	memset(lab, '0', nlab);
	lab[nlab] = 0;
	for (unsigned c = 0; c < s->nonspeech_clips; c++) {
		struct rng r;
		char name[64];
		/* each clip favours one kind (the sixth: line impairments),
		 * with others mixed in */
		unsigned main_kind = c % 6;

		rng_seed(&r, s->seed + 5000 + c);
		memset(x, 0, n * sizeof(*x));
		memset(y, 0, n * sizeof(*y));
		for (double t = range(&r, 0.5, 1.5); t < CLIP_SECS - 2;) {
			unsigned kind = uni(&r) < 0.6 ? main_kind : pick(&r, 6);

			t += (kind == 5 ? line_event(&r, y, n, t)
			                : nonspeech_event(&r, x, n, t, kind)) +
			     range(&r, 0.3, 1.5);
		}
		telephone_band(x, n);
		for (size_t i = 0; i < n; i++)
			x[i] += y[i];
		/* one clip in four has a digital line: no hiss at all */
		if (c % 4 != 3)
			line_hiss(&r, x, n);
		snprintf(name, sizeof(name), "n%02u", c);
		write_clip(s->name, name, "nonspeech", "-", "-", x, n, lab,
		           NULL);
	}
	free(lab);
	free(x);
	free(y);
}

static void echo_clips(const struct split *s)
{
	size_t n = (size_t)CLIP_SECS * RATE, nlab = n / LABHOP;
	char *lab = malloc(nlab + 1);
	double *ref = zeros(n), *x = zeros(n);
	struct buf u = {0};

	memset(lab, '0', nlab);
	lab[nlab] = 0;
	for (unsigned c = 0; c < s->echo_clips; c++) {
		struct rng r;
		char name[64];
		unsigned wpm, pitch;
		double level, t;

		rng_seed(&r, s->seed + 7000 + c);
		voice_style(&r, s->agent, &wpm, &pitch);
		level = range(&r, -22, -16);
		memset(ref, 0, n * sizeof(*ref));
		memset(x, 0, n * sizeof(*x));
		/* the agent talks in sentences with short pauses */
		for (t = range(&r, 0.3, 1.0);;) {
			size_t from = (size_t)(t * RATE);

			say(&u, s->agent, wpm, pitch, pick_sentence(&r, s));
			if (from + u.n + RATE / 2 > n)
				break;
			telephone_band(u.x, u.n);
			double k =
			    db_to_amp(level) / sqrt(power(u.x, u.n) + 1e-9);
			for (size_t i = 0; i < u.n; i++)
				ref[from + i] = u.x[i] * k;
			t += (double)u.n / RATE + range(&r, 0.3, 1.2);
		}
		/* the echo path: bulk delay, loss, a dispersive tail
		 * (a few taps over 1-8 ms) and the band */
		size_t delay = (size_t)(range(&r, 0.02, 0.2) * RATE);
		double loss = pow(10, -range(&r, 10, 30) / 20);
		size_t taps[4];
		double tg[4];
		for (int j = 0; j < 4; j++) {
			taps[j] = (size_t)range(&r, 8, 64);
			tg[j] = range(&r, -0.4, 0.4);
		}
		for (size_t i = delay; i < n; i++) {
			double e = ref[i - delay];

			for (int j = 0; j < 4; j++)
				if (i >= delay + taps[j])
					e += tg[j] * ref[i - delay - taps[j]];
			x[i] = loss * e;
		}
		filter(x, n, 'h', range(&r, 250, 400), M_SQRT1_2);
		filter(x, n, 'l', range(&r, 2800, 3400), M_SQRT1_2);
		line_hiss(&r, x, n);
		snprintf(name, sizeof(name), "e%02u", c);
		write_clip(s->name, name, "echo", "-", "-", x, n, lab, ref);
	}
	free(u.x);
	free(lab);
	free(ref);
	free(x);
}

int main(int argc, char **argv)
{
	char path[512];
	const char *only = argc > 2 ? argv[2] : NULL;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: vadset OUTDIR [SPLIT]\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	snprintf(path, sizeof(path), "%s/manifest.tsv", outdir);
	manifest = fopen(path, only ? "a" : "w");
	if (!manifest) {
		fprintf(stderr, "vadset: cannot write %s\n", path);
		return 1;
	}
	if (!only)
		fprintf(manifest,
		        "split\tname\tkind\tnoise\tsnr\twav\tlab\tref\n");
	for (size_t i = 0; i < N(splits); i++) {
		const struct split *s = &splits[i];

		if (only && strcmp(only, s->name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", outdir, s->name);
		mkdir(path, 0755);
		make_babble(s);
		speech_clips(s);
		nonspeech_clips(s);
		echo_clips(s);
		fprintf(stderr, "vadset: %s done\n", s->name);
	}
	for (int k = 0; k < BABBLE_STREAMS; k++)
		free(babble[k].x);
	return fclose(manifest) ? 1 : 0;
}
