/*
 * The carriers' HTTP front doors (front.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include "core/libre.h"
#include "carrier/front.h"
#include "carrier/sipuri.h"
#include "carrier/telnyx.h"
#include "carrier/telnyx_api.h"
#include "carrier/twilio.h"
#include "core/log.h"
#include "store/store.h"

/* Bodies larger than this are not webhooks. */
#define BODY_MAX (64 * 1024)

/* Telnyx event ids remembered to spot retries: Telnyx retries for minutes,
 * and ids beyond these are still caught by the commands' command_id. */
#define TELNYX_SEEN     4096
#define TELNYX_SEEN_TTL 900

/* The client_state our answer command leaves on the call: the call.answered
 * that carries it is ours to transfer, even if call.initiated has not
 * arrived yet (Telnyx does not keep order). */
#define TELNYX_STATE_ANSWERED "voxgate:answered"

struct carrier {
	struct carrier_params prm;
	char *public_url, *sip_uri, *twilio_token;
	struct telnyx_key *telnyx_key;
	struct telnyx_seen *telnyx_seen;
	struct telnyx_api *telnyx_api;
};

static int64_t now_s(const struct carrier *c)
{
	return c->prm.now ? c->prm.now() : (int64_t)time(NULL);
}

static void reply(struct http_conn *conn, uint16_t status, const char *reason,
                  const char *text)
{
	(void)http_creply(conn, status, reason, "text/plain", "%s", text);
}

/* What the request's URL was for the carrier: public_url (or http:// and
 * the Host header) + path + query. malloc'd; NULL when out of memory or
 * when there is no way to know the host. */
static char *request_url(const struct carrier *c, const struct http_msg *msg)
{
	const struct http_hdr *host = http_msg_hdr(msg, HTTP_HDR_HOST);
	char *url = NULL;
	int n;

	if (*c->public_url)
		n = asprintf(&url, "%s%.*s%.*s", c->public_url,
		             (int)msg->path.l, msg->path.p, (int)msg->prm.l,
		             msg->prm.p);
	else if (host)
		n = asprintf(&url, "http://%.*s%.*s%.*s", (int)host->val.l,
		             host->val.p, (int)msg->path.l, msg->path.p,
		             (int)msg->prm.l, msg->prm.p);
	else
		return NULL;
	return n < 0 ? NULL : url;
}

/* ---- call records ----------------------------------------------------- */

static void iso_time(char *out, size_t sz, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, sz, "%lld", (long long)t);
}

/* The record of key, or a new one for the carrier; a new reference. */
static json_t *record_get(struct carrier *c, const char *key,
                          const char *carrier)
{
	json_t *rec = NULL;
	int err = store_call_get(c->prm.store, key, &rec);

	if (err == 0 && json_is_object(rec))
		return rec;
	json_decref(rec);
	if (err && err != ENOENT)
		log_event(LOGL_ERROR, NULL, "store_failed",
		          "record=%s error=\"%s\"", key,
		          store_error(c->prm.store));
	return json_pack("{s:s,s:[]}", "carrier", carrier, "events");
}

/* Sets field=value (when value is not empty), notes the event, and writes
 * the record. Steals rec. */
static void record_event(struct carrier *c, const char *key, json_t *rec,
                         const char *event)
{
	char at[32];
	json_t *events = json_object_get(rec, "events");

	iso_time(at, sizeof(at), now_s(c));
	if (!json_is_array(events)) {
		events = json_array();
		json_object_set_new(rec, "events", events);
	}
	json_array_append_new(events,
	                      json_pack("{s:s,s:s}", "event", event, "at", at));
	json_object_set_new(rec, "updated_at", json_string(at));
	if (store_call_put(c->prm.store, key, rec))
		log_event(LOGL_ERROR, NULL, "store_failed",
		          "record=%s error=\"%s\"", key,
		          store_error(c->prm.store));
	json_decref(rec);
}

static void set_str(json_t *rec, const char *field, const char *value)
{
	if (value && *value)
		json_object_set_new(rec, field, json_string(value));
}

/* ---- Twilio ----------------------------------------------------------- */

