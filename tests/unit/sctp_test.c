/*
 * WebRTC data channels: two associations back to back in memory, each
 * one's packets queued for the other's sctpx_input, on a link that may
 * lose, duplicate or cut them, with usrsctp's timers driven by a virtual
 * clock. A plays the DTLS client (even stream ids), B the server (odd).
 * Both open LiveKit's "_reliable" and "_lossy", as its clients do on the
 * publisher connection and its server on the subscriber one; messages go
 * both ways (64 KiB, empty, strings), channels close from either end,
 * losses are repaired by retransmission timers, a hostile peer's OPENs and
 * garbage are refused and counted, and the association fails when the
 * link dies. VG_SCTP_CAPTURE=<dir> writes one packet of each chunk type
 * seen each way, the seeds of the fuzz target.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <re.h>

#include "core/clock.h"
#include "webrtc/sctp.h"
#include <usrsctp.h> /* usrsctp_crc32c, to forge packets */

#include "test.h"

#define QMAX  4096
#define PKTSZ 1400
#define MSGS  256

struct pkt {
	size_t len;
	uint8_t b[PKTSZ];
};

struct rxmsg {
	uint16_t sid;
	uint32_t ppid;
	size_t len;
	uint32_t seq; /* the message's first 4 bytes, when it has them */
	bool intact;  /* its bytes are the pattern its seq made */
};

struct side {
	const char *name;
	struct sctpx_assoc *a;
	struct side *peer;
	struct pkt *q; /* what the peer sent, not yet fed */
	size_t qhead, qn;
	unsigned sent;
	size_t largest;
	/* what the handlers saw */
	unsigned up, closed_state, failed;
	const char *state_why;
	unsigned opened;
	struct sctpx_chan last_open;
	char last_label[SCTPX_LABEL_MAX + 1];
	bool refuse_opens;
	unsigned closes;
	uint16_t last_close;
	unsigned writable;
	unsigned nmsg;
	struct rxmsg msg[MSGS];
	bool echo;            /* send each message back */
	bool free_on_message; /* let the association go from a handler */
	uint32_t vtag;        /* its verification tag, once seen */
};

static struct {
	unsigned drop_every; /* one packet in n lost, at random */
	unsigned dup_every;  /* one in n delivered twice */
	unsigned drop_next;  /* the next n packets lost */
	unsigned count;
	unsigned dropped, duplicated;
	bool cut;
} lk;

static struct side A = {.name = "A"}, B = {.name = "B"};
static uint64_t vt_ms;          /* the virtual clock */
static unsigned want_a, want_b; /* messages got_all waits for */
static const char *capture_dir;

/*
 * usrsctp reads the wall clock (gettimeofday) besides counting the ticks
 * sctpx_timers gives it: its T3 timer resends only chunks that have been
 * out for an RTO by that clock. This process's clock runs ahead by the
 * virtual time, so both agree (and never goes back).
 */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	uint64_t us;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u +
	     vt_ms * 1000u;
	tv->tv_sec = (time_t)(us / 1000000u);
	tv->tv_usec = (suseconds_t)(us % 1000000u);
	return 0;
}

static void capture(const struct side *s, const uint8_t *pkt, size_t len)
{
	static bool seen[2][256];
	char path[512];
	uint8_t type;
	int dir = s == &A ? 0 : 1;
	FILE *f;

	if (!capture_dir || len < 16)
		return;
	type = pkt[12];
	if (seen[dir][type])
		return;
	seen[dir][type] = true;
	snprintf(path, sizeof(path), "%s/%s_chunk%u.bin", capture_dir, s->name,
	         type);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(pkt, 1, len, f);
	fclose(f);
}

/* The link's own random numbers, the same sequence every run: losses
 * at random places, but reproducible. */
static uint32_t link_seed = 1; /* VG_SCTP_SEED changes it */
static uint32_t link_state = 1;
static uint32_t link_rnd(void)
{
	link_state = link_state * 1664525u + 1013904223u;
	return link_state >> 8;
}

static bool trace;
/* VG_SCTP_TRACE=1: each packet, its chunks (type, and TSN or
 * cumulative TSN ack) on stdout. */
static void trace_pkt(const struct side *s, const uint8_t *p, size_t len)
{
	size_t off = 12;

	printf("# %6llu %s len %4zu:", (unsigned long long)vt_ms, s->name, len);
	while (off + 4 <= len) {
		size_t cl = (size_t)(p[off + 2] << 8 | p[off + 3]);
		uint32_t v = off + 8 <= len
		                 ? (uint32_t)p[off + 4] << 24 |
		                       (uint32_t)p[off + 5] << 16 |
		                       (uint32_t)p[off + 6] << 8 | p[off + 7]
		                 : 0;

		printf(" %u/%u", p[off], v);
		if (p[off] == 3 && off + 12 <= len)
			printf("(rwnd %u gaps %u)",
			       (uint32_t)p[off + 8] << 24 |
			           (uint32_t)p[off + 9] << 16 |
			           (uint32_t)p[off + 10] << 8 | p[off + 11],
			       off + 14 <= len
			           ? (unsigned)(p[off + 12] << 8 | p[off + 13])
			           : 0u);
		if (cl < 4)
			break;
		off += (cl + 3) & ~(size_t)3;
	}
	printf("\n");
}

static void enqueue(struct side *to, const uint8_t *pkt, size_t len)
{
	struct pkt *p;

	if (to->qn == QMAX || len > PKTSZ) {
		lk.dropped++;
		return;
	}
	p = &to->q[(to->qhead + to->qn++) % QMAX];
	p->len = len;
	memcpy(p->b, pkt, len);
}

static int send_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct side *s = arg;

	s->sent++;
	if (len > s->largest)
		s->largest = len;
	/* The sender's verification tag: its INIT's or INIT ACK's initiate
	 * tag, what packets to it must carry. */
	if (len >= 20 && (pkt[12] == 1 || pkt[12] == 2))
		s->vtag = (uint32_t)pkt[16] << 24 | (uint32_t)pkt[17] << 16 |
		          (uint32_t)pkt[18] << 8 | pkt[19];
	capture(s, pkt, len);
	lk.count++;
	if (lk.cut || (lk.drop_next && lk.drop_next--) ||
	    (lk.drop_every && link_rnd() % lk.drop_every == 0)) {
		if (trace)
			printf("# lost:");
		if (trace)
			trace_pkt(s, pkt, len);
		lk.dropped++;
		return 0;
	}
	if (trace)
		trace_pkt(s, pkt, len);
	enqueue(s->peer, pkt, len);
	if (lk.dup_every && link_rnd() % lk.dup_every == 0) {
		lk.duplicated++;
		enqueue(s->peer, pkt, len);
	}
	return 0;
}

static void state_h(enum sctpx_state state, const char *why, void *arg)
{
	struct side *s = arg;

	s->state_why = why;
	if (state == SCTPX_STATE_UP)
		s->up++;
	else if (state == SCTPX_STATE_CLOSED)
		s->closed_state++;
	else if (state == SCTPX_STATE_FAILED)
		s->failed++;
}

