/*
 * LiveKit access tokens on libjwt (signature) and jansson (claims).
 *
 * DESIGN
 *
 * Verification needs the secret before the signature can be checked, and
 * the secret is named by the iss claim inside the token. So the token is
 * first split and its header and claims decoded here, without trusting
 * them: the header must say exactly HS256 (nothing else, in particular not
 * "none", is ever handed to libjwt), iss picks the secret, and only then
 * does jwt_decode check the HMAC (in constant time) over the same bytes.
 * The claims read afterwards are those bytes, now authenticated.
 *
 * Tokens are minted with the claims the Node SDK's AccessToken writes, and
 * grants at their default value are left out, so the verifier's defaults
 * (canPublish and canSubscribe true, canPublishData following canPublish)
 * restore them.
 */
#include <errno.h>
#include <limits.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>

#include "auth/token.h"
#include "core/b64.h"

/* Far above any real token; a bound on the work done for garbage. */
#define TOKEN_MAX_LEN (64 * 1024)

/* 9999-12-31T23:59:59Z, the last second RFC 3339 can write. */
#define TOKEN_TIME_MAX 253402300799.0

#define TOKEN_DEFAULT_TTL_S 600
#define WEBHOOK_TTL_S       300

static const char *const kinds[] = {
    "standard", "ingress", "egress", "sip", "agent", "connector", "bridge",
};

void token_grants_default(struct token_grants *g)
{
	memset(g, 0, sizeof(*g));
	g->can_publish = true;
	g->can_subscribe = true;
	g->can_publish_data = true;
}

bool token_kind_known(const char *kind)
{
	size_t i;

	if (!kind)
		return false;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	}
	return false;
}

const struct token_key *token_keyring_find(const struct token_keyring *ring,
                                           const char *key)
{
	size_t i;

	if (!ring || !key)
		return NULL;
	for (i = 0; i < ring->count; i++) {
		if (ring->keys[i].key && strcmp(ring->keys[i].key, key) == 0)
			return &ring->keys[i];
	}
	return NULL;
}

/* Decodes unpadded base64url (RFC 7515 section 2) into a new NUL-terminated
 * buffer. EBADMSG for any other character or an impossible length. */
static int b64url_decode(const char *s, size_t n, char **outp, size_t *lenp)
{
	size_t cap = B64_DECODED_MAX(n), len = 0;
	char *out;
	int err;

	if (n > INT_MAX / 2)
		return EBADMSG;
	out = malloc(cap + 1);
	if (!out)
		return ENOMEM;
	err = b64_decode(s, n, B64_URL | B64_PAD_FORBIDDEN, (uint8_t *)out, cap,
	                 &len);
	if (err) {
		free(out);
		return EBADMSG;
	}
	out[len] = '\0';
	*outp = out;
	*lenp = len;
	return 0;
}

/* One base64url part of a token as a JSON object. */
static int part_decode(const char *s, size_t n, json_t **objp)
{
	json_error_t jerr;
	json_t *obj;
	size_t len;
	char *text;
	int err;

	err = b64url_decode(s, n, &text, &len);
	if (err)
		return err;
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!obj)
		return EBADMSG;
	if (!json_is_object(obj)) {
		json_decref(obj);
		return EBADMSG;
	}
	*objp = obj;
	return 0;
}

/* Splits header.claims.signature and decodes the first two. */
static int token_split(const char *jwt, json_t **headp, json_t **claimsp,
                       const char **why)
{
	const char *d1, *d2;
	size_t n = strnlen(jwt, TOKEN_MAX_LEN + 1);
	int err;

	if (n > TOKEN_MAX_LEN) {
		*why = "token too long";
		return EBADMSG;
	}
	d1 = strchr(jwt, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 || strchr(d2 + 1, '.')) {
		*why = "not a JWT (header.claims.signature)";
		return EBADMSG;
	}
	err = part_decode(jwt, (size_t)(d1 - jwt), headp);
	if (err) {
		*why = "header is not base64url JSON";
		return err;
	}
	err = part_decode(d1 + 1, (size_t)(d2 - d1 - 1), claimsp);
	if (err) {
		json_decref(*headp);
		*why = "claims are not base64url JSON";
		return err;
	}
	return 0;
}

