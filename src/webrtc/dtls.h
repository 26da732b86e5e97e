/*
 * DTLS 1.2 for WebRTC peer connections (RFC 5763, 5764, 8827) on OpenSSL 3:
 * the certificate a server presents in its SDP fingerprints, the handshake
 * of one peer connection, the SRTP master keys it yields and the
 * application data (SCTP, for data channels) that rides on it afterwards.
 *
 * No sockets, no threads, no timers of its own: the caller feeds each
 * received datagram (RFC 7983: first byte 20-63) to dtls_conn_recv, sends
 * the datagrams the send handler gets (each is one DTLS record, never more
 * than the MTU), and runs one timer from dtls_conn_timeout_ms, calling
 * dtls_conn_on_timeout when it fires; that timer drives the handshake's
 * retransmissions and its deadline.
 *
 * Peers are authenticated by the SHA-256 digest of their certificate,
 * which must match the a=fingerprint of their SDP; no CA is involved.
 *
 * Threads: a dtls_cert is read-only once made and may be shared by
 * connections on any thread (OpenSSL 3 lets many threads make connections
 * from one SSL_CTX); it may be released while its connections live, since
 * each holds OpenSSL's own (atomic) reference to what it needs. A
 * dtls_conn belongs to one thread at a time. Handlers run on the calling
 * thread, inside the call that triggered them; they must not free the
 * connection (defer that), and the send handler must not call back into
 * it.
 */
#ifndef VOXGATE_WEBRTC_DTLS_H
#define VOXGATE_WEBRTC_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DTLS_FP_LEN          32 /* a SHA-256 digest */
#define DTLS_FP_STR_SIZE     104 /* "sha-256 " + 32 hex pairs with colons + NUL */
#define DTLS_MTU             1200
#define DTLS_MTU_MIN         256 /* OpenSSL's floor */
#define DTLS_MTU_MAX         9000
#define DTLS_SRTP_MASTER_MAX 30 /* a 16-byte key and a 14-byte salt */
/* The longest datagram a connection takes is its MTU, and at least
 * Ethernet's: what a peer with another MTU than ours may send. */
#define DTLS_RX_MIN 1500
/* OpenSSL takes a DTLS timer within 15 ms of its end as run out: a
 * shorter first timeout would resend at every read. */
#define DTLS_RTO_MIN_MS 50

/* ---- the certificate ---- */

struct dtls_cert;
struct x509_st;

/*
 * A fresh self-signed ECDSA P-256 certificate (CN "voxgate", random
 * serial, valid from a day ago for 30 days) and the OpenSSL context every
 * connection is made from. Peers check only its fingerprint, not its
 * dates; a server running longer than that keeps working. A mem object:
 * mem_deref.
 */
int dtls_cert_alloc(struct dtls_cert **certp, const char **why);

/* "sha-256 AB:CD:...", the value of our a=fingerprint lines. */
const char *dtls_cert_fingerprint(const struct dtls_cert *cert);

/* The certificate itself (an X509), for tests and diagnostics. */
const struct x509_st *dtls_cert_x509(const struct dtls_cert *cert);

/*
 * Reads an a=fingerprint value (RFC 8122: hash function, a space, hex
 * pairs separated by colons; case-insensitive) into md. Only sha-256 is
 * accepted: another hash function gives ENOTSUP, anything malformed
 * EINVAL, with the reason in *why.
 */
int dtls_fingerprint_parse(uint8_t md[DTLS_FP_LEN], const char *s, size_t len,
                           const char **why);

/* ---- SRTP keys ---- */

/* The DTLS-SRTP protection profiles, by their IANA ids (RFC 5764, 7714). */
enum dtls_srtp_profile {
	DTLS_SRTP_NONE = 0,
	DTLS_SRTP_AES128_CM_SHA1_80 = 0x0001,
	DTLS_SRTP_AEAD_AES_128_GCM = 0x0007,
};

