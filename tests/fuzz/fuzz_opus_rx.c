/*
 * The Opus receive side of a published track under a hostile sender:
 * payload bytes, sequence numbers, timestamps, arrival times and the
 * order of puts, ticks and restarts all come from the input. Every put is
 * counted exactly once; a tick with nothing to hear gives silence.
 *
 * Input: two bytes for the minimum and maximum delay, then operations,
 * each an opcode byte and its fields:
 *   op & 3 == 0  a packet: seq (16 bits if op & 8, else an 8-bit signed
 *                step), ts (32 bits if op & 16, else an 8-bit signed step
 *                of 2.5 ms), 16-bit length, arrival step (16 bits, us),
 *                then the payload, as many bytes as the length says
 *   op & 3 == 1  a 20 ms tick, (op >> 2) ms late
 *   op & 3 == 2  a restart (new SSRC) when op >> 2 is 0
 *   op & 3 == 3  a silence: 16 bits of milliseconds
 */
#include <re.h>

#include "media/opus_rx.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct opus_rx_prm prm;
	struct opus_rx_stats st, prev = {0};
	struct opus_rx *rx;
	uint64_t t = 0, puts = 0, gets = 0;
	uint16_t seq = 0;
	uint32_t ts = 0;

	prm.jitter_min_ms = fuzz_u8(&in);
	prm.jitter_max_ms = prm.jitter_min_ms + 4u * fuzz_u8(&in);
	if (opus_rx_alloc(&rx, &prm))
		abort();
	while (in.n) {
		uint8_t op = fuzz_u8(&in);

		switch (op & 3) {
		case 0: {
			enum opus_rx_put_result r;
			const uint8_t *p;
			uint8_t *copy;
			size_t want, len;

			if (op & 8)
				seq = fuzz_u16(&in);
			else
				seq = (uint16_t)(seq + (int8_t)fuzz_u8(&in));
			if (op & 16)
				ts = fuzz_u32(&in);
			else
				ts += (uint32_t)(int8_t)fuzz_u8(&in) * 120u;
			want = fuzz_u16(&in) % (OPUS_RX_MAX_PAYLOAD + 41);
			t += fuzz_u16(&in);
			p = fuzz_take(&in, want, &len);
			/* Exactly len bytes, so ASan sees a read past them. */
			copy = fuzz_copy(p, len, false);
			r = opus_rx_put(rx, seq, ts, copy, len, t);
			free(copy);
			puts++;
			if (!len || len > OPUS_RX_MAX_PAYLOAD)
				FUZZ_CHECK(r == OPUS_RX_PUT_MALFORMED);
			break;
		}
		case 1: {
			int16_t out[OPUS_RX_FRAME];
			enum opus_rx_got g;

			t += 20000 + 1000u * (op >> 2);
			g = opus_rx_get(rx, out);
			gets++;
			FUZZ_CHECK(g == OPUS_RX_NONE || g == OPUS_RX_AUDIO ||
			           g == OPUS_RX_CONCEALED);
			if (g == OPUS_RX_NONE)
				for (size_t i = 0; i < OPUS_RX_FRAME; i++)
					FUZZ_CHECK(out[i] == 0);
			break;
		}
		case 2:
			if ((op >> 2) == 0)
				opus_rx_restart(rx);
			break;
		default:
			t += (uint64_t)fuzz_u16(&in) * 1000u;
			break;
		}
		opus_rx_stats(rx, &st);
		FUZZ_CHECK(st.received + st.malformed + st.late +
		               st.duplicate ==
		           puts);
		/* What put takes, libopus decodes. */
		FUZZ_CHECK(st.undecodable == 0);
		FUZZ_CHECK(st.received >= prev.received &&
		           st.decoded >= prev.decoded && st.lost >= prev.lost &&
		           st.fec <= st.lost);
		FUZZ_CHECK(st.frames <= gets);
		/* Every packet accepted plays at most once. */
		FUZZ_CHECK(st.decoded <= st.received);
		prev = st;
	}
	mem_deref(rx);
	return 0;
}
