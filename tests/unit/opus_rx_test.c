/*
 * Opus receive side: a 1 kHz tone encoded here with libopus (mono and
 * stereo, packets of 10 to 120 ms) comes out as 20 ms frames at 8 kHz at
 * the tone's frequency and level; losses are rebuilt or concealed without
 * a gap; reordering within the buffer's delay changes nothing; hostile
 * payloads are refused and counted.
 *
 * Packets arrive on a simulated clock, each when its audio has been
 * captured, and a tick takes one frame every 20 ms, 1 ms after.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <opus/opus.h>
#include <re.h>

#include "media/opus_rx.h"

#include "test.h"

#define TONE_HZ   1000.0
#define TONE_AMP  10000.0
#define MAX_PKTS  400
#define MAX_BYTES 1500
#define MAX_TICKS 700

struct pkt {
	uint8_t data[MAX_BYTES];
	size_t len;
	uint16_t seq;
	uint32_t ts;
	uint64_t arrival_us;
	bool drop;
};

static struct pkt pkts[MAX_PKTS];
static int16_t heard[MAX_TICKS * OPUS_RX_FRAME];
static enum opus_rx_got kinds[MAX_TICKS];

struct enc_prm {
	int channels;
	int ms;      /* packet duration */
	bool fec;    /* in-band FEC, for 20 % loss */
	int bitrate; /* 0: 32 kbps */
	/* Modulated by this depth at 4 Hz, as syllables: a steady tone is
	 * soon taken for noise by the encoder, which then stops sending
	 * FEC. */
	double am;
};

/* n packets of the tone, numbered from seq0 with timestamps from ts0. */
static int encode_tone(const struct enc_prm *ep, size_t n, uint16_t seq0,
                       uint32_t ts0)
{
	static int16_t pcm[5760 * 2];
	int samples = 48 * ep->ms, err;
	OpusEncoder *enc = opus_encoder_create(48000, ep->channels,
	                                       OPUS_APPLICATION_VOIP, &err);
	long k = 0;

	if (!enc)
		return -1;
	opus_encoder_ctl(enc,
	                 OPUS_SET_BITRATE(ep->bitrate ? ep->bitrate : 32000));
	if (ep->fec) {
		opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
		opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(20));
	}
	for (size_t i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];
		int len;

		for (int s = 0; s < samples; s++, k++) {
			double v =
			    TONE_AMP * sin(2 * M_PI * TONE_HZ * k / 48000);

			v *= 1 - ep->am * (0.5 +
			                   0.5 * cos(2 * M_PI * 4 * k / 48000));
			for (int c = 0; c < ep->channels; c++)
				pcm[s * ep->channels + c] = (int16_t)v;
		}
		len = opus_encode(enc, pcm, samples, p->data, MAX_BYTES);
		if (len <= 0) {
			opus_encoder_destroy(enc);
			return -1;
		}
		p->len = (size_t)len;
		p->seq = (uint16_t)(seq0 + i);
		p->ts = ts0 + (uint32_t)(i * (size_t)samples);
		p->arrival_us = (uint64_t)(i + 1) * (uint64_t)ep->ms * 1000u;
		p->drop = false;
	}
	opus_encoder_destroy(enc);
	return 0;
}

/* Feeds pkts[0..n) in the order of the array (each put once the clock
 * passes its arrival) and takes a frame a tick into heard[], for as many
 * ticks as it takes the packets and 10 more. Returns the ticks run. */
static size_t run(struct opus_rx *rx, size_t n)
{
	size_t next = 0, tick = 0;
	uint64_t last = 0;

	for (size_t i = 0; i < n; i++)
		if (pkts[i].arrival_us > last)
			last = pkts[i].arrival_us;
	for (; tick < MAX_TICKS; tick++) {
		uint64_t now = tick * 20000u + 1000u;

		if (next == n && now > last + 10 * 20000u)
			break;
		while (next < n && pkts[next].arrival_us <= now) {
			const struct pkt *p = &pkts[next++];
			if (!p->drop)
				opus_rx_put(rx, p->seq, p->ts, p->data, p->len,
				            p->arrival_us);
		}
		kinds[tick] = opus_rx_get(rx, heard + tick * OPUS_RX_FRAME);
	}
	return tick;
}

