/*
 * Configuration from defaults, a YAML file, the environment and flags.
 *
 * DESIGN
 *
 * One table, keys[], lists every setting with its default, its help line and
 * its parser; flags, VOXGATE_<KEY> variables, file keys and --help are all
 * derived from it, so adding a key is one line.
 *
 * Loading first collects, for each key, the raw string that wins (flag over
 * environment over file over default) and remembers where it came from.
 * Only then is each winner parsed, once, so an error names the source that
 * actually supplied the bad value and a value overridden by a higher source
 * cannot fail the load.
 *
 * Two keys hold lists: keys (API key: secret pairs) and webhook_urls. Their
 * raw value is a comma-separated string, or in the file also a YAML mapping
 * (keys, as LiveKit's config file) or sequence (webhook_urls), kept as the
 * node and parsed by the key's parse_node. Their errors name the offending
 * item rather than quoting the value, which for keys holds secrets.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/config.h"

/* Far above any real config; stops a path like /dev/zero eating memory. */
#define CONFIG_FILE_MAX (1024 * 1024)

struct key;

/* Parses v into cfg. On failure returns EINVAL and writes the problem, as
 * it reads after the quoted value, into why. */
typedef int(config_parse_h)(struct config *cfg, const struct key *k,
                            const char *v, char *why, size_t whysz);

/* Parses a non-scalar YAML value (a list key's mapping or sequence). */
typedef int(config_parse_node_h)(struct config *cfg, yaml_document_t *doc,
                                 yaml_node_t *node, char *why, size_t whysz);

struct key {
	const char *name;
	const char *def;
	const char *help;
	config_parse_h *parse;
	/* The field a generic parser writes; key-specific parsers name their
	 * fields themselves and leave these 0. */
	size_t off;
	size_t size;
	config_parse_node_h *parse_node; /* NULL: scalars only */
	bool no_echo; /* errors do not quote the value (secrets, lists) */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)NULL)->f)

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
                          const char *v, char *why, size_t whysz)
{
	int err = config_duration_parse(v, field(cfg, k));

	if (err == ERANGE)
		snprintf(why, whysz,
		         "is too long (at most 4294967295ms, about 49 days)");
	else if (err)
		snprintf(why, whysz,
		         "is not a duration (e.g. 500ms, 15s, 10m, 24h)");
	return err ? EINVAL : 0;
}

static int parse_str(struct config *cfg, const struct key *k, const char *v,
                     char *why, size_t whysz)
{
	size_t n = strlen(v);

	if (n >= k->size) {
		snprintf(why, whysz, "is too long (at most %zu characters)",
		         k->size - 1);
		return EINVAL;
	}
	memcpy(field(cfg, k), v, n + 1);
	return 0;
}

static int parse_addr(struct config *cfg, const struct key *k, const char *v,
                      char *why, size_t whysz)
{
	struct in6_addr a;

	if (inet_pton(AF_INET, v, &a) != 1 && inet_pton(AF_INET6, v, &a) != 1) {
		snprintf(why, whysz, "is not an IPv4 or IPv6 address");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

static int parse_addr_opt(struct config *cfg, const struct key *k,
                          const char *v, char *why, size_t whysz)
{
	if (v[0] == '\0')
		return parse_str(cfg, k, v, why, whysz);
	return parse_addr(cfg, k, v, why, whysz);
}

static int parse_wav_path(struct config *cfg, const struct key *k,
                          const char *v, char *why, size_t whysz)
{
	struct stat st;

	if (v[0] == '\0')
		return parse_str(cfg, k, v, why, whysz);
	if (access(v, R_OK) != 0 || stat(v, &st) != 0) {
		snprintf(why, whysz, "cannot be read: %s", strerror(errno));
		return EINVAL;
	}
	/* A directory passes access() but would only fail at the first
	 * call. */
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "is not a regular file");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

static int parse_sip_port(struct config *cfg, const struct key *k,
                          const char *v, char *why, size_t whysz)
{
	uint64_t port;

	(void)k;
	if (num_parse(&v, 65535, &port) != 0 || *v != '\0' || port == 0) {
		snprintf(why, whysz, "is not a port number (1-65535)");
		return EINVAL;
	}
	cfg->sip_port = (uint16_t)port;
	return 0;
}

static int parse_rtp_range(struct config *cfg, const struct key *k,
                           const char *v, char *why, size_t whysz)
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
		snprintf(why, whysz,
		         "is not a port range MIN-MAX (e.g. 10000-20000)");
		return EINVAL;
	}
	if (err || min < 1024 || max < 1024) {
		snprintf(why, whysz, "has a port outside 1024-65535");
		return EINVAL;
	}
	if (min >= max) {
		snprintf(why, whysz, "needs MIN below MAX");
		return EINVAL;
	}
	/* RTP takes the even port of each pair and RTCP the odd one above. */
	min += min & 1;
	if (min + 1 > max) {
		snprintf(
		    why, whysz,
		    "holds no even RTP port with its odd RTCP port above it");
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
                        char *why, size_t whysz)
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
		snprintf(why, whysz,
		         "is not MIN-MAX or one value in ms (e.g. 40-60)");
		return EINVAL;
	}
	if (err || max > 1000) {
		snprintf(why, whysz, "is outside 0-1000 ms");
		return EINVAL;
	}
	if (min > max) {
		snprintf(why, whysz, "has MIN above MAX");
		return EINVAL;
	}
	cfg->jitter_min_ms = (uint32_t)min;
	cfg->jitter_max_ms = (uint32_t)max;
	return 0;
}

