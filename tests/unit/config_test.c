/*
 * Config loading: defaults, the three sources and their precedence, and the
 * one-line errors for every kind of bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "test.h"

/* Every variable config_load reads; cleared first so the caller's
 * environment cannot leak into the tests. */
static const char *const env_vars[] = {
    "VOXGATE_CONFIG",
    "VOXGATE_SIP_HOST",
    "VOXGATE_SIP_PORT",
    "VOXGATE_RTP_PORT_RANGE",
    "VOXGATE_EXTERNAL_IP",
    "VOXGATE_MEDIA_TIMEOUT",
    "VOXGATE_MAX_CALL_DURATION",
    "VOXGATE_JITTER_BUFFER",
    "VOXGATE_LOG_FORMAT",
    "VOXGATE_LOG_LEVEL",
    "VOXGATE_GREETING",
    "VOXGATE_AGENT",
    "VOXGATE_ANSWER_DELAY",
    "VOXGATE_DRAIN_TIMEOUT",
    "VOXGATE_MEDIA_THREADS",
    "VOXGATE_CALL_PRIORITY",
    "VOXGATE_KEYS",
    "VOXGATE_HTTP_PORT",
    "VOXGATE_HTTP_HOST",
    "VOXGATE_DB",
    "VOXGATE_WEBHOOK_URLS",
    "VOXGATE_WEBHOOK_API_KEY",
    "VOXGATE_DEFAULT_ROUTE",
    "VOXGATE_EMPTY_TIMEOUT",
    "LIVEKIT_KEYS",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
};

static struct config cfg;
static const char *err = "";

