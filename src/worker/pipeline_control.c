/*
 * The conversation (the DESIGN at the top of pipeline.c): the history,
 * the reply in flight and its fate; the server's events applied as they
 * come, the reply's audio paced out by a timer, what the caller heard
 * settled, and the reply to the next turn started. Every ops call is made
 * from here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include "core/clock.h"
#include "worker/pipeline_int.h"

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
	p->hist_gen++;
	if (idx)
		*idx = p->nhist;
	p->nhist++;
	return 0;
}

/* The history as the brain sees it: the messages with text, copied, since
 * the control thread goes on changing it while the brain runs; then the
 * caller's words not yet in it, if user. */
static int hist_copy(struct pipeline *p, struct reply *r, const char *user)
{
	r->msgs = calloc(p->nhist + 1, sizeof(*r->msgs));
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
	if (user) {
		r->msgs[r->nmsgs].content = strdup(user);
		if (!r->msgs[r->nmsgs].content)
			return ENOMEM;
		r->msgs[r->nmsgs++].role = "user";
	}
	return 0;
}

static void rest_clear(struct pipeline *p)
{
	free(p->rest);
	p->rest = NULL;
	p->has_rest = false;
}

/* r becomes the reply in flight, and its making starts (a held reply's
 * goes on). */
static void reply_begin(struct pipeline *p, struct reply *r)
{
	r->utt = ++p->next_utt;
	r->v2v_ms = -1;
	p->cur = r;
	p->live_utt = r->utt;
	p->live_audible = false;
	p->live_open = true;
	if (r->held)
		pipeline_speak_adopt(p, r);
	else
		pipeline_speak_start(p, r);
}

void pipeline_preempt_drop(struct pipeline *p)
{
	struct reply *r = p->pre_reply;

	if (!r)
		return;
	p->pre_reply = NULL;
	p->pre_dropped = true;
	/* The brain's request goes (the LLM's connection closes), its
	 * text unsaid; the history never had it. */
	mem_deref(r);
}

/*
 * Preemptive generation, as LiveKit Agents does it by default: the
 * recogniser's final came in the caller's pause, before the stop window
 * ended, so the brain is asked now rather than at STOP. The reply is held
 * (its text kept; its clauses not spoken, which with the brain's first
 * words due after STOP anyway would gain nothing and hold audio), and
 * STOP adopts it when the turn's transcript is this one and the history
 * has not changed. Only when nothing else is in flight: the history is
 * then what the turn will be answered with.
 */
void pipeline_preempt(struct pipeline *p, const char *text)
{
	struct reply *r;
	char *t;

	pipeline_preempt_drop(p);
	if (!p->cfg->preemptive || p->rt || p->cfg->brain->kind != BRAIN_LLM ||
	    p->cur || p->turn_head || p->nwait || p->pres >= PREEMPT_PER_TURN)
		return;
	t = pipeline_trimmed(text, strlen(text));
	if (!t || !t[0] || pipeline_reply_alloc(&r)) {
		free(t);
		return;
	}
	r->transcript = t;
	r->gen = p->hist_gen;
	p->pres++;
	if (hist_copy(p, r, t) || pipeline_speak_hold(p, r)) {
		mem_deref(r);
		return;
	}
	p->pre_reply = r;
}

/* The held reply, if it answers t as the turn would be answered now;
 * otherwise it is dropped. */
static struct reply *preempt_take(struct pipeline *p, const struct turn_item *t)
{
	struct reply *r = p->pre_reply;

	if (!r)
		return NULL;
	if (t->dtmf_keys || r->gen != p->hist_gen ||
	    strcmp(r->transcript, t->transcript) ||
	    (r->brain_over && !r->brain_done)) {
		pipeline_preempt_drop(p);
		return NULL;
	}
	p->pre_reply = NULL;
	return r;
}

void pipeline_greet(struct pipeline *p)
{
	const char *g = p->cfg->greeting;
	struct reply *r;

	if (!g || !g[0])
		return;
	if (pipeline_reply_alloc(&r))
		return;
	r->fixed = strdup(g);
	if (!r->fixed || hist_add(p, "assistant", "", &r->hist)) {
		mem_deref(r);
		return;
	}
	reply_begin(p, r);
}

static void on_turn(struct pipeline *p, struct turn_item *t)
{
	struct reply *r = preempt_take(p, t);
	enum pipeline_preempt pre = PIPELINE_PREEMPT_NONE;
	int err = 0;

	/* Keys pressed meanwhile are not the turn the caller spoke. */
	if (!t->dtmf_keys) {
		pre = r                ? PIPELINE_PREEMPT_USED
		      : p->pre_dropped ? PIPELINE_PREEMPT_DISCARDED
		                       : PIPELINE_PREEMPT_NONE;
		p->pre_dropped = false;
	}
	if (!r && pipeline_reply_alloc(&r))
		return;
	r->preempt = pre;
	r->t_end = t->t_end;
	r->t_stt = t->t_stt;
	r->redecoded = t->redecoded;
	r->dtmf_keys = t->dtmf_keys;
	if (t->failed) {
		/* The caller spoke and was not understood: a reply cut by
		 * them is not resumed, they are asked to say it again. */
		rest_clear(p);
		snprintf(r->err, sizeof(r->err), "%s", t->failed);
		r->transcript = strdup("");
		r->fixed = strdup(PIPELINE_STT_APOLOGY);
		if (!r->transcript || !r->fixed ||
		    hist_add(p, "assistant", "", &r->hist)) {
			mem_deref(r);
			return;
		}
		reply_begin(p, r);
		return;
	}
	/* The model's turns have their words only later, if at all: each
	 * is answered. */
	if (!t->transcript[0] && !p->rt) {
		bool rerun = p->has_rest && !p->rest[0] && p->rest_rerun;

		/* Nothing said and nothing to resume: no turn at all. */
		if (!p->has_rest || (!p->rest[0] && !rerun)) {
			rest_clear(p);
			mem_deref(r);
			return;
		}
		r->resume = true;
		r->hist = p->rest_hist;
		r->transcript = strdup("");
		if (!r->transcript)
			err = ENOMEM;
		else if (rerun)
			err = hist_copy(p, r, NULL);
		else if (!(r->fixed = strdup(p->rest)))
			err = ENOMEM;
		rest_clear(p);
	} else if (r->held) {
		/* Its transcript and messages are the turn's already. */
		rest_clear(p);
		err = hist_add(p, "user", t->transcript, NULL);
		if (!err)
			err = hist_add(p, "assistant", "", &r->hist);
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
			err = hist_copy(p, r, NULL);
	}
	if (err) {
		mem_deref(r);
		return;
	}
	reply_begin(p, r);
}

