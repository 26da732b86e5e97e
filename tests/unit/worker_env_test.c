/*
 * The pool workers' environment: of the server's own only the allowlist
 * (none of its secrets, nothing merely alike in name), then the agent
 * settings as the configuration resolved them, each once.
 */
#include <stdlib.h>
#include <string.h>

#include "server/worker_env.h"

#include "test.h"

/* How many entries of env start with prefix. */
static size_t count(char **env, const char *prefix)
{
	size_t n = 0;

	for (size_t i = 0; env[i]; i++)
		n += !strncmp(env[i], prefix, strlen(prefix));
	return n;
}

static bool has(char **env, const char *entry)
{
	for (size_t i = 0; env[i]; i++) {
		if (!strcmp(env[i], entry))
			return true;
	}
	return false;
}

TEST(allowlist)
{
	static const char *const set[][2] = {
	    {"LANG", "C.UTF-8"},
	    {"LC_ALL", "C"},
	    {"TZ", "UTC"},
	    {"https_proxy", "http://proxy:3128"},
	    {"LIVEKIT_API_SECRET", "secret"},
	    {"VOXGATE_KEYS", "k: secret"},
	    {"VOXGATE_ADMIN_TOKEN", "admin"},
	    {"VOXGATE_BRAIN", "from-the-environment"},
	    {"PATHX", "1"},
	    {"XPATH", "1"},
	    {"LC", "1"},
	};
	static struct config cfg;
	char **env = NULL;

	for (size_t i = 0; i < sizeof(set) / sizeof(*set); i++)
		CHECK_EQ(setenv(set[i][0], set[i][1], 1), 0);
	strcpy(cfg.brain, "echo");
	strcpy(cfg.llm_model, "m");
	cfg.tts_rate_wpm = 175;
	cfg.vad_stop_secs = 0.8;
	cfg.agent_capacity = 2;
	cfg.agent_engine_threads = 3;
	cfg.call_priority = 7;
	cfg.log_format = LOG_FORMAT_JSON;
	cfg.log_level = LOGL_WARN;
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(env != NULL);

	CHECK(has(env, "LANG=C.UTF-8"));
	CHECK(has(env, "LC_ALL=C"));
	CHECK(has(env, "TZ=UTC"));
	CHECK(has(env, "https_proxy=http://proxy:3128"));
	CHECK_EQ(count(env, "PATH="), getenv("PATH") ? 1 : 0);
	CHECK_EQ(count(env, "LIVEKIT_"), 0);
	CHECK_EQ(count(env, "VOXGATE_KEYS="), 0);
	CHECK_EQ(count(env, "VOXGATE_ADMIN_TOKEN="), 0);
	CHECK_EQ(count(env, "PATHX="), 0);
	CHECK_EQ(count(env, "XPATH="), 0);
	CHECK_EQ(count(env, "LC="), 0);

	/* the settings as resolved, not as the environment had them */
	CHECK_EQ(count(env, "VOXGATE_BRAIN="), 1);
	CHECK(has(env, "VOXGATE_BRAIN=echo"));
	CHECK(has(env, "VOXGATE_LLM_MODEL=m"));
	CHECK(has(env, "VOXGATE_TTS_RATE_WPM=175"));
	CHECK(has(env, "VOXGATE_VAD_STOP_SECS=0.8"));
	CHECK(has(env, "VOXGATE_AGENT_CAPACITY=2"));
	CHECK(has(env, "VOXGATE_AGENT_ENGINE_THREADS=3"));
	CHECK(has(env, "VOXGATE_CALL_PRIORITY=7"));
	CHECK(has(env, "VOXGATE_LOG_FORMAT=json"));
	CHECK(has(env, "VOXGATE_LOG_LEVEL=warn"));
	CHECK(has(env, "VOXGATE_SCRIPT="));
	worker_env_free(env);

	for (size_t i = 0; i < sizeof(set) / sizeof(*set); i++)
		unsetenv(set[i][0]);
	return 0;
}

/* The speech providers' settings reach the worker; OPENAI_API_KEY, which
 * the worker does not keep, reaches it as the openai provider's key, and
 * only as that. */
