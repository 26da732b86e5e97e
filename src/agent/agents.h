/*
 * The agents a server can give its calls, by the name the `agent` setting
 * takes.
 */
#ifndef VOXGATE_AGENT_AGENTS_H
#define VOXGATE_AGENT_AGENTS_H

#include "media/agent.h"

/* none: calls are answered and sit in their room with no agent. */
extern const struct agent_ops agent_none;

/* NULL when no agent has that name. */
const struct agent_ops *agent_find(const char *name);
/* Comma-separated names, for --help and errors. */
const char *agent_names(void);

#endif
