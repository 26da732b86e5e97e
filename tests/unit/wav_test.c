/*
 * WAV loading: the files are written here, byte by byte, so each case
 * controls the header it tests. Formats: 8/16/24/32-bit integer, 32-bit
 * float, WAVE_FORMAT_EXTENSIBLE; mixing to mono and resampling to 8 kHz;
 * and the errors a bad greeting file gives.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "media/wav.h"

#include "test.h"

#ifndef M_SQRT2
#define M_SQRT2 1.41421356237309504880
#endif
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- building files --------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *np = realloc(b->p, cap);
		if (!np)
			abort();
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put_le16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(b, x, 2);
}

static void put_le24(struct buf *b, int32_t v)
{
	uint32_t u = (uint32_t)v;
	uint8_t x[3] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16)};
	put(b, x, 3);
}

static void put_le32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	                (uint8_t)(v >> 24)};
	put(b, x, 4);
}

static void put_f32(struct buf *b, float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	put_le32(b, u);
}

static void put_tag(struct buf *b, const char *tag)
{
	put(b, tag, 4);
}

/* "RIFF" <size> "WAVE" then a 16-byte fmt chunk. */
static void wav_head(struct buf *b, uint16_t format, uint16_t channels,
                     uint32_t rate, uint16_t bits)
{
	uint16_t align = (uint16_t)(channels * bits / 8);

	put_tag(b, "RIFF");
	put_le32(b, 0); /* patched by wav_finish */
	put_tag(b, "WAVE");
	put_tag(b, "fmt ");
	put_le32(b, 16);
	put_le16(b, format);
	put_le16(b, channels);
	put_le32(b, rate);
	put_le32(b, rate * align);
	put_le16(b, align);
	put_le16(b, bits);
}

/* Opens a data chunk of n bytes; returns where its size is, to patch. */
static void data_head(struct buf *b, uint32_t n)
{
	put_tag(b, "data");
	put_le32(b, n);
}

static void wav_finish(struct buf *b)
{
	uint32_t riff = (uint32_t)(b->len - 8);

	b->p[4] = (uint8_t)riff;
	b->p[5] = (uint8_t)(riff >> 8);
	b->p[6] = (uint8_t)(riff >> 16);
	b->p[7] = (uint8_t)(riff >> 24);
}

static char path[64];

/* Writes the bytes to a fresh file under /tmp; path names it. */
static int write_tmp(const void *p, size_t n)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/voxgate-wav-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return errno;
	if (n && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return EIO;
	}
	close(fd);
	return 0;
}

/* The last loaded samples: freed by the next load, so a failing check
 * leaks nothing. */
static int16_t *loaded;

/* Writes b, loads it at rate, removes the file, frees b. */
static int load_buf(struct buf *b, uint32_t rate, int16_t **pcm, size_t *n,
                    const char **why)
{
	int err = write_tmp(b->p, b->len);

	free(b->p);
	*b = (struct buf){0};
	free(loaded);
	loaded = NULL;
	if (err)
		return -err;
	*pcm = NULL;
	*n = 0;
	*why = NULL;
	err = wav_load(path, rate, pcm, n, why);
	unlink(path);
	loaded = *pcm;
	return err;
}

/* Sign changes across the signal, ignoring the first and last 5 %
 * (resampler edges). Returns crossings per second at rate. */
static double crossing_rate(const int16_t *pcm, size_t n, uint32_t rate)
{
	size_t from = n / 20, to = n - n / 20, count = 0;
	int prev = 0;

	for (size_t i = from; i < to; i++) {
		int s = pcm[i] > 0 ? 1 : pcm[i] < 0 ? -1 : 0;
		if (s && prev && s != prev)
			count++;
		if (s)
			prev = s;
	}
	return (double)count * rate / (double)(to - from);
}

static int peak(const int16_t *pcm, size_t n)
{
	int p = 0;

	for (size_t i = n / 10; i < n - n / 10; i++)
		if (abs(pcm[i]) > p)
			p = abs(pcm[i]);
	return p;
}

