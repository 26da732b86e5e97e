/*
 * A chat completion's reply, parsed: the Server-Sent Events of an OpenAI
 * stream and the JSON of each event. Apart from the request's making and
 * its life on the loop (llm.c) because every byte here is the server's,
 * bounded and checked in one place that fuzz_llm drives alone
 * (llm_sse_parse).
 *
 * The reply is parsed as Server-Sent Events as bytes arrive: a line is
 * gathered until CR, LF or CRLF ends it, data lines are joined until a
 * blank line ends the event (each line and each event's data bounded,
 * LLM_LINE_MAX and LLM_EVENT_MAX), and each event's JSON is decoded whole,
 * so a read may split the stream anywhere, even inside a UTF-8 character.
 * "[DONE]" ends the reply.
 *
 * Tool calls come as fragments in delta.tool_calls: the first of a call
 * carries its index, id and name, the next ones pieces of its arguments
 * under the same index. They are joined in place, bounded (calls, name, id
 * and arguments: LLM_TOOL_*_MAX), with no allocation but the calls' array
 * at the first one.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "worker/llm_int.h"

void llm_run_init(struct llm_run *run)
{
	run->why[0] = '\0';
	run->ncalls = 0;
	run->finish[0] = '\0';
}

/* Formats the reason into why (LLM_WHY_MAX bytes) and blanks control
 * characters, since a server's text may hold newlines and a reason is one
 * line. */
void llm_set_why(char *why, const char *fmt, ...)
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
void llm_stream_init(struct llm_stream *s, struct llm_run *run)
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

void llm_stream_free(struct llm_stream *s)
{
	free(s->line.data);
	free(s->data.data);
	free(s->ebody.data);
	if (!s->run)
		free(s->calls);
}

/* The caller's *why for a failed stream: the run's reason, or without a
 * run, where the reason cannot outlive the call, the error's name. */
int llm_stream_why(const struct llm_stream *s, int rc, const char **why)
{
	if (rc && why)
		*why = s->run && s->why[0] ? s->why : strerror(rc);
	return rc;
}

int llm_buf_add(struct llm_buf *b, const char *s, size_t n)
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

int llm_stream_fail(struct llm_stream *s, int err, const char *what,
                    const char *detail)
{
	s->err = err;
	llm_set_why(s->why, "%s%s%.*s", what, detail ? ": " : "",
	            LLM_ERRMSG_MAX, detail ? detail : "");
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
		return llm_stream_fail(s, EPROTO, "malformed tool call", key);
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
		return llm_stream_fail(s, EPROTO, "malformed tool call",
		                       "not an object");
	fn = json_object_get(c, "function");
	if (fn && !json_is_null(fn) && !json_is_object(fn))
		return llm_stream_fail(s, EPROTO, "malformed tool call",
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
			return llm_stream_fail(s, EPROTO, "malformed tool call",
			                       what);
		}
		at = (size_t)i;
	} else if (index && !json_is_null(index)) {
		return llm_stream_fail(s, EPROTO, "malformed tool call",
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
			return llm_stream_fail(s, EPROTO, "malformed tool call",
			                       "too many calls");
	}
	if (idlen > LLM_TOOL_ID_MAX)
		return llm_stream_fail(s, EPROTO, "malformed tool call",
		                       "id too long");
	if (namelen > LLM_TOOL_NAME_MAX)
		return llm_stream_fail(s, EPROTO, "malformed tool call",
		                       "name too long");
	if (!s->calls) {
		s->calls = calloc(LLM_TOOL_CALLS_MAX, sizeof(*s->calls));
		if (!s->calls)
			return llm_stream_fail(s, ENOMEM, "out of memory",
			                       NULL);
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
		return llm_stream_fail(s, EPROTO,
		                       "malformed JSON in the stream",
		                       root ? "not an object" : jerr.text);
	}
	if (json_object_get(root, "error")) {
		text = error_text(json_object_get(root, "error"));
		err = llm_stream_fail(s, EIO, "error in the stream",
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
			err = llm_stream_fail(s, EPROTO, "malformed tool call",
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
		return llm_stream_fail(s, EPROTO,
		                       "event too large in the stream", NULL);
	if ((s->has_data && llm_buf_add(&s->data, "\n", 1)) ||
	    llm_buf_add(&s->data, v, vlen))
		return llm_stream_fail(s, ENOMEM, "out of memory", NULL);
	s->has_data = true;
	return 0;
}

/* Feeds bytes as they come; nonzero once the parse must stop (an error, or
 * the reply is complete). */
int llm_sse_feed(struct llm_stream *s, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = i;

		while (run < n && p[run] != '\r' && p[run] != '\n')
			run++;
		if (run > i) {
			if (s->line.len + (run - i) > LLM_LINE_MAX)
				return llm_stream_fail(
				    s, EPROTO, "line too long in the stream",
				    NULL);
			if (llm_buf_add(&s->line, p + i, run - i))
				return llm_stream_fail(s, ENOMEM,
				                       "out of memory", NULL);
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
void llm_http_error(struct llm_stream *s)
{
	json_t *root = NULL;
	const char *text = NULL;

	if (s->ebody.len)
		root = json_loadb(s->ebody.data, s->ebody.len, 0, NULL);
	if (root)
		text = error_text(json_object_get(root, "error"));
	if (text)
		llm_set_why(s->why, "HTTP %ld: %.*s", s->status, LLM_ERRMSG_MAX,
		            text);
	else if (s->ebody.len)
		llm_set_why(s->why, "HTTP %ld: %.*s", s->status,
		            (int)(s->ebody.len < LLM_ERRMSG_MAX
		                      ? s->ebody.len
		                      : LLM_ERRMSG_MAX),
		            s->ebody.data);
	else
		llm_set_why(s->why, "HTTP %ld", s->status);
	json_decref(root);
}

int llm_sse_parse(const char *body, size_t len, size_t chunk, llm_delta_h *h,
                  void *arg, struct llm_run *run, const char **why)
{
	struct llm_stream s = {.h = h, .arg = arg, .status = 200};
	size_t off = 0;
	int rc;

	llm_stream_init(&s, run);
	if (!h || (len && !body)) {
		llm_set_why(s.why, "missing body or handler");
		return llm_stream_why(&s, EINVAL, why);
	}
	if (!chunk)
		chunk = len ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		off += n;
		if (llm_sse_feed(&s, body + off - n, n))
			break;
	}
	if (s.done)
		rc = 0;
	else if (s.err)
		rc = s.err;
	else {
		llm_set_why(s.why, "%s",
		            s.events ? "the stream ended before [DONE]"
		                     : "no data in the stream");
		rc = EPROTO;
	}
	if (run) {
		run->ncalls = s.ncalls;
		memcpy(run->finish, s.finish, sizeof(run->finish));
	}
	llm_stream_free(&s);
	return llm_stream_why(&s, rc, why);
}
