/*
 * The streaming recognisers' core (listen_ws.h): the utterances' book and
 * the listener's calls, for every provider alike; the socket's life is
 * listen_ws_sock.c's.
 *
 * Failures are found in three places: inside the listener's own calls (an
 * utterance ended while the socket is down), in the socket's handlers and
 * in timers. The pipeline learns of a failure only once it waits for the
 * final (it files the wait after listener_end returns), so every failure
 * is reported from a 0 ms timer, never from inside begin, feed or end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/g711.h"
#include "core/log.h"
#include "net/wsc.h"
#include "worker/listen_ws.h"
#include "worker/provider.h"
#include "worker/listen_ws_int.h"

/* Sockets saying goodbye after their call. */
static struct list closing = LIST_INIT;

const struct lws_ops *lws_ops_of(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "deepgram"))
		return &lws_deepgram;
	if (!strcmp(name, "openai-realtime"))
		return &lws_realtime;
	return NULL;
}

/* ---- reporting ---- */

static void report_h(void *arg)
{
	struct lws *l = arg;
	size_t n = l->nfail;

	mem_ref(l);
	for (size_t i = 0; i < n && !l->released; i++) {
		uint32_t utt = l->fail[i].utt;
		int err = l->fail[i].err;

		l->h.errorh(utt, err, l->arg);
	}
	if (!l->released) {
		memmove(l->fail, l->fail + n,
		        (l->nfail - n) * sizeof(l->fail[0]));
		l->nfail -= n;
	}
	mem_deref(l);
}

static void queue_fail(struct lws *l, uint32_t utt, int err)
{
	if (!utt || l->released)
		return;
	if (utt == l->last_utt)
		l->last_err = err ? err : EIO;
	if (l->nfail < sizeof(l->fail) / sizeof(l->fail[0])) {
		l->fail[l->nfail].utt = utt;
		l->fail[l->nfail].err = err ? err : EIO;
		l->nfail++;
	}
	tmr_start(&l->tmr_report, 0, report_h, l);
}

static void log_failed(struct lws *l, uint32_t utt, uint64_t t_end, double secs,
                       uint16_t status, const char *why)
{
	char q[PROVIDER_WHY_MAX + 32], m[PROVIDER_WHY_MAX];
	uint64_t now = clock_mono_ms();

	snprintf(m, sizeof(m), "%s", why ? why : "failed");
	provider_mask(m, l->pv->api_key);
	log_event(LOGL_WARN, l->call_id[0] ? l->call_id : NULL, "stt_failed",
	          "provider=%s stage=stt status=%u elapsed_ms=%llu "
	          "audio_ms=%.0f utterance=%u error=\"%s\"",
	          l->ops->name, status,
	          (unsigned long long)(t_end && now > t_end ? now - t_end : 0),
	          secs * 1000, utt, log_quote(q, sizeof(q), m));
}

/* ---- the book ---- */

static void wait_timeout_h(void *arg);

static void arm_wait(struct lws *l)
{
	uint64_t now = clock_mono_ms(), due;

	if (!l->nwait) {
		tmr_cancel(&l->tmr_wait);
		return;
	}
	due = l->wait[0].t_end + l->pv->timeout_ms;
	tmr_start(&l->tmr_wait, due > now ? due - now : 0, wait_timeout_h, l);
}

static void wait_remove(struct lws *l, size_t i, size_t k)
{
	memmove(&l->wait[i], &l->wait[i + k],
	        (l->nwait - i - k) * sizeof(l->wait[0]));
	l->nwait -= k;
}

/* Everything in progress fails: those waiting now (reported at once from
 * the loop), the open utterance at its end. */
void lws_fail_all(struct lws *l, int err, uint16_t status, const char *why)
{
	for (size_t i = 0; i < l->nwait; i++) {
		struct lws_utt *u = &l->wait[i];

		if (!u->utt)
			continue;
		log_failed(l, u->utt, u->t_end, u->secs, status, why);
		queue_fail(l, u->utt, err);
	}
	l->nwait = 0;
	tmr_cancel(&l->tmr_wait);
	tmr_cancel(&l->tmr_settle);
	if (l->open_utt && !l->open_broken) {
		log_failed(l, l->open_utt, 0, l->open_secs, status, why);
		l->open_broken = true;
		l->open_err = err ? err : EIO;
		l->hold_len = 0;
		l->pend = 0;
	}
	l->open_after = 0;
}

