/*
 * The listener on pocketsphinx (listener.h). The decoder is only ever
 * touched by the call's jobs on the engine pool, which run one at a time
 * in the order given, so begin, feed and end keep their order without a
 * lock, and the loop never waits for a decode. A job that fails marks the
 * utterance broken: the rest of it is skipped and its end reports the
 * error.
 *
 * One job of a call is on the pool at a time; what comes meanwhile waits
 * here, on the loop, as commands, and the frames of a call waiting to be
 * fed are joined into one job. A call whose recogniser is behind (the
 * machine's cores are busy) so costs one job per round rather than one
 * per frame, and past BACKLOG_MS of audio waiting the oldest goes, so
 * that what follows is current, as the caller's line is.
 */
#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include "core/libre.h"

#include "core/clock.h"
#include "core/log.h"
#include "net/httpc.h"
#include "worker/engine.h"
#include "worker/listen_ws.h"
#include "worker/listener.h"
#include "worker/provider.h"
#include "speech/stt.h"

#define TEXT_MAX   1024
#define BACKLOG_MS 5000
#define BACKLOG    (BACKLOG_MS * 8) /* samples at 8 kHz */

/* What the jobs share: the decoder, theirs alone. */
struct ear {
	struct stt *stt;
	bool broken; /* this utterance failed, or none is open */
};

enum kind { JOB_BEGIN, JOB_FEED, JOB_END };

/* A command waiting for the job before it. */
struct cmd {
	struct cmd *next;
	enum kind kind;
	uint32_t utt;
	int16_t *pcm; /* JOB_FEED */
	size_t n, cap;
};

struct net_ear;

struct listener {
	struct net_ear *net; /* a network recogniser: nothing below used */
	struct lws *ws;      /* or a streaming one (listen_ws.h) */
	struct engine_queue *q;
	struct ear *ear;
	struct listener_handlers h;
	void *arg;
	uint32_t utt;
	bool busy; /* a job is on the pool */
	struct cmd *head, **tail;
	size_t waiting; /* samples in the commands */
};

struct ljob {
	struct listener *l; /* valid whenever a handler runs */
	struct ear *ear;
	enum kind kind;
	uint32_t utt;
	int err;
	size_t n;
	char text[TEXT_MAX];
	int16_t pcm[];
};

static void ear_destructor(void *arg)
{
	struct ear *e = arg;

	mem_deref(e->stt);
}

static void ljob_destructor(void *arg)
{
	struct ljob *j = arg;

	mem_deref(j->ear);
}

static void work(struct engine_job *job, void *arg)
{
	struct ljob *j = arg;
	struct ear *e = j->ear;

	(void)job;
	switch (j->kind) {
	case JOB_BEGIN:
		e->broken = stt_begin(e->stt) != 0;
		break;
	case JOB_FEED:
		if (!e->broken && j->n &&
		    stt_feed(e->stt, j->pcm, j->n, NULL, 0, NULL))
			e->broken = true;
		break;
	case JOB_END:
		if (e->broken)
			j->err = EIO;
		else
			j->err = stt_end(e->stt, j->text, sizeof(j->text));
		e->broken = true;
		break;
	}
}

static void next(struct listener *l);

static void done(void *arg)
{
	struct ljob *j = arg;
	struct listener *l = j->l;

	l->busy = false;
	next(l);
	if (j->kind != JOB_END)
		return;
	if (j->err)
		l->h.errorh(j->utt, j->err, l->arg);
	else
		l->h.finalh(j->utt, j->text, l->arg);
}

/* Sends the first command waiting, unless a job is on the pool. Out of
 * memory, it stays for the next try. */
static void next(struct listener *l)
{
	struct cmd *c = l->head;
	struct ljob *j;

	if (l->busy || !c)
		return;
	j = mem_zalloc(sizeof(*j) + c->n * sizeof(*c->pcm), ljob_destructor);
	if (!j)
		return;
	j->l = l;
	j->ear = mem_ref(l->ear);
	j->kind = c->kind;
	j->utt = c->utt;
	j->n = c->n;
	if (c->n)
		memcpy(j->pcm, c->pcm, c->n * sizeof(*c->pcm));
	if (engine_submit(l->q, work, NULL, done, j)) {
		mem_deref(j);
		return;
	}
	mem_deref(j);
	l->busy = true;
	l->head = c->next;
	if (!l->head)
		l->tail = &l->head;
	l->waiting -= c->n;
	free(c->pcm);
	free(c);
}