static bool open_h(const struct sctpx_chan *ch, void *arg)
{
	struct side *s = arg;

	s->opened++;
	s->last_open = *ch;
	snprintf(s->last_label, sizeof(s->last_label), "%s", ch->label);
	s->last_open.label = s->last_label;
	return !s->refuse_opens;
}

static void close_h(uint16_t sid, void *arg)
{
	struct side *s = arg;

	s->closes++;
	s->last_close = sid;
}

static void writable_h(void *arg)
{
	struct side *s = arg;

	s->writable++;
}

/* The bytes of message seq, of len bytes: its number, then a pattern. */
static void fill(uint8_t *b, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		b[i] = i < 4 ? (uint8_t)(seq >> (24 - 8 * i))
		             : (uint8_t)(seq * 7 + i * 31);
}

static void message_h(uint16_t sid, enum sctpx_ppid ppid, const uint8_t *data,
                      size_t len, void *arg)
{
	struct side *s = arg;
	struct rxmsg *m;

	if (s->nmsg < MSGS) {
		m = &s->msg[s->nmsg];
		m->sid = sid;
		m->ppid = ppid;
		m->len = len;
		m->seq = 0;
		m->intact = true;
		if (len >= 4) {
			m->seq = (uint32_t)data[0] << 24 |
			         (uint32_t)data[1] << 16 |
			         (uint32_t)data[2] << 8 | data[3];
			for (size_t i = 4; i < len; i++) {
				if (data[i] != (uint8_t)(m->seq * 7 + i * 31)) {
					m->intact = false;
					break;
				}
			}
		}
	}
	s->nmsg++;
	if (s->echo)
		(void)sctpx_send(s->a, sid, ppid, data, len, NULL);
	if (s->free_on_message)
		s->a = mem_deref(s->a);
}

/* Frees both associations and forgets everything. */
static void reset(void)
{
	struct pkt *qa = A.q, *qb = B.q;

	A.a = mem_deref(A.a);
	B.a = mem_deref(B.a);
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.name = "A";
	B.name = "B";
	A.q = qa;
	B.q = qb;
	A.peer = &B;
	B.peer = &A;
	memset(&lk, 0, sizeof(lk));
	link_state = link_seed;
	want_a = want_b = 0;
}

static struct sctpx_prm prm_for(struct side *s)
{
	struct sctpx_prm p = {0};

	p.dtls_client = s == &A;
	p.peer_max_message_size = 262144; /* libwebrtc's a=max-message-size */
	p.label = s->name;
	p.sendh = send_h;
	p.stateh = state_h;
	p.openh = open_h;
	p.messageh = message_h;
	p.closeh = close_h;
	p.writableh = writable_h;
	p.arg = s;
	return p;
}

static int make(struct side *s, const struct sctpx_prm *p)
{
	const char *why = NULL;
	int err = sctpx_alloc(&s->a, p, &why);

	if (err)
		printf("# sctpx_alloc %s: %s\n", s->name, why ? why : "?");
	return err;
}

/* Feeds every queued packet, both ways, until none is left. */
static void deliver(void)
{
	bool any = true;

	while (any) {
		any = false;
		for (int i = 0; i < 2; i++) {
			struct side *s = i ? &B : &A;

			while (s->qn && s->a) {
				struct pkt *p = &s->q[s->qhead];

				s->qhead = (s->qhead + 1) % QMAX;
				s->qn--;
				(void)sctpx_input(s->a, p->b, p->len, NULL);
				any = true;
			}
		}
	}
}

/* Runs the link, then the clock a tick at a time, until done() or max_ms
 * of virtual time. */
static bool pump(bool (*done)(void), uint32_t max_ms)
{
	uint64_t end = vt_ms + max_ms;

	for (;;) {
		deliver();
		if (done && done())
			return true;
		if (vt_ms >= end)
			return !done;
		sctpx_timers(SCTPX_TICK_MS);
		vt_ms += SCTPX_TICK_MS;
	}
}

static bool both_up(void)
{
	return sctpx_state(A.a) == SCTPX_STATE_UP &&
	       sctpx_state(B.a) == SCTPX_STATE_UP;
}

/* A and B made with default parameters (or the given ones), started
 * together, up. */
static int connect_pair(const struct sctpx_prm *pa, const struct sctpx_prm *pb)
{
	struct sctpx_prm da = prm_for(&A), db = prm_for(&B);

	reset();
	if (make(&A, pa ? pa : &da) || make(&B, pb ? pb : &db))
		return -1;
	if (sctpx_start(A.a, NULL) || sctpx_start(B.a, NULL))
		return -1;
	return pump(both_up, 10000) ? 0 : -1;
}

static int open_chan(struct side *s, const char *label, bool ordered,
                     int32_t max_rtx, uint16_t *sid)
{
	struct sctpx_chan c = {0};
	const char *why = NULL;
	int err;

	c.label = label;
	c.ordered = ordered;
	c.max_rtx = max_rtx;
	c.max_life_ms = -1;
	err = sctpx_open_channel(s->a, &c, sid, &why);
	if (err)
		printf("# open %s on %s: %s\n", label, s->name,
		       why ? why : "?");
	return err;
}

static int send_seq(struct side *s, uint16_t sid, uint32_t seq, size_t len)
{
	static uint8_t buf[SCTPX_MAX_MESSAGE_LIMIT];
	const char *why = NULL;
	int err;

	fill(buf, len, seq);
	err = sctpx_send(s->a, sid, SCTPX_PPID_BINARY, buf, len, &why);
	if (err && err != EAGAIN)
		printf("# send on %s sid %u: %s\n", s->name, sid,
		       why ? why : "?");
	return err;
}

static bool got_all(void)
{
	return A.nmsg >= want_a && B.nmsg >= want_b;
}

/* ---- tests ---- */

TEST(connect)
{
	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(A.up, 1);
	CHECK_EQ(B.up, 1);
	CHECK_EQ(sctpx_streams(A.a), SCTPX_STREAMS);
	CHECK_EQ(sctpx_streams(B.a), SCTPX_STREAMS);
	CHECK(sctpx_stats(A.a)->tx_packets > 0);
	CHECK(sctpx_stats(A.a)->rx_packets > 0);
	CHECK_EQ(sctpx_count(), 2);
	CHECK_STR(sctpx_state_name(sctpx_state(A.a)), "up");
	CHECK_EQ(sctpx_start(A.a, NULL), EALREADY);
	return 0;
}

/* B is started by A's INIT, not by its own sctpx_start. */
TEST(connect_by_peer)
{
	struct sctpx_prm pa = prm_for(&A), pb = prm_for(&B);

	reset();
	CHECK_EQ(make(&A, &pa), 0);
	CHECK_EQ(make(&B, &pb), 0);
	CHECK_EQ(sctpx_state(B.a), SCTPX_STATE_NEW);
	CHECK_EQ(sctpx_start(A.a, NULL), 0);
	CHECK_EQ(sctpx_state(A.a), SCTPX_STATE_CONNECTING);
	CHECK(pump(both_up, 5000));
	CHECK_EQ(sctpx_start(B.a, NULL), EALREADY);
	return 0;
}

