/*
 * Chunks of CHUNK bytes in a list; a request larger than a chunk gets a
 * chunk of its own. Nothing is freed before the arena.
 */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <re_types.h>
#include <re_mem.h>
#include "core/arena.h"

#define CHUNK 4096

struct chunk {
	struct chunk *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct chunk *head;
};

static void arena_destructor(void *arg)
{
	struct arena *a = arg;

	while (a->head) {
		struct chunk *c = a->head;

		a->head = c->next;
		mem_deref(c);
	}
}

int arena_alloc(struct arena **ap)
{
	struct arena *a;

	if (!ap)
		return EINVAL;
	a = mem_zalloc(sizeof(*a), arena_destructor);
	if (!a)
		return ENOMEM;
	*ap = a;
	return 0;
}

void *arena_zalloc(struct arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	struct chunk *c;
	size_t need;

	if (!a || size > SIZE_MAX / 2)
		return NULL;
	need = (size + align - 1) & ~(align - 1);
	if (!need)
		need = align;
	c = a->head;
	if (!c || c->size - c->used < need) {
		size_t csize = need > CHUNK ? need : CHUNK;

		c = mem_alloc(sizeof(*c) + csize, NULL);
		if (!c)
			return NULL;
		c->size = csize;
		c->used = 0;
		/* A big chunk goes behind the current one, so what is left
		 * of the current one is still used. */
		if (need > CHUNK && a->head) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = c->data + c->used;

	c->used += need;
	memset(p, 0, need);
	return p;
}

char *arena_strdup(struct arena *a, const char *s, size_t n)
{
	char *d;

	if (!s)
		return NULL;
	if (n == (size_t)-1)
		n = strlen(s);
	if (n == SIZE_MAX)
		return NULL;
	d = arena_zalloc(a, n + 1);
	if (d)
		memcpy(d, s, n);
	return d;
}
