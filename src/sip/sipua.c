/*
 * DESIGN. A call is born in the INVITE handler, which checks the request,
 * negotiates the SDP and binds the call's media ports before anything is
 * answered, so that every failure is a clean final response (400, 415, 488,
 * 503) and never a half-set-up call. It then rings (180) and answers after
 * answer_delay. A call ends from one of three sides: the caller (BYE or
 * CANCEL), the media thread (timeout) or the server (maximum duration,
 * drain). Ending stops the media session; the call is logged and freed when
 * the media thread reports the session stopped, so its figures are final.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include "sip/sipua.h"
#include "sip/dispatch.h"
#include "sip/sipua_sdp.h"
#include "sip/tries.h"
#include "mstream/bot.h"
#include "agent/clip.h"
#include "room/room.h"
#include "core/log.h"

#define ALLOW_HDR   "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
#define DTMF_PT     "101"
#define NONCE_TTL_S 300
/* Nonces whose use is remembered at once; past this the oldest is
 * forgotten and every nonce issued up to it counts as stale. */
#define NONCE_USES_MAX 65536

struct sipua {
	struct sipua_params prm;
	struct sip *sip;
	struct sipsess_sock *sock;
	struct sip_lsnr *lsnr;
	struct list calls;
	char *contact_udp, *contact_tcp;
	bool draining;
	sipua_idle_h *idleh;
	void *idle_arg;
	struct tmr drain_tmr;
	struct tries *pin_tries; /* wrong PINs per source address */
	uint8_t nonce_key[20];   /* signs digest nonces, random per run */
	/* Nonces answered with valid credentials, oldest first, and their
	 * highest nc: a response seen once is never taken again. */
	struct hash *nonce_ht;
	struct list nonce_uses;
	uint32_t nonce_nuses;
	uint32_t nonce_floor; /* nonces issued at or before: stale */
};

/* A call to rules with a PIN is answered and asked for it (LiveKit's
 * limit of 16 digits, ended by #), then routed again. */
#define PIN_MAX_DIGITS 16
/* Source addresses whose wrong PINs are counted at once. */
#define PIN_TRIES_ADDRS 4096

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
	char room[256];
	char scl_id[20]; /* LiveKit's call id, names the call record */
	char identity[300], trunk_id[32], rule_id[32];
	struct dispatch_record rec; /* points into this call */
	char headers[1024];         /* the trunk's, for our 200 OK */
	char agent_url[512]; /* the rule's external bot, "" = our agent */
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
};

/* Addresses are formatted with libre's %J before they reach the logger,
 * which takes plain printf formats. */
struct addr_str {
	char s[64];
};

static struct addr_str addr_fmt(const struct sa *sa)
{
	struct addr_str a;

