/*
 * The ICE-lite responder against libre's STUN code and RFC 5769's test
 * vectors: requests are built the way libwebrtc sends them (USERNAME,
 * ICE-CONTROLLING, USE-CANDIDATE, PRIORITY, MESSAGE-INTEGRITY,
 * FINGERPRINT) by libre's stun_msg_encode, and every reply is read back by
 * libre's stun_msg_decode and verified with stun_msg_chk_mi and
 * stun_msg_chk_fingerprint, which use OpenSSL's HMAC and zlib's CRC-32
 * rather than ours. Hand-made messages get their FINGERPRINT from a
 * bitwise CRC-32 written here.
 */
#include <stdlib.h>
#include <re.h>

#include "core/clock.h"
#include "webrtc/ice.h"

#include "allocs.h"
#include "test.h"

#define LUFRAG "vgLocalUfrag0001"
#define LPWD   "vgLocalPasswordOf32CharactersXyz"
#define RUFRAG "rmt+Ufr/"

static const uint8_t tid0[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* RFC 5769 section 2.1, the sample request: USERNAME "evtj:h6vY",
 * password "VOkJxbRl1RmTxUk/WvJxBt", SOFTWARE, PRIORITY, ICE-CONTROLLED. */
static const char rfc5769_request[] =
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e2074657374"
    "20636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576"
    "746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571"
    "a280280004e57a3bcf";

/* RFC 5769 sections 2.2 and 2.3: XOR-MAPPED-ADDRESS of 192.0.2.1 and of
 * 2001:db8:1234:5678:11:2233:4455:6677, port 32853, under tid0. */
static const uint8_t rfc5769_xor4[] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
                                       0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
static const uint8_t rfc5769_xor6[] = {
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9};

static size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* The message's length field from its size, and its last attribute,
 * FINGERPRINT, computed again. */
static void refinger(uint8_t *b, size_t n)
{
	uint32_t fp;

	b[2] = (uint8_t)((n - 20) >> 8);
	b[3] = (uint8_t)(n - 20);
	fp = crc32_bitwise(b, n - 8) ^ 0x5354554e;
	b[n - 4] = (uint8_t)(fp >> 24);
	b[n - 3] = (uint8_t)(fp >> 16);
	b[n - 2] = (uint8_t)(fp >> 8);
	b[n - 1] = (uint8_t)fp;
}

/* A request as libwebrtc builds it; each field changes one thing. */
struct req {
	const char *user; /* default LUFRAG ":" RUFRAG; "" for none */
	const char *key;  /* default LPWD; "" for no MESSAGE-INTEGRITY */
	uint8_t cls;      /* default STUN_CLASS_REQUEST */
	bool no_fingerprint, no_priority, no_role, controlled, use_candidate;
	bool optional_attr; /* SOFTWARE, standing in for GOOG-NETWORK-INFO */
	bool required_attr; /* CHANGE-REQUEST, which ICE does not know */
	const uint8_t *tid;
};

static size_t build(uint8_t *out, size_t outsz, const struct req *q)
{
	const char *user = q->user ? q->user : LUFRAG ":" RUFRAG;
	const char *key = q->key ? q->key : LPWD;
	struct mbuf *mb = mbuf_alloc(512);
	uint32_t prio = 0x6e7f1eff;
	uint64_t tiebreak = 0x1c2d3e4f5a6b7c8dull;
	struct stun_change_req chreq = {true, false};
	size_t n = 0;
	int err;

	if (!mb)
		return 0;
	err = stun_msg_encode(
	    mb, STUN_METHOD_BINDING, q->cls ? q->cls : STUN_CLASS_REQUEST,
	    q->tid ? q->tid : tid0, NULL, *key ? (const uint8_t *)key : NULL,
	    strlen(key), !q->no_fingerprint, 0x00, 7, STUN_ATTR_USERNAME,
	    *user ? user : NULL, STUN_ATTR_SOFTWARE,
	    q->optional_attr ? "libwebrtc-like" : NULL, STUN_ATTR_CONTROLLING,
	    q->no_role || q->controlled ? NULL : &tiebreak,
	    STUN_ATTR_CONTROLLED, q->controlled ? &tiebreak : NULL,
	    STUN_ATTR_USE_CAND, q->use_candidate ? &tiebreak : NULL,
	    STUN_ATTR_PRIORITY, q->no_priority ? NULL : &prio,
	    STUN_ATTR_CHANGE_REQ, q->required_attr ? &chreq : NULL);
	if (!err && mb->end <= outsz) {
		memcpy(out, mb->buf, mb->end);
		n = mb->end;
	}
	mem_deref(mb);
	return n;
}

static void responder(struct ice_lite *ice, uint64_t now)
{
	const char *why = NULL;

	ice_init(ice, now);
	if (ice_set_local(ice, LUFRAG, LPWD, &why))
		printf("# ice_set_local: %s\n", why);
}

/* A reply read back by libre: *msg (and its buffer) to mem_deref. */
static struct stun_msg *decode(const uint8_t *b, size_t n)
{
	struct mbuf *mb = mbuf_alloc(n ? n : 1);
	struct stun_msg *msg = NULL;

	if (!mb)
		return NULL;
	(void)mbuf_write_mem(mb, b, n);
	mb->pos = 0;
	if (stun_msg_decode(&msg, mb, NULL))
		msg = NULL;
	mem_deref(mb); /* the message holds its own reference */
	return msg;
}

/* The reply verifies under pwd (integrity and fingerprint), answers tid
 * with cls, and, for a success, maps src. */
static bool reply_ok(const uint8_t *b, size_t n, const char *pwd,
                     const uint8_t *tid, uint16_t cls, const struct sa *src)
{
	struct stun_msg *msg = decode(b, n);
	struct stun_attr *a;
	bool ok;

	if (!msg)
		return false;
	ok = stun_msg_class(msg) == cls &&
	     stun_msg_method(msg) == STUN_METHOD_BINDING &&
	     stun_msg_mcookie(msg) && !memcmp(stun_msg_tid(msg), tid, 12) &&
	     stun_msg_chk_mi(msg, (const uint8_t *)pwd, strlen(pwd)) == 0 &&
	     stun_msg_chk_fingerprint(msg) == 0 &&
	     !stun_msg_attr(msg, STUN_ATTR_USERNAME);
	if (ok && src) {
		a = stun_msg_attr(msg, STUN_ATTR_XOR_MAPPED_ADDR);
		ok = a && sa_cmp(&a->v.xor_mapped_addr, src, SA_ALL);
	}
	mem_deref(msg);
	return ok;
}

static uint16_t error_code(const uint8_t *b, size_t n)
{
	struct stun_msg *msg = decode(b, n);
	struct stun_attr *a =
	    msg ? stun_msg_attr(msg, STUN_ATTR_ERR_CODE) : NULL;
	uint16_t code = a ? a->v.err_code.code : 0;

	mem_deref(msg);
	return code;
}

static uint64_t total(const struct ice_lite *ice)
{
	uint64_t t = 0;

	for (int i = 0; i < ICE_RX_COUNT; i++)
		t += ice->count[i];
	return t;
}

TEST(demux_first_byte)
{
	static const struct {
		uint8_t b0, b1;
		enum ice_pkt want;
	} c[] = {
	    {0, 1, ICE_PKT_STUN},     {3, 0, ICE_PKT_STUN},
	    {4, 0, ICE_PKT_OTHER},    {19, 0, ICE_PKT_OTHER},
	    {20, 0, ICE_PKT_DTLS},    {22, 254, ICE_PKT_DTLS},
	    {63, 0, ICE_PKT_DTLS},    {64, 0, ICE_PKT_OTHER},
	    {127, 0, ICE_PKT_OTHER},  {128, 0, ICE_PKT_RTP},
	    {128, 111, ICE_PKT_RTP},  {128, 191, ICE_PKT_RTP},
	    {128, 192, ICE_PKT_RTCP}, {129, 200, ICE_PKT_RTCP},
	    {191, 223, ICE_PKT_RTCP}, {144, 224, ICE_PKT_RTP},
	    {191, 255, ICE_PKT_RTP},  {192, 200, ICE_PKT_OTHER},
	    {255, 0, ICE_PKT_OTHER},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t b[2] = {c[i].b0, c[i].b1};

		if (ice_demux(b, 2) != c[i].want)
			TEST_FAIL("demux_first_byte", "%u %u: %d, not %d",
			          c[i].b0, c[i].b1, ice_demux(b, 2), c[i].want);
	}
	CHECK_EQ(ice_demux(NULL, 0), ICE_PKT_OTHER);
	CHECK_EQ(ice_demux((const uint8_t *)"\x80", 1), ICE_PKT_RTP);
	CHECK_EQ(ice_demux((const uint8_t *)"", 0), ICE_PKT_OTHER);
	return 0;
}

static bool ice_chars(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '+' || *s == '/'))
			return false;
	}
	return true;
}

