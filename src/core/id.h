/* LiveKit-style identifiers: a prefix and 12 random characters from the
 * shortuuid alphabet (RM_..., PA_..., EV_...). */
#ifndef VOXGATE_CORE_ID_H
#define VOXGATE_CORE_ID_H

#include <stddef.h>

#define ID_RANDOM_LEN 12

/* Writes n random characters of the alphabet to out (no terminator). */
void id_random(char *out, size_t n);
/* prefix + 12 random characters, terminated; truncated to outsz. */
void id_make(char *out, size_t outsz, const char *prefix);

#endif
