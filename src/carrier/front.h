/*
 * The carriers' front doors on the HTTP API: Twilio's Voice webhook and
 * status callbacks, Telnyx's Call Control webhooks. Each request is
 * checked against the carrier's signature first; a forged, replayed or
 * unsigned one gets 403 and a log line and changes nothing. Calls are kept
 * in the store's call records under "twilio-<CallSid>" and
 * "telnyx-<call_control_id>".
 *
 * Runs on the signalling thread's loop. Telnyx commands go out from their
 * own thread (telnyx_api), so a slow Telnyx API holds up no request.
 */
#ifndef VOXGATE_CARRIER_FRONT_H
#define VOXGATE_CARRIER_FRONT_H

#include <stdbool.h>
#include <stdint.h>

struct http_conn;
struct http_msg;
struct store;

struct carrier_params {
	/* The HTTP API's URL as carriers call it, without a trailing path;
	 * "" = http:// and the request's Host header. */
	const char *public_url;
	const char *sip_uri;           /* what the carriers send calls to */
	const char *twilio_auth_token; /* "" = Twilio's requests refused */
	/* /voice answers <Connect><Stream> to wss://public_url/twilio/stream
	 * (public_url must be https) instead of dialling sip_uri. */
	bool twilio_stream;
	const char *telnyx_public_key; /* base64; "" = Telnyx's refused */
	const char *telnyx_api_url;    /* Call Control commands */
	const char *telnyx_api_key;    /* "" = no commands are sent */
	struct store *store;           /* borrowed */
	/* Unix seconds; NULL = time(). Telnyx signatures older than 300 s
	 * are refused, so tests with fixed vectors set the clock. */
	int64_t (*now)(void);
};

struct carrier;

/* The caller owns *cp, a libre mem object (mem_deref ends it). EINVAL for a
 * Telnyx public key that is not one, ENOMEM, or an error starting the
 * Telnyx command thread. */
int carrier_alloc(struct carrier **cp, const struct carrier_params *prm);

/* Serves the request when its path is one of the carriers' (/voice,
 * /twilio/status, /telnyx/webhook) and returns true; false otherwise. */
bool carrier_http(struct carrier *c, struct http_conn *conn,
                  const struct http_msg *msg);

#endif
