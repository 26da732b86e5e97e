/*
 * The bridge, driven frame by frame as a media thread drives it: agent
 * speech is played in order with its marks and end; the caller talking
 * over it stops it at once and cuts the rest (barge-in); a blip only
 * pauses it; bridge_silence drops what is queued; voice-to-voice is
 * measured from the end of the caller's turn.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>

#include "agent/bridge.h"
#include "speech/tts.h"

#include "test.h"

#define FRAME BRIDGE_FRAME

static uint64_t clock_us = 1000000;

/* The caller's voice: real synthesized speech, played in a loop. */
static int16_t *voice;
static size_t voice_len, voice_pos, voice_start;

static bool collect(const int16_t *pcm, size_t n, void *arg)
{
	int16_t *p = realloc(voice, (voice_len + n) * sizeof(*p));

	(void)arg;
	if (!p)
		return false;
	memcpy(p + voice_len, pcm, n * sizeof(*p));
	voice = p;
	voice_len += n;
	return true;
}

static int voice_make(void)
{
	struct tts_params tp;
	struct tts *tts = NULL;
	int err;

	tts_params_default(&tp);
	err = tts_alloc(&tts, &tp, NULL);
	if (!err)
		err = tts_synth(tts,
		                "Hello there, I would like to book a table "
		                "for four people tomorrow evening, please.",
		                collect, NULL);
	mem_deref(tts);
	/* Start at the first word. */
	while (voice_start < voice_len && abs(voice[voice_start]) < 500)
		voice_start++;
	return err;
}

/* The next 20 ms of the caller's voice, from where it starts. */
static void speech_frame(int16_t *pcm)
{
	if (voice_pos + FRAME > voice_len)
		voice_pos = voice_start;
	memcpy(pcm, voice + voice_pos, FRAME * sizeof(*pcm));
	voice_pos += FRAME;
}

/* The agent's audio: each sample names its utterance and position. */
static void agent_frame(int16_t *pcm, int utt, int k)
{
	for (size_t i = 0; i < FRAME; i++)
		pcm[i] = (int16_t)(utt * 1000 + k);
}

/* Caller frames taken off the bridge, and whether any came out of
 * order. */
static uint32_t frames_up;
static bool frames_disordered;

/* One 20 ms tick: the caller's frame in (NULL = silence), then ours out,
 * then the caller's audio taken as the signalling thread takes it;
 * returns the samples sent. */
static size_t tick(struct bridge *b, const int16_t *in, int16_t *out)
{
	static const int16_t quiet[FRAME];
	int16_t up[FRAME];
	uint32_t frame;
	size_t n;

	clock_us += 20000;
	bridge_agent.audio_in(b, in ? in : quiet, FRAME, clock_us);
	n = bridge_agent.audio_out(b, out, FRAME);
	while (bridge_audio_next(b, &frame, up))
		frames_disordered |= frame != frames_up++;
	return n;
}

static uint64_t test_clock(void)
{
	return clock_us;
}

static struct bridge *make(void)
{
	struct bridge_params prm = {.wake_fd = -1, .clock_us = test_clock};
	struct bridge *b = NULL;

	frames_up = 0;
	frames_disordered = false;
	voice_pos = voice_start;

	vad_params_default(&prm.vad);
	if (bridge_alloc(&b, &prm))
		return NULL;
	return b;
}

/* Drains events; returns how many of kind were seen, the last in *last. */
static unsigned events(struct bridge *b, enum bridge_event_kind kind,
                       struct bridge_event *last)
{
	struct bridge_event ev;
	unsigned n = 0;

	while (bridge_event_next(b, &ev)) {
		if (ev.kind == kind) {
			n++;
			if (last)
				*last = ev;
		}
	}
	return n;
}

static int say_frames(struct bridge *b, uint32_t utt, int from, int count)
{
	int16_t pcm[FRAME];

	for (int k = from; k < from + count; k++) {
		agent_frame(pcm, (int)utt, k);
		int err = bridge_say(b, utt, pcm, FRAME);
		if (err)
			return err;
	}
	return 0;
}

