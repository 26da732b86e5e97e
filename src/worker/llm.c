/*
 * Streaming chat completions on the loop, through httpc.
 *
 * The reply is parsed as Server-Sent Events as bytes arrive: a line is
 * gathered until CR, LF or CRLF ends it, data lines are joined until a
 * blank line ends the event (each line and each event's data bounded,
 * LLM_LINE_MAX and LLM_EVENT_MAX), and each event's JSON is decoded whole,
 * so a read may split the stream anywhere, even inside a UTF-8 character.
 * "[DONE]" ends the reply; the request is then released rather than
 * waited out, so a server that keeps the connection open delays nothing.
 *
 * Tool calls come as fragments in delta.tool_calls: the first of a call
 * carries its index, id and name, the next ones pieces of its arguments
 * under the same index. They are joined in place, bounded (calls, name, id
 * and arguments: LLM_TOOL_*_MAX), with no allocation but the calls' array
 * at the first one.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
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
#include "worker/llm.h"

#define LLM_LINE_MAX    (1024 * 1024) /* a longer SSE line is malformed */
#define LLM_EVENT_MAX   (1024 * 1024) /* and so is an event's data, whole */
#define LLM_ERRBODY_MAX 4096          /* of an HTTP error's body, kept */
#define LLM_ERRMSG_MAX  200           /* of a server's message, in err */
#define LLM_CONNECT_MS  2000
#define LLM_FIRST_MS    5000
#define LLM_TOTAL_MS    30000

struct llm_buf {
	char *data;
	size_t len;
	size_t cap;
};

struct llm_stream {
	llm_delta_h *h;
	void *arg;
	long status;          /* 0 until the response's first body byte */
	struct llm_buf line;  /* the SSE line being read, without its end */
	struct llm_buf data;  /* the event's data lines, joined with \n */
	struct llm_buf ebody; /* the body of a non-200 response */
	bool has_data;        /* the event being read has a data line */
	bool after_cr;        /* an LF right after CR ends no second line */
	bool done;            /* "[DONE]" came */
	bool got_text;
	size_t events;
	int err;             /* what stopped the parse: EPROTO, EIO or ENOMEM */
	struct llm_run *run; /* NULL: nothing cancels, no reason is kept */
	char *why;           /* run->why, or own */
	char own[LLM_WHY_MAX];
	/* run->calls, or own: allocated at the first call, freed with the
	 * stream */
	struct llm_tool_call *calls;
	size_t ncalls;
	char finish[LLM_FINISH_MAX];
};

void llm_params_default(struct llm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->temperature = -1;
	p->connect_timeout_ms = LLM_CONNECT_MS;
	p->first_token_timeout_ms = LLM_FIRST_MS;
	p->total_timeout_ms = LLM_TOTAL_MS;
}

void llm_run_init(struct llm_run *run)
{
	run->why[0] = '\0';
	run->ncalls = 0;
	run->finish[0] = '\0';
}

/* Formats the reason into why (LLM_WHY_MAX bytes) and blanks control
 * characters, since a server's text may hold newlines and a reason is one
 * line. */
