/*
 * A room's participants and their tracks (room.h): joining, updates,
 * DTMF, attributes, tracks published, muted and unpublished, leaving and
 * kicks, and their JSON. Apart from room.c, which keeps the rooms
 * themselves (made, found, swept when empty, closed), because what a
 * participant does changes with LiveKit's participant API while a room's
 * life does not; both send their webhooks through room.c's queue.
 */
#include <errno.h>
#include <string.h>
#include "core/libre.h"
#include <jansson.h>
#include "room/room.h"
#include "room/room_int.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"

static json_t *track_json(const struct participant_track *t, bool twirp)
{
	json_t *o = json_object();

	room_put(o, twirp, "sid", "sid", json_string(t->sid));
	room_put(o, twirp, "type", "type", json_string("AUDIO"));
	room_put(o, twirp, "name", "name", json_string(t->name));
	room_put(o, twirp, "muted", "muted", json_boolean(t->muted));
	room_put(o, twirp, "source", "source", json_string("MICROPHONE"));
	room_put(o, twirp, "mimeType", "mime_type", json_string(t->mime));
	room_put(o, twirp, "stereo", "stereo", json_boolean(t->stereo));
	return o;
}

json_t *participant_json(const struct participant *p, bool twirp)
{
	json_t *o = json_object();
	json_t *tracks = json_array();
	json_t *perm = json_object();

	for (size_t i = 0; i < p->ntracks; i++)
		json_array_append_new(tracks, track_json(&p->tracks[i], twirp));

	room_put(perm, twirp, "canSubscribe", "can_subscribe",
	         json_boolean(p->perm.can_subscribe));
	room_put(perm, twirp, "canPublish", "can_publish",
	         json_boolean(p->perm.can_publish));
	room_put(perm, twirp, "canPublishData", "can_publish_data",
	         json_boolean(p->perm.can_publish_data));
	room_put(perm, twirp, "hidden", "hidden", json_boolean(p->perm.hidden));
	room_put(perm, twirp, "canUpdateMetadata", "can_update_metadata",
	         json_boolean(p->perm.can_update_metadata));
	room_put(perm, twirp, "agent", "agent", json_boolean(p->perm.agent));

	room_put(o, twirp, "sid", "sid", json_string(p->sid));
	room_put(o, twirp, "identity", "identity", json_string(p->identity));
	room_put(o, twirp, "state", "state",
	         json_string(p->leaving ? "DISCONNECTED" : "ACTIVE"));
	room_put(o, twirp, "tracks", "tracks", tracks);
	room_put(o, twirp, "metadata", "metadata",
	         json_string(p->metadata ? p->metadata : ""));
	room_put(o, twirp, "joinedAt", "joined_at",
	         room_json_int64(p->joined_ms / 1000));
	room_put(o, twirp, "joinedAtMs", "joined_at_ms",
	         room_json_int64(p->joined_ms));
	room_put(o, twirp, "name", "name", json_string(p->name));
	room_put(o, twirp, "version", "version", json_integer(p->version));
	room_put(o, twirp, "permission", "permission", perm);
	room_put(o, twirp, "isPublisher", "is_publisher",
	         json_boolean(p->ntracks > 0));
	room_put(o, twirp, "kind", "kind", json_string(p->kind));
	room_put(o, twirp, "attributes", "attributes",
	         json_deep_copy(p->attributes));
	room_put(o, twirp, "disconnectReason", "disconnect_reason",
	         json_string("UNKNOWN_REASON"));
	return o;
}

static void announce_track(struct room *room, const char *event,
                           const struct participant *p,
                           const struct participant_track *t)
{
	json_t *ev;

	if (!room->rs->prm.webhook)
		return;
	ev = json_pack("{s:s,s:o,s:{s:s,s:s},s:o}", "event", event, "room",
	               room_json(room, false), "participant", "sid", p->sid,
	               "identity", p->identity, "track", track_json(t, false));
	room_send_event(room, event, ev);
}

static void changed(struct participant *p)
{
	p->version++;
	room_notify(p->room, p, PARTICIPANT_UPDATED);
}

static void participant_destructor(void *arg)
{
	struct participant *p = arg;

	list_unlink(&p->le);
	mem_deref(p->metadata);
	json_decref(p->attributes);
}

const struct participant_track participant_phone_track = {
    .name = "phone",
    .mime = "audio/PCMU",
};

