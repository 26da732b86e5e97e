/*
 * The bindings (regclient.h) on libre's sipreg.
 *
 * DESIGN. sipreg refreshes by itself, but three of its habits do not suit
 * a server, so each binding wraps one sipreg and replaces them:
 *  - after a failure it waits 30-60 s before its first retry, and longer
 *    after more, with no say for us: on any failure we drop the sipreg (on
 *    a 0 ms timer, never inside its handler) and make a new one after our
 *    own backoff (net/backoff.h);
 *  - it answers every 401/407 again, a wrong password included, until its
 *    loop detection stops at 16 REGISTERs: our credentials handler counts
 *    the challenges of an attempt and gives up at the third, so an attempt
 *    is at most three REGISTERs;
 *  - freeing a registered sipreg unregisters, keeping itself alive until
 *    the answer with no word to us: each sipreg's credentials live in a
 *    token it holds (sip_auth's ref), whose destructor tells us when the
 *    sipreg is really gone, so shutdown can wait for the unregisters.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "core/clock.h"
#include "core/log.h"
#include "net/backoff.h"
#include "sip/regclient.h"

/* A challenge, then a stale one; a third means the credentials fail. */
#define CHALLENGES_MAX 2

enum reg_state {
	REG_IDLE,    /* waiting to try (first, or after a failure) */
	REG_TRYING,  /* a REGISTER is out and no 2xx yet */
	REG_OK,      /* registered, refreshing */
	REG_FAILED,  /* the registrar refused: waiting for the retry */
	REG_DOWN,    /* no answer, or no connection: waiting for the retry */
	REG_STOPPED, /* shut down */
};

struct regclient {
	struct regclient_params prm;
	struct list bindings;
	struct list toks; /* the sipregs alive, bindings' or unregistering */
	bool shutting;
	regclient_done_h *doneh;
	void *done_arg;
	struct tmr done_tmr;
};

/* The sipreg's credentials handler argument, and our word of its end. */
struct regtok {
	struct le le;
	struct regclient *rc; /* NULL once rc is gone */
	char aor[300];
	char user[128], pass[128];
	unsigned challenges; /* answered in this attempt */
	bool unregistering;  /* dropped while registered */
};

struct binding {
	struct le le;
	struct regclient *rc;
	struct regclient_entry e;
	struct sipreg *reg;
	struct regtok *tok; /* the current sipreg's; NULL once dropped */
	struct tmr tmr;     /* the drop after a failure, then the retry */
	struct tmr attempt_tmr;
	enum reg_state st;
	unsigned fails; /* in a row */
	uint64_t failures_total;
	uint32_t expires;    /* granted, s */
	uint64_t ok_ms;      /* the last 2xx */
	uint32_t retry_ms;   /* the wait after the last failure */
	struct sa registrar; /* where the last 2xx came from */
};

static void attempt_start(void *arg);

static void done_check(struct regclient *rc)
{
	regclient_done_h *h = rc->doneh;

	if (!rc->shutting || !h || !list_isempty(&rc->toks))
		return;
	rc->doneh = NULL;
	tmr_cancel(&rc->done_tmr);
	h(rc->done_arg);
}

static void tok_destructor(void *arg)
{
	struct regtok *tok = arg;

	list_unlink(&tok->le);
	if (!tok->rc)
		return;
	if (tok->unregistering)
		log_event(LOGL_INFO, NULL, "unregistered", "aor=%s", tok->aor);
	done_check(tok->rc);
}

static int auth_handler(char **user, char **pass, const char *realm, void *arg)
{
	struct regtok *tok = arg;
	int err;

	(void)realm;
	if (!tok->pass[0] || tok->challenges >= CHALLENGES_MAX)
		return EAUTH;
	tok->challenges++;
	err = str_dup(user, tok->user);
	if (!err)
		err = str_dup(pass, tok->pass);
	if (err)
		*user = mem_deref(*user);
	return err;
}

/* Drops the binding's sipreg: it unregisters by itself when registered. */
static void reg_drop(struct binding *b)
{
	if (b->tok && b->st == REG_OK)
		b->tok->unregistering = true;
	b->tok = NULL;
	b->reg = mem_deref(b->reg);
}

static void failed(struct binding *b, int err, const struct sip_msg *msg);

static void drop_then_retry(void *arg)
{
	struct binding *b = arg;

	reg_drop(b);
	tmr_start(&b->tmr, b->retry_ms, attempt_start, b);
}

static void response_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct binding *b = arg;

	if (b->st == REG_STOPPED)
		return;
	if (!err && msg && msg->scode < 200)
		return;
	if (err || !msg || msg->scode >= 300) {
		failed(b, err, msg);
		return;
	}
	tmr_cancel(&b->attempt_tmr);
	if (b->tok)
		b->tok->challenges = 0;
	b->st = REG_OK;
	b->fails = 0;
	b->expires = sipreg_proxy_expires(b->reg);
	b->ok_ms = clock_mono_ms();
	b->registrar = msg->src;
	log_event(LOGL_INFO, NULL, "register_ok", "aor=%s expires=%u", b->e.aor,
	          b->expires);
}

