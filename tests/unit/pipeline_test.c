/*
 * A call's pipeline with the real STT and TTS. The caller's speech is made
 * by espeak-ng, run through the real VAD as the server runs it, and fed as
 * 20 ms frames in real time; the test plays the server: it reports the
 * agent's audio as speaking, marks played, played or interrupted, and
 * records what comes out of ops. The LLM brain talks to a stand-in server
 * on 127.0.0.1 that answers with OpenAI-style SSE from a script and keeps
 * each request's body.
 *
 * Echo latency, from the VAD STOP to the first ops->say, is printed as a
 * "measure" line: the agent's share of voice-to-voice.
 *
 * The pipeline lives on a libre loop, as in the worker: the loop runs on
 * a thread of its own with the engine pool and the HTTP client, and the
 * test's thread, which plays the caller and the server in real time,
 * hands it every input through an mqueue (in order, without waiting),
 * and opens and closes calls there too (waiting for them).
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <semaphore.h>

#include "core/libre.h"
#include <re_main.h>
#include <re_mqueue.h>
#include "net/httpc.h"
#include "worker/brain.h"
#include "worker/engine.h"
#include "worker/pipeline.h"
#include "speech/stt.h"
#include "speech/tts.h"
#include "speech/vad.h"
#include "media/wav.h"

#include "standin.h"
#include "test.h"

#define FRAME   PIPELINE_FRAME
#define MAX_UTT 16
#define MAX_EV  1024
#define APOLOGY "Sorry, I had a problem answering that. Could you say it again?"

static struct stt_model *model;
static struct tts *tts;
static int16_t *booking, *hello; /* the caller's speech */
static size_t booking_n, hello_n;

/* ---- what comes out of the pipeline ----------------------------------- */

struct utt_rec {
	int16_t *pcm;
	size_t n, cap;
	int says;
	size_t first_n;
	uint64_t t_first, t_last;
	bool ended;
};

/* ops calls in order: 's'ay, 'm'ark, 'e'nd, 'c'lear, 'h'angup; at = the
 * utterance's samples said by then. */
struct ev_rec {
	char kind;
	uint32_t utt, mark;
	size_t at;
};

struct turn_rec {
	uint32_t utt;
	char transcript[256], reply[512], error[256];
	int32_t stt_ms, llm_ms, tts_ms, v2v_ms;
	uint32_t dtmf_keys;
	bool interrupted, resumed, redecoded;
	enum pipeline_preempt preempt;
};

struct call {
	pthread_mutex_t m;
	struct utt_rec u[MAX_UTT];
	struct ev_rec ev[MAX_EV];
	size_t nev;
	int clears, bad;
	struct turn_rec t[16];
	size_t nt;
	char hangup[64];
	char xfer_to[128], xfer_why[128]; /* the last transfer asked for */
	int xfers;
	/* the caller's line */
	struct pipeline *p;
	struct vad *vad;
	uint32_t frame;
	uint64_t t_stop; /* when the last STOP was handed over */
	uint32_t noise;
	struct pipeline_config cfg; /* the test's, filled for the loop */
};

static void ev_add(struct call *c, char kind, uint32_t utt, uint32_t mark)
{
	if (c->nev < MAX_EV)
		c->ev[c->nev++] = (struct ev_rec){
		    kind, utt, mark, utt < MAX_UTT ? c->u[utt].n : 0};
}

static void op_say(void *arg, uint32_t utt, const int16_t *pcm, size_t n)
{
	struct call *c = arg;
	struct utt_rec *u;

	pthread_mutex_lock(&c->m);
	if (utt >= MAX_UTT || !n || c->u[utt].ended) {
		c->bad++;
		pthread_mutex_unlock(&c->m);
		return;
	}
	u = &c->u[utt];
	if (u->n + n > u->cap) {
		size_t cap = u->cap ? u->cap : 8000;
		int16_t *q;

		while (cap < u->n + n)
			cap *= 2;
		q = realloc(u->pcm, cap * sizeof(*q));
		if (!q) {
			c->bad++;
			pthread_mutex_unlock(&c->m);
			return;
		}
		u->pcm = q;
		u->cap = cap;
	}
	memcpy(u->pcm + u->n, pcm, n * sizeof(*pcm));
	u->n += n;
	if (!u->says++) {
		u->t_first = now_ms();
		u->first_n = n;
	}
	u->t_last = now_ms();
	ev_add(c, 's', utt, 0);
	pthread_mutex_unlock(&c->m);
}

static void op_say_end(void *arg, uint32_t utt)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->m);
	if (utt < MAX_UTT && !c->u[utt].ended)
		c->u[utt].ended = true;
	else
		c->bad++;
	ev_add(c, 'e', utt, 0);
	pthread_mutex_unlock(&c->m);
}

static void op_mark(void *arg, uint32_t utt, uint32_t mark)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->m);
	ev_add(c, 'm', utt, mark);
	pthread_mutex_unlock(&c->m);
}

static void op_clear(void *arg)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->m);
	c->clears++;
	ev_add(c, 'c', 0, 0);
	pthread_mutex_unlock(&c->m);
}

static void op_turn(void *arg, const struct pipeline_turn *t)
{
	struct call *c = arg;
	struct turn_rec *r;

	pthread_mutex_lock(&c->m);
	if (c->nt == sizeof(c->t) / sizeof(c->t[0])) {
		c->bad++;
		pthread_mutex_unlock(&c->m);
		return;
	}
	r = &c->t[c->nt++];
	r->utt = t->utterance;
	snprintf(r->transcript, sizeof(r->transcript), "%s", t->transcript);
	snprintf(r->reply, sizeof(r->reply), "%s", t->reply);
	snprintf(r->error, sizeof(r->error), "%s", t->error ? t->error : "");
	r->stt_ms = t->stt_ms;
	r->llm_ms = t->llm_ms;
	r->tts_ms = t->tts_ms;
	r->v2v_ms = t->v2v_ms;
	r->interrupted = t->interrupted;
	r->dtmf_keys = t->dtmf_keys;
	r->resumed = t->resumed;
	r->redecoded = t->redecoded;
	r->preempt = t->preempt;
	pthread_mutex_unlock(&c->m);
}

static void op_hangup(void *arg, const char *reason)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->m);
	snprintf(c->hangup, sizeof(c->hangup), "%s", reason);
	ev_add(c, 'h', 0, 0);
	pthread_mutex_unlock(&c->m);
}

/* The server's side of a transfer: refused at once, as for a call that
 * cannot be transferred. */
static void op_transfer(void *arg, uint32_t request, const char *to,
                        const char *why)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->m);
	snprintf(c->xfer_to, sizeof(c->xfer_to), "%s", to);
	snprintf(c->xfer_why, sizeof(c->xfer_why), "%s", why);
	c->xfers++;
	ev_add(c, 't', 0, 0);
	pthread_mutex_unlock(&c->m);
	/* A stranger's answer first: dropped. */
	pipeline_transfer_result(c->p, request + 7, true, "");
	pipeline_transfer_result(c->p, request, false, "no REFER here");
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

/* Polls expr (evaluated with the call's lock held) until true or ms. */
#define WAIT_FOR(ok, c, expr, ms)                                              \
	do {                                                                   \
		uint64_t dl_ = now_ms() + (ms);                                \
		for (;;) {                                                     \
			pthread_mutex_lock(&(c)->m);                           \
			ok = (expr);                                           \
			pthread_mutex_unlock(&(c)->m);                         \
			if (ok || now_ms() > dl_)                              \
				break;                                         \
			sleep_ms(2);                                           \
		}                                                              \
	} while (0)

/* ---- the loop --------------------------------------------------------- */

static pthread_t loop_th;
static struct mqueue *loop_mq;
static struct engine_pool *pool;
static struct httpc *http;
static struct stt *decoders[2];
static sem_t loop_ready;

enum msg_kind {
	MSG_OPEN,
	MSG_CLOSE,
	MSG_AUDIO,
	MSG_VAD,
	MSG_SPEAKING,
	MSG_MARK,
	MSG_PLAYED,
	MSG_INTERRUPTED,
	MSG_DTMF,
	MSG_STOP,
};

struct msg {
	enum msg_kind kind;
	struct pipeline *p;
	struct pipeline **pp; /* MSG_OPEN */
	const struct pipeline_config *cfg;
	void *arg;
	uint32_t a, b;
	int32_t i;
	int16_t pcm[FRAME];
	char digits[32];
	int *ret;
	sem_t *done; /* posted once handled, when set */
};

static const struct pipeline_ops ops;

static void on_msg(int id, void *data, void *arg)
{
	struct msg *m = data;

	(void)id;
	(void)arg;
	switch (m->kind) {
	case MSG_OPEN:
		*m->ret = pipeline_alloc(m->pp, m->cfg, &ops, m->arg);
		break;
	case MSG_CLOSE:
		mem_deref(m->p);
		break;
	case MSG_AUDIO:
		pipeline_audio(m->p, m->a, m->pcm);
		break;
	case MSG_VAD:
		pipeline_vad(m->p, (enum vad_event)m->a, m->b);
		break;
	case MSG_SPEAKING:
		pipeline_speaking(m->p, m->a, m->i);
		break;
	case MSG_MARK:
		pipeline_mark_played(m->p, m->a, m->b);
		break;
	case MSG_PLAYED:
		pipeline_played(m->p, m->a, m->b);
		break;
	case MSG_INTERRUPTED:
		pipeline_interrupted(m->p, m->a, m->b);
		break;
	case MSG_DTMF:
		pipeline_dtmf(m->p, m->digits);
		break;
	case MSG_STOP:
		re_cancel();
		break;
	}
	if (m->done)
		sem_post(m->done);
	free(m);
}

