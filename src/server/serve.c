/*
 * The server's assembly: the one place that imports every subsystem of the
 * server process. serve() loads the audio, caps the connections, starts the
 * media engine, then the control plane (store, webhooks, rooms, routing,
 * carriers, Media Streams, the HTTP API), the agent plane (the hub and its
 * workers) and the SIP user agent; it runs the loop until signals drain it
 * and takes everything down again, threads first.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <re.h>
#include "auth/token.h"
#include "core/config.h"
#include "core/log.h"
#include "core/prio.h"
#include "agent/agents.h"
#include "agent/clip.h"
#include "agent/hub.h"
#include "speech/tts.h"
#include "media/media.h"
#include "media/wav.h"
#include "sip/sipua.h"
#include "sip/dispatch.h"
#include "sip/hosts.h"
#include "sip/regclient.h"
#include "room/room.h"
#include "room/webhook.h"
#include "store/store.h"
#include "store/retention.h"
#include "api/api.h"
#include "carrier/front.h"
#include "mstream/stream.h"
#include "rtc/rtc.h"
#include "lkagent/lkagent.h"
#include "net/conngate.h"
#include "server/keyring.h"
#include "server/serve.h"
#include "server/worker_env.h"

#define EXIT_USAGE 2

struct server {
	struct config cfg;
	struct media_engine *media;
	struct sipua *ua;
	struct tls *tls; /* SIP over TLS's certificate, NULL = no TLS */
	struct store *store;
	struct retention *retention; /* prunes the store's history */
	struct webhook *webhook;
	struct rooms *rooms;
	struct dispatch *dispatch;
	struct hosts *hosts; /* allowedAddresses host names, resolved */
	struct api *api;
	struct carrier *carrier;
	struct stream_server *streams;
	struct rtc *rtc;               /* LiveKit clients on /rtc */
	char ice_addr[64];             /* the external address, in WebRTC SDP */
	struct lkagent *lkagent;       /* LiveKit's agent workers */
	const struct agent_ops *agent; /* what talks on each call */
	char sip_uri[512];             /* what carriers dial: sip_uri or ours */
	struct token_key keys[CONFIG_KEYS_MAX];
	struct token_keyring ring;
	struct agent_assets assets;
	int16_t *greeting, *pin_prompt, *pin_wrong;
	struct hub *hub;
	int16_t *busy;
	size_t busy_samples;
	char **worker_env;
	char exe[PATH_MAX];
	char agent_url[128];
	int sigfd;
	bool draining;
	/* The registrations setting, parsed at start; the trunk ids in it
	 * are read again from the store when routes change. */
	struct regclient_item reg_items[REGCLIENT_MAX];
	size_t nreg_items;
	bool reg_trunks;
};

/* The PIN stage's defaults: two beeps, and the three rising tones that
 * telephone networks use to say a call cannot go on (ITU-T E.180 SIT). */
static const struct agent_tone pin_prompt_tones[] = {
    {0, 200}, {880, 200}, {0, 80}, {880, 200}};
static const struct agent_tone pin_wrong_tones[] = {
    {914, 330}, {1371, 330}, {1777, 330}, {0, 200}};

/* Loads a WAV setting at 8 kHz, or renders the tones when it is empty
 * (no audio when there are none). Prints why on failure. */
static int load_audio(const char *key, const char *path,
                      const struct agent_tone *tones, size_t ntones,
                      int16_t **pcmp, size_t *samplesp)
{
	const char *why = NULL;
	int err;

	if (!path[0])
		err = ntones ? agent_tones(tones, ntones, pcmp, samplesp) : 0;
	else
		err = wav_load(path, 8000, pcmp, samplesp, &why);
	if (err)
		fprintf(stderr, "voxgate: %s: %s: %s\n", key, path,
		        why ? why : strerror(err));
	return err;
}

static const char *room_bot(const char *room, void *arg)
{
	const struct server *srv = arg;

	return lkagent_room_bot(srv->lkagent, room);
}

static void drained(void *arg)
{
	(void)arg;
	log_event(LOGL_INFO, NULL, "drained", NULL);
	re_cancel();
}