/* Every failure: reported, counted, and the sipreg dropped on the next
 * turn of the loop, then made again after the backoff. */
static void failed(struct binding *b, int err, const struct sip_msg *msg)
{
	struct regclient *rc = b->rc;

	tmr_cancel(&b->attempt_tmr);
	b->fails++;
	b->failures_total++;
	b->retry_ms =
	    backoff_ms(b->fails, rc->prm.first_retry_ms, rc->prm.max_retry_ms);
	if (!err && msg) {
		b->st = REG_FAILED;
		log_event(LOGL_WARN, NULL, "register_failed",
		          "aor=%s code=%u reason=\"%.*s\" retry_in_ms=%u",
		          b->e.aor, msg->scode,
		          (int)(msg->reason.l > 80 ? 80 : msg->reason.l),
		          msg->reason.p, b->retry_ms);
	} else {
		b->st = REG_DOWN;
		log_event(LOGL_WARN, NULL, "register_down",
		          "aor=%s error=\"%s\" retry_in_ms=%u", b->e.aor,
		          strerror(err ? err : EPROTO), b->retry_ms);
	}
	tmr_start(&b->tmr, 0, drop_then_retry, b);
}

static void attempt_timeout(void *arg)
{
	struct binding *b = arg;

	/* Not inside sipreg's handler: the drop may happen at once, but
	 * failed() defers it like any other. */
	failed(b, ETIMEDOUT, NULL);
}

static void attempt_start(void *arg)
{
	struct binding *b = arg;
	struct regclient *rc = b->rc;
	struct regtok *tok, *held;
	int err;

	if (rc->shutting)
		return;
	tok = mem_zalloc(sizeof(*tok), tok_destructor);
	if (!tok) {
		failed(b, ENOMEM, NULL);
		return;
	}
	tok->rc = rc;
	memcpy(tok->aor, b->e.aor, sizeof(tok->aor));
	memcpy(tok->user, b->e.auth_user, sizeof(tok->user));
	memcpy(tok->pass, b->e.auth_pass, sizeof(tok->pass));
	list_append(&rc->toks, &tok->le, tok);
	b->st = REG_TRYING;
	/* The token is the sipreg's (aref): it goes when the sipreg does. */
	err =
	    sipreg_register(&b->reg, rc->prm.sip, b->e.registrar, b->e.aor,
	                    NULL, b->e.aor, b->e.expires, b->e.user, NULL, 0, 0,
	                    auth_handler, tok, true, response_handler, b, NULL,
	                    "Allow: INVITE, ACK, BYE, CANCEL, "
	                    "OPTIONS\r\n");
	held = tok;
	tok = mem_deref(tok);
	if (err) {
		b->reg = NULL;
		failed(b, err, NULL);
		return;
	}
	b->tok = held; /* alive as long as the sipreg */
	(void)sipreg_set_rwait(b->reg, 80);
	if (rc->prm.attempt_timeout_ms)
		tmr_start(&b->attempt_tmr, rc->prm.attempt_timeout_ms,
		          attempt_timeout, b);
}

static void binding_destructor(void *arg)
{
	struct binding *b = arg;

	tmr_cancel(&b->tmr);
	tmr_cancel(&b->attempt_tmr);
	list_unlink(&b->le);
	reg_drop(b);
}

static void rc_destructor(void *arg)
{
	struct regclient *rc = arg;
	struct le *le;

	rc->doneh = NULL;
	tmr_cancel(&rc->done_tmr);
	list_flush(&rc->bindings);
	/* What is still unregistering outlives us: let it not tell us. */
	while ((le = list_head(&rc->toks))) {
		struct regtok *tok = le->data;

		tok->rc = NULL;
		list_unlink(le);
	}
}

int regclient_alloc(struct regclient **rcp, const struct regclient_params *prm)
{
	struct regclient *rc;

	if (!rcp || !prm || !prm->sip)
		return EINVAL;
	rc = mem_zalloc(sizeof(*rc), rc_destructor);
	if (!rc)
		return ENOMEM;
	rc->prm = *prm;
	if (!rc->prm.first_retry_ms)
		rc->prm.first_retry_ms = 1000;
	if (rc->prm.max_retry_ms < rc->prm.first_retry_ms)
		rc->prm.max_retry_ms = rc->prm.first_retry_ms;
	list_init(&rc->bindings);
	list_init(&rc->toks);
	tmr_init(&rc->done_tmr);
	*rcp = rc;
	return 0;
}

static bool entry_eq(const struct regclient_entry *a,
                     const struct regclient_entry *b)
{
	return !strcmp(a->aor, b->aor) && !strcmp(a->registrar, b->registrar) &&
	       !strcmp(a->user, b->user) &&
	       !strcmp(a->auth_user, b->auth_user) &&
	       !strcmp(a->auth_pass, b->auth_pass) && a->expires == b->expires;
}

