/*
 * Registration: the `registrations` entries parsed (every refusal, the
 * defaults), the entry an outbound trunk gives, and the bindings against a
 * registrar on loopback in this process: a 2xx registers, a wrong password
 * costs at most three REGISTERs an attempt and is retried after our
 * backoff, a 403 is retried too, and shutdown unregisters before it says
 * done.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>
#include "core/libre.h"
#include <re_uri.h>
#include <re_srtp.h>
#include <re_tls.h>
#include <re_sip.h>
#include <re_main.h>
#include "sip/regclient.h"
#include "store/store.h"
#include "test.h"
#include "loop.h"

static int parse1(const char *s, const char *pw, struct regclient_entry *e)
{
	const char *why = NULL;

	return regclient_parse_uri(s, strlen(s), pw, e, &why);
}

TEST(uri_defaults)
{
	struct regclient_entry e;

	CHECK(parse1("sip:+15550100@pbx.example.com", "pw", &e) == 0);
	CHECK_STR(e.aor, "sip:+15550100@pbx.example.com");
	CHECK_STR(e.registrar, "sip:pbx.example.com");
	CHECK_STR(e.user, "+15550100");
	CHECK_STR(e.auth_user, "+15550100");
	CHECK_STR(e.auth_pass, "pw");
	CHECK_STR(e.trunk_id, "");
	CHECK_EQ(e.expires, REGCLIENT_EXPIRES);

	CHECK(parse1("SIP:alice@10.0.0.1:5070;transport=TLS;expires=120", "",
	             &e) == 0);
	CHECK_STR(e.aor, "sip:alice@10.0.0.1:5070");
	CHECK_STR(e.registrar, "sip:10.0.0.1:5070;transport=tls");
	CHECK_STR(e.auth_user, "");
	CHECK_STR(e.auth_pass, "");
	CHECK_EQ(e.expires, 120);

	CHECK(parse1("sip:100@[::1]:5060;expires=30;transport=udp", NULL, &e) ==
	      0);
	CHECK_STR(e.registrar, "sip:[::1]:5060");
	CHECK(!regclient_entry_tls(&e));
	CHECK_EQ(e.expires, 30);
	return 0;
}

TEST(uri_refused)
{
	static const char *const bad[] = {
	    "",
	    "sips:100@host",
	    "tel:+15550100",
	    "sip:host.example.com", /* no user */
	    "sip:@host",            /* empty user */
	    "sip:a b@host",         /* space */
	    "sip:a\"b@host",        /* quote */
	    "sip:a%20@host",        /* escapes */
	    "sip:a<b@host",         /* angle bracket */
	    "sip:100@",             /* no host */
	    "sip:100@-host",        /* hyphen first */
	    "sip:100@ho_st",        /* underscore */
	    "sip:100@host:0",       /* port 0 */
	    "sip:100@host:65536",   /* port too high */
	    "sip:100@host:",        /* empty port */
	    "sip:100@host:50a",     /* not a number */
	    "sip:100@[zz::1]",      /* not IPv6 */
	    "sip:100@[::1",         /* unclosed */
	    "sip:100@host;transport=sctp",
	    "sip:100@host;transport=udp;transport=tcp",
	    "sip:100@host;expires=0",
	    "sip:100@host;expires=86401",
	    "sip:100@host;expires=1x",
	    "sip:100@host;expires=",
	    "sip:100@host;lr",      /* other parameter */
	    "sip:100@host;",        /* empty parameter */
	    "sip:100@host?x=y",     /* headers */
	    "sip:100@host\r\nX: y", /* CRLF */
	    ("sip:12345678901234567890123456789012345678901234567890123456789"
	     "012345@host"), /* 65-byte user */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct regclient_entry e;
		const char *why = NULL;

		if (regclient_parse_uri(bad[i], strlen(bad[i]), "pw", &e,
		                        &why) != EINVAL ||
		    !why)
			TEST_FAIL("uri_refused", "accepted \"%s\"", bad[i]);
	}
	return 0;
}

