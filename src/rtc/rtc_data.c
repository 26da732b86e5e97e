/*
 * DESIGN. A client's data channels, LiveKit's way (spec section b): the
 * client opens "_reliable" and "_lossy" on its publisher connection to
 * send, voxgate opens the same two on the subscriber connection to
 * deliver. SCTP runs here, on the signalling thread, over the DTLS of the
 * media thread (media_pc_send_app and the connection's application data
 * handler): data is rare next to audio, and here is where the room is.
 *
 * Every message is a DataPacket. voxgate stamps the sender's identity and
 * sid on it, as LiveKit's server does, and delivers it to the identities
 * it names, or to everyone else in the room, on the channel its kind
 * (reliable or lossy) asks for. LiveKit's two exceptions hold here too
 * (rtc_data_stamp): an agent may open a text stream in another's name (the
 * caller's transcription), and only an agent's legacy Transcription
 * packets are passed on.
 */
#include <errno.h>
#include <string.h>
#include "rtc/rtc_int.h"
#include "core/log.h"
#include "media/dtmf.h"
#include "media/webrtc.h"
#include "webrtc/sctp.h"

#define LABEL_RELIABLE "_reliable"
#define LABEL_LOSSY    "_lossy"
/* Reliable packets held for a receiver whose channels are not open yet:
 * a few seconds of an agent's first words, not a mailbox. */
#define HELD_MAX       64
#define HELD_BYTES_MAX (64 * 1024)

struct held {
	struct le le; /* in rtc_media.held */
	size_t len;
	uint8_t pkt[];
};

/* ---- the associations' timers --------------------------------------------- */

static void timers_h(void *arg)
{
	struct rtc *r = arg;

	sctpx_timers(SCTPX_TICK_MS);
	if (sctpx_count())
		tmr_start(&r->sctp_tmr, SCTPX_TICK_MS, timers_h, r);
}

static void timers_run(struct rtc *r)
{
	if (!tmr_isrunning(&r->sctp_tmr))
		tmr_start(&r->sctp_tmr, SCTPX_TICK_MS, timers_h, r);
}

/* ---- delivering --------------------------------------------------------- */

static void dropped(struct rtc_session *to, const char *why)
{
	to->rtc->n.data_dropped++;
	log_event(LOGL_DEBUG, NULL, "rtc_data_dropped",
	          "room=%s identity=%s error=\"%s\"", to->room, to->identity,
	          why);
}

static void send_now(struct rtc_session *to, bool lossy, const uint8_t *pkt,
                     size_t len)
{
	struct rtc_media *md = &to->media;
	const char *why = NULL;
	int err;

	err = sctpx_send(md->sub_sctp, lossy ? md->sid_lossy : md->sid_reliable,
	                 len ? SCTPX_PPID_BINARY : SCTPX_PPID_BINARY_EMPTY, pkt,
	                 len, &why);
	if (err)
		dropped(to, why ? why : strerror(err));
}

/* A receiver still connecting gets the reliable packets sent meanwhile
 * once its channels open, in order, as LiveKit's clients expect of what
 * was said while they joined (an agent's lk.agent.session stream, a
 * DTMF digit). Lossy ones are for now or never. */
static void hold(struct rtc_session *to, const uint8_t *pkt, size_t len)
{
	struct rtc_media *md = &to->media;
	struct held *h;

	if (md->nheld >= HELD_MAX || len > HELD_BYTES_MAX - md->held_bytes) {
		dropped(to, "its channels are not open yet and enough is "
		            "held for it");
		return;
	}
	/* zeroed: list_append refuses an element that seems linked */
	h = mem_zalloc(sizeof(*h) + len, NULL);
	if (!h) {
		dropped(to, "no memory to hold it");
		return;
	}
	h->len = len;
	if (len)
		memcpy(h->pkt, pkt, len);
	list_append(&md->held, &h->le, h);
	md->nheld++;
	md->held_bytes += len;
}

static void release_held(struct rtc_session *to, bool send)
{
	struct rtc_media *md = &to->media;
	struct le *le;

	while ((le = list_head(&md->held)) != NULL) {
		struct held *h = le->data;

		list_unlink(le);
		if (send && md->data_up)
			send_now(to, false, h->pkt, h->len);
		else
			dropped(to, "it left before its channels opened");
		mem_deref(h);
	}
	md->nheld = 0;
	md->held_bytes = 0;
}

