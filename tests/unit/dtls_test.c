/*
 * DTLS for peer connections: two connections, each with its own
 * certificate, handshake over an in-memory link (lossless, then losing
 * every third datagram, then with a small MTU) and over UDP on loopback;
 * both ends must derive the same SRTP keys for each profile, refuse a
 * wrong fingerprint, carry application data and survive garbage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/clock.h"
#include "core/log.h"
#include "webrtc/dtls.h"

#include "test.h"

#define QMAX     64
#define DGRAM_SZ 2048

struct dgram {
	size_t len;
	uint8_t b[DGRAM_SZ];
};

struct side {
	const char *name;
	struct dtls_conn *c;
	struct side *peer;
	struct dgram q[QMAX]; /* what the peer sent us, not yet fed */
	size_t qhead, qn;
	unsigned sent;
	unsigned not_one_record; /* datagrams that were not one record */
	size_t largest;
	unsigned estab;
	struct dtls_srtp_keys keys;
	unsigned app_n;
	uint8_t app[DGRAM_SZ];
	size_t app_len;
	bool echo; /* send received application data back */
	unsigned closed;
	int close_err;
	const char *close_why;
	int fd; /* UDP: sends go out here instead of the queue */
};

/* The link between the two sides: every drop_every-th datagram, counted
 * over both directions, is lost. */
static struct {
	unsigned drop_every;
	unsigned count;
	unsigned dropped;
	bool cut; /* lose everything */
} lk;

static struct side A, B;

/* OpenSSL's allocations, counted (set before its first one in main);
 * the threads test allocates from several threads. */
static atomic_long ossl_allocs;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs++;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs++;
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}
static struct dtls_cert *cert_a, *cert_b;

static void send_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct side *s = arg;
	struct side *to = s->peer;

	s->sent++;
	if (len < 13 || 13 + ((size_t)pkt[11] << 8 | pkt[12]) != len)
		s->not_one_record++;
	if (len > s->largest)
		s->largest = len;
	if (s->fd >= 0) {
		(void)send(s->fd, pkt, len, 0);
		return;
	}
	lk.count++;
	if (lk.cut || (lk.drop_every && lk.count % lk.drop_every == 0)) {
		lk.dropped++;
		return;
	}
	if (to->qn == QMAX || len > DGRAM_SZ)
		abort();
	struct dgram *d = &to->q[(to->qhead + to->qn++) % QMAX];
	d->len = len;
	memcpy(d->b, pkt, len);
}

static void estab_h(const struct dtls_srtp_keys *keys, void *arg)
{
	struct side *s = arg;

	s->estab++;
	s->keys = *keys;
}

static void recv_h(const uint8_t *data, size_t len, void *arg)
{
	struct side *s = arg;

	s->app_n++;
	s->app_len = len < DGRAM_SZ ? len : DGRAM_SZ;
	memcpy(s->app, data, s->app_len);
	if (s->echo)
		(void)dtls_conn_send_app(s->c, data, len, NULL);
}

static void close_h(int err, const char *why, void *arg)
{
	struct side *s = arg;

	s->closed++;
	s->close_err = err;
	s->close_why = why;
}

static void side_reset(struct side *s, const char *name, struct side *peer)
{
	s->c = mem_deref(s->c);
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->peer = peer;
	s->fd = -1;
}

static void reset(void)
{
	side_reset(&A, "server", &B);
	side_reset(&B, "client", &A);
	memset(&lk, 0, sizeof(lk));
}

struct opts {
	unsigned offer_a, offer_b;
	uint16_t mtu;
	uint32_t rto_ms;
	uint32_t deadline_ms;
	const char *fp_for_a; /* what A believes B's fingerprint is */
	const char *fp_for_b;
};

static struct dtls_conn_prm prm_for(struct side *s, enum dtls_role role,
                                    const char *remote_fp, unsigned offer,
                                    const struct opts *o)
{
	struct dtls_conn_prm p = {
	    .role = role,
	    .remote_fp = remote_fp,
	    .srtp_offer = offer,
	    .mtu = o->mtu,
	    .rto_ms = o->rto_ms,
	    .deadline_ms = o->deadline_ms,
	    .label = s->name,
	    .sendh = send_h,
	    .estabh = estab_h,
	    .recvh = recv_h,
	    .closeh = close_h,
	    .arg = s,
	};
	return p;
}

/* A is the server (cert_a), B the client (cert_b). */
static int make_pair(const struct opts *o)
{
	struct dtls_conn_prm pa, pb;
	const char *why = NULL;
	int err;

	reset();
	pa = prm_for(&A, DTLS_ROLE_SERVER,
	             o->fp_for_a ? o->fp_for_a : dtls_cert_fingerprint(cert_b),
	             o->offer_a, o);
	pb = prm_for(&B, DTLS_ROLE_CLIENT,
	             o->fp_for_b ? o->fp_for_b : dtls_cert_fingerprint(cert_a),
	             o->offer_b, o);
	err = dtls_conn_alloc(&A.c, cert_a, &pa, &why);
	if (!err)
		err = dtls_conn_alloc(&B.c, cert_b, &pb, &why);
	if (err)
		printf("# make_pair: %s\n", why);
	return err;
}

static bool done(const struct side *s)
{
	enum dtls_state st = dtls_conn_state(s->c);

	return st != DTLS_STATE_NEW && st != DTLS_STATE_HANDSHAKE;
}

