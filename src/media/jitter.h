/*
 * Inbound jitter buffer for one RTP stream.
 *
 * Packets are held by sequence number and released in order once the
 * audio queued behind the next one to play reaches the target delay, so
 * that packet has waited about that long. The target adapts between the
 * minimum and the maximum to the jitter the packets arrive with; when more
 * than the maximum is queued the oldest packets are discarded so latency
 * stays bounded. All memory is taken in jitter_alloc: put and get never
 * allocate.
 *
 * Owned by the media thread that runs the call; not thread-safe.
 */
#ifndef VOXGATE_MEDIA_JITTER_H
#define VOXGATE_MEDIA_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JITTER_MAX_PAYLOAD 480 /* 60 ms of G.711: jitter_alloc's room */

struct jitter;

struct jitter_stats {
	uint64_t received;  /* accepted by put */
	uint64_t played;    /* returned by get as JITTER_FRAME */
	uint64_t lost;      /* sequence numbers never received in time */
	uint64_t late;      /* arrived after their turn had passed */
	uint64_t duplicate; /* same sequence number twice */
	uint64_t discarded; /* dropped to keep the delay under the maximum,
			       or to bring it back to the target */
	uint64_t underrun;  /* get found nothing to play */
	uint64_t stretched; /* gets held back to deepen after a late packet */
};

struct jitter_frame {
	uint16_t seq;
	uint32_t ts;
	uint32_t samples; /* duration of the packet at the clock rate */
	uint64_t arrival_us;
	uint8_t pt;
	size_t len;
	const uint8_t *payload; /* valid until the next put or get */
};

enum jitter_put_result {
	JITTER_PUT_OK = 0,
	JITTER_PUT_DUPLICATE,
	JITTER_PUT_LATE,
	JITTER_PUT_TOO_LARGE,
};

enum jitter_get_result {
	JITTER_GET_FRAME = 0, /* *out holds the next packet */
	JITTER_GET_LOST,      /* the next packet is missing: conceal
				 out->samples of audio */
	JITTER_GET_EMPTY,     /* nothing to play now (buffering, underrun or
				 deepening after a late packet) */
};

/* clock_rate in Hz; min_ms <= max_ms. A mem object: mem_deref. Room for
 * payloads of up to JITTER_MAX_PAYLOAD bytes in 128 slots: 2.5 s of 20 ms
 * packets, the reordering and gaps a sequence number may show before the
 * stream counts as restarted. */
int jitter_alloc(struct jitter **jbp, uint32_t clock_rate, uint32_t min_ms,
                 uint32_t max_ms);
/* The same with room for payloads of up to max_payload bytes (1 to
 * 65535) in `slots` slots (a power of two, 16 to 1024), for codecs whose
 * packets outgrow G.711's: Opus. Every slot has the whole room, so the
 * memory is their product; a stream whose packets are larger wants fewer
 * slots. A sequence number more than 25/32 of the slots ahead of the one
 * to play restarts the stream. */
int jitter_alloc_sized(struct jitter **jbp, uint32_t clock_rate,
                       uint32_t min_ms, uint32_t max_ms, size_t max_payload,
                       size_t slots);

enum jitter_put_result jitter_put(struct jitter *jb, uint16_t seq, uint32_t ts,
                                  uint32_t samples, uint8_t pt,
                                  uint64_t arrival_us, const uint8_t *payload,
                                  size_t len);
enum jitter_get_result jitter_get(struct jitter *jb, struct jitter_frame *out);
/* For a listener that needs no smoothing (a VAD, a recogniser): the next
 * packet at once if it is held, whatever the target delay, starting
 * playout if it had not started (JITTER_GET_FRAME); JITTER_GET_LOST for a
 * missing one that two later packets have passed (one out of order is
 * waited for); else JITTER_GET_EMPTY, and nothing is counted. Mixed with
 * jitter_get on the same buffer, each reads on from where the other
 * left. */
enum jitter_get_result jitter_get_next(struct jitter *jb,
                                       struct jitter_frame *out);
/* The packet held under the next sequence number to play, left in place:
 * right after a JITTER_GET_LOST, the one behind the gap, whose in-band FEC
 * may rebuild the lost audio. false when that number is not held. */
bool jitter_peek(const struct jitter *jb, struct jitter_frame *out);

/* Forget the stream (new SSRC, re-INVITE): buffering starts again. */
void jitter_restart(struct jitter *jb);
/* The delay the buffer aims for now, in samples. */
uint32_t jitter_target(const struct jitter *jb);
/* Audio held right now, in samples. */
uint32_t jitter_depth(const struct jitter *jb);
const struct jitter_stats *jitter_stats(const struct jitter *jb);

#endif
