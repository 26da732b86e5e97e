/*
 * The SDP of the WebRTC peer connections (RFC 8866 syntax, RFC 3264
 * offer/answer, RFC 8829 JSEP, RFC 8843 BUNDLE).
 *
 * DESIGN
 *
 * Reading. A client's description arrives in a signalling message and is
 * hostile: it is read once, line by line, in place, with every length
 * bounded before use, and only what voxgate acts on is copied out, each
 * field checked against its grammar (token, ice-char, digits) so that
 * nothing copied can break a line we write later. Unknown attributes are
 * skipped: libwebrtc adds new ones every few releases. ICE candidates are
 * skipped too: we are ICE-lite, the client's checks tell us its address,
 * and resolving its mDNS names cost werift 13 s of join time.
 *
 * Writing. Offers and answers are written into the caller's buffer in one
 * pass; overflow is detected, never truncated into a valid-looking SDP.
 * Every m-line that is not rejected repeats the transport (ICE, DTLS,
 * candidate): libwebrtc takes it from the BUNDLE tag, other stacks from
 * each line.
 *
 * The subscriber PC's lines live in struct wsdp_sub because libwebrtc
 * refuses a re-offer whose lines moved ("The order of m-lines in
 * subsequent offer doesn't match order from previous offer/answer").
 *
 * This file is the reading; what we write is wsdp_write.c (the parts of
 * every description, our answers to publisher offers) and wsdp_sub.c
 * (the subscriber PC's offers and the answers to them), and the text
 * slices both use wsdp_text.c: apart because the hostile bytes read and
 * the lines we make are two things that together made 1375 lines
 * (wsdp_int.h is what they share).
 */

#include "webrtc/wsdp_int.h"

/* ---- reading ---- */

/* The transport attributes of one level (session or an m-line). */
struct level {
	struct span ufrag, pwd;
	bool has_fp;
	uint8_t fp[WSDP_FP_LEN];
	enum wsdp_setup setup;
	bool dir_set;
};

struct parser {
	struct wsdp_desc *d;
	const char **why;
	bool seen_v;
	struct wsdp_media *m; /* the m-line being read, NULL in the session */
	struct level *lv;     /* the level being read */
	struct level sess, med[WSDP_MEDIA_MAX];
	enum wsdp_dir sess_dir;
	bool have_bundle;
	unsigned nbundle;
	struct span bundle[WSDP_MEDIA_MAX];
	/* Of the m-line being read: */
	bool mid_set, bundle_only, rtp, ssrc_msid;
	char ssrc_stream[WSDP_ID_MAX + 1], ssrc_track[WSDP_ID_MAX + 1];
	struct span fmtp[128]; /* a=fmtp parameters by payload type */
};

static int bad(struct parser *ps, int err, const char *what)
{
	*ps->why = what;
	return err;
}

static bool pt_listed(const struct wsdp_media *m, uint32_t pt)
{
	return pt < 128 && (m->pts[pt / 8] >> (pt % 8) & 1);
}

/* The end of an m-line's section: what depends on several of its lines. */
static int finish_media(struct parser *ps)
{
	struct wsdp_media *m = ps->m;

	m->rejected = m->port == 0 && !ps->bundle_only;
	if (!ps->lv->dir_set)
		m->dir = ps->sess_dir;
	if (m->opus_pt >= 0 && ps->fmtp[m->opus_pt].p) {
		struct span f = ps->fmtp[m->opus_pt];

		if (f.n > WSDP_FMTP_MAX)
			return bad(ps, E2BIG, "Opus a=fmtp too long");
		wsdp_copy_span(m->opus_fmtp, f);
	}
	if (!m->has_msid && ps->ssrc_msid) {
		m->has_msid = true;
		memcpy(m->msid_stream, ps->ssrc_stream, sizeof(m->msid_stream));
		memcpy(m->msid_track, ps->ssrc_track, sizeof(m->msid_track));
	}
	return 0;
}