static void deliver(struct rtc_session *to, bool lossy, const uint8_t *pkt,
                    size_t len)
{
	struct rtc_media *md = &to->media;

	if (md->sub_sctp && md->data_up)
		send_now(to, lossy, pkt, len);
	else if (lossy)
		dropped(to, "its channels are not open yet");
	else
		hold(to, pkt, len);
}

static bool named(const Livekit__DataPacket *dp, const char *identity)
{
	for (size_t i = 0; i < dp->n_destination_identities; i++) {
		if (!strcmp(dp->destination_identities[i], identity))
			return true;
	}
	return false;
}

/* An agent's sip_dtmf: played to the phone callers it names (all of the
 * room's when it names none) as RFC 4733 events. */
static void dtmf_to_phones(struct rtc_session *s, const Livekit__DataPacket *dp)
{
	const struct participant *q = NULL;
	char key = dtmf_code(dp->sip_dtmf->digit[0]) >= 0
	               ? dp->sip_dtmf->digit[0]
	               : dtmf_key(dp->sip_dtmf->code);

	if (!key)
		return;
	while ((q = room_participant_next(participant_room(s->p), q)) != NULL) {
		struct media_session *ms = participant_media(q);

		if (!ms || (dp->n_destination_identities &&
		            !named(dp, participant_identity(q))))
			continue;
		if (media_session_dtmf_send(ms, &key, 1))
			s->rtc->n.data_dropped++;
	}
}

int rtc_data_stamp(struct mbuf *mb, Livekit__DataPacket *dp,
                   const char *identity, const char *sid, bool agent)
{
	char *was_identity = dp->participant_identity;
	char *was_sid = dp->participant_sid;
	int err;

	if (dp->value_case == LIVEKIT__DATA_PACKET__VALUE_TRANSCRIPTION &&
	    !agent)
		return EPERM;
	/* An agent writes the user's transcription as the user: receivers
	 * file a text stream under the identity its header carries, and
	 * LiveKit leaves it there, the stream marked generated. Chunks and
	 * trailers are stamped as usual; receivers follow the header. */
	if (agent &&
	    dp->value_case == LIVEKIT__DATA_PACKET__VALUE_STREAM_HEADER &&
	    dp->stream_header->content_header_case ==
	        LIVEKIT__DATA_STREAM__HEADER__CONTENT_HEADER_TEXT_HEADER &&
	    was_identity[0] && strcmp(was_identity, identity)) {
		dp->stream_header->text_header->generated = true;
		return lkpb_pack(mb, &dp->base);
	}
	/* The decoded strings are put back before the message is freed. */
	dp->participant_identity = (char *)identity;
	dp->participant_sid = (char *)sid;
	err = lkpb_pack(mb, &dp->base);
	dp->participant_identity = was_identity;
	dp->participant_sid = was_sid;
	return err;
}

/* A DataPacket from s: stamped with its sender and passed on, on the
 * kind of channel it came on. */
