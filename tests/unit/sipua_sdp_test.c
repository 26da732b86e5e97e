/*
 * The SDP side of a call (sipua_sdp.c) with SRTP: our offer by each
 * mediaEncryption policy, the answer to a peer's offer in every row of the
 * table in sipua_sdp.h (accepted, or refused with the warn-code), keys
 * kept across a re-offer that changes nothing, and the answer to our own
 * offer. Descriptions are written here and decoded by libre, as a call's
 * would be.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "sip/sipua_sdp.h"
#include "test.h"

#define KEY80 "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
#define KEY32 "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"

#define HEAD                                                                   \
	"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"     \
	"t=0 0\r\n"
#define AVP      "m=audio 4000 RTP/AVP 0 101\r\n"
#define SAVP     "m=audio 4000 RTP/SAVP 0 101\r\n"
#define FMTS     "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
#define CRYPTO80 "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "\r\n"
#define CRYPTO32 "a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:" KEY32 "\r\n"

struct call_sdp {
	struct sdp_session *sess;
	struct sdp_media *m;
	struct sipua_srtp s;
	char out[2048];
};

static int setup(struct call_sdp *c, enum sdes_policy p)
{
	struct sa laddr;
	int err;

	memset(c, 0, sizeof(*c));
	sa_set_str(&laddr, "192.0.2.10", 0);
	err = sipua_sdp_srtp_init(&c->s, p);
	if (!err)
		err =
		    sipua_sdp_alloc_srtp(&c->sess, &c->m, &laddr, 10000, &c->s);
	return err;
}

/* Our description (offer or answer) as text, in c->out. */
static int encode(struct call_sdp *c, bool offer)
{
	struct mbuf *mb = NULL;
	int err = sdp_encode(&mb, c->sess, offer);

	if (err)
		return err;
	snprintf(c->out, sizeof(c->out), "%.*s", (int)mbuf_get_left(mb),
	         (const char *)mbuf_buf(mb));
	mem_deref(mb);
	return 0;
}

/* The peer's description decoded, then its SRTP taken. */
static int take(struct call_sdp *c, const char *sdp, bool offer,
                struct sipua_srtp_refusal *r)
{
	struct mbuf *mb = mbuf_alloc(strlen(sdp));
	int err;

	if (!mb)
		return ENOMEM;
	(void)mbuf_write_str(mb, sdp);
	mb->pos = 0;
	if (!offer)
		err = encode(c, true); /* our offer went out first */
	else
		err = 0;
	if (!err)
		err = sdp_decode(c->sess, mb, offer);
	mem_deref(mb);
	if (err)
		return err;
	memset(r, 0, sizeof(*r));
	return sipua_sdp_srtp(c->m, &c->s, offer, r);
}

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;

	for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

static void done(struct call_sdp *c)
{
	mem_deref(c->sess);
}

TEST(offers_by_policy)
{
	struct call_sdp c;

	CHECK_EQ(setup(&c, SDES_DISABLE), 0);
	CHECK_EQ(encode(&c, true), 0);
	CHECK(strstr(c.out, "m=audio 10000 RTP/AVP 0 8 101\r\n"));
	CHECK_EQ(count(c.out, "a=crypto"), 0);
	done(&c);

	CHECK_EQ(setup(&c, SDES_ALLOW), 0);
	CHECK_EQ(encode(&c, true), 0);
	CHECK(strstr(c.out, "m=audio 10000 RTP/AVP 0 8 101\r\n"));
	CHECK(strstr(c.out, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
	CHECK(strstr(c.out, "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"));
	CHECK_EQ(count(c.out, "a=crypto"), 2);
	done(&c);

	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(encode(&c, true), 0);
	CHECK(strstr(c.out, "m=audio 10000 RTP/SAVP 0 8 101\r\n"));
	CHECK_EQ(count(c.out, "a=crypto"), 2);
	/* Two keys, of their own. */
	CHECK(memcmp(c.s.offer[0].key, c.s.offer[1].key, SDES_KEY_LEN));
	done(&c);
	return 0;
}

TEST(require_answers_savp)
{
	struct call_sdp c;
	struct sipua_srtp_refusal r;
	struct media_params mp;
	struct sdes_crypto theirs;

	CHECK_EQ(sdes_parse("5 AES_CM_128_HMAC_SHA1_32 inline:" KEY32, &theirs,
	                    NULL),
	         0);
	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c, HEAD SAVP FMTS CRYPTO32, true, &r), 0);
	CHECK(c.s.on);
	CHECK_EQ(c.s.ours.tag, 5);
	CHECK_EQ(c.s.ours.profile, SRTPX_AES_CM_128_HMAC_SHA1_32);
	CHECK(!memcmp(c.s.theirs.key, theirs.key, SDES_KEY_LEN));
	CHECK(memcmp(c.s.ours.key, theirs.key, SDES_KEY_LEN));
	CHECK_EQ(encode(&c, false), 0);
	CHECK(strstr(c.out, "m=audio 10000 RTP/SAVP 0 101\r\n"));
	CHECK(strstr(c.out, "a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:"));
	CHECK_EQ(count(c.out, "a=crypto"), 1);

	CHECK_EQ(sipua_sdp_params(c.m, &mp), 0);
	sipua_sdp_srtp_params(&c.s, &mp);
	CHECK(mp.srtp.on);
	CHECK_EQ(mp.srtp.profile, SRTPX_AES_CM_128_HMAC_SHA1_32);
	CHECK(!memcmp(mp.srtp.rx, theirs.key, SDES_KEY_LEN));
	CHECK(!memcmp(mp.srtp.tx, c.s.ours.key, SDES_KEY_LEN));
	done(&c);
	return 0;
}

