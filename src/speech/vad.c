/*
 * DESIGN. The voice activity detector: a small learned model on
 * noise-normalised features, with the turn logic of Pipecat's VADAnalyzer
 * after it.
 *
 * Telephone speech is band-limited (300-3400 Hz), G.711-quantised and often
 * quiet, and the line adds hiss, hum and clicks; callers ring from streets,
 * cars and cafes. A fixed rule on one or two cues (the detector before this
 * one: periodicity and level over a noise floor) holds in line noise but
 * goes deaf when the noise is itself periodic or loud (an engine's
 * harmonics, other voices): measured on bench/vadset.c's set it found less
 * than half the speech at 5 dB SNR. What tells a caller from street, car or
 * cafe noise is the combination of many cues over a few hundred ms: where
 * in the spectrum the level rose above that band's noise, the spectral
 * shape, harmonicity, how fast the spectrum moves. A model weighs them;
 * hand-set thresholds cannot.
 *
 * Front end, per 20 ms frame (8 kHz; 16 kHz input is first decimated with
 * speexdsp): a 200 Hz high-pass (DC, hum, rumble), a 256-sample Hann
 * window (32 ms) and FFT, 16 mel-spaced band energies over 250-3600 Hz.
 * Each band's noise floor is the minimum of its smoothed level over the
 * last 1.6 s (minimum statistics: speech leaves gaps between syllables and
 * words where the floor shows, and a noise that rises is followed within
 * 1.6 s); a frame under LEVEL_GATE_DB (the echo guard's silence) leaves
 * the floors alone. The 38 features of a frame: the 16 band levels over
 * their floors (per-band SNR), the 16 band levels against their mean
 * (spectral shape), the frame's level and its SNR, periodicity (the peak
 * normalised autocorrelation at a pitch lag, at 4 kHz; see periodicity()),
 * spectral flatness, spectral flux, and how many of the last 10 frames
 * held their pitch still (to 0.02 semitone, 6 dB above the floor): a
 * tune's notes and a ringback hold it for their whole length, a voice's
 * pitch glides (the model started on tunes without it).
 *
 * The model: the features of this frame and of the frames 1, 2, 3, 5, 8 and
 * 12 before it (260 ms of context, causal), a 266-32-16-1 perceptron
 * (tanh, tanh, logistic), its weights in vad_model.h. bench/vad_train.c
 * learns them on the train split of bench/vadset.c's set only (synthetic
 * callers through a telephone channel in street, car, cafe, babble and
 * steady noise, with coughs, knocks, DTMF, tunes, hum, DC and noise steps
 * as negatives; the dev split calibrates, the test split only measures),
 * the first 100 ms of each utterance weighted up (the onset is when the
 * bridge pauses the agent), stretches of the echo guard's silence cut in,
 * with the input normalisation folded into the first layer;
 * bench/vad_train.sh reproduces them bit for bit. Its output is the
 * confidence; until START it is held over short breaks (it decays by
 * CONF_HOLD a frame rather than dropping), so a doubtful frame inside the
 * first word does not cancel the onset; in a turn, stop_secs spans the
 * breaks, and the confidence is the lower of two frames' so that a lone
 * confident frame in the noise after the voice does not delay its end. A frame under LEVEL_GATE_DB is not
 * asked: digital silence is not speech whatever the model would say.
 *
 * Why a learned model and not a library: Debian 12 has no libfvad;
 * WebRTC's GMM VAD (webrtc-audio-processing 0.3) is, in Silero's wiki,
 * good at telling noise from silence and poor at telling speech from
 * noise; speexdsp's preprocessor VAD thresholds its own SNR estimate, and
 * so is deaf where the detector before this one was. Silero itself needs
 * ONNX Runtime (tens of MB, threads of its own) on the media thread. This
 * model is 9 k weights in the source.
 *
 * The turn logic is unchanged: a frame is voiced when its confidence
 * reaches `confidence` and its volume `min_volume`; ONSET, START after
 * start_secs voiced, PAUSE, RESUME, STOP after stop_secs unvoiced. Up to
 * WITHHELD_MAX frames of digital silence inside an onset (the echo guard
 * withholding the caller's first words while the agent talks) neither
 * count nor cancel it.
 *
 * Cost: one FFT of 256, a pitch search of 120 dot products of 80 samples
 * at 4 kHz, 9 k multiply-adds for the model: about 14 us a frame, 0.7 ms
 * of CPU per second of audio on one core of the development machine
 * (Silero as LiveKit runs it: 4-5 ms; bench/README.md, "VAD"). Memory is
 * fixed per call: struct vad is 7.5 KiB (the windows, FFT tables, the
 * floors' minima, 16 frames of features) plus the frame scratch (0.6 KiB
 * at 8 kHz, 1.25 at 16) and speexdsp's resampler states (about 1 KiB at
 * 8 kHz); vad_process allocates nothing, takes no lock, never blocks.
 */
