/*
 * The calls a worker takes by default (worker_default_capacity): one with
 * pocketsphinx, which decodes on the machine's cores, whatever the voice;
 * 32 with a network recogniser and an embedded voice on the engine pool;
 * 200 with both on the network, or with the Realtime brain, which hears
 * and speaks itself whatever the recogniser and voice settings say.
 */
#include <string.h>

#include "core/config.h"
#include "worker/worker_int.h"
#include "test.h"

static struct config cfg;

static uint32_t capacity(const char *brain, const char *stt, const char *tts)
{
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.brain, brain);
	strcpy(cfg.stt_provider, stt);
	strcpy(cfg.tts_provider, tts);
	return worker_default_capacity(&cfg);
}

TEST(pocketsphinx_one_call)
{
	CHECK_EQ(capacity("", "pocketsphinx", "espeak-ng"), 1);
	CHECK_EQ(capacity("llm", "pocketsphinx", "flite"), 1);
	/* the recogniser is what limits, not the voice */
	CHECK_EQ(capacity("llm", "pocketsphinx", "openai"), 1);
	CHECK_EQ(capacity("script", "pocketsphinx", "elevenlabs"), 1);
	return 0;
}

TEST(network_stt_embedded_voice)
{
	CHECK_EQ(capacity("llm", "deepgram", "espeak-ng"), 32);
	CHECK_EQ(capacity("llm", "openai", "flite"), 32);
	CHECK_EQ(capacity("", "openai-realtime", "espeak-ng"), 32);
	return 0;
}

TEST(all_network)
{
	CHECK_EQ(capacity("llm", "deepgram", "elevenlabs"), 200);
	CHECK_EQ(capacity("llm", "openai", "openai"), 200);
	CHECK_EQ(capacity("echo", "openai-realtime", "cartesia"), 200);
	return 0;
}

TEST(realtime_brain_whatever_engines)
{
	CHECK_EQ(capacity("realtime", "pocketsphinx", "espeak-ng"), 200);
	CHECK_EQ(capacity("realtime", "deepgram", "flite"), 200);
	return 0;
}

int main(void)
{
	RUN(pocketsphinx_one_call);
	RUN(network_stt_embedded_voice);
	RUN(all_network);
	RUN(realtime_brain_whatever_engines);
	TEST_EXIT();
}
