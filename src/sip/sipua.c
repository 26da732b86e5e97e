/*
 * DESIGN. A call is born in the INVITE handler, which checks the request,
 * negotiates the SDP and binds the call's media ports before anything is
 * answered, so that every failure is a clean final response (400, 415, 488,
 * 503) and never a half-set-up call. It then rings (180) and answers after
 * answer_delay. A call ends from one of three sides: the caller (BYE or
 * CANCEL), the media thread (timeout) or the server (maximum duration,
 * drain). Ending stops the media session; the call is logged and freed when
 * the media thread reports the session stopped, so its figures are final.
 *
 * Around the call, each in its own file (see sipua_int.h): its media and
 * agent (sipua_media.c), the SDP offer and answer (sipua_sdp.c), routing an INVITE to a room (sipua_route.c),
 * the digest auth of trunks with credentials (sipua_auth.c) and the PIN
 * stage (sipua_pin.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "core/clock.h"
#include "sip/sipua_int.h"
#include "sip/sipua_sdp.h"
#include "sip/tries.h"
#include "room/room.h"
#include "core/log.h"

#define ALLOW_HDR "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
/* Source addresses whose wrong PINs are counted at once. */
#define PIN_TRIES_ADDRS 4096

void sipua_call_record(struct call *call)
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
	mem_deref(call->xfer);
	mem_deref((void *)call->invite);
	mem_deref(call->dial);
	mem_deref(call->sess);
	mem_deref(call->media);
	mem_deref(call->sdp);
	explicit_bzero(&call->srtp, sizeof(call->srtp)); /* SDES keys */
}

void sipua_check_idle(struct sipua *ua)
{
	if (ua->draining && ua->idleh && list_isempty(&ua->calls) &&
	    !ua->reg_pending) {
		sipua_idle_h *h = ua->idleh;

		ua->idleh = NULL;
		tmr_cancel(&ua->drain_tmr);
		h(ua->idle_arg);
	}
}

void sipua_call_finish(struct call *call)
{
	struct sipua *ua = call->ua;
	const struct media_stats *st = media_session_stats(call->media);
	uint64_t now = clock_mono_ms();
	uint64_t dur = call->answer_ms ? now - call->answer_ms : 0;

	log_event(LOGL_INFO, call->id, "call_end",
	          "direction=%s by=%s reason=\"%s\" duration_ms=%llu "
	          "packets_in=%llu "
	          "packets_out=%llu lost=%llu late=%llu discarded=%llu "
	          "duplicate=%llu underrun=%llu stretched=%llu concealed=%llu "
	          "jitter_ms=%u "
	          "wrong_source=%llu unknown_pt=%llu malformed=%llu "
	          "dtmf_in=%llu srtp_auth_fail=%llu srtp_replay=%llu "
	          "srtp_other=%llu",
	          call->outbound ? "outbound" : "inbound", call->end_by,
	          call->end_reason, (unsigned long long)dur,
	          (unsigned long long)(st ? st->packets_in : 0),
	          (unsigned long long)(st ? st->packets_out : 0),
	          (unsigned long long)(st ? st->lost : 0),
	          (unsigned long long)(st ? st->late : 0),
	          (unsigned long long)(st ? st->discarded : 0),
	          (unsigned long long)(st ? st->duplicate : 0),
	          (unsigned long long)(st ? st->underrun : 0),
	          (unsigned long long)(st ? st->stretched : 0),
	          (unsigned long long)(st ? st->concealed : 0),
	          st ? st->jitter_target_ms : 0,
	          (unsigned long long)(st ? st->wrong_source : 0),
	          (unsigned long long)(st ? st->unknown_pt : 0),
	          (unsigned long long)(st ? st->malformed : 0),
	          (unsigned long long)(st ? st->dtmf_in : 0),
	          (unsigned long long)(st ? st->srtp_auth_fail : 0),
	          (unsigned long long)(st ? st->srtp_replay : 0),
	          (unsigned long long)(st ? st->srtp_other : 0));
	if (st) {
		ua->srtp.auth_fail += st->srtp_auth_fail;
		ua->srtp.replay += st->srtp_replay;
		ua->srtp.other += st->srtp_other;
	}
	call->rec.status = call->end_scode ? "failed" : "hangup";
	call->rec.sip_status = call->end_scode;
	call->rec.ended_at = (long long)time(NULL);
	call->rec.ended_by = call->end_by;
	call->rec.end_reason = call->end_reason;
	call->rec.duration_ms = (long long)dur;
	call->rec.packets_in = st ? st->packets_in : 0;
	call->rec.packets_out = st ? st->packets_out : 0;
	call->rec.lost = st ? st->lost : 0;
	sipua_call_record(call);
	mem_deref(call);
	sipua_check_idle(ua);
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
void sipua_call_end(struct call *call, const char *by, const char *reason,
                    uint16_t scode)
{
	if (call->ending)
		return;
	call->ending = true;
	call->end_by = by;
	if (call->outbound)
		sipua_dial_ending(call, reason);
	sipua_refer_call_end(call);
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

	/* An outbound call has no INVITE of ours to answer: releasing the
	 * session sends CANCEL or BYE. */
	if (call->sess && !call->answer_ms && scode && !call->outbound) {
		(void)sipsess_reject(call->sess, scode, reason, NULL);
		call->end_scode = scode;
	}
	if (call->sess)
		tmr_start(&call->sess_tmr, 0, sess_release, call);

	if (call->media)
		media_session_stop(call->media);
	else
		sipua_call_finish(call);
}

/* ---- session handlers ------------------------------------------------- */

static void estab_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;

	(void)msg;
	log_event(LOGL_INFO, call->id, "established", NULL);
	call->acked = true;
	media_session_confirm(call->media);
	if (call->agent_end[0] && !call->ending)
		sipua_call_end(call, "agent", call->agent_end, 0);
}