void pipeline_on_ctl(struct pipeline *p, const struct ctl *c)
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

/* Bytes of the reply's text the caller heard (see the top of pipeline.c). */
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
		if (cut < c->len && !pipeline_is_space(t[cut]))
			while (cut && !pipeline_is_space(t[cut - 1]))
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
	char *heard = pipeline_trimmed(text, pos);
	char *rest = pipeline_trimmed(text + pos, r->len - pos);
	struct hist *h = &p->hist[r->hist];

	if (p->live_utt == r->utt)
		p->live_open = false;
	p->cur = NULL;
	pipeline_speak_cancel(p, r);

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
			p->hist_gen++;
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
	if (p->rt)
		pipeline_rt_settle(p, r);
	if (r->transcript) {
		struct pipeline_turn t = {
		    .utterance = r->utt,
		    .transcript = r->dtmf_keys ? "" : r->transcript,
		    .dtmf_keys = r->dtmf_keys,
		    /* A reply to keys may read them back. */
		    .reply = r->dtmf_keys || !heard ? "" : heard,
		    .stt_ms = since(r->t_stt, r->t_end),
		    .llm_ms = since(r->t_llm, r->t_end),
		    .tts_ms = since(r->t_tts, r->t_end),
		    .v2v_ms = r->v2v_ms,
		    .interrupted =
		        r->fate == FATE_INTERRUPTED || r->fate == FATE_CUT,
		    .resumed = r->resume,
		    .redecoded = r->redecoded,
		    .preempt = r->preempt,
		    .error = r->err[0] ? r->err : NULL,
		    .stt = p->cfg->stt_name ? p->cfg->stt_name : "",
		    .brain = p->cfg->brain_name ? p->cfg->brain_name : "",
		    .tts = p->cfg->tts_name ? p->cfg->tts_name : "",
		};

		p->ops->turn(p->arg, &t);
	}
	free(heard);
	free(rest);
	mem_deref(r);
}

enum act {
	ACT_NONE,
	ACT_SAY,
	ACT_MARK,
	ACT_END,
};

/* The next thing to send for r, or when to look again (*wake, 0 = when
 * something happens). */
static enum act next_act(struct pipeline *p, struct reply *r, size_t *n,
                         uint64_t *wake)
{
	uint64_t now = clock_mono_ms();
	size_t allowed, upto;
	const struct clause *c;

	*wake = 0;
	if (r->cancelled || r->fate != FATE_OPEN) {
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

static void pace_due(void *arg)
{
	pipeline_pump(arg);
}

/* One pass: false when there is nothing to do until an event or the
 * pacing timer. */
static bool step(struct pipeline *p)
{
	struct reply *r = p->cur;
	uint64_t wake = 0, now;
	size_t n = 0;
	enum act act;

	/* A turn waits for the reply before it to be played; if the server
	 * never says so, it is taken as heard. */
	if (r && r->gen_done && r->fate == FATE_OPEN && p->turn_head &&
	    r->ended)
		r->fate = FATE_PLAYED;
	if (r && r->gen_done &&
	    (r->fate != FATE_OPEN || (!r->sent && !r->qlen))) {
		bool hangup = r->hangup && !r->ended;

		if (r->fate == FATE_OPEN)
			r->fate = FATE_PLAYED;
		settle(p);
		/* A goodbye that made no sound, or that the caller talked
		 * over, ends the call all the same. */
		if (hangup)
			p->ops->hangup(p->arg, "dialog ended");
		return true;
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
			bool hangup = act == ACT_END && r->hangup;

			if (act == ACT_SAY)
				p->ops->say(p->arg, utt, p->out, n);
			else if (act == ACT_MARK)
				p->ops->mark(p->arg, utt, (uint32_t)n);
			else
				p->ops->say_end(p->arg, utt);
			if (hangup)
				p->ops->hangup(p->arg, "dialog ended");
			return true;
		}
	}
	if (!r && p->turn_head) {
		struct turn_item *t = p->turn_head;

		p->turn_head = t->next;
		if (!p->turn_head)
			p->turn_tail = &p->turn_head;
		on_turn(p, t);
		free(t->transcript);
		free(t->failed);
		free(t);
		return true;
	}
	if (wake) {
		now = clock_mono_ms();
		tmr_start(&p->pace_tmr, wake > now ? wake - now : 0, pace_due,
		          p);
	}
	return false;
}

void pipeline_pump(struct pipeline *p)
{
	/* An ops call may come back into the inputs, which pump again:
	 * that pass is left to the one running. */
	if (p->pumping) {
		p->again = true;
		return;
	}
	p->pumping = true;
	do {
		p->again = false;
		while (step(p))
			;
	} while (p->again);
	p->pumping = false;
}
