/*
 * brain: realtime. OpenAI's Realtime model hears the caller and answers in
 * speech (realtime.h); the pipeline keeps everything else: the server's
 * VAD says when a turn starts and ends, the echo guard and barge-in stay
 * the server's, replies are paced, marked and settled as any other
 * (pipeline_control.c).
 *
 * The caller's side. A turn's frames (the pre-roll first) are appended to
 * the model's input buffer as they come, 100 ms at a time; STOP commits
 * them and queues a turn whose words are not known yet. While the socket
 * is down the turn's audio waits in p->turn_audio and goes when it is up.
 *
 * A reply. Its making asks for a response (response.create) once the
 * turn is committed, the socket up and no older response in progress;
 * the response's audio deltas are the reply's one clause, queued as they
 * come, its transcript deltas the reply's text, and response.done ends
 * it. The caller's words come with the input transcription, whenever it
 * arrives before the turn is settled (the turn's log line and stt_ms).
 *
 * The greeting is the model's: a response asked with instructions to say
 * the greeting's text, so that the whole call is in one voice and the
 * greeting is in the model's history as said. Only when the model cannot
 * say it (all of it) does the embedded voice say it, whole.
 *
 * Faults. An error event, a failed response, a socket lost while a reply
 * is asked for, or no audio within realtime_timeout (the first, then each
 * next; a stalled socket is dropped and made again) end the reply where
 * it stands: the embedded voice apologises after what was heard, the turn
 * carries the reason, and the call goes on; what the caller heard of
 * it, the apology included, is told to the model as the assistant's
 * words. The socket comes back by itself (realtime.c's backoff); a reply
 * waiting for it waits at most realtime_timeout. A new session knows
 * nothing of the call: it is told the pipeline's history (the caller's
 * words as transcribed, what was heard of each reply), and a turn
 * committed to the lost one is sent again.
 *
 * Barge-in is in pipeline_realtime_cut.c and the model's function calls
 * in pipeline_realtime_tools.c: each answers to its own part of the
 * Realtime API, and this file stays the session and the audio both ways.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/clock.h"
#include "core/g711.h"
#include "core/log.h"
#include "worker/pipeline_realtime_int.h"
#include "worker/provider.h"
#include "worker/realtime.h"

/* Messages of the call put back into a new session: the last ones. */
#define REPLAY_MAX 64
/* Caller audio is appended once this much of it is waiting. */
#define APPEND_SAMPLES (100 * MS_SAMPLES)

static const char apology[] = PIPELINE_APOLOGY;

struct reply *prt_my_reply(struct prt *t)
{
	struct reply *r = t->p->cur;

	return t->utt && r && r->utt == t->utt && !r->cancelled ? r : NULL;
}

/* The model's audio is the reply's first clause. */
static struct clause *model_clause(struct reply *r)
{
	return r->ncl && r->cl_next == 0 ? &r->cl[0] : NULL;
}

void prt_reply_forget(struct prt *t)
{
	tmr_cancel(&t->stage);
	t->utt = 0;
	t->want = t->greeting = false;
	t->rounds = t->calls = 0;
	t->resp_over = t->again = t->end = t->hangup = false;
	t->overrun = t->sep = false;
	free(t->say);
	t->say = NULL;
	t->resp[0] = '\0';
}

static void heard_apply(struct prt *t, struct reply *r)
{
	char *copy;

	if (!r || r->utt != t->words_utt || !t->user_item[0] ||
	    strcmp(t->user_item, t->heard_item) || !t->heard_text ||
	    !r->transcript)
		return;
	copy = pipeline_trimmed(t->heard_text, strlen(t->heard_text));
	if (!copy)
		return;
	free(r->transcript);
	r->transcript = copy;
	r->t_stt = t->t_heard;
	/* The pipeline's history too: it is what a new session is told. */
	if (r->hist && r->hist < t->p->nhist &&
	    !strcmp(t->p->hist[r->hist - 1].role, "user") &&
	    !t->p->hist[r->hist - 1].content[0]) {
		char *h = strdup(copy);

		if (h) {
			free(t->p->hist[r->hist - 1].content);
			t->p->hist[r->hist - 1].content = h;
		}
	}
}

/* The model's clause is over: what follows (an apology, a goodbye) is the
 * speaker's. */