/* ---- formats ---------------------------------------------------------- */

/* At the target rate, 16-bit mono is the file's samples exactly. */
TEST(mono16_unchanged)
{
	static const int16_t v[] = {0,      1,     -1,     2,     -2,
	                            100,    -100,  1234,   -4321, 16384,
	                            -16384, 32767, -32768, 32766, -32767};
	enum { N = sizeof(v) / sizeof(v[0]) };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 1, 1, 8000, 16);
	data_head(&b, N * 2);
	for (size_t i = 0; i < N; i++)
		put_le16(&b, (uint16_t)v[i]);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK(pcm != NULL);
	CHECK_EQ(n, N);
	for (size_t i = 0; i < N; i++) {
		if (pcm[i] != v[i])
			TEST_FAIL("mono16_unchanged", "sample %zu: %d != %d", i,
			          pcm[i], v[i]);
	}
	return 0;
}

/* A longer 16-bit mono file, with other chunks before and after data and
 * an odd-sized chunk (padded to even), still loads sample for sample. */
TEST(mono16_other_chunks)
{
	enum { N = 8000 };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;
	size_t bad = 0;

	wav_head(&b, 1, 1, 8000, 16);
	put_tag(&b, "LIST");
	put_le32(&b, 5);
	put(&b, "abcde\0", 6); /* 5 bytes and a pad byte */
	put_tag(&b, "fact");
	put_le32(&b, 4);
	put_le32(&b, N);
	data_head(&b, N * 2);
	for (int i = 0; i < N; i++)
		put_le16(&b, (uint16_t)(int16_t)(i * 7 - 28000));
	put_tag(&b, "junk");
	put_le32(&b, 2);
	put_le16(&b, 0x7777);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, N);
	for (int i = 0; i < N; i++)
		bad += pcm[i] != (int16_t)(i * 7 - 28000);
	CHECK_EQ(bad, 0);
	return 0;
}

/* 16 kHz stereo: mixed (mean of the channels) and resampled to 8 kHz.
 * 440 Hz stays 440 Hz and the length halves. */
TEST(stereo16k_mixed_resampled)
{
	enum { RATE = 16000, N = 16000 }; /* one second */
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;
	double hz;
	int p;

	wav_head(&b, 1, 2, RATE, 16);
	data_head(&b, N * 4);
	for (int i = 0; i < N; i++) {
		double s = sin(2 * M_PI * 440.0 * i / RATE);
		/* Left 0.6, right 0.2: the mean is 0.4 of full scale. */
		put_le16(&b, (uint16_t)(int16_t)lrint(0.6 * 32767 * s));
		put_le16(&b, (uint16_t)(int16_t)lrint(0.2 * 32767 * s));
	}
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK(pcm != NULL);
	/* Half as many samples, within 1 %. */
	CHECK(n >= 7920 && n <= 8080);
	hz = crossing_rate(pcm, n, 8000) / 2;
	if (hz < 437 || hz > 443)
		TEST_FAIL("stereo16k_mixed_resampled", "frequency %.1f Hz", hz);
	/* Mean of the channels, not their sum nor one of them. */
	p = peak(pcm, n);
	if (p < 0.4 * 32767 * 0.96 || p > 0.4 * 32767 * 1.04)
		TEST_FAIL("stereo16k_mixed_resampled", "peak %d", p);
	return 0;
}

/* Resampling keeps the whole file: the end of a greeting is not cut off
 * by the resampler's delay. Half a second of silence, then a 1 kHz tone
 * up to the last sample. */
