/*
 * voxgate: a phone gateway for voice agents.
 *
 * `voxgate serve` answers SIP calls and connects each caller to an agent.
 */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "server/serve.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: voxgate <command> [options]\n"
	        "\n"
	        "commands:\n"
	        "  serve     answer SIP calls and connect them to an agent\n"
	        "            (voxgate serve --help lists its settings)\n"
	        "  agent     an agent worker: talks on the server's calls\n"
	        "            (voxgate agent --help)\n"
	        "  token     create or verify an access token\n"
	        "            (voxgate token --help)\n"
	        "  vad       print the speech segments in a WAV file\n"
	        "  tts       synthesise text into a WAV file\n"
	        "  stt       transcribe the speech in a WAV file\n"
	        "  help      this text\n");
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(argc - 2, argv + 2);
	if (!strcmp(argv[1], "token"))
		return cli_token(argc - 2, argv + 2);
	if (!strcmp(argv[1], "vad"))
		return cli_vad(argc - 2, argv + 2);
	if (!strcmp(argv[1], "tts"))
		return cli_tts(argc - 2, argv + 2);
	if (!strcmp(argv[1], "agent"))
		return cli_agent(argc - 2, argv + 2);
	if (!strcmp(argv[1], "stt"))
		return cli_stt(argc - 2, argv + 2);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "voxgate: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
