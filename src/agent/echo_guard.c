/*
 * DESIGN. Two clocks run in step: every 20 ms one frame comes in and one
 * goes out (zeros when the agent is quiet), so sample positions in both
 * directions count the same time. Echo of what went out at position p
 * comes back at p + delay.
 *
 * The delay is found on a 2 kHz copy of both directions: every 200 ms,
 * when the agent spoke in the window, the last 400 ms in are correlated
 * with what went out 20-400 ms earlier. Speech's envelope is far from
 * periodic, so the best lag stands out; two agreeing estimates are needed
 * before the delay moves, so one loud caller word cannot drag it.
 *
 * The gate compares the frame's energy with the echo's expected energy:
 * the loudest reference frame within 40 ms of the delay (the delay moves
 * with both ends' jitter buffers) times the echo return loss (ERL, the
 * in/out energy ratio of windows where the echo stands out), with 6 dB to
 * spare. Before the delay is known, the
 * loudest reference frame of the last 400 ms and a 6 dB ERL (the least a
 * line is expected to give, as in G.168) stand in, until three estimates
 * have found the line returning next to nothing while the agent talked:
 * then it has no echo, and nothing is held back.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "agent/echo_guard.h"

#define FRAME       ECHO_GUARD_FRAME
#define REF_LEN     8192 /* 1.02 s of what went out; a power of two */
#define DEC         4    /* 8 kHz → 2 kHz for the delay search */
#define DLEN        (REF_LEN / DEC)
#define WIN         800 /* 400 ms at 2 kHz: the window correlated */
#define LAG_MIN     40  /* 20 ms: echo never comes back sooner */
#define LAG_MAX     800 /* 400 ms */
#define EST_FRAMES  10  /* estimate every 200 ms */
#define MIN_CORR    0.45
#define HIST_FRAMES 20   /* 400 ms of reference frame energies */
#define ERL_ASSUMED 0.25 /* 6 dB */
#define MARGIN      4.0  /* 6 dB */
#define WANDER      2    /* frames (40 ms) the echo's delay may move */
#define ERL_CORR    0.6  /* windows this clearly echo measure the ERL */
#define QUIET       1e4  /* mean square of a frame below about -50 dBFS */
/* Estimates (200 ms apart, while the agent talks) that must find the
 * line returning nothing, less than NO_ECHO_RATIO (-20 dB) of what went
 * out, before it counts as echo-free. */
#define NO_ECHO_MISSES 3
#define NO_ECHO_RATIO  0.01

struct echo_guard {
	int16_t ref[REF_LEN];
	uint64_t ref_pos, in_pos; /* samples */
	float dref[DLEN], din[DLEN];
	uint64_t dref_pos, din_pos;
	double ref_frame_e[HIST_FRAMES]; /* mean squares of recent out frames */
	unsigned hist_pos;
	unsigned frames, since_estimate;
	int delay;       /* samples, -1 = unknown */
	unsigned misses; /* estimates in a row that found no echo */
	int candidate;   /* a new delay seen once */
	double erl;      /* echo energy / reference energy */
	bool erl_known;
};

int echo_guard_alloc(struct echo_guard **egp)
{
	struct echo_guard *eg;

	if (!egp)
		return EINVAL;
	eg = mem_zalloc(sizeof(*eg), NULL);
	if (!eg)
		return ENOMEM;
	eg->delay = -1;
	eg->candidate = -1;
	eg->erl = ERL_ASSUMED;
	*egp = eg;
	return 0;
}

int echo_guard_delay_ms(const struct echo_guard *eg)
{
	return eg && eg->delay >= 0 ? eg->delay / 8 : -1;
}

