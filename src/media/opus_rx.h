/*
 * Receive side of one published WebRTC audio track: Opus RTP payloads in,
 * 8 kHz 16-bit mono PCM out, one 20 ms frame per media tick, for mixing
 * into what the phone caller hears.
 *
 * Packets go through the call's jitter buffer (jitter.h, at the 48 kHz
 * RTP clock of Opus) as they arrive; each tick takes one 20 ms frame:
 * Opus decoded at 16 kHz mono (a stereo stream is mixed down by libopus),
 * brought to 8 kHz by speexdsp, with packets of 2.5 to 120 ms cut into
 * 20 ms frames. A lost packet is rebuilt from the next one's in-band FEC
 * when that one is already held and carries it, otherwise concealed by
 * libopus; so is a frame that was due and never came, for a short while.
 *
 * Every payload is hostile: put checks its framing with libopus before
 * the buffer takes it, and refuses (and counts) what is empty, larger
 * than OPUS_RX_MAX_PAYLOAD or not an Opus packet of at most 120 ms.
 *
 * All memory is taken in opus_rx_alloc; put and get never allocate and
 * never block. Owned by the media thread that runs the call; not
 * thread-safe. No global state: tracks on different threads are
 * independent.
 */
#ifndef VOXGATE_MEDIA_OPUS_RX_H
#define VOXGATE_MEDIA_OPUS_RX_H

#include <stddef.h>
#include <stdint.h>

#define OPUS_RX_RATE  8000 /* Hz, of the frames out */
#define OPUS_RX_FRAME 160  /* samples in a frame: 20 ms at 8 kHz */
/* The largest Opus frame (RFC 6716, 3.2.1): 510 kbps in 20 ms packets,
 * 170 kbps in 60 ms ones, where LiveKit's richest preset is 128 kbps. */
#define OPUS_RX_MAX_PAYLOAD 1275

struct opus_rx;

struct opus_rx_prm {
	/* The jitter buffer's delay range, adaptive within it, as for the
	 * phone side (jitter_buffer in the configuration). */
	uint32_t jitter_min_ms;
	uint32_t jitter_max_ms;
};

struct opus_rx_stats {
	uint64_t received;  /* accepted by put */
	uint64_t malformed; /* refused by put: empty, too large, not Opus */
	/* Taken by put, refused by the decoder, and concealed: put's checks
	 * leave none, so any is a finding. */
	uint64_t undecodable;
	uint64_t late;      /* arrived after their turn had passed */
	uint64_t duplicate; /* same sequence number twice */
	uint64_t discarded; /* dropped by the buffer to bound the delay */
	uint64_t decoded;   /* packets decoded */
	uint64_t lost;      /* sequence numbers never received in time */
	uint64_t fec;       /* lost ones rebuilt from the next packet's FEC */
	/* Fill-ins by libopus: lost packets not rebuilt, and frames that
	 * were due and never came. */
	uint64_t concealed;
	uint64_t underrun; /* get found the buffer empty while playing */
	uint64_t frames;   /* frames get returned (not OPUS_RX_NONE) */
};

enum opus_rx_put_result {
	OPUS_RX_PUT_OK = 0,
	OPUS_RX_PUT_MALFORMED,
	OPUS_RX_PUT_LATE,
	OPUS_RX_PUT_DUPLICATE,
};

enum opus_rx_got {
	OPUS_RX_NONE = 0,  /* nothing to hear: out is silence */
	OPUS_RX_AUDIO,     /* a frame of the track's audio */
	OPUS_RX_CONCEALED, /* a frame partly or wholly filled in */
};

/* A mem object: mem_deref. EINVAL for bad arguments, ENOMEM. */
int opus_rx_alloc(struct opus_rx **rxp, const struct opus_rx_prm *prm);

/* One RTP packet's payload as it arrives: its sequence number, its
 * timestamp (48 kHz) and the time it arrived (microseconds, any monotonic
 * clock the caller keeps using). The payload is copied. */
enum opus_rx_put_result opus_rx_put(struct opus_rx *rx, uint16_t seq,
                                    uint32_t ts, const uint8_t *payload,
                                    size_t len, uint64_t arrival_us);

/* The next 20 ms frame, once per tick. out is always written (silence
 * when OPUS_RX_NONE). */
enum opus_rx_got opus_rx_get(struct opus_rx *rx, int16_t out[OPUS_RX_FRAME]);

/* Forget the stream (new SSRC): buffering, decoding and resampling start
 * again. The counters go on. */
void opus_rx_restart(struct opus_rx *rx);

void opus_rx_stats(const struct opus_rx *rx, struct opus_rx_stats *st);

#endif
