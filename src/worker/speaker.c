/*
 * The speaker (speaker.h). Clauses wait in the call's queue and are said
 * one at a time, in order, each by one of two voices:
 *
 * - the embedded synthesiser: a job on the call's engine queue; tts_synth
 *   hands each chunk as it is made to engine_job_out, which takes it to
 *   the loop, and stops at the chunk after a cancel;
 * - an OpenAI-compatible /audio/speech: a POST on the loop's HTTP client
 *   asking for response_format pcm (16-bit mono at 24 kHz, OpenAI's
 *   documented rate) or wav (Piper servers answer at their voice's rate:
 *   the header says which), each piece of the body resampled to 8 kHz
 *   with speexdsp and handed on as it arrives, so the first words play
 *   while the rest is on its way. The stage's timeout bounds the wait for
 *   the first audio and then each silence of the stream.
 *
 * A clause at a time per call: the next request starts when the last
 * clause's audio is in, which a provider sends faster than it plays, so
 * the caller hears no gap, and a cancel has one request to drop.
 *
 * A streaming voice on a WebSocket (ElevenLabs, Cartesia: wsvoice.h)
 * takes each network clause as soon as it is queued, so that the
 * provider has the text while the brain still writes; it answers in the
 * order given. An embedded clause queued behind network ones waits for
 * them to be over, and the clauses behind it for it, so the order holds.
 */
#include <errno.h>
#include <jansson.h>
#include <speex/speex_resampler.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/wavhdr.h"
#include "net/httpc.h"
#include "worker/engine.h"
#include "worker/provider.h"
#include "worker/speaker.h"
#include "worker/wsvoice.h"
#include "speech/tts.h"

#define NET_RATE 24000
#define BLOCK    480 /* input samples resampled at a time: 20 ms at 24 kHz */
/* A wav answer's rates taken: 8 kHz is the least a BLOCK's output has
 * room for, 48 kHz the most any voice makes. */
#define WAV_RATE_MIN 8000
#define WAV_RATE_MAX 48000
/* Bytes of a wav answer's header waited for: a plain one is 44, a LIST
 * chunk of tags adds tens; one that claims more is refused. */
#define WAV_HDR_MAX 1024
/* speexdsp's quality: 3 is its VoIP setting; the phone band needs no
 * more. */
#define RS_QUALITY 3

struct item {
	struct item *next;
	uint32_t tag;
	bool embedded;
	size_t len;
	char text[];
};

struct speaker {
	struct engine_queue *q;
	struct tts *tts;
	const struct provider *net;
	const char *call_id;
	speaker_audio_h *audioh;
	speaker_done_h *doneh;
	void *arg;
	struct item *head, **tail;
	struct item *cur; /* being said */
	bool draining;    /* inside next(): it loops, no nesting */
	/* speaker_say never calls a handler: what it queues starts from
	 * the loop */
	struct tmr kick;
	/* the network clause in progress */
	struct httpc_req *req;
	SpeexResamplerState *rs;
	uint16_t status;
	uint64_t t_start;
	size_t bytes;   /* of audio received */
	bool has_carry; /* an odd byte waits for its pair */
	uint8_t carry;
	int16_t in[BLOCK];
	size_t nin;
	char ebody[PROVIDER_ERRBODY_MAX];
	size_t elen;
	/* tts_format wav: the header gathered until the samples start, then
	 * the data chunk's bytes still to come (UINT64_MAX: to the end) */
	bool wav, in_data;
	uint8_t hdr[WAV_HDR_MAX];
	size_t hlen;
	uint64_t left;
	char why[PROVIDER_WHY_MAX];
	/* a network clause failed: the rest of its tag's are not tried */
	bool failed;
	uint32_t failed_tag;
	/* the streaming voice, when the network voice is one */
	struct wsvoice *ws;
};

struct sjob {
	struct speaker *s; /* valid whenever a handler runs */
	struct tts *tts;
	struct engine_job *job; /* while it runs */
	uint32_t tag;
	int err;
	char text[];
};

static void next(struct speaker *s);
static void kicked(void *arg);
static void ws_audio(uint32_t tag, const int16_t *pcm, size_t n, void *arg);
static void ws_done(uint32_t tag, int err, void *arg);
static void net_failed(struct speaker *s, int err, uint16_t status,
                       const char *reason);

/* ---- the embedded voice ------------------------------------------------ */

static bool on_chunk(const int16_t *pcm, size_t n, void *arg)
{
	struct sjob *j = arg;

	return engine_job_out(j->job, pcm, n * sizeof(*pcm)) == 0;
}

static void work(struct engine_job *job, void *arg)
{
	struct sjob *j = arg;

	j->job = job;
	j->err = tts_synth(j->tts, j->text, on_chunk, j);
}