#include <errno.h>
#include <math.h>
#include <re.h>
#include <stdlib.h>
#include <string.h>
#include <speex/speex_resampler.h>

#include "speech/vad.h"

/* The model's weights, written by bench/vad_train.c. */
#include "speech/vad_model.h"

#define RATE8      8000
#define FRAME8     160
#define NFFT       256
#define NBANDS     16
#define BAND_LO_HZ 250.0
#define BAND_HI_HZ 3600.0

/* The pitch analysis rate and its windows, in samples at PITCH_RATE. */
#define PITCH_RATE 4000
#define WIN        80 /* one 20 ms frame */
#define LAG_MIN    10 /* 400 Hz: above any speaking voice */
#define LAG_MAX    67 /* 60 Hz: below the lowest male voices */
/* two frames, and lags LAG_MIN-1..LAG_MAX+1 so that every candidate has
 * two neighbours */
#define HIST (2 * WIN + LAG_MAX + 1)

/* The DC and rumble filter: 2nd-order Butterworth high-pass at 200 Hz. It
 * takes out a DC offset and cuts mains hum (50/60 Hz) by 21-24 dB; a phone
 * line carries nothing below 300 Hz to lose. */
#define HPF_HZ 200.0

/* speexdsp quality for the decimations: 2 keeps aliasing well below the
 * harmonics that set the period at a third of quality 3's cost. */
#define RESAMPLE_QUALITY 2
/* 16 kHz audio comes down to the model's 8 kHz at speexdsp's VoIP
 * quality: the model was trained on what a phone line carries up to
 * 3.6 kHz, and aliasing above would put energy where it never saw any. */
#define WIDE_QUALITY 5

/* Frame levels are clamped here: below G.711's quietest code. */
#define LEVEL_MIN_DB -100.0
/* A frame quieter than this is not speech, whatever its shape: 20 dB
 * under min_volume's default and any talker on a line; the model is not
 * asked (digital silence, a muted line). */
#define LEVEL_GATE_DB -72.0

/* The band levels are smoothed by this per frame before the floor takes
 * their minimum, so that the floor sits near a noise's mean rather than
 * its deepest 20 ms dip. */
#define BAND_SMOOTH 0.5
/* Minimum statistics: the floor is the least smoothed level over
 * FLOOR_BLOCKS blocks of FLOOR_BLOCK frames (1.6 s). */
#define FLOOR_BLOCK  10
#define FLOOR_BLOCKS 8
/* The floor goes no lower than this band level: about -80 dBFS of hiss,
 * G.711's quietest. Below it, the SNR of a voice would say more about the
 * line (digital silence or a hiss) than about the voice. */
#define FLOOR_MIN_DB -96.0f

/* Before START the confidence decays by this per frame rather than
 * dropping: a stop closure or a glottal catch makes one to three doubtful
 * frames inside a word, which would cancel the onset. 0.9 bridges three
 * (at the default confidence) and, on the dev split, brings the onset's
 * 90th percentile under 100 ms at 20 and 10 dB SNR for 0.01 of F1. */
#define CONF_HOLD 0.9

/* A voice's pitch glides all the time; a note from a tune holds still for
 * its whole length. A frame's pitch counts when its periodicity reaches
 * PITCH_SURE. */
#define PITCH_SURE 0.5
/* A pitch that moved less than PITCH_STILL semitones in a frame held
 * still: 3-5 % of a voice's pitched frames on the train split, 90 % of a
 * tune's. The model sees the share of the last STILL_FRAMES that did. */
#define PITCH_STILL  0.02
#define STILL_FRAMES 10
/* Only a frame this far above the line's floor counts as held still: a
 * line's hum is as steady as any note, and a caller who starts talking
 * over it must not look like a tune. */
#define STILL_SNR_DB 6.0f

