/*
 * SCTP packets and data channel messages into an association
 * (sctpx_input), in every state it goes through.
 *
 * Each run makes two associations, A and B, whose packets queue for each
 * other; the input is a mode byte and then operations that drive them:
 * start either, deliver, drop, duplicate or damage queued packets, run
 * the timers, open, use and close channels, send any PPID on any stream
 * (DCEP included) from the genuine peer, shut down, cut the link, free
 * B, and inject hostile packets into either end. An injected packet may
 * be fixed up so that usrsctp looks past its first checks: the
 * receiver's verification tag, the ports, the TSN the peer would send
 * next (for a DATA chunk first in the packet), and the CRC32c, all
 * learned from the genuine packets that went by. Seeds hold genuine
 * packets of each chunk type captured from the unit test's exchange
 * (tests/fuzz/sctp_seeds.py).
 *
 * Mode byte: bit 0, A is the DTLS client (even ids); bit 1, A takes at
 * most 2 channels; bit 2, A takes messages of at most 2000 bytes.
 * Operations, one byte each (low 4 bits the kind, high 4 bits flags; f0
 * picks B instead of A where a side is named) and their fields:
 *   0 inject   f1 vtag, f2 CRC, f3 ports and TSN; u16 len, bytes
 *   1 step     the next packet for the side: f1 drop, f2 twice,
 *              f3 damage (u16 position, u8 xor; the CRC fixed again)
 *   2 run      deliver everything queued (bounded)
 *   3 time     u16 milliseconds of timers
 *   4 start
 *   5 open     f1 ordered, f2 lossy; u8 label length, label
 *   6 send     u16 sid, u8 PPID pick, u16 len, bytes
 *   7 raw      u16 sid, u32 PPID, f1 unordered; u16 len, bytes
 *   8 close    u16 sid
 *   9 shutdown
 *  10 cut      the link loses everything from now, or no more
 *  11 free B
 *
 * Checked on every handler call: messages only on open channels, with a
 * data PPID and no longer than the receiver takes; peer-opened channels
 * of the peer's parity with bounded labels; never more channels than
 * allowed; usrsctp's timers move the wall clock it reads too (as in the
 * unit test), so retransmissions are due when the timers say so.
 */
#include <errno.h>
#include <sys/time.h>
#include <time.h>
#include <re.h>
#include <usrsctp.h>

#include "core/log.h"
#include "webrtc/sctp.h"

#include "fuzz.h"

#define QMAX    64
#define PKT_MAX 1400
#define MAX_OPS 256
#define RUN_MAX 2000 /* packets one "run" delivers at most */

struct queue {
	size_t head, n;
	size_t len[QMAX];
	uint8_t b[QMAX][PKT_MAX];
};

struct side {
	struct sctpx_assoc *a;
	struct queue in; /* packets for this side */
	struct side *peer;
	bool client;
	unsigned max_chan;
	uint32_t max_msg;
	uint32_t vtag;     /* this side's verification tag, once seen */
	uint32_t next_tsn; /* the TSN this side sends next, once seen */
	bool vtag_known, tsn_known;
};

static struct side A, B;
static bool cut;
static bool trace; /* VG_FUZZ_LOG: log lines and packets on stderr */
static uint64_t skew_ms;

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	uint64_t us;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u +
	     skew_ms * 1000u;
	tv->tv_sec = (time_t)(us / 1000000u);
	tv->tv_usec = (suseconds_t)(us % 1000000u);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *out = getenv("VG_FUZZ_LOG") ? stderr : fopen("/dev/null", "w");

	(void)argc;
	(void)argv;
	/* Every log line is formatted, with whatever the packets hold;
	 * VG_FUZZ_LOG=1 shows them. */
	if (!out)
		abort();
	trace = out == stderr;
	log_setup(LOGL_DEBUG, LOG_FORMAT_TEXT, out);
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void fix_crc(uint8_t *p, size_t len)
{
	uint32_t crc;

	if (len < 12)
		return;
	memset(p + 8, 0, 4);
	crc = usrsctp_crc32c(p, len);
	memcpy(p + 8, &crc, 4); /* as usrsctp writes it */
}

/* What the genuine packets tell: the sender's verification tag (its
 * INIT's or INIT ACK's initiate tag) and its next TSN (its DATA). */
static void learn(struct side *s, const uint8_t *p, size_t len)
{
	size_t off = 12;

	while (off + 4 <= len) {
		size_t cl = (size_t)(p[off + 2] << 8 | p[off + 3]);

		if ((p[off] == 1 || p[off] == 2) && off + 8 <= len) {
			s->vtag = rd32(p + off + 4);
			s->vtag_known = true;
		} else if (p[off] == 0 && off + 8 <= len) {
			uint32_t next = rd32(p + off + 4) + 1;

			if (!s->tsn_known || (int32_t)(next - s->next_tsn) > 0)
				s->next_tsn = next;
			s->tsn_known = true;
		}
		if (cl < 4)
			break;
		off += (cl + 3) & ~(size_t)3;
	}
}

