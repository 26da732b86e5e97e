/*
 * SRTP contexts: round trips for each profile, the refusals and their
 * counters, the replay windows and the SSRC table, known-answer vectors,
 * the same packets through libsrtp2 (what libwebrtc uses) and through
 * libre's own SRTP, and no allocation in the packet calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <srtp2/srtp.h>
#include "webrtc/srtpx.h"
#include "allocs.h"
#include "test.h"

static const enum srtpx_profile all[] = {
    SRTPX_AEAD_AES_128_GCM,
    SRTPX_AES_CM_128_HMAC_SHA1_80,
    SRTPX_AES_CM_128_HMAC_SHA1_32,
};
#define NALL (sizeof(all) / sizeof(all[0]))

static const uint8_t key1[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t salt1[14] = {21, 22, 23, 24, 25, 26, 27,
                                  28, 29, 30, 31, 32, 33, 34};
static const uint8_t key2[16] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
                                 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac,
                                 0xad, 0xae, 0xaf, 0xb0};
static const uint8_t salt2[14] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
                                  0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce};

static struct srtpx_keys keys(enum srtpx_profile p, const uint8_t *k,
                              const uint8_t *s)
{
	return (struct srtpx_keys){k, srtpx_key_len(p), s, srtpx_salt_len(p)};
}

/* a sends with key1 and hears key2; b the other way round. */
static int pair(struct srtpx *a, struct srtpx *b, enum srtpx_profile p)
{
	struct srtpx_prm pa = {p, keys(p, key1, salt1), keys(p, key2, salt2),
	                       0};
	struct srtpx_prm pb = {p, keys(p, key2, salt2), keys(p, key1, salt1),
	                       0};
	const char *why = NULL;
	int err;

	err = srtpx_init(a, &pa, &why);
	if (!err)
		err = srtpx_init(b, &pb, &why);
	if (err)
		printf("# srtpx_init: %s\n", why ? why : "?");
	return err;
}

/* 172 bytes: a 12-byte header and 160 bytes of PCMU. */
static size_t make_rtp(uint8_t *b, uint16_t seq, uint32_t ssrc)
{
	b[0] = 0x80;
	b[1] = 0;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	b[4] = (uint8_t)(seq >> 4);
	b[5] = b[6] = 0;
	b[7] = (uint8_t)(seq * 160);
	b[8] = (uint8_t)(ssrc >> 24);
	b[9] = (uint8_t)(ssrc >> 16);
	b[10] = (uint8_t)(ssrc >> 8);
	b[11] = (uint8_t)ssrc;
	for (int i = 0; i < 160; i++)
		b[12 + i] = (uint8_t)(0xff - i - seq);
	return 172;
}

/* A 28-byte sender report. */
static size_t make_rtcp(uint8_t *b, uint32_t ssrc)
{
	static const uint8_t sr[28] = {0x80, 0xc8, 0x00, 0x06};

	memcpy(b, sr, sizeof(sr));
	b[4] = (uint8_t)(ssrc >> 24);
	b[5] = (uint8_t)(ssrc >> 16);
	b[6] = (uint8_t)(ssrc >> 8);
	b[7] = (uint8_t)ssrc;
	for (int i = 8; i < 28; i++)
		b[i] = (uint8_t)(i * 7);
	return 28;
}

TEST(round_trip_each_profile)
{
	static const size_t rtp_tag[] = {16, 10, 4}, rtcp_tag[] = {16, 10, 10};

	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t plain[256], buf[256];
		size_t n, len;

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		CHECK_EQ(srtpx_trailer(&a, false), rtp_tag[i]);
		CHECK_EQ(srtpx_trailer(&a, true), rtcp_tag[i] + 4);
		for (uint16_t seq = 100; seq < 110; seq++) {
			n = make_rtp(plain, seq, 0x11223344);
			memcpy(buf, plain, n);
			len = n;
			CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)),
			         0);
			CHECK_EQ(len, n + rtp_tag[i]);
			CHECK(memcmp(buf, plain, 12) == 0);
			CHECK(memcmp(buf + 12, plain + 12, n - 12) != 0);
			CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), 0);
			CHECK_EQ(len, n);
			CHECK(memcmp(buf, plain, n) == 0);
		}
		/* and back, b to a */
		n = make_rtp(plain, 7, 0x55667788);
		memcpy(buf, plain, n);
		len = n;
		CHECK_EQ(srtpx_protect_rtp(&b, buf, &len, sizeof(buf)), 0);
		CHECK_EQ(srtpx_unprotect_rtp(&a, buf, &len), 0);
		CHECK(len == n && memcmp(buf, plain, n) == 0);

		for (int k = 0; k < 3; k++) {
			n = make_rtcp(plain, 0x11223344);
			memcpy(buf, plain, n);
			len = n;
			CHECK_EQ(srtpx_protect_rtcp(&a, buf, &len, sizeof(buf)),
			         0);
			CHECK_EQ(len, n + rtcp_tag[i] + 4);
			CHECK(memcmp(buf, plain, 8) == 0);
			CHECK(memcmp(buf + 8, plain + 8, n - 8) != 0);
			CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), 0);
			CHECK_EQ(len, n);
			CHECK(memcmp(buf, plain, n) == 0);
		}
		CHECK_EQ(srtpx_stats(&a)->tx, 13);
		CHECK_EQ(srtpx_stats(&a)->rx, 1);
		CHECK_EQ(srtpx_stats(&b)->tx, 1);
		CHECK_EQ(srtpx_stats(&b)->rx, 13);
		CHECK_EQ(srtpx_stats(&b)->auth_fail + srtpx_stats(&b)->replay +
		             srtpx_stats(&b)->bad_len + srtpx_stats(&b)->other,
		         0);
		srtpx_reset(&a);
		srtpx_reset(&b);
		CHECK(a.tx == NULL && a.rx == NULL && a.st.tx == 0);
		CHECK(b.nssrc == 0);
	}
	return 0;
}

/* The sequence number wraps: the rollover counter moves on both sides. */
TEST(sequence_rollover)
{
	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t plain[256], buf[256];

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		for (unsigned k = 0; k < 20; k++) {
			uint16_t seq = (uint16_t)(65526 + k);
			size_t n = make_rtp(plain, seq, 42), len = n;

			memcpy(buf, plain, n);
			CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)),
			         0);
			CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), 0);
			CHECK(len == n && memcmp(buf, plain, n) == 0);
		}
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

/* A bit flipped anywhere (header, payload, SRTCP index, tag) fails
 * authentication and is counted; the intact packet still gets through. */
