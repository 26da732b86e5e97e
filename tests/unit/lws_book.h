/*
 * What the streaming listener's provider tests share (listen_deepgram,
 * listen_realtime): what the listener tells its pipeline, recorded, and
 * an offline socket (lws_alloc_offline) with utterances waiting, which a
 * test feeds the provider's messages by hand. Include after libre's
 * headers and listen_ws.h.
 */
#ifndef VOXGATE_LWS_BOOK_H
#define VOXGATE_LWS_BOOK_H

#include <stdio.h>
#include <string.h>

#include "loop.h"

#define S(lit) lit, strlen(lit)

static struct {
	uint32_t utt[8];
	char text[8][LWS_TEXT_MAX];
	unsigned finals;
	uint32_t err_utt[8];
	int err[8];
	unsigned errors;
	uint32_t partial_utt;
	char partial[LWS_TEXT_MAX];
} got;

static inline void got_final(uint32_t utt, const char *text, void *arg)
{
	(void)arg;
	if (got.finals < 8) {
		got.utt[got.finals] = utt;
		snprintf(got.text[got.finals], LWS_TEXT_MAX, "%s", text);
	}
	got.finals++;
}

static inline void got_error(uint32_t utt, int err, void *arg)
{
	(void)arg;
	if (got.errors < 8) {
		got.err_utt[got.errors] = utt;
		got.err[got.errors] = err;
	}
	got.errors++;
}

static inline void got_partial(uint32_t utt, const char *text, void *arg)
{
	(void)arg;
	got.partial_utt = utt;
	snprintf(got.partial, sizeof(got.partial), "%s", text);
}

/* A provider's message, as the socket would hand it on. */
static inline void msg(struct lws *l, const char *s)
{
	l->ops->msg(l, s, strlen(s));
}

/* An offline socket for ops, open, with n utterances waiting (1 to n,
 * each sent and ended now); got emptied. NULL if it cannot be made. */
static inline struct lws *lws_book(const struct lws_ops *ops,
                                   const struct provider *pv, size_t n)
{
	static const struct listener_handlers h = {got_partial, got_final,
	                                           got_error};
	struct lws *l = NULL;

	memset(&got, 0, sizeof(got));
	if (n > LWS_WAIT || lws_alloc_offline(&l, ops, pv, &h, NULL))
		return NULL;
	l->state = LWS_OPEN;
	for (size_t i = 0; i < n; i++) {
		struct lws_utt *u = &l->wait[l->nwait++];

		u->utt = (uint32_t)i + 1;
		u->sent = true;
		u->t_end = tmr_jiffies();
	}
	return l;
}

#endif
