/*
 * The agent protocol between the server and its workers: JSON text frames
 * read by either side, and binary audio frames. A message read must encode
 * again and read back as the same message.
 *
 * Input: one byte (bit 0: the server sent it, bit 1: a binary audio
 * frame), then the frame.
 */
#include <errno.h>

#include "proto/proto.h"

#include "fuzz.h"

static struct proto_msg m, back;
static int16_t pcm[PROTO_AUDIO_MAX];

static void text(const uint8_t *p, size_t len, bool from_server)
{
	char *json = fuzz_copy(p, len, false);
	int err = proto_decode(json, len, from_server, &m);
	char *enc, *enc2;

	free(json);
	if (err) {
		FUZZ_CHECK(err == EBADMSG);
		return;
	}
	FUZZ_CHECK(strlen(m.name) < sizeof(m.name));
	if (m.type == PROTO_UNKNOWN)
		return;
	/* Each type encodes only its own fields, so the message read back
	 * is compared through its encoding. */
	enc = proto_encode(&m, from_server);
	FUZZ_CHECK(enc);
	FUZZ_CHECK(proto_decode(enc, strlen(enc), from_server, &back) == 0);
	FUZZ_CHECK(back.type == m.type);
	enc2 = proto_encode(&back, from_server);
	FUZZ_CHECK(enc2);
	FUZZ_CHECK(!strcmp(enc, enc2));
	free(enc);
	free(enc2);
}

static void audio(const uint8_t *p, size_t len)
{
	uint8_t *b = fuzz_copy(p, len, false), kind;
	uint32_t job, seq;
	size_t n = 0;
	int err = proto_audio_decode(b, len, &kind, &job, &seq, pcm,
	                             PROTO_AUDIO_MAX, &n);

	if (!err) {
		uint8_t *enc = malloc(PROTO_AUDIO_HDR + 2 * n);

		FUZZ_CHECK(enc);
		FUZZ_CHECK(n <= PROTO_AUDIO_MAX);
		FUZZ_CHECK(proto_audio_encode(enc, PROTO_AUDIO_HDR + 2 * n,
		                              kind, job, seq, pcm, n) == len);
		FUZZ_CHECK(!memcmp(enc + 4, b + 4, len - 4));
		free(enc);
	} else {
		FUZZ_CHECK(err == EBADMSG || err == EMSGSIZE);
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);

	if (mode & 2)
		audio(in.p, in.n);
	else
		text(in.p, in.n, mode & 1);
	return 0;
}