/* The first and last tick (exclusive) of the longest run of frames. */
static void audible(size_t ticks, size_t *from, size_t *to)
{
	size_t best = 0;

	*from = *to = 0;
	for (size_t i = 0; i < ticks;) {
		size_t j = i;

		while (j < ticks && kinds[j] != OPUS_RX_NONE)
			j++;
		if (j - i > best) {
			best = j - i;
			*from = i;
			*to = j;
		}
		i = j + 1;
	}
}

static double rms(const int16_t *x, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	return n ? sqrt(s / n) : 0;
}

/* Rising zero crossings per second. */
static double zc_freq(const int16_t *x, size_t n)
{
	size_t c = 0;

	for (size_t i = 1; i < n; i++)
		if (x[i - 1] < 0 && x[i] >= 0)
			c++;
	return (double)c * OPUS_RX_RATE / (double)n;
}

/* The share of the power at f (Goertzel), 0..1. */
static double purity(const int16_t *x, size_t n, double f)
{
	double w = 2 * M_PI * f / OPUS_RX_RATE, c = 2 * cos(w);
	double s1 = 0, s2 = 0, p, total = rms(x, n);

	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	p = s1 * s1 + s2 * s2 - c * s1 * s2;
	/* A sine of amplitude a gives p = (a n / 2)^2 and rms a / sqrt 2. */
	return total > 0 ? 2 * p / ((double)n * n) / (total * total) : 0;
}

/* Longest run of samples that are all but silent: a tone at 1 kHz
 * crosses zero every 4 samples, so a run of 16 is a gap. */
