/*
 * One peer connection of a client, on voxgate's own building blocks: ICE
 * as the controlling agent (webrtc/ice.h: checks with USE-CANDIDATE every
 * 50 ms until one is answered, then one every 4-5 s for consent), DTLS
 * (webrtc/dtls.h: the client on the subscriber connection, the server on
 * the publisher's, as voxgate's answer decides), SRTP (webrtc/srtpx.h).
 * One UDP socket, BUNDLE and rtcp-mux; voxgate's one host candidate is the
 * only peer.
 *
 * What arrives is counted per RTP stream the offers announced: packets,
 * loss from the sequence numbers, RFC 3550 interarrival jitter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "media/rtp.h"
#include "rtcc/rtcc.h"

#define CHECK_FAST_MS 50
#define CONSENT_MS    4000
#define MAX_DATAGRAM  1500
#define PTIME_US      20000
#define JUNK_SOURCES  2

static void pc_destructor(void *arg)
{
	rtcc_pc_shutdown(arg);
}

void rtcc_pc_shutdown(struct rtcc_pc *pc)
{
	if (!pc)
		return;
	/* The close_notify goes out on the socket, before it closes. */
	if (pc->dtls)
		dtls_conn_close(pc->dtls);
	pc->dtls = mem_deref(pc->dtls);
	pc->us = mem_deref(pc->us);
	pc->junk = mem_deref(pc->junk);
	pc->fd = -1;
	if (pc->srtp_up)
		srtpx_reset(&pc->srtp);
	pc->srtp_up = false;
	pc->have_peer = false;
}

static void pc_send(struct rtcc_pc *pc, const uint8_t *p, size_t len)
{
	if (!pc->have_peer || pc->fd < 0)
		return;
	(void)sendto(pc->fd, p, len, MSG_DONTWAIT, &pc->peer.u.sa,
	             pc->peer.len);
}

/* ---- DTLS and SRTP ------------------------------------------------------ */

static void pc_dtls_send(const uint8_t *pkt, size_t len, void *arg)
{
	pc_send(arg, pkt, len);
}

static void pc_failed(struct rtcc_pc *pc, const char *why)
{
	if (pc->failed)
		return;
	pc->failed = true;
	snprintf(pc->why, sizeof(pc->why), "%s", why ? why : "?");
	rtcc_signal_pc_event(pc->cl, pc, false, pc->why);
}

static void pc_dtls_estab(const struct dtls_srtp_keys *k, void *arg)
{
	struct rtcc_pc *pc = arg;
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
		pc_failed(pc, why ? why : "SRTP could not be keyed");
		return;
	}
	pc->srtp_up = true;
	pc->up_us = rtcc_now_us();
	pc->handshake_us = dtls_conn_stats(pc->dtls)->handshake_us;
	rtcc_signal_pc_event(pc->cl, pc, true, NULL);
}

static void pc_dtls_close(int err, const char *why, void *arg)
{
	(void)err;
	pc_failed(arg, why ? why : "DTLS closed by the peer");
}

static void dtls_start(struct rtcc_pc *pc)
{
	const char *why = NULL;

	if (pc->started || !pc->dtls)
		return;
	pc->started = true;
	if (dtls_conn_start(pc->dtls, &why))
		pc_failed(pc, why);
}

/* ---- what arrives -------------------------------------------------------- */

static void stun_in(struct rtcc_pc *pc, const uint8_t *b, size_t n)
{
	unsigned code = 0;

	switch (ice_response_read(&pc->ice, b, n, pc->tid, &code)) {
	case ICE_RESP_SUCCESS:
		if (!pc->check_out)
			return; /* answered twice */
		pc->check_out = false;
		pc->answers++;
		if (!pc->ice_up) {
			pc->ice_up = true;
			pc->next_check_ms = rtcc_now_us() / 1000 + CONSENT_MS +
			                    rand_u16() % 1000;
		}
		if (pc->role == DTLS_ROLE_CLIENT)
			dtls_start(pc);
		break;
	case ICE_RESP_ERROR:
		pc->refused_answers++;
		break;
	default:
		pc->rx_bad++;
		break;
	}
}