TEST(credentials)
{
	struct ice_lite a, b;
	const char *why = NULL;

	ice_init(&a, 0);
	ice_init(&b, 0);
	CHECK_EQ(strlen(ice_local_ufrag(&a)), ICE_UFRAG_LEN);
	CHECK_EQ(strlen(ice_local_pwd(&a)), ICE_PWD_LEN);
	CHECK(ice_chars(ice_local_ufrag(&a)) && ice_chars(ice_local_pwd(&a)));
	CHECK(strcmp(ice_local_ufrag(&a), ice_local_ufrag(&b)) != 0);
	CHECK(strcmp(ice_local_pwd(&a), ice_local_pwd(&b)) != 0);
	CHECK_STR(ice_remote_ufrag(&a), "");

	CHECK_EQ(ice_set_remote(&a, "abc", NULL, &why), EINVAL);
	CHECK(why != NULL);
	CHECK_EQ(ice_set_remote(&a, "ab:cd", NULL, &why), EINVAL);
	CHECK_EQ(ice_set_remote(&a, NULL, NULL, &why), EINVAL);
	CHECK_EQ(ice_set_remote(&a, "abcd", "tooShortPassword", &why), EINVAL);
	CHECK_STR(ice_remote_ufrag(&a), "");
	{
		char big[ICE_CRED_MAX + 2];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK_EQ(ice_set_remote(&a, big, NULL, &why), EINVAL);
		big[ICE_CRED_MAX] = '\0';
		CHECK_EQ(ice_set_remote(&a, big, big, &why), 0);
		CHECK_EQ(strlen(ice_remote_ufrag(&a)), ICE_CRED_MAX);
	}
	CHECK_EQ(ice_set_remote(&a, "h6vY", "VOkJxbRl1RmTxUk/WvJxBt", &why), 0);
	CHECK_STR(ice_remote_ufrag(&a), "h6vY");

	CHECK_EQ(ice_set_local(&a, "abc", LPWD, &why), EINVAL);
	CHECK_EQ(ice_set_local(&a, "abcd", "short", &why), EINVAL);
	CHECK_EQ(ice_set_local(&a, "abcdefghijklmnopq", LPWD, &why), EINVAL);
	CHECK_EQ(ice_set_local(&a, "ab d", LPWD, &why), EINVAL);
	CHECK_EQ(ice_set_local(&a, LUFRAG, LPWD, &why), 0);
	CHECK_STR(ice_local_ufrag(&a), LUFRAG);
	CHECK_STR(ice_local_pwd(&a), LPWD);

	CHECK_STR(ice_rx_name(ICE_RX_ANSWERED), "answered");
	CHECK_STR(ice_rx_name(ICE_RX_BAD_INTEGRITY), "bad_integrity");
	CHECK_STR(ice_rx_name(ICE_RX_COUNT), "?");
	return 0;
}

