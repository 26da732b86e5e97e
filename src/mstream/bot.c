/*
 * DESIGN. Each call has its own WebSocket client (resolver, HTTP client,
 * socket), made at start and freed at stop, so no bot's trouble reaches
 * another call. The media thread only touches the bot_line (rings and
 * atomics); everything that speaks to the socket runs on the signalling
 * thread: the socket's handlers and a 20 ms timer that sends the caller's
 * frames and the marks whose audio has been played.
 *
 * wss:// is encrypted, but libre 1.1.0's HTTP client (Debian 12's) leaves
 * OpenSSL's peer verification off and offers no way to turn it on, so the
 * bot's certificate is not checked.
 *
 * The stream is the bot's for the life of the call: a malformed frame is
 * counted and skipped, but the socket closing, failing to open or not
 * opening in time ends the call, since the caller would otherwise sit in
 * silence. The caller's audio from before the socket opens is dropped
 * rather than sent late in a burst.
 *
 * Frames go out as Twilio sends them: "connected" without a sequence
 * number, then one counter for start, media, mark, dtmf and stop; media
 * chunks count from 1 and their timestamps are the audio's position in
 * ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "mstream/bot.h"
#include "mstream/bot_line.h"
#include "mstream/mstream.h"
#include "core/log.h"
#include "net/wsguard.h"

#define TICK_MS            20
#define CONNECT_TIMEOUT_MS 10000
/* libre takes the ping interval in ms. */
#define KEEPALIVE_MS 30000
#define UP_MS        1000
/* Bots may send a whole utterance at once, as Twilio buffers it all. */
#define DOWN_MS           32000
#define OUT_SZ            2048 /* start with its parameters; media ~370 */
#define BAD_FRAMES_LOGGED 5
/* Twilio's shape, no real account: a bot that calls Twilio's REST API
 * with it gets nowhere, which is right. */
#define ACCOUNT_SID "AC00000000000000000000000000000000"

enum bot_state {
	BOT_CONNECTING,
	BOT_LIVE,
	BOT_GONE, /* the socket closed or never opened */
};

struct bot {
	struct bot_line line;
	char url[512];
	char call_id[128], from[128], to[128], room[256], participant[300];
	char stream_sid[35];
	void (*hangup)(void *arg, const char *reason);
	void *hangup_arg;
	struct dnsc *dnsc;
	struct http_cli *cli;
	struct websock *ws;
	struct websock_conn *wc;
	struct tmr tick, conn_tmr;
	enum bot_state state;
	uint32_t seq, chunk;
	uint64_t frames_to, frames_from, marks_in, marks_out, clears;
	uint64_t bad_frames;
	/* Keys pressed while the socket was still opening: sent after the
	 * start frame, so the bot sees every one. */
	char early_dtmf[32];
	size_t nearly_dtmf;
	char reason[160];       /* why the bot's side ended the call, or "" */
	struct mstream_msg msg; /* the frame being read (large) */
	char out[OUT_SZ];
};

static void send_out(struct bot *b, size_t n)
{
	int err;

	if (!n) {
		log_event(LOGL_WARN, b->call_id, "bot_frame_too_big", NULL);
		return;
	}
	/* A failed send means the socket is going: its close handler
	 * follows and ends the call. */
	err = websock_send(b->wc, WEBSOCK_TEXT, "%b", b->out, n);
	if (err)
		log_event(LOGL_DEBUG, b->call_id, "bot_send_failed",
		          "error=\"%s\"", strerror(err));
}

static void send_due_marks(struct bot *b)
{
	char name[BOT_LINE_MARK_NAME];

	while (bot_line_mark_due(&b->line, name)) {
		send_out(b, mstream_mark_played(b->out, sizeof(b->out),
		                                b->stream_sid, name, ++b->seq));
		b->marks_out++;
	}
}

/* Ends the call from the bot's side, once. */
static void bot_gone(struct bot *b, const char *reason)
{
	if (b->state == BOT_GONE)
		return;
	b->state = BOT_GONE;
	tmr_cancel(&b->conn_tmr);
	if (reason != b->reason)
		snprintf(b->reason, sizeof(b->reason), "%s", reason);
	if (b->hangup)
		b->hangup(b->hangup_arg, b->reason);
}

