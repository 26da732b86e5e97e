/*
 * Access tokens: round trips, LiveKit's grant defaults, tokens written the
 * way the Node SDK writes them, and every way a token is refused. Tokens
 * made "by hand" here are signed with OpenSSL's HMAC directly, not through
 * the code under test.
 */
#include <errno.h>
#include <stdlib.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/token.h"
#include "test.h"

#define NOW    ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define SECRET "devsecret-devsecret-devsecret-0123"

static const struct token_key ring_keys[] = {
    {"otherkey", "another-secret-another-secret-99"},
    {"devkey", SECRET},
};
static const struct token_keyring ring = {ring_keys, 2};

/* base64url without padding of data into out (NUL-terminated). */
static void b64url(const void *data, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	char *p;

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
}

/* A JWT of the given header and claims JSON text, signed with HMAC over
 * md (NULL: no signature, as alg none). malloc'd. */
static char *make_jwt_md(const char *header, const char *claims,
                         const char *secret, const EVP_MD *md)
{
	size_t hl = strlen(header), cl = strlen(claims);
	size_t cap = (hl + cl) * 2 + 200;
	char *out = malloc(cap), *p;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!out)
		return NULL;
	b64url(header, hl, out);
	p = out + strlen(out);
	*p++ = '.';
	b64url(claims, cl, p);
	p += strlen(p);
	if (md) {
		HMAC(md, secret, (int)strlen(secret), (unsigned char *)out,
		     (size_t)(p - out), mac, &maclen);
		*p++ = '.';
		b64url(mac, maclen, p);
	} else {
		*p++ = '.';
		*p = '\0';
	}
	return out;
}

static char *make_jwt(const char *claims, const char *secret)
{
	return make_jwt_md("{\"alg\":\"HS256\"}", claims, secret, EVP_sha256());
}

/* token_verify on a hand-made token; returns its result. */
static int verify_claims(const char *claims, const char *secret,
                         struct token_claims *out, const char **why)
{
	char *jwt = make_jwt(claims, secret);
	int rc;

	if (!jwt)
		return ENOMEM;
	rc = token_verify(jwt, &ring, NOW, out, why);
	free(jwt);
	return rc;
}

/* The claims of a token as a JSON object, decoded here. */
static json_t *claims_of(const char *jwt)
{
	char *text = token_claims_json(jwt);
	json_t *obj, *direct = token_claims_object(jwt);

	if (!text) {
		json_decref(direct);
		return NULL;
	}
	obj = json_loads(text, 0, NULL);
	free(text);
	/* The object and its text agree. */
	if (!json_equal(obj, direct)) {
		json_decref(obj);
		obj = NULL;
	}
	json_decref(direct);
	return obj;
}

/* The header of a token, decoded here. */
static json_t *header_of(const char *jwt)
{
	const char *dot = strchr(jwt, '.');
	unsigned char buf[512];
	char b64[512];
	size_t n, i;
	int len;

	if (!dot || (size_t)(dot - jwt) >= sizeof(b64) - 4)
		return NULL;
	n = (size_t)(dot - jwt);
	for (i = 0; i < n; i++)
		b64[i] = jwt[i] == '-' ? '+' : jwt[i] == '_' ? '/' : jwt[i];
	while (n % 4)
		b64[n++] = '=';
	b64[n] = '\0';
	len = EVP_DecodeBlock(buf, (unsigned char *)b64, (int)n);
	if (len < 0)
		return NULL;
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	return json_loadb((char *)buf, (size_t)len, 0, NULL);
}

