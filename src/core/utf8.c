#include <string.h>
#include "core/utf8.h"

size_t utf8_copy(char *dst, size_t size, const char *src, size_t n)
{
	if (!size)
		return 0;
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

size_t utf8_trim(const char *b, size_t len)
{
	size_t i = len, cont = 0, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)b[i - 1] & 0xc0) == 0x80 && cont < 3) {
		i--;
		cont++;
	}
	if (i == 0)
		return len;
	lead = (unsigned char)b[i - 1];
	need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
	return need > cont ? i - 1 : len;
}

size_t utf8_next(const char *b, size_t len, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)b;
	unsigned c, lo = 0x80, hi = 0xbf;
	size_t n, k;
	uint32_t v;

	if (!len)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	/* the second byte's range rules out overlong forms, surrogates and
	 * code points past U+10FFFF */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, v = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, v = c & 0x0fu;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, v = c & 0x07u;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3fu);
	}
	*cp = v;
	return n;
}

bool utf8_valid(const char *b, size_t len)
{
	size_t i = 0, n;
	uint32_t cp;

	while (i < len) {
		n = utf8_next(b + i, len - i, &cp);
		if (!n)
			return false;
		i += n;
	}
	return true;
}
