/*
 * The server's end of a call's agent. It is the call's agent on the media
 * thread (bridge_agent: audio_in/audio_out every 20 ms) and hands audio and
 * events to the signalling thread, which relays them to the agent worker;
 * the worker's speech comes back the same way and is played out here.
 *
 * Turn-taking that must be quick happens here, next to the wire: the VAD
 * runs on what the caller says, and when the caller talks over the agent
 * its audio stops within the frame, without a round trip to the worker.
 * A voiced onset pauses the agent; an onset that does not last (a click)
 * resumes it; one that becomes speech (VAD START) is a barge-in: the rest
 * of the utterance is dropped and the worker is told how much was heard.
 *
 * Threads: audio_in/audio_out run on the media thread; every other
 * function on the signalling thread. They share only single-producer rings
 * and atomics: the media path neither allocates, blocks nor locks.
 */
#ifndef VOXGATE_AGENT_BRIDGE_H
#define VOXGATE_AGENT_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>
#include "media/agent.h"
#include "speech/vad.h"

#define BRIDGE_FRAME 160 /* samples per 20 ms frame at 8 kHz */

struct bridge;

struct bridge_params {
	struct vad_params vad;
	uint32_t playout_ms; /* agent audio the bridge can hold; 0 = 10 s */
	/* Written (eventfd style, 8 bytes) when there is something for the
	 * signalling thread; -1 = none, the caller polls. */
	int wake_fd;
	/* Called (signalling thread) once the first frame of an utterance
	 * is in the playout ring, for the media thread to send it at once
	 * with audio_early; NULL = it goes at the next tick. */
	void (*audio_ready)(void *arg);
	void *audio_ready_arg;
	/* CLOCK_MONOTONIC in microseconds unless given (tests). */
	uint64_t (*clock_us)(void);
};

/* Its start is NULL: the state is made by bridge_alloc. Its stop frees the
 * bridge. */
extern const struct agent_ops bridge_agent;

int bridge_alloc(struct bridge **bp, const struct bridge_params *prm);

enum bridge_event_kind {
	BRIDGE_EV_VAD,         /* vad: ONSET, START, CANCEL or STOP */
	BRIDGE_EV_SPEAKING,    /* utterance started playing; latency_ms =
	                          voice-to-voice when it answers a turn */
	BRIDGE_EV_MARK,        /* mark of utterance played out */
	BRIDGE_EV_PLAYED,      /* utterance played to its end */
	BRIDGE_EV_INTERRUPTED, /* barge-in cut utterance; heard_ms of it
	                          were played; latency_ms = reaction */
};

struct bridge_event {
	enum bridge_event_kind kind;
	enum vad_event vad;
	uint32_t frame; /* caller frames heard before the event */
	uint32_t utterance, mark;
	uint32_t heard_ms;
	int32_t latency_ms; /* -1 = not measured */
	/* SPEAKING: of latency_ms, from the caller's last voiced packet to
	 * the VAD's STOP (its stop window, and how late it came); -1 = not
	 * measured. */
	int32_t stop_ms;
	uint64_t t_us; /* CLOCK_MONOTONIC */
};

/* Signalling thread: what the media thread reported, oldest first. Events
 * never wait behind audio. */
bool bridge_event_next(struct bridge *b, struct bridge_event *ev);
/* Signalling thread: the caller's next 20 ms frame and its number. */
bool bridge_audio_next(struct bridge *b, uint32_t *frame,
                       int16_t pcm[BRIDGE_FRAME]);

/*
 * Signalling thread: the agent's speech. Utterance ids grow; the first
 * bridge_say of a new id starts it. Audio of an utterance cut by barge-in
 * is dropped. ENOSPC when the playout buffer is full (nothing written),
 * ECANCELED when the utterance was interrupted.
 */
int bridge_say(struct bridge *b, uint32_t utterance, const int16_t *pcm,
               size_t n);
/* A mark after the audio said so far: reported when it is played out. */
int bridge_mark(struct bridge *b, uint32_t utterance, uint32_t mark);
/* No more audio for the utterance: PLAYED follows when it is played. */
int bridge_say_end(struct bridge *b, uint32_t utterance);
/* The agent stops talking: what is queued is dropped, as on barge-in but
 * without an INTERRUPTED event. */
void bridge_silence(struct bridge *b);
/* Whether the caller's voice stops the agent (default true); off for what
 * must be heard whole, such as the busy message. */
void bridge_set_barge_in(struct bridge *b, bool on);
/* True while the agent's audio is queued or playing. */
bool bridge_talking(const struct bridge *b);

#endif