static bool deliver_one(struct side *s)
{
	struct dgram *d;

	if (!s->qn)
		return false;
	d = &s->q[s->qhead];
	s->qhead = (s->qhead + 1) % QMAX;
	s->qn--;
	(void)dtls_conn_recv(s->c, d->b, d->len, NULL);
	return true;
}

/* Delivers queued datagrams and runs both timers until both sides are
 * connected, closed or failed, or limit_ms passes. */
static void pump(uint32_t limit_ms)
{
	uint64_t end = clock_mono_ms() + limit_ms;

	while (clock_mono_ms() < end) {
		bool moved = deliver_one(&A);

		moved = deliver_one(&B) || moved;
		if (moved)
			continue;
		if (done(&A) && done(&B))
			return;
		int ta = dtls_conn_timeout_ms(A.c);
		int tb = dtls_conn_timeout_ms(B.c);
		int t = ta < 0 ? tb : (tb < 0 || ta < tb ? ta : tb);

		if (t < 0)
			return; /* nothing will ever happen */
		if (t > 0)
			usleep((useconds_t)(t > 50 ? 50 : t) * 1000u);
		(void)dtls_conn_on_timeout(A.c, NULL);
		(void)dtls_conn_on_timeout(B.c, NULL);
	}
}

/* Delivers what is queued, without timers. */
static void drain(void)
{
	while (deliver_one(&A) || deliver_one(&B))
		;
}

static int handshake(const struct opts *o, uint32_t limit_ms)
{
	int err = make_pair(o);

	if (!err)
		err = dtls_conn_start(A.c, NULL);
	if (!err)
		err = dtls_conn_start(B.c, NULL);
	if (!err)
		pump(limit_ms);
	return err;
}

static bool keys_cross_equal(void)
{
	size_t n = A.keys.key_len + A.keys.salt_len;

	return A.keys.profile == B.keys.profile &&
	       n == B.keys.key_len + B.keys.salt_len &&
	       !memcmp(A.keys.local, B.keys.remote, n) &&
	       !memcmp(A.keys.remote, B.keys.local, n) &&
	       memcmp(A.keys.local, A.keys.remote, n) != 0;
}

/* ---- the certificate and fingerprints ---- */

TEST(cert)
{
	const X509 *xa = (const X509 *)dtls_cert_x509(cert_a);
	const X509 *xb = (const X509 *)dtls_cert_x509(cert_b);
	const char *fp = dtls_cert_fingerprint(cert_a);
	uint8_t md[DTLS_FP_LEN], dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char cn[32];
	int days = 0, secs = 0;
	EVP_PKEY *pk;
	BIGNUM *sa, *sb;

	CHECK(xa && xb && fp);
	CHECK_EQ(strlen(fp), DTLS_FP_STR_SIZE - 1);
	CHECK(!strncmp(fp, "sha-256 ", 8));
	for (size_t i = 8; fp[i]; i++) {
		if ((i - 8) % 3 == 2)
			CHECK(fp[i] == ':');
		else
			CHECK((fp[i] >= '0' && fp[i] <= '9') ||
			      (fp[i] >= 'A' && fp[i] <= 'F'));
	}
	CHECK(strcmp(fp, dtls_cert_fingerprint(cert_b)) != 0);

	/* The fingerprint is the certificate's SHA-256 digest. */
	CHECK_EQ(dtls_fingerprint_parse(md, fp, strlen(fp), NULL), 0);
	CHECK(X509_digest(xa, EVP_sha256(), dig, &dlen) == 1);
	CHECK_EQ(dlen, DTLS_FP_LEN);
	CHECK(!memcmp(md, dig, DTLS_FP_LEN));

	CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(xa),
	                                NID_commonName, cn, sizeof(cn)) > 0);
	CHECK_STR(cn, "voxgate");
	CHECK(!X509_NAME_cmp(X509_get_subject_name(xa),
	                     X509_get_issuer_name(xa)));
	pk = X509_get0_pubkey(xa);
	CHECK(pk && EVP_PKEY_is_a(pk, "EC"));
	CHECK(EVP_PKEY_get_bits(pk) == 256);
	CHECK(X509_verify((X509 *)xa, pk) == 1);
	CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(xa),
	                     X509_get0_notAfter(xa)));
	CHECK_EQ(days, 31);
	CHECK(X509_cmp_current_time(X509_get0_notBefore(xa)) < 0);
	CHECK(X509_cmp_current_time(X509_get0_notAfter(xa)) > 0);

	/* Random serials: positive, and not the same twice. */
	sa = ASN1_INTEGER_to_BN(X509_get0_serialNumber(xa), NULL);
	sb = ASN1_INTEGER_to_BN(X509_get0_serialNumber(xb), NULL);
	CHECK(sa && sb);
	CHECK(!BN_is_zero(sa) && !BN_is_negative(sa));
	CHECK(BN_cmp(sa, sb) != 0);
	BN_free(sa);
	BN_free(sb);
	return 0;
}

