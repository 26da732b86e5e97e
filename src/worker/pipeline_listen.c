/*
 * The caller's side of the pipeline (the DESIGN at the top of pipeline.c):
 * the caller's frames and the server's VAD events, in frame order, into
 * the listener with the pre-roll; the final pass ended ahead of STOP when
 * the caller pauses, and begun again when the caller goes on (a streaming
 * recogniser's early end is a segment boundary instead, the turn going
 * on from it); each turn's transcript queued for the conversation once
 * the listener has it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/clock.h"
#include "worker/listener.h"
#include "worker/pipeline_int.h"
#include "worker/provider.h"

/* The listener takes the frame, unless pocketsphinx's final pass has run
 * ahead; the turn's audio keeps it in case the caller goes on. The
 * network recognisers, with no turn's audio here, take every frame: the
 * OpenAI-compatible one keeps them itself for a reopen, a streaming one
 * sends them on after an early end (the pause is cheap, and the stream's
 * clock stays with the call's). */
static void hear_feed(struct pipeline *p, const int16_t pcm[PIPELINE_FRAME])
{
	bool kept;

	if (!p->turn_audio) {
		(void)listener_feed(p->ear, pcm, PIPELINE_FRAME);
		return;
	}
	kept = p->turn_len + PIPELINE_FRAME <= TURN_KEEP_MS * MS_SAMPLES;
	if (kept) {
		memcpy(p->turn_audio + p->turn_len, pcm,
		       PIPELINE_FRAME * sizeof(*pcm));
		p->turn_len += PIPELINE_FRAME;
	} else {
		p->spec_off = true;
	}
	if (p->rt) {
		pipeline_rt_feed(p, pcm, kept);
		return;
	}
	/* A listener 5 s behind drops the frame: the turn is lost anyway,
	 * and what follows stays current. */
	if (!p->spec)
		(void)listener_feed(p->ear, pcm, PIPELINE_FRAME);
}

static void hear_start(struct pipeline *p, uint32_t frame)
{
	uint32_t back = PREROLL_MS / 20;
	uint32_t from = p->has_onset && p->onset < frame ? p->onset : frame;

	from = from > back ? from - back : 0;
	/* A START without STOP (the server's VAD restarted) drops what was
	 * heard with the turn it belonged to. */
	p->hearing = false;
	p->turn_len = 0;
	p->spec_off = p->paused = p->spec = p->spec_ready = p->redecoded =
	    false;
	p->spec_err = 0;
	p->specs = 0;
	/* A reply held for a turn that never had its STOP goes with it. */
	pipeline_preempt_drop(p);
	p->pres = 0;
	p->pre_dropped = false;
	if (p->rt ? pipeline_rt_begin(p) : listener_begin(p->ear, &p->utt_id))
		return;
	p->hearing = true;
	for (size_t i = 0; i < p->npre; i++) {
		const struct frame *f =
		    &p->pre[(p->pre_at + PREROLL - p->npre + i) % PREROLL];

		if (f->n >= from)
			hear_feed(p, f->pcm);
	}
}

static void speculate(struct pipeline *p)
{
	if (listener_end(p->ear)) {
		p->hearing = false;
	} else {
		p->spec = true;
		p->spec_ready = false;
		p->spec_err = 0;
	}
	p->specs++;
}

/* The caller went on after the final pass ran ahead: decode the turn
 * again from its start, as a new utterance (the early final, when it
 * comes, is for the old one and goes unheard). A stream's new utterance
 * goes on from the early end instead, nothing heard twice: its final
 * has the early one's ahead of its own. */
static void unspeculate(struct pipeline *p)
{
	p->redecoded = !p->streams;
	p->spec = p->spec_ready = false;
	pipeline_preempt_drop(p);
	p->spec_err = 0;
	if (!p->turn_audio) {
		if (listener_reopen(p->ear, &p->utt_id))
			p->hearing = false;
		return;
	}
	if (listener_begin(p->ear, &p->utt_id) ||
	    listener_feed(p->ear, p->turn_audio, p->turn_len))
		p->hearing = false;
}

