/* The monotonic clock: never backwards, the two units agree; the wall
 * clock is the system's time. */
#include <time.h>
#include "core/clock.h"
#include "test.h"

TEST(monotonic_and_units_agree)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	uint64_t us0 = clock_mono_us(), ms0 = clock_mono_ms(), us1, ms1;

	CHECK(ms0 >= us0 / 1000);
	nanosleep(&pause, NULL);
	us1 = clock_mono_us();
	ms1 = clock_mono_ms();
	CHECK(us1 - us0 >= 20000);
	CHECK(us1 - us0 < 5000000);
	CHECK(ms1 >= ms0 + 20);
	CHECK(ms1 <= us1 / 1000 + 1);
	return 0;
}

TEST(wall_is_the_time)
{
	int64_t ns = clock_wall_ns(), ms = clock_wall_ms();
	int64_t t = (int64_t)time(NULL);

	CHECK(ms >= ns / 1000000);
	CHECK(ms - ns / 1000000 < 1000);
	CHECK(ms / 1000 >= t - 1 && ms / 1000 <= t + 1);
	return 0;
}

int main(void)
{
	RUN(monotonic_and_units_agree);
	RUN(wall_is_the_time);
	TEST_EXIT();
}
