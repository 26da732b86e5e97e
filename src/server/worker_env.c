/*
 * The environment of the agent workers the server starts itself: what they
 * are told through it, and what of the server's own they do not get.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/worker_env.h"

/* What a worker keeps of the server's environment: what the process and
 * its libraries need to run (locale, time zone, temporary files, library
 * path, proxies and CA files for the LLM's HTTPS, espeak-ng's data, the
 * sanitizers' options). Nothing else: the server's environment holds its
 * own secrets (LIVEKIT_API_SECRET, VOXGATE_KEYS, VOXGATE_ADMIN_TOKEN, the
 * carriers' tokens) and whatever else its deployment put there, none of
 * which a worker needs. A trailing '*' matches a prefix. */
static const char *const worker_env_keep[] = {
    "PATH",           "HOME",
    "USER",           "LOGNAME",
    "TMPDIR",         "TZ",
    "LANG",           "LANGUAGE",
    "LC_*",           "LD_LIBRARY_PATH",
    "http_proxy",     "https_proxy",
    "no_proxy",       "all_proxy",
    "HTTP_PROXY",     "HTTPS_PROXY",
    "NO_PROXY",       "ALL_PROXY",
    "SSL_CERT_FILE",  "SSL_CERT_DIR",
    "CURL_CA_BUNDLE", "ESPEAK_DATA_PATH",
    "ASAN_OPTIONS",   "UBSAN_OPTIONS",
    "LSAN_OPTIONS",   "TSAN_OPTIONS",
};

static bool worker_env_kept(const char *entry)
{
	size_t n = strcspn(entry, "=");

	for (size_t i = 0;
	     i < sizeof(worker_env_keep) / sizeof(worker_env_keep[0]); i++) {
		const char *k = worker_env_keep[i];
		size_t kl = strlen(k);

		if (k[kl - 1] == '*' ? n >= kl - 1 && !strncmp(entry, k, kl - 1)
		                     : n == kl && !strncmp(entry, k, kl))
			return true;
	}
	return false;
}

int worker_env_build(char ***envp, const struct config *cfg)
{
	extern char **environ;
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	char rate[16], stop[32], cap[16], tts_to[24], stt_to[24], rt_to[24];
	char prio[16], engines[16];
	const char *const set[][2] = {
	    {"BRAIN", cfg->brain},
	    {"GREETING_TEXT", cfg->greeting_text},
	    {"SCRIPT", cfg->script},
	    {"LLM_BASE_URL", cfg->llm_base_url},
	    {"LLM_API_KEY", cfg->llm_api_key},
	    {"LLM_MODEL", cfg->llm_model},
	    {"SYSTEM_PROMPT", cfg->system_prompt},
	    {"TRANSFER_TO", cfg->transfer_to},
	    {"PREEMPTIVE_GENERATION",
	     cfg->preemptive_generation ? "true" : "false"},
	    {"REALTIME_URL", cfg->realtime_url},
	    {"REALTIME_API_KEY", config_realtime_api_key(cfg)},
	    {"REALTIME_MODEL", cfg->realtime_model},
	    {"REALTIME_VOICE", cfg->realtime_voice},
	    {"REALTIME_TIMEOUT", rt_to},
	    {"TTS_PROVIDER", cfg->tts_provider},
	    {"TTS_VOICE", cfg->tts_voice},
	    {"TTS_RATE_WPM", rate},
	    {"TTS_URL", cfg->tts_url},
	    /* Resolved here: the providers' own variables (OPENAI_API_KEY,
	     * ELEVEN_API_KEY, CARTESIA_API_KEY) are not among what a worker
	     * keeps of the server's environment. */
	    {"TTS_API_KEY", config_tts_api_key(cfg)},
	    {"TTS_MODEL", cfg->tts_model},
	    {"TTS_TIMEOUT", tts_to},
	    {"TTS_FORMAT", cfg->tts_format},
	    {"STT_PROVIDER", cfg->stt_provider},
	    {"STT_URL", cfg->stt_url},
	    {"STT_API_KEY", config_stt_api_key(cfg)},
	    {"STT_MODEL", cfg->stt_model},
	    {"STT_LANGUAGE", cfg->stt_language},
	    {"STT_TIMEOUT", stt_to},
	    {"STT_HMM", cfg->stt_hmm},
	    {"STT_LM", cfg->stt_lm},
	    {"STT_DICT", cfg->stt_dict},
	    {"VAD_STOP_SECS", stop},
	    {"AGENT_CAPACITY", cap},
	    {"AGENT_ENGINE_THREADS", engines},
	    {"CALL_PRIORITY", prio},
	    {"LOG_FORMAT",
	     cfg->log_format == LOG_FORMAT_JSON ? "json" : "text"},
	    {"LOG_LEVEL", levels[cfg->log_level]},
	};
	const size_t nset = sizeof(set) / sizeof(set[0]);
	size_t n = 0, k = 0;
	bool failed = false;
	char **env;

	snprintf(rate, sizeof(rate), "%u", cfg->tts_rate_wpm);
	snprintf(stop, sizeof(stop), "%g", cfg->vad_stop_secs);
	snprintf(cap, sizeof(cap), "%u", cfg->agent_capacity);
	snprintf(engines, sizeof(engines), "%u", cfg->agent_engine_threads);
	snprintf(prio, sizeof(prio), "%u", cfg->call_priority);
	snprintf(tts_to, sizeof(tts_to), "%ums", cfg->tts_timeout_ms);
	snprintf(stt_to, sizeof(stt_to), "%ums", cfg->stt_timeout_ms);
	snprintf(rt_to, sizeof(rt_to), "%ums", cfg->realtime_timeout_ms);
	while (environ[n])
		n++;
	*envp = NULL;
	env = calloc(n + nset + 1, sizeof(char *));
	if (!env)
		return ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!worker_env_kept(environ[i]))
			continue;
		env[k] = strdup(environ[i]);
		failed |= !env[k++];
	}
	for (size_t i = 0; !failed && i < nset; i++) {
		if (asprintf(&env[k], "VOXGATE_%s=%s", set[i][0], set[i][1]) <
		    0) {
			env[k] = NULL;
			failed = true;
		} else {
			k++;
		}
	}
	if (failed) {
		for (size_t i = 0; i < k; i++)
			free(env[i]);
		free(env);
		return ENOMEM;
	}
	*envp = env;
	return 0;
}

void worker_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}
