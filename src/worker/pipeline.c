/*
 * DESIGN. A state machine per call on the worker's loop.
 *
 * A call used to run three threads (listener, speaker, control) around a
 * lock, since its engines block: pocketsphinx, espeak-ng or flite, and the
 * LLM over blocking curl. A worker meant to hold hundreds of calls cannot
 * spend three threads and their stacks on each, nor have every event
 * cross a lock. Now everything of a call happens on the worker's one loop
 * thread, and whatever would block happens elsewhere, behind three seams
 * that answer on the loop:
 *
 *   listener (listener.h)  begin / feed frames / end -> final, error
 *   speaker  (speaker.h)   say a clause -> audio chunks, done; cancel
 *   brain    (brain.h)     reply to the history -> text pieces, done
 *                          (with hangup), error; release cancels
 *
 * The embedded engines run on the engine pool (engine.h): a few threads
 * for all the calls, each call's jobs in order on its own queue, results
 * back on the loop. The LLM streams on the loop through httpc (curl's
 * multi interface on libre's fds and timers). A network provider takes
 * the same seams with its socket on the loop and no pool at all. The
 * seams are the pipeline's own (speech/stt.h and tts.h stay the engines'
 * blocking interfaces), so a provider needs no change here.
 *
 * Why not a thread per engine call, or per-call worker processes: the
 * pool's size is fixed by the CPUs, which is all the CPU-bound engines can
 * use anyway (one model's decoders take turns, and the TTS providers
 * serialise their synthesis), while network-bound calls cost a few
 * hundred bytes of state and their sockets.
 *
 * The listener side turns the caller's frames into turns. The server sends
 * its control messages ahead of audio, so a VAD event may arrive before
 * the frames that precede it; each event carries its frame number and is
 * applied when the frames before it have gone through (or after
 * VAD_WAIT_MS without them, should they never come: a timer). START opens
 * an utterance with the pre-roll: PREROLL_MS before the voice's ONSET (the
 * VAD needs vad_start_secs of voice before it says START, and the first
 * syllable is in there), so the recogniser hears the word from its start.
 * STOP ends it; the transcript, when the listener has it, becomes a turn.
 *
 * Speculative end of turn. The recogniser's final pass takes 100-150 ms,
 * which would come after the stop window. So when the voice has paused
 * (VAD PAUSE) and stayed quiet until SPEC_LEAD_MS before STOP is due, the
 * utterance is ended there and its transcript kept; STOP then hands it
 * over at once (or as soon as it comes). When the voice resumes instead,
 * a new utterance is begun on the turn's audio so far, which is kept for
 * that (up to TURN_KEEP_MS; a longer turn is not decoded ahead, so a
 * re-decode costs at most a second or so of CPU), and the early
 * transcript, named by its utterance number, is ignored. A pause that is
 * not the end costs a re-decode, so the final pass waits, besides
 * SPEC_LEAD_MS, for the pause to outlast the longest one this caller has
 * resumed after (a caller who stops to think between words is not decoded
 * twice on every turn), but no longer than until SPEC_LEAD_MIN_MS before
 * STOP, and runs ahead at most SPEC_PER_TURN times a turn (bench/README.md,
 * (d), has what this saves).
 *
 * A streaming recogniser (Deepgram, OpenAI's Realtime transcription) is
 * not a final pass: it has heard the turn as it came, and its early end
 * (a Finalize, a commit) is a segment boundary. So its frames go on to
 * the socket after the early end, and when the caller goes on, the new
 * utterance continues the stream (listener_reopen) with nothing sent
 * again; its final is the early segment's followed by what came after,
 * which the listener puts together. Nothing is decoded twice, so the
 * early end comes at every pause that reaches SPEC_LEAD_MIN_MS before
 * STOP (the latest that still has the final by STOP, so that the fewest
 * boundaries cut the recogniser's context), up to SPEC_PER_TURN_STREAM a
 * turn, whatever the caller's earlier pauses.
 *
 * Preemptive generation (cfg->preemptive, LiveKit Agents' default). The
 * early transcript is in hand before STOP, often by most of the stop
 * window (a streaming recogniser's final comes 100-150 ms into the pause,
 * STOP 240 ms): the LLM brain is asked for it then, with the history plus
 * the caller's words, and its text is kept on a held reply
 * (pipeline_control.c) that speaks nothing and runs no tool. STOP turns
 * the transcript into a turn as before; the turn adopts the held reply
 * when its transcript is the one asked with and the history has not
 * changed meanwhile, and the reply goes on from what it has. When the
 * caller goes on (RESUME, or START without STOP) the held reply goes: its
 * request is closed, and the history never had it. One at a time, only
 * with no reply in flight (the history is final then), at most
 * PREEMPT_PER_TURN a turn. The TTS is not started ahead: with the model's
 * first words due after STOP it would gain nothing, and it would hold
 * audio for replies that may be dropped.
 *
 * A reply is made as it comes: brain text is cut into clauses
 * (llm_clause_end), each clause goes to the speaker as soon as it is
 * complete, and each audio chunk is queued on the reply as it is made. A
 * pause is put between clauses, since each synthesis starts at its first
 * sound.
 *
 * The conversation (pipeline_control.c) owns the history, the reply in
 * flight and its fate. Server events are applied as they arrive; after
 * every event the pump sends the queued audio paced to at most AHEAD_MS
 * ahead of real time (counted from the utterance's first audio; the server
 * holds 10 s, so a late start costs nothing; a loop timer wakes it when
 * the next 20 ms may go), a mark after each clause (mark = its index),
 * say_end at the end, then starts the reply to the next turn. It makes
 * every ops call.
 *
 * Barge-in. `interrupted` for the reply in flight, or VAD START before the
 * server said it was `speaking`, releases the brain's request (the LLM's
 * connection closes at once) and cancels the speaker (the clause being
 * synthesised stops at its next chunk, the others never start) in the
 * input call itself, and none of the reply's audio is sent after it. VAD
 * START before `speaking` also calls clear: the server drops unheard audio
 * on START by itself (bridge.c), clear covers audio still on the way.
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
 * Hangup. A brain that says the call should end (a script's "! hangup")
 * has it ended once its reply is played: hangup follows say_end.
 *
 * Figures. The end of the caller's speech is taken as the STOP event's
 * arrival minus stop_secs (the server's VAD says STOP after that much
 * silence), not the last voiced frame: the worker does not run a VAD.
 *
 * Files. The inputs and the pipeline's life are here; the listener side
 * in pipeline_listen.c, the making of a reply in pipeline_speak.c, the
 * conversation in pipeline_control.c. What they share, and the limits
 * named above (PREROLL_MS, SPEC_LEAD_MS, AHEAD_MS...), is in
 * pipeline_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/clock.h"
#include "worker/listener.h"
#include "worker/pipeline_int.h"
#include "worker/speaker.h"

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

	mem_deref(r->brain);
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

struct turn_item *pipeline_turn_push(struct pipeline *p, char *transcript,
                                     uint64_t t_end, uint64_t t_stt,
                                     bool redecoded)
{
	struct turn_item *t = calloc(1, sizeof(*t));

	if (!t) {
		free(transcript);
		return NULL;
	}
	t->transcript = transcript;
	t->t_end = t_end;
	t->t_stt = t_stt;
	t->redecoded = redecoded;
	*p->turn_tail = t;
	p->turn_tail = &t->next;
	return t;
}

void pipeline_turn_fail(struct pipeline *p, char *why, uint64_t t_end)
{
	struct turn_item *t = calloc(1, sizeof(*t));

	if (t)
		t->transcript = strdup("");
	if (!t || !t->transcript) {
		if (t)
			free(t);
		free(why);
		return;
	}
	t->failed = why;
	t->t_end = t_end;
	t->t_stt = clock_mono_ms();
	*p->turn_tail = t;
	p->turn_tail = &t->next;
}

/* ---- inputs ----------------------------------------------------------- */

