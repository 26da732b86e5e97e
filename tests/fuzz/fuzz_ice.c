/*
 * Datagrams into the ICE-lite responder (ice_recv) with fixed
 * credentials. Every reply it writes must read back with libre's STUN
 * decoder, verify under our password (MESSAGE-INTEGRITY and FINGERPRINT,
 * libre's own code), answer the request's transaction, and for a success
 * map the source; nothing else may be answered, and each datagram is
 * counted once.
 *
 * Input: a mode byte, then
 *   bit 2 clear: the datagram as received;
 *   bit 2 set:   a transaction id (12 bytes) and attributes, to which the
 *                harness adds the header, MESSAGE-INTEGRITY under our
 *                password and FINGERPRINT, so that mutations reach what
 *                lies behind the integrity check.
 * Bit 0: the peer's ufrag is known from its SDP ("rmt+Ufr/"); bit 1: the
 * datagram comes from IPv6; bits 3-4, when signing here: the message is a
 * Binding request (0, 3), success (1) or error response (2).
 *
 * The controlling side's reader (ice_response_read) gets every datagram
 * too, as the answer to the transaction it names, keyed by the same
 * password: what it accepts must verify with libre's code, and it must
 * accept every reply the responder writes.
 */
#include <re.h>

#include "webrtc/ice.h"

#include "fuzz.h"

#define LUFRAG   "vgLocalUfrag0001"
#define LPWD     "vgLocalPasswordOf32CharactersXyz"
#define RUFRAG   "rmt+Ufr/"
#define BODY_MAX 1200

/* Bitwise, unlike the responder's table: the two must agree. */
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

