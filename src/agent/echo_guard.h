/*
 * Keeps the agent's own voice, coming back on the line (a phone's hybrid
 * or speaker echo), from being heard as the caller talking over it.
 *
 * It learns the echo path's bulk delay by cross-correlating what was sent
 * with what comes back, and the echo return loss at that delay. A frame
 * whose energy the echo alone can explain is replaced by silence, so the
 * VAD never hears it; a caller talking over the agent adds energy the echo
 * cannot explain and passes. (Debian's spandsp 0.0.6 line echo canceller
 * would cancel rather than gate, but prints debugging lines on stdout for
 * every sample, so it cannot run on a media thread.)
 *
 * Media thread only; nothing allocates after echo_guard_alloc.
 */
#ifndef VOXGATE_AGENT_ECHO_GUARD_H
#define VOXGATE_AGENT_ECHO_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECHO_GUARD_FRAME 160 /* 20 ms at 8 kHz */

struct echo_guard;

/* *egp is a mem object: mem_deref. */
int echo_guard_alloc(struct echo_guard **egp);

/* What went out this frame; NULL when nothing did. Call once per frame,
 * after echo_guard_in for the same frame. */
void echo_guard_out(struct echo_guard *eg, const int16_t *pcm);

/* The caller's frame, cleaned in place. Returns true when it was judged
 * to hold only the echo (and was silenced). */
bool echo_guard_in(struct echo_guard *eg, int16_t *pcm);

/* The bulk delay learned, in ms; -1 while unknown. */
int echo_guard_delay_ms(const struct echo_guard *eg);

#endif