static void env_clear(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

/* config_load with the given arguments, NULL-terminated. */
static int load(const char *arg, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	va_start(ap, arg);
	for (; arg && argc < 64; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	va_end(ap);
	err = "";
	return config_load(&cfg, argc, argv, &err);
}

/* A temporary file holding text; path must hold 32 bytes. */
static int tmp_write(char *path, const char *text)
{
	size_t n = strlen(text);
	int fd;

	strcpy(path, "/tmp/voxgate-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return errno;
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return EIO;
	}
	return close(fd) == 0 ? 0 : errno;
}

TEST(defaults)
{
	CHECK_EQ(load(NULL), 0);
	CHECK_STR(err, "");
	CHECK_STR(cfg.config_file, "");
	CHECK_STR(cfg.sip_host, "0.0.0.0");
	CHECK_EQ(cfg.sip_port, 5060);
	CHECK_EQ(cfg.rtp_port_min, 10000);
	CHECK_EQ(cfg.rtp_port_max, 20000);
	CHECK_STR(cfg.external_ip, "");
	CHECK_EQ(cfg.media_timeout_ms, 15000);
	CHECK_EQ(cfg.max_call_duration_ms, 24 * 3600 * 1000);
	CHECK_EQ(cfg.jitter_min_ms, 0);
	CHECK_EQ(cfg.jitter_max_ms, 100);
	CHECK_EQ(cfg.log_format, LOG_FORMAT_TEXT);
	CHECK_EQ(cfg.log_level, LOGL_INFO);
	CHECK_STR(cfg.greeting, "");
	CHECK_STR(cfg.agent, "pipeline");
	CHECK_EQ(cfg.answer_delay_ms, 0);
	CHECK_EQ(cfg.drain_timeout_ms, 30000);
	CHECK_EQ(cfg.media_threads, 0);
	CHECK_EQ(cfg.call_priority, 0);
	CHECK_EQ(cfg.nkeys, 0);
	CHECK_EQ(cfg.http_port, 7880);
	CHECK_STR(cfg.http_host, "0.0.0.0"); /* sip_host's */
	CHECK_STR(cfg.db, "voxgate.db");
	CHECK_EQ(cfg.nwebhook_urls, 0);
	CHECK_STR(cfg.webhook_api_key, "");
	CHECK_EQ(cfg.default_route, true);
	CHECK_EQ(cfg.empty_timeout_ms, 300000);
	CHECK_EQ(cfg.preemptive_generation, true);
	return 0;
}

/* The values every source sets in the per-source tests below, all different
 * from the defaults. */
static int check_all_set(const char *greeting)
{
	CHECK_STR(cfg.sip_host, "::1");
	CHECK_EQ(cfg.sip_port, 5070);
	CHECK_EQ(cfg.rtp_port_min, 30000);
	CHECK_EQ(cfg.rtp_port_max, 30100);
	CHECK_STR(cfg.external_ip, "192.0.2.7");
	CHECK_EQ(cfg.media_timeout_ms, 500);
	CHECK_EQ(cfg.max_call_duration_ms, 10 * 60 * 1000);
	CHECK_EQ(cfg.jitter_min_ms, 20);
	CHECK_EQ(cfg.jitter_max_ms, 80);
	CHECK_EQ(cfg.log_format, LOG_FORMAT_JSON);
	CHECK_EQ(cfg.log_level, LOGL_DEBUG);
	CHECK_STR(cfg.greeting, greeting);
	CHECK_STR(cfg.agent, "other");
	CHECK_EQ(cfg.answer_delay_ms, 2000);
	CHECK_EQ(cfg.drain_timeout_ms, 5000);
	CHECK_EQ(cfg.media_threads, 4);
	CHECK_EQ(cfg.call_priority, 5);
	CHECK_EQ(cfg.nkeys, 2);
	CHECK_STR(cfg.keys[0].key, "devkey");
	CHECK_STR(cfg.keys[0].secret, "devsecret-devsecret-devsecret-00");
	CHECK_STR(cfg.keys[1].key, "k2");
	CHECK_STR(cfg.keys[1].secret, "s:2");
	CHECK_EQ(cfg.http_port, 8080);
	CHECK_STR(cfg.http_host, "127.0.0.1");
	CHECK_STR(cfg.db, "/tmp/vg.db");
	CHECK_EQ(cfg.nwebhook_urls, 2);
	CHECK_STR(cfg.webhook_urls[0], "http://127.0.0.1:9000/hook");
	CHECK_STR(cfg.webhook_urls[1], "https://example.com/lk");
	CHECK_STR(cfg.webhook_api_key, "k2");
	CHECK_EQ(cfg.default_route, false);
	CHECK_EQ(cfg.empty_timeout_ms, 60000);
	return 0;
}

TEST(file_each_key)
{
	char wav[32], path[32], text[2048];
	int rc;

	CHECK_EQ(tmp_write(wav, "RIFF"), 0);
	snprintf(text, sizeof(text),
	         "# every key\n"
	         "sip_host: \"::1\"\n"
	         "sip_port: 5070\n"
	         "rtp_port_range: 30000-30100\n"
	         "external_ip: 192.0.2.7\n"
	         "media_timeout: 500ms\n"
	         "max_call_duration: 10m\n"
	         "jitter_buffer: 20ms-80ms\n"
	         "log_format: json\n"
	         "log_level: debug\n"
	         "greeting: %s\n"
	         "agent: 'other'\n"
	         "answer_delay: 2\n"
	         "drain_timeout: 5s\n"
	         "media_threads: 4\n"
	         "call_priority: 5\n"
	         "keys:\n"
	         "  devkey: devsecret-devsecret-devsecret-00\n"
	         "  k2: \"s:2\"\n"
	         "http_port: 8080\n"
	         "http_host: 127.0.0.1\n"
	         "db: /tmp/vg.db\n"
	         "webhook_urls:\n"
	         "  - http://127.0.0.1:9000/hook\n"
	         "  - https://example.com/lk\n"
	         "webhook_api_key: k2\n"
	         "default_route: false\n"
	         "empty_timeout: 1m\n",
	         wav);
	CHECK_EQ(tmp_write(path, text), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	unlink(wav);
	CHECK_EQ(rc, 0);
	CHECK_STR(cfg.config_file, path);
	return check_all_set(wav);
}

TEST(env_each_key)
{
	char wav[32];
	int rc;

	CHECK_EQ(tmp_write(wav, "RIFF"), 0);
	setenv("VOXGATE_SIP_HOST", "::1", 1);
	setenv("VOXGATE_SIP_PORT", "5070", 1);
	setenv("VOXGATE_RTP_PORT_RANGE", "30000-30100", 1);
	setenv("VOXGATE_EXTERNAL_IP", "192.0.2.7", 1);
	setenv("VOXGATE_MEDIA_TIMEOUT", "500ms", 1);
	setenv("VOXGATE_MAX_CALL_DURATION", "10m", 1);
	setenv("VOXGATE_JITTER_BUFFER", "20-80", 1);
	setenv("VOXGATE_LOG_FORMAT", "json", 1);
	setenv("VOXGATE_LOG_LEVEL", "debug", 1);
	setenv("VOXGATE_GREETING", wav, 1);
	setenv("VOXGATE_AGENT", "other", 1);
	setenv("VOXGATE_ANSWER_DELAY", "2s", 1);
	setenv("VOXGATE_DRAIN_TIMEOUT", "5", 1);
	setenv("VOXGATE_MEDIA_THREADS", "4", 1);
	setenv("VOXGATE_CALL_PRIORITY", "5", 1);
	setenv("VOXGATE_KEYS",
	       "devkey: devsecret-devsecret-devsecret-00, k2: s:2", 1);
	setenv("VOXGATE_HTTP_PORT", "8080", 1);
	setenv("VOXGATE_HTTP_HOST", "127.0.0.1", 1);
	setenv("VOXGATE_DB", "/tmp/vg.db", 1);
	setenv("VOXGATE_WEBHOOK_URLS",
	       "http://127.0.0.1:9000/hook,https://example.com/lk", 1);
	setenv("VOXGATE_WEBHOOK_API_KEY", "k2", 1);
	setenv("VOXGATE_DEFAULT_ROUTE", "false", 1);
	setenv("VOXGATE_EMPTY_TIMEOUT", "60s", 1);
	rc = load(NULL);
	env_clear();
	unlink(wav);
	CHECK_EQ(rc, 0);
	return check_all_set(wav);
}

TEST(flag_each_key)
{
	char wav[32];
	int rc;

	CHECK_EQ(tmp_write(wav, "RIFF"), 0);
	rc = load("--sip_host", "::1", "--sip_port", "5070", "--rtp_port_range",
	          "30000-30100", "--external_ip", "192.0.2.7",
	          "--media_timeout", "500ms", "--max_call_duration", "10m",
	          "--jitter_buffer", "20-80ms", "--log_format", "json",
	          "--log_level", "debug", "--greeting", wav, "--agent", "other",
	          "--answer_delay", "2s", "--drain_timeout", "5s",
	          "--media_threads", "4", "--call_priority", "5", "--keys",
	          "devkey: devsecret-devsecret-devsecret-00, k2: s:2",
	          "--http-port", "8080", "--http-host", "127.0.0.1", "--db",
	          "/tmp/vg.db", "--webhook-urls",
	          " http://127.0.0.1:9000/hook , https://example.com/lk",
	          "--webhook-api-key", "k2", "--default-route", "false",
	          "--empty-timeout", "1m", NULL);
	unlink(wav);
	CHECK_EQ(rc, 0);
	return check_all_set(wav);
}

TEST(flag_forms)
{
	CHECK_EQ(load("--sip-port", "5071", "--rtp-port-range=2000-3000",
	              "--max-call-duration=1h", "--log_level=warning", NULL),
	         0);
	CHECK_EQ(cfg.sip_port, 5071);
	CHECK_EQ(cfg.rtp_port_min, 2000);
	CHECK_EQ(cfg.rtp_port_max, 3000);
	CHECK_EQ(cfg.max_call_duration_ms, 3600 * 1000);
	CHECK_EQ(cfg.log_level, LOGL_WARN);
	/* The last of a repeated flag wins; an empty value is a value. */
	CHECK_EQ(
	    load("--sip-port=1", "--sip_port", "2", "--external-ip=", NULL), 0);
	CHECK_EQ(cfg.sip_port, 2);
	CHECK_STR(cfg.external_ip, "");
	return 0;
}

TEST(precedence)
{
	char path[32], other[32];
	int rc;

	CHECK_EQ(tmp_write(path, "sip_port: 5070\nagent: file\n"
	                         "log_level: error\n"),
	         0);
	CHECK_EQ(tmp_write(other, "sip_port: 5090\n"), 0);
	setenv("VOXGATE_SIP_PORT", "5080", 1);
	setenv("VOXGATE_AGENT", "env", 1);
	rc = load("--config", path, "--sip-port", "5099", NULL);
	if (rc == 0 && (cfg.sip_port != 5099 || strcmp(cfg.agent, "env") ||
	                cfg.log_level != LOGL_ERROR))
		rc = -1;
	/* The file can be named by the environment too... */
	setenv("VOXGATE_CONFIG", path, 1);
	if (rc == 0 && load(NULL) == 0 && cfg.sip_port == 5080) {
		/* ...and --config beats VOXGATE_CONFIG like any key. */
		unsetenv("VOXGATE_SIP_PORT");
		if (load("--config", other, NULL) != 0 ||
		    cfg.sip_port != 5090 || strcmp(cfg.agent, "env"))
			rc = -2;
	} else if (rc == 0) {
		rc = -3;
	}
	env_clear();
	unlink(path);
	unlink(other);
	CHECK_EQ(rc, 0);
	return 0;
}

/* A value overridden by a higher source is never parsed. */
TEST(overridden_bad_value_ignored)
{
	char path[32];
	int rc;

	CHECK_EQ(tmp_write(path, "sip_port: 99999\n"), 0);
	rc = load("--config", path, "--sip-port", "5060", NULL);
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.sip_port, 5060);
	return 0;
}

TEST(error_message_exact)
{
	CHECK_EQ(load("--sip_port", "70000", NULL), EINVAL);
	CHECK_STR(err, "sip_port: \"70000\" is not a port number (1-65535) "
	               "(from --sip_port)");
	CHECK_EQ(load("--sip-port=0", NULL), EINVAL);
	CHECK_STR(
	    err,
	    "sip_port: \"0\" is not a port number (1-65535) (from --sip-port)");
	CHECK_EQ(load("--config", "/nonexistent/x.yaml", NULL), EINVAL);
	CHECK_STR(err, "config file /nonexistent/x.yaml: cannot read: No such "
	               "file or directory");
	return 0;
}

TEST(bad_values)
{
	static const struct {
		const char *key, *val;
	} bad[] = {
	    {"sip_host", ""},
	    {"sip_host", "localhost"},
	    {"sip_host", "1.2.3.256"},
	    {"sip_host", "[::1]"},
	    {"sip_port", ""},
	    {"sip_port", "-1"},
	    {"sip_port", "+5060"},
	    {"sip_port", "65536"},
	    {"sip_port", "50 60"},
	    {"sip_port", "5060x"},
	    {"rtp_port_range", ""},
	    {"rtp_port_range", "10000"},
	    {"rtp_port_range", "10000-"},
	    {"rtp_port_range", "-20000"},
	    {"rtp_port_range", "10000-20000x"},
	    {"rtp_port_range", "1023-2000"},
	    {"rtp_port_range", "2000-65536"},
	    {"rtp_port_range", "99999-100000"},
	    {"rtp_port_range", "3000-2000"},
	    {"rtp_port_range", "3000-3000"},
	    {"rtp_port_range", "3001-3002"},
	    {"rtp_port_range", "65535-65535"},
	    {"external_ip", "example.com"},
	    {"media_timeout", ""},
	    {"media_timeout", "-1s"},
	    {"media_timeout", "1.5s"},
	    {"media_timeout", "15 s"},
	    {"media_timeout", "15S"},
	    {"media_timeout", "15x"},
	    {"media_timeout", "s"},
	    {"media_timeout", "4294967296ms"},
	    {"max_call_duration", "4294968s"},
	    {"max_call_duration", "1194h"},
	    {"max_call_duration", "99999999999999999999999h"},
	    {"jitter_buffer", ""},
	    {"jitter_buffer", "40-"},
	    {"jitter_buffer", "-60"},
	    {"jitter_buffer", "40s-60s"},
	    {"jitter_buffer", "40msms"},
	    {"jitter_buffer", "1001"},
	    {"jitter_buffer", "40-1001"},
	    {"jitter_buffer", "60-40"},
	    {"jitter_buffer", "40-60-80"},
	    {"log_format", "xml"},
	    {"log_format", ""},
	    {"log_level", "verbose"},
	    {"greeting", "/nonexistent/hello.wav"},
	    {"greeting", "/tmp"},
	    {"agent", "a-name-far-too-long-for-the-agent-field"},
	    {"answer_delay", "soon"},
	    {"drain_timeout", "-30s"},
	    {"media_threads", "65"},
	    {"call_priority", "100"},
	    {"call_priority", "-1"},
	    {"media_threads", "-1"},
	    {"media_threads", "two"},
	};
	char flag[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(flag, sizeof(flag), "--%s=%s", bad[i].key, bad[i].val);
		if (load(flag, NULL) != EINVAL)
			TEST_FAIL("bad_values", "%s accepted", flag);
		if (strncmp(err, bad[i].key, strlen(bad[i].key)) != 0 ||
		    !strstr(err, bad[i].val) || !strstr(err, "(from --") ||
		    strchr(err, '\n'))
			TEST_FAIL("bad_values", "%s: message \"%s\"", flag,
			          err);
	}
	return 0;
}

TEST(bad_value_sources)
{
	char path[32], want[128];
	int rc;

	setenv("VOXGATE_MEDIA_THREADS", "100", 1);
	rc = load(NULL);
	unsetenv("VOXGATE_MEDIA_THREADS");
	CHECK_EQ(rc, EINVAL);
	CHECK(strstr(err, "media_threads: \"100\"") == err);
	CHECK(strstr(err, "(from VOXGATE_MEDIA_THREADS)"));

	CHECK_EQ(tmp_write(path, "agent: x\n\nlog_level: loud\n"), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, EINVAL);
	snprintf(want, sizeof(want),
	         "log_level: \"loud\" is not a log level (debug, info, warn or "
	         "error) (from %s line 3)",
	         path);
	CHECK_STR(err, want);
	return 0;
}

TEST(control_chars_in_message)
{
	CHECK_EQ(load("--agent", "x", "--sip-host", "1.2.3.4\nFAKE line", NULL),
	         EINVAL);
	CHECK(!strchr(err, '\n'));
	CHECK(strstr(err, "1.2.3.4?FAKE line"));
	return 0;
}

TEST(bad_flags)
{
	CHECK_EQ(load("--sip-prot", "5060", NULL), EINVAL);
	CHECK(strstr(err, "--sip-prot"));
	CHECK_EQ(load("--sip-port", NULL), EINVAL);
	CHECK(strstr(err, "--sip-port") && strstr(err, "missing value"));
	CHECK_EQ(load("--sip-port", "--agent", "x", NULL), EINVAL);
	CHECK(strstr(err, "--sip-port") && strstr(err, "missing value"));
	CHECK_EQ(load("5060", NULL), EINVAL);
	CHECK(strstr(err, "\"5060\""));
	CHECK_EQ(load("-x", NULL), EINVAL);
	CHECK_EQ(load("--", NULL), EINVAL);
	CHECK_EQ(load("--sip_port_", "1", NULL), EINVAL);
	CHECK_EQ(load("--sip", "1", NULL), EINVAL);
	return 0;
}

/* Flags are read as every command reads its options (core/opt.c). */
TEST(flags_as_options)
{
	/* "--" is an argument, not an option without a name */
	CHECK_EQ(load("--", NULL), EINVAL);
	CHECK_STR(err, "unexpected argument \"--\" (see --help)");
	CHECK_EQ(load("--sip-port", "5060", "-", NULL), EINVAL);
	CHECK_STR(err, "unexpected argument \"-\" (see --help)");
	/* an unknown option is named without its value, which may be a
	 * secret */
	CHECK_EQ(load("--llm-apikey=sk-secret", NULL), EINVAL);
	CHECK_STR(err, "unknown option \"--llm-apikey\" (see --help)");
	CHECK_EQ(load("--=x", NULL), EINVAL);
	CHECK_STR(err, "unknown option \"--\" (see --help)");
	CHECK_EQ(load("--help=1", NULL), EINVAL);
	CHECK_STR(err, "unknown option \"--help\" (see --help)");
	/* after '=' a value may look like an option; as the next argument
	 * it is the next option, and this one has none */
	CHECK_EQ(load("--agent=--x", NULL), 0);
	CHECK_STR(cfg.agent, "--x");
	CHECK_EQ(load("--agent", "--help", NULL), EINVAL);
	CHECK_STR(err, "--agent: missing value");
	CHECK_EQ(load("--agent=", "--sip_port", "--", NULL), EINVAL);
	CHECK_STR(err, "--sip_port: missing value");
	/* one dash is a value */
	CHECK_EQ(load("--agent", "-h", NULL), 0);
	CHECK_STR(cfg.agent, "-h");
	/* a bad value names its flag as typed, without the value */
	CHECK_EQ(load("--sip-port=x", NULL), EINVAL);
	CHECK(strstr(err, "(from --sip-port)"));
	return 0;
}

/* config_load writes help to stdout, which the test runner reads; send it
 * to /dev/null for the call. */
static int load_quiet(const char *arg)
{
	int saved, null, rc;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	null = open("/dev/null", O_WRONLY);
	if (saved < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
		return -1;
	rc = load("--sip-port", "1", arg, "--bogus", NULL);
	fflush(stdout);
	if (dup2(saved, STDOUT_FILENO) < 0)
		rc = -1;
	close(saved);
	close(null);
	return rc;
}

TEST(help)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_EQ(load_quiet("--help"), EALREADY);
	CHECK_EQ(load_quiet("-h"), EALREADY);

	f = open_memstream(&text, &len);
	CHECK(f);
	config_print_help(f);
	CHECK_EQ(fclose(f), 0);
	CHECK(strstr(
	    text, "usage: voxgate serve [--config FILE] [--key value ...]\n"));
	CHECK(strstr(text, "--sip_port           5060"));
	CHECK(strstr(text, "--rtp_port_range     10000-20000"));
	CHECK(strstr(text, "--media_threads"));
	CHECK(strstr(text, "VOXGATE_"));
	CHECK(strstr(text, "A flag\nbeats the environment"));
	CHECK(strstr(text, "--keys "));
	CHECK(strstr(text, "LIVEKIT_KEYS"));
	CHECK(strstr(text, "--http_port          7880"));
	CHECK(strstr(text, "--db                 voxgate.db"));
	CHECK(strstr(text, "turn off in production"));
	free(text);
	return 0;
}

TEST(file_errors)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"sip_port: 5060\nbogus: 1\n", "line 2: unknown key \"bogus\""},
	    {"sip_port: [5060, 5061]\n",
	     "line 1: sip_port: expected one value, not a list"},
	    {"jitter_buffer:\n  min: 40\n  max: 60\n",
	     "line 1: jitter_buffer: expected one value, not a mapping"},
	    {"agent: a\nagent: b\n", "line 2: agent is set twice"},
	    {"config: /etc/x.yaml\n", "line 1: config cannot be set here"},
	    {"- sip_port\n", "line 1: expected key: value lines"},
	    {"just a string\n", "line 1: expected key: value lines"},
	    {"[1, 2]: x\n", "line 1: keys must be plain names"},
	    {"sip_port: 5060\n  agent: x\n", "line 2: "},
	    {"agent: \"unterminated\n", "line 2: "},
	    {"a: b: c\n", "line 1: "},
	    {"agent: \"a\\0b\"\n", "line 1: agent: value holds a NUL"},
	    {"agent: \xff\n", "invalid"},
	};
	char path[32], want[128];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(tmp_write(path, bad[i].text), 0);
		rc = load("--config", path, NULL);
		unlink(path);
		snprintf(want, sizeof(want), "config file %s", path);
		if (rc != EINVAL || strstr(err, want) != err ||
		    !strstr(err, bad[i].want) || strchr(err, '\n'))
			TEST_FAIL("file_errors", "case %zu: %d \"%s\"", i, rc,
			          err);
	}
	return 0;
}

