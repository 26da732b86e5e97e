/*
 * The voice activity detector.
 *
 * Telephone speech is band-limited (300-3400 Hz), G.711-quantised and often
 * quiet, and the line adds hiss, hum, rumble, clicks and DC. Loudness alone
 * cannot tell a caller from a hum or a cough, so a frame counts as speech
 * only when two independent cues agree:
 *
 *  - periodicity: voiced speech (every vowel, the nasals, most of what is
 *    said) repeats at the pitch period, 2.5-16.7 ms (400-60 Hz). The peak of
 *    the normalised cross-correlation between the newest audio and the
 *    audio one period earlier is near 1 for voicing and stays low for hiss,
 *    clicks, coughs and unvoiced noise. It runs at 4 kHz (speexdsp
 *    decimates): the harmonics under 2 kHz carry the period, and it costs a
 *    quarter of doing it at 8 kHz.
 *  - level above the noise floor (SNR): the floor follows the quietest
 *    recent level at once and creeps up otherwise, and a sound that keeps
 *    its level within a few dB for a second (hum, a tone, steady hiss) is
 *    taken into the floor outright: speech never holds its level that long.
 *    This is what rejects a 60 Hz hum, whose period is in the voice range.
 *
 * Each cue maps to a 0..1 score; confidence = sqrt(periodicity score * SNR
 * score), a geometric mean, so a frame strong in one cue can be a little
 * weaker in the other but never pass on one alone. The scores are held over
 * breaks of a few frames (PERIOD_HOLD), the memory a voice has and a
 * frame-by-frame measure lacks. Unvoiced consonants score low; the
 * STOPPING hangover (stop_secs) spans them, as it spans the gaps between
 * words.
 *
 * volume is Pipecat's scale (its pyloudnorm loudness of int16 samples,
 * normalised from -20..80, is -110..-10 dBFS), measured after the DC and
 * rumble filter. It rises at once and falls with Pipecat's smoothing (0.2
 * per frame), so a syllable's start is not delayed and its tail is held.
 *
 * Per frame: a biquad, a speexdsp decimation and 120 dot products of 80
 * samples; about 2 us at 8 kHz on one core of the development machine
 * (release build; the unit test prints the figure for its own build).
 */
#include <errno.h>
#include <math.h>
#include <re.h>
#include <stdlib.h>
#include <string.h>
#include <speex/speex_resampler.h>

#include "speech/vad.h"

/* The pitch analysis rate and its windows, in samples at PITCH_RATE. */
#define PITCH_RATE 4000
#define WIN        80 /* one 20 ms frame */
#define LAG_MIN    10 /* 400 Hz: above any speaking voice */
#define LAG_MAX    67 /* 60 Hz: below the lowest male voices */
/* two frames, and lags LAG_MIN-1..LAG_MAX+1 so that every candidate has
 * two neighbours */
#define HIST (2 * WIN + LAG_MAX + 1)

/* The DC and rumble filter: 2nd-order Butterworth high-pass at 200 Hz. It
 * takes out a DC offset, cuts mains hum (50/60 Hz) by 21-24 dB, and the
 * rumble of wind and handling noise, which below 200 Hz is narrow enough
 * to look periodic. A phone line carries nothing below 300 Hz to lose; in
 * 16 kHz audio a low voice loses its fundamental, not its harmonics, and
 * the period is in those. */
#define HPF_HZ 200.0

/* speexdsp quality for the 4 kHz decimation: 2 keeps aliasing well below
 * the harmonics that set the period at a third of quality 3's cost. */
#define RESAMPLE_QUALITY 2

/* Frame levels are clamped here: below G.711's quietest code. */
#define LEVEL_MIN_DB -100.0

/* Periodicity maps to 0..1 between these correlations. Over 30 s of
 * white, pink or telephone-band noise the highest peak of a frame is 0.3
 * at the median and 0.54 at most (0.67 for brown noise); espeak-ng
 * speech's frames have a median of 0.86 and a lower quartile of 0.69. */
