/*
 * Many deadlines on one libre timer (see tmrq.h for why).
 */
#include "core/libre.h"
#include "core/tmrq.h"

static void arm(struct tmrq *q);

static void fire(void *arg)
{
	struct tmrq *q = arg;
	const uint64_t now = tmr_jiffies();
	struct list due = LIST_INIT;
	struct le *le;

	q->armed = 0;
	/* The expired ones are taken out first: a handler that starts a
	 * deadline again with no delay runs it at the next firing, not in
	 * this loop for ever. A handler may cancel one of them: that
	 * unlinks it from here. */
	while ((le = list_head(&q->l)) != NULL &&
	       ((struct tmrq_ent *)le->data)->due <= now) {
		list_unlink(le);
		list_append(&due, le, le->data);
	}
	q->firing = true;
	while ((le = list_head(&due)) != NULL) {
		struct tmrq_ent *e = le->data;

		list_unlink(le);
		e->h(e->arg);
	}
	q->firing = false;
	arm(q);
}

/* The libre timer goes to the earliest deadline if it would fire later
 * (or not at all); otherwise it stays, and fires early for nothing. */
static void arm(struct tmrq *q)
{
	const struct tmrq_ent *head = list_ledata(list_head(&q->l));
	uint64_t now;

	if (q->firing || !head || (q->armed && q->armed <= head->due))
		return;
	now = tmr_jiffies();
	tmr_start(&q->tmr, head->due > now ? head->due - now : 0, fire, q);
	q->armed = head->due;
}

void tmrq_init(struct tmrq *q)
{
	list_init(&q->l);
	tmr_init(&q->tmr);
	q->armed = 0;
	q->firing = false;
}

void tmrq_reset(struct tmrq *q)
{
	struct le *le;

	while ((le = list_head(&q->l)) != NULL)
		list_unlink(le);
	tmr_cancel(&q->tmr);
	q->armed = 0;
}

void tmrq_ent_init(struct tmrq_ent *e)
{
	e->le = (struct le)LE_INIT;
	e->due = 0;
	e->h = NULL;
	e->arg = NULL;
}

void tmrq_start(struct tmrq *q, struct tmrq_ent *e, uint64_t delay, tmrq_h *h,
                void *arg)
{
	struct le *le;

	if (!q || !e)
		return;
	list_unlink(&e->le);
	if (!h)
		return;
	e->due = tmr_jiffies() + delay;
	e->h = h;
	e->arg = arg;
	/* From the latest back: one step when the delays are alike. */
	for (le = list_tail(&q->l); le; le = le->prev) {
		if (((struct tmrq_ent *)le->data)->due <= e->due)
			break;
	}
	if (le)
		list_insert_after(&q->l, le, &e->le, e);
	else
		list_prepend(&q->l, &e->le, e);
	arm(q);
}

void tmrq_cancel(struct tmrq_ent *e)
{
	if (e)
		list_unlink(&e->le);
}

bool tmrq_running(const struct tmrq_ent *e)
{
	return e && e->le.list != NULL;
}

uint32_t tmrq_count(const struct tmrq *q)
{
	return q ? list_count(&q->l) : 0;
}
