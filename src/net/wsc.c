/*
 * WebSocket client (wsc.h).
 *
 * DESIGN. The connection is libcurl's: an easy handle with
 * CURLOPT_CONNECT_ONLY resolves the name (curl's resolver, off the loop),
 * connects, goes through a proxy if the environment names one, and does
 * TLS with SNI and curl's verification of the chain (the system's CAs,
 * or ca_file) and of the host name. From then on the upgrade request and
 * the frames pass through curl_easy_send and curl_easy_recv, non-blocking,
 * on the socket curl reports (CURLINFO_ACTIVESOCKET), which this module
 * watches with fd_listen. Nothing blocks and no thread is made per socket.
 *
 * Why not libre: its websock (1.1.0) trusts a frame's 64-bit length and
 * drops a frame that arrives in the same read as the 101; its TLS client
 * verifies only when each caller remembers to, loads no system CAs and
 * its DNS client reads no /etc/hosts. Debian's libcurl 7.88 has no ws://
 * of its own, but CONNECT_ONLY gives a verified byte stream on any socket.
 *
 * The connect phase runs on a multi handle per socket, driven by libre's
 * fd and timer events. One per socket because a connect-only connection
 * must stay in the cache of the multi that made it (removing the easy
 * handle closes it), and a cache shared by many sockets would prune the
 * older ones whenever a new one connects (curl's idle limit of 118 s).
 * After the connect, the multi is never driven again: it only holds the
 * connection.
 *
 * The frame reader (wsc_rx_next) is on its own and owns no socket: it
 * reads a hostile stream in pieces of any size, checks each header before
 * its length is used and joins fragments up to max_message; the fuzz
 * target drives it alone. Frames out are built whole, masked in place, in
 * buffers queued in order and sent from where they stand: OpenSSL wants a
 * write it could not finish repeated from the same buffer. A buffer sent
 * goes back to the socket's few spares, so a call's audio (a message every
 * 20 ms, each gone before the next) cycles through one buffer and
 * allocates nothing. The masking keys come from RAND_bytes a batch at a
 * time: a call for each key cost more than the rest of a send. Over TLS,
 * OpenSSL 3.0 still allocates for each record it writes (its write
 * buffer, which curl has it free when empty, and the record layer's
 * packet bookkeeping): 4 blocks per message, not ours to remove.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_tmr.h>
#include <re_main.h>
#include "core/log.h"
#include "core/mask.h"
#include "core/utf8.h"
#include "net/url.h"
#include "net/wsc.h"

/* The upgrade answer's headers: far above what a server sends. */
#define HS_MAX (16 * 1024)
/* Reads per wake before others get the loop (the rest on a 0 ms timer). */
#define READS_PER_WAKE 8
/* A refused upgrade's body is waited for at most this long. */
#define BODY_WAIT_MS 1000
/* Bytes of a refusal's message kept in its reason. */
#define REFUSAL_MSG_MAX 200
/* Above this the joined-message buffer goes back after each message. */
#define RX_KEEP         (64 * 1024)
#define MAX_MESSAGE_CAP ((size_t)1 << 30)

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---------------------------------------------------------------- */
/* The frame reader                                                  */
/* ---------------------------------------------------------------- */

void wsc_rx_init(struct wsc_rx *rx, size_t max_message)
{
	memset(rx, 0, sizeof(*rx));
	if (!max_message)
		max_message = WSC_MAX_MESSAGE;
	rx->max_message =
	    max_message > MAX_MESSAGE_CAP ? MAX_MESSAGE_CAP : max_message;
}

