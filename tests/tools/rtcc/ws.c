/*
 * A WebSocket client (RFC 6455) just large enough for /rtc, on libre's
 * TCP. libre 1.1.0's own client (websock_connect) hands the 101 response
 * to its HTTP client, which drops whatever else that read held: a server
 * that sends its first frame at once (voxgate's JoinResponse) loses it
 * whenever the two arrive together. Here the bytes after the response's
 * header are the first frames.
 *
 * Frames from the server must be unmasked and unfragmented (voxgate's
 * are); a ping is answered, a close ends the connection. What we send is
 * masked, one binary frame a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/sha.h>

#include "rtcc/rtcc.h"

#define MAX_HEADER  8192
#define MAX_PAYLOAD (1024 * 1024)
#define GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct rtcc_ws {
	struct tcp_conn *tc;
	struct mbuf *in;
	char key[32];
	bool open, closed;
	bool shut; /* given up by its owner: frees itself */
	struct tmr tmr;
	unsigned status; /* of the upgrade's response */
	rtcc_ws_open_h *openh;
	rtcc_ws_frame_h *frameh;
	rtcc_ws_close_h *closeh;
	void *arg;
	char host[300], path[4096];
};

static void ws_destructor(void *arg)
{
	struct rtcc_ws *ws = arg;

	tmr_cancel(&ws->tmr);
	mem_deref(ws->tc);
	mem_deref(ws->in);
}

static void release_h(void *arg)
{
	mem_deref(arg);
}

static void ws_end(struct rtcc_ws *ws, int err, const char *why)
{
	if (ws->closed)
		return;
	ws->closed = true;
	ws->closeh(err, why, ws->arg);
}

static int send_frame(struct rtcc_ws *ws, uint8_t opcode, const uint8_t *p,
                      size_t len)
{
	struct mbuf *mb = mbuf_alloc(len + 14);
	uint8_t mask[4];
	int err = 0;

	if (!mb)
		return ENOMEM;
	rand_bytes(mask, sizeof(mask));
	err |= mbuf_write_u8(mb, (uint8_t)(0x80 | opcode));
	if (len < 126) {
		err |= mbuf_write_u8(mb, (uint8_t)(0x80 | len));
	} else if (len <= 0xffff) {
		err |= mbuf_write_u8(mb, 0x80 | 126);
		err |= mbuf_write_u16(mb, htons((uint16_t)len));
	} else {
		err |= mbuf_write_u8(mb, 0x80 | 127);
		err |= mbuf_write_u32(mb, 0);
		err |= mbuf_write_u32(mb, htonl((uint32_t)len));
	}
	err |= mbuf_write_mem(mb, mask, sizeof(mask));
	for (size_t i = 0; !err && i < len; i++)
		err |= mbuf_write_u8(mb, p[i] ^ mask[i & 3]);
	if (!err) {
		mb->pos = 0;
		err = tcp_send(ws->tc, mb);
	}
	mem_deref(mb);
	return err;
}

int rtcc_ws_send(struct rtcc_ws *ws, const uint8_t *p, size_t len)
{
	if (!ws || !ws->open || ws->closed)
		return ENOTCONN;
	return send_frame(ws, 0x2, p, len);
}

void rtcc_ws_shutdown(struct rtcc_ws *ws)
{
	static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */

	if (!ws)
		return;
	if (ws->open && !ws->closed)
		(void)send_frame(ws, 0x8, normal, sizeof(normal));
	ws->closed = true;
	ws->shut = true;
	/* Closing the socket at once could reset it with the frames just
	 * sent unread by the server: it closes first, or a timer does. */
	tmr_start(&ws->tmr, ws->tc ? 2000 : 0, release_h, ws);
}

unsigned rtcc_ws_status(const struct rtcc_ws *ws)
{
	return ws ? ws->status : 0;
}

/* The 101's header: status and Sec-WebSocket-Accept. 0 when the header
 * is not all in yet (*used 0), else the bytes it took. */
static int read_response(struct rtcc_ws *ws, size_t *used)
{
	const char *b = (const char *)mbuf_buf(ws->in);
	size_t n = mbuf_get_left(ws->in);
	const char *end = NULL, *acc;
	char hdr[MAX_HEADER + 1], want[64];
	uint8_t md[SHA_DIGEST_LENGTH];
	char src[sizeof(((struct rtcc_ws *)0)->key) + sizeof(GUID)];
	size_t wl = sizeof(want) - 1;
	unsigned status = 0;

	*used = 0;
	for (size_t i = 0; i + 3 < n; i++) {
		if (!memcmp(b + i, "\r\n\r\n", 4)) {
			end = b + i + 4;
			break;
		}
	}
	if (!end)
		return n > MAX_HEADER ? EMSGSIZE : 0;
	*used = (size_t)(end - b);
	if (*used > MAX_HEADER)
		return EMSGSIZE;
	memcpy(hdr, b, *used);
	hdr[*used] = '\0';
	if (sscanf(hdr, "HTTP/1.%*u %u", &status) != 1)
		return EBADMSG;
	ws->status = status;
	if (status != 101)
		return EPROTO;
	snprintf(src, sizeof(src), "%s%s", ws->key, GUID);
	SHA1((const uint8_t *)src, strlen(src), md);
	if (base64_encode(md, sizeof(md), want, &wl))
		return EINVAL;
	want[wl] = '\0';
	acc = strcasestr(hdr, "\r\nSec-WebSocket-Accept:");
	if (!acc)
		return EPROTO;
	acc += 23;
	while (*acc == ' ')
		acc++;
	if (strncmp(acc, want, wl))
		return EPROTO;
	return 0;
}

