/*
 * Jitter buffer: ordering, loss, lateness and delay bounds, at 8 kHz with
 * G.711-sized payloads (one byte per sample).
 *
 * The delay counts the audio queued behind the next packet to play, so with
 * 20 ms packets playout starts once min + 20 ms is held (40 ms: three
 * packets) and up to max + 20 ms is kept (100 ms: six packets).
 */
#include <errno.h>

#include <re.h>

#include "media/jitter.h"

#include "test.h"

#define RATE  8000
#define P20MS 160
#define P30MS 240

/* Payload bytes and header fields derived from seq, so a frame can be
 * checked against the packet it should be. */
static enum jitter_put_result put_n(struct jitter *jb, uint16_t seq,
                                    uint32_t samples)
{
	uint8_t payload[JITTER_MAX_PAYLOAD];

	for (uint32_t i = 0; i < samples; i++)
		payload[i] = (uint8_t)(seq + i);
	return jitter_put(jb, seq, (uint32_t)seq * samples, samples, 0,
	                  1000u * seq, payload, samples);
}

static enum jitter_put_result put(struct jitter *jb, uint16_t seq)
{
	return put_n(jb, seq, P20MS);
}

static enum jitter_put_result put_at(struct jitter *jb, uint16_t seq,
                                     uint64_t arrival_us)
{
	uint8_t payload[P20MS];

	for (uint32_t i = 0; i < P20MS; i++)
		payload[i] = (uint8_t)(seq + i);
	return jitter_put(jb, seq, (uint32_t)seq * P20MS, P20MS, 0, arrival_us,
	                  payload, P20MS);
}

/* The packet it should be, whenever it arrived. */
static int payload_ok(const struct jitter_frame *f, uint16_t seq)
{
	if (f->seq != seq || f->ts != (uint32_t)seq * f->samples ||
	    f->len != f->samples)
		return 0;
	for (size_t i = 0; i < f->len; i++)
		if (f->payload[i] != (uint8_t)(seq + i))
			return 0;
	return 1;
}

static int frame_ok(const struct jitter_frame *f, uint16_t seq)
{
	return payload_ok(f, seq) && f->arrival_us == 1000u * seq;
}

/* Expect a frame with this seq from the next get. */
#define CHECK_FRAME(jb, seq_)                                                  \
	do {                                                                   \
		struct jitter_frame f_;                                        \
		CHECK_EQ(jitter_get(jb, &f_), JITTER_GET_FRAME);               \
		CHECK_EQ(f_.seq, (uint16_t)(seq_));                            \
		CHECK(frame_ok(&f_, (uint16_t)(seq_)));                        \
	} while (0)

#define CHECK_GET(jb, res)                                                     \
	do {                                                                   \
		struct jitter_frame f_;                                        \
		CHECK_EQ(jitter_get(jb, &f_), res);                            \
	} while (0)

TEST(alloc_args)
{
	struct jitter *jb = NULL;

	CHECK_EQ(jitter_alloc(&jb, RATE, 100, 40), EINVAL);
	CHECK_EQ(jitter_alloc(&jb, 0, 40, 100), EINVAL);
	CHECK_EQ(jitter_alloc(NULL, RATE, 40, 100), EINVAL);
	CHECK(jb == NULL);
	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 40), 0);
	mem_deref(jb);
	mem_deref(NULL);
	return 0;
}

TEST(in_order)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 2), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 2 * P20MS);
	/* 40 ms held is only 20 ms behind packet 1. */
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 3), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 3 * P20MS);

	for (uint16_t seq = 1; seq <= 20; seq++) {
		CHECK_FRAME(jb, seq);
		CHECK_EQ(jitter_depth(jb), 2 * P20MS);
		CHECK_EQ(put(jb, seq + 3), JITTER_PUT_OK);
		CHECK_EQ(jitter_depth(jb), 3 * P20MS);
	}

	const struct jitter_stats *st = jitter_stats(jb);
	CHECK_EQ(st->received, 23);
	CHECK_EQ(st->played, 20);
	CHECK_EQ(st->underrun, 0);
	CHECK_EQ(st->lost + st->late + st->duplicate + st->discarded, 0);
	mem_deref(jb);
	return 0;
}

TEST(reorder)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 3), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 2), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	CHECK_FRAME(jb, 2);
	CHECK_FRAME(jb, 3);

	/* Reordered while playing: filled in before its turn. */
	CHECK_EQ(put(jb, 5), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 4), JITTER_PUT_OK);
	CHECK_FRAME(jb, 4);
	CHECK_FRAME(jb, 5);
	CHECK_EQ(jitter_stats(jb)->lost, 0);
	CHECK_EQ(jitter_stats(jb)->late, 0);
	CHECK_EQ(jitter_stats(jb)->underrun, 0);
	mem_deref(jb);
	return 0;
}

