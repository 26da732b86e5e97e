/*
 * The configuration's keys: the table and the parsers of single values.
 *
 * DESIGN
 *
 * One table, config_keys[], lists every setting with its default, its help
 * line and its parser; flags, VOXGATE_<KEY> variables, file keys and --help
 * are all derived from it, so adding a key is one line (and CONFIG_NKEYS in
 * config_int.h one up, which the build checks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/b64.h"
#include "core/config_int.h"
#include "core/prio.h"

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)NULL)->f)

int config_why(struct config *cfg, const char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(cfg->why, sizeof(cfg->why), fmt, ap) < 0)
		cfg->why[0] = '\0';
	va_end(ap);
	*why = cfg->why;
	return EINVAL;
}

static void *field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

/* Reads decimal digits at *sp up to max; no sign, no spaces. Returns
 * EINVAL when there are no digits and ERANGE when the number exceeds max. */
static int num_parse(const char **sp, uint64_t max, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return ERANGE;
	}
	*sp = s;
	*out = v;
	return 0;
}

int config_duration_parse(const char *s, uint32_t *ms)
{
	static const struct {
		const char *unit;
		uint32_t ms;
	} units[] = {
	    {"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000},
	};
	uint64_t v;
	size_t i;
	int err;

	err = num_parse(&s, UINT32_MAX, &v);
	if (err)
		return err;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].unit) != 0)
			continue;
		if (v > UINT32_MAX / units[i].ms)
			return ERANGE;
		*ms = (uint32_t)(v * units[i].ms);
		return 0;
	}
	return EINVAL;
}

static int parse_duration(struct config *cfg, const struct key *k,
                          const char *v, const char **why)
{
	int err = config_duration_parse(v, field(cfg, k));

	if (err == ERANGE)
		*why = "is too long (at most 4294967295ms, about 49 days)";
	else if (err)
		*why = "is not a duration (e.g. 500ms, 15s, 10m, 24h)";
	return err ? EINVAL : 0;
}

static int parse_str(struct config *cfg, const struct key *k, const char *v,
                     const char **why)
{
	size_t n = strlen(v);

	if (n >= k->size)
		return config_why(cfg, why,
		                  "is too long (at most %zu characters)",
		                  k->size - 1);
	memcpy(field(cfg, k), v, n + 1);
	return 0;
}

