/*
 * The client's end of a subscriber PC, for tests/unit/wsdp_test.c and the
 * wsdp fuzz target: the answer libwebrtc writes to our offer (transport
 * repeated per line, a=setup:active, recvonly where we send, inactive
 * where we are inactive, the data channels accepted), with the lines of
 * reject_mask (bit i for line i) rejected. Port-0 lines stay port 0.
 */
#ifndef VOXGATE_WSDP_PEER_H
#define VOXGATE_WSDP_PEER_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "webrtc/wsdp.h"

struct peer_out {
	char *b;
	size_t size, len;
	int err;
};

__attribute__((format(printf, 2, 3))) static inline void
peer_put(struct peer_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->b + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->err = ENOSPC;
	else
		o->len += (size_t)n;
}

static inline int peer_answer(const struct wsdp_desc *offer,
                              uint32_t reject_mask, char *buf, size_t size,
                              size_t *len)
{
	struct peer_out o = {buf, size, 0, size ? 0 : ENOSPC};
	bool group = false;

	peer_put(&o, "v=0\r\no=- 5093824772931836622 2 IN IP4 127.0.0.1\r\n"
	             "s=-\r\nt=0 0\r\n");
	for (unsigned i = 0; i < offer->n; i++) {
		if (offer->m[i].rejected || reject_mask >> i & 1)
			continue;
		peer_put(&o, "%s %s", group ? "" : "a=group:BUNDLE",
		         offer->m[i].mid);
		group = true;
	}
	if (group)
		peer_put(&o, "\r\n");
	peer_put(&o, "a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n");
	for (unsigned i = 0; i < offer->n; i++) {
		const struct wsdp_media *m = &offer->m[i];
		bool app = m->kind == WSDP_APPLICATION;

		if (m->rejected || reject_mask >> i & 1) {
			peer_put(&o, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n",
			         m->kind_name, m->proto, m->fmt0);
			if (m->mid[0])
				peer_put(&o, "a=mid:%s\r\n", m->mid);
			continue;
		}
		peer_put(&o,
		         "m=%s 9 %s %s\r\nc=IN IP4 0.0.0.0\r\n"
		         "a=ice-ufrag:Hk3r\r\n"
		         "a=ice-pwd:vT8bN2qLx5Wc0mZr7yGd1fKs\r\n"
		         "a=ice-options:trickle\r\n"
		         "a=fingerprint:sha-256 "
		         "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:"
		         "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n"
		         "a=setup:active\r\na=mid:%s\r\n",
		         m->kind_name, m->proto, m->fmt0, m->mid);
		if (app) {
			peer_put(&o, "a=sctp-port:5000\r\n"
			             "a=max-message-size:262144\r\n");
			continue;
		}
		peer_put(&o, "a=%s\r\na=rtcp-mux\r\n",
		         m->dir == WSDP_SENDONLY   ? "recvonly"
		         : m->dir == WSDP_RECVONLY ? "sendonly"
		         : m->dir == WSDP_INACTIVE ? "inactive"
		                                   : "sendrecv");
		if (m->opus_pt >= 0)
			peer_put(&o,
			         "a=rtpmap:%d opus/48000/2\r\n"
			         "a=fmtp:%d minptime=10;useinbandfec=1\r\n",
			         m->opus_pt, m->opus_pt);
		else
			peer_put(&o, "a=rtpmap:0 PCMU/8000\r\n");
	}
	if (!o.err)
		*len = o.len;
	return o.err;
}

#endif