TEST(resampled_end_kept)
{
	static const uint32_t rates[] = {16000, 11025, 48000};
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		uint32_t rate = rates[r];
		struct buf b = {0};
		int16_t *pcm;
		size_t n;
		const char *why;
		double e = 0, rms;

		wav_head(&b, 1, 1, rate, 16);
		data_head(&b, rate * 2);
		for (uint32_t i = 0; i < rate; i++) {
			double s =
			    i < rate / 2
			        ? 0
			        : 16000 * sin(2 * M_PI * 1000.0 * i / rate);
			put_le16(&b, (uint16_t)(int16_t)lrint(s));
		}
		wav_finish(&b);
		CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
		/* One second at 8 kHz, within half a millisecond. */
		if (n < 7996 || n > 8004)
			TEST_FAIL("resampled_end_kept", "%u Hz: %zu samples",
			          rate, n);
		/* The last 20 ms carry the tone at full level
		 * (16000 / sqrt(2) RMS), not the filter's fade-out. */
		for (size_t i = n - 160; i < n; i++)
			e += (double)pcm[i] * pcm[i];
		rms = sqrt(e / 160);
		if (rms < 0.85 * 16000 / M_SQRT2)
			TEST_FAIL("resampled_end_kept", "%u Hz: end RMS %.0f",
			          rate, rms);
	}
	return 0;
}

/* 44.1 kHz mono 16-bit, the common case for a recorded greeting. */
TEST(mono44k_resampled)
{
	enum { RATE = 44100, N = 44100 };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;
	double hz;

	wav_head(&b, 1, 1, RATE, 16);
	data_head(&b, N * 2);
	for (int i = 0; i < N; i++)
		put_le16(&b, (uint16_t)(int16_t)lrint(
		                 16000 * sin(2 * M_PI * 1000.0 * i / RATE)));
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK(n >= 7920 && n <= 8080);
	hz = crossing_rate(pcm, n, 8000) / 2;
	if (hz < 995 || hz > 1005)
		TEST_FAIL("mono44k_resampled", "frequency %.1f Hz", hz);
	return 0;
}

/* Within one step of the ideal 16-bit value. */
#define CHECK_NEAR(a, b)                                                       \
	do {                                                                   \
		long a__ = (a), b__ = (b);                                     \
		if (a__ - b__ > 1 || b__ - a__ > 1)                            \
			TEST_FAIL(__func__ + 5, "%s ~ %s (%ld vs %ld)", #a,    \
			          #b, a__, b__);                               \
	} while (0)

/* 8-bit WAV is unsigned, 128 is zero. */
TEST(pcm8)
{
	static const uint8_t v[] = {128, 0, 255, 64, 192, 129, 127};
	enum { N = sizeof(v) };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 1, 1, 8000, 8);
	data_head(&b, N);
	put(&b, v, N);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, N);
	CHECK_EQ(pcm[0], 0);
	for (size_t i = 0; i < N; i++)
		CHECK_NEAR(pcm[i], ((int)v[i] - 128) * 256);
	return 0;
}

/* 24-bit little-endian signed: the top 16 bits, sign kept. */
TEST(pcm24)
{
	static const int32_t v[] = {0,         256,      -256,      0x7fffff,
	                            -0x800000, 0x123456, -0x123456, 0x400000};
	enum { N = sizeof(v) / sizeof(v[0]) };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 1, 1, 8000, 24);
	data_head(&b, N * 3);
	for (size_t i = 0; i < N; i++)
		put_le24(&b, v[i]);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, N);
	CHECK_EQ(pcm[0], 0);
	CHECK(pcm[2] < 0 && pcm[6] < 0 && pcm[4] < -32000);
	for (size_t i = 0; i < N; i++)
		CHECK_NEAR(pcm[i], v[i] / 256);
	return 0;
}

/* 32-bit integer: the top 16 bits. */
TEST(pcm32)
{
	static const int32_t v[] = {0,          65536,     -65536,
	                            0x40000000, INT32_MIN, INT32_MAX};
	enum { N = sizeof(v) / sizeof(v[0]) };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 1, 1, 8000, 32);
	data_head(&b, N * 4);
	for (size_t i = 0; i < N; i++)
		put_le32(&b, (uint32_t)v[i]);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, N);
	for (size_t i = 0; i < N; i++)
		CHECK_NEAR(pcm[i], v[i] / 65536);
	return 0;
}

