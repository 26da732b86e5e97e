/*
 * DESIGN. Three threads per call, one lock.
 *
 * The listener turns the caller's frames into turns. The server sends its
 * control messages ahead of audio, so a VAD event may arrive before the
 * frames that precede it; each event carries its frame number and is
 * applied when the frames before it have gone through (or after
 * VAD_WAIT_MS without them, should they never come). START opens the
 * recogniser with the pre-roll: PREROLL_MS before the voice's ONSET (the
 * VAD needs vad_start_secs of voice before it says START, and the first
 * syllable is in there), so the recogniser hears the word from its start.
 * STOP closes it and hands the transcript to the control thread.
 *
 * Speculative end of turn. The recogniser's final pass takes 100-150 ms,
 * which would come after the stop window. So when the voice has paused
 * (VAD PAUSE) and stayed quiet until SPEC_LEAD_MS before STOP is due, the
 * listener ends the utterance there and keeps the transcript; STOP then
 * hands it over at once. When the voice resumes instead, the recogniser
 * starts again on the turn's audio so far, which is kept for that (up to
 * TURN_KEEP_MS; a longer turn is not decoded ahead, so a re-decode costs
 * at most a second or so of CPU). A pause that is not the end costs a
 * re-decode, so the final pass waits, besides SPEC_LEAD_MS, for the pause
 * to outlast the longest one this caller has resumed after (a caller who
 * stops to think between words is not decoded twice on every turn), but
 * no longer than until SPEC_LEAD_MIN_MS before STOP, and runs ahead at
 * most SPEC_PER_TURN times a turn (bench/README.md, (d), has what this
 * saves).
 *
 * The speaker runs a reply's brain and TTS, both of which block: brain
 * text is cut into clauses (llm_clause_end), each clause is synthesised as
 * soon as it is complete, and each TTS chunk is queued for the control
 * thread as it is made. A pause is put between clauses, since each
 * synthesis starts at its first sound.
 *
 * The control thread owns the conversation: the history, the reply in
 * flight and its fate. It takes server events before anything else, then
 * sends the queued audio paced to at most AHEAD_MS ahead of real time
 * (counted from the utterance's first audio; the server holds 10 s, so a
 * late start costs nothing), a mark after each clause (mark = its index),
 * say_end at the end; then it starts the reply to the next turn. It is the
 * only thread that calls ops.
 *
 * Barge-in. The inputs run on the transport's thread and decide there,
 * under the lock, what a control message means for the reply in flight:
 * `interrupted` for it, or VAD START before the server said it was
 * `speaking`, sets the atomic cancel flag that llm_chat polls and the TTS
 * chunk handler reads, so the brain and the synthesis stop within a poll
 * (llm_chat's, 20 ms) or a chunk, whatever the pipeline threads are doing,
 * and the control thread sends none of the reply's audio after it. VAD
 * START before `speaking` also makes the control thread call clear: the
 * server drops unheard audio on START by itself (bridge.c), clear covers
 * audio still on the way.
 *
 * What was heard. The clauses whose marks were played (or which the
 * server's heard_ms covers whole) were heard; of the clause in progress,
 * the share heard_ms has played of its audio is taken as the same share
 * of its text, in bytes, cut back to the last whole word. Speech rate is
 * not even across a clause, so this can be a word off either way; a word
 * half said is not counted. The history keeps that text and nothing more.
 *
 * False interruption. When a reply cut by the caller is followed by a turn
 * whose transcript is empty (a cough, a click, a breath), the agent says
 * the unheard rest of the reply as a new utterance, and what is heard of
 * it joins the same assistant message. A brain reply cut before any of its
 * text came (an LLM still thinking) is asked again instead. An LLM reply
 * is not continued: the rest is what it had written when it was cut.
 *
 * Figures. The end of the caller's speech is taken as the STOP event's
 * arrival minus stop_secs (the server's VAD says STOP after that much
 * silence), not the last voiced frame: the worker does not run a VAD.
 *
 * Files. The inputs and the pipeline's life are here; the listener is in
 * pipeline_listen.c, the speaker in pipeline_speak.c, the control thread
 * in pipeline_control.c. What they share, the queues, the reply and the
 * limits named above (PREROLL_MS, SPEC_LEAD_MS, AHEAD_MS...), is in
 * pipeline_int.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>

#include "core/clock.h"
#include "worker/pipeline_int.h"
#include "speech/stt.h"

void pipeline_wait_until(pthread_cond_t *cv, pthread_mutex_t *lock,
                         uint64_t at_ms)
{
	struct timespec ts = {(time_t)(at_ms / 1000),
	                      (long)(at_ms % 1000) * 1000000L};

	pthread_cond_timedwait(cv, lock, &ts);
}

bool pipeline_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies s[0..len) without the spaces around it; NULL on ENOMEM. */
char *pipeline_trimmed(const char *s, size_t len)
{
	while (len && pipeline_is_space(*s)) {
		s++;
		len--;
	}
	while (len && pipeline_is_space(s[len - 1]))
		len--;
	return strndup(s, len);
}

