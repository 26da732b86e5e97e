/*
 * Connection limits (conngate.h).
 *
 * DESIGN. accept() and listen() defined here take precedence over the C
 * library's for libre's calls (an executable's symbols come first in the
 * dynamic linker's search), and reach the C library's through
 * dlsym(RTLD_NEXT). The gate works on the thread that started it (the
 * main loop, where libre's listeners run); accept() from anywhere else, or
 * with the gate stopped, is the C library's.
 *
 * Each accepted descriptor gets a slot: the socket's inode (to tell it
 * from a later socket reusing the number once libre has closed it), its
 * address key and when it came. Counts per address live in a small open
 * addressing table rebuilt from the slots at every sweep. A sweep runs
 * every second, and at once (at most every 50 ms) when a cap is reached,
 * so that connections closed since the last one are not counted.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_list.h>
#include <re_main.h>
#include <re_tmr.h>
#include "core/clock.h"
#include "core/log.h"
#include "net/conngate.h"

#define SWEEP_MS        1000
#define FORCED_SWEEP_MS 50
#define DEFAULT_BACKLOG 1024

struct slot {
	uint64_t dev, ino;
	uint64_t since_ms;
	uint64_t key_hi, key_lo;
	bool used, spoke;
};

struct addr_count {
	uint64_t hi, lo;
	uint32_t n;
	bool used;
};

struct gate {
	bool on;
	pthread_t thread;
	struct conngate_prm prm;
	struct slot *slots;
	uint32_t nslots;
	uint32_t hi; /* slots at or above are unused */
	struct addr_count *map;
	uint32_t mapsz; /* a power of two, over twice max_total */
	uint32_t open;
	struct conngate_stats st, logged;
	struct tmr tmr;
	uint64_t forced_ms;
};

static struct gate g;
static int backlog_min; /* 0: the gate is stopped, listen() as it is */

typedef int(accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int(accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int(listen_fn)(int, int);

static void *next_symbol(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* IPv4 (also mapped into IPv6) by address, IPv6 by its /64. */
static bool addr_key(const struct sockaddr_storage *ss, uint64_t *hi,
                     uint64_t *lo)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		*hi = 0;
		*lo = 0xffff00000000ull | ntohl(in->sin_addr.s_addr);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)ss;
		const uint8_t *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			*hi = 0;
			*lo = 0xffff00000000ull | (uint64_t)b[12] << 24 |
			      (uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 |
			      b[15];
			return true;
		}
		*hi = 0;
		for (int i = 0; i < 8; i++)
			*hi = *hi << 8 | b[i];
		*lo = 0;
		return true;
	}
	return false;
}

static struct addr_count *map_find(uint64_t hi, uint64_t lo, bool insert)
{
	uint64_t h = (hi ^ lo * 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull;
	uint32_t mask = g.mapsz - 1, i = (uint32_t)(h >> 32) & mask;

	for (uint32_t n = 0; n < g.mapsz; n++, i = (i + 1) & mask) {
		struct addr_count *e = &g.map[i];

		if (e->used && e->hi == hi && e->lo == lo)
			return e;
		if (!e->used) {
			if (!insert)
				return NULL;
			e->used = true;
			e->hi = hi;
			e->lo = lo;
			e->n = 0;
			return e;
		}
	}
	return NULL;
}

static void slot_free(struct slot *s)
{
	struct addr_count *e = map_find(s->key_hi, s->key_lo, false);

	if (e && e->n)
		e->n--;
	s->used = false;
	g.open--;
}

/* The socket's bytes received so far; false when the kernel cannot say. */
static bool has_spoken(int fd, bool *spoke)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return false;
	if (len < offsetof(struct tcp_info, tcpi_bytes_received) +
	              sizeof(ti.tcpi_bytes_received))
		return false;
	*spoke = ti.tcpi_bytes_received > 0;
	return true;
}

static void log_changes(void)
{
	struct conngate_stats *a = &g.st, *b = &g.logged;

	if (a->refused_total == b->refused_total &&
	    a->refused_addr == b->refused_addr &&
	    a->closed_silent == b->closed_silent)
		return;
	log_event(LOGL_WARN, NULL, "connections_limited",
	          "refused_total=%llu refused_per_address=%llu "
	          "closed_silent=%llu open=%u max=%u max_per_address=%u",
	          (unsigned long long)(a->refused_total - b->refused_total),
	          (unsigned long long)(a->refused_addr - b->refused_addr),
	          (unsigned long long)(a->closed_silent - b->closed_silent),
	          g.open, g.prm.max_total, g.prm.max_per_addr);
	*b = *a;
}

