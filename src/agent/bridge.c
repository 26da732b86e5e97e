/*
 * DESIGN. Four single-producer rings join the two threads: events and
 * caller audio go up (media → signalling), agent audio and its control
 * records go down. A control record carries the playout position (in
 * samples since the call began) where it takes effect, so the media thread
 * learns where each utterance starts and ends, and where its marks are, by
 * counting what it plays: no lock, and no record can overtake its audio.
 * Utterances are padded to whole frames so a frame never spans two.
 *
 * A cut (barge-in, or the agent falling silent) drops everything queued
 * and raises cut_utt; audio of those utterances still in flight from the
 * signalling thread is dropped as it arrives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include "core/clock.h"
#include "agent/bridge.h"
#include "agent/echo_guard.h"
#include "core/ring.h"

#define RATE               8000
#define EVENT_SLOTS        256
#define AUDIO_SLOTS        64 /* 1.3 s of caller audio */
#define CTL_SLOTS          1024
#define DEFAULT_PLAYOUT_MS 10000
/* After an onset comes to nothing the agent stays paused this much longer:
 * a soft first consonant often makes an onset that is cancelled a frame
 * before the vowel makes the next one, and resuming in between would put
 * 40-60 ms more of the agent's voice over the caller's. */
#define CANCEL_HOLD_US 80000

enum ctl_kind {
	CTL_START,
	CTL_MARK,
	CTL_END,
};

struct ctl_rec {
	enum ctl_kind kind;
	uint32_t utt, mark;
	uint64_t pos; /* playout position where it takes effect */
};

struct audio_rec {
	uint32_t frame;
	int16_t pcm[BRIDGE_FRAME];
};

struct bridge {
	struct bridge_params prm;
	struct vad *vad;
	struct echo_guard *echo;
	struct ring events, audio; /* up */
	struct ring playout, ctl;  /* down */

	atomic_uint_fast32_t latest_utt;  /* signalling writes */
	atomic_uint_fast32_t silence_utt; /* signalling writes */
	atomic_uint_fast32_t cut_utt;     /* media writes */
	atomic_bool talking;              /* media writes */
	atomic_bool barge_in;             /* signalling writes */

	/* Signalling thread only. */
	uint32_t say_utt;
	bool say_open;
	uint64_t written;   /* samples put in playout */
	uint64_t say_start; /* written when say_utt began */
	uint32_t ready_utt; /* the last utterance told audio_ready */

	/* Media thread only. */
	uint32_t frames;
	uint64_t played; /* samples taken from playout, sent or dropped */
	uint32_t cur_utt;
	uint64_t cur_sent; /* samples of cur_utt sent */
	bool cur_heard;
	bool paused;
	uint64_t resume_us; /* a paused agent goes on then; 0 = not set */
	struct ctl_rec next;
	bool have_next;
	uint64_t last_voiced_us;
	uint64_t turn_end_us;  /* the caller's last turn ended, not answered */
	uint64_t turn_stop_us; /* ... and the VAD said so */
	uint64_t onset_us;
	uint64_t last_sent_us;
	bool unwoken; /* caller audio in the ring, no wake since */
};

static void wake(struct bridge *b)
{
	uint64_t one = 1;

	b->unwoken = false;

	if (b->prm.wake_fd >= 0 &&
	    write(b->prm.wake_fd, &one, sizeof(one)) != sizeof(one)) {
		/* A full eventfd counter still wakes the reader. */
	}
}

static void post(struct bridge *b, enum bridge_event_kind kind,
                 const struct bridge_event *tmpl)
{
	struct bridge_event ev = *tmpl;

	ev.kind = kind;
	ev.frame = b->frames;
	ev.t_us = b->prm.clock_us();
	/* A full ring means the signalling thread is stalled: the event is
	 * lost rather than the media thread held up. */
	(void)ring_write(&b->events, &ev, sizeof(ev));
	wake(b);
}

static void post_simple(struct bridge *b, enum bridge_event_kind kind,
                        uint32_t utt, uint32_t mark, uint32_t heard_ms,
                        int32_t latency_ms)
{
	struct bridge_event ev = {
	    .utterance = utt,
	    .mark = mark,
	    .heard_ms = heard_ms,
	    .latency_ms = latency_ms,
	    .stop_ms = -1,
	};

	post(b, kind, &ev);
}

/* ---- media thread: playout ------------------------------------------- */

static bool utt_cut(const struct bridge *b, uint32_t utt)
{
	return utt <= atomic_load_explicit(&b->cut_utt, memory_order_relaxed);
}

static void cut_all(struct bridge *b, uint32_t upto)
{
	if (upto > atomic_load_explicit(&b->cut_utt, memory_order_relaxed))
		atomic_store_explicit(&b->cut_utt, upto, memory_order_release);
	b->played += ring_clear(&b->playout) / sizeof(int16_t);
	b->paused = false;
	b->resume_us = 0;
}

