/*
 * The server's assembly: the one place that imports every subsystem of the
 * server process. serve() loads the audio, caps the connections, starts the
 * media engine, then the control plane (store, webhooks, rooms, routing,
 * carriers, Media Streams, the HTTP API), the agent plane (the hub and its
 * workers) and the SIP user agent; it runs the loop until signals drain it
 * and takes everything down again, threads first. The planes are opened
 * and closed by serve_planes.c (serve_int.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <re.h>
#include "core/log.h"
#include "core/prio.h"
#include "agent/agents.h"
#include "agent/clip.h"
#include "media/media.h"
#include "media/wav.h"
#include "sip/sipua.h"
#include "api/api.h"
#include "lkagent/lkagent.h"
#include "net/conngate.h"
#include "server/serve.h"
#include "server/serve_int.h"
#include "server/worker_env.h"

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
	if (serve_registrations_parse(&srv))
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
	if (cfg->http_port && serve_busy_message(&srv)) {
		if (!strcmp(cfg->agent, "pipeline")) {
			rc = EXIT_USAGE;
			goto out;
		}
		fprintf(stderr, "voxgate: calls that no LiveKit worker takes "
		                "are hung up without agent_busy_message\n");
	}
	rc = serve_control_open(&srv);
	if (!rc)
		rc = serve_agent_open(&srv);
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

	serve_registrations_apply(&srv);

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
	serve_control_close(&srv);
	srv.ua = mem_deref(srv.ua);
	srv.hub = mem_deref(srv.hub);
	log_totals(&totals);
	log_event(LOGL_INFO, NULL, "exit", "code=%d", rc);
out:
	media_engine_close(srv.media, NULL);
	serve_control_close(&srv);
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
