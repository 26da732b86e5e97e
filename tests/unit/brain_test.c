/*
 * The brains without a pipeline: the echo reply, script files (a good one,
 * and bad ones whose errors must name the line), a dialog through a
 * script, and the LLM brain's errors reaching the caller. The LLM brain's
 * requests are checked in pipeline_test.c, against a stand-in server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/libre.h"
#include <re_main.h>
#include "net/httpc.h"
#include "worker/brain.h"

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

int main(void)
{
	if (libre_init() || httpc_alloc(&hc))
		return 1;
	RUN(echo);
	RUN(script_dialog);
	RUN(script_errors);
	RUN(script_example);
	RUN(llm_errors);
	mem_deref(hc);
	libre_close();
	TEST_EXIT();
}
