/*
 * WebRTC data channels for one peer connection: an SCTP association over
 * the connection's DTLS (RFC 8831, RFC 8261) on usrsctp 0.9.5, with the
 * Data Channel Establishment Protocol (RFC 8832) on top.
 *
 * The prefix is sctpx_ because libusrsctp exports sctp_* (sctp_init,
 * sctp_input, sctp_close, sctp_shutdown...): a function of ours with one of
 * those names would take the place of the library's own.
 *
 * No sockets and no timers of its own. The caller gives sctpx_input each
 * application data record DTLS delivers, sends what the send handler gets
 * as one application data record each, and calls sctpx_timers every
 * SCTPX_TICK_MS or so with the milliseconds that really passed, for every
 * association of the process at once (usrsctp has one timer queue).
 *
 * Both ends send INIT once DTLS is up, whatever their DTLS role, as RFC
 * 8841 9.3 and libwebrtc do; SCTP resolves the collision. Channels the
 * DTLS client opens use even stream ids, the DTLS server's odd ones (RFC
 * 8832 6). A channel opened here may carry messages at once; until the
 * peer's DATA_CHANNEL_ACK (or its first message) they are sent ordered.
 * A channel the peer opens is offered to the open handler, then
 * acknowledged. Closing resets the outgoing stream (RFC 8831 6.7); the
 * channel is closed, and its close handler called, once the peer has
 * reset its side too, or at once when the peer started.
 *
 * Threads: usrsctp's state is process-wide, so every association of the
 * process, and sctpx_timers, belong to ONE thread: the thread of the
 * first sctpx_alloc. Calls from any other thread fail with EPERM (or,
 * returning nothing, are refused and logged). usrsctp_init_nothreads
 * starts no timer or receive thread, but usrsctp 0.9.5 still starts its
 * "SCTP iterator" thread; it sleeps until an address change is queued
 * (sctpx_alloc and mem_deref register and withdraw an AF_CONN address)
 * and then walks only endpoints bound to every address, which ours never
 * are, so it calls nothing here. usrsctp takes its own mutexes on every
 * call, uncontended. Handlers run on the owning thread, from inside the
 * sctpx_* call that made the event happen but never from inside usrsctp:
 * they may call any sctpx_* function, including on this association,
 * except mem_deref of the association (defer that). The send handler is
 * the exception: usrsctp calls it from inside, holding its locks, so it
 * must only hand the packet on (to DTLS) and never call sctpx_*.
 *
 * Hostile packets: usrsctp parses them, after a check of their framing
 * here (chunk lengths; the parameters of INIT and INIT ACK chunks), since
 * usrsctp 0.9.5, Debian 12's, loops forever on an INIT for an existing
 * association whose parameter has length 0 (fixed upstream after 0.9.5).
 * Such packets are refused with EBADMSG and counted; genuine stacks never
 * send them. usrsctp itself drops what fails its checksum and tag checks
 * (sctpx_lib_stats).
 *
 * Clocks: usrsctp counts time in the ticks sctpx_timers gives it, but
 * also reads the wall clock (gettimeofday) to measure round trips and to
 * tell which outstanding chunks a retransmission timeout may resend. The
 * wall clock stepping back by more than a retransmission timeout stalls
 * retransmissions until the association fails (within about a minute, if
 * data was outstanding); ICE consent and DTLS see the same peer.
 *
 * Costs, from the cost and memory cases of tests/unit/sctp_test.c built
 * -O2 without sanitizers (make's ASan build prints about 2.5 times the
 * time) on the 2-core test machine: a 200-byte message costs about 4 us
 * sent and received (both ends' usrsctp, the SACKs included), 1000 bytes
 * 5.5 us, 16 KiB 80 us; an association that is up with 4 channels holds
 * about 29 KiB of heap (23 KiB of them usrsctp's, for 128 streams each
 * way).
 * usrsctp allocates on every packet (mbufs, and a flat copy of each
 * packet it sends): data channels are kept off the media path. Every
 * bound: packets up to SCTPX_PACKET_MAX, messages up to max_message_size
 * (larger ones are dropped and counted; the receive buffer starts at
 * 4 KiB and grows to the largest message seen), at most max_channels
 * channels (more are refused and counted), at most SCTPX_STREAMS streams,
 * a send buffer of SCTPX_SNDBUF (or the largest message the peer takes)
 * after which sending says EAGAIN.
 */
