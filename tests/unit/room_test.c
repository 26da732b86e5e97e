/*
 * Rooms and participants on their own (no webhook, no store): who joins,
 * what each participant's owner is told of the others, tracks, updates,
 * and kicks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "core/libre.h"
#include <re_main.h>
#include <jansson.h>

#include "room/room.h"
#include "core/log.h"
#include "test.h"

/* What one participant's owner was told, in order. */
#define SEEN_MAX 16
struct owner {
	struct participant *p;
	struct {
		enum participant_change what;
		char identity[64];
		uint32_t version;
		bool leaving;
	} seen[SEEN_MAX];
	size_t n;
	unsigned kicks;
	char kick_reason[64];
};

static void owner_update(struct participant *self,
                         const struct participant *other,
                         enum participant_change what, void *arg)
{
	struct owner *o = arg;

	(void)self;
	if (o->n >= SEEN_MAX)
		return;
	o->seen[o->n].what = what;
	snprintf(o->seen[o->n].identity, sizeof(o->seen[o->n].identity), "%s",
	         other ? participant_identity(other) : "");
	o->seen[o->n].version = other ? participant_version(other) : 0;
	o->seen[o->n].leaving = other ? participant_leaving(other) : false;
	o->n++;
}

static void owner_kick(struct participant *p, const char *reason, void *arg)
{
	struct owner *o = arg;

	o->kicks++;
	snprintf(o->kick_reason, sizeof(o->kick_reason), "%s", reason);
	participant_leave(p, reason);
	o->p = NULL;
}

static const struct participant_ops owner_ops = {
    .kick = owner_kick,
    .update = owner_update,
};

static const struct participant_permission client_perm = {
    .can_subscribe = true,
    .can_publish = true,
    .can_publish_data = true,
    .can_update_metadata = true,
};

static int join(struct room *room, const char *identity, struct owner *o,
                const struct participant_permission *perm)
{
	const struct participant_info info = {
	    .identity = identity,
	    .kind = "STANDARD",
	    .permission = perm ? perm : &client_perm,
	};

	return participant_join(room, &info, &owner_ops, o, &o->p);
}

static struct rooms *rooms_new(void)
{
	const struct rooms_params prm = {.empty_timeout_s = 300};
	struct rooms *rs = NULL;

	return rooms_alloc(&rs, &prm) ? NULL : rs;
}

TEST(others_are_told)
{
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct owner a = {0}, b = {0};
	json_t *attrs;

	CHECK(rs);
	CHECK_EQ(room_ensure(rs, "r1", NULL, &room, NULL), 0);
	CHECK_EQ(join(room, "alice", &a, NULL), 0);
	CHECK_EQ(join(room, "bob", &b, NULL), 0);
	/* alice hears of bob; bob, who joined second, of nobody */
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.seen[0].what, PARTICIPANT_JOINED);
	CHECK_STR(a.seen[0].identity, "bob");
	CHECK_EQ(a.seen[0].version, 1);
	CHECK_EQ(b.n, 0);

	/* An update raises the version and reaches the others only. */
	attrs = json_pack("{s:s,s:s}", "lk.agent.state", "listening", "x", "1");
	CHECK_EQ(participant_update(b.p, "Bob", "meta", attrs), 0);
	json_decref(attrs);
	CHECK_EQ(a.n, 2);
	CHECK_EQ(a.seen[1].what, PARTICIPANT_UPDATED);
	CHECK_EQ(a.seen[1].version, 2);
	/* bob hears of his own update, as a LiveKit client does */
	CHECK_EQ(b.n, 1);
	CHECK_STR(b.seen[0].identity, "bob");
	CHECK_STR(participant_name(b.p), "Bob");
	CHECK_STR(participant_metadata(b.p), "meta");
	/* An empty value deletes the key, as LiveKit does. */
	attrs = json_pack("{s:s}", "x", "");
	CHECK_EQ(participant_update(b.p, NULL, NULL, attrs), 0);
	json_decref(attrs);
	CHECK(!json_object_get(participant_attributes(b.p), "x"));
	CHECK_STR(json_string_value(json_object_get(participant_attributes(b.p),
	                                            "lk.agent.state")),
	          "listening");
	CHECK_STR(participant_name(b.p), "Bob");
	/* Not a string map: refused, nothing changed. */
	attrs = json_pack("{s:i}", "n", 3);
	CHECK_EQ(participant_update(b.p, NULL, NULL, attrs), EINVAL);
	json_decref(attrs);
	CHECK_EQ(a.n, 3);

	CHECK_EQ(room_set_metadata(room, "room meta"), 0);
	CHECK_STR(room_metadata(room), "room meta");
	CHECK_EQ(a.seen[3].what, PARTICIPANT_ROOM);
	CHECK_EQ(b.seen[b.n - 1].what, PARTICIPANT_ROOM);

	/* Leaving: the others see it while it can still be read. */
	participant_leave(b.p, "CLIENT_INITIATED");
	CHECK_EQ(a.n, 5);
	CHECK_EQ(a.seen[4].what, PARTICIPANT_LEFT);
	CHECK_STR(a.seen[4].identity, "bob");
	CHECK(a.seen[4].leaving);
	CHECK(participant_find(room, "bob") == NULL);
	mem_deref(rs);
	/* The room's end kicked alice. */
	CHECK_EQ(a.kicks, 1);
	CHECK_STR(a.kick_reason, "ROOM_DELETED");
	return 0;
}

