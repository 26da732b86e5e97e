/*
 * A speech provider's error answer as the network listener and speaker
 * tell it (provider_why): any body, any status, a key the body may quote;
 * the reason is one line, fits, and never holds the key.
 *
 * Input: a 16-bit big-endian status, a byte (the key's length, 0-63),
 * the key, then the body.
 */
#include <errno.h>
#include <string.h>

#include "worker/provider.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint16_t status = fuzz_u16(&in);
	size_t kl = fuzz_u8(&in) & 63, n;
	const uint8_t *k = fuzz_take(&in, kl, &kl);
	char *key = fuzz_copy(k, kl, true);
	char *body = fuzz_copy(in.p, in.n, true);
	char why[PROVIDER_WHY_MAX];

	provider_why(why, status & 1 ? EPROTO : 0, status, body, in.n, NULL,
	             key);
	n = strnlen(why, sizeof(why));
	FUZZ_CHECK(n < sizeof(why));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)why[i] >= 0x20 && why[i] != 0x7f);
	/* a key long enough to mean something never shows (one made of
	 * the mask's own stars would match the masking) */
	FUZZ_CHECK(kl < 4 || strlen(key) < 4 || strchr(key, '*') ||
	           !strstr(why, key));
	free(key);
	free(body);
	return 0;
}
