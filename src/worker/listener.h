/*
 * The listener seam: a call's speech to text, on the loop. The pipeline
 * opens an utterance when the caller starts, feeds it the caller's 20 ms
 * frames and ends it when the caller stops; the transcript comes back
 * later, on the loop, through the handlers. Every recogniser sits behind
 * it: pocketsphinx runs on the engine pool (engine.h), one job per call
 * at a time; an OpenAI-compatible /audio/transcriptions gets the
 * utterance's audio as a WAV when it ends, over HTTP on the loop;
 * Deepgram's live /v1/listen and OpenAI's Realtime transcription stream
 * it as it comes over a WebSocket per call (listen_ws.h).
 *
 * Utterances are numbered: a final, partial or error names the one it
 * belongs to, so that one ended and then abandoned (the caller went on, a
 * new one was begun) is told apart from the current one.
 */
#ifndef VOXGATE_WORKER_LISTENER_H
#define VOXGATE_WORKER_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine_pool;
struct provider;
struct stt;

/* What a call's listener is made with; borrowed for listener_alloc. */
struct listener_config {
	/* pocketsphinx: a decoder for this call alone, referenced until
	 * the listener and its last job are gone (its reference count
	 * tells the worker when it is free again), run on pool. */
	struct stt *decoder;
	struct engine_pool *pool;
	/* Or a network provider (no decoder, no pool): by its name, an
	 * OpenAI-compatible transcription endpoint (url), or "deepgram" /
	 * "openai-realtime" (url their base URL), whose socket opens now. */
	const struct provider *net;
	const char *call_id; /* for the log; NULL = none */
};

/* The partial hypothesis changed (not every recogniser gives them). */
typedef void(listener_partial_h)(uint32_t utt, const char *text, void *arg);
/* The transcript of an ended utterance, words separated by single
 * spaces, "" when nothing was recognised: lower case from pocketsphinx,
 * as the provider wrote it (case, punctuation) from a network one. */
typedef void(listener_final_h)(uint32_t utt, const char *text, void *arg);
/* The utterance is lost (the recogniser failed: for a network one a
 * refused key, an error status, no answer within its timeout, a
 * connection cut); no final comes. */
typedef void(listener_error_h)(uint32_t utt, int err, void *arg);

struct listener_handlers {
	listener_partial_h *partialh; /* may be NULL */
	listener_final_h *finalh;
	listener_error_h *errorh;
};

struct listener;

/* A mem object; its release drops what is in progress, and no handler is
 * called after it. EINVAL, ENOMEM. */
int listener_alloc(struct listener **lp, const struct listener_config *cfg,
                   const struct listener_handlers *h, void *arg);

/* Opens an utterance, dropping one still open; *utt is its number. */
int listener_begin(struct listener *l, uint32_t *utt);
/* 8 kHz 16-bit mono for the open utterance, any length (the frames of a
 * turn may be fed again at once). A recogniser this far behind (5 s of
 * audio waiting) drops the oldest, so that what follows is current. */
int listener_feed(struct listener *l, const int16_t *pcm, size_t n);
/* Ends the open utterance: its final (or error) follows. */
int listener_end(struct listener *l);
/* Opens a new utterance that goes on from the one just ended, with its
 * audio and what was fed since its end (the caller resumed after a pause
 * the final pass ran ahead in); *utt is its number. The OpenAI-compatible
 * recogniser keeps an utterance's audio anyway, to send it: it keeps it
 * on after the end until listener_rest, and the new utterance's request
 * has the whole turn. A streaming one sends what is fed after the end
 * (the pause) on its socket, and the new utterance goes on from there,
 * nothing sent again: its final is the ended one's followed by its own,
 * or the ended one's error. ENOTSUP from pocketsphinx, whose decoder
 * keeps nothing: the caller feeds the turn again. */
int listener_reopen(struct listener *l, uint32_t *utt);
/* The turn is over: nothing will reopen what ended, so the audio kept
 * for that goes (the OpenAI-compatible recogniser's), or stops going to
 * the socket (a streaming one's; pocketsphinx keeps none). */
void listener_rest(struct listener *l);

/* Frees the streaming sockets still saying goodbye after their calls
 * (before the loop goes, at exit). */
void listener_flush(void);

/* Whether provider name streams over a WebSocket (deepgram,
 * openai-realtime); then its endpoint's URL (a mem object) from pv->url,
 * its base, with the query it is opened with: EINVAL with *why for a bad
 * base. */
bool listener_streams(const char *name);
int listener_endpoint(char **urlp, const struct provider *pv, const char **why);

#endif
