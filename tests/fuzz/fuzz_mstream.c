/*
 * Media Streams text frames, as a carrier (Twilio, Telnyx) or an external
 * bot sends them. What reads back must write out again: a frame rebuilt
 * from what mstream_parse returned parses to the same ids and payload.
 *
 * Input: one byte, bit 0 choosing the dialect (Telnyx when set), then the
 * frame's text.
 */
#include <errno.h>

#include "mstream/mstream.h"

#include "fuzz.h"

static struct mstream_msg m, back;
static char buf[64 * 1024];

static void reparse(enum mstream_dialect d, size_t n)
{
	FUZZ_CHECK(n > 0 && n < sizeof(buf) && strlen(buf) == n);
	FUZZ_CHECK(mstream_parse(&back, d, buf, n, NULL) == 0);
}

static void roundtrip(enum mstream_dialect d)
{
	size_t n;

	switch (m.event) {
	case MSTREAM_MEDIA:
		/* As our own media to the carrier ... */
		n = mstream_media(buf, sizeof(buf), d, m.stream_id, m.payload,
		                  m.payload_len);
		reparse(d, n);
		FUZZ_CHECK(back.event == MSTREAM_MEDIA);
		FUZZ_CHECK(back.payload_len == m.payload_len);
		FUZZ_CHECK(!memcmp(back.payload, m.payload, m.payload_len));
		if (d == MSTREAM_TWILIO)
			FUZZ_CHECK(!strcmp(back.stream_id, m.stream_id));
		/* ... and as a carrier's to a bot. */
		n = mstream_media_in(buf, sizeof(buf), m.stream_id, m.sequence,
		                     m.chunk, m.timestamp, m.payload,
		                     m.payload_len);
		reparse(MSTREAM_TWILIO, n);
		FUZZ_CHECK(back.payload_len == m.payload_len);
		FUZZ_CHECK(!memcmp(back.payload, m.payload, m.payload_len));
		FUZZ_CHECK(back.sequence == m.sequence &&
		           back.chunk == m.chunk &&
		           back.timestamp == m.timestamp);
		break;
	case MSTREAM_MARK:
		n = mstream_mark(buf, sizeof(buf), d, m.stream_id, m.mark);
		reparse(d, n);
		FUZZ_CHECK(back.event == MSTREAM_MARK);
		FUZZ_CHECK(!strcmp(back.mark, m.mark));
		n = mstream_mark_played(buf, sizeof(buf), m.stream_id, m.mark,
		                        m.sequence);
		reparse(MSTREAM_TWILIO, n);
		FUZZ_CHECK(!strcmp(back.mark, m.mark));
		break;
	case MSTREAM_START:
		n = mstream_start(buf, sizeof(buf), m.stream_id, m.account_id,
		                  m.call_id, m.params, m.nparams, m.sequence);
		reparse(MSTREAM_TWILIO, n);
		FUZZ_CHECK(back.event == MSTREAM_START);
		FUZZ_CHECK(!strcmp(back.stream_id, m.stream_id));
		FUZZ_CHECK(!strcmp(back.call_id, m.call_id));
		FUZZ_CHECK(!strcmp(back.account_id, m.account_id));
		FUZZ_CHECK(back.nparams <= m.nparams);
		break;
	case MSTREAM_DTMF:
		n = mstream_dtmf(buf, sizeof(buf), m.stream_id, m.digit,
		                 m.sequence);
		reparse(MSTREAM_TWILIO, n);
		FUZZ_CHECK(!strcmp(back.digit, m.digit));
		break;
	case MSTREAM_STOP:
		n = mstream_stop(buf, sizeof(buf), m.stream_id, m.account_id,
		                 m.call_id, m.sequence);
		reparse(MSTREAM_TWILIO, n);
		FUZZ_CHECK(!strcmp(back.call_id, m.call_id));
		break;
	default:
		n = mstream_clear(buf, sizeof(buf), d, m.stream_id);
		reparse(d, n);
		FUZZ_CHECK(back.event == MSTREAM_CLEAR);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	enum mstream_dialect d =
	    fuzz_u8(&in) & 1 ? MSTREAM_TELNYX : MSTREAM_TWILIO;
	char *text = fuzz_copy(in.p, in.n, false);
	const char *why = NULL;
	int err;

	err = mstream_parse(&m, d, text, in.n, &why);
	free(text);
	if (err) {
		FUZZ_CHECK(why == m.why && why[0] != '\0');
		FUZZ_CHECK(strlen(why) < 120);
		return 0;
	}
	FUZZ_CHECK(m.payload_len <= MSTREAM_PAYLOAD_MAX);
	FUZZ_CHECK(m.nparams <= MSTREAM_PARAMS_MAX);
	roundtrip(d);
	return 0;
}