static void *loop_main(void *arg)
{
	(void)arg;
	if (re_thread_init() || mqueue_alloc(&loop_mq, on_msg, NULL) ||
	    engine_pool_open(&pool, 2) || httpc_alloc(&http)) {
		sem_post(&loop_ready);
		return NULL;
	}
	sem_post(&loop_ready);
	re_main(NULL);
	mem_deref(http);
	engine_pool_close(pool);
	mem_deref(loop_mq);
	re_thread_close();
	return NULL;
}

/* Hands m to the loop; with wait, returns once it is handled. */
static void post(struct msg *m, bool wait)
{
	sem_t done;

	if (wait) {
		sem_init(&done, 0, 0);
		m->done = &done;
	}
	if (mqueue_push(loop_mq, 0, m)) {
		free(m);
		return;
	}
	if (wait) {
		sem_wait(&done);
		sem_destroy(&done);
	}
}

static struct msg *msg_new(enum msg_kind kind, struct pipeline *p)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (m) {
		m->kind = kind;
		m->p = p;
	}
	return m;
}

static int t_open(struct pipeline **pp, const struct pipeline_config *cfg,
                  void *arg)
{
	struct msg *m = msg_new(MSG_OPEN, NULL);
	int ret = ENOMEM;

	if (!m)
		return ENOMEM;
	m->pp = pp;
	m->cfg = cfg;
	m->arg = arg;
	m->ret = &ret;
	post(m, true);
	return ret;
}

static void t_close(struct pipeline *p)
{
	struct msg *m = msg_new(MSG_CLOSE, p);

	if (m)
		post(m, true);
}

static void t_input(enum msg_kind kind, struct pipeline *p, uint32_t a,
                    uint32_t b, int32_t i)
{
	struct msg *m = msg_new(kind, p);

	if (!m)
		return;
	m->a = a;
	m->b = b;
	m->i = i;
	post(m, false);
}

static void t_audio(struct pipeline *p, uint32_t frame, const int16_t *pcm)
{
	struct msg *m = msg_new(MSG_AUDIO, p);

	if (!m)
		return;
	m->a = frame;
	memcpy(m->pcm, pcm, sizeof(m->pcm));
	post(m, false);
}

static void t_dtmf(struct pipeline *p, const char *digits)
{
	struct msg *m = msg_new(MSG_DTMF, p);

	if (!m)
		return;
	snprintf(m->digits, sizeof(m->digits), "%s", digits);
	post(m, false);
}

/* From here on the test's thread reaches the pipeline only through the
 * loop. */
#define pipeline_audio(p, f, pcm)     t_audio(p, f, pcm)
#define pipeline_vad(p, ev, f)        t_input(MSG_VAD, p, (uint32_t)(ev), f, 0)
#define pipeline_speaking(p, u, l)    t_input(MSG_SPEAKING, p, u, 0, l)
#define pipeline_mark_played(p, u, k) t_input(MSG_MARK, p, u, k, 0)
#define pipeline_played(p, u, h)      t_input(MSG_PLAYED, p, u, h, 0)
#define pipeline_interrupted(p, u, h) t_input(MSG_INTERRUPTED, p, u, h, 0)
#define pipeline_dtmf(p, d)           t_dtmf(p, d)

/* What every call's settings need besides the test's: a free decoder (a
 * call's last jobs may still hold the one before), the pool and the HTTP
 * client. */
static void cfg_fill(struct pipeline_config *cfg)
{
	uint64_t end = now_ms() + 2000;

	cfg->pool = pool;
	cfg->http = http;
	cfg->decoder = NULL;
	while (!cfg->decoder && now_ms() < end) {
		for (size_t i = 0; i < 2 && !cfg->decoder; i++)
			if (mem_nrefs(decoders[i]) == 1)
				cfg->decoder = decoders[i];
		if (!cfg->decoder)
			sleep_ms(5);
	}
}

/* Tests keep their call in a static: one that fails returns with the
 * pipeline still open on it. The caller's VAD ends a turn after
 * stop_secs of silence (0 = its default). */
static int call_start_vad(struct call *c, const struct pipeline_config *cfg,
                          double stop_secs)
{
	struct vad_params vp;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->m, NULL);
	c->noise = 12345;
	c->cfg = *cfg;
	cfg_fill(&c->cfg);
	vad_params_default(&vp);
	if (stop_secs > 0)
		vp.stop_secs = stop_secs;
	if (vad_alloc(&c->vad, &vp, 8000))
		return -1;
	return t_open(&c->p, &c->cfg, c);
}

static int call_start(struct call *c, const struct pipeline_config *cfg)
{
	return call_start_vad(c, cfg, 0);
}

static void call_end(struct call *c)
{
	t_close(c->p);
	mem_deref(c->vad);
	for (int i = 0; i < MAX_UTT; i++)
		free(c->u[i].pcm);
	pthread_mutex_destroy(&c->m);
}

/* ---- the caller's side ------------------------------------------------ */

/* Line noise at about -66 dBFS: digital silence is not what a phone line
 * carries. */
static int16_t noise(struct call *c)
{
	c->noise = c->noise * 1103515245u + 12345u;
	return (int16_t)((int)((c->noise >> 16) % 33) - 16);
}

/* Feeds 300 ms of line noise, pcm and up to 1 s more noise as 20 ms frames
 * in real time, through the VAD, as the server does: an event found in a
 * frame goes out before that frame. Stops after the frame where STOP came;
 * false if no STOP came. */
static bool speak(struct call *c, const int16_t *pcm, size_t n)
{
	size_t lead = 15 * FRAME, total = lead + n + 50 * FRAME;
	uint64_t next = now_ms();
	bool started = false;

	for (size_t at = 0; at + FRAME <= total; at += FRAME) {
		int16_t f[FRAME];
		struct vad_frame vf;

		for (size_t i = 0; i < FRAME; i++) {
			size_t k = at + i;

			f[i] = k >= lead && k - lead < n ? pcm[k - lead]
			                                 : noise(c);
		}
		while (now_ms() < next)
			sleep_ms(1);
		next += 20;
		vad_process(c->vad, f, FRAME, &vf);
		if (vf.event != VAD_EVENT_NONE) {
			if (vf.event == VAD_EVENT_STOP)
				c->t_stop = now_ms();
			pipeline_vad(c->p, vf.event, c->frame);
		}
		started |= vf.event == VAD_EVENT_START;
		pipeline_audio(c->p, c->frame++, f);
		if (vf.event == VAD_EVENT_STOP)
			return started;
	}
	return false;
}

/* A voice that is not speech: START (unless the test sent it), frames of
 * line noise, STOP, as the server's VAD reports a cough it took for a
 * voice. */
static void cough(struct call *c, bool start)
{
	int16_t f[FRAME];

	if (start)
		pipeline_vad(c->p, VAD_EVENT_START, c->frame);
	for (int k = 0; k < 25; k++) {
		for (size_t i = 0; i < FRAME; i++)
			f[i] = noise(c);
		if (k == 15) {
			c->t_stop = now_ms();
			pipeline_vad(c->p, VAD_EVENT_STOP, c->frame);
		}
		pipeline_audio(c->p, c->frame++, f);
		sleep_ms(20);
	}
}

/* The STT's reading of the agent's audio, between 300 ms of line noise as
 * the caller's line would carry it. */
static int transcribe(struct call *c, const int16_t *pcm, size_t n, char *text,
                      size_t size)
{
	int16_t quiet[FRAME];
	struct stt *s;
	int err = stt_alloc(&s, model);

	if (err)
		return err;
	err = stt_begin(s);
	for (int k = 0; !err && k < 15; k++) {
		for (size_t i = 0; i < FRAME; i++)
			quiet[i] = noise(c);
		err = stt_feed(s, quiet, FRAME, NULL, 0, NULL);
	}
	for (size_t at = 0; !err && at < n; at += FRAME)
		err = stt_feed(s, pcm + at, n - at < FRAME ? n - at : FRAME,
		               NULL, 0, NULL);
	for (int k = 0; !err && k < 15; k++) {
		for (size_t i = 0; i < FRAME; i++)
			quiet[i] = noise(c);
		err = stt_feed(s, quiet, FRAME, NULL, 0, NULL);
	}
	if (!err)
		err = stt_end(s, text, size);
	mem_deref(s);
	return err;
}

struct pcm_buf {
	int16_t *pcm;
	size_t n;
};

static bool on_chunk(const int16_t *pcm, size_t n, void *arg)
{
	struct pcm_buf *b = arg;
	int16_t *q = realloc(b->pcm, (b->n + n) * sizeof(*q));

	if (!q)
		return false;
	memcpy(q + b->n, pcm, n * sizeof(*q));
	b->pcm = q;
	b->n += n;
	return true;
}

