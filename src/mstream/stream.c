/*
 * Media Streams calls (stream.h).
 *
 * DESIGN. A stream goes WAITING (socket open, no start yet) → LIVE (in a
 * room, agent running, ticking) → ENDED. Ending is deferred to a 0 ms
 * timer so that nothing is freed under a libre or agent callback still on
 * the stack: the agent's hangup, the socket's receive handler, a kick.
 *
 * The caller's audio is a byte FIFO of G.711 filled by "media" frames of
 * any size, taken 160 bytes per 20 ms tick; an empty FIFO is a lost frame
 * to the agent. It holds FIFO_FRAMES: a burst beyond that (a TCP stall
 * released at once) drops the oldest, keeping the delay bounded. The
 * agent's audio goes out as it is made, one frame per tick: the carrier
 * then holds next to nothing, and "clear" on barge-in drops at most the
 * frame in flight.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include "core/clock.h"
#include "core/libre.h"
#include "media/agent.h"
#include "mstream/mstream.h"
#include "mstream/stream.h"
#include "carrier/twilio.h"
#include "core/id.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/g711.h"
#include "net/wsguard.h"
#include "room/room.h"

#define FRAME            160 /* 20 ms at 8 kHz */
#define TICK_US          20000
#define FIFO_FRAMES      25 /* 500 ms */
#define CATCH_UP         5  /* ticks run at once after the loop was held up */
#define KEEPALIVE_MS     30000 /* libre counts it in ms */
#define OUT_FRAME_SZ     512   /* a media frame of 160 bytes is about 300 */
#define START_TIMEOUT_MS 10000 /* from the socket to its start frame */
#define MEDIA_TIMEOUT_MS 15000

enum stream_state {
	STREAM_WAITING,
	STREAM_LIVE,
	STREAM_ENDED,
};

struct stream_server {
	struct stream_params prm;
	char *twilio_token, *public_url, *telnyx_token;
	struct websock *ws;
	struct list streams;
};

struct stream {
	struct le le;
	struct stream_server *srv;
	struct websock_conn *wc;
	enum mstream_dialect dialect;
	enum stream_state state;
	bool alaw;
	char id[32]; /* ours, for the logs */
	char stream_id[80], call_id[160], from[128], to[128], room[200];
	struct participant *participant;
	const struct agent_ops *ops;
	void *agent;
	struct tmr tick, end_tmr;
	uint64_t next_us, arrival_us;
	struct ring caller; /* G.711 from the carrier, FIFO_FRAMES at most */
	uint64_t frames_in, frames_out, lost, dropped;
	char end_reason[120];
	enum websock_scode close_code;
	bool peer_closed;
	struct mstream_msg
	    msg; /* the frame being read (large: not on the stack) */
	char out[OUT_FRAME_SZ];
};

static const char *dialect_name(enum mstream_dialect d)
{
	return d == MSTREAM_TWILIO ? "twilio" : "telnyx";
}

/* ---- ending ----------------------------------------------------------- */

static void reap(void *arg)
{
	struct stream *st = arg;

	tmr_cancel(&st->tick);
	if (st->agent)
		st->ops->stop(st->agent);
	st->agent = NULL;
	if (st->participant)
		participant_leave(st->participant, "CLIENT_INITIATED");
	st->participant = NULL;
	log_event(LOGL_INFO, st->id, "stream_ended",
	          "carrier=%s stream=%s call=%s reason=\"%s\" frames_in=%llu "
	          "frames_out=%llu lost=%llu dropped=%llu",
	          dialect_name(st->dialect), st->stream_id, st->call_id,
	          st->end_reason, (unsigned long long)st->frames_in,
	          (unsigned long long)st->frames_out,
	          (unsigned long long)st->lost,
	          (unsigned long long)st->dropped);
	if (!st->peer_closed)
		(void)websock_close(st->wc, st->close_code, "%s",
		                    st->end_reason);
	mem_deref(st);
}

/* Ends the stream once the current callback has returned; the first
 * reason stays. */
static void end(struct stream *st, enum websock_scode code, const char *reason)
{
	if (st->state == STREAM_ENDED)
		return;
	st->state = STREAM_ENDED;
	st->close_code = code;
	snprintf(st->end_reason, sizeof(st->end_reason), "%s", reason);
	tmr_cancel(&st->tick);
	tmr_start(&st->end_tmr, 0, reap, st);
}

/* ---- the agent's side ------------------------------------------------- */

static void agent_hangup(void *arg, const char *reason)
{
	end(arg, WEBSOCK_NORMAL_CLOSURE, reason ? reason : "agent hung up");
}

