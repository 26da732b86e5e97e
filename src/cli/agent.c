#include <errno.h>
#include <stdio.h>
#include "cli/cli.h"
#include "worker/worker.h"
#include "core/config.h"
#include "core/log.h"
#include "core/opt.h"

int cli_agent(int argc, char **argv)
{
	static struct config cfg;
	const char *why;
	int err;

	/* Its usage comes before the settings' help, which config_load
	 * prints by itself, so help is looked for first. */
	if (opt_help_asked(argc, argv)) {
		printf("usage: voxgate agent --agent_server "
		       "ws://HOST:PORT/agent --agent_token TOKEN "
		       "[settings]\n\n"
		       "An agent worker: it connects to a voxgate "
		       "server, loads the speech models once and\n"
		       "talks on the calls the server gives it, up to "
		       "agent_capacity at once. The server\n"
		       "starts agent_workers of these itself; run more "
		       "on other hosts with a token from\n"
		       "`voxgate token create --agent`. The settings "
		       "are the server's (brain, llm_*, tts_*,\n"
		       "stt_*, realtime_*, greeting_text, ...):\n\n");
		config_print_help(stdout);
		return 0;
	}
	err = config_load(&cfg, argc, argv, &why);
	if (err == EALREADY)
		return 0;
	if (err) {
		fprintf(stderr, "voxgate: %s\n", why);
		return 2;
	}
	log_setup(cfg.log_level, cfg.log_format, NULL);
	return worker_run(&cfg);
}
