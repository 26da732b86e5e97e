/*
 * LiveKit's protobuf messages on the wire: what /rtc and /agent read from
 * a client and write back. The messages themselves are protoc-c's, from
 * the .proto files beside this one (generated into build/gen/livekit/):
 * Livekit__SignalRequest, Livekit__WorkerMessage and the rest, each with
 * its LIVEKIT__..._INIT, its _descriptor and a <oneof>_case per oneof whose
 * values are the members' field numbers.
 *
 * What a decoded message holds: a string is never NULL ("" when absent)
 * and ends at its first NUL; a message member of a set oneof is never
 * NULL, other sub-messages are NULL when absent; an enum may hold a value
 * the .proto does not list (proto3 enums are open); fields this subset
 * does not know are kept as unknown fields and written again by a pack.
 *
 * To write a message, fill a LIVEKIT__..._INIT struct whose strings point
 * at the caller's own (packing copies them) and pack it.
 */
#ifndef VOXGATE_LIVEKIT_LKPB_H
#define VOXGATE_LIVEKIT_LKPB_H

#include <stddef.h>
#include <stdint.h>

#include "livekit/livekit_agent.pb-c.h"
#include "livekit/livekit_rtc.pb-c.h"

struct mbuf;

/* A frame larger than this is refused before it is decoded. */
#define LKPB_MAX_FRAME (1024 * 1024)

/*
 * Reads one message of type desc from p[0..len) into *msgp, freed with
 * lkpb_free. Refuses, with the reason in *why (may be NULL): EMSGSIZE a
 * frame over LKPB_MAX_FRAME; ENOMEM one whose decoding would take more
 * memory than a genuine message of its size (many empty repeated fields);
 * EBADMSG bytes that are not a message of that type, or a string that is
 * not UTF-8 or a field numbered 0 (as LiveKit's own decoder does).
 */
int lkpb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                size_t len, ProtobufCMessage **msgp, const char **why);

/* lkpb_unpack for the frames a client sends. */
int lkpb_signal_request_unpack(Livekit__SignalRequest **reqp, const uint8_t *p,
                               size_t len, const char **why);
int lkpb_worker_message_unpack(Livekit__WorkerMessage **msgp, const uint8_t *p,
                               size_t len, const char **why);

/* Frees a message from lkpb_unpack (any type); NULL is fine. */
void lkpb_free(void *msg);

/*
 * Writes msg at mb->pos, growing mb as needed; mb->pos ends after it.
 * 0 or ENOMEM.
 */
int lkpb_pack(struct mbuf *mb, const ProtobufCMessage *msg);

/* Writes msg into buf[0..size) and its length into *lenp: 0, or EOVERFLOW
 * when it does not fit (*lenp then says how much it needs). */
int lkpb_pack_buf(uint8_t *buf, size_t size, const ProtobufCMessage *msg,
                  size_t *lenp);

/*
 * The name of the member set in msg's first oneof ("add_track",
 * "ping_req", ...), for logs; NULL when none is set, which is also what a
 * member this subset does not know reads as.
 */
const char *lkpb_member(const ProtobufCMessage *msg);

#endif
