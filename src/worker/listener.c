/*
 * The listener on pocketsphinx (listener.h). The decoder is only ever
 * touched by the call's jobs on the engine pool, which run one at a time
 * in the order given, so begin, feed and end keep their order without a
 * lock, and the loop never waits for a decode. A job that fails marks the
 * utterance broken: the rest of it is skipped and its end reports the
 * error.
 *
 * One job of a call is on the pool at a time; what comes meanwhile waits
 * here, on the loop, as commands, and the frames of a call waiting to be
 * fed are joined into one job. A call whose recogniser is behind (the
 * machine's cores are busy) so costs one job per round rather than one
 * per frame, and past BACKLOG_MS of audio waiting the oldest goes, so
 * that what follows is current, as the caller's line is.
 */
#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include "worker/engine.h"
#include "worker/listener.h"
#include "speech/stt.h"

#define TEXT_MAX   1024
#define BACKLOG_MS 5000
#define BACKLOG    (BACKLOG_MS * 8) /* samples at 8 kHz */

/* What the jobs share: the decoder, theirs alone. */
struct ear {
	struct stt *stt;
	bool broken; /* this utterance failed, or none is open */
};

enum kind { JOB_BEGIN, JOB_FEED, JOB_END };

/* A command waiting for the job before it. */
struct cmd {
	struct cmd *next;
	enum kind kind;
	uint32_t utt;
	int16_t *pcm; /* JOB_FEED */
	size_t n, cap;
};

struct listener {
	struct engine_queue *q;
	struct ear *ear;
	struct listener_handlers h;
	void *arg;
	uint32_t utt;
	bool busy; /* a job is on the pool */
	struct cmd *head, **tail;
	size_t waiting; /* samples in the commands */
};

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
		if (!e->broken && j->n &&
		    stt_feed(e->stt, j->pcm, j->n, NULL, 0, NULL))
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

static void next(struct listener *l);

static void done(void *arg)
{
	struct ljob *j = arg;
	struct listener *l = j->l;

	l->busy = false;
	next(l);
	if (j->kind != JOB_END)
		return;
	if (j->err)
		l->h.errorh(j->utt, j->err, l->arg);
	else
		l->h.finalh(j->utt, j->text, l->arg);
}

/* Sends the first command waiting, unless a job is on the pool. Out of
 * memory, it stays for the next try. */
static void next(struct listener *l)
{
	struct cmd *c = l->head;
	struct ljob *j;

	if (l->busy || !c)
		return;
	j = mem_zalloc(sizeof(*j) + c->n * sizeof(*c->pcm), ljob_destructor);
	if (!j)
		return;
	j->l = l;
	j->ear = mem_ref(l->ear);
	j->kind = c->kind;
	j->utt = c->utt;
	j->n = c->n;
	if (c->n)
		memcpy(j->pcm, c->pcm, c->n * sizeof(*c->pcm));
	if (engine_submit(l->q, work, NULL, done, j)) {
		mem_deref(j);
		return;
	}
	mem_deref(j);
	l->busy = true;
	l->head = c->next;
	if (!l->head)
		l->tail = &l->head;
	l->waiting -= c->n;
	free(c->pcm);
	free(c);
}

static int command(struct listener *l, enum kind kind)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (!c)
		return ENOMEM;
	c->kind = kind;
	c->utt = l->utt;
	*l->tail = c;
	l->tail = &c->next;
	next(l);
	return 0;
}

/* Drops the oldest audio waiting until at most BACKLOG samples wait. */
static void trim(struct listener *l)
{
	for (struct cmd *c = l->head; c && l->waiting > BACKLOG; c = c->next) {
		size_t k =
		    l->waiting - BACKLOG < c->n ? l->waiting - BACKLOG : c->n;

		memmove(c->pcm, c->pcm + k, (c->n - k) * sizeof(*c->pcm));
		c->n -= k;
		l->waiting -= k;
	}
}

static void listener_destructor(void *arg)
{
	struct listener *l = arg;

	while (l->head) {
		struct cmd *c = l->head;

		l->head = c->next;
		free(c->pcm);
		free(c);
	}
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
	l->tail = &l->head;
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
	err = command(l, JOB_BEGIN);
	if (!err && utt)
		*utt = l->utt;
	return err;
}

int listener_feed(struct listener *l, const int16_t *pcm, size_t n)
{
	struct cmd *c;

	if (!l || (n && !pcm))
		return EINVAL;
	if (!n)
		return 0;
	/* Joined to the feed waiting last, when it is this utterance's. */
	c = l->head
	        ? (struct cmd *)((char *)l->tail - offsetof(struct cmd, next))
	        : NULL;
	if (!c || c->kind != JOB_FEED || c->utt != l->utt) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return ENOMEM;
		c->kind = JOB_FEED;
		c->utt = l->utt;
		*l->tail = c;
		l->tail = &c->next;
	}
	if (c->n + n > c->cap) {
		size_t cap = c->cap ? c->cap : 1600;
		int16_t *q;

		while (cap < c->n + n)
			cap *= 2;
		q = realloc(c->pcm, cap * sizeof(*q));
		if (!q)
			return ENOMEM;
		c->pcm = q;
		c->cap = cap;
	}
	memcpy(c->pcm + c->n, pcm, n * sizeof(*pcm));
	c->n += n;
	l->waiting += n;
	trim(l);
	next(l);
	return 0;
}

int listener_end(struct listener *l)
{
	if (!l)
		return EINVAL;
	return command(l, JOB_END);
}