TEST(round_trip)
{
	struct token_spec spec = {.identity = "caller-123",
	                          .name = "Caller",
	                          .metadata = "{\"a\":1}",
	                          .kind = "sip",
	                          .ttl_s = 600};
	struct token_claims c;
	const char *why = NULL;
	char *jwt = NULL;

	token_grants_default(&spec.grants);
	spec.grants.room_join = true;
	snprintf(spec.grants.room, sizeof(spec.grants.room), "call-room-1");
	spec.grants.sip_call = true;
	spec.grants.agent = true;
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), 0);
	CHECK(jwt);
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), 0);
	CHECK_STR(why, "");
	CHECK_STR(c.api_key, "devkey");
	CHECK_STR(c.identity, "caller-123");
	CHECK_STR(c.name, "Caller");
	CHECK_STR(c.kind, "sip");
	CHECK_STR(c.sha256, "");
	CHECK_EQ(c.nbf, NOW);
	CHECK_EQ(c.exp, NOW + 600);
	CHECK(c.grants.room_join);
	CHECK_STR(c.grants.room, "call-room-1");
	CHECK(c.grants.can_publish && c.grants.can_subscribe &&
	      c.grants.can_publish_data);
	CHECK(c.grants.agent && c.grants.sip_call && !c.grants.sip_admin);
	CHECK(!c.grants.room_admin && !c.grants.room_create &&
	      !c.grants.room_list && !c.grants.room_record &&
	      !c.grants.hidden && !c.grants.recorder &&
	      !c.grants.can_update_own_metadata);
	/* Valid until exp plus the leeway, with another key in the ring. */
	CHECK_EQ(token_verify(jwt, &ring, NOW + 600 + TOKEN_LEEWAY_S, &c, NULL),
	         0);
	CHECK_EQ(token_verify(jwt, &ring, NOW + 601 + TOKEN_LEEWAY_S, &c, &why),
	         EACCES);
	CHECK_STR(why, "token expired");
	free(jwt);

	/* Every grant off that can be, and on that can be. */
	token_grants_default(&spec.grants);
	spec.identity = "x";
	spec.kind = NULL;
	spec.ttl_s = 0;
	spec.grants.can_publish = false;
	spec.grants.can_subscribe = false;
	spec.grants.can_publish_data = true;
	spec.grants.room_admin = spec.grants.room_create = true;
	spec.grants.room_list = spec.grants.room_record = true;
	spec.grants.hidden = spec.grants.recorder = true;
	spec.grants.can_update_own_metadata = spec.grants.sip_admin = true;
	CHECK_EQ(
	    token_create(&jwt, "otherkey", ring_keys[0].secret, &spec, NOW), 0);
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, NULL), 0);
	CHECK_STR(c.api_key, "otherkey");
	CHECK_EQ(c.exp, NOW + 600); /* ttl 0 = 10 minutes */
	CHECK_STR(c.kind, "standard");
	CHECK(!c.grants.can_publish && !c.grants.can_subscribe &&
	      c.grants.can_publish_data);
	CHECK(c.grants.room_admin && c.grants.room_create &&
	      c.grants.room_list && c.grants.room_record && c.grants.hidden &&
	      c.grants.recorder && c.grants.can_update_own_metadata &&
	      c.grants.sip_admin && !c.grants.sip_call && !c.grants.room_join);
	free(jwt);
	return 0;
}

/* The claims token_create writes, as Node's AccessToken would. */
TEST(created_claims)
{
	struct token_spec spec = {.identity = "caller-123", .ttl_s = 60};
	json_t *cl, *video, *hdr;
	char *jwt = NULL;
	const char *k;
	json_t *v;

	token_grants_default(&spec.grants);
	spec.grants.room_join = true;
	snprintf(spec.grants.room, sizeof(spec.grants.room), "r1");
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), 0);
	cl = claims_of(jwt);
	hdr = header_of(jwt);
	CHECK(cl && hdr);
	CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "HS256");
	json_decref(hdr);
	json_object_foreach(cl, k, v)
	{
		if (strcmp(k, "iss") && strcmp(k, "exp") && strcmp(k, "nbf") &&
		    strcmp(k, "sub") && strcmp(k, "video"))
			TEST_FAIL("created_claims", "unexpected claim %s", k);
	}
	CHECK_EQ(json_object_size(cl), 5);
	CHECK_STR(json_string_value(json_object_get(cl, "iss")), "devkey");
	CHECK_STR(json_string_value(json_object_get(cl, "sub")), "caller-123");
	CHECK_EQ(json_integer_value(json_object_get(cl, "exp")), NOW + 60);
	CHECK_EQ(json_integer_value(json_object_get(cl, "nbf")), NOW);
	video = json_object_get(cl, "video");
	CHECK_EQ(json_object_size(video), 2);
	CHECK(json_is_true(json_object_get(video, "roomJoin")));
	CHECK_STR(json_string_value(json_object_get(video, "room")), "r1");
	json_decref(cl);
	free(jwt);

	/* No identity, no grant: iss, exp and nbf alone. A SIP grant alone
	 * gives sip and no video. */
	struct token_spec bare = {.name = "", .metadata = NULL};
	token_grants_default(&bare.grants);
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &bare, NOW), 0);
	cl = claims_of(jwt);
	CHECK(cl);
	CHECK_EQ(json_object_size(cl), 3);
	CHECK(!json_object_get(cl, "sub"));
	json_decref(cl);
	free(jwt);
	bare.grants.sip_admin = true;
	bare.kind = "agent";
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &bare, NOW), 0);
	cl = claims_of(jwt);
	CHECK(cl);
	CHECK(!json_object_get(cl, "video"));
	CHECK(
	    json_is_true(json_object_get(json_object_get(cl, "sip"), "admin")));
	CHECK(!json_object_get(json_object_get(cl, "sip"), "call"));
	CHECK_STR(json_string_value(json_object_get(cl, "kind")), "agent");
	json_decref(cl);
	free(jwt);

	/* Attributes as an object of strings; an empty object writes none. */
	json_t *attrs = json_pack("{s:s,s:s}", "lk.agent_name", "support",
	                          "lk.agent.name", "");
	bare.attributes = attrs;
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &bare, NOW), 0);
	cl = claims_of(jwt);
	CHECK(cl);
	CHECK(json_equal(json_object_get(cl, "attributes"), attrs));
	json_decref(cl);
	free(jwt);
	json_object_clear(attrs);
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &bare, NOW), 0);
	cl = claims_of(jwt);
	CHECK(cl && !json_object_get(cl, "attributes"));
	json_decref(cl);
	free(jwt);
	json_decref(attrs);
	return 0;
}

