/*
 * A call's streaming network voice over its provider's WebSocket:
 * ElevenLabs' multi-stream-input or Cartesia's /tts/websocket. The
 * speaker (speaker.h) hands it each clause as the brain writes it; the
 * clause's text goes to the provider at once and its audio (G.711 mu-law
 * at 8 kHz, asked for so that nothing is resampled) comes back as 8 kHz
 * PCM while it is made, clause after clause in the order given, each
 * clause's end told once its last audio is in.
 *
 * One socket per call, opened when the call starts so that the first
 * clause pays no DNS, TLS or upgrade, and opened again when the provider
 * closes it or it fails (at once after an idle close, else after a
 * jittered backoff that doubles up to WSVOICE_BACKOFF_MAX_MS). A refused
 * key, an error message, a socket lost with clauses in flight or no word
 * from the provider within the stage's timeout fails the clauses given:
 * the first with its error, the rest with ECANCELED.
 */
#ifndef VOXGATE_WORKER_WSVOICE_H
#define VOXGATE_WORKER_WSVOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/provider.h"

struct provider;
struct wsvoice;

enum wsvoice_dialect {
	WSVOICE_NONE = -1,
	WSVOICE_ELEVENLABS = 0,
	WSVOICE_CARTESIA = 1,
};

/* The dialect of provider name ("elevenlabs", "cartesia"), WSVOICE_NONE
 * for another. */
enum wsvoice_dialect wsvoice_dialect(const char *name);

/* Cartesia's API version sent in Cartesia-Version. */
#define WSVOICE_CARTESIA_VERSION "2025-04-16"
/* A socket that failed waits this long, doubled for each failure in a
 * row up to the max, less up to half of it at random. */
#define WSVOICE_BACKOFF_MS     250
#define WSVOICE_BACKOFF_MAX_MS 8000
/* ElevenLabs allows 5 contexts per socket; one is kept free for those a
 * cancel closed whose end has not come. */
#define WSVOICE_ELEVEN_CONTEXTS 4
/* Audio of a clause kept while an earlier one is still being made. */
#define WSVOICE_PENDING_MAX (256 * 1024)
/* Longest context id taken from a provider. */
#define WSVOICE_CTX_MAX 48

/*
 * The WebSocket endpoint, in *urlp (a libre string), of provider name at
 * base (its base URL as its SDK takes it): ElevenLabs'
 * {base}/v1/text-to-speech/{voice}/multi-stream-input?model_id=...
 * &output_format=ulaw_8000..., Cartesia's {base}/tts/websocket, with
 * ws/wss for http/https. EINVAL with the reason in *why (static).
 */
int wsvoice_endpoint(char **urlp, const char *name, const char *base,
                     const char *model, const char *voice, const char **why);

typedef void(wsvoice_audio_h)(uint32_t tag, const int16_t *pcm, size_t n,
                              void *arg);
typedef void(wsvoice_done_h)(uint32_t tag, int err, void *arg);

/*
 * A mem object; pv (borrowed, its url the endpoint above) outlives it.
 * Starts connecting. Its release drops what was given and closes the
 * socket. EINVAL (pv not a WebSocket voice), ENOMEM.
 */
int wsvoice_alloc(struct wsvoice **vp, const struct provider *pv,
                  const char *call_id, wsvoice_audio_h *audioh,
                  wsvoice_done_h *doneh, void *arg);
/* Gives text[0..len) to say after the clauses given before; never calls
 * a handler. EINVAL, ENOMEM. */
int wsvoice_say(struct wsvoice *v, const char *text, size_t len, uint32_t tag);
/* Whether clauses given are not done yet. */
bool wsvoice_busy(const struct wsvoice *v);
/* Drops every clause given (no handler is called for them); Cartesia is
 * told to stop making them, ElevenLabs' closed contexts run out unheard.
 * The socket stays. */
void wsvoice_cancel(struct wsvoice *v);

struct wsvoice_stats {
	uint32_t connects; /* sockets started */
	uint32_t opened;   /* of those, upgraded */
	uint32_t cancels;  /* Cartesia cancel messages sent */
	bool open;         /* a socket is open now */
};

void wsvoice_stats(const struct wsvoice *v, struct wsvoice_stats *st);

/* ---- the providers' messages, read (wsvoice_eleven.c, _cartesia.c) ---- */

/* What one message from the provider says. */
struct wsvoice_msg {
	char ctx[WSVOICE_CTX_MAX]; /* its context; "" = none named */
	bool ctx_bad;              /* it named one too long or not a string */
	const char *audio;         /* base64 mu-law, into the parsed message */
	size_t audio_len;
	bool end;        /* ElevenLabs: the context is over; Cartesia: a flush's
	               audio is over */
	bool done;       /* Cartesia: the context is over */
	bool error;      /* an error message: why tells it */
	bool auth;       /* the error refuses the key */
	uint16_t status; /* Cartesia's status_code, 0 when none */
	char why[PROVIDER_WHY_MAX];
};

/*
 * Reads a text message p[0..n) of dialect d into *m; *rootp holds the
 * parsed message (a jansson json_t, json_decref it) that m->audio points
 * into. EBADMSG for a message that is not a JSON object (nothing to
 * free).
 */
int wsvoice_read(enum wsvoice_dialect d, const uint8_t *p, size_t n,
                 struct wsvoice_msg *m, void **rootp);

#endif