static void apply_ctl(struct bridge *b, const struct ctl_rec *r)
{
	switch (r->kind) {
	case CTL_START:
		b->cur_utt = r->utt;
		b->cur_sent = 0;
		b->cur_heard = false;
		break;
	case CTL_MARK:
		if (!utt_cut(b, r->utt))
			post_simple(b, BRIDGE_EV_MARK, r->utt, r->mark, 0, -1);
		break;
	case CTL_END:
		if (r->utt == b->cur_utt && !utt_cut(b, r->utt))
			post_simple(b, BRIDGE_EV_PLAYED, r->utt, 0,
			            (uint32_t)(b->cur_sent * 1000 / RATE), -1);
		if (r->utt == b->cur_utt)
			b->cur_utt = 0;
		break;
	}
}

/* Applies the control records due at the play position. */
static void run_ctl(struct bridge *b)
{
	for (;;) {
		if (!b->have_next) {
			if (ring_read(&b->ctl, &b->next, sizeof(b->next)) !=
			    sizeof(b->next))
				return;
			b->have_next = true;
		}
		if (b->next.pos > b->played)
			return;
		apply_ctl(b, &b->next);
		b->have_next = false;
	}
}

static void skip_samples(struct bridge *b, uint64_t n)
{
	int16_t scratch[BRIDGE_FRAME];

	while (n) {
		size_t k = n < BRIDGE_FRAME ? (size_t)n : BRIDGE_FRAME;
		size_t got =
		    ring_read(&b->playout, scratch, k * sizeof(int16_t));

		b->played += got / sizeof(int16_t);
		if (got < k * sizeof(int16_t))
			return;
		n -= k;
	}
}

/* The next frame to send, for the tick or (early) between two ticks when
 * an utterance's first frame came: then, with nothing to send, nothing is
 * counted, since the tick that follows counts this period. */
static size_t out_frame(struct bridge *b, int16_t *pcm, size_t samples,
                        bool early)
{
	uint32_t silence =
	    atomic_load_explicit(&b->silence_utt, memory_order_acquire);
	uint64_t avail;
	bool playing;

	if (b->unwoken)
		wake(b);

	if (silence && !utt_cut(b, silence))
		cut_all(b, silence);
	/* Read before the control ring: every sample counted here has its
	 * START record visible. */
	avail = ring_used(&b->playout) / sizeof(int16_t);
	for (;;) {
		uint64_t upto, before;

		run_ctl(b);
		if (b->cur_utt && !utt_cut(b, b->cur_utt))
			break;
		/* No live utterance at the play position: what is there
		 * belongs to a cut one, still arriving. Drop it up to the
		 * next record. */
		upto = b->have_next ? b->next.pos : b->played + avail;
		if (upto <= b->played)
			break;
		before = b->played;
		skip_samples(b, upto - b->played);
		avail -= b->played - before;
		if (!b->have_next || b->played < b->next.pos)
			break;
	}
	playing = b->cur_utt && !utt_cut(b, b->cur_utt);
	if (b->paused && b->resume_us && b->prm.clock_us() >= b->resume_us) {
		b->paused = false;
		b->resume_us = 0;
		b->onset_us = 0;
	}
	atomic_store_explicit(&b->talking, playing, memory_order_relaxed);
	if (!playing || b->paused || samples != BRIDGE_FRAME ||
	    avail < BRIDGE_FRAME) {
		if (!early)
			echo_guard_out(b->echo, NULL);
		return 0;
	}
	ring_read(&b->playout, pcm, BRIDGE_FRAME * sizeof(int16_t));
	echo_guard_out(b->echo, pcm);
	b->played += BRIDGE_FRAME;
	b->cur_sent += BRIDGE_FRAME;
	b->last_sent_us = b->prm.clock_us();
	if (!b->cur_heard) {
		struct bridge_event ev = {
		    .utterance = b->cur_utt, .latency_ms = -1, .stop_ms = -1};

		b->cur_heard = true;
		if (b->turn_end_us) {
			ev.latency_ms =
			    (int32_t)((b->last_sent_us - b->turn_end_us) /
			              1000);
			ev.stop_ms =
			    (int32_t)((b->turn_stop_us - b->turn_end_us) /
			              1000);
		}
		b->turn_end_us = 0;
		post(b, BRIDGE_EV_SPEAKING, &ev);
	}
	return BRIDGE_FRAME;
}

static size_t bridge_audio_out(void *state, int16_t *pcm, size_t samples)
{
	return out_frame(state, pcm, samples, false);
}

static size_t bridge_audio_early(void *state, int16_t *pcm, size_t samples)
{
	return out_frame(state, pcm, samples, true);
}

/* ---- media thread: the caller ----------------------------------------- */

