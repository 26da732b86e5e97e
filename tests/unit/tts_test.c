/*
 * Text to speech with both providers: the audio is speech of the right
 * length at any output rate, it streams (chunks arrive while the text is
 * still being synthesised), a handler can cut it short, odd text is read
 * rather than obeyed, and threads sharing a provider each get their own
 * complete audio.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <re.h>

#include "speech/tts.h"

#include "test.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *provider; /* the one the shared cases run with */

static const char long_text[] =
    "Thank you for calling. Your appointment is confirmed for Tuesday "
    "morning at half past nine, at our office on the corner of Main Street "
    "and Seventh Avenue. If you need to change it, please call us back at "
    "least one day before, and we will find another time that suits you. "
    "Is there anything else I can help you with today?";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Collects what a synthesis hands out. */
struct capture {
	int16_t *pcm;
	size_t n, cap;
	size_t chunks, first_n;
	double t0, t_first;
	size_t stop_after; /* chunks; 0: never stop */
	bool oom;
};

static bool collect(const int16_t *pcm, size_t n, void *arg)
{
	struct capture *c = arg;

	if (!c->chunks) {
		c->t_first = now_ms() - c->t0;
		c->first_n = n;
	}
	c->chunks++;
	if (c->n + n > c->cap) {
		size_t cap = c->cap ? c->cap : 8192;
		int16_t *p;

		while (cap < c->n + n)
			cap *= 2;
		p = realloc(c->pcm, cap * sizeof(*p));
		if (!p) {
			c->oom = true;
			return false;
		}
		c->pcm = p;
		c->cap = cap;
	}
	memcpy(c->pcm + c->n, pcm, n * sizeof(*pcm));
	c->n += n;
	return !(c->stop_after && c->chunks >= c->stop_after);
}

static int synth(struct tts *t, const char *text, struct capture *c)
{
	free(c->pcm);
	*c = (struct capture){.stop_after = c->stop_after, .t0 = now_ms()};
	return tts_synth(t, text, collect, c);
}

static int make(struct tts **tp, uint32_t out_rate, unsigned wpm)
{
	struct tts_params p;
	const char *why = NULL;
	int err;

	tts_params_default(&p);
	p.provider = provider;
	p.out_rate = out_rate;
	p.rate_wpm = wpm;
	err = tts_alloc(tp, &p, &why);
	if (err)
		printf("# tts_alloc %s: %s\n", provider, why ? why : "?");
	return err;
}