static size_t longest_hush(const int16_t *x, size_t n)
{
	size_t run = 0, best = 0;

	for (size_t i = 0; i < n; i++) {
		run = abs(x[i]) < 64 ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* The tone, continuous, at its frequency and level, in frames
 * [from, to). */
static int tone_ok(size_t from, size_t to, double min_level)
{
	const int16_t *x = heard + from * OPUS_RX_FRAME;
	size_t n = (to - from) * OPUS_RX_FRAME;
	double level = rms(x, n) / (TONE_AMP / sqrt(2));
	double f = zc_freq(x, n), pure = purity(x, n, TONE_HZ);

	if (fabs(f - TONE_HZ) > 5 || pure < 0.9 || level < min_level ||
	    level > 1.12 || longest_hush(x, n) >= 16) {
		printf("# frames %zu-%zu: %.1f Hz, purity %.3f, level %.3f, "
		       "hush %zu\n",
		       from, to, f, pure, level, longest_hush(x, n));
		return 0;
	}
	return 1;
}

static const struct opus_rx_prm prm = {.jitter_min_ms = 0,
                                       .jitter_max_ms = 100};

TEST(alloc_args)
{
	struct opus_rx *rx = NULL;
	struct opus_rx_prm bad = {.jitter_min_ms = 100, .jitter_max_ms = 40};

	CHECK_EQ(opus_rx_alloc(NULL, &prm), EINVAL);
	CHECK_EQ(opus_rx_alloc(&rx, NULL), EINVAL);
	CHECK_EQ(opus_rx_alloc(&rx, &bad), EINVAL);
	CHECK(rx == NULL);
	CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
	mem_deref(rx);
	return 0;
}

/* Mono and stereo senders, packets of 10 to 120 ms: the same 20 ms
 * frames, the tone at 1 kHz and its level (a stereo stream mixed down),
 * every frame audio from the first to the last, across the wrap of the
 * sequence numbers and timestamps. */
TEST(tone_every_layout)
{
	static const int durations[] = {10, 20, 40, 60, 120};

	for (int ch = 1; ch <= 2; ch++) {
		for (size_t d = 0; d < sizeof(durations) / sizeof(*durations);
		     d++) {
			struct enc_prm ep = {.channels = ch,
			                     .ms = durations[d]};
			size_t n = 2400 / (size_t)ep.ms, ticks, from, to;
			struct opus_rx_stats st;
			struct opus_rx *rx;

			CHECK_EQ(encode_tone(&ep, n, 65500, 0xffff0000u), 0);
			CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
			ticks = run(rx, n);
			audible(ticks, &from, &to);
			opus_rx_stats(rx, &st);
			/* Concealed: the end only (60 ms, 3 frames). */
			if (st.decoded != n || st.lost || st.concealed != 3 ||
			    st.malformed) {
				printf("# %d ch %d ms: decoded %llu lost %llu "
				       "concealed %llu\n",
				       ch, ep.ms,
				       (unsigned long long)st.decoded,
				       (unsigned long long)st.lost,
				       (unsigned long long)st.concealed);
				CHECK(0);
			}
			/* 2.4 s of audio, every frame of it, starting
			 * within a packet and a tick of the first. */
			CHECK(to - from >= 120);
			CHECK(from <= (size_t)ep.ms / 20 + 1);
			for (size_t i = from; i < from + 120; i++)
				CHECK_EQ(kinds[i], OPUS_RX_AUDIO);
			/* The encoder's first 100 ms ramp up. */
			CHECK(tone_ok(from + 5, from + 120, 0.89));
			CHECK_EQ(st.frames, to - from);
			mem_deref(rx);
		}
	}
	return 0;
}

/* Whether pkt carries in-band FEC for the one before it, as libopus
 * decodes it: a decoder that has heard nothing conceals with silence, and
 * rebuilds audio only from FEC. */
static bool carries_fec(const struct pkt *p)
{
	static int16_t pcm[960];
	OpusDecoder *dec;
	int err, n;

	dec = opus_decoder_create(48000, 1, &err);
	if (!dec)
		return false;
	n = opus_decode(dec, p->data, (opus_int32)p->len, pcm, 960, 1);
	opus_decoder_destroy(dec);
	return n == 960 && rms(pcm, 960) > 100;
}

/* Signal to noise of frame i against the same frame of ref, in dB. */
static double snr_db(const int16_t *ref, size_t i)
{
	const int16_t *a = ref + i * OPUS_RX_FRAME,
	              *b = heard + i * OPUS_RX_FRAME;
	double sig = 0, err = 0;

	for (size_t k = 0; k < OPUS_RX_FRAME; k++) {
		sig += (double)a[k] * a[k];
		err += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
	}
	return 10 * log10((sig + 1) / (err + 1));
}

static const struct opus_rx_prm p20 = {.jitter_min_ms = 20,
                                       .jitter_max_ms = 100};

/* Lost packets: rebuilt from the next packet's FEC where it carries it
 * (close to what was sent), concealed where not (counted, no gap), and
 * every one counted. A packet of delay in the buffer keeps the packet
 * behind a gap at hand when the gap plays; at 0 ms the gap would be an
 * underrun first. */
TEST(loss_rebuilt_or_concealed)
{
	static int16_t clean[MAX_TICKS * OPUS_RX_FRAME];
	struct enc_prm ep = {.channels = 1, .ms = 20, .fec = true, .am = 0.8};
	size_t n = 250, ticks, from, to, rebuilt = 0, concealed = 0;
	static bool dropped[MAX_PKTS];
	struct opus_rx_stats st;
	struct opus_rx *rx;
	double worst_fec = 99, worst_plc = 99;

	CHECK_EQ(encode_tone(&ep, n, 65000, 1234), 0);
	CHECK_EQ(opus_rx_alloc(&rx, &p20), 0);
	ticks = run(rx, n);
	memcpy(clean, heard, ticks * OPUS_RX_FRAME * sizeof(int16_t));
	mem_deref(rx);

	/* Every 6th packet; the encoder sends FEC only while it hears
	 * voice, so some successors carry it and some do not. */
	for (size_t i = 10; i < n - 10; i += 6) {
		pkts[i].drop = dropped[i] = true;
		if (carries_fec(&pkts[i + 1]))
			rebuilt++;
		else
			concealed++;
	}
	CHECK(rebuilt >= 10 && concealed >= 5);

	CHECK_EQ(opus_rx_alloc(&rx, &p20), 0);
	CHECK_EQ(run(rx, n), ticks);
	audible(ticks, &from, &to);
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.lost, rebuilt + concealed);
	CHECK_EQ(st.fec, rebuilt);
	CHECK_EQ(st.concealed, concealed + 3); /* and the end */
	CHECK_EQ(st.decoded, n - rebuilt - concealed);
	CHECK_EQ(st.underrun, 1);
	CHECK(to - from >= n);
	for (size_t i = from; i < from + n; i++)
		CHECK(kinds[i] != OPUS_RX_NONE);
	/* No gap, and the tone's pitch throughout. */
	CHECK(longest_hush(heard + (from + 5) * OPUS_RX_FRAME,
	                   (n - 5) * OPUS_RX_FRAME) < 16);
	CHECK(fabs(zc_freq(heard + (from + 5) * OPUS_RX_FRAME,
	                   (n - 5) * OPUS_RX_FRAME) -
	           TONE_HZ) < 5);

	/* Packet j plays at tick from + j; its frame against the clean
	 * run's. */
	for (size_t j = 0; j < n; j++) {
		double snr = snr_db(clean, from + j);

		if (!dropped[j])
			continue;
		if (carries_fec(&pkts[j + 1]))
			worst_fec = snr < worst_fec ? snr : worst_fec;
		else
			worst_plc = snr < worst_plc ? snr : worst_plc;
	}
	printf("# %zu lost: %zu rebuilt from FEC (%.1f dB against the clean "
	       "run at worst), %zu concealed (%.1f dB)\n",
	       rebuilt + concealed, rebuilt, worst_fec, concealed, worst_plc);
	CHECK(worst_fec > 10);
	CHECK(worst_plc < worst_fec);
	mem_deref(rx);
	return 0;
}

/* Pairs swapped on the way, inside the buffer's delay: the audio is the
 * same, sample for sample, as in order. */
TEST(reordered)
{
	static int16_t straight[MAX_TICKS * OPUS_RX_FRAME];
	struct opus_rx_prm p40 = {.jitter_min_ms = 40, .jitter_max_ms = 100};
	struct enc_prm ep = {.channels = 1, .ms = 20};
	size_t n = 100, ticks, from, to, from2, to2, len;
	struct opus_rx_stats st;
	struct opus_rx *rx;

	CHECK_EQ(encode_tone(&ep, n, 30000, 5), 0);
	CHECK_EQ(opus_rx_alloc(&rx, &p40), 0);
	ticks = run(rx, n);
	audible(ticks, &from, &to);
	memcpy(straight, heard + from * OPUS_RX_FRAME,
	       (to - from) * OPUS_RX_FRAME * sizeof(int16_t));
	mem_deref(rx);

	for (size_t i = 1; i + 1 < n; i += 2) {
		struct pkt t = pkts[i];
		uint64_t a = pkts[i + 1].arrival_us;

		pkts[i] = pkts[i + 1];
		pkts[i + 1] = t;
		/* The later one first, the earlier 5 ms after it. */
		pkts[i].arrival_us = a - 15000;
		pkts[i + 1].arrival_us = a - 10000;
	}
	CHECK_EQ(opus_rx_alloc(&rx, &p40), 0);
	ticks = run(rx, n);
	audible(ticks, &from2, &to2);
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.decoded, n);
	CHECK_EQ(st.lost + st.late + st.discarded, 0);
	CHECK_EQ(st.concealed, 3); /* the end */
	len = to - from < to2 - from2 ? to - from : to2 - from2;
	CHECK(len >= n - 2);
	CHECK(memcmp(straight, heard + from2 * OPUS_RX_FRAME,
	             len * OPUS_RX_FRAME * sizeof(int16_t)) == 0);
	CHECK(tone_ok(from2 + 5, from2 + n - 2, 0.89));
	mem_deref(rx);
	return 0;
}