static void ctl_apply(struct pipeline *p, enum ctl_kind kind, uint32_t utt,
                      uint32_t mark, uint32_t heard_ms, int32_t latency_ms)
{
	const struct ctl c = {.kind = kind,
	                      .utt = utt,
	                      .mark = mark,
	                      .heard_ms = heard_ms,
	                      .latency_ms = latency_ms};

	pipeline_on_ctl(p, &c);
}

void pipeline_audio(struct pipeline *p, uint32_t frame,
                    const int16_t pcm[PIPELINE_FRAME])
{
	if (!p || !pcm)
		return;
	pipeline_listen_frame(p, frame, pcm);
	pipeline_pump(p);
}

void pipeline_vad(struct pipeline *p, enum vad_event ev, uint32_t frame)
{
	if (!p)
		return;
	/* Barge-in before the reply is audible: the brain and the speaker
	 * stop now, whatever the listener's events wait for. */
	if (ev == VAD_EVENT_START && p->live_utt && p->live_open &&
	    !p->live_audible) {
		p->live_open = false;
		if (p->cur && p->cur->utt == p->live_utt)
			pipeline_speak_cancel(p, p->cur);
		ctl_apply(p, CTL_CUT, p->live_utt, 0, 0, -1);
	}
	pipeline_listen_vad(p, ev, frame);
	pipeline_pump(p);
}

void pipeline_speaking(struct pipeline *p, uint32_t utterance,
                       int32_t latency_ms)
{
	if (!p)
		return;
	if (utterance == p->live_utt)
		p->live_audible = true;
	ctl_apply(p, CTL_SPEAKING, utterance, 0, 0, latency_ms);
	pipeline_pump(p);
}

