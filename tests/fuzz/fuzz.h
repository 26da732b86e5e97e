/*
 * Helpers shared by the libFuzzer targets: reading the input as a stream
 * of fields, copies that end exactly where the bytes do (so ASan sees any
 * read past them), a file holding the input for the parsers that take a
 * path, and a check that aborts, which libFuzzer reports with the input.
 */
#ifndef VOXGATE_FUZZ_H
#define VOXGATE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* The input, read front to back. Reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t hi = fuzz_u16(in);

	return hi << 16 | fuzz_u16(in);
}

/* Up to n bytes; *len says how many there were. */
static inline const uint8_t *fuzz_take(struct fuzz_in *in, size_t n,
                                       size_t *len)
{
	const uint8_t *p = in->p;

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

/* The bytes up to the next occurrence of sep (not included, and
 * skipped), or up to the end. false once nothing is left. */
static inline bool fuzz_piece(struct fuzz_in *in, const char *sep,
                              const uint8_t **p, size_t *len)
{
	size_t sl = strlen(sep);
	const uint8_t *at;

	if (!in->n)
		return false;
	at = sl ? memmem(in->p, in->n, sep, sl) : NULL;
	*p = in->p;
	if (!at) {
		*len = in->n;
		in->p += in->n;
		in->n = 0;
		return true;
	}
	*len = (size_t)(at - in->p);
	in->n -= *len + sl;
	in->p = at + sl;
	return true;
}

/* A malloc'd copy of exactly len bytes, plus a NUL when nul is set;
 * free it. */
static inline void *fuzz_copy(const void *p, size_t len, bool nul)
{
	uint8_t *c = malloc(len + (nul ? 1 : 0) + (len || nul ? 0 : 1));

	if (!c)
		abort();
	if (len)
		memcpy(c, p, len);
	if (nul)
		c[len] = '\0';
	return c;
}

/*
 * A path whose file holds exactly data: an in-memory file reopened
 * through /proc, so the parsers that take a path read from no disk. The
 * same file is rewritten for each input.
 */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("fuzz-input", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	return path;
}

#endif
