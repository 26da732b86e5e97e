/*
 * DESIGN. A client's audio rides two peer connections, as LiveKit's
 * (spec section a): the subscriber connection, offered by us right after
 * the JoinResponse with one m-line per track the client hears, and the
 * publisher connection, offered by the client on its first publish. Both
 * run on the room's media thread (media/webrtc.h), where the phone call
 * is: the caller's PCMU goes to subscribers as it comes, a publisher's
 * Opus goes on to the other subscribers and, decoded, to the caller.
 *
 * A track is offered to a subscriber once the room's media carries it: a
 * phone track from the call's start, a published track from the
 * publisher's offer. Every change of what a client hears is a new offer,
 * one at a time: a change made while an offer is out waits for its
 * answer.
 *
 * A publisher learns that its track is heard (TrackSubscribed, which
 * LiveKit's agents wait for before they speak) when a phone call is in the
 * room or another client subscribes to it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rtc/rtc_int.h"
#include "core/clock.h"
#include "core/log.h"
#include "media/webrtc.h"
#include "core/arena.h"
#include "room/room_pb.h"
#include "webrtc/dtls.h"

#define CONNECT_TIMEOUT_MS 10000

static struct media_room *room_media_get(struct rtc *r, struct room *room);

static void fp_string(char out[DTLS_FP_STR_SIZE], const uint8_t *fp)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	memcpy(out, "sha-256 ", 8);
	o = 8;
	for (size_t i = 0; i < WSDP_FP_LEN; i++) {
		out[o++] = hex[fp[i] >> 4];
		out[o++] = hex[fp[i] & 15];
		if (i + 1 < WSDP_FP_LEN)
			out[o++] = ':';
	}
	out[o] = '\0';
}

static int local_of(struct rtc_session *s, struct media_pc *pc,
                    struct wsdp_local *l)
{
	const char *why = NULL;

	memset(l, 0, sizeof(*l));
	l->ufrag = media_pc_ufrag(pc);
	l->pwd = media_pc_pwd(pc);
	l->addr = s->rtc->prm.ice_addr;
	l->port = media_pc_port(pc);
	return dtls_fingerprint_parse(
	    l->fp_sha256, dtls_cert_fingerprint(s->rtc->cert),
	    strlen(dtls_cert_fingerprint(s->rtc->cert)), &why);
}

static struct rtc_session *session_of(struct rtc *r,
                                      const struct participant *p)
{
	for (struct le *le = list_head(&r->sessions); le; le = le->next) {
		struct rtc_session *x = le->data;

		if (x->p == p)
			return x;
	}
	return NULL;
}

/* ---- TrackSubscribed ---------------------------------------------------- */

static void tell_heard(struct rtc_session *pub, const char *sid)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__TrackSubscribed ts = LIVEKIT__TRACK_SUBSCRIBED__INIT;
	struct rtc_media *md = &pub->media;

	for (size_t i = 0; i < md->ntold; i++) {
		if (!strcmp(md->told[i], sid))
			return;
	}
	if (md->ntold >= PARTICIPANT_TRACKS_MAX)
		return;
	snprintf(md->told[md->ntold++], sizeof(md->told[0]), "%s", sid);
	ts.track_sid = (char *)sid;
	m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_TRACK_SUBSCRIBED;
	m.track_subscribed = &ts;
	(void)rtc_session_send(pub, &m);
	log_event(LOGL_INFO, NULL, "rtc_track_subscribed",
	          "room=%s identity=%s track=%s", pub->room, pub->identity,
	          sid);
}

static bool has_phone(const struct room *room)
{
	const struct participant *q = NULL;

	while ((q = room_participant_next(room, q)) != NULL) {
		if (participant_media(q))
			return true;
	}
	return false;
}

