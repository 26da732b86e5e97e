/*
 * DESIGN. One libre loop per worker process drives every call: the
 * server's WebSocket, each call's pipeline (a state machine, no thread of
 * its own), the LLM's HTTP requests and the network speech providers'
 * (httpc, curl on the loop: provider.h; the streaming voices' WebSocket,
 * one per call: wsvoice.h). What the server sends is handed to the
 * pipeline at once and what a pipeline says is written to the WebSocket
 * from the same thread. The CPU-bound engines (pocketsphinx, espeak-ng,
 * flite) run on the engine pool, a few threads for all the calls, whose
 * results come back to the loop; the pool does not grow with the calls,
 * so a worker's threads are the loop plus the pool whatever it holds.
 *
 * Capacity, the calls a worker takes, is agent_capacity, or by default
 * what its engines allow (default_capacity): pocketsphinx costs a sixth
 * of a core and 100 MB a call, so one; calls whose speech is on the
 * network cost the loop little, so many. The loop holds as many descriptors as RLIMIT_NOFILE allows, as
 * the server's does: a call may hold several sockets.
 *
 * Models are loaded before connecting, once per process, and shared by
 * all the calls; each slot has its decoder made ahead, and a slot is free
 * again once its decoder's last job is over (its reference count).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "worker/worker.h"
#include "worker/brain.h"
#include "worker/pipeline.h"
#include "proto/proto.h"
#include "speech/stt.h"
#include "speech/tts.h"
#include "core/config.h"
#include "core/log.h"
#include "core/prio.h"
#include "core/utf8.h"
#include "net/conngate.h"
#include "net/httpc.h"
#include "net/url.h"
#include "net/wsguard.h"
#include "worker/engine.h"
#include "worker/listener.h"
#include "worker/provider.h"
#include "worker/wsvoice.h"

#define CONNECT_TIMEOUT_MS 10000
/* A recogniser pass lasts at most about a second: an offer waits that
 * long and a half for its slot's decoder, polled every OFFER_POLL_MS,
 * well inside the server's agent_dispatch_timeout. */
#define OFFER_WAIT_MS   1500
#define OFFER_POLL_MS   10
#define WS_KEEPALIVE_MS 30000 /* libre counts it in ms */

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

/* ---- from the pipelines (on the loop) --------------------------------- */

static void push(struct worker *w, enum websock_opcode op, const void *data,
                 size_t len)
{
	if (w->wc && !w->closed)
		(void)websock_send(w->wc, op, "%b", data, len);
}

static void push_msg(struct wjob *j, struct proto_msg *m)
{
	char *s;

	m->job = j->id;
	s = proto_encode(m, false);
	if (!s)
		return;
	push(j->w, WEBSOCK_TEXT, s, strlen(s));
	free(s);
}

static void op_say(void *arg, uint32_t utterance, const int16_t *pcm, size_t n)
{
	struct wjob *j = arg;
	uint8_t buf[PROTO_AUDIO_HDR + 2 * 1600];

	/* 200 ms per frame: small enough to keep the server's queue fed
	 * smoothly, large enough not to flood the socket. */
	while (n) {
		size_t k = n < 1600 ? n : 1600;
		size_t len =
		    proto_audio_encode(buf, sizeof(buf), PROTO_AUDIO_AGENT,
		                       j->id, utterance, pcm, k);

		if (len)
			push(j->w, WEBSOCK_BIN, buf, len);
		pcm += k;
		n -= k;
	}
}

static void op_say_end(void *arg, uint32_t utterance)
{
	struct proto_msg m;

	proto_init(&m, PROTO_SAY_END);
	m.utterance = utterance;
	push_msg(arg, &m);
}

static void op_mark(void *arg, uint32_t utterance, uint32_t mark)
{
	struct proto_msg m;

	proto_init(&m, PROTO_MARK_AFTER);
	m.utterance = utterance;
	m.mark = mark;
	push_msg(arg, &m);
}