void wsc_rx_reset(struct wsc_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

bool wsc_rx_mid_frame(const struct wsc_rx *rx)
{
	return rx->have > 0 || rx->in_payload || rx->msg_op != 0;
}

static size_t hdr_need(const uint8_t *h)
{
	size_t n = 2;
	uint8_t len7 = h[1] & 0x7f;

	if (len7 == 126)
		n += 2;
	else if (len7 == 127)
		n += 8;
	if (h[1] & 0x80)
		n += 4;
	return n;
}

/* Codes a close frame may carry (RFC 6455 7.4, IANA's registry). */
static bool close_code_ok(uint16_t c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
	       (c >= 3000 && c <= 4999);
}

#define RX_FAIL(e, c, w)                                                       \
	do {                                                                   \
		*code = (c);                                                   \
		*why = (w);                                                    \
		return (e);                                                    \
	} while (0)

static int frame_start(struct wsc_rx *rx, uint16_t *code, const char **why)
{
	const uint8_t *h = rx->hdr;
	bool fin = (h[0] & 0x80) != 0;
	uint8_t op = h[0] & 0x0f, len7 = h[1] & 0x7f;
	uint64_t len = len7;

	if (h[0] & 0x70)
		RX_FAIL(EPROTO, 1002,
		        "reserved bits set (no extension agreed)");
	if (h[1] & 0x80)
		RX_FAIL(EPROTO, 1002, "masked frame from the server");
	if (len7 == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		if (len < 126)
			RX_FAIL(EPROTO, 1002,
			        "length not in its shortest form");
	} else if (len7 == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
		if (len >> 63)
			RX_FAIL(EPROTO, 1002,
			        "length with its most significant bit set");
		if (len <= 0xffff)
			RX_FAIL(EPROTO, 1002,
			        "length not in its shortest form");
	}
	if (op >= WSC_CLOSE) {
		if (op > WSC_PONG)
			RX_FAIL(EPROTO, 1002, "unknown control opcode");
		if (!fin || len > 125)
			RX_FAIL(EPROTO, 1002,
			        "fragmented or long control frame");
		rx->ctl_len = 0;
	} else {
		if (op > WSC_BINARY)
			RX_FAIL(EPROTO, 1002, "unknown data opcode");
		if (op == WSC_CONT && !rx->msg_op)
			RX_FAIL(EPROTO, 1002, "continuation without a message");
		if (op != WSC_CONT && rx->msg_op)
			RX_FAIL(EPROTO, 1002,
			        "new message inside a fragmented one");
		/* rx->len <= max_message: no wrap either way */
		if (len > rx->max_message - rx->len)
			RX_FAIL(EMSGSIZE, 1009,
			        "message larger than this socket takes");
		if (op != WSC_CONT)
			rx->msg_op = op;
	}
	rx->op = op;
	rx->fin = fin;
	rx->left = len;
	rx->in_payload = true;
	rx->have = 0;
	return 0;
}

static int buf_room(struct wsc_rx *rx, size_t need)
{
	size_t cap = rx->cap ? rx->cap : 4096;
	uint8_t *b;

	if (need <= rx->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > rx->max_message)
		cap = rx->max_message;
	b = realloc(rx->buf, cap);
	if (!b)
		return ENOMEM;
	rx->buf = b;
	rx->cap = cap;
	return 0;
}

/* A whole frame read: what it gives the caller, if anything. */
static int frame_end(struct wsc_rx *rx, struct wsc_frame *out, uint16_t *code,
                     const char **why)
{
	rx->in_payload = false;
	rx->frames++;
	if (rx->op >= WSC_CLOSE) {
		out->op = rx->op;
		out->p = rx->ctl;
		out->n = rx->ctl_len;
		if (rx->op != WSC_CLOSE)
			return 0;
		out->close_code = 1005;
		rx->reason[0] = '\0';
		out->close_reason = rx->reason;
		if (rx->ctl_len == 0)
			return 0;
		if (rx->ctl_len == 1)
			RX_FAIL(EPROTO, 1002, "close frame of one byte");
		out->close_code = (uint16_t)(rx->ctl[0] << 8 | rx->ctl[1]);
		if (!close_code_ok(out->close_code))
			RX_FAIL(EPROTO, 1002, "close code not allowed");
		if (!utf8_valid((const char *)rx->ctl + 2, rx->ctl_len - 2u))
			RX_FAIL(EILSEQ, 1007, "close reason not UTF-8");
		memcpy(rx->reason, rx->ctl + 2, rx->ctl_len - 2u);
		rx->reason[rx->ctl_len - 2] = '\0';
		return 0;
	}
	if (!rx->fin)
		return 0;
	if (rx->msg_op == WSC_TEXT &&
	    !utf8_valid((const char *)rx->buf, rx->len))
		RX_FAIL(EILSEQ, 1007, "text message not UTF-8");
	out->op = rx->msg_op;
	out->p = rx->buf ? rx->buf : (const uint8_t *)"";
	out->n = rx->len;
	rx->msg_op = 0;
	rx->delivered = true;
	return 0;
}

int wsc_rx_next(struct wsc_rx *rx, const uint8_t *p, size_t n, size_t *used,
                struct wsc_frame *out, uint16_t *code, const char **why)
{
	size_t i = 0;
	int err;

	memset(out, 0, sizeof(*out));
	*used = 0;
	if (rx->delivered) {
		rx->delivered = false;
		rx->len = 0;
		if (rx->cap > RX_KEEP) {
			free(rx->buf);
			rx->buf = NULL;
			rx->cap = 0;
		}
	}
	for (;;) {
		size_t take;

		if (!rx->in_payload) {
			if (i == n)
				break;
			rx->hdr[rx->have++] = p[i++];
			if (rx->have < 2 || rx->have < hdr_need(rx->hdr))
				continue;
			err = frame_start(rx, code, why);
			if (err) {
				*used = i;
				return err;
			}
		}
		take = n - i;
		if (rx->left < take)
			take = (size_t)rx->left;
		if (rx->op >= WSC_CLOSE) {
			memcpy(rx->ctl + rx->ctl_len, p + i, take);
			rx->ctl_len = (uint8_t)(rx->ctl_len + take);
		} else if (take) {
			if (buf_room(rx, rx->len + take)) {
				*used = i;
				RX_FAIL(ENOMEM, 1011, "out of memory");
			}
			memcpy(rx->buf + rx->len, p + i, take);
			rx->len += take;
		}
		i += take;
		rx->left -= take;
		if (rx->left)
			break; /* the bytes ran out */
		err = frame_end(rx, out, code, why);
		if (err || out->op != WSC_CONT) {
			*used = i;
			return err;
		}
	}
	*used = i;
	return 0;
}

size_t wsc_frame_header(uint8_t hdr[14], enum wsc_op op, bool fin, uint64_t n,
                        const uint8_t key[4])
{
	size_t i;

	hdr[0] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (n < 126) {
		hdr[1] = (uint8_t)(0x80 | n);
		i = 2;
	} else if (n <= 0xffff) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (uint8_t)(n >> 8);
		hdr[3] = (uint8_t)n;
		i = 4;
	} else {
		hdr[1] = 0x80 | 127;
		for (int k = 0; k < 8; k++)
			hdr[2 + k] = (uint8_t)(n >> (56 - 8 * k));
		i = 10;
	}
	memcpy(hdr + i, key, 4);
	return i + 4;
}

/* ---------------------------------------------------------------- */
/* The socket                                                        */
/* ---------------------------------------------------------------- */

enum state {
	ST_CONNECTING, /* curl: DNS, TCP, TLS */
	ST_UPGRADING,  /* request sent, answer awaited */
	ST_REFUSED,    /* answer not 101: its body awaited */
	ST_OPEN,
	ST_CLOSING, /* our close frame sent, the server's awaited */
	ST_DONE,    /* closeh called; what is queued may still go out */
};

static const char *const state_names[] = {
    "connecting", "upgrading", "refused", "open", "closing", "done",
};

/* A socket curl watches while it connects. */
struct csock {
	struct le le;
	struct wsc *w;
	curl_socket_t fd;
};

/* Bytes to send, a whole frame (or the upgrade request), in a buffer of
 * cap bytes. */
struct qframe {
	struct le le;
	size_t len, pos, cap;
	uint8_t data[];
};

/* Sent buffers kept for the next frames: a few, none larger than this. */
#define SPARE_MAX     4
#define SPARE_CAP_MAX (16 * 1024)
/* A buffer's least size, so that messages that differ a little in length
 * reuse it. */
#define QFRAME_MIN 512

struct wsc {
	char *label, *call_id, *host, *path; /* path: without the query */
	char *request;
	char accept[32]; /* the Sec-WebSocket-Accept we expect */
	uint32_t connect_ms, idle_ms;
	size_t max_queue;
	wsc_open_h *openh;
	wsc_msg_h *msgh;
	wsc_writable_h *writableh;
	wsc_close_h *closeh;
	void *arg;

	CURLM *multi;
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	struct list csocks;
	int fd; /* ours once connected, -1 before */
	int fd_flags;
	bool releasing; /* curl's callbacks are ignored */

	struct tmr tmr_curl, tmr_hs, tmr_idle, tmr_close, tmr_more;
	enum state state;
	bool opened;
	bool tx_err;
	bool want_writable;
	bool ping_out;
	uint64_t t_start, last_rx;
	uint16_t sent_code;

	struct mbuf *hs; /* the upgrade answer: headers, then a body */
	size_t hdr_len;  /* headers' bytes, CRLFCRLF included, once read */
	int64_t content_length; /* of a refusal's body; -1 unknown */
	bool chunked;

	/* The credential headers' values, each NUL-terminated, an empty one
	 * last: masked wherever the server's words quote them. */
	char *secrets;

	struct wsc_rx rx;
	struct list txq;
	struct list spare; /* sent frames' buffers, for reuse */
	size_t queued;
	uint8_t keys[256]; /* masking keys not yet used, from the end */
	size_t keys_left;
	struct wsc_stats st;
	char reason[320];
	char body[WSC_BODY_MAX + 1];
};

