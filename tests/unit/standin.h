/*
 * Pieces for the stand-in HTTP servers some tests run in a thread of their
 * own: a listening socket on 127.0.0.1, an accept that gives up when told
 * to stop, a whole request read by its Content-Length, and a response
 * written in scripted pieces with a pause before each. Each test keeps its
 * own server loop: what it records and how it answers differ.
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
 * with the last header's CRLF, *bodyp the Content-Length body. 0 on
 * success; on failure both are NULL. */
static inline int standin_read_request(int fd, char **headp, char **bodyp)
{
	/* Room for an LLM request carrying a whole call's history. */
	char buf[65536], *eoh = NULL;
	size_t len = 0, hlen = 0, clen = 0;

	*headp = *bodyp = NULL;
	while (!eoh || len < hlen + clen) {
		ssize_t n;

		if (len == sizeof(buf) - 1)
			return -1;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (!eoh && (eoh = strstr(buf, "\r\n\r\n"))) {
			char cl[32];

			hlen = (size_t)(eoh - buf) + 4;
			eoh[2] = '\0';
			if (standin_header(buf, "Content-Length", cl,
			                   sizeof(cl)))
				clen = strtoul(cl, NULL, 10);
		}
	}
	*headp = strdup(buf);
	*bodyp = strndup(buf + hlen, clen);
	if (*headp && *bodyp)
		return 0;
	free(*headp);
	free(*bodyp);
	*headp = *bodyp = NULL;
	return -1;
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

#endif