static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;

	/* libre reports both the caller's BYE and CANCEL as ECONNRESET
	 * without the request: before our 200 it can only be a CANCEL. */
	if (err == ECONNRESET && call->answer_ms) {
		sipua_call_end(call, "caller", "BYE", 0);
	} else if (err == ECONNRESET) {
		log_event(LOGL_INFO, call->id, "cancelled", NULL);
		sipua_call_end(call, "cancel", "CANCEL before answer", 0);
	} else {
		char reason[48];

		if (msg && msg->scode)
			snprintf(reason, sizeof(reason), "%u %.*s", msg->scode,
			         (int)msg->reason.l, msg->reason.p);
		else
			snprintf(reason, sizeof(reason), "%s", strerror(err));
		sipua_call_end(call, "caller", reason, 0);
	}
}

static void limit_handler(void *arg)
{
	struct call *call = arg;

	log_event(LOGL_INFO, call->id, "max_duration", NULL);
	sipua_call_end(call, "server", "max call duration", 0);
}

void sipua_limit_start(struct call *call, uint32_t ms)
{
	if (ms)
		tmr_start(&call->limit_tmr, ms, limit_handler, call);
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
		err = sipua_start_media(call);
		if (err) {
			log_event(LOGL_ERROR, call->id, "media_failed",
			          "error=\"%s\"", strerror(err));
			sipua_call_end(call, "server", "media start failed",
			               500);
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
		sipua_call_end(call, "server", "answer failed", 500);
		return;
	}
	call->answer_ms = clock_mono_ms();
	if (call->participant)
		(void)participant_set_attribute(call->participant,
		                                "sip.callStatus", "active");
	call->rec.status = "active";
	call->rec.active_at = (long long)time(NULL);
	sipua_call_record(call);
	log_event(LOGL_INFO, call->id, "answered", "after_ms=%llu sdp=%s",
	          (unsigned long long)(call->answer_ms - call->invite_ms),
	          offer ? "offer" : "answer");
	if (call->ua->prm.max_call_duration_ms)
		tmr_start(&call->limit_tmr, call->ua->prm.max_call_duration_ms,
		          limit_handler, call);
	if (call->pin == PIN_COLLECTING && call->ua->prm.pin_timeout_ms)
		tmr_start(&call->pin_tmr, call->ua->prm.pin_timeout_ms,
		          sipua_pin_timeout, call);
}