static void put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Header of the type, body, MESSAGE-INTEGRITY (libre's hmac_sha1),
 * FINGERPRINT. */
static size_t sign(uint8_t *out, uint16_t type, const uint8_t *tid,
                   const uint8_t *body, size_t blen)
{
	size_t n = 20 + ((blen + 3) & ~(size_t)3);
	uint32_t fp;

	memset(out, 0, n);
	put_be16(out, type);
	out[4] = 0x21, out[5] = 0x12, out[6] = 0xa4, out[7] = 0x42;
	memcpy(out + 8, tid, 12);
	memcpy(out + 20, body, blen);
	put_be16(out + 2, n + 24 - 20);
	hmac_sha1((const uint8_t *)LPWD, strlen(LPWD), out, n, out + n + 4, 20);
	put_be16(out + n, 0x0008);
	put_be16(out + n + 2, 20);
	n += 24;
	put_be16(out + 2, n + 8 - 20);
	fp = crc32_bitwise(out, n) ^ 0x5354554e;
	put_be16(out + n, 0x8028);
	put_be16(out + n + 2, 4);
	put_be16(out + n + 4, fp >> 16);
	put_be16(out + n + 6, fp & 0xffff);
	return n + 8;
}

static void check_reply(const uint8_t *rep, size_t n, const uint8_t *req,
                        enum ice_rx rx, const struct sa *src)
{
	struct mbuf *mb = mbuf_alloc(n);
	struct stun_msg *msg = NULL;
	struct stun_attr *a;

	FUZZ_CHECK(mb);
	FUZZ_CHECK(mbuf_write_mem(mb, rep, n) == 0);
	mb->pos = 0;
	FUZZ_CHECK(stun_msg_decode(&msg, mb, NULL) == 0);
	FUZZ_CHECK(stun_msg_method(msg) == STUN_METHOD_BINDING);
	FUZZ_CHECK(stun_msg_class(msg) == (rx == ICE_RX_ANSWERED
	                                       ? STUN_CLASS_SUCCESS_RESP
	                                       : STUN_CLASS_ERROR_RESP));
	FUZZ_CHECK(!memcmp(stun_msg_tid(msg), req + 8, 12));
	FUZZ_CHECK(stun_msg_chk_mi(msg, (const uint8_t *)LPWD, strlen(LPWD)) ==
	           0);
	FUZZ_CHECK(stun_msg_chk_fingerprint(msg) == 0);
	if (rx == ICE_RX_ANSWERED) {
		a = stun_msg_attr(msg, STUN_ATTR_XOR_MAPPED_ADDR);
		FUZZ_CHECK(a && sa_cmp(&a->v.xor_mapped_addr, src, SA_ALL));
	} else {
		a = stun_msg_attr(msg, STUN_ATTR_ERR_CODE);
		FUZZ_CHECK(a && (a->v.err_code.code == 400 ||
		                 a->v.err_code.code == 420));
	}
	mem_deref(msg);
	mem_deref(mb);

	/* The controlling side reads what the responder writes. */
	{
		struct ice_lite cli;
		const char *why = NULL;
		unsigned code = 0;

		ice_init(&cli, 0);
		FUZZ_CHECK(ice_set_remote(&cli, LUFRAG, LPWD, &why) == 0);
		FUZZ_CHECK(ice_response_read(&cli, rep, n, req + 8, &code) ==
		           (rx == ICE_RX_ANSWERED ? ICE_RESP_SUCCESS
		                                  : ICE_RESP_ERROR));
		FUZZ_CHECK(rx == ICE_RX_ANSWERED ? code == 0
		                                 : code == 400 || code == 420);
	}
}

/* Where the first MESSAGE-INTEGRITY starts, walking the attributes by
 * their declared lengths; len when there is none. */
static size_t mi_offset(const uint8_t *b, size_t len)
{
	size_t off = 20;

	while (off + 4 <= len) {
		size_t alen = (size_t)b[off + 2] << 8 | b[off + 3];

		if (b[off] == 0x00 && b[off + 1] == 0x08)
			return off;
		off += 4 + ((alen + 3) & ~(size_t)3);
	}
	return len;
}

/* The first MESSAGE-INTEGRITY verifies under LPWD, by libre's HMAC over
 * what precedes it, the length field set to end after it. */
static bool mi_ok(const uint8_t *b, size_t len)
{
	size_t off = mi_offset(b, len);
	uint8_t *tmp, mac[20];
	bool ok;

	if (off + 24 > len)
		return false;
	tmp = malloc(off);
	FUZZ_CHECK(tmp);
	memcpy(tmp, b, off);
	put_be16(tmp + 2, off + 24 - 20);
	hmac_sha1((const uint8_t *)LPWD, strlen(LPWD), tmp, off, mac, 20);
	ok = !memcmp(mac, b + off + 4, 20);
	free(tmp);
	return ok;
}

/* libre's attributes, in order, against the declared lengths' layout. */
struct layout {
	const uint8_t *b;
	size_t len, off;
	bool same;
};

static bool layout_next(const struct stun_attr *attr, void *arg)
{
	struct layout *l = arg;
	size_t alen;

	if (l->off + 4 > l->len ||
	    attr->type != ((unsigned)l->b[l->off] << 8 | l->b[l->off + 1])) {
		l->same = false;
		return true;
	}
	alen = (size_t)l->b[l->off + 2] << 8 | l->b[l->off + 3];
	l->off += 4 + ((alen + 3) & ~(size_t)3);
	return false;
}

/* Whether libre read the attributes the declared lengths lay out, and
 * no others: libre 1.1.0 reads some (EVEN-PORT, 0x0018) by their type's
 * size rather than their declared length, and then takes bytes inside
 * their value for further attributes; its verdicts are then about
 * another message and are not compared. */
static bool libre_reads_the_same(const struct stun_msg *msg, const uint8_t *b,
                                 size_t len)
{
	struct layout l = {b, len, 20, true};

	(void)stun_msg_attr_apply(msg, layout_next, &l);
	return l.same && l.off == len;
}

/* A datagram to the controlling side, as an answer to tid: what it
 * accepts, libre's decoder accepts and verifies under the peer's pwd. */
static void client_read(const uint8_t *b, size_t len, const uint8_t *tid)
{
	struct ice_lite cli;
	const char *why = NULL;
	unsigned code = 99;
	enum ice_resp r;
	struct mbuf *mb;
	struct stun_msg *msg = NULL;
	struct stun_attr *a;

	ice_init(&cli, 0);
	FUZZ_CHECK(ice_set_remote(&cli, LUFRAG, LPWD, &why) == 0);
	r = ice_response_read(&cli, b, len, tid, &code);
	FUZZ_CHECK((unsigned)r <= ICE_RESP_BAD_INTEGRITY);
	if (r != ICE_RESP_SUCCESS && r != ICE_RESP_ERROR) {
		FUZZ_CHECK(code == 0);
		return;
	}
	FUZZ_CHECK(mi_ok(b, len));
	FUZZ_CHECK(b[0] == 0x01 && (b[1] == 0x01 || b[1] == 0x11));
	FUZZ_CHECK(!memcmp(b + 8, tid, 12));
	mb = mbuf_alloc(len);
	FUZZ_CHECK(mb);
	FUZZ_CHECK(mbuf_write_mem(mb, b, len) == 0);
	mb->pos = 0;
	/* libre also reads the values of attributes the reader skips (an
	 * XOR-MAPPED-ADDRESS of an unknown family): only what it reads is
	 * compared. */
	if (stun_msg_decode(&msg, mb, NULL)) {
		mem_deref(mb);
		return;
	}
	FUZZ_CHECK(stun_msg_method(msg) == STUN_METHOD_BINDING);
	FUZZ_CHECK(stun_msg_class(msg) == (r == ICE_RESP_SUCCESS
	                                       ? STUN_CLASS_SUCCESS_RESP
	                                       : STUN_CLASS_ERROR_RESP));
	FUZZ_CHECK(!memcmp(stun_msg_tid(msg), tid, 12));
	if (!libre_reads_the_same(msg, b, len)) {
		mem_deref(msg);
		mem_deref(mb);
		return;
	}
	FUZZ_CHECK(stun_msg_chk_mi(msg, (const uint8_t *)LPWD, strlen(LPWD)) ==
	           0);
	FUZZ_CHECK(stun_msg_chk_fingerprint(msg) == 0);
	a = stun_msg_attr(msg, STUN_ATTR_ERR_CODE);
	if (r == ICE_RESP_ERROR && a)
		FUZZ_CHECK(code == a->v.err_code.code);
	if (r == ICE_RESP_SUCCESS)
		FUZZ_CHECK(code == 0);
	mem_deref(msg);
	mem_deref(mb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	uint8_t rep[ICE_REPLY_MAX], *b;
	struct ice_lite ice;
	struct ice_check chk;
	const char *why = NULL;
	enum ice_rx rx;
	struct sa src;
	size_t len;
	uint64_t sum = 0;

	ice_init(&ice, 1000);
	FUZZ_CHECK(ice_set_local(&ice, LUFRAG, LPWD, &why) == 0);
	if (mode & 1)
		FUZZ_CHECK(ice_set_remote(&ice, RUFRAG, NULL, &why) == 0);
	if (mode & 2)
		sa_set_str(&src, "2001:db8::5", 40000);
	else
		sa_set_str(&src, "198.51.100.5", 40000);

	if (mode & 4) {
		/* Bits 3-4: a Binding request, success or error response. */
		static const uint16_t types[4] = {0x0001, 0x0101, 0x0111,
		                                  0x0001};
		uint16_t type = types[mode >> 3 & 3];
		size_t tl, bl;
		const uint8_t *tid = fuzz_take(&in, 12, &tl);
		const uint8_t *body = fuzz_take(&in, BODY_MAX, &bl);
		uint8_t t[12] = {0}, *tmp;

		if (tl)
			memcpy(t, tid, tl);
		tmp = malloc(20 + BODY_MAX + 3 + 24 + 8);
		FUZZ_CHECK(tmp);
		len = sign(tmp, type, t, body, bl);
		/* Its own allocation of exactly its size, for ASan. */
		b = fuzz_copy(tmp, len, false);
		free(tmp);
	} else {
		const uint8_t *p = fuzz_take(&in, in.n, &len);

		b = fuzz_copy(p, len, false);
	}

	memset(rep, 0xa5, sizeof(rep));
	rx = ice_recv(&ice, b, len, &src, 2000, rep, &chk);
	FUZZ_CHECK((unsigned)rx < ICE_RX_COUNT);
	for (int i = 0; i < ICE_RX_COUNT; i++)
		sum += ice.count[i];
	FUZZ_CHECK(sum == 1 && ice.count[rx] == 1);
	FUZZ_CHECK(chk.reply_len <= ICE_REPLY_MAX);
	if (rx == ICE_RX_ANSWERED || rx == ICE_RX_REJECTED) {
		FUZZ_CHECK(chk.reply_len >= 20 + 24 + 8);
		check_reply(rep, chk.reply_len, b, rx, &src);
	} else {
		FUZZ_CHECK(chk.reply_len == 0);
	}
	if (rx == ICE_RX_ANSWERED) {
		FUZZ_CHECK(chk.first);
		FUZZ_CHECK(ice_remote_ufrag(&ice)[0] != '\0');
		FUZZ_CHECK(!ice_expired(&ice, 2000 + ICE_CONSENT_MS - 1));
		if (mode & 1)
			FUZZ_CHECK(!strcmp(ice_remote_ufrag(&ice), RUFRAG));
	} else {
		FUZZ_CHECK(!chk.first && !chk.nominated);
		FUZZ_CHECK(ice_expired(&ice, 1000 + ICE_CONSENT_MS));
		FUZZ_CHECK(
		    !strcmp(ice_remote_ufrag(&ice), mode & 1 ? RUFRAG : ""));
	}
	if (ice_demux(b, len) != ICE_PKT_STUN)
		FUZZ_CHECK(rx == ICE_RX_MALFORMED || rx == ICE_RX_NOT_REQUEST ||
		           rx == ICE_RX_BAD_FINGERPRINT);
	if (len >= 20)
		client_read(b, len, b + 8);
	free(b);
	return 0;
}
