/*
 * LiveKit's dispatch without a worker's socket: the dispatches a room gets
 * from its options, the AgentDispatchService's answers, and the agent a
 * call gets (the built-in one when its room has no LiveKit agent; else the
 * room, waiting for a job and hearing the busy message when none comes).
 * The worker protocol itself is driven by tests/integration/node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/libre.h"
#include <re_main.h>
#include <jansson.h>

#include "core/log.h"
#include "lkagent/lkagent.h"
#include "room/room.h"
#include "test.h"

#define FRAME 160

/* ---- a built-in agent that counts what it gets ------------------------ */

struct counts {
	unsigned starts, stops, frames_in, dtmf;
	char room[64];
};

static struct counts builtin_n;

static int fake_start(struct counts *n, void **statep,
                      const struct agent_call_info *info)
{
	n->starts++;
	snprintf(n->room, sizeof(n->room), "%s", info->room ? info->room : "");
	*statep = n;
	return 0;
}

static int builtin_start(void **statep, const struct agent_call_info *info,
                         const struct agent_assets *assets)
{
	(void)assets;
	return fake_start(&builtin_n, statep, info);
}

static void fake_in(void *state, const int16_t *pcm, size_t samples,
                    uint64_t arrival_us)
{
	(void)pcm;
	(void)samples;
	(void)arrival_us;
	((struct counts *)state)->frames_in++;
}

/* The built-in agent says 1: who spoke is in the audio. */
static size_t builtin_out(void *state, int16_t *pcm, size_t samples)
{
	(void)state;
	for (size_t i = 0; i < samples; i++)
		pcm[i] = 1;
	return samples;
}

static void fake_stop(void *state)
{
	((struct counts *)state)->stops++;
}

static void fake_dtmf(void *state, const char *digits, size_t n)
{
	(void)digits;
	((struct counts *)state)->dtmf += (unsigned)n;
}

static const struct agent_ops builtin = {
    .name = "builtin",
    .start = builtin_start,
    .audio_in = fake_in,
    .audio_out = builtin_out,
    .stop = fake_stop,
    .dtmf = fake_dtmf,
};

/* ---- a call: its media thread is a 20 ms timer ------------------------ */

#define BUSY_SAMPLES 480 /* 60 ms of "busy message": value 7 */

static int16_t busy_pcm[BUSY_SAMPLES];

struct call {
	const struct agent_ops *ops;
	void *state;
	struct tmr tick;
	char hangup[128];
	unsigned hangups;
	size_t busy_heard, other_heard, frames;
};

static void call_hangup(void *arg, const char *reason)
{
	struct call *c = arg;

	c->hangups++;
	snprintf(c->hangup, sizeof(c->hangup), "%s", reason);
	re_cancel();
}

static void call_tick(void *arg)
{
	struct call *c = arg;
	int16_t in[FRAME] = {0}, out[FRAME];
	size_t n;

	c->ops->audio_in(c->state, in, FRAME, 0);
	n = c->ops->audio_out(c->state, out, FRAME);
	for (size_t i = 0; i < n; i++) {
		c->busy_heard += out[i] == 7;
		c->other_heard += out[i] != 7;
	}
	if (++c->frames < 200)
		tmr_start(&c->tick, 20, call_tick, c);
	else
		re_cancel();
}

static int call_start(struct call *c, struct lkagent *lk, const char *room,
                      const char *id)
{
	const struct agent_assets assets = {.lkagent = lk};
	const struct agent_call_info info = {
	    .call_id = id,
	    .from = "sip:+15550001@example.com",
	    .to = "sip:+15550002@example.com",
	    .sample_rate = 8000,
	    .room = room,
	    .participant = "sip_+15550001",
	    .hangup = call_hangup,
	    .hangup_arg = c,
	};

	memset(c, 0, sizeof(*c));
	tmr_init(&c->tick);
	c->ops = &lkagent_call_agent;
	return c->ops->start(&c->state, &info, &assets);
}

static void call_stop(struct call *c)
{
	tmr_cancel(&c->tick);
	c->ops->stop(c->state);
}

/* Runs the loop until the call hangs up or 200 frames (4 s) pass. */
static void call_run(struct call *c)
{
	tmr_start(&c->tick, 20, call_tick, c);
	(void)re_main(NULL);
	tmr_cancel(&c->tick);
}

