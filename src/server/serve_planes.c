/*
 * The server's planes (serve_int.h): the control plane, from the store to
 * the HTTP API, and the agent plane, the hub and its workers. serve.c
 * opens them in that order and closes them again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "core/log.h"
#include "agent/hub.h"
#include "speech/tts.h"
#include "sip/sipua.h"
#include "sip/dispatch.h"
#include "sip/hosts.h"
#include "room/room.h"
#include "room/webhook.h"
#include "store/store.h"
#include "store/retention.h"
#include "api/api.h"
#include "carrier/front.h"
#include "mstream/stream.h"
#include "rtc/rtc.h"
#include "lkagent/lkagent.h"
#include "server/keyring.h"
#include "server/serve_int.h"
#include "server/worker_env.h"

/* Checks the registrations setting whole before anything starts. */
int serve_registrations_parse(struct server *srv)
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
void serve_registrations_apply(struct server *srv)
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
		serve_registrations_apply(srv);
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
int serve_control_open(struct server *srv)
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
int serve_busy_message(struct server *srv)
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
int serve_agent_open(struct server *srv)
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
void serve_control_close(struct server *srv)
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
