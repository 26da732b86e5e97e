/*
 * DESIGN. A peer connection is one UDP socket on its room's media thread,
 * BUNDLE and rtcp-mux on it: every datagram is told apart by its first
 * byte (RFC 7983) into STUN for the ICE-lite responder, DTLS records, and
 * SRTP. The peer's address is the one its valid ICE checks come from; DTLS
 * and SRTP are taken from there only. The DTLS handshake, once done, keys
 * SRTP; the connection is then up and the signalling thread is told.
 *
 * The signalling thread makes the connection (its socket, its ICE
 * credentials for the SDP), starts it on a thread and gives it the peer's
 * description; from then on the thread owns everything but the event
 * handler. Every change is a job on that thread; every event a job back,
 * in order, the last one STOPPED.
 *
 * The counters are the thread's, bumped with plain increments on the
 * packet path. Each tick the thread copies them, with the connection's
 * state, to where the signalling thread reads them for /metrics (relaxed
 * atomics on both sides, no lock); STOPPED hands over the final ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "core/log.h"
#include "media/media_int.h"
#include "media/media_pc.h"
#include "media/rtp.h"
#include "media/webrtc.h"
#include "webrtc/dtls.h"
#include "webrtc/ice.h"
#include "webrtc/srtpx.h"

#define RX_BUDGET    16
#define MAX_DATAGRAM 1500

struct media_pc {
	/* Set at creation, read-only afterwards. */
	struct media_engine *me;
	struct dtls_cert *cert;
	int fd;
	uint16_t port;
	bool subscriber;
	struct fd_tag tag;
	char label[128];

	/* Signalling thread. */
	media_pc_event_h *evh;
	media_pc_app_h *apph;
	void *arg;
	bool started, stopping;
	struct media_thread *mt;
	struct media_room *mr;
	struct media_pc_stats last; /* as of the last event */
	struct le live_le;          /* in me->pcs_live until STOPPED */

	/* Written by the media thread each tick, read by the signalling
	 * thread, both with relaxed atomics: the live connection's counters
	 * and state for /metrics, without a lock on either side. */
	struct media_pc_stats shared;
	unsigned shared_state; /* enum media_pc_state */

	/* Media thread, from the start on. */
	struct le le;
	struct ice_lite ice;
	struct dtls_conn *dtls;
	enum dtls_role role;
	struct srtpx srtp;
	bool srtp_up;
	bool failed;
	struct sa peer;
	bool have_peer;
	struct media_pc_stats st;
	/* The peer's first DTLS datagram when it came before our DTLS
	 * connection did: its checks are answered from the start, so its
	 * ClientHello may beat its answer's job to this thread. */
	uint8_t early_dtls[MAX_DATAGRAM];
	size_t early_len;
};

enum pc_op {
	OP_START,
	OP_REMOTE,
	OP_STOP,
};

struct pc_job {
	struct media_pc *pc;
	enum pc_op op;
	char ufrag[ICE_CRED_MAX + 1];
	char pwd[ICE_CRED_MAX + 1];
	char fp[DTLS_FP_STR_SIZE];
	enum dtls_role role;
};

/* Application data on its way across, either way. */
struct pc_app {
	struct media_pc *pc;
	size_t len;
	uint8_t data[];
};

struct pc_event {
	struct media_pc *pc;
	enum media_pc_event ev;
	char why[96];
	bool up; /* SRTP was keyed */
	struct media_pc_stats st;
};

/* ---- events, to the signalling thread ----------------------------------- */

/* Every field of media_pc_stats is a uint64_t: summed and copied as an
 * array of them. */
#define STATS_WORDS (sizeof(struct media_pc_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct media_pc_stats) % sizeof(uint64_t) == 0,
               "media_pc_stats holds uint64_t only");

/* Adds s into d, all but the handshake time, which only the closed
 * connections that were up add (its sum goes with their count). */
static void stats_add(struct media_pc_stats *d, const struct media_pc_stats *s)
{
	uint64_t *dw = (uint64_t *)d;
	const uint64_t *sw = (const uint64_t *)s;
	uint64_t hs = d->handshake_us;

	for (size_t i = 0; i < STATS_WORDS; i++)
		dw[i] += sw[i];
	d->handshake_us = hs;
}

