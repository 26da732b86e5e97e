/*
 * The pipeline's insides, shared by its files and by no one else:
 * pipeline.c (the design, the inputs, life), pipeline_listen.c (the
 * caller's side: frames and VAD events into the listener), pipeline_speak.c
 * (the brain and the speaker filling a reply) and pipeline_control.c (the
 * conversation, the pacing and every ops call). All of it runs on the
 * loop thread: nothing here is locked.
 */
#ifndef VOXGATE_WORKER_PIPELINE_INT_H
#define VOXGATE_WORKER_PIPELINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/libre.h"

#include "core/clock.h"
#include "worker/llm.h"
#include "worker/pipeline.h"

#define RATE       8000
#define MS_SAMPLES (RATE / 1000)
#define AHEAD_MS   1000
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
/* A streaming recogniser's early end is a segment boundary: the turn is
 * not heard again after it, so pauses a turn holds may each have one. The
 * bound is against a line whose noise flickers the VAD, which would send
 * the provider an end every few hundred ms for as long as it lasts; a
 * minute's turn with a hesitation every few seconds is within it. */
#define SPEC_PER_TURN_STREAM 16
/* Preemptive requests a turn may make (LiveKit's max_retries): each
 * early transcript the caller went on after costs the brain a request. */
#define PREEMPT_PER_TURN 3
#define TURN_KEEP_MS     8000
#define VAD_WAIT_MS      100
#define FINAL_WAITS      8 /* turns ended, their transcripts not yet in */
/* A comma ends a clause only past this many bytes: shorter pieces make
 * choppy speech for no gain in latency. */
#define CLAUSE_MIN 24
/* Pauses put between clauses, after . ! ? and after , ; : */
#define PAUSE_SENTENCE_MS 300
#define PAUSE_CLAUSE_MS   200
#define DEFAULT_STOP_SECS 0.25
#define STT_TEXT_MAX      1024
/* What the agent says when a network recogniser loses the caller's turn,
 * and when the brain or the network voice fails. */
#define PIPELINE_STT_APOLOGY                                                   \
	"Sorry, I did not catch that. Could you say it again?"
#define PIPELINE_APOLOGY                                                       \
	"Sorry, I had a problem answering that. Could you say it again?"

/* A server event the control side applies. CTL_CUT is made by the inputs:
 * VAD START cut a reply that was not yet audible. */
enum ctl_kind {
	CTL_SPEAKING,
	CTL_MARK,
	CTL_PLAYED,
	CTL_INTERRUPTED,
	CTL_CUT,
};

struct ctl {
	enum ctl_kind kind;
	uint32_t utt, mark, heard_ms;
	int32_t latency_ms;
};

/* A finished caller turn: its transcript, the end of its speech and when
 * the transcript was final (ms, CLOCK_MONOTONIC). */
struct turn_item {
	struct turn_item *next;
	char *transcript;
	char *failed; /* the recogniser failed, why: the agent apologises */
	uint64_t t_end, t_stt;
	bool redecoded;
	uint32_t dtmf_keys; /* keys pressed: the transcript is for the brain
	                       only */
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
	bool begun;      /* its first audio came (start is set) */
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

struct brain_reply;

/* One utterance of the agent, the reply in flight (p->cur) from its start
 * until its fate is settled. */
struct reply {
	uint32_t utt;
	char *transcript; /* of its turn; NULL for the greeting */
	bool resume;
	size_t hist;              /* its assistant message */
	char *fixed;              /* what to say; NULL = ask the brain */
	struct llm_message *msgs; /* for the brain: copies of the history */
	size_t nmsgs;
	uint64_t t_end, t_stt;
	bool redecoded;  /* its turn's transcript was decoded twice */
	bool tts_failed; /* the network voice failed: the embedded one
	                    apologised, nothing more is said */
	/* its turn's keys, see turn_item */
	uint32_t dtmf_keys;
	/* Preemptive: made for the transcript in hand before STOP, held
	 * (its text kept, not spoken; its tool calls waiting) until STOP
	 * adopts it; gen is the history it was asked with. */
	bool held;
	uint64_t gen;
	enum pipeline_preempt preempt;