static void barge_in(struct bridge *b)
{
	uint32_t latest =
	    atomic_load_explicit(&b->latest_utt, memory_order_acquire);
	bool heard = b->cur_utt && b->cur_heard && !utt_cut(b, b->cur_utt);
	uint32_t utt = b->cur_utt;
	uint32_t heard_ms = (uint32_t)(b->cur_sent * 1000 / RATE);
	int32_t reaction = -1;

	if (b->onset_us && b->last_sent_us >= b->onset_us)
		reaction = (int32_t)((b->last_sent_us - b->onset_us) / 1000);
	else if (b->onset_us)
		reaction = 0;
	if (latest > atomic_load_explicit(&b->cut_utt, memory_order_relaxed) ||
	    heard)
		cut_all(b, latest > utt ? latest : utt);
	if (heard)
		post_simple(b, BRIDGE_EV_INTERRUPTED, utt, 0, heard_ms,
		            reaction);
}

static void bridge_audio_in(void *state, const int16_t *pcm, size_t samples,
                            uint64_t arrival_us)
{
	struct bridge *b = state;
	struct vad_frame vf;
	struct audio_rec rec = {.frame = b->frames++};
	bool can_barge =
	    atomic_load_explicit(&b->barge_in, memory_order_relaxed);

	/* The caller's audio, less our own voice coming back, is what the
	 * VAD and the worker get. */
	if (pcm && samples == BRIDGE_FRAME)
		memcpy(rec.pcm, pcm, sizeof(rec.pcm));
	else
		memset(rec.pcm, 0, sizeof(rec.pcm));
	(void)echo_guard_in(b->echo, rec.pcm);
	vad_process(b->vad, rec.pcm, BRIDGE_FRAME, &vf);
	if (vf.voiced)
		b->last_voiced_us = arrival_us;
	switch (vf.event) {
	case VAD_EVENT_NONE:
	case VAD_EVENT_PAUSE:
	case VAD_EVENT_RESUME:
		break;
	case VAD_EVENT_ONSET:
		/* An onset in the hold continues the one before it. */
		if (!b->resume_us)
			b->onset_us = arrival_us;
		b->resume_us = 0;
		/* Stop at once; START or CANCEL decides what happens to
		 * the rest. */
		if (can_barge && b->cur_utt && b->cur_heard &&
		    !utt_cut(b, b->cur_utt))
			b->paused = true;
		break;
	case VAD_EVENT_START:
		if (can_barge)
			barge_in(b);
		break;
	case VAD_EVENT_CANCEL:
		if (b->paused)
			b->resume_us = b->prm.clock_us() + CANCEL_HOLD_US;
		else
			b->onset_us = 0;
		break;
	case VAD_EVENT_STOP:
		b->turn_end_us = b->last_voiced_us;
		b->turn_stop_us = b->prm.clock_us();
		b->onset_us = 0;
		break;
	}
	/* The signalling thread hears of the frame with the next event (the
	 * frame first, so that an event finds the frames before it there)
	 * or at the tick (out_frame): once a period for all calls rather
	 * than as each packet arrives, since a wake makes it look at every
	 * call. */
	(void)ring_write(&b->audio, &rec, sizeof(rec));
	b->unwoken = true;
	if (vf.event != VAD_EVENT_NONE) {
		struct bridge_event ev = {.vad = vf.event, .latency_ms = -1};

		post(b, BRIDGE_EV_VAD, &ev);
	}
}

static void bridge_stop(void *state)
{
	struct bridge *b = state;

	if (!b)
		return;
	mem_deref(b->vad);
	mem_deref(b->echo);
	ring_reset(&b->events);
	ring_reset(&b->audio);
	ring_reset(&b->playout);
	ring_reset(&b->ctl);
	free(b);
}

const struct agent_ops bridge_agent = {
    .name = "bridge",
    .start = NULL,
    .audio_in = bridge_audio_in,
    .audio_out = bridge_audio_out,
    .audio_early = bridge_audio_early,
    .stop = bridge_stop,
};

int bridge_alloc(struct bridge **bp, const struct bridge_params *prm)
{
	struct bridge *b;
	uint32_t playout_ms;
	int err;

	if (!bp || !prm)
		return EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	b->prm = *prm;
	if (!b->prm.clock_us)
		b->prm.clock_us = clock_mono_us;
	playout_ms = prm->playout_ms ? prm->playout_ms : DEFAULT_PLAYOUT_MS;
	err = vad_alloc(&b->vad, &prm->vad, RATE);
	if (!err)
		err = echo_guard_alloc(&b->echo);
	if (!err)
		err = ring_init(&b->events,
		                EVENT_SLOTS * sizeof(struct bridge_event));
	if (!err)
		err = ring_init(&b->audio,
		                AUDIO_SLOTS * sizeof(struct audio_rec));
	if (!err)
		err = ring_init(&b->playout, (size_t)playout_ms * RATE / 1000 *
		                                 sizeof(int16_t));
	if (!err)
		err = ring_init(&b->ctl, CTL_SLOTS * sizeof(struct ctl_rec));
	if (err) {
		bridge_stop(b);
		return err;
	}
	atomic_init(&b->latest_utt, 0);
	atomic_init(&b->silence_utt, 0);
	atomic_init(&b->cut_utt, 0);
	atomic_init(&b->talking, false);
	atomic_init(&b->barge_in, true);
	*bp = b;
	return 0;
}