/* The open utterance cannot be heard whole: it fails at its end. */
void lws_broke(struct lws *l, int err, const char *why)
{
	if (!l->open_utt || l->open_broken)
		return;
	log_failed(l, l->open_utt, 0, l->open_secs, 0, why);
	l->open_broken = true;
	l->open_err = err;
	l->hold_len = 0;
	l->pend = 0;
}

void lws_append(char *dst, size_t *len, const char *text)
{
	size_t k = *len;
	bool space = k > 0;

	for (const char *t = text; *t; t++) {
		if (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') {
			space = k > 0;
			continue;
		}
		if (k + (space ? 2 : 1) >= LWS_TEXT_MAX)
			break;
		if (space)
			dst[k++] = ' ';
		space = false;
		dst[k++] = *t;
	}
	/* a character cut at the bound goes whole */
	while (k > *len && ((unsigned char)dst[k - 1] & 0xc0) == 0x80)
		k--;
	if (k > *len && ((unsigned char)dst[k - 1] & 0xc0) == 0xc0)
		k--;
	dst[k] = '\0';
	*len = k;
}

/* pre (the final of the utterance text's goes on from) ahead of text. */
static void prefix(char *text, size_t *len, size_t *pre_len, const char *pre)
{
	char t[LWS_TEXT_MAX];
	size_t k = 0;

	t[0] = '\0';
	lws_append(t, &k, pre);
	*pre_len = k;
	lws_append(t, &k, text);
	memcpy(text, t, k + 1);
	*len = k;
}

/* Utterance utt is told with text: the one that goes on from it (open or
 * waiting) takes it ahead of its own. */
static void told(struct lws *l, uint32_t utt, const char *text)
{
	if (utt == l->last_utt) {
		l->last_done = true;
		snprintf(l->last_text, sizeof(l->last_text), "%s", text);
	}
	if (l->open_after == utt) {
		prefix(l->open_text, &l->open_len, &l->open_pre, text);
		l->open_after = 0;
	}
	for (size_t i = 0; i < l->nwait; i++) {
		struct lws_utt *w = &l->wait[i];

		if (w->after == utt) {
			prefix(w->text, &w->len, &w->pre_len, text);
			w->after = 0;
		}
	}
}

void lws_resolve(struct lws *l, struct lws_utt *u)
{
	struct {
		uint32_t utt;
		char text[LWS_TEXT_MAX];
	} * out;
	size_t i = (size_t)(u - l->wait), n = 0;

	if (i >= l->nwait)
		return;
	/* Its turn's first part is not told yet: it waits (ordered, that
	 * part is before it in the book and told now). */
	if (u->after && !l->ops->ordered) {
		u->own_done = true;
		return;
	}
	out = malloc(sizeof(*out) * (i + 1));
	if (!out) {
		lws_fail(l, u, ENOMEM, "out of memory");
		return;
	}
	/* In order (Deepgram's Finalize): those ended before u are done
	 * too; else (the Realtime service's items) u alone goes. */
	for (size_t k = l->ops->ordered ? 0 : i; k <= i; k++) {
		const struct lws_utt *w = &l->wait[k];

		if (!w->utt)
			continue;
		out[n].utt = w->utt;
		memcpy(out[n].text, w->text, w->len + 1);
		told(l, w->utt, w->text);
		n++;
	}
	if (l->ops->ordered)
		wait_remove(l, 0, i + 1);
	else
		wait_remove(l, i, 1);
	arm_wait(l);
	mem_ref(l);
	for (size_t k = 0; k < n && !l->released; k++)
		l->h.finalh(out[k].utt, out[k].text, l->arg);
	/* one that waited for what was told now goes (it calls this again
	 * for the next) */
	for (size_t k = 0; k < l->nwait && !l->released; k++) {
		if (l->wait[k].own_done && !l->wait[k].after) {
			lws_resolve(l, &l->wait[k]);
			break;
		}
	}
	mem_deref(l);
	free(out);
}

