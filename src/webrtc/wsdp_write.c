/*
 * Writing SDP (wsdp.h): the output buffer and its overflow, our transport
 * checked and the lines every description we write repeats (origin, ICE,
 * DTLS, candidate, codecs), and our answers to publisher offers. Apart
 * from the reading (wsdp.c) and from the subscriber PC's offers
 * (wsdp_sub.c), which keep their m-lines across re-offers.
 */

#include "webrtc/wsdp_int.h"

/* ---- writing ---- */

struct span wsdp_span_str(const char *s)
{
	return (struct span){s, strlen(s)};
}

/* What we write into an msid: LiveKit sids are "PA_"/"TR_" + base62. */
bool wsdp_sid_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || c == '_' || c == '-';
}

void wsdp_put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->b + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->over = true;
		return;
	}
	o->len += (size_t)n;
}

uint32_t wsdp_host_priority(uint16_t local_pref, unsigned component)
{
	if (component < 1)
		component = 1;
	if (component > 256)
		component = 256;
	return (uint32_t)126 << 24 | (uint32_t)local_pref << 8 |
	       (256 - component);
}

int wsdp_check_local(struct local *lc, const struct wsdp_local *l,
                     const char **why)
{
	unsigned char a[sizeof(struct in6_addr)];
	int af = AF_INET;

	if (!l || !l->ufrag || !l->pwd || !l->addr) {
		*why = "no local transport";
		return EINVAL;
	}
	if (!wsdp_field_ok(wsdp_span_str(l->ufrag), 4, WSDP_ICE_MAX,
	                   wsdp_ice_char) ||
	    !wsdp_field_ok(wsdp_span_str(l->pwd), 22, WSDP_ICE_MAX,
	                   wsdp_ice_char)) {
		*why = "bad local ICE credentials";
		return EINVAL;
	}
	if (inet_pton(AF_INET, l->addr, a) != 1) {
		af = AF_INET6;
		if (inet_pton(AF_INET6, l->addr, a) != 1) {
			*why = "local address not an IP literal";
			return EINVAL;
		}
	}
	if (!l->port) {
		*why = "local port 0";
		return EINVAL;
	}
	if (!inet_ntop(af, a, lc->addr, sizeof(lc->addr))) {
		*why = "local address not an IP literal";
		return EINVAL;
	}
	lc->l = l;
	return 0;
}

void wsdp_put_origin(struct out *o, uint64_t sess_id, uint32_t version)
{
	wsdp_put(o,
	         "v=0\r\no=- %" PRIu64 " %" PRIu32 " IN IP4 0.0.0.0\r\n"
	         "s=-\r\nt=0 0\r\n",
	         sess_id & INT64_MAX, version);
}

void wsdp_put_transport(struct out *o, const struct local *lc,
                        const char *setup)
{
	const struct wsdp_local *l = lc->l;

	wsdp_put(o,
	         "a=candidate:1 1 udp %" PRIu32 " %s %u typ host\r\n"
	         "a=end-of-candidates\r\n"
	         "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
	         "a=fingerprint:sha-256 ",
	         wsdp_host_priority(65535, 1), lc->addr, (unsigned)l->port,
	         l->ufrag, l->pwd);
	for (size_t i = 0; i < WSDP_FP_LEN; i++)
		wsdp_put(o, "%02X%s", l->fp_sha256[i],
		         i + 1 < WSDP_FP_LEN ? ":" : "\r\n");
	wsdp_put(o, "a=setup:%s\r\n", setup);
}

void wsdp_put_codec(struct out *o, enum wsdp_codec codec, unsigned pt)
{
	if (codec == WSDP_OPUS)
		wsdp_put(o,
		         "a=rtpmap:%u opus/48000/2\r\n"
		         "a=fmtp:%u minptime=10;useinbandfec=1\r\n",
		         pt, pt);
	else
		wsdp_put(o, "a=rtpmap:0 PCMU/8000\r\n");
}

int wsdp_written(struct out *o, size_t *len, const char **why)
{
	if (o->over) {
		*why = "description does not fit the buffer";
		if (o->size)
			o->b[0] = '\0';
		return ENOSPC;
	}
	*len = o->len;
	return 0;
}

/* ---- the publisher PC ---- */

static enum wsdp_answered pub_decide(const struct wsdp_media *m,
                                     const struct wsdp_pub_prm *prm,
                                     bool *data_taken)
{
	if (m->rejected || !m->bundled)
		return WSDP_ANS_REJECTED;
	if (m->kind == WSDP_AUDIO) {
		if (!m->savpf || !m->rtcp_mux || m->opus_pt < 0)
			return WSDP_ANS_REJECTED;
		return m->dir == WSDP_SENDRECV || m->dir == WSDP_SENDONLY
		           ? WSDP_ANS_RECEIVING
		           : WSDP_ANS_INACTIVE;
	}
	if (m->kind == WSDP_APPLICATION && prm->data && !*data_taken &&
	    m->sctp && !strcmp(m->fmt0, "webrtc-datachannel")) {
		*data_taken = true;
		return WSDP_ANS_DATA;
	}
	return WSDP_ANS_REJECTED;
}