TEST(answers_ipv4)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	size_t n;

	responder(&ice, 1000);
	sa_set_str(&src, "198.51.100.7", 50123);
	n = build(req, sizeof(req), &(struct req){.optional_attr = true});
	CHECK(n > 0);
	CHECK_EQ(ice_demux(req, n), ICE_PKT_STUN);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 2000, rep, &chk),
	         ICE_RX_ANSWERED);
	CHECK(chk.reply_len > 0 && chk.reply_len <= ICE_REPLY_MAX);
	CHECK(reply_ok(rep, chk.reply_len, LPWD, tid0, STUN_CLASS_SUCCESS_RESP,
	               &src));
	CHECK(chk.first);
	CHECK(!chk.nominated);
	CHECK_STR(ice_remote_ufrag(&ice), RUFRAG);
	CHECK_EQ(ice.count[ICE_RX_ANSWERED], 1);

	/* The next check is not the first; the ufrag it names is kept. */
	CHECK_EQ(ice_recv(&ice, req, n, &src, 7000, rep, &chk),
	         ICE_RX_ANSWERED);
	CHECK(!chk.first);
	CHECK_EQ(ice.count[ICE_RX_ANSWERED], 2);
	CHECK_EQ(total(&ice), 2);
	return 0;
}

TEST(answers_ipv6_nominated)
{
	static const uint8_t mapped[16] = {0, 0, 0,    0,    0,   0, 0,   0,
	                                   0, 0, 0xff, 0xff, 203, 0, 113, 9};
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src, v4;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	size_t n;

	responder(&ice, 0);
	sa_set_str(&src, "2001:db8::1:2:3", 443);
	n = build(req, sizeof(req), &(struct req){.use_candidate = true});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 10, rep, &chk), ICE_RX_ANSWERED);
	CHECK(reply_ok(rep, chk.reply_len, LPWD, tid0, STUN_CLASS_SUCCESS_RESP,
	               &src));
	CHECK(chk.nominated);
	CHECK(chk.first);

	/* An IPv4 peer on a dual-stack socket (as recvfrom gives it; libre's
	 * sa_set_str would fold it to IPv4 itself) is mapped back as IPv4. */
	sa_set_in6(&src, mapped, 6000);
	CHECK_EQ(sa_af(&src), AF_INET6);
	sa_set_str(&v4, "203.0.113.9", 6000);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 20, rep, &chk), ICE_RX_ANSWERED);
	CHECK(reply_ok(rep, chk.reply_len, LPWD, tid0, STUN_CLASS_SUCCESS_RESP,
	               &v4));
	return 0;
}

/* Our XOR-MAPPED-ADDRESS is byte for byte RFC 5769's. */
TEST(rfc5769_xor_mapped)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	size_t n;

	responder(&ice, 0);
	n = build(req, sizeof(req), &(struct req){0});
	sa_set_str(&src, "192.0.2.1", 32853);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_ANSWERED);
	CHECK(!memcmp(rep + 20, rfc5769_xor4, sizeof(rfc5769_xor4)));
	sa_set_str(&src, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_ANSWERED);
	CHECK(!memcmp(rep + 20, rfc5769_xor6, sizeof(rfc5769_xor6)));
	return 0;
}

/* RFC 5769's request authenticates (its MESSAGE-INTEGRITY and FINGERPRINT
 * read as ours compute them, padding 0x20 and all), but it comes from a
 * controlled agent: a signed 400, no 487, and nothing learnt from it. */
