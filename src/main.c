/*
 * voxgate: a phone gateway for voice agents.
 *
 * The commands, by name. Each takes the arguments after its name and
 * returns the exit code: 0, 1 on failure, 2 on bad usage. serve is the
 * server (src/server/), the others are in src/cli/.
 */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "core/opt.h"
#include "server/serve.h"

#define EXIT_USAGE 2

struct command {
	const char *name;
	int (*run)(int argc, char **argv); /* NULL: help */
	const char *what;                  /* for voxgate --help */
	const char *more;                  /* a second line, or NULL */
};

static const struct command commands[] = {
    {"serve", serve, "answer SIP calls and connect them to an agent",
     "(voxgate serve --help lists its settings)"},
    {"agent", cli_agent, "an agent worker: talks on the server's calls",
     "(voxgate agent --help)"},
    {"token", cli_token, "create or verify an access token",
     "(voxgate token --help)"},
    {"vad", cli_vad, "print the speech segments in a WAV file"},
    {"tts", cli_tts, "synthesise text into a WAV file"},
    {"stt", cli_stt, "transcribe the speech in a WAV file"},
    {"help", NULL, "this text"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: voxgate <command> [options]\n"
	             "\n"
	             "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].what);
		if (commands[i].more)
			fprintf(out, "  %-9s %s\n", "", commands[i].more);
	}
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (opt_is_help(argv[1])) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		if (!commands[i].run) {
			usage(stdout);
			return 0;
		}
		return commands[i].run(argc - 2, argv + 2);
	}
	fprintf(stderr, "voxgate: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
