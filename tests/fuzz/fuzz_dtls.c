/*
 * DTLS datagrams as a peer connection's socket delivers them
 * (dtls_conn_recv), and a=fingerprint values (dtls_fingerprint_parse).
 *
 * Input: a mode byte, then
 *  - mode 0 (raw): datagrams, each a 16-bit big-endian length and that
 *    many bytes, into a server connection, with a timer run after any
 *    whose length has the top bit set;
 *  - mode 1 (relay): a 16-bit length and that many bytes of operations,
 *    then hostile datagrams. A genuine client made here handshakes with
 *    a server connection; each datagram either sends takes the next
 *    operation (pass, drop, flip a byte, cut, inject a datagram before
 *    it, duplicate, run the timers; see relay_op), and once the
 *    operations are used up the rest pass. After the handshake, the
 *    hostile datagrams (a target byte, bit 0 the client; a 16-bit length;
 *    the bytes) go to either end;
 *  - mode 2: the rest is an a=fingerprint value.
 *
 * Checked: only the documented errors come back, a refused datagram
 * leaves the connection as it was, a failure says why, every datagram
 * sent is one record within the MTU; an untouched relay ends connected
 * with the same keys at both ends; once connected, nothing that cannot
 * be encrypted with the session's keys ends the session, and data still
 * flows both ways afterwards.
 *
 * The certificates are made once. Each run's handshake has fresh
 * randoms, so the bytes differ between runs but their structure does
 * not. OpenSSL's DTLS timers read the wall clock through gettimeofday,
 * which this harness replaces: running the timers moves that clock 10 s
 * ahead, so every retransmission is due at once and no run waits.
 */
#include <errno.h>
#include <sys/time.h>
#include <time.h>
#include <re.h>

#include "core/log.h"
#include "webrtc/dtls.h"

#include "fuzz.h"

#define QMAX      32
#define DGRAM_MAX 1500
#define MAX_STEPS 200

struct queue {
	size_t n;
	size_t len[QMAX];
	uint8_t b[QMAX][DGRAM_MAX];
};

struct end {
	struct dtls_conn *c;
	struct queue *to; /* the other end's inbox */
	unsigned estab;
	unsigned app;
	struct dtls_srtp_keys keys;
};

static struct dtls_cert *server_cert, *client_cert;
static struct queue q_server, q_client;
/* Datagrams lost and timer runs forced in this run: OpenSSL gives up a
 * flight after 12 timeouts, so only a few may be sure to pass. */
static unsigned disrupted;
static int64_t skew_us;

/* The wall clock as OpenSSL's DTLS timers read it (see above). */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	int64_t us;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + skew_us;
	tv->tv_sec = (time_t)(us / 1000000);
	tv->tv_usec = (suseconds_t)(us % 1000000);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *null = fopen("/dev/null", "w");
	const char *why = NULL;

	(void)argc;
	(void)argv;
	/* Every log line is formatted, with whatever the datagrams hold. */
	log_setup(LOGL_DEBUG, LOG_FORMAT_TEXT, null);
	if (!null || dtls_cert_alloc(&server_cert, &why) ||
	    dtls_cert_alloc(&client_cert, &why))
		abort();
	return 0;
}

static void push(struct queue *q, const uint8_t *p, size_t len)
{
	/* A full queue loses the datagram, as a full socket buffer would. */
	if (q->n == QMAX || len > DGRAM_MAX) {
		disrupted++;
		return;
	}
	memcpy(q->b[q->n], p, len);
	q->len[q->n++] = len;
}

static bool pop(struct queue *q, uint8_t *out, size_t *len)
{
	if (!q->n)
		return false;
	*len = q->len[0];
	memcpy(out, q->b[0], *len);
	q->n--;
	memmove(q->len, q->len + 1, q->n * sizeof(q->len[0]));
	memmove(q->b, q->b + 1, q->n * sizeof(q->b[0]));
	return true;
}

static void send_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct end *e = arg;

	FUZZ_CHECK(len >= 13 && len <= DTLS_MTU);
	FUZZ_CHECK(13 + ((size_t)pkt[11] << 8 | pkt[12]) == len);
	if (e->to)
		push(e->to, pkt, len);
}

static void estab_h(const struct dtls_srtp_keys *keys, void *arg)
{
	struct end *e = arg;

	e->estab++;
	e->keys = *keys;
}

static void recv_h(const uint8_t *data, size_t len, void *arg)
{
	struct end *e = arg;

	(void)data;
	FUZZ_CHECK(len > 0);
	e->app++;
}

static struct dtls_conn *make(struct end *e, enum dtls_role role,
                              const struct dtls_cert *peer_cert,
                              struct dtls_cert *cert)
{
	struct dtls_conn_prm p = {
	    .role = role,
	    .remote_fp = dtls_cert_fingerprint(peer_cert),
	    .label = role == DTLS_ROLE_SERVER ? "fuzz-server" : "fuzz-client",
	    .sendh = send_h,
	    .estabh = estab_h,
	    .recvh = recv_h,
	    .arg = e,
	};
	struct dtls_conn *c = NULL;

