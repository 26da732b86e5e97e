/*
 * rtc_client's insides (tests/tools/rtc_client.c has the overview):
 *
 *   signal.c  a client's /rtc WebSocket: the token, the JoinResponse, the
 *             offers and answers, add_track, ping, leave
 *   pc.c      a peer connection: UDP socket, ICE as the controlling agent,
 *             DTLS, SRTP, what RTP arrives and what is sent
 *   sdp.c     the client's SDP: its answer to the subscriber offer and its
 *             publisher offer, as libwebrtc writes them
 *   phone.c   a SIP caller in the same process (latency measurement)
 *   ws.c      the WebSocket client
 *
 * Everything runs on one libre loop: no thread per client, one 2 ms timer
 * for every client's periodic work.
 */
#ifndef RTCC_H
#define RTCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <re.h>

#include "livekit/lkpb.h"
#include "webrtc/dtls.h"
#include "webrtc/ice.h"
#include "webrtc/srtpx.h"
#include "webrtc/wsdp.h"

#define RTCC_TRACKS   16  /* RTP streams counted per connection */
#define RTCC_OPUS_PKT 400 /* bytes of one encoded Opus frame, at most */
#define RTCC_LOOP_MAX 250 /* frames of the looped Opus buffer */
#define RTCC_CID_LEN  24

/* Misbehaviour asked for, each its own flag. */
struct rtcc_hostile {
	bool wrong_ice_pwd;   /* checks signed with another password */
	bool wrong_fp;        /* our answer names another certificate */
	unsigned bad_srtp;    /* every Nth packet published: tag damaged */
	unsigned garbage_pps; /* junk datagrams a second to each port */
};

/* What the whole run shares. */
struct rtcc_run {
	const char *host;
	uint16_t port;
	const char *key, *secret;
	bool publish;
	bool signal_only; /* join, take the offer, never answer it */
	bool phone_rx;    /* the latency mode: PCMU payloads to phone.c */
	struct rtcc_hostile hostile;
	struct dnsc *dnsc;
	struct dtls_cert *cert;  /* presented by every client */
	struct dtls_cert *other; /* wrong_fp: whose fingerprint we name */
	char fp[DTLS_FP_STR_SIZE];
	char other_fp[DTLS_FP_STR_SIZE];
	/* The Opus frames every publisher loops; ts advances 960 a frame. */
	uint8_t opus[RTCC_LOOP_MAX][RTCC_OPUS_PKT];
	uint16_t opus_len[RTCC_LOOP_MAX];
	unsigned opus_n;
	unsigned opus_onset; /* latency mode: the frame a burst starts at,
	                        every opus_n frames */
};

extern struct rtcc_run rtcc;

/* One RTP stream received. */
struct rtcc_rx {
	bool used;
	uint32_t ssrc;
	uint8_t pt;     /* as offered; the packets' own is checked */
	unsigned clock; /* Hz of its timestamps */
	bool have;
	uint64_t packets;
	uint64_t wrong_pt;
	uint16_t base_seq, max_seq;
	uint32_t cycles;
	int64_t transit;
	double jitter; /* RFC 3550 6.4.1, in timestamp units */
	uint64_t first_us;
};

struct rtcc_client;

struct rtcc_pc {
	struct rtcc_client *cl;
	bool subscriber;
	struct udp_sock *us;
	int fd;
	struct sa local;
	struct sa peer; /* voxgate's host candidate */
	bool have_peer;
	struct udp_sock *junk; /* garbage from another source */

	struct ice_lite ice;
	uint64_t tiebreaker;
	uint8_t tid[ICE_TID_LEN];
	bool check_out;
	uint64_t next_check_ms;
	uint64_t checks, answers, refused_answers;
	bool ice_up;

	struct dtls_conn *dtls;
	enum dtls_role role;
	bool started;
	struct srtpx srtp;
	bool srtp_up;
	uint64_t up_us; /* SRTP keyed */
	uint64_t handshake_us;
	bool failed;
	char why[96];

	struct rtcc_rx rx[RTCC_TRACKS];
	uint64_t rx_unknown_ssrc, rx_bad, rtcp_in;

	/* Publishing. */
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	unsigned frame;
	uint64_t next_send_us;
	uint64_t sent, sent_bad;
	uint64_t next_junk_us;
	uint64_t junk_sent;
};

enum rtcc_state {
	RTCC_IDLE,
	RTCC_CONNECTING, /* WebSocket being opened */
	RTCC_JOINED,     /* JoinResponse in */
	RTCC_CONNECTED,  /* subscriber connection up */
	RTCC_DONE,       /* left as planned */
	RTCC_FAILED,
};

struct rtcc_client {
	unsigned idx;
	char identity[48];
	char room[256];
	enum rtcc_state state;
	char fail[160];
	struct rtcc_ws *wc;
	bool leaving;
	bool teardown; /* over: the tick closes its sockets */
	uint64_t t_open_us, t_ws_us, t_join_us, t_up_us, t_end_us;
	uint64_t until_us; /* leave then (0: not yet set) */
	uint64_t next_ping_us;
	int leave_reason;    /* from a server leave, -1: none */
	char pc_fail[128];   /* a connection failed: why */
	uint64_t pc_fail_us; /* then the client fails, unless left before */
	char psid[32];       /* our participant sid */
	unsigned offers, answers_in;

