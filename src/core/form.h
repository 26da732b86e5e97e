/*
 * application/x-www-form-urlencoded: a POSTed form (Twilio's webhooks) or
 * the query of a URL (LiveKit's /rtc).
 */
#ifndef VOXGATE_CORE_FORM_H
#define VOXGATE_CORE_FORM_H

#include <stddef.h>

/* Bounds on what form_parse accepts, far above any webhook or query,
 * so that garbage costs little memory. */
#define FORM_MAX_LEN    (64 * 1024)
#define FORM_MAX_PARAMS 1000

struct form_param {
	char *name;
	char *value;
};

/* Pairs in the order received, names repeated as they came. */
struct form {
	struct form_param *v;
	size_t n;
};

/*
 * Decodes an application/x-www-form-urlencoded body, or a URL query
 * without its '?': '+' is a space, %XX a byte; empty values and repeated
 * names are kept, empty pairs ("a=1&&b=2") skipped. EBADMSG for a bad %
 * escape or a NUL byte (raw or %00), EMSGSIZE beyond the bounds above.
 * *f is the caller's struct (stack or embedded): form_reset frees
 * what this put in it; on error *f is empty.
 */
int form_parse(struct form *f, const char *data, size_t len);

/* The first value of name, or NULL. */
const char *form_get(const struct form *f, const char *name);

void form_reset(struct form *f);

/*
 * Percent-encodes s (n bytes) for a URL's query or a form: RFC 3986's
 * unreserved characters stay, every other byte becomes %XX (a space too,
 * never '+', which some servers read as a plus). Writes at most sz bytes
 * to out, NUL included, and returns the length of the whole encoding, as
 * snprintf does: a first call with sz 0 sizes the buffer.
 */
size_t form_encode(char *out, size_t sz, const char *s, size_t n);

#endif
