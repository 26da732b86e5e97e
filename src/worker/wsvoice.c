/*
 * The streaming voice (wsvoice.h).
 *
 * Clauses wait in a list in the order given. Each is sent as soon as the
 * socket is open (ElevenLabs: while fewer than WSVOICE_ELEVEN_CONTEXTS
 * contexts are in flight), so the provider makes the next clause while
 * the last one plays. Every message from the provider names its context;
 * its audio belongs to the first clause of that context whose end has not
 * come. The first clause's audio goes out as it arrives; a later one's
 * waits in its own buffer (bounded) until the clauses before it are over,
 * so the caller hears the clauses in order whatever order the provider
 * makes them in. A context no clause has (cancelled, or the last reply's)
 * is ignored.
 *
 * One timer bounds the silence while clauses are given: re-armed by each
 * message for them, it fails them when it fires, as a socket that drops
 * with clauses in flight or an error message does. The socket is then
 * let go and a new one started after the backoff; a clause given while
 * there is none starts one at once.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/b64.h"
#include "core/clock.h"
#include "core/g711.h"
#include "core/log.h"
#include "net/backoff.h"
#include "net/url.h"
#include "net/wsc.h"
#include "worker/wsvoice_int.h"

/* Audio decoded and handed on at a time: 96 ms. */
#define BLOCK 768
/* Base64 characters per block: 4 for every 3 bytes. */
#define BLOCK_B64 (BLOCK / 3 * 4)
/* A socket that carried audio or stayed open this long was healthy:
 * its end starts the backoff over. */
#define HEALTHY_MS 10000
/* Messages far above any audio chunk a provider sends. */
#define MAX_MESSAGE (512 * 1024)
/* An idle socket is pinged at half of this and given up when nothing at
 * all comes back, so that a dead one is made anew before a reply needs
 * it. */
#define IDLE_MS 60000

struct clause {
	struct clause *next;
	uint32_t tag;
	char ctx[WSVOICE_CTX_MAX];
	bool sent;     /* its text is with the provider */
	bool ended;    /* all its audio came */
	uint8_t *pend; /* mu-law come while an earlier clause is made */
	size_t npend, cappend;
	size_t len;
	char text[];
};

/* ElevenLabs contexts a cancel closed, until their end comes. */
struct zombie {
	char ctx[WSVOICE_CTX_MAX];
	uint64_t until;
};

struct wsvoice {
	const struct provider *pv;
	enum wsvoice_dialect d;
	const char *call_id;
	wsvoice_audio_h *audioh;
	wsvoice_done_h *doneh;
	void *arg;
	struct wsc *w;
	bool open;
	uint64_t t_open;    /* when the socket opened */
	bool healthy;       /* this socket carried audio */
	unsigned streak;    /* sockets in a row that were not healthy */
	struct tmr retry;   /* the next socket */
	struct tmr silence; /* no word for the clauses given */
	struct tmr later;   /* a failure found inside wsvoice_say */
	struct tmr window;  /* a cancelled context's slot given up */
	int later_err;
	struct clause *head, **tail;
	uint64_t gen;                    /* bumped by each cancel and failure */
	uint64_t seq;                    /* context ids */
	char reply_ctx[WSVOICE_CTX_MAX]; /* Cartesia: the reply's context */
	uint32_t reply_tag;
	struct zombie zombies[WSVOICE_ELEVEN_CONTEXTS];
	uint64_t t_first; /* when the first clause given was */
	size_t bytes;     /* audio received since */
	struct wsvoice_stats st;
	uint8_t raw[BLOCK];
	int16_t pcm[BLOCK];
};

enum wsvoice_dialect wsvoice_dialect(const char *name)
{
	if (name && !strcmp(name, "elevenlabs"))
		return WSVOICE_ELEVENLABS;
	if (name && !strcmp(name, "cartesia"))
		return WSVOICE_CARTESIA;
	return WSVOICE_NONE;
}

/* ---- mu-law ------------------------------------------------------------ */

/* ---- messages ---------------------------------------------------------- */

int wsvoice_send_json(struct wsc *w, json_t *json)
{
	char *s;
	int err;

	if (!json)
		return EINVAL; /* not UTF-8, or out of memory */
	s = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	if (!s)
		return ENOMEM;
	err = wsc_send(w, WSC_TEXT, s, strlen(s));
	free(s);
	return err;
}