/* Packets never exceed the MTU, the default or a small one. */
TEST(mtu)
{
	struct sctpx_prm pa = prm_for(&A), pb = prm_for(&B);
	uint16_t s0;

	pa.mtu = pb.mtu = 600;
	CHECK_EQ(connect_pair(&pa, &pb), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &s0), 0);
	CHECK_EQ(send_seq(&A, s0, 1, 65536), 0);
	want_b = 1;
	want_a = 0;
	CHECK(pump(got_all, 5000));
	CHECK(B.msg[0].intact && B.msg[0].len == 65536);
	CHECK(A.largest <= 600 && A.largest > 500);
	CHECK(B.largest <= 600);

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &s0), 0);
	CHECK_EQ(send_seq(&B, s0, 1, 65536), 0);
	want_a = 1;
	want_b = 0;
	CHECK(pump(got_all, 5000));
	CHECK(B.largest <= SCTPX_MTU_DEFAULT && B.largest > 1100);
	return 0;
}

/* LiveKit's layout: each side opens "_reliable" (ordered, reliable) and
 * "_lossy" (unordered, no retransmission); DCEP ACKs come back; ids are
 * even from the DTLS client, odd from the server. */
TEST(livekit_channels)
{
	uint16_t ar, al, br, bl;
	struct sctpx_chan ch;
	bool acked, closing;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &ar), 0);
	CHECK_EQ(open_chan(&A, "_lossy", false, 0, &al), 0);
	CHECK_EQ(ar, 0);
	CHECK_EQ(al, 2);
	CHECK_EQ(sctpx_channel(A.a, ar, &ch, &acked, &closing), 0);
	CHECK(!acked);
	CHECK(pump(NULL, 200));
	CHECK_EQ(B.opened, 2);
	CHECK_STR(B.last_label, "_lossy");
	CHECK(!B.last_open.ordered);
	CHECK_EQ(B.last_open.max_rtx, 0);
	CHECK_EQ(B.last_open.max_life_ms, -1);
	CHECK_EQ(B.last_open.sid, 2);
	CHECK_EQ(sctpx_channel(B.a, 0, &ch, &acked, &closing), 0);
	CHECK_STR(ch.label, "_reliable");
	CHECK(ch.ordered);
	CHECK_EQ(ch.max_rtx, -1);
	CHECK_EQ(sctpx_channel(A.a, ar, &ch, &acked, &closing), 0);
	CHECK(acked && !closing);
	CHECK_EQ(sctpx_channel(A.a, al, &ch, &acked, &closing), 0);
	CHECK(acked);
	CHECK_EQ(sctpx_stats(A.a)->dcep_bad, 0);

	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &br), 0);
	CHECK_EQ(open_chan(&B, "_lossy", false, 0, &bl), 0);
	CHECK_EQ(br, 1);
	CHECK_EQ(bl, 3);
	CHECK(pump(NULL, 200));
	CHECK_EQ(A.opened, 2);
	CHECK_EQ(sctpx_channels(A.a), 4);
	CHECK_EQ(sctpx_channels(B.a), 4);
	CHECK_EQ(sctpx_channel(B.a, bl, &ch, &acked, &closing), 0);
	CHECK(acked);

	/* A binary message on each of the four, each way. */
	uint16_t sids[4] = {ar, al, br, bl};
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(send_seq(&A, sids[i], 100 + i, 300), 0);
		CHECK_EQ(send_seq(&B, sids[i], 200 + i, 300), 0);
	}
	want_a = want_b = 4;
	CHECK(pump(got_all, 1000));
	for (int i = 0; i < 4; i++) {
		CHECK(A.msg[i].intact && B.msg[i].intact);
		CHECK_EQ(A.msg[i].ppid, SCTPX_PPID_BINARY);
		CHECK_EQ(B.msg[i].len, 300);
	}
	CHECK_EQ(sctpx_stats(B.a)->chan_opened, 4);
	return 0;
}

/* A message sent before the ACK is back goes ordered, and the peer takes
 * it; a message received before the ACK acknowledges the OPEN. */
TEST(message_before_ack)
{
	uint16_t sid;
	bool acked;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	B.echo = true;
	CHECK_EQ(open_chan(&A, "_lossy", false, 0, &sid), 0);
	CHECK_EQ(send_seq(&A, sid, 7, 100), 0);
	want_a = want_b = 1;
	CHECK(pump(got_all, 1000));
	CHECK(B.msg[0].intact && B.msg[0].seq == 7);
	CHECK(A.msg[0].intact && A.msg[0].seq == 7);
	CHECK_EQ(sctpx_channel(A.a, sid, NULL, &acked, NULL), 0);
	CHECK(acked);
	return 0;
}

TEST(messages)
{
	static uint8_t text[] = "hello, data channel";
	uint16_t ar, br;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &ar), 0);
	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &br), 0);
	CHECK(pump(NULL, 100));
	/* 64 KiB, empty binary, empty string, a string, and sizes around
	 * the MTU; from A to B on A's channel and B to A on B's. */
	CHECK_EQ(send_seq(&A, ar, 1, 65536), 0);
	CHECK_EQ(sctpx_send(A.a, ar, SCTPX_PPID_BINARY, NULL, 0, NULL), 0);
	CHECK_EQ(sctpx_send(A.a, ar, SCTPX_PPID_STRING, NULL, 0, NULL), 0);
	CHECK_EQ(sctpx_send(A.a, ar, SCTPX_PPID_STRING, text, sizeof(text) - 1,
	                    NULL),
	         0);
	CHECK_EQ(sctpx_send(A.a, ar, SCTPX_PPID_BINARY_EMPTY, NULL, 0, NULL),
	         0);
	for (uint32_t i = 0; i < 10; i++)
		CHECK_EQ(send_seq(&A, ar, 10 + i, 1100 + i * 20), 0);
	CHECK_EQ(send_seq(&B, br, 2, 65536), 0);
	CHECK_EQ(sctpx_send(B.a, br, SCTPX_PPID_BINARY, NULL, 0, NULL), 0);
	want_b = 15;
	want_a = 2;
	CHECK(pump(got_all, 5000));
	CHECK_EQ(B.nmsg, 15);
	CHECK(B.msg[0].intact && B.msg[0].len == 65536 && B.msg[0].seq == 1);
	CHECK_EQ(B.msg[1].ppid, SCTPX_PPID_BINARY_EMPTY);
	CHECK_EQ(B.msg[1].len, 0);
	CHECK_EQ(B.msg[2].ppid, SCTPX_PPID_STRING_EMPTY);
	CHECK_EQ(B.msg[3].ppid, SCTPX_PPID_STRING);
	CHECK_EQ(B.msg[3].len, sizeof(text) - 1);
	CHECK_EQ(B.msg[4].ppid, SCTPX_PPID_BINARY_EMPTY);
	for (uint32_t i = 0; i < 10; i++) {
		CHECK(B.msg[5 + i].intact);
		CHECK_EQ(B.msg[5 + i].seq, 10 + i); /* in order */
		CHECK_EQ(B.msg[5 + i].len, 1100 + i * 20);
	}
	CHECK(A.msg[0].intact && A.msg[0].len == 65536);
	CHECK_EQ(A.msg[1].len, 0);
	CHECK(sctpx_ppid_binary(A.msg[1].ppid));
	CHECK_EQ(sctpx_stats(B.a)->msg_rx, 15);
	CHECK_EQ(sctpx_stats(A.a)->msg_tx, 15);
	CHECK_EQ(sctpx_stats(B.a)->rx_buf_grown, 4); /* 4 KiB to 64 */

	/* Refusals: a PPID of neither kind, an empty PPID with data, a
	 * stream with no channel. */
	CHECK_EQ(sctpx_send(A.a, ar, SCTPX_PPID_DCEP, text, 3, NULL), EINVAL);
	CHECK_EQ(sctpx_send(A.a, ar, SCTPX_PPID_STRING_EMPTY, text, 3, NULL),
	         EINVAL);
	CHECK_EQ(sctpx_send(A.a, 40, SCTPX_PPID_BINARY, text, 3, NULL), ENOENT);
	return 0;
}