static struct wsc_totals totals;

static void total_add(uint64_t *c, int64_t v)
{
	__atomic_fetch_add(c, (uint64_t)v, __ATOMIC_RELAXED);
}

void wsc_totals(struct wsc_totals *t)
{
	uint64_t *dst = (uint64_t *)t;
	const uint64_t *src = (const uint64_t *)&totals;

	for (size_t i = 0; i < sizeof(*t) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void wsc_stats(const struct wsc *w, struct wsc_stats *st)
{
	if (!w || !st)
		return;
	*st = w->st;
	st->frames_rx = w->rx.frames;
	st->queued = w->queued;
}

/* The owner let go of the socket inside a handler: call nothing more. */
static bool owner_gone(const struct wsc *w)
{
	return mem_nrefs(w) <= 1;
}

static void io_h(int flags, void *arg);
static void close_wait_h(void *arg);
static void idle_h(void *arg);

/* Only the first call can fail: a descriptor beyond the loop's size
 * (fd_setsize; 1024 unless the process raised it). */
static int watch(struct wsc *w)
{
	int flags = FD_READ | (list_isempty(&w->txq) ? 0 : FD_WRITE);
	int err = 0;

	if (w->fd >= 0 && flags != w->fd_flags) {
		err = fd_listen(w->fd, flags, io_h, w);
		if (!err)
			w->fd_flags = flags;
	}
	return err;
}

static void csocks_drop(struct wsc *w)
{
	struct le *le;

	while ((le = list_head(&w->csocks))) {
		struct csock *cs = le->data;

		fd_close(cs->fd);
		list_unlink(le);
		mem_deref(cs);
	}
}

/* Lets go of the connection; the socket object may live on. */
static void conn_release(struct wsc *w)
{
	w->releasing = true;
	tmr_cancel(&w->tmr_curl);
	tmr_cancel(&w->tmr_more);
	csocks_drop(w);
	if (w->fd >= 0) {
		fd_close(w->fd);
		w->fd = -1;
		w->fd_flags = 0;
	}
	if (w->easy) {
		if (w->multi)
			curl_multi_remove_handle(w->multi, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	if (w->multi) {
		curl_multi_cleanup(w->multi);
		w->multi = NULL;
	}
	tmr_cancel(&w->tmr_curl);
	list_flush(&w->txq);
	list_flush(&w->spare);
	w->queued = 0;
}

/* The credential headers' values (and the key after "Bearer " or
 * "Token ") masked in s, the server's words; on one line when line. */
static void mask_secrets(const struct wsc *w, char *s, bool line)
{
	const char *k = w->secrets;

	if (line)
		mask_line(s, NULL);
	for (; k && *k; k += strlen(k) + 1)
		mask_key(s, k);
}

static void count_close(uint16_t code)
{
	if (code >= 1000 && code < 1016)
		total_add(&totals.closes[code - 1000], 1);
	else
		total_add(&totals.closes_other, 1);
}

/*
 * The end: closeh once. What is queued (a close frame) still goes out;
 * then, or at once, the connection goes.
 */
static void finish(struct wsc *w, int err, uint16_t code, bool by_server,
                   const char *reason)
{
	struct wsc_end end;
	char q[200];

	if (w->state == ST_DONE)
		return;
	if (reason != w->reason)
		snprintf(w->reason, sizeof(w->reason), "%s",
		         reason ? reason : "");
	/* a close reason is the server's words too */
	mask_secrets(w, w->reason, true);
	w->state = ST_DONE;
	tmr_cancel(&w->tmr_hs);
	tmr_cancel(&w->tmr_idle);
	tmr_cancel(&w->tmr_close);
	w->st.close_code = code;
	if (w->opened)
		count_close(code);
	else
		total_add(&totals.failed, 1);

	log_quote(q, sizeof(q), w->reason);
	if (w->opened)
		log_event(
		    err ? LOGL_WARN : LOGL_INFO, w->call_id, "wsc_close",
		    "label=%s host=%s code=%u by=%s err=%d reason=\"%s\" "
		    "msgs_rx=%llu msgs_tx=%llu bytes_rx=%llu bytes_tx=%llu",
		    w->label, w->host, code, by_server ? "server" : "client",
		    err, q, (unsigned long long)w->st.msgs_rx,
		    (unsigned long long)w->st.msgs_tx,
		    (unsigned long long)w->st.bytes_rx,
		    (unsigned long long)w->st.bytes_tx);
	else if (!w->st.status || w->st.status == 101)
		log_event(LOGL_WARN, w->call_id, "wsc_fail",
		          "label=%s host=%s path=%s err=%d reason=\"%s\"",
		          w->label, w->host, w->path, err, q);

	if (w->opened && w->easy && !list_isempty(&w->txq) && !w->tx_err) {
		(void)watch(w);
		tmr_start(&w->tmr_close, WSC_CLOSE_WAIT_MS, close_wait_h, w);
	} else {
		conn_release(w);
	}

	memset(&end, 0, sizeof(end));
	end.err = err;
	end.status = w->st.status;
	end.code = code;
	end.opened = w->opened;
	end.by_server = by_server;
	end.reason = w->reason;
	end.body = w->body;
	if (w->closeh)
		w->closeh(&end, w->arg);
}

/* ---- sending ---- */

/* A buffer for len bytes: a spare one if one is large enough. */
static struct qframe *qframe_get(struct wsc *w, size_t len)
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

static void enqueue(struct wsc *w, struct qframe *qf)
{
	list_append(&w->txq, &qf->le, qf);
	w->queued += qf->len;
}

static int queue_frame(struct wsc *w, enum wsc_op op, const uint8_t *p,
                       size_t n)
{
	uint8_t key[4], hdr[14];
	struct qframe *qf;
	size_t hl;

	if (next_key(w, key))
		return EIO;
	hl = wsc_frame_header(hdr, op, true, n, key);
	qf = qframe_get(w, hl + n);
	if (!qf)
		return ENOMEM;
	memcpy(qf->data, hdr, hl);
	mask_copy(qf->data + hl, p, n, key);
	enqueue(w, qf);
	w->st.frames_tx++;
	if (op == WSC_TEXT || op == WSC_BINARY)
		w->st.msgs_tx++;
	else if (op == WSC_PING)
		w->st.pings_tx++;
	return 0;
}

static int queue_close(struct wsc *w, uint16_t code, const char *reason)
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
	return queue_frame(w, WSC_CLOSE, pl, code ? rl + 2 : 0);
}

/* Sends what the socket takes now. ECONNRESET when it is gone. */
static int flush(struct wsc *w)
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
	(void)watch(w);
	return 0;
}

static void more_h(void *arg);

/* A send failed where no handler may be called: end it from the loop. */
static void flush_soon(struct wsc *w)
{
	if (flush(w))
		tmr_start(&w->tmr_more, 0, more_h, w);
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
	err = queue_frame(w, op, p ? p : "", n);
	if (err)
		return err;
	flush_soon(w);
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
	err = queue_close(w, code, reason);
	if (err)
		return err;
	w->state = ST_CLOSING;
	log_event(LOGL_DEBUG, w->call_id, "wsc_closing", "label=%s code=%u",
	          w->label, code);
	tmr_start(&w->tmr_close, WSC_CLOSE_WAIT_MS, close_wait_h, w);
	flush_soon(w);
	return 0;
}

/* ---- the upgrade answer ---- */

/* The value of header name in h (the header block), trimmed. */
static bool hdr_find(const char *h, size_t n, const char *name, const char **v,
                     size_t *vlen)
{
	size_t nl = strlen(name);
	const char *end = h + n, *line = memchr(h, '\n', n);

	while (line && line + 1 < end) {
		const char *s = line + 1;
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *e;

		if (!eol)
			eol = end;
		e = eol;
		if (e > s && e[-1] == '\r')
			e--;
		if ((size_t)(e - s) > nl && s[nl] == ':' &&
		    strncasecmp(s, name, nl) == 0) {
			s += nl + 1;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*v = s;
			*vlen = (size_t)(e - s);
			return true;
		}
		line = eol < end ? eol : NULL;
	}
	return false;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return true;
	}
	return false;
}

/* The header block's shape: a status line, then name: value lines. */
static int hs_check_lines(const char *h, size_t n, uint16_t *status,
                          const char **why)
{
	const char *end = h + n, *s, *eol;

	if (memchr(h, '\0', n)) {
		*why = "NUL byte in the upgrade answer";
		return EPROTO;
	}
	if (n < 12 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' ||
	    h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' ||
	    h[11] < '0' || h[11] > '9' ||
	    (n > 12 && h[12] != ' ' && h[12] != '\r')) {
		*why = "not an HTTP/1.1 status line";
		return EPROTO;
	}
	*status =
	    (uint16_t)((h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0'));
	s = memchr(h, '\n', n);
	while (s && ++s < end) {
		eol = memchr(s, '\n', (size_t)(end - s));
		if (!eol)
			eol = end;
		if (eol - s > 1 || (eol - s == 1 && *s != '\r')) {
			const char *colon = memchr(s, ':', (size_t)(eol - s));

			if (*s == ' ' || *s == '\t' || !colon || colon == s) {
				*why = "malformed header line in the upgrade "
				       "answer";
				return EPROTO;
			}
		}
		s = eol < end ? eol : NULL;
	}
	return 0;
}

static int hs_check_101(struct wsc *w, const char *h, size_t n,
                        const char **why)
{
	const char *v;
	size_t vl;

	if (!hdr_find(h, n, "Upgrade", &v, &vl) ||
	    !has_token(v, vl, "websocket")) {
		*why = "101 without Upgrade: websocket";
		return EPROTO;
	}
	if (!hdr_find(h, n, "Connection", &v, &vl) ||
	    !has_token(v, vl, "upgrade")) {
		*why = "101 without Connection: Upgrade";
		return EPROTO;
	}
	if (!hdr_find(h, n, "Sec-WebSocket-Accept", &v, &vl) ||
	    vl != strlen(w->accept) || memcmp(v, w->accept, vl) != 0) {
		*why = "Sec-WebSocket-Accept does not match our key";
		return EPROTO;
	}
	if (hdr_find(h, n, "Sec-WebSocket-Extensions", &v, &vl) && vl) {
		*why = "the server chose an extension we did not offer";
		return EPROTO;
	}
	if (hdr_find(h, n, "Sec-WebSocket-Protocol", &v, &vl) && vl) {
		*why = "the server chose a subprotocol we did not offer";
		return EPROTO;
	}
	return 0;
}

/* A chunked body decoded into out (cap bytes kept); true once its last
 * chunk has been read or the kept bytes are full. */
static bool dechunk(const char *in, size_t n, char *out, size_t cap,
                    size_t *olen)
{
	size_t i = 0;

	*olen = 0;
	while (i < n) {
		uint32_t size = 0;
		int digits = 0;
		const char *eol;

		while (i < n && digits < 8) {
			char c = in[i];
			int d = c >= '0' && c <= '9'   ? c - '0'
			        : c >= 'a' && c <= 'f' ? c - 'a' + 10
			        : c >= 'A' && c <= 'F' ? c - 'A' + 10
			                               : -1;
			if (d < 0)
				break;
			size = size << 4 | (uint32_t)d;
			digits++;
			i++;
		}
		eol = memchr(in + i, '\n', n - i);
		if (!digits || !eol)
			return !digits && i < n; /* garbage: take what is */
		i = (size_t)(eol - in) + 1;
		if (size == 0)
			return true;
		for (uint32_t k = 0; k < size && i < n; k++, i++) {
			if (*olen < cap)
				out[(*olen)++] = in[i];
		}
		if (*olen >= cap)
			return true;
		if (i + 2 > n)
			return false;
		i += 2;
	}
	return false;
}

/* The provider's message in a refusal's JSON body, by the names the
 * providers use (Deepgram err_msg, OpenAI error.message, ElevenLabs
 * detail.message, others message or error). */
static const char *json_message(json_t *j)
{
	static const char *const keys[] = {"err_msg", "message", "error",
	                                   "detail",  "reason",  "description"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(j, keys[i]);

		if (json_is_string(v))
			return json_string_value(v);
		if (json_is_object(v)) {
			json_t *m = json_object_get(v, "message");

			if (json_is_string(m))
				return json_string_value(m);
		}
	}
	return NULL;
}

static void refusal_done(struct wsc *w)
{
	const char *raw = (const char *)w->hs->buf + w->hdr_len;
	size_t rawn = w->hs->end - w->hdr_len, bn;
	const char *msg = NULL;
	json_t *j = NULL;
	char q[200], m[WSC_BODY_MAX + 1];
	size_t ml;

	if (w->chunked) {
		(void)dechunk(raw, rawn, w->body, WSC_BODY_MAX, &bn);
	} else {
		bn = rawn < WSC_BODY_MAX ? rawn : WSC_BODY_MAX;
		memcpy(w->body, raw, bn);
	}
	bn = utf8_trim(w->body, bn);
	w->body[bn] = '\0';
	if (!utf8_valid(w->body, bn)) {
		w->body[0] = '\0';
		bn = 0;
	}
	j = bn ? json_loadb(w->body, bn, 0, NULL) : NULL;
	if (j)
		msg = json_message(j);
	if (!msg && !j)
		msg = w->body;
	/* Masked whole, then cut: a key the cut halved would no longer be
	 * found. The JSON's message is masked after decoding, where an
	 * escaped key is whole again. */
	snprintf(m, sizeof(m), "%s", msg ? msg : "");
	json_decref(j);
	mask_secrets(w, w->body, false);
	mask_secrets(w, m, true);
	ml = utf8_trim(m, strnlen(m, REFUSAL_MSG_MAX));
	snprintf(w->reason, sizeof(w->reason), "HTTP %u%s%.*s", w->st.status,
	         ml ? ": " : "", (int)ml, m);
	total_add(&totals.refused, 1);
	log_event(LOGL_WARN, w->call_id, "wsc_refused",
	          "label=%s host=%s path=%s status=%u reason=\"%s\"", w->label,
	          w->host, w->path, w->st.status,
	          log_quote(q, sizeof(q), w->reason));
	finish(w, EPERM, 1006, true, w->reason);
}

static bool body_complete(struct wsc *w)
{
	size_t rawn = w->hs->end - w->hdr_len, bn;

	if (w->st.status == 204 || w->st.status == 304)
		return true;
	if (w->chunked)
		return dechunk((const char *)w->hs->buf + w->hdr_len, rawn,
		               w->body, WSC_BODY_MAX, &bn);
	if (w->content_length >= 0)
		return rawn >= (uint64_t)w->content_length ||
		       rawn >= WSC_BODY_MAX;
	return rawn >= WSC_BODY_MAX;
}

static void hs_timeout_h(void *arg);
static int frames_feed(struct wsc *w, const uint8_t *p, size_t n);

static void on_open(struct wsc *w)
{
	uint64_t now = tmr_jiffies();

	w->state = ST_OPEN;
	w->opened = true;
	w->st.connect_ms = (uint32_t)(now - w->t_start);
	w->last_rx = now;
	tmr_cancel(&w->tmr_hs);
	total_add(&totals.opened, 1);
	log_event(LOGL_INFO, w->call_id, "wsc_open",
	          "label=%s host=%s path=%s ms=%u", w->label, w->host, w->path,
	          w->st.connect_ms);
	if (w->idle_ms)
		tmr_start(&w->tmr_idle, w->idle_ms / 2 ? w->idle_ms / 2 : 1,
		          idle_h, w);
	w->request = mem_deref(w->request);
	if (w->openh)
		w->openh(w->arg);
}

/* Bytes of the upgrade answer. Returns nonzero when reading must stop. */
static int hs_feed(struct wsc *w, const uint8_t *p, size_t n)
{
	size_t from = w->hs->end > 3 ? w->hs->end - 3 : 0;
	const char *why = NULL;
	const uint8_t *e;
	int err;

	if (w->state == ST_REFUSED) {
		size_t lim = w->hdr_len + 2 * WSC_BODY_MAX;
		size_t keep = w->hs->end < lim ? lim - w->hs->end : 0;

		if (mbuf_write_mem(w->hs, p, n < keep ? n : keep)) {
			finish(w, ENOMEM, 1006, false, "out of memory");
			return 1;
		}
		if (body_complete(w)) {
			refusal_done(w);
			return 1;
		}
		return 0;
	}
	if (mbuf_write_mem(w->hs, p, n)) {
		finish(w, ENOMEM, 1006, false, "out of memory");
		return 1;
	}
	e = memmem(w->hs->buf + from, w->hs->end - from, "\r\n\r\n", 4);
	if (!e) {
		if (w->hs->end >= HS_MAX) {
			finish(w, EPROTO, 1006, true,
			       "upgrade answer headers over 16 KiB");
			return 1;
		}
		return 0;
	}
	w->hdr_len = (size_t)(e + 4 - w->hs->buf);
	err = hs_check_lines((const char *)w->hs->buf, w->hdr_len - 2,
	                     &w->st.status, &why);
	if (!err && w->st.status == 101)
		err = hs_check_101(w, (const char *)w->hs->buf, w->hdr_len - 2,
		                   &why);
	if (err) {
		finish(w, err, 1006, true, why);
		return 1;
	}
	if (w->st.status != 101) {
		const char *h = (const char *)w->hs->buf, *v;
		size_t hl = w->hdr_len - 2, vl;

		w->state = ST_REFUSED;
		w->content_length = -1;
		if (hdr_find(h, hl, "Transfer-Encoding", &v, &vl))
			w->chunked = has_token(v, vl, "chunked");
		if (!w->chunked && hdr_find(h, hl, "Content-Length", &v, &vl) &&
		    vl && vl <= 12 && strspn(v, "0123456789") >= vl)
			w->content_length = strtoll(v, NULL, 10);
		/* The rest of the body is read into the same buffer: the
		 * request is gone, its place is free. */
		if (body_complete(w)) {
			refusal_done(w);
			return 1;
		}
		tmr_start(&w->tmr_hs, BODY_WAIT_MS, hs_timeout_h, w);
		return 0;
	}

	/* Frames that came with the 101 (same read, same segment) are
	 * the socket's first: read them once openh has run. */
	{
		size_t rest = w->hs->end - w->hdr_len;
		uint8_t *first = NULL;
		int stop = 0;

		if (rest) {
			first = malloc(rest);
			if (!first) {
				finish(w, ENOMEM, 1006, false, "out of memory");
				return 1;
			}
			memcpy(first, w->hs->buf + w->hdr_len, rest);
		}
		w->hs = mem_deref(w->hs);
		on_open(w);
		if (owner_gone(w) || w->state == ST_DONE)
			stop = 1;
		else if (rest)
			stop = frames_feed(w, first, rest);
		free(first);
		return stop;
	}
}

/* ---- frames in ---- */

static void malformed(struct wsc *w, int err, uint16_t code, const char *why)
{
	char q[160];

	total_add(&totals.malformed, 1);
	log_event(LOGL_WARN, w->call_id, "wsc_malformed",
	          "label=%s host=%s code=%u reason=\"%s\"", w->label, w->host,
	          code, log_quote(q, sizeof(q), why));
	if (w->state == ST_OPEN && !w->tx_err) {
		if (queue_close(w, code, why) == 0)
			(void)flush(w);
	}
	finish(w, err, code, false, why);
}

/* Returns nonzero when reading must stop. */
static int frames_feed(struct wsc *w, const uint8_t *p, size_t n)
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
			if (owner_gone(w))
				return 1;
			break;
		case WSC_PING:
			w->st.pings_rx++;
			/* a flood of pings gets no more pongs than the queue
			 * holds (RFC 6455 5.5.3 asks only for the last) */
			if (w->state == ST_OPEN && w->queued < w->max_queue &&
			    (queue_frame(w, WSC_PONG, f.p, f.n) || flush(w)))
				return 0; /* the read side will tell */
			break;
		case WSC_PONG:
			w->st.pongs_rx++;
			break;
		case WSC_CLOSE:
			if (w->state == ST_OPEN) {
				/* echo the code, as RFC 6455 5.5.1 asks */
				if (queue_close(
				        w,
				        f.close_code == 1005 ? 0 : f.close_code,
				        NULL) == 0)
					(void)flush(w);
				finish(w, 0, f.close_code, true,
				       f.close_reason);
			} else {
				finish(w, 0, f.close_code, false,
				       f.close_reason);
			}
			return 1;
		default:
			return 1;
		}
	}
	return 1;
}

