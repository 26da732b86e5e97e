#include <stddef.h>
#include <string.h>
#include "agent/agents.h"
#include "agent/echo.h"
#include "agent/hub.h"

static const struct agent_ops *const agents[] = {
    &agent_audio_echo,
    &agent_pipeline,
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
	return "audio-echo, pipeline";
}
