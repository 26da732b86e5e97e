/*
 * The WebSocket frame guard (net/wsguard.h) on a hostile byte stream, in
 * pieces of sizes the input picks. Fed the same stream whole, it must
 * reach the same verdict; whatever it accepts, its own walk over the
 * frames must agree: a header it passed announced no more than the limit,
 * and a stream it refused has a header that breaks a rule.
 *
 * Input: one byte of flags (bit 0: masked frames expected; bits 1-7: the
 * piece size less one), two bytes of payload limit (big-endian, 0 = 1),
 * then the stream.
 */
#include <errno.h>

#include "net/wsguard.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t flags = fuzz_u8(&in);
	uint16_t limit = fuzz_u16(&in);
	bool masked = flags & 1;
	size_t piece = (size_t)(flags >> 1) + 1;
	struct wsframe a, b;
	const char *why_a = NULL, *why_b = NULL;
	int err_a = 0, err_b;

	wsframe_init(&a, masked, limit ? limit : 1);
	wsframe_init(&b, masked, limit ? limit : 1);
	for (size_t i = 0; i < in.n && !err_a; i += piece)
		err_a = wsframe_feed(
		    &a, in.p + i, in.n - i < piece ? in.n - i : piece, &why_a);
	err_b = wsframe_feed(&b, in.p, in.n, &why_b);
	FUZZ_CHECK(err_a == err_b);
	FUZZ_CHECK(err_a == 0 || err_a == EPROTO || err_a == EMSGSIZE);
	FUZZ_CHECK(!err_a || (why_a && why_b));
	FUZZ_CHECK(a.left <= a.max_payload);
	FUZZ_CHECK(a.have < sizeof(a.hdr));
	if (!err_a) {
		FUZZ_CHECK(a.left == b.left && a.have == b.have);
		FUZZ_CHECK(a.in_message == b.in_message);
	}
	return 0;
}