#ifndef VOXGATE_WEBRTC_SCTP_H
#define VOXGATE_WEBRTC_SCTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCTPX_PORT 5000 /* a=sctp-port, ours and libwebrtc's */
/* The largest SCTP packet, which must fit one DTLS record in one
 * datagram: dtls_conn_app_mtu gives the figure; the default fits a
 * DTLS_MTU datagram with any cipher dtls.c allows (AEAD, 37 bytes). */
#define SCTPX_MTU_DEFAULT 1160
#define SCTPX_MTU_MIN     576
#define SCTPX_MTU_MAX     9000
/* What sctpx_input takes: a DTLS record's plaintext at most. */
#define SCTPX_PACKET_MAX 16384
#define SCTPX_PACKET_MIN 12 /* the SCTP common header */
/* The largest message received (our a=max-message-size, WSDP's) unless
 * the parameters say otherwise, and the largest they may say. */
#define SCTPX_MAX_MESSAGE_DEFAULT 262144
#define SCTPX_MAX_MESSAGE_LIMIT   1048576
/* Streams offered each way. RFC 8831 6.2 suggests 65535, which costs
 * usrsctp 2.6 MB per association; ids below 128 leave each side 64. */
#define SCTPX_STREAMS          128
#define SCTPX_CHANNELS_DEFAULT 16
#define SCTPX_CHANNELS_MAX     64
/* A label or protocol longer than this is refused (LiveKit's are
 * "_reliable", "_lossy", "_data_track" and ""). */
#define SCTPX_LABEL_MAX    64
#define SCTPX_PROTOCOL_MAX 32
#define SCTPX_SNDBUF       262144
/* How often sctpx_timers should run: usrsctp's own timer thread ticks
 * every 10 ms. */
#define SCTPX_TICK_MS 10

/* Payload protocol identifiers (RFC 8831 8, RFC 8832 8.1). */
enum sctpx_ppid {
	SCTPX_PPID_DCEP = 50,
	SCTPX_PPID_STRING = 51,
	SCTPX_PPID_BINARY = 53,
	SCTPX_PPID_STRING_EMPTY = 56,
	SCTPX_PPID_BINARY_EMPTY = 57,
};

static inline bool sctpx_ppid_binary(uint32_t ppid)
{
	return ppid == SCTPX_PPID_BINARY || ppid == SCTPX_PPID_BINARY_EMPTY;
}

enum sctpx_state {
	SCTPX_STATE_NEW = 0,    /* made; INIT not sent */
	SCTPX_STATE_CONNECTING, /* INIT sent (sctpx_start or the peer's
	                           first packet) */
	SCTPX_STATE_UP,         /* channels may open */
	SCTPX_STATE_CLOSED,     /* shut down by either side */
	SCTPX_STATE_FAILED,     /* aborted, lost, or never came up:
	                           sctpx_why says which */
};

/*
 * A data channel. To open one: label and protocol (NULL: ""), ordered,
 * and at most one of max_rtx (retransmissions; 0 for LiveKit's "_lossy")
 * and max_life_ms (lifetime) >= 0, the other -1; both -1 is reliable.
 * For the open handler, also sid, and strings that live for the call.
 */
struct sctpx_chan {
	uint16_t sid;
	const char *label;
	const char *protocol;
	bool ordered;
	int32_t max_rtx;
	int32_t max_life_ms;
	uint16_t priority; /* RFC 8832's (256 is normal), carried as is */
};

/* One SCTP packet for the peer: send it as one DTLS application data
 * record. Valid for the call; called from inside usrsctp (see above).
 * A nonzero return counts it as not sent (SCTP retransmits). */
typedef int(sctpx_send_h)(const uint8_t *pkt, size_t len, void *arg);
/* The association came up, or ended: CLOSED (shutdown) or FAILED (why).
 * Channels still open get their close handler first. */
typedef void(sctpx_state_h)(enum sctpx_state state, const char *why, void *arg);
/* The peer opened a channel; return false to refuse it (the stream is
 * reset, RFC 8832 6). Without a handler every channel is accepted. */
