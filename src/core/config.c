/*
 * Configuration from defaults, a YAML file, the environment and flags.
 * The keys and their parsers are in config_keys.c, the two list keys in
 * config_lists.c; this file loads.
 *
 * DESIGN
 *
 * Loading first collects, for each key, the raw string that wins (flag over
 * environment over file over default) and remembers where it came from.
 * Only then is each winner parsed, once, so an error names the source that
 * actually supplied the bad value and a value overridden by a higher source
 * cannot fail the load.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"
#include "core/opt.h"

/* Far above any real config; stops a path like /dev/zero eating memory. */
#define CONFIG_FILE_MAX (1024 * 1024)

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
	struct setting set[CONFIG_NKEYS];
	const char *path;     /* config file, or NULL */
	yaml_document_t *doc; /* the file's, once loaded */
	struct config *cfg;   /* its why holds the message */
};

/* Writes the message the caller prints into cfg->why and returns e. Values
 * may come from anywhere, so control characters are replaced to keep it
 * one line. An argument may be a parser's reason in cfg->why itself, so
 * the message is made aside first. */
static int fail(struct load *ld, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct load *ld, int e, const char *fmt, ...)
{
	char msg[sizeof(ld->cfg->why)], *p;
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	for (p = msg; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	memcpy(ld->cfg->why, msg, sizeof(msg));
	return e;
}

/* Key names match with '-' and '_' interchangeable. */
static const struct key *key_find(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (opt_name_is(s, n, config_keys[i].name))
			return &config_keys[i];
	}
	return NULL;
}

