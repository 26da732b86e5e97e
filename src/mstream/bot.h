/*
 * An external bot as the agent: voxgate opens a WebSocket to the URL a
 * dispatch rule names (agent_call_info.agent_url) and drives it as Twilio
 * drives a Media Streams bot (a Pipecat bot with its Twilio serializer):
 * connected, start, the caller's audio as mu-law media frames every
 * 20 ms, dtmf, stop. The bot answers with media to play, marks to echo
 * once played and clear to drop what it sent. It ends the call by closing
 * the socket; a bot that cannot be reached ends it too.
 *
 * Not in agent_find: its URL comes with each call.
 */
#ifndef VOXGATE_MSTREAM_BOT_H
#define VOXGATE_MSTREAM_BOT_H

#include "media/agent.h"

extern const struct agent_ops agent_bot;

#endif
