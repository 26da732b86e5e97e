/*
 * The SDP of voxgate's WebRTC peer connections with LiveKit clients (not
 * SIP's, which is src/sip/sipua_sdp.c): pure text in and out, no I/O, no
 * allocation, no global state, so any thread may call it on its own
 * structures.
 *
 * - wsdp_parse reads a client's description: the answer to our subscriber
 *   offer, or the client's publisher offer.
 * - struct wsdp_sub keeps the m-lines of a subscriber PC across offers and
 *   writes each offer (wsdp_sub_offer), then checks the client's answer
 *   (wsdp_sub_answer).
 * - wsdp_pub_answer answers a publisher offer and says which client track
 *   (AddTrackRequest cid) and SSRC each accepted audio line carries.
 *
 * What the LiveKit SDKs and libwebrtc insist on is in the project's
 * livekit-rtc notes (sections a and b): ICE-lite with one host candidate,
 * BUNDLE and rtcp-mux, msid "<PA_sid>|<TR_sid>", Opus only from clients.
 *
 * The structures are large (a parsed description is about 20 KB): keep
 * them in the peer connection's object, not on a small stack.
 */
#ifndef VOXGATE_WEBRTC_WSDP_H
#define VOXGATE_WEBRTC_WSDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSDP_SIZE_MAX  65536 /* a description, read or written */
#define WSDP_LINE_MAX  1024  /* one line read, without its line end */
#define WSDP_MEDIA_MAX 16    /* m-lines */
#define WSDP_MID_MAX   32    /* characters of an a=mid */
#define WSDP_ID_MAX    64    /* an msid part (RFC 8830), a cname */
#define WSDP_ICE_MAX   256   /* ice-ufrag 4-256, ice-pwd 22-256 (RFC 8839) */
#define WSDP_FMTP_MAX  255   /* the Opus a=fmtp parameters kept */
#define WSDP_SID_MAX   31    /* a LiveKit PA_/TR_ sid we write in an msid */
#define WSDP_FP_LEN    32    /* a sha-256 certificate fingerprint */

/* What we announce: LiveKit's a=max-message-size and a=sctp-port, and the pt
 * of the Opus tracks we forward. */
#define WSDP_MAX_MESSAGE_SIZE 262144
#define WSDP_SCTP_PORT        5000
#define WSDP_OPUS_PT          111

enum wsdp_kind { WSDP_AUDIO, WSDP_VIDEO, WSDP_APPLICATION, WSDP_KIND_OTHER };

enum wsdp_dir { WSDP_SENDRECV, WSDP_SENDONLY, WSDP_RECVONLY, WSDP_INACTIVE };

enum wsdp_setup {
	WSDP_SETUP_NONE,
	WSDP_SETUP_ACTIVE,
	WSDP_SETUP_PASSIVE,
	WSDP_SETUP_ACTPASS,
	WSDP_SETUP_HOLDCONN
};

/* One m-line of a parsed description. Every string is NUL-terminated and
 * holds only the characters its grammar allows (printable ASCII; no spaces
 * but in opus_fmtp), so it can be written back into a description. */
struct wsdp_media {
	enum wsdp_kind kind;
	char kind_name[16]; /* as written: a rejection echoes it */
	uint16_t port;
	bool rejected; /* port 0 without a=bundle-only */
	bool bundled;  /* rides the description's one transport */
	char proto[32];
	bool savpf;      /* an RTP/SAVPF profile (UDP/TLS/RTP/SAVPF, ...) */
	bool sctp;       /* UDP/DTLS/SCTP, TCP/DTLS/SCTP or DTLS/SCTP */
	unsigned nfmt;   /* formats listed (at least one) */
	char fmt0[32];   /* the first, as written */
	uint8_t pts[16]; /* RTP profiles: bit pt set for each listed */
	char mid[WSDP_MID_MAX + 1]; /* "" when the line has none */
	enum wsdp_dir dir; /* the line's, else the session's, else sendrecv */
	int opus_pt;       /* the listed pt of opus/48000/2, or -1 */
	char opus_fmtp[WSDP_FMTP_MAX + 1]; /* its a=fmtp parameters */
	bool pcmu;                         /* payload type 0 listed */
	/* a=msid, else the msid of the first a=ssrc: "-" or a stream id, and
	 * the track id ("" when none), which is the AddTrackRequest's cid
	 * on a LiveKit client's publisher PC. */
	bool has_msid;
	char msid_stream[WSDP_ID_MAX + 1];
	char msid_track[WSDP_ID_MAX + 1];
	bool has_ssrc; /* the first a=ssrc line's */
	uint32_t ssrc;
	char cname[WSDP_ID_MAX + 1]; /* of that SSRC, "" when none */
	bool rtcp_mux;
	uint16_t sctp_port; /* a=sctp-port (or a=sctpmap), 0 when none */
	bool has_max_message_size;
	uint32_t max_message_size; /* 0 means no limit (RFC 8841) */
	unsigned ncand;            /* a=candidate lines, ignored: ICE-lite */
};

