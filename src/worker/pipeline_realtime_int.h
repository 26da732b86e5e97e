/*
 * The Realtime brain's insides, shared by pipeline_realtime.c (the
 * session, the audio both ways, the faults), pipeline_realtime_tools.c
 * (function calls) and pipeline_realtime_cut.c (barge-in) and by no one
 * else. All of it runs on the loop thread.
 */
#ifndef VOXGATE_WORKER_PIPELINE_REALTIME_INT_H
#define VOXGATE_WORKER_PIPELINE_REALTIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/libre.h"

#include "worker/pipeline_int.h"
#include "worker/provider.h"
#include "worker/realtime.h"

/* The audio items of a reply tracked for truncation: one a response. */
#define ITEMS_MAX BRAIN_TOOL_ROUNDS

struct prt {
	struct pipeline *p;
	const struct provider *pv;
	struct rt *rt;
	struct tmr stage;  /* the reply's wait for the model */
	unsigned sessions; /* that came up */

	/* the caller's turn */
	size_t sent;     /* samples of p->turn_audio appended */
	bool appended;   /* audio appended since the last commit or clear */
	bool commit_due; /* the turn ended while the socket was down */
	uint32_t commits_sent, commits_seen;
	char last_item[RT_ID_MAX]; /* of the last commit seen */
	char heard_item[RT_ID_MAX];
	char *heard_text; /* the last input transcription */
	uint64_t t_heard;

	/* the reply being made (p->cur, utt) */
	uint32_t utt;       /* 0: none */
	bool want;          /* its response is to be asked for */
	bool asked;         /* response.create sent, response.created not yet */
	uint32_t asked_utt; /* ... for this reply (maybe one cut since) */
	bool greeting;
	/* its function calls (pipeline_tools.c answers them) */
	unsigned rounds; /* responses asked for it */
	unsigned calls;  /* run, not answered yet */
	bool resp_over;  /* its response is done, calls may still run */
	bool again;      /* a result is for the model to speak about */
	bool end;        /* a result ends the reply */
	bool hangup;     /* ... and the call, once it is played */
	bool overrun;    /* it called tools when asked for words only */
	bool sep;        /* the next words follow an earlier response's */
	char *say;       /* said for the model if it said nothing */
	/* the turn of the reply last started, whose words may come until it
	 * is settled: its commit (0 = none) and its item */
	uint32_t words_utt;
	uint32_t commit_no;
	char user_item[RT_ID_MAX];
	char resp[RT_ID_MAX];
	uint64_t t_ask;
	/* a response in progress at the server, ours or a cancelled one */
	char active[RT_ID_MAX];

	/* the audio items of the reply in flight, kept until settled: the
	 * first of each response, from its start in the reply's audio */
	uint32_t item_utt;
	unsigned item_round; /* the response of the last one */
	struct rt_item {
		char id[RT_ID_MAX];
		uint32_t content_index;
		size_t start, samples;
	} items[ITEMS_MAX];
	size_t nitems;
};

/* pipeline_realtime.c */
struct reply *prt_my_reply(struct prt *t);
void prt_reply_forget(struct prt *t);
void prt_clause_end(struct reply *r);
void prt_say_embedded(struct pipeline *p, struct reply *r, const char *text);
void prt_fail(struct prt *t, const char *why, uint16_t status);
void prt_stage_arm(struct prt *t);
void prt_ask(struct prt *t);

/* pipeline_realtime_tools.c */
void prt_round_over(struct prt *t);
void prt_on_call(struct prt *t, const struct rt_event *ev);
char *prt_tools_json(const struct pipeline_config *cfg);

#endif
