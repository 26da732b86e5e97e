/*
 * An agent worker process (`voxgate agent`): connects to the server's
 * /agent WebSocket, loads the speech models once, and runs one pipeline
 * per call the server gives it, up to its capacity. It exits when the
 * server closes the connection, so that whoever started it (the server's
 * pool, or a supervisor) starts a fresh one.
 */
#ifndef VOXGATE_WORKER_WORKER_H
#define VOXGATE_WORKER_WORKER_H

struct config;

/* Runs until SIGTERM/SIGINT or the connection ends; returns an exit code
 * (0 after a signal, 1 when the connection failed or was lost). */
int worker_run(const struct config *cfg);

#endif
