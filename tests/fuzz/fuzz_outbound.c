/*
 * CreateSIPParticipant requests and outbound trunks through
 * outbound_parse, as the API hands them over (camelCase JSON): what it
 * accepts must be safe to write into an INVITE. The URIs and the numbers
 * hold no byte that could end a header or name another host (no CR, LF,
 * space, '<', '>', '@' in a number), the header lines are whole
 * "Name: value\r\n" lines, the durations within their caps.
 *
 * Input: the request JSON, then optionally a line "~~" and the stored
 * trunk's JSON (without it, the request's inline trunk is used).
 */
#include <errno.h>
#include <jansson.h>

#include "sip/outbound.h"

#include "fuzz.h"

static bool clean(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>' ||
		    *s == '"' || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

static bool number_clean(const char *s)
{
	return *s && clean(s) && !strchr(s, '@') && !strchr(s, ':') &&
	       !strchr(s, ';');
}

static void check_headers(const char *h)
{
	while (*h) {
		const char *eol = strstr(h, "\r\n");

		FUZZ_CHECK(eol);
		for (const char *p = h; p < eol; p++)
			FUZZ_CHECK(*p != '\r' && *p != '\n');
		FUZZ_CHECK(memchr(h, ':', (size_t)(eol - h)));
		h = eol + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sep = "\n~~\n";
	const uint8_t *cut = NULL;
	json_t *req, *trunk = NULL;
	struct outbound_call oc;
	const char *why = NULL;
	json_error_t jerr;
	int err;

	for (size_t i = 0; i + 4 <= size; i++) {
		if (!memcmp(data + i, sep, 4)) {
			cut = data + i;
			break;
		}
	}
	req = json_loadb((const char *)data, cut ? (size_t)(cut - data) : size,
	                 0, &jerr);
	if (!req)
		return 0;
	if (cut) {
		trunk = json_loadb((const char *)cut + 4,
		                   size - (size_t)(cut + 4 - data), 0, &jerr);
		if (!trunk) {
			json_decref(req);
			return 0;
		}
	}
	err = outbound_parse(req, trunk, "192.0.2.1", 3600000, &oc, &why);
	if (err) {
		FUZZ_CHECK(err == EINVAL || err == EBADMSG);
		FUZZ_CHECK(why && *why);
		FUZZ_CHECK(!oc.attrs);
	} else {
		FUZZ_CHECK(number_clean(oc.call_to));
		FUZZ_CHECK(number_clean(oc.number));
		FUZZ_CHECK(clean(oc.to_uri) && !strncmp(oc.to_uri, "sip:", 4));
		FUZZ_CHECK(clean(oc.from_uri) &&
		           !strncmp(oc.from_uri, "sip:", 4));
		FUZZ_CHECK(!strchr(oc.from_name, '"') &&
		           !strchr(oc.from_name, '\r') &&
		           !strchr(oc.from_name, '\n'));
		FUZZ_CHECK(*oc.room && *oc.identity);
		FUZZ_CHECK(!strcmp(oc.transport, "udp") ||
		           !strcmp(oc.transport, "tcp") ||
		           !strcmp(oc.transport, "tls"));
		FUZZ_CHECK(oc.ringing_ms > 0 &&
		           oc.ringing_ms <= OUTBOUND_RINGING_MAX_MS);
		FUZZ_CHECK(oc.max_ms <= OUTBOUND_MAX_CALL_MAX_MS);
		FUZZ_CHECK(strspn(oc.dtmf, "0123456789*#ABCDw") ==
		           strlen(oc.dtmf));
		check_headers(oc.headers);
		outbound_reset(&oc);
	}
	json_decref(req);
	json_decref(trunk);
	return 0;
}
