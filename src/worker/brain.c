#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/libre.h"
#include "core/log.h"
#include "core/utf8.h"
#include "worker/brain.h"

/* One alternative of a pattern: words that must all be heard. */
struct alt {
	char **words;
	size_t n;
};

/* A rule, or the fallback (which has no alternatives). */
struct item {
	struct alt *alts;
	size_t nalts;
	char *reply;
	bool hangup;
	unsigned line; /* where it starts, for errors */
};

struct brain_script {
	struct item *rules;
	size_t nrules;
	struct item fallback;
	bool has_fallback;
	/* Why the last load failed, "file:line: ..." */
	char why[PATH_MAX + 128];
};

/* ---- words ------------------------------------------------------------ */

/* Letters, digits and the apostrophe of "that's" make words; any other
 * ASCII byte separates them. Bytes above ASCII belong to words so that
 * UTF-8 text matches itself. */
static bool word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '\'';
}

static void words_free(char **w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

/* Splits s[0..len) into lowercased words; *wp is malloc'd (NULL when there
 * are none) and freed with words_free. */
static int words_split(const char *s, size_t len, char ***wp, size_t *np)
{
	char **w = NULL;
	size_t n = 0, i = 0;

	while (i < len) {
		size_t start, wl;
		char **nw, *word;

		while (i < len && !word_byte((unsigned char)s[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && word_byte((unsigned char)s[i]))
			i++;
		wl = i - start;
		nw = realloc(w, (n + 1) * sizeof(*w));
		word = malloc(wl + 1);
		if (nw)
			w = nw;
		if (!nw || !word) {
			free(word);
			words_free(w, n);
			return ENOMEM;
		}
		for (size_t k = 0; k < wl; k++) {
			char c = s[start + k];

			word[k] =
			    (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		word[wl] = '\0';
		w[n++] = word;
	}
	*wp = w;
	*np = n;
	return 0;
}

static bool alt_matches(const struct alt *a, char **heard, size_t nheard)
{
	for (size_t i = 0; i < a->n; i++) {
		bool found = false;

		for (size_t k = 0; k < nheard && !found; k++)
			found = strcmp(a->words[i], heard[k]) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* ---- script files ----------------------------------------------------- */

static void item_clear(struct item *it)
{
	for (size_t i = 0; i < it->nalts; i++)
		words_free(it->alts[i].words, it->alts[i].n);
	free(it->alts);
	free(it->reply);
	memset(it, 0, sizeof(*it));
}

/* Back to no script; the reason stays. */
static void script_clear(struct brain_script *s)
{
	for (size_t i = 0; i < s->nrules; i++)
		item_clear(&s->rules[i]);
	free(s->rules);
	s->rules = NULL;
	s->nrules = 0;
	item_clear(&s->fallback);
	s->has_fallback = false;
}

static void brain_script_destructor(void *arg)
{
	script_clear(arg);
}

enum stage {
	STAGE_NONE,    /* no item yet */
	STAGE_PATTERN, /* a rule with patterns, waiting for its reply */
	STAGE_REPLY,   /* an item with a reply */
};

struct parse {
	struct brain_script *s;
	struct item *cur;
	enum stage stage;
	const char *path;
	unsigned line;
};

static int parse_fail(struct parse *ps, unsigned line, const char *what)
{
	snprintf(ps->s->why, sizeof(ps->s->why), "%s:%u: %s", ps->path, line,
	         what);
	return EINVAL;
}

/* Appends text to the item's reply, a space between pieces. */
static int reply_add(struct item *it, const char *text)
{
	size_t old = it->reply ? strlen(it->reply) : 0, add = strlen(text);
	char *r = realloc(it->reply, old + (old ? 1 : 0) + add + 1);

	if (!r)
		return ENOMEM;
	if (old)
		r[old++] = ' ';
	memcpy(r + old, text, add + 1);
	it->reply = r;
	return 0;
}

static int parse_pattern(struct parse *ps, const char *text)
{
	struct item *it;

	if (ps->stage != STAGE_PATTERN) {
		struct item *rules =
		    realloc(ps->s->rules, (ps->s->nrules + 1) * sizeof(*rules));

		if (!rules)
			return ENOMEM;
		ps->s->rules = rules;
		it = &rules[ps->s->nrules++];
		memset(it, 0, sizeof(*it));
		it->line = ps->line;
		ps->cur = it;
		ps->stage = STAGE_PATTERN;
	}
	it = ps->cur;
	for (;;) {
		const char *bar = strchr(text, '|');
		size_t len = bar ? (size_t)(bar - text) : strlen(text);
		struct alt *alts, a;
		int err = words_split(text, len, &a.words, &a.n);

		if (err)
			return err;
		if (!a.n)
			return parse_fail(
			    ps, ps->line,
			    "an empty alternative in the pattern");
		alts = realloc(it->alts, (it->nalts + 1) * sizeof(*alts));
		if (!alts) {
			words_free(a.words, a.n);
			return ENOMEM;
		}
		it->alts = alts;
		alts[it->nalts++] = a;
		if (!bar)
			return 0;
		text = bar + 1;
	}
}

static int parse_line(struct parse *ps, char *l)
{
	char kind, *text, *end;

	while (*l == ' ' || *l == '\t')
		l++;
	end = l + strlen(l);
	while (end > l && (end[-1] == '\n' || end[-1] == '\r' ||
	                   end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (!*l || *l == '#')
		return 0;
	kind = *l;
	text = l + 1;
	while (*text == ' ' || *text == '\t')
		text++;

	switch (kind) {
	case '>':
		return parse_pattern(ps, text);
	case '<':
		if (ps->stage == STAGE_NONE)
			return parse_fail(
			    ps, ps->line,
			    "a reply with no rule (>) or fallback "
			    "(?) before it");
		if (!*text)
			return parse_fail(ps, ps->line, "an empty reply");
		ps->stage = STAGE_REPLY;
		return reply_add(ps->cur, text);
	case '?':
		if (ps->s->has_fallback) {
			char what[80];

			snprintf(what, sizeof(what),
			         "a second fallback (the first is on line %u)",
			         ps->s->fallback.line);
			return parse_fail(ps, ps->line, what);
		}
		if (ps->stage == STAGE_PATTERN)
			return parse_fail(ps, ps->cur->line,
			                  "the rule has no reply (<)");
		if (!*text)
			return parse_fail(ps, ps->line,
			                  "an empty fallback reply");
		ps->s->has_fallback = true;
		ps->cur = &ps->s->fallback;
		ps->cur->line = ps->line;
		ps->stage = STAGE_REPLY;
		return reply_add(ps->cur, text);
	case '!':
		if (strcmp(text, "hangup") != 0)
			return parse_fail(
			    ps, ps->line,
			    "an unknown directive (the only one is "
			    "\"! hangup\")");
		if (ps->stage != STAGE_REPLY)
			return parse_fail(
			    ps, ps->line,
			    "\"! hangup\" with no reply before it");
		ps->cur->hangup = true;
		return 0;
	default:
		return parse_fail(ps, ps->line,
		                  "a line must start with #, >, <, ? or !");
	}
}

int brain_script_alloc(struct brain_script **sp)
{
	if (!sp)
		return EINVAL;
	*sp = mem_zalloc(sizeof(**sp), brain_script_destructor);
	return *sp ? 0 : ENOMEM;
}

int brain_script_load(struct brain_script *s, const char *path,
                      const char **why)
{
	struct parse ps = {.s = s, .path = path};
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int err = 0;

	if (!s || !path) {
		if (why)
			*why = "no script or no path";
		return EINVAL;
	}
	script_clear(s);
	s->why[0] = '\0';
	f = fopen(path, "r");
	if (!f) {
		err = errno;
		goto out;
	}
	while (!err) {
		ssize_t got;

		errno = 0;
		got = getline(&line, &cap, f);
		if (got < 0) {
			err = errno;
			break;
		}
		ps.line++;
		/* A NUL would silently cut the line short. */
		if ((size_t)got != strlen(line))
			err =
			    parse_fail(&ps, ps.line, "a NUL byte in the line");
		else
			err = parse_line(&ps, line);
	}
	free(line);
	fclose(f);
	if (!err && ps.stage == STAGE_PATTERN)
		err =
		    parse_fail(&ps, ps.cur->line, "the rule has no reply (<)");
	if (!err && !s->has_fallback) {
		err = EINVAL;
		snprintf(s->why, sizeof(s->why),
		         "%s: no fallback reply (a line starting with ?)",
		         path);
	}
out:
	if (!err)
		return 0;
	/* Not a line's fault: the file cannot be opened or read, or memory
	 * ran out. */
	if (!s->why[0])
		snprintf(s->why, sizeof(s->why), "%s: %s", path, strerror(err));
	script_clear(s);
	if (why)
		*why = s->why;
	return err;
}

static int script_reply(const struct brain_script *s, const char *heard,
                        const char **replyp, bool *hangup)
{
	const struct item *hit = &s->fallback;
	char **w;
	size_t n;
	int err = words_split(heard, strlen(heard), &w, &n);

	if (err)
		return err;
	for (size_t i = 0; i < s->nrules && hit == &s->fallback; i++)
		for (size_t k = 0; k < s->rules[i].nalts; k++)
			if (alt_matches(&s->rules[i].alts[k], w, n)) {
				hit = &s->rules[i];
				break;
			}
	words_free(w, n);
	*replyp = hit->reply;
	*hangup = hit->hangup;
	return 0;
}

/* ---- replies ---------------------------------------------------------- */

static int echo_text(const char *heard, char **textp)
{
	size_t len = strlen(heard);
	const char *end;

	while (len && (heard[len - 1] == ' ' || heard[len - 1] == '\t'))
		len--;
	/* pocketsphinx gives no punctuation, but a DTMF turn or another
	 * recogniser may; "hello.." would read oddly. */
	end = len && strchr(".!?", heard[len - 1]) ? "" : ".";
	if (asprintf(textp, "You said: %.*s%s", (int)len, heard, end) < 0)
		return ENOMEM;
	return 0;
}

/*
 * A reply in flight. The echo and script brains know their answer at
 * once; it is handed out from a 0 ms timer so that every brain answers
 * the same way, never from inside brain_reply_start. The LLM's comes from
 * its chat, round after round while the model calls tools. The handle the
 * caller holds is apart from this, so that its release inside a handler
 * only marks the reply: each entry from the loop holds a reference until
 * it returns.
 */
struct reply_run {
	struct brain_reply *h; /* NULL once released */
	struct llm_chat *chat;
	struct tmr tmr;
	char *text; /* echo, script */
	bool hangup;
	brain_text_h *texth;
	brain_done_h *doneh;
	void *arg;

	/* the LLM's rounds */
	const struct brain_config *cfg;
	struct httpc *hc;
	struct llm_message *msgs; /* every string owned */
	size_t nmsgs, capmsgs;
	struct llm_tool *defs; /* cfg's tools as a chat takes them */
	unsigned round;        /* completions started */
	char *round_text;      /* this round's words, for its message */
	size_t round_len;
	bool round_full; /* ... cut at ROUND_TEXT_MAX */
	bool round_got;  /* this round said something */
	bool said;       /* words went to texth */
	bool space;      /* ... and the last of them was a space */
	/* the calls of the last round, run one after the other */
	struct llm_tool_call *calls;
	size_t ncalls, next;
	struct brain_tool_call *pending; /* its handler has not answered */
	bool running;                    /* run_tools is on the stack */
	bool end;
	char *say;
};

struct brain_reply {
	struct reply_run *r;
};

/* The brain's reference is call->r, cleared once the call is answered or
 * the reply goes; the handler holds the object. A call of brain_tool_run
 * has no reply: its answer goes to ah instead. */
struct brain_tool_call {
	struct reply_run *r;
	brain_tool_answer_h *ah;
	void *aarg; /* held */
};

static void call_destructor(void *arg)
{
	struct brain_tool_call *call = arg;

	mem_deref(call->aarg);
}

/* A round's words kept for its assistant message; a longer text is cut,
 * the model's own words past it mattering little to the next round. */
#define ROUND_TEXT_MAX 4096

static void msgs_free(struct reply_run *r)
{
	for (size_t i = 0; i < r->nmsgs; i++) {
		free((char *)r->msgs[i].role);
		free((char *)r->msgs[i].content);
		free((char *)r->msgs[i].tool_call_id);
		free((struct llm_tool_call *)r->msgs[i].calls);
	}
	free(r->msgs);
}

static void run_destructor(void *arg)
{
	struct reply_run *r = arg;

	tmr_cancel(&r->tmr);
	mem_deref(r->chat);
	free(r->text);
	if (r->pending) {
		r->pending->r = NULL;
		mem_deref(r->pending);
	}
	msgs_free(r);
	free(r->defs);
	free(r->round_text);
	free(r->calls);
	free(r->say);
}

static void handle_destructor(void *arg)
{
	struct brain_reply *h = arg;
	struct reply_run *r = h->r;

	r->h = NULL;
	tmr_cancel(&r->tmr);
	r->chat = mem_deref(r->chat);
	mem_deref(r);
}

static void fixed_answer(void *arg)
{
	struct reply_run *r = mem_ref(arg);

	if (r->h && r->text[0])
		r->texth(r->text, strlen(r->text), r->arg);
	if (r->h)
		r->doneh(0, "", r->hangup, r->arg);
	mem_deref(r);
}

/* Appends a message whose strings are copied (content, id: NULL = none)
 * and whose calls are taken. */
static int msg_add(struct reply_run *r, const char *role, const char *content,
                   const char *id, struct llm_tool_call *calls, size_t ncalls)
{
	struct llm_message *m;

	if (r->nmsgs == r->capmsgs) {
		size_t cap = r->capmsgs ? 2 * r->capmsgs : 8;

		m = realloc(r->msgs, cap * sizeof(*m));
		if (!m)
			return ENOMEM;
		r->msgs = m;
		r->capmsgs = cap;
	}
	m = &r->msgs[r->nmsgs];
	memset(m, 0, sizeof(*m));
	m->role = strdup(role);
	m->content = content ? strdup(content) : NULL;
	m->tool_call_id = id ? strdup(id) : NULL;
	if (!m->role || (content && !m->content) || (id && !m->tool_call_id)) {
		free((char *)m->role);
		free((char *)m->content);
		free((char *)m->tool_call_id);
		return ENOMEM;
	}
	m->calls = calls;
	m->ncalls = ncalls;
	r->nmsgs++;
	return 0;
}

static void say(struct reply_run *r, const char *text, size_t len)
{
	if (!len || !r->h)
		return;
	r->said = true;
	r->space = strchr(" \t\r\n", text[len - 1]) != NULL;
	r->texth(text, len, r->arg);
}

static void llm_text(const char *text, size_t len, void *arg)
{
	struct reply_run *r = arg;

	if (!r->h)
		return;
	/* A round's words follow the last one's as a new sentence would. */
	if (!r->round_got && r->said && !r->space)
		say(r, " ", 1);
	r->round_got = true;
	if (!r->round_full) {
		size_t n = len;
		char *t;

		/* Cut on a character: the text goes back as JSON. */
		if (n > ROUND_TEXT_MAX - r->round_len) {
			n = utf8_trim(text, ROUND_TEXT_MAX - r->round_len);
			r->round_full = true;
		}
		t = realloc(r->round_text, r->round_len + n + 1);
		if (t) {
			memcpy(t + r->round_len, text, n);
			r->round_len += n;
			t[r->round_len] = '\0';
			r->round_text = t;
		}
	}
	if (r->h)
		say(r, text, len);
}

/* The reply is over: what the tools asked to be said if the model said
 * nothing, then doneh. */
static void finish(struct reply_run *r, int err, const char *why)
{
	if (!err && !r->said && r->say)
		say(r, r->say, strlen(r->say));
	if (r->h)
		r->doneh(err, err ? why : "", !err && r->hangup, r->arg);
}

static void llm_done(int err, const char *why, void *arg);

static int round_start(struct reply_run *r, const char **why)
{
	struct llm_params p = r->cfg->llm;

	p.tools = r->defs;
	p.ntools = r->defs ? r->cfg->ntools : 0;
	/* The last completion is asked for words: the caller must hear
	 * something. */
	p.tools_off = p.ntools && r->round + 1 >= BRAIN_TOOL_ROUNDS;
	r->round++;
	r->round_len = 0;
	r->round_full = false;
	r->round_got = false;
	r->chat = mem_deref(r->chat);
	return llm_chat_start(&r->chat, r->hc, &p, r->msgs, r->nmsgs, llm_text,
	                      llm_done, r, why);
}

/* The tool a call names, its arguments checked: *args made "{}" when
 * empty. NULL when refused, the reason in why. */
static const struct brain_tool *tool_check(const struct brain_tool *tools,
                                           size_t n, const char *name,
                                           const char **args, char *why,
                                           size_t size)
{
	const struct brain_tool *tool = NULL;
	char q[2 * LLM_TOOL_NAME_MAX + 8], what[2 * JSON_ERROR_TEXT_LENGTH];
	const char *a = *args;
	json_error_t jerr;
	json_t *o;

	for (size_t i = 0; !tool && i < n; i++)
		if (tools[i].def.name && !strcmp(tools[i].def.name, name))
			tool = &tools[i];
	/* The model's words: quoted for the log. */
	log_quote(q, sizeof(q), name);
	if (!tool) {
		log_event(LOGL_WARN, NULL, "llm_tool_unknown", "name=\"%s\"",
		          q);
		snprintf(why, size, "there is no tool named \"%s\"", name);
		return NULL;
	}
	/* Some servers send no arguments at all for a call without any. */
	while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
		a++;
	if (!*a)
		a = "{}";
	o = json_loads(a, 0, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		log_event(LOGL_WARN, NULL, "llm_tool_bad_arguments",
		          "name=\"%s\" error=\"%s\"", q,
		          log_quote(what, sizeof(what),
		                    o ? "not an object" : jerr.text));
		snprintf(why, size, "the arguments are not a JSON object: %s",
		         o ? "not an object" : jerr.text);
		return NULL;
	}
	json_decref(o);
	*args = a;
	return tool;
}

/* The tool message answering the call being run; the next one is run. */
static void result_add(struct reply_run *r, const char *content)
{
	/* Out of memory, the answer is missing, and the server says so
	 * at the next round: the turn ends with the apology. */
	(void)msg_add(r, "tool", content, r->calls[r->next].id, NULL, 0);
	r->next++;
}

static void result_error(struct reply_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* {"error": "..."}, as models read a failed call. */
static void result_error(struct reply_run *r, const char *fmt, ...)
{
	char text[300], *s = NULL;
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	o = json_pack("{s:s}", "error", text);
	if (!o)
		o = json_pack("{s:s}", "error", "the call failed");
	if (o)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	result_add(r, s ? s : "{\"error\":\"out of memory\"}");
	free(s);
}

static void call_one(struct reply_run *r)
{
	const struct llm_tool_call *c = &r->calls[r->next];
	const struct brain_tool *tool;
	struct brain_tool_call *call;
	const char *args = c->args, *why = NULL;
	char reason[300];
	int err;

	if (c->args_cut) {
		result_error(r, "the arguments are longer than %d bytes",
		             LLM_TOOL_ARGS_MAX);
		return;
	}
	tool = tool_check(r->cfg->tools, r->cfg->ntools, c->name, &args, reason,
	                  sizeof(reason));
	if (!tool) {
		result_error(r, "%s", reason);
		return;
	}
	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		result_error(r, "out of memory");
		return;
	}
	call->r = r;
	r->pending = call;
	err = tool->h(call, args, r->arg, &why);
	if (err && r->pending == call) {
		call->r = NULL;
		r->pending = NULL;
		mem_deref(call);
		result_error(r, "%s", why && why[0] ? why : strerror(err));
	}
}

int brain_tool_run(const struct brain_tool *tools, size_t n, const char *name,
                   const char *args, void *arg, brain_tool_answer_h *ah,
                   void *aarg, char *why, size_t size)
{
	const struct brain_tool *tool;
	struct brain_tool_call *call;
	const char *hwhy = NULL;
	int err;

	if (!why || !size)
		return EINVAL;
	if (!tools || !name || !args || !ah) {
		snprintf(why, size, "no tool or no call");
		return EINVAL;
	}
	tool = tool_check(tools, n, name, &args, why, size);
	if (!tool)
		return EINVAL;
	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		snprintf(why, size, "out of memory");
		return ENOMEM;
	}
	call->ah = ah;
	call->aarg = mem_ref(aarg);
	err = tool->h(call, args, arg, &hwhy);
	if (err) {
		/* Refused: no answer, even a late one. */
		call->ah = NULL;
		snprintf(why, size, "%s",
		         hwhy && hwhy[0] ? hwhy : strerror(err));
	}
	mem_deref(call);
	return err;
}

/* Runs the calls not yet run, one at a time; then ends the reply or asks
 * the model again. */
static void run_tools(struct reply_run *r)
{
	const char *why = NULL;
	int err;

	if (r->running)
		return;
	mem_ref(r);
	r->running = true;
	while (r->h && !r->pending && r->next < r->ncalls)
		call_one(r);
	r->running = false;
	if (r->h && !r->pending && r->next == r->ncalls) {
		if (r->end) {
			finish(r, 0, "");
		} else {
			err = round_start(r, &why);
			if (err)
				finish(r, err, why);
		}
	}
	mem_deref(r);
}

void brain_tool_answer(struct brain_tool_call *call,
                       const struct brain_tool_result *res)
{
	struct reply_run *r = call ? call->r : NULL;

	if (call && call->ah && res) {
		brain_tool_answer_h *ah = call->ah;

		call->ah = NULL;
		ah(res, call->aarg);
		return;
	}
	if (!r || !res)
		return;
	call->r = NULL;
	if (r->pending == call) {
		r->pending = NULL;
		mem_deref(call);
	}
	r->end |= res->end || res->hangup;
	r->hangup |= res->hangup;
	if (res->say && res->say[0] && !r->say)
		r->say = strdup(res->say);
	result_add(r, res->content ? res->content : "{}");
	run_tools(r);
}

static void tools_due(void *arg)
{
	struct reply_run *r = arg;

	r->chat = mem_deref(r->chat);
	run_tools(r);
}

static void llm_done(int err, const char *why, void *arg)
{
	struct reply_run *r = mem_ref(arg);
	const struct llm_tool_call *calls;
	struct llm_tool_call *mine;
	size_t n = 0;
	char what[80];

	if (!r->h)
		goto out;
	calls = err ? NULL : llm_chat_calls(r->chat, &n, NULL);
	if (err || !n) {
		finish(r, err, why);
		goto out;
	}
	if (r->round >= BRAIN_TOOL_ROUNDS) {
		snprintf(what, sizeof(what),
		         "the model called tools past %d completions",
		         BRAIN_TOOL_ROUNDS);
		finish(r, EPROTO, what);
		goto out;
	}
	free(r->calls);
	r->calls = malloc(n * sizeof(*r->calls));
	/* The assistant message owns its copy, the run another. */
	mine = malloc(n * sizeof(*mine));

	if (!r->calls || !mine) {
		free(mine);
		finish(r, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(r->calls, calls, n * sizeof(*calls));
	for (size_t i = 0; i < n; i++)
		if (!r->calls[i].id[0])
			snprintf(r->calls[i].id, sizeof(r->calls[i].id),
			         "call_%u_%zu", r->round, i);
	memcpy(mine, r->calls, n * sizeof(*mine));
	r->ncalls = n;
	r->next = 0;
	if (msg_add(r, "assistant", r->round_len ? r->round_text : NULL, NULL,
	            mine, n)) {
		free(mine);
		finish(r, ENOMEM, "out of memory");
		goto out;
	}
	/* Not from inside the chat's handler, which runs within the HTTP
	 * client's transfer: the next round's request could not start
	 * there. */
	tmr_start(&r->tmr, 0, tools_due, r);
out:
	mem_deref(r);
}

static int llm_start(struct reply_run *r, const struct brain_config *cfg,
                     struct httpc *hc, const struct llm_message *history,
                     size_t n, const char **why)
{
	int err = 0;

	r->cfg = cfg;
	r->hc = hc;
	if (cfg->system_prompt && cfg->system_prompt[0])
		err = msg_add(r, "system", cfg->system_prompt, NULL, NULL, 0);
	for (size_t i = 0; !err && i < n; i++)
		err = msg_add(r, history[i].role, history[i].content, NULL,
		              NULL, 0);
	if (!err && cfg->ntools) {
		r->defs = calloc(cfg->ntools, sizeof(*r->defs));
		if (!r->defs)
			err = ENOMEM;
		for (size_t i = 0; !err && i < cfg->ntools; i++)
			r->defs[i] = cfg->tools[i].def;
	}
	if (err) {
		*why = "out of memory";
		return err;
	}
	return round_start(r, why);
}

int brain_reply_start(struct brain_reply **rp, const struct brain_config *cfg,
                      struct httpc *hc, const struct llm_message *history,
                      size_t n, brain_text_h *texth, brain_done_h *doneh,
                      void *arg, const char **why)
{
	const char *reason = NULL, *reply;
	struct brain_reply *h = NULL;
	struct reply_run *r = NULL;
	int err;

	if (!rp || !cfg || !history || !n || !texth || !doneh ||
	    !history[n - 1].content || (cfg->ntools && !cfg->tools)) {
		reason = "no history or no handler";
		err = EINVAL;
		goto out;
	}
	r = mem_zalloc(sizeof(*r), run_destructor);
	h = r ? mem_zalloc(sizeof(*h), handle_destructor) : NULL;
	if (!h) {
		mem_deref(r);
		r = NULL;
		err = ENOMEM;
		goto out;
	}
	tmr_init(&r->tmr);
	r->texth = texth;
	r->doneh = doneh;
	r->arg = arg;
	r->h = h;
	h->r = r;
	switch (cfg->kind) {
	case BRAIN_ECHO:
		err = echo_text(history[n - 1].content, &r->text);
		break;
	case BRAIN_SCRIPT:
		if (!cfg->script || !cfg->script->has_fallback) {
			reason = "no script loaded";
			err = EINVAL;
			break;
		}
		err = script_reply(cfg->script, history[n - 1].content, &reply,
		                   &r->hangup);
		if (!err && !(r->text = strdup(reply)))
			err = ENOMEM;
		break;
	case BRAIN_LLM:
		if (!hc) {
			reason = "no HTTP client for the LLM";
			err = EINVAL;
			break;
		}
		err = llm_start(r, cfg, hc, history, n, &reason);
		break;
	default:
		reason = "unknown brain";
		err = EINVAL;
		break;
	}
	if (!err && r->text)
		tmr_start(&r->tmr, 0, fixed_answer, r);
	if (err) {
		mem_deref(h);
		goto out;
	}
	*rp = h;
	return 0;
out:
	if (why)
		*why = reason ? reason : strerror(err);
	return err;
}
