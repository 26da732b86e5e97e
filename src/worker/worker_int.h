/*
 * The worker's insides, shared by worker.c (the loop, the server's
 * socket, the calls) and worker_setup.c (the settings made into models,
 * providers and the brain) and by no one else.
 */
#ifndef VOXGATE_WORKER_WORKER_INT_H
#define VOXGATE_WORKER_WORKER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

#include "core/config.h"
#include "proto/proto.h"
#include "worker/brain.h"
#include "worker/pipeline.h"
#include "worker/provider.h"

struct worker;

struct wjob {
	struct worker *w;
	uint32_t id;
	struct pipeline *p; /* NULL: the slot is free */
	char call_id[128];
	/* The worker's settings with this slot's own decoder, made once. */
	struct pipeline_config cfg;
	struct stt *decoder;
	/* A call offered while the decoder still finishes the last call's
	 * job: it waits for it (offer_retry) rather than being declined for
	 * a place the server rightly counted free. NULL: none. */
	struct proto_msg *offer;
	uint64_t offer_until;
	struct tmr offer_tmr;
};

struct worker {
	const struct config *cfg;
	struct stt_model *stt;
	struct tts *tts;
	struct brain_script *script;
	struct brain_config brain;
	struct pipeline_config pcfg;
	/* The network providers, when the settings name them. */
	struct provider stt_pv, tts_pv;
	char *stt_url, *tts_url;
	bool stt_net, tts_net;
	/* brain realtime: the model's socket endpoint */
	struct provider rt_pv;
	char *rt_url;
	bool rt;
	struct engine_pool *pool;
	struct httpc *http;
	struct dnsc *dnsc;
	struct http_cli *cli;
	struct websock *ws;
	struct websock_conn *wc;
	struct tmr connect_tmr;
	struct wjob *jobs;
	uint32_t capacity;
	bool connected, stopping, closed;
	int rc;
};

/* worker_setup.c */
int worker_load_models(struct worker *w);
uint32_t worker_default_capacity(const struct config *cfg);

#endif