/* m=<media> <port> <proto> <fmt> ... */
static int media_line(struct parser *ps, struct span v)
{
	struct wsdp_desc *d = ps->d;
	struct wsdp_media *m;
	struct span kind, port, proto, f;
	uint32_t x;
	int err;

	if (ps->m) {
		err = finish_media(ps);
		if (err)
			return err;
	}
	if (d->n == WSDP_MEDIA_MAX)
		return bad(ps, E2BIG, "more than 16 m-lines");
	m = &d->m[d->n];
	ps->lv = &ps->med[d->n];
	d->n++;
	ps->m = m;
	ps->mid_set = ps->bundle_only = ps->ssrc_msid = false;
	memset(ps->fmtp, 0, sizeof(ps->fmtp));
	m->opus_pt = -1;

	kind = wsdp_next_field(&v);
	port = wsdp_next_field(&v);
	proto = wsdp_next_field(&v);
	if (!wsdp_field_ok(kind, 1, sizeof(m->kind_name) - 1, wsdp_token_char))
		return bad(ps, EBADMSG, "bad m-line media type");
	wsdp_copy_span(m->kind_name, kind);
	if (wsdp_span_eq(kind, "audio"))
		m->kind = WSDP_AUDIO;
	else if (wsdp_span_eq(kind, "video"))
		m->kind = WSDP_VIDEO;
	else if (wsdp_span_eq(kind, "application"))
		m->kind = WSDP_APPLICATION;
	else
		m->kind = WSDP_KIND_OTHER;
	if (!wsdp_parse_u32(port, 65535, &x))
		return bad(ps, EBADMSG, "bad m-line port");
	m->port = (uint16_t)x;
	if (!wsdp_field_ok(proto, 1, sizeof(m->proto) - 1, wsdp_proto_char))
		return bad(ps, EBADMSG, "bad m-line protocol");
	wsdp_copy_span(m->proto, proto);
	ps->rtp = (proto.n >= 4 && !memcmp(proto.p, "RTP/", 4)) ||
	          memmem(proto.p, proto.n, "/RTP/", 5);
	m->savpf =
	    proto.n >= 9 && !memcmp(proto.p + proto.n - 9, "RTP/SAVPF", 9);
	m->sctp = wsdp_span_eq(proto, "UDP/DTLS/SCTP") ||
	          wsdp_span_eq(proto, "TCP/DTLS/SCTP") ||
	          wsdp_span_eq(proto, "DTLS/SCTP");

	while ((f = wsdp_next_field(&v)).n) {
		if (ps->rtp) {
			if (!wsdp_parse_u32(f, 127, &x))
				return bad(ps, EBADMSG,
				           "bad m-line payload type");
			m->pts[x / 8] |= (uint8_t)(1u << (x % 8));
		} else if (!wsdp_all_of(f, wsdp_token_char)) {
			return bad(ps, EBADMSG, "bad m-line format");
		}
		if (!m->nfmt) {
			if (f.n >= sizeof(m->fmt0))
				return bad(ps, EBADMSG,
				           "m-line format too long");
			wsdp_copy_span(m->fmt0, f);
		}
		m->nfmt++;
	}
	if (!m->nfmt)
		return bad(ps, EBADMSG, "m-line without formats");
	m->pcmu = ps->rtp && pt_listed(m, 0);
	return 0;
}

