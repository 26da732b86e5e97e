/*
 * Inside the SIP edge: what sipua's files share, and no one else.
 *
 *   sipua.c        a call from INVITE to its end: the session handlers,
 *                  ending, drain and the transports
 *   sipua_media.c  a call's media session and agent, its SDP taken and
 *                  given, re-INVITEs and the ACK's answer
 *   sipua_sdp.c    the SDP offer and answer (sipua_sdp.h)
 *   sipua_route.c  from an INVITE to a room, through dispatch
 *   sipua_auth.c   digest auth of trunks with credentials: nonces and
 *                  their single use
 *   sipua_pin.c    the PIN stage of rules with a PIN, and the caller's keys
 *   sipua_dial.c   outbound calls (CreateSIPParticipant): the INVITE we
 *                  send, its answer or failure, CANCEL, early media, DTMF
 *   sipua_refer.c  transfers: the REFER, its NOTIFYs and their outcome
 *   sipua_reg.c    the registrations (regclient.h) on the edge's stack
 *   sipua_tls.c    SIP over TLS: its certificate, transport and contact
 *
 * All on the signalling thread.
 */
#ifndef VOXGATE_SIP_SIPUA_INT_H
#define VOXGATE_SIP_SIPUA_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "core/tmrq.h"
#include "sip/sipua.h"
#include "sip/dispatch.h"
#include "sip/sipua_sdp.h"

/* The digest nonces of one sipua (sipua_auth.c). */
struct sipua_nonces {
	uint8_t key[20]; /* signs them, random per run */
	/* Nonces answered with valid credentials, oldest first, and their
	 * highest nc: a response seen once is never taken again. */
	struct hash *ht;
	struct list uses;
	uint32_t nuses;
	uint32_t floor; /* nonces issued at or before: stale */
};

struct sipua {
	struct sipua_params prm;
	struct sip *sip;
	struct sipsess_sock *sock;
	struct sip_lsnr *lsnr;
	struct list calls;
	char *contact_udp, *contact_tcp;
	struct dnsc *dnsc; /* outbound trunks name hosts; NULL: IPs only */
	char *contact_tls; /* NULL: no TLS */
	bool draining;
	sipua_idle_h *idleh;
	void *idle_arg;
	struct tmr drain_tmr;
	/* The ringing timeouts of the calls being placed: one libre timer
	 * for all of them (core/tmrq.h says why). */
	struct tmrq ring_q;
	int udp_fd; /* libre's SIP UDP socket (sip_udp_socket), or -1 */
	struct tries *pin_tries; /* wrong PINs per source address */
	struct sipua_nonces nonces;
	struct regclient *reg;       /* registrations */
	bool reg_pending;            /* drain waits for the unregisters */
	struct sip_lsnr *refer_lsnr; /* NOTIFYs of our REFERs */
	/* SRTP, for /metrics (sipua_srtp_metrics). */
	struct {
		uint64_t calls;   /* answered with SRTP */
		uint64_t refused; /* offers refused by the policy (488) */
		uint64_t auth_fail, replay, other; /* of the calls ended */
	} srtp;
};

/* A call to rules with a PIN is answered and asked for it (LiveKit's
 * limit of 16 digits, ended by #), then routed again. */
#define PIN_MAX_DIGITS 16

enum pin_stage {
	PIN_NONE,
	PIN_COLLECTING,
	PIN_REJECTED, /* playing pin_wrong before the BYE */
};