/* A Twilio request's parameters, once its signature is checked. */
struct twilio_req {
	struct form form; /* POST body or GET query */
	json_t *json;     /* a JSON body's object, or NULL */
};

static const char *twilio_param(const struct twilio_req *r, const char *name)
{
	const char *v = form_get(&r->form, name);

	if (!v && r->json)
		v = json_string_value(json_object_get(r->json, name));
	return v ? v : "";
}

/* Reads and checks the request; 0, or 1 when a reply was sent. */
static int twilio_read(struct carrier *c, struct http_conn *conn,
                       const struct http_msg *msg, struct twilio_req *r)
{
	const struct http_hdr *sig = http_msg_xhdr(msg, "X-Twilio-Signature");
	const char *body = (const char *)mbuf_buf(msg->mb);
	size_t len = mbuf_get_left(msg->mb);
	bool post = !pl_strcmp(&msg->met, "POST");
	bool json = post && msg_ctype_cmp(&msg->ctyp, "application", "json");
	char *url = NULL, *sigz = NULL;
	const char *why = NULL;
	int err;

	memset(r, 0, sizeof(*r));
	if (!post && pl_strcmp(&msg->met, "GET")) {
		reply(conn, 405, "Method Not Allowed", "GET or POST only");
		return 1;
	}
	if (!*c->twilio_token) {
		why = "twilio_auth_token is not set";
		goto refused;
	}
	if (len > BODY_MAX) {
		reply(conn, 413, "Payload Too Large", "the body is too large");
		return 1;
	}
	if (post && !json &&
	    !msg_ctype_cmp(&msg->ctyp, "application",
	                   "x-www-form-urlencoded")) {
		reply(conn, 400, "Bad Request",
		      "the body is neither a form nor JSON");
		return 1;
	}
	if (post && !json)
		err = form_parse(&r->form, body, len);
	else if (!post && msg->prm.l > 1)
		err = form_parse(&r->form, msg->prm.p + 1, msg->prm.l - 1);
	else
		err = 0;
	if (err) {
		reply(conn, 400, "Bad Request", "malformed form");
		return 1;
	}
	url = request_url(c, msg);
	if (!url || (sig && pl_strdup(&sigz, &sig->val))) {
		free(url);
		form_reset(&r->form);
		reply(conn, 500, "Internal Server Error", "out of memory");
		return 1;
	}
	err = twilio_signature_check(c->twilio_token, url,
	                             post && !json ? &r->form : NULL,
	                             json ? body : NULL, json ? len : 0, sigz);
	mem_deref(sigz);
	free(url);
	if (err) {
		form_reset(&r->form);
		why = sig ? "bad signature" : "no signature";
		goto refused;
	}
	if (json) {
		json_error_t jerr;

		r->json = json_loadb(body, len, 0, &jerr);
		if (!json_is_object(r->json)) {
			json_decref(r->json);
			r->json = NULL;
			reply(conn, 400, "Bad Request",
			      "the body is not a JSON object");
			return 1;
		}
	}
	return 0;

refused:
	log_event(LOGL_WARN, NULL, "twilio_refused", "path=%.*s reason=\"%s\"",
	          (int)msg->path.l, msg->path.p, why);
	reply(conn, 403, "Forbidden", "request not signed by Twilio");
	return 1;
}

static void twilio_done(struct twilio_req *r)
{
	form_reset(&r->form);
	json_decref(r->json);
}

/* The first of names the request lacks, or NULL. */
static const char *twilio_missing(const struct twilio_req *r,
                                  const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!*twilio_param(r, names[i]))
			return names[i];
	}
	return NULL;
}

static void reply_missing(struct http_conn *conn, const char *name)
{
	char text[96];

	snprintf(text, sizeof(text), "missing parameter %s", name);
	reply(conn, 400, "Bad Request", text);
}