TEST(file_unreadable)
{
	char path[32];

	CHECK_EQ(load("--config", "/tmp", NULL), EINVAL);
	CHECK_STR(err, "config file /tmp: cannot read: Is a directory");
	/* Root reads anything, so a mode-000 file only fails for others. */
	if (geteuid() != 0) {
		CHECK_EQ(tmp_write(path, "agent: x\n"), 0);
		CHECK_EQ(chmod(path, 0), 0);
		CHECK_EQ(load("--config", path, NULL), EINVAL);
		unlink(path);
		CHECK(strstr(err, "cannot read: Permission denied"));
	}
	return 0;
}

TEST(file_empty_and_dashes)
{
	char path[32];
	int rc;

	CHECK_EQ(tmp_write(path, ""), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.sip_port, 5060);

	CHECK_EQ(tmp_write(path, "# nothing but a comment\n---\n"), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, 0);

	CHECK_EQ(tmp_write(path, "sip-port: 5070\nexternal_ip:\n"), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.sip_port, 5070);
	CHECK_STR(cfg.external_ip, "");
	return 0;
}

TEST(durations)
{
	static const struct {
		const char *val;
		uint32_t ms;
	} ok[] = {
	    {"0", 0},
	    {"0ms", 0},
	    {"1ms", 1},
	    {"500ms", 500},
	    {"90", 90000},
	    {"15s", 15000},
	    {"10m", 600000},
	    {"24h", 86400000},
	    {"1193h", 4294800000u},
	    {"4294967s", 4294967000u},
	    {"4294967295ms", 4294967295u},
	    {"007s", 7000},
	};
	char flag[64];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(flag, sizeof(flag), "--answer-delay=%s", ok[i].val);
		CHECK_EQ(load(flag, NULL), 0);
		CHECK_EQ(cfg.answer_delay_ms, ok[i].ms);
	}
	CHECK_EQ(load("--drain-timeout=4294967296ms", NULL), EINVAL);
	CHECK(strstr(err, "too long"));
	return 0;
}