/* ---- incoming requests ------------------------------------------------ */

/* A 488 says why in a Warning (RFC 3261 20.43): 305 unless w says. */
static void reply_reject(struct sipua *ua, const struct sip_msg *msg,
                         uint16_t scode, const char *reason,
                         const struct sipua_srtp_refusal *w)
{
	char cid[128];

	sipua_pl_copy(cid, sizeof(cid), &msg->callid);
	log_event(LOGL_WARN, cid, "rejected", "code=%u reason=\"%s\" src=%s",
	          scode, reason, sipua_addr_fmt(&msg->src).s);
	if (scode == 488)
		(void)sip_treplyf(
		    NULL, NULL, ua->sip, msg, false, scode, reason,
		    "%sWarning: %u voxgate \"%s\"\r\nContent-Length: 0\r\n\r\n",
		    ALLOW_HDR, w ? w->warn_code : 305,
		    w ? w->warn_text : "Incompatible media format");
	else
		(void)sip_treplyf(NULL, NULL, ua->sip, msg, false, scode,
		                  reason, "%sContent-Length: 0\r\n\r\n",
		                  ALLOW_HDR);
}

void sipua_reply_reject(struct sipua *ua, const struct sip_msg *msg,
                        uint16_t scode, const char *reason)
{
	reply_reject(ua, msg, scode, reason, NULL);
}

/* Refuses an INVITE that routing took: the final response, and the call
 * record (written as ringing by route_call) closed as failed with it. */
static void refuse_warn(struct call *call, const struct sip_msg *msg,
                        uint16_t scode, const char *reason,
                        const struct sipua_srtp_refusal *w)
{
	reply_reject(call->ua, msg, scode, reason, w);
	call->ending = true;
	call->end_by = "server";
	call->end_scode = scode;
	snprintf(call->end_reason, sizeof(call->end_reason), "%s", reason);
	call->rec.status = "failed";
	call->rec.sip_status = scode;
	call->rec.ended_at = (long long)time(NULL);
	call->rec.ended_by = call->end_by;
	call->rec.end_reason = call->end_reason;
	sipua_call_record(call);
}

static void refuse(struct call *call, const struct sip_msg *msg, uint16_t scode,
                   const char *reason)
{
	refuse_warn(call, msg, scode, reason, NULL);
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

struct call *sipua_call_alloc(struct sipua *ua)
{
	struct call *call = mem_zalloc(sizeof(*call), call_destructor);

	if (!call)
		return NULL;
	call->ua = ua;
	call->invite_ms = clock_mono_ms();
	tmr_init(&call->answer_tmr);
	tmr_init(&call->limit_tmr);
	tmr_init(&call->pin_tmr);
	tmr_init(&call->sess_tmr);
	return call;
}

static void conn_handler(const struct sip_msg *msg, void *arg)
{
	struct sipua *ua = arg;
	struct call *call = NULL;
	const char *problem;
	bool has_sdp = mbuf_get_left(msg->mb) > 0;
	struct media_params mp;
	struct sipua_srtp_refusal sr;
	int err;

	if (ua->draining) {
		sipua_reply_reject(ua, msg, 503, "Service Unavailable");
		return;
	}
	/* A To tag names a dialog; ours are matched before this handler. */
	if (pl_isset(&msg->to.tag)) {
		sipua_reply_reject(ua, msg, 481,
		                   "Call/Transaction Does Not Exist");
		return;
	}
	problem = invite_problem(msg);
	if (problem) {
		sipua_reply_reject(ua, msg, 400, problem);
		return;
	}
	if (has_sdp && !msg_ctype_cmp(&msg->ctyp, "application", "sdp")) {
		sipua_reply_reject(ua, msg, 415, "Unsupported Media Type");
		return;
	}

	call = sipua_call_alloc(ua);
	if (!call) {
		sipua_reply_reject(ua, msg, 500, "Out of memory");
		return;
	}
	sipua_pl_copy(call->id, sizeof(call->id), &msg->callid);
	call->src = msg->src;
	(void)re_snprintf(call->from, sizeof(call->from), "%H", uri_encode,
	                  &msg->from.uri);
	(void)re_snprintf(call->to, sizeof(call->to), "%H", uri_encode,
	                  &msg->uri);
	log_event(LOGL_INFO, call->id, "invite",
	          "from=%s to=%s transport=%s src=%s sdp=%s", call->from,
	          call->to, sip_transp_name(msg->tp),
	          sipua_addr_fmt(&msg->src).s, has_sdp ? "offer" : "none");
	sipua_reg_invite(ua, call, msg);
	if (ua->prm.dispatch && !sipua_route_call(ua, call, msg))
		goto fail;

	err = sipua_media_alloc(call);
	if (err) {
		refuse(call, msg, 503,
		       err == EADDRINUSE ? "No media ports available"
		                         : "Media unavailable");
		goto fail;
	}
	err = sipua_sdp_prepare(call);
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
		if (!sipua_sdp_srtp_ok(call, true, &sr)) {
			refuse_warn(call, msg, 488, "Not Acceptable Here", &sr);
			goto fail;
		}
		if (sipua_call_sdp_params(call, &mp)) {
			refuse(call, msg, 488, "Not Acceptable Here");
			goto fail;
		}
		sipua_sdp_direction(call->sdpm);
	}

	/* 100 Trying is hop-by-hop: sent outside the dialog. */
	(void)sip_reply(ua->sip, msg, 100, "Trying");
	call->contact = sipua_contact(ua, msg->tp);
	err = sipsess_accept(&call->sess, ua->sock, msg, 180, "Ringing",
	                     call->contact, "application/sdp", NULL, NULL, NULL,
	                     false, sipua_offer_handler, sipua_answer_handler,
	                     estab_handler, NULL, NULL, close_handler, call,
	                     ALLOW_HDR);
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
	sipua_route_refused(call);
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
		sipua_call_end(call, "server", "shutdown", 503);
	}
}