static int parse_addr(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
{
	struct in6_addr a;

	if (inet_pton(AF_INET, v, &a) != 1 && inet_pton(AF_INET6, v, &a) != 1) {
		*why = "is not an IPv4 or IPv6 address";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

static int parse_addr_opt(struct config *cfg, const struct key *k,
                          const char *v, const char **why)
{
	if (v[0] == '\0')
		return parse_str(cfg, k, v, why);
	return parse_addr(cfg, k, v, why);
}

static int parse_wav_path(struct config *cfg, const struct key *k,
                          const char *v, const char **why)
{
	struct stat st;

	if (v[0] == '\0')
		return parse_str(cfg, k, v, why);
	if (access(v, R_OK) != 0 || stat(v, &st) != 0)
		return config_why(cfg, why, "cannot be read: %s",
		                  strerror(errno));
	/* A directory passes access() but would only fail at the first
	 * call. */
	if (!S_ISREG(st.st_mode)) {
		*why = "is not a regular file";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

static int parse_sip_port(struct config *cfg, const struct key *k,
                          const char *v, const char **why)
{
	uint64_t port;

	(void)k;
	if (num_parse(&v, 65535, &port) != 0 || *v != '\0' || port == 0) {
		*why = "is not a port number (1-65535)";
		return EINVAL;
	}
	cfg->sip_port = (uint16_t)port;
	return 0;
}

static int parse_port(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
{
	uint64_t port;

	if (num_parse(&v, 65535, &port) != 0 || *v != '\0' || port == 0) {
		*why = "is not a port number (1-65535)";
		return EINVAL;
	}
	*(uint16_t *)field(cfg, k) = (uint16_t)port;
	return 0;
}

/* The registrations list, checked whole when the server starts
 * (sip/regclient.h); here only that it is one line of printable text. */
static int parse_line(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
{
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*why = "holds a control character";
			return EINVAL;
		}
	}
	return parse_str(cfg, k, v, why);
}

static int parse_rtp_range(struct config *cfg, const struct key *k,
                           const char *v, const char **why)
{
	uint64_t min, max;
	int err;

	(void)k;
	err = num_parse(&v, 65535, &min);
	if (!err && *v++ != '-')
		err = EINVAL;
	if (!err)
		err = num_parse(&v, 65535, &max);
	if (!err && *v != '\0')
		err = EINVAL;
	if (err == EINVAL) {
		*why = "is not a port range MIN-MAX (e.g. 10000-20000)";
		return EINVAL;
	}
	if (err || min < 1024 || max < 1024) {
		*why = "has a port outside 1024-65535";
		return EINVAL;
	}
	if (min >= max) {
		*why = "needs MIN below MAX";
		return EINVAL;
	}
	/* RTP takes the even port of each pair and RTCP the odd one above. */
	min += min & 1;
	if (min + 1 > max) {
		*why = "holds no even RTP port with its odd RTCP port above it";
		return EINVAL;
	}
	cfg->rtp_port_min = (uint16_t)min;
	cfg->rtp_port_max = (uint16_t)max;
	return 0;
}

/* One jitter bound: a number of milliseconds, "ms" optional. */
static int jitter_part(const char **sp, uint64_t *ms)
{
	int err = num_parse(sp, UINT32_MAX, ms);

	if (!err && strncmp(*sp, "ms", 2) == 0)
		*sp += 2;
	return err;
}

static int parse_jitter(struct config *cfg, const struct key *k, const char *v,
                        const char **why)
{
	uint64_t min, max;
	int err;

	(void)k;
	err = jitter_part(&v, &min);
	max = min;
	if (!err && *v == '-') {
		v++;
		err = jitter_part(&v, &max);
	}
	if (!err && *v != '\0')
		err = EINVAL;
	if (err == EINVAL) {
		*why = "is not MIN-MAX or one value in ms (e.g. 40-60)";
		return EINVAL;
	}
	if (err || max > 1000) {
		*why = "is outside 0-1000 ms";
		return EINVAL;
	}
	if (min > max) {
		*why = "has MIN above MAX";
		return EINVAL;
	}
	cfg->jitter_min_ms = (uint32_t)min;
	cfg->jitter_max_ms = (uint32_t)max;
	return 0;
}

static int parse_log_format(struct config *cfg, const struct key *k,
                            const char *v, const char **why)
{
	(void)k;
	if (log_format_parse(v, &cfg->log_format) != 0) {
		*why = "is not a log format (text or json)";
		return EINVAL;
	}
	return 0;
}

static int parse_log_level(struct config *cfg, const struct key *k,
                           const char *v, const char **why)
{
	(void)k;
	if (log_level_parse(v, &cfg->log_level) != 0) {
		*why = "is not a log level (debug, info, warn or error)";
		return EINVAL;
	}
	return 0;
}

static int parse_media_threads(struct config *cfg, const struct key *k,
                               const char *v, const char **why)
{
	uint64_t n;

	(void)k;
	if (num_parse(&v, 64, &n) != 0 || *v != '\0') {
		*why = "is not a thread count (0-64, 0 = one per CPU)";
		return EINVAL;
	}
	cfg->media_threads = (uint32_t)n;
	return 0;
}

static int parse_call_priority(struct config *cfg, const struct key *k,
                               const char *v, const char **why)
{
	uint64_t n;

	(void)k;
	if (num_parse(&v, PRIO_MAX, &n) != 0 || *v != '\0') {
		*why = "is not a priority (0-99, 0 = normal scheduling)";
		return EINVAL;
	}
	cfg->call_priority = (uint32_t)n;
	return 0;
}

static int parse_http_port(struct config *cfg, const struct key *k,
                           const char *v, const char **why)
{
	uint64_t port;

	(void)k;
	if (num_parse(&v, 65535, &port) != 0 || *v != '\0') {
		*why = "is not a port number (0-65535, 0 = no HTTP API)";
		return EINVAL;
	}
	cfg->http_port = (uint16_t)port;
	return 0;
}

static int parse_path(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
{
	if (v[0] == '\0') {
		*why = "is empty";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

/* A decimal within [lo, hi] into a double field; k->size carries no range,
 * so the key's parser says which. */
static int parse_double_in(struct config *cfg, const struct key *k,
                           const char *v, double lo, double hi,
                           const char **why)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !(d >= lo && d <= hi))
		return config_why(cfg, why, "is not a number from %g to %g", lo,
		                  hi);
	*(double *)field(cfg, k) = d;
	return 0;
}

static int parse_seconds(struct config *cfg, const struct key *k, const char *v,
                         const char **why)
{
	return parse_double_in(cfg, k, v, 0.0, 10.0, why);
}

static int parse_fraction(struct config *cfg, const struct key *k,
                          const char *v, const char **why)
{
	return parse_double_in(cfg, k, v, 0.0, 1.0, why);
}

static int parse_count(struct config *cfg, const struct key *k, const char *v,
                       const char **why)
{
	uint64_t n;

	if (num_parse(&v, 1000, &n) != 0 || *v != '\0') {
		*why = "is not a count (0-1000)";
		return EINVAL;
	}
	*(uint32_t *)field(cfg, k) = (uint32_t)n;
	return 0;
}

/* A count up to 10^9 (uint32_t field). */
static int parse_limit(struct config *cfg, const struct key *k, const char *v,
                       const char **why)
{
	uint64_t n;

	if (num_parse(&v, 1000000000, &n) != 0 || *v != '\0') {
		*why = "is not a number (0-1000000000)";
		return EINVAL;
	}
	*(uint32_t *)field(cfg, k) = (uint32_t)n;
	return 0;
}

static int parse_brain(struct config *cfg, const struct key *k, const char *v,
                       const char **why)
{
	if (*v && strcmp(v, "echo") && strcmp(v, "script") &&
	    strcmp(v, "llm") && strcmp(v, "realtime")) {
		*why = "is not echo, script, llm or realtime";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

/* A name from list (NULL-terminated); the error lists them all. */
static int parse_one_of(struct config *cfg, const struct key *k, const char *v,
                        const char *const *list, const char *why_not,
                        const char **why)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(v, list[i]))
			return parse_str(cfg, k, v, why);
	*why = why_not;
	return EINVAL;
}

static int parse_stt_provider(struct config *cfg, const struct key *k,
                              const char *v, const char **why)
{
	static const char *const names[] = {
	    "pocketsphinx", "openai", "deepgram", "openai-realtime", NULL};

	return parse_one_of(cfg, k, v, names,
	                    "is not a speech to text provider voxgate has "
	                    "(pocketsphinx, openai, deepgram, openai-realtime)",
	                    why);
}

static int parse_tts_provider(struct config *cfg, const struct key *k,
                              const char *v, const char **why)
{
	static const char *const names[] = {"espeak-ng",  "flite",    "openai",
	                                    "elevenlabs", "cartesia", NULL};

	return parse_one_of(cfg, k, v, names,
	                    "is not a text to speech provider voxgate has "
	                    "(espeak-ng, flite, openai, elevenlabs, cartesia)",
	                    why);
}

static int parse_tts_format(struct config *cfg, const struct key *k,
                            const char *v, const char **why)
{
	static const char *const names[] = {"pcm", "wav", NULL};

	return parse_one_of(cfg, k, v, names, "is not pcm or wav", why);
}

static int parse_bool(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	bool *b = field(cfg, k);
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	*why = "is not true or false";
	return EINVAL;
}

static int parse_twilio_answer(struct config *cfg, const struct key *k,
                               const char *v, const char **why)
{
	if (strcmp(v, "dial") && strcmp(v, "stream")) {
		*why = "is not dial or stream";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

/* An http(s) URL with a host: what carriers call. */
static int parse_http_url(struct config *cfg, const struct key *k,
                          const char *v, const char **why)
{
	size_t n = strlen(v), scheme = 0;

	if (n >= 7 && strncasecmp(v, "http://", 7) == 0)
		scheme = 7;
	else if (n >= 8 && strncasecmp(v, "https://", 8) == 0)
		scheme = 8;
	if (n && (scheme == 0 || n == scheme || v[scheme] == '/' ||
	          config_has_ctl_or_space(v, n))) {
		*why = "is not an http:// or https:// URL";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

/* A speech provider's base URL: http(s), or ws(s) as some of their SDKs
 * take it for a WebSocket endpoint (a provider spoken to over HTTP then
 * refuses it when the worker starts). */
static int parse_provider_url(struct config *cfg, const struct key *k,
                              const char *v, const char **why)
{
	if (!strncasecmp(v, "ws://", 5) || !strncasecmp(v, "wss://", 6)) {
		size_t n = strlen(v), scheme = v[2] == ':' ? 5 : 6;

		if (n == scheme || v[scheme] == '/' ||
		    config_has_ctl_or_space(v, n)) {
			*why =
			    "is not an http://, https://, ws:// or wss:// URL";
			return EINVAL;
		}
		return parse_str(cfg, k, v, why);
	}
	return parse_http_url(cfg, k, v, why);
}

/* Where the LLM brain's transfer_call sends the caller: a sip: or sips:
 * URI, or a number (digits, an optional leading +, * and # as a keypad
 * has them); "" = none. */
static int parse_transfer_to(struct config *cfg, const struct key *k,
                             const char *v, const char **why)
{
	size_t n = strlen(v), i = v[0] == '+';

	if (n && (!strncasecmp(v, "sip:", 4) || !strncasecmp(v, "sips:", 5))) {
		if (n <= 5 || config_has_ctl_or_space(v, n)) {
			*why = "is not a sip: or sips: URI";
			return EINVAL;
		}
		return parse_str(cfg, k, v, why);
	}
	if (n && i == n)
		i = 0; /* a lone + is no number */
	for (; n && i < n; i++) {
		if (!strchr("0123456789*#", v[i])) {
			*why = "is neither a sip: or sips: URI nor a number";
			return EINVAL;
		}
	}
	return parse_str(cfg, k, v, why);
}

/* A SIP URI carriers can dial: sip: or sips: and a host. */
static int parse_sip_uri(struct config *cfg, const struct key *k, const char *v,
                         const char **why)
{
	size_t n = strlen(v);

	if (n && ((strncasecmp(v, "sip:", 4) && strncasecmp(v, "sips:", 5)) ||
	          n <= 5 || config_has_ctl_or_space(v, n))) {
		*why = "is not a sip: or sips: URI";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

/* Base64 of a 32-byte Ed25519 public key, as Telnyx's portal shows it. */
static int parse_ed25519_key(struct config *cfg, const struct key *k,
                             const char *v, const char **why)
{
	uint8_t raw[32];
	size_t len;

	if (v[0] && (b64_decode(v, strlen(v), B64_PAD_REQUIRED, raw,
	                        sizeof(raw), &len) ||
	             len != sizeof(raw))) {
		*why = "is not the base64 of a 32-byte Ed25519 public key";
		return EINVAL;
	}
	return parse_str(cfg, k, v, why);
}

const struct key config_keys[] = {
    {"config", "", "YAML file of key: value settings", parse_str,
     FIELD(config_file)},
    {"sip_host", "0.0.0.0", "IPv4 or IPv6 address SIP listens on", parse_addr,
     FIELD(sip_host)},
    {"sip_port", "5060", "SIP port, UDP and TCP (1-65535)", parse_sip_port},
    {"rtp_port_range", "10000-20000", "RTP ports MIN-MAX (1024-65535)",
     parse_rtp_range},
    {"external_ip", "", "address put in SDP; empty = from sip_host",
     parse_addr_opt, FIELD(external_ip)},
    {"sip_tls_cert", "",
     "PEM certificate chain for SIP over TLS (with the key, or see "
     "sip_tls_key); empty = no TLS",
     parse_str, FIELD(sip_tls_cert)},
    {"sip_tls_key", "", "PEM private key of sip_tls_cert; empty = in that file",
     parse_str, FIELD(sip_tls_key)},
    {"sip_tls_port", "5061", "SIP over TLS port, when sip_tls_cert is set",
     parse_port, FIELD(sip_tls_port)},
    {"registrations", "",
     "register with registrars: outbound trunk ids (ST_...) and "
     "sip:user@host[:port][;transport=udp|tcp|tls][;expires=N], "
     "comma-separated",
     parse_line, FIELD(registrations)},
    {"registration_password", "",
     "digest password of the sip: registrations (user: the number)", parse_str,
     FIELD(registration_password), NULL, true},
    {"media_timeout", "15s", "hang up after this long without RTP",
     parse_duration, FIELD(media_timeout_ms)},
    {"max_call_duration", "24h", "hang up calls that last longer",
     parse_duration, FIELD(max_call_duration_ms)},
    {"jitter_buffer", "0-100",
     "jitter buffer delay MIN-MAX in ms (0-1000); adapts within it",
     parse_jitter},
    {"log_format", "text", "text or json", parse_log_format},
    {"log_level", "info", "debug, info, warn or error", parse_log_level},
    {"greeting", "", "WAV file played on answer; empty = none", parse_wav_path,
     FIELD(greeting)},
    {"pin_prompt", "",
     "WAV asking for a dispatch rule's PIN; empty = two beeps", parse_wav_path,
     FIELD(pin_prompt)},
    {"pin_wrong", "",
     "WAV played before hanging up on a wrong PIN; empty = the three-tone "
     "error signal",
     parse_wav_path, FIELD(pin_wrong)},
    {"pin_timeout", "30s", "hang up when the PIN is not entered by then",
     parse_duration, FIELD(pin_timeout_ms)},
    {"pin_max_tries", "5",
     "wrong PINs one source address may key in within pin_tries_window; "
     "then its calls to PIN rules get 403 (0-1000, 0 = no limit)",
     parse_count, FIELD(pin_max_tries)},
    {"pin_tries_window", "10m",
     "the window of pin_max_tries, from the first wrong PIN", parse_duration,
     FIELD(pin_tries_window_ms)},
    {"agent", "pipeline",
     "agent that talks on each call whose room has no LiveKit agent: "
     "pipeline (VAD, STT, brain, TTS in agent workers), audio-echo (says "
     "back what it hears) or none (answered, nobody talks)",
     parse_str, FIELD(agent)},
    {"answer_delay", "0", "ring this long before answering", parse_duration,
     FIELD(answer_delay_ms)},
    {"drain_timeout", "30s", "on SIGTERM, wait this long for calls",
     parse_duration, FIELD(drain_timeout_ms)},
    {"media_threads", "0", "media threads (0-64); 0 = one per CPU",
     parse_media_threads},
    {"call_priority", "0",
     "SCHED_FIFO priority of the media threads and the signalling and "
     "worker loops (1-99), so busy neighbours cannot delay them; 0 = "
     "normal scheduling",
     parse_call_priority},
    {"keys", "", "API key: secret pairs (\"k1: s1, k2: s2\")",
     config_parse_keys, 0, 0, config_parse_keys_node, true},
    {"http_host", "", "address the HTTP API listens on; empty = sip_host",
     parse_addr_opt, FIELD(http_host)},
    {"http_port", "7880", "HTTP API port (Twirp); 0 = no HTTP API",
     parse_http_port},
    {"max_open_files", "65536",
     "file descriptors the server may hold (RLIMIT_NOFILE is raised to it, "
     "within the hard limit)",
     parse_limit, FIELD(max_open_files)},
    {"max_connections", "0",
     "TCP connections open at once (SIP/TCP, HTTP, WebSockets); further "
     "ones are closed on accept; 0 = half the file descriptors",
     parse_limit, FIELD(max_connections)},
    {"max_connections_per_address", "256",
     "TCP connections open at once from one IPv4 address or IPv6 /64",
     parse_limit, FIELD(max_conns_per_addr)},
    {"connection_silent_timeout", "5s",
     "close an accepted TCP connection that has sent nothing by then; 0 = "
     "never",
     parse_duration, FIELD(silent_timeout_ms)},
    {"db", "voxgate.db", "SQLite file for trunks, rules and call records",
     parse_path, FIELD(db)},
    {"webhook_urls", "", "webhook receivers, comma-separated http(s) URLs",
     config_parse_urls, 0, 0, config_parse_urls_node, true},
    {"webhook_api_key", "", "API key that signs webhooks; empty = the first",
     parse_str, FIELD(webhook_api_key)},
    {"default_route", "true",
     "no dispatch rule: put the call in a room anyway (turn off in "
     "production)",
     parse_bool, FIELD(default_route)},
    {"empty_timeout", "5m", "a room nobody has joined closes after this long",
     parse_duration, FIELD(empty_timeout_ms)},
    {"departure_timeout", "20s",
     "a room closes this long after its last participant left", parse_duration,
     FIELD(departure_timeout_ms)},
    {"history_days", "30",
     "call records and finished rooms are deleted this many days after "
     "their last change; 0 = kept for ever",
     parse_limit, FIELD(history_days)},
    {"history_max_rows", "100000",
     "at most this many call records and finished rooms are kept (each), "
     "the oldest deleted first; 0 = no limit",
     parse_limit, FIELD(history_max_rows)},
    {"vad_start_secs", "0.2",
     "seconds of voice before the caller counts as speaking (barge-in)",
     parse_seconds, FIELD(vad_start_secs)},
    {"vad_stop_secs", "0.25", "seconds of silence that end the caller's turn",
     parse_seconds, FIELD(vad_stop_secs)},
    {"vad_min_volume", "0.6", "loudness a voiced frame needs (0-1)",
     parse_fraction, FIELD(vad_min_volume)},
    {"vad_confidence", "0.7", "speech likelihood a voiced frame needs (0-1)",
     parse_fraction, FIELD(vad_confidence)},
    {"agent_workers", "2", "agent worker processes the server starts",
     parse_count, FIELD(agent_workers)},
    {"agent_capacity", "0",
     "calls each of those workers takes at once (0: the worker's default "
     "for its speech engines, 1 with pocketsphinx)",
     parse_count, FIELD(agent_capacity)},
    {"agent_engine_threads", "0",
     "threads a worker runs its speech engines on (0: one per CPU)",
     parse_count, FIELD(agent_engine_threads)},
    {"agent_queue", "8", "calls that may wait for a free worker", parse_count,
     FIELD(agent_queue)},
    {"agent_queue_timeout", "30s", "how long a call waits for a worker",
     parse_duration, FIELD(agent_queue_timeout_ms)},
    {"agent_dispatch_timeout", "5s",
     "how long a worker has to take a call offered to it", parse_duration,
     FIELD(agent_dispatch_timeout_ms)},
    {"agent_busy_message",
     "Sorry, all our agents are busy. Please call again later.",
     "what a caller hears when no worker takes the call", parse_str,
     FIELD(agent_busy_message)},
    {"agent_server", "", "voxgate agent: the server's ws://host:port/agent",
     parse_str, FIELD(agent_server)},
    {"agent_token", "", "voxgate agent: access token with the agent grant",
     parse_str, FIELD(agent_token)},
    {"brain", "",
     "echo, script, llm or realtime (OpenAI's Realtime model, speech to "
     "speech); empty = llm when llm_base_url is set, else echo",
     parse_brain, FIELD(brain)},
    {"greeting_text", "Hello! Say something, and I will say it back.",
     "what the agent says when the call starts; empty = nothing", parse_str,
     FIELD(greeting_text)},
    {"script", "", "the scripted dialog (brain script)", parse_wav_path,
     FIELD(script)},
    {"llm_base_url", "", "OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1",
     parse_str, FIELD(llm_base_url)},
    {"llm_api_key", "", "its API key; empty = none", parse_str,
     FIELD(llm_api_key)},
    {"llm_model", "gpt-4o-mini", "the model asked for", parse_str,
     FIELD(llm_model)},
    {"system_prompt",
     "You are a friendly voice assistant on a phone call. Answer in one or "
     "two short sentences, without lists or markup.",
     "the LLM's instructions", parse_str, FIELD(system_prompt)},
    {"transfer_to", "",
     "where the LLM brain's transfer_call tool sends the caller: a sip: "
     "URI or a number; empty = the tool is not offered",
     parse_transfer_to, FIELD(transfer_to)},
    {"preemptive_generation", "true",
     "brain llm: ask the LLM as soon as the turn's transcript is in, before "
     "the stop window ends; its reply is said only at the end of the turn",
     parse_bool, FIELD(preemptive_generation)},
    {"realtime_url", "https://api.openai.com/v1",
     "brain realtime: the Realtime API's base URL (ws/wss derived)",
     parse_provider_url, FIELD(realtime_url)},
    {"realtime_api_key", "", "its API key; empty = OPENAI_API_KEY", parse_str,
     FIELD(realtime_api_key), NULL, true},
    {"realtime_model", "gpt-realtime-2.1", "the Realtime model asked for",
     parse_str, FIELD(realtime_model)},
    {"realtime_voice", "alloy", "the Realtime model's voice", parse_str,
     FIELD(realtime_voice)},
    {"realtime_timeout", "5s",
     "longest wait for the Realtime model: its socket, then the first audio "
     "of a reply, then each next",
     parse_duration, FIELD(realtime_timeout_ms)},
    {"tts_provider", "espeak-ng",
     "text to speech: espeak-ng, flite, openai (OpenAI-compatible "
     "/audio/speech), elevenlabs or cartesia (their WebSockets)",
     parse_tts_provider, FIELD(tts_provider)},
    {"tts_voice", "",
     "the TTS voice; empty = the provider's default (en-us+klatt3, kal, "
     "alloy, ElevenLabs' George, Cartesia's Barbershop Man)",
     parse_str, FIELD(tts_voice)},
    {"tts_rate_wpm", "175", "speaking rate in words per minute", parse_count,
     FIELD(tts_rate_wpm)},
    {"tts_url", "",
     "the network TTS provider's base URL; empty = its public one "
     "(https://api.openai.com/v1, https://api.elevenlabs.io, "
     "https://api.cartesia.ai)",
     parse_provider_url, FIELD(tts_url)},
    {"tts_api_key", "",
     "its API key; empty = OPENAI_API_KEY, ELEVEN_API_KEY or "
     "CARTESIA_API_KEY for its provider, else none",
     parse_str, FIELD(tts_api_key), NULL, true},
    {"tts_model", "",
     "the TTS model asked for; empty = the provider's (gpt-4o-mini-tts, "
     "eleven_flash_v2_5, sonic-2)",
     parse_str, FIELD(tts_model)},
    {"tts_timeout", "5s",
     "longest wait for a network TTS provider's audio: the first chunk, "
     "then each next",
     parse_duration, FIELD(tts_timeout_ms)},
    {"tts_format", "pcm",
     "what the openai TTS provider is asked for: pcm (16-bit mono at 24 "
     "kHz, OpenAI's) or wav (at the rate its header says: Piper servers' "
     "16 or 22.05 kHz)",
     parse_tts_format, FIELD(tts_format)},
    {"stt_provider", "pocketsphinx",
     "speech to text: pocketsphinx, openai (OpenAI-compatible "
     "/audio/transcriptions), deepgram (live /v1/listen) or "
     "openai-realtime (Realtime transcription)",
     parse_stt_provider, FIELD(stt_provider)},
    {"stt_url", "",
     "the network STT provider's base URL; empty = its public one "
     "(https://api.deepgram.com, https://api.openai.com/v1)",
     parse_provider_url, FIELD(stt_url)},
    {"stt_api_key", "",
     "its API key; empty = DEEPGRAM_API_KEY for deepgram, OPENAI_API_KEY "
     "for openai and openai-realtime",
     parse_str, FIELD(stt_api_key), NULL, true},
    {"stt_model", "",
     "the STT model asked for; empty = the provider's (whisper-1, nova-3, "
     "gpt-4o-transcribe)",
     parse_str, FIELD(stt_model)},
    {"stt_language", "",
     "the caller's language (ISO 639-1, e.g. en); empty = the provider "
     "guesses",
     parse_str, FIELD(stt_language)},
    {"stt_timeout", "10s",
     "longest wait for a network STT provider's transcript after the end "
     "of the turn",
     parse_duration, FIELD(stt_timeout_ms)},
    {"stt_hmm", "", "acoustic model directory; empty = Debian's en-us",
     parse_str, FIELD(stt_hmm)},
    {"stt_lm", "", "language model; empty = Debian's en-us", parse_str,
     FIELD(stt_lm)},
    {"stt_dict", "", "pronunciation dictionary; empty = Debian's en-us",
     parse_str, FIELD(stt_dict)},
    {"public_url", "",
     "the HTTP API's URL as carriers call it (Twilio signs it); empty = "
     "http:// and the request's Host header",
     parse_http_url, FIELD(public_url)},
    {"sip_uri", "",
     "the SIP URI carriers send calls to; empty = sip:external_ip:sip_port",
     parse_sip_uri, FIELD(sip_uri)},
    {"twilio_auth_token", "",
     "Twilio auth token: checks X-Twilio-Signature; empty = Twilio's "
     "webhooks are refused",
     parse_str, FIELD(twilio_auth_token)},
    {"twilio_answer", "dial",
     "what /voice answers: dial (<Dial><Sip> to sip_uri) or stream "
     "(<Connect><Stream> to our Media Streams WebSocket; needs an https "
     "public_url)",
     parse_twilio_answer, FIELD(twilio_answer)},
    {"telnyx_stream_token", "",
     "the stream_auth_token Telnyx media streams must present; empty = "
     "they are refused",
     parse_str, FIELD(telnyx_stream_token)},
    {"telnyx_api_key", "", "Telnyx API v2 key for Call Control commands",
     parse_str, FIELD(telnyx_api_key)},
    {"telnyx_public_key", "",
     "Telnyx public key (base64) that signs its webhooks; empty = they are "
     "refused",
     parse_ed25519_key, FIELD(telnyx_public_key)},
    {"telnyx_api_url", "https://api.telnyx.com/v2",
     "Telnyx API base URL (Call Control commands)", parse_http_url,
     FIELD(telnyx_api_url)},
    {"admin_token", "",
     "bearer token for /api/admin/*; empty = those endpoints are off",
     parse_str, FIELD(admin_token)},
};

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) == CONFIG_NKEYS,
               "CONFIG_NKEYS must be the number of config_keys");

void config_print_help(FILE *out)
{
	size_t i;

	fprintf(out,
	        "usage: voxgate serve [--config FILE] [--key value ...]\n"
	        "\n"
	        "  %-20s %-12s %s\n",
	        "key", "default", "meaning");
	for (i = 0; i < CONFIG_NKEYS; i++) {
		fprintf(out, "  --%-18s %-12s %s\n", config_keys[i].name,
		        config_keys[i].def[0] != '\0' ? config_keys[i].def
		                                      : "\"\"",
		        config_keys[i].help);
	}
	fputs("\n"
	      "Flags take --key value or --key=value; dashes and underscores\n"
	      "are interchangeable. Each key can also be set as VOXGATE_<KEY>\n"
	      "in the environment (e.g. VOXGATE_SIP_PORT=5080) and, except\n"
	      "config, as a \"key: value\" line in the config file. A flag\n"
	      "beats the environment, which beats the file, which beats the\n"
	      "default. Durations take ms, s, m or h (500ms, 15s, 10m, 24h);\n"
	      "a bare number is seconds.\n"
	      "\n"
	      "keys also come from LiveKit's LIVEKIT_KEYS (same form), or\n"
	      "LIVEKIT_API_KEY with LIVEKIT_API_SECRET, below VOXGATE_KEYS.\n"
	      "In the file, keys may be a mapping (keys: {devkey: secret})\n"
	      "and webhook_urls a list. Pairs are separated by commas or\n"
	      "newlines, so a secret cannot hold either there.\n",
	      out);
}