TEST(ranges)
{
	static const struct {
		const char *rtp;
		unsigned min, max;
	} rtp[] = {
	    {"10000-20000", 10000, 20000}, {"10001-20000", 10002, 20000},
	    {"10000-10001", 10000, 10001}, {"10001-10003", 10002, 10003},
	    {"1024-65535", 1024, 65535},   {"65533-65535", 65534, 65535},
	};
	static const struct {
		const char *jb;
		unsigned min, max;
	} jb[] = {
	    {"40-60", 40, 60},   {"40ms-60ms", 40, 60}, {"40-60ms", 40, 60},
	    {"60", 60, 60},      {"60ms", 60, 60},      {"0", 0, 0},
	    {"0-1000", 0, 1000}, {"1000", 1000, 1000},
	};
	char flag[64];
	size_t i;

	for (i = 0; i < sizeof(rtp) / sizeof(rtp[0]); i++) {
		snprintf(flag, sizeof(flag), "--rtp-port-range=%s", rtp[i].rtp);
		CHECK_EQ(load(flag, NULL), 0);
		CHECK_EQ(cfg.rtp_port_min, rtp[i].min);
		CHECK_EQ(cfg.rtp_port_max, rtp[i].max);
	}
	for (i = 0; i < sizeof(jb) / sizeof(jb[0]); i++) {
		snprintf(flag, sizeof(flag), "--jitter-buffer=%s", jb[i].jb);
		CHECK_EQ(load(flag, NULL), 0);
		CHECK_EQ(cfg.jitter_min_ms, jb[i].min);
		CHECK_EQ(cfg.jitter_max_ms, jb[i].max);
	}
	return 0;
}

TEST(other_values)
{
	CHECK_EQ(load("--sip-host=127.0.0.1", "--external-ip=2001:db8::1",
	              "--log-level=ERROR", "--log-format=JSON",
	              "--media-threads=64", "--sip-port=65535", NULL),
	         0);
	CHECK_STR(cfg.sip_host, "127.0.0.1");
	CHECK_STR(cfg.external_ip, "2001:db8::1");
	CHECK_EQ(cfg.log_level, LOGL_ERROR);
	CHECK_EQ(cfg.log_format, LOG_FORMAT_JSON);
	CHECK_EQ(cfg.media_threads, 64);
	CHECK_EQ(cfg.sip_port, 65535);
	CHECK_EQ(load("--log-level=warn", "--greeting=", NULL), 0);
	CHECK_EQ(cfg.log_level, LOGL_WARN);
	CHECK_STR(cfg.greeting, "");
	return 0;
}

/* keys: every source, in order flag > VOXGATE_KEYS > LIVEKIT_KEYS >
 * LIVEKIT_API_KEY/SECRET > file. */
TEST(keys_precedence)
{
	char path[32];
	int rc = 0;

	CHECK_EQ(tmp_write(path, "keys: {filekey: filesecret}\n"), 0);
	if (load("--config", path, NULL) != 0 || cfg.nkeys != 1 ||
	    strcmp(cfg.keys[0].key, "filekey") ||
	    strcmp(cfg.keys[0].secret, "filesecret"))
		rc = 1;
	setenv("LIVEKIT_API_KEY", "apikey", 1);
	setenv("LIVEKIT_API_SECRET", "api secret, with: comma", 1);
	if (!rc && (load("--config", path, NULL) != 0 || cfg.nkeys != 1 ||
	            strcmp(cfg.keys[0].key, "apikey") ||
	            strcmp(cfg.keys[0].secret, "api secret, with: comma")))
		rc = 2;
	setenv("LIVEKIT_KEYS", "lkkey: lksecret", 1);
	if (!rc && (load("--config", path, NULL) != 0 || cfg.nkeys != 1 ||
	            strcmp(cfg.keys[0].key, "lkkey")))
		rc = 3;
	setenv("VOXGATE_KEYS", "vgkey: vgsecret", 1);
	if (!rc && (load("--config", path, NULL) != 0 || cfg.nkeys != 1 ||
	            strcmp(cfg.keys[0].key, "vgkey")))
		rc = 4;
	if (!rc && (load("--config", path, "--keys", "flagkey: flagsecret",
	                 NULL) != 0 ||
	            cfg.nkeys != 1 || strcmp(cfg.keys[0].key, "flagkey") ||
	            strcmp(cfg.keys[0].secret, "flagsecret")))
		rc = 5;
	/* An empty higher source means no keys at all. */
	if (!rc &&
	    (load("--config", path, "--keys=", NULL) != 0 || cfg.nkeys != 0))
		rc = 6;
	env_clear();
	unlink(path);
	CHECK_EQ(rc, 0);
	return 0;
}