static struct rtcc_rx *rx_find(struct rtcc_pc *pc, uint32_t ssrc)
{
	for (size_t i = 0; i < RTCC_TRACKS; i++) {
		if (pc->rx[i].used && pc->rx[i].ssrc == ssrc)
			return &pc->rx[i];
	}
	return NULL;
}

/* RFC 3550 A.1 and A.8, without the probation. */
static void rx_count(struct rtcc_rx *t, const struct rtp_packet *h,
                     uint64_t now_us)
{
	int64_t arrival = (int64_t)(now_us * t->clock / 1000000u);
	int64_t transit = arrival - (int64_t)h->ts, d;

	if (!t->have) {
		t->have = true;
		t->base_seq = t->max_seq = h->seq;
		t->transit = transit;
		t->first_us = now_us;
	} else {
		uint16_t delta = (uint16_t)(h->seq - t->max_seq);

		if (delta && delta < 0x8000) {
			if (h->seq < t->max_seq)
				t->cycles++;
			t->max_seq = h->seq;
		}
		d = transit - t->transit;
		t->transit = transit;
		if (d < 0)
			d = -d;
		t->jitter += ((double)d - t->jitter) / 16.0;
	}
	t->packets++;
	if (h->pt != t->pt)
		t->wrong_pt++;
}

static void rtp_in(struct rtcc_pc *pc, uint8_t *b, size_t n, bool rtcp,
                   uint64_t now_us)
{
	struct rtp_packet h;
	struct rtcc_rx *t;

	if (!pc->srtp_up) {
		pc->rx_bad++;
		return;
	}
	if (rtcp) {
		if (!srtpx_unprotect_rtcp(&pc->srtp, b, &n))
			pc->rtcp_in++;
		return;
	}
	if (srtpx_unprotect_rtp(&pc->srtp, b, &n) || rtp_parse(b, n, &h)) {
		pc->rx_bad++;
		return;
	}
	t = rx_find(pc, h.ssrc);
	if (!t) {
		pc->rx_unknown_ssrc++;
		return;
	}
	rx_count(t, &h, now_us);
	if (rtcc.phone_rx && h.pt == 0)
		rtcc_phone_webrtc_rx(b + h.off, h.end - h.off, now_us);
}

static void recv_h(const struct sa *src, struct mbuf *mb, void *arg)
{
	struct rtcc_pc *pc = arg;
	/* srtpx reads the headers as 32-bit words */
	uint32_t w[MAX_DATAGRAM / 4 + 8];
	uint8_t *b = (uint8_t *)w;
	size_t n = mbuf_get_left(mb);
	const char *why = NULL;
	int err;

	if (n > MAX_DATAGRAM || !pc->have_peer ||
	    !sa_cmp(src, &pc->peer, SA_ALL)) {
		pc->rx_bad++;
		return;
	}
	memcpy(b, mbuf_buf(mb), n);
	switch (ice_demux(b, n)) {
	case ICE_PKT_STUN:
		stun_in(pc, b, n);
		break;
	case ICE_PKT_DTLS:
		if (!pc->dtls) {
			pc->rx_bad++;
			break;
		}
		err = dtls_conn_recv(pc->dtls, b, n, &why);
		if (err == EBADMSG || err == EMSGSIZE || err == ENOTCONN)
			pc->rx_bad++;
		break;
	case ICE_PKT_RTP:
	case ICE_PKT_RTCP:
		rtp_in(pc, b, n, ice_demux(b, n) == ICE_PKT_RTCP,
		       rtcc_now_us());
		break;
	default:
		pc->rx_bad++;
		break;
	}
}

/* ---- set-up --------------------------------------------------------------- */

