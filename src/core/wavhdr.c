#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/le.h"
#include "core/wavhdr.h"

static int fail(const char **why, const char *what)
{
	if (why)
		*why = what;
	return EBADMSG;
}

/* Whether buf[0..len) can still be the start of tag at off. */
static bool tag_at(const uint8_t *buf, size_t len, size_t off, const char *tag)
{
	size_t n = len > off ? len - off : 0;

	return !n || !memcmp(buf + off, tag, n < 4 ? n : 4);
}

int wavhdr_read(struct wavhdr *h, const uint8_t *buf, size_t len, size_t max,
                const char **why)
{
	/* 64 bits: a chunk's 32-bit size added to an offset cannot wrap */
	uint64_t pos = 12;
	bool have_fmt = false;

	if (!h || (len && !buf))
		return EINVAL;
	memset(h, 0, sizeof(*h));
	if (!tag_at(buf, len, 0, "RIFF") || !tag_at(buf, len, 8, "WAVE"))
		return fail(why, "not a RIFF/WAVE file");
	for (;;) {
		uint32_t clen;
		const uint8_t *body;

		if (pos + 8 > max)
			return fail(why, "no data chunk within the header's "
			                 "limit");
		if (pos + 8 > len)
			break;
		clen = get_le32(buf + pos + 4);
		body = buf + pos + 8;
		if (!memcmp(buf + pos, "data", 4)) {
			if (!have_fmt)
				return fail(why,
				            "no fmt chunk before the data");
			h->data_off = (size_t)pos + 8;
			h->data_len = clen;
			return 0;
		}
		if (!memcmp(buf + pos, "fmt ", 4)) {
			uint64_t need = 16;

			if (clen < 16)
				return fail(why, "fmt chunk shorter than 16 "
				                 "bytes");
			if (pos + 8 + 16 <= len && get_le16(body) == 0xfffe &&
			    clen >= 40)
				need = 40;
			if (pos + 8 + need > max)
				return fail(why, "fmt chunk past the header's "
				                 "limit");
			if (pos + 8 + need > len)
				break;
			h->format = get_le16(body);
			h->channels = get_le16(body + 2);
			h->rate = get_le32(body + 4);
			h->bits = get_le16(body + 14);
			if (need == 40)
				h->format = get_le16(body + 24);
			have_fmt = true;
		}
		pos += 8 + (uint64_t)clen + (clen & 1);
	}
	if (why)
		*why = "the header is cut short";
	return EAGAIN;
}
