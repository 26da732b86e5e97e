/*
 * The subscriber PC's SDP (wsdp.h): its m-lines, added, recycled and
 * kept in order across re-offers (libwebrtc refuses a re-offer whose
 * lines moved), our offers and the client's answers checked against
 * them. Apart from the writing every description shares (wsdp_write.c)
 * and from the publisher PC's answers because only these have state.
 */

#include "webrtc/wsdp_int.h"

/* ---- the subscriber PC ---- */

void wsdp_sub_init(struct wsdp_sub *s, uint64_t sess_id)
{
	if (!s)
		return;
	memset(s, 0, sizeof(*s));
	s->sess_id = sess_id & INT64_MAX;
}

int wsdp_sub_find(const struct wsdp_sub *s, const char *tr_sid)
{
	if (!s || !tr_sid)
		return -1;
	for (unsigned i = 0; i < s->n; i++) {
		if (s->line[i].state == WSDP_LINE_TRACK &&
		    !strcmp(s->line[i].track.tr_sid, tr_sid))
			return (int)i;
	}
	return -1;
}

/*
 * A line for something new: appended while there is room, else a rejected
 * line of the same kind recycled with a new mid (RFC 8829 5.2.2), which
 * only a rejection the client has answered allows. Line 0 is the BUNDLE
 * tag and stays.
 */
static int new_line(struct wsdp_sub *s, enum wsdp_line_state state,
                    enum wsdp_kind kind)
{
	struct wsdp_sub_line *ln = NULL;
	int i = -1;

	if (s->next_mid == UINT32_MAX)
		return -1;
	if (s->n < WSDP_MEDIA_MAX) {
		i = (int)s->n++;
	} else {
		for (unsigned j = 1; j < s->n && i < 0; j++) {
			if (s->line[j].state == WSDP_LINE_STOPPED &&
			    s->line[j].recyclable && s->line[j].kind == kind)
				i = (int)j;
		}
		if (i < 0)
			return -1;
	}
	ln = &s->line[i];
	memset(ln, 0, sizeof(*ln));
	ln->state = state;
	ln->kind = kind;
	snprintf(ln->mid, sizeof(ln->mid), "%" PRIu32, s->next_mid++);
	s->changed = true;
	return i;
}

int wsdp_sub_add(struct wsdp_sub *s, const char *pa_sid, const char *tr_sid,
                 uint32_t ssrc, enum wsdp_codec codec, unsigned *linep,
                 const char **why)
{
	const char *ignored;
	int i;

	if (!why)
		why = &ignored;
	if (!s || !pa_sid || !tr_sid ||
	    !wsdp_field_ok(wsdp_span_str(pa_sid), 1, WSDP_SID_MAX,
	                   wsdp_sid_char) ||
	    !wsdp_field_ok(wsdp_span_str(tr_sid), 1, WSDP_SID_MAX,
	                   wsdp_sid_char)) {
		*why = "bad participant or track sid";
		return EINVAL;
	}
	if (!ssrc || (codec != WSDP_PCMU && codec != WSDP_OPUS)) {
		*why = "bad SSRC or codec";
		return EINVAL;
	}
	for (unsigned j = 0; j < s->n; j++) {
		const struct wsdp_sub_line *ln = &s->line[j];

		if (ln->state != WSDP_LINE_TRACK)
			continue;
		if (!strcmp(ln->track.tr_sid, tr_sid)) {
			*why = "track already sent";
			return EEXIST;
		}
		if (ln->track.ssrc == ssrc) {
			*why = "SSRC already sent";
			return EEXIST;
		}
	}
	i = new_line(s, WSDP_LINE_TRACK, WSDP_AUDIO);
	if (i < 0) {
		*why = "no free m-line";
		return ENOSPC;
	}
	strcpy(s->line[i].track.pa_sid, pa_sid);
	strcpy(s->line[i].track.tr_sid, tr_sid);
	s->line[i].track.ssrc = ssrc;
	s->line[i].track.codec = codec;
	if (linep)
		*linep = (unsigned)i;
	return 0;
}

