/* RFC 4733's telephone-event codes of the keys 0-9 * # A-D. */
#ifndef VOXGATE_MEDIA_DTMF_H
#define VOXGATE_MEDIA_DTMF_H

#include <string.h>

#define DTMF_KEYS "0123456789*#ABCD"

/* The event code of a key, or -1 for another character. */
static inline int dtmf_code(char key)
{
	const char *k = key ? strchr(DTMF_KEYS, key) : NULL;

	return k ? (int)(k - DTMF_KEYS) : -1;
}

/* The key of an event code, or '\0' for an event that is no key. */
static inline char dtmf_key(unsigned code)
{
	return code < sizeof(DTMF_KEYS) - 1 ? DTMF_KEYS[code] : '\0';
}

#endif
