/*
 * WebRTC data channels on usrsctp (sctp.h).
 *
 * DESIGN. Each association is a one-to-one usrsctp socket of family
 * AF_CONN, bound and connected to the same "address": the association's
 * id, a number that is never reused. usrsctp hands every packet it sends
 * to conn_output with that address, which finds the association by id (a
 * socket already closed may still send, sctplab/usrsctp#405: its id is
 * not found any more and the packet is dropped).
 *
 * Nothing is read from inside usrsctp. The socket has no receive callback
 * (usrsctp would call it with its locks held, sometimes the endpoint's
 * read lock, which its own send path takes again); its upcall only puts
 * the association on a pending list. Every sctpx_* call that enters
 * usrsctp drains that list once usrsctp has returned: usrsctp_recvv in a
 * loop into the association's own buffer, until nothing is left. So the
 * handlers run outside usrsctp and may call back in; the pending list is
 * drained once, by the outermost call.
 *
 * Messages are read whole into a buffer that starts at RX_INITIAL bytes
 * and grows, for a larger message, up to max_message_size + 1: a
 * message that fills that is too big, and the rest of it is read and
 * thrown away. Fragment interleave is off (level 0), so the pieces of one
 * message come one after another; usrsctp may still slip a notification
 * in between (libdatachannel saw it above 64 KiB), so a notification is
 * copied out of the buffer as it arrives and the message goes on.
 *
 * This file is usrsctp's process-wide side (its one owning thread, its
 * timers, the packets it sends) and the reads that drain an association;
 * an association's life is sctp_assoc.c, the channels, DCEP and their
 * messages sctp_chan.c, apart because each is a thing of its own that
 * together made 1621 lines (sctp_int.h is what they share).
 */

#include "webrtc/sctp_int.h"

struct sctp_proc sctp_g;

/* ---- the process ---- */

bool sctp_on_owner(void)
{
	return sctp_g.init && pthread_equal(pthread_self(), sctp_g.owner);
}

static bool id_cmp(struct le *le, void *arg)
{
	const struct sctpx_assoc *a = le->data;

	return a->id == *(const uint32_t *)arg;
}

struct sctpx_assoc *sctp_find(void *addr)
{
	uint32_t id = (uint32_t)(uintptr_t)addr;
	struct le *le;

	if (!sctp_g.assocs || (uintptr_t)addr > UINT32_MAX)
		return NULL;
	le = hash_lookup(sctp_g.assocs, id, id_cmp, &id);
	return le ? le->data : NULL;
}

void *sctp_id_addr(const struct sctpx_assoc *a)
{
	return (void *)(uintptr_t)a->id;
}

static int conn_output(void *addr, void *buf, size_t len, uint8_t tos,
                       uint8_t set_df)
{
	struct sctpx_assoc *a;

	(void)tos;
	(void)set_df;
	/* The iterator thread only ever works on endpoints bound to all
	 * addresses, which ours are not; if that changed, refuse rather
	 * than race. */
	if (!sctp_on_owner()) {
		sctp_g.stray_output++;
		return -1;
	}
	a = sctp_find(addr);
	if (!a || a->silent) {
		sctp_g.stray_output++;
		return -1;
	}
	a->stats.tx_packets++;
	a->stats.tx_bytes += len;
	if (a->sendh(buf, len, a->arg) != 0) {
		a->stats.tx_failed++;
		return -1;
	}
	return 0;
}

void sctp_upcall(struct socket *so, void *arg, int flags)
{
	struct sctpx_assoc *a;

	(void)so;
	(void)flags;
	if (!sctp_on_owner())
		return;
	a = sctp_find(arg);
	if (a && !a->pe.list)
		list_append(&sctp_g.pending, &a->pe, a);
}

static void lib_printf(const char *fmt, ...)
{
	char line[256], q[300];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_event(LOGL_DEBUG, NULL, "sctp_usrsctp", "msg=\"%s\"",
	          log_quote(q, sizeof(q), line));
}