/* One frame out of ws->in when it is all there: 1, 0 when not yet,
 * -errno on a broken stream. */
static int read_frame(struct rtcc_ws *ws)
{
	const uint8_t *b = mbuf_buf(ws->in);
	size_t n = mbuf_get_left(ws->in), off = 2;
	uint64_t len;
	uint8_t op;

	if (n < 2)
		return 0;
	if (b[1] & 0x80)
		return -EPROTO; /* a server never masks */
	if (!(b[0] & 0x80))
		return -ENOTSUP; /* fragmented */
	op = b[0] & 0x0f;
	len = b[1] & 0x7f;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)b[2] << 8 | b[3];
		off = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | b[2 + i];
		off = 10;
	}
	if (len > MAX_PAYLOAD)
		return -EMSGSIZE;
	if (n - off < len)
		return 0;
	ws->in->pos += off + (size_t)len;
	switch (op) {
	case 0x1:
	case 0x2:
		ws->frameh(b + off, (size_t)len, op == 0x2, ws->arg);
		break;
	case 0x8:
		ws_end(ws, 0, "the server closed the WebSocket");
		break;
	case 0x9:
		(void)send_frame(ws, 0xa, b + off, (size_t)len);
		break;
	case 0xa:
		break;
	default:
		return -EPROTO;
	}
	return 1;
}

static void ws_tcp_recv(struct mbuf *mb, void *arg)
{
	struct rtcc_ws *ws = arg;
	size_t used;
	int r;

	if (ws->closed)
		return; /* after a shutdown: read and dropped */
	ws->in->pos = ws->in->end;
	if (mbuf_write_mem(ws->in, mbuf_buf(mb), mbuf_get_left(mb))) {
		ws_end(ws, ENOMEM, "out of memory");
		return;
	}
	ws->in->pos = 0;
	if (!ws->open) {
		r = read_response(ws, &used);
		if (r) {
			char why[64];

			snprintf(why, sizeof(why), "upgrade refused: HTTP %u",
			         ws->status);
			ws_end(ws, r,
			       ws->status ? why : "not an HTTP response");
			return;
		}
		if (!used)
			return;
		ws->in->pos = used;
		ws->open = true;
		ws->openh(ws->arg);
	}
	while (!ws->closed && (r = read_frame(ws)) > 0)
		;
	if (r < 0) {
		ws_end(ws, -r, "a frame voxgate should not send");
		return;
	}
	/* Keep what is left of a frame at the start. */
	memmove(ws->in->buf, mbuf_buf(ws->in), mbuf_get_left(ws->in));
	ws->in->end = mbuf_get_left(ws->in);
	ws->in->pos = 0;
}

static void ws_tcp_estab(void *arg)
{
	struct rtcc_ws *ws = arg;
	struct mbuf *mb = mbuf_alloc(strlen(ws->path) + 512);
	int err;

	if (!mb) {
		ws_end(ws, ENOMEM, "out of memory");
		return;
	}
	err = mbuf_printf(mb,
	                  "GET %s HTTP/1.1\r\nHost: %s\r\n"
	                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                  "Sec-WebSocket-Key: %s\r\n"
	                  "Sec-WebSocket-Version: 13\r\n\r\n",
	                  ws->path, ws->host, ws->key);
	mb->pos = 0;
	if (!err)
		err = tcp_send(ws->tc, mb);
	mem_deref(mb);
	if (err)
		ws_end(ws, err, "could not send the upgrade");
}

static void ws_tcp_close(int err, void *arg)
{
	struct rtcc_ws *ws = arg;

	if (ws->shut) {
		tmr_start(&ws->tmr, 0, release_h, ws);
		return;
	}
	ws_end(ws, err ? err : ECONNRESET,
	       ws->open ? "the connection closed"
	                : "the connection closed before the upgrade");
}

int rtcc_ws_connect(struct rtcc_ws **wsp, const char *host, uint16_t port,
                    const char *path, rtcc_ws_open_h *openh,
                    rtcc_ws_frame_h *frameh, rtcc_ws_close_h *closeh, void *arg)
{
	struct rtcc_ws *ws;
	uint8_t nonce[16];
	size_t kl;
	struct sa srv;
	int err;

	if (strlen(path) >= sizeof(ws->path))
		return EINVAL;
	err = sa_set_str(&srv, host, port);
	if (err)
		return err;
	ws = mem_zalloc(sizeof(*ws), ws_destructor);
	if (!ws)
		return ENOMEM;
	tmr_init(&ws->tmr);
	ws->in = mbuf_alloc(4096);
	rand_bytes(nonce, sizeof(nonce));
	kl = sizeof(ws->key) - 1;
	err =
	    ws->in ? base64_encode(nonce, sizeof(nonce), ws->key, &kl) : ENOMEM;
	ws->key[kl] = '\0';
	ws->openh = openh;
	ws->frameh = frameh;
	ws->closeh = closeh;
	ws->arg = arg;
	snprintf(ws->host, sizeof(ws->host), "%s:%u", host, port);
	snprintf(ws->path, sizeof(ws->path), "%s", path);
	if (!err)
		err = tcp_connect(&ws->tc, &srv, ws_tcp_estab, ws_tcp_recv,
		                  ws_tcp_close, ws);
	if (err)
		mem_deref(ws);
	else
		*wsp = ws;
	return err;
}
