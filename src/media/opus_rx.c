/*
 * Receive side of one published WebRTC audio track (opus_rx.h).
 *
 * DESIGN. put checks the payload's framing (opus_packet_parse: the TOC,
 * the frame count and every frame length against the bytes there are)
 * and files it in the jitter buffer with its duration; so whatever the
 * decoder sees later has passed libopus's own parser and lasts at most
 * 120 ms, which the decode buffer holds. get pulls packets until the
 * FIFO of 8 kHz samples holds a frame: a packet decodes into `pcm` at
 * 16 kHz, speexdsp brings it to 8 kHz into the FIFO. The FIFO is only
 * filled while it holds less than a frame, so it never holds more than
 * a frame plus one packet's worth (120 ms). The jitter buffer counts in
 * the RTP clock, 48 kHz for Opus whatever the rate decoded at.
 *
 * Why 16 kHz: libopus decoding at a lower rate drops what lies above
 * its Nyquist, and at 8 kHz lets a coded 4.3 kHz come back at 3.7 kHz
 * only 29 dB down; at 16 kHz all it lets through lies above 4 kHz, where
 * speexdsp's filter takes out more than 70 dB. And it costs two thirds
 * of decoding at 48 kHz and resampling from there (bench/README.md,
 * "Opus receive"), which 100 tracks on a media thread feel every tick.
 *
 * The resampler runs without skip_zeros, so every 2 samples in give one
 * out from the first call on: FIFO levels stay multiples of 2.5 ms,
 * the step libopus conceals in.
 *
 * LOSS. A sequence number the buffer gives up on is rebuilt from the next
 * packet's in-band FEC (LBRR in SILK and hybrid packets) when that packet
 * is already held and has it; otherwise libopus conceals it. A frame that
 * was due while the buffer ran dry is concealed too. Concealment stops
 * after PLC_MAX_SAMPLES in a row, as on the phone side (media_int.h):
 * beyond that a guess is worse than silence.
 */
#include <errno.h>
#include <string.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <re.h>

#include "media/jitter.h"
#include "media/opus_rx.h"

#define RTP_RATE   48000 /* Opus's RTP clock (RFC 7587) */
#define DEC_RATE   16000
#define DECIMATION (DEC_RATE / OPUS_RX_RATE)
#define DEC_MAX    (120 * DEC_RATE / 1000) /* the longest Opus packet */
#define STEP       (DEC_RATE / 400)        /* 2.5 ms: the unit of concealment */
/* Less than a frame when it is filled, plus the longest packet. */
#define FIFO_SAMPLES    (OPUS_RX_FRAME + DEC_MAX / DECIMATION)
#define PLC_MAX_SAMPLES (60 * DEC_RATE / 1000)
/* speexdsp quality 4: flat to 3.4 kHz and everything from 4.3 kHz up
 * (what would fold back into the band) down by more than 70 dB; see
 * bench/README.md, "Opus receive". */
#define RESAMPLE_QUALITY 4
/* The jitter ring holds the deepest the buffer gets (its maximum and a
 * packet over) in 10 ms packets, the shortest WebRTC senders use
 * (minptime=10), with REORDER_SLACK packets of reordering beyond; a ring
 * for 2.5 ms packets would cost four times the memory for a sender that
 * does not exist. Shorter packets still play, through a shallower
 * buffer. */
#define SHORT_PTIME_MS 10
#define REORDER_SLACK  4
/* Packets pulled for one frame: 8 of 2.5 ms fill it; the rest is slack
 * against a stream that only ever yields nothing. */
#define PULLS_MAX 16

_Static_assert(DEC_RATE % OPUS_RX_RATE == 0, "an integer decimation");
_Static_assert(RTP_RATE % DEC_RATE == 0, "whole RTP samples decoded");
_Static_assert(PLC_MAX_SAMPLES % STEP == 0, "concealment in whole steps");

