/*
 * OpenAI Realtime transcription events as the streaming listener reads
 * them (rt_event_parse, the brain's parser too, without an audio buffer;
 * then the listener's book: listen_realtime.c,
 * listen_ws.c), against a call with commits waiting (some with their item
 * ids told, some not) and one utterance open: what is read stays within
 * its buffers and is UTF-8, the book never holds more than it may, every
 * final and error names a real utterance, finals are words separated by
 * single spaces, and the key never reaches a reason.
 *
 * Input: a set-up byte (bits 0-1: commits waiting less one; bits 2-5:
 * which of them have their item id, item_0 to item_3), then events, one
 * per line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/libre.h"
#include <re_main.h>

#include "core/log.h"
#include "core/utf8.h"
#include "worker/listen_ws.h"
#include "worker/realtime_event.h"

#include "fuzz.h"

static const struct provider pv = {
    .name = "openai-realtime",
    .url = "http://127.0.0.1:9/v1",
    .api_key = "sk-fuzz-secret-key-0123",
    .model = "gpt-4o-transcribe",
    .timeout_ms = 2000,
};

static void on_final(uint32_t utt, const char *text, void *arg)
{
	size_t n = strlen(text);

	(void)arg;
	FUZZ_CHECK(utt >= 1 && utt <= 4);
	FUZZ_CHECK(n < LWS_TEXT_MAX);
	FUZZ_CHECK(utf8_valid(text, n));
	FUZZ_CHECK(!n || (text[0] != ' ' && text[n - 1] != ' '));
	FUZZ_CHECK(!strstr(text, "  "));
}

static void on_error(uint32_t utt, int err, void *arg)
{
	(void)arg;
	FUZZ_CHECK(utt != 0 && err != 0);
}

static void on_partial(uint32_t utt, const char *text, void *arg)
{
	(void)arg;
	FUZZ_CHECK(utt >= 1 && utt <= 4);
	FUZZ_CHECK(utf8_valid(text, strlen(text)));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, NULL);
	return libre_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct listener_handlers h = {on_partial, on_final, on_error};
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	struct lws *l = NULL;

	FUZZ_CHECK(!lws_alloc_offline(&l, &lws_realtime, &pv, &h, NULL));
	l->state = LWS_OPEN;
	for (unsigned i = 0; i <= (mode & 3u); i++) {
		struct lws_utt *u = &l->wait[l->nwait++];

		u->utt = i + 1;
		u->sent = true;
		if (mode & (4u << i))
			snprintf(u->id, sizeof(u->id), "item_%u", i);
	}
	l->open_utt = 9;
	while (in.n) {
		const uint8_t *nl = memchr(in.p, '\n', in.n);
		size_t n = nl ? (size_t)(nl - in.p) : in.n;
		static struct rt_event m;

		if (!rt_event_parse((const char *)in.p, n, &m, NULL, 0)) {
			FUZZ_CHECK(utf8_valid(m.text, strlen(m.text)));
			FUZZ_CHECK(strlen(m.item_id) < sizeof(m.item_id));
			FUZZ_CHECK(strlen(m.code) < sizeof(m.code));
			FUZZ_CHECK(strlen(m.event_id) < sizeof(m.event_id));
			FUZZ_CHECK(utf8_valid(m.message, strlen(m.message)));
			FUZZ_CHECK(!m.audio_len);
		}
		l->ops->msg(l, (const char *)in.p, n);
		FUZZ_CHECK(l->nwait <= LWS_WAIT);
		for (size_t i = 0; i < l->nwait; i++) {
			FUZZ_CHECK(strlen(l->wait[i].text) == l->wait[i].len);
			FUZZ_CHECK(l->wait[i].len < LWS_TEXT_MAX);
			FUZZ_CHECK(utf8_valid(l->wait[i].text, l->wait[i].len));
		}
		if (l->down_why[0])
			FUZZ_CHECK(!strstr(l->down_why, pv.api_key));
		in.p += n;
		in.n -= n;
		if (in.n) {
			in.p++;
			in.n--;
		}
	}
	lws_release(l);
	return 0;
}
