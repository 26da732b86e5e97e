/*
 * The RTP and RTCP headers as the media thread reads them (RFC 3550): pure
 * functions over one datagram, no socket and no call state, so whatever
 * arrives on a media port can be checked on its own.
 */
#ifndef VOXGATE_MEDIA_RTP_H
#define VOXGATE_MEDIA_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtp_packet {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts, ssrc;
	size_t off, end; /* the payload is b[off, end) */
};

/*
 * Reads an RTP packet of len bytes. 0 with *h filled, off <= end <= len;
 * EPROTO for RTCP multiplexed on the RTP port (RFC 5761); EBADMSG when it
 * is shorter than the fixed header, not version 2, or its CSRC list,
 * header extension or padding overruns it.
 */
int rtp_parse(const uint8_t *b, size_t len, struct rtp_packet *h);

struct rtcp_packet {
	uint8_t pt;      /* of the first packet of the compound */
	bool sr;         /* it is a complete sender report */
	uint32_t sr_ntp; /* then: the middle 32 bits of its NTP time */
};

/* Reads the first packet of an RTCP compound. 0 with *h filled; EBADMSG
 * when it is shorter than a header, not version 2 or not of an RTCP packet
 * type (192-223). */
int rtcp_parse(const uint8_t *b, size_t len, struct rtcp_packet *h);

#endif