static void turn_out(struct pipeline *p, const char *text, uint64_t t_end,
                     bool redecoded)
{
	char *copy = pipeline_trimmed(text, strlen(text));

	if (copy)
		pipeline_turn_push(p, copy, t_end, clock_mono_ms(), redecoded);
}

static void hear_stop(struct pipeline *p, uint64_t t_event)
{
	uint64_t t_end = t_event > p->stop_ms ? t_event - p->stop_ms : t_event;

	if (!p->hearing)
		return;
	p->hearing = false;
	if (p->rt) {
		pipeline_rt_end(p, t_end);
		return;
	}
	if (p->spec)
		listener_rest(p->ear);
	if (p->spec && p->spec_ready) {
		char *why = NULL;

		if (!p->spec_err)
			turn_out(p, p->spec_text, t_end, p->redecoded);
		else if (asprintf(&why, "stt: %s", strerror(p->spec_err)) >= 0)
			pipeline_turn_fail(p, why, t_end);
		return;
	}
	if (!p->spec) {
		int err = listener_end(p->ear);

		listener_rest(p->ear);
		if (err)
			return;
	}
	if (p->nwait == FINAL_WAITS)
		return;
	p->wait[p->nwait++] = (struct final_wait){
	    .utt = p->utt_id, .t_end = t_end, .redecoded = p->redecoded};
}

/* The turn waiting for utterance utt's final, taken off the list. */
static bool wait_take(struct pipeline *p, uint32_t utt, struct final_wait *w)
{
	for (size_t i = 0; i < p->nwait; i++) {
		if (p->wait[i].utt != utt)
			continue;
		*w = p->wait[i];
		memmove(&p->wait[i], &p->wait[i + 1],
		        (p->nwait - i - 1) * sizeof(p->wait[0]));
		p->nwait--;
		return true;
	}
	return false;
}

static void on_final(uint32_t utt, const char *text, void *arg)
{
	struct pipeline *p = arg;

	struct final_wait w;

	if (wait_take(p, utt, &w)) {
		turn_out(p, text, w.t_end, w.redecoded);
		pipeline_pump(p);
	} else if (utt == p->utt_id && p->spec && p->hearing) {
		strncpy(p->spec_text, text, sizeof(p->spec_text) - 1);
		p->spec_text[sizeof(p->spec_text) - 1] = '\0';
		p->spec_ready = true;
		pipeline_preempt(p, p->spec_text);
	}
}

static void on_error(uint32_t utt, int err, void *arg)
{
	struct pipeline *p = arg;

	struct final_wait w;

	/* The turn is lost. A network recogniser's failure is told to the
	 * caller (the conversation apologises); pocketsphinx's is a turn
	 * nobody heard, as it always was. */
	if (wait_take(p, utt, &w) && p->cfg->stt_net) {
		char *why = NULL;

		if (asprintf(&why, "stt: %s", strerror(err)) >= 0)
			pipeline_turn_fail(p, why, w.t_end);
		pipeline_pump(p);
	}
	/* The final pass run ahead failed: STOP tells it, unless the caller
	 * goes on and the turn is decoded again. */
	if (utt == p->utt_id && p->spec && p->hearing && p->cfg->stt_net) {
		p->spec_err = err ? err : EIO;
		p->spec_ready = true;
		return;
	}
	if (utt == p->utt_id)
		p->hearing = false;
}

static void on_vad(struct pipeline *p, const struct vad_item *v)
{
	switch (v->ev) {
	case VAD_EVENT_ONSET:
		p->onset = v->frame;
		p->has_onset = true;
		break;
	case VAD_EVENT_START:
		hear_start(p, v->frame);
		p->has_onset = false;
		break;
	case VAD_EVENT_CANCEL:
		p->has_onset = false;
		break;
	case VAD_EVENT_STOP:
		hear_stop(p, v->t);
		p->has_onset = p->paused = false;
		break;
	case VAD_EVENT_PAUSE:
		p->paused = true;
		p->pause_frame = v->frame;
		break;
	case VAD_EVENT_RESUME:
		if (p->paused && v->frame - p->pause_frame > p->pause_max)
			p->pause_max = v->frame - p->pause_frame;
		p->paused = false;
		if (p->hearing && p->spec)
			unspeculate(p);
		break;
	default:
		break;
	}
}

static void vad_late(void *arg);