	struct rtcc_pc *sub, *pub;
	char cid[RTCC_CID_LEN];
	bool track_published;
	bool pub_offered;
	char track_sid[32];
	bool heard; /* TrackSubscribed for our track */

	struct wsdp_desc *desc; /* scratch for parsing (20 KB) */
};

/* rtc_client.c: a client is over (state DONE or FAILED set). */
void rtcc_client_over(struct rtcc_client *cl);
uint64_t rtcc_now_us(void);

/* signal.c */
int rtcc_signal_open(struct rtcc_client *cl);
/* Sends leave and closes; the client is DONE. Not from a handler of the
 * client's sockets. */
void rtcc_signal_leave(struct rtcc_client *cl);
/* Closes its WebSocket and connections (their figures stay); likewise. */
void rtcc_signal_close(struct rtcc_client *cl);
void rtcc_signal_tick(struct rtcc_client *cl, uint64_t now_us);
/* A connection of the client came up (SRTP keyed) or failed. */
void rtcc_signal_pc_event(struct rtcc_client *cl, struct rtcc_pc *pc, bool up,
                          const char *why);
void rtcc_fail(struct rtcc_client *cl, const char *fmt, ...);
const char *rtcc_leave_name(int reason);

/* pc.c */
int rtcc_pc_alloc(struct rtcc_pc **pcp, struct rtcc_client *cl,
                  bool subscriber);
/* The peer's description: its candidate, ICE credentials, fingerprint;
 * starts ICE (and DTLS as it follows). */
int rtcc_pc_remote(struct rtcc_pc *pc, const struct wsdp_desc *d,
                   const char *sdp, const char **why);
/* The RTP streams an offer announces (a=ssrc), for the statistics. */
void rtcc_pc_expect(struct rtcc_pc *pc, const struct wsdp_desc *d);
void rtcc_pc_tick(struct rtcc_pc *pc, uint64_t now_us);
/* Closes its sockets and DTLS; its figures stay. NULL is fine. */
void rtcc_pc_shutdown(struct rtcc_pc *pc);
uint64_t rtcc_pc_rx_packets(const struct rtcc_pc *pc);
/* Expected minus received over its streams. */
int64_t rtcc_pc_rx_lost(const struct rtcc_pc *pc);
/* A line of its figures into buf. */
void rtcc_pc_print(const struct rtcc_pc *pc, char *buf, size_t size);

/* sdp.c */
int rtcc_sdp_answer(const struct rtcc_pc *pc, const struct wsdp_desc *offer,
                    char *buf, size_t size);
int rtcc_sdp_pub_offer(const struct rtcc_pc *pc, const char *cid, char *buf,
                       size_t size);
/* The first a=candidate of a description: its UDP address. */
int rtcc_sdp_candidate(const char *sdp, struct sa *addr);

/* ws.c */
struct rtcc_ws;
typedef void(rtcc_ws_open_h)(void *arg);
typedef void(rtcc_ws_frame_h)(const uint8_t *p, size_t len, bool binary,
                              void *arg);
/* The connection is over (not called after rtcc_ws_close). */
typedef void(rtcc_ws_close_h)(int err, const char *why, void *arg);
/* A mem object; mem_deref closes the TCP connection at once,
 * rtcc_ws_shutdown when the server has. */
int rtcc_ws_connect(struct rtcc_ws **wsp, const char *host, uint16_t port,
                    const char *path, rtcc_ws_open_h *openh,
                    rtcc_ws_frame_h *frameh, rtcc_ws_close_h *closeh,
                    void *arg);
int rtcc_ws_send(struct rtcc_ws *ws, const uint8_t *p, size_t len);
/* Sends a close frame (1000) and takes over the caller's reference: it
 * frees itself once the server has closed the connection (at most 2 s).
 * No handler runs afterwards. */
void rtcc_ws_shutdown(struct rtcc_ws *ws);
/* The HTTP status of the upgrade's response, 0 before one came. */
unsigned rtcc_ws_status(const struct rtcc_ws *ws);

/* phone.c: the latency mode's caller. */
int rtcc_phone_start(const char *sip_host, uint16_t sip_port,
                     const char *number);
void rtcc_phone_tick(uint64_t now_us);
/* A PCMU payload a WebRTC subscriber received, when it arrived. */
void rtcc_phone_webrtc_rx(const uint8_t *p, size_t len, uint64_t at_us);
/* A publisher sent frame i of the loop at this time. */
void rtcc_phone_webrtc_tx(unsigned frame, uint64_t at_us);
bool rtcc_phone_up(void);
void rtcc_phone_stop(void);
void rtcc_phone_report(uint32_t jitter_min_ms);

#endif
