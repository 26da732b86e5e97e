/*
 * One call's agent pipeline, behind the agent protocol (docs/agent-
 * protocol.md): the caller's audio and the server's VAD and playout events
 * come in, the agent's speech goes out through callbacks. The transport is
 * the caller's business; this is what runs between.
 *
 *   audio -> pre-roll -> STT -> turn -> brain -> clauses -> TTS -> paced say
 *
 * Everything streams: TTS starts on the first clause of the reply, audio
 * goes out on the first TTS chunk. A pipeline is a state machine on the
 * worker's loop: no thread of its own. Its inputs, its ops calls, the
 * brain's text and the speech engines' results all come and go on the
 * loop thread; the engines themselves (STT, TTS) run on the worker's
 * engine pool and the LLM on its HTTP client, neither of which makes the
 * loop wait. A barge-in cancels the reply's LLM request and synthesis at
 * once, from the input call itself.
 *
 * Barge-in keeps in the history only what the caller heard; a barge-in
 * followed by a turn with nothing in it (a cough, a click) resumes the
 * unheard rest of the reply. pipeline.c tells how.
 */
#ifndef VOXGATE_WORKER_PIPELINE_H
#define VOXGATE_WORKER_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/brain.h"
#include "speech/vad.h"

#define PIPELINE_FRAME 160 /* samples per caller frame: 20 ms at 8 kHz */

struct engine_pool;
struct httpc;
struct provider;
struct stt;
struct tts;

/* Shared by all calls of a worker (but the decoder); borrowed, must
 * outlive the pipelines. */
struct pipeline_config {
	/* A decoder made ahead of the call for it alone (each takes 0.2 s
	 * and some 60 MB to make); the pipeline references it until its
	 * last job is over, so its reference count says when it is free. */
	struct stt *decoder;
	struct tts *tts; /* its out_rate must be 8000 */
	/* Network speech providers (provider.h), NULL = the embedded
	 * engines: no decoder is needed with stt_net, and with tts_net the
	 * embedded tts only speaks when the network voice fails. */
	const struct provider *stt_net;
	const struct provider *tts_net;
	/* brain realtime: the Realtime API (its url the ws(s) endpoint
	 * with ?model=, voice, timeout_ms); no decoder is needed, and the
	 * embedded tts only speaks when the model fails. */
	const struct provider *realtime;
	const char *call_id;      /* the providers' log lines; NULL = none */
	struct engine_pool *pool; /* runs the decoder and the synthesis */
	struct httpc *http;       /* the LLM brain's requests */
	const struct brain_config *brain;
	const char *greeting; /* said when the call starts; NULL/"" = none */
	/* The server's VAD stop window: the caller's speech ended this long
	 * before the STOP event. 0 = 0.25 s, the server's default. */
	double stop_secs;
	/* Where transfer_call sends the caller (ops->transfer); NULL/"" =
	 * nowhere, and the brain should not offer it (pipeline_tools). */
	const char *transfer_to;
	/* Which provider does each stage, as the turns report them (and the
	 * server's metrics label them): e.g. "pocketsphinx", "deepgram";
	 * "echo", "llm", "realtime"; "espeak-ng", "cartesia". NULL = "". */
	const char *stt_name, *brain_name, *tts_name;
	/* Preemptive generation (the LLM brain): once the turn's final
	 * transcript is in hand before STOP (the caller paused), the brain
	 * is asked at once; its reply is held until STOP, then said if the
	 * turn's transcript is the same, or dropped unsaid if the caller
	 * went on. */
	bool preemptive;
};

/* How a turn's reply came to be asked (pipeline_config.preemptive). */
enum pipeline_preempt {
	PIPELINE_PREEMPT_NONE,      /* at STOP */
	PIPELINE_PREEMPT_USED,      /* before STOP, and that reply was said */
	PIPELINE_PREEMPT_DISCARDED, /* before STOP, dropped (the caller went
	                               on, the transcript changed): asked
	                               again for the turn */
};

/* One turn's figures, reported once the reply's fate is known (played to
 * its end or cut by the caller). Times are ms from the end of the caller's
 * speech (the STOP event's arrival minus stop_secs); -1 = not reached. */