TEST(flipped_bit_fails_auth)
{
	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t sealed[256], buf[256];
		size_t n, len, fails = 0;

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		n = make_rtp(sealed, 1000, 9);
		CHECK_EQ(srtpx_protect_rtp(&a, sealed, &n, sizeof(sealed)), 0);
		for (size_t at = 0; at < n; at += 13) {
			memcpy(buf, sealed, n);
			buf[at] ^= 0x08;
			len = n;
			CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EBADMSG);
			CHECK_EQ(len, n);
			fails++;
		}
		memcpy(buf, sealed, n);
		buf[n - 1] ^= 0x80; /* the tag's last bit */
		len = n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EBADMSG);
		fails++;
		CHECK_EQ(srtpx_stats(&b)->auth_fail, fails);
		CHECK_EQ(srtpx_stats(&b)->rx, 0);
		memcpy(buf, sealed, n);
		len = n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), 0);

		n = make_rtcp(sealed, 9);
		CHECK_EQ(srtpx_protect_rtcp(&a, sealed, &n, sizeof(sealed)), 0);
		for (size_t at = 0; at < n; at += 5) {
			memcpy(buf, sealed, n);
			buf[at] ^= 0x01;
			len = n;
			CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), EBADMSG);
			fails++;
		}
		/* SRTCP's E flag (encrypted or not): a changed one is
		 * refused before the tag is checked, as libsrtp2 does. It
		 * leads the index word, which GCM puts after its tag and CM
		 * before. */
		memcpy(buf, sealed, n);
		buf[all[i] == SRTPX_AEAD_AES_128_GCM
		        ? n - 4
		        : n - srtpx_trailer(&a, true)] ^= 0x80;
		len = n;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), EBADMSG);
		fails++;
		CHECK_EQ(srtpx_stats(&b)->auth_fail, fails);
		memcpy(buf, sealed, n);
		len = n;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), 0);
		CHECK_EQ(srtpx_stats(&b)->rx, 2);
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

TEST(replay_refused)
{
	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t copy[256], late[256], old[256], buf[256];
		size_t n, copy_n = 0, late_n = 0, old_n = 0;

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		for (uint16_t seq = 1; seq <= 300; seq++) {
			n = make_rtp(buf, seq, 77);
			CHECK_EQ(srtpx_protect_rtp(&a, buf, &n, sizeof(buf)),
			         0);
			if (seq == 10) { /* never delivered in time */
				memcpy(old, buf, n);
				old_n = n;
				continue;
			}
			if (seq == 250) { /* arrives after 300 */
				memcpy(late, buf, n);
				late_n = n;
				continue;
			}
			if (seq == 299) {
				memcpy(copy, buf, n);
				copy_n = n;
			}
			CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &n), 0);
		}
		/* the same packet again */
		n = copy_n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, copy, &n), EALREADY);
		CHECK_EQ(n, copy_n);
		/* late but inside the 128-packet window: taken, once */
		memcpy(buf, late, late_n);
		n = late_n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &n), 0);
		n = late_n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, late, &n), EALREADY);
		/* 290 behind: older than the window */
		n = old_n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, old, &n), EALREADY);
		CHECK_EQ(srtpx_stats(&b)->replay, 3);

		/* SRTCP has its own index and window */
		n = make_rtcp(copy, 77);
		CHECK_EQ(srtpx_protect_rtcp(&a, copy, &n, sizeof(copy)), 0);
		memcpy(buf, copy, n);
		copy_n = n;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &n), 0);
		n = copy_n;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, copy, &n), EALREADY);
		CHECK_EQ(srtpx_stats(&b)->replay, 4);
		CHECK_EQ(srtpx_stats(&b)->auth_fail, 0);

		/* our own side refuses to send a sequence number twice */
		n = make_rtp(buf, 299, 77);
		CHECK_EQ(srtpx_protect_rtp(&a, buf, &n, sizeof(buf)), EALREADY);
		CHECK_EQ(n, 172);
		CHECK_EQ(srtpx_stats(&a)->tx_fail, 1);
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

TEST(truncated_and_malformed_refused)
{
	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t sealed[256], buf[256];
		size_t n, len, tag, bad = 0;

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		tag = srtpx_trailer(&a, false);
		n = make_rtp(sealed, 5, 1);
		CHECK_EQ(srtpx_protect_rtp(&a, sealed, &n, sizeof(sealed)), 0);

		/* one byte short: the tag no longer matches */
		memcpy(buf, sealed, n);
		len = n - 1;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EBADMSG);
		CHECK_EQ(len, n - 1);
		/* no room for header and tag, down to nothing */
		size_t cuts[] = {12 + tag - 1, 12, 11, 1, 0};
		for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
			memcpy(buf, sealed, n);
			len = cuts[k];
			CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EMSGSIZE);
			bad++;
		}
		/* 15 CSRCs announced in a packet that holds 2 */
		memcpy(buf, sealed, n);
		buf[0] |= 0x0f;
		len = 12 + 8 + tag;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EMSGSIZE);
		bad++;
		/* a header extension longer than the packet */
		memcpy(buf, sealed, n);
		buf[0] = 0x90;
		buf[12] = 0xbe;
		buf[13] = 0xde;
		buf[14] = 0xff;
		buf[15] = 0xff;
		len = n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EMSGSIZE);
		bad++;
		/* longer than any datagram */
		uint8_t *big = calloc(1, SRTPX_MAX_PACKET + 1);
		CHECK(big != NULL);
		memcpy(big, sealed, n);
		len = SRTPX_MAX_PACKET + 1;
		CHECK_EQ(srtpx_unprotect_rtp(&b, big, &len), EMSGSIZE);
		free(big);
		bad++;
		/* SRTCP shorter than header, index and tag */
		n = make_rtcp(sealed, 1);
		CHECK_EQ(srtpx_protect_rtcp(&a, sealed, &n, sizeof(sealed)), 0);
		len = 8 + 4 + srtpx_trailer(&a, true) - 4 - 1;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, sealed, &len), EMSGSIZE);
		bad++;
		len = 3;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, sealed, &len), EMSGSIZE);
		bad++;
		CHECK_EQ(srtpx_stats(&b)->bad_len, bad);
		CHECK_EQ(srtpx_stats(&b)->auth_fail, 1);
		CHECK_EQ(srtpx_stats(&b)->rx, 0);
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

