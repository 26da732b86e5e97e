/*
 * The speaker seam: a call's text to speech, on the loop. The pipeline
 * hands it the reply clause by clause as the brain writes it; the audio
 * comes back in chunks as it is made, then the clause's end, all on the
 * loop and in the order the clauses were given. Cancel (barge-in) drops
 * every clause given and stops the one being made. espeak-ng and flite run
 * on the engine pool (engine.h), one clause of a call at a time; a network
 * voice (an OpenAI-compatible /audio/speech, pcm or wav) streams each
 * clause over HTTP on the loop, its audio brought to 8 kHz as it arrives; ElevenLabs
 * and Cartesia take each clause on the call's WebSocket as soon as it is
 * given (wsvoice.h).
 */
#ifndef VOXGATE_WORKER_SPEAKER_H
#define VOXGATE_WORKER_SPEAKER_H

#include <stddef.h>
#include <stdint.h>

struct engine_pool;
struct provider;
struct tts;

struct speaker_config {
	/* The embedded synthesiser, shared by the worker's calls, out_rate
	 * 8000: it says every clause, or with net only those given with
	 * speaker_say_embedded. */
	struct tts *tts;
	struct engine_pool *pool;
	/* A network voice: an OpenAI-compatible speech endpoint, or with
	 * name "elevenlabs" or "cartesia" a WebSocket one; NULL = none. */
	const struct provider *net;
	const char *call_id; /* for the log; NULL = none */
};

/* n samples at 8 kHz of the clause given with tag, valid during the
 * call. */
typedef void(speaker_audio_h)(uint32_t tag, const int16_t *pcm, size_t n,
                              void *arg);
/* The clause is over: err 0, or why it is shorter or silent (the reply
 * goes on without it). A network voice that fails (a refused key, an
 * error status, an answer it cannot play, no audio within its timeout, a
 * connection cut) reports the clause with its error and its reason in
 * why (one line, the key masked; valid during the call, NULL when err
 * says it all), and the rest of the same tag's network clauses with
 * ECANCELED, unsaid: it fails the same way again. */
typedef void(speaker_done_h)(uint32_t tag, int err, const char *why, void *arg);

struct speaker;

/* A mem object; its release cancels as speaker_cancel does. EINVAL,
 * ENOMEM. */
int speaker_alloc(struct speaker **sp, const struct speaker_config *cfg,
                  speaker_audio_h *audioh, speaker_done_h *doneh, void *arg);
/* Queues text[0..len) to be said after the clauses before it. EINVAL,
 * ENOMEM. */
int speaker_say(struct speaker *s, const char *text, size_t len, uint32_t tag);
/* The same, said by the embedded synthesiser whatever the voice: what
 * must be heard when the network voice is failing. */
int speaker_say_embedded(struct speaker *s, const char *text, size_t len,
                         uint32_t tag);
/* Drops every clause given and stops the one being made: no handler is
 * called for them. Clauses given afterwards are said as usual. */
void speaker_cancel(struct speaker *s);

#endif
