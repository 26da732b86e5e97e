/*
 * Reconnect backoff (backoff.h).
 */
#include <re_types.h>
#include <re_sys.h>
#include "net/backoff.h"

uint32_t backoff_ms(unsigned fails, uint32_t first_ms, uint32_t max_ms)
{
	uint32_t d = first_ms;

	if (!fails)
		return 0;
	/* doubling stops at the ceiling: no shift or product overflows */
	for (unsigned i = 1; i < fails && d < max_ms; i++)
		d = d > UINT32_MAX / 2 ? UINT32_MAX : d * 2;
	if (d > max_ms)
		d = max_ms;
	return d - rand_u32() % (d / 2 + 1);
}