TEST(speech_providers)
{
	static struct config cfg;
	char **env = NULL;

	CHECK_EQ(setenv("OPENAI_API_KEY", "sk-from-env", 1), 0);
	strcpy(cfg.stt_provider, "openai");
	strcpy(cfg.stt_url, "http://127.0.0.1:9/v1");
	strcpy(cfg.stt_model, "whisper-1");
	strcpy(cfg.stt_language, "en");
	cfg.stt_timeout_ms = 7000;
	strcpy(cfg.tts_provider, "espeak-ng");
	strcpy(cfg.tts_url, "http://127.0.0.1:8/v1");
	strcpy(cfg.tts_model, "tts-1");
	cfg.tts_timeout_ms = 1500;
	strcpy(cfg.tts_format, "wav");
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_STT_PROVIDER=openai"));
	CHECK(has(env, "VOXGATE_STT_URL=http://127.0.0.1:9/v1"));
	CHECK(has(env, "VOXGATE_STT_MODEL=whisper-1"));
	CHECK(has(env, "VOXGATE_STT_LANGUAGE=en"));
	CHECK(has(env, "VOXGATE_STT_TIMEOUT=7000ms"));
	CHECK(has(env, "VOXGATE_STT_API_KEY=sk-from-env"));
	CHECK(has(env, "VOXGATE_TTS_URL=http://127.0.0.1:8/v1"));
	CHECK(has(env, "VOXGATE_TTS_MODEL=tts-1"));
	CHECK(has(env, "VOXGATE_TTS_TIMEOUT=1500ms"));
	CHECK(has(env, "VOXGATE_TTS_FORMAT=wav"));
	/* espeak-ng takes no key: OpenAI's is not handed to it */
	CHECK(has(env, "VOXGATE_TTS_API_KEY="));
	CHECK_EQ(count(env, "OPENAI_API_KEY="), 0);
	worker_env_free(env);

	/* a key set for the provider wins over the variable */
	strcpy(cfg.tts_provider, "openai");
	strcpy(cfg.tts_api_key, "sk-set");
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_TTS_API_KEY=sk-set"));
	CHECK(has(env, "VOXGATE_STT_API_KEY=sk-from-env"));
	/* brain realtime: its settings, OpenAI's key when none is set */
	CHECK(has(env, "VOXGATE_REALTIME_API_KEY=sk-from-env"));
	worker_env_free(env);
	strcpy(cfg.brain, "realtime");
	strcpy(cfg.realtime_url, "http://127.0.0.1:7/v1");
	strcpy(cfg.realtime_model, "gpt-realtime-2.1");
	strcpy(cfg.realtime_voice, "marin");
	strcpy(cfg.realtime_api_key, "sk-rt");
	cfg.realtime_timeout_ms = 2500;
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_BRAIN=realtime"));
	CHECK(has(env, "VOXGATE_REALTIME_URL=http://127.0.0.1:7/v1"));
	CHECK(has(env, "VOXGATE_REALTIME_MODEL=gpt-realtime-2.1"));
	CHECK(has(env, "VOXGATE_REALTIME_VOICE=marin"));
	CHECK(has(env, "VOXGATE_REALTIME_API_KEY=sk-rt"));
	CHECK(has(env, "VOXGATE_REALTIME_TIMEOUT=2500ms"));
	worker_env_free(env);

	/* deepgram's key from DEEPGRAM_API_KEY, which the worker does not
	 * keep either; OpenAI's never goes to it */
	CHECK_EQ(setenv("DEEPGRAM_API_KEY", "dg-from-env", 1), 0);
	strcpy(cfg.stt_provider, "deepgram");
	cfg.stt_url[0] = '\0';
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_STT_PROVIDER=deepgram"));
	CHECK(has(env, "VOXGATE_STT_API_KEY=dg-from-env"));
	CHECK(has(env, "VOXGATE_STT_URL="));
	CHECK_EQ(count(env, "DEEPGRAM_API_KEY="), 0);
	worker_env_free(env);
	strcpy(cfg.stt_provider, "openai-realtime");
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_STT_API_KEY=sk-from-env"));
	worker_env_free(env);
	unsetenv("DEEPGRAM_API_KEY");

	/* the streaming voices' own variables, resolved for their provider
	 * only; the workers never see the variables themselves */
	CHECK_EQ(setenv("ELEVEN_API_KEY", "xi-from-env", 1), 0);
	strcpy(cfg.tts_provider, "elevenlabs");
	cfg.tts_api_key[0] = '\0';
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_TTS_PROVIDER=elevenlabs"));
	CHECK(has(env, "VOXGATE_TTS_API_KEY=xi-from-env"));
	CHECK_EQ(count(env, "ELEVEN_API_KEY="), 0);
	worker_env_free(env);
	strcpy(cfg.tts_provider, "cartesia");
	CHECK_EQ(worker_env_build(&env, &cfg), 0);
	CHECK(has(env, "VOXGATE_TTS_API_KEY="));
	worker_env_free(env);
	unsetenv("ELEVEN_API_KEY");
	unsetenv("OPENAI_API_KEY");
	return 0;
}

TEST(free_nothing)
{
	worker_env_free(NULL);
	return 0;
}

int main(void)
{
	RUN(allowlist);
	RUN(speech_providers);
	RUN(free_nothing);
	TEST_EXIT();
}
