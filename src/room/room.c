/*
 * Rooms (room.h): made, found, swept when empty and closed, and the
 * webhook queue; their participants and tracks are in room_participant.c.
 *
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
#include "room/room_int.h"
#include "room/webhook.h"
#include "store/store.h"
#include "core/id.h"
#include "core/log.h"

/* LiveKit's default: a room whose last participant left closes after 20 s;
 * empty_timeout applies to a room nobody has joined yet. */
#define DEPARTURE_TIMEOUT_S 20
#define SWEEP_MS            1000

/* protobuf-JSON writes int64 as strings. */
json_t *room_json_int64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

void room_put(json_t *obj, bool twirp, const char *camel, const char *snake,
              json_t *value)
{
	json_object_set_new(obj, twirp ? snake : camel, value);
}

json_t *room_json(const struct room *room, bool twirp)
{
	json_t *o = json_object();
	unsigned n = list_count(&room->participants);

	room_put(o, twirp, "sid", "sid", json_string(room->sid));
	room_put(o, twirp, "name", "name", json_string(room->name));
	room_put(o, twirp, "emptyTimeout", "empty_timeout",
	         json_integer(room->empty_timeout_s));
	room_put(o, twirp, "departureTimeout", "departure_timeout",
	         json_integer(room->departure_timeout_s));
	room_put(o, twirp, "maxParticipants", "max_participants",
	         json_integer(room->max_participants));
	room_put(o, twirp, "creationTime", "creation_time",
	         room_json_int64(room->created_ms / 1000));
	room_put(o, twirp, "creationTimeMs", "creation_time_ms",
	         room_json_int64(room->created_ms));
	room_put(o, twirp, "turnPassword", "turn_password", json_string(""));
	room_put(o, twirp, "enabledCodecs", "enabled_codecs",
	         json_pack("[{s:s,s:s},{s:s,s:s}]", "mime", "audio/PCMU",
	                   twirp ? "fmtp_line" : "fmtpLine", "", "mime",
	                   "audio/PCMA", twirp ? "fmtp_line" : "fmtpLine", ""));
	room_put(o, twirp, "metadata", "metadata",
	         json_string(room->metadata ? room->metadata : ""));
	room_put(o, twirp, "numParticipants", "num_participants",
	         json_integer(n));
	room_put(o, twirp, "numPublishers", "num_publishers", json_integer(n));
	room_put(o, twirp, "activeRecording", "active_recording", json_false());
	if (twirp)
		json_object_set_new(o, "version", json_null());
	return o;
}

void room_send_event(struct room *room, const char *event, json_t *ev)
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

void room_announce(struct room *room, const char *event,
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
	room_send_event(room, event, ev);
}

/* Tells everyone in the room, p itself of its own updates only (as
 * LiveKit echoes a participant's changes back to it); a hidden participant
 * is shown to nobody else. */
void room_notify(struct room *room, struct participant *p,
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

static void room_close(struct room *room)
{
	struct rooms *rs = room->rs;

	if (rs->watch.finished)
		rs->watch.finished(room, rs->watch_arg);
	room_announce(room, "room_finished", NULL);
	if (rs->prm.store)
		(void)store_room_finished(rs->prm.store, room->sid,
		                          clock_wall_ms() / 1000);
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

void room_mark_if_empty(struct room *room)
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
	room->created_ms = clock_wall_ms();
	list_init(&room->participants);
	room->departure_timeout_s = rs->prm.departure_timeout_s;
	apply_opts(room, opts);
	list_append(&rs->rooms, &room->le, room);
	hash_append(rs->by_name, hash_joaat_str(room->name), &room->he, room);

	log_event(LOGL_INFO, NULL, "room_started", "room=%s sid=%s", room->name,
	          room->sid);
	room_announce(room, "room_started", NULL);
	if (rs->prm.store) {
		json_t *j = room_json(room, false);
		(void)store_room_started(rs->prm.store, room->sid, room->name,
		                         j, room->created_ms / 1000);
		json_decref(j);
	}
	room_mark_if_empty(room);
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
	room_notify(room, NULL, PARTICIPANT_ROOM);
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

void *room_media(const struct room *room)
{
	return room->media;
}

void room_set_media(struct room *room, void *media, void (*release)(void *))
{
	room->media = media;
	room->media_release = release;
}