static int ice_cred(struct parser *ps, struct span v, struct span *dst,
                    size_t min, const char *twice, const char *bad_value)
{
	if (dst->p)
		return bad(ps, EBADMSG, twice);
	if (!wsdp_field_ok(v, min, WSDP_ICE_MAX, wsdp_ice_char))
		return bad(ps, EBADMSG, bad_value);
	*dst = v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* a=fingerprint:<hash-func> <XX:XX:...> (RFC 8122); the first sha-256 of
 * a level is kept, others are checked and let be. */
static int fingerprint(struct parser *ps, struct span v)
{
	struct span alg = wsdp_next_field(&v), hex = wsdp_next_field(&v);
	uint8_t fp[64];
	size_t n = 0, i = 0;

	if (!wsdp_field_ok(alg, 1, 32, wsdp_token_char) || !hex.n ||
	    wsdp_next_field(&v).n)
		return bad(ps, EBADMSG, "bad a=fingerprint");
	for (;;) {
		int hi, lo;

		if (n == sizeof(fp) || hex.n - i < 2)
			return bad(ps, EBADMSG, "bad a=fingerprint digest");
		hi = hexval(hex.p[i]);
		lo = hexval(hex.p[i + 1]);
		if (hi < 0 || lo < 0)
			return bad(ps, EBADMSG, "bad a=fingerprint digest");
		fp[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
		if (i == hex.n)
			break;
		if (hex.p[i] != ':')
			return bad(ps, EBADMSG, "bad a=fingerprint digest");
		i++;
	}
	if (!wsdp_span_eq_ci(alg, "sha-256"))
		return 0;
	if (n != WSDP_FP_LEN)
		return bad(ps, EBADMSG, "sha-256 fingerprint not 32 bytes");
	if (!ps->lv->has_fp) {
		memcpy(ps->lv->fp, fp, WSDP_FP_LEN);
		ps->lv->has_fp = true;
	}
	return 0;
}

static int setup_attr(struct parser *ps, struct span v)
{
	static const struct {
		const char *name;
		enum wsdp_setup setup;
	} roles[] = {
	    {"active", WSDP_SETUP_ACTIVE},
	    {"passive", WSDP_SETUP_PASSIVE},
	    {"actpass", WSDP_SETUP_ACTPASS},
	    {"holdconn", WSDP_SETUP_HOLDCONN},
	};

	if (ps->lv->setup != WSDP_SETUP_NONE)
		return bad(ps, EBADMSG, "a=setup twice");
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (wsdp_span_eq(v, roles[i].name)) {
			ps->lv->setup = roles[i].setup;
			return 0;
		}
	}
	return bad(ps, EBADMSG, "bad a=setup");
}

/* a=group:BUNDLE <mid> ...; other groupings (LS, FID) are not ours. */
static int group(struct parser *ps, struct span v)
{
	struct span sem = wsdp_next_field(&v), mid;

	if (!wsdp_span_eq(sem, "BUNDLE"))
		return 0;
	if (ps->have_bundle)
		return bad(ps, EPROTO, "more than one BUNDLE group");
	ps->have_bundle = true;
	while ((mid = wsdp_next_field(&v)).n) {
		if (ps->nbundle == WSDP_MEDIA_MAX)
			return bad(ps, E2BIG, "BUNDLE group of over 16 mids");
		if (!wsdp_field_ok(mid, 1, WSDP_MID_MAX, wsdp_token_char))
			return bad(ps, EBADMSG, "bad mid in BUNDLE group");
		for (unsigned i = 0; i < ps->nbundle; i++) {
			if (ps->bundle[i].n == mid.n &&
			    !memcmp(ps->bundle[i].p, mid.p, mid.n))
				return bad(ps, EPROTO,
				           "mid twice in BUNDLE group");
		}
		ps->bundle[ps->nbundle++] = mid;
	}
	return 0;
}

/* "<stream id> [<track id>]", each 1-64 token-chars (RFC 8830). */
static bool msid_value(struct span v, char *stream, char *track)
{
	struct span sid = wsdp_next_field(&v), tid = wsdp_next_field(&v);

	if (!wsdp_field_ok(sid, 1, WSDP_ID_MAX, wsdp_token_char) ||
	    !wsdp_field_ok(tid, 0, WSDP_ID_MAX, wsdp_token_char) ||
	    wsdp_next_field(&v).n)
		return false;
	wsdp_copy_span(stream, sid);
	wsdp_copy_span(track, tid);
	return true;
}

/* a=rtpmap:<pt> <name>/<clock>[/<channels>] */
static int rtpmap(struct parser *ps, struct span v)
{
	struct wsdp_media *m = ps->m;
	struct span pt = wsdp_next_field(&v), enc = wsdp_next_field(&v), name,
	            clock, chans = {NULL, 0};
	uint32_t ptv, rate;

	if (!wsdp_parse_u32(pt, 127, &ptv) || !enc.n || wsdp_next_field(&v).n ||
	    !wsdp_split_at(&enc, '/', &name) ||
	    !wsdp_field_ok(name, 1, 64, wsdp_token_char))
		return bad(ps, EBADMSG, "bad a=rtpmap");
	clock = enc;
	if (wsdp_split_at(&enc, '/', &clock))
		chans = enc;
	if (!wsdp_parse_u32(clock, UINT32_MAX, &rate) ||
	    (chans.p && !wsdp_field_ok(chans, 1, 8, wsdp_token_char)))
		return bad(ps, EBADMSG, "bad a=rtpmap");
	if (m->opus_pt < 0 && pt_listed(m, ptv) &&
	    wsdp_span_eq_ci(name, "opus") && rate == 48000 && chans.p &&
	    wsdp_span_eq(chans, "2"))
		m->opus_pt = (int)ptv;
	return 0;
}

/* a=fmtp:<pt> <parameters>; kept until the m-line's Opus pt is known. */
static int fmtp(struct parser *ps, struct span v)
{
	struct span pt = wsdp_next_field(&v);
	uint32_t ptv;

	while (v.n && v.p[0] == ' ') {
		v.p++;
		v.n--;
	}
	if (!wsdp_parse_u32(pt, 127, &ptv))
		return bad(ps, EBADMSG, "bad a=fmtp");
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < 0x20 || v.p[i] > 0x7e)
			return bad(ps, EBADMSG, "bad a=fmtp");
	}
	if (!ps->fmtp[ptv].p)
		ps->fmtp[ptv] = v;
	return 0;
}