/* The server closed the connection, or reading failed. */
static void on_eof(struct wsc *w, const char *fault)
{
	char why[200];

	switch (w->state) {
	case ST_UPGRADING:
		snprintf(why, sizeof(why),
		         "connection %s before the upgrade "
		         "answer",
		         fault ? fault : "closed");
		finish(w, ECONNRESET, 1006, true, why);
		break;
	case ST_REFUSED:
		refusal_done(w);
		break;
	case ST_OPEN:
		snprintf(why, sizeof(why), "connection %s %s",
		         fault ? fault : "closed",
		         wsc_rx_mid_frame(&w->rx) ? "in the middle of a frame"
		                                  : "without a close frame");
		finish(w, ECONNRESET, 1006, true, why);
		break;
	case ST_CLOSING:
		finish(w, 0, 1006, true,
		       "connection closed before the server's close frame");
		break;
	default:
		conn_release(w);
		break;
	}
}

/* Reads what is there, a few times; more on the next turn of the loop
 * (TLS may hold decrypted bytes the socket no longer signals). */
static void read_some(struct wsc *w)
{
	uint8_t buf[16384];

	for (int i = 0; i < READS_PER_WAKE; i++) {
		size_t n = 0;
		CURLcode rc;

		if (!w->easy || owner_gone(w))
			return;
		rc = curl_easy_recv(w->easy, buf, sizeof(buf), &n);
		if (rc == CURLE_AGAIN)
			return;
		if (rc != CURLE_OK) {
			on_eof(w, curl_easy_strerror(rc));
			return;
		}
		if (n == 0) {
			on_eof(w, NULL);
			return;
		}
		w->st.bytes_rx += n;
		w->last_rx = tmr_jiffies();
		w->ping_out = false;
		if (w->state == ST_UPGRADING || w->state == ST_REFUSED) {
			if (hs_feed(w, buf, n))
				return;
		} else if (w->state == ST_OPEN || w->state == ST_CLOSING) {
			if (frames_feed(w, buf, n))
				return;
		}
	}
	tmr_start(&w->tmr_more, 0, more_h, w);
}