void sipua_drain(struct sipua *ua, uint32_t timeout_ms, sipua_idle_h *idleh,
                 void *arg)
{
	if (!ua)
		return;
	ua->draining = true;
	sipua_reg_drain(ua);
	ua->idleh = idleh;
	ua->idle_arg = arg;
	tmr_start(&ua->drain_tmr, timeout_ms, drain_timeout, ua);
	sipua_dial_drain(ua);
	sipua_check_idle(ua);
}

int sipua_srtp_metrics(const struct sipua *ua, struct mbuf *mb)
{
	if (!ua || !mb)
		return EINVAL;
	return mbuf_printf(
	    mb,
	    "# HELP voxgate_sip_srtp_calls_total SIP calls whose media "
	    "started with SRTP (SDES).\n"
	    "# TYPE voxgate_sip_srtp_calls_total counter\n"
	    "voxgate_sip_srtp_calls_total %llu\n"
	    "# HELP voxgate_sip_srtp_refused_total Offers and answers "
	    "refused (488) for their SRTP by the trunk's mediaEncryption.\n"
	    "# TYPE voxgate_sip_srtp_refused_total counter\n"
	    "voxgate_sip_srtp_refused_total %llu\n"
	    "# HELP voxgate_sip_srtp_dropped_total SRTP and SRTCP packets "
	    "of ended calls dropped, by reason.\n"
	    "# TYPE voxgate_sip_srtp_dropped_total counter\n"
	    "voxgate_sip_srtp_dropped_total{reason=\"auth_fail\"} %llu\n"
	    "voxgate_sip_srtp_dropped_total{reason=\"replay\"} %llu\n"
	    "voxgate_sip_srtp_dropped_total{reason=\"other\"} %llu\n",
	    (unsigned long long)ua->srtp.calls,
	    (unsigned long long)ua->srtp.refused,
	    (unsigned long long)ua->srtp.auth_fail,
	    (unsigned long long)ua->srtp.replay,
	    (unsigned long long)ua->srtp.other);
}

