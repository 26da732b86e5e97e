/*
 * The data channels of an association (sctp.h): DCEP's OPEN and ACK
 * (RFC 8832), the messages both ways, a stream's reset as a channel's
 * close. Apart from the association's life (sctp_assoc.c) and usrsctp's
 * process (sctp.c) because every byte here is the peer's, checked in one
 * place.
 */

#include "webrtc/sctp_int.h"

/* ---- channels ---- */

static struct chan *chan_find(const struct sctpx_assoc *a, uint16_t sid)
{
	for (unsigned i = 0; i < a->max_chan; i++) {
		if (a->chans[i].state != CHAN_FREE && a->chans[i].sid == sid)
			return &a->chans[i];
	}
	return NULL;
}

static struct chan *chan_slot(struct sctpx_assoc *a)
{
	for (unsigned i = 0; i < a->max_chan; i++) {
		if (a->chans[i].state == CHAN_FREE)
			return &a->chans[i];
	}
	return NULL;
}

static void chan_info(const struct chan *c, struct sctpx_chan *out)
{
	out->sid = c->sid;
	out->label = c->label;
	out->protocol = c->protocol;
	out->ordered = c->ordered;
	out->max_rtx = c->max_rtx;
	out->max_life_ms = c->max_life_ms;
	out->priority = c->priority;
}

static bool resetting(const struct sctpx_assoc *a, uint16_t sid)
{
	return sid < SCTPX_STREAMS &&
	       (a->resetting[sid / 8] & (1u << (sid % 8))) != 0;
}

static void set_resetting(struct sctpx_assoc *a, uint16_t sid, bool on)
{
	if (sid >= SCTPX_STREAMS)
		return;
	if (on)
		a->resetting[sid / 8] |= (uint8_t)(1u << (sid % 8));
	else
		a->resetting[sid / 8] &= (uint8_t) ~(1u << (sid % 8));
}

/* Resets our outgoing stream sid: how a channel is closed or refused.
 * usrsctp queues it until the stream's data has gone. */
static void reset_out(struct sctpx_assoc *a, uint16_t sid)
{
	/* One stream in the list that ends the struct. */
	union {
		struct sctp_reset_streams srs;
		uint8_t b[sizeof(struct sctp_reset_streams) + sizeof(uint16_t)];
	} r;

	if (a->state != SCTPX_STATE_UP || resetting(a, sid))
		return;
	memset(&r, 0, sizeof(r));
	r.srs.srs_flags = SCTP_STREAM_RESET_OUTGOING;
	r.srs.srs_number_streams = 1;
	r.srs.srs_stream_list[0] = sid;
	if (usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_RESET_STREAMS, &r,
	                       (socklen_t)sizeof(r)) == 0) {
		a->stats.resets_out++;
		set_resetting(a, sid, true);
	}
}

/* Every slot taken counts in chan_opened, every slot freed in
 * chan_closed. */
static void chan_free(struct sctpx_assoc *a, struct chan *c)
{
	memset(c, 0, sizeof(*c));
	a->nchan--;
	a->stats.chan_closed++;
}

/* The channel is gone for its user: the slot is free again. */
void sctp_chan_closed(struct sctpx_assoc *a, struct chan *c)
{
	uint16_t sid = c->sid;

	chan_free(a, c);
	log_event(LOGL_DEBUG, NULL, "sctp_channel_closed",
	          "assoc=\"%s\" sid=%u", a->label, sid);
	if (a->closeh)
		a->closeh(sid, a->arg);
}

/* ---- sending ---- */

static int send_msg(struct sctpx_assoc *a, uint16_t sid, uint32_t ppid,
                    bool unordered, int32_t max_rtx, int32_t max_life_ms,
                    const uint8_t *data, size_t len, const char **why)
{
	static const uint8_t zero;
	struct sctp_sendv_spa spa;
	ssize_t n;

	memset(&spa, 0, sizeof(spa));
	spa.sendv_flags = SCTP_SEND_SNDINFO_VALID | SCTP_SEND_PRINFO_VALID;
	spa.sendv_sndinfo.snd_sid = sid;
	spa.sendv_sndinfo.snd_ppid = htonl(ppid);
	spa.sendv_sndinfo.snd_flags =
	    SCTP_EOR | (unordered ? SCTP_UNORDERED : 0);
	if (max_rtx >= 0) {
		spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
		spa.sendv_prinfo.pr_value = (uint32_t)max_rtx;
	} else if (max_life_ms >= 0) {
		spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
		spa.sendv_prinfo.pr_value = (uint32_t)max_life_ms;
	} else {
		spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_NONE;
	}
	if (!len) {
		data = &zero;
		len = 1;
	}
	n = usrsctp_sendv(a->so, data, len, NULL, 0, &spa,
	                  (socklen_t)sizeof(spa), SCTP_SENDV_SPA, 0);
	if (n < 0) {
		int err = errno;

		if (err == EWOULDBLOCK || err == EAGAIN) {
			a->stats.send_blocked++;
			a->tx_blocked = true;
			*why = "the send buffer is full";
			return EAGAIN;
		}
		if (err == EMSGSIZE) {
			*why = "the message is larger than the send buffer";
			return EMSGSIZE;
		}
		*why = "usrsctp refused the message";
		return err ? err : EIO;
	}
	if ((size_t)n != len) {
		/* Not in explicit EOR mode, a message is taken whole or not
		 * at all; a short count would have cut it. */
		*why = "usrsctp took part of the message";
		return EIO;
	}
	return 0;
}