/* IEEE float, full scale at +-1.0; beyond it clips. */
TEST(float32)
{
	static const float v[] = {0.0f,  0.5f, -0.5f, 1.0f,  -1.0f,
	                          0.25f, 1.5f, -2.0f, 1e-6f, -0.75f};
	static const int16_t want[] = {0,    16384, -16384, 32767, -32768,
	                               8192, 32767, -32768, 0,     -24576};
	enum { N = sizeof(v) / sizeof(v[0]) };
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 3, 1, 8000, 32);
	data_head(&b, N * 4);
	for (size_t i = 0; i < N; i++)
		put_f32(&b, v[i]);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, N);
	for (size_t i = 0; i < N; i++)
		CHECK_NEAR(pcm[i], want[i]);
	return 0;
}

/* A NaN or infinite sample in a float file is a bad sample, not a crash
 * or undefined behaviour: silence, or the clip level for infinities. */
TEST(float32_non_finite)
{
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 3, 1, 8000, 32);
	data_head(&b, 3 * 4);
	put_f32(&b, NAN);
	put_f32(&b, INFINITY);
	put_f32(&b, -INFINITY);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(pcm[0], 0);
	CHECK_EQ(pcm[1], 32767);
	CHECK_EQ(pcm[2], -32768);
	return 0;
}

/* WAVE_FORMAT_EXTENSIBLE with the PCM sub-format, 3 channels. */
TEST(extensible_pcm)
{
	static const uint8_t pcm_guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10,
	                                          0x00, 0x80, 0x00, 0x00, 0xaa,
	                                          0x00, 0x38, 0x9b, 0x71};
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	put_tag(&b, "RIFF");
	put_le32(&b, 0);
	put_tag(&b, "WAVE");
	put_tag(&b, "fmt ");
	put_le32(&b, 40);
	put_le16(&b, 0xfffe);
	put_le16(&b, 3);
	put_le32(&b, 8000);
	put_le32(&b, 8000 * 6);
	put_le16(&b, 6);
	put_le16(&b, 16);
	put_le16(&b, 22);  /* cbSize */
	put_le16(&b, 16);  /* valid bits */
	put_le32(&b, 0x7); /* channel mask */
	put_le16(&b, 1);   /* sub-format: PCM */
	put(&b, pcm_guid_tail, sizeof(pcm_guid_tail));
	data_head(&b, 2 * 6);
	/* Frame 0: 300, 600, 900 -> 600; frame 1: -3000, 0, 0 -> -1000. */
	put_le16(&b, 300);
	put_le16(&b, 600);
	put_le16(&b, 900);
	put_le16(&b, (uint16_t)-3000);
	put_le16(&b, 0);
	put_le16(&b, 0);
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, 2);
	CHECK_NEAR(pcm[0], 600);
	CHECK_NEAR(pcm[1], -1000);
	return 0;
}

/* A data chunk that claims more than the file holds: what is there loads
 * (an editor that died before patching the size). */
TEST(data_shorter_than_declared)
{
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	wav_head(&b, 1, 1, 8000, 16);
	data_head(&b, 1000);
	put_le16(&b, 1000);
	put_le16(&b, (uint16_t)-1000);
	put_le16(&b, 2000);
	put(&b, "\x01", 1); /* half a sample */
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(pcm[0], 1000);
	CHECK_EQ(pcm[1], -1000);
	CHECK_EQ(pcm[2], 2000);
	return 0;
}

/* ---- errors ----------------------------------------------------------- */

TEST(missing_file)
{
	int16_t *pcm = NULL;
	size_t n = 0;
	const char *why = NULL;

	CHECK_EQ(
	    wav_load("/tmp/voxgate-no-such-dir/none.wav", 8000, &pcm, &n, &why),
	    ENOENT);
	CHECK(why != NULL);
	CHECK_STR(why, strerror(ENOENT));
	CHECK(pcm == NULL);
	/* No reason wanted: still the error. */
	CHECK_EQ(
	    wav_load("/tmp/voxgate-no-such-dir/none.wav", 8000, &pcm, &n, NULL),
	    ENOENT);
	return 0;
}