	/* making it: the brain's text, cut into clauses for the speaker */
	struct brain_reply *brain; /* while the brain writes */
	char *text; /* everything the brain said, NUL-terminated */
	size_t len, cap;
	size_t said;     /* bytes of text handed to the speaker */
	bool brain_over; /* the brain finished, well or not */
	bool brain_done; /* ... well */
	bool hangup, got_text;
	bool cancelled; /* barge-in: nothing more of it is made or sent */
	char err[200];
	uint64_t t_llm;
	struct clause *cl;
	size_t ncl, capcl;
	size_t cl_next; /* the clause the speaker is on */
	int16_t *q;     /* audio made, not yet sent */
	size_t qhead, qlen, qcap;
	size_t made;   /* samples made */
	size_t sent;   /* samples sent */
	uint64_t t0;   /* when its first audio was sent */
	bool gen_done; /* brain and speaker are done with it */
	size_t pause;  /* samples of pause owed before the next clause */

	/* sending it and its fate */
	uint32_t next_mark;
	bool ended;     /* say_end sent */
	uint32_t marks; /* clauses whose marks were played */
	enum fate fate;
	uint32_t heard_ms;
	int32_t v2v_ms;
	uint64_t t_tts;
};

struct listener;
struct speaker;
struct prt;

struct pipeline {
	const struct pipeline_config *cfg;
	const struct pipeline_ops *ops;
	void *arg;
	uint64_t stop_ms;
	struct listener *ear;
	struct speaker *mouth;
	/* brain realtime: the model hears and answers (pipeline_realtime.c);
	 * NULL for the other brains. No listener then. */
	struct prt *rt;

	/* the caller's side (pipeline_listen.c) */
	struct vad_item vq[VAD_QUEUE];
	size_t vhead, vlen;
	struct tmr vad_tmr; /* a VAD event waits for its frames */
	struct frame pre[PREROLL];
	size_t npre, pre_at;
	uint32_t next_frame;
	uint32_t onset;
	bool has_onset, hearing;
	uint32_t utt_id; /* the listener's utterance being heard */
	/* A streaming recogniser (listener_streams): an early end is a
	 * segment boundary of the turn, its frames go on to the socket. */
	bool streams;
	/* Fed since START, for pocketsphinx to decode again and for the
	 * Realtime brain (a network recogniser keeps its utterance's audio
	 * itself, or streams it: NULL). */
	int16_t *turn_audio; /* TURN_KEEP_MS */
	size_t turn_len;
	/* No more speculation this turn: its audio overflowed turn_audio. */
	bool spec_off;
	unsigned specs; /* times the final pass ran ahead this turn */
	bool paused;    /* PAUSE without RESUME or STOP yet */
	uint32_t pause_frame, spec_frames, spec_frames_max;
	uint32_t pause_max; /* frames of the longest pause the caller resumed
	                       after, in this call */
	bool spec;          /* the final pass ran ahead: frames are kept,
	                       not fed (pocketsphinx), or fed after its end
	                       (the network recognisers) */
	bool spec_ready;    /* ... and its transcript came */
	int spec_err;       /* ... or the recogniser failed (a network one) */
	bool redecoded;     /* this turn was decoded again after a pause
	                       (never a stream's: it goes on instead) */
	char spec_text[STT_TEXT_MAX];
	/* Turns whose STOP came, waiting for the listener's final (a new
	 * turn may start meanwhile) */
	struct final_wait {
		uint32_t utt;
		uint64_t t_end;
		bool redecoded;
	} wait[FINAL_WAITS];
	size_t nwait;

	/* the conversation (pipeline_control.c) */
	struct turn_item *turn_head, **turn_tail;
	uint32_t live_utt;
	bool live_audible, live_open;
	struct reply *cur;
	struct hist *hist;
	size_t nhist, caphist;
	uint64_t hist_gen; /* bumped by every change of the history */
	/* Preemptive generation (the DESIGN in pipeline.c): the reply held
	 * for the turn being heard, the requests made for it this turn, and
	 * whether one was dropped since the last turn was answered. */
	struct reply *pre_reply;
	unsigned pres;
	bool pre_dropped;
	bool has_rest; /* a reply cut by the caller can be resumed */
	char *rest;    /* its unheard text ("" = ask the brain again) */
	size_t rest_hist;
	bool rest_rerun;
	uint32_t next_utt;
	struct tmr pace_tmr;
	bool pumping, again;

