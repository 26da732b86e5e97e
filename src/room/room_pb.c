#include <string.h>
#include "core/arena.h"
#include "core/libre.h"
#include <jansson.h>
#include "room/room.h"
#include "room/room_pb.h"

/* Strings the message only reads while it is packed. */
#define RW(s) ((char *)(s))

Livekit__Room *room_pb_room(struct arena *a, const struct room *room)
{
	Livekit__Room *r = arena_zalloc(a, sizeof(*r));
	unsigned n = 0, publishers = 0;
	const struct participant *p = NULL;

	if (!r)
		return NULL;
	livekit__room__init(r);
	while ((p = room_participant_next(room, p)) != NULL) {
		size_t nt;

		n++;
		participant_tracks(p, &nt);
		publishers += nt > 0;
	}
	r->sid = RW(room_sid(room));
	r->name = RW(room_name(room));
	r->empty_timeout = room_empty_timeout(room);
	r->departure_timeout = room_departure_timeout(room);
	r->max_participants = room_max_participants(room);
	r->creation_time = room_created(room);
	r->creation_time_ms = room_created(room) * 1000;
	r->metadata = RW(room_metadata(room));
	r->num_participants = n;
	r->num_publishers = publishers;
	return r;
}

Livekit__TrackInfo *room_pb_track(struct arena *a,
                                  const struct participant_track *t)
{
	Livekit__TrackInfo *ti = arena_zalloc(a, sizeof(*ti));

	if (!ti)
		return NULL;
	livekit__track_info__init(ti);
	ti->sid = RW(t->sid);
	ti->type = LIVEKIT__TRACK_TYPE__AUDIO;
	ti->name = RW(t->name);
	ti->muted = t->muted;
	ti->source = LIVEKIT__TRACK_SOURCE__MICROPHONE;
	ti->mime_type = RW(t->mime);
	ti->stereo = t->stereo;
	return ti;
}

static Livekit__ParticipantInfo__Kind kind_of(const char *kind)
{
	static const struct {
		const char *name;
		Livekit__ParticipantInfo__Kind kind;
	} kinds[] = {
	    {"INGRESS", LIVEKIT__PARTICIPANT_INFO__KIND__INGRESS},
	    {"EGRESS", LIVEKIT__PARTICIPANT_INFO__KIND__EGRESS},
	    {"SIP", LIVEKIT__PARTICIPANT_INFO__KIND__SIP},
	    {"AGENT", LIVEKIT__PARTICIPANT_INFO__KIND__AGENT},
	    {"CONNECTOR", LIVEKIT__PARTICIPANT_INFO__KIND__CONNECTOR},
	    {"BRIDGE", LIVEKIT__PARTICIPANT_INFO__KIND__BRIDGE},
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!strcmp(kind, kinds[i].name))
			return kinds[i].kind;
	}
	return LIVEKIT__PARTICIPANT_INFO__KIND__STANDARD;
}

static int attributes(struct arena *a, Livekit__ParticipantInfo *pi,
                      const json_t *attrs)
{
	size_t n = json_object_size(attrs), i = 0;
	const char *k;
	json_t *v;

	if (!n)
		return 0;
	pi->attributes = arena_zalloc(a, n * sizeof(*pi->attributes));
	if (!pi->attributes)
		return -1;
	json_object_foreach((json_t *)attrs, k, v)
	{
		Livekit__ParticipantInfo__AttributesEntry *e =
		    arena_zalloc(a, sizeof(*e));

		if (!e)
			return -1;
		livekit__participant_info__attributes_entry__init(e);
		e->key = RW(k);
		e->value = RW(json_string_value(v));
		pi->attributes[i++] = e;
	}
	pi->n_attributes = i;
	return 0;
}

Livekit__ParticipantInfo *room_pb_participant(struct arena *a,
                                              const struct participant *p)
{
	Livekit__ParticipantInfo *pi = arena_zalloc(a, sizeof(*pi));
	Livekit__ParticipantPermission *perm = arena_zalloc(a, sizeof(*perm));
	const struct participant_permission *pp = participant_permission(p);
	const struct participant_track *t;
	size_t nt;

	if (!pi || !perm)
		return NULL;
	livekit__participant_info__init(pi);
	livekit__participant_permission__init(perm);
	perm->can_subscribe = pp->can_subscribe;
	perm->can_publish = pp->can_publish;
	perm->can_publish_data = pp->can_publish_data;
	perm->hidden = pp->hidden;
	perm->can_update_metadata = pp->can_update_metadata;
	perm->agent = pp->agent;

	pi->sid = RW(participant_sid(p));
	pi->identity = RW(participant_identity(p));
	pi->state = participant_leaving(p)
	                ? LIVEKIT__PARTICIPANT_INFO__STATE__DISCONNECTED
	                : LIVEKIT__PARTICIPANT_INFO__STATE__ACTIVE;
	pi->metadata = RW(participant_metadata(p));
	pi->joined_at = participant_joined_ms(p) / 1000;
	pi->joined_at_ms = participant_joined_ms(p);
	pi->name = RW(participant_name(p));
	pi->version = participant_version(p);
	pi->permission = perm;
	pi->kind = kind_of(participant_kind(p));

	t = participant_tracks(p, &nt);
	if (nt) {
		pi->tracks = arena_zalloc(a, nt * sizeof(*pi->tracks));
		if (!pi->tracks)
			return NULL;
		for (size_t i = 0; i < nt; i++) {
			pi->tracks[i] = room_pb_track(a, &t[i]);
			if (!pi->tracks[i])
				return NULL;
		}
		pi->n_tracks = nt;
	}
	pi->is_publisher = nt > 0;
	if (attributes(a, pi, participant_attributes(p)))
		return NULL;
	return pi;
}