/* Every published track of the room's clients is heard by its phones. */
static void tell_phones_hear(struct rtc *r, struct room *room)
{
	const struct participant *q = NULL;

	if (!has_phone(room))
		return;
	while ((q = room_participant_next(room, q)) != NULL) {
		struct rtc_session *x = session_of(r, q);
		const struct participant_track *t;
		size_t n;

		if (!x)
			continue;
		t = participant_tracks(q, &n);
		for (size_t i = 0; i < n; i++) {
			if (media_room_track(room_media(room), t[i].sid, NULL,
			                     NULL))
				tell_heard(x, t[i].sid);
		}
	}
}

/* ---- the room's media ---------------------------------------------------- */

static void media_release(void *arg)
{
	media_room_stop(arg);
	mem_deref(arg);
}

/* The phone calls of the room into its media; again and again as they
 * come: a call already in is left as it is. */
static void sync_phones(struct rtc *r, struct room *room, struct media_room *mr)
{
	const struct participant *q = NULL;

	while ((q = room_participant_next(room, q)) != NULL) {
		struct media_session *ms = participant_media(q);
		const struct participant_track *t;
		size_t n;
		int err;

		t = participant_tracks(q, &n);
		if (!ms || !n || media_room_track(mr, t[0].sid, NULL, NULL))
			continue;
		err = media_room_add_phone(mr, ms, t[0].sid, NULL, NULL);
		if (err)
			log_event(LOGL_WARN, NULL, "rtc_phone_not_bridged",
			          "room=%s identity=%s error=\"%s\"",
			          room_name(room), participant_identity(q),
			          err == EXDEV ? "the call runs on another "
			                         "media thread"
			                       : strerror(err));
	}
	tell_phones_hear(r, room);
}

static struct media_room *room_media_get(struct rtc *r, struct room *room)
{
	struct media_room *mr = room_media(room);
	const struct participant *q = NULL;
	struct media_session *near = NULL;

	if (!mr) {
		while (!near && (q = room_participant_next(room, q)) != NULL)
			near = participant_media(q);
		if (media_room_alloc(&mr, r->prm.media, near))
			return NULL;
		room_set_media(room, mr, media_release);
	}
	sync_phones(r, room, mr);
	return mr;
}

/* ---- offers out ------------------------------------------------------------ */

static void send_offer(struct rtc_session *s)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__SessionDescription sd = LIVEKIT__SESSION_DESCRIPTION__INIT;
	struct rtc_media *md = &s->media;
	struct wsdp_local l;
	const char *why = NULL;
	char *buf;
	size_t len;
	int err;

	if (!md->sub || md->sdp.pending || s->ending)
		return;
	if (md->offer_id && !md->sdp.changed)
		return;
	buf = malloc(WSDP_SIZE_MAX);
	if (!buf)
		return;
	err = local_of(s, md->sub, &l);
	if (!err)
		err = wsdp_sub_offer(&md->sdp, &l, buf, WSDP_SIZE_MAX, &len,
		                     &why);
	if (err) {
		if (err != EALREADY)
			log_event(LOGL_WARN, NULL, "rtc_offer_failed",
			          "room=%s identity=%s error=\"%s\"", s->room,
			          s->identity, why ? why : strerror(err));
		free(buf);
		return;
	}
	sd.type = "offer";
	sd.sdp = buf;
	sd.id = ++md->offer_id;
	m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_OFFER;
	m.offer = &sd;
	(void)rtc_session_send(s, &m);
	free(buf);
}

/* Adds the other participant's track to what the client hears, once the
 * room's media carries it. */
static void sub_track(struct rtc_session *s, const struct participant *q,
                      const char *sid)
{
	struct media_room *mr = room_media(participant_room(s->p));
	struct rtc_session *pub;
	const char *why = NULL;
	uint32_t ssrc;
	uint8_t pt;
	int err;

	if (!mr || !participant_permission(s->p)->can_subscribe ||
	    !media_room_track(mr, sid, &ssrc, &pt))
		return;
	if (wsdp_sub_find(&s->media.sdp, sid) >= 0)
		return;
	err = wsdp_sub_add(&s->media.sdp, participant_sid(q), sid, ssrc,
	                   pt == MEDIA_PT_OPUS ? WSDP_OPUS : WSDP_PCMU, NULL,
	                   &why);
	if (!err)
		err = media_room_subscribe(mr, s->media.sub, sid, true);
	if (err) {
		log_event(LOGL_WARN, NULL, "rtc_subscribe_failed",
		          "room=%s identity=%s track=%s error=\"%s\"", s->room,
		          s->identity, sid, why ? why : strerror(err));
		return;
	}
	pub = session_of(s->rtc, q);
	if (pub)
		tell_heard(pub, sid);
}

