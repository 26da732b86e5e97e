/*
 * DESIGN. The token is checked before the upgrade, as LiveKit's
 * rtcservice does, so that a refused client gets an HTTP status and a
 * plain-text reason; the SDKs then ask /rtc/validate, which repeats the
 * same check and answers 200 "success" or the same refusal. Every reply
 * carries CORS headers: a browser page reads them from another origin.
 * /rtc/v1 (LiveKit's single peer connection) answers 404, the status on
 * which every current SDK falls back to /rtc.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "rtc/rtc_int.h"
#include "core/form.h"
#include "core/log.h"
#include "media/webrtc.h"
#include "webrtc/dtls.h"
#include <jansson.h>

#define CORS                                                                   \
	"Access-Control-Allow-Origin: *\r\n"                                   \
	"Access-Control-Allow-Methods: GET, OPTIONS\r\n"                       \
	"Access-Control-Allow-Headers: Authorization, Content-Type\r\n"

static void reply(struct http_conn *conn, uint16_t status, const char *reason,
                  const char *text)
{
	(void)http_reply(conn, status, reason,
	                 CORS "Content-Type: text/plain; charset=utf-8\r\n"
	                      "Content-Length: %zu\r\n"
	                      "\r\n"
	                      "%s",
	                 strlen(text), text);
}

static const char *status_reason(uint16_t status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	default:
		return "Internal Server Error";
	}
}

static bool truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/*
 * Checks who is joining: 0 with j filled, or the HTTP status that refuses
 * it with the reason in *why (LiveKit's texts where it has them).
 */
static uint16_t check(struct rtc *r, const struct http_msg *msg,
                      struct rtc_join *j, const char **why)
{
	static const char bearer[] = "Bearer ";
	const struct http_hdr *h = http_msg_hdr(msg, HTTP_HDR_AUTHORIZATION);
	struct form q = {0};
	const char *tok = NULL, *v;
	char *hdr_tok = NULL;
	uint16_t status = 0;
	int err;

	memset(j, 0, sizeof(*j));
	j->auto_subscribe = true;
	if (msg->prm.l > 1 &&
	    form_parse(&q, msg->prm.p + 1, msg->prm.l - 1) != 0) {
		*why = "the query could not be decoded";
		return 400;
	}
	if (h) {
		struct pl t;

		if (h->val.l < sizeof(bearer) - 1 ||
		    memcmp(h->val.p, bearer, sizeof(bearer) - 1)) {
			*why = "invalid authorization header. Must start with "
			       "Bearer ";
			status = 401;
			goto out;
		}
		t.p = h->val.p + sizeof(bearer) - 1;
		t.l = h->val.l - (sizeof(bearer) - 1);
		if (pl_strdup(&hdr_tok, &t)) {
			*why = "out of memory";
			status = 500;
			goto out;
		}
		tok = hdr_tok;
	} else {
		tok = form_get(&q, "access_token");
	}
	if (!tok || !*tok) {
		*why = "no permissions to access the room";
		status = 401;
		goto out;
	}
	err = token_verify(tok, &r->prm.keys, time(NULL), &j->claims, why);
	if (err) {
		status = 401;
		goto out;
	}
	if (!j->claims.grants.room_join) {
		*why = "no permissions to access the room";
		status = 401;
		goto out;
	}
	if (!j->claims.identity[0]) {
		*why = "identity cannot be empty";
		status = 400;
		goto out;
	}
	v = form_get(&q, "room");
	/* LiveKit takes the grant's room and ignores the query's; a client
	 * that names another room is told so rather than put in one it did
	 * not ask for. */
	if (j->claims.grants.room[0] && v && *v &&
	    strcmp(v, j->claims.grants.room)) {
		*why = "the token does not grant the room in the query";
		status = 401;
		goto out;
	}
	if (j->claims.grants.room[0])
		v = j->claims.grants.room;
	if (!v || !*v) {
		*why = "no room name";
		status = 400;
		goto out;
	}
	if (strlen(v) >= sizeof(j->room)) {
		*why = "room name length exceeds limits";
		status = 400;
		goto out;
	}
	snprintf(j->room, sizeof(j->room), "%s", v);
	v = form_get(&q, "auto_subscribe");
	if (v && *v)
		j->auto_subscribe = truthy(v);
	j->extra = token_claims_object(tok);
	if (!j->extra) {
		*why = "out of memory";
		status = 500;
	}
out:
	mem_deref(hdr_tok);
	form_reset(&q);
	return status;
}

static void serve_rtc(struct rtc *r, struct http_conn *conn,
                      const struct http_msg *msg, bool validate_only)
{
	struct rtc_join j;
	const char *why = NULL;
	uint16_t status = check(r, msg, &j, &why);

	if (status) {
		char peer[64];

		r->n.refused++;
		if (re_snprintf(peer, sizeof(peer), "%J",
		                http_conn_peer(conn)) < 0)
			peer[0] = '\0';
		log_event(LOGL_INFO, NULL, "rtc_refused",
		          "peer=%s status=%u reason=\"%s\" validate=%s", peer,
		          status, why ? why : "", validate_only ? "yes" : "no");
		reply(conn, status, status_reason(status),
		      why ? why : "refused");
	} else if (validate_only) {
		reply(conn, 200, "OK", "success");
	} else {
		rtc_session_accept(r, conn, msg, &j);
	}
	json_decref(j.extra);
}