void prt_clause_end(struct reply *r)
{
	struct clause *c = model_clause(r);

	if (!c)
		return;
	if (!c->begun) {
		c->begun = true;
		c->start = r->made;
	}
	c->done = true;
	c->len = r->len - c->off;
	r->cl_next = 1;
}

/* Says text in the embedded voice after what r holds. */
void prt_say_embedded(struct pipeline *p, struct reply *r, const char *text)
{
	size_t off = r->len;

	if ((r->len && !pipeline_reply_text(r, " ", 1)) ||
	    !pipeline_reply_text(r, text, strlen(text)))
		return;
	if (r->len > off && r->text[off] == ' ')
		off++;
	r->said = r->len;
	pipeline_reply_say(p, r, off, r->len - off, true);
}

/* The reply ends where it stands, and the embedded voice makes up for
 * it: the greeting itself, or an apology. */
void prt_fail(struct prt *t, const char *why, uint16_t status)
{
	struct pipeline *p = t->p;
	struct reply *r = prt_my_reply(t);
	char q[PROVIDER_WHY_MAX + 32];
	uint64_t ms = t->t_ask ? clock_mono_ms() - t->t_ask : 0;
	bool greeting = t->greeting;

	log_event(LOGL_WARN, p->cfg->call_id, "realtime_failed",
	          "provider=openai stage=realtime status=%u elapsed_ms=%llu "
	          "audio_ms=%zu error=\"%s\"",
	          status, (unsigned long long)ms,
	          r ? r->made / MS_SAMPLES : (size_t)0,
	          log_quote(q, sizeof(q), why));
	if (t->resp[0] && !strcmp(t->resp, t->active))
		(void)rt_cancel(t->rt, t->resp);
	prt_reply_forget(t);
	if (!r)
		return;
	snprintf(r->err, sizeof(r->err), "realtime: %s", why);
	prt_clause_end(r);
	r->tts_failed = true;
	prt_say_embedded(p, r, greeting && r->fixed ? r->fixed : apology);
	r->brain_over = true;
	pipeline_reply_check(r);
	pipeline_pump(p);
}

static void stage_due(void *arg)
{
	struct prt *t = arg;
	char why[96];
	/* Up and silent past the limit (the response, or an older one it
	 * waits for, never came to an end): the socket is stuck. */
	bool stalled = rt_up(t->rt);

	snprintf(why, sizeof(why), "no audio within %u ms%s", t->pv->timeout_ms,
	         rt_up(t->rt) ? "" : " (not connected)");
	prt_fail(t, why, 0);
	if (stalled) {
		t->asked = false;
		t->active[0] = '\0';
		t->appended = false;
		t->commits_seen = t->commits_sent;
		rt_restart(t->rt);
	}
}

void prt_stage_arm(struct prt *t)
{
	tmr_start(&t->stage, t->pv->timeout_ms, stage_due, t);
}

/* The turn's audio not yet appended, then its commit. */
static void flush(struct prt *t, bool commit)
{
	struct pipeline *p = t->p;

	if (!rt_up(t->rt))
		return;
	if (p->turn_len > t->sent) {
		if (!rt_append(t->rt, p->turn_audio + t->sent,
		               p->turn_len - t->sent))
			t->appended = true;
		t->sent = p->turn_len;
	}
	if (commit && !rt_commit(t->rt)) {
		t->commits_sent++;
		t->appended = false;
	}
}

void prt_ask(struct prt *t)
{
	struct reply *r = prt_my_reply(t);
	char *instr = NULL;
	int err;

	if (!r || !t->want || !rt_up(t->rt) || t->commit_due || t->active[0] ||
	    t->asked)
		return;
	t->want = false;
	/* The greeting, and keys pressed, are the first response's; the
	 * next ones follow the tools' results. */
	if (!t->rounds && t->greeting && r->fixed &&
	    asprintf(&instr,
	             "Say exactly this greeting, and nothing else: \"%s\"",
	             r->fixed) < 0)
		instr = NULL;
	/* Keys pressed: the model is told them as the caller's words. */
	if (!t->rounds && !t->greeting && r->transcript && r->transcript[0] &&
	    !t->commit_no)
		(void)rt_user_text(t->rt, r->transcript);
	/* The last response is asked for words: the caller must hear
	 * something. */
	err = rt_respond(t->rt, instr, t->rounds + 1 >= BRAIN_TOOL_ROUNDS);
	free(instr);
	if (err) {
		prt_fail(t, strerror(err), 0);
		return;
	}
	t->rounds++;
	t->asked = true;
	t->asked_utt = r->utt;
	t->t_ask = clock_mono_ms();
}