/* An onset waits over at most this many frames of digital silence: the
 * echo guard withholds a caller's first words for as long as they are no
 * louder than the agent's echo could be, 200 ms in echo_guard_test's
 * caller over the agent. Longer, and the sound before was a click on a
 * muted line. */
#define WITHHELD_MAX 10

/* Feature history: a power of two above the oldest frame the model sees. */
#define FHIST 16

/* Pipecat's volume scale and its smoothing factor. */
#define VOLUME_DB_MIN   -110.0
#define VOLUME_DB_RANGE 100.0
#define VOLUME_RELEASE  0.2

#define FRAME_SECS 0.02
#define FRAME_MS   20
#define SECS_MAX   10.0

/* The frames before this one whose features the model sees. */
static const unsigned context_lag[VAD_CONTEXT] = {0, 1, 2, 3, 5, 8, 12};

enum vad_state {
	VAD_QUIET,
	VAD_STARTING,
	VAD_SPEAKING,
	VAD_STOPPING,
};

struct vad {
	struct vad_params prm;
	size_t frame; /* samples per frame at the input rate */
	unsigned start_frames, stop_frames;
	SpeexResamplerState *rs8; /* 16 kHz → 8 kHz; NULL at 8 kHz */
	SpeexResamplerState *rs4; /* 8 kHz → the pitch rate */

	double b0, b1, b2, a1, a2; /* high-pass biquad */
	double z1, z2;             /* its state (transposed direct form II) */
	bool primed;               /* the filter and floors have seen a frame */

	float win[NFFT]; /* the newest 32 ms at 8 kHz, high-passed */
	float hann[NFFT];
	float cosv[NFFT / 2], sinv[NFFT / 2]; /* FFT twiddles */
	uint8_t bitrev[NFFT];
	uint8_t band_edge[NBANDS + 1]; /* FFT bins */
	float
	    hist[HIST]; /* the high-passed signal at PITCH_RATE, newest last */

	float band_sm[NBANDS + 1]; /* smoothed levels (dB); [NBANDS] = all */
	float floor_min[FLOOR_BLOCKS][NBANDS + 1]; /* minima of past blocks */
	float cur_min[NBANDS + 1];                 /* of the current block */
	unsigned block_len, block_pos;
	float prev_band[NBANDS];

	float feat[FHIST][VAD_FEATURES]; /* the frames' features, a ring */
	unsigned feat_pos;
	double conf;
	double p_prev;   /* the model's output for the frame before */
	double prev_lag; /* the frame before's pitch lag; 0 = no clear pitch */
	uint16_t still;  /* a bit a frame, newest lowest: the pitch held */
	double volume;

	enum vad_state state;
	unsigned count;    /* frames in STARTING or STOPPING */
	unsigned withheld; /* frames of digital silence an onset waited over */

	float hp[]; /* frame scratch: the high-passed frame at the input rate */
};

void vad_params_default(struct vad_params *p)
{
	/* start_secs 0.2: ten voiced frames, longer than a click or the
	 * voiced part of a cough, shorter than one stressed syllable.
	 * stop_secs 0.3: longer than the gaps between words and the stop
	 * closures inside them (under 0.25 s), short enough to keep the
	 * agent's reply quick; Pipecat's 0.8 leaves the turn-end decision to
	 * a later stage, which this may grow. min_volume 0.6 and confidence
	 * 0.7 are Pipecat's: -50 dBFS is well under a quiet talker on a
	 * phone line (-35 to -25 dBFS) and above its idle noise; the model's
	 * output is calibrated so that 0.7 stands for the threshold chosen
	 * on the dev split (bench/vad_train.sh says how). */
	p->start_secs = 0.2;
	p->stop_secs = 0.3;
	p->min_volume = 0.6;
	p->confidence = 0.7;
}

static bool params_ok(const struct vad_params *p)
{
	/* written so that NaN fails every test */
	return p->start_secs >= 0 && p->start_secs <= SECS_MAX &&
	       p->stop_secs >= 0 && p->stop_secs <= SECS_MAX &&
	       p->min_volume >= 0 && p->min_volume <= 1 && p->confidence >= 0 &&
	       p->confidence <= 1;
}

static unsigned secs_to_frames(double secs)
{
	long n = lround(secs / FRAME_SECS);

	return n < 1 ? 1 : (unsigned)n;
}

