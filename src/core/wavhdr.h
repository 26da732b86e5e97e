/*
 * A WAV file's header: its format and where its samples start. Read from
 * a whole file (the greeting) or from the first bytes of a stream as they
 * come (a speech provider's answer), so it asks for more rather than
 * failing when the bytes end before the samples start.
 */
#ifndef VOXGATE_CORE_WAVHDR_H
#define VOXGATE_CORE_WAVHDR_H

#include <stddef.h>
#include <stdint.h>

/* A data_len a writer that streams puts when it does not know the size. */
#define WAVHDR_LEN_UNKNOWN 0xFFFFFFFFu

struct wavhdr {
	uint16_t format; /* 1 = PCM, 3 = IEEE float (WAVE_FORMAT_EXTENSIBLE's
	                    sub-format when it is that) */
	uint16_t channels;
	uint32_t rate;
	uint16_t bits;
	size_t data_off;   /* the first sample's byte */
	uint32_t data_len; /* as the data chunk says: a file's may claim more
	                      than it holds, a stream's 0 or
	                      WAVHDR_LEN_UNKNOWN */
};

/*
 * Reads the header at buf[0..len): "RIFF", "WAVE", the chunks up to the
 * data chunk's, with a fmt chunk before it. 0, with *h filled; EAGAIN
 * when buf ends first (more bytes may complete it); EBADMSG when it is
 * not a WAV header, or when the data would start past max bytes (a chunk
 * before it as long as its hostile size says is not waited for); EINVAL.
 * why, when given, says which on failure (a static string).
 */
int wavhdr_read(struct wavhdr *h, const uint8_t *buf, size_t len, size_t max,
                const char **why);

#endif