TEST(fingerprint_parse)
{
	static const char good[] =
	    "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	    "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:F0";
	static const char *const malformed[] = {
	    "",
	    "sha-256",
	    "sha-256 ",
	    "   ",
	    ("sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1"), /* 31 */
	    ("sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:F0:00"), /* 33 */
	    ("sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:F0:"), /* colon */
	    ("sha-256 0011:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:F0"),
	    ("sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:Fg"),
	    ("sha-256 0:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:F0:0"),
	    ("sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	     "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:F0 x"),
	};
	static const char *const other_alg[] = {
	    ("sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:"
	     "22:33"),
	    "sha-512 00:11",
	    "md5 00:11",
	    "sha-2567 00:11",
	    "sha256 00:11",
	};
	uint8_t md[DTLS_FP_LEN];
	const char *why = NULL;

	CHECK_EQ(dtls_fingerprint_parse(md, good, strlen(good), &why), 0);
	CHECK(md[0] == 0x00 && md[10] == 0xaa && md[16] == 0x0f &&
	      md[31] == 0xf0);
	/* Case-insensitive hash name, blanks around, a length that cuts a
	 * longer string. */
	{
		char buf[200];

		snprintf(buf, sizeof(buf), " \tSHA-256  %s \t", good + 8);
		CHECK_EQ(dtls_fingerprint_parse(md, buf, strlen(buf), NULL), 0);
		snprintf(buf, sizeof(buf), "%s:00", good);
		CHECK_EQ(dtls_fingerprint_parse(md, buf, strlen(good), NULL),
		         0);
		CHECK(md[31] == 0xf0);
	}
	for (size_t i = 0; i < sizeof(malformed) / sizeof(*malformed); i++) {
		why = NULL;
		if (dtls_fingerprint_parse(
		        md, malformed[i], strlen(malformed[i]), &why) != EINVAL)
			TEST_FAIL("fingerprint_parse", "accepted \"%s\"",
			          malformed[i]);
		CHECK(why != NULL);
	}
	for (size_t i = 0; i < sizeof(other_alg) / sizeof(*other_alg); i++) {
		why = NULL;
		if (dtls_fingerprint_parse(md, other_alg[i],
		                           strlen(other_alg[i]),
		                           &why) != ENOTSUP)
			TEST_FAIL("fingerprint_parse", "\"%s\" not ENOTSUP",
			          other_alg[i]);
		CHECK(strstr(why, "sha-256") != NULL);
	}
	CHECK_EQ(dtls_fingerprint_parse(md, NULL, 0, NULL), EINVAL);
	return 0;
}

/* RFC 5764 4.2: client key, server key, client salt, server salt. */
TEST(srtp_split)
{
	uint8_t m[60];
	struct dtls_srtp_keys k;

	for (size_t i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)i;
	CHECK_EQ(dtls_srtp_material_len(DTLS_SRTP_AES128_CM_SHA1_80), 60);
	CHECK_EQ(dtls_srtp_material_len(DTLS_SRTP_AEAD_AES_128_GCM), 56);
	CHECK_EQ(dtls_srtp_material_len(DTLS_SRTP_NONE), 0);

	CHECK_EQ(dtls_srtp_split(&k, DTLS_SRTP_AES128_CM_SHA1_80,
	                         DTLS_ROLE_CLIENT, m, 60),
	         0);
	CHECK(k.key_len == 16 && k.salt_len == 14);
	CHECK(k.local[0] == 0 && k.local[15] == 15);     /* client key */
	CHECK(k.local[16] == 32 && k.local[29] == 45);   /* client salt */
	CHECK(k.remote[0] == 16 && k.remote[15] == 31);  /* server key */
	CHECK(k.remote[16] == 46 && k.remote[29] == 59); /* server salt */

	CHECK_EQ(dtls_srtp_split(&k, DTLS_SRTP_AEAD_AES_128_GCM,
	                         DTLS_ROLE_SERVER, m, 56),
	         0);
	CHECK(k.key_len == 16 && k.salt_len == 12);
	CHECK(k.local[0] == 16 && k.local[15] == 31);    /* server key */
	CHECK(k.local[16] == 44 && k.local[27] == 55);   /* server salt */
	CHECK(k.remote[0] == 0 && k.remote[15] == 15);   /* client key */
	CHECK(k.remote[16] == 32 && k.remote[27] == 43); /* client salt */

	CHECK_EQ(dtls_srtp_split(&k, DTLS_SRTP_AEAD_AES_128_GCM,
	                         DTLS_ROLE_SERVER, m, 60),
	         EINVAL);
	CHECK_EQ(dtls_srtp_split(&k, DTLS_SRTP_NONE, DTLS_ROLE_SERVER, m, 0),
	         EINVAL);
	return 0;
}

/* ---- handshakes ---- */

TEST(handshake_lossless)
{
	struct opts o = {0};
	struct dtls_srtp_keys k;
	const struct dtls_stats *st;
	static const uint8_t hello[] = "hello over DTLS";
	uint64_t t0 = clock_mono_us();

	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_STR(dtls_conn_state_name(dtls_conn_state(A.c)), "connected");
	CHECK_STR(dtls_conn_state_name(dtls_conn_state(B.c)), "connected");
	printf("# handshake in memory, both ends on one thread: %.2f ms "
	       "(%u + %u datagrams, largest %zu bytes)\n",
	       (double)(clock_mono_us() - t0) / 1000.0, A.sent, B.sent,
	       A.largest > B.largest ? A.largest : B.largest);
	CHECK(A.estab == 1 && B.estab == 1);
	CHECK(A.closed == 0 && B.closed == 0);
	/* Both offer both profiles: the server prefers GCM. */
	CHECK_EQ(A.keys.profile, DTLS_SRTP_AEAD_AES_128_GCM);
	CHECK(A.keys.key_len == 16 && A.keys.salt_len == 12);
	CHECK(keys_cross_equal());
	CHECK_EQ(dtls_conn_srtp_keys(B.c, &k), 0);
	CHECK(!memcmp(&k, &B.keys, sizeof(k)));
	/* One record per datagram, within the MTU. */
	CHECK(A.not_one_record == 0 && B.not_one_record == 0);
	CHECK(A.largest <= DTLS_MTU && B.largest <= DTLS_MTU);
	st = dtls_conn_stats(A.c);
	CHECK_EQ(st->tx_datagrams, A.sent);
	CHECK_EQ(st->rx_datagrams, B.sent);
	CHECK(st->handshake_us > 0);
	CHECK_EQ(st->rx_refused, 0);

	/* Application data both ways, the largest record too. */
	CHECK(dtls_conn_app_mtu(B.c) > 1000 &&
	      dtls_conn_app_mtu(B.c) < DTLS_MTU);
	CHECK_EQ(dtls_conn_send_app(B.c, hello, sizeof(hello), NULL), 0);
	drain();
	CHECK_EQ(A.app_n, 1);
	CHECK_EQ(A.app_len, sizeof(hello));
	CHECK(!memcmp(A.app, hello, sizeof(hello)));
	A.echo = true;
	{
		uint8_t big[DTLS_MTU];
		size_t n = dtls_conn_app_mtu(B.c);
		const char *why = NULL;

		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 7);
		CHECK_EQ(dtls_conn_send_app(B.c, big, n, NULL), 0);
		drain();
		CHECK_EQ(B.app_n, 1);
		CHECK_EQ(B.app_len, n);
		CHECK(!memcmp(B.app, big, n));
		CHECK(B.largest <= DTLS_MTU);
		CHECK_EQ(dtls_conn_send_app(B.c, big, n + 1, &why), EMSGSIZE);
		CHECK(why != NULL);
	}
	CHECK_EQ(dtls_conn_stats(B.c)->app_tx, 2);
	CHECK_EQ(dtls_conn_stats(A.c)->app_rx, 2);
	CHECK(A.not_one_record == 0 && B.not_one_record == 0);
	return 0;
}

