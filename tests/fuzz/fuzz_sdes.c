/*
 * SDP a=crypto values into sdes_parse, as an offer or an answer carries
 * them after "a=crypto:".
 *
 * Input: the value (a NUL in it ends it, as libre's attribute would).
 *
 * Checked: only the documented errors, each with a reason and the key
 * wiped; an accepted value has a tag of at most 9 digits and one of the
 * two suites, and is written again (sdes_format) into a value that reads
 * back to the same tag, suite and key.
 */
#include <errno.h>

#include "sip/sdes.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[sizeof(struct sdes_crypto)];
	char *v = malloc(size + 1);
	struct sdes_crypto c, r;
	char out[SDES_VALUE_MAX];
	const char *why = NULL;
	int err;

	if (!v)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	err = sdes_parse(v, &c, &why);
	if (err) {
		FUZZ_CHECK(err == EBADMSG || err == ENOTSUP);
		FUZZ_CHECK(why && *why);
		FUZZ_CHECK(!memcmp(&c, zero, sizeof(c)));
		free(v);
		return 0;
	}
	FUZZ_CHECK(c.tag <= 999999999u);
	FUZZ_CHECK(c.profile == SRTPX_AES_CM_128_HMAC_SHA1_80 ||
	           c.profile == SRTPX_AES_CM_128_HMAC_SHA1_32);
	FUZZ_CHECK(sdes_format(out, sizeof(out), &c) == 0);
	FUZZ_CHECK(sdes_parse(out, &r, &why) == 0);
	FUZZ_CHECK(r.tag == c.tag && r.profile == c.profile);
	FUZZ_CHECK(!memcmp(r.key, c.key, sizeof(c.key)));
	free(v);
	return 0;
}