static void after_io(struct wsc *w)
{
	if (w->state == ST_DONE && w->easy && list_isempty(&w->txq))
		conn_release(w);
	if (w->want_writable && w->queued <= w->max_queue / 2 &&
	    w->state == ST_OPEN && !owner_gone(w)) {
		w->want_writable = false;
		if (w->writableh)
			w->writableh(w->arg);
	}
}

static void io_h(int flags, void *arg)
{
	struct wsc *w = mem_ref(arg);

	if ((flags & FD_WRITE) && w->easy) {
		if (flush(w) && w->state != ST_DONE)
			on_eof(w, w->errbuf);
		else if (w->tx_err)
			conn_release(w);
	}
	if ((flags & (FD_READ | FD_EXCEPT)) && w->easy && !owner_gone(w))
		read_some(w);
	if (!owner_gone(w))
		after_io(w);
	mem_deref(w);
}

static void more_h(void *arg)
{
	struct wsc *w = mem_ref(arg);

	if (w->tx_err && w->state != ST_DONE)
		on_eof(w, w->errbuf);
	else if (w->easy)
		read_some(w);
	if (!owner_gone(w))
		after_io(w);
	mem_deref(w);
}

static void hs_timeout_h(void *arg)
{
	struct wsc *w = mem_ref(arg);
	char why[80];

	if (w->state == ST_REFUSED) {
		refusal_done(w);
	} else {
		snprintf(why, sizeof(why), "%s within %u ms",
		         w->state == ST_CONNECTING ? "no connection"
		                                   : "no answer to the upgrade",
		         w->connect_ms);
		finish(w, ETIMEDOUT, 1006, false, why);
	}
	mem_deref(w);
}