/* The largest message each side takes (256 KiB, LiveKit's
 * a=max-message-size), past usrsctp's partial delivery point (half its
 * receive buffer): read in pieces, whole at the end, both ways. */
TEST(largest_message)
{
	uint16_t ar, br;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &ar), 0);
	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &br), 0);
	CHECK(pump(NULL, 100));
	CHECK_EQ(send_seq(&A, ar, 1, SCTPX_MAX_MESSAGE_DEFAULT), 0);
	/* It fills the send buffer on its own. */
	CHECK_EQ(send_seq(&A, ar, 2, 10), EAGAIN);
	CHECK_EQ(send_seq(&B, br, 3, SCTPX_MAX_MESSAGE_DEFAULT), 0);
	want_a = want_b = 1;
	CHECK(pump(got_all, 20000));
	CHECK_EQ(send_seq(&A, ar, 2, 10), 0);
	want_b = 2;
	CHECK(pump(got_all, 1000));
	CHECK(B.msg[0].intact && B.msg[0].len == SCTPX_MAX_MESSAGE_DEFAULT);
	CHECK(B.msg[1].intact && B.msg[1].seq == 2);
	CHECK(A.msg[0].intact && A.msg[0].len == SCTPX_MAX_MESSAGE_DEFAULT);
	CHECK_EQ(sctpx_stats(B.a)->msg_too_big, 0);
	CHECK_EQ(send_seq(&A, ar, 4, SCTPX_MAX_MESSAGE_DEFAULT + 1), EMSGSIZE);
	return 0;
}

/* What each side takes: larger messages are refused by the sender, or,
 * when the sender was told a larger limit, dropped by the receiver, which
 * goes on. */
TEST(message_size)
{
	struct sctpx_prm pa = prm_for(&A), pb = prm_for(&B);
	uint16_t sid;

	pa.peer_max_message_size = 70000;
	pb.max_message_size = 20000;
	CHECK_EQ(connect_pair(&pa, &pb), 0);
	CHECK_EQ(sctpx_send_max(A.a), 70000);
	CHECK_EQ(sctpx_send_max(B.a), 262144);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK_EQ(send_seq(&A, sid, 1, 70001), EMSGSIZE);
	CHECK_EQ(send_seq(&A, sid, 2, 60000), 0);
	CHECK_EQ(send_seq(&A, sid, 3, 20000), 0);
	CHECK_EQ(send_seq(&A, sid, 4, 20001), 0);
	CHECK_EQ(send_seq(&A, sid, 5, 10), 0);
	want_b = 2;
	CHECK(pump(got_all, 5000));
	CHECK(pump(NULL, 500));
	CHECK_EQ(B.nmsg, 2);
	CHECK(B.msg[0].seq == 3 && B.msg[0].intact && B.msg[0].len == 20000);
	CHECK(B.msg[1].seq == 5 && B.msg[1].intact);
	CHECK_EQ(sctpx_stats(B.a)->msg_too_big, 2);
	return 0;
}

/* The send buffer is bounded: EAGAIN, then the writable handler once the
 * peer has acknowledged, then sending again. */
TEST(send_buffer)
{
	uint16_t sid;
	unsigned n = 0;
	int err = 0;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	while (n < 100 && (err = send_seq(&A, sid, n, 65536)) == 0)
		n++;
	CHECK_EQ(err, EAGAIN);
	CHECK(n >= 2 && n <= SCTPX_SNDBUF / 65536);
	CHECK_EQ(sctpx_stats(A.a)->send_blocked, 1);
	CHECK_EQ(A.writable, 0);
	want_b = n;
	CHECK(pump(got_all, 10000));
	CHECK(A.writable >= 1);
	CHECK_EQ(send_seq(&A, sid, n, 65536), 0);
	want_b = n + 1;
	CHECK(pump(got_all, 5000));
	for (unsigned i = 0; i <= n; i++)
		CHECK(B.msg[i].intact && B.msg[i].seq == i);
	return 0;
}

/* Closing from the opener's side and from the other side: both ends see
 * the close, and the id is free again afterwards. */
TEST(close)
{
	uint16_t a0, a2, b1, again;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &a0), 0);
	CHECK_EQ(open_chan(&A, "_lossy", false, 0, &a2), 0);
	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &b1), 0);
	CHECK(pump(NULL, 100));
	CHECK_EQ(sctpx_channels(A.a), 3);

	CHECK_EQ(sctpx_close_channel(A.a, a0, NULL), 0);
	CHECK_EQ(sctpx_close_channel(A.a, a0, NULL), EALREADY);
	CHECK_EQ(sctpx_send(A.a, a0, SCTPX_PPID_BINARY, (const uint8_t *)"x", 1,
	                    NULL),
	         ENOENT);
	CHECK(pump(NULL, 500));
	CHECK_EQ(A.closes, 1);
	CHECK_EQ(B.closes, 1);
	CHECK_EQ(A.last_close, a0);
	CHECK_EQ(B.last_close, a0);
	CHECK_EQ(sctpx_channel(A.a, a0, NULL, NULL, NULL), ENOENT);
	CHECK_EQ(sctpx_channel(B.a, a0, NULL, NULL, NULL), ENOENT);

	/* B closes A's "_lossy". */
	CHECK_EQ(sctpx_close_channel(B.a, a2, NULL), 0);
	CHECK(pump(NULL, 500));
	CHECK_EQ(A.closes, 2);
	CHECK_EQ(B.closes, 2);
	CHECK_EQ(A.last_close, a2);
	CHECK_EQ(sctpx_channels(A.a), 1);
	CHECK_EQ(sctpx_channels(B.a), 1);

	/* Ids come back: A's next channel takes 0 again. */
	CHECK_EQ(open_chan(&A, "again", true, -1, &again), 0);
	CHECK_EQ(again, 0);
	CHECK_EQ(send_seq(&A, again, 9, 100), 0);
	want_b = 1;
	CHECK(pump(got_all, 500));
	CHECK(B.msg[0].sid == 0 && B.msg[0].seq == 9);
	CHECK_STR(B.last_label, "again");

	/* B's own channel still carries messages. */
	CHECK_EQ(send_seq(&A, b1, 10, 100), 0);
	want_b = 2;
	CHECK(pump(got_all, 500));
	CHECK_EQ(sctpx_stats(A.a)->chan_closed, 2);
	CHECK_EQ(sctpx_close_channel(A.a, 99, NULL), ENOENT);
	return 0;
}