static void signal_readable(int flags, void *arg)
{
	struct server *srv = arg;
	struct signalfd_siginfo si;

	(void)flags;
	if (read(srv->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (srv->draining) {
		log_event(LOGL_WARN, NULL, "second_signal",
		          "signal=%u calls=%u", si.ssi_signo,
		          sipua_call_count(srv->ua));
		re_cancel();
		return;
	}
	srv->draining = true;
	api_set_draining(srv->api);
	log_event(LOGL_INFO, NULL, "draining",
	          "signal=%u calls=%u drain_timeout_ms=%u", si.ssi_signo,
	          sipua_call_count(srv->ua), srv->cfg.drain_timeout_ms);
	sipua_drain(srv->ua, srv->cfg.drain_timeout_ms, drained, srv);
}

/* Signals are taken through a signalfd on the main loop, so the drain
 * logic runs as an ordinary event and the media threads never see them. */
static int signals_setup(struct server *srv)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return errno;
	signal(SIGPIPE, SIG_IGN);
	srv->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv->sigfd < 0)
		return errno;
	return fd_listen(srv->sigfd, FD_READ, signal_readable, srv);
}

/* The loop holds max_open_files descriptors, and TCP connections are
 * capped well within them, so that no flood of idle connections can stop
 * SIP/TCP, the HTTP API and the WebSockets together. */
static int gate_connections(const struct config *cfg)
{
	struct conngate_prm prm = {.max_total = cfg->max_connections,
	                           .max_per_addr = cfg->max_conns_per_addr,
	                           .silent_ms = cfg->silent_timeout_ms};
	const char *why = NULL;
	uint32_t fds = 0;
	int err = conngate_fd_setup(cfg->max_open_files, &fds, &why);

	if (err) {
		fprintf(stderr, "voxgate: max_open_files: %s: %s\n", why,
		        strerror(err));
		return err;
	}
	if (!prm.max_total || prm.max_total > fds / 2)
		prm.max_total = fds / 2;
	if (!prm.max_per_addr || prm.max_per_addr > prm.max_total)
		prm.max_per_addr = prm.max_total;
	err = conngate_start(&prm, fds);
	if (err) {
		fprintf(stderr, "voxgate: connection limits: %s\n",
		        strerror(err));
		return err;
	}
	log_event(LOGL_INFO, NULL, "connection_limits",
	          "open_files=%u max_connections=%u per_address=%u "
	          "silent_timeout_ms=%u",
	          fds, prm.max_total, prm.max_per_addr, prm.silent_ms);
	return 0;
}

/* SIP over TLS's certificate and key, checked before anything listens:
 * a file that cannot be read or a key that does not match stops the
 * server as a bad setting does. */
static int tls_load(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	const char *file = NULL, *why = NULL;

	if (!cfg->sip_tls_cert[0]) {
		if (!cfg->sip_tls_key[0])
			return 0;
		fprintf(stderr, "voxgate: sip_tls_key: set without "
		                "sip_tls_cert\n");
		return EINVAL;
	}
	if (cfg->sip_tls_port == cfg->sip_port) {
		fprintf(stderr,
		        "voxgate: sip_tls_port: %u is sip_port, whose TCP "
		        "listener takes it; pick another\n",
		        cfg->sip_tls_port);
		return EINVAL;
	}
	if (sipua_tls_load(&srv->tls, cfg->sip_tls_cert, cfg->sip_tls_key,
	                   &file, &why)) {
		fprintf(stderr, "voxgate: %s (%s)\n", why, file);
		return EINVAL;
	}
	return 0;
}

static int resolve_addresses(const struct config *cfg, struct sa *listen,
                             struct sa *external, const char **key)
{
	int err;

	*key = "sip_host";
	err = sa_set_str(listen, cfg->sip_host, cfg->sip_port);
	if (err)
		return err;
	if (cfg->external_ip[0]) {
		*key = "external_ip";
		return sa_set_str(external, cfg->external_ip, 0);
	}
	if (!sa_is_any(listen)) {
		*external = *listen;
		sa_set_port(external, 0);
		return 0;
	}
	/* Listening everywhere: advertise the address the default route
	 * leaves from, the one a caller can reach. */
	*key = "external_ip";
	return net_default_source_addr_get(sa_af(listen), external);
}