static void on_tick(void *arg)
{
	struct bot *b = arg;
	uint8_t frame[BOT_LINE_FRAME];

	tmr_start(&b->tick, TICK_MS, on_tick, b);
	if (b->state != BOT_LIVE) {
		bot_line_drop_up(&b->line);
		return;
	}
	while (bot_line_take(&b->line, frame)) {
		b->chunk++;
		send_out(b, mstream_media_in(b->out, sizeof(b->out),
		                             b->stream_sid, ++b->seq, b->chunk,
		                             (b->chunk - 1) * TICK_MS, frame,
		                             sizeof(frame)));
		b->frames_to++;
	}
	send_due_marks(b);
}

static void send_dtmf(struct bot *b, const char *digits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char digit[2] = {digits[i], '\0'};

		send_out(b, mstream_dtmf(b->out, sizeof(b->out), b->stream_sid,
		                         digit, ++b->seq));
	}
}

static void on_estab(void *arg)
{
	struct bot *b = arg;
	const char *const pairs[][2] = {
	    {"From", b->from},
	    {"To", b->to},
	    {"Room", b->room},
	    {"Participant", b->participant},
	};
	struct mstream_param prm[4];
	size_t n = 0;

	tmr_cancel(&b->conn_tmr);
	if (wsguard_attach(b->wc, &(struct wsguard_prm){.label = "bot"})) {
		bot_gone(b, "bot connection: out of memory");
		return;
	}
	b->state = BOT_LIVE;
	log_event(LOGL_INFO, b->call_id, "bot_connected", "url=%s", b->url);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (!*pairs[i][1])
			continue;
		snprintf(prm[n].name, sizeof(prm[n].name), "%s", pairs[i][0]);
		snprintf(prm[n].value, sizeof(prm[n].value), "%s", pairs[i][1]);
		n++;
	}
	send_out(b, mstream_connected(b->out, sizeof(b->out)));
	send_out(b, mstream_start(b->out, sizeof(b->out), b->stream_sid,
	                          ACCOUNT_SID, b->call_id, prm, n, ++b->seq));
	bot_line_drop_up(&b->line);
	log_event(LOGL_INFO, b->call_id, "bot_stream_started",
	          "stream=%s call=%s", b->stream_sid, b->call_id);
	send_dtmf(b, b->early_dtmf, b->nearly_dtmf);
	b->nearly_dtmf = 0;
}

static void bad_frame(struct bot *b, const char *why)
{
	char q[160];

	if (++b->bad_frames <= BAD_FRAMES_LOGGED)
		log_event(LOGL_WARN, b->call_id, "bot_bad_frame",
		          "reason=\"%s\" count=%llu",
		          log_quote(q, sizeof(q), why),
		          (unsigned long long)b->bad_frames);
}

static void on_frame(struct bot *b, const char *text, size_t len)
{
	struct mstream_msg *m = &b->msg;
	const char *why;

	if (mstream_parse(m, MSTREAM_TWILIO, text, len, &why)) {
		bad_frame(b, why);
		return;
	}
	switch (m->event) {
	case MSTREAM_MEDIA:
		b->frames_from++;
		/* Full: counted in the line, reported at the end. */
		(void)bot_line_put(&b->line, m->payload, m->payload_len);
		break;
	case MSTREAM_MARK:
		b->marks_in++;
		(void)bot_line_mark(&b->line, m->mark);
		break;
	case MSTREAM_CLEAR:
		b->clears++;
		bot_line_clear(&b->line);
		send_due_marks(b);
		break;
	default:
		/* Twilio ignores what it does not take from a bot. */
		break;
	}
}

static void on_recv(const struct websock_hdr *hdr, struct mbuf *mb, void *arg)
{
	struct bot *b = arg;

	if (b->state != BOT_LIVE)
		return;
	if (hdr->opcode != WEBSOCK_TEXT || !hdr->fin) {
		bad_frame(b, "not a whole text frame");
		return;
	}
	on_frame(b, (const char *)mbuf_buf(mb), mbuf_get_left(mb));
}