static double rms(const int16_t *pcm, size_t n)
{
	double e = 0;

	for (size_t i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	return n ? sqrt(e / (double)n) : 0;
}

/* The longest run of samples quieter than -42 dBFS, in samples. */
static size_t longest_quiet(const int16_t *pcm, size_t n)
{
	size_t run = 0, best = 0;

	for (size_t i = 0; i < n; i++) {
		run = abs(pcm[i]) < 256 ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* Index of the first sample at or above -42 dBFS. */
static size_t first_sound(const int16_t *pcm, size_t n)
{
	size_t i = 0;

	while (i < n && abs(pcm[i]) < 256)
		i++;
	return i;
}

/* ---- cases, run once per provider -------------------------------------- */

/* "hello world" is a second or so of speech whatever the output rate, and
 * starts at once: the synthesiser's leading silence is not sent. */
static int each_hello_world(void)
{
	static const uint32_t rates[] = {8000, 16000};
	double secs[2];
	struct capture c = {0};

	for (size_t i = 0; i < 2; i++) {
		struct tts *t = NULL;
		int err;

		CHECK_EQ(make(&t, rates[i], 175), 0);
		err = synth(t, "hello world", &c);
		mem_deref(t);
		CHECK_EQ(err, 0);
		CHECK(!c.oom);
		secs[i] = (double)c.n / rates[i];
		if (secs[i] < 0.5 || secs[i] > 3.0)
			TEST_FAIL(__func__ + 5, "%s: %u Hz: %.2f s of audio",
			          provider, rates[i], secs[i]);
		if (rms(c.pcm, c.n) < 1000)
			TEST_FAIL(__func__ + 5, "%s: %u Hz: RMS %.0f", provider,
			          rates[i], rms(c.pcm, c.n));
		if (first_sound(c.pcm, c.n) > rates[i] / 200)
			TEST_FAIL(__func__ + 5,
			          "%s: %u Hz: %zu samples before the "
			          "first sound",
			          provider, rates[i], first_sound(c.pcm, c.n));
	}
	free(c.pcm);
	if (fabs(secs[0] - secs[1]) > 0.05 * secs[1])
		TEST_FAIL(__func__ + 5, "%s: 8 kHz %.3f s, 16 kHz %.3f s",
		          provider, secs[0], secs[1]);
	return 0;
}

/* The first chunk of a paragraph comes early, small, and long before the
 * last. */
static int each_streams(void)
{
	struct capture c = {0};
	struct tts *t = NULL;
	double total;
	int err;

	CHECK_EQ(make(&t, 8000, 175), 0);
	err = synth(t, long_text, &c);
	total = now_ms() - c.t0;
	mem_deref(t);
	free(c.pcm);
	CHECK_EQ(err, 0);
	CHECK((double)c.n / 8000 > 10);
	CHECK(c.chunks > 100);
	/* About 50 ms a chunk. */
	if (c.first_n > 8000 * 80 / 1000)
		TEST_FAIL(__func__ + 5, "%s: first chunk %zu samples", provider,
		          c.first_n);
	if (c.t_first > total / 4)
		TEST_FAIL(__func__ + 5, "%s: first chunk at %.2f ms of %.2f ms",
		          provider, c.t_first, total);
	printf("# %s: first chunk %.2f ms, whole %.2f ms, %zu chunks\n",
	       provider, c.t_first, total, c.chunks);
	return 0;
}

/* Correlation of the 10 ms RMS envelopes of the first 0.5 s of a and b
 * (8 kHz): near 1 when both start with the same words. */
static double start_alike(const int16_t *a, size_t na, const int16_t *b,
                          size_t nb)
{
	enum { FRAMES = 50, LEN = 80 };
	double ea[FRAMES], eb[FRAMES], ma = 0, mb = 0, sab = 0, saa = 0,
	                               sbb = 0;

	if (na < FRAMES * LEN || nb < FRAMES * LEN)
		return 0;
	for (int f = 0; f < FRAMES; f++) {
		ea[f] = rms(a + f * LEN, LEN);
		eb[f] = rms(b + f * LEN, LEN);
		ma += ea[f] / FRAMES;
		mb += eb[f] / FRAMES;
	}
	for (int f = 0; f < FRAMES; f++) {
		sab += (ea[f] - ma) * (eb[f] - mb);
		saa += (ea[f] - ma) * (ea[f] - ma);
		sbb += (eb[f] - mb) * (eb[f] - mb);
	}
	return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

/* Barge-in: the handler says stop after the first chunk; synthesis ends
 * there, and the next text is spoken in full with nothing of the old one
 * left over: it starts as it does on its own and is as long, within
 * 10 % (espeak-ng ends a text with a pause that depends a little on the
 * text before). */
static int each_cancels(void)
{
	struct capture c = {0};
	struct tts *t = NULL;
	int16_t *hello;
	size_t hello_n;
	double full, cut, alike;
	int err;

	CHECK_EQ(make(&t, 8000, 175), 0);
	err = synth(t, "hello world", &c);
	CHECK_EQ(err, 0);
	hello = c.pcm;
	hello_n = c.n;
	c.pcm = NULL;
	err = synth(t, long_text, &c);
	full = now_ms() - c.t0;
	CHECK_EQ(err, 0);

	c.stop_after = 1;
	err = synth(t, long_text, &c);
	cut = now_ms() - c.t0;
	CHECK_EQ(err, ECANCELED);
	CHECK_EQ(c.chunks, 1);
	if (cut > full / 4)
		TEST_FAIL(__func__ + 5,
		          "%s: cancelled after %.2f ms, whole %.2f ms",
		          provider, cut, full);

	c.stop_after = 0;
	err = synth(t, "hello world", &c);
	mem_deref(t);
	alike = start_alike(hello, hello_n, c.pcm, c.n);
	free(hello);
	free(c.pcm);
	CHECK_EQ(err, 0);
	if (c.n < hello_n * 0.9 || c.n > hello_n * 1.1)
		TEST_FAIL(__func__ + 5,
		          "%s: after cancel %zu samples, alone %zu", provider,
		          c.n, hello_n);
	if (alike < 0.95)
		TEST_FAIL(__func__ + 5,
		          "%s: after cancel the start differs (%.2f)", provider,
		          alike);
	return 0;
}

/* Nothing to say: no audio, no error. */
static int each_empty_text(void)
{
	static const char *const texts[] = {"", " ", "\t\n  \r\n", "\x01\x02",
	                                    "\xff\xfe"};
	struct capture c = {0};
	struct tts *t = NULL;

	CHECK_EQ(make(&t, 8000, 175), 0);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		CHECK_EQ(synth(t, texts[i], &c), 0);
		CHECK_EQ(c.chunks, 0);
	}
	CHECK_EQ(tts_synth(t, NULL, collect, &c), EINVAL);
	CHECK_EQ(tts_synth(t, "hi", NULL, &c), EINVAL);
	CHECK_EQ(tts_synth(NULL, "hi", collect, &c), EINVAL);
	mem_deref(t);
	free(c.pcm);
	return 0;
}

/* Text is text: markup is not obeyed (an SSML break would leave three
 * seconds of silence), and broken UTF-8, control characters and scripts
 * that upset espeak-ng (a Tamil digit, Hangul: it reads freed memory) are
 * read around, not choked on. */
static int each_odd_text(void)
{
	struct capture c = {0};
	struct tts *t = NULL;
	int err;

	CHECK_EQ(make(&t, 8000, 175), 0);
	err = synth(t, "hello <break time=\"3s\"/> world", &c);
	CHECK_EQ(err, 0);
	if (longest_quiet(c.pcm, c.n) > 8000)
		TEST_FAIL(__func__ + 5, "%s: a pause of %zu ms", provider,
		          longest_quiet(c.pcm, c.n) / 8);
	err = synth(t,
	            "caf\xc3\xa9 \xe2\x82\xac 5 \xff\xc3 ok\x01\x7f "
	            "\xed\xa0\x80 [[h@'loU]] &amp; \xc2\x85 \xf0\x9f\x98\x80 "
	            "\xe0\xaf\xab \xe1\x86\x80 \xea\xb0\x81 end",
	            &c);
	CHECK_EQ(err, 0);
	CHECK((double)c.n / 8000 > 1.0);
	mem_deref(t);
	free(c.pcm);
	return 0;
}

/* 5000 characters of one run-on text, no full stop. */
static int each_long_input(void)
{
	static const char *const words[] = {"the",   "quick", "brown", "fox",
	                                    "jumps", "over",  "a",     "lazy",
	                                    "dog",   "and",   "seven", "cats,"};
	char *text = malloc(5001);
	struct capture c = {0};
	struct tts *t = NULL;
	size_t len = 0;
	int err;

	CHECK(text != NULL);
	for (size_t i = 0; len < 5000; i++) {
		const char *w = words[i % 12];
		size_t n = strlen(w);

		if (len + n + 1 > 5000)
			n = 5000 - len - 1;
		memcpy(text + len, w, n);
		len += n;
		text[len++] = ' ';
	}
	text[5000] = '\0';
	CHECK_EQ(make(&t, 8000, 175), 0);
	err = synth(t, text, &c);
	mem_deref(t);
	free(text);
	free(c.pcm);
	CHECK_EQ(err, 0);
	/* About 900 words at 175 a minute. */
	if ((double)c.n / 8000 < 120 || (double)c.n / 8000 > 600)
		TEST_FAIL(__func__ + 5, "%s: %.1f s of audio", provider,
		          (double)c.n / 8000);
	return 0;
}

/* The median pitch of the voiced 40 ms frames of 8 kHz audio, in Hz, from
 * the autocorrelation peak between 40 and 400 Hz. */
static double median_f0(const int16_t *pcm, size_t n)
{
	enum { LEN = 320, MAX_FRAMES = 512 };
	double f0[MAX_FRAMES];
	size_t nf = 0;

	for (size_t f = 0; f + LEN <= n && nf < MAX_FRAMES; f += LEN) {
		const int16_t *x = pcm + f;
		double best = 0;
		size_t lag_best = 0;

		if (rms(x, LEN) < 1000)
			continue;
		for (size_t lag = 8000 / 400; lag <= 8000 / 40; lag++) {
			double c = 0;

			for (size_t i = 0; i + lag < LEN; i++)
				c += (double)x[i] * x[i + lag];
			if (c > best) {
				best = c;
				lag_best = lag;
			}
		}
		if (lag_best)
			f0[nf++] = 8000.0 / (double)lag_best;
	}
	for (size_t i = 1; i < nf; i++)
		for (size_t j = i; j > 0 && f0[j - 1] > f0[j]; j--) {
			double tmp = f0[j];

			f0[j] = f0[j - 1];
			f0[j - 1] = tmp;
		}
	return nf ? f0[nf / 2] : 0;
}

/* rate_wpm and pitch reach the synthesiser, and objects with different
 * settings used in turn each keep their own. */
static int each_settings(void)
{
	struct capture c = {0};
	struct tts_params p;
	struct tts *slow = NULL, *fast = NULL, *low = NULL, *high = NULL;
	size_t n1, n2, n3;
	double f_low, f_high;

	CHECK_EQ(make(&slow, 8000, 175), 0);
	CHECK_EQ(make(&fast, 8000, 350), 0);
	CHECK_EQ(synth(slow, long_text, &c), 0);
	n1 = c.n;
	CHECK_EQ(synth(fast, long_text, &c), 0);
	n2 = c.n;
	CHECK_EQ(synth(slow, long_text, &c), 0);
	n3 = c.n;
	mem_deref(slow);
	mem_deref(fast);

	tts_params_default(&p);
	p.provider = provider;
	p.pitch = 20;
	CHECK_EQ(tts_alloc(&low, &p, NULL), 0);
	p.pitch = 80;
	CHECK_EQ(tts_alloc(&high, &p, NULL), 0);
	CHECK_EQ(synth(low, long_text, &c), 0);
	f_low = median_f0(c.pcm, c.n);
	CHECK_EQ(synth(high, long_text, &c), 0);
	f_high = median_f0(c.pcm, c.n);
	mem_deref(low);
	mem_deref(high);
	free(c.pcm);

	if (n2 < n1 * 0.35 || n2 > n1 * 0.75)
		TEST_FAIL(__func__ + 5, "%s: 350 wpm %zu samples, 175 wpm %zu",
		          provider, n2, n1);
	if (n3 < n1 * 0.98 || n3 > n1 * 1.02)
		TEST_FAIL(__func__ + 5,
		          "%s: 175 wpm again %zu samples, first %zu", provider,
		          n3, n1);
	if (f_low < 40 || f_high < f_low * 1.25)
		TEST_FAIL(__func__ + 5,
		          "%s: pitch 20 at %.0f Hz, 80 at %.0f Hz", provider,
		          f_low, f_high);
	printf("# %s: pitch 20 at %.0f Hz, 80 at %.0f Hz\n", provider, f_low,
	       f_high);
	return 0;
}

/* A thread synthesising one text four times, each compared with want. */
struct job {
	struct tts *t;
	const char *text;
	size_t want;
	int err, bad;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	struct capture c = {0};

	for (int i = 0; i < 4; i++) {
		int err = synth(j->t, j->text, &c);

		if (err)
			j->err = err;
		else if (c.n < j->want * 0.98 || c.n > j->want * 1.02)
			j->bad++;
	}
	free(c.pcm);
	return NULL;
}

/* Two threads on one object and one on another: each synthesis is whole
 * and the same length as it is alone. */
static int each_threads(void)
{
	struct tts *a = NULL, *b = NULL;
	struct job jobs[3];
	pthread_t th[3];
	struct capture c = {0};

	CHECK_EQ(make(&a, 8000, 175), 0);
	CHECK_EQ(make(&b, 16000, 250), 0);
	jobs[0] = (struct job){.t = a, .text = long_text};
	jobs[1] = (struct job){.t = a, .text = "hello world, how are you"};
	jobs[2] = (struct job){.t = b, .text = long_text};
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(synth(jobs[i].t, jobs[i].text, &c), 0);
		jobs[i].want = c.n;
	}
	free(c.pcm);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	mem_deref(a);
	mem_deref(b);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(jobs[i].err, 0);
		CHECK_EQ(jobs[i].bad, 0);
	}
	return 0;
}

/* ---- spectrum ----------------------------------------------------------- */

#define FFT_MS 32

/* Energy in [lo, hi) Hz, from Hann-windowed DFTs of 32 ms frames,
 * normalised by the energy below 3 kHz. */
static int band_energy(const int16_t *pcm, size_t n, uint32_t rate,
                       const double *edges, size_t nbands, double *out)
{
	size_t len = rate * FFT_MS / 1000, bins = len / 2;
	double *spec = calloc(bins, sizeof(double));
	double *win = malloc(len * sizeof(double));
	double ref = 0;

	if (!spec || !win) {
		free(spec);
		free(win);
		return ENOMEM;
	}
	for (size_t i = 0; i < len; i++)
		win[i] = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)len);
	for (size_t f = 0; f + len <= n; f += len / 2)
		for (size_t k = 1; k < bins; k++) {
			double re = 0, im = 0;

			for (size_t i = 0; i < len; i++) {
				double ph = 2 * M_PI * (double)(k * i % len) /
				            (double)len;
				double v = pcm[f + i] * win[i];

				re += v * cos(ph);
				im -= v * sin(ph);
			}
			spec[k] += re * re + im * im;
		}
	for (size_t k = 1; k < bins; k++)
		if (k * 1000 / FFT_MS < 3000)
			ref += spec[k];
	for (size_t b = 0; b < nbands; b++) {
		out[b] = 0;
		for (size_t k = 1; k < bins; k++) {
			double hz = (double)k * 1000 / FFT_MS;

			if (hz >= edges[b] && hz < edges[b + 1])
				out[b] += spec[k];
		}
		out[b] = ref > 0 ? out[b] / ref : 0;
	}
	free(spec);
	free(win);
	return 0;
}

