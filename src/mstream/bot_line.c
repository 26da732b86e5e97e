/*
 * DESIGN. A clear is a position, not an order to empty the ring: the
 * signalling thread records how much of the bot's audio it had put when
 * the clear came, and the media thread (the down ring's consumer, the
 * only one allowed to drop from it) skips up to there on its next tick.
 * Audio the bot sends between the clear and that tick is therefore kept,
 * as Twilio keeps it. Marks carry the same kind of position and fall due
 * when the media thread's published play position passes it; a clear
 * makes them due at once by zeroing theirs.
 */
#include <errno.h>
#include <string.h>
#include "mstream/bot_line.h"
#include "core/g711.h"

#define ULAW_SILENCE 0xFF
#define BYTES_PER_MS 8

int bot_line_init(struct bot_line *l, unsigned up_ms, unsigned down_ms)
{
	int err;

	if (!l || !up_ms || !down_ms)
		return EINVAL;
	memset(l, 0, sizeof(*l));
	atomic_init(&l->clear_to, 0);
	atomic_init(&l->played, 0);
	err = ring_init(&l->up, (size_t)up_ms * BYTES_PER_MS);
	if (err)
		return err;
	err = ring_init(&l->down, (size_t)down_ms * BYTES_PER_MS);
	if (err) {
		ring_reset(&l->up);
		return err;
	}
	return 0;
}

void bot_line_reset(struct bot_line *l)
{
	if (!l)
		return;
	ring_reset(&l->up);
	ring_reset(&l->down);
}

void bot_line_in(struct bot_line *l, const int16_t *pcm, size_t samples)
{
	uint8_t frame[BOT_LINE_FRAME];
	size_t n = samples < BOT_LINE_FRAME ? samples : BOT_LINE_FRAME;

	if (pcm)
		g711_ulaw_encode(frame, pcm, n);
	else
		n = 0;
	memset(frame + n, ULAW_SILENCE, BOT_LINE_FRAME - n);
	if (ring_write(&l->up, frame, BOT_LINE_FRAME))
		l->up_dropped++;
}

size_t bot_line_out(struct bot_line *l, int16_t *pcm, size_t samples)
{
	uint8_t frame[BOT_LINE_FRAME];
	uint64_t to = atomic_load_explicit(&l->clear_to, memory_order_acquire);
	size_t n = samples < BOT_LINE_FRAME ? samples : BOT_LINE_FRAME;
	size_t used;

	if (to > l->consumed) {
		size_t k = ring_skip(&l->down, (size_t)(to - l->consumed));

		l->consumed += k;
		l->cleared += k;
		l->waited = 0;
	}
	used = ring_used(&l->down);
	if (used < n) {
		/* The bot's chunks need not be whole frames: the rest of
		 * one may be a tick behind, or never come (the end of an
		 * utterance). */
		if (!used || !l->waited) {
			l->waited = used > 0;
			n = 0;
		} else {
			n = used;
		}
	}
	if (n) {
		l->waited = 0;
		n = ring_read(&l->down, frame, n);
		g711_ulaw_decode(pcm, frame, n);
		l->consumed += n;
	}
	atomic_store_explicit(&l->played, l->consumed, memory_order_release);
	return n;
}

bool bot_line_take(struct bot_line *l, uint8_t frame[BOT_LINE_FRAME])
{
	if (ring_used(&l->up) < BOT_LINE_FRAME)
		return false;
	return ring_read(&l->up, frame, BOT_LINE_FRAME) == BOT_LINE_FRAME;
}

void bot_line_drop_up(struct bot_line *l)
{
	(void)ring_clear(&l->up);
}

int bot_line_put(struct bot_line *l, const uint8_t *mulaw, size_t n)
{
	if (ring_write(&l->down, mulaw, n)) {
		l->down_dropped += n;
		return ENOSPC;
	}
	l->written += n;
	return 0;
}

int bot_line_mark(struct bot_line *l, const char *name)
{
	struct bot_line_mark *m;
	size_t len = strlen(name);

	if (len >= BOT_LINE_MARK_NAME)
		return ENAMETOOLONG;
	if (l->mark_count == BOT_LINE_MARKS) {
		l->marks_dropped++;
		return ENOSPC;
	}
	m = &l->marks[(l->mark_head + l->mark_count) % BOT_LINE_MARKS];
	memcpy(m->name, name, len + 1);
	m->pos = l->written;
	l->mark_count++;
	return 0;
}

void bot_line_clear(struct bot_line *l)
{
	atomic_store_explicit(&l->clear_to, l->written, memory_order_release);
	for (size_t i = 0; i < l->mark_count; i++)
		l->marks[(l->mark_head + i) % BOT_LINE_MARKS].pos = 0;
}

bool bot_line_mark_due(struct bot_line *l, char *name)
{
	const struct bot_line_mark *m;

	if (!l->mark_count)
		return false;
	m = &l->marks[l->mark_head];
	if (m->pos > atomic_load_explicit(&l->played, memory_order_acquire))
		return false;
	memcpy(name, m->name, strlen(m->name) + 1);
	l->mark_head = (l->mark_head + 1) % BOT_LINE_MARKS;
	l->mark_count--;
	return true;
}
