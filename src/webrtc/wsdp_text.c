/*
 * Text slices of an SDP (wsdp.h) and the grammars of the fields we copy
 * out (token, ice-char, digits). Apart from the reading (wsdp.c) because
 * the writing (wsdp_write.c, wsdp_sub.c) checks what it is given against
 * the same grammars, so that nothing we write can break a line.
 */

#include "webrtc/wsdp_int.h"

/* ---- text slices ---- */

bool wsdp_span_eq(struct span a, const char *s)
{
	size_t n = strlen(s);

	return a.n == n && !memcmp(a.p, s, n);
}

bool wsdp_span_eq_ci(struct span a, const char *s)
{
	size_t n = strlen(s);

	return a.n == n && !strncasecmp(a.p, s, n);
}

/* The next field of s up to a space; runs of spaces separate one field
 * from the next. An empty span when nothing is left. */
struct span wsdp_next_field(struct span *s)
{
	struct span f;

	while (s->n && s->p[0] == ' ') {
		s->p++;
		s->n--;
	}
	f.p = s->p;
	f.n = 0;
	while (f.n < s->n && s->p[f.n] != ' ')
		f.n++;
	s->p += f.n;
	s->n -= f.n;
	return f;
}

/* Cuts s at its first c: *head gets what precedes, s what follows. */
bool wsdp_split_at(struct span *s, char c, struct span *head)
{
	const char *at = memchr(s->p, c, s->n);

	if (!at)
		return false;
	head->p = s->p;
	head->n = (size_t)(at - s->p);
	s->n -= head->n + 1;
	s->p = at + 1;
	return true;
}

bool wsdp_parse_u32(struct span s, uint32_t max, uint32_t *v)
{
	uint64_t x = 0;

	if (!s.n || s.n > 10)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (x > max)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* RFC 8866 token-char. */
bool wsdp_token_char(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a ||
	       c == 0x2b || c == 0x2d || c == 0x2e ||
	       (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
	       (c >= 0x5e && c <= 0x7e);
}

/* RFC 8839 ice-char. */
bool wsdp_ice_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || c == '+' || c == '/';
}

bool wsdp_visible_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

bool wsdp_proto_char(unsigned char c)
{
	return wsdp_token_char(c) || c == '/';
}

bool wsdp_all_of(struct span s, bool (*ok)(unsigned char))
{
	for (size_t i = 0; i < s.n; i++) {
		if (!ok((unsigned char)s.p[i]))
			return false;
	}
	return true;
}

/* A field of min-max characters, all ok. */
bool wsdp_field_ok(struct span s, size_t min, size_t max,
                   bool (*ok)(unsigned char))
{
	return s.n >= min && s.n <= max && wsdp_all_of(s, ok);
}

void wsdp_copy_span(char *dst, struct span s)
{
	memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
}