TEST(profile_cm80)
{
	struct opts o = {0};

	/* The client offers CM-80 only. */
	o.offer_b = DTLS_SRTP_OFFER_CM80;
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK(A.estab == 1 && B.estab == 1);
	CHECK_EQ(A.keys.profile, DTLS_SRTP_AES128_CM_SHA1_80);
	CHECK(A.keys.key_len == 16 && A.keys.salt_len == 14);
	CHECK(keys_cross_equal());

	/* The server accepts CM-80 only. */
	o.offer_b = 0;
	o.offer_a = DTLS_SRTP_OFFER_CM80;
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK(A.estab == 1 && B.estab == 1);
	CHECK_EQ(B.keys.profile, DTLS_SRTP_AES128_CM_SHA1_80);
	CHECK(keys_cross_equal());

	/* GCM only, both ends. */
	o.offer_a = o.offer_b = DTLS_SRTP_OFFER_GCM;
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(B.keys.profile, DTLS_SRTP_AEAD_AES_128_GCM);
	CHECK(keys_cross_equal());
	return 0;
}

TEST(profile_none_in_common)
{
	struct opts o = {0};

	o.offer_a = DTLS_SRTP_OFFER_GCM;
	o.offer_b = DTLS_SRTP_OFFER_CM80;
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_FAILED);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_FAILED);
	CHECK(A.estab == 0 && B.estab == 0);
	CHECK(A.closed == 1 && A.close_err == EPROTO);
	CHECK(strstr(dtls_conn_why(A.c), "SRTP") != NULL);
	CHECK(strstr(dtls_conn_why(B.c), "SRTP") != NULL);
	CHECK_EQ(dtls_conn_srtp_keys(A.c, &A.keys), ENOTCONN);
	return 0;
}

TEST(handshake_lossy)
{
	struct opts o = {.rto_ms = 50, .deadline_ms = 10000};
	uint64_t t0;

	CHECK_EQ(make_pair(&o), 0);
	lk.drop_every = 3;
	t0 = clock_mono_us();
	CHECK_EQ(dtls_conn_start(A.c, NULL), 0);
	CHECK_EQ(dtls_conn_start(B.c, NULL), 0);
	pump(8000);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_CONNECTED);
	printf("# every third datagram lost, first timeout 50 ms: %.1f ms, "
	       "%u datagrams lost, %llu + %llu retransmissions\n",
	       (double)(clock_mono_us() - t0) / 1000.0, lk.dropped,
	       (unsigned long long)dtls_conn_stats(A.c)->retransmits,
	       (unsigned long long)dtls_conn_stats(B.c)->retransmits);
	CHECK(lk.dropped > 0);
	CHECK(dtls_conn_stats(A.c)->retransmits +
	          dtls_conn_stats(B.c)->retransmits >
	      0);
	CHECK(keys_cross_equal());
	CHECK(A.not_one_record == 0 && B.not_one_record == 0);

	/* The server's last flight lost: the client's retransmitted
	 * Finished makes the server send it again. */
	CHECK_EQ(make_pair(&o), 0);
	CHECK_EQ(dtls_conn_start(A.c, NULL), 0);
	CHECK_EQ(dtls_conn_start(B.c, NULL), 0);
	while (dtls_conn_state(A.c) != DTLS_STATE_CONNECTED &&
	       (deliver_one(&A) || deliver_one(&B)))
		;
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_HANDSHAKE);
	B.qn = 0; /* the server's ChangeCipherSpec and Finished are lost */
	pump(3000);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_CONNECTED);
	CHECK(dtls_conn_stats(B.c)->retransmits > 0);
	CHECK(keys_cross_equal());
	return 0;
}

