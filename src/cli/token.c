/*
 * voxgate token: mints or checks access tokens with the server's keys, or
 * with a key and secret given on the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "auth/token.h"
#include "core/config.h"
#include "core/opt.h"
#include "cli/cli.h"
#include "cli/opt.h"
#include "server/keyring.h"

#define EXIT_USAGE 2

static void token_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: voxgate token create [options]\n"
	    "       voxgate token verify [options] TOKEN\n"
	    "\n"
	    "create prints a LiveKit access token (an HS256 JWT):\n"
	    "  --room R           the room; grants roomJoin unless "
	    "--no-join\n"
	    "  --identity I       participant identity (needed to join)\n"
	    "  --name N           display name\n"
	    "  --metadata M       participant metadata\n"
	    "  --kind K           standard, sip, agent, ingress, egress,\n"
	    "                     connector or bridge\n"
	    "  --ttl D            lifetime, default 10m (500ms, 15s, 10m, "
	    "24h)\n"
	    "  --join, --no-join  roomJoin (default: on with --room)\n"
	    "  --admin            roomAdmin of --room (needs --room)\n"
	    "  --create --list    roomCreate, roomList\n"
	    "  --no-publish --no-subscribe  deny publishing, subscribing\n"
	    "  --sip-admin --sip-call       SIP grants\n"
	    "  --agent            the video agent grant\n"
	    "\n"
	    "verify checks TOKEN against every key and prints its claims;\n"
	    "exit 1 when it is not valid.\n"
	    "\n"
	    "Keys: --api-key K --api-secret S, else the server's keys\n"
	    "(--keys \"k: s\", VOXGATE_KEYS, LIVEKIT_KEYS, LIVEKIT_API_KEY\n"
	    "and LIVEKIT_API_SECRET, keys in --config FILE); create signs\n"
	    "with the first.\n");
}

struct token_args {
	const char *room, *identity, *ttl, *name, *metadata, *kind;
	const char *api_key, *api_secret, *config, *keys;
	const char *token; /* verify */
	int join;          /* -1: on when --room is given */
	bool admin, create, list, no_publish, no_subscribe;
	bool sip_admin, sip_call, agent;
};

/* Returns 0, EALREADY after --help, or EINVAL having said why. */
static int token_args_parse(struct token_args *a, bool verify, int argc,
                            char **argv)
{
	/* Texts, not names or paths: an empty one is taken as given and
	 * judged below, as an empty --metadata (none) or --ttl (no
	 * duration). verify takes the first four, the keys. */
	const struct cli_opt opts[] = {
	    {"api_key", CLI_OPT_TEXT, &a->api_key},
	    {"api_secret", CLI_OPT_TEXT, &a->api_secret},
	    {"config", CLI_OPT_TEXT, &a->config},
	    {"keys", CLI_OPT_TEXT, &a->keys},
	    {"room", CLI_OPT_TEXT, &a->room},
	    {"identity", CLI_OPT_TEXT, &a->identity},
	    {"ttl", CLI_OPT_TEXT, &a->ttl},
	    {"name", CLI_OPT_TEXT, &a->name},
	    {"metadata", CLI_OPT_TEXT, &a->metadata},
	    {"kind", CLI_OPT_TEXT, &a->kind},
	    {"join", CLI_OPT_SET, &a->join, .set = 1},
	    {"no_join", CLI_OPT_SET, &a->join, .set = 0},
	    {"admin", CLI_OPT_FLAG, &a->admin},
	    {"create", CLI_OPT_FLAG, &a->create},
	    {"list", CLI_OPT_FLAG, &a->list},
	    {"no_publish", CLI_OPT_FLAG, &a->no_publish},
	    {"no_subscribe", CLI_OPT_FLAG, &a->no_subscribe},
	    {"sip_admin", CLI_OPT_FLAG, &a->sip_admin},
	    {"sip_call", CLI_OPT_FLAG, &a->sip_call},
	    {"agent", CLI_OPT_FLAG, &a->agent},
	};
	const char **const args[] = {&a->token};
	const struct cli_opt_cmd cmd = {
	    .name = verify ? "token verify" : "token create",
	    .opts = opts,
	    .nopts = verify ? 4 : sizeof(opts) / sizeof(*opts),
	    .args = args,
	    .nargs = verify ? 1 : 0,
	    .args_what = verify ? "one TOKEN" : "options",
	};

	return cli_opt_parse(&cmd, argc, argv);
}

/* The keys: --api-key/--api-secret, else the server's sources. */
static int token_keys(const struct token_args *a, struct config *cfg,
                      struct token_key *storage, struct token_keyring *ring)
{
	const char *why;
	char *argv[4];
	int argc = 0;

	if (a->api_key || a->api_secret) {
		if (!a->api_key || !a->api_secret || !a->api_key[0] ||
		    !a->api_secret[0]) {
			fprintf(stderr, "voxgate: token: --api-key and "
			                "--api-secret go together\n");
			return EINVAL;
		}
		storage[0].key = a->api_key;
		storage[0].secret = a->api_secret;
		ring->keys = storage;
		ring->count = 1;
		return 0;
	}
	if (a->config) {
		argv[argc++] = (char *)"--config";
		argv[argc++] = (char *)a->config;
	}
	if (a->keys) {
		argv[argc++] = (char *)"--keys";
		argv[argc++] = (char *)a->keys;
	}
	if (config_load_keys(cfg, argc, argv, &why) != 0) {
		fprintf(stderr, "voxgate: %s\n", why);
		return EINVAL;
	}
	keyring_from_config(cfg, ring, storage, CONFIG_KEYS_MAX);
	if (ring->count == 0) {
		fprintf(stderr,
		        "voxgate: token: no API key configured (--api-key and "
		        "--api-secret, --keys, VOXGATE_KEYS, LIVEKIT_KEYS, "
		        "LIVEKIT_API_KEY and LIVEKIT_API_SECRET, or keys in "
		        "--config)\n");
		return EINVAL;
	}
	return 0;
}

