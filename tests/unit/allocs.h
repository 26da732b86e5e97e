/*
 * Counting allocations: the sanitizer runtime every unit test links (ASan,
 * or TSan) calls a hook on each one, whoever makes it (our code, libre,
 * curl, OpenSSL, libc), to show a path makes none.
 */
#ifndef VOXGATE_ALLOCS_H
#define VOXGATE_ALLOCS_H

#include <stdbool.h>
#include <stddef.h>

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
 * takes only a few): installed once, switched by allocs_on. */
static inline void allocs_start(void)
{
	static bool installed;

	if (!installed)
		installed = __sanitizer_install_malloc_and_free_hooks(
		                allocs_count_malloc, allocs_count_free) != 0;
	allocations = 0;
	allocs_on = true;
}

static inline void allocs_stop(void)
{
	allocs_on = false;
}

#endif