static void reply_destructor(void *arg)
{
	struct reply *r = arg;

	for (size_t i = 0; i < r->nmsgs; i++)
		free((char *)r->msgs[i].content);
	free(r->msgs);
	free(r->transcript);
	free(r->fixed);
	free(r->text);
	free(r->cl);
	free(r->q);
}

int pipeline_reply_alloc(struct reply **rp)
{
	struct reply *r = mem_zalloc(sizeof(*r), reply_destructor);

	if (!r)
		return ENOMEM;
	*rp = r;
	return 0;
}

/* ---- inputs (the transport's thread) ---------------------------------- */

/* With the lock held. */
static void ctl_push(struct pipeline *p, enum ctl_kind kind, uint32_t utt,
                     uint32_t mark, uint32_t heard_ms, int32_t latency_ms)
{
	struct ctl *c = calloc(1, sizeof(*c));

	/* Out of memory, the event is lost; a cancel already made by the
	 * caller stands. */
	if (!c)
		return;
	c->kind = kind;
	c->utt = utt;
	c->mark = mark;
	c->heard_ms = heard_ms;
	c->latency_ms = latency_ms;
	*p->ctl_tail = c;
	p->ctl_tail = &c->next;
	pthread_cond_signal(&p->ctl_cv);
}

/* With the lock held; takes transcript. */
void pipeline_turn_push(struct pipeline *p, char *transcript, uint64_t t_end,
                        uint64_t t_stt, bool redecoded)
{
	struct turn_item *t = calloc(1, sizeof(*t));

	if (!t) {
		free(transcript);
		return;
	}
	t->transcript = transcript;
	t->t_end = t_end;
	t->t_stt = t_stt;
	t->redecoded = redecoded;
	*p->turn_tail = t;
	p->turn_tail = &t->next;
	pthread_cond_signal(&p->ctl_cv);
}

void pipeline_audio(struct pipeline *p, uint32_t frame,
                    const int16_t pcm[PIPELINE_FRAME])
{
	struct frame *f;

	if (!p || !pcm)
		return;
	pthread_mutex_lock(&p->lock);
	/* A listener this far behind is lost anyway; the oldest audio goes
	 * so that what follows is current. */
	if (p->alen == AUDIO_QUEUE) {
		p->ahead = (p->ahead + 1) % AUDIO_QUEUE;
		p->alen--;
	}
	f = &p->audio[(p->ahead + p->alen++) % AUDIO_QUEUE];
	f->n = frame;
	memcpy(f->pcm, pcm, sizeof(f->pcm));
	pthread_cond_signal(&p->listen_cv);
	pthread_mutex_unlock(&p->lock);
}

void pipeline_vad(struct pipeline *p, enum vad_event ev, uint32_t frame)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (ev == VAD_EVENT_START && p->live_utt && p->live_open &&
	    !p->live_audible) {
		atomic_store(&p->chat.cancel, true);
		p->live_open = false;
		ctl_push(p, CTL_CUT, p->live_utt, 0, 0, -1);
	}
	if (p->vlen < VAD_QUEUE) {
		struct vad_item *v = &p->vq[(p->vhead + p->vlen++) % VAD_QUEUE];

		v->ev = ev;
		v->frame = frame;
		v->t = clock_mono_ms();
		pthread_cond_signal(&p->listen_cv);
	}
	pthread_mutex_unlock(&p->lock);
}

void pipeline_speaking(struct pipeline *p, uint32_t utterance,
                       int32_t latency_ms)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (utterance == p->live_utt)
		p->live_audible = true;
	ctl_push(p, CTL_SPEAKING, utterance, 0, 0, latency_ms);
	pthread_mutex_unlock(&p->lock);
}

void pipeline_mark_played(struct pipeline *p, uint32_t utterance, uint32_t mark)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	ctl_push(p, CTL_MARK, utterance, mark, 0, -1);
	pthread_mutex_unlock(&p->lock);
}

void pipeline_played(struct pipeline *p, uint32_t utterance, uint32_t heard_ms)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (utterance == p->live_utt)
		p->live_open = false;
	ctl_push(p, CTL_PLAYED, utterance, 0, heard_ms, -1);
	pthread_mutex_unlock(&p->lock);
}

void pipeline_interrupted(struct pipeline *p, uint32_t utterance,
                          uint32_t heard_ms)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (utterance == p->live_utt && p->live_open) {
		atomic_store(&p->chat.cancel, true);
		p->live_open = false;
	}
	ctl_push(p, CTL_INTERRUPTED, utterance, 0, heard_ms, -1);
	pthread_mutex_unlock(&p->lock);
}

