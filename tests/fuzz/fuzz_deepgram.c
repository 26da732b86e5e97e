/*
 * Deepgram's /v1/listen messages as the streaming listener reads them
 * (dg_parse, then the listener's book: listen_deepgram.c, listen_ws.c),
 * against a call with utterances waiting for their finals and one open:
 * what is read stays within its buffers and is UTF-8, the stream's times
 * are finite and in range, the book never holds more than it may, and
 * every final reported names a real utterance and is words separated by
 * single spaces.
 *
 * Input: a set-up byte (bits 0-1: utterances waiting less one; bits 2-5:
 * which of them were dropped; bit 6: none open), then messages, one per
 * line.
 */
#include <errno.h>
#include <string.h>

#include "core/libre.h"
#include <re_main.h>

#include "core/log.h"
#include "core/utf8.h"
#include "worker/listen_ws.h"

#include "fuzz.h"

static const struct provider pv = {
    .name = "deepgram",
    .url = "http://127.0.0.1:9",
    .api_key = "dg-fuzz-secret-key-0123",
    .model = "nova-3",
    .timeout_ms = 2000,
};

static void on_final(uint32_t utt, const char *text, void *arg)
{
	size_t n = strlen(text);

	(void)arg;
	FUZZ_CHECK(utt != 0);
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
	FUZZ_CHECK(utt != 0);
	FUZZ_CHECK(utf8_valid(text, strlen(text)));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, NULL);
	return libre_init();
}

static void check_book(const struct lws *l)
{
	FUZZ_CHECK(l->nwait <= LWS_WAIT);
	FUZZ_CHECK(l->open_len < LWS_TEXT_MAX);
	FUZZ_CHECK(strlen(l->open_text) == l->open_len);
	FUZZ_CHECK(utf8_valid(l->open_text, l->open_len));
	for (size_t i = 0; i < l->nwait; i++) {
		FUZZ_CHECK(l->wait[i].len < LWS_TEXT_MAX);
		FUZZ_CHECK(strlen(l->wait[i].text) == l->wait[i].len);
		FUZZ_CHECK(utf8_valid(l->wait[i].text, l->wait[i].len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct listener_handlers h = {on_partial, on_final, on_error};
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	struct lws *l = NULL;

	FUZZ_CHECK(!lws_alloc_offline(&l, &lws_deepgram, &pv, &h, NULL));
	l->state = LWS_OPEN;
	l->audio_samples = 8000 * 5;
	for (unsigned i = 0; i <= (mode & 3u); i++) {
		struct lws_utt *u = &l->wait[l->nwait++];

		u->utt = mode & (4u << i) ? 0 : i + 1;
		u->sent = true;
		u->audio_end = 1.0 + i;
		u->secs = 1;
	}
	if (!(mode & 0x40))
		l->open_utt = 9;
	while (in.n) {
		const uint8_t *nl = memchr(in.p, '\n', in.n);
		size_t n = nl ? (size_t)(nl - in.p) : in.n;
		struct dg_msg m;

		if (!dg_parse((const char *)in.p, n, &m)) {
			size_t tl = strnlen(m.text, sizeof(m.text));

			FUZZ_CHECK(tl < sizeof(m.text));
			FUZZ_CHECK(utf8_valid(m.text, tl));
			FUZZ_CHECK(strnlen(m.error, sizeof(m.error)) <
			           sizeof(m.error));
			FUZZ_CHECK(m.start >= 0 && m.start <= 1e7);
			FUZZ_CHECK(m.duration >= 0 && m.duration <= 1e7);
		}
		l->ops->msg(l, (const char *)in.p, n);
		check_book(l);
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