TEST(loss)
{
	struct jitter *jb;
	struct jitter_frame f;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 2), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	/* The hole does not count: three packets must be held. */
	CHECK_EQ(put(jb, 4), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 5), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	CHECK_FRAME(jb, 2);

	CHECK_EQ(jitter_get(jb, &f), JITTER_GET_LOST);
	CHECK_EQ(f.seq, 3);
	CHECK_EQ(f.samples, P20MS);
	CHECK_EQ(f.ts, 3 * P20MS);
	CHECK_EQ(f.len, 0);

	CHECK_FRAME(jb, 4);
	CHECK_FRAME(jb, 5);
	CHECK_EQ(jitter_stats(jb)->lost, 1);
	CHECK_EQ(jitter_stats(jb)->played, 4);
	mem_deref(jb);
	return 0;
}

/* What follows a gap can be looked at before its turn (in-band FEC), and
 * stays to be played. */
TEST(peek_behind_gap)
{
	struct jitter *jb;
	struct jitter_frame f;

	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 200), 0);
	CHECK(!jitter_peek(jb, &f));
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 4), JITTER_PUT_OK);
	/* Before playout, the lowest held is next. */
	CHECK(jitter_peek(jb, &f));
	CHECK(frame_ok(&f, 1));
	CHECK_FRAME(jb, 1);

	CHECK(!jitter_peek(jb, &f));
	CHECK_EQ(f.len, 0);
	CHECK(f.payload == NULL);
	CHECK_GET(jb, JITTER_GET_LOST); /* 2: 3 is missing too */
	CHECK(!jitter_peek(jb, &f));
	CHECK_GET(jb, JITTER_GET_LOST); /* 3 */
	CHECK(jitter_peek(jb, &f));
	CHECK(frame_ok(&f, 4));
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_FRAME(jb, 4);
	CHECK(!jitter_peek(jb, &f));
	CHECK_EQ(jitter_stats(jb)->played, 2);
	CHECK_EQ(jitter_stats(jb)->lost, 2);
	mem_deref(jb);
	return 0;
}

TEST(late)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 2), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 4), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	CHECK_FRAME(jb, 2);
	CHECK_GET(jb, JITTER_GET_LOST);

	CHECK_EQ(put(jb, 3), JITTER_PUT_LATE);
	CHECK_EQ(put(jb, 1), JITTER_PUT_LATE);
	CHECK_EQ(jitter_depth(jb), P20MS);
	/* Packets are arriving after their turn: one read is held back so
	 * the next ones have a frame longer to come. */
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_FRAME(jb, 4);

	const struct jitter_stats *st = jitter_stats(jb);
	CHECK_EQ(st->late, 2);
	CHECK_EQ(st->stretched, 1);
	CHECK_EQ(st->underrun, 0);
	CHECK_EQ(st->lost, 1);
	CHECK_EQ(st->received, 3);
	mem_deref(jb);
	return 0;
}

/* jitter_get_next gives each packet as soon as it is the next, whatever
 * the target; waits for one out of order, calls a gap two later packets
 * have passed lost; and jitter_get reads on from where it left. */
TEST(get_next)
{
	struct jitter *jb;
	struct jitter_frame f;

	CHECK_EQ(jitter_alloc(&jb, RATE, 60, 200), 0);
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_FRAME);
	CHECK(f.seq == 1 && frame_ok(&f, 1));
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 3), JITTER_PUT_OK);
	CHECK_EQ(jitter_get_next(jb, &f),
	         JITTER_GET_EMPTY); /* 2 may still come */
	CHECK_EQ(put(jb, 2), JITTER_PUT_OK);
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_FRAME);
	CHECK(f.seq == 2 && frame_ok(&f, 2));
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_FRAME);
	CHECK(f.seq == 3 && frame_ok(&f, 3));
	CHECK_EQ(put(jb, 5), JITTER_PUT_OK);
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 6), JITTER_PUT_OK);
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_LOST);
	CHECK_EQ(f.seq, 4);
	CHECK_EQ(f.samples, P20MS);
	CHECK_EQ(jitter_get_next(jb, &f), JITTER_GET_FRAME);
	CHECK(f.seq == 5 && frame_ok(&f, 5));
	CHECK_FRAME(jb, 6);
	CHECK_EQ(put(jb, 4), JITTER_PUT_LATE);
	CHECK_EQ(jitter_stats(jb)->lost, 1);
	CHECK_EQ(jitter_stats(jb)->played, 5);
	CHECK_EQ(jitter_depth(jb), 0);
	mem_deref(jb);
	return 0;
}

TEST(duplicate)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 7), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 7), JITTER_PUT_DUPLICATE);
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 8), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 8), JITTER_PUT_DUPLICATE);
	/* Duplicates add no delay: still two packets, not enough. */
	CHECK_EQ(jitter_depth(jb), 2 * P20MS);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 9), JITTER_PUT_OK);
	CHECK_FRAME(jb, 7);
	CHECK_EQ(put(jb, 9), JITTER_PUT_DUPLICATE);
	CHECK_FRAME(jb, 8);
	CHECK_FRAME(jb, 9);
	CHECK_GET(jb, JITTER_GET_EMPTY);

	CHECK_EQ(jitter_stats(jb)->duplicate, 3);
	CHECK_EQ(jitter_stats(jb)->received, 3);
	CHECK_EQ(jitter_stats(jb)->played, 3);
	mem_deref(jb);
	return 0;
}