struct pipeline_turn {
	uint32_t utterance;     /* the reply's */
	const char *transcript; /* "" for a resume (below) and for keys */
	uint32_t dtmf_keys;     /* keys pressed (pipeline_dtmf): how many,
	                           never which (a card number, a PIN) */
	const char *reply;      /* what the caller heard of the reply; ""
	                           for keys, which it may read back */
	int32_t stt_ms;         /* final transcript */
	int32_t llm_ms;         /* the brain's first text */
	int32_t tts_ms;         /* first audio handed to say */
	int32_t v2v_ms;         /* the server's voice-to-voice, -1 if none */
	bool interrupted;       /* the caller talked over it */
	bool resumed;           /* it resumes a reply cut by a false alarm */
	bool redecoded;         /* the caller paused long enough for the
	                           final pass to run ahead, then went on: the
	                           turn was decoded twice (pipeline.c) */
	enum pipeline_preempt preempt;
	const char *error; /* why the brain, the recogniser or the
	                           voice failed (the agent apologised),
	                           NULL if none did */
	/* the providers of its stages: pipeline_config's names, "" = none */
	const char *stt, *brain, *tts;
};

/* How audio and events leave; all called on the loop thread, never from
 * inside pipeline_alloc or the pipeline's release (they may call the
 * inputs below). */
struct pipeline_ops {
	/* n samples at 8 kHz of an utterance; ids grow from 1 */
	void (*say)(void *arg, uint32_t utterance, const int16_t *pcm,
	            size_t n);
	void (*say_end)(void *arg, uint32_t utterance);
	/* after each clause's audio; mark = the clause's index from 0 */
	void (*mark)(void *arg, uint32_t utterance, uint32_t mark);
	void (*clear)(void *arg); /* drop what the server has queued */
	void (*turn)(void *arg, const struct pipeline_turn *t);
	void (*hangup)(void *arg, const char *reason);
	/* The caller is to be transferred to `to` (why: the model's words,
	 * "" = none): answered, by request, with pipeline_transfer_result.
	 * NULL = no transfers. */
	void (*transfer)(void *arg, uint32_t request, const char *to,
	                 const char *why);
};

struct pipeline;

/*
 * Starts the call on the calling thread's loop and says the greeting. A
 * libre mem object: the caller owns *pp and ends the call with mem_deref,
 * which cancels what is in progress and frees it at once (engine jobs
 * still running end on the pool, unheard); no ops call is made after,
 * and it must not be made from one. cfg, ops and arg are borrowed until
 * then. EINVAL for a missing argument, ENOMEM.
 */
int pipeline_alloc(struct pipeline **pp, const struct pipeline_config *cfg,
                   const struct pipeline_ops *ops, void *arg);

/*
 * Inputs, on the loop thread. They never wait for the pipeline's work.
 * Frames are numbered as the server numbers them; a VAD event at frame f
 * falls between frames f-1 and f, whichever of them arrives first.
 */
void pipeline_audio(struct pipeline *p, uint32_t frame,
                    const int16_t pcm[PIPELINE_FRAME]);
void pipeline_vad(struct pipeline *p, enum vad_event ev, uint32_t frame);
void pipeline_speaking(struct pipeline *p, uint32_t utterance,
                       int32_t latency_ms);
void pipeline_mark_played(struct pipeline *p, uint32_t utterance,
                          uint32_t mark);
void pipeline_played(struct pipeline *p, uint32_t utterance, uint32_t heard_ms);
void pipeline_interrupted(struct pipeline *p, uint32_t utterance,
                          uint32_t heard_ms);
/* Keys the caller pressed: a turn of its own, "DTMF: <digits>" to the
 * brain; ops->turn is told only how many. */
void pipeline_dtmf(struct pipeline *p, const char *digits);
/* The answer to ops->transfer's request: ok, the call is being
 * transferred; otherwise why not. An answer to no request in flight (a
 * late one, or a stranger's) is dropped. */
void pipeline_transfer_result(struct pipeline *p, uint32_t request, bool ok,
                              const char *reason);
/* The far side took the request's transfer and it rings: the answer
 * (pipeline_transfer_result) may now take up to 45 s. */
void pipeline_transfer_accepted(struct pipeline *p, uint32_t request);

/*
 * The tools a call's model is offered, for brain_config.tools (*n of
 * them), and by brain realtime to its model: end_call (the agent says
 * goodbye, the call ends once it has been played), and with transfer,
 * transfer_call (the caller to transfer_to, through ops->transfer;
 * refused, the agent says so and the call goes on). Their handlers take
 * the pipeline as the brain's argument.
 */
const struct brain_tool *pipeline_tools(bool transfer, size_t *n);

#endif