static void log_totals(const struct media_totals *tp)
{
	const struct media_totals t = *tp;

	log_event(
	    LOGL_INFO, NULL, "stats",
	    "calls=%llu packets_in=%llu packets_out=%llu lost=%llu "
	    "late=%llu duplicate=%llu discarded=%llu underrun=%llu "
	    "stretched=%llu concealed=%llu wrong_source=%llu "
	    "unknown_pt=%llu malformed=%llu srtp_auth_fail=%llu "
	    "srtp_replay=%llu srtp_other=%llu tick_late=%llu "
	    "residence_count=%llu residence_p50_us=%u "
	    "residence_p99_us=%u residence_max_us=%u",
	    (unsigned long long)t.calls, (unsigned long long)t.stats.packets_in,
	    (unsigned long long)t.stats.packets_out,
	    (unsigned long long)t.stats.lost, (unsigned long long)t.stats.late,
	    (unsigned long long)t.stats.duplicate,
	    (unsigned long long)t.stats.discarded,
	    (unsigned long long)t.stats.underrun,
	    (unsigned long long)t.stats.stretched,
	    (unsigned long long)t.stats.concealed,
	    (unsigned long long)t.stats.wrong_source,
	    (unsigned long long)t.stats.unknown_pt,
	    (unsigned long long)t.stats.malformed,
	    (unsigned long long)t.stats.srtp_auth_fail,
	    (unsigned long long)t.stats.srtp_replay,
	    (unsigned long long)t.stats.srtp_other,
	    (unsigned long long)t.tick_late,
	    (unsigned long long)t.residence_count, t.residence_p50_us,
	    t.residence_p99_us, t.residence_max_us);
}

/* Checks the registrations setting whole before anything starts. */
static int registrations_parse(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	const char *why = NULL;
	size_t bad = 0;
	int err;

	err = regclient_parse_list(cfg->registrations,
	                           cfg->registration_password, srv->reg_items,
	                           REGCLIENT_MAX, &srv->nreg_items, &bad, &why);
	if (err) {
		fprintf(stderr, "voxgate: registrations: entry %zu %s\n", bad,
		        why);
		return err;
	}
	for (size_t i = 0; i < srv->nreg_items; i++) {
		const struct regclient_item *it = &srv->reg_items[i];

		if (it->trunk_id[0])
			srv->reg_trunks = true;
		else if (regclient_entry_tls(&it->e) && !cfg->sip_tls_cert[0]) {
			fprintf(
			    stderr,
			    "voxgate: registrations: entry %zu is over "
			    "TLS, which needs sip_tls_cert (libre opens TLS "
			    "connections only from a TLS listener)\n",
			    i + 1);
			return EINVAL;
		}
	}
	return 0;
}

/* What registers now: the sip: entries as set, the trunks as stored (one
 * that is gone or cannot register is left out, and said so). */
static void registrations_apply(struct server *srv)
{
	struct regclient_entry *v;
	size_t n = 0;
	int err;

	if (!srv->ua || !srv->nreg_items)
		return;
	v = mem_zalloc(srv->nreg_items * sizeof(*v), NULL);
	if (!v) {
		log_event(LOGL_ERROR, NULL, "registrations_failed",
		          "error=\"%s\"", strerror(ENOMEM));
		return;
	}
	for (size_t i = 0; i < srv->nreg_items; i++) {
		const struct regclient_item *it = &srv->reg_items[i];
		const char *why = NULL;

		if (!it->trunk_id[0]) {
			v[n++] = it->e;
			continue;
		}
		err = regclient_trunk_entry(srv->store, it->trunk_id, &v[n],
		                            &why);
		if (!err && regclient_entry_tls(&v[n]) &&
		    !sipua_tls_ready(srv->ua)) {
			why = "TLS is not configured (sip_tls_cert)";
			err = EPROTONOSUPPORT;
		}
		if (err)
			log_event(LOGL_WARN, NULL, "register_skipped",
			          "trunk=%s reason=\"%s\"", it->trunk_id, why);
		else
			n++;
	}
	err = sipua_registrations(srv->ua, v, n);
	if (err)
		log_event(LOGL_ERROR, NULL, "registrations_failed",
		          "error=\"%s\"", strerror(err));
	mem_deref(v);
}

