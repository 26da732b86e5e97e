/*
 * A guard on the frames a WebSocket receives, checked before libre's
 * decoder sees them.
 *
 * libre 1.1.0's websock_decode trusts the 64-bit payload length of a
 * frame header (4 + len wraps, then it unmasks past its buffer). Every
 * WebSocket voxgate accepts or opens gets a guard that follows the frame
 * boundaries in the byte stream and ends the connection on a header that
 * breaks RFC 6455 or announces a payload larger than the connection's
 * limit, whatever libre version is installed.
 */
#ifndef VOXGATE_NET_WSGUARD_H
#define VOXGATE_NET_WSGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The frame checker on its own, for any byte stream. */
struct wsframe {
	uint64_t left;   /* payload bytes still to skip */
	uint8_t hdr[14]; /* the header being read */
	uint8_t have;    /* bytes of hdr read */
	bool masked;     /* frames must be masked (a server reading a client) */
	bool in_message; /* a fragmented message is open */
	uint64_t max_payload;
};

void wsframe_init(struct wsframe *f, bool masked, uint64_t max_payload);
/* The whole header's length, from its first two bytes (RFC 6455 5.2). */
size_t wsframe_header_size(const uint8_t *h);

/*
 * Follows n more bytes of the stream. Returns 0, or EPROTO (a header
 * RFC 6455 forbids) or EMSGSIZE (a payload over max_payload) with the
 * reason in *why; after an error the stream cannot be trusted any more.
 */
int wsframe_feed(struct wsframe *f, const uint8_t *p, size_t n,
                 const char **why);

struct websock_conn;

struct wsguard_prm {
	bool server;          /* we accepted it: the peer must mask */
	uint64_t max_payload; /* 0 = WSGUARD_MAX_PAYLOAD */
	const char *label;    /* for the log: "agent", "stream", ... */
};

#define WSGUARD_MAX_PAYLOAD 65536

/*
 * Guards wc's connection from now on: call it right after websock_accept,
 * or in the estab handler of websock_connect. It also turns Nagle's
 * algorithm off on the connection (TCP_NODELAY), so that a reply made of
 * several small messages is not held back by the peer's delayed ACK. The
 * guard lives as long as the TCP connection does (libre keeps a closing
 * WebSocket open for a while after its owner has let it go), so there is
 * nothing to free. Main thread only.
 */
int wsguard_attach(struct websock_conn *wc, const struct wsguard_prm *prm);

/* Guards alive (for the tests). */
unsigned wsguard_count(void);

#endif
