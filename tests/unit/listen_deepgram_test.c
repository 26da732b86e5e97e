/*
 * Deepgram's side of the streaming listener (listen_deepgram.c): its
 * messages read (bounded, times checked), its endpoint's URL, and how
 * results are told to the utterances waiting: by the stream's clock,
 * joined in single spaces, each turn closed by its from_finalize result,
 * a dropped utterance's results thrown away, a late answer to a turn
 * already settled ignored, a turn settled when its words are all final
 * and Deepgram says nothing more, an in-band error failing what waits,
 * and a turn ended early that goes on: its parts joined in order, a lost
 * part failing the turn, a pause the turn ended in heard by nobody. The book is driven without a socket (lws_alloc_offline).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/libre.h"
#include <re_main.h>

#include "core/log.h"
#include "worker/listen_ws.h"
#include "worker/listener.h"
#include "lws_book.h"
#include "test.h"

static const struct provider pv = {.name = "deepgram",
                                   .url = "https://api.deepgram.com",
                                   .api_key = "dg-unit-key-123456",
                                   .model = "nova-3",
                                   .language = "en",
                                   .timeout_ms = 5000};

static void results(struct lws *l, double start, double dur, bool fin, bool ff,
                    const char *text)
{
	char b[1024];

	snprintf(b, sizeof(b),
	         "{\"type\":\"Results\",\"channel_index\":[0,1],\"start\":%g,"
	         "\"duration\":%g,\"is_final\":%s,\"speech_final\":false,"
	         "\"from_finalize\":%s,\"channel\":{\"alternatives\":[{"
	         "\"transcript\":\"%s\",\"confidence\":0.9}]}}",
	         start, dur, fin ? "true" : "false", ff ? "true" : "false",
	         text);
	msg(l, b);
}

/* An offline socket, open, with utterances waiting that ended at the
 * given seconds of the stream (utt 0: dropped). */
static struct lws *book(const uint32_t *utts, const double *ends, size_t n)
{
	struct lws *l = lws_book(&lws_deepgram, &pv, n);

	for (size_t i = 0; l && i < n; i++) {
		l->wait[i].utt = utts[i];
		l->wait[i].audio_end = ends[i];
	}
	if (l)
		l->audio_samples = (uint64_t)(ends[n - 1] * 8000);
	return l;
}

TEST(parse)
{
	struct dg_msg m;
	char big[3000];

	CHECK_EQ(
	    dg_parse(S("{\"type\":\"Results\",\"start\":1.5,\"duration\":"
	               "0.25,\"is_final\":true,\"speech_final\":true,"
	               "\"from_finalize\":false,\"channel\":{\"alternatives"
	               "\":[{\"transcript\":\"hi there\"},{\"transcript\":"
	               "\"high there\"}]}}"),
	             &m),
	    0);
	CHECK_EQ(m.type, DG_RESULTS);
	CHECK(m.is_final && m.speech_final && !m.from_finalize);
	CHECK(m.start == 1.5 && m.duration == 0.25);
	CHECK_STR(m.text, "hi there");
	CHECK_EQ(dg_parse(S("{\"type\":\"UtteranceEnd\",\"channel\":[0,1],"
	                    "\"last_word_end\":2.1}"),
	                  &m),
	         0);
	CHECK_EQ(m.type, DG_UTTERANCE_END);
	CHECK_EQ(dg_parse(S("{\"type\":\"Metadata\"}"), &m), 0);
	CHECK_EQ(m.type, DG_METADATA);
	CHECK_EQ(
	    dg_parse(S("{\"type\":\"Error\",\"description\":\"bad audio\"}"),
	             &m),
	    0);
	CHECK_EQ(m.type, DG_ERROR);
	CHECK_STR(m.error, "bad audio");
	CHECK_EQ(dg_parse(S("{\"type\":\"Whatever\"}"), &m), 0);
	CHECK_EQ(m.type, DG_OTHER);
	/* hostile numbers come as 0, a missing transcript as "" */
	CHECK_EQ(dg_parse(S("{\"type\":\"Results\",\"start\":-3,\"duration\":"
	                    "1e300,\"channel\":{}}"),
	                  &m),
	         0);
	CHECK(m.start == 0 && m.duration == 0);
	CHECK_STR(m.text, "");
	CHECK_EQ(dg_parse(S("[]"), &m), EBADMSG);
	CHECK_EQ(dg_parse(S("{\"type\":7}"), &m), EBADMSG);
	CHECK_EQ(dg_parse(S("{\"type\":\"Results\""), &m), EBADMSG);
	CHECK_EQ(dg_parse("{}", LWS_MSG_MAX + 1, &m), EMSGSIZE);
	/* a transcript beyond the buffer is cut before a whole character */
	{
		size_t k = (size_t)snprintf(
		    big, sizeof(big),
		    "{\"type\":\"Results\",\"channel\":{\"alternatives\":[{"
		    "\"transcript\":\"");
		for (size_t i = 0; i < 1100; i++) {
			memcpy(big + k, "\xc3\xa9", 2);
			k += 2;
		}
		k += (size_t)snprintf(big + k, sizeof(big) - k, "\"}]}}");
		CHECK_EQ(dg_parse(big, k, &m), 0);
		CHECK_EQ(strlen(m.text), LWS_TEXT_MAX - 2);
	}
	return 0;
}