static void on_close(int err, void *arg)
{
	struct bot *b = arg;
	char reason[160];

	if (b->state == BOT_GONE)
		return;
	if (b->state == BOT_LIVE) {
		if (err)
			snprintf(reason, sizeof(reason),
			         "bot connection lost: %s", strerror(err));
		else
			snprintf(reason, sizeof(reason),
			         "bot closed the stream");
		log_event(LOGL_INFO, b->call_id, "bot_closed", "reason=\"%s\"",
		          reason);
	} else {
		/* libre reports a refused upgrade (no 101) as EPROTO, a
		 * name DNS does not know as EDESTADDRREQ. */
		snprintf(reason, sizeof(reason), "bot unreachable: %s",
		         err == EDESTADDRREQ ? "host not found"
		                             : strerror(err ? err : EPROTO));
		log_event(LOGL_WARN, b->call_id, "bot_connect_failed",
		          "url=%s reason=\"%s\"", b->url, reason);
	}
	bot_gone(b, reason);
}

static void connect_timeout(void *arg)
{
	struct bot *b = arg;

	log_event(LOGL_WARN, b->call_id, "bot_connect_failed",
	          "url=%s reason=\"no answer within %d ms\"", b->url,
	          CONNECT_TIMEOUT_MS);
	b->wc = mem_deref(b->wc);
	bot_gone(b, "bot unreachable: timed out");
}

/* A failure before the socket could even be tried still answers the
 * call, as an unreachable bot does; the hangup waits for start to
 * return. */
static void connect_failed(void *arg)
{
	struct bot *b = arg;

	bot_gone(b, b->reason);
}

static int resolver(struct bot *b)
{
	struct sa ns[4];
	uint32_t n = sizeof(ns) / sizeof(ns[0]);
	char domain[64] = "";

	/* Without resolv.conf only URLs with an address work, and those
	 * need no resolver; libre wants one all the same. */
	if (dns_srv_get(domain, sizeof(domain), ns, &n) || !n) {
		int err = sa_set_str(&ns[0], "127.0.0.1", 53);

		if (err)
			return err;
		n = 1;
	}
	return dnsc_alloc(&b->dnsc, NULL, ns, n);
}

/* libre's resolver asks DNS only, which does not know localhost: the
 * name RFC 6761 (6.3) reserves for loopback, and the host of a bot run
 * next to voxgate. */
static void loopback_url(char *out, size_t sz, const char *url)
{
	const char *host = strstr(url, "://");
	size_t n;

	host = host ? host + 3 : url;
	n = strcspn(host, ":/");
	if ((n == 9 && !strncasecmp(host, "localhost", 9)) ||
	    (n > 10 && !strncasecmp(host + n - 10, ".localhost", 10)))
		snprintf(out, sz, "%.*s127.0.0.1%s", (int)(host - url), url,
		         host + n);
	else
		snprintf(out, sz, "%s", url);
}

static int open_socket(struct bot *b)
{
	char url[sizeof(b->url) + 16];
	int err;

	loopback_url(url, sizeof(url), b->url);
	err = resolver(b);
	if (!err)
		err = http_client_alloc(&b->cli, b->dnsc);
	if (!err)
		err = websock_alloc(&b->ws, NULL, NULL);
	if (!err)
		err = websock_connect(&b->wc, b->ws, b->cli, url, KEEPALIVE_MS,
		                      on_estab, on_recv, on_close, b,
		                      "User-Agent: voxgate\r\n");
	return err;
}

static void release(struct bot *b)
{
	tmr_cancel(&b->tick);
	tmr_cancel(&b->conn_tmr);
	/* An open socket sent its close frame: libre keeps it until the
	 * bot answers, with handlers of its own. */
	mem_deref(b->wc);
	mem_deref(b->ws);
	mem_deref(b->cli);
	mem_deref(b->dnsc);
	bot_line_reset(&b->line);
	free(b);
}

/* Twilio's From and To are numbers: a SIP URI's user part. */
static void number_of(char *out, size_t sz, const char *uri)
{
	const char *s = uri ? uri : "";
	size_t skip = !strncasecmp(s, "sip:", 4)    ? 4
	              : !strncasecmp(s, "sips:", 5) ? 5
	                                            : 0;
	const char *at = strchr(s + skip, '@');

	if (skip && at && at > s + skip)
		snprintf(out, sz, "%.*s", (int)(at - s - skip), s + skip);
	else
		snprintf(out, sz, "%s", s);
}

