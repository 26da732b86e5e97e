/*
 * ICE-lite responder for one peer connection (RFC 8445 lite agent, RFC
 * 7675 consent freshness), on the connection's own UDP socket.
 *
 * voxgate never sends checks: it publishes one host candidate and answers
 * each STUN Binding request that authenticates with its credentials, for
 * the whole life of the connection, since libwebrtc keeps sending consent
 * checks (about every 5 s) and fails the connection after 30 s without an
 * answer. A lite agent is always controlled, so it never answers 487.
 *
 * Requests are read and replies written here, into the caller's buffer,
 * without allocating: libre 1.1.0's stun_msg_decode allocates for the
 * message and each attribute, its stun_reply allocates an mbuf, and
 * OpenSSL 3.0's HMAC() allocates on every call, so the HMAC-SHA1 is built
 * on OpenSSL's SHA1 functions and the CRC-32 of FINGERPRINT is our own.
 *
 * What is checked, in order, and the result when it fails (only the
 * last two results write a reply; nothing else is ever answered):
 *   a STUN header (cookie, length = datagram), attributes in bounds,
 *   known attributes of their size, nothing after FINGERPRINT
 *                                                  ICE_RX_MALFORMED
 *   FINGERPRINT present and right                  ICE_RX_BAD_FINGERPRINT
 *   a Binding request (not a response, indication) ICE_RX_NOT_REQUEST
 *   USERNAME "<our ufrag>:<their ufrag>"           ICE_RX_BAD_USERNAME
 *   MESSAGE-INTEGRITY, HMAC-SHA1 keyed by our pwd  ICE_RX_BAD_INTEGRITY
 *   no unknown comprehension-required attribute    ICE_RX_REJECTED (420)
 *   PRIORITY and ICE-CONTROLLING present           ICE_RX_REJECTED (400)
 *   then: Binding success                          ICE_RX_ANSWERED
 *
 * Unauthenticated requests get no error response, although RFC 5389
 * 10.1.2 asks for 400 (USERNAME or MESSAGE-INTEGRITY missing) and 401
 * (unknown username, wrong integrity): such a response cannot carry
 * MESSAGE-INTEGRITY, so the peer cannot trust it; libwebrtc treats a 401
 * like a lost response and retries; LiveKit's own ICE (pion) drops these
 * requests silently, so every client that works with LiveKit works with
 * the silence; and answering whoever sends a datagram with a valid CRC
 * would make each WebRTC port a reflector (a 400 is larger than the
 * smallest request) and tell a scanner what the port is. Authenticated
 * errors (400, 420) are answered, signed like a success.
 *
 * Owned by the thread that runs the connection's socket; not thread-safe.
 * No global state.
 */
#ifndef VOXGATE_WEBRTC_ICE_H
#define VOXGATE_WEBRTC_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sa; /* libre's re_sa.h, which has no include guard */

/* Our credentials: 16 and 32 characters of a 57-letter alphabet, about
 * 93 and 186 bits from getrandom (RFC 8445 asks for at least 24 and 128
 * bits). Theirs, as RFC 8839 bounds them: 4-256 and 22-256 ice-chars. */
#define ICE_UFRAG_LEN 16
#define ICE_PWD_LEN   32
#define ICE_UFRAG_MIN 4
#define ICE_PWD_MIN   22
#define ICE_CRED_MAX  256

/* A reply buffer of this size holds any reply ice_recv writes. */
#define ICE_REPLY_MAX 128

/* RFC 7675: consent is lost 30 s after the last valid check. */
#define ICE_CONSENT_MS 30000

/* RFC 7983: what a datagram on the connection's port is, by its first
 * byte (and, for RTP and RTCP, its second: RFC 5761 section 4). */
enum ice_pkt {
	ICE_PKT_OTHER, /* empty, or 4-19, 64-127, 192-255 (ZRTP, TURN...) */
	ICE_PKT_STUN,  /* 0-3 */
	ICE_PKT_DTLS,  /* 20-63 */
	ICE_PKT_RTP,   /* 128-191, second byte outside 192-223 */
	ICE_PKT_RTCP,  /* 128-191, second byte 192-223 */
};

enum ice_pkt ice_demux(const uint8_t *b, size_t len);

/* What ice_recv made of a datagram; also the index of its counter. */
enum ice_rx {
	ICE_RX_ANSWERED,        /* a valid check: Binding success written */
	ICE_RX_REJECTED,        /* authenticated but refused: 400 or 420 */
	ICE_RX_MALFORMED,       /* not a STUN message that can be read */
	ICE_RX_BAD_FINGERPRINT, /* FINGERPRINT missing or wrong */
	ICE_RX_NOT_REQUEST,     /* STUN, but not a Binding request */
	ICE_RX_BAD_USERNAME,    /* USERNAME missing or not ours */
	ICE_RX_BAD_INTEGRITY,   /* MESSAGE-INTEGRITY missing or wrong */
	ICE_RX_COUNT
};

/* A short name for logs and metrics labels: "answered", "rejected",
 * "malformed", "bad_fingerprint", "not_request", "bad_username",
 * "bad_integrity". */
const char *ice_rx_name(enum ice_rx rx);

/* The responder's state, embedded in the peer connection. */
struct ice_lite {
	char ufrag[ICE_UFRAG_LEN + 1]; /* ours: a=ice-ufrag */
	char pwd[ICE_PWD_LEN + 1];     /* ours: a=ice-pwd */
	char rufrag[ICE_CRED_MAX + 1]; /* theirs; "" until known */
	char rpwd[ICE_CRED_MAX + 1];   /* theirs, from the SDP; "" until
	                                  known (a lite agent never needs it) */
	uint64_t consent_ms;           /* the last valid check, or the start */
	bool checked;                  /* a valid check since init or restart */
	uint64_t count[ICE_RX_COUNT];  /* datagrams by result */
};