int rtcc_pc_alloc(struct rtcc_pc **pcp, struct rtcc_client *cl, bool subscriber)
{
	struct rtcc_pc *pc = mem_zalloc(sizeof(*pc), pc_destructor);
	struct sa laddr;
	int err;

	if (!pc)
		return ENOMEM;
	pc->cl = cl;
	pc->subscriber = subscriber;
	pc->fd = -1;
	ice_init(&pc->ice, rtcc_now_us() / 1000);
	pc->tiebreaker = rand_u64();
	pc->ssrc = rand_u32() | 1;
	pc->seq = rand_u16();
	pc->ts = rand_u32();
	err = sa_set_str(&laddr, rtcc.host, 0);
	if (!err)
		err = udp_listen(&pc->us, &laddr, recv_h, pc);
	if (!err)
		err = udp_local_get(pc->us, &pc->local);
	if (!err && rtcc.hostile.garbage_pps)
		err = udp_listen(&pc->junk, &laddr, NULL, NULL);
	if (err) {
		mem_deref(pc);
		return err;
	}
	pc->fd = udp_sock_fd(pc->us, sa_af(&laddr));
	*pcp = pc;
	return 0;
}

void rtcc_pc_expect(struct rtcc_pc *pc, const struct wsdp_desc *d)
{
	for (unsigned i = 0; i < d->n; i++) {
		const struct wsdp_media *m = &d->m[i];
		struct rtcc_rx *t;

		if (m->rejected || m->kind != WSDP_AUDIO || !m->has_ssrc ||
		    m->dir != WSDP_SENDONLY || rx_find(pc, m->ssrc))
			continue;
		for (t = pc->rx; t < pc->rx + RTCC_TRACKS && t->used; t++)
			;
		if (t == pc->rx + RTCC_TRACKS)
			return;
		t->used = true;
		t->ssrc = m->ssrc;
		t->pt = m->opus_pt >= 0 ? (uint8_t)m->opus_pt : 0;
		t->clock = m->opus_pt >= 0 ? 48000 : 8000;
	}
}

static void fp_string(char out[DTLS_FP_STR_SIZE], const uint8_t *fp)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 8;

	memcpy(out, "sha-256 ", 8);
	for (size_t i = 0; i < WSDP_FP_LEN; i++) {
		out[o++] = hex[fp[i] >> 4];
		out[o++] = hex[fp[i] & 15];
		if (i + 1 < WSDP_FP_LEN)
			out[o++] = ':';
	}
	out[o] = '\0';
}

int rtcc_pc_remote(struct rtcc_pc *pc, const struct wsdp_desc *d,
                   const char *sdp, const char **why)
{
	char fp[DTLS_FP_STR_SIZE], pwd[WSDP_ICE_MAX + 1];
	struct dtls_conn_prm prm = {
	    .remote_fp = fp,
	    .label = pc->cl->identity,
	    .sendh = pc_dtls_send,
	    .estabh = pc_dtls_estab,
	    .closeh = pc_dtls_close,
	    .arg = pc,
	};
	int err;

	if (pc->dtls)
		return 0; /* a new offer on the same transport */
	if (rtcc_sdp_candidate(sdp, &pc->peer)) {
		*why = "no usable a=candidate";
		return EPROTO;
	}
	snprintf(pwd, sizeof(pwd), "%s", d->ice_pwd);
	if (rtcc.hostile.wrong_ice_pwd) /* the same length, another key */
		pwd[0] = pwd[0] == 'x' ? 'y' : 'x';
	err = ice_set_remote(&pc->ice, d->ice_ufrag, pwd, why);
	if (err)
		return err;
	/* We answer the subscriber offer active; voxgate answers ours. */
	if (pc->subscriber)
		pc->role = DTLS_ROLE_CLIENT;
	else
		pc->role = d->setup == WSDP_SETUP_PASSIVE ? DTLS_ROLE_CLIENT
		                                          : DTLS_ROLE_SERVER;
	prm.role = pc->role;
	fp_string(fp, d->fp_sha256);
	err = dtls_conn_alloc(&pc->dtls, rtcc.cert, &prm, why);
	if (err)
		return err;
	pc->have_peer = true;
	pc->next_check_ms = 0;
	return 0;
}

