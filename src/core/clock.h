/*
 * The monotonic clock every timeout, pacing and latency figure is read
 * from: never stepped by NTP or an operator, unlike the wall clock.
 */
#ifndef VOXGATE_CORE_CLOCK_H
#define VOXGATE_CORE_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);

#endif
