#include "server/keyring.h"

void keyring_from_config(const struct config *cfg, struct token_keyring *ring,
                         struct token_key *storage, size_t n)
{
	ring->keys = storage;
	ring->count = 0;
	for (size_t i = 0; i < cfg->nkeys && i < n; i++) {
		storage[i].key = cfg->keys[i].key;
		storage[i].secret = cfg->keys[i].secret;
		ring->count++;
	}
}
