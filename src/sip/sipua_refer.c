/*
 * Transfers: a REFER (RFC 3515) to the caller's side of an established
 * call, and the outcome read from the NOTIFYs it sends back, whose
 * message/sipfrag bodies tell how the target answered.
 *
 * DESIGN. The REFER goes in the call's own dialog (sip_drequestf on the
 * session's dialog: its CSeq space, its route), and the NOTIFYs are
 * matched here, by that dialog (Call-ID and both tags) and by `Event:
 * refer` with `id` equal to the REFER's CSeq or no id. Anything else gets
 * 481, as RFC 6665 wants for a subscription we do not have. libre's
 * sipevent subscriber would do the matching, but in 1.1.0 it ends a REFER
 * subscription 10 s after the 202 unless the final NOTIFY came by then,
 * even while NOTIFYs say the target rings, and then answers the final
 * NOTIFY itself without telling us: a transfer that rings longer than
 * 10 s would fail. So we keep its 10 s only for the first NOTIFY after the
 * 202 (a far side that accepted and never reports) and then wait for the
 * final one up to the transfer's own timeout, restarted by each 1xx.
 *
 * The outcome is never acted on inside libre's handlers: it is recorded,
 * and a 0 ms timer tells the one who asked and, after a success, ends the
 * call (our BYE), so no session or request is freed under libre's feet.
 * The call ending first answers the transfer at once (ECONNRESET).
 */
#include <errno.h>
#include <string.h>
#include "core/clock.h"
#include "sip/sipua_int.h"
#include "sip/sipx.h"
#include "room/room.h"
#include "core/log.h"

/* libre's wait for a first NOTIFY after the 202 (sipevent's
 * NOTIFY_TIMEOUT), kept. */
#define NOTIFY_WAIT_MS 10000

struct sipua_xfer {
	struct call *call; /* owns this; NULL never while alive */
	struct sip_request *req;
	struct tmr wait_tmr; /* the first NOTIFY, then the final one */
	struct tmr done_tmr; /* tells the outcome outside libre's handlers */
	uint32_t cseq;       /* the REFER's, the NOTIFYs' Event id */
	uint32_t timeout_ms;
	uint64_t start_ms;
	char to[513];
	sipua_transfer_h *h; /* the API's, or NULL */
	void *arg;
	/* The agent's (agent_call_info.transfer), or NULL. */
	void (*adone)(void *darg, bool ok, bool final, const char *why);
	void *darg;
	bool accepted, notified, done, told, dialtone;
	int err;
	uint16_t code;
	char reason[128];
};

static void xfer_destructor(void *arg)
{
	struct sipua_xfer *x = arg;

	tmr_cancel(&x->wait_tmr);
	tmr_cancel(&x->done_tmr);
	mem_deref(x->req);
}

/* LiveKit's play_dialtone: the caller hears a ringback while the
 * transfer runs. */
static void ringback(struct sipua_xfer *x, bool on)
{
	if (x->dialtone && x->call->media)
		media_session_ringback_caller(x->call->media, on);
}

/* Tells the one who asked, once. */
static void tell(struct sipua_xfer *x)
{
	sipua_transfer_h *h = x->h;
	void (*adone)(void *, bool, bool, const char *) = x->adone;
	char why[160];

	if (x->told)
		return;
	x->told = true;
	tmr_cancel(&x->done_tmr);
	x->h = NULL;
	x->adone = NULL;
	log_event(x->err ? LOGL_WARN : LOGL_INFO, x->call->id, "transfer_done",
	          "to=\"%s\" ok=%s code=%u reason=\"%s\" error=\"%s\" "
	          "after_ms=%llu",
	          x->to, x->err ? "false" : "true", x->code, x->reason,
	          x->err ? strerror(x->err) : "",
	          (unsigned long long)(clock_mono_ms() - x->start_ms));
	if (h)
		h(true, x->err, x->code, x->reason, x->arg);
	if (adone) {
		if (x->code)
			snprintf(why, sizeof(why), "%u %s", x->code, x->reason);
		else
			snprintf(why, sizeof(why), "%s", x->reason);
		adone(x->darg, !x->err, true, why);
	}
}

static void settle(void *arg)
{
	struct sipua_xfer *x = arg;
	struct call *call = x->call;

	tell(x);
	if (x->err || call->ending)
		return;
	/* Handed on: the caller is the target's now. The participant leaves
	 * as a caller who hung up would, and our BYE ends our leg. */
	if (call->participant) {
		participant_leave(call->participant, "CLIENT_INITIATED");
		call->participant = NULL;
	}
	sipua_call_end(call, "server", "transferred", 0);
}