/* Whether the final pass runs ahead at this frame of a pause. A re-decode
 * costs a batch recogniser the turn again, so it waits for the pause to
 * outlast the caller's; a stream's early end costs a segment boundary,
 * which the recogniser's context does not cross, so it comes once, at the
 * latest point that still has the final by STOP, however the caller
 * pauses. */
static bool spec_due(const struct pipeline *p, uint32_t frame)
{
	uint32_t since;

	if (!p->hearing || !p->paused || p->rt || p->spec || p->spec_off ||
	    frame < p->pause_frame)
		return false;
	since = frame - p->pause_frame;
	if (p->streams)
		return p->specs < SPEC_PER_TURN_STREAM &&
		       since >= p->spec_frames_max;
	return p->specs < SPEC_PER_TURN && since >= p->spec_frames &&
	       (since > p->pause_max || since >= p->spec_frames_max);
}

/* Applies the VAD events whose frames have gone through; the first one
 * still waiting gets VAD_WAIT_MS from its arrival. */
static void drain(struct pipeline *p)
{
	while (p->vlen && p->vq[p->vhead].frame <= p->next_frame) {
		struct vad_item v = p->vq[p->vhead];

		p->vhead = (p->vhead + 1) % VAD_QUEUE;
		p->vlen--;
		on_vad(p, &v);
	}
	if (p->vlen) {
		uint64_t due = p->vq[p->vhead].t + VAD_WAIT_MS, now;

		now = clock_mono_ms();
		tmr_start(&p->vad_tmr, due > now ? due - now : 0, vad_late, p);
	} else {
		tmr_cancel(&p->vad_tmr);
	}
}

/* The frames before a VAD event never came: it applies without them. */
static void vad_late(void *arg)
{
	struct pipeline *p = arg;

	if (!p->vlen)
		return;
	p->next_frame = p->vq[p->vhead].frame;
	drain(p);
	pipeline_pump(p);
}

void pipeline_listen_frame(struct pipeline *p, uint32_t frame,
                           const int16_t pcm[PIPELINE_FRAME])
{
	struct frame *f = &p->pre[p->pre_at];

	drain(p);
	f->n = frame;
	memcpy(f->pcm, pcm, sizeof(f->pcm));
	p->pre_at = (p->pre_at + 1) % PREROLL;
	if (p->npre < PREROLL)
		p->npre++;
	if (frame >= p->next_frame)
		p->next_frame = frame + 1;
	if (p->hearing) {
		hear_feed(p, pcm);
		if (spec_due(p, frame))
			speculate(p);
	}
	drain(p);
}

void pipeline_listen_vad(struct pipeline *p, enum vad_event ev, uint32_t frame)
{
	if (p->vlen < VAD_QUEUE) {
		struct vad_item *v = &p->vq[(p->vhead + p->vlen++) % VAD_QUEUE];

		v->ev = ev;
		v->frame = frame;
		v->t = clock_mono_ms();
	}
	drain(p);
}

int pipeline_listen_init(struct pipeline *p)
{
	const struct listener_config lc = {.decoder = p->cfg->decoder,
	                                   .pool = p->cfg->pool,
	                                   .net = p->cfg->stt_net,
	                                   .call_id = p->cfg->call_id};
	const struct listener_handlers h = {.finalh = on_final,
	                                    .errorh = on_error};

	tmr_init(&p->vad_tmr);
	p->streams = p->cfg->stt_net && listener_streams(p->cfg->stt_net->name);
	/* The turn's audio is kept here for pocketsphinx's second pass and
	 * the Realtime model's socket; the OpenAI-compatible recogniser
	 * keeps its own for a reopen, and a streaming one hears it once. */
	if (!p->cfg->stt_net || p->cfg->brain->kind == BRAIN_REALTIME) {
		p->turn_audio =
		    malloc(TURN_KEEP_MS * MS_SAMPLES * sizeof(*p->turn_audio));
		if (!p->turn_audio)
			return ENOMEM;
	}
	/* The model hears the caller itself. */
	if (p->cfg->brain->kind == BRAIN_REALTIME)
		return pipeline_rt_init(p);
	return listener_alloc(&p->ear, &lc, &h, p);
}