struct opus_rx {
	struct opus_rx_stats stats;
	struct jitter *jb;
	OpusDecoder *dec;
	SpeexResamplerState *rs;
	uint32_t plc_run; /* samples decoded filled in since a packet played */
	bool primed;      /* a packet played: concealment has a voice */
	enum opus_rx_got last; /* what went into the FIFO last */
	size_t fifo_len;
	int16_t pcm[DEC_MAX];
	int16_t fifo[FIFO_SAMPLES];
};

/* The smallest ring (jitter.h: a power of two of at least 16) whose
 * restart distance, 25/32 of it, covers the deepest buffer. */
static size_t ring_slots(uint32_t max_ms)
{
	size_t need =
	    (max_ms + 2 * SHORT_PTIME_MS) / SHORT_PTIME_MS + REORDER_SLACK;
	size_t slots = 16;

	while (slots * 25 / 32 < need)
		slots *= 2;
	return slots;
}

static void destructor(void *arg)
{
	struct opus_rx *rx = arg;

	mem_deref(rx->jb);
	if (rx->dec)
		opus_decoder_destroy(rx->dec);
	if (rx->rs)
		speex_resampler_destroy(rx->rs);
}

int opus_rx_alloc(struct opus_rx **rxp, const struct opus_rx_prm *prm)
{
	struct opus_rx *rx;
	int err, oerr;

	if (!rxp || !prm || prm->jitter_min_ms > prm->jitter_max_ms)
		return EINVAL;

	rx = mem_zalloc(sizeof(*rx), destructor);
	if (!rx)
		return ENOMEM;

	err = jitter_alloc_sized(&rx->jb, RTP_RATE, prm->jitter_min_ms,
	                         prm->jitter_max_ms, OPUS_RX_MAX_PAYLOAD,
	                         ring_slots(prm->jitter_max_ms));
	if (err)
		goto out;
	/* One channel: libopus mixes a stereo stream down itself. */
	rx->dec = opus_decoder_create(DEC_RATE, 1, &oerr);
	rx->rs = speex_resampler_init(1, DEC_RATE, OPUS_RX_RATE,
	                              RESAMPLE_QUALITY, &oerr);
	if (!rx->dec || !rx->rs)
		err = ENOMEM;

out:
	if (err)
		mem_deref(rx);
	else
		*rxp = rx;
	return err;
}

enum opus_rx_put_result opus_rx_put(struct opus_rx *rx, uint16_t seq,
                                    uint32_t ts, const uint8_t *payload,
                                    size_t len, uint64_t arrival_us)
{
	const uint8_t *frames[48];
	opus_int16 sizes[48];
	int n, per_frame;

	if (!payload || !len || len > OPUS_RX_MAX_PAYLOAD) {
		rx->stats.malformed++;
		return OPUS_RX_PUT_MALFORMED;
	}
	/* The whole framing, not just the TOC: libopus refuses frame
	 * lengths past the end, bad padding and more than 120 ms. */
	n = opus_packet_parse(payload, (opus_int32)len, NULL, frames, sizes,
	                      NULL);
	per_frame = opus_packet_get_samples_per_frame(payload, RTP_RATE);
	if (n <= 0 || per_frame <= 0 || n * per_frame > 120 * RTP_RATE / 1000) {
		rx->stats.malformed++;
		return OPUS_RX_PUT_MALFORMED;
	}

	switch (jitter_put(rx->jb, seq, ts, (uint32_t)(n * per_frame), 0,
	                   arrival_us, payload, len)) {
	case JITTER_PUT_OK:
		rx->stats.received++;
		return OPUS_RX_PUT_OK;
	case JITTER_PUT_DUPLICATE:
		rx->stats.duplicate++;
		return OPUS_RX_PUT_DUPLICATE;
	case JITTER_PUT_LATE:
		rx->stats.late++;
		return OPUS_RX_PUT_LATE;
	case JITTER_PUT_TOO_LARGE:
	default:
		rx->stats.malformed++;
		return OPUS_RX_PUT_MALFORMED;
	}
}