static void route(struct rtc_session *s, bool lossy, const uint8_t *data,
                  size_t len)
{
	Livekit__DataPacket *dp = NULL;
	const char *why = NULL;
	struct mbuf *mb = NULL;
	int err;

	if (!s->p || !participant_permission(s->p)->can_publish_data) {
		s->rtc->n.data_refused++;
		return;
	}
	if (lkpb_unpack(&livekit__data_packet__descriptor, data, len,
	                (ProtobufCMessage **)&dp, &why)) {
		s->rtc->n.data_refused++;
		log_event(LOGL_WARN, NULL, "rtc_data_refused",
		          "room=%s identity=%s reason=\"%s\"", s->room,
		          s->identity, why ? why : "not a DataPacket");
		return;
	}
	/* The channel, not the packet's deprecated kind, says how it
	 * travels, as LiveKit's server has it: rtc-node marks reliable
	 * packets lossy. */
	dp->kind = lossy ? LIVEKIT__DATA_PACKET__KIND__LOSSY
	                 : LIVEKIT__DATA_PACKET__KIND__RELIABLE;
	mb = mbuf_alloc(len + 64);
	err = mb ? rtc_data_stamp(mb, dp, participant_identity(s->p),
	                          participant_sid(s->p),
	                          !strcmp(participant_kind(s->p), "AGENT"))
	         : ENOMEM;
	if (err == EPERM) {
		s->rtc->n.data_refused++;
		log_event(LOGL_DEBUG, NULL, "rtc_data_refused",
		          "room=%s identity=%s reason=\"a transcription from "
		          "a participant that is not an agent\"",
		          s->room, s->identity);
	}
	if (err) {
		mem_deref(mb);
		lkpb_free(dp);
		return;
	}
	s->rtc->n.data_in++;
	if (dp->value_case == LIVEKIT__DATA_PACKET__VALUE_SIP_DTMF &&
	    dp->sip_dtmf)
		dtmf_to_phones(s, dp);
	for (struct le *le = list_head(&s->rtc->sessions); le; le = le->next) {
		struct rtc_session *to = le->data;

		if (to == s || !to->p || to->ending ||
		    participant_room(to->p) != participant_room(s->p))
			continue;
		if (dp->n_destination_identities &&
		    !named(dp, participant_identity(to->p)))
			continue;
		deliver(to, lossy, mb->buf, mb->end);
	}
	mem_deref(mb);
	lkpb_free(dp);
}

void rtc_data_dtmf(struct rtc_session *s, const struct participant *from,
                   const char *digits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		Livekit__DataPacket dp = LIVEKIT__DATA_PACKET__INIT;
		Livekit__SipDTMF dtmf = LIVEKIT__SIP_DTMF__INIT;
		char digit[2] = {digits[i], '\0'};
		uint8_t buf[256];
		size_t len;
		int code = dtmf_code(digits[i]);

		if (code < 0)
			continue;
		dtmf.code = (uint32_t)code;
		dtmf.digit = digit;
		dp.kind = LIVEKIT__DATA_PACKET__KIND__RELIABLE;
		dp.participant_identity = (char *)participant_identity(from);
		dp.participant_sid = (char *)participant_sid(from);
		dp.value_case = LIVEKIT__DATA_PACKET__VALUE_SIP_DTMF;
		dp.sip_dtmf = &dtmf;
		if (lkpb_pack_buf(buf, sizeof(buf), &dp.base, &len))
			continue;
		deliver(s, false, buf, len);
	}
}

/* ---- the associations ------------------------------------------------------ */

static int sub_send_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct rtc_session *s = arg;

	return media_pc_send_app(s->media.sub, pkt, len);
}

static int pub_send_h(const uint8_t *pkt, size_t len, void *arg)
{
	struct rtc_session *s = arg;

	return media_pc_send_app(s->media.pub, pkt, len);
}

static void sub_state_h(enum sctpx_state state, const char *why, void *arg)
{
	struct rtc_session *s = arg;
	struct rtc_media *md = &s->media;
	const struct sctpx_chan reliable = {.label = LABEL_RELIABLE,
	                                    .ordered = true,
	                                    .max_rtx = -1,
	                                    .max_life_ms = -1};
	const struct sctpx_chan lossy = {.label = LABEL_LOSSY,
	                                 .ordered = false,
	                                 .max_rtx = 0,
	                                 .max_life_ms = -1};

	if (state != SCTPX_STATE_UP) {
		if (state == SCTPX_STATE_FAILED)
			log_event(LOGL_WARN, NULL, "rtc_data_failed",
			          "room=%s identity=%s pc=subscriber "
			          "reason=\"%s\"",
			          s->room, s->identity, why ? why : "");
		md->data_up = false;
		return;
	}
	if (sctpx_open_channel(md->sub_sctp, &reliable, &md->sid_reliable,
	                       &why) ||
	    sctpx_open_channel(md->sub_sctp, &lossy, &md->sid_lossy, &why)) {
		log_event(LOGL_WARN, NULL, "rtc_data_failed",
		          "room=%s identity=%s pc=subscriber reason=\"%s\"",
		          s->room, s->identity, why ? why : "");
		return;
	}
	md->data_up = true;
	log_event(LOGL_INFO, NULL, "rtc_data_up",
	          "room=%s identity=%s pc=subscriber held=%zu", s->room,
	          s->identity, md->nheld);
	release_held(s, true);
}