TEST(require_refuses_plain)
{
	struct call_sdp c;
	struct sipua_srtp_refusal r;

	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c, HEAD AVP FMTS, true, &r), EPROTO);
	CHECK_EQ(r.warn_code, 302);
	CHECK_STR(r.warn_text, "SRTP required");
	CHECK_STR(r.reason, "plain RTP offered");
	CHECK(!c.s.on);
	done(&c);

	/* Only lines we cannot run: refused, the first one's reason said. */
	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c,
	              HEAD SAVP FMTS
	              "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY80
	              "|2^31|1:1\r\n"
	              "a=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:" KEY80 "\r\n",
	              true, &r),
	         EPROTO);
	CHECK_EQ(r.warn_code, 302);
	CHECK_STR(r.reason, "MKI not supported");
	done(&c);

	/* The first usable line wins. */
	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c,
	              HEAD SAVP FMTS
	              "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" KEY80
	              "\r\n" CRYPTO32 CRYPTO80,
	              true, &r),
	         0);
	CHECK_EQ(c.s.theirs.tag, 5);
	done(&c);

	/* Best-effort SRTP (RTP/AVP with a=crypto) is SRTP too. */
	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c, HEAD AVP FMTS CRYPTO80, true, &r), 0);
	CHECK(c.s.on);
	CHECK_EQ(encode(&c, false), 0);
	CHECK(strstr(c.out, "m=audio 10000 RTP/AVP 0 101\r\n"));
	CHECK(strstr(c.out, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
	done(&c);
	return 0;
}

TEST(disable_refuses_savp)
{
	struct call_sdp c;
	struct sipua_srtp_refusal r;

	CHECK_EQ(setup(&c, SDES_DISABLE), 0);
	CHECK_EQ(take(&c, HEAD SAVP FMTS CRYPTO80, true, &r), EPROTO);
	CHECK_EQ(r.warn_code, 302);
	CHECK_STR(r.warn_text, "SRTP not enabled");
	done(&c);

	/* RTP/AVP: its a=crypto is ignored, the call is plain. */
	CHECK_EQ(setup(&c, SDES_DISABLE), 0);
	CHECK_EQ(take(&c, HEAD AVP FMTS CRYPTO80, true, &r), 0);
	CHECK(!c.s.on);
	CHECK_EQ(encode(&c, false), 0);
	CHECK_EQ(count(c.out, "a=crypto"), 0);
	CHECK(strstr(c.out, "m=audio 10000 RTP/AVP 0 101\r\n"));
	done(&c);
	return 0;
}

TEST(allow_takes_either)
{
	struct call_sdp c;
	struct sipua_srtp_refusal r;
	struct media_params mp;

	CHECK_EQ(setup(&c, SDES_ALLOW), 0);
	CHECK_EQ(take(&c, HEAD AVP FMTS, true, &r), 0);
	CHECK(!c.s.on);
	CHECK_EQ(encode(&c, false), 0);
	/* Our offer's lines are not left in a plain answer. */
	CHECK_EQ(count(c.out, "a=crypto"), 0);
	CHECK_EQ(sipua_sdp_params(c.m, &mp), 0);
	sipua_sdp_srtp_params(&c.s, &mp);
	CHECK(!mp.srtp.on);
	done(&c);

	CHECK_EQ(setup(&c, SDES_ALLOW), 0);
	CHECK_EQ(take(&c, HEAD SAVP FMTS CRYPTO80, true, &r), 0);
	CHECK(c.s.on);
	CHECK_EQ(encode(&c, false), 0);
	CHECK(strstr(c.out, "RTP/SAVP"));
	CHECK_EQ(count(c.out, "a=crypto:1 AES_CM_128_HMAC_SHA1_80"), 1);
	done(&c);

	CHECK_EQ(setup(&c, SDES_ALLOW), 0);
	CHECK_EQ(take(&c, HEAD SAVP FMTS, true, &r), EPROTO);
	CHECK_EQ(r.warn_code, 306);
	done(&c);
	return 0;
}

/* A re-INVITE with the same keys keeps ours (no re-key); new keys get a
 * new key of ours; a plain one turns SRTP off where the policy allows. */
TEST(reoffers)
{
	struct call_sdp c;
	struct sipua_srtp_refusal r;
	struct sdes_crypto first;

	CHECK_EQ(setup(&c, SDES_ALLOW), 0);
	CHECK_EQ(take(&c, HEAD SAVP FMTS CRYPTO80, true, &r), 0);
	first = c.s.ours;
	CHECK_EQ(take(&c, HEAD SAVP FMTS CRYPTO80, true, &r), 0);
	CHECK(!memcmp(&first, &c.s.ours, sizeof(first)));
	CHECK_EQ(take(&c,
	              HEAD SAVP FMTS
	              "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY32 "\r\n",
	              true, &r),
	         0);
	CHECK(c.s.on);
	CHECK(memcmp(first.key, c.s.ours.key, SDES_KEY_LEN));
	CHECK_EQ(take(&c, HEAD AVP FMTS, true, &r), 0);
	CHECK(!c.s.on);
	/* A refusal leaves what was agreed. */
	CHECK_EQ(take(&c, HEAD SAVP FMTS CRYPTO32, true, &r), 0);
	first = c.s.ours;
	CHECK_EQ(take(&c, HEAD SAVP FMTS, true, &r), EPROTO);
	CHECK(c.s.on);
	CHECK(!memcmp(&first, &c.s.ours, sizeof(first)));
	done(&c);
	return 0;
}

/* The ACK's answer to our offer: the key we offered under the tag it
 * took; a tag or suite we did not offer is not SRTP. */
TEST(answer_to_our_offer)
{
	struct call_sdp c;
	struct sipua_srtp_refusal r;

	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c,
	              HEAD SAVP FMTS
	              "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" KEY32 "\r\n",
	              false, &r),
	         0);
	CHECK(c.s.on);
	CHECK(!memcmp(&c.s.ours, &c.s.offer[1], sizeof(c.s.ours)));
	done(&c);

	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c,
	              HEAD SAVP FMTS
	              "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" KEY80 "\r\n",
	              false, &r),
	         EPROTO);
	CHECK_STR(r.reason, "a=crypto tag or suite we did not offer");
	done(&c);

	CHECK_EQ(setup(&c, SDES_REQUIRE), 0);
	CHECK_EQ(take(&c, HEAD SAVP FMTS, false, &r), EPROTO);
	done(&c);

	CHECK_EQ(setup(&c, SDES_ALLOW), 0);
	CHECK_EQ(take(&c, HEAD AVP FMTS, false, &r), 0);
	CHECK(!c.s.on);
	CHECK_EQ(take(&c, HEAD AVP FMTS CRYPTO80, false, &r), 0);
	CHECK(c.s.on);
	CHECK(!memcmp(&c.s.ours, &c.s.offer[0], sizeof(c.s.ours)));
	/* Offering again puts both our lines back. */
	CHECK_EQ(sipua_sdp_srtp_offer(c.m, &c.s), 0);
	CHECK_EQ(encode(&c, true), 0);
	CHECK_EQ(count(c.out, "a=crypto"), 2);
	done(&c);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	RUN(offers_by_policy);
	RUN(require_answers_savp);
	RUN(require_refuses_plain);
	RUN(disable_refuses_savp);
	RUN(allow_takes_either);
	RUN(reoffers);
	RUN(answer_to_our_offer);
	libre_close();
	TEST_EXIT();
}
