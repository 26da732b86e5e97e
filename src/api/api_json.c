/*
 * The HTTP API's JSON in and out: Twirp replies, the renaming of keys
 * between the camelCase handlers work in and the snake_case LiveKit's
 * Twirp server writes, and the checks every request's fields get.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>
#include "api/api_int.h"
#include "core/libre.h"
#include "core/log.h"

/* ---- replies ---------------------------------------------------------- */

static uint16_t twirp_status(const char *code)
{
	static const struct {
		const char *code;
		uint16_t status;
	} map[] = {
	    {"invalid_argument", 400},
	    {"malformed", 400},
	    {"out_of_range", 400},
	    {"unauthenticated", 401},
	    {"permission_denied", 403},
	    {"not_found", 404},
	    {"bad_route", 404},
	    {"canceled", 408},
	    {"deadline_exceeded", 408},
	    {"already_exists", 409},
	    {"aborted", 409},
	    {"failed_precondition", 412},
	    {"resource_exhausted", 429},
	    {"unimplemented", 501},
	    {"unavailable", 503},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(map[i].code, code))
			return map[i].status;
	}
	return 500;
}

static void reply_json(struct http_conn *conn, uint16_t status,
                       const char *reason, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	(void)http_creply(conn, status, reason, "application/json", "%s",
	                  text ? text : "{}");
	free(text);
	json_decref(body);
}

void api_twirp_error(struct http_conn *conn, const char *code, const char *msg)
{
	reply_json(conn, twirp_status(code), "Error",
	           json_pack("{s:s,s:s}", "code", code, "msg", msg));
}

const char *api_sip_twirp_code(uint16_t scode)
{
	switch (scode) {
	case 486:
	case 600:
		return "resource_exhausted";
	case 404:
	case 604:
		return "not_found";
	case 401:
	case 403:
	case 407:
	case 603:
		return "permission_denied";
	case 408:
	case 480:
		return "deadline_exceeded";
	case 487:
		return "canceled";
	default:
		break;
	}
	if (scode >= 500 && scode < 600)
		return "failed_precondition";
	return "unavailable";
}

void api_twirp_sip_error(struct http_conn *conn, const char *code,
                         const char *prefix, uint16_t scode, const char *reason)
{
	char msg[320], num[8];

	if (!code)
		code = api_sip_twirp_code(scode);
	if (!reason)
		reason = "";
	snprintf(msg, sizeof(msg), "%s%s%u %s", prefix ? prefix : "",
	         prefix ? ": " : "", scode, reason);
	snprintf(num, sizeof(num), "%u", scode);
	reply_json(conn, twirp_status(code), "Error",
	           json_pack("{s:s,s:s,s:{s:s,s:s}}", "code", code, "msg", msg,
	                     "meta", "sip_status_code", num, "sip_status",
	                     reason));
}

void api_plain(struct http_conn *conn, uint16_t status, const char *reason,
               const char *text)
{
	(void)http_creply(conn, status, reason, "text/plain", "%s", text);
}

void api_store_failed(struct call_ctx *c, int err)
{
	log_event(LOGL_ERROR, NULL, "store_failed", "error=\"%s\"",
	          strerror(err));
	api_twirp_error(c->conn, "internal", "the store could not be written");
}

/* ---- key names -------------------------------------------------------- */

static bool is_map_field(const char *key)
{
	static const char *const maps[] = {
	    "attributes",
	    "headers",
	    "headersToAttributes",
	    "attributesToHeaders",
	    "headers_to_attributes",
	    "attributes_to_headers",
	    "participantAttributes",
	    "participant_attributes",
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		if (!strcmp(maps[i], key))
			return true;
	}
	return false;
}

static void key_to_camel(const char *in, char *out, size_t sz)
{
	size_t o = 0;
	bool up = false;

	for (; *in && o + 1 < sz; in++) {
		if (*in == '_') {
			up = true;
			continue;
		}
		out[o++] = up ? (char)toupper((unsigned char)*in) : *in;
		up = false;
	}
	out[o] = '\0';
}

static void key_to_snake(const char *in, char *out, size_t sz)
{
	size_t o = 0;

	for (; *in && o + 2 < sz; in++) {
		if (isupper((unsigned char)*in)) {
			out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)*in);
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* A copy of v with object keys renamed (not inside map fields). */
json_t *api_rename_keys(const json_t *v, bool to_snake)
{
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *x;

		json_object_foreach((json_t *)v, k, x)
		{
			char name[128];

			if (to_snake)
				key_to_snake(k, name, sizeof(name));
			else
				key_to_camel(k, name, sizeof(name));
			json_object_set_new(o, name,
			                    is_map_field(k)
			                        ? json_deep_copy(x)
			                        : api_rename_keys(x, to_snake));
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *x;

		json_array_foreach(v, i, x)
		    json_array_append_new(a, api_rename_keys(x, to_snake));
		return a;
	}
	return json_deep_copy(v);
}

void api_reply_conn(struct http_conn *conn, json_t *camel)
{
	json_t *snake = api_rename_keys(camel, true);

	json_decref(camel);
	reply_json(conn, 200, "OK", snake);
}

void api_reply_ok(struct call_ctx *c, json_t *camel)
{
	api_reply_conn(c->conn, camel);
}

/* ---- request helpers -------------------------------------------------- */

const char *api_obj_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

const char *api_req_str(const struct call_ctx *c, const char *key)
{
	return api_obj_str(c->req, key);
}

/* protobuf-JSON fields of the wrong type fail the decode: malformed. */
bool api_check_types(struct call_ctx *c, const char *const *strings)
{
	for (; *strings; strings++) {
		json_t *v = json_object_get(c->req, *strings);

		if (v && !json_is_string(v) && !json_is_null(v)) {
			char msg[160];

			snprintf(msg, sizeof(msg),
			         "the json request could not be decoded: "
			         "field %s must be a string",
			         *strings);
			api_twirp_error(c->conn, "malformed", msg);
			return false;
		}
	}
	return true;
}

bool api_string_list(struct call_ctx *c, const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	size_t i;
	json_t *x;

	if (!v || json_is_null(v))
		return true;
	if (!json_is_array(v))
		goto bad;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x))
			goto bad;
	}
	return true;
bad:
	api_twirp_error(c->conn, "malformed",
	                "the json request could not be decoded");
	return false;
}

/* google.protobuf.Timestamp in protobuf-JSON is an RFC 3339 string. */
void api_stamp(json_t *obj, bool create)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (create)
		json_object_set_new(obj, "createdAt", json_string(buf));
	json_object_set_new(obj, "updatedAt", json_string(buf));
}