/*
 * A parsed description. The transport (ICE credentials, DTLS fingerprint
 * and role) is the BUNDLE tag's: the first mid of the a=group:BUNDLE whose
 * line is not rejected, or without a group the first line not rejected;
 * its media-level attributes win over the session-level ones. Every line
 * that is not rejected has a mid, and mids are unique.
 */
struct wsdp_desc {
	unsigned n;
	struct wsdp_media m[WSDP_MEDIA_MAX];
	unsigned nbundle;               /* a=group:BUNDLE, in its order */
	uint8_t bundle[WSDP_MEDIA_MAX]; /* indexes into m */
	int transport;                  /* index of the tag line, -1: none */
	char ice_ufrag[WSDP_ICE_MAX + 1];
	char ice_pwd[WSDP_ICE_MAX + 1];
	uint8_t fp_sha256[WSDP_FP_LEN];
	enum wsdp_setup setup;
	bool ice_lite;     /* a=ice-lite at session level */
	unsigned err_line; /* after a failure: the line at fault, 1-based */
};

/*
 * Reads a description of len bytes (CRLF or LF line ends, at most
 * WSDP_SIZE_MAX bytes, lines of at most WSDP_LINE_MAX, at most
 * WSDP_MEDIA_MAX m-lines). a=candidate and a=extmap lines are tolerated
 * and ignored, as are attributes it does not know. 0 with *d filled;
 * E2BIG beyond a limit; EBADMSG for text that is not SDP or a line whose
 * syntax is wrong; EPROTO for a description that cannot be used (duplicate
 * mid, BUNDLE naming no line, no ICE credentials or sha-256 fingerprint
 * for its transport). *why says what, d->err_line where.
 */
int wsdp_parse(struct wsdp_desc *d, const char *sdp, size_t len,
               const char **why);

/* The index of the m-line with this mid, or -1. */
int wsdp_find_mid(const struct wsdp_desc *d, const char *mid);

/* Our end of a peer connection, written into each description. */
struct wsdp_local {
	const char *ufrag;              /* 4-256 ice-chars (RFC 8839) */
	const char *pwd;                /* 22-256 ice-chars */
	uint8_t fp_sha256[WSDP_FP_LEN]; /* of our DTLS certificate */
	const char *addr; /* our host candidate: an IPv4 or IPv6 literal */
	uint16_t port;    /* and its UDP port, not 0 */
};

/* RFC 8445 section 5.1.2.1 for a host candidate (type preference 126),
 * component 1-256. Our one candidate has local preference 65535. */
uint32_t wsdp_host_priority(uint16_t local_pref, unsigned component);

/* ---- the subscriber PC: we offer, the client answers ---- */

enum wsdp_codec {
	WSDP_PCMU, /* a phone caller's track, as it comes: PCMU/8000, pt 0 */
	WSDP_OPUS  /* a WebRTC publisher's track forwarded as is, sent with
	              pt WSDP_OPUS_PT whatever pt it arrived with */
};

enum wsdp_line_state {
	WSDP_LINE_TRACK,   /* sendonly: one track */
	WSDP_LINE_IDLE,    /* inactive audio with no track */
	WSDP_LINE_STOPPED, /* port 0: its track left */
	WSDP_LINE_DATA     /* m=application, the data channels */
};

struct wsdp_track {
	char pa_sid[WSDP_SID_MAX + 1]; /* the publishing participant */
	char tr_sid[WSDP_SID_MAX + 1];
	uint32_t ssrc; /* what we send the track with */
	enum wsdp_codec codec;
};

struct wsdp_sub_line {
	enum wsdp_line_state state;
	enum wsdp_kind kind; /* WSDP_AUDIO or WSDP_APPLICATION */
	char mid[WSDP_MID_MAX + 1];
	struct wsdp_track track; /* TRACK; IDLE and STOPPED keep the codec */
	bool offered;            /* this mid has been in an offer */
	bool receiving;          /* TRACK: the client answered recvonly */
	bool recyclable; /* STOPPED, and that was answered (RFC 8829 5.2.2) */
};

/*
 * The m-lines of one subscriber PC. A line's mid never changes and is
 * never given to another line: a track removed leaves its line rejected
 * (port 0), except on line 0, the BUNDLE tag, which goes inactive so the
 * transport never moves. New tracks get new lines; only when all
 * WSDP_MEDIA_MAX are taken is a rejected line whose rejection was
 * answered recycled, with a new mid. When the first offer has nothing to
 * carry, it holds one inactive audio line so ICE and DTLS can start.
 *
 * Fields are readable; change them through the functions only.
 */
struct wsdp_sub {
	uint64_t sess_id;
	uint32_t version; /* of the last offer's o= line */
	unsigned n;
	struct wsdp_sub_line line[WSDP_MEDIA_MAX];
	unsigned nsent; /* the offer out, kept to check its answer */
	struct wsdp_sub_line sent[WSDP_MEDIA_MAX];
	bool pending; /* an offer is out, its answer not in */
	bool changed; /* lines changed since the last offer */
	uint32_t next_mid;
	/* From the last answer accepted: */
	bool dtls_server; /* the client answered a=setup:active */
	uint16_t peer_sctp_port;
	uint32_t peer_max_message_size; /* 0: none given or no limit */
};

