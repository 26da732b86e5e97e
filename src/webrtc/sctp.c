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
 */
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
	struct le he; /* in g.assocs, by id */
	struct le pe; /* in g.pending while there may be events to read */
	uint32_t id;
	struct socket *so;
	enum sctpx_state state;
	const char *why;
	bool dtls_client;
	bool draining;
	bool tx_blocked;
	bool shutting;
	bool silent;  /* being freed: nothing goes out any more */
	bool counted; /* in g.assocs, its address registered */
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
static struct {
	bool init;
	pthread_t owner;
	struct hash *assocs;
	struct list pending;
	uint32_t next_id;
	unsigned count;
	bool draining;
	uint64_t stray_output;
} g;

static void drain_pending(void);

/* ---- the process ---- */

static bool on_owner(void)
{
	return g.init && pthread_equal(pthread_self(), g.owner);
}

static bool id_cmp(struct le *le, void *arg)
{
	const struct sctpx_assoc *a = le->data;

	return a->id == *(const uint32_t *)arg;
}

static struct sctpx_assoc *find(void *addr)
{
	uint32_t id = (uint32_t)(uintptr_t)addr;
	struct le *le;

	if (!g.assocs || (uintptr_t)addr > UINT32_MAX)
		return NULL;
	le = hash_lookup(g.assocs, id, id_cmp, &id);
	return le ? le->data : NULL;
}