/* The silence before STOP counts from where the voice ended, on average
 * half a frame into the last voiced frame: the fewest unvoiced frames
 * after it that make stop_secs from its middle (0.25 s: 12, 250 ms; the
 * 13 of a plain rounding waited 270 on average; 0.3 s: 15). In whole
 * milliseconds, so that no rounding of the seconds moves a frame. */
unsigned vad_stop_frames(double stop_secs)
{
	double ms = stop_secs > 0 && stop_secs <= SECS_MAX
	                ? floor(stop_secs * 1000 + 0.5)
	                : 0;
	unsigned n = ((unsigned)ms + FRAME_MS / 2 - 1) / FRAME_MS;

	return n < 1 ? 1 : n;
}

static void hpf_design(struct vad *v, uint32_t rate)
{
	double w0 = 2 * M_PI * HPF_HZ / rate;
	double alpha = sin(w0) * M_SQRT1_2; /* sin(w0) / 2Q, Q = 1/sqrt(2) */
	double a0 = 1 + alpha, c = cos(w0);

	v->b0 = (1 + c) / 2 / a0;
	v->b1 = -(1 + c) / a0;
	v->b2 = v->b0;
	v->a1 = -2 * c / a0;
	v->a2 = (1 - alpha) / a0;
}

static double mel(double hz)
{
	return 2595 * log10(1 + hz / 700);
}

static double mel_hz(double m)
{
	return 700 * (pow(10, m / 2595) - 1);
}

static void tables(struct vad *v)
{
	for (unsigned i = 0; i < NFFT; i++) {
		unsigned r = 0;

		for (unsigned b = 0; b < 8; b++)
			r |= ((i >> b) & 1) << (7 - b);
		v->bitrev[i] = (uint8_t)r;
		v->hann[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * i / NFFT));
	}
	for (unsigned i = 0; i < NFFT / 2; i++) {
		v->cosv[i] = (float)cos(2 * M_PI * i / NFFT);
		v->sinv[i] = (float)-sin(2 * M_PI * i / NFFT);
	}
	for (unsigned b = 0; b <= NBANDS; b++) {
		double m = mel(BAND_LO_HZ) +
		           (mel(BAND_HI_HZ) - mel(BAND_LO_HZ)) * b / NBANDS;
		unsigned k = (unsigned)lround(mel_hz(m) * NFFT / RATE8);

		/* every band at least one bin wide */
		if (b > 0 && k <= v->band_edge[b - 1])
			k = v->band_edge[b - 1] + 1u;
		v->band_edge[b] = (uint8_t)k;
	}
}

static void vad_destructor(void *arg)
{
	struct vad *v = arg;

	if (v->rs8)
		speex_resampler_destroy(v->rs8);
	if (v->rs4)
		speex_resampler_destroy(v->rs4);
}

static int resampler(SpeexResamplerState **rsp, uint32_t from, uint32_t to,
                     int quality)
{
	int err = 0;

	*rsp = speex_resampler_init(1, from, to, quality, &err);
	if (!*rsp)
		return err == RESAMPLER_ERR_ALLOC_FAILED ? ENOMEM : EINVAL;
	/* the output then lines up with the frame it came from */
	speex_resampler_skip_zeros(*rsp);
	return 0;
}

int vad_alloc(struct vad **vp, const struct vad_params *prm, uint32_t rate)
{
	struct vad_params def;
	struct vad *v;
	int err;

	if (!vp || (rate != 8000 && rate != 16000))
		return EINVAL;
	if (!prm) {
		vad_params_default(&def);
		prm = &def;
	}
	if (!params_ok(prm))
		return EINVAL;
	v = mem_zalloc(sizeof(*v) + rate / 50 * sizeof(v->hp[0]),
	               vad_destructor);
	if (!v)
		return ENOMEM;
	v->prm = *prm;
	v->frame = rate / 50;
	v->start_frames = secs_to_frames(prm->start_secs);
	v->stop_frames = vad_stop_frames(prm->stop_secs);
	hpf_design(v, rate);
	tables(v);
	err = rate == RATE8 ? 0 : resampler(&v->rs8, rate, RATE8, WIDE_QUALITY);
	if (!err)
		err = resampler(&v->rs4, RATE8, PITCH_RATE, RESAMPLE_QUALITY);
	if (err) {
		mem_deref(v);
		return err;
	}
	v->state = VAD_QUIET;
	*vp = v;
	return 0;
}

