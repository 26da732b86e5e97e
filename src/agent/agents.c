#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "agent/agents.h"
#include "agent/echo.h"
#include "agent/hub.h"

/* none: the call is answered and sits in its room; nobody talks on it.
 * Its state is a token that is never read: the media session stops an
 * agent only when it has a state. */
static char none_state;

static int none_start(void **statep, const struct agent_call_info *info,
                      const struct agent_assets *assets)
{
	(void)info;
	(void)assets;
	if (!statep)
		return EINVAL;
	*statep = &none_state;
	return 0;
}

static void none_audio_in(void *state, const int16_t *pcm, size_t samples,
                          uint64_t arrival_us)
{
	(void)state;
	(void)pcm;
	(void)samples;
	(void)arrival_us;
}

static size_t none_audio_out(void *state, int16_t *pcm, size_t samples)
{
	(void)state;
	(void)pcm;
	(void)samples;
	return 0;
}

static void none_stop(void *state)
{
	(void)state;
}

const struct agent_ops agent_none = {
    .name = "none",
    .start = none_start,
    .audio_in = none_audio_in,
    .audio_out = none_audio_out,
    .stop = none_stop,
};

static const struct agent_ops *const agents[] = {
    &agent_audio_echo,
    &agent_pipeline,
    &agent_none,
};

const struct agent_ops *agent_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++) {
		if (!strcmp(agents[i]->name, name))
			return agents[i];
	}
	return NULL;
}

const char *agent_names(void)
{
	return "audio-echo, pipeline, none";
}