	if (re_snprintf(a.s, sizeof(a.s), "%J", sa) < 0)
		snprintf(a.s, sizeof(a.s), "?");
	return a;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void pl_copy(char *dst, size_t sz, const struct pl *pl)
{
	size_t n = pl && pl->p ? pl->l : 0;

	if (n >= sz)
		n = sz - 1;
	if (n)
		memcpy(dst, pl->p, n);
	dst[n] = '\0';
}

static void record(struct call *call)
{
	int err;

	if (!call->ua->prm.dispatch || !call->scl_id[0])
		return;
	err = dispatch_record(call->ua->prm.dispatch, call->scl_id, &call->rec);
	if (err)
		log_event(LOGL_ERROR, call->id, "call_record_failed",
		          "error=\"%s\"", strerror(err));
}

/* ---- ending calls ----------------------------------------------------- */

static void call_destructor(void *arg)
{
	struct call *call = arg;

	tmr_cancel(&call->answer_tmr);
	tmr_cancel(&call->limit_tmr);
	tmr_cancel(&call->pin_tmr);
	tmr_cancel(&call->sess_tmr);
	list_unlink(&call->le);
	mem_deref((void *)call->invite);
	mem_deref(call->sess);
	mem_deref(call->media);
	mem_deref(call->sdp);
}

static void check_idle(struct sipua *ua)
{
	if (ua->draining && ua->idleh && list_isempty(&ua->calls)) {
		sipua_idle_h *h = ua->idleh;

		ua->idleh = NULL;
		tmr_cancel(&ua->drain_tmr);
		h(ua->idle_arg);
	}
}

static void call_finish(struct call *call)
{
	struct sipua *ua = call->ua;
	const struct media_stats *st = media_session_stats(call->media);
	uint64_t now = mono_ms();
	uint64_t dur = call->answer_ms ? now - call->answer_ms : 0;

	log_event(LOGL_INFO, call->id, "call_end",
	          "by=%s reason=\"%s\" duration_ms=%llu packets_in=%llu "
	          "packets_out=%llu lost=%llu late=%llu discarded=%llu "
	          "duplicate=%llu underrun=%llu stretched=%llu jitter_ms=%u "
	          "wrong_source=%llu unknown_pt=%llu malformed=%llu "
	          "dtmf_in=%llu",
	          call->end_by, call->end_reason, (unsigned long long)dur,
	          (unsigned long long)(st ? st->packets_in : 0),
	          (unsigned long long)(st ? st->packets_out : 0),
	          (unsigned long long)(st ? st->lost : 0),
	          (unsigned long long)(st ? st->late : 0),
	          (unsigned long long)(st ? st->discarded : 0),
	          (unsigned long long)(st ? st->duplicate : 0),
	          (unsigned long long)(st ? st->underrun : 0),
	          (unsigned long long)(st ? st->stretched : 0),
	          st ? st->jitter_target_ms : 0,
	          (unsigned long long)(st ? st->wrong_source : 0),
	          (unsigned long long)(st ? st->unknown_pt : 0),
	          (unsigned long long)(st ? st->malformed : 0),
	          (unsigned long long)(st ? st->dtmf_in : 0));
	call->rec.status = call->end_scode ? "failed" : "hangup";
	call->rec.sip_status = call->end_scode;
	call->rec.ended_at = (long long)time(NULL);
	call->rec.ended_by = call->end_by;
	call->rec.end_reason = call->end_reason;
	call->rec.duration_ms = (long long)dur;
	call->rec.packets_in = st ? st->packets_in : 0;
	call->rec.packets_out = st ? st->packets_out : 0;
	call->rec.lost = st ? st->lost : 0;
	record(call);
	mem_deref(call);
	check_idle(ua);
}

/* Releasing the session makes libre send our BYE when the dialog is
 * established and the caller has not hung up. */
static void sess_release(void *arg)
{
	struct call *call = arg;

	call->sess = mem_deref(call->sess);
}

/*
 * Ends the call once. An unanswered INVITE gets the final response given.
 * The session is released on the next turn of the loop, never here: a call
 * often ends inside one of the session's own handlers (the ACK's answer,
 * the BYE, the CANCEL), and libre goes on using the session after the
 * handler returns.
 */
static void call_end(struct call *call, const char *by, const char *reason,
                     uint16_t scode)
{
	if (call->ending)
		return;
	call->ending = true;
	call->end_by = by;
	if (call->participant) {
		participant_leave(call->participant, !strcmp(by, "server")
		                                         ? "SERVER_SHUTDOWN"
		                                         : "CLIENT_INITIATED");
		call->participant = NULL;
	}
	snprintf(call->end_reason, sizeof(call->end_reason), "%s", reason);
	tmr_cancel(&call->answer_tmr);
	tmr_cancel(&call->limit_tmr);
	tmr_cancel(&call->pin_tmr);

	if (call->sess && !call->answer_ms && scode) {
		(void)sipsess_reject(call->sess, scode, reason, NULL);
		call->end_scode = scode;
	}
	if (call->sess)
		tmr_start(&call->sess_tmr, 0, sess_release, call);

	if (call->media)
		media_session_stop(call->media);
	else
		call_finish(call);
}

static void pin_digits(struct call *call);

static void media_event(enum media_event ev, void *arg)
{
	struct call *call = arg;

	switch (ev) {
	case MEDIA_EVENT_FIRST_RTP:
		if (!call->ending)
			log_event(
			    LOGL_INFO, call->id, "first_rtp", "addr=%s",
			    addr_fmt(media_session_first_rtp_addr(call->media))
			        .s);
		break;
	case MEDIA_EVENT_DTMF:
		if (!call->ending)
			pin_digits(call);
		break;
	case MEDIA_EVENT_TIMEOUT:
		if (!call->ending) {
			log_event(LOGL_WARN, call->id, "media_timeout", NULL);
			call_end(call, "server", "media timeout", 0);
		}
		break;
	case MEDIA_EVENT_STOPPED:
		call_finish(call);
		break;
	}
}

/* ---- SDP -------------------------------------------------------------- */

int sipua_sdp_alloc(struct sdp_session **sessp, struct sdp_media **mp,
                    const struct sa *laddr, uint16_t port)
{
	struct sdp_session *sess;
	struct sdp_media *m = NULL;
	int err;

	err = sdp_session_alloc(&sess, laddr);
	if (err)
		return err;
	err = sdp_media_add(&m, sess, sdp_media_audio, port, sdp_proto_rtpavp);
	if (err)
		goto out;
	err = sdp_format_add(NULL, m, false, "0", "PCMU", 8000, 1, NULL, NULL,
	                     NULL, false, NULL);
	err |= sdp_format_add(NULL, m, false, "8", "PCMA", 8000, 1, NULL, NULL,
	                      NULL, false, NULL);
	err |= sdp_format_add(NULL, m, false, DTMF_PT, "telephone-event", 8000,
	                      1, NULL, NULL, NULL, false, "0-15");
	if (err)
		goto out;
	err = sdp_media_set_lattr(m, true, sdp_attr_ptime, "20");
out:
	if (err) {
		mem_deref(sess);
		return err;
	}
	*sessp = sess;
	*mp = m;
	return 0;
}

static int sdp_prepare(struct call *call)
{
	return sipua_sdp_alloc(&call->sdp, &call->sdpm, &call->ua->prm.external,
	                       media_session_port(call->media));
}

int sipua_sdp_params(const struct sdp_media *m, struct media_params *mp)
{
	const struct sa *raddr = sdp_media_raddr(m);
	enum sdp_dir rdir = sdp_media_rdir(m);
	bool found = false;

	memset(mp, 0, sizeof(*mp));
	mp->dtmf_pt = -1;
	for (struct le *le = list_head(sdp_media_format_lst(m, false)); le;
	     le = le->next) {
		const struct sdp_format *f = le->data;

		if (!f->sup)
			continue;
		if (!str_casecmp(f->name, "telephone-event")) {
			if (mp->dtmf_pt < 0)
				mp->dtmf_pt = f->pt;
		} else if (!found &&
		           (f->pt == MEDIA_PT_PCMU || f->pt == MEDIA_PT_PCMA)) {
			mp->send_pt = (uint8_t)f->pt;
			found = true;
		}
	}
	if (!found)
		return ENOENT;

	mp->raddr = *raddr;
	sdp_media_raddr_rtcp(m, &mp->raddr_rtcp);
	/* c=0.0.0.0 is the old way to put a call on hold (RFC 2543). */
	if (!sa_isset(raddr, SA_ADDR) || sa_is_any(raddr))
		rdir = SDP_INACTIVE;
	/* libre stores the caller's direction from our side: their
	 * "sendonly" is our SDP_RECVONLY. */
	mp->send = (rdir & SDP_SENDONLY) != 0;
	mp->recv = (rdir & SDP_RECVONLY) != 0;
	return 0;
}

/* The call's negotiated stream, where media may go: ENOENT when there is
 * no common codec, EADDRNOTAVAIL when media cannot go where the SDP says
 * (a re-INVITE may hold with c=0.0.0.0; no SDP may name a group). */
static int sdp_params(const struct call *call, struct media_params *mp)
{
	const char *why = NULL;
	int err = sipua_sdp_params(call->sdpm, mp);

	if (err)
		return err;
	err = media_params_check(mp, call->media_started, &why);
	if (err)
		log_event(LOGL_WARN, call->id, "sdp_refused",
		          "rtp=%s rtcp=%s reason=\"%s\"",
		          addr_fmt(&mp->raddr).s, addr_fmt(&mp->raddr_rtcp).s,
		          why);
	return err;
}

/* libre answers with our direction masked by the caller's (already seen
 * from our side), so hold (sendonly) is answered recvonly by itself. Only
 * the old c=0.0.0.0 hold needs saying: answer it inactive. */
void sipua_sdp_direction(struct sdp_media *m)
{
	const struct sa *raddr = sdp_media_raddr(m);

	sdp_media_set_ldir(m, sa_is_any(raddr) ? SDP_INACTIVE : SDP_SENDRECV);
}

static void sdp_set_direction(struct call *call)
{
	sipua_sdp_direction(call->sdpm);
}

/* The agent ends the call (the busy message was said, its worker went
 * away, or its dialog ended it). */
static void agent_hangup(void *arg, const char *reason)
{
	struct call *call = arg;

	if (call->ending)
		return;
	/* An agent can give up within a millisecond of the answer (a bot
	 * that is not there), and RFC 3261 (15) allows no BYE before the
	 * ACK of our 200. */
	if (call->answer_ms && !call->acked) {
		snprintf(call->agent_end, sizeof(call->agent_end), "%s",
		         reason ? reason : "agent hung up");
		return;
	}
	call_end(call, "agent", reason, 0);
}

/* The agent for the call's stage: the PIN prompt, or the real one. */
static int start_agent(struct call *call, const struct agent_ops **opsp,
                       void **statep)
{
	const struct agent_assets *assets = call->ua->prm.assets;
	struct agent_call_info info = {
	    .call_id = call->id,
	    .from = call->from,
	    .to = call->to,
	    .sample_rate = 8000,
	    .room = call->room[0] ? call->room : NULL,
	    .participant = call->identity,
	    .hangup = agent_hangup,
	    .hangup_arg = call,
	};

	*statep = NULL;
	if (call->pin == PIN_COLLECTING) {
		*opsp = &agent_clip;
		return agent_clip_start(statep, assets->pin_prompt,
		                        assets->pin_prompt_samples);
	}
	if (call->agent_url[0]) {
		*opsp = &agent_bot;
		info.agent_url = call->agent_url;
	} else {
		*opsp = call->ua->prm.agent;
	}
	return (*opsp)->start(statep, &info, assets);
}

static int start_media(struct call *call)
{
	struct media_params mp;
	const struct agent_ops *ops;
	void *state = NULL;
	int err;

	err = sdp_params(call, &mp);
	if (err)
		return err;
	if (call->media_started)
		return media_session_update(call->media, &mp);

	err = start_agent(call, &ops, &state);
	if (err)
		return err;
	err = media_session_start(call->media, &mp, ops, state);
	if (err) {
		ops->stop(state);
		return err;
	}
	call->agent_ops = ops;
	call->agent_state = state;
	call->media_started = true;
	log_event(LOGL_INFO, call->id, "media",
	          "codec=%s dtmf_pt=%d remote=%s local_port=%u",
	          mp.send_pt == MEDIA_PT_PCMA ? "PCMA" : "PCMU", mp.dtmf_pt,
	          addr_fmt(&mp.raddr).s, media_session_port(call->media));
	return 0;
}

/* ---- session handlers ------------------------------------------------- */

static int offer_handler(struct mbuf **descp, const struct sip_msg *msg,
                         void *arg)
{
	struct call *call = arg;
	struct media_params mp;
	int err;

	/* The media session is stopping: a re-INVITE now gets a 488. */
	if (call->ending)
		return ECONNRESET;
	if (!mbuf_get_left(msg->mb)) {
		/* A re-INVITE without SDP asks for our offer again. */
		return sdp_encode(descp, call->sdp, true);
	}
	err = sdp_decode(call->sdp, msg->mb, true);
	if (err) {
		log_event(LOGL_WARN, call->id, "reinvite_rejected",
		          "reason=\"malformed SDP\"");
		return err;
	}
	if (sdp_params(call, &mp)) {
		log_event(LOGL_WARN, call->id, "reinvite_rejected",
		          "reason=\"no common codec\"");
		return EPROTO;
	}
	sdp_set_direction(call);
	err = start_media(call);
	if (err)
		return err;
	log_event(LOGL_INFO, call->id, "reinvite", "remote=%s direction=%s",
	          addr_fmt(&mp.raddr).s,
	          sdp_dir_name(sdp_media_ldir(call->sdpm)));
	return sdp_encode(descp, call->sdp, false);
}

/* The ACK carries the answer to the offer we put in our 200. An error
 * returned makes libre end the dialog with a BYE once it is done with the
 * ACK; call_end leaves the session to it. */
static int answer_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	const char *why = NULL;
	int err = 0;