/*
 * The audio is telephone speech, resampled cleanly. Below 3.4 kHz the
 * 8 kHz output has the spectrum of the 16 kHz output, within 1.5 dB a
 * band, and the 16 kHz output has most of its energy under 4 kHz. From
 * espeak-ng's 22050 Hz, the 8 kHz output has less energy than the 16 kHz
 * one from 3.4 kHz up (the anti-aliasing filter's edge), never more, which
 * it would if the fricatives above 4 kHz had folded back. From flite's
 * 8 kHz, the 16 kHz output has nothing above 4 kHz (no images).
 */
static int each_spectrum(void)
{
	static const double edges[] = {0,    500,  1000, 1500, 2000, 2500,
	                               3000, 3400, 3800, 4000, 8000};
	enum { NB = sizeof(edges) / sizeof(edges[0]) - 1 };
	static const char text[] = "She sells six sea shells, so she says.";
	bool from_8k = !strcmp(provider, "flite");
	double e8[NB], e16[NB], below4k = 0, total = 0;
	struct capture c = {0};
	struct tts *t8 = NULL, *t16 = NULL;

	CHECK_EQ(make(&t8, 8000, 175), 0);
	CHECK_EQ(make(&t16, 16000, 175), 0);
	CHECK_EQ(synth(t8, text, &c), 0);
	CHECK_EQ(band_energy(c.pcm, c.n, 8000, edges, NB, e8), 0);
	CHECK_EQ(synth(t16, text, &c), 0);
	CHECK_EQ(band_energy(c.pcm, c.n, 16000, edges, NB, e16), 0);
	mem_deref(t8);
	mem_deref(t16);
	free(c.pcm);

	for (size_t b = 0; b < NB; b++) {
		if (edges[b] < 4000)
			below4k += e16[b];
		total += e16[b];
	}
	for (size_t b = 0; b < NB; b++) {
		double db = 10 * log10(e8[b] / e16[b]);

		if (edges[b + 1] <= 3400 && fabs(db) > 1.5)
			TEST_FAIL(__func__ + 5,
			          "%s: %.0f-%.0f Hz: 8k is %.1f "
			          "dB off",
			          provider, edges[b], edges[b + 1], db);
		if (!from_8k && edges[b] >= 3400 && edges[b] < 4000 && db > 0.5)
			TEST_FAIL(__func__ + 5,
			          "%s: %.0f-%.0f Hz: 8k %.1f dB "
			          "over 16k",
			          provider, edges[b], edges[b + 1], db);
	}
	if (from_8k && 10 * log10(e16[NB - 1]) > -60)
		TEST_FAIL(__func__ + 5, "%s: 4-8 kHz at %.1f dB", provider,
		          10 * log10(e16[NB - 1]));
	if (below4k < 0.8 * total)
		TEST_FAIL(__func__ + 5, "%s: %.0f %% of the energy under 4 kHz",
		          provider, 100 * below4k / total);
	return 0;
}

