/*
 * Every field of a CreateSIPParticipant request ends up in a SIP request
 * we send or in a room, so each is checked against a grammar before it is
 * copied: the numbers are user parts, never URIs (LiveKit refuses a URI in
 * sipCallTo), so '@', ';', '<' and line breaks cannot forge a header or
 * route the call elsewhere; the trunk's address is host[:port] only.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "sip/outbound.h"
#include "sip/routing.h"
#include "sip/sipx.h"
#include "core/id.h"

static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

bool outbound_address_ok(const char *a)
{
	return *a && strncmp(a, "sip:", 4) && strncmp(a, "sips:", 5) &&
	       !strchr(a, '@') && !strchr(a, ';') && !strstr(a, "transport=");
}

/* host[:port] as it may follow "sip:user@": a name or IPv4 address of
 * letters, digits, '.' and '-', or an IPv6 address in brackets; a port of
 * 1-65535. */
static bool address_grammar(const char *a)
{
	const char *p = a, *port = NULL;

	if (!outbound_address_ok(a) || strlen(a) > 255)
		return false;
	if (*p == '[') {
		const char *end = strchr(p, ']');

		if (!end || end == p + 1)
			return false;
		for (p++; p < end; p++) {
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.')
				return false;
		}
		p = end + 1;
		if (*p == ':')
			port = p + 1;
		else if (*p)
			return false;
	} else {
		for (; *p && *p != ':'; p++) {
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-')
				return false;
		}
		if (p == a || a[0] == '.' || a[0] == '-')
			return false;
		if (*p == ':')
			port = p + 1;
	}
	if (port) {
		char *end;
		long n;

		if (!isdigit((unsigned char)*port) || strlen(port) > 5)
			return false;
		n = strtol(port, &end, 10);
		if (*end || n < 1 || n > 65535)
			return false;
	}
	return true;
}

/* The user part of our URIs: sipCallTo, sipNumber. */
static bool number_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > OUTBOUND_NUMBER_MAX)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("+*#._~-", *s))
			return false;
	}
	return true;
}

static bool dtmf_ok(const char *s)
{
	if (strlen(s) > OUTBOUND_DTMF_MAX)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) && !strchr("*#ABCDabcdw", *s))
			return false;
	}
	return true;
}

/* Text that is only carried (displayName, and the URIs we accept but do
 * not use): bounded, printable, nothing that could end a header. */
static bool plain_ok(const char *s, size_t max)
{
	if (strlen(s) > max)
		return false;
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '<' || *s == '>' || *s == '\\')
			return false;
	}
	return true;
}

int outbound_duration_ms(const json_t *v, uint32_t max_ms, uint32_t *ms)
{
	double sec;

	*ms = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_number(v)) {
		sec = json_number_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = strlen(s);
		char *end;

		/* protojson: an optional '-', digits, an optional fraction
		 * of up to 9 digits, then 's'. */
		if (n < 2 || n > 24 || s[n - 1] != 's' ||
		    !(isdigit((unsigned char)s[0]) || s[0] == '-'))
			return EINVAL;
		for (size_t i = 0; i + 1 < n; i++) {
			if (!isdigit((unsigned char)s[i]) && s[i] != '.' &&
			    !(i == 0 && s[i] == '-'))
				return EINVAL;
		}
		sec = strtod(s, &end);
		if (end != s + n - 1)
			return EINVAL;
	} else {
		return EINVAL;
	}
	if (!isfinite(sec) || sec < 0)
		return EINVAL;
	*ms = sec * 1000.0 >= (double)max_ms ? max_ms
	                                     : (uint32_t)(sec * 1000.0 + 0.5);
	return 0;
}