/* ---- server events ----------------------------------------------------- */

static struct rt_item *item_of(struct prt *t, const char *id)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (!strcmp(t->items[i].id, id))
			return &t->items[i];
	return NULL;
}

static void on_audio(struct prt *t, const struct rt_event *ev)
{
	struct reply *r = prt_my_reply(t);
	struct rt_item *it;
	struct clause *c;
	int16_t pcm[512];

	if (!r || strcmp(ev->response_id, t->resp) || !ev->audio_len)
		return;
	c = model_clause(r);
	if (!c)
		return;
	if (t->item_utt != r->utt) {
		t->item_utt = r->utt;
		t->nitems = 0;
	}
	it = item_of(t, ev->item_id);
	/* A response has one audio item; should a second come, the
	 * truncation is about the first. */
	if (!it && (!t->nitems || t->item_round != t->rounds) &&
	    t->nitems < ITEMS_MAX) {
		it = &t->items[t->nitems++];
		t->item_round = t->rounds;
		snprintf(it->id, sizeof(it->id), "%s", ev->item_id);
		it->content_index = ev->content_index;
		it->start = r->made;
		it->samples = 0;
	}
	if (!c->begun) {
		c->begun = true;
		c->start = r->made;
	}
	if (!r->got_text) {
		r->got_text = true;
		r->t_llm = clock_mono_ms();
	}
	for (size_t i = 0; i < ev->audio_len;) {
		size_t k = ev->audio_len - i;

		if (k > sizeof(pcm) / sizeof(pcm[0]))
			k = sizeof(pcm) / sizeof(pcm[0]);
		for (size_t j = 0; j < k; j++)
			pcm[j] = g711_ulaw_to_linear(ev->audio[i + j]);
		/* Out of memory, the chunk is lost: the reply is shorter. */
		if (pipeline_reply_queue(r, pcm, k)) {
			c->samples += k;
			if (it)
				it->samples += k;
		}
		i += k;
	}
	prt_stage_arm(t);
	pipeline_pump(t->p);
}

static void on_text(struct prt *t, const struct rt_event *ev)
{
	struct reply *r = prt_my_reply(t);
	struct clause *c;

	if (!r || strcmp(ev->response_id, t->resp) || !ev->text_len)
		return;
	c = model_clause(r);
	if (!c)
		return;
	/* A response after a call's result goes on as a new sentence. */
	if (t->sep) {
		t->sep = false;
		if (r->len && !pipeline_is_space(r->text[r->len - 1]) &&
		    !pipeline_reply_text(r, " ", 1))
			return;
	}
	if (!pipeline_reply_text(r, ev->text, ev->text_len))
		return;
	c->len = r->len - c->off;
	r->said = r->len;
}

static void on_done(struct prt *t, const struct rt_event *ev)
{
	struct reply *r = prt_my_reply(t);
	bool mine = r && !strcmp(ev->response_id, t->resp);

	if (!strcmp(ev->response_id, t->active))
		t->active[0] = '\0';
	if (!mine) {
		prt_ask(t); /* a reply waited for the older response */
		return;
	}
	if (!strcmp(ev->status, "failed")) {
		char why[RT_ID_MAX + RT_MSG_MAX + 32];

		snprintf(why, sizeof(why), "response failed: %s%s%s",
		         ev->code[0] ? ev->code : "",
		         ev->code[0] && ev->message[0] ? ": " : "",
		         ev->message[0] ? ev->message : "");
		prt_fail(t, why, 0);
		return;
	}
	t->resp_over = true;
	/* A call still running (a transfer the server decides) has its own
	 * bound (pipeline_tools.c): the model is not what is waited for. */
	if (t->calls) {
		tmr_cancel(&t->stage);
		return;
	}
	prt_round_over(t);
}

static bool benign(const struct rt_event *ev)
{
	return !strncmp(ev->event_id, RT_EVID_CANCEL,
	                sizeof(RT_EVID_CANCEL) - 1) ||
	       !strncmp(ev->event_id, RT_EVID_TRUNCATE,
	                sizeof(RT_EVID_TRUNCATE) - 1) ||
	       !strcmp(ev->code, "response_cancel_not_active");
}

