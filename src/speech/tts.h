/*
 * Text to speech for the agents: embedded synthesisers (espeak-ng, flite)
 * whose audio is handed out while it is being made, so a caller hears the
 * first words before the sentence is finished, and which stop mid-sentence
 * when the caller talks over them (barge-in).
 */
#ifndef VOXGATE_SPEECH_TTS_H
#define VOXGATE_SPEECH_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tts_params {
	/* "espeak-ng" (the default when NULL) or "flite". */
	const char *provider;
	/* The provider's voice; NULL takes its default: "en-us" for
	 * espeak-ng (any voice `espeak-ng --voices` lists, variants such as
	 * "en-us+f3" too), "kal" for flite (its only voice here, a US
	 * English one, which "en-us" also names). */
	const char *voice;
	/* Speaking rate in words per minute, 80-450; default 175. */
	unsigned rate_wpm;
	/* Voice pitch, 0-100; default 50, the voice's own. */
	unsigned pitch;
	/* Sample rate handed out, 8000-48000 Hz; default 8000. */
	uint32_t out_rate;
};

/* Fills p with the defaults above. */
void tts_params_default(struct tts_params *p);

struct tts;

/*
 * Makes a synthesiser with prm's settings, a mem object (mem_deref). The
 * provider's library and voice are loaded once per process, on first use. EINVAL for an unknown provider or voice or a
 * setting out of range, EIO when the provider cannot start (no voice data);
 * with a reason (a static string) in *why when why is given.
 */
int tts_alloc(struct tts **tp, const struct tts_params *prm, const char **why);

/* Audio as it is made: n samples, 16-bit mono at out_rate. pcm is valid
 * only during the call. Return false to stop the synthesis (barge-in). */
typedef bool(tts_chunk_h)(const int16_t *pcm, size_t n, void *arg);

/*
 * Synthesises text (UTF-8, plain text: neither SSML nor phoneme codes are
 * interpreted; invalid bytes and control characters are read as spaces,
 * and for espeak-ng so is any script but Latin, Greek, Cyrillic, Hebrew,
 * Arabic, CJK and kana, on which espeak-ng 1.51 reads freed memory),
 * calling h with each chunk as it is made, about 50 ms at a time. Silence
 * before the first sound is left out; pauses within the text are kept.
 *
 * Blocks until the text is spoken. Returns 0, ECANCELED when h returned
 * false (h is not called again), EINVAL for bad arguments, ENOMEM, or EIO.
 * Text with nothing to say (empty, only spaces) returns 0 without calling h.
 *
 * The providers' libraries keep global state, so calls to one provider
 * are serialised by a lock held for the whole synthesis: any number of
 * threads may call this at once, on the same or different objects, and
 * each waits for the ones before it. h runs with that lock held and must
 * not call tts_synth.
 */
int tts_synth(struct tts *t, const char *text, tts_chunk_h *h, void *arg);

#endif
