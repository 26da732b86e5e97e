/*
 * The network providers' shared pieces (provider.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "worker/provider.h"

void provider_mask(char *s, const char *key)
{
	mask_line(s, key);
}

void provider_why(char *why, int err, uint16_t status, const char *body,
                  size_t len, const char *transfer_why, const char *key)
{
	json_t *root = NULL;
	const char *msg = NULL;

	if (status && status != 200 && body && len)
		root = json_loadb(body, len, 0, NULL);
	if (root) {
		json_t *e = json_object_get(root, "error");

		msg = json_is_string(e)
		          ? json_string_value(e)
		          : json_string_value(json_object_get(e, "message"));
		if (!msg)
			msg =
			    json_string_value(json_object_get(root, "message"));
	}
	if (err)
		snprintf(why, PROVIDER_WHY_MAX, "%s (%s)",
		         transfer_why && transfer_why[0] ? transfer_why
		                                         : strerror(err),
		         strerror(err));
	else if (msg)
		snprintf(why, PROVIDER_WHY_MAX, "HTTP %u: %s", status, msg);
	else if (body && len)
		snprintf(why, PROVIDER_WHY_MAX, "HTTP %u: %.*s", status,
		         (int)(len < 160 ? len : 160), body);
	else
		snprintf(why, PROVIDER_WHY_MAX, "HTTP %u", status);
	json_decref(root);
	provider_mask(why, key);
}

int provider_auth(char **hdrp, const char *key)
{
	*hdrp = NULL;
	if (!key || !key[0])
		return 0;
	return asprintf(hdrp, "Authorization: Bearer %s", key) < 0 ? ENOMEM : 0;
}