static void *id_addr(const struct sctpx_assoc *a)
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
	if (!on_owner()) {
		g.stray_output++;
		return -1;
	}
	a = find(addr);
	if (!a || a->silent) {
		g.stray_output++;
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

static void upcall(struct socket *so, void *arg, int flags)
{
	struct sctpx_assoc *a;

	(void)so;
	(void)flags;
	if (!on_owner())
		return;
	a = find(arg);
	if (a && !a->pe.list)
		list_append(&g.pending, &a->pe, a);
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

static int lib_init(const char **why)
{
	if (g.init) {
		if (!on_owner()) {
			*why = "SCTP associations belong to another thread";
			return EPERM;
		}
		return 0;
	}
	g.owner = pthread_self();
	g.init = true;
	g.next_id = 1;
	list_init(&g.pending);
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
	return g.count;
}

void sctpx_lib_stats(struct sctpx_lib_stats *st)
{
	struct sctpstat s;

	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	st->stray_output = g.stray_output;
	if (!g.init)
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
	if (!g.init)
		return;
	if (!on_owner()) {
		log_event(LOGL_ERROR, NULL, "sctp_wrong_thread",
		          "call=sctpx_timers");
		return;
	}
	usrsctp_handle_timers(elapsed_ms);
	drain_pending();
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
static void chan_closed(struct sctpx_assoc *a, struct chan *c)
{
	uint16_t sid = c->sid;

	chan_free(a, c);
	log_event(LOGL_DEBUG, NULL, "sctp_channel_closed",
	          "assoc=\"%s\" sid=%u", a->label, sid);
	if (a->closeh)
		a->closeh(sid, a->arg);
}

/* ---- the association's end ---- */

static void end(struct sctpx_assoc *a, enum sctpx_state state, const char *why)
{
	if (a->state == SCTPX_STATE_CLOSED || a->state == SCTPX_STATE_FAILED)
		return;
	a->state = state;
	a->why = why;
	log_event(state == SCTPX_STATE_FAILED ? LOGL_WARN : LOGL_DEBUG, NULL,
	          state == SCTPX_STATE_FAILED ? "sctp_failed" : "sctp_closed",
	          "assoc=\"%s\" reason=\"%s\" channels=%u", a->label,
	          why ? why : "", a->nchan);
	for (unsigned i = 0; i < a->max_chan; i++) {
		if (a->chans[i].state != CHAN_FREE)
			chan_closed(a, &a->chans[i]);
	}
	if (a->stateh)
		a->stateh(state, why, a->arg);
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

static void log_once(struct sctpx_assoc *a, unsigned kind, const char *event,
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
	log_once(a, LOGGED_REFUSED, "sctp_channel_refused", sid, reason);
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
		log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
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
		log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
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
		log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
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
		log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
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
			log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
			         "DATA_CHANNEL_ACK unexpected or malformed");
			return;
		}
		c->acked = true;
		return;
	default:
		a->stats.dcep_bad++;
		log_once(a, LOGGED_DCEP, "sctp_dcep_bad", sid,
		         "unknown DCEP message type");
		return;
	}
}

static void message(struct sctpx_assoc *a, uint16_t sid, uint32_t ppid,
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
		log_once(a, LOGGED_PPID, "sctp_message_dropped", sid,
		         "unknown or deprecated PPID");
		return;
	}
	c = chan_find(a, sid);
	if (!c || c->state != CHAN_OPEN) {
		a->stats.msg_no_chan++;
		log_once(a, LOGGED_NO_CHAN, "sctp_message_dropped", sid,
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

static void assoc_change(struct sctpx_assoc *a,
                         const struct sctp_assoc_change *sac)
{
	switch (sac->sac_state) {
	case SCTP_COMM_UP:
		if (a->state != SCTPX_STATE_CONNECTING)
			return;
		a->streams =
		    sac->sac_inbound_streams < sac->sac_outbound_streams
		        ? sac->sac_inbound_streams
		        : sac->sac_outbound_streams;
		if (a->streams > SCTPX_STREAMS)
			a->streams = SCTPX_STREAMS;
		a->state = SCTPX_STATE_UP;
		a->stats.setup_us = clock_mono_us() - a->start_us;
		log_event(
		    LOGL_DEBUG, NULL, "sctp_up",
		    "assoc=\"%s\" streams_in=%u streams_out=%u setup_ms=%llu",
		    a->label, sac->sac_inbound_streams,
		    sac->sac_outbound_streams,
		    (unsigned long long)(a->stats.setup_us / 1000u));
		if (a->stateh)
			a->stateh(SCTPX_STATE_UP, NULL, a->arg);
		return;
	case SCTP_RESTART:
		/* The peer started over on the same ports: its streams
		 * start over too, so the channels cannot go on. */
		log_event(LOGL_INFO, NULL, "sctp_restart", "assoc=\"%s\"",
		          a->label);
		a->streams =
		    sac->sac_inbound_streams < sac->sac_outbound_streams
		        ? sac->sac_inbound_streams
		        : sac->sac_outbound_streams;
		if (a->streams > SCTPX_STREAMS)
			a->streams = SCTPX_STREAMS;
		for (unsigned i = 0; i < a->max_chan; i++) {
			if (a->chans[i].state != CHAN_FREE)
				chan_closed(a, &a->chans[i]);
		}
		memset(a->resetting, 0, sizeof(a->resetting));
		return;
	case SCTP_COMM_LOST:
		/* sac_error: the cause code of the peer's ABORT, or 0 when
		 * retransmissions ran out. */
		log_event(LOGL_INFO, NULL, "sctp_comm_lost",
		          "assoc=\"%s\" error=%u", a->label, sac->sac_error);
		end(a, SCTPX_STATE_FAILED,
		    a->state == SCTPX_STATE_UP
		        ? "the association was aborted or lost"
		        : "the association could not be set up");
		return;
	case SCTP_CANT_STR_ASSOC:
		end(a, SCTPX_STATE_FAILED,
		    "the association could not be set up");
		return;
	case SCTP_SHUTDOWN_COMP:
		end(a, SCTPX_STATE_CLOSED, "shut down");
		return;
	default:
		return;
	}
}

static void stream_reset(struct sctpx_assoc *a,
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
		chan_closed(a, c);
		if (a->state != SCTPX_STATE_UP)
			return;
	}
}

static void notification(struct sctpx_assoc *a)
{
	const union sctp_notification *n = (const void *)a->notif;
	size_t len = a->notif_len;

	a->stats.notifications++;
	if (len < sizeof(n->sn_header) || n->sn_header.sn_length != len)
		return;
	switch (n->sn_header.sn_type) {
	case SCTP_ASSOC_CHANGE:
		if (len >= sizeof(n->sn_assoc_change))
			assoc_change(a, &n->sn_assoc_change);
		return;
	case SCTP_STREAM_RESET_EVENT:
		if (len >= sizeof(n->sn_strreset_event))
			stream_reset(a, &n->sn_strreset_event, len);
		return;
	case SCTP_PARTIAL_DELIVERY_EVENT:
		/* The peer gave up on the message being read (a lossy
		 * channel's message the network lost part of). */
		if (len >= sizeof(n->sn_pdapi_event) &&
		    n->sn_pdapi_event.pdapi_indication ==
		        SCTP_PARTIAL_DELIVERY_ABORTED &&
		    (a->rx_len || a->rx_discard)) {
			a->stats.msg_partial_aborted++;
			a->rx_len = 0;
			a->rx_discard = false;
		}
		return;
	case SCTP_SHUTDOWN_EVENT:
		a->shutting = true;
		return;
	default:
		return;
	}
}

static void too_big(struct sctpx_assoc *a, const char *reason)
{
	a->stats.msg_too_big++;
	log_once(a, LOGGED_TOO_BIG, "sctp_message_dropped", a->rx_sid, reason);
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
				end(a, SCTPX_STATE_FAILED,
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
					notification(a);
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
			message(a, a->rx_sid, a->rx_ppid, a->rx, len);
		}
		a->rx_len = 0;
		a->rx_discard = false;
	}
	a->draining = false;
	if (!let_go(a))
		writable_check(a);
}

static void drain_pending(void)
{
	struct le *le;

	if (g.draining)
		return;
	g.draining = true;
	while ((le = list_head(&g.pending))) {
		struct sctpx_assoc *a = le->data;

		list_unlink(le);
		mem_ref(a);
		drain(a);
		mem_deref(a);
	}
	g.draining = false;
}

/* ---- an association ---- */

static void destructor(void *arg)
{
	struct sctpx_assoc *a = arg;

	if (g.init && !on_owner())
		log_event(LOGL_ERROR, NULL, "sctp_wrong_thread",
		          "call=mem_deref assoc=\"%s\"", a->label);
	a->silent = true;
	list_unlink(&a->pe);
	if (a->so) {
		usrsctp_set_upcall(a->so, NULL, NULL);
		usrsctp_close(a->so);
	}
	mem_deref(a->rx);
	mem_deref(a->chans);
	if (!a->counted)
		return;
	usrsctp_deregister_address(id_addr(a));
	hash_unlink(&a->he);
	if (!--g.count)
		g.assocs = mem_deref(g.assocs);
}

static int sockopts(struct sctpx_assoc *a, const char **why)
{
	static const uint16_t events[] = {
	    SCTP_ASSOC_CHANGE,
	    SCTP_STREAM_RESET_EVENT,
	    SCTP_PARTIAL_DELIVERY_EVENT,
	    SCTP_SHUTDOWN_EVENT,
	};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct sctp_assoc_value av;
	struct sctp_paddrparams spp;
	struct sctp_initmsg im;
	struct sctp_event ev;
	int on = 1, level = 0, sndbuf;

	memset(&av, 0, sizeof(av));
	av.assoc_id = SCTP_ALL_ASSOC;
	av.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
	memset(&spp, 0, sizeof(spp));
	/* usrsctp does no path MTU discovery (sctplab/usrsctp#205): a fixed
	 * MTU that fits a DTLS record; its figure leaves out the 12 bytes
	 * of the common header. */
	spp.spp_flags = SPP_HB_ENABLE | SPP_PMTUD_DISABLE;
	spp.spp_pathmtu = (uint32_t)a->mtu - SCTPX_PACKET_MIN;
	memset(&im, 0, sizeof(im));
	im.sinit_num_ostreams = SCTPX_STREAMS;
	im.sinit_max_instreams = SCTPX_STREAMS;
	sndbuf = (int)(a->send_max > SCTPX_SNDBUF ? a->send_max : SCTPX_SNDBUF);
	if (usrsctp_set_non_blocking(a->so, 1) != 0 ||
	    usrsctp_setsockopt(a->so, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    usrsctp_setsockopt(a->so, SOL_SOCKET, SO_SNDBUF, &sndbuf,
	                       sizeof(sndbuf)) ||
	    usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET,
	                       &av, sizeof(av)) ||
	    usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on,
	                       sizeof(on)) ||
	    usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_NODELAY, &on,
	                       sizeof(on)) ||
	    usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_FRAGMENT_INTERLEAVE,
	                       &level, sizeof(level)) ||
	    usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &spp,
	                       sizeof(spp)) ||
	    usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_INITMSG, &im,
	                       sizeof(im))) {
		*why = "usrsctp refused a socket option";
		return EIO;
	}
	memset(&ev, 0, sizeof(ev));
	ev.se_assoc_id = SCTP_ALL_ASSOC;
	ev.se_on = 1;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		ev.se_type = events[i];
		if (usrsctp_setsockopt(a->so, IPPROTO_SCTP, SCTP_EVENT, &ev,
		                       sizeof(ev))) {
			*why = "usrsctp refused an event subscription";
			return EIO;
		}
	}
	return 0;
}