TEST(small_mtu)
{
	struct opts o = {.mtu = 300};

	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_CONNECTED);
	CHECK(A.largest <= 300 && B.largest <= 300);
	CHECK(A.not_one_record == 0 && B.not_one_record == 0);
	CHECK(keys_cross_equal());
	CHECK(dtls_conn_app_mtu(A.c) < 300);
	return 0;
}

/* ---- what must be refused ---- */

static char *wrong_fp(char *buf, const struct dtls_cert *cert)
{
	strcpy(buf, dtls_cert_fingerprint(cert));
	buf[8] = buf[8] == 'A' ? 'B' : 'A';
	return buf;
}

TEST(wrong_fingerprint)
{
	char fp[DTLS_FP_STR_SIZE];
	struct opts o = {0};

	/* The server was told another fingerprint for the client. */
	o.fp_for_a = wrong_fp(fp, cert_b);
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_FAILED);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_FAILED);
	CHECK(A.estab == 0 && B.estab == 0);
	CHECK_EQ(A.close_err, EACCES);
	CHECK(strstr(A.close_why, "fingerprint") != NULL);
	CHECK(strstr(dtls_conn_why(A.c), "fingerprint") != NULL);
	/* The client hears why from the alert. */
	CHECK(strstr(dtls_conn_why(B.c), "bad certificate") != NULL);
	printf("# server: %s; client: %s\n", dtls_conn_why(A.c),
	       dtls_conn_why(B.c));

	/* The client was told another fingerprint for the server. */
	o.fp_for_a = NULL;
	o.fp_for_b = wrong_fp(fp, cert_a);
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_FAILED);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_FAILED);
	CHECK(A.estab == 0 && B.estab == 0);
	CHECK_EQ(B.close_err, EACCES);
	CHECK(strstr(dtls_conn_why(B.c), "fingerprint") != NULL);

	/* Each side told its own fingerprint for the peer. */
	o.fp_for_a = dtls_cert_fingerprint(cert_a);
	o.fp_for_b = dtls_cert_fingerprint(cert_b);
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK(A.estab == 0 && B.estab == 0);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_FAILED);
	return 0;
}

TEST(fingerprint_algorithm_refused)
{
	struct dtls_conn_prm p = {
	    .role = DTLS_ROLE_SERVER,
	    .remote_fp = "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:"
	                 "49:6B:19:E5:7C:AB",
	    .sendh = send_h,
	    .arg = &A,
	};
	struct dtls_conn *c = NULL;
	const char *why = NULL;

	reset();
	CHECK_EQ(dtls_conn_alloc(&c, cert_a, &p, &why), ENOTSUP);
	CHECK(c == NULL);
	CHECK(strstr(why, "sha-256") != NULL);
	p.remote_fp = "sha-256 garbage";
	CHECK_EQ(dtls_conn_alloc(&c, cert_a, &p, &why), EINVAL);
	/* Parameters out of range. */
	p.remote_fp = dtls_cert_fingerprint(cert_b);
	p.mtu = 100;
	CHECK_EQ(dtls_conn_alloc(&c, cert_a, &p, &why), EINVAL);
	p.mtu = 0;
	p.rto_ms = DTLS_RTO_MIN_MS - 1;
	CHECK_EQ(dtls_conn_alloc(&c, cert_a, &p, &why), EINVAL);
	p.rto_ms = 0;
	p.srtp_offer = 4;
	CHECK_EQ(dtls_conn_alloc(&c, cert_a, &p, &why), EINVAL);
	p.srtp_offer = 0;
	p.sendh = NULL;
	CHECK_EQ(dtls_conn_alloc(&c, cert_a, &p, &why), EINVAL);
	CHECK(c == NULL);
	return 0;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

TEST(garbage)
{
	struct opts o = {0};
	uint8_t g[1500];
	const char *why = NULL;
	size_t n;

	CHECK_EQ(make_pair(&o), 0);
	CHECK_EQ(dtls_conn_start(A.c, NULL), 0);
	/* Not DTLS records: dropped, counted, the connection untouched. */
	CHECK_EQ(dtls_conn_recv(A.c, g, 0, &why), EBADMSG);
	for (int i = 0; i < 500; i++) {
		n = 1 + rnd() % sizeof(g);
		for (size_t j = 0; j < n; j++)
			g[j] = (uint8_t)rnd();
		g[0] = (uint8_t)(20 + rnd() % 44); /* RFC 7983's DTLS range */
		if (i % 2)
			g[1] = 0xfe;
		if (i % 4 == 1) {
			/* A header whose length runs past the datagram. */
			n = n < 13 ? 13 : n;
			g[11] = (uint8_t)((n - 13 + 1) >> 8);
			g[12] = (uint8_t)(n - 13 + 1);
		}
		if (dtls_conn_recv(A.c, g, n, &why) != EBADMSG)
			TEST_FAIL("garbage", "datagram %d (%zu bytes) taken", i,
			          n);
	}
	CHECK(why != NULL);
	CHECK_EQ(dtls_conn_stats(A.c)->rx_refused, 501);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_HANDSHAKE);
	{
		static uint8_t huge[DTLS_RX_MIN + 1];

		CHECK_EQ(dtls_conn_recv(A.c, huge, sizeof(huge), &why),
		         EMSGSIZE);
		/* The longest taken is framed, not refused for its size. */
		CHECK_EQ(dtls_conn_recv(A.c, huge, DTLS_RX_MIN, &why), EBADMSG);
	}
	/* Application data in epoch 0 cannot be genuine: refused before
	 * OpenSSL, which would end the handshake on it. */
	memset(g, 0, 40);
	g[0] = 23;
	g[1] = 0xfe;
	g[2] = 0xfd;
	g[12] = 27;
	CHECK_EQ(dtls_conn_recv(A.c, g, 40, &why), EBADMSG);
	/* No epoch beyond 1 without renegotiation. */
	g[0] = 22;
	g[4] = 5;
	CHECK_EQ(dtls_conn_recv(A.c, g, 40, &why), EBADMSG);
	/* Well framed, protected before any keys: OpenSSL discards it. */
	g[4] = 1;
	CHECK_EQ(dtls_conn_recv(A.c, g, 40, &why), 0);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_HANDSHAKE);
	/* The handshake still completes afterwards. */
	CHECK_EQ(dtls_conn_start(B.c, NULL), 0);
	pump(5000);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
	CHECK(keys_cross_equal());

	/* Once connected: records with random bodies fail their
	 * authentication and are discarded; data still flows. */
	for (int i = 0; i < 200; i++) {
		n = 13 + rnd() % 200;
		for (size_t j = 0; j < n; j++)
			g[j] = (uint8_t)rnd();
		g[0] = (uint8_t)(20 + rnd() % 4);
		g[1] = 0xfe;
		g[2] = 0xfd;
		g[3] = 0;
		g[4] = (uint8_t)(rnd() % 2); /* epoch 0 or 1 */
		g[11] = (uint8_t)((n - 13) >> 8);
		g[12] = (uint8_t)(n - 13);
		(void)dtls_conn_recv(A.c, g, n, NULL);
		if (dtls_conn_state(A.c) != DTLS_STATE_CONNECTED)
			TEST_FAIL("garbage",
			          "record %d (type %u epoch %u, %zu "
			          "bytes) ended it: %s",
			          i, g[0], g[4], n, dtls_conn_why(A.c));
	}
	/* Every length of a protected record, the short ones included
	 * (OpenSSL 3.0 would answer those with an internal_error alert). */
	for (n = 13; n < 13 + 64; n++) {
		memset(g, 0x5a, n);
		g[0] = 23;
		g[1] = 0xfe;
		g[2] = 0xfd;
		g[3] = 0;
		g[4] = 1;
		g[11] = 0;
		g[12] = (uint8_t)(n - 13);
		(void)dtls_conn_recv(A.c, g, n, NULL);
		if (dtls_conn_state(A.c) != DTLS_STATE_CONNECTED)
			TEST_FAIL("garbage",
			          "a %zu-byte protected record "
			          "ended it: %s",
			          n - 13, dtls_conn_why(A.c));
	}
	CHECK_EQ(dtls_conn_send_app(B.c, (const uint8_t *)"x", 1, NULL), 0);
	CHECK_EQ(dtls_conn_send_app(A.c, (const uint8_t *)"y", 1, NULL), 0);
	drain();
	CHECK_EQ(A.app_n, 1);
	CHECK_EQ(B.app_n, 1);
	CHECK(A.closed == 0 && B.closed == 0);
	return 0;
}

