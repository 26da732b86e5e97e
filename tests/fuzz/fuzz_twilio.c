/*
 * What Twilio's webhooks bring: the urlencoded form (or query), the
 * X-Twilio-Signature header, and the values that go into the TwiML
 * voxgate answers with. A form signed by twilio_signature must pass
 * twilio_signature_check.
 *
 * Input: the X-Twilio-Signature value, a newline, then the body.
 */
#include <errno.h>

#include "carrier/twilio.h"

#include "fuzz.h"

#define TOKEN "12345678901234567890123456789012"
#define URL   "https://voxgate.example.com/twilio/voice?x=1"

static void twiml(const struct form *f)
{
	const char *to = form_get(f, "To");
	const char *sid = form_get(f, "CallSid");
	struct form_param p[2] = {
	    {.name = (char *)"From", .value = (char *)form_get(f, "From")},
	    {.name = (char *)"To", .value = (char *)to},
	};
	char *out = NULL;

	if (to && sid &&
	    !twilio_twiml_dial(
	        &out, "sip:voxgate.example.com:5060;transport=tcp", to, sid))
		free(out);
	out = NULL;
	if (p[0].value && p[1].value &&
	    !twilio_twiml_stream(
	        &out, "wss://voxgate.example.com/twilio/stream", p, 2))
		free(out);
	out = NULL;
	if (f->n && !twilio_twiml_say_hangup(&out, f->v[f->n - 1].value))
		free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char sig[TWILIO_SIGNATURE_LEN + 1];
	struct form f;
	const uint8_t *p;
	size_t len;
	char *hdr, *body;
	int err;

	if (!fuzz_piece(&in, "\n", &p, &len))
		return 0;
	hdr = fuzz_copy(p, len, true);
	body = fuzz_copy(in.p, in.n, false);
	err = form_parse(&f, body, in.n);
	if (err) {
		FUZZ_CHECK(err == EBADMSG || err == EMSGSIZE);
		FUZZ_CHECK(f.n == 0);
	}
	FUZZ_CHECK(f.n <= FORM_MAX_PARAMS);
	err = twilio_signature_check(TOKEN, URL, &f, NULL, 0, hdr);
	FUZZ_CHECK(err == 0 || err == EACCES);
	FUZZ_CHECK(twilio_signature(TOKEN, URL, &f, sig) == 0);
	FUZZ_CHECK(strlen(sig) == TWILIO_SIGNATURE_LEN);
	FUZZ_CHECK(twilio_signature_check(TOKEN, URL, &f, NULL, 0, sig) == 0);
	twiml(&f);
	form_reset(&f);
	free(body);
	free(hdr);
	return 0;
}
