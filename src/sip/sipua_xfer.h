/*
 * Transfers of SIP calls (sipua_refer.c), apart from sipua.h so that the
 * API, which also uses jansson, can ask for one without libre's headers.
 * Signalling thread.
 */
#ifndef VOXGATE_SIP_SIPUA_XFER_H
#define VOXGATE_SIP_SIPUA_XFER_H

#include <stdbool.h>
#include <stdint.h>

struct sipua;

/* A transfer's news: final false once, when the far side took the REFER
 * (202 or a first NOTIFY) and the transfer rings; final true once, with
 * the outcome: err 0 and the 2xx the target answered (the call then ends
 * with our BYE), EPROTO and the refusal's code and reason (the REFER's or
 * the NOTIFY's; the call goes on), ETIMEDOUT (no NOTIFY, or no final one
 * within the timeout; code 0) or ECONNRESET (the call ended first). */
typedef void(sipua_transfer_h)(bool final, int err, uint16_t code,
                               const char *reason, void *arg);

#define SIPUA_TRANSFER_TIMEOUT_MS 30000

/*
 * REFERs the caller of room's participant identity to `to` (a sip:, sips:
 * or tel: URI; headers: checked "Name: value\r\n" lines or NULL). With
 * dialtone the room hears a ringback until the outcome. timeout_ms bounds
 * the wait for the final NOTIFY (0 = SIPUA_TRANSFER_TIMEOUT_MS). h is
 * never called from inside this function; on an error nothing was sent:
 * ENOENT no such SIP participant, EALREADY a transfer is in flight on the
 * call, EAGAIN the call is not established yet, EINVAL a bad target (why
 * says which).
 */
int sipua_transfer(struct sipua *ua, const char *room, const char *identity,
                   const char *to, const char *headers, bool dialtone,
                   uint32_t timeout_ms, sipua_transfer_h *h, void *arg,
                   const char **why);
/* The one who asked with arg went away: h is not called for it any more. */
void sipua_transfer_forget(struct sipua *ua, void *arg);

#endif
