#include <errno.h>
#include <re.h>
#include "sip/tries.h"

struct tries {
	uint32_t max, window_ms, cap;
	struct hash *ht;
	struct list order; /* by the start of their window, oldest first */
	uint32_t n;
};

struct try_addr {
	struct le le, he;
	struct sa addr;
	uint64_t first_ms; /* the window's start: the first failure in it */
	uint32_t count;
};

static void addr_destructor(void *arg)
{
	struct try_addr *a = arg;

	list_unlink(&a->le);
	hash_unlink(&a->he);
}

static void tries_destructor(void *arg)
{
	struct tries *t = arg;

	list_flush(&t->order);
	mem_deref(t->ht);
}

static bool addr_cmp(struct le *le, void *arg)
{
	const struct try_addr *a = le->data;

	return sa_cmp(&a->addr, arg, SA_ADDR);
}

static struct try_addr *find(const struct tries *t, const struct sa *addr)
{
	return list_ledata(
	    hash_lookup(t->ht, sa_hash(addr, SA_ADDR), addr_cmp, (void *)addr));
}

int tries_alloc(struct tries **tp, uint32_t max, uint32_t window_ms,
                uint32_t cap)
{
	struct tries *t;
	int err;

	if (!tp || !cap)
		return EINVAL;
	t = mem_zalloc(sizeof(*t), tries_destructor);
	if (!t)
		return ENOMEM;
	t->max = max;
	t->window_ms = window_ms;
	t->cap = cap;
	list_init(&t->order);
	err = hash_alloc(&t->ht, 256);
	if (err)
		mem_deref(t);
	else
		*tp = t;
	return err;
}

void tries_fail(struct tries *t, const struct sa *addr, uint64_t now_ms)
{
	struct try_addr *a;

	if (!t || !addr || !t->max)
		return;
	a = find(t, addr);
	if (a && now_ms - a->first_ms >= t->window_ms) {
		/* a new window: to the end of the line */
		list_unlink(&a->le);
		list_append(&t->order, &a->le, a);
		a->first_ms = now_ms;
		a->count = 0;
	}
	if (!a) {
		if (t->n >= t->cap) {
			mem_deref(list_ledata(list_head(&t->order)));
			t->n--;
		}
		a = mem_zalloc(sizeof(*a), addr_destructor);
		if (!a)
			return;
		a->addr = *addr;
		a->first_ms = now_ms;
		list_append(&t->order, &a->le, a);
		hash_append(t->ht, sa_hash(addr, SA_ADDR), &a->he, a);
		t->n++;
	}
	a->count++;
}

uint64_t tries_blocked(const struct tries *t, const struct sa *addr,
                       uint64_t now_ms)
{
	const struct try_addr *a;

	if (!t || !addr || !t->max)
		return 0;
	a = find(t, addr);
	if (!a || a->count < t->max || now_ms - a->first_ms >= t->window_ms)
		return 0;
	return a->first_ms + t->window_ms - now_ms;
}