/* What a connection offers (client) or accepts (server). */
#define DTLS_SRTP_OFFER_GCM  0x1u
#define DTLS_SRTP_OFFER_CM80 0x2u
#define DTLS_SRTP_OFFER_ALL  (DTLS_SRTP_OFFER_GCM | DTLS_SRTP_OFFER_CM80)

/*
 * The SRTP master keys of a connection, each the master key followed by
 * the master salt, as libsrtp2 (srtp_profile_aead_aes_128_gcm,
 * srtp_profile_aes128_cm_sha1_80) and libre's srtp_alloc take them.
 */
struct dtls_srtp_keys {
	enum dtls_srtp_profile profile;
	size_t key_len;                       /* 16 */
	size_t salt_len;                      /* 14 (CM-80) or 12 (GCM) */
	uint8_t local[DTLS_SRTP_MASTER_MAX];  /* protects what we send */
	uint8_t remote[DTLS_SRTP_MASTER_MAX]; /* unprotects what we receive */
};

const char *dtls_srtp_profile_name(enum dtls_srtp_profile profile);

/* Bytes of keying material the profile takes: 2 * (key + salt). */
size_t dtls_srtp_material_len(enum dtls_srtp_profile profile);

enum dtls_role {
	DTLS_ROLE_SERVER = 0, /* waits for the ClientHello (we offered
	                         actpass and the peer answered active) */
	DTLS_ROLE_CLIENT,     /* sends the ClientHello (we answered active) */
};

/*
 * Splits keying material exported with the label "EXTRACTOR-dtls_srtp"
 * (RFC 5764 4.2: client key, server key, client salt, server salt) into
 * local and remote keys for the given role. EINVAL on an unknown profile
 * or a length other than dtls_srtp_material_len's.
 */
int dtls_srtp_split(struct dtls_srtp_keys *keys, enum dtls_srtp_profile profile,
                    enum dtls_role role, const uint8_t *material, size_t len);

/* ---- a connection ---- */

/* Handlers are named dtls_conn_*_h: libre's re_tls.h has dtls_estab_h and
 * others for its own DTLS sockets. */
struct dtls_conn;

enum dtls_state {
	DTLS_STATE_NEW = 0,   /* made, not started */
	DTLS_STATE_HANDSHAKE, /* started; the deadline runs */
	DTLS_STATE_CONNECTED, /* keys out, application data flows */
	DTLS_STATE_CLOSED,    /* close_notify sent or received */
	DTLS_STATE_FAILED,    /* dtls_conn_why says why */
};

/* One datagram to send to the peer, valid for the call. */
typedef void(dtls_conn_send_h)(const uint8_t *pkt, size_t len, void *arg);
/* The handshake is complete and the peer's certificate matched. */
typedef void(dtls_conn_estab_h)(const struct dtls_srtp_keys *keys, void *arg);
/* Application data from the peer (one record), valid for the call. */
typedef void(dtls_conn_recv_h)(const uint8_t *data, size_t len, void *arg);
/* The connection failed (err, why) or the peer closed it (0). Not called
 * for dtls_conn_close. */
typedef void(dtls_conn_close_h)(int err, const char *why, void *arg);

struct dtls_conn_prm {
	enum dtls_role role;
	const char *remote_fp;   /* the peer's a=fingerprint value */
	size_t remote_fp_len;    /* 0: remote_fp is NUL-terminated */
	unsigned srtp_offer;     /* DTLS_SRTP_OFFER_*; 0 = both, GCM first */
	uint16_t mtu;            /* largest datagram; 0 = DTLS_MTU */
	uint32_t rto_ms;         /* first retransmission timeout, at least
	                          DTLS_RTO_MIN_MS, doubled up to 8 times
	                          that; 0 = 500 */
	uint32_t deadline_ms;    /* the handshake must end within this from
	                          dtls_conn_start; 0 = 15000 */
	const char *label;       /* names the connection in log lines */
	dtls_conn_send_h *sendh; /* required */
	dtls_conn_estab_h *estabh;
	dtls_conn_recv_h *recvh;
	dtls_conn_close_h *closeh;
	void *arg;
};