static int token_create_cmd(const struct token_args *a,
                            const struct token_keyring *ring)
{
	struct token_spec spec = {.identity = a->identity,
	                          .name = a->name,
	                          .metadata = a->metadata,
	                          .kind = a->kind};
	struct token_grants *g = &spec.grants;
	uint32_t ttl_ms = 600000;
	char *jwt = NULL;
	int err;

	if (a->ttl &&
	    (config_duration_parse(a->ttl, &ttl_ms) != 0 || ttl_ms < 1000)) {
		fprintf(stderr,
		        "voxgate: token: --ttl: \"%s\" is not a duration of at "
		        "least 1s (e.g. 30s, 10m, 24h)\n",
		        a->ttl);
		return EXIT_USAGE;
	}
	if (a->kind && !token_kind_known(a->kind)) {
		fprintf(stderr,
		        "voxgate: token: --kind: \"%s\" is not a kind "
		        "(standard, sip, agent, ingress, egress, connector, "
		        "bridge)\n",
		        a->kind);
		return EXIT_USAGE;
	}
	/* roomAdmin counts only for the token's room: without one the
	 * token would administer nothing. */
	if (a->admin && (!a->room || !a->room[0])) {
		fprintf(stderr, "voxgate: token: --admin needs --room: a room "
		                "admin token is for one room\n");
		return EXIT_USAGE;
	}
	token_grants_default(g);
	if (a->room) {
		if (strlen(a->room) >= sizeof(g->room)) {
			fprintf(stderr, "voxgate: token: --room: longer than "
			                "255 characters\n");
			return EXIT_USAGE;
		}
		strcpy(g->room, a->room);
	}
	g->room_join = a->join < 0 ? a->room != NULL : a->join;
	g->room_admin = a->admin;
	g->room_create = a->create;
	g->room_list = a->list;
	g->can_publish = g->can_publish_data = !a->no_publish;
	g->can_subscribe = !a->no_subscribe;
	g->sip_admin = a->sip_admin;
	g->sip_call = a->sip_call;
	g->agent = a->agent;
	if (g->room_join && (!a->identity || !a->identity[0])) {
		fprintf(stderr, "voxgate: token: --identity is needed to join "
		                "a room (or --no-join)\n");
		return EXIT_USAGE;
	}
	spec.ttl_s = ttl_ms / 1000;
	err = token_create(&jwt, ring->keys[0].key, ring->keys[0].secret, &spec,
	                   time(NULL));
	if (err) {
		fprintf(stderr, "voxgate: token: cannot create: %s%s\n",
		        strerror(err),
		        err == EINVAL ? " (a value that is not UTF-8?)" : "");
		return err == EINVAL ? EXIT_USAGE : 1;
	}
	printf("%s\n", jwt);
	free(jwt);
	return 0;
}

static int token_verify_cmd(const struct token_args *a,
                            const struct token_keyring *ring)
{
	struct token_claims claims;
	const char *why = NULL;
	char *json;
	int err;

	err = token_verify(a->token, ring, time(NULL), &claims, &why);
	if (err) {
		fprintf(stderr, "voxgate: token: invalid: %s\n", why);
		return 1;
	}
	json = token_claims_json(a->token);
	if (!json) {
		fprintf(stderr, "voxgate: token: %s\n", strerror(ENOMEM));
		return 1;
	}
	printf("%s\n", json);
	free(json);
	return 0;
}

int cli_token(int argc, char **argv)
{
	struct token_args a = {.join = -1};
	struct token_key storage[CONFIG_KEYS_MAX];
	struct token_keyring ring = {0};
	struct config *cfg;
	bool verify;
	int rc;

	/* help after create or verify is the options' to find */
	if (argc >= 1 && (opt_is_help(argv[0]) || !strcmp(argv[0], "help"))) {
		token_usage(stdout);
		return 0;
	}
	if (argc < 1 ||
	    (strcmp(argv[0], "create") && strcmp(argv[0], "verify"))) {
		if (argc >= 1)
			fprintf(stderr,
			        "voxgate: token: unknown command \"%s\"\n",
			        argv[0]);
		token_usage(stderr);
		return EXIT_USAGE;
	}
	verify = !strcmp(argv[0], "verify");
	switch (token_args_parse(&a, verify, argc - 1, argv + 1)) {
	case 0:
		break;
	case EALREADY:
		token_usage(stdout);
		return 0;
	default:
		return EXIT_USAGE;
	}
	if (verify && !a.token) {
		fprintf(stderr, "voxgate: token: verify: no token given\n");
		return EXIT_USAGE;
	}
	/* struct config is large; its strings back the keyring. */
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "voxgate: token: %s\n", strerror(ENOMEM));
		return 1;
	}
	if (token_keys(&a, cfg, storage, &ring) != 0)
		rc = EXIT_USAGE;
	else if (verify)
		rc = token_verify_cmd(&a, &ring);
	else
		rc = token_create_cmd(&a, &ring);
	free(cfg);
	return rc;
}