TEST(list)
{
	struct regclient_item it[REGCLIENT_MAX];
	const char *why = NULL;
	size_t n = 0, bad = 0;
	char many[2048] = "";

	CHECK(regclient_parse_list(" ST_abc12 , sip:+1555@10.0.0.1 ,,", "pw",
	                           it, REGCLIENT_MAX, &n, &bad, &why) == 0);
	CHECK_EQ(n, 2);
	CHECK_STR(it[0].trunk_id, "ST_abc12");
	CHECK_STR(it[1].trunk_id, "");
	CHECK_STR(it[1].e.aor, "sip:+1555@10.0.0.1");

	CHECK(regclient_parse_list("", "pw", it, REGCLIENT_MAX, &n, &bad,
	                           &why) == 0);
	CHECK_EQ(n, 0);

	CHECK(regclient_parse_list("sip:1@h,ST_a-b", "", it, REGCLIENT_MAX, &n,
	                           &bad, &why) == EINVAL);
	CHECK_EQ(bad, 2);
	CHECK(regclient_parse_list("ST_", "", it, REGCLIENT_MAX, &n, &bad,
	                           &why) == EINVAL);
	CHECK(regclient_parse_list("sip:1@h, 10.0.0.1", "", it, REGCLIENT_MAX,
	                           &n, &bad, &why) == EINVAL);
	CHECK_EQ(bad, 2);

	for (int i = 0; i <= REGCLIENT_MAX; i++) {
		char one[32];

		snprintf(one, sizeof(one), "%ssip:%d@h", i ? "," : "", i);
		strcat(many, one);
	}
	CHECK(regclient_parse_list(many, "", it, REGCLIENT_MAX, &n, &bad,
	                           &why) == EINVAL);
	CHECK_EQ(bad, REGCLIENT_MAX + 1);

	/* A password longer than the entries hold is refused, not cut. */
	char pw[200];

	memset(pw, 'p', sizeof(pw) - 1);
	pw[sizeof(pw) - 1] = '\0';
	CHECK(regclient_parse_list("sip:1@h", pw, it, REGCLIENT_MAX, &n, &bad,
	                           &why) == EINVAL);
	return 0;
}

static int trunk_put(struct store *st, const char *id,
                     enum store_trunk_kind kind, const char *js)
{
	json_t *o = json_loads(js, 0, NULL);
	int err;

	if (!o)
		return EINVAL;
	err = store_trunk_put(st, id, kind, o);
	json_decref(o);
	return err;
}

TEST(trunk_entries)
{
	struct regclient_entry e;
	struct store *st = NULL;
	const char *why = NULL;
	char db[64];

	snprintf(db, sizeof(db), "/tmp/voxgate-regclient-test-%d.db",
	         (int)getpid());
	unlink(db);
	CHECK(store_alloc(&st, db) == 0);
	CHECK(trunk_put(st, "ST_tcp", STORE_TRUNK_OUTBOUND,
	                "{\"address\":\"sip.example.com:5080\",\"transport\":"
	                "\"SIP_TRANSPORT_TCP\",\"numbers\":[\"+15550100\","
	                "\"+15550101\"],\"authUsername\":\"acct\","
	                "\"authPassword\":\"s3cret\"}") == 0);
	CHECK(trunk_put(st, "ST_plain", STORE_TRUNK_OUTBOUND,
	                "{\"address\":\"10.1.2.3\",\"numbers\":[\"200\"]}") ==
	      0);
	CHECK(trunk_put(st, "ST_nonum", STORE_TRUNK_OUTBOUND,
	                "{\"address\":\"10.1.2.3\",\"numbers\":[]}") == 0);
	CHECK(trunk_put(
	          st, "ST_uri", STORE_TRUNK_OUTBOUND,
	          "{\"address\":\"sip:x@10.1.2.3\",\"numbers\":[\"1\"]}") == 0);
	CHECK(trunk_put(st, "ST_in", STORE_TRUNK_INBOUND,
	                "{\"numbers\":[\"1\"]}") == 0);

	CHECK(regclient_trunk_entry(st, "ST_tcp", &e, &why) == 0);
	CHECK_STR(e.aor, "sip:+15550100@sip.example.com:5080");
	CHECK_STR(e.registrar, "sip:sip.example.com:5080;transport=tcp");
	CHECK_STR(e.user, "+15550100");
	CHECK_STR(e.auth_user, "acct");
	CHECK_STR(e.auth_pass, "s3cret");
	CHECK_STR(e.trunk_id, "ST_tcp");

	CHECK(regclient_trunk_entry(st, "ST_plain", &e, &why) == 0);
	CHECK_STR(e.registrar, "sip:10.1.2.3");
	CHECK_STR(e.auth_pass, "");

	CHECK(regclient_trunk_entry(st, "ST_nonum", &e, &why) == EINVAL);
	CHECK(regclient_trunk_entry(st, "ST_uri", &e, &why) == EINVAL);
	CHECK(regclient_trunk_entry(st, "ST_in", &e, &why) == ENOENT);
	CHECK(regclient_trunk_entry(st, "ST_gone", &e, &why) == ENOENT);
	mem_deref(st);
	unlink(db);
	return 0;
}

/* ---- bindings against a registrar in this process ------------------------ */

enum reg_mode { ANSWER_OK, ANSWER_401, ANSWER_403 };

static struct registrar {
	struct sip *sip;
	struct sip_lsnr *lsnr;
	enum reg_mode mode;
	unsigned registers, unregisters, authorized;
	unsigned fresh; /* without credentials: an attempt's first */
	uint16_t port;
} R;

