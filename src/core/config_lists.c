/*
 * The configuration's list keys, and the lookup of an API key's secret.
 *
 * DESIGN
 *
 * Two keys hold lists: keys (API key: secret pairs) and webhook_urls. Their
 * raw value is a comma-separated string, or in the file also a YAML mapping
 * (keys, as LiveKit's config file) or sequence (webhook_urls), kept as the
 * node and parsed by the key's parse_node. Their errors name the offending
 * item rather than quoting the value, which for keys holds secrets.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/config_int.h"

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

bool config_has_ctl_or_space(const char *s, size_t n)
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
int config_key_add(struct config *cfg, const char *key, size_t klen,
                   const char *secret, size_t slen, const char **why)
{
	struct config_key *ck;
	size_t i;

	if (klen == 0) {
		*why = "has an empty API key";
		return EINVAL;
	}
	if (klen >= sizeof(ck->key))
		return config_why(cfg, why,
		                  "has an API key longer than %zu characters",
		                  sizeof(ck->key) - 1);
	if (config_has_ctl_or_space(key, klen) || memchr(key, ':', klen) ||
	    memchr(key, ',', klen)) {
		*why = "has an API key with a space, ':', ',' or a control "
		       "character";
		return EINVAL;
	}
	if (slen == 0)
		return config_why(cfg, why, "has no secret for \"%.*s\"",
		                  (int)klen, key);
	if (slen >= sizeof(ck->secret) || has_ctl(secret, slen))
		return config_why(
		    cfg, why,
		    "has a secret for \"%.*s\" that is longer than %zu "
		    "characters or holds a control character",
		    (int)klen, key, sizeof(ck->secret) - 1);
	for (i = 0; i < cfg->nkeys; i++) {
		if (strlen(cfg->keys[i].key) == klen &&
		    memcmp(cfg->keys[i].key, key, klen) == 0)
			return config_why(cfg, why, "lists \"%.*s\" twice",
			                  (int)klen, key);
	}
	if (cfg->nkeys == CONFIG_KEYS_MAX)
		return config_why(cfg, why, "has more than %d pairs",
		                  CONFIG_KEYS_MAX);
	ck = &cfg->keys[cfg->nkeys++];
	memcpy(ck->key, key, klen);
	ck->key[klen] = '\0';
	memcpy(ck->secret, secret, slen);
	ck->secret[slen] = '\0';
	return 0;
}

/* "key1: secret1, key2: secret2": pairs separated by commas or newlines,
 * so LiveKit's "key: secret" lines read too; braces around are allowed. */
int config_parse_keys(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
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
		if (!colon)
			return config_why(
			    cfg, why,
			    "entry %zu is not \"key: secret\" (e.g. "
			    "\"devkey: secret, key2: secret2\")",
			    item);
		klen = (size_t)(colon - entry);
		slen = (size_t)(entry + len - (colon + 1));
		key = trim(entry, &klen);
		secret = trim(colon + 1, &slen);
		err = config_key_add(cfg, key, klen, secret, slen, why);
		if (err)
			return err;
	}
	return 0;
}

int config_parse_keys_node(struct config *cfg, yaml_document_t *doc,
                           yaml_node_t *node, const char **why)
{
	yaml_node_pair_t *pair;
	int err;

	cfg->nkeys = 0;
	if (node->type != YAML_MAPPING_NODE) {
		*why = "expected a mapping of key: secret, not a list";
		return EINVAL;
	}
	for (pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(doc, pair->value);

		if (kn->type != YAML_SCALAR_NODE ||
		    vn->type != YAML_SCALAR_NODE)
			return config_why(cfg, why,
			                  "line %zu: expected key: secret",
			                  kn->start_mark.line + 1);
		err = config_key_add(cfg, (const char *)kn->data.scalar.value,
		                     kn->data.scalar.length,
		                     (const char *)vn->data.scalar.value,
		                     vn->data.scalar.length, why);
		if (err)
			return err;
	}
	return 0;
}

static int url_add(struct config *cfg, const char *u, size_t n,
                   const char **why)
{
	size_t scheme = 0;

	if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
		scheme = 7;
	else if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
		scheme = 8;
	if (scheme == 0 || n == scheme || u[scheme] == '/' ||
	    config_has_ctl_or_space(u, n))
		return config_why(
		    cfg, why,
		    "has \"%.*s\", which is not an http:// or https:// "
		    "URL",
		    (int)(n > 200 ? 200 : n), u);
	if (n >= sizeof(cfg->webhook_urls[0]))
		return config_why(cfg, why,
		                  "has a URL longer than %zu characters",
		                  sizeof(cfg->webhook_urls[0]) - 1);
	if (cfg->nwebhook_urls == CONFIG_WEBHOOKS_MAX)
		return config_why(cfg, why, "has more than %d URLs",
		                  CONFIG_WEBHOOKS_MAX);
	memcpy(cfg->webhook_urls[cfg->nwebhook_urls], u, n);
	cfg->webhook_urls[cfg->nwebhook_urls++][n] = '\0';
	return 0;
}

int config_parse_urls(struct config *cfg, const struct key *k, const char *v,
                      const char **why)
{
	int err;

	(void)k;
	cfg->nwebhook_urls = 0;
	while (*v != '\0') {
		size_t n = strcspn(v, ",");
		const char *u = trim(v, &n);

		if (n > 0) {
			err = url_add(cfg, u, n, why);
			if (err)
				return err;
		}
		v += strcspn(v, ",");
		if (*v == ',')
			v++;
	}
	return 0;
}

int config_parse_urls_node(struct config *cfg, yaml_document_t *doc,
                           yaml_node_t *node, const char **why)
{
	yaml_node_item_t *item;
	int err;

	cfg->nwebhook_urls = 0;
	if (node->type != YAML_SEQUENCE_NODE) {
		*why = "expected a list of URLs, not a mapping";
		return EINVAL;
	}
	for (item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		yaml_node_t *in = yaml_document_get_node(doc, *item);

		if (in->type != YAML_SCALAR_NODE)
			return config_why(cfg, why, "line %zu: expected a URL",
			                  in->start_mark.line + 1);
		err = url_add(cfg, (const char *)in->data.scalar.value,
		              in->data.scalar.length, why);
		if (err)
			return err;
	}
	return 0;
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