static int bot_start(void **statep, const struct agent_call_info *info,
                     const struct agent_assets *assets)
{
	uint8_t rnd[16];
	struct bot *b;
	int err;

	(void)assets;
	if (!statep || !info || !info->agent_url || !info->call_id)
		return EINVAL;
	if (info->sample_rate != 8000)
		return ENOTSUP;
	b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	err = bot_line_init(&b->line, UP_MS, DOWN_MS);
	if (err) {
		free(b);
		return err;
	}
	snprintf(b->url, sizeof(b->url), "%s", info->agent_url);
	snprintf(b->call_id, sizeof(b->call_id), "%s", info->call_id);
	number_of(b->from, sizeof(b->from), info->from);
	number_of(b->to, sizeof(b->to), info->to);
	snprintf(b->room, sizeof(b->room), "%s", info->room ? info->room : "");
	snprintf(b->participant, sizeof(b->participant), "%s",
	         info->participant ? info->participant : "");
	b->hangup = info->hangup;
	b->hangup_arg = info->hangup_arg;
	rand_bytes(rnd, sizeof(rnd));
	memcpy(b->stream_sid, "MZ", 2);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(b->stream_sid + 2 + 2 * i, 3, "%02x", rnd[i]);
	tmr_init(&b->tick);
	tmr_init(&b->conn_tmr);

	err = open_socket(b);
	if (err == ENOMEM) {
		release(b);
		return err;
	}
	if (err) {
		snprintf(b->reason, sizeof(b->reason), "bot unreachable: %s",
		         strerror(err));
		log_event(LOGL_WARN, b->call_id, "bot_connect_failed",
		          "url=%s reason=\"%s\"", b->url, b->reason);
		tmr_start(&b->conn_tmr, 0, connect_failed, b);
	} else {
		tmr_start(&b->conn_tmr, CONNECT_TIMEOUT_MS, connect_timeout, b);
	}
	tmr_start(&b->tick, TICK_MS, on_tick, b);
	*statep = b;
	return 0;
}

static void bot_audio_in(void *state, const int16_t *pcm, size_t samples,
                         uint64_t arrival_us)
{
	struct bot *b = state;

	(void)arrival_us;
	bot_line_in(&b->line, pcm, samples);
}

static size_t bot_audio_out(void *state, int16_t *pcm, size_t samples)
{
	struct bot *b = state;

	return bot_line_out(&b->line, pcm, samples);
}

static void bot_dtmf(void *state, const char *digits, size_t n)
{
	struct bot *b = state;

	if (b->state == BOT_LIVE) {
		send_dtmf(b, digits, n);
		return;
	}
	for (size_t i = 0; b->state == BOT_CONNECTING && i < n &&
	                   b->nearly_dtmf < sizeof(b->early_dtmf);
	     i++)
		b->early_dtmf[b->nearly_dtmf++] = digits[i];
}

static void bot_stop(void *state)
{
	struct bot *b = state;
	const struct bot_line *l;

	if (!b)
		return;
	l = &b->line;
	if (b->state == BOT_LIVE) {
		send_out(b, mstream_stop(b->out, sizeof(b->out), b->stream_sid,
		                         ACCOUNT_SID, b->call_id, ++b->seq));
		(void)websock_close(b->wc, WEBSOCK_NORMAL_CLOSURE,
		                    "call ended");
	}
	log_event(
	    LOGL_INFO, b->call_id, "bot_ended",
	    "url=%s stream=%s reason=\"%s\" frames_to_bot=%llu "
	    "frames_from_bot=%llu played_ms=%llu dropped_to_bot=%llu "
	    "dropped_from_bot_ms=%llu cleared_ms=%llu clears=%llu "
	    "marks=%llu marks_returned=%llu marks_dropped=%llu "
	    "bad_frames=%llu",
	    b->url, b->stream_sid, *b->reason ? b->reason : "call ended",
	    (unsigned long long)b->frames_to,
	    (unsigned long long)b->frames_from,
	    (unsigned long long)((l->consumed - l->cleared) / 8),
	    (unsigned long long)l->up_dropped,
	    (unsigned long long)(l->down_dropped / 8),
	    (unsigned long long)(l->cleared / 8), (unsigned long long)b->clears,
	    (unsigned long long)b->marks_in, (unsigned long long)b->marks_out,
	    (unsigned long long)l->marks_dropped,
	    (unsigned long long)b->bad_frames);
	release(b);
}

const struct agent_ops agent_bot = {
    .name = "bot",
    .start = bot_start,
    .audio_in = bot_audio_in,
    .audio_out = bot_audio_out,
    .stop = bot_stop,
    .dtmf = bot_dtmf,
};
