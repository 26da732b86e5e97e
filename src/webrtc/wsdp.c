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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "webrtc/wsdp.h"

/* ---- text slices ---- */

struct span {
	const char *p;
	size_t n;
};

static bool span_eq(struct span a, const char *s)
{
	size_t n = strlen(s);

	return a.n == n && !memcmp(a.p, s, n);
}

static bool span_eq_ci(struct span a, const char *s)
{
	size_t n = strlen(s);

	return a.n == n && !strncasecmp(a.p, s, n);
}

/* The next field of s up to a space; runs of spaces separate one field
 * from the next. An empty span when nothing is left. */
static struct span next_field(struct span *s)
{
	struct span f;

	while (s->n && s->p[0] == ' ') {
		s->p++;
		s->n--;
	}
	f.p = s->p;
	f.n = 0;
	while (f.n < s->n && s->p[f.n] != ' ')
		f.n++;
	s->p += f.n;
	s->n -= f.n;
	return f;
}

/* Cuts s at its first c: *head gets what precedes, s what follows. */
static bool split_at(struct span *s, char c, struct span *head)
{
	const char *at = memchr(s->p, c, s->n);

	if (!at)
		return false;
	head->p = s->p;
	head->n = (size_t)(at - s->p);
	s->n -= head->n + 1;
	s->p = at + 1;
	return true;
}