static void op_clear(void *arg)
{
	struct proto_msg m;

	proto_init(&m, PROTO_CLEAR);
	push_msg(arg, &m);
}

static void op_turn(void *arg, const struct pipeline_turn *t)
{
	struct proto_msg m;

	proto_init(&m, PROTO_TURN);
	snprintf(m.transcript, sizeof(m.transcript), "%s", t->transcript);
	snprintf(m.reply, sizeof(m.reply), "%s", t->reply);
	m.stt_ms = t->stt_ms;
	m.llm_ms = t->llm_ms;
	m.tts_ms = t->tts_ms;
	m.v2v_ms = t->v2v_ms;
	m.interrupted = t->interrupted;
	snprintf(m.reason, sizeof(m.reason), "%s", t->error ? t->error : "");
	snprintf(m.stt, sizeof(m.stt), "%s", t->stt ? t->stt : "");
	snprintf(m.brain, sizeof(m.brain), "%s", t->brain ? t->brain : "");
	snprintf(m.tts, sizeof(m.tts), "%s", t->tts ? t->tts : "");
	push_msg(arg, &m);
}

static void op_hangup(void *arg, const char *reason)
{
	struct proto_msg m;

	proto_init(&m, PROTO_HANGUP);
	snprintf(m.reason, sizeof(m.reason), "%s", reason ? reason : "");
	push_msg(arg, &m);
}

/* The server answers with transfer_result (server_text). */
static void op_transfer(void *arg, uint32_t request, const char *to,
                        const char *why)
{
	struct proto_msg m;

	proto_init(&m, PROTO_TRANSFER);
	m.request = request;
	snprintf(m.to, sizeof(m.to), "%s", to);
	utf8_copy(m.reason, sizeof(m.reason), why, strlen(why));
	push_msg(arg, &m);
}

static const struct pipeline_ops ops = {
    .say = op_say,
    .say_end = op_say_end,
    .mark = op_mark,
    .clear = op_clear,
    .turn = op_turn,
    .hangup = op_hangup,
    .transfer = op_transfer,
};

/* ---- from the server --------------------------------------------------- */

static void send_now(struct worker *w, struct proto_msg *m)
{
	char *s = proto_encode(m, false);

	if (!s)
		return;
	(void)websock_send(w->wc, WEBSOCK_TEXT, "%s", s);
	free(s);
}

static struct wjob *job_find(struct worker *w, uint32_t id)
{
	for (uint32_t i = 0; i < w->capacity; i++) {
		if (w->jobs[i].p && w->jobs[i].id == id)
			return &w->jobs[i];
	}
	return NULL;
}

static bool decoder_free(const struct wjob *j)
{
	return !j->decoder || mem_nrefs(j->decoder) == 1;
}

/* The call in `in` on slot, whose decoder is free. */
static void job_start(struct wjob *slot, const struct proto_msg *in)
{
	struct worker *w = slot->w;
	struct proto_msg m;
	int err;

	slot->id = in->job;
	snprintf(slot->call_id, sizeof(slot->call_id), "%s", in->call_id);
	err = pipeline_open(&slot->p, &slot->cfg, &ops, slot);
	if (err) {
		slot->p = NULL;
		proto_init(&m, PROTO_DECLINE);
		m.job = in->job;
		snprintf(m.reason, sizeof(m.reason), "cannot start: %s",
		         strerror(err));
		send_now(w, &m);
		log_event(LOGL_ERROR, in->call_id, "agent_job_failed",
		          "job=%u error=\"%s\"", in->job, strerror(err));
		return;
	}
	proto_init(&m, PROTO_ACCEPT);
	m.job = in->job;
	send_now(w, &m);
	log_event(LOGL_INFO, in->call_id, "agent_job", "job=%u room=%s from=%s",
	          in->job, in->room, in->from);
}