void lws_fail(struct lws *l, struct lws_utt *u, int err, const char *why)
{
	size_t i = (size_t)(u - l->wait);
	uint32_t utt;

	if (i >= l->nwait)
		return;
	utt = u->utt;
	if (utt) {
		log_failed(l, utt, u->t_end, u->secs, 0, why);
		queue_fail(l, utt, err);
	}
	wait_remove(l, i, 1);
	arm_wait(l);
	if (!utt)
		return;
	/* What goes on from it has lost its turn's first part. */
	if (l->open_after == utt) {
		l->open_after = 0;
		lws_broke(l, err ? err : EIO,
		          "an earlier part of the turn failed");
	}
	for (size_t k = 0; k < l->nwait; k++) {
		if (l->wait[k].after == utt) {
			lws_fail(l, &l->wait[k], err,
			         "an earlier part of the turn failed");
			break;
		}
	}
}

void lws_partial(struct lws *l, const char *text)
{
	if (!l->h.partialh || !l->open_utt || l->open_broken || l->released)
		return;
	l->h.partialh(l->open_utt, text, l->arg);
}

/* ---- the listener's calls ---- */

static void lws_destructor(void *arg)
{
	struct lws *l = arg;

	tmr_cancel(&l->tmr_retry);
	tmr_cancel(&l->tmr_wait);
	tmr_cancel(&l->tmr_idle);
	tmr_cancel(&l->tmr_report);
	tmr_cancel(&l->tmr_settle);
	mem_deref(l->w);
	mem_deref(l->url);
	free(l->auth);
	free(l->hold);
}

static int alloc(struct lws **lp, const struct lws_ops *ops,
                 const struct provider *pv, const char *call_id,
                 const struct listener_handlers *h, void *arg, bool online)
{
	const char *why = NULL;
	struct lws *l;
	int err;

	if (!lp || !ops || !pv || !pv->url || !h || !h->finalh || !h->errorh)
		return EINVAL;
	l = mem_zalloc(sizeof(*l), lws_destructor);
	if (!l)
		return ENOMEM;
	l->ops = ops;
	l->pv = pv;
	l->h = *h;
	l->arg = arg;
	snprintf(l->call_id, sizeof(l->call_id), "%s", call_id ? call_id : "");
	tmr_init(&l->tmr_retry);
	tmr_init(&l->tmr_wait);
	tmr_init(&l->tmr_idle);
	tmr_init(&l->tmr_report);
	tmr_init(&l->tmr_settle);
	l->hold = malloc(LWS_HOLD_MAX);
	err = l->hold ? ops->url(&l->url, pv, &why) : ENOMEM;
	if (!err && pv->api_key && pv->api_key[0] &&
	    asprintf(&l->auth, "%s %s", ops->auth, pv->api_key) < 0) {
		l->auth = NULL;
		err = ENOMEM;
	}
	if (err) {
		if (why)
			log_event(LOGL_WARN, call_id, "stt_socket",
			          "provider=%s state=bad_url reason=\"%s\"",
			          ops->name, why);
		mem_deref(l);
		return err;
	}
	if (online)
		lws_connect_now(l);
	*lp = l;
	return 0;
}

int lws_alloc(struct lws **lp, const struct lws_ops *ops,
              const struct provider *pv, const char *call_id,
              const struct listener_handlers *h, void *arg)
{
	return alloc(lp, ops, pv, call_id, h, arg, true);
}

int lws_alloc_offline(struct lws **lp, const struct lws_ops *ops,
                      const struct provider *pv,
                      const struct listener_handlers *h, void *arg)
{
	return alloc(lp, ops, pv, NULL, h, arg, false);
}

void lws_release(struct lws *l)
{
	if (!l)
		return;
	l->released = true;
	tmr_cancel(&l->tmr_retry);
	tmr_cancel(&l->tmr_wait);
	tmr_cancel(&l->tmr_idle);
	tmr_cancel(&l->tmr_report);
	tmr_cancel(&l->tmr_settle);
	l->nwait = l->nfail = 0;
	if (l->state == LWS_OPEN && l->w) {
		if (l->ops->bye)
			(void)l->ops->bye(l);
		if (!wsc_close(l->w, 1000, NULL)) {
			l->state = LWS_GONE;
			list_append(&closing, &l->le, l);
			return;
		}
	}
	mem_deref(l);
}