static void sweep(uint64_t now)
{
	uint32_t hi = 0;

	memset(g.map, 0, g.mapsz * sizeof(*g.map));
	for (uint32_t fd = 0; fd < g.hi; fd++) {
		struct slot *s = &g.slots[fd];
		struct stat sb;
		struct addr_count *e;

		if (!s->used)
			continue;
		if (fstat((int)fd, &sb) || (uint64_t)sb.st_ino != s->ino ||
		    (uint64_t)sb.st_dev != s->dev) {
			s->used = false;
			g.open--;
			continue;
		}
		hi = fd + 1;
		e = map_find(s->key_hi, s->key_lo, true);
		if (e)
			e->n++;
		if (s->spoke || !g.prm.silent_ms ||
		    !has_spoken((int)fd, &s->spoke) || s->spoke)
			continue;
		if (now - s->since_ms >= g.prm.silent_ms) {
			/* libre reads the end of the stream and closes it
			 * as any peer's close */
			(void)shutdown((int)fd, SHUT_RDWR);
			s->spoke = true;
			g.st.closed_silent++;
		}
	}
	g.hi = hi;
	g.st.open = g.open;
}

static void sweep_timer(void *arg)
{
	(void)arg;
	sweep(clock_mono_ms());
	log_changes();
	tmr_start(&g.tmr, SWEEP_MS, sweep_timer, NULL);
}

static void forced_sweep(uint64_t now)
{
	if (now - g.forced_ms < FORCED_SWEEP_MS)
		return;
	g.forced_ms = now;
	sweep(now);
}

static bool admit(int fd, const struct sockaddr_storage *ss)
{
	uint64_t now = clock_mono_ms(), hi, lo;
	struct addr_count *e;
	struct stat sb;
	struct slot *s;

	if (!addr_key(ss, &hi, &lo))
		return true; /* not TCP/IP: not ours to count */
	if (fd < 0 || (uint32_t)fd >= g.nslots || fstat(fd, &sb)) {
		g.st.refused_total++;
		return false;
	}
	s = &g.slots[fd];
	if (s->used) /* its former socket is closed: the number is reused */
		slot_free(s);
	if (g.open >= g.prm.max_total)
		forced_sweep(now);
	if (g.open >= g.prm.max_total) {
		g.st.refused_total++;
		return false;
	}
	e = map_find(hi, lo, false);
	if (e && e->n >= g.prm.max_per_addr) {
		forced_sweep(now);
		e = map_find(hi, lo, false);
	}
	if (e && e->n >= g.prm.max_per_addr) {
		g.st.refused_addr++;
		return false;
	}
	if (!e)
		e = map_find(hi, lo, true);
	if (!e) { /* the table is full of addresses seen since a sweep */
		forced_sweep(now);
		e = map_find(hi, lo, true);
	}
	if (!e) {
		g.st.refused_total++;
		return false;
	}
	e->n++;
	*s = (struct slot){.dev = (uint64_t)sb.st_dev,
	                   .ino = (uint64_t)sb.st_ino,
	                   .since_ms = now,
	                   .key_hi = hi,
	                   .key_lo = lo,
	                   .used = true};
	if ((uint32_t)fd >= g.hi)
		g.hi = (uint32_t)fd + 1;
	g.open++;
	g.st.accepted++;
	g.st.open = g.open;
	return true;
}

