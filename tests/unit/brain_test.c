/*
 * The brains without a pipeline: the echo reply, script files (a good one,
 * and bad ones whose errors must name the line), a dialog through a
 * script, the LLM brain's errors reaching the caller, and its tool calls
 * against a stand-in server that answers each completion of a turn from a
 * script (one connection each): the rounds' requests as OpenAI expects
 * them, the handlers' answers, bad calls told to the model, the bound on
 * rounds; the same tools run for another model (brain_tool_run). The LLM
 * brain's plain requests are checked in pipeline_test.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/libre.h"
#include <re_main.h>
#include "net/httpc.h"
#include "worker/brain.h"

#include "standin.h"
#include "test.h"

struct said {
	char text[512];
	size_t len;
	int pieces;
};

static void on_text(const char *text, size_t len, void *arg)
{
	struct said *s = arg;

	if (s->len + len < sizeof(s->text)) {
		memcpy(s->text + s->len, text, len);
		s->len += len;
		s->text[s->len] = '\0';
	}
	s->pieces++;
}

static struct httpc *hc;

struct outcome {
	bool done;
	int err;
	bool hangup;
	char why[256];
};

/* One argument for both handlers: the text goes to s. */
struct run {
	struct said *s;
	struct outcome o;
};

static void run_text(const char *text, size_t len, void *arg)
{
	struct run *r = arg;

	on_text(text, len, r->s);
}

static void run_done(int err, const char *why, bool hangup, void *arg)
{
	struct run *r = arg;

	r->o.done = true;
	r->o.err = err;
	r->o.hangup = hangup;
	snprintf(r->o.why, sizeof(r->o.why), "%s", why ? why : "");
	re_cancel();
}

static void give_up(void *arg)
{
	(void)arg;
	re_cancel();
}

static void run_for(unsigned ms)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, ms, give_up, NULL);
	re_main(NULL);
	tmr_cancel(&t);
}

/* A reply on the loop, waited for: its error, the reason in *why (valid
 * until the next), hangup in *hangup. */
static int run_reply(const struct brain_config *cfg,
                     const struct llm_message *hist, size_t n, struct said *s,
                     bool *hangup, const char **why)
{
	static struct run r;
	struct brain_reply *br = NULL;
	int err;

	memset(&r, 0, sizeof(r));
	r.s = s;
	err = brain_reply_start(&br, cfg, hc, hist, n, run_text, run_done, &r,
	                        why);
	if (err)
		return err;
	/* Never from inside brain_reply_start. */
	if (r.o.done || s->pieces)
		return -2;
	run_for(5000);
	mem_deref(br);
	if (!r.o.done)
		return -1;
	if (hangup)
		*hangup = !r.o.err && r.o.hangup;
	if (why)
		*why = r.o.why;
	return r.o.err;
}

/* The reply of cfg to one user message. */
static int ask(const struct brain_config *cfg, const char *heard,
               struct said *s, bool *hangup)
{
	struct llm_message m = {"user", heard};

	memset(s, 0, sizeof(*s));
	*hangup = true;
	return run_reply(cfg, &m, 1, s, hangup, NULL);
}

