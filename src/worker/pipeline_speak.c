/*
 * Making a reply (the DESIGN at the top of pipeline.c): the brain's text,
 * as it comes, cut into clauses, each handed to the speaker as soon as it
 * is complete; the speaker's audio queued on the reply as it is made, with
 * a pause between clauses. Nothing here waits: the brain and the speaker
 * answer on the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/clock.h"
#include "worker/brain.h"
#include "worker/pipeline_int.h"
#include "worker/speaker.h"

static const char apology[] = PIPELINE_APOLOGY;

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

static void gen_check(struct reply *r)
{
	if (r->brain_over && r->cl_next == r->ncl)
		r->gen_done = true;
}

/* The speaker's clauses come back in the order given: the one it is on is
 * r->cl_next. */
static struct clause *clause_of(struct pipeline *p, uint32_t tag,
                                struct reply **rp)
{
	struct reply *r = p->cur;

	if (!r || r->utt != tag || r->cancelled || r->cl_next >= r->ncl)
		return NULL;
	*rp = r;
	return &r->cl[r->cl_next];
}

static void on_audio(uint32_t tag, const int16_t *pcm, size_t n, void *arg)
{
	struct pipeline *p = arg;
	struct reply *r = NULL;
	struct clause *c = clause_of(p, tag, &r);

	if (!c || !n)
		return;
	if (!c->begun) {
		/* Where the server's playout is, if it started when the
		 * first audio was sent: a caller who already waits for the
		 * next words needs no pause. */
		bool starved =
		    r->t0 && r->t0 + r->made / MS_SAMPLES < clock_mono_ms();

		c->begun = true;
		c->start = r->made;
		if (r->pause && !starved && q_add(r, NULL, r->pause))
			c->lead = c->samples = r->pause;
		r->pause = 0;
	}
	/* Out of memory, the chunk is lost: the clause is shorter. */
	if (q_add(r, pcm, n))
		c->samples += n;
	pipeline_pump(p);
}

static bool text_add(struct reply *r, const char *s, size_t n);
static void speak_clause(struct pipeline *p, struct reply *r, size_t off,
                         size_t len, bool embedded);

/* The network voice failed on r: the brain stops, and the embedded voice
 * apologises after what was heard. The speaker logged why. */
static void tts_fail(struct pipeline *p, struct reply *r, int err,
                     const char *why)
{
	size_t off;

	r->tts_failed = true;
	if (!r->err[0])
		snprintf(r->err, sizeof(r->err), "tts: %s",
		         why && why[0] ? why : strerror(err));
	r->brain = mem_deref(r->brain);
	r->brain_over = true;
	off = r->len;
	if ((r->len && !text_add(r, " ", 1)) ||
	    !text_add(r, apology, sizeof(apology) - 1))
		return;
	if (r->len > off && r->text[off] == ' ')
		off++;
	r->said = r->len;
	speak_clause(p, r, off, r->len - off, true);
}

static void on_clause_done(uint32_t tag, int err, const char *why, void *arg)
{
	struct pipeline *p = arg;
	struct reply *r = NULL;
	struct clause *c = clause_of(p, tag, &r);
	bool fail;

	/* An error leaves the clause shorter, or silent, and the reply goes
	 * on; a network voice's failure is apologised for. */
	if (!c)
		return;
	fail = err && err != ECANCELED && p->cfg->tts_net && !r->tts_failed;
	if (!c->begun) {
		c->begun = true;
		c->start = r->made;
	}
	c->done = true;
	if (c->samples > c->lead)
		r->pause = pause_after(r->text + c->off, c->len);
	r->cl_next++;
	if (fail)
		tts_fail(p, r, err, why);
	gen_check(r);
	pipeline_pump(p);
}

/* Hands r->text[off..off+len) to the speaker as the next clause, said by
 * the embedded voice with embedded. */
static void speak_clause(struct pipeline *p, struct reply *r, size_t off,
                         size_t len, bool embedded)
{
	struct clause *c;

	if (r->ncl == r->capcl) {
		size_t cap = r->capcl ? 2 * r->capcl : 8;
		struct clause *cl = realloc(r->cl, cap * sizeof(*cl));

		if (!cl)
			return;
		r->cl = cl;
		r->capcl = cap;
	}
	c = &r->cl[r->ncl];
	memset(c, 0, sizeof(*c));
	c->off = off;
	c->len = len;
	if ((embedded ? speaker_say_embedded
	              : speaker_say)(p->mouth, r->text + off, len, r->utt))
		return;
	r->ncl++;
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
	while (!r->cancelled && !r->tts_failed) {
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
		speak_clause(p, r, r->said, e, false);
		r->said += e;
	}
}

/* The reply the brain writes: the held one while there is one (it is
 * only made with no reply in flight, and STOP adopts or drops it before
 * the next begins). */