#define PERIOD_LO 0.45
#define PERIOD_HI 0.80

/*
 * Both scores decay by these per frame rather than dropping, as a voice
 * does not stop and start within 20 ms while a frame-by-frame measure
 * does: a stop closure ("goo_d m_orning") sinks the level into the line
 * noise for 40-80 ms, a pitch jump or a glottal stop breaks periodicity for
 * a frame or two, and Pipecat's STARTING state falls back to QUIET on one
 * unvoiced frame. With confidence 0.7, a break in the level alone is
 * bridged for up to 4 frames, one in periodicity alone for up to 6, and
 * where both fall, as where speech ends over line noise, for 2. The price
 * is that the last voiced frame comes 40 ms (80 ms over a periodic hum)
 * after the voice ended; STOP comes that much later than stop_secs.
 */
#define PERIOD_HOLD 0.9
#define SNR_HOLD    0.85

/* SNR maps to 0..1 between these (dB): under 3 dB a frame is the noise
 * itself, 12 dB over the floor is clearly a voice even for a quiet talker
 * in line noise. */
#define SNR_LO 3.0
#define SNR_HI 12.0

/* The floor follows the frame level smoothed by this per frame (about
 * 60 ms): the quietest smoothed level of a noise is near its mean, not the
 * deepest dip of one 20 ms frame of it, and one lost or silent frame does
 * not drag the floor down. */
#define LEVEL_SMOOTH 0.3

/* The floor creeps up by this fraction of the gap per frame (a 10 s time
 * constant): a few seconds of speech without a pause lift it by a few dB
 * only, and a line that gets noisier is followed within seconds, besides
 * the steady rule below. */
#define FLOOR_RISE 0.002

/* A smoothed level that stays within STEADY_DB for STEADY_FRAMES (1 s) is
 * steady background: the floor jumps to it. Over any second, the smoothed
 * level of white noise spans 1.2 dB, of brown noise 2.6 dB, of a hum less;
 * speech swings 10 dB or more at the syllable rate (4-5 a second). */
#define STEADY_DB     3.0
#define STEADY_FRAMES 50

/* Pipecat's volume scale and its smoothing factor. */
#define VOLUME_DB_MIN   -110.0
#define VOLUME_DB_RANGE 100.0
#define VOLUME_RELEASE  0.2

#define FRAME_SECS 0.02
#define SECS_MAX   10.0

enum vad_state {
	VAD_QUIET,
	VAD_STARTING,
	VAD_SPEAKING,
	VAD_STOPPING,
};

struct vad {
	struct vad_params prm;
	size_t frame; /* samples per frame */
	unsigned start_frames, stop_frames;
	SpeexResamplerState *rs;

	double b0, b1, b2, a1, a2; /* high-pass biquad */
	double z1, z2;             /* its state (transposed direct form II) */
	bool primed;               /* the filter and floor have seen a frame */

	float
	    hist[HIST]; /* the high-passed signal at PITCH_RATE, newest last */
	double pscore, sscore; /* the two scores, held over short breaks */
	double smooth_pow; /* frame power smoothed over ~60 ms, re full scale */
	double floor_db;
	double steady_lo, steady_hi; /* level range of the current steady run */
	unsigned steady_len;
	double volume;

	enum vad_state state;
	unsigned count; /* frames in STARTING or STOPPING */

