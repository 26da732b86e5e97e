/*
 * The environment of the agent workers the server starts itself (the
 * pool's workers, spawned by the hub).
 */
#ifndef VOXGATE_SERVER_WORKER_ENV_H
#define VOXGATE_SERVER_WORKER_ENV_H

#include "core/config.h"

/*
 * What the pool's workers are told through their environment: the part of
 * the server's own that a process needs to run (an allowlist: none of the
 * server's secrets), then every agent setting as cfg resolved it (from
 * flags, file or environment), as VOXGATE_*. The hub adds the worker's
 * token and the server's URL. *envp is NULL-terminated, for execve; free it
 * with worker_env_free(). 0 or ENOMEM.
 */
int worker_env_build(char ***envp, const struct config *cfg);

/* Frees what worker_env_build gave; NULL is nothing. */
void worker_env_free(char **env);

#endif