static int parse_log_format(struct config *cfg, const struct key *k,
                            const char *v, char *why, size_t whysz)
{
	(void)k;
	if (log_format_parse(v, &cfg->log_format) != 0) {
		snprintf(why, whysz, "is not a log format (text or json)");
		return EINVAL;
	}
	return 0;
}

static int parse_log_level(struct config *cfg, const struct key *k,
                           const char *v, char *why, size_t whysz)
{
	(void)k;
	if (log_level_parse(v, &cfg->log_level) != 0) {
		snprintf(why, whysz,
		         "is not a log level (debug, info, warn or error)");
		return EINVAL;
	}
	return 0;
}

static int parse_media_threads(struct config *cfg, const struct key *k,
                               const char *v, char *why, size_t whysz)
{
	uint64_t n;

	(void)k;
	if (num_parse(&v, 64, &n) != 0 || *v != '\0') {
		snprintf(why, whysz,
		         "is not a thread count (0-64, 0 = one per CPU)");
		return EINVAL;
	}
	cfg->media_threads = (uint32_t)n;
	return 0;
}

static int parse_http_port(struct config *cfg, const struct key *k,
                           const char *v, char *why, size_t whysz)
{
	uint64_t port;

	(void)k;
	if (num_parse(&v, 65535, &port) != 0 || *v != '\0') {
		snprintf(why, whysz,
		         "is not a port number (0-65535, 0 = no HTTP API)");
		return EINVAL;
	}
	cfg->http_port = (uint16_t)port;
	return 0;
}

static int parse_path(struct config *cfg, const struct key *k, const char *v,
                      char *why, size_t whysz)
{
	if (v[0] == '\0') {
		snprintf(why, whysz, "is empty");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

/* A decimal within [lo, hi] into a double field; k->size carries no range,
 * so the key's parser says which. */
static int parse_double_in(struct config *cfg, const struct key *k,
                           const char *v, double lo, double hi, char *why,
                           size_t whysz)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !(d >= lo && d <= hi)) {
		snprintf(why, whysz, "is not a number from %g to %g", lo, hi);
		return EINVAL;
	}
	*(double *)field(cfg, k) = d;
	return 0;
}

static int parse_seconds(struct config *cfg, const struct key *k, const char *v,
                         char *why, size_t whysz)
{
	return parse_double_in(cfg, k, v, 0.0, 10.0, why, whysz);
}

static int parse_fraction(struct config *cfg, const struct key *k,
                          const char *v, char *why, size_t whysz)
{
	return parse_double_in(cfg, k, v, 0.0, 1.0, why, whysz);
}

static int parse_count(struct config *cfg, const struct key *k, const char *v,
                       char *why, size_t whysz)
{
	uint64_t n;

	if (num_parse(&v, 1000, &n) != 0 || *v != '\0') {
		snprintf(why, whysz, "is not a count (0-1000)");
		return EINVAL;
	}
	*(uint32_t *)field(cfg, k) = (uint32_t)n;
	return 0;
}

/* A count up to 10^9 (uint32_t field). */
static int parse_limit(struct config *cfg, const struct key *k, const char *v,
                       char *why, size_t whysz)
{
	uint64_t n;

	if (num_parse(&v, 1000000000, &n) != 0 || *v != '\0') {
		snprintf(why, whysz, "is not a number (0-1000000000)");
		return EINVAL;
	}
	*(uint32_t *)field(cfg, k) = (uint32_t)n;
	return 0;
}