	if (call->ending)
		return 0;
	if (!mbuf_get_left(msg->mb)) {
		why = "no SDP answer";
		err = EPROTO;
	} else if ((err = sdp_decode(call->sdp, msg->mb, false))) {
		why = "malformed SDP";
	} else if ((err = start_media(call))) {
		why = err == ENOENT ? "no common codec" : "media start failed";
	}
	if (err) {
		log_event(LOGL_WARN, call->id, "bad_answer", "reason=\"%s\"",
		          why);
		call_end(call, "server", "bad SDP answer in ACK", 0);
	}
	return err;
}

static void estab_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;

	(void)msg;
	log_event(LOGL_INFO, call->id, "established", NULL);
	call->acked = true;
	media_session_confirm(call->media);
	if (call->agent_end[0] && !call->ending)
		call_end(call, "agent", call->agent_end, 0);
}

static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;

	/* libre reports both the caller's BYE and CANCEL as ECONNRESET
	 * without the request: before our 200 it can only be a CANCEL. */
	if (err == ECONNRESET && call->answer_ms) {
		call_end(call, "caller", "BYE", 0);
	} else if (err == ECONNRESET) {
		log_event(LOGL_INFO, call->id, "cancelled", NULL);
		call_end(call, "cancel", "CANCEL before answer", 0);
	} else {
		char reason[48];

		if (msg && msg->scode)
			snprintf(reason, sizeof(reason), "%u %.*s", msg->scode,
			         (int)msg->reason.l, msg->reason.p);
		else
			snprintf(reason, sizeof(reason), "%s", strerror(err));
		call_end(call, "caller", reason, 0);
	}
}