void pipeline_mark_played(struct pipeline *p, uint32_t utterance, uint32_t mark)
{
	if (!p)
		return;
	ctl_apply(p, CTL_MARK, utterance, mark, 0, -1);
	pipeline_pump(p);
}

void pipeline_played(struct pipeline *p, uint32_t utterance, uint32_t heard_ms)
{
	if (!p)
		return;
	if (utterance == p->live_utt)
		p->live_open = false;
	ctl_apply(p, CTL_PLAYED, utterance, 0, heard_ms, -1);
	pipeline_pump(p);
}

void pipeline_interrupted(struct pipeline *p, uint32_t utterance,
                          uint32_t heard_ms)
{
	if (!p)
		return;
	if (utterance == p->live_utt && p->live_open) {
		p->live_open = false;
		if (p->cur && p->cur->utt == utterance)
			pipeline_speak_cancel(p, p->cur);
	}
	ctl_apply(p, CTL_INTERRUPTED, utterance, 0, heard_ms, -1);
	pipeline_pump(p);
}

void pipeline_dtmf(struct pipeline *p, const char *digits)
{
	uint64_t t = clock_mono_ms();
	struct turn_item *turn;
	char *text;

	if (!p || !digits || !digits[0])
		return;
	if (asprintf(&text, "DTMF: %s", digits) < 0)
		return;
	turn = pipeline_turn_push(p, text, t, t, false);
	if (turn)
		turn->dtmf_keys = (uint32_t)strlen(digits);
	pipeline_pump(p);
}

/* ---- life ------------------------------------------------------------- */

/* The timers and the parts that call back go first: nothing runs on a
 * pipeline half freed. */
static void pipeline_destructor(void *arg)
{
	struct pipeline *p = arg;

	tmr_cancel(&p->pace_tmr);
	tmr_cancel(&p->vad_tmr);
	pipeline_tools_reset(p);
	/* Their jobs still running end on the pool, unheard. */
	p->ear = mem_deref(p->ear);
	pipeline_rt_reset(p);
	p->mouth = mem_deref(p->mouth);
	mem_deref(p->cur);
	mem_deref(p->pre_reply);
	while (p->turn_head) {
		struct turn_item *t = p->turn_head;

		p->turn_head = t->next;
		free(t->transcript);
		free(t->failed);
		free(t);
	}
	for (size_t i = 0; i < p->nhist; i++)
		free(p->hist[i].content);
	free(p->hist);
	free(p->rest);
	free(p->turn_audio);
}

int pipeline_alloc(struct pipeline **pp, const struct pipeline_config *cfg,
                   const struct pipeline_ops *ops, void *arg)
{
	struct pipeline *p;
	int err;

	if (!pp || !cfg || !cfg->brain ||
	    (!cfg->decoder && !cfg->stt_net &&
	     cfg->brain->kind != BRAIN_REALTIME) ||
	    (cfg->brain->kind == BRAIN_REALTIME && !cfg->realtime) ||
	    !cfg->tts || !cfg->pool ||
	    (cfg->brain->kind == BRAIN_SCRIPT && !cfg->brain->script) ||
	    (cfg->brain->kind == BRAIN_LLM && !cfg->http) || !ops ||
	    !ops->say || !ops->say_end || !ops->mark || !ops->clear ||
	    !ops->turn || !ops->hangup || cfg->stop_secs < 0 ||
	    cfg->stop_secs > 10)
		return EINVAL;
	p = mem_zalloc(sizeof(*p), pipeline_destructor);
	if (!p)
		return ENOMEM;
	p->cfg = cfg;
	p->ops = ops;
	p->arg = arg;
	p->stop_ms = (uint64_t)((cfg->stop_secs > 0 ? cfg->stop_secs
	                                            : DEFAULT_STOP_SECS) *
	                            1000 +
	                        0.5);
	/* The final pass runs ahead once the pause has lasted the stop
	 * window less the lead (SPEC_LEAD_MIN_MS at the latest): 100 and
	 * 140 ms of silence for 0.25 s, which the VAD ends 12 frames after
	 * the voice (vad_stop_frames), 140 and 100 ms after them. */
	p->spec_frames = p->stop_ms > SPEC_LEAD_MS
	                     ? (uint32_t)((p->stop_ms - SPEC_LEAD_MS) / 20)
	                     : 0;
	p->spec_frames_max =
	    p->stop_ms > SPEC_LEAD_MIN_MS
	        ? (uint32_t)((p->stop_ms - SPEC_LEAD_MIN_MS) / 20)
	        : 0;
	p->turn_tail = &p->turn_head;
	tmr_init(&p->pace_tmr);
	tmr_init(&p->xfer_tmr);
	err = pipeline_listen_init(p);
	if (!err)
		err = pipeline_speak_init(p);
	if (err) {
		mem_deref(p);
		return err;
	}
	pipeline_greet(p);
	*pp = p;
	return 0;
}
