/*
 * voxgate: a phone gateway for voice agents.
 *
 * `voxgate serve` answers SIP calls and connects each caller to an agent.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <re.h>
#include "core/config.h"
#include "core/log.h"
#include "agent/agent.h"
#include "media/media.h"
#include "media/wav.h"
#include "sip/sipua.h"

#define EXIT_USAGE 2

struct server {
	struct config cfg;
	struct media_engine *media;
	struct sipua *ua;
	struct agent_assets assets;
	int16_t *greeting;
	int sigfd;
	bool draining;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: voxgate <command> [options]\n"
	        "\n"
	        "commands:\n"
	        "  serve     answer SIP calls and connect them to an agent\n"
	        "            (voxgate serve --help lists its settings)\n"
	        "  help      this text\n");
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

static void log_totals(struct server *srv)
{
	struct media_totals t;

	media_engine_totals(srv->media, &t);
	log_event(
	    LOGL_INFO, NULL, "stats",
	    "calls=%llu packets_in=%llu packets_out=%llu lost=%llu "
	    "late=%llu duplicate=%llu discarded=%llu wrong_source=%llu "
	    "unknown_pt=%llu malformed=%llu tick_late=%llu "
	    "residence_count=%llu residence_p50_us=%u "
	    "residence_p99_us=%u residence_max_us=%u",
	    (unsigned long long)t.calls, (unsigned long long)t.stats.packets_in,
	    (unsigned long long)t.stats.packets_out,
	    (unsigned long long)t.stats.lost, (unsigned long long)t.stats.late,
	    (unsigned long long)t.stats.duplicate,
	    (unsigned long long)t.stats.discarded,
	    (unsigned long long)t.stats.wrong_source,
	    (unsigned long long)t.stats.unknown_pt,
	    (unsigned long long)t.stats.malformed,
	    (unsigned long long)t.tick_late,
	    (unsigned long long)t.residence_count, t.residence_p50_us,
	    t.residence_p99_us, t.residence_max_us);
}

static int serve(int argc, char *const argv[])
{
	struct server srv = {.sigfd = -1};
	struct config *cfg = &srv.cfg;
	struct media_engine_params mp = {0};
	struct sipua_params up = {0};
	const struct agent_ops *agent;
	const char *key = NULL, *why = NULL;
	char err_msg[512];
	int err, rc = EXIT_USAGE;

	err = config_load(cfg, argc, argv, err_msg, sizeof(err_msg));
	if (err == EALREADY)
		return 0;
	if (err) {
		fprintf(stderr, "voxgate: %s\n", err_msg);
		return EXIT_USAGE;
	}
	log_setup(cfg->log_level, cfg->log_format, NULL);

	agent = agent_find(cfg->agent);
	if (!agent) {
		fprintf(stderr, "voxgate: agent: \"%s\" is not an agent (%s)\n",
		        cfg->agent, agent_names());
		return EXIT_USAGE;
	}
	if (cfg->greeting[0]) {
		size_t n = 0;

		err = wav_load(cfg->greeting, 8000, &srv.greeting, &n, &why);
		if (err) {
			fprintf(stderr, "voxgate: greeting: %s: %s\n",
			        cfg->greeting, why);
			return EXIT_USAGE;
		}
		srv.assets.greeting = srv.greeting;
		srv.assets.greeting_samples = n;
	}

	err = libre_init();
	if (err) {
		fprintf(stderr, "voxgate: cannot start the event loop: %s\n",
		        strerror(err));
		return 1;
	}
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
	err = media_engine_alloc(&srv.media, &mp);
	if (err) {
		fprintf(stderr, "voxgate: media: cannot start: %s\n",
		        strerror(err));
		rc = 1;
		goto out;
	}

	up.media = srv.media;
	up.agent = agent;
	up.assets = &srv.assets;
	up.answer_delay_ms = cfg->answer_delay_ms;
	up.max_call_duration_ms = cfg->max_call_duration_ms;
	err = sipua_alloc(&srv.ua, &up);
	if (err) {
		fprintf(stderr,
		        "voxgate: sip_port: cannot listen on %s:%u: %s\n",
		        cfg->sip_host, cfg->sip_port, strerror(err));
		goto out;
	}

	char ext[64];
	re_snprintf(ext, sizeof(ext), "%j", &up.external);
	log_event(LOGL_INFO, NULL, "listening",
	          "sip=%s:%u transports=udp,tcp external_ip=%s rtp_ports=%u-%u "
	          "agent=%s greeting_ms=%zu",
	          cfg->sip_host, cfg->sip_port, ext, cfg->rtp_port_min,
	          cfg->rtp_port_max, agent->name,
	          srv.assets.greeting_samples / 8);

	err = re_main(NULL);
	rc = err ? 1 : 0;
	/* Threads first: after a forced exit calls may still hold sessions
	 * that the media threads are running. */
	media_engine_stop(srv.media);
	srv.ua = mem_deref(srv.ua);
	log_totals(&srv);
	log_event(LOGL_INFO, NULL, "exit", "code=%d", rc);
out:
	mem_deref(srv.ua);
	mem_deref(srv.media);
	if (srv.sigfd >= 0) {
		fd_close(srv.sigfd);
		close(srv.sigfd);
	}
	free(srv.greeting);
	libre_close();
	return rc;
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(argc - 2, argv + 2);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "voxgate: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
