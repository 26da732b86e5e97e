/*
 * The rooms' insides, shared by room.c (the rooms) and room_participant.c
 * (participants and their tracks) and by no one else.
 */
#ifndef VOXGATE_ROOM_ROOM_INT_H
#define VOXGATE_ROOM_ROOM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "core/libre.h"
#include <jansson.h>
#include "room/room.h"

struct rooms {
	struct rooms_params prm;
	struct list rooms;
	struct hash *by_name;
	struct list empty; /* rooms waiting to close */
	struct tmr sweep;
	struct rooms_watch watch;
	void *watch_arg;
};

struct room {
	struct le le;
	struct rooms *rs;
	char sid[16];
	char name[256];
	char *metadata;
	uint32_t empty_timeout_s;
	uint32_t departure_timeout_s;
	bool joined_once;
	struct le he;       /* in rs->by_name */
	struct le empty_le; /* in rs->empty while nobody is in the room */
	uint64_t expires_ms;
	uint32_t max_participants;
	int64_t created_ms;
	struct list participants;
	bool closing;
	void *media;
	void (*media_release)(void *media);
};

struct participant {
	struct le le;
	struct room *room;
	char sid[16];
	char identity[256];
	char name[256];
	char kind[16];
	char *metadata;
	json_t *attributes;
	int64_t joined_ms;
	struct participant_permission perm;
	struct participant_track tracks[PARTICIPANT_TRACKS_MAX];
	size_t ntracks;
	uint32_t version;
	bool leaving;
	void *media;
	participant_kick_h *kickh;
	participant_update_h *updateh;
	participant_dtmf_h *dtmfh;
	void *arg;
};

/* protobuf-JSON writes int64 as strings. */
json_t *room_json_int64(int64_t v);
void room_put(json_t *obj, bool twirp, const char *camel, const char *snake,
              json_t *value);
/* Queues a webhook event for the room's receivers; takes ev. */
void room_send_event(struct room *room, const char *event, json_t *ev);
void room_announce(struct room *room, const char *event,
                   const struct participant *p);
/* Tells everyone in the room, p itself of its own updates only (as
 * LiveKit echoes a participant's changes back to it); a hidden participant
 * is shown to nobody else. */
void room_notify(struct room *room, struct participant *p,
                 enum participant_change what);
/* Starts the room's empty timeout once nobody is left in it. */
void room_mark_if_empty(struct room *room);

#endif
