/*
 * The pipeline's listener (the DESIGN at the top of pipeline.c): the
 * caller's frames and the server's VAD events, in frame order, into the
 * recogniser with the pre-roll; the final pass run ahead of STOP when the
 * caller pauses, and again when the caller goes on; each turn's
 * transcript queued for the control thread.
 */
#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "worker/pipeline_int.h"
#include "speech/stt.h"

/* The recogniser takes the frame, unless its final pass has run ahead;
 * the turn's audio keeps it in case the caller goes on. */
static void hear_feed(struct pipeline *p, const int16_t pcm[PIPELINE_FRAME])
{
	if (p->turn_len + PIPELINE_FRAME <= TURN_KEEP_MS * MS_SAMPLES) {
		memcpy(p->turn_audio + p->turn_len, pcm,
		       PIPELINE_FRAME * sizeof(*pcm));
		p->turn_len += PIPELINE_FRAME;
	} else {
		p->spec_off = true;
	}
	if (!p->spec && stt_feed(p->stt, pcm, PIPELINE_FRAME, NULL, 0, NULL))
		p->hearing = false;
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
	p->spec_off = p->paused = p->spec = p->redecoded = false;
	p->specs = 0;
	if (stt_begin(p->stt))
		return;
	p->hearing = true;
	for (size_t i = 0; i < p->npre && p->hearing; i++) {
		const struct frame *f =
		    &p->pre[(p->pre_at + PREROLL - p->npre + i) % PREROLL];

		if (f->n >= from)
			hear_feed(p, f->pcm);
	}
}

static void speculate(struct pipeline *p)
{
	if (stt_end(p->stt, p->spec_text, sizeof(p->spec_text)))
		p->hearing = false;
	else
		p->spec = true;
	p->specs++;
}

/* The caller went on after the final pass ran ahead: decode the turn
 * again from its start. */
static void unspeculate(struct pipeline *p)
{
	p->redecoded = true;
	p->spec = false;
	if (stt_begin(p->stt) ||
	    stt_feed(p->stt, p->turn_audio, p->turn_len, NULL, 0, NULL))
		p->hearing = false;
}

static void hear_stop(struct pipeline *p, uint64_t t_event)
{
	char text[STT_TEXT_MAX], *copy;
	uint64_t t_stt;

	if (!p->hearing)
		return;
	p->hearing = false;
	if (p->spec)
		memcpy(text, p->spec_text, sizeof(text));
	else if (stt_end(p->stt, text, sizeof(text)))
		return;
	t_stt = clock_mono_ms();
	copy = pipeline_trimmed(text, strlen(text));
	if (!copy)
		return;
	pthread_mutex_lock(&p->lock);
	pipeline_turn_push(
	    p, copy, t_event > p->stop_ms ? t_event - p->stop_ms : t_event,
	    t_stt, p->redecoded);
	pthread_mutex_unlock(&p->lock);
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

static void on_frame(struct pipeline *p, const struct frame *f)
{
	p->pre[p->pre_at] = *f;
	p->pre_at = (p->pre_at + 1) % PREROLL;
	if (p->npre < PREROLL)
		p->npre++;
	if (f->n >= p->next_frame)
		p->next_frame = f->n + 1;
	if (!p->hearing)
		return;
	hear_feed(p, f->pcm);
	if (p->hearing && p->paused && !p->spec && !p->spec_off &&
	    p->specs < SPEC_PER_TURN &&
	    f->n >= p->pause_frame + p->spec_frames &&
	    (f->n > p->pause_frame + p->pause_max ||
	     f->n >= p->pause_frame + p->spec_frames_max))
		speculate(p);
}

void *pipeline_listener_main(void *arg)
{
	struct pipeline *p = arg;
	struct vad_item v;
	struct frame f;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (p->vlen && p->vq[p->vhead].frame <= p->next_frame) {
			v = p->vq[p->vhead];
			p->vhead = (p->vhead + 1) % VAD_QUEUE;
			p->vlen--;
			pthread_mutex_unlock(&p->lock);
			on_vad(p, &v);
			pthread_mutex_lock(&p->lock);
		} else if (p->alen) {
			f = p->audio[p->ahead];
			p->ahead = (p->ahead + 1) % AUDIO_QUEUE;
			p->alen--;
			pthread_mutex_unlock(&p->lock);
			on_frame(p, &f);
			pthread_mutex_lock(&p->lock);
		} else if (p->vlen) {
			uint64_t due = p->vq[p->vhead].t + VAD_WAIT_MS;

			if (clock_mono_ms() >= due)
				p->next_frame = p->vq[p->vhead].frame;
			else
				pipeline_wait_until(&p->listen_cv, &p->lock,
				                    due);
		} else {
			pthread_cond_wait(&p->listen_cv, &p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}