static void stop_loop(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Lets the loop run for ms (the rooms launch their jobs from a timer). */
static void spin(uint32_t ms)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, ms, stop_loop, NULL);
	(void)re_main(NULL);
	tmr_cancel(&t);
}

/* ---- the rig ----------------------------------------------------------- */

struct rig {
	struct rooms *rooms;
	struct lkagent *lk;
};

static int rig_up(struct rig *r, uint32_t queue_max, uint32_t timeout_ms)
{
	static const struct token_key key = {"devkey", "secret"};
	const struct rooms_params rp = {.empty_timeout_s = 300,
	                                .departure_timeout_s = 20};
	struct lkagent_params lp = {
	    .keys = {&key, 1},
	    .queue_max = queue_max,
	    .queue_timeout_ms = timeout_ms,
	    .busy = busy_pcm,
	    .busy_samples = BUSY_SAMPLES,
	    .builtin = &builtin,
	    .version = "1.9.0",
	};
	int err;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < BUSY_SAMPLES; i++)
		busy_pcm[i] = 7;
	memset(&builtin_n, 0, sizeof(builtin_n));
	err = rooms_alloc(&r->rooms, &rp);
	if (err)
		return err;
	lp.rooms = r->rooms;
	return lkagent_alloc(&r->lk, &lp);
}

static void rig_down(struct rig *r)
{
	/* lkagent first: it stops watching the rooms. */
	r->lk = mem_deref(r->lk);
	r->rooms = mem_deref(r->rooms);
}

TEST(dispatches_from_room_options)
{
	struct rig r;
	json_t *opts =
	    json_pack("{s:[{s:s,s:s,s:{s:s}},{s:s}]}", "agents", "agentName",
	              "support", "metadata", "m1", "attributes", "k", "v",
	              "agentName", "wss://bot.example.com/twilio");
	json_t *out = NULL, *arr, *d, *job;

	CHECK_EQ(rig_up(&r, 8, 30000), 0);
	CHECK_EQ(room_ensure(r.rooms, "named", opts, NULL, NULL), 0);
	spin(10);
	CHECK_EQ(lkagent_dispatch_list(r.lk, "named", NULL, &out), 0);
	arr = json_object_get(out, "agentDispatches");
	/* The bot's URL is no LiveKit agent; no automatic one beside it. */
	CHECK_EQ(json_array_size(arr), 1);
	d = json_array_get(arr, 0);
	CHECK_STR(json_string_value(json_object_get(d, "agentName")),
	          "support");
	CHECK_STR(json_string_value(json_object_get(d, "metadata")), "m1");
	CHECK_STR(json_string_value(json_object_get(d, "room")), "named");
	CHECK(!strncmp(json_string_value(json_object_get(d, "id")), "AD_", 3));
	CHECK_STR(json_string_value(
	              json_object_get(json_object_get(d, "attributes"), "k")),
	          "v");
	/* Its job waits for a worker. */
	job = json_array_get(
	    json_object_get(json_object_get(d, "state"), "jobs"), 0);
	CHECK(job);
	CHECK_STR(json_string_value(
	              json_object_get(json_object_get(job, "state"), "status")),
	          "JS_PENDING");
	CHECK_STR(json_string_value(json_object_get(job, "type")), "JT_ROOM");
	json_decref(out);

	/* No agent named: the automatic dispatch, with no job while no
	 * nameless worker is connected. */
	CHECK_EQ(room_ensure(r.rooms, "plain", NULL, NULL, NULL), 0);
	spin(10);
	CHECK_EQ(lkagent_dispatch_list(r.lk, "plain", NULL, &out), 0);
	arr = json_object_get(out, "agentDispatches");
	CHECK_EQ(json_array_size(arr), 1);
	d = json_array_get(arr, 0);
	CHECK_STR(json_string_value(json_object_get(d, "agentName")), "");
	CHECK_EQ(json_array_size(
	             json_object_get(json_object_get(d, "state"), "jobs")),
	         0);
	json_decref(out);

	CHECK_EQ(lkagent_dispatch_list(r.lk, "nowhere", NULL, &out), ENOENT);
	json_decref(opts);
	rig_down(&r);
	return 0;
}

