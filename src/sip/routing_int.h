/*
 * Routing's insides, shared by routing.c (dispatch rules, names, the
 * helpers below) and routing_trunk.c (trunk matching and checks) and by
 * no one else.
 */
#ifndef VOXGATE_SIP_ROUTING_INT_H
#define VOXGATE_SIP_ROUTING_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define ROUTING_WHY_MAX 1024

/* Where the messages handed back through `why` are built. */
extern _Thread_local char routing_why_buf[ROUTING_WHY_MAX];

const char *routing_jstr(const json_t *obj, const char *key);
/* The array under key, or NULL when absent, not an array or empty. */
const json_t *routing_jarr(const json_t *obj, const char *key);
const char *routing_arr_str(const json_t *arr, size_t i);
const char *routing_nz(const char *s);

/* Go-style quoting (%q) into a bounded buffer. */
struct routing_sbuf {
	char *p;
	size_t size, len; /* len may exceed size - 1: output was truncated */
};

void routing_sb_putc(struct routing_sbuf *b, char c);
void routing_sb_puts(struct routing_sbuf *b, const char *s);
void routing_sb_quote(struct routing_sbuf *b, const char *s);
/* An empty message in routing_why_buf. */
struct routing_sbuf routing_why_begin(void);

/* NormalizeNumber(a) == NormalizeNumber(b), without allocating. */
bool routing_norm_eq(const char *a, const char *b);

const char *routing_print_id(const char *s);
/* The i-th value of a key dimension: the array's entries, or one "" when
 * the array is empty. */
size_t routing_dim_len(const json_t *arr);
const char *routing_dim_get(const json_t *arr, size_t i);

#endif