/* One packet in five lost: messages arrive whole and in order, repaired
 * by the retransmission timers. */
TEST(loss_recovery)
{
	uint16_t sid;
	uint64_t t0;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	lk.drop_every = 5;
	t0 = vt_ms;
	for (uint32_t i = 0; i < 40; i++)
		CHECK_EQ(send_seq(&A, sid, i, 500 + (i % 5) * 700), 0);
	CHECK_EQ(send_seq(&A, sid, 40, 65536), 0);
	want_b = 41;
	CHECK(pump(got_all, 120000));
	CHECK(lk.dropped > 10);
	for (uint32_t i = 0; i <= 40; i++) {
		CHECK(B.msg[i].intact);
		CHECK_EQ(B.msg[i].seq, i);
	}
	CHECK_EQ(B.nmsg, 41);
	printf("# loss recovery: %u of %u packets lost, %llu ms virtual\n",
	       lk.dropped, lk.count, (unsigned long long)(vt_ms - t0));

	/* A lone message lost: nothing after it can trigger a fast
	 * retransmission, only the T3 timer resends it. */
	lk.drop_every = 0;
	CHECK(pump(NULL, 1000));
	lk.drop_next = 1;
	t0 = vt_ms;
	CHECK_EQ(send_seq(&A, sid, 41, 100), 0);
	want_b = 42;
	CHECK(pump(got_all, 20000));
	CHECK_EQ(B.msg[41].seq, 41);
	CHECK(vt_ms - t0 >= 200); /* RTO_MIN_MS at least */
	return 0;
}

/* Duplicated packets deliver each message once. */
TEST(duplicates)
{
	uint16_t sid;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	lk.dup_every = 2;
	for (uint32_t i = 0; i < 20; i++)
		CHECK_EQ(send_seq(&A, sid, i, 2000), 0);
	want_b = 20;
	CHECK(pump(got_all, 5000));
	CHECK(pump(NULL, 1000));
	CHECK(lk.duplicated > 5);
	CHECK_EQ(B.nmsg, 20);
	for (uint32_t i = 0; i < 20; i++)
		CHECK(B.msg[i].seq == i && B.msg[i].intact);
	return 0;
}

/* "_lossy" on a lossy link: what is lost stays lost (no retransmission,
 * no stall), nothing arrives twice or damaged, and the reliable channel
 * beside it still delivers everything. */
TEST(lossy_channel)
{
	uint16_t rel, lossy;
	unsigned lossy_got = 0, rel_got = 0;
	bool seen[60] = {false};

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &rel), 0);
	CHECK_EQ(open_chan(&A, "_lossy", false, 0, &lossy), 0);
	CHECK(pump(NULL, 100));
	lk.drop_every = 4;
	for (uint32_t i = 0; i < 60; i++) {
		CHECK_EQ(send_seq(&A, lossy, i, 800), 0);
		if (i % 6 == 0)
			CHECK_EQ(send_seq(&A, rel, 1000 + i, 800), 0);
		deliver();
	}
	CHECK(pump(NULL, 60000));
	for (unsigned i = 0; i < B.nmsg; i++) {
		CHECK(B.msg[i].intact);
		if (B.msg[i].sid == lossy) {
			CHECK(B.msg[i].seq < 60 && !seen[B.msg[i].seq]);
			seen[B.msg[i].seq] = true;
			lossy_got++;
		} else {
			CHECK_EQ(B.msg[i].seq, 1000 + rel_got * 6);
			rel_got++;
		}
	}
	CHECK_EQ(rel_got, 10);
	CHECK(lossy_got < 60 && lossy_got > 20);
	printf("# lossy channel: %u of 60 arrived with 1 packet in 4 lost\n",
	       lossy_got);
	return 0;
}

/* The channel cap: A takes 4 channels; B's other OPENs are refused (B
 * sees them close) and counted; then 1000 raw OPENs change nothing. */
