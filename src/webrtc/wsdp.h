/*
 * The SDP of voxgate's WebRTC peer connections with LiveKit clients (not
 * SIP's, which is src/sip/sipua_sdp.c): pure text in and out, no I/O, no
 * allocation, no global state, so any thread may call it on its own
 * structures.
 *
 * - wsdp_parse reads a client's description: the answer to our subscriber
 *   offer, or the client's publisher offer.
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

#endif
