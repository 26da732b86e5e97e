/*
 * The streaming recognisers behind the listener seam (listener.h):
 * Deepgram's live /v1/listen and OpenAI's Realtime transcription, each a
 * WebSocket per call on the loop (net/wsc.h).
 *
 * The socket is opened when the call starts, so that the caller's first
 * turn does not wait for DNS, TLS and the upgrade, and kept across the
 * call's utterances. The caller's audio goes as G.711 mu-law at 8 kHz, as
 * the line carried it. What the core here does for both: the utterances'
 * book (the open one, those ended and waiting for their final, in the
 * order they ended), the audio of an utterance begun while the socket is
 * not open yet (held, bounded, sent once it opens), stt_timeout from each
 * end to its final, and the socket's life: a failed connect or a dropped
 * socket fails the utterance in progress and those waiting (each reports
 * its error, which the agent apologises for) and the socket comes back
 * after a bounded, jittered backoff, logged.
 *
 * An utterance ended ahead of its turn's end (the pipeline's early end,
 * when the caller pauses) is a segment boundary on the stream, not a
 * final pass over the turn: what the pipeline feeds after the end (the
 * pause) goes on to the socket, and should the caller go on, the next
 * utterance continues the ended one (lws_reopen) with nothing sent again:
 * its final is the ended one's followed by its own, told once both are
 * in. Should the turn end in the pause instead (lws_rest), the pause's
 * audio is nobody's: its results are thrown away. Each provider's file
 * (listen_deepgram.c, listen_realtime.c) says what goes on the wire and
 * reads what comes back.
 *
 * Loop thread only. Nothing here blocks, and the per-frame path (feed)
 * encodes into buffers made with the call.
 */
#ifndef VOXGATE_WORKER_LISTEN_WS_H
#define VOXGATE_WORKER_LISTEN_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/libre.h"
#include "worker/listener.h"
#include "worker/provider.h"

struct wsc;
struct lws;

#define LWS_TEXT_MAX 1024 /* a transcript's bytes, NUL included */
#define LWS_ID_MAX   64   /* a provider's item id, NUL included */
/* Audio of the open utterance held while the socket is not open (mu-law
 * bytes, 8000 a second): the oldest goes beyond. */
#define LWS_HOLD_MAX (5 * 8000)
/* Samples per message sent: 100 ms (the turn's last, shorter). */
#define LWS_CHUNK 800
/* The longest text message built (a chunk's base64 in its JSON). */
#define LWS_OUT_MAX 2048

/* An utterance ended, waiting for its final. */
struct lws_utt {
	uint32_t utt;   /* 0: dropped (its results are read and thrown away) */
	bool sent;      /* its end went to the provider */
	uint64_t t_end; /* clock_mono_ms at its end */
	double audio_end;    /* seconds of the socket's audio at its end */
	double secs;         /* its audio */
	char id[LWS_ID_MAX]; /* the provider's item id, once told */
	char text[LWS_TEXT_MAX];
	size_t len;
	unsigned segs; /* final segments of its audio come */
	/* It continues this one (lws_reopen), whose final is not in yet: its
	 * text comes first, so it is told after it. 0: none. */
	uint32_t after;
	bool own_done;  /* its own part is in, it waits for after's */
	size_t pre_len; /* bytes of text that are the utterances' before it */
};

#define LWS_WAIT 8 /* utterances waiting at once; more fail */
/* Deepgram: how long a turn whose words are all final waits for the
 * Finalize's answer (listen_deepgram.c). */
#define LWS_DG_SETTLE_MS 400

/* What a provider does (its file's lws_<name> table). */
struct lws_ops {
	const char *name;
	/* The endpoint's URL from the provider's base URL (mem object). */
	int (*url)(char **urlp, const struct provider *pv, const char **why);
	const char *auth;      /* "Token" or "Bearer" */
	uint32_t keepalive_ms; /* 0: none */
	/* answers come in the order of the ends: a final settles those
	 * ended before it too */
	bool ordered;
	void (*opened)(struct lws *l); /* may be NULL */
	int (*audio)(struct lws *l, const uint8_t *ulaw, size_t n);
	int (*end)(struct lws *l, struct lws_utt *u);
	int (*drop)(struct lws *l); /* the open utterance abandoned */
	/* the turn ended in the pause after its last end: the pause's audio,
	 * sent, is nobody's; may be NULL */
	int (*rest)(struct lws *l);
	int (*keepalive)(struct lws *l);
	void (*msg)(struct lws *l, const char *p, size_t n);
	int (*bye)(struct lws *l); /* before the call's close; may be NULL */
};

enum lws_state { LWS_WAITING, LWS_CONNECTING, LWS_OPEN, LWS_GONE };

