/*
 * Inside the configuration, shared by its files and by nothing else:
 * config.c (loading: flags, environment, YAML file, then each winner
 * parsed), config_keys.c (the key table, the parsers of single values,
 * --help) and config_lists.c (the two list keys, keys and webhook_urls).
 */
#ifndef VOXGATE_CORE_CONFIG_INT_H
#define VOXGATE_CORE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>
#include "core/config.h"

struct key;

/* Parses v into cfg. On failure returns EINVAL and sets *why to the
 * problem, as it reads after the quoted value: a fixed string, or one
 * formatted into cfg->why by config_why. */
typedef int(config_parse_h)(struct config *cfg, const struct key *k,
                            const char *v, const char **why);

/* Parses a non-scalar YAML value (a list key's mapping or sequence). */
typedef int(config_parse_node_h)(struct config *cfg, yaml_document_t *doc,
                                 yaml_node_t *node, const char **why);

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

/* Every setting (config_keys.c). The loader sizes its arrays by the count,
 * so it is a constant here; config_keys.c fails to build when it is not
 * the table's length. */
#define CONFIG_NKEYS 94
extern const struct key config_keys[];

/* config_keys[KEY_CONFIG] names the file and so cannot be set inside it. */
enum { KEY_CONFIG = 0 };

/* A parser's reason formatted at run time: written into cfg->why, *why
 * pointed at it; returns EINVAL. The loader composes its message from it
 * without writing over it first (config.c, fail). */
int config_why(struct config *cfg, const char **why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- config_lists.c --------------------------------------------------- */

int config_parse_keys(struct config *cfg, const struct key *k, const char *v,
                      const char **why);
int config_parse_keys_node(struct config *cfg, yaml_document_t *doc,
                           yaml_node_t *node, const char **why);
int config_parse_urls(struct config *cfg, const struct key *k, const char *v,
                      const char **why);
int config_parse_urls_node(struct config *cfg, yaml_document_t *doc,
                           yaml_node_t *node, const char **why);
/* Adds one API key and its secret to cfg->keys. */
int config_key_add(struct config *cfg, const char *key, size_t klen,
                   const char *secret, size_t slen, const char **why);
bool config_has_ctl_or_space(const char *s, size_t n);

#endif