/* What the TTS makes of text, in one malloc'd buffer. */
static int synth(const char *text, int16_t **pcmp, size_t *np)
{
	struct pcm_buf b = {NULL, 0};
	int err = tts_synth(tts, text, on_chunk, &b);

	if (err) {
		free(b.pcm);
		return err;
	}
	*pcmp = b.pcm;
	*np = b.n;
	return 0;
}

/* ---- the server's side ------------------------------------------------ */

static size_t marks_of(struct call *c, uint32_t utt)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nev; i++)
		n += c->ev[i].kind == 'm' && c->ev[i].utt == utt;
	return n;
}

/* Where mark k of utt came, in samples; 0 if it has not. */
static size_t mark_at(struct call *c, uint32_t utt, uint32_t k)
{
	for (size_t i = 0; i < c->nev; i++)
		if (c->ev[i].kind == 'm' && c->ev[i].utt == utt &&
		    c->ev[i].mark == k)
			return c->ev[i].at;
	return 0;
}

/* Plays utt to its end as the server would report it: speaking, every
 * mark, played. False if it never ended. */
static bool play_all(struct call *c, uint32_t utt, int32_t latency)
{
	bool ok;
	size_t marks, n;

	WAIT_FOR(ok, c, c->u[utt].says > 0, 15000);
	if (!ok)
		return false;
	pipeline_speaking(c->p, utt, latency);
	WAIT_FOR(ok, c, c->u[utt].ended, 15000);
	if (!ok)
		return false;
	pthread_mutex_lock(&c->m);
	marks = marks_of(c, utt);
	n = c->u[utt].n;
	pthread_mutex_unlock(&c->m);
	for (uint32_t k = 0; k < marks; k++)
		pipeline_mark_played(c->p, utt, k);
	pipeline_played(c->p, utt, (uint32_t)(n / 8));
	return true;
}

/* ---- a stand-in LLM server -------------------------------------------- */

/* The answer to one request. */
struct answer {
	const char *head; /* status line and headers */
	const struct standin_step *steps;
	size_t nsteps;
};

#define MAX_REQ 8

struct srv {
	int lfd;
	char base[64];
	pthread_t th;
	atomic_bool stop;
	const struct answer *answers;
	size_t nanswers;
	atomic_uint got; /* requests read so far */
	/* recorded; read after srv_stop */
	size_t nreq;
	char *body[MAX_REQ];
	uint64_t t_req[MAX_REQ];  /* when the request was read */
	uint64_t t_last[MAX_REQ]; /* when the last step went out */
	bool gone[MAX_REQ];       /* the client hung up mid-answer */
	uint64_t t_gone[MAX_REQ];
};

static void srv_answer(struct srv *sv, int fd, size_t i)
{
	const struct answer *a = &sv->answers[i < sv->nanswers ? i : 0];

	if (!standin_send_head(fd, a->head, false))
		return;
	if (!standin_play(fd, a->steps, a->nsteps, false, &sv->stop,
	                  &sv->t_last[i])) {
		sv->gone[i] = !atomic_load(&sv->stop);
		sv->t_gone[i] = now_ms();
	}
}

static void *srv_run(void *arg)
{
	struct srv *sv = arg;
	int fd;

	while ((fd = standin_accept(sv->lfd, &sv->stop)) >= 0) {
		if (sv->nreq < MAX_REQ) {
			size_t i = sv->nreq;
			char *head;

			/* One that cannot be read still counts, with
			 * no body and no answer. */
			standin_read_request(fd, &head, &sv->body[i]);
			sv->t_req[i] = now_ms();
			free(head);
			sv->nreq++;
			atomic_fetch_add(&sv->got, 1);
			if (sv->body[i])
				srv_answer(sv, fd, i);
		}
		close(fd);
	}
	return NULL;
}

static int srv_start(struct srv *sv, const struct answer *answers, size_t n)
{
	int port;

	memset(sv, 0, sizeof(*sv));
	sv->answers = answers;
	sv->nanswers = n;
	sv->lfd = standin_listen(&port);
	if (sv->lfd < 0)
		return -1;
	snprintf(sv->base, sizeof(sv->base), "http://127.0.0.1:%d/v1", port);
	return pthread_create(&sv->th, NULL, srv_run, sv);
}

static void srv_stop(struct srv *sv)
{
	atomic_store(&sv->stop, true);
	pthread_join(sv->th, NULL);
	close(sv->lfd);
}

static void srv_free(struct srv *sv)
{
	for (size_t i = 0; i < sv->nreq; i++)
		free(sv->body[i]);
}

/* The messages of request i as "role: content" lines. */
static int request_messages(struct srv *sv, size_t i, char *out, size_t size)
{
	json_t *root = json_loads(sv->body[i] ? sv->body[i] : "", 0, NULL);
	json_t *msgs = json_object_get(root, "messages"), *m;
	size_t k, len = 0;

	out[0] = '\0';
	if (!json_is_array(msgs)) {
		json_decref(root);
		return -1;
	}
	json_array_foreach(msgs, k, m)
	{
		int n =
		    snprintf(out + len, size - len, "%s: %s\n",
		             json_string_value(json_object_get(m, "role")),
		             json_string_value(json_object_get(m, "content")));

		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	json_decref(root);
	return 0;
}

static void llm_brain(struct brain_config *b, struct srv *sv)
{
	memset(b, 0, sizeof(*b));
	b->kind = BRAIN_LLM;
	llm_params_default(&b->llm);
	b->llm.base_url = sv->base;
	b->llm.model = "m";
	b->llm.first_token_timeout_ms = 600;
	b->system_prompt = "You are a phone agent. Be brief.";
}

/* ---- echo ------------------------------------------------------------- */

static const struct brain_config echo = {.kind = BRAIN_ECHO};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The greeting, said at the start of the call: it is utterance 1; its
 * audio streams from the first TTS chunk, paced to at most 1 s ahead of
 * real time, with a mark where each clause ends. */
TEST(greeting_streams_paced_with_marks)
{
	struct pipeline_config cfg = {

	    .tts = tts,
	    .brain = &echo,
	    .greeting = "Hello, thank you for calling the booking line. How "
	                "can I help you today?"};
	static struct call c;
	size_t at0, at1, max_ahead = 0;
	char heard[512];
	bool ok;

	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(play_all(&c, 1, -1));
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.u[0].says, 0);
	/* Two clauses, a mark after each where its audio ends, then
	 * say_end. */
	CHECK_EQ(marks_of(&c, 1), 2);
	at0 = mark_at(&c, 1, 0);
	at1 = mark_at(&c, 1, 1);
	CHECK(at0 > 8000 && at0 < at1);
	CHECK_EQ(at1, c.u[1].n);
	CHECK_EQ(c.ev[c.nev - 1].kind, 'e');
	/* Paced: the first say holds at most a second of audio, and the
	 * last audio of 3 s and more goes out at least 2 s after the first.
	 * (That the first audio goes out before the reply is all made shows
	 * with the LLM brain, whose text comes slowly.) */
	CHECK(c.u[1].n > 24000);
	CHECK(c.u[1].first_n <= 8000);
	CHECK(c.u[1].t_last - c.u[1].t_first >= c.u[1].n / 8 - 1000 - 50);
	pthread_mutex_unlock(&c.m);
	CHECK_EQ(transcribe(&c, c.u[1].pcm, c.u[1].n, heard, sizeof(heard)), 0);
	printf("# greeting heard back: \"%s\"\n", heard);
	CHECK(strstr(heard, "thank you for calling") != NULL);

	/* No more than a second ahead at any time: sampled while a second
	 * greeting-length reply plays, from a DTMF turn. */
	pipeline_dtmf(c.p, "1234567890");
	WAIT_FOR(ok, &c, c.u[2].says > 0, 5000);
	CHECK(ok);
	for (;;) {
		uint64_t t;
		size_t n, ahead;

		pthread_mutex_lock(&c.m);
		t = now_ms() - c.u[2].t_first;
		n = c.u[2].n;
		ok = c.u[2].ended;
		pthread_mutex_unlock(&c.m);
		ahead = n > t * 8 ? n / 8 - t : 0;
		if (ahead > max_ahead)
			max_ahead = ahead;
		if (ok)
			break;
		sleep_ms(10);
	}
	printf("# most ahead of real time: %zu ms\n", max_ahead);
	CHECK(max_ahead >= 900 && max_ahead <= 1050);
	CHECK_EQ(c.bad, 0);
	CHECK_EQ(c.clears, 0);
	call_end(&c);
	return 0;
}

/* Two callers at once, each through its own VAD, frame by frame in real
 * time: speak() for both. False unless both got a STOP. */
static bool speak_two(struct call *a, const int16_t *pa, size_t na,
                      struct call *b, const int16_t *pb, size_t nb)
{
	struct call *cs[2] = {a, b};
	const int16_t *pcm[2] = {pa, pb};
	size_t n[2] = {na, nb}, lead = 15 * FRAME;
	size_t total = lead + (na > nb ? na : nb) + 50 * FRAME;
	bool stopped[2] = {false, false};
	uint64_t next = now_ms();

