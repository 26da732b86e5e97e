/*
 * A bump allocator for short-lived trees of small objects (a protobuf
 * message and its sub-messages and strings): everything taken from it is
 * freed at once with the arena.
 */
#ifndef VOXGATE_CORE_ARENA_H
#define VOXGATE_CORE_ARENA_H

#include <stddef.h>

struct arena;

/* A libre mem object: mem_deref frees it and all it handed out. */
int arena_alloc(struct arena **ap);
/* size zeroed bytes aligned for any type, or NULL when out of memory. */
void *arena_zalloc(struct arena *a, size_t size);
/* A NUL-terminated copy of n bytes of s, or of all of s when n is
 * (size_t)-1; NULL when out of memory or s is NULL. */
char *arena_strdup(struct arena *a, const char *s, size_t n);

#endif