static void agent_interrupted(void *arg)
{
	struct stream *st = arg;
	size_t n;

	if (st->state != STREAM_LIVE)
		return;
	n = mstream_clear(st->out, sizeof(st->out), st->dialect, st->stream_id);
	if (n && !websock_send(st->wc, WEBSOCK_TEXT, "%b", st->out, n))
		log_event(LOGL_INFO, st->id, "stream_clear", "stream=%s",
		          st->stream_id);
}

static void kicked(struct participant *p, const char *reason, void *arg)
{
	struct stream *st = arg;

	participant_leave(p, reason);
	st->participant = NULL;
	end(st, WEBSOCK_NORMAL_CLOSURE, "removed from the room");
}

/* ---- the 20 ms tick --------------------------------------------------- */

static void no_start(void *arg)
{
	end(arg, WEBSOCK_POLICY_VIOLATION, "no start frame");
}

static void frame_in(struct stream *st)
{
	int16_t pcm[FRAME];
	uint8_t g711[FRAME];

	if (ring_used(&st->caller) < FRAME) {
		st->lost++;
		st->ops->audio_in(st->agent, NULL, FRAME, 0);
		return;
	}
	(void)ring_read(&st->caller, g711, FRAME);
	if (st->alaw)
		g711_alaw_decode(pcm, g711, FRAME);
	else
		g711_ulaw_decode(pcm, g711, FRAME);
	st->ops->audio_in(st->agent, pcm, FRAME, st->arrival_us);
}

static void frame_out(struct stream *st)
{
	int16_t pcm[FRAME];
	uint8_t g711[FRAME];
	size_t n = st->ops->audio_out(st->agent, pcm, FRAME), len;

	if (!n)
		return;
	if (st->alaw)
		g711_alaw_encode(g711, pcm, n);
	else
		g711_ulaw_encode(g711, pcm, n);
	len = mstream_media(st->out, sizeof(st->out), st->dialect,
	                    st->stream_id, g711, n);
	if (len && !websock_send(st->wc, WEBSOCK_TEXT, "%b", st->out, len))
		st->frames_out++;
}

static void on_tick(void *arg)
{
	struct stream *st = arg;
	uint64_t now = clock_mono_us();
	unsigned timeout = st->srv->prm.media_timeout_ms
	                       ? st->srv->prm.media_timeout_ms
	                       : MEDIA_TIMEOUT_MS;
	int k = 0;

	if (now - st->arrival_us > (uint64_t)timeout * 1000u) {
		end(st, WEBSOCK_GOING_AWAY, "no media");
		return;
	}
	while (st->next_us <= now && k++ < CATCH_UP &&
	       st->state == STREAM_LIVE) {
		frame_in(st);
		frame_out(st);
		st->next_us += TICK_US;
	}
	if (st->state != STREAM_LIVE)
		return;
	if (st->next_us <= now)
		st->next_us = now + TICK_US;
	tmr_start(&st->tick, (st->next_us - now + 999) / 1000, on_tick, st);
}

/* ---- frames from the carrier ------------------------------------------ */

/* The ring is written and read on this thread alone: making room by
 * dropping the oldest audio is safe here. */
static void fifo_put(struct stream *st, const uint8_t *p, size_t n)
{
	size_t cap = FIFO_FRAMES * FRAME, space;

	if (n > cap) {
		st->dropped += n - cap;
		p += n - cap;
		n = cap;
	}
	space = cap - ring_used(&st->caller);
	if (n > space)
		st->dropped += ring_skip(&st->caller, n - space);
	(void)ring_write(&st->caller, p, n);
}

static const char *param(const struct mstream_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nparams; i++) {
		if (!strcmp(m->params[i].name, name))
			return m->params[i].value;
	}
	return "";
}

