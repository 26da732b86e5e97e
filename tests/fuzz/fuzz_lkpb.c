/*
 * LiveKit's protobuf frames as clients send them: SignalRequest on /rtc,
 * WorkerMessage on /agent, DataPacket on a data channel, read with
 * lkpb_unpack's bounds (size, memory, UTF-8). A frame taken is written
 * again; protobuf-c must read what it wrote, and writing that once more
 * gives the same bytes.
 *
 * Input: one byte (its value modulo 3: 0 SignalRequest, 1 WorkerMessage,
 * 2 DataPacket), then the frame.
 */
#include <errno.h>

#include "livekit/lkpb.h"

#include "fuzz.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &livekit__signal_request__descriptor,
    &livekit__worker_message__descriptor,
    &livekit__data_packet__descriptor,
};

static uint8_t *packed(const ProtobufCMessage *m, size_t *lenp)
{
	size_t n = protobuf_c_message_get_packed_size(m), len = 0;
	uint8_t *b = malloc(n ? n : 1);

	FUZZ_CHECK(b);
	FUZZ_CHECK(lkpb_pack_buf(b, n, m, &len) == 0);
	FUZZ_CHECK(len == n);
	*lenp = n;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	const ProtobufCMessageDescriptor *desc = types[fuzz_u8(&in) % 3];
	uint8_t *frame = fuzz_copy(in.p, in.n, false), *b1, *b2;
	ProtobufCMessage *m = NULL, *again;
	const char *why = NULL, *member;
	size_t n1, n2;
	int err = lkpb_unpack(desc, frame, in.n, &m, &why);

	free(frame);
	if (err) {
		FUZZ_CHECK(err == EBADMSG || err == ENOMEM);
		FUZZ_CHECK(!m && why);
		return 0;
	}
	/* the member read is one of the message's own */
	member = lkpb_member(m);
	FUZZ_CHECK(!member || protobuf_c_message_descriptor_get_field_by_name(
	                          desc, member));

	b1 = packed(m, &n1);
	lkpb_free(m);
	again = protobuf_c_message_unpack(desc, NULL, n1, b1);
	FUZZ_CHECK(again);
	b2 = packed(again, &n2);
	FUZZ_CHECK(n2 == n1 && !memcmp(b1, b2, n1));
	protobuf_c_message_free_unpacked(again, NULL);
	free(b1);
	free(b2);
	return 0;
}
