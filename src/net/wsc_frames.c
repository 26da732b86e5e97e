/*
 * WebSocket client (wsc.h): frames on an open socket, out and in.
 *
 * Apart from the connection's life because this is the path every message
 * takes, a call's audio every 20 ms (bench/wsc_send measures it): what is
 * here must neither allocate once warm nor block, which the connect, the
 * upgrade and the socket's end need not care about.
 */
#include <errno.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include "core/log.h"
#include "core/utf8.h"
#include "net/wsc_int.h"

/* Sent buffers kept for the next frames: a few, none larger than this. */
#define SPARE_MAX     4
#define SPARE_CAP_MAX (16 * 1024)
/* A buffer's least size, so that messages that differ a little in length
 * reuse it. */
#define QFRAME_MIN 512

/* A buffer for len bytes: a spare one if one is large enough. */
struct qframe *wsc_qframe_get(struct wsc *w, size_t len)
{
	struct qframe *qf;
	size_t cap = QFRAME_MIN;

	for (struct le *le = list_head(&w->spare); le; le = le->next) {
		qf = le->data;
		if (qf->cap >= len) {
			list_unlink(le);
			qf->len = len;
			qf->pos = 0;
			return qf;
		}
	}
	if (len > SPARE_CAP_MAX)
		cap = len; /* freed once sent */
	else
		while (cap < len)
			cap *= 2;
	qf = mem_alloc(sizeof(*qf) + cap, NULL);
	if (!qf)
		return NULL;
	memset(qf, 0, sizeof(*qf));
	qf->len = len;
	qf->cap = cap;
	return qf;
}

/* A buffer whose bytes are all sent. */
static void qframe_put(struct wsc *w, struct qframe *qf)
{
	if (qf->cap <= SPARE_CAP_MAX && list_count(&w->spare) < SPARE_MAX)
		list_append(&w->spare, &qf->le, qf);
	else
		mem_deref(qf);
}

/* The next frame's masking key (RFC 6455 5.3: unpredictable, fresh for
 * each frame). */
static int next_key(struct wsc *w, uint8_t key[4])
{
	if (w->keys_left < 4) {
		if (RAND_bytes(w->keys, sizeof(w->keys)) != 1)
			return EIO;
		w->keys_left = sizeof(w->keys);
	}
	w->keys_left -= 4;
	memcpy(key, w->keys + w->keys_left, 4);
	/* a key used is not kept */
	memset(w->keys + w->keys_left, 0, 4);
	return 0;
}

/* dst = src masked with key, eight bytes at a time. */
static void mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
                      const uint8_t key[4])
{
	uint32_t k4;
	uint64_t k8, v;
	size_t i = 0;

	/* the key twice, in memory order: byte j of k8 is key[j & 3]
	 * whatever the byte order */
	memcpy(&k4, key, 4);
	memcpy(&k8, &k4, 4);
	memcpy((uint8_t *)&k8 + 4, &k4, 4);
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, src + i, 8);
		v ^= k8;
		memcpy(dst + i, &v, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ key[i & 3];
}

void wsc_enqueue(struct wsc *w, struct qframe *qf)
{
	list_append(&w->txq, &qf->le, qf);
	w->queued += qf->len;
}

int wsc_queue_frame(struct wsc *w, enum wsc_op op, const uint8_t *p, size_t n)
{
	uint8_t key[4], hdr[14];
	struct qframe *qf;
	size_t hl;

	if (next_key(w, key))
		return EIO;
	hl = wsc_frame_header(hdr, op, true, n, key);
	qf = wsc_qframe_get(w, hl + n);
	if (!qf)
		return ENOMEM;
	memcpy(qf->data, hdr, hl);
	mask_copy(qf->data + hl, p, n, key);
	wsc_enqueue(w, qf);
	w->st.frames_tx++;
	if (op == WSC_TEXT || op == WSC_BINARY)
		w->st.msgs_tx++;
	else if (op == WSC_PING)
		w->st.pings_tx++;
	return 0;
}

int wsc_queue_close(struct wsc *w, uint16_t code, const char *reason)
{
	uint8_t pl[125];
	size_t rl = reason ? strlen(reason) : 0;

	if (rl > 123)
		rl = utf8_trim(reason, 123);
	pl[0] = (uint8_t)(code >> 8);
	pl[1] = (uint8_t)code;
	if (rl)
		memcpy(pl + 2, reason, rl);
	w->sent_code = code;
	return wsc_queue_frame(w, WSC_CLOSE, pl, code ? rl + 2 : 0);
}