static void twilio_voice(struct carrier *c, struct http_conn *conn,
                         const struct http_msg *msg)
{
	static const char *const required[] = {"CallSid", "From", "To"};
	struct twilio_req r;
	const char *missing, *sid;
	char key[160], *twiml = NULL;
	json_t *rec;
	int err;

	if (twilio_read(c, conn, msg, &r))
		return;
	missing = twilio_missing(&r, required, 3);
	if (missing) {
		twilio_done(&r);
		reply_missing(conn, missing);
		return;
	}
	sid = twilio_param(&r, "CallSid");
	if (c->prm.twilio_stream) {
		/* The stream's start carries no numbers: pass them on. */
		struct form_param p[2] = {
		    {.name = (char *)"From",
		     .value = (char *)twilio_param(&r, "From")},
		    {.name = (char *)"To",
		     .value = (char *)twilio_param(&r, "To")},
		};
		char *url = NULL;

		err = asprintf(&url, "wss://%s/twilio/stream",
		               c->public_url + strlen("https://")) < 0
		          ? ENOMEM
		          : twilio_twiml_stream(&twiml, url, p, 2);
		free(url);
	} else {
		err = twilio_twiml_dial(&twiml, c->sip_uri,
		                        twilio_param(&r, "To"), sid);
	}
	if (err) {
		log_event(LOGL_WARN, NULL, "twilio_voice_failed",
		          "call_sid=%s error=\"%s\"", sid, strerror(err));
		twilio_done(&r);
		reply(conn, 400, "Bad Request",
		      "cannot dial that number at our SIP URI");
		return;
	}
	snprintf(key, sizeof(key), "twilio-%s", sid);
	rec = record_get(c, key, "twilio");
	set_str(rec, "call_sid", sid);
	set_str(rec, "account_sid", twilio_param(&r, "AccountSid"));
	set_str(rec, "from", twilio_param(&r, "From"));
	set_str(rec, "to", twilio_param(&r, "To"));
	set_str(rec, "direction", twilio_param(&r, "Direction"));
	set_str(rec, "status", twilio_param(&r, "CallStatus"));
	record_event(c, key, rec, "voice");
	log_event(LOGL_INFO, NULL, "twilio_voice",
	          "call_sid=%s from=%s to=%s answer=%s", sid,
	          twilio_param(&r, "From"), twilio_param(&r, "To"),
	          c->prm.twilio_stream ? "stream" : "dial");
	(void)http_creply(conn, 200, "OK", "text/xml", "%s", twiml);
	free(twiml);
	twilio_done(&r);
}

static bool call_over(const char *status)
{
	static const char *const final[] = {"completed", "busy", "failed",
	                                    "no-answer", "canceled"};

	for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
		if (!strcmp(status, final[i]))
			return true;
	}
	return false;
}

/* Status callbacks can arrive out of order: SequenceNumber tells, and one
 * older than what the record has is noted but changes no status. */
static void twilio_status(struct carrier *c, struct http_conn *conn,
                          const struct http_msg *msg)
{
	static const char *const required[] = {"CallSid", "CallStatus"};
	struct twilio_req r;
	const char *missing, *sid, *status, *seq_s;
	char key[160], event[64];
	long long seq = -1;
	json_t *rec;

	if (twilio_read(c, conn, msg, &r))
		return;
	missing = twilio_missing(&r, required, 2);
	if (missing) {
		twilio_done(&r);
		reply_missing(conn, missing);
		return;
	}
	sid = twilio_param(&r, "CallSid");
	status = twilio_param(&r, "CallStatus");
	seq_s = twilio_param(&r, "SequenceNumber");
	if (*seq_s)
		seq = strtoll(seq_s, NULL, 10);
	snprintf(key, sizeof(key), "twilio-%s", sid);
	rec = record_get(c, key, "twilio");
	set_str(rec, "call_sid", sid);
	if (seq < 0 ||
	    seq >= json_integer_value(json_object_get(rec, "sequence"))) {
		set_str(rec, "status", status);
		set_str(rec, "duration", twilio_param(&r, "CallDuration"));
		if (seq >= 0)
			json_object_set_new(rec, "sequence", json_integer(seq));
		if (call_over(status)) {
			char at[32];

			iso_time(at, sizeof(at), now_s(c));
			set_str(rec, "ended_at", at);
		}
	}
	snprintf(event, sizeof(event), "status:%s", status);
	record_event(c, key, rec, event);
	log_event(LOGL_INFO, NULL, "twilio_status",
	          "call_sid=%s status=%s sequence=%lld", sid, status, seq);
	(void)http_reply(conn, 204, "No Content", "Content-Length: 0\r\n\r\n");
	twilio_done(&r);
}

