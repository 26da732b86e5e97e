/*
 * The SIP URI a carrier dials (sipuri.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "carrier/sipuri.h"

/* What a SIP URI's user part carries unescaped besides letters and digits:
 * RFC 3986's unreserved marks and '+', which E.164 numbers start with. */
#define USER_MARKS "-_.!~*'()+"

int sipuri_with_user(char **out, const char *sip_uri, const char *user)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *host, *at;
	size_t scheme, n;
	char *p, *w;

	if (!out)
		return EINVAL;
	*out = NULL;
	if (!sip_uri || !user || !*user)
		return EINVAL;
	if (!strncasecmp(sip_uri, "sip:", 4))
		scheme = 4;
	else if (!strncasecmp(sip_uri, "sips:", 5))
		scheme = 5;
	else
		return EINVAL;
	host = sip_uri + scheme;
	at = host + strcspn(host, "@;?");
	if (*at == '@')
		host = at + 1;
	if (strcspn(host, ";?") == 0)
		return EINVAL;
	n = scheme + 3 * strlen(user) + 1 + strlen(host) + 1;
	p = malloc(n);
	if (!p)
		return ENOMEM;
	memcpy(p, sip_uri, scheme);
	w = p + scheme;
	for (const char *s = user; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(USER_MARKS, c)) {
			*w++ = (char)c;
		} else {
			*w++ = '%';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		}
	}
	*w++ = '@';
	strcpy(w, host);
	*out = p;
	return 0;
}