/* a=ssrc:<ssrc> <attribute>[:<value>]; the first SSRC's are kept. */
static int ssrc_attr(struct parser *ps, struct span v)
{
	struct wsdp_media *m = ps->m;
	struct span id = wsdp_next_field(&v), name;
	uint32_t ssrc;

	while (v.n && v.p[0] == ' ') {
		v.p++;
		v.n--;
	}
	if (!wsdp_parse_u32(id, UINT32_MAX, &ssrc) || !v.n)
		return bad(ps, EBADMSG, "bad a=ssrc");
	if (!m->has_ssrc) {
		m->has_ssrc = true;
		m->ssrc = ssrc;
	}
	if (ssrc != m->ssrc || !wsdp_split_at(&v, ':', &name))
		return 0;
	if (wsdp_span_eq(name, "cname")) {
		if (!wsdp_field_ok(v, 1, WSDP_ID_MAX, wsdp_visible_char))
			return bad(ps, EBADMSG, "bad a=ssrc cname");
		if (!m->cname[0])
			wsdp_copy_span(m->cname, v);
	} else if (wsdp_span_eq(name, "msid")) {
		char stream[WSDP_ID_MAX + 1], track[WSDP_ID_MAX + 1];

		if (!msid_value(v, stream, track))
			return bad(ps, EBADMSG, "bad a=ssrc msid");
		if (!ps->ssrc_msid) {
			ps->ssrc_msid = true;
			memcpy(ps->ssrc_stream, stream, sizeof(stream));
			memcpy(ps->ssrc_track, track, sizeof(track));
		}
	}
	return 0;
}

static int media_attr(struct parser *ps, struct span name, struct span v)
{
	struct wsdp_media *m = ps->m;
	uint32_t x;

	if (wsdp_span_eq(name, "mid")) {
		if (ps->mid_set)
			return bad(ps, EBADMSG, "a=mid twice");
		if (!wsdp_field_ok(v, 1, WSDP_MID_MAX, wsdp_token_char))
			return bad(ps, EBADMSG, "bad a=mid");
		wsdp_copy_span(m->mid, v);
		ps->mid_set = true;
	} else if (wsdp_span_eq(name, "rtpmap")) {
		return ps->rtp ? rtpmap(ps, v) : 0;
	} else if (wsdp_span_eq(name, "fmtp")) {
		return ps->rtp ? fmtp(ps, v) : 0;
	} else if (wsdp_span_eq(name, "msid")) {
		char stream[WSDP_ID_MAX + 1], track[WSDP_ID_MAX + 1];

		if (!msid_value(v, stream, track))
			return bad(ps, EBADMSG, "bad a=msid");
		if (!m->has_msid) {
			m->has_msid = true;
			memcpy(m->msid_stream, stream, sizeof(stream));
			memcpy(m->msid_track, track, sizeof(track));
		}
	} else if (wsdp_span_eq(name, "ssrc")) {
		return ssrc_attr(ps, v);
	} else if (wsdp_span_eq(name, "rtcp-mux")) {
		m->rtcp_mux = true;
	} else if (wsdp_span_eq(name, "bundle-only")) {
		ps->bundle_only = true;
	} else if (wsdp_span_eq(name, "candidate")) {
		m->ncand++;
	} else if (wsdp_span_eq(name, "sctp-port")) {
		if (!wsdp_parse_u32(v, 65535, &x) || !x)
			return bad(ps, EBADMSG, "bad a=sctp-port");
		if (!m->sctp_port)
			m->sctp_port = (uint16_t)x;
	} else if (wsdp_span_eq(name, "sctpmap")) {
		/* The pre-RFC 8841 form: a=sctpmap:<port> <app> [<n>]. */
		if (!wsdp_parse_u32(wsdp_next_field(&v), 65535, &x) || !x)
			return bad(ps, EBADMSG, "bad a=sctpmap");
		if (!m->sctp_port)
			m->sctp_port = (uint16_t)x;
	} else if (wsdp_span_eq(name, "max-message-size")) {
		if (!wsdp_parse_u32(v, UINT32_MAX, &x))
			return bad(ps, EBADMSG, "bad a=max-message-size");
		if (!m->has_max_message_size) {
			m->has_max_message_size = true;
			m->max_message_size = x;
		}
	}
	return 0;
}