void vad_restart(struct vad *v)
{
	v->state = VAD_QUIET;
	v->count = 0;
	v->withheld = 0;
}

/* High-passes the frame into v->hp; returns its level in dBFS. */
static double highpass(struct vad *v, const int16_t *pcm)
{
	double ss = 0;

	if (!v->primed) {
		/* start as if the first sample had always been there, so a DC
		 * offset does not ring the filter */
		v->z2 = v->b2 * pcm[0];
		v->z1 = (v->b1 + v->b2) * pcm[0];
	}
	for (size_t i = 0; i < v->frame; i++) {
		double x = pcm[i], y = v->b0 * x + v->z1;

		v->z1 = v->b1 * x - v->a1 * y + v->z2;
		v->z2 = v->b2 * x - v->a2 * y;
		v->hp[i] = (float)y;
		ss += y * y;
	}
	/* keep the state out of subnormal numbers after a fade to silence */
	if (fabs(v->z1) < 1e-6 && fabs(v->z2) < 1e-6)
		v->z1 = v->z2 = 0;
	double db = 10 * log10(ss / v->frame / (32768.0 * 32768.0) + 1e-30);
	return db < LEVEL_MIN_DB ? LEVEL_MIN_DB : db;
}

/* The high-passed frame at 8 kHz into the window, and at the pitch rate
 * into the pitch history. */
static void shift_in(struct vad *v)
{
	float x8[FRAME8 * 2], x4[WIN * 2];
	const float *in = v->hp;
	spx_uint32_t in_len = (spx_uint32_t)v->frame, n8 = FRAME8, n4;

	if (v->rs8) {
		n8 = sizeof(x8) / sizeof(x8[0]);
		speex_resampler_process_float(v->rs8, 0, v->hp, &in_len, x8,
		                              &n8);
		in = x8;
	}
	if (n8 > NFFT)
		n8 = NFFT;
	memmove(v->win, v->win + n8, (NFFT - n8) * sizeof(v->win[0]));
	memcpy(v->win + NFFT - n8, in, n8 * sizeof(in[0]));

	in_len = n8;
	n4 = sizeof(x4) / sizeof(x4[0]);
	speex_resampler_process_float(v->rs4, 0, in, &in_len, x4, &n4);
	memmove(v->hist, v->hist + n4, (HIST - n4) * sizeof(v->hist[0]));
	memcpy(v->hist + HIST - n4, x4, n4 * sizeof(x4[0]));
}

/* The window's power spectrum into pw[0..NFFT/2]: an in-place radix-2
 * FFT of the Hann-windowed samples. */
static void spectrum(const struct vad *v, float pw[NFFT / 2 + 1])
{
	float re[NFFT], im[NFFT];

	for (unsigned i = 0; i < NFFT; i++) {
		re[v->bitrev[i]] = v->win[i] * v->hann[i];
		im[v->bitrev[i]] = 0;
	}
	for (unsigned len = 2; len <= NFFT; len <<= 1) {
		unsigned half = len / 2, step = NFFT / len;

		for (unsigned i = 0; i < NFFT; i += len)
			for (unsigned j = 0; j < half; j++) {
				float wr = v->cosv[j * step],
				      wi = v->sinv[j * step];
				unsigned a = i + j, b = a + half;
				float tr = re[b] * wr - im[b] * wi;
				float ti = re[b] * wi + im[b] * wr;

				re[b] = re[a] - tr;
				im[b] = im[a] - ti;
				re[a] += tr;
				im[a] += ti;
			}
	}
	for (unsigned k = 0; k <= NFFT / 2; k++)
		pw[k] = re[k] * re[k] + im[k] * im[k];
}

static double ncc(double xy, double xx, double yy)
{
	return xx > 1e-3 && yy > 1e-3 ? xy / sqrt(xx * yy) : 0;
}

/*
 * The highest peak of the normalised cross-correlation between the newest
 * samples and the history LAG_MIN..LAG_MAX samples earlier, over two
 * windows: this frame (20 ms), which follows a fast pitch glide, and this
 * frame with the one before (40 ms), which rides over a one-frame break in
 * voicing (a stop burst, a glottal catch). The 40 ms sums are the two
 * frames' 20 ms sums, so the second window costs nothing. Only a local
 * maximum counts: a slow wave (hum's fundamental, a DC step) slopes across
 * the whole range without one.
 */