TEST(create_errors)
{
	struct token_spec spec = {0};
	char *jwt = (char *)"unchanged";

	token_grants_default(&spec.grants);
	spec.grants.room_join = true;
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), EINVAL);
	CHECK(jwt == NULL);
	spec.identity = "";
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), EINVAL);
	spec.identity = "me";
	spec.kind = "robot";
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), EINVAL);
	spec.kind = "standard";
	CHECK_EQ(token_create(&jwt, "devkey", "", &spec, NOW), EINVAL);
	CHECK_EQ(token_create(&jwt, "", SECRET, &spec, NOW), EINVAL);
	CHECK_EQ(token_create(&jwt, NULL, SECRET, &spec, NOW), EINVAL);
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, NULL, NOW), EINVAL);
	spec.name = "\xff\xfe";
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), EINVAL);
	spec.name = NULL;
	json_t *attrs = json_pack("{s:i}", "n", 1);
	spec.attributes = attrs;
	CHECK_EQ(token_create(&jwt, "devkey", SECRET, &spec, NOW), EINVAL);
	json_decref(attrs);
	CHECK(token_kind_known("connector") && !token_kind_known("SIP") &&
	      !token_kind_known(NULL));
	return 0;
}

/* LiveKit's defaults for absent video keys. */
TEST(grant_defaults)
{
	struct token_claims c;

	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"sub\":\"a\",\"video\":{\"roomJoin\":true,"
	                       "\"room\":\"r\"}}",
	                       SECRET, &c, NULL),
	         0);
	CHECK(c.grants.can_publish && c.grants.can_subscribe &&
	      c.grants.can_publish_data);
	CHECK(!c.grants.hidden && !c.grants.agent && !c.grants.sip_admin);
	/* canPublishData follows canPublish... */
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"video\":{\"canPublish\":false}}",
	                       SECRET, &c, NULL),
	         0);
	CHECK(!c.grants.can_publish && !c.grants.can_publish_data &&
	      c.grants.can_subscribe);
	/* ...unless it is given. */
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"video\":{\"canPublish\":false,"
	                       "\"canPublishData\":true,\"canSubscribe\":"
	                       "false}}",
	                       SECRET, &c, NULL),
	         0);
	CHECK(!c.grants.can_publish && c.grants.can_publish_data &&
	      !c.grants.can_subscribe);
	/* No video grant at all: the same defaults, nothing granted. */
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200}",
	                       SECRET, &c, NULL),
	         0);
	CHECK(c.grants.can_publish && !c.grants.room_join);
	CHECK_STR(c.identity, "");
	CHECK_EQ(c.nbf, 0);
	/* null reads as absent, as Go's encoding/json does. */
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"video\":null,\"sip\":{\"admin\":true,"
	                       "\"call\":null},\"name\":null}",
	                       SECRET, &c, NULL),
	         0);
	CHECK(c.grants.sip_admin && !c.grants.sip_call);
	return 0;
}

