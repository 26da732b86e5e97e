/*
 * OpenAI Realtime transcription's side of the streaming listener
 * (listen_realtime.c): its events read (bounded), its endpoint's URL, and
 * how events are told to the commits waiting: item ids from
 * input_audio_buffer.committed in the order of the commits, deltas as
 * partials, .completed as the final (spaces made single), .failed and an
 * error naming the commit's event_id as that turn's error, a commit of
 * too little audio as nothing said, a refused key failing what waits and
 * marking the socket refused (status 401, the key masked), a turn ended
 * early that goes on (its commits' transcripts joined in the commits'
 * order, whichever completes first; a failed first part failing it). The book is
 * driven without a socket (lws_alloc_offline).
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

static const struct provider pv = {.name = "openai-realtime",
                                   .url = "https://api.openai.com/v1",
                                   .api_key = "sk-rt-unit-key-123456",
                                   .model = "gpt-4o-transcribe",
                                   .language = "en",
                                   .timeout_ms = 5000};

/* An offline socket, open, with n commits sent, utterances 1..n. */
static struct lws *book(size_t n)
{
	return lws_book(&lws_realtime, &pv, n);
}

TEST(url)
{
	struct provider p = pv;
	const char *why = NULL;
	char *u = NULL;

	CHECK_EQ(listener_endpoint(&u, &p, &why), 0);
	CHECK_STR(u, "wss://api.openai.com/v1/realtime?intent=transcription");
	u = mem_deref(u);
	p.url = "http://127.0.0.1:9000/v1/";
	CHECK_EQ(listener_endpoint(&u, &p, &why), 0);
	CHECK_STR(u, "ws://127.0.0.1:9000/v1/realtime?intent=transcription");
	u = mem_deref(u);
	return 0;
}

TEST(committed_then_completed)
{
	struct lws *l = book(2);

	CHECK(l != NULL);
	msg(l, "{\"type\":\"session.updated\",\"session\":{}}");
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_1\"}");
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_2\"}");
	CHECK_STR(l->wait[0].id, "item_1");
	CHECK_STR(l->wait[1].id, "item_2");
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription.delta"
	       "\",\"item_id\":\"item_2\",\"delta\":\"Good \"}");
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription.delta"
	       "\",\"item_id\":\"item_2\",\"delta\":\"bye\"}");
	CHECK_EQ(got.partial_utt, 2);
	CHECK_STR(got.partial, "Good bye");
	/* the second answered first: each goes to its own turn */
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "completed\",\"item_id\":\"item_2\",\"transcript\":\" Good  "
	       "bye. \"}");
	CHECK_EQ(got.finals, 1);
	CHECK_EQ(got.utt[0], 2);
	CHECK_STR(got.text[0], "Good bye.");
	CHECK_EQ(l->nwait, 1);
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "completed\",\"item_id\":\"item_9\",\"transcript\":\"other\"}");
	CHECK_EQ(got.finals, 1);
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "completed\",\"item_id\":\"item_1\",\"transcript\":\"Hi\"}");
	CHECK_EQ(got.finals, 2);
	CHECK_EQ(got.utt[1], 1);
	CHECK_STR(got.text[1], "Hi");
	CHECK_EQ(l->nwait, 0);
	CHECK_EQ(got.errors, 0);
	lws_release(l);
	return 0;
}

TEST(turn_failures)
{
	struct lws *l = book(3);

	CHECK(l != NULL);
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_1\"}");
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "failed\",\"item_id\":\"item_1\",\"error\":{\"type\":\"server_"
	       "error\",\"message\":\"could not transcribe\"}}");
	/* commit 2 had too little audio: nothing was said */
	msg(l,
	    "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_"
	    "error\",\"code\":\"input_audio_buffer_commit_empty\","
	    "\"message\":\"buffer too small\",\"event_id\":\"vg_commit_2\"}}");
	CHECK_EQ(got.finals, 1);
	CHECK_EQ(got.utt[0], 2);
	CHECK_STR(got.text[0], "");
	/* commit 3 refused for another reason */
	msg(l, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_"
	       "error\",\"code\":\"invalid_value\",\"message\":\"no\","
	       "\"event_id\":\"vg_commit_3\"}}");
	CHECK_EQ(l->nwait, 0);
	run_loop(50);
	CHECK_EQ(got.errors, 2);
	CHECK_EQ(got.err_utt[0], 1);
	CHECK_EQ(got.err_utt[1], 3);
	CHECK_EQ(got.err[0], EPROTO);
	lws_release(l);
	return 0;
}