TEST(channel_cap)
{
	struct sctpx_prm pa = prm_for(&A), pb = prm_for(&B);
	uint16_t sid;
	uint8_t open[12 + 8] = {0x03, 0x00, 0,   0,   0,   0,   0,
	                        0,    0,    8,   0,   0,   'f', 'l',
	                        'o',  'o',  'd', '-', '-', '-'};

	pa.max_channels = 4;
	pb.max_channels = SCTPX_CHANNELS_MAX;
	CHECK_EQ(connect_pair(&pa, &pb), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(open_chan(&B, "many", true, -1, &sid), 0);
	CHECK(pump(NULL, 1000));
	CHECK_EQ(A.opened, 4);
	CHECK_EQ(sctpx_channels(A.a), 4);
	CHECK_EQ(sctpx_stats(A.a)->chan_refused, 6);
	CHECK_EQ(B.closes, 6);
	CHECK_EQ(sctpx_channels(B.a), 4);
	CHECK_EQ(A.closes, 0);
	/* A's own opens are capped the same way. */
	CHECK_EQ(open_chan(&A, "mine", true, -1, &sid), ENOSPC);

	for (int i = 0; i < 1000; i++) {
		uint16_t s = (uint16_t)(1 + 2 * (i % (SCTPX_STREAMS / 2)));

		CHECK_EQ(sctpx_send_raw(B.a, s, SCTPX_PPID_DCEP, true, open,
		                        sizeof(open), NULL),
		         0);
		if (i % 50 == 0)
			CHECK(pump(NULL, 50));
	}
	CHECK(pump(NULL, 3000));
	CHECK_EQ(sctpx_channels(A.a), 4);
	CHECK(sctpx_stats(A.a)->chan_refused > 6);
	CHECK_EQ(A.opened, 4);
	/* The four still work. */
	CHECK_EQ(send_seq(&B, 1, 77, 100), 0);
	want_a = 1;
	CHECK(pump(got_all, 1000));
	CHECK_EQ(A.msg[0].seq, 77);
	return 0;
}

/* A peer's bad DCEP messages and messages outside any channel are
 * counted and change nothing; the channels already open still work. */
TEST(hostile_dcep)
{
	static const struct {
		uint16_t sid;
		uint32_t ppid;
		size_t len;
		uint8_t b[24];
		bool refusal; /* a reset of the stream follows */
	} bad[] = {
	    {3, 50, 0, {0}, false},               /* empty */
	    {3, 50, 5, {0x03, 0, 0, 0, 0}, true}, /* short OPEN */
	    {5,
	     50,
	     14,
	     {0x03, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 'a', 'b'},
	     true}, /* lengths */
	    {7,
	     50,
	     13,
	     {0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 'x'},
	     true}, /* type */
	    {9,
	     50,
	     13,
	     {0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff},
	     true}, /* UTF-8 */
	    {11,
	     50,
	     13,
	     {0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0},
	     true},                           /* NUL */
	    {13, 50, 1, {0x02}, false},       /* ACK, nothing opened */
	    {15, 50, 1, {0x07}, false},       /* unknown type */
	    {1, 50, 2, {0x02, 0x00}, false},  /* ACK with a tail */
	    {17, 53, 4, {1, 2, 3, 4}, false}, /* no channel */
	    {1, 52, 4, {1, 2, 3, 4}, false},  /* deprecated PPID */
	    {1, 99, 4, {1, 2, 3, 4}, false},  /* unknown PPID */
	};
	uint8_t wrong_parity[13] = {0x03, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 'w'};
	uint8_t long_label[12 + SCTPX_LABEL_MAX + 1] = {
	    0x03, 0, 0, 0, 0, 0, 0, 0, 0, SCTPX_LABEL_MAX + 1};
	const struct sctpx_stats *st;
	uint16_t a0, b1;

	memset(long_label + 12, 'L', SCTPX_LABEL_MAX + 1);
	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &a0), 0);
	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &b1), 0);
	CHECK(pump(NULL, 100));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(sctpx_send_raw(B.a, bad[i].sid, bad[i].ppid, true,
		                        bad[i].b, bad[i].len, NULL),
		         0);
	/* B opens on an even id, A's parity; and with a label too long. */
	CHECK_EQ(sctpx_send_raw(B.a, 20, 50, true, wrong_parity,
	                        sizeof(wrong_parity), NULL),
	         0);
	CHECK_EQ(sctpx_send_raw(B.a, 21, 50, true, long_label,
	                        sizeof(long_label), NULL),
	         0);
	CHECK(pump(NULL, 1000));
	st = sctpx_stats(A.a);
	CHECK_EQ(A.opened, 1);
	CHECK_EQ(sctpx_channels(A.a), 2);
	CHECK_EQ(st->chan_refused, 7);
	CHECK_EQ(st->dcep_bad, 6);
	CHECK_EQ(st->msg_no_chan, 1);
	CHECK_EQ(st->msg_bad_ppid, 2);
	CHECK_EQ(A.nmsg, 0);
	CHECK_EQ(st->resets_out, 7);
	/* A repeated OPEN of an open channel is ignored. */
	uint8_t again[] = {0x03, 0,   0,   0,   0,   0,   0,   0,   0,   9,  0,
	                   0,    '_', 'r', 'e', 'l', 'i', 'a', 'b', 'l', 'e'};
	CHECK_EQ(sctpx_send_raw(B.a, b1, 50, true, again, sizeof(again), NULL),
	         0);
	CHECK(pump(NULL, 200));
	CHECK_EQ(st->dcep_bad, 7);
	CHECK_EQ(A.opened, 1);
	/* Both channels still carry messages both ways. */
	CHECK_EQ(send_seq(&A, a0, 1, 100), 0);
	CHECK_EQ(send_seq(&B, b1, 2, 100), 0);
	want_a = want_b = 1;
	CHECK(pump(got_all, 1000));
	CHECK(A.msg[0].seq == 2 && B.msg[0].seq == 1);
	return 0;
}