static void decline(struct worker *w, uint32_t job, const char *reason)
{
	struct proto_msg m;

	proto_init(&m, PROTO_DECLINE);
	m.job = job;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	send_now(w, &m);
}

static void offer_retry(void *arg)
{
	struct wjob *slot = arg;
	struct proto_msg *in = slot->offer;

	if (decoder_free(slot)) {
		slot->offer = NULL;
		job_start(slot, in);
		free(in);
	} else if (tmr_jiffies() >= slot->offer_until) {
		slot->offer = NULL;
		decline(slot->w, in->job, "at capacity");
		free(in);
	} else {
		tmr_start(&slot->offer_tmr, OFFER_POLL_MS, offer_retry, slot);
	}
}

static void job_take(struct worker *w, const struct proto_msg *in)
{
	struct wjob *slot = NULL, *ending = NULL;

	for (uint32_t i = 0; i < w->capacity && !slot; i++) {
		struct wjob *j = &w->jobs[i];

		if (j->p || j->offer)
			continue;
		if (decoder_free(j))
			slot = j;
		else if (!ending)
			ending = j;
	}
	if (slot) {
		slot->w = w;
		job_start(slot, in);
		return;
	}
	/* A slot's decoder may still finish a job of its last call. */
	if (ending) {
		ending->offer = malloc(sizeof(*ending->offer));
		if (ending->offer) {
			*ending->offer = *in;
			ending->w = w;
			ending->offer_until = tmr_jiffies() + OFFER_WAIT_MS;
			tmr_start(&ending->offer_tmr, OFFER_POLL_MS,
			          offer_retry, ending);
			return;
		}
	}
	decline(w, in->job, "at capacity");
}

static void job_end(struct wjob *j, const char *reason)
{
	log_event(LOGL_INFO, j->call_id, "agent_job_end",
	          "job=%u reason=\"%s\"", j->id, reason);
	pipeline_close(j->p);
	j->p = NULL;
}

static void server_text(struct worker *w, const char *text, size_t len)
{
	struct proto_msg m;
	struct wjob *j;

	if (proto_decode(text, len, true, &m)) {
		log_event(LOGL_WARN, NULL, "agent_bad_message", "len=%zu", len);
		return;
	}
	if (m.type == PROTO_REGISTERED) {
		log_event(LOGL_INFO, NULL, "agent_registered",
		          "worker=%u capacity=%u", m.worker, w->capacity);
		return;
	}
	if (m.type == PROTO_JOB) {
		job_take(w, &m);
		return;
	}
	j = job_find(w, m.job);
	if (!j)
		return;
	switch (m.type) {
	case PROTO_VAD:
		pipeline_vad(j->p, m.vad, m.frame);
		break;
	case PROTO_SPEAKING:
		pipeline_speaking(j->p, m.utterance, m.latency_ms);
		break;
	case PROTO_MARK_PLAYED:
		pipeline_mark_played(j->p, m.utterance, m.mark);
		break;
	case PROTO_PLAYED:
		pipeline_played(j->p, m.utterance, m.heard_ms);
		break;
	case PROTO_INTERRUPTED:
		pipeline_interrupted(j->p, m.utterance, m.heard_ms);
		break;
	case PROTO_DTMF:
		pipeline_dtmf(j->p, m.digits);
		break;
	case PROTO_END:
		job_end(j, m.reason);
		break;
	case PROTO_TRANSFER_RESULT:
		pipeline_transfer_result(j->p, m.request, m.ok, m.reason);
		break;
	default:
		break;
	}
}

static void server_audio(struct worker *w, const uint8_t *buf, size_t len)
{
	int16_t pcm[PROTO_AUDIO_MAX];
	uint8_t kind;
	uint32_t id, frame;
	size_t n;
	struct wjob *j;

	if (proto_audio_decode(buf, len, &kind, &id, &frame, pcm,
	                       PROTO_AUDIO_MAX, &n) ||
	    kind != PROTO_AUDIO_CALLER || n != PIPELINE_FRAME)
		return;
	j = job_find(w, id);
	if (j)
		pipeline_audio(j->p, frame, pcm);
}

