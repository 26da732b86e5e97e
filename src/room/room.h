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
#include <stddef.h>
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

/* Asks the owner of a participant (the SIP call, the WebRTC client) to
 * go. The handler must call participant_leave before it returns and
 * forget p. */
typedef void(participant_kick_h)(struct participant *p, const char *reason,
                                 void *arg);

enum participant_change {
	PARTICIPANT_JOINED,  /* other has joined */
	PARTICIPANT_UPDATED, /* other's name, metadata, attributes, tracks */
	PARTICIPANT_LEFT,    /* other is leaving: readable during the call */
	PARTICIPANT_ROOM,    /* the room's metadata changed; other is NULL */
};

/* Tells a participant's owner what changed in its room, for owners that
 * show the room to a client (LiveKit's ParticipantUpdate): the others'
 * joins, updates and departures, its own updates (other == self), and
 * the room's. Called on the
 * signalling thread from inside room calls: it must not join, leave or
 * kick anyone, nor change the room; defer such work. */
typedef void(participant_update_h)(struct participant *self,
                                   const struct participant *other,
                                   enum participant_change what, void *arg);

/* Keys another participant (a phone caller) pressed, 0-9 * # A-D, for
 * owners that pass them on (LiveKit's sip_dtmf). Same rules as update. */
typedef void(participant_dtmf_h)(struct participant *self,
                                 const struct participant *from,
                                 const char *digits, size_t n, void *arg);

struct participant_ops {
	participant_kick_h *kick;     /* NULL: a kick just leaves */
	participant_update_h *update; /* NULL: not told */
	participant_dtmf_h *dtmf;     /* NULL: not told */
};

/* *rsp is a mem object; mem_deref closes every room (participants are
 * kicked first). */
int rooms_alloc(struct rooms **rsp, const struct rooms_params *prm);

/*
 * One watcher of every room (the agent dispatcher): told of each room as
 * it starts, with the options it was created with (CreateRoom's request,
 * a dispatch rule's or a token's roomConfig; NULL when none), of each
 * participant as it leaves (still readable, already leaving), and of each
 * room as it finishes (everyone has left; it is freed after the call).
 * Called from inside room calls, under the rules of participant_update_h.
 */
struct rooms_watch {
	void (*started)(struct room *room, const struct json_t *opts,
	                void *arg);
	void (*left)(struct room *room, const struct participant *p, void *arg);
	void (*finished)(struct room *room, void *arg);
};

/* Replaces the watcher (w copied; NULL = none). */
void rooms_set_watch(struct rooms *rs, const struct rooms_watch *w, void *arg);

struct room *room_find(struct rooms *rs, const char *name);
/* Opens a room in the list: creates it if needed; *created tells. The
 * room belongs to the list (room_delete ends it), so this is not an alloc.
 * Options (JSON, LiveKit's CreateRoomRequest fields) apply only to a new
 * room or to non-zero fields, as CreateRoom does. */
int room_ensure(struct rooms *rs, const char *name, const struct json_t *opts,
                struct room **roomp, bool *created);
/* Kicks every participant and closes the room now. */
void room_delete(struct room *room);
/* Tells the participants (PARTICIPANT_ROOM). */
int room_set_metadata(struct room *room, const char *metadata);
const char *room_name(const struct room *room);
const char *room_sid(const struct room *room);
const char *room_metadata(const struct room *room); /* "" when none */
/* Seconds since 1970 when the room was created. */
int64_t room_created(const struct room *room);
uint32_t room_empty_timeout(const struct room *room);
uint32_t room_departure_timeout(const struct room *room);
uint32_t room_max_participants(const struct room *room);
/* What carries the room's audio (a media/webrtc.h media_room), made by
 * whoever needs it first and released (release(media)) when the room
 * closes; NULL until then. The room only keeps it. */
void *room_media(const struct room *room);
void room_set_media(struct room *room, void *media, void (*release)(void *));
/* The room's participants in the order they joined; NULL after the last. */
struct participant *room_participant_next(const struct room *room,
                                          const struct participant *prev);

/* LiveKit's ParticipantPermission. */
struct participant_permission {
	bool can_subscribe, can_publish, can_publish_data;
	bool can_update_metadata, hidden, agent;
};