static void idle_h(void *arg)
{
	struct wsc *w = mem_ref(arg);
	uint64_t since = tmr_jiffies() - w->last_rx;
	char why[80];

	if (w->state != ST_OPEN) {
		mem_deref(w);
		return;
	}
	if (since >= w->idle_ms) {
		snprintf(why, sizeof(why), "nothing from the server for %u ms",
		         w->idle_ms);
		log_event(LOGL_WARN, w->call_id, "wsc_idle",
		          "label=%s host=%s ms=%u", w->label, w->host,
		          w->idle_ms);
		if (!w->tx_err && queue_close(w, 1001, "idle") == 0)
			(void)flush(w);
		finish(w, ETIMEDOUT, 1001, false, why);
	} else {
		if (since >= w->idle_ms / 2 && !w->ping_out && !w->tx_err) {
			w->ping_out = true;
			if (queue_frame(w, WSC_PING, NULL, 0) == 0)
				flush_soon(w);
		}
		tmr_start(&w->tmr_idle, w->idle_ms / 2 ? w->idle_ms / 2 : 1,
		          idle_h, w);
	}
	if (!owner_gone(w))
		after_io(w);
	mem_deref(w);
}

static void close_wait_h(void *arg)
{
	struct wsc *w = mem_ref(arg);

	if (w->state == ST_CLOSING)
		finish(w, ETIMEDOUT, w->sent_code, false,
		       "no close frame from the server");
	else if (w->state == ST_DONE)
		conn_release(w);
	mem_deref(w);
}

/* ---- connecting, on curl's multi handle ---- */

static int curl_err(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return EACCES;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	default:
		return EPROTO;
	}
}

static void upgrade_start(struct wsc *w)
{
	curl_socket_t fd = CURL_SOCKET_BAD;
	struct qframe *qf;
	size_t rl = strlen(w->request);

	w->releasing = true; /* the multi's part is over */
	csocks_drop(w);
	tmr_cancel(&w->tmr_curl);
	if (curl_easy_getinfo(w->easy, CURLINFO_ACTIVESOCKET, &fd) !=
	        CURLE_OK ||
	    fd == CURL_SOCKET_BAD) {
		finish(w, EPROTO, 1006, false, "no socket after connecting");
		return;
	}
	w->fd = fd;
	w->hs = mbuf_alloc(1024);
	qf = qframe_get(w, rl);
	if (!w->hs || !qf) {
		mem_deref(qf);
		finish(w, ENOMEM, 1006, false, "out of memory");
		return;
	}
	memcpy(qf->data, w->request, rl);
	enqueue(w, qf);
	w->state = ST_UPGRADING;
	log_event(LOGL_DEBUG, w->call_id, "wsc_connected",
	          "label=%s host=%s ms=%u", w->label, w->host,
	          (unsigned)(tmr_jiffies() - w->t_start));
	if (watch(w)) {
		finish(w, EMFILE, 1006, false,
		       "socket beyond the event loop's descriptors");
		return;
	}
	if (flush(w))
		on_eof(w, w->errbuf);
}

