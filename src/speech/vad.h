/*
 * Voice activity detection for telephone audio: tells when a caller starts
 * and stops speaking, for turn-taking and barge-in.
 *
 * One vad per call, fed every 20 ms frame of decoded PCM. The events follow
 * Pipecat's VADAnalyzer (QUIET, STARTING, SPEAKING, STOPPING), so agents
 * written against it behave the same here; the detector under them is ours
 * and is described in vad.c. vad_process does no allocation, takes no lock
 * and never blocks.
 */
#ifndef VOXGATE_SPEECH_VAD_H
#define VOXGATE_SPEECH_VAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vad_params {
	double start_secs; /* voiced this long before START; default 0.2 */
	double stop_secs;  /* unvoiced this long after speech before STOP,
	                      from the middle of the last voiced frame;
	                      default 0.3 */
	double min_volume; /* 0..1 loudness floor a voiced frame needs;
	                      default 0.6 (about -50 dBFS) */
	double confidence; /* 0..1 speech likelihood a voiced frame needs;
	                      default 0.7 */
};

/* The defaults, and why, are explained in vad.c. */
void vad_params_default(struct vad_params *p);
/* The unvoiced 20 ms frames that make STOP for stop_secs (at least 1):
 * STOP comes with the last of them. */
unsigned vad_stop_frames(double stop_secs);

enum vad_event {
	VAD_EVENT_NONE,
	VAD_EVENT_ONSET,  /* first voiced frame after quiet: speech may be
	                     starting */
	VAD_EVENT_START,  /* voiced for start_secs: the caller is speaking
	                     (with start_secs under one frame, START comes
	                     alone, without an ONSET) */
	VAD_EVENT_CANCEL, /* an ONSET that did not reach START (a click, a
	                     cough); up to 200 ms of digital silence inside
	                     an onset (the echo guard withholding the line)
	                     neither cancels it nor counts towards START */
	VAD_EVENT_STOP,   /* after START, unvoiced for stop_secs: end of turn */
	VAD_EVENT_PAUSE,  /* after START, the first unvoiced frame: STOP
	                     follows unless RESUME comes first (with
	                     stop_secs under two frames, STOP comes alone) */
	VAD_EVENT_RESUME, /* voiced again after a PAUSE, before STOP */
};

struct vad_frame {
	enum vad_event event;
	bool voiced;       /* this frame was heard and passed both
	                      thresholds; before START the confidence is held
	                      over short breaks, so an onset's voiced run
	                      outlasts a dip of up to three frames (vad.c) */
	double confidence; /* 0..1 */
	double volume;     /* 0..1, same scale as min_volume */
	bool speaking;     /* between START and STOP */
};

struct vad;

/*
 * rate is 8000 or 16000; frames are rate/50 samples. prm NULL means the
 * defaults. EINVAL on a bad rate or parameters (a duration outside 0..10 s,
 * a threshold outside 0..1), ENOMEM. *vp is a mem object: mem_deref.
 */
int vad_alloc(struct vad **vp, const struct vad_params *prm, uint32_t rate);

/*
 * Back to QUIET: a turn in progress is dropped without a STOP. What was
 * learnt about the line (its noise floor) is kept, so a voice already
 * there when this is called is heard as a new ONSET.
 */
void vad_restart(struct vad *v);

/*
 * One 20 ms frame. A frame of another size, or pcm NULL (a lost packet),
 * counts as an unvoiced frame: time goes on, the detector learns nothing.
 */
void vad_process(struct vad *v, const int16_t *pcm, size_t n,
                 struct vad_frame *out);

/*
 * For the model's trainer (bench/vad_train.c), which learns the weights in
 * vad_model.h from these: the model's input for one frame, as vad_process
 * computes it (and so moving the detector's state the same way), without
 * running the model or the turn logic. Returns false, leaving in alone,
 * for a frame that is not heard (pcm NULL or n not a frame).
 */
#define VAD_FEATURES     38 /* per frame */
#define VAD_CONTEXT      7  /* frames the model sees: this and 6 before */
#define VAD_MODEL_INPUTS (VAD_FEATURES * VAD_CONTEXT)
bool vad_model_input(struct vad *v, const int16_t *pcm, size_t n,
                     float in[VAD_MODEL_INPUTS]);

#endif