	for (size_t at = 0; at + FRAME <= total; at += FRAME) {
		while (now_ms() < next)
			sleep_ms(1);
		next += 20;
		for (int k = 0; k < 2; k++) {
			struct call *c = cs[k];
			int16_t f[FRAME];
			struct vad_frame vf;

			if (stopped[k])
				continue;
			for (size_t i = 0; i < FRAME; i++) {
				size_t j = at + i;

				f[i] = j >= lead && j - lead < n[k]
				           ? pcm[k][j - lead]
				           : noise(c);
			}
			vad_process(c->vad, f, FRAME, &vf);
			if (vf.event != VAD_EVENT_NONE)
				pipeline_vad(c->p, vf.event, c->frame);
			pipeline_audio(c->p, c->frame++, f);
			stopped[k] = vf.event == VAD_EVENT_STOP;
		}
		if (stopped[0] && stopped[1])
			return true;
	}
	return false;
}

/* Two calls side by side on the one loop and pool: each hears its own
 * caller and answers it; one ends while the other speaks, which goes on. */
TEST(calls_side_by_side)
{
	struct pipeline_config cfg = {.tts = tts, .brain = &echo};
	static struct call a, b;
	char want[300];
	bool ok;

	CHECK_EQ(call_start(&a, &cfg), 0);
	CHECK_EQ(call_start(&b, &cfg), 0);
	CHECK(a.cfg.decoder != b.cfg.decoder);
	CHECK(speak_two(&a, booking, booking_n, &b, hello, hello_n));
	CHECK(play_all(&a, 1, -1));
	CHECK(play_all(&b, 1, -1));
	WAIT_FOR(ok, &a, a.nt == 1, 5000);
	CHECK(ok);
	WAIT_FOR(ok, &b, b.nt == 1, 5000);
	CHECK(ok);
	printf("# side by side: \"%s\", \"%s\"\n", a.t[0].transcript,
	       b.t[0].transcript);
	CHECK(strstr(a.t[0].transcript, "book") != NULL);
	/* "Hello there." comes out as words of its own (pocketsphinx
	 * hears "oh dear" as often): some words, and b's reply to them. */
	CHECK(b.t[0].transcript[0] != '\0');
	snprintf(want, sizeof(want), "You said: %s.", b.t[0].transcript);
	CHECK_STR(b.t[0].reply, want);

	/* a goes mid-reply; b's reply, begun at the same time, plays to
	 * its end. */
	pipeline_dtmf(a.p, "1234567890");
	pipeline_dtmf(b.p, "1234567890");
	WAIT_FOR(ok, &a, a.u[2].says > 0, 5000);
	CHECK(ok);
	call_end(&a);
	CHECK(play_all(&b, 2, -1));
	WAIT_FOR(ok, &b, b.nt == 2, 5000);
	CHECK(ok);
	/* The keys are counted, never told: the reply reads them back. */
	CHECK_STR(b.t[1].transcript, "");
	CHECK_STR(b.t[1].reply, "");
	CHECK_EQ(b.t[1].dtmf_keys, 10);
	CHECK_EQ(b.bad, 0);
	call_end(&b);
	return 0;
}

TEST(echo_reply)
{
	struct pipeline_config cfg = {.tts = tts, .brain = &echo};
	static struct call c;
	char heard[512], want[300];
	int16_t *ref = NULL;
	size_t ref_n = 0;
	bool ok;

	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, booking, booking_n));
	CHECK(play_all(&c, 1, 321));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);

	pthread_mutex_lock(&c.m);
	printf("# transcript \"%s\"\n", c.t[0].transcript);
	CHECK_EQ(c.t[0].utt, 1);
	CHECK(c.t[0].transcript[0] != '\0');
	snprintf(want, sizeof(want), "You said: %s.", c.t[0].transcript);
	CHECK_STR(c.t[0].reply, want);
	CHECK(!c.t[0].interrupted && !c.t[0].resumed);
	CHECK_STR(c.t[0].error, "");
	CHECK_EQ(c.t[0].v2v_ms, 321);
	CHECK(c.t[0].stt_ms >= 0 && c.t[0].stt_ms <= c.t[0].llm_ms &&
	      c.t[0].llm_ms <= c.t[0].tts_ms && c.t[0].tts_ms < 3000);
	CHECK_EQ(marks_of(&c, 1), 2);
	CHECK_EQ(c.bad, 0);
	pthread_mutex_unlock(&c.m);

	/* "You said:" is the TTS's, sample for sample. The STT cannot be the
	 * judge of it: it hears flite's "you said" as "used and" (espeak-ng's
	 * as "you can"). It is for the rest, the caller's words, which must
	 * come back. */
	CHECK_EQ(synth("You said:", &ref, &ref_n), 0);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(mark_at(&c, 1, 0), ref_n);
	CHECK(memcmp(c.u[1].pcm, ref, ref_n * sizeof(*ref)) == 0);
	pthread_mutex_unlock(&c.m);
	free(ref);
	CHECK_EQ(transcribe(&c, c.u[1].pcm, c.u[1].n, heard, sizeof(heard)), 0);
	printf("# heard back: \"%s\"\n", heard);
	CHECK(strstr(heard, c.t[0].transcript) != NULL);
	call_end(&c);
	return 0;
}

/* The caller barges in once "You said:" has been played: the reply stops
 * at once, and the turn (the history) keeps only "You said:". A cough
 * after it resumes the rest, as a new utterance. */
TEST(barge_in_then_false_interruption_resumes)
{
	struct pipeline_config cfg = {.tts = tts, .brain = &echo};
	static struct call c;
	size_t at0, says;
	uint64_t t_cut;
	char rest[300];
	bool ok;

	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, booking, booking_n));
	WAIT_FOR(ok, &c, c.u[1].says > 0, 10000);
	CHECK(ok);
	pipeline_speaking(c.p, 1, -1);
	/* Past the first clause, into the pause after it. */
	WAIT_FOR(ok, &c,
	         marks_of(&c, 1) >= 1 && c.u[1].n > mark_at(&c, 1, 0) + 800,
	         5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	at0 = mark_at(&c, 1, 0);
	pthread_mutex_unlock(&c.m);

	/* The server: VAD START while talking, a barge-in 50 ms into the
	 * pause after the first clause. */
	pipeline_mark_played(c.p, 1, 0);
	pipeline_vad(c.p, VAD_EVENT_START, c.frame);
	pipeline_interrupted(c.p, 1, (uint32_t)(at0 / 8 + 50));
	t_cut = now_ms();
	sleep_ms(100);
	pthread_mutex_lock(&c.m);
	says = (size_t)c.u[1].says;
	pthread_mutex_unlock(&c.m);
	sleep_ms(1200);
	WAIT_FOR(ok, &c, c.nt == 1, 3000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.u[1].says, says);
	CHECK(c.u[1].t_last <= t_cut + 100);
	CHECK(!c.u[1].ended);
	CHECK(c.t[0].interrupted);
	CHECK_STR(c.t[0].reply, "You said:");
	snprintf(rest, sizeof(rest), "%s.", c.t[0].transcript);
	CHECK_EQ(c.clears, 0);
	pthread_mutex_unlock(&c.m);

	/* The voice was a cough: the transcript is empty, the rest of the
	 * reply comes as utterance 2. */
	cough(&c, false);
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 2, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.t[1].utt, 2);
	CHECK(c.t[1].resumed);
	CHECK_STR(c.t[1].transcript, "");
	CHECK_STR(c.t[1].reply, rest);
	CHECK(!c.t[1].interrupted);
	CHECK_EQ(c.bad, 0);
	pthread_mutex_unlock(&c.m);

	/* Another cough, with nothing left to resume: nothing is said. */
	cough(&c, true);
	sleep_ms(500);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.u[3].says, 0);
	CHECK_EQ(c.nt, 2);
	pthread_mutex_unlock(&c.m);
	call_end(&c);
	return 0;
}

/* The caller can barge into the greeting like into any reply, and the
 * next turn is answered as utterance 2. */
TEST(greeting_barge_in)
{
	struct pipeline_config cfg = {.tts = tts,
	                              .brain = &echo,
	                              .greeting = "Hello, thank you for "
	                                          "calling. How can I help?"};
	static struct call c;
	size_t says;
	bool ok;

	CHECK_EQ(call_start(&c, &cfg), 0);
	WAIT_FOR(ok, &c, c.u[1].says > 0, 5000);
	CHECK(ok);
	pipeline_speaking(c.p, 1, -1);
	sleep_ms(300);
	pipeline_vad(c.p, VAD_EVENT_START, c.frame);
	pipeline_interrupted(c.p, 1, 300);
	sleep_ms(100);
	pthread_mutex_lock(&c.m);
	says = (size_t)c.u[1].says;
	CHECK_EQ(c.u[0].says, 0);
	pthread_mutex_unlock(&c.m);

	CHECK(speak(&c, hello, hello_n));
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.u[1].says, says);
	CHECK_EQ(c.t[0].utt, 2);
	CHECK(strncmp(c.t[0].reply, "You said: ", 10) == 0);
	CHECK_EQ(c.bad, 0);
	pthread_mutex_unlock(&c.m);
	call_end(&c);
	return 0;
}

