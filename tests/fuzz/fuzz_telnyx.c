/*
 * What Telnyx's Call Control webhooks bring: the telnyx-signature-ed25519
 * and telnyx-timestamp headers over the raw body, and the event in it
 * (its client_state too). A body signed with the account's key must pass
 * telnyx_verify, whatever it holds.
 *
 * Input: a mode byte (bit 0: sign the body here rather than take the
 * signature given), the signature line, the timestamp line, the body.
 */
#include <errno.h>
#include <openssl/evp.h>

#include "core/libre.h"
#include "carrier/telnyx.h"

#include "fuzz.h"

#define NOW 1700000000

static EVP_PKEY *priv;
static struct telnyx_key *key;
static struct telnyx_seen *seen;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* RFC 8032 section 7.1, TEST 1: the key of the vector in the
	 * corpus (../shared/specs/carriers.md, X3). */
	static const unsigned char seed[32] = {
	    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
	    0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
	    0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
	unsigned char pub[32];
	char b64[64];
	size_t n = sizeof(pub);

	(void)argc;
	(void)argv;
	priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	                                    sizeof(seed));
	if (!priv || !EVP_PKEY_get_raw_public_key(priv, pub, &n) ||
	    EVP_EncodeBlock((unsigned char *)b64, pub, sizeof(pub)) <= 0 ||
	    telnyx_key_parse(&key, b64) ||
	    telnyx_seen_alloc(&seen, 64, TELNYX_TOLERANCE_S))
		abort();
	return 0;
}

/* The base64 Ed25519 signature of ts|body. */
static void sign(const char *ts, const char *body, size_t len, char *out)
{
	size_t tl = strlen(ts), sl = 64;
	unsigned char *msg = malloc(tl + 1 + len), sig[64];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!msg || !ctx)
		abort();
	memcpy(msg, ts, tl);
	msg[tl] = '|';
	memcpy(msg + tl + 1, body, len);
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv) != 1 ||
	    EVP_DigestSign(ctx, sig, &sl, msg, tl + 1 + len) != 1)
		abort();
	EVP_EncodeBlock((unsigned char *)out, sig, sizeof(sig));
	EVP_MD_CTX_free(ctx);
	free(msg);
}

static void event(const char *body, size_t len)
{
	struct telnyx_event ev;
	char state[512], again[512];
	int rank;

	if (telnyx_event_parse(&ev, body, len))
		return;
	rank = telnyx_event_rank(ev.type);
	FUZZ_CHECK(rank >= 0 && rank <= 9);
	if (!telnyx_client_state_decode(state, sizeof(state),
	                                ev.client_state) &&
	    !telnyx_client_state_encode(again, sizeof(again), state))
		FUZZ_CHECK(
		    !telnyx_client_state_decode(state, sizeof(state), again));
	if (!telnyx_seen_check(seen, ev.id, NOW))
		FUZZ_CHECK(telnyx_seen_check(seen, ev.id, NOW));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	bool self_signed = fuzz_u8(&in) & 1;
	const uint8_t *p;
	char *sig, *ts, *body, mine[96];
	size_t len;
	int err;

	if (!fuzz_piece(&in, "\n", &p, &len))
		return 0;
	sig = fuzz_copy(p, len, true);
	if (!fuzz_piece(&in, "\n", &p, &len)) {
		free(sig);
		return 0;
	}
	ts = fuzz_copy(p, len, true);
	body = fuzz_copy(in.p, in.n, false);
	if (self_signed) {
		sign(ts, body, in.n, mine);
		err = telnyx_verify(key, mine, ts, body, in.n, NOW);
		FUZZ_CHECK(err == 0 || err == ETIME);
	} else {
		err = telnyx_verify(key, sig, ts, body, in.n, NOW);
		FUZZ_CHECK(err == 0 || err == EACCES || err == ETIME);
	}
	event(body, in.n);
	free(body);
	free(ts);
	free(sig);
	return 0;
}