static int join_room(struct stream *st, const struct mstream_msg *m)
{
	struct room *room = NULL;
	char identity[200];
	json_t *attrs;
	bool created;
	int err;

	snprintf(st->room, sizeof(st->room), "pstn-%s", st->call_id);
	err = room_ensure(st->srv->prm.rooms, st->room, NULL, &room, &created);
	if (err)
		return err;
	if (*st->from)
		snprintf(identity, sizeof(identity), "sip_%s", st->from);
	else
		snprintf(identity, sizeof(identity), "stream_%s", st->call_id);
	attrs = json_pack("{s:s,s:s,s:s}", "voxgate.carrier",
	                  dialect_name(st->dialect), "voxgate.streamSid",
	                  st->stream_id, "sip.callStatus", "active");
	if (!attrs)
		return ENOMEM;
	if (st->dialect == MSTREAM_TWILIO) {
		json_object_set_new(attrs, "sip.twilio.callSid",
		                    json_string(st->call_id));
		if (*m->account_id)
			json_object_set_new(attrs, "sip.twilio.accountSid",
			                    json_string(m->account_id));
	} else {
		json_object_set_new(attrs, "sip.telnyx.callControlID",
		                    json_string(st->call_id));
	}
	if (*st->from)
		json_object_set_new(attrs, "sip.phoneNumber",
		                    json_string(st->from));
	if (*st->to)
		json_object_set_new(attrs, "sip.trunkPhoneNumber",
		                    json_string(st->to));
	const struct participant_info info = {
	    .identity = identity,
	    .kind = "SIP",
	    .attributes = attrs,
	    .track = &participant_phone_track,
	};
	const struct participant_ops ops = {.kick = kicked};
	err = participant_join(room, &info, &ops, st, &st->participant);
	json_decref(attrs);
	return err;
}

static void start_call(struct stream *st)
{
	const struct mstream_msg *m = &st->msg;
	struct agent_call_info info = {0};
	int err;

	if (strcmp(m->encoding, "PCMU") && strcmp(m->encoding, "PCMA")) {
		end(st, WEBSOCK_UNSUPPORTED_DATA,
		    "only PCMU and PCMA are supported");
		return;
	}
	st->alaw = !strcmp(m->encoding, "PCMA");
	snprintf(st->stream_id, sizeof(st->stream_id), "%s", m->stream_id);
	snprintf(st->call_id, sizeof(st->call_id), "%s", m->call_id);
	/* Twilio's start carries no numbers: our TwiML passes them as
	 * parameters. */
	snprintf(st->from, sizeof(st->from), "%s",
	         *m->from ? m->from : param(m, "From"));
	snprintf(st->to, sizeof(st->to), "%s", *m->to ? m->to : param(m, "To"));
	err = join_room(st, m);
	if (err) {
		log_event(LOGL_WARN, st->id, "stream_room_failed",
		          "room=%s error=\"%s\"", st->room, strerror(err));
		end(st, WEBSOCK_INTERNAL_ERROR, "cannot join the room");
		return;
	}
	info.call_id = st->id;
	info.from = st->from;
	info.to = st->to;
	info.sample_rate = 8000;
	info.room = st->room;
	info.participant = *st->from ? st->from : st->call_id;
	info.hangup = agent_hangup;
	info.hangup_arg = st;
	info.interrupted = agent_interrupted;
	st->ops = st->srv->prm.agent;
	err = st->ops->start(&st->agent, &info, st->srv->prm.assets);
	if (err) {
		st->agent = NULL;
		log_event(LOGL_WARN, st->id, "stream_agent_failed",
		          "error=\"%s\"", strerror(err));
		end(st, WEBSOCK_INTERNAL_ERROR, "no agent");
		return;
	}
	st->state = STREAM_LIVE;
	st->arrival_us = clock_mono_us();
	st->next_us = st->arrival_us + TICK_US;
	tmr_start(&st->tick, TICK_US / 1000, on_tick, st);
	log_event(LOGL_INFO, st->id, "stream_started",
	          "carrier=%s stream=%s call=%s from=%s to=%s room=%s "
	          "encoding=%s",
	          dialect_name(st->dialect), st->stream_id, st->call_id,
	          st->from, st->to, st->room, m->encoding);
}

static bool token_ok(const struct stream_server *s, const char *token)
{
	size_t n = strlen(s->telnyx_token);

	return n && strlen(token) == n &&
	       !CRYPTO_memcmp(token, s->telnyx_token, n);
}