static void totals_add(struct media_pc_totals *t,
                       const struct media_pc_stats *s, bool up)
{
	t->closed++;
	t->up += up;
	stats_add(&t->sum, s);
	if (up)
		t->sum.handshake_us += s->handshake_us;
}

/* A connection's life in one line, as it stops. */
static void log_closed(const struct media_pc *pc, const struct pc_event *e)
{
	const struct media_pc_stats *s = &e->st;

	log_event(
	    LOGL_INFO, NULL, "webrtc_pc_closed",
	    "pc=%s port=%u up=%s stun_in=%llu stun_refused=%llu "
	    "stun_bad_integrity=%llu stun_bad_username=%llu rtp_in=%llu "
	    "rtp_out=%llu rtcp_in=%llu srtp_auth_fail=%llu srtp_replay=%llu "
	    "dtls_retransmits=%llu handshake_ms=%.1f early=%llu "
	    "wrong_source=%llu malformed=%llu unknown_ssrc=%llu "
	    "not_ready=%llu send_errors=%llu",
	    pc->label, pc->port, e->up ? "yes" : "no",
	    (unsigned long long)s->stun_in, (unsigned long long)s->stun_refused,
	    (unsigned long long)s->stun_bad_integrity,
	    (unsigned long long)s->stun_bad_username,
	    (unsigned long long)s->rtp_in, (unsigned long long)s->rtp_out,
	    (unsigned long long)s->rtcp_in,
	    (unsigned long long)s->srtp_auth_fail,
	    (unsigned long long)s->srtp_replay,
	    (unsigned long long)s->dtls_retransmits,
	    (double)s->handshake_us / 1000.0, (unsigned long long)s->early,
	    (unsigned long long)s->wrong_source,
	    (unsigned long long)s->malformed,
	    (unsigned long long)s->unknown_ssrc,
	    (unsigned long long)s->not_ready,
	    (unsigned long long)s->send_errors);
}

static void event_h(void *arg)
{
	struct pc_event *e = arg;
	struct media_pc *pc = e->pc;

	pc->last = e->st;
	if (e->ev == MEDIA_PC_STOPPED) {
		/* The thread's counters, handed over with its last event: from
		 * the live ones to the closed ones in one step, so that no sum
		 * goes down. */
		totals_add(&pc->me->pc_totals, &e->st, e->up);
		list_unlink(&pc->live_le);
		log_closed(pc, e);
	}
	if (pc->evh)
		pc->evh(e->ev, e->why, pc->arg);
	if (e->ev == MEDIA_PC_STOPPED)
		mem_deref(pc); /* the thread's reference */
	free(e);
}

/* The counters now: the connection's own and those of its ICE, DTLS and
 * SRTP. Media thread. */
static void stats_now(const struct media_pc *pc, struct media_pc_stats *st)
{
	*st = pc->st;
	st->stun_bad_integrity = pc->ice.count[ICE_RX_BAD_INTEGRITY];
	st->stun_bad_username = pc->ice.count[ICE_RX_BAD_USERNAME];
	if (pc->dtls) {
		const struct dtls_stats *ds = dtls_conn_stats(pc->dtls);

		st->dtls_retransmits = ds->retransmits;
		st->handshake_us = ds->handshake_us;
	}
	if (pc->srtp_up) {
		const struct srtpx_stats *ss = srtpx_stats(&pc->srtp);

		st->srtp_auth_fail = ss->auth_fail;
		st->srtp_replay = ss->replay;
	}
}

static void post_event(struct media_pc *pc, enum media_pc_event ev,
                       const char *why)
{
	struct pc_event *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	e->pc = pc;
	e->ev = ev;
	e->up = pc->srtp_up;
	stats_now(pc, &e->st);
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	if (media_job_main(pc->me, event_h, e))
		free(e);
}

static void fail(struct media_pc *pc, const char *why)
{
	if (pc->failed)
		return;
	pc->failed = true;
	post_event(pc, MEDIA_PC_FAILED, why);
}

/* ---- media thread ------------------------------------------------------- */