TEST(url)
{
	struct provider p = pv;
	const char *why = NULL;
	char *u = NULL;

	CHECK_EQ(listener_endpoint(&u, &p, &why), 0);
	CHECK(!strncmp(u, "wss://api.deepgram.com/v1/listen?", 33));
	CHECK(strstr(u, "model=nova-3"));
	CHECK(strstr(u, "language=en"));
	CHECK(strstr(u, "encoding=mulaw&sample_rate=8000&channels=1"));
	CHECK(strstr(u, "interim_results=true"));
	u = mem_deref(u);
	p.url = "http://127.0.0.1:8080/";
	p.language = "";
	CHECK_EQ(listener_endpoint(&u, &p, &why), 0);
	CHECK(!strncmp(u, "ws://127.0.0.1:8080/v1/listen?", 30));
	CHECK(!strstr(u, "language="));
	u = mem_deref(u);
	p.url = "ftp://x";
	CHECK_EQ(listener_endpoint(&u, &p, &why), EINVAL);
	CHECK(why != NULL);
	CHECK(listener_streams("deepgram"));
	CHECK(listener_streams("openai-realtime"));
	CHECK(!listener_streams("openai"));
	return 0;
}

TEST(finals_by_the_clock)
{
	const uint32_t utts[] = {1, 0, 3};
	const double ends[] = {1.0, 2.0, 3.0};
	struct lws *l = book(utts, ends, 3);

	CHECK(l != NULL);
	l->open_utt = 4;
	/* utterance 1: an interim (not a partial of the open one), two
	 * segments, its Finalize's answer */
	results(l, 0, 0.5, false, false, "what");
	CHECK_STR(got.partial, "");
	results(l, 0, 0.6, true, false, "What  are");
	results(l, 0.6, 0.4, true, true, " you ");
	CHECK_EQ(got.finals, 1);
	CHECK_EQ(got.utt[0], 1);
	CHECK_STR(got.text[0], "What are you");
	/* the dropped one's results are thrown away */
	results(l, 1.0, 1.0, true, true, "gone");
	CHECK_EQ(got.finals, 1);
	CHECK_EQ(l->nwait, 1);
	/* a late answer for audio already told is ignored */
	results(l, 1.5, 0.5, true, true, "late");
	CHECK_EQ(l->nwait, 1);
	/* the open utterance's own segment waits with it; its interims are
	 * its partials */
	results(l, 3.0, 0.5, true, false, "next");
	CHECK_STR(l->open_text, "next");
	results(l, 3.5, 0.4, false, false, "one");
	CHECK_STR(got.partial, "next one");
	results(l, 2.0, 1.0, true, true, "thanks");
	CHECK_EQ(got.finals, 2);
	CHECK_EQ(got.utt[1], 3);
	CHECK_STR(got.text[1], "thanks");
	CHECK_EQ(l->nwait, 0);
	CHECK_EQ(got.errors, 0);
	lws_release(l);
	return 0;
}

