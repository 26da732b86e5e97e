/*
 * A call's media session as the signalling thread drives it: it binds the
 * call's ports, hands the session to a media thread and updates, confirms,
 * re-agents and stops it there by commands (media.c). And which addresses
 * a call's media may use at all.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "media/media_int.h"
#include "media/dtmf.h"
#include "media/webrtc.h"
#include "media/jitter.h"

/* Digits waiting for the signalling thread. */
#define DTMF_RING 32

/* ---- addresses -------------------------------------------------------- */

bool media_addr_private(const struct sa *a)
{
	uint32_t v;
	uint8_t b[16];

	if (!a)
		return false;
	if (media_ipv4_of(a, &v))
		return (v >> 24) == 10 ||                  /* RFC 1918 */
		       (v & 0xfff00000u) == 0xac100000u || /* 172.16/12 */
		       (v & 0xffff0000u) == 0xc0a80000u || /* 192.168/16 */
		       (v & 0xffc00000u) == 0x64400000u || /* 100.64/10 */
		       (v & 0xffff0000u) == 0xa9fe0000u;   /* link-local */
	if (sa_af(a) != AF_INET6)
		return false;
	sa_in6(a, b);
	return (b[0] & 0xfe) == 0xfc ||                 /* fc00::/7 */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80); /* fe80::/10 */
}

/* Why no media may go to a: one that is not a single host (multicast,
 * limited broadcast, the reserved 240/4 and 0/8), or none (unspecified).
 * A subnet's directed broadcast needs SO_BROADCAST, which our sockets do
 * not set: the kernel refuses to send there (EACCES). */
static const char *addr_refusal(const struct sa *a, bool *unspecified)
{
	uint32_t v;
	uint8_t b[16];
	static const uint8_t zero[16];

	*unspecified = false;
	if (media_ipv4_of(a, &v)) {
		if (!v) {
			*unspecified = true;
			return "unspecified address";
		}
		if ((v >> 24) == 0)
			return "reserved address"; /* "this network", 0/8 */
		if ((v & 0xf0000000u) == 0xe0000000u)
			return "multicast address";
		if ((v & 0xf0000000u) == 0xf0000000u)
			return "broadcast or reserved address";
		return NULL;
	}
	if (sa_af(a) != AF_INET6) {
		*unspecified = true;
		return "no address";
	}
	sa_in6(a, b);
	if (!memcmp(b, zero, sizeof(b))) {
		*unspecified = true;
		return "unspecified address";
	}
	if (b[0] == 0xff)
		return "multicast address";
	return NULL;
}

int media_params_check(const struct media_params *prm, bool update,
                       const char **why)
{
	const char *r;
	bool unspecified;

	if (!prm)
		return EINVAL;
	/* Nobody to talk to yet: nothing may go out or come in. */
	if (prm->await_answer && (prm->send || prm->recv)) {
		if (why)
			*why = "no answer yet";
		return EINVAL;
	}
	r = addr_refusal(&prm->raddr, &unspecified);
	/* c=0.0.0.0 puts a call on hold (RFC 2543): nothing is sent there.
	 * The call's first offer or answer must say where the caller is,
	 * unless nobody has answered it yet. */
	if (r && !(unspecified && (update || prm->await_answer))) {
		if (why)
			*why = r;
		return EADDRNOTAVAIL;
	}
	/* No RTCP address (or an unspecified one) means no reports. */
	r = addr_refusal(&prm->raddr_rtcp, &unspecified);
	if (r && !unspecified) {
		if (why)
			*why = r;
		return EADDRNOTAVAIL;
	}
	return 0;
}

/* ---- sessions --------------------------------------------------------- */

static void session_destructor(void *arg)
{
	struct media_session *ms = arg;

	if (ms->ops && ms->agent_state)
		ms->ops->stop(ms->agent_state);
	if (ms->retired_ops && ms->retired_state)
		ms->retired_ops->stop(ms->retired_state);
	if (ms->pending_ops && ms->pending_state)
		ms->pending_ops->stop(ms->pending_state);
	if (ms->rtp_fd >= 0)
		close(ms->rtp_fd);
	if (ms->rtcp_fd >= 0)
		close(ms->rtcp_fd);
	mem_deref(ms->jb);
	srtpx_reset(&ms->srtp);
	srtpx_reset(&ms->srtp_next);
	/* The SDES keys the contexts were made from. */
	explicit_bzero(&ms->srtp_keys, sizeof(ms->srtp_keys));
	explicit_bzero(&ms->prm.srtp, sizeof(ms->prm.srtp));
	explicit_bzero(&ms->pending.srtp, sizeof(ms->pending.srtp));
	ring_reset(&ms->dtmf);
	ring_reset(&ms->dtmf_out);
	mem_deref(ms->me);
}