TEST(max_delay)
{
	struct jitter *jb;

	/* 100 ms queued behind the next packet: six 20 ms packets. */
	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 100), 0);
	for (uint16_t seq = 1; seq <= 8; seq++) {
		CHECK_EQ(put(jb, seq), JITTER_PUT_OK);
		CHECK_EQ(jitter_depth(jb), (seq < 6 ? seq : 6) * P20MS);
		CHECK_EQ(jitter_stats(jb)->discarded, seq > 6 ? seq - 6 : 0);
	}
	CHECK_EQ(jitter_stats(jb)->lost, 0);
	CHECK_FRAME(jb, 3);

	/* While playing, 4..8 go first, then 10 with the hole at 9 before
	 * it: that hole is lost. */
	for (uint16_t seq = 10; seq <= 16; seq++) {
		CHECK_EQ(put(jb, seq), JITTER_PUT_OK);
		CHECK(jitter_depth(jb) <= 6 * P20MS);
	}
	CHECK_EQ(jitter_depth(jb), 6 * P20MS);
	CHECK_EQ(jitter_stats(jb)->discarded, 8);
	CHECK_EQ(jitter_stats(jb)->lost, 1);
	CHECK_FRAME(jb, 11);

	/* A discarded seq arriving again is late, not new. */
	CHECK_EQ(put(jb, 10), JITTER_PUT_LATE);
	mem_deref(jb);
	return 0;
}

/* A single packet longer than the maximum is still kept and played. */
TEST(max_delay_one_packet)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 20), 0);
	CHECK_EQ(put_n(jb, 1, P30MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), P30MS);
	/* A range narrower than a packet still holds one packet behind the
	 * next (the ceiling is one packet above the start), so it plays. */
	CHECK_EQ(put_n(jb, 2, P30MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 2 * P30MS);
	CHECK_EQ(jitter_stats(jb)->discarded, 0);
	/* A third is one too many: 1 goes. */
	CHECK_EQ(put_n(jb, 3, P30MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 2 * P30MS);
	CHECK_EQ(jitter_stats(jb)->discarded, 1);
	CHECK_FRAME(jb, 2);
	CHECK_FRAME(jb, 3);
	CHECK_GET(jb, JITTER_GET_EMPTY);

	/* An older 20 ms packet arrives behind a 60 ms one before playout:
	 * discarding it still leaves 60 ms, over max + 20 ms, but the last
	 * packet stays. */
	jitter_restart(jb);
	CHECK_EQ(put_n(jb, 11, 3 * P20MS), JITTER_PUT_OK);
	CHECK_EQ(put_n(jb, 10, P20MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 3 * P20MS);
	CHECK_EQ(jitter_stats(jb)->discarded, 2);
	CHECK_FRAME(jb, 11);
	CHECK_EQ(jitter_depth(jb), 0);
	CHECK_EQ(jitter_stats(jb)->played, 3);
	mem_deref(jb);
	return 0;
}

TEST(wrap)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 60, 200), 0);
	CHECK_EQ(put(jb, 65534), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 0), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 65535), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_FRAME(jb, 65534);
	CHECK_FRAME(jb, 65535);
	CHECK_EQ(put(jb, 3), JITTER_PUT_OK);
	CHECK_FRAME(jb, 0);
	CHECK_FRAME(jb, 1);
	CHECK_GET(jb, JITTER_GET_LOST);
	CHECK_FRAME(jb, 3);

	CHECK_EQ(put(jb, 65535), JITTER_PUT_LATE);
	CHECK_EQ(jitter_stats(jb)->late, 1);
	CHECK_EQ(jitter_stats(jb)->lost, 1);
	mem_deref(jb);
	return 0;
}

TEST(underrun)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 1), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 2), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 3), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	CHECK_FRAME(jb, 2);
	CHECK_FRAME(jb, 3);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(jitter_stats(jb)->underrun, 1);

	/* Rebuffer to the minimum behind the next packet before playing
	 * again. */
	CHECK_EQ(put(jb, 4), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 5), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 6), JITTER_PUT_OK);
	CHECK_FRAME(jb, 4);
	CHECK_FRAME(jb, 5);
	CHECK_FRAME(jb, 6);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(jitter_stats(jb)->underrun, 2);

	/* The expected seq stays put: the hole is concealed on resume. */
	CHECK_EQ(put(jb, 8), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 9), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 10), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_LOST);
	CHECK_FRAME(jb, 8);
	CHECK_FRAME(jb, 9);
	CHECK_FRAME(jb, 10);
	CHECK_EQ(jitter_stats(jb)->lost, 1);
	CHECK_EQ(jitter_stats(jb)->underrun, 2);
	mem_deref(jb);
	return 0;
}