static void limit_handler(void *arg)
{
	struct call *call = arg;

	log_event(LOGL_INFO, call->id, "max_duration", NULL);
	call_end(call, "server", "max call duration", 0);
}

static void pin_timeout(void *arg)
{
	struct call *call = arg;

	log_event(LOGL_INFO, call->id, "pin_timeout", "digits=%zu",
	          strlen(call->digits));
	call_end(call, "server", "PIN not entered", 0);
}

static void answer_call(void *arg)
{
	struct call *call = arg;
	struct mbuf *desc = NULL;
	bool offer = !call->remote_offer;
	int err;

	/* Media starts on answer, not on INVITE: the caller sends nothing
	 * while it rings, which must not count towards the media timeout. */
	if (call->remote_offer) {
		err = start_media(call);
		if (err) {
			log_event(LOGL_ERROR, call->id, "media_failed",
			          "error=\"%s\"", strerror(err));
			call_end(call, "server", "media start failed", 500);
			return;
		}
	}
	err = sdp_encode(&desc, call->sdp, offer);
	if (!err)
		err = sipsess_answer(call->sess, 200, "OK", desc, "%s%s",
		                     ALLOW_HDR, call->headers);
	mem_deref(desc);
	if (err) {
		log_event(LOGL_ERROR, call->id, "answer_failed", "error=\"%s\"",
		          strerror(err));
		call_end(call, "server", "answer failed", 500);
		return;
	}
	call->answer_ms = mono_ms();
	if (call->participant)
		(void)participant_set_attribute(call->participant,
		                                "sip.callStatus", "active");
	call->rec.status = "active";
	call->rec.active_at = (long long)time(NULL);
	record(call);
	log_event(LOGL_INFO, call->id, "answered", "after_ms=%llu sdp=%s",
	          (unsigned long long)(call->answer_ms - call->invite_ms),
	          offer ? "offer" : "answer");
	if (call->ua->prm.max_call_duration_ms)
		tmr_start(&call->limit_tmr, call->ua->prm.max_call_duration_ms,
		          limit_handler, call);
	if (call->pin == PIN_COLLECTING && call->ua->prm.pin_timeout_ms)
		tmr_start(&call->pin_tmr, call->ua->prm.pin_timeout_ms,
		          pin_timeout, call);
}

/* ---- incoming requests ------------------------------------------------ */

static void reply_reject(struct sipua *ua, const struct sip_msg *msg,
                         uint16_t scode, const char *reason)
{
	char cid[128];

	pl_copy(cid, sizeof(cid), &msg->callid);
	log_event(LOGL_WARN, cid, "rejected", "code=%u reason=\"%s\" src=%s",
	          scode, reason, addr_fmt(&msg->src).s);
	(void)sip_treplyf(NULL, NULL, ua->sip, msg, false, scode, reason,
	                  "%s%sContent-Length: 0\r\n\r\n", ALLOW_HDR,
	                  scode == 488 ? "Warning: 305 voxgate "
	                                 "\"Incompatible media format\"\r\n"
	                               : "");
}

/* Refuses an INVITE that routing took: the final response, and the call
 * record (written as ringing by route_call) closed as failed with it. */
static void refuse(struct call *call, const struct sip_msg *msg, uint16_t scode,
                   const char *reason)
{
	reply_reject(call->ua, msg, scode, reason);
	call->ending = true;
	call->end_by = "server";
	call->end_scode = scode;
	snprintf(call->end_reason, sizeof(call->end_reason), "%s", reason);
	call->rec.status = "failed";
	call->rec.sip_status = scode;
	call->rec.ended_at = (long long)time(NULL);
	call->rec.ended_by = call->end_by;
	call->rec.end_reason = call->end_reason;
	record(call);
}

static const char *invite_problem(const struct sip_msg *msg)
{
	if (!sip_msg_hdr(msg, SIP_HDR_CONTACT))
		return "Missing Contact header";
	if (!pl_isset(&msg->cseq.met))
		return "Missing CSeq header";
	if (!pl_isset(&msg->from.tag))
		return "Missing From tag";
	return NULL;
}

/* ---- routing and digest auth ------------------------------------------ */

/* A nonce is its issue time, a random salt and a MAC over both
 * (8 + 8 + 16 hex digits), so any nonce we issued can be checked, and
 * aged out, without keeping state per challenge; the salt makes each
 * challenge's nonce its own, which single use (nonce_take) needs. */
#define NONCE_LEN 32

static void nonce_make(const struct sipua *ua, const char *ts_salt, char *out,
                       size_t sz)
{
	uint8_t mac[20];

	hmac_sha1(ua->nonce_key, sizeof(ua->nonce_key),
	          (const uint8_t *)ts_salt, 16, mac, sizeof(mac));
	snprintf(out, sz, "%.16s%02x%02x%02x%02x%02x%02x%02x%02x", ts_salt,
	         mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mac[6],
	         mac[7]);
}

static void nonce_new(const struct sipua *ua, char *out, size_t sz)
{
	char ts_salt[17];

	snprintf(ts_salt, sizeof(ts_salt), "%08x%08x", (uint32_t)time(NULL),
	         rand_u32());
	nonce_make(ua, ts_salt, out, sz);
}

/* The issue time of a nonce of NONCE_LEN characters. */
static uint32_t nonce_time(const struct pl *nonce)
{
	char ts[9];

	memcpy(ts, nonce->p, 8);
	ts[8] = '\0';
	return (uint32_t)strtoul(ts, NULL, 16);
}

/* 0 valid, ESTALE expired, EBADMSG not ours. */
static int nonce_check(const struct sipua *ua, const struct pl *nonce)
{
	char want[NONCE_LEN + 1], ts_salt[17];
	uint32_t t;
	time_t now = time(NULL);

	if (nonce->l != NONCE_LEN)
		return EBADMSG;
	memcpy(ts_salt, nonce->p, 16);
	ts_salt[16] = '\0';
	nonce_make(ua, ts_salt, want, sizeof(want));
	if (pl_strcmp(nonce, want))
		return EBADMSG;
	t = nonce_time(nonce);
	if ((uint32_t)now - t > NONCE_TTL_S || t <= ua->nonce_floor)
		return ESTALE;
	return 0;
}