static void pc_udp_send(struct media_pc *pc, const uint8_t *p, size_t len)
{
	if (!pc->have_peer)
		return;
	if (sendto(pc->fd, p, len, MSG_DONTWAIT, &pc->peer.u.sa, pc->peer.len) <
	    0)
		pc->st.send_errors++;
}

static void pc_dtls_send(const uint8_t *pkt, size_t len, void *arg)
{
	pc_udp_send(arg, pkt, len);
}

static void pc_dtls_estab(const struct dtls_srtp_keys *k, void *arg)
{
	struct media_pc *pc = arg;
	const struct srtpx_prm prm = {
	    .profile = k->profile == DTLS_SRTP_AEAD_AES_128_GCM
	                   ? SRTPX_AEAD_AES_128_GCM
	                   : SRTPX_AES_CM_128_HMAC_SHA1_80,
	    .local = {k->local, k->key_len, k->local + k->key_len, k->salt_len},
	    .remote = {k->remote, k->key_len, k->remote + k->key_len,
	               k->salt_len},
	};
	const char *why = NULL;

	if (srtpx_init(&pc->srtp, &prm, &why)) {
		fail(pc, why ? why : "SRTP could not be keyed");
		return;
	}
	pc->srtp_up = true;
	post_event(pc, MEDIA_PC_CONNECTED, dtls_srtp_profile_name(k->profile));
}

static void app_in_h(void *arg)
{
	struct pc_app *a = arg;

	if (a->pc->apph && !a->pc->stopping)
		a->pc->apph(a->data, a->len, a->pc->arg);
	free(a);
}

static struct pc_app *app_new(struct media_pc *pc, const uint8_t *data,
                              size_t len)
{
	struct pc_app *a = malloc(sizeof(*a) + len);

	if (!a)
		return NULL;
	a->pc = pc;
	a->len = len;
	memcpy(a->data, data, len);
	return a;
}

/* Data channels ride here, rarely and never on the audio path: a copy
 * per record crosses to the signalling thread, where SCTP runs. */
static void pc_dtls_app(const uint8_t *data, size_t len, void *arg)
{
	struct media_pc *pc = arg;
	struct pc_app *a = app_new(pc, data, len);

	pc->st.app_in++;
	if (a && media_job_main(pc->me, app_in_h, a))
		free(a);
}

static void app_out_h(void *arg)
{
	struct pc_app *a = arg;
	struct media_pc *pc = a->pc;

	if (pc->dtls && !pc->failed &&
	    dtls_conn_state(pc->dtls) == DTLS_STATE_CONNECTED &&
	    !dtls_conn_send_app(pc->dtls, a->data, a->len, NULL))
		pc->st.app_out++;
	free(a);
}

static void pc_dtls_close(int err, const char *why, void *arg)
{
	(void)err;
	fail(arg, why ? why : "DTLS closed");
}

static void stun_in(struct media_pc *pc, const uint8_t *b, size_t len,
                    const struct sa *src, uint64_t now_ms)
{
	uint8_t reply[ICE_REPLY_MAX];
	struct ice_check chk;
	enum ice_rx r;

	r = ice_recv(&pc->ice, b, len, src, now_ms, reply, &chk);
	if (r != ICE_RX_ANSWERED) {
		pc->st.stun_refused++;
		return;
	}
	pc->st.stun_in++;
	if (chk.nominated || !pc->have_peer) {
		pc->peer = *src;
		pc->have_peer = true;
	}
	if (chk.reply_len && sendto(pc->fd, reply, chk.reply_len, MSG_DONTWAIT,
	                            &src->u.sa, src->len) < 0)
		pc->st.send_errors++;
	/* The DTLS client speaks first, once it knows where to. */
	if (pc->dtls && pc->role == DTLS_ROLE_CLIENT &&
	    dtls_conn_state(pc->dtls) == DTLS_STATE_NEW) {
		const char *why = NULL;

		if (dtls_conn_start(pc->dtls, &why))
			fail(pc, why);
	}
}

