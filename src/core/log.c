/*
 * Logging: one line per event, text or JSON.
 *
 * DESIGN
 *
 * Call sites write a printf format that renders `key=value` and
 * `key="value with spaces"` pairs. The text form prints that string as is;
 * the JSON form re-parses the rendered string and turns each pair into a
 * member, so one call site serves both formats and nobody writes JSON by
 * hand.
 *
 * Only the format's own bytes are structure. The fields are rendered one
 * conversion at a time, each byte marked with where it came from, and the
 * JSON parse splits fields at the format's spaces, '=' and quotes only:
 * what an argument renders (a Call-ID, a path, a SIP header) is always
 * part of one value, so `path=%s` given "x level=error" stays one member
 * and cannot forge "level" or "event". Keys and field separators must
 * therefore be written in the format, never passed through %s.
 *
 * Every line is built in a stack buffer of LOG_LINE_MAX bytes and handed to
 * stdio in one fwrite under the FILE lock, so lines from several threads
 * never interleave and logging allocates nothing. A line that does not fit
 * is cut, but stays one line, stays valid JSON and never ends inside a UTF-8
 * sequence.
 *
 * Values come from the network (Call-IDs, SIP headers), so control
 * characters are escaped in JSON and replaced with '?' in text: a value can
 * never start a forged line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/types.h>

#include "core/utf8.h"
#include "core/log.h"

#define LOG_LINE_MAX 2048

/* Set once by log_setup before other threads start, then only read. */
static struct {
	enum log_level min;
	enum log_format format;
	FILE *out;
} logger = {LOGL_INFO, LOG_FORMAT_TEXT, NULL};