TEST(bad_arguments)
{
	int16_t *pcm = NULL;
	size_t n = 0;

	CHECK_EQ(wav_load(NULL, 8000, &pcm, &n, NULL), EINVAL);
	CHECK_EQ(wav_load("/tmp/x.wav", 0, &pcm, &n, NULL), EINVAL);
	CHECK_EQ(wav_load("/tmp/x.wav", 8000, NULL, &n, NULL), EINVAL);
	CHECK_EQ(wav_load("/tmp/x.wav", 8000, &pcm, NULL, NULL), EINVAL);
	return 0;
}

TEST(not_riff)
{
	struct buf b = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	/* An MP3 (ID3 tag) named .wav. */
	put(&b, "ID3\x03\0\0\0\0\0\x21 more bytes here", 25);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), EBADMSG);
	CHECK(why != NULL && *why);
	CHECK(pcm == NULL);

	/* RIFF, but not WAVE (an AVI). */
	put_tag(&b, "RIFF");
	put_le32(&b, 4);
	put_tag(&b, "AVI ");
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), EBADMSG);

	/* An empty file. */
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), EBADMSG);
	CHECK(why != NULL && *why);
	return 0;
}

TEST(truncated_header)
{
	struct buf b = {0}, full = {0};
	int16_t *pcm;
	size_t n;
	const char *why;

	uint8_t bytes[64];

	wav_head(&full, 1, 1, 8000, 16);
	data_head(&full, 4);
	put_le32(&full, 0);
	wav_finish(&full);
	CHECK(full.len <= sizeof(bytes));
	memcpy(bytes, full.p, full.len);
	free(full.p);

	/* Cut inside "RIFF....WAVE", inside the fmt chunk header, inside its
	 * body, and just before the data chunk. */
	size_t cuts[] = {6, 11, 16, 20, 30, 36, 40};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		put(&b, bytes, cuts[i]);
		pcm = NULL;
		int err = load_buf(&b, 8000, &pcm, &n, &why);
		if (err != EBADMSG)
			TEST_FAIL("truncated_header", "cut at %zu: %d", cuts[i],
			          err);
		CHECK(why != NULL && *why);
		CHECK(pcm == NULL);
	}
	return 0;
}

TEST(no_data_chunk)
{
	struct buf b = {0};
	int16_t *pcm = NULL;
	size_t n;
	const char *why;

	wav_head(&b, 1, 1, 8000, 16);
	put_tag(&b, "LIST");
	put_le32(&b, 4);
	put_tag(&b, "INFO");
	wav_finish(&b);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), EBADMSG);
	CHECK(why != NULL && *why);
	CHECK(pcm == NULL);

	/* Data but no fmt: the samples cannot be read. */
	put_tag(&b, "RIFF");
	put_le32(&b, 16);
	put_tag(&b, "WAVE");
	data_head(&b, 4);
	put_le32(&b, 0);
	CHECK_EQ(load_buf(&b, 8000, &pcm, &n, &why), EBADMSG);
	return 0;
}