int regclient_set(struct regclient *rc, const struct regclient_entry *v,
                  size_t n)
{
	struct le *le;
	bool *kept;

	if (!rc || (n && !v))
		return EINVAL;
	if (rc->shutting)
		return 0;
	kept = mem_zalloc(n ? n : 1, NULL);
	if (!kept)
		return ENOMEM;
	for (le = list_head(&rc->bindings); le;) {
		struct binding *b = le->data;
		size_t i;

		le = le->next;
		for (i = 0; i < n; i++)
			if (!kept[i] && entry_eq(&b->e, &v[i]))
				break;
		if (i < n) {
			kept[i] = true;
			continue;
		}
		log_event(LOGL_INFO, NULL, "register_removed", "aor=%s",
		          b->e.aor);
		mem_deref(b);
	}
	for (size_t i = 0; i < n; i++) {
		struct binding *b;

		if (kept[i])
			continue;
		b = mem_zalloc(sizeof(*b), binding_destructor);
		if (!b) {
			mem_deref(kept);
			return ENOMEM;
		}
		b->rc = rc;
		b->e = v[i];
		tmr_init(&b->tmr);
		tmr_init(&b->attempt_tmr);
		list_append(&rc->bindings, &b->le, b);
		attempt_start(b);
	}
	mem_deref(kept);
	return 0;
}

static void done_timeout(void *arg)
{
	struct regclient *rc = arg;
	regclient_done_h *h = rc->doneh;

	rc->doneh = NULL;
	log_event(LOGL_WARN, NULL, "unregister_timeout", "pending=%u",
	          list_count(&rc->toks));
	if (h)
		h(rc->done_arg);
}

void regclient_shutdown(struct regclient *rc, uint32_t timeout_ms,
                        regclient_done_h *doneh, void *arg)
{
	if (!rc) {
		if (doneh)
			doneh(arg);
		return;
	}
	rc->shutting = true;
	rc->doneh = doneh;
	rc->done_arg = arg;
	tmr_start(&rc->done_tmr, timeout_ms, done_timeout, rc);
	for (struct le *le = list_head(&rc->bindings); le; le = le->next) {
		struct binding *b = le->data;

		tmr_cancel(&b->tmr);
		tmr_cancel(&b->attempt_tmr);
		reg_drop(b);
		b->st = REG_STOPPED;
	}
	done_check(rc);
}

const char *regclient_match(const struct regclient *rc, const struct sa *src,
                            const char *ruri_user)
{
	if (!rc || !src || !ruri_user)
		return NULL;
	for (struct le *le = list_head(&rc->bindings); le; le = le->next) {
		const struct binding *b = le->data;

		if (b->ok_ms && sa_cmp(&b->registrar, src, SA_ADDR) &&
		    !strcmp(b->e.user, ruri_user))
			return b->e.aor;
	}
	return NULL;
}

/* Registered, and the binding has not run out: a refresh that goes
 * unanswered leaves REG_OK until libre gives up on it. */
static bool binding_up(const struct binding *b, uint64_t now)
{
	return b->st == REG_OK && now < b->ok_ms + (uint64_t)b->expires * 1000;
}

int regclient_metrics(const struct regclient *rc, struct mbuf *mb)
{
	uint64_t now = clock_mono_ms();
	struct le *le;
	int err = 0;

	if (!rc || list_isempty(&rc->bindings))
		return 0;
	err |= mbuf_printf(mb, "# HELP voxgate_sip_registration_up Whether "
	                       "the address of record is registered.\n"
	                       "# TYPE voxgate_sip_registration_up gauge\n");
	for (le = list_head(&rc->bindings); le; le = le->next) {
		const struct binding *b = le->data;

		err |= mbuf_printf(
		    mb, "voxgate_sip_registration_up{aor=\"%s\"} %d\n",
		    b->e.aor, binding_up(b, now) ? 1 : 0);
	}
	err |= mbuf_printf(mb, "# HELP voxgate_sip_registration_failures_total "
	                       "REGISTER attempts that failed.\n"
	                       "# TYPE voxgate_sip_registration_failures_total "
	                       "counter\n");
	for (le = list_head(&rc->bindings); le; le = le->next) {
		const struct binding *b = le->data;

		err |= mbuf_printf(
		    mb,
		    "voxgate_sip_registration_failures_total{aor="
		    "\"%s\"} %llu\n",
		    b->e.aor, (unsigned long long)b->failures_total);
	}
	err |=
	    mbuf_printf(mb, "# HELP voxgate_sip_registration_expires_seconds "
	                    "The expiry the registrar granted.\n"
	                    "# TYPE voxgate_sip_registration_expires_seconds "
	                    "gauge\n");
	for (le = list_head(&rc->bindings); le; le = le->next) {
		const struct binding *b = le->data;

		err |=
		    mbuf_printf(mb,
		                "voxgate_sip_registration_expires_seconds{aor="
		                "\"%s\"} %u\n",
		                b->e.aor, binding_up(b, now) ? b->expires : 0);
	}
	return err;
}