static int parse_brain(struct config *cfg, const struct key *k, const char *v,
                       char *why, size_t whysz)
{
	if (*v && strcmp(v, "echo") && strcmp(v, "script") &&
	    strcmp(v, "llm")) {
		snprintf(why, whysz, "is not echo, script or llm");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

static int parse_bool(struct config *cfg, const struct key *k, const char *v,
                      char *why, size_t whysz)
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
	snprintf(why, whysz, "is not true or false");
	return EINVAL;
}

/* Trims spaces around s[0..*n). */
static const char *trim_space(const char *s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)s[*n - 1]))
		(*n)--;
	return s;
}

/* Trims spaces and then one pair of matching quotes. */
static const char *trim(const char *s, size_t *n)
{
	s = trim_space(s, n);
	if (*n >= 2 && (s[0] == '"' || s[0] == '\'') && s[*n - 1] == s[0]) {
		s++;
		*n -= 2;
	}
	return s;
}

static bool has_ctl_or_space(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return true;
	}
	return false;
}

static bool has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	}
	return false;
}

/* Adds one pair; the messages never show the secret. */
static int key_add(struct config *cfg, const char *key, size_t klen,
                   const char *secret, size_t slen, char *why, size_t whysz)
{
	struct config_key *ck;
	size_t i;

	if (klen == 0) {
		snprintf(why, whysz, "has an empty API key");
		return EINVAL;
	}
	if (klen >= sizeof(ck->key)) {
		snprintf(why, whysz,
		         "has an API key longer than %zu characters",
		         sizeof(ck->key) - 1);
		return EINVAL;
	}
	if (has_ctl_or_space(key, klen) || memchr(key, ':', klen) ||
	    memchr(key, ',', klen)) {
		snprintf(why, whysz,
		         "has an API key with a space, ':', ',' or a control "
		         "character");
		return EINVAL;
	}
	if (slen == 0) {
		snprintf(why, whysz, "has no secret for \"%.*s\"", (int)klen,
		         key);
		return EINVAL;
	}
	if (slen >= sizeof(ck->secret) || has_ctl(secret, slen)) {
		snprintf(why, whysz,
		         "has a secret for \"%.*s\" that is longer than %zu "
		         "characters or holds a control character",
		         (int)klen, key, sizeof(ck->secret) - 1);
		return EINVAL;
	}
	for (i = 0; i < cfg->nkeys; i++) {
		if (strlen(cfg->keys[i].key) == klen &&
		    memcmp(cfg->keys[i].key, key, klen) == 0) {
			snprintf(why, whysz, "lists \"%.*s\" twice", (int)klen,
			         key);
			return EINVAL;
		}
	}
	if (cfg->nkeys == CONFIG_KEYS_MAX) {
		snprintf(why, whysz, "has more than %d pairs", CONFIG_KEYS_MAX);
		return EINVAL;
	}
	ck = &cfg->keys[cfg->nkeys++];
	memcpy(ck->key, key, klen);
	ck->key[klen] = '\0';
	memcpy(ck->secret, secret, slen);
	ck->secret[slen] = '\0';
	return 0;
}

/* "key1: secret1, key2: secret2": pairs separated by commas or newlines,
 * so LiveKit's "key: secret" lines read too; braces around are allowed. */
static int parse_keys(struct config *cfg, const struct key *k, const char *v,
                      char *why, size_t whysz)
{
	size_t n = strlen(v), item = 0;
	const char *end;
	int err;

	(void)k;
	cfg->nkeys = 0;
	v = trim_space(v, &n);
	if (n >= 2 && v[0] == '{' && v[n - 1] == '}') {
		v++;
		n -= 2;
	}
	end = v + n;
	while (v < end) {
		const char *sep = v, *colon, *entry, *key, *secret;
		size_t len, klen, slen;

		while (sep < end && *sep != ',' && *sep != '\n')
			sep++;
		len = (size_t)(sep - v);
		entry = trim_space(v, &len);
		v = sep + 1;
		if (len == 0)
			continue;
		item++;
		colon = memchr(entry, ':', len);
		if (!colon) {
			snprintf(why, whysz,
			         "entry %zu is not \"key: secret\" (e.g. "
			         "\"devkey: secret, key2: secret2\")",
			         item);
			return EINVAL;
		}
		klen = (size_t)(colon - entry);
		slen = (size_t)(entry + len - (colon + 1));
		key = trim(entry, &klen);
		secret = trim(colon + 1, &slen);
		err = key_add(cfg, key, klen, secret, slen, why, whysz);
		if (err)
			return err;
	}
	return 0;
}

