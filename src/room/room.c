/*
 * DESIGN. Rooms live in a list on the signalling thread; a participant is
 * owned by its room and points back to whoever answers for it (the SIP
 * call), which it asks to hang up when kicked. Each SIP participant
 * publishes one audio track, so joining announces participant_joined then
 * track_published, and leaving the reverse. Webhooks are queued per room,
 * so each receiver sees a room's events in the order they happened.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "core/clock.h"
#include "core/libre.h"
#include <jansson.h>
#include "room/room.h"
#include "room/webhook.h"
#include "store/store.h"
#include "core/id.h"
#include "core/log.h"

/* LiveKit's default: a room whose last participant left closes after 20 s;
 * empty_timeout applies to a room nobody has joined yet. */
#define DEPARTURE_TIMEOUT_S 20
#define SWEEP_MS            1000

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

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* protobuf-JSON writes int64 as strings. */
static json_t *json_int64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

static void put(json_t *obj, bool twirp, const char *camel, const char *snake,
                json_t *value)
{
	json_object_set_new(obj, twirp ? snake : camel, value);
}

json_t *room_json(const struct room *room, bool twirp)
{
	json_t *o = json_object();
	unsigned n = list_count(&room->participants);

	put(o, twirp, "sid", "sid", json_string(room->sid));
	put(o, twirp, "name", "name", json_string(room->name));
	put(o, twirp, "emptyTimeout", "empty_timeout",
	    json_integer(room->empty_timeout_s));
	put(o, twirp, "departureTimeout", "departure_timeout",
	    json_integer(room->departure_timeout_s));
	put(o, twirp, "maxParticipants", "max_participants",
	    json_integer(room->max_participants));
	put(o, twirp, "creationTime", "creation_time",
	    json_int64(room->created_ms / 1000));
	put(o, twirp, "creationTimeMs", "creation_time_ms",
	    json_int64(room->created_ms));
	put(o, twirp, "turnPassword", "turn_password", json_string(""));
	put(o, twirp, "enabledCodecs", "enabled_codecs",
	    json_pack("[{s:s,s:s},{s:s,s:s}]", "mime", "audio/PCMU",
	              twirp ? "fmtp_line" : "fmtpLine", "", "mime",
	              "audio/PCMA", twirp ? "fmtp_line" : "fmtpLine", ""));
	put(o, twirp, "metadata", "metadata",
	    json_string(room->metadata ? room->metadata : ""));
	put(o, twirp, "numParticipants", "num_participants", json_integer(n));
	put(o, twirp, "numPublishers", "num_publishers", json_integer(n));
	put(o, twirp, "activeRecording", "active_recording", json_false());
	if (twirp)
		json_object_set_new(o, "version", json_null());
	return o;
}

static json_t *track_json(const struct participant_track *t, bool twirp)
{
	json_t *o = json_object();

	put(o, twirp, "sid", "sid", json_string(t->sid));
	put(o, twirp, "type", "type", json_string("AUDIO"));
	put(o, twirp, "name", "name", json_string(t->name));
	put(o, twirp, "muted", "muted", json_boolean(t->muted));
	put(o, twirp, "source", "source", json_string("MICROPHONE"));
	put(o, twirp, "mimeType", "mime_type", json_string(t->mime));
	put(o, twirp, "stereo", "stereo", json_boolean(t->stereo));
	return o;
}

