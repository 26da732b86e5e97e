/*
 * What the streaming listener's provider targets share (fuzz_deepgram,
 * fuzz_realtime_stt): handlers that check what the listener reports, the
 * book's bounds checked after each message, and the input's messages, one
 * per line, fed to the provider's reader. Each target sets up its own
 * book from the input's first byte and checks its own parser's output.
 */
#ifndef VOXGATE_LWS_FUZZ_H
#define VOXGATE_LWS_FUZZ_H

#include <string.h>

#include "core/libre.h"
#include <re_main.h>

#include "core/log.h"
#include "core/utf8.h"
#include "worker/listen_ws.h"

#include "fuzz.h"

/* The highest utterance number a final or partial may name; 0: any. */
static uint32_t lws_fuzz_max_utt;

static inline void lws_fuzz_utt(uint32_t utt)
{
	FUZZ_CHECK(utt != 0);
	FUZZ_CHECK(!lws_fuzz_max_utt || utt <= lws_fuzz_max_utt);
}

/* A final is one line of words separated by single spaces. */
static inline void lws_fuzz_final(uint32_t utt, const char *text, void *arg)
{
	size_t n = strlen(text);

	(void)arg;
	lws_fuzz_utt(utt);
	FUZZ_CHECK(n < LWS_TEXT_MAX);
	FUZZ_CHECK(utf8_valid(text, n));
	FUZZ_CHECK(!n || (text[0] != ' ' && text[n - 1] != ' '));
	FUZZ_CHECK(!strstr(text, "  "));
}

static inline void lws_fuzz_error(uint32_t utt, int err, void *arg)
{
	(void)arg;
	/* the open utterance too may fail */
	FUZZ_CHECK(utt != 0 && err != 0);
}

static inline void lws_fuzz_partial(uint32_t utt, const char *text, void *arg)
{
	(void)arg;
	lws_fuzz_utt(utt);
	FUZZ_CHECK(utf8_valid(text, strlen(text)));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, NULL);
	return libre_init();
}

/* An offline socket for ops, open, its handlers the checks above. */
static inline struct lws *lws_fuzz_book(const struct lws_ops *ops,
                                        const struct provider *pv)
{
	static const struct listener_handlers h = {
	    lws_fuzz_partial, lws_fuzz_final, lws_fuzz_error};
	struct lws *l = NULL;

	FUZZ_CHECK(!lws_alloc_offline(&l, ops, pv, &h, NULL));
	l->state = LWS_OPEN;
	return l;
}

/* The book within its bounds, its texts whole UTF-8, the key in no
 * reason. */
static inline void lws_fuzz_check_book(const struct lws *l, const char *key)
{
	FUZZ_CHECK(l->nwait <= LWS_WAIT);
	FUZZ_CHECK(l->open_len < LWS_TEXT_MAX);
	FUZZ_CHECK(strlen(l->open_text) == l->open_len);
	FUZZ_CHECK(utf8_valid(l->open_text, l->open_len));
	FUZZ_CHECK(l->open_pre <= l->open_len);
	for (size_t i = 0; i < l->nwait; i++) {
		FUZZ_CHECK(l->wait[i].len < LWS_TEXT_MAX);
		FUZZ_CHECK(l->wait[i].pre_len <= l->wait[i].len);
		/* one waits for the one it continues, never for itself */
		FUZZ_CHECK(l->wait[i].after != l->wait[i].utt ||
		           !l->wait[i].utt);
		FUZZ_CHECK(strlen(l->wait[i].text) == l->wait[i].len);
		FUZZ_CHECK(utf8_valid(l->wait[i].text, l->wait[i].len));
	}
	if (l->down_why[0])
		FUZZ_CHECK(!strstr(l->down_why, key));
}

/* Each line of in, in turn: checked by the target's parse_check, then
 * read by the provider's reader, the book checked after it. Releases l. */
static inline void lws_fuzz_lines(struct lws *l, struct fuzz_in *in,
                                  void (*parse_check)(const char *, size_t),
                                  const char *key)
{
	while (in->n) {
		const uint8_t *nl = memchr(in->p, '\n', in->n);
		size_t n = nl ? (size_t)(nl - in->p) : in->n;

		parse_check((const char *)in->p, n);
		l->ops->msg(l, (const char *)in->p, n);
		lws_fuzz_check_book(l, key);
		in->p += n;
		in->n -= n;
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	lws_release(l);
}

#endif