static int send_dcep_ack(struct sctpx_assoc *a, uint16_t sid)
{
	const uint8_t ack = DCEP_ACK;
	const char *why = NULL;

	return send_msg(a, sid, SCTPX_PPID_DCEP, false, -1, -1, &ack, 1, &why);
}

/* ---- what the peer sends ---- */

void sctp_log_once(struct sctpx_assoc *a, unsigned kind, const char *event,
                   uint16_t sid, const char *reason)
{
	if (a->logged & kind)
		return;
	a->logged |= kind;
	log_event(LOGL_WARN, NULL, event,
	          "assoc=\"%s\" sid=%u reason=\"%s\" note=\"logged once; "
	          "counted after\"",
	          a->label, sid, reason);
}

static void refuse_open(struct sctpx_assoc *a, uint16_t sid, const char *reason)
{
	a->stats.chan_refused++;
	sctp_log_once(a, LOGGED_REFUSED, "sctp_channel_refused", sid, reason);
	reset_out(a, sid);
}

static void dcep_open(struct sctpx_assoc *a, uint16_t sid, const uint8_t *b,
                      size_t len)
{
	uint8_t type, rtype;
	uint32_t rel;
	size_t ll, pl;
	struct chan *c;
	struct sctpx_chan info;
	char q[2 * SCTPX_LABEL_MAX + 8];
	bool accepted;

	if (len < DCEP_OPEN_HDR) {
		a->stats.dcep_bad++;
		sctp_log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
		              "DATA_CHANNEL_OPEN shorter than its header");
		refuse_open(a, sid, "malformed DATA_CHANNEL_OPEN");
		return;
	}
	type = b[1];
	rel = get_be32(b + 4);
	ll = get_be16(b + 8);
	pl = get_be16(b + 10);
	rtype = type & (uint8_t)~DCEP_UNORDERED;
	if (DCEP_OPEN_HDR + ll + pl != len) {
		a->stats.dcep_bad++;
		sctp_log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
		              "DATA_CHANNEL_OPEN lengths do not add up");
		refuse_open(a, sid, "malformed DATA_CHANNEL_OPEN");
		return;
	}
	if ((type & ~(DCEP_UNORDERED | 0x03)) != 0 || rtype > DCEP_TIMED) {
		refuse_open(a, sid, "unknown channel type");
		return;
	}
	if (ll > SCTPX_LABEL_MAX || pl > SCTPX_PROTOCOL_MAX) {
		refuse_open(a, sid, "label or protocol too long");
		return;
	}
	if (memchr(b + DCEP_OPEN_HDR, '\0', ll + pl) ||
	    !utf8_valid((const char *)b + DCEP_OPEN_HDR, ll) ||
	    !utf8_valid((const char *)b + DCEP_OPEN_HDR + ll, pl)) {
		refuse_open(a, sid, "label or protocol not UTF-8 text");
		return;
	}
	/* RFC 8832 6: the DTLS client's channels are even, the server's
	 * odd; the peer opens those of its own role. */
	if ((sid % 2 == 0) != !a->dtls_client) {
		refuse_open(a, sid, "stream id of our parity");
		return;
	}
	c = chan_find(a, sid);
	if (c) {
		/* A repeated OPEN: it changes nothing. */
		a->stats.dcep_bad++;
		sctp_log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
		              "DATA_CHANNEL_OPEN on a stream already in use");
		return;
	}
	if (resetting(a, sid)) {
		refuse_open(a, sid, "stream still being reset");
		return;
	}
	c = a->nchan < a->max_chan ? chan_slot(a) : NULL;
	if (!c) {
		refuse_open(a, sid, "too many channels");
		return;
	}
	memset(c, 0, sizeof(*c));
	c->state = CHAN_OPEN;
	c->sid = sid;
	c->local = false;
	c->acked = true;
	c->ordered = !(type & DCEP_UNORDERED);
	c->max_rtx = rtype == DCEP_REXMIT
	                 ? (int32_t)(rel > INT32_MAX ? INT32_MAX : rel)
	                 : -1;
	c->max_life_ms = rtype == DCEP_TIMED
	                     ? (int32_t)(rel > INT32_MAX ? INT32_MAX : rel)
	                     : -1;
	c->priority = get_be16(b + 2);
	memcpy(c->label, b + DCEP_OPEN_HDR, ll);
	c->label[ll] = '\0';
	memcpy(c->protocol, b + DCEP_OPEN_HDR + ll, pl);
	c->protocol[pl] = '\0';
	a->nchan++;
	a->stats.chan_opened++;
	chan_info(c, &info);
	accepted = !a->openh || a->openh(&info, a->arg);
	/* The handler may have closed it, or the association. */
	c = chan_find(a, sid);
	if (!accepted) {
		if (c)
			chan_free(a, c);
		refuse_open(a, sid, "refused by its user");
		return;
	}
	if (!c || c->state != CHAN_OPEN || a->state != SCTPX_STATE_UP)
		return;
	log_event(LOGL_DEBUG, NULL, "sctp_channel_open",
	          "assoc=\"%s\" sid=%u by=peer label=\"%s\" ordered=%d "
	          "max_rtx=%d max_life_ms=%d",
	          a->label, sid, log_quote(q, sizeof(q), c->label), c->ordered,
	          (int)c->max_rtx, (int)c->max_life_ms);
	if (send_dcep_ack(a, sid) != 0)
		log_event(LOGL_WARN, NULL, "sctp_dcep_ack_unsent",
		          "assoc=\"%s\" sid=%u", a->label, sid);
}

