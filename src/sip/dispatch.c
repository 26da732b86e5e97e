/*
 * DESIGN. Trunks and rules are read from the store once and kept as JSON
 * until the API changes them, so an INVITE costs no database access. The
 * order is LiveKit's: trunk (with its caller and address filters), the
 * trunk's credentials, then the rule; where LiveKit drops an unmatched call
 * in silence, we answer 404 and say why in the log. With default_route on,
 * a call that no trunk or rule takes goes to an individual room, so a fresh
 * install answers the phone.
 *
 * The carriers' headers (X-Twilio-*, X-Telnyx-*) are believed only on a
 * call through a trunk that checked where it came from (allowedAddresses)
 * or who sent it (digest): anyone else can write them. They never name
 * the room over a rule; a carrier's call no rule takes goes to
 * pstn-<CallSid>, as its Media Streams do.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "core/libre.h"
#include "sip/dispatch.h"
#include "sip/sipx.h"
#include "sip/routing.h"
#include "sip/hosts.h"
#include "store/store.h"
#include "core/id.h"
#include "core/log.h"

struct dispatch {
	struct dispatch_params prm;
	json_t *trunks; /* inbound trunks */
	json_t *rules;
};

static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

/* Names past this many are not resolved (and so match nothing). */
#define HOST_NAMES_MAX 256

/* Hands the host names the inbound trunks list in allowedAddresses to the
 * resolver, which keeps them resolved until the next reload. */
static void resolve_hosts(struct dispatch *d)
{
	const char *names[HOST_NAMES_MAX];
	size_t n = 0, i, j;
	json_t *t, *a;
	int err;

	if (!d->prm.hosts)
		return;
	json_array_foreach(d->trunks, i, t)
	{
		json_array_foreach(json_object_get(t, "allowedAddresses"), j, a)
		{
			const char *s = json_string_value(a);

			if (!routing_addr_is_host(s))
				continue;
			if (n == HOST_NAMES_MAX) {
				log_event(
				    LOGL_WARN, NULL, "allowed_hosts_capped",
				    "max=%d trunk=%s name=%s", HOST_NAMES_MAX,
				    jstr(t, "sipTrunkId"), s);
				continue;
			}
			names[n++] = s;
		}
	}
	err = hosts_set(d->prm.hosts, names, n);
	if (err)
		log_event(LOGL_ERROR, NULL, "allowed_hosts_failed",
		          "error=\"%s\"", strerror(err));
}

int dispatch_reload(struct dispatch *d)
{
	json_t *trunks = NULL, *rules = NULL;
	int err;

	err = store_trunk_list(d->prm.store, STORE_TRUNK_INBOUND, &trunks);
	if (!err)
		err = store_rule_list(d->prm.store, &rules);
	if (err) {
		json_decref(trunks);
		return err;
	}
	json_decref(d->trunks);
	json_decref(d->rules);
	d->trunks = trunks;
	d->rules = rules;
	resolve_hosts(d);
	return 0;
}

static void dispatch_destructor(void *arg)
{
	struct dispatch *d = arg;

	json_decref(d->trunks);
	json_decref(d->rules);
}

int dispatch_alloc(struct dispatch **dp, const struct dispatch_params *prm)
{
	struct dispatch *d;
	int err;

	if (!dp || !prm || !prm->store || !prm->rooms)
		return EINVAL;
	d = mem_zalloc(sizeof(*d), dispatch_destructor);
	if (!d)
		return ENOMEM;
	d->prm = *prm;
	err = dispatch_reload(d);
	if (err) {
		mem_deref(d);
		return err;
	}
	*dp = d;
	return 0;
}

