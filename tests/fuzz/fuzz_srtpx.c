/*
 * SRTP and SRTCP packets into srtpx_unprotect_rtp / _rtcp, for each
 * profile: hostile packets as they come, and packets sealed here by the
 * peer's context (so the fuzzer reaches what lies past authentication),
 * then damaged, cut or delivered twice.
 *
 * Input: a profile byte (0 GCM, 1 CM-80, 2 CM-32, modulo 3), then
 * records: a flags byte, a 16-bit big-endian length, that many bytes.
 * Flags: bit 0 RTCP; bit 1 seal it first with the peer's context; bit 2
 * then flip bits (a 16-bit position and an xor byte follow the flags);
 * bit 3 then cut it (a 16-bit length follows); bit 4 deliver it twice.
 *
 * Checked: only the documented errors; on error the length is kept; an
 * intact sealed packet opens to exactly what was sealed and is refused
 * as a replay the second time, as long as nothing so far (a damaged
 * sealed packet, a raw one accepted) has put the two ends out of step;
 * the counters add up.
 *
 * The keys are the unit test's known-answer keys, so the known ciphertexts
 * in the seeds authenticate as they are.
 */
#include <errno.h>

#include "webrtc/srtpx.h"

#include "fuzz.h"

#define F_RTCP  0x01
#define F_SEAL  0x02
#define F_FLIP  0x04
#define F_CUT   0x08
#define F_TWICE 0x10

static const uint8_t cm_key[16] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01,
                                   0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c,
                                   0x06, 0xde, 0x41, 0x39};
static const uint8_t cm_salt[14] = {0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe,
                                    0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
static const uint8_t gcm_key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
                                    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                    0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t gcm_salt[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                     0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (srtpx_global_init())
		abort();
	return 0;
}

static bool refusal(int err)
{
	return err == EBADMSG || err == EALREADY || err == EMSGSIZE ||
	       err == ENOSPC;
}

/* Opens a copy of exactly n bytes, so ASan sees a read past them. */
static int open_copy(struct srtpx *rx, const uint8_t *b, size_t n, bool rtcp,
                     uint8_t *out, size_t *out_n)
{
	uint8_t *p = fuzz_copy(b, n, false);
	size_t len = n;
	int err = rtcp ? srtpx_unprotect_rtcp(rx, p, &len)
	               : srtpx_unprotect_rtp(rx, p, &len);

	if (err) {
		FUZZ_CHECK(refusal(err));
		FUZZ_CHECK(len == n);
	} else {
		FUZZ_CHECK(len <= n);
		memcpy(out, p, len);
		*out_n = len;
	}
	free(p);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	enum srtpx_profile p = (enum srtpx_profile)(fuzz_u8(&in) % 3);
	bool gcm = p == SRTPX_AEAD_AES_128_GCM;
	struct srtpx_keys k = {gcm ? gcm_key : cm_key, srtpx_key_len(p),
	                       gcm ? gcm_salt : cm_salt, srtpx_salt_len(p)};
	struct srtpx_prm prm = {p, k, k, 0};
	struct srtpx tx = {0}, rx = {0};
	uint64_t protects = 0, unprotects = 0;
	bool in_step = true;

	if (srtpx_init(&tx, &prm, NULL) || srtpx_init(&rx, &prm, NULL))
		abort();
	while (in.n) {
		uint8_t flags = fuzz_u8(&in);
		uint16_t flip_at = 0, cut_to = 0;
		uint8_t flip = 0;
		bool rtcp = flags & F_RTCP, intact = false;
		size_t want, len, n, trailer = srtpx_trailer(&tx, rtcp);
		const uint8_t *src;
		uint8_t *buf, *plain, *opened;
		size_t opened_n = 0;
		int err;

		if (flags & F_FLIP) {
			flip_at = fuzz_u16(&in);
			flip = fuzz_u8(&in);
		}
		if (flags & F_CUT)
			cut_to = fuzz_u16(&in);
		want = fuzz_u16(&in);
		src = fuzz_take(&in, want, &len);
		plain = fuzz_copy(src, len, false);
		buf = malloc(len + trailer); /* trailer >= 4: never 0 */
		opened = malloc(len + trailer);
		if (!buf || !opened)
			abort();
		memcpy(buf, src, len);
		n = len;

		if (flags & F_SEAL) {
			err = rtcp ? srtpx_protect_rtcp(&tx, buf, &n,
			                                len + trailer)
			           : srtpx_protect_rtp(&tx, buf, &n,
			                               len + trailer);
			protects++;
			if (err) {
				/* ENOSPC: more SSRCs than a context sends
				 * from */
				FUZZ_CHECK(err == EMSGSIZE || err == EALREADY ||
				           err == ENOSPC);
				FUZZ_CHECK(n == len);
				goto next; /* nothing was sent */
			}
			FUZZ_CHECK(n == len + trailer);
			intact = true;
			if ((flags & F_FLIP) && n) {
				buf[flip_at % n] ^= flip ? flip : 1;
				intact = false;
			}
			if ((flags & F_CUT) && cut_to < n) {
				n = cut_to;
				intact = false;
			}
		}

		err = open_copy(&rx, buf, n, rtcp, opened, &opened_n);
		unprotects++;
		if (intact && in_step) {
			FUZZ_CHECK(err == 0 || err == ENOSPC);
			FUZZ_CHECK(err || (opened_n == len &&
			                   memcmp(opened, plain, len) == 0));
		}
		/* Out of step: the sender sealed what the receiver did not
		 * take, or the receiver took what was not sealed here. */
		if (err == ENOSPC || ((flags & F_SEAL) && !intact) ||
		    (!(flags & F_SEAL) && !err))
			in_step = false;
		if (flags & F_TWICE) {
			int again =
			    open_copy(&rx, buf, n, rtcp, opened, &opened_n);

			unprotects++;
			if (!err && intact && in_step)
				FUZZ_CHECK(again == EALREADY);
			if (!again)
				in_step = false;
		}
	next:
		free(plain);
		free(buf);
		free(opened);
	}

	const struct srtpx_stats *ts = srtpx_stats(&tx), *rs = srtpx_stats(&rx);
	FUZZ_CHECK(ts->tx + ts->tx_fail == protects);
	FUZZ_CHECK(rs->rx + rs->auth_fail + rs->replay + rs->bad_len +
	               rs->other ==
	           unprotects);
	FUZZ_CHECK(rx.nssrc <= SRTPX_MAX_SSRC);
	srtpx_reset(&tx);
	srtpx_reset(&rx);
	return 0;
}
