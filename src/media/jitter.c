/*
 * Inbound jitter buffer for one RTP stream.
 *
 * DESIGN: a ring of `slots` slots (a power of two) indexed by
 * seq & (slots - 1), each with room for the largest payload (in a block
 * after the ring, so both are sized per stream), allocated once in
 * jitter_alloc. `next` is the sequence number to play next; before the
 * first playout it is the lowest one held, so early reordering still
 * comes out in order. Every held packet lies in [next, next + far]
 * (anything further is treated as a stream restart), and far < slots, so
 * a slot that is in use always holds the sequence number that maps to it.
 *
 * Sequence numbers are compared as int16_t differences, which handles the
 * 65535 -> 0 wrap without special cases.
 *
 * ADAPTATION. Each audio packet's delay is measured against the quickest
 * packet lately: arrival minus RTP timestamp, both in samples, above the
 * lowest such value (the base). The base is the network's fixed delay and
 * the clocks' offset; what a packet arrives above it is jitter. The target
 * delay is the decaying peak of that jitter, kept within [min, max]; it
 * sets how much audio playout (re)starts behind. A clean line therefore
 * costs at most one read period, a jittery one earns the delay it shows.
 * A packet that arrives after its turn had passed holds the next read
 * (one frame more behind the head); a surplus of a whole frame above the
 * target for SHRINK_READS reads in a row drops one packet, so the delay
 * comes back down once a burst of jitter is over.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>

#include "media/jitter.h"

/* jitter_alloc's ring: 2.5 s of 20 ms packets. The seq distance that
 * means the sender restarted is 25/32 of the ring (100 of 128), short of
 * it by the reordering a restart can still show. */
#define JITTER_SLOTS     128
#define JITTER_SLOTS_MIN 16
#define JITTER_SLOTS_MAX 1024

/* 0.5 s of 20 ms reads with a frame to spare before one packet is dropped:
 * short enough to give back a burst's delay, long enough that a steady
 * line never swings between dropping and holding. */
#define SHRINK_READS 25
/* The jitter peak loses 1/128 per packet: it halves in under 2 s at 20 ms. */
#define PEAK_DECAY_SHIFT 7
#define PEAK_FRAC        8 /* the peak is kept in 1/256 samples */
/* And at least 1/16 sample per packet, so its last samples go too. */
#define PEAK_DECAY_LEAST (1 << PEAK_FRAC >> 4)
/* The base rises one sample every 8 packets (~780 ppm at 8 kHz at 20 ms),
 * so a sender whose clock runs slow is not taken for growing jitter. */
#define BASE_CREEP_PACKETS 8

struct slot {
	uint8_t *payload; /* max_payload bytes of the block after the ring */
	uint64_t arrival_us;
	uint32_t ts;
	uint32_t samples;
	uint16_t seq;
	uint16_t len;
	uint8_t pt;
	bool used;
};

struct jitter {
	struct jitter_stats stats;
	uint64_t min_samples;
	uint64_t max_samples;
	uint64_t depth; /* samples held */
	/* Duration of the latest packet: the delay a packet has waited when
	 * it plays is the audio queued behind it, depth minus one packet. */
	uint32_t frame;
	uint32_t held; /* packets held */
	uint16_t next; /* seq to play next; before playout, the lowest held */
	uint16_t high; /* highest seq held, when held > 0 */
	/* The last packet played: concealment continues from it. */
	uint32_t last_ts;
	uint32_t last_samples;
	uint32_t clock_rate;
	uint16_t max_payload;
	/* Adaptation, see the top of the file. */
	uint32_t base; /* lowest arrival - timestamp lately, in samples */
	uint32_t base_age;
	uint64_t peak;    /* decaying jitter peak, in 1/256 samples */
	uint32_t surplus; /* reads in a row with a frame above the target */
	bool have_base;
	bool stretch;  /* a packet came too late: hold the next read */
	bool started;  /* playout has fixed `next`: older packets are late */
	bool playing;  /* releasing packets rather than buffering */
	uint16_t mask; /* slots - 1 */
	int far;       /* seq distance that means the sender restarted */
	struct slot slot[];
};

static int seq_diff(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(a - b);
}

static void forget(struct jitter *jb)
{
	for (size_t i = 0; i <= jb->mask; i++)
		jb->slot[i].used = false;
	jb->depth = 0;
	jb->held = 0;
	jb->last_ts = 0;
	jb->last_samples = 0;
	jb->started = false;
	jb->playing = false;
	jb->have_base = false;
	jb->peak = 0;
	jb->surplus = 0;
	jb->stretch = false;
}

/* The audio above which the oldest is discarded: at least one packet above
 * the start threshold, or a range narrower than a packet could never start
 * playing. */
static uint64_t ceiling(const struct jitter *jb)
{
	return jb->max_samples > jb->min_samples + jb->frame
	           ? jb->max_samples
	           : jb->min_samples + jb->frame;
}

static uint32_t samples_at(const struct jitter *jb, uint64_t us)
{
	return (uint32_t)((us / 1000000u) * jb->clock_rate +
	                  (us % 1000000u) * jb->clock_rate / 1000000u);
}

