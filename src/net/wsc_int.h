/*
 * WebSocket client (wsc.h): what its parts share, and nothing outside
 * src/net/wsc*.c includes it. It brings the libre headers the parts use
 * (libre's have no include guards: a part includes none of its own).
 *
 * One socket is one struct wsc whichever part is at work on it (the
 * connect, the upgrade, the frames, its life), so the struct and the few
 * calls between the parts live here rather than in the public header,
 * which promises the owner only what it may rely on.
 */
#ifndef VOXGATE_NET_WSC_INT_H
#define VOXGATE_NET_WSC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_tmr.h>
#include <re_main.h>
#include "net/wsc.h"

struct url_parts;

enum state {
	ST_CONNECTING, /* curl: DNS, TCP, TLS */
	ST_UPGRADING,  /* request sent, answer awaited */
	ST_REFUSED,    /* answer not 101: its body awaited */
	ST_OPEN,
	ST_CLOSING, /* our close frame sent, the server's awaited */
	ST_DONE,    /* closeh called; what is queued may still go out */
};

/* Bytes to send, a whole frame (or the upgrade request), in a buffer of
 * cap bytes. */
struct qframe {
	struct le le;
	size_t len, pos, cap;
	uint8_t data[];
};

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

/* Every socket's counters, for wsc_totals. */
extern struct wsc_totals wsc_tally;

static inline void wsc_total_add(uint64_t *c, int64_t v)
{
	__atomic_fetch_add(c, (uint64_t)v, __ATOMIC_RELAXED);
}

/* The owner let go of the socket inside a handler: call nothing more. */
static inline bool wsc_owner_gone(const struct wsc *w)
{
	return mem_nrefs(w) <= 1;
}

/* wsc.c: the socket's life */
int wsc_watch(struct wsc *w);
void wsc_mask_secrets(const struct wsc *w, char *s, bool line);
void wsc_finish(struct wsc *w, int err, uint16_t code, bool by_server,
                const char *reason);
void wsc_on_open(struct wsc *w);
void wsc_on_eof(struct wsc *w, const char *fault);
void wsc_more_h(void *arg);
void wsc_hs_timeout_h(void *arg);
void wsc_close_wait_h(void *arg);

/* wsc_connect.c: curl's part */
void wsc_csocks_drop(struct wsc *w);
int wsc_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp);
int wsc_timer_cb(CURLM *m, long ms, void *userp);
int wsc_ca_setup(CURL *easy, const struct wsc_prm *prm, const char **why);

/* wsc_upgrade.c: the request and the answer */
int wsc_build_request(struct wsc *w, const struct url_parts *u,
                      const struct wsc_prm *prm, const char **why);
int wsc_collect_secrets(struct wsc *w, const struct wsc_prm *prm);
int wsc_hs_feed(struct wsc *w, const uint8_t *p, size_t n);
void wsc_refusal_done(struct wsc *w);

/* wsc_frames.c: frames on an open socket */
struct qframe *wsc_qframe_get(struct wsc *w, size_t len);
void wsc_enqueue(struct wsc *w, struct qframe *qf);
int wsc_queue_frame(struct wsc *w, enum wsc_op op, const uint8_t *p, size_t n);
int wsc_queue_close(struct wsc *w, uint16_t code, const char *reason);
int wsc_flush(struct wsc *w);
void wsc_flush_soon(struct wsc *w);
int wsc_frames_feed(struct wsc *w, const uint8_t *p, size_t n);

#endif
