/*
 * The SIP URI a carrier dials for one call: our sip_uri setting with the
 * called number as its user part, so the dispatch rules see the number
 * the caller dialled. Twilio's <Dial><Sip> and Telnyx's transfer both
 * send calls to it.
 */
#ifndef VOXGATE_CARRIER_SIPURI_H
#define VOXGATE_CARRIER_SIPURI_H

/*
 * sip_uri ("sip:host:port;params?headers", any user part replaced) with
 * user as user part, %-escaped but for letters, digits, + and RFC 3986's
 * unreserved marks. *out is malloc'd and the caller frees it. EINVAL for
 * an empty user or a URI that is not sip: or sips: with a host, ENOMEM.
 */
int sipuri_with_user(char **out, const char *sip_uri, const char *user);

#endif
