/*
 * The SPSC byte ring: order and wrap-around, all-or-nothing writes, peek,
 * skip, clear, and a producer and a consumer thread moving a counted stream
 * with nothing lost, duplicated or reordered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/ring.h"

#include "test.h"

TEST(order_and_wrap)
{
	struct ring r;
	unsigned char in[100], out[100];
	unsigned next_in = 0, next_out = 0;

	CHECK_EQ(ring_init(&r, 100), 0);
	CHECK_EQ(r.size, 128);
	for (int round = 0; round < 50; round++) {
		size_t n = (size_t)(round * 7 % 90) + 1;

		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)next_in++;
		CHECK_EQ(ring_write(&r, in, n), 0);
		CHECK_EQ(ring_used(&r), n);
		CHECK_EQ(ring_read(&r, out, sizeof(out)), n);
		for (size_t i = 0; i < n; i++)
			CHECK_EQ(out[i], (unsigned char)next_out++);
	}
	ring_reset(&r);
	return 0;
}

TEST(full_peek_clear)
{
	struct ring r;
	unsigned char b[64] = {1, 2, 3};

	CHECK_EQ(ring_init(&r, 64), 0);
	CHECK_EQ(ring_write(&r, b, 60), 0);
	CHECK_EQ(ring_space(&r), 4);
	CHECK_EQ(ring_write(&r, b, 5), ENOSPC);
	CHECK_EQ(ring_used(&r), 60);
	CHECK_EQ(ring_peek(&r, b + 10, 3), 3);
	CHECK_EQ(b[10], 1);
	CHECK_EQ(b[12], 3);
	CHECK_EQ(ring_used(&r), 60);
	CHECK_EQ(ring_skip(&r, 2), 2);
	CHECK_EQ(ring_read(&r, b + 20, 1), 1);
	CHECK_EQ(b[20], 3);
	CHECK_EQ(ring_clear(&r), 57);
	CHECK_EQ(ring_used(&r), 0);
	CHECK_EQ(ring_read(&r, b, 10), 0);
	CHECK_EQ(ring_write(&r, b, 5), 0);
	CHECK_EQ(ring_skip(&r, 9), 5);
	CHECK_EQ(ring_used(&r), 0);
	CHECK_EQ(ring_init(&r, 0), EINVAL);
	ring_reset(&r);
	return 0;
}

#define STREAM_WORDS 2000000u

static void *producer(void *arg)
{
	struct ring *r = arg;
	uint32_t v = 0;

	while (v < STREAM_WORDS) {
		uint32_t batch[16];
		unsigned n = 1 + v % 16;

		if (v + n > STREAM_WORDS)
			n = STREAM_WORDS - v;
		for (unsigned i = 0; i < n; i++)
			batch[i] = v + i;
		if (ring_write(r, batch, n * sizeof(uint32_t)) == 0)
			v += n;
	}
	return NULL;
}

TEST(two_threads)
{
	struct ring r;
	pthread_t t;
	uint32_t want = 0;

	CHECK_EQ(ring_init(&r, 4096), 0);
	CHECK_EQ(pthread_create(&t, NULL, producer, &r), 0);
	while (want < STREAM_WORDS) {
		uint32_t v;

		if (ring_used(&r) < sizeof(v))
			continue;
		CHECK_EQ(ring_read(&r, &v, sizeof(v)), sizeof(v));
		if (v != want) {
			pthread_join(t, NULL);
			TEST_FAIL("two_threads", "got %u, want %u", v, want);
		}
		want++;
	}
	pthread_join(t, NULL);
	CHECK_EQ(ring_used(&r), 0);
	ring_reset(&r);
	return 0;
}

int main(void)
{
	RUN(order_and_wrap);
	RUN(full_peek_clear);
	RUN(two_threads);
	return test_failures ? 1 : 0;
}