static void dcep(struct sctpx_assoc *a, uint16_t sid, const uint8_t *b,
                 size_t len)
{
	struct chan *c;

	if (!len) {
		a->stats.dcep_bad++;
		sctp_log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
		              "empty DCEP message");
		return;
	}
	switch (b[0]) {
	case DCEP_OPEN:
		dcep_open(a, sid, b, len);
		return;
	case DCEP_ACK:
		c = chan_find(a, sid);
		if (!c || !c->local || c->acked || len != 1) {
			a->stats.dcep_bad++;
			sctp_log_once(
			    a, LOGGED_DCEP, "sctp_dcep_bad", sid,
			    "DATA_CHANNEL_ACK unexpected or malformed");
			return;
		}
		c->acked = true;
		return;
	default:
		a->stats.dcep_bad++;
		sctp_log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
		              "unknown DCEP message type");
		return;
	}
}

void sctp_message(struct sctpx_assoc *a, uint16_t sid, uint32_t ppid,
                  const uint8_t *data, size_t len)
{
	struct chan *c;

	if (ppid == SCTPX_PPID_DCEP) {
		dcep(a, sid, data, len);
		return;
	}
	if (ppid != SCTPX_PPID_STRING && ppid != SCTPX_PPID_BINARY &&
	    ppid != SCTPX_PPID_STRING_EMPTY &&
	    ppid != SCTPX_PPID_BINARY_EMPTY) {
		/* Among them 52 and 54, the "partial" PPIDs RFC 8831 6.6
		 * deprecates, which no current stack sends. */
		a->stats.msg_bad_ppid++;
		sctp_log_once(a, LOGGED_PPID, "sctp_message_dropped", sid,
		              "unknown or deprecated PPID");
		return;
	}
	c = chan_find(a, sid);
	if (!c || c->state != CHAN_OPEN) {
		a->stats.msg_no_chan++;
		sctp_log_once(a, LOGGED_NO_CHAN, "sctp_message_dropped", sid,
		              "no open channel on the stream");
		return;
	}
	/* RFC 8832 6: a message before the ACK acknowledges the OPEN. */
	c->acked = true;
	if (ppid == SCTPX_PPID_STRING_EMPTY || ppid == SCTPX_PPID_BINARY_EMPTY)
		len = 0;
	a->stats.msg_rx++;
	a->stats.msg_rx_bytes += len;
	if (a->messageh)
		a->messageh(sid, (enum sctpx_ppid)ppid, len ? data : NULL, len,
		            a->arg);
}

