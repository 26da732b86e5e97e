#include <errno.h>
#include <string.h>

#include "core/be.h"
#include "media/rtp.h"

/* RFC 5761 section 4: these payload types are RTCP's. */
static bool rtcp_pt(uint8_t pt)
{
	return pt >= 192 && pt <= 223;
}

int rtp_parse(const uint8_t *b, size_t len, struct rtp_packet *h)
{
	size_t off, end = len;

	memset(h, 0, sizeof(*h));
	if (len < 12 || (b[0] >> 6) != 2)
		return EBADMSG;
	if (rtcp_pt(b[1]))
		return EPROTO;
	off = 12 + 4u * (b[0] & 0x0f);
	if (b[0] & 0x10) {
		if (off + 4 > len)
			return EBADMSG;
		off += 4 + 4u * get_be16(b + off + 2);
	}
	if (b[0] & 0x20) {
		uint8_t pad = b[len - 1];
		if (!pad || pad > len)
			end = 0;
		else
			end = len - pad;
	}
	if (off > end)
		return EBADMSG;
	h->pt = b[1] & 0x7f;
	h->marker = (b[1] & 0x80) != 0;
	h->seq = get_be16(b + 2);
	h->ts = get_be32(b + 4);
	h->ssrc = get_be32(b + 8);
	h->off = off;
	h->end = end;
	return 0;
}

int rtcp_parse(const uint8_t *b, size_t len, struct rtcp_packet *h)
{
	memset(h, 0, sizeof(*h));
	if (len < 8 || (b[0] >> 6) != 2 || !rtcp_pt(b[1]))
		return EBADMSG;
	h->pt = b[1];
	/* An SR's NTP time is echoed in our next report (LSR/DLSR). */
	if (h->pt == 200 && len >= 28) {
		h->sr = true;
		h->sr_ntp = get_be32(b + 10);
	}
	return 0;
}
