/*
 * DESIGN. A pass deletes BATCH rows at a time and yields to the loop
 * between batches (a few milliseconds of SQLite each), so a large backlog
 * (a first start with limits on an old file, a flood of refused calls)
 * is worked off without stalling calls. Passes are cheap when there is
 * nothing to delete: each statement is an index range scan.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "store/retention.h"
#include "store/store.h"
#include "core/log.h"

#define FIRST_MS     1000
#define INTERVAL_MS  (10 * 60 * 1000)
#define BATCH        500
#define BATCH_GAP_MS 20

struct retention {
	struct retention_params prm;
	struct store_retention keep;
	struct tmr tmr;
	unsigned calls, rooms; /* deleted in this pass so far */
};

static void pass(void *arg)
{
	struct retention *r = arg;
	struct store_pruned out;
	int err;

	err = store_prune(r->prm.store, &r->keep, BATCH, &out);
	if (err) {
		log_event(LOGL_ERROR, NULL, "history_prune_failed",
		          "error=\"%s\"", store_error(r->prm.store));
		r->calls = r->rooms = 0;
		tmr_start(&r->tmr, INTERVAL_MS, pass, r);
		return;
	}
	r->calls += out.calls;
	r->rooms += out.rooms;
	if (out.more) {
		tmr_start(&r->tmr, BATCH_GAP_MS, pass, r);
		return;
	}
	if (r->calls || r->rooms)
		log_event(LOGL_INFO, NULL, "history_pruned",
		          "calls=%u rooms=%u days=%u max_rows=%u", r->calls,
		          r->rooms, r->prm.days, r->prm.max_rows);
	r->calls = r->rooms = 0;
	tmr_start(&r->tmr, INTERVAL_MS, pass, r);
}

static void destructor(void *arg)
{
	struct retention *r = arg;

	tmr_cancel(&r->tmr);
}

int retention_alloc(struct retention **rp, const struct retention_params *prm)
{
	struct retention *r;

	if (!rp || !prm || !prm->store)
		return EINVAL;
	r = mem_zalloc(sizeof(*r), destructor);
	if (!r)
		return ENOMEM;
	r->prm = *prm;
	r->keep.max_age_s = (uint64_t)prm->days * 86400;
	r->keep.max_rows = prm->max_rows;
	tmr_init(&r->tmr);
	if (prm->days || prm->max_rows)
		tmr_start(&r->tmr, FIRST_MS, pass, r);
	*rp = r;
	return 0;
}
