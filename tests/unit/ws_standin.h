/*
 * A WebSocket server's side for the stand-ins some tests run in a thread
 * of their own (on standin.h): the upgrade answered, a client's masked
 * frame read whole, a server frame written.
 */
#ifndef VOXGATE_WS_STANDIN_H
#define VOXGATE_WS_STANDIN_H

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "standin.h"

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
	uint8_t h[4] = {(uint8_t)(0x80 | op)};
	size_t hl = 2;

	if (n < 126) {
		h[1] = (uint8_t)n;
	} else {
		h[1] = 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	}
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
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char *head, *body, key[64], cat[128], acc[64], resp[256];
	uint8_t sha[SHA_DIGEST_LENGTH];

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
	snprintf(cat, sizeof(cat), "%s%s", key, guid);
	SHA1((const uint8_t *)cat, strlen(cat), sha);
	EVP_EncodeBlock((uint8_t *)acc, sha, sizeof(sha));
	snprintf(resp, sizeof(resp),
	         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	         acc);
	return standin_send_all(fd, resp, strlen(resp));
}

#endif
