/*
 * The WebRTC SDP: the descriptions LiveKit clients send (Chromium's and
 * rtc-node's publisher offers, their answers to our subscriber offers, in
 * tests/fuzz/corpus/wsdp/), our offers and answers read back with the same
 * parser and checked line by line against what the SDKs need, and
 * hostile descriptions refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/wsdp.h"

#include "test.h"
#include "wsdp_peer.h"

#define SEEDS "tests/fuzz/corpus/wsdp/"

static struct wsdp_desc d;
static char text[WSDP_SIZE_MAX + 2];

static size_t load(const char *name)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), SEEDS "%s", name);
	f = fopen(path, "rb");
	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return n;
}

static int parse_str(struct wsdp_desc *to, const char *s, const char **why)
{
	return wsdp_parse(to, s, strlen(s), why);
}

TEST(parse_chromium_publisher_offer)
{
	const char *why = NULL;
	size_t n = load("chromium_publisher_offer");

	CHECK(n > 0);
	CHECK_EQ(wsdp_parse(&d, text, n, &why), 0);
	CHECK_EQ(d.n, 2);
	CHECK_EQ(d.nbundle, 2);
	CHECK_EQ(d.bundle[0], 0);
	CHECK_EQ(d.bundle[1], 1);
	CHECK_EQ(d.transport, 0);
	CHECK_STR(d.ice_ufrag, "Xq7v");
	CHECK_STR(d.ice_pwd, "Zt4mD0sq4TgY0s3J7Hc6X1bN");
	CHECK_EQ(d.fp_sha256[0], 0xf2);
	CHECK_EQ(d.fp_sha256[31], 0xd8);
	CHECK_EQ(d.setup, WSDP_SETUP_ACTPASS);
	CHECK(!d.ice_lite);

	CHECK_EQ(d.m[0].kind, WSDP_AUDIO);
	CHECK_EQ(d.m[0].port, 9);
	CHECK(!d.m[0].rejected && d.m[0].bundled && d.m[0].savpf);
	CHECK_STR(d.m[0].proto, "UDP/TLS/RTP/SAVPF");
	CHECK_EQ(d.m[0].nfmt, 8);
	CHECK_STR(d.m[0].fmt0, "111");
	CHECK_STR(d.m[0].mid, "0");
	CHECK_EQ(d.m[0].dir, WSDP_SENDONLY);
	CHECK_EQ(d.m[0].opus_pt, 111);
	CHECK_STR(
	    d.m[0].opus_fmtp,
	    "minptime=10;useinbandfec=1;usedtx=1;stereo=1;sprop-stereo=1");
	CHECK(d.m[0].pcmu);
	CHECK(d.m[0].has_msid);
	CHECK_STR(d.m[0].msid_stream, "-");
	CHECK_STR(d.m[0].msid_track, "6c1d8a43-6a4b-4f0b-9b5e-2c3f1b2a7d10");
	CHECK(d.m[0].has_ssrc);
	CHECK_EQ(d.m[0].ssrc, 2839180522u);
	CHECK_STR(d.m[0].cname, "3oGmcZ7kB0v+Uq2L");
	CHECK(d.m[0].rtcp_mux);

	CHECK_EQ(d.m[1].kind, WSDP_APPLICATION);
	CHECK(d.m[1].sctp && !d.m[1].savpf);
	CHECK_STR(d.m[1].fmt0, "webrtc-datachannel");
	CHECK_STR(d.m[1].mid, "1");
	CHECK_EQ(d.m[1].sctp_port, 5000);
	CHECK(d.m[1].has_max_message_size);
	CHECK_EQ(d.m[1].max_message_size, 262144);
	CHECK_EQ(wsdp_find_mid(&d, "1"), 1);
	CHECK_EQ(wsdp_find_mid(&d, "2"), -1);
	return 0;
}

TEST(parse_rtc_node_publisher_offer)
{
	const char *why = NULL;
	size_t n = load("rtc_node_publisher_offer");

	CHECK(n > 0);
	CHECK_EQ(wsdp_parse(&d, text, n, &why), 0);
	CHECK_EQ(d.n, 8);
	CHECK_EQ(d.nbundle, 8);
	CHECK_STR(d.ice_ufrag, "d3Jq");
	CHECK_EQ(d.fp_sha256[0], 0x45);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(d.m[i].kind, WSDP_AUDIO);
		CHECK_EQ(d.m[i].dir, WSDP_RECVONLY);
		CHECK_EQ(d.m[i].opus_pt, 111);
		CHECK(!d.m[i].has_msid && !d.m[i].has_ssrc);
	}
	for (unsigned i = 3; i < 6; i++) {
		CHECK_EQ(d.m[i].kind, WSDP_VIDEO);
		CHECK_STR(d.m[i].kind_name, "video");
		CHECK_EQ(d.m[i].nfmt, 29);
		CHECK_STR(d.m[i].fmt0, "96");
		CHECK_EQ(d.m[i].opus_pt, -1);
		CHECK(d.m[i].bundled);
	}
	CHECK_EQ(d.m[6].kind, WSDP_APPLICATION);
	CHECK_STR(d.m[6].mid, "6");
	CHECK_EQ(d.m[7].dir, WSDP_SENDONLY);
	CHECK_STR(d.m[7].mid, "7");
	CHECK_STR(d.m[7].msid_track, "0b7c3f52-1d2e-4c61-8d3a-55f0e6a9c1b4");
	CHECK_EQ(d.m[7].ssrc, 1398442317u);
	CHECK_STR(d.m[7].cname, "Jd2fK9qL3mWn8xVt");
	CHECK_STR(d.m[7].opus_fmtp, "minptime=10;useinbandfec=1");
	return 0;
}

TEST(parse_answers)
{
	const char *why = NULL;
	size_t n = load("chromium_subscriber_answer");

	CHECK_EQ(wsdp_parse(&d, text, n, &why), 0);
	CHECK_EQ(d.n, 1);
	CHECK_EQ(d.setup, WSDP_SETUP_ACTIVE);
	CHECK_EQ(d.m[0].dir, WSDP_RECVONLY);
	CHECK(d.m[0].pcmu && d.m[0].opus_pt < 0 && d.m[0].rtcp_mux);
	CHECK_STR(d.ice_ufrag, "pL2w");
	CHECK_EQ(d.fp_sha256[0], 0xda);

	n = load("rtc_node_subscriber_answer");
	CHECK_EQ(wsdp_parse(&d, text, n, &why), 0);
	CHECK_EQ(d.n, 4);
	CHECK_EQ(d.m[0].dir, WSDP_INACTIVE);
	CHECK_EQ(d.m[1].dir, WSDP_RECVONLY);
	CHECK_EQ(d.m[2].opus_pt, 111);
	CHECK_EQ(d.m[3].kind, WSDP_APPLICATION);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(d.m[i].ncand, 2); /* counted, never resolved */
	CHECK_STR(d.ice_pwd, "vT8bN2qLx5Wc0mZr7yGd1fKs");

	/* LF line ends, the transport at session level. */
	n = load("session_level_answer");
	CHECK(!memchr(text, '\r', n));
	CHECK_EQ(wsdp_parse(&d, text, n, &why), 0);
	CHECK_STR(d.ice_ufrag, "4045");
	CHECK_STR(d.ice_pwd, "e0491b63d0406bf91bb1a8");
	CHECK_EQ(d.fp_sha256[0], 0x43);
	CHECK_EQ(d.setup, WSDP_SETUP_ACTIVE);
	CHECK_STR(d.m[0].mid, "0");
	return 0;
}

