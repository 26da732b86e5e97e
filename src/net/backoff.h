/*
 * The wait before a provider's socket is made again after failures in a
 * row: doubling from a first step up to a ceiling, each wait drawn
 * between half and all of its step, so that calls cut together do not
 * come back in the same millisecond.
 */
#ifndef VOXGATE_NET_BACKOFF_H
#define VOXGATE_NET_BACKOFF_H

#include <stdint.h>

/*
 * The wait in ms after the fails-th failure in a row (1 for the first):
 * first_ms doubled fails - 1 times, at most max_ms, then a draw in its
 * upper half. 0 when fails is 0 (nothing failed: no wait).
 */
uint32_t backoff_ms(unsigned fails, uint32_t first_ms, uint32_t max_ms);

#endif
