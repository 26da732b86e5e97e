/*
 * The WebSocket client's frame reader (net/wsc.h, wsc_rx_next) on a
 * hostile stream from a server, in pieces of sizes the input picks. Fed
 * the same stream whole, it must deliver the same messages and control
 * frames and reach the same verdict. What it delivers must keep its
 * promises (within the limit, text and close reasons UTF-8, control
 * payloads at most 125 bytes), and the frame guard (net/wsguard.h), which
 * checks the same header rules on its own, must refuse nothing it takes.
 *
 * Input: one byte, the piece size less one; two bytes of message limit
 * (big-endian, 0 = 1); then the stream.
 */
#include <errno.h>

#include "core/utf8.h"
#include "net/wsc.h"
#include "net/wsguard.h"

#include "fuzz.h"

/* What the reader gave, folded into a running digest. */
struct seen {
	uint64_t digest;
	unsigned events;
};

static void fold(struct seen *s, const struct wsc_frame *f)
{
	s->digest = s->digest * 1099511628211ULL ^ f->op;
	s->digest = s->digest * 1099511628211ULL ^ f->n;
	for (size_t i = 0; i < f->n; i++)
		s->digest = s->digest * 1099511628211ULL ^ f->p[i];
	if (f->op == WSC_CLOSE)
		s->digest = s->digest * 1099511628211ULL ^ f->close_code;
	s->events++;
}

static int feed(struct wsc_rx *rx, const uint8_t *p, size_t n, size_t max,
                struct seen *s, uint16_t *code)
{
	while (n) {
		struct wsc_frame f;
		const char *why = NULL;
		size_t used;
		int err = wsc_rx_next(rx, p, n, &used, &f, code, &why);

		FUZZ_CHECK(used <= n);
		if (err) {
			FUZZ_CHECK(why != NULL);
			return err;
		}
		if (f.op == WSC_CONT) {
			FUZZ_CHECK(used == n);
			return 0;
		}
		if (f.op == WSC_TEXT || f.op == WSC_BINARY)
			FUZZ_CHECK(f.n <= max);
		else
			FUZZ_CHECK(f.n <= 125);
		if (f.op == WSC_TEXT)
			FUZZ_CHECK(utf8_valid((const char *)f.p, f.n));
		if (f.op == WSC_CLOSE)
			FUZZ_CHECK(
			    utf8_valid(f.close_reason, strlen(f.close_reason)));
		fold(s, &f);
		p += used;
		n -= used;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t piece = (size_t)fuzz_u8(&in) + 1;
	uint16_t limit = fuzz_u16(&in);
	size_t max = limit ? limit : 1;
	struct wsc_rx a, b;
	struct seen sa = {0}, sb = {0};
	uint16_t code_a = 0, code_b = 0;
	struct wsframe g;
	const char *gwhy = NULL;
	int err_a = 0, err_b, err_g;
	uint8_t *copy = fuzz_copy(in.p, in.n, false);

	wsc_rx_init(&a, max);
	wsc_rx_init(&b, max);
	for (size_t i = 0; i < in.n && !err_a; i += piece)
		err_a = feed(&a, copy + i, in.n - i < piece ? in.n - i : piece,
		             max, &sa, &code_a);
	err_b = feed(&b, copy, in.n, max, &sb, &code_b);
	FUZZ_CHECK(err_a == err_b);
	FUZZ_CHECK(code_a == code_b);
	FUZZ_CHECK(sa.events == sb.events && sa.digest == sb.digest);
	FUZZ_CHECK(err_a == 0 || (err_a == EPROTO && code_a == 1002) ||
	           (err_a == EMSGSIZE && code_a == 1009) ||
	           (err_a == EILSEQ && code_a == 1007));

	/* the guard, a server's reader with a frame limit, checks the same
	 * headers: a stream taken whole must pass it (control frames take
	 * up to 125 bytes whatever the message limit) */
	wsframe_init(&g, false, max > 125 ? max : 125);
	err_g = wsframe_feed(&g, copy, in.n, &gwhy);
	if (!err_a)
		FUZZ_CHECK(err_g == 0);
	if (err_g == EPROTO)
		FUZZ_CHECK(err_a != 0);

	wsc_rx_reset(&a);
	wsc_rx_reset(&b);
	free(copy);
	return 0;
}