/* test-peers.md 6a: what livekit-server-sdk 2.19.2 writes. */
TEST(node_sdk_token)
{
	static const char claims[] =
	    "{\"metadata\":\"{\\\"k\\\":\\\"v\\\"}\",\"name\":\"Caller\","
	    "\"video\":{\"roomJoin\":true,\"room\":\"call-room-1\","
	    "\"canPublish\":true,\"canSubscribe\":true},"
	    "\"iss\":\"devkey\",\"exp\":1767226200,\"nbf\":1767225600,"
	    "\"sub\":\"caller-123\"}";
	struct token_claims c;
	const char *why = NULL;

	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), 0);
	CHECK_STR(c.identity, "caller-123");
	CHECK_STR(c.name, "Caller");
	CHECK_STR(c.api_key, "devkey");
	CHECK_STR(c.kind, "standard");
	CHECK_EQ(c.exp, 1767226200);
	CHECK_EQ(c.nbf, 1767225600);
	CHECK(c.grants.room_join && c.grants.can_publish &&
	      c.grants.can_subscribe && c.grants.can_publish_data);
	CHECK_STR(c.grants.room, "call-room-1");

	/* A Node service token: empty video, a SIP grant, no sub. */
	CHECK_EQ(verify_claims("{\"video\":{},\"sip\":{\"admin\":true},"
	                       "\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"nbf\":1767225600}",
	                       SECRET, &c, NULL),
	         0);
	CHECK(c.grants.sip_admin && !c.grants.room_join);

	/* Go's and Python's: typ JWT, iat, identity, sub "" with jti. */
	char *jwt = make_jwt_md(
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    "{\"iss\":\"devkey\",\"iat\":1767225600,\"nbf\":1767225600,"
	    "\"exp\":1767247200,\"sub\":\"\",\"jti\":\"agent-7\","
	    "\"identity\":\"ignored\",\"kind\":\"agent\"}",
	    SECRET, EVP_sha256());
	CHECK(jwt);
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, NULL), 0);
	free(jwt);
	CHECK_STR(c.identity, "agent-7");
	CHECK_STR(c.kind, "agent");
	return 0;
}

TEST(refused)
{
	static const char good[] =
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"sub\":\"a\"}";
	struct token_claims c;
	const char *why = NULL;

	CHECK_EQ(
	    verify_claims(good, "wrong-secret-wrong-secret-wrong", &c, &why),
	    EACCES);
	CHECK_STR(why, "signature does not match");
	CHECK_EQ(verify_claims("{\"iss\":\"nokey\",\"exp\":1767226200}", SECRET,
	                       &c, &why),
	         EACCES);
	CHECK_STR(why, "unknown API key");
	CHECK_EQ(verify_claims("{\"exp\":1767226200}", SECRET, &c, &why),
	         EACCES);
	CHECK_EQ(verify_claims("{\"iss\":\"\",\"exp\":1767226200}", SECRET, &c,
	                       &why),
	         EACCES);
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\"}", SECRET, &c, &why),
	         EACCES);
	CHECK_STR(why, "token has no exp");
	/* The other key's secret is not devkey's. */
	CHECK_EQ(verify_claims(good, ring_keys[0].secret, &c, &why), EACCES);
	/* An empty ring knows no key. */
	{
		struct token_keyring empty = {NULL, 0};
		char *jwt = make_jwt(good, SECRET);

		CHECK_EQ(token_verify(jwt, &empty, NOW, &c, &why), EACCES);
		free(jwt);
	}
	/* Claims changed under a valid signature. */
	{
		char *jwt = make_jwt(good, SECRET), *other;

		other = make_jwt("{\"iss\":\"devkey\",\"exp\":1767226200,"
		                 "\"sub\":\"b\"}",
		                 "x");
		CHECK(jwt && other);
		strcpy(strrchr(other, '.') + 1, strrchr(jwt, '.') + 1);
		CHECK_EQ(token_verify(other, &ring, NOW, &c, &why), EACCES);
		free(other);
		/* A signature cut short. */
		jwt[strlen(jwt) - 2] = '\0';
		CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
		free(jwt);
	}
	return 0;
}