TEST(plays_in_order_with_marks)
{
	struct bridge *b = make();
	struct bridge_event ev;
	int16_t out[FRAME];
	unsigned marks = 0, played = 0, speaking = 0;

	CHECK(b);
	CHECK_EQ(say_frames(b, 1, 0, 5), 0);
	CHECK_EQ(bridge_mark(b, 1, 7), 0);
	CHECK_EQ(say_frames(b, 1, 5, 5), 0);
	CHECK_EQ(bridge_say_end(b, 1), 0);
	for (int k = 0; k < 10; k++) {
		CHECK_EQ(tick(b, NULL, out), FRAME);
		CHECK_EQ(out[0], 1000 + k);
		CHECK_EQ(out[FRAME - 1], 1000 + k);
		CHECK(bridge_talking(b));
		while (bridge_event_next(b, &ev)) {
			if (ev.kind == BRIDGE_EV_MARK) {
				marks++;
				CHECK_EQ(ev.mark, 7);
				/* five frames were out when it came due */
				CHECK_EQ(k, 5);
			}
			speaking += ev.kind == BRIDGE_EV_SPEAKING;
		}
	}
	CHECK_EQ(tick(b, NULL, out), 0);
	played = events(b, BRIDGE_EV_PLAYED, &ev);
	CHECK_EQ(played, 1);
	CHECK_EQ(ev.utterance, 1);
	CHECK_EQ(ev.heard_ms, 200);
	CHECK_EQ(marks, 1);
	CHECK_EQ(speaking, 1);
	CHECK(!bridge_talking(b));
	bridge_agent.stop(b);
	return 0;
}

TEST(partial_frame_is_padded)
{
	struct bridge *b = make();
	int16_t pcm[100], out[FRAME];

	CHECK(b);
	for (int i = 0; i < 100; i++)
		pcm[i] = 42;
	CHECK_EQ(bridge_say(b, 3, pcm, 100), 0);
	/* an incomplete frame waits for the rest or the end */
	CHECK_EQ(tick(b, NULL, out), 0);
	CHECK_EQ(bridge_say_end(b, 3), 0);
	CHECK_EQ(tick(b, NULL, out), FRAME);
	CHECK_EQ(out[99], 42);
	CHECK_EQ(out[100], 0);
	CHECK_EQ(bridge_say(b, 2, pcm, 10), EINVAL);
	bridge_agent.stop(b);
	return 0;
}

TEST(barge_in_stops_and_cuts)
{
	struct bridge *b = make();
	struct bridge_event ev;
	int16_t out[FRAME], speech[FRAME];
	int sent = 0, stopped_at = -1, spoke_at = -1;
	bool interrupted = false;

	CHECK(b);
	CHECK_EQ(say_frames(b, 1, 0, 100), 0);
	for (int k = 0; k < 10; k++)
		sent += tick(b, NULL, out) == FRAME;
	CHECK_EQ(sent, 10);
	/* the caller talks over the agent */
	for (int k = 0; k < 30; k++) {
		speech_frame(speech);
		if (tick(b, speech, out) == FRAME)
			sent++;
		else if (stopped_at < 0)
			stopped_at = k;
		while (bridge_event_next(b, &ev)) {
			if (ev.kind == BRIDGE_EV_VAD && spoke_at < 0 &&
			    (ev.vad == VAD_EVENT_ONSET ||
			     ev.vad == VAD_EVENT_START))
				spoke_at = k;
			if (ev.kind == BRIDGE_EV_INTERRUPTED) {
				interrupted = true;
				CHECK_EQ(ev.utterance, 1);
				/* exactly what went out */
				CHECK_EQ(ev.heard_ms, (uint32_t)sent * 20);
				CHECK(ev.latency_ms >= 0 &&
				      ev.latency_ms <= 20);
			}
		}
	}
	CHECK(spoke_at >= 0);
	/* audio stops in the frame the onset is heard */
	CHECK_EQ(stopped_at, spoke_at);
	CHECK(interrupted);
	/* the rest of utterance 1 is gone, and stays gone */
	CHECK_EQ(say_frames(b, 1, 100, 1), ECANCELED);
	CHECK_EQ(tick(b, NULL, out), 0);
	CHECK(!bridge_talking(b));
	/* the next utterance plays */
	CHECK_EQ(say_frames(b, 2, 0, 2), 0);
	CHECK_EQ(tick(b, NULL, out), FRAME);
	CHECK_EQ(out[0], 2000);
	bridge_agent.stop(b);
	return 0;
}

