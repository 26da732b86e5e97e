/*
 * Access tokens as the API, the agent socket and the webhook check verify
 * them. Forged tokens stop at the signature, so the input also comes
 * signed with the server's own secret: the header and the claims are then
 * read as a genuine token's would be.
 *
 * Input: a mode byte; with bit 0 clear, the rest is the token as sent;
 * with it set, the header JSON, a newline and the claims JSON, which are
 * encoded and signed here (HS256 with the keyring's secret).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/token.h"

#include "fuzz.h"

#define KEY    "APIfuzzkey"
#define SECRET "fuzzsecretfuzzsecretfuzzsecret12"
#define NOW    1700000000

static const struct token_key keys[] = {{KEY, SECRET}};
static const struct token_keyring ring = {keys, 1};

/* Appends base64url of n bytes, unpadded, at *out. */
static void b64url(char **out, const uint8_t *p, size_t n)
{
	size_t len = (size_t)EVP_EncodeBlock((unsigned char *)*out, p, (int)n);

	for (size_t i = 0; i < len; i++) {
		char *c = *out + i;

		if (*c == '+')
			*c = '-';
		else if (*c == '/')
			*c = '_';
	}
	while (len && (*out)[len - 1] == '=')
		len--;
	*out += len;
	**out = '\0';
}

static char *signed_token(const uint8_t *h, size_t hl, const uint8_t *c,
                          size_t cl)
{
	char *jwt = malloc(4 * (hl + cl) / 3 + 128), *p = jwt;
	uint8_t mac[32];
	unsigned ml = sizeof(mac);

	if (!jwt)
		abort();
	b64url(&p, h, hl);
	*p++ = '.';
	b64url(&p, c, cl);
	if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	          (const uint8_t *)jwt, (size_t)(p - jwt), mac, &ml))
		abort();
	*p++ = '.';
	b64url(&p, mac, ml);
	return jwt;
}

static void verify(const char *jwt)
{
	struct token_claims cl;
	const char *why = NULL;
	char *json;
	int err = token_verify(jwt, &ring, NOW, &cl, &why);

	FUZZ_CHECK(why);
	FUZZ_CHECK(err == 0 || err == EACCES || err == EBADMSG);
	if (!err) {
		FUZZ_CHECK(!strcmp(cl.api_key, KEY));
		FUZZ_CHECK(token_kind_known(cl.kind));
		FUZZ_CHECK(strlen(cl.identity) < sizeof(cl.identity));
		FUZZ_CHECK(strlen(cl.grants.room) < sizeof(cl.grants.room));
	}
	json = token_claims_json(jwt);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	const uint8_t *h;
	size_t hl;
	char *jwt;

	if (!(mode & 1)) {
		jwt = fuzz_copy(in.p, in.n, true);
		verify(jwt);
		free(jwt);
		return 0;
	}
	if (!fuzz_piece(&in, "\n", &h, &hl))
		return 0;
	jwt = signed_token(h, hl, in.p, in.n);
	verify(jwt);
	free(jwt);
	return 0;
}