static void routes_changed(void *arg)
{
	struct server *srv = arg;
	int err = dispatch_reload(srv->dispatch);

	if (err)
		log_event(LOGL_ERROR, NULL, "routes_reload_failed",
		          "error=\"%s\"", strerror(err));
	if (srv->reg_trunks)
		registrations_apply(srv);
}

/* Only the pipeline agent has a hub and figures to show; with another
 * agent the scrape is an empty, valid one. */
static int metrics_handler(struct mbuf *mb, void *arg)
{
	struct server *srv = arg;
	int err = srv->hub ? hub_metrics(srv->hub, mb) : 0;

	err = err ? err : lkagent_metrics(srv->lkagent, mb);
	err = err ? err : sipua_metrics(srv->ua, mb);
	return err ? err : rtc_metrics(srv->rtc, mb);
}

static void agent_handler(struct http_conn *conn, const struct http_msg *msg,
                          const char *api_key, void *arg)
{
	struct server *srv = arg;

	lkagent_accept(srv->lkagent, conn, msg, api_key);
}

/* A socket on /agent that speaks voxgate's own worker protocol. */
static int own_adopt(struct websock_conn *wc, lkagent_recv_h **recvhp,
                     lkagent_close_h **closehp, void **argp, void *arg)
{
	struct server *srv = arg;

	return srv->hub ? hub_adopt(srv->hub, wc, recvhp, closehp, argp)
	                : ENOTSUP;
}

/* LiveKit's agent workers on /agent and the agent each call gets: theirs
 * when its room has LiveKit agents, the `agent` setting's otherwise. */
static int lkagent_open(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	const struct lkagent_params lp = {
	    .rooms = srv->rooms,
	    .keys = srv->ring,
	    .queue_max = cfg->agent_queue,
	    .queue_timeout_ms = cfg->agent_queue_timeout_ms,
	    .busy = srv->busy,
	    .busy_samples = srv->busy_samples,
	    .builtin = srv->agent,
	    /* The WebRTC media side fills this in (issue 12, step 2). */
	    .own_adopt = own_adopt,
	    .own_arg = srv,
	    .version = RTC_LIVEKIT_VERSION,
	};
	int err = lkagent_alloc(&srv->lkagent, &lp);

	if (err) {
		fprintf(stderr, "voxgate: agent dispatch: cannot start: %s\n",
		        strerror(err));
		return 1;
	}
	srv->assets.lkagent = srv->lkagent;
	srv->agent = &lkagent_call_agent;
	return 0;
}

/* The store, webhooks, rooms, call routing and the HTTP API. Returns an
 * exit code, 0 when all is up. */
