/*
 * Streaming chat completions on the loop, through httpc: the request's
 * body, its timers and the caller's handlers, and where a reply's text
 * may be cut into clauses. The reply's bytes are parsed in llm_sse.c.
 * "[DONE]" ends the reply; the request is then released rather than
 * waited out, so a server that keeps the connection open delays nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/libre.h"
#include "core/utf8.h"
#include "net/httpc.h"
#include "worker/llm_int.h"

void llm_params_default(struct llm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->temperature = -1;
	p->connect_timeout_ms = LLM_CONNECT_MS;
	p->first_token_timeout_ms = LLM_FIRST_MS;
	p->total_timeout_ms = LLM_TOTAL_MS;
}

/* One message as OpenAI takes it: an assistant's calls as
 * {"id", "type": "function", "function": {"name", "arguments"}}, a tool's
 * answer with its tool_call_id. NULL when a string is not UTF-8. */
static json_t *message_json(const struct llm_message *m)
{
	json_t *o = json_pack("{s:s,s:s?}", "role", m->role, "content",
	                      m->content),
	       *calls;

	if (!o)
		return NULL;
	if (m->tool_call_id &&
	    json_object_set_new(o, "tool_call_id",
	                        json_string(m->tool_call_id))) {
		json_decref(o);
		return NULL;
	}
	if (!m->ncalls)
		return o;
	calls = json_array();
	if (json_object_set_new(o, "tool_calls", calls)) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct llm_tool_call *c = &m->calls[i];
		json_t *j =
		    json_pack("{s:s,s:s,s:{s:s,s:s%}}", "id", c->id, "type",
		              "function", "function", "name", c->name,
		              "arguments", c->args, c->args_len);

		if (json_array_append_new(calls, j)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The tools offered: their schemas are parsed here, so a malformed one is
 * the caller's EINVAL. */
static int tools_json(json_t *root, const struct llm_params *p, char *why)
{
	json_t *arr = json_array();

	if (json_object_set_new(root, "tools", arr))
		goto nomem;
	for (size_t i = 0; i < p->ntools; i++) {
		const struct llm_tool *t = &p->tools[i];
		json_error_t jerr;
		json_t *schema = json_loads(
		           t->parameters ? t->parameters : "{}", 0, &jerr),
		       *j;

		if (!json_is_object(schema)) {
			json_decref(schema);
			llm_set_why(why, "tool %s: parameters: %s",
			            t->name ? t->name : "(no name)",
			            schema ? "not an object" : jerr.text);
			return EINVAL;
		}
		j = json_pack(
		    "{s:s,s:{s:s,s:s,s:o}}", "type", "function", "function",
		    "name", t->name ? t->name : "", "description",
		    t->description ? t->description : "", "parameters", schema);
		if (!j) {
			llm_set_why(why, "tool %zu is not UTF-8", i);
			return EINVAL;
		}
		if (json_array_append_new(arr, j))
			goto nomem;
	}
	if (p->tools_off &&
	    json_object_set_new(root, "tool_choice", json_string("none")))
		goto nomem;
	return 0;
nomem:
	llm_set_why(why, "out of memory");
	return ENOMEM;
}

/* The request's JSON; *bodyp is malloc'd and the caller frees it. */
static int request_body(const struct llm_params *p,
                        const struct llm_message *msgs, size_t n, char **bodyp,
                        char *why)
{
	json_t *root, *arr;
	int err;

	root = json_pack("{s:s,s:[],s:b}", "model", p->model, "messages",
	                 "stream", 1);
	if (!root) {
		llm_set_why(why, "the model name is not UTF-8");
		return EINVAL;
	}
	arr = json_object_get(root, "messages");
	for (size_t i = 0; i < n; i++) {
		json_t *m = message_json(&msgs[i]);

		if (!m) {
			json_decref(root);
			llm_set_why(why, "message %zu is not UTF-8", i);
			return EINVAL;
		}
		if (json_array_append_new(arr, m))
			goto nomem;
	}
	if (p->ntools) {
		err = tools_json(root, p, why);
		if (err) {
			json_decref(root);
			return err;
		}
	}
	if (p->temperature >= 0 &&
	    json_object_set_new(root, "temperature", json_real(p->temperature)))
		goto nomem;
	if (p->max_tokens &&
	    json_object_set_new(root, "max_tokens",
	                        json_integer((json_int_t)p->max_tokens)))
		goto nomem;
	*bodyp = json_dumps(root, JSON_COMPACT);
	if (*bodyp) {
		json_decref(root);
		return 0;
	}
nomem:
	json_decref(root);
	llm_set_why(why, "out of memory");
	return ENOMEM;
}

static int args_ok(const struct llm_params *p, const struct llm_message *msgs,
                   size_t n, llm_delta_h *h, char *why)
{
	if (!p || !p->base_url || !*p->base_url || !p->model || !h ||
	    (n && !msgs)) {
		llm_set_why(why, "missing base_url, model or handler");
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!msgs[i].role || (!msgs[i].content && !msgs[i].ncalls)) {
			llm_set_why(why, "message %zu has no role or content",
			            i);
			return EINVAL;
		}
		if (msgs[i].ncalls && !msgs[i].calls) {
			llm_set_why(why, "message %zu has no calls", i);
			return EINVAL;
		}
	}
	if (p->ntools && !p->tools) {
		llm_set_why(why, "no tools");
		return EINVAL;
	}
	return 0;
}

static unsigned or_default(unsigned v, unsigned def)
{
	return v ? v : def;
}

/* ---- on the loop ------------------------------------------------------ */

/* What a chat in flight keeps. The caller's handle (struct llm_chat) is
 * apart from it so that the handle can go from inside a handler while the
 * parse that called it is still on the stack: every entry from the loop
 * holds a reference to the chat until it returns. */
struct chat {
	struct llm_stream s;
	struct llm_chat *h; /* NULL once the caller released it */
	struct httpc_req *req;
	struct tmr first;
	unsigned first_ms;
	bool over;
	llm_delta_h *deltah;
	llm_done_h *doneh;
	void *arg;
	char *url;
};

struct llm_chat {
	struct chat *c;
};

static void chat_destructor(void *arg)
{
	struct chat *c = arg;

	tmr_cancel(&c->first);
	mem_deref(c->req);
	llm_stream_free(&c->s);
	free(c->url);
}

static void handle_destructor(void *arg)
{
	struct llm_chat *h = arg;
	struct chat *c = h->c;

	c->h = NULL;
	c->over = true;
	tmr_cancel(&c->first);
	c->req = mem_deref(c->req);
	mem_deref(c);
}

/* Once: the request goes, and the caller hears how it ended. */
static void chat_finish(struct chat *c, int err)
{
	if (c->over)
		return;
	c->over = true;
	tmr_cancel(&c->first);
	c->req = mem_deref(c->req);
	if (c->h && c->doneh)
		c->doneh(err, err ? c->s.why : "", c->arg);
}

static void chat_delta(const char *text, size_t len, void *arg)
{
	struct chat *c = arg;

	if (!c->h || c->over)
		return;
	tmr_cancel(&c->first);
	c->deltah(text, len, c->arg);
}

static void chat_first_late(void *arg)
{
	struct chat *c = mem_ref(arg);

	llm_set_why(c->s.why, "no text within %u ms", c->first_ms);
	chat_finish(c, ETIMEDOUT);
	mem_deref(c);
}

static void chat_body(const uint8_t *data, size_t n, void *arg)
{
	struct chat *c = mem_ref(arg);
	struct llm_stream *s = &c->s;

	if (c->over) {
		mem_deref(c);
		return;
	}
	if (s->status != 200) {
		size_t room = LLM_ERRBODY_MAX - s->ebody.len;

		if (llm_buf_add(&s->ebody, (const char *)data,
		                n < room ? n : room))
			chat_finish(c, llm_stream_fail(s, ENOMEM,
			                               "out of memory", NULL));
	} else if (llm_sse_feed(s, (const char *)data, n)) {
		/* "[DONE]": the server may keep the connection open, and
		 * nothing after it matters. */
		chat_finish(c, s->done ? 0 : s->err);
	} else if (s->ncalls) {
		/* A call is the model's answer as much as text is. */
		tmr_cancel(&c->first);
	}
	mem_deref(c);
}

static void chat_head(uint16_t status, void *arg)
{
	struct chat *c = arg;

	c->s.status = status;
}

static void chat_done(int err, uint16_t status, const char *why, void *arg)
{
	struct chat *c = mem_ref(arg);
	struct llm_stream *s = &c->s;
	int rc;

	if (!s->status)
		s->status = status;
	if (s->status && s->status != 200) {
		llm_http_error(s);
		rc = EIO;
	} else if (s->err) {
		rc = s->err;
	} else if (!err) {
		llm_set_why(s->why, "%s",
		            s->events ? "the stream ended before [DONE]"
		                      : "no data in the stream");
		rc = EPROTO;
	} else if (err == ECONNREFUSED) {
		llm_set_why(s->why, "cannot connect to %s: %s", c->url, why);
		rc = ECONNREFUSED;
	} else if (err == ETIMEDOUT) {
		llm_set_why(s->why, "%s", why);
		rc = ETIMEDOUT;
	} else {
		llm_set_why(s->why, "%s%s",
		            s->status ? "the stream was cut: " : "", why);
		rc = s->status ? EPROTO : err == ENOMEM ? ENOMEM : EIO;
	}
	chat_finish(c, rc);
	mem_deref(c);
}

int llm_chat_start(struct llm_chat **cp, struct httpc *hc,
                   const struct llm_params *p, const struct llm_message *msgs,
                   size_t n, llm_delta_h *deltah, llm_done_h *doneh, void *arg,
                   const char **why)
{
	static __thread char fail[LLM_WHY_MAX];
	const char *hdrs[3] = {"Content-Type: application/json",
	                       "Accept: text/event-stream", NULL};
	struct httpc_prm prm = {0};
	struct llm_chat *h;
	struct chat *c;
	char *body = NULL, *auth = NULL;
	const char *const all[] = {hdrs[0], hdrs[1], NULL, NULL};
	const char *const *use = all;
	const char *withauth[4];
	size_t blen;
	int err;

	fail[0] = '\0';
	if (!cp || !hc || !doneh) {
		llm_set_why(fail, "missing chat, client or handler");
		err = EINVAL;
		goto out;
	}
	err = args_ok(p, msgs, n, deltah, fail);
	if (!err)
		err = request_body(p, msgs, n, &body, fail);
	if (err)
		goto out;
	c = mem_zalloc(sizeof(*c), chat_destructor);
	h = mem_zalloc(sizeof(*h), handle_destructor);
	if (!c || !h) {
		mem_deref(c);
		mem_deref(h);
		free(body);
		llm_set_why(fail, "out of memory");
		err = ENOMEM;
		goto out;
	}
	tmr_init(&c->first);
	llm_stream_init(&c->s, NULL);
	c->s.h = chat_delta;
	c->s.arg = c;
	c->h = h;
	h->c = c;
	c->deltah = deltah;
	c->doneh = doneh;
	c->arg = arg;
	c->first_ms = or_default(p->first_token_timeout_ms, LLM_FIRST_MS);
	blen = strlen(p->base_url);
	while (blen && p->base_url[blen - 1] == '/')
		blen--;
	if (asprintf(&c->url, "%.*s/chat/completions", (int)blen, p->base_url) <
	    0)
		c->url = NULL;
	if (p->api_key && *p->api_key &&
	    asprintf(&auth, "Authorization: Bearer %s", p->api_key) < 0)
		auth = NULL;
	if (!c->url || (p->api_key && *p->api_key && !auth)) {
		err = ENOMEM;
	} else {
		if (auth) {
			withauth[0] = hdrs[0];
			withauth[1] = hdrs[1];
			withauth[2] = auth;
			withauth[3] = NULL;
			use = withauth;
		}
		prm.url = c->url;
		prm.headers = use;
		prm.body = body;
		prm.body_len = strlen(body);
		prm.connect_ms =
		    or_default(p->connect_timeout_ms, LLM_CONNECT_MS);
		prm.total_ms = or_default(p->total_timeout_ms, LLM_TOTAL_MS);
		err = httpc_request(&c->req, hc, &prm, chat_head, chat_body,
		                    chat_done, c);
	}
	free(auth);
	free(body);
	if (err) {
		mem_deref(h);
		llm_set_why(fail, "%s",
		            err == ENOMEM ? "out of memory"
		                          : "cannot set up the transfer");
		goto out;
	}
	tmr_start(&c->first, c->first_ms, chat_first_late, c);
	*cp = h;
	return 0;
out:
	if (why)
		*why = fail;
	return err;
}

const struct llm_tool_call *llm_chat_calls(const struct llm_chat *c, size_t *n,
                                           const char **finish)
{
	if (finish)
		*finish = c ? c->c->s.finish : "";
	*n = c ? c->c->s.ncalls : 0;
	return c ? c->c->s.calls : NULL;
}

/* Lower case; each is matched against the letters and dots before a '.'. */
static const char *const llm_abbrevs[] = {"mr", "mrs", "ms",  "dr",
                                          "st", "vs",  "e.g", "i.e"};

static bool abbrev_before(const char *text, size_t dot)
{
	size_t start = dot, wlen;

	while (start > 0 && (isalpha((unsigned char)text[start - 1]) ||
	                     text[start - 1] == '.'))
		start--;
	wlen = dot - start;
	for (size_t i = 0; i < sizeof(llm_abbrevs) / sizeof(llm_abbrevs[0]);
	     i++)
		if (strlen(llm_abbrevs[i]) == wlen &&
		    strncasecmp(text + start, llm_abbrevs[i], wlen) == 0)
			return true;
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t llm_clause_end(const char *text, size_t len, size_t min_chars)
{
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		bool at_end = i + 1 == len;

		switch (c) {
		case '.':
		case '!':
		case '?':
		case ';':
		case ':':
		case ',':
			break;
		default:
			continue;
		}
		if (!at_end && !is_space(text[i + 1]))
			continue;
		if (c == ',' && i + 1 < min_chars)
			continue;
		if (at_end && i > 0 && isdigit((unsigned char)text[i - 1]) &&
		    (c == '.' || c == ',' || c == ':'))
			continue;
		if (c == '.' && abbrev_before(text, i))
			continue;
		return i + 1;
	}
	return 0;
}
