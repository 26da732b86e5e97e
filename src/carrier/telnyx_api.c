/*
 * Telnyx Call Control commands over core/outbox.
 *
 * The API is the outbox's one destination and the call_control_id the
 * queue key, which gives the order per call, the concurrency across calls
 * and the retry rules. The body is serialised once, command_id included,
 * when the command is queued: every retry sends the same bytes, so Telnyx
 * can recognise a command whose first try did arrive.
 *
 * Telnyx's error body is {"errors":[{"code":"90018","title":...,
 * "detail":...}]}; the code is a string, but a number is taken too.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier/telnyx_api.h"
#include "core/form.h"
#include "core/log.h"
#include "core/outbox.h"

#define TX_DEFAULT_BASE "https://api.telnyx.com/v2"
#define TX_ACTION_MAX   64

struct telnyx_api {
	struct outbox *ob;
	char *base; /* without trailing '/' */
	char *auth; /* the Authorization header line */
};

/* A command on its way, for its outcome. */
struct tx_cmd {
	telnyx_api_done_h *done;
	void *arg;
	const char *call_control_id; /* in action's allocation */
	char action[];
};

static bool action_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > TX_ACTION_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Only plain codes are kept: one goes into a log field as it is. */
static bool code_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n && n < max &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789_.-") == n;
}

/* The id as one path segment, percent-encoded as encodeURIComponent
 * does. The caller frees the result. */
static char *path_escape(const char *s)
{
	size_t n = strlen(s), len = form_encode(NULL, 0, s, n);
	char *out = malloc(len + 1);

	if (out)
		form_encode(out, len + 1, s, n);
	return out;
}

/* The compact JSON to send; the caller frees *out. */
static int body_make(const char *json_body, const char *command_id, char **out)
{
	json_t *o = json_body ? json_loads(json_body, 0, NULL) : json_object();
	int err = 0;

	if (!json_is_object(o))
		err = json_body ? EINVAL : ENOMEM;
	else if (command_id && *command_id &&
	         !json_object_get(o, "command_id") &&
	         json_object_set_new(o, "command_id", json_string(command_id)))
		err = EINVAL; /* not UTF-8 */
	else if (!(*out = json_dumps(o, JSON_COMPACT)))
		err = ENOMEM;
	json_decref(o);
	return err;
}

/* errors[0]'s code and title (or detail) of an error body; "" each when
 * absent. */
static void error_parse(const char *body, size_t len, char *code, size_t csz,
                        char *title, size_t tsz)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);
	json_t *c = json_object_get(e0, "code");
	const char *t = json_string_value(json_object_get(e0, "title"));

	*code = *title = '\0';
	if (!t)
		t = json_string_value(json_object_get(e0, "detail"));
	if (json_is_string(c) && code_ok(json_string_value(c), csz))
		snprintf(code, csz, "%s", json_string_value(c));
	else if (json_is_integer(c))
		snprintf(code, csz, "%" JSON_INTEGER_FORMAT,
		         json_integer_value(c));
	if (t)
		snprintf(title, tsz, "%s", t);
	json_decref(root);
}

static void on_done(const struct outbox_outcome *o, void *arg)
{
	struct tx_cmd *c = arg;
	char code[32] = "", title[256] = "", drop[32], qid[192], qerr[320];
	struct telnyx_api_result r = {
	    .ok = o->result == OUTBOX_DELIVERED,
	    .status = (int)o->status,
	    .body = o->body,
	    .attempts = o->attempts,
	};

	if (!r.ok && o->body_len)
		error_parse(o->body, o->body_len, code, sizeof(code), title,
		            sizeof(title));
	if (*code)
		r.code = code;
	if (o->result == OUTBOX_DROPPED) {
		snprintf(drop, sizeof(drop), "dropped: %s", o->error);
		r.error = drop;
	} else if (o->error) {
		r.error = o->error;
	} else if (!r.ok && *title) {
		r.error = title;
	}

	log_quote(qid, sizeof(qid), c->call_control_id);
	if (r.ok)
		log_event(LOGL_INFO, NULL, "telnyx_command",
		          "action=%s call_control_id=\"%s\" status=%d "
		          "attempts=%u",
		          c->action, qid, r.status, r.attempts);
	else if (r.code)
		/* Field names stay in the format: what an argument renders
		 * is always one value. */
		log_event(LOGL_WARN, NULL, "telnyx_command",
		          "action=%s call_control_id=\"%s\" status=%d "
		          "attempts=%u code=\"%s\" error=\"%s\"",
		          c->action, qid, r.status, r.attempts, r.code,
		          log_quote(qerr, sizeof(qerr), r.error));
	else
		log_event(LOGL_WARN, NULL, "telnyx_command",
		          "action=%s call_control_id=\"%s\" status=%d "
		          "attempts=%u error=\"%s\"",
		          c->action, qid, r.status, r.attempts,
		          log_quote(qerr, sizeof(qerr), r.error));
	if (c->done)
		c->done(&r, c->arg);
	free(c);
}