TEST(echo_latency)
{
	struct pipeline_config cfg = {.tts = tts, .brain = &echo};
	uint64_t lat[5], stt[5];
	static struct call c;
	bool ok;

	CHECK_EQ(call_start(&c, &cfg), 0);
	for (uint32_t i = 0; i < 5; i++) {
		CHECK(speak(&c, i % 2 ? hello : booking,
		            i % 2 ? hello_n : booking_n));
		CHECK(play_all(&c, i + 1, -1));
		WAIT_FOR(ok, &c, c.nt == i + 1, 5000);
		CHECK(ok);
		pthread_mutex_lock(&c.m);
		lat[i] = c.u[i + 1].t_first - c.t_stop;
		stt[i] = (uint64_t)c.t[i].stt_ms;
		pthread_mutex_unlock(&c.m);
	}
	qsort(lat, 5, sizeof(lat[0]), cmp_u64);
	qsort(stt, 5, sizeof(stt[0]), cmp_u64);
	printf("# measure: echo VAD STOP to first say: median %llu ms "
	       "(min %llu, max %llu, 5 turns); STT final median %llu ms "
	       "after the end of speech (STOP - 300 ms)\n",
	       (unsigned long long)lat[2], (unsigned long long)lat[0],
	       (unsigned long long)lat[4], (unsigned long long)stt[2]);
	CHECK(lat[2] < 1000);
	call_end(&c);
	return 0;
}

static size_t words(const char *s)
{
	size_t n = 0;

	for (const char *w = s; *w; w++)
		n += *w != ' ' && (w == s || w[-1] == ' ');
	return n;
}

/* Where the voice in espeak-ng's output starts and ends (it pads both). */
static size_t voice_start(const int16_t *pcm, size_t n)
{
	size_t i = 0;

	while (i < n && abs(pcm[i]) < 500)
		i++;
	return i;
}

static size_t voice_end(const int16_t *pcm, size_t n)
{
	while (n && abs(pcm[n - 1]) < 500)
		n--;
	return n;
}

/* A pause long enough for the final pass to run ahead of STOP, but short
 * of the stop window, and the caller goes on: the turn is one, and has
 * the words after the pause too (the turn was decoded again whole). */
TEST(pause_inside_a_turn)
{
	struct pipeline_config cfg = {.tts = tts, .brain = &echo};
	size_t a = voice_end(booking, booking_n),
	       b = voice_start(hello, hello_n);
	size_t gap = 10 * FRAME, n = a + gap + (hello_n - b), w1;
	int16_t *both = calloc(n, sizeof(*both));
	static struct call c;
	bool ok;

	CHECK(both);
	memcpy(both, booking, a * sizeof(*both));
	memcpy(both + a + gap, hello + b, (hello_n - b) * sizeof(*both));
	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, booking, booking_n));
	CHECK(play_all(&c, 1, -1));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);
	CHECK(speak(&c, both, n));
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 2, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	printf("# alone \"%s\", with more after a pause \"%s\"\n",
	       c.t[0].transcript, c.t[1].transcript);
	w1 = words(c.t[0].transcript);
	CHECK(w1 > 0);
	CHECK(!c.t[0].redecoded);
	CHECK(c.t[1].redecoded);
	CHECK(words(c.t[1].transcript) > w1);
	pthread_mutex_unlock(&c.m);
	call_end(&c);
	free(both);
	return 0;
}

TEST(dtmf_and_script_hangup)
{
	struct brain_config b = {.kind = BRAIN_SCRIPT};
	struct pipeline_config cfg = {.tts = tts, .brain = &b};
	struct brain_script *script;
	char path[] = "/tmp/voxgate-pipeline-XXXXXX";
	static const char text[] = "> dtmf 1\n< One.\n"
	                           "> dtmf 9\n< Goodbye.\n! hangup\n"
	                           "? Press one or nine.\n";
	static struct call c;
	int fd = mkstemp(path);
	bool ok;

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	CHECK_EQ(brain_script_alloc(&script), 0);
	CHECK_EQ(brain_script_load(script, path, NULL), 0);
	unlink(path);
	b.script = script;

	CHECK_EQ(call_start(&c, &cfg), 0);
	pipeline_dtmf(c.p, "1");
	CHECK(play_all(&c, 1, -1));
	pipeline_dtmf(c.p, "9");
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 2 && c.hangup[0], 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	/* The script heard the keys (9 ends it); the turns tell how many. */
	CHECK_STR(c.t[0].transcript, "");
	CHECK_EQ(c.t[0].dtmf_keys, 1);
	CHECK_EQ(c.t[1].dtmf_keys, 1);
	CHECK_STR(c.hangup, "dialog ended");
	/* The hangup follows the reply's last audio. */
	CHECK_EQ(c.ev[c.nev - 1].kind, 'h');
	CHECK_EQ(c.ev[c.nev - 2].kind, 'e');
	pthread_mutex_unlock(&c.m);
	call_end(&c);
	mem_deref(script);
	return 0;
}

/* ---- the LLM brain ---------------------------------------------------- */

#define LONG_REPLY                                                             \
	"Sure, I can help with that. The weather today is sunny and warm, "    \
	"with a light breeze from the west. Anything else?"

/* The server: once the second clause of utt has been sent (its mark
 * came), the caller barges in 800 ms into the third, "with a light breeze
 * from the west.", which takes about two seconds after a pause of 200. */
static bool barge_into_third(struct call *c, uint32_t utt)
{
	size_t at1;
	bool ok;

	WAIT_FOR(ok, c, c->u[utt].says > 0, 5000);
	if (!ok)
		return false;
	pipeline_speaking(c->p, utt, -1);
	WAIT_FOR(ok, c, marks_of(c, utt) >= 2, 10000);
	if (!ok)
		return false;
	pthread_mutex_lock(&c->m);
	at1 = mark_at(c, utt, 1);
	pthread_mutex_unlock(&c->m);
	pipeline_mark_played(c->p, utt, 0);
	pipeline_mark_played(c->p, utt, 1);
	pipeline_vad(c->p, VAD_EVENT_START, c->frame);
	pipeline_interrupted(c->p, utt, (uint32_t)(at1 / 8 + 800));
	return true;
}

/* The reply streams into clauses as it is written. A barge-in in the
 * middle of the third clause keeps the words heard in the history, which
 * the next request carries after the system prompt; when the barge-in was
 * a cough, the rest is said and joins the same message. */
TEST(llm_streams_and_history_keeps_heard_part)
{
	static const struct standin_step longer[] = {
	    {0, TEXT("Sure, I can help with that. ")},
	    {400, TEXT("The weather today is sunny and warm, ")},
	    {0, TEXT("with a light breeze from the west. ")},
	    {400, TEXT("Anything else?") DONE},
	};
	static const struct standin_step shorter[] = {{0, TEXT("Fine.") DONE}};
	const struct answer answers[] = {{SSE_HEAD, longer, 4},
	                                 {SSE_HEAD, longer, 4},
	                                 {SSE_HEAD, shorter, 1}};
	struct brain_config b;
	struct pipeline_config cfg = {.tts = tts, .brain = &b};
	struct srv sv;
	static struct call c;
	uint64_t t_first;
	char msgs[2048], want[2048], joined[1100];
	const char *heard_from = "Sure, I can help with that. The weather "
	                         "today is sunny and warm, with";
	bool ok;

	CHECK_EQ(srv_start(&sv, answers, 3), 0);
	llm_brain(&b, &sv);
	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, hello, hello_n));
	CHECK(barge_into_third(&c, 1));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	t_first = c.u[1].t_first;
	printf("# heard of the LLM reply: \"%s\"\n", c.t[0].reply);
	CHECK(c.t[0].interrupted);
	CHECK(strncmp(c.t[0].reply, heard_from, strlen(heard_from)) == 0);
	CHECK(strlen(c.t[0].reply) <
	      strlen("Sure, I can help with that. The weather today is sunny "
	             "and warm, with a light breeze from the west."));
	CHECK(c.t[0].llm_ms >= c.t[0].stt_ms && c.t[0].llm_ms < 2000);
	pthread_mutex_unlock(&c.m);

	/* A real turn: the same reply, cut the same way, then a cough. */
	CHECK(speak(&c, booking, booking_n));
	CHECK(barge_into_third(&c, 2));
	WAIT_FOR(ok, &c, c.nt == 2, 5000);
	CHECK(ok);
	cough(&c, false);
	CHECK(play_all(&c, 3, -1));
	WAIT_FOR(ok, &c, c.nt == 3, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK(c.t[2].resumed);
	snprintf(joined, sizeof(joined), "%s %s", c.t[1].reply, c.t[2].reply);
	CHECK_STR(joined, LONG_REPLY);
	pthread_mutex_unlock(&c.m);

	CHECK(speak(&c, hello, hello_n));
	CHECK(play_all(&c, 4, -1));
	WAIT_FOR(ok, &c, c.nt == 4, 5000);
	CHECK(ok);
	srv_stop(&sv);
	CHECK_EQ(sv.nreq, 3);
	/* The first audio went out while the server was still writing. */
	CHECK(t_first + 300 < sv.t_last[0]);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(request_messages(&sv, 1, msgs, sizeof(msgs)), 0);
	snprintf(want, sizeof(want),
	         "system: You are a phone agent. Be brief.\n"
	         "user: %s\nassistant: %s\nuser: %s\n",
	         c.t[0].transcript, c.t[0].reply, c.t[1].transcript);
	CHECK_STR(msgs, want);
	CHECK_EQ(request_messages(&sv, 2, msgs, sizeof(msgs)), 0);
	snprintf(want, sizeof(want),
	         "system: You are a phone agent. Be brief.\n"
	         "user: %s\nassistant: %s\nuser: %s\nassistant: %s\n"
	         "user: %s\n",
	         c.t[0].transcript, c.t[0].reply, c.t[1].transcript, LONG_REPLY,
	         c.t[3].transcript);
	CHECK_STR(msgs, want);
	CHECK_STR(c.t[3].reply, "Fine.");
	CHECK_EQ(c.bad, 0);
	pthread_mutex_unlock(&c.m);
	srv_free(&sv);
	call_end(&c);
	return 0;
}