int sctp_lib_init(const char **why)
{
	if (sctp_g.init) {
		if (!sctp_on_owner()) {
			*why = "SCTP associations belong to another thread";
			return EPERM;
		}
		return 0;
	}
	sctp_g.owner = pthread_self();
	sctp_g.init = true;
	sctp_g.next_id = 1;
	list_init(&sctp_g.pending);
	usrsctp_init_nothreads(0, conn_output, lib_printf);
	/* No ECN over DTLS; ASCONF and AUTH are unused by WebRTC and only
	 * widen what a peer can reach (libwebrtc turned them off too). */
	usrsctp_sysctl_set_sctp_ecn_enable(0);
	usrsctp_sysctl_set_sctp_asconf_enable(0);
	usrsctp_sysctl_set_sctp_auth_enable(0);
	usrsctp_sysctl_set_sctp_pr_enable(1);       /* _lossy: RFC 3758 */
	usrsctp_sysctl_set_sctp_reconfig_enable(1); /* closing: RFC 6525 */
	usrsctp_sysctl_set_sctp_rto_initial_default(RTO_INITIAL_MS);
	usrsctp_sysctl_set_sctp_rto_min_default(RTO_MIN_MS);
	usrsctp_sysctl_set_sctp_rto_max_default(RTO_MAX_MS);
	usrsctp_sysctl_set_sctp_init_rto_max_default(RTO_MAX_MS);
	usrsctp_sysctl_set_sctp_init_rtx_max_default(INIT_RTX_MAX);
	usrsctp_sysctl_set_sctp_assoc_rtx_max_default(ASSOC_RTX_MAX);
	usrsctp_sysctl_set_sctp_path_rtx_max_default(PATH_RTX_MAX);
	usrsctp_sysctl_set_sctp_delayed_sack_time_default(SACK_DELAY_MS);
	usrsctp_sysctl_set_sctp_initial_cwnd(INITIAL_CWND);
	usrsctp_sysctl_set_sctp_max_burst_default(MAX_BURST);
	return 0;
}

unsigned sctpx_count(void)
{
	return sctp_g.count;
}

void sctpx_lib_stats(struct sctpx_lib_stats *st)
{
	struct sctpstat s;

	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	st->stray_output = sctp_g.stray_output;
	if (!sctp_g.init)
		return;
	memset(&s, 0, sizeof(s));
	usrsctp_get_stat(&s);
	st->in_packets = s.sctps_recvpackets;
	st->bad_checksum = s.sctps_badsum;
	st->bad_vtag = s.sctps_badvtag;
	st->out_of_the_blue = s.sctps_outoftheblue;
}

void sctpx_timers(uint32_t elapsed_ms)
{
	if (!sctp_g.init)
		return;
	if (!sctp_on_owner()) {
		log_event(LOGL_ERROR, NULL, "sctp_wrong_thread",
		          "call=sctpx_timers");
		return;
	}
	usrsctp_handle_timers(elapsed_ms);
	sctp_drain_pending();
}

/* ---- names ---- */

const char *sctpx_state_name(enum sctpx_state state)
{
	switch (state) {
	case SCTPX_STATE_NEW:
		return "new";
	case SCTPX_STATE_CONNECTING:
		return "connecting";
	case SCTPX_STATE_UP:
		return "up";
	case SCTPX_STATE_CLOSED:
		return "closed";
	case SCTPX_STATE_FAILED:
		return "failed";
	}
	return "?";
}

/* ---- reading ---- */

static void too_big(struct sctpx_assoc *a, const char *reason)
{
	a->stats.msg_too_big++;
	sctp_log_once(a, LOGGED_TOO_BIG, "sctp_message_dropped", a->rx_sid,
	              reason);
}

/* Room for the next read: grows the buffer, or starts throwing away a
 * message that is too big. */