static struct reply *brain_reply(struct pipeline *p)
{
	return p->pre_reply ? p->pre_reply : p->cur;
}

static void on_text(const char *text, size_t len, void *arg)
{
	struct pipeline *p = arg;
	struct reply *r = brain_reply(p);

	if (!r || r->cancelled || r->tts_failed)
		return;
	if (!r->got_text) {
		r->got_text = true;
		r->t_llm = clock_mono_ms();
	}
	if (text_add(r, text, len) && !r->held)
		speak_text(p, r, false);
}

static void on_brain_done(int err, const char *why, bool hangup, void *arg)
{
	struct pipeline *p = arg;
	struct reply *r = brain_reply(p);

	if (!r || r->cancelled)
		return;
	r->brain = mem_deref(r->brain);
	r->brain_done = !err;
	r->hangup = !err && hangup;
	/* A held reply that failed is dropped at STOP, and the turn asked
	 * again: the failure may have passed. */
	if (r->held) {
		r->brain_over = true;
		return;
	}
	if (err) {
		/* The reply keeps its own copy for the turn's report. */
		snprintf(r->err, sizeof(r->err), "%s",
		         why && why[0] ? why : strerror(err));
		/* Whatever was said stays said; the apology follows it as
		 * a sentence of its own. Out of memory, it is lost: there
		 * is nothing better to say. */
		speak_text(p, r, true);
		if ((!r->len || text_add(r, " ", 1)))
			(void)text_add(r, apology, sizeof(apology) - 1);
	}
	speak_text(p, r, true);
	r->brain_over = true;
	gen_check(r);
	pipeline_pump(p);
}

void pipeline_speak_start(struct pipeline *p, struct reply *r)
{
	const char *why = NULL;
	int err;

	if (p->rt) {
		pipeline_rt_start(p, r);
		return;
	}
	if (r->fixed) {
		/* No brain: no brain figure either. */
		r->got_text = true;
		if (text_add(r, r->fixed, strlen(r->fixed)))
			speak_text(p, r, true);
		r->brain_done = r->brain_over = true;
		gen_check(r);
		return;
	}
	err = brain_reply_start(&r->brain, p->cfg->brain, p->cfg->http, r->msgs,
	                        r->nmsgs, on_text, on_brain_done, p, &why);
	if (err) {
		/* Said at once: the brain could not even start. */
		snprintf(r->err, sizeof(r->err), "%s",
		         why ? why : strerror(err));
		(void)text_add(r, apology, sizeof(apology) - 1);
		speak_text(p, r, true);
		r->brain_over = true;
		gen_check(r);
	}
}

int pipeline_speak_hold(struct pipeline *p, struct reply *r)
{
	const char *why = NULL;
	int err;

	r->held = true;
	err = brain_reply_start(&r->brain, p->cfg->brain, p->cfg->http, r->msgs,
	                        r->nmsgs, on_text, on_brain_done, p, &why);
	if (!err)
		brain_reply_hold(r->brain, true);
	return err;
}

void pipeline_speak_adopt(struct pipeline *p, struct reply *r)
{
	r->held = false;
	brain_reply_hold(r->brain, false);
	speak_text(p, r, r->brain_over);
	gen_check(r);
}

void pipeline_speak_cancel(struct pipeline *p, struct reply *r)
{
	if (!r || r->cancelled)
		return;
	r->cancelled = true;
	r->brain = mem_deref(r->brain);
	if (p->rt)
		pipeline_rt_cancel(p, r);
	speaker_cancel(p->mouth);
	/* The clause being made is over where it stands; those not begun
	 * were never made (and none of their text was heard). */
	for (size_t i = r->cl_next; i < r->ncl; i++) {
		if (!r->cl[i].begun) {
			r->ncl = i;
			break;
		}
		r->cl[i].done = true;
	}
	r->cl_next = r->ncl;
	r->brain_over = true;
	r->gen_done = true;
}

int pipeline_speak_init(struct pipeline *p)
{
	const struct speaker_config sc = {.tts = p->cfg->tts,
	                                  .pool = p->cfg->pool,
	                                  .net = p->cfg->tts_net,
	                                  .call_id = p->cfg->call_id};

	return speaker_alloc(&p->mouth, &sc, on_audio, on_clause_done, p);
}

bool pipeline_reply_queue(struct reply *r, const int16_t *pcm, size_t n)
{
	return q_add(r, pcm, n);
}

bool pipeline_reply_text(struct reply *r, const char *s, size_t n)
{
	return text_add(r, s, n);
}

void pipeline_reply_say(struct pipeline *p, struct reply *r, size_t off,
                        size_t len, bool embedded)
{
	speak_clause(p, r, off, len, embedded);
}

void pipeline_reply_check(struct reply *r)
{
	gen_check(r);
}