/* The open handler says no: the opener sees its channel close. */
TEST(open_refused)
{
	uint16_t sid;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	B.refuse_opens = true;
	CHECK_EQ(open_chan(&A, "unwanted", true, -1, &sid), 0);
	CHECK(pump(NULL, 500));
	CHECK_EQ(B.opened, 1);
	CHECK_EQ(sctpx_channels(B.a), 0);
	CHECK_EQ(A.closes, 1);
	CHECK_EQ(A.last_close, sid);
	CHECK_EQ(sctpx_channels(A.a), 0);
	CHECK_EQ(sctpx_stats(B.a)->chan_refused, 1);
	return 0;
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Random bytes in a chunk of the right length, behind a random common
 * header: past the framing checks, dropped by usrsctp's checksum. */
static size_t framed_junk(uint8_t *b, size_t body)
{
	for (size_t i = 0; i < 16 + body; i++)
		b[i] = (uint8_t)rnd();
	b[14] = (uint8_t)((4 + body) >> 8);
	b[15] = (uint8_t)(4 + body);
	if (b[12] == 1 || b[12] == 2)
		b[12] = 0; /* an INIT's parameters would be screened */
	return 16 + body;
}

/* Garbage into an association in each state: refused by the framing
 * checks, or dropped by usrsctp; the association comes up and works
 * regardless. */
TEST(garbage)
{
	struct sctpx_prm pa = prm_for(&A), pb = prm_for(&B);
	static uint8_t junk[SCTPX_PACKET_MAX + 2];
	struct sctpx_lib_stats ls0, ls1;
	unsigned refused = 0, taken = 0;
	uint16_t sid;
	size_t n;
	int err;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd();
	sctpx_lib_stats(&ls0);
	reset();
	CHECK_EQ(make(&A, &pa), 0);
	CHECK_EQ(make(&B, &pb), 0);
	CHECK_EQ(sctpx_input(A.a, junk, 0, NULL), EBADMSG);
	CHECK_EQ(sctpx_input(A.a, junk, 11, NULL), EBADMSG);
	CHECK_EQ(sctpx_input(A.a, junk, 12, NULL), EBADMSG); /* no chunk */
	CHECK_EQ(sctpx_input(A.a, junk, SCTPX_PACKET_MAX + 1, NULL), EMSGSIZE);
	CHECK_EQ(sctpx_stats(A.a)->rx_refused, 4);
	CHECK_EQ(sctpx_state(A.a), SCTPX_STATE_NEW);
	/* A well-framed packet starts the association (the peer is there:
	 * DTLS is up), and is dropped. */
	n = framed_junk(junk, 84);
	CHECK_EQ(sctpx_input(A.a, junk, n, NULL), 0);
	CHECK_EQ(sctpx_state(A.a), SCTPX_STATE_CONNECTING);
	for (int i = 0; i < 400; i++) {
		struct side *s = i % 2 ? &B : &A;

		n = i % 4 < 2 ? 12 + rnd() % 1500
		              : framed_junk(junk, rnd() % 1200);
		if (i % 4 < 2)
			for (size_t k = 0; k < n; k++)
				junk[k] = (uint8_t)rnd();
		err = sctpx_input(s->a, junk, n, NULL);
		CHECK(err == 0 || err == EBADMSG);
		refused += err == EBADMSG;
		taken += err == 0;
		if (i % 40 == 0)
			deliver();
	}
	CHECK(pump(both_up, 5000));
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	for (int i = 0; i < 400; i++) {
		struct side *s = i % 2 ? &B : &A;

		n = framed_junk(junk, rnd() % 1200);
		CHECK_EQ(sctpx_input(s->a, junk, n, NULL), 0);
		taken++;
	}
	CHECK_EQ(send_seq(&A, sid, 3, 5000), 0);
	want_b = 1;
	CHECK(pump(got_all, 2000));
	CHECK(B.msg[0].intact);
	sctpx_lib_stats(&ls1);
	CHECK(refused >= 190); /* nearly all the unframed ones */
	CHECK(ls1.bad_checksum - ls0.bad_checksum >= taken);
	CHECK(both_up());
	return 0;
}

/* A packet as the peer would send it to s: the common header with s's
 * verification tag (0 for an INIT, RFC 4960 8.5.1) and a valid CRC32c
 * around chunk bytes. */
static size_t forge(uint8_t *out, const struct side *s, const uint8_t *chunks,
                    size_t len)
{
	uint32_t crc, vtag = chunks[0] == 1 ? 0 : s->vtag;

	out[0] = out[2] = SCTPX_PORT >> 8;
	out[1] = out[3] = SCTPX_PORT & 0xff;
	out[4] = (uint8_t)(vtag >> 24);
	out[5] = (uint8_t)(vtag >> 16);
	out[6] = (uint8_t)(vtag >> 8);
	out[7] = (uint8_t)vtag;
	memset(out + 8, 0, 4);
	memcpy(out + 12, chunks, len);
	crc = usrsctp_crc32c(out, 12 + len);
	memcpy(out + 8, &crc, 4); /* as usrsctp writes it */
	return 12 + len;
}

/* usrsctp 0.9.5 loops forever on an INIT for an existing association
 * whose parameter has length 0 (fixed upstream after 0.9.5, in
 * sctp_are_there_new_addresses); malformed INIT, INIT ACK and chunk
 * framing are refused before usrsctp sees them. The alarm turns a hang
 * into a failure. */
TEST(malformed_init)
{
	static const uint8_t init_zero_param[] = {
	    1,    0,    0,    24,   /* INIT, 24 bytes */
	    0x11, 0x22, 0x33, 0x44, /* initiate tag */
	    0,    2,    0,    0,    /* a_rwnd */
	    0,    16,   0,    16,   /* streams */
	    0,    0,    0,    1,    /* initial TSN */
	    0,    0,    0,    0,    /* a parameter of length 0 */
	};
	static const uint8_t init_short_param[] = {
	    1, 0,  0, 26, 0x11, 0x22, 0x33, 0x44, 0, 2,  0, 0, 0, 16,
	    0, 16, 0, 0,  0,    1,    0x80, 0x08, 0, 12, 1, 2, 0, 0,
	};
	static const uint8_t chunk_past_end[] = {0, 3, 0, 40, 0, 0, 0, 1};
	static const uint8_t chunk_zero_len[] = {3, 0, 0, 0, 0, 0, 0, 1};
	uint8_t pkt[128];
	uint16_t sid;
	size_t n;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	CHECK(A.vtag != 0);
	alarm(20);
	n = forge(pkt, &A, init_zero_param, sizeof(init_zero_param));
	CHECK_EQ(sctpx_input(A.a, pkt, n, NULL), EBADMSG);
	n = forge(pkt, &A, init_short_param, sizeof(init_short_param));
	CHECK_EQ(sctpx_input(A.a, pkt, n, NULL), EBADMSG);
	n = forge(pkt, &A, chunk_past_end, sizeof(chunk_past_end));
	CHECK_EQ(sctpx_input(A.a, pkt, n, NULL), EBADMSG);
	n = forge(pkt, &A, chunk_zero_len, sizeof(chunk_zero_len));
	CHECK_EQ(sctpx_input(A.a, pkt, n, NULL), EBADMSG);
	alarm(0);
	CHECK_EQ(sctpx_stats(A.a)->rx_refused, 4);
	CHECK_EQ(send_seq(&B, sid, 1, 100), 0);
	want_a = 1;
	CHECK(pump(got_all, 1000));
	CHECK(both_up());
	return 0;
}

/* The link dies: the association fails on its timers, and the channels
 * close first. */
TEST(link_lost)
{
	uint16_t sid;
	uint64_t t0;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	lk.cut = true;
	t0 = vt_ms;
	CHECK_EQ(send_seq(&A, sid, 1, 100), 0);
	while (!A.failed && vt_ms - t0 < 300000)
		CHECK(pump(NULL, 1000));
	CHECK_EQ(A.failed, 1);
	printf("# link lost: the sender failed after %llu ms virtual\n",
	       (unsigned long long)(vt_ms - t0));
	CHECK_EQ(sctpx_state(A.a), SCTPX_STATE_FAILED);
	CHECK(A.state_why != NULL);
	CHECK_EQ(A.closes, 1);
	CHECK_EQ(send_seq(&A, sid, 2, 100), ENOTCONN);
	CHECK_EQ(
	    sctpx_input(A.a, (const uint8_t *)"0123456789abcdef", 16, NULL),
	    ENOTCONN);
	/* B heard nothing more: its unanswered heartbeats fail it too,
	 * later (one every 30 s, plus the RTO). */
	CHECK_EQ(B.failed, 0);
	CHECK(pump(NULL, 900000));
	CHECK_EQ(B.failed, 1);
	printf("# link lost: the receiver failed after %llu ms virtual\n",
	       (unsigned long long)(vt_ms - t0));
	return 0;
}

/* A peer that never answers: the INITs stop and the association fails. */
TEST(no_answer)
{
	struct sctpx_prm pa = prm_for(&A);

	reset();
	CHECK_EQ(make(&A, &pa), 0);
	lk.cut = true;
	CHECK_EQ(sctpx_start(A.a, NULL), 0);
	CHECK(pump(NULL, 120000));
	CHECK_EQ(sctpx_state(A.a), SCTPX_STATE_FAILED);
	CHECK_EQ(A.failed, 1);
	/* INIT, sent again Max.Init.Retransmits (8) times, then ABORT. */
	CHECK_EQ(A.sent, 1 + 8 + 1);
	return 0;
}

TEST(shutdown)
{
	uint16_t sid;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	CHECK_EQ(send_seq(&A, sid, 5, 30000), 0);
	sctpx_shutdown(A.a);
	CHECK_EQ(send_seq(&A, sid, 6, 10), ENOTCONN);
	CHECK(pump(NULL, 2000));
	CHECK_EQ(B.nmsg, 1); /* what was queued went first */
	CHECK(B.msg[0].intact);
	CHECK_EQ(sctpx_state(A.a), SCTPX_STATE_CLOSED);
	CHECK_EQ(sctpx_state(B.a), SCTPX_STATE_CLOSED);
	CHECK_EQ(A.closes, 1);
	CHECK_EQ(B.closes, 1);
	return 0;
}

/* The association freed while its peer still talks: the peer's packets
 * go nowhere, nothing is sent for the freed one, and a new association
 * then works beside the old peer. */
TEST(free_while_busy)
{
	uint16_t sid;
	struct sctpx_lib_stats ls;

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	CHECK_EQ(send_seq(&A, sid, 1, 65536), 0);
	A.a = mem_deref(A.a);
	CHECK_EQ(sctpx_count(), 1);
	CHECK(pump(NULL, 3000));
	sctpx_lib_stats(&ls);
	CHECK_EQ(sctpx_count(), 1);
	/* An association let go from inside its own handler is freed
	 * once the handler is done. */
	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK(pump(NULL, 100));
	B.free_on_message = true;
	CHECK_EQ(send_seq(&A, sid, 1, 100), 0);
	CHECK_EQ(send_seq(&A, sid, 2, 100), 0);
	CHECK(pump(NULL, 500));
	CHECK(B.a == NULL);
	CHECK_EQ(B.nmsg, 1);
	CHECK_EQ(sctpx_count(), 1);
	return 0;
}

static void *other_thread(void *arg)
{
	const char *why = NULL;
	struct sctpx_assoc *a = NULL;
	struct sctpx_prm p = prm_for(&B);
	int *res = arg;

	res[0] =
	    sctpx_input(A.a, (const uint8_t *)"0123456789abcdef", 16, &why);
	res[1] = sctpx_alloc(&a, &p, &why);
	res[2] = sctpx_send(A.a, 0, SCTPX_PPID_BINARY, (const uint8_t *)"x", 1,
	                    &why);
	sctpx_timers(10);
	return NULL;
}

TEST(wrong_thread)
{
	pthread_t th;
	int res[3] = {0};

	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(pthread_create(&th, NULL, other_thread, res), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(res[0], EPERM);
	CHECK_EQ(res[1], EPERM);
	CHECK_EQ(res[2], EPERM);
	CHECK_EQ(sctpx_count(), 2);
	return 0;
}

TEST(bad_params)
{
	struct sctpx_prm p = prm_for(&A);
	struct sctpx_assoc *a = NULL;
	struct sctpx_chan c = {.label = "x", .max_rtx = 0, .max_life_ms = 5};

	reset();
	p.sendh = NULL;
	CHECK_EQ(sctpx_alloc(&a, &p, NULL), EINVAL);
	p = prm_for(&A);
	p.mtu = 100;
	CHECK_EQ(sctpx_alloc(&a, &p, NULL), EINVAL);
	p = prm_for(&A);
	p.max_channels = SCTPX_CHANNELS_MAX + 1;
	CHECK_EQ(sctpx_alloc(&a, &p, NULL), EINVAL);
	p = prm_for(&A);
	p.max_message_size = SCTPX_MAX_MESSAGE_LIMIT + 1;
	CHECK_EQ(sctpx_alloc(&a, &p, NULL), EINVAL);
	CHECK(a == NULL);
	CHECK_EQ(sctpx_count(), 0);
	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(sctpx_open_channel(A.a, &c, NULL, NULL), EINVAL);
	c.max_life_ms = -1;
	c.label = "\xff";
	CHECK_EQ(sctpx_open_channel(A.a, &c, NULL, NULL), EINVAL);
	c.label = "timed";
	c.max_rtx = -1;
	c.max_life_ms = 300;
	c.protocol = "proto";
	CHECK_EQ(sctpx_open_channel(A.a, &c, NULL, NULL), 0);
	CHECK(pump(NULL, 100));
	CHECK_EQ(B.last_open.max_life_ms, 300);
	CHECK_EQ(B.last_open.max_rtx, -1);
	CHECK(B.last_open.ordered == false);
	return 0;
}

/* What a message costs, sent on one association and received on the
 * other (both usrsctp stacks, SACKs included). */
TEST(cost)
{
	static const size_t sizes[] = {200, 1000, 16384};
	uint16_t sid;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned n = sizes[k] > 4000 ? 500 : 5000;
		uint64_t t0;

		CHECK_EQ(connect_pair(NULL, NULL), 0);
		CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
		CHECK(pump(NULL, 100));
		t0 = clock_mono_us();
		for (unsigned i = 0; i < n; i++) {
			CHECK_EQ(send_seq(&A, sid, i, sizes[k]), 0);
			deliver();
			if (i % 50 == 49) {
				sctpx_timers(SCTPX_TICK_MS);
				deliver();
			}
		}
		CHECK(pump(NULL, 100));
		CHECK_EQ(B.nmsg, n);
		printf("# %zu-byte message: %.2f us sent and received, %.2f "
		       "packets each way\n",
		       sizes[k], (double)(clock_mono_us() - t0) / n,
		       (double)A.sent / n);
	}
	return 0;
}

/* What an association holds in the heap once up with LiveKit's two
 * channels each way (usrsctp's part included). */
/* The heap in use: ASan's allocator's figure when it runs (mallinfo2
 * then sees nothing), glibc's otherwise. */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));