static void sconn(struct sockaddr_conn *sc, const struct sctpx_assoc *a,
                  uint16_t port)
{
	memset(sc, 0, sizeof(*sc));
	sc->sconn_family = AF_CONN;
	sc->sconn_port = htons(port);
	sc->sconn_addr = id_addr(a);
}

static uint32_t next_id(void)
{
	/* 4 billion associations before a wrap; skip any id still alive. */
	for (;;) {
		uint32_t id = g.next_id++;

		if (id && !find((void *)(uintptr_t)id))
			return id;
	}
}

int sctpx_alloc(struct sctpx_assoc **ap, const struct sctpx_prm *prm,
                const char **why)
{
	struct sctpx_assoc *a;
	struct sockaddr_conn sc;
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	if (!ap || !prm || !prm->sendh) {
		*why = "no result pointer, parameters or send handler";
		return EINVAL;
	}
	if ((prm->mtu &&
	     (prm->mtu < SCTPX_MTU_MIN || prm->mtu > SCTPX_MTU_MAX)) ||
	    prm->max_message_size > SCTPX_MAX_MESSAGE_LIMIT ||
	    prm->max_channels > SCTPX_CHANNELS_MAX) {
		*why = "MTU, message size or channel count out of range";
		return EINVAL;
	}
	err = lib_init(why);
	if (err)
		return err;
	if (!g.assocs) {
		err = hash_alloc(&g.assocs, 64);
		if (err) {
			*why = "no memory for the association table";
			return err;
		}
	}
	a = mem_zalloc(sizeof(*a), destructor);
	if (!a) {
		*why = "no memory for the association";
		if (!g.count)
			g.assocs = mem_deref(g.assocs);
		return ENOMEM;
	}
	a->dtls_client = prm->dtls_client;
	a->lport = prm->local_port ? prm->local_port : SCTPX_PORT;
	a->rport = prm->remote_port ? prm->remote_port : SCTPX_PORT;
	a->mtu = prm->mtu ? prm->mtu : SCTPX_MTU_DEFAULT;
	a->max_msg = prm->max_message_size ? prm->max_message_size
	                                   : SCTPX_MAX_MESSAGE_DEFAULT;
	a->send_max = prm->peer_max_message_size && prm->peer_max_message_size <
	                                                SCTPX_MAX_MESSAGE_LIMIT
	                  ? prm->peer_max_message_size
	                  : SCTPX_MAX_MESSAGE_LIMIT;
	a->max_chan =
	    prm->max_channels ? prm->max_channels : SCTPX_CHANNELS_DEFAULT;
	snprintf(a->label, sizeof(a->label), "%s",
	         prm->label ? prm->label : "");
	a->sendh = prm->sendh;
	a->stateh = prm->stateh;
	a->openh = prm->openh;
	a->messageh = prm->messageh;
	a->closeh = prm->closeh;
	a->writableh = prm->writableh;
	a->arg = prm->arg;
	a->id = next_id();
	a->rx_cap = RX_INITIAL < (size_t)a->max_msg + 1
	                ? RX_INITIAL
	                : (size_t)a->max_msg + 1;
	a->rx = mem_alloc(a->rx_cap, NULL);
	a->chans = mem_zalloc(a->max_chan * sizeof(*a->chans), NULL);
	hash_append(g.assocs, a->id, &a->he, a);
	g.count++;
	a->counted = true;
	usrsctp_register_address(id_addr(a));
	if (!a->rx || !a->chans) {
		*why = "no memory for the association's buffers";
		err = ENOMEM;
		goto out;
	}
	a->so = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL,
	                       0, NULL);
	if (!a->so) {
		*why = "usrsctp made no socket";
		err = EIO;
		goto out;
	}
	usrsctp_set_upcall(a->so, upcall, id_addr(a));
	err = sockopts(a, why);
	if (err)
		goto out;
	sconn(&sc, a, a->lport);
	if (usrsctp_bind(a->so, (struct sockaddr *)&sc, sizeof(sc)) != 0) {
		*why = "usrsctp did not bind the socket";
		err = EIO;
		goto out;
	}
