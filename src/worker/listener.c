/*
 * The listener on pocketsphinx (listener.h). The decoder is only ever
 * touched by the call's jobs on the engine pool, which run one at a time
 * in the order given, so begin, feed and end keep their order without a
 * lock, and the loop never waits for a decode. A job that fails marks the
 * utterance broken: the rest of it is skipped and its end reports the
 * error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include "worker/engine.h"
#include "worker/listener.h"
#include "speech/stt.h"

#define TEXT_MAX    1024
#define BACKLOG_MAX 250 /* jobs waiting: 5 s of frames */

/* What the jobs share: the decoder, theirs alone. */
struct ear {
	struct stt *stt;
	bool broken; /* this utterance failed, or none is open */
};

struct listener {
	struct engine_queue *q;
	struct ear *ear;
	struct listener_handlers h;
	void *arg;
	uint32_t utt;
};

enum kind { JOB_BEGIN, JOB_FEED, JOB_END };

struct ljob {
	struct listener *l; /* valid whenever a handler runs */
	struct ear *ear;
	enum kind kind;
	uint32_t utt;
	int err;
	size_t n;
	char text[TEXT_MAX];
	int16_t pcm[];
};

static void ear_destructor(void *arg)
{
	struct ear *e = arg;

	mem_deref(e->stt);
}

static void ljob_destructor(void *arg)
{
	struct ljob *j = arg;

	mem_deref(j->ear);
}

static void work(struct engine_job *job, void *arg)
{
	struct ljob *j = arg;
	struct ear *e = j->ear;

	(void)job;
	switch (j->kind) {
	case JOB_BEGIN:
		e->broken = stt_begin(e->stt) != 0;
		break;
	case JOB_FEED:
		if (!e->broken && stt_feed(e->stt, j->pcm, j->n, NULL, 0, NULL))
			e->broken = true;
		break;
	case JOB_END:
		if (e->broken)
			j->err = EIO;
		else
			j->err = stt_end(e->stt, j->text, sizeof(j->text));
		e->broken = true;
		break;
	}
}

static void done(void *arg)
{
	struct ljob *j = arg;
	struct listener *l = j->l;

	if (j->kind != JOB_END)
		return;
	if (j->err)
		l->h.errorh(j->utt, j->err, l->arg);
	else
		l->h.finalh(j->utt, j->text, l->arg);
}

static int submit(struct listener *l, enum kind kind, const int16_t *pcm,
                  size_t n)
{
	struct ljob *j;
	int err;

	if (!l)
		return EINVAL;
	j = mem_zalloc(sizeof(*j) + n * sizeof(*pcm), ljob_destructor);
	if (!j)
		return ENOMEM;
	j->l = l;
	j->ear = mem_ref(l->ear);
	j->kind = kind;
	j->utt = l->utt;
	j->n = n;
	if (n)
		memcpy(j->pcm, pcm, n * sizeof(*pcm));
	err = engine_submit(l->q, work, NULL, done, j);
	mem_deref(j);
	return err;
}

static void listener_destructor(void *arg)
{
	struct listener *l = arg;

	/* Jobs still running keep the ear, and with it the decoder. */
	mem_deref(l->q);
	mem_deref(l->ear);
}

int listener_alloc(struct listener **lp, const struct listener_config *cfg,
                   const struct listener_handlers *h, void *arg)
{
	struct listener *l;
	int err;

	if (!lp || !cfg || !cfg->decoder || !cfg->pool || !h || !h->finalh ||
	    !h->errorh)
		return EINVAL;
	l = mem_zalloc(sizeof(*l), listener_destructor);
	if (!l)
		return ENOMEM;
	l->h = *h;
	l->arg = arg;
	l->ear = mem_zalloc(sizeof(*l->ear), ear_destructor);
	if (!l->ear) {
		mem_deref(l);
		return ENOMEM;
	}
	l->ear->stt = mem_ref(cfg->decoder);
	l->ear->broken = true;
	err = engine_queue_alloc(&l->q, cfg->pool);
	if (err) {
		mem_deref(l);
		return err;
	}
	*lp = l;
	return 0;
}

int listener_begin(struct listener *l, uint32_t *utt)
{
	int err;

	if (!l)
		return EINVAL;
	l->utt++;
	err = submit(l, JOB_BEGIN, NULL, 0);
	if (!err && utt)
		*utt = l->utt;
	return err;
}

int listener_feed(struct listener *l, const int16_t *pcm, size_t n)
{
	if (!l || (n && !pcm))
		return EINVAL;
	if (engine_queue_pending(l->q) >= BACKLOG_MAX)
		return EBUSY;
	return n ? submit(l, JOB_FEED, pcm, n) : 0;
}

int listener_end(struct listener *l)
{
	return submit(l, JOB_END, NULL, 0);
}
