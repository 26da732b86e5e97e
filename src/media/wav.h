/* Reading WAV files into 16-bit mono PCM at a chosen rate (the greeting). */
#ifndef VOXGATE_MEDIA_WAV_H
#define VOXGATE_MEDIA_WAV_H

#include <stddef.h>
#include <stdint.h>

/*
 * Loads a PCM WAV file (8/16/24/32-bit integer or 32-bit float, any channel
 * count, any rate), mixes it to mono and resamples it to rate. On success
 * *pcmp is a malloc'd buffer the caller frees. On failure returns an errno
 * value and, when err is given, a short reason.
 */
int wav_load(const char *path, uint32_t rate, int16_t **pcmp, size_t *samplesp,
             const char **err);

/*
 * Writes samples as a 16-bit mono PCM WAV file at rate. The file appears
 * whole or not at all: it is written under a temporary name in the same
 * directory and renamed over path. Returns 0 or an errno value.
 */
int wav_save(const char *path, const int16_t *pcm, size_t samples,
             uint32_t rate);

#endif
