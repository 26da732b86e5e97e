/*
 * RoomService: rooms and their participants, as LiveKit's Twirp API has
 * them.
 */
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