static int parse_keys_node(struct config *cfg, yaml_document_t *doc,
                           yaml_node_t *node, char *why, size_t whysz)
{
	yaml_node_pair_t *pair;
	int err;

	cfg->nkeys = 0;
	if (node->type != YAML_MAPPING_NODE) {
		snprintf(why, whysz,
		         "expected a mapping of key: secret, not a list");
		return EINVAL;
	}
	for (pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(doc, pair->value);

		if (kn->type != YAML_SCALAR_NODE ||
		    vn->type != YAML_SCALAR_NODE) {
			snprintf(why, whysz, "line %zu: expected key: secret",
			         kn->start_mark.line + 1);
			return EINVAL;
		}
		err = key_add(cfg, (const char *)kn->data.scalar.value,
		              kn->data.scalar.length,
		              (const char *)vn->data.scalar.value,
		              vn->data.scalar.length, why, whysz);
		if (err)
			return err;
	}
	return 0;
}

static int url_add(struct config *cfg, const char *u, size_t n, char *why,
                   size_t whysz)
{
	size_t scheme = 0;

	if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
		scheme = 7;
	else if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
		scheme = 8;
	if (scheme == 0 || n == scheme || u[scheme] == '/' ||
	    has_ctl_or_space(u, n)) {
		snprintf(why, whysz,
		         "has \"%.*s\", which is not an http:// or https:// "
		         "URL",
		         (int)(n > 200 ? 200 : n), u);
		return EINVAL;
	}
	if (n >= sizeof(cfg->webhook_urls[0])) {
		snprintf(why, whysz, "has a URL longer than %zu characters",
		         sizeof(cfg->webhook_urls[0]) - 1);
		return EINVAL;
	}
	if (cfg->nwebhook_urls == CONFIG_WEBHOOKS_MAX) {
		snprintf(why, whysz, "has more than %d URLs",
		         CONFIG_WEBHOOKS_MAX);
		return EINVAL;
	}
	memcpy(cfg->webhook_urls[cfg->nwebhook_urls], u, n);
	cfg->webhook_urls[cfg->nwebhook_urls++][n] = '\0';
	return 0;
}

static int parse_urls(struct config *cfg, const struct key *k, const char *v,
                      char *why, size_t whysz)
{
	int err;

	(void)k;
	cfg->nwebhook_urls = 0;
	while (*v != '\0') {
		size_t n = strcspn(v, ",");
		const char *u = trim(v, &n);

		if (n > 0) {
			err = url_add(cfg, u, n, why, whysz);
			if (err)
				return err;
		}
		v += strcspn(v, ",");
		if (*v == ',')
			v++;
	}
	return 0;
}

static int parse_urls_node(struct config *cfg, yaml_document_t *doc,
                           yaml_node_t *node, char *why, size_t whysz)
{
	yaml_node_item_t *item;
	int err;

	cfg->nwebhook_urls = 0;
	if (node->type != YAML_SEQUENCE_NODE) {
		snprintf(why, whysz, "expected a list of URLs, not a mapping");
		return EINVAL;
	}
	for (item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		yaml_node_t *in = yaml_document_get_node(doc, *item);

		if (in->type != YAML_SCALAR_NODE) {
			snprintf(why, whysz, "line %zu: expected a URL",
			         in->start_mark.line + 1);
			return EINVAL;
		}
		err = url_add(cfg, (const char *)in->data.scalar.value,
		              in->data.scalar.length, why, whysz);
		if (err)
			return err;
	}
	return 0;
}

