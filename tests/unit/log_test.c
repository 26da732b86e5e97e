/*
 * Log lines: text and JSON layout, field conversion, escaping, level
 * filtering, cutting of long lines, and whole lines under several threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/log.h"
#include "test.h"

static char *text;
static size_t text_len;
static FILE *mem;

/* Sends the log into memory; log_take returns what was written since. */
static int log_to_mem(enum log_level min, enum log_format format)
{
	mem = open_memstream(&text, &text_len);
	if (!mem)
		return errno;
	log_setup(min, format, mem);
	return 0;
}

static char *log_take(void)
{
	static char line[8192];

	if (fclose(mem) != 0)
		return NULL;
	snprintf(line, sizeof(line), "%s", text);
	free(text);
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, NULL);
	return line;
}

/* "2026-11-24T21:15:03.123Z" followed by end */
static int is_timestamp(const char *s, char end)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9'
		                    : s[i] != shape[i])
			return 0;
	}
	return s[i] == end;
}

TEST(text_line)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_DEBUG, LOG_FORMAT_TEXT), 0);
	log_event(LOGL_INFO, "abc@host", "call.start", "from=\"%s\" n=%d",
	          "Alice <sip:a@b>", 3);
	l = log_take();
	CHECK(l);
	CHECK(is_timestamp(l, ' '));
	CHECK_STR(l + 25, "INFO  call=abc@host call.start "
	                  "from=\"Alice <sip:a@b>\" n=3\n");
	return 0;
}

TEST(text_levels_and_no_call)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_DEBUG, LOG_FORMAT_TEXT), 0);
	log_event(LOGL_DEBUG, NULL, "a", NULL);
	log_event(LOGL_WARN, NULL, "b", "k=v");
	log_event(LOGL_ERROR, NULL, "c", "%s", "");
	l = log_take();
	CHECK(l);
	CHECK(is_timestamp(l, ' '));
	CHECK(strncmp(l + 25, "DEBUG a\n", 8) == 0);
	l += 33;
	CHECK(is_timestamp(l, ' '));
	CHECK(strncmp(l + 25, "WARN  b k=v\n", 12) == 0);
	l += 37;
	CHECK(is_timestamp(l, ' '));
	CHECK_STR(l + 25, "ERROR c\n");
	return 0;
}

TEST(below_min_dropped)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_WARN, LOG_FORMAT_TEXT), 0);
	log_event(LOGL_DEBUG, "x", "dropped", "n=%d", 1);
	log_event(LOGL_INFO, "x", "dropped", "n=%d", 2);
	l = log_take();
	CHECK(l);
	CHECK_STR(l, "");
	return 0;
}

/* Values arrive from the network; none may start a line of its own. */
TEST(text_control_chars)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_TEXT), 0);
	log_event(LOGL_INFO, "a\nb", "ev", "ua=\"x\r\n2026 INFO forged\"");
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 25, "INFO  call=a?b ev ua=\"x??2026 INFO forged\"\n");
	return 0;
}

TEST(json_line)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_WARN, "abc", "rtp.stats",
	          "n=%d neg=-4 d=%.2f zero=0 z=007 big=1e5 s=hello "
	          "q=\"a \\\"b\\\" c\" qn=\"42\" dot=1. flag",
	          12, 0.5);
	l = log_take();
	CHECK(l);
	CHECK(strncmp(l, "{\"ts\":\"", 7) == 0);
	CHECK(is_timestamp(l + 7, '"'));
	CHECK_STR(l + 7 + 24,
	          "\",\"level\":\"warn\",\"call_id\":\"abc\","
	          "\"event\":\"rtp.stats\",\"n\":12,\"neg\":-4,\"d\":0.50,"
	          "\"zero\":0,\"z\":\"007\",\"big\":\"1e5\",\"s\":\"hello\","
	          "\"q\":\"a \\\"b\\\" c\",\"qn\":\"42\",\"dot\":\"1.\","
	          "\"flag\":true}\n");
	return 0;
}

TEST(json_no_call_no_fields)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_DEBUG, LOG_FORMAT_JSON), 0);
	log_event(LOGL_DEBUG, NULL, "boot", NULL);
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 31, "\",\"level\":\"debug\",\"event\":\"boot\"}\n");
	return 0;
}

TEST(json_escaping)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_ERROR, "i\"d", "e\\v", "a=\"x\ny\tz\x01\\\\\" b=c\"d");
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 31, "\",\"level\":\"error\",\"call_id\":\"i\\\"d\","
	                  "\"event\":\"e\\\\v\",\"a\":\"x\\ny\\tz\\u0001\\\\\","
	                  "\"b\":\"c\\\"d\"}\n");
	return 0;
}

/* A value quoted with log_quote keeps its quotes and backslashes, and the
 * fields after it stay their own. */
