/*
 * The audio line between a call's media thread and an external bot's
 * WebSocket on the signalling thread (agent/bot.h), with the bot's marks
 * and clears. Twilio's rules: a mark comes back once the audio the bot
 * sent before it has been played; "clear" drops the audio buffered so far
 * and sends every pending mark back at once, while what the bot sends
 * after the clear plays.
 *
 * Two single-producer rings of G.711 mu-law: up carries the caller's
 * frames (media thread writes, signalling reads), down the bot's audio
 * (signalling writes, media reads). Positions in the bot's audio count
 * bytes since the start. Each function says which thread may call it;
 * none blocks, and only init allocates.
 */
#ifndef VOXGATE_MSTREAM_BOT_LINE_H
#define VOXGATE_MSTREAM_BOT_LINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/ring.h"

#define BOT_LINE_FRAME     160 /* 20 ms at 8 kHz, one byte a sample */
#define BOT_LINE_MARKS     64  /* marks waiting for their audio */
#define BOT_LINE_MARK_NAME 64

struct bot_line_mark {
	char name[BOT_LINE_MARK_NAME];
	uint64_t pos; /* due once the bot's audio is played up to here */
};

struct bot_line {
	struct ring up, down;
	/* Signalling → media: drop the bot's audio before this position. */
	atomic_uint_least64_t clear_to;
	/* Media → signalling: the bot's audio played or dropped so far. */
	atomic_uint_least64_t played;
	/* Media thread only. */
	uint64_t consumed;
	unsigned waited;     /* ticks a partial frame has waited for more */
	uint64_t up_dropped; /* caller frames the up ring had no room for */
	uint64_t cleared;    /* bytes of the bot's audio dropped by clears */
	/* Signalling thread only. */
	uint64_t written;
	struct bot_line_mark marks[BOT_LINE_MARKS];
	size_t mark_head, mark_count;
	uint64_t down_dropped;  /* bytes of the bot's audio with no room */
	uint64_t marks_dropped; /* marks beyond BOT_LINE_MARKS */
};

/* An embedded struct: up holds up_ms and down down_ms of audio; both
 * buffers are owned by the line until bot_line_reset. 0 or ENOMEM /
 * EINVAL. */
int bot_line_init(struct bot_line *l, unsigned up_ms, unsigned down_ms);
void bot_line_reset(struct bot_line *l);

/* Media thread: one frame heard from the caller, 16-bit PCM (NULL when
 * nothing arrived: the bot gets silence, it expects a steady stream). */
void bot_line_in(struct bot_line *l, const int16_t *pcm, size_t samples);
/* Media thread: the next frame of the bot's audio as PCM; returns the
 * samples written, 0 when there is nothing to play. A partial frame is
 * played after it has waited one tick for the rest. */
size_t bot_line_out(struct bot_line *l, int16_t *pcm, size_t samples);

/* Signalling thread: takes one frame of the caller's audio; false when
 * no whole frame is waiting. */
bool bot_line_take(struct bot_line *l, uint8_t frame[BOT_LINE_FRAME]);
/* Signalling thread: drops the caller's audio waiting (before the bot
 * is there to take it). */
void bot_line_drop_up(struct bot_line *l);
/* Signalling thread: the bot's audio; all or nothing, ENOSPC (counted)
 * when the down ring is full. */
int bot_line_put(struct bot_line *l, const uint8_t *mulaw, size_t n);
/* Signalling thread: a mark after the audio put so far; ENOSPC
 * (counted) when BOT_LINE_MARKS are already waiting, ENAMETOOLONG when
 * the name does not fit. */
int bot_line_mark(struct bot_line *l, const char *name);
/* Signalling thread: drops the bot's audio put so far and makes every
 * waiting mark due. */
void bot_line_clear(struct bot_line *l);
/* Signalling thread: pops the oldest mark if it is due, into name
 * (BOT_LINE_MARK_NAME bytes); false when none is. */
bool bot_line_mark_due(struct bot_line *l, char *name);

#endif
