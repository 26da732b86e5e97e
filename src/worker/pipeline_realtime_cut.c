/*
 * brain: realtime, a cut reply (pipeline_realtime.c). Apart because what
 * the model is told of a barge-in is its own protocol (response.cancel,
 * conversation.item.truncate) over the audio items the session tracked,
 * and is changed without touching the audio path.
 *
 * Barge-in. A cut reply's response is cancelled at once (response.cancel)
 * and, once the server says how much of it was played, its audio item is
 * truncated (conversation.item.truncate) to what the caller heard: the
 * server's heard_ms, the whole item when its mark was played, never more
 * than the audio received. The model's history then holds what was heard
 * and no more, as the pipeline's own does.
 */
#include <string.h>

#include "core/log.h"
#include "worker/pipeline_realtime_int.h"

void pipeline_rt_cancel(struct pipeline *p, struct reply *r)
{
	struct prt *t = p->rt;

	if (!t->utt || r->utt != t->utt)
		return;
	if (t->resp[0] && !strcmp(t->resp, t->active))
		(void)rt_cancel(t->rt, t->resp);
	/* asked and not yet created: cancelled when response.created
	 * comes (on_event) */
	prt_reply_forget(t);
}

void pipeline_rt_settle(struct pipeline *p, struct reply *r)
{
	struct prt *t = p->rt;
	size_t heard;

	/* The model did not say it all: what the caller heard (its words
	 * and the embedded voice's) is the model's to know. */
	if (r->err[0] && r->hist < p->nhist && p->hist[r->hist].content[0])
		(void)rt_history_add(t->rt, false, p->hist[r->hist].content);
	if (t->item_utt != r->utt)
		return;
	for (size_t i = 0; i < t->nitems; i++) {
		struct rt_item *it = &t->items[i];
		size_t start = it->start / MS_SAMPLES;
		size_t item_ms = it->samples / MS_SAMPLES;

		if (r->fate != FATE_INTERRUPTED && r->fate != FATE_CUT)
			break;
		heard = r->fate == FATE_CUT || r->heard_ms <= start
		            ? 0
		            : r->heard_ms - start;
		/* Its mark played: the caller heard it all. */
		if (r->marks >= 1 || heard > item_ms)
			heard = item_ms;
		log_event(LOGL_INFO, p->cfg->call_id, "realtime_truncate",
		          "audio_end_ms=%zu item_ms=%zu", heard, item_ms);
		(void)rt_truncate(t->rt, it->id, it->content_index,
		                  (uint32_t)heard);
	}
	t->item_utt = 0;
	t->nitems = 0;
}