TEST(refused_key)
{
	struct lws *l = book(1);

	CHECK(l != NULL);
	l->open_utt = 2;
	msg(l, "{\"type\":\"error\",\"event_id\":\"e\",\"error\":{\"type\":"
	       "\"invalid_request_error\",\"code\":\"invalid_api_key\","
	       "\"message\":\"Incorrect API key provided: "
	       "sk-rt-unit-key-123456.\",\"param\":null,\"event_id\":null}}");
	CHECK_EQ(l->state, LWS_WAITING);
	CHECK_EQ(l->down_status, 401);
	CHECK_EQ(l->down_err, EACCES);
	CHECK(strstr(l->down_why, "invalid_api_key: Incorrect API key"));
	CHECK(!strstr(l->down_why, pv.api_key));
	CHECK(l->open_broken);
	run_loop(50);
	CHECK_EQ(got.errors, 1);
	CHECK_EQ(got.err_utt[0], 1);
	CHECK_EQ(got.err[0], EACCES);
	/* the open one fails at its end */
	(void)lws_end(l);
	run_loop(50);
	CHECK_EQ(got.errors, 2);
	CHECK_EQ(got.err_utt[1], 2);
	lws_release(l);
	return 0;
}

/* An early end (a commit), then the caller goes on: the next commit's
 * final has the early one's first, even when its own item completes
 * first; the early one failing fails it too. */
TEST(early_end_goes_on)
{
	struct lws *l = book(0);

	CHECK(l != NULL);
	lws_begin(l, 1);
	l->state = LWS_CONNECTING; /* nothing goes out */
	CHECK_EQ(lws_end(l), 0);
	CHECK_EQ(lws_reopen(l, 2), 0);
	CHECK_EQ(lws_end(l), 0);
	l->state = LWS_OPEN;
	CHECK_EQ(l->nwait, 1); /* the first never went: taken up again */
	lws_rest(l);
	l->nwait = 0;

	lws_begin(l, 3);
	l->state = LWS_CONNECTING;
	CHECK_EQ(lws_end(l), 0);
	l->wait[0].sent = true;
	CHECK_EQ(lws_reopen(l, 4), 0);
	CHECK_EQ(lws_end(l), 0);
	l->state = LWS_OPEN;
	l->wait[1].sent = true;
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_1\"}");
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_2\"}");
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "completed\",\"item_id\":\"item_2\",\"transcript\":\"table "
	       "for two.\"}");
	CHECK_EQ(got.finals, 0);
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "completed\",\"item_id\":\"item_1\",\"transcript\":\"Book "
	       "a\"}");
	CHECK_EQ(got.finals, 2);
	CHECK_EQ(got.utt[0], 3);
	CHECK_STR(got.text[0], "Book a");
	CHECK_EQ(got.utt[1], 4);
	CHECK_STR(got.text[1], "Book a table for two.");
	CHECK_EQ(l->nwait, 0);
	lws_rest(l);

	/* the early one's item failed: so did the turn */
	lws_begin(l, 5);
	l->state = LWS_CONNECTING;
	CHECK_EQ(lws_end(l), 0);
	l->wait[0].sent = true;
	CHECK_EQ(lws_reopen(l, 6), 0);
	CHECK_EQ(lws_end(l), 0);
	l->state = LWS_OPEN;
	l->wait[1].sent = true;
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_3\"}");
	msg(l, "{\"type\":\"input_audio_buffer.committed\",\"item_id\":"
	       "\"item_4\"}");
	msg(l, "{\"type\":\"conversation.item.input_audio_transcription."
	       "failed\",\"item_id\":\"item_3\",\"error\":{\"type\":\"server_"
	       "error\",\"message\":\"could not transcribe\"}}");
	CHECK_EQ(l->nwait, 0);
	run_loop(50);
	CHECK_EQ(got.errors, 2);
	CHECK_EQ(got.err_utt[0], 5);
	CHECK_EQ(got.err_utt[1], 6);
	CHECK_EQ(got.finals, 2);
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
	RUN(url);
	RUN(committed_then_completed);
	RUN(turn_failures);
	RUN(refused_key);
	RUN(early_end_goes_on);
	libre_close();
	TEST_EXIT();
}