json_t *participant_json(const struct participant *p, bool twirp)
{
	json_t *o = json_object();
	json_t *tracks = json_array();
	json_t *perm = json_object();

	for (size_t i = 0; i < p->ntracks; i++)
		json_array_append_new(tracks, track_json(&p->tracks[i], twirp));

	put(perm, twirp, "canSubscribe", "can_subscribe",
	    json_boolean(p->perm.can_subscribe));
	put(perm, twirp, "canPublish", "can_publish",
	    json_boolean(p->perm.can_publish));
	put(perm, twirp, "canPublishData", "can_publish_data",
	    json_boolean(p->perm.can_publish_data));
	put(perm, twirp, "hidden", "hidden", json_boolean(p->perm.hidden));
	put(perm, twirp, "canUpdateMetadata", "can_update_metadata",
	    json_boolean(p->perm.can_update_metadata));
	put(perm, twirp, "agent", "agent", json_boolean(p->perm.agent));

	put(o, twirp, "sid", "sid", json_string(p->sid));
	put(o, twirp, "identity", "identity", json_string(p->identity));
	put(o, twirp, "state", "state",
	    json_string(p->leaving ? "DISCONNECTED" : "ACTIVE"));
	put(o, twirp, "tracks", "tracks", tracks);
	put(o, twirp, "metadata", "metadata",
	    json_string(p->metadata ? p->metadata : ""));
	put(o, twirp, "joinedAt", "joined_at", json_int64(p->joined_ms / 1000));
	put(o, twirp, "joinedAtMs", "joined_at_ms", json_int64(p->joined_ms));
	put(o, twirp, "name", "name", json_string(p->name));
	put(o, twirp, "version", "version", json_integer(p->version));
	put(o, twirp, "permission", "permission", perm);
	put(o, twirp, "isPublisher", "is_publisher",
	    json_boolean(p->ntracks > 0));
	put(o, twirp, "kind", "kind", json_string(p->kind));
	put(o, twirp, "attributes", "attributes",
	    json_deep_copy(p->attributes));
	put(o, twirp, "disconnectReason", "disconnect_reason",
	    json_string("UNKNOWN_REASON"));
	return o;
}

static void send_event(struct room *room, const char *event, json_t *ev)
{
	int err;

	/* A full queue is logged by the delivery thread, once per burst. */
	err = webhook_send(room->rs->prm.webhook, room->name, ev);
	if (err && err != ENOSPC)
		log_event(LOGL_WARN, NULL, "webhook_queue_failed",
		          "room=%s event=%s error=\"%s\"", room->name, event,
		          strerror(err));
	json_decref(ev);
}

static void announce(struct room *room, const char *event,
                     const struct participant *p)
{
	json_t *ev;

	if (!room->rs->prm.webhook)
		return;
	ev = json_pack("{s:s,s:o}", "event", event, "room",
	               room_json(room, false));
	if (p)
		json_object_set_new(ev, "participant",
		                    participant_json(p, false));
	send_event(room, event, ev);
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
	send_event(room, event, ev);
}

/* Tells everyone in the room, p itself of its own updates only (as
 * LiveKit echoes a participant's changes back to it); a hidden participant
 * is shown to nobody else. */
static void notify(struct room *room, struct participant *p,
                   enum participant_change what)
{
	struct le *le = list_head(&room->participants);

	while (le) {
		struct participant *q = le->data;

		le = le->next;
		if (!q->updateh || q->leaving)
			continue;
		if (q == p ? what != PARTICIPANT_UPDATED : p && p->perm.hidden)
			continue;
		q->updateh(q, p, what, q->arg);
	}
}

static void changed(struct participant *p)
{
	p->version++;
	notify(p->room, p, PARTICIPANT_UPDATED);
}

static void room_close(struct room *room)
{
	struct rooms *rs = room->rs;

	if (rs->watch.finished)
		rs->watch.finished(room, rs->watch_arg);
	announce(room, "room_finished", NULL);
	if (rs->prm.store)
		(void)store_room_finished(rs->prm.store, room->sid,
		                          wall_ms() / 1000);
	log_event(LOGL_INFO, NULL, "room_finished", "room=%s sid=%s",
	          room->name, room->sid);
	mem_deref(room);
}

/* One timer sweeps the empty rooms: a timer per room would put thousands
 * of long timers in libre's sorted timer list, which every new timer walks. */
static void sweep(void *arg)
{
	struct rooms *rs = arg;
	uint64_t now = clock_mono_ms();
	struct le *le = list_head(&rs->empty);

	while (le) {
		struct room *room = le->data;

		le = le->next;
		if (now >= room->expires_ms)
			room_close(room);
	}
	tmr_start(&rs->sweep, SWEEP_MS, sweep, rs);
}

