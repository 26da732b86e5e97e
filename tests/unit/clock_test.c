/* The monotonic clock: never backwards, the two units agree. */
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

int main(void)
{
	RUN(monotonic_and_units_agree);
	TEST_EXIT();
}
