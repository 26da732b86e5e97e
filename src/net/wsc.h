/*
 * A WebSocket client (RFC 6455) on the calling thread's libre loop, for
 * ws:// and wss:// endpoints of speech providers: many sockets on one
 * thread, no thread per socket, every byte from the server checked.
 *
 * Life of a socket: wsc_alloc starts connecting and returns; then openh
 * once the server has accepted the upgrade, msgh for each whole message,
 * and closeh exactly once at the end, however it ends (refused upgrade,
 * failure, close handshake either way, malformed frame, timeout), unless
 * the owner lets go first. The owner may mem_deref the socket from any
 * of its handlers. Loop thread only; one thread may hold any number.
 */
#ifndef VOXGATE_NET_WSC_H
#define VOXGATE_NET_WSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsc;

enum wsc_op {
	WSC_CONT = 0x0,
	WSC_TEXT = 0x1,
	WSC_BINARY = 0x2,
	WSC_CLOSE = 0x8,
	WSC_PING = 0x9,
	WSC_PONG = 0xa,
};

/* Defaults of struct wsc_prm's limits. */
#define WSC_CONNECT_MS    10000
#define WSC_MAX_MESSAGE   (1024 * 1024)
#define WSC_MAX_QUEUE     (1024 * 1024)
#define WSC_CLOSE_WAIT_MS 2000
/* The body of a refused upgrade kept for the caller. */
#define WSC_BODY_MAX 4096

/* How a socket ended, for closeh; valid during the call only. */
struct wsc_end {
	int err;            /* 0: a close handshake; else what failed:
	                      ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH (DNS),
	                      EACCES (certificate not trusted), EPROTO (TLS,
	                      a bad upgrade answer or a malformed frame),
	                      EPERM (upgrade refused: see status),
	                      EMSGSIZE (message over max_message), EILSEQ
	                      (text not UTF-8), ECONNRESET (connection lost) */
	uint16_t status;    /* HTTP status of the upgrade answer, 0 if none */
	uint16_t code;      /* close code received, or sent when we ended it
	                      for a fault; 1006 when no close frame passed */
	bool opened;        /* openh was called */
	bool by_server;     /* the server started the close or cut the line */
	const char *reason; /* one line: the close reason, or what went
	                       wrong (with a refused upgrade, the status and
	                       the provider's message from its body, at most
	                       200 bytes of it) */
	const char *body;   /* a refused upgrade's body (at most
	                      WSC_BODY_MAX bytes, NUL-terminated), else "" */
	/* In reason and body, and in the log, the values of the credential
	 * headers (Authorization, and those whose name holds key, token or
	 * secret), the key after their scheme and any sk- token are masked
	 * with '*': servers quote what they refused. */
};

typedef void(wsc_open_h)(void *arg);
/* A whole message, fragments joined; p is valid during the call only. */
typedef void(wsc_msg_h)(enum wsc_op op, const uint8_t *p, size_t n, void *arg);
/* The send queue went down to half its bound after wsc_send refused. */
typedef void(wsc_writable_h)(void *arg);
typedef void(wsc_close_h)(const struct wsc_end *end, void *arg);

struct wsc_header {
	const char *name;
	const char *value;
};

struct wsc_prm {
	const char *url;                  /* ws:// or wss://, see net/url.h */
	const struct wsc_header *headerv; /* sent with the upgrade; never
	                                     logged (see wsc_end) */
	size_t headerc;
	const char *ca_file; /* PEM file of CAs to trust instead of the
	                         system's (tests); NULL: the system's */
	const char *ca_path; /* or a hashed directory of them (c_rehash),
	                        when ca_file is NULL */
	const char *label;   /* the log's name for it: "deepgram", ... */
	const char *call_id; /* the log's call, or NULL */
	uint32_t connect_ms; /* DNS, TCP, TLS and the upgrade answer;
	                         0: WSC_CONNECT_MS */
	uint32_t idle_ms;    /* nothing from the server for this long ends
	                         the socket (ETIMEDOUT); a ping goes out at
	                         half of it. 0: no limit */
	size_t max_message;  /* 0: WSC_MAX_MESSAGE */
	size_t max_queue;    /* bytes waiting to be sent before wsc_send
	                         refuses; 0: WSC_MAX_QUEUE */
	wsc_open_h *openh;
	wsc_msg_h *msgh;
	wsc_writable_h *writableh; /* may be NULL */
	wsc_close_h *closeh;
	void *arg;
};

/*
 * Starts connecting to prm->url; nothing is called back before this
 * returns. Strings in prm are copied. EINVAL with the reason in *why
 * (static) for a bad URL, header (CR, LF or NUL in it, or one the
 * handshake sets itself) or parameter; ENOMEM.
 */
int wsc_alloc(struct wsc **wscp, const struct wsc_prm *prm, const char **why);