typedef bool(sctpx_open_h)(const struct sctpx_chan *chan, void *arg);
/* A whole message on an open channel: ppid is one of STRING, BINARY,
 * STRING_EMPTY, BINARY_EMPTY (len 0). Valid for the call. */
typedef void(sctpx_message_h)(uint16_t sid, enum sctpx_ppid ppid,
                              const uint8_t *data, size_t len, void *arg);
/* A channel closed (by either side, or refused after the fact); its id
 * may be reused after this. */
typedef void(sctpx_close_h)(uint16_t sid, void *arg);
/* The send buffer has room again after a send said EAGAIN. */
typedef void(sctpx_writable_h)(void *arg);

struct sctpx_prm {
	bool dtls_client;          /* our DTLS role: even stream ids */
	uint16_t local_port;       /* 0: SCTPX_PORT */
	uint16_t remote_port;      /* the peer's a=sctp-port; 0: SCTPX_PORT */
	uint16_t mtu;              /* 0: SCTPX_MTU_DEFAULT */
	uint32_t max_message_size; /* what we receive; 0: the default */
	/* What the peer receives: its a=max-message-size, 65536 when its
	 * SDP has none (RFC 8841 6.1); 0 means it gave 0, no limit, and
	 * sending stops at SCTPX_MAX_MESSAGE_LIMIT. */
	uint32_t peer_max_message_size;
	unsigned max_channels; /* 0: SCTPX_CHANNELS_DEFAULT */
	const char *label;     /* names the association in log lines */
	sctpx_send_h *sendh;   /* required */
	sctpx_state_h *stateh;
	sctpx_open_h *openh;
	sctpx_message_h *messageh;
	sctpx_close_h *closeh;
	sctpx_writable_h *writableh;
	void *arg;
};

struct sctpx_stats {
	uint64_t rx_packets; /* given to usrsctp */
	uint64_t rx_bytes;
	/* shorter than a header, longer than SCTPX_PACKET_MAX or framed
	 * wrong (see above): not given to usrsctp */
	uint64_t rx_refused;
	uint64_t rx_ignored; /* arrived after the association ended */
	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t tx_failed; /* the send handler said no */
	uint64_t msg_rx;    /* messages to the message handler */
	uint64_t msg_rx_bytes;
	uint64_t msg_tx; /* messages sctpx_send queued */
	uint64_t msg_tx_bytes;
	uint64_t msg_too_big;  /* larger than max_message_size: dropped */
	uint64_t msg_no_chan;  /* on a stream with no open channel */
	uint64_t msg_bad_ppid; /* an unknown or deprecated PPID */
	uint64_t msg_partial_aborted; /* the peer abandoned it midway */
	uint64_t send_blocked;        /* sctpx_send said EAGAIN */
	/* slots taken by channels of either side (one the open handler
	 * refuses counts here and in chan_closed) */
	uint64_t chan_opened;
	uint64_t chan_closed;
	uint64_t chan_refused; /* the peer's OPEN refused: full table,
	                           wrong parity, bad label, handler */
	uint64_t dcep_bad;     /* DCEP messages malformed or unexpected */
	uint64_t resets_in;    /* streams the peer reset */
	uint64_t resets_out;   /* streams we reset */
	uint64_t notifications;
	uint64_t rx_buf_grown; /* receive buffer enlarged for a message */
	uint64_t setup_us;     /* from start to up; 0 until then */
};

/* What usrsctp counted for the whole process: packets it dropped before
 * any association saw them. */
struct sctpx_lib_stats {
	uint64_t in_packets;
	uint64_t bad_checksum;
	uint64_t bad_vtag;
	uint64_t out_of_the_blue;
	uint64_t stray_output; /* made for an association being freed (its
	                          ABORT) or gone: not sent */
};

struct sctpx_assoc;

/*
 * A new association, bound but silent until sctpx_start (or the peer's
 * first packet). The first call in the process initialises usrsctp and
 * makes the calling thread the owner of all associations. EINVAL on a
 * missing send handler or a parameter out of range, EPERM on another
 * thread, ENOMEM, or EIO when usrsctp refuses the socket. A mem object:
 * mem_deref closes it at once and silently (no ABORT goes out: the DTLS
 * under it is going too; sctpx_shutdown first for a clean end).
 */
