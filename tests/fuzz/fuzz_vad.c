/*
 * The VAD under hostile audio: any samples (full-scale square waves,
 * alternating extremes, DC, silence), lost and wrong-sized frames and
 * restarts, in any order, at 8 or 16 kHz, with any settings vad_alloc
 * takes. What it reports must stay in range and its events must follow
 * the turn states (vad.h): START only from quiet or onset, STOP, PAUSE and
 * RESUME only in a turn, speaking exactly between START and STOP.
 *
 * Input: a byte for the rate (bit 0: 16 kHz), four bytes for start_secs,
 * stop_secs (0-2.55 s), min_volume and confidence (0-1), then operations:
 * an opcode byte (0-4 a frame of samples from the input, 5 a lost frame,
 * 6 a frame of the wrong size, 7 vad_restart), frames as 16-bit
 * big-endian samples, zeros once the input ends.
 */
#include <re.h>

#include "speech/vad.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint32_t rate = fuzz_u8(&in) & 1 ? 16000 : 8000;
	size_t frame = rate / 50;
	struct vad_params p = {
	    .start_secs = fuzz_u8(&in) / 100.0,
	    .stop_secs = fuzz_u8(&in) / 100.0,
	    .min_volume = fuzz_u8(&in) / 255.0,
	    .confidence = fuzz_u8(&in) / 255.0,
	};
	int16_t pcm[320];
	struct vad *v = NULL;
	bool speaking = false;

	if (vad_alloc(&v, &p, rate))
		abort();
	while (in.n) {
		uint8_t op = fuzz_u8(&in) & 7;
		struct vad_frame f;

		if (op == 7) {
			vad_restart(v);
			speaking = false;
			continue;
		}
		for (size_t i = 0; i < frame; i++)
			pcm[i] = (int16_t)fuzz_u16(&in);
		if (op == 5)
			vad_process(v, NULL, 0, &f);
		else if (op == 6)
			vad_process(v, pcm, frame - 1, &f);
		else
			vad_process(v, pcm, frame, &f);
		FUZZ_CHECK(f.confidence >= 0 && f.confidence <= 1);
		FUZZ_CHECK(f.volume >= 0 && f.volume <= 1);
		FUZZ_CHECK(!f.voiced || (f.confidence >= p.confidence &&
		                         f.volume >= p.min_volume));
		FUZZ_CHECK(op < 5 || (!f.voiced && f.confidence == 0));
		switch (f.event) {
		case VAD_EVENT_START:
			FUZZ_CHECK(!speaking);
			speaking = true;
			break;
		case VAD_EVENT_STOP:
			FUZZ_CHECK(speaking);
			speaking = false;
			break;
		case VAD_EVENT_PAUSE:
		case VAD_EVENT_RESUME:
			FUZZ_CHECK(speaking);
			break;
		case VAD_EVENT_ONSET:
		case VAD_EVENT_CANCEL:
			FUZZ_CHECK(!speaking);
			break;
		case VAD_EVENT_NONE:
			break;
		}
		FUZZ_CHECK(f.speaking == speaking);
	}
	mem_deref(v);
	return 0;
}