/* Writes text to a new temporary file; its name goes to path. */
static int write_tmp(const char *text, size_t len, char *path, size_t pathsz)
{
	int fd;

	snprintf(path, pathsz, "/tmp/voxgate-brain-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

TEST(echo)
{
	struct brain_config cfg = {.kind = BRAIN_ECHO};
	struct llm_message two[] = {{"user", "first"},
	                            {"assistant", "You said: first."},
	                            {"user", "second one  "}};
	struct brain_reply *br = NULL;
	const char *why;
	struct said s;
	bool hangup;

	CHECK_EQ(ask(&cfg, "hello world", &s, &hangup), 0);
	CHECK_STR(s.text, "You said: hello world.");
	CHECK(!hangup);
	CHECK_EQ(ask(&cfg, "DTMF: 12#", &s, &hangup), 0);
	CHECK_STR(s.text, "You said: DTMF: 12#.");
	CHECK_EQ(ask(&cfg, "is it open?", &s, &hangup), 0);
	CHECK_STR(s.text, "You said: is it open?");

	/* The last message is the one answered. */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(run_reply(&cfg, two, 3, &s, NULL, NULL), 0);
	CHECK_STR(s.text, "You said: second one.");

	/* Released before it answered: nothing comes. */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(brain_reply_start(&br, &cfg, hc, two, 3, on_text, run_done, &s,
	                           NULL),
	         0);
	br = mem_deref(br);
	run_for(50);
	CHECK_EQ(s.pieces, 0);

	why = NULL;
	CHECK_EQ(brain_reply_start(&br, NULL, hc, two, 3, on_text, run_done, &s,
	                           &why),
	         EINVAL);
	CHECK(why && why[0] != '\0');
	CHECK_EQ(brain_reply_start(&br, &cfg, hc, two, 0, on_text, run_done, &s,
	                           NULL),
	         EINVAL);
	CHECK_EQ(
	    brain_reply_start(&br, &cfg, hc, two, 3, NULL, run_done, &s, NULL),
	    EINVAL);
	CHECK_EQ(
	    brain_reply_start(&br, &cfg, hc, two, 3, on_text, NULL, &s, NULL),
	    EINVAL);
	CHECK(br == NULL);
	return 0;
}

static const char good_script[] = "# A table booking line.\n"
                                  "\n"
                                  "> book table | reservation\n"
                                  ">   make   a booking\n"
                                  "< Sure.\n"
                                  "<   For how many people?  \n"
                                  "> TWO | four\r\n"
                                  "< Done, see you then.\n"
                                  "> that's all | goodbye\n"
                                  "< Goodbye!\n"
                                  "! hangup\n"
                                  "? Sorry, I can only take bookings.\n"
                                  "< Say book a table.\n";

TEST(script_dialog)
{
	struct brain_config cfg = {.kind = BRAIN_SCRIPT};
	struct brain_script *script = NULL;
	const char *why = NULL;
	char path[64];
	struct said s;
	bool hangup;

	CHECK_EQ(
	    write_tmp(good_script, sizeof(good_script) - 1, path, sizeof(path)),
	    0);
	CHECK_EQ(brain_script_alloc(&script), 0);
	CHECK_EQ(brain_script_load(script, path, &why), 0);
	unlink(path);
	CHECK(why == NULL);
	cfg.script = script;

	/* Words in any order and case, whole words only. */
	CHECK_EQ(ask(&cfg, "i would like to book a table", &s, &hangup), 0);
	CHECK_STR(s.text, "Sure. For how many people?");
	CHECK(!hangup);
	CHECK_EQ(ask(&cfg, "TABLE, please; Book it", &s, &hangup), 0);
	CHECK_STR(s.text, "Sure. For how many people?");
	CHECK_EQ(ask(&cfg, "can i make a booking", &s, &hangup), 0);
	CHECK_STR(s.text, "Sure. For how many people?");
	CHECK_EQ(ask(&cfg, "a reservation", &s, &hangup), 0);
	CHECK_STR(s.text, "Sure. For how many people?");
	CHECK_EQ(ask(&cfg, "booking tables", &s, &hangup), 0);
	CHECK_STR(s.text, "Sorry, I can only take bookings. Say book a table.");
	/* The first rule that matches answers. */
	CHECK_EQ(ask(&cfg, "book a table for two", &s, &hangup), 0);
	CHECK_STR(s.text, "Sure. For how many people?");
	CHECK_EQ(ask(&cfg, "two", &s, &hangup), 0);
	CHECK_STR(s.text, "Done, see you then.");
	CHECK(!hangup);
	CHECK_EQ(ask(&cfg, "twofold", &s, &hangup), 0);
	CHECK_STR(s.text, "Sorry, I can only take bookings. Say book a table.");
	CHECK(!hangup);
	CHECK_EQ(ask(&cfg, "no that's all thanks", &s, &hangup), 0);
	CHECK_STR(s.text, "Goodbye!");
	CHECK(hangup);
	CHECK_EQ(s.pieces, 1);

	mem_deref(script);
	return 0;
}

struct bad {
	const char *text;
	const char *why; /* after "<path>:" */
};

TEST(script_errors)
{
	static const struct bad bad[] = {
	    {"< hello\n? f\n", "1: a reply with no rule (>) or fallback (?) "
	                       "before it"},
	    {"# c\n> book\n>  \n< x\n? f\n",
	     "3: an empty alternative in the pattern"},
	    {"> a | | b\n< x\n? f\n", "1: an empty alternative in the pattern"},
	    {"> a |\n< x\n? f\n", "1: an empty alternative in the pattern"},
	    {"> ...\n< x\n? f\n", "1: an empty alternative in the pattern"},
	    {"\n\n> a\n? f\n", "3: the rule has no reply (<)"},
	    {"? f\n> a\n> b\n", "2: the rule has no reply (<)"},
	    {"? x\n\n? y\n", "3: a second fallback (the first is on line 1)"},
	    {"! hangup\n? f\n", "1: \"! hangup\" with no reply before it"},
	    {"> a\n! hangup\n< x\n? f\n",
	     "2: \"! hangup\" with no reply before it"},
	    {"> a\n< b\n! quit\n? f\n",
	     "3: an unknown directive (the only one is \"! hangup\")"},
	    {"? f\nhello\n", "2: a line must start with #, >, <, ? or !"},
	    {"?\n", "1: an empty fallback reply"},
	    {"> a\n<\n? f\n", "2: an empty reply"},
	    {"> a\n< b\n", " no fallback reply (a line starting with ?)"},
	    {"", " no fallback reply (a line starting with ?)"},
	};
	struct brain_config cfg = {.kind = BRAIN_SCRIPT};
	struct brain_script *script = NULL;
	const char *why;
	char path[64], want[320];
	struct said s;
	bool hangup;

	CHECK_EQ(brain_script_alloc(&script), 0);
	cfg.script = script;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(write_tmp(bad[i].text, strlen(bad[i].text), path,
		                   sizeof(path)),
		         0);
		why = NULL;
		CHECK_EQ(brain_script_load(script, path, &why), EINVAL);
		unlink(path);
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].why);
		CHECK(why != NULL);
		CHECK_STR(why, want);
	}

	/* A NUL would hide the rest of its line. */
	CHECK_EQ(write_tmp("? f\n> a\0b\n< c\n", 14, path, sizeof(path)), 0);
	CHECK_EQ(brain_script_load(script, path, &why), EINVAL);
	unlink(path);
	snprintf(want, sizeof(want), "%s:2: a NUL byte in the line", path);
	CHECK_STR(why, want);

	CHECK_EQ(brain_script_load(script, "/nonexistent/x.script", &why),
	         ENOENT);
	CHECK_STR(why, "/nonexistent/x.script: No such file or directory");
	why = NULL;
	CHECK_EQ(brain_script_load(script, NULL, &why), EINVAL);
	CHECK(why && why[0] != '\0');
	CHECK_EQ(brain_script_load(NULL, "x", NULL), EINVAL);

	/* A failed load leaves no script: its rules are not half there. */
	CHECK_EQ(
	    write_tmp(good_script, sizeof(good_script) - 1, path, sizeof(path)),
	    0);
	CHECK_EQ(brain_script_load(script, path, NULL), 0);
	unlink(path);
	CHECK_EQ(ask(&cfg, "book a table", &s, &hangup), 0);
	CHECK_EQ(write_tmp("> a\n< b\n", 8, path, sizeof(path)), 0);
	CHECK_EQ(brain_script_load(script, path, &why), EINVAL);
	unlink(path);
	CHECK(strstr(why, "no fallback reply"));
	CHECK_EQ(ask(&cfg, "book a table", &s, &hangup), EINVAL);
	CHECK_EQ(s.pieces, 0);
	mem_deref(script);
	return 0;
}

