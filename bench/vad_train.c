/*
 * vad_train SETDIR OUT.h [--epochs N] [--threshold T] [--onset-weight W]
 * [--gaps SHARE] [--subsample K]: learns the VAD's
 * model (src/speech/vad_model.h) on the train split of the set
 * bench/vadset.c writes, checking it on the dev split. The test split is
 * never read. bench/vad_train.sh runs it.
 *
 * The inputs are what the VAD computes (vad_model_input, so training and
 * use cannot drift apart), over every frame of the train split's speech
 * clips (clean and noisy) and non-speech clips, each clip at a random gain
 * of -10..+6 dB so that the model does not learn the set's levels. Echo
 * clips are left out: echo is the echo guard's job, and to the VAD alone
 * the agent's echo is a quiet voice, which it must hear. A frame's target
 * is the share of its two 10 ms labels that are speech; non-speech clips
 * weigh 6 times as much, as they are few and a false start on a cough or
 * DTMF costs a barge-in. The first 100 ms of each utterance (after 200 ms
 * without speech) weigh onset_weight (3) times as much: the onset is when
 * the bridge pauses the agent, and a model that waits for the loud part of
 * a word hears the caller late. In 30 % of the speech clips (--gaps),
 * stretches of digital silence are cut in as the echo guard withholds
 * frames while the agent talks: before half the utterances (2-12 frames
 * ending 0-3 frames into it) and now and then anywhere (3-12 frames); the
 * silenced frames are not trained on (the VAD does not ask the model about
 * them), what follows them is, so a caller heard out of the guard's
 * silence is heard at once.
 *
 * The model: inputs normalised to zero mean and unit variance over the
 * train split, 32 tanh, 16 tanh, one logistic output; weighted binary
 * cross-entropy, Adam (lr 1e-3 halved every 3 epochs, batches of 256),
 * fixed seeds. Afterwards the output is calibrated on dev: the threshold
 * with the best frame F2 there (recall weighted: a late onset lets the
 * agent talk over the caller; or --threshold) is moved to 0.7, the
 * default vad_confidence, by shifting the output's bias. The normalisation
 * is folded into the first layer, and the weights are written as C.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>

#include "media/wav.h"
#include "speech/vad.h"

#define RATE  8000
#define FRAME 160
#define NI    VAD_MODEL_INPUTS
#define H1    32
#define H2    16
#define BATCH 256

struct data {
	float *x; /* n x NI */
	float *y, *w;
	size_t n, cap;
};

static uint64_t rng_s = 88172645463325252ull;
/* --subsample K: one speech clip in K, to try things quickly */
static unsigned subsample = 1;

static double uni(void)
{
	rng_s ^= rng_s >> 12;
	rng_s ^= rng_s << 25;
	rng_s ^= rng_s >> 27;
	return (double)((rng_s * 0x2545F4914F6CDD1Dull) >> 11) /
	       9007199254740992.0;
}

static void *xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p) {
		fprintf(stderr, "vad_train: out of memory\n");
		exit(1);
	}
	return p;
}

static void data_add(struct data *d, const float *x, float y, float w)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 65536;
		d->x = realloc(d->x, d->cap * NI * sizeof(float));
		d->y = realloc(d->y, d->cap * sizeof(float));
		d->w = realloc(d->w, d->cap * sizeof(float));
		if (!d->x || !d->y || !d->w) {
			fprintf(stderr, "vad_train: out of memory\n");
			exit(1);
		}
	}
	memcpy(d->x + d->n * NI, x, NI * sizeof(float));
	d->y[d->n] = y;
	d->w[d->n] = w;
	d->n++;
}

/* An utterance's first ONSET_FRAMES frames, after ONSET_QUIET frames
 * without speech, weigh onset_weight times as much (see the header). */
#define ONSET_FRAMES 5
#define ONSET_QUIET  10
static float onset_weight = 3;
/* Non-speech clips weigh this much (see the header). */
static float nonspeech_weight = 6;
/* The share of the train split's speech clips with stretches of digital
 * silence cut in, as the echo guard withholds frames (see the header). */
