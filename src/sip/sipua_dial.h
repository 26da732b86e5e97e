/*
 * Outbound calls (sipua_dial.c), for the API: free of libre and jansson
 * types, so that api/ can include it beside jansson (core/libre.h says
 * why).
 */
#ifndef VOXGATE_SIP_SIPUA_DIAL_H
#define VOXGATE_SIP_SIPUA_DIAL_H

#include <stdint.h>

struct sipua;
struct outbound_call;

/* What CreateSIPParticipant answers with, known before the INVITE goes. */
struct sipua_dial_info {
	char participant_id[32]; /* PA_... */
	char identity[300];
	char room[256];
	char sip_call_id[20]; /* SCL_... */
};

/*
 * The outcome of a dial, once: answered (err 0, scode 200), refused by the
 * callee (err 0, scode >= 300 and its reason), or err: EPROTO for an answer
 * we could not take (scode 488), ETIMEDOUT for no answer in time (ringing
 * timeout or no response at all), ECANCELED when the call was ended first
 * (room deleted, participant removed, shutdown), ENOSYS for a challenge we
 * cannot answer, another errno when the trunk could not be reached; reason
 * says it in words.
 */
typedef void(sipua_dial_h)(int err, uint16_t scode, const char *reason,
                           void *arg);

/*
 * Places a call: joins the callee to its room, then sends the INVITE. h
 * (NULL: no one waits) runs once with the outcome, never from inside this
 * call. info is filled on success. Errors before anything is sent:
 * ESHUTDOWN while draining, EPROTONOSUPPORT for a TLS trunk without TLS,
 * ENOSYS without rooms, EEXIST for an identity already in the room,
 * EMLINK for a full room, EADDRINUSE with no media port, others from libre
 * (why says which step).
 */
int sipua_dial(struct sipua *ua, const struct outbound_call *oc,
               sipua_dial_h *h, void *arg, struct sipua_dial_info *info,
               const char **why);
/* The one waiting with arg went away: h is not called for it. */
void sipua_dial_forget(struct sipua *ua, void *arg);
/* The host our From URIs name when the trunk names none. */
const char *sipua_from_host(const struct sipua *ua);
/* True while the SIP UDP socket holds datagrams not read yet: libre reads
 * one per turn of the loop, and a caller with work that can wait (calls
 * to place) lets the answers to the calls already placed go first. */
bool sipua_udp_backlog(const struct sipua *ua);

#endif