static void pub_state_h(enum sctpx_state state, const char *why, void *arg)
{
	struct rtc_session *s = arg;

	if (state == SCTPX_STATE_UP)
		log_event(LOGL_INFO, NULL, "rtc_data_up",
		          "room=%s identity=%s pc=publisher", s->room,
		          s->identity);
	else if (state == SCTPX_STATE_FAILED)
		log_event(LOGL_WARN, NULL, "rtc_data_failed",
		          "room=%s identity=%s pc=publisher reason=\"%s\"",
		          s->room, s->identity, why ? why : "");
}

static void message(struct rtc_session *s, struct sctpx_assoc *a, uint16_t sid,
                    enum sctpx_ppid ppid, const uint8_t *data, size_t len)
{
	struct sctpx_chan chan;

	if (!sctpx_ppid_binary(ppid)) {
		/* LiveKit's SDKs refuse text messages; so does voxgate. */
		s->rtc->n.data_refused++;
		return;
	}
	route(s,
	      a && !sctpx_channel(a, sid, &chan, NULL, NULL) && chan.label &&
	          !strcmp(chan.label, LABEL_LOSSY),
	      data, len);
}

static void pub_message_h(uint16_t sid, enum sctpx_ppid ppid,
                          const uint8_t *data, size_t len, void *arg)
{
	struct rtc_session *s = arg;

	message(s, s->media.pub_sctp, sid, ppid, data, len);
}

static void sub_message_h(uint16_t sid, enum sctpx_ppid ppid,
                          const uint8_t *data, size_t len, void *arg)
{
	struct rtc_session *s = arg;

	message(s, s->media.sub_sctp, sid, ppid, data, len);
}

static int assoc_new(struct rtc_session *s, bool sub, bool dtls_client,
                     uint16_t port, uint32_t peer_max, struct sctpx_assoc **ap)
{
	char label[300];
	const char *why = NULL;
	int err;

	snprintf(label, sizeof(label), "%s/%s", s->identity,
	         sub ? "sub" : "pub");
	const struct sctpx_prm prm = {
	    .dtls_client = dtls_client,
	    .remote_port = port,
	    .peer_max_message_size = peer_max,
	    .label = label,
	    .sendh = sub ? sub_send_h : pub_send_h,
	    .stateh = sub ? sub_state_h : pub_state_h,
	    .messageh = sub ? sub_message_h : pub_message_h,
	    .arg = s,
	};
	err = sctpx_alloc(ap, &prm, &why);
	if (!err)
		err = sctpx_start(*ap, &why);
	if (err) {
		log_event(LOGL_WARN, NULL, "rtc_data_failed",
		          "room=%s identity=%s reason=\"%s\"", s->room,
		          s->identity, why ? why : strerror(err));
		*ap = mem_deref(*ap);
		return err;
	}
	timers_run(s->rtc);
	return 0;
}

void rtc_data_connected(struct rtc_session *s, bool sub)
{
	struct rtc_media *md = &s->media;

	if (sub) {
		if (!md->sdp.peer_sctp_port || md->sub_sctp)
			return;
		(void)assoc_new(s, true, !md->sdp.dtls_server,
		                md->sdp.peer_sctp_port,
		                md->sdp.peer_max_message_size, &md->sub_sctp);
	} else {
		if (!md->pub_sctp_port || md->pub_sctp)
			return;
		(void)assoc_new(s, false, md->pub_dtls_client,
		                md->pub_sctp_port, md->pub_max_message_size,
		                &md->pub_sctp);
	}
}

void rtc_data_in(struct rtc_session *s, bool sub, const uint8_t *data,
                 size_t len)
{
	struct sctpx_assoc *a = sub ? s->media.sub_sctp : s->media.pub_sctp;

	if (a)
		(void)sctpx_input(a, data, len, NULL);
}

void rtc_data_reset(struct rtc_session *s)
{
	s->media.data_up = false;
	release_held(s, false);
	s->media.sub_sctp = mem_deref(s->media.sub_sctp);
	s->media.pub_sctp = mem_deref(s->media.pub_sctp);
}