/* SIP_TRANSPORT_* by name or number; "" for AUTO (UDP). */
static int transport_of(const json_t *v, char *out, size_t sz)
{
	static const char *const names[] = {
	    "SIP_TRANSPORT_AUTO",
	    "SIP_TRANSPORT_UDP",
	    "SIP_TRANSPORT_TCP",
	    "SIP_TRANSPORT_TLS",
	};
	static const char *const tp[] = {"udp", "udp", "tcp", "tls"};
	long long n = -1;

	if (!v || json_is_null(v))
		n = 0;
	else if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v)) {
		for (size_t i = 0; i < 4; i++) {
			if (!strcmp(json_string_value(v), names[i]))
				n = (long long)i;
		}
	}
	if (n < 0 || n > 3)
		return EINVAL;
	snprintf(out, sz, "%s", tp[n]);
	return 0;
}

/* The request's string fields; any of another JSON type fails the
 * decode, as protojson would. */
static const char *const string_fields[] = {
    "sipTrunkId",          "sipCallTo",
    "sipNumber",           "roomName",
    "participantIdentity", "participantName",
    "participantMetadata", "dtmf",
    "displayName",         "destination",
    "sipRequestUri",       "sipFromHeader",
    "toUserOverride",      NULL,
};

static int types_ok(const json_t *req, const char **why)
{
	static const char *const bools[] = {
	    "playDialtone", "playRingtone",      "hidePhoneNumber",
	    "krispEnabled", "waitUntilAnswered", NULL,
	};
	static const char *const maps[] = {
	    "participantAttributes",
	    "headers",
	    NULL,
	};

	for (const char *const *k = string_fields; *k; k++) {
		const json_t *v = json_object_get(req, *k);

		if (v && !json_is_string(v) && !json_is_null(v)) {
			*why = "a string field holds another type";
			return EBADMSG;
		}
	}
	for (const char *const *k = bools; *k; k++) {
		const json_t *v = json_object_get(req, *k);

		if (v && !json_is_boolean(v) && !json_is_null(v)) {
			*why = "a bool field holds another type";
			return EBADMSG;
		}
	}
	for (const char *const *k = maps; *k; k++) {
		const json_t *v = json_object_get(req, *k);
		const char *key;
		json_t *x;

		if (!v || json_is_null(v))
			continue;
		if (!json_is_object(v)) {
			*why = "a map field holds another type";
			return EBADMSG;
		}
		json_object_foreach((json_t *)v, key, x)
		{
			if (!json_is_string(x)) {
				*why = "a map value is not a string";
				return EBADMSG;
			}
		}
	}
	return 0;
}

/* Our From number: sipNumber, or one of the trunk's numbers at random, as
 * LiveKit picks it. */
static int pick_number(const json_t *req, const json_t *trunk,
                       struct outbound_call *oc, const char **why)
{
	const char *n = jstr(req, "sipNumber");
	const json_t *nums = json_object_get(trunk, "numbers");
	size_t count = json_array_size(nums);

	if (!*n && count) {
		char r[2];

		id_random(r, sizeof(r));
		n = json_string_value(json_array_get(
		    nums,
		    ((size_t)(unsigned char)r[0] * 256u + (unsigned char)r[1]) %
		        count));
		n = n ? n : "";
	}
	if (!*n) {
		*why = "no number to call from: the trunk has no numbers "
		       "and the request no sipNumber";
		return EINVAL;
	}
	if (!number_ok(n)) {
		*why = "sipNumber must be 1-64 characters of 0-9 A-Z a-z "
		       "+ * # . _ ~ -";
		return EINVAL;
	}
	snprintf(oc->number, sizeof(oc->number), "%s", n);
	return 0;
}

static int copy_bounded(char *dst, size_t sz, const char *src, const char *what,
                        const char **why)
{
	if (strlen(src) >= sz) {
		*why = what;
		return EINVAL;
	}
	snprintf(dst, sz, "%s", src);
	return 0;
}

