/*
 * A streaming recogniser's socket (listen_ws_int.h): connecting, the
 * backoff after a failure, keepalives, what is sent, the audio held while
 * it is not open and the socket's handlers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "net/backoff.h"
#include "net/wsc.h"
#include "worker/listen_ws.h"
#include "worker/listen_ws_int.h"
#include "worker/provider.h"

/* The backoff (net/backoff.h): BACKOFF_FIRST_MS doubled per failure in a
 * row up to BACKOFF_MAX_MS. */
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS   15000
/* Nothing from the server for this long ends the socket; a ping goes at
 * half of it, which the provider answers even while it has nothing to
 * say. */
#define WS_IDLE_MS 20000
#define WS_MAX_MSG (256 * 1024)
/* About 30 s of a call's audio waiting to be sent: a provider this far
 * behind has lost the turn anyway. */
#define WS_MAX_QUEUE (256 * 1024)

/* ---- the socket ---- */

static void retry_h(void *arg)
{
	lws_connect_now(arg);
}

static void keepalive_h(void *arg)
{
	struct lws *l = arg;
	uint64_t now = clock_mono_ms(), due;

	if (l->state != LWS_OPEN || !l->ops->keepalive_ms)
		return;
	if (now + 50 >= l->t_tx + l->ops->keepalive_ms)
		(void)l->ops->keepalive(l);
	due = l->t_tx + l->ops->keepalive_ms;
	tmr_start(&l->tmr_idle, due > now ? due - now : 0, keepalive_h, l);
}

/* The socket went: what was in progress fails, and a new one comes after
 * the backoff. */