static void on_frame(struct stream *st, const char *text, size_t len)
{
	struct mstream_msg *m = &st->msg;
	const char *why;
	int err = mstream_parse(m, st->dialect, text, len, &why);

	if (err) {
		log_event(LOGL_WARN, st->id, "stream_bad_frame",
		          "carrier=%s reason=\"%s\"", dialect_name(st->dialect),
		          why);
		end(st,
		    err == EMSGSIZE ? WEBSOCK_MESSAGE_TOO_BIG
		                    : WEBSOCK_INVALID_PAYLOAD,
		    why);
		return;
	}
	/* Telnyx repeats its token in "connected": one that differs from
	 * the request's is a guess, and the socket gets no second one. */
	if (m->event == MSTREAM_CONNECTED && st->dialect == MSTREAM_TELNYX &&
	    *m->token && !token_ok(st->srv, m->token)) {
		log_event(LOGL_WARN, st->id, "stream_refused",
		          "carrier=telnyx reason=\"wrong streaming token\"");
		end(st, WEBSOCK_POLICY_VIOLATION, "not authorised");
		return;
	}
	switch (m->event) {
	case MSTREAM_START:
		if (st->state == STREAM_WAITING)
			start_call(st);
		break;
	case MSTREAM_MEDIA:
		if (st->state != STREAM_LIVE) {
			end(st, WEBSOCK_PROTOCOL_ERROR, "media before start");
			return;
		}
		/* both_tracks streams also echo what we send */
		if (*m->track && strcmp(m->track, "inbound") &&
		    strcmp(m->track, "inbound_track"))
			break;
		st->arrival_us = clock_mono_us();
		st->frames_in++;
		fifo_put(st, m->payload, m->payload_len);
		break;
	case MSTREAM_DTMF:
		if (st->state == STREAM_LIVE && st->ops->dtmf)
			st->ops->dtmf(st->agent, m->digit, strlen(m->digit));
		break;
	case MSTREAM_STOP:
		end(st, WEBSOCK_NORMAL_CLOSURE, "stop");
		break;
	case MSTREAM_ERROR:
		log_event(LOGL_WARN, st->id, "stream_carrier_error",
		          "carrier=%s stream=%s", dialect_name(st->dialect),
		          st->stream_id);
		break;
	case MSTREAM_CONNECTED:
	case MSTREAM_MARK:
	case MSTREAM_CLEAR:
	case MSTREAM_UNKNOWN:
		break;
	}
}

static void stream_recv(const struct websock_hdr *hdr, struct mbuf *mb,
                        void *arg)
{
	struct stream *st = arg;

	if (st->state == STREAM_ENDED)
		return;
	if (hdr->opcode != WEBSOCK_TEXT) {
		end(st, WEBSOCK_UNSUPPORTED_DATA, "JSON text frames only");
		return;
	}
	on_frame(st, (const char *)mbuf_buf(mb), mbuf_get_left(mb));
}

static void stream_closed(int err, void *arg)
{
	struct stream *st = arg;

	st->peer_closed = true;
	end(st, WEBSOCK_NORMAL_CLOSURE, err ? strerror(err) : "closed");
}

static void stream_destructor(void *arg)
{
	struct stream *st = arg;

	tmr_cancel(&st->tick);
	tmr_cancel(&st->end_tmr);
	list_unlink(&st->le);
	mem_deref(st->wc);
	ring_reset(&st->caller);
}

/* ---- the server ------------------------------------------------------- */

/* Twilio signs the WebSocket request over the wss:// URL it opened. */
static bool twilio_signed(const struct stream_server *s,
                          const struct http_msg *msg, const char **why)
{
	const struct http_hdr *h = http_msg_xhdr(msg, "X-Twilio-Signature");
	const char *rest;
	char *url = NULL, *sig = NULL;
	bool ok;

	if (!*s->twilio_token) {
		*why = "twilio_auth_token is not set";
		return false;
	}
	if (!*s->public_url) {
		*why = "public_url is not set";
		return false;
	}
	if (!h) {
		*why = "no signature";
		return false;
	}
	rest = strstr(s->public_url, "://");
	if (asprintf(&url, "%s%s%.*s%.*s",
	             !strncmp(s->public_url, "https", 5) ? "wss" : "ws", rest,
	             (int)msg->path.l, msg->path.p, (int)msg->prm.l,
	             msg->prm.p) < 0)
		url = NULL;
	ok = url && !pl_strdup(&sig, &h->val) &&
	     !twilio_signature_check(s->twilio_token, url, NULL, NULL, 0, sig);
	free(url);
	mem_deref(sig);
	*why = "bad signature";
	return ok;
}

/* Telnyx sends its stream_auth_token in the upgrade request: checked there,
 * so that nobody without it reaches the WebSocket code at all. */
static bool telnyx_token_ok(const struct stream_server *s,
                            const struct http_msg *msg, const char **why)
{
	const struct http_hdr *h =
	    http_msg_xhdr(msg, "x-telnyx-streaming-auth-token");
	char token[256];

	if (!*s->telnyx_token) {
		*why = "telnyx_stream_token is not set";
		return false;
	}
	if (!h) {
		*why = "no streaming token";
		return false;
	}
	*why = "wrong streaming token";
	return h->val.l < sizeof(token) &&
	       !pl_strcpy(&h->val, token, sizeof(token)) && token_ok(s, token);
}