/* Records the outcome once; settle acts on it on the next turn. */
static void finish(struct sipua_xfer *x, int err, uint16_t code,
                   const char *reason)
{
	if (x->done)
		return;
	x->done = true;
	x->err = err;
	x->code = code;
	snprintf(x->reason, sizeof(x->reason), "%s", reason ? reason : "");
	tmr_cancel(&x->wait_tmr);
	ringback(x, false);
	tmr_start(&x->done_tmr, 0, settle, x);
}

static void wait_timeout(void *arg)
{
	struct sipua_xfer *x = arg;

	log_event(LOGL_WARN, x->call->id, "transfer_timeout",
	          "to=\"%s\" notified=%s", x->to,
	          x->notified ? "true" : "false");
	finish(x, ETIMEDOUT, 0,
	       x->notified ? "no final answer from the transfer target"
	                   : "no NOTIFY after the REFER was accepted");
}

static void accepted(struct sipua_xfer *x)
{
	if (x->accepted)
		return;
	x->accepted = true;
	if (x->h)
		x->h(false, 0, 202, "Accepted", x->arg);
	if (x->adone)
		x->adone(x->darg, true, false, "accepted");
}

static void refer_resp(int err, const struct sip_msg *msg, void *arg)
{
	struct sipua_xfer *x = arg;
	char reason[128];

	if (x->done)
		return;
	if (err) {
		log_event(LOGL_WARN, x->call->id, "transfer_refer_failed",
		          "error=\"%s\"", strerror(err));
		finish(x, err == ETIMEDOUT ? ETIMEDOUT : EPROTO, 0,
		       err == ETIMEDOUT ? "no answer to the REFER"
		                        : strerror(err));
		return;
	}
	if (msg->scode < 200)
		return;
	sipua_pl_copy(reason, sizeof(reason), &msg->reason);
	log_event(msg->scode < 300 ? LOGL_INFO : LOGL_WARN, x->call->id,
	          "transfer_refer_answer", "code=%u reason=\"%s\"", msg->scode,
	          reason);
	if (msg->scode >= 300) {
		finish(x, EPROTO, msg->scode, reason);
		return;
	}
	accepted(x);
	if (!x->notified)
		tmr_start(&x->wait_tmr, NOTIFY_WAIT_MS, wait_timeout, x);
}

static int refer_send(enum sip_transp tp, const struct sa *src,
                      const struct sa *dst, struct mbuf *mb, void *arg)
{
	struct sipua_xfer *x = arg;
	struct sip_contact contact;

	(void)dst;
	sip_contact_set(
	    &contact, x->call->contact ? x->call->contact : "voxgate", src, tp);
	return mbuf_printf(mb, "%H", sip_contact_print, &contact);
}

/* ---- NOTIFY ------------------------------------------------------------ */

static void notify_reply(struct sipua *ua, const struct sip_msg *msg,
                         uint16_t scode, const char *reason)
{
	(void)sip_treply(NULL, ua->sip, msg, scode, reason);
}

/* The call whose transfer this NOTIFY reports on, or NULL. */
static struct sipua_xfer *notify_xfer(struct sipua *ua,
                                      const struct sip_msg *msg,
                                      const struct sipevent_event *ev)
{
	for (struct le *le = list_head(&ua->calls); le; le = le->next) {
		struct call *call = le->data;
		struct sipua_xfer *x = call->xfer;

		if (!x || !call->sess ||
		    !sip_dialog_cmp(sipsess_dialog(call->sess), msg))
			continue;
		if (pl_isset(&ev->id) && pl_u32(&ev->id) != x->cseq)
			continue;
		/* A transfer over is no longer listened to: the first
		 * match wins, so a finished one hides no newer one. */
		return x;
	}
	return NULL;
}

