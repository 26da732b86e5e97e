/*
 * Telnyx Call Control commands: POST {base}/calls/{call_control_id}/
 * actions/{action}, sent from an outbox thread (core/outbox.h) so that the
 * caller never waits on Telnyx. A call's commands go in the order given,
 * one at a time; other calls' go on meanwhile. A try that meets a
 * transport error, 429 or 5xx (not 501) is retried with backoff, keeping
 * the command_id so that Telnyx ignores a command it already carried out.
 * Every outcome is logged (telnyx_command) and handed to the caller.
 *
 * No libre and no jansson types here, so either kind of file can include
 * this header.
 */
#ifndef VOXGATE_CARRIER_TELNYX_API_H
#define VOXGATE_CARRIER_TELNYX_API_H

#include <stdbool.h>

#include "core/outbox.h"

struct telnyx_api;

struct telnyx_api_params {
	const char *base_url;  /* copied; NULL = "https://api.telnyx.com/v2" */
	const char *api_key;   /* copied; required */
	unsigned max_attempts; /* tries per command; 0 = 5 */
	unsigned backoff_min_ms; /* first retry, doubling; 0 = 500 */
	unsigned backoff_max_ms; /* 0 = 8000 */
	unsigned timeout_ms;     /* per try; 0 = 10000 */
	/* Older before a first try: dropped. 0 = 60000, past a command
	 * behind one whose 5 tries all time out. */
	unsigned max_age_ms;
	unsigned max_depth;    /* commands queued, all calls; 0 = 1000 */
	unsigned max_inflight; /* calls with a command in flight; 0 = 16 */
};

/* Valid during the done callback only. */
struct telnyx_api_result {
	bool ok;    /* 2xx */
	int status; /* the last response's HTTP status; 0 = none */
	/* errors[0].code of an error response ("90018"), or NULL */
	const char *code;
	/* errors[0].title of an error response, the transport error, or
	 * "dropped: max_age" / "dropped: closed"; NULL when ok */
	const char *error;
	const char *body; /* the last response's body, cut to 4 KiB; or "" */
	unsigned attempts;
};

/* Called once per command, on the outbox thread; it must not call
 * telnyx_api_close. */
typedef void(telnyx_api_done_h)(const struct telnyx_api_result *res, void *arg);

/* The caller owns *ap until telnyx_api_close. EINVAL without an api_key. */
int telnyx_api_open(struct telnyx_api **ap,
                    const struct telnyx_api_params *prm);

/* Gives queued commands up to timeout_ms, then drops the rest (their done
 * callbacks run before it returns) and frees a. */
void telnyx_api_close(struct telnyx_api *a, unsigned timeout_ms);

/*
 * Queues action (snake_case, e.g. "answer", "transfer") for the call.
 * json_body is a JSON object (NULL = {}); command_id, if given and the
 * body has none, goes into it. Never blocks on the network. On 0, done
 * (may be NULL) will be called once with arg; on an error never: EINVAL
 * (no call id, a bad action, a body that is not an object), ENOMEM, ENOSPC
 * (max_depth commands queued), ECANCELED (closing).
 */
int telnyx_api_command(struct telnyx_api *a, const char *call_control_id,
                       const char *action, const char *json_body,
                       const char *command_id, telnyx_api_done_h *done,
                       void *arg);

void telnyx_api_get_stats(struct telnyx_api *a, struct outbox_stats *st);

#endif