static int trunk_part(const json_t *req, const json_t *trunk,
                      const char *from_host, struct outbound_call *oc,
                      const char **why)
{
	const char *addr, *fhost;
	size_t hlen;
	int err;

	if (trunk) {
		snprintf(oc->trunk_id, sizeof(oc->trunk_id), "%s",
		         jstr(trunk, "sipTrunkId"));
		addr = jstr(trunk, "address");
	} else {
		trunk = json_object_get(req, "trunk");
		if (!json_is_object(trunk)) {
			*why = "sip trunk id or trunk is required";
			return EINVAL;
		}
		addr = jstr(trunk, "hostname");
	}
	if (!address_grammar(addr)) {
		*why = "trunk address should be a hostname or IP[:port], not "
		       "SIP URI";
		return EINVAL;
	}
	snprintf(oc->address, sizeof(oc->address), "%s", addr);
	if (transport_of(json_object_get(trunk, "transport"), oc->transport,
	                 sizeof(oc->transport))) {
		*why = "unknown trunk transport";
		return EINVAL;
	}
	if (copy_bounded(oc->auth_user, sizeof(oc->auth_user),
	                 jstr(trunk, "authUsername"),
	                 "authUsername is too long", why) ||
	    copy_bounded(oc->auth_pass, sizeof(oc->auth_pass),
	                 jstr(trunk, "authPassword"),
	                 "authPassword is too long", why))
		return EINVAL;
	err = pick_number(req, trunk, oc, why);
	if (err)
		return err;
	/* The trunk's headers were checked when stored (or are the
	 * request's own, inline): strict, they must all go. */
	err = sipx_headers_format(json_object_get(trunk, "headers"), true,
	                          oc->headers, sizeof(oc->headers), why);
	if (err)
		return EINVAL;
	hlen = strlen(oc->headers);
	err = sipx_headers_format(json_object_get(req, "headers"), true,
	                          oc->headers + hlen,
	                          sizeof(oc->headers) - hlen, why);
	if (err)
		return EINVAL;

	fhost = jstr(trunk, "fromHost");
	if (*fhost && !address_grammar(fhost)) {
		*why = "fromHost should be a hostname or IP";
		return EINVAL;
	}
	if (!*fhost)
		fhost = from_host;
	snprintf(oc->to_uri, sizeof(oc->to_uri), "sip:%s@%s%s%s", oc->call_to,
	         oc->address, strcmp(oc->transport, "udp") ? ";transport=" : "",
	         strcmp(oc->transport, "udp") ? oc->transport : "");
	snprintf(oc->from_uri, sizeof(oc->from_uri), "sip:%s@%s", oc->number,
	         fhost);
	return 0;
}

static int room_part(const json_t *req, struct outbound_call *oc,
                     const char **why)
{
	const char *id = jstr(req, "participantIdentity");
	const char *name = jstr(req, "participantName");
	const json_t *attrs = json_object_get(req, "participantAttributes");

	if (!*jstr(req, "roomName")) {
		*why = "missing room name";
		return EINVAL;
	}
	if (copy_bounded(oc->room, sizeof(oc->room), jstr(req, "roomName"),
	                 "roomName is too long", why) ||
	    copy_bounded(oc->metadata, sizeof(oc->metadata),
	                 jstr(req, "participantMetadata"),
	                 "participantMetadata is too long", why))
		return EINVAL;
	/* LiveKit's server names the callee after the number when the
	 * request names no one. */
	if (*id) {
		if (copy_bounded(oc->identity, sizeof(oc->identity), id,
		                 "participantIdentity is too long", why))
			return EINVAL;
	} else {
		snprintf(oc->identity, sizeof(oc->identity), "sip_%s",
		         oc->call_to);
	}
	if (*name) {
		if (copy_bounded(oc->name, sizeof(oc->name), name,
		                 "participantName is too long", why))
			return EINVAL;
	} else {
		snprintf(oc->name, sizeof(oc->name), "Phone %s", oc->call_to);
	}
	oc->attrs = json_is_object(attrs) ? json_deep_copy(attrs) : NULL;
	return 0;
}

/* SRTP on the call: the stronger of the trunk's mediaEncryption and the
 * request's (LiveKit's request may ask for more than its trunk). */
static int encryption_part(const json_t *req, const json_t *trunk,
                           struct outbound_call *oc, const char **why)
{
	enum sdes_policy t = SDES_DISABLE, r = SDES_DISABLE;

