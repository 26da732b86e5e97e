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
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/llm.h"
#include "worker/pipeline.h"
#include "speech/stt.h"
#include "speech/tts.h"

#define RATE        8000
#define MS_SAMPLES  (RATE / 1000)
#define AHEAD_MS    1000
#define AUDIO_QUEUE 250 /* caller frames waiting for the listener: 5 s */
/* Caller frames kept for START's pre-roll: PREROLL_MS before an ONSET
 * that came up to 500 ms (vad_start_secs) before START. */
#define PREROLL    40
#define PREROLL_MS 300
#define VAD_QUEUE  64
/* How long before STOP the final pass is started (it takes 100-150 ms),
 * and how much of a turn is kept to decode it again. */
#define SPEC_LEAD_MS 160
/* However long the caller's pauses, the pass starts this long before STOP
 * at the latest: later, it would end after STOP and gain nothing. */
#define SPEC_LEAD_MIN_MS 120
/* A turn whose pause outlasted the caller's pauses and turned out not to
 * be its end still gets its final pass ahead of STOP: at most two
 * re-decodes a turn. */
#define SPEC_PER_TURN 2
#define TURN_KEEP_MS  8000
#define VAD_WAIT_MS   100
/* A comma ends a clause only past this many bytes: shorter pieces make
 * choppy speech for no gain in latency. */
#define CLAUSE_MIN 24
/* Pauses put between clauses, after . ! ? and after , ; : */
#define PAUSE_SENTENCE_MS 300
#define PAUSE_CLAUSE_MS   200
#define DEFAULT_STOP_SECS 0.25
#define STT_TEXT_MAX      1024

static const char apology[] =
    "Sorry, I had a problem answering that. Could you say it again?";

/* ---- queues ----------------------------------------------------------- */

/* A server event for the control thread. CTL_CUT is made by the inputs:
 * VAD START cut a reply that was not yet audible. */
enum ctl_kind {
	CTL_SPEAKING,
	CTL_MARK,
	CTL_PLAYED,
	CTL_INTERRUPTED,
	CTL_CUT,
};

struct ctl {
	struct ctl *next;
	enum ctl_kind kind;
	uint32_t utt, mark, heard_ms;
	int32_t latency_ms;
};

/* A finished caller turn: its transcript, the end of its speech and when
 * the transcript was final (ms, CLOCK_MONOTONIC). */
struct turn_item {
	struct turn_item *next;
	char *transcript;
	uint64_t t_end, t_stt;
	bool redecoded;
};

struct frame {
	uint32_t n;
	int16_t pcm[PIPELINE_FRAME];
};

struct vad_item {
	enum vad_event ev;
	uint32_t frame;
	uint64_t t;
};

/* ---- replies ---------------------------------------------------------- */

struct clause {
	size_t off, len; /* its text, in the reply's text */
	size_t start;    /* its first sample in the utterance */
	size_t lead;     /* samples of pause before its words */
	size_t samples;  /* made so far, lead included */
	bool done;       /* its synthesis is over */
};

enum fate {
	FATE_OPEN,        /* not known yet */
	FATE_PLAYED,      /* heard to its end */
	FATE_INTERRUPTED, /* cut by barge-in after heard_ms */
	FATE_CUT,         /* cut before it was audible */
};

struct hist {
	const char *role; /* "user" or "assistant" */
	char *content;    /* "" until known; empty ones are not sent */
};

/*
 * One utterance of the agent. Made by the control thread, which owns and
 * frees it; the speaker borrows it from being handed the job until it sets
 * gen_done. The fields are grouped by who writes them.
 */
struct reply {
	uint32_t utt;
	char *transcript; /* of its turn; NULL for the greeting */
	bool resume;
	size_t hist;              /* its assistant message */
	char *fixed;              /* what to say; NULL = ask the brain */
	struct llm_message *msgs; /* for the brain: copies of the history */
	size_t nmsgs;
	uint64_t t_end, t_stt;
	bool redecoded; /* its turn's transcript was decoded twice */

	/* the speaker; read by others once gen_done is set */
	char *text; /* everything the brain said, NUL-terminated */
	size_t len, cap;
	size_t said; /* bytes of text handed to TTS */
	bool brain_done, hangup, got_text;
	char err[200];
	uint64_t t_llm;