static void unsub_track(struct rtc_session *s, const char *sid)
{
	struct media_room *mr = room_media(participant_room(s->p));

	if (wsdp_sub_remove(&s->media.sdp, sid))
		return;
	if (mr)
		(void)media_room_subscribe(mr, s->media.sub, sid, false);
}

static void sub_all_of(struct rtc_session *s, const struct participant *q)
{
	const struct participant_track *t;
	size_t n;

	if (q == s->p || !s->auto_subscribe)
		return;
	t = participant_tracks(q, &n);
	for (size_t i = 0; i < n; i++)
		sub_track(s, q, t[i].sid);
}

/* ---- the connections' events ---------------------------------------------- */

static void connect_timeout(void *arg)
{
	struct rtc_session *s = arg;

	s->rtc->n.join_timeouts++;
	log_event(LOGL_WARN, NULL, "rtc_connect_timeout",
	          "room=%s identity=%s after_ms=%u", s->room, s->identity,
	          CONNECT_TIMEOUT_MS);
	rtc_session_end(s, "JOIN_FAILURE");
}

static void pc_event(struct rtc_session *s, bool sub, enum media_pc_event ev,
                     const char *why)
{
	struct rtc_media *md = &s->media;

	switch (ev) {
	case MEDIA_PC_CONNECTED:
		rtc_data_connected(s, sub);
		if (sub) {
			uint64_t ms =
			    (clock_mono_us() - md->joined_us + 500) / 1000;

			md->sub_up = true;
			tmr_cancel(&md->connect);
			s->rtc->n.connected++;
			s->rtc->n.connect_ms_sum += ms;
			log_event(LOGL_INFO, NULL, "rtc_connected",
			          "room=%s identity=%s pc=subscriber "
			          "srtp=%s join_ms=%llu",
			          s->room, s->identity, why,
			          (unsigned long long)ms);
		} else {
			md->pub_up = true;
			log_event(LOGL_INFO, NULL, "rtc_connected",
			          "room=%s identity=%s pc=publisher srtp=%s",
			          s->room, s->identity, why);
		}
		break;
	case MEDIA_PC_FAILED:
		s->rtc->n.pc_failed++;
		log_event(LOGL_WARN, NULL, "rtc_pc_failed",
		          "room=%s identity=%s pc=%s reason=\"%s\"", s->room,
		          s->identity, sub ? "subscriber" : "publisher", why);
		rtc_session_end(s, "MEDIA_FAILURE");
		break;
	case MEDIA_PC_STOPPED:
		break;
	}
}

static void sub_event_h(enum media_pc_event ev, const char *why, void *arg)
{
	pc_event(arg, true, ev, why);
}

static void pub_event_h(enum media_pc_event ev, const char *why, void *arg)
{
	pc_event(arg, false, ev, why);
}

static void sub_app_h(const uint8_t *data, size_t len, void *arg)
{
	rtc_data_in(arg, true, data, len);
}

static void pub_app_h(const uint8_t *data, size_t len, void *arg)
{
	rtc_data_in(arg, false, data, len);
}

static int pc_new(struct rtc_session *s, bool sub, struct media_pc **pcp)
{
	struct media_room *mr = room_media_get(s->rtc, participant_room(s->p));
	char label[520];
	int err;

	if (!mr)
		return ENOMEM;
	snprintf(label, sizeof(label), "%s/%s/%s", s->room, s->identity,
	         sub ? "sub" : "pub");
	const struct media_pc_prm prm = {
	    .engine = s->rtc->prm.media,
	    .cert = s->rtc->cert,
	    .subscriber = sub,
	    .label = label,
	    .apph = sub ? sub_app_h : pub_app_h,
	};
	err = media_pc_alloc(pcp, &prm, sub ? sub_event_h : pub_event_h, s);
	if (!err)
		err = media_pc_start(*pcp, mr);
	if (err)
		*pcp = mem_deref(*pcp);
	return err;
}