int sipua_metrics(const struct sipua *ua, struct mbuf *mb)
{
	int err;

	if (!ua)
		return 0;
	err = sipua_dial_metrics(ua, mb);
	err = err ? err : regclient_metrics(ua->reg, mb);
	return err ? err : sipua_srtp_metrics(ua, mb);
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
	tmrq_reset(&ua->ring_q);
	sipua_nonces_reset(&ua->nonces);
	mem_deref(ua->pin_tries);
	mem_deref(ua->lsnr);
	mem_deref(ua->refer_lsnr);
	mem_deref(ua->sock);
	mem_deref(ua->reg);
	sip_close(ua->sip, true);
	mem_deref(ua->sip);
	mem_deref(ua->dnsc);
	mem_deref(ua->contact_udp);
	mem_deref(ua->contact_tcp);
	mem_deref(ua->contact_tls);
}

/* libre reads one datagram of a socket per turn of its loop, and a turn
 * that serves a burst of API requests (each placing a call) can outlast a
 * burst of responses from a trunk: the kernel's default receive buffer
 * (208 KiB, about 90 datagrams on loopback) then overflows and the trunk's
 * answers are lost. The SIP UDP socket gets a larger one (the kernel caps
 * it at net.core.rmem_max). libre 1.1.0 does not expose the socket: it is
 * found among ours by its address, and kept to tell whether datagrams wait
 * in it (sipua_udp_backlog). */
#define SIP_UDP_RCVBUF (4 << 20)

static int sip_udp_socket(struct sip *sip)
{
	struct sa laddr, a;
	DIR *dir;
	struct dirent *e;
	int found = -1;

	if (sip_transp_laddr(sip, &laddr, SIP_TRANSP_UDP, NULL))
		return -1;
	dir = opendir("/proc/self/fd");
	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		int fd = atoi(e->d_name), type = 0, size = SIP_UDP_RCVBUF;
		socklen_t len = sizeof(type);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    fd == dirfd(dir) ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
		    type != SOCK_DGRAM)
			continue;
		sa_init(&a, AF_UNSPEC);
		a.len = sizeof(a.u);
		if (getsockname(fd, &a.u.sa, &a.len) ||
		    !sa_cmp(&a, &laddr, SA_ALL))
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		                 sizeof(size));
		len = sizeof(size);
		if (!getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len))
			log_event(LOGL_DEBUG, NULL, "sip_udp_rcvbuf",
			          "bytes=%d", size);
		found = fd;
		break;
	}
	closedir(dir);
	return found;
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
	tmrq_init(&ua->ring_q);
	ua->udp_fd = -1;
	list_init(&ua->calls);
	err = sipua_nonces_init(&ua->nonces);
	if (!err)
		err = tries_alloc(&ua->pin_tries, prm->pin_max_tries,
		                  prm->pin_tries_window_ms, PIN_TRIES_ADDRS);
	if (err)
		goto out;

	/* Outbound trunks name hosts (RFC 3263: NAPTR, SRV, A): without a
	 * resolver libre can only reach IP literals. A host with no name
	 * servers still dials IPs. */
	{
		struct sa ns[4];
		uint32_t n = 4;
		char domain[64];

		if (!dns_srv_get(domain, sizeof(domain), ns, &n) && n)
			(void)dnsc_alloc(&ua->dnsc, NULL, ns, n);
	}
	/* Hash tables sized for thousands of live transactions at hundreds of
	 * calls a second (a server transaction lives 32 s). */
	err = sip_alloc(&ua->sip, ua->dnsc, 4096, 4096, 4096, "voxgate", NULL,
	                NULL);
	if (err)
		goto out;
	err = sip_transp_add(ua->sip, SIP_TRANSP_UDP, &prm->listen);
	if (err)
		goto out;
	ua->udp_fd = sip_udp_socket(ua->sip);
	err = sip_transp_add(ua->sip, SIP_TRANSP_TCP, &prm->listen);
	if (err)
		goto out;
	err = sipua_tls_listen(ua);
	if (err)
		goto out;
	err = sipua_reg_init(ua);
	if (err)
		goto out;
	err = sipsess_listen(&ua->sock, ua->sip, 1024, conn_handler, ua);
	if (err)
		goto out;
	err = sip_listen(&ua->lsnr, ua->sip, true, request_handler, ua);
	if (!err)
		err = sipua_refer_listen(ua);
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
