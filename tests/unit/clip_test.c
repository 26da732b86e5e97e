/*
 * The clip agent and the prompt tones: a clip is played once, in order,
 * then the agent is silent; tones have the asked length and pitch and
 * start and end at zero, so the prompt does not click.
 */
#include <errno.h>
#include <stdlib.h>

#include "agent/clip.h"

#include "test.h"

#define FRAME 160

TEST(clip_plays_once)
{
	int16_t clip[400], out[FRAME];
	void *st = NULL;
	size_t got = 0, n;

	for (size_t i = 0; i < 400; i++)
		clip[i] = (int16_t)(i * 3);
	CHECK_EQ(agent_clip_start(&st, clip, 400), 0);
	for (int f = 0; f < 3; f++) {
		agent_clip.audio_in(st, NULL, FRAME, 0);
		n = agent_clip.audio_out(st, out, FRAME);
		CHECK_EQ(n, f < 2 ? FRAME : 80);
		for (size_t i = 0; i < n; i++)
			CHECK_EQ(out[i], clip[got + i]);
		got += n;
	}
	CHECK_EQ(agent_clip.audio_out(st, out, FRAME), 0);
	agent_clip.stop(st);
	return 0;
}

TEST(clip_empty_and_bad_arguments)
{
	int16_t out[FRAME];
	void *st = NULL;

	CHECK_EQ(agent_clip_start(&st, NULL, 0), 0);
	CHECK_EQ(agent_clip.audio_out(st, out, FRAME), 0);
	agent_clip.stop(st);
	CHECK_EQ(agent_clip_start(NULL, out, FRAME), EINVAL);
	CHECK_EQ(agent_clip_start(&st, NULL, 10), EINVAL);
	return 0;
}

/* Zero crossings over a stretch give its frequency. */
static unsigned crossings(const int16_t *pcm, size_t n)
{
	unsigned c = 0;

	for (size_t i = 1; i < n; i++)
		c += (pcm[i - 1] < 0) != (pcm[i] < 0);
	return c;
}

TEST(tones_length_pitch_and_ramps)
{
	const struct agent_tone t[] = {{1000, 100}, {0, 50}, {500, 200}};
	int16_t *pcm = NULL;
	size_t n = 0, peak = 0;
	unsigned c;

	CHECK_EQ(agent_tones(t, 3, &pcm, &n), 0);
	CHECK_EQ(n, 800 + 400 + 1600);
	/* 1000 Hz for 0.1 s crosses zero about 200 times. */
	c = crossings(pcm, 800);
	CHECK(c >= 195 && c <= 205);
	c = crossings(pcm + 1200, 1600);
	CHECK(c >= 195 && c <= 205);
	for (size_t i = 800; i < 1200; i++)
		CHECK_EQ(pcm[i], 0);
	CHECK_EQ(pcm[0], 0);
	CHECK(abs(pcm[799]) < 400);
	CHECK(abs(pcm[1200]) < 400);
	for (size_t i = 0; i < n; i++)
		if ((size_t)abs(pcm[i]) > peak)
			peak = (size_t)abs(pcm[i]);
	CHECK(peak > 7000 && peak <= 8000);
	free(pcm);

	CHECK_EQ(agent_tones(t, 0, &pcm, &n), EINVAL);
	CHECK_EQ(agent_tones(NULL, 1, &pcm, &n), EINVAL);
	return 0;
}

int main(void)
{
	RUN(clip_plays_once);
	RUN(clip_empty_and_bad_arguments);
	RUN(tones_length_pitch_and_ramps);
	return test_failures ? 1 : 0;
}