static int bind_udp(const struct sa *laddr, uint16_t port, int *fdp)
{
	struct sa a = *laddr;
	int fd;

	sa_set_port(&a, port);
	fd = socket(sa_af(&a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (bind(fd, &a.u.sa, a.len)) {
		int err = errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

/* Binds a pair at random in the range: the port of one call tells nothing
 * of the next one's, and a guess at a call's port rarely hits. */
static int bind_pair(struct media_engine *me, struct media_session *ms)
{
	unsigned first = (me->prm.port_min + 1u) & ~1u;
	unsigned pairs, start;

	if (first + 1u > me->prm.port_max)
		return EADDRINUSE;
	pairs = (me->prm.port_max - first - 1u) / 2 + 1;
	start = rand_u32() % pairs;

	for (unsigned i = 0; i < pairs; i++) {
		uint16_t port = (uint16_t)(first + 2 * ((start + i) % pairs));
		int err;

		err = bind_udp(&me->prm.bind, port, &ms->rtp_fd);
		if (err == EADDRINUSE || err == EACCES)
			continue;
		if (err)
			return err;
		err =
		    bind_udp(&me->prm.bind, (uint16_t)(port + 1), &ms->rtcp_fd);
		if (err) {
			close(ms->rtp_fd);
			ms->rtp_fd = -1;
			if (err == EADDRINUSE || err == EACCES)
				continue;
			return err;
		}
		ms->port = port;
		return 0;
	}
	return EADDRINUSE;
}

int media_bind_one(struct media_engine *me, int *fdp, uint16_t *portp)
{
	unsigned n = (unsigned)me->prm.port_max - me->prm.port_min + 1u;
	unsigned start = rand_u32() % n;

	for (unsigned i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(me->prm.port_min + (start + i) % n);
		int err = bind_udp(&me->prm.bind, port, fdp);

		if (err == EADDRINUSE || err == EACCES)
			continue;
		if (!err)
			*portp = port;
		return err;
	}
	return EADDRINUSE;
}

int media_session_alloc(struct media_session **msp, struct media_engine *me,
                        media_event_h *evh, void *arg)
{
	struct media_session *ms;
	int err;

	if (!msp || !me || !evh)
		return EINVAL;
	ms = mem_zalloc(sizeof(*ms), session_destructor);
	if (!ms)
		return ENOMEM;
	ms->me = mem_ref(me);
	ms->evh = evh;
	ms->arg = arg;
	ms->rtp_fd = ms->rtcp_fd = -1;
	ms->rtp_tag = (struct fd_tag){ms, false};
	ms->rtcp_tag = (struct fd_tag){ms, true};
	sa_init(&ms->first_rtp, AF_UNSPEC);
	sa_init(&ms->peer, AF_UNSPEC);
	sa_init(&ms->peer_rtcp, AF_UNSPEC);
	ms->ssrc = rand_u32();
	ms->seq = rand_u16();
	ms->ts = rand_u32();
	plc_init(&ms->plc);

	ms->dtmf_code = -1;
	err = ring_init(&ms->dtmf, DTMF_RING);
	if (!err)
		err = ring_init(&ms->dtmf_out, DTMF_RING);
	if (err)
		goto out;
	err = jitter_alloc(&ms->jb, CLOCK_RATE, me->prm.jitter_min_ms,
	                   me->prm.jitter_max_ms);
	if (err)
		goto out;
	err = bind_pair(me, ms);
out:
	if (err)
		mem_deref(ms);
	else
		*msp = ms;
	return err;
}

uint16_t media_session_port(const struct media_session *ms)
{
	return ms ? ms->port : 0;
}

/* ---- SRTP ------------------------------------------------------------- */

/* Keys s (zeroed or reset) for prm: nothing when the call is plain. */
static int srtp_key(struct srtpx *s, const struct media_srtp *k)
{
	struct srtpx_prm sp = {
	    .profile = k->profile,
	    .local = {k->tx, SRTPX_MAX_KEY, k->tx + SRTPX_MAX_KEY,
	              SRTPX_MAX_SALT},
	    .remote = {k->rx, SRTPX_MAX_KEY, k->rx + SRTPX_MAX_KEY,
	               SRTPX_MAX_SALT},
	};

	if (!k->on)
		return 0;
	if (k->profile != SRTPX_AES_CM_128_HMAC_SHA1_80 &&
	    k->profile != SRTPX_AES_CM_128_HMAC_SHA1_32)
		return EPROTO;
	switch (srtpx_init(s, &sp, NULL)) {
	case 0:
		return 0;
	case ENOMEM:
		return ENOMEM;
	default:
		return EPROTO;
	}
}

static bool srtp_same(const struct media_srtp *a, const struct media_srtp *b)
{
	if (a->on != b->on)
		return false;
	return !a->on || (a->profile == b->profile &&
	                  !memcmp(a->tx, b->tx, sizeof(a->tx)) &&
	                  !memcmp(a->rx, b->rx, sizeof(a->rx)));
}

int media_session_start(struct media_session *ms,
                        const struct media_params *prm,
                        const struct agent_ops *ops, void *agent_state)
{
	struct media_engine *me;
	struct media_thread *least;

	if (!ms || !prm || !ops || ms->started)
		return EINVAL;
	if (media_params_check(prm, false, NULL))
		return EADDRNOTAVAIL;
	/* The media thread owns it from the command on. */
	int err = srtp_key(&ms->srtp, &prm->srtp);
	if (err)
		return err;
	ms->srtp_keys = prm->srtp;
	me = ms->me;
	if (ms->home) {
		least = ms->home;
		atomic_fetch_add(&least->load, 1);
	} else {
		least = media_thread_pick(me);
	}
	ms->ops = ops;
	ms->agent_state = agent_state;
	ms->mt = least;
	ms->started = true;
	media_command_post(
	    ms, CMD_ADD | (ms->confirm_at_start ? CMD_CONFIRM : 0), prm);
	return 0;
}

int media_session_update(struct media_session *ms,
                         const struct media_params *prm)
{
	if (!ms || !prm || !ms->started)
		return EINVAL;
	if (media_params_check(prm, true, NULL))
		return EADDRNOTAVAIL;
	/* The same keys keep the context: its rollover counters and replay
	 * windows go on. */
	if (srtp_same(&prm->srtp, &ms->srtp_keys)) {
		media_command_post(ms, CMD_UPDATE, prm);
		return 0;
	}
	if (ms->rekeying)
		return EBUSY;
	int err = srtp_key(&ms->srtp_next, &prm->srtp);
	if (err)
		return err;
	ms->srtp_keys = prm->srtp;
	ms->rekeying = true;
	media_command_post(ms, CMD_UPDATE | CMD_REKEY, prm);
	return 0;
}

void media_session_confirm(struct media_session *ms)
{
	if (!ms)
		return;
	if (ms->started)
		media_command_post(ms, CMD_CONFIRM, NULL);
	else
		ms->confirm_at_start = true;
}

void media_session_kick(struct media_session *ms)
{
	if (ms && ms->started)
		media_command_post(ms, CMD_KICK, NULL);
}

void media_session_ringback(struct media_session *ms, bool on)
{
	if (!ms)
		return;
	media_ringback_init();
	if (on)
		atomic_fetch_or_explicit(&ms->ringback, RINGBACK_ROOM,
		                         memory_order_release);
	else
		atomic_fetch_and_explicit(&ms->ringback, ~RINGBACK_ROOM,
		                          memory_order_release);
}

void media_session_ringback_caller(struct media_session *ms, bool on)
{
	if (!ms)
		return;
	media_ringback_init();
	if (on)
		atomic_fetch_or_explicit(&ms->ringback, RINGBACK_CALLER,
		                         memory_order_release);
	else
		atomic_fetch_and_explicit(&ms->ringback, ~RINGBACK_CALLER,
		                          memory_order_release);
}

void media_session_stop(struct media_session *ms)
{
	if (!ms)
		return;
	if (ms->started)
		media_command_post(ms, CMD_REMOVE, NULL);
	else
		media_event_post(ms, EV_STOPPED);
}

int media_session_set_agent(struct media_session *ms,
                            const struct agent_ops *ops, void *agent_state)
{
	struct media_thread *mt;

	if (!ops)
		return EINVAL;
	if (!ms || ms->swapping) {
		if (agent_state)
			ops->stop(agent_state);
		return ms ? EBUSY : EINVAL;
	}
	if (!ms->started) {
		if (ms->ops && ms->agent_state)
			ms->ops->stop(ms->agent_state);
		ms->ops = ops;
		ms->agent_state = agent_state;
		return 0;
	}
	mt = ms->mt;
	pthread_mutex_lock(&mt->lock);
	ms->pending_ops = ops;
	ms->pending_state = agent_state;
	pthread_mutex_unlock(&mt->lock);
	ms->swapping = true;
	media_command_post(ms, CMD_AGENT, NULL);
	return 0;
}

int media_session_dtmf_send(struct media_session *ms, const char *digits,
                            size_t n)
{
	if (!ms || !digits)
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		int c = dtmf_code(digits[i]);
		unsigned char code = (unsigned char)c;

		if (c < 0)
			return EINVAL;
		if (ring_write(&ms->dtmf_out, &code, 1))
			return ENOSPC;
	}
	return 0;
}

size_t media_session_dtmf_read(struct media_session *ms, char *out, size_t max)
{
	if (!ms || !out)
		return 0;
	return ring_read(&ms->dtmf, out, max);
}

const struct sa *media_session_first_rtp_addr(const struct media_session *ms)
{
	return ms ? &ms->first_rtp : NULL;
}

const struct media_stats *media_session_stats(const struct media_session *ms)
{
	return ms ? &ms->stats : NULL;
}
