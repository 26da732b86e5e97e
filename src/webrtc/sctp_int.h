/*
 * WebRTC data channels (sctp.h): what the parts share, and nothing outside
 * src/webrtc/sctp*.c includes it. It brings the libre headers the parts use
 * (libre's have no include guards: a part includes none of its own).
 *
 * An association is one struct sctpx_assoc whichever part is at work on it
 * (usrsctp's process-wide side and the reads, the association's life, the
 * channels and their messages), so the struct and the calls between the
 * parts live here rather than in the public header.
 */
#ifndef VOXGATE_WEBRTC_SCTP_INT_H
#define VOXGATE_WEBRTC_SCTP_INT_H

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <re_types.h>
#include <re_list.h>
#include <re_hash.h>
#include <re_mem.h>
#include <usrsctp.h>
#include "core/be.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/utf8.h"
#include "webrtc/sctp.h"

#define RX_INITIAL     4096 /* LiveKit's packets; a text stream's chunk grows it */
#define NOTIF_MAX      1024 /* a reset of every stream: 16 + 2 * 128 */
#define DRAIN_MAX      4096 /* reads per association per drain */
#define DCEP_OPEN      0x03
#define DCEP_ACK       0x02
#define DCEP_OPEN_HDR  12
#define INIT_FIXED     20 /* chunk header, tag, a_rwnd, streams, TSN */
#define DCEP_UNORDERED 0x80
#define DCEP_REXMIT    0x01
#define DCEP_TIMED     0x02

/* usrsctp's settings, process-wide (set once, before the first socket). */
#define RTO_INITIAL_MS 1000
#define RTO_MIN_MS     200 /* Linux TCP's, not RFC 4960's 1 s */
#define RTO_MAX_MS     10000
#define INIT_RTX_MAX   8  /* RFC 4960 15's Max.Init.Retransmits */
#define ASSOC_RTX_MAX  10 /* its Association.Max.Retrans */
/* Not RFC 4960's 5: with one path, a path marked unreachable before the
 * association fails gets no new data until a heartbeat revives it (an
 * acknowledged retransmission does not), and a lossy link stalls. */
#define PATH_RTX_MAX  ASSOC_RTX_MAX
#define SACK_DELAY_MS 20
#define INITIAL_CWND  10 /* MTUs, RFC 6928 */
#define MAX_BURST     10

enum chan_state {
	CHAN_FREE = 0,
	CHAN_OPEN,    /* acked or not: see acked */
	CHAN_CLOSING, /* our outgoing stream reset; waiting for the peer's */
};

struct chan {
	enum chan_state state;
	uint16_t sid;
	bool local; /* we opened it */
	bool acked; /* local: the peer's ACK (or first message) came */
	bool ordered;
	int32_t max_rtx;
	int32_t max_life_ms;
	uint16_t priority;
	char label[SCTPX_LABEL_MAX + 1];
	char protocol[SCTPX_PROTOCOL_MAX + 1];
};

struct sctpx_assoc {
	struct le he; /* in sctp_g.assocs, by id */
	struct le pe; /* in sctp_g.pending while there may be events to read */
	uint32_t id;
	struct socket *so;
	enum sctpx_state state;
	const char *why;
	bool dtls_client;
	bool draining;
	bool tx_blocked;
	bool shutting;
	bool silent;  /* being freed: nothing goes out any more */
	bool counted; /* in sctp_g.assocs, its address registered */
	uint16_t lport, rport, mtu;
	uint16_t streams;
	uint32_t max_msg;
	size_t send_max;
	uint64_t start_us;
	struct sctpx_stats stats;
	char label[32];
	unsigned logged; /* LOGGED_* kinds already logged once */
	sctpx_send_h *sendh;
	sctpx_state_h *stateh;
	sctpx_open_h *openh;
	sctpx_message_h *messageh;
	sctpx_close_h *closeh;
	sctpx_writable_h *writableh;
	void *arg;
	/* the message being read */
	uint8_t *rx;
	size_t rx_cap, rx_len;
	bool rx_discard;
	uint16_t rx_sid;
	uint32_t rx_ppid;
	/* the notification being read, aligned for usrsctp's structs */
	_Alignas(union sctp_notification) uint8_t notif[NOTIF_MAX];
	size_t notif_len;
	bool notif_discard;
	/* channels */
	unsigned max_chan, nchan;
	struct chan *chans;
	uint8_t resetting[SCTPX_STREAMS / 8]; /* our resets in flight */
};

enum {
	LOGGED_TOO_BIG = 1u << 0,
	LOGGED_NO_CHAN = 1u << 1,
	LOGGED_PPID = 1u << 2,
	LOGGED_DCEP = 1u << 3,
	LOGGED_REFUSED = 1u << 4,
	LOGGED_PACKET = 1u << 5,
};

/* The process-wide part; only the owning thread touches it. */
struct sctp_proc {
	bool init;
	pthread_t owner;
	struct hash *assocs;
	struct list pending;
	uint32_t next_id;
	unsigned count;
	bool draining;
	uint64_t stray_output;
};

extern struct sctp_proc sctp_g;

/* sctp.c: the process and the reads */
bool sctp_on_owner(void);
struct sctpx_assoc *sctp_find(void *addr);
void *sctp_id_addr(const struct sctpx_assoc *a);
void sctp_upcall(struct socket *so, void *arg, int flags);
int sctp_lib_init(const char **why);
void sctp_drain_pending(void);

/* sctp_assoc.c: an association's life */
void sctp_end(struct sctpx_assoc *a, enum sctpx_state state, const char *why);
int sctp_check(const struct sctpx_assoc *a, const char **why);
void sctp_notification(struct sctpx_assoc *a);

/* sctp_chan.c: the channels, DCEP and the messages */
void sctp_chan_closed(struct sctpx_assoc *a, struct chan *c);
void sctp_log_once(struct sctpx_assoc *a, unsigned kind, const char *event,
                   uint16_t sid, const char *reason);
void sctp_message(struct sctpx_assoc *a, uint16_t sid, uint32_t ppid,
                  const uint8_t *data, size_t len);
void sctp_stream_reset(struct sctpx_assoc *a,
                       const struct sctp_stream_reset_event *ev, size_t len);

#endif
