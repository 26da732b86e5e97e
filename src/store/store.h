/*
 * The persistent store: SIP trunks, dispatch rules, rooms' history and call
 * records. SQLite is the embedded default; every call goes through this
 * interface so a shared store (Redis) can stand behind it later.
 *
 * Objects are kept as their LiveKit protobuf-JSON (camelCase) text. Writes
 * are transactions: a failed write leaves nothing behind. Used from the
 * signalling thread only.
 */
#ifndef VOXGATE_STORE_STORE_H
#define VOXGATE_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>
/* declared, not included: see core/libre.h */
struct json_t;

struct store;

enum store_trunk_kind {
	STORE_TRUNK_INBOUND = 0,
	STORE_TRUNK_OUTBOUND = 1,
};

/* Every function returns 0 or a positive errno: EINVAL (bad arguments),
 * ENOENT (no such row), ENOMEM, EIO (SQLite failed), EBADMSG (a stored row
 * whose JSON does not parse). */

/* Opens the database (creating the file, schema and running pending
 * migrations) as *stp, a mem object: mem_deref closes it. No thread of its
 * own, so an alloc, not an open.
 * Errors: EINVAL (bad arguments), ENOMEM, EIO (SQLite could not open,
 * read or migrate the file: not a database, corrupt, not writable),
 * ENOTSUP (written by a newer voxgate: its schema version is higher than
 * this build knows). store_error(NULL) then tells why. */
int store_alloc(struct store **stp, const char *path);

/* Why the last failed call on st failed ("" if none has); with st NULL,
 * why the last store_alloc on this thread failed. Valid until the next call
 * on st (the next store_alloc for NULL). */
const char *store_error(const struct store *st);

/* Inserts or replaces; obj is not stolen. */
int store_trunk_put(struct store *st, const char *id,
                    enum store_trunk_kind kind, const struct json_t *obj);
/* ENOENT when absent. *objp is a new reference. */
int store_trunk_get(struct store *st, const char *id,
                    enum store_trunk_kind *kind, struct json_t **objp);
int store_trunk_delete(struct store *st, const char *id);
/* A new JSON array of the trunks of that kind, oldest first. */
int store_trunk_list(struct store *st, enum store_trunk_kind kind,
                     struct json_t **arrayp);

int store_rule_put(struct store *st, const char *id, const struct json_t *obj);
int store_rule_get(struct store *st, const char *id, struct json_t **objp);
int store_rule_delete(struct store *st, const char *id);
int store_rule_list(struct store *st, struct json_t **arrayp);

/* Rooms' history: a room row is written when it starts and updated when it
 * finishes (finished_at 0 while open). */
int store_room_started(struct store *st, const char *sid, const char *name,
                       const struct json_t *room, int64_t started_at);
int store_room_finished(struct store *st, const char *sid, int64_t finished_at);

/* Call records, by voxgate call id (SCL_...): created at INVITE, updated
 * as the call progresses, closed at the end. */
int store_call_put(struct store *st, const char *call_id,
                   const struct json_t *rec);
int store_call_get(struct store *st, const char *call_id, struct json_t **recp);

/* How much history (call records, finished rooms) is kept; 0 = no limit. */
struct store_retention {
	uint64_t max_age_s; /* calls by their last write, rooms by their end */
	uint64_t max_rows;  /* per table; the oldest go first */
};

struct store_pruned {
	unsigned calls, rooms; /* rows deleted */
	bool more;             /* the batch was used up: call again */
};

/* Deletes at most batch rows the retention no longer keeps (each
 * statement is one short transaction, so the writes of calls in progress
 * wait at most one batch). */
int store_prune(struct store *st, const struct store_retention *r,
                unsigned batch, struct store_pruned *out);

#endif