TEST(unsupported_format)
{
	/* format, bits: A-law, mu-law, ADPCM, 12-bit PCM, 64-bit float,
	 * 16-bit float, 0-bit PCM. */
	static const uint16_t cases[][2] = {{6, 8},  {7, 8},  {2, 4}, {1, 12},
	                                    {3, 64}, {3, 16}, {1, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = {0};
		int16_t *pcm = NULL;
		size_t n;
		const char *why;
		int err;

		wav_head(&b, cases[i][0], 1, 8000, cases[i][1]);
		data_head(&b, 8);
		put_le32(&b, 0x12345678);
		put_le32(&b, 0x12345678);
		wav_finish(&b);
		err = load_buf(&b, 8000, &pcm, &n, &why);
		if (err != ENOTSUP)
			TEST_FAIL("unsupported_format", "format %u bits %u: %d",
			          cases[i][0], cases[i][1], err);
		CHECK(why != NULL && *why);
		CHECK(pcm == NULL);
	}
	return 0;
}

/* A format with no channels or no rate is not readable. */
TEST(zero_channels_or_rate)
{
	struct buf b = {0};
	int16_t *pcm = NULL;
	size_t n;
	const char *why;

	wav_head(&b, 1, 0, 8000, 16);
	data_head(&b, 4);
	put_le32(&b, 0);
	wav_finish(&b);
	CHECK(load_buf(&b, 8000, &pcm, &n, &why) != 0);
	CHECK(pcm == NULL);

	wav_head(&b, 1, 1, 0, 16);
	data_head(&b, 4);
	put_le32(&b, 0);
	wav_finish(&b);
	CHECK(load_buf(&b, 8000, &pcm, &n, &why) != 0);
	CHECK(pcm == NULL);
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

static char save_dir[64];

static int make_save_dir(void)
{
	snprintf(save_dir, sizeof(save_dir), "/tmp/voxgate-wavsave-XXXXXX");
	return mkdtemp(save_dir) ? 0 : errno;
}

/* Entries in save_dir other than . and .., or -1. */
static int dir_entries(void)
{
	DIR *d = opendir(save_dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void remove_save_dir(void)
{
	DIR *d = opendir(save_dir);
	struct dirent *e;
	char p[320];

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", save_dir, e->d_name);
			if (unlink(p))
				rmdir(p);
		}
		closedir(d);
	}
	rmdir(save_dir);
}

static long file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) ? -1 : (long)st.st_size;
}

/* What is saved loads back sample for sample, with a canonical 44-byte
 * header that says 16-bit mono at the rate given. */
TEST(save_round_trip)
{
	enum { N = 12345 };
	static int16_t v[N];
	char p[128];
	uint8_t head[44];
	FILE *f;
	int16_t *pcm = NULL;
	size_t n = 0, bad = 0;
	const char *why = NULL;

	for (int i = 0; i < N; i++)
		v[i] = (int16_t)(i * 5309 - 32768 * (i % 3 == 0));
	v[0] = INT16_MIN;
	v[1] = INT16_MAX;
	CHECK_EQ(make_save_dir(), 0);
	snprintf(p, sizeof(p), "%s/out.wav", save_dir);
	CHECK_EQ(wav_save(p, v, N, 8000), 0);
	CHECK_EQ(file_size(p), 44 + 2 * N);
	CHECK_EQ(dir_entries(), 1);
	f = fopen(p, "rb");
	CHECK(f != NULL);
	CHECK_EQ(fread(head, 1, 44, f), 44);
	fclose(f);
	CHECK(!memcmp(head, "RIFF", 4) && !memcmp(head + 8, "WAVEfmt ", 8));
	CHECK_EQ(head[4] | head[5] << 8 | head[6] << 16, 36 + 2 * N);
	CHECK_EQ(head[20] | head[21] << 8, 1);
	CHECK_EQ(head[22] | head[23] << 8, 1);
	CHECK_EQ(head[24] | head[25] << 8 | head[26] << 16, 8000);
	CHECK_EQ(head[28] | head[29] << 8 | head[30] << 16, 16000);
	CHECK_EQ(head[32] | head[33] << 8, 2);
	CHECK_EQ(head[34] | head[35] << 8, 16);
	CHECK(!memcmp(head + 36, "data", 4));
	CHECK_EQ(head[40] | head[41] << 8 | head[42] << 16, 2 * N);

	CHECK_EQ(wav_load(p, 8000, &pcm, &n, &why), 0);
	CHECK_EQ(n, N);
	for (int i = 0; i < N; i++)
		bad += pcm[i] != v[i];
	free(pcm);
	CHECK_EQ(bad, 0);

	/* Over an existing file; the rate in the header is what wav_load
	 * resamples from. */
	CHECK_EQ(wav_save(p, v, N, 16000), 0);
	CHECK_EQ(wav_load(p, 8000, &pcm, &n, &why), 0);
	free(pcm);
	CHECK(n >= N / 2 - 2 && n <= N / 2 + 2);

	/* No samples: a valid, empty file. */
	CHECK_EQ(wav_save(p, NULL, 0, 8000), 0);
	CHECK_EQ(file_size(p), 44);
	pcm = NULL;
	CHECK_EQ(wav_load(p, 8000, &pcm, &n, &why), 0);
	free(pcm);
	CHECK_EQ(n, 0);
	CHECK_EQ(dir_entries(), 1);
	remove_save_dir();
	return 0;
}