TEST(rfc5769_request)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[256], rep[ICE_REPLY_MAX];
	size_t n = unhex(req, rfc5769_request);
	const char *why = NULL;

	ice_init(&ice, 0);
	CHECK_EQ(ice_set_local(&ice, "evtj", "VOkJxbRl1RmTxUk/WvJxBt", &why),
	         0);
	sa_set_str(&src, "192.0.2.1", 32853);
	CHECK_EQ(n, 108);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_REJECTED);
	CHECK(reply_ok(rep, chk.reply_len, "VOkJxbRl1RmTxUk/WvJxBt", req + 8,
	               STUN_CLASS_ERROR_RESP, NULL));
	CHECK_EQ(error_code(rep, chk.reply_len), 400);
	CHECK(!chk.first && !chk.nominated);
	CHECK_STR(ice_remote_ufrag(&ice), "");

	/* One bit of its MESSAGE-INTEGRITY, with FINGERPRINT made right. */
	req[n - 8 - 1] ^= 0x01;
	refinger(req, n);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_INTEGRITY);
	CHECK_EQ(chk.reply_len, 0);
	/* Without the fix-up, FINGERPRINT catches it first. */
	req[n - 1] ^= 0x01;
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_FINGERPRINT);
	return 0;
}

TEST(refused_unauthenticated)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	size_t n;

	responder(&ice, 0);
	sa_set_str(&src, "198.51.100.7", 50123);

	n = build(req, sizeof(req),
	          &(struct req){.key = "wrongPasswordOfTheRightLength00"});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_INTEGRITY);
	CHECK_EQ(chk.reply_len, 0);

	n = build(req, sizeof(req), &(struct req){.key = ""});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_INTEGRITY);

	n = build(req, sizeof(req),
	          &(struct req){.user = "vgLocalUfrag0002:" RUFRAG});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = LUFRAG});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = LUFRAG ":"});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = LUFRAG "x:abcd"});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = LUFRAG ":ab cd"});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = ""});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	CHECK_EQ(chk.reply_len, 0);

	n = build(req, sizeof(req), &(struct req){.no_fingerprint = true});
	CHECK(n > 0);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_FINGERPRINT);
	CHECK_EQ(chk.reply_len, 0);

	CHECK_EQ(ice.count[ICE_RX_BAD_INTEGRITY], 2);
	CHECK_EQ(ice.count[ICE_RX_BAD_USERNAME], 6);
	CHECK_EQ(ice.count[ICE_RX_BAD_FINGERPRINT], 1);
	CHECK_EQ(ice.count[ICE_RX_ANSWERED], 0);
	CHECK_STR(ice_remote_ufrag(&ice), "");
	CHECK(ice_expired(&ice, ICE_CONSENT_MS));
	return 0;
}

/* Once the SDP names their ufrag, checks must carry it. */
TEST(remote_ufrag_from_sdp)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	const char *why = NULL;
	size_t n;

	responder(&ice, 0);
	sa_set_str(&src, "198.51.100.7", 50123);
	CHECK_EQ(
	    ice_set_remote(&ice, "sdpUfrag", "sdpPasswordIsLongEnough22", &why),
	    0);
	n = build(req, sizeof(req), &(struct req){0});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = LUFRAG ":sdpUfragX"});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	n = build(req, sizeof(req), &(struct req){.user = LUFRAG ":sdpUfrag"});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_ANSWERED);
	CHECK(chk.first);
	CHECK_STR(ice_remote_ufrag(&ice), "sdpUfrag");
	return 0;
}

/* Authenticated, but not a request a lite agent can accept: a signed
 * error, never 487; nothing counted as a valid check. */
TEST(refused_authenticated)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	struct stun_msg *msg;
	struct stun_attr *ua;
	size_t n;

	responder(&ice, 0);
	sa_set_str(&src, "198.51.100.7", 50123);

	n = build(req, sizeof(req), &(struct req){.no_priority = true});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_REJECTED);
	CHECK(reply_ok(rep, chk.reply_len, LPWD, tid0, STUN_CLASS_ERROR_RESP,
	               NULL));
	CHECK_EQ(error_code(rep, chk.reply_len), 400);

	n = build(req, sizeof(req), &(struct req){.controlled = true});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_REJECTED);
	CHECK_EQ(error_code(rep, chk.reply_len), 400);

	n = build(req, sizeof(req), &(struct req){.no_role = true});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_REJECTED);
	CHECK_EQ(error_code(rep, chk.reply_len), 400);

	n = build(req, sizeof(req), &(struct req){.required_attr = true});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_REJECTED);
	CHECK(reply_ok(rep, chk.reply_len, LPWD, tid0, STUN_CLASS_ERROR_RESP,
	               NULL));
	CHECK_EQ(error_code(rep, chk.reply_len), 420);
	msg = decode(rep, chk.reply_len);
	ua = msg ? stun_msg_attr(msg, STUN_ATTR_UNKNOWN_ATTR) : NULL;
	CHECK(ua && ua->v.unknown_attr.typec == 1 &&
	      ua->v.unknown_attr.typev[0] == STUN_ATTR_CHANGE_REQ);
	mem_deref(msg);

	CHECK_EQ(ice.count[ICE_RX_REJECTED], 4);
	CHECK_EQ(ice.count[ICE_RX_ANSWERED], 0);
	CHECK_STR(ice_remote_ufrag(&ice), "");
	CHECK(ice_expired(&ice, ICE_CONSENT_MS));
	return 0;
}