TEST(restart)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 10), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 11), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 12), JITTER_PUT_OK);
	CHECK_FRAME(jb, 10);

	/* Jump ahead: old packets are forgotten, buffering starts over. */
	CHECK_EQ(put(jb, 5000), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 4999), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 5001), JITTER_PUT_OK);
	CHECK_FRAME(jb, 4999);
	CHECK_FRAME(jb, 5000);
	CHECK_FRAME(jb, 5001);

	/* Jump back far enough is a restart too, not a late packet. */
	CHECK_EQ(put(jb, 20), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_EQ(put(jb, 21), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 22), JITTER_PUT_OK);
	CHECK_FRAME(jb, 20);
	CHECK_FRAME(jb, 21);
	CHECK_FRAME(jb, 22);

	/* At the threshold it is still the same stream. */
	CHECK_EQ(put(jb, 23 + 100), JITTER_PUT_OK);
	CHECK_EQ(put(jb, (uint16_t)(23 - 100)), JITTER_PUT_LATE);
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_EQ(jitter_stats(jb)->late, 1);
	CHECK_EQ(jitter_stats(jb)->lost, 0);
	mem_deref(jb);
	return 0;
}

TEST(variable_duration)
{
	struct jitter *jb;
	struct jitter_frame f;

	/* 30 ms packets: 40 ms behind the next one takes three, as two
	 * leave only 30 ms behind the first. */
	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put_n(jb, 1, P30MS), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put_n(jb, 2, P30MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 2 * P30MS);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put_n(jb, 3, P30MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_get(jb, &f), JITTER_GET_FRAME);
	CHECK_EQ(f.samples, P30MS);
	CHECK(frame_ok(&f, 1));

	CHECK_EQ(put_n(jb, 5, P30MS), JITTER_PUT_OK);
	CHECK_FRAME(jb, 2);
	CHECK_FRAME(jb, 3);
	CHECK_EQ(jitter_get(jb, &f), JITTER_GET_LOST);
	CHECK_EQ(f.samples, P30MS);
	CHECK_EQ(f.ts, 4 * P30MS);
	CHECK_FRAME(jb, 5);

	/* 200 ms behind the next packet: seven 30 ms packets, not eight. */
	for (uint16_t seq = 6; seq <= 13; seq++)
		CHECK_EQ(put_n(jb, seq, P30MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 7 * P30MS);
	CHECK_EQ(jitter_stats(jb)->discarded, 1);
	mem_deref(jb);

	/* Mixed durations: the latest packet is the one subtracted. With
	 * 30 ms minimum, 30 + 20 ms is enough, 20 + 30 ms is not. */
	CHECK_EQ(jitter_alloc(&jb, RATE, 30, 200), 0);
	CHECK_EQ(put_n(jb, 1, P30MS), JITTER_PUT_OK);
	CHECK_EQ(put_n(jb, 2, P20MS), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	jitter_restart(jb);
	CHECK_EQ(put_n(jb, 1, P20MS), JITTER_PUT_OK);
	CHECK_EQ(put_n(jb, 2, P30MS), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put_n(jb, 3, P20MS), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	mem_deref(jb);
	return 0;
}

TEST(too_large)
{
	struct jitter *jb;
	uint8_t big[JITTER_MAX_PAYLOAD + 1] = {0};

	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 200), 0);
	CHECK_EQ(jitter_put(jb, 1, 0, P20MS, 0, 0, big, sizeof(big)),
	         JITTER_PUT_TOO_LARGE);
	CHECK_EQ(jitter_depth(jb), 0);
	CHECK_EQ(jitter_stats(jb)->received, 0);
	CHECK_GET(jb, JITTER_GET_EMPTY);

	CHECK_EQ(jitter_put(jb, 1, 0, P20MS, 0, 0, big, JITTER_MAX_PAYLOAD),
	         JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_FRAME);
	mem_deref(jb);
	return 0;
}

/* Room sized per stream: Opus packets outgrow G.711's 480 bytes. */
TEST(sized_room)
{
	static uint8_t big[1276];
	struct jitter *jb = NULL;
	struct jitter_frame f;

	CHECK_EQ(jitter_alloc_sized(&jb, 48000, 0, 100, 0, 32), EINVAL);
	CHECK_EQ(jitter_alloc_sized(&jb, 48000, 0, 100, 65536, 32), EINVAL);
	CHECK_EQ(jitter_alloc_sized(&jb, 48000, 0, 100, 1275, 8), EINVAL);
	CHECK_EQ(jitter_alloc_sized(&jb, 48000, 0, 100, 1275, 48), EINVAL);
	CHECK_EQ(jitter_alloc_sized(&jb, 48000, 0, 100, 1275, 2048), EINVAL);
	CHECK(jb == NULL);
	CHECK_EQ(jitter_alloc_sized(&jb, 48000, 0, 100, 1275, 32), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	CHECK_EQ(jitter_put(jb, 1, 0, 960, 0, 0, big, 1276),
	         JITTER_PUT_TOO_LARGE);
	/* Two in adjacent slots: neither overwrites the other's room. */
	CHECK_EQ(jitter_put(jb, 1, 0, 960, 0, 0, big, 1275), JITTER_PUT_OK);
	CHECK_EQ(jitter_put(jb, 2, 960, 960, 0, 20000, big + 1, 1275),
	         JITTER_PUT_OK);
	CHECK_EQ(jitter_get(jb, &f), JITTER_GET_FRAME);
	CHECK_EQ(f.len, 1275);
	CHECK(memcmp(f.payload, big, 1275) == 0);
	CHECK_EQ(jitter_get(jb, &f), JITTER_GET_FRAME);
	CHECK_EQ(f.len, 1275);
	CHECK(memcmp(f.payload, big + 1, 1275) == 0);
	mem_deref(jb);
	return 0;
}

/* A smaller ring restarts the stream at a shorter jump: 12 of 16 slots
 * ahead is still the stream, with the gap lost; 13 is a restart. */
TEST(small_ring)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc_sized(&jb, RATE, 0, 100, JITTER_MAX_PAYLOAD, 16),
	         0);
	CHECK_EQ(put(jb, 10), JITTER_PUT_OK);
	CHECK_FRAME(jb, 10);
	CHECK_EQ(put(jb, 11 + 12), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_LOST);
	/* next is 12: 0 is 12 behind, late; 25 is 13 ahead, a restart */
	CHECK_EQ(put(jb, 0), JITTER_PUT_LATE);
	CHECK_EQ(jitter_stats(jb)->late, 1);
	CHECK_EQ(put(jb, 25), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), P20MS);
	CHECK_FRAME(jb, 25);
	mem_deref(jb);
	return 0;
}

