#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <speex/speex_resampler.h>
#include "core/le.h"
#include "core/wavhdr.h"
#include "media/wav.h"

#define WAV_MAX_BYTES (64u << 20)

struct wav_fmt {
	uint16_t format; /* 1 = PCM, 3 = IEEE float */
	uint16_t channels;
	uint32_t rate;
	uint16_t bits;
};

static float sample_at(const uint8_t *p, const struct wav_fmt *f)
{
	switch (f->bits) {
	case 8:
		return ((float)p[0] - 128.0f) / 128.0f;
	case 16:
		return (float)(int16_t)get_le16(p) / 32768.0f;
	case 24:
		return (float)((int32_t)((uint32_t)p[0] << 8 |
		                         (uint32_t)p[1] << 16 |
		                         (uint32_t)p[2] << 24) >>
		               8) /
		       8388608.0f;
	default:
		if (f->format == 3) {
			float v;
			uint32_t u = get_le32(p);
			memcpy(&v, &u, sizeof(v));
			return v;
		}
		return (float)(int32_t)get_le32(p) / 2147483648.0f;
	}
}

static int16_t to_s16(float v)
{
	if (isnan(v))
		return 0;
	v *= 32768.0f;
	if (v >= 32767.0f)
		return 32767;
	if (v <= -32768.0f)
		return -32768;
	return (int16_t)lrintf(v);
}

static int read_file(const char *path, uint8_t **bufp, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int err = 0;

	if (!f)
		return errno;
	for (;;) {
		if (len == cap) {
			uint8_t *nb;
			cap = cap ? cap * 2 : 65536;
			if (cap > WAV_MAX_BYTES) {
				err = EFBIG;
				break;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				err = EIO;
			break;
		}
	}
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int wav_load(const char *path, uint32_t rate, int16_t **pcmp, size_t *samplesp,
             const char **err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct wavhdr hdr;
	struct wav_fmt fmt = {0};
	const uint8_t *data = NULL;
	size_t data_len = 0;
	int16_t *mono = NULL, *out = NULL;
	const char *why = NULL;
	int e;

	if (!path || !rate || !pcmp || !samplesp)
		return EINVAL;

	e = read_file(path, &buf, &len);
	if (e) {
		why = strerror(e);
		goto out;
	}
	e = wavhdr_read(&hdr, buf, len, len, &why);
	if (e || !hdr.channels || !hdr.rate) {
		/* a file ends where a stream would wait for more */
		if (!e || e == EAGAIN)
			why = "no fmt or data chunk";
		e = EBADMSG;
		goto out;
	}
	fmt = (struct wav_fmt){hdr.format, hdr.channels, hdr.rate, hdr.bits};
	data = buf + hdr.data_off;
	data_len = hdr.data_len < len - hdr.data_off ? hdr.data_len
	                                             : len - hdr.data_off;
	if (!((fmt.format == 1 && (fmt.bits == 8 || fmt.bits == 16 ||
	                           fmt.bits == 24 || fmt.bits == 32)) ||
	      (fmt.format == 3 && fmt.bits == 32))) {
		why = "unsupported sample format (need PCM or float)";
		e = ENOTSUP;
		goto out;
	}

	size_t frame_bytes = (size_t)fmt.channels * (fmt.bits / 8);
	size_t frames = data_len / frame_bytes;
	mono = malloc((frames ? frames : 1) * sizeof(*mono));
	if (!mono) {
		e = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < frames; i++) {
		float sum = 0;
		for (unsigned c = 0; c < fmt.channels; c++)
			sum += sample_at(
			    data + i * frame_bytes + c * (fmt.bits / 8), &fmt);
		mono[i] = to_s16(sum / (float)fmt.channels);
	}

	if (fmt.rate == rate) {
		out = mono;
		mono = NULL;
		*samplesp = frames;
	} else {
		int rerr = 0;
		SpeexResamplerState *rs =
		    speex_resampler_init(1, fmt.rate, rate, 8, &rerr);
		spx_uint32_t in_len = (spx_uint32_t)frames;
		spx_uint32_t want =
		    (spx_uint32_t)((uint64_t)frames * rate / fmt.rate);
		spx_uint32_t out_len = want + 1;

		if (!rs) {
			why = "cannot resample";
			e = EINVAL;
			goto out;
		}
		out = malloc((out_len ? out_len : 1) * sizeof(*out));
		if (!out) {
			speex_resampler_destroy(rs);
			e = ENOMEM;
			goto out;
		}
		speex_resampler_skip_zeros(rs);
		speex_resampler_process_int(rs, 0, mono, &in_len, out,
		                            &out_len);
		/* The filter holds back its last few ms: push zeros through
		 * until the whole file has come out. */
		while (out_len < want) {
			static const spx_int16_t zeros[160];
			spx_uint32_t zin = 160, zout = want - out_len;

			speex_resampler_process_int(rs, 0, zeros, &zin,
			                            out + out_len, &zout);
			if (!zout)
				break;
			out_len += zout;
		}
		speex_resampler_destroy(rs);
		*samplesp = out_len;
	}
	*pcmp = out;
	e = 0;
out:
	free(buf);
	free(mono);
	if (e && err)
		*err = why ? why : strerror(e);
	return e;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The header, then the samples little-endian whatever the host's order,
 * a block at a time. */
static int wav_write(int fd, const int16_t *pcm, size_t samples, uint32_t rate)
{
	uint32_t data = (uint32_t)(samples * 2);
	uint8_t block[4096];
	int err;

	memcpy(block, "RIFF", 4);
	put_le32(block + 4, 36 + data);
	memcpy(block + 8, "WAVEfmt ", 8);
	put_le32(block + 16, 16);
	put_le16(block + 20, 1); /* PCM */
	put_le16(block + 22, 1); /* mono */
	put_le32(block + 24, rate);
	put_le32(block + 28, rate * 2);
	put_le16(block + 32, 2);
	put_le16(block + 34, 16);
	memcpy(block + 36, "data", 4);
	put_le32(block + 40, data);
	err = write_all(fd, block, 44);
	while (!err && samples) {
		size_t n =
		    samples < sizeof(block) / 2 ? samples : sizeof(block) / 2;

		for (size_t i = 0; i < n; i++)
			put_le16(block + 2 * i, (uint16_t)pcm[i]);
		err = write_all(fd, block, 2 * n);
		pcm += n;
		samples -= n;
	}
	return err;
}

int wav_save(const char *path, const int16_t *pcm, size_t samples,
             uint32_t rate)
{
	static atomic_uint seq;
	size_t len;
	char *tmp;
	int fd = -1, err = 0;

	if (!path || !*path || !rate || rate > UINT32_MAX / 2 ||
	    (samples && !pcm))
		return EINVAL;
	if (samples > (UINT32_MAX - 36) / 2)
		return EFBIG;
	len = strlen(path) + 48;
	tmp = malloc(len);
	if (!tmp)
		return ENOMEM;
	/* A name no other writer (thread or process) is using: the same
	 * directory, so the rename cannot cross file systems. */
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		snprintf(tmp, len, "%s.%ld.%u.tmp", path, (long)getpid(),
		         atomic_fetch_add(&seq, 1));
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST) {
			err = errno;
			break;
		}
	}
	if (fd < 0) {
		free(tmp);
		return err ? err : EEXIST;
	}
	err = wav_write(fd, pcm, samples, rate);
	/* On disk before it takes the name, so a crash cannot leave a
	 * truncated file under it either. */
	if (!err && fsync(fd))
		err = errno;
	if (close(fd) && !err)
		err = errno;
	if (!err && rename(tmp, path))
		err = errno;
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}
