/*
 * Jitter buffer: ordering, loss, lateness and delay bounds, at 8 kHz with
 * G.711-sized payloads (one byte per sample).
 *
 * The delay counts the audio queued behind the next packet to play, so with
 * 20 ms packets playout starts once min + 20 ms is held (40 ms: three
 * packets) and up to max + 20 ms is kept (100 ms: six packets).
 */
#include <errno.h>

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

static int frame_ok(const struct jitter_frame *f, uint16_t seq)
{
	if (f->seq != seq || f->ts != (uint32_t)seq * f->samples ||
	    f->arrival_us != 1000u * seq || f->len != f->samples)
		return 0;
	for (size_t i = 0; i < f->len; i++)
		if (f->payload[i] != (uint8_t)(seq + i))
			return 0;
	return 1;
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
	jitter_free(jb);
	jitter_free(NULL);
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
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_free(jb);
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
	CHECK_FRAME(jb, 4);

	const struct jitter_stats *st = jitter_stats(jb);
	CHECK_EQ(st->late, 2);
	CHECK_EQ(st->lost, 1);
	CHECK_EQ(st->received, 3);
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_reset(jb);
	CHECK_EQ(put_n(jb, 11, 3 * P20MS), JITTER_PUT_OK);
	CHECK_EQ(put_n(jb, 10, P20MS), JITTER_PUT_OK);
	CHECK_EQ(jitter_depth(jb), 3 * P20MS);
	CHECK_EQ(jitter_stats(jb)->discarded, 2);
	CHECK_FRAME(jb, 11);
	CHECK_EQ(jitter_depth(jb), 0);
	CHECK_EQ(jitter_stats(jb)->played, 3);
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_free(jb);

	/* Mixed durations: the latest packet is the one subtracted. With
	 * 30 ms minimum, 30 + 20 ms is enough, 20 + 30 ms is not. */
	CHECK_EQ(jitter_alloc(&jb, RATE, 30, 200), 0);
	CHECK_EQ(put_n(jb, 1, P30MS), JITTER_PUT_OK);
	CHECK_EQ(put_n(jb, 2, P20MS), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	jitter_reset(jb);
	CHECK_EQ(put_n(jb, 1, P20MS), JITTER_PUT_OK);
	CHECK_EQ(put_n(jb, 2, P30MS), JITTER_PUT_OK);
	CHECK_GET(jb, JITTER_GET_EMPTY);
	CHECK_EQ(put_n(jb, 3, P20MS), JITTER_PUT_OK);
	CHECK_FRAME(jb, 1);
	jitter_free(jb);
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
	jitter_free(jb);
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
	jitter_reset(jb);
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
	jitter_free(jb);
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
			jitter_free(jb);
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
	uint64_t discarded = 0, underrun = 0;
	/* All packets are 20 ms: min 40 ms starts playout at three held,
	 * max 120 ms keeps at most seven. */
	const uint32_t start = 3 * P20MS, most = 7 * P20MS;

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
				put(jb, (uint16_t)(first + i));
				/* Discarding stops at exactly the limit. */
				CHECK(jitter_depth(jb) <= most);
				if (jitter_stats(jb)->discarded != before)
					CHECK_EQ(jitter_depth(jb), most);
			}
		}

		struct jitter_frame f;
		uint32_t depth = jitter_depth(jb);
		enum jitter_get_result res = jitter_get(jb, &f);

		/* Starts once min is queued behind the next packet, and
		 * stops (one underrun) only when nothing is held. */
		if (!playing) {
			CHECK_EQ(res == JITTER_GET_EMPTY, depth < start);
			playing = res != JITTER_GET_EMPTY;
		} else if (res == JITTER_GET_EMPTY) {
			CHECK_EQ(depth, 0);
			CHECK_EQ(jitter_stats(jb)->underrun, underrun + 1);
			playing = false;
		} else {
			CHECK(depth > 0);
		}
		underrun = jitter_stats(jb)->underrun;

		if (res != JITTER_GET_EMPTY) {
			/* Only a discard skips ahead. */
			if (have_expect && f.seq != expect) {
				CHECK(jitter_stats(jb)->discarded > discarded);
				CHECK((int16_t)(uint16_t)(f.seq - expect) > 0);
			}
			if (res == JITTER_GET_FRAME)
				CHECK(frame_ok(&f, f.seq));
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
	CHECK(st->discarded > 0 && st->underrun > 0);
	jitter_free(jb);
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
		jitter_free(jb);
	}
	return 0;
}

int main(void)
{
	RUN(alloc_args);
	RUN(in_order);
	RUN(reorder);
	RUN(loss);
	RUN(late);
	RUN(duplicate);
	RUN(max_delay);
	RUN(max_delay_one_packet);
	RUN(wrap);
	RUN(underrun);
	RUN(restart);
	RUN(variable_duration);
	RUN(too_large);
	RUN(reset);
	RUN(waits_min_delay);
	RUN(random_network);
	RUN(narrow_range_plays);
	TEST_EXIT();
}