static const char *const levels =
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE b a\r\n"
    "a=ice-ufrag:SESS\r\na=ice-pwd:sessionsessionsession0\r\n"
    "a=fingerprint:sha-1 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
    "11:12:13:14\r\n"
    "a=fingerprint:sha-256 11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:"
    "11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11\r\n"
    "a=setup:passive\r\na=recvonly\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:a\r\na=ice-ufrag:AAAA\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:b\r\na=ice-ufrag:BBBB\r\n"
    "a=fingerprint:sha-512 AA:AA:AA:AA\r\n"
    "a=fingerprint:sha-256 22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:"
    "22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22\r\n"
    "a=fingerprint:sha-256 33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:"
    "33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33\r\n"
    "a=setup:active\r\na=sendonly\r\n";

/* The BUNDLE tag's media-level transport wins over the session's; the
 * session's fills what the tag lacks; directions fall back likewise. */
TEST(transport_levels)
{
	const char *why = NULL;

	CHECK_EQ(parse_str(&d, levels, &why), 0);
	CHECK_EQ(d.transport, 1); /* "b" comes first in the group */
	CHECK_STR(d.ice_ufrag, "BBBB");
	CHECK_STR(d.ice_pwd, "sessionsessionsession0");
	CHECK_EQ(d.fp_sha256[0], 0x22); /* the first sha-256 of the line */
	CHECK_EQ(d.setup, WSDP_SETUP_ACTIVE);
	CHECK_EQ(d.m[0].dir, WSDP_RECVONLY);
	CHECK_EQ(d.m[1].dir, WSDP_SENDONLY);
	return 0;
}

/* A session with the transport and one line (after v=0); then extra
 * lines. */
#define SESS                                                                   \
	"o=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"                           \
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"             \
	"a=fingerprint:sha-256 11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:"  \
	"11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11\r\n"               \
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
#define BASE "v=0\r\n" SESS

static int refused(const char *sdp, int err, const char *why_want)
{
	const char *why = NULL;
	int got = parse_str(&d, sdp, &why);

	if (got != err || !why || strcmp(why, why_want) != 0) {
		printf("# %.60s...: %d (%s), wanted %d (%s)\n", sdp, got,
		       why ? why : "-", err, why_want);
		return 1;
	}
	return 0;
}

