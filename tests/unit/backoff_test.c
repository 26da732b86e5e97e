/*
 * Reconnect backoff: each step doubles up to the ceiling, every wait lies
 * in the upper half of its step and the draws spread over all of it, a
 * long run of failures neither overflows nor passes the ceiling, and no
 * failure means no wait.
 */
#include "net/backoff.h"
#include "test.h"

#define DRAWS 4000

/* Every draw within [step/2, step], the lowest and highest near both
 * ends. */
static int spread(unsigned fails, uint32_t first, uint32_t max, uint32_t step)
{
	uint32_t lo = UINT32_MAX, hi = 0;

	for (int i = 0; i < DRAWS; i++) {
		uint32_t ms = backoff_ms(fails, first, max);

		if (ms < lo)
			lo = ms;
		if (ms > hi)
			hi = ms;
	}
	if (lo < step / 2 || hi > step)
		return 1;
	/* 4000 uniform draws miss the outer twentieth of the range on
	 * either side with a chance far below one in a billion */
	if (lo > step / 2 + step / 20 || hi < step - step / 20)
		return 1;
	return 0;
}

TEST(doubles_to_ceiling)
{
	CHECK(spread(1, 250, 15000, 250) == 0);
	CHECK(spread(2, 250, 15000, 500) == 0);
	CHECK(spread(3, 250, 15000, 1000) == 0);
	CHECK(spread(6, 250, 15000, 8000) == 0);
	CHECK(spread(7, 250, 15000, 15000) == 0);
	CHECK(spread(8, 250, 15000, 15000) == 0);
	CHECK(spread(6, 250, 8000, 8000) == 0);
	return 0;
}

TEST(no_failure_no_wait)
{
	CHECK_EQ(backoff_ms(0, 250, 15000), 0);
	return 0;
}

TEST(long_runs_stay_bounded)
{
	CHECK(spread(1000, 250, 15000, 15000) == 0);
	CHECK(spread(~0u, 250, 15000, 15000) == 0);
	/* a ceiling near the type's top: doubling must not wrap */
	CHECK(spread(40, 3000000000u, UINT32_MAX, UINT32_MAX) == 0);
	/* a first step above the ceiling is cut to it */
	CHECK(spread(1, 20000, 15000, 15000) == 0);
	return 0;
}

int main(void)
{
	RUN(doubles_to_ceiling);
	RUN(no_failure_no_wait);
	RUN(long_runs_stay_bounded);
	TEST_EXIT();
}