/* ---- what the session calls ----------------------------------------------- */

int rtc_media_init(struct rtc_session *s)
{
	struct rtc_media *md = &s->media;
	struct room *room = participant_room(s->p);
	const struct participant *q = NULL;
	int err;

	if (!s->rtc->prm.media)
		return 0; /* signalling only */
	tmr_init(&md->connect);
	md->joined_us = clock_mono_us();
	wsdp_sub_init(&md->sdp, ((uint64_t)rand_u32() << 31) ^ rand_u32());
	err = pc_new(s, true, &md->sub);
	if (err)
		return err;
	/* The data channels' line, as LiveKit offers it. */
	(void)wsdp_sub_data(&md->sdp);
	while ((q = room_participant_next(room, q)) != NULL)
		sub_all_of(s, q);
	md->sdp.changed = true;
	send_offer(s);
	tmr_start(&md->connect, CONNECT_TIMEOUT_MS, connect_timeout, s);
	return 0;
}

void rtc_media_reset(struct rtc_session *s)
{
	struct rtc_media *md = &s->media;

	tmr_cancel(&md->connect);
	rtc_data_reset(s);
	/* Its published tracks leave the room's media with it. */
	if (s->p && room_media(participant_room(s->p))) {
		const struct participant_track *t;
		size_t n;

		t = participant_tracks(s->p, &n);
		for (size_t i = 0; i < n; i++)
			(void)media_room_remove_track(
			    room_media(participant_room(s->p)), t[i].sid);
	}
	media_pc_stop(md->sub);
	media_pc_stop(md->pub);
	md->sub = mem_deref(md->sub);
	md->pub = mem_deref(md->pub);
}

/* The client's description, parsed into *dp (free it); NULL with the
 * refusal logged. */
static struct wsdp_desc *desc_parse(struct rtc_session *s,
                                    const Livekit__SessionDescription *sd)
{
	struct wsdp_desc *d = malloc(sizeof(*d));
	const char *why = NULL;

	if (!d)
		return NULL;
	if (wsdp_parse(d, sd->sdp, strlen(sd->sdp), &why)) {
		log_event(LOGL_WARN, NULL, "rtc_sdp_refused",
		          "room=%s identity=%s type=%s line=%u reason=\"%s\"",
		          s->room, s->identity, sd->type, d->err_line,
		          why ? why : "");
		free(d);
		return NULL;
	}
	return d;
}

void rtc_media_answer(struct rtc_session *s,
                      const Livekit__SessionDescription *sd)
{
	struct rtc_media *md = &s->media;
	struct wsdp_desc *d = NULL;
	char fp[DTLS_FP_STR_SIZE];
	const char *why = NULL;
	int err;

	if (!md->sub)
		return;
	d = desc_parse(s, sd);
	if (!d) {
		rtc_session_end(s, "STATE_MISMATCH");
		return;
	}
	err = wsdp_sub_answer(&md->sdp, d, &why);
	if (err) {
		log_event(LOGL_WARN, NULL, "rtc_answer_refused",
		          "room=%s identity=%s reason=\"%s\"", s->room,
		          s->identity, why ? why : strerror(err));
		free(d);
		if (err != EALREADY)
			rtc_session_end(s, "STATE_MISMATCH");
		return;
	}
	fp_string(fp, d->fp_sha256);
	err = media_pc_remote(md->sub, d->ice_ufrag, d->ice_pwd, fp,
	                      md->sdp.dtls_server);
	free(d);
	if (err) {
		rtc_session_end(s, "MEDIA_FAILURE");
		return;
	}
	/* What changed while this offer was out. */
	send_offer(s);
}