static void srtp_in(struct media_pc *pc, uint8_t *b, size_t len, bool rtcp,
                    uint64_t now_us)
{
	struct rtp_packet h;

	if (!pc->srtp_up) {
		pc->st.early++;
		return;
	}
	if (rtcp) {
		if (!srtpx_unprotect_rtcp(&pc->srtp, b, &len))
			pc->st.rtcp_in++;
		return;
	}
	if (srtpx_unprotect_rtp(&pc->srtp, b, &len))
		return; /* counted by srtpx */
	if (rtp_parse(b, len, &h)) {
		pc->st.malformed++;
		return;
	}
	pc->st.rtp_in++;
	if (pc->mr && !pc->subscriber)
		mroom_opus_rtp(pc->mr, pc, &h, b + h.off, h.end - h.off,
		               now_us);
}

static bool from_peer(const struct media_pc *pc, const struct sa *src)
{
	return pc->have_peer && sa_cmp(&pc->peer, src, SA_ALL);
}

static void readable(void *arg)
{
	struct media_pc *pc = arg;
	uint8_t b[MAX_DATAGRAM];

	for (int i = 0; i < RX_BUDGET; i++) {
		struct sa src;
		ssize_t n;
		uint64_t now_us;
		enum ice_pkt kind;

		sa_init(&src, AF_INET6);
		src.len = sizeof(src.u);
		n = recvfrom(pc->fd, b, sizeof(b), MSG_DONTWAIT, &src.u.sa,
		             &src.len);
		if (n < 0)
			return;
		now_us = clock_mono_us();
		kind = ice_demux(b, (size_t)n);
		switch (kind) {
		case ICE_PKT_STUN:
			stun_in(pc, b, (size_t)n, &src, now_us / 1000);
			break;
		case ICE_PKT_DTLS:
			if (!pc->dtls && from_peer(pc, &src) &&
			    !pc->early_len) {
				memcpy(pc->early_dtls, b, (size_t)n);
				pc->early_len = (size_t)n;
				break;
			}
			if (!pc->dtls || !from_peer(pc, &src)) {
				pc->st.early++;
				break;
			}
			(void)dtls_conn_recv(pc->dtls, b, (size_t)n, NULL);
			break;
		case ICE_PKT_RTP:
		case ICE_PKT_RTCP:
			if (!from_peer(pc, &src)) {
				pc->st.wrong_source++;
				break;
			}
			srtp_in(pc, b, (size_t)n, kind == ICE_PKT_RTCP, now_us);
			break;
		default:
			pc->st.malformed++;
			break;
		}
	}
}

void mpc_send_rtp(struct media_pc *pc, uint8_t *pkt, size_t len, size_t cap)
{
	if (!pc->srtp_up || !pc->have_peer || pc->failed) {
		pc->st.not_ready++;
		return;
	}
	if (srtpx_protect_rtp(&pc->srtp, pkt, &len, cap))
		return;
	pc_udp_send(pc, pkt, len);
	pc->st.rtp_out++;
}

void mpc_count_unknown_ssrc(struct media_pc *pc)
{
	pc->st.unknown_ssrc++;
}