static double mean_square(const int16_t *pcm, size_t n)
{
	double e = 0;

	for (size_t i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	return e / (double)n;
}

static void decimate(float *ring, uint64_t *pos, const int16_t *pcm)
{
	for (size_t i = 0; i < FRAME; i += DEC) {
		float s = 0;

		for (size_t k = 0; k < DEC; k++)
			s += pcm ? pcm[i + k] : 0;
		ring[*pos % DLEN] = s / DEC;
		(*pos)++;
	}
}

void echo_guard_out(struct echo_guard *eg, const int16_t *pcm)
{
	for (size_t i = 0; i < FRAME; i++)
		eg->ref[(eg->ref_pos + i) % REF_LEN] = pcm ? pcm[i] : 0;
	eg->ref_pos += FRAME;
	decimate(eg->dref, &eg->dref_pos, pcm);
	eg->ref_frame_e[eg->hist_pos++ % HIST_FRAMES] =
	    pcm ? mean_square(pcm, FRAME) : 0;
}

/* The reference sample that went out at position p (0 outside what is
 * kept). */
static int16_t ref_at(const struct echo_guard *eg, int64_t p)
{
	if (p < 0 || (uint64_t)p >= eg->ref_pos ||
	    eg->ref_pos - (uint64_t)p > REF_LEN)
		return 0;
	return eg->ref[(uint64_t)p % REF_LEN];
}

/* Correlates the input's last WIN decimated samples with the reference l
 * samples earlier, keeping the best lag seen so far. */
static void try_lag(const struct echo_guard *eg, uint64_t end, double in_e,
                    int l, double *best, int *lag, double *ratio)
{
	double xy = 0, ref_e = 0, c;

	if (l < LAG_MIN || l > LAG_MAX)
		return;
	for (uint64_t i = end - WIN; i < end; i++) {
		float r = eg->dref[(i - (uint64_t)l) % DLEN];

		xy += (double)eg->din[i % DLEN] * r;
		ref_e += (double)r * r;
	}
	if (ref_e <= 0)
		return;
	c = xy / sqrt(in_e * ref_e);
	if (c > *best) {
		*best = c;
		*lag = l;
		*ratio = in_e / ref_e;
	}
}

/* Best lag of the input's last WIN decimated samples against the
 * reference; -1 when nothing correlates well enough. *ratio gets the
 * window's in/out energy ratio at that lag. */
static int best_lag(const struct echo_guard *eg, double *corr, double *ratio)
{
	double in_e = 0, best = 0;
	int lag = -1;
	uint64_t end = eg->din_pos;

	if (end < WIN + LAG_MAX)
		return -1;
	for (uint64_t i = end - WIN; i < end; i++)
		in_e += (double)eg->din[i % DLEN] * eg->din[i % DLEN];
	if (in_e <= 0)
		return -1;
	/* Every other lag, then the two beside the best: the 2 kHz copy is
	 * averaged down, so a peak is wider than one lag, and this runs on
	 * the media thread. */
	for (int l = LAG_MIN; l <= LAG_MAX; l += 2)
		try_lag(eg, end, in_e, l, &best, &lag, ratio);
	if (lag >= 0) {
		int peak = lag;

		try_lag(eg, end, in_e, peak - 1, &best, &lag, ratio);
		try_lag(eg, end, in_e, peak + 1, &best, &lag, ratio);
	}
	*corr = best;
	return best >= MIN_CORR ? lag : -1;
}

static bool agent_spoke_recently(const struct echo_guard *eg)
{
	for (size_t i = 0; i < HIST_FRAMES; i++) {
		if (eg->ref_frame_e[i] > QUIET)
			return true;
	}
	return false;
}

/* Whether what came in over the last window is far quieter than what
 * went out over the span it could echo: a line that returns nothing. An
 * input that is loud but uncorrelated (the caller talking, or an echo not
 * yet lined up) proves nothing either way. */
static bool nothing_returned(const struct echo_guard *eg)
{
	double in_e = 0, ref_e = 0;
	uint64_t end = eg->din_pos;

	if (end < WIN + LAG_MAX)
		return false;
	for (uint64_t i = end - WIN; i < end; i++)
		in_e += (double)eg->din[i % DLEN] * eg->din[i % DLEN];
	for (uint64_t i = end - WIN - LAG_MAX; i < end - LAG_MIN; i++)
		ref_e += (double)eg->dref[i % DLEN] * eg->dref[i % DLEN];
	return ref_e > 0 &&
	       in_e * (WIN + LAG_MAX - LAG_MIN) < ref_e * WIN * NO_ECHO_RATIO;
}

static void estimate(struct echo_guard *eg)
{
	double corr = 0, ratio = 0;
	int lag = best_lag(eg, &corr, &ratio);
	int delay;

	if (lag < 0) {
		if (nothing_returned(eg))
			eg->misses++;
		return;
	}
	/* Over a whole window where the echo stands out, the energy ratio is
	 * the echo's loss, whatever the frame-to-frame wander. */
	if (corr >= ERL_CORR)
		eg->erl = eg->erl_known ? 0.7 * eg->erl + 0.3 * ratio : ratio;
	eg->erl_known |= corr >= ERL_CORR;
	delay = lag * DEC;
	if (eg->delay >= 0 && abs(delay - eg->delay) <= 2 * DEC)
		return;
	if (eg->candidate >= 0 && abs(delay - eg->candidate) <= 2 * DEC) {
		/* Only a confirmed echo undoes "no echo": a caller whose
		 * voice happens to resemble the agent's does not. */
		eg->delay = delay;
		eg->candidate = -1;
		eg->misses = 0;
	} else {
		eg->candidate = delay;
	}
}

/* Energy of the reference that can be coming back in this frame: the
 * loudest frame within WANDER frames of the delay, since the delay moves
 * with the far end's and our jitter buffers. */
static double aligned_ref_energy(const struct echo_guard *eg)
{
	double loudest = 0;

	for (int k = -WANDER; k <= WANDER; k++) {
		int64_t start = (int64_t)eg->in_pos - eg->delay + k * FRAME;
		double e = 0;

		for (int64_t i = 0; i < FRAME; i++) {
			double r = ref_at(eg, start + i);

			e += r * r;
		}
		if (e / FRAME > loudest)
			loudest = e / FRAME;
	}
	return loudest;
}

bool echo_guard_in(struct echo_guard *eg, int16_t *pcm)
{
	double in_e = mean_square(pcm, FRAME), expected;
	bool spoke = agent_spoke_recently(eg);

	decimate(eg->din, &eg->din_pos, pcm);
	if (spoke && ++eg->since_estimate >= EST_FRAMES) {
		eg->since_estimate = 0;
		estimate(eg);
	}

	if (eg->delay >= 0) {
		expected = aligned_ref_energy(eg) * eg->erl * MARGIN;
	} else if (eg->misses >= NO_ECHO_MISSES) {
		/* A line that returns nothing of the agent: nothing to
		 * guard against, and a quiet caller must not be held
		 * back. */
		expected = 0;
	} else {
		double loudest = 0;

		for (size_t i = 0; i < HIST_FRAMES; i++) {
			if (eg->ref_frame_e[i] > loudest)
				loudest = eg->ref_frame_e[i];
		}
		expected = loudest * ERL_ASSUMED * MARGIN;
	}
	eg->in_pos += FRAME;
	if (expected > QUIET / 10 && in_e <= expected) {
		memset(pcm, 0, FRAME * sizeof(*pcm));
		return true;
	}
	return false;
}
