/*
 * udp_echo: the physical limit for the media path. One UDP socket per
 * simulated call (ports MIN..MAX), epoll over all of them, recvmmsg() and
 * sendmmsg() each packet straight back to its sender. No parsing, no
 * jitter buffer, no timers: whatever CPU this costs per packet is the floor
 * any RTP relay on this machine pays.
 *
 *   udp_echo -p 40000-40999 [-a 127.0.0.1] [-t THREADS] [-b BATCH]
 *
 * Prints one JSON line {"event":"listening",...} on stdout once every socket
 * is bound, and one {"event":"stats",...} line (packets, packets/s, CPU) at
 * SIGTERM or SIGINT, then exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 64
#define PKT_MAX   2048

struct worker {
	pthread_t thread;
	int epfd;
	int *fds;
	size_t nfds;
	unsigned batch;
	uint64_t packets_in;
	uint64_t packets_out;
	uint64_t bytes_in;
	uint64_t send_errors;
};

static atomic_int stopping;

static void usage(void)
{
	fprintf(stderr,
	        "usage: udp_echo -p MIN-MAX [-a ADDR] [-t THREADS] [-b BATCH]\n"
	        "  -p  UDP port range, one socket per port (one per call)\n"
	        "  -a  address to bind (default 127.0.0.1)\n"
	        "  -t  worker threads, sockets split evenly (default 1)\n"
	        "  -b  recvmmsg/sendmmsg batch (default 16, max %d)\n",
	        MAX_BATCH);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Drains one socket: echoes every queued packet back to its sender. */
static void echo_socket(struct worker *w, int fd)
{
	static _Thread_local unsigned char bufs[MAX_BATCH][PKT_MAX];
	static _Thread_local struct sockaddr_storage addrs[MAX_BATCH];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iovs[MAX_BATCH];

	for (;;) {
		for (unsigned i = 0; i < w->batch; i++) {
			iovs[i].iov_base = bufs[i];
			iovs[i].iov_len = PKT_MAX;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iovs[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &addrs[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
		}
		int n = recvmmsg(fd, msgs, w->batch, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			iovs[i].iov_len = msgs[i].msg_len;
			w->bytes_in += msgs[i].msg_len;
		}
		w->packets_in += (uint64_t)n;
		int sent = 0;
		while (sent < n) {
			int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent),
			                 MSG_DONTWAIT);
			if (k <= 0) {
				w->send_errors += (uint64_t)(n - sent);
				break;
			}
			sent += k;
		}
		w->packets_out += (uint64_t)sent;
		if ((unsigned)n < w->batch)
			return;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];

	while (!atomic_load(&stopping)) {
		int n = epoll_wait(w->epfd, evs, 256, 200);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++)
			echo_socket(w, evs[i].data.fd);
	}
	return NULL;
}

static int open_socket(const char *addr, unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "udp_echo: bad address %s\n", addr);
		exit(2);
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "udp_echo: bind %s:%u: %s\n", addr, port,
		        strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	unsigned pmin = 0, pmax = 0, nthreads = 1, batch = 16;
	int opt;

	while ((opt = getopt(argc, argv, "p:a:t:b:h")) != -1) {
		switch (opt) {
		case 'p':
			if (sscanf(optarg, "%u-%u", &pmin, &pmax) != 2)
				usage();
			break;
		case 'a':
			addr = optarg;
			break;
		case 't':
			nthreads = (unsigned)atoi(optarg);
			break;
		case 'b':
			batch = (unsigned)atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (pmin == 0 || pmax < pmin || pmax > 65535 || nthreads < 1 ||
	    batch < 1 || batch > MAX_BATCH)
		usage();

	/* Workers inherit this mask; only the main thread takes signals. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	size_t nsock = pmax - pmin + 1;
	struct worker *workers = calloc(nthreads, sizeof(*workers));
	int *fds = calloc(nsock, sizeof(*fds));
	if (!workers || !fds) {
		perror("calloc");
		return 1;
	}
	for (size_t i = 0; i < nsock; i++)
		fds[i] = open_socket(addr, pmin + (unsigned)i);

	for (unsigned t = 0; t < nthreads; t++) {
		struct worker *w = &workers[t];
		w->batch = batch;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0) {
			perror("epoll_create1");
			return 1;
		}
		for (size_t i = t; i < nsock; i += nthreads) {
			struct epoll_event ev = {.events = EPOLLIN,
			                         .data.fd = fds[i]};
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fds[i], &ev) <
			    0) {
				perror("epoll_ctl");
				return 1;
			}
		}
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	double t0 = now_s();
	for (unsigned t = 0; t < nthreads; t++) {
		int err = pthread_create(&workers[t].thread, NULL, worker_main,
		                         &workers[t]);
		if (err) {
			fprintf(stderr, "pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	printf("{\"event\":\"listening\",\"addr\":\"%s\",\"ports\":\"%u-%u\","
	       "\"sockets\":%zu,\"threads\":%u,\"pid\":%d}\n",
	       addr, pmin, pmax, nsock, nthreads, (int)getpid());
	fflush(stdout);

	int sig = 0;
	sigwait(&sigs, &sig);
	atomic_store(&stopping, 1);
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(workers[t].thread, NULL);
	double elapsed = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru1);

	uint64_t in = 0, out = 0, bytes = 0, errs = 0;
	for (unsigned t = 0; t < nthreads; t++) {
		in += workers[t].packets_in;
		out += workers[t].packets_out;
		bytes += workers[t].bytes_in;
		errs += workers[t].send_errors;
	}
	double user = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
	double sys = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
	double cpu = user + sys;
	printf("{\"event\":\"stats\",\"signal\":%d,\"elapsed_s\":%.3f,"
	       "\"packets_in\":%llu,\"packets_out\":%llu,\"bytes_in\":%llu,"
	       "\"send_errors\":%llu,\"pps_in\":%.0f,\"cpu_user_s\":%.3f,"
	       "\"cpu_sys_s\":%.3f,\"cpu_pct\":%.1f,"
	       "\"cpu_us_per_packet\":%.3f}\n",
	       sig, elapsed, (unsigned long long)in, (unsigned long long)out,
	       (unsigned long long)bytes, (unsigned long long)errs,
	       elapsed > 0 ? (double)in / elapsed : 0.0, user, sys,
	       elapsed > 0 ? 100.0 * cpu / elapsed : 0.0,
	       in ? 1e6 * cpu / (double)in : 0.0);
	fflush(stdout);
	for (size_t i = 0; i < nsock; i++)
		close(fds[i]);
	for (unsigned t = 0; t < nthreads; t++)
		close(workers[t].epfd);
	free(fds);
	free(workers);
	return 0;
}