void lws_flush(void)
{
	while (!list_isempty(&closing)) {
		struct lws *l = list_ledata(list_head(&closing));

		list_unlink(&l->le);
		mem_deref(l);
	}
}

void lws_begin(struct lws *l, uint32_t utt)
{
	lws_rest(l);
	if (l->open_utt && !l->open_broken && l->state == LWS_OPEN) {
		int r = l->ops->drop(l);

		/* its results still come: read and thrown away */
		if (r > 0 && l->nwait < LWS_WAIT) {
			struct lws_utt *u = &l->wait[l->nwait++];

			memset(u, 0, sizeof(*u));
			u->sent = true;
			u->t_end = clock_mono_ms();
			u->audio_end = (double)l->audio_samples / 8000;
			arm_wait(l);
		}
	}
	/* An utterance ended while connecting holds the audio: it is
	 * lost. */
	for (size_t i = 0; i < l->nwait; i++) {
		if (!l->wait[i].sent) {
			lws_fail(l, &l->wait[i], ENOTCONN,
			         "not connected in time");
			break;
		}
	}
	l->pend = 0;
	l->open_utt = utt;
	l->open_broken = false;
	l->open_err = 0;
	l->open_secs = 0;
	l->open_len = 0;
	l->open_segs = 0;
	l->open_text[0] = '\0';
	l->open_after = 0;
	l->open_pre = 0;
	l->hold_len = 0;
	l->partial[0] = '\0';
}

/* The pause after an end is held, the socket not open yet, when the
 * utterance it follows is held too (sent with it, it is that one's). */
static bool tail_held(const struct lws *l)
{
	const struct lws_utt *u = l->nwait ? &l->wait[l->nwait - 1] : NULL;

	return u && !u->sent && u->utt && u->utt == l->last_utt;
}

/* The open utterance's audio (or the pause after an end) not sent yet
 * goes: to the provider, or held until the socket opens. */
static void flush(struct lws *l)
{
	size_t k = l->pend;

	l->pend = 0;
	if (!k || (l->open_utt ? l->open_broken : !l->tail))
		return;
	if (l->state == LWS_OPEN) {
		int err = lws_send_audio(l, l->ulaw, k);

		if (err && !l->open_utt && !l->tail_err)
			l->tail_err = err == EAGAIN ? ENOBUFS : err;
		if (err)
			lws_broke(l, err == EAGAIN ? ENOBUFS : err,
			          err == EAGAIN ? "the provider is behind"
			                        : "cannot send audio");
	} else if (l->open_utt || tail_held(l)) {
		lws_hold_put(l, l->ulaw, k);
	}
}

int lws_feed(struct lws *l, const int16_t *pcm, size_t n)
{
	if (l->open_utt ? l->open_broken : !l->tail)
		return 0;
	if (l->open_utt)
		l->open_secs += (double)n / 8000;
	else
		l->tail_secs += (double)n / 8000;
	/* Sent LWS_CHUNK at a time: one message per 100 ms rather than per
	 * frame; what is left goes at the turn's end, ahead of it. */
	for (size_t i = 0; i < n; i++) {
		l->ulaw[l->pend++] = g711_ulaw_from_linear(pcm[i]);
		if (l->pend == LWS_CHUNK) {
			flush(l);
			if (l->open_utt && l->open_broken)
				return 0;
		}
	}
	return 0;
}