/* ---- the tick -------------------------------------------------------------- */

static void send_check(struct rtcc_pc *pc, uint64_t now_ms)
{
	const struct ice_request_prm prm = {
	    .priority = wsdp_host_priority(65535, 1),
	    .tiebreaker = pc->tiebreaker,
	    .use_candidate = true,
	};
	uint8_t b[ICE_REQUEST_MAX];
	size_t n;

	if (ice_request_write(&pc->ice, &prm, pc->tid, b, sizeof(b), &n))
		return;
	pc_send(pc, b, n);
	pc->checks++;
	pc->check_out = true;
	pc->next_check_ms =
	    now_ms +
	    (pc->ice_up ? CONSENT_MS + rand_u16() % 1000 : CHECK_FAST_MS);
}

static void send_media(struct rtcc_pc *pc, uint64_t now_us)
{
	uint32_t w[(12 + RTCC_OPUS_PKT + SRTPX_MAX_TRAILER) / 4 + 1];
	uint8_t *b = (uint8_t *)w;
	unsigned f = pc->frame % rtcc.opus_n;
	size_t n = 12 + rtcc.opus_len[f];

	b[0] = 0x80;
	b[1] = (uint8_t)((pc->sent == 0 ? 0x80 : 0) | WSDP_OPUS_PT);
	b[2] = (uint8_t)(pc->seq >> 8);
	b[3] = (uint8_t)pc->seq;
	b[4] = (uint8_t)(pc->ts >> 24);
	b[5] = (uint8_t)(pc->ts >> 16);
	b[6] = (uint8_t)(pc->ts >> 8);
	b[7] = (uint8_t)pc->ts;
	b[8] = (uint8_t)(pc->ssrc >> 24);
	b[9] = (uint8_t)(pc->ssrc >> 16);
	b[10] = (uint8_t)(pc->ssrc >> 8);
	b[11] = (uint8_t)pc->ssrc;
	memcpy(b + 12, rtcc.opus[f], rtcc.opus_len[f]);
	pc->seq++;
	pc->ts += 960;
	pc->frame++;
	if (srtpx_protect_rtp(&pc->srtp, b, &n, sizeof(w)))
		return;
	if (rtcc.hostile.bad_srtp &&
	    (pc->sent + 1) % rtcc.hostile.bad_srtp == 0) {
		b[n - 1] ^= 0x5a; /* the tag's last byte */
		pc->sent_bad++;
	}
	pc_send(pc, b, n);
	pc->sent++;
	if (rtcc.phone_rx)
		rtcc_phone_webrtc_tx(f, now_us);
}

/* Junk of every kind RFC 7983 tells apart, from the peer's address (the
 * connection's socket) and from another one. */
static void send_junk(struct rtcc_pc *pc)
{
	static const uint8_t first[] = {0x00, 0x01, 0x16, 0x17,
	                                0x80, 0x90, 0x40, 0xff};
	uint8_t b[200];
	unsigned k = (unsigned)(pc->junk_sent % sizeof(first));
	size_t n = 20 + rand_u16() % 150;
	int fd;

	rand_bytes(b, n);
	b[0] = first[k];
	if (k == 1) { /* a STUN Binding request header, random body */
		b[1] = 0x01;
		b[2] = (uint8_t)((n - 20) >> 8);
		b[3] = (uint8_t)(n - 20);
		b[4] = 0x21, b[5] = 0x12, b[6] = 0xa4, b[7] = 0x42;
	} else if (k == 2 || k == 3) { /* a DTLS 1.2 record header */
		b[1] = 0xfe;
		b[2] = 0xfd;
	} else if (k == 5) { /* RTCP */
		b[1] = 200;
	}
	fd = pc->junk_sent / sizeof(first) % JUNK_SOURCES && pc->junk
	         ? udp_sock_fd(pc->junk, sa_af(&pc->peer))
	         : pc->fd;
	(void)sendto(fd, b, n, MSG_DONTWAIT, &pc->peer.u.sa, pc->peer.len);
	pc->junk_sent++;
}

