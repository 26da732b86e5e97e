/*
 * The worker's set-up (worker.c): the settings made into the engines, the
 * network providers' endpoints, the brain and each slot's pipeline
 * settings, and the capacity they allow. Apart because it runs once,
 * before the loop connects, and changes with every provider added, while
 * the loop's handling of the server and the calls does not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>

#include "core/config.h"
#include "net/url.h"
#include "speech/stt.h"
#include "speech/tts.h"
#include "worker/brain.h"
#include "worker/engine.h"
#include "worker/listener.h"
#include "worker/pipeline.h"
#include "worker/provider.h"
#include "worker/worker_int.h"
#include "worker/wsvoice.h"

/* A network voice: the OpenAI-compatible one or a streaming one. */
static bool tts_is_net(const struct config *cfg)
{
	return !strcmp(cfg->tts_provider, "openai") ||
	       wsvoice_dialect(cfg->tts_provider) != WSVOICE_NONE;
}

/* The network providers the settings name, their endpoints made from
 * their base URLs now, so that a bad one stops the worker at start. */
static int providers_load(struct worker *w)
{
	const struct config *cfg = w->cfg;
	const char *why = NULL;
	int err = 0;

	w->stt_net = config_stt_network(cfg);
	w->tts_net = tts_is_net(cfg);
	w->rt = !strcmp(cfg->brain, "realtime");
	if (w->rt) {
		const struct url_param q = {"model", cfg->realtime_model};

		err = url_endpoint(&w->rt_url, cfg->realtime_url, "realtime",
		                   true, &q, 1, &why);
		if (err) {
			fprintf(stderr, "voxgate: realtime_url: %s\n",
			        why ? why : strerror(err));
			return err;
		}
		w->rt_pv = (struct provider){
		    .name = "openai",
		    .url = w->rt_url,
		    .api_key = config_realtime_api_key(cfg),
		    .model = cfg->realtime_model,
		    .voice = cfg->realtime_voice,
		    .timeout_ms = cfg->realtime_timeout_ms,
		};
		/* The model hears the caller: no recogniser at all. */
		w->stt_net = false;
	}
	if (w->stt_net) {
		bool streams = listener_streams(cfg->stt_provider);

		w->stt_pv = (struct provider){
		    .name = cfg->stt_provider,
		    .url = config_stt_url(cfg),
		    .api_key = config_stt_api_key(cfg),
		    .model = config_stt_model(cfg),
		    .language = cfg->stt_language,
		    .timeout_ms = cfg->stt_timeout_ms,
		};
		/* a streaming provider's calls make its URL from the base;
		 * made once here all the same, to refuse a bad one now */
		err = streams ? listener_endpoint(&w->stt_url, &w->stt_pv, &why)
		              : url_endpoint(&w->stt_url, config_stt_url(cfg),
		                             "audio/transcriptions", false,
		                             NULL, 0, &why);
		if (err) {
			fprintf(stderr, "voxgate: stt_url: %s\n",
			        why ? why : strerror(err));
			return err;
		}
		if (!streams)
			w->stt_pv.url = w->stt_url;
	}
	if (w->tts_net) {
		/* ElevenLabs and Cartesia: their WebSockets (wsvoice.h). */
		if (wsvoice_dialect(cfg->tts_provider) != WSVOICE_NONE)
			err = wsvoice_endpoint(
			    &w->tts_url, cfg->tts_provider, config_tts_url(cfg),
			    config_tts_model(cfg), config_tts_voice(cfg), &why);
		else
			err =
			    url_endpoint(&w->tts_url, config_tts_url(cfg),
			                 "audio/speech", false, NULL, 0, &why);
		if (err) {
			fprintf(stderr, "voxgate: tts_url: %s\n",
			        why ? why : strerror(err));
			return err;
		}
		w->tts_pv = (struct provider){
		    .name = cfg->tts_provider,
		    .url = w->tts_url,
		    .api_key = config_tts_api_key(cfg),
		    .model = config_tts_model(cfg),
		    .voice = config_tts_voice(cfg),
		    .format = cfg->tts_format,
		    .timeout_ms = cfg->tts_timeout_ms,
		};
	}
	return 0;
}