void wsvoice_read_ctx(json_t *root, const char *name, struct wsvoice_msg *m)
{
	json_t *c = json_object_get(root, name);

	if (!c || json_is_null(c))
		return;
	if (!json_is_string(c) || json_string_length(c) >= sizeof(m->ctx)) {
		m->ctx_bad = true;
		return;
	}
	memcpy(m->ctx, json_string_value(c), json_string_length(c) + 1);
	/* an id with a NUL inside is none of ours */
	if (strlen(m->ctx) != json_string_length(c))
		m->ctx_bad = true;
}

void wsvoice_why(struct wsvoice_msg *m, const char *prefix, const char *text)
{
	snprintf(m->why, sizeof(m->why), "%s%s%s", prefix, text[0] ? ": " : "",
	         text);
	for (char *p = m->why; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
}

int wsvoice_read(enum wsvoice_dialect d, const uint8_t *p, size_t n,
                 struct wsvoice_msg *m, void **rootp)
{
	json_t *root;

	memset(m, 0, sizeof(*m));
	*rootp = NULL;
	root = json_loadb((const char *)p, n, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return EBADMSG;
	}
	if (d == WSVOICE_ELEVENLABS)
		wsvoice_eleven_read(root, m);
	else
		wsvoice_cartesia_read(root, m);
	*rootp = root;
	return 0;
}

/* ---- endpoints --------------------------------------------------------- */

int wsvoice_endpoint(char **urlp, const char *name, const char *base,
                     const char *model, const char *voice, const char **why)
{
	enum wsvoice_dialect d = wsvoice_dialect(name);
	char path[160];

	if (d == WSVOICE_CARTESIA)
		return url_endpoint(urlp, base, "tts/websocket", true, NULL, 0,
		                    why);
	if (d != WSVOICE_ELEVENLABS) {
		*why = "is not a streaming voice";
		return EINVAL;
	}
	/* The voice is a path segment: an id, nothing that moves the
	 * path. */
	if (!voice[0] || strlen(voice) > 64 ||
	    strspn(voice, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                  "0123456789_-") != strlen(voice)) {
		*why = "tts_voice is not an ElevenLabs voice id";
		return EINVAL;
	}
	snprintf(path, sizeof(path), "v1/text-to-speech/%s/multi-stream-input",
	         voice);
	/* auto_mode: each clause is a whole phrase, to be said at once
	 * rather than held for more text; inactivity_timeout the longest
	 * ElevenLabs allows, so that a call's quiet spells rarely close
	 * it. */
	return url_endpoint(urlp, base, path, true,
	                    (const struct url_param[]){
	                        {"model_id", model},
	                        {"output_format", "ulaw_8000"},
	                        {"auto_mode", "true"},
	                        {"inactivity_timeout", "180"},
	                    },
	                    4, why);
}

/* ---- the clauses ------------------------------------------------------- */

static void retry_h(void *arg);
static void send_more(struct wsvoice *v);

static void clause_free(struct clause *c)
{
	free(c->pend);
	mem_deref(c);
}

static void drop_all(struct wsvoice *v)
{
	while (v->head) {
		struct clause *c = v->head;

		v->head = c->next;
		clause_free(c);
	}
	v->tail = &v->head;
	v->gen++;
	tmr_cancel(&v->silence);
}

static void silence_arm(struct wsvoice *v);

/* Fails every clause given: the first with err, the rest with
 * ECANCELED; the reason is logged without the key. */
static void fail(struct wsvoice *v, int err, uint16_t status, const char *what)
{
	struct clause *list = v->head, *c;
	char reason[PROVIDER_WHY_MAX], q[PROVIDER_WHY_MAX + 32];
	uint64_t gen;
	bool first = true;

	if (!list)
		return;
	provider_why(reason, err, 0, NULL, 0, what, v->pv->api_key);
	log_event(LOGL_WARN, v->call_id, "tts_failed",
	          "provider=%s stage=tts status=%u elapsed_ms=%llu "
	          "audio_bytes=%zu error=\"%s\"",
	          v->pv->name, status,
	          (unsigned long long)(clock_mono_ms() - v->t_first), v->bytes,
	          log_quote(q, sizeof(q), reason));
	v->head = NULL;
	v->tail = &v->head;
	v->gen++;
	gen = v->gen;
	tmr_cancel(&v->silence);
	while (list) {
		c = list;
		list = c->next;
		if (v->gen == gen)
			v->doneh(c->tag, first ? err : ECANCELED, v->arg);
		first = false;
		clause_free(c);
	}
}

/* Lets the socket go; the next one after the backoff. */
static void drop_socket(struct wsvoice *v)
{
	uint64_t age = v->open ? clock_mono_ms() - v->t_open : 0;
	uint32_t d;

	if (v->healthy || age >= HEALTHY_MS)
		v->streak = 0;
	else if (v->streak < 16)
		v->streak++;
	v->w = mem_deref(v->w);
	v->open = false;
	v->healthy = false;
	memset(v->zombies, 0, sizeof(v->zombies));
	v->reply_ctx[0] = '\0';
	for (struct clause *c = v->head; c; c = c->next)
		c->sent = false;
	/* A healthy socket's end (the provider's idle close) is made good
	 * at once: the next reply should not wait for a connection. */
	d = backoff_ms(v->streak, WSVOICE_BACKOFF_MS, WSVOICE_BACKOFF_MAX_MS);
	tmr_start(&v->retry, d, retry_h, v);
}

static void later_fail(void *arg)
{
	struct wsvoice *v = arg;

	fail(v, v->later_err, 0, "cannot send the text");
	/* Text that is not UTF-8 is ours to blame, not the socket's. */
	if (v->w && v->later_err != EINVAL)
		drop_socket(v);
}

static void on_silence(void *arg)
{
	struct wsvoice *v = arg;
	char what[80];

	snprintf(what, sizeof(what), "no audio within %u ms",
	         v->pv->timeout_ms);
	fail(v, ETIMEDOUT, 0, what);
	/* A provider that stopped answering on this socket may never
	 * again. */
	if (v->w)
		drop_socket(v);
}

static void silence_arm(struct wsvoice *v)
{
	if (v->head)
		tmr_start(&v->silence, v->pv->timeout_ms, on_silence, v);
	else
		tmr_cancel(&v->silence);
}

/* Hands n mu-law bytes of c on: out now if it is the first clause, else
 * into its buffer. False when the call cancelled or failed meanwhile. */
static bool audio_to(struct wsvoice *v, struct clause *c, const uint8_t *u,
                     size_t n)
{
	uint64_t gen = v->gen;

	if (c != v->head) {
		if (c->npend + n > WSVOICE_PENDING_MAX) {
			fail(v, EMSGSIZE, 0,
			     "a later clause's audio is over its bound");
			return false;
		}
		if (c->npend + n > c->cappend) {
			size_t cap = c->cappend ? c->cappend : 8192;
			uint8_t *b;

			while (cap < c->npend + n)
				cap *= 2;
			b = realloc(c->pend, cap);
			if (!b) {
				fail(v, ENOMEM, 0, "out of memory");
				return false;
			}
			c->pend = b;
			c->cappend = cap;
		}
		memcpy(c->pend + c->npend, u, n);
		c->npend += n;
		return true;
	}
	while (n && v->gen == gen) {
		size_t k = n < BLOCK ? n : BLOCK;

		g711_ulaw_decode(v->pcm, u, k);
		v->audioh(c->tag, v->pcm, k, v->arg);
		u += k;
		n -= k;
	}
	return v->gen == gen;
}

/* The first clauses whose audio is all in are over; the next one's
 * waiting audio goes out. */
static void pump(struct wsvoice *v)
{
	uint64_t gen = v->gen;

	while (v->head && v->gen == gen) {
		struct clause *c = v->head;

		if (c->npend) {
			uint8_t *p = c->pend;
			size_t n = c->npend;

			c->pend = NULL;
			c->npend = c->cappend = 0;
			(void)audio_to(v, c, p, n);
			free(p);
			continue;
		}
		if (!c->ended)
			break;
		v->head = c->next;
		if (!v->head)
			v->tail = &v->head;
		v->doneh(c->tag, 0, v->arg);
		clause_free(c);
	}
	if (v->gen != gen)
		return;
	if (!v->head)
		tmr_cancel(&v->silence);
	send_more(v);
}

/* The clause the audio or end of context ctx belongs to. */
static struct clause *clause_of(struct wsvoice *v, const char *ctx)
{
	for (struct clause *c = v->head; c; c = c->next) {
		if (c->sent && !c->ended && !strcmp(c->ctx, ctx))
			return c;
	}
	return NULL;
}

/* Base64 audio for c: decoded a block at a time, no copy. */
static int audio_b64(struct wsvoice *v, struct clause *c, const char *s,
                     size_t n)
{
	while (n) {
		size_t k = n < BLOCK_B64 ? n : BLOCK_B64, len = 0;
		int err = b64_decode(s, k, 0, v->raw, sizeof(v->raw), &len);

		if (err)
			return err;
		v->bytes += len;
		if (!audio_to(v, c, v->raw, len))
			return ECANCELED;
		s += k;
		n -= k;
	}
	return 0;
}

static void zombie_add(struct wsvoice *v, const char *ctx)
{
	uint64_t now = clock_mono_ms();

	for (size_t i = 0; i < WSVOICE_ELEVEN_CONTEXTS; i++) {
		struct zombie *z = &v->zombies[i];

		if (!z->ctx[0] || z->until <= now) {
			snprintf(z->ctx, sizeof(z->ctx), "%s", ctx);
			/* its end normally comes at once; half the stage's
			 * limit leaves the next reply time to be made */
			z->until = now + v->pv->timeout_ms / 2 + 1;
			return;
		}
	}
}

static bool zombie_end(struct wsvoice *v, const char *ctx)
{
	for (size_t i = 0; i < WSVOICE_ELEVEN_CONTEXTS; i++) {
		if (v->zombies[i].ctx[0] && !strcmp(v->zombies[i].ctx, ctx)) {
			memset(&v->zombies[i], 0, sizeof(v->zombies[i]));
			return true;
		}
	}
	return false;
}

/* ElevenLabs contexts open on the socket: clauses sent and not over,
 * and those a cancel closed, for as long as their end may still come. */
static unsigned contexts_open(const struct wsvoice *v)
{
	uint64_t now = clock_mono_ms();
	unsigned n = 0;

	for (const struct clause *c = v->head; c; c = c->next)
		n += c->sent && !c->ended;
	for (size_t i = 0; i < WSVOICE_ELEVEN_CONTEXTS; i++)
		n += v->zombies[i].ctx[0] && v->zombies[i].until > now;
	return n;
}

static void window_h(void *arg)
{
	send_more(arg);
}

/* The contexts are all taken: tries again when the first cancelled one
 * is given up, if its end has not come before. */
static void window_wait(struct wsvoice *v)
{
	uint64_t now = clock_mono_ms(), first = 0;

	for (size_t i = 0; i < WSVOICE_ELEVEN_CONTEXTS; i++) {
		const struct zombie *z = &v->zombies[i];

		if (z->ctx[0] && z->until > now && (!first || z->until < first))
			first = z->until;
	}
	if (first)
		tmr_start(&v->window, first - now, window_h, v);
}

/* Sends the clauses not sent yet, as far as the provider takes them. */
static void send_more(struct wsvoice *v)
{
	if (!v->open)
		return;
	for (struct clause *c = v->head; c; c = c->next) {
		int err;

		if (c->sent)
			continue;
		if (v->d == WSVOICE_ELEVENLABS) {
			if (contexts_open(v) >= WSVOICE_ELEVEN_CONTEXTS) {
				window_wait(v);
				return;
			}
			snprintf(c->ctx, sizeof(c->ctx), "vg%llu",
			         (unsigned long long)++v->seq);
			err = wsvoice_eleven_say(v->w, c->ctx, c->text, c->len);
		} else {
			if (v->reply_ctx[0] && v->reply_tag != c->tag) {
				(void)wsvoice_cartesia_end(v->w, v->pv,
				                           v->reply_ctx);
				v->reply_ctx[0] = '\0';
			}
			if (!v->reply_ctx[0]) {
				snprintf(v->reply_ctx, sizeof(v->reply_ctx),
				         "vg%llu",
				         (unsigned long long)++v->seq);
				v->reply_tag = c->tag;
			}
			snprintf(c->ctx, sizeof(c->ctx), "%s", v->reply_ctx);
			err = wsvoice_cartesia_say(v->w, v->pv, c->ctx, c->text,
			                           c->len);
		}
		if (err) {
			/* Not here: this may run inside wsvoice_say. */
			v->later_err = err;
			tmr_start(&v->later, 0, later_fail, v);
			return;
		}
		c->sent = true;
	}
}

/* ---- the socket -------------------------------------------------------- */

static void on_open(void *arg)
{
	struct wsvoice *v = arg;
	struct wsc_stats ws;

	v->open = true;
	v->t_open = clock_mono_ms();
	v->st.opened++;
	wsc_stats(v->w, &ws);
	log_event(LOGL_DEBUG, v->call_id, "tts_connected",
	          "provider=%s connect_ms=%u", v->pv->name, ws.connect_ms);
	send_more(v);
}

static void on_msg(enum wsc_op op, const uint8_t *p, size_t n, void *arg)
{
	struct wsvoice *v = arg;
	struct wsvoice_msg m;
	struct clause *c = NULL;
	void *root;
	uint64_t gen = v->gen;

	if (op != WSC_TEXT)
		return;
	if (wsvoice_read(v->d, p, n, &m, &root)) {
		log_event(LOGL_WARN, v->call_id, "tts_bad_message",
		          "provider=%s len=%zu", v->pv->name, n);
		return;
	}
	if (m.ctx_bad)
		goto out;
	if (m.ctx[0]) {
		c = clause_of(v, m.ctx);
		if (!c && v->d == WSVOICE_ELEVENLABS && m.end &&
		    zombie_end(v, m.ctx))
			send_more(v);
	} else if (m.error || m.audio) {
		/* An error (or the audio of a dialect without contexts)
		 * for no context: the one being made. */
		for (c = v->head; c && (!c->sent || c->ended); c = c->next)
			;
	}
	if (m.error) {
		/* One for another context is about audio no longer
		 * wanted; without one, or for ours, the clauses fail, and
		 * the socket is made anew: what else it holds is suspect. */
		if (c || !m.ctx[0]) {
			fail(v, m.auth ? EACCES : EPROTO, m.status, m.why);
			if (v->w)
				drop_socket(v);
		}
		goto out;
	}
	if (!c)
		goto out;
	silence_arm(v);
	if (m.audio) {
		int err = audio_b64(v, c, m.audio, m.audio_len);

		v->healthy = true;
		if (err == EBADMSG)
			fail(v, EPROTO, 0, "audio that is not base64");
		if (err)
			goto out;
	}
	if (m.end && v->gen == gen) {
		c->ended = true;
		pump(v);
	}
out:
	json_decref(root);
}

static void on_close(const struct wsc_end *end, void *arg)
{
	struct wsvoice *v = arg;
	char what[PROVIDER_WHY_MAX];
	int err;

	if (end->status == 401 || end->status == 403 ||
	    (end->code == 1008 && end->reason &&
	     (strcasestr(end->reason, "key") ||
	      strcasestr(end->reason, "auth"))))
		err = EACCES;
	else if (end->err)
		err = end->err;
	else
		err = ECONNRESET;
	snprintf(what, sizeof(what), "%s%s (close %u)",
	         end->opened ? "socket closed: " : "cannot connect: ",
	         end->reason && end->reason[0] ? end->reason : "no reason",
	         end->code);
	drop_socket(v);
	fail(v, err, end->opened ? 0 : end->status, what);
}

static void connect_now(struct wsvoice *v)
{
	struct wsc_header h[2];
	struct wsc_prm prm = {0};
	const char *why = NULL;
	size_t hc = 0;
	int err;

	tmr_cancel(&v->retry);
	if (v->w)
		return;
	if (v->d == WSVOICE_ELEVENLABS) {
		if (v->pv->api_key[0])
			h[hc++] =
			    (struct wsc_header){"xi-api-key", v->pv->api_key};
	} else {
		h[hc++] = (struct wsc_header){"Cartesia-Version",
		                              WSVOICE_CARTESIA_VERSION};
		if (v->pv->api_key[0])
			h[hc++] =
			    (struct wsc_header){"X-API-Key", v->pv->api_key};
	}
	prm.url = v->pv->url;
	prm.headerv = h;
	prm.headerc = hc;
	prm.label = v->pv->name;
	prm.call_id = v->call_id;
	prm.max_message = MAX_MESSAGE;
	prm.idle_ms = IDLE_MS;
	prm.openh = on_open;
	prm.msgh = on_msg;
	prm.closeh = on_close;
	prm.arg = v;
	v->st.connects++;
	err = wsc_alloc(&v->w, &prm, &why);
	if (err) {
		/* The endpoint was checked at start: memory. */
		v->w = NULL;
		v->later_err = err;
		tmr_start(&v->later, 0, later_fail, v);
	}
}

static void retry_h(void *arg)
{
	connect_now(arg);
}

/* ---- the seam ---------------------------------------------------------- */

static void destructor(void *arg)
{
	struct wsvoice *v = arg;

	tmr_cancel(&v->retry);
	tmr_cancel(&v->silence);
	tmr_cancel(&v->later);
	tmr_cancel(&v->window);
	drop_all(v);
	v->w = mem_deref(v->w);
}

int wsvoice_alloc(struct wsvoice **vp, const struct provider *pv,
                  const char *call_id, wsvoice_audio_h *audioh,
                  wsvoice_done_h *doneh, void *arg)
{
	struct wsvoice *v;

	if (!vp || !pv || !pv->url || !pv->api_key || !pv->model ||
	    !pv->voice || !audioh || !doneh ||
	    wsvoice_dialect(pv->name) == WSVOICE_NONE)
		return EINVAL;
	v = mem_zalloc(sizeof(*v), destructor);
	if (!v)
		return ENOMEM;
	v->pv = pv;
	v->d = wsvoice_dialect(pv->name);
	v->call_id = call_id;
	v->audioh = audioh;
	v->doneh = doneh;
	v->arg = arg;
	v->tail = &v->head;
	tmr_init(&v->retry);
	tmr_init(&v->silence);
	tmr_init(&v->later);
	tmr_init(&v->window);
	/* Now, so that the first clause finds the socket open. */
	tmr_start(&v->retry, 0, retry_h, v);
	*vp = v;
	return 0;
}

int wsvoice_say(struct wsvoice *v, const char *text, size_t len, uint32_t tag)
{
	struct clause *c;

	if (!v || (len && !text))
		return EINVAL;
	c = mem_zalloc(sizeof(*c) + len + 1, NULL);
	if (!c)
		return ENOMEM;
	c->tag = tag;
	c->len = len;
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	if (!v->head) {
		v->t_first = clock_mono_ms();
		v->bytes = 0;
		tmr_start(&v->silence, v->pv->timeout_ms, on_silence, v);
	}
	*v->tail = c;
	v->tail = &c->next;
	if (!v->w)
		tmr_start(&v->retry, 0, retry_h, v);
	else
		send_more(v);
	return 0;
}

bool wsvoice_busy(const struct wsvoice *v)
{
	return v && v->head;
}

void wsvoice_cancel(struct wsvoice *v)
{
	char last[WSVOICE_CTX_MAX] = "";

	if (!v)
		return;
	tmr_cancel(&v->later);
	for (struct clause *c = v->head; c && v->open; c = c->next) {
		if (!c->sent || c->ended || !strcmp(c->ctx, last))
			continue;
		/* An ElevenLabs context is closed as soon as its text is
		 * sent: what it still makes is ignored, and it counts
		 * against the socket's contexts until its end comes. A
		 * Cartesia context is told to stop. */
		if (v->d == WSVOICE_ELEVENLABS)
			zombie_add(v, c->ctx);
		else if (!wsvoice_cartesia_cancel(v->w, c->ctx))
			v->st.cancels++;
		snprintf(last, sizeof(last), "%s", c->ctx);
	}
	/* A cancelled Cartesia context takes no more: the next reply has
	 * a new one. */
	if (v->d == WSVOICE_CARTESIA && last[0])
		v->reply_ctx[0] = '\0';
	drop_all(v);
}

void wsvoice_stats(const struct wsvoice *v, struct wsvoice_stats *st)
{
	*st = v->st;
	st->open = v->open;
}