TEST(times)
{
	struct token_claims c;
	const char *why = NULL;
	char claims[256];

	/* exp just inside and just past the leeway. */
	snprintf(claims, sizeof(claims), "{\"iss\":\"devkey\",\"exp\":%lld}",
	         (long long)NOW - TOKEN_LEEWAY_S);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), 0);
	snprintf(claims, sizeof(claims), "{\"iss\":\"devkey\",\"exp\":%lld}",
	         (long long)NOW - TOKEN_LEEWAY_S - 1);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), EACCES);
	CHECK_STR(why, "token expired");
	snprintf(claims, sizeof(claims), "{\"iss\":\"devkey\",\"exp\":%lld}",
	         (long long)NOW - 3600);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), EACCES);

	/* nbf in the future, within and beyond the leeway. */
	snprintf(claims, sizeof(claims),
	         "{\"iss\":\"devkey\",\"exp\":%lld,\"nbf\":%lld}",
	         (long long)NOW + 3600, (long long)NOW + TOKEN_LEEWAY_S);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), 0);
	snprintf(claims, sizeof(claims),
	         "{\"iss\":\"devkey\",\"exp\":%lld,\"nbf\":%lld}",
	         (long long)NOW + 3600, (long long)NOW + TOKEN_LEEWAY_S + 1);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), EACCES);
	CHECK_STR(why, "token not valid yet (nbf)");
	/* Node before PR #584 wrote nbf 0. */
	snprintf(claims, sizeof(claims),
	         "{\"iss\":\"devkey\",\"exp\":%lld,\"nbf\":0}",
	         (long long)NOW + 60);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), 0);
	/* Fractional NumericDates are numbers too. */
	snprintf(claims, sizeof(claims), "{\"iss\":\"devkey\",\"exp\":%lld.5}",
	         (long long)NOW);
	CHECK_EQ(verify_claims(claims, SECRET, &c, &why), 0);
	CHECK_EQ(c.exp, NOW);
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":\"1767226200\"}",
	                       SECRET, &c, &why),
	         EBADMSG);
	return 0;
}

/* exp and nbf outside what an int64_t of seconds holds (or before 1970)
 * are refused, not cast: the cast of such a double is undefined. */
TEST(times_out_of_range)
{
	static const char *const bad[] = {
	    "{\"iss\":\"devkey\",\"exp\":1e300}",
	    "{\"iss\":\"devkey\",\"exp\":9.3e18}",
	    "{\"iss\":\"devkey\",\"exp\":1e12}",
	    "{\"iss\":\"devkey\",\"exp\":-1e300}",
	    "{\"iss\":\"devkey\",\"exp\":-1}",
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"nbf\":-1e300}",
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"nbf\":-9.3e18}",
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"nbf\":-1}",
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"nbf\":1e300}",
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"nbf\":-0.5}",
	};
	struct token_claims c;
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (verify_claims(bad[i], SECRET, &c, &why) != EBADMSG)
			TEST_FAIL("times_out_of_range",
			          "accepted or wrong error: %s (%s)", bad[i],
			          why);
		CHECK_STR(why, "exp or nbf is not a time in seconds from "
		               "1970 to 9999");
	}
	/* The year 9999 is still a time; 0 is nbf as old Node wrote it. */
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":253402300799,"
	                       "\"nbf\":0}",
	                       SECRET, &c, &why),
	         0);
	CHECK_EQ(c.exp, 253402300799LL);
	CHECK_EQ(c.nbf, 0);
	return 0;
}

TEST(algorithms)
{
	static const char claims[] =
	    "{\"iss\":\"devkey\",\"exp\":1767226200,\"sub\":\"a\"}";
	struct token_claims c;
	const char *why = NULL;
	char *jwt;

	jwt = make_jwt_md("{\"alg\":\"none\"}", claims, SECRET, NULL);
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	CHECK_STR(why, "algorithm is not HS256");
	free(jwt);
	/* none with a signature anyway, and with typ. */
	jwt = make_jwt_md("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, SECRET,
	                  EVP_sha256());
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	free(jwt);
	jwt = make_jwt_md("{\"alg\":\"HS512\"}", claims, SECRET, EVP_sha512());
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	CHECK_STR(why, "algorithm is not HS256");
	free(jwt);
	jwt = make_jwt_md("{\"alg\":\"HS384\"}", claims, SECRET, EVP_sha384());
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	free(jwt);
	jwt = make_jwt_md("{\"alg\":\"hs256\"}", claims, SECRET, EVP_sha256());
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	free(jwt);
	jwt = make_jwt_md("{\"alg\":\"RS256\"}", claims, SECRET, EVP_sha256());
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	free(jwt);
	jwt = make_jwt_md("{\"typ\":\"JWT\"}", claims, SECRET, EVP_sha256());
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, &why), EACCES);
	free(jwt);
	return 0;
}

