/*
 * Rooms and their participants, as LiveKit models them: a room is created
 * by its first participant (or CreateRoom) and closes once it has been empty
 * for its empty timeout. Every change is announced as a LiveKit webhook and
 * recorded in the store.
 *
 * Runs on the signalling thread; nothing here is thread-safe.
 */
#ifndef VOXGATE_ROOM_ROOM_H
#define VOXGATE_ROOM_ROOM_H

#include <stdbool.h>
#include <stdint.h>

/* declared, not included: see core/libre.h */
struct json_t;
struct webhook;
struct store;
struct rooms;
struct room;
struct participant;

struct rooms_params {
	struct webhook *webhook;      /* borrowed, may be NULL */
	struct store *store;          /* borrowed, may be NULL */
	uint32_t empty_timeout_s;     /* default for new rooms */
	uint32_t departure_timeout_s; /* after the last participant left */
};

/* Asks the owner of a participant (the SIP call) to hang up. The handler
 * must call participant_leave before it returns and forget p. */
typedef void(participant_kick_h)(struct participant *p, const char *reason,
                                 void *arg);

/* *rsp is a mem object; mem_deref closes every room (participants are
 * kicked first). */
int rooms_alloc(struct rooms **rsp, const struct rooms_params *prm);

struct room *room_find(struct rooms *rs, const char *name);
/* Opens a room in the list: creates it if needed; *created tells. The
 * room belongs to the list (room_delete ends it), so this is not an alloc.
 * Options (JSON, LiveKit's CreateRoomRequest fields) apply only to a new
 * room or to non-zero fields, as CreateRoom does. */
int room_ensure(struct rooms *rs, const char *name, const struct json_t *opts,
                struct room **roomp, bool *created);
/* Kicks every participant and closes the room now. */
void room_delete(struct room *room);
int room_set_metadata(struct room *room, const char *metadata);
const char *room_name(const struct room *room);

struct participant_info {
	const char *identity;
	const char *name;
	const char *kind; /* "SIP", "STANDARD", ... */
	const char *metadata;
	const struct json_t *attributes; /* string map, copied */
};

int participant_join(struct room *room, const struct participant_info *info,
                     participant_kick_h *kickh, void *arg,
                     struct participant **pp);
/* Updates attributes (merged) and announces nothing: attributes such as
 * sip.callStatus change as the call progresses. */
int participant_set_attribute(struct participant *p, const char *key,
                              const char *value);
/* Removes and frees the participant; reason is LiveKit's disconnect reason
 * (CLIENT_INITIATED, ...). */
void participant_leave(struct participant *p, const char *reason);
struct participant *participant_find(struct room *room, const char *identity);
/* Asks the participant's owner to hang up (RemoveParticipant). */
void participant_kick(struct participant *p, const char *reason);

/* JSON forms: twirp = snake_case with every field (the server API's
 * replies), otherwise camelCase (webhooks). New references. */
struct json_t *room_json(const struct room *room, bool twirp);
struct json_t *participant_json(const struct participant *p, bool twirp);
/* JSON array of all rooms, or of those named in names (may be NULL). */
struct json_t *rooms_list_json(struct rooms *rs, const struct json_t *names,
                               bool twirp);
struct json_t *room_participants_json(const struct room *room, bool twirp);

#endif
