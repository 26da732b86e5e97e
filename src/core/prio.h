/*
 * The scheduling of the threads a call waits on: the media threads, the
 * server's signalling loop and a worker's loop. Under CFS a busy
 * neighbour (a build, a batch job, another tenant) takes its share of the
 * CPU at every tick, and with autogroups the whole server gets one
 * session's share however many threads it runs, so a 20 ms media tick or
 * a VAD event waits behind it. SCHED_FIFO at a low priority runs these
 * threads as soon as they wake; they do little each time and sleep again.
 *
 * SCHED_RESET_ON_FORK goes with it: every thread or process such a
 * thread starts (the speech engines' pool, resolver threads, worker
 * processes) begins with normal scheduling, so the CPU-bound engines never
 * run ahead of the rest of the machine.
 */
#ifndef VOXGATE_CORE_PRIO_H
#define VOXGATE_CORE_PRIO_H

#define PRIO_MAX 99

/*
 * Puts the calling thread in SCHED_FIFO at prio (1-PRIO_MAX); 0 leaves it
 * as it is. EPERM without CAP_SYS_NICE or an RLIMIT_RTPRIO that allows
 * prio; *why then says so, and the thread keeps its scheduling.
 */
int prio_call_path(unsigned prio, const char **why);

#endif