/* Copies an optional string claim; absent or null is "". */
static int claim_str(const json_t *obj, const char *name, char *buf,
                     size_t size)
{
	const json_t *v = json_object_get(obj, name);
	size_t n;

	buf[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return EBADMSG;
	n = json_string_length(v);
	if (n >= size || memchr(json_string_value(v), '\0', n))
		return EBADMSG;
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

static int claim_bool(const json_t *obj, const char *name, bool def, bool *out)
{
	const json_t *v = json_object_get(obj, name);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return EBADMSG;
	*out = json_is_true(v);
	return 0;
}

/* A NumericDate: integer or fractional seconds, from 1970 to the end of
 * 9999. Anything else (a huge or negative value, which no issuer writes)
 * is refused here rather than cast to int64_t later, where a double out
 * of range is undefined behaviour. */
static int claim_time(const json_t *obj, const char *name, bool *present,
                      double *out)
{
	const json_t *v = json_object_get(obj, name);
	double t;

	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return EBADMSG;
	t = json_number_value(v);
	/* Written so that NaN fails too. */
	if (!(t >= 0 && t <= TOKEN_TIME_MAX))
		return EBADMSG;
	*present = true;
	*out = t;
	return 0;
}

/* A grant object: absent or null is empty, anything else but an object is
 * malformed. */
static int claim_obj(const json_t *claims, const char *name, const json_t **out)
{
	const json_t *v = json_object_get(claims, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return EBADMSG;
	*out = v;
	return 0;
}

static int grants_read(const json_t *claims, struct token_grants *g)
{
	const json_t *video, *sip;
	int err = 0;

	err |= claim_obj(claims, "video", &video);
	err |= claim_obj(claims, "sip", &sip);
	if (err)
		return EBADMSG;
	/* json_object_get on NULL returns NULL, so an absent grant reads as
	 * all defaults. */
	err |= claim_bool(video, "roomCreate", false, &g->room_create);
	err |= claim_bool(video, "roomList", false, &g->room_list);
	err |= claim_bool(video, "roomRecord", false, &g->room_record);
	err |= claim_bool(video, "roomAdmin", false, &g->room_admin);
	err |= claim_bool(video, "roomJoin", false, &g->room_join);
	err |= claim_str(video, "room", g->room, sizeof(g->room));
	err |= claim_bool(video, "canPublish", true, &g->can_publish);
	err |= claim_bool(video, "canSubscribe", true, &g->can_subscribe);
	err |= claim_bool(video, "canPublishData", g->can_publish,
	                  &g->can_publish_data);
	err |= claim_bool(video, "canUpdateOwnMetadata", false,
	                  &g->can_update_own_metadata);
	err |= claim_bool(video, "hidden", false, &g->hidden);
	err |= claim_bool(video, "recorder", false, &g->recorder);
	err |= claim_bool(video, "agent", false, &g->agent);
	err |= claim_bool(sip, "admin", false, &g->sip_admin);
	err |= claim_bool(sip, "call", false, &g->sip_call);
	return err ? EBADMSG : 0;
}

static int claims_read(const json_t *claims, struct token_claims *out,
                       double exp, bool have_nbf, double nbf)
{
	char jti[sizeof(out->identity)];
	int err = 0;

	memset(out, 0, sizeof(*out));
	err |= claim_str(claims, "iss", out->api_key, sizeof(out->api_key));
	err |= claim_str(claims, "sub", out->identity, sizeof(out->identity));
	err |= claim_str(claims, "jti", jti, sizeof(jti));
	err |= claim_str(claims, "name", out->name, sizeof(out->name));
	err |= claim_str(claims, "kind", out->kind, sizeof(out->kind));
	err |= claim_str(claims, "sha256", out->sha256, sizeof(out->sha256));
	if (err)
		return EBADMSG;
	if (out->identity[0] == '\0')
		memcpy(out->identity, jti, sizeof(jti));
	/* LiveKit reads any other kind as STANDARD. */
	if (!token_kind_known(out->kind))
		strcpy(out->kind, "standard");
	out->exp = (int64_t)exp;
	out->nbf = have_nbf ? (int64_t)nbf : 0;
	return grants_read(claims, &out->grants);
}

int token_verify(const char *jwt, const struct token_keyring *ring, time_t now,
                 struct token_claims *out, const char **why)
{
	const char *dummy, *alg, *iss;
	const struct token_key *key;
	json_t *head = NULL, *claims = NULL;
	bool have_exp, have_nbf;
	double exp = 0, nbf = 0;
	jwt_t *j = NULL;
	int err;

	if (!why)
		why = &dummy;
	*why = "";
	if (!jwt || !ring || !out) {
		*why = "bad arguments";
		return EINVAL;
	}
	err = token_split(jwt, &head, &claims, why);
	if (err)
		return err;

	alg = json_string_value(json_object_get(head, "alg"));
	if (!alg || strcmp(alg, "HS256") != 0) {
		*why = "algorithm is not HS256";
		err = EACCES;
		goto out;
	}
	if (claim_time(claims, "exp", &have_exp, &exp) ||
	    claim_time(claims, "nbf", &have_nbf, &nbf)) {
		*why = "exp or nbf is not a time in seconds from 1970 to 9999";
		err = EBADMSG;
		goto out;
	}
	iss = json_string_value(json_object_get(claims, "iss"));
	if (!iss || iss[0] == '\0') {
		*why = "no iss (API key) in the token";
		err = EACCES;
		goto out;
	}
	key = token_keyring_find(ring, iss);
	if (!key || !key->secret || key->secret[0] == '\0') {
		*why = "unknown API key";
		err = EACCES;
		goto out;
	}

	err = jwt_decode(&j, jwt, (const unsigned char *)key->secret,
	                 (int)strlen(key->secret));
	jwt_free(j);
	if (err == ENOMEM) {
		*why = "out of memory";
		goto out;
	}
	if (err) {
		*why = "signature does not match";
		err = EACCES;
		goto out;
	}

	if (!have_exp) {
		*why = "token has no exp";
		err = EACCES;
		goto out;
	}
	if ((double)now - TOKEN_LEEWAY_S > exp) {
		*why = "token expired";
		err = EACCES;
		goto out;
	}
	if (have_nbf && (double)now + TOKEN_LEEWAY_S < nbf) {
		*why = "token not valid yet (nbf)";
		err = EACCES;
		goto out;
	}
	err = claims_read(claims, out, exp, have_nbf, nbf);
	if (err)
		*why = "a claim has the wrong type or is too long";
out:
	json_decref(head);
	json_decref(claims);
	return err;
}

json_t *token_claims_object(const char *jwt)
{
	json_t *head, *claims;
	const char *why;

	if (!jwt || token_split(jwt, &head, &claims, &why) != 0)
		return NULL;
	json_decref(head);
	return claims;
}

char *token_claims_json(const char *jwt)
{
	json_t *claims = token_claims_object(jwt);
	char *s = claims
	              ? json_dumps(claims, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
	              : NULL;

	json_decref(claims);
	return s;
}

/* Sets name to a new JSON value; jansson steals v. */
static bool string_object(const json_t *o)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return false;
	json_object_foreach((json_t *)o, k, v)
	{
		if (!json_is_string(v))
			return false;
	}
	return true;
}

static int set_new(json_t *obj, const char *name, json_t *v)
{
	return json_object_set_new(obj, name, v) ? ENOMEM : 0;
}

static int set_true(json_t *obj, const char *name, bool v)
{
	return v ? set_new(obj, name, json_true()) : 0;
}

static int set_str(json_t *obj, const char *name, const char *v)
{
	json_t *s;

	if (!v || v[0] == '\0')
		return 0;
	s = json_string(v);
	if (!s)
		return EINVAL; /* not UTF-8 */
	return set_new(obj, name, s);
}

/* The video grant with only what differs from the verifier's defaults;
 * NULL (no grant) when nothing does. */
static int video_build(const struct token_grants *g, json_t **videop)
{
	json_t *v = json_object();
	int err = 0;

	*videop = NULL;
	if (!v)
		return ENOMEM;
	err = err ? err : set_true(v, "roomCreate", g->room_create);
	err = err ? err : set_true(v, "roomList", g->room_list);
	err = err ? err : set_true(v, "roomRecord", g->room_record);
	err = err ? err : set_true(v, "roomAdmin", g->room_admin);
	err = err ? err : set_true(v, "roomJoin", g->room_join);
	err = err ? err : set_str(v, "room", g->room);
	if (!err && !g->can_publish)
		err = set_new(v, "canPublish", json_false());
	if (!err && !g->can_subscribe)
		err = set_new(v, "canSubscribe", json_false());
	if (!err && g->can_publish_data != g->can_publish)
		err = set_new(v, "canPublishData",
		              json_boolean(g->can_publish_data));
	err = err ? err
	          : set_true(v, "canUpdateOwnMetadata",
	                     g->can_update_own_metadata);
	err = err ? err : set_true(v, "hidden", g->hidden);
	err = err ? err : set_true(v, "recorder", g->recorder);
	err = err ? err : set_true(v, "agent", g->agent);
	if (err || json_object_size(v) == 0) {
		json_decref(v);
		return err;
	}
	*videop = v;
	return 0;
}

static int sip_build(const struct token_grants *g, json_t **sipp)
{
	json_t *s;
	int err;

	*sipp = NULL;
	if (!g->sip_admin && !g->sip_call)
		return 0;
	s = json_object();
	if (!s)
		return ENOMEM;
	err = set_true(s, "admin", g->sip_admin);
	err = err ? err : set_true(s, "call", g->sip_call);
	if (err) {
		json_decref(s);
		return err;
	}
	*sipp = s;
	return 0;
}

static int claims_build(const char *key, const struct token_spec *spec,
                        time_t now, json_t **claimsp)
{
	uint32_t ttl = spec->ttl_s ? spec->ttl_s : TOKEN_DEFAULT_TTL_S;
	json_t *c = json_object(), *video = NULL, *sip = NULL;
	int err;

	if (!c)
		return ENOMEM;
	/* Node's claims; libjwt writes them with sorted keys. */
	err = set_str(c, "metadata", spec->metadata);
	err = err ? err : set_str(c, "name", spec->name);
	if (!err && spec->kind && strcmp(spec->kind, "standard") != 0)
		err = set_str(c, "kind", spec->kind);
	err = err ? err : set_str(c, "sha256", spec->sha256);
	if (!err && json_object_size(spec->attributes))
		err =
		    set_new(c, "attributes", json_deep_copy(spec->attributes));
	err = err ? err : video_build(&spec->grants, &video);
	if (!err && video)
		err = set_new(c, "video", video);
	err = err ? err : sip_build(&spec->grants, &sip);
	if (!err && sip)
		err = set_new(c, "sip", sip);
	err = err ? err : set_str(c, "iss", key);
	err =
	    err ? err : set_new(c, "exp", json_integer((json_int_t)now + ttl));
	err = err ? err : set_new(c, "nbf", json_integer((json_int_t)now));
	err = err ? err : set_str(c, "sub", spec->identity);
	if (err) {
		json_decref(c);
		return err;
	}
	*claimsp = c;
	return 0;
}

int token_create(char **jwtp, const char *key, const char *secret,
                 const struct token_spec *spec, time_t now)
{
	json_t *claims = NULL;
	jwt_t *j = NULL;
	char *text = NULL, *tok;
	int err;

	if (!jwtp || !key || !key[0] || !secret || !secret[0] || !spec)
		return EINVAL;
	*jwtp = NULL;
	if (spec->kind && spec->kind[0] && !token_kind_known(spec->kind))
		return EINVAL;
	/* As the Node SDK: a join without an identity is refused. */
	if (spec->grants.room_join && (!spec->identity || !spec->identity[0]))
		return EINVAL;
	if (spec->attributes && !string_object(spec->attributes))
		return EINVAL;

	err = claims_build(key, spec, now, &claims);
	if (err)
		return err;
	text = json_dumps(claims, JSON_COMPACT);
	json_decref(claims);
	if (!text)
		return ENOMEM;

	err = jwt_new(&j);
	if (err)
		goto out;
	err = jwt_add_grants_json(j, text);
	if (err)
		goto out;
	err = jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret,
	                  (int)strlen(secret));
	if (err)
		goto out;
	tok = jwt_encode_str(j);
	if (!tok) {
		err = errno ? errno : ENOMEM;
		goto out;
	}
	*jwtp = tok;
out:
	jwt_free(j);
	free(text);
	return err;
}

int token_body_sha256(const void *body, size_t len, char *out, size_t outsz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/* 32 bytes are 44 base64 characters, padded, and the NUL. */
	if (!out || outsz < 45 || (!body && len))
		return EINVAL;
	if (!EVP_Digest(body ? body : "", len, md, &mdlen, EVP_sha256(),
	                NULL) ||
	    mdlen != 32)
		return ENOMEM;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return 0;
}

int token_sign_body(char **jwtp, const char *key, const char *secret,
                    const void *body, size_t len, time_t now)
{
	struct token_spec spec = {.ttl_s = WEBHOOK_TTL_S};
	char sha[64];
	int err;

	/* Grants at the verifier's defaults: no video grant is written. */
	token_grants_default(&spec.grants);
	err = token_body_sha256(body, len, sha, sizeof(sha));
	if (err)
		return err;
	spec.sha256 = sha;
	return token_create(jwtp, key, secret, &spec, now);
}