/* After the last packet: concealment for 60 ms, then nothing. */
TEST(stream_end)
{
	struct enc_prm ep = {.channels = 1, .ms = 20};
	size_t n = 50, ticks, from, to, concealed = 0;
	struct opus_rx_stats st;
	struct opus_rx *rx;

	CHECK_EQ(encode_tone(&ep, n, 1, 1), 0);
	CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
	ticks = run(rx, n);
	audible(ticks, &from, &to);
	for (size_t i = from; i < to; i++)
		if (kinds[i] == OPUS_RX_CONCEALED)
			concealed++;
	CHECK_EQ(concealed, 3);
	CHECK_EQ(to - from, n + 3);
	for (size_t i = to; i < ticks; i++) {
		CHECK_EQ(kinds[i], OPUS_RX_NONE);
		CHECK_EQ(rms(heard + i * OPUS_RX_FRAME, OPUS_RX_FRAME), 0);
	}
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.concealed, 3);
	CHECK_EQ(st.underrun, 1);
	mem_deref(rx);
	return 0;
}

/* A new SSRC: numbering and timestamps start anew, and so does the
 * audio. */
TEST(restart)
{
	struct enc_prm ep = {.channels = 1, .ms = 20};
	size_t ticks, from, to;
	struct opus_rx_stats st;
	struct opus_rx *rx;

	CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
	CHECK_EQ(encode_tone(&ep, 50, 40000, 99999), 0);
	run(rx, 50);
	opus_rx_restart(rx);
	CHECK_EQ(encode_tone(&ep, 60, 3, 7), 0);
	ticks = run(rx, 60);
	audible(ticks, &from, &to);
	CHECK(from <= 2);
	CHECK(to - from >= 60);
	CHECK(tone_ok(from + 5, from + 60, 0.89));
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.decoded, 110);
	CHECK_EQ(st.lost + st.late, 0);
	mem_deref(rx);
	return 0;
}