/* The caller speaks again while the LLM is still thinking: the request is
 * dropped at once, clear goes out, nothing is said. The voice was a cough,
 * so the question is asked again. */
TEST(llm_cut_while_thinking)
{
	static const struct standin_step slow[] = {
	    {3000, TEXT("Too late.") DONE}};
	static const struct standin_step fast[] = {
	    {0, TEXT("Here you are.") DONE}};
	const struct answer answers[] = {{SSE_HEAD, slow, 1},
	                                 {SSE_HEAD, fast, 1}};
	struct brain_config b;
	struct pipeline_config cfg = {.tts = tts, .brain = &b};
	struct srv sv;
	static struct call c;
	uint64_t t_cut;
	char msgs0[2048], msgs1[2048];
	bool ok;

	CHECK_EQ(srv_start(&sv, answers, 2), 0);
	llm_brain(&b, &sv);
	b.llm.first_token_timeout_ms = 5000;
	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, hello, hello_n));
	for (int i = 0; i < 500 && !atomic_load(&sv.got); i++)
		sleep_ms(2);
	CHECK_EQ(atomic_load(&sv.got), 1);
	sleep_ms(100);
	t_cut = now_ms();
	pipeline_vad(c.p, VAD_EVENT_START, c.frame);
	WAIT_FOR(ok, &c, c.clears == 1, 1000);
	CHECK(ok);
	WAIT_FOR(ok, &c, c.nt == 1, 1000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK(c.t[0].interrupted);
	CHECK_STR(c.t[0].reply, "");
	CHECK_EQ(c.u[1].says, 0);
	pthread_mutex_unlock(&c.m);

	cough(&c, false);
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 2, 5000);
	CHECK(ok);
	srv_stop(&sv);
	CHECK_EQ(sv.nreq, 2);
	CHECK(sv.gone[0]);
	printf("# LLM request dropped %llu ms after VAD START\n",
	       (unsigned long long)(sv.t_gone[0] - t_cut));
	CHECK(sv.t_gone[0] < t_cut + 100);
	CHECK_EQ(request_messages(&sv, 0, msgs0, sizeof(msgs0)), 0);
	CHECK_EQ(request_messages(&sv, 1, msgs1, sizeof(msgs1)), 0);
	CHECK_STR(msgs1, msgs0);
	pthread_mutex_lock(&c.m);
	CHECK(c.t[1].resumed);
	CHECK_STR(c.t[1].reply, "Here you are.");
	CHECK_EQ(c.u[1].says, 0);
	pthread_mutex_unlock(&c.m);
	srv_free(&sv);
	call_end(&c);
	return 0;
}

/* A barge-in while the LLM is still writing the reply drops the request at
 * once, not when the model is done. */
TEST(llm_barge_in_drops_request)
{
	static const struct standin_step steps[] = {
	    {0, TEXT("Sure, I can help with that. ")},
	    {3000, TEXT("And here is a lot more.") DONE}};
	const struct answer answers[] = {{SSE_HEAD, steps, 2}};
	struct brain_config b;
	struct pipeline_config cfg = {.tts = tts, .brain = &b};
	struct srv sv;
	static struct call c;
	uint64_t t_cut;
	bool ok;

	CHECK_EQ(srv_start(&sv, answers, 1), 0);
	llm_brain(&b, &sv);
	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, hello, hello_n));
	WAIT_FOR(ok, &c, c.u[1].says > 0, 5000);
	CHECK(ok);
	pipeline_speaking(c.p, 1, -1);
	sleep_ms(300);
	pipeline_vad(c.p, VAD_EVENT_START, c.frame);
	pipeline_interrupted(c.p, 1, 300);
	t_cut = now_ms();
	WAIT_FOR(ok, &c, c.nt == 1, 3000);
	CHECK(ok);
	srv_stop(&sv);
	CHECK(sv.gone[0]);
	printf("# LLM request dropped %llu ms after the barge-in\n",
	       (unsigned long long)(sv.t_gone[0] - t_cut));
	CHECK(sv.t_gone[0] < t_cut + 100);
	pthread_mutex_lock(&c.m);
	CHECK(c.t[0].interrupted);
	CHECK(c.u[1].t_last <= t_cut + 100);
	CHECK(!c.u[1].ended);
	CHECK_EQ(c.clears, 0);
	pthread_mutex_unlock(&c.m);
	srv_free(&sv);
	call_end(&c);
	return 0;
}

/* A 500, a model that never answers, and a broken stream: each time the
 * caller hears the apology, and the next turn is answered. */
#define CHUNK(delta)                                                           \
	"data: {\"choices\":[{\"index\":0,\"delta\":" delta                    \
	",\"finish_reason\":null}]}\n\n"
#define CALL_ARGS(i, id, name, args)                                           \
	CHUNK("{\"tool_calls\":[{\"index\":" #i ",\"id\":\"" id                \
	      "\",\"type\":\"function\",\"function\":{\"name\":\"" name        \
	      "\",\"arguments\":\"" args "\"}}]}")
#define CALL(i, id, name) CALL_ARGS(i, id, name, "{}")
#define FINISH(why)                                                            \
	"data: "                                                               \
	"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"" why     \
	"\"}]}\n\n"

/* The built-in tools on a call: transfer_call asks ops->transfer, and its
 * refusal is said in the model's words, or in the tool's own when the
 * model has none; end_call says the model's goodbye and hangs up after
 * its last audio. */
TEST(llm_tools_transfer_and_end_call)
{
	static const struct standin_step xfer[] = {
	    {0, CALL_ARGS(0, "c1", "transfer_call",
	                  "{\\\"reason\\\":\\\"wants a person\\\"}")
	            FINISH("tool_calls") DONE}};
	static const struct standin_step sorry[] = {
	    {0, TEXT("Sorry, nobody can take your call.") DONE}};
	static const struct standin_step silent[] = {{0, FINISH("stop") DONE}};
	static const struct standin_step bye[] = {
	    {0, TEXT("Goodbye!") CALL(0, "c3", "end_call") FINISH("tool_calls")
	            DONE}};
	const struct answer answers[] = {{SSE_HEAD, xfer, 1},
	                                 {SSE_HEAD, sorry, 1},
	                                 {SSE_HEAD, xfer, 1},
	                                 {SSE_HEAD, silent, 1},
	                                 {SSE_HEAD, bye, 1}};
	struct brain_config b;
	struct pipeline_config cfg = {
	    .tts = tts, .brain = &b, .transfer_to = "sip:desk@example.com"};
	struct srv sv;
	static struct call c;
	size_t n, e_at = 0, h_at = 0;
	bool ok;

	CHECK_STR(pipeline_tools(false, &n)[0].def.name, "end_call");
	CHECK_EQ(n, 1);
	CHECK_EQ(srv_start(&sv, answers, 5), 0);
	llm_brain(&b, &sv);
	b.tools = pipeline_tools(true, &b.ntools);
	CHECK_EQ(b.ntools, 2);
	CHECK_EQ(call_start(&c, &cfg), 0);
	CHECK(speak(&c, hello, hello_n));
	CHECK(play_all(&c, 1, -1));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.xfers, 1);
	CHECK_STR(c.xfer_to, "sip:desk@example.com");
	CHECK_STR(c.xfer_why, "wants a person");
	CHECK_STR(c.t[0].reply, "Sorry, nobody can take your call.");
	CHECK_STR(c.hangup, "");
	pthread_mutex_unlock(&c.m);

	CHECK(speak(&c, booking, booking_n));
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 2, 5000);
	CHECK(ok);
	pthread_mutex_lock(&c.m);
	CHECK_EQ(c.xfers, 2);
	CHECK_STR(c.t[1].reply, "I can't transfer your call right now.");
	CHECK_STR(c.hangup, "");
	pthread_mutex_unlock(&c.m);

	CHECK(speak(&c, hello, hello_n));
	CHECK(play_all(&c, 3, -1));
	WAIT_FOR(ok, &c, c.nt == 3 && c.hangup[0], 5000);
	CHECK(ok);
	srv_stop(&sv);
	pthread_mutex_lock(&c.m);
	CHECK_STR(c.t[2].reply, "Goodbye!");
	CHECK_STR(c.hangup, "dialog ended");
	/* The hangup follows the goodbye's last audio. */
	for (size_t i = 0; i < c.nev; i++) {
		if (c.ev[i].kind == 'e' && c.ev[i].utt == 3)
			e_at = i + 1;
		if (c.ev[i].kind == 'h')
			h_at = i + 1;
	}
	CHECK(e_at && h_at > e_at);
	CHECK_EQ(c.bad, 0);
	pthread_mutex_unlock(&c.m);
	CHECK_EQ(sv.nreq, 5);
	CHECK(strstr(sv.body[0], "\"name\":\"end_call\""));
	CHECK(strstr(sv.body[0], "\"name\":\"transfer_call\""));
	CHECK(strstr(sv.body[1], "{\"role\":\"tool\",\"content\":"
	                         "\"{\\\"ok\\\":false,\\\"error\\\":"
	                         "\\\"no REFER here\\\"}\",\"tool_call_id\":"
	                         "\"c1\"}"));
	srv_free(&sv);
	call_end(&c);
	return 0;
}