TEST(settles_without_an_answer)
{
	const uint32_t utts[] = {2};
	const double ends[] = {1.5};
	struct lws *l = book(utts, ends, 1);

	CHECK(l != NULL);
	/* Deepgram endpointed the words itself; the Finalize gets no
	 * answer */
	results(l, 0, 1.2, true, false, "yes please");
	run_loop(LWS_DG_SETTLE_MS + 150);
	CHECK_EQ(got.finals, 1);
	CHECK_STR(got.text[0], "yes please");
	/* its late answer is not the next turn's */
	l->wait[0] = (struct lws_utt){.utt = 5, .sent = true, .audio_end = 3};
	l->nwait = 1;
	results(l, 1.2, 0.3, true, true, "");
	CHECK_EQ(got.finals, 1);
	CHECK_EQ(l->nwait, 1);
	lws_release(l);
	return 0;
}

TEST(no_settle_while_interim)
{
	const uint32_t utts[] = {2};
	const double ends[] = {1.5};
	struct lws *l = book(utts, ends, 1);

	CHECK(l != NULL);
	results(l, 0, 0.8, true, false, "yes");
	results(l, 0.8, 0.5, false, false, "please");
	run_loop(LWS_DG_SETTLE_MS + 150);
	CHECK_EQ(got.finals, 0);
	/* nothing at all of a turn: it waits for the answer */
	l->dg_interim = false;
	l->wait[0].segs = 0;
	l->wait[0].len = 0;
	l->wait[0].text[0] = '\0';
	run_loop(LWS_DG_SETTLE_MS + 150);
	CHECK_EQ(got.finals, 0);
	lws_release(l);
	return 0;
}

TEST(in_band_error)
{
	const uint32_t utts[] = {6, 7};
	const double ends[] = {1.0, 2.0};
	struct lws *l = book(utts, ends, 2);

	CHECK(l != NULL);
	l->open_utt = 8;
	msg(l, "{\"type\":\"Error\",\"description\":\"dg-unit-key-123456 is "
	       "not allowed\"}");
	CHECK_EQ(l->state, LWS_WAITING);
	CHECK_EQ(l->nwait, 0);
	CHECK(l->open_broken);
	CHECK(!strstr(l->down_why, pv.api_key));
	run_loop(50);
	CHECK_EQ(got.errors, 2);
	CHECK_EQ(got.err_utt[0], 6);
	CHECK_EQ(got.err_utt[1], 7);
	CHECK_EQ(got.err[0], EPROTO);
	/* not JSON: logged and left */
	msg(l, "not json");
	lws_release(l);
	return 0;
}

/* utt ends on an offline socket at the given seconds of the stream, as
 * if sent (lws_end with the socket taken for connecting, so that nothing
 * goes out). */
static struct lws_utt *end_at(struct lws *l, double secs)
{
	struct lws_utt *u;

	l->state = LWS_CONNECTING;
	if (lws_end(l))
		return NULL;
	l->state = LWS_OPEN;
	u = &l->wait[l->nwait - 1];
	u->sent = true;
	u->audio_end = secs;
	l->audio_samples = (uint64_t)(secs * 8000);
	l->tail_from = secs;
	return u;
}

/* An early end, the pause after it and the caller going on: the turn's
 * parts are told by the stream's clock, the next one's final has the
 * early one's first, whichever came first; a first part lost fails the
 * rest of its turn; results that end in a pause the turn ended in are
 * nobody's. */