int lws_end(struct lws *l)
{
	struct lws_utt *u;
	uint32_t utt = l->open_utt, after = l->open_after;
	size_t pre = l->open_pre;

	if (!utt)
		return EINVAL;
	flush(l);
	l->open_utt = 0;
	l->open_after = 0;
	l->open_pre = 0;
	/* Until the turn is over (lws_rest), what is fed is the pause after
	 * it, and a reopen goes on from it. */
	l->tail = true;
	l->tail_secs = 0;
	l->tail_from = (double)l->audio_samples / 8000;
	l->tail_err = 0;
	l->last_utt = utt;
	l->last_done = false;
	l->last_err = 0;
	if (l->open_broken) {
		queue_fail(l, utt, l->open_err);
		return 0;
	}
	if (l->nwait == LWS_WAIT) {
		log_failed(l, utt, 0, l->open_secs, 0,
		           "too many utterances waiting");
		queue_fail(l, utt, ENOBUFS);
		return 0;
	}
	if (l->state != LWS_OPEN && l->state != LWS_CONNECTING) {
		char why[PROVIDER_WHY_MAX];

		snprintf(why, sizeof(why), "not connected: %.200s",
		         l->down_why);
		log_failed(l, utt, 0, l->open_secs, l->down_status, why);
		queue_fail(l, utt, l->down_err ? l->down_err : ENOTCONN);
		return 0;
	}
	u = &l->wait[l->nwait++];
	memset(u, 0, sizeof(*u));
	u->utt = utt;
	u->t_end = clock_mono_ms();
	u->secs = l->open_secs;
	memcpy(u->text, l->open_text, l->open_len + 1);
	u->len = l->open_len;
	u->segs = l->open_segs;
	u->after = after;
	u->pre_len = pre;
	if (l->state == LWS_OPEN) {
		int err;

		u->sent = true;
		u->audio_end = (double)l->audio_samples / 8000;
		err = l->ops->end(l, u);
		if (err)
			lws_fail(l, u, err, "cannot send the end of the turn");
	}
	arm_wait(l);
	return 0;
}

int lws_reopen(struct lws *l, uint32_t utt)
{
	struct lws_utt *a = NULL;

	if (!utt || l->open_utt || !l->tail || !l->last_utt)
		return EINVAL;
	for (size_t i = 0; i < l->nwait; i++)
		if (l->wait[i].utt == l->last_utt)
			a = &l->wait[i];
	l->tail = false;
	l->open_utt = utt;
	l->open_broken = false;
	l->open_err = 0;
	l->open_secs = l->tail_secs;
	l->open_len = l->open_pre = 0;
	l->open_text[0] = '\0';
	l->open_segs = 0;
	l->open_after = 0;
	l->partial[0] = '\0';
	if (l->tail_err || l->last_err) {
		/* its first part, or the pause, is lost (already logged) */
		l->open_broken = true;
		l->open_err = l->tail_err ? l->tail_err : l->last_err;
		l->hold_len = 0;
		l->pend = 0;
	} else if (a && !a->sent) {
		/* Nothing of it went (the socket is still connecting): it is
		 * simply taken up again, its audio held with the pause. */
		l->open_secs += a->secs;
		memcpy(l->open_text, a->text, a->len + 1);
		l->open_len = a->len;
		l->open_segs = a->segs;
		l->open_after = a->after;
		l->open_pre = a->pre_len;
		wait_remove(l, (size_t)(a - l->wait), 1);
		arm_wait(l);
	} else if (a) {
		l->open_after = a->utt;
	} else if (l->last_done) {
		lws_append(l->open_text, &l->open_len, l->last_text);
		l->open_pre = l->open_len;
	}
	l->last_utt = 0;
	l->last_done = false;
	return 0;
}

void lws_rest(struct lws *l)
{
	if (!l->tail)
		return;
	flush(l);
	l->tail = false;
	/* The pause went out: its results are nobody's, and the provider
	 * may drop it. */
	if (l->tail_secs > 0 && l->state == LWS_OPEN &&
	    (double)l->audio_samples / 8000 > l->tail_from) {
		l->skip_from = l->tail_from;
		l->skip_to = (double)l->audio_samples / 8000;
		if (l->ops->rest)
			(void)l->ops->rest(l);
	}
	l->last_utt = 0;
	l->last_done = false;
	l->last_err = 0;
	l->tail_err = 0;
}

/* No final in time: the head fails, and with it the stream, which is not
 * answering. */
static void wait_timeout_h(void *arg)
{
	struct lws *l = arg;
	char why[64];

	while (l->nwait && !l->wait[0].utt)
		wait_remove(l, 0, 1);
	if (l->nwait &&
	    clock_mono_ms() + 5 < l->wait[0].t_end + l->pv->timeout_ms) {
		arm_wait(l);
		return;
	}
	if (!l->nwait)
		return;
	snprintf(why, sizeof(why), "timed out: no final within %u ms",
	         l->pv->timeout_ms);
	if (l->state == LWS_OPEN || l->state == LWS_CONNECTING)
		lws_restart(l, ETIMEDOUT, 0, why);
	else
		lws_fail_all(l, ETIMEDOUT, 0, why);
}