TEST(wrong_key_refused)
{
	static const uint8_t key3[16] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
	                                 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac,
	                                 0xad, 0xae, 0xaf, 0xb1};
	static const uint8_t salt3[14] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5,
	                                  0xc6, 0xc7, 0xc8, 0xc9, 0xca,
	                                  0xcb, 0xcc, 0xcd, 0xcf};

	for (size_t i = 0; i < NALL; i++) {
		enum srtpx_profile p = all[i];
		/* b hears a key differing in its last bit, c a salt */
		struct srtpx_prm pa = {p, keys(p, key2, salt2),
		                       keys(p, key1, salt1), 0};
		struct srtpx_prm pb = {p, keys(p, key1, salt1),
		                       keys(p, key3, salt2), 0};
		struct srtpx_prm pc = {p, keys(p, key1, salt1),
		                       keys(p, key2, salt3), 0};
		struct srtpx a = {0}, b = {0}, c = {0};
		uint8_t sealed[256], buf[256];
		size_t n, len;

		/* GCM's salt is 12 bytes: make the difference fall in it */
		if (p == SRTPX_AEAD_AES_128_GCM)
			pc.remote.salt = salt1;
		CHECK_EQ(srtpx_init(&a, &pa, NULL), 0);
		CHECK_EQ(srtpx_init(&b, &pb, NULL), 0);
		CHECK_EQ(srtpx_init(&c, &pc, NULL), 0);
		n = make_rtp(sealed, 1, 3);
		CHECK_EQ(srtpx_protect_rtp(&a, sealed, &n, sizeof(sealed)), 0);
		memcpy(buf, sealed, n);
		len = n;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EBADMSG);
		memcpy(buf, sealed, n);
		len = n;
		CHECK_EQ(srtpx_unprotect_rtp(&c, buf, &len), EBADMSG);
		n = make_rtcp(sealed, 3);
		CHECK_EQ(srtpx_protect_rtcp(&a, sealed, &n, sizeof(sealed)), 0);
		memcpy(buf, sealed, n);
		len = n;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), EBADMSG);
		memcpy(buf, sealed, n);
		len = n;
		CHECK_EQ(srtpx_unprotect_rtcp(&c, buf, &len), EBADMSG);
		CHECK_EQ(srtpx_stats(&b)->auth_fail, 2);
		CHECK_EQ(srtpx_stats(&c)->auth_fail, 2);
		srtpx_reset(&a);
		srtpx_reset(&b);
		srtpx_reset(&c);
	}
	/* the same keys under another profile do not open it either */
	{
		struct srtpx a = {0}, b = {0}, c = {0}, d = {0};
		uint8_t buf[256];
		size_t len;

		CHECK_EQ(pair(&a, &b, SRTPX_AES_CM_128_HMAC_SHA1_80), 0);
		CHECK_EQ(pair(&c, &d, SRTPX_AES_CM_128_HMAC_SHA1_32), 0);
		len = make_rtp(buf, 1, 3);
		CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)), 0);
		CHECK_EQ(srtpx_unprotect_rtp(&d, buf, &len), EBADMSG);
		srtpx_reset(&a);
		srtpx_reset(&b);
		srtpx_reset(&c);
		srtpx_reset(&d);
	}
	return 0;
}

/*
 * Known answers from libsrtp's test/srtp_driver.c (srtp_validate,
 * srtp_validate_gcm), checked again below against libre's code. The CM
 * master key and salt are RFC 3711 B.3's, so a key and salt swapped or
 * misplaced cannot pass.
 */
static const uint8_t kat_key[16] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01,
                                    0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c,
                                    0x06, 0xde, 0x41, 0x39};
static const uint8_t kat_salt[14] = {0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe,
                                     0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
static const uint8_t kat_gcm_key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
                                        0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                        0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t kat_gcm_salt[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                         0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};
static const uint8_t kat_rtp[28] = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb,
                                    0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab,
                                    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
static const uint8_t kat_rtcp[24] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
static const uint8_t kat_cm80_srtp[38] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
    0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8,
    0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d,
    0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb};
static const uint8_t kat_cm80_srtcp[38] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28,
    0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41,
    0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e,
    0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98};
static const uint8_t kat_gcm_srtp[44] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba,
    0xbe, 0xc5, 0x00, 0x2e, 0xde, 0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11,
    0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97, 0x68, 0x26, 0xf7,
    0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92};
static const uint8_t kat_gcm_srtcp[44] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9, 0x8b, 0x8b,
    0x5d, 0xf0, 0x39, 0x2a, 0x55, 0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e,
    0x70, 0x25, 0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3, 0xb4, 0x46, 0xea,
    0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01};

