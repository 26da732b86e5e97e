/*
 * WAV files as wav_load reads them (the greeting, the PIN prompts, the
 * vad and stt commands' input): chunks, formats and rates as the file
 * says, mixed to mono and resampled to 8 kHz.
 *
 * The same bytes as a stream's first (wavhdr_read, as the speaker reads
 * a wav answer): the samples never start past what was read nor past the
 * limit.
 *
 * Input: the file.
 */
#include <errno.h>

#include "core/wavhdr.h"
#include "media/wav.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size);
	const char *why = NULL;
	int16_t *pcm = NULL;
	size_t samples = 0;
	int err = wav_load(path, 8000, &pcm, &samples, &why);
	struct wavhdr h;

	if (!wavhdr_read(&h, data, size, 1024, NULL))
		FUZZ_CHECK(h.data_off <= size && h.data_off <= 1024);

	if (err) {
		FUZZ_CHECK(!pcm);
		return 0;
	}
	FUZZ_CHECK(pcm);
	/* Nothing comes from nothing: each output sample needs input. */
	FUZZ_CHECK(samples <= 8000u * (size + 1));
	if (samples) {
		/* Read, so that ASan checks the buffer is that long. */
		volatile int16_t last = pcm[samples - 1];

		(void)last;
	}
	free(pcm);
	return 0;
}