/* The counters and state for the signalling thread to read. */
static void publish(struct media_pc *pc)
{
	struct media_pc_stats st;
	const uint64_t *src = (const uint64_t *)&st;
	uint64_t *dst = (uint64_t *)&pc->shared;
	enum media_pc_state state = pc->failed      ? MEDIA_PC_S_FAILED
	                            : pc->srtp_up   ? MEDIA_PC_S_CONNECTED
	                            : pc->have_peer ? MEDIA_PC_S_CHECKING
	                                            : MEDIA_PC_S_NEW;

	stats_now(pc, &st);
	for (size_t i = 0; i < STATS_WORDS; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	__atomic_store_n(&pc->shared_state, (unsigned)state, __ATOMIC_RELAXED);
}

void mpc_tick(struct media_thread *mt, uint64_t now_us)
{
	for (struct le *le = list_head(&mt->pcs); le; le = le->next) {
		struct media_pc *pc = le->data;
		const char *why = NULL;

		publish(pc);
		if (pc->failed)
			continue;
		if (pc->dtls && dtls_conn_timeout_ms(pc->dtls) == 0 &&
		    dtls_conn_on_timeout(pc->dtls, &why))
			fail(pc, why ? why : "DTLS handshake failed");
		if (ice_expired(&pc->ice, now_us / 1000))
			fail(pc, "no ICE consent for 30 s");
	}
}

static void pc_remote(struct media_pc *pc, struct pc_job *j)
{
	const struct dtls_conn_prm dp = {
	    .role = j->role,
	    .remote_fp = j->fp,
	    .label = pc->label,
	    .sendh = pc_dtls_send,
	    .estabh = pc_dtls_estab,
	    .recvh = pc_dtls_app,
	    .closeh = pc_dtls_close,
	    .arg = pc,
	};
	const char *why = NULL;

	if (ice_set_remote(&pc->ice, j->ufrag, j->pwd, &why)) {
		fail(pc, why);
		return;
	}
	if (pc->dtls)
		return; /* a re-offer: the transport stays as it is */
	pc->role = j->role;
	if (dtls_conn_alloc(&pc->dtls, pc->cert, &dp, &why)) {
		fail(pc, why);
		return;
	}
	/* A server waits for the ClientHello; a client sends it once ICE
	 * knows the peer (stun_in), at once if it already does. */
	if (pc->role == DTLS_ROLE_SERVER || pc->have_peer) {
		if (dtls_conn_start(pc->dtls, &why)) {
			fail(pc, why);
			return;
		}
	}
	if (pc->early_len) {
		(void)dtls_conn_recv(pc->dtls, pc->early_dtls, pc->early_len,
		                     NULL);
		pc->early_len = 0;
	}
}

static void pc_job_h(void *arg)
{
	struct pc_job *j = arg;
	struct media_pc *pc = j->pc;
	struct epoll_event ev = {.events = EPOLLIN};

	switch (j->op) {
	case OP_START:
		ev.data.ptr = &pc->tag;
		if (epoll_ctl(pc->mt->epfd, EPOLL_CTL_ADD, pc->fd, &ev)) {
			fail(pc, "the socket cannot be polled");
			break;
		}
		list_append(&pc->mt->pcs, &pc->le, pc);
		break;
	case OP_REMOTE:
		pc_remote(pc, j);
		break;
	case OP_STOP:
		mroom_pc_gone(pc->mt, pc);
		if (pc->le.list) {
			epoll_ctl(pc->mt->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
			list_unlink(&pc->le);
		}
		if (pc->dtls)
			dtls_conn_close(pc->dtls);
		atomic_fetch_sub(&pc->mt->load, 1);
		post_event(pc, MEDIA_PC_STOPPED, NULL);
		break;
	}
	free(j);
}

/* ---- signalling thread -------------------------------------------------- */

static void pc_destructor(void *arg)
{
	struct media_pc *pc = arg;

	/* The thread is done with it: STOPPED came, or it never started. */
	list_unlink(&pc->live_le);
	mem_deref(pc->dtls);
	if (pc->srtp_up)
		srtpx_reset(&pc->srtp);
	if (pc->fd >= 0)
		close(pc->fd);
	mem_deref(pc->cert);
	mem_deref(pc->me);
}

static int post(struct media_pc *pc, enum pc_op op, struct pc_job **jp)
{
	struct pc_job *j = calloc(1, sizeof(*j));

	if (!j)
		return ENOMEM;
	j->pc = pc;
	j->op = op;
	if (jp) {
		*jp = j;
		return 0;
	}
	if (media_job_post(pc->mt, pc_job_h, j)) {
		free(j);
		return ENOMEM;
	}
	return 0;
}

int media_pc_alloc(struct media_pc **pcp, const struct media_pc_prm *prm,
                   media_pc_event_h *evh, void *arg)
{
	struct media_pc *pc;
	int err;

	if (!pcp || !prm || !prm->engine || !prm->cert)
		return EINVAL;
	pc = mem_zalloc(sizeof(*pc), pc_destructor);
	if (!pc)
		return ENOMEM;
	pc->me = mem_ref(prm->engine);
	pc->cert = mem_ref(prm->cert);
	pc->fd = -1;
	pc->subscriber = prm->subscriber;
	pc->evh = evh;
	pc->apph = prm->apph;
	pc->arg = arg;
	pc->tag = (struct fd_tag){.io = readable, .io_arg = pc};
	snprintf(pc->label, sizeof(pc->label), "%s",
	         prm->label ? prm->label : "");
	ice_init(&pc->ice, clock_mono_ms());
	err = media_bind_one(pc->me, &pc->fd, &pc->port);
	if (err) {
		mem_deref(pc);
		return err;
	}
	list_append(&pc->me->pcs_live, &pc->live_le, pc);
	*pcp = pc;
	return 0;
}

uint16_t media_pc_port(const struct media_pc *pc)
{
	return pc ? pc->port : 0;
}

const char *media_pc_ufrag(const struct media_pc *pc)
{
	return ice_local_ufrag(&pc->ice);
}

const char *media_pc_pwd(const struct media_pc *pc)
{
	return ice_local_pwd(&pc->ice);
}

int media_pc_start(struct media_pc *pc, struct media_room *mr)
{
	struct pc_job *j;
	int err;

	if (!pc || !mr || pc->started)
		return EINVAL;
	pc->mt = media_room_thread(mr);
	pc->mr = mr;
	err = post(pc, OP_START, &j);
	if (err)
		return err;
	/* The thread holds the connection until it has let it go. */
	mem_ref(pc);
	atomic_fetch_add(&pc->mt->load, 1);
	pc->started = true;
	if (media_job_post(pc->mt, pc_job_h, j)) {
		free(j);
		pc->started = false;
		atomic_fetch_sub(&pc->mt->load, 1);
		mem_deref(pc);
		return ENOMEM;
	}
	return 0;
}

int media_pc_remote(struct media_pc *pc, const char *ufrag, const char *pwd,
                    const char *fingerprint, bool dtls_server)
{
	struct pc_job *j;
	int err;

	if (!pc || !ufrag || !pwd || !fingerprint || !pc->started ||
	    pc->stopping)
		return EINVAL;
	if (strlen(ufrag) > ICE_CRED_MAX || strlen(pwd) > ICE_CRED_MAX ||
	    strlen(fingerprint) >= DTLS_FP_STR_SIZE)
		return EINVAL;
	err = post(pc, OP_REMOTE, &j);
	if (err)
		return err;
	snprintf(j->ufrag, sizeof(j->ufrag), "%s", ufrag);
	snprintf(j->pwd, sizeof(j->pwd), "%s", pwd);
	snprintf(j->fp, sizeof(j->fp), "%s", fingerprint);
	j->role = dtls_server ? DTLS_ROLE_SERVER : DTLS_ROLE_CLIENT;
	if (media_job_post(pc->mt, pc_job_h, j)) {
		free(j);
		return ENOMEM;
	}
	return 0;
}

int media_pc_send_app(struct media_pc *pc, const uint8_t *data, size_t len)
{
	struct pc_app *a;

	if (!pc || !data || !len || !pc->started || pc->stopping)
		return EINVAL;
	a = app_new(pc, data, len);
	if (!a)
		return ENOMEM;
	if (media_job_post(pc->mt, app_out_h, a)) {
		free(a);
		return ENOMEM;
	}
	return 0;
}

void media_pc_stop(struct media_pc *pc)
{
	if (!pc || pc->stopping)
		return;
	pc->stopping = true;
	pc->evh = NULL;
	pc->apph = NULL;
	if (pc->started && post(pc, OP_STOP, NULL)) {
		/* Without memory for the job the thread keeps polling the
		 * socket until the engine closes; the connection leaks then,
		 * not its memory under the thread. */
		return;
	}
}

const struct media_pc_stats *media_pc_stats(const struct media_pc *pc)
{
	return &pc->last;
}

void media_pc_totals(const struct media_engine *me, struct media_pc_totals *t)
{
	memset(t, 0, sizeof(*t));
	if (!me)
		return;
	*t = me->pc_totals;
	for (struct le *le = list_head(&me->pcs_live); le; le = le->next) {
		const struct media_pc *pc = le->data;
		const uint64_t *src = (const uint64_t *)&pc->shared;
		struct media_pc_stats st;
		uint64_t *dst = (uint64_t *)&st;
		unsigned state;

		for (size_t i = 0; i < STATS_WORDS; i++)
			dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
		state = __atomic_load_n(&pc->shared_state, __ATOMIC_RELAXED);
		stats_add(&t->sum, &st);
		if (state < MEDIA_PC_STATES)
			t->open[state]++;
	}
}