TEST(hidden_is_not_shown)
{
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct owner a = {0}, h = {0};
	struct participant_permission hidden = client_perm;

	hidden.hidden = true;
	CHECK_EQ(room_ensure(rs, "r2", NULL, &room, NULL), 0);
	CHECK_EQ(join(room, "alice", &a, NULL), 0);
	CHECK_EQ(join(room, "recorder", &h, &hidden), 0);
	CHECK_EQ(participant_update(h.p, NULL, "m", NULL), 0);
	participant_leave(h.p, "CLIENT_INITIATED");
	CHECK_EQ(a.n, 0);
	CHECK_EQ(h.n, 1); /* its own update */
	mem_deref(rs);
	return 0;
}

TEST(tracks)
{
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct owner a = {0}, b = {0};
	struct participant_track t = {.name = "microphone",
	                              .mime = "audio/opus"};
	const struct participant_track *found, *list;
	struct participant *pub = NULL;
	char sid[16];
	size_t n;
	json_t *j;

	CHECK_EQ(room_ensure(rs, "r3", NULL, &room, NULL), 0);
	CHECK_EQ(join(room, "alice", &a, NULL), 0);
	CHECK_EQ(join(room, "bob", &b, NULL), 0);
	CHECK_EQ(participant_track_add(b.p, &t), 0);
	CHECK(!strncmp(t.sid, "TR_", 3));
	snprintf(sid, sizeof(sid), "%s", t.sid);
	CHECK_EQ(a.seen[a.n - 1].what, PARTICIPANT_UPDATED);
	found = room_track_find(room, sid, &pub);
	CHECK(found && pub == b.p);
	CHECK_STR(found->mime, "audio/opus");

	j = participant_json(b.p, true);
	CHECK_EQ(json_array_size(json_object_get(j, "tracks")), 1);
	CHECK_STR(json_string_value(json_object_get(
	              json_array_get(json_object_get(j, "tracks"), 0), "sid")),
	          sid);
	CHECK(json_is_true(json_object_get(j, "is_publisher")));
	json_decref(j);

	CHECK_EQ(participant_track_mute(b.p, sid, true), 0);
	list = participant_tracks(b.p, &n);
	CHECK_EQ(n, 1);
	CHECK(list[0].muted);
	CHECK_EQ(participant_track_mute(b.p, "TR_nope", true), ENOENT);

	/* Full, then emptied one by one. */
	for (size_t i = 1; i < PARTICIPANT_TRACKS_MAX; i++) {
		struct participant_track more = t;

		CHECK_EQ(participant_track_add(b.p, &more), 0);
	}
	CHECK_EQ(participant_track_add(b.p, &t), ENOSPC);
	CHECK_EQ(participant_track_remove(b.p, sid), 0);
	CHECK_EQ(participant_track_remove(b.p, sid), ENOENT);
	CHECK(room_track_find(room, sid, NULL) == NULL);
	participant_tracks(b.p, &n);
	CHECK_EQ(n, PARTICIPANT_TRACKS_MAX - 1);
	mem_deref(rs);
	return 0;
}

TEST(phone_caller)
{
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct participant *p = NULL;
	const struct participant_info info = {
	    .identity = "sip_+15551234567",
	    .kind = "SIP",
	    .track = &participant_phone_track,
	};
	const struct participant_track *t;
	size_t n;

	CHECK_EQ(room_ensure(rs, "r4", NULL, &room, NULL), 0);
	CHECK_EQ(participant_join(room, &info, NULL, NULL, &p), 0);
	t = participant_tracks(p, &n);
	CHECK_EQ(n, 1);
	CHECK_STR(t->name, "phone");
	CHECK_STR(t->mime, "audio/PCMU");
	CHECK(!strncmp(t->sid, "TR_", 3));
	/* LiveKit's SIP participant: no metadata updates of its own. */
	CHECK(participant_permission(p)->can_publish);
	CHECK(!participant_permission(p)->can_update_metadata);
	/* No kick handler: a kick just leaves. */
	participant_kick(p, "PARTICIPANT_REMOVED");
	CHECK(participant_find(room, "sip_+15551234567") == NULL);
	mem_deref(rs);
	return 0;
}

