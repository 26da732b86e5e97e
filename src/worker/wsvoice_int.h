/*
 * Inside the streaming voice (wsvoice.h): what each provider's dialect
 * sends and reads, in wsvoice_eleven.c and wsvoice_cartesia.c.
 */
#ifndef VOXGATE_WORKER_WSVOICE_INT_H
#define VOXGATE_WORKER_WSVOICE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "worker/wsvoice.h"

struct wsc;

/* Sends json (and takes it): 0 or wsc_send's error; EINVAL for NULL
 * (text that was not UTF-8), ENOMEM. */
int wsvoice_send_json(struct wsc *w, json_t *json);

/* ElevenLabs: a context per clause, opened, its text flushed and closed
 * at once, so that its isFinal marks the clause's end. */
int wsvoice_eleven_say(struct wsc *w, const char *ctx, const char *text,
                       size_t len);
void wsvoice_eleven_read(json_t *root, struct wsvoice_msg *m);

/* Cartesia: a context per reply, each clause a continuation of it
 * followed by a flush, whose flush_done marks the clause's end. */
int wsvoice_cartesia_say(struct wsc *w, const struct provider *pv,
                         const char *ctx, const char *text, size_t len);
/* The reply's input is over: the context ends once it is said. */
int wsvoice_cartesia_end(struct wsc *w, const struct provider *pv,
                         const char *ctx);
int wsvoice_cartesia_cancel(struct wsc *w, const char *ctx);
void wsvoice_cartesia_read(json_t *root, struct wsvoice_msg *m);

/* The context id in root's member name into m (ctx_bad when it is not
 * a short string). */
void wsvoice_read_ctx(json_t *root, const char *name, struct wsvoice_msg *m);
/* "prefix: text" into m->why, on one line. */
void wsvoice_why(struct wsvoice_msg *m, const char *prefix, const char *text);

#endif
