/*
 * xcorr: find the delay between two recordings of the same audio.
 *
 *   xcorr [-m MAX_LAG_MS] [-r RATE] [-n MIN_OVERLAP_MS] [-w WINDOW_MS] [-v]
 *         REF TEST
 *
 * Reads REF (what was sent) and TEST (what came back), finds the lag within
 * +-MAX_LAG_MS that maximises the normalised cross-correlation and prints
 *
 *   lag_ms=<x> corr=<y>
 *
 * A positive lag means TEST lags REF: TEST[n] ~ REF[n - lag]. corr is the
 * correlation coefficient over the overlapping part at that lag (1.0 for an
 * exact copy, about 0 for unrelated audio).
 *
 * With -w, TEST is cut into windows of WINDOW_MS; each window that carries
 * signal (energy above a tenth of TEST's average) gets its own best lag and
 * correlation, and the medians are printed. One dropped or inserted frame
 * then spoils one window instead of the alignment of everything after it.
 *
 * Input formats, by file name: *.wav (RIFF WAVE, 16-bit PCM, A-law or u-law,
 * first channel used), *.ul / *.ulaw / *.mu (raw G.711 u-law), *.al / *.alaw
 * (raw G.711 A-law), anything else raw signed 16-bit little endian. Raw files
 * use -r RATE (default 8000). Both inputs must have the same sample rate.
 *
 * The correlation is computed with an FFT, so minutes of audio take a moment.
 * Exit code: 0 on success, 1 when the files cannot be read or compared,
 * 2 on bad usage.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audio {
	double *s;
	size_t n;
	unsigned rate;
};

/* ==== G.711 decoding ==== */

