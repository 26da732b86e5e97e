/*
 * audio-echo: plays the optional greeting, then sends back what it hears.
 * It measures the media path alone, so it does no processing of its own.
 */
#ifndef VOXGATE_AGENT_ECHO_H
#define VOXGATE_AGENT_ECHO_H

#include "media/agent.h"

extern const struct agent_ops agent_audio_echo;

#endif