TEST(reset)
{
	struct jitter *jb;

	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 200), 0);
	CHECK_EQ(put(jb, 30), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 31), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 32), JITTER_PUT_OK);
	CHECK_FRAME(jb, 30);
	jitter_restart(jb);
	CHECK_EQ(jitter_depth(jb), 0);
	CHECK_GET(jb, JITTER_GET_EMPTY);

	/* A new stream may start below the old one and buffers again;
	 * stats carry on. */
	CHECK_EQ(put(jb, 5), JITTER_PUT_OK);
	CHECK_EQ(put(jb, 6), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put(jb, 7), JITTER_PUT_OK);
	CHECK_FRAME(jb, 5);
	CHECK_EQ(jitter_stats(jb)->received, 6);
	CHECK_EQ(jitter_stats(jb)->late, 0);
	CHECK_EQ(jitter_stats(jb)->underrun, 0);
	mem_deref(jb);
	return 0;
}

/*
 * Packets sent every 20 ms and played every 20 ms, with the reads at every
 * phase against the arrivals: each packet played has waited the minimum
 * delay, and at most one period more. Nothing is lost or discarded, even
 * with min == max.
 */
TEST(waits_min_delay)
{
	static const uint32_t cfg[][2] = {
	    {0, 200}, {20, 60}, {40, 60}, {40, 40}, {60, 200}, {100, 100},
	};
	const uint64_t period = 20000, n = 200;

	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		const uint64_t min_us = 1000u * cfg[c][0];

		/* Reads at each whole ms after an arrival (0: together
		 * with it), and once just short of the next arrival. */
		for (uint64_t i = 0; i <= period / 1000; i++) {
			uint64_t ph = i < period / 1000 ? 1000 * i : period - 1;
			struct jitter *jb;
			uint64_t sent = 0, get_us = ph;
			uint16_t expect = 0;

			CHECK_EQ(jitter_alloc(&jb, RATE, cfg[c][0], cfg[c][1]),
			         0);
			while (expect < n) {
				struct jitter_frame f;
				enum jitter_get_result res;

				/* A packet arriving with the read is in time
				 * for it. */
				for (; sent < n && sent * period <= get_us;
				     sent++) {
					uint8_t payload[P20MS] = {0};
					CHECK_EQ(
					    jitter_put(jb, (uint16_t)sent,
					               (uint32_t)sent * P20MS,
					               P20MS, 0, sent * period,
					               payload, P20MS),
					    JITTER_PUT_OK);
				}

				res = jitter_get(jb, &f);
				CHECK(res != JITTER_GET_LOST);
				if (res == JITTER_GET_FRAME) {
					CHECK_EQ(f.seq, expect);
					CHECK_EQ(f.arrival_us, expect * period);
					CHECK(get_us - f.arrival_us >= min_us);
					CHECK(get_us - f.arrival_us <=
					      min_us + period);
					expect++;
				} else {
					/* Only while buffering, and exactly
					 * until min has arrived behind the
					 * first packet. */
					CHECK_EQ(res, JITTER_GET_EMPTY);
					CHECK_EQ(expect, 0);
					CHECK(get_us < min_us);
				}
				get_us += period;
			}

			const struct jitter_stats *st = jitter_stats(jb);
			CHECK_EQ(st->played, n);
			CHECK_EQ(st->lost + st->discarded + st->underrun, 0);
			CHECK_GET(jb, JITTER_GET_EMPTY);
			CHECK_EQ(st->underrun, 1);
			mem_deref(jb);
		}
	}
	return 0;
}

/*
 * A simulated network, one packet sent and one frame read per tick: random
 * delay (hence reordering), loss, duplicates, and a periodic stall that
 * releases a burst. Whatever the mix, nothing plays twice or out of order,
 * playout starts and stops exactly as the delay rule says, and every
 * accepted packet is played, discarded or still held.
 */
#define SIM_PACKETS 20000
#define SIM_SPAN    24 /* longest delay in ticks */

static int16_t sim_delay[SIM_PACKETS]; /* -1: lost */
static int16_t sim_dup[SIM_PACKETS];   /* -1: not duplicated */