/* ---- cases without a provider ------------------------------------------- */

TEST(bad_params)
{
	struct tts_params p;
	struct tts *t = NULL;
	const char *why;

	tts_params_default(&p);
	CHECK_STR(p.provider, "espeak-ng");
	CHECK(p.voice == NULL);
	CHECK_EQ(p.rate_wpm, 175);
	CHECK_EQ(p.pitch, 50);
	CHECK_EQ(p.out_rate, 8000);

	p.voice = "xx-nosuchvoice";
	why = NULL;
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	CHECK(why != NULL && *why);
	p.voice = "../../../etc/passwd";
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	p.voice = "";
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	p.voice = "en-us+f3";
	CHECK_EQ(tts_alloc(&t, &p, &why), 0);
	mem_deref(t);
	t = NULL;

	tts_params_default(&p);
	p.provider = "festival";
	why = NULL;
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	CHECK(why != NULL && *why);
	p.provider = "flite";
	p.voice = "en-gb";
	CHECK_EQ(tts_alloc(&t, &p, NULL), EINVAL);
	p.voice = "en-us";
	CHECK_EQ(tts_alloc(&t, &p, NULL), 0);
	mem_deref(t);
	t = NULL;

	tts_params_default(&p);
	p.rate_wpm = 10;
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	p.rate_wpm = 175;
	p.pitch = 101;
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	p.pitch = 50;
	p.out_rate = 4000;
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	p.out_rate = 96000;
	CHECK_EQ(tts_alloc(&t, &p, &why), EINVAL);
	CHECK(t == NULL);
	CHECK_EQ(tts_alloc(NULL, &p, &why), EINVAL);
	CHECK_EQ(tts_alloc(&t, NULL, &why), EINVAL);
	mem_deref(NULL);
	return 0;
}

