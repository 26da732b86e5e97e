/*
 * A WebRTC peer connection on a media thread, as media_room.c and the tick
 * use it (the signalling thread's side is in webrtc.h).
 */
#ifndef VOXGATE_MEDIA_MEDIA_PC_H
#define VOXGATE_MEDIA_MEDIA_PC_H

#include <stddef.h>
#include <stdint.h>
#include "webrtc/srtpx.h"

struct media_pc;
struct media_thread;

/* Room a packet must leave after its payload for the SRTP tag. */
#define MPC_SRTP_TRAILER SRTPX_MAX_TRAILER

/* Protects pkt in place (cap bytes of room) and sends it to the peer;
 * dropped (and counted) before the connection is up. */
void mpc_send_rtp(struct media_pc *pc, uint8_t *pkt, size_t len, size_t cap);
/* RTP whose SSRC no track of the room claims. */
void mpc_count_unknown_ssrc(struct media_pc *pc);
/* Timers of every connection of mt: DTLS retransmissions, the handshake
 * deadline, ICE consent. */
void mpc_tick(struct media_thread *mt, uint64_t now_us);

#endif