static double periodicity(const struct vad *v, double *lag_out)
{
	const float *x = v->hist + HIST - 2 * WIN; /* [0, WIN) the frame
	                                              before, then this one */
	double r[LAG_MAX + 2], xx[2] = {0, 0}, yy[2] = {0, 0}, best = 0;

	for (int h = 0; h < 2; h++)
		for (int i = 0; i < WIN; i++) {
			double y = x[h * WIN + i - (LAG_MIN - 1)];

			xx[h] += (double)x[h * WIN + i] * x[h * WIN + i];
			yy[h] += y * y;
		}
	*lag_out = 0;
	if (xx[1] < 1e-3)
		return 0;
	for (int lag = LAG_MIN - 1; lag <= LAG_MAX + 1; lag++) {
		double xy[2], r20, r40;

		for (int h = 0; h < 2 && lag > LAG_MIN - 1; h++) {
			/* slide the lagged window one sample back */
			const float *y = x + h * WIN - lag;

			yy[h] += (double)y[0] * y[0] - (double)y[WIN] * y[WIN];
			if (yy[h] < 0)
				yy[h] = 0;
		}
		for (int h = 0; h < 2; h++) {
			const float *xh = x + h * WIN, *y = xh - lag;
			float part[8] = {0};

			/* eight running sums, so the compiler can use vector
			 * lanes */
			for (int i = 0; i < WIN; i += 8)
				for (int j = 0; j < 8; j++)
					part[j] += xh[i + j] * y[i + j];
			xy[h] = 0;
			for (int j = 0; j < 8; j++)
				xy[h] += part[j];
		}
		r20 = ncc(xy[1], xx[1], yy[1]);
		r40 = ncc(xy[0] + xy[1], xx[0] + xx[1], yy[0] + yy[1]);
		r[lag] = r20 > r40 ? r20 : r40;
	}
	*lag_out = 0;
	for (int lag = LAG_MIN; lag <= LAG_MAX; lag++)
		if (r[lag] > best && r[lag] >= r[lag - 1] &&
		    r[lag] >= r[lag + 1]) {
			/* the peak's vertex, for a period finer than a
			 * sample at 4 kHz (a 200 Hz voice: 20 samples) */
			double c = r[lag - 1] - 2 * r[lag] + r[lag + 1];

			best = r[lag];
			*lag_out =
			    lag +
			    (c < 0 ? 0.5 * (r[lag - 1] - r[lag + 1]) / c : 0);
		}
	return best;
}

static enum vad_event step(struct vad *v, bool voiced)
{
	switch (v->state) {
	case VAD_QUIET:
		if (!voiced)
			return VAD_EVENT_NONE;
		if (v->start_frames <= 1) {
			v->state = VAD_SPEAKING;
			return VAD_EVENT_START;
		}
		v->state = VAD_STARTING;
		v->count = 1;
		return VAD_EVENT_ONSET;
	case VAD_STARTING:
		if (!voiced) {
			v->state = VAD_QUIET;
			return VAD_EVENT_CANCEL;
		}
		if (++v->count < v->start_frames)
			return VAD_EVENT_NONE;
		v->state = VAD_SPEAKING;
		return VAD_EVENT_START;
	case VAD_SPEAKING:
	case VAD_STOPPING:
		if (voiced) {
			bool resumed = v->state == VAD_STOPPING;

			v->state = VAD_SPEAKING;
			return resumed ? VAD_EVENT_RESUME : VAD_EVENT_NONE;
		}
		v->count = v->state == VAD_SPEAKING ? 1 : v->count + 1;
		v->state = VAD_STOPPING;
		if (v->count < v->stop_frames)
			return v->count == 1 ? VAD_EVENT_PAUSE : VAD_EVENT_NONE;
		v->state = VAD_QUIET;
		return VAD_EVENT_STOP;
	}
	return VAD_EVENT_NONE;
}

/* Full scale: a full-scale sine's bin in the Hann-windowed FFT. */
#define REF_POWER ((32768.0 * NFFT / 4) * (32768.0 * NFFT / 4))