static void measure(struct jitter *jb, uint32_t ts, uint32_t samples,
                    uint64_t arrival_us)
{
	uint32_t transit = samples_at(jb, arrival_us) - ts;
	int32_t above = (int32_t)(transit - jb->base);
	uint64_t decay;

	/* Telephone-events carry their start time, not the time sent. */
	if (!samples)
		return;
	/* A leap beyond anything worth buffering is a new timeline (a
	 * sender that stopped its clock through silence, say), not jitter:
	 * waiting for it would pin the delay at the maximum. */
	if (!jb->have_base || above < 0 || (uint64_t)above > 2 * ceiling(jb)) {
		jb->base = transit;
		jb->base_age = 0;
		jb->have_base = true;
		above = 0;
	} else if (++jb->base_age == BASE_CREEP_PACKETS) {
		jb->base_age = 0;
		jb->base++;
	}

	decay = (jb->peak >> PEAK_DECAY_SHIFT) + PEAK_DECAY_LEAST;
	jb->peak -= decay < jb->peak ? decay : jb->peak;
	if ((uint64_t)above << PEAK_FRAC > jb->peak)
		jb->peak = (uint64_t)above << PEAK_FRAC;
}

/* The delay to hold: the jitter peak, within [min, max]. */
static uint64_t target(const struct jitter *jb)
{
	uint64_t t = jb->peak >> PEAK_FRAC;

	return t < jb->min_samples   ? jb->min_samples
	       : t > jb->max_samples ? jb->max_samples
	                             : t;
}

static void drop(struct jitter *jb, struct slot *s)
{
	s->used = false;
	jb->held--;
	jb->depth -= s->samples;
}

/* Called with held > 1, so a packet remains and the scans terminate. */
static void discard_oldest(struct jitter *jb)
{
	uint16_t seq = jb->next;

	while (!jb->slot[seq & jb->mask].used)
		seq++;

	/* Once playing, the gap before the discarded packet will never be
	 * played either: those sequence numbers are lost. */
	if (jb->started)
		jb->stats.lost += (uint16_t)(seq - jb->next);

	drop(jb, &jb->slot[seq & jb->mask]);
	jb->stats.discarded++;
	jb->next = (uint16_t)(seq + 1);

	if (!jb->started) {
		while (!jb->slot[jb->next & jb->mask].used)
			jb->next++;
	}
}

int jitter_alloc_sized(struct jitter **jbp, uint32_t clock_rate,
                       uint32_t min_ms, uint32_t max_ms, size_t max_payload,
                       size_t slots)
{
	struct jitter *jb;
	uint8_t *room;

	if (!jbp || !clock_rate || min_ms > max_ms || !max_payload ||
	    max_payload > UINT16_MAX || slots < JITTER_SLOTS_MIN ||
	    slots > JITTER_SLOTS_MAX || (slots & (slots - 1)))
		return EINVAL;

	jb = mem_zalloc(
	    sizeof(*jb) + slots * (sizeof(struct slot) + max_payload), NULL);
	if (!jb)
		return ENOMEM;

	jb->mask = (uint16_t)(slots - 1);
	jb->far = (int)(slots * 25 / 32);
	room = (uint8_t *)&jb->slot[slots];
	for (size_t i = 0; i < slots; i++)
		jb->slot[i].payload = room + i * max_payload;
	jb->min_samples = (uint64_t)clock_rate * min_ms / 1000;
	jb->max_samples = (uint64_t)clock_rate * max_ms / 1000;
	jb->clock_rate = clock_rate;
	jb->max_payload = (uint16_t)max_payload;

	*jbp = jb;
	return 0;
}

int jitter_alloc(struct jitter **jbp, uint32_t clock_rate, uint32_t min_ms,
                 uint32_t max_ms)
{
	return jitter_alloc_sized(jbp, clock_rate, min_ms, max_ms,
	                          JITTER_MAX_PAYLOAD, JITTER_SLOTS);
}