static int check_known_answer(enum srtpx_profile p, const uint8_t *k,
                              const uint8_t *s, const uint8_t *srtp,
                              size_t srtp_n, const uint8_t *srtcp,
                              size_t srtcp_n)
{
	struct srtpx_prm prm = {p, keys(p, k, s), keys(p, k, s), 0};
	struct srtpx tx = {0}, rx = {0};
	uint8_t buf[64];
	size_t len;

	/* one context sends, a second one with the same keys hears it */
	CHECK_EQ(srtpx_init(&tx, &prm, NULL), 0);
	CHECK_EQ(srtpx_init(&rx, &prm, NULL), 0);
	memcpy(buf, kat_rtp, sizeof(kat_rtp));
	len = sizeof(kat_rtp);
	CHECK_EQ(srtpx_protect_rtp(&tx, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(len, srtp_n);
	CHECK(memcmp(buf, srtp, srtp_n) == 0);
	CHECK_EQ(srtpx_unprotect_rtp(&rx, buf, &len), 0);
	CHECK(len == sizeof(kat_rtp) && memcmp(buf, kat_rtp, len) == 0);

	memcpy(buf, kat_rtcp, sizeof(kat_rtcp));
	len = sizeof(kat_rtcp);
	CHECK_EQ(srtpx_protect_rtcp(&tx, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(len, srtcp_n);
	CHECK(memcmp(buf, srtcp, srtcp_n) == 0);
	CHECK_EQ(srtpx_unprotect_rtcp(&rx, buf, &len), 0);
	CHECK(len == sizeof(kat_rtcp) && memcmp(buf, kat_rtcp, len) == 0);
	srtpx_reset(&tx);
	srtpx_reset(&rx);
	return 0;
}

TEST(known_answers)
{
	CHECK_EQ(check_known_answer(SRTPX_AES_CM_128_HMAC_SHA1_80, kat_key,
	                            kat_salt, kat_cm80_srtp,
	                            sizeof(kat_cm80_srtp), kat_cm80_srtcp,
	                            sizeof(kat_cm80_srtcp)),
	         0);
	CHECK_EQ(check_known_answer(SRTPX_AEAD_AES_128_GCM, kat_gcm_key,
	                            kat_gcm_salt, kat_gcm_srtp,
	                            sizeof(kat_gcm_srtp), kat_gcm_srtcp,
	                            sizeof(kat_gcm_srtcp)),
	         0);
	/* _32 is _80 with the RTP tag cut to 4 bytes; SRTCP's stays 10 */
	{
		enum srtpx_profile p = SRTPX_AES_CM_128_HMAC_SHA1_32;
		struct srtpx_prm prm = {p, keys(p, kat_key, kat_salt),
		                        keys(p, kat_key, kat_salt), 0};
		struct srtpx tx = {0};
		uint8_t buf[64];
		size_t len = sizeof(kat_rtp);

		CHECK_EQ(srtpx_init(&tx, &prm, NULL), 0);
		memcpy(buf, kat_rtp, len);
		CHECK_EQ(srtpx_protect_rtp(&tx, buf, &len, sizeof(buf)), 0);
		CHECK_EQ(len, 28 + 4);
		CHECK(memcmp(buf, kat_cm80_srtp, len) == 0);
		len = sizeof(kat_rtcp);
		memcpy(buf, kat_rtcp, len);
		CHECK_EQ(srtpx_protect_rtcp(&tx, buf, &len, sizeof(buf)), 0);
		CHECK_EQ(len, sizeof(kat_cm80_srtcp));
		CHECK(memcmp(buf, kat_cm80_srtcp, len) == 0);
		srtpx_reset(&tx);
	}
	return 0;
}

/* libre's SRTP (re_srtp.h): key and salt in one buffer. */
static int libre_seal(enum srtp_suite suite, enum srtpx_profile p,
                      const uint8_t *k, const uint8_t *s, bool rtcp, bool open,
                      uint8_t *buf, size_t *len)
{
	uint8_t ks[32];
	struct srtp *re_s = NULL;
	struct mbuf *mb = mbuf_alloc(256);
	size_t kl = srtpx_key_len(p), sl = srtpx_salt_len(p);
	int err;

	memcpy(ks, k, kl);
	memcpy(ks + kl, s, sl);
	err = mb ? srtp_alloc(&re_s, suite, ks, kl + sl, 0) : ENOMEM;
	if (!err)
		err = mbuf_write_mem(mb, buf, *len);
	if (!err) {
		mb->pos = 0;
		if (open)
			err = rtcp ? srtcp_decrypt(re_s, mb)
			           : srtp_decrypt(re_s, mb);
		else
			err = rtcp ? srtcp_encrypt(re_s, mb)
			           : srtp_encrypt(re_s, mb);
	}
	if (!err) {
		memcpy(buf, mb->buf, mb->end);
		*len = mb->end;
	}
	mem_deref(re_s);
	mem_deref(mb);
	return err;
}

/*
 * libre's SRTP is a second implementation on OpenSSL: both must make the
 * same bytes of the same packet and open each other's, for every profile.
 * One known difference: libre cuts SRTCP's tag to 32 bits under _32 too.
 */
TEST(agrees_with_libre)
{
	static const enum srtp_suite suites[] = {
	    SRTP_AES_128_GCM,
	    SRTP_AES_CM_128_HMAC_SHA1_80,
	    SRTP_AES_CM_128_HMAC_SHA1_32,
	};

	for (size_t i = 0; i < NALL; i++) {
		enum srtpx_profile p = all[i];
		struct srtpx a = {0}, b = {0};
		uint8_t plain[256], ours[256], theirs[256];
		size_t n, ours_n, theirs_n;

		/* a sends with key1, b sends with key2 */
		CHECK_EQ(pair(&a, &b, p), 0);
		n = make_rtp(plain, 4242, 0xdeadbeef);
		memcpy(ours, plain, n);
		ours_n = n;
		CHECK_EQ(srtpx_protect_rtp(&a, ours, &ours_n, sizeof(ours)), 0);
		memcpy(theirs, plain, n);
		theirs_n = n;
		CHECK_EQ(libre_seal(suites[i], p, key1, salt1, false, false,
		                    theirs, &theirs_n),
		         0);
		CHECK_EQ(theirs_n, ours_n);
		CHECK(memcmp(theirs, ours, ours_n) == 0);
		/* libre opens ours */
		CHECK_EQ(libre_seal(suites[i], p, key1, salt1, false, true,
		                    ours, &ours_n),
		         0);
		CHECK(ours_n == n && memcmp(ours, plain, n) == 0);
		/* we open libre's, sealed with the key b sends with */
		theirs_n = make_rtp(theirs, 17, 0x01020304);
		CHECK_EQ(libre_seal(suites[i], p, key2, salt2, false, false,
		                    theirs, &theirs_n),
		         0);
		CHECK_EQ(srtpx_unprotect_rtp(&a, theirs, &theirs_n), 0);
		make_rtp(plain, 17, 0x01020304);
		CHECK(theirs_n == n && memcmp(theirs, plain, n) == 0);

		/* SRTCP */
		n = make_rtcp(plain, 0xdeadbeef);
		memcpy(ours, plain, n);
		ours_n = n;
		CHECK_EQ(srtpx_protect_rtcp(&a, ours, &ours_n, sizeof(ours)),
		         0);
		memcpy(theirs, plain, n);
		theirs_n = n;
		CHECK_EQ(libre_seal(suites[i], p, key1, salt1, true, false,
		                    theirs, &theirs_n),
		         0);
		if (p == SRTPX_AES_CM_128_HMAC_SHA1_32) {
			/* the same bytes up to the first 4 of our 10-byte tag */
			CHECK_EQ(theirs_n, n + 4 + 4);
			CHECK_EQ(ours_n, n + 4 + 10);
			CHECK(memcmp(theirs, ours, theirs_n) == 0);
		} else {
			CHECK_EQ(theirs_n, ours_n);
			CHECK(memcmp(theirs, ours, ours_n) == 0);
			CHECK_EQ(libre_seal(suites[i], p, key1, salt1, true,
			                    true, ours, &ours_n),
			         0);
			CHECK(ours_n == n && memcmp(ours, plain, n) == 0);
			theirs_n = make_rtcp(theirs, 0x01020304);
			CHECK_EQ(libre_seal(suites[i], p, key2, salt2, true,
			                    false, theirs, &theirs_n),
			         0);
			CHECK_EQ(srtpx_unprotect_rtcp(&a, theirs, &theirs_n),
			         0);
			make_rtcp(plain, 0x01020304);
			CHECK(theirs_n == n && memcmp(theirs, plain, n) == 0);
		}
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

/* The trailer fits exactly in cap; one byte less is refused untouched. */
TEST(room_for_the_trailer)
{
	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t plain[256];

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		for (int rtcp = 0; rtcp < 2; rtcp++) {
			size_t n =
			    rtcp ? make_rtcp(plain, 8) : make_rtp(plain, 8, 8);
			size_t cap = n + srtpx_trailer(&a, rtcp);
			uint8_t *buf = malloc(cap); /* ASan sees any overrun */
			size_t len = n;

			CHECK(cap <= n + SRTPX_MAX_TRAILER);
			CHECK(buf != NULL);
			memcpy(buf, plain, n);
			CHECK_EQ(
			    rtcp ? srtpx_protect_rtcp(&a, buf, &len, cap - 1)
			         : srtpx_protect_rtp(&a, buf, &len, cap - 1),
			    ENOBUFS);
			CHECK(len == n && memcmp(buf, plain, n) == 0);
			CHECK_EQ(rtcp ? srtpx_protect_rtcp(&a, buf, &len, cap)
			              : srtpx_protect_rtp(&a, buf, &len, cap),
			         0);
			CHECK_EQ(len, cap);
			CHECK_EQ(rtcp ? srtpx_unprotect_rtcp(&b, buf, &len)
			              : srtpx_unprotect_rtp(&b, buf, &len),
			         0);
			CHECK(len == n && memcmp(buf, plain, n) == 0);
			free(buf);
		}
		/* our own malformed packets */
		size_t len = 11;
		CHECK_EQ(srtpx_protect_rtp(&a, plain, &len, sizeof(plain)),
		         EMSGSIZE);
		len = make_rtp(plain, 9, 8);
		plain[0] |= 0x0f;
		len = 20;
		CHECK_EQ(srtpx_protect_rtp(&a, plain, &len, sizeof(plain)),
		         EMSGSIZE);
		len = 7;
		CHECK_EQ(srtpx_protect_rtcp(&a, plain, &len, sizeof(plain)),
		         EMSGSIZE);
		CHECK_EQ(srtpx_stats(&a)->tx_fail, 5);
		CHECK_EQ(srtpx_stats(&a)->tx, 2);
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

TEST(ssrc_limit)
{
	struct srtpx a = {0}, b = {0}, a2 = {0}, c = {0};
	uint8_t buf[256];
	size_t len;

	CHECK_EQ(pair(&a, &b, SRTPX_AES_CM_128_HMAC_SHA1_80), 0);
	/* a2 sends with a's keys: the peer's own SSRC limit is not ours */
	CHECK_EQ(pair(&a2, &c, SRTPX_AES_CM_128_HMAC_SHA1_80), 0);
	for (uint32_t ssrc = 1000; ssrc < 1000 + SRTPX_MAX_SSRC; ssrc++) {
		len = make_rtp(buf, 1, ssrc);
		CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)), 0);
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), 0);
	}
	CHECK_EQ(b.nssrc, SRTPX_MAX_SSRC);
	/* we send from as many SSRCs at most */
	len = make_rtp(buf, 1, 5);
	CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)), ENOSPC);
	CHECK_EQ(len, 172);
	len = make_rtcp(buf, 6);
	CHECK_EQ(srtpx_protect_rtcp(&a, buf, &len, sizeof(buf)), ENOSPC);
	CHECK_EQ(srtpx_stats(&a)->tx_fail, 2);
	/* one more from the peer, by RTP then by RTCP */
	len = make_rtp(buf, 1, 5);
	CHECK_EQ(srtpx_protect_rtp(&a2, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), ENOSPC);
	len = make_rtcp(buf, 6);
	CHECK_EQ(srtpx_protect_rtcp(&a2, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), ENOSPC);
	CHECK_EQ(srtpx_stats(&b)->other, 2);
	/* the ones it holds go on, RTCP from them too */
	len = make_rtp(buf, 2, 1000);
	CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), 0);
	len = make_rtcp(buf, 1000 + SRTPX_MAX_SSRC - 1);
	CHECK_EQ(srtpx_protect_rtcp(&a, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), 0);
	CHECK_EQ(b.nssrc, SRTPX_MAX_SSRC);
	srtpx_reset(&a2);
	srtpx_reset(&c);
	/* forged packets from new SSRCs take no place */
	srtpx_reset(&a);
	srtpx_reset(&b);
	CHECK_EQ(pair(&a, &b, SRTPX_AES_CM_128_HMAC_SHA1_80), 0);
	for (uint32_t ssrc = 1; ssrc <= 2 * SRTPX_MAX_SSRC; ssrc++) {
		len = make_rtp(buf, 1, ssrc) + 10;
		CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), EBADMSG);
		len = make_rtcp(buf, ssrc);
		buf[len] = 0x80; /* E flag and an index, a tag of zeros */
		memset(buf + len + 1, 0, 13);
		len += 14;
		CHECK_EQ(srtpx_unprotect_rtcp(&b, buf, &len), EBADMSG);
	}
	CHECK_EQ(b.nssrc, 0);
	len = make_rtp(buf, 1, 77);
	CHECK_EQ(srtpx_protect_rtp(&a, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtp(&b, buf, &len), 0);
	CHECK_EQ(b.nssrc, 1);
	srtpx_reset(&a);
	srtpx_reset(&b);
	return 0;
}