TEST(hostile_client_hello)
{
	struct opts o = {0};
	/* A handshake record: a ClientHello whose fragment claims more than
	 * its message length. */
	static const uint8_t bad[] = {
	    22,   0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12 + 4, /* record */
	    1,    0,    0,    2,                                 /* length */
	    0,    0,                                             /* seq */
	    0,    0,    0,    0, 0, 4,                           /* frag */
	    0xfe, 0xfd, 0,    0,
	};
	const char *why = NULL;
	int err;

	CHECK_EQ(make_pair(&o), 0);
	err = dtls_conn_recv(A.c, bad, sizeof(bad), &why);
	CHECK_EQ(err, EPROTO);
	CHECK(why != NULL);
	printf("# hostile ClientHello: %s\n", why);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_FAILED);
	CHECK(A.closed == 1 && A.close_err == EPROTO);
	/* A failed connection takes nothing more and has no timer. */
	CHECK_EQ(dtls_conn_recv(A.c, bad, sizeof(bad), &why), ENOTCONN);
	CHECK_EQ(dtls_conn_timeout_ms(A.c), -1);
	CHECK_EQ(dtls_conn_on_timeout(A.c, &why), ENOTCONN);
	CHECK_EQ(dtls_conn_send_app(A.c, bad, 1, &why), ENOTCONN);
	CHECK_EQ(dtls_conn_stats(A.c)->rx_ignored, 1);
	return 0;
}

TEST(deadline)
{
	struct opts o = {.rto_ms = 50, .deadline_ms = 300};
	const char *why = NULL;
	uint64_t t0;
	int t;

	/* A client whose ClientHellos are all lost. */
	CHECK_EQ(make_pair(&o), 0);
	lk.cut = true;
	t0 = clock_mono_ms();
	CHECK_EQ(dtls_conn_timeout_ms(B.c), -1); /* not started */
	CHECK_EQ(dtls_conn_start(B.c, NULL), 0);
	CHECK_EQ(dtls_conn_start(B.c, &why), EALREADY);
	while ((t = dtls_conn_timeout_ms(B.c)) >= 0 &&
	       clock_mono_ms() - t0 < 2000) {
		CHECK(t <= 300);
		usleep((useconds_t)t * 1000u);
		(void)dtls_conn_on_timeout(B.c, &why);
	}
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_FAILED);
	CHECK_EQ(B.close_err, ETIMEDOUT);
	CHECK(strstr(B.close_why, "deadline") != NULL);
	CHECK(clock_mono_ms() - t0 >= 300);
	CHECK(dtls_conn_stats(B.c)->retransmits >= 2);
	CHECK(B.sent >= 3);

	/* A server that never hears a ClientHello. */
	CHECK_EQ(make_pair(&o), 0);
	CHECK_EQ(dtls_conn_timeout_ms(A.c), -1);
	CHECK_EQ(dtls_conn_start(A.c, NULL), 0);
	t = dtls_conn_timeout_ms(A.c);
	CHECK(t > 0 && t <= 300);
	usleep((useconds_t)t * 1000u);
	CHECK_EQ(dtls_conn_on_timeout(A.c, &why), ETIMEDOUT);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_FAILED);
	CHECK_EQ(A.sent, 0);
	return 0;
}