TEST(keys_forms)
{
	char path[32];
	int rc;

	/* LiveKit's newline form, braces, quotes, a ':' in a secret. */
	CHECK_EQ(load("--keys", "a: 1\nb: 2:3\n\n", NULL), 0);
	CHECK_EQ(cfg.nkeys, 2);
	CHECK_STR(cfg.keys[1].key, "b");
	CHECK_STR(cfg.keys[1].secret, "2:3");
	CHECK_EQ(load("--keys", " { 'a' : \"x y\" , b:z } ", NULL), 0);
	CHECK_EQ(cfg.nkeys, 2);
	CHECK_STR(cfg.keys[0].key, "a");
	CHECK_STR(cfg.keys[0].secret, "x y");
	CHECK_STR(cfg.keys[1].secret, "z");
	CHECK_EQ(load("--keys", "a: 1,", NULL), 0);
	CHECK_EQ(cfg.nkeys, 1);

	/* In the file: a block mapping, or the scalar form. */
	CHECK_EQ(tmp_write(path, "keys:\n  APIabc: s1\n  APIdef: 12345\n"), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.nkeys, 2);
	CHECK_STR(cfg.keys[1].key, "APIdef");
	CHECK_STR(cfg.keys[1].secret, "12345");
	CHECK_EQ(tmp_write(path, "keys: 'k: s, k2: s2'\n"), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.nkeys, 2);
	CHECK_EQ(tmp_write(path, "keys:\n"), 0);
	rc = load("--config", path, NULL);
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.nkeys, 0);

	/* Sixteen pairs fit. */
	CHECK_EQ(load("--keys",
	              "k0:s,k1:s,k2:s,k3:s,k4:s,k5:s,k6:s,k7:s,k8:s,k9:s,"
	              "k10:s,k11:s,k12:s,k13:s,k14:s,k15:s",
	              NULL),
	         0);
	CHECK_EQ(cfg.nkeys, 16);
	CHECK_STR(cfg.keys[15].key, "k15");
	return 0;
}

TEST(keys_errors)
{
	static const struct {
		const char *val, *want;
	} bad[] = {
	    {"devkey", "keys: entry 1 is not \"key: secret\""},
	    {"a: 1, devkey secret", "keys: entry 2 is not \"key: secret\""},
	    {": secret", "keys: has an empty API key"},
	    {"devkey:", "keys: has no secret for \"devkey\""},
	    {"devkey: ''", "keys: has no secret for \"devkey\""},
	    {"dev key: secret", "with a space"},
	    {"a: 1, a: 2", "keys: lists \"a\" twice"},
	    {"k0:s,k1:s,k2:s,k3:s,k4:s,k5:s,k6:s,k7:s,k8:s,k9:s,k10:s,k11:s,"
	     "k12:s,k13:s,k14:s,k15:s,k16:s",
	     "keys: has more than 16 pairs"},
	};
	char long_key[200], long_secret[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load("--keys", bad[i].val, NULL) != EINVAL)
			TEST_FAIL("keys_errors", "\"%s\" accepted", bad[i].val);
		if (!strstr(err, bad[i].want) ||
		    !strstr(err, "(from --keys)") || strchr(err, '\n'))
			TEST_FAIL("keys_errors", "\"%s\": message \"%s\"",
			          bad[i].val, err);
	}
	CHECK_EQ(load("--keys", "k: topsecret, k: topsecret2", NULL), EINVAL);
	CHECK_STR(err, "keys: lists \"k\" twice (from --keys)");

	memset(long_key, 'k', sizeof(long_key));
	snprintf(long_key + 128, sizeof(long_key) - 128, ": s");
	CHECK_EQ(load("--keys", long_key, NULL), EINVAL);
	CHECK(strstr(err, "longer than 127"));
	memcpy(long_secret, "k: ", 3);
	memset(long_secret + 3, 's', sizeof(long_secret) - 3);
	long_secret[3 + 256] = '\0';
	CHECK_EQ(load("--keys", long_secret, NULL), EINVAL);
	CHECK(strstr(err, "longer than 255"));
	CHECK(!strstr(err, "sss")); /* never the secret */

	/* Messages name where the value came from; secrets never show. */
	setenv("LIVEKIT_KEYS", "lk: hush, lk: hush", 1);
	CHECK_EQ(load(NULL), EINVAL);
	CHECK_STR(err, "keys: lists \"lk\" twice (from LIVEKIT_KEYS)");
	unsetenv("LIVEKIT_KEYS");
	setenv("VOXGATE_KEYS", "nocolon-hush", 1);
	CHECK_EQ(load(NULL), EINVAL);
	CHECK(strstr(err, "(from VOXGATE_KEYS)") && !strstr(err, "hush"));
	unsetenv("VOXGATE_KEYS");
	setenv("LIVEKIT_API_KEY", "k", 1);
	CHECK_EQ(load(NULL), EINVAL);
	CHECK_STR(err,
	          "keys: LIVEKIT_API_KEY is set but LIVEKIT_API_SECRET is not");
	/* ...unless a higher source gives the keys. */
	CHECK_EQ(load("--keys", "a: b", NULL), 0);
	unsetenv("LIVEKIT_API_KEY");
	setenv("LIVEKIT_API_SECRET", "s", 1);
	CHECK_EQ(load(NULL), EINVAL);
	CHECK_STR(err,
	          "keys: LIVEKIT_API_SECRET is set but LIVEKIT_API_KEY is not");
	setenv("LIVEKIT_API_KEY", "bad key", 1);
	CHECK_EQ(load(NULL), EINVAL);
	CHECK(strstr(err, "(from LIVEKIT_API_KEY and LIVEKIT_API_SECRET)"));
	env_clear();
	return 0;
}

TEST(list_file_errors)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"keys: [a, b]\n", "keys: expected a mapping of key: secret"},
	    {"keys:\n  a: [1]\n", "keys: line 2: expected key: secret"},
	    {"keys:\n  a: 1\n  a: 2\n", "keys: lists \"a\" twice"},
	    {"keys:\n  a:\n", "keys: has no secret for \"a\""},
	    {"webhook_urls:\n  a: b\n",
	     "webhook_urls: expected a list of URLs"},
	    {"keys: {a: b}\nwebhook_urls:\n  - [x]\n",
	     "webhook_urls: line 3: expected a URL"},
	    {"keys: {a: b}\nwebhook_urls:\n  - ftp://x\n",
	     "webhook_urls: has \"ftp://x\", which is not an http:// or "
	     "https:// URL"},
	};
	char path[32], want[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(tmp_write(path, bad[i].text), 0);
		rc = load("--config", path, NULL);
		unlink(path);
		snprintf(want, sizeof(want), "(from %s line ", path);
		if (rc != EINVAL || strstr(err, bad[i].want) != err ||
		    !strstr(err, want) || strchr(err, '\n'))
			TEST_FAIL("list_file_errors", "case %zu: %d \"%s\"", i,
			          rc, err);
	}
	return 0;
}