void sctp_stream_reset(struct sctpx_assoc *a,
                       const struct sctp_stream_reset_event *ev, size_t len)
{
	bool ours, theirs;
	size_t n;

	if (ev->strreset_length > len || ev->strreset_length < sizeof(*ev))
		return;
	n = (ev->strreset_length - sizeof(*ev)) / sizeof(uint16_t);
	/* Our outgoing streams reset (or never to be): our requests are
	 * done. The incoming ones: the peer closed its side. */
	ours = ev->strreset_flags &
	       (SCTP_STREAM_RESET_OUTGOING_SSN | SCTP_STREAM_RESET_DENIED |
	        SCTP_STREAM_RESET_FAILED);
	theirs = (ev->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) &&
	         !(ev->strreset_flags &
	           (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED));
	for (size_t i = 0; i < n; i++) {
		uint16_t sid = ev->strreset_stream_list[i];
		struct chan *c;

		if (ours)
			set_resetting(a, sid, false);
		if (!theirs)
			continue;
		a->stats.resets_in++;
		c = chan_find(a, sid);
		if (!c)
			continue;
		/* RFC 8831 6.7: the peer closed the channel; close our
		 * side too. */
		if (c->state == CHAN_OPEN)
			reset_out(a, sid);
		sctp_chan_closed(a, c);
		if (a->state != SCTPX_STATE_UP)
			return;
	}
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	return n <= max && (!n || utf8_valid(s, n));
}

int sctpx_open_channel(struct sctpx_assoc *a, const struct sctpx_chan *prm,
                       uint16_t *sidp, const char **why)
{
	uint8_t msg[DCEP_OPEN_HDR + SCTPX_LABEL_MAX + SCTPX_PROTOCOL_MAX];
	const char *w = NULL;
	size_t ll, pl;
	struct chan *c;
	uint32_t rel = 0;
	uint8_t type;
	uint16_t sid;
	char q[2 * SCTPX_LABEL_MAX + 8];
	int err;

	if (!why)
		why = &w;
	err = sctp_check(a, why);
	if (err)
		return err;
	if (!prm || !text_ok(prm->label, SCTPX_LABEL_MAX) ||
	    !text_ok(prm->protocol, SCTPX_PROTOCOL_MAX) ||
	    (prm->max_rtx >= 0 && prm->max_life_ms >= 0) || prm->max_rtx < -1 ||
	    prm->max_life_ms < -1) {
		*why = "label or protocol too long or not UTF-8, or both "
		       "max_rtx and max_life_ms given";
		return EINVAL;
	}
	if (a->state != SCTPX_STATE_UP || a->shutting) {
		*why = "the association is not up";
		return ENOTCONN;
	}
	if (a->nchan >= a->max_chan || !(c = chan_slot(a))) {
		*why = "as many channels as allowed are open";
		return ENOSPC;
	}
	for (sid = a->dtls_client ? 0 : 1; sid < a->streams; sid += 2) {
		if (!chan_find(a, sid) && !resetting(a, sid))
			break;
	}
	if (sid >= a->streams) {
		*why = "no free stream id";
		return ENOSPC;
	}
	ll = prm->label ? strlen(prm->label) : 0;
	pl = prm->protocol ? strlen(prm->protocol) : 0;
	type = prm->ordered ? 0 : DCEP_UNORDERED;
	if (prm->max_rtx >= 0) {
		type |= DCEP_REXMIT;
		rel = (uint32_t)prm->max_rtx;
	} else if (prm->max_life_ms >= 0) {
		type |= DCEP_TIMED;
		rel = (uint32_t)prm->max_life_ms;
	}
	msg[0] = DCEP_OPEN;
	msg[1] = type;
	msg[2] = (uint8_t)(prm->priority >> 8);
	msg[3] = (uint8_t)prm->priority;
	msg[4] = (uint8_t)(rel >> 24);
	msg[5] = (uint8_t)(rel >> 16);
	msg[6] = (uint8_t)(rel >> 8);
	msg[7] = (uint8_t)rel;
	msg[8] = (uint8_t)(ll >> 8);
	msg[9] = (uint8_t)ll;
	msg[10] = (uint8_t)(pl >> 8);
	msg[11] = (uint8_t)pl;
	if (ll)
		memcpy(msg + DCEP_OPEN_HDR, prm->label, ll);
	if (pl)
		memcpy(msg + DCEP_OPEN_HDR + ll, prm->protocol, pl);
	/* The OPEN goes ordered and reliable whatever the channel is, so
	 * it arrives before the channel's first message (RFC 8832 6). */
	err = send_msg(a, sid, SCTPX_PPID_DCEP, false, -1, -1, msg,
	               DCEP_OPEN_HDR + ll + pl, why);
	if (!err) {
		memset(c, 0, sizeof(*c));
		c->state = CHAN_OPEN;
		c->sid = sid;
		c->local = true;
		c->acked = false;
		c->ordered = prm->ordered;
		c->max_rtx = prm->max_rtx;
		c->max_life_ms = prm->max_life_ms;
		c->priority = prm->priority;
		memcpy(c->label, msg + DCEP_OPEN_HDR, ll);
		memcpy(c->protocol, msg + DCEP_OPEN_HDR + ll, pl);
		a->nchan++;
		a->stats.chan_opened++;
		if (sidp)
			*sidp = sid;
		log_event(LOGL_DEBUG, NULL, "sctp_channel_open",
		          "assoc=\"%s\" sid=%u by=us label=\"%s\" ordered=%d "
		          "max_rtx=%d max_life_ms=%d",
		          a->label, sid, log_quote(q, sizeof(q), c->label),
		          c->ordered, (int)c->max_rtx, (int)c->max_life_ms);
	}
	sctp_drain_pending();
	return err;
}