int worker_load_models(struct worker *w)
{
	const struct config *cfg = w->cfg;
	struct stt_params sp = {
	    .hmm = cfg->stt_hmm[0] ? cfg->stt_hmm : NULL,
	    .lm = cfg->stt_lm[0] ? cfg->stt_lm : NULL,
	    .dict = cfg->stt_dict[0] ? cfg->stt_dict : NULL,
	};
	struct tts_params tp;
	const char *why = NULL;
	int err;

	err = engine_pool_open(&w->pool, cfg->agent_engine_threads);
	if (err) {
		fprintf(stderr, "voxgate: engine pool: %s\n", strerror(err));
		return err;
	}
	err = providers_load(w);
	if (err)
		return err;
	err = w->stt_net || w->rt ? 0 : stt_model_load(&w->stt, &sp, &why);
	if (err) {
		fprintf(stderr, "voxgate: stt: %s\n",
		        why ? why : strerror(err));
		return err;
	}
	tts_params_default(&tp);
	config_tts_embedded(cfg, &tp.provider, &tp.voice);
	tp.rate_wpm = cfg->tts_rate_wpm;
	tp.out_rate = 8000;
	err = tts_alloc(&w->tts, &tp, &why);
	if (err) {
		fprintf(stderr, "voxgate: tts: %s\n",
		        why ? why : strerror(err));
		return err;
	}

	memset(&w->brain, 0, sizeof(w->brain));
	if (!strcmp(cfg->brain, "script") ||
	    (!cfg->brain[0] && cfg->script[0])) {
		w->brain.kind = BRAIN_SCRIPT;
		why = NULL;
		err = brain_script_alloc(&w->script);
		if (!err)
			err = brain_script_load(w->script, cfg->script, &why);
		if (err) {
			fprintf(stderr, "voxgate: script: %s\n",
			        why ? why : strerror(err));
			return err;
		}
		w->brain.script = w->script;
	} else if (w->rt) {
		w->brain.kind = BRAIN_REALTIME;
		w->brain.system_prompt = cfg->system_prompt;
	} else if (!strcmp(cfg->brain, "llm") ||
	           (!cfg->brain[0] && cfg->llm_base_url[0])) {
		if (!cfg->llm_base_url[0]) {
			fprintf(stderr,
			        "voxgate: brain llm needs llm_base_url\n");
			return EINVAL;
		}
		w->brain.kind = BRAIN_LLM;
		llm_params_default(&w->brain.llm);
		w->brain.llm.base_url = cfg->llm_base_url;
		w->brain.llm.api_key = cfg->llm_api_key;
		w->brain.llm.model = cfg->llm_model;
		w->brain.system_prompt = cfg->system_prompt;
		w->brain.tools =
		    pipeline_tools(cfg->transfer_to[0], &w->brain.ntools);
	} else {
		w->brain.kind = BRAIN_ECHO;
	}
	w->pcfg.tts = w->tts;
	w->pcfg.stt_net = w->stt_net ? &w->stt_pv : NULL;
	w->pcfg.tts_net = w->tts_net ? &w->tts_pv : NULL;
	w->pcfg.realtime = w->rt ? &w->rt_pv : NULL;
	w->pcfg.brain = &w->brain;
	w->pcfg.greeting = cfg->greeting_text;
	w->pcfg.stop_secs = cfg->vad_stop_secs;
	w->pcfg.transfer_to = cfg->transfer_to;
	w->pcfg.preemptive = cfg->preemptive_generation;
	/* The stages' providers as the settings name them, for the turns'
	 * figures; a provider added to the settings is named here with no
	 * change (the server's metrics know the names it labels). */
	w->pcfg.stt_name = cfg->stt_provider;
	w->pcfg.tts_name = cfg->tts_provider;
	w->pcfg.brain_name = w->brain.kind == BRAIN_LLM        ? "llm"
	                     : w->brain.kind == BRAIN_SCRIPT   ? "script"
	                     : w->brain.kind == BRAIN_REALTIME ? "realtime"
	                                                       : "echo";
	/* The Realtime model hears and speaks itself: no recogniser or
	 * voice of the settings did those stages. */
	if (w->brain.kind == BRAIN_REALTIME)
		w->pcfg.stt_name = w->pcfg.tts_name = "none";
	/* Every slot's decoder now, so a call does not wait for one. */
	for (uint32_t i = 0; i < w->capacity; i++) {
		err = w->stt_net || w->rt
		          ? 0
		          : stt_alloc(&w->jobs[i].decoder, w->stt);
		if (err) {
			fprintf(stderr, "voxgate: stt: %s\n", strerror(err));
			return err;
		}
		w->jobs[i].cfg = w->pcfg;
		w->jobs[i].cfg.decoder = w->jobs[i].decoder;
		w->jobs[i].cfg.pool = w->pool;
		w->jobs[i].cfg.call_id = w->jobs[i].call_id;
	}
	return 0;
}

/*
 * The calls a worker takes unless agent_capacity says: as many as its
 * speech engines allow, from bench/README.md's "Calls per worker" (one
 * worker with N calls talking a third of the time, on this 2-core
 * machine), with headroom. pocketsphinx decodes on this machine's cores
 * (about a tenth of one and 8 MB per call beyond a 57 MB decoder made per
 * slot, and one model's decoders take turns): one call, as the server's
 * pool of workers expects.
 *
 * With a network recogniser the CPU-bound part is gone. Its voice on the
 * engine pool (espeak-ng or flite) makes a clause in tens of
 * milliseconds: at 64 calls the first audio still came 50-65 ms after the
 * clause, the worker at 0.12 % of a core a call: 32. With both on the
 * network a call cost the worker 0.03-0.05 % of a core and 70-100 KB:
 * the worker's loop is not what limits, the server's media path and the
 * machine's cores are (NET_CAPACITY); so with the Realtime brain, whose
 * call is a socket and its frames. Any provider but the embedded engines
 * counts as the network.
 */
#define STT_NET_CAPACITY 32
#define NET_CAPACITY     200

static bool embedded_stt(const char *name)
{
	return !strcmp(name, "pocketsphinx");
}

static bool embedded_tts(const char *name)
{
	return !strcmp(name, "espeak-ng") || !strcmp(name, "flite");
}

uint32_t worker_default_capacity(const struct config *cfg)
{
	if (!strcmp(cfg->brain, "realtime"))
		return NET_CAPACITY;
	if (embedded_stt(cfg->stt_provider))
		return 1;
	return embedded_tts(cfg->tts_provider) ? STT_NET_CAPACITY
	                                       : NET_CAPACITY;
}