static int command(struct listener *l, enum kind kind)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (!c)
		return ENOMEM;
	c->kind = kind;
	c->utt = l->utt;
	*l->tail = c;
	l->tail = &c->next;
	next(l);
	return 0;
}

/* Drops the oldest audio waiting until at most BACKLOG samples wait. */
static void trim(struct listener *l)
{
	for (struct cmd *c = l->head; c && l->waiting > BACKLOG; c = c->next) {
		size_t k =
		    l->waiting - BACKLOG < c->n ? l->waiting - BACKLOG : c->n;

		memmove(c->pcm, c->pcm + k, (c->n - k) * sizeof(*c->pcm));
		c->n -= k;
		l->waiting -= k;
	}
}

/* ---- an OpenAI-compatible /audio/transcriptions ------------------------
 *
 * The utterance's audio is kept as it comes (the latest NET_KEEP_MS of it:
 * a longer turn loses its start, as a recogniser behind loses its oldest
 * audio) and sent whole when it ends, as a 16-bit 8 kHz WAV in a
 * multipart/form-data POST with response_format json; the transcript is
 * the answer's "text". The provider gives no partials. Each ended
 * utterance has its own request, so an early final pass and the turn's
 * last one may be in flight together; stt_timeout bounds each from its
 * start (the end of the turn) to its answer.
 *
 * The audio is kept from the utterance's start, and after its end too
 * until the pipeline says the turn is over (listener_rest): a caller who
 * goes on after the final pass ran ahead gets a new utterance on the
 * audio so far (listener_reopen), so the pipeline keeps no copy of its
 * own. It is freed between turns: a call whose caller is silent holds
 * none.
 */
#define NET_KEEP_MS  30000
#define NET_KEEP     (NET_KEEP_MS * 8)
#define NET_BODY_MAX 65536 /* an answer's bytes kept */
#define BOUNDARY     "voxgate-7c1f0e9a4b3d5268"

struct net_ear {
	struct listener *l;
	const struct provider *pv;
	const char *call_id;
	int16_t *pcm;
	size_t n, cap;
	bool open;  /* collecting an utterance's audio */
	bool ended; /* ... which was sent: only a reopen uses it now */
	struct list reqs;
};

struct net_req {
	struct le le;
	struct net_ear *e;
	struct httpc_req *req;
	uint32_t utt;
	uint16_t status;
	uint64_t t_start;
	double secs;
	char *body;
	size_t len;
};

static void net_req_destructor(void *arg)
{
	struct net_req *r = arg;

	list_unlink(&r->le);
	mem_deref(r->req);
	free(r->body);
}

static void net_ear_destructor(void *arg)
{
	struct net_ear *e = arg;

	list_flush(&e->reqs);
	free(e->pcm);
}

static int net_alloc(struct listener *l, const struct listener_config *cfg)
{
	struct net_ear *e = mem_zalloc(sizeof(*e), net_ear_destructor);

	if (!e)
		return ENOMEM;
	e->l = l;
	e->pv = cfg->net;
	e->call_id = cfg->call_id;
	list_init(&e->reqs);
	l->net = e;
	return 0;
}

static void net_begin(struct listener *l)
{
	l->net->n = 0;
	l->net->open = true;
	l->net->ended = false;
}

static void net_rest(struct net_ear *e)
{
	free(e->pcm);
	e->pcm = NULL;
	e->n = e->cap = 0;
	e->open = e->ended = false;
}