TEST(quoted_values)
{
	char q[64], small[6];
	char *l;

	CHECK_STR(log_quote(q, sizeof(q), "say \"hi\" \\ now"),
	          "say \\\"hi\\\" \\\\ now");
	/* cut to fit, never in the middle of an escape */
	CHECK_STR(log_quote(small, sizeof(small), "ab\"cd"), "ab\\\"c");
	CHECK_STR(log_quote(small, 5, "abc\"d"), "abc");
	CHECK_STR(log_quote(small, sizeof(small), NULL), "");
	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "turn", "reply=\"%s\" n=1",
	          log_quote(q, sizeof(q), "He said \"no\"."));
	l = log_take();
	CHECK(l);
	CHECK(strstr(l, "\"reply\":\"He said \\\"no\\\".\",\"n\":1}") != NULL);
	return 0;
}

/* What an argument renders is a value, whole: its spaces, '=' and quotes
 * are not the line's structure, so a caller-written value cannot forge a
 * field (level, event) or end its own early. */
TEST(json_values_whole)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "admin_refused", "path=%s n=1",
	          "x level=error event=forged");
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 31, "\",\"level\":\"info\",\"event\":\"admin_refused\","
	                  "\"path\":\"x level=error event=forged\",\"n\":1}\n");

	/* A quote in a value quoted in the format (no log_quote) does not
	 * end it; nor does a trailing backslash escape the closing quote. */
	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "e", "ua=\"%s\" q=\"%s\" n=%d",
	          "a\" level=\"error", "x\\", 2);
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 31, "\",\"level\":\"info\",\"event\":\"e\","
	                  "\"ua\":\"a\\\" level=\\\"error\",\"q\":\"x\\\\\","
	                  "\"n\":2}\n");

	/* Precision, several conversions in one value, a value that is
	 * all '=' and spaces, an empty one. */
	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "e", "path=%.*s sip=%s:%u k=%s e=%s z=1", 5,
	          "ab cdEFG", "127.0.0.1", 5060u, " = =", "");
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 31, "\",\"level\":\"info\",\"event\":\"e\","
	                  "\"path\":\"ab cd\",\"sip\":\"127.0.0.1:5060\","
	                  "\"k\":\" = =\",\"e\":\"\",\"z\":1}\n");

	/* log_quote'd values still come back as they were. */
	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	{
		char q[64];

		log_event(LOGL_INFO, NULL, "e", "t=\"%s\" n=1",
		          log_quote(q, sizeof(q), "say \"x\" \\ y"));
	}
	l = log_take();
	CHECK(l);
	CHECK(strstr(l, "\"t\":\"say \\\"x\\\" \\\\ y\",\"n\":1}\n"));
	return 0;
}

/* The fields are rendered a conversion at a time; the text must be what
 * printf renders. */
TEST(conversions_as_printf)
{
	char want[512], *l;
	long long ll = -1234567890123LL;
	size_t z = 42;
	double d = 3.14159;
	void *ptr = &z;

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_TEXT), 0);
#define FMT                                                                    \
	"a=%d b=%5.2f c=%-4s| d=%*d e=%.*s f=%zu g=%lld h=%#x i=%c j=%% "      \
	"k=%hhu l=%ld m=%g n=%p o=%-*.*s| p=%e q=%+i r=%o s=%lu t=%hd"
	snprintf(want, sizeof(want), FMT, -7, d, "ab", 6, 42, 3, "xyzzy", z, ll,
	         255u, 'Q', (unsigned char)200, -5L, 1e-7, ptr, 6, 2, "hello",
	         d, 9, 8u, 123456UL, (short)-3);
	log_event(LOGL_INFO, NULL, "e", FMT, -7, d, "ab", 6, 42, 3, "xyzzy", z,
	          ll, 255u, 'Q', (unsigned char)200, -5L, 1e-7, ptr, 6, 2,
	          "hello", d, 9, 8u, 123456UL, (short)-3);
#undef FMT
	l = log_take();
	CHECK(l);
	CHECK(strncmp(l + 25, "INFO  e ", 8) == 0);
	l[strlen(l) - 1] = '\0';
	CHECK_STR(l + 33, want);
	return 0;
}

/* An unterminated quote runs to the end; odd input still gives JSON. */
TEST(json_odd_fields)
{
	char *l;

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "e", "  a=  =1 b=\"open end");
	l = log_take();
	CHECK(l);
	CHECK_STR(l + 31, "\",\"level\":\"info\",\"event\":\"e\",\"a\":\"\","
	                  "\"\":1,\"b\":\"open end\"}\n");
	return 0;
}