int sctpx_send(struct sctpx_assoc *a, uint16_t sid, enum sctpx_ppid ppid,
               const uint8_t *data, size_t len, const char **why)
{
	const char *w = NULL;
	struct chan *c;
	uint32_t p = ppid;
	int err;

	if (!why)
		why = &w;
	err = sctp_check(a, why);
	if (err)
		return err;
	if (!data && len) {
		*why = "no data";
		return EINVAL;
	}
	if (p == SCTPX_PPID_STRING_EMPTY || p == SCTPX_PPID_BINARY_EMPTY) {
		if (len) {
			*why = "an empty-message PPID with data";
			return EINVAL;
		}
	} else if (p == SCTPX_PPID_STRING || p == SCTPX_PPID_BINARY) {
		if (!len)
			p = p == SCTPX_PPID_STRING ? SCTPX_PPID_STRING_EMPTY
			                           : SCTPX_PPID_BINARY_EMPTY;
	} else {
		*why = "PPID is neither string nor binary";
		return EINVAL;
	}
	if (a->state != SCTPX_STATE_UP || a->shutting) {
		*why = "the association is not up";
		return ENOTCONN;
	}
	c = chan_find(a, sid);
	if (!c || c->state != CHAN_OPEN) {
		*why = "no open channel on the stream";
		return ENOENT;
	}
	if (len > a->send_max) {
		*why = "the message is larger than the peer takes";
		return EMSGSIZE;
	}
	/* Unordered only once the peer has the OPEN (RFC 8832 6). */
	err = send_msg(a, sid, p, !c->ordered && c->acked, c->max_rtx,
	               c->max_life_ms, data, len, why);
	if (!err) {
		a->stats.msg_tx++;
		a->stats.msg_tx_bytes += len;
	}
	sctp_drain_pending();
	return err;
}

int sctpx_send_raw(struct sctpx_assoc *a, uint16_t sid, uint32_t ppid,
                   bool ordered, const uint8_t *data, size_t len,
                   const char **why)
{
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	err = sctp_check(a, why);
	if (err)
		return err;
	if ((!data && len) || sid >= SCTPX_STREAMS ||
	    len > SCTPX_MAX_MESSAGE_LIMIT) {
		*why = "no data, stream id or length out of range";
		return EINVAL;
	}
	if (a->state != SCTPX_STATE_UP) {
		*why = "the association is not up";
		return ENOTCONN;
	}
	err = send_msg(a, sid, ppid, !ordered, -1, -1, data, len, why);
	sctp_drain_pending();
	return err;
}

int sctpx_close_channel(struct sctpx_assoc *a, uint16_t sid, const char **why)
{
	const char *w = NULL;
	struct chan *c;
	int err;

	if (!why)
		why = &w;
	err = sctp_check(a, why);
	if (err)
		return err;
	c = chan_find(a, sid);
	if (!c) {
		*why = "no channel on the stream";
		return ENOENT;
	}
	if (c->state == CHAN_CLOSING) {
		*why = "the channel is closing";
		return EALREADY;
	}
	c->state = CHAN_CLOSING;
	reset_out(a, sid);
	sctp_drain_pending();
	return 0;
}

int sctpx_channel(const struct sctpx_assoc *a, uint16_t sid,
                  struct sctpx_chan *chan, bool *acked, bool *closing)
{
	const struct chan *c = a ? chan_find(a, sid) : NULL;

	if (!c)
		return ENOENT;
	if (chan)
		chan_info(c, chan);
	if (acked)
		*acked = c->acked;
	if (closing)
		*closing = c->state == CHAN_CLOSING;
	return 0;
}

unsigned sctpx_channels(const struct sctpx_assoc *a)
{
	return a ? a->nchan : 0;
}