static const char *const level_text[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

/* A line being built; cap stops short of the buffer to keep room for the
 * closing bytes, so a cut line can still be ended properly. */
struct line {
	char *buf;
	size_t len;
	size_t cap;
	bool full;
};

void log_setup(enum log_level min, enum log_format format, FILE *out)
{
	logger.min = min;
	logger.format = format;
	logger.out = out;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
	    {"debug", LOGL_DEBUG},  {"info", LOGL_INFO},   {"warn", LOGL_WARN},
	    {"warning", LOGL_WARN}, {"error", LOGL_ERROR},
	};
	size_t i;

	if (!s || !out)
		return EINVAL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (!s || !out)
		return EINVAL;
	if (strcasecmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcasecmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return EINVAL;
	return 0;
}

/* Appends all of s or nothing: JSON punctuation and numbers must not be
 * cut. */
static bool line_put(struct line *l, const char *s, size_t n)
{
	if (l->full || n > l->cap - l->len) {
		l->full = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

/* Appends as much of s as fits; text lines have no structure to keep. */
static void line_put_cut(struct line *l, const char *s, size_t n)
{
	size_t room = l->cap - l->len;

	if (l->full)
		return;
	if (n > room) {
		n = utf8_trim(s, room);
		l->full = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/*
 * Appends s as a JSON string. If it does not fit, the string is cut at a
 * character boundary and closed, and the line is marked full. Returns false
 * only when not even the quotes fit; nothing is written then.
 */
static bool line_put_json_str(struct line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start;

	if (l->full || l->cap - l->len < 2) {
		l->full = true;
		return false;
	}
	l->buf[l->len++] = '"';
	start = l->len;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		esc[0] = '\\';
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
		} else if (c == '\n') {
			esc[1] = 'n';
		} else if (c == '\r') {
			esc[1] = 'r';
		} else if (c == '\t') {
			esc[1] = 't';
		} else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			elen = 6;
		} else {
			esc[0] = (char)c;
			elen = 1;
		}
		/* One byte stays free for the closing quote. */
		if (elen + 1 > l->cap - l->len) {
			l->len =
			    start + utf8_trim(l->buf + start, l->len - start);
			l->full = true;
			break;
		}
		memcpy(l->buf + l->len, esc, elen);
		l->len += elen;
	}
	l->buf[l->len++] = '"';
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Integers and decimals as JSON spells them: no leading zeros, no '+', no
 * exponent; anything else stays a string so "007" keeps its zeros. */
static bool is_json_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i == n || !is_digit(s[i]))
		return false;
	if (s[i] == '0')
		i++;
	else
		while (i < n && is_digit(s[i]))
			i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i == n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i == n;
}

/* The rendered fields: text, and for each byte whether an argument
 * rendered it (true) or it is the format's own (false). */
struct fields {
	char text[LOG_LINE_MAX];
	bool arg[LOG_LINE_MAX];
	size_t len;
};

/* Marks the n bytes just written at the end of the text with their
 * origin; they are cut at a character boundary when they did not all fit.
 * false when they did not. */
static bool fields_grow(struct fields *f, size_t n, bool arg)
{
	size_t room = sizeof(f->text) - 1 - f->len;
	bool fit = n <= room;

	if (!fit)
		n = utf8_trim(f->text + f->len, room);
	memset(f->arg + f->len, arg, n);
	f->len += n;
	f->text[f->len] = '\0';
	return fit;
}

/* One conversion, spec (its whole "%...c" text), with its argument(s)
 * taken from ap with the types C gives them; the compiler has checked
 * them against the format. -1 for one this does not know (%n included),
 * which ends the rendering: the arguments after it cannot be found. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int render_one(char *out, size_t sz, const char *spec, size_t slen,
                      va_list *ap)
{
	char conv = spec[slen - 1], len[3] = "";
	int star[2], nstar = 0, n;
	const char *p = spec + 1;

	while (*p && strchr("-+ #0'", *p))
		p++;
	if (*p == '*') {
		star[nstar++] = va_arg(*ap, int);
		p++;
	}
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p == '*') {
			star[nstar++] = va_arg(*ap, int);
			p++;
		}
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strchr("hlLqjzt", *p)) {
		len[0] = *p++;
		if ((len[0] == 'h' || len[0] == 'l') && *p == len[0])
			len[1] = *p++;
	}
	if (p != spec + slen - 1)
		return -1;

#define RENDER(T)                                                                \
	do {                                                                     \
		T v_ = va_arg(*ap, T);                                           \
		n = nstar == 2   ? snprintf(out, sz, spec, star[0], star[1], v_) \
		    : nstar == 1 ? snprintf(out, sz, spec, star[0], v_)          \
		                 : snprintf(out, sz, spec, v_);                  \
	} while (0)

	switch (conv) {
	case 'd':
	case 'i':
		if (!strcmp(len, "l"))
			RENDER(long);
		else if (!strcmp(len, "ll") || !strcmp(len, "q"))
			RENDER(long long);
		else if (!strcmp(len, "z"))
			RENDER(ssize_t);
		else if (!strcmp(len, "j"))
			RENDER(intmax_t);
		else if (!strcmp(len, "t"))
			RENDER(ptrdiff_t);
		else if (!len[0] || len[0] == 'h')
			RENDER(int);
		else
			return -1;
		break;
	case 'o':
	case 'u':
	case 'x':
	case 'X':
		if (!strcmp(len, "l"))
			RENDER(unsigned long);
		else if (!strcmp(len, "ll") || !strcmp(len, "q"))
			RENDER(unsigned long long);
		else if (!strcmp(len, "z"))
			RENDER(size_t);
		else if (!strcmp(len, "j"))
			RENDER(uintmax_t);
		else if (!strcmp(len, "t"))
			RENDER(ptrdiff_t);
		else if (!len[0] || len[0] == 'h')
			RENDER(unsigned int);
		else
			return -1;
		break;
	case 'c':
		if (len[0])
			return -1;
		RENDER(int);
		break;
	case 's':
		if (len[0])
			return -1;
		RENDER(const char *);
		break;
	case 'p':
		if (len[0])
			return -1;
		RENDER(void *);
		break;
	case 'f':
	case 'F':
	case 'e':
	case 'E':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		if (len[0] == 'L')
			RENDER(long double);
		else if (!len[0] || !strcmp(len, "l"))
			RENDER(double);
		else
			return -1;
		break;
	default:
		return -1;
	}
#undef RENDER
	return n;
}
#pragma GCC diagnostic pop

/* Renders fmt as vsnprintf would, marking what each conversion wrote. */
static void fields_render(struct fields *f, const char *fmt, va_list *ap)
{
	char spec[32];

	while (*fmt) {
		size_t room = sizeof(f->text) - f->len, slen;
		const char *end;
		int n;

		if (*fmt != '%' || fmt[1] == '%') {
			size_t lit;

			end = *fmt == '%' ? fmt + 1 : strchrnul(fmt, '%');
			lit = (size_t)(end - fmt);
			memcpy(f->text + f->len, fmt, lit < room ? lit : room);
			if (!fields_grow(f, lit, false))
				return;
			fmt = *fmt == '%' ? fmt + 2 : end;
			continue;
		}
		end = fmt + 1;
		while (*end && !strchr("diouxXcspfFeEgGaAnm", *end))
			end++;
		slen = (size_t)(end - fmt) + 1;
		if (!*end || slen >= sizeof(spec))
			return;
		memcpy(spec, fmt, slen);
		spec[slen] = '\0';
		n = render_one(f->text + f->len, room, spec, slen, ap);
		if (n < 0 || !fields_grow(f, (size_t)n, true))
			return;
		fmt = end + 1;
	}
}

/*
 * Turns the rendered `k=v k="v v"` string into JSON members, splitting
 * only at the format's own spaces, '=' and quotes. Quoted values are
 * unescaped in place (the result is never longer; a backslash escapes a
 * quote or backslash of its own origin only, so an argument ending in one
 * cannot swallow the closing quote) and always stay strings, so a caller
 * can quote a number to keep it a string. A word without '=' becomes a
 * member with the value true.
 */
static void put_json_fields(struct line *l, struct fields *f)
{
	char *t = f->text;
	const bool *arg = f->arg;
	size_t p = 0;

#define LIT(i, c) (t[i] == (c) && !arg[i])
	for (;;) {
		size_t key, klen, val, mark = l->len;
		bool ok;

		while (LIT(p, ' '))
			p++;
		if (t[p] == '\0' || l->full)
			return;
		key = p;
		while (t[p] != '\0' && !LIT(p, '=') && !LIT(p, ' '))
			p++;
		klen = p - key;
		/* A member with a cut key would be misleading; drop it. */
		if (!line_put(l, ",", 1) ||
		    !line_put_json_str(l, t + key, klen) || l->full ||
		    !line_put(l, ":", 1)) {
			l->len = mark;
			return;
		}
		if (!LIT(p, '=')) {
			ok = line_put(l, "true", 4);
		} else if (LIT(p + 1, '"')) {
			size_t w = p + 2;

			p += 2;
			val = w;
			while (t[p] != '\0' && !LIT(p, '"')) {
				if (t[p] == '\\' &&
				    (t[p + 1] == '"' || t[p + 1] == '\\') &&
				    arg[p + 1] == arg[p])
					p++;
				t[w++] = t[p++];
			}
			if (t[p] == '"')
				p++;
			ok = line_put_json_str(l, t + val, w - val);
		} else {
			val = ++p;
			while (t[p] != '\0' && !LIT(p, ' '))
				p++;
			if (is_json_number(t + val, p - val))
				ok = line_put(l, t + val, p - val);
			else
				ok = line_put_json_str(l, t + val, p - val);
		}
		if (!ok) {
			l->len = mark;
			return;
		}
	}
#undef LIT
}

static void format_ts(char *ts, size_t size)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
	    !gmtime_r(&now.tv_sec, &tm) ||
	    (n = strftime(ts, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0 ||
	    snprintf(ts + n, size - n, ".%03ldZ", now.tv_nsec / 1000000) < 0) {
		/* Not expected on a working system; a fixed stamp keeps the
		 * line parseable. */
		snprintf(ts, size, "1970-01-01T00:00:00.000Z");
	}
}

static void build_text(struct line *l, const char *ts, enum log_level level,
                       const char *call_id, const char *event,
                       const char *fields)
{
	size_t i;

	line_put_cut(l, ts, strlen(ts));
	line_put_cut(l, " ", 1);
	line_put_cut(l, level_text[level], strlen(level_text[level]));
	line_put_cut(l, " ", 1);
	if (call_id) {
		line_put_cut(l, "call=", 5);
		line_put_cut(l, call_id, strlen(call_id));
		line_put_cut(l, " ", 1);
	}
	line_put_cut(l, event, strlen(event));
	if (fields[0] != '\0') {
		line_put_cut(l, " ", 1);
		line_put_cut(l, fields, strlen(fields));
	}
	for (i = 0; i < l->len; i++) {
		unsigned char c = (unsigned char)l->buf[i];

		if (c < 0x20 || c == 0x7f)
			l->buf[i] = '?';
	}
	l->buf[l->len++] = '\n';
}

static void build_json(struct line *l, const char *ts, enum log_level level,
                       const char *call_id, const char *event,
                       struct fields *fields)
{
	/* ts and level always fit; a huge call_id or event is cut and the
	 * line then ends early, still closed. */
	line_put(l, "{\"ts\":\"", 7);
	line_put(l, ts, strlen(ts));
	line_put(l, "\",\"level\":\"", 11);
	line_put(l, level_json[level], strlen(level_json[level]));
	line_put(l, "\"", 1);
	if (call_id) {
		line_put(l, ",\"call_id\":", 11);
		line_put_json_str(l, call_id, strlen(call_id));
	}
	line_put(l, ",\"event\":", 9);
	line_put_json_str(l, event, strlen(event));
	put_json_fields(l, fields);
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
}

void log_event(enum log_level level, const char *call_id, const char *event,
               const char *fields, ...)
{
	char buf[LOG_LINE_MAX], ts[32];
	struct line l = {buf, 0, sizeof(buf) - 2, false};
	struct fields f; /* 4 KiB left uninitialised: only len bytes count */
	FILE *out;
	va_list ap;

	if (level < logger.min)
		return;
	if (level > LOGL_ERROR)
		level = LOGL_ERROR;
	if (!event)
		event = "-";
	f.len = 0;
	f.text[0] = '\0';
	if (fields) {
		va_start(ap, fields);
		fields_render(&f, fields, &ap);
		va_end(ap);
	}
	format_ts(ts, sizeof(ts));
	if (logger.format == LOG_FORMAT_JSON)
		build_json(&l, ts, level, call_id, event, &f);
	else
		build_text(&l, ts, level, call_id, event, f.text);

	out = logger.out ? logger.out : stderr;
	/* The lock makes write and flush one step for other threads too. A
	 * failing log sink has nowhere to report to, so errors end here. */
	flockfile(out);
	if (fwrite(buf, 1, l.len, out) == l.len)
		(void)fflush(out);
	funlockfile(out);
}

const char *log_quote(char *out, size_t sz, const char *in)
{
	size_t n = 0;

	if (!out || !sz)
		return "";
	for (; in && *in && n + 1 < sz; in++) {
		if (*in == '"' || *in == '\\') {
			if (n + 2 >= sz)
				break;
			out[n++] = '\\';
		}
		out[n++] = *in;
	}
	out[n] = '\0';
	return out;
}