static int parse_twilio_answer(struct config *cfg, const struct key *k,
                               const char *v, char *why, size_t whysz)
{
	if (strcmp(v, "dial") && strcmp(v, "stream")) {
		snprintf(why, whysz, "is not dial or stream");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

/* An http(s) URL with a host: what carriers call. */
static int parse_http_url(struct config *cfg, const struct key *k,
                          const char *v, char *why, size_t whysz)
{
	size_t n = strlen(v), scheme = 0;

	if (n >= 7 && strncasecmp(v, "http://", 7) == 0)
		scheme = 7;
	else if (n >= 8 && strncasecmp(v, "https://", 8) == 0)
		scheme = 8;
	if (n && (scheme == 0 || n == scheme || v[scheme] == '/' ||
	          has_ctl_or_space(v, n))) {
		snprintf(why, whysz, "is not an http:// or https:// URL");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

/* A SIP URI carriers can dial: sip: or sips: and a host. */
static int parse_sip_uri(struct config *cfg, const struct key *k, const char *v,
                         char *why, size_t whysz)
{
	size_t n = strlen(v);

	if (n && ((strncasecmp(v, "sip:", 4) && strncasecmp(v, "sips:", 5)) ||
	          n <= 5 || has_ctl_or_space(v, n))) {
		snprintf(why, whysz, "is not a sip: or sips: URI");
		return EINVAL;
	}
	return parse_str(cfg, k, v, why, whysz);
}

/* Base64 of a 32-byte Ed25519 public key, as Telnyx's portal shows it. */
static int parse_ed25519_key(struct config *cfg, const struct key *k,
                             const char *v, char *why, size_t whysz)
{
	unsigned char raw[64];
	size_t n = strlen(v), pad = 0;

	if (n) {
		while (pad < n && pad < 2 && v[n - 1 - pad] == '=')
			pad++;
		if (n != 44 ||
		    EVP_DecodeBlock(raw, (const unsigned char *)v, (int)n) !=
		        33 ||
		    pad != 1) {
			snprintf(why, whysz,
			         "is not the base64 of a 32-byte Ed25519 "
			         "public key");
			return EINVAL;
		}
	}
	return parse_str(cfg, k, v, why, whysz);
}

/* keys[KEY_CONFIG] names the file and so cannot be set inside it. */
enum { KEY_CONFIG = 0 };

static const struct key keys[] = {
    {"config", "", "YAML file of key: value settings", parse_str,
     FIELD(config_file)},
    {"sip_host", "0.0.0.0", "IPv4 or IPv6 address SIP listens on", parse_addr,
     FIELD(sip_host)},
    {"sip_port", "5060", "SIP port, UDP and TCP (1-65535)", parse_sip_port},
    {"rtp_port_range", "10000-20000", "RTP ports MIN-MAX (1024-65535)",
     parse_rtp_range},
    {"external_ip", "", "address put in SDP; empty = from sip_host",
     parse_addr_opt, FIELD(external_ip)},
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
     "agent that talks on each call: pipeline (VAD, STT, brain, TTS in "
     "agent workers) or audio-echo (says back what it hears)",
     parse_str, FIELD(agent)},
    {"answer_delay", "0", "ring this long before answering", parse_duration,
     FIELD(answer_delay_ms)},
    {"drain_timeout", "30s", "on SIGTERM, wait this long for calls",
     parse_duration, FIELD(drain_timeout_ms)},
    {"media_threads", "0", "media threads (0-64); 0 = one per CPU",
     parse_media_threads},
    {"keys", "", "API key: secret pairs (\"k1: s1, k2: s2\")", parse_keys, 0, 0,
     parse_keys_node, true},
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
     parse_urls, 0, 0, parse_urls_node, true},
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
    {"agent_capacity", "1", "calls each of those workers takes at once",
     parse_count, FIELD(agent_capacity)},
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
     "echo, script or llm; empty = llm when llm_base_url is set, else echo",
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
    {"tts_provider", "espeak-ng", "text to speech: espeak-ng or flite",
     parse_str, FIELD(tts_provider)},
    {"tts_voice", "en-us+klatt3",
     "the TTS voice (the Klatt voices are the clearest on a phone line)",
     parse_str, FIELD(tts_voice)},
    {"tts_rate_wpm", "175", "speaking rate in words per minute", parse_count,
     FIELD(tts_rate_wpm)},
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

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

enum source {
	SRC_DEFAULT = 0,
	SRC_FILE,
	SRC_ENV,
	SRC_FLAG,
};

/* The winning raw value of one key and where it came from. */
struct setting {
	const char *val; /* borrowed from argv, environ or the YAML doc */
	enum source src;
	const char *flag; /* SRC_FLAG: the flag as typed, flaglen long */
	size_t flaglen;
	size_t line;        /* SRC_FILE */
	yaml_node_t *node;  /* SRC_FILE: a list key's non-scalar value */
	const char *env;    /* SRC_ENV: the variable, when not VOXGATE_<KEY> */
	const char *secret; /* keys from LIVEKIT_API_KEY (val) and _SECRET */
};

struct load {
	struct setting set[NKEYS];
	const char *path;     /* config file, or NULL */
	yaml_document_t *doc; /* the file's, once loaded */
	char *err;
	size_t errsz;
};

/* Writes the message the caller prints and returns e. Values may come from
 * anywhere, so control characters are replaced to keep it one line. */
static int fail(struct load *ld, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct load *ld, int e, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (ld->errsz == 0)
		return e;
	va_start(ap, fmt);
	if (vsnprintf(ld->err, ld->errsz, fmt, ap) < 0)
		ld->err[0] = '\0';
	va_end(ap);
	for (p = ld->err; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return e;
}

/* Key names match with '-' and '_' interchangeable. */
static const struct key *key_find(const char *s, size_t n)
{
	size_t i, j;

	for (i = 0; i < NKEYS; i++) {
		const char *name = keys[i].name;

		for (j = 0; j < n && name[j] != '\0'; j++) {
			char c = s[j] == '-' ? '_' : s[j];

			if (c != name[j])
				break;
		}
		if (j == n && name[j] == '\0')
			return &keys[i];
	}
	return NULL;
}

/* The index of a key the code names; the name is in the table. */
static size_t key_index(const char *name)
{
	return (size_t)(key_find(name, strlen(name)) - keys);
}

static void env_name(char *buf, size_t size, const char *key)
{
	size_t i, n = (size_t)snprintf(buf, size, "VOXGATE_%s", key);

	for (i = 0; i < n && i < size; i++) {
		if (buf[i] >= 'a' && buf[i] <= 'z')
			buf[i] = (char)(buf[i] - 'a' + 'A');
	}
}

static int flags_collect(struct load *ld, int argc, char *const argv[])
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *name, *eq;
		const struct key *k;
		struct setting *s;
		size_t n;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			config_print_help(stdout);
			return EALREADY;
		}
		if (strncmp(a, "--", 2) != 0)
			return fail(ld, EINVAL,
			            "unexpected argument \"%s\" (see --help)",
			            a);
		name = a + 2;
		eq = strchr(name, '=');
		n = eq ? (size_t)(eq - name) : strlen(name);
		k = key_find(name, n);
		if (!k)
			return fail(ld, EINVAL,
			            "unknown option \"--%.*s\" (see --help)",
			            (int)n, name);
		s = &ld->set[k - keys];
		/* A following "--x" is the next option, not this one's
		 * value; --key=--x still allows such a value. */
		if (eq)
			s->val = eq + 1;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
			s->val = argv[++i];
		else
			return fail(ld, EINVAL, "--%.*s: missing value", (int)n,
			            name);
		s->src = SRC_FLAG;
		s->flag = a;
		s->flaglen = n + 2;
	}
	return 0;
}

/* keys from LiveKit's variables, below VOXGATE_KEYS: LIVEKIT_KEYS, then
 * the LIVEKIT_API_KEY and LIVEKIT_API_SECRET a client's .env holds. */
static int env_collect_keys(struct load *ld)
{
	struct setting *s = &ld->set[key_index("keys")];
	const char *v, *key, *secret;

	if (s->src != SRC_DEFAULT)
		return 0;
	v = getenv("LIVEKIT_KEYS");
	if (v) {
		s->val = v;
		s->src = SRC_ENV;
		s->env = "LIVEKIT_KEYS";
		return 0;
	}
	key = getenv("LIVEKIT_API_KEY");
	secret = getenv("LIVEKIT_API_SECRET");
	if (!key && !secret)
		return 0;
	if (!key || !secret)
		return fail(ld, EINVAL, "keys: %s is set but %s is not",
		            key ? "LIVEKIT_API_KEY" : "LIVEKIT_API_SECRET",
		            key ? "LIVEKIT_API_SECRET" : "LIVEKIT_API_KEY");
	s->val = key;
	s->secret = secret;
	s->src = SRC_ENV;
	s->env = "LIVEKIT_API_KEY and LIVEKIT_API_SECRET";
	return 0;
}

static int env_collect(struct load *ld)
{
	char name[64];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const char *v;

		if (ld->set[i].src != SRC_DEFAULT)
			continue;
		env_name(name, sizeof(name), keys[i].name);
		v = getenv(name);
		if (v) {
			ld->set[i].val = v;
			ld->set[i].src = SRC_ENV;
		}
	}
	return env_collect_keys(ld);
}