static int net_feed(struct listener *l, const int16_t *pcm, size_t n)
{
	struct net_ear *e = l->net;

	if (!e->open)
		return 0;
	if (n > NET_KEEP) {
		pcm += n - NET_KEEP;
		n = NET_KEEP;
	}
	if (e->n + n > NET_KEEP) {
		size_t k = e->n + n - NET_KEEP;

		memmove(e->pcm, e->pcm + k, (e->n - k) * sizeof(*e->pcm));
		e->n -= k;
	}
	if (e->n + n > e->cap) {
		size_t cap = e->cap ? e->cap : 8000;
		int16_t *q;

		while (cap < e->n + n)
			cap *= 2;
		if (cap > NET_KEEP)
			cap = NET_KEEP;
		q = realloc(e->pcm, cap * sizeof(*q));
		if (!q)
			return ENOMEM;
		e->pcm = q;
		e->cap = cap;
	}
	memcpy(e->pcm + e->n, pcm, n * sizeof(*pcm));
	e->n += n;
	return 0;
}

static void put_le(struct mbuf *mb, uint32_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		(void)mbuf_write_u8(mb, (uint8_t)(v >> (8 * i)));
}

/* The multipart body: the WAV, the model, the format, the language. */
static struct mbuf *net_body(const struct net_ear *e)
{
	const struct provider *pv = e->pv;
	uint32_t data = (uint32_t)(e->n * 2);
	struct mbuf *mb = mbuf_alloc(data + 1024);
	int err = 0;

	if (!mb)
		return NULL;
	err |= mbuf_printf(mb, "--" BOUNDARY "\r\n"
	                       "Content-Disposition: form-data; name=\"file\"; "
	                       "filename=\"audio.wav\"\r\n"
	                       "Content-Type: audio/wav\r\n\r\n");
	err |= mbuf_write_str(mb, "RIFF");
	put_le(mb, 36 + data, 4);
	err |= mbuf_write_str(mb, "WAVEfmt ");
	put_le(mb, 16, 4);
	put_le(mb, 1, 2);     /* PCM */
	put_le(mb, 1, 2);     /* mono */
	put_le(mb, 8000, 4);  /* rate */
	put_le(mb, 16000, 4); /* bytes per second */
	put_le(mb, 2, 2);     /* block */
	put_le(mb, 16, 2);    /* bits */
	err |= mbuf_write_str(mb, "data");
	put_le(mb, data, 4);
	for (size_t i = 0; i < e->n; i++)
		put_le(mb, (uint16_t)e->pcm[i], 2);
	err |= mbuf_printf(mb,
	                   "\r\n--" BOUNDARY "\r\n"
	                   "Content-Disposition: form-data; name=\"model\""
	                   "\r\n\r\n%s\r\n"
	                   "--" BOUNDARY "\r\n"
	                   "Content-Disposition: form-data; "
	                   "name=\"response_format\"\r\n\r\njson\r\n",
	                   pv->model);
	if (pv->language && pv->language[0])
		err |= mbuf_printf(mb,
		                   "--" BOUNDARY "\r\n"
		                   "Content-Disposition: form-data; "
		                   "name=\"language\"\r\n\r\n%s\r\n",
		                   pv->language);
	err |= mbuf_printf(mb, "--" BOUNDARY "--\r\n");
	if (err || mb->end < 44 + data) {
		mem_deref(mb);
		return NULL;
	}
	return mb;
}

static void net_head(uint16_t status, void *arg)
{
	struct net_req *r = arg;

	r->status = status;
}

static void net_data(const uint8_t *data, size_t n, void *arg)
{
	struct net_req *r = arg;
	size_t k = n < NET_BODY_MAX - r->len ? n : NET_BODY_MAX - r->len;
	char *b;

	if (!k)
		return;
	b = realloc(r->body, r->len + k + 1);
	if (!b)
		return;
	memcpy(b + r->len, data, k);
	r->body = b;
	r->len += k;
	r->body[r->len] = '\0';
}

/* The answer's text, spaces collapsed, into out; false if it has none. */
static bool net_text(const struct net_req *r, char *out, size_t size)
{
	json_t *root = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *t = json_string_value(json_object_get(root, "text"));
	size_t k = 0;
	bool space = false;

	if (!t) {
		json_decref(root);
		return false;
	}
	for (; *t && k + 2 < size; t++) {
		if (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') {
			space = k > 0;
			continue;
		}
		if (space)
			out[k++] = ' ';
		space = false;
		out[k++] = *t;
	}
	out[k] = '\0';
	json_decref(root);
	return true;
}