static void sim_network(void)
{
	uint32_t rng = 12345;

	for (int i = 0; i < SIM_PACKETS; i++) {
		rng = rng * 1103515245u + 12345u;
		unsigned r = rng >> 16;
		int stall = i % 500;

		sim_delay[i] = (int16_t)((r >> 5) % 4);
		if (stall < 12)
			sim_delay[i] = (int16_t)(sim_delay[i] + 12 - stall);
		else if (r % 40 == 1)
			sim_delay[i] = SIM_SPAN;
		sim_dup[i] = r % 30 == 2 ? (int16_t)(sim_delay[i] + 1) : -1;
		if (r % 25 == 3)
			sim_delay[i] = -1;
	}
}

TEST(random_network)
{
	struct jitter *jb;
	uint16_t first = 65000, expect = 0;
	bool have_expect = false, playing = false;
	uint64_t discarded = 0, underrun = 0, stretched = 0;
	/* All packets are 20 ms: max 120 ms keeps at most seven. */
	const uint32_t most = 7 * P20MS;

	sim_network();
	CHECK_EQ(jitter_alloc(&jb, RATE, 40, 120), 0);
	for (int t = 0; t < SIM_PACKETS + SIM_SPAN + 2; t++) {
		int lo = t > SIM_SPAN + 1 ? t - SIM_SPAN - 1 : 0;

		for (int i = lo; i <= t && i < SIM_PACKETS; i++) {
			for (int k = 0; k < 2; k++) {
				int d = k ? sim_dup[i] : sim_delay[i];
				uint64_t before = jitter_stats(jb)->discarded;

				if (d < 0 || i + d != t)
					continue;
				put_at(jb, (uint16_t)(first + i), 20000u * t);
				/* Discarding stops at exactly the limit. */
				CHECK(jitter_depth(jb) <= most);
				if (jitter_stats(jb)->discarded != before)
					CHECK_EQ(jitter_depth(jb), most);
			}
		}

		struct jitter_frame f;
		uint32_t depth = jitter_depth(jb);
		uint32_t start = jitter_target(jb) + P20MS;
		enum jitter_get_result res = jitter_get(jb, &f);

		CHECK(start >= 3 * P20MS && start <= most);
		/* Starts once the target is queued behind the next packet, and
		 * stops (one underrun) only when nothing is held; a late
		 * packet holds one read back while playing. */
		if (!playing) {
			CHECK_EQ(res == JITTER_GET_EMPTY, depth < start);
			playing = res != JITTER_GET_EMPTY;
		} else if (res == JITTER_GET_EMPTY && depth > 0) {
			CHECK_EQ(jitter_stats(jb)->stretched, stretched + 1);
		} else if (res == JITTER_GET_EMPTY) {
			CHECK_EQ(jitter_stats(jb)->underrun, underrun + 1);
			playing = false;
		}
		underrun = jitter_stats(jb)->underrun;
		stretched = jitter_stats(jb)->stretched;

		if (res != JITTER_GET_EMPTY) {
			/* Only a discard skips ahead. */
			if (have_expect && f.seq != expect) {
				CHECK(jitter_stats(jb)->discarded > discarded);
				CHECK((int16_t)(uint16_t)(f.seq - expect) > 0);
			}
			if (res == JITTER_GET_FRAME)
				CHECK(payload_ok(&f, f.seq));
			expect = (uint16_t)(f.seq + 1);
			have_expect = true;
			discarded = jitter_stats(jb)->discarded;
		}

		const struct jitter_stats *st = jitter_stats(jb);
		CHECK(jitter_depth(jb) <= most);
		CHECK_EQ(st->received,
		         st->played + st->discarded + jitter_depth(jb) / P20MS);
	}

	const struct jitter_stats *st = jitter_stats(jb);
	CHECK(st->played > SIM_PACKETS * 8 / 10);
	CHECK(st->lost > 0 && st->late > 0 && st->duplicate > 0);
	CHECK(st->discarded > 0 && st->underrun > 0 && st->stretched > 0);
	mem_deref(jb);
	return 0;
}

/*
 * A line: packet i is sent at i * 20 ms with timestamp i * 160 and arrives
 * at line_arrival[i] (0: lost); the buffer is read every 20 ms at `phase`.
 * line_wait[i] is how long packet i waited for its read, -1 if never played.
 */
#define LINE_PACKETS 3000 /* a minute */

static uint64_t line_arrival[LINE_PACKETS];
static int64_t line_wait[LINE_PACKETS];

static void play_line(struct jitter *jb, uint64_t phase)
{
	const uint64_t period = 20000, window = 6000000;
	uint64_t end = 0;

	for (int i = 0; i < LINE_PACKETS; i++) {
		line_wait[i] = -1;
		if (line_arrival[i] > end)
			end = line_arrival[i];
	}
	for (uint64_t get_us = phase; get_us <= end + 10 * period;
	     get_us += period) {
		int lo =
		    get_us > window ? (int)((get_us - window) / period) : 0;
		int due[64], ndue = 0;
		struct jitter_frame f;

		/* Those arriving since the last read, in order of arrival;
		 * no delay simulated here exceeds the window. */
		for (int i = lo;
		     i < LINE_PACKETS && (uint64_t)i * period <= get_us; i++) {
			uint64_t a = line_arrival[i];
			int k = ndue;

			if (!a || a > get_us || a + period <= get_us ||
			    ndue == 64)
				continue;
			while (k > 0 && line_arrival[due[k - 1]] > a) {
				due[k] = due[k - 1];
				k--;
			}
			due[k] = i;
			ndue++;
		}
		for (int k = 0; k < ndue; k++)
			put_at(jb, (uint16_t)due[k], line_arrival[due[k]]);
		if (jitter_get(jb, &f) == JITTER_GET_FRAME)
			line_wait[f.seq] = (int64_t)(get_us - f.arrival_us);
	}
}