bool rtc_http(struct rtc *r, struct http_conn *conn, const struct http_msg *msg)
{
	bool v1 = !pl_strcmp(&msg->path, "/rtc/v1") ||
	          !pl_strcmp(&msg->path, "/rtc/v1/validate");
	bool validate = !pl_strcmp(&msg->path, "/rtc/validate");

	if (!r || (!v1 && !validate && pl_strcmp(&msg->path, "/rtc")))
		return false;
	if (!pl_strcmp(&msg->met, "OPTIONS")) {
		(void)http_reply(conn, 204, "No Content",
		                 CORS "Content-Length: 0\r\n\r\n");
		return true;
	}
	if (pl_strcmp(&msg->met, "GET")) {
		reply(conn, 405, status_reason(405), "use GET");
		return true;
	}
	if (v1) {
		/* Not "requested room does not exist": livekit-client takes
		 * that text for a missing room rather than a missing path. */
		reply(conn, 404, status_reason(404),
		      "single peer connection signalling is not served here; "
		      "use /rtc");
		return true;
	}
	serve_rtc(r, conn, msg, validate);
	return true;
}

/* The peer connections open now by state, and the counters of all of
 * them, the live ones as of their media thread's last tick. */
static int pc_metrics(const struct rtc *r, struct mbuf *mb)
{
	struct media_pc_totals t;
	const struct media_pc_stats *s = &t.sum;

	media_pc_totals(r->prm.media, &t);
	return mbuf_printf(
	    mb,
	    "# HELP voxgate_webrtc_pcs Peer connections open now, by state.\n"
	    "# TYPE voxgate_webrtc_pcs gauge\n"
	    "voxgate_webrtc_pcs{state=\"new\"} %llu\n"
	    "voxgate_webrtc_pcs{state=\"checking\"} %llu\n"
	    "voxgate_webrtc_pcs{state=\"connected\"} %llu\n"
	    "voxgate_webrtc_pcs{state=\"failed\"} %llu\n"
	    "# HELP voxgate_webrtc_closed_total Peer connections closed "
	    "(up: were connected).\n"
	    "# TYPE voxgate_webrtc_closed_total counter\n"
	    "voxgate_webrtc_closed_total{up=\"yes\"} %llu\n"
	    "voxgate_webrtc_closed_total{up=\"no\"} %llu\n"
	    "# HELP voxgate_webrtc_stun_total STUN checks, by result.\n"
	    "# TYPE voxgate_webrtc_stun_total counter\n"
	    "voxgate_webrtc_stun_total{result=\"answered\"} %llu\n"
	    "voxgate_webrtc_stun_total{result=\"refused\"} %llu\n"
	    "voxgate_webrtc_stun_total{result=\"bad_integrity\"} %llu\n"
	    "voxgate_webrtc_stun_total{result=\"bad_username\"} %llu\n"
	    "# HELP voxgate_webrtc_rtp_total RTP and RTCP packets.\n"
	    "# TYPE voxgate_webrtc_rtp_total counter\n"
	    "voxgate_webrtc_rtp_total{dir=\"in\"} %llu\n"
	    "voxgate_webrtc_rtp_total{dir=\"out\"} %llu\n"
	    "voxgate_webrtc_rtp_total{dir=\"rtcp_in\"} %llu\n"
	    "# HELP voxgate_webrtc_dropped_total Datagrams dropped, by "
	    "reason.\n"
	    "# TYPE voxgate_webrtc_dropped_total counter\n"
	    "voxgate_webrtc_dropped_total{reason=\"srtp_auth_fail\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"srtp_replay\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"early\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"wrong_source\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"malformed\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"unknown_ssrc\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"not_ready\"} %llu\n"
	    "voxgate_webrtc_dropped_total{reason=\"send_error\"} %llu\n"
	    "# HELP voxgate_webrtc_dtls_retransmits_total DTLS flights "
	    "resent.\n"
	    "# TYPE voxgate_webrtc_dtls_retransmits_total counter\n"
	    "voxgate_webrtc_dtls_retransmits_total %llu\n"
	    "# HELP voxgate_webrtc_handshake_ms_sum DTLS handshake time of "
	    "the closed connections that were up, summed.\n"
	    "# TYPE voxgate_webrtc_handshake_ms_sum counter\n"
	    "voxgate_webrtc_handshake_ms_sum %llu\n",
	    (unsigned long long)t.open[MEDIA_PC_S_NEW],
	    (unsigned long long)t.open[MEDIA_PC_S_CHECKING],
	    (unsigned long long)t.open[MEDIA_PC_S_CONNECTED],
	    (unsigned long long)t.open[MEDIA_PC_S_FAILED],
	    (unsigned long long)t.up, (unsigned long long)(t.closed - t.up),
	    (unsigned long long)s->stun_in, (unsigned long long)s->stun_refused,
	    (unsigned long long)s->stun_bad_integrity,
	    (unsigned long long)s->stun_bad_username,
	    (unsigned long long)s->rtp_in, (unsigned long long)s->rtp_out,
	    (unsigned long long)s->rtcp_in,
	    (unsigned long long)s->srtp_auth_fail,
	    (unsigned long long)s->srtp_replay, (unsigned long long)s->early,
	    (unsigned long long)s->wrong_source,
	    (unsigned long long)s->malformed,
	    (unsigned long long)s->unknown_ssrc,
	    (unsigned long long)s->not_ready,
	    (unsigned long long)s->send_errors,
	    (unsigned long long)s->dtls_retransmits,
	    (unsigned long long)(s->handshake_us / 1000u));
}

