/*
 * The SDP of the WebRTC peer connections (wsdp.h): what the parts share,
 * and nothing outside src/webrtc/wsdp*.c includes it. The reading
 * (wsdp.c), the offers and answers we write (wsdp_write.c, wsdp_sub.c)
 * and the text slices both use (wsdp_text.c) meet on struct span, the
 * checked field grammars and the output buffer, so those live here
 * rather than in the public header.
 */
#ifndef VOXGATE_WEBRTC_WSDP_INT_H
#define VOXGATE_WEBRTC_WSDP_INT_H

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "webrtc/wsdp.h"

struct span {
	const char *p;
	size_t n;
};

struct out {
	char *b;
	size_t size, len;
	bool over;
};

/* Our transport, checked, with the address in its canonical text. */
struct local {
	const struct wsdp_local *l;
	char addr[INET6_ADDRSTRLEN];
};

/* wsdp_text.c: text slices and the grammars of the fields we copy */
bool wsdp_span_eq(struct span a, const char *s);
bool wsdp_span_eq_ci(struct span a, const char *s);
struct span wsdp_next_field(struct span *s);
bool wsdp_split_at(struct span *s, char c, struct span *head);
bool wsdp_parse_u32(struct span s, uint32_t max, uint32_t *v);
bool wsdp_token_char(unsigned char c);
bool wsdp_ice_char(unsigned char c);
bool wsdp_visible_char(unsigned char c);
bool wsdp_proto_char(unsigned char c);
bool wsdp_all_of(struct span s, bool (*ok)(unsigned char));
bool wsdp_field_ok(struct span s, size_t min, size_t max,
                   bool (*ok)(unsigned char));
void wsdp_copy_span(char *dst, struct span s);

/* wsdp_write.c: what every description we write is made of */
struct span wsdp_span_str(const char *s);
bool wsdp_sid_char(unsigned char c);
__attribute__((format(printf, 2, 3))) void wsdp_put(struct out *o,
                                                    const char *fmt, ...);
int wsdp_check_local(struct local *lc, const struct wsdp_local *l,
                     const char **why);
void wsdp_put_origin(struct out *o, uint64_t sess_id, uint32_t version);
void wsdp_put_transport(struct out *o, const struct local *lc,
                        const char *setup);
void wsdp_put_codec(struct out *o, enum wsdp_codec codec, unsigned pt);
int wsdp_written(struct out *o, size_t *len, const char **why);

#endif