/* An empty PC; sess_id goes in every offer's o= line (below 2^63). */
void wsdp_sub_init(struct wsdp_sub *s, uint64_t sess_id);

/*
 * Adds a track to send: pa_sid and tr_sid of 1-WSDP_SID_MAX characters
 * [A-Za-z0-9_-], ssrc not 0 and not used by another track of this PC.
 * 0 with *linep (may be NULL) its line; EINVAL for bad values, EEXIST for
 * a track or SSRC already sent, ENOSPC when no line is free.
 */
int wsdp_sub_add(struct wsdp_sub *s, const char *pa_sid, const char *tr_sid,
                 uint32_t ssrc, enum wsdp_codec codec, unsigned *linep,
                 const char **why);

/* Removes a track: 0, or ENOENT. */
int wsdp_sub_remove(struct wsdp_sub *s, const char *tr_sid);

/* The line of a track being sent, or -1. */
int wsdp_sub_find(const struct wsdp_sub *s, const char *tr_sid);

/* Adds the m=application line (a=sctp-port:5000, a=max-message-size
 * WSDP_MAX_MESSAGE_SIZE): 0, EALREADY, or ENOSPC. */
int wsdp_sub_data(struct wsdp_sub *s);

/*
 * Writes the next offer into buf (size bytes, NUL-terminated), *len its
 * length: session-level a=ice-lite and a=group:BUNDLE of every line not
 * rejected. 0; EALREADY while the previous offer has no answer; EINVAL for
 * a bad *l; ENOSPC when buf is too small (WSDP_SIZE_MAX always suffices).
 */
int wsdp_sub_offer(struct wsdp_sub *s, const struct wsdp_local *l, char *buf,
                   size_t size, size_t *len, const char **why);

/*
 * Takes the client's answer to the offer out: the same lines in the same
 * order with the same mids and kinds, our codec on each track line it
 * accepts, recvonly or inactive on those, rtcp-mux and BUNDLE on every
 * line it accepts, a=setup active or passive. 0 with the lines' receiving
 * and recyclable flags, dtls_server and the peer's SCTP values updated; a
 * line the client rejected is rejected from then on (its track is no
 * longer sent). EALREADY without an offer out; EPROTO for an answer that
 * does not fit (nothing changed then, and the PC cannot go on).
 */
int wsdp_sub_answer(struct wsdp_sub *s, const struct wsdp_desc *ans,
                    const char **why);

/* ---- the publisher PC: the client offers, we answer ---- */

struct wsdp_pub_prm {
	uint64_t sess_id; /* of our o= line, below 2^63 */
	uint32_t version; /* incremented by the caller for each answer */
	bool data;        /* accept the data channels' m=application */
	uint32_t max_message_size; /* ours, 0 for WSDP_MAX_MESSAGE_SIZE */
};

enum wsdp_answered {
	WSDP_ANS_REJECTED,  /* port 0 */
	WSDP_ANS_INACTIVE,  /* audio the client only receives on */
	WSDP_ANS_RECEIVING, /* audio the client sends: recvonly, Opus */
	WSDP_ANS_DATA       /* the data channels */
};

struct wsdp_pub_line {
	enum wsdp_answered how;
	uint8_t opus_pt; /* RECEIVING, INACTIVE: the offer's Opus pt */
	/* RECEIVING: the client's track (its msid's track id, the
	 * AddTrackRequest cid; "" when the offer gave none) and first SSRC,
	 * to map SSRC to track. */
	char track_id[WSDP_ID_MAX + 1];
	bool has_ssrc;
	uint32_t ssrc;
};

struct wsdp_pub_result {
	unsigned n; /* = the offer's lines */
	struct wsdp_pub_line line[WSDP_MEDIA_MAX];
	bool dtls_client;               /* we answered a=setup:active */
	uint16_t peer_sctp_port;        /* DATA: the offer's a=sctp-port */
	uint32_t peer_max_message_size; /* and a=max-message-size, 0: none */
};

/*
 * Answers a publisher offer into buf (size bytes, NUL-terminated), *len its
 * length: the offer's lines in its order; audio the client sends answered
 * recvonly with the offer's Opus pt only (rejected without Opus or
 * rtcp-mux); audio it only receives on answered inactive; video and other
 * kinds rejected; m=application rejected unless prm->data; lines outside
 * the offer's BUNDLE rejected. a=setup:active unless the offer is
 * a=setup:active (then passive); ICE-lite; BUNDLE of the lines accepted.
 * 0 with *res filled; EINVAL for bad arguments; EPROTO for an offer we
 * cannot answer (a=setup:holdconn); ENOSPC when buf is too small
 * (WSDP_SIZE_MAX always suffices).
 */
int wsdp_pub_answer(const struct wsdp_desc *offer, const struct wsdp_local *l,
                    const struct wsdp_pub_prm *prm, struct wsdp_pub_result *res,
                    char *buf, size_t size, size_t *len, const char **why);

#endif