static void room_destructor(void *arg)
{
	struct room *room = arg;

	if (room->media_release)
		room->media_release(room->media);
	hash_unlink(&room->he);
	list_unlink(&room->empty_le);
	list_unlink(&room->le);
	list_flush(&room->participants);
	mem_deref(room->metadata);
}

static void participant_destructor(void *arg)
{
	struct participant *p = arg;

	list_unlink(&p->le);
	mem_deref(p->metadata);
	json_decref(p->attributes);
}

static void rooms_destructor(void *arg)
{
	struct rooms *rs = arg;

	tmr_cancel(&rs->sweep);
	while (!list_isempty(&rs->rooms))
		room_delete(list_head(&rs->rooms)->data);
	mem_deref(rs->by_name);
}

int rooms_alloc(struct rooms **rsp, const struct rooms_params *prm)
{
	struct rooms *rs;

	if (!rsp || !prm)
		return EINVAL;
	rs = mem_zalloc(sizeof(*rs), rooms_destructor);
	if (!rs)
		return ENOMEM;
	rs->prm = *prm;
	list_init(&rs->rooms);
	list_init(&rs->empty);
	tmr_init(&rs->sweep);
	if (hash_alloc(&rs->by_name, 4096)) {
		mem_deref(rs);
		return ENOMEM;
	}
	tmr_start(&rs->sweep, SWEEP_MS, sweep, rs);
	*rsp = rs;
	return 0;
}

void rooms_set_watch(struct rooms *rs, const struct rooms_watch *w, void *arg)
{
	if (!rs)
		return;
	if (w)
		rs->watch = *w;
	else
		memset(&rs->watch, 0, sizeof(rs->watch));
	rs->watch_arg = arg;
}

static bool name_eq(struct le *le, void *arg)
{
	const struct room *room = le->data;

	return !strcmp(room->name, arg);
}

struct room *room_find(struct rooms *rs, const char *name)
{
	struct le *le = hash_lookup(rs->by_name, hash_joaat_str(name), name_eq,
	                            (void *)name);

	return le ? le->data : NULL;
}

const char *room_name(const struct room *room)
{
	return room->name;
}

static void apply_opts(struct room *room, const json_t *opts)
{
	json_t *v;

	if (!opts)
		return;
	v = json_object_get(opts, "emptyTimeout");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		room->empty_timeout_s = (uint32_t)json_integer_value(v);
	v = json_object_get(opts, "departureTimeout");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		room->departure_timeout_s = (uint32_t)json_integer_value(v);
	v = json_object_get(opts, "maxParticipants");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		room->max_participants = (uint32_t)json_integer_value(v);
	v = json_object_get(opts, "metadata");
	if (json_is_string(v) && json_string_length(v)) {
		room->metadata = mem_deref(room->metadata);
		(void)str_dup(&room->metadata, json_string_value(v));
	}
}

static void mark_if_empty(struct room *room)
{
	uint32_t timeout_s = room->joined_once ? room->departure_timeout_s
	                                       : room->empty_timeout_s;

	if (!list_isempty(&room->participants))
		return;
	room->expires_ms = clock_mono_ms() + (uint64_t)timeout_s * 1000;
	if (!room->empty_le.list)
		list_append(&room->rs->empty, &room->empty_le, room);
}

int room_ensure(struct rooms *rs, const char *name, const json_t *opts,
                struct room **roomp, bool *created)
{
	struct room *room;

	if (!rs || !name || !*name || strlen(name) >= sizeof(room->name))
		return EINVAL;
	room = room_find(rs, name);
	if (room) {
		apply_opts(room, opts);
		if (created)
			*created = false;
		if (roomp)
			*roomp = room;
		return 0;
	}
	room = mem_zalloc(sizeof(*room), room_destructor);
	if (!room)
		return ENOMEM;
	room->rs = rs;
	id_make(room->sid, sizeof(room->sid), "RM_");
	snprintf(room->name, sizeof(room->name), "%s", name);
	room->empty_timeout_s = rs->prm.empty_timeout_s;
	room->created_ms = wall_ms();
	list_init(&room->participants);
	room->departure_timeout_s = rs->prm.departure_timeout_s;
	apply_opts(room, opts);
	list_append(&rs->rooms, &room->le, room);
	hash_append(rs->by_name, hash_joaat_str(room->name), &room->he, room);

