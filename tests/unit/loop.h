/*
 * Running the test thread's libre loop for a while: until a handler calls
 * re_cancel, or ms pass. Include after re.h (libre's headers have no
 * include guards of their own).
 */
#ifndef VOXGATE_LOOP_H
#define VOXGATE_LOOP_H

static inline void loop_give_up(void *arg)
{
	(void)arg;
	re_cancel();
}

static inline void run_loop(unsigned ms)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, ms, loop_give_up, NULL);
	re_main(NULL);
	tmr_cancel(&t);
}

#endif
