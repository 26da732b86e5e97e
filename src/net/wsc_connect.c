/*
 * WebSocket client (wsc.h): connecting, on curl's multi handle.
 *
 * Apart from the rest because it is the only part that drives curl's multi
 * interface: its sockets and timer on libre's loop until the connect is
 * done, then never again. What follows only sends and receives on the
 * socket curl hands over.
 */
#include <errno.h>
#include <string.h>
#include <curl/curl.h>
#include "core/log.h"
#include "net/wsc_int.h"

/* A socket curl watches while it connects. */
struct csock {
	struct le le;
	struct wsc *w;
	curl_socket_t fd;
};

void wsc_csocks_drop(struct wsc *w)
{
	struct le *le;

	while ((le = list_head(&w->csocks))) {
		struct csock *cs = le->data;

		fd_close(cs->fd);
		list_unlink(le);
		mem_deref(cs);
	}
}

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
	wsc_csocks_drop(w);
	tmr_cancel(&w->tmr_curl);
	if (curl_easy_getinfo(w->easy, CURLINFO_ACTIVESOCKET, &fd) !=
	        CURLE_OK ||
	    fd == CURL_SOCKET_BAD) {
		wsc_finish(w, EPROTO, 1006, false,
		           "no socket after connecting");
		return;
	}
	w->fd = fd;
	w->hs = mbuf_alloc(1024);
	qf = wsc_qframe_get(w, rl);
	if (!w->hs || !qf) {
		mem_deref(qf);
		wsc_finish(w, ENOMEM, 1006, false, "out of memory");
		return;
	}
	memcpy(qf->data, w->request, rl);
	wsc_enqueue(w, qf);
	w->state = ST_UPGRADING;
	log_event(LOGL_DEBUG, w->call_id, "wsc_connected",
	          "label=%s host=%s ms=%u", w->label, w->host,
	          (unsigned)(tmr_jiffies() - w->t_start));
	if (wsc_watch(w)) {
		wsc_finish(w, EMFILE, 1006, false,
		           "socket beyond the event loop's descriptors");
		return;
	}
	if (wsc_flush(w))
		wsc_on_eof(w, w->errbuf);
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
		wsc_finish(w, curl_err(m->data.result), 1006, false, why);
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

int wsc_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
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

int wsc_timer_cb(CURLM *m, long ms, void *userp)
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

/*
 * Which CAs the connection trusts. curl loads its CA file into every
 * connection's own SSL_CTX and keeps it there: with the system's bundle
 * (some 140 certificates) that is about 900 KiB and 25 ms of CPU per
 * socket. A hashed directory (c_rehash) is read per look-up instead, a
 * certificate or two per handshake. So the system's CAs are taken from
 * the directory curl was built to use, when it has one (Debian's
 * /etc/ssl/certs), and the bundle only when it has not.
 */
int wsc_ca_setup(CURL *easy, const struct wsc_prm *prm, const char **why)
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
