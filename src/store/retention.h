/*
 * Keeps the history within its limits: deletes call records and finished
 * rooms the retention (store_prune) no longer keeps, soon after start and
 * then every 10 minutes, in small batches spread over the signalling
 * thread's loop so no SIP or HTTP event waits on more than one batch.
 */
#ifndef VOXGATE_STORE_RETENTION_H
#define VOXGATE_STORE_RETENTION_H

#include <stdint.h>

struct store;
struct retention;

struct retention_params {
	struct store *store; /* borrowed */
	uint32_t days;       /* 0 = no age limit */
	uint32_t max_rows;   /* per table; 0 = no limit */
};

/* A libre mem object; mem_deref stops it. With no limit at all it never
 * runs. */
int retention_alloc(struct retention **rp, const struct retention_params *prm);

#endif