TEST(close_notify)
{
	struct opts o = {0};
	const char *why = NULL;

	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_CONNECTED);
	CHECK_EQ(dtls_conn_send_app(A.c, (const uint8_t *)"early", 5, NULL), 0);
	dtls_conn_close(B.c);
	CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_CLOSED);
	CHECK_EQ(B.closed, 0); /* not for our own close */
	drain();
	CHECK_EQ(B.app_n, 0); /* queued behind, never fed: B is closed */
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CLOSED);
	CHECK(A.closed == 1 && A.close_err == 0);
	CHECK(strstr(A.close_why, "close_notify") != NULL);
	CHECK_EQ(dtls_conn_send_app(A.c, (const uint8_t *)"x", 1, &why),
	         ENOTCONN);
	CHECK_EQ(dtls_conn_send_app(B.c, (const uint8_t *)"x", 1, &why),
	         ENOTCONN);
	CHECK_EQ(dtls_conn_app_mtu(A.c), 0);

	/* Data before the handshake is refused. */
	CHECK_EQ(make_pair(&o), 0);
	CHECK_EQ(dtls_conn_send_app(B.c, (const uint8_t *)"x", 1, &why),
	         ENOTCONN);
	return 0;
}

/* Over real UDP sockets on 127.0.0.1, each end driven by poll. */
static int udp_pair(int fds[2])
{
	struct sockaddr_in sa[2];
	socklen_t sl = sizeof(sa[0]);

	for (int i = 0; i < 2; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0)
			return errno;
		memset(&sa[i], 0, sizeof(sa[i]));
		sa[i].sin_family = AF_INET;
		sa[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fds[i], (struct sockaddr *)&sa[i], sizeof(sa[i])) ||
		    getsockname(fds[i], (struct sockaddr *)&sa[i], &sl))
			return errno;
	}
	for (int i = 0; i < 2; i++)
		if (connect(fds[i], (struct sockaddr *)&sa[1 - i],
		            sizeof(sa[0])))
			return errno;
	return 0;
}

TEST(udp_loopback)
{
	struct opts o = {0};
	int fds[2] = {-1, -1};
	struct side *sides[2] = {&A, &B};
	uint8_t buf[DGRAM_SZ];
	uint64_t t0, end;
	double total_ms = 0;
	int rounds = 5;

	for (int r = 0; r < rounds; r++) {
		CHECK_EQ(make_pair(&o), 0);
		CHECK_EQ(udp_pair(fds), 0);
		A.fd = fds[0];
		B.fd = fds[1];
		t0 = clock_mono_us();
		end = clock_mono_ms() + 3000;
		CHECK_EQ(dtls_conn_start(A.c, NULL), 0);
		CHECK_EQ(dtls_conn_start(B.c, NULL), 0);
		while (!(done(&A) && done(&B)) && clock_mono_ms() < end) {
			struct pollfd pfd[2] = {{fds[0], POLLIN, 0},
			                        {fds[1], POLLIN, 0}};

			if (poll(pfd, 2, 20) < 0)
				break;
			for (int i = 0; i < 2; i++) {
				ssize_t n;

				if (!(pfd[i].revents & POLLIN))
					continue;
				n = recv(fds[i], buf, sizeof(buf), 0);
				if (n > 0)
					(void)dtls_conn_recv(sides[i]->c, buf,
					                     (size_t)n, NULL);
			}
			(void)dtls_conn_on_timeout(A.c, NULL);
			(void)dtls_conn_on_timeout(B.c, NULL);
		}
		total_ms += (double)(clock_mono_us() - t0) / 1000.0;
		close(fds[0]);
		close(fds[1]);
		A.fd = B.fd = -1;
		CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
		CHECK_EQ(dtls_conn_state(B.c), DTLS_STATE_CONNECTED);
		CHECK(keys_cross_equal());
	}
	printf("# handshake over UDP on loopback, both ends on one thread: "
	       "%.2f ms on average of %d\n",
	       total_ms / rounds, rounds);
	return 0;
}

/* Handshakes on several threads at once, from the two shared
 * certificates: each thread owns its connections, the contexts are
 * shared (run under TSan by make tsan). */
struct tpair {
	struct dtls_conn *c[2];
	struct dgram q[2][QMAX]; /* q[i]: what c[i] has to read */
	size_t qn[2];
	unsigned estab;
	struct dtls_srtp_keys keys[2];
	int result;
};

struct tend {
	struct tpair *p;
	int i;
};

static void tsend_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct tend *e = arg;
	int to = 1 - e->i;

	if (e->p->qn[to] < QMAX && len <= DGRAM_SZ) {
		struct dgram *d = &e->p->q[to][e->p->qn[to]++];

		d->len = len;
		memcpy(d->b, pkt, len);
	}
}

static void testab_h(const struct dtls_srtp_keys *keys, void *arg)
{
	struct tend *e = arg;

	e->p->keys[e->i] = *keys;
	e->p->estab++;
}