static int control_plane_open(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	int err;

	err = store_alloc(&srv->store, cfg->db);
	if (err) {
		fprintf(stderr, "voxgate: db: %s\n", store_error(NULL));
		return EXIT_USAGE;
	}
	const struct retention_params tp = {
	    .store = srv->store,
	    .days = cfg->history_days,
	    .max_rows = cfg->history_max_rows,
	};
	err = retention_alloc(&srv->retention, &tp);
	if (err)
		return 1;
	if (cfg->nwebhook_urls) {
		const char *urls[CONFIG_WEBHOOKS_MAX];
		struct webhook_params wp = {
		    .urls = urls,
		    .nurls = cfg->nwebhook_urls,
		    .api_key = cfg->webhook_api_key,
		    .api_secret = config_key_secret(cfg, cfg->webhook_api_key),
		};

		for (size_t i = 0; i < cfg->nwebhook_urls; i++)
			urls[i] = cfg->webhook_urls[i];
		err = webhook_open(&srv->webhook, &wp);
		if (err) {
			fprintf(stderr, "voxgate: webhook_urls: %s\n",
			        strerror(err));
			return EXIT_USAGE;
		}
	}
	const struct rooms_params rp = {
	    .webhook = srv->webhook,
	    .store = srv->store,
	    .empty_timeout_s =
	        cfg->empty_timeout_ms / 1000 ? cfg->empty_timeout_ms / 1000 : 1,
	    .departure_timeout_s = cfg->departure_timeout_ms / 1000
	                               ? cfg->departure_timeout_ms / 1000
	                               : 1,
	};
	err = rooms_alloc(&srv->rooms, &rp);
	if (err)
		return 1;
	err = hosts_alloc(&srv->hosts, NULL);
	if (err) {
		fprintf(stderr, "voxgate: DNS resolver: %s\n", strerror(err));
		return 1;
	}
	const struct dispatch_params dp = {
	    .store = srv->store,
	    .rooms = srv->rooms,
	    .hosts = srv->hosts,
	    .default_route = cfg->default_route,
	};
	err = dispatch_alloc(&srv->dispatch, &dp);
	if (err) {
		fprintf(stderr,
		        "voxgate: db: cannot read trunks and rules: "
		        "%s\n",
		        strerror(err));
		return 1;
	}
	if (!cfg->http_port)
		return 0;
	const struct carrier_params cp = {
	    .public_url = cfg->public_url,
	    .sip_uri = srv->sip_uri,
	    .twilio_auth_token = cfg->twilio_auth_token,
	    .twilio_stream = !strcmp(cfg->twilio_answer, "stream"),
	    .telnyx_public_key = cfg->telnyx_public_key,
	    .telnyx_api_url = cfg->telnyx_api_url,
	    .telnyx_api_key = cfg->telnyx_api_key,
	    .store = srv->store,
	};
	err = carrier_alloc(&srv->carrier, &cp);
	if (err) {
		fprintf(stderr, "voxgate: carriers: cannot start: %s\n",
		        strerror(err));
		return 1;
	}
	keyring_from_config(cfg, &srv->ring, srv->keys, CONFIG_KEYS_MAX);
	err = lkagent_open(srv);
	if (err)
		return err;
	const struct stream_params sp = {
	    .rooms = srv->rooms,
	    .agent = srv->agent,
	    .assets = &srv->assets,
	    .twilio_auth_token = cfg->twilio_auth_token,
	    .public_url = cfg->public_url,
	    .telnyx_stream_token = cfg->telnyx_stream_token,
	    .media_timeout_ms = cfg->media_timeout_ms,
	};
	err = stream_server_alloc(&srv->streams, &sp);
	if (err) {
		fprintf(stderr, "voxgate: media streams: cannot start: %s\n",
		        strerror(err));
		return 1;
	}
	const struct rtc_params rtp = {
	    .keys = srv->ring,
	    .rooms = srv->rooms,
	    .media = srv->media,
	    .ice_addr = srv->ice_addr,
	};
	err = rtc_alloc(&srv->rtc, &rtp);
	if (err) {
		fprintf(stderr, "voxgate: rtc signalling: cannot start: %s\n",
		        strerror(err));
		return 1;
	}
	const struct api_params ap = {
	    .host = cfg->http_host,
	    .port = cfg->http_port,
	    .keys = srv->ring,
	    .rooms = srv->rooms,
	    .store = srv->store,
	    .admin_token = cfg->admin_token,
	    .carrier = srv->carrier,
	    .streams = srv->streams,
	    .rtc = srv->rtc,
	    .lkagent = srv->lkagent,
	    .agenth = agent_handler,
	    .metricsh = metrics_handler,
	    .harg = srv,
	};
	err = api_alloc(&srv->api, &ap, routes_changed, srv);
	if (err) {
		fprintf(stderr,
		        "voxgate: http_port: cannot listen on %s:%u: %s\n",
		        cfg->http_host, cfg->http_port, strerror(err));
		return EXIT_USAGE;
	}
	return 0;
}

static bool busy_chunk(const int16_t *pcm, size_t n, void *arg)
{
	struct server *srv = arg;
	int16_t *p = realloc(srv->busy, (srv->busy_samples + n) * sizeof(*p));

	if (!p)
		return false;
	memcpy(p + srv->busy_samples, pcm, n * sizeof(*p));
	srv->busy = p;
	srv->busy_samples += n;
	return true;
}

/* The busy message is said by the server itself (no worker may be there
 * to say it), so it is synthesized once, at start. */
static int busy_message(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	struct tts_params tp;
	struct tts *tts = NULL;
	const char *why = NULL;
	int err;

	if (!cfg->agent_busy_message[0])
		return 0;
	tts_params_default(&tp);
	config_tts_embedded(cfg, &tp.provider, &tp.voice);
	tp.rate_wpm = cfg->tts_rate_wpm;
	tp.out_rate = 8000;
	err = tts_alloc(&tts, &tp, &why);
	if (err) {
		fprintf(stderr, "voxgate: tts: %s\n",
		        why ? why : strerror(err));
		return err;
	}
	err = tts_synth(tts, cfg->agent_busy_message, busy_chunk, srv);
	mem_deref(tts);
	if (err)
		fprintf(stderr, "voxgate: agent_busy_message: %s\n",
		        strerror(err));
	return err;
}