static void accept_stream(struct stream_server *s, struct http_conn *conn,
                          const struct http_msg *msg, enum mstream_dialect d)
{
	const char *why = NULL;
	struct stream *st;
	int err;

	if (d == MSTREAM_TWILIO && !twilio_signed(s, msg, &why)) {
		log_event(LOGL_WARN, NULL, "stream_refused",
		          "carrier=twilio reason=\"%s\"", why);
		http_ereply(conn, 403, "Forbidden");
		return;
	}
	if (d == MSTREAM_TELNYX && !telnyx_token_ok(s, msg, &why)) {
		log_event(LOGL_WARN, NULL, "stream_refused",
		          "carrier=telnyx reason=\"%s\"", why);
		http_ereply(conn, 403, "Forbidden");
		return;
	}
	st = mem_zalloc(sizeof(*st), stream_destructor);
	if (!st) {
		http_ereply(conn, 500, "Internal Server Error");
		return;
	}
	st->srv = s;
	st->dialect = d;
	if (ring_init(&st->caller, FIFO_FRAMES * FRAME)) {
		http_ereply(conn, 500, "Internal Server Error");
		mem_deref(st);
		return;
	}
	id_make(st->id, sizeof(st->id), "SMS_");
	tmr_init(&st->tick);
	tmr_init(&st->end_tmr);
	err = websock_accept(&st->wc, s->ws, conn, msg, KEEPALIVE_MS,
	                     stream_recv, stream_closed, st);
	if (err) {
		log_event(LOGL_WARN, NULL, "stream_accept_failed",
		          "carrier=%s error=\"%s\"", dialect_name(d),
		          strerror(err));
		http_ereply(conn, 400, "Bad Request");
		mem_deref(st);
		return;
	}
	err = wsguard_attach(
	    st->wc, &(struct wsguard_prm){.server = true, .label = "stream"});
	if (err) {
		log_event(LOGL_WARN, NULL, "stream_accept_failed",
		          "carrier=%s error=\"%s\"", dialect_name(d),
		          strerror(err));
		mem_deref(st);
		return;
	}
	list_append(&s->streams, &st->le, st);
	/* The tick timer waits for start until the call is live. */
	tmr_start(&st->tick, START_TIMEOUT_MS, no_start, st);
	log_event(LOGL_INFO, st->id, "stream_connected", "carrier=%s",
	          dialect_name(d));
}

bool stream_http(struct stream_server *s, struct http_conn *conn,
                 const struct http_msg *msg)
{
	enum mstream_dialect d;

	if (!s)
		return false;
	if (!pl_strcmp(&msg->path, "/twilio/stream"))
		d = MSTREAM_TWILIO;
	else if (!pl_strcmp(&msg->path, "/telnyx/stream"))
		d = MSTREAM_TELNYX;
	else
		return false;
	if (pl_strcmp(&msg->met, "GET"))
		http_ereply(conn, 405, "Method Not Allowed");
	else
		accept_stream(s, conn, msg, d);
	return true;
}

unsigned stream_count(const struct stream_server *s)
{
	return s ? list_count(&s->streams) : 0;
}

static void server_destructor(void *arg)
{
	struct stream_server *s = arg;
	struct le *le;

	/* The calls end now: the agents stop, the rooms see them leave. */
	while ((le = list_head(&s->streams))) {
		struct stream *st = le->data;

		if (st->state != STREAM_ENDED)
			end(st, WEBSOCK_GOING_AWAY, "server shutting down");
		tmr_cancel(&st->end_tmr);
		reap(st);
	}
	mem_deref(s->ws);
	free(s->twilio_token);
	free(s->public_url);
	free(s->telnyx_token);
}

int stream_server_alloc(struct stream_server **sp,
                        const struct stream_params *prm)
{
	struct stream_server *s;
	int err;

	if (!sp || !prm || !prm->rooms || !prm->agent)
		return EINVAL;
	s = mem_zalloc(sizeof(*s), server_destructor);
	if (!s)
		return ENOMEM;
	s->prm = *prm;
	list_init(&s->streams);
	s->twilio_token =
	    strdup(prm->twilio_auth_token ? prm->twilio_auth_token : "");
	s->public_url = strdup(prm->public_url ? prm->public_url : "");
	s->telnyx_token =
	    strdup(prm->telnyx_stream_token ? prm->telnyx_stream_token : "");
	if (!s->twilio_token || !s->public_url || !s->telnyx_token) {
		mem_deref(s);
		return ENOMEM;
	}
	/* The paths are appended to it. */
	for (size_t n = strlen(s->public_url);
	     n && s->public_url[n - 1] == '/';)
		s->public_url[--n] = '\0';
	err = websock_alloc(&s->ws, NULL, NULL);
	if (err) {
		mem_deref(s);
		return err;
	}
	*sp = s;
	return 0;
}