void rtcc_pc_tick(struct rtcc_pc *pc, uint64_t now_us)
{
	uint64_t now_ms = now_us / 1000;
	const char *why = NULL;

	if (!pc->have_peer || pc->failed)
		return;
	if (now_ms >= pc->next_check_ms)
		send_check(pc, now_ms);
	if (pc->dtls && dtls_conn_timeout_ms(pc->dtls) == 0 &&
	    dtls_conn_on_timeout(pc->dtls, &why))
		pc_failed(pc, why ? why : "DTLS timed out");
	if (!pc->srtp_up)
		return;
	if (!pc->subscriber && rtcc.opus_n) {
		if (!pc->next_send_us || now_us > pc->next_send_us + 100000)
			pc->next_send_us = now_us;
		while (now_us >= pc->next_send_us) {
			send_media(pc, now_us);
			pc->next_send_us += PTIME_US;
		}
	}
	if (rtcc.hostile.garbage_pps) {
		uint64_t gap = 1000000u / rtcc.hostile.garbage_pps;

		if (!pc->next_junk_us)
			pc->next_junk_us = now_us;
		while (now_us >= pc->next_junk_us) {
			send_junk(pc);
			pc->next_junk_us += gap;
		}
	}
}

/* ---- figures ---------------------------------------------------------------- */

static uint64_t rx_expected(const struct rtcc_rx *t)
{
	uint32_t ext = t->cycles * 65536u + t->max_seq;

	return t->have ? (uint64_t)(ext - t->base_seq) + 1 : 0;
}

uint64_t rtcc_pc_rx_packets(const struct rtcc_pc *pc)
{
	uint64_t n = 0;

	for (size_t i = 0; pc && i < RTCC_TRACKS; i++)
		n += pc->rx[i].packets;
	return n;
}

int64_t rtcc_pc_rx_lost(const struct rtcc_pc *pc)
{
	int64_t n = 0;

	for (size_t i = 0; pc && i < RTCC_TRACKS; i++) {
		if (pc->rx[i].have)
			n += (int64_t)rx_expected(&pc->rx[i]) -
			     (int64_t)pc->rx[i].packets;
	}
	return n;
}

void rtcc_pc_print(const struct rtcc_pc *pc, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	n = snprintf(
	    buf, size,
	    "%s: up=%s ice_checks=%llu ice_answers=%llu "
	    "handshake_ms=%.1f rx_bad=%llu unknown_ssrc=%llu "
	    "rtcp_in=%llu sent=%llu sent_bad_tag=%llu junk_sent=%llu",
	    pc->subscriber ? "sub" : "pub", pc->up_us ? "yes" : "no",
	    (unsigned long long)pc->checks, (unsigned long long)pc->answers,
	    (double)pc->handshake_us / 1000.0, (unsigned long long)pc->rx_bad,
	    (unsigned long long)pc->rx_unknown_ssrc,
	    (unsigned long long)pc->rtcp_in, (unsigned long long)pc->sent,
	    (unsigned long long)pc->sent_bad,
	    (unsigned long long)pc->junk_sent);
	if (n < 0 || (size_t)n >= size)
		return;
	o = (size_t)n;
	for (size_t i = 0; i < RTCC_TRACKS && o < size; i++) {
		const struct rtcc_rx *t = &pc->rx[i];

		if (!t->used)
			continue;
		n = snprintf(buf + o, size - o,
		             " [ssrc=%08x pt=%u packets=%llu lost=%lld "
		             "wrong_pt=%llu jitter_ms=%.2f]",
		             t->ssrc, t->pt, (unsigned long long)t->packets,
		             (long long)rx_expected(t) - (long long)t->packets,
		             (unsigned long long)t->wrong_pt,
		             t->jitter * 1000.0 / t->clock);
		if (n < 0)
			return;
		o += (size_t)n;
	}
}