void pipeline_dtmf(struct pipeline *p, const char *digits)
{
	uint64_t t = clock_mono_ms();
	char *text;

	if (!p || !digits || !digits[0])
		return;
	if (asprintf(&text, "DTMF: %s", digits) < 0)
		return;
	pthread_mutex_lock(&p->lock);
	pipeline_turn_push(p, text, t, t, false);
	pthread_mutex_unlock(&p->lock);
}

/* ---- life ------------------------------------------------------------- */

static int cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int err = pthread_condattr_init(&a);

	if (err)
		return err;
	err = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return err;
}

static void halt(struct pipeline *p, int threads)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	atomic_store(&p->chat.cancel, true);
	pthread_cond_broadcast(&p->listen_cv);
	pthread_cond_broadcast(&p->speak_cv);
	pthread_cond_broadcast(&p->ctl_cv);
	pthread_mutex_unlock(&p->lock);
	if (threads > 0)
		pthread_join(p->listener, NULL);
	if (threads > 1)
		pthread_join(p->speaker, NULL);
	if (threads > 2)
		pthread_join(p->control, NULL);
}

static void release(struct pipeline *p)
{
	while (p->ctl_head) {
		struct ctl *c = p->ctl_head;

		p->ctl_head = c->next;
		free(c);
	}
	while (p->turn_head) {
		struct turn_item *t = p->turn_head;

		p->turn_head = t->next;
		free(t->transcript);
		free(t);
	}
	/* p->job, when set, is p->cur. */
	mem_deref(p->cur);
	for (size_t i = 0; i < p->nhist; i++)
		free(p->hist[i].content);
	free(p->hist);
	free(p->rest);
	if (p->stt && !p->cfg->decoder)
		mem_deref(p->stt);
	pthread_cond_destroy(&p->listen_cv);
	pthread_cond_destroy(&p->speak_cv);
	pthread_cond_destroy(&p->ctl_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int sync_init(struct pipeline *p)
{
	pthread_cond_t *cvs[] = {&p->listen_cv, &p->speak_cv, &p->ctl_cv};
	int err = pthread_mutex_init(&p->lock, NULL);
	size_t i;

	if (err)
		return err;
	for (i = 0; i < 3; i++)
		if ((err = cond_init(cvs[i])))
			break;
	if (!err)
		return 0;
	while (i--)
		pthread_cond_destroy(cvs[i]);
	pthread_mutex_destroy(&p->lock);
	return err;
}

int pipeline_open(struct pipeline **pp, const struct pipeline_config *cfg,
                  const struct pipeline_ops *ops, void *arg)
{
	struct pipeline *p;
	int err, threads = 0;

	if (!pp || !cfg || !cfg->stt || !cfg->tts || !cfg->brain ||
	    (cfg->brain->kind == BRAIN_SCRIPT && !cfg->brain->script) || !ops ||
	    !ops->say || !ops->say_end || !ops->mark || !ops->clear ||
	    !ops->turn || !ops->hangup || cfg->stop_secs < 0 ||
	    cfg->stop_secs > 10)
		return EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ENOMEM;
	p->cfg = cfg;
	p->ops = ops;
	p->arg = arg;
	p->stop_ms = (uint64_t)((cfg->stop_secs > 0 ? cfg->stop_secs
	                                            : DEFAULT_STOP_SECS) *
	                            1000 +
	                        0.5);
	p->spec_frames = p->stop_ms > SPEC_LEAD_MS
	                     ? (uint32_t)((p->stop_ms - SPEC_LEAD_MS) / 20)
	                     : 0;
	p->spec_frames_max =
	    p->stop_ms > SPEC_LEAD_MIN_MS
	        ? (uint32_t)((p->stop_ms - SPEC_LEAD_MIN_MS) / 20)
	        : 0;
	p->ctl_tail = &p->ctl_head;
	p->turn_tail = &p->turn_head;
	llm_run_init(&p->chat);
	err = sync_init(p);
	if (err) {
		free(p);
		return err;
	}
	if (cfg->decoder)
		p->stt = cfg->decoder;
	else
		err = stt_alloc(&p->stt, cfg->stt);
	if (!err)
		err = pthread_create(&p->listener, NULL, pipeline_listener_main,
		                     p);
	if (!err && ++threads)
		err =
		    pthread_create(&p->speaker, NULL, pipeline_speaker_main, p);
	if (!err && ++threads)
		err =
		    pthread_create(&p->control, NULL, pipeline_control_main, p);
	if (err) {
		halt(p, threads);
		release(p);
		return err;
	}
	*pp = p;
	return 0;
}

void pipeline_close(struct pipeline *p)
{
	if (!p)
		return;
	halt(p, 3);
	release(p);
}