	/* under the lock */
	struct clause *cl;
	size_t ncl, capcl;
	int16_t *q; /* audio made, not yet sent */
	size_t qhead, qlen, qcap;
	size_t made;   /* samples made */
	size_t sent;   /* samples sent */
	uint64_t t0;   /* when its first audio was sent */
	bool gen_done; /* the speaker is done with it */
	size_t pause;  /* samples of pause owed before the next clause */

	/* the control thread */
	uint32_t next_mark;
	bool ended;     /* say_end sent */
	uint32_t marks; /* clauses whose marks were played */
	enum fate fate;
	uint32_t heard_ms;
	int32_t v2v_ms;
	uint64_t t_tts;
};

struct pipeline {
	const struct pipeline_config *cfg;
	const struct pipeline_ops *ops;
	void *arg;
	struct stt *stt;
	uint64_t stop_ms;

	pthread_mutex_t lock;
	pthread_cond_t listen_cv, speak_cv, ctl_cv;
	pthread_t listener, speaker, control;
	bool stop;
	atomic_bool cancel; /* the reply in flight is cut */

	/* under the lock: the listener's input */
	struct frame audio[AUDIO_QUEUE];
	size_t ahead, alen;
	struct vad_item vq[VAD_QUEUE];
	size_t vhead, vlen;

	/* the listener */
	struct frame pre[PREROLL];
	size_t npre, pre_at;
	uint32_t next_frame;
	uint32_t onset;
	bool has_onset, hearing;
	int16_t turn_audio[TURN_KEEP_MS * MS_SAMPLES]; /* fed since START */
	size_t turn_len;
	/* No more speculation this turn: its audio overflowed turn_audio. */
	bool spec_off;
	unsigned specs; /* times the final pass ran ahead this turn */
	bool paused;    /* PAUSE without RESUME or STOP yet */
	uint32_t pause_frame, spec_frames, spec_frames_max;
	uint32_t pause_max; /* frames of the longest pause the caller resumed
	                       after, in this call */
	bool spec;          /* the final pass ran; frames are kept, not fed */
	bool redecoded;     /* this turn was decoded again after a pause */
	char spec_text[STT_TEXT_MAX];

	/* under the lock: the control thread's input, and the inputs' view
	 * of the reply in flight */
	struct ctl *ctl_head, **ctl_tail;
	struct turn_item *turn_head, **turn_tail;
	uint32_t live_utt;
	bool live_audible, live_open;
	struct reply *job; /* for the speaker */

