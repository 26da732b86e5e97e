/*
 * The workers connected to the hub over GET /agent: what is sent to them,
 * the agent protocol they speak (docs/agent-protocol.md), their audio into
 * a job's bridge, and what their going away does to their calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "core/clock.h"
#include "agent/hub_int.h"
#include "agent/bridge.h"
#include "core/log.h"

#define HANGUP_POLL_MS 100
#define HANGUP_WAIT_MS 30000
/* Once the goodbye has played, how long the worker may take to report
 * its turn (sent when it hears the reply was played) before the call
 * ends without it. */
#define HANGUP_TURN_MS 500

/* ---- sending to workers ------------------------------------------------ */

void hub_send(struct worker *w, const struct proto_msg *m)
{
	char *s;

	if (!w || !w->wc)
		return;
	s = proto_encode(m, true);
	if (!s)
		return;
	if (websock_send(w->wc, WEBSOCK_TEXT, "%s", s))
		log_event(LOGL_WARN, NULL, "agent_send_failed", "worker=%u",
		          w->id);
	free(s);
}

void hub_send_job(struct job *job, enum proto_type type,
                  void (*fill)(struct proto_msg *m, const void *arg),
                  const void *arg)
{
	struct proto_msg m;

	proto_init(&m, type);
	m.job = job->id;
	if (fill)
		fill(&m, arg);
	hub_send(job->worker, &m);
}

/* ---- workers ----------------------------------------------------------- */

static void hangup_when_quiet(void *arg)
{
	struct job *job = arg;

	if (bridge_talking(job->bridge) &&
	    clock_mono_ms() < job->hangup_deadline) {
		tmr_start(&job->tmr, HANGUP_POLL_MS, hangup_when_quiet, job);
		return;
	}
	/* The worker reports the goodbye's turn once it hears it played:
	 * ended now, the call would drop that report as stale. */
	if (!job->hangup_quiet) {
		job->hangup_quiet = true;
		tmr_start(&job->tmr, HANGUP_TURN_MS, hangup_when_quiet, job);
		return;
	}
	hub_job_hangup(job, job->hangup_reason);
}

static void worker_turn(struct job *job, const struct proto_msg *m)
{
	struct hub *h = job->hub;
	char transcript[2 * sizeof(m->transcript)], reply[2 * sizeof(m->reply)];
	char reason[2 * sizeof(m->reason)], stt[2 * sizeof(m->stt)];
	char brain[2 * sizeof(m->brain)], tts[2 * sizeof(m->tts)];
	const char *preemptive = "none";
	struct hub_labels l;

	hub_labels_of(&l, m->stt, m->brain, m->tts);
	if (m->stt_ms >= 0)
		hub_observe_stage(h, HUB_STAGE_STT, &l, m->stt_ms / 1000.0);
	if (m->llm_ms >= 0)
		hub_observe_stage(h, HUB_STAGE_LLM, &l, m->llm_ms / 1000.0);
	if (m->tts_ms >= 0)
		hub_observe_stage(h, HUB_STAGE_TTS, &l, m->tts_ms / 1000.0);
	/* A turn of keys is logged by their count only, whatever the worker
	 * sent: callers key card numbers, and the reply may read them back. */
	if (m->dtmf_keys) {
		transcript[0] = reply[0] = '\0';
	} else {
		log_quote(transcript, sizeof(transcript), m->transcript);
		log_quote(reply, sizeof(reply), m->reply);
	}
	/* The worker's word, one of two, or none. */
	if (!strcmp(m->preemptive, "used")) {
		preemptive = m->preemptive;
		h->preempt_used++;
	} else if (!strcmp(m->preemptive, "discarded")) {
		preemptive = m->preemptive;
		h->preempt_discarded++;
	}
	log_event(m->reason[0] ? LOGL_WARN : LOGL_INFO, job->call_id, "turn",
	          "job=%u transcript=\"%s\" reply=\"%s\" dtmf_keys=%u "
	          "stt_ms=%d llm_ms=%d "
	          "tts_ms=%d voice_to_voice_ms=%d interrupted=%s "
	          "preemptive=%s error=\"%s\" "
	          "stt=\"%s\" brain=\"%s\" tts=\"%s\"",
	          job->id, transcript, reply, m->dtmf_keys, m->stt_ms,
	          m->llm_ms, m->tts_ms, m->v2v_ms,
	          m->interrupted ? "true" : "false", preemptive,
	          log_quote(reason, sizeof(reason), m->reason),
	          log_quote(stt, sizeof(stt), m->stt),
	          log_quote(brain, sizeof(brain), m->brain),
	          log_quote(tts, sizeof(tts), m->tts));
}

/* Calls that cannot be handed on: those with no SIP dialog (Media
 * Streams calls, whose carrier moves them). */
#define TRANSFER_UNAVAILABLE "transfers are not available on this call"