TEST(hostile_refused)
{
	char *big = malloc(WSDP_SIZE_MAX + 64);
	const char *why = NULL;
	size_t n;

	CHECK(big);
	CHECK_EQ(parse_str(&d, BASE, &why), 0);
	CHECK_EQ(parse_str(&d, BASE "a=mid:1\r\n", &why), EBADMSG);
	CHECK_STR(why, "a=mid twice");
	CHECK_EQ(d.err_line, 10);

	/* Size: just over 64 KiB refused before reading. */
	memset(big, 'x', WSDP_SIZE_MAX + 1);
	memcpy(big, BASE, strlen(BASE));
	CHECK_EQ(wsdp_parse(&d, big, WSDP_SIZE_MAX + 1, &why), E2BIG);
	/* A line of 1025 bytes. */
	n = (size_t)snprintf(big, 1024, "%s", BASE "a=x:");
	memset(big + n, 'y', 1021);
	big[n + 1021] = '\0';
	CHECK_EQ(parse_str(&d, big, &why), E2BIG);
	big[n + 1020] = '\0';
	CHECK_EQ(parse_str(&d, big, &why), 0);
	/* 17 m-lines. */
	n = (size_t)snprintf(big, 4096, "%s", BASE);
	for (unsigned i = 1; i < 17; i++)
		n += (size_t)snprintf(big + n, WSDP_SIZE_MAX - n,
		                      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
		                      "a=mid:%u\r\n",
		                      i);
	CHECK_EQ(parse_str(&d, big, &why), E2BIG);
	CHECK_STR(why, "more than 16 m-lines");
	free(big);

	CHECK_EQ(wsdp_parse(&d, "v=0\r\n\0m=", 8, &why), EBADMSG);
	CHECK(!refused("", EBADMSG, "empty description"));
	CHECK(!refused("v=0\r\n", EPROTO, "no m-line"));
	CHECK(!refused("o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n", EBADMSG,
	               "does not start with v=0"));
	CHECK(!refused("v=1\r\n", EBADMSG, "does not start with v=0"));
	CHECK(!refused(BASE "a=x\ry\r\n", EBADMSG,
	               "control character in a line"));
	CHECK(!refused(BASE "x=1\r\n", EBADMSG, "unknown line type"));
	CHECK(!refused(BASE "junk\r\n", EBADMSG,
	               "line not of the form <type>=<value>"));
	CHECK(!refused(BASE "v=0\r\n", EBADMSG, "v= twice"));
	CHECK(!refused(BASE "a=:x\r\n", EBADMSG, "attribute without a name"));
	/* m-lines */
	CHECK(!refused(BASE "m=audio 65536 RTP/AVP 0\r\n", EBADMSG,
	               "bad m-line port"));
	CHECK(!refused(BASE "m=audio 9/2 RTP/AVP 0\r\n", EBADMSG,
	               "bad m-line port"));
	CHECK(!refused(BASE "m=audio -1 RTP/AVP 0\r\n", EBADMSG,
	               "bad m-line port"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP 128\r\n", EBADMSG,
	               "bad m-line payload type"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP x\r\n", EBADMSG,
	               "bad m-line payload type"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP\r\n", EBADMSG,
	               "m-line without formats"));
	CHECK(!refused(BASE "m=audio 9\r\n", EBADMSG, "bad m-line protocol"));
	CHECK(!refused(BASE "m=audiovideoaudiovideo 9 RTP/AVP 0\r\n", EBADMSG,
	               "bad m-line media type"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP/0123456789012345678901234 "
	                    "0\r\n",
	               EBADMSG, "bad m-line protocol"));
	/* mids and BUNDLE */
	CHECK(!refused(BASE "m=audio 9 RTP/AVP 0\r\na=mid:0\r\n", EPROTO,
	               "two m-lines, one mid"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP 0\r\n", EPROTO,
	               "m-line without a=mid"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP 0\r\na=mid:"
	                    "012345678901234567890123456789012\r\n",
	               EBADMSG, "bad a=mid"));
	CHECK(!refused(BASE "m=audio 9 RTP/AVP 0\r\na=mid:a b\r\n", EBADMSG,
	               "bad a=mid"));
	CHECK(!refused("v=0\r\na=group:BUNDLE 0 1\r\n" SESS, EPROTO,
	               "BUNDLE names a mid of no m-line"));
	CHECK(!refused("v=0\r\na=group:BUNDLE 0\r\na=group:BUNDLE 0\r\n" SESS,
	               EPROTO, "more than one BUNDLE group"));
	CHECK(!refused("v=0\r\na=group:BUNDLE 0 0\r\n" SESS, EPROTO,
	               "mid twice in BUNDLE group"));
	CHECK(!refused("v=0\r\na=group:BUNDLE 0 a\"b\r\n" SESS, EBADMSG,
	               "bad mid in BUNDLE group"));
	/* transport */
	CHECK(!refused("v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n", EPROTO,
	               "no a=ice-ufrag"));
	CHECK(!refused("v=0\r\na=ice-ufrag:abcd\r\nm=audio 9 RTP/AVP 0\r\n"
	               "a=mid:0\r\n",
	               EPROTO, "no a=ice-pwd"));
	CHECK(!refused("v=0\r\na=ice-ufrag:abcd\r\n"
	               "a=ice-pwd:abcdefghijklmnopqrstuv\r\n"
	               "a=fingerprint:sha-1 01:02:03:04:05:06:07:08:09:0A:0B:"
	               "0C:0D:0E:0F:10:11:12:13:14\r\n"
	               "m=audio 9 RTP/AVP 0\r\na=mid:0\r\n",
	               EPROTO, "no sha-256 a=fingerprint"));
	CHECK(!refused(BASE "a=ice-ufrag:abc\r\n", EBADMSG, "bad a=ice-ufrag"));
	CHECK(
	    !refused(BASE "a=ice-ufrag:ab;c\r\n", EBADMSG, "bad a=ice-ufrag"));
	CHECK(!refused(BASE "a=ice-ufrag:abcd\r\na=ice-ufrag:abcd\r\n", EBADMSG,
	               "a=ice-ufrag twice"));
	CHECK(!refused(BASE "a=ice-pwd:abcdefghijklmnopqrstu\r\n", EBADMSG,
	               "bad a=ice-pwd"));
	CHECK(!refused(BASE "a=fingerprint:sha-256 11:22\r\n", EBADMSG,
	               "sha-256 fingerprint not 32 bytes"));
	CHECK(!refused(BASE "a=fingerprint:sha-256 11:2G\r\n", EBADMSG,
	               "bad a=fingerprint digest"));
	CHECK(!refused(BASE "a=fingerprint:sha-256 11:\r\n", EBADMSG,
	               "bad a=fingerprint digest"));
	CHECK(!refused(BASE "a=fingerprint:sha-256 1122\r\n", EBADMSG,
	               "bad a=fingerprint digest"));
	CHECK(!refused(BASE "a=fingerprint:sha-256\r\n", EBADMSG,
	               "bad a=fingerprint"));
	CHECK(!refused(BASE "a=setup:client\r\n", EBADMSG, "bad a=setup"));
	CHECK(!refused(BASE "a=setup:active\r\na=setup:active\r\n", EBADMSG,
	               "a=setup twice"));
	CHECK(!refused(BASE "a=sendonly\r\na=recvonly\r\n", EBADMSG,
	               "two directions"));
	/* codecs, msid, ssrc, data */
	CHECK(!refused(BASE "a=rtpmap:111 opus\r\n", EBADMSG, "bad a=rtpmap"));
	CHECK(!refused(BASE "a=rtpmap:200 opus/48000/2\r\n", EBADMSG,
	               "bad a=rtpmap"));
	CHECK(!refused(BASE "a=rtpmap:111 opus/fast/2\r\n", EBADMSG,
	               "bad a=rtpmap"));
	CHECK(!refused(BASE "a=fmtp:x a=b\r\n", EBADMSG, "bad a=fmtp"));
	CHECK(!refused(BASE "a=msid:\r\n", EBADMSG, "bad a=msid"));
	CHECK(!refused(BASE "a=msid:a b c\r\n", EBADMSG, "bad a=msid"));
	CHECK(!refused(BASE "a=msid:"
	                    "01234567890123456789012345678901234567890123456789"
	                    "012345678901234\r\n",
	               EBADMSG, "bad a=msid"));
	CHECK(!refused(BASE "a=ssrc:4294967296 cname:x\r\n", EBADMSG,
	               "bad a=ssrc"));
	CHECK(!refused(BASE "a=ssrc:1\r\n", EBADMSG, "bad a=ssrc"));
	CHECK(
	    !refused(BASE "a=ssrc:1 cname:\r\n", EBADMSG, "bad a=ssrc cname"));
	CHECK(!refused(BASE "a=ssrc:1 msid:a\"b c\r\n", EBADMSG,
	               "bad a=ssrc msid"));
	CHECK(!refused(BASE "a=sctp-port:0\r\n", EBADMSG, "bad a=sctp-port"));
	CHECK(!refused(BASE "a=max-message-size:-1\r\n", EBADMSG,
	               "bad a=max-message-size"));

	/* A long Opus fmtp is refused only once it is the Opus one. */
	n = (size_t)snprintf(text, sizeof(text), "%s",
	                     BASE "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 ");
	memset(text + n, 'z', 256);
	strcpy(text + n + 256, "\r\n");
	CHECK_EQ(parse_str(&d, text, &why), E2BIG);
	text[n - 5] = '2'; /* a=fmtp:112 */
	CHECK_EQ(parse_str(&d, text, &why), 0);
	CHECK_EQ(d.m[0].opus_pt, 111);
	CHECK_STR(d.m[0].opus_fmtp, "");
	return 0;
}

/* What is tolerated: unknown attributes and grouping, extmaps, the legacy
 * sctpmap, ssrc-only msid, a rejected line without mid, bundle-only,
 * blank lines and a missing final line end. */
TEST(tolerated)
{
	const char *why = NULL;

	CHECK_EQ(
	    parse_str(&d,
	              "v=0\r\na=group:LS 0 1\r\n"
	              "a=x-google-flag:conference\r\n" SESS
	              "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
	              "a=ssrc-group:FID 5 6\r\n"
	              "a=ssrc:5 msid:stream track\r\n"
	              "a=ssrc:6 msid:other other\r\n"
	              "a=ssrc:5 cname:c5\r\n"
	              "\r\n"
	              "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"
	              "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
	              "a=mid:d\r\na=bundle-only\r\n"
	              "a=sctpmap:5000 webrtc-datachannel 1024\r\n"
	              "a=sctp-port:6000\r\n"
	              "a=max-message-size:0",
	              &why),
	    0);
	CHECK_EQ(d.n, 3);
	CHECK(d.m[0].has_ssrc && d.m[0].ssrc == 5);
	CHECK_STR(d.m[0].msid_stream, "stream");
	CHECK_STR(d.m[0].msid_track, "track");
	CHECK_STR(d.m[0].cname, "c5");
	CHECK(d.m[1].rejected && !d.m[1].mid[0]);
	CHECK(!d.m[2].rejected && d.m[2].bundled == false);
	CHECK_EQ(d.m[2].sctp_port, 5000);
	CHECK(d.m[2].has_max_message_size && d.m[2].max_message_size == 0);
	CHECK_EQ(d.transport, 0);
	CHECK(d.m[0].bundled);
	return 0;
}

