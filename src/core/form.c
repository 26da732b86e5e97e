/*
 * application/x-www-form-urlencoded, read whole into one block.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "core/form.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n bytes of urlencoded s into out, NUL-terminated. A NUL byte is
 * refused because the pair is handed on as C strings, which it would cut
 * short without a trace. */
static int form_decode(const char *s, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return EBADMSG;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return EBADMSG;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '\0')
			return EBADMSG;
		*out++ = (char)c;
	}
	*out = '\0';
	return 0;
}

int form_parse(struct form *f, const char *data, size_t len)
{
	size_t npairs = 0, start, i, k = 0;
	struct form_param *v;
	char *str;

	if (!f)
		return EINVAL;
	f->v = NULL;
	f->n = 0;
	if (!data && len)
		return EINVAL;
	if (len > FORM_MAX_LEN)
		return EMSGSIZE;
	for (start = 0, i = 0; i <= len; i++) {
		if (i == len || data[i] == '&') {
			if (i > start)
				npairs++;
			start = i + 1;
		}
	}
	if (npairs == 0)
		return 0;
	if (npairs > FORM_MAX_PARAMS)
		return EMSGSIZE;

	/* One block: the pairs, then their strings, which decoding only
	 * shortens; each pair needs at most two NULs beyond its bytes. */
	v = malloc(npairs * sizeof(*v) + len + 2 * npairs);
	if (!v)
		return ENOMEM;
	str = (char *)(v + npairs);
	for (start = 0, i = 0; i <= len; i++) {
		const char *seg = data + start, *eq;
		size_t seglen = i - start, nlen;
		int err;

		if (i < len && data[i] != '&')
			continue;
		start = i + 1;
		if (seglen == 0)
			continue;
		eq = memchr(seg, '=', seglen);
		nlen = eq ? (size_t)(eq - seg) : seglen;
		v[k].name = str;
		err = form_decode(seg, nlen, str);
		if (!err) {
			str += strlen(str) + 1;
			v[k].value = str;
			err = eq ? form_decode(eq + 1, seglen - nlen - 1, str)
			         : form_decode("", 0, str);
		}
		if (err) {
			free(v);
			return err;
		}
		str += strlen(str) + 1;
		k++;
	}
	f->v = v;
	f->n = k;
	return 0;
}

const char *form_get(const struct form *f, const char *name)
{
	size_t i;

	if (!f || !name)
		return NULL;
	for (i = 0; i < f->n; i++) {
		if (strcmp(f->v[i].name, name) == 0)
			return f->v[i].value;
	}
	return NULL;
}

void form_reset(struct form *f)
{
	if (!f)
		return;
	free(f->v); /* the strings live in the same block */
	f->v = NULL;
	f->n = 0;
}

size_t form_encode(char *out, size_t sz, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		             c == '_' || c == '~';
		char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
		size_t k = plain ? 1 : 3;

		for (size_t j = 0; j < k; j++, len++) {
			if (len + 1 < sz)
				out[len] = plain ? (char)c : enc[j];
		}
	}
	if (sz)
		out[len < sz ? len : sz - 1] = '\0';
	return len;
}