/* An espeak-ng and a flite synthesis at the same time: separate
 * libraries, each whole. */
TEST(providers_together)
{
	struct tts *e = NULL, *f = NULL;
	struct job jobs[2];
	pthread_t th[2];
	struct capture c = {0};

	provider = "espeak-ng";
	CHECK_EQ(make(&e, 8000, 175), 0);
	provider = "flite";
	CHECK_EQ(make(&f, 8000, 175), 0);
	jobs[0] = (struct job){.t = e, .text = long_text};
	jobs[1] = (struct job){.t = f, .text = long_text};
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(synth(jobs[i].t, jobs[i].text, &c), 0);
		jobs[i].want = c.n;
	}
	free(c.pcm);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	mem_deref(e);
	mem_deref(f);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(jobs[i].err, 0);
		CHECK_EQ(jobs[i].bad, 0);
	}
	return 0;
}

#define PROVIDER_CASES(p, tag)                                                 \
	TEST(tag##_hello_world)                                                \
	{                                                                      \
		provider = p;                                                  \
		return each_hello_world();                                     \
	}                                                                      \
	TEST(tag##_streams)                                                    \
	{                                                                      \
		provider = p;                                                  \
		return each_streams();                                         \
	}                                                                      \
	TEST(tag##_cancels)                                                    \
	{                                                                      \
		provider = p;                                                  \
		return each_cancels();                                         \
	}                                                                      \
	TEST(tag##_empty_text)                                                 \
	{                                                                      \
		provider = p;                                                  \
		return each_empty_text();                                      \
	}                                                                      \
	TEST(tag##_odd_text)                                                   \
	{                                                                      \
		provider = p;                                                  \
		return each_odd_text();                                        \
	}                                                                      \
	TEST(tag##_long_input)                                                 \
	{                                                                      \
		provider = p;                                                  \
		return each_long_input();                                      \
	}                                                                      \
	TEST(tag##_settings)                                                   \
	{                                                                      \
		provider = p;                                                  \
		return each_settings();                                        \
	}                                                                      \
	TEST(tag##_threads)                                                    \
	{                                                                      \
		provider = p;                                                  \
		return each_threads();                                         \
	}                                                                      \
	TEST(tag##_spectrum)                                                   \
	{                                                                      \
		provider = p;                                                  \
		return each_spectrum();                                        \
	}

PROVIDER_CASES("espeak-ng", espeak)
PROVIDER_CASES("flite", flite)

#define RUN_PROVIDER_CASES(tag)                                                \
	do {                                                                   \
		RUN(tag##_hello_world);                                        \
		RUN(tag##_streams);                                            \
		RUN(tag##_cancels);                                            \
		RUN(tag##_empty_text);                                         \
		RUN(tag##_odd_text);                                           \
		RUN(tag##_long_input);                                         \
		RUN(tag##_settings);                                           \
		RUN(tag##_threads);                                            \
		RUN(tag##_spectrum);                                           \
	} while (0)

int main(void)
{
	RUN(bad_params);
	RUN_PROVIDER_CASES(espeak);
	RUN_PROVIDER_CASES(flite);
	RUN(providers_together);
	return test_failures ? 1 : 0;
}
