/*
 * The Realtime API's server events read (worker/realtime_event.h), as the
 * brain's session and the listener's transcription session get them:
 * each kind's fields, the beta names, and the refusals (wrong JSON types,
 * ids over their bound or with a NUL, bad base64, audio over the caller's
 * buffer, a message over its bound), text cut at a character.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/realtime_event.h"
#include "test.h"

#define S(lit) lit, strlen(lit)

static struct rt_event ev;
static uint8_t abuf[RT_AUDIO_MAX];

static int parse(const char *s)
{
	return rt_event_parse(s, strlen(s), &ev, abuf, sizeof(abuf));
}

TEST(parse_events)
{
	CHECK_EQ(parse("{\"type\":\"session.created\",\"session\":{}}"), 0);
	CHECK_EQ(ev.kind, RT_EV_SESSION);
	CHECK_EQ(parse("{\"type\":\"input_audio_buffer.committed\","
	               "\"item_id\":\"item_1\",\"previous_item_id\":null}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_COMMITTED);
	CHECK_STR(ev.item_id, "item_1");
	CHECK_EQ(parse("{\"type\":\"conversation.item.input_audio_"
	               "transcription.completed\",\"item_id\":\"item_1\","
	               "\"content_index\":0,\"transcript\":\"Hi there\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_HEARD);
	CHECK_STR(ev.text, "Hi there");
	CHECK_EQ(ev.text_len, 8);
	CHECK_EQ(parse("{\"type\":\"response.created\",\"response\":{\"id\":"
	               "\"resp_9\",\"status\":\"in_progress\"}}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_RESPONSE);
	CHECK_STR(ev.response_id, "resp_9");
	/* GA and beta names of the same delta */
	CHECK_EQ(parse("{\"type\":\"response.output_audio.delta\","
	               "\"response_id\":\"resp_9\",\"item_id\":\"item_2\","
	               "\"output_index\":0,\"content_index\":1,\"delta\":"
	               "\"AAH/fw==\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_AUDIO);
	CHECK_EQ(ev.audio_len, 4);
	CHECK(ev.audio == abuf && abuf[0] == 0 && abuf[1] == 1 &&
	      abuf[2] == 0xff && abuf[3] == 0x7f);
	CHECK_EQ(ev.content_index, 1);
	CHECK_STR(ev.item_id, "item_2");
	CHECK_EQ(parse("{\"type\":\"response.audio.delta\",\"response_id\":"
	               "\"r\",\"item_id\":\"i\",\"delta\":\"AA==\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_AUDIO);
	CHECK_EQ(ev.audio_len, 1);
	CHECK_EQ(parse("{\"type\":\"response.output_audio_transcript.delta\","
	               "\"response_id\":\"r\",\"item_id\":\"i\",\"delta\":"
	               "\"We are \"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_TEXT);
	CHECK_STR(ev.text, "We are ");
	CHECK_EQ(parse("{\"type\":\"response.audio_transcript.delta\","
	               "\"response_id\":\"r\",\"delta\":\"open\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_TEXT);
	CHECK_EQ(parse("{\"type\":\"response.function_call_arguments.done\","
	               "\"response_id\":\"r\",\"item_id\":\"i\",\"call_id\":"
	               "\"call_1\",\"name\":\"end_call\",\"arguments\":"
	               "\"{}\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_CALL);
	CHECK_STR(ev.name, "end_call");
	CHECK_STR(ev.call_id, "call_1");
	CHECK_STR(ev.text, "{}");
	CHECK_EQ(parse("{\"type\":\"response.done\",\"response\":{\"id\":\"r\","
	               "\"status\":\"failed\",\"status_details\":{\"type\":"
	               "\"failed\",\"error\":{\"type\":\"server_error\","
	               "\"code\":null,\"message\":\"It broke.\"}}}}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_DONE);
	CHECK_STR(ev.status, "failed");
	CHECK_STR(ev.message, "It broke.");
	CHECK_STR(ev.err_type, "server_error");
	CHECK_STR(ev.code, "");
	CHECK_EQ(parse("{\"type\":\"response.done\",\"response\":{\"id\":\"r\","
	               "\"status\":\"cancelled\",\"status_details\":{\"type\":"
	               "\"cancelled\",\"reason\":\"client_cancelled\"}}}"),
	         0);
	CHECK_STR(ev.status, "cancelled");
	CHECK_STR(ev.message, "client_cancelled");
	CHECK_EQ(parse("{\"type\":\"error\",\"event_id\":\"e\",\"error\":{"
	               "\"type\":\"invalid_request_error\",\"code\":"
	               "\"invalid_api_key\",\"message\":\"Incorrect API key\","
	               "\"param\":null,\"event_id\":\"vg_cancel_3\"}}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_ERROR);
	CHECK_STR(ev.code, "invalid_api_key");
	CHECK_STR(ev.event_id, "vg_cancel_3");
	CHECK_EQ(parse("{\"type\":\"conversation.item.truncated\",\"item_id\":"
	               "\"i\",\"content_index\":0,\"audio_end_ms\":1234}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_TRUNCATED);
	CHECK_EQ(ev.audio_end_ms, 1234);
	CHECK_EQ(parse("{\"type\":\"rate_limits.updated\",\"rate_limits\":[]}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_OTHER);
	CHECK_STR(ev.type, "rate_limits.updated");
	return 0;
}

TEST(parse_refusals)
{
	char big[200], *s;
	size_t n;

	CHECK_EQ(parse(""), EBADMSG);
	CHECK_EQ(parse("[]"), EBADMSG);
	CHECK_EQ(parse("{\"type\":7}"), EBADMSG);
	CHECK_EQ(parse("{\"delta\":\"AA==\"}"), EBADMSG);
	CHECK_EQ(parse("{\"type\":\"error\",\"type\":\"error\",\"error\":{}}"),
	         EBADMSG);
	/* fields of the wrong type */
	CHECK_EQ(parse("{\"type\":\"response.output_audio.delta\",\"delta\":"
	               "5}"),
	         EBADMSG);
	CHECK_EQ(parse("{\"type\":\"response.output_audio.delta\","
	               "\"content_index\":-1,\"delta\":\"AA==\"}"),
	         EBADMSG);
	CHECK_EQ(parse("{\"type\":\"response.created\",\"response\":\"r\"}"),
	         EBADMSG);
	CHECK_EQ(parse("{\"type\":\"error\",\"error\":\"bad\"}"), EBADMSG);
	/* bad base64 */
	CHECK_EQ(parse("{\"type\":\"response.output_audio.delta\",\"delta\":"
	               "\"A*==\"}"),
	         EBADMSG);
	CHECK(ev.audio == NULL && ev.audio_len == 0);
	/* an id over its bound is refused, not cut */
	memset(big, 'x', sizeof(big));
	big[RT_ID_MAX] = '\0';
	CHECK(asprintf(&s,
	               "{\"type\":\"input_audio_buffer.committed\","
	               "\"item_id\":\"%s\"}",
	               big) > 0);
	CHECK_EQ(parse(s), EBADMSG);
	free(s);
	big[RT_ID_MAX - 1] = '\0';
	CHECK(asprintf(&s,
	               "{\"type\":\"input_audio_buffer.committed\","
	               "\"item_id\":\"%s\"}",
	               big) > 0);
	CHECK_EQ(parse(s), 0);
	CHECK_EQ(strlen(ev.item_id), RT_ID_MAX - 1);
	free(s);
	/* an id with a NUL inside */
	CHECK_EQ(parse("{\"type\":\"input_audio_buffer.committed\","
	               "\"item_id\":\"a\\u0000b\"}"),
	         EBADMSG);
	/* audio over the caller's buffer */
	s = "{\"type\":\"response.output_audio.delta\",\"delta\":"
	    "\"AAAAAAAA\"}";
	CHECK_EQ(rt_event_parse(s, strlen(s), &ev, abuf, 4), EMSGSIZE);
	/* a text cut to its bound, at a character's start */
	n = RT_TEXT_MAX + 10;
	s = malloc(n * 2 + 100);
	CHECK(s);
	strcpy(s, "{\"type\":\"response.output_audio_transcript.delta\","
	          "\"delta\":\"");
	for (size_t i = 0; i < n; i++)
		strcat(s, "\xc3\xa9"); /* é, two bytes */
	strcat(s, "\"}");
	CHECK_EQ(parse(s), 0);
	CHECK(ev.text_len < RT_TEXT_MAX && ev.text_len % 2 == 0 &&
	      ev.text_len >= RT_TEXT_MAX - 2);
	free(s);
	/* a message over the bound */
	CHECK_EQ(rt_event_parse("{}", RT_MAX_MESSAGE + 1, &ev, abuf, 4),
	         EMSGSIZE);
	return 0;
}

TEST(parse_transcription)
{
	CHECK_EQ(parse("{\"type\":\"session.created\",\"event_id\":\"e1\","
	               "\"session\":{}}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_SESSION);
	CHECK_EQ(parse("{\"type\":\"transcription_session.updated\"}"), 0);
	CHECK_EQ(ev.kind, RT_EV_SESSION);
	CHECK_EQ(parse("{\"type\":\"input_audio_buffer.committed\","
	               "\"previous_item_id\":null,\"item_id\":\"item_a\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_COMMITTED);
	CHECK_STR(ev.item_id, "item_a");
	CHECK_EQ(parse("{\"type\":\"conversation.item.input_audio_"
	               "transcription.delta\",\"item_id\":\"item_a\","
	               "\"content_index\":0,\"delta\":\"Hel\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_HEARD_PART);
	CHECK_STR(ev.item_id, "item_a");
	CHECK_STR(ev.text, "Hel");
	CHECK_EQ(ev.text_len, 3);
	CHECK_EQ(parse("{\"type\":\"conversation.item.input_audio_"
	               "transcription.completed\",\"item_id\":\"item_a\","
	               "\"transcript\":\"Hello.\"}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_HEARD);
	CHECK_STR(ev.text, "Hello.");
	CHECK_EQ(parse("{\"type\":\"conversation.item.input_audio_"
	               "transcription.failed\",\"item_id\":\"item_b\","
	               "\"content_index\":0,\"error\":{\"type\":"
	               "\"transcription_error\",\"code\":\"audio_unintelligible"
	               "\",\"message\":\"could not hear\",\"param\":null}}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_HEARD_FAILED);
	CHECK_STR(ev.item_id, "item_b");
	CHECK_STR(ev.code, "audio_unintelligible");
	CHECK_STR(ev.err_type, "transcription_error");
	CHECK_STR(ev.message, "could not hear");
	/* a commit the service refused names the client event */
	CHECK_EQ(parse("{\"type\":\"error\",\"event_id\":\"e9\",\"error\":"
	               "{\"type\":\"invalid_request_error\",\"code\":"
	               "\"input_audio_buffer_commit_empty\",\"message\":"
	               "\"bad\",\"param\":null,\"event_id\":\"vg_commit_3\"}}"),
	         0);
	CHECK_EQ(ev.kind, RT_EV_ERROR);
	CHECK_STR(ev.code, "input_audio_buffer_commit_empty");
	CHECK_STR(ev.event_id, "vg_commit_3");
	CHECK_STR(ev.message, "bad");
	/* no code: the error's type is there for the reader */
	CHECK_EQ(parse("{\"type\":\"error\",\"error\":{\"type\":\"server_"
	               "error\",\"code\":null,\"message\":\"x\"}}"),
	         0);
	CHECK_STR(ev.code, "");
	CHECK_STR(ev.err_type, "server_error");
	/* the transcription's fields of the wrong type */
	CHECK_EQ(parse("{\"type\":\"conversation.item.input_audio_"
	               "transcription.delta\",\"item_id\":\"i\",\"delta\":7}"),
	         EBADMSG);
	CHECK_EQ(parse("{\"type\":\"conversation.item.input_audio_"
	               "transcription.failed\",\"item_id\":\"i\",\"error\":"
	               "\"x\"}"),
	         EBADMSG);
	/* no audio buffer (the listener's): a delta of audio is refused */
	CHECK_EQ(rt_event_parse(S("{\"type\":\"response.output_audio.delta\","
	                          "\"delta\":\"AAAA\"}"),
	                        &ev, NULL, 0),
	         EMSGSIZE);
	return 0;
}

int main(void)
{
	RUN(parse_events);
	RUN(parse_refusals);
	RUN(parse_transcription);
	TEST_EXIT();
}