static void transfer_result(struct job *job, uint32_t request, bool ok,
                            bool accepted, const char *reason)
{
	struct proto_msg r;

	proto_init(&r, PROTO_TRANSFER_RESULT);
	r.job = job->id;
	r.request = request;
	r.ok = ok;
	r.accepted = accepted;
	snprintf(r.reason, sizeof(r.reason), "%s", reason ? reason : "");
	hub_send(job->worker, &r);
}

/* The SIP edge's news of the transfer: accepted (it rings), then the
 * outcome. */
static void transfer_done(void *darg, bool ok, bool final, const char *why)
{
	struct job *job = darg;

	if (!job->xfer_pending)
		return;
	log_event(LOGL_INFO, job->call_id, "agent_transfer_result",
	          "job=%u request=%u ok=%s final=%s reason=\"%s\"", job->id,
	          job->xfer_request, ok ? "true" : "false",
	          final ? "true" : "false", why ? why : "");
	if (final)
		job->xfer_pending = false;
	transfer_result(job, job->xfer_request, ok, !final, why);
}

static void worker_transfer(struct job *job, const struct proto_msg *m)
{
	char to[2 * sizeof(m->to)], why[2 * sizeof(m->reason)];
	const char *refused = NULL;
	int err;

	if (!job->transfer)
		refused = TRANSFER_UNAVAILABLE;
	else if (job->xfer_pending)
		refused = "a transfer is already in progress";
	log_event(LOGL_INFO, job->call_id, "agent_transfer",
	          "job=%u request=%u to=\"%s\" why=\"%s\" ok=%s "
	          "reason=\"%s\"",
	          job->id, m->request, log_quote(to, sizeof(to), m->to),
	          log_quote(why, sizeof(why), m->reason),
	          refused ? "false" : "true", refused ? refused : "");
	if (refused) {
		transfer_result(job, m->request, false, false, refused);
		return;
	}
	job->xfer_request = m->request;
	job->xfer_pending = true;
	err = job->transfer(job->hangup_arg, m->to, m->reason, transfer_done,
	                    job);
	if (err) {
		job->xfer_pending = false;
		log_event(LOGL_WARN, job->call_id, "agent_transfer_result",
		          "job=%u request=%u ok=false final=true "
		          "reason=\"%s\"",
		          job->id, m->request, strerror(err));
		transfer_result(job, m->request, false, false,
		                err == EALREADY ? "a transfer is already in "
		                                  "progress"
		                : err == EINVAL ? "the transfer target is not "
		                                  "a SIP or tel URI"
		                                : "the call cannot be "
		                                  "transferred now");
	}
}

static void fill_registered(struct proto_msg *m, const void *arg)
{
	m->worker = *(const uint32_t *)arg;
}

static void worker_text(struct worker *w, const char *text, size_t len)
{
	struct hub *h = w->hub;
	struct proto_msg m;
	struct job *job;

	if (proto_decode(text, len, false, &m)) {
		log_event(LOGL_WARN, NULL, "agent_bad_message",
		          "worker=%u len=%zu", w->id, len);
		return;
	}
	if (m.type == PROTO_REGISTER) {
		struct proto_msg r;

		w->capacity = m.capacity ? m.capacity : 1;
		snprintf(w->name, sizeof(w->name), "%s", m.name);
		hub_labels_of(&w->labels, m.stt, m.brain, m.tts);
		w->registered = true;
		proto_init(&r, PROTO_REGISTERED);
		fill_registered(&r, &w->id);
		hub_send(w, &r);
		log_event(LOGL_INFO, NULL, "agent_worker_registered",
		          "worker=%u name=%s capacity=%u", w->id, w->name,
		          w->capacity);
		hub_dispatch_queue(h);
		return;
	}
	if (m.type == PROTO_UNKNOWN) {
		log_event(LOGL_DEBUG, NULL, "agent_unknown_message",
		          "worker=%u type=%s", w->id, m.name);
		return;
	}
	job = hub_job_find(h, m.job);
	if (!job || job->worker != w) {
		log_event(LOGL_DEBUG, NULL, "agent_stale_message",
		          "worker=%u job=%u", w->id, m.job);
		return;
	}
	switch (m.type) {
	case PROTO_ACCEPT:
		if (job->state != JOB_OFFERED)
			break;
		tmr_cancel(&job->tmr);
		job->state = JOB_ACTIVE;
		log_event(LOGL_INFO, job->call_id, "agent_dispatched",
		          "job=%u worker=%u name=%s", job->id, w->id, w->name);
		break;
	case PROTO_DECLINE: {
		char reason[2 * sizeof(m.reason)];

		log_event(LOGL_INFO, job->call_id, "agent_declined",
		          "job=%u worker=%u reason=\"%s\"", job->id, w->id,
		          log_quote(reason, sizeof(reason), m.reason));
		tmr_cancel(&job->tmr);
		hub_job_unassign(job);
		hub_dispatch(job);
		break;
	}
	case PROTO_SAY_END:
		(void)bridge_say_end(job->bridge, m.utterance);
		break;
	case PROTO_MARK_AFTER:
		(void)bridge_mark(job->bridge, m.utterance, m.mark);
		break;
	case PROTO_CLEAR:
		bridge_silence(job->bridge);
		break;
	case PROTO_TURN:
		worker_turn(job, &m);
		if (job->state == JOB_ACTIVE && job->hangup_quiet)
			hub_job_hangup(job, job->hangup_reason);
		break;
	case PROTO_TRANSFER:
		if (job->state == JOB_ACTIVE)
			worker_transfer(job, &m);
		break;
	case PROTO_HANGUP:
		if (job->state != JOB_ACTIVE)
			break;
		snprintf(job->hangup_reason, sizeof(job->hangup_reason), "%s",
		         m.reason[0] ? m.reason : "agent hung up");
		job->hangup_deadline = clock_mono_ms() + HANGUP_WAIT_MS;
		tmr_start(&job->tmr, HANGUP_POLL_MS, hangup_when_quiet, job);
		break;
	default:
		break;
	}
}