struct lws {
	struct le le; /* in the list of sockets closing after their call */
	const struct lws_ops *ops;
	const struct provider *pv;
	char call_id[128];
	struct listener_handlers h;
	void *arg;
	char *url;
	char *auth;
	struct wsc *w;
	enum lws_state state;
	bool released;          /* the listener let go: no handler is called */
	unsigned attempts;      /* connects failed since the last healthy one */
	uint64_t t_connect;     /* when the socket started connecting */
	struct tmr tmr_retry;   /* the backoff */
	struct tmr tmr_wait;    /* the first waiting utterance's timeout */
	struct tmr tmr_idle;    /* keepalive */
	struct tmr tmr_report;  /* failures found inside the listener's calls */
	struct tmr tmr_settle;  /* provider's own (Deepgram's settle) */
	uint64_t t_tx;          /* last message sent */
	uint64_t audio_samples; /* audio sent on this socket */
	double done_until;      /* seconds of it whose results are all in */
	/* why the socket is down, for the utterances ended meanwhile */
	int down_err;
	uint16_t down_status;
	char down_why[PROVIDER_WHY_MAX];
	/* the open utterance */
	uint32_t open_utt; /* 0: none */
	bool open_broken;
	int open_err;
	double open_secs;
	char open_text[LWS_TEXT_MAX]; /* its final segments so far */
	size_t open_len;
	unsigned open_segs;
	/* it goes on from this one, whose final is not in yet (0: none) */
	uint32_t open_after;
	size_t open_pre; /* bytes of open_text that are earlier utterances' */
	uint8_t *hold;   /* LWS_HOLD_MAX */
	size_t hold_len;
	/* The turn's pause after an end: what is fed goes on to the socket
	 * until lws_reopen or lws_rest. */
	bool tail;
	double tail_secs; /* of it, fed */
	double tail_from; /* seconds of the socket's audio at its start */
	int tail_err;     /* some of it could not be sent */
	/* The last pause a turn ended in, in seconds of the socket's audio:
	 * results that end in it are nobody's. */
	double skip_from, skip_to;
	/* the utterance ended last, which a reopen continues, and once it is
	 * told, its final or its error */
	uint32_t last_utt;
	bool last_done;
	int last_err;
	char last_text[LWS_TEXT_MAX];
	/* ended, in the order they ended */
	struct lws_utt wait[LWS_WAIT];
	size_t nwait;
	/* failures to report from the loop, not from inside a call */
	struct {
		uint32_t utt;
		int err;
	} fail[LWS_WAIT + 1];
	size_t nfail;
	/* buffers made with the call, for the per-frame path */
	uint8_t ulaw[LWS_CHUNK]; /* the open utterance's, not sent yet */
	size_t pend;
	char out[LWS_OUT_MAX];
	/* the provider's */
	bool dg_interim; /* an interim came after the last final segment */
	char partial[LWS_TEXT_MAX];
};

extern const struct lws_ops lws_deepgram;
extern const struct lws_ops lws_realtime;

/* The ops of provider name ("deepgram", "openai-realtime"), or NULL. */
const struct lws_ops *lws_ops_of(const char *name);

int lws_alloc(struct lws **lp, const struct lws_ops *ops,
              const struct provider *pv, const char *call_id,
              const struct listener_handlers *h, void *arg);
/* As lws_alloc, without connecting: the unit tests and the fuzz targets
 * set the state and hand it the provider's messages (ops->msg). */
int lws_alloc_offline(struct lws **lp, const struct lws_ops *ops,
                      const struct provider *pv,
                      const struct listener_handlers *h, void *arg);
/* The listener lets go: no handler is called after this; the socket says
 * goodbye (ops->bye) and closes, freed when it has. */
void lws_release(struct lws *l);
void lws_begin(struct lws *l, uint32_t utt);
int lws_feed(struct lws *l, const int16_t *pcm, size_t n);
int lws_end(struct lws *l);
/* Opens utterance utt going on from the one just ended, whose pause was
 * sent after it (listener_reopen): EINVAL when none was ended since the
 * last begin or rest. */
int lws_reopen(struct lws *l, uint32_t utt);
/* The turn is over: the pause after the last end stops going out
 * (listener_rest). */
void lws_rest(struct lws *l);
/* Frees the sockets still closing (at exit). */
void lws_flush(void);

/* ---- for the providers' files ---- */

int lws_send_text(struct lws *l, const char *p, size_t n);
int lws_send_binary(struct lws *l, const void *p, size_t n);
/* The provider is talking: the backoff starts again from its first step. */
void lws_healthy(struct lws *l);
/* Appends text (a final segment) to the utterance's, a space between. */
void lws_append(char *dst, size_t *len, const char *text);
/* The waiting utterance u has its final (u->text): reported, and it and
 * those before it leave the book (those before with what they have). One
 * that continues an utterance not told yet waits for it (an ordered
 * provider's comes first in the book and is told with it). */
void lws_resolve(struct lws *l, struct lws_utt *u);
/* The waiting utterance u failed: logged (status 0 unless the provider
 * gave one) and reported. */
void lws_fail(struct lws *l, struct lws_utt *u, int err, const char *why);
/* Partial text of the open utterance. */
void lws_partial(struct lws *l, const char *text);
/* The stream cannot be trusted any more (a fatal in-band error, no final
 * in time): everything in progress fails with err and the socket is
 * made again after the backoff. */
void lws_restart(struct lws *l, int err, uint16_t status, const char *why);

/* ---- the providers' messages, read (bounded: text cut at its buffer,
 * numbers checked) ---- */

#define LWS_MSG_MAX (256 * 1024) /* longer messages are refused */

enum dg_type {
	DG_OTHER = 0,
	DG_RESULTS,
	DG_METADATA,
	DG_UTTERANCE_END,
	DG_SPEECH_STARTED,
	DG_ERROR,
};

/* A Deepgram /v1/listen message. */
struct dg_msg {
	enum dg_type type;
	bool is_final, speech_final, from_finalize;
	double start, duration;       /* seconds of the stream, 0-1e7 */
	char text[LWS_TEXT_MAX];      /* the first alternative's transcript */
	char error[PROVIDER_WHY_MAX]; /* DG_ERROR: its description */
};

/* EBADMSG for what is not a JSON object with a string "type", EMSGSIZE
 * beyond LWS_MSG_MAX; a message of another type is DG_OTHER. */
int dg_parse(const char *p, size_t n, struct dg_msg *m);

#endif