static void rx_room(struct sctpx_assoc *a)
{
	size_t limit = (size_t)a->max_msg + 1, cap;
	uint8_t *rx;

	if (a->rx_len < a->rx_cap)
		return;
	if (a->rx_cap < limit) {
		cap = a->rx_cap * 2 < limit ? a->rx_cap * 2 : limit;
		rx = mem_realloc(a->rx, cap);
		if (rx) {
			a->rx = rx;
			a->rx_cap = cap;
			a->stats.rx_buf_grown++;
			return;
		}
	}
	too_big(a, a->rx_cap < limit ? "no memory for the message"
	                             : "message larger than max_message_size");
	a->rx_len = 0;
	a->rx_discard = true;
}

/* Whether the association's user let go of it from a handler: it is then
 * freed as soon as this file is done with it. */
static bool let_go(const struct sctpx_assoc *a)
{
	return mem_nrefs(a) <= 1;
}

static void writable_check(struct sctpx_assoc *a)
{
	if (!a->tx_blocked || a->state != SCTPX_STATE_UP)
		return;
	if (!(usrsctp_get_events(a->so) & SCTP_EVENT_WRITE))
		return;
	a->tx_blocked = false;
	if (a->writableh)
		a->writableh(a->arg);
}

/* Reads everything usrsctp holds for the association. */
static void drain(struct sctpx_assoc *a)
{
	if (a->draining || !a->so)
		return;
	a->draining = true;
	for (unsigned i = 0; i < DRAIN_MAX && !let_go(a); i++) {
		struct sctp_rcvinfo info;
		socklen_t infolen = sizeof(info), fromlen = 0;
		unsigned int infotype = 0;
		int flags = 0;
		uint8_t *dst;
		ssize_t n;

		rx_room(a);
		dst = a->rx + a->rx_len;
		memset(&info, 0, sizeof(info));
		n = usrsctp_recvv(a->so, dst, a->rx_cap - a->rx_len, NULL,
		                  &fromlen, &info, &infolen, &infotype, &flags);
		if (n < 0) {
			int err = errno;

			if (err != EAGAIN && err != EWOULDBLOCK &&
			    err != ENOTCONN && a->state == SCTPX_STATE_UP)
				sctp_end(a, SCTPX_STATE_FAILED,
				         "the association was reset");
			break;
		}
		if (n == 0 && !(flags & (MSG_NOTIFICATION | MSG_EOR)))
			break; /* the peer shut down */
		if (flags & MSG_NOTIFICATION) {
			if (a->notif_len + (size_t)n > sizeof(a->notif))
				a->notif_discard = true;
			else
				memcpy(a->notif + a->notif_len, dst, (size_t)n);
			a->notif_len += a->notif_discard ? 0 : (size_t)n;
			if (flags & MSG_EOR) {
				if (!a->notif_discard)
					sctp_notification(a);
				a->notif_len = 0;
				a->notif_discard = false;
			}
			continue;
		}
		if (!a->rx_len && !a->rx_discard) {
			a->rx_sid = info.rcv_sid;
			a->rx_ppid = ntohl(info.rcv_ppid);
			if (infotype != SCTP_RECVV_RCVINFO)
				a->rx_ppid = 0; /* unknown: dropped below */
		}
		if (!a->rx_discard)
			a->rx_len += (size_t)n;
		if (!(flags & MSG_EOR))
			continue;
		if (a->rx_discard || a->rx_len > a->max_msg) {
			/* The buffer holds one byte more than the limit so
			 * that a message one byte too long is seen whole. */
			if (!a->rx_discard)
				too_big(a, "message larger than "
				           "max_message_size");
		} else {
			size_t len = a->rx_len;

			a->rx_len = 0;
			sctp_message(a, a->rx_sid, a->rx_ppid, a->rx, len);
		}
		a->rx_len = 0;
		a->rx_discard = false;
	}
	a->draining = false;
	if (!let_go(a))
		writable_check(a);
}

void sctp_drain_pending(void)
{
	struct le *le;

	if (sctp_g.draining)
		return;
	sctp_g.draining = true;
	while ((le = list_head(&sctp_g.pending))) {
		struct sctpx_assoc *a = le->data;

		list_unlink(le);
		mem_ref(a);
		drain(a);
		mem_deref(a);
	}
	sctp_g.draining = false;
}
