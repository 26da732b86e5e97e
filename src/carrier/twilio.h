/*
 * Twilio's side of a call, without the HTTP server: the urlencoded form a
 * Voice webhook posts, the X-Twilio-Signature that proves Twilio sent it,
 * and the TwiML answers voxgate gives (<Dial><Sip> to our SIP endpoint,
 * <Connect><Stream> to a WebSocket, <Say><Hangup/> when we cannot serve).
 * Wire format: ../shared/specs/carriers.md sections T2, T3 and T4.
 */
#ifndef VOXGATE_CARRIER_TWILIO_H
#define VOXGATE_CARRIER_TWILIO_H

#include <stddef.h>
#include "core/form.h"

#define TWILIO_SIGNATURE_LEN 28 /* base64 of a SHA-1 HMAC */

/* Twilio rejects a longer <Sip> URI (headers included). */
#define TWILIO_SIP_URI_MAX 254

/*
 * The X-Twilio-Signature of one exact url (no port variants): url, then
 * for each name in byte order each of its distinct values in byte order,
 * name and value concatenated; HMAC-SHA1 keyed by auth_token, base64.
 * form is NULL for a GET or a JSON body. out is NUL-terminated.
 */
int twilio_signature(const char *auth_token, const char *url,
                     const struct form *form,
                     char out[TWILIO_SIGNATURE_LEN + 1]);

/*
 * Checks the X-Twilio-Signature of a request to url (as Twilio requested
 * it: the public scheme, host and port, path and whole query). Accepted
 * when it matches url with the default port added or with its port
 * removed, as Twilio's own validators do. form: the POST params, NULL for
 * a GET. body: the raw body of a JSON request, whose url must then carry
 * bodySHA256 = its hex SHA-256; NULL otherwise (form and body together are
 * EINVAL). 0 when valid; EACCES when not (signature NULL included); EINVAL
 * for a missing auth_token or url, or a url not http(s):// or ws(s)://
 * (Media Streams requests are signed over their wss:// URL).
 */
int twilio_signature_check(const char *auth_token, const char *url,
                           const struct form *form, const char *body,
                           size_t body_len, const char *signature);

/*
 * TwiML documents. *out is malloc'd and the caller frees it. Every value
 * is XML-escaped; EINVAL for one that is not UTF-8 or holds a control
 * character XML cannot carry.
 */

/* <Dial answerOnBridge="true"><Sip> to sip_uri ("sip:host:port;params",
 * any user part replaced) with called_number as user part and the header
 * X-Voxgate-CallSid=call_sid. EMSGSIZE when the URI exceeds
 * TWILIO_SIP_URI_MAX. */
int twilio_twiml_dial(char **out, const char *sip_uri,
                      const char *called_number, const char *call_sid);

/* <Connect><Stream url> with one <Parameter> per param: the bidirectional
 * stream. wss_url must be wss:// without a query, which Twilio does not
 * pass on (params are the way to send values). */
int twilio_twiml_stream(char **out, const char *wss_url,
                        const struct form_param *params, size_t nparams);

/* <Say>text</Say><Hangup/>. */
int twilio_twiml_say_hangup(char **out, const char *text);

#endif