TEST(not_a_request)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	size_t n;

	responder(&ice, 0);
	sa_set_str(&src, "198.51.100.7", 50123);
	n = build(req, sizeof(req),
	          &(struct req){.cls = STUN_CLASS_SUCCESS_RESP});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_NOT_REQUEST);
	CHECK_EQ(chk.reply_len, 0);
	n = build(req, sizeof(req),
	          &(struct req){.cls = STUN_CLASS_INDICATION});
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk),
	         ICE_RX_NOT_REQUEST);
	CHECK_EQ(ice.count[ICE_RX_NOT_REQUEST], 2);
	CHECK_EQ(total(&ice), 2);
	return 0;
}

TEST(malformed)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], bad[600], rep[ICE_REPLY_MAX];
	size_t n, m;
	uint64_t calls = 0;

	responder(&ice, 0);
	sa_set_str(&src, "198.51.100.7", 50123);
	n = build(req, sizeof(req), &(struct req){.use_candidate = true});

	/* Every truncation, each in a buffer of exactly its size. */
	for (size_t k = 0; k < n; k++) {
		uint8_t *cut = malloc(k ? k : 1);

		if (!cut)
			return 1;
		memcpy(cut, req, k);
		if (ice_recv(&ice, cut, k, &src, 0, rep, &chk) !=
		        ICE_RX_MALFORMED ||
		    chk.reply_len)
			TEST_FAIL("malformed", "cut at %zu answered", k);
		free(cut);
		calls++;
	}
	/* Bytes after the message. */
	memcpy(bad, req, n);
	memset(bad + n, 0, 4);
	CHECK_EQ(ice_recv(&ice, bad, n + 4, &src, 0, rep, &chk),
	         ICE_RX_MALFORMED);
	/* Wrong magic cookie. */
	memcpy(bad, req, n);
	bad[4] ^= 0xff;
	CHECK_EQ(ice_recv(&ice, bad, n, &src, 0, rep, &chk), ICE_RX_MALFORMED);
	/* An attribute that runs past the end. */
	memcpy(bad, req, n);
	bad[22] = 0x7f;
	CHECK_EQ(ice_recv(&ice, bad, n, &src, 0, rep, &chk), ICE_RX_MALFORMED);
	/* An attribute after FINGERPRINT. */
	memcpy(bad, req, n);
	memcpy(bad + n, "\x80\x22\x00\x00", 4);
	bad[3] = (uint8_t)(n + 4 - 20);
	CHECK_EQ(ice_recv(&ice, bad, n + 4, &src, 0, rep, &chk),
	         ICE_RX_MALFORMED);
	/* Non-STUN datagrams: RTP, DTLS, a single byte. */
	CHECK_EQ(ice_recv(&ice, (const uint8_t *)"\x80\x00\x00\x01", 4, &src, 0,
	                  rep, &chk),
	         ICE_RX_MALFORMED);
	memset(bad, 0x16, 40);
	CHECK_EQ(ice_recv(&ice, bad, 40, &src, 0, rep, &chk), ICE_RX_MALFORMED);
	CHECK_EQ(ice_recv(&ice, (const uint8_t *)"\x00", 1, &src, 0, rep, &chk),
	         ICE_RX_MALFORMED);
	/* USE-CANDIDATE with a value. */
	m = 0;
	memcpy(bad, req, 20);
	m = 20;
	memcpy(bad + m, "\x00\x25\x00\x04\x00\x00\x00\x00", 8);
	m += 8;
	memcpy(bad + m, "\x80\x28\x00\x04\x00\x00\x00\x00", 8);
	m += 8;
	refinger(bad, m);
	CHECK_EQ(ice_recv(&ice, bad, m, &src, 0, rep, &chk), ICE_RX_MALFORMED);
	calls += 8;
	CHECK_EQ(ice.count[ICE_RX_MALFORMED], calls);
	CHECK_EQ(total(&ice), calls);
	return 0;
}

/* Attributes after MESSAGE-INTEGRITY do not count (RFC 5389 15.4): a
 * USE-CANDIDATE slipped in there nominates nothing. The first USERNAME is
 * the one that counts. */