struct call {
	struct le le;
	struct sipua *ua;
	struct sipsess *sess;
	struct sdp_session *sdp;
	struct sdp_media *sdpm;
	struct media_session *media;
	struct tmr answer_tmr, limit_tmr;
	struct tmr sess_tmr; /* releases sess after the callback that ended */
	char id[128];
	struct sa src; /* where the INVITE came from */
	char from[128];
	char to[128];
	uint64_t invite_ms, answer_ms;
	struct participant *participant; /* NULL once left (or no rooms) */
	bool room_made; /* its room was made for it (routing) */
	char room[256];
	char scl_id[20]; /* LiveKit's call id, names the call record */
	char identity[300], trunk_id[32], rule_id[32];
	struct dispatch_record rec; /* points into this call */
	char headers[1024];         /* the trunk's, for our 200 OK */
	char agent_url[512];    /* the rule's external bot, "" = our agent */
	struct sipua_srtp srtp; /* the trunk's mediaEncryption, the keys */
	enum pin_stage pin;
	char digits[PIN_MAX_DIGITS + 1];
	const struct sip_msg *invite; /* kept while the PIN is collected */
	/* The agent talking now (owned by the media session), for the
	 * caller's keys. */
	const struct agent_ops *agent_ops;
	void *agent_state;
	struct tmr pin_tmr;
	bool remote_offer; /* the INVITE carried SDP */
	bool media_started;
	bool acked;         /* the ACK of our 200 came: a BYE may go */
	char agent_end[64]; /* the agent's hangup, waiting for that ACK */
	bool ending;
	const char *end_by;
	char end_reason[64];
	uint16_t end_scode; /* the final response that refused the call */
	/* An outbound call (sipua_dial.c): we sent the INVITE. */
	bool outbound;
	struct sipua_dial *dial; /* its dial state, owned; NULL inbound */
	/* Early media runs without the agent until the answer. */
	bool agent_held;
	/* The media runs before any answer, with no address (a dial
	 * tone): the first SDP answer updates it rather than starts it. */
	bool media_awaiting;
	const char *contact;     /* ours in the dialog (ua's), NULL = none */
	struct sipua_xfer *xfer; /* the last transfer, NULL = none */
};

/* The remote side's dialog tag, shown as sip.callTag; RFC 3261 bounds it
 * not, and a longer one is left out rather than shown cut. */
#define SIPUA_TAG_MAX 127

/* What routing reads from the INVITE; the dispatch_call points into it. */
struct invite_keys {
	char from_user[128], to_user[128], src[64];
	char sid[128], account[128];
	char tag[SIPUA_TAG_MAX + 1]; /* the caller's From tag */
};

/* Addresses are formatted with libre's %J before they reach the logger,
 * which takes plain printf formats. */
struct addr_str {
	char s[64];
};

static inline struct addr_str sipua_addr_fmt(const struct sa *sa)
{
	struct addr_str a;

	if (re_snprintf(a.s, sizeof(a.s), "%J", sa) < 0)
		snprintf(a.s, sizeof(a.s), "?");
	return a;
}

static inline void sipua_pl_copy(char *dst, size_t sz, const struct pl *pl)
{
	size_t n = pl && pl->p ? pl->l : 0;

	if (n >= sz)
		n = sz - 1;
	if (n)
		memcpy(dst, pl->p, n);
	dst[n] = '\0';
}

/* The tag into dst (SIPUA_TAG_MAX + 1 bytes); "" when there is none or it
 * is too long. */
static inline void sipua_tag_copy(char *dst, const struct pl *tag)
{
	if (pl_isset(tag) && tag->l <= SIPUA_TAG_MAX)
		sipua_pl_copy(dst, SIPUA_TAG_MAX + 1, tag);
	else
		dst[0] = '\0';
}

/* sipua.c */

/* Writes the call's record (dispatch_record), when the call has one. */
void sipua_call_record(struct call *call);
/* Ends the call once; an unanswered INVITE gets scode (0 = none). */
void sipua_call_end(struct call *call, const char *by, const char *reason,
                    uint16_t scode);
/* Replies to a request outside any dialog, and logs why. */
void sipua_reply_reject(struct sipua *ua, const struct sip_msg *msg,
                        uint16_t scode, const char *reason);
/* The media session has stopped: the call is logged, recorded, freed. */
void sipua_call_finish(struct call *call);
/* A new call on ua, not yet listed (mem_deref frees it). */
struct call *sipua_call_alloc(struct sipua *ua);
/* The call ends after ms (0: never). */
void sipua_limit_start(struct call *call, uint32_t ms);
/* Calls idleh when draining is done: no call, no unregister pending. */
void sipua_check_idle(struct sipua *ua);

/* sipua_media.c */

/* The call's media session (EADDRINUSE: no ports left). */
int sipua_media_alloc(struct call *call);
/* Our SDP on the media session's port, by the trunk's mediaEncryption. */
int sipua_sdp_prepare(struct call *call);
/* The call's media session and our SDP on its port. */
int sipua_call_media(struct call *call);
/* The peer's SRTP against the call's policy, after each sdp_decode:
 * false, logged and counted, when it must be refused (r says why). */
bool sipua_sdp_srtp_ok(struct call *call, bool remote_offer,
                       struct sipua_srtp_refusal *r);
/* The call's negotiated stream, where media may go: ENOENT when there is
 * no common codec, EADDRNOTAVAIL when media cannot go where the SDP says. */