/* A duration in the RTP clock, in samples decoded. */
static uint32_t decoded(uint32_t rtp_samples)
{
	return rtp_samples / (RTP_RATE / DEC_RATE);
}

/* n samples of pcm (DEC_RATE) into the FIFO at 8 kHz. */
static void to_fifo(struct opus_rx *rx, size_t n)
{
	spx_uint32_t in_len = (spx_uint32_t)n;
	spx_uint32_t out_len = (spx_uint32_t)(FIFO_SAMPLES - rx->fifo_len);

	if (!n)
		return;
	speex_resampler_process_int(rx->rs, 0, rx->pcm, &in_len,
	                            rx->fifo + rx->fifo_len, &out_len);
	rx->fifo_len += out_len;
}

/* The samples decoded, in whole steps, that give at least n at 8 kHz. */
static uint32_t steps_for(size_t n)
{
	return (uint32_t)((n * DECIMATION + STEP - 1) / STEP * STEP);
}

/* Fills samples (DEC_RATE, whole steps) that were due and never came:
 * libopus's concealment, then silence past PLC_MAX_SAMPLES in a row or
 * before anything played. */
static void conceal(struct opus_rx *rx, uint32_t samples)
{
	uint32_t k = 0;

	if (samples > DEC_MAX)
		samples = DEC_MAX;
	if (rx->primed && rx->plc_run < PLC_MAX_SAMPLES) {
		k = PLC_MAX_SAMPLES - rx->plc_run;
		if (k > samples)
			k = samples;
		if (opus_decode(rx->dec, NULL, 0, rx->pcm, (int)k, 0) == (int)k)
			rx->stats.concealed++;
		else
			k = 0;
		rx->plc_run += k;
	}
	memset(rx->pcm + k, 0, (samples - k) * sizeof(int16_t));
	to_fifo(rx, samples);
}

/* In-band FEC is only in SILK and hybrid packets: the LBRR flag of the
 * first frame's first channel (and of the second's, in stereo) follows
 * the voice-activity flag of each 20 ms SILK frame, at the top of the
 * range coder's first byte, where one-in-two flags are plain bits. */
static bool has_fec(const uint8_t *p, size_t len)
{
	const uint8_t *frames[48];
	opus_int16 sizes[48];
	int per_frame, silk_frames;
	bool lbrr;

	if (p[0] >> 3 >= 16) /* configs 16-31: CELT only */
		return false;
	if (opus_packet_parse(p, (opus_int32)len, NULL, frames, sizes, NULL) <=
	        0 ||
	    sizes[0] < 1)
		return false;
	per_frame = opus_packet_get_samples_per_frame(p, DEC_RATE);
	silk_frames =
	    per_frame > DEC_RATE / 50 ? per_frame / (DEC_RATE / 50) : 1;
	lbrr = (frames[0][0] >> (7 - silk_frames)) & 1;
	if (opus_packet_get_nb_channels(p) == 2)
		lbrr = lbrr || ((frames[0][0] >> (6 - 2 * silk_frames)) & 1);
	return lbrr;
}

/* The lost packet `lost` rebuilt from the FEC of the one behind it, when
 * that one is held and carries it. */
static bool recover(struct opus_rx *rx, const struct jitter_frame *lost)
{
	struct jitter_frame next;
	uint32_t gap = decoded(lost->samples);
	int n;

	if (!gap || gap > DEC_MAX || !jitter_peek(rx->jb, &next) ||
	    next.seq != (uint16_t)(lost->seq + 1) ||
	    !has_fec(next.payload, next.len))
		return false;
	/* FEC covers one frame of the next packet's: a shorter gap than
	 * that would only be concealed, under the FEC's name. */
	if ((int)gap <
	    opus_packet_get_samples_per_frame(next.payload, DEC_RATE))
		return false;
	/* libopus conceals what the FEC does not cover (the start of a
	 * gap longer than the next packet's frame) and decodes the rest. */
	n = opus_decode(rx->dec, next.payload, (opus_int32)next.len, rx->pcm,
	                (int)gap, 1);
	if (n != (int)gap)
		return false;
	rx->stats.fec++;
	rx->plc_run = 0;
	to_fifo(rx, (size_t)n);
	return true;
}