/* Sends what the socket takes now. ECONNRESET when it is gone. */
int wsc_flush(struct wsc *w)
{
	struct le *le;

	while (w->easy && (le = list_head(&w->txq))) {
		struct qframe *qf = le->data;
		size_t sent = 0;
		CURLcode rc;

		rc = curl_easy_send(w->easy, qf->data + qf->pos,
		                    qf->len - qf->pos, &sent);
		if (sent > qf->len - qf->pos)
			sent = qf->len - qf->pos;
		qf->pos += sent;
		w->queued -= sent;
		w->st.bytes_tx += sent;
		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK) {
			w->tx_err = true;
			snprintf(w->errbuf, sizeof(w->errbuf), "send: %s",
			         curl_easy_strerror(rc));
			return ECONNRESET;
		}
		if (qf->pos < qf->len)
			break;
		list_unlink(le);
		qframe_put(w, qf);
	}
	(void)wsc_watch(w);
	return 0;
}

/* A send failed where no handler may be called: end it from the loop. */
void wsc_flush_soon(struct wsc *w)
{
	if (wsc_flush(w))
		tmr_start(&w->tmr_more, 0, wsc_more_h, w);
}

int wsc_send(struct wsc *w, enum wsc_op op, const void *p, size_t n)
{
	int err;

	if (!w || (!p && n))
		return EINVAL;
	if (op != WSC_TEXT && op != WSC_BINARY && op != WSC_PING)
		return EINVAL;
	if (w->state != ST_OPEN)
		return ENOTCONN;
	if (op == WSC_PING && n > 125)
		return EINVAL;
	if (n > (size_t)INT32_MAX)
		return EMSGSIZE;
	if (op == WSC_TEXT && !utf8_valid(p, n))
		return EILSEQ;
	if (w->queued >= w->max_queue) {
		w->want_writable = true;
		return EAGAIN;
	}
	err = wsc_queue_frame(w, op, p ? p : "", n);
	if (err)
		return err;
	wsc_flush_soon(w);
	return 0;
}

int wsc_close(struct wsc *w, uint16_t code, const char *reason)
{
	bool ok = (code >= 1000 && code <= 1003) ||
	          (code >= 1007 && code <= 1011) ||
	          (code >= 3000 && code <= 4999);
	int err;

	if (!w)
		return EINVAL;
	if (w->state != ST_OPEN)
		return ENOTCONN;
	if (!ok || (reason && (strlen(reason) > 123 ||
	                       !utf8_valid(reason, strlen(reason)))))
		return EINVAL;
	err = wsc_queue_close(w, code, reason);
	if (err)
		return err;
	w->state = ST_CLOSING;
	log_event(LOGL_DEBUG, w->call_id, "wsc_closing", "label=%s code=%u",
	          w->label, code);
	tmr_start(&w->tmr_close, WSC_CLOSE_WAIT_MS, wsc_close_wait_h, w);
	wsc_flush_soon(w);
	return 0;
}

/* ---- frames in ---- */

static void malformed(struct wsc *w, int err, uint16_t code, const char *why)
{
	char q[160];

	wsc_total_add(&wsc_tally.malformed, 1);
	log_event(LOGL_WARN, w->call_id, "wsc_malformed",
	          "label=%s host=%s code=%u reason=\"%s\"", w->label, w->host,
	          code, log_quote(q, sizeof(q), why));
	if (w->state == ST_OPEN && !w->tx_err) {
		if (wsc_queue_close(w, code, why) == 0)
			(void)wsc_flush(w);
	}
	wsc_finish(w, err, code, false, why);
}

/* Returns nonzero when reading must stop. */
int wsc_frames_feed(struct wsc *w, const uint8_t *p, size_t n)
{
	while (w->state == ST_OPEN || w->state == ST_CLOSING) {
		struct wsc_frame f;
		uint16_t code = 0;
		const char *why = NULL;
		size_t used;
		int err;

		err = wsc_rx_next(&w->rx, p, n, &used, &f, &code, &why);
		if (err) {
			malformed(w, err, code, why);
			return 1;
		}
		p += used;
		n -= used;
		switch (f.op) {
		case WSC_CONT:
			return 0; /* all read */
		case WSC_TEXT:
		case WSC_BINARY:
			w->st.msgs_rx++;
			if (w->msgh)
				w->msgh(f.op, f.p, f.n, w->arg);
			if (wsc_owner_gone(w))
				return 1;
			break;
		case WSC_PING:
			w->st.pings_rx++;
			/* a flood of pings gets no more pongs than the queue
			 * holds (RFC 6455 5.5.3 asks only for the last) */
			if (w->state == ST_OPEN && w->queued < w->max_queue &&
			    (wsc_queue_frame(w, WSC_PONG, f.p, f.n) ||
			     wsc_flush(w)))
				return 0; /* the read side will tell */
			break;
		case WSC_PONG:
			w->st.pongs_rx++;
			break;
		case WSC_CLOSE:
			if (w->state == ST_OPEN) {
				/* echo the code, as RFC 6455 5.5.1 asks */
				if (wsc_queue_close(
				        w,
				        f.close_code == 1005 ? 0 : f.close_code,
				        NULL) == 0)
					(void)wsc_flush(w);
				wsc_finish(w, 0, f.close_code, true,
				           f.close_reason);
			} else {
				wsc_finish(w, 0, f.close_code, false,
				           f.close_reason);
			}
			return 1;
		default:
			return 1;
		}
	}
	return 1;
}
