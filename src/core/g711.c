/*
 * G.711 mu-law (PCMU) and A-law (PCMA), per ITU-T G.711.
 *
 * DESIGN: decoding is one load from a 256-entry table that the compiler
 * builds from the standard's segment formula, so there is no runtime init
 * and nothing to race on. Encoding finds the segment from the top set bit,
 * which is a handful of instructions per sample without a 64K table.
 *
 * Values are 16-bit linear: mu-law's 14-bit levels shifted left by 2, A-law's
 * 13-bit levels by 3, as in G.191 and every other implementation. Negative
 * samples are folded with one's complement (~x) like the G.191 reference
 * code, so -1 encodes like 0 and -32768 needs no special case.
 */
#include "core/g711.h"

#define ULAW_BIAS 0x84 /* 33 in 14-bit units: aligns segment edges */
#define ULAW_MAX  0x7FFF

/* mu-law sends all 8 bits inverted; magnitude (33 + 2m) << e, less the bias. */
#define ULAW_MAG(u)                                                            \
	((((((u)&0x0F) << 3) + ULAW_BIAS) << (((u) >> 4) & 7)) - ULAW_BIAS)
#define ULAW(c)                                                                \
	((0xFF ^ (c)) & 0x80 ? -(ULAW_MAG(0xFF ^ (c))) : ULAW_MAG(0xFF ^ (c)))

/* A-law inverts the even bits; segments 0 and 1 share the step, and each
 * level sits half a step above its decision value. */
#define ALAW_MAG(a)                                                            \
	(((((a)&0x0F) << 1) | (((a)&0x70) ? 0x21 : 1))                         \
	 << ((((a) >> 4) & 7) ? (((a) >> 4) & 7) + 2 : 3))
#define ALAW(c)                                                                \
	((0x55 ^ (c)) & 0x80 ? ALAW_MAG(0x55 ^ (c)) : -(ALAW_MAG(0x55 ^ (c))))

#define T4(f, c)  f(c), f((c) + 1), f((c) + 2), f((c) + 3)
#define T16(f, c) T4(f, c), T4(f, (c) + 4), T4(f, (c) + 8), T4(f, (c) + 12)
#define T64(f, c)                                                              \
	T16(f, c), T16(f, (c) + 16), T16(f, (c) + 32), T16(f, (c) + 48)
#define T256(f) T64(f, 0), T64(f, 64), T64(f, 128), T64(f, 192)

static const int16_t ulaw_table[256] = {T256(ULAW)};
static const int16_t alaw_table[256] = {T256(ALAW)};

/* Index of the highest set bit; v must be non-zero. */
static inline int top_bit(unsigned v)
{
	return 31 - __builtin_clz(v);
}

static inline uint8_t ulaw_encode1(int16_t x)
{
	int mask = x < 0 ? 0x7F : 0xFF;
	int mag = (x < 0 ? ~x : x) + ULAW_BIAS;

	/* Beyond the last decision value every input maps to the top code. */
	if (mag > ULAW_MAX)
		mag = ULAW_MAX;

	/* mag >= ULAW_BIAS, so the top bit is 7..14: segment 0..7. */
	int seg = top_bit((unsigned)mag) - 7;

	return (uint8_t)(((seg << 4) | ((mag >> (seg + 3)) & 0x0F)) ^ mask);
}

static inline uint8_t alaw_encode1(int16_t x)
{
	int mask = x < 0 ? 0x55 : 0xD5;
	int mag = x < 0 ? ~x : x;
	int seg = top_bit((unsigned)mag | 0xFF) - 7;

	/* Segments 0 and 1 both have the step of 16. */
	int shift = seg ? seg + 3 : 4;

	return (uint8_t)(((seg << 4) | ((mag >> shift) & 0x0F)) ^ mask);
}

uint8_t g711_ulaw_from_linear(int16_t sample)
{
	return ulaw_encode1(sample);
}

int16_t g711_ulaw_to_linear(uint8_t code)
{
	return ulaw_table[code];
}

uint8_t g711_alaw_from_linear(int16_t sample)
{
	return alaw_encode1(sample);
}

int16_t g711_alaw_to_linear(uint8_t code)
{
	return alaw_table[code];
}

void g711_ulaw_encode(uint8_t *dst, const int16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ulaw_encode1(src[i]);
}

void g711_ulaw_decode(int16_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ulaw_table[src[i]];
}

void g711_alaw_encode(uint8_t *dst, const int16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = alaw_encode1(src[i]);
}

void g711_alaw_decode(int16_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = alaw_table[src[i]];
}