static struct tx_cmd *cmd_new(const char *call_control_id, const char *action,
                              telnyx_api_done_h *done, void *arg)
{
	size_t al = strlen(action) + 1, il = strlen(call_control_id) + 1;
	struct tx_cmd *c = malloc(sizeof(*c) + al + il);

	if (!c)
		return NULL;
	c->done = done;
	c->arg = arg;
	memcpy(c->action, action, al);
	memcpy(c->action + al, call_control_id, il);
	c->call_control_id = c->action + al;
	return c;
}

int telnyx_api_command(struct telnyx_api *a, const char *call_control_id,
                       const char *action, const char *json_body,
                       const char *command_id, telnyx_api_done_h *done,
                       void *arg)
{
	const char *hdrs[3];
	struct outbox_payload *p = NULL;
	struct tx_cmd *c = NULL;
	char *data = NULL, *id = NULL, *url = NULL;
	int err;

	if (!a || !call_control_id || !*call_control_id || !action_ok(action))
		return EINVAL;
	err = body_make(json_body, command_id, &data);
	if (err)
		return err;
	id = path_escape(call_control_id);
	if (!id ||
	    asprintf(&url, "%s/calls/%s/actions/%s", a->base, id, action) < 0) {
		url = NULL;
		err = ENOMEM;
		goto out;
	}
	c = cmd_new(call_control_id, action, done, arg);
	if (!c) {
		err = ENOMEM;
		goto out;
	}
	hdrs[0] = a->auth;
	hdrs[1] = "Content-Type: application/json";
	hdrs[2] = "Accept: application/json";
	err = outbox_payload_alloc(&p, hdrs, 3, data, strlen(data));
	if (!err)
		err =
		    outbox_post(a->ob, 0, url, call_control_id, p, on_done, c);
	if (!err)
		c = NULL; /* on_done's now */
out:
	outbox_payload_deref(p);
	free(c);
	free(url);
	free(id);
	free(data); /* json_dumps uses malloc by default */
	return err;
}

static void destroy(struct telnyx_api *a)
{
	free(a->base);
	free(a->auth);
	free(a);
}

int telnyx_api_open(struct telnyx_api **ap, const struct telnyx_api_params *prm)
{
	struct outbox_params op;
	struct telnyx_api *a;
	const char *base;
	size_t n;
	int err;

	if (!ap || !prm || !prm->api_key || !*prm->api_key ||
	    strpbrk(prm->api_key, "\r\n"))
		return EINVAL;
	base =
	    prm->base_url && *prm->base_url ? prm->base_url : TX_DEFAULT_BASE;
	a = calloc(1, sizeof(*a));
	if (!a)
		return ENOMEM;
	a->base = strdup(base);
	if (!a->base ||
	    asprintf(&a->auth, "Authorization: Bearer %s", prm->api_key) < 0) {
		a->auth = NULL;
		destroy(a);
		return ENOMEM;
	}
	n = strlen(a->base);
	while (n && a->base[n - 1] == '/')
		a->base[--n] = '\0';
	op = (struct outbox_params){
	    .dests = (const char *const *)&a->base,
	    .ndests = 1,
	    .user_agent = "voxgate",
	    .max_attempts = prm->max_attempts ? prm->max_attempts : 5,
	    .backoff_min_ms = prm->backoff_min_ms ? prm->backoff_min_ms : 500,
	    .backoff_max_ms = prm->backoff_max_ms ? prm->backoff_max_ms : 8000,
	    .max_age_ms = prm->max_age_ms ? prm->max_age_ms : 60000,
	    .max_depth = prm->max_depth ? prm->max_depth : 1000,
	    .max_inflight = prm->max_inflight ? prm->max_inflight : 16,
	    .timeout_ms = prm->timeout_ms ? prm->timeout_ms : 10000,
	};
	err = outbox_open(&a->ob, &op);
	if (err) {
		destroy(a);
		return err;
	}
	*ap = a;
	return 0;
}

void telnyx_api_close(struct telnyx_api *a, unsigned timeout_ms)
{
	if (!a)
		return;
	outbox_close(a->ob, timeout_ms);
	destroy(a);
}

void telnyx_api_get_stats(struct telnyx_api *a, struct outbox_stats *st)
{
	outbox_get_stats(a ? a->ob : NULL, st);
}