/* Every cut of a real description either reads or is refused cleanly. */
TEST(every_prefix)
{
	static const char *const seeds[] = {
	    "chromium_publisher_offer",   "rtc_node_publisher_offer",
	    "chromium_subscriber_answer", "rtc_node_subscriber_answer",
	    "session_level_answer",
	};
	const char *why;

	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		size_t n = load(seeds[k]);
		char *copy;

		CHECK(n > 0);
		for (size_t i = 0; i <= n; i += i < 2000 ? 1 : 7) {
			copy = malloc(i ? i : 1);
			CHECK(copy);
			memcpy(copy, text, i);
			why = NULL;
			if (wsdp_parse(&d, copy, i, &why))
				CHECK(why && why[0]);
			free(copy);
		}
	}
	return 0;
}

static struct wsdp_desc back;
static char out[WSDP_SIZE_MAX];

static const struct wsdp_local local = {
    .ufrag = "vXg1",
    .pwd = "0123456789abcdefghijKL",
    .fp_sha256 = {0xde, 0xad, 0xbe, 0xef, 1,  2,  3,  4,  5,  6,   7,
                  8,    9,    10,   11,   12, 13, 14, 15, 16, 17,  18,
                  19,   20,   21,   22,   23, 24, 25, 26, 27, 0xff},
    .addr = "203.0.113.7",
    .port = 40002,
};

#define OUR_FP                                                                 \
	"a=fingerprint:sha-256 DE:AD:BE:EF:01:02:03:04:05:06:07:08:09:0A:0B:"  \
	"0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:FF"

/* The m-section i of sdp (its m= line up to the next), "" past the end. */
static const char *section(const char *sdp, unsigned i, size_t *n)
{
	const char *p = strstr(sdp, "\r\nm=");
	const char *next;

	while (p && i--)
		p = strstr(p + 2, "\r\nm=");
	if (!p) {
		*n = 0;
		return "";
	}
	p += 2;
	next = strstr(p, "\r\nm=");
	*n = next ? (size_t)(next - p) + 2 : strlen(p);
	return p;
}

/* Whether a whole line equal to line is in [p, p + n). */
static bool has_line_in(const char *p, size_t n, const char *line)
{
	size_t l = strlen(line);

	for (const char *q = p; q < p + n;) {
		const char *e = memchr(q, '\n', (size_t)(p + n - q));
		size_t len = e ? (size_t)(e - q) : (size_t)(p + n - q);

		if (len && q[len - 1] == '\r')
			len--;
		if (len == l && !memcmp(q, line, l))
			return true;
		if (!e)
			break;
		q = e + 1;
	}
	return false;
}

static bool in_section(const char *sdp, unsigned i, const char *line)
{
	size_t n;
	const char *p = section(sdp, i, &n);

	return has_line_in(p, n, line);
}

static bool in_session(const char *sdp, const char *line)
{
	const char *m = strstr(sdp, "\r\nm=");

	return has_line_in(sdp, m ? (size_t)(m - sdp) + 2 : strlen(sdp), line);
}

/* Every line ends with CRLF and none is empty. */
static bool crlf_only(const char *sdp)
{
	for (const char *p = sdp; *p; p++) {
		if (*p == '\n' && (p == sdp || p[-1] != '\r'))
			return false;
		if (*p == '\r' && p[1] != '\n')
			return false;
		if (*p == '\n' && p[1] == '\r')
			return false;
	}
	return strlen(sdp) >= 2 && !strcmp(sdp + strlen(sdp) - 2, "\r\n");
}

static int offer(struct wsdp_sub *s, const struct wsdp_local *l)
{
	const char *why = NULL;
	size_t len = 0;
	int err = wsdp_sub_offer(s, l, out, sizeof(out), &len, &why);

	if (err)
		return err;
	if (len != strlen(out) || !crlf_only(out))
		return EINVAL;
	return wsdp_parse(&back, out, len, &why);
}

/* The client answers the offer in out (parsed in back). */
static int answer(struct wsdp_sub *s, uint32_t reject_mask)
{
	char ans[WSDP_SIZE_MAX];
	const char *why = NULL;
	size_t len = 0;
	int err = peer_answer(&back, reject_mask, ans, sizeof(ans), &len);

	if (!err)
		err = wsdp_parse(&d, ans, len, &why);
	if (!err)
		err = wsdp_sub_answer(s, &d, &why);
	return err;
}

/* Nothing subscribed yet: one inactive audio line, so ICE and DTLS can
 * start; a=ice-lite at session level. */
TEST(sub_offer_first_empty)
{
	static struct wsdp_sub s;

	wsdp_sub_init(&s, 32349875);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK(in_session(out, "v=0"));
	CHECK(in_session(out, "o=- 32349875 1 IN IP4 0.0.0.0"));
	CHECK(in_session(out, "a=ice-lite"));
	CHECK(in_session(out, "a=group:BUNDLE 0"));
	CHECK(in_session(out, "a=msid-semantic: WMS *"));
	CHECK(!in_section(out, 0, "a=ice-lite"));
	CHECK(in_section(out, 0, "m=audio 9 UDP/TLS/RTP/SAVPF 0"));
	CHECK(in_section(out, 0, "c=IN IP4 0.0.0.0"));
	CHECK(in_section(out, 0, "a=inactive"));
	CHECK(in_section(out, 0, "a=setup:actpass"));
	CHECK(in_section(out, 0, "a=ice-ufrag:vXg1"));
	CHECK(in_section(out, 0, "a=ice-pwd:0123456789abcdefghijKL"));
	CHECK(in_section(out, 0, OUR_FP));
	CHECK(in_section(out, 0,
	                 "a=candidate:1 1 udp 2130706431 203.0.113.7 "
	                 "40002 typ host"));
	CHECK(in_section(out, 0, "a=end-of-candidates"));
	CHECK(in_section(out, 0, "a=rtcp-mux"));
	CHECK(!strstr(out, "a=msid:") && !strstr(out, "a=ssrc"));
	CHECK(back.ice_lite);
	CHECK_EQ(back.n, 1);
	CHECK_EQ(back.m[0].dir, WSDP_INACTIVE);
	CHECK_EQ(back.setup, WSDP_SETUP_ACTPASS);
	CHECK(s.pending);
	CHECK_EQ(
	    wsdp_sub_offer(&s, &local, out, sizeof(out), &(size_t){0}, NULL),
	    EALREADY);

	/* The client answers with its own transport, DTLS active. */
	CHECK_EQ(answer(&s, 0), 0);
	CHECK(!s.pending && s.dtls_server);
	CHECK_EQ(s.line[0].state, WSDP_LINE_IDLE);
	CHECK_EQ(wsdp_sub_answer(&s, &d, NULL), EALREADY);
	return 0;
}