TEST(save_errors)
{
	int16_t v[4] = {1, 2, 3, 4};
	char p[160], file[128];
	FILE *f;

	CHECK_EQ(make_save_dir(), 0);
	snprintf(p, sizeof(p), "%s/missing/out.wav", save_dir);
	CHECK_EQ(wav_save(p, v, 4, 8000), ENOENT);
	/* A directory in the way of the name; nothing left beside it. */
	snprintf(p, sizeof(p), "%s/sub", save_dir);
	CHECK_EQ(mkdir(p, 0700), 0);
	CHECK_EQ(wav_save(p, v, 4, 8000), EISDIR);
	CHECK_EQ(dir_entries(), 1);
	CHECK_EQ(rmdir(p), 0);
	/* A file where a directory should be. */
	snprintf(file, sizeof(file), "%s/file", save_dir);
	f = fopen(file, "w");
	CHECK(f != NULL);
	fclose(f);
	snprintf(p, sizeof(p), "%s/out.wav", file);
	CHECK_EQ(wav_save(p, v, 4, 8000), ENOTDIR);
	CHECK_EQ(dir_entries(), 1);
	/* A read-only file system. */
	CHECK(wav_save("/proc/voxgate.wav", v, 4, 8000) != 0);

	CHECK_EQ(wav_save(NULL, v, 4, 8000), EINVAL);
	CHECK_EQ(wav_save("", v, 4, 8000), EINVAL);
	CHECK_EQ(wav_save(file, v, 4, 0), EINVAL);
	CHECK_EQ(wav_save(file, NULL, 4, 8000), EINVAL);
	remove_save_dir();
	return 0;
}

/* The disk fills up halfway (a file size limit stands in for it): the
 * error comes back, the file already under the name is untouched and no
 * partial file is left. */
TEST(save_fails_midway)
{
	enum { N = 100000 };
	static int16_t v[N];
	struct rlimit old, lim;
	char p[128];
	int err;

	CHECK_EQ(make_save_dir(), 0);
	snprintf(p, sizeof(p), "%s/out.wav", save_dir);
	CHECK_EQ(wav_save(p, v, 10, 8000), 0);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 50000;
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	err = wav_save(p, v, N, 8000);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_EQ(err, EFBIG);
	CHECK_EQ(file_size(p), 44 + 20);
	CHECK_EQ(dir_entries(), 1);
	remove_save_dir();
	return 0;
}

int main(void)
{
	RUN(mono16_unchanged);
	RUN(mono16_other_chunks);
	RUN(stereo16k_mixed_resampled);
	RUN(mono44k_resampled);
	RUN(resampled_end_kept);
	RUN(pcm8);
	RUN(pcm24);
	RUN(pcm32);
	RUN(float32);
	RUN(float32_non_finite);
	RUN(extensible_pcm);
	RUN(data_shorter_than_declared);
	RUN(missing_file);
	RUN(bad_arguments);
	RUN(not_riff);
	RUN(truncated_header);
	RUN(no_data_chunk);
	RUN(unsupported_format);
	RUN(zero_channels_or_rate);
	RUN(save_round_trip);
	RUN(save_errors);
	RUN(save_fails_midway);
	free(loaded);
	TEST_EXIT();
}