static void worker_audio(struct worker *w, const uint8_t *buf, size_t len)
{
	static int16_t pcm[PROTO_AUDIO_MAX];
	uint8_t kind;
	uint32_t id, utt;
	size_t n;
	struct job *job;
	int err;

	err = proto_audio_decode(buf, len, &kind, &id, &utt, pcm,
	                         PROTO_AUDIO_MAX, &n);
	if (err || kind != PROTO_AUDIO_AGENT) {
		log_event(LOGL_WARN, NULL, "agent_bad_audio",
		          "worker=%u len=%zu", w->id, len);
		return;
	}
	job = hub_job_find(w->hub, id);
	if (!job || job->worker != w || job->state != JOB_ACTIVE)
		return;
	err = bridge_say(job->bridge, utt, pcm, n);
	if (err == ENOSPC)
		log_event(LOGL_WARN, job->call_id, "agent_audio_overflow",
		          "job=%u utterance=%u samples=%zu", job->id, utt, n);
}

static void worker_recv(const struct websock_hdr *hdr, struct mbuf *mb,
                        void *arg)
{
	struct worker *w = arg;

	if (hdr->opcode == WEBSOCK_TEXT)
		worker_text(w, (const char *)mbuf_buf(mb), mbuf_get_left(mb));
	else if (hdr->opcode == WEBSOCK_BIN)
		worker_audio(w, mbuf_buf(mb), mbuf_get_left(mb));
}

static void worker_destructor(void *arg)
{
	struct worker *w = arg;

	tmr_cancel(&w->reap);
	list_unlink(&w->le);
	mem_deref(w->wc);
}

static void worker_reap(void *arg)
{
	mem_deref(arg);
}

static void worker_close(int err, void *arg)
{
	struct worker *w = arg;
	struct hub *h = w->hub;
	struct le *le = list_head(&w->jobs);

	log_event(LOGL_WARN, NULL, "agent_worker_lost",
	          "worker=%u name=%s calls=%u error=\"%s\"", w->id, w->name,
	          list_count(&w->jobs), err ? strerror(err) : "closed");
	while (le) {
		struct job *job = le->data;

		le = le->next;
		h->lost_total++;
		hub_job_hangup(job, "agent lost");
	}
	/* Not freed under libre's handler that called us: moved out of the
	 * workers the calls see, freed from a 0 ms timer. */
	w->registered = false;
	list_unlink(&w->le);
	list_append(&h->gone, &w->le, w);
	tmr_start(&w->reap, 0, worker_reap, w);
}

int hub_adopt(struct hub *h, struct websock_conn *wc, hub_recv_h **recvhp,
              hub_close_h **closehp, void **argp)
{
	struct worker *w;
	char peer[64];

	if (!h || !wc || !recvhp || !closehp || !argp)
		return EINVAL;
	if (h->closing)
		return ESHUTDOWN;
	w = mem_zalloc(sizeof(*w), worker_destructor);
	if (!w)
		return ENOMEM;
	w->hub = h;
	w->id = ++h->next_worker;
	tmr_init(&w->reap);
	list_init(&w->jobs);
	w->wc = mem_ref(wc);
	list_append(&h->workers, &w->le, w);
	if (re_snprintf(peer, sizeof(peer), "%J", websock_peer(w->wc)) < 0)
		peer[0] = '\0';
	log_event(LOGL_INFO, NULL, "agent_worker_connected",
	          "worker=%u peer=%s", w->id, peer);
	*recvhp = worker_recv;
	*closehp = worker_close;
	*argp = w;
	return 0;
}

unsigned hub_worker_count(const struct hub *h)
{
	unsigned n = 0;

	if (!h)
		return 0;
	for (struct le *le = list_head(&h->workers); le; le = le->next)
		n += ((const struct worker *)le->data)->registered;
	return n;
}