/* The pipeline agent: its controller, the pool of local workers and the
 * busy message. Returns an exit code. */
static int agent_plane_open(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	struct hub_params hp = {
	    .dispatch_timeout_ms = cfg->agent_dispatch_timeout_ms,
	    .queue_max = cfg->agent_queue,
	    .queue_timeout_ms = cfg->agent_queue_timeout_ms,
	    .workers = cfg->agent_workers,
	};
	const char *host = cfg->http_host;
	ssize_t n;
	int err;

	if (strcmp(cfg->agent, "pipeline"))
		return 0;
	if (!cfg->http_port) {
		fprintf(stderr, "voxgate: agent: pipeline needs the HTTP API "
		                "(http_port) for its workers\n");
		return EXIT_USAGE;
	}
	vad_params_default(&hp.vad);
	hp.vad.start_secs = cfg->vad_start_secs;
	hp.vad.stop_secs = cfg->vad_stop_secs;
	hp.vad.min_volume = cfg->vad_min_volume;
	hp.vad.confidence = cfg->vad_confidence;
	hp.busy = srv->busy;
	hp.busy_samples = srv->busy_samples;
	if (hp.workers) {
		n = readlink("/proc/self/exe", srv->exe, sizeof(srv->exe) - 1);
		if (n <= 0) {
			fprintf(stderr,
			        "voxgate: cannot find my own binary: "
			        "%s\n",
			        strerror(errno));
			return 1;
		}
		srv->exe[n] = '\0';
		if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
			host = "127.0.0.1";
		snprintf(srv->agent_url, sizeof(srv->agent_url),
		         strchr(host, ':') ? "ws://[%s]:%u/agent"
		                           : "ws://%s:%u/agent",
		         host, cfg->http_port);
		if (worker_env_build(&srv->worker_env, cfg)) {
			fprintf(stderr, "voxgate: out of memory\n");
			return 1;
		}
		hp.exe = srv->exe;
		hp.url = srv->agent_url;
		hp.key = srv->keys[0].key;
		hp.secret = srv->keys[0].secret;
		hp.env = srv->worker_env;
	}
	err = hub_alloc(&srv->hub, &hp);
	if (err) {
		fprintf(stderr, "voxgate: agent workers: %s\n", strerror(err));
		return 1;
	}
	srv->assets.hub = srv->hub;
	return 0;
}

/* Rooms go first: closing them hangs up the callers still in them and
 * sends room_finished, which the webhook thread then gets time to send. */
static void control_plane_close(struct server *srv)
{
	srv->api = mem_deref(srv->api);
	srv->rtc = mem_deref(srv->rtc);
	srv->lkagent = mem_deref(srv->lkagent);
	srv->assets.lkagent = NULL;
	srv->streams = mem_deref(srv->streams);
	srv->carrier = mem_deref(srv->carrier);
	srv->rooms = mem_deref(srv->rooms);
	webhook_close(srv->webhook, 2000);
	srv->webhook = NULL;
	srv->dispatch = mem_deref(srv->dispatch);
	srv->hosts = mem_deref(srv->hosts);
	srv->retention = mem_deref(srv->retention);
	srv->store = mem_deref(srv->store);
}

/* The signalling thread's scheduling, and what the media threads are to
 * take: the same, or normal scheduling when the kernel refused it. */
static unsigned call_path_priority(unsigned prio)
{
	const char *why = NULL;
	int err = prio_call_path(prio, &why);

	if (err) {
		log_event(LOGL_WARN, NULL, "scheduling",
		          "call_priority=%u policy=normal reason=\"%s\"", prio,
		          why);
		return 0;
	}
	log_event(LOGL_INFO, NULL, "scheduling", "call_priority=%u policy=%s",
	          prio, prio ? "fifo" : "normal");
	return prio;
}

