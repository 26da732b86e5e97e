/*
 * Rooms and participants as LiveKit's protobuf messages (Room,
 * ParticipantInfo, TrackInfo), for the clients that join over /rtc and the
 * agent workers on /agent.
 *
 * The messages are taken from arena a and their strings point into the
 * room's own memory: pack them before the room changes.
 */
#ifndef VOXGATE_ROOM_ROOM_PB_H
#define VOXGATE_ROOM_ROOM_PB_H

#include "livekit/lkpb.h"

struct arena;
struct room;
struct participant;
struct participant_track;

/* NULL when the arena is out of memory, here and below. */
Livekit__Room *room_pb_room(struct arena *a, const struct room *room);
Livekit__ParticipantInfo *room_pb_participant(struct arena *a,
                                              const struct participant *p);
Livekit__TrackInfo *room_pb_track(struct arena *a,
                                  const struct participant_track *t);

#endif