	/* the control thread */
	struct reply *cur;
	struct hist *hist;
	size_t nhist, caphist;
	bool has_rest; /* a reply cut by the caller can be resumed */
	char *rest;    /* its unheard text ("" = ask the brain again) */
	size_t rest_hist;
	bool rest_rerun;
	uint32_t next_utt;
	int16_t out[AHEAD_MS * MS_SAMPLES];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wait_until(pthread_cond_t *cv, pthread_mutex_t *lock,
                       uint64_t at_ms)
{
	struct timespec ts = {(time_t)(at_ms / 1000),
	                      (long)(at_ms % 1000) * 1000000L};

	pthread_cond_timedwait(cv, lock, &ts);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies s[0..len) without the spaces around it; NULL on ENOMEM. */
static char *trimmed(const char *s, size_t len)
{
	while (len && is_space(*s)) {
		s++;
		len--;
	}
	while (len && is_space(s[len - 1]))
		len--;
	return strndup(s, len);
}

static void reply_free(struct reply *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nmsgs; i++)
		free((char *)r->msgs[i].content);
	free(r->msgs);
	free(r->transcript);
	free(r->fixed);
	free(r->text);
	free(r->cl);
	free(r->q);
	free(r);
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
static void turn_push(struct pipeline *p, char *transcript, uint64_t t_end,
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
		atomic_store(&p->cancel, true);
		p->live_open = false;
		ctl_push(p, CTL_CUT, p->live_utt, 0, 0, -1);
	}
	if (p->vlen < VAD_QUEUE) {
		struct vad_item *v = &p->vq[(p->vhead + p->vlen++) % VAD_QUEUE];

		v->ev = ev;
		v->frame = frame;
		v->t = now_ms();
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
		atomic_store(&p->cancel, true);
		p->live_open = false;
	}
	ctl_push(p, CTL_INTERRUPTED, utterance, 0, heard_ms, -1);
	pthread_mutex_unlock(&p->lock);
}

void pipeline_dtmf(struct pipeline *p, const char *digits)
{
	uint64_t t = now_ms();
	char *text;

	if (!p || !digits || !digits[0])
		return;
	if (asprintf(&text, "DTMF: %s", digits) < 0)
		return;
	pthread_mutex_lock(&p->lock);
	turn_push(p, text, t, t, false);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the listener ----------------------------------------------------- */

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
	t_stt = now_ms();
	copy = trimmed(text, strlen(text));
	if (!copy)
		return;
	pthread_mutex_lock(&p->lock);
	turn_push(p, copy,
	          t_event > p->stop_ms ? t_event - p->stop_ms : t_event, t_stt,
	          p->redecoded);
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

static void *listener_main(void *arg)
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

			if (now_ms() >= due)
				p->next_frame = p->vq[p->vhead].frame;
			else
				wait_until(&p->listen_cv, &p->lock, due);
		} else {
			pthread_cond_wait(&p->listen_cv, &p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the speaker ------------------------------------------------------ */

static size_t pause_after(const char *clause, size_t len)
{
	while (len && is_space(clause[len - 1]))
		len--;
	if (!len)
		return 0;
	if (strchr(".!?", clause[len - 1]))
		return PAUSE_SENTENCE_MS * MS_SAMPLES;
	if (strchr(",;:", clause[len - 1]))
		return PAUSE_CLAUSE_MS * MS_SAMPLES;
	return 0;
}

/* With the lock held. */
static bool q_add(struct reply *r, const int16_t *pcm, size_t n)
{
	if (r->qhead + r->qlen + n > r->qcap) {
		if (r->qhead) {
			memmove(r->q, r->q + r->qhead, r->qlen * sizeof(*r->q));
			r->qhead = 0;
		}
		if (r->qlen + n > r->qcap) {
			size_t cap = r->qcap ? r->qcap : 8 * 1024;
			int16_t *q;

			while (cap < r->qlen + n)
				cap *= 2;
			q = realloc(r->q, cap * sizeof(*q));
			if (!q)
				return false;
			r->q = q;
			r->qcap = cap;
		}
	}
	if (pcm)
		memcpy(r->q + r->qhead + r->qlen, pcm, n * sizeof(*pcm));
	else
		memset(r->q + r->qhead + r->qlen, 0, n * sizeof(*r->q));
	r->qlen += n;
	r->made += n;
	return true;
}

struct synth {
	struct pipeline *p;
	struct reply *r;
	size_t ci; /* the clause; r->cl may move while it is made */
	bool first;
};

static bool on_pcm(const int16_t *pcm, size_t n, void *arg)
{
	struct synth *s = arg;
	struct pipeline *p = s->p;
	struct reply *r = s->r;
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = !p->stop && !atomic_load(&p->cancel);
	if (ok && s->first) {
		struct clause *c = &r->cl[s->ci];
		/* Where the server's playout is, if it started when the
		 * first audio was sent: a caller who already waits for the
		 * next words needs no pause. */
		bool starved = r->t0 && r->t0 + r->made / MS_SAMPLES < now_ms();

		if (r->pause && !starved && q_add(r, NULL, r->pause))
			c->lead = c->samples = r->pause;
		r->pause = 0;
		s->first = false;
	}
	if (ok && !q_add(r, pcm, n))
		ok = false;
	if (ok) {
		r->cl[s->ci].samples += n;
		pthread_cond_signal(&p->ctl_cv);
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

/* Synthesises r->text[off..off+len) as the next clause. */
static void speak_clause(struct pipeline *p, struct reply *r, size_t off,
                         size_t len)
{
	struct synth s = {.p = p, .r = r, .first = true};
	char *text = strndup(r->text + off, len);
	struct clause *c;

	if (!text)
		return;
	pthread_mutex_lock(&p->lock);
	if (r->ncl == r->capcl) {
		size_t cap = r->capcl ? 2 * r->capcl : 8;
		struct clause *cl = realloc(r->cl, cap * sizeof(*cl));

		if (!cl) {
			pthread_mutex_unlock(&p->lock);
			free(text);
			return;
		}
		r->cl = cl;
		r->capcl = cap;
	}
	s.ci = r->ncl++;
	c = &r->cl[s.ci];
	memset(c, 0, sizeof(*c));
	c->off = off;
	c->len = len;
	c->start = r->made;
	pthread_mutex_unlock(&p->lock);

	/* ECANCELED is the barge-in; another error leaves the clause
	 * shorter, or silent, and the reply goes on. */
	(void)tts_synth(p->cfg->tts, text, on_pcm, &s);
	free(text);

	pthread_mutex_lock(&p->lock);
	r->cl[s.ci].done = true;
	if (r->cl[s.ci].samples > r->cl[s.ci].lead)
		r->pause = pause_after(r->text + off, len);
	pthread_cond_signal(&p->ctl_cv);
	pthread_mutex_unlock(&p->lock);
}

static bool text_add(struct reply *r, const char *s, size_t n)
{
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 256;
		char *t;

		while (cap < r->len + n + 1)
			cap *= 2;
		t = realloc(r->text, cap);
		if (!t)
			return false;
		r->text = t;
		r->cap = cap;
	}
	memcpy(r->text + r->len, s, n);
	r->len += n;
	r->text[r->len] = '\0';
	return true;
}

/* Speaks the complete clauses of the text not said yet; with last, the
 * rest too. */
static void speak_text(struct pipeline *p, struct reply *r, bool last)
{
	while (!atomic_load(&p->cancel)) {
		size_t e;

		while (r->said < r->len && is_space(r->text[r->said]))
			r->said++;
		if (r->said == r->len)
			return;
		e = llm_clause_end(r->text + r->said, r->len - r->said,
		                   CLAUSE_MIN);
		if (!e && !last)
			return;
		if (!e)
			e = r->len - r->said;
		speak_clause(p, r, r->said, e);
		r->said += e;
	}
}

struct brain_run {
	struct pipeline *p;
	struct reply *r;
};

static void on_text(const char *text, size_t len, void *arg)
{
	struct brain_run *b = arg;

	if (!b->r->got_text) {
		b->r->got_text = true;
		b->r->t_llm = now_ms();
	}
	if (text_add(b->r, text, len))
		speak_text(b->p, b->r, false);
}

static void run_reply(struct pipeline *p, struct reply *r)
{
	struct brain_run b = {p, r};
	int err;

	if (r->fixed) {
		/* No brain: no brain figure either. */
		r->got_text = true;
		on_text(r->fixed, strlen(r->fixed), &b);
		r->brain_done = true;
	} else {
		err =
		    brain_reply(p->cfg->brain, r->msgs, r->nmsgs, on_text, &b,
		                &p->cancel, &r->hangup, r->err, sizeof(r->err));
		r->brain_done = !err;
		if (err == ECANCELED || atomic_load(&p->cancel)) {
			r->err[0] = '\0';
		} else if (err) {
			if (!r->err[0])
				snprintf(r->err, sizeof(r->err), "%s",
				         strerror(err));
			r->hangup = false;
			/* Whatever was said stays said; the apology follows
			 * it as a sentence of its own. Out of memory, it is
			 * lost: there is nothing better to say. */
			speak_text(p, r, true);
			if (r->len && !text_add(r, " ", 1))
				return;
			if (!text_add(r, apology, sizeof(apology) - 1))
				return;
		}
	}
	speak_text(p, r, true);
}

static void *speaker_main(void *arg)
{
	struct pipeline *p = arg;
	struct reply *r;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (!p->job) {
			pthread_cond_wait(&p->speak_cv, &p->lock);
			continue;
		}
		r = p->job;
		p->job = NULL;
		pthread_mutex_unlock(&p->lock);
		run_reply(p, r);
		pthread_mutex_lock(&p->lock);
		/* From here the control thread may free r. */
		r->gen_done = true;
		pthread_cond_signal(&p->ctl_cv);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the control thread ----------------------------------------------- */

static int hist_add(struct pipeline *p, const char *role, const char *text,
                    size_t *idx)
{
	char *copy = strdup(text);

	if (!copy)
		return ENOMEM;
	if (p->nhist == p->caphist) {
		size_t cap = p->caphist ? 2 * p->caphist : 16;
		struct hist *h = realloc(p->hist, cap * sizeof(*h));

		if (!h) {
			free(copy);
			return ENOMEM;
		}
		p->hist = h;
		p->caphist = cap;
	}
	p->hist[p->nhist].role = role;
	p->hist[p->nhist].content = copy;
	if (idx)
		*idx = p->nhist;
	p->nhist++;
	return 0;
}

/* The history as the brain sees it: the messages with text, copied, since
 * the control thread goes on changing it while the brain runs. */
static int hist_copy(struct pipeline *p, struct reply *r)
{
	r->msgs = calloc(p->nhist ? p->nhist : 1, sizeof(*r->msgs));
	if (!r->msgs)
		return ENOMEM;
	for (size_t i = 0; i < p->nhist; i++) {
		char *c;

		if (!p->hist[i].content[0])
			continue;
		c = strdup(p->hist[i].content);
		if (!c)
			return ENOMEM;
		r->msgs[r->nmsgs].role = p->hist[i].role;
		r->msgs[r->nmsgs++].content = c;
	}
	return 0;
}

static void rest_clear(struct pipeline *p)
{
	free(p->rest);
	p->rest = NULL;
	p->has_rest = false;
}

/* Hands r to the speaker; it becomes the reply in flight. */
static void reply_begin(struct pipeline *p, struct reply *r)
{
	r->utt = ++p->next_utt;
	r->v2v_ms = -1;
	pthread_mutex_lock(&p->lock);
	p->cur = r;
	p->job = r;
	p->live_utt = r->utt;
	p->live_audible = false;
	p->live_open = true;
	atomic_store(&p->cancel, false);
	pthread_cond_signal(&p->speak_cv);
	pthread_mutex_unlock(&p->lock);
}

static void greet(struct pipeline *p)
{
	const char *g = p->cfg->greeting;
	struct reply *r;

	if (!g || !g[0])
		return;
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->fixed = strdup(g);
	if (!r->fixed || hist_add(p, "assistant", "", &r->hist)) {
		reply_free(r);
		return;
	}
	reply_begin(p, r);
}

static void on_turn(struct pipeline *p, struct turn_item *t)
{
	struct reply *r = calloc(1, sizeof(*r));
	int err = 0;

	if (!r)
		return;
	r->t_end = t->t_end;
	r->t_stt = t->t_stt;
	r->redecoded = t->redecoded;
	if (!t->transcript[0]) {
		bool rerun = p->has_rest && !p->rest[0] && p->rest_rerun;

		/* Nothing said and nothing to resume: no turn at all. */
		if (!p->has_rest || (!p->rest[0] && !rerun)) {
			rest_clear(p);
			reply_free(r);
			return;
		}
		r->resume = true;
		r->hist = p->rest_hist;
		r->transcript = strdup("");
		if (!r->transcript)
			err = ENOMEM;
		else if (rerun)
			err = hist_copy(p, r);
		else if (!(r->fixed = strdup(p->rest)))
			err = ENOMEM;
		rest_clear(p);
	} else {
		rest_clear(p);
		r->transcript = strdup(t->transcript);
		if (!r->transcript)
			err = ENOMEM;
		if (!err)
			err = hist_add(p, "user", t->transcript, NULL);
		if (!err)
			err = hist_add(p, "assistant", "", &r->hist);
		if (!err)
			err = hist_copy(p, r);
	}
	if (err) {
		reply_free(r);
		return;
	}
	reply_begin(p, r);
}

static void on_ctl(struct pipeline *p, const struct ctl *c)
{
	struct reply *r = p->cur;
	bool mine = r && r->utt == c->utt;

	switch (c->kind) {
	case CTL_SPEAKING:
		if (mine)
			r->v2v_ms = c->latency_ms;
		break;
	case CTL_MARK:
		if (mine && c->mark + 1 > r->marks)
			r->marks = c->mark + 1;
		break;
	case CTL_PLAYED:
		if (mine && r->fate == FATE_OPEN)
			r->fate = FATE_PLAYED;
		break;
	case CTL_INTERRUPTED:
		/* Also after a CUT: the server knows better what was
		 * played. */
		if (mine && r->fate != FATE_PLAYED) {
			r->fate = FATE_INTERRUPTED;
			r->heard_ms = c->heard_ms;
		}
		break;
	case CTL_CUT:
		p->ops->clear(p->arg);
		if (mine && r->fate == FATE_OPEN)
			r->fate = FATE_CUT;
		break;
	}
}

/* Bytes of the reply's text the caller heard (see the top of the file). */
static size_t heard_bytes(const struct reply *r)
{
	size_t at = (size_t)r->heard_ms * MS_SAMPLES, pos = 0;

	if (r->fate == FATE_PLAYED)
		return r->said;
	if (r->fate == FATE_CUT)
		return 0;
	for (size_t i = 0; i < r->ncl; i++) {
		const struct clause *c = &r->cl[i];
		size_t words = c->samples - c->lead, into, cut;
		const char *t = r->text + c->off;

		if (i < r->marks || (c->done && at >= c->start + c->samples)) {
			pos = c->off + c->len;
			continue;
		}
		if (!words || at <= c->start + c->lead)
			break;
		into = at - c->start - c->lead;
		cut = into >= words ? c->len : c->len * into / words;
		if (cut < c->len && !is_space(t[cut]))
			while (cut && !is_space(t[cut - 1]))
				cut--;
		if (cut)
			pos = c->off + cut;
		break;
	}
	return pos;
}

static int32_t since(uint64_t t, uint64_t t_end)
{
	if (!t || !t_end)
		return -1;
	return t > t_end ? (int32_t)(t - t_end) : 0;
}

/* The fate of the reply in flight is known: the history, what can be
 * resumed, the turn's figures. */
static void settle(struct pipeline *p)
{
	struct reply *r = p->cur;
	size_t pos = heard_bytes(r);
	const char *text = r->text ? r->text : "";
	char *heard = trimmed(text, pos);
	char *rest = trimmed(text + pos, r->len - pos);
	struct hist *h = &p->hist[r->hist];

	pthread_mutex_lock(&p->lock);
	if (p->live_utt == r->utt)
		p->live_open = false;
	p->cur = NULL;
	pthread_mutex_unlock(&p->lock);

	/* A resume adds to the message of the reply it resumes. */
	if (heard && heard[0]) {
		char *content = NULL;

		if (h->content[0]) {
			if (asprintf(&content, "%s %s", h->content, heard) < 0)
				content = NULL;
		} else {
			content = strdup(heard);
		}
		if (content) {
			free(h->content);
			h->content = content;
		}
	}
	if (r->fate == FATE_INTERRUPTED || r->fate == FATE_CUT) {
		rest_clear(p);
		if (rest) {
			p->has_rest = true;
			p->rest = rest;
			p->rest_hist = r->hist;
			p->rest_rerun = !r->brain_done && !r->fixed && !pos;
			rest = NULL;
		}
	}
	if (r->transcript) {
		struct pipeline_turn t = {
		    .utterance = r->utt,
		    .transcript = r->transcript,
		    .reply = heard ? heard : "",
		    .stt_ms = since(r->t_stt, r->t_end),
		    .llm_ms = since(r->t_llm, r->t_end),
		    .tts_ms = since(r->t_tts, r->t_end),
		    .v2v_ms = r->v2v_ms,
		    .interrupted =
		        r->fate == FATE_INTERRUPTED || r->fate == FATE_CUT,
		    .resumed = r->resume,
		    .redecoded = r->redecoded,
		    .error = r->err[0] ? r->err : NULL,
		};

		p->ops->turn(p->arg, &t);
	}
	free(heard);
	free(rest);
	reply_free(r);
}

enum act {
	ACT_NONE,
	ACT_SAY,
	ACT_MARK,
	ACT_END,
};

/* With the lock held: the next thing to send for r, or when to look again
 * (*wake, 0 = when something happens). */
static enum act next_act(struct pipeline *p, struct reply *r, size_t *n,
                         uint64_t *wake)
{
	uint64_t now = now_ms();
	size_t allowed, upto;
	const struct clause *c;

	*wake = 0;
	if (atomic_load(&p->cancel) || r->fate != FATE_OPEN) {
		r->qlen = 0;
		return ACT_NONE;
	}
	/* A clause that made no sound gets no mark: there is nothing to
	 * have played. */
	while (r->next_mark < r->ncl && r->cl[r->next_mark].done &&
	       !r->cl[r->next_mark].samples)
		r->next_mark++;
	c = r->next_mark < r->ncl ? &r->cl[r->next_mark] : NULL;
	if (c && c->done && r->sent >= c->start + c->samples)
		return ACT_MARK;
	if (r->qlen) {
		upto = c && c->done ? c->start + c->samples : r->made;
		allowed = AHEAD_MS * MS_SAMPLES;
		if (r->t0)
			allowed += (size_t)(now - r->t0) * MS_SAMPLES;
		allowed = allowed > r->sent ? allowed - r->sent : 0;
		*n = upto - r->sent;
		if (*n > allowed)
			*n = allowed;
		if (*n > sizeof(p->out) / sizeof(p->out[0]))
			*n = sizeof(p->out) / sizeof(p->out[0]);
		if (*n >= PIPELINE_FRAME || *n == upto - r->sent) {
			memcpy(p->out, r->q + r->qhead, *n * sizeof(*r->q));
			r->qhead += *n;
			r->qlen -= *n;
			r->sent += *n;
			if (!r->t0)
				r->t0 = now;
			return ACT_SAY;
		}
		/* + 1: the ms rounding must not leave it just short. */
		*wake = r->t0 + (r->sent + PIPELINE_FRAME) / MS_SAMPLES -
		        AHEAD_MS + 1;
		return ACT_NONE;
	}
	if (r->gen_done && !c && r->sent && !r->ended)
		return ACT_END;
	return ACT_NONE;
}

static void *control_main(void *arg)
{
	struct pipeline *p = arg;

	greet(p);
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct ctl *c = p->ctl_head;
		struct reply *r = p->cur;
		uint64_t wake = 0;
		size_t n = 0;
		enum act act;

		if (c) {
			p->ctl_head = c->next;
			if (!p->ctl_head)
				p->ctl_tail = &p->ctl_head;
			pthread_mutex_unlock(&p->lock);
			on_ctl(p, c);
			free(c);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		/* A turn waits for the reply before it to be played; if
		 * the server never says so, it is taken as heard. */
		if (r && r->gen_done && r->fate == FATE_OPEN && p->turn_head &&
		    r->ended)
			r->fate = FATE_PLAYED;
		if (r && r->gen_done &&
		    (r->fate != FATE_OPEN || (!r->sent && !r->qlen))) {
			if (r->fate == FATE_OPEN)
				r->fate = FATE_PLAYED;
			pthread_mutex_unlock(&p->lock);
			settle(p);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (r) {
			act = next_act(p, r, &n, &wake);
			if (act == ACT_SAY && !r->t_tts)
				r->t_tts = r->t0;
			if (act == ACT_MARK)
				n = r->next_mark++;
			if (act == ACT_END)
				r->ended = true;
			if (act != ACT_NONE) {
				uint32_t utt = r->utt;
				/* Read once the speaker is done with r. */
				bool hangup = act == ACT_END && r->hangup;

				pthread_mutex_unlock(&p->lock);
				if (act == ACT_SAY)
					p->ops->say(p->arg, utt, p->out, n);
				else if (act == ACT_MARK)
					p->ops->mark(p->arg, utt, (uint32_t)n);
				else
					p->ops->say_end(p->arg, utt);
				if (act == ACT_END && hangup)
					p->ops->hangup(p->arg, "dialog ended");
				pthread_mutex_lock(&p->lock);
				continue;
			}
		}
		if (!r && p->turn_head) {
			struct turn_item *t = p->turn_head;

			p->turn_head = t->next;
			if (!p->turn_head)
				p->turn_tail = &p->turn_head;
			pthread_mutex_unlock(&p->lock);
			on_turn(p, t);
			free(t->transcript);
			free(t);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (wake)
			wait_until(&p->ctl_cv, &p->lock, wake);
		else
			pthread_cond_wait(&p->ctl_cv, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
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
	atomic_store(&p->cancel, true);
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
	reply_free(p->cur);
	for (size_t i = 0; i < p->nhist; i++)
		free(p->hist[i].content);
	free(p->hist);
	free(p->rest);
	if (p->stt && !p->cfg->decoder)
		stt_free(p->stt);
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

int pipeline_start(struct pipeline **pp, const struct pipeline_config *cfg,
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
	atomic_init(&p->cancel, false);
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
		err = pthread_create(&p->listener, NULL, listener_main, p);
	if (!err && ++threads)
		err = pthread_create(&p->speaker, NULL, speaker_main, p);
	if (!err && ++threads)
		err = pthread_create(&p->control, NULL, control_main, p);
	if (err) {
		halt(p, threads);
		release(p);
		return err;
	}
	*pp = p;
	return 0;
}

void pipeline_stop(struct pipeline *p)
{
	if (!p)
		return;
	halt(p, 3);
	release(p);
}
