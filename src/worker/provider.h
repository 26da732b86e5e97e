/*
 * What the network speech providers (the OpenAI-compatible listener and
 * speaker) share: how a call's provider is reached, and how its refusals
 * are told in the log without its key.
 */
#ifndef VOXGATE_WORKER_PROVIDER_H
#define VOXGATE_WORKER_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

struct httpc;

/* A network provider's endpoint, as the worker resolved it at start;
 * borrowed, outlives the calls. */
struct provider {
	const char *name; /* "openai", for the log */
	struct httpc *http;
	const char *url;     /* the endpoint, e.g. {tts_url}/audio/speech */
	const char *api_key; /* "" = none sent */
	const char *model;
	const char *voice;    /* TTS only */
	const char *format;   /* TTS only: "pcm" (NULL too) or "wav" */
	const char *language; /* STT only; "" = the provider guesses */
	unsigned timeout_ms;  /* the stage's limit (config.h) */
};

/* Bytes of an error response kept for its message. */
#define PROVIDER_ERRBODY_MAX 2048
/* Longest reason kept and logged. */
#define PROVIDER_WHY_MAX 240

/*
 * The reason a request failed, one line in why[PROVIDER_WHY_MAX]: "HTTP
 * <status>: <message>" with the message an OpenAI error body's
 * error.message (else the body's start), or "<what> (<err>)" for a
 * transfer that failed. Every occurrence of key, and any token that looks
 * like one (sk-...), is masked: servers quote keys in their refusals.
 */
void provider_why(char *why, int err, uint16_t status, const char *body,
                  size_t len, const char *transfer_why, const char *key);

/* Masks key, and any token that looks like one, in s, as provider_why
 * does; control characters become spaces (core/mask.h's mask_line). For
 * reasons that come another way (a WebSocket's close reason, an error
 * event). */
void provider_mask(char *s, const char *key);

/* "Authorization: Bearer <key>" into *hdrp (malloc'd, the caller frees
 * it), NULL for an empty key. ENOMEM. */
int provider_auth(char **hdrp, const char *key);

#endif