struct dtls_stats {
	uint64_t rx_datagrams; /* fed to dtls_conn_recv */
	uint64_t rx_refused;   /* not DTLS framing (or too long): dropped */
	uint64_t rx_ignored;   /* arrived after close or failure */
	uint64_t tx_datagrams;
	uint64_t tx_bytes;
	uint64_t retransmits; /* flights resent on a timeout */
	uint64_t app_rx;      /* application data records received */
	uint64_t app_rx_bytes;
	uint64_t app_tx;
	uint64_t app_tx_bytes;
	uint64_t handshake_us; /* from start to connected; 0 until then */
};

/*
 * A connection made from cert's context. EINVAL on a missing send
 * handler, a role, MTU or retransmission timeout out of range; ENOTSUP or EINVAL for a remote
 * fingerprint dtls_fingerprint_parse refuses. A mem object: mem_deref
 * (which sends nothing: dtls_conn_close sends the close_notify).
 */
int dtls_conn_alloc(struct dtls_conn **connp, struct dtls_cert *cert,
                    const struct dtls_conn_prm *prm, const char **why);

/*
 * Starts the handshake once ICE has found the peer: a client sends its
 * ClientHello, a server waits for one. The deadline runs from here. A
 * server that receives a datagram before this call starts then. EALREADY
 * when started before.
 */
int dtls_conn_start(struct dtls_conn *conn, const char **why);

/*
 * Feeds one received datagram. 0 when it was taken (it may have completed
 * the handshake, carried application data or a close_notify, or been
 * discarded by OpenSSL as DTLS requires of records that fail their checks).
 * EBADMSG when it is not DTLS records (a truncated or unknown header,
 * bytes left over) and EMSGSIZE when longer than the MTU or DTLS_RX_MIN,
 * whichever is larger: the datagram is dropped and counted, the
 * connection goes on. ENOTCONN after
 * close or failure. Any other error means the connection failed on this
 * datagram: EPROTO (the handshake broke, an alert came, no SRTP profile in
 * common), EACCES (the peer's certificate does not match its fingerprint).
 * *why (may be NULL) tells which.
 */
int dtls_conn_recv(struct dtls_conn *conn, const uint8_t *pkt, size_t len,
                   const char **why);

/*
 * Milliseconds until dtls_conn_on_timeout should run (0: now), or -1 when
 * nothing is pending. Ask again after every call that may have sent or
 * received, and re-arm the timer.
 */
int dtls_conn_timeout_ms(struct dtls_conn *conn);

/*
 * Resends the last flight when its timer has run out, and fails the
 * connection with ETIMEDOUT when the handshake deadline has passed or the
 * peer never answered the retransmissions. 0 otherwise (also when called
 * early).
 */
int dtls_conn_on_timeout(struct dtls_conn *conn, const char **why);

/*
 * Sends one record of application data. ENOTCONN before the handshake
 * completes or after close; EMSGSIZE when longer than dtls_conn_app_mtu.
 */
int dtls_conn_send_app(struct dtls_conn *conn, const uint8_t *data, size_t len,
                       const char **why);

/* The largest application data record a datagram of the MTU carries with
 * the negotiated cipher; 0 before the handshake completes. */
size_t dtls_conn_app_mtu(const struct dtls_conn *conn);

/* Sends a close_notify when connected; the connection is CLOSED after. */
void dtls_conn_close(struct dtls_conn *conn);

enum dtls_state dtls_conn_state(const struct dtls_conn *conn);
const char *dtls_conn_state_name(enum dtls_state state);
/* Why the connection failed or closed; NULL while it has not. */
const char *dtls_conn_why(const struct dtls_conn *conn);
/* ENOTCONN until connected. */
int dtls_conn_srtp_keys(const struct dtls_conn *conn,
                        struct dtls_srtp_keys *keys);
const struct dtls_stats *dtls_conn_stats(const struct dtls_conn *conn);

#endif
