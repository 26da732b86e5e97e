/*
 * The jitter buffer under a hostile stream: sequence numbers, timestamps,
 * sizes, arrival times and the order of puts, gets, peeks and resets all
 * come from the input. Whatever it releases must be exactly the packet last
 * accepted under that sequence number.
 *
 * Input: two bytes for the minimum and maximum delay, then operations,
 * each an opcode byte and its fields (see below).
 */
#include <re.h>

#include "media/jitter.h"

#include "fuzz.h"

/* What was last accepted under each sequence number. */
struct shadow {
	uint32_t ts, samples;
	uint16_t len;
	uint8_t pt, fill;
	bool set;
};

static struct shadow shadow[65536];

static void fill(uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(v + i);
}

static void check_frame(const struct jitter_frame *f)
{
	const struct shadow *s = &shadow[f->seq];
	uint8_t want[JITTER_MAX_PAYLOAD];

	FUZZ_CHECK(s->set);
	FUZZ_CHECK(f->len == s->len && f->ts == s->ts &&
	           f->samples == s->samples && f->pt == s->pt);
	FUZZ_CHECK(f->len <= JITTER_MAX_PAYLOAD);
	fill(want, f->len, s->fill);
	FUZZ_CHECK(!f->len || memcmp(f->payload, want, f->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint32_t min_ms = fuzz_u8(&in), max_ms = min_ms + 4u * fuzz_u8(&in);
	/* 16 to 128 slots: the rings opus_rx sizes and jitter_alloc's */
	size_t slots = (size_t)16 << (fuzz_u8(&in) & 3);
	uint8_t payload[JITTER_MAX_PAYLOAD + 64];
	struct jitter_stats prev = {0};
	struct jitter *jb;
	uint16_t seq = 0;
	uint32_t ts = 0;
	uint64_t t = 0;

	memset(shadow, 0, sizeof(shadow));
	if (jitter_alloc_sized(&jb, 8000, min_ms, max_ms, JITTER_MAX_PAYLOAD,
	                       slots))
		abort();
	while (in.n) {
		uint8_t op = fuzz_u8(&in);

		switch (op & 3) {
		case 0: {
			/* A packet: its number and timestamp relative to the
			 * last (or absolute), its size, its lateness. */
			enum jitter_put_result r;
			bool dtmf = op & 4;
			uint16_t len = fuzz_u16(&in) % (sizeof(payload) + 1);
			uint8_t v = fuzz_u8(&in);
			uint32_t samples = dtmf ? 0 : len;

			if (op & 8)
				seq = fuzz_u16(&in);
			else
				seq = (uint16_t)(seq + (int8_t)fuzz_u8(&in));
			if (op & 16)
				ts = fuzz_u32(&in);
			else
				ts += (uint32_t)(int8_t)fuzz_u8(&in) * 80u;
			if (dtmf)
				len = 0;
			t += fuzz_u16(&in);
			fill(payload, len, v);
			r = jitter_put(jb, seq, ts, samples, op >> 5, t,
			               payload, len);
			if (len > JITTER_MAX_PAYLOAD)
				FUZZ_CHECK(r == JITTER_PUT_TOO_LARGE);
			if (r == JITTER_PUT_OK)
				shadow[seq] = (struct shadow){
				    ts, samples, len, (uint8_t)(op >> 5),
				    v,  true};
			break;
		}
		case 1: {
			/* The 20 ms tick, perhaps late. */
			struct jitter_frame f;

			t += 20000 + 1000u * (op >> 2);
			if (jitter_get(jb, &f) == JITTER_GET_FRAME)
				check_frame(&f);
			break;
		}
		case 2: {
			/* A look at the head: what a get would release. */
			struct jitter_frame f;

			if ((op >> 2) == 0) {
				jitter_restart(jb);
			} else if ((op >> 2) == 1 && jitter_peek(jb, &f)) {
				check_frame(&f);
			} else if ((op >> 2) == 2) {
				/* A listener that reads as packets come. */
				if (jitter_get_next(jb, &f) == JITTER_GET_FRAME)
					check_frame(&f);
			}
			break;
		}
		default:
			/* A silence in the stream. */
			t += (uint64_t)fuzz_u16(&in) * 1000u;
			break;
		}
		{
			const struct jitter_stats *st = jitter_stats(jb);

			FUZZ_CHECK(st->played >= prev.played &&
			           st->received >= prev.received &&
			           st->lost >= prev.lost);
			FUZZ_CHECK(st->played <= st->received);
			prev = *st;
			FUZZ_CHECK(jitter_target(jb) <= 8 * max_ms);
		}
	}
	mem_deref(jb);
	return 0;
}
