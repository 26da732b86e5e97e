/*
 * The HTTP API: LiveKit's Twirp server API (RoomService, SIP) in JSON and
 * GET /healthz. Runs on the signalling thread's loop.
 */
#ifndef VOXGATE_API_API_H
#define VOXGATE_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "auth/token.h"

struct api;
struct rooms;
struct store;

struct api_params {
	const char *host; /* listen address */
	uint16_t port;
	struct token_keyring keys; /* borrowed */
	struct rooms *rooms;       /* borrowed */
	struct store *store;       /* borrowed */
	size_t max_body;           /* 0 = 256 KiB */
};

/* Called when trunks or rules change, so SIP routing reloads them. */
typedef void(api_changed_h)(void *arg);

/* EADDRINUSE when the port is taken. A libre mem object. */
int api_alloc(struct api **ap, const struct api_params *prm,
              api_changed_h *changedh, void *arg);
/* /healthz answers 200 from now on (503 before). */
void api_set_ready(struct api *api, bool ready);

#endif