TEST(only_what_integrity_covers)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	size_t n;
	struct mbuf *mb;
	uint32_t prio = 1;
	uint64_t tb = 2;

	responder(&ice, 0);
	sa_set_str(&src, "198.51.100.7", 50123);
	n = build(req, sizeof(req), &(struct req){0});
	/* FINGERPRINT off, USE-CANDIDATE on, FINGERPRINT again. */
	n -= 8;
	memcpy(req + n, "\x00\x25\x00\x00\x80\x28\x00\x04\0\0\0\0", 12);
	n += 12;
	refinger(req, n);
	CHECK_EQ(ice_recv(&ice, req, n, &src, 0, rep, &chk), ICE_RX_ANSWERED);
	CHECK(!chk.nominated);

	mb = mbuf_alloc(256);
	if (!mb)
		return 1;
	CHECK_EQ(stun_msg_encode(mb, STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
	                         tid0, NULL, (const uint8_t *)LPWD,
	                         strlen(LPWD), true, 0, 4, STUN_ATTR_USERNAME,
	                         "someoneElse:" RUFRAG, STUN_ATTR_USERNAME,
	                         LUFRAG ":" RUFRAG, STUN_ATTR_PRIORITY, &prio,
	                         STUN_ATTR_CONTROLLING, &tb),
	         0);
	CHECK_EQ(ice_recv(&ice, mb->buf, mb->end, &src, 0, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	mem_deref(mb);
	return 0;
}

TEST(consent_expiry)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], bad[512], rep[ICE_REPLY_MAX];
	size_t n, nb;
	uint64_t t = 1000;

	responder(&ice, t);
	sa_set_str(&src, "198.51.100.7", 50123);
	n = build(req, sizeof(req), &(struct req){0});
	nb = build(bad, sizeof(bad),
	           &(struct req){.key = "wrongPasswordOfTheRightLength00"});

	/* A peer that never checks expires 30 s after the start. */
	CHECK(!ice_expired(&ice, t + ICE_CONSENT_MS - 1));
	CHECK(ice_expired(&ice, t + ICE_CONSENT_MS));

	/* Checks every 5 s keep consent for ten minutes. */
	for (int i = 0; i < 120; i++) {
		t += 5000;
		CHECK_EQ(ice_recv(&ice, req, n, &src, t, rep, &chk),
		         ICE_RX_ANSWERED);
		CHECK(!ice_expired(&ice, t + 4999));
	}
	/* Then only bad ones: they refresh nothing. */
	for (int i = 1; i <= 6; i++)
		ice_recv(&ice, bad, nb, &src, t + 5000u * i, rep, &chk);
	CHECK(!ice_expired(&ice, t + ICE_CONSENT_MS - 1));
	CHECK(ice_expired(&ice, t + ICE_CONSENT_MS));
	/* A clock read before the last check is not an expiry. */
	CHECK(!ice_expired(&ice, t - 1));

	/* After a restart the old credentials are refused and consent
	 * counts from the restart; counters stay. */
	ice_restart(&ice, t + 100);
	CHECK(strcmp(ice_local_ufrag(&ice), LUFRAG) != 0);
	CHECK_STR(ice_remote_ufrag(&ice), "");
	CHECK_EQ(ice_recv(&ice, req, n, &src, t + 200, rep, &chk),
	         ICE_RX_BAD_USERNAME);
	CHECK(!ice_expired(&ice, t + 100 + ICE_CONSENT_MS - 1));
	CHECK(ice_expired(&ice, t + 100 + ICE_CONSENT_MS));
	CHECK_EQ(ice.count[ICE_RX_ANSWERED], 120);
	CHECK_EQ(ice.count[ICE_RX_BAD_INTEGRITY], 6);
	return 0;
}

/* The check path allocates nothing; prints what a check costs in this
 * build (ASan and UBSan: several times the release figure). */
TEST(no_allocation_and_cost)
{
	struct ice_lite ice;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], bad[512], rep[ICE_REPLY_MAX];
	size_t n, nb;
	const int rounds = 20000;
	uint64_t t0, t1, t2;
	int answered = 0;

	responder(&ice, 0);
	sa_set_str(&src, "2001:db8::7", 50123);
	n = build(req, sizeof(req),
	          &(struct req){.use_candidate = true, .optional_attr = true});
	nb = build(bad, sizeof(bad),
	           &(struct req){.key = "wrongPasswordOfTheRightLength00"});
	ice_recv(&ice, req, n, &src, 0, rep, &chk);

	CHECK(allocs_start());
	t0 = clock_mono_us();
	for (int i = 0; i < rounds; i++)
		answered += ice_recv(&ice, req, n, &src, (uint64_t)i, rep,
		                     &chk) == ICE_RX_ANSWERED;
	t1 = clock_mono_us();
	for (int i = 0; i < rounds; i++)
		ice_recv(&ice, bad, nb, &src, (uint64_t)i, rep, &chk);
	t2 = clock_mono_us();
	allocs_stop();

	CHECK_EQ(allocations, 0);
	CHECK_EQ(answered, rounds);
	printf("# ice_recv (%zu-byte check, IPv6): %.2f us answered, %.2f "
	       "us bad integrity, per datagram in this build\n",
	       n, (double)(t1 - t0) / rounds, (double)(t2 - t1) / rounds);
	return 0;
}

/* ---- the controlling side ------------------------------------------------ */

/* A client keyed with the responder's credentials. */
static void client(struct ice_lite *cli, const char *rpwd)
{
	const char *why = NULL;

	ice_init(cli, 0);
	if (ice_set_remote(cli, LUFRAG, rpwd, &why))
		printf("# ice_set_remote: %s\n", why);
}

/* The check as libre reads it: a Binding request signed with pwd,
 * USERNAME "<responder>:<client>", PRIORITY, ICE-CONTROLLING and, when
 * nominated, USE-CANDIDATE. */
