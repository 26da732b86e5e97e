/*
 * The line between a call and an external bot: the caller's frames as
 * mu-law (silence for a missing frame), the bot's audio played a frame a
 * tick with a short tail played after one tick's wait, marks returned only
 * once the audio before them has been played, and clear dropping what was
 * sent before it (and returning its marks at once) but not what came
 * after. Overflows are refused and counted.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mstream/bot_line.h"
#include "core/g711.h"

#include "test.h"

#define F BOT_LINE_FRAME

static void tone(int16_t *pcm, size_t n, int16_t amp)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)((i % 8 < 4) ? amp : -amp);
}

TEST(caller_frames)
{
	struct bot_line l;
	int16_t pcm[F];
	uint8_t want[F], got[F];

	CHECK_EQ(bot_line_init(&l, 1000, 100), 0);
	CHECK(!bot_line_take(&l, got));
	tone(pcm, F, 8000);
	g711_ulaw_encode(want, pcm, F);
	bot_line_in(&l, pcm, F);
	bot_line_in(&l, NULL, F);
	CHECK(bot_line_take(&l, got));
	CHECK(!memcmp(got, want, F));
	CHECK(bot_line_take(&l, got));
	for (size_t i = 0; i < F; i++)
		CHECK_EQ(got[i], 0xFF);
	CHECK(!bot_line_take(&l, got));

	/* 1 s rounds up to 8192 bytes: 51 frames, the rest counted. */
	for (int i = 0; i < 60; i++)
		bot_line_in(&l, pcm, F);
	CHECK_EQ(l.up_dropped, 9);
	bot_line_drop_up(&l);
	CHECK(!bot_line_take(&l, got));
	bot_line_reset(&l);
	return 0;
}

TEST(bot_audio_and_tail)
{
	struct bot_line l;
	int16_t pcm[F], out[F], want[F];
	uint8_t bytes[400];

	CHECK_EQ(bot_line_init(&l, 100, 1000), 0);
	CHECK_EQ(bot_line_out(&l, out, F), 0);
	tone(pcm, F, 3000);
	g711_ulaw_encode(bytes, pcm, F);
	g711_ulaw_encode(bytes + F, pcm, F);
	g711_ulaw_encode(bytes + 2 * F, pcm, 80);
	g711_ulaw_decode(want, bytes, F);
	CHECK_EQ(bot_line_put(&l, bytes, 400), 0);
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK(!memcmp(out, want, sizeof(out)));
	CHECK_EQ(bot_line_out(&l, out, F), F);
	/* 80 bytes left: one tick for the rest of the frame, then played. */
	CHECK_EQ(bot_line_out(&l, out, F), 0);
	CHECK_EQ(bot_line_out(&l, out, F), 80);
	CHECK(!memcmp(out, want, 80 * sizeof(int16_t)));
	CHECK_EQ(bot_line_out(&l, out, F), 0);
	/* The rest arriving during the wait makes a whole frame. */
	CHECK_EQ(bot_line_put(&l, bytes, 100), 0);
	CHECK_EQ(bot_line_out(&l, out, F), 0);
	CHECK_EQ(bot_line_put(&l, bytes, 60), 0);
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK_EQ(atomic_load(&l.played), 560);
	bot_line_reset(&l);
	return 0;
}

TEST(marks_after_their_audio)
{
	struct bot_line l;
	uint8_t bytes[2 * F];
	int16_t out[F];
	char name[BOT_LINE_MARK_NAME];

	memset(bytes, 0x80, sizeof(bytes));
	CHECK_EQ(bot_line_init(&l, 100, 1000), 0);
	/* Nothing to play: the mark is due at once. */
	CHECK_EQ(bot_line_mark(&l, "now"), 0);
	CHECK(bot_line_mark_due(&l, name));
	CHECK_STR(name, "now");

	CHECK_EQ(bot_line_put(&l, bytes, 2 * F), 0);
	CHECK_EQ(bot_line_mark(&l, "a"), 0);
	CHECK_EQ(bot_line_put(&l, bytes, F), 0);
	CHECK_EQ(bot_line_mark(&l, "b"), 0);
	CHECK(!bot_line_mark_due(&l, name));
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK(!bot_line_mark_due(&l, name));
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK(bot_line_mark_due(&l, name));
	CHECK_STR(name, "a");
	CHECK(!bot_line_mark_due(&l, name));
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK(bot_line_mark_due(&l, name));
	CHECK_STR(name, "b");
	CHECK(!bot_line_mark_due(&l, name));
	bot_line_reset(&l);
	return 0;
}

TEST(clear_drops_before_keeps_after)
{
	struct bot_line l;
	uint8_t old[3 * F], fresh[F];
	int16_t out[F];
	char name[BOT_LINE_MARK_NAME];

	memset(old, 0x10, sizeof(old));
	memset(fresh, 0x90, sizeof(fresh));
	CHECK_EQ(bot_line_init(&l, 100, 1000), 0);
	CHECK_EQ(bot_line_put(&l, old, sizeof(old)), 0);
	CHECK_EQ(bot_line_mark(&l, "m1"), 0);
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK(!bot_line_mark_due(&l, name));

	/* The mark comes back with the clear, before any tick. */
	bot_line_clear(&l);
	CHECK(bot_line_mark_due(&l, name));
	CHECK_STR(name, "m1");
	/* Sent after the clear, before the media thread saw it: kept. */
	CHECK_EQ(bot_line_put(&l, fresh, F), 0);
	CHECK_EQ(bot_line_mark(&l, "m2"), 0);
	CHECK(!bot_line_mark_due(&l, name));
	CHECK_EQ(bot_line_out(&l, out, F), F);
	CHECK_EQ(out[0], g711_ulaw_to_linear(0x90));
	CHECK_EQ(l.cleared, 2 * F);
	CHECK(bot_line_mark_due(&l, name));
	CHECK_STR(name, "m2");
	CHECK_EQ(bot_line_out(&l, out, F), 0);
	bot_line_reset(&l);
	return 0;
}

TEST(overflow_counted)
{
	struct bot_line l;
	uint8_t bytes[1024] = {0};
	char name[BOT_LINE_MARK_NAME + 1];

	/* 100 ms rounds up to 1024 bytes. */
	CHECK_EQ(bot_line_init(&l, 100, 100), 0);
	CHECK_EQ(bot_line_put(&l, bytes, 1000), 0);
	CHECK_EQ(bot_line_put(&l, bytes, 100), ENOSPC);
	CHECK_EQ(l.down_dropped, 100);
	CHECK_EQ(l.written, 1000);
	for (int i = 0; i < BOT_LINE_MARKS; i++)
		CHECK_EQ(bot_line_mark(&l, "m"), 0);
	CHECK_EQ(bot_line_mark(&l, "m"), ENOSPC);
	CHECK_EQ(l.marks_dropped, 1);
	memset(name, 'x', BOT_LINE_MARK_NAME);
	name[BOT_LINE_MARK_NAME] = '\0';
	CHECK_EQ(bot_line_mark(&l, name), ENAMETOOLONG);
	CHECK_EQ(bot_line_init(&l, 0, 100), EINVAL);
	bot_line_reset(&l);
	return 0;
}

int main(void)
{
	RUN(caller_frames);
	RUN(bot_audio_and_tail);
	RUN(marks_after_their_audio);
	RUN(clear_drops_before_keeps_after);
	RUN(overflow_counted);
	TEST_EXIT();
}