TEST(service)
{
	struct rig r;
	json_t *req = json_pack("{s:s,s:s,s:s}", "room", "made", "agentName",
	                        "helper", "metadata", "x");
	json_t *out = NULL;
	const char *why = NULL;
	char id[32];

	CHECK_EQ(rig_up(&r, 8, 30000), 0);
	/* The room is made, as LiveKit's auto-create does. */
	CHECK_EQ(lkagent_dispatch_create(r.lk, req, &out, &why), 0);
	CHECK(room_find(r.rooms, "made") != NULL);
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(out, "id")));
	CHECK(!strncmp(id, "AD_", 3));
	json_decref(out);
	CHECK_EQ(lkagent_dispatch_list(r.lk, "made", id, &out), 0);
	CHECK_EQ(json_array_size(json_object_get(out, "agentDispatches")), 1);
	json_decref(out);
	CHECK_EQ(lkagent_dispatch_delete(r.lk, "made", "AD_none", &out), ESRCH);
	CHECK_EQ(lkagent_dispatch_delete(r.lk, "gone", id, &out), ENOENT);
	CHECK_EQ(lkagent_dispatch_delete(r.lk, "made", id, &out), 0);
	CHECK_STR(json_string_value(json_object_get(out, "id")), id);
	json_decref(out);
	CHECK_EQ(lkagent_dispatch_list(r.lk, "made", id, &out), 0);
	CHECK_EQ(json_array_size(json_object_get(out, "agentDispatches")), 0);
	json_decref(out);

	/* Refusals. */
	json_object_set_new(req, "room", json_string(""));
	CHECK_EQ(lkagent_dispatch_create(r.lk, req, &out, &why), EINVAL);
	CHECK(why != NULL);
	json_object_set_new(req, "room", json_string("made"));
	json_object_set_new(req, "attributes", json_pack("{s:i}", "n", 1));
	CHECK_EQ(lkagent_dispatch_create(r.lk, req, &out, &why), EINVAL);
	json_decref(req);
	rig_down(&r);
	return 0;
}

TEST(builtin_without_livekit_agents)
{
	struct rig r;
	struct call c;
	int16_t out[FRAME];

	CHECK_EQ(rig_up(&r, 8, 30000), 0);
	CHECK_EQ(room_ensure(r.rooms, "plain", NULL, NULL, NULL), 0);
	CHECK_EQ(call_start(&c, r.lk, "plain", "call-1"), 0);
	CHECK_EQ(builtin_n.starts, 1);
	CHECK_STR(builtin_n.room, "plain");
	c.ops->audio_in(c.state, out, FRAME, 0);
	CHECK_EQ(c.ops->audio_out(c.state, out, FRAME), FRAME);
	CHECK_EQ(out[0], 1);
	c.ops->dtmf(c.state, "12", 2);
	CHECK_EQ(builtin_n.dtmf, 2);
	call_stop(&c);
	CHECK_EQ(builtin_n.stops, 1);
	/* A call in no room at all gets it too. */
	CHECK_EQ(call_start(&c, r.lk, NULL, "call-2"), 0);
	CHECK_EQ(builtin_n.starts, 2);
	call_stop(&c);
	rig_down(&r);
	return 0;
}

TEST(waits_then_busy)
{
	struct rig r;
	struct call c;
	json_t *opts = json_pack("{s:[{s:s}]}", "agents", "agentName", "none");

	CHECK_EQ(rig_up(&r, 8, 200), 0);
	CHECK_EQ(room_ensure(r.rooms, "named", opts, NULL, NULL), 0);
	CHECK_EQ(call_start(&c, r.lk, "named", "call-3"), 0);
	/* The room is the call's agent while it waits: not the built-in
	 * one, and silent (the room's media mixes the room in itself). */
	CHECK_EQ(builtin_n.starts, 0);
	call_run(&c);
	CHECK_EQ(c.hangups, 1);
	CHECK(strstr(c.hangup, "in time") != NULL);
	/* The busy message, whole, and nothing else. */
	CHECK_EQ(c.busy_heard, BUSY_SAMPLES);
	CHECK_EQ(c.other_heard, 0);
	call_stop(&c);
	CHECK_EQ(builtin_n.stops, 0);
	json_decref(opts);
	rig_down(&r);
	return 0;
}

