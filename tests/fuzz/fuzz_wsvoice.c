/*
 * A streaming voice provider's messages (ElevenLabs, Cartesia) as the
 * worker reads them (wsvoice_read): any bytes; a context id is kept only
 * when it fits, the reason is one line within its bound, the audio points
 * into the message and decodes, block by block as the voice does it, to
 * at most three bytes per four characters.
 *
 * Input: a dialect byte (bit 0: Cartesia), then the message.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "core/b64.h"
#include "core/g711.h"
#include "worker/wsvoice.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	enum wsvoice_dialect d =
	    fuzz_u8(&in) & 1 ? WSVOICE_CARTESIA : WSVOICE_ELEVENLABS;
	struct wsvoice_msg m;
	void *root = NULL;
	uint8_t raw[768];
	int16_t pcm[768];
	size_t n;
	int err;

	err = wsvoice_read(d, in.p, in.n, &m, &root);
	if (err) {
		FUZZ_CHECK(err == EBADMSG && !root);
		return 0;
	}
	FUZZ_CHECK(root);
	n = strnlen(m.ctx, sizeof(m.ctx));
	FUZZ_CHECK(n < sizeof(m.ctx));
	n = strnlen(m.why, sizeof(m.why));
	FUZZ_CHECK(n < sizeof(m.why));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)m.why[i] >= 0x20 && m.why[i] != 0x7f);
	FUZZ_CHECK(!m.error || n > 0);
	FUZZ_CHECK(!m.auth || m.error);
	FUZZ_CHECK(m.status < 1000);
	if (m.audio) {
		const char *s = m.audio;
		size_t left = m.audio_len;

		FUZZ_CHECK(left > 0 && strlen(s) >= left);
		while (left) {
			size_t k = left < 1024 ? left : 1024, len = 0;

			if (b64_decode(s, k, 0, raw, sizeof(raw), &len))
				break;
			FUZZ_CHECK(len <= k / 4 * 3 + 2);
			g711_ulaw_decode(pcm, raw, len);
			s += k;
			left -= k;
		}
	}
	json_decref(root);
	return 0;
}
