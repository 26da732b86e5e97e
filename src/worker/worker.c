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
 * what its engines allow (worker_default_capacity): pocketsphinx costs a sixth
 * of a core and 100 MB a call, so one; calls whose speech is on the
 * network cost the loop little, so many. The loop holds as many descriptors as RLIMIT_NOFILE allows, as
 * the server's does: a call may hold several sockets.
 *
 * Models are loaded before connecting, once per process, and shared by
 * all the calls; each slot has its decoder made ahead, and a slot is free
 * again once its decoder's last job is over (its reference count). That
 * set-up, run once before connecting, is worker_setup.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "worker/worker.h"
#include "worker/worker_int.h"
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
	m.dtmf_keys = t->dtmf_keys;
	m.stt_ms = t->stt_ms;
	m.llm_ms = t->llm_ms;
	m.tts_ms = t->tts_ms;
	m.v2v_ms = t->v2v_ms;
	m.interrupted = t->interrupted;
	snprintf(m.preemptive, sizeof(m.preemptive), "%s",
	         t->preempt == PIPELINE_PREEMPT_USED        ? "used"
	         : t->preempt == PIPELINE_PREEMPT_DISCARDED ? "discarded"
	                                                    : "");
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
	err = pipeline_alloc(&slot->p, &slot->cfg, &ops, slot);
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
	mem_deref(j->p);
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
		if (m.accepted)
			pipeline_transfer_accepted(j->p, m.request);
		else
			pipeline_transfer_result(j->p, m.request, m.ok,
			                         m.reason);
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
	w.capacity = cfg->agent_capacity ? cfg->agent_capacity
	                                 : worker_default_capacity(cfg);
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
	err = worker_load_models(&w);
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
	engine_pool_close(w.pool);
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