/* Returns false when the decoder refused the packet: then it is
 * concealed like a lost one. */
static bool play(struct opus_rx *rx, const struct jitter_frame *f)
{
	int n = opus_decode(rx->dec, f->payload, (opus_int32)f->len, rx->pcm,
	                    DEC_MAX, 0);

	if (n <= 0) {
		rx->stats.undecodable++;
		conceal(rx, decoded(f->samples));
		return false;
	}
	rx->stats.decoded++;
	rx->primed = true;
	rx->plc_run = 0;
	to_fifo(rx, (size_t)n);
	return true;
}

enum opus_rx_got opus_rx_get(struct opus_rx *rx, int16_t out[OPUS_RX_FRAME])
{
	enum opus_rx_got got = rx->last;
	bool heard = false, filled = false, dry = false;
	struct jitter_frame f;

	for (int pulls = 0; !dry && rx->fifo_len < OPUS_RX_FRAME; pulls++) {
		if (pulls == PULLS_MAX) {
			filled = true;
			break;
		}
		switch (jitter_get(rx->jb, &f)) {
		case JITTER_GET_FRAME:
			if (play(rx, &f))
				heard = true;
			else
				filled = true;
			break;
		case JITTER_GET_LOST:
			rx->stats.lost++;
			if (recover(rx, &f)) {
				heard = true;
			} else {
				conceal(rx, decoded(f.samples));
				filled = true;
			}
			break;
		case JITTER_GET_EMPTY:
			/* Due and not there: late, lost at the end of a
			 * burst, the buffer deepening, or the talker gone
			 * quiet (DTX sends nothing). */
			if (!rx->fifo_len &&
			    (!rx->primed || rx->plc_run >= PLC_MAX_SAMPLES)) {
				memset(out, 0, OPUS_RX_FRAME * sizeof(int16_t));
				rx->last = OPUS_RX_NONE;
				return OPUS_RX_NONE;
			}
			conceal(rx, steps_for(OPUS_RX_FRAME - rx->fifo_len));
			filled = true;
			dry = true;
			break;
		}
	}
	if (rx->fifo_len < OPUS_RX_FRAME) {
		memset(rx->fifo + rx->fifo_len, 0,
		       (OPUS_RX_FRAME - rx->fifo_len) * sizeof(int16_t));
		rx->fifo_len = OPUS_RX_FRAME;
	}

	memcpy(out, rx->fifo, OPUS_RX_FRAME * sizeof(int16_t));
	rx->fifo_len -= OPUS_RX_FRAME;
	memmove(rx->fifo, rx->fifo + OPUS_RX_FRAME,
	        rx->fifo_len * sizeof(int16_t));

	if (filled)
		got = OPUS_RX_CONCEALED;
	else if (heard)
		got = OPUS_RX_AUDIO;
	rx->last = got;
	rx->stats.frames++;
	return got;
}

void opus_rx_restart(struct opus_rx *rx)
{
	jitter_restart(rx->jb);
	opus_decoder_ctl(rx->dec, OPUS_RESET_STATE);
	speex_resampler_reset_mem(rx->rs);
	rx->fifo_len = 0;
	rx->plc_run = 0;
	rx->primed = false;
	rx->last = OPUS_RX_NONE;
}

void opus_rx_stats(const struct opus_rx *rx, struct opus_rx_stats *st)
{
	const struct jitter_stats *js = jitter_stats(rx->jb);

	*st = rx->stats;
	st->discarded = js->discarded;
	st->underrun = js->underrun;
}