static int16_t ulaw_decode(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = ((u & 0x0f) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return (int16_t)((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

static int16_t alaw_decode(uint8_t a)
{
	int t, seg;

	a ^= 0x55;
	t = (a & 0x0f) << 4;
	seg = (a & 0x70) >> 4;
	switch (seg) {
	case 0:
		t += 8;
		break;
	case 1:
		t += 0x108;
		break;
	default:
		t += 0x108;
		t <<= seg - 1;
	}
	return (int16_t)((a & 0x80) ? t : -t);
}

/* ==== file reading ==== */

enum enc {
	ENC_S16,
	ENC_ULAW,
	ENC_ALAW,
};

static int read_all(const char *path, uint8_t **bufp, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "xcorr: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (cap - len < 65536) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 262144;
			nb = realloc(buf, cap);
			if (!nb) {
				fprintf(stderr, "xcorr: out of memory\n");
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "xcorr: %s: read error\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*bufp = buf;
	*lenp = len;
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int decode(struct audio *a, const uint8_t *p, size_t len, enum enc enc,
                  unsigned channels)
{
	size_t width = (enc == ENC_S16 ? 2 : 1) * channels;
	size_t i;

	a->n = len / width;
	a->s = calloc(a->n ? a->n : 1, sizeof(*a->s));
	if (!a->s) {
		fprintf(stderr, "xcorr: out of memory\n");
		return -1;
	}
	for (i = 0; i < a->n; i++) {
		const uint8_t *q = p + i * width;

		switch (enc) {
		case ENC_S16:
			a->s[i] = (int16_t)le16(q);
			break;
		case ENC_ULAW:
			a->s[i] = ulaw_decode(q[0]);
			break;
		case ENC_ALAW:
			a->s[i] = alaw_decode(q[0]);
			break;
		}
	}
	return 0;
}

static int parse_wav(const char *path, struct audio *a, const uint8_t *buf,
                     size_t len)
{
	size_t off = 12;
	unsigned fmt = 0, channels = 0, bits = 0;
	int have_fmt = 0;

	if (len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4)) {
		fprintf(stderr, "xcorr: %s: not a RIFF WAVE file\n", path);
		return -1;
	}
	while (off + 8 <= len) {
		uint32_t csize = le32(buf + off + 4);
		const uint8_t *body = buf + off + 8;
		size_t avail = len - off - 8;

		if (!memcmp(buf + off, "fmt ", 4) && csize >= 16 &&
		    avail >= 16) {
			fmt = le16(body);
			channels = le16(body + 2);
			a->rate = le32(body + 4);
			bits = le16(body + 14);
			if (fmt == 0xfffe && csize >= 26 && avail >= 26)
				fmt = le16(body + 24); /* extensible */
			have_fmt = 1;
		} else if (!memcmp(buf + off, "data", 4)) {
			enum enc enc;

			if (!have_fmt || channels == 0) {
				fprintf(stderr, "xcorr: %s: data before fmt\n",
				        path);
				return -1;
			}
			if (fmt == 1 && bits == 16) {
				enc = ENC_S16;
			} else if (fmt == 7 && bits == 8) {
				enc = ENC_ULAW;
			} else if (fmt == 6 && bits == 8) {
				enc = ENC_ALAW;
			} else {
				fprintf(stderr,
				        "xcorr: %s: unsupported WAV format %u "
				        "(%u bits)\n",
				        path, fmt, bits);
				return -1;
			}
			/* sox writes 0 or 0xffffffff when it cannot seek */
			if (csize == 0 || csize > avail)
				csize = (uint32_t)avail;
			return decode(a, body, csize, enc, channels);
		}
		off += 8 + (size_t)csize + (csize & 1);
	}
	fprintf(stderr, "xcorr: %s: no data chunk\n", path);
	return -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static int load(const char *path, unsigned raw_rate, struct audio *a)
{
	uint8_t *buf;
	size_t len;
	int err;

	if (read_all(path, &buf, &len))
		return -1;
	a->rate = raw_rate;
	if (ends_with(path, ".wav") || ends_with(path, ".WAV"))
		err = parse_wav(path, a, buf, len);
	else if (ends_with(path, ".ul") || ends_with(path, ".ulaw") ||
	         ends_with(path, ".mu"))
		err = decode(a, buf, len, ENC_ULAW, 1);
	else if (ends_with(path, ".al") || ends_with(path, ".alaw"))
		err = decode(a, buf, len, ENC_ALAW, 1);
	else
		err = decode(a, buf, len, ENC_S16, 1);
	free(buf);
	return err;
}

/* ==== FFT (iterative radix-2, in place) ==== */

static void fft(double *re, double *im, size_t n, int inverse)
{
	size_t i, j, len;

	for (i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j |= bit;
		if (i < j) {
			double t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (len = 2; len <= n; len <<= 1) {
		double ang = 2 * M_PI / (double)len * (inverse ? 1 : -1);
		double wr = cos(ang), wi = sin(ang);

		for (i = 0; i < n; i += len) {
			double cr = 1, ci = 0;
			size_t k;

			for (k = 0; k < len / 2; k++) {
				size_t p = i + k, q = i + k + len / 2;
				double xr = re[q] * cr - im[q] * ci;
				double xi = re[q] * ci + im[q] * cr;
				double t;

				re[q] = re[p] - xr;
				im[q] = im[p] - xi;
				re[p] += xr;
				im[p] += xi;
				t = cr * wr - ci * wi;
				ci = cr * wi + ci * wr;
				cr = t;
			}
		}
	}
	if (inverse) {
		for (i = 0; i < n; i++) {
			re[i] /= (double)n;
			im[i] /= (double)n;
		}
	}
}

static void remove_mean(struct audio *a)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < a->n; i++)
		sum += a->s[i];
	if (a->n == 0)
		return;
	sum /= (double)a->n;
	for (i = 0; i < a->n; i++)
		a->s[i] -= sum;
}

static double *prefix_energy(const struct audio *a)
{
	double *p = malloc((a->n + 1) * sizeof(*p));
	size_t i;

	if (!p)
		return NULL;
	p[0] = 0;
	for (i = 0; i < a->n; i++)
		p[i + 1] = p[i] + a->s[i] * a->s[i];
	return p;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: xcorr [-m MAX_LAG_MS] [-r RATE] [-n MIN_OVERLAP_MS] "
	        "[-w WINDOW_MS] [-v] REF TEST\n"
	        "prints lag_ms=<x> corr=<y>; positive lag = TEST lags REF\n");
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static int cmp_long(const void *x, const void *y)
{
	long a = *(const long *)x, b = *(const long *)y;

	return (a > b) - (a < b);
}

/* Windowed mode (-w): see the header comment. Returns 0 and sets the
 * medians, or -1 (message printed) when no window carries signal. */
static int windowed(const struct audio *a, const struct audio *b, long maxlag,
                    size_t win, int verbose, long *lag_out, double *corr_out)
{
	const double *pa;
	double *pa_mut = prefix_energy(a), *pb = prefix_energy(b);
	double *re = NULL, *im = NULL, *re2 = NULL, *im2 = NULL;
	double *corrs = NULL, floor_e;
	long *lags = NULL;
	size_t seg = win + 2 * (size_t)maxlag, n, nwin = 0, s, k;
	int rc = -1;

	pa = pa_mut;
	for (n = 1; n < win + seg; n <<= 1)
		;
	re = calloc(n, sizeof(*re));
	im = calloc(n, sizeof(*im));
	re2 = calloc(n, sizeof(*re2));
	im2 = calloc(n, sizeof(*im2));
	corrs = calloc(b->n / win + 1, sizeof(*corrs));
	lags = calloc(b->n / win + 1, sizeof(*lags));
	if (!pa || !pb || !re || !im || !re2 || !im2 || !corrs || !lags) {
		fprintf(stderr, "xcorr: out of memory\n");
		goto out;
	}
	/* a window needs a tenth of the average energy per sample */
	floor_e = 0.1 * pb[b->n] / (double)b->n * (double)win;

	for (s = 0; s + win <= b->n; s += win) {
		double eb = pb[s + win] - pb[s], best = -2;
		long best_lag = 0, lag;

		if (eb <= floor_e || eb <= 1e-9)
			continue;
		memset(re, 0, n * sizeof(*re));
		memset(im, 0, n * sizeof(*im));
		memset(re2, 0, n * sizeof(*re2));
		memset(im2, 0, n * sizeof(*im2));
		/* x = TEST window, y = REF from s - maxlag, zero outside */
		memcpy(re, b->s + s, win * sizeof(*re));
		for (k = 0; k < seg; k++) {
			long ai = (long)s - maxlag + (long)k;

			if (ai >= 0 && ai < (long)a->n)
				re2[k] = a->s[ai];
		}
		fft(re, im, n, 0);
		fft(re2, im2, n, 0);
		for (k = 0; k < n; k++) {
			/* conj(X) * Y: c[k] = sum_j x[j] y[j + k] */
			double r = re[k] * re2[k] + im[k] * im2[k];
			double m = re[k] * im2[k] - im[k] * re2[k];

			re[k] = r;
			im[k] = m;
		}
		fft(re, im, n, 1);
		for (lag = -maxlag; lag <= maxlag; lag++) {
			/* TEST[s + j] ~ REF[s + j - lag], k = maxlag - lag */
			long lo = (long)s - lag, hi = lo + (long)win;
			double ea, c;

			if (lo < 0)
				lo = 0;
			if (hi > (long)a->n)
				hi = (long)a->n;
			if (hi - lo < (long)win / 2)
				continue;
			ea = pa[hi] - pa[lo];
			if (ea <= 1e-9)
				continue;
			c = re[maxlag - lag] / sqrt(ea * eb);
			if (c > best) {
				best = c;
				best_lag = lag;
			}
		}
		if (best < -1.5)
			continue;
		if (verbose)
			fprintf(stderr,
			        "xcorr: window at %.0f ms: lag %.1f ms "
			        "corr %.3f\n",
			        (double)s * 1000.0 / b->rate,
			        (double)best_lag * 1000.0 / b->rate, best);
		corrs[nwin] = best;
		lags[nwin] = best_lag;
		nwin++;
	}
	if (nwin == 0) {
		fprintf(stderr,
		        "xcorr: no %zu-sample window of TEST carries "
		        "signal that REF overlaps\n",
		        win);
		goto out;
	}
	qsort(corrs, nwin, sizeof(*corrs), cmp_double);
	qsort(lags, nwin, sizeof(*lags), cmp_long);
	*corr_out = corrs[nwin / 2];
	*lag_out = lags[nwin / 2];
	if (verbose)
		fprintf(stderr, "xcorr: %zu windows with signal\n", nwin);
	rc = 0;
out:
	free(pa_mut);
	free(pb);
	free(re);
	free(im);
	free(re2);
	free(im2);
	free(corrs);
	free(lags);
	return rc;
}

int main(int argc, char **argv)
{
	double max_lag_ms = 2000, min_overlap_ms = -1, window_ms = 0;
	unsigned rate = 8000;
	int verbose = 0, i, rc = 1;
	const char *paths[2];
	int npaths = 0;
	struct audio a = {0}, b = {0};
	double *re = NULL, *im = NULL, *re2 = NULL, *im2 = NULL;
	double *pa = NULL, *pb = NULL;
	size_t n, min_overlap;
	long maxlag, lag, best_lag = 0;
	double best = -2;

	for (i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			max_lag_ms = strtod(argv[++i], &end);
			if (*end || max_lag_ms < 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			min_overlap_ms = strtod(argv[++i], &end);
			if (*end || min_overlap_ms < 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "-w") && i + 1 < argc) {
			window_ms = strtod(argv[++i], &end);
			if (*end || window_ms < 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
			long r = strtol(argv[++i], &end, 10);

			if (*end || r <= 0 || r > 384000) {
				usage();
				return 2;
			}
			rate = (unsigned)r;
		} else if (!strcmp(argv[i], "-v")) {
			verbose = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage();
			return 2;
		} else if (npaths < 2) {
			paths[npaths++] = argv[i];
		} else {
			usage();
			return 2;
		}
	}
	if (npaths != 2) {
		usage();
		return 2;
	}

	if (load(paths[0], rate, &a) || load(paths[1], rate, &b))
		goto out;
	if (a.rate != b.rate) {
		fprintf(stderr, "xcorr: sample rates differ (%u vs %u)\n",
		        a.rate, b.rate);
		goto out;
	}
	if (a.n == 0 || b.n == 0) {
		fprintf(stderr, "xcorr: empty input (%zu and %zu samples)\n",
		        a.n, b.n);
		goto out;
	}
	remove_mean(&a);
	remove_mean(&b);

	/* By default at least half of the shorter input must overlap, so a
	 * lag that lines up a few samples of tail cannot win. */
	if (min_overlap_ms < 0)
		min_overlap = (a.n < b.n ? a.n : b.n) / 2;
	else
		min_overlap = (size_t)(min_overlap_ms * a.rate / 1000.0);
	if (min_overlap < 1)
		min_overlap = 1;
	maxlag = (long)(max_lag_ms * a.rate / 1000.0);
	if (window_ms > 0) {
		size_t win = (size_t)(window_ms * a.rate / 1000.0);

		if (win < 16) {
			fprintf(stderr, "xcorr: window too short\n");
			goto out;
		}
		if (windowed(&a, &b, maxlag, win, verbose, &best_lag, &best))
			goto out;
		printf("lag_ms=%.1f corr=%.3f\n",
		       (double)best_lag * 1000.0 / a.rate, best);
		rc = 0;
		goto out;
	}

	for (n = 1; n < a.n + b.n; n <<= 1)
		;
	re = calloc(n, sizeof(*re));
	im = calloc(n, sizeof(*im));
	re2 = calloc(n, sizeof(*re2));
	im2 = calloc(n, sizeof(*im2));
	pa = prefix_energy(&a);
	pb = prefix_energy(&b);
	if (!re || !im || !re2 || !im2 || !pa || !pb) {
		fprintf(stderr, "xcorr: out of memory\n");
		goto out;
	}
	memcpy(re, a.s, a.n * sizeof(*re));
	memcpy(re2, b.s, b.n * sizeof(*re2));
	fft(re, im, n, 0);
	fft(re2, im2, n, 0);
	for (size_t k = 0; k < n; k++) {
		/* conj(A) * B */
		double r = re[k] * re2[k] + im[k] * im2[k];
		double m = re[k] * im2[k] - im[k] * re2[k];

		re[k] = r;
		im[k] = m;
	}
	fft(re, im, n, 1);

	/* c[lag] = sum_i a[i] * b[i + lag] */
	for (lag = -maxlag; lag <= maxlag; lag++) {
		long lo = lag < 0 ? -lag : 0;
		long hi =
		    (long)a.n < (long)b.n - lag ? (long)a.n : (long)b.n - lag;
		double c, ea, eb, corr;

		if (hi - lo < (long)min_overlap)
			continue;
		c = re[lag >= 0 ? (size_t)lag : n - (size_t)(-lag)];
		ea = pa[hi] - pa[lo];
		eb = pb[hi + lag] - pb[lo + lag];
		if (ea <= 1e-9 || eb <= 1e-9)
			continue;
		corr = c / sqrt(ea * eb);
		if (corr > best) {
			best = corr;
			best_lag = lag;
		}
	}
	if (best < -1.5) {
		fprintf(stderr,
		        "xcorr: no lag within %.0f ms overlaps enough "
		        "(%zu and %zu samples, need %zu) with signal in both\n",
		        max_lag_ms, a.n, b.n, min_overlap);
		goto out;
	}
	if (verbose) {
		fprintf(stderr,
		        "xcorr: ref %zu samples, test %zu samples, "
		        "rate %u, lag %ld samples\n",
		        a.n, b.n, a.rate, best_lag);
	}
	printf("lag_ms=%.1f corr=%.3f\n", (double)best_lag * 1000.0 / a.rate,
	       best);
	rc = 0;
out:
	free(a.s);
	free(b.s);
	free(re);
	free(im);
	free(re2);
	free(im2);
	free(pa);
	free(pb);
	return rc;
}
