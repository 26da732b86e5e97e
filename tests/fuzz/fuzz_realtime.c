/*
 * The Realtime API's server events as the realtime brain and the
 * transcription listener read them (rt_event_parse, the one parser of
 * both): any bytes, any audio buffer size; what is accepted is
 * within its bounds, every string NUL-terminated and the text's length
 * its own, audio only from a delta and never past the buffer, nothing
 * left behind by a refusal.
 *
 * Input: a byte (the audio buffer's size, times 16), then the event.
 */
#include <errno.h>
#include <string.h>

#include "worker/realtime_event.h"

#include "fuzz.h"

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t cap = (size_t)fuzz_u8(&in) * 16;
	char *msg = fuzz_copy(in.p, in.n, false);
	uint8_t *audio = malloc(cap ? cap : 1);
	static struct rt_event ev;
	int err;

	err = rt_event_parse(msg, in.n, &ev, audio, cap);
	FUZZ_CHECK(!err || err == EBADMSG || err == EMSGSIZE);
	FUZZ_CHECK(terminated(ev.type, sizeof(ev.type)));
	if (err) {
		FUZZ_CHECK(!ev.audio && !ev.audio_len);
	} else {
		FUZZ_CHECK(terminated(ev.response_id, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.item_id, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.call_id, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.event_id, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.name, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.code, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.err_type, RT_ID_MAX));
		FUZZ_CHECK(terminated(ev.status, sizeof(ev.status)));
		FUZZ_CHECK(terminated(ev.message, sizeof(ev.message)));
		FUZZ_CHECK(ev.text_len < RT_TEXT_MAX &&
		           ev.text_len == strlen(ev.text));
		FUZZ_CHECK(ev.kind == RT_EV_AUDIO || !ev.audio_len);
		FUZZ_CHECK(!ev.audio_len || ev.audio == audio);
		FUZZ_CHECK(ev.audio_len <= cap);
		/* the log's copy of the type holds nothing to escape */
		for (const char *p = ev.type; *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != '"' &&
			           *p != '\\' && (unsigned char)*p < 0x7f);
	}
	free(msg);
	free(audio);
	return 0;
}