/* What LiveKit gives a SIP participant. */
static const struct participant_permission sip_permission = {
    .can_subscribe = true,
    .can_publish = true,
    .can_publish_data = true,
};

static bool string_map(const json_t *m)
{
	const char *k;
	json_t *v;

	if (!json_is_object(m))
		return false;
	json_object_foreach((json_t *)m, k, v)
	{
		if (!json_is_string(v))
			return false;
	}
	return true;
}

int participant_join(struct room *room, const struct participant_info *info,
                     const struct participant_ops *ops, void *arg,
                     struct participant **pp)
{
	struct participant *p;

	if (!room || !info || !info->identity || !*info->identity || !pp ||
	    room->closing)
		return EINVAL;
	if (info->attributes && !string_map(info->attributes))
		return EINVAL;
	if (room->max_participants &&
	    list_count(&room->participants) >= room->max_participants)
		return EMLINK;
	if (participant_find(room, info->identity))
		return EEXIST;
	p = mem_zalloc(sizeof(*p), participant_destructor);
	if (!p)
		return ENOMEM;
	p->room = room;
	id_make(p->sid, sizeof(p->sid), "PA_");
	snprintf(p->identity, sizeof(p->identity), "%s", info->identity);
	snprintf(p->name, sizeof(p->name), "%s", info->name ? info->name : "");
	snprintf(p->kind, sizeof(p->kind), "%s",
	         info->kind ? info->kind : "STANDARD");
	if (info->metadata)
		(void)str_dup(&p->metadata, info->metadata);
	p->attributes =
	    info->attributes ? json_deep_copy(info->attributes) : json_object();
	p->perm = info->permission ? *info->permission : sip_permission;
	p->joined_ms = clock_wall_ms();
	p->version = 1;
	if (ops) {
		p->kickh = ops->kick;
		p->updateh = ops->update;
		p->dtmfh = ops->dtmf;
	}
	p->arg = arg;
	if (info->track) {
		p->tracks[0] = *info->track;
		id_make(p->tracks[0].sid, sizeof(p->tracks[0].sid), "TR_");
		p->ntracks = 1;
	}
	list_unlink(&room->empty_le);
	room->joined_once = true;
	list_append(&room->participants, &p->le, p);

	log_event(LOGL_INFO, NULL, "participant_joined",
	          "room=%s identity=%s sid=%s kind=%s", room->name, p->identity,
	          p->sid, p->kind);
	room_announce(room, "participant_joined", p);
	if (p->ntracks)
		announce_track(room, "track_published", p, &p->tracks[0]);
	room_notify(room, p, PARTICIPANT_JOINED);
	*pp = p;
	return 0;
}

void participant_dtmf(struct participant *p, const char *digits, size_t n)
{
	struct le *le;

	if (!p || !digits || !n || p->leaving)
		return;
	le = list_head(&p->room->participants);
	while (le) {
		struct participant *q = le->data;

		le = le->next;
		if (q != p && q->dtmfh && !q->leaving)
			q->dtmfh(q, p, digits, n, q->arg);
	}
}

int participant_set_attribute(struct participant *p, const char *key,
                              const char *value)
{
	if (!p || !key || !value)
		return EINVAL;
	if (json_object_set_new(p->attributes, key, json_string(value)))
		return ENOMEM;
	changed(p);
	return 0;
}

int participant_update(struct participant *p, const char *name,
                       const char *metadata, const json_t *attributes)
{
	const char *k;
	json_t *v;

	if (!p || (attributes && !string_map(attributes)))
		return EINVAL;
	if (name)
		snprintf(p->name, sizeof(p->name), "%s", name);
	if (metadata) {
		p->metadata = mem_deref(p->metadata);
		if (str_dup(&p->metadata, metadata))
			return ENOMEM;
	}
	json_object_foreach((json_t *)attributes, k, v)
	{
		if (!json_string_length(v))
			json_object_del(p->attributes, k);
		else if (json_object_set(p->attributes, k, v))
			return ENOMEM;
	}
	changed(p);
	return 0;
}

static struct participant_track *track_get(struct participant *p,
                                           const char *sid)
{
	for (size_t i = 0; sid && i < p->ntracks; i++) {
		if (!strcmp(p->tracks[i].sid, sid))
			return &p->tracks[i];
	}
	return NULL;
}