static void out(const void *data, size_t len, void *arg)
{
	struct sjob *j = arg;

	j->s->audioh(j->tag, data, len / sizeof(int16_t), j->s->arg);
}

/* The clause in progress is over; the next starts. */
static void clause_over(struct speaker *s, uint32_t tag, int err,
                        const char *why)
{
	s->cur = mem_deref(s->cur);
	s->doneh(tag, err, why, s->arg);
	next(s);
}

static void job_done(void *arg)
{
	struct sjob *j = arg;

	clause_over(j->s, j->tag, j->err, NULL);
}

static int say_embedded(struct speaker *s, const struct item *it)
{
	struct sjob *j;
	int err;

	j = mem_zalloc(sizeof(*j) + it->len + 1, NULL);
	if (!j)
		return ENOMEM;
	j->s = s;
	j->tts = s->tts;
	j->tag = it->tag;
	memcpy(j->text, it->text, it->len);
	j->text[it->len] = '\0';
	err = engine_submit(s->q, work, out, job_done, j);
	mem_deref(j);
	return err;
}

/* ---- the network voice ------------------------------------------------- */

/* Resamples the block waiting and hands it on. */
static void block_out(struct speaker *s)
{
	int16_t o[BLOCK * 8000 / WAV_RATE_MIN + 16];
	spx_uint32_t in_len = (spx_uint32_t)s->nin;
	spx_uint32_t out_len = sizeof(o) / sizeof(o[0]);

	if (!s->nin)
		return;
	(void)speex_resampler_process_int(s->rs, 0, s->in, &in_len, o,
	                                  &out_len);
	s->nin = 0;
	if (out_len)
		s->audioh(s->cur->tag, o, out_len, s->arg);
}

static void net_head(uint16_t status, void *arg)
{
	struct speaker *s = arg;

	s->status = status;
}

/* Samples of the answer's body, the data chunk's with wav. */
static void pcm_in(struct speaker *s, const uint8_t *data, size_t n)
{
	struct item *cur = s->cur;

	if (n > s->left)
		n = (size_t)s->left; /* a chunk after the data: not audio */
	if (s->left != UINT64_MAX)
		s->left -= n;
	s->bytes += n;
	for (size_t i = 0; i < n && s->cur == cur; i++) {
		if (!s->has_carry) {
			s->carry = data[i];
			s->has_carry = true;
			continue;
		}
		s->has_carry = false;
		s->in[s->nin++] =
		    (int16_t)(uint16_t)(s->carry | (uint16_t)data[i] << 8);
		if (s->nin == BLOCK)
			block_out(s);
	}
}

/* The wav answer's header, once whole: 0 and the samples' offset in
 * s->hdr, EAGAIN for more, else why in s->why. */
static int wav_start(struct speaker *s, size_t *off)
{
	struct wavhdr h;
	const char *why = NULL;
	int err = wavhdr_read(&h, s->hdr, s->hlen, sizeof(s->hdr), &why);

	if (err == EAGAIN)
		return err;
	if (err) {
		snprintf(s->why, sizeof(s->why), "a bad WAV header: %s", why);
		return err;
	}
	if (h.format != 1 || h.channels != 1 || h.bits != 16) {
		snprintf(s->why, sizeof(s->why),
		         "a WAV of format %u, %u channels, %u bits: not 16-bit "
		         "mono PCM",
		         h.format, h.channels, h.bits);
		return ENOTSUP;
	}
	if (h.rate < WAV_RATE_MIN || h.rate > WAV_RATE_MAX) {
		snprintf(s->why, sizeof(s->why),
		         "a WAV at %u Hz: not within %u-%u Hz", h.rate,
		         WAV_RATE_MIN, WAV_RATE_MAX);
		return ENOTSUP;
	}
	speex_resampler_set_rate(s->rs, h.rate, 8000);
	speex_resampler_reset_mem(s->rs);
	speex_resampler_skip_zeros(s->rs);
	/* a streamed header's sizes are unknown: 0 or all ones */
	s->left = h.data_len && h.data_len != WAVHDR_LEN_UNKNOWN ? h.data_len
	                                                         : UINT64_MAX;
	s->in_data = true;
	*off = h.data_off;
	return 0;
}

static void net_body(const uint8_t *data, size_t n, void *arg)
{
	struct speaker *s = arg;
	struct item *cur = s->cur;
	size_t k, off;
	int err;

	if (s->status != 200) {
		k = n < sizeof(s->ebody) - 1 - s->elen
		        ? n
		        : sizeof(s->ebody) - 1 - s->elen;
		memcpy(s->ebody + s->elen, data, k);
		s->elen += k;
		return;
	}
	if (!s->wav || s->in_data) {
		pcm_in(s, data, n);
		return;
	}
	/* Until the samples start: the header waits whole, bounded (a
	 * header that does not fit is refused, so none is left over). */
	k = n < sizeof(s->hdr) - s->hlen ? n : sizeof(s->hdr) - s->hlen;
	memcpy(s->hdr + s->hlen, data, k);
	s->hlen += k;
	err = wav_start(s, &off);
	if (err == EAGAIN)
		return;
	if (err) {
		s->req = mem_deref(s->req);
		net_failed(s, err, 200, s->why);
		return;
	}
	pcm_in(s, s->hdr + off, s->hlen - off);
	if (s->cur == cur)
		pcm_in(s, data + k, n - k);
}

