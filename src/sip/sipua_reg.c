/*
 * The SIP edge's registrations (sip/regclient.h): opened on sipua's sip
 * stack, unregistered first thing in drain (the stack still open; drain
 * waits for them, up to REG_DRAIN_MS), and the calls their registrars
 * send us told apart in the log.
 */
#include "sip/sipua_int.h"
#include "core/log.h"

/* Backoff after failures: 1 s doubling to 5 min. A REGISTER that no one
 * answers is given up after 10 s, well before libre's 32 s. */
#define REG_FIRST_RETRY_MS 1000
#define REG_MAX_RETRY_MS   300000
#define REG_ATTEMPT_MS     10000
#define REG_DRAIN_MS       2000

int sipua_reg_init(struct sipua *ua)
{
	const struct regclient_params rp = {
	    .sip = ua->sip,
	    .first_retry_ms = REG_FIRST_RETRY_MS,
	    .max_retry_ms = REG_MAX_RETRY_MS,
	    .attempt_timeout_ms = REG_ATTEMPT_MS,
	};

	return regclient_alloc(&ua->reg, &rp);
}

static void reg_done(void *arg)
{
	struct sipua *ua = arg;

	ua->reg_pending = false;
	sipua_check_idle(ua);
}

void sipua_reg_drain(struct sipua *ua)
{
	ua->reg_pending = true;
	regclient_shutdown(ua->reg, REG_DRAIN_MS, reg_done, ua);
}

void sipua_reg_invite(struct sipua *ua, const struct call *call,
                      const struct sip_msg *msg)
{
	char user[REGCLIENT_USER_MAX + 1];
	const char *aor;

	if (!msg->uri.user.l || msg->uri.user.l > REGCLIENT_USER_MAX)
		return;
	sipua_pl_copy(user, sizeof(user), &msg->uri.user);
	aor = regclient_match(ua->reg, &msg->src, user);
	if (aor)
		log_event(LOGL_INFO, call->id, "registered_call",
		          "registration=%s", aor);
}

int sipua_registrations(struct sipua *ua, const struct regclient_entry *v,
                        size_t n)
{
	return ua ? regclient_set(ua->reg, v, n) : EINVAL;
}
