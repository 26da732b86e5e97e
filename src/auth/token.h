/*
 * LiveKit access tokens: HS256 JWTs keyed by API key/secret pairs, with
 * LiveKit's claims (video, sip and agent grants, kind, attributes, sha256).
 * Wire format: ../shared/specs/livekit-compat.md section 1.
 */
#ifndef VOXGATE_AUTH_TOKEN_H
#define VOXGATE_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct json_t;

#define TOKEN_LEEWAY_S 60 /* exp/nbf tolerance, as LiveKit's verifier */

/* API key/secret pairs. Owned by the config; borrowed everywhere else. */
struct token_key {
	const char *key;
	const char *secret;
};

struct token_keyring {
	const struct token_key *keys;
	size_t count;
};

/* Start from token_grants_default(): a zeroed struct denies publishing
 * and subscribing. */
struct token_grants {
	/* video */
	bool room_create, room_list, room_record, room_admin, room_join;
	char room[256];
	bool can_publish, can_subscribe, can_publish_data; /* defaults true */
	bool can_update_own_metadata, hidden, recorder, agent;
	/* sip */
	bool sip_admin, sip_call;
};

struct token_claims {
	char api_key[128];  /* iss */
	char identity[256]; /* sub, or jti when sub is empty */
	char name[256];
	char kind[32];    /* a known kind; absent or unknown is "standard" */
	char sha256[128]; /* webhook body hash, "" if absent */
	int64_t exp, nbf; /* nbf 0 when absent */
	struct token_grants grants;
};

/* can_publish, can_subscribe and can_publish_data true, the rest off. */
void token_grants_default(struct token_grants *g);

/* standard, ingress, egress, sip, agent, connector or bridge. */
bool token_kind_known(const char *kind);

/* The pair named key, or NULL. */
const struct token_key *token_keyring_find(const struct token_keyring *ring,
                                           const char *key);

/*
 * Verifies signature (HS256 with the secret of the key named by iss),
 * exp (required) and nbf with TOKEN_LEEWAY_S. 0 on success; EACCES for a
 * bad signature, unknown key, expired or not-yet-valid token, EBADMSG for a
 * token that does not parse. why (optional) gets a short reason.
 * Also EACCES: an alg other than HS256 (none included) and a token without
 * iss or exp. Also EBADMSG: a claim of the wrong JSON type, or a string
 * too long for its field (checked after the signature), and an exp or nbf
 * that is not a number of seconds from 1970 to the end of 9999.
 */
int token_verify(const char *jwt, const struct token_keyring *ring, time_t now,
                 struct token_claims *out, const char **why);

/* The claims of a token as indented JSON, in their order, WITHOUT checking
 * anything: call token_verify first. malloc'd, or NULL if it does not
 * parse. */
char *token_claims_json(const char *jwt);
/* The same as a JSON object (a new reference), for the claims that
 * token_claims leaves out (metadata, attributes, roomConfig); NULL if it
 * does not parse. */
struct json_t *token_claims_object(const char *jwt);

struct token_spec {
	const char *identity; /* NULL or "" for none */
	const char *name;
	const char *metadata;
	const char *kind;           /* NULL = standard */
	uint32_t ttl_s;             /* 0 = 10 minutes */
	struct token_grants grants; /* start from token_grants_default() */
	const char *sha256;         /* base64 SHA-256 of a body, for webhooks */
	/* The participant's attributes, a JSON object of strings (copied);
	 * NULL or {} for none. */
	const struct json_t *attributes;
};

/*
 * Mints a token; *jwtp is malloc'd (free it). The claims are those the
 * Node SDK's AccessToken writes: iss, exp (now + ttl), nbf (now), sub
 * when identity is set, name, metadata, kind (not when standard), sha256,
 * attributes, and video and sip holding only the grants that differ from
 * a verifier's defaults (no video at all when none does). EINVAL for a
 * missing key or secret, an unknown kind, roomJoin without identity (as
 * Node), attributes that are not an object of strings or a string that
 * is not UTF-8.
 */
int token_create(char **jwtp, const char *key, const char *secret,
                 const struct token_spec *spec, time_t now);

/* The standard, padded base64 of SHA-256 over body into out (at least 45
 * bytes). */
int token_body_sha256(const void *body, size_t len, char *out, size_t outsz);

/* The Authorization value LiveKit puts on a webhook: a token whose sha256
 * claim is the base64 SHA-256 of body, valid 5 minutes. */
int token_sign_body(char **jwtp, const char *key, const char *secret,
                    const void *body, size_t len, time_t now);

#endif