static float clampf(float x, float lo, float hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* Whether the pitch held still since the frame before, into v->still
 * (see DESIGN). */
static void pitch_still(struct vad *v, double periodic, double lag,
                        float snr_db)
{
	bool sure = periodic >= PITCH_SURE && lag > 0, still = false;

	if (sure && v->prev_lag > 0 && snr_db > STILL_SNR_DB)
		still = fabs(12 * log2(lag / v->prev_lag)) < PITCH_STILL;
	v->prev_lag = sure ? lag : 0;
	v->still = (uint16_t)(v->still << 1 | still);
}

static unsigned bits(unsigned x)
{
	unsigned n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

/* This frame's features into the history (see DESIGN). A frame under
 * LEVEL_GATE_DB (the echo guard's silence, a muted line) leaves the noise
 * floors where they were: it says nothing about the line's noise, and a
 * floor dragged down to digital silence would make the noise that comes
 * back after it look like a voice for the floor's 1.6 s. */
static void features(struct vad *v, double periodic, double lag, bool gated)
{
	float pw[NFFT / 2 + 1], lev[NBANDS + 1], floor_db[NBANDS + 1];
	float *f = v->feat[v->feat_pos = (v->feat_pos + 1) & (FHIST - 1)];
	double tot = 0, mean = 0, lin_mean = 0, flux = 0;
	unsigned tot_bins = 0;

	spectrum(v, pw);
	for (unsigned b = 0; b < NBANDS; b++) {
		unsigned nb = v->band_edge[b + 1] - v->band_edge[b];
		double e = 0;

		for (unsigned k = v->band_edge[b]; k < v->band_edge[b + 1]; k++)
			e += pw[k];
		tot += e;
		tot_bins += nb;
		e /= nb * REF_POWER;
		lev[b] = (float)(10 * log10(e + 1e-12));
		mean += lev[b];
		lin_mean += e;
	}
	lev[NBANDS] = (float)(10 * log10(tot / tot_bins / REF_POWER + 1e-12));
	mean /= NBANDS;
	lin_mean /= NBANDS;

	if (!v->primed) {
		for (unsigned i = 0; i <= NBANDS; i++) {
			v->band_sm[i] = v->cur_min[i] = lev[i];
			for (unsigned k = 0; k < FLOOR_BLOCKS; k++)
				v->floor_min[k][i] = lev[i];
		}
		memcpy(v->prev_band, lev, sizeof(v->prev_band));
	}
	for (unsigned i = 0; i <= NBANDS; i++) {
		float m;

		if (!gated) {
			v->band_sm[i] +=
			    (float)BAND_SMOOTH * (lev[i] - v->band_sm[i]);
			if (v->band_sm[i] < v->cur_min[i])
				v->cur_min[i] = v->band_sm[i];
		}
		m = v->cur_min[i];
		for (unsigned k = 0; k < FLOOR_BLOCKS; k++)
			if (v->floor_min[k][i] < m)
				m = v->floor_min[k][i];
		/* a digital line's silence is no deeper a floor than the
		 * quietest line's hiss */
		floor_db[i] = m > FLOOR_MIN_DB ? m : FLOOR_MIN_DB;
	}
	if (!gated && ++v->block_len == FLOOR_BLOCK) {
		memcpy(v->floor_min[v->block_pos], v->cur_min,
		       sizeof(v->cur_min));
		v->block_pos = (v->block_pos + 1) % FLOOR_BLOCKS;
		v->block_len = 0;
		memcpy(v->cur_min, v->band_sm, sizeof(v->cur_min));
	}

	for (unsigned b = 0; b < NBANDS; b++) {
		float d = lev[b] - v->prev_band[b];

		flux += d > 0 ? d : 0;
		f[b] = clampf((lev[b] - floor_db[b]) / 20, -1, 3);
		f[NBANDS + b] = (float)((lev[b] - mean) / 20);
	}
	memcpy(v->prev_band, lev, sizeof(v->prev_band));
	f[2 * NBANDS] = (lev[NBANDS] + 50) / 20;
	f[2 * NBANDS + 1] =
	    clampf((lev[NBANDS] - floor_db[NBANDS]) / 20, -1, 3);
	f[2 * NBANDS + 2] = (float)periodic;
	f[2 * NBANDS + 3] = (float)((mean - 10 * log10(lin_mean + 1e-12)) / 10);
	f[2 * NBANDS + 4] = clampf((float)(flux / NBANDS / 10), 0, 3);
	pitch_still(v, periodic, lag, lev[NBANDS] - floor_db[NBANDS]);
	f[2 * NBANDS + 5] =
	    (float)bits(v->still & ((1u << STILL_FRAMES) - 1)) / STILL_FRAMES;
}

/* The front end for one heard frame: returns its level (dBFS) and fills
 * the model's input. */
static double front(struct vad *v, const int16_t *pcm,
                    float in[VAD_MODEL_INPUTS])
{
	double level = highpass(v, pcm), lag, periodic;

	shift_in(v);
	periodic = periodicity(v, &lag);
	features(v, periodic, lag, v->primed && level < LEVEL_GATE_DB);
	v->primed = true;
	for (unsigned c = 0; c < VAD_CONTEXT; c++)
		memcpy(in + c * VAD_FEATURES,
		       v->feat[(v->feat_pos - context_lag[c]) & (FHIST - 1)],
		       VAD_FEATURES * sizeof(float));
	return level;
}

_Static_assert(VAD_MODEL_IN == VAD_MODEL_INPUTS,
               "vad_model.h was trained on other features");

static double model(const float in[VAD_MODEL_INPUTS])
{
	float h1[VAD_MODEL_H1], h2[VAD_MODEL_H2];
	double z = vad_model_b3;

	for (unsigned j = 0; j < VAD_MODEL_H1; j++) {
		float s = vad_model_b1[j];

		for (unsigned i = 0; i < VAD_MODEL_IN; i++)
			s += vad_model_w1[j][i] * in[i];
		h1[j] = tanhf(s);
	}
	for (unsigned j = 0; j < VAD_MODEL_H2; j++) {
		float s = vad_model_b2[j];

		for (unsigned i = 0; i < VAD_MODEL_H1; i++)
			s += vad_model_w2[j][i] * h1[i];
		h2[j] = tanhf(s);
	}
	for (unsigned j = 0; j < VAD_MODEL_H2; j++)
		z += vad_model_w3[j] * h2[j];
	return 1 / (1 + exp(-z));
}

bool vad_model_input(struct vad *v, const int16_t *pcm, size_t n,
                     float in[VAD_MODEL_INPUTS])
{
	if (!v || !in || !pcm || n != v->frame)
		return false;
	(void)front(v, pcm, in);
	return true;
}

static double clamp01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
}

void vad_process(struct vad *v, const int16_t *pcm, size_t n,
                 struct vad_frame *out)
{
	float in[VAD_MODEL_INPUTS];
	double level = LEVEL_MIN_DB, p = 0, vol;
	bool heard = pcm && n == v->frame, silent, expired;

	if (heard) {
		level = front(v, pcm, in);
		p = level < LEVEL_GATE_DB ? 0 : model(in);
	}
	/* Digital silence inside an onset is the echo guard withholding
	 * the line (the agent was talking): it tells nothing of the caller,
	 * so the onset waits over it (WITHHELD_MAX) rather than ending; and
	 * when it has waited that long, the silence ends it at once, whatever
	 * the confidence and volume held from before. */
	silent = heard && level < LEVEL_GATE_DB;
	if (silent && v->state == VAD_STARTING && v->withheld < WITHHELD_MAX) {
		v->withheld++;
		out->confidence = 0;
		out->volume = v->volume;
		out->voiced = false;
		out->event = VAD_EVENT_NONE;
		out->speaking = false;
		return;
	}
	expired = silent && v->state == VAD_STARTING;
	v->withheld = 0;
	/* Before START the confidence decays rather than drops (CONF_HOLD),
	 * so a dip inside the first word does not cancel the onset. In a
	 * turn it is the lower of this frame's and the last: stop_secs
	 * already spans the dips, and after the voice ends a lone confident
	 * frame in the noise must not put the turn's end later. */
	if (v->state == VAD_QUIET || v->state == VAD_STARTING)
		v->conf = fmax(p, v->conf * CONF_HOLD);
	else
		v->conf = fmin(p, v->p_prev);
	v->p_prev = p;

	vol = clamp01((level - VOLUME_DB_MIN) / VOLUME_DB_RANGE);
	if (vol > v->volume)
		v->volume = vol;
	else
		v->volume += VOLUME_RELEASE * (vol - v->volume);

	out->confidence = heard ? v->conf : 0;
	out->volume = v->volume;
	/* an unheard frame is unvoiced (vad.h) even with both thresholds
	 * at 0 */
	out->voiced = heard && !expired &&
	              out->confidence >= v->prm.confidence &&
	              v->volume >= v->prm.min_volume;
	out->event = step(v, out->voiced);
	out->speaking = v->state == VAD_SPEAKING || v->state == VAD_STOPPING;
}