TEST(garbage)
{
	static const char *const bad[] = {
	    "",
	    "abc",
	    "a.b",
	    "a.b.c.d",
	    "...",
	    "eyJhbGciOiJIUzI1NiJ9..sig",
	    "eyJhbGciOiJIUzI1NiJ9.!!!!.sig",
	    "eyJhbGciOiJIUzI1NiJ9.e.sig",       /* impossible length */
	    "eyJhbGciOiJIUzI1NiJ9.WzEsMl0.sig", /* [1,2] */
	    "WzEsMl0.e30.sig",                  /* header [1,2] */
	    "bm90IGpzb24.e30.sig",              /* "not json" */
	};
	struct token_claims c;
	const char *why = NULL;
	size_t i;
	char *big;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = token_verify(bad[i], &ring, NOW, &c, &why);

		if (rc != EBADMSG)
			TEST_FAIL("garbage", "\"%s\": %d (%s)", bad[i], rc,
			          why);
		CHECK(why && why[0]);
	}
	/* Claims of the wrong type, behind a good signature. */
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"video\":\"all\"}",
	                       SECRET, &c, &why),
	         EBADMSG);
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"sub\":5}",
	                       SECRET, &c, &why),
	         EBADMSG);
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"video\":{\"canPublish\":\"yes\"}}",
	                       SECRET, &c, &why),
	         EBADMSG);
	CHECK_EQ(verify_claims("{\"iss\":\"devkey\",\"exp\":1767226200,"
	                       "\"sub\":\"a\",\"sub\":\"b\"}",
	                       SECRET, &c, &why),
	         EBADMSG);
	/* An identity too long for its field is refused, not cut. */
	big = malloc(400);
	CHECK(big);
	snprintf(big, 400,
	         "{\"iss\":\"devkey\",\"exp\":1767226200,\"sub\":\"%0300d\"}",
	         0);
	CHECK_EQ(verify_claims(big, SECRET, &c, &why), EBADMSG);
	free(big);
	/* Far too long to be a token. */
	big = malloc(70000);
	CHECK(big);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	big[10] = big[20] = '.';
	CHECK_EQ(token_verify(big, &ring, NOW, &c, &why), EBADMSG);
	free(big);
	CHECK_EQ(token_verify(NULL, &ring, NOW, &c, &why), EINVAL);
	CHECK(token_claims_json("a.b") == NULL);
	CHECK(token_claims_object("a.b") == NULL);
	return 0;
}

TEST(sign_body)
{
	static const char body[] = "abc";
	/* SHA-256("abc") = ba7816bf 8f01cfea ... f20015ad (FIPS 180-2). */
	static const unsigned char abc_sha[32] = {
	    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	char want[64], sha[64];
	struct token_claims c;
	char *jwt = NULL;
	json_t *cl;

	EVP_EncodeBlock((unsigned char *)want, abc_sha, 32);
	CHECK_STR(want, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
	CHECK_EQ(token_body_sha256(body, 3, sha, sizeof(sha)), 0);
	CHECK_STR(sha, want);
	CHECK_EQ(token_body_sha256(body, 3, sha, 44), EINVAL);
	/* SHA-256 of nothing. */
	CHECK_EQ(token_body_sha256(NULL, 0, sha, sizeof(sha)), 0);
	CHECK_STR(sha, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");

	CHECK_EQ(token_sign_body(&jwt, "devkey", SECRET, body, 3, NOW), 0);
	CHECK_EQ(token_verify(jwt, &ring, NOW, &c, NULL), 0);
	CHECK_STR(c.sha256, want);
	CHECK_STR(c.identity, "");
	CHECK_EQ(c.exp, NOW + 300);
	CHECK_EQ(c.nbf, NOW);
	cl = claims_of(jwt);
	CHECK(cl);
	CHECK_EQ(json_object_size(cl), 4); /* iss, exp, nbf, sha256 */
	CHECK(!json_object_get(cl, "sub") && !json_object_get(cl, "video"));
	json_decref(cl);
	free(jwt);
	return 0;
}

TEST(keyring_find)
{
	CHECK(token_keyring_find(&ring, "devkey") == &ring_keys[1]);
	CHECK(token_keyring_find(&ring, "nope") == NULL);
	CHECK(token_keyring_find(NULL, "devkey") == NULL);
	return 0;
}

int main(void)
{
	RUN(round_trip);
	RUN(created_claims);
	RUN(create_errors);
	RUN(grant_defaults);
	RUN(node_sdk_token);
	RUN(refused);
	RUN(times);
	RUN(times_out_of_range);
	RUN(algorithms);
	RUN(times_out_of_range);
	RUN(garbage);
	RUN(sign_body);
	RUN(keyring_find);
	TEST_EXIT();
}