/* The example shipped with voxgate must load and hold a goodbye. */
TEST(script_example)
{
	struct brain_config cfg = {.kind = BRAIN_SCRIPT};
	struct brain_script *script = NULL;
	struct said s;
	bool hangup;

	CHECK_EQ(brain_script_alloc(&script), 0);
	CHECK_EQ(brain_script_load(script, "examples/booking.script", NULL), 0);
	cfg.script = script;
	CHECK_EQ(ask(&cfg, "goodbye", &s, &hangup), 0);
	CHECK(hangup);
	CHECK(s.len > 0);
	CHECK_EQ(ask(&cfg, "purple elephants", &s, &hangup), 0);
	CHECK(!hangup);
	mem_deref(script);
	return 0;
}

TEST(llm_errors)
{
	struct brain_config cfg = {.kind = BRAIN_LLM};
	struct llm_message m = {"user", "hi"};
	const char *why = NULL;
	struct said s = {0};
	bool hangup = true;

	/* Port 1 on loopback: nothing listens there. */
	llm_params_default(&cfg.llm);
	cfg.llm.base_url = "http://127.0.0.1:1/v1";
	cfg.llm.model = "m";
	cfg.system_prompt = "Be brief.";
	CHECK_EQ(run_reply(&cfg, &m, 1, &s, &hangup, &why), ECONNREFUSED);
	/* The LLM's own words. */
	CHECK(strncmp(why, "cannot connect to http://127.0.0.1:1/v1", 39) == 0);
	CHECK(!hangup);
	CHECK_EQ(s.pieces, 0);
	/* No HTTP client to send it with. */
	{
		struct brain_reply *br = NULL;

		why = NULL;
		CHECK_EQ(brain_reply_start(&br, &cfg, NULL, &m, 1, on_text,
		                           run_done, &s, &why),
		         EINVAL);
		CHECK(why && why[0]);
	}
	return 0;
}