static const struct participant_track *own_track(struct rtc_session *s,
                                                 const char *cid)
{
	const struct participant_track *t;
	size_t n;

	t = participant_tracks(s->p, &n);
	for (size_t i = 0; cid && *cid && i < n; i++) {
		if (!strcmp(t[i].cid, cid))
			return &t[i];
	}
	return NULL;
}

void rtc_media_offer(struct rtc_session *s,
                     const Livekit__SessionDescription *sd)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__SessionDescription ans = LIVEKIT__SESSION_DESCRIPTION__INIT;
	struct rtc_media *md = &s->media;
	struct room *room = participant_room(s->p);
	struct wsdp_pub_result *res = NULL;
	struct wsdp_desc *d = NULL;
	struct media_room *mr;
	struct wsdp_local l;
	char fp[DTLS_FP_STR_SIZE];
	const char *why = NULL;
	char *buf = NULL;
	size_t len;
	bool added = false;
	int err;

	if (!s->rtc->prm.media)
		return;
	if (!md->pub && pc_new(s, false, &md->pub)) {
		rtc_session_end(s, "MEDIA_FAILURE");
		return;
	}
	d = desc_parse(s, sd);
	if (!d) {
		rtc_session_end(s, "STATE_MISMATCH");
		return;
	}
	res = malloc(sizeof(*res));
	buf = malloc(WSDP_SIZE_MAX);
	err = res && buf ? local_of(s, md->pub, &l) : ENOMEM;
	if (!err) {
		const struct wsdp_pub_prm prm = {
		    .sess_id = md->sdp.sess_id,
		    .version = ++md->pub_version,
		    .data = true,
		};
		err = wsdp_pub_answer(d, &l, &prm, res, buf, WSDP_SIZE_MAX,
		                      &len, &why);
	}
	if (err) {
		log_event(LOGL_WARN, NULL, "rtc_offer_refused",
		          "room=%s identity=%s reason=\"%s\"", s->room,
		          s->identity, why ? why : strerror(err));
		rtc_session_end(s, "STATE_MISMATCH");
		goto out;
	}
	mr = room_media(room);
	for (unsigned i = 0; mr && i < res->n; i++) {
		const struct wsdp_pub_line *pl = &res->line[i];
		const struct participant_track *t;

		if (pl->how != WSDP_ANS_RECEIVING)
			continue;
		t = own_track(s, pl->track_id);
		if (!t) {
			log_event(LOGL_WARN, NULL, "rtc_track_unknown",
			          "room=%s identity=%s cid=%s", s->room,
			          s->identity, pl->track_id);
			continue;
		}
		if (media_room_track(mr, t->sid, NULL, NULL))
			continue;
		err = media_room_add_opus(mr, md->pub, t->sid,
		                          pl->has_ssrc ? pl->ssrc : 0, NULL);
		if (err)
			log_event(LOGL_WARN, NULL, "rtc_track_not_carried",
			          "room=%s identity=%s track=%s error=\"%s\"",
			          s->room, s->identity, t->sid, strerror(err));
		else
			added = true;
	}
	md->pub_sctp_port = res->peer_sctp_port;
	md->pub_max_message_size = res->peer_max_message_size;
	md->pub_dtls_client = res->dtls_client;
	fp_string(fp, d->fp_sha256);
	if (media_pc_remote(md->pub, d->ice_ufrag, d->ice_pwd, fp,
	                    !res->dtls_client)) {
		rtc_session_end(s, "MEDIA_FAILURE");
		goto out;
	}
	ans.type = "answer";
	ans.sdp = buf;
	ans.id = sd->id;
	m.message_case = LIVEKIT__SIGNAL_RESPONSE__MESSAGE_ANSWER;
	m.answer = &ans;
	(void)rtc_session_send(s, &m);
	if (added) {
		/* The others may hear it now; the phones do. */
		for (struct le *le = list_head(&s->rtc->sessions); le;
		     le = le->next) {
			struct rtc_session *x = le->data;

			if (x != s && x->p && participant_room(x->p) == room) {
				sub_all_of(x, s->p);
				send_offer(x);
			}
		}
		tell_phones_hear(s->rtc, room);
	}
