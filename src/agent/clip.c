#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/clip.h"

#define TONE_RATE      8000
#define TONE_AMPLITUDE 8000.0 /* about -12 dBFS: clear, not harsh */
#define TONE_RAMP      40     /* samples, 5 ms */

struct clip_state {
	const int16_t *pcm;
	size_t left;
};

int agent_clip_start(void **statep, const int16_t *pcm, size_t samples)
{
	struct clip_state *st;

	if (!statep || (samples && !pcm))
		return EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ENOMEM;
	st->pcm = pcm;
	st->left = samples;
	*statep = st;
	return 0;
}

static void clip_audio_in(void *state, const int16_t *pcm, size_t samples,
                          uint64_t arrival_us)
{
	(void)arrival_us;
	(void)state;
	(void)pcm;
	(void)samples;
}

static size_t clip_audio_out(void *state, int16_t *pcm, size_t samples)
{
	struct clip_state *st = state;
	size_t n = samples < st->left ? samples : st->left;

	if (!n)
		return 0;
	memcpy(pcm, st->pcm, n * sizeof(*pcm));
	st->pcm += n;
	st->left -= n;
	return n;
}

static void clip_stop(void *state)
{
	free(state);
}

const struct agent_ops agent_clip = {
    .name = "clip",
    .start = NULL,
    .audio_in = clip_audio_in,
    .audio_out = clip_audio_out,
    .stop = clip_stop,
};

int agent_tones(const struct agent_tone *tones, size_t n, int16_t **pcmp,
                size_t *samplesp)
{
	size_t total = 0, pos = 0;
	int16_t *pcm;

	if (!tones || !n || !pcmp || !samplesp)
		return EINVAL;
	for (size_t i = 0; i < n; i++)
		total += (size_t)tones[i].ms * TONE_RATE / 1000;
	if (!total)
		return EINVAL;
	pcm = calloc(total, sizeof(*pcm));
	if (!pcm)
		return ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = (size_t)tones[i].ms * TONE_RATE / 1000;

		for (size_t k = 0; tones[i].freq_hz && k < len; k++) {
			double gain = 1.0;

			if (k < TONE_RAMP)
				gain = (double)k / TONE_RAMP;
			else if (len - k < TONE_RAMP)
				gain = (double)(len - k) / TONE_RAMP;
			pcm[pos + k] =
			    (int16_t)lrint(TONE_AMPLITUDE * gain *
			                   sin(2.0 * M_PI * tones[i].freq_hz *
			                       (double)k / TONE_RATE));
		}
		pos += len;
	}
	*pcmp = pcm;
	*samplesp = total;
	return 0;
}