TEST(queue_is_bounded)
{
	struct rig r;
	struct call a, b;
	json_t *opts = json_pack("{s:[{s:s}]}", "agents", "agentName", "none");

	CHECK_EQ(rig_up(&r, 1, 30000), 0);
	CHECK_EQ(room_ensure(r.rooms, "q1", opts, NULL, NULL), 0);
	CHECK_EQ(room_ensure(r.rooms, "q2", opts, NULL, NULL), 0);
	CHECK_EQ(call_start(&a, r.lk, "q1", "call-4"), 0);
	CHECK_EQ(call_start(&b, r.lk, "q2", "call-5"), 0);
	/* The second heard the busy message at once, and hung up. */
	call_run(&b);
	CHECK_EQ(b.hangups, 1);
	CHECK_STR(b.hangup, "every agent is busy");
	CHECK_EQ(a.hangups, 0);
	call_stop(&b);
	call_stop(&a);
	json_decref(opts);
	rig_down(&r);
	return 0;
}

TEST(room_ends_under_a_call)
{
	struct rig r;
	struct call c;
	struct room *room = NULL;
	json_t *opts = json_pack("{s:[{s:s}]}", "agents", "agentName", "none");

	CHECK_EQ(rig_up(&r, 8, 30000), 0);
	CHECK_EQ(room_ensure(r.rooms, "doomed", opts, &room, NULL), 0);
	CHECK_EQ(call_start(&c, r.lk, "doomed", "call-6"), 0);
	room_delete(room);
	/* The call outlives its room, and then lkagent. */
	r.lk = mem_deref(r.lk);
	call_stop(&c);
	CHECK_EQ(builtin_n.stops, 0);
	json_decref(opts);
	rig_down(&r);
	return 0;
}

static const char *bot_of(struct lkagent *lk, const char *room)
{
	const char *url = lkagent_room_bot(lk, room);

	return url ? url : "";
}

/* Rooms found by name among thousands (a room per call), a room gone
 * once it ends, and a room made again under its name found anew. */
TEST(rooms_by_name)
{
	enum { N = 3000 };
	struct room **room = calloc(N, sizeof(*room));
	char name[32], url[64];
	struct rig r;
	json_t *opts;

	CHECK(room);
	CHECK_EQ(rig_up(&r, 8, 30000), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "room-%d", i);
		snprintf(url, sizeof(url), "wss://bot.example.com/%d", i);
		opts = json_pack("{s:[{s:s}]}", "agents", "agentName", url);
		CHECK_EQ(room_ensure(r.rooms, name, opts, &room[i], NULL), 0);
		json_decref(opts);
	}
	for (int i = 0; i < N; i += 7) {
		snprintf(name, sizeof(name), "room-%d", i);
		snprintf(url, sizeof(url), "wss://bot.example.com/%d", i);
		CHECK_STR(bot_of(r.lk, name), url);
	}
	CHECK(!lkagent_room_bot(r.lk, "room-3000"));
	CHECK(!lkagent_room_bot(r.lk, "ROOM-1"));
	for (int i = 0; i < N; i += 2)
		room_delete(room[i]);
	spin(10);
	CHECK(!lkagent_room_bot(r.lk, "room-0"));
	CHECK(!lkagent_room_bot(r.lk, "room-2998"));
	CHECK_STR(bot_of(r.lk, "room-2999"), "wss://bot.example.com/2999");
	opts = json_pack("{s:[{s:s}]}", "agents", "agentName",
	                 "wss://bot.example.com/again");
	CHECK_EQ(room_ensure(r.rooms, "room-0", opts, NULL, NULL), 0);
	json_decref(opts);
	CHECK_STR(bot_of(r.lk, "room-0"), "wss://bot.example.com/again");
	rig_down(&r);
	free(room);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, stderr);
	RUN(dispatches_from_room_options);
	RUN(service);
	RUN(builtin_without_livekit_agents);
	RUN(waits_then_busy);
	RUN(queue_is_bounded);
	RUN(room_ends_under_a_call);
	RUN(rooms_by_name);
	libre_close();
	TEST_EXIT();
}