/*
 * The window is as wide as configured, for RTP and for SRTCP: with one
 * of W packets, the newest and the W - 1 before it are taken, one older
 * is refused; a packet 900 behind passes a window of 1000 only.
 */
TEST(replay_window_width)
{
	static const unsigned windows[] = {0, 1000};

	for (size_t i = 0; i < NALL; i++) {
		for (size_t w = 0; w < 2; w++) {
			enum srtpx_profile p = all[i];
			struct srtpx_prm pa = {p, keys(p, key1, salt1),
			                       keys(p, key2, salt2),
			                       windows[w]};
			struct srtpx_prm pb = {p, keys(p, key2, salt2),
			                       keys(p, key1, salt1),
			                       windows[w]};
			unsigned width = windows[w] ? windows[w] : 128;
			struct srtpx a = {0}, b = {0};
			static uint8_t held[4][256];
			uint8_t buf[256];
			size_t held_n[4], n;
			/* held back: one at the window's edge, one past it,
			 * one 900 behind the last */
			const unsigned last = 1200, edge = last - width + 1,
			               past = last - width, far = last - 900;

			CHECK_EQ(srtpx_init(&a, &pa, NULL), 0);
			CHECK_EQ(srtpx_init(&b, &pb, NULL), 0);
			for (int rtcp = 0; rtcp < 2; rtcp++) {
				for (unsigned k = 1; k <= last; k++) {
					n = rtcp ? make_rtcp(buf, 31)
					         : make_rtp(buf, (uint16_t)k,
					                    31);
					CHECK_EQ(
					    rtcp
					        ? srtpx_protect_rtcp(
					              &a, buf, &n, sizeof(buf))
					        : srtpx_protect_rtp(
					              &a, buf, &n, sizeof(buf)),
					    0);
					int h = k == edge   ? 0
					        : k == past ? 1
					        : k == far  ? 2
					                    : -1;
					if (h >= 0) {
						memcpy(held[h], buf, n);
						held_n[h] = n;
						continue;
					}
					CHECK_EQ(rtcp ? srtpx_unprotect_rtcp(
					                    &b, buf, &n)
					              : srtpx_unprotect_rtp(
					                    &b, buf, &n),
					         0);
				}
				for (int h = 0; h < 3; h++) {
					int want =
					    h == 0 || (h == 2 && width > 900)
					        ? 0
					        : EALREADY;

					n = held_n[h];
					memcpy(buf, held[h], n);
					CHECK_EQ(rtcp ? srtpx_unprotect_rtcp(
					                    &b, buf, &n)
					              : srtpx_unprotect_rtp(
					                    &b, buf, &n),
					         want);
					/* and never twice */
					n = held_n[h];
					memcpy(buf, held[h], n);
					CHECK_EQ(rtcp ? srtpx_unprotect_rtcp(
					                    &b, buf, &n)
					              : srtpx_unprotect_rtp(
					                    &b, buf, &n),
					         EALREADY);
				}
			}
			CHECK_EQ(srtpx_stats(&b)->auth_fail, 0);
			CHECK_EQ(srtpx_stats(&b)->rx,
			         2 * (last - 3) + 2 * (width > 900 ? 2 : 1));
			srtpx_reset(&a);
			srtpx_reset(&b);
		}
	}
	return 0;
}

/* One SSRC's replay window and rollover counter are its own. */
TEST(streams_apart)
{
	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0};
		uint8_t x[256], y[256];
		size_t xn, yn;

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		/* x wraps its sequence numbers, y starts low and stays */
		for (unsigned k = 0; k < 40; k++) {
			xn = make_rtp(x, (uint16_t)(65520 + k), 0xaaaa);
			yn = make_rtp(y, (uint16_t)(10 + k), 0xbbbb);
			CHECK_EQ(srtpx_protect_rtp(&a, x, &xn, sizeof(x)), 0);
			CHECK_EQ(srtpx_protect_rtp(&a, y, &yn, sizeof(y)), 0);
			CHECK_EQ(srtpx_unprotect_rtp(&b, y, &yn), 0);
			CHECK_EQ(srtpx_unprotect_rtp(&b, x, &xn), 0);
		}
		/* the same sequence number from the other SSRC is new */
		xn = make_rtp(x, 30, 0xaaaa); /* ROC 1: x got to 23 */
		yn = make_rtp(y, 30, 0xbbbb); /* ROC 0: sent already */
		CHECK_EQ(srtpx_protect_rtp(&a, x, &xn, sizeof(x)), 0);
		CHECK_EQ(srtpx_protect_rtp(&a, y, &yn, sizeof(y)), EALREADY);
		CHECK_EQ(srtpx_unprotect_rtp(&b, x, &xn), 0);
		CHECK_EQ(b.nssrc, 2);
		srtpx_reset(&a);
		srtpx_reset(&b);
	}
	return 0;
}