TEST(webhooks)
{
	char path[32];
	int rc;

	/* webhook_api_key defaults to the first key. */
	CHECK_EQ(load("--keys", "a: 1, b: 2", "--webhook-urls",
	              "http://h/1,,https://h/2", NULL),
	         0);
	CHECK_EQ(cfg.nwebhook_urls, 2);
	CHECK_STR(cfg.webhook_api_key, "a");
	CHECK_STR(cfg.webhook_urls[1], "https://h/2");
	CHECK_EQ(load("--keys", "a: 1, b: 2", "--webhook-api-key", "b", NULL),
	         0);
	CHECK_STR(cfg.webhook_api_key, "b");
	CHECK_EQ(load("--webhook-urls", "HTTPS://h/", "--keys", "a: 1", NULL),
	         0);
	CHECK_EQ(load("--webhook-urls", "", NULL), 0);
	CHECK_EQ(cfg.nwebhook_urls, 0);

	CHECK_EQ(load("--keys", "a: 1", "--webhook-api-key", "c", NULL),
	         EINVAL);
	CHECK_STR(err, "webhook_api_key: \"c\" is not one of the keys (from "
	               "--webhook-api-key)");
	CHECK_EQ(load("--webhook-urls", "http://h/", NULL), EINVAL);
	CHECK_STR(err, "webhook_urls: webhooks are signed with an API key, "
	               "and keys is empty (from --webhook-urls)");
	CHECK_EQ(tmp_write(path, "webhook_api_key: zz\n"), 0);
	rc = load("--config", path, "--keys", "a: 1", NULL);
	CHECK_EQ(rc, EINVAL);
	CHECK(strstr(err, "\"zz\" is not one of the keys (from /tmp/"));
	unlink(path);

	static const char *const bad[] = {
	    "ftp://h/",   "h/x",        "http://",
	    "https:///x", "http://a b", "http://h,mailto:x",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load("--keys", "a: 1", "--webhook-urls", bad[i], NULL) !=
		        EINVAL ||
		    !strstr(err, "which is not an http:// or https:// URL") ||
		    !strstr(err, "(from --webhook-urls)"))
			TEST_FAIL("webhooks", "\"%s\": \"%s\"", bad[i], err);
	}
	CHECK_EQ(load("--keys", "a: 1", "--webhook-urls",
	              "http://1,http://2,http://3,http://4,http://5,http://6,"
	              "http://7,http://8,http://9",
	              NULL),
	         EINVAL);
	CHECK(strstr(err, "more than 8 URLs"));
	return 0;
}

TEST(new_scalar_keys)
{
	static const struct {
		const char *key, *val;
	} bad[] = {
	    {"http_port", "65536"},
	    {"http_port", "-1"},
	    {"http_port", "x"},
	    {"http_host", "localhost"},
	    {"db", ""},
	    {"default_route", "maybe"},
	    {"default_route", ""},
	    {"empty_timeout", "5 min"},
	    {"empty_timeout", "-1s"},
	};
	char flag[64];
	size_t i;

	CHECK_EQ(load("--http-port=0", "--sip-host=::1", NULL), 0);
	CHECK_EQ(cfg.http_port, 0);
	CHECK_STR(cfg.http_host, "::1");
	CHECK_EQ(load("--default-route=FALSE", NULL), 0);
	CHECK_EQ(cfg.default_route, false);
	CHECK_EQ(load("--default-route=off", NULL), 0);
	CHECK_EQ(cfg.default_route, false);
	CHECK_EQ(load("--default-route=1", NULL), 0);
	CHECK_EQ(cfg.default_route, true);
	CHECK_EQ(load("--empty-timeout=0", NULL), 0);
	CHECK_EQ(cfg.empty_timeout_ms, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(flag, sizeof(flag), "--%s=%s", bad[i].key, bad[i].val);
		if (load(flag, NULL) != EINVAL)
			TEST_FAIL("new_scalar_keys", "%s accepted", flag);
		if (strncmp(err, bad[i].key, strlen(bad[i].key)) != 0 ||
		    !strstr(err, bad[i].val) || !strstr(err, "(from --"))
			TEST_FAIL("new_scalar_keys", "%s: message \"%s\"", flag,
			          err);
	}
	CHECK_EQ(load("--db=", NULL), EINVAL);
	CHECK_STR(err, "db: \"\" is empty (from --db)");
	return 0;
}

/* The speech providers: only those voxgate has are taken, the error names
 * them all; keys never appear in an error; OPENAI_API_KEY is the openai
 * provider's key when none is set, and no other provider's. */
TEST(speech_provider_keys)
{
	const char *prov = NULL, *voice = NULL;

	CHECK_EQ(load(NULL), 0);
	CHECK_STR(cfg.stt_provider, "pocketsphinx");
	CHECK_STR(cfg.tts_provider, "espeak-ng");
	CHECK_STR(cfg.stt_url, "");
	CHECK_STR(config_stt_url(&cfg), "https://api.openai.com/v1");
	CHECK_STR(cfg.tts_url, "");
	CHECK_STR(cfg.stt_model, "");
	CHECK_STR(config_stt_model(&cfg), "whisper-1");
	CHECK(!config_stt_network(&cfg));
	CHECK_STR(cfg.tts_model, "");
	CHECK_EQ(cfg.stt_timeout_ms, 10000);
	CHECK_EQ(cfg.tts_timeout_ms, 5000);
	CHECK_STR(config_tts_voice(&cfg), "en-us+klatt3");

	CHECK_EQ(load("--stt-provider=deepgramm", NULL), EINVAL);
	CHECK_STR(err, "stt_provider: \"deepgramm\" is not a speech to text "
	               "provider voxgate has (pocketsphinx, openai, deepgram, "
	               "openai-realtime) (from --stt-provider)");
	CHECK_EQ(load("--tts-provider=polly", NULL), EINVAL);
	CHECK_STR(err, "tts_provider: \"polly\" is not a text to speech "
	               "provider voxgate has (espeak-ng, flite, openai, "
	               "elevenlabs, cartesia) (from --tts-provider)");
	CHECK_EQ(load("--stt-url=ftp://x", NULL), EINVAL);
	CHECK_EQ(load("--stt-url=wss://", NULL), EINVAL);
	CHECK_EQ(load("--tts-url=ws://a b", NULL), EINVAL);
	/* a WebSocket provider's base as its SDK may take it */
	CHECK_EQ(load("--stt-url=wss://api.deepgram.com", NULL), 0);
	CHECK_STR(cfg.stt_url, "wss://api.deepgram.com");
	CHECK_EQ(load("--tts-timeout=soon", NULL), EINVAL);
	/* what the openai voice is asked for: pcm unless wav is set */
	CHECK_EQ(load(NULL), 0);
	CHECK_STR(cfg.tts_format, "pcm");
	CHECK_EQ(load("--tts-format=wav", NULL), 0);
	CHECK_STR(cfg.tts_format, "wav");
	CHECK_EQ(load("--tts-format=mp3", NULL), EINVAL);
	CHECK_STR(err, "tts_format: \"mp3\" is not pcm or wav (from "
	               "--tts-format)");
	/* a key never shows in an error, even its own */
	{
		static char flag[700];

		snprintf(flag, sizeof(flag), "--stt-api-key=sk-secret%0600d",
		         7);
		CHECK_EQ(load(flag, NULL), EINVAL);
		CHECK(!strncmp(err, "stt_api_key: is too long", 24));
		CHECK(!strstr(err, "sk-secret"));
		flag[2] = 't';
		flag[3] = 't';
		flag[4] = 's';
		CHECK_EQ(load(flag, NULL), EINVAL);
		CHECK(!strstr(err, "sk-secret"));
	}

	CHECK_EQ(setenv("OPENAI_API_KEY", "sk-env", 1), 0);
	CHECK_EQ(load(NULL), 0);
	CHECK_STR(config_stt_api_key(&cfg), "");
	CHECK_STR(config_tts_api_key(&cfg), "");
	config_tts_embedded(&cfg, &prov, &voice);
	CHECK_STR(prov, "espeak-ng");
	CHECK_EQ(load("--stt-provider=openai", "--tts-provider=openai",
	              "--stt-language=en", "--stt-timeout=2s", NULL),
	         0);
	CHECK_STR(config_stt_api_key(&cfg), "sk-env");
	CHECK_STR(config_tts_api_key(&cfg), "sk-env");
	CHECK_STR(config_tts_voice(&cfg), "alloy");
	CHECK_STR(config_tts_url(&cfg), "https://api.openai.com/v1");
	CHECK_STR(config_tts_model(&cfg), "gpt-4o-mini-tts");
	/* brain realtime: its defaults, OpenAI's key when none is set */
	CHECK_STR(config_realtime_api_key(&cfg), "sk-env");
	CHECK_EQ(load("--brain=realtime", "--realtime-api-key=sk-rt",
	              "--realtime-timeout=2s", NULL),
	         0);
	CHECK_STR(cfg.brain, "realtime");
	CHECK_STR(config_realtime_api_key(&cfg), "sk-rt");
	CHECK_STR(cfg.realtime_url, "https://api.openai.com/v1");
	CHECK_STR(cfg.realtime_model, "gpt-realtime-2.1");
	CHECK_STR(cfg.realtime_voice, "alloy");
	CHECK_EQ(cfg.realtime_timeout_ms, 2000);
	CHECK_EQ(load("--brain=realtim", NULL), EINVAL);
	CHECK(strstr(err, "is not echo, script, llm or realtime") != NULL);
	CHECK_EQ(load("--realtime-api-key=sk-secret-123",
	              "--realtime-url=ftp://x", NULL),
	         EINVAL);
	CHECK(!strstr(err, "sk-secret"));
	CHECK_EQ(load("--stt-provider=openai", "--tts-provider=openai",
	              "--stt-language=en", "--stt-timeout=2s", NULL),
	         0);
	CHECK_STR(cfg.stt_language, "en");
	CHECK_EQ(cfg.stt_timeout_ms, 2000);
	/* a failing network voice is stood in for by the embedded one */
	config_tts_embedded(&cfg, &prov, &voice);
	CHECK_STR(prov, "espeak-ng");
	CHECK_STR(voice, "en-us+klatt3");
	CHECK_EQ(load("--stt-provider=openai", "--stt-api-key=sk-set",
	              "--tts-provider=flite", NULL),
	         0);
	CHECK_STR(config_stt_api_key(&cfg), "sk-set");
	CHECK_STR(config_tts_voice(&cfg), "kal");
	config_tts_embedded(&cfg, &prov, &voice);
	CHECK_STR(prov, "flite");
	unsetenv("OPENAI_API_KEY");
	return 0;
}

