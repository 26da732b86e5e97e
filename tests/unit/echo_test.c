/*
 * The audio-echo agent: greeting first, in whole frames, then what was
 * heard, in order; silence and speech over the greeting give no output;
 * calls that are not 8 kHz skip the 8 kHz greeting.
 */
#include <errno.h>
#include <stdlib.h>

#include "agent/agents.h"
#include "agent/echo.h"

#include "test.h"

#define FRAME 160

static const struct agent_ops *ops = &agent_audio_echo;

/* A distinct, known value per sample: seed picks the stream. */
static int16_t wave(unsigned seed, size_t i)
{
	return (int16_t)((int)((seed * 7919u + (unsigned)i * 31u) % 20000u) -
	                 10000);
}

static void fill(int16_t *pcm, size_t n, unsigned seed, size_t from)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = wave(seed, from + i);
}

static int start(void **st, uint32_t rate, const struct agent_assets *assets)
{
	struct agent_call_info info = {
	    .call_id = "c1",
	    .from = "sip:a@example.com",
	    .to = "sip:b@example.com",
	    .sample_rate = rate,
	};

	*st = NULL;
	return ops->start(st, &info, assets);
}

TEST(ops_table)
{
	CHECK_STR(ops->name, "audio-echo");
	CHECK(ops->start && ops->audio_in && ops->audio_out && ops->stop);
	CHECK(agent_find("audio-echo") == &agent_audio_echo);
	CHECK(agent_find("nope") == NULL);
	CHECK(agent_find(NULL) == NULL);
	CHECK(strstr(agent_names(), "audio-echo") != NULL);
	return 0;
}

/* none: a call with nobody on it, silent whatever it hears. */
TEST(none)
{
	const struct agent_ops *none = agent_find("none");
	struct agent_call_info info = {.call_id = "c2", .sample_rate = 8000};
	int16_t in[FRAME] = {1000}, out[FRAME];
	void *st = NULL;

	CHECK(none == &agent_none);
	CHECK(strstr(agent_names(), "none") != NULL);
	CHECK_EQ(none->start(NULL, &info, NULL), EINVAL);
	CHECK_EQ(none->start(&st, &info, NULL), 0);
	CHECK(st != NULL);
	for (int f = 0; f < 3; f++) {
		none->audio_in(st, in, FRAME, 0);
		none->audio_in(st, NULL, FRAME, 0);
		CHECK_EQ(none->audio_out(st, out, FRAME), 0);
	}
	none->stop(st);
	return 0;
}

TEST(start_args)
{
	struct agent_call_info info = {.sample_rate = 8000};
	void *st = NULL;

	CHECK_EQ(ops->start(NULL, &info, NULL), EINVAL);
	CHECK_EQ(ops->start(&st, NULL, NULL), EINVAL);
	CHECK(st == NULL);
	return 0;
}

TEST(echo_without_greeting)
{
	int16_t in[FRAME], out[FRAME];
	void *st;

	CHECK_EQ(start(&st, 8000, NULL), 0);
	CHECK(st != NULL);

	/* Nothing heard yet: nothing to say. */
	CHECK_EQ(ops->audio_out(st, out, FRAME), 0);

	for (unsigned f = 0; f < 5; f++) {
		fill(in, FRAME, 1, f * FRAME);
		ops->audio_in(st, in, FRAME, 0);
		memset(out, 0, sizeof(out));
		CHECK_EQ(ops->audio_out(st, out, FRAME), FRAME);
		for (size_t i = 0; i < FRAME; i++)
			CHECK_EQ(out[i], wave(1, f * FRAME + i));
		/* Said once, not again. */
		CHECK_EQ(ops->audio_out(st, out, FRAME), 0);
	}
	ops->stop(st);
	return 0;
}

TEST(silence_gives_nothing)
{
	int16_t in[FRAME], out[FRAME];
	void *st;

	CHECK_EQ(start(&st, 8000, NULL), 0);
	for (int f = 0; f < 10; f++) {
		ops->audio_in(st, NULL, FRAME, 0);
		CHECK_EQ(ops->audio_out(st, out, FRAME), 0);
	}
	/* A gap does not disturb what follows. */
	fill(in, FRAME, 2, 0);
	ops->audio_in(st, in, FRAME, 0);
	ops->audio_in(st, NULL, FRAME, 0);
	CHECK_EQ(ops->audio_out(st, out, FRAME), FRAME);
	for (size_t i = 0; i < FRAME; i++)
		CHECK_EQ(out[i], wave(2, i));
	CHECK_EQ(ops->audio_out(st, out, FRAME), 0);
	ops->stop(st);
	return 0;
}

/* What is heard comes back in order, whatever the frame sizes. */
TEST(order_and_partial_reads)
{
	int16_t in[400], out[400];
	size_t got = 0;
	void *st;

	CHECK_EQ(start(&st, 8000, NULL), 0);
	fill(in, 400, 3, 0);
	ops->audio_in(st, in, 100, 0);
	ops->audio_in(st, in + 100, 300, 0);

	CHECK_EQ(ops->audio_out(st, out, 150), 150);
	got = 150;
	CHECK_EQ(ops->audio_out(st, out + got, 200), 200);
	got += 200;
	/* Only 50 left: a short read. */
	CHECK_EQ(ops->audio_out(st, out + got, 160), 50);
	got += 50;
	CHECK_EQ(got, 400);
	for (size_t i = 0; i < 400; i++)
		CHECK_EQ(out[i], wave(3, i));
	CHECK_EQ(ops->audio_out(st, out, 160), 0);
	ops->stop(st);
	return 0;
}