int serve(int argc, char **argv)
{
	struct server srv = {.sigfd = -1};
	struct config *cfg = &srv.cfg;
	struct media_engine_params mp = {0};
	struct media_totals totals;
	struct sipua_params up = {0};
	const struct agent_ops *agent;
	const char *key = NULL;
	const char *why;
	int err, rc = EXIT_USAGE;

	err = config_load(cfg, argc, argv, &why);
	if (err == EALREADY)
		return 0;
	if (err) {
		fprintf(stderr, "voxgate: %s\n", why);
		return EXIT_USAGE;
	}
	log_setup(cfg->log_level, cfg->log_format, NULL);

	agent = agent_find(cfg->agent);
	if (!agent) {
		fprintf(stderr, "voxgate: agent: \"%s\" is not an agent (%s)\n",
		        cfg->agent, agent_names());
		return EXIT_USAGE;
	}
	srv.agent = agent;
	if (registrations_parse(&srv))
		return EXIT_USAGE;
	if (!strcmp(cfg->twilio_answer, "stream") &&
	    strncmp(cfg->public_url, "https://", 8)) {
		fprintf(stderr,
		        "voxgate: twilio_answer: stream needs public_url "
		        "to be an https:// URL (Twilio opens wss:// "
		        "streams only)\n");
		return EXIT_USAGE;
	}
	if (load_audio("greeting", cfg->greeting, NULL, 0, &srv.greeting,
	               &srv.assets.greeting_samples) ||
	    load_audio("pin_prompt", cfg->pin_prompt, pin_prompt_tones,
	               sizeof(pin_prompt_tones) / sizeof(pin_prompt_tones[0]),
	               &srv.pin_prompt, &srv.assets.pin_prompt_samples) ||
	    load_audio("pin_wrong", cfg->pin_wrong, pin_wrong_tones,
	               sizeof(pin_wrong_tones) / sizeof(pin_wrong_tones[0]),
	               &srv.pin_wrong, &srv.assets.pin_wrong_samples)) {
		free(srv.greeting);
		free(srv.pin_prompt);
		return EXIT_USAGE;
	}
	srv.assets.greeting = srv.greeting;
	srv.assets.pin_prompt = srv.pin_prompt;
	srv.assets.pin_wrong = srv.pin_wrong;

	err = libre_init();
	if (err) {
		fprintf(stderr, "voxgate: cannot start the event loop: %s\n",
		        strerror(err));
		return 1;
	}
	if (tls_load(&srv))
		goto out;
	err = gate_connections(cfg);
	if (err) {
		rc = 1;
		goto out;
	}
	mp.call_priority = call_path_priority(cfg->call_priority);
	err = resolve_addresses(cfg, &up.listen, &up.external, &key);
	if (err) {
		fprintf(stderr, "voxgate: %s: cannot use this address: %s\n",
		        key, strerror(err));
		goto out;
	}
	err = signals_setup(&srv);
	if (err) {
		fprintf(stderr, "voxgate: signals: %s\n", strerror(err));
		rc = 1;
		goto out;
	}

	mp.threads = cfg->media_threads;
	mp.bind = up.listen;
	mp.port_min = cfg->rtp_port_min;
	mp.port_max = cfg->rtp_port_max;
	mp.jitter_min_ms = cfg->jitter_min_ms;
	mp.jitter_max_ms = cfg->jitter_max_ms;
	mp.media_timeout_ms = cfg->media_timeout_ms;
	if (re_snprintf(srv.ice_addr, sizeof(srv.ice_addr), "%j",
	                &up.external) < 0)
		srv.ice_addr[0] = '\0';
	err = media_engine_open(&srv.media, &mp);
	if (err) {
		fprintf(stderr, "voxgate: media: cannot start: %s\n",
		        strerror(err));
		rc = 1;
		goto out;
	}

	/* The pool's workers prove themselves with a token: with no API key
	 * configured, one that nobody else knows is made for them. */
	if (!strcmp(cfg->agent, "pipeline") && !cfg->nkeys) {
		snprintf(cfg->keys[0].key, sizeof(cfg->keys[0].key),
		         "voxgate-workers");
		rand_str(cfg->keys[0].secret, 49);
		cfg->nkeys = 1;
	}
	if (cfg->sip_uri[0])
		snprintf(srv.sip_uri, sizeof(srv.sip_uri), "%s", cfg->sip_uri);
	else
		re_snprintf(srv.sip_uri, sizeof(srv.sip_uri),
		            sa_af(&up.external) == AF_INET6 ? "sip:[%j]:%u"
		                                            : "sip:%j:%u",
		            &up.external, cfg->sip_port);
	/* Said by the server itself when no worker takes a call: the
	 * pipeline's workers and LiveKit's, which come by the HTTP API. Only
	 * the pipeline cannot do without it. */
	if (cfg->http_port && busy_message(&srv)) {
		if (!strcmp(cfg->agent, "pipeline")) {
			rc = EXIT_USAGE;
			goto out;
		}
		fprintf(stderr, "voxgate: calls that no LiveKit worker takes "
		                "are hung up without agent_busy_message\n");
	}
	rc = control_plane_open(&srv);
	if (!rc)
		rc = agent_plane_open(&srv);
	if (rc)
		goto out;
	rc = EXIT_USAGE;

	up.media = srv.media;
	up.dispatch = srv.dispatch;
	up.agent = srv.agent;
	up.pin_timeout_ms = cfg->pin_timeout_ms;
	up.pin_max_tries = cfg->pin_max_tries;
	up.pin_tries_window_ms = cfg->pin_tries_window_ms;
	up.assets = &srv.assets;
	up.answer_delay_ms = cfg->answer_delay_ms;
	up.max_call_duration_ms = cfg->max_call_duration_ms;
	up.room_bot = room_bot;
	up.room_bot_arg = &srv;
	up.tls = srv.tls;
	up.tls_port = srv.tls ? cfg->sip_tls_port : 0;
	err = sipua_alloc(&srv.ua, &up);
	if (err) {
		if (srv.tls)
			fprintf(stderr,
			        "voxgate: sip_port, sip_tls_port: cannot "
			        "listen on %s:%u and %u: %s\n",
			        cfg->sip_host, cfg->sip_port, cfg->sip_tls_port,
			        strerror(err));
		else
			fprintf(stderr,
			        "voxgate: sip_port: cannot listen on %s:%u: "
			        "%s\n",
			        cfg->sip_host, cfg->sip_port, strerror(err));
		goto out;
	}
	api_set_sipua(srv.api, srv.ua);

	registrations_apply(&srv);

	char ext[64];
	re_snprintf(ext, sizeof(ext), "%j", &up.external);
	api_set_ready(srv.api, true);
	log_event(
	    LOGL_INFO, NULL, "listening",
	    "sip=%s:%u transports=%s tls_port=%u external_ip=%s "
	    "rtp_ports=%u-%u "
	    "agent=%s greeting_ms=%zu http=%s:%u db=%s webhooks=%zu "
	    "default_route=%s sip_uri=%s registrations=%zu",
	    cfg->sip_host, cfg->sip_port, srv.tls ? "udp,tcp,tls" : "udp,tcp",
	    up.tls_port, ext, cfg->rtp_port_min, cfg->rtp_port_max, agent->name,
	    srv.assets.greeting_samples / 8, cfg->http_host, cfg->http_port,
	    cfg->db, cfg->nwebhook_urls, cfg->default_route ? "true" : "false",
	    srv.sip_uri, srv.nreg_items);

	err = re_main(NULL);
	rc = err ? 1 : 0;
	/* Threads first: after a forced exit calls may still hold sessions
	 * that the media threads are running. */
	media_engine_close(srv.media, &totals);
	srv.media = NULL;
	control_plane_close(&srv);
	srv.ua = mem_deref(srv.ua);
	srv.hub = mem_deref(srv.hub);
	log_totals(&totals);
	log_event(LOGL_INFO, NULL, "exit", "code=%d", rc);
out:
	media_engine_close(srv.media, NULL);
	control_plane_close(&srv);
	mem_deref(srv.ua);
	mem_deref(srv.tls);
	mem_deref(srv.hub);
	conngate_stop();
	worker_env_free(srv.worker_env);
	free(srv.busy);
	if (srv.sigfd >= 0) {
		fd_close(srv.sigfd);
		close(srv.sigfd);
	}
	free(srv.greeting);
	free(srv.pin_prompt);
	free(srv.pin_wrong);
	libre_close();
	return rc;
}