/* LiveKit's bounds on what a participant may be given, in bytes: a name
 * shorter than the first, metadata and attributes (keys and values
 * together) no longer than the others. */
#define PARTICIPANT_NAME_MAX       256
#define PARTICIPANT_METADATA_MAX   (64 * 1024)
#define PARTICIPANT_ATTRIBUTES_MAX (64 * 1024)

/* A published track. Audio only: voxgate carries no video. */
#define PARTICIPANT_TRACKS_MAX 4
struct participant_track {
	char sid[16];  /* TR_... */
	char cid[64];  /* the client's id for it, "" when none */
	char name[64]; /* "phone", "microphone", ... */
	char mime[32]; /* "audio/PCMU", "audio/opus" */
	bool muted;
	bool stereo;
};

/* The one track a phone caller publishes: "phone", PCMU. */
extern const struct participant_track participant_phone_track;

struct participant_info {
	const char *identity;
	const char *name;
	const char *kind; /* "SIP", "STANDARD", "AGENT", ... */
	const char *metadata;
	const struct json_t *attributes; /* string map, copied */
	/* NULL: what a SIP participant has (all but metadata updates). */
	const struct participant_permission *permission;
	/* A track published as the participant joins (the caller's), or
	 * NULL; its sid is made here. */
	const struct participant_track *track;
};

/*
 * Joins room: the participant_joined webhook (and track_published for
 * info->track), and the others are told. EINVAL for a missing identity or
 * a closing room, EMLINK when the room is full, EEXIST for an identity
 * already in the room. ops (copied) may be NULL; arg is borrowed until
 * participant_leave.
 */
int participant_join(struct room *room, const struct participant_info *info,
                     const struct participant_ops *ops, void *arg,
                     struct participant **pp);
/* Updates one attribute (merged) and tells the others; no webhook, as in
 * LiveKit: attributes such as sip.callStatus change as a call goes on. */
int participant_set_attribute(struct participant *p, const char *key,
                              const char *value);
/* The participant pressed keys: everyone else in the room is told. */
void participant_dtmf(struct participant *p, const char *digits, size_t n);
/* Replaces what is not NULL: name, metadata, and attributes merged (an
 * empty value deletes the key, as LiveKit's UpdateParticipantMetadata);
 * tells the others. EINVAL when attributes is not a string map. */
int participant_update(struct participant *p, const char *name,
                       const char *metadata, const struct json_t *attributes);
/*
 * Publishes a track: its sid is made here and written back to t; the
 * track_published webhook; the others are told. ENOSPC past
 * PARTICIPANT_TRACKS_MAX.
 */
int participant_track_add(struct participant *p, struct participant_track *t);
/* track_unpublished, the others told; ENOENT for an unknown sid. */
int participant_track_remove(struct participant *p, const char *sid);
int participant_track_mute(struct participant *p, const char *sid, bool muted);
const struct participant_track *participant_tracks(const struct participant *p,
                                                   size_t *n);
/* The track with this sid in the room, and its publisher, or NULL. */
const struct participant_track *room_track_find(const struct room *room,
                                                const char *sid,
                                                struct participant **pubp);

/* A phone participant's call media (a media_session, started), or NULL;
 * setting it tells the others (PARTICIPANT_UPDATED). */
void *participant_media(const struct participant *p);
void participant_set_media(struct participant *p, void *media);
struct room *participant_room(const struct participant *p);
const char *participant_sid(const struct participant *p);
const char *participant_identity(const struct participant *p);
const char *participant_name(const struct participant *p);
const char *participant_kind(const struct participant *p);
const char *participant_metadata(const struct participant *p); /* or "" */
const struct json_t *participant_attributes(const struct participant *p);
const struct participant_permission *
participant_permission(const struct participant *p);
/* Seconds and milliseconds since 1970. */
int64_t participant_joined_ms(const struct participant *p);
/* Counts every change the others are told of, from 1 (LiveKit's
 * ParticipantInfo.version). */
uint32_t participant_version(const struct participant *p);
/* True from the moment the participant starts leaving. */
bool participant_leaving(const struct participant *p);
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