/* What a valid check asks of the caller. */
struct ice_check {
	size_t reply_len; /* > 0: send reply[0, reply_len) back to src */
	bool nominated;   /* it carried USE-CANDIDATE */
	bool first;       /* the first valid check since init or restart */
};

/*
 * Fresh random credentials, no remote ones, counters at zero. The consent
 * clock starts at now_ms, so a peer that never checks expires as well.
 */
void ice_init(struct ice_lite *ice, uint64_t now_ms);

/* An ICE restart: new random credentials, the remote ones forgotten, the
 * consent clock started again at now_ms; counters kept. */
void ice_restart(struct ice_lite *ice, uint64_t now_ms);

/* Our credentials for the SDP (a=ice-ufrag, a=ice-pwd). */
const char *ice_local_ufrag(const struct ice_lite *ice);
const char *ice_local_pwd(const struct ice_lite *ice);

/* The peer's ufrag: from its SDP, or else from its first valid check;
 * "" while unknown. */
const char *ice_remote_ufrag(const struct ice_lite *ice);

/*
 * Sets our credentials instead of the random ones (tests, fixed set-ups).
 * EINVAL, with *why, unless ufrag has ICE_UFRAG_MIN to ICE_UFRAG_LEN and
 * pwd ICE_PWD_MIN to ICE_PWD_LEN ice-chars (ALPHA, DIGIT, '+', '/').
 */
int ice_set_local(struct ice_lite *ice, const char *ufrag, const char *pwd,
                  const char **why);

/*
 * The peer's credentials from its SDP (a=ice-ufrag, a=ice-pwd; pwd may be
 * NULL). From then on its checks must name this ufrag. EINVAL, with *why
 * and nothing changed, unless ufrag has 4-256 and pwd 22-256 ice-chars.
 */
int ice_set_remote(struct ice_lite *ice, const char *ufrag, const char *pwd,
                   const char **why);

/*
 * One STUN datagram (ice_demux said ICE_PKT_STUN) of len bytes from src
 * (IPv4 or IPv6), received at now_ms. Writes the reply, if any, into reply
 * and says what to do in *chk; counts the result in ice->count. A valid
 * check refreshes consent; while the remote ufrag is unknown, any is
 * accepted and the first valid check's is kept. The caller latches src as
 * the peer's address when chk->nominated, or on chk->first, as it
 * chooses. Never allocates.
 */
enum ice_rx ice_recv(struct ice_lite *ice, const uint8_t *b, size_t len,
                     const struct sa *src, uint64_t now_ms,
                     uint8_t reply[ICE_REPLY_MAX], struct ice_check *chk);

/* True when ICE_CONSENT_MS have passed since the last valid check (or
 * since init while there has been none). */
bool ice_expired(const struct ice_lite *ice, uint64_t now_ms);

/*
 * ---- the controlling side ----
 *
 * voxgate's server never sends checks, but its load and test client
 * (tests/tools/rtc_client) is a full agent in the controlling role, as
 * libwebrtc is: it keeps its own credentials (ice_init) and the server's
 * (ice_set_remote, pwd included) in a struct ice_lite, writes checks with
 * ice_request_write and reads what answers them with ice_response_read.
 * Neither allocates.
 */

#define ICE_TID_LEN 12
/* A buffer of this size holds any check ice_request_write writes. */
#define ICE_REQUEST_MAX 384

struct ice_request_prm {
	uint32_t priority;   /* PRIORITY: our candidate's (RFC 8445 7.1.1) */
	uint64_t tiebreaker; /* ICE-CONTROLLING's value */
	bool use_candidate;  /* USE-CANDIDATE: nominate the pair */
};

/*
 * A connectivity check from the controlling agent (RFC 8445 7.2.2): a
 * Binding request with USERNAME "<their ufrag>:<our ufrag>", PRIORITY,
 * ICE-CONTROLLING, USE-CANDIDATE when asked, MESSAGE-INTEGRITY keyed by
 * their pwd, FINGERPRINT; a fresh random transaction id, copied to tid.
 * 0 with *len; EINVAL while the peer's ufrag or pwd is unknown; ENOSPC
 * when size is below ICE_REQUEST_MAX.
 */
int ice_request_write(const struct ice_lite *ice,
                      const struct ice_request_prm *prm,
                      uint8_t tid[ICE_TID_LEN], uint8_t *buf, size_t size,
                      size_t *len);

/* What ice_response_read made of a datagram. */
enum ice_resp {
	ICE_RESP_SUCCESS,   /* Binding success to tid, signed by the peer */
	ICE_RESP_ERROR,     /* Binding error to tid, signed: *code */
	ICE_RESP_MALFORMED, /* not a STUN message that can be read */
	ICE_RESP_BAD_FINGERPRINT, /* FINGERPRINT missing or wrong */
	ICE_RESP_NOT_RESPONSE,    /* STUN, but not a Binding response */
	ICE_RESP_OTHER_TID,       /* a response to another transaction */
	ICE_RESP_BAD_INTEGRITY,   /* not signed with the peer's pwd */
};

/*
 * Reads a STUN datagram that may answer the check whose transaction id is
 * tid: the same header, attribute and FINGERPRINT checks as ice_recv, then
 * the class, the transaction, and MESSAGE-INTEGRITY under the peer's pwd
 * (a response is signed with the password of the agent that answers).
 * *code (may be NULL) gets an authenticated error's code.
 */
enum ice_resp ice_response_read(const struct ice_lite *ice, const uint8_t *b,
                                size_t len, const uint8_t tid[ICE_TID_LEN],
                                unsigned *code);

#endif