/* Waits of the packets played in [from, to), in ms: the largest, and how
 * many packets of the range were not played. */
static void line_summary(int from, int to, int64_t *max_ms, int *missed)
{
	*max_ms = 0;
	*missed = 0;
	for (int i = from; i < to; i++) {
		if (line_wait[i] < 0)
			(*missed)++;
		else if (line_wait[i] / 1000 > *max_ms)
			*max_ms = line_wait[i] / 1000;
	}
}

static uint32_t lcg(uint32_t *rng)
{
	*rng = *rng * 1103515245u + 12345u;
	return *rng >> 16;
}

/* A clean line, however late it runs: with a floor of 0 every packet is
 * played at the first read after it arrives. */
TEST(clean_line_costs_one_read)
{
	for (uint64_t phase = 0; phase < 20000; phase += 2500) {
		struct jitter *jb;
		int64_t most;
		int missed;

		for (int i = 0; i < LINE_PACKETS; i++)
			line_arrival[i] = 20000u * (uint64_t)i + 37000;
		CHECK_EQ(jitter_alloc(&jb, RATE, 0, 100), 0);
		play_line(jb, phase);
		line_summary(0, LINE_PACKETS, &most, &missed);
		CHECK_EQ(missed, 0);
		CHECK(most < 20);
		CHECK_EQ(jitter_target(jb), 0);
		mem_deref(jb);
	}
	return 0;
}

/* Up to 30 ms of random delay: at first the buffer runs dry, then it has
 * deepened to the delay the line shows and packets are in time, without
 * waiting much more than that delay and a read. */
TEST(deepens_to_the_jitter)
{
	uint32_t rng = 7;
	struct jitter *jb;
	int64_t most;
	int missed;

	for (int i = 0; i < LINE_PACKETS; i++)
		line_arrival[i] =
		    20000u * (uint64_t)i + 1000 + 1000u * (lcg(&rng) % 31);
	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 100), 0);
	play_line(jb, 500);
	CHECK(jitter_stats(jb)->underrun > 0);
	line_summary(500, LINE_PACKETS, &most, &missed);
	CHECK(missed <= (LINE_PACKETS - 500) / 200);
	CHECK(most <= 30 + 2 * 20);
	CHECK(jitter_target(jb) >= 25 * RATE / 1000);
	CHECK(jitter_target(jb) <= 30 * RATE / 1000);
	mem_deref(jb);
	return 0;
}

/* A 200 ms stall on an otherwise clean line: the burst it releases is
 * held, then the delay comes back down to one read within 20 s, at the
 * cost of a few dropped packets. */
TEST(gives_back_a_burst)
{
	struct jitter *jb;
	int64_t most;
	int missed;

	for (int i = 0; i < LINE_PACKETS; i++)
		line_arrival[i] = 20000u * (uint64_t)i + 1000;
	for (int i = 500; i < 510; i++)
		line_arrival[i] = 20000u * 510 + 1000;
	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 300), 0);
	play_line(jb, 5000);
	line_summary(0, 500, &most, &missed);
	CHECK(missed == 0 && most < 20);
	line_summary(500, 520, &most, &missed);
	CHECK_EQ(missed, 0);
	line_summary(1500, LINE_PACKETS, &most, &missed);
	CHECK(missed == 0 && most < 20);
	CHECK(jitter_stats(jb)->discarded <= 12);
	mem_deref(jb);
	return 0;
}

/* Neither a sender whose clock runs 500 ppm slow nor one whose timestamps
 * stood still through 5 s of silence is taken for jitter. */
TEST(clock_drift_and_leaps)
{
	struct jitter *jb;
	int64_t most;
	int missed;

	for (int i = 0; i < LINE_PACKETS; i++)
		line_arrival[i] = 20010u * (uint64_t)i + 1000;
	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 100), 0);
	play_line(jb, 3000);
	CHECK(jitter_target(jb) <= 5 * RATE / 1000);
	line_summary(0, LINE_PACKETS, &most, &missed);
	CHECK(missed <= 3 && most < 25);
	mem_deref(jb);

	for (int i = 0; i < LINE_PACKETS; i++)
		line_arrival[i] =
		    20000u * (uint64_t)i + 1000 + (i >= 1000 ? 5000000 : 0);
	CHECK_EQ(jitter_alloc(&jb, RATE, 0, 100), 0);
	play_line(jb, 3000);
	line_summary(1100, LINE_PACKETS, &most, &missed);
	CHECK(missed == 0 && most < 20);
	CHECK_EQ(jitter_target(jb), 0);
	mem_deref(jb);
	return 0;
}

