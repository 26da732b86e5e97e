#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/ring.h"

int ring_init(struct ring *r, size_t capacity)
{
	size_t size = 1;

	if (!r || !capacity || capacity > ((size_t)1 << 30))
		return EINVAL;
	while (size < capacity)
		size <<= 1;
	r->buf = malloc(size);
	if (!r->buf)
		return ENOMEM;
	r->size = size;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void ring_reset(struct ring *r)
{
	if (!r)
		return;
	free(r->buf);
	r->buf = NULL;
	r->size = 0;
}

size_t ring_space(const struct ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	return r->size - (head - tail);
}

size_t ring_used(const struct ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	return head - tail;
}

int ring_write(struct ring *r, const void *data, size_t n)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t off, first;

	if (n > ring_space(r))
		return ENOSPC;
	off = head & (r->size - 1);
	first = n < r->size - off ? n : r->size - off;
	memcpy(r->buf + off, data, first);
	memcpy(r->buf, (const unsigned char *)data + first, n - first);
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return 0;
}

static size_t copy_out(const struct ring *r, size_t tail, void *data, size_t n)
{
	size_t off = tail & (r->size - 1);
	size_t first = n < r->size - off ? n : r->size - off;

	memcpy(data, r->buf + off, first);
	memcpy((unsigned char *)data + first, r->buf, n - first);
	return n;
}

size_t ring_peek(const struct ring *r, void *data, size_t n)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t used = ring_used(r);

	return copy_out(r, tail, data, n < used ? n : used);
}

size_t ring_read(struct ring *r, void *data, size_t n)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t used = ring_used(r);

	n = copy_out(r, tail, data, n < used ? n : used);
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

size_t ring_clear(struct ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	atomic_store_explicit(&r->tail, head, memory_order_release);
	return head - tail;
}

size_t ring_skip(struct ring *r, size_t n)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t used = ring_used(r);

	if (n > used)
		n = used;
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}
