/*
 * Pieces for the stand-in HTTP servers some tests run in a thread of their
 * own: a listening socket on 127.0.0.1, an accept that gives up when told
 * to stop, a whole request read by its Content-Length, and a response
 * written in scripted pieces with a pause before each. A test with a loop
 * of its own builds it from these; standin_srv is the whole server for
 * those that answer each request by its path on a connection of its own.
 *
 * Functions are static inline so that a test using only some of them
 * still builds with -Wunused-function.
 */
#ifndef VOXGATE_STANDIN_H
#define VOXGATE_STANDIN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* An OpenAI-style chat-completions stream, as the stand-in LLMs send it. */
#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
#define TEXT(t)                                                                \
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" t         \
	"\"}}]}\n\n"
#define DONE "data: [DONE]\n\n"

/* One write of a scripted response. */
struct standin_step {
	unsigned pause_ms; /* before this write */
	const char *data;
};

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A socket listening on an ephemeral port of 127.0.0.1, its port in
 * *port; -1 on failure. The backlog lets a client's concurrent deliveries
 * queue while the server thread handles one. */
static inline int standin_listen(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* The next connection on lfd, or -1 once stop is set. Polls rather than
 * blocks in accept so that the server thread can be joined. */
static inline int standin_accept(int lfd, atomic_bool *stop)
{
	struct timeval tv = {2, 0};
	int fd = -1, one = 1;

	while (fd < 0 && !atomic_load(stop)) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};

		if (poll(&pfd, 1, 20) > 0)
			fd = accept(lfd, NULL, NULL);
	}
	if (fd < 0)
		return -1;
	/* Each step leaves as its own segment, as a server flushing its
	 * events does. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A client that never finishes its request must not hang the
	 * thread past the test. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Value of header name in head (case-insensitive), copied to out. */
static inline bool standin_header(const char *head, const char *name, char *out,
                                  size_t outsz)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2]) {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			end = line + strlen(line);
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = (size_t)(end - v);
			if (len >= outsz)
				len = outsz - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
		p = *end ? end : NULL;
	}
	return false;
}

/* Reads one request: *headp gets the request line and headers, ending
 * with the last header's CRLF, *bodyp the Content-Length body (*lenp
 * bytes, which may hold NULs, and a NUL after them). 0 on success; on
 * failure both are NULL. */
static inline int standin_read_request_n(int fd, char **headp, char **bodyp,
                                         size_t *lenp)
{
	/* Room for an LLM request carrying a whole call's history, or a
	 * minute of an utterance's WAV. */
	const size_t cap = 1 << 20;
	char *buf = malloc(cap + 1), *eoh = NULL;
	size_t len = 0, hlen = 0, clen = 0;

	*headp = *bodyp = NULL;
	*lenp = 0;
	while (buf && (!eoh || len < hlen + clen)) {
		ssize_t n = len < cap ? recv(fd, buf + len, cap - len, 0) : 0;

		if (n <= 0)
			goto fail;
		len += (size_t)n;
		buf[len] = '\0';
		if (!eoh && (eoh = memmem(buf, len, "\r\n\r\n", 4))) {
			char cl[32];

			hlen = (size_t)(eoh - buf) + 4;
			eoh[2] = '\0';
			if (standin_header(buf, "Content-Length", cl,
			                   sizeof(cl)))
				clen = strtoul(cl, NULL, 10);
			if (clen > cap - hlen)
				goto fail;
		}
	}
	if (!buf)
		return -1;
	*headp = strdup(buf);
	*bodyp = malloc(clen + 1);
	if (!*headp || !*bodyp)
		goto fail;
	memcpy(*bodyp, buf + hlen, clen);
	(*bodyp)[clen] = '\0';
	*lenp = clen;
	free(buf);
	return 0;
fail:
	free(buf);
	free(*headp);
	free(*bodyp);
	*headp = *bodyp = NULL;
	return -1;
}

/* The same, for a body without NULs. */
static inline int standin_read_request(int fd, char **headp, char **bodyp)
{
	size_t len;

	return standin_read_request_n(fd, headp, bodyp, &len);
}

static inline bool standin_send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Sends head (status line and headers, each with its CRLF), closing the
 * connection after the body so that the body needs no length. */
static inline bool standin_send_head(int fd, const char *head, bool chunked)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s%sConnection: close\r\n\r\n", head,
	         chunked ? "Transfer-Encoding: chunked\r\n" : "");
	return standin_send_all(fd, buf, strlen(buf));
}

/* Sleeps up to ms; false if the client hung up or stop is set, so that a
 * test sees when a client drops a request. */
static inline bool standin_pause(int fd, unsigned ms, atomic_bool *stop)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end && !atomic_load(stop)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char b;

		if (poll(&pfd, 1, 5) > 0 && recv(fd, &b, 1, MSG_DONTWAIT) <= 0)
			return false;
	}
	return !atomic_load(stop);
}