	if (dtls_conn_alloc(&c, cert, &p, NULL))
		abort();
	return c;
}

/* One datagram into c, with what must hold whatever it is. */
static int feed(struct dtls_conn *c, const uint8_t *p, size_t len)
{
	enum dtls_state before = dtls_conn_state(c);
	uint64_t rx = dtls_conn_stats(c)->rx_datagrams;
	const char *why = NULL;
	int err = dtls_conn_recv(c, p, len, &why);
	enum dtls_state after = dtls_conn_state(c);

	FUZZ_CHECK(dtls_conn_stats(c)->rx_datagrams == rx + 1);
	switch (err) {
	case 0:
		break;
	case EBADMSG:
	case EMSGSIZE:
		FUZZ_CHECK(why != NULL);
		FUZZ_CHECK(after == before);
		break;
	case ENOTCONN:
		FUZZ_CHECK(before == DTLS_STATE_CLOSED ||
		           before == DTLS_STATE_FAILED ||
		           before == DTLS_STATE_NEW);
		break;
	case EPROTO:
	case EACCES:
		FUZZ_CHECK(after == DTLS_STATE_FAILED);
		FUZZ_CHECK(why != NULL && dtls_conn_why(c) == why);
		break;
	default:
		FUZZ_CHECK(!"unexpected error from dtls_conn_recv");
	}
	if (after == DTLS_STATE_FAILED)
		FUZZ_CHECK(dtls_conn_why(c) != NULL);
	return err;
}

static void timers(struct dtls_conn *a, struct dtls_conn *b)
{
	const char *why = NULL;
	int err;

	skew_us += 10 * 1000000;
	err = dtls_conn_on_timeout(a, &why);
	FUZZ_CHECK(!err || err == ENOTCONN || err == ETIMEDOUT);
	if (b) {
		err = dtls_conn_on_timeout(b, &why);
		FUZZ_CHECK(!err || err == ENOTCONN || err == ETIMEDOUT);
	}
}

static void raw(struct fuzz_in *in)
{
	struct end srv = {0};
	int n = 0;

	srv.c = make(&srv, DTLS_ROLE_SERVER, client_cert, server_cert);
	while (in->n && n++ < 64) {
		uint16_t hdr = fuzz_u16(in);
		size_t len;
		const uint8_t *p = fuzz_take(in, hdr & 0x7fff, &len);
		uint8_t *copy = fuzz_copy(p, len, false);

		(void)feed(srv.c, copy, len);
		free(copy);
		if (hdr & 0x8000)
			timers(srv.c, NULL);
	}
	mem_deref(srv.c);
}

/*
 * Applies the next operation to a datagram on its way; false when it is
 * lost. Operations: 0 pass, 1 drop, 2 flip (16-bit position, xor byte),
 * 3 cut (16-bit length), 4 inject (16-bit length, bytes: delivered
 * first), 5 duplicate, 6 run both timers first; others pass.
 */
static bool relay_op(struct fuzz_in *ops, struct dtls_conn *to, uint8_t *d,
                     size_t *len, struct dtls_conn *a, struct dtls_conn *b,
                     bool *tampered)
{
	uint8_t op = ops->n ? fuzz_u8(ops) : 0;

	switch (op % 8) {
	case 1:
		disrupted++;
		return false;
	case 2: {
		uint16_t pos = fuzz_u16(ops);
		uint8_t x = fuzz_u8(ops);

		if (*len && x) {
			d[pos % *len] ^= x;
			*tampered = true;
		}
		return true;
	}
	case 3: {
		uint16_t cut = fuzz_u16(ops);

		if (cut < *len) {
			*len = cut;
			*tampered = true;
		}
		return true;
	}
	case 4: {
		size_t il;
		const uint8_t *p = fuzz_take(ops, fuzz_u16(ops), &il);
		uint8_t *copy = fuzz_copy(p, il, false);

		*tampered = true;
		(void)feed(to, copy, il);
		free(copy);
		return true;
	}
	case 5:
		(void)feed(to, d, *len);
		return true;
	case 6:
		disrupted++;
		timers(a, b);
		return true;
	default:
		return true;
	}
}

