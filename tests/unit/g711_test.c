/*
 * G.711 against the standard: the references below are built from the
 * segment tables of ITU-T G.711 (Tables 1 and 2: decision values, steps,
 * bit inversion), not from the codec's own formulas, so a shared mistake
 * cannot cancel out.
 */
#include "core/g711.h"

#include "test.h"

/*
 * Lower decision value and step of each segment, in the standard's units
 * (mu-law 14-bit, A-law 13-bit). mu-law's first interval is [0, 1) and the
 * rest of segment 0 have step 2; start -1 puts its level m at 2m like the
 * table. Each output level sits half a step above its decision value.
 */
static const int ulaw_start[8] = {-1, 31, 95, 223, 479, 991, 2015, 4063};
static const int ulaw_step[8] = {2, 4, 8, 16, 32, 64, 128, 256};
static const int alaw_start[8] = {0, 32, 64, 128, 256, 512, 1024, 2048};
static const int alaw_step[8] = {2, 2, 4, 8, 16, 32, 64, 128};

/* Sign bit set means positive in both laws; mu-law then sends bits 2-8
 * inverted, A-law inverts the even bits (XOR 0x55) of the whole code. */
static int ref_ulaw_decode(int code)
{
	int positive = code & 0x80;
	int x = ~code & 0x7F;
	int seg = x >> 4, m = x & 0x0F;
	int v = ulaw_start[seg] + ulaw_step[seg] * m + ulaw_step[seg] / 2;

	return positive ? v * 4 : -v * 4;
}

static int ref_alaw_decode(int code)
{
	int x = code ^ 0x55;
	int positive = x & 0x80;
	int seg = (x >> 4) & 7, m = x & 0x0F;
	int v = alaw_start[seg] + alaw_step[seg] * m + alaw_step[seg] / 2;

	return positive ? v * 8 : -v * 8;
}

/*
 * The interval holding the magnitude, found by search over the decision
 * values. Negative samples are folded by one's complement as in the G.191
 * reference encoder, which keeps the quantizer symmetric around -0.5.
 */
static int ref_encode(int x, const int *start, const int *step, int shift)
{
	int mag = (x < 0 ? -x - 1 : x) >> shift;
	int idx = 0;

	for (int i = 127; i >= 0; i--) {
		if (start[i >> 4] + step[i >> 4] * (i & 0x0F) <= mag) {
			idx = i;
			break;
		}
	}
	return (x < 0 ? 0 : 0x80) | idx;
}

static int ref_ulaw_encode(int x)
{
	return ref_encode(x, ulaw_start, ulaw_step, 2) ^ 0x7F;
}

static int ref_alaw_encode(int x)
{
	return ref_encode(x, alaw_start, alaw_step, 3) ^ 0x55;
}

TEST(ulaw_decode_table)
{
	for (int c = 0; c < 256; c++)
		CHECK_EQ(g711_ulaw_to_linear((uint8_t)c), ref_ulaw_decode(c));
	return 0;
}

TEST(alaw_decode_table)
{
	for (int c = 0; c < 256; c++)
		CHECK_EQ(g711_alaw_to_linear((uint8_t)c), ref_alaw_decode(c));
	return 0;
}

/* Values read off the standard's tables, scaled to 16 bits. */
TEST(spot_values)
{
	CHECK_EQ(g711_ulaw_to_linear(0x00), -32124);
	CHECK_EQ(g711_ulaw_to_linear(0x80), 32124);
	CHECK_EQ(g711_ulaw_to_linear(0xFF), 0);
	CHECK_EQ(g711_ulaw_to_linear(0x7F), 0);
	CHECK_EQ(g711_ulaw_to_linear(0xFE), 2 * 4);
	CHECK_EQ(g711_ulaw_to_linear(0xF0), 30 * 4);
	CHECK_EQ(g711_ulaw_to_linear(0xEF), 33 * 4);
	CHECK_EQ(g711_ulaw_to_linear(0x6F), -33 * 4);
	CHECK_EQ(g711_ulaw_to_linear(0x8F), 4191 * 4);
	CHECK_EQ(g711_alaw_to_linear(0xD5), 8);
	CHECK_EQ(g711_alaw_to_linear(0x55), -8);
	CHECK_EQ(g711_alaw_to_linear(0xD4), 3 * 8);
	CHECK_EQ(g711_alaw_to_linear(0xC5), 33 * 8);
	CHECK_EQ(g711_alaw_to_linear(0xAA), 32256);
	CHECK_EQ(g711_alaw_to_linear(0x2A), -32256);
	CHECK_EQ(g711_alaw_to_linear(0xA5), 2112 * 8);
	return 0;
}

