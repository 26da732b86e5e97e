/*
 * The script and echo brains (brain.h): they answer from what they hold,
 * the words of the turn matched against a file read once, and share
 * nothing with the model's rounds in brain.c but the reply they hand it.
 * Apart so that the script format's parser is read and changed alone.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/libre.h"
#include "worker/brain_int.h"

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

int brain_script_reply(const struct brain_script *s, const char *heard,
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

/* ---- echo ------------------------------------------------------------- */

int brain_echo_text(const char *heard, char **textp)
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
