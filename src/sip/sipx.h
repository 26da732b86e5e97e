/*
 * SIP header text that voxgate writes from API input (a trunk's or a
 * request's `headers`): what may go into a request or reply we send.
 */
#ifndef VOXGATE_SIP_SIPX_H
#define VOXGATE_SIP_SIPX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* jansson's json_t, declared so that files on libre's re.h (whose
 * re_json.h clashes with jansson.h) can use the other checks. */
struct json_t;

/* 0 when "name: value" may be added to a message voxgate sends: name is an
 * RFC 3261 token and not a header the SIP stack writes itself (Via, From,
 * To, Call-ID, CSeq, Contact, Content-*, Max-Forwards, Route, Refer-To,
 * Event, ...), value has no CR, LF or NUL and fits 1024 bytes. EINVAL
 * with why otherwise. */
int sipx_header_check(const char *name, const char *value, const char **why);

/* Writes the entries of the JSON object headers (NULL or absent: none) as
 * "Name: value\r\n" lines into out. strict: the first entry that fails
 * sipx_header_check, or a value that is not a string, is EINVAL with why
 * (and E2BIG when out is too small), for a request to refuse; otherwise
 * such entries are skipped and what does not fit is left out, for stored
 * trunks that were checked when written. out is always terminated. */
int sipx_headers_format(const struct json_t *headers, bool strict, char *out,
                        size_t sz, const char **why);

/* 0 when to may be the target of a transfer (Refer-To): a sip:, sips: or
 * tel: URI of 1 to 512 bytes with no space, control character, '<', '>'
 * or '"', any of which would end or break the header it goes into.
 * EINVAL with why otherwise. */
int sipx_transfer_to_check(const char *to, const char **why);

/* The status line that opens a message/sipfrag body (RFC 3420), as a
 * REFER's NOTIFY carries it: "SIP/2.0 <100-699> <reason>", the line at
 * most 256 bytes and ended by CRLF, LF or the body's end. code gets the
 * status and reason its printable text (cut to sz). EBADMSG for anything
 * else, without reading past the first 256 bytes. */
int sipx_sipfrag_status(const char *body, size_t len, uint16_t *code,
                        char *reason, size_t sz);

#endif