/* After curl has run: has the connect finished? */
static void check_done(struct wsc *w)
{
	CURLMsg *m;
	int left;

	if (!w->multi || w->state != ST_CONNECTING)
		return;
	while ((m = curl_multi_info_read(w->multi, &left))) {
		char why[CURL_ERROR_SIZE + 64];

		if (m->msg != CURLMSG_DONE)
			continue;
		if (m->data.result == CURLE_OK) {
			upgrade_start(w);
			return;
		}
		snprintf(why, sizeof(why), "%s",
		         w->errbuf[0] ? w->errbuf
		                      : curl_easy_strerror(m->data.result));
		finish(w, curl_err(m->data.result), 1006, false, why);
		return;
	}
}

static void curl_fd_h(int flags, void *arg)
{
	struct csock *cs = arg;
	struct wsc *w = cs->w;
	int ev = (flags & FD_READ ? CURL_CSELECT_IN : 0) |
	         (flags & FD_WRITE ? CURL_CSELECT_OUT : 0) |
	         (flags & FD_EXCEPT ? CURL_CSELECT_ERR : 0);
	int running;

	if (!w->multi || w->releasing)
		return;
	/* cs may be freed inside: curl says REMOVE */
	mem_ref(w);
	curl_multi_socket_action(w->multi, cs->fd, ev, &running);
	check_done(w);
	mem_deref(w);
}

static void curl_tmr_h(void *arg)
{
	struct wsc *w = mem_ref(arg);
	int running;

	if (w->multi && !w->releasing) {
		curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0,
		                         &running);
		check_done(w);
	}
	mem_deref(w);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
                   void *socketp)
{
	struct wsc *w = userp;
	struct csock *cs = socketp;
	int flags;

	(void)e;
	if (w->releasing)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (cs) {
			fd_close(cs->fd);
			list_unlink(&cs->le);
			mem_deref(cs);
			curl_multi_assign(w->multi, s, NULL);
		}
		return 0;
	}
	if (!cs) {
		cs = mem_zalloc(sizeof(*cs), NULL);
		if (!cs)
			return -1;
		cs->w = w;
		cs->fd = s;
		list_append(&w->csocks, &cs->le, cs);
		curl_multi_assign(w->multi, s, cs);
	}
	flags = (what & CURL_POLL_IN ? FD_READ : 0) |
	        (what & CURL_POLL_OUT ? FD_WRITE : 0);
	return fd_listen(s, flags, curl_fd_h, cs) ? -1 : 0;
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	struct wsc *w = userp;

	(void)m;
	if (w->releasing)
		return 0;
	if (ms < 0)
		tmr_cancel(&w->tmr_curl);
	else
		tmr_start(&w->tmr_curl, (uint64_t)ms, curl_tmr_h, w);
	return 0;
}

/* ---- setting up ---- */

static void destructor(void *arg)
{
	struct wsc *w = arg;

	tmr_cancel(&w->tmr_hs);
	tmr_cancel(&w->tmr_idle);
	tmr_cancel(&w->tmr_close);
	tmr_cancel(&w->tmr_more);
	if (w->state != ST_DONE) {
		/* the owner let go first: a going-away close if nothing is
		 * half sent, without waiting for the answer */
		if (w->state == ST_OPEN && w->easy && list_isempty(&w->txq) &&
		    queue_close(w, 1001, "going away") == 0)
			(void)flush(w);
		if (w->opened)
			count_close(1001);
		else
			total_add(&totals.failed, 1);
		log_event(LOGL_INFO, w->call_id, "wsc_drop",
		          "label=%s host=%s state=%s", w->label ? w->label : "",
		          w->host ? w->host : "", state_names[w->state]);
	}
	conn_release(w);
	wsc_rx_reset(&w->rx);
	list_flush(&w->txq);
	list_flush(&w->spare);
	mem_deref(w->hs);
	mem_deref(w->request);
	mem_deref(w->secrets);
	mem_deref(w->label);
	mem_deref(w->call_id);
	mem_deref(w->host);
	mem_deref(w->path);
	total_add(&totals.open_now, -1);
}

/* A header the caller may add: a token name, a value on one line, and
 * none of those the handshake sets itself. */
static bool header_ok(const struct wsc_header *h)
{
	static const char *const own[] = {
	    "host",
	    "upgrade",
	    "connection",
	    "sec-websocket-key",
	    "sec-websocket-version",
	    "sec-websocket-extensions",
	    "content-length",
	    "transfer-encoding",
	};
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
	                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                            "abcdefghijklmnopqrstuvwxyz";
	size_t nl;

	if (!h->name || !h->value)
		return false;
	nl = strlen(h->name);
	if (!nl || strspn(h->name, tchar) != nl)
		return false;
	for (const char *v = h->value; *v; v++) {
		if ((unsigned char)*v < 0x20 && *v != '\t')
			return false;
		if (*v == 0x7f)
			return false;
	}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (strcasecmp(h->name, own[i]) == 0)
			return false;
	}
	return true;
}

/*
 * Which CAs the connection trusts. curl loads its CA file into every
 * connection's own SSL_CTX and keeps it there: with the system's bundle
 * (some 140 certificates) that is about 900 KiB and 25 ms of CPU per
 * socket. A hashed directory (c_rehash) is read per look-up instead, a
 * certificate or two per handshake. So the system's CAs are taken from
 * the directory curl was built to use, when it has one (Debian's
 * /etc/ssl/certs), and the bundle only when it has not.
 */
static int ca_setup(CURL *easy, const struct wsc_prm *prm, const char **why)
{
	char *capath = NULL;
	CURLcode rc = CURLE_OK;

	if (prm->ca_file) {
		rc = curl_easy_setopt(easy, CURLOPT_CAINFO, prm->ca_file);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
	} else if (prm->ca_path) {
		rc = curl_easy_setopt(easy, CURLOPT_CAPATH, prm->ca_path);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(easy, CURLOPT_CAINFO, NULL);
	} else if (curl_easy_getinfo(easy, CURLINFO_CAPATH, &capath) ==
	               CURLE_OK &&
	           capath && *capath) {
		rc = curl_easy_setopt(easy, CURLOPT_CAINFO, NULL);
	}
	if (rc != CURLE_OK) {
		*why = "CA file or directory not taken";
		return EINVAL;
	}
	return 0;
}

/* A header that carries a credential: Authorization, or one whose name
 * says key, token or secret (xi-api-key, X-API-Key, ...). */
static bool header_secret(const char *name)
{
	return !strcasecmp(name, "authorization") || strcasestr(name, "key") ||
	       strcasestr(name, "token") || strcasestr(name, "secret");
}