	float hp[]; /* frame scratch: the high-passed frame */
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
	 * phone line (-35 to -25 dBFS) and above its idle noise. */
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

static void vad_destructor(void *arg)
{
	struct vad *v = arg;

	if (v->rs)
		speex_resampler_destroy(v->rs);
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
	v->stop_frames = secs_to_frames(prm->stop_secs);
	hpf_design(v, rate);
	v->rs =
	    speex_resampler_init(1, rate, PITCH_RATE, RESAMPLE_QUALITY, &err);
	if (!v->rs) {
		mem_deref(v);
		return err == RESAMPLER_ERR_ALLOC_FAILED ? ENOMEM : EINVAL;
	}
	/* the decimated signal then lines up with the frame it came from */
	speex_resampler_skip_zeros(v->rs);
	v->floor_db = LEVEL_MIN_DB;
	v->state = VAD_QUIET;
	*vp = v;
	return 0;
}

void vad_restart(struct vad *v)
{
	v->state = VAD_QUIET;
	v->count = 0;
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

/* Decimates the high-passed frame into the history. */
static void decimate(struct vad *v)
{
	float out[WIN * 2];
	spx_uint32_t in_len = (spx_uint32_t)v->frame;
	spx_uint32_t out_len = sizeof(out) / sizeof(out[0]);

	/* out holds two frames' worth: all of this frame is consumed */
	speex_resampler_process_float(v->rs, 0, v->hp, &in_len, out, &out_len);
	memmove(v->hist, v->hist + out_len,
	        (HIST - out_len) * sizeof(v->hist[0]));
	memcpy(v->hist + HIST - out_len, out, out_len * sizeof(out[0]));
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
static double periodicity(const struct vad *v)
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
	for (int lag = LAG_MIN; lag <= LAG_MAX; lag++)
		if (r[lag] > best && r[lag] >= r[lag - 1] &&
		    r[lag] >= r[lag + 1])
			best = r[lag];
	return best;
}

/*
 * Returns the level over the floor (dB), then moves the floor. The floor
 * starts at the first frame's level: a call starts with the line, and a
 * hum present from the first frame is then never taken for a voice. A
 * caller already talking then is heard from their first pause on.
 */
static double snr_update(struct vad *v, double db)
{
	double snr = db - v->floor_db, sm;

	if (!v->primed) {
		v->smooth_pow = pow(10, db / 10);
		v->floor_db = v->steady_lo = v->steady_hi = db;
		snr = 0;
	}
	v->smooth_pow += LEVEL_SMOOTH * (pow(10, db / 10) - v->smooth_pow);
	sm = 10 * log10(v->smooth_pow);
	if (sm < v->floor_db)
		v->floor_db = sm;
	else
		v->floor_db += FLOOR_RISE * (sm - v->floor_db);

	if (sm < v->steady_lo)
		v->steady_lo = sm;
	if (sm > v->steady_hi)
		v->steady_hi = sm;
	if (v->steady_hi - v->steady_lo > STEADY_DB) {
		v->steady_lo = v->steady_hi = sm;
		v->steady_len = 0;
	}
	if (++v->steady_len >= STEADY_FRAMES && v->floor_db < v->steady_lo)
		v->floor_db = v->steady_lo;
	return snr;
}

static double clamp01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
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

void vad_process(struct vad *v, const int16_t *pcm, size_t n,
                 struct vad_frame *out)
{
	double pscore = 0, sscore = 0, level = LEVEL_MIN_DB, conf, vol;
	bool heard = pcm && n == v->frame;

	if (heard) {
		level = highpass(v, pcm);
		decimate(v);
		pscore = clamp01((periodicity(v) - PERIOD_LO) /
		                 (PERIOD_HI - PERIOD_LO));
		sscore = clamp01((snr_update(v, level) - SNR_LO) /
		                 (SNR_HI - SNR_LO));
		v->primed = true;
	}
	/* the scores decay rather than drop: see PERIOD_HOLD, SNR_HOLD */
	v->pscore = fmax(pscore, v->pscore * PERIOD_HOLD);
	v->sscore = fmax(sscore, v->sscore * SNR_HOLD);
	conf = heard ? sqrt(v->pscore * v->sscore) : 0;

	vol = clamp01((level - VOLUME_DB_MIN) / VOLUME_DB_RANGE);
	if (vol > v->volume)
		v->volume = vol;
	else
		v->volume += VOLUME_RELEASE * (vol - v->volume);

	out->confidence = conf;
	out->volume = v->volume;
	out->voiced =
	    conf >= v->prm.confidence && v->volume >= v->prm.min_volume;
	out->event = step(v, out->voiced);
	out->speaking = v->state == VAD_SPEAKING || v->state == VAD_STOPPING;
}