/* More than the ring holds: the newest audio is kept, the oldest goes. */
TEST(overflow_keeps_newest)
{
	enum { N = 2400 };
	int16_t *in = malloc(N * sizeof(*in));
	int16_t *out = malloc(N * sizeof(*out));
	size_t n;
	void *st;

	CHECK(in && out);
	CHECK_EQ(start(&st, 8000, NULL), 0);
	fill(in, N, 4, 0);
	for (size_t off = 0; off < N; off += FRAME)
		ops->audio_in(st, in + off, FRAME, 0);
	n = ops->audio_out(st, out, N);
	CHECK(n >= 5 * FRAME && n < N);
	/* The last n samples heard, in order. */
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(out[i], wave(4, N - n + i));
	CHECK_EQ(ops->audio_out(st, out, N), 0);
	ops->stop(st);
	free(in);
	free(out);
	return 0;
}

/* 2.5 frames of greeting: two full frames, a half frame, then echo. */
TEST(greeting_first_then_echo)
{
	enum { G = 400 };
	int16_t greeting[G], in[FRAME], out[FRAME];
	struct agent_assets assets = {greeting, G};
	size_t sizes[] = {FRAME, FRAME, G - 2 * FRAME};
	size_t played = 0;
	void *st;

	fill(greeting, G, 5, 0);
	CHECK_EQ(start(&st, 8000, &assets), 0);

	/* The caller talks all through the greeting, as a media tick does:
	 * audio_in then audio_out. None of it is echoed. */
	for (size_t f = 0; f < 3; f++) {
		fill(in, FRAME, 6, f * FRAME);
		ops->audio_in(st, in, FRAME, 0);
		memset(out, 0, sizeof(out));
		CHECK_EQ(ops->audio_out(st, out, FRAME), sizes[f]);
		for (size_t i = 0; i < sizes[f]; i++)
			CHECK_EQ(out[i], greeting[played + i]);
		played += sizes[f];
	}
	CHECK_EQ(played, G);
	/* Greeting over; what was said over it is gone. */
	CHECK_EQ(ops->audio_out(st, out, FRAME), 0);

	fill(in, FRAME, 7, 0);
	ops->audio_in(st, in, FRAME, 0);
	CHECK_EQ(ops->audio_out(st, out, FRAME), FRAME);
	for (size_t i = 0; i < FRAME; i++)
		CHECK_EQ(out[i], wave(7, i));
	ops->stop(st);
	return 0;
}

/* The greeting is shared read-only audio: each call plays it from the
 * start, and playing it does not change it. */
TEST(greeting_shared_between_calls)
{
	enum { G = 320 };
	int16_t greeting[G], copy[G], out[FRAME];
	struct agent_assets assets = {greeting, G};
	void *a, *b;

	fill(greeting, G, 8, 0);
	memcpy(copy, greeting, sizeof(copy));
	CHECK_EQ(start(&a, 8000, &assets), 0);
	CHECK_EQ(start(&b, 8000, &assets), 0);
	CHECK_EQ(ops->audio_out(a, out, FRAME), FRAME);
	CHECK_EQ(ops->audio_out(a, out, FRAME), FRAME);
	CHECK_EQ(out[0], greeting[FRAME]);
	CHECK_EQ(ops->audio_out(a, out, FRAME), 0);
	CHECK_EQ(ops->audio_out(b, out, FRAME), FRAME);
	CHECK_EQ(out[0], greeting[0]);
	CHECK(memcmp(copy, greeting, sizeof(copy)) == 0);
	ops->stop(a);
	ops->stop(b);
	return 0;
}

/* The greeting is 8 kHz audio: a 16 kHz call goes straight to echo. */
TEST(other_rate_skips_greeting)
{
	int16_t greeting[FRAME], in[2 * FRAME], out[2 * FRAME];
	struct agent_assets assets = {greeting, FRAME};
	void *st;

	fill(greeting, FRAME, 9, 0);
	CHECK_EQ(start(&st, 16000, &assets), 0);
	CHECK_EQ(ops->audio_out(st, out, 2 * FRAME), 0);
	fill(in, 2 * FRAME, 10, 0);
	ops->audio_in(st, in, 2 * FRAME, 0);
	CHECK_EQ(ops->audio_out(st, out, 2 * FRAME), 2 * FRAME);
	for (size_t i = 0; i < 2 * FRAME; i++)
		CHECK_EQ(out[i], wave(10, i));
	ops->stop(st);
	return 0;
}

/* An empty greeting, or none, is no greeting. */
TEST(empty_greeting)
{
	int16_t greeting[1] = {123}, in[FRAME], out[FRAME];
	struct agent_assets empty = {greeting, 0};
	struct agent_assets none = {NULL, 500};
	struct agent_assets *cases[] = {&empty, &none};

	for (size_t c = 0; c < 2; c++) {
		void *st;

		CHECK_EQ(start(&st, 8000, cases[c]), 0);
		CHECK_EQ(ops->audio_out(st, out, FRAME), 0);
		fill(in, FRAME, 11, 0);
		ops->audio_in(st, in, FRAME, 0);
		CHECK_EQ(ops->audio_out(st, out, FRAME), FRAME);
		CHECK_EQ(out[5], wave(11, 5));
		ops->stop(st);
	}
	return 0;
}

int main(void)
{
	RUN(ops_table);
	RUN(none);
	RUN(start_args);
	RUN(echo_without_greeting);
	RUN(silence_gives_nothing);
	RUN(order_and_partial_reads);
	RUN(overflow_keeps_newest);
	RUN(greeting_first_then_echo);
	RUN(greeting_shared_between_calls);
	RUN(other_rate_skips_greeting);
	RUN(empty_greeting);
	TEST_EXIT();
}