TEST(ulaw_encode_all)
{
	for (int x = -32768; x <= 32767; x++)
		CHECK_EQ(g711_ulaw_from_linear((int16_t)x), ref_ulaw_encode(x));
	return 0;
}

TEST(alaw_encode_all)
{
	for (int x = -32768; x <= 32767; x++)
		CHECK_EQ(g711_alaw_from_linear((int16_t)x), ref_alaw_encode(x));
	return 0;
}

TEST(round_trip)
{
	for (int c = 0; c < 256; c++) {
		int16_t u = g711_ulaw_to_linear((uint8_t)c);
		int16_t a = g711_alaw_to_linear((uint8_t)c);

		CHECK_EQ(g711_ulaw_to_linear(g711_ulaw_from_linear(u)), u);
		CHECK_EQ(g711_alaw_to_linear(g711_alaw_from_linear(a)), a);
		/* A-law has no zero, so every code maps back to itself. */
		CHECK_EQ(g711_alaw_from_linear(a), c);
	}
	return 0;
}

TEST(monotonic)
{
	int prev_u = g711_ulaw_to_linear(g711_ulaw_from_linear(-32768));
	int prev_a = g711_alaw_to_linear(g711_alaw_from_linear(-32768));

	for (int x = -32767; x <= 32767; x++) {
		int u = g711_ulaw_to_linear(g711_ulaw_from_linear((int16_t)x));
		int a = g711_alaw_to_linear(g711_alaw_from_linear((int16_t)x));

		CHECK(u >= prev_u);
		CHECK(a >= prev_a);
		prev_u = u;
		prev_a = a;
	}
	return 0;
}

TEST(clipping)
{
	CHECK_EQ(g711_ulaw_from_linear(32767), 0x80);
	CHECK_EQ(g711_ulaw_from_linear(-32767), 0x00);
	CHECK_EQ(g711_ulaw_from_linear(-32768), 0x00);
	CHECK_EQ(g711_ulaw_from_linear(32124), 0x80);
	CHECK_EQ(g711_alaw_from_linear(32767), 0xAA);
	CHECK_EQ(g711_alaw_from_linear(-32767), 0x2A);
	CHECK_EQ(g711_alaw_from_linear(-32768), 0x2A);
	return 0;
}

TEST(zero)
{
	CHECK_EQ(g711_ulaw_from_linear(0), 0xFF);
	CHECK_EQ(g711_alaw_from_linear(0), 0xD5);
	/* -1 is -0.5 away from the quantizer's centre, like 0. */
	CHECK_EQ(g711_ulaw_from_linear(-1), 0x7F);
	CHECK_EQ(g711_alaw_from_linear(-1), 0x55);
	return 0;
}

TEST(buffers)
{
	int16_t pcm[512], out[512];
	uint8_t enc[512];

	for (int i = 0; i < 512; i++)
		pcm[i] = (int16_t)(i * 128 - 32768);

	g711_ulaw_encode(enc, pcm, 512);
	g711_ulaw_decode(out, enc, 512);
	for (int i = 0; i < 512; i++) {
		CHECK_EQ(enc[i], g711_ulaw_from_linear(pcm[i]));
		CHECK_EQ(out[i], g711_ulaw_to_linear(enc[i]));
	}

	g711_alaw_encode(enc, pcm, 512);
	g711_alaw_decode(out, enc, 512);
	for (int i = 0; i < 512; i++) {
		CHECK_EQ(enc[i], g711_alaw_from_linear(pcm[i]));
		CHECK_EQ(out[i], g711_alaw_to_linear(enc[i]));
	}
	return 0;
}

int main(void)
{
	RUN(ulaw_decode_table);
	RUN(alaw_decode_table);
	RUN(spot_values);
	RUN(ulaw_encode_all);
	RUN(alaw_encode_all);
	RUN(round_trip);
	RUN(monotonic);
	RUN(clipping);
	RUN(zero);
	RUN(buffers);
	TEST_EXIT();
}
