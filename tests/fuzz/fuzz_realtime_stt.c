/*
 * OpenAI Realtime transcription events as the streaming listener reads
 * them (rt_event_parse without an audio buffer, then the listener's book: listen_realtime.c,
 * listen_ws.c), against a call with commits waiting (some with their item
 * ids told, some not) and one utterance open: what is read stays within
 * its buffers and is UTF-8, the book never holds more than it may, every
 * final and error names a real utterance, finals are words separated by
 * single spaces, and the key never reaches a reason (lws_fuzz.h).
 *
 * Input: a set-up byte (bits 0-1: commits waiting less one; bits 2-5:
 * which of them have their item id, item_0 to item_3; bit 6: the turn
 * goes on, each commit after the first continuing the one before and
 * the open utterance the last, as after early ends the caller resumed
 * from), then events, one per line.
 */
#include <stdio.h>

#include "lws_fuzz.h"
#include "worker/realtime_event.h"

static const struct provider pv = {
    .name = "openai-realtime",
    .url = "http://127.0.0.1:9/v1",
    .api_key = "sk-fuzz-secret-key-0123",
    .model = "gpt-4o-transcribe",
    .timeout_ms = 2000,
};

static void parse_check(const char *p, size_t n)
{
	static struct rt_event m;

	if (rt_event_parse(p, n, &m, NULL, 0))
		return;
	FUZZ_CHECK(utf8_valid(m.text, strlen(m.text)));
	FUZZ_CHECK(strlen(m.item_id) < sizeof(m.item_id));
	FUZZ_CHECK(strlen(m.code) < sizeof(m.code));
	FUZZ_CHECK(strlen(m.event_id) < sizeof(m.event_id));
	FUZZ_CHECK(utf8_valid(m.message, strlen(m.message)));
	FUZZ_CHECK(!m.audio_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	struct lws *l = lws_fuzz_book(&lws_realtime, &pv);

	/* finals and partials name a commit, never the open one (9) */
	lws_fuzz_max_utt = 4;
	for (unsigned i = 0; i <= (mode & 3u); i++) {
		struct lws_utt *u = &l->wait[l->nwait++];

		u->utt = i + 1;
		u->sent = true;
		if (mode & (4u << i))
			snprintf(u->id, sizeof(u->id), "item_%u", i);
		if (i && mode & 0x40)
			u->after = i;
	}
	l->open_utt = 9;
	if (mode & 0x40)
		l->open_after = l->wait[l->nwait - 1].utt;
	lws_fuzz_lines(l, &in, parse_check, pv.api_key);
	return 0;
}