/*
 * libsrtp2, what libwebrtc protects with: a session with one direction's
 * keys, set up as the libsrtp2-based srtpx did it.
 */
static const srtp_profile_t ref_profiles[] = {
    [SRTPX_AEAD_AES_128_GCM] = srtp_profile_aead_aes_128_gcm,
    [SRTPX_AES_CM_128_HMAC_SHA1_80] = srtp_profile_aes128_cm_sha1_80,
    [SRTPX_AES_CM_128_HMAC_SHA1_32] = srtp_profile_aes128_cm_sha1_32,
};

static srtp_t ref_session(enum srtpx_profile p, bool inbound, const uint8_t *k,
                          const uint8_t *s)
{
	uint8_t key[SRTPX_MAX_KEY + SRTPX_MAX_SALT];
	srtp_policy_t pol;
	srtp_t ctx = NULL;

	memset(&pol, 0, sizeof(pol));
	if (srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp,
	                                                ref_profiles[p]) ||
	    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp,
	                                                 ref_profiles[p]))
		return NULL;
	memcpy(key, k, srtpx_key_len(p));
	memcpy(key + srtpx_key_len(p), s, srtpx_salt_len(p));
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.key = key;
	pol.window_size = 128;
	if (srtp_create(&ctx, &pol) != srtp_err_status_ok)
		return NULL;
	return ctx;
}

/* One packet of the exchange below. */
struct event {
	bool rtcp;
	uint32_t ssrc;
	uint16_t seq;
};

/*
 * The same packets sealed by srtpx and by libsrtp2 are the same bytes,
 * and each opens the other's: two SSRCs, one wrapping its sequence
 * numbers, sent out of order now and then, SRTCP from both, some
 * packets delivered late; then both refuse the same replays, forgeries
 * and a reused sequence number.
 */
TEST(agrees_with_libsrtp2)
{
	for (size_t i = 0; i < NALL; i++) {
		enum srtpx_profile p = all[i];
		srtp_t ref_tx = ref_session(p, false, key1, salt1);
		srtp_t ref_rx = ref_session(p, true, key1, salt1);
		struct srtpx a = {0}, b = {0};
		_Alignas(8) uint8_t plain[256], ours[256], theirs[256];
		_Alignas(8) uint8_t late_ours[256], late_theirs[256];
		size_t n, late_n = 0;
		int ours_n, theirs_n;
		bool late_rtcp = false;
		unsigned opened = 0;

		CHECK(ref_tx != NULL && ref_rx != NULL);
		CHECK_EQ(pair(&a, &b, p), 0);
		for (unsigned k = 0; k < 200; k++) {
			struct event ev = {k % 5 == 4, k % 2 ? 0x2222 : 0x1111,
			                   0};

			/* 0x1111 from 65480 across the wrap, 0x2222 from
			 * 3; every 10th pair goes out swapped */
			ev.seq =
			    (uint16_t)(k / 2 + (ev.ssrc == 0x1111 ? 65480 : 3));
			if (k % 20 == 6)
				ev.seq++;
			else if (k % 20 == 8)
				ev.seq--;
			n = ev.rtcp ? make_rtcp(plain, ev.ssrc)
			            : make_rtp(plain, ev.seq, ev.ssrc);
			memcpy(ours, plain, n);
			memcpy(theirs, plain, n);
			ours_n = theirs_n = (int)n;
			{
				size_t on = n;

				CHECK_EQ(ev.rtcp
				             ? srtpx_protect_rtcp(&a, ours, &on,
				                                  sizeof(ours))
				             : srtpx_protect_rtp(&a, ours, &on,
				                                 sizeof(ours)),
				         0);
				ours_n = (int)on;
			}
			CHECK_EQ(
			    ev.rtcp
			        ? srtp_protect_rtcp(ref_tx, theirs, &theirs_n)
			        : srtp_protect(ref_tx, theirs, &theirs_n),
			    srtp_err_status_ok);
			CHECK_EQ(ours_n, theirs_n);
			CHECK(memcmp(ours, theirs, (size_t)ours_n) == 0);
			if (k % 9 == 4) { /* this one comes later */
				memcpy(late_ours, ours, (size_t)ours_n);
				memcpy(late_theirs, theirs, (size_t)ours_n);
				late_n = (size_t)ours_n;
				late_rtcp = ev.rtcp;
				continue;
			}
			/* libsrtp2 opens ours, we open libsrtp2's */
			CHECK_EQ(
			    ev.rtcp ? srtp_unprotect_rtcp(ref_rx, ours, &ours_n)
			            : srtp_unprotect(ref_rx, ours, &ours_n),
			    srtp_err_status_ok);
			CHECK(ours_n == (int)n && memcmp(ours, plain, n) == 0);
			{
				size_t tn = (size_t)theirs_n;

				CHECK_EQ(
				    ev.rtcp
				        ? srtpx_unprotect_rtcp(&b, theirs, &tn)
				        : srtpx_unprotect_rtp(&b, theirs, &tn),
				    0);
				CHECK(tn == n && memcmp(theirs, plain, n) == 0);
			}
			opened++;
			if (k % 9 == 7) {
				int ln = (int)late_n;
				size_t tn = late_n;

				CHECK_EQ(late_rtcp
				             ? srtp_unprotect_rtcp(
				                   ref_rx, late_ours, &ln)
				             : srtp_unprotect(ref_rx, late_ours,
				                              &ln),
				         srtp_err_status_ok);
				CHECK_EQ(late_rtcp ? srtpx_unprotect_rtcp(
				                         &b, late_theirs, &tn)
				                   : srtpx_unprotect_rtp(
				                         &b, late_theirs, &tn),
				         0);
				CHECK_EQ((size_t)ln, tn);
				CHECK(memcmp(late_ours, late_theirs, tn) == 0);
				opened++;
			}
		}
		CHECK_EQ(srtpx_stats(&b)->rx, opened);
		CHECK_EQ(b.nssrc, 2);

		/* both refuse the same replay and the same forgery */
		for (int rtcp = 0; rtcp < 2; rtcp++) {
			for (int forge = 0; forge < 2; forge++) {
				size_t on;

				n = rtcp ? make_rtcp(plain, 0x2222)
				         : make_rtp(plain,
				                    (uint16_t)(500 + forge),
				                    0x2222);
				memcpy(ours, plain, n);
				on = n;
				theirs_n = (int)n;
				CHECK_EQ(rtcp ? srtpx_protect_rtcp(
				                    &a, ours, &on, sizeof(ours))
				              : srtpx_protect_rtp(&a, ours, &on,
				                                  sizeof(ours)),
				         0);
				memcpy(theirs, plain, n);
				CHECK_EQ(rtcp ? srtp_protect_rtcp(
				                    ref_tx, theirs, &theirs_n)
				              : srtp_protect(ref_tx, theirs,
				                             &theirs_n),
				         srtp_err_status_ok);
				CHECK(on == (size_t)theirs_n &&
				      memcmp(ours, theirs, on) == 0);
				if (forge) {
					ours[n - 1] ^= 0x20;
					theirs[n - 1] ^= 0x20;
				}
				for (int again = 0; again <= !forge; again++) {
					_Alignas(8) uint8_t c1[256], c2[256];
					size_t cn = on;
					int rn = (int)on;

					memcpy(c1, ours, on);
					memcpy(c2, theirs, on);
					CHECK_EQ(
					    rtcp ? srtp_unprotect_rtcp(ref_rx,
					                               c1, &rn)
					         : srtp_unprotect(ref_rx, c1,
					                          &rn),
					    forge ? srtp_err_status_auth_fail
					    : again
					        ? srtp_err_status_replay_fail
					        : srtp_err_status_ok);
					CHECK_EQ(rtcp ? srtpx_unprotect_rtcp(
					                    &b, c2, &cn)
					              : srtpx_unprotect_rtp(
					                    &b, c2, &cn),
					         forge   ? EBADMSG
					         : again ? EALREADY
					                 : 0);
				}
			}
		}
		/* and the same sequence numbers refused when sending: one
		 * sent already, one older than the window */
		for (int old = 0; old < 2; old++) {
			size_t on;

			n = make_rtp(plain, (uint16_t)(old ? 300 : 500),
			             0x2222);
			memcpy(ours, plain, n);
			memcpy(theirs, plain, n);
			on = n;
			theirs_n = (int)n;
			CHECK_EQ(srtpx_protect_rtp(&a, ours, &on, sizeof(ours)),
			         EALREADY);
			CHECK_EQ(srtp_protect(ref_tx, theirs, &theirs_n),
			         old ? srtp_err_status_replay_old
			             : srtp_err_status_replay_fail);
		}
		srtpx_reset(&a);
		srtpx_reset(&b);
		srtp_dealloc(ref_tx);
		srtp_dealloc(ref_rx);
	}
	return 0;
}

