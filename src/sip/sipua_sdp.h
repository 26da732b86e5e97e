/*
 * The SDP side of a call, apart from the SIP dialog: the description
 * voxgate offers or answers with, and what it takes from the caller's once
 * libre has decoded it (sdp_decode) into that session. sipua.c runs them
 * on every INVITE, re-INVITE and ACK; on their own they can be tested with
 * any description.
 */
#ifndef VOXGATE_SIP_SIPUA_SDP_H
#define VOXGATE_SIP_SIPUA_SDP_H

#include <stdint.h>
#include <re.h>
#include "media/media.h"

/* One audio stream on port offering PCMU, PCMA and telephone-event at
 * ptime 20, from laddr. *mp belongs to *sessp, a libre mem object. */
int sipua_sdp_alloc(struct sdp_session **sessp, struct sdp_media **mp,
                    const struct sa *laddr, uint16_t port);

/* The negotiated stream: the first audio codec the caller listed that we
 * support, and telephone-event when offered. ENOENT when there is no
 * common codec. */
int sipua_sdp_params(const struct sdp_media *m, struct media_params *mp);

/* Sets our direction for the answer from the caller's. */
void sipua_sdp_direction(struct sdp_media *m);

#endif