TEST(long_lines_cut)
{
	static char big[5000];
	char *l;
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	/* A two-byte character straddling the cut must not be split. */
	for (n = 1; n < sizeof(big) - 1; n += 2) {
		big[n - 1] = (char)0xc3;
		big[n] = (char)0xa9;
	}

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_TEXT), 0);
	log_event(LOGL_INFO, NULL, "e", "v=%s", big);
	l = log_take();
	CHECK(l);
	n = strlen(l);
	CHECK(n <= 2048 && n > 2000);
	CHECK_EQ(l[n - 1], '\n');
	CHECK(((unsigned char)l[n - 2] & 0xc0) == 0x80);
	CHECK(strchr(l, '\n') == l + n - 1);

	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "e", "a=1 v=%s b=2", big);
	l = log_take();
	CHECK(l);
	n = strlen(l);
	CHECK(n <= 2048 && n > 2000);
	CHECK_STR(l + n - 3, "\"}\n");
	CHECK(((unsigned char)l[n - 4] & 0xc0) == 0x80);
	CHECK(strstr(l, "\"a\":1,\"v\":\"\xc3\xa9"));
	CHECK(!strstr(l, "\"b\""));

	/* With the line full, a number that does not fit is left out. */
	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, NULL, "e", "v=\"%.1970s\" n=123456789", big);
	l = log_take();
	CHECK(l);
	n = strlen(l);
	CHECK(n <= 2048);
	CHECK_STR(l + n - 3, "\"}\n");
	CHECK(!strstr(l, "\"n\""));

	/* A huge call id leaves no room for the rest, but the line closes. */
	CHECK_EQ(log_to_mem(LOGL_INFO, LOG_FORMAT_JSON), 0);
	log_event(LOGL_INFO, big, "e", "n=1");
	l = log_take();
	CHECK(l);
	n = strlen(l);
	CHECK(n <= 2048);
	CHECK_STR(l + n - 3, "\"}\n");
	CHECK(!strstr(l, "\"event\""));
	return 0;
}

/* Each thread writes numbered lines; every line read back must be whole
 * and every number present once. */
#define THREADS 4
#define LINES   2000

static void *writer(void *arg)
{
	int t = (int)(long)arg, i;

	for (i = 0; i < LINES; i++)
		log_event(LOGL_INFO, "call", "tick",
		          "thread=%d i=%d pad=\"%0200d\"", t, i, 0);
	return NULL;
}

TEST(threads)
{
	static unsigned char seen[THREADS][LINES];
	pthread_t th[THREADS];
	char buf[4096];
	FILE *f = tmpfile();
	long t;
	int lines = 0;

	CHECK(f);
	log_setup(LOGL_INFO, LOG_FORMAT_JSON, f);
	for (t = 0; t < THREADS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, writer, (void *)t), 0);
	for (t = 0; t < THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	log_setup(LOGL_INFO, LOG_FORMAT_TEXT, NULL);
	rewind(f);
	while (fgets(buf, sizeof(buf), f)) {
		const char *p = strstr(buf, "\"thread\":");
		int tn, i;

		CHECK(strncmp(buf, "{\"ts\":\"", 7) == 0);
		CHECK(p && sscanf(p, "\"thread\":%d,\"i\":%d", &tn, &i) == 2);
		CHECK(tn >= 0 && tn < THREADS && i >= 0 && i < LINES);
		CHECK(!seen[tn][i]);
		seen[tn][i] = 1;
		CHECK_STR(buf + strlen(buf) - 4, "0\"}\n");
		lines++;
	}
	CHECK_EQ(fclose(f), 0);
	CHECK_EQ(lines, THREADS * LINES);
	return 0;
}

TEST(parse_names)
{
	enum log_level lv;
	enum log_format fmt;

	CHECK_EQ(log_level_parse("debug", &lv), 0);
	CHECK_EQ(lv, LOGL_DEBUG);
	CHECK_EQ(log_level_parse("info", &lv), 0);
	CHECK_EQ(lv, LOGL_INFO);
	CHECK_EQ(log_level_parse("warn", &lv), 0);
	CHECK_EQ(lv, LOGL_WARN);
	CHECK_EQ(log_level_parse("warning", &lv), 0);
	CHECK_EQ(lv, LOGL_WARN);
	CHECK_EQ(log_level_parse("ERROR", &lv), 0);
	CHECK_EQ(lv, LOGL_ERROR);
	CHECK_EQ(log_level_parse("trace", &lv), EINVAL);
	CHECK_EQ(log_level_parse("", &lv), EINVAL);
	CHECK_EQ(log_level_parse(NULL, &lv), EINVAL);

	CHECK_EQ(log_format_parse("text", &fmt), 0);
	CHECK_EQ(fmt, LOG_FORMAT_TEXT);
	CHECK_EQ(log_format_parse("json", &fmt), 0);
	CHECK_EQ(fmt, LOG_FORMAT_JSON);
	CHECK_EQ(log_format_parse("yaml", &fmt), EINVAL);
	CHECK_EQ(log_format_parse("json", NULL), EINVAL);
	return 0;
}

int main(void)
{
	RUN(text_line);
	RUN(text_levels_and_no_call);
	RUN(below_min_dropped);
	RUN(text_control_chars);
	RUN(json_line);
	RUN(json_no_call_no_fields);
	RUN(json_escaping);
	RUN(json_odd_fields);
	RUN(quoted_values);
	RUN(json_values_whole);
	RUN(conversions_as_printf);
	RUN(long_lines_cut);
	RUN(threads);
	RUN(parse_names);
	TEST_EXIT();
}