static int attribute(struct parser *ps, struct span v)
{
	static const struct {
		const char *name;
		enum wsdp_dir dir;
	} dirs[] = {
	    {"sendrecv", WSDP_SENDRECV},
	    {"sendonly", WSDP_SENDONLY},
	    {"recvonly", WSDP_RECVONLY},
	    {"inactive", WSDP_INACTIVE},
	};
	struct span name, val = v;

	if (!wsdp_split_at(&val, ':', &name)) {
		name = v;
		val = (struct span){v.p + v.n, 0};
	}
	if (!name.n)
		return bad(ps, EBADMSG, "attribute without a name");
	if (wsdp_span_eq(name, "ice-ufrag"))
		return ice_cred(ps, val, &ps->lv->ufrag, 4, "a=ice-ufrag twice",
		                "bad a=ice-ufrag");
	if (wsdp_span_eq(name, "ice-pwd"))
		return ice_cred(ps, val, &ps->lv->pwd, 22, "a=ice-pwd twice",
		                "bad a=ice-pwd");
	if (wsdp_span_eq(name, "fingerprint"))
		return fingerprint(ps, val);
	if (wsdp_span_eq(name, "setup"))
		return setup_attr(ps, val);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!wsdp_span_eq(name, dirs[i].name))
			continue;
		if (ps->lv->dir_set)
			return bad(ps, EBADMSG, "two directions");
		ps->lv->dir_set = true;
		if (ps->m)
			ps->m->dir = dirs[i].dir;
		else
			ps->sess_dir = dirs[i].dir;
		return 0;
	}
	if (ps->m)
		return media_attr(ps, name, val);
	if (wsdp_span_eq(name, "group"))
		return group(ps, val);
	if (wsdp_span_eq(name, "ice-lite"))
		ps->d->ice_lite = true;
	return 0;
}

static int one_line(struct parser *ps, struct span line)
{
	struct span v;

	if (line.n > WSDP_LINE_MAX)
		return bad(ps, E2BIG, "line longer than 1024 bytes");
	for (size_t i = 0; i < line.n; i++) {
		unsigned char c = (unsigned char)line.p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad(ps, EBADMSG, "control character in a line");
	}
	if (!line.n)
		return 0;
	if (line.n < 2 || line.p[1] != '=')
		return bad(ps, EBADMSG, "line not of the form <type>=<value>");
	v = (struct span){line.p + 2, line.n - 2};
	if (!ps->seen_v) {
		if (line.p[0] != 'v' || !wsdp_span_eq(v, "0"))
			return bad(ps, EBADMSG, "does not start with v=0");
		ps->seen_v = true;
		return 0;
	}
	switch (line.p[0]) {
	case 'v':
		return bad(ps, EBADMSG, "v= twice");
	case 'm':
		return media_line(ps, v);
	case 'a':
		return attribute(ps, v);
	case 'o':
	case 's':
	case 'i':
	case 'u':
	case 'e':
	case 'p':
	case 'c':
	case 'b':
	case 't':
	case 'r':
	case 'z':
	case 'k':
		return 0;
	default:
		return bad(ps, EBADMSG, "unknown line type");
	}
}