static void ws_recv(const struct websock_hdr *hdr, struct mbuf *mb, void *arg)
{
	struct worker *w = arg;

	if (hdr->opcode == WEBSOCK_TEXT)
		server_text(w, (const char *)mbuf_buf(mb), mbuf_get_left(mb));
	else if (hdr->opcode == WEBSOCK_BIN)
		server_audio(w, mbuf_buf(mb), mbuf_get_left(mb));
}

static void ws_estab(void *arg)
{
	struct worker *w = arg;
	struct proto_msg m;
	char host[40];

	tmr_cancel(&w->connect_tmr);
	if (wsguard_attach(w->wc, &(struct wsguard_prm){.label = "server"})) {
		log_event(LOGL_ERROR, NULL, "agent_disconnected",
		          "error=\"out of memory\"");
		w->rc = 1;
		re_cancel();
		return;
	}
	w->connected = true;
	if (gethostname(host, sizeof(host)))
		snprintf(host, sizeof(host), "worker");
	host[sizeof(host) - 1] = '\0';
	proto_init(&m, PROTO_REGISTER);
	m.capacity = w->capacity;
	m.version = PROTO_VERSION;
	snprintf(m.name, sizeof(m.name), "%s/%d", host, (int)getpid());
	snprintf(m.stt, sizeof(m.stt), "%s", w->pcfg.stt_name);
	snprintf(m.brain, sizeof(m.brain), "%s", w->pcfg.brain_name);
	snprintf(m.tts, sizeof(m.tts), "%s", w->pcfg.tts_name);
	send_now(w, &m);
	log_event(LOGL_INFO, NULL, "agent_connected", "server=%s name=%s",
	          w->cfg->agent_server, m.name);
}

static void ws_close(int err, void *arg)
{
	struct worker *w = arg;

	log_event(w->stopping ? LOGL_INFO : LOGL_WARN, NULL,
	          "agent_disconnected", "error=\"%s\"",
	          err ? strerror(err) : "closed by the server");
	/* The socket is freed after the loop, not under its own handler. */
	w->closed = true;
	if (!w->stopping)
		w->rc = 1;
	re_cancel();
}

static void connect_timeout(void *arg)
{
	struct worker *w = arg;

	log_event(LOGL_ERROR, NULL, "agent_connect_timeout", "server=%s",
	          w->cfg->agent_server);
	w->rc = 1;
	re_cancel();
}

static void on_signal(int sig)
{
	(void)sig;
	re_cancel();
}

/* ---- set-up ------------------------------------------------------------ */

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
		    .timeout_ms = cfg->tts_timeout_ms,
		};
	}
	return 0;
}

static int load_models(struct worker *w)
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

	err = engine_pool_alloc(&w->pool, cfg->agent_engine_threads);
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

