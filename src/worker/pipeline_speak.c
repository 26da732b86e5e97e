/*
 * The pipeline's speaker (the DESIGN at the top of pipeline.c): a reply's
 * brain and TTS, which block; the brain's text cut into clauses, each
 * synthesised as soon as it is complete, its audio queued for the control
 * thread as it is made, with a pause between clauses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "worker/pipeline_int.h"
#include "speech/tts.h"

static const char apology[] =
    "Sorry, I had a problem answering that. Could you say it again?";

static size_t pause_after(const char *clause, size_t len)
{
	while (len && pipeline_is_space(clause[len - 1]))
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
	ok = !p->stop && !atomic_load(&p->chat.cancel);
	if (ok && s->first) {
		struct clause *c = &r->cl[s->ci];
		/* Where the server's playout is, if it started when the
		 * first audio was sent: a caller who already waits for the
		 * next words needs no pause. */
		bool starved =
		    r->t0 && r->t0 + r->made / MS_SAMPLES < clock_mono_ms();

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
	while (!atomic_load(&p->chat.cancel)) {
		size_t e;

		while (r->said < r->len && pipeline_is_space(r->text[r->said]))
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
		b->r->t_llm = clock_mono_ms();
	}
	if (text_add(b->r, text, len))
		speak_text(b->p, b->r, false);
}

static void run_reply(struct pipeline *p, struct reply *r)
{
	struct brain_run b = {p, r};
	const char *why = NULL;
	int err;

	if (r->fixed) {
		/* No brain: no brain figure either. */
		r->got_text = true;
		on_text(r->fixed, strlen(r->fixed), &b);
		r->brain_done = true;
	} else {
		err = brain_reply(p->cfg->brain, r->msgs, r->nmsgs, on_text, &b,
		                  &p->chat, &r->hangup, &why);
		r->brain_done = !err;
		if (err == ECANCELED || atomic_load(&p->chat.cancel)) {
			r->err[0] = '\0';
		} else if (err) {
			/* The reply keeps its own copy: the control thread
			 * reports it after the next chat may have begun. */
			snprintf(r->err, sizeof(r->err), "%s",
			         why ? why : strerror(err));
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

void *pipeline_speaker_main(void *arg)
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