TEST(sub_offer_tracks)
{
	static struct wsdp_sub s;
	const char *why = NULL;
	unsigned line = 99;

	wsdp_sub_init(&s, 5);
	CHECK_EQ(wsdp_sub_add(&s, "PA_caller0000001", "TR_caller0000001",
	                      3166947600u, WSDP_PCMU, &line, &why),
	         0);
	CHECK_EQ(line, 0);
	CHECK_EQ(wsdp_sub_add(&s, "PA_agent00000001", "TR_agent00000001", 42,
	                      WSDP_OPUS, &line, &why),
	         0);
	CHECK_EQ(line, 1);
	CHECK_EQ(wsdp_sub_data(&s), 0);
	CHECK_EQ(wsdp_sub_data(&s), EALREADY);
	CHECK_EQ(offer(&s, &local), 0);

	CHECK(in_session(out, "a=group:BUNDLE 0 1 2"));
	CHECK(in_session(out, "a=ice-lite"));
	/* The phone caller's track: PCMU, sendonly, PA|TR msid. */
	CHECK(in_section(out, 0, "m=audio 9 UDP/TLS/RTP/SAVPF 0"));
	CHECK(in_section(out, 0, "a=sendonly"));
	CHECK(in_section(out, 0, "a=mid:0"));
	CHECK(in_section(out, 0,
	                 "a=msid:PA_caller0000001|TR_caller0000001 "
	                 "TR_caller0000001"));
	CHECK(in_section(out, 0, "a=ssrc:3166947600 cname:voxgate"));
	CHECK(in_section(out, 0,
	                 "a=ssrc:3166947600 msid:PA_caller0000001|"
	                 "TR_caller0000001 TR_caller0000001"));
	CHECK(in_section(out, 0, "a=rtpmap:0 PCMU/8000"));
	CHECK(in_section(out, 0, "a=rtcp-mux"));
	/* A WebRTC publisher's track forwarded: Opus 111. */
	CHECK(in_section(out, 1, "m=audio 9 UDP/TLS/RTP/SAVPF 111"));
	CHECK(in_section(out, 1, "a=rtpmap:111 opus/48000/2"));
	CHECK(in_section(out, 1, "a=fmtp:111 minptime=10;useinbandfec=1"));
	CHECK(in_section(out, 1,
	                 "a=msid:PA_agent00000001|TR_agent00000001 "
	                 "TR_agent00000001"));
	CHECK(in_section(out, 1, "a=ssrc:42 cname:voxgate"));
	/* The data channels. */
	CHECK(in_section(out, 2,
	                 "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"));
	CHECK(in_section(out, 2, "a=sctp-port:5000"));
	CHECK(in_section(out, 2, "a=max-message-size:262144"));
	CHECK(in_section(out, 2, "a=setup:actpass"));

	CHECK_EQ(back.n, 3);
	CHECK_STR(back.m[0].msid_stream, "PA_caller0000001|TR_caller0000001");
	CHECK_STR(back.m[0].msid_track, "TR_caller0000001");
	CHECK_EQ(back.m[0].ssrc, 3166947600u);
	CHECK_STR(back.m[0].cname, "voxgate");
	CHECK_EQ(back.m[0].dir, WSDP_SENDONLY);
	CHECK(back.m[0].pcmu && back.m[0].nfmt == 1);
	CHECK_EQ(back.m[1].opus_pt, 111);
	CHECK_EQ(back.m[2].sctp_port, 5000);

	/* The werift/Chromium answer form, through the same check. */
	CHECK_EQ(answer(&s, 0), 0);
	CHECK(s.line[0].receiving && s.line[1].receiving);
	CHECK_EQ(s.peer_sctp_port, 5000);
	CHECK_EQ(s.peer_max_message_size, 262144);

	/* Bad values refused. */
	CHECK_EQ(wsdp_sub_add(&s, "PA_x", "TR_caller0000001", 7, WSDP_PCMU,
	                      NULL, &why),
	         EEXIST);
	CHECK_EQ(wsdp_sub_add(&s, "PA_x", "TR_y", 42, WSDP_PCMU, NULL, &why),
	         EEXIST);
	CHECK_EQ(wsdp_sub_add(&s, "PA_x", "TR y", 8, WSDP_PCMU, NULL, &why),
	         EINVAL);
	CHECK_EQ(wsdp_sub_add(&s, "PA|x", "TR_y", 8, WSDP_PCMU, NULL, &why),
	         EINVAL);
	CHECK_EQ(wsdp_sub_add(&s, "", "TR_y", 8, WSDP_PCMU, NULL, &why),
	         EINVAL);
	CHECK_EQ(wsdp_sub_add(&s, "PA_x", "TR_01234567890123456789012345678", 8,
	                      WSDP_PCMU, NULL, &why),
	         EINVAL);
	CHECK_EQ(wsdp_sub_add(&s, "PA_x", "TR_y", 0, WSDP_PCMU, NULL, &why),
	         EINVAL);
	CHECK_EQ(wsdp_sub_remove(&s, "TR_none"), ENOENT);
	return 0;
}

/* Mids stay with their tracks across re-offers; a track removed leaves a
 * port-0 line (line 0, the BUNDLE tag, goes inactive); mids are never
 * given again. */
