/*
 * The YAML configuration file (--config), through config_load: libyaml's
 * parse and every key's own parser, with no other source set.
 *
 * Input: the file.
 */
#include <errno.h>

#include "core/config.h"

#include "fuzz.h"

extern char **environ;

static struct config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Only the file speaks: variables would win over it. */
	for (size_t i = 0; environ[i];) {
		char name[256];
		size_t n = strcspn(environ[i], "=");

		if (n < sizeof(name) && (!strncmp(environ[i], "VOXGATE_", 8) ||
		                         !strncmp(environ[i], "LIVEKIT_", 8))) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			continue;
		}
		i++;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = {(char *)"--config", (char *)fuzz_file(data, size),
	                NULL};
	const char *why = NULL;
	int rc = config_load(&cfg, 2, argv, &why);

	FUZZ_CHECK(rc == 0 || rc == EINVAL || rc == ENOMEM);
	if (rc) {
		FUZZ_CHECK(why && why[0] != '\0' && !strchr(why, '\n'));
		return 0;
	}
	FUZZ_CHECK(cfg.nkeys <= CONFIG_KEYS_MAX);
	FUZZ_CHECK(cfg.nwebhook_urls <= CONFIG_WEBHOOKS_MAX);
	FUZZ_CHECK(cfg.rtp_port_min <= cfg.rtp_port_max);
	FUZZ_CHECK(cfg.jitter_min_ms <= cfg.jitter_max_ms);
	return 0;
}
