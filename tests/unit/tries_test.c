/*
 * Failed tries per source address: the limit, its window, addresses kept
 * apart (the port does not count), and the bound on what is kept.
 */
#include <errno.h>
#include <re.h>

#include "sip/tries.h"
#include "test.h"

static struct sa addr(const char *ip, uint16_t port)
{
	struct sa sa;

	sa_set_str(&sa, ip, port);
	return sa;
}

TEST(limit_and_window)
{
	struct tries *t = NULL;
	struct sa a = addr("198.51.100.7", 5060);
	struct sa a_other_port = addr("198.51.100.7", 40000);
	struct sa b = addr("198.51.100.8", 5060);

	CHECK_EQ(tries_alloc(&t, 3, 600000, 16), 0);
	CHECK_EQ(tries_blocked(t, &a, 1000), 0);
	tries_fail(t, &a, 1000);
	tries_fail(t, &a_other_port, 2000);
	CHECK_EQ(tries_blocked(t, &a, 2000), 0);
	tries_fail(t, &a, 3000);
	/* Three failures: refused until 10 minutes after the first. */
	CHECK_EQ(tries_blocked(t, &a, 3000), 598000);
	CHECK_EQ(tries_blocked(t, &a_other_port, 300000), 301000);
	CHECK_EQ(tries_blocked(t, &b, 3000), 0);
	CHECK_EQ(tries_blocked(t, &a, 601000), 0);
	/* After the window a new one begins with the next failure. */
	tries_fail(t, &a, 601000);
	CHECK_EQ(tries_blocked(t, &a, 601000), 0);
	tries_fail(t, &a, 602000);
	tries_fail(t, &a, 603000);
	CHECK_EQ(tries_blocked(t, &a, 603000), 598000);
	mem_deref(t);
	return 0;
}

TEST(v6_and_no_limit)
{
	struct tries *t = NULL;
	struct sa a = addr("2001:db8::7", 5060);

	CHECK_EQ(tries_alloc(&t, 1, 1000, 16), 0);
	tries_fail(t, &a, 0);
	CHECK_EQ(tries_blocked(t, &a, 10), 990);
	mem_deref(t);

	CHECK_EQ(tries_alloc(&t, 0, 1000, 16), 0);
	for (int i = 0; i < 100; i++)
		tries_fail(t, &a, (uint64_t)i);
	CHECK_EQ(tries_blocked(t, &a, 100), 0);
	mem_deref(t);
	CHECK_EQ(tries_alloc(&t, 1, 1000, 0), EINVAL);
	CHECK_EQ(tries_blocked(NULL, &a, 0), 0);
	return 0;
}

TEST(bounded)
{
	struct tries *t = NULL;
	char ip[32];

	CHECK_EQ(tries_alloc(&t, 1, 600000, 4), 0);
	for (int i = 0; i < 6; i++) {
		struct sa a;

		re_snprintf(ip, sizeof(ip), "203.0.113.%d", i);
		a = addr(ip, 5060);
		tries_fail(t, &a, (uint64_t)i);
	}
	/* The two whose windows began first are forgotten. */
	for (int i = 0; i < 6; i++) {
		struct sa a;

		re_snprintf(ip, sizeof(ip), "203.0.113.%d", i);
		a = addr(ip, 5060);
		if (i < 2)
			CHECK_EQ(tries_blocked(t, &a, 10), 0);
		else
			CHECK(tries_blocked(t, &a, 10) > 0);
	}
	mem_deref(t);
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	RUN(limit_and_window);
	RUN(v6_and_no_limit);
	RUN(bounded);
	libre_close();
	TEST_EXIT();
}