int sctpx_alloc(struct sctpx_assoc **ap, const struct sctpx_prm *prm,
                const char **why);

/* Sends INIT: call once DTLS is connected. EALREADY when started (the
 * peer's first packet starts it too). */
int sctpx_start(struct sctpx_assoc *a, const char **why);

/*
 * One DTLS application data record from the peer. 0 when usrsctp took it
 * (which says nothing of whether it was valid: usrsctp drops what fails
 * its checks, see sctpx_lib_stats). EBADMSG (shorter than
 * SCTPX_PACKET_MIN, or its framing refused, see above) and EMSGSIZE
 * (longer than SCTPX_PACKET_MAX) drop it unseen; ENOTCONN after the
 * association ended. Starts the association when sctpx_start has not.
 */
int sctpx_input(struct sctpx_assoc *a, const uint8_t *pkt, size_t len,
                const char **why);

/* Runs usrsctp's timers (retransmissions, delayed SACKs, heartbeats) for
 * every association, elapsed_ms after the last call, by a monotonic clock.
 * On the owning thread, every SCTPX_TICK_MS while sctpx_count() is not 0
 * (a libre tmr on the signalling thread does). */
void sctpx_timers(uint32_t elapsed_ms);

/* Associations alive in the process. */
unsigned sctpx_count(void);

/*
 * Opens a channel (DATA_CHANNEL_OPEN) on the lowest free stream id of our
 * parity, into *sidp. ENOTCONN unless up, EINVAL on bad parameters,
 * ENOSPC when max_channels are open or no stream id is free, EAGAIN when
 * the send buffer is full.
 */
int sctpx_open_channel(struct sctpx_assoc *a, const struct sctpx_chan *prm,
                       uint16_t *sidp, const char **why);

/*
 * Sends one message on an open channel: ppid STRING or BINARY (sent as
 * the _EMPTY form, a single zero byte, when len is 0, RFC 8831 6.6).
 * ENOTCONN unless up, ENOENT when no channel is open on sid, EINVAL for
 * another PPID, EMSGSIZE when longer than the peer takes, EAGAIN when the
 * send buffer is full (the writable handler tells when to retry).
 */
int sctpx_send(struct sctpx_assoc *a, uint16_t sid, enum sctpx_ppid ppid,
               const uint8_t *data, size_t len, const char **why);

/*
 * Sends any bytes with any PPID on any stream below SCTPX_STREAMS,
 * ordered or not, outside every channel rule: what a hostile peer may
 * send (DCEP included). For tests and fuzzing.
 */
int sctpx_send_raw(struct sctpx_assoc *a, uint16_t sid, uint32_t ppid,
                   bool ordered, const uint8_t *data, size_t len,
                   const char **why);

/* Closes a channel (resets its outgoing stream). ENOENT when none is open
 * on sid; EALREADY when it is closing. */
int sctpx_close_channel(struct sctpx_assoc *a, uint16_t sid, const char **why);

/* Shuts the association down cleanly (SHUTDOWN once what is queued has
 * been acknowledged); it is CLOSED when the peer confirms. */
void sctpx_shutdown(struct sctpx_assoc *a);

/* The channel on sid, whether its OPEN was acknowledged (or it was the
 * peer's), and whether it is closing. ENOENT when none is there. The
 * strings live until the channel closes. */
int sctpx_channel(const struct sctpx_assoc *a, uint16_t sid,
                  struct sctpx_chan *chan, bool *acked, bool *closing);
unsigned sctpx_channels(const struct sctpx_assoc *a);

enum sctpx_state sctpx_state(const struct sctpx_assoc *a);
const char *sctpx_state_name(enum sctpx_state state);
const char *sctpx_why(const struct sctpx_assoc *a);
/* Streams each way once up (the smaller of what each side offered). */
uint16_t sctpx_streams(const struct sctpx_assoc *a);
/* The largest message sctpx_send takes. */
size_t sctpx_send_max(const struct sctpx_assoc *a);
const struct sctpx_stats *sctpx_stats(const struct sctpx_assoc *a);
void sctpx_lib_stats(struct sctpx_lib_stats *st);

#endif
