/*
 * Speech to text for the agents: pocketsphinx with Debian's US English
 * model on the caller's 8 kHz audio, streaming partial transcripts while
 * the caller speaks and a final one at the end of the turn.
 */
#ifndef VOXGATE_SPEECH_STT_H
#define VOXGATE_SPEECH_STT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stt_params {
	const char *hmm;  /* acoustic model dir; NULL = Debian's en-us */
	const char *lm;   /* language model; NULL = Debian's en-us.lm.bin */
	const char *dict; /* dictionary; NULL = Debian's cmudict-en-us.dict */
};

/*
 * What all the decoders of a process share: the settings and the language
 * model, read once (about 33 MB for Debian's). The acoustic model's big
 * files (mdef, sendump) are mapped, not copied, so every decoder and every
 * process shares their pages.
 */
struct stt_model;

/*
 * Loads the model and builds the first decoder (the first stt_alloc takes
 * it), so that a file pocketsphinx cannot read is reported here. *mp is
 * a mem object: mem_deref it once its decoders are gone. Returns EINVAL for a path that is not a model (a reason in *why,
 * valid until this thread loads another model), ENOMEM or EIO.
 *
 * pocketsphinx's own log is silenced for the whole process. The library
 * ends the process on a few corrupt model files; the reason is then
 * printed on stderr first.
 */
int stt_model_load(struct stt_model **mp, const struct stt_params *prm,
                   const char **why);

/*
 * One stream decoder. Making one takes about 0.2 s and 57 MB (its search
 * and dictionary), so create them at start and reuse them across calls:
 * nothing of one turn carries over to the next. Decoders of one model take
 * turns: the language model keeps a lookup cache that is not thread-safe,
 * so one model's decoders share one core (5-6 real-time streams); load
 * one model per core to use more.
 */
struct stt;

/* *sp is a mem object: mem_deref. EINVAL, ENOMEM or EIO. */
int stt_alloc(struct stt **sp, struct stt_model *m);

/* Starts an utterance (a caller's turn); resets the resampler. An
 * utterance in progress is dropped. Returns 0, EINVAL or EIO. */
int stt_begin(struct stt *s);

/*
 * 8 kHz 16-bit mono, any number of samples per call. When the hypothesis
 * changed, copies it to partial (tidied as stt_end's, cut at a word to fit
 * psz) and sets *changed. The hypothesis is looked at once per 200 ms of
 * audio fed, not on every call. With partial NULL, it is not looked at.
 * Returns 0, EINVAL (no utterance begun) or EIO.
 */
int stt_feed(struct stt *s, const int16_t *pcm, size_t n, char *partial,
             size_t psz, bool *changed);

/*
 * Ends the utterance and copies the final transcript ("" when nothing was
 * recognised): lower case, words separated by single spaces, no fillers.
 * A transcript longer than sz is cut at a word. Returns 0, EINVAL (no
 * utterance begun) or EIO.
 */
int stt_end(struct stt *s, char *text, size_t sz);

#endif