static void push(struct queue *q, const uint8_t *p, size_t len)
{
	if (q->n == QMAX || len > PKT_MAX)
		return;
	size_t i = (q->head + q->n++) % QMAX;

	q->len[i] = len;
	memcpy(q->b[i], p, len);
}

static int send_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct side *s = arg;

	FUZZ_CHECK(len >= 12 && len <= SCTPX_MTU_DEFAULT);
	if (trace) {
		fprintf(stderr, "pkt %s len %zu:", s == &A ? "A" : "B", len);
		for (size_t off = 12; off + 4 <= len;) {
			size_t cl = (size_t)(pkt[off + 2] << 8 | pkt[off + 3]);

			fprintf(stderr, " %u", pkt[off]);
			if (cl < 4)
				break;
			off += (cl + 3) & ~(size_t)3;
		}
		fprintf(stderr, "\n");
	}
	learn(s, pkt, len);
	if (!cut && s->peer->a)
		push(&s->peer->in, pkt, len);
	return 0;
}

static bool open_h(const struct sctpx_chan *ch, void *arg)
{
	struct side *s = arg;

	/* The peer's parity: odd when we are the DTLS client. */
	FUZZ_CHECK((ch->sid % 2 == 1) == s->client);
	FUZZ_CHECK(strlen(ch->label) <= SCTPX_LABEL_MAX);
	FUZZ_CHECK(strlen(ch->protocol) <= SCTPX_PROTOCOL_MAX);
	FUZZ_CHECK(ch->max_rtx < 0 || ch->max_life_ms < 0);
	return ch->label[0] != 'x'; /* some refused */
}

static void message_h(uint16_t sid, enum sctpx_ppid ppid, const uint8_t *data,
                      size_t len, void *arg)
{
	struct side *s = arg;
	bool closing = true;

	(void)data;
	FUZZ_CHECK(ppid == SCTPX_PPID_STRING || ppid == SCTPX_PPID_BINARY ||
	           ppid == SCTPX_PPID_STRING_EMPTY ||
	           ppid == SCTPX_PPID_BINARY_EMPTY);
	FUZZ_CHECK(len <= s->max_msg);
	FUZZ_CHECK(ppid == SCTPX_PPID_STRING || ppid == SCTPX_PPID_BINARY ||
	           len == 0);
	FUZZ_CHECK(sctpx_channel(s->a, sid, NULL, NULL, &closing) == 0);
	FUZZ_CHECK(!closing);
}

static void close_h(uint16_t sid, void *arg)
{
	struct side *s = arg;

	/* Gone from the table before its user hears of it. */
	FUZZ_CHECK(sctpx_channel(s->a, sid, NULL, NULL, NULL) == ENOENT);
}

static void state_h(enum sctpx_state state, const char *why, void *arg)
{
	struct side *s = arg;

	FUZZ_CHECK(state == SCTPX_STATE_UP || why != NULL);
	FUZZ_CHECK(sctpx_state(s->a) == state);
	if (state != SCTPX_STATE_UP)
		FUZZ_CHECK(sctpx_channels(s->a) == 0);
}

static int make(struct side *s)
{
	struct sctpx_prm p = {0};

	p.dtls_client = s->client;
	p.max_channels = s->max_chan;
	p.max_message_size = s->max_msg;
	p.peer_max_message_size = 65536;
	p.label = s == &A ? "A" : "B";
	p.sendh = send_h;
	p.stateh = state_h;
	p.openh = open_h;
	p.messageh = message_h;
	p.closeh = close_h;
	p.arg = s;
	return sctpx_alloc(&s->a, &p, NULL);
}

static void feed(struct side *s, uint8_t *p, size_t len)
{
	int err;

	if (!s->a)
		return;
	err = sctpx_input(s->a, p, len, NULL);
	FUZZ_CHECK(err == 0 || err == EBADMSG || err == EMSGSIZE ||
	           err == ENOTCONN);
	FUZZ_CHECK(err != EMSGSIZE || len > SCTPX_PACKET_MAX);
}

static bool pop(struct side *s, uint8_t *buf, size_t *len)
{
	struct queue *q = &s->in;

	if (!q->n)
		return false;
	*len = q->len[q->head];
	memcpy(buf, q->b[q->head], *len);
	q->head = (q->head + 1) % QMAX;
	q->n--;
	return true;
}

static void inject(struct side *s, unsigned flags, const uint8_t *p, size_t len)
{
	static uint8_t buf[SCTPX_PACKET_MAX + 16];
	struct side *from = s->peer;

	memcpy(buf, p, len);
	if (len >= 12 && (flags & 0x2) && s->vtag_known)
		wr32(buf + 4, s->vtag);
	if (len >= 12 && (flags & 0x8)) {
		buf[0] = SCTPX_PORT >> 8;
		buf[1] = SCTPX_PORT & 0xff;
		buf[2] = SCTPX_PORT >> 8;
		buf[3] = SCTPX_PORT & 0xff;
	}
	if (len >= 20 && (flags & 0x8) && buf[12] == 0 && from->tsn_known)
		wr32(buf + 16, from->next_tsn);
	if (flags & 0x4)
		fix_crc(buf, len);
	feed(s, buf, len);
}