TEST(sub_reoffer_stable_mids)
{
	static struct wsdp_sub s;
	const char *why = NULL;

	wsdp_sub_init(&s, 9);
	CHECK_EQ(wsdp_sub_add(&s, "PA_a", "TR_a", 1, WSDP_PCMU, NULL, &why), 0);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK_EQ(answer(&s, 0), 0);

	CHECK_EQ(wsdp_sub_add(&s, "PA_b", "TR_b", 2, WSDP_OPUS, NULL, &why), 0);
	CHECK(s.changed);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK(!s.changed);
	CHECK(in_session(out, "o=- 9 2 IN IP4 0.0.0.0"));
	CHECK(in_session(out, "a=group:BUNDLE 0 1"));
	CHECK(in_section(out, 0, "a=msid:PA_a|TR_a TR_a"));
	CHECK(in_section(out, 1, "a=msid:PA_b|TR_b TR_b"));
	CHECK_EQ(answer(&s, 0), 0);

	CHECK_EQ(wsdp_sub_remove(&s, "TR_a"), 0);
	CHECK_EQ(wsdp_sub_remove(&s, "TR_b"), 0);
	CHECK_EQ(wsdp_sub_find(&s, "TR_b"), -1);
	CHECK_EQ(wsdp_sub_add(&s, "PA_c", "TR_c", 3, WSDP_PCMU, NULL, &why), 0);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK_EQ(back.n, 3);
	CHECK(in_session(out, "a=group:BUNDLE 0 2"));
	CHECK(in_section(out, 0, "a=inactive"));
	CHECK(in_section(out, 0, "a=mid:0"));
	CHECK(!in_section(out, 0, "a=msid:PA_a|TR_a TR_a"));
	CHECK(!back.m[0].rejected && back.m[0].bundled);
	CHECK(in_section(out, 1, "m=audio 0 UDP/TLS/RTP/SAVPF 111"));
	CHECK(in_section(out, 1, "a=mid:1"));
	CHECK(!in_section(out, 1, "a=ice-ufrag:vXg1"));
	CHECK(back.m[1].rejected && !back.m[1].bundled);
	CHECK(in_section(out, 2, "a=mid:2"));
	CHECK(in_section(out, 2, "a=msid:PA_c|TR_c TR_c"));
	CHECK_EQ(answer(&s, 0), 0);
	CHECK(s.line[1].recyclable);
	CHECK(s.line[2].receiving);

	/* Re-adding a track that left gets a new line and mid. */
	CHECK_EQ(wsdp_sub_add(&s, "PA_b", "TR_b", 2, WSDP_OPUS, NULL, &why), 0);
	CHECK_EQ(wsdp_sub_find(&s, "TR_b"), 3);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK_STR(back.m[3].mid, "3");
	CHECK(in_session(out, "a=group:BUNDLE 0 2 3"));
	return 0;
}

/* Only when all 16 lines are taken is a rejected line recycled, and only
 * once its rejection was answered; it gets a new mid. */
TEST(sub_recycle)
{
	static struct wsdp_sub s;
	const char *why = NULL;
	char sid[16];

	wsdp_sub_init(&s, 1);
	for (unsigned i = 0; i < WSDP_MEDIA_MAX; i++) {
		snprintf(sid, sizeof(sid), "TR_%u", i);
		CHECK_EQ(wsdp_sub_add(&s, "PA_p", sid, 100 + i, WSDP_PCMU, NULL,
		                      &why),
		         0);
	}
	CHECK_EQ(wsdp_sub_add(&s, "PA_p", "TR_x", 99, WSDP_PCMU, NULL, &why),
	         ENOSPC);
	CHECK_EQ(wsdp_sub_data(&s), ENOSPC);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK_EQ(back.n, 16);
	CHECK_EQ(answer(&s, 0), 0);

	CHECK_EQ(wsdp_sub_remove(&s, "TR_5"), 0);
	/* Not answered yet: the client still has mid 5 at line 5. */
	CHECK_EQ(wsdp_sub_add(&s, "PA_p", "TR_x", 99, WSDP_PCMU, NULL, &why),
	         ENOSPC);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK(back.m[5].rejected);
	CHECK_EQ(wsdp_sub_add(&s, "PA_p", "TR_x", 99, WSDP_PCMU, NULL, &why),
	         ENOSPC);
	CHECK_EQ(answer(&s, 0), 0);
	CHECK_EQ(wsdp_sub_add(&s, "PA_p", "TR_x", 99, WSDP_PCMU, NULL, &why),
	         0);
	CHECK_EQ(wsdp_sub_find(&s, "TR_x"), 5);
	CHECK_STR(s.line[5].mid, "16");
	CHECK_EQ(offer(&s, &local), 0);
	CHECK_STR(back.m[5].mid, "16");
	CHECK(!back.m[5].rejected);
	CHECK_EQ(answer(&s, 0), 0);
	CHECK(s.line[5].receiving);

	/* Line 0 is the tag: its track leaves it inactive, never rejected,
	 * never recycled. */
	CHECK_EQ(wsdp_sub_remove(&s, "TR_0"), 0);
	CHECK_EQ(s.line[0].state, WSDP_LINE_IDLE);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK_EQ(answer(&s, 0), 0);
	CHECK_EQ(wsdp_sub_add(&s, "PA_p", "TR_y", 98, WSDP_PCMU, NULL, &why),
	         ENOSPC);
	return 0;
}

/* A client that rejects a line stops it; what the client may not do. */
TEST(sub_answer_refused)
{
	static struct wsdp_sub s;
	const char *why = NULL;
	char ans[4096];
	size_t len = 0;

	wsdp_sub_init(&s, 2);
	CHECK_EQ(wsdp_sub_add(&s, "PA_a", "TR_a", 1, WSDP_PCMU, NULL, &why), 0);
	CHECK_EQ(wsdp_sub_add(&s, "PA_b", "TR_b", 2, WSDP_OPUS, NULL, &why), 0);
	CHECK_EQ(offer(&s, &local), 0);

	/* Chromium's one-line answer does not fit a two-line offer. */
	len = load("chromium_subscriber_answer");
	CHECK_EQ(wsdp_parse(&d, text, len, &why), 0);
	CHECK_EQ(wsdp_sub_answer(&s, &d, &why), EPROTO);
	CHECK(s.pending);

	/* Each change to a good answer that must be refused. */
	static const char *const breaks[][2] = {
	    {"a=mid:1", "a=mid:7"},
	    {"a=setup:active", "a=setup:actpass"},
	    {"a=recvonly", "a=sendrecv"},
	    {"a=group:BUNDLE 0 1", "a=group:BUNDLE 0"},
	    {"a=rtcp-mux", "a=rtcp-rsize"},
	    {"UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 96"},
	    {"m=audio 9 UDP/TLS/RTP/SAVPF 0", "m=video 9 UDP/TLS/RTP/SAVPF 0"},
	};
	CHECK_EQ(peer_answer(&back, 0, ans, sizeof(ans), &len), 0);
	for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
		char bad[4096];
		char *at = strstr(ans, breaks[i][0]);
		int err;

		CHECK(at);
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(at - ans), ans,
		         breaks[i][1], at + strlen(breaks[i][0]));
		err = parse_str(&d, bad, &why);
		if (!err)
			err = wsdp_sub_answer(&s, &d, &why);
		if (err != EPROTO)
			TEST_FAIL("sub_answer_refused", "%s -> %s: %d",
			          breaks[i][0], breaks[i][1], err);
		CHECK(s.pending);
	}

	/* A client that answers inactive is not receiving (yet). */
	{
		char in[4096];
		char *at = strstr(ans, "a=recvonly");

		CHECK(at);
		snprintf(in, sizeof(in), "%.*sa=inactive%s", (int)(at - ans),
		         ans, at + strlen("a=recvonly"));
		CHECK_EQ(parse_str(&d, in, &why), 0);
		CHECK_EQ(wsdp_sub_answer(&s, &d, &why), 0);
		CHECK(!s.line[0].receiving && s.line[1].receiving);
		CHECK_EQ(offer(&s, &local), 0);
	}

	/* The client rejects the Opus line: it is stopped from then on. */
	CHECK_EQ(answer(&s, 1u << 1), 0);
	CHECK(s.line[0].receiving);
	CHECK_EQ(s.line[1].state, WSDP_LINE_STOPPED);
	CHECK(!s.line[1].receiving);
	CHECK_EQ(wsdp_sub_find(&s, "TR_b"), -1);
	CHECK_EQ(offer(&s, &local), 0);
	CHECK(back.m[1].rejected);
	CHECK(in_session(out, "a=group:BUNDLE 0"));
	return 0;
}

