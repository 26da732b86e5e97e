/* The call path's scheduling: SCHED_FIFO for the thread that asks, normal
 * scheduling again for whatever it starts. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include "core/prio.h"
#include "test.h"

struct probe {
	int err, policy, child_policy;
	const char *why;
};

static void *child_main(void *arg)
{
	*(int *)arg = sched_getscheduler(0);
	return NULL;
}

/* In a thread of its own, so that the test's main thread keeps its
 * scheduling whatever happens. */
static void *probe_main(void *arg)
{
	struct probe *pr = arg;
	pthread_t th;

	pr->err = prio_call_path(1, &pr->why);
	pr->policy = sched_getscheduler(0);
	pr->child_policy = -2;
	if (!pthread_create(&th, NULL, child_main, &pr->child_policy))
		pthread_join(th, NULL);
	return NULL;
}

TEST(zero_leaves_the_thread_alone)
{
	const char *why = NULL;
	int before = sched_getscheduler(0);

	CHECK_EQ(prio_call_path(0, &why), 0);
	CHECK(why == NULL);
	CHECK_EQ(sched_getscheduler(0), before);
	return 0;
}

TEST(out_of_range_is_refused)
{
	const char *why = NULL;
	int before = sched_getscheduler(0);

	CHECK_EQ(prio_call_path(PRIO_MAX + 1, &why), EINVAL);
	CHECK(why && strstr(why, "1-99"));
	CHECK_EQ(sched_getscheduler(0), before);
	return 0;
}

TEST(fifo_for_the_caller_normal_for_its_children)
{
	struct probe pr = {0};
	pthread_t th;

	CHECK_EQ(pthread_create(&th, NULL, probe_main, &pr), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	if (pr.err) {
		/* Without the privilege the thread keeps its scheduling and
		 * the reason names what is missing. */
		CHECK_EQ(pr.err, EPERM);
		CHECK(pr.why && strstr(pr.why, "CAP_SYS_NICE"));
		CHECK_EQ(pr.policy & ~SCHED_RESET_ON_FORK, SCHED_OTHER);
		return 0;
	}
	CHECK_EQ(pr.policy, SCHED_FIFO | SCHED_RESET_ON_FORK);
	CHECK_EQ(pr.child_policy, SCHED_OTHER);
	return 0;
}

int main(void)
{
	RUN(zero_leaves_the_thread_alone);
	RUN(out_of_range_is_refused);
	RUN(fifo_for_the_caller_normal_for_its_children);
	TEST_EXIT();
}