static void relay(struct fuzz_in *in)
{
	struct end srv = {.to = &q_client}, cli = {.to = &q_server};
	struct fuzz_in ops;
	size_t olen, len;
	bool tampered = false, settled = false, budget = true;
	uint8_t *d = malloc(DGRAM_MAX);
	int idle = 0;

	if (!d)
		abort();
	ops.p = fuzz_take(in, fuzz_u16(in), &olen);
	ops.n = olen;
	q_server.n = q_client.n = 0;
	disrupted = 0;
	srv.c = make(&srv, DTLS_ROLE_SERVER, client_cert, server_cert);
	cli.c = make(&cli, DTLS_ROLE_CLIENT, server_cert, client_cert);
	(void)dtls_conn_start(srv.c, NULL);
	(void)dtls_conn_start(cli.c, NULL);

	for (int step = 0;; step++) {
		struct end *to;

		if (step == MAX_STEPS) {
			budget = false;
			break;
		}

		if (pop(&q_server, d, &len))
			to = &srv;
		else if (pop(&q_client, d, &len))
			to = &cli;
		else {
			enum dtls_state ss = dtls_conn_state(srv.c);
			enum dtls_state cs = dtls_conn_state(cli.c);

			if (ss != DTLS_STATE_HANDSHAKE &&
			    cs != DTLS_STATE_HANDSHAKE) {
				settled = true;
				break;
			}
			/* Stalled: what was lost is sent again. */
			if (idle++ > 8)
				break;
			timers(srv.c, cli.c);
			continue;
		}
		idle = 0;
		if (relay_op(&ops, to->c, d, &len, srv.c, cli.c, &tampered))
			(void)feed(to->c, d, len);
	}

	if (budget && !tampered && !ops.n && disrupted <= 4) {
		/* A few losses, duplicates and timer runs never break it. */
		FUZZ_CHECK(settled);
		FUZZ_CHECK(dtls_conn_state(srv.c) == DTLS_STATE_CONNECTED);
		FUZZ_CHECK(dtls_conn_state(cli.c) == DTLS_STATE_CONNECTED);
	}
	if (srv.estab && cli.estab) {
		size_t n = srv.keys.key_len + srv.keys.salt_len;

		FUZZ_CHECK(srv.keys.profile == DTLS_SRTP_AEAD_AES_128_GCM);
		FUZZ_CHECK(!memcmp(srv.keys.local, cli.keys.remote, n));
		FUZZ_CHECK(!memcmp(srv.keys.remote, cli.keys.local, n));
	}

	/* Hostile datagrams once connected: none can be encrypted with the
	 * session's keys, so none may end it. */
	while (in->n) {
		uint8_t target = fuzz_u8(in);
		struct end *e = (target & 1) ? &cli : &srv;
		enum dtls_state before = dtls_conn_state(e->c);
		const uint8_t *p = fuzz_take(in, fuzz_u16(in), &len);
		uint8_t *copy = fuzz_copy(p, len, false);

		(void)feed(e->c, copy, len);
		free(copy);
		if (before == DTLS_STATE_CONNECTED)
			FUZZ_CHECK(dtls_conn_state(e->c) ==
			           DTLS_STATE_CONNECTED);
		/* What the end answered, the other end takes. */
		while (pop(&q_server, d, &len))
			(void)feed(srv.c, d, len);
		while (pop(&q_client, d, &len))
			(void)feed(cli.c, d, len);
	}
	if (dtls_conn_state(srv.c) == DTLS_STATE_CONNECTED &&
	    dtls_conn_state(cli.c) == DTLS_STATE_CONNECTED) {
		unsigned sa = srv.app, ca = cli.app;

		FUZZ_CHECK(!dtls_conn_send_app(cli.c, (const uint8_t *)"ping",
		                               4, NULL));
		FUZZ_CHECK(!dtls_conn_send_app(srv.c, (const uint8_t *)"pong",
		                               4, NULL));
		while (pop(&q_server, d, &len))
			(void)feed(srv.c, d, len);
		while (pop(&q_client, d, &len))
			(void)feed(cli.c, d, len);
		FUZZ_CHECK(srv.app == sa + 1 && cli.app == ca + 1);
	}
	mem_deref(srv.c);
	mem_deref(cli.c);
	free(d);
}

static void fingerprint(struct fuzz_in *in)
{
	uint8_t md[DTLS_FP_LEN], md2[DTLS_FP_LEN];
	char s[DTLS_FP_STR_SIZE];
	const char *why = NULL;
	char *copy = fuzz_copy(in->p, in->n, false);
	int err = dtls_fingerprint_parse(md, copy, in->n, &why);

	free(copy);
	if (err) {
		FUZZ_CHECK(err == EINVAL || err == ENOTSUP);
		FUZZ_CHECK(why != NULL);
		return;
	}
	/* What was read, written in the form we send, reads back. */
	memcpy(s, "sha-256 ", 8);
	for (size_t i = 0; i < DTLS_FP_LEN; i++)
		snprintf(s + 8 + 3 * i, 4,
		         i + 1 < DTLS_FP_LEN ? "%02X:" : "%02X", md[i]);
	FUZZ_CHECK(!dtls_fingerprint_parse(md2, s, strlen(s), NULL));
	FUZZ_CHECK(!memcmp(md, md2, DTLS_FP_LEN));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	switch (fuzz_u8(&in) % 3) {
	case 0:
		raw(&in);
		break;
	case 1:
		relay(&in);
		break;
	default:
		fingerprint(&in);
		break;
	}
	return 0;
}