static bool registrar_handler(const struct sip_msg *msg, void *arg)
{
	const struct sip_hdr *c = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	bool auth = sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION) != NULL;

	(void)arg;
	if (pl_strcmp(&msg->met, "REGISTER"))
		return false;
	R.registers++;
	if (!auth)
		R.fresh++;
	if (c && re_regex(c->val.p, c->val.l, "expires=0") == 0)
		R.unregisters++;
	if (R.mode == ANSWER_403) {
		(void)sip_reply(R.sip, msg, 403, "Forbidden");
	} else if (!auth || R.mode == ANSWER_401) {
		(void)sip_replyf(R.sip, msg, 401, "Unauthorized",
		                 "WWW-Authenticate: Digest realm=\"t\", "
		                 "nonce=\"n%u\"\r\nContent-Length: 0\r\n\r\n",
		                 R.registers);
	} else {
		R.authorized++;
		(void)sip_replyf(R.sip, msg, 200, "OK",
		                 "Contact: %r\r\nContent-Length: 0\r\n\r\n",
		                 &c->val);
	}
	return true;
}

static struct tls *tls_srv, *tls_cli;

/* A registrar on UDP, or on TLS with a self-signed certificate. */
static int registrar_open_tp(enum sip_transp tp)
{
	struct sa sa, laddr;
	int err;

	memset(&R, 0, sizeof(R));
	err = sip_alloc(&R.sip, NULL, 16, 16, 16, "registrar", NULL, NULL);
	err = err ? err : sa_set_str(&sa, "127.0.0.1", 0);
	if (tp == SIP_TRANSP_TLS) {
		err = err ? err
		          : tls_alloc(&tls_srv, TLS_METHOD_SSLV23, NULL, NULL);
		err = err ? err
		          : tls_set_selfsigned_rsa(tls_srv, "127.0.0.1", 2048);
		err = err ? err : sip_transp_add(R.sip, tp, &sa, tls_srv);
	} else {
		err = err ? err : sip_transp_add(R.sip, tp, &sa);
	}
	err = err ? err : sip_transp_laddr(R.sip, &laddr, tp, NULL);
	err = err ? err
	          : sip_listen(&R.lsnr, R.sip, true, registrar_handler, NULL);
	R.port = sa_port(&laddr);
	return err;
}

static int registrar_open(void)
{
	return registrar_open_tp(SIP_TRANSP_UDP);
}

static void registrar_close(void)
{
	R.lsnr = mem_deref(R.lsnr);
	sip_close(R.sip, true);
	R.sip = mem_deref(R.sip);
	tls_srv = mem_deref(tls_srv);
}

static struct sip *ua_sip;
static struct regclient *rc;
static bool done;

static int client_open_tp(enum sip_transp tp)
{
	const struct regclient_params prm = {.first_retry_ms = 60,
	                                     .max_retry_ms = 120,
	                                     .attempt_timeout_ms = 2000};
	struct regclient_params p = prm;
	struct sa sa;
	int err;

	err = sip_alloc(&ua_sip, NULL, 16, 16, 16, "client", NULL, NULL);
	err = err ? err : sa_set_str(&sa, "127.0.0.1", 0);
	if (tp == SIP_TRANSP_TLS) {
		/* libre dials TLS only from a TLS listener's context */
		err = err ? err
		          : tls_alloc(&tls_cli, TLS_METHOD_SSLV23, NULL, NULL);
		err = err ? err : sip_transp_add(ua_sip, tp, &sa, tls_cli);
	} else {
		err = err ? err : sip_transp_add(ua_sip, tp, &sa);
	}
	p.sip = ua_sip;
	err = err ? err : regclient_alloc(&rc, &p);
	return err;
}

static int client_open(void)
{
	return client_open_tp(SIP_TRANSP_UDP);
}

static void client_close(void)
{
	rc = mem_deref(rc);
	sip_close(ua_sip, true);
	ua_sip = mem_deref(ua_sip);
	tls_cli = mem_deref(tls_cli);
}

static int set_one(const char *pw)
{
	struct regclient_entry e;
	char uri[64];

	re_snprintf(uri, sizeof(uri), "sip:+15550100@127.0.0.1:%u", R.port);
	if (parse1(uri, pw, &e))
		return EINVAL;
	return regclient_set(rc, &e, 1);
}

static void done_h(void *arg)
{
	(void)arg;
	done = true;
	re_cancel();
}

static bool metric_has(const char *want);

/* Whether the scrape holds the line "<name>{aor=...} <value>". */
static bool metric_is(const char *name, const char *value)
{
	char want[160];

	re_snprintf(want, sizeof(want),
	            "voxgate_sip_registration_%s{aor=\"sip:+15550100@127.0.0.1:"
	            "%u\"} %s\n",
	            name, R.port, value);
	return metric_has(want);
}