/* Writes the n steps, each after its pause and, if chunked, as a chunk of
 * its own (the last chunk is the caller's, which may leave it out). Sets
 * *t_last, if given, when each step has gone out. False if the client hung
 * up or stop was set before the last step went out. */
static inline bool standin_play(int fd, const struct standin_step *steps,
                                size_t n, bool chunked, atomic_bool *stop,
                                uint64_t *t_last)
{
	for (size_t i = 0; i < n; i++) {
		const char *data = steps[i].data;
		size_t len = strlen(data);
		char size[32];

		if (!standin_pause(fd, steps[i].pause_ms, stop))
			return false;
		snprintf(size, sizeof(size), "%zx\r\n", len);
		if (chunked && !standin_send_all(fd, size, strlen(size)))
			return false;
		if (!standin_send_all(fd, data, len))
			return false;
		if (chunked && !standin_send_all(fd, "\r\n", 2))
			return false;
		if (t_last)
			*t_last = now_ms();
	}
	return true;
}

/* ---- a server answering each request by its path ---- */

/* A request as the server read it; valid during the answer only. */
struct standin_req {
	const char *head; /* request line and headers */
	const char *body; /* body_len bytes, a NUL after them */
	size_t body_len;
	const char *path; /* of the request line */
};

/* Writes the answer to fd; the connection closes after it. */
typedef void(standin_answer_h)(int fd, const struct standin_req *rq);

struct standin_srv {
	int lfd, port;
	atomic_bool stop; /* also what the answers' pauses watch */
	atomic_int open_conns, requests;
	pthread_t th;
	standin_answer_h *answerh;
	/* The last request read, under lock. */
	pthread_mutex_t lock;
	char last_head[4096];
	char *last_body;
	size_t last_len;
};

struct standin_conn {
	struct standin_srv *srv;
	int fd;
};

static inline void *standin_conn_run(void *arg)
{
	struct standin_conn *c = arg;
	struct standin_srv *srv = c->srv;
	struct standin_req rq = {.path = ""};
	char *head = NULL, *body = NULL, path[128] = "";

	if (standin_read_request_n(c->fd, &head, &body, &rq.body_len) == 0) {
		sscanf(head, "%*s %127s", path);
		pthread_mutex_lock(&srv->lock);
		snprintf(srv->last_head, sizeof(srv->last_head), "%s", head);
		free(srv->last_body);
		srv->last_body = malloc(rq.body_len + 1);
		if (srv->last_body)
			memcpy(srv->last_body, body, rq.body_len + 1);
		srv->last_len = srv->last_body ? rq.body_len : 0;
		pthread_mutex_unlock(&srv->lock);
		atomic_fetch_add(&srv->requests, 1);
		rq.head = head;
		rq.body = body;
		rq.path = path;
		srv->answerh(c->fd, &rq);
	}
	free(head);
	free(body);
	close(c->fd);
	atomic_fetch_sub(&srv->open_conns, 1);
	free(c);
	return NULL;
}

/* Accepts until stopped, a thread per connection. */
static inline void *standin_srv_run(void *arg)
{
	struct standin_srv *srv = arg;
	int fd;

	while ((fd = standin_accept(srv->lfd, &srv->stop)) >= 0) {
		struct standin_conn *c = malloc(sizeof(*c));
		pthread_t th;

		atomic_fetch_add(&srv->open_conns, 1);
		if (c) {
			c->srv = srv;
			c->fd = fd;
		}
		if (!c || pthread_create(&th, NULL, standin_conn_run, c)) {
			free(c);
			close(fd);
			atomic_fetch_sub(&srv->open_conns, 1);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

/* Listens on 127.0.0.1 (srv->port) and serves in a thread; 0 or -1. */
static inline int standin_srv_start(struct standin_srv *srv,
                                    standin_answer_h *answerh)
{
	memset(srv, 0, sizeof(*srv));
	pthread_mutex_init(&srv->lock, NULL);
	srv->answerh = answerh;
	srv->lfd = standin_listen(&srv->port);
	if (srv->lfd < 0)
		return -1;
	if (pthread_create(&srv->th, NULL, standin_srv_run, srv)) {
		close(srv->lfd);
		return -1;
	}
	return 0;
}

/* Stops accepting, ends the answers' pauses and waits for every
 * connection to be over. */
static inline void standin_srv_stop(struct standin_srv *srv)
{
	atomic_store(&srv->stop, true);
	pthread_join(srv->th, NULL);
	while (atomic_load(&srv->open_conns) > 0)
		sleep_ms(5);
	close(srv->lfd);
	free(srv->last_body);
	srv->last_body = NULL;
	pthread_mutex_destroy(&srv->lock);
}

#endif
