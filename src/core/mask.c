/*
 * Masking keys (mask.h).
 */
#include <string.h>

#include "core/mask.h"

void mask_key(char *s, const char *key)
{
	size_t kl = key ? strlen(key) : 0;
	char *p;

	if (kl >= 4) {
		for (p = strstr(s, key); p; p = strstr(p + kl, key))
			memset(p, '*', kl);
	}
	for (p = strstr(s, "sk-"); p; p = strstr(p + 3, "sk-")) {
		char *q = p + 3;

		while (*q && *q != ' ' && *q != '.' && *q != ',' && *q != '"' &&
		       *q != '\'' && (unsigned char)*q >= 0x20)
			*q++ = '*';
	}
}

void mask_line(char *s, const char *key)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	mask_key(s, key);
}
