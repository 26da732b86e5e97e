/*
 * Deepgram's /v1/listen messages as the streaming listener reads them
 * (dg_parse, then the listener's book: listen_deepgram.c, listen_ws.c),
 * against a call with utterances waiting for their finals and one open:
 * what is read stays within its buffers and is UTF-8, the stream's times
 * are finite and in range, the book never holds more than it may, and
 * every final reported names a real utterance and is words separated by
 * single spaces (lws_fuzz.h).
 *
 * Input: a set-up byte (bits 0-1: utterances waiting less one; bits 2-5:
 * which of them were dropped; bit 6: none open; bit 7: the turn goes on,
 * each utterance continuing the one before it and the open one the last,
 * as after early ends the caller resumed from, and a pause a turn ended
 * in lies before them), then messages, one per line.
 */
#include "lws_fuzz.h"

static const struct provider pv = {
    .name = "deepgram",
    .url = "http://127.0.0.1:9",
    .api_key = "dg-fuzz-secret-key-0123",
    .model = "nova-3",
    .timeout_ms = 2000,
};

static void parse_check(const char *p, size_t n)
{
	struct dg_msg m;
	size_t tl;

	if (dg_parse(p, n, &m))
		return;
	tl = strnlen(m.text, sizeof(m.text));
	FUZZ_CHECK(tl < sizeof(m.text));
	FUZZ_CHECK(utf8_valid(m.text, tl));
	FUZZ_CHECK(strnlen(m.error, sizeof(m.error)) < sizeof(m.error));
	FUZZ_CHECK(m.start >= 0 && m.start <= 1e7);
	FUZZ_CHECK(m.duration >= 0 && m.duration <= 1e7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	struct lws *l = lws_fuzz_book(&lws_deepgram, &pv);

	l->audio_samples = 8000 * 5;
	for (unsigned i = 0; i <= (mode & 3u); i++) {
		struct lws_utt *u = &l->wait[l->nwait++];

		u->utt = mode & (4u << i) ? 0 : i + 1;
		u->sent = true;
		u->audio_end = 1.0 + i;
		u->secs = 1;
		if (i && mode & 0x80 && u->utt && l->wait[i - 1].utt)
			u->after = l->wait[i - 1].utt;
	}
	if (!(mode & 0x40))
		l->open_utt = 9;
	if (mode & 0x80) {
		l->open_after = l->open_utt ? l->wait[l->nwait - 1].utt : 0;
		l->skip_from = 0.5;
		l->skip_to = 0.9;
	}
	lws_fuzz_lines(l, &in, parse_check, pv.api_key);
	return 0;
}