/* w->secrets from the credential headers: each value, and the word after
 * its scheme ("Bearer <key>"), which a server may quote alone. */
static int collect_secrets(struct wsc *w, const struct wsc_prm *prm)
{
	struct mbuf *mb = mbuf_alloc(128);
	int err = mb ? 0 : ENOMEM;

	for (size_t i = 0; i < prm->headerc && !err; i++) {
		const char *v = prm->headerv[i].value, *sp;

		if (!header_secret(prm->headerv[i].name) || !*v)
			continue;
		err = mbuf_write_mem(mb, (const uint8_t *)v, strlen(v) + 1);
		sp = strrchr(v, ' ');
		if (!err && sp && sp[1])
			err = mbuf_write_mem(mb, (const uint8_t *)sp + 1,
			                     strlen(sp + 1) + 1);
	}
	err = err ? err : mbuf_write_u8(mb, 0);
	if (!err) {
		w->secrets = mem_alloc(mb->end, NULL);
		if (w->secrets)
			memcpy(w->secrets, mb->buf, mb->end);
		else
			err = ENOMEM;
	}
	mem_deref(mb);
	return err;
}

static int build_request(struct wsc *w, const struct url_parts *u,
                         const struct wsc_prm *prm, const char **why)
{
	uint8_t key[16], digest[SHA_DIGEST_LENGTH];
	char key64[32], cat[96];
	struct mbuf *mb;
	int err;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		*why = "no random bytes";
		return EIO;
	}
	EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
	snprintf(cat, sizeof(cat), "%s%s", key64, ws_guid);
	SHA1((const unsigned char *)cat, strlen(cat), digest);
	EVP_EncodeBlock((unsigned char *)w->accept, digest, sizeof(digest));

	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;
	err = mbuf_printf(mb, "GET %s%b HTTP/1.1\r\nHost: %b",
	                  u->target_len && u->target[0] == '/' ? "" : "/",
	                  u->target, u->target_len, u->host, u->host_len);
	if (u->port_given && u->port != (u->tls ? 443 : 80))
		err |= mbuf_printf(mb, ":%u", u->port);
	err |= mbuf_printf(mb,
	                   "\r\nUpgrade: websocket\r\n"
	                   "Connection: Upgrade\r\n"
	                   "Sec-WebSocket-Key: %s\r\n"
	                   "Sec-WebSocket-Version: 13\r\n"
	                   "User-Agent: voxgate\r\n",
	                   key64);
	for (size_t i = 0; i < prm->headerc && !err; i++) {
		if (!header_ok(&prm->headerv[i])) {
			*why = "request header with a bad name or value, or "
			       "one the handshake sets";
			mem_deref(mb);
			return EINVAL;
		}
		err = mbuf_printf(mb, "%s: %s\r\n", prm->headerv[i].name,
		                  prm->headerv[i].value);
	}
	err |= mbuf_write_str(mb, "\r\n");
	if (!err) {
		mb->pos = 0;
		err = mbuf_strdup(mb, &w->request, mb->end);
	}
	mem_deref(mb);
	return err;
}

int wsc_alloc(struct wsc **wscp, const struct wsc_prm *prm, const char **why)
{
	const char *why_local;
	struct url_parts u;
	struct wsc *w;
	char *curl_url = NULL;
	size_t pl;
	int err;

	if (!why)
		why = &why_local;
	*why = "bad parameters";
	if (!wscp || !prm || !prm->closeh || (prm->headerc && !prm->headerv))
		return EINVAL;
	err = url_split(prm->url, &u, why);
	if (err)
		return err;
	if (u.scheme_len != (size_t)(u.tls ? 3 : 2) ||
	    strncasecmp(u.scheme, u.tls ? "wss" : "ws", u.scheme_len) != 0) {
		*why = "a WebSocket URL must be ws or wss";
		return EINVAL;
	}

	w = mem_zalloc(sizeof(*w), destructor);
	if (!w)
		return ENOMEM;
	w->fd = -1;
	w->state = ST_CONNECTING;
	wsc_rx_init(&w->rx, prm->max_message);
	total_add(&totals.open_now, 1);
	w->connect_ms = prm->connect_ms ? prm->connect_ms : WSC_CONNECT_MS;
	w->idle_ms = prm->idle_ms;
	w->max_queue = prm->max_queue ? prm->max_queue : WSC_MAX_QUEUE;
	w->openh = prm->openh;
	w->msgh = prm->msgh;
	w->writableh = prm->writableh;
	w->closeh = prm->closeh;
	w->arg = prm->arg;
	w->t_start = tmr_jiffies();

	pl = strcspn(u.target, "?");
	err = str_dup(&w->label, prm->label ? prm->label : "ws");
	err |= prm->call_id ? str_dup(&w->call_id, prm->call_id) : 0;
	err |= re_sdprintf(&w->host, "%b", u.host, u.host_len);
	err |= re_sdprintf(&w->path, "%b", pl ? u.target : "/",
	                   pl ? pl : (size_t)1);
	err |= re_sdprintf(&curl_url, "%s://%b:%u/", u.tls ? "https" : "http",
	                   u.host, u.host_len, u.port);
	if (err) {
		*why = "out of memory";
		err = ENOMEM;
		goto out;
	}
	err = build_request(w, &u, prm, why);
	if (err)
		goto out;
	if (collect_secrets(w, prm)) {
		*why = "out of memory";
		err = ENOMEM;
		goto out;
	}

	w->multi = curl_multi_init();
	w->easy = curl_easy_init();
	if (!w->multi || !w->easy) {
		*why = "curl would not start";
		err = ENOMEM;
		goto out;
	}
	curl_easy_setopt(w->easy, CURLOPT_URL, curl_url);
	curl_easy_setopt(w->easy, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(w->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
	curl_easy_setopt(w->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->easy, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)w->connect_ms);
	curl_easy_setopt(w->easy, CURLOPT_ERRORBUFFER, w->errbuf);
	curl_easy_setopt(w->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(w->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	err = ca_setup(w->easy, prm, why);
	if (err)
		goto out;
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	/* curl asks for its first timer here: the connect starts from the
	 * loop, after this returns */
	if (curl_multi_add_handle(w->multi, w->easy) != CURLM_OK) {
		*why = "curl would not start";
		err = ENOMEM;
		goto out;
	}
	tmr_start(&w->tmr_hs, w->connect_ms, hs_timeout_h, w);
	total_add(&totals.started, 1);
	log_event(LOGL_DEBUG, w->call_id, "wsc_connect",
	          "label=%s host=%s path=%s", w->label, w->host, w->path);
	*why = NULL;
out:
	mem_deref(curl_url);
	if (err) {
		w->state = ST_DONE; /* nothing to log or count as an end */
		mem_deref(w);
	} else {
		*wscp = w;
	}
	return err;
}