/* ---- tool calls ---------------------------------------------------------- */

#define CHUNK(delta)                                                           \
	"data: {\"choices\":[{\"index\":0,\"delta\":" delta                    \
	",\"finish_reason\":null}]}\n\n"
#define CALL(i, id, name)                                                      \
	CHUNK("{\"tool_calls\":[{\"index\":" #i ",\"id\":\"" id                \
	      "\",\"type\":\"function\",\"function\":{\"name\":\"" name        \
	      "\",\"arguments\":\"\"}}]}")
#define ARGS(i, a)                                                             \
	CHUNK("{\"tool_calls\":[{\"index\":" #i                                \
	      ",\"function\":{\"arguments\":\"" a "\"}}]}")
#define FINISH(why)                                                            \
	"data: "                                                               \
	"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"" why     \
	"\"}]}\n\n"

/* Answers the i-th request with bodies[i], each on its own connection,
 * and keeps the requests' bodies. */
struct multi {
	int lfd;
	char base[64];
	pthread_t th;
	atomic_bool stop;
	const char *const *bodies;
	size_t n;
	char *req[8];
	size_t got;
};

static void *multi_run(void *arg)
{
	struct multi *m = arg;

	for (size_t i = 0; i < m->n && i < 8; i++) {
		int fd = standin_accept(m->lfd, &m->stop);
		char *head = NULL, *body = NULL, hdr[200];

		if (fd < 0)
			return NULL;
		if (standin_read_request(fd, &head, &body) == 0) {
			snprintf(hdr, sizeof(hdr),
			         "HTTP/1.1 200 OK\r\nContent-Type: "
			         "text/event-stream\r\nConnection: close\r\n"
			         "Content-Length: %zu\r\n\r\n",
			         strlen(m->bodies[i]));
			m->req[m->got++] = body;
			body = NULL;
			(void)(standin_send_all(fd, hdr, strlen(hdr)) &&
			       standin_send_all(fd, m->bodies[i],
			                        strlen(m->bodies[i])));
		}
		free(head);
		free(body);
		close(fd);
	}
	return NULL;
}

static int multi_start(struct multi *m, const char *const *bodies, size_t n)
{
	int port;

	memset(m, 0, sizeof(*m));
	m->bodies = bodies;
	m->n = n;
	m->lfd = standin_listen(&port);
	if (m->lfd < 0)
		return -1;
	snprintf(m->base, sizeof(m->base), "http://127.0.0.1:%d/v1", port);
	return pthread_create(&m->th, NULL, multi_run, m);
}