TEST(early_end_goes_on)
{
	struct lws *l = lws_book(&lws_deepgram, &pv, 0);

	CHECK(l != NULL);
	/* the early one's final comes before the caller goes on */
	lws_begin(l, 1);
	CHECK(end_at(l, 1.0) != NULL);
	results(l, 0, 1.0, true, true, "Book a");
	CHECK_EQ(got.finals, 1);
	CHECK_STR(got.text[0], "Book a");
	l->audio_samples = (uint64_t)(1.2 * 8000); /* the pause went */
	CHECK_EQ(lws_reopen(l, 2), 0);
	results(l, 1.0, 0.9, false, false, "table");
	CHECK_STR(got.partial, "Book a table");
	CHECK_EQ(got.partial_utt, 2);
	CHECK(end_at(l, 2.5) != NULL);
	results(l, 1.0, 1.5, true, true, "table for two.");
	CHECK_EQ(got.finals, 2);
	CHECK_EQ(got.utt[1], 2);
	CHECK_STR(got.text[1], "Book a table for two.");
	lws_rest(l);

	/* the caller goes on before the early one's final: its words come
	 * first all the same, the open one's after them */
	lws_begin(l, 3);
	CHECK(end_at(l, 3.5) != NULL);
	CHECK_EQ(lws_reopen(l, 4), 0);
	results(l, 3.5, 0.5, true, false, "at eight");
	CHECK_STR(l->open_text, "at eight");
	results(l, 2.5, 1.0, true, true, "Tonight");
	CHECK_EQ(got.finals, 3);
	CHECK_EQ(got.utt[2], 3);
	CHECK_STR(l->open_text, "Tonight at eight");
	/* and a second early end in the same turn */
	CHECK(end_at(l, 4.2) != NULL);
	CHECK_EQ(lws_reopen(l, 5), 0);
	CHECK(end_at(l, 5.0) != NULL);
	results(l, 4.0, 1.0, true, true, "please");
	CHECK_EQ(got.finals, 5);
	CHECK_EQ(got.utt[3], 4);
	CHECK_STR(got.text[3], "Tonight at eight");
	CHECK_EQ(got.utt[4], 5);
	CHECK_STR(got.text[4], "Tonight at eight please");
	lws_rest(l);

	/* the early one is lost: the turn is */
	lws_begin(l, 6);
	CHECK(end_at(l, 6.0) != NULL);
	CHECK_EQ(lws_reopen(l, 7), 0);
	lws_fail(l, &l->wait[0], EPROTO, "unit");
	CHECK(l->open_broken);
	l->state = LWS_CONNECTING;
	CHECK_EQ(lws_end(l), 0);
	l->state = LWS_OPEN;
	run_loop(50);
	CHECK_EQ(got.errors, 2);
	CHECK_EQ(got.err_utt[0], 6);
	CHECK_EQ(got.err_utt[1], 7);
	CHECK_EQ(got.err[1], EPROTO);
	/* a reopen after the loss knows it */
	lws_rest(l);
	lws_begin(l, 8);
	CHECK(end_at(l, 7.0) != NULL);
	lws_fail(l, &l->wait[0], ETIMEDOUT, "unit");
	CHECK_EQ(lws_reopen(l, 9), 0);
	CHECK(l->open_broken);
	CHECK_EQ(l->open_err, ETIMEDOUT);
	lws_rest(l);

	/* the turn ended in the pause after its early end: a word heard in
	 * it (a breath) is nobody's, the next turn's are its own */
	lws_begin(l, 10);
	CHECK(end_at(l, 8.0) != NULL);
	l->tail_secs = 0.3;
	l->audio_samples = (uint64_t)(8.3 * 8000);
	lws_rest(l);
	results(l, 7.0, 1.0, true, true, "Yes.");
	CHECK_EQ(got.utt[5], 10);
	lws_begin(l, 11);
	results(l, 8.0, 0.25, true, false, "uh");
	results(l, 8.0, 0.25, false, false, "uh");
	CHECK_STR(l->open_text, "");
	CHECK_EQ(got.partial_utt, 2);
	results(l, 8.3, 0.6, true, false, "No.");
	CHECK_STR(l->open_text, "No.");
	CHECK_EQ(lws_reopen(l, 12), EINVAL); /* nothing ended */
	lws_release(l);
	return 0;
}

int main(void)
{
	if (libre_init()) {
		printf("FAIL setup: libre_init\n");
		return 1;
	}
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, NULL);
	RUN(parse);
	RUN(url);
	RUN(finals_by_the_clock);
	RUN(settles_without_an_answer);
	RUN(no_settle_while_interim);
	RUN(in_band_error);
	RUN(early_end_goes_on);
	libre_close();
	TEST_EXIT();
}