/* One nonce answered with valid credentials. */
struct nonce_use {
	struct le le; /* ua->nonce_uses, in order of first use */
	struct le he; /* ua->nonce_ht */
	char nonce[NONCE_LEN + 1];
	uint32_t t;  /* issued (from the nonce itself) */
	uint32_t nc; /* highest nonce count taken; 0 = used without qop */
};

static void nonce_use_destructor(void *arg)
{
	struct nonce_use *u = arg;

	list_unlink(&u->le);
	hash_unlink(&u->he);
}

static bool nonce_cmp(struct le *le, void *arg)
{
	const struct nonce_use *u = le->data;

	return !pl_strcmp(arg, u->nonce);
}

/* 8 hex digits, as RFC 2617 writes nc; 0 when it is not that. */
static uint32_t nc_value(const struct pl *nc)
{
	uint32_t v = 0;

	if (nc->l != 8)
		return 0;
	for (size_t i = 0; i < 8; i++) {
		if (!isxdigit((unsigned char)nc->p[i]))
			return 0;
		v = v << 4 | ch_hex(nc->p[i]);
	}
	return v;
}

/*
 * Takes a nonce for a response already checked: 0, or EALREADY when this
 * nonce was used before with the same or a higher nc (or, without qop, at
 * all). Remembered until the nonce expires.
 */
static int nonce_take(struct sipua *ua, const struct pl *nonce, uint32_t nc)
{
	uint32_t now = (uint32_t)time(NULL);
	struct nonce_use *u;
	struct le *le;

	/* The oldest go first: expired, or past the bound. */
	while ((le = list_head(&ua->nonce_uses))) {
		u = le->data;
		if (now - u->t <= NONCE_TTL_S &&
		    ua->nonce_nuses < NONCE_USES_MAX)
			break;
		if (now - u->t <= NONCE_TTL_S && u->t > ua->nonce_floor)
			ua->nonce_floor = u->t;
		mem_deref(u);
		ua->nonce_nuses--;
	}
	u = list_ledata(hash_lookup(ua->nonce_ht, hash_joaat_pl(nonce),
	                            nonce_cmp, (void *)nonce));
	if (u) {
		if (!nc || nc <= u->nc)
			return EALREADY;
		u->nc = nc;
		return 0;
	}
	u = mem_zalloc(sizeof(*u), nonce_use_destructor);
	if (!u)
		return ENOMEM;
	pl_strcpy(nonce, u->nonce, sizeof(u->nonce));
	u->t = nonce_time(nonce);
	u->nc = nc;
	list_append(&ua->nonce_uses, &u->le, u);
	hash_append(ua->nonce_ht, hash_joaat_pl(nonce), &u->he, u);
	ua->nonce_nuses++;
	return 0;
}

static void challenge(struct sipua *ua, const struct sip_msg *msg,
                      const char *realm, bool stale)
{
	char nonce[NONCE_LEN + 1], cid[128];

	nonce_new(ua, nonce, sizeof(nonce));
	pl_copy(cid, sizeof(cid), &msg->callid);
	log_event(LOGL_INFO, cid, "auth_challenge", "realm=%s stale=%s", realm,
	          stale ? "true" : "false");
	/* qop=auth makes clients count their uses of a nonce (nc), so a
	 * response captured on the way can be told from a new one. */
	(void)sip_treplyf(NULL, NULL, ua->sip, msg, false, 407,
	                  "Proxy Authentication Required",
	                  "Proxy-Authenticate: Digest realm=\"%s\", "
	                  "nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s\r\n"
	                  "Content-Length: 0\r\n\r\n",
	                  realm, nonce, stale ? ", stale=true" : "");
}

/* Checks the INVITE's Proxy-Authorization against the trunk's
 * credentials. Returns true when they hold; otherwise it has replied. */
static bool authorized(struct sipua *ua, const struct sip_msg *msg,
                       const struct dispatch_auth *auth)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_PROXY_AUTHORIZATION);
	struct httpauth_digest_resp resp;
	uint8_t ha1[16];
	char *a1 = NULL;
	int err;

	if (!h) {
		challenge(ua, msg, auth->realm, false);
		return false;
	}
	if (httpauth_digest_response_decode(&resp, &h->val)) {
		reply_reject(ua, msg, 401, "Bad credentials");
		return false;
	}
	err = nonce_check(ua, &resp.nonce);
	if (err) {
		challenge(ua, msg, auth->realm, err == ESTALE);
		return false;
	}
	if (pl_strcmp(&resp.username, auth->username) ||
	    pl_strcmp(&resp.realm, auth->realm)) {
		reply_reject(ua, msg, 401, "Unauthorized");
		return false;
	}
	/* The response covers the uri it names: it must be this request's,
	 * or one captured for another could be sent here (RFC 2617 3.2.2.5). */
	if (pl_cmp(&resp.uri, &msg->ruri)) {
		log_event(LOGL_WARN, NULL, "auth_refused",
		          "reason=\"digest uri is not the Request-URI\" "
		          "src=%s",
		          addr_fmt(&msg->src).s);
		reply_reject(ua, msg, 400, "Digest uri does not match");
		return false;
	}
	if (pl_isset(&resp.qop) &&
	    (pl_strcasecmp(&resp.qop, "auth") || !nc_value(&resp.nc) ||
	     !pl_isset(&resp.cnonce))) {
		reply_reject(ua, msg, 401, "Bad credentials");
		return false;
	}
	if (re_sdprintf(&a1, "%s:%s:%s", auth->username, auth->realm,
	                auth->password)) {
		reply_reject(ua, msg, 500, "Out of memory");
		return false;
	}
	md5((const uint8_t *)a1, strlen(a1), ha1);
	mem_deref(a1);
	if (httpauth_digest_response_auth(&resp, &msg->met, ha1)) {
		reply_reject(ua, msg, 401, "Unauthorized");
		return false;
	}
	err = nonce_take(ua, &resp.nonce,
	                 pl_isset(&resp.qop) ? nc_value(&resp.nc) : 0);
	if (err == EALREADY) {
		char cid[128];

		pl_copy(cid, sizeof(cid), &msg->callid);
		log_event(LOGL_WARN, cid, "auth_replay",
		          "src=%s nc=%.*s reason=\"%s\"", addr_fmt(&msg->src).s,
		          (int)resp.nc.l, resp.nc.p,
		          pl_isset(&resp.qop)
		              ? "nonce count not above the last one taken"
		              : "nonce used before");
		challenge(ua, msg, auth->realm, true);
		return false;
	}
	if (err) {
		reply_reject(ua, msg, 500, "Out of memory");
		return false;
	}
	return true;
}