static void reject(struct dispatch_result *res, unsigned status,
                   const char *reason)
{
	res->outcome = DISPATCH_REJECT;
	res->status = status;
	snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

struct hdr_ctx {
	json_t *attrs;
	const json_t *map; /* headersToAttributes */
	bool all_x, all;   /* includeHeaders */
	bool carrier;      /* carrier_trunk(): its headers may be believed */
	unsigned dropped;  /* carrier headers not believed */
};

/* Headers carriers put on the INVITE, as LiveKit names them (and the call
 * control id our own Telnyx transfer adds). X-Twilio-* have fields of their
 * own: the CallSid also names the room when no rule does. */
static const struct {
	const char *header, *attr;
} carrier_headers[] = {
    {"x-call_leg_id", "sip.telnyx.callLegID"},
    {"x-call_session_id", "sip.telnyx.callSessionID"},
    {"x-telnyx-call-control-id", "sip.telnyx.callControlID"},
};

/* Headers only a carrier may set: they name its call (and with
 * X-Twilio-CallSid, the room). */
static bool carrier_header(const char *lname)
{
	if (!strncmp(lname, "x-twilio-", 9) || !strncmp(lname, "x-telnyx-", 9))
		return true;
	for (size_t i = 0;
	     i < sizeof(carrier_headers) / sizeof(carrier_headers[0]); i++) {
		if (!strcmp(lname, carrier_headers[i].header))
			return true;
	}
	return false;
}

static void header_attr(const char *name, size_t nlen, const char *val,
                        size_t vlen, void *arg)
{
	struct hdr_ctx *h = arg;
	char key[160], lname[128], value[512];
	const char *k;
	json_t *v;

	if (nlen >= sizeof(lname))
		return;
	for (size_t i = 0; i < nlen; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	lname[nlen] = '\0';
	snprintf(value, sizeof(value), "%.*s", (int)vlen, val);

	/* Credentials are never shown to the room, whatever the trunk
	 * asks for: a digest response is a password's stand-in. */
	if (!strcmp(lname, "authorization") ||
	    !strcmp(lname, "proxy-authorization"))
		return;
	/* Anyone can write them: from elsewhere they become nothing, not
	 * even sip.h.* or a mapped attribute. */
	if (!h->carrier && carrier_header(lname)) {
		h->dropped++;
		return;
	}
	for (size_t i = 0;
	     i < sizeof(carrier_headers) / sizeof(carrier_headers[0]); i++) {
		if (!strcmp(lname, carrier_headers[i].header))
			json_object_set_new(h->attrs, carrier_headers[i].attr,
			                    json_string(value));
	}
	json_object_foreach((json_t *)h->map, k, v)
	{
		if (json_is_string(v) && !strcasecmp(k, lname))
			json_object_set_new(h->attrs, json_string_value(v),
			                    json_string(value));
	}
	if (h->all || (h->all_x && !strncmp(lname, "x-", 2))) {
		snprintf(key, sizeof(key), "sip.h.%s", lname);
		json_object_set_new(h->attrs, key, json_string(value));
	}
}

_Static_assert(sizeof(((struct dispatch_result *)0)->agent_url) >
                   ROUTING_AGENT_URL_MAX,
               "agent_url holds any URL routing takes");

/* A bot URL the API refused would not be stored; one that is there all
 * the same (an older rule, an edited database) must not cost the call. */
static void agent_url(const json_t *rule, const struct dispatch_call *call,
                      struct dispatch_result *res)
{
	const char *url = NULL, *why = NULL;

	if (routing_agent_url(rule, &url, &why)) {
		log_event(LOGL_WARN, call->sip_call_id, "bot_url_invalid",
		          "rule=%s reason=\"%s\" agent=default", res->rule_id,
		          why);
		return;
	}
	if (!url)
		return;
	snprintf(res->agent_url, sizeof(res->agent_url), "%s", url);
	for (char *p = res->agent_url; *p != ':'; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* *dropped counts the carrier headers left out (carrier false). */
static json_t *attributes(const struct dispatch_call *call, const json_t *trunk,
                          const json_t *rule, const struct dispatch_result *res,
                          bool hide, bool carrier, unsigned *dropped)
{
	json_t *a = json_object();
	const char *k;
	json_t *v;

	json_object_foreach(json_object_get(rule, "attributes"), k, v)
	{
		if (json_is_string(v))
			json_object_set(a, k, v);
	}
	json_object_set_new(a, "sip.callID", json_string(res->call_id));
	json_object_set_new(a, "sip.callIDFull",
	                    json_string(call->sip_call_id));
	/* LiveKit's sip.callTag is the remote side's tag: the caller's. */
	if (call->call_tag && *call->call_tag)
		json_object_set_new(a, "sip.callTag",
		                    json_string(call->call_tag));
	json_object_set_new(a, "sip.callStatus", json_string("ringing"));
	json_object_set_new(a, "sip.trunkID", json_string(res->trunk_id));
	json_object_set_new(a, "sip.ruleID", json_string(res->rule_id));
	if (!hide) {
		json_object_set_new(a, "sip.phoneNumber",
		                    json_string(call->from_user));
		json_object_set_new(a, "sip.trunkPhoneNumber",
		                    json_string(call->to_user));
	}
	*dropped = 0;
	if (carrier && call->twilio_call_sid)
		json_object_set_new(a, "sip.twilio.callSid",
		                    json_string(call->twilio_call_sid));
	if (carrier && call->twilio_account_sid)
		json_object_set_new(a, "sip.twilio.accountSid",
		                    json_string(call->twilio_account_sid));
	if (call->foreach_hdr) {
		const char *inc = jstr(trunk, "includeHeaders");
		struct hdr_ctx h = {
		    .attrs = a,
		    .map = json_object_get(trunk, "headersToAttributes"),
		    .all_x = !strcmp(inc, "SIP_X_HEADERS"),
		    .all = !strcmp(inc, "SIP_ALL_HEADERS"),
		    .carrier = carrier,
		};
		call->foreach_hdr(call->msg, header_attr, &h);
		*dropped = h.dropped;
	}
	return a;
}

/* The stronger of what res has and obj's mediaEncryption. A value the
 * API would refuse (one stored before it checked) is logged and read as
 * unset. */
static void media_encryption(const json_t *obj, struct dispatch_result *res)
{
	enum sdes_policy p;

	if (routing_media_encryption(obj, &p))
		log_event(LOGL_WARN, NULL, "media_encryption_unknown",
		          "trunk=%s rule=%s", jstr(obj, "sipTrunkId"),
		          jstr(obj, "sipDispatchRuleId"));
	if (p > res->encryption)
		res->encryption = p;
}

/* Twilio's call, when no rule takes it: its room is named after the
 * CallSid, as for its Media Streams. A CallSid is "CA" and 32 hex
 * digits; anything but letters and digits is not one. */
static json_t *carrier_rule(const char *sid)
{
	char room[80];
	size_t n = strlen(sid);

	if (!n || n > 64)
		return NULL;
	for (const char *p = sid; *p; p++) {
		if (!isalnum((unsigned char)*p))
			return NULL;
	}
	snprintf(room, sizeof(room), "pstn-%s", sid);
	return json_pack("{s:s,s:{s:{s:s}}}", "sipDispatchRuleId", "", "rule",
	                 "dispatchRuleDirect", "roomName", room);
}

/* The default route's room, as an individual rule with prefix "call". */
static json_t *default_rule(void)
{
	return json_pack("{s:s,s:{s:{s:s}}}", "sipDispatchRuleId", "", "rule",
	                 "dispatchRuleIndividual", "roomPrefix", "call");
}

static int join(struct dispatch *d, const struct dispatch_call *call,
                const json_t *trunk, const json_t *rule, bool carrier,
                participant_kick_h *kickh, void *arg,
                struct dispatch_result *res)
{
	struct routing_call rc = {
	    .from_user = call->from_user,
	    .to_user = call->to_user,
	    .src_ip = call->src_ip,
	};
	char name[256];
	struct room *room;
	json_t *attrs;
	unsigned dropped;
	int err;

	err = routing_room_name(rule, &rc, res->room, sizeof(res->room));
	if (err)
		return err;

	err = room_ensure(d->prm.rooms, res->room,
	                  json_object_get(rule, "roomConfig"), &room,
	                  &res->room_created);
	if (err)
		return err;
	routing_participant(rule, call->from_user, res->identity,
	                    sizeof(res->identity), name, sizeof(name));
	/* The same number twice in one room (a direct rule) gets a
	 * distinct identity rather than a refusal. */
	if (participant_find(room, res->identity)) {
		char suffix[5];

		id_random(suffix, 4);
		size_t l = strlen(res->identity);
		snprintf(res->identity + l, sizeof(res->identity) - l, "_%.4s",
		         suffix);
	}
	attrs =
	    attributes(call, trunk, rule, res,
	               json_is_true(json_object_get(rule, "hidePhoneNumber")),
	               carrier, &dropped);
	if (dropped)
		log_event(LOGL_WARN, call->sip_call_id,
		          "carrier_headers_ignored",
		          "count=%u trunk=%s reason=\"%s\"", dropped,
		          res->trunk_id[0] ? res->trunk_id : "none",
		          "X-Twilio-*/X-Telnyx-* count only from a trunk that "
		          "checks the source address or credentials");
	const struct participant_info info = {
	    .identity = res->identity,
	    .name = name,
	    .kind = "SIP",
	    .metadata = jstr(rule, "metadata"),
	    .attributes = attrs,
	    .track = &participant_phone_track,
	};
	const struct participant_ops ops = {.kick = kickh};
	err = participant_join(room, &info, &ops, arg, &res->p);
	json_decref(attrs);
	return err;
}

int dispatch_bot_url(const char *url, char *out, size_t sz, const char **why)
{
	json_t *rule = json_pack("{s:{s:[{s:s}]}}", "roomConfig", "agents",
	                         "agentName", url ? url : "");
	const char *u = NULL;
	int err;

	*why = NULL;
	if (!rule)
		return ENOMEM;
	err = routing_agent_url(rule, &u, why);
	if (!err && (!u || strlen(u) >= sz)) {
		*why = "not a bot URL";
		err = EINVAL;
	}
	if (!err) {
		snprintf(out, sz, "%s", u);
		for (char *p = out; *p && *p != ':'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	json_decref(rule);
	return err;
}

int dispatch_join_outbound(struct dispatch *d,
                           const struct dispatch_outbound *o,
                           participant_kick_h *kickh, void *arg,
                           struct participant **pp)
{
	json_t *attrs = json_object();
	struct room *room;
	const char *k;
	json_t *v;
	int err;

	if (!d || !o || !o->room || !*o->room || !o->identity || !pp)
		return EINVAL;
	json_object_foreach((json_t *)o->attrs, k, v)
	{
		if (json_is_string(v))
			json_object_set(attrs, k, v);
	}
	/* Ours win: sip.callStatus must tell the call's state. */
	json_object_set_new(attrs, "sip.callID", json_string(o->call_id));
	json_object_set_new(attrs, "sip.callStatus", json_string("dialing"));
	json_object_set_new(attrs, "sip.trunkID", json_string(o->trunk_id));
	json_object_set_new(attrs, "sip.hostname", json_string(o->hostname));
	if (!o->hide_number) {
		json_object_set_new(attrs, "sip.phoneNumber",
		                    json_string(o->phone));
		json_object_set_new(attrs, "sip.trunkPhoneNumber",
		                    json_string(o->trunk_phone));
	}
	err = room_ensure(d->prm.rooms, o->room, NULL, &room, NULL);
	if (!err) {
		const struct participant_info info = {
		    .identity = o->identity,
		    .name = o->name,
		    .kind = "SIP",
		    .metadata = o->metadata,
		    .attributes = attrs,
		    .track = &participant_phone_track,
		};
		const struct participant_ops ops = {.kick = kickh};

		err = participant_join(room, &info, &ops, arg, pp);
	}
	json_decref(attrs);
	return err;
}

static bool host_match(const char *name, const char *ip, void *arg)
{
	return hosts_match(arg, name, ip);
}

void dispatch_route(struct dispatch *d, const struct dispatch_call *call,
                    bool authenticated, participant_kick_h *kickh, void *arg,
                    struct dispatch_result *res)
{
	struct routing_call rc = {
	    .from_user = call->from_user,
	    .to_user = call->to_user,
	    .src_ip = call->src_ip,
	    .pin = call->pin,
	    .host_match = host_match,
	    .host_arg = d->prm.hosts,
	};
	const json_t *trunk = NULL, *rule = NULL;
	json_t *fallback = NULL;
	const char *why = NULL;
	bool needs_pin = false, carrier = false;
	int err;

	memset(res, 0, sizeof(*res));
	if (call->call_id && *call->call_id)
		snprintf(res->call_id, sizeof(res->call_id), "%s",
		         call->call_id);
	else
		id_make(res->call_id, sizeof(res->call_id), "SCL_");

	err = routing_match_trunk(d->trunks, &rc, &trunk, &why);
	if (err) {
		reject(res, 404, why ? why : "Multiple SIP Trunks matched");
		return;
	}
	if (trunk) {
		snprintf(res->trunk_id, sizeof(res->trunk_id), "%s",
		         jstr(trunk, "sipTrunkId"));
		if (*jstr(trunk, "authUsername") && !authenticated) {
			res->outcome = DISPATCH_AUTH;
			snprintf(res->auth.username, sizeof(res->auth.username),
			         "%s", jstr(trunk, "authUsername"));
			snprintf(res->auth.password, sizeof(res->auth.password),
			         "%s", jstr(trunk, "authPassword"));
			snprintf(res->auth.realm, sizeof(res->auth.realm), "%s",
			         *jstr(trunk, "authRealm")
			             ? jstr(trunk, "authRealm")
			             : "voxgate");
			return;
		}
		(void)sipx_headers_format(json_object_get(trunk, "headers"),
		                          false, res->headers,
		                          sizeof(res->headers), NULL);
		media_encryption(trunk, res);
		/* A carrier's own trunk: it checked where the INVITE came
		 * from, or who sent it. */
		carrier = routing_trunk_checks_source(trunk) ||
		          (authenticated && *jstr(trunk, "authUsername"));
	}

	err = routing_match_rule(d->rules, trunk ? res->trunk_id : NULL, &rc,
	                         &rule, &needs_pin);
	if (err || !rule) {
		if (needs_pin && !call->pin) {
			res->outcome = DISPATCH_PIN;
			return;
		}
		/* A wrong PIN must not fall through to the default room. */
		if (call->pin) {
			reject(res, 403, "Wrong PIN");
			return;
		}
		if (carrier && call->twilio_call_sid)
			fallback = carrier_rule(call->twilio_call_sid);
		if (!fallback && (!d->prm.default_route || trunk)) {
			reject(res, 404,
			       "Does not match Trunks or Dispatch Rules");
			return;
		}
		if (!fallback)
			fallback = default_rule();
		rule = fallback;
	}
	snprintf(res->rule_id, sizeof(res->rule_id), "%s",
	         jstr(rule, "sipDispatchRuleId"));

	agent_url(rule, call, res);
	media_encryption(rule, res);
	err = join(d, call, trunk, rule, carrier, kickh, arg, res);
	json_decref(fallback);
	if (err == EMLINK) {
		reject(res, 486, "Room is full");
	} else if (err) {
		log_event(LOGL_ERROR, call->sip_call_id, "dispatch_failed",
		          "room=%s error=\"%s\"", res->room, strerror(err));
		reject(res, 500, "Cannot join the room");
	} else {
		res->outcome = DISPATCH_JOINED;
	}
}

static void rec_str(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

static void rec_num(json_t *o, const char *key, unsigned long long v)
{
	if (v)
		json_object_set_new(o, key, json_integer((json_int_t)v));
}

int dispatch_record(struct dispatch *d, const char *call_id,
                    const struct dispatch_record *rec)
{
	json_t *o;
	int err;

	if (!d || !call_id || !*call_id || !rec)
		return EINVAL;
	o = json_pack("{s:s}", "callId", call_id);
	rec_str(o, "sipCallId", rec->sip_call_id);
	rec_str(o, "from", rec->from);
	rec_str(o, "to", rec->to);
	rec_str(o, "room", rec->room);
	rec_str(o, "participantIdentity", rec->identity);
	rec_str(o, "trunkId", rec->trunk_id);
	rec_str(o, "ruleId", rec->rule_id);
	rec_str(o, "status", rec->status);
	rec_num(o, "ringingAt", (unsigned long long)rec->ringing_at);
	rec_num(o, "activeAt", (unsigned long long)rec->active_at);
	rec_num(o, "endedAt", (unsigned long long)rec->ended_at);
	rec_str(o, "endedBy", rec->ended_by);
	rec_str(o, "endReason", rec->end_reason);
	rec_num(o, "sipStatusCode", rec->sip_status);
	rec_num(o, "durationMs", (unsigned long long)rec->duration_ms);
	rec_num(o, "packetsIn", rec->packets_in);
	rec_num(o, "packetsOut", rec->packets_out);
	rec_num(o, "lost", rec->lost);
	err = store_call_put(d->prm.store, call_id, o);
	json_decref(o);
	return err;
}
