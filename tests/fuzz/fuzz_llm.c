/*
 * An LLM server's streamed reply (Server-Sent Events of chat completion
 * chunks) as the worker's client reads it, arriving in pieces of a size
 * the input picks: the split may fall anywhere, inside a line, a CRLF or a
 * UTF-8 character.
 *
 * Its tool calls are joined from their fragments within their bounds.
 *
 * Input: one byte, the piece size (0: all at once), then the body.
 */
#include <errno.h>

#include "worker/llm.h"

#include "fuzz.h"

static struct llm_run run;

static void delta(const char *text, size_t len, void *arg)
{
	size_t *total = arg;

	FUZZ_CHECK(text && len > 0);
	*total += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t chunk = fuzz_u8(&in), total = 0;
	char *body = fuzz_copy(in.p, in.n, false);
	const char *why = NULL;
	int rc = llm_sse_parse(body, in.n, chunk, delta, &total, &run, &why);

	FUZZ_CHECK(rc == 0 || rc == EPROTO || rc == EIO);
	FUZZ_CHECK(rc == 0 ||
	           (why == run.why && why[0] != '\0' &&
	            strlen(why) < sizeof(run.why) && !strchr(why, '\n')));
	FUZZ_CHECK(total <= in.n);
	FUZZ_CHECK(run.ncalls <= LLM_TOOL_CALLS_MAX);
	FUZZ_CHECK(memchr(run.finish, '\0', sizeof(run.finish)));
	for (size_t i = 0; i < run.ncalls; i++) {
		const struct llm_tool_call *c = &run.calls[i];

		FUZZ_CHECK(strlen(c->id) <= LLM_TOOL_ID_MAX);
		FUZZ_CHECK(strlen(c->name) <= LLM_TOOL_NAME_MAX);
		FUZZ_CHECK(c->args_len <= LLM_TOOL_ARGS_MAX);
		FUZZ_CHECK(strlen(c->args) == c->args_len);
		FUZZ_CHECK(c->args_len == LLM_TOOL_ARGS_MAX || !c->args_cut);
	}
	free(body);
	return 0;
}
