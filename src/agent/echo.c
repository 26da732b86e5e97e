#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agent/echo.h"

/* Holds what was heard until it is said back; audio_in and audio_out run
 * in the same tick, so a few frames of slack is plenty. */
#define ECHO_RING_SAMPLES 1600

struct echo_state {
	const int16_t *greeting;
	size_t greeting_left;
	int16_t ring[ECHO_RING_SAMPLES];
	size_t head; /* next sample to send */
	size_t fill;
};

static int echo_start(void **statep, const struct agent_call_info *info,
                      const struct agent_assets *assets)
{
	struct echo_state *st;

	if (!statep || !info)
		return EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ENOMEM;
	/* The greeting is stored at 8 kHz: only play it on 8 kHz calls. */
	if (assets && assets->greeting && info->sample_rate == 8000) {
		st->greeting = assets->greeting;
		st->greeting_left = assets->greeting_samples;
	}
	*statep = st;
	return 0;
}

static void echo_audio_in(void *state, const int16_t *pcm, size_t samples,
                          uint64_t arrival_us)
{
	struct echo_state *st = state;

	(void)arrival_us;
	/* What the caller says over the greeting is not echoed: they would
	 * hear it after the greeting, out of context. */
	if (!pcm || st->greeting_left)
		return;
	for (size_t i = 0; i < samples; i++) {
		size_t tail = (st->head + st->fill) % ECHO_RING_SAMPLES;
		st->ring[tail] = pcm[i];
		if (st->fill < ECHO_RING_SAMPLES)
			st->fill++;
		else
			st->head = (st->head + 1) % ECHO_RING_SAMPLES;
	}
}

static size_t echo_audio_out(void *state, int16_t *pcm, size_t samples)
{
	struct echo_state *st = state;
	size_t n;

	if (st->greeting_left) {
		n = samples < st->greeting_left ? samples : st->greeting_left;
		memcpy(pcm, st->greeting, n * sizeof(*pcm));
		st->greeting += n;
		st->greeting_left -= n;
		return n;
	}
	n = samples < st->fill ? samples : st->fill;
	for (size_t i = 0; i < n; i++)
		pcm[i] = st->ring[(st->head + i) % ECHO_RING_SAMPLES];
	st->head = (st->head + n) % ECHO_RING_SAMPLES;
	st->fill -= n;
	return n;
}

static void echo_stop(void *state)
{
	free(state);
}

const struct agent_ops agent_audio_echo = {
    .name = "audio-echo",
    .start = echo_start,
    .audio_in = echo_audio_in,
    .audio_out = echo_audio_out,
    .stop = echo_stop,
};
