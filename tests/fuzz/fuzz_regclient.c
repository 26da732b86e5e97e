/*
 * The registrations setting (sip/regclient.h): regclient_parse_list over
 * any bytes. What it accepts goes into REGISTERs, log lines and metrics
 * labels unescaped, so every accepted entry must keep to its grammar: no
 * byte outside printable ASCII, no quote, backslash, space or angle
 * bracket, and only sip: URIs.
 *
 * Input: the setting's value (cut at the first NUL, as a flag would be).
 */
#include <errno.h>

#include "sip/regclient.h"

#include "fuzz.h"

static bool clean(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || strchr("\"\\<>", *s))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct regclient_item it[REGCLIENT_MAX];
	char *v = malloc(size + 1);
	const char *why = NULL;
	size_t n = 0, bad = 0;
	int err;

	if (!v)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	err = regclient_parse_list(v, "pw", it, REGCLIENT_MAX, &n, &bad, &why);
	FUZZ_CHECK(err == 0 || err == EINVAL);
	FUZZ_CHECK(err == 0 || (why && bad >= 1));
	FUZZ_CHECK(n <= REGCLIENT_MAX);
	for (size_t i = 0; !err && i < n; i++) {
		const struct regclient_entry *e = &it[i].e;

		if (it[i].trunk_id[0]) {
			FUZZ_CHECK(clean(it[i].trunk_id));
			continue;
		}
		FUZZ_CHECK(!strncmp(e->aor, "sip:", 4) && clean(e->aor));
		FUZZ_CHECK(!strncmp(e->registrar, "sip:", 4) &&
		           clean(e->registrar));
		FUZZ_CHECK(e->user[0] && clean(e->user));
		FUZZ_CHECK(e->expires >= 1 && e->expires <= 86400);
	}
	free(v);
	return 0;
}