static bool metric_has(const char *want)
{
	struct mbuf *mb = mbuf_alloc(1024);
	bool has;

	if (!mb)
		return false;
	(void)regclient_metrics(rc, mb);
	(void)mbuf_write_u8(mb, 0);
	has = strstr((const char *)mb->buf, want) != NULL;
	mem_deref(mb);
	return has;
}

TEST(registers_and_unregisters)
{
	struct sa src;

	CHECK(registrar_open() == 0);
	CHECK(client_open() == 0);
	R.mode = ANSWER_OK;
	CHECK(set_one("pw") == 0);
	run_loop(300);
	/* A challenge, then the answer with credentials. */
	CHECK_EQ(R.registers, 2);
	CHECK_EQ(R.authorized, 1);
	CHECK(metric_is("up", "1"));
	CHECK(metric_is("failures_total", "0"));
	CHECK(metric_is("expires_seconds", "600"));
	sa_set_str(&src, "127.0.0.1", 9);
	CHECK(regclient_match(rc, &src, "+15550100") != NULL);
	CHECK(regclient_match(rc, &src, "+15550199") == NULL);
	sa_set_str(&src, "127.0.0.2", R.port);
	CHECK(regclient_match(rc, &src, "+15550100") == NULL);

	/* The same entry again changes nothing. */
	CHECK(set_one("pw") == 0);
	run_loop(100);
	CHECK_EQ(R.registers, 2);

	done = false;
	regclient_shutdown(rc, 2000, done_h, NULL);
	if (!done)
		run_loop(2000);
	CHECK(done);
	CHECK(R.unregisters >= 1);
	client_close();
	registrar_close();
	return 0;
}

TEST(registers_over_tls)
{
	struct regclient_entry e;
	char uri[80];

	CHECK(registrar_open_tp(SIP_TRANSP_TLS) == 0);
	CHECK(client_open_tp(SIP_TRANSP_TLS) == 0);
	R.mode = ANSWER_OK;
	re_snprintf(uri, sizeof(uri),
	            "sip:+15550100@127.0.0.1:%u;transport=tls", R.port);
	CHECK(parse1(uri, "pw", &e) == 0);
	CHECK(regclient_entry_tls(&e));
	CHECK(regclient_set(rc, &e, 1) == 0);
	run_loop(1500);
	CHECK_EQ(R.authorized, 1);
	CHECK(metric_is("up", "1"));
	done = false;
	regclient_shutdown(rc, 2000, done_h, NULL);
	if (!done)
		run_loop(2000);
	CHECK(done);
	/* expires=0, challenged, then with credentials */
	CHECK_EQ(R.unregisters, 2);
	client_close();
	registrar_close();
	return 0;
}

TEST(wrong_password_backs_off)
{
	CHECK(registrar_open() == 0);
	CHECK(client_open() == 0);
	R.mode = ANSWER_401;
	CHECK(set_one("wrong") == 0);
	run_loop(500);
	/* Each attempt: no credentials, then two challenges answered: three
	 * REGISTERs, never libre's sixteen; retried after 30-120 ms. */
	if (R.fresh < 2 || R.registers > 3 * R.fresh)
		TEST_FAIL("wrong_password_backs_off",
		          "%u REGISTERs in %u attempts", R.registers, R.fresh);
	CHECK(metric_is("up", "0"));
	CHECK(!metric_is("failures_total", "0"));
	done = false;
	regclient_shutdown(rc, 500, done_h, NULL);
	if (!done)
		run_loop(600);
	CHECK(done);
	CHECK_EQ(R.unregisters, 0);
	client_close();
	registrar_close();
	return 0;
}

TEST(forbidden_retried)
{
	CHECK(registrar_open() == 0);
	CHECK(client_open() == 0);
	R.mode = ANSWER_403;
	CHECK(set_one("pw") == 0);
	run_loop(500);
	/* One REGISTER an attempt (a 403 is not challenged again), and
	 * attempts again and again, 30-120 ms apart. */
	CHECK(R.registers >= 3);
	CHECK_EQ(R.registers, R.fresh);
	CHECK(metric_is("up", "0"));
	CHECK(metric_is("expires_seconds", "0"));
	/* Nothing registered: shutdown has nothing to wait for. */
	regclient_set(rc, NULL, 0);
	done = false;
	regclient_shutdown(rc, 500, done_h, NULL);
	if (!done)
		run_loop(600);
	CHECK(done);
	client_close();
	registrar_close();
	return 0;
}

int main(void)
{
	int err = libre_init();

	if (err)
		return 1;
	RUN(uri_defaults);
	RUN(uri_refused);
	RUN(list);
	RUN(trunk_entries);
	RUN(registers_and_unregisters);
	RUN(registers_over_tls);
	RUN(wrong_password_backs_off);
	RUN(forbidden_retried);
	libre_close();
	TEST_EXIT();
}