int wsdp_sub_remove(struct wsdp_sub *s, const char *tr_sid)
{
	int i = wsdp_sub_find(s, tr_sid);
	struct wsdp_sub_line *ln;

	if (i < 0)
		return ENOENT;
	ln = &s->line[i];
	s->changed = true;
	ln->receiving = false;
	/* Never offered: the client knows nothing of it. */
	if ((unsigned)i >= s->nsent && (unsigned)i == s->n - 1) {
		s->n--;
		return 0;
	}
	ln->track.pa_sid[0] = ln->track.tr_sid[0] = '\0';
	ln->track.ssrc = 0;
	if (i == 0) {
		ln->state = WSDP_LINE_IDLE;
		return 0;
	}
	ln->state = WSDP_LINE_STOPPED;
	/* The client never saw this mid: no answer needs to come first. */
	ln->recyclable = !ln->offered;
	return 0;
}

int wsdp_sub_data(struct wsdp_sub *s)
{
	if (!s)
		return EINVAL;
	for (unsigned j = 0; j < s->n; j++) {
		if (s->line[j].state == WSDP_LINE_DATA)
			return EALREADY;
	}
	return new_line(s, WSDP_LINE_DATA, WSDP_APPLICATION) < 0 ? ENOSPC : 0;
}

static void put_sub_line(struct out *o, const struct wsdp_sub_line *ln,
                         const struct local *lc)
{
	const struct wsdp_track *t = &ln->track;
	unsigned pt = t->codec == WSDP_OPUS ? WSDP_OPUS_PT : 0;

	if (ln->kind == WSDP_APPLICATION) {
		wsdp_put(o,
		         "m=application %u UDP/DTLS/SCTP webrtc-datachannel\r\n"
		         "c=IN IP4 0.0.0.0\r\n",
		         ln->state == WSDP_LINE_STOPPED ? 0 : 9);
		if (ln->state == WSDP_LINE_STOPPED) {
			wsdp_put(o, "a=mid:%s\r\n", ln->mid);
			return;
		}
		wsdp_put_transport(o, lc, "actpass");
		wsdp_put(
		    o,
		    "a=mid:%s\r\na=sctp-port:%u\r\na=max-message-size:%u\r\n",
		    ln->mid, WSDP_SCTP_PORT, WSDP_MAX_MESSAGE_SIZE);
		return;
	}
	if (ln->state == WSDP_LINE_STOPPED) {
		wsdp_put(
		    o,
		    "m=audio 0 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n"
		    "a=mid:%s\r\na=inactive\r\n",
		    pt, ln->mid);
		wsdp_put_codec(o, t->codec, pt);
		return;
	}
	wsdp_put(o, "m=audio 9 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n",
	         pt);
	wsdp_put_transport(o, lc, "actpass");
	wsdp_put(o, "a=mid:%s\r\n", ln->mid);
	if (ln->state == WSDP_LINE_TRACK)
		/* The stream id is how LiveKit SDKs find the publisher and
		 * the track (unpack_stream_id). */
		wsdp_put(o, "a=sendonly\r\na=msid:%s|%s %s\r\n", t->pa_sid,
		         t->tr_sid, t->tr_sid);
	else
		wsdp_put(o, "a=inactive\r\n");
	wsdp_put(o, "a=rtcp-mux\r\n");
	wsdp_put_codec(o, t->codec, pt);
	if (ln->state == WSDP_LINE_TRACK)
		/* With several lines and no MID header extension, libwebrtc
		 * demultiplexes by these SSRCs. */
		wsdp_put(o,
		         "a=ssrc:%" PRIu32 " cname:voxgate\r\n"
		         "a=ssrc:%" PRIu32 " msid:%s|%s %s\r\n",
		         t->ssrc, t->ssrc, t->pa_sid, t->tr_sid, t->tr_sid);
}

int wsdp_sub_offer(struct wsdp_sub *s, const struct wsdp_local *l, char *buf,
                   size_t size, size_t *len, const char **why)
{
	const char *ignored;
	struct out o = {buf, size, 0, size == 0};
	struct local lc;
	bool group = false;
	int err;

	if (!why)
		why = &ignored;
	if (!s || !buf || !len) {
		*why = "no buffer";
		return EINVAL;
	}
	if (s->pending) {
		*why = "an offer is waiting for its answer";
		return EALREADY;
	}
	err = wsdp_check_local(&lc, l, why);
	if (err)
		return err;
	/* Nothing to carry yet: ICE and DTLS still need a line to start. */
	if (!s->n && new_line(s, WSDP_LINE_IDLE, WSDP_AUDIO) < 0) {
		*why = "no free m-line";
		return ENOSPC;
	}

	wsdp_put_origin(&o, s->sess_id, s->version + 1);
	for (unsigned i = 0; i < s->n; i++) {
		if (s->line[i].state == WSDP_LINE_STOPPED)
			continue;
		wsdp_put(&o, "%s %s", group ? "" : "a=group:BUNDLE",
		         s->line[i].mid);
		group = true;
	}
	if (group)
		wsdp_put(&o, "\r\n");
	wsdp_put(&o, "a=ice-lite\r\na=msid-semantic: WMS *\r\n");
	for (unsigned i = 0; i < s->n; i++)
		put_sub_line(&o, &s->line[i], &lc);
	err = wsdp_written(&o, len, why);
	if (err)
		return err;

	s->version++;
	for (unsigned i = 0; i < s->n; i++)
		s->line[i].offered = true;
	memcpy(s->sent, s->line, sizeof(s->sent));
	s->nsent = s->n;
	s->pending = true;
	s->changed = false;
	return 0;
}