static void foreach_header(const void *m, dispatch_hdr_h *h, void *harg)
{
	const struct sip_msg *msg = m;

	for (struct le *le = list_head(&msg->hdrl); le; le = le->next) {
		const struct sip_hdr *hdr = le->data;

		h(hdr->name.p, hdr->name.l, hdr->val.p, hdr->val.l, harg);
	}
}

static void kick_handler(struct participant *p, const char *reason, void *arg)
{
	struct call *call = arg;

	participant_leave(p, reason);
	call->participant = NULL;
	log_event(LOGL_INFO, call->id, "removed", "reason=%s room=%s", reason,
	          call->room);
	call_end(call, "server", reason, 480);
}

static void xhdr_copy(const struct sip_msg *msg, const char *name, char *out,
                      size_t sz)
{
	const struct sip_hdr *h = sip_msg_xhdr(msg, name);

	pl_copy(out, sz, h ? &h->val : NULL);
}

/* What routing reads from the INVITE; the dispatch_call points into it. */
struct invite_keys {
	char from_user[128], to_user[128], src[64];
	char sid[128], account[128];
};

static void invite_read(const struct call *call, const struct sip_msg *msg,
                        struct invite_keys *k, struct dispatch_call *dc)
{
	pl_copy(k->from_user, sizeof(k->from_user), &msg->from.uri.user);
	pl_copy(k->to_user, sizeof(k->to_user), &msg->to.uri.user);
	if (re_snprintf(k->src, sizeof(k->src), "%j", &msg->src) < 0)
		k->src[0] = '\0';
	xhdr_copy(msg, "X-Twilio-CallSid", k->sid, sizeof(k->sid));
	xhdr_copy(msg, "X-Twilio-AccountSid", k->account, sizeof(k->account));
	*dc = (struct dispatch_call){
	    .sip_call_id = call->id,
	    .from_user = k->from_user,
	    .to_user = k->to_user,
	    .src_ip = k->src,
	    .twilio_call_sid = k->sid[0] ? k->sid : NULL,
	    .twilio_account_sid = k->account[0] ? k->account : NULL,
	    .msg = msg,
	    .foreach_hdr = foreach_header,
	};
}

static void adopt_route(struct call *call, const struct dispatch_result *res)
{
	call->participant = res->p;
	snprintf(call->room, sizeof(call->room), "%s", res->room);
	snprintf(call->identity, sizeof(call->identity), "%s", res->identity);
	snprintf(call->rule_id, sizeof(call->rule_id), "%s", res->rule_id);
	snprintf(call->agent_url, sizeof(call->agent_url), "%s",
	         res->agent_url);
	log_event(LOGL_INFO, call->id, "routed",
	          "room=%s identity=%s call=%s trunk=%s rule=%s agent=%s",
	          res->room, res->identity, res->call_id,
	          res->trunk_id[0] ? res->trunk_id : "none",
	          res->rule_id[0] ? res->rule_id : "default",
	          res->agent_url[0] ? res->agent_url : "default");
}

/* An address that keyed too many wrong PINs gets no more tries for a
 * while: true when the INVITE has been refused for it. */
static bool pin_refused(struct sipua *ua, struct call *call,
                        const struct sip_msg *msg)
{
	uint64_t wait = tries_blocked(ua->pin_tries, &call->src, tmr_jiffies());
	char ip[64];

	if (!wait)
		return false;
	if (re_snprintf(ip, sizeof(ip), "%j", &call->src) < 0)
		ip[0] = '\0';
	log_event(LOGL_WARN, call->id, "pin_blocked",
	          "src=%s retry_s=%llu max_tries=%u", ip,
	          (unsigned long long)(wait + 999) / 1000,
	          ua->prm.pin_max_tries);
	reply_reject(ua, msg, 403, "Too many wrong PINs");
	return true;
}

/* Puts the caller in a room, or readies the PIN stage. false when the
 * INVITE has been answered (challenge or rejection) and the call must go. */
static bool route_call(struct sipua *ua, struct call *call,
                       const struct sip_msg *msg)
{
	struct invite_keys k;
	struct dispatch_result res;
	struct dispatch_call dc;

	invite_read(call, msg, &k, &dc);
	dispatch_route(ua->prm.dispatch, &dc, false, kick_handler, call, &res);
	if (res.outcome == DISPATCH_AUTH) {
		if (!authorized(ua, msg, &res.auth))
			return false;
		dispatch_route(ua->prm.dispatch, &dc, true, kick_handler, call,
		               &res);
	}
	if (res.outcome != DISPATCH_JOINED && res.outcome != DISPATCH_PIN) {
		log_event(LOGL_WARN, call->id, "route_rejected",
		          "from=%s to=%s src=%s trunk=%s reason=\"%s\"",
		          k.from_user, k.to_user, k.src,
		          res.trunk_id[0] ? res.trunk_id : "none", res.reason);
		reply_reject(ua, msg, (uint16_t)res.status, res.reason);
		return false;
	}
	if (res.outcome == DISPATCH_PIN && pin_refused(ua, call, msg))
		return false;
	snprintf(call->scl_id, sizeof(call->scl_id), "%s", res.call_id);
	snprintf(call->trunk_id, sizeof(call->trunk_id), "%s", res.trunk_id);
	snprintf(call->headers, sizeof(call->headers), "%s", res.headers);
	call->rec = (struct dispatch_record){
	    .sip_call_id = call->id,
	    .from = call->from,
	    .to = call->to,
	    .room = call->room,
	    .identity = call->identity,
	    .trunk_id = call->trunk_id,
	    .rule_id = call->rule_id,
	    .status = "ringing",
	    .ringing_at = (long long)time(NULL),
	};
	if (res.outcome == DISPATCH_PIN) {
		call->pin = PIN_COLLECTING;
		call->invite = mem_ref((void *)msg);
		log_event(LOGL_INFO, call->id, "pin_requested",
		          "call=%s trunk=%s", res.call_id,
		          res.trunk_id[0] ? res.trunk_id : "none");
	} else {
		adopt_route(call, &res);
	}
	record(call);
	return true;
}