out:
	if (err)
		mem_deref(a);
	else
		*ap = a;
	return err;
}

static int start(struct sctpx_assoc *a, const char **why)
{
	struct sockaddr_conn sc;

	a->state = SCTPX_STATE_CONNECTING;
	a->start_us = clock_mono_us();
	sconn(&sc, a, a->rport);
	if (usrsctp_connect(a->so, (struct sockaddr *)&sc, sizeof(sc)) != 0 &&
	    errno != EINPROGRESS) {
		/* The caller hears it from the return value: no handler
		 * runs outside a drain. */
		*why = "usrsctp did not start the association";
		a->state = SCTPX_STATE_FAILED;
		a->why = *why;
		log_event(LOGL_WARN, NULL, "sctp_failed",
		          "assoc=\"%s\" reason=\"%s\"", a->label, *why);
		return EIO;
	}
	return 0;
}

/*
 * The framing usrsctp 0.9.5 trusts too far, checked before it sees the
 * packet: chunks of at least their header that end inside the packet
 * (then at most 3 bytes of padding), and in INIT and INIT ACK chunks the
 * fixed part and parameters of at least their header that end inside
 * the chunk. An INIT for an existing association with a parameter of
 * length 0 sends 0.9.5's sctp_are_there_new_addresses round a loop
 * forever (fixed upstream after 0.9.5 in c08562ec); genuine stacks send
 * nothing these checks refuse.
 */