static void on_error(struct prt *t, const struct rt_event *ev)
{
	char why[RT_ID_MAX + RT_MSG_MAX + 8], q[sizeof(why) + 32], qc[96];

	snprintf(why, sizeof(why), "%s%s%s",
	         ev->code[0]       ? ev->code
	         : ev->err_type[0] ? ev->err_type
	                           : "error",
	         ev->message[0] ? ": " : "", ev->message);
	/* Servers quote keys in their refusals. */
	provider_mask(why, t->pv->api_key);
	log_quote(qc, sizeof(qc), ev->code);
	if (benign(ev)) {
		log_event(LOGL_INFO, t->p->cfg->call_id, "realtime_error",
		          "code=\"%s\" harmless=true", qc);
		return;
	}
	/* A call's result refused is the call's trouble: the reply goes
	 * on. */
	if (!prt_my_reply(t) || !strncmp(ev->event_id, RT_EVID_OUTPUT,
	                                 sizeof(RT_EVID_OUTPUT) - 1)) {
		log_event(LOGL_WARN, t->p->cfg->call_id, "realtime_error",
		          "code=\"%s\" error=\"%s\"", qc,
		          log_quote(q, sizeof(q), why));
		return;
	}
	prt_fail(t, why, 0);
}

static void on_event(const struct rt_event *ev, void *arg)
{
	struct prt *t = arg;

	switch (ev->kind) {
	case RT_EV_COMMITTED:
		t->commits_seen++;
		snprintf(t->last_item, sizeof(t->last_item), "%s", ev->item_id);
		if (t->commit_no && t->commit_no == t->commits_seen) {
			snprintf(t->user_item, sizeof(t->user_item), "%s",
			         ev->item_id);
			heard_apply(t, t->p->cur);
		}
		break;
	case RT_EV_HEARD: {
		char *copy = strdup(ev->text);

		if (!copy)
			break;
		free(t->heard_text);
		t->heard_text = copy;
		snprintf(t->heard_item, sizeof(t->heard_item), "%s",
		         ev->item_id);
		t->t_heard = clock_mono_ms();
		/* A reply settled before the words came has logged its
		 * turn without them. */
		heard_apply(t, t->p->cur);
		break;
	}
	case RT_EV_RESPONSE:
		snprintf(t->active, sizeof(t->active), "%s", ev->response_id);
		if (!t->asked)
			break;
		t->asked = false;
		if (prt_my_reply(t) && t->asked_utt == t->utt) {
			snprintf(t->resp, sizeof(t->resp), "%s",
			         ev->response_id);
			break;
		}
		/* The reply it was for was cut before it came; the next
		 * one asks once this one is over (on_done). */
		(void)rt_cancel(t->rt, ev->response_id);
		break;
	case RT_EV_AUDIO:
		on_audio(t, ev);
		break;
	case RT_EV_TEXT:
		on_text(t, ev);
		break;
	case RT_EV_CALL:
		prt_on_call(t, ev);
		break;
	case RT_EV_DONE:
		on_done(t, ev);
		break;
	case RT_EV_ERROR:
		on_error(t, ev);
		break;
	default:
		break;
	}
}

static void on_state(bool up, int err, const char *why, void *arg)
{
	struct prt *t = arg;

	(void)err;
	if (up) {
		/* A session after the first knows nothing of the call: it
		 * is told what was said (the pipeline's history, which holds
		 * what the caller heard of each reply). */
		if (t->sessions++) {
			struct pipeline *p = t->p;
			size_t i =
			    p->nhist > REPLAY_MAX ? p->nhist - REPLAY_MAX : 0;

			for (; i < p->nhist; i++)
				if (p->hist[i].content[0])
					(void)rt_history_add(
					    t->rt,
					    !strcmp(p->hist[i].role, "user"),
					    p->hist[i].content);
		}
		if (t->commit_due) {
			t->commit_due = false;
			flush(t, true);
		}
		prt_ask(t);
		return;
	}
	/* What the old session had in progress is gone with it; a reply
	 * not asked for yet waits for the next. */
	if (t->asked && t->asked_utt != t->utt)
		t->asked = false;
	t->commits_seen = t->commits_sent;
	t->active[0] = '\0';
	t->appended = false;
	/* The turn being heard goes again, whole, to the next session. */
	if (t->p->hearing)
		t->sent = 0;
	/* A turn committed to the old session and not answered yet is sent
	 * again to the next, from p->turn_audio (a response after a call's
	 * result has had its turn answered). */
	if (t->want && !t->rounds && t->commit_no && !t->commit_due &&
	    prt_my_reply(t)) {
		t->sent = 0;
		t->commit_due = true;
		t->commit_no = t->commits_sent + 1;
	}
	if ((t->asked && t->asked_utt == t->utt && t->utt) || t->resp[0]) {
		char line[PROVIDER_WHY_MAX + 32];

		t->asked = false;
		snprintf(line, sizeof(line), "connection lost: %s",
		         why ? why : "closed");
		prt_fail(t, line, 0);
	}
}

