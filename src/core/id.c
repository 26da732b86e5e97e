#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include "core/id.h"

static const char alphabet[] =
    "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

void id_random(char *out, size_t n)
{
	unsigned char r[64];
	const size_t len = sizeof(alphabet) - 1; /* 57 */

	while (n) {
		size_t chunk = n < sizeof(r) ? n : sizeof(r);
		size_t got = 0;

		while (got < chunk) {
			ssize_t k = getrandom(r + got, chunk - got, 0);
			if (k > 0)
				got += (size_t)k;
		}
		for (size_t i = 0; i < chunk; i++) {
			/* 57 * 4 = 228: drop the biased top to stay uniform. */
			while (r[i] >= 228) {
				if (getrandom(&r[i], 1, 0) != 1)
					r[i] = 0;
			}
			*out++ = alphabet[r[i] % len];
		}
		n -= chunk;
	}
}

void id_make(char *out, size_t outsz, const char *prefix)
{
	char rnd[ID_RANDOM_LEN];

	if (!outsz)
		return;
	id_random(rnd, sizeof(rnd));
	snprintf(out, outsz, "%s%.*s", prefix ? prefix : "", ID_RANDOM_LEN,
	         rnd);
}