int wsdp_pub_answer(const struct wsdp_desc *offer, const struct wsdp_local *l,
                    const struct wsdp_pub_prm *prm, struct wsdp_pub_result *res,
                    char *buf, size_t size, size_t *len, const char **why)
{
	const char *ignored;
	struct out o = {buf, size, 0, size == 0};
	struct local lc;
	const char *setup;
	uint32_t mms;
	bool data_taken = false, group = false;
	int err;

	if (!why)
		why = &ignored;
	if (!offer || !prm || !res || !buf || !len || !offer->n ||
	    offer->n > WSDP_MEDIA_MAX) {
		*why = "no offer or buffer";
		return EINVAL;
	}
	memset(res, 0, sizeof(*res));
	err = wsdp_check_local(&lc, l, why);
	if (err)
		return err;
	if (offer->setup == WSDP_SETUP_HOLDCONN) {
		*why = "offer's a=setup is holdconn";
		return EPROTO;
	}
	/* RFC 5763: the answerer picks when offered actpass; an offer
	 * without a=setup is active (RFC 4145). */
	res->dtls_client = offer->setup != WSDP_SETUP_ACTIVE &&
	                   offer->setup != WSDP_SETUP_NONE;
	setup = res->dtls_client ? "active" : "passive";
	mms = prm->max_message_size ? prm->max_message_size
	                            : WSDP_MAX_MESSAGE_SIZE;

	res->n = offer->n;
	for (unsigned i = 0; i < offer->n; i++) {
		const struct wsdp_media *m = &offer->m[i];
		struct wsdp_pub_line *pl = &res->line[i];

		pl->how = pub_decide(m, prm, &data_taken);
		if (pl->how == WSDP_ANS_RECEIVING ||
		    pl->how == WSDP_ANS_INACTIVE)
			pl->opus_pt = (uint8_t)m->opus_pt;
		if (pl->how == WSDP_ANS_RECEIVING) {
			memcpy(pl->track_id, m->msid_track,
			       sizeof(pl->track_id));
			pl->has_ssrc = m->has_ssrc;
			pl->ssrc = m->ssrc;
		}
		if (pl->how == WSDP_ANS_DATA) {
			res->peer_sctp_port = m->sctp_port;
			res->peer_max_message_size = m->max_message_size;
		}
	}

	wsdp_put_origin(&o, prm->sess_id, prm->version);
	for (unsigned i = 0; i < offer->n; i++) {
		if (res->line[i].how == WSDP_ANS_REJECTED)
			continue;
		wsdp_put(&o, "%s %s", group ? "" : "a=group:BUNDLE",
		         offer->m[i].mid);
		group = true;
	}
	if (group)
		wsdp_put(&o, "\r\n");
	wsdp_put(&o, "a=ice-lite\r\n");
	for (unsigned i = 0; i < offer->n; i++) {
		const struct wsdp_media *m = &offer->m[i];
		const struct wsdp_pub_line *pl = &res->line[i];

		switch (pl->how) {
		case WSDP_ANS_REJECTED:
			wsdp_put(&o, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n",
			         m->kind_name, m->proto, m->fmt0);
			if (m->mid[0])
				wsdp_put(&o, "a=mid:%s\r\n", m->mid);
			break;
		case WSDP_ANS_DATA:
			wsdp_put(&o,
			         "m=application 9 %s webrtc-datachannel\r\n"
			         "c=IN IP4 0.0.0.0\r\n",
			         m->proto);
			wsdp_put_transport(&o, &lc, setup);
			wsdp_put(&o,
			         "a=mid:%s\r\na=sctp-port:%u\r\n"
			         "a=max-message-size:%" PRIu32 "\r\n",
			         m->mid, WSDP_SCTP_PORT, mms);
			break;
		default:
			wsdp_put(&o, "m=audio 9 %s %u\r\nc=IN IP4 0.0.0.0\r\n",
			         m->proto, (unsigned)pl->opus_pt);
			wsdp_put_transport(&o, &lc, setup);
			wsdp_put(&o, "a=mid:%s\r\na=%s\r\na=rtcp-mux\r\n",
			         m->mid,
			         pl->how == WSDP_ANS_RECEIVING ? "recvonly"
			                                       : "inactive");
			wsdp_put_codec(&o, WSDP_OPUS, (unsigned)pl->opus_pt);
			break;
		}
	}
	return wsdp_written(&o, len, why);
}