static void multi_stop(struct multi *m)
{
	atomic_store(&m->stop, true);
	pthread_join(m->th, NULL);
	close(m->lfd);
}

/* The requests, once checked. */
static void multi_free(struct multi *m)
{
	for (size_t i = 0; i < m->got; i++)
		free(m->req[i]);
	m->got = 0;
}

/* What the handlers saw, and how they answer. */
static struct {
	int calls;
	char args[256];
	bool later;  /* answer from a timer */
	bool refuse; /* return an error */
	struct brain_tool_call *held;
	struct tmr tmr;
} tools_seen;

static const struct brain_tool_result end_result = {
    .content = "{\"ok\":true}", .say = "Goodbye.", .hangup = true};
static const struct brain_tool_result hours_result = {
    .content = "{\"open\":\"nine to five\"}", .say = "We are open."};

static void answer_later(void *arg)
{
	(void)arg;
	brain_tool_answer(tools_seen.held, &hours_result);
	tools_seen.held = mem_deref(tools_seen.held);
}

static int end_h(struct brain_tool_call *call, const char *args, void *arg,
                 const char **why)
{
	(void)arg;
	(void)why;
	tools_seen.calls++;
	snprintf(tools_seen.args, sizeof(tools_seen.args), "%s", args);
	brain_tool_answer(call, &end_result);
	return 0;
}

static int hours_h(struct brain_tool_call *call, const char *args, void *arg,
                   const char **why)
{
	(void)arg;
	tools_seen.calls++;
	snprintf(tools_seen.args, sizeof(tools_seen.args), "%s", args);
	if (tools_seen.refuse) {
		*why = "the calendar is closed";
		return EPERM;
	}
	if (!tools_seen.later) {
		brain_tool_answer(call, &hours_result);
		return 0;
	}
	tools_seen.held = mem_ref(call);
	tmr_start(&tools_seen.tmr, 50, answer_later, NULL);
	return 0;
}

static const struct brain_tool test_tools[] = {
    {{"end_call", "Ends the call.", "{\"type\":\"object\",\"properties\":{}}"},
     end_h},
    {{"opening_hours", "The opening hours.",
      "{\"type\":\"object\",\"properties\":{\"day\":{\"type\":\"string\"}}}"},
     hours_h},
};

static void tools_cfg(struct brain_config *cfg, const struct multi *m)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = BRAIN_LLM;
	llm_params_default(&cfg->llm);
	cfg->llm.base_url = m->base;
	cfg->llm.model = "m";
	cfg->tools = test_tools;
	cfg->ntools = 2;
	memset(&tools_seen, 0, sizeof(tools_seen));
	tmr_init(&tools_seen.tmr);
}

/* The model says goodbye and ends the call: no second completion; the
 * request offered the tools as OpenAI takes them. */
TEST(tool_end_call)
{
	static const char *const bodies[] = {
	    TEXT("Goodbye, ") TEXT("and thanks.") CALL(0, "call_1", "end_call")
	        ARGS(0, "{}") FINISH("tool_calls") DONE,
	    CALL(0, "call_2", "end_call") FINISH("tool_calls") DONE,
	};
	struct brain_config cfg;
	struct llm_message m = {"user", "bye"};
	struct multi srv;
	struct said s = {0};
	bool hangup = false;
	const char *why = NULL;

	CHECK(multi_start(&srv, bodies, 1) == 0);
	tools_cfg(&cfg, &srv);
	CHECK_EQ(run_reply(&cfg, &m, 1, &s, &hangup, &why), 0);
	multi_stop(&srv);
	CHECK(hangup);
	CHECK_STR(s.text, "Goodbye, and thanks.");
	CHECK_EQ(tools_seen.calls, 1);
	CHECK_STR(tools_seen.args, "{}");
	CHECK_EQ(srv.got, 1);
	CHECK(
	    strstr(srv.req[0],
	           "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
	           "\"end_call\",\"description\":\"Ends the call.\","
	           "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}"));
	CHECK(!strstr(srv.req[0], "tool_choice"));
	multi_free(&srv);

	/* No words of its own: the handler's goodbye is said. */
	CHECK(multi_start(&srv, bodies + 1, 1) == 0);
	tools_cfg(&cfg, &srv);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(run_reply(&cfg, &m, 1, &s, &hangup, &why), 0);
	multi_stop(&srv);
	CHECK(hangup);
	CHECK_STR(s.text, "Goodbye.");
	multi_free(&srv);
	return 0;
}