/* ---- signalling thread ------------------------------------------------ */

bool bridge_event_next(struct bridge *b, struct bridge_event *ev)
{
	if (ring_used(&b->events) < sizeof(*ev))
		return false;
	return ring_read(&b->events, ev, sizeof(*ev)) == sizeof(*ev);
}

bool bridge_audio_next(struct bridge *b, uint32_t *frame,
                       int16_t pcm[BRIDGE_FRAME])
{
	struct audio_rec rec;

	if (ring_used(&b->audio) < sizeof(rec) ||
	    ring_read(&b->audio, &rec, sizeof(rec)) != sizeof(rec))
		return false;
	*frame = rec.frame;
	memcpy(pcm, rec.pcm, sizeof(rec.pcm));
	return true;
}

static int ctl_put(struct bridge *b, enum ctl_kind kind, uint32_t utt,
                   uint32_t mark)
{
	struct ctl_rec r = {kind, utt, mark, b->written};

	return ring_write(&b->ctl, &r, sizeof(r));
}

static bool said_cut(const struct bridge *b, uint32_t utt)
{
	return utt <= atomic_load_explicit(&b->cut_utt, memory_order_acquire) ||
	       utt <=
	           atomic_load_explicit(&b->silence_utt, memory_order_relaxed);
}

int bridge_say_end(struct bridge *b, uint32_t utterance)
{
	static const int16_t zeros[BRIDGE_FRAME];
	size_t pad;
	int err;

	if (!b || !utterance)
		return EINVAL;
	if (utterance != b->say_utt || !b->say_open)
		return 0;
	pad = (BRIDGE_FRAME - b->written % BRIDGE_FRAME) % BRIDGE_FRAME;
	if (pad) {
		err = ring_write(&b->playout, zeros, pad * sizeof(int16_t));
		if (err)
			return err;
		b->written += pad;
	}
	err = ctl_put(b, CTL_END, utterance, 0);
	if (!err)
		b->say_open = false;
	return err;
}

int bridge_say(struct bridge *b, uint32_t utterance, const int16_t *pcm,
               size_t n)
{
	int err;

	if (!b || !utterance || (n && !pcm) || utterance < b->say_utt)
		return EINVAL;
	if (said_cut(b, utterance))
		return ECANCELED;
	if (utterance != b->say_utt) {
		if (b->say_open) {
			err = bridge_say_end(b, b->say_utt);
			if (err)
				return err;
		}
		if (ring_space(&b->ctl) < sizeof(struct ctl_rec))
			return ENOSPC;
		b->say_utt = utterance;
		b->say_open = true;
		atomic_store_explicit(&b->latest_utt, utterance,
		                      memory_order_release);
		err = ctl_put(b, CTL_START, utterance, 0);
		if (err)
			return err;
		b->say_start = b->written;
	}
	if (!n)
		return 0;
	err = ring_write(&b->playout, pcm, n * sizeof(int16_t));
	if (err)
		return err;
	b->written += n;
	/* Its first frame need not wait for the media thread's next tick. */
	if (b->prm.audio_ready && b->ready_utt != utterance &&
	    b->written - b->say_start >= BRIDGE_FRAME) {
		b->ready_utt = utterance;
		b->prm.audio_ready(b->prm.audio_ready_arg);
	}
	return 0;
}

int bridge_mark(struct bridge *b, uint32_t utterance, uint32_t mark)
{
	if (!b || !utterance)
		return EINVAL;
	if (said_cut(b, utterance))
		return ECANCELED;
	if (utterance != b->say_utt || !b->say_open)
		return EINVAL;
	return ctl_put(b, CTL_MARK, utterance, mark);
}

void bridge_silence(struct bridge *b)
{
	if (!b || !b->say_utt)
		return;
	b->say_open = false;
	atomic_store_explicit(&b->silence_utt, b->say_utt,
	                      memory_order_release);
}

void bridge_set_barge_in(struct bridge *b, bool on)
{
	if (b)
		atomic_store_explicit(&b->barge_in, on, memory_order_relaxed);
}

bool bridge_talking(const struct bridge *b)
{
	return b && atomic_load_explicit(&b->talking, memory_order_relaxed);
}