/* What needs the whole description: mids, BUNDLE, the transport. */
static int finish(struct parser *ps)
{
	struct wsdp_desc *d = ps->d;
	const struct level *t, *s = &ps->sess;
	int err;

	if (!ps->seen_v)
		return bad(ps, EBADMSG, "empty description");
	if (!ps->m)
		return bad(ps, EPROTO, "no m-line");
	err = finish_media(ps);
	if (err)
		return err;
	for (unsigned i = 0; i < d->n; i++) {
		const struct wsdp_media *m = &d->m[i];

		if (!m->mid[0]) {
			if (!m->rejected)
				return bad(ps, EPROTO, "m-line without a=mid");
			continue;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(d->m[j].mid, m->mid))
				return bad(ps, EPROTO, "two m-lines, one mid");
		}
	}
	for (unsigned k = 0; k < ps->nbundle; k++) {
		int i = -1;

		for (unsigned j = 0; j < d->n && i < 0; j++) {
			if (wsdp_span_eq(ps->bundle[k], d->m[j].mid))
				i = (int)j;
		}
		if (i < 0)
			return bad(ps, EPROTO,
			           "BUNDLE names a mid of no m-line");
		d->bundle[d->nbundle++] = (uint8_t)i;
		if (!d->m[i].rejected) {
			d->m[i].bundled = true;
			if (d->transport < 0)
				d->transport = i;
		}
	}
	if (!ps->nbundle) {
		for (unsigned i = 0; i < d->n && d->transport < 0; i++) {
			if (!d->m[i].rejected) {
				d->m[i].bundled = true;
				d->transport = (int)i;
			}
		}
	}
	if (d->transport < 0)
		return 0;
	t = &ps->med[d->transport];
	if (!t->ufrag.p && !s->ufrag.p)
		return bad(ps, EPROTO, "no a=ice-ufrag");
	if (!t->pwd.p && !s->pwd.p)
		return bad(ps, EPROTO, "no a=ice-pwd");
	if (!t->has_fp && !s->has_fp)
		return bad(ps, EPROTO, "no sha-256 a=fingerprint");
	wsdp_copy_span(d->ice_ufrag, t->ufrag.p ? t->ufrag : s->ufrag);
	wsdp_copy_span(d->ice_pwd, t->pwd.p ? t->pwd : s->pwd);
	memcpy(d->fp_sha256, t->has_fp ? t->fp : s->fp, WSDP_FP_LEN);
	d->setup = t->setup != WSDP_SETUP_NONE ? t->setup : s->setup;
	return 0;
}

int wsdp_parse(struct wsdp_desc *d, const char *sdp, size_t len,
               const char **why)
{
	const char *ignored;
	struct parser ps;
	size_t pos = 0;
	unsigned lineno = 0;
	int err;

	if (!why)
		why = &ignored;
	if (!d || !sdp) {
		*why = "no description";
		return EINVAL;
	}
	memset(d, 0, sizeof(*d));
	d->transport = -1;
	if (len > WSDP_SIZE_MAX) {
		*why = "description over 64 KiB";
		return E2BIG;
	}
	memset(&ps, 0, sizeof(ps));
	ps.d = d;
	ps.why = why;
	ps.lv = &ps.sess;
	while (pos < len) {
		const char *nl = memchr(sdp + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - sdp) : len;
		struct span line = {sdp + pos, end - pos};

		pos = nl ? end + 1 : len;
		lineno++;
		if (line.n && line.p[line.n - 1] == '\r')
			line.n--;
		err = one_line(&ps, line);
		if (err) {
			d->err_line = lineno;
			return err;
		}
	}
	return finish(&ps);
}

int wsdp_find_mid(const struct wsdp_desc *d, const char *mid)
{
	if (!d || !mid || !mid[0])
		return -1;
	for (unsigned i = 0; i < d->n && i < WSDP_MEDIA_MAX; i++) {
		if (!strcmp(d->m[i].mid, mid))
			return (int)i;
	}
	return -1;
}