static enum opus_rx_put_result put1(struct opus_rx *rx, uint16_t seq,
                                    const uint8_t *p, size_t len)
{
	return opus_rx_put(rx, seq, (uint32_t)seq * 960, p, len,
	                   (uint64_t)seq * 20000);
}

/* Payloads libopus's framing refuses, each refused and counted; a real
 * 120 ms packet is taken. */
TEST(malformed_refused)
{
	static uint8_t big[OPUS_RX_MAX_PAYLOAD + 1];
	/* TOC 0x78: hybrid fullband 20 ms, mono; the low two bits are
	 * the frame count code. */
	static const struct {
		const char *what;
		uint8_t b[8];
		size_t len;
	} bad[] = {
	    /* code 1 (two equal frames) needs an even remainder */
	    {"code 1, odd", {0x79, 1, 2, 3}, 4},
	    /* code 2: the first frame's length runs past the end */
	    {"code 2, long", {0x7a, 200, 1, 2}, 4},
	    {"code 2, no length", {0x7a}, 1},
	    /* code 3: no frame count; zero frames; 7 x 20 ms = 140 ms;
	     * CBR bytes not a multiple of the count; padding past the
	     * end */
	    {"code 3, no count", {0x7b}, 1},
	    {"code 3, 0 frames", {0x7b, 0x00, 1}, 3},
	    {"code 3, 140 ms", {0x7b, 0x07, 1, 2, 3, 4, 5, 6}, 8},
	    {"code 3, CBR uneven", {0x7b, 0x03, 1, 2, 3, 4}, 6},
	    {"code 3, padding", {0x7b, 0x41, 0xff, 1}, 4},
	    /* 60 ms CELT frames (config 31 is 20 ms): SILK 60 ms x 3 */
	    {"code 3, 180 ms", {0x1b, 0x03, 1, 2, 3}, 5},
	};
	struct enc_prm ep = {.channels = 1, .ms = 120};
	struct opus_rx_stats st;
	struct opus_rx *rx;
	uint16_t seq = 1;

	CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (put1(rx, seq++, bad[i].b, bad[i].len) !=
		    OPUS_RX_PUT_MALFORMED)
			TEST_FAIL("malformed_refused", "%s taken", bad[i].what);
	}
	CHECK_EQ(put1(rx, seq++, big, 0), OPUS_RX_PUT_MALFORMED);
	CHECK_EQ(put1(rx, seq++, NULL, 10), OPUS_RX_PUT_MALFORMED);
	big[0] = 0x78;
	CHECK_EQ(put1(rx, seq++, big, sizeof(big)), OPUS_RX_PUT_MALFORMED);
	/* The same frame at the largest size is a packet. */
	CHECK_EQ(put1(rx, seq++, big, sizeof(big) - 1), OPUS_RX_PUT_OK);
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.malformed, sizeof(bad) / sizeof(*bad) + 3);
	CHECK_EQ(st.received, 1);
	mem_deref(rx);

	/* 120 ms packets (two 60 ms frames) are Opus's longest: taken. */
	CHECK_EQ(encode_tone(&ep, 20, 1, 0), 0);
	CHECK(opus_packet_get_nb_samples(pkts[0].data, (opus_int32)pkts[0].len,
	                                 48000) == 5760);
	CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
	run(rx, 20);
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.received, 20);
	CHECK_EQ(st.malformed, 0);
	mem_deref(rx);
	return 0;
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Random bytes at random sequence numbers: what framing refuses is
 * counted, what passes decodes to noise; nothing breaks, every tick
 * gives a frame or silence, and a real stream afterwards is heard. */
