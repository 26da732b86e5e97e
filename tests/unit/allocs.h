/*
 * Counting allocations: the sanitizer runtime every unit test links (ASan,
 * or TSan) calls a hook on each one, whoever makes it (our code, libre,
 * curl, OpenSSL, libc), to show a path makes none.
 */
#ifndef VOXGATE_ALLOCS_H
#define VOXGATE_ALLOCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));

/* Allocations since allocs_start, while counting. */
static unsigned long allocations;
static bool allocs_on;

static inline void allocs_count_malloc(const volatile void *p, size_t n)
{
	(void)p;
	(void)n;
	if (allocs_on)
		allocations++;
}

static inline void allocs_count_free(const volatile void *p)
{
	(void)p;
}

/* The runtime keeps a hook for good (NULL hooks remove none, and it
 * takes only a few): installed once, switched by allocs_on. Before each
 * count, one malloc must count one: a hook that is not called (a runtime
 * without hooks, an install refused) would otherwise pass every "no
 * allocation" test. False when it does not; the caller must fail. */
static inline __attribute__((warn_unused_result)) bool allocs_start(void)
{
	/* through a volatile pointer, so the compiler cannot drop the pair */
	void *(*volatile alloc)(size_t) = malloc;
	void (*volatile release)(void *) = free;
	static bool installed;
	void *p;

	if (!installed)
		installed = __sanitizer_install_malloc_and_free_hooks(
		                allocs_count_malloc, allocs_count_free) != 0;
	allocations = 0;
	allocs_on = true;
	p = alloc(1);
	allocs_on = false;
	release(p);
	if (!p || allocations != 1)
		return false;
	allocations = 0;
	allocs_on = true;
	return true;
}

static inline void allocs_stop(void)
{
	allocs_on = false;
}

#endif