/* ---- PIN stage -------------------------------------------------------- */

static void pin_hangup(void *arg)
{
	struct call *call = arg;

	call_end(call, "server", "wrong PIN", 0);
}

/* Plays pin_wrong, then hangs up. */
static void pin_reject(struct call *call, const char *why)
{
	const struct agent_assets *assets = call->ua->prm.assets;
	void *state = NULL;
	int err;

	log_event(LOGL_WARN, call->id, "pin_rejected",
	          "digits=%zu reason=\"%s\"", strlen(call->digits), why);
	call->pin = PIN_REJECTED;
	tmr_cancel(&call->pin_tmr);
	call->agent_ops = NULL;
	err = agent_clip_start(&state, assets->pin_wrong,
	                       assets->pin_wrong_samples);
	if (!err)
		err = media_session_set_agent(call->media, &agent_clip, state);
	if (err) {
		pin_hangup(call);
		return;
	}
	tmr_start(&call->pin_tmr, assets->pin_wrong_samples / 8 + 200,
	          pin_hangup, call);
}

static void pin_submit(struct call *call)
{
	struct invite_keys k;
	struct dispatch_call dc;
	struct dispatch_result res;
	const struct agent_ops *ops;
	void *state = NULL;
	int err;

	/* Calls from one address at once share its tries. */
	if (tries_blocked(call->ua->pin_tries, &call->src, tmr_jiffies())) {
		pin_reject(call, "too many wrong PINs from this address");
		return;
	}
	invite_read(call, call->invite, &k, &dc);
	dc.pin = call->digits;
	dc.call_id = call->scl_id;
	dispatch_route(call->ua->prm.dispatch, &dc, true, kick_handler, call,
	               &res);
	if (res.outcome != DISPATCH_JOINED) {
		tries_fail(call->ua->pin_tries, &call->src, tmr_jiffies());
		pin_reject(call, res.reason);
		return;
	}
	log_event(LOGL_INFO, call->id, "pin_accepted", "rule=%s", res.rule_id);
	call->pin = PIN_NONE;
	tmr_cancel(&call->pin_tmr);
	call->invite = mem_deref((void *)call->invite);
	adopt_route(call, &res);
	(void)participant_set_attribute(call->participant, "sip.callStatus",
	                                "active");
	call->rec.status = "active";
	record(call);

	call->agent_ops = NULL;
	err = start_agent(call, &ops, &state);
	if (!err)
		err = media_session_set_agent(call->media, ops, state);
	if (err) {
		log_event(LOGL_ERROR, call->id, "agent_failed", "error=\"%s\"",
		          strerror(err));
		call_end(call, "server", "agent start failed", 0);
		return;
	}
	call->agent_ops = ops;
	call->agent_state = state;
}

static void pin_digits(struct call *call)
{
	char buf[32];
	size_t n = media_session_dtmf_read(call->media, buf, sizeof(buf));

	if (call->pin != PIN_COLLECTING) {
		/* That keys came tells the call's story; which ones is the
		 * caller's business (card numbers, PINs of other systems),
		 * so they are never logged. */
		if (n)
			log_event(LOGL_INFO, call->id, "dtmf", "keys=%zu", n);
		if (n && call->agent_ops && call->agent_ops->dtmf)
			call->agent_ops->dtmf(call->agent_state, buf, n);
		return;
	}
	for (size_t i = 0; i < n && call->pin == PIN_COLLECTING; i++) {
		size_t len = strlen(call->digits);

		if (buf[i] == '#')
			pin_submit(call);
		else if (len == PIN_MAX_DIGITS) {
			tries_fail(call->ua->pin_tries, &call->src,
			           tmr_jiffies());
			pin_reject(call, "more than 16 digits");
		} else
			call->digits[len] = buf[i];
	}
}