static double gap_share = 0.3;

static unsigned pick(unsigned n)
{
	unsigned k = (unsigned)(uni() * n);

	return k < n ? k : n - 1;
}

static void zero_frames(int16_t *pcm, float *w, size_t nf, size_t from,
                        size_t to)
{
	for (size_t k = from; k < to && k < nf; k++) {
		memset(pcm + k * FRAME, 0, FRAME * sizeof(*pcm));
		w[k] = 0;
	}
}

static void load_clip(const char *dir, const char *wav, const char *lab,
                      double gain_db, float weight, bool augment,
                      struct data *d)
{
	char path[1024], *labs = NULL;
	int16_t *pcm = NULL;
	size_t n = 0;
	const char *why = NULL;
	struct vad *v = NULL;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/%s", dir, wav);
	if (wav_load(path, RATE, &pcm, &n, &why)) {
		fprintf(stderr, "vad_train: %s: %s\n", path, why ? why : "");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, lab);
	f = fopen(path, "r");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "vad_train: cannot read %s\n", path);
		exit(1);
	}
	labs = xalloc((size_t)len + 1);
	if (fread(labs, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "vad_train: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	double g = pow(10, gain_db / 20);
	for (size_t i = 0; i < n; i++) {
		double s = round(pcm[i] * g);
		pcm[i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
	}
	size_t nf = n / FRAME < (size_t)len / 2 ? n / FRAME : (size_t)len / 2;
	float *y = xalloc((nf + 1) * sizeof(float)),
	      *w = xalloc((nf + 1) * sizeof(float));
	bool *onset = xalloc((nf + 1) * sizeof(bool)), any = false;
	unsigned quiet = ONSET_QUIET;
	for (size_t k = 0; k < nf; k++) {
		y[k] = ((labs[2 * k] == '1') + (labs[2 * k + 1] == '1')) / 2.0f;
		w[k] = weight;
		if (y[k] > 0) {
			onset[k] = quiet >= ONSET_QUIET;
			quiet = 0;
			any = true;
		} else {
			quiet++;
		}
	}
	if (augment)
		for (size_t k = 0; k < nf; k++)
			if (onset[k])
				for (size_t j = k;
				     j < k + ONSET_FRAMES && j < nf; j++)
					w[j] *= onset_weight;
	/* the echo guard's gaps: before half the utterances (the caller
	 * talking over the agent's last words), and now and then anywhere */
	if (augment && any && uni() < gap_share)
		for (size_t k = 0; k < nf; k++) {
			if (onset[k] && uni() < 0.5) {
				size_t pre = 2 + pick(11), post = pick(4);

				zero_frames(pcm, w, nf, k > pre ? k - pre : 0,
				            k + post);
				k += post;
			} else if (uni() < 1.0 / 75) {
				size_t l = 3 + pick(10);

				zero_frames(pcm, w, nf, k, k + l);
				k += l;
			}
		}
	if (vad_alloc(&v, NULL, RATE))
		exit(1);
	for (size_t k = 0; k < nf; k++) {
		float x[NI];

		if (!vad_model_input(v, pcm + k * FRAME, FRAME, x))
			continue;
		if (w[k] > 0)
			data_add(d, x, y[k], w[k]);
	}
	free(y);
	free(w);
	free(onset);
	mem_deref(v);
	free(pcm);
	free(labs);
}

static void load_split(const char *dir, const char *split, bool augment,
                       struct data *d)
{
	char path[1024], line[2048];
	unsigned nspeech = 0;
	FILE *m;

	snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
	m = fopen(path, "r");
	if (!m) {
		fprintf(stderr, "vad_train: cannot read %s\n", path);
		exit(1);
	}
	while (fgets(line, sizeof(line), m)) {
		char *f[8], *save = NULL, *p = line;
		int nf = 0;

		line[strcspn(line, "\n")] = 0;
		while (nf < 8 && (f[nf] = strtok_r(p, "\t", &save)))
			nf++, p = NULL;
		if (nf != 8 || strcmp(f[0], split) || !strcmp(f[2], "echo"))
			continue;
		bool nonspeech = !strcmp(f[2], "nonspeech");
		if (!nonspeech && subsample > 1 && nspeech++ % subsample)
			continue;
		double gain = augment ? -10 + 16 * uni() : 0;
		load_clip(dir, f[5], f[6], gain,
		          nonspeech ? nonspeech_weight : 1.0f,
		          augment && !nonspeech, d);
	}
	fclose(m);
}

struct net {
	float w1[H1][NI], b1[H1], w2[H2][H1], b2[H2], w3[H2], b3;
};

#define NPARAM (sizeof(struct net) / sizeof(float))

static double forward(const struct net *m, const float *x, float *h1, float *h2)
{
	double z = m->b3;

	for (int j = 0; j < H1; j++) {
		float s = m->b1[j];

		for (int i = 0; i < NI; i++)
			s += m->w1[j][i] * x[i];
		h1[j] = tanhf(s);
	}
	for (int j = 0; j < H2; j++) {
		float s = m->b2[j];

		for (int i = 0; i < H1; i++)
			s += m->w2[j][i] * h1[i];
		h2[j] = tanhf(s);
	}
	for (int j = 0; j < H2; j++)
		z += m->w3[j] * h2[j];
	return z;
}

static double sigmoid(double z)
{
	return 1 / (1 + exp(-z));
}

/* Weighted cross-entropy and frame F1 at threshold 0.5 over d. */
static void evaluate(const struct net *m, const struct data *d, double *loss,
                     double *f1, double *pz)
{
	double l = 0, ws = 0, tp = 0, fp = 0, fn = 0;
	float h1[H1], h2[H2];

	for (size_t k = 0; k < d->n; k++) {
		double z = forward(m, d->x + k * NI, h1, h2), p = sigmoid(z);
		double y = d->y[k];

		if (pz)
			pz[k] = p;
		l -=
		    d->w[k] * (y * log(p + 1e-9) + (1 - y) * log(1 - p + 1e-9));
		ws += d->w[k];
		if (y >= 0.5 && p >= 0.5)
			tp++;
		else if (y < 0.5 && p >= 0.5)
			fp++;
		else if (y >= 0.5)
			fn++;
	}
	*loss = l / ws;
	*f1 = 2 * tp / (2 * tp + fp + fn + 1e-9);
}

static void write_floats(FILE *f, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%.7g", i ? ", " : "", x[i]);
}

int main(int argc, char **argv)
{
	struct data tr = {0}, dv = {0};
	int epochs = 9;
	double threshold = -1;
	float *mean, *sd;

	if (argc < 3) {
		fprintf(stderr, "usage: vad_train SETDIR OUT.h [--epochs N] "
		                "[--threshold T] [--onset-weight W] "
		                "[--gaps SHARE] [--subsample K]\n");
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--epochs"))
			epochs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--threshold"))
			threshold = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--subsample"))
			subsample = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--onset-weight"))
			onset_weight = (float)atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--nonspeech-weight"))
			nonspeech_weight = (float)atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--gaps"))
			gap_share = atof(argv[i + 1]);
		else {
			fprintf(stderr, "vad_train: bad option %s\n", argv[i]);
			return 2;
		}
	}
	load_split(argv[1], "train", true, &tr);
	load_split(argv[1], "dev", false, &dv);
	fprintf(stderr, "vad_train: %zu train frames, %zu dev frames\n", tr.n,
	        dv.n);
	if (!tr.n || !dv.n)
		return 1;

	/* normalisation over train */
	mean = xalloc(NI * sizeof(float));
	sd = xalloc(NI * sizeof(float));
	for (int i = 0; i < NI; i++) {
		double s = 0, ss = 0;

		for (size_t k = 0; k < tr.n; k++)
			s += tr.x[k * NI + i];
		s /= tr.n;
		for (size_t k = 0; k < tr.n; k++) {
			double e = tr.x[k * NI + i] - s;
			ss += e * e;
		}
		mean[i] = (float)s;
		sd[i] = (float)sqrt(ss / tr.n + 1e-8);
	}
	for (struct data *d = &tr; d; d = d == &tr ? &dv : NULL)
		for (size_t k = 0; k < d->n; k++)
			for (int i = 0; i < NI; i++)
				d->x[k * NI + i] =
				    (d->x[k * NI + i] - mean[i]) / sd[i];

	struct net *m = xalloc(sizeof(*m)), *g = xalloc(sizeof(*m));
	float *am = xalloc(sizeof(*m)), *av = xalloc(sizeof(*m));
	for (int j = 0; j < H1; j++)
		for (int i = 0; i < NI; i++)
			m->w1[j][i] =
			    (float)((uni() * 2 - 1) * sqrt(6.0 / (NI + H1)));
	for (int j = 0; j < H2; j++)
		for (int i = 0; i < H1; i++)
			m->w2[j][i] =
			    (float)((uni() * 2 - 1) * sqrt(6.0 / (H1 + H2)));
	for (int j = 0; j < H2; j++)
		m->w3[j] = (float)((uni() * 2 - 1) * sqrt(6.0 / (H2 + 1)));

	size_t *order = xalloc(tr.n * sizeof(size_t));
	for (size_t k = 0; k < tr.n; k++)
		order[k] = k;
	double lr = 1e-3, b1p = 1, b2p = 1;
	for (int ep = 0; ep < epochs; ep++) {
		if (ep && ep % 3 == 0)
			lr /= 2;
		for (size_t k = tr.n - 1; k > 0; k--) {
			size_t j = (size_t)(uni() * (k + 1));
			size_t t = order[k];

			if (j > k)
				j = k;
			order[k] = order[j];
			order[j] = t;
		}
		for (size_t b0 = 0; b0 < tr.n; b0 += BATCH) {
			size_t b1 = b0 + BATCH < tr.n ? b0 + BATCH : tr.n;
			float h1[H1], h2[H2], d2[H2], d1[H1];

			memset(g, 0, sizeof(*g));
			for (size_t bi = b0; bi < b1; bi++) {
				size_t k = order[bi];
				const float *x = tr.x + k * NI;
				double p = sigmoid(forward(m, x, h1, h2));
				float dz = (float)(tr.w[k] * (p - tr.y[k]));

				g->b3 += dz;
				for (int j = 0; j < H2; j++) {
					g->w3[j] += dz * h2[j];
					d2[j] =
					    dz * m->w3[j] * (1 - h2[j] * h2[j]);
					g->b2[j] += d2[j];
				}
				for (int i = 0; i < H1; i++)
					d1[i] = 0;
				for (int j = 0; j < H2; j++)
					for (int i = 0; i < H1; i++) {
						g->w2[j][i] += d2[j] * h1[i];
						d1[i] += d2[j] * m->w2[j][i];
					}
				for (int j = 0; j < H1; j++) {
					float dj = d1[j] * (1 - h1[j] * h1[j]);

					g->b1[j] += dj;
					for (int i = 0; i < NI; i++)
						g->w1[j][i] += dj * x[i];
				}
			}
			/* Adam */
			float *pm = (float *)m, *pg = (float *)g;
			float scale = 1.0f / (float)(b1 - b0);
			b1p *= 0.9;
			b2p *= 0.999;
			for (size_t i = 0; i < NPARAM; i++) {
				float gi = pg[i] * scale;

				am[i] = 0.9f * am[i] + 0.1f * gi;
				av[i] = 0.999f * av[i] + 0.001f * gi * gi;
				pm[i] -=
				    (float)(lr * (am[i] / (1 - b1p)) /
				            (sqrt(av[i] / (1 - b2p)) + 1e-8));
			}
		}
		double tl, tf, dl, df;
		evaluate(m, &tr, &tl, &tf, NULL);
		evaluate(m, &dv, &dl, &df, NULL);
		fprintf(stderr,
		        "vad_train: epoch %d: train loss %.4f F1 %.4f, dev "
		        "loss %.4f F1 %.4f\n",
		        ep + 1, tl, tf, dl, df);
	}

	/* calibration on dev */
	double *pz = xalloc(dv.n * sizeof(double)), l, f1;
	evaluate(m, &dv, &l, &f1, pz);
	if (threshold <= 0 || threshold >= 1) {
		double best = -1;

		for (double t = 0.05; t < 0.96; t += 0.025) {
			double tp = 0, fp = 0, fn = 0;

			for (size_t k = 0; k < dv.n; k++) {
				bool y = dv.y[k] >= 0.5, p = pz[k] >= t;

				tp += y && p;
				fp += !y && p;
				fn += y && !p;
			}
			/* F2: a missed or late onset (the agent talks over the
			 * caller) costs more than a frame of noise taken for
			 * speech, which start_secs then still has to outlast */
			double f = 5 * tp / (5 * tp + 4 * fn + fp + 1e-9);
			if (f > best) {
				best = f;
				threshold = t;
			}
		}
		fprintf(stderr,
		        "vad_train: dev frame F2 %.4f at threshold %.3f\n",
		        best, threshold);
	}
	m->b3 += (float)(log(0.7 / 0.3) - log(threshold / (1 - threshold)));

	/* fold the normalisation into the first layer */
	for (int j = 0; j < H1; j++) {
		double b = m->b1[j];

		for (int i = 0; i < NI; i++) {
			m->w1[j][i] /= sd[i];
			b -= m->w1[j][i] * mean[i];
		}
		m->b1[j] = (float)b;
	}

	FILE *f = fopen(argv[2], "w");
	if (!f) {
		fprintf(stderr, "vad_train: cannot write %s\n", argv[2]);
		return 1;
	}
	fprintf(
	    f,
	    "/*\n * The VAD's model (vad.c, DESIGN), written by "
	    "bench/vad_train.c from the\n * train split of "
	    "bench/vadset.c's set (bench/vad_train.sh); do not edit.\n"
	    " * %zu train frames, %d epochs; dev: loss %.4f, frame F1 "
	    "%.4f at\n * 0.5 before calibration; the best F2 at %.3f, moved "
	    "to 0.7.\n */\n"
	    "#ifndef VOXGATE_SPEECH_VAD_MODEL_H\n"
	    "#define VOXGATE_SPEECH_VAD_MODEL_H\n\n"
	    "#define VAD_MODEL_IN %d\n#define VAD_MODEL_H1 %d\n"
	    "#define VAD_MODEL_H2 %d\n\n",
	    tr.n, epochs, l, f1, threshold, NI, H1, H2);
	fprintf(f, "static const float vad_model_w1[VAD_MODEL_H1]"
	           "[VAD_MODEL_IN] = {\n");
	for (int j = 0; j < H1; j++) {
		fprintf(f, "    {");
		write_floats(f, m->w1[j], NI);
		fprintf(f, "},\n");
	}
	fprintf(f, "};\nstatic const float vad_model_b1[VAD_MODEL_H1] = {");
	write_floats(f, m->b1, H1);
	fprintf(f, "};\nstatic const float vad_model_w2[VAD_MODEL_H2]"
	           "[VAD_MODEL_H1] = {\n");
	for (int j = 0; j < H2; j++) {
		fprintf(f, "    {");
		write_floats(f, m->w2[j], H1);
		fprintf(f, "},\n");
	}
	fprintf(f, "};\nstatic const float vad_model_b2[VAD_MODEL_H2] = {");
	write_floats(f, m->b2, H2);
	fprintf(f, "};\nstatic const float vad_model_w3[VAD_MODEL_H2] = {");
	write_floats(f, m->w3, H2);
	fprintf(f, "};\nstatic const float vad_model_b3 = %.7g;\n\n#endif\n",
	        m->b3);
	return fclose(f) ? 1 : 0;
}