/* Ranges narrower than a packet, and packets longer than the range, must
 * still play: a ceiling below the start threshold would keep a call silent. */
TEST(narrow_range_plays)
{
	static const uint32_t cases[][3] = {
	    /* min ms, max ms, packet ms */
	    {20, 20, 30}, {20, 40, 60}, {40, 40, 30}, {0, 0, 20}, {40, 60, 60},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct jitter *jb;
		uint32_t samples = cases[c][2] * RATE / 1000;
		unsigned played = 0;

		CHECK_EQ(jitter_alloc(&jb, RATE, cases[c][0], cases[c][1]), 0);
		for (uint16_t seq = 0; seq < 500; seq++) {
			struct jitter_frame f;

			CHECK_EQ(put_n(jb, seq, samples), JITTER_PUT_OK);
			if (jitter_get(jb, &f) == JITTER_GET_FRAME)
				played++;
		}
		CHECK(played >= 490);
		CHECK_EQ(jitter_stats(jb)->discarded, 0);
		mem_deref(jb);
	}
	return 0;
}

/*
 * Sequences as a hostile sender would pick them: jumps to the edges of
 * the restart distance and of the slot ring (and one past), back and
 * forth, wraps, duplicates, any timestamp, sizes up to too large, reads and
 * resets in between. The buffer must never abort, and every frame it gives
 * must be the packet put under that sequence number: a slot never hands
 * out another packet's payload.
 */
TEST(hostile_sequences)
{
	static const int jumps[] = {
	    0,    1,    -1,  2,   12,   13,   -12,   -13,   15,    16,  17,
	    -16,  25,   26,  -25, -26,  27,   28,    29,    31,    32,  33,
	    -32,  99,   100, 101, -99,  -100, -101,  127,   128,   129, -127,
	    -128, -129, 255, 256, -256, 4096, -4096, 32767, -32768};
	static const size_t rings[] = {16, 32, 128};
	static const uint32_t sizes[] = {0, 80, 160, 240, 480, 481, 1000};
	uint8_t payload[1000];
	uint32_t rng = 11;
	uint64_t frames = 0;

	for (int round = 0; round < 400; round++) {
		struct jitter *jb;
		uint16_t seq = (uint16_t)lcg(&rng);
		uint64_t t = 0;

		CHECK_EQ(jitter_alloc_sized(
		             &jb, RATE, lcg(&rng) % 80, 80 + lcg(&rng) % 200,
		             JITTER_MAX_PAYLOAD, rings[round % 3]),
		         0);
		for (int op = 0; op < 400; op++) {
			uint32_t r = lcg(&rng);
			struct jitter_frame f;

			t += 1000u * (lcg(&rng) % 40);
			if (r % 8 == 0) {
				enum jitter_get_result g = jitter_get(jb, &f);

				if (g == JITTER_GET_LOST)
					CHECK(f.samples <= JITTER_MAX_PAYLOAD);
				if (g != JITTER_GET_FRAME)
					continue;
				frames++;
				CHECK(f.len <= JITTER_MAX_PAYLOAD);
				for (size_t i = 0; i < f.len; i++)
					if (f.payload[i] !=
					    (uint8_t)(f.seq * 7 + i))
						TEST_FAIL(
						    "hostile_sequences",
						    "seq %u holds another "
						    "packet's payload",
						    f.seq);
				continue;
			}
			if (r % 97 == 0) {
				jitter_restart(jb);
				continue;
			}
			if (r % 3)
				seq =
				    (uint16_t)(seq + jumps[lcg(&rng) %
				                           (sizeof(jumps) /
				                            sizeof(jumps[0]))]);
			else
				seq = (uint16_t)(seq + 1);
			uint32_t n = sizes[lcg(&rng) %
			                   (sizeof(sizes) / sizeof(sizes[0]))];
			for (uint32_t i = 0; i < n; i++)
				payload[i] = (uint8_t)(seq * 7 + i);
			jitter_put(jb, seq,
			           (uint32_t)lcg(&rng) << 16 | lcg(&rng),
			           n <= JITTER_MAX_PAYLOAD ? n : 160, 0, t,
			           payload, n);
		}
		mem_deref(jb);
	}
	/* The sequences did play, not only fill and restart. */
	CHECK(frames > 1000);
	return 0;
}

int main(void)
{
	RUN(alloc_args);
	RUN(in_order);
	RUN(reorder);
	RUN(loss);
	RUN(peek_behind_gap);
	RUN(late);
	RUN(get_next);
	RUN(duplicate);
	RUN(max_delay);
	RUN(max_delay_one_packet);
	RUN(wrap);
	RUN(underrun);
	RUN(restart);
	RUN(variable_duration);
	RUN(too_large);
	RUN(sized_room);
	RUN(small_ring);
	RUN(reset);
	RUN(waits_min_delay);
	RUN(random_network);
	RUN(clean_line_costs_one_read);
	RUN(deepens_to_the_jitter);
	RUN(gives_back_a_burst);
	RUN(clock_drift_and_leaps);
	RUN(narrow_range_plays);
	RUN(hostile_sequences);
	TEST_EXIT();
}