/* Keys reach the model as the caller's words; the turn's report has
 * only their count, not them nor the reply that may read them back. */
TEST(llm_hears_keys_the_turn_counts_them)
{
	static const struct standin_step thanks[] = {
	    {0, TEXT("Thank you, 4111.") DONE}};
	const struct answer answers[] = {{SSE_HEAD, thanks, 1}};
	struct brain_config b;
	struct pipeline_config cfg = {.tts = tts, .brain = &b};
	struct srv sv;
	static struct call c;
	char msgs[1024];
	bool ok;

	CHECK_EQ(srv_start(&sv, answers, 1), 0);
	llm_brain(&b, &sv);
	CHECK_EQ(call_start(&c, &cfg), 0);
	pipeline_dtmf(c.p, "4111");
	CHECK(play_all(&c, 1, -1));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);
	srv_stop(&sv);
	pthread_mutex_lock(&c.m);
	CHECK_STR(c.t[0].transcript, "");
	CHECK_STR(c.t[0].reply, "");
	CHECK_EQ(c.t[0].dtmf_keys, 4);
	CHECK(c.u[1].n > 4000);
	pthread_mutex_unlock(&c.m);
	CHECK_EQ(sv.nreq, 1);
	CHECK_EQ(request_messages(&sv, 0, msgs, sizeof(msgs)), 0);
	CHECK(strstr(msgs, "user: DTMF: 4111\n") != NULL);
	srv_free(&sv);
	call_end(&c);
	return 0;
}

TEST(llm_faults_apologise)
{
	static const struct standin_step err500[] = {
	    {0, "{\"error\":{\"message\":\"overloaded\"}}"}};
	static const struct standin_step silent[] = {{2000, ""}};
	static const struct standin_step broken[] = {
	    {0, TEXT("Let me see.")}, {0, "data: {\"choices\":[{\"delta\n\n"}};
	static const struct standin_step fine[] = {
	    {0, TEXT("All good now.") DONE}};
	const struct answer answers[] = {
	    {"HTTP/1.1 500 Internal Server Error\r\n"
	     "Content-Type: application/json\r\n",
	     err500, 1},
	    {SSE_HEAD, silent, 1},
	    {SSE_HEAD, broken, 2},
	    {SSE_HEAD, fine, 1},
	};
	static const char *want[] = {APOLOGY, APOLOGY, ("Let me see. " APOLOGY),
	                             "All good now."};
	struct brain_config b;
	struct pipeline_config cfg = {.tts = tts, .brain = &b};
	struct srv sv;
	static struct call c;
	bool ok;

	CHECK_EQ(srv_start(&sv, answers, 4), 0);
	llm_brain(&b, &sv);
	CHECK_EQ(call_start(&c, &cfg), 0);
	for (uint32_t i = 0; i < 4; i++) {
		CHECK(speak(&c, hello, hello_n));
		CHECK(play_all(&c, i + 1, -1));
		WAIT_FOR(ok, &c, c.nt == i + 1, 5000);
		CHECK(ok);
		pthread_mutex_lock(&c.m);
		printf("# fault %u: error \"%s\"\n", i, c.t[i].error);
		CHECK_STR(c.t[i].reply, want[i]);
		CHECK(i == 3 ? !c.t[i].error[0] : c.t[i].error[0] != '\0');
		/* The server's own words reach the turn's report. */
		if (i == 0)
			CHECK_STR(c.t[i].error, "HTTP 500: overloaded");
		CHECK(c.u[i + 1].n > 4000);
		pthread_mutex_unlock(&c.m);
	}
	srv_stop(&sv);
	CHECK_EQ(sv.nreq, 4);
	srv_free(&sv);
	call_end(&c);
	return 0;
}

TEST(bad_arguments)
{
	struct brain_config script_without = {.kind = BRAIN_SCRIPT};
	struct pipeline_config cfg = {.tts = tts, .brain = &echo};
	struct pipeline *p = NULL;

	/* Each refused before the pipeline touches the loop. */
	cfg_fill(&cfg);
	CHECK_EQ(pipeline_alloc(NULL, &cfg, &ops, NULL), EINVAL);
	CHECK_EQ(pipeline_alloc(&p, NULL, &ops, NULL), EINVAL);
	CHECK_EQ(pipeline_alloc(&p, &cfg, NULL, NULL), EINVAL);
	cfg.stop_secs = -1;
	CHECK_EQ(pipeline_alloc(&p, &cfg, &ops, NULL), EINVAL);
	cfg.stop_secs = 0;
	cfg.brain = &script_without;
	CHECK_EQ(pipeline_alloc(&p, &cfg, &ops, NULL), EINVAL);
	cfg.brain = NULL;
	CHECK_EQ(pipeline_alloc(&p, &cfg, &ops, NULL), EINVAL);
	cfg.brain = &echo;
	cfg.decoder = NULL;
	CHECK_EQ(pipeline_alloc(&p, &cfg, &ops, NULL), EINVAL);
	cfg_fill(&cfg);
	cfg.pool = NULL;
	CHECK_EQ(pipeline_alloc(&p, &cfg, &ops, NULL), EINVAL);
	CHECK(p == NULL);
	/* Inputs to no pipeline are ignored. */
	pipeline_dtmf(NULL, "1");
	return 0;
}

/* ---- preemptive generation -------------------------------------------- */

/* In these the server's VAD ends a turn after 0.8 s of silence while the
 * pipeline takes the window for 0.25 s: the final pass still runs 100-140
 * ms into the caller's pause, so the transcript is in long before STOP,
 * as a streaming recogniser's is. */
#define PRE_STOP_SECS 0.8
/* The model's first words come this long after its request. */
#define PRE_LLM_MS 300

static const struct standin_step pre_hello[] = {
    {PRE_LLM_MS, TEXT("Hello to you too.") DONE}};
static const struct standin_step pre_late[] = {{3000, TEXT("Too early.") DONE}};
static const struct standin_step pre_here[] = {{0, TEXT("Here you are.") DONE}};

/* A call on the LLM stand-in answering with answers[0..n), preemptive
 * generation on or off, the VAD's window PRE_STOP_SECS. */
static int pre_start(struct call *c, struct srv *sv, struct brain_config *b,
                     const struct answer *answers, size_t n, bool on)
{
	struct pipeline_config cfg = {.tts = tts, .brain = b, .preemptive = on};

	if (srv_start(sv, answers, n))
		return -1;
	llm_brain(b, sv);
	b->llm.first_token_timeout_ms = 5000;
	return call_start_vad(c, &cfg, PRE_STOP_SECS);
}

/* The caller says hello; reply utt, the call's utt-th turn, is played. */
static bool say_hello(struct call *c, uint32_t utt)
{
	bool ok;

	if (!speak(c, hello, voice_end(hello, hello_n)) ||
	    !play_all(c, utt, -1))
		return false;
	WAIT_FOR(ok, c, c->nt == utt, 5000);
	return ok;
}

/* The end of a case of name, with the call's lock held: request i was
 * asked with the messages want, and no ops call came out of turn; the
 * call and the stand-in go. */
static int pre_end(const char *name, struct call *c, struct srv *sv, size_t i,
                   const char *want)
{
	char msgs[2048];
	int bad = c->bad, err = request_messages(sv, i, msgs, sizeof(msgs));

	pthread_mutex_unlock(&c->m);
	srv_free(sv);
	call_end(c);
	if (err || strcmp(msgs, want))
		TEST_FAIL(name, "request %zu asked with \"%s\", not \"%s\"", i,
		          msgs, want);
	if (bad)
		TEST_FAIL(name, "%d ops calls out of turn", bad);
	return 0;
}

/* The LLM is asked once the pause's transcript is in, before STOP; its
 * reply, written meanwhile, is not said before STOP and goes out right
 * after it: sooner than the model's own delay would allow if it were
 * asked at STOP. Off, the request waits for STOP as it always did. */
static int preemptive_turn(bool on)
{
	const struct answer answers[] = {{SSE_HEAD, pre_hello, 1}};
	struct brain_config b;
	struct srv sv;
	static struct call c;
	char want[1024];

	CHECK_EQ(pre_start(&c, &sv, &b, answers, 1, on), 0);
	CHECK(say_hello(&c, 1));
	srv_stop(&sv);
	CHECK_EQ(sv.nreq, 1);
	pthread_mutex_lock(&c.m);
	printf("# preemptive %s: asked %lld ms after STOP, first audio %lld "
	       "ms after it\n",
	       on ? "on" : "off", (long long)sv.t_req[0] - (long long)c.t_stop,
	       (long long)c.u[1].t_first - (long long)c.t_stop);
	CHECK(c.u[1].t_first >= c.t_stop);
	if (on) {
		CHECK(sv.t_req[0] < c.t_stop);
		CHECK(c.u[1].t_first < c.t_stop + PRE_LLM_MS);
		CHECK_EQ(c.t[0].preempt, PIPELINE_PREEMPT_USED);
	} else {
		CHECK(sv.t_req[0] >= c.t_stop);
		CHECK(c.u[1].t_first >= c.t_stop + PRE_LLM_MS);
		CHECK_EQ(c.t[0].preempt, PIPELINE_PREEMPT_NONE);
	}
	CHECK_STR(c.t[0].reply, "Hello to you too.");
	CHECK(!c.t[0].interrupted);
	snprintf(want, sizeof(want),
	         "system: You are a phone agent. Be brief.\nuser: %s\n",
	         c.t[0].transcript);
	return pre_end(on ? "llm_preemptive_adopted_at_stop"
	                  : "llm_preemptive_off_asks_at_stop",
	               &c, &sv, 0, want);
}