TEST(candidate_address)
{
	static struct wsdp_sub s;
	struct wsdp_local l = local;
	const char *why = NULL;

	CHECK_EQ(wsdp_host_priority(65535, 1), 2130706431u);
	CHECK_EQ(wsdp_host_priority(0, 1), (126u << 24) + 255);
	CHECK_EQ(wsdp_host_priority(65535, 2), 2130706430u);

	l.addr = "2001:DB8:0::7";
	wsdp_sub_init(&s, 1);
	CHECK_EQ(offer(&s, &l), 0);
	CHECK(in_section(out, 0,
	                 "a=candidate:1 1 udp 2130706431 2001:db8::7 "
	                 "40002 typ host"));

	static const char *const bad_addr[] = {
	    "example.com", "203.0.113.7\r\na=x", "fe80::1%eth0", "", "1.2.3",
	};
	for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		wsdp_sub_init(&s, 1);
		l.addr = bad_addr[i];
		CHECK_EQ(wsdp_sub_offer(&s, &l, out, sizeof(out), &(size_t){0},
		                        &why),
		         EINVAL);
		CHECK(!s.pending);
	}
	l = local;
	l.ufrag = "ab c";
	CHECK_EQ(wsdp_sub_offer(&s, &l, out, sizeof(out), &(size_t){0}, &why),
	         EINVAL);
	l = local;
	l.pwd = "short";
	CHECK_EQ(wsdp_sub_offer(&s, &l, out, sizeof(out), &(size_t){0}, &why),
	         EINVAL);
	l = local;
	l.port = 0;
	CHECK_EQ(wsdp_sub_offer(&s, &l, out, sizeof(out), &(size_t){0}, &why),
	         EINVAL);

	/* Too small a buffer: ENOSPC, nothing sent. */
	CHECK_EQ(wsdp_sub_offer(&s, &local, out, 100, &(size_t){0}, &why),
	         ENOSPC);
	CHECK(!s.pending);
	CHECK_EQ(out[0], '\0');
	return 0;
}

static int answer_pub(const char *seed, bool data, struct wsdp_pub_result *res)
{
	const struct wsdp_pub_prm prm = {
	    .sess_id = 77, .version = 3, .data = data};
	const char *why = NULL;
	size_t n = load(seed), len = 0;
	int err;

	err = wsdp_parse(&d, text, n, &why);
	if (err)
		return err;
	err = wsdp_pub_answer(&d, &local, &prm, res, out, sizeof(out), &len,
	                      &why);
	if (err)
		return err;
	if (len != strlen(out))
		return EINVAL;
	return wsdp_parse(&back, out, len, &why);
}

TEST(pub_answer_chromium)
{
	struct wsdp_pub_result res;

	CHECK_EQ(answer_pub("chromium_publisher_offer", false, &res), 0);
	CHECK(crlf_only(out));
	CHECK(in_session(out, "o=- 77 3 IN IP4 0.0.0.0"));
	CHECK(in_session(out, "a=ice-lite"));
	CHECK(in_session(out, "a=group:BUNDLE 0"));
	CHECK(back.ice_lite);
	CHECK_EQ(back.n, 2);
	CHECK_EQ(back.setup, WSDP_SETUP_ACTIVE);
	CHECK(res.dtls_client);
	CHECK_STR(back.ice_ufrag, "vXg1");
	CHECK_STR(back.ice_pwd, "0123456789abcdefghijKL");
	CHECK(!memcmp(back.fp_sha256, local.fp_sha256, WSDP_FP_LEN));

	/* The microphone: recvonly, Opus only, at the offer's pt. */
	CHECK(in_section(out, 0, "m=audio 9 UDP/TLS/RTP/SAVPF 111"));
	CHECK(in_section(out, 0, "a=recvonly"));
	CHECK(in_section(out, 0, "a=rtpmap:111 opus/48000/2"));
	CHECK(in_section(out, 0, "a=fmtp:111 minptime=10;useinbandfec=1"));
	CHECK(in_section(out, 0, "a=rtcp-mux"));
	CHECK(in_section(out, 0, "a=mid:0"));
	CHECK(in_section(out, 0, "a=setup:active"));
	CHECK(in_section(out, 0, OUR_FP));
	CHECK(in_section(out, 0,
	                 "a=candidate:1 1 udp 2130706431 203.0.113.7 "
	                 "40002 typ host"));
	CHECK(in_section(out, 0, "a=end-of-candidates"));
	CHECK(!strstr(out, "PCMU") && !strstr(out, "red/") &&
	      !strstr(out, "a=extmap"));
	CHECK_EQ(back.m[0].nfmt, 1);
	CHECK_EQ(back.m[0].opus_pt, 111);
	CHECK_EQ(back.m[0].dir, WSDP_RECVONLY);
	CHECK_EQ(res.line[0].how, WSDP_ANS_RECEIVING);
	CHECK_STR(res.line[0].track_id, "6c1d8a43-6a4b-4f0b-9b5e-2c3f1b2a7d10");
	CHECK(res.line[0].has_ssrc);
	CHECK_EQ(res.line[0].ssrc, 2839180522u);
	CHECK_EQ(res.line[0].opus_pt, 111);

	/* Data channels not taken yet: port 0, out of BUNDLE, mid kept. */
	CHECK(in_section(out, 1,
	                 "m=application 0 UDP/DTLS/SCTP webrtc-datachannel"));
	CHECK(in_section(out, 1, "a=mid:1"));
	CHECK(!in_section(out, 1, "a=ice-ufrag:vXg1"));
	CHECK(back.m[1].rejected && !back.m[1].bundled);
	CHECK_EQ(res.line[1].how, WSDP_ANS_REJECTED);
	CHECK_EQ(back.nbundle, 1);

	/* Taken. */
	CHECK_EQ(answer_pub("chromium_publisher_offer", true, &res), 0);
	CHECK(in_session(out, "a=group:BUNDLE 0 1"));
	CHECK(in_section(out, 1,
	                 "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"));
	CHECK(in_section(out, 1, "a=sctp-port:5000"));
	CHECK(in_section(out, 1, "a=max-message-size:262144"));
	CHECK(in_section(out, 1, "a=setup:active"));
	CHECK_EQ(res.line[1].how, WSDP_ANS_DATA);
	CHECK_EQ(res.peer_sctp_port, 5000);
	CHECK_EQ(res.peer_max_message_size, 262144);
	CHECK_EQ(back.m[1].sctp_port, 5000);
	CHECK(back.m[1].bundled);
	return 0;
}

