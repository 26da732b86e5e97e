/*
 * The client's descriptions, in the form libwebrtc gives them (the
 * transport repeated on every line, a=setup:active in an answer,
 * a=setup:actpass in an offer), and the one thing read from voxgate's that
 * wsdp_parse leaves out: its host candidate.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rtcc/rtcc.h"

struct out {
	char *b;
	size_t size, len;
	int err;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
                                                      const char *fmt, ...)
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

static void transport(struct out *o, const struct rtcc_pc *pc,
                      const char *setup)
{
	put(o,
	    "c=IN IP4 0.0.0.0\r\n"
	    "a=ice-ufrag:%s\r\n"
	    "a=ice-pwd:%s\r\n"
	    "a=ice-options:trickle\r\n"
	    "a=fingerprint:%s\r\n"
	    "a=setup:%s\r\n",
	    ice_local_ufrag(&pc->ice), ice_local_pwd(&pc->ice),
	    rtcc.hostile.wrong_fp ? rtcc.other_fp : rtcc.fp, setup);
}

static bool accepted(const struct wsdp_media *m)
{
	return !m->rejected && m->kind == WSDP_AUDIO &&
	       (m->opus_pt >= 0 || m->pcmu);
}

int rtcc_sdp_answer(const struct rtcc_pc *pc, const struct wsdp_desc *offer,
                    char *buf, size_t size)
{
	struct out o = {buf, size, 0, size ? 0 : ENOSPC};
	bool group = false;

	put(&o, "v=0\r\no=- %llu 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
	    (unsigned long long)(rand_u64() >> 2));
	for (unsigned i = 0; i < offer->n; i++) {
		if (!accepted(&offer->m[i]))
			continue;
		put(&o, "%s %s", group ? "" : "a=group:BUNDLE",
		    offer->m[i].mid);
		group = true;
	}
	if (group)
		put(&o, "\r\n");
	put(&o, "a=msid-semantic: WMS\r\n");
	for (unsigned i = 0; i < offer->n; i++) {
		const struct wsdp_media *m = &offer->m[i];
		int pt = m->opus_pt >= 0 ? m->opus_pt : 0;

		if (!accepted(m)) {
			put(&o, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n",
			    m->kind_name, m->proto, m->fmt0);
			if (m->mid[0])
				put(&o, "a=mid:%s\r\n", m->mid);
			continue;
		}
		put(&o, "m=audio 9 %s %d\r\n", m->proto, pt);
		transport(&o, pc, "active");
		put(&o, "a=mid:%s\r\na=%s\r\na=rtcp-mux\r\n", m->mid,
		    m->dir == WSDP_SENDONLY   ? "recvonly"
		    : m->dir == WSDP_RECVONLY ? "sendonly"
		    : m->dir == WSDP_INACTIVE ? "inactive"
		                              : "sendrecv");
		if (m->opus_pt >= 0)
			put(&o,
			    "a=rtpmap:%d opus/48000/2\r\n"
			    "a=fmtp:%d minptime=10;useinbandfec=1\r\n",
			    pt, pt);
		else
			put(&o, "a=rtpmap:0 PCMU/8000\r\n");
	}
	return o.err;
}

int rtcc_sdp_pub_offer(const struct rtcc_pc *pc, const char *cid, char *buf,
                       size_t size)
{
	struct out o = {buf, size, 0, size ? 0 : ENOSPC};
	char ip[64];

	if (sa_ntop(&pc->local, ip, sizeof(ip)))
		return EINVAL;
	put(&o,
	    "v=0\r\no=- %llu 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	    "a=group:BUNDLE 0\r\na=msid-semantic: WMS *\r\n"
	    "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n",
	    (unsigned long long)(rand_u64() >> 2), WSDP_OPUS_PT);
	transport(&o, pc, "actpass");
	put(&o,
	    "a=candidate:1 1 udp %u %s %u typ host\r\n"
	    "a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
	    "a=rtpmap:%d opus/48000/2\r\n"
	    "a=fmtp:%d minptime=10;useinbandfec=1\r\n"
	    "a=msid:- %s\r\n"
	    "a=ssrc:%u cname:rtcc\r\n"
	    "a=ssrc:%u msid:- %s\r\n",
	    wsdp_host_priority(65535, 1), ip, sa_port(&pc->local), WSDP_OPUS_PT,
	    WSDP_OPUS_PT, cid, pc->ssrc, pc->ssrc, cid);
	return o.err;
}

int rtcc_sdp_candidate(const char *sdp, struct sa *addr)
{
	const char *p = sdp;

	while ((p = strstr(p, "a=candidate:")) != NULL) {
		char proto[8], ip[64], typ[8];
		unsigned comp, port;
		unsigned long prio;

		p += 12;
		if (sscanf(p, "%*s %u %7s %lu %63s %u %7s", &comp, proto, &prio,
		           ip, &port, typ) != 6)
			continue;
		if (comp != 1 || strcasecmp(proto, "udp") || port == 0 ||
		    port > 65535 || strcmp(typ, "typ"))
			continue;
		if (!sa_set_str(addr, ip, (uint16_t)port))
			return 0;
	}
	return ENOENT;
}