static void net_done(int err, uint16_t status, const char *why, void *arg)
{
	struct net_req *r = arg;
	struct net_ear *e = r->e;
	struct listener *l = e->l;
	uint64_t ms = clock_mono_ms() - r->t_start;
	uint32_t utt = r->utt;
	char text[TEXT_MAX], reason[PROVIDER_WHY_MAX], q[PROVIDER_WHY_MAX + 32];
	bool ok = !err && status == 200 && net_text(r, text, sizeof(text));
	int transfer;

	if (ok) {
		mem_deref(r);
		l->h.finalh(utt, text, l->arg);
		return;
	}
	transfer = err ? err : status == 200 ? EPROTO : 0;
	if (!err)
		err = status == 401 || status == 403 ? EACCES : EPROTO;
	provider_why(reason, transfer, status, r->body, r->len,
	             status == 200 ? "no text in the answer" : why,
	             e->pv->api_key);
	log_event(LOGL_WARN, e->call_id, "stt_failed",
	          "provider=%s stage=stt status=%u elapsed_ms=%llu "
	          "audio_ms=%.0f error=\"%s\"",
	          e->pv->name, status, (unsigned long long)ms, r->secs * 1000,
	          log_quote(q, sizeof(q), reason));
	mem_deref(r);
	l->h.errorh(utt, err, l->arg);
}

static int net_end(struct listener *l)
{
	struct net_ear *e = l->net;
	const struct provider *pv = e->pv;
	const char *hdrs[3] = {
	    "Content-Type: multipart/form-data; boundary=" BOUNDARY, NULL,
	    NULL};
	struct httpc_prm prm = {0};
	struct net_req *r;
	struct mbuf *mb;
	char *auth = NULL;
	int err;

	if (!e->open || e->ended)
		return EINVAL;
	e->ended = true;
	r = mem_zalloc(sizeof(*r), net_req_destructor);
	mb = r ? net_body(e) : NULL;
	err = mb ? provider_auth(&auth, pv->api_key) : ENOMEM;
	if (err) {
		mem_deref(mb);
		mem_deref(r);
		return err;
	}
	r->e = e;
	r->utt = l->utt;
	r->secs = (double)e->n / 8000;
	r->t_start = clock_mono_ms();
	hdrs[1] = auth;
	prm.url = pv->url;
	prm.headers = hdrs;
	prm.body = mb->buf;
	prm.body_len = mb->end;
	prm.connect_ms = pv->timeout_ms;
	prm.total_ms = pv->timeout_ms;
	err = httpc_request(&r->req, pv->http, &prm, net_head, net_data,
	                    net_done, r);
	free(auth);
	mem_deref(mb);
	if (err) {
		mem_deref(r);
		return err;
	}
	list_append(&e->reqs, &r->le, r);
	return 0;
}

static void listener_destructor(void *arg)
{
	struct listener *l = arg;

	while (l->head) {
		struct cmd *c = l->head;

		l->head = c->next;
		free(c->pcm);
		free(c);
	}
	mem_deref(l->net);
	lws_release(l->ws);
	/* Jobs still running keep the ear, and with it the decoder. */
	mem_deref(l->q);
	mem_deref(l->ear);
}

