/*
 * Configuration: defaults < YAML file (--config) < VOXGATE_<KEY> environment
 * variables < --key value flags. Every key is known to all three sources.
 * keys also comes from LiveKit's variables: VOXGATE_KEYS > LIVEKIT_KEYS >
 * LIVEKIT_API_KEY with LIVEKIT_API_SECRET.
 */
#ifndef VOXGATE_CORE_CONFIG_H
#define VOXGATE_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include "core/log.h"

#define CONFIG_KEYS_MAX     16
#define CONFIG_WEBHOOKS_MAX 8

/* One API key and its secret. */
struct config_key {
	char key[128];
	char secret[256];
};

struct config {
	char config_file[PATH_MAX]; /* "" when none was given */
	char sip_host[64];          /* listen address, default 0.0.0.0 */
	uint16_t sip_port;          /* UDP and TCP, default 5060 */
	uint16_t rtp_port_min;      /* rtp_port_range, default 10000-20000 */
	uint16_t rtp_port_max;
	char external_ip[64]; /* "" = derive from the listen address */
	/* SIP over TLS: on sip_tls_port when a certificate is given. */
	char sip_tls_cert[PATH_MAX]; /* PEM chain; "" = no TLS */
	char sip_tls_key[PATH_MAX];  /* PEM key; "" = in sip_tls_cert */
	uint16_t sip_tls_port;       /* default 5061 */
	/* What registers with a registrar: outbound trunk ids and
	 * sip:user@host entries, comma-separated (sip/regclient.h). */
	char registrations[4096];
	char registration_password[128]; /* the sip: entries' */
	uint32_t media_timeout_ms;       /* default 15 s */
	uint32_t max_call_duration_ms;   /* default 24 h */
	uint32_t jitter_min_ms; /* jitter_buffer, default 0-100 ms, adaptive */
	uint32_t jitter_max_ms;
	enum log_format log_format; /* text */
	enum log_level log_level;   /* info */
	char greeting[PATH_MAX];    /* WAV played on answer, "" = none */
	char pin_prompt[PATH_MAX];  /* "" = the built-in tones */
	char pin_wrong[PATH_MAX];
	uint32_t pin_timeout_ms;
	uint32_t pin_max_tries;       /* wrong PINs per address, 5 */
	uint32_t pin_tries_window_ms; /* ... within 10 min */
	char agent[32];               /* default "pipeline" */
	uint32_t answer_delay_ms;  /* ringing time before 200 OK, default 0 */
	uint32_t drain_timeout_ms; /* after SIGTERM, default 30 s */
	uint32_t media_threads;    /* 0 = one per CPU */
	uint32_t call_priority;    /* SCHED_FIFO of the call path, 0 = none */
	/* API keys, in the order given; the first signs. */
	struct config_key keys[CONFIG_KEYS_MAX];
	size_t nkeys;
	uint16_t http_port;      /* HTTP API; default 7880, 0 = none */
	char http_host[64];      /* default: sip_host (filled in by the load) */
	uint32_t max_open_files; /* default 65536, within the hard limit */
	uint32_t max_connections;    /* TCP, at once; 0 = max_open_files / 2 */
	uint32_t max_conns_per_addr; /* default 256 */
	uint32_t silent_timeout_ms;  /* default 5 s, 0 = none */
	char db[PATH_MAX];           /* SQLite file, default voxgate.db */
	char webhook_urls[CONFIG_WEBHOOKS_MAX][1024]; /* http(s) URLs */
	size_t nwebhook_urls;
	char webhook_api_key[128]; /* one of keys; default the first */
	bool default_route;        /* route calls with no rule; default true */
	uint32_t empty_timeout_ms; /* a room nobody joined lives 5 min */
	uint32_t departure_timeout_ms; /* after the last one left, 20 s */
	uint32_t history_days;         /* call records and rooms kept, 30 */
	uint32_t history_max_rows;     /* ... at most, per table, 100000 */