/* transfer_to: a sip: or sips: URI, or a number, or nothing. */
TEST(transfer_to)
{
	static const char *const good[] = {"sip:desk@example.com",
	                                   "sips:+15550001111@pbx.example.com",
	                                   "+15550001111", "5551*2#"};
	static const char *const bad[] = {
	    "desk@example.com", "sip:",     "+",
	    "sip:a b",          "555-0001", "tel:+1555"};
	char flag[128];

	CHECK_EQ(load(NULL), 0);
	CHECK_STR(cfg.transfer_to, "");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(flag, sizeof(flag), "--transfer_to=%s", good[i]);
		CHECK_EQ(load(flag, NULL), 0);
		CHECK_STR(cfg.transfer_to, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(flag, sizeof(flag), "--transfer_to=%s", bad[i]);
		if (load(flag, NULL) != EINVAL)
			TEST_FAIL("transfer_to", "%s accepted", flag);
		if (strncmp(err, "transfer_to", 11) != 0)
			TEST_FAIL("transfer_to", "%s: message \"%s\"", flag,
			          err);
	}
	return 0;
}

/* The streaming recognisers: each its own public URL, model and key
 * variable, unless set; a key meant for one never goes to another. */
TEST(streaming_stt_defaults)
{
	CHECK_EQ(setenv("OPENAI_API_KEY", "sk-openai-env", 1), 0);
	CHECK_EQ(setenv("DEEPGRAM_API_KEY", "dg-env", 1), 0);
	CHECK_EQ(load("--stt-provider=deepgram", NULL), 0);
	CHECK(config_stt_network(&cfg));
	CHECK_STR(config_stt_url(&cfg), "https://api.deepgram.com");
	CHECK_STR(config_stt_model(&cfg), "nova-3");
	CHECK_STR(config_stt_api_key(&cfg), "dg-env");
	CHECK_EQ(load("--stt-provider=openai-realtime", NULL), 0);
	CHECK(config_stt_network(&cfg));
	CHECK_STR(config_stt_url(&cfg), "https://api.openai.com/v1");
	CHECK_STR(config_stt_model(&cfg), "gpt-4o-transcribe");
	CHECK_STR(config_stt_api_key(&cfg), "sk-openai-env");
	CHECK_EQ(load("--stt-provider=openai", NULL), 0);
	CHECK_STR(config_stt_api_key(&cfg), "sk-openai-env");
	CHECK_STR(config_stt_model(&cfg), "whisper-1");
	CHECK_EQ(load("--stt-provider=deepgram", "--stt-url=http://127.0.0.1:9",
	              "--stt-model=nova-2", "--stt-api-key=dg-set", NULL),
	         0);
	CHECK_STR(config_stt_url(&cfg), "http://127.0.0.1:9");
	CHECK_STR(config_stt_model(&cfg), "nova-2");
	CHECK_STR(config_stt_api_key(&cfg), "dg-set");
	unsetenv("DEEPGRAM_API_KEY");
	CHECK_EQ(load("--stt-provider=deepgram", NULL), 0);
	CHECK_STR(config_stt_api_key(&cfg), "");
	CHECK_EQ(load("--stt-provider=pocketsphinx", NULL), 0);
	CHECK_STR(config_stt_api_key(&cfg), "");
	unsetenv("OPENAI_API_KEY");
	return 0;
}

/* The streaming voices: each with its public URL, a documented model and
 * voice, and its own SDK's key variable, which no other provider takes;
 * what is set wins. */
TEST(streaming_voice_settings)
{
	const char *prov = NULL, *voice = NULL;

	CHECK_EQ(setenv("OPENAI_API_KEY", "sk-openai", 1), 0);
	CHECK_EQ(setenv("ELEVEN_API_KEY", "xi-env", 1), 0);
	CHECK_EQ(setenv("CARTESIA_API_KEY", "cartesia-env", 1), 0);
	CHECK_EQ(load("--tts-provider=elevenlabs", NULL), 0);
	CHECK_STR(config_tts_url(&cfg), "https://api.elevenlabs.io");
	CHECK_STR(config_tts_model(&cfg), "eleven_flash_v2_5");
	CHECK_STR(config_tts_voice(&cfg), "JBFqnCBsd6RMkjVDRZzb");
	CHECK_STR(config_tts_api_key(&cfg), "xi-env");
	config_tts_embedded(&cfg, &prov, &voice);
	CHECK_STR(prov, "espeak-ng");
	CHECK_EQ(load("--tts-provider=cartesia", NULL), 0);
	CHECK_STR(config_tts_url(&cfg), "https://api.cartesia.ai");
	CHECK_STR(config_tts_model(&cfg), "sonic-2");
	CHECK_STR(config_tts_voice(&cfg),
	          "a0e99841-438c-4a64-b679-ae501e7d6091");
	CHECK_STR(config_tts_api_key(&cfg), "cartesia-env");
	CHECK_EQ(load("--tts-provider=cartesia", "--tts-url=http://127.0.0.1:9",
	              "--tts-model=sonic-turbo", "--tts-voice=v1",
	              "--tts-api-key=set", NULL),
	         0);
	CHECK_STR(config_tts_url(&cfg), "http://127.0.0.1:9");
	CHECK_STR(config_tts_model(&cfg), "sonic-turbo");
	CHECK_STR(config_tts_voice(&cfg), "v1");
	CHECK_STR(config_tts_api_key(&cfg), "set");
	unsetenv("CARTESIA_API_KEY");
	CHECK_EQ(load("--tts-provider=cartesia", NULL), 0);
	CHECK_STR(config_tts_api_key(&cfg), "");
	CHECK_EQ(load("--tts-provider=espeak-ng", NULL), 0);
	CHECK_STR(config_tts_api_key(&cfg), "");
	CHECK_STR(config_tts_url(&cfg), "");
	unsetenv("ELEVEN_API_KEY");
	unsetenv("OPENAI_API_KEY");
	return 0;
}