int listener_alloc(struct listener **lp, const struct listener_config *cfg,
                   const struct listener_handlers *h, void *arg)
{
	struct listener *l;
	int err;

	if (!lp || !cfg || !h || !h->finalh || !h->errorh ||
	    (cfg->net ? !cfg->net->url ||
	                    (!cfg->net->http && !lws_ops_of(cfg->net->name))
	              : !cfg->decoder || !cfg->pool))
		return EINVAL;
	l = mem_zalloc(sizeof(*l), listener_destructor);
	if (!l)
		return ENOMEM;
	l->h = *h;
	l->arg = arg;
	l->tail = &l->head;
	if (cfg->net && lws_ops_of(cfg->net->name)) {
		err = lws_alloc(&l->ws, lws_ops_of(cfg->net->name), cfg->net,
		                cfg->call_id, h, arg);
		if (err) {
			mem_deref(l);
			return err;
		}
		*lp = l;
		return 0;
	}
	if (cfg->net) {
		err = net_alloc(l, cfg);
		if (err) {
			mem_deref(l);
			return err;
		}
		*lp = l;
		return 0;
	}
	l->ear = mem_zalloc(sizeof(*l->ear), ear_destructor);
	if (!l->ear) {
		mem_deref(l);
		return ENOMEM;
	}
	l->ear->stt = mem_ref(cfg->decoder);
	l->ear->broken = true;
	err = engine_queue_alloc(&l->q, cfg->pool);
	if (err) {
		mem_deref(l);
		return err;
	}
	*lp = l;
	return 0;
}

int listener_begin(struct listener *l, uint32_t *utt)
{
	int err;

	if (!l)
		return EINVAL;
	l->utt++;
	if (l->ws) {
		lws_begin(l->ws, l->utt);
		if (utt)
			*utt = l->utt;
		return 0;
	}
	if (l->net) {
		net_begin(l);
		if (utt)
			*utt = l->utt;
		return 0;
	}
	err = command(l, JOB_BEGIN);
	if (!err && utt)
		*utt = l->utt;
	return err;
}

int listener_feed(struct listener *l, const int16_t *pcm, size_t n)
{
	struct cmd *c;

	if (!l || (n && !pcm))
		return EINVAL;
	if (!n)
		return 0;
	if (l->ws)
		return lws_feed(l->ws, pcm, n);
	if (l->net)
		return net_feed(l, pcm, n);
	/* Joined to the feed waiting last, when it is this utterance's. */
	c = l->head
	        ? (struct cmd *)((char *)l->tail - offsetof(struct cmd, next))
	        : NULL;
	if (!c || c->kind != JOB_FEED || c->utt != l->utt) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return ENOMEM;
		c->kind = JOB_FEED;
		c->utt = l->utt;
		*l->tail = c;
		l->tail = &c->next;
	}
	if (c->n + n > c->cap) {
		size_t cap = c->cap ? c->cap : 1600;
		int16_t *q;

		while (cap < c->n + n)
			cap *= 2;
		q = realloc(c->pcm, cap * sizeof(*q));
		if (!q)
			return ENOMEM;
		c->pcm = q;
		c->cap = cap;
	}
	memcpy(c->pcm + c->n, pcm, n * sizeof(*pcm));
	c->n += n;
	l->waiting += n;
	trim(l);
	next(l);
	return 0;
}

int listener_end(struct listener *l)
{
	if (!l)
		return EINVAL;
	if (l->ws)
		return lws_end(l->ws);
	if (l->net)
		return net_end(l);
	return command(l, JOB_END);
}

void listener_flush(void)
{
	lws_flush();
}

bool listener_streams(const char *name)
{
	return lws_ops_of(name) != NULL;
}

int listener_endpoint(char **urlp, const struct provider *pv, const char **why)
{
	const struct lws_ops *ops = pv ? lws_ops_of(pv->name) : NULL;

	return ops ? ops->url(urlp, pv, why) : EINVAL;
}

int listener_reopen(struct listener *l, uint32_t *utt)
{
	if (!l)
		return EINVAL;
	if (l->ws) {
		int err = lws_reopen(l->ws, l->utt + 1);

		if (err)
			return err;
		l->utt++;
		if (utt)
			*utt = l->utt;
		return 0;
	}
	if (!l->net)
		return ENOTSUP;
	if (!l->net->open || !l->net->ended)
		return EINVAL;
	l->net->ended = false;
	l->utt++;
	if (utt)
		*utt = l->utt;
	return 0;
}

void listener_rest(struct listener *l)
{
	if (l && l->net)
		net_rest(l->net);
	if (l && l->ws)
		lws_rest(l->ws);
}