static void lost(struct lws *l, int err, uint16_t status, const char *why)
{
	char q[PROVIDER_WHY_MAX + 16];
	uint32_t ms;

	l->w = mem_deref(l->w);
	l->state = LWS_WAITING;
	tmr_cancel(&l->tmr_idle);
	l->down_err = err;
	l->down_status = status;
	snprintf(l->down_why, sizeof(l->down_why), "%s", why ? why : "");
	provider_mask(l->down_why, l->pv->api_key);
	lws_fail_all(l, err, status, why);
	l->attempts++;
	ms = backoff_ms(l->attempts, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
	log_event(LOGL_WARN, l->call_id[0] ? l->call_id : NULL, "stt_socket",
	          "provider=%s state=lost status=%u attempt=%u retry_ms=%u "
	          "reason=\"%s\"",
	          l->ops->name, status, l->attempts, ms,
	          log_quote(q, sizeof(q), l->down_why));
	tmr_start(&l->tmr_retry, ms, retry_h, l);
}

void lws_restart(struct lws *l, int err, uint16_t status, const char *why)
{
	lost(l, err, status, why);
}

void lws_healthy(struct lws *l)
{
	l->attempts = 0;
}

int lws_send_text(struct lws *l, const char *p, size_t n)
{
	int err;

	if (l->state != LWS_OPEN || !l->w)
		return ENOTCONN;
	err = wsc_send(l->w, WSC_TEXT, p, n);
	if (!err)
		l->t_tx = clock_mono_ms();
	return err;
}

int lws_send_binary(struct lws *l, const void *p, size_t n)
{
	int err;

	if (l->state != LWS_OPEN || !l->w)
		return ENOTCONN;
	err = wsc_send(l->w, WSC_BINARY, p, n);
	if (!err)
		l->t_tx = clock_mono_ms();
	return err;
}

/* n mu-law bytes of the open utterance to the provider, in chunks. */
int lws_send_audio(struct lws *l, const uint8_t *ulaw, size_t n)
{
	while (n) {
		size_t k = n < LWS_CHUNK ? n : LWS_CHUNK;
		int err = l->ops->audio(l, ulaw, k);

		if (err)
			return err;
		l->audio_samples += k;
		ulaw += k;
		n -= k;
	}
	return 0;
}

void lws_hold_put(struct lws *l, const uint8_t *ulaw, size_t n)
{
	if (n >= LWS_HOLD_MAX) {
		ulaw += n - LWS_HOLD_MAX;
		n = LWS_HOLD_MAX;
	}
	if (l->hold_len + n > LWS_HOLD_MAX) {
		size_t k = l->hold_len + n - LWS_HOLD_MAX;

		memmove(l->hold, l->hold + k, l->hold_len - k);
		l->hold_len -= k;
	}
	memcpy(l->hold + l->hold_len, ulaw, n);
	l->hold_len += n;
}

static void open_h(void *arg)
{
	struct lws *l = arg;
	uint64_t now = clock_mono_ms();

	if (l->released)
		return;
	l->state = LWS_OPEN;
	l->audio_samples = 0;
	l->done_until = 0;
	l->skip_from = l->skip_to = 0;
	l->t_tx = now;
	log_event(LOGL_INFO, l->call_id[0] ? l->call_id : NULL, "stt_socket",
	          "provider=%s state=open connect_ms=%llu attempt=%u",
	          l->ops->name, (unsigned long long)(now - l->t_connect),
	          l->attempts);
	if (l->ops->opened)
		l->ops->opened(l);
	if (l->state != LWS_OPEN)
		return;
	/* What was held: an utterance ended while connecting, or the open
	 * one. */
	for (size_t i = 0; i < l->nwait; i++) {
		struct lws_utt *u = &l->wait[i];

		if (u->sent)
			continue;
		u->sent = true;
		if (lws_send_audio(l, l->hold, l->hold_len)) {
			lws_fail(l, u, EIO, "cannot send the held audio");
			break;
		}
		u->audio_end = (double)l->audio_samples / 8000;
		if (l->ops->end(l, u))
			lws_fail(l, u, EIO, "cannot send the end of the turn");
		l->hold_len = 0;
		break;
	}
	if (l->open_utt && !l->open_broken && l->hold_len) {
		if (lws_send_audio(l, l->hold, l->hold_len))
			lws_broke(l, EIO, "cannot send the held audio");
	}
	l->hold_len = 0;
	if (l->ops->keepalive_ms)
		tmr_start(&l->tmr_idle, l->ops->keepalive_ms, keepalive_h, l);
}

static void msg_h(enum wsc_op op, const uint8_t *p, size_t n, void *arg)
{
	struct lws *l = arg;

	if (l->released || op != WSC_TEXT)
		return;
	mem_ref(l);
	l->ops->msg(l, (const char *)p, n);
	mem_deref(l);
}

static void close_h(const struct wsc_end *end, void *arg)
{
	struct lws *l = arg;
	char why[PROVIDER_WHY_MAX];
	int err;

	if (l->released) {
		/* its call is over: the goodbye is done */
		l->w = mem_deref(l->w);
		list_unlink(&l->le);
		mem_deref(l);
		return;
	}
	if (end->opened)
		snprintf(why, sizeof(why), "socket closed (%u%s%s)", end->code,
		         end->reason && end->reason[0] ? ": " : "",
		         end->reason ? end->reason : "");
	else
		snprintf(why, sizeof(why), "%s",
		         end->reason && end->reason[0] ? end->reason
		                                       : "cannot connect");
	provider_mask(why, l->pv->api_key);
	err = end->status == 401 || end->status == 403 ? EACCES
	      : end->err                               ? end->err
	                                               : ECONNRESET;
	lost(l, err, end->status && end->status != 101 ? end->status : 0, why);
}

void lws_connect_now(struct lws *l)
{
	const struct wsc_header hv[] = {{"Authorization", l->auth}};
	struct wsc_prm prm = {0};
	const char *why = NULL;
	int err;

	if (l->released || l->w)
		return;
	prm.url = l->url;
	prm.headerv = l->auth ? hv : NULL;
	prm.headerc = l->auth ? 1 : 0;
	prm.label = l->ops->name;
	prm.call_id = l->call_id[0] ? l->call_id : NULL;
	prm.connect_ms = l->pv->timeout_ms;
	prm.idle_ms = WS_IDLE_MS;
	prm.max_message = WS_MAX_MSG;
	prm.max_queue = WS_MAX_QUEUE;
	prm.openh = open_h;
	prm.msgh = msg_h;
	prm.closeh = close_h;
	prm.arg = l;
	l->t_connect = clock_mono_ms();
	err = wsc_alloc(&l->w, &prm, &why);
	if (err) {
		lost(l, err, 0, why ? why : strerror(err));
		return;
	}
	l->state = LWS_CONNECTING;
}