TEST(blip_pauses_then_resumes)
{
	struct bridge *b = make();
	struct bridge_event ev;
	int16_t out[FRAME], blip[2][FRAME];
	int next = 0, gaps = 0;
	bool cancelled = false, interrupted = false;

	CHECK(b);
	CHECK_EQ(say_frames(b, 1, 0, 60), 0);
	for (int k = 0; k < 5; k++) {
		CHECK_EQ(tick(b, NULL, out), FRAME);
		CHECK_EQ(out[0], 1000 + next++);
	}
	/* 40 ms of voice: an onset that never becomes speech */
	speech_frame(blip[0]);
	speech_frame(blip[1]);
	for (int k = 0; k < 40 && next < 60; k++) {
		size_t n = tick(b, k < 2 ? blip[k] : NULL, out);

		if (n) {
			/* nothing skipped: it goes on where it stopped */
			CHECK_EQ(out[0], 1000 + next);
			next++;
		} else {
			gaps++;
		}
		while (bridge_event_next(b, &ev)) {
			cancelled |= ev.kind == BRIDGE_EV_VAD &&
			             ev.vad == VAD_EVENT_CANCEL;
			interrupted |= ev.kind == BRIDGE_EV_INTERRUPTED;
		}
	}
	CHECK(!interrupted);
	CHECK(gaps <= (int)(0.3 / 0.02));
	CHECK(next >= 40);
	if (gaps)
		CHECK(cancelled);
	bridge_agent.stop(b);
	return 0;
}

/* A soft first consonant: an onset, cancelled, and the voice back a frame
 * later. The agent stays paused through the gap (no word of it between
 * the caller's sounds) and is then cut by the barge-in. */
TEST(onset_again_soon_stays_paused)
{
	struct bridge *b = make();
	struct bridge_event ev;
	int16_t out[FRAME], in[FRAME];
	size_t leaked = 0;
	bool onset = false, cancelled = false, interrupted = false;

	CHECK(b);
	CHECK_EQ(say_frames(b, 1, 0, 100), 0);
	for (int k = 0; k < 5; k++)
		CHECK_EQ(tick(b, NULL, out), FRAME);
	/* into the voice until it makes an onset, then quiet */
	for (int k = 0; k < 50 && !onset; k++) {
		speech_frame(in);
		if (tick(b, in, out) == 0)
			onset = true;
		while (bridge_event_next(b, &ev))
			onset |= ev.kind == BRIDGE_EV_VAD &&
			         ev.vad == VAD_EVENT_ONSET;
	}
	CHECK(onset);
	/* the quiet here is digital silence, which an onset waits over for
	 * ten frames (the echo guard's withholding; vad.c, WITHHELD_MAX)
	 * and which cancels it on the eleventh */
	for (int k = 0; k < 12 && !cancelled; k++) {
		leaked += tick(b, NULL, out) > 0;
		while (bridge_event_next(b, &ev))
			cancelled |= ev.kind == BRIDGE_EV_VAD &&
			             ev.vad == VAD_EVENT_CANCEL;
	}
	CHECK(cancelled);
	leaked += tick(b, NULL, out) > 0;
	for (int k = 0; k < 30; k++) {
		speech_frame(in);
		leaked += tick(b, in, out) > 0;
		while (bridge_event_next(b, &ev))
			interrupted |= ev.kind == BRIDGE_EV_INTERRUPTED;
	}
	CHECK(interrupted);
	CHECK_EQ(leaked, 0);
	bridge_agent.stop(b);
	return 0;
}

TEST(silence_drops_queued)
{
	struct bridge *b = make();
	int16_t out[FRAME];

	CHECK(b);
	CHECK_EQ(say_frames(b, 4, 0, 50), 0);
	CHECK_EQ(tick(b, NULL, out), FRAME);
	bridge_silence(b);
	CHECK_EQ(tick(b, NULL, out), 0);
	CHECK_EQ(events(b, BRIDGE_EV_INTERRUPTED, NULL), 0);
	CHECK_EQ(say_frames(b, 4, 50, 1), ECANCELED);
	CHECK_EQ(say_frames(b, 5, 0, 1), 0);
	CHECK_EQ(tick(b, NULL, out), FRAME);
	CHECK_EQ(out[0], 5000);
	bridge_agent.stop(b);
	return 0;
}

