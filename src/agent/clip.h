/*
 * An agent that plays one clip and then stays silent: the prompts a call
 * hears before its real agent takes over (the PIN stage).
 */
#ifndef VOXGATE_AGENT_CLIP_H
#define VOXGATE_AGENT_CLIP_H

#include "media/agent.h"

/* Its start is NULL: a clip agent is made with agent_clip_start. */
extern const struct agent_ops agent_clip;

/* The clip is borrowed and must outlive the call (assets do). */
int agent_clip_start(void **statep, const int16_t *pcm, size_t samples);

struct agent_tone {
	unsigned freq_hz; /* 0 = a pause */
	unsigned ms;
};

/* Renders tones one after another at 8 kHz, each with short ramps so it
 * does not click; *pcmp is malloc'd and the caller frees it. */
int agent_tones(const struct agent_tone *tones, size_t n, int16_t **pcmp,
                size_t *samplesp);

#endif
