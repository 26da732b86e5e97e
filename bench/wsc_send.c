/*
 * What wsc_send costs per audio message: a socket to a sink server in a
 * thread of this process (ws:// on 127.0.0.1), N binary messages of 160
 * bytes (20 ms of mu-law, what a call sends Deepgram every 20 ms) sent
 * one at a time with the loop turning between them. Prints the wall time
 * per send; run under callgrind with --toggle-collect=wsc_send for the
 * instructions per send (bench/README.md, module benchmarks).
 *
 *   build/bench/wsc_send [N]      (default 20000)
 */
#include <pthread.h>
#include <re.h>
#include <curl/curl.h>

#include "net/wsc.h"
#include "../tests/unit/ws_standin.h"

static atomic_bool stop;
static int lfd, port;
static unsigned long total, sent, n_msgs = 20000;
static struct wsc *w;
static struct tmr tick;
static uint64_t t0, t1;

static uint64_t usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *sink(void *arg)
{
	int fd = standin_accept(lfd, &stop);
	char *p;
	size_t n;

	(void)arg;
	if (fd < 0 || !ws_upgrade(fd, NULL, 0))
		return NULL;
	while (ws_read_frame(fd, &p, &n) == WSC_BINARY) {
		total += n;
		free(p);
	}
	close(fd);
	return NULL;
}

static void send_some(void *arg)
{
	static uint8_t frame[160];

	(void)arg;
	/* a few per turn, as a loop with several calls on it would */
	for (int i = 0; i < 10 && sent < n_msgs; i++, sent++) {
		frame[0] = (uint8_t)sent;
		if (wsc_send(w, WSC_BINARY, frame, sizeof(frame))) {
			fprintf(stderr, "send %lu refused\n", sent);
			re_cancel();
			return;
		}
	}
	if (sent < n_msgs) {
		tmr_start(&tick, 0, send_some, NULL);
	} else {
		t1 = usec();
		wsc_close(w, 1000, NULL);
	}
}

static void open_h(void *arg)
{
	(void)arg;
	t0 = usec();
	send_some(NULL);
}

static void close_h(const struct wsc_end *end, void *arg)
{
	(void)arg;
	if (end->err)
		fprintf(stderr, "ended: %s\n", end->reason);
	re_cancel();
}

int main(int argc, char **argv)
{
	struct wsc_prm prm = {0};
	char url[64];
	pthread_t th;
	const char *why = NULL;

	if (argc > 1)
		n_msgs = strtoul(argv[1], NULL, 10);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (libre_init())
		return 1;
	lfd = standin_listen(&port);
	if (lfd < 0 || pthread_create(&th, NULL, sink, NULL))
		return 1;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
	prm.url = url;
	prm.openh = open_h;
	prm.closeh = close_h;
	if (wsc_alloc(&w, &prm, &why)) {
		fprintf(stderr, "wsc_alloc: %s\n", why);
		return 1;
	}
	re_main(NULL);
	w = mem_deref(w);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	close(lfd);
	printf("%lu sends, %.3f us each (wall), sink got %lu bytes\n", sent,
	       sent ? (double)(t1 - t0) / (double)sent : 0.0, total);
	tmr_cancel(&tick);
	libre_close();
	curl_global_cleanup();
	return sent == n_msgs && total == n_msgs * 160 ? 0 : 1;
}