static const char *screen(const uint8_t *p, size_t len)
{
	size_t off = SCTPX_PACKET_MIN;

	while (len - off >= 4) {
		size_t cl = get_be16(p + off + 2), end = off + cl;

		if (cl < 4 || cl > len - off)
			return "a chunk's length runs past the packet";
		if (p[off] == 1 || p[off] == 2) { /* INIT, INIT ACK */
			size_t po = off + INIT_FIXED;

			if (cl < INIT_FIXED)
				return "an INIT shorter than its fixed part";
			while (end - po >= 4) {
				size_t pl = get_be16(p + po + 2);

				if (pl < 4 || pl > end - po)
					return "an INIT parameter's length is "
					       "wrong";
				po += (pl + 3) & ~(size_t)3;
				if (po > end)
					po = end;
			}
			if (po != end)
				return "an INIT ends inside a parameter";
		}
		off += (cl + 3) & ~(size_t)3;
		if (off > len)
			off = len;
	}
	if (len - off > 3 || (off == SCTPX_PACKET_MIN && len == off))
		return len == SCTPX_PACKET_MIN ? "no chunk"
		                               : "bytes after the last chunk";
	return NULL;
}

/* The checks every call on an association starts with. */
static int check(const struct sctpx_assoc *a, const char **why)
{
	if (!a) {
		*why = "no association";
		return EINVAL;
	}
	if (!on_owner()) {
		*why = "SCTP associations belong to another thread";
		return EPERM;
	}
	return 0;
}

