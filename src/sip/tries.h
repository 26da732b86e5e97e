/*
 * Failed tries per source address within a window (the PINs a caller
 * keys in, across calls): after max failures an address is refused until
 * window_ms have passed since its first failure. Bounded: past cap
 * addresses the one whose window began first is forgotten.
 *
 * Signalling thread only. Times are the caller's milliseconds (one
 * monotonic clock), so the window can be tested without waiting.
 */
#ifndef VOXGATE_SIP_TRIES_H
#define VOXGATE_SIP_TRIES_H

#include <stdint.h>
#include <re.h>

struct tries;

/* max 0: no limit (nothing is kept). A libre mem object. */
int tries_alloc(struct tries **tp, uint32_t max, uint32_t window_ms,
                uint32_t cap);
/* Counts a failure from addr (its address; the port is ignored). */
void tries_fail(struct tries *t, const struct sa *addr, uint64_t now_ms);
/* 0 when addr may try; else the milliseconds until it may again. */
uint64_t tries_blocked(const struct tries *t, const struct sa *addr,
                       uint64_t now_ms);

#endif