out:
	free(d);
	free(res);
	free(buf);
}

void rtc_media_add_track(struct rtc_session *s,
                         const Livekit__AddTrackRequest *req)
{
	Livekit__SignalResponse m = LIVEKIT__SIGNAL_RESPONSE__INIT;
	Livekit__TrackPublishedResponse tp =
	    LIVEKIT__TRACK_PUBLISHED_RESPONSE__INIT;
	struct participant_track t = {0};
	struct arena *a = NULL;
	int err;

	if (!participant_permission(s->p)->can_publish ||
	    req->type != LIVEKIT__TRACK_TYPE__AUDIO ||
	    strlen(req->cid) >= sizeof(t.cid) || !*req->cid) {
		log_event(LOGL_WARN, NULL, "rtc_publish_refused",
		          "room=%s identity=%s cid=%.64s reason=\"%s\"",
		          s->room, s->identity, req->cid,
		          !participant_permission(s->p)->can_publish
		              ? "no canPublish grant"
		          : req->type != LIVEKIT__TRACK_TYPE__AUDIO
		              ? "audio only"
		              : "bad cid");
		return;
	}
	if (own_track(s, req->cid))
		return; /* asked again: the answer went out */
	snprintf(t.cid, sizeof(t.cid), "%s", req->cid);
	snprintf(t.name, sizeof(t.name), "%s",
	         *req->name ? req->name : "microphone");
	snprintf(t.mime, sizeof(t.mime), "audio/opus");
	t.muted = req->muted;
	t.stereo = req->stereo;
	err = participant_track_add(s->p, &t);
	if (!err)
		err = arena_alloc(&a);
	if (err) {
		log_event(LOGL_WARN, NULL, "rtc_publish_failed",
		          "room=%s identity=%s error=\"%s\"", s->room,
		          s->identity, strerror(err));
		return;
	}
	tp.cid = (char *)req->cid;
	tp.track = room_pb_track(a, own_track(s, req->cid));
	if (tp.track) {
		m.message_case =
		    LIVEKIT__SIGNAL_RESPONSE__MESSAGE_TRACK_PUBLISHED;
		m.track_published = &tp;
		(void)rtc_session_send(s, &m);
	}
	mem_deref(a);
}

void rtc_media_subscribe(struct rtc_session *s, const char *sid, bool on)
{
	struct participant *pub = NULL;

	if (!s->media.sub || !s->p)
		return;
	if (on) {
		if (room_track_find(participant_room(s->p), sid, &pub) && pub)
			sub_track(s, pub, sid);
	} else {
		unsub_track(s, sid);
	}
	send_offer(s);
}

void rtc_media_changed(struct rtc_session *s, const struct participant *other,
                       enum participant_change what)
{
	struct media_room *mr;
	const struct participant_track *t;
	size_t n;

	if (!s->media.sub || !other || !s->p || other == s->p)
		return;
	mr = room_media(participant_room(s->p));
	switch (what) {
	case PARTICIPANT_JOINED:
	case PARTICIPANT_UPDATED:
		if (participant_media(other) && mr)
			sync_phones(s->rtc, participant_room(s->p), mr);
		sub_all_of(s, other);
		/* A track the other one no longer publishes. */
		for (unsigned i = 0; i < s->media.sdp.n; i++) {
			const struct wsdp_sub_line *ln = &s->media.sdp.line[i];
			struct participant *pub = NULL;

			if (ln->state != WSDP_LINE_TRACK ||
			    strcmp(ln->track.pa_sid, participant_sid(other)))
				continue;
			if (!room_track_find(participant_room(s->p),
			                     ln->track.tr_sid, &pub))
				unsub_track(s, ln->track.tr_sid);
		}
		break;
	case PARTICIPANT_LEFT:
		t = participant_tracks(other, &n);
		for (size_t i = 0; i < n; i++) {
			unsub_track(s, t[i].sid);
			if (mr)
				(void)media_room_remove_track(mr, t[i].sid);
		}
		break;
	case PARTICIPANT_ROOM:
		break;
	}
	send_offer(s);
}
