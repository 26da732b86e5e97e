/*
 * Limits on the TCP connections the server accepts (SIP/TCP, the HTTP API,
 * its WebSockets), and on the file descriptors its event loop can hold.
 *
 * libre 1.1.0 accepts inside its own listeners and gives no hook before a
 * connection is taken; its backlog is 5 and its loop holds 1024
 * descriptors. So the server sizes the loop from RLIMIT_NOFILE, and this
 * module supplies accept() and listen() to the process: libre's calls
 * reach them, and they refuse a connection over the caps (closed at once)
 * and give every listener a real backlog. A connection that has sent
 * nothing within silent_ms is shut down, whatever listener took it.
 */
#ifndef VOXGATE_NET_CONNGATE_H
#define VOXGATE_NET_CONNGATE_H

#include <stdint.h>

struct conngate_prm {
	uint32_t max_total;    /* accepted connections open at once */
	uint32_t max_per_addr; /* from one IPv4 address or IPv6 /64 */
	uint32_t silent_ms;    /* 0: no limit */
	uint32_t backlog;      /* every listen(); 0: 1024 */
};

struct conngate_stats {
	uint64_t accepted;
	uint64_t refused_total; /* over max_total */
	uint64_t refused_addr;  /* over max_per_addr */
	uint64_t closed_silent;
	uint32_t open;
};

/*
 * Raises the soft RLIMIT_NOFILE towards want (to the hard limit at most)
 * and sizes the calling thread's libre loop to match. Call right after
 * libre_init(), before anything listens. *got is the descriptor count the
 * loop now holds.
 */
int conngate_fd_setup(uint32_t want, uint32_t *got, const char **why);

/*
 * Starts the gate on the calling thread's loop (the one whose listeners
 * accept); maxfds is what conngate_fd_setup gave. Until then, and after
 * conngate_stop(), accept() and listen() behave as the C library's.
 */
int conngate_start(const struct conngate_prm *prm, uint32_t maxfds);
void conngate_stop(void);

void conngate_stats(struct conngate_stats *st);

/* Checks now what a timer would check within a second: closed
 * connections, silent ones (for the tests). */
void conngate_sweep(void);

#endif