static bool parse_u32(struct span s, uint32_t max, uint32_t *v)
{
	uint64_t x = 0;

	if (!s.n || s.n > 10)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (x > max)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* RFC 8866 token-char. */
static bool token_char(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a ||
	       c == 0x2b || c == 0x2d || c == 0x2e ||
	       (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
	       (c >= 0x5e && c <= 0x7e);
}

/* RFC 8839 ice-char. */
static bool ice_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || c == '+' || c == '/';
}

static bool visible_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static bool proto_char(unsigned char c)
{
	return token_char(c) || c == '/';
}

static bool all_of(struct span s, bool (*ok)(unsigned char))
{
	for (size_t i = 0; i < s.n; i++) {
		if (!ok((unsigned char)s.p[i]))
			return false;
	}
	return true;
}

/* A field of min-max characters, all ok. */
static bool field_ok(struct span s, size_t min, size_t max,
                     bool (*ok)(unsigned char))
{
	return s.n >= min && s.n <= max && all_of(s, ok);
}

static void copy_span(char *dst, struct span s)
{
	memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
}

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
		copy_span(m->opus_fmtp, f);
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

	kind = next_field(&v);
	port = next_field(&v);
	proto = next_field(&v);
	if (!field_ok(kind, 1, sizeof(m->kind_name) - 1, token_char))
		return bad(ps, EBADMSG, "bad m-line media type");
	copy_span(m->kind_name, kind);
	if (span_eq(kind, "audio"))
		m->kind = WSDP_AUDIO;
	else if (span_eq(kind, "video"))
		m->kind = WSDP_VIDEO;
	else if (span_eq(kind, "application"))
		m->kind = WSDP_APPLICATION;
	else
		m->kind = WSDP_KIND_OTHER;
	if (!parse_u32(port, 65535, &x))
		return bad(ps, EBADMSG, "bad m-line port");
	m->port = (uint16_t)x;
	if (!field_ok(proto, 1, sizeof(m->proto) - 1, proto_char))
		return bad(ps, EBADMSG, "bad m-line protocol");
	copy_span(m->proto, proto);
	ps->rtp = (proto.n >= 4 && !memcmp(proto.p, "RTP/", 4)) ||
	          memmem(proto.p, proto.n, "/RTP/", 5);
	m->savpf =
	    proto.n >= 9 && !memcmp(proto.p + proto.n - 9, "RTP/SAVPF", 9);
	m->sctp = span_eq(proto, "UDP/DTLS/SCTP") ||
	          span_eq(proto, "TCP/DTLS/SCTP") ||
	          span_eq(proto, "DTLS/SCTP");

	while ((f = next_field(&v)).n) {
		if (ps->rtp) {
			if (!parse_u32(f, 127, &x))
				return bad(ps, EBADMSG,
				           "bad m-line payload type");
			m->pts[x / 8] |= (uint8_t)(1u << (x % 8));
		} else if (!all_of(f, token_char)) {
			return bad(ps, EBADMSG, "bad m-line format");
		}
		if (!m->nfmt) {
			if (f.n >= sizeof(m->fmt0))
				return bad(ps, EBADMSG,
				           "m-line format too long");
			copy_span(m->fmt0, f);
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
	if (!field_ok(v, min, WSDP_ICE_MAX, ice_char))
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
	struct span alg = next_field(&v), hex = next_field(&v);
	uint8_t fp[64];
	size_t n = 0, i = 0;

	if (!field_ok(alg, 1, 32, token_char) || !hex.n || next_field(&v).n)
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
	if (!span_eq_ci(alg, "sha-256"))
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
		if (span_eq(v, roles[i].name)) {
			ps->lv->setup = roles[i].setup;
			return 0;
		}
	}
	return bad(ps, EBADMSG, "bad a=setup");
}

/* a=group:BUNDLE <mid> ...; other groupings (LS, FID) are not ours. */
static int group(struct parser *ps, struct span v)
{
	struct span sem = next_field(&v), mid;

	if (!span_eq(sem, "BUNDLE"))
		return 0;
	if (ps->have_bundle)
		return bad(ps, EPROTO, "more than one BUNDLE group");
	ps->have_bundle = true;
	while ((mid = next_field(&v)).n) {
		if (ps->nbundle == WSDP_MEDIA_MAX)
			return bad(ps, E2BIG, "BUNDLE group of over 16 mids");
		if (!field_ok(mid, 1, WSDP_MID_MAX, token_char))
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
	struct span sid = next_field(&v), tid = next_field(&v);

	if (!field_ok(sid, 1, WSDP_ID_MAX, token_char) ||
	    !field_ok(tid, 0, WSDP_ID_MAX, token_char) || next_field(&v).n)
		return false;
	copy_span(stream, sid);
	copy_span(track, tid);
	return true;
}

/* a=rtpmap:<pt> <name>/<clock>[/<channels>] */
static int rtpmap(struct parser *ps, struct span v)
{
	struct wsdp_media *m = ps->m;
	struct span pt = next_field(&v), enc = next_field(&v), name, clock,
	            chans = {NULL, 0};
	uint32_t ptv, rate;

	if (!parse_u32(pt, 127, &ptv) || !enc.n || next_field(&v).n ||
	    !split_at(&enc, '/', &name) || !field_ok(name, 1, 64, token_char))
		return bad(ps, EBADMSG, "bad a=rtpmap");
	clock = enc;
	if (split_at(&enc, '/', &clock))
		chans = enc;
	if (!parse_u32(clock, UINT32_MAX, &rate) ||
	    (chans.p && !field_ok(chans, 1, 8, token_char)))
		return bad(ps, EBADMSG, "bad a=rtpmap");
	if (m->opus_pt < 0 && pt_listed(m, ptv) && span_eq_ci(name, "opus") &&
	    rate == 48000 && chans.p && span_eq(chans, "2"))
		m->opus_pt = (int)ptv;
	return 0;
}

/* a=fmtp:<pt> <parameters>; kept until the m-line's Opus pt is known. */
static int fmtp(struct parser *ps, struct span v)
{
	struct span pt = next_field(&v);
	uint32_t ptv;

	while (v.n && v.p[0] == ' ') {
		v.p++;
		v.n--;
	}
	if (!parse_u32(pt, 127, &ptv))
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
	struct span id = next_field(&v), name;
	uint32_t ssrc;

	while (v.n && v.p[0] == ' ') {
		v.p++;
		v.n--;
	}
	if (!parse_u32(id, UINT32_MAX, &ssrc) || !v.n)
		return bad(ps, EBADMSG, "bad a=ssrc");
	if (!m->has_ssrc) {
		m->has_ssrc = true;
		m->ssrc = ssrc;
	}
	if (ssrc != m->ssrc || !split_at(&v, ':', &name))
		return 0;
	if (span_eq(name, "cname")) {
		if (!field_ok(v, 1, WSDP_ID_MAX, visible_char))
			return bad(ps, EBADMSG, "bad a=ssrc cname");
		if (!m->cname[0])
			copy_span(m->cname, v);
	} else if (span_eq(name, "msid")) {
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

	if (span_eq(name, "mid")) {
		if (ps->mid_set)
			return bad(ps, EBADMSG, "a=mid twice");
		if (!field_ok(v, 1, WSDP_MID_MAX, token_char))
			return bad(ps, EBADMSG, "bad a=mid");
		copy_span(m->mid, v);
		ps->mid_set = true;
	} else if (span_eq(name, "rtpmap")) {
		return ps->rtp ? rtpmap(ps, v) : 0;
	} else if (span_eq(name, "fmtp")) {
		return ps->rtp ? fmtp(ps, v) : 0;
	} else if (span_eq(name, "msid")) {
		char stream[WSDP_ID_MAX + 1], track[WSDP_ID_MAX + 1];

		if (!msid_value(v, stream, track))
			return bad(ps, EBADMSG, "bad a=msid");
		if (!m->has_msid) {
			m->has_msid = true;
			memcpy(m->msid_stream, stream, sizeof(stream));
			memcpy(m->msid_track, track, sizeof(track));
		}
	} else if (span_eq(name, "ssrc")) {
		return ssrc_attr(ps, v);
	} else if (span_eq(name, "rtcp-mux")) {
		m->rtcp_mux = true;
	} else if (span_eq(name, "bundle-only")) {
		ps->bundle_only = true;
	} else if (span_eq(name, "candidate")) {
		m->ncand++;
	} else if (span_eq(name, "sctp-port")) {
		if (!parse_u32(v, 65535, &x) || !x)
			return bad(ps, EBADMSG, "bad a=sctp-port");
		if (!m->sctp_port)
			m->sctp_port = (uint16_t)x;
	} else if (span_eq(name, "sctpmap")) {
		/* The pre-RFC 8841 form: a=sctpmap:<port> <app> [<n>]. */
		if (!parse_u32(next_field(&v), 65535, &x) || !x)
			return bad(ps, EBADMSG, "bad a=sctpmap");
		if (!m->sctp_port)
			m->sctp_port = (uint16_t)x;
	} else if (span_eq(name, "max-message-size")) {
		if (!parse_u32(v, UINT32_MAX, &x))
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

	if (!split_at(&val, ':', &name)) {
		name = v;
		val = (struct span){v.p + v.n, 0};
	}
	if (!name.n)
		return bad(ps, EBADMSG, "attribute without a name");
	if (span_eq(name, "ice-ufrag"))
		return ice_cred(ps, val, &ps->lv->ufrag, 4, "a=ice-ufrag twice",
		                "bad a=ice-ufrag");
	if (span_eq(name, "ice-pwd"))
		return ice_cred(ps, val, &ps->lv->pwd, 22, "a=ice-pwd twice",
		                "bad a=ice-pwd");
	if (span_eq(name, "fingerprint"))
		return fingerprint(ps, val);
	if (span_eq(name, "setup"))
		return setup_attr(ps, val);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!span_eq(name, dirs[i].name))
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
	if (span_eq(name, "group"))
		return group(ps, val);
	if (span_eq(name, "ice-lite"))
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
		if (line.p[0] != 'v' || !span_eq(v, "0"))
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
			if (span_eq(ps->bundle[k], d->m[j].mid))
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
	copy_span(d->ice_ufrag, t->ufrag.p ? t->ufrag : s->ufrag);
	copy_span(d->ice_pwd, t->pwd.p ? t->pwd : s->pwd);
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

/* ---- writing ---- */

static struct span span_str(const char *s)
{
	return (struct span){s, strlen(s)};
}

/* What we write into an msid: LiveKit sids are "PA_"/"TR_" + base62. */
static bool sid_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || c == '_' || c == '-';
}

struct out {
	char *b;
	size_t size, len;
	bool over;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
                                                      const char *fmt, ...)
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

/* Our transport, checked, with the address in its canonical text. */
struct local {
	const struct wsdp_local *l;
	char addr[INET6_ADDRSTRLEN];
};

static int check_local(struct local *lc, const struct wsdp_local *l,
                       const char **why)
{
	unsigned char a[sizeof(struct in6_addr)];
	int af = AF_INET;

	if (!l || !l->ufrag || !l->pwd || !l->addr) {
		*why = "no local transport";
		return EINVAL;
	}
	if (!field_ok(span_str(l->ufrag), 4, WSDP_ICE_MAX, ice_char) ||
	    !field_ok(span_str(l->pwd), 22, WSDP_ICE_MAX, ice_char)) {
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

static void put_origin(struct out *o, uint64_t sess_id, uint32_t version)
{
	put(o,
	    "v=0\r\no=- %" PRIu64 " %" PRIu32 " IN IP4 0.0.0.0\r\n"
	    "s=-\r\nt=0 0\r\n",
	    sess_id & INT64_MAX, version);
}

static void put_transport(struct out *o, const struct local *lc,
                          const char *setup)
{
	const struct wsdp_local *l = lc->l;

	put(o,
	    "a=candidate:1 1 udp %" PRIu32 " %s %u typ host\r\n"
	    "a=end-of-candidates\r\n"
	    "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
	    "a=fingerprint:sha-256 ",
	    wsdp_host_priority(65535, 1), lc->addr, (unsigned)l->port, l->ufrag,
	    l->pwd);
	for (size_t i = 0; i < WSDP_FP_LEN; i++)
		put(o, "%02X%s", l->fp_sha256[i],
		    i + 1 < WSDP_FP_LEN ? ":" : "\r\n");
	put(o, "a=setup:%s\r\n", setup);
}

static void put_codec(struct out *o, enum wsdp_codec codec, unsigned pt)
{
	if (codec == WSDP_OPUS)
		put(o,
		    "a=rtpmap:%u opus/48000/2\r\n"
		    "a=fmtp:%u minptime=10;useinbandfec=1\r\n",
		    pt, pt);
	else
		put(o, "a=rtpmap:0 PCMU/8000\r\n");
}

static int written(struct out *o, size_t *len, const char **why)
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
	    !field_ok(span_str(pa_sid), 1, WSDP_SID_MAX, sid_char) ||
	    !field_ok(span_str(tr_sid), 1, WSDP_SID_MAX, sid_char)) {
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
		put(o,
		    "m=application %u UDP/DTLS/SCTP webrtc-datachannel\r\n"
		    "c=IN IP4 0.0.0.0\r\n",
		    ln->state == WSDP_LINE_STOPPED ? 0 : 9);
		if (ln->state == WSDP_LINE_STOPPED) {
			put(o, "a=mid:%s\r\n", ln->mid);
			return;
		}
		put_transport(o, lc, "actpass");
		put(o,
		    "a=mid:%s\r\na=sctp-port:%u\r\na=max-message-size:%u\r\n",
		    ln->mid, WSDP_SCTP_PORT, WSDP_MAX_MESSAGE_SIZE);
		return;
	}
	if (ln->state == WSDP_LINE_STOPPED) {
		put(o,
		    "m=audio 0 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n"
		    "a=mid:%s\r\na=inactive\r\n",
		    pt, ln->mid);
		put_codec(o, t->codec, pt);
		return;
	}
	put(o, "m=audio 9 UDP/TLS/RTP/SAVPF %u\r\nc=IN IP4 0.0.0.0\r\n", pt);
	put_transport(o, lc, "actpass");
	put(o, "a=mid:%s\r\n", ln->mid);
	if (ln->state == WSDP_LINE_TRACK)
		/* The stream id is how LiveKit SDKs find the publisher and
		 * the track (unpack_stream_id). */
		put(o, "a=sendonly\r\na=msid:%s|%s %s\r\n", t->pa_sid,
		    t->tr_sid, t->tr_sid);
	else
		put(o, "a=inactive\r\n");
	put(o, "a=rtcp-mux\r\n");
	put_codec(o, t->codec, pt);
	if (ln->state == WSDP_LINE_TRACK)
		/* With several lines and no MID header extension, libwebrtc
		 * demultiplexes by these SSRCs. */
		put(o,
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
	err = check_local(&lc, l, why);
	if (err)
		return err;
	/* Nothing to carry yet: ICE and DTLS still need a line to start. */
	if (!s->n && new_line(s, WSDP_LINE_IDLE, WSDP_AUDIO) < 0) {
		*why = "no free m-line";
		return ENOSPC;
	}

	put_origin(&o, s->sess_id, s->version + 1);
	for (unsigned i = 0; i < s->n; i++) {
		if (s->line[i].state == WSDP_LINE_STOPPED)
			continue;
		put(&o, "%s %s", group ? "" : "a=group:BUNDLE", s->line[i].mid);
		group = true;
	}
	if (group)
		put(&o, "\r\n");
	put(&o, "a=ice-lite\r\na=msid-semantic: WMS *\r\n");
	for (unsigned i = 0; i < s->n; i++)
		put_sub_line(&o, &s->line[i], &lc);
	err = written(&o, len, why);
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
	err = check_local(&lc, l, why);
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

	put_origin(&o, prm->sess_id, prm->version);
	for (unsigned i = 0; i < offer->n; i++) {
		if (res->line[i].how == WSDP_ANS_REJECTED)
			continue;
		put(&o, "%s %s", group ? "" : "a=group:BUNDLE",
		    offer->m[i].mid);
		group = true;
	}
	if (group)
		put(&o, "\r\n");
	put(&o, "a=ice-lite\r\n");
	for (unsigned i = 0; i < offer->n; i++) {
		const struct wsdp_media *m = &offer->m[i];
		const struct wsdp_pub_line *pl = &res->line[i];

		switch (pl->how) {
		case WSDP_ANS_REJECTED:
			put(&o, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n",
			    m->kind_name, m->proto, m->fmt0);
			if (m->mid[0])
				put(&o, "a=mid:%s\r\n", m->mid);
			break;
		case WSDP_ANS_DATA:
			put(&o,
			    "m=application 9 %s webrtc-datachannel\r\n"
			    "c=IN IP4 0.0.0.0\r\n",
			    m->proto);
			put_transport(&o, &lc, setup);
			put(&o,
			    "a=mid:%s\r\na=sctp-port:%u\r\n"
			    "a=max-message-size:%" PRIu32 "\r\n",
			    m->mid, WSDP_SCTP_PORT, mms);
			break;
		default:
			put(&o, "m=audio 9 %s %u\r\nc=IN IP4 0.0.0.0\r\n",
			    m->proto, (unsigned)pl->opus_pt);
			put_transport(&o, &lc, setup);
			put(&o, "a=mid:%s\r\na=%s\r\na=rtcp-mux\r\n", m->mid,
			    pl->how == WSDP_ANS_RECEIVING ? "recvonly"
			                                  : "inactive");
			put_codec(&o, WSDP_OPUS, (unsigned)pl->opus_pt);
			break;
		}
	}
	return written(&o, len, why);
}