int sctpx_start(struct sctpx_assoc *a, const char **why)
{
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	err = check(a, why);
	if (err)
		return err;
	if (a->state != SCTPX_STATE_NEW) {
		*why = "the association has started";
		return EALREADY;
	}
	err = start(a, why);
	drain_pending();
	return err;
}

int sctpx_input(struct sctpx_assoc *a, const uint8_t *pkt, size_t len,
                const char **why)
{
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	err = check(a, why);
	if (err)
		return err;
	if (!pkt && len) {
		*why = "no packet";
		return EINVAL;
	}
	if (a->state == SCTPX_STATE_CLOSED || a->state == SCTPX_STATE_FAILED) {
		a->stats.rx_ignored++;
		*why = "the association has ended";
		return ENOTCONN;
	}
	if (len < SCTPX_PACKET_MIN || len > SCTPX_PACKET_MAX) {
		a->stats.rx_refused++;
		*why = len < SCTPX_PACKET_MIN
		           ? "shorter than an SCTP common header"
		           : "longer than a DTLS record";
		if (!(a->logged & LOGGED_PACKET)) {
			a->logged |= LOGGED_PACKET;
			log_event(LOGL_WARN, NULL, "sctp_packet_refused",
			          "assoc=\"%s\" len=%zu reason=\"%s\"",
			          a->label, len, *why);
		}
		return len < SCTPX_PACKET_MIN ? EBADMSG : EMSGSIZE;
	}
	*why = screen(pkt, len);
	if (*why) {
		a->stats.rx_refused++;
		if (!(a->logged & LOGGED_PACKET)) {
			a->logged |= LOGGED_PACKET;
			log_event(LOGL_WARN, NULL, "sctp_packet_refused",
			          "assoc=\"%s\" len=%zu reason=\"%s\" "
			          "note=\"logged once; counted after\"",
			          a->label, len, *why);
		}
		return EBADMSG;
	}
	/* The peer's INIT may come before our sctpx_start: a socket not yet
	 * connecting would answer it with an ABORT. */
	if (a->state == SCTPX_STATE_NEW) {
		err = start(a, why);
		if (err) {
			drain_pending();
			return err;
		}
	}
	a->stats.rx_packets++;
	a->stats.rx_bytes += len;
	usrsctp_conninput(id_addr(a), pkt, len, 0);
	drain_pending();
	return 0;
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
	err = check(a, why);
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
	drain_pending();
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
	err = check(a, why);
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
	drain_pending();
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
	err = check(a, why);
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
	drain_pending();
	return err;
}

int sctpx_close_channel(struct sctpx_assoc *a, uint16_t sid, const char **why)
{
	const char *w = NULL;
	struct chan *c;
	int err;

	if (!why)
		why = &w;
	err = check(a, why);
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
	drain_pending();
	return 0;
}

void sctpx_shutdown(struct sctpx_assoc *a)
{
	const char *why = NULL;

	if (check(a, &why) || a->state != SCTPX_STATE_UP || a->shutting)
		return;
	a->shutting = true;
	(void)usrsctp_shutdown(a->so, SHUT_WR);
	drain_pending();
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

enum sctpx_state sctpx_state(const struct sctpx_assoc *a)
{
	return a ? a->state : SCTPX_STATE_FAILED;
}

const char *sctpx_why(const struct sctpx_assoc *a)
{
	return a ? a->why : NULL;
}

uint16_t sctpx_streams(const struct sctpx_assoc *a)
{
	return a ? a->streams : 0;
}

size_t sctpx_send_max(const struct sctpx_assoc *a)
{
	return a ? a->send_max : 0;
}

const struct sctpx_stats *sctpx_stats(const struct sctpx_assoc *a)
{
	return a ? &a->stats : NULL;
}