static void set_why(char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_why(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(why, LLM_WHY_MAX, fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
	for (char *c = why; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

/* Points the stream's reason at the run's, or at its own. */
static void stream_init(struct llm_stream *s, struct llm_run *run)
{
	s->run = run;
	s->why = run ? run->why : s->own;
	s->why[0] = '\0';
	s->calls = run ? run->calls : NULL;
	if (run) {
		run->ncalls = 0;
		run->finish[0] = '\0';
	}
}

static void stream_free(struct llm_stream *s)
{
	free(s->line.data);
	free(s->data.data);
	free(s->ebody.data);
	if (!s->run)
		free(s->calls);
}

/* The caller's *why for a failed stream: the run's reason, or without a
 * run, where the reason cannot outlive the call, the error's name. */
static int stream_why(const struct llm_stream *s, int rc, const char **why)
{
	if (rc && why)
		*why = s->run && s->why[0] ? s->why : strerror(rc);
	return rc;
}

static int buf_add(struct llm_buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

static int stream_fail(struct llm_stream *s, int err, const char *what,
                       const char *detail)
{
	s->err = err;
	set_why(s->why, "%s%s%.*s", what, detail ? ": " : "", LLM_ERRMSG_MAX,
	        detail ? detail : "");
	return err;
}

/* The server's message from an error object: {"message": ...} as OpenAI
 * sends it, or a bare string as some compatible servers do. */
static const char *error_text(json_t *e)
{
	if (json_is_string(e))
		return json_string_value(e);
	return json_string_value(json_object_get(e, "message"));
}

/* A string member of a fragment: NULL when absent or empty. (A NUL
 * inside cannot come: the stream's JSON is read without JSON_ALLOW_NUL.) */
static int frag_str(struct llm_stream *s, json_t *o, const char *key,
                    const char **v, size_t *len)
{
	json_t *j = json_object_get(o, key);

	*v = NULL;
	*len = 0;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_string(j))
		return stream_fail(s, EPROTO, "malformed tool call", key);
	*len = json_string_length(j);
	if (*len)
		*v = json_string_value(j);
	return 0;
}

/*
 * One element of delta.tool_calls. Its index says which call it adds to;
 * without one (some servers send each call whole), a new id starts a new
 * call and anything else adds to the last. The id and the name are taken
 * once, from the first fragment that has them (some servers repeat them
 * in every fragment); the arguments are joined.
 */
static int tool_fragment(struct llm_stream *s, json_t *c)
{
	json_t *index = json_object_get(c, "index"), *fn;
	const char *id, *name, *args;
	size_t idlen, namelen, argslen, at, room;
	struct llm_tool_call *call;
	int err;

	if (!json_is_object(c))
		return stream_fail(s, EPROTO, "malformed tool call",
		                   "not an object");
	fn = json_object_get(c, "function");
	if (fn && !json_is_null(fn) && !json_is_object(fn))
		return stream_fail(s, EPROTO, "malformed tool call",
		                   "function is not an object");
	err = frag_str(s, c, "id", &id, &idlen);
	if (!err)
		err = frag_str(s, fn, "name", &name, &namelen);
	if (!err)
		err = frag_str(s, fn, "arguments", &args, &argslen);
	if (err)
		return err;
	if (json_is_integer(index)) {
		json_int_t i = json_integer_value(index);

		if (i < 0 || i >= LLM_TOOL_CALLS_MAX) {
			char what[48];

			snprintf(what, sizeof(what),
			         "index %lld, at most %d calls", (long long)i,
			         LLM_TOOL_CALLS_MAX);
			return stream_fail(s, EPROTO, "malformed tool call",
			                   what);
		}
		at = (size_t)i;
	} else if (index && !json_is_null(index)) {
		return stream_fail(s, EPROTO, "malformed tool call",
		                   "index is not an integer");
	} else if (!s->ncalls) {
		at = 0;
	} else {
		at = s->ncalls - 1;
		if (id && s->calls[at].id[0] &&
		    (strlen(s->calls[at].id) != idlen ||
		     memcmp(s->calls[at].id, id, idlen)))
			at++;
		if (at >= LLM_TOOL_CALLS_MAX)
			return stream_fail(s, EPROTO, "malformed tool call",
			                   "too many calls");
	}
	if (idlen > LLM_TOOL_ID_MAX)
		return stream_fail(s, EPROTO, "malformed tool call",
		                   "id too long");
	if (namelen > LLM_TOOL_NAME_MAX)
		return stream_fail(s, EPROTO, "malformed tool call",
		                   "name too long");
	if (!s->calls) {
		s->calls = calloc(LLM_TOOL_CALLS_MAX, sizeof(*s->calls));
		if (!s->calls)
			return stream_fail(s, ENOMEM, "out of memory", NULL);
	}
	while (s->ncalls <= at)
		memset(&s->calls[s->ncalls++], 0, sizeof(*s->calls));
	call = &s->calls[at];
	if (id && !call->id[0]) {
		memcpy(call->id, id, idlen);
		call->id[idlen] = '\0';
	}
	if (name && !call->name[0]) {
		memcpy(call->name, name, namelen);
		call->name[namelen] = '\0';
	}
	room = LLM_TOOL_ARGS_MAX - call->args_len;
	if (call->args_cut) {
		argslen = 0;
	} else if (argslen > room) {
		/* Cut on a character: the arguments go back to the model
		 * with the history, as JSON, which must be UTF-8. */
		call->args_cut = true;
		argslen = utf8_trim(args, room);
	}
	memcpy(call->args + call->args_len, args ? args : "", argslen);
	call->args_len += argslen;
	call->args[call->args_len] = '\0';
	return 0;
}

/* One event's data: "[DONE]" or a chunk whose choices[0].delta.content,
 * when a non-empty string, is the next piece of text, and whose
 * delta.tool_calls, when there, are fragments of calls. */
static int sse_event(struct llm_stream *s)
{
	json_error_t jerr;
	json_t *root, *choice, *delta, *content, *finish, *calls;
	const char *text;
	int err = 0;

	s->events++;
	if (s->data.len == 6 && memcmp(s->data.data, "[DONE]", 6) == 0) {
		s->done = true;
		return 0;
	}
	root = json_loadb(s->data.data, s->data.len, 0, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		return stream_fail(s, EPROTO, "malformed JSON in the stream",
		                   root ? "not an object" : jerr.text);
	}
	if (json_object_get(root, "error")) {
		text = error_text(json_object_get(root, "error"));
		err = stream_fail(s, EIO, "error in the stream",
		                  text ? text : "no message");
		json_decref(root);
		return err;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	delta = json_object_get(choice, "delta");
	content = json_object_get(delta, "content");
	finish = json_object_get(choice, "finish_reason");
	if (json_is_string(finish))
		utf8_copy(s->finish, sizeof(s->finish),
		          json_string_value(finish),
		          json_string_length(finish));
	calls = json_object_get(delta, "tool_calls");
	if (calls && !json_is_null(calls)) {
		size_t i;
		json_t *c;

		if (!json_is_array(calls))
			err = stream_fail(s, EPROTO, "malformed tool call",
			                  "tool_calls is not a list");
		json_array_foreach(calls, i, c)
		{
			if (!err)
				err = tool_fragment(s, c);
		}
	}
	if (!err && json_is_string(content) &&
	    json_string_length(content) > 0) {
		s->got_text = true;
		s->h(json_string_value(content), json_string_length(content),
		     s->arg);
	}
	json_decref(root);
	return err;
}

/* One complete line: a blank line ends the event, "data" lines add to it,
 * comments (":") and other fields (event, id, retry) are ignored. */
static int sse_line(struct llm_stream *s)
{
	const char *l = s->line.data, *colon, *v;
	size_t len = s->line.len, flen, vlen;
	int err;

	if (len == 0) {
		if (!s->has_data)
			return 0;
		err = sse_event(s);
		s->has_data = false;
		s->data.len = 0;
		return err;
	}
	colon = memchr(l, ':', len);
	flen = colon ? (size_t)(colon - l) : len;
	if (flen != 4 || memcmp(l, "data", 4) != 0)
		return 0;
	v = colon ? colon + 1 : l + len;
	vlen = (size_t)(l + len - v);
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	/* Lines are bounded one by one; without this, short data lines
	 * that never meet a blank line would pile up until a timeout. */
	if (s->data.len + s->has_data + vlen > LLM_EVENT_MAX)
		return stream_fail(s, EPROTO, "event too large in the stream",
		                   NULL);
	if ((s->has_data && buf_add(&s->data, "\n", 1)) ||
	    buf_add(&s->data, v, vlen))
		return stream_fail(s, ENOMEM, "out of memory", NULL);
	s->has_data = true;
	return 0;
}

/* Feeds bytes as they come; nonzero once the parse must stop (an error, or
 * the reply is complete). */
static int sse_feed(struct llm_stream *s, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = i;

		while (run < n && p[run] != '\r' && p[run] != '\n')
			run++;
		if (run > i) {
			if (s->line.len + (run - i) > LLM_LINE_MAX)
				return stream_fail(
				    s, EPROTO, "line too long in the stream",
				    NULL);
			if (buf_add(&s->line, p + i, run - i))
				return stream_fail(s, ENOMEM, "out of memory",
				                   NULL);
			s->after_cr = false;
			i = run;
			continue;
		}
		if (p[i] == '\n' && s->after_cr) {
			s->after_cr = false;
			i++;
			continue;
		}
		s->after_cr = p[i] == '\r';
		i++;
		if (sse_line(s))
			return -1;
		s->line.len = 0;
		if (s->done)
			return -1;
	}
	return 0;
}

/* "HTTP <status>: <the server's message>", the message from an OpenAI
 * error body, or else the body's text. */
static void http_error(struct llm_stream *s)
{
	json_t *root = NULL;
	const char *text = NULL;

	if (s->ebody.len)
		root = json_loadb(s->ebody.data, s->ebody.len, 0, NULL);
	if (root)
		text = error_text(json_object_get(root, "error"));
	if (text)
		set_why(s->why, "HTTP %ld: %.*s", s->status, LLM_ERRMSG_MAX,
		        text);
	else if (s->ebody.len)
		set_why(s->why, "HTTP %ld: %.*s", s->status,
		        (int)(s->ebody.len < LLM_ERRMSG_MAX ? s->ebody.len
		                                            : LLM_ERRMSG_MAX),
		        s->ebody.data);
	else
		set_why(s->why, "HTTP %ld", s->status);
	json_decref(root);
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
			set_why(why, "tool %s: parameters: %s",
			        t->name ? t->name : "(no name)",
			        schema ? "not an object" : jerr.text);
			return EINVAL;
		}
		j = json_pack(
		    "{s:s,s:{s:s,s:s,s:o}}", "type", "function", "function",
		    "name", t->name ? t->name : "", "description",
		    t->description ? t->description : "", "parameters", schema);
		if (!j) {
			set_why(why, "tool %zu is not UTF-8", i);
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
	set_why(why, "out of memory");
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
		set_why(why, "the model name is not UTF-8");
		return EINVAL;
	}
	arr = json_object_get(root, "messages");
	for (size_t i = 0; i < n; i++) {
		json_t *m = message_json(&msgs[i]);

		if (!m) {
			json_decref(root);
			set_why(why, "message %zu is not UTF-8", i);
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
	set_why(why, "out of memory");
	return ENOMEM;
}

static int args_ok(const struct llm_params *p, const struct llm_message *msgs,
                   size_t n, llm_delta_h *h, char *why)
{
	if (!p || !p->base_url || !*p->base_url || !p->model || !h ||
	    (n && !msgs)) {
		set_why(why, "missing base_url, model or handler");
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!msgs[i].role || (!msgs[i].content && !msgs[i].ncalls)) {
			set_why(why, "message %zu has no role or content", i);
			return EINVAL;
		}
		if (msgs[i].ncalls && !msgs[i].calls) {
			set_why(why, "message %zu has no calls", i);
			return EINVAL;
		}
	}
	if (p->ntools && !p->tools) {
		set_why(why, "no tools");
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
	stream_free(&c->s);
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

	set_why(c->s.why, "no text within %u ms", c->first_ms);
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

		if (buf_add(&s->ebody, (const char *)data, n < room ? n : room))
			chat_finish(
			    c, stream_fail(s, ENOMEM, "out of memory", NULL));
	} else if (sse_feed(s, (const char *)data, n)) {
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
		http_error(s);
		rc = EIO;
	} else if (s->err) {
		rc = s->err;
	} else if (!err) {
		set_why(s->why, "%s",
		        s->events ? "the stream ended before [DONE]"
		                  : "no data in the stream");
		rc = EPROTO;
	} else if (err == ECONNREFUSED) {
		set_why(s->why, "cannot connect to %s: %s", c->url, why);
		rc = ECONNREFUSED;
	} else if (err == ETIMEDOUT) {
		set_why(s->why, "%s", why);
		rc = ETIMEDOUT;
	} else {
		set_why(s->why, "%s%s", s->status ? "the stream was cut: " : "",
		        why);
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
		set_why(fail, "missing chat, client or handler");
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
		set_why(fail, "out of memory");
		err = ENOMEM;
		goto out;
	}
	tmr_init(&c->first);
	stream_init(&c->s, NULL);
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
		set_why(fail, "%s",
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

int llm_sse_parse(const char *body, size_t len, size_t chunk, llm_delta_h *h,
                  void *arg, struct llm_run *run, const char **why)
{
	struct llm_stream s = {.h = h, .arg = arg, .status = 200};
	size_t off = 0;
	int rc;

	stream_init(&s, run);
	if (!h || (len && !body)) {
		set_why(s.why, "missing body or handler");
		return stream_why(&s, EINVAL, why);
	}
	if (!chunk)
		chunk = len ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		off += n;
		if (sse_feed(&s, body + off - n, n))
			break;
	}
	if (s.done)
		rc = 0;
	else if (s.err)
		rc = s.err;
	else {
		set_why(s.why, "%s",
		        s.events ? "the stream ended before [DONE]"
		                 : "no data in the stream");
		rc = EPROTO;
	}
	if (run) {
		run->ncalls = s.ncalls;
		memcpy(run->finish, s.finish, sizeof(run->finish));
	}
	stream_free(&s);
	return stream_why(&s, rc, why);
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