/* ---- Telnyx ----------------------------------------------------------- */

/* Copies header name's value into out ("" when absent). */
static void xhdr(const struct http_msg *msg, const char *name, char *out,
                 size_t sz)
{
	const struct http_hdr *h = http_msg_xhdr(msg, name);

	if (h)
		pl_strcpy(&h->val, out, sz);
	else
		out[0] = '\0';
}

/* A transfer Telnyx refused or never took leaves the caller answered in
 * silence: hang up instead. Runs on the command thread. */
struct transfer_watch {
	struct telnyx_api *api;
	char call_control_id[160], command_id[140];
};

static void transfer_done(const struct telnyx_api_result *res, void *arg)
{
	struct transfer_watch *w = arg;

	if (!res->ok && !(res->code && !strcmp(res->code, "90018")))
		(void)telnyx_api_command(w->api, w->call_control_id, "hangup",
		                         NULL, w->command_id, NULL, NULL);
	free(w);
}

static void telnyx_command(struct carrier *c, const struct telnyx_event *ev,
                           const char *action, json_t *body)
{
	struct transfer_watch *w = NULL;
	char command_id[128], *text;
	int err;

	/* The same event retried gives the same command_id, which Telnyx
	 * ignores the second time. */
	snprintf(command_id, sizeof(command_id), "%s:%s", ev->id, action);
	if (!strcmp(action, "transfer")) {
		w = calloc(1, sizeof(*w));
		if (w) {
			w->api = c->telnyx_api;
			snprintf(w->call_control_id, sizeof(w->call_control_id),
			         "%s", ev->call_control_id);
			snprintf(w->command_id, sizeof(w->command_id),
			         "%s:hangup", ev->id);
		}
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	err = text ? telnyx_api_command(c->telnyx_api, ev->call_control_id,
	                                action, text, command_id,
	                                w ? transfer_done : NULL, w)
	           : ENOMEM;
	if (err)
		free(w);
	free(text);
	if (err)
		log_event(LOGL_ERROR, NULL, "telnyx_command_failed",
		          "action=%s call_control_id=%s error=\"%s\"", action,
		          ev->call_control_id, strerror(err));
}

static void telnyx_answer(struct carrier *c, const struct telnyx_event *ev)
{
	char state[128];

	if (telnyx_client_state_encode(state, sizeof(state),
	                               TELNYX_STATE_ANSWERED))
		return;
	telnyx_command(c, ev, "answer",
	               json_pack("{s:s}", "client_state", state));
}

/* Sends the answered call on to our SIP edge, its ids in X- headers so
 * they become the participant's attributes and tie the SIP call to this
 * record. */
static void telnyx_transfer(struct carrier *c, const struct telnyx_event *ev)
{
	char *to = NULL;
	json_t *headers = json_array();
	int err = sipuri_with_user(&to, c->sip_uri, ev->to);

	if (err) {
		json_decref(headers);
		log_event(LOGL_WARN, NULL, "telnyx_transfer_failed",
		          "call_control_id=%s to=%s error=\"%s\"",
		          ev->call_control_id, ev->to, strerror(err));
		return;
	}
	json_array_append_new(headers, json_pack("{s:s,s:s}", "name",
	                                         "X-Telnyx-Call-Control-Id",
	                                         "value", ev->call_control_id));
	if (*ev->call_session_id)
		json_array_append_new(
		    headers, json_pack("{s:s,s:s}", "name", "X-call_session_id",
		                       "value", ev->call_session_id));
	if (*ev->call_leg_id)
		json_array_append_new(
		    headers, json_pack("{s:s,s:s}", "name", "X-call_leg_id",
		                       "value", ev->call_leg_id));
	telnyx_command(
	    c, ev, "transfer",
	    json_pack("{s:s,s:o}", "to", to, "custom_headers", headers));
	log_event(LOGL_INFO, NULL, "telnyx_transfer",
	          "call_control_id=%s to=%s", ev->call_control_id, to);
	free(to);
}

/* 0 with *ev read from a request Telnyx signed, or 1 when a reply was
 * sent. */
static int telnyx_read(struct carrier *c, struct http_conn *conn,
                       const struct http_msg *msg, struct telnyx_event *ev)
{
	const char *body = (const char *)mbuf_buf(msg->mb);
	size_t len = mbuf_get_left(msg->mb);
	char sig[160], ts[32];
	const char *why;
	int err;

	if (!c->telnyx_key) {
		why = "telnyx_public_key is not set";
		goto refused;
	}
	if (len > BODY_MAX) {
		reply(conn, 413, "Payload Too Large", "the body is too large");
		return 1;
	}
	xhdr(msg, "telnyx-signature-ed25519", sig, sizeof(sig));
	xhdr(msg, "telnyx-timestamp", ts, sizeof(ts));
	err = telnyx_verify(c->telnyx_key, sig[0] ? sig : NULL,
	                    ts[0] ? ts : NULL, body, len, now_s(c));
	if (err == ETIME) {
		why = "timestamp outside 300 s (replay)";
		goto refused;
	}
	if (err) {
		why = sig[0] ? "bad signature" : "no signature";
		goto refused;
	}
	if (telnyx_event_parse(ev, body, len)) {
		reply(conn, 400, "Bad Request",
		      "not a Call Control event (data.event_type, data.id)");
		return 1;
	}
	return 0;

refused:
	log_event(LOGL_WARN, NULL, "telnyx_refused", "reason=\"%s\"", why);
	reply(conn, 403, "Forbidden", "request not signed by Telnyx");
	return 1;
}

static void telnyx_webhook(struct carrier *c, struct http_conn *conn,
                           const struct http_msg *msg)
{
	struct telnyx_event ev;
	char key[200], state[64];
	int rank;
	json_t *rec;

	if (telnyx_read(c, conn, msg, &ev))
		return;
	if (telnyx_seen_check(c->telnyx_seen, ev.id, now_s(c))) {
		log_event(LOGL_INFO, NULL, "telnyx_duplicate", "type=%s id=%s",
		          ev.event_type, ev.id);
		reply(conn, 200, "OK", "duplicate");
		return;
	}
	if (!*ev.call_control_id) {
		log_event(LOGL_INFO, NULL, "telnyx_event", "type=%s id=%s",
		          ev.event_type, ev.id);
		reply(conn, 200, "OK", "ok");
		return;
	}
	snprintf(key, sizeof(key), "telnyx-%s", ev.call_control_id);
	rec = record_get(c, key, "telnyx");
	rank = telnyx_event_rank(ev.type);
	if (rank && rank < json_integer_value(json_object_get(rec, "rank"))) {
		log_event(LOGL_INFO, NULL, "telnyx_out_of_order",
		          "type=%s id=%s call_control_id=%s state=%s",
		          ev.event_type, ev.id, ev.call_control_id,
		          json_string_value(json_object_get(rec, "state")));
		record_event(c, key, rec, ev.event_type);
		reply(conn, 200, "OK", "late");
		return;
	}
	if (rank)
		json_object_set_new(rec, "rank", json_integer(rank));
	set_str(rec, "call_control_id", ev.call_control_id);
	set_str(rec, "call_session_id", ev.call_session_id);
	set_str(rec, "call_leg_id", ev.call_leg_id);
	set_str(rec, "from", ev.from);
	set_str(rec, "to", ev.to);
	set_str(rec, "direction", ev.direction);
	set_str(rec, "state", ev.state);
	set_str(rec, "hangup_cause", ev.hangup_cause);
	set_str(rec, "hangup_source", ev.hangup_source);
	if (ev.type == TELNYX_EV_CALL_HANGUP) {
		char at[32];

		iso_time(at, sizeof(at), now_s(c));
		set_str(rec, "ended_at", at);
	}
	log_event(LOGL_INFO, NULL, "telnyx_event",
	          "type=%s id=%s call_control_id=%s direction=%s from=%s "
	          "to=%s",
	          ev.event_type, ev.id, ev.call_control_id,
	          json_string_value(json_object_get(rec, "direction")), ev.from,
	          ev.to);
	if (telnyx_client_state_decode(state, sizeof(state), ev.client_state))
		state[0] = '\0';
	if (!c->telnyx_api && (ev.type == TELNYX_EV_CALL_INITIATED ||
	                       ev.type == TELNYX_EV_CALL_ANSWERED))
		log_event(LOGL_WARN, NULL, "telnyx_no_api_key",
		          "call_control_id=%s type=%s", ev.call_control_id,
		          ev.event_type);
	else if (ev.type == TELNYX_EV_CALL_INITIATED &&
	         !strcmp(ev.direction, "incoming"))
		telnyx_answer(c, &ev);
	else if (ev.type == TELNYX_EV_CALL_ANSWERED &&
	         !strcmp(state, TELNYX_STATE_ANSWERED))
		telnyx_transfer(c, &ev);
	record_event(c, key, rec, ev.event_type);
	reply(conn, 200, "OK", "ok");
}

/* ---- the object ------------------------------------------------------- */

static void carrier_destructor(void *arg)
{
	struct carrier *c = arg;

	/* Commands still queued get a moment: an answer or a transfer lost
	 * at shutdown leaves a caller in silence. */
	if (c->telnyx_api)
		telnyx_api_close(c->telnyx_api, 2000);
	mem_deref(c->telnyx_seen);
	mem_deref(c->telnyx_key);
	free(c->public_url);
	free(c->sip_uri);
	free(c->twilio_token);
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int carrier_alloc(struct carrier **cp, const struct carrier_params *prm)
{
	struct carrier *c;
	size_t n;
	int err;

	if (!cp || !prm || !prm->store || !prm->sip_uri)
		return EINVAL;
	c = mem_zalloc(sizeof(*c), carrier_destructor);
	if (!c)
		return ENOMEM;
	c->prm = *prm;
	c->public_url = dup_or_empty(prm->public_url);
	c->sip_uri = dup_or_empty(prm->sip_uri);
	c->twilio_token = dup_or_empty(prm->twilio_auth_token);
	if (!c->public_url || !c->sip_uri || !c->twilio_token) {
		mem_deref(c);
		return ENOMEM;
	}
	/* The paths are appended to it. */
	n = strlen(c->public_url);
	while (n && c->public_url[n - 1] == '/')
		c->public_url[--n] = '\0';
	if (prm->telnyx_public_key && *prm->telnyx_public_key) {
		err = telnyx_key_parse(&c->telnyx_key, prm->telnyx_public_key);
		if (!err)
			err = telnyx_seen_alloc(&c->telnyx_seen, TELNYX_SEEN,
			                        TELNYX_SEEN_TTL);
		if (!err && prm->telnyx_api_key && *prm->telnyx_api_key) {
			const struct telnyx_api_params tp = {
			    .base_url = prm->telnyx_api_url,
			    .api_key = prm->telnyx_api_key,
			};

			err = telnyx_api_open(&c->telnyx_api, &tp);
		}
		if (err) {
			mem_deref(c);
			return err;
		}
	}
	*cp = c;
	return 0;
}

bool carrier_http(struct carrier *c, struct http_conn *conn,
                  const struct http_msg *msg)
{
	static const struct {
		const char *path;
		bool post_only; /* else GET too (Twilio's Voice URL may be) */
		void (*h)(struct carrier *c, struct http_conn *conn,
		          const struct http_msg *msg);
	} routes[] = {
	    {"/voice", false, twilio_voice},
	    {"/twilio/status", true, twilio_status},
	    {"/telnyx/webhook", true, telnyx_webhook},
	};

	if (!c)
		return false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (pl_strcmp(&msg->path, routes[i].path))
			continue;
		if (routes[i].post_only && pl_strcmp(&msg->met, "POST"))
			reply(conn, 405, "Method Not Allowed", "POST only");
		else
			routes[i].h(c, conn, msg);
		return true;
	}
	return false;
}
