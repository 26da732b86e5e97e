/*
 * Cutting text without cutting a character: a field cut in the middle of
 * a UTF-8 sequence is not UTF-8 any more, and JSON writers, WebSocket
 * peers and log readers refuse it.
 */
#ifndef VOXGATE_CORE_UTF8_H
#define VOXGATE_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies src (n bytes) into dst (size > 0 bytes, NUL-terminated), cut if
 * it must be before the first character that does not fit whole. Returns
 * the bytes copied. */
size_t utf8_copy(char *dst, size_t size, const char *src, size_t n);

/* The length of b[0..len) without a trailing incomplete sequence, which a
 * cut can leave behind. */
size_t utf8_trim(const char *b, size_t len);

/* The length (1-4) of the character that starts b[0..len), its code point
 * in *cp; 0 when it is not well-formed (see utf8_valid) or len is 0. */
size_t utf8_next(const char *b, size_t len, uint32_t *cp);

/* Whether b[0..len) is well-formed UTF-8 (RFC 3629): no overlong forms, no
 * surrogates, nothing past U+10FFFF, no sequence cut short. */
bool utf8_valid(const char *b, size_t len);

#endif
