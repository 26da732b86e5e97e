/* SDES a=crypto values: RFC 4568's examples, round trips, every refusal
 * with its reason, random keys and the mediaEncryption names. */
#include <errno.h>
#include <string.h>
#include "sip/sdes.h"
#include "test.h"

#define KEY80 "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
#define KEY32 "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"

static int parse(const char *v, const char **why)
{
	struct sdes_crypto c;

	*why = NULL;
	return sdes_parse(v, &c, why);
}

TEST(rfc4568_values)
{
	struct sdes_crypto c;
	const char *why = NULL;
	char out[SDES_VALUE_MAX];

	CHECK_EQ(
	    sdes_parse("1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80, &c, &why), 0);
	CHECK_EQ(c.tag, 1);
	CHECK_EQ(c.profile, SRTPX_AES_CM_128_HMAC_SHA1_80);
	/* "PS1u" is 3d 2d 6e; the salt ends "...Q" + "VBR". */
	CHECK_EQ(c.key[0], 0x3d);
	CHECK_EQ(c.key[1], 0x2d);
	CHECK_EQ(c.key[2], 0x6e);
	CHECK_EQ(sdes_format(out, sizeof(out), &c), 0);
	CHECK_STR(out, "1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80);

	CHECK_EQ(sdes_parse("2 AES_CM_128_HMAC_SHA1_32 inline:" KEY32 "|2^31",
	                    &c, &why),
	         0);
	CHECK_EQ(c.tag, 2);
	CHECK_EQ(c.profile, SRTPX_AES_CM_128_HMAC_SHA1_32);
	CHECK_EQ(sdes_format(out, sizeof(out), &c), 0);
	CHECK_STR(out, "2 AES_CM_128_HMAC_SHA1_32 inline:" KEY32);
	return 0;
}

TEST(accepted_forms)
{
	const char *why;

	CHECK_EQ(parse("999999999 AES_CM_128_HMAC_SHA1_80 inline:" KEY80, &why),
	         0);
	CHECK_EQ(parse("1  AES_CM_128_HMAC_SHA1_80\tinline:" KEY80 "  ", &why),
	         0);
	CHECK_EQ(parse("1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|2^48", &why),
	         0);
	CHECK_EQ(parse("1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|2147483648",
	               &why),
	         0);
	CHECK_EQ(
	    parse("1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " KDR=0", &why), 0);
	CHECK_EQ(
	    parse("1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " WSH=128", &why),
	    0);
	return 0;
}

TEST(refused_with_reason)
{
	static const struct {
		const char *v;
		int err;
		const char *why;
	} cases[] = {
	    {"", EBADMSG, "malformed tag"},
	    {"x AES_CM_128_HMAC_SHA1_80 inline:" KEY80, EBADMSG,
	     "malformed tag"},
	    {"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" KEY80, EBADMSG,
	     "malformed tag"},
	    {"1", EBADMSG, "no crypto suite"},
	    {"1 AES_CM_128_HMAC_SHA1_80", EBADMSG, "no key"},
	    {"1 AES_256_CM_HMAC_SHA1_80 inline:" KEY80, ENOTSUP,
	     "crypto suite not supported"},
	    {"1 F8_128_HMAC_SHA1_80 inline:" KEY80, ENOTSUP,
	     "crypto suite not supported"},
	    {"1 AEAD_AES_128_GCM inline:" KEY80, ENOTSUP,
	     "crypto suite not supported"},
	    {"1 aes_cm_128_hmac_sha1_80 inline:" KEY80, ENOTSUP,
	     "crypto suite not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 uri:http://x/" KEY80, EBADMSG,
	     "key method is not inline"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1u", EBADMSG,
	     "key is not 40 base64 characters"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "A", EBADMSG,
	     "key is not 40 base64 characters"},
	    {"1 AES_CM_128_HMAC_SHA1_80 "
	     "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaV*R",
	     EBADMSG, "key is not base64 of 30 bytes"},
	    {"1 AES_CM_128_HMAC_SHA1_80 "
	     "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxa===",
	     EBADMSG, "key is not base64 of 30 bytes"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 ";inline:" KEY32,
	     ENOTSUP, "more than one key"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|2^20|1:4", ENOTSUP,
	     "key lifetime below 2^31 packets"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|2^31|1:1", ENOTSUP,
	     "MKI not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_32 inline:" KEY32 "|1:32", ENOTSUP,
	     "MKI not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|1:0", EBADMSG,
	     "malformed MKI"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|1:200", EBADMSG,
	     "malformed MKI"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|1:1|2^31", EBADMSG,
	     "malformed MKI"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|2^31|2^31", EBADMSG,
	     "malformed key parameters"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|", EBADMSG,
	     "malformed key parameters"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|2^x", EBADMSG,
	     "malformed key lifetime"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "|1048576", ENOTSUP,
	     "key lifetime below 2^31 packets"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " KDR=1", ENOTSUP,
	     "KDR not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " KDR=x", EBADMSG,
	     "malformed KDR"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " WSH=8", EBADMSG,
	     "malformed WSH"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " UNENCRYPTED_SRTP",
	     ENOTSUP, "unencrypted SRTP not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " UNENCRYPTED_SRTCP",
	     ENOTSUP, "unencrypted SRTP not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " UNAUTHENTICATED_SRTP",
	     ENOTSUP, "unauthenticated SRTP not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " FEC_ORDER=FEC_SRTP",
	     ENOTSUP, "FEC parameters not supported"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 " FOO=1", ENOTSUP,
	     "unknown session parameter"},
	};
	struct sdes_crypto c;
	static const uint8_t zero[sizeof(c)];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;

		memset(&c, 0xa5, sizeof(c));
		if (sdes_parse(cases[i].v, &c, &why) != cases[i].err || !why ||
		    strcmp(why, cases[i].why))
			TEST_FAIL("refused_with_reason", "%s: %s", cases[i].v,
			          why ? why : "(no reason)");
		/* No key bytes left behind on a refusal. */
		CHECK(!memcmp(&c, zero, sizeof(c)));
	}
	CHECK_EQ(sdes_parse(NULL, &c, NULL), EINVAL);
	return 0;
}

TEST(make_and_round_trip)
{
	struct sdes_crypto a, b, r;
	char out[SDES_VALUE_MAX];
	const char *why = NULL;

	CHECK_EQ(sdes_make(&a, 1, SRTPX_AES_CM_128_HMAC_SHA1_80), 0);
	CHECK_EQ(sdes_make(&b, 2, SRTPX_AES_CM_128_HMAC_SHA1_32), 0);
	CHECK(memcmp(a.key, b.key, SDES_KEY_LEN) != 0);
	CHECK_EQ(sdes_format(out, sizeof(out), &b), 0);
	CHECK_EQ(sdes_parse(out, &r, &why), 0);
	CHECK_EQ(r.tag, 2);
	CHECK_EQ(r.profile, SRTPX_AES_CM_128_HMAC_SHA1_32);
	CHECK(!memcmp(r.key, b.key, SDES_KEY_LEN));

	CHECK_EQ(sdes_make(&a, 1, SRTPX_AEAD_AES_128_GCM), EINVAL);
	CHECK_EQ(sdes_make(&a, 1000000000u, SRTPX_AES_CM_128_HMAC_SHA1_80),
	         EINVAL);
	CHECK_EQ(sdes_format(out, 20, &b), ENOSPC);
	CHECK_EQ(out[0], '\0');
	b.profile = SRTPX_AEAD_AES_128_GCM;
	CHECK_EQ(sdes_format(out, sizeof(out), &b), EINVAL);
	return 0;
}

TEST(srtpx_prm_keys)
{
	struct sdes_crypto a, b;
	struct srtpx_prm prm;
	struct srtpx s;

	memset(&s, 0, sizeof(s));
	CHECK_EQ(sdes_make(&a, 1, SRTPX_AES_CM_128_HMAC_SHA1_32), 0);
	CHECK_EQ(sdes_make(&b, 1, SRTPX_AES_CM_128_HMAC_SHA1_32), 0);
	sdes_srtpx_prm(&prm, a.profile, a.key, b.key);
	CHECK(prm.local.key == a.key);
	CHECK(prm.local.salt == a.key + 16);
	CHECK(prm.remote.key == b.key);
	CHECK_EQ(prm.remote.salt_len, 14);
	CHECK_EQ(srtpx_init(&s, &prm, NULL), 0);
	srtpx_reset(&s);
	return 0;
}

TEST(policy_names)
{
	enum sdes_policy p = SDES_REQUIRE;

	CHECK_EQ(sdes_policy_by_name("", &p), 0);
	CHECK_EQ(p, SDES_DISABLE);
	CHECK_EQ(sdes_policy_by_name("SIP_MEDIA_ENCRYPT_ALLOW", &p), 0);
	CHECK_EQ(p, SDES_ALLOW);
	CHECK_EQ(sdes_policy_by_name("SIP_MEDIA_ENCRYPT_REQUIRE", &p), 0);
	CHECK_EQ(p, SDES_REQUIRE);
	CHECK_EQ(sdes_policy_by_name("1", &p), 0);
	CHECK_EQ(p, SDES_ALLOW);
	CHECK_EQ(sdes_policy_by_name("SIP_MEDIA_ENCRYPT_DISABLE", &p), 0);
	CHECK_EQ(p, SDES_DISABLE);
	CHECK_EQ(sdes_policy_by_name("3", &p), EINVAL);
	CHECK_EQ(sdes_policy_by_name("sip_media_encrypt_allow", &p), EINVAL);
	CHECK_STR(sdes_policy_name(SDES_REQUIRE), "SIP_MEDIA_ENCRYPT_REQUIRE");
	return 0;
}

int main(void)
{
	RUN(rfc4568_values);
	RUN(accepted_forms);
	RUN(refused_with_reason);
	RUN(make_and_round_trip);
	RUN(srtpx_prm_keys);
	RUN(policy_names);
	TEST_EXIT();
}