/* Reads the whole file so a read error is reported as such, with errno,
 * rather than as a YAML problem. */
static int file_read(struct load *ld, char **textp, size_t *lenp)
{
	char *text;
	size_t len = 0;
	FILE *f;
	int e = 0;

	f = fopen(ld->path, "r");
	if (!f)
		return fail(ld, EINVAL, "config file %s: cannot read: %s",
		            ld->path, strerror(errno));
	text = malloc(CONFIG_FILE_MAX + 1);
	if (!text) {
		e = fail(ld, ENOMEM, "config file %s: %s", ld->path,
		         strerror(ENOMEM));
		goto out;
	}
	len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f))
		e = fail(ld, EINVAL, "config file %s: cannot read: %s",
		         ld->path, strerror(errno));
	else if (len > CONFIG_FILE_MAX)
		e = fail(ld, EINVAL, "config file %s: larger than %d bytes",
		         ld->path, CONFIG_FILE_MAX);
out:
	/* Read-only, so closing cannot lose anything. */
	(void)fclose(f);
	if (e) {
		free(text);
		return e;
	}
	*textp = text;
	*lenp = len;
	return 0;
}

static int file_pair(struct load *ld, yaml_document_t *doc,
                     yaml_node_pair_t *pair, bool seen[])
{
	yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
	yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
	size_t line = kn->start_mark.line + 1, i;
	const struct key *k;
	const char *name;

	if (kn->type != YAML_SCALAR_NODE)
		return fail(ld, EINVAL,
		            "config file %s line %zu: keys must be plain names",
		            ld->path, line);
	name = (const char *)kn->data.scalar.value;
	k = key_find(name, kn->data.scalar.length);
	if (!k)
		return fail(ld, EINVAL,
		            "config file %s line %zu: unknown key \"%s\"",
		            ld->path, line, name);
	i = (size_t)(k - keys);
	if (i == KEY_CONFIG)
		return fail(
		    ld, EINVAL,
		    "config file %s line %zu: config cannot be set here",
		    ld->path, line);
	if (seen[i])
		return fail(ld, EINVAL,
		            "config file %s line %zu: %s is set twice",
		            ld->path, line, k->name);
	seen[i] = true;
	if (vn->type != YAML_SCALAR_NODE && k->parse_node) {
		if (ld->set[i].src != SRC_DEFAULT)
			return 0;
		ld->set[i].node = vn;
		ld->set[i].src = SRC_FILE;
		ld->set[i].line = line;
		return 0;
	}
	if (vn->type != YAML_SCALAR_NODE)
		return fail(
		    ld, EINVAL,
		    "config file %s line %zu: %s: expected one value, not a %s",
		    ld->path, line, k->name,
		    vn->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
	/* A C string would silently drop everything after the NUL. */
	if (memchr(vn->data.scalar.value, '\0', vn->data.scalar.length))
		return fail(
		    ld, EINVAL,
		    "config file %s line %zu: %s: value holds a NUL character",
		    ld->path, line, k->name);
	if (ld->set[i].src != SRC_DEFAULT)
		return 0;
	ld->set[i].val = (const char *)vn->data.scalar.value;
	ld->set[i].src = SRC_FILE;
	ld->set[i].line = line;
	return 0;
}

/* Fills the keys that no flag or variable set from the file. The values
 * point into doc, which the caller deletes when *have_doc is set. */
static int file_collect(struct load *ld, yaml_document_t *doc, bool *have_doc)
{
	bool seen[NKEYS] = {false};
	yaml_parser_t parser;
	yaml_node_pair_t *pair;
	yaml_node_t *root;
	char *text = NULL;
	size_t len = 0;
	int e;

	e = file_read(ld, &text, &len);
	if (e)
		return e;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return fail(ld, ENOMEM, "config file %s: %s", ld->path,
		            strerror(ENOMEM));
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		if (parser.error == YAML_MEMORY_ERROR)
			e = fail(ld, ENOMEM, "config file %s: %s", ld->path,
			         strerror(ENOMEM));
		else if (parser.error == YAML_READER_ERROR)
			e = fail(ld, EINVAL, "config file %s: %s at byte %zu",
			         ld->path, parser.problem,
			         parser.problem_offset);
		else
			e = fail(ld, EINVAL, "config file %s line %zu: %s",
			         ld->path, parser.problem_mark.line + 1,
			         parser.problem);
		goto out;
	}
	*have_doc = true;
	ld->doc = doc;
	root = yaml_document_get_root_node(doc);
	/* An empty file, or an empty document after "---", is an empty
	 * config. */
	if (!root ||
	    (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		e = fail(ld, EINVAL,
		         "config file %s line %zu: expected key: value lines",
		         ld->path, root->start_mark.line + 1);
		goto out;
	}
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		e = file_pair(ld, doc, pair, seen);
		if (e)
			goto out;
	}
out:
	yaml_parser_delete(&parser);
	free(text);
	return e;
}

