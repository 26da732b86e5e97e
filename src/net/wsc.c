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
 *
 * This file holds the socket's life: its state, its end (closeh once),
 * the loop's events and timers, setting up and letting go. The frame
 * codec (wsc_codec.c), curl's connect (wsc_connect.c), the upgrade
 * (wsc_upgrade.c) and the frames of an open socket (wsc_frames.c) stand
 * apart, each saying why; what they share is in wsc_int.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "core/log.h"
#include "core/mask.h"
#include "net/url.h"
#include "net/wsc_int.h"

/* Reads per wake before others get the loop (the rest on a 0 ms timer). */
#define READS_PER_WAKE 8

static const char *const state_names[] = {
    "connecting", "upgrading", "refused", "open", "closing", "done",
};

struct wsc_totals wsc_tally;

void wsc_totals(struct wsc_totals *t)
{
	uint64_t *dst = (uint64_t *)t;
	const uint64_t *src = (const uint64_t *)&wsc_tally;

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

static void io_h(int flags, void *arg);
static void idle_h(void *arg);

/* Only the first call can fail: a descriptor beyond the loop's size
 * (fd_setsize; 1024 unless the process raised it). */
int wsc_watch(struct wsc *w)
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

/* Lets go of the connection; the socket object may live on. */
static void conn_release(struct wsc *w)
{
	w->releasing = true;
	tmr_cancel(&w->tmr_curl);
	tmr_cancel(&w->tmr_more);
	wsc_csocks_drop(w);
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
void wsc_mask_secrets(const struct wsc *w, char *s, bool line)
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
		wsc_total_add(&wsc_tally.closes[code - 1000], 1);
	else
		wsc_total_add(&wsc_tally.closes_other, 1);
}

/*
 * The end: closeh once. What is queued (a close frame) still goes out;
 * then, or at once, the connection goes.
 */
void wsc_finish(struct wsc *w, int err, uint16_t code, bool by_server,
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
	wsc_mask_secrets(w, w->reason, true);
	w->state = ST_DONE;
	tmr_cancel(&w->tmr_hs);
	tmr_cancel(&w->tmr_idle);
	tmr_cancel(&w->tmr_close);
	w->st.close_code = code;
	if (w->opened)
		count_close(code);
	else
		wsc_total_add(&wsc_tally.failed, 1);

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
		(void)wsc_watch(w);
		tmr_start(&w->tmr_close, WSC_CLOSE_WAIT_MS, wsc_close_wait_h,
		          w);
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

void wsc_on_open(struct wsc *w)
{
	uint64_t now = tmr_jiffies();

	w->state = ST_OPEN;
	w->opened = true;
	w->st.connect_ms = (uint32_t)(now - w->t_start);
	w->last_rx = now;
	tmr_cancel(&w->tmr_hs);
	wsc_total_add(&wsc_tally.opened, 1);
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

/* The server closed the connection, or reading failed. */
void wsc_on_eof(struct wsc *w, const char *fault)
{
	char why[200];

	switch (w->state) {
	case ST_UPGRADING:
		snprintf(why, sizeof(why),
		         "connection %s before the upgrade "
		         "answer",
		         fault ? fault : "closed");
		wsc_finish(w, ECONNRESET, 1006, true, why);
		break;
	case ST_REFUSED:
		wsc_refusal_done(w);
		break;
	case ST_OPEN:
		snprintf(why, sizeof(why), "connection %s %s",
		         fault ? fault : "closed",
		         wsc_rx_mid_frame(&w->rx) ? "in the middle of a frame"
		                                  : "without a close frame");
		wsc_finish(w, ECONNRESET, 1006, true, why);
		break;
	case ST_CLOSING:
		wsc_finish(w, 0, 1006, true,
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

		if (!w->easy || wsc_owner_gone(w))
			return;
		rc = curl_easy_recv(w->easy, buf, sizeof(buf), &n);
		if (rc == CURLE_AGAIN)
			return;
		if (rc != CURLE_OK) {
			wsc_on_eof(w, curl_easy_strerror(rc));
			return;
		}
		if (n == 0) {
			wsc_on_eof(w, NULL);
			return;
		}
		w->st.bytes_rx += n;
		w->last_rx = tmr_jiffies();
		w->ping_out = false;
		if (w->state == ST_UPGRADING || w->state == ST_REFUSED) {
			if (wsc_hs_feed(w, buf, n))
				return;
		} else if (w->state == ST_OPEN || w->state == ST_CLOSING) {
			if (wsc_frames_feed(w, buf, n))
				return;
		}
	}
	tmr_start(&w->tmr_more, 0, wsc_more_h, w);
}

static void after_io(struct wsc *w)
{
	if (w->state == ST_DONE && w->easy && list_isempty(&w->txq))
		conn_release(w);
	if (w->want_writable && w->queued <= w->max_queue / 2 &&
	    w->state == ST_OPEN && !wsc_owner_gone(w)) {
		w->want_writable = false;
		if (w->writableh)
			w->writableh(w->arg);
	}
}

static void io_h(int flags, void *arg)
{
	struct wsc *w = mem_ref(arg);

	if ((flags & FD_WRITE) && w->easy) {
		if (wsc_flush(w) && w->state != ST_DONE)
			wsc_on_eof(w, w->errbuf);
		else if (w->tx_err)
			conn_release(w);
	}
	if ((flags & (FD_READ | FD_EXCEPT)) && w->easy && !wsc_owner_gone(w))
		read_some(w);
	if (!wsc_owner_gone(w))
		after_io(w);
	mem_deref(w);
}

void wsc_more_h(void *arg)
{
	struct wsc *w = mem_ref(arg);

	if (w->tx_err && w->state != ST_DONE)
		wsc_on_eof(w, w->errbuf);
	else if (w->easy)
		read_some(w);
	if (!wsc_owner_gone(w))
		after_io(w);
	mem_deref(w);
}

void wsc_hs_timeout_h(void *arg)
{
	struct wsc *w = mem_ref(arg);
	char why[80];

	if (w->state == ST_REFUSED) {
		wsc_refusal_done(w);
	} else {
		snprintf(why, sizeof(why), "%s within %u ms",
		         w->state == ST_CONNECTING ? "no connection"
		                                   : "no answer to the upgrade",
		         w->connect_ms);
		wsc_finish(w, ETIMEDOUT, 1006, false, why);
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
		if (!w->tx_err && wsc_queue_close(w, 1001, "idle") == 0)
			(void)wsc_flush(w);
		wsc_finish(w, ETIMEDOUT, 1001, false, why);
	} else {
		/* Checked every idle_ms / 2: a server last heard just after
		 * the previous check is silent for just under that now and,
		 * unasked, past idle_ms at the next; so ask after a quarter. */
		if (since >= w->idle_ms / 4 && !w->ping_out && !w->tx_err) {
			w->ping_out = true;
			if (wsc_queue_frame(w, WSC_PING, NULL, 0) == 0)
				wsc_flush_soon(w);
		}
		tmr_start(&w->tmr_idle, w->idle_ms / 2 ? w->idle_ms / 2 : 1,
		          idle_h, w);
	}
	if (!wsc_owner_gone(w))
		after_io(w);
	mem_deref(w);
}

void wsc_close_wait_h(void *arg)
{
	struct wsc *w = mem_ref(arg);

	if (w->state == ST_CLOSING)
		wsc_finish(w, ETIMEDOUT, w->sent_code, false,
		           "no close frame from the server");
	else if (w->state == ST_DONE)
		conn_release(w);
	mem_deref(w);
}

/* ---- connecting, on curl's multi handle ---- */
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
		    wsc_queue_close(w, 1001, "going away") == 0)
			(void)wsc_flush(w);
		if (w->opened)
			count_close(1001);
		else
			wsc_total_add(&wsc_tally.failed, 1);
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
	wsc_total_add(&wsc_tally.open_now, -1);
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
	wsc_total_add(&wsc_tally.open_now, 1);
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
	err = wsc_build_request(w, &u, prm, why);
	if (err)
		goto out;
	if (wsc_collect_secrets(w, prm)) {
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
	err = wsc_ca_setup(w->easy, prm, why);
	if (err)
		goto out;
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, wsc_sock_cb);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, wsc_timer_cb);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	/* curl asks for its first timer here: the connect starts from the
	 * loop, after this returns */
	if (curl_multi_add_handle(w->multi, w->easy) != CURLM_OK) {
		*why = "curl would not start";
		err = ENOMEM;
		goto out;
	}
	tmr_start(&w->tmr_hs, w->connect_ms, wsc_hs_timeout_h, w);
	wsc_total_add(&wsc_tally.started, 1);
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