/* A call answered later, from the loop: the next completion carries the
 * assistant's calls and the tool's answer, and its words follow the first
 * round's as a sentence of their own. */
TEST(tool_round_trip)
{
	static const char *const bodies[] = {
	    TEXT("Let me look.") CALL(0, "call_a", "opening_hours")
	        ARGS(0, "{\\\"day\\\":") ARGS(0, "\\\"monday\\\"}")
	            FINISH("tool_calls") DONE,
	    TEXT("We open at nine.") FINISH("stop") DONE,
	};
	struct brain_config cfg;
	struct llm_message m = {"user", "when do you open"};
	struct multi srv;
	struct said s = {0};
	bool hangup = true;
	const char *why = NULL;

	CHECK(multi_start(&srv, bodies, 2) == 0);
	tools_cfg(&cfg, &srv);
	tools_seen.later = true;
	CHECK_EQ(run_reply(&cfg, &m, 1, &s, &hangup, &why), 0);
	multi_stop(&srv);
	CHECK(!hangup);
	CHECK_STR(s.text, "Let me look. We open at nine.");
	CHECK_STR(tools_seen.args, "{\"day\":\"monday\"}");
	CHECK_EQ(srv.got, 2);
	CHECK(strstr(srv.req[1],
	             "{\"role\":\"assistant\",\"content\":\"Let me look.\","
	             "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\","
	             "\"function\":{\"name\":\"opening_hours\",\"arguments\":"
	             "\"{\\\"day\\\":\\\"monday\\\"}\"}}]}"));
	CHECK(strstr(srv.req[1],
	             "{\"role\":\"tool\",\"content\":\"{\\\"open\\\":\\\"nine "
	             "to five\\\"}\",\"tool_call_id\":\"call_a\"}"));
	/* The second of three completions may still call tools. */
	CHECK(!strstr(srv.req[1], "tool_choice"));
	multi_free(&srv);
	return 0;
}

/* A held reply's text comes, its calls wait: no handler runs until it is
 * released, then the round trip goes on as before. */
TEST(tool_held_until_released)
{
	static const char *const bodies[] = {
	    TEXT("Let me look.") CALL(0, "call_a", "opening_hours")
	        ARGS(0, "{}") FINISH("tool_calls") DONE,
	    TEXT("We open at nine.") FINISH("stop") DONE,
	};
	struct brain_config cfg;
	struct llm_message m = {"user", "when do you open"};
	struct multi srv;
	struct said s = {0};
	static struct run r;
	struct brain_reply *br = NULL;
	const char *why = NULL;

	CHECK(multi_start(&srv, bodies, 2) == 0);
	tools_cfg(&cfg, &srv);
	memset(&r, 0, sizeof(r));
	r.s = &s;
	CHECK_EQ(brain_reply_start(&br, &cfg, hc, &m, 1, run_text, run_done, &r,
	                           &why),
	         0);
	brain_reply_hold(br, true);
	run_for(500);
	CHECK(!r.o.done);
	CHECK_EQ(tools_seen.calls, 0);
	CHECK_STR(s.text, "Let me look.");
	brain_reply_hold(br, false);
	/* Not from inside the release. */
	CHECK_EQ(tools_seen.calls, 0);
	run_for(5000);
	mem_deref(br);
	multi_stop(&srv);
	CHECK(r.o.done);
	CHECK_EQ(r.o.err, 0);
	CHECK_EQ(tools_seen.calls, 1);
	CHECK_EQ(srv.got, 2);
	CHECK_STR(s.text, "Let me look. We open at nine.");
	multi_free(&srv);
	return 0;
}

