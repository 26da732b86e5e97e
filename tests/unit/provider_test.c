/*
 * The network providers' shared pieces: the reason a request failed, told
 * from an OpenAI error body, from another body or from the transfer, on
 * one line and without the key, even where the server quotes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/provider.h"

#include "test.h"

TEST(why_from_openai_error)
{
	static const char body[] =
	    "{\"error\":{\"message\":\"Incorrect API key provided: "
	    "sk-proj-abcdef123456. You can find your API key at "
	    "https://platform.openai.com/account/api-keys.\",\"type\":"
	    "\"invalid_request_error\",\"param\":null,\"code\":"
	    "\"invalid_api_key\"}}";
	char why[PROVIDER_WHY_MAX];

	provider_why(why, 0, 401, body, strlen(body), NULL,
	             "sk-proj-abcdef123456");
	CHECK(!strncmp(why, "HTTP 401: Incorrect API key provided: ***", 41));
	CHECK(!strstr(why, "abcdef"));
	CHECK(strstr(why, "You can find your API key"));
	/* a key the server quotes in another form is masked too */
	provider_why(why, 0, 401, body, strlen(body), NULL, "other-key");
	CHECK(!strstr(why, "abcdef123456"));
	return 0;
}

TEST(why_from_other_bodies)
{
	static const char plain[] = "upstream\nconnect error";
	static const char msg[] = "{\"message\":\"model not found\"}";
	char why[PROVIDER_WHY_MAX];

	provider_why(why, 0, 502, plain, strlen(plain), NULL, "");
	CHECK_STR(why, "HTTP 502: upstream connect error");
	provider_why(why, 0, 404, msg, strlen(msg), NULL, NULL);
	CHECK_STR(why, "HTTP 404: model not found");
	provider_why(why, 0, 500, NULL, 0, NULL, "k");
	CHECK_STR(why, "HTTP 500");
	/* a key in a plain body */
	provider_why(why, 0, 403, "key secret-key-1234 refused", 27, NULL,
	             "secret-key-1234");
	CHECK_STR(why, "HTTP 403: key *************** refused");
	return 0;
}

TEST(why_from_the_transfer)
{
	char why[PROVIDER_WHY_MAX];
	char big[4000];

	provider_why(why, ETIMEDOUT, 0, NULL, 0,
	             "no data from the server for 1500 ms", "k");
	CHECK_STR(why, "no data from the server for 1500 ms (Connection "
	               "timed out)");
	/* the body of a 200 is audio, not a message */
	provider_why(why, EPROTO, 200, "\x01\x02", 2, NULL, "k");
	CHECK_STR(why, "Protocol error (Protocol error)");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	provider_why(why, 0, 500, big, strlen(big), NULL, "");
	CHECK(strlen(why) < PROVIDER_WHY_MAX);
	return 0;
}

TEST(auth_header)
{
	char *h = NULL;

	CHECK_EQ(provider_auth(&h, "sk-1"), 0);
	CHECK_STR(h, "Authorization: Bearer sk-1");
	free(h);
	CHECK_EQ(provider_auth(&h, ""), 0);
	CHECK(h == NULL);
	CHECK_EQ(provider_auth(&h, NULL), 0);
	CHECK(h == NULL);
	return 0;
}

int main(void)
{
	RUN(why_from_openai_error);
	RUN(why_from_other_bodies);
	RUN(why_from_the_transfer);
	RUN(auth_header);
	TEST_EXIT();
}
