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