TEST(refusals)
{
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct owner a = {0}, b = {0}, c = {0};
	json_t *opts = json_pack("{s:i}", "maxParticipants", 2);
	json_t *bad = json_pack("{s:b}", "x", 1);
	struct participant *p = NULL;
	const struct participant_info bad_info = {.identity = "eve",
	                                          .attributes = bad};
	const struct participant_info no_id = {.identity = ""};

	CHECK_EQ(room_ensure(rs, "r5", opts, &room, NULL), 0);
	json_decref(opts);
	CHECK_EQ(participant_join(room, &no_id, NULL, NULL, &p), EINVAL);
	CHECK_EQ(participant_join(room, &bad_info, NULL, NULL, &p), EINVAL);
	json_decref(bad);
	CHECK_EQ(join(room, "alice", &a, NULL), 0);
	CHECK_EQ(join(room, "alice", &b, NULL), EEXIST);
	CHECK_EQ(join(room, "bob", &b, NULL), 0);
	CHECK_EQ(join(room, "carol", &c, NULL), EMLINK);
	CHECK(p == NULL);
	room_delete(room);
	CHECK_EQ(a.kicks, 1);
	CHECK_EQ(b.kicks, 1);
	CHECK(room_find(rs, "r5") == NULL);
	mem_deref(rs);
	return 0;
}

TEST(participants_in_order)
{
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct owner o[3] = {0};
	const char *names[] = {"one", "two", "three"};
	struct participant *p = NULL;
	size_t i = 0;

	CHECK_EQ(room_ensure(rs, "r6", NULL, &room, NULL), 0);
	for (i = 0; i < 3; i++)
		CHECK_EQ(join(room, names[i], &o[i], NULL), 0);
	i = 0;
	while ((p = room_participant_next(room, p)) != NULL)
		CHECK_STR(participant_identity(p), names[i++]);
	CHECK_EQ(i, 3);
	CHECK(!strncmp(room_sid(room), "RM_", 3));
	mem_deref(rs);
	return 0;
}

/* What the rooms' watcher was told, in order, as "started r7 agents=1". */
struct watched {
	char seen[8][96];
	size_t n;
};

static void note(struct watched *w, const char *fmt, const char *a,
                 const char *b)
{
	if (w->n < 8)
		snprintf(w->seen[w->n++], sizeof(w->seen[0]), fmt, a, b);
}

static void watch_started(struct room *room, const json_t *opts, void *arg)
{
	note(arg, "started %s %s", room_name(room),
	     json_array_size(json_object_get(opts, "agents")) ? "agents"
	                                                      : "none");
}

static void watch_left(struct room *room, const struct participant *p,
                       void *arg)
{
	/* Still readable and in the room, already leaving. */
	if (!participant_leaving(p) ||
	    participant_find(room, participant_identity(p)) != p)
		note(arg, "wrong %s %s", room_name(room), "");
	else
		note(arg, "left %s %s", room_name(room),
		     participant_identity(p));
}

static void watch_finished(struct room *room, void *arg)
{
	note(arg, "finished %s%s", room_name(room),
	     room_participant_next(room, NULL) ? " not empty" : "");
}

TEST(watched)
{
	static const struct rooms_watch w = {
	    .started = watch_started,
	    .left = watch_left,
	    .finished = watch_finished,
	};
	struct rooms *rs = rooms_new();
	struct room *room = NULL;
	struct owner a = {0}, b = {0};
	struct watched seen = {0};
	json_t *opts = json_pack("{s:[{s:s}]}", "agents", "agentName", "x");

	CHECK(rs && opts);
	rooms_set_watch(rs, &w, &seen);
	CHECK_EQ(room_ensure(rs, "r7", opts, &room, NULL), 0);
	/* An existing room does not start again. */
	CHECK_EQ(room_ensure(rs, "r7", NULL, &room, NULL), 0);
	CHECK_EQ(join(room, "alice", &a, NULL), 0);
	CHECK_EQ(join(room, "bob", &b, NULL), 0);
	participant_leave(a.p, "CLIENT_INITIATED");
	room_delete(room);
	CHECK_EQ(room_ensure(rs, "r8", NULL, &room, NULL), 0);
	rooms_set_watch(rs, NULL, NULL);
	room_delete(room);
	CHECK_EQ(seen.n, 5);
	CHECK_STR(seen.seen[0], "started r7 agents");
	CHECK_STR(seen.seen[1], "left r7 alice");
	CHECK_STR(seen.seen[2], "left r7 bob");
	CHECK_STR(seen.seen[3], "finished r7");
	CHECK_STR(seen.seen[4], "started r8 none");
	json_decref(opts);
	mem_deref(rs);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, stderr);
	RUN(others_are_told);
	RUN(hidden_is_not_shown);
	RUN(tracks);
	RUN(phone_caller);
	RUN(refusals);
	RUN(participants_in_order);
	RUN(watched);
	libre_close();
	TEST_EXIT();
}
