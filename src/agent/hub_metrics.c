/*
 * The hub's figures for GET /metrics: latency histograms fed by the calls'
 * bridges and the workers' turn reports, and the worker and job gauges.
 */
#include <errno.h>
#include <stdio.h>
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

void hub_metrics_init(struct hub *h)
{
	hist_init(&h->v2v, "voxgate_voice_to_voice_seconds",
	          "End of the caller's speech to the first packet of the "
	          "agent's reply on the wire.");
	hist_init(&h->reaction, "voxgate_barge_in_reaction_seconds",
	          "The caller's first speech packet to the agent's last "
	          "packet when the caller talks over the agent.");
	hist_init(&h->stt, "voxgate_stt_final_seconds",
	          "End of the caller's speech to the final transcript.");
	hist_init(&h->llm, "voxgate_llm_first_token_seconds",
	          "End of the caller's speech to the brain's first text.");
	hist_init(&h->tts, "voxgate_tts_first_audio_seconds",
	          "End of the caller's speech to the first synthesized audio.");
}

static int print_histogram(struct mbuf *mb, const struct histogram *hg)
{
	uint64_t cum = 0;
	int err;

	err = mbuf_printf(mb, "# HELP %s %s\n# TYPE %s histogram\n", hg->name,
	                  hg->help, hg->name);
	for (size_t i = 0; i < NBUCKETS && !err; i++) {
		char le[16];

		/* libre's printf has no %g. */
		snprintf(le, sizeof(le), "%g", bucket_s[i]);
		cum += hg->counts[i];
		err = mbuf_printf(mb, "%s_bucket{le=\"%s\"} %llu\n", hg->name,
		                  le, (unsigned long long)cum);
	}
	if (!err)
		err = mbuf_printf(mb,
		                  "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
		                  "%s_count %llu\n",
		                  hg->name, (unsigned long long)hg->count,
		                  hg->name, hg->sum, hg->name,
		                  (unsigned long long)hg->count);
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
	err = print_histogram(mb, &h->v2v);
	err |= print_histogram(mb, &h->reaction);
	err |= print_histogram(mb, &h->stt);
	err |= print_histogram(mb, &h->llm);
	err |= print_histogram(mb, &h->tts);
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
	    "voxgate_agent_lost_total %llu\n",
	    hub_worker_count(h), active, list_count(&h->queue),
	    (unsigned long long)h->jobs_total,
	    (unsigned long long)h->busy_total,
	    (unsigned long long)h->lost_total);
	return err ? ENOMEM : 0;
}