/* An unknown tool, arguments that are not JSON and a handler's refusal
 * each go back to the model as an error; the turn goes on. */
TEST(tool_errors)
{
	static const char *const bodies[] = {
	    CALL(0, "c0", "fly_to_the_moon") ARGS(0, "{}")
	        CALL(1, "c1", "opening_hours") ARGS(1, "{\\\"day\\\":")
	            CALL(2, "c2", "opening_hours") ARGS(2, "[1]")
	                CALL(3, "c3", "opening_hours") ARGS(3, "{}")
	                    FINISH("tool_calls") DONE,
	    TEXT("Sorry about that.") FINISH("stop") DONE,
	};
	struct brain_config cfg;
	struct llm_message m = {"user", "hours"};
	struct multi srv;
	struct said s = {0};
	bool hangup = true;
	const char *why = NULL;
	const char *r;

	CHECK(multi_start(&srv, bodies, 2) == 0);
	tools_cfg(&cfg, &srv);
	tools_seen.refuse = true;
	CHECK_EQ(run_reply(&cfg, &m, 1, &s, &hangup, &why), 0);
	multi_stop(&srv);
	CHECK_STR(s.text, "Sorry about that.");
	/* Only the well-formed call reached the handler. */
	CHECK_EQ(tools_seen.calls, 1);
	CHECK_EQ(srv.got, 2);
	r = srv.req[1];
	CHECK(strstr(r, "there is no tool of that name"));
	CHECK(strstr(r, "\"tool_call_id\":\"c0\""));
	CHECK(strstr(r, "the arguments are not a JSON object"));
	CHECK(strstr(r, "\"tool_call_id\":\"c2\""));
	CHECK(strstr(r, "the calendar is closed"));
	CHECK(strstr(r, "\"tool_call_id\":\"c3\""));
	multi_free(&srv);
	return 0;
}

/* A model that calls tools round after round: the last completion is
 * asked for words only, and calls in it end the turn with an error. */
TEST(tool_rounds_bounded)
{
	static const char *const bodies[] = {
	    CALL(0, "c0", "opening_hours") FINISH("tool_calls") DONE,
	    CALL(0, "c1", "opening_hours") FINISH("tool_calls") DONE,
	    CALL(0, "c2", "opening_hours") FINISH("tool_calls") DONE,
	};
	struct brain_config cfg;
	struct llm_message m = {"user", "hours"};
	struct multi srv;
	struct said s = {0};
	bool hangup = true;
	const char *why = NULL;

	_Static_assert(BRAIN_TOOL_ROUNDS == 3, "the script has 3 rounds");
	CHECK(multi_start(&srv, bodies, 3) == 0);
	tools_cfg(&cfg, &srv);
	CHECK_EQ(run_reply(&cfg, &m, 1, &s, &hangup, &why), EPROTO);
	multi_stop(&srv);
	CHECK(strstr(why, "past 3 completions"));
	CHECK_EQ(tools_seen.calls, 2);
	CHECK_EQ(srv.got, 3);
	CHECK(!strstr(srv.req[1], "tool_choice"));
	CHECK(strstr(srv.req[2], "\"tool_choice\":\"none\""));
	multi_free(&srv);
	return 0;
}

static void drop_reply(void *arg)
{
	struct brain_reply **br = arg;

	*br = mem_deref(*br);
	re_cancel();
}

/* The reply goes while its tool's answer is awaited: the answer, when it
 * comes, is dropped, and no handler of the reply is called. */