enum jitter_put_result jitter_put(struct jitter *jb, uint16_t seq, uint32_t ts,
                                  uint32_t samples, uint8_t pt,
                                  uint64_t arrival_us, const uint8_t *payload,
                                  size_t len)
{
	struct slot *s;
	int d = 0;

	if (len > jb->max_payload)
		return JITTER_PUT_TOO_LARGE;

	if (jb->started || jb->held) {
		d = seq_diff(seq, jb->next);
		/* Waiting for the old numbering would only produce loss. */
		if (d > jb->far || d < -jb->far) {
			forget(jb);
			d = 0;
		}
	}

	if (!jb->started && !jb->held) {
		jb->next = seq;
		jb->high = seq;
	} else if (d < 0) {
		/* Before playout an older packet just becomes the first one,
		 * unless the newer ones have already moved too far on. */
		if (jb->started || seq_diff(jb->high, seq) > jb->far) {
			measure(jb, ts, samples, arrival_us);
			jb->stats.late++;
			if (jb->playing && jb->depth + jb->frame <= ceiling(jb))
				jb->stretch = true;
			return JITTER_PUT_LATE;
		}
		jb->next = seq;
	}

	s = &jb->slot[seq & jb->mask];
	if (s->used && s->seq == seq) {
		jb->stats.duplicate++;
		return JITTER_PUT_DUPLICATE;
	}
	/* The window above keeps this from happening; were it ever broken,
	 * the packet is refused and counted rather than overwrite another
	 * (or abort on a sender's say-so). */
	if (s->used) {
		jb->stats.late++;
		return JITTER_PUT_LATE;
	}

	measure(jb, ts, samples, arrival_us);
	if (len)
		memcpy(s->payload, payload, len);
	s->arrival_us = arrival_us;
	s->ts = ts;
	s->samples = samples;
	s->seq = seq;
	s->len = (uint16_t)len;
	s->pt = pt;
	s->used = true;

	if (seq_diff(seq, jb->high) > 0)
		jb->high = seq;
	jb->held++;
	jb->depth += samples;
	/* Empty packets (telephone-events) say nothing of the frame size. */
	if (samples)
		jb->frame = samples;
	jb->stats.received++;

	/* Always keep one packet, even one that alone is over the maximum. */
	while (jb->depth > ceiling(jb) + jb->frame && jb->held > 1)
		discard_oldest(jb);

	return JITTER_PUT_OK;
}

static void frame_of(const struct slot *s, struct jitter_frame *out)
{
	out->seq = s->seq;
	out->ts = s->ts;
	out->samples = s->samples;
	out->arrival_us = s->arrival_us;
	out->pt = s->pt;
	out->len = s->len;
	out->payload = s->payload;
}

static enum jitter_get_result play_next(struct jitter *jb, struct slot *s,
                                        struct jitter_frame *out)
{
	frame_of(s, out);
	drop(jb, s);
	jb->last_ts = s->ts;
	jb->last_samples = s->samples;
	jb->next++;
	jb->stats.played++;
	return JITTER_GET_FRAME;
}

static enum jitter_get_result lose_next(struct jitter *jb,
                                        struct jitter_frame *out)
{
	jb->last_ts += jb->last_samples;
	out->seq = jb->next;
	out->ts = jb->last_ts;
	out->samples = jb->last_samples;
	jb->next++;
	jb->stats.lost++;
	return JITTER_GET_LOST;
}

enum jitter_get_result jitter_get(struct jitter *jb, struct jitter_frame *out)
{
	struct slot *s;

	*out = (struct jitter_frame){0};

	if (!jb->playing) {
		if (!jb->held || jb->depth < target(jb) + jb->frame)
			return JITTER_GET_EMPTY;
		jb->playing = true;
		jb->started = true;
		jb->surplus = 0;
		/* Rebuffering has already deepened it. */
		jb->stretch = false;
	}

	/* Counted once per episode: the gets while rebuffering are the
	 * consequence, not new underruns. */
	if (!jb->held) {
		jb->playing = false;
		jb->stats.underrun++;
		return JITTER_GET_EMPTY;
	}

	if (jb->stretch) {
		jb->stretch = false;
		jb->surplus = 0;
		jb->stats.stretched++;
		return JITTER_GET_EMPTY;
	}

	if (jb->depth >= target(jb) + 2 * (uint64_t)jb->frame && jb->held > 1) {
		if (++jb->surplus == SHRINK_READS) {
			jb->surplus = 0;
			discard_oldest(jb);
		}
	} else {
		jb->surplus = 0;
	}

	s = &jb->slot[jb->next & jb->mask];
	/* Held packets are all after `next`, so a missing one is lost. */
	return s->used ? play_next(jb, s, out) : lose_next(jb, out);
}

enum jitter_get_result jitter_get_next(struct jitter *jb,
                                       struct jitter_frame *out)
{
	struct slot *s = &jb->slot[jb->next & jb->mask];

	*out = (struct jitter_frame){0};
	if (!jb->held)
		return JITTER_GET_EMPTY;
	if (!s->used || s->seq != jb->next) {
		/* One packet out of order is waited for; a gap that two
		 * later ones have passed is lost. */
		if (jb->held < 2 || !jb->started)
			return JITTER_GET_EMPTY;
		return lose_next(jb, out);
	}
	if (!jb->playing) {
		jb->playing = true;
		jb->started = true;
		jb->surplus = 0;
		jb->stretch = false;
	}
	return play_next(jb, s, out);
}

bool jitter_peek(const struct jitter *jb, struct jitter_frame *out)
{
	const struct slot *s = &jb->slot[jb->next & jb->mask];

	*out = (struct jitter_frame){0};
	if (!jb->held || !s->used || s->seq != jb->next)
		return false;
	frame_of(s, out);
	return true;
}

void jitter_restart(struct jitter *jb)
{
	forget(jb);
}

uint32_t jitter_target(const struct jitter *jb)
{
	return (uint32_t)target(jb);
}

uint32_t jitter_depth(const struct jitter *jb)
{
	return jb->depth > UINT32_MAX ? UINT32_MAX : (uint32_t)jb->depth;
}

const struct jitter_stats *jitter_stats(const struct jitter *jb)
{
	return &jb->stats;
}