/* The index of a key the code names; the name is in the table. */
static size_t key_index(const char *name)
{
	return (size_t)(key_find(name, strlen(name)) - config_keys);
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
	struct opt_reader r;
	struct opt o;
	enum opt_type t;

	opt_init(&r, argc, argv);
	while ((t = opt_next(&r, &o)) != OPT_END) {
		const struct key *k;
		struct setting *s;
		const char *val;

		if (t == OPT_HELP) {
			config_print_help(stdout);
			return EALREADY;
		}
		if (t == OPT_ARG)
			return fail(ld, EINVAL,
			            "unexpected argument \"%s\" (see --help)",
			            o.arg);
		k = key_find(o.name, o.namelen);
		if (!k)
			return fail(ld, EINVAL,
			            "unknown option \"--%.*s\" (see --help)",
			            (int)o.namelen, o.name);
		s = &ld->set[k - config_keys];
		/* A value may be empty, so a following "--x" is the next
		 * option, not this one's value; --key=--x still allows such
		 * a value. */
		val = opt_value(&r, &o, false);
		if (!val)
			return fail(ld, EINVAL, "--%.*s: missing value",
			            (int)o.namelen, o.name);
		s->val = val;
		s->src = SRC_FLAG;
		s->flag = o.arg;
		s->flaglen = o.namelen + 2;
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

	for (i = 0; i < CONFIG_NKEYS; i++) {
		const char *v;

		if (ld->set[i].src != SRC_DEFAULT)
			continue;
		env_name(name, sizeof(name), config_keys[i].name);
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
	i = (size_t)(k - config_keys);
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
	bool seen[CONFIG_NKEYS] = {false};
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

/* Where the winning value of config_keys[i] came from, for a message. */
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
			env_name(src, size, config_keys[i].name);
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
	const struct key *k = &config_keys[i];
	const struct setting *s = &ld->set[i];
	const char *v = s->src == SRC_DEFAULT ? k->def : s->val;
	const char *why = "is not valid";
	char src[PATH_MAX + 32];
	int e;

	if (s->node)
		e = k->parse_node(cfg, ld->doc, s->node, &why);
	else if (s->secret) {
		cfg->nkeys = 0;
		e = config_key_add(cfg, s->val, strlen(s->val), s->secret,
		                   strlen(s->secret), &why);
	} else
		e = k->parse(cfg, k, v, &why);
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
static int load(struct config *cfg, int argc, char *const argv[],
                const char **why, bool keys_only)
{
	struct load ld = {.cfg = cfg};
	yaml_document_t doc;
	bool have_doc = false;
	size_t i, ikeys = key_index("keys");
	int e;

	if (!cfg || argc < 0 || (argc > 0 && !argv)) {
		if (why)
			*why = "no configuration to fill, or no arguments";
		return EINVAL;
	}
	memset(cfg, 0, sizeof(*cfg));

	e = flags_collect(&ld, argc, argv);
	if (e)
		goto out;
	e = env_collect(&ld);
	if (e)
		goto out;
	if (ld.set[KEY_CONFIG].val && ld.set[KEY_CONFIG].val[0] != '\0') {
		ld.path = ld.set[KEY_CONFIG].val;
		e = file_collect(&ld, &doc, &have_doc);
		if (e)
			goto out;
	}
	for (i = 0; i < CONFIG_NKEYS; i++) {
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
	if (e == EALREADY && !cfg->why[0])
		snprintf(cfg->why, sizeof(cfg->why), "--help was asked for");
	if (e && why)
		*why = cfg->why;
	return e;
}

int config_load(struct config *cfg, int argc, char *const argv[],
                const char **why)
{
	return load(cfg, argc, argv, why, false);
}

int config_load_keys(struct config *cfg, int argc, char *const argv[],
                     const char **why)
{
	return load(cfg, argc, argv, why, true);
}

/* The variable OpenAI's SDKs read; only the openai provider takes it, so
 * a key meant for OpenAI never goes to another provider. */
static const char *openai_key(const char *provider, const char *key)
{
	const char *v;

	if (key[0] || strcmp(provider, "openai"))
		return key;
	v = getenv("OPENAI_API_KEY");
	return v ? v : "";
}

const char *config_stt_api_key(const struct config *cfg)
{
	const char *v = NULL;

	if (cfg->stt_api_key[0])
		return cfg->stt_api_key;
	if (!strcmp(cfg->stt_provider, "deepgram"))
		v = getenv("DEEPGRAM_API_KEY");
	else if (!strcmp(cfg->stt_provider, "openai-realtime"))
		return openai_key("openai", cfg->stt_api_key);
	else
		return openai_key(cfg->stt_provider, cfg->stt_api_key);
	return v ? v : "";
}

bool config_stt_network(const struct config *cfg)
{
	return strcmp(cfg->stt_provider, "pocketsphinx") != 0;
}

const char *config_stt_url(const struct config *cfg)
{
	if (cfg->stt_url[0])
		return cfg->stt_url;
	if (!strcmp(cfg->stt_provider, "deepgram"))
		return "https://api.deepgram.com";
	return "https://api.openai.com/v1";
}

const char *config_stt_model(const struct config *cfg)
{
	if (cfg->stt_model[0])
		return cfg->stt_model;
	if (!strcmp(cfg->stt_provider, "deepgram"))
		return "nova-3";
	if (!strcmp(cfg->stt_provider, "openai-realtime"))
		return "gpt-4o-transcribe";
	return "whisper-1";
}

/* The network voices' own defaults: the variable their SDKs read for the
 * key, the public base URL, a model and a voice from their documents. */
static const struct tts_default {
	const char *provider, *env, *url, *model, *voice;
} tts_defaults[] = {
    {"openai", "OPENAI_API_KEY", "https://api.openai.com/v1", "gpt-4o-mini-tts",
     "alloy"},
    /* George, a premade voice the API reference's examples use */
    {"elevenlabs", "ELEVEN_API_KEY", "https://api.elevenlabs.io",
     "eleven_flash_v2_5", "JBFqnCBsd6RMkjVDRZzb"},
    /* Barbershop Man, the voice of Cartesia's WebSocket examples */
    {"cartesia", "CARTESIA_API_KEY", "https://api.cartesia.ai", "sonic-2",
     "a0e99841-438c-4a64-b679-ae501e7d6091"},
};

static const struct tts_default *tts_default(const struct config *cfg)
{
	for (size_t i = 0; i < sizeof(tts_defaults) / sizeof(tts_defaults[0]);
	     i++) {
		if (!strcmp(cfg->tts_provider, tts_defaults[i].provider))
			return &tts_defaults[i];
	}
	return NULL;
}

const char *config_tts_api_key(const struct config *cfg)
{
	const struct tts_default *d = tts_default(cfg);
	const char *v;

	/* Only the provider's own variable: a key meant for one provider
	 * never goes to another. */
	if (cfg->tts_api_key[0] || !d)
		return cfg->tts_api_key;
	v = getenv(d->env);
	return v ? v : "";
}

const char *config_tts_url(const struct config *cfg)
{
	const struct tts_default *d = tts_default(cfg);

	return cfg->tts_url[0] || !d ? cfg->tts_url : d->url;
}

const char *config_tts_model(const struct config *cfg)
{
	const struct tts_default *d = tts_default(cfg);

	return cfg->tts_model[0] || !d ? cfg->tts_model : d->model;
}

const char *config_realtime_api_key(const struct config *cfg)
{
	return openai_key("openai", cfg->realtime_api_key);
}

const char *config_tts_voice(const struct config *cfg)
{
	const struct tts_default *d = tts_default(cfg);

	if (cfg->tts_voice[0])
		return cfg->tts_voice;
	if (!strcmp(cfg->tts_provider, "flite"))
		return "kal";
	if (d)
		return d->voice;
	return "en-us+klatt3";
}

void config_tts_embedded(const struct config *cfg, const char **provider,
                         const char **voice)
{
	if (!strcmp(cfg->tts_provider, "espeak-ng") ||
	    !strcmp(cfg->tts_provider, "flite")) {
		*provider = cfg->tts_provider;
		*voice = config_tts_voice(cfg);
	} else {
		*provider = "espeak-ng";
		*voice = "en-us+klatt3";
	}
}