	log_event(LOGL_INFO, NULL, "room_started", "room=%s sid=%s", room->name,
	          room->sid);
	announce(room, "room_started", NULL);
	if (rs->prm.store) {
		json_t *j = room_json(room, false);
		(void)store_room_started(rs->prm.store, room->sid, room->name,
		                         j, room->created_ms / 1000);
		json_decref(j);
	}
	mark_if_empty(room);
	if (rs->watch.started)
		rs->watch.started(room, opts, rs->watch_arg);
	if (created)
		*created = true;
	if (roomp)
		*roomp = room;
	return 0;
}

void room_delete(struct room *room)
{
	struct le *le;

	if (!room || room->closing)
		return;
	room->closing = true;
	le = list_head(&room->participants);
	while (le) {
		struct participant *p = le->data;

		le = le->next;
		participant_kick(p, "ROOM_DELETED");
	}
	/* Owners that did not leave at once (a call mid-hang-up) are taken
	 * out now: the room is gone for the API from this moment. */
	while (!list_isempty(&room->participants))
		participant_leave(list_head(&room->participants)->data,
		                  "ROOM_DELETED");
	room_close(room);
}

int room_set_metadata(struct room *room, const char *metadata)
{
	int err;

	room->metadata = mem_deref(room->metadata);
	err = metadata ? str_dup(&room->metadata, metadata) : 0;
	notify(room, NULL, PARTICIPANT_ROOM);
	return err;
}

const char *room_sid(const struct room *room)
{
	return room->sid;
}

const char *room_metadata(const struct room *room)
{
	return room->metadata ? room->metadata : "";
}

int64_t room_created(const struct room *room)
{
	return room->created_ms / 1000;
}

uint32_t room_empty_timeout(const struct room *room)
{
	return room->empty_timeout_s;
}

uint32_t room_departure_timeout(const struct room *room)
{
	return room->departure_timeout_s;
}

uint32_t room_max_participants(const struct room *room)
{
	return room->max_participants;
}

struct participant *room_participant_next(const struct room *room,
                                          const struct participant *prev)
{
	struct le *le = prev ? prev->le.next : list_head(&room->participants);

	return le ? le->data : NULL;
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
	p->joined_ms = wall_ms();
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
	announce(room, "participant_joined", p);
	if (p->ntracks)
		announce_track(room, "track_published", p, &p->tracks[0]);
	notify(room, p, PARTICIPANT_JOINED);
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
	announce(room, "participant_left", p);
	p->version++;
	notify(room, p, PARTICIPANT_LEFT);
	if (room->rs->watch.left)
		room->rs->watch.left(room, p, room->rs->watch_arg);
	mem_deref(p);
	if (!room->closing)
		mark_if_empty(room);
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

json_t *rooms_list_json(struct rooms *rs, const json_t *names, bool twirp)
{
	json_t *arr = json_array();

	for (struct le *le = list_head(&rs->rooms); le; le = le->next) {
		struct room *room = le->data;
		bool want = !json_array_size(names);
		size_t i;
		json_t *n;

		json_array_foreach(names, i, n)
		{
			if (json_is_string(n) &&
			    !strcmp(json_string_value(n), room->name))
				want = true;
		}
		if (want)
			json_array_append_new(arr, room_json(room, twirp));
	}
	return arr;
}

json_t *room_participants_json(const struct room *room, bool twirp)
{
	json_t *arr = json_array();

	for (struct le *le = list_head(&room->participants); le; le = le->next)
		json_array_append_new(arr, participant_json(le->data, twirp));
	return arr;
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

void *room_media(const struct room *room)
{
	return room->media;
}

void room_set_media(struct room *room, void *media, void (*release)(void *))
{
	room->media = media;
	room->media_release = release;
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