TEST(voice_to_voice_and_audio_up)
{
	struct bridge *b = make();
	struct bridge_event ev;
	int16_t out[FRAME], speech[FRAME];
	uint32_t ticks = 0;
	bool stopped = false;

	CHECK(b);
	for (int k = 0; k < 40; k++, ticks++) {
		speech_frame(speech);
		tick(b, speech, out);
	}
	for (int k = 0; k < 40 && !stopped; k++, ticks++) {
		tick(b, NULL, out);
		while (bridge_event_next(b, &ev))
			stopped |= ev.kind == BRIDGE_EV_VAD &&
			           ev.vad == VAD_EVENT_STOP;
	}
	CHECK(stopped);
	/* three frames later the answer's first frame goes out */
	tick(b, NULL, out);
	tick(b, NULL, out);
	CHECK_EQ(say_frames(b, 1, 0, 3), 0);
	CHECK_EQ(tick(b, NULL, out), FRAME);
	ticks += 3;
	CHECK_EQ(events(b, BRIDGE_EV_SPEAKING, &ev), 1);
	/* from the last voiced frame: stop_secs (0.3 s) of silence, then
	 * three ticks */
	CHECK(ev.latency_ms >= 300 && ev.latency_ms <= 420);
	/* of which the window to STOP, and the three ticks after it */
	CHECK(ev.stop_ms >= 280 && ev.stop_ms <= ev.latency_ms - 40);

	CHECK(!frames_disordered);
	CHECK_EQ(frames_up, ticks);
	bridge_agent.stop(b);
	return 0;
}

static unsigned readies;

static void on_ready(void *arg)
{
	(void)arg;
	readies++;
}

/* An utterance's first frame is told once it is whole, and taken between
 * two ticks; with nothing there, taking it early changes nothing. */
TEST(first_frame_goes_early)
{
	struct bridge_params prm = {
	    .wake_fd = -1, .clock_us = test_clock, .audio_ready = on_ready};
	struct bridge *b = NULL;
	struct bridge_event ev;
	int16_t pcm[FRAME], out[FRAME];

	readies = 0;
	vad_params_default(&prm.vad);
	CHECK_EQ(bridge_alloc(&b, &prm), 0);
	CHECK_EQ(tick(b, NULL, out), 0);
	CHECK_EQ(bridge_agent.audio_early(b, out, FRAME), 0);

	/* half a frame: not yet */
	agent_frame(pcm, 1, 0);
	CHECK_EQ(bridge_say(b, 1, pcm, FRAME / 2), 0);
	CHECK_EQ(readies, 0);
	CHECK_EQ(bridge_say(b, 1, pcm + FRAME / 2, FRAME / 2), 0);
	CHECK_EQ(readies, 1);
	CHECK_EQ(say_frames(b, 1, 1, 2), 0);
	CHECK_EQ(bridge_say_end(b, 1), 0);
	CHECK_EQ(readies, 1);

	CHECK_EQ(bridge_agent.audio_early(b, out, FRAME), FRAME);
	CHECK_EQ(out[0], 1000);
	CHECK(bridge_talking(b));
	CHECK_EQ(events(b, BRIDGE_EV_SPEAKING, &ev), 1);
	CHECK_EQ(ev.utterance, 1);
	/* the tick the early frame stood for takes no audio_out; the next
	 * ones go on from the second frame */
	clock_us += 20000;
	CHECK_EQ(tick(b, NULL, out), FRAME);
	CHECK_EQ(out[0], 1001);
	CHECK_EQ(tick(b, NULL, out), FRAME);
	CHECK_EQ(out[0], 1002);
	CHECK_EQ(tick(b, NULL, out), 0);
	CHECK_EQ(events(b, BRIDGE_EV_PLAYED, &ev), 1);
	CHECK_EQ(ev.heard_ms, 60);

	/* the next utterance is told again */
	CHECK_EQ(say_frames(b, 2, 0, 1), 0);
	CHECK_EQ(readies, 2);
	bridge_agent.stop(b);
	return 0;
}

int main(void)
{
	if (voice_make() || !voice_len) {
		printf("FAIL setup: cannot synthesize the caller's voice\n");
		return 1;
	}
	RUN(plays_in_order_with_marks);
	RUN(partial_frame_is_padded);
	RUN(barge_in_stops_and_cuts);
	RUN(blip_pauses_then_resumes);
	RUN(onset_again_soon_stays_paused);
	RUN(silence_drops_queued);
	RUN(voice_to_voice_and_audio_up);
	RUN(first_frame_goes_early);
	free(voice);
	return test_failures ? 1 : 0;
}