/* Where the winning value of keys[i] came from, for a message. */
static void setting_source(const struct load *ld, size_t i, char *src,
                           size_t size)
{
	const struct setting *s = &ld->set[i];

	switch (s->src) {
	case SRC_FLAG:
		snprintf(src, size, "%.*s", (int)s->flaglen, s->flag);
		break;
	case SRC_ENV:
		if (s->env)
			snprintf(src, size, "%s", s->env);
		else
			env_name(src, size, keys[i].name);
		break;
	case SRC_FILE:
		snprintf(src, size, "%s line %zu", ld->path, s->line);
		break;
	case SRC_DEFAULT:
		snprintf(src, size, "default");
		break;
	}
}

static int setting_parse(struct load *ld, struct config *cfg, size_t i)
{
	const struct key *k = &keys[i];
	const struct setting *s = &ld->set[i];
	char why[512], src[PATH_MAX + 32];
	const char *v = s->src == SRC_DEFAULT ? k->def : s->val;
	int e;

	if (s->node)
		e = k->parse_node(cfg, ld->doc, s->node, why, sizeof(why));
	else if (s->secret) {
		cfg->nkeys = 0;
		e = key_add(cfg, s->val, strlen(s->val), s->secret,
		            strlen(s->secret), why, sizeof(why));
	} else
		e = k->parse(cfg, k, v, why, sizeof(why));
	if (e == 0)
		return 0;
	setting_source(ld, i, src, sizeof(src));
	if (k->no_echo)
		return fail(ld, EINVAL, "%s: %s (from %s)", k->name, why, src);
	return fail(ld, EINVAL, "%s: \"%s\" %s (from %s)", k->name, v, why,
	            src);
}