static int connect_server(struct worker *w)
{
	struct sa dns;
	int err;

	/* The server's URL holds an address; libre's client wants a
	 * resolver all the same. */
	err = sa_set_str(&dns, "127.0.0.1", 53);
	if (!err)
		err = dnsc_alloc(&w->dnsc, NULL, &dns, 1);
	if (!err)
		err = http_client_alloc(&w->cli, w->dnsc);
	if (!err)
		err = websock_alloc(&w->ws, NULL, NULL);
	if (!err)
		err = websock_connect(
		    &w->wc, w->ws, w->cli, w->cfg->agent_server,
		    WS_KEEPALIVE_MS, ws_estab, ws_recv, ws_close, w,
		    "Authorization: Bearer %s\r\n", w->cfg->agent_token);
	if (!err)
		tmr_start(&w->connect_tmr, CONNECT_TIMEOUT_MS, connect_timeout,
		          w);
	return err;
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

static uint32_t default_capacity(const struct config *cfg)
{
	if (!strcmp(cfg->brain, "realtime"))
		return NET_CAPACITY;
	if (embedded_stt(cfg->stt_provider))
		return 1;
	return embedded_tts(cfg->tts_provider) ? STT_NET_CAPACITY
	                                       : NET_CAPACITY;
}

int worker_run(const struct config *cfg)
{
	struct worker w = {.cfg = cfg};
	const char *why = NULL;
	uint32_t fds = 0;
	int err;

	if (!cfg->agent_server[0] || !cfg->agent_token[0]) {
		fprintf(stderr, "voxgate: agent: agent_server and agent_token "
		                "are needed (see voxgate agent --help)\n");
		return 2;
	}
	w.capacity =
	    cfg->agent_capacity ? cfg->agent_capacity : default_capacity(cfg);
	w.jobs = calloc(w.capacity, sizeof(*w.jobs));
	if (!w.jobs)
		return 1;
	/* The loop first: the engine pool's wake-ups and the HTTP client's
	 * sockets live on it. */
	err = libre_init();
	if (err) {
		fprintf(stderr, "voxgate: cannot start the event loop: %s\n",
		        strerror(err));
		free(w.jobs);
		return 1;
	}
	err = conngate_fd_setup(cfg->max_open_files, &fds, &why);
	if (err) {
		fprintf(stderr, "voxgate: max_open_files: %s: %s\n", why,
		        strerror(err));
		w.rc = 1;
		goto out;
	}
	/* The loop carries every call's audio and events; the engine pool
	 * made later starts with normal scheduling (core/prio.h). */
	if (prio_call_path(cfg->call_priority, &why))
		log_event(LOGL_WARN, NULL, "scheduling",
		          "call_priority=%u policy=normal reason=\"%s\"",
		          cfg->call_priority, why);
	err = load_models(&w);
	if (!err && httpc_alloc(&w.http)) {
		fprintf(stderr, "voxgate: cannot start the HTTP client\n");
		err = EIO;
	}
	if (err) {
		w.rc = 1;
		goto out;
	}
	for (uint32_t i = 0; i < w.capacity; i++)
		w.jobs[i].cfg.http = w.http;
	w.stt_pv.http = w.http;
	w.tts_pv.http = w.http;
	tmr_init(&w.connect_tmr);
	err = connect_server(&w);
	if (err) {
		fprintf(stderr, "voxgate: agent_server: %s: %s\n",
		        cfg->agent_server, strerror(err));
		w.rc = 2;
	} else {
		err = re_main(on_signal);
		if (err)
			w.rc = 1;
	}
	w.stopping = true;
	tmr_cancel(&w.connect_tmr);
	for (uint32_t i = 0; i < w.capacity; i++) {
		tmr_cancel(&w.jobs[i].offer_tmr);
		free(w.jobs[i].offer);
		w.jobs[i].offer = NULL;
		if (w.jobs[i].p)
			job_end(&w.jobs[i], "worker stopping");
	}
	if (w.wc && !w.closed)
		(void)websock_close(w.wc, WEBSOCK_GOING_AWAY, "stopping");
	w.wc = mem_deref(w.wc);
	mem_deref(w.ws);
	mem_deref(w.cli);
	mem_deref(w.dnsc);
out:
	/* The pool waits for the jobs still running, which hold decoders;
	 * the HTTP client after the calls' requests. */
	mem_deref(w.pool);
	mem_deref(w.http);
	for (uint32_t i = 0; i < w.capacity; i++)
		mem_deref(w.jobs[i].decoder);
	mem_deref(w.script);
	mem_deref(w.tts);
	mem_deref(w.stt);
	mem_deref(w.stt_url);
	mem_deref(w.tts_url);
	mem_deref(w.rt_url);
	free(w.jobs);
	/* the streaming recognisers' goodbyes still under way */
	listener_flush();
	libre_close();
	return w.rc;
}