/* ---- the pipeline's hooks ---------------------------------------------- */

int pipeline_rt_init(struct pipeline *p)
{
	const struct provider *pv = p->cfg->realtime;
	struct prt *t = calloc(1, sizeof(*t));
	struct rt_prm prm = {0};
	char *tools;
	int err;

	if (!t)
		return ENOMEM;
	t->p = p;
	t->pv = pv;
	tmr_init(&t->stage);
	prm.url = pv->url;
	prm.api_key = pv->api_key;
	prm.voice = pv->voice;
	prm.instructions = p->cfg->brain->system_prompt;
	prm.tools = tools = prt_tools_json(p->cfg);
	prm.call_id = p->cfg->call_id;
	prm.connect_ms = pv->timeout_ms;
	err = tools ? rt_alloc(&t->rt, &prm, on_event, on_state, t) : ENOMEM;
	free(tools);
	if (err) {
		free(t);
		return err;
	}
	p->rt = t;
	return 0;
}

void pipeline_rt_reset(struct pipeline *p)
{
	struct prt *t = p->rt;

	if (!t)
		return;
	tmr_cancel(&t->stage);
	mem_deref(t->rt);
	free(t->heard_text);
	free(t->say);
	free(t);
	p->rt = NULL;
}

int pipeline_rt_begin(struct pipeline *p)
{
	struct prt *t = p->rt;

	/* A turn that began and never ended left its audio in the
	 * model's buffer. */
	if (t->appended && rt_up(t->rt))
		(void)rt_clear(t->rt);
	t->appended = false;
	t->commit_due = false;
	t->sent = 0;
	return 0;
}

void pipeline_rt_feed(struct pipeline *p, const int16_t pcm[PIPELINE_FRAME],
                      bool kept)
{
	struct prt *t = p->rt;

	if (!rt_up(t->rt))
		return; /* p->turn_audio keeps it for when it is up */
	if (kept) {
		if (p->turn_len - t->sent >= APPEND_SAMPLES)
			flush(t, false);
		return;
	}
	/* Past what p->turn_audio holds: straight to the model. */
	flush(t, false);
	if (!rt_append(t->rt, pcm, PIPELINE_FRAME))
		t->appended = true;
}

void pipeline_rt_end(struct pipeline *p, uint64_t t_end)
{
	struct prt *t = p->rt;
	char *none = strdup("");

	if (rt_up(t->rt))
		flush(t, true);
	else
		t->commit_due = true;
	if (none)
		pipeline_turn_push(p, none, t_end, 0, false);
}

void pipeline_rt_start(struct pipeline *p, struct reply *r)
{
	struct prt *t = p->rt;
	struct clause *c;

	prt_reply_forget(t);
	r->cl = calloc(8, sizeof(*r->cl));
	if (!r->cl) {
		r->brain_over = true;
		pipeline_reply_check(r);
		return;
	}
	r->capcl = 8;
	c = &r->cl[0];
	r->ncl = 1;
	c->off = 0;
	t->utt = r->utt;
	t->want = true;
	t->greeting = !r->transcript;
	t->words_utt = r->utt;
	t->user_item[0] = '\0';
	t->commit_no = 0;
	/* An audio turn's words come later; keys pressed have theirs. */
	if (r->transcript && !r->transcript[0])
		t->commit_no = t->commits_sent + (t->commit_due ? 1 : 0);
	if (t->commit_no && t->commit_no <= t->commits_seen) {
		if (t->commit_no == t->commits_seen)
			snprintf(t->user_item, sizeof(t->user_item), "%s",
			         t->last_item);
		heard_apply(t, r);
	}
	t->t_ask = clock_mono_ms();
	prt_stage_arm(t);
	prt_ask(t);
}