int sipua_call_sdp_params(const struct call *call, struct media_params *mp);
/* Starts the agent for the call's stage: the PIN prompt, or the real one. */
int sipua_start_agent(struct call *call, const struct agent_ops **opsp,
                      void **statep);
/* Starts (or updates) the media and the agent from call->sdp. */
int sipua_start_media(struct call *call);
/* Starts an outbound call's media before any answer, with no agent and
 * nowhere to send (media_params.await_answer), in its room, so that the
 * room can hear a ringback; sipua_start_media then takes the answer. */
int sipua_await_media(struct call *call);
/* Re-INVITEs of an established call (sipsess offerh). */
int sipua_offer_handler(struct mbuf **descp, const struct sip_msg *msg,
                        void *arg);
/* The ACK's answer to the offer in our 200 (sipsess answerh). */
int sipua_answer_handler(const struct sip_msg *msg, void *arg);

/* sipua_reg.c */

int sipua_reg_init(struct sipua *ua);
/* Unregisters; sipua_check_idle runs when that is done. */
void sipua_reg_drain(struct sipua *ua);
/* Logs registration=<aor> when a registrar of ours sent the INVITE. */
void sipua_reg_invite(struct sipua *ua, const struct call *call,
                      const struct sip_msg *msg);

/* sipua_tls.c */

/* The TLS transport, when the params have a context. */
int sipua_tls_listen(struct sipua *ua);
/* Our Contact for a request that came over tp. */
const char *sipua_contact(const struct sipua *ua, enum sip_transp tp);

/* sipua_route.c */

/* Puts the caller in a room, or readies the PIN stage. false when the
 * INVITE has been answered (challenge or rejection) and the call must go. */
bool sipua_route_call(struct sipua *ua, struct call *call,
                      const struct sip_msg *msg);
/* What routing reads from msg, into k; dc points into k and call. */
void sipua_invite_read(const struct call *call, const struct sip_msg *msg,
                       struct invite_keys *k, struct dispatch_call *dc);
/* Takes the room, identity, rule and agent dispatch gave the call. */
void sipua_adopt_route(struct call *call, const struct dispatch_result *res);
/* The call's participant was removed from its room: the call ends. */
void sipua_kick_handler(struct participant *p, const char *reason, void *arg);
/* The INVITE was refused after routing: the participant leaves, and a
 * room made for the call alone is closed with it. */
void sipua_route_refused(struct call *call);

/* sipua_auth.c */

/* A fresh key and no use; reset forgets every use and frees the table. */
int sipua_nonces_init(struct sipua_nonces *n);
void sipua_nonces_reset(struct sipua_nonces *n);
/* Checks the INVITE's Proxy-Authorization against the trunk's
 * credentials. Returns true when they hold; otherwise it has replied. */
bool sipua_authorized(struct sipua *ua, const struct sip_msg *msg,
                      const struct dispatch_auth *auth);

/* sipua_pin.c */

/* An address that keyed too many wrong PINs gets no more tries for a
 * while: true when the INVITE has been refused for it. */
bool sipua_pin_refused(struct sipua *ua, struct call *call,
                       const struct sip_msg *msg);
/* The caller's keys (MEDIA_EVENT_DTMF): the PIN, or the agent's. */
void sipua_pin_digits(struct call *call);
/* The pin_timeout_ms timer: no PIN came. */
void sipua_pin_timeout(void *arg);

/* sipua_dial.c */

/* voxgate_sip_calls{direction}: the calls up now. */
int sipua_dial_metrics(const struct sipua *ua, struct mbuf *mb);

/* The call is ending (sipua_call_end): an API request still waiting
 * hears why, and the participant is told the call hung up. */
void sipua_dial_ending(struct call *call, const char *reason);
/* Outbound calls not yet answered are cancelled at once when draining. */
void sipua_dial_drain(struct sipua *ua);
/* sipua_refer.c */

/* Listens for the NOTIFYs of our REFERs (any other NOTIFY gets 481). */
int sipua_refer_listen(struct sipua *ua);
/* The call ends: a transfer in flight is told ECONNRESET now. */
void sipua_refer_call_end(struct call *call);
/* agent_call_info.transfer and transfer_forget, arg the call. */
int sipua_agent_transfer(void *arg, const char *to, const char *reason,
                         void (*done)(void *darg, bool ok, bool final,
                                      const char *why),
                         void *darg);
void sipua_agent_transfer_forget(void *arg, void *darg);

#endif