/*
 * Queues a message (WSC_TEXT or WSC_BINARY; a WSC_PING with at most 125
 * bytes) as one masked frame and sends what the socket takes now.
 * ENOTCONN before openh and after closing started; EAGAIN when the
 * queue already holds max_queue bytes (writableh follows when it has
 * drained to half); EINVAL for another opcode; EILSEQ for text that is
 * not UTF-8; EMSGSIZE beyond 2^31 bytes.
 */
int wsc_send(struct wsc *w, enum wsc_op op, const void *p, size_t n);

/*
 * Starts the close handshake: code (1000-1003, 1007-1011 or 3000-4999)
 * and reason (UTF-8, at most 123 bytes; NULL for none) go to the server
 * after what is queued, and closeh follows when the server answers, or
 * after WSC_CLOSE_WAIT_MS. ENOTCONN when the socket is not open, EINVAL
 * for a code or reason RFC 6455 does not allow.
 */
int wsc_close(struct wsc *w, uint16_t code, const char *reason);

struct wsc_stats {
	uint64_t frames_rx, frames_tx; /* control frames included */
	uint64_t msgs_rx, msgs_tx;     /* data messages */
	uint64_t bytes_rx, bytes_tx;   /* WebSocket bytes: handshake and
	                                  frames, headers included */
	uint32_t pings_rx, pongs_rx, pings_tx;
	size_t queued;       /* bytes waiting to be sent */
	uint16_t status;     /* HTTP status of the upgrade answer, 0 before */
	uint16_t close_code; /* see struct wsc_end; 0 while open */
	uint32_t connect_ms; /* from wsc_alloc to openh, 0 before */
};

void wsc_stats(const struct wsc *w, struct wsc_stats *st);

/* The process's sockets since it started, all threads together. */
struct wsc_totals {
	uint64_t started;      /* wsc_alloc calls that returned 0 */
	uint64_t opened;       /* openh calls */
	uint64_t failed;       /* ended before opening, refusals included */
	uint64_t refused;      /* of those, an HTTP status other than 101 */
	uint64_t malformed;    /* ended by us for what the server sent */
	uint64_t closes[16];   /* ends by close code 1000 + i (1006: none) */
	uint64_t closes_other; /* ends by another close code */
	uint64_t open_now;     /* sockets alive (allocated, not yet freed) */
};

void wsc_totals(struct wsc_totals *t);

/*
 * The frame reader on its own, for any byte stream from a server: frames
 * checked against RFC 6455 before any length is used (no mask, no
 * reserved bit, known opcodes, control frames whole and at most 125
 * bytes, lengths in their shortest form, the 64-bit length's top bit
 * clear), fragments joined up to max_message bytes, text and close
 * reasons checked as UTF-8, close codes checked.
 */
struct wsc_rx {
	size_t max_message;
	uint8_t hdr[14];
	uint8_t have;    /* bytes of hdr read */
	bool in_payload; /* hdr is complete, payload being read */
	uint8_t op;      /* the current frame's */
	bool fin;
	uint64_t left;  /* payload bytes of the frame still to read */
	uint8_t msg_op; /* WSC_TEXT or WSC_BINARY while one is open */
	bool delivered; /* buf held a message the caller has seen */
	uint8_t *buf;   /* the message being joined (malloc'd) */
	size_t len, cap;
	uint8_t ctl[125]; /* the control frame being read */
	uint8_t ctl_len;
	char reason[124]; /* the last close frame's reason */
	uint64_t frames;  /* whole frames read */
};

/* A message or control frame read. p is valid until the next call. */
struct wsc_frame {
	enum wsc_op op; /* WSC_CONT: none complete yet */
	const uint8_t *p;
	size_t n;
	uint16_t close_code;      /* WSC_CLOSE: 1005 when the frame had none */
	const char *close_reason; /* WSC_CLOSE: a copy, NUL-terminated */
};

void wsc_rx_init(struct wsc_rx *rx, size_t max_message);
void wsc_rx_reset(struct wsc_rx *rx);

/*
 * Reads from p (n bytes) up to the end of the next whole message or
 * control frame, which *out then holds (out->op WSC_CONT when the bytes
 * ran out first); *used is the bytes consumed. On a rule broken: EPROTO
 * (close code 1002), EMSGSIZE (1009) or EILSEQ (1007), the code in
 * *code and the reason in *why (static); the stream cannot be trusted
 * after that.
 */
int wsc_rx_next(struct wsc_rx *rx, const uint8_t *p, size_t n, size_t *used,
                struct wsc_frame *out, uint16_t *code, const char **why);

/* Whether the reader is inside a frame (a cut now loses part of it). */
bool wsc_rx_mid_frame(const struct wsc_rx *rx);

/*
 * A client frame's header for a payload of n bytes under mask key: 2 to
 * 14 bytes written to hdr, their count returned.
 */
size_t wsc_frame_header(uint8_t hdr[14], enum wsc_op op, bool fin, uint64_t n,
                        const uint8_t key[4]);

#endif
