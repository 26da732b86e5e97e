/*
 * The monotonic clock every timeout, pacing and latency figure is read
 * from: never stepped by NTP or an operator, unlike the wall clock, which
 * is only for times told to others (timestamps in messages and records).
 * Inline, since the media threads read it for every packet.
 */
#ifndef VOXGATE_CORE_CLOCK_H
#define VOXGATE_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_us() / 1000u;
}

static inline int64_t clock_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_wall_ms(void)
{
	return clock_wall_ns() / 1000000;
}

#endif
