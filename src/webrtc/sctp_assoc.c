/*
 * An association's life (sctp.h): its socket's set-up, the packets from
 * DTLS screened and fed in, usrsctp's notifications, its end and its
 * free. Apart from usrsctp's process-wide side and the reads (sctp.c) and
 * from the channels and their messages (sctp_chan.c), because the
 * socket's options, the packet screen and the end each need reading alone.
 */

#include "webrtc/sctp_int.h"

/* ---- the association's end ---- */

void sctp_end(struct sctpx_assoc *a, enum sctpx_state state, const char *why)
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
			sctp_chan_closed(a, &a->chans[i]);
	}
	if (a->stateh)
		a->stateh(state, why, a->arg);
}

/* ---- usrsctp's notifications ---- */

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
				sctp_chan_closed(a, &a->chans[i]);
		}
		memset(a->resetting, 0, sizeof(a->resetting));
		return;
	case SCTP_COMM_LOST:
		/* sac_error: the cause code of the peer's ABORT, or 0 when
		 * retransmissions ran out. */
		log_event(LOGL_INFO, NULL, "sctp_comm_lost",
		          "assoc=\"%s\" error=%u", a->label, sac->sac_error);
		sctp_end(a, SCTPX_STATE_FAILED,
		         a->state == SCTPX_STATE_UP
		             ? "the association was aborted or lost"
		             : "the association could not be set up");
		return;
	case SCTP_CANT_STR_ASSOC:
		sctp_end(a, SCTPX_STATE_FAILED,
		         "the association could not be set up");
		return;
	case SCTP_SHUTDOWN_COMP:
		sctp_end(a, SCTPX_STATE_CLOSED, "shut down");
		return;
	default:
		return;
	}
}

void sctp_notification(struct sctpx_assoc *a)
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
			sctp_stream_reset(a, &n->sn_strreset_event, len);
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

/* ---- an association ---- */

static void destructor(void *arg)
{
	struct sctpx_assoc *a = arg;

	if (sctp_g.init && !sctp_on_owner())
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
	usrsctp_deregister_address(sctp_id_addr(a));
	hash_unlink(&a->he);
	if (!--sctp_g.count)
		sctp_g.assocs = mem_deref(sctp_g.assocs);
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
	sc->sconn_addr = sctp_id_addr(a);
}

static uint32_t next_id(void)
{
	/* 4 billion associations before a wrap; skip any id still alive. */
	for (;;) {
		uint32_t id = sctp_g.next_id++;

		if (id && !sctp_find((void *)(uintptr_t)id))
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
	err = sctp_lib_init(why);
	if (err)
		return err;
	if (!sctp_g.assocs) {
		err = hash_alloc(&sctp_g.assocs, 64);
		if (err) {
			*why = "no memory for the association table";
			return err;
		}
	}
	a = mem_zalloc(sizeof(*a), destructor);
	if (!a) {
		*why = "no memory for the association";
		if (!sctp_g.count)
			sctp_g.assocs = mem_deref(sctp_g.assocs);
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
	hash_append(sctp_g.assocs, a->id, &a->he, a);
	sctp_g.count++;
	a->counted = true;
	usrsctp_register_address(sctp_id_addr(a));
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
	usrsctp_set_upcall(a->so, sctp_upcall, sctp_id_addr(a));
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
int sctp_check(const struct sctpx_assoc *a, const char **why)
{
	if (!a) {
		*why = "no association";
		return EINVAL;
	}
	if (!sctp_on_owner()) {
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
	err = sctp_check(a, why);
	if (err)
		return err;
	if (a->state != SCTPX_STATE_NEW) {
		*why = "the association has started";
		return EALREADY;
	}
	err = start(a, why);
	sctp_drain_pending();
	return err;
}

int sctpx_input(struct sctpx_assoc *a, const uint8_t *pkt, size_t len,
                const char **why)
{
	const char *w = NULL;
	int err;

	if (!why)
		why = &w;
	err = sctp_check(a, why);
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
			sctp_drain_pending();
			return err;
		}
	}
	a->stats.rx_packets++;
	a->stats.rx_bytes += len;
	usrsctp_conninput(sctp_id_addr(a), pkt, len, 0);
	sctp_drain_pending();
	return 0;
}

void sctpx_shutdown(struct sctpx_assoc *a)
{
	const char *why = NULL;

	if (sctp_check(a, &why) || a->state != SCTPX_STATE_UP || a->shutting)
		return;
	a->shutting = true;
	(void)usrsctp_shutdown(a->so, SHUT_WR);
	sctp_drain_pending();
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