TEST(llm_preemptive_adopted_at_stop)
{
	return preemptive_turn(true);
}

TEST(llm_preemptive_off_asks_at_stop)
{
	return preemptive_turn(false);
}

/* The caller pauses long enough for the early transcript and its request,
 * then goes on: the held request is closed at once and nothing of it is
 * said; the turn is asked for again, and the history has the whole turn
 * and the reply said, nothing of the dropped one. */
TEST(llm_preemptive_dropped_when_caller_goes_on)
{
	const struct answer answers[] = {{SSE_HEAD, pre_late, 1},
	                                 {SSE_HEAD, pre_here, 1},
	                                 {SSE_HEAD, pre_hello, 1}};
	struct brain_config b;
	size_t a = voice_end(hello, hello_n),
	       z = voice_start(booking, booking_n);
	size_t gap = 30 * FRAME,
	       n = a + gap + (voice_end(booking, booking_n) - z);
	int16_t *both = calloc(n, sizeof(*both));
	struct srv sv;
	static struct call c;
	char msgs[2048], want[2048];
	uint64_t t_stop;
	bool ok;

	CHECK(both);
	memcpy(both, hello, a * sizeof(*both));
	memcpy(both + a + gap, booking + z, (n - a - gap) * sizeof(*both));
	CHECK_EQ(pre_start(&c, &sv, &b, answers, 3, true), 0);
	CHECK(speak(&c, both, n));
	t_stop = c.t_stop;
	CHECK(play_all(&c, 1, -1));
	WAIT_FOR(ok, &c, c.nt == 1, 5000);
	CHECK(ok);
	CHECK(say_hello(&c, 2));
	srv_stop(&sv);
	CHECK_EQ(sv.nreq, 3);
	pthread_mutex_lock(&c.m);
	printf("# the early request closed %lld ms before STOP\n",
	       (long long)t_stop - (long long)sv.t_gone[0]);
	/* Asked in the pause, closed when the caller went on; the turn
	 * asked again before STOP, and adopted. */
	CHECK(sv.gone[0]);
	CHECK(sv.t_req[0] < sv.t_gone[0]);
	CHECK(sv.t_gone[0] < sv.t_req[1]);
	CHECK(sv.t_req[1] < t_stop);
	CHECK_EQ(c.t[0].preempt, PIPELINE_PREEMPT_USED);
	CHECK(c.u[1].t_first >= t_stop);
	CHECK_EQ(request_messages(&sv, 0, msgs, sizeof(msgs)), 0);
	CHECK(strstr(msgs, "user: ") != NULL);
	CHECK(strstr(msgs, c.t[0].transcript) == NULL);
	CHECK(words(c.t[0].transcript) > 2);
	CHECK_STR(c.t[0].reply, "Here you are.");
	CHECK_STR(c.t[1].reply, "Hello to you too.");
	/* The whole turn and what was said, nothing else. */
	snprintf(want, sizeof(want),
	         "system: You are a phone agent. Be brief.\n"
	         "user: %s\nassistant: Here you are.\nuser: %s\n",
	         c.t[0].transcript, c.t[1].transcript);
	free(both);
	return pre_end("llm_preemptive_dropped_when_caller_goes_on", &c, &sv, 2,
	               want);
}

struct keys_later {
	struct srv *sv;
	struct call *c;
};

/* Keys pressed once the early request reached the LLM. */
static void *keys_later(void *arg)
{
	struct keys_later *k = arg;

	for (int i = 0; i < 3000 && !atomic_load(&k->sv->got); i++)
		sleep_ms(1);
	sleep_ms(30);
	pipeline_dtmf(k->c->p, "5");
	return NULL;
}

/* Keys pressed in the caller's pause are a turn of their own, answered
 * first: the history the held reply was asked with is no longer the
 * turn's, so it is dropped and the turn asked again after the keys'. */
TEST(llm_preemptive_history_changed)
{
	static const struct standin_step keys[] = {
	    {0, TEXT("Got your key.") DONE}};
	const struct answer answers[] = {{SSE_HEAD, pre_late, 1},
	                                 {SSE_HEAD, keys, 1},
	                                 {SSE_HEAD, pre_here, 1}};
	struct brain_config b;
	struct srv sv;
	static struct call c;
	struct keys_later k = {&sv, &c};
	pthread_t th;
	char want[2048];
	bool ok;

	CHECK_EQ(pre_start(&c, &sv, &b, answers, 3, true), 0);
	CHECK_EQ(pthread_create(&th, NULL, keys_later, &k), 0);
	CHECK(speak(&c, hello, voice_end(hello, hello_n)));
	pthread_join(th, NULL);
	CHECK(play_all(&c, 1, -1));
	CHECK(play_all(&c, 2, -1));
	WAIT_FOR(ok, &c, c.nt == 2, 5000);
	CHECK(ok);
	srv_stop(&sv);
	CHECK_EQ(sv.nreq, 3);
	pthread_mutex_lock(&c.m);
	CHECK(sv.gone[0]);
	CHECK(sv.t_req[0] < c.t_stop);
	CHECK_EQ(c.t[0].dtmf_keys, 1);
	CHECK_EQ(c.t[0].preempt, PIPELINE_PREEMPT_NONE);
	CHECK_STR(c.t[1].reply, "Here you are.");
	CHECK_EQ(c.t[1].preempt, PIPELINE_PREEMPT_DISCARDED);
	snprintf(want, sizeof(want),
	         "system: You are a phone agent. Be brief.\n"
	         "user: DTMF: 5\nassistant: Got your key.\nuser: %s\n",
	         c.t[1].transcript);
	return pre_end("llm_preemptive_history_changed", &c, &sv, 2, want);
}

/* The caller's speech, made by espeak-ng as a phone would carry it. */
static int make_speech(const char *text, int16_t **pcmp, size_t *np)
{
	char path[] = "/tmp/voxgate-speech-XXXXXX", cmd[512];
	const char *why = NULL;
	int fd = mkstemp(path), rc;

	if (fd < 0)
		return -1;
	close(fd);
	snprintf(cmd, sizeof(cmd), "espeak-ng -v en-us -w %s '%s'", path, text);
	rc = system(cmd);
	if (rc == 0)
		rc = wav_load(path, 8000, pcmp, np, &why);
	unlink(path);
	if (rc)
		printf("# espeak-ng: %d %s\n", rc, why ? why : "");
	return rc;
}

int main(void)
{
	struct stt_params sp = {0};
	struct tts_params tp;
	const char *why = NULL;

	tts_params_default(&tp);
	tp.provider = "flite";
	if (stt_model_load(&model, &sp, &why) || tts_alloc(&tts, &tp, &why) ||
	    make_speech("I would like to book a table for two.", &booking,
	                &booking_n) ||
	    make_speech("Hello there.", &hello, &hello_n)) {
		printf("FAIL setup: %s\n", why ? why : "no speech");
		return 1;
	}
	sem_init(&loop_ready, 0, 0);
	if (stt_alloc(&decoders[0], model) || stt_alloc(&decoders[1], model) ||
	    pthread_create(&loop_th, NULL, loop_main, NULL)) {
		printf("FAIL setup: decoders or loop\n");
		return 1;
	}
	sem_wait(&loop_ready);
	if (!http) {
		printf("FAIL setup: the loop did not start\n");
		return 1;
	}
	RUN(bad_arguments);
	RUN(greeting_streams_paced_with_marks);
	RUN(echo_reply);
	RUN(calls_side_by_side);
	RUN(barge_in_then_false_interruption_resumes);
	RUN(greeting_barge_in);
	RUN(dtmf_and_script_hangup);
	RUN(pause_inside_a_turn);
	RUN(llm_streams_and_history_keeps_heard_part);
	RUN(llm_cut_while_thinking);
	RUN(llm_barge_in_drops_request);
	RUN(llm_faults_apologise);
	RUN(llm_hears_keys_the_turn_counts_them);
	RUN(llm_tools_transfer_and_end_call);
	RUN(llm_preemptive_adopted_at_stop);
	RUN(llm_preemptive_off_asks_at_stop);
	RUN(llm_preemptive_dropped_when_caller_goes_on);
	RUN(llm_preemptive_history_changed);
	RUN(echo_latency);
	{
		struct msg *m = msg_new(MSG_STOP, NULL);

		if (m)
			post(m, false);
		pthread_join(loop_th, NULL);
	}
	mem_deref(decoders[0]);
	mem_deref(decoders[1]);
	free(booking);
	free(hello);
	mem_deref(tts);
	mem_deref(model);
	TEST_EXIT();
}