static void *thread_main(void *arg)
{
	struct tpair *p = arg;
	struct tend ends[2] = {{p, 0}, {p, 1}};

	for (int round = 0; round < 4 && !p->result; round++) {
		struct dtls_conn_prm prm[2] = {
		    {.role = DTLS_ROLE_SERVER,
		     .remote_fp = dtls_cert_fingerprint(cert_b),
		     .sendh = tsend_h,
		     .estabh = testab_h,
		     .arg = &ends[0]},
		    {.role = DTLS_ROLE_CLIENT,
		     .remote_fp = dtls_cert_fingerprint(cert_a),
		     .sendh = tsend_h,
		     .estabh = testab_h,
		     .arg = &ends[1]},
		};
		size_t n = 0;

		p->estab = 0;
		p->qn[0] = p->qn[1] = 0;
		if (dtls_conn_alloc(&p->c[0], cert_a, &prm[0], NULL) ||
		    dtls_conn_alloc(&p->c[1], cert_b, &prm[1], NULL) ||
		    dtls_conn_start(p->c[1], NULL)) {
			p->result = 1;
			break;
		}
		for (int step = 0; step < 100 && p->estab < 2; step++) {
			for (int i = 0; i < 2; i++) {
				struct dgram d;

				if (!p->qn[i])
					continue;
				d = p->q[i][0];
				p->qn[i]--;
				memmove(p->q[i], p->q[i] + 1,
				        p->qn[i] * sizeof(p->q[i][0]));
				(void)dtls_conn_recv(p->c[i], d.b, d.len, NULL);
			}
		}
		n = p->keys[0].key_len + p->keys[0].salt_len;
		if (p->estab != 2 || !n ||
		    memcmp(p->keys[0].local, p->keys[1].remote, n) ||
		    memcmp(p->keys[0].remote, p->keys[1].local, n))
			p->result = 2;
		p->c[0] = mem_deref(p->c[0]);
		p->c[1] = mem_deref(p->c[1]);
	}
	return NULL;
}

TEST(threads)
{
	enum { NT = 3 };
	static struct tpair pairs[NT];
	pthread_t th[NT];

	for (int i = 0; i < NT; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, thread_main, &pairs[i]),
		         0);
	for (int i = 0; i < NT; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < NT; i++)
		CHECK_EQ(pairs[i].result, 0);
	return 0;
}

TEST(app_cost)
{
	struct opts o = {0};
	uint8_t msg[200];
	uint64_t t0;
	int n = 2000;

	memset(msg, 0x42, sizeof(msg));
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
	t0 = clock_mono_us();
	for (int i = 0; i < n; i++) {
		CHECK_EQ(dtls_conn_send_app(B.c, msg, sizeof(msg), NULL), 0);
		drain();
	}
	CHECK_EQ(A.app_n, (unsigned)n);
	printf("# application data, 200 bytes: %.2f us per record sent and "
	       "received\n",
	       (double)(clock_mono_us() - t0) / n);
	return 0;
}

/* Once a connection has carried a record of each size, sending and
 * receiving allocates nothing. */
TEST(app_no_alloc)
{
	struct opts o = {0};
	uint8_t msg[1100];
	long before;

	memset(msg, 0x17, sizeof(msg));
	CHECK_EQ(handshake(&o, 5000), 0);
	CHECK_EQ(dtls_conn_state(A.c), DTLS_STATE_CONNECTED);
	A.echo = true;
	CHECK_EQ(dtls_conn_send_app(B.c, msg, sizeof(msg), NULL), 0);
	drain();
	before = ossl_allocs;
	for (size_t i = 0; i < 100; i++) {
		CHECK_EQ(dtls_conn_send_app(B.c, msg, 1 + i * 11, NULL), 0);
		drain();
	}
	CHECK_EQ(B.app_n, 101);
	CHECK_EQ(ossl_allocs - before, 0);
	return 0;
}

TEST(cert_cost)
{
	struct dtls_cert *c = NULL;
	uint64_t t0 = clock_mono_us();
	int n = 10;

	for (int i = 0; i < n; i++) {
		c = mem_deref(c);
		CHECK_EQ(dtls_cert_alloc(&c, NULL), 0);
	}
	printf("# dtls_cert_alloc: %.2f ms each\n",
	       (double)(clock_mono_us() - t0) / 1000.0 / n);
	mem_deref(c);
	return 0;
}

int main(void)
{
	const char *why = NULL;

	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc,
	                              count_free)) {
		printf("FAIL setup: OpenSSL allocated before main\n");
		return 1;
	}
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, NULL);
	if (dtls_cert_alloc(&cert_a, &why) || dtls_cert_alloc(&cert_b, &why)) {
		printf("FAIL setup: %s\n", why);
		return 1;
	}
	RUN(cert);
	RUN(fingerprint_parse);
	RUN(srtp_split);
	RUN(handshake_lossless);
	RUN(profile_cm80);
	RUN(profile_none_in_common);
	RUN(handshake_lossy);
	RUN(small_mtu);
	RUN(wrong_fingerprint);
	RUN(fingerprint_algorithm_refused);
	RUN(garbage);
	RUN(hostile_client_hello);
	RUN(deadline);
	RUN(close_notify);
	RUN(udp_loopback);
	RUN(threads);
	RUN(app_cost);
	RUN(app_no_alloc);
	RUN(cert_cost);
	reset();
	mem_deref(cert_a);
	mem_deref(cert_b);
	TEST_EXIT();
}
