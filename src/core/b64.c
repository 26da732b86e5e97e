/*
 * Strict base64 (b64.h): checked by hand, four characters at a time; the
 * arithmetic is the alphabet's.
 */
#include <errno.h>
#include "core/b64.h"

static int value(char c, unsigned flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (flags & B64_URL)
		return c == '-' ? 62 : c == '_' ? 63 : -1;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int b64_decode(const char *s, size_t n, unsigned flags, uint8_t *out,
               size_t cap, size_t *len)
{
	size_t data = n, pad = 0, need, o = 0;

	if (!s || !len || (!out && cap))
		return EINVAL;
	while (data > 0 && pad < 2 && s[data - 1] == '=') {
		data--;
		pad++;
	}
	if (pad && (flags & B64_PAD_FORBIDDEN))
		return EBADMSG;
	if (pad && n % 4)
		return EBADMSG;
	if ((flags & B64_PAD_REQUIRED) && n % 4)
		return EBADMSG;
	if (data % 4 == 1)
		return EBADMSG;
	need = data / 4 * 3 + (data % 4 ? data % 4 - 1 : 0);
	if (need > cap)
		return ENOSPC;
	for (size_t i = 0; i < data; i += 4) {
		uint32_t acc = 0;
		size_t k = data - i < 4 ? data - i : 4;

		for (size_t j = 0; j < 4; j++) {
			int v = j < k ? value(s[i + j], flags) : 0;

			if (v < 0)
				return EBADMSG;
			acc = acc << 6 | (uint32_t)v;
		}
		for (size_t j = 0; j + 1 < k; j++)
			out[o++] = (uint8_t)(acc >> (16 - 8 * j));
	}
	*len = o;
	return 0;
}