	/* The agent pipeline: the server's side (VAD, dispatch) ... */
	double vad_start_secs, vad_stop_secs, vad_min_volume, vad_confidence;
	uint32_t agent_workers;  /* local worker processes, default 2 */
	uint32_t agent_capacity; /* calls per local worker, 0 = the worker's
	                            default for its engines */
	uint32_t agent_engine_threads; /* the worker's engine pool, 0 = CPUs */
	uint32_t agent_queue; /* calls waiting for a worker, default 8 */
	uint32_t agent_queue_timeout_ms;
	uint32_t agent_dispatch_timeout_ms;
	char agent_busy_message[512];
	/* ... and the worker's. */
	char agent_server[1024]; /* ws:// URL of the server's /agent */
	char agent_token[2048];
	char brain[16];          /* echo, script or llm; "" = by the settings */
	char greeting_text[512]; /* what the agent says first */
	char script[PATH_MAX];
	char llm_base_url[1024];
	char llm_api_key[512];
	char llm_model[128];
	char system_prompt[4096];
	char transfer_to[256]; /* sip:/sips: URI or number; "" = no transfers */
	bool preemptive_generation; /* the LLM asked before STOP; default on */
	char realtime_url[1024];    /* brain realtime */
	char realtime_api_key[512];
	char realtime_model[128];
	char realtime_voice[64];
	uint32_t realtime_timeout_ms;
	char tts_provider[16]; /* espeak-ng, flite, openai, elevenlabs,
	                          cartesia */
	char tts_voice[64];    /* "" = the provider's own default */
	uint32_t tts_rate_wpm;
	char tts_url[1024]; /* a network provider's base URL */
	char tts_api_key[512];
	char tts_model[128];
	uint32_t tts_timeout_ms;
	char tts_format[4];    /* pcm or wav: what an OpenAI-compatible voice is
	                       asked for */
	char stt_provider[16]; /* pocketsphinx, openai, deepgram or
	                          openai-realtime */
	char stt_url[1024];
	char stt_api_key[512];
	char stt_model[128];
	char stt_language[16];
	uint32_t stt_timeout_ms;
	char stt_hmm[PATH_MAX], stt_lm[PATH_MAX], stt_dict[PATH_MAX];

	/* The carriers' front doors (Twilio, Telnyx). */
	char public_url[1024]; /* how carriers reach the HTTP API; "" = by
	                          the request's Host header */
	char sip_uri[512];     /* what carriers dial; "" = from external_ip and
	                          sip_port */
	char twilio_auth_token[128];
	char twilio_answer[16]; /* dial or stream */
	char telnyx_stream_token[256];
	char telnyx_api_key[256];
	char telnyx_public_key[64]; /* base64 of the 32-byte Ed25519 key */
	char telnyx_api_url[1024];
	char admin_token[256];

	/* Why the last load into this config failed, one line: what the
	 * loaders' *why points to. */
	char why[512];
};

/*
 * Fills cfg from all sources. argv holds the arguments after the
 * subcommand. Returns 0, or EINVAL with *why (when why is not NULL) set to
 * a one-line message naming the key, the problem and where the value came
 * from; it lives in cfg->why, valid as long as cfg and until the next load
 * into it. Returns EALREADY when --help was asked for (the help has then
 * been printed to stdout).
 */
int config_load(struct config *cfg, int argc, char *const argv[],
                const char **why);

/*
 * As config_load, but only config and keys are read and checked: what
 * `voxgate token` needs, without failing on an unrelated key (an unknown
 * key in the file still fails). The other fields are left zero.
 */
int config_load_keys(struct config *cfg, int argc, char *const argv[],
                     const char **why);

void config_print_help(FILE *out);

/* The secret of key, or NULL. */
const char *config_key_secret(const struct config *cfg, const char *key);

/* The speech providers' keys: stt_api_key or tts_api_key, else the
 * variable the provider's own SDKs read (OPENAI_API_KEY for openai;
 * ELEVEN_API_KEY, CARTESIA_API_KEY for those TTS providers); "" when
 * neither is set (a self-hosted server may need none). */
const char *config_stt_api_key(const struct config *cfg);
const char *config_tts_api_key(const struct config *cfg);
/* realtime_api_key, else OPENAI_API_KEY, else "". */
const char *config_realtime_api_key(const struct config *cfg);
/* For deepgram, config_stt_api_key falls back on DEEPGRAM_API_KEY, and
 * openai-realtime on OPENAI_API_KEY as openai does. Whether the recogniser
 * is a network one (not pocketsphinx); its base URL and model: stt_url / stt_model, else the provider's public URL
 * (https://api.deepgram.com, https://api.openai.com/v1) and its model
 * (nova-3, gpt-4o-transcribe, whisper-1). */
bool config_stt_network(const struct config *cfg);
const char *config_stt_url(const struct config *cfg);
const char *config_stt_model(const struct config *cfg);
/* tts_url and tts_model, or the network TTS provider's when "": its
 * public base URL and a model it documents (config.c). */
const char *config_tts_url(const struct config *cfg);
const char *config_tts_model(const struct config *cfg);
/* tts_voice, or the provider's default when it is "": en-us+klatt3 for
 * espeak-ng (the Klatt voices are the clearest on a phone line), kal for
 * flite, alloy for openai, a documented voice id for elevenlabs and
 * cartesia. */
const char *config_tts_voice(const struct config *cfg);
/* The embedded synthesiser and its voice: tts_provider's when it is one,
 * else espeak-ng's default, which speaks for a network provider that
 * fails (and the busy message). */
void config_tts_embedded(const struct config *cfg, const char **provider,
                         const char **voice);

/* "500ms", "15s", "10m", "24h" or bare seconds into milliseconds. 0,
 * EINVAL (not a duration) or ERANGE (above UINT32_MAX ms). */
int config_duration_parse(const char *s, uint32_t *ms);

#endif