	if ((trunk && routing_media_encryption(trunk, &t)) ||
	    routing_media_encryption(req, &r)) {
		*why = "mediaEncryption must be SIP_MEDIA_ENCRYPT_DISABLE, "
		       "SIP_MEDIA_ENCRYPT_ALLOW or SIP_MEDIA_ENCRYPT_REQUIRE";
		return EINVAL;
	}
	oc->encryption = t > r ? t : r;
	return 0;
}

int outbound_parse(const json_t *req, const json_t *trunk,
                   const char *from_host, uint32_t max_ms_default,
                   struct outbound_call *oc, const char **why)
{
	const char *s;
	int err;

	memset(oc, 0, sizeof(*oc));
	if (!json_is_object(req) || !from_host) {
		*why = "no request";
		return EINVAL;
	}
	err = types_ok(req, why);
	if (err)
		return err;
	s = jstr(req, "sipCallTo");
	if (!*s) {
		*why = "missing sip call to";
		return EINVAL;
	}
	if (!number_ok(s)) {
		*why = "sipCallTo must be a number, 1-64 characters of 0-9 "
		       "A-Z a-z + * # . _ ~ - (not a SIP URI)";
		return EINVAL;
	}
	snprintf(oc->call_to, sizeof(oc->call_to), "%s", s);
	if (!dtmf_ok(jstr(req, "dtmf"))) {
		*why = "dtmf must be at most 32 of 0-9 * # A-D w";
		return EINVAL;
	}
	snprintf(oc->dtmf, sizeof(oc->dtmf), "%s", jstr(req, "dtmf"));
	for (char *p = oc->dtmf; *p; p++) {
		if (*p >= 'a' && *p <= 'd')
			*p = (char)(*p - 'a' + 'A');
	}
	s = jstr(req, "displayName");
	if (!plain_ok(s, 128)) {
		*why = "displayName must be at most 128 printable characters "
		       "without quotes or angle brackets";
		return EINVAL;
	}
	snprintf(oc->from_name, sizeof(oc->from_name), "%s", s);
	/* Taken and not used: they must at least be harmless text. */
	if (!plain_ok(jstr(req, "sipRequestUri"), 256) ||
	    !plain_ok(jstr(req, "sipFromHeader"), 256) ||
	    !plain_ok(jstr(req, "destination"), 256) ||
	    (*jstr(req, "toUserOverride") &&
	     !number_ok(jstr(req, "toUserOverride")))) {
		*why = "sipRequestUri, sipFromHeader, destination or "
		       "toUserOverride is malformed";
		return EINVAL;
	}
	if (outbound_duration_ms(json_object_get(req, "ringingTimeout"),
	                         OUTBOUND_RINGING_MAX_MS, &oc->ringing_ms) ||
	    outbound_duration_ms(json_object_get(req, "maxCallDuration"),
	                         OUTBOUND_MAX_CALL_MAX_MS, &oc->max_ms)) {
		*why = "ringingTimeout and maxCallDuration must be durations "
		       "(\"30s\") of zero or more";
		return EINVAL;
	}
	if (!oc->ringing_ms)
		oc->ringing_ms = OUTBOUND_RINGING_DEFAULT_MS;
	if (!oc->max_ms)
		oc->max_ms = max_ms_default < OUTBOUND_MAX_CALL_MAX_MS
		                 ? max_ms_default
		                 : OUTBOUND_MAX_CALL_MAX_MS;
	oc->wait_answer =
	    json_is_true(json_object_get(req, "waitUntilAnswered"));
	oc->play_dialtone =
	    json_is_true(json_object_get(req, "playDialtone")) ||
	    json_is_true(json_object_get(req, "playRingtone"));
	oc->hide_number = json_is_true(json_object_get(req, "hidePhoneNumber"));

	err = trunk_part(req, trunk, from_host, oc, why);
	if (!err)
		err = encryption_part(
		    req, trunk ? trunk : json_object_get(req, "trunk"), oc,
		    why);
	if (!err)
		err = room_part(req, oc, why);
	if (err)
		outbound_reset(oc);
	return err;
}

void outbound_reset(struct outbound_call *oc)
{
	if (!oc)
		return;
	json_decref(oc->attrs);
	oc->attrs = NULL;
}