static void check_side(const struct side *s)
{
	const struct sctpx_stats *st;

	if (!s->a)
		return;
	FUZZ_CHECK(sctpx_channels(s->a) <= s->max_chan);
	st = sctpx_stats(s->a);
	FUZZ_CHECK(st->chan_closed <= st->chan_opened);
	FUZZ_CHECK(st->chan_opened - st->chan_closed == sctpx_channels(s->a));
}

static void op_send(struct side *s, struct fuzz_in *in, unsigned flags,
                    bool raw)
{
	static const enum sctpx_ppid picks[] = {
	    SCTPX_PPID_BINARY, SCTPX_PPID_STRING, SCTPX_PPID_BINARY_EMPTY,
	    SCTPX_PPID_STRING_EMPTY, SCTPX_PPID_DCEP};
	uint16_t sid = fuzz_u16(in);
	uint32_t ppid = raw ? fuzz_u32(in) : picks[fuzz_u8(in) % 5];
	size_t len;
	const uint8_t *p = fuzz_take(in, fuzz_u16(in), &len);
	uint8_t *c = fuzz_copy(p, len, false);
	int err;

	if (!s->a) {
		free(c);
		return;
	}
	if (raw)
		err = sctpx_send_raw(s->a, sid, ppid, !(flags & 0x2), c, len,
		                     NULL);
	else
		err =
		    sctpx_send(s->a, sid, (enum sctpx_ppid)ppid, c, len, NULL);
	FUZZ_CHECK(err == 0 || err == EINVAL || err == ENOTCONN ||
	           err == ENOENT || err == EMSGSIZE || err == EAGAIN ||
	           err == EPIPE || err == ECONNRESET);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	static uint8_t buf[PKT_MAX];
	size_t len;

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.peer = &B;
	B.peer = &A;
	cut = false;
	A.client = mode & 1;
	B.client = !A.client;
	A.max_chan = mode & 2 ? 2 : SCTPX_CHANNELS_DEFAULT;
	B.max_chan = SCTPX_CHANNELS_MAX;
	A.max_msg = mode & 4 ? 2000 : 70000;
	B.max_msg = 70000;
	if (make(&A) || make(&B))
		abort();

	for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
		uint8_t op = fuzz_u8(&in);
		unsigned kind = op & 0xf, flags = op >> 4;
		struct side *s = flags & 1 ? &B : &A;

		switch (kind) {
		case 0: {
			const uint8_t *p = fuzz_take(&in, fuzz_u16(&in), &len);

			if (len > SCTPX_PACKET_MAX + 16)
				len = SCTPX_PACKET_MAX + 16;
			inject(s, flags, p, len);
			break;
		}
		case 1:
			if (!pop(s, buf, &len))
				break;
			if (flags & 0x8) {
				uint16_t pos = fuzz_u16(&in);
				uint8_t x = fuzz_u8(&in);

				if (len)
					buf[pos % len] ^= x;
				fix_crc(buf, len);
			}
			if (flags & 0x2)
				break;
			feed(s, buf, len);
			if (flags & 0x4)
				feed(s, buf, len);
			break;
		case 2:
			for (unsigned i = 0; i < RUN_MAX; i++) {
				struct side *t = i % 2 ? &B : &A;

				if (!A.in.n && !B.in.n)
					break;
				if (pop(t, buf, &len))
					feed(t, buf, len);
			}
			break;
		case 3: {
			uint16_t ms = fuzz_u16(&in);

			skew_ms += ms;
			sctpx_timers(ms);
			break;
		}
		case 4:
			if (s->a)
				(void)sctpx_start(s->a, NULL);
			break;
		case 5: {
			struct sctpx_chan c = {0};
			uint8_t ll = fuzz_u8(&in);
			const uint8_t *p = fuzz_take(&in, ll, &len);
			char label[256];

			memcpy(label, p, len);
			label[len] = '\0';
			c.label = label;
			c.ordered = flags & 0x2;
			c.max_rtx = flags & 0x4 ? 0 : -1;
			c.max_life_ms = -1;
			if (s->a)
				(void)sctpx_open_channel(s->a, &c, NULL, NULL);
			break;
		}
		case 6:
		case 7:
			op_send(s, &in, flags, kind == 7);
			break;
		case 8:
			if (s->a)
				(void)sctpx_close_channel(s->a, fuzz_u16(&in),
				                          NULL);
			break;
		case 9:
			sctpx_shutdown(s->a);
			break;
		case 10:
			cut = !cut;
			break;
		case 11:
			B.a = mem_deref(B.a);
			B.in.n = 0;
			break;
		default:
			break;
		}
		check_side(&A);
		check_side(&B);
	}
	A.a = mem_deref(A.a);
	B.a = mem_deref(B.a);
	FUZZ_CHECK(sctpx_count() == 0);
	return 0;
}
