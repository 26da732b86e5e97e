/*
 * WAV headers read as a stream's first bytes come: every prefix of a
 * header asks for more, the whole one gives the format and the samples'
 * start; what is not WAV is refused from its first bytes, and a chunk
 * whose size points past the caller's limit is refused rather than waited
 * for.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/le.h"
#include "core/wavhdr.h"
#include "test.h"

/* RIFF/WAVE, a LIST chunk of list_len bytes (none with 0), fmt (16
 * bytes), the data chunk's header; returns its length. */
static size_t header(uint8_t *b, uint32_t list_len, uint16_t format,
                     uint16_t channels, uint32_t rate, uint16_t bits,
                     uint32_t data_len)
{
	size_t n = 12;

	memcpy(b, "RIFFxxxxWAVE", 12);
	put_le32(b + 4, WAVHDR_LEN_UNKNOWN);
	if (list_len) {
		memcpy(b + n, "LIST", 4);
		put_le32(b + n + 4, list_len);
		memset(b + n + 8, 'i', list_len);
		n += 8 + list_len + (list_len & 1);
	}
	memcpy(b + n, "fmt ", 4);
	put_le32(b + n + 4, 16);
	put_le16(b + n + 8, format);
	put_le16(b + n + 10, channels);
	put_le32(b + n + 12, rate);
	put_le32(b + n + 16, rate * channels * bits / 8);
	put_le16(b + n + 20, (uint16_t)(channels * bits / 8));
	put_le16(b + n + 22, bits);
	n += 24;
	memcpy(b + n, "data", 4);
	put_le32(b + n + 4, data_len);
	return n + 8;
}

TEST(prefixes_ask_for_more)
{
	uint8_t b[256];
	size_t len = header(b, 5, 1, 1, 22050, 16, WAVHDR_LEN_UNKNOWN);
	struct wavhdr h;
	const char *why = NULL;

	for (size_t i = 0; i < len; i++)
		if (wavhdr_read(&h, b, i, 4096, &why) != EAGAIN)
			TEST_FAIL("prefixes_ask_for_more", "prefix %zu", i);
	CHECK(why && *why);
	CHECK_EQ(wavhdr_read(&h, b, len, 4096, NULL), 0);
	CHECK_EQ(h.format, 1);
	CHECK_EQ(h.channels, 1);
	CHECK_EQ(h.rate, 22050);
	CHECK_EQ(h.bits, 16);
	CHECK_EQ(h.data_off, len);
	CHECK_EQ(h.data_len, WAVHDR_LEN_UNKNOWN);
	/* the samples after it are not the header's business */
	CHECK_EQ(wavhdr_read(&h, b, sizeof(b), 4096, NULL), 0);
	CHECK_EQ(h.data_off, len);
	return 0;
}

TEST(not_wav_at_once)
{
	struct wavhdr h;
	const char *why = NULL;

	CHECK_EQ(wavhdr_read(&h, (const uint8_t *)"ID3", 3, 4096, &why),
	         EBADMSG);
	CHECK(why && *why);
	CHECK_EQ(wavhdr_read(&h, (const uint8_t *)"{\"error\"", 8, 4096, NULL),
	         EBADMSG);
	CHECK_EQ(wavhdr_read(&h, (const uint8_t *)"RIFF\0\0\0\0AVI ", 12, 4096,
	                     NULL),
	         EBADMSG);
	CHECK_EQ(wavhdr_read(NULL, (const uint8_t *)"RIFF", 4, 4096, NULL),
	         EINVAL);
	return 0;
}

TEST(hostile_sizes_refused)
{
	uint8_t b[256];
	size_t len = header(b, 5, 1, 1, 16000, 16, 100);
	struct wavhdr h;
	const char *why = NULL;

	/* a LIST chunk that claims 4 GiB: the data would start past the
	 * limit, refused with only its size read */
	put_le32(b + 16, 0xFFFFFFFFu);
	CHECK_EQ(wavhdr_read(&h, b, 20, 4096, &why), EBADMSG);
	CHECK(why && *why);
	put_le32(b + 16, 0xFFFFFFF0u);
	CHECK_EQ(wavhdr_read(&h, b, len, 4096, NULL), EBADMSG);
	/* a fmt chunk as long */
	len = header(b, 0, 1, 1, 16000, 16, 100);
	put_le32(b + 16, 0xFFFFFFFFu);
	CHECK_EQ(wavhdr_read(&h, b, len, 4096, NULL), EBADMSG);
	/* too short to hold a format */
	put_le32(b + 16, 8);
	CHECK_EQ(wavhdr_read(&h, b, len, 4096, NULL), EBADMSG);
	/* a header longer than the limit, each chunk honest */
	len = header(b, 80, 1, 1, 16000, 16, 100);
	CHECK_EQ(wavhdr_read(&h, b, len, 64, NULL), EBADMSG);
	CHECK_EQ(wavhdr_read(&h, b, len, len, NULL), 0);
	return 0;
}

TEST(data_before_fmt_refused)
{
	uint8_t b[64];

	memcpy(b, "RIFFxxxxWAVEdata", 16);
	put_le32(b + 16, 8);
	struct wavhdr h;

	CHECK_EQ(wavhdr_read(&h, b, 20, 4096, NULL), EBADMSG);
	return 0;
}

/* The format as the header says it, whatever it is: the caller judges. */
TEST(format_as_said)
{
	uint8_t b[256];
	size_t len = header(b, 0, 3, 2, 48000, 32, 0);
	struct wavhdr h;

	CHECK_EQ(wavhdr_read(&h, b, len, 4096, NULL), 0);
	CHECK_EQ(h.format, 3);
	CHECK_EQ(h.channels, 2);
	CHECK_EQ(h.rate, 48000);
	CHECK_EQ(h.bits, 32);
	CHECK_EQ(h.data_len, 0);
	return 0;
}

int main(void)
{
	RUN(prefixes_ask_for_more);
	RUN(not_wav_at_once);
	RUN(hostile_sizes_refused);
	RUN(data_before_fmt_refused);
	RUN(format_as_said);
	TEST_EXIT();
}