static void notify_handler(struct sipua *ua, const struct sip_msg *msg)
{
	const struct sip_hdr *hdr;
	struct sipevent_event ev;
	struct sipevent_substate st;
	struct sipua_xfer *x;
	char cid[128], reason[128] = "";
	uint16_t code = 0;
	size_t len = mbuf_get_left(msg->mb);
	bool term;

	sipua_pl_copy(cid, sizeof(cid), &msg->callid);
	hdr = sip_msg_hdr(msg, SIP_HDR_EVENT);
	if (!hdr || sipevent_event_decode(&ev, &hdr->val)) {
		log_event(LOGL_WARN, cid, "notify_refused",
		          "code=489 reason=\"no Event\" src=%s",
		          sipua_addr_fmt(&msg->src).s);
		notify_reply(ua, msg, 489, "Bad Event");
		return;
	}
	hdr = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	if (!hdr || sipevent_substate_decode(&st, &hdr->val)) {
		log_event(LOGL_WARN, cid, "notify_refused",
		          "code=400 reason=\"bad Subscription-State\" src=%s",
		          sipua_addr_fmt(&msg->src).s);
		notify_reply(ua, msg, 400, "Bad Subscription-State Header");
		return;
	}
	x = pl_strcasecmp(&ev.event, "refer") ? NULL
	                                      : notify_xfer(ua, msg, &ev);
	if (!x || x->done) {
		log_event(LOGL_WARN, cid, "notify_refused",
		          "code=481 reason=\"no such subscription\" src=%s",
		          sipua_addr_fmt(&msg->src).s);
		notify_reply(ua, msg, 481, "Subscription Does Not Exist");
		return;
	}
	if (!sip_dialog_rseq_valid(sipsess_dialog(x->call->sess), msg)) {
		notify_reply(ua, msg, 500, "Bad Sequence");
		return;
	}
	term = st.state == SIPEVENT_TERMINATED;
	if (!msg_ctype_cmp(&msg->ctyp, "message", "sipfrag") ||
	    sipx_sipfrag_status((const char *)mbuf_buf(msg->mb), len, &code,
	                        reason, sizeof(reason))) {
		/* Not a status we can read: the NOTIFY is taken (the
		 * subscription stays as it is) and its body ignored. */
		log_event(LOGL_WARN, x->call->id, "refer_notify_bad",
		          "len=%zu state=%s", len,
		          sipevent_substate_name(st.state));
		notify_reply(ua, msg, 200, "OK");
		code = 0;
	} else {
		log_event(LOGL_INFO, x->call->id, "transfer_notify",
		          "code=%u reason=\"%s\" state=%s", code, reason,
		          sipevent_substate_name(st.state));
		notify_reply(ua, msg, 200, "OK");
	}
	x->notified = true;
	accepted(x);
	if (code >= 200 && code < 300)
		finish(x, 0, code, reason);
	else if (code >= 300)
		finish(x, EPROTO, code, reason);
	else if (term)
		finish(x, EPROTO, 0,
		       "the subscription ended without an answer");
	else
		tmr_start(&x->wait_tmr, x->timeout_ms, wait_timeout, x);
}

static bool request_handler(const struct sip_msg *msg, void *arg)
{
	if (pl_strcmp(&msg->met, "NOTIFY"))
		return false;
	notify_handler(arg, msg);
	return true;
}

int sipua_refer_listen(struct sipua *ua)
{
	return sip_listen(&ua->refer_lsnr, ua->sip, true, request_handler, ua);
}

/* ---- starting, ending, forgetting ------------------------------------- */

static int start(struct call *call, const char *to, const char *headers,
                 bool dialtone, uint32_t timeout_ms, const char **why)
{
	struct sipua_xfer *x;
	struct sip_dialog *dlg;
	const char *by;
	int err;

	if (call->ending || !call->sess) {
		*why = "the call is ending";
		return ENOENT;
	}
	if (!call->answer_ms || !call->acked) {
		*why = "the call is not established yet";
		return EAGAIN;
	}
	if (call->xfer && !call->xfer->told) {
		*why = "a transfer is already in progress";
		return EALREADY;
	}
	if (sipx_transfer_to_check(to, why))
		return EINVAL;
	x = mem_zalloc(sizeof(*x), xfer_destructor);
	if (!x)
		return ENOMEM;
	x->call = call;
	tmr_init(&x->wait_tmr);
	tmr_init(&x->done_tmr);
	x->timeout_ms = timeout_ms ? timeout_ms : SIPUA_TRANSFER_TIMEOUT_MS;
	x->start_ms = clock_mono_ms();
	x->dialtone = dialtone;
	snprintf(x->to, sizeof(x->to), "%s", to);
	dlg = sipsess_dialog(call->sess);
	x->cseq = sip_dialog_lseq(dlg);
	/* Referred-By: who the caller called, unless its Request-URI holds
	 * what would break the header's <>. */
	by = call->to[0] && !strpbrk(call->to, "<>\" \t") ? call->to
	                                                  : call->contact;
	err = sip_drequestf(&x->req, call->ua->sip, true, "REFER", dlg, 0, NULL,
	                    refer_send, refer_resp, x,
	                    "Refer-To: <%s>\r\n"
	                    "Referred-By: <%s>\r\n"
	                    "%s"
	                    "Content-Length: 0\r\n\r\n",
	                    x->to, by ? by : "sip:voxgate",
	                    headers ? headers : "");
	if (err) {
		*why = "the REFER could not be sent";
		mem_deref(x);
		return err;
	}
	/* An earlier transfer is over and told: it goes. */
	mem_deref(call->xfer);
	call->xfer = x;
	tmr_start(&x->wait_tmr, x->timeout_ms, wait_timeout, x);
	ringback(x, true);
	log_event(LOGL_INFO, call->id, "transfer_start",
	          "to=\"%s\" cseq=%u timeout_ms=%u dialtone=%s", x->to, x->cseq,
	          x->timeout_ms, dialtone ? "true" : "false");
	return 0;
}

