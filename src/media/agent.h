/*
 * The seam between a call's media and whatever talks on it.
 *
 * An agent is a set of operations over per-call state. start and stop run on
 * the signalling thread at answer and after hang-up; audio_in and audio_out
 * run on the call's media thread every 20 ms (audio_in, for an unpaced
 * agent, as the caller's packets come) and must neither block nor
 * allocate. Audio is 16-bit mono PCM at the call's sample rate.
 */
#ifndef VOXGATE_MEDIA_AGENT_H
#define VOXGATE_MEDIA_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub;
struct lkagent;

struct agent_call_info {
	const char *call_id;
	const char *from;
	const char *to;
	uint32_t sample_rate;
	const char *room;        /* NULL when the call is in no room */
	const char *participant; /* the caller's identity in it */
	/* The external bot the call's dispatch rule names (ws:// or
	 * wss://), for agent_bot; NULL = none. */
	const char *agent_url;
	/* Lets the agent end the call (signalling thread); NULL = it
	 * cannot. */
	void (*hangup)(void *arg, const char *reason);
	void *hangup_arg;
	/* The caller talked over the agent (signalling thread): a transport
	 * that buffers the agent's audio downstream drops it (a Media
	 * Streams clear). NULL = nothing to drop. Same arg as hangup. */
	void (*interrupted)(void *arg);
	/* The agent has the first frame of an utterance to send (signalling
	 * thread): the media thread then sends it at once, through
	 * audio_early, rather than at its next tick, up to 20 ms later. NULL
	 * = it waits for the tick. */
	void (*audio_ready)(void *arg);
	void *audio_ready_arg;
	/* Hands the caller on to `to` (a sip:, sips: or tel: URI; why: the
	 * agent's words, for the log), on the signalling thread; same arg as
	 * hangup. 0 when the transfer started: done then runs with final
	 * false once the far side took it and it rings, and once with final
	 * true and the outcome (ok: the call ends; otherwise why, e.g. "486
	 * Busy Here", and the call goes on). An errno value when it could not
	 * start (done is not called). NULL = this call cannot be transferred
	 * (a Media Streams call). */
	int (*transfer)(void *arg, const char *to, const char *why,
	                void (*done)(void *darg, bool ok, bool final,
	                             const char *why),
	                void *darg);
	/* The agent goes before the outcome: done is not called for darg
	 * any more. Set with transfer. */
	void (*transfer_forget)(void *arg, void *darg);
};

/* Read-only audio shared by all calls, loaded at startup; all at 8000 Hz. */
struct agent_assets {
	const int16_t *greeting;
	size_t greeting_samples;
	const int16_t *pin_prompt; /* asks for a dispatch rule's PIN */
	size_t pin_prompt_samples;
	const int16_t *pin_wrong; /* before hanging up on a wrong PIN */
	size_t pin_wrong_samples;
	struct hub *hub; /* the agent workers' controller, for pipeline */
	/* LiveKit's agents and their dispatch, for the agent that picks a
	 * call's agent by its room (lkagent/lkagent.h). */
	struct lkagent *lkagent;
};

struct agent_ops {
	const char *name;
	/* Creates the call's state in *statep; 0 or an errno value. */
	int (*start)(void **statep, const struct agent_call_info *info,
	             const struct agent_assets *assets);
	/* One frame heard from the caller; pcm is NULL when nothing arrived
	 * for this frame (silence suppression, loss, hold). arrival_us is when
	 * the packet that completed it arrived (CLOCK_MONOTONIC), so latency
	 * can be measured from the wire rather than from the jitter buffer's
	 * output. */
	void (*audio_in)(void *state, const int16_t *pcm, size_t samples,
	                 uint64_t arrival_us);
	/* Fills up to samples of audio to send; returns how many were
	 * written, 0 when the agent has nothing to say this frame. */
	size_t (*audio_out)(void *state, int16_t *pcm, size_t samples);
	/* Frees the state; the media thread no longer touches it. */
	void (*stop)(void *state);
	/* Keys the caller pressed (0-9 * # A-D), on the signalling thread;
	 * NULL = the agent ignores them. */
	void (*dtmf)(void *state, const char *digits, size_t n);
	/* Between two ticks, after audio_ready: the frame that would go at
	 * the next tick if it is there now (then that tick calls no
	 * audio_out: its frame went early), else 0 and nothing changes.
	 * NULL = the agent never sends early. */
	size_t (*audio_early)(void *state, int16_t *pcm, size_t samples);
	/* True when audio_in takes the caller's frames as their packets
	 * come, in order, several at once after a burst, rather than paced
	 * by the jitter buffer's delay, which only an ear needs: a VAD or a
	 * recogniser then decides sooner. A frame still missing 40 ms after
	 * the last one came is filled in at the tick. NULL = paced. */
	bool (*unpaced)(void *state);
};

#endif