/* The clause in progress failed: logged, and the reply's other network
 * clauses are not tried. */
static void net_failed(struct speaker *s, int err, uint16_t status,
                       const char *reason)
{
	uint32_t tag = s->cur->tag;
	uint64_t ms = clock_mono_ms() - s->t_start;
	char q[PROVIDER_WHY_MAX + 32];

	log_event(LOGL_WARN, s->call_id, "tts_failed",
	          "provider=%s stage=tts status=%u elapsed_ms=%llu "
	          "audio_bytes=%zu error=\"%s\"",
	          s->net->name, status, (unsigned long long)ms, s->bytes,
	          log_quote(q, sizeof(q), reason));
	s->failed = true;
	s->failed_tag = tag;
	clause_over(s, tag, err, reason);
}

static void net_done(int err, uint16_t status, const char *why, void *arg)
{
	struct speaker *s = arg;
	char reason[PROVIDER_WHY_MAX];
	int transfer;

	s->req = mem_deref(s->req);
	if (!err && status == 200 && s->bytes >= 2) {
		/* The resampler's delay: the clause's last milliseconds are
		 * still in its filter. */
		int lat = speex_resampler_get_input_latency(s->rs);

		block_out(s);
		while (lat > 0) {
			size_t k = (size_t)lat < BLOCK ? (size_t)lat : BLOCK;

			memset(s->in, 0, k * sizeof(s->in[0]));
			s->nin = k;
			block_out(s);
			lat -= (int)k;
		}
		clause_over(s, s->cur->tag, 0, NULL);
		return;
	}
	transfer = err ? err : status == 200 ? ENODATA : 0;
	if (!err)
		err = status == 401 || status == 403 ? EACCES
		      : status == 200                ? ENODATA
		                                     : EPROTO;
	provider_why(reason, transfer, status, s->ebody, s->elen,
	             err == ENODATA
	                 ? (s->wav && !s->in_data ? "the WAV header cut short"
	                                          : "no audio in the answer")
	                 : why,
	             s->net->api_key);
	net_failed(s, err, status, reason);
}

static int say_net(struct speaker *s, const struct item *it)
{
	const struct provider *pv = s->net;
	const char *hdrs[3] = {"Content-Type: application/json", NULL, NULL};
	struct httpc_prm prm = {0};
	char *body, *auth = NULL;
	json_t *root;
	int err;

	root = json_pack("{s:s,s:s%,s:s,s:s}", "model", pv->model, "input",
	                 it->text, it->len, "voice", pv->voice,
	                 "response_format", s->wav ? "wav" : "pcm");
	if (!root)
		return EINVAL; /* not UTF-8 */
	body = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!body)
		return ENOMEM;
	err = provider_auth(&auth, pv->api_key);
	hdrs[1] = auth;
	prm.url = pv->url;
	prm.headers = hdrs;
	prm.body = body;
	prm.body_len = strlen(body);
	prm.connect_ms = pv->timeout_ms;
	prm.idle_ms = pv->timeout_ms;
	s->status = 0;
	s->bytes = 0;
	s->elen = 0;
	s->nin = 0;
	s->has_carry = false;
	s->hlen = 0;
	s->in_data = false;
	s->left = UINT64_MAX;
	speex_resampler_set_rate(s->rs, NET_RATE, 8000);
	speex_resampler_reset_mem(s->rs);
	speex_resampler_skip_zeros(s->rs);
	s->t_start = clock_mono_ms();
	if (!err)
		err = httpc_request(&s->req, pv->http, &prm, net_head, net_body,
		                    net_done, s);
	free(auth);
	free(body);
	return err;
}

/* ---- the queue --------------------------------------------------------- */

/* Starts the clauses waiting, one at a time; those that cannot start are
 * over at once. */