TEST(garbage)
{
	static uint8_t b[OPUS_RX_MAX_PAYLOAD + 40];
	struct enc_prm ep = {.channels = 2, .ms = 20};
	uint32_t rng = 42;
	uint64_t t = 0, puts = 0, oks = 0;
	size_t ticks, from, to;
	struct opus_rx_stats st;
	struct opus_rx *rx;
	int16_t out[OPUS_RX_FRAME];

	CHECK_EQ(opus_rx_alloc(&rx, &prm), 0);
	for (int i = 0; i < 20000; i++) {
		size_t len = lcg(&rng) % (lcg(&rng) % 8 ? 64 : sizeof(b));
		uint16_t seq =
		    (uint16_t)(lcg(&rng) % 4 ? (uint32_t)i : lcg(&rng));

		for (size_t k = 0; k < len; k++)
			b[k] = (uint8_t)lcg(&rng);
		t += lcg(&rng) % 30000;
		oks += opus_rx_put(rx, seq, lcg(&rng), b, len, t) ==
		       OPUS_RX_PUT_OK;
		puts++;
		if (i % 2) {
			enum opus_rx_got g = opus_rx_get(rx, out);
			CHECK(g == OPUS_RX_NONE || g == OPUS_RX_AUDIO ||
			      g == OPUS_RX_CONCEALED);
			if (g == OPUS_RX_NONE)
				CHECK_EQ(rms(out, OPUS_RX_FRAME), 0);
		}
	}
	opus_rx_stats(rx, &st);
	CHECK_EQ(st.received, oks);
	CHECK_EQ(st.received + st.malformed + st.late + st.duplicate, puts);
	/* Both kinds happened: some refused, some decoded. */
	CHECK(st.malformed > 1000);
	CHECK(st.decoded > 1000);
	CHECK_EQ(st.undecodable, 0);

	opus_rx_restart(rx);
	CHECK_EQ(encode_tone(&ep, 60, 500, 500), 0);
	ticks = run(rx, 60);
	audible(ticks, &from, &to);
	CHECK(to - from >= 60);
	CHECK(tone_ok(from + 5, from + 60, 0.89));
	mem_deref(rx);
	return 0;
}

int main(void)
{
	RUN(alloc_args);
	RUN(tone_every_layout);
	RUN(loss_rebuilt_or_concealed);
	RUN(reordered);
	RUN(stream_end);
	RUN(restart);
	RUN(malformed_refused);
	RUN(garbage);
	TEST_EXIT();
}
