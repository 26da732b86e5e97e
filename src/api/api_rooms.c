/*
 * RoomService: rooms and their participants, as LiveKit's Twirp API has
 * them.
 */
#include <string.h>
#include "api/api_int.h"
#include "room/room.h"

static struct room *need_room(struct call_ctx *c)
{
	struct room *room =
	    room_find(c->api->prm.rooms, api_req_str(c, "room"));

	if (!room)
		api_twirp_error(c->conn, "not_found",
		                "requested room does not exist");
	return room;
}

void api_create_room(struct call_ctx *c)
{
	static const char *const strs[] = {"name", "metadata", "nodeId", NULL};
	struct room *room;
	int err;

	if (!api_check_types(c, strs))
		return;
	if (!*api_req_str(c, "name")) {
		api_twirp_error(c->conn, "invalid_argument",
		                "name is required");
		return;
	}
	err = room_ensure(c->api->prm.rooms, api_req_str(c, "name"), c->req,
	                  &room, NULL);
	if (err) {
		api_twirp_error(c->conn, "invalid_argument",
		                "invalid room name");
		return;
	}
	api_reply_ok(c, room_json(room, false));
}

void api_list_rooms(struct call_ctx *c)
{
	json_t *names = json_object_get(c->req, "names");

	if (names && !json_is_array(names)) {
		api_twirp_error(c->conn, "malformed",
		                "the json request could not be decoded");
		return;
	}
	api_reply_ok(
	    c, json_pack("{s:o}", "rooms",
	                 rooms_list_json(c->api->prm.rooms, names, false)));
}

void api_delete_room(struct call_ctx *c)
{
	struct room *room = need_room(c);

	if (!room)
		return;
	room_delete(room);
	api_reply_ok(c, json_object());
}

void api_list_participants(struct call_ctx *c)
{
	struct room *room = need_room(c);

	if (room)
		api_reply_ok(c, json_pack("{s:o}", "participants",
		                          room_participants_json(room, false)));
}

static struct participant *need_participant(struct call_ctx *c)
{
	struct room *room = need_room(c);
	struct participant *p;

	if (!room)
		return NULL;
	p = participant_find(room, api_req_str(c, "identity"));
	if (!p)
		api_twirp_error(c->conn, "not_found",
		                "participant does not exist");
	return p;
}

void api_get_participant(struct call_ctx *c)
{
	struct participant *p = need_participant(c);

	if (p)
		api_reply_ok(c, participant_json(p, false));
}

void api_remove_participant(struct call_ctx *c)
{
	struct participant *p = need_participant(c);

	if (!p)
		return;
	participant_kick(p, "PARTICIPANT_REMOVED");
	api_reply_ok(c, json_object());
}

void api_update_room_metadata(struct call_ctx *c)
{
	static const char *const strs[] = {"room", "metadata", NULL};
	struct room *room;

	if (!api_check_types(c, strs))
		return;
	room = need_room(c);
	if (!room)
		return;
	if (room_set_metadata(room, api_req_str(c, "metadata"))) {
		api_twirp_error(c->conn, "internal", "out of memory");
		return;
	}
	api_reply_ok(c, room_json(room, false));
}

/* A string map of LiveKit's size, or NULL with the reason in *why. */
static bool attributes_ok(const json_t *attrs, const char **why)
{
	const char *k;
	json_t *v;
	size_t len = 0;

	if (!attrs || json_is_null(attrs))
		return true;
	if (!json_is_object(attrs)) {
		*why = "attributes must be a map of strings";
		return false;
	}
	json_object_foreach((json_t *)attrs, k, v)
	{
		if (!json_is_string(v)) {
			*why = "attributes must be a map of strings";
			return false;
		}
		len += strlen(k) + json_string_length(v);
	}
	if (len > PARTICIPANT_ATTRIBUTES_MAX) {
		*why = "exceeds attributes size limit";
		return false;
	}
	return true;
}

/*
 * As LiveKit's: a name or metadata given replaces the one there (empty
 * leaves it), attributes are merged (an empty value deletes one), and
 * everyone in the room is told, the participant too. Permissions are not
 * changed here: a request that asks is refused rather than half done.
 */
void api_update_participant(struct call_ctx *c)
{
	static const char *const strs[] = {"room", "identity", "name",
	                                   "metadata", NULL};
	const json_t *attrs = json_object_get(c->req, "attributes");
	const json_t *perm = json_object_get(c->req, "permission");
	const char *name = api_req_str(c, "name");
	const char *meta = api_req_str(c, "metadata");
	const char *why = NULL;
	struct participant *p;
	int err;

	if (!api_check_types(c, strs))
		return;
	if (!attributes_ok(attrs, &why) ||
	    strlen(name) >= PARTICIPANT_NAME_MAX ||
	    strlen(meta) > PARTICIPANT_METADATA_MAX) {
		api_twirp_error(c->conn, "invalid_argument",
		                why ? why
		                : strlen(name) >= PARTICIPANT_NAME_MAX
		                    ? "exceeds name length limit"
		                    : "exceeds metadata size limit");
		return;
	}
	if (perm && !json_is_null(perm)) {
		api_twirp_error(c->conn, "unimplemented",
		                "permission updates are not supported");
		return;
	}
	p = need_participant(c);
	if (!p)
		return;
	err = participant_update(p, *name ? name : NULL, *meta ? meta : NULL,
	                         json_is_object(attrs) ? attrs : NULL);
	if (err) {
		api_twirp_error(c->conn, "internal", strerror(err));
		return;
	}
	api_reply_ok(c, participant_json(p, false));
}

/* Muting another's track would need the publisher told (a WebRTC client)
 * or its packets held back (a phone call); neither is done yet, so the
 * request is refused, once the grant has been checked as LiveKit does. */
void api_mute_published_track(struct call_ctx *c)
{
	api_twirp_error(c->conn, "unimplemented",
	                "MutePublishedTrack is not supported");
}