/*
 * protect and unprotect allocate nothing, for every profile, accepted or
 * refused, RTP and SRTCP, the first packet of each SSRC included; prints
 * what a packet costs in this build (ASan and UBSan: several times the
 * release figure of bench/srtpx_bench).
 */
TEST(no_allocation_per_packet)
{
	const unsigned rounds = 3000;

	for (size_t i = 0; i < NALL; i++) {
		struct srtpx a = {0}, b = {0}, c = {0}, d = {0};
		uint8_t buf[256], keep[256];
		unsigned long ok = 0, refused = 0;
		struct timespec t0, t1;
		size_t n, kn;

		CHECK_EQ(pair(&a, &b, all[i]), 0);
		CHECK_EQ(pair(&c, &d, all[i]), 0); /* c sends as a does */
		CHECK(allocs_start());
		for (unsigned r = 0; r < rounds; r++) {
			/* every SSRC there is room for, one packet each in
			 * turn; the first round of them is new to both */
			uint32_t ssrc = 100 + r % SRTPX_MAX_SSRC;
			uint16_t seq = (uint16_t)(r / SRTPX_MAX_SSRC);

			n = make_rtp(buf, seq, ssrc);
			ok += srtpx_protect_rtp(&a, buf, &n, sizeof(buf)) == 0;
			memcpy(keep, buf, n);
			kn = n;
			ok += srtpx_unprotect_rtp(&b, buf, &n) == 0;
			/* refused: the same again, cut, and forged (a
			 * sequence number not seen yet) */
			memcpy(buf, keep, kn);
			n = kn;
			refused += srtpx_unprotect_rtp(&b, buf, &n) == EALREADY;
			n = 11;
			refused += srtpx_unprotect_rtp(&b, buf, &n) == EMSGSIZE;
			keep[2] ^= 0x40;
			n = kn;
			refused += srtpx_unprotect_rtp(&b, keep, &n) == EBADMSG;
			if (r % 4 == 0) {
				n = make_rtcp(buf, ssrc);
				ok += srtpx_protect_rtcp(&a, buf, &n,
				                         sizeof(buf)) == 0;
				memcpy(keep, buf, n);
				kn = n;
				ok += srtpx_unprotect_rtcp(&b, buf, &n) == 0;
				n = kn;
				refused += srtpx_unprotect_rtcp(&b, keep, &n) ==
				           EALREADY;
			}
		}
		/* a new SSRC beyond the limit, each way */
		n = make_rtp(buf, 1, 7);
		refused +=
		    srtpx_protect_rtp(&a, buf, &n, sizeof(buf)) == ENOSPC;
		refused += srtpx_protect_rtp(&c, buf, &n, sizeof(buf)) == 0;
		refused += srtpx_unprotect_rtp(&b, buf, &n) == ENOSPC;

		/* the cost of a plain exchange */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (unsigned r = 0; r < rounds; r++) {
			n = make_rtp(buf, (uint16_t)(1000 + r), 100);
			ok += srtpx_protect_rtp(&a, buf, &n, sizeof(buf)) == 0;
			ok += srtpx_unprotect_rtp(&b, buf, &n) == 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		allocs_stop();

		CHECK_EQ(allocations, 0);
		CHECK_EQ(ok, 2 * rounds + 2 * rounds / 4 + 2 * rounds);
		CHECK_EQ(refused, 3 * rounds + rounds / 4 + 3);
		CHECK_EQ(b.nssrc, SRTPX_MAX_SSRC);
		printf("# %s: %.2f us to protect and unprotect a 172-byte RTP "
		       "packet in this build\n",
		       srtpx_profile_name(all[i]),
		       ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
		        (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
		           rounds);
		srtpx_reset(&a);
		srtpx_reset(&b);
		srtpx_reset(&c);
		srtpx_reset(&d);
	}
	return 0;
}

TEST(bad_parameters)
{
	enum srtpx_profile p = SRTPX_AES_CM_128_HMAC_SHA1_80;
	struct srtpx_prm prm = {p, keys(p, key1, salt1), keys(p, key2, salt2),
	                        0};
	struct srtpx s = {0};
	const char *why = NULL;
	uint8_t buf[64] = {0x80};
	size_t len = 20;

	/* a zeroed and a reset context refuse packets, reset is idempotent */
	CHECK_EQ(srtpx_protect_rtp(&s, buf, &len, sizeof(buf)), EINVAL);
	CHECK_EQ(srtpx_unprotect_rtp(&s, buf, &len), EINVAL);
	CHECK_EQ(srtpx_unprotect_rtcp(NULL, buf, &len), EINVAL);
	srtpx_reset(&s);
	srtpx_reset(NULL);
	CHECK_EQ(srtpx_trailer(&s, false), 0);

	prm.local.salt_len = 12;
	CHECK_EQ(srtpx_init(&s, &prm, &why), EINVAL);
	CHECK(why && strstr(why, "length"));
	CHECK(s.tx == NULL && s.rx == NULL);
	prm.local.salt_len = 14;
	prm.remote.key = NULL;
	CHECK_EQ(srtpx_init(&s, &prm, &why), EINVAL);
	prm.remote.key = key2;
	prm.profile = (enum srtpx_profile)3;
	CHECK_EQ(srtpx_init(&s, &prm, &why), EINVAL);
	prm.profile = p;
	prm.replay_window = 64;
	CHECK_EQ(srtpx_init(&s, &prm, &why), EINVAL);
	CHECK(why && strstr(why, "window"));
	prm.replay_window = 32768;
	CHECK_EQ(srtpx_init(&s, &prm, &why), EINVAL);
	prm.replay_window = 32767;
	CHECK_EQ(srtpx_init(&s, &prm, &why), 0);
	CHECK(why == NULL);
	srtpx_reset(&s);
	/* a GCM key with a CM salt length */
	p = SRTPX_AEAD_AES_128_GCM;
	prm.profile = p;
	CHECK_EQ(srtpx_init(&s, &prm, &why), EINVAL);
	prm.local = keys(p, key1, salt1);
	prm.remote = keys(p, key2, salt2);
	CHECK_EQ(srtpx_init(&s, &prm, NULL), 0);
	srtpx_reset(&s);
	CHECK_EQ(srtpx_init(NULL, &prm, &why), EINVAL);
	CHECK_EQ(srtpx_init(&s, NULL, &why), EINVAL);
	return 0;
}

TEST(profiles_and_dtls_keys)
{
	enum srtpx_profile p;
	struct srtpx_prm pc = {0}, ps = {0};
	struct srtpx c = {0}, s = {0};
	uint8_t km[60], buf[256], plain[256];
	size_t len, n;

	CHECK_EQ(srtpx_profile_from_dtls(0x0001, &p), 0);
	CHECK_EQ(p, SRTPX_AES_CM_128_HMAC_SHA1_80);
	CHECK_EQ(srtpx_profile_from_dtls(0x0002, &p), 0);
	CHECK_EQ(p, SRTPX_AES_CM_128_HMAC_SHA1_32);
	CHECK_EQ(srtpx_profile_from_dtls(0x0007, &p), 0);
	CHECK_EQ(p, SRTPX_AEAD_AES_128_GCM);
	CHECK_EQ(srtpx_profile_from_dtls(0x0008, &p), ENOTSUP);
	CHECK_EQ(srtpx_profile_from_dtls(0, &p), ENOTSUP);
	CHECK_STR(srtpx_profile_name(SRTPX_AES_CM_128_HMAC_SHA1_32),
	          "AES_CM_128_HMAC_SHA1_32");
	CHECK_STR(srtpx_profile_name((enum srtpx_profile)9), "?");
	CHECK_EQ(srtpx_profile_by_name("AEAD_AES_128_GCM", 16, &p), 0);
	CHECK_EQ(p, SRTPX_AEAD_AES_128_GCM);
	CHECK_EQ(srtpx_profile_by_name("AES_CM_128_HMAC_SHA1_80 x", 23, &p), 0);
	CHECK_EQ(p, SRTPX_AES_CM_128_HMAC_SHA1_80);
	CHECK_EQ(srtpx_profile_by_name("AES_CM_128_HMAC_SHA1_8", 22, &p),
	         ENOTSUP);
	CHECK_EQ(srtpx_profile_by_name("F8_128_HMAC_SHA1_80", 19, &p), ENOTSUP);
	CHECK_EQ(srtpx_dtls_material_len(SRTPX_AEAD_AES_128_GCM), 56);
	CHECK_EQ(srtpx_dtls_material_len(SRTPX_AES_CM_128_HMAC_SHA1_80), 60);
	CHECK_EQ(srtpx_key_len((enum srtpx_profile)5), 0);

	/* RFC 5764 §4.2: client key, server key, client salt, server salt */
	for (size_t i = 0; i < sizeof(km); i++)
		km[i] = (uint8_t)i;
	p = SRTPX_AES_CM_128_HMAC_SHA1_80;
	CHECK_EQ(srtpx_dtls_keys(&pc, p, km, 59, true), EINVAL);
	CHECK_EQ(srtpx_dtls_keys(&pc, p, km, 60, true), 0);
	CHECK_EQ(srtpx_dtls_keys(&ps, p, km, 60, false), 0);
	CHECK(pc.local.key == km && pc.remote.key == km + 16);
	CHECK(pc.local.salt == km + 32 && pc.remote.salt == km + 46);
	CHECK(ps.local.key == km + 16 && ps.remote.salt == km + 32);
	CHECK(pc.local.salt_len == 14 && pc.profile == p);
	p = SRTPX_AEAD_AES_128_GCM;
	CHECK_EQ(srtpx_dtls_keys(&pc, p, km, 56, true), 0);
	CHECK_EQ(srtpx_dtls_keys(&ps, p, km, 56, false), 0);
	CHECK(pc.local.salt == km + 32 && pc.remote.salt == km + 44);
	CHECK(pc.local.salt_len == 12);

	/* the two ends of one handshake hear each other */
	CHECK_EQ(srtpx_init(&c, &pc, NULL), 0);
	CHECK_EQ(srtpx_init(&s, &ps, NULL), 0);
	n = make_rtp(plain, 1, 1);
	memcpy(buf, plain, n);
	len = n;
	CHECK_EQ(srtpx_protect_rtp(&c, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtp(&s, buf, &len), 0);
	CHECK_EQ(srtpx_protect_rtp(&s, buf, &len, sizeof(buf)), 0);
	CHECK_EQ(srtpx_unprotect_rtp(&c, buf, &len), 0);
	CHECK(len == n && memcmp(buf, plain, n) == 0);
	srtpx_reset(&c);
	srtpx_reset(&s);
	return 0;
}

/* Contexts set up, used and freed on several threads at once. */
static void *thread_main(void *arg)
{
	uintptr_t fails = 0;

	(void)arg;
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < NALL; i++) {
			struct srtpx a = {0}, b = {0};
			uint8_t buf[256];

			if (pair(&a, &b, all[i])) {
				fails++;
				continue;
			}
			for (uint16_t seq = 0; seq < 50; seq++) {
				size_t len = make_rtp(buf, seq, 1);

				if (srtpx_protect_rtp(&a, buf, &len,
				                      sizeof(buf)) ||
				    srtpx_unprotect_rtp(&b, buf, &len))
					fails++;
			}
			srtpx_reset(&a);
			srtpx_reset(&b);
		}
	}
	return (void *)fails;
}

TEST(threads)
{
	pthread_t t[4];
	void *ret;

	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, thread_main, NULL), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(pthread_join(t[i], &ret), 0);
		CHECK_EQ((uintptr_t)ret, 0);
	}
	return 0;
}

int main(void)
{
	if (srtp_init() != srtp_err_status_ok) {
		printf("FAIL libsrtp2 did not start\n");
		return 1;
	}
	RUN(threads); /* first: the global init races */
	RUN(bad_parameters);
	RUN(round_trip_each_profile);
	RUN(sequence_rollover);
	RUN(flipped_bit_fails_auth);
	RUN(replay_refused);
	RUN(truncated_and_malformed_refused);
	RUN(wrong_key_refused);
	RUN(known_answers);
	RUN(agrees_with_libre);
	RUN(room_for_the_trailer);
	RUN(ssrc_limit);
	RUN(replay_window_width);
	RUN(streams_apart);
	RUN(agrees_with_libsrtp2);
	RUN(no_allocation_per_packet);
	RUN(profiles_and_dtls_keys);
	TEST_EXIT();
}