static int gate_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags,
                       bool four)
{
	static accept_fn *real_accept;
	static accept4_fn *real_accept4;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int c;

	if (four) {
		if (!real_accept4)
			*(void **)&real_accept4 = next_symbol("accept4");
		if (!real_accept4) {
			errno = ENOSYS;
			return -1;
		}
	} else {
		if (!real_accept)
			*(void **)&real_accept = next_symbol("accept");
		if (!real_accept) {
			errno = ENOSYS;
			return -1;
		}
	}
	if (!g.on || !pthread_equal(g.thread, pthread_self()))
		return four ? real_accept4(fd, addr, len, flags)
		            : real_accept(fd, addr, len);
	memset(&ss, 0, sizeof(ss));
	c = four ? real_accept4(fd, (struct sockaddr *)&ss, &sl, flags)
	         : real_accept(fd, (struct sockaddr *)&ss, &sl);
	if (c < 0)
		return c;
	if (!admit(c, &ss)) {
		(void)close(c);
		errno = EAGAIN;
		return -1;
	}
	if (addr && len) {
		memcpy(addr, &ss, *len < sl ? *len : sl);
		*len = sl;
	}
	return c;
}

/* glibc declares them with a transparent union under _GNU_SOURCE; a
 * union of pointers is passed as the pointer. */
#ifdef __USE_GNU
#define SOCKADDR_PTR(a) ((a).__sockaddr__)
#else
#define SOCKADDR_PTR(a) (a)
#endif

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	return gate_accept(fd, SOCKADDR_PTR(addr), len, 0, false);
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
	return gate_accept(fd, SOCKADDR_PTR(addr), len, flags, true);
}

int listen(int fd, int backlog)
{
	static listen_fn *real_listen;

	if (!real_listen)
		*(void **)&real_listen = next_symbol("listen");
	if (!real_listen) {
		errno = ENOSYS;
		return -1;
	}
	if (backlog_min && backlog < backlog_min)
		backlog = backlog_min;
	return real_listen(fd, backlog);
}

/* ---- setup ------------------------------------------------------------ */

int conngate_fd_setup(uint32_t want, uint32_t *got, const char **why)
{
	struct rlimit rl;
	rlim_t n;
	int err;

	if (!got || !why)
		return EINVAL;
	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		*why = "cannot read RLIMIT_NOFILE";
		return errno;
	}
	n = want;
	if (rl.rlim_max != RLIM_INFINITY && n > rl.rlim_max)
		n = rl.rlim_max;
	if (n > rl.rlim_cur) {
		struct rlimit up = {.rlim_cur = n, .rlim_max = rl.rlim_max};

		if (setrlimit(RLIMIT_NOFILE, &up))
			n = rl.rlim_cur;
	} else {
		n = rl.rlim_cur < want ? rl.rlim_cur : want;
	}
	if (n < 64) {
		*why = "RLIMIT_NOFILE is below 64 descriptors";
		return EMFILE;
	}
	/* libre keeps its first size: let it go before anything listens */
	(void)fd_setsize(0);
	err = fd_setsize((int)n);
	if (err) {
		*why = "cannot size the event loop";
		return err;
	}
	*got = (uint32_t)n;
	return 0;
}

int conngate_start(const struct conngate_prm *prm, uint32_t maxfds)
{
	uint32_t sz = 16;

	if (!prm || !prm->max_total || !prm->max_per_addr || !maxfds)
		return EINVAL;
	if (g.on)
		return EALREADY;
	memset(&g, 0, sizeof(g));
	g.prm = *prm;
	if (g.prm.max_total > maxfds)
		g.prm.max_total = maxfds;
	while (sz < 2 * g.prm.max_total + 1)
		sz <<= 1;
	g.slots = calloc(maxfds, sizeof(*g.slots));
	g.map = calloc(sz, sizeof(*g.map));
	if (!g.slots || !g.map) {
		free(g.slots);
		free(g.map);
		memset(&g, 0, sizeof(g));
		return ENOMEM;
	}
	g.nslots = maxfds;
	g.mapsz = sz;
	g.thread = pthread_self();
	tmr_init(&g.tmr);
	tmr_start(&g.tmr, SWEEP_MS, sweep_timer, NULL);
	backlog_min = prm->backlog ? (int)prm->backlog : DEFAULT_BACKLOG;
	g.on = true;
	return 0;
}

void conngate_stop(void)
{
	if (!g.on)
		return;
	tmr_cancel(&g.tmr);
	log_changes();
	free(g.slots);
	free(g.map);
	memset(&g, 0, sizeof(g));
	backlog_min = 0;
}

void conngate_stats(struct conngate_stats *st)
{
	if (!st)
		return;
	*st = g.st;
	st->open = g.open;
}

void conngate_sweep(void)
{
	if (g.on)
		sweep(clock_mono_ms());
}