/* What depends on more than one key, once all are parsed. */
static int settings_check(struct load *ld, struct config *cfg)
{
	size_t ik = key_index("webhook_api_key");
	char src[PATH_MAX + 32];

	if (cfg->http_host[0] == '\0')
		memcpy(cfg->http_host, cfg->sip_host, sizeof(cfg->http_host));
	if (cfg->webhook_api_key[0] != '\0' &&
	    !config_key_secret(cfg, cfg->webhook_api_key)) {
		setting_source(ld, ik, src, sizeof(src));
		return fail(ld, EINVAL,
		            "webhook_api_key: \"%s\" is not one of the keys "
		            "(from %s)",
		            cfg->webhook_api_key, src);
	}
	if (cfg->webhook_api_key[0] == '\0' && cfg->nkeys > 0)
		memcpy(cfg->webhook_api_key, cfg->keys[0].key,
		       sizeof(cfg->webhook_api_key));
	if (cfg->nwebhook_urls > 0 && cfg->nkeys == 0) {
		setting_source(ld, key_index("webhook_urls"), src, sizeof(src));
		return fail(
		    ld, EINVAL,
		    "webhook_urls: webhooks are signed with an API key, "
		    "and keys is empty (from %s)",
		    src);
	}
	return 0;
}

/* Loads every key, or with keys_only config and keys alone. */
static int load(struct config *cfg, int argc, char *const argv[], char *err,
                size_t errsz, bool keys_only)
{
	struct load ld = {.err = err, .errsz = errsz};
	yaml_document_t doc;
	bool have_doc = false;
	size_t i, ikeys = key_index("keys");
	int e;

	if (!cfg || argc < 0 || (argc > 0 && !argv) || (errsz > 0 && !err))
		return EINVAL;
	if (errsz > 0)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));

	e = flags_collect(&ld, argc, argv);
	if (e)
		return e;
	e = env_collect(&ld);
	if (e)
		return e;
	if (ld.set[KEY_CONFIG].val && ld.set[KEY_CONFIG].val[0] != '\0') {
		ld.path = ld.set[KEY_CONFIG].val;
		e = file_collect(&ld, &doc, &have_doc);
		if (e)
			goto out;
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys_only && i != KEY_CONFIG && i != ikeys)
			continue;
		e = setting_parse(&ld, cfg, i);
		if (e)
			goto out;
	}
	if (!keys_only)
		e = settings_check(&ld, cfg);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	return e;
}

int config_load(struct config *cfg, int argc, char *const argv[], char *err,
                size_t errsz)
{
	return load(cfg, argc, argv, err, errsz, false);
}

int config_load_keys(struct config *cfg, int argc, char *const argv[],
                     char *err, size_t errsz)
{
	return load(cfg, argc, argv, err, errsz, true);
}

const char *config_key_secret(const struct config *cfg, const char *key)
{
	size_t i;

	for (i = 0; key && i < cfg->nkeys; i++) {
		if (strcmp(cfg->keys[i].key, key) == 0)
			return cfg->keys[i].secret;
	}
	return NULL;
}

void config_print_help(FILE *out)
{
	size_t i;

	fprintf(out,
	        "usage: voxgate serve [--config FILE] [--key value ...]\n"
	        "\n"
	        "  %-20s %-12s %s\n",
	        "key", "default", "meaning");
	for (i = 0; i < NKEYS; i++) {
		fprintf(out, "  --%-18s %-12s %s\n", keys[i].name,
		        keys[i].def[0] != '\0' ? keys[i].def : "\"\"",
		        keys[i].help);
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
