/*
 * A WebSocket server's side for the stand-ins: the upgrade's accept key and
 * 101, a server frame built, a client's frame taken from a buffer and
 * unmasked; then, for stand-ins in a thread of their own (on standin.h),
 * the upgrade answered, a client's masked frame read whole and a server
 * frame written on a blocking socket. ws_standin_loop.h serves on the
 * test's libre loop with the same pieces.
 */
#ifndef VOXGATE_WS_STANDIN_H
#define VOXGATE_WS_STANDIN_H

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "standin.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* The Sec-WebSocket-Accept of key (out: 29 bytes at least). */
static inline void ws_accept_key(const char *key, char *out)
{
	char cat[128];
	uint8_t sha[SHA_DIGEST_LENGTH];

	snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);
	SHA1((const uint8_t *)cat, strlen(cat), sha);
	EVP_EncodeBlock((uint8_t *)out, sha, sizeof(sha));
}

/* The accept for the Sec-WebSocket-Key of request (its head); "" when it
 * has none. */
static inline void ws_accept_of(const char *request, char out[32])
{
	char key[64];

	out[0] = '\0';
	if (standin_header(request, "Sec-WebSocket-Key", key, sizeof(key)))
		ws_accept_key(key, out);
}

/* The 101 answer with accept into out; its length. */
static inline size_t ws_101(char *out, size_t sz, const char *accept)
{
	int n = snprintf(out, sz,
	                 "HTTP/1.1 101 Switching Protocols\r\n"
	                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Accept: %s\r\n\r\n",
	                 accept);

	return n < 0 ? 0 : (size_t)n < sz ? (size_t)n : sz - 1;
}

/* A server frame's header for n payload bytes (unmasked): 2 to 10 bytes
 * into h, their count. b0 is the first byte (FIN and opcode). */
static inline size_t ws_frame_head(uint8_t h[10], uint8_t b0, size_t n)
{
	size_t i = 0;

	h[i++] = b0;
	if (n < 126) {
		h[i++] = (uint8_t)n;
	} else if (n <= 0xffff) {
		h[i++] = 126;
		h[i++] = (uint8_t)(n >> 8);
		h[i++] = (uint8_t)n;
	} else {
		h[i++] = 127;
		for (int k = 0; k < 8; k++)
			h[i++] = (uint8_t)((uint64_t)n >> (56 - 8 * k));
	}
	return i;
}

/* A whole server frame into out (n + 10 bytes of room); its length. */
static inline size_t ws_frame(uint8_t *out, uint8_t b0, const void *p, size_t n)
{
	size_t i = ws_frame_head(out, b0, n);

	if (n)
		memcpy(out + i, p, n);
	return i + n;
}

/* A frame taken from a client's bytes. */
struct ws_frame_in {
	uint8_t b0; /* FIN, RSV and opcode */
	uint8_t op;
	bool masked;
	uint8_t key[4]; /* zeros when not masked */
	uint8_t *p;     /* the payload, unmasked in place */
	size_t n;
};

/* The frame at the start of buf (len bytes), unmasked in place: the bytes
 * it takes, or 0 while it is not all there. */
static inline size_t ws_frame_take(uint8_t *buf, size_t len,
                                   struct ws_frame_in *f)
{
	size_t hl = 2;
	uint64_t n;

	if (len < 2)
		return 0;
	n = buf[1] & 0x7f;
	hl += n == 126 ? 2 : n == 127 ? 8 : 0;
	hl += (buf[1] & 0x80) ? 4 : 0;
	if (len < hl)
		return 0;
	if (n == 126) {
		n = (uint64_t)buf[2] << 8 | buf[3];
	} else if (n == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
	}
	if (len - hl < n)
		return 0;
	f->b0 = buf[0];
	f->op = buf[0] & 0x0f;
	f->masked = (buf[1] & 0x80) != 0;
	memset(f->key, 0, 4);
	if (f->masked)
		memcpy(f->key, buf + hl - 4, 4);
	f->p = buf + hl;
	f->n = (size_t)n;
	for (size_t i = 0; i < f->n; i++)
		f->p[i] ^= f->key[i & 3];
	return hl + f->n;
}

/* One client frame (masked), its payload malloc'd into *out; the opcode
 * or -1. */
static inline int ws_read_frame(int fd, char **out, size_t *len)
{
	uint8_t h[14], mask[4];
	uint64_t n;
	char *p;

	if (recv(fd, h, 2, MSG_WAITALL) != 2)
		return -1;
	n = h[1] & 0x7f;
	if (n == 126) {
		if (recv(fd, h + 2, 2, MSG_WAITALL) != 2)
			return -1;
		n = (uint64_t)h[2] << 8 | h[3];
	} else if (n == 127) {
		if (recv(fd, h + 2, 8, MSG_WAITALL) != 8)
			return -1;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | h[2 + i];
	}
	if (n > 1 << 20 || recv(fd, mask, 4, MSG_WAITALL) != 4)
		return -1;
	p = malloc(n + 1);
	if (!p || (n && recv(fd, p, n, MSG_WAITALL) != (ssize_t)n)) {
		free(p);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++)
		p[i] ^= (char)mask[i % 4];
	p[n] = '\0';
	*out = p;
	*len = n;
	return h[0] & 0x0f;
}

static inline void ws_send_frame(int fd, int op, const char *p, size_t n)
{
	uint8_t h[10];
	size_t hl = ws_frame_head(h, (uint8_t)(0x80 | op), n);

	standin_send_all(fd, (const char *)h, hl);
	standin_send_all(fd, p, n);
}

static inline void ws_send_text(int fd, const char *s)
{
	ws_send_frame(fd, 1, s, strlen(s));
}

/* The upgrade: 101 with the key's accept. */
static inline bool ws_upgrade(int fd, char *auth, size_t authsz)
{
	char *head, *body, key[64], acc[64], resp[256];

	if (standin_read_request(fd, &head, &body))
		return false;
	if (auth)
		standin_header(head, "Authorization", auth, authsz);
	if (!standin_header(head, "Sec-WebSocket-Key", key, sizeof(key))) {
		free(head);
		free(body);
		return false;
	}
	free(head);
	free(body);
	ws_accept_key(key, acc);
	return standin_send_all(fd, resp, ws_101(resp, sizeof(resp), acc));
}

#endif
