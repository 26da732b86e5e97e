/*
 * A single-producer, single-consumer byte ring: how a media thread and the
 * signalling thread hand audio and events to each other without a lock.
 * One thread only writes, one thread only reads; neither blocks. The
 * capacity is a power of two so positions wrap by masking, and head/tail
 * run free (they are compared by difference).
 */
#ifndef VOXGATE_CORE_RING_H
#define VOXGATE_CORE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct ring {
	unsigned char *buf;
	size_t size;        /* a power of two */
	atomic_size_t head; /* written by the producer */
	atomic_size_t tail; /* written by the consumer */
};

/* An embedded struct: ring_init sets it up, ring_reset frees its buffer.
 * Capacity is rounded up to a power of two; the buffer is malloc'd and
 * owned by the ring. */
int ring_init(struct ring *r, size_t capacity);
void ring_reset(struct ring *r);

/* Producer: writes all n bytes or none (ENOSPC). */
int ring_write(struct ring *r, const void *data, size_t n);
/* Producer: how many bytes a write could take now. */
size_t ring_space(const struct ring *r);

/* Consumer: reads up to n bytes; returns how many. */
size_t ring_read(struct ring *r, void *data, size_t n);
/* Consumer: copies up to n bytes without consuming them. */
size_t ring_peek(const struct ring *r, void *data, size_t n);
/* Consumer: how many bytes are waiting. */
size_t ring_used(const struct ring *r);
/* Consumer: drops everything written so far; returns how many bytes. */
size_t ring_clear(struct ring *r);
/* Consumer: drops up to n bytes; returns how many. */
size_t ring_skip(struct ring *r, size_t n);

#endif