	/* transfer_call (pipeline_tools.c): the call waiting for the
	 * server's answer, its request number */
	struct brain_tool_call *xfer;
	uint32_t xfer_id, xfer_seq;
	struct tmr xfer_tmr;
	int16_t out[AHEAD_MS * MS_SAMPLES];
};

/* pipeline.c */
bool pipeline_is_space(char c);
/* Copies s[0..len) without the spaces around it; NULL on ENOMEM. */
char *pipeline_trimmed(const char *s, size_t len);
/* A reply is a mem object: mem_deref. 0 or ENOMEM. */
int pipeline_reply_alloc(struct reply **rp);
/* Takes transcript; queues the turn for the conversation. Returns it,
 * NULL when it could not be queued. */
struct turn_item *pipeline_turn_push(struct pipeline *p, char *transcript,
                                     uint64_t t_end, uint64_t t_stt,
                                     bool redecoded);
/* Takes why: a turn the recogniser lost, answered with an apology. */
void pipeline_turn_fail(struct pipeline *p, char *why, uint64_t t_end);

/* pipeline_listen.c: the caller's side. */
int pipeline_listen_init(struct pipeline *p);
void pipeline_listen_frame(struct pipeline *p, uint32_t frame,
                           const int16_t pcm[PIPELINE_FRAME]);
void pipeline_listen_vad(struct pipeline *p, enum vad_event ev, uint32_t frame);

/* pipeline_speak.c: making a reply. */
int pipeline_speak_init(struct pipeline *p);
/* Starts making r (the brain, or its fixed text). */
void pipeline_speak_start(struct pipeline *p, struct reply *r);
/* Stops making r at once: the brain's request and the speaker's clauses
 * go; r->gen_done. */
void pipeline_speak_cancel(struct pipeline *p, struct reply *r);
/* Starts the brain on r held (r->held): its text is kept, not spoken,
 * its tool calls wait. 0 or the brain's error. */
int pipeline_speak_hold(struct pipeline *p, struct reply *r);
/* r, held, is the reply in flight now: its text so far goes to the
 * speaker, its tool calls run. */
void pipeline_speak_adopt(struct pipeline *p, struct reply *r);

/* pipeline_tools.c */
void pipeline_tools_reset(struct pipeline *p);

/* For pipeline_realtime.c, which fills a reply with the model's audio:
 * the reply's audio queue and text, a clause handed to the speaker, and
 * whether the reply is all made. */
bool pipeline_reply_queue(struct reply *r, const int16_t *pcm, size_t n);
bool pipeline_reply_text(struct reply *r, const char *s, size_t n);
void pipeline_reply_say(struct pipeline *p, struct reply *r, size_t off,
                        size_t len, bool embedded);
void pipeline_reply_check(struct reply *r);

/* pipeline_realtime.c: brain realtime, in place of the listener and of
 * the brain and the speaker making replies. */
int pipeline_rt_init(struct pipeline *p);
void pipeline_rt_reset(struct pipeline *p);
/* The caller's turn: begins (0 or an error: not heard), a frame of it
 * (kept: it is in p->turn_audio), ends (the turn is queued). */
int pipeline_rt_begin(struct pipeline *p);
void pipeline_rt_feed(struct pipeline *p, const int16_t pcm[PIPELINE_FRAME],
                      bool kept);
void pipeline_rt_end(struct pipeline *p, uint64_t t_end);
/* pipeline_speak_start's and _cancel's part for the model's replies. */
void pipeline_rt_start(struct pipeline *p, struct reply *r);
void pipeline_rt_cancel(struct pipeline *p, struct reply *r);
/* r's fate is known, its history message written: a reply cut by the
 * caller is truncated to what was heard of it, one the embedded voice
 * finished is told to the model as said. */
void pipeline_rt_settle(struct pipeline *p, struct reply *r);

/* pipeline_control.c: the conversation. */
void pipeline_greet(struct pipeline *p);
/* The turn being heard has text, before STOP: the brain may be asked
 * now (preemptive generation), its reply held for STOP. */
void pipeline_preempt(struct pipeline *p, const char *text);
/* The caller went on: the held reply, if any, goes unsaid. */
void pipeline_preempt_drop(struct pipeline *p);
void pipeline_on_ctl(struct pipeline *p, const struct ctl *c);
/* Sends what is due, settles what is known, starts the next reply; arms
 * the pacing timer. Safe to call from anywhere on the loop. */
void pipeline_pump(struct pipeline *p);

#endif