/* Whether the client's answer to one offered line fits it. */
static const char *check_answered(const struct wsdp_sub_line *sent,
                                  const struct wsdp_media *am)
{
	if (am->mid[0] ? strcmp(am->mid, sent->mid) != 0 : !am->rejected)
		return "answer's mids are not the offer's";
	if (am->kind != sent->kind)
		return "answer's media types are not the offer's";
	if (sent->state == WSDP_LINE_STOPPED)
		return am->rejected ? NULL : "answer accepts a rejected line";
	if (am->rejected)
		return NULL;
	if (!am->bundled)
		return "answer leaves an accepted line out of BUNDLE";
	if (sent->kind == WSDP_APPLICATION)
		return am->sctp ? NULL : "answer's data line is not SCTP";
	if (!am->savpf || !am->rtcp_mux)
		return "answer's audio line lacks UDP/TLS/RTP/SAVPF or "
		       "rtcp-mux";
	if (sent->track.codec == WSDP_OPUS ? am->opus_pt != WSDP_OPUS_PT
	                                   : !am->pcmu)
		return "answer drops our codec";
	if (sent->state == WSDP_LINE_TRACK)
		return am->dir == WSDP_RECVONLY || am->dir == WSDP_INACTIVE
		           ? NULL
		           : "answer sends on a line we only send on";
	return am->dir == WSDP_INACTIVE
	           ? NULL
	           : "answer to an inactive line not inactive";
}

int wsdp_sub_answer(struct wsdp_sub *s, const struct wsdp_desc *a,
                    const char **why)
{
	const char *ignored;
	bool any = false;

	if (!why)
		why = &ignored;
	if (!s || !a) {
		*why = "no answer";
		return EINVAL;
	}
	if (!s->pending) {
		*why = "no offer is waiting for an answer";
		return EALREADY;
	}
	if (a->n != s->nsent) {
		*why = "answer's m-lines are not the offer's";
		return EPROTO;
	}
	for (unsigned i = 0; i < s->nsent; i++) {
		const char *w = check_answered(&s->sent[i], &a->m[i]);

		if (w) {
			*why = w;
			return EPROTO;
		}
		any |= !a->m[i].rejected;
	}
	if (any && a->setup != WSDP_SETUP_ACTIVE &&
	    a->setup != WSDP_SETUP_PASSIVE) {
		*why = "answer's a=setup is not active or passive";
		return EPROTO;
	}

	for (unsigned i = 0; i < s->nsent; i++) {
		const struct wsdp_sub_line *sent = &s->sent[i];
		const struct wsdp_media *am = &a->m[i];
		struct wsdp_sub_line *ln = &s->line[i];

		/* Recycled since the offer went out: not this answer's. */
		if (i >= s->n || strcmp(ln->mid, sent->mid) != 0)
			continue;
		if (sent->state == WSDP_LINE_STOPPED || am->rejected) {
			/* A rejection by either side stops the line. */
			ln->track.pa_sid[0] = ln->track.tr_sid[0] = '\0';
			ln->track.ssrc = 0;
			ln->state = WSDP_LINE_STOPPED;
			ln->receiving = false;
			ln->recyclable = true;
			continue;
		}
		if (sent->state == WSDP_LINE_DATA) {
			s->peer_sctp_port = am->sctp_port;
			s->peer_max_message_size = am->max_message_size;
		}
		if (ln->state == WSDP_LINE_TRACK &&
		    sent->state == WSDP_LINE_TRACK &&
		    !strcmp(ln->track.tr_sid, sent->track.tr_sid))
			ln->receiving = am->dir == WSDP_RECVONLY;
	}
	s->dtls_server = a->setup == WSDP_SETUP_ACTIVE;
	s->pending = false;
	return 0;
}