TEST(pub_answer_rtc_node_fallback)
{
	struct wsdp_pub_result res;

	CHECK_EQ(answer_pub("rtc_node_publisher_offer", false, &res), 0);
	CHECK(crlf_only(out));
	CHECK_EQ(back.n, 8);
	CHECK_EQ(res.n, 8);
	CHECK(in_session(out, "a=group:BUNDLE 0 1 2 7"));
	for (unsigned i = 0; i < 8; i++) {
		char mid[16];

		snprintf(mid, sizeof(mid), "%u", i);
		CHECK_STR(back.m[i].mid, mid);
		CHECK_EQ(back.m[i].kind, d.m[i].kind);
	}
	/* The recvonly audio of single-PC mode: inactive, still Opus. */
	for (unsigned i = 0; i < 3; i++) {
		CHECK(in_section(out, i, "a=inactive"));
		CHECK(in_section(out, i, "m=audio 9 UDP/TLS/RTP/SAVPF 111"));
		CHECK_EQ(res.line[i].how, WSDP_ANS_INACTIVE);
		CHECK_EQ(back.m[i].dir, WSDP_INACTIVE);
		CHECK(back.m[i].bundled);
	}
	/* Video: port 0, out of BUNDLE. */
	for (unsigned i = 3; i < 6; i++) {
		CHECK(in_section(out, i, "m=video 0 UDP/TLS/RTP/SAVPF 96"));
		CHECK_EQ(res.line[i].how, WSDP_ANS_REJECTED);
		CHECK(back.m[i].rejected && !back.m[i].bundled);
	}
	CHECK(back.m[6].rejected);
	CHECK_EQ(res.line[7].how, WSDP_ANS_RECEIVING);
	CHECK_STR(res.line[7].track_id, "0b7c3f52-1d2e-4c61-8d3a-55f0e6a9c1b4");
	CHECK_EQ(res.line[7].ssrc, 1398442317u);
	CHECK(in_section(out, 7, "a=recvonly"));
	CHECK(!strstr(out, "PCMU") && !strstr(out, "VP8"));

	CHECK_EQ(answer_pub("rtc_node_publisher_offer", true, &res), 0);
	CHECK(in_session(out, "a=group:BUNDLE 0 1 2 6 7"));
	CHECK_EQ(res.line[6].how, WSDP_ANS_DATA);
	return 0;
}

static const char *const pub_head =
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
    "a=fingerprint:sha-256 11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:"
    "11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11\r\n";

static int pub_of(const char *sess, const char *lines,
                  struct wsdp_pub_result *res, const char **why)
{
	const struct wsdp_pub_prm prm = {.sess_id = 1, .version = 1};
	char offer[4096];
	size_t len;
	int err;

	snprintf(offer, sizeof(offer), "%s%s%s", pub_head, sess, lines);
	err = parse_str(&d, offer, why);
	if (err)
		return err;
	return wsdp_pub_answer(&d, &local, &prm, res, out, sizeof(out), &len,
	                       why);
}

/* What the answer refuses: audio without Opus or rtcp-mux, lines outside
 * BUNDLE; and the DTLS role follows the offer's a=setup. */
TEST(pub_answer_rules)
{
	struct wsdp_pub_result res;
	const char *why = NULL;

	CHECK_EQ(pub_of("a=group:BUNDLE 0 1\r\na=setup:actpass\r\n",
	                "m=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\na=mid:0\r\n"
	                "a=sendonly\r\na=rtcp-mux\r\n"
	                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n"
	                "a=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n",
	                &res, &why),
	         0);
	CHECK_EQ(res.line[0].how, WSDP_ANS_REJECTED); /* PCMU only */
	CHECK_EQ(res.line[1].how, WSDP_ANS_REJECTED); /* no rtcp-mux */
	CHECK(in_section(out, 0, "m=audio 0 UDP/TLS/RTP/SAVPF 0"));
	CHECK(!strstr(out, "a=group:BUNDLE"));

	/* Opus at another pt, mono: not Opus 48000/2. */
	CHECK_EQ(pub_of("a=group:BUNDLE 0 1\r\na=setup:actpass\r\n",
	                "m=audio 9 UDP/TLS/RTP/SAVPF 109 96\r\na=mid:0\r\n"
	                "a=rtcp-mux\r\na=rtpmap:96 opus/48000\r\n"
	                "a=rtpmap:109 opus/48000/2\r\n"
	                "m=audio 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
	                "a=rtcp-mux\r\na=rtpmap:96 opus/48000\r\n",
	                &res, &why),
	         0);
	CHECK_EQ(res.line[0].how, WSDP_ANS_RECEIVING); /* sendrecv default */
	CHECK_EQ(res.line[0].opus_pt, 109);
	CHECK(in_section(out, 0, "a=rtpmap:109 opus/48000/2"));
	CHECK(in_section(out, 0, "m=audio 9 UDP/TLS/RTP/SAVPF 109"));
	CHECK_EQ(res.line[1].how, WSDP_ANS_REJECTED);

	/* Offer active: we answer passive and are the DTLS server. */
	CHECK_EQ(pub_of("a=setup:active\r\n",
	                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
	                "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n",
	                &res, &why),
	         0);
	CHECK(!res.dtls_client);
	CHECK(in_section(out, 0, "a=setup:passive"));

	CHECK_EQ(pub_of("a=setup:holdconn\r\n",
	                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n", &res,
	                &why),
	         EPROTO);

	/* Line 2 is not in the BUNDLE group: it would need a transport of
	 * its own. */
	CHECK_EQ(pub_of("a=group:BUNDLE 0 1\r\na=setup:actpass\r\n",
	                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
	                "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
	                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\n"
	                "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
	                "m=text 9 RTP/AVP 98\r\na=mid:1\r\n",
	                &res, &why),
	         0);
	CHECK_EQ(res.line[0].how, WSDP_ANS_RECEIVING);
	CHECK_EQ(res.line[1].how, WSDP_ANS_REJECTED);
	CHECK_EQ(res.line[2].how, WSDP_ANS_REJECTED);
	CHECK(in_section(out, 2, "m=text 0 RTP/AVP 98"));
	CHECK(in_session(out, "a=group:BUNDLE 0"));
	return 0;
}

int main(void)
{
	RUN(parse_chromium_publisher_offer);
	RUN(parse_rtc_node_publisher_offer);
	RUN(parse_answers);
	RUN(transport_levels);
	RUN(hostile_refused);
	RUN(tolerated);
	RUN(every_prefix);
	RUN(sub_offer_first_empty);
	RUN(sub_offer_tracks);
	RUN(sub_reoffer_stable_mids);
	RUN(sub_recycle);
	RUN(sub_answer_refused);
	RUN(candidate_address);
	RUN(pub_answer_chromium);
	RUN(pub_answer_rtc_node_fallback);
	RUN(pub_answer_rules);
	TEST_EXIT();
}