static size_t heap_used(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

TEST(memory)
{
	size_t m0, m1;
	uint16_t sid;

	/* usrsctp's own tables are made with the first association. */
	CHECK_EQ(connect_pair(NULL, NULL), 0);
	reset();
	m0 = heap_used();
	CHECK_EQ(connect_pair(NULL, NULL), 0);
	CHECK_EQ(open_chan(&A, "_reliable", true, -1, &sid), 0);
	CHECK_EQ(open_chan(&A, "_lossy", false, 0, &sid), 0);
	CHECK_EQ(open_chan(&B, "_reliable", true, -1, &sid), 0);
	CHECK_EQ(open_chan(&B, "_lossy", false, 0, &sid), 0);
	CHECK(pump(NULL, 200));
	m1 = heap_used();
	printf("# memory per association, up, 4 channels: %zu bytes\n",
	       (m1 - m0) / 2);
	CHECK(m1 > m0 && (m1 - m0) / 2 < 96 * 1024);
	return 0;
}

/* VG_SCTP_ONLY=<test> runs one test. */
#define RUN_ONE(name)                                                          \
	do {                                                                   \
		if (!only || strcmp(only, #name) == 0)                         \
			RUN(name);                                             \
	} while (0)

int main(void)
{
	static struct pkt qa[QMAX], qb[QMAX];
	const char *only = getenv("VG_SCTP_ONLY");

	A.q = qa;
	B.q = qb;
	capture_dir = getenv("VG_SCTP_CAPTURE");
	trace = getenv("VG_SCTP_TRACE") != NULL;
	if (getenv("VG_SCTP_SEED"))
		link_seed = (uint32_t)strtoul(getenv("VG_SCTP_SEED"), NULL, 10);
	RUN_ONE(connect);
	RUN_ONE(connect_by_peer);
	RUN_ONE(mtu);
	RUN_ONE(livekit_channels);
	RUN_ONE(message_before_ack);
	RUN_ONE(messages);
	RUN_ONE(largest_message);
	RUN_ONE(message_size);
	RUN_ONE(send_buffer);
	RUN_ONE(close);
	RUN_ONE(loss_recovery);
	RUN_ONE(duplicates);
	RUN_ONE(lossy_channel);
	RUN_ONE(channel_cap);
	RUN_ONE(hostile_dcep);
	RUN_ONE(open_refused);
	RUN_ONE(garbage);
	RUN_ONE(malformed_init);
	RUN_ONE(link_lost);
	RUN_ONE(no_answer);
	RUN_ONE(shutdown);
	RUN_ONE(free_while_busy);
	RUN_ONE(wrong_thread);
	RUN_ONE(bad_params);
	RUN_ONE(cost);
	RUN_ONE(memory);
	reset();
	TEST_EXIT();
}
