/*
 * The server's API keys as the keyring tokens are signed and checked with:
 * the HTTP API's, and `voxgate token`'s. Here rather than in core/, which
 * knows nothing of tokens, or in auth/, which knows nothing of the
 * configuration.
 */
#ifndef VOXGATE_SERVER_KEYRING_H
#define VOXGATE_SERVER_KEYRING_H

#include <stddef.h>
#include "auth/token.h"
#include "core/config.h"

/* Points ring at cfg's keys through storage (n entries). The ring borrows
 * cfg's strings: cfg must not move or change while the ring is used. */
void keyring_from_config(const struct config *cfg, struct token_keyring *ring,
                         struct token_key *storage, size_t n);

#endif
