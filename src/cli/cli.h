/*
 * voxgate's commands other than serve: each takes the arguments after its
 * name and returns the exit code, 0, 1 on failure, 2 on bad usage.
 */
#ifndef VOXGATE_CLI_CLI_H
#define VOXGATE_CLI_CLI_H

/* voxgate vad FILE.wav: the speech segments the VAD finds in a file. */
int cli_vad(int argc, char **argv);

/* voxgate tts TEXT OUT.wav: synthesises TEXT into a WAV file. */
int cli_tts(int argc, char **argv);

/* voxgate agent: an agent worker connected to a server. */
int cli_agent(int argc, char **argv);

/* voxgate token create|verify: mints or checks an access token. */
int cli_token(int argc, char **argv);

/* voxgate stt FILE.wav: transcribes a file as calls are transcribed. */
int cli_stt(int argc, char **argv);

#endif
