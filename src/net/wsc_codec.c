/*
 * WebSocket client (wsc.h): the frame codec.
 *
 * Apart from the socket because it owns none: it reads a hostile stream in
 * pieces of any size, so the fuzz target drives it alone, and a change to
 * the connection cannot loosen what it checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/utf8.h"
#include "net/wsc.h"
#include "net/wsguard.h"

/* Above this the joined-message buffer goes back after each message. */
#define RX_KEEP         (64 * 1024)
#define MAX_MESSAGE_CAP ((size_t)1 << 30)

/* ---------------------------------------------------------------- */
/* The frame reader                                                  */
/* ---------------------------------------------------------------- */

void wsc_rx_init(struct wsc_rx *rx, size_t max_message)
{
	memset(rx, 0, sizeof(*rx));
	if (!max_message)
		max_message = WSC_MAX_MESSAGE;
	rx->max_message =
	    max_message > MAX_MESSAGE_CAP ? MAX_MESSAGE_CAP : max_message;
}

void wsc_rx_reset(struct wsc_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

bool wsc_rx_mid_frame(const struct wsc_rx *rx)
{
	return rx->have > 0 || rx->in_payload || rx->msg_op != 0;
}

/* Codes a close frame may carry (RFC 6455 7.4, IANA's registry). */
static bool close_code_ok(uint16_t c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
	       (c >= 3000 && c <= 4999);
}

#define RX_FAIL(e, c, w)                                                       \
	do {                                                                   \
		*code = (c);                                                   \
		*why = (w);                                                    \
		return (e);                                                    \
	} while (0)

static int frame_start(struct wsc_rx *rx, uint16_t *code, const char **why)
{
	const uint8_t *h = rx->hdr;
	bool fin = (h[0] & 0x80) != 0;
	uint8_t op = h[0] & 0x0f, len7 = h[1] & 0x7f;
	uint64_t len = len7;

	if (h[0] & 0x70)
		RX_FAIL(EPROTO, 1002,
		        "reserved bits set (no extension agreed)");
	if (h[1] & 0x80)
		RX_FAIL(EPROTO, 1002, "masked frame from the server");
	if (len7 == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		if (len < 126)
			RX_FAIL(EPROTO, 1002,
			        "length not in its shortest form");
	} else if (len7 == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
		if (len >> 63)
			RX_FAIL(EPROTO, 1002,
			        "length with its most significant bit set");
		if (len <= 0xffff)
			RX_FAIL(EPROTO, 1002,
			        "length not in its shortest form");
	}
	if (op >= WSC_CLOSE) {
		if (op > WSC_PONG)
			RX_FAIL(EPROTO, 1002, "unknown control opcode");
		if (!fin || len > 125)
			RX_FAIL(EPROTO, 1002,
			        "fragmented or long control frame");
		rx->ctl_len = 0;
	} else {
		if (op > WSC_BINARY)
			RX_FAIL(EPROTO, 1002, "unknown data opcode");
		if (op == WSC_CONT && !rx->msg_op)
			RX_FAIL(EPROTO, 1002, "continuation without a message");
		if (op != WSC_CONT && rx->msg_op)
			RX_FAIL(EPROTO, 1002,
			        "new message inside a fragmented one");
		/* rx->len <= max_message: no wrap either way */
		if (len > rx->max_message - rx->len)
			RX_FAIL(EMSGSIZE, 1009,
			        "message larger than this socket takes");
		if (op != WSC_CONT)
			rx->msg_op = op;
	}
	rx->op = op;
	rx->fin = fin;
	rx->left = len;
	rx->in_payload = true;
	rx->have = 0;
	return 0;
}

static int buf_room(struct wsc_rx *rx, size_t need)
{
	size_t cap = rx->cap ? rx->cap : 4096;
	uint8_t *b;

	if (need <= rx->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > rx->max_message)
		cap = rx->max_message;
	b = realloc(rx->buf, cap);
	if (!b)
		return ENOMEM;
	rx->buf = b;
	rx->cap = cap;
	return 0;
}

/* A whole frame read: what it gives the caller, if anything. */
static int frame_end(struct wsc_rx *rx, struct wsc_frame *out, uint16_t *code,
                     const char **why)
{
	rx->in_payload = false;
	rx->frames++;
	if (rx->op >= WSC_CLOSE) {
		out->op = rx->op;
		out->p = rx->ctl;
		out->n = rx->ctl_len;
		if (rx->op != WSC_CLOSE)
			return 0;
		out->close_code = 1005;
		rx->reason[0] = '\0';
		out->close_reason = rx->reason;
		if (rx->ctl_len == 0)
			return 0;
		if (rx->ctl_len == 1)
			RX_FAIL(EPROTO, 1002, "close frame of one byte");
		out->close_code = (uint16_t)(rx->ctl[0] << 8 | rx->ctl[1]);
		if (!close_code_ok(out->close_code))
			RX_FAIL(EPROTO, 1002, "close code not allowed");
		if (!utf8_valid((const char *)rx->ctl + 2, rx->ctl_len - 2u))
			RX_FAIL(EILSEQ, 1007, "close reason not UTF-8");
		memcpy(rx->reason, rx->ctl + 2, rx->ctl_len - 2u);
		rx->reason[rx->ctl_len - 2] = '\0';
		return 0;
	}
	if (!rx->fin)
		return 0;
	if (rx->msg_op == WSC_TEXT &&
	    !utf8_valid((const char *)rx->buf, rx->len))
		RX_FAIL(EILSEQ, 1007, "text message not UTF-8");
	out->op = rx->msg_op;
	out->p = rx->buf ? rx->buf : (const uint8_t *)"";
	out->n = rx->len;
	rx->msg_op = 0;
	rx->delivered = true;
	return 0;
}

int wsc_rx_next(struct wsc_rx *rx, const uint8_t *p, size_t n, size_t *used,
                struct wsc_frame *out, uint16_t *code, const char **why)
{
	size_t i = 0;
	int err;

	memset(out, 0, sizeof(*out));
	*used = 0;
	if (rx->delivered) {
		rx->delivered = false;
		rx->len = 0;
		if (rx->cap > RX_KEEP) {
			free(rx->buf);
			rx->buf = NULL;
			rx->cap = 0;
		}
	}
	for (;;) {
		size_t take;

		if (!rx->in_payload) {
			if (i == n)
				break;
			rx->hdr[rx->have++] = p[i++];
			if (rx->have < 2 ||
			    rx->have < wsframe_header_size(rx->hdr))
				continue;
			err = frame_start(rx, code, why);
			if (err) {
				*used = i;
				return err;
			}
		}
		take = n - i;
		if (rx->left < take)
			take = (size_t)rx->left;
		if (rx->op >= WSC_CLOSE) {
			memcpy(rx->ctl + rx->ctl_len, p + i, take);
			rx->ctl_len = (uint8_t)(rx->ctl_len + take);
		} else if (take) {
			if (buf_room(rx, rx->len + take)) {
				*used = i;
				RX_FAIL(ENOMEM, 1011, "out of memory");
			}
			memcpy(rx->buf + rx->len, p + i, take);
			rx->len += take;
		}
		i += take;
		rx->left -= take;
		if (rx->left)
			break; /* the bytes ran out */
		err = frame_end(rx, out, code, why);
		if (err || out->op != WSC_CONT) {
			*used = i;
			return err;
		}
	}
	*used = i;
	return 0;
}

size_t wsc_frame_header(uint8_t hdr[14], enum wsc_op op, bool fin, uint64_t n,
                        const uint8_t key[4])
{
	size_t i;

	hdr[0] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (n < 126) {
		hdr[1] = (uint8_t)(0x80 | n);
		i = 2;
	} else if (n <= 0xffff) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (uint8_t)(n >> 8);
		hdr[3] = (uint8_t)n;
		i = 4;
	} else {
		hdr[1] = 0x80 | 127;
		for (int k = 0; k < 8; k++)
			hdr[2 + k] = (uint8_t)(n >> (56 - 8 * k));
		i = 10;
	}
	memcpy(hdr + i, key, 4);
	return i + 4;
}
