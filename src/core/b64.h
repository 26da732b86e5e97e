/*
 * Strict base64 decoding (RFC 4648).
 *
 * OpenSSL's decoder skips whitespace, takes either alphabet and pads
 * partial groups with what it likes; bytes from outside (media payloads,
 * signatures, tokens, keys) must be exactly base64 or be refused.
 */
#ifndef VOXGATE_CORE_B64_H
#define VOXGATE_CORE_B64_H

#include <stddef.h>
#include <stdint.h>

enum b64_flags {
	B64_URL = 1,          /* the URL alphabet (- and _), section 5 */
	B64_PAD_REQUIRED = 2, /* whole groups of four, = padding included */
	B64_PAD_FORBIDDEN = 4 /* no = at all (JWTs, RFC 7515) */
};

/* The most bytes n characters can hold. */
#define B64_DECODED_MAX(n) (((n) + 3) / 4 * 3)

/*
 * Decodes s (n characters) into out (cap bytes), *len the bytes written.
 * EBADMSG for a character outside the alphabet, padding anywhere but at
 * the end or against flags, or an impossible length; ENOSPC when the
 * bytes do not fit.
 */
int b64_decode(const char *s, size_t n, unsigned flags, uint8_t *out,
               size_t cap, size_t *len);

#endif
