/*
 * The arena: alignment, zeroing, chunks past the first, big requests,
 * string copies, and one free for everything.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "core/libre.h"
#include <re_main.h>

#include "core/arena.h"
#include "test.h"

TEST(aligned_and_zeroed)
{
	struct arena *a = NULL;

	CHECK_EQ(arena_alloc(&a), 0);
	for (size_t i = 1; i < 3000; i += 7) {
		unsigned char *p = arena_zalloc(a, i);

		CHECK(p != NULL);
		CHECK_EQ((uintptr_t)p % alignof(max_align_t), 0);
		for (size_t k = 0; k < i; k++)
			CHECK_EQ(p[k], 0);
		memset(p, 0xab, i);
	}
	mem_deref(a);
	return 0;
}

TEST(big_requests_and_after)
{
	struct arena *a = NULL;
	char *small, *big, *again;

	CHECK_EQ(arena_alloc(&a), 0);
	small = arena_zalloc(a, 16);
	big = arena_zalloc(a, 100000);
	again = arena_zalloc(a, 16);
	CHECK(small && big && again);
	memset(big, 1, 100000);
	/* The small ones do not overlap the big one. */
	CHECK(again + 16 <= big || again >= big + 100000);
	CHECK(small + 16 <= big || small >= big + 100000);
	CHECK(arena_zalloc(a, SIZE_MAX) == NULL);
	mem_deref(a);
	return 0;
}

TEST(strings)
{
	struct arena *a = NULL;
	char *s;

	CHECK_EQ(arena_alloc(&a), 0);
	s = arena_strdup(a, "hello", (size_t)-1);
	CHECK_STR(s, "hello");
	s = arena_strdup(a, "hello", 3);
	CHECK_STR(s, "hel");
	CHECK(arena_strdup(a, NULL, 3) == NULL);
	CHECK(arena_zalloc(NULL, 3) == NULL);
	CHECK_EQ(arena_alloc(NULL), EINVAL);
	mem_deref(a);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	RUN(aligned_and_zeroed);
	RUN(big_requests_and_after);
	RUN(strings);
	libre_close();
	TEST_EXIT();
}