static bool check_ok(const uint8_t *b, size_t n, const struct ice_lite *cli,
                     const char *pwd, const uint8_t *tid, bool nominated)
{
	struct stun_msg *msg = decode(b, n);
	struct stun_attr *u, *p, *c;
	char user[64];
	bool ok;

	if (!msg)
		return false;
	snprintf(user, sizeof(user), "%s:%s", LUFRAG, ice_local_ufrag(cli));
	u = stun_msg_attr(msg, STUN_ATTR_USERNAME);
	p = stun_msg_attr(msg, STUN_ATTR_PRIORITY);
	c = stun_msg_attr(msg, STUN_ATTR_CONTROLLING);
	ok = stun_msg_class(msg) == STUN_CLASS_REQUEST &&
	     stun_msg_method(msg) == STUN_METHOD_BINDING &&
	     !memcmp(stun_msg_tid(msg), tid, 12) && u &&
	     !strcmp(u->v.username, user) && p && p->v.priority == 0x6e7f1eff &&
	     c && c->v.controlling == 0x1c2d3e4f5a6b7c8dull &&
	     !stun_msg_attr(msg, STUN_ATTR_CONTROLLED) &&
	     !!stun_msg_attr(msg, STUN_ATTR_USE_CAND) == nominated &&
	     stun_msg_chk_mi(msg, (const uint8_t *)pwd, strlen(pwd)) == 0 &&
	     stun_msg_chk_fingerprint(msg) == 0;
	mem_deref(msg);
	return ok;
}

TEST(client_check_answered)
{
	const struct ice_request_prm prm = {0x6e7f1eff, 0x1c2d3e4f5a6b7c8dull,
	                                    true};
	struct ice_lite srv, cli;
	struct ice_check chk;
	struct sa src;
	uint8_t req[ICE_REQUEST_MAX], rep[ICE_REPLY_MAX], tid[ICE_TID_LEN];
	uint8_t tid2[ICE_TID_LEN];
	size_t n;
	unsigned code = 7;

	responder(&srv, 0);
	client(&cli, LPWD);
	sa_set_str(&src, "127.0.0.1", 40000);
	CHECK_EQ(ice_request_write(&cli, &prm, tid, req, sizeof(req), &n), 0);
	CHECK(n <= ICE_REQUEST_MAX);
	CHECK_EQ(ice_demux(req, n), ICE_PKT_STUN);
	CHECK(check_ok(req, n, &cli, LPWD, tid, true));
	CHECK_EQ(ice_recv(&srv, req, n, &src, 10, rep, &chk), ICE_RX_ANSWERED);
	CHECK(chk.nominated && chk.first);
	CHECK_STR(ice_remote_ufrag(&srv), ice_local_ufrag(&cli));
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid, &code),
	         ICE_RESP_SUCCESS);
	CHECK_EQ(code, 0);

	/* A fresh transaction each time; the old answer is not its. */
	CHECK_EQ(ice_request_write(&cli, &(struct ice_request_prm){1, 2, false},
	                           tid2, req, sizeof(req), &n),
	         0);
	CHECK(memcmp(tid, tid2, ICE_TID_LEN) != 0);
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid2, NULL),
	         ICE_RESP_OTHER_TID);
	CHECK_EQ(ice_recv(&srv, req, n, &src, 20, rep, &chk), ICE_RX_ANSWERED);
	CHECK(!chk.nominated);
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid2, NULL),
	         ICE_RESP_SUCCESS);

	/* A request is not an answer; nor is a damaged one. */
	CHECK_EQ(ice_response_read(&cli, req, n, tid2, NULL),
	         ICE_RESP_NOT_RESPONSE);
	rep[chk.reply_len - 1] ^= 1;
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid2, NULL),
	         ICE_RESP_BAD_FINGERPRINT);
	CHECK_EQ(ice_response_read(&cli, rep, 19, tid2, NULL),
	         ICE_RESP_MALFORMED);
	CHECK_EQ(ice_response_read(&cli, NULL, 0, tid2, NULL),
	         ICE_RESP_MALFORMED);
	return 0;
}

TEST(client_wrong_password)
{
	const struct ice_request_prm prm = {0x6e7f1eff, 0x1c2d3e4f5a6b7c8dull,
	                                    true};
	struct ice_lite srv, cli, ok;
	struct ice_check chk;
	struct sa src;
	uint8_t req[ICE_REQUEST_MAX], rep[ICE_REPLY_MAX], tid[ICE_TID_LEN];
	size_t n;

	/* The responder does not answer a check signed with another pwd. */
	responder(&srv, 0);
	client(&cli, "wrongPasswordOfTheRightLength00");
	sa_set_str(&src, "127.0.0.1", 40000);
	CHECK_EQ(ice_request_write(&cli, &prm, tid, req, sizeof(req), &n), 0);
	CHECK_EQ(ice_recv(&srv, req, n, &src, 10, rep, &chk),
	         ICE_RX_BAD_INTEGRITY);
	CHECK_EQ(chk.reply_len, 0);

	/* Nor does the client take an answer the peer did not sign. */
	client(&ok, LPWD);
	memcpy(ok.ufrag, cli.ufrag, sizeof(ok.ufrag));
	CHECK_EQ(ice_request_write(&ok, &prm, tid, req, sizeof(req), &n), 0);
	CHECK_EQ(ice_recv(&srv, req, n, &src, 20, rep, &chk), ICE_RX_ANSWERED);
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid, NULL),
	         ICE_RESP_BAD_INTEGRITY);
	CHECK_EQ(ice_response_read(&ok, rep, chk.reply_len, tid, NULL),
	         ICE_RESP_SUCCESS);
	return 0;
}

