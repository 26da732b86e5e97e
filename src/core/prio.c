#include <errno.h>
#include <sched.h>

#include "core/prio.h"

int prio_call_path(unsigned prio, const char **why)
{
	struct sched_param sp = {.sched_priority = (int)prio};
	const char *w = NULL;
	int err = 0;

	if (!prio)
		return 0;
	if (prio > PRIO_MAX) {
		w = "is not a priority (1-99)";
		err = EINVAL;
	} else if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK,
	                              &sp)) {
		err = errno;
		w = err == EPERM ? "real-time scheduling is not permitted "
		                   "(needs CAP_SYS_NICE or an RLIMIT_RTPRIO "
		                   "of at least the priority)"
		                 : "cannot set SCHED_FIFO";
	}
	if (err && why)
		*why = w;
	return err;
}
