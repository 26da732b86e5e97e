/*
 * The hub's figures for GET /metrics: latency histograms fed by the calls'
 * bridges and the workers' turn reports, the stages' labelled by the
 * providers that did them (stt, brain, tts), and the worker and job
 * gauges.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "agent/hub_int.h"

/* Prometheus histograms, in seconds. */
static const double bucket_s[] = {0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                  0.6,  0.8, 1.0,  1.5, 2.0, 3.0, 5.0};
#define NBUCKETS (sizeof(bucket_s) / sizeof(bucket_s[0]))

_Static_assert(NBUCKETS == HUB_NBUCKETS, "hub_int.h sizes the histograms");

void hub_observe(struct histogram *h, double s)
{
	size_t i = 0;

	while (i < NBUCKETS && s > bucket_s[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += s;
}

static void hist_init(struct histogram *hg, const char *name, const char *help)
{
	hg->name = name;
	hg->help = help;
}

/*
 * The providers a label may name: those voxgate has, "none" for a stage a
 * worker does not report (a speech-to-speech brain's STT, another
 * program's worker), "other" for any name not here. Fixed lists keep the
 * labels' combinations few (6 x 6 x 7) whatever workers send; a provider
 * joins by its name here and in its worker's settings.
 */
static const char *const stt_names[] = {"pocketsphinx",    "deepgram", "openai",
                                        "openai-realtime", "none",     "other"};
static const char *const brain_names[] = {"echo",     "script", "llm",
                                          "realtime", "none",   "other"};
static const char *const tts_names[] = {
    "espeak-ng", "flite", "openai", "elevenlabs", "cartesia", "none", "other"};
#define NAMES(a) (sizeof(a) / sizeof(a[0]))

static const struct {
	const char *name, *help;
} stages[HUB_NSTAGES] = {
    [HUB_STAGE_STT] = {"voxgate_stt_final_seconds",
                       "End of the caller's speech to the final "
                       "transcript."},
    [HUB_STAGE_LLM] = {"voxgate_llm_first_token_seconds",
                       "End of the caller's speech to the brain's first "
                       "text."},
    [HUB_STAGE_TTS] = {"voxgate_tts_first_audio_seconds",
                       "End of the caller's speech to the first "
                       "synthesized audio."},
    [HUB_STAGE_V2V] = {"voxgate_voice_to_voice_seconds",
                       "End of the caller's speech to the first packet of "
                       "the agent's reply on the wire."},
};

static uint8_t label_of(const char *const *names, size_t n, const char *v)
{
	if (!v || !v[0])
		return (uint8_t)(n - 2); /* "none" */
	/* "none" named too: the Realtime brain's worker names it for the
	 * stages its model does */
	for (size_t i = 0; i < n - 1; i++)
		if (!strcmp(names[i], v))
			return (uint8_t)i;
	return (uint8_t)(n - 1); /* "other" */
}

void hub_labels_of(struct hub_labels *l, const char *stt, const char *brain,
                   const char *tts)
{
	l->stt = label_of(stt_names, NAMES(stt_names), stt);
	l->brain = label_of(brain_names, NAMES(brain_names), brain);
	l->tts = label_of(tts_names, NAMES(tts_names), tts);
}

void hub_observe_stage(struct hub *h, enum hub_stage st,
                       const struct hub_labels *l, double s)
{
	struct hub_stage_set *set = NULL, *sets;

	if ((unsigned)st >= HUB_NSTAGES)
		return;
	for (size_t i = 0; i < h->nsets && !set; i++)
		if (h->sets[i].l.stt == l->stt &&
		    h->sets[i].l.brain == l->brain &&
		    h->sets[i].l.tts == l->tts)
			set = &h->sets[i];
	if (!set) {
		/* Out of memory, the figure is lost. */
		sets = realloc(h->sets, (h->nsets + 1) * sizeof(*sets));
		if (!sets)
			return;
		h->sets = sets;
		set = &sets[h->nsets++];
		memset(set, 0, sizeof(*set));
		set->l = *l;
	}
	hub_observe(&set->h[st], s);
}

void hub_metrics_init(struct hub *h)
{
	hist_init(&h->reaction, "voxgate_barge_in_reaction_seconds",
	          "The caller's first speech packet to the agent's last "
	          "packet when the caller talks over the agent.");
}

void hub_metrics_reset(struct hub *h)
{
	free(h->sets);
	h->sets = NULL;
	h->nsets = 0;
}

/* A histogram's series; labels: "" or 'k="v",' pairs, before le. */
static int print_series(struct mbuf *mb, const char *name, const char *labels,
                        const struct histogram *hg)
{
	uint64_t cum = 0;
	int err = 0;

	for (size_t i = 0; i < NBUCKETS && !err; i++) {
		char le[16];

		/* libre's printf has no %g. */
		snprintf(le, sizeof(le), "%g", bucket_s[i]);
		cum += hg->counts[i];
		err = mbuf_printf(mb, "%s_bucket{%sle=\"%s\"} %llu\n", name,
		                  labels, le, (unsigned long long)cum);
	}
	if (!err)
		err = mbuf_printf(mb, "%s_bucket{%sle=\"+Inf\"} %llu\n", name,
		                  labels, (unsigned long long)hg->count);
	/* {} alone is not valid in the exposition format. */
	if (!err && labels[0]) {
		char l[160];

		snprintf(l, sizeof(l), "%.*s", (int)strlen(labels) - 1, labels);
		err = mbuf_printf(mb, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n",
		                  name, l, hg->sum, name, l,
		                  (unsigned long long)hg->count);
	} else if (!err) {
		err = mbuf_printf(mb, "%s_sum %.6f\n%s_count %llu\n", name,
		                  hg->sum, name, (unsigned long long)hg->count);
	}
	return err;
}

static int print_histogram(struct mbuf *mb, const struct histogram *hg)
{
	int err = mbuf_printf(mb, "# HELP %s %s\n# TYPE %s histogram\n",
	                      hg->name, hg->help, hg->name);

	return err ? err : print_series(mb, hg->name, "", hg);
}

/* A stage's histogram, a series for each set of providers with figures. */
static int print_stage(struct mbuf *mb, const struct hub *h, enum hub_stage st)
{
	const char *name = stages[st].name;
	int err = mbuf_printf(mb, "# HELP %s %s\n# TYPE %s histogram\n", name,
	                      stages[st].help, name);

	for (size_t i = 0; i < h->nsets && !err; i++) {
		const struct hub_stage_set *set = &h->sets[i];
		char labels[160];

		if (!set->h[st].count)
			continue;
		snprintf(labels, sizeof(labels),
		         "stt=\"%s\",brain=\"%s\",tts=\"%s\",",
		         stt_names[set->l.stt], brain_names[set->l.brain],
		         tts_names[set->l.tts]);
		err = print_series(mb, name, labels, &set->h[st]);
	}
	return err;
}

int hub_metrics(struct hub *h, struct mbuf *mb)
{
	unsigned active = 0;
	int err;

	if (!h || !mb)
		return EINVAL;
	for (struct le *le = list_head(&h->jobs); le; le = le->next)
		active += ((struct job *)le->data)->state == JOB_ACTIVE;
	err = print_stage(mb, h, HUB_STAGE_V2V);
	err |= print_histogram(mb, &h->reaction);
	err |= print_stage(mb, h, HUB_STAGE_STT);
	err |= print_stage(mb, h, HUB_STAGE_LLM);
	err |= print_stage(mb, h, HUB_STAGE_TTS);
	err |= mbuf_printf(
	    mb,
	    "# HELP voxgate_agent_workers Agent workers connected.\n"
	    "# TYPE voxgate_agent_workers gauge\n"
	    "voxgate_agent_workers %u\n"
	    "# HELP voxgate_agent_calls Calls with an agent talking.\n"
	    "# TYPE voxgate_agent_calls gauge\n"
	    "voxgate_agent_calls %u\n"
	    "# HELP voxgate_agent_queued Calls waiting for an agent.\n"
	    "# TYPE voxgate_agent_queued gauge\n"
	    "voxgate_agent_queued %u\n"
	    "# HELP voxgate_agent_jobs_total Calls that asked for an agent.\n"
	    "# TYPE voxgate_agent_jobs_total counter\n"
	    "voxgate_agent_jobs_total %llu\n"
	    "# HELP voxgate_agent_busy_total Calls no agent took.\n"
	    "# TYPE voxgate_agent_busy_total counter\n"
	    "voxgate_agent_busy_total %llu\n"
	    "# HELP voxgate_agent_lost_total Calls whose agent went away.\n"
	    "# TYPE voxgate_agent_lost_total counter\n"
	    "voxgate_agent_lost_total %llu\n"
	    "# HELP voxgate_agent_preemptive_total Turns whose reply was asked "
	    "for before the end of the turn: said, or dropped as the caller "
	    "went on.\n"
	    "# TYPE voxgate_agent_preemptive_total counter\n"
	    "voxgate_agent_preemptive_total{outcome=\"used\"} %llu\n"
	    "voxgate_agent_preemptive_total{outcome=\"discarded\"} %llu\n",
	    hub_worker_count(h), active, list_count(&h->queue),
	    (unsigned long long)h->jobs_total,
	    (unsigned long long)h->busy_total,
	    (unsigned long long)h->lost_total,
	    (unsigned long long)h->preempt_used,
	    (unsigned long long)h->preempt_discarded);
	return err ? ENOMEM : 0;
}