TEST(client_error_answer)
{
	struct ice_lite srv, cli;
	struct ice_check chk;
	struct sa src;
	uint8_t req[512], rep[ICE_REPLY_MAX];
	unsigned code = 0;
	size_t n;

	/* Authenticated but refused (no PRIORITY): a signed 400. */
	responder(&srv, 0);
	client(&cli, LPWD);
	sa_set_str(&src, "127.0.0.1", 40000);
	n = build(req, sizeof(req), &(struct req){.no_priority = true});
	CHECK_EQ(ice_recv(&srv, req, n, &src, 10, rep, &chk), ICE_RX_REJECTED);
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid0, &code),
	         ICE_RESP_ERROR);
	CHECK_EQ(code, 400);
	n = build(req, sizeof(req), &(struct req){.required_attr = true});
	CHECK_EQ(ice_recv(&srv, req, n, &src, 10, rep, &chk), ICE_RX_REJECTED);
	CHECK_EQ(ice_response_read(&cli, rep, chk.reply_len, tid0, &code),
	         ICE_RESP_ERROR);
	CHECK_EQ(code, 420);
	return 0;
}

TEST(client_bounds)
{
	const struct ice_request_prm prm = {1, 2, true};
	struct ice_lite cli;
	char big[ICE_CRED_MAX + 1];
	uint8_t req[ICE_REQUEST_MAX], tid[ICE_TID_LEN];
	const char *why = NULL;
	size_t n;

	ice_init(&cli, 0);
	CHECK_EQ(ice_request_write(&cli, &prm, tid, req, sizeof(req), &n),
	         EINVAL);
	CHECK_EQ(ice_set_remote(&cli, LUFRAG, NULL, &why), 0);
	CHECK_EQ(ice_request_write(&cli, &prm, tid, req, sizeof(req), &n),
	         EINVAL); /* no pwd */

	/* The longest credentials RFC 8839 allows fit, and a pwd longer
	 * than an HMAC block is hashed into the key as RFC 2104 says:
	 * libre's check (OpenSSL's HMAC) agrees. */
	memset(big, 'k', ICE_CRED_MAX);
	big[ICE_CRED_MAX] = '\0';
	CHECK_EQ(ice_set_remote(&cli, big, big, &why), 0);
	CHECK_EQ(ice_request_write(&cli, &prm, tid, req, sizeof(req) - 1, &n),
	         ENOSPC);
	CHECK_EQ(ice_request_write(&cli, &prm, tid, req, sizeof(req), &n), 0);
	CHECK(n <= ICE_REQUEST_MAX);
	{
		struct stun_msg *msg = decode(req, n);

		CHECK(msg != NULL);
		CHECK_EQ(
		    stun_msg_chk_mi(msg, (const uint8_t *)big, ICE_CRED_MAX),
		    0);
		CHECK_EQ(stun_msg_chk_fingerprint(msg), 0);
		mem_deref(msg);
	}
	return 0;
}

/* Writing a check and reading its answer allocate nothing either. */
TEST(client_no_allocation)
{
	const struct ice_request_prm prm = {0x6e7f1eff, 7, true};
	struct ice_lite srv, cli;
	struct ice_check chk;
	struct sa src;
	uint8_t req[ICE_REQUEST_MAX], rep[ICE_REPLY_MAX], tid[ICE_TID_LEN];
	size_t n;
	int ok = 0;

	responder(&srv, 0);
	client(&cli, LPWD);
	sa_set_str(&src, "127.0.0.1", 40000);
	CHECK(allocs_start());
	for (int i = 0; i < 100; i++) {
		if (ice_request_write(&cli, &prm, tid, req, sizeof(req), &n))
			break;
		ice_recv(&srv, req, n, &src, (uint64_t)i, rep, &chk);
		ok += ice_response_read(&cli, rep, chk.reply_len, tid, NULL) ==
		      ICE_RESP_SUCCESS;
	}
	allocs_stop();
	CHECK_EQ(allocations, 0);
	CHECK_EQ(ok, 100);
	return 0;
}

int main(void)
{
	RUN(demux_first_byte);
	RUN(credentials);
	RUN(answers_ipv4);
	RUN(answers_ipv6_nominated);
	RUN(rfc5769_xor_mapped);
	RUN(rfc5769_request);
	RUN(refused_unauthenticated);
	RUN(remote_ufrag_from_sdp);
	RUN(refused_authenticated);
	RUN(not_a_request);
	RUN(malformed);
	RUN(only_what_integrity_covers);
	RUN(consent_expiry);
	RUN(no_allocation_and_cost);
	RUN(client_check_answered);
	RUN(client_wrong_password);
	RUN(client_error_answer);
	RUN(client_bounds);
	RUN(client_no_allocation);
	TEST_EXIT();
}
