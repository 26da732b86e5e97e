/*
 * Providers' endpoints from their base URLs, as their SDKs take them.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "net/url.h"
#include "test.h"

static int endpoint_is(const char *base, const char *path, bool socket,
                       const struct url_param *qv, size_t qc, const char *want)
{
	char *url = NULL;
	const char *why = NULL;
	int err = url_endpoint(&url, base, path, socket, qv, qc, &why);

	if (err) {
		printf("  %s + %s: %s\n", base, path, why ? why : "?");
		return err;
	}
	if (strcmp(url, want) != 0) {
		printf("  got %s, want %s\n", url, want);
		mem_deref(url);
		return EINVAL;
	}
	mem_deref(url);
	return 0;
}

TEST(providers)
{
	const struct url_param dg[] = {
	    {"model", "nova-2"},     {"encoding", "mulaw"},
	    {"sample_rate", "8000"}, {"keywords", "voxgate:2 & co"},
	    {"language", NULL}, /* unset: left out */
	};
	const struct url_param oa[] = {{"model", "gpt-4o-realtime-preview"}};

	CHECK_EQ(endpoint_is("https://api.deepgram.com", "/v1/listen", true, dg,
	                     5,
	                     "wss://api.deepgram.com/v1/listen?model=nova-2"
	                     "&encoding=mulaw&sample_rate=8000"
	                     "&keywords=voxgate%3A2%20%26%20co"),
	         0);
	CHECK_EQ(endpoint_is("https://api.openai.com/v1", "realtime", true, oa,
	                     1,
	                     "wss://api.openai.com/v1/realtime"
	                     "?model=gpt-4o-realtime-preview"),
	         0);
	CHECK_EQ(endpoint_is("https://api.openai.com/v1/", "/audio/speech",
	                     false, NULL, 0,
	                     "https://api.openai.com/v1/audio/speech"),
	         0);
	CHECK_EQ(endpoint_is("https://api.elevenlabs.io",
	                     "/v1/text-to-speech/voice1/stream-input", true,
	                     NULL, 0,
	                     "wss://api.elevenlabs.io/v1/text-to-speech/"
	                     "voice1/stream-input"),
	         0);
	CHECK_EQ(endpoint_is("https://api.cartesia.ai", "/tts/websocket", true,
	                     NULL, 0, "wss://api.cartesia.ai/tts/websocket"),
	         0);
	CHECK_EQ(endpoint_is("http://127.0.0.1:8123", "/v1/listen", true, dg, 2,
	                     "ws://127.0.0.1:8123/v1/listen?model=nova-2"
	                     "&encoding=mulaw"),
	         0);
	CHECK_EQ(endpoint_is("HTTP://[::1]:9000/base//", "x", true, NULL, 0,
	                     "ws://[::1]:9000/base/x"),
	         0);
	/* a WebSocket base, as some SDKs take it, for a socket only */
	CHECK_EQ(endpoint_is("wss://api.deepgram.com", "/v1/listen", true, dg,
	                     1,
	                     "wss://api.deepgram.com/v1/listen?model=nova-2"),
	         0);
	CHECK_EQ(endpoint_is("ws://127.0.0.1:8123/", "v1/listen", true, NULL, 0,
	                     "ws://127.0.0.1:8123/v1/listen"),
	         0);
	return 0;
}

TEST(refused)
{
	static const struct {
		const char *base, *path;
	} bad[] = {
	    {"ftp://api.deepgram.com", "/v1/listen"},
	    {"api.deepgram.com", "/v1/listen"},
	    {"https://", "/v1/listen"},
	    {"https://user:key@api.deepgram.com", "/v1/listen"},
	    {"https://api.deepgram.com:0", "/v1/listen"},
	    {"https://api.deepgram.com:65536", "/v1/listen"},
	    {"https://api.deepgram.com:8x", "/v1/listen"},
	    {"https://api.deepgram.com?x=1", "/v1/listen"},
	    {"https://api.deepgram.com#top", "/v1/listen"},
	    {"https://api.deep gram.com", "/v1/listen"},
	    {"https://[::1", "/v1/listen"},
	    {"https://api.deepgram.com", "/v1/listen?x=1"},
	    {"https://api.deepgram.com", "/v1/li sten"},
	    {"https://api.deepgram.com", "/v1/\r\nlisten"},
	};
	const struct url_param noname[] = {{"", "x"}};
	char *url = NULL;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK_EQ(url_endpoint(&url, bad[i].base, bad[i].path, true,
		                      NULL, 0, &why),
		         EINVAL);
		CHECK(why != NULL);
		CHECK(url == NULL);
	}
	CHECK_EQ(url_endpoint(&url, "https://a.b", "/x", true, noname, 1, &why),
	         EINVAL);
	CHECK(url == NULL);
	/* HTTP endpoints take no WebSocket base */
	CHECK_EQ(url_endpoint(&url, "wss://api.openai.com/v1", "audio/speech",
	                      false, NULL, 0, &why),
	         EINVAL);
	CHECK(url == NULL);
	return 0;
}

TEST(split)
{
	struct url_parts u;
	const char *why = NULL;

	CHECK_EQ(url_split("wss://api.deepgram.com/v1/listen?a=b", &u, &why),
	         0);
	CHECK(u.tls);
	CHECK_EQ(u.port, 443);
	CHECK(!u.port_given);
	CHECK_EQ(u.host_len, strlen("api.deepgram.com"));
	CHECK(!strncmp(u.host, "api.deepgram.com", u.host_len));
	CHECK_STR(u.target, "/v1/listen?a=b");
	CHECK_EQ(url_split("ws://h:81", &u, &why), 0);
	CHECK_EQ(u.port, 81);
	CHECK(u.port_given && !u.tls);
	CHECK_EQ(u.target_len, 0);
	return 0;
}

int main(void)
{
	RUN(providers);
	RUN(refused);
	RUN(split);
	TEST_EXIT();
}