int participant_track_add(struct participant *p, struct participant_track *t)
{
	struct participant_track *slot;

	if (!p || !t || p->leaving)
		return EINVAL;
	if (p->ntracks >= PARTICIPANT_TRACKS_MAX)
		return ENOSPC;
	id_make(t->sid, sizeof(t->sid), "TR_");
	slot = &p->tracks[p->ntracks++];
	*slot = *t;
	log_event(LOGL_INFO, NULL, "track_published",
	          "room=%s identity=%s track=%s mime=%s", p->room->name,
	          p->identity, slot->sid, slot->mime);
	announce_track(p->room, "track_published", p, slot);
	changed(p);
	return 0;
}

int participant_track_remove(struct participant *p, const char *sid)
{
	struct participant_track *t = p ? track_get(p, sid) : NULL;
	struct participant_track gone;

	if (!t)
		return ENOENT;
	gone = *t;
	memmove(t, t + 1,
	        (size_t)(p->tracks + p->ntracks - (t + 1)) * sizeof(*t));
	p->ntracks--;
	log_event(LOGL_INFO, NULL, "track_unpublished",
	          "room=%s identity=%s track=%s", p->room->name, p->identity,
	          gone.sid);
	announce_track(p->room, "track_unpublished", p, &gone);
	changed(p);
	return 0;
}

int participant_track_mute(struct participant *p, const char *sid, bool muted)
{
	struct participant_track *t = p ? track_get(p, sid) : NULL;

	if (!t)
		return ENOENT;
	if (t->muted != muted) {
		t->muted = muted;
		changed(p);
	}
	return 0;
}

const struct participant_track *participant_tracks(const struct participant *p,
                                                   size_t *n)
{
	*n = p->ntracks;
	return p->tracks;
}

const struct participant_track *room_track_find(const struct room *room,
                                                const char *sid,
                                                struct participant **pubp)
{
	for (struct le *le = list_head(&room->participants); le;
	     le = le->next) {
		struct participant *p = le->data;
		const struct participant_track *t = track_get(p, sid);

		if (t) {
			if (pubp)
				*pubp = p;
			return t;
		}
	}
	return NULL;
}

void participant_leave(struct participant *p, const char *reason)
{
	struct room *room;

	if (!p || p->leaving)
		return;
	room = p->room;
	p->leaving = true;
	p->kickh = NULL;
	log_event(LOGL_INFO, NULL, "participant_left",
	          "room=%s identity=%s reason=%s", room->name, p->identity,
	          reason ? reason : "CLIENT_INITIATED");
	for (size_t i = p->ntracks; i > 0; i--)
		announce_track(room, "track_unpublished", p, &p->tracks[i - 1]);
	room_announce(room, "participant_left", p);
	p->version++;
	room_notify(room, p, PARTICIPANT_LEFT);
	if (room->rs->watch.left)
		room->rs->watch.left(room, p, room->rs->watch_arg);
	mem_deref(p);
	if (!room->closing)
		room_mark_if_empty(room);
}

struct participant *participant_find(struct room *room, const char *identity)
{
	for (struct le *le = list_head(&room->participants); le;
	     le = le->next) {
		struct participant *p = le->data;

		if (!strcmp(p->identity, identity))
			return p;
	}
	return NULL;
}

void participant_kick(struct participant *p, const char *reason)
{
	participant_kick_h *h;

	if (!p)
		return;
	h = p->kickh;
	p->kickh = NULL;
	if (h)
		h(p, reason, p->arg);
	else
		participant_leave(p, reason);
}

struct room *participant_room(const struct participant *p)
{
	return p->room;
}

const char *participant_sid(const struct participant *p)
{
	return p->sid;
}

const char *participant_identity(const struct participant *p)
{
	return p->identity;
}

const char *participant_name(const struct participant *p)
{
	return p->name;
}

const char *participant_kind(const struct participant *p)
{
	return p->kind;
}

const char *participant_metadata(const struct participant *p)
{
	return p->metadata ? p->metadata : "";
}

const json_t *participant_attributes(const struct participant *p)
{
	return p->attributes;
}

const struct participant_permission *
participant_permission(const struct participant *p)
{
	return &p->perm;
}

int64_t participant_joined_ms(const struct participant *p)
{
	return p->joined_ms;
}

uint32_t participant_version(const struct participant *p)
{
	return p->version;
}

bool participant_leaving(const struct participant *p)
{
	return p->leaving;
}

void *participant_media(const struct participant *p)
{
	return p->media;
}

void participant_set_media(struct participant *p, void *media)
{
	if (!p || p->media == media)
		return;
	p->media = media;
	changed(p);
}