static struct call *find_call(struct sipua *ua, const char *room,
                              const char *identity)
{
	for (struct le *le = list_head(&ua->calls); le; le = le->next) {
		struct call *call = le->data;

		if (call->participant && !strcmp(call->room, room) &&
		    !strcmp(call->identity, identity))
			return call;
	}
	return NULL;
}

int sipua_transfer(struct sipua *ua, const char *room, const char *identity,
                   const char *to, const char *headers, bool dialtone,
                   uint32_t timeout_ms, sipua_transfer_h *h, void *arg,
                   const char **why)
{
	const char *w = NULL;
	struct call *call;
	int err;

	if (!ua || !room || !identity || !h) {
		if (why)
			*why = "bad arguments";
		return EINVAL;
	}
	call = find_call(ua, room, identity);
	if (!call) {
		if (why)
			*why = "participant does not exist";
		return ENOENT;
	}
	err = start(call, to, headers, dialtone, timeout_ms, &w);
	if (err) {
		log_event(LOGL_WARN, call->id, "transfer_refused",
		          "to=\"%.512s\" reason=\"%s\"", to ? to : "", w);
		if (why)
			*why = w;
		return err;
	}
	call->xfer->h = h;
	call->xfer->arg = arg;
	return 0;
}

int sipua_agent_transfer(void *arg, const char *to, const char *reason,
                         void (*done)(void *darg, bool ok, bool final,
                                      const char *why),
                         void *darg)
{
	struct call *call = arg;
	const char *w = NULL;
	char tel[80];
	int err;

	if (!done || !to)
		return EINVAL;
	/* The worker's transfer_to may be a bare number. */
	if (to[0] && strlen(to) < sizeof(tel) - 4 &&
	    strspn(to, "0123456789+*#") == strlen(to)) {
		snprintf(tel, sizeof(tel), "tel:%s", to);
		to = tel;
	}
	err = start(call, to, NULL, false, 0, &w);
	if (err) {
		log_event(LOGL_WARN, call->id, "transfer_refused",
		          "to=\"%.512s\" reason=\"%s\" by=agent", to ? to : "",
		          w);
		return err;
	}
	log_event(LOGL_INFO, call->id, "transfer_agent", "why=\"%.160s\"",
	          reason ? reason : "");
	call->xfer->adone = done;
	call->xfer->darg = darg;
	return 0;
}

void sipua_agent_transfer_forget(void *arg, void *darg)
{
	struct call *call = arg;

	if (call->xfer && call->xfer->darg == darg) {
		call->xfer->adone = NULL;
		call->xfer->darg = NULL;
	}
}

void sipua_transfer_forget(struct sipua *ua, void *arg)
{
	if (!ua)
		return;
	for (struct le *le = list_head(&ua->calls); le; le = le->next) {
		struct call *call = le->data;

		if (call->xfer && call->xfer->h && call->xfer->arg == arg) {
			call->xfer->h = NULL;
			call->xfer->arg = NULL;
		}
	}
}

void sipua_refer_call_end(struct call *call)
{
	struct sipua_xfer *x = call->xfer;

	if (!x)
		return;
	if (!x->done) {
		x->done = true;
		x->err = ECONNRESET;
		snprintf(x->reason, sizeof(x->reason), "the call ended");
		tmr_cancel(&x->wait_tmr);
		ringback(x, false);
	}
	tell(x);
}
