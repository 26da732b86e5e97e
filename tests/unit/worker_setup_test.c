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

static const struct {
	const char *brain, *stt, *tts;
	uint32_t want;
} cases[] = {
    {"", "pocketsphinx", "espeak-ng", 1},
    {"llm", "pocketsphinx", "flite", 1},
    /* the recogniser is what limits, not the voice */
    {"llm", "pocketsphinx", "openai", 1},
    {"script", "pocketsphinx", "elevenlabs", 1},
    {"llm", "deepgram", "espeak-ng", 32},
    {"llm", "openai", "flite", 32},
    {"", "openai-realtime", "espeak-ng", 32},
    {"llm", "deepgram", "elevenlabs", 200},
    {"llm", "openai", "openai", 200},
    {"echo", "openai-realtime", "cartesia", 200},
    /* the Realtime brain, whatever the engines */
    {"realtime", "pocketsphinx", "espeak-ng", 200},
    {"realtime", "deepgram", "flite", 200},
};

TEST(capacity_by_engines)
{
	static struct config cfg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t got;

		memset(&cfg, 0, sizeof(cfg));
		strcpy(cfg.brain, cases[i].brain);
		strcpy(cfg.stt_provider, cases[i].stt);
		strcpy(cfg.tts_provider, cases[i].tts);
		got = worker_default_capacity(&cfg);
		if (got != cases[i].want)
			TEST_FAIL("capacity_by_engines",
			          "brain \"%s\", %s, %s: %u, not %u",
			          cases[i].brain, cases[i].stt, cases[i].tts,
			          got, cases[i].want);
	}
	return 0;
}

int main(void)
{
	RUN(capacity_by_engines);
	TEST_EXIT();
}