TEST(tool_answer_after_cancel)
{
	static const char *const bodies[] = {
	    CALL(0, "c0", "opening_hours") FINISH("tool_calls") DONE,
	};
	struct brain_config cfg;
	struct llm_message m = {"user", "hours"};
	struct multi srv;
	struct said s = {0};
	struct brain_reply *br = NULL;
	struct tmr t;
	struct run r = {.s = &s};
	const char *why = NULL;

	CHECK(multi_start(&srv, bodies, 1) == 0);
	tools_cfg(&cfg, &srv);
	tools_seen.later = true;
	CHECK_EQ(brain_reply_start(&br, &cfg, hc, &m, 1, run_text, run_done, &r,
	                           &why),
	         0);
	/* The handler is called, then the reply goes before its answer. */
	tmr_init(&t);
	while (!tools_seen.calls && !r.o.done) {
		tmr_start(&t, 5, give_up, NULL);
		re_main(NULL);
	}
	CHECK_EQ(tools_seen.calls, 1);
	tmr_start(&t, 0, drop_reply, &br);
	re_main(NULL);
	CHECK(!br);
	run_for(150); /* the answer's timer fires */
	tmr_cancel(&t);
	multi_stop(&srv);
	CHECK(!tools_seen.held);
	CHECK(!r.o.done);
	CHECK_EQ(s.pieces, 0);
	multi_free(&srv);
	return 0;
}

/* brain_tool_run: a call of another model, on the same table. */
static struct {
	int answers;
	char content[128];
	void *arg;
	bool freed;
} ran;

static void ran_answer(const struct brain_tool_result *r, void *arg)
{
	ran.answers++;
	snprintf(ran.content, sizeof(ran.content), "%s", r->content);
	ran.arg = arg;
}

static void ran_destructor(void *arg)
{
	(void)arg;
	ran.freed = true;
}

/* Refused as the LLM brain refuses its calls (no such tool, arguments
 * that are not an object, the handler's refusal: no answer); answered at
 * once or from the loop, its argument held until then. */
TEST(tool_run)
{
	const char *why = NULL;
	void *a = mem_zalloc(1, ran_destructor);

	CHECK(a);
	memset(&ran, 0, sizeof(ran));
	memset(&tools_seen, 0, sizeof(tools_seen));
	tmr_init(&tools_seen.tmr);
	CHECK_EQ(brain_tool_run(test_tools, 2, "fly", "{}", NULL, ran_answer, a,
	                        &why),
	         EINVAL);
	CHECK_STR(why, "there is no tool of that name");
	CHECK_EQ(brain_tool_run(test_tools, 2, "opening_hours", "[1]", NULL,
	                        ran_answer, a, &why),
	         EINVAL);
	CHECK_STR(why, "the arguments are not a JSON object");
	CHECK_EQ(tools_seen.calls, 0);
	tools_seen.refuse = true;
	CHECK_EQ(brain_tool_run(test_tools, 2, "opening_hours", "{}", NULL,
	                        ran_answer, a, &why),
	         EPERM);
	CHECK_STR(why, "the calendar is closed");
	tools_seen.refuse = false;
	CHECK_EQ(ran.answers, 0);
	/* at once; no arguments are {} */
	CHECK_EQ(brain_tool_run(test_tools, 2, "end_call", " ", NULL,
	                        ran_answer, a, &why),
	         0);
	CHECK_EQ(ran.answers, 1);
	CHECK_STR(ran.content, "{\"ok\":true}");
	CHECK_STR(tools_seen.args, "{}");
	CHECK(ran.arg == a);
	/* later, from the loop: the argument outlives the caller's ref */
	tools_seen.later = true;
	CHECK_EQ(brain_tool_run(test_tools, 2, "opening_hours",
	                        "{\"day\":\"monday\"}", NULL, ran_answer, a,
	                        &why),
	         0);
	mem_deref(a);
	CHECK(!ran.freed);
	CHECK_EQ(ran.answers, 1);
	run_for(150);
	CHECK_EQ(ran.answers, 2);
	CHECK_STR(ran.content, "{\"open\":\"nine to five\"}");
	CHECK(ran.freed);
	return 0;
}

int main(void)
{
	if (libre_init() || httpc_alloc(&hc))
		return 1;
	RUN(echo);
	RUN(script_dialog);
	RUN(script_errors);
	RUN(script_example);
	RUN(llm_errors);
	RUN(tool_end_call);
	RUN(tool_round_trip);
	RUN(tool_held_until_released);
	RUN(tool_errors);
	RUN(tool_rounds_bounded);
	RUN(tool_answer_after_cancel);
	RUN(tool_run);
	mem_deref(hc);
	libre_close();
	TEST_EXIT();
}