int rtc_metrics(const struct rtc *r, struct mbuf *mb)
{
	int err;

	if (!r)
		return 0;
	err = r->prm.media ? pc_metrics(r, mb) : 0;
	if (err)
		return err;
	return mbuf_printf(
	    mb,
	    "# HELP voxgate_rtc_sessions Clients joined over /rtc now.\n"
	    "# TYPE voxgate_rtc_sessions gauge\n"
	    "voxgate_rtc_sessions %u\n"
	    "# HELP voxgate_rtc_signal_total /rtc signalling events.\n"
	    "# TYPE voxgate_rtc_signal_total counter\n"
	    "voxgate_rtc_signal_total{event=\"joined\"} %llu\n"
	    "voxgate_rtc_signal_total{event=\"refused\"} %llu\n"
	    "voxgate_rtc_signal_total{event=\"malformed\"} %llu\n"
	    "voxgate_rtc_signal_total{event=\"timed_out\"} %llu\n"
	    "voxgate_rtc_signal_total{event=\"left\"} %llu\n"
	    "voxgate_rtc_signal_total{event=\"dropped\"} %llu\n"
	    "# HELP voxgate_rtc_pc_total WebRTC peer connection events.\n"
	    "# TYPE voxgate_rtc_pc_total counter\n"
	    "voxgate_rtc_pc_total{event=\"connected\"} %llu\n"
	    "voxgate_rtc_pc_total{event=\"failed\"} %llu\n"
	    "voxgate_rtc_pc_total{event=\"join_timeout\"} %llu\n"
	    "# HELP voxgate_rtc_connect_ms_sum Join to connected, summed.\n"
	    "# TYPE voxgate_rtc_connect_ms_sum counter\n"
	    "voxgate_rtc_connect_ms_sum %llu\n"
	    "# HELP voxgate_rtc_data_total DataPackets over data channels.\n"
	    "# TYPE voxgate_rtc_data_total counter\n"
	    "voxgate_rtc_data_total{event=\"routed\"} %llu\n"
	    "voxgate_rtc_data_total{event=\"refused\"} %llu\n"
	    "voxgate_rtc_data_total{event=\"dropped\"} %llu\n",
	    rtc_session_count(r), (unsigned long long)r->n.joined,
	    (unsigned long long)r->n.refused,
	    (unsigned long long)r->n.malformed,
	    (unsigned long long)r->n.timed_out, (unsigned long long)r->n.left,
	    (unsigned long long)r->n.dropped,
	    (unsigned long long)r->n.connected,
	    (unsigned long long)r->n.pc_failed,
	    (unsigned long long)r->n.join_timeouts,
	    (unsigned long long)r->n.connect_ms_sum,
	    (unsigned long long)r->n.data_in,
	    (unsigned long long)r->n.data_refused,
	    (unsigned long long)r->n.data_dropped);
}

static void rtc_destructor(void *arg)
{
	struct rtc *r = arg;

	rtc_session_end_all(r, "SERVER_SHUTDOWN");
	tmr_cancel(&r->sctp_tmr);
	mem_deref(r->ws);
	mem_deref(r->cert);
}

int rtc_alloc(struct rtc **rp, const struct rtc_params *prm)
{
	struct rtc *r;
	int err;

	if (!rp || !prm || !prm->rooms)
		return EINVAL;
	r = mem_zalloc(sizeof(*r), rtc_destructor);
	if (!r)
		return ENOMEM;
	r->prm = *prm;
	if (!r->prm.ping_interval_s)
		r->prm.ping_interval_s = 5;
	if (!r->prm.ping_timeout_s)
		r->prm.ping_timeout_s = 15;
	if (!r->prm.version)
		r->prm.version = RTC_LIVEKIT_VERSION;
	list_init(&r->sessions);
	tmr_init(&r->sctp_tmr);
	if (r->prm.media) {
		const char *why = NULL;

		if (!r->prm.ice_addr || !*r->prm.ice_addr) {
			mem_deref(r);
			return EINVAL;
		}
		err = dtls_cert_alloc(&r->cert, &why);
		if (err) {
			log_event(LOGL_ERROR, NULL, "rtc_cert_failed",
			          "error=\"%s\"", why ? why : strerror(err));
			mem_deref(r);
			return err;
		}
	}
	err = websock_alloc(&r->ws, NULL, NULL);
	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err;
}
