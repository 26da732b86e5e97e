/*
 * Inside the streaming recognisers' core: what listen_ws.c (the utterances'
 * book and the listener's calls) and listen_ws_sock.c (the socket's life)
 * share, and no one else.
 */
#ifndef VOXGATE_WORKER_LISTEN_WS_INT_H
#define VOXGATE_WORKER_LISTEN_WS_INT_H

#include <stddef.h>
#include <stdint.h>
#include "worker/listen_ws.h"

/* listen_ws.c */

/* Everything in progress fails: those waiting now (reported at once from
 * the loop), the open utterance at its end. */
void lws_fail_all(struct lws *l, int err, uint16_t status, const char *why);
/* The open utterance cannot be heard whole: it fails at its end. */
void lws_broke(struct lws *l, int err, const char *why);

/* listen_ws_sock.c */

/* Opens the socket, unless the listener let go or one is there. */
void lws_connect_now(struct lws *l);
/* n mu-law bytes of the open utterance to the provider, in chunks. */
int lws_send_audio(struct lws *l, const uint8_t *ulaw, size_t n);
/* Holds audio while the socket is not open (the newest LWS_HOLD_MAX). */
void lws_hold_put(struct lws *l, const uint8_t *ulaw, size_t n);

#endif
