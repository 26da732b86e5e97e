/*
 * RTP and RTCP datagrams as a media port receives them, through the path
 * the media thread takes: the header read (rtp_parse, rtcp_parse), the
 * jitter buffer and G.711 decoding.
 *
 * Input: datagrams, each a flags byte (bit 0: it came to the RTCP port,
 * bit 1: a 20 ms tick follows it), a 16-bit big-endian length and that
 * many bytes.
 */
#include <errno.h>
#include <re.h>

#include "core/g711.h"
#include "media/jitter.h"
#include "media/rtp.h"

#include "fuzz.h"

#define DTMF_PT 101

static void play(struct jitter *jb)
{
	struct jitter_frame f;
	int16_t pcm[JITTER_MAX_PAYLOAD];

	if (jitter_get(jb, &f) != JITTER_GET_FRAME)
		return;
	FUZZ_CHECK(f.len <= JITTER_MAX_PAYLOAD);
	if (f.pt == 8)
		g711_alaw_decode(pcm, f.payload, f.len);
	else if (f.pt == 0)
		g711_ulaw_decode(pcm, f.payload, f.len);
}

static void rtp(struct jitter *jb, const uint8_t *b, size_t len, uint64_t t)
{
	struct rtp_packet h;
	size_t end;
	int err = rtp_parse(b, len, &h);

	if (err) {
		FUZZ_CHECK(err == EBADMSG || err == EPROTO);
		return;
	}
	FUZZ_CHECK(h.off >= 12 && h.off <= h.end && h.end <= len);
	FUZZ_CHECK(h.pt < 128);
	end = h.end;
	if (h.pt == DTMF_PT) {
		/* Telephone-events pass through the jitter buffer empty, as
		 * the media thread puts them. */
		end = h.off;
	} else if (h.pt != 0 && h.pt != 8) {
		return;
	}
	(void)jitter_put(jb, h.seq, h.ts, (uint32_t)(end - h.off), h.pt, t,
	                 b + h.off, end - h.off);
}

static void rtcp(const uint8_t *b, size_t len)
{
	struct rtcp_packet h;
	int err = rtcp_parse(b, len, &h);

	if (err) {
		FUZZ_CHECK(err == EBADMSG);
		return;
	}
	FUZZ_CHECK(h.pt >= 192 && h.pt <= 223);
	FUZZ_CHECK(!h.sr || (h.pt == 200 && len >= 28));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct jitter *jb;
	uint64_t t = 1000000;

	if (jitter_alloc(&jb, 8000, 0, 100))
		abort();
	while (in.n) {
		uint8_t flags = fuzz_u8(&in);
		size_t want = fuzz_u16(&in), len;
		const uint8_t *p = fuzz_take(&in, want, &len);
		/* Its own allocation, so ASan sees a read past the end. */
		uint8_t *b = fuzz_copy(p, len, false);

		if (flags & 1)
			rtcp(b, len);
		else
			rtp(jb, b, len, t);
		free(b);
		if (flags & 2) {
			t += 20000;
			play(jb);
		}
	}
	mem_deref(jb);
	return 0;
}