static void conn_handler(const struct sip_msg *msg, void *arg)
{
	struct sipua *ua = arg;
	struct call *call = NULL;
	const char *problem;
	bool has_sdp = mbuf_get_left(msg->mb) > 0;
	struct media_params mp;
	int err;

	if (ua->draining) {
		reply_reject(ua, msg, 503, "Service Unavailable");
		return;
	}
	/* A To tag names a dialog; ours are matched before this handler. */
	if (pl_isset(&msg->to.tag)) {
		reply_reject(ua, msg, 481, "Call/Transaction Does Not Exist");
		return;
	}
	problem = invite_problem(msg);
	if (problem) {
		reply_reject(ua, msg, 400, problem);
		return;
	}
	if (has_sdp && !msg_ctype_cmp(&msg->ctyp, "application", "sdp")) {
		reply_reject(ua, msg, 415, "Unsupported Media Type");
		return;
	}

	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		reply_reject(ua, msg, 500, "Out of memory");
		return;
	}
	call->ua = ua;
	call->invite_ms = mono_ms();
	tmr_init(&call->answer_tmr);
	tmr_init(&call->limit_tmr);
	tmr_init(&call->pin_tmr);
	tmr_init(&call->sess_tmr);
	pl_copy(call->id, sizeof(call->id), &msg->callid);
	call->src = msg->src;
	(void)re_snprintf(call->from, sizeof(call->from), "%H", uri_encode,
	                  &msg->from.uri);
	(void)re_snprintf(call->to, sizeof(call->to), "%H", uri_encode,
	                  &msg->uri);
	log_event(LOGL_INFO, call->id, "invite",
	          "from=%s to=%s transport=%s src=%s sdp=%s", call->from,
	          call->to, sip_transp_name(msg->tp), addr_fmt(&msg->src).s,
	          has_sdp ? "offer" : "none");
	if (ua->prm.dispatch && !route_call(ua, call, msg))
		goto fail;

	err =
	    media_session_alloc(&call->media, ua->prm.media, media_event, call);
	if (err) {
		refuse(call, msg, 503,
		       err == EADDRINUSE ? "No media ports available"
		                         : "Media unavailable");
		goto fail;
	}
	err = sdp_prepare(call);
	if (err) {
		refuse(call, msg, 500, "SDP setup failed");
		goto fail;
	}
	if (has_sdp) {
		err = sdp_decode(call->sdp, msg->mb, true);
		if (err) {
			refuse(call, msg, 400, "Malformed SDP");
			goto fail;
		}
		if (!sdp_media_rport(call->sdpm)) {
			refuse(call, msg, 488, "No audio stream offered");
			goto fail;
		}
		if (sdp_params(call, &mp)) {
			refuse(call, msg, 488, "Not Acceptable Here");
			goto fail;
		}
		sdp_set_direction(call);
	}

	/* 100 Trying is hop-by-hop: sent outside the dialog. */
	(void)sip_reply(ua->sip, msg, 100, "Trying");
	err = sipsess_accept(&call->sess, ua->sock, msg, 180, "Ringing",
	                     msg->tp == SIP_TRANSP_TCP ? ua->contact_tcp
	                                               : ua->contact_udp,
	                     "application/sdp", NULL, NULL, NULL, false,
	                     offer_handler, answer_handler, estab_handler, NULL,
	                     NULL, close_handler, call, ALLOW_HDR);
	if (err) {
		refuse(call, msg, 400, "Cannot establish dialog");
		goto fail;
	}
	list_append(&ua->calls, &call->le, call);
	call->remote_offer = has_sdp;
	if (ua->prm.answer_delay_ms)
		tmr_start(&call->answer_tmr, ua->prm.answer_delay_ms,
		          answer_call, call);
	else
		answer_call(call);
	return;

fail:
	/* No dialog and no media thread involved yet: free at once. */
	if (call->participant)
		participant_leave(call->participant, "JOIN_FAILURE");
	mem_deref(call);
}

static bool request_handler(const struct sip_msg *msg, void *arg)
{
	struct sipua *ua = arg;

	if (!pl_strcmp(&msg->met, "OPTIONS")) {
		(void)sip_treplyf(NULL, NULL, ua->sip, msg, false, 200, "OK",
		                  "%sAccept: application/sdp\r\n"
		                  "Content-Length: 0\r\n\r\n",
		                  ALLOW_HDR);
		return true;
	}
	return false;
}

/* ---- lifecycle -------------------------------------------------------- */

static void drain_timeout(void *arg)
{
	struct sipua *ua = arg;
	struct le *le = list_head(&ua->calls);

	log_event(LOGL_WARN, NULL, "drain_timeout", "calls=%u",
	          list_count(&ua->calls));
	while (le) {
		struct call *call = le->data;

		le = le->next;
		call_end(call, "server", "shutdown", 503);
	}
}

void sipua_drain(struct sipua *ua, uint32_t timeout_ms, sipua_idle_h *idleh,
                 void *arg)
{
	if (!ua)
		return;
	ua->draining = true;
	ua->idleh = idleh;
	ua->idle_arg = arg;
	tmr_start(&ua->drain_tmr, timeout_ms, drain_timeout, ua);
	check_idle(ua);
}

unsigned sipua_call_count(const struct sipua *ua)
{
	return ua ? list_count(&ua->calls) : 0;
}

static void ua_destructor(void *arg)
{
	struct sipua *ua = arg;

	tmr_cancel(&ua->drain_tmr);
	list_flush(&ua->calls);
	list_flush(&ua->nonce_uses);
	mem_deref(ua->nonce_ht);
	mem_deref(ua->pin_tries);
	mem_deref(ua->lsnr);
	mem_deref(ua->sock);
	sip_close(ua->sip, true);
	mem_deref(ua->sip);
	mem_deref(ua->contact_udp);
	mem_deref(ua->contact_tcp);
}

int sipua_alloc(struct sipua **uap, const struct sipua_params *prm)
{
	struct sipua *ua;
	int err;

	if (!uap || !prm || !prm->media || !prm->agent)
		return EINVAL;
	ua = mem_zalloc(sizeof(*ua), ua_destructor);
	if (!ua)
		return ENOMEM;
	ua->prm = *prm;
	tmr_init(&ua->drain_tmr);
	list_init(&ua->calls);
	rand_bytes(ua->nonce_key, sizeof(ua->nonce_key));
	list_init(&ua->nonce_uses);
	err = hash_alloc(&ua->nonce_ht, 4096);
	if (!err)
		err = tries_alloc(&ua->pin_tries, prm->pin_max_tries,
		                  prm->pin_tries_window_ms, PIN_TRIES_ADDRS);
	if (err)
		goto out;

	/* Hash tables sized for thousands of live transactions at hundreds of
	 * calls a second (a server transaction lives 32 s). */
	err =
	    sip_alloc(&ua->sip, NULL, 4096, 4096, 4096, "voxgate", NULL, NULL);
	if (err)
		goto out;
	err = sip_transp_add(ua->sip, SIP_TRANSP_UDP, &prm->listen);
	if (err)
		goto out;
	err = sip_transp_add(ua->sip, SIP_TRANSP_TCP, &prm->listen);
	if (err)
		goto out;
	err = sipsess_listen(&ua->sock, ua->sip, 1024, conn_handler, ua);
	if (err)
		goto out;
	err = sip_listen(&ua->lsnr, ua->sip, true, request_handler, ua);
	if (err)
		goto out;
	err = re_sdprintf(&ua->contact_udp, "sip:voxgate@%j:%u", &prm->external,
	                  sa_port(&prm->listen));
	if (err)
		goto out;
	err = re_sdprintf(&ua->contact_tcp, "sip:voxgate@%j:%u;transport=tcp",
	                  &prm->external, sa_port(&prm->listen));
out:
	if (err)
		mem_deref(ua);
	else
		*uap = ua;
	return err;
}
