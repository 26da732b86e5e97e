/*
 * Connection limits: libre's own listener, real TCP clients from several
 * loopback addresses, the caps, the silent timeout and descriptor reuse.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <re.h>
#include "net/conngate.h"
#include "test.h"

#define MAXC 16

static struct tcp_sock *ts;
static struct tcp_conn *conns[MAXC];
static unsigned nconns;
static struct sa srv;

static void srv_closed(int err, void *arg)
{
	(void)err;
	(void)arg;
}

static void srv_recv(struct mbuf *mb, void *arg)
{
	(void)mb;
	(void)arg;
}

static void srv_conn(const struct sa *peer, void *arg)
{
	(void)peer;
	(void)arg;
	if (nconns < MAXC)
		(void)tcp_accept(&conns[nconns++], ts, NULL, srv_recv,
		                 srv_closed, NULL);
	else
		tcp_reject(ts);
}

static void stop_loop(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Runs the loop ms milliseconds. */
static void spin(unsigned ms)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, ms, stop_loop, NULL);
	(void)re_main(NULL);
	tmr_cancel(&t);
}

static int client(const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    connect(fd, &srv.u.sa, srv.len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the server closed fd (end of stream or reset). */
static bool closed_by_server(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void drop_server_conns(void)
{
	for (unsigned i = 0; i < nconns; i++)
		conns[i] = mem_deref(conns[i]);
	nconns = 0;
}

TEST(caps_silence_reuse)
{
	struct conngate_prm prm = {
	    .max_total = 5, .max_per_addr = 3, .silent_ms = 300};
	struct conngate_stats st;
	const char *why = NULL;
	uint32_t fds = 0;
	int c[8];
	struct sa laddr;

	CHECK_EQ(conngate_fd_setup(4096, &fds, &why), 0);
	CHECK(fds >= 1024);
	CHECK_EQ(conngate_start(&prm, fds), 0);
	sa_set_str(&laddr, "127.0.0.1", 0);
	CHECK_EQ(tcp_listen(&ts, &laddr, srv_conn, NULL), 0);
	CHECK_EQ(tcp_sock_local_get(ts, &srv), 0);

	/* three from one address pass, the fourth is closed on accept */
	for (int i = 0; i < 4; i++)
		c[i] = client("127.0.0.2");
	spin(100);
	CHECK_EQ(nconns, 3);
	CHECK(closed_by_server(c[3]));
	conngate_stats(&st);
	CHECK_EQ(st.refused_addr, 1);
	CHECK_EQ(st.open, 3);

	/* two more from elsewhere fill the total; the next one is refused */
	c[4] = client("127.0.0.3");
	c[5] = client("127.0.0.3");
	c[6] = client("127.0.0.4");
	spin(100);
	CHECK_EQ(nconns, 5);
	CHECK(closed_by_server(c[6]));
	conngate_stats(&st);
	CHECK_EQ(st.refused_total, 1);

	/* a connection that speaks stays past the silent timeout; the
	 * silent ones are shut down */
	CHECK_EQ(send(c[0], "\r\n", 2, 0), 2);
	spin(400);
	conngate_sweep();
	spin(50);
	CHECK(!closed_by_server(c[0]));
	CHECK(closed_by_server(c[1]));
	CHECK(closed_by_server(c[4]));
	conngate_stats(&st);
	CHECK_EQ(st.closed_silent, 4);

	/* once the server has let them go, their descriptors and counts
	 * are free again, whatever numbers the new sockets get */
	drop_server_conns();
	for (int i = 0; i < 7; i++)
		close(c[i]);
	conngate_sweep();
	conngate_stats(&st);
	CHECK_EQ(st.open, 0);
	for (int i = 0; i < 3; i++)
		c[i] = client("127.0.0.2");
	spin(100);
	CHECK_EQ(nconns, 3);
	for (int i = 0; i < 3; i++)
		CHECK(!closed_by_server(c[i]));
	drop_server_conns();
	for (int i = 0; i < 3; i++)
		close(c[i]);
	ts = mem_deref(ts);
	conngate_stop();
	return 0;
}

TEST(stopped_is_plain)
{
	struct sa laddr;
	int c;

	/* with the gate stopped nothing is counted or refused */
	sa_set_str(&laddr, "127.0.0.1", 0);
	CHECK_EQ(tcp_listen(&ts, &laddr, srv_conn, NULL), 0);
	CHECK_EQ(tcp_sock_local_get(ts, &srv), 0);
	c = client("127.0.0.2");
	spin(50);
	CHECK_EQ(nconns, 1);
	CHECK(!closed_by_server(c));
	drop_server_conns();
	close(c);
	ts = mem_deref(ts);
	return 0;
}

TEST(bad_params)
{
	struct conngate_prm prm = {.max_total = 0, .max_per_addr = 1};
	uint32_t fds;
	const char *why;

	CHECK_EQ(conngate_start(&prm, 100), EINVAL);
	CHECK_EQ(conngate_fd_setup(10, &fds, &why), EMFILE);
	CHECK(why != NULL);
	return 0;
}

int main(void)
{
	if (libre_init()) {
		printf("FAIL libre_init\n");
		return 1;
	}
	RUN(caps_silence_reuse);
	RUN(stopped_is_plain);
	RUN(bad_params);
	libre_close();
	TEST_EXIT();
}