static void next(struct speaker *s)
{
	if (s->draining)
		return;
	s->draining = true;
	while (!s->cur && s->head) {
		struct item *it = s->head;
		int err;

		if (s->ws &&
		    (it->embedded || (s->failed && s->failed_tag == it->tag))) {
			/* Said, or refused, after the clauses before it. */
			if (wsvoice_busy(s->ws))
				break;
		} else if (s->ws) {
			err = wsvoice_say(s->ws, it->text, it->len, it->tag);
			if (err && wsvoice_busy(s->ws))
				break; /* tried again after those */
			s->head = it->next;
			if (!s->head)
				s->tail = &s->head;
			if (err)
				s->doneh(it->tag, err, NULL, s->arg);
			mem_deref(it);
			continue;
		}
		s->head = it->next;
		if (!s->head)
			s->tail = &s->head;
		it->next = NULL;
		s->cur = it;
		if (!it->embedded && s->failed && s->failed_tag == it->tag)
			err = ECANCELED;
		else if (it->embedded || !s->net)
			err = say_embedded(s, it);
		else
			err = say_net(s, it);
		if (err) {
			uint32_t tag = it->tag;

			s->cur = mem_deref(s->cur);
			s->doneh(tag, err, NULL, s->arg);
		}
	}
	s->draining = false;
}

static void flush(struct speaker *s)
{
	engine_queue_flush(s->q);
	wsvoice_cancel(s->ws);
	s->req = mem_deref(s->req);
	s->cur = mem_deref(s->cur);
	while (s->head) {
		struct item *it = s->head;

		s->head = it->next;
		mem_deref(it);
	}
	s->tail = &s->head;
}

static void speaker_destructor(void *arg)
{
	struct speaker *s = arg;

	tmr_cancel(&s->kick);
	flush(s);
	mem_deref(s->ws);
	mem_deref(s->q);
	if (s->rs)
		speex_resampler_destroy(s->rs);
}

int speaker_alloc(struct speaker **sp, const struct speaker_config *cfg,
                  speaker_audio_h *audioh, speaker_done_h *doneh, void *arg)
{
	struct speaker *s;
	int err;

	if (!sp || !cfg || !cfg->tts || !cfg->pool || !audioh || !doneh ||
	    (cfg->net && (!cfg->net->http || !cfg->net->url)))
		return EINVAL;
	s = mem_zalloc(sizeof(*s), speaker_destructor);
	if (!s)
		return ENOMEM;
	s->tts = cfg->tts;
	s->net = cfg->net;
	s->call_id = cfg->call_id;
	s->audioh = audioh;
	s->doneh = doneh;
	s->arg = arg;
	s->tail = &s->head;
	tmr_init(&s->kick);
	if (s->net && wsvoice_dialect(s->net->name) != WSVOICE_NONE) {
		err = wsvoice_alloc(&s->ws, s->net, s->call_id, ws_audio,
		                    ws_done, s);
		if (err) {
			mem_deref(s);
			return err;
		}
	} else if (s->net) {
		int rerr = 0;

		s->wav = s->net->format && !strcmp(s->net->format, "wav");
		s->rs =
		    speex_resampler_init(1, NET_RATE, 8000, RS_QUALITY, &rerr);
		if (!s->rs) {
			mem_deref(s);
			return ENOMEM;
		}
	}
	err = engine_queue_alloc(&s->q, cfg->pool);
	if (err) {
		mem_deref(s);
		return err;
	}
	*sp = s;
	return 0;
}

static void ws_audio(uint32_t tag, const int16_t *pcm, size_t n, void *arg)
{
	struct speaker *s = arg;

	s->audioh(tag, pcm, n, s->arg);
}

static void ws_done(uint32_t tag, int err, void *arg)
{
	struct speaker *s = arg;

	if (err && err != ECANCELED) {
		s->failed = true;
		s->failed_tag = tag;
	}
	s->doneh(tag, err, NULL, s->arg);
	/* What waited for the stream starts from the loop. */
	if (s->head && !s->cur)
		tmr_start(&s->kick, 0, kicked, s);
}

static void kicked(void *arg)
{
	next(arg);
}

static int enqueue(struct speaker *s, const char *text, size_t len,
                   uint32_t tag, bool embedded)
{
	struct item *it;

	if (!s || (len && !text))
		return EINVAL;
	it = mem_zalloc(sizeof(*it) + len + 1, NULL);
	if (!it)
		return ENOMEM;
	it->tag = tag;
	it->embedded = embedded;
	it->len = len;
	memcpy(it->text, text, len);
	it->text[len] = '\0';
	*s->tail = it;
	s->tail = &it->next;
	if (!s->cur)
		tmr_start(&s->kick, 0, kicked, s);
	return 0;
}

int speaker_say(struct speaker *s, const char *text, size_t len, uint32_t tag)
{
	return enqueue(s, text, len, tag, false);
}

int speaker_say_embedded(struct speaker *s, const char *text, size_t len,
                         uint32_t tag)
{
	return enqueue(s, text, len, tag, true);
}

void speaker_cancel(struct speaker *s)
{
	if (!s)
		return;
	flush(s);
	/* A new reply is a new chance for the network voice. */
	s->failed = false;
}
