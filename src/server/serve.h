/*
 * voxgate serve: the server process. It answers SIP calls, and calls that
 * come in by Media Streams, and connects each caller to an agent.
 */
#ifndef VOXGATE_SERVER_SERVE_H
#define VOXGATE_SERVER_SERVE_H

/* Takes the arguments after "serve" (--help prints every setting) and runs
 * until a signal has drained the calls. Returns the exit code: 0, 1 on
 * failure, 2 on a bad setting. */
int serve(int argc, char **argv);

#endif