/* The carriers' keys: env names like every other key, and values checked
 * at load. */
TEST(carrier_keys)
{
	static const struct {
		const char *key, *val;
	} bad[] = {
	    {"public_url", "gw.example.com"},
	    {"public_url", "ftp://gw.example.com"},
	    {"public_url", "https://"},
	    {"sip_uri", "gw.example.com:5060"},
	    {"sip_uri", "sip:"},
	    {"sip_uri", "sip:a b"},
	    {"telnyx_public_key", "abc"},
	    /* 31 and 33 bytes */
	    {"telnyx_public_key",
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ=="},
	    {"telnyx_public_key",
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA"},
	    /* 32 bytes, but not strict base64: padding left out, the URL
	     * alphabet */
	    {"telnyx_public_key",
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
	    {"telnyx_public_key",
	     "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
	    {"telnyx_api_url", "api.telnyx.com"},
	};
	char flag[128];
	size_t i;

	CHECK_EQ(load(NULL), 0);
	CHECK_STR(cfg.public_url, "");
	CHECK_STR(cfg.sip_uri, "");
	CHECK_STR(cfg.telnyx_api_url, "https://api.telnyx.com/v2");
	CHECK_STR(cfg.admin_token, "");
	setenv("VOXGATE_TWILIO_AUTH_TOKEN", "12345", 1);
	setenv("VOXGATE_TELNYX_PUBLIC_KEY",
	       "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", 1);
	setenv("VOXGATE_ADMIN_TOKEN", "adm", 1);
	CHECK_EQ(load("--public_url=https://gw.example.com/base",
	              "--sip_uri=sip:gw.example.com:5070;transport=tcp", NULL),
	         0);
	unsetenv("VOXGATE_TWILIO_AUTH_TOKEN");
	unsetenv("VOXGATE_TELNYX_PUBLIC_KEY");
	unsetenv("VOXGATE_ADMIN_TOKEN");
	CHECK_STR(cfg.twilio_auth_token, "12345");
	CHECK_STR(cfg.telnyx_public_key,
	          "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	CHECK_STR(cfg.admin_token, "adm");
	CHECK_STR(cfg.public_url, "https://gw.example.com/base");
	CHECK_STR(cfg.sip_uri, "sip:gw.example.com:5070;transport=tcp");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(flag, sizeof(flag), "--%s=%s", bad[i].key, bad[i].val);
		if (load(flag, NULL) != EINVAL)
			TEST_FAIL("carrier_keys", "%s accepted", flag);
		if (strncmp(err, bad[i].key, strlen(bad[i].key)) != 0)
			TEST_FAIL("carrier_keys", "%s: message \"%s\"", flag,
			          err);
	}
	return 0;
}

/* config_load_keys reads config and keys only: a bad unrelated value does
 * not stop `voxgate token`, an unknown key still does. */
TEST(load_keys_only)
{
	char path[32];
	int rc;

	CHECK_EQ(tmp_write(path, "greeting: /nonexistent.wav\n"
	                         "sip_port: 0\n"
	                         "keys: {k1: s1, k2: s2}\n"),
	         0);
	rc = load("--config", path, NULL);
	CHECK_EQ(rc, EINVAL);
	rc = config_load_keys(&cfg, 2, (char *[]){"--config", path}, &err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.nkeys, 2);
	CHECK_STR(cfg.keys[1].secret, "s2");
	CHECK_EQ(cfg.sip_port, 0);
	setenv("LIVEKIT_API_KEY", "envkey", 1);
	setenv("LIVEKIT_API_SECRET", "envsecret", 1);
	rc = config_load_keys(&cfg, 2, (char *[]){"--config", path}, &err);
	env_clear();
	unlink(path);
	CHECK_EQ(rc, 0);
	CHECK_EQ(cfg.nkeys, 1);
	CHECK_STR(cfg.keys[0].key, "envkey");

	CHECK_EQ(tmp_write(path, "bogus: 1\n"), 0);
	rc = config_load_keys(&cfg, 2, (char *[]){"--config", path}, &err);
	unlink(path);
	CHECK_EQ(rc, EINVAL);
	CHECK(strstr(err, "unknown key \"bogus\""));
	return 0;
}

TEST(keyring)
{
	CHECK_EQ(load("--keys", "a: 1, b: 2, c: 3", NULL), 0);
	CHECK_EQ(cfg.nkeys, 3);
	CHECK_STR(cfg.keys[0].key, "a");
	CHECK_STR(cfg.keys[2].key, "c");
	CHECK_STR(cfg.keys[2].secret, "3");
	CHECK_STR(config_key_secret(&cfg, "b"), "2");
	CHECK(config_key_secret(&cfg, "d") == NULL);
	CHECK(config_key_secret(&cfg, NULL) == NULL);
	return 0;
}

TEST(duration_parse_public)
{
	uint32_t ms = 1;

	CHECK_EQ(config_duration_parse("10m", &ms), 0);
	CHECK_EQ(ms, 600000);
	CHECK_EQ(config_duration_parse("250ms", &ms), 0);
	CHECK_EQ(ms, 250);
	CHECK_EQ(config_duration_parse("10 m", &ms), EINVAL);
	CHECK_EQ(config_duration_parse("", &ms), EINVAL);
	CHECK_EQ(config_duration_parse("1194h", &ms), ERANGE);
	return 0;
}

TEST(bad_arguments)
{
	err = NULL;
	CHECK_EQ(config_load(NULL, 0, NULL, &err), EINVAL);
	CHECK(err && err[0] != '\0');
	err = NULL;
	CHECK_EQ(config_load(&cfg, 1, NULL, &err), EINVAL);
	CHECK(err && err[0] != '\0');
	/* No reason wanted is allowed; the error code still comes. */
	CHECK_EQ(config_load(&cfg, 0, NULL, NULL), 0);
	CHECK_EQ(config_load(&cfg, 1, (char *[]){"--sip-port"}, NULL), EINVAL);
	/* The reason is the config's, and stays with it. */
	CHECK_EQ(load("--sip-port", "0", NULL), EINVAL);
	CHECK(err == cfg.why);
	CHECK_STR(err, "sip_port: \"0\" is not a port number (1-65535) "
	               "(from --sip-port)");
	return 0;
}

int main(void)
{
	env_clear();
	RUN(defaults);
	RUN(file_each_key);
	RUN(env_each_key);
	RUN(flag_each_key);
	RUN(flag_forms);
	RUN(precedence);
	RUN(overridden_bad_value_ignored);
	RUN(error_message_exact);
	RUN(bad_values);
	RUN(bad_value_sources);
	RUN(control_chars_in_message);
	RUN(bad_flags);
	RUN(flags_as_options);
	RUN(help);
	RUN(file_errors);
	RUN(file_unreadable);
	RUN(file_empty_and_dashes);
	RUN(durations);
	RUN(ranges);
	RUN(other_values);
	RUN(keys_precedence);
	RUN(keys_forms);
	RUN(keys_errors);
	RUN(list_file_errors);
	RUN(webhooks);
	RUN(new_scalar_keys);
	RUN(speech_provider_keys);
	RUN(streaming_stt_defaults);
	RUN(streaming_voice_settings);
	RUN(carrier_keys);
	RUN(transfer_to);
	RUN(load_keys_only);
	RUN(keyring);
	RUN(duration_parse_public);
	RUN(bad_arguments);
	TEST_EXIT();
}
