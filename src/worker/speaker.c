/*
 * The speaker on the embedded synthesisers (speaker.h): each clause is a
 * job on the call's engine queue; tts_synth hands each chunk as it is made
 * to engine_job_out, which takes it to the loop, and stops at the chunk
 * after a cancel.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "core/libre.h"

#include "worker/engine.h"
#include "worker/speaker.h"
#include "speech/tts.h"

struct speaker {
	struct engine_queue *q;
	struct tts *tts;
	speaker_audio_h *audioh;
	speaker_done_h *doneh;
	void *arg;
};

struct sjob {
	struct speaker *s; /* valid whenever a handler runs */
	struct tts *tts;
	struct engine_job *job; /* while it runs */
	uint32_t tag;
	int err;
	char text[];
};

static bool on_chunk(const int16_t *pcm, size_t n, void *arg)
{
	struct sjob *j = arg;

	return engine_job_out(j->job, pcm, n * sizeof(*pcm)) == 0;
}

static void work(struct engine_job *job, void *arg)
{
	struct sjob *j = arg;

	j->job = job;
	j->err = tts_synth(j->tts, j->text, on_chunk, j);
}

static void out(const void *data, size_t len, void *arg)
{
	struct sjob *j = arg;

	j->s->audioh(j->tag, data, len / sizeof(int16_t), j->s->arg);
}

static void done(void *arg)
{
	struct sjob *j = arg;

	j->s->doneh(j->tag, j->err, j->s->arg);
}

static void speaker_destructor(void *arg)
{
	struct speaker *s = arg;

	mem_deref(s->q);
}

int speaker_alloc(struct speaker **sp, const struct speaker_config *cfg,
                  speaker_audio_h *audioh, speaker_done_h *doneh, void *arg)
{
	struct speaker *s;
	int err;

	if (!sp || !cfg || !cfg->tts || !cfg->pool || !audioh || !doneh)
		return EINVAL;
	s = mem_zalloc(sizeof(*s), speaker_destructor);
	if (!s)
		return ENOMEM;
	s->tts = cfg->tts;
	s->audioh = audioh;
	s->doneh = doneh;
	s->arg = arg;
	err = engine_queue_alloc(&s->q, cfg->pool);
	if (err) {
		mem_deref(s);
		return err;
	}
	*sp = s;
	return 0;
}

int speaker_say(struct speaker *s, const char *text, size_t len, uint32_t tag)
{
	struct sjob *j;
	int err;

	if (!s || (len && !text))
		return EINVAL;
	j = mem_zalloc(sizeof(*j) + len + 1, NULL);
	if (!j)
		return ENOMEM;
	j->s = s;
	j->tts = s->tts;
	j->tag = tag;
	memcpy(j->text, text, len);
	j->text[len] = '\0';
	err = engine_submit(s->q, work, out, done, j);
	mem_deref(j);
	return err;
}

void speaker_cancel(struct speaker *s)
{
	if (s)
		engine_queue_flush(s->q);
}
