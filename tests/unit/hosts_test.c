/*
 * allowedAddresses host names kept resolved: a small DNS server on
 * 127.0.0.1 answers A and AAAA queries from a table, and the tests run
 * libre's loop until the answers have come.
 */
#include <errno.h>
#include <string.h>
#include <re.h>

#include "sip/hosts.h"
#include "core/log.h"
#include "test.h"

/* ---- a DNS server answering from a table ------------------------------ */

static const struct {
	const char *name;
	uint16_t type;
	const char *addr;
	uint32_t ttl;
} zone[] = {
    {"pbx.carrier.example", DNS_TYPE_A, "198.51.100.7", 60},
    {"pbx.carrier.example", DNS_TYPE_A, "198.51.100.8", 60},
    {"pbx.carrier.example", DNS_TYPE_AAAA, "2001:db8::7", 60},
    {"v6only.example", DNS_TYPE_AAAA, "2001:db8::66", 60},
};

struct dns_srv {
	struct udp_sock *us;
	struct sa addr;
	unsigned queries;
	bool servfail; /* answer every query with SERVFAIL */
};

static void dns_recv(const struct sa *src, struct mbuf *mb, void *arg)
{
	struct dns_srv *srv = arg;
	struct dnshdr hdr;
	char *name = NULL;
	uint16_t type, dclass;
	struct mbuf *rsp = mbuf_alloc(512);
	struct dnsrr *rrs[8];
	size_t nrr = 0;

	srv->queries++;
	if (!rsp || dns_hdr_decode(mb, &hdr) || hdr.nq != 1 ||
	    dns_dname_decode(mb, &name, 0) || mbuf_get_left(mb) < 4)
		goto out;
	type = ntohs(mbuf_read_u16(mb));
	dclass = ntohs(mbuf_read_u16(mb));
	for (size_t i = 0;
	     i < sizeof(zone) / sizeof(zone[0]) && nrr < 8 && !srv->servfail;
	     i++) {
		struct dnsrr *rr;
		struct sa a;

		if (str_casecmp(zone[i].name, name) || zone[i].type != type)
			continue;
		rr = dns_rr_alloc();
		if (!rr || str_dup(&rr->name, name))
			goto out;
		rr->type = type;
		rr->dnsclass = dclass;
		rr->ttl = zone[i].ttl;
		sa_set_str(&a, zone[i].addr, 0);
		if (type == DNS_TYPE_A)
			rr->rdata.a.addr = sa_in(&a);
		else
			sa_in6(&a, rr->rdata.aaaa.addr);
		rrs[nrr++] = rr;
	}
	hdr.qr = true;
	hdr.aa = true;
	hdr.ra = true;
	hdr.nans = (uint16_t)nrr;
	hdr.nauth = hdr.nadd = 0;
	if (srv->servfail)
		hdr.rcode = DNS_RCODE_SRV_FAIL;
	else if (!nrr && !strstr(name, "pbx.carrier.example") &&
	         !strstr(name, "v6only.example"))
		hdr.rcode = DNS_RCODE_NAME_ERR;
	else
		hdr.rcode = DNS_RCODE_OK;
	if (dns_hdr_encode(rsp, &hdr) ||
	    dns_dname_encode(rsp, name, NULL, 0, false) ||
	    mbuf_write_u16(rsp, htons(type)) ||
	    mbuf_write_u16(rsp, htons(dclass)))
		goto out;
	for (size_t i = 0; i < nrr; i++) {
		if (dns_rr_encode(rsp, rrs[i], 0, NULL, 0))
			goto out;
	}
	rsp->pos = 0;
	(void)udp_send(srv->us, src, rsp);
out:
	for (size_t i = 0; i < nrr; i++)
		mem_deref(rrs[i]);
	mem_deref(name);
	mem_deref(rsp);
}

static int dns_srv_start(struct dns_srv *srv)
{
	int err;

	memset(srv, 0, sizeof(*srv));
	sa_set_str(&srv->addr, "127.0.0.1", 0);
	err = udp_listen(&srv->us, &srv->addr, dns_recv, srv);
	if (!err)
		err = udp_local_get(srv->us, &srv->addr);
	return err;
}

/* ---- running the loop ------------------------------------------------- */

static struct tmr stop_tmr;

static void stop(void *arg)
{
	(void)arg;
	re_cancel();
}

static void run_ms(uint64_t ms)
{
	tmr_start(&stop_tmr, ms, stop, NULL);
	(void)re_main(NULL);
	tmr_cancel(&stop_tmr);
}

static int hosts_for(struct hosts **hp, const struct dns_srv *srv)
{
	char ns[64];

	re_snprintf(ns, sizeof(ns), "%J", &srv->addr);
	return hosts_alloc(hp, ns);
}

/* ---- tests ------------------------------------------------------------ */

TEST(resolved_names_match_their_addresses)
{
	struct dns_srv srv;
	struct hosts *h = NULL;
	const char *names[] = {"pbx.carrier.example", "v6only.example."};

	CHECK_EQ(dns_srv_start(&srv), 0);
	CHECK_EQ(hosts_for(&h, &srv), 0);
	CHECK_EQ(hosts_set(h, names, 2), 0);
	/* Nothing is known before DNS has answered. */
	CHECK(!hosts_match(h, "pbx.carrier.example", "198.51.100.7"));
	run_ms(300);
	CHECK_EQ(srv.queries, 4);
	CHECK(hosts_match(h, "pbx.carrier.example", "198.51.100.7"));
	CHECK(hosts_match(h, "PBX.Carrier.Example.", "198.51.100.8"));
	CHECK(hosts_match(h, "pbx.carrier.example", "2001:db8::7"));
	CHECK(!hosts_match(h, "pbx.carrier.example", "198.51.100.9"));
	CHECK(!hosts_match(h, "pbx.carrier.example", "2001:db8::66"));
	CHECK(hosts_match(h, "v6only.example", "2001:db8::66"));
	CHECK(!hosts_match(h, "v6only.example", "198.51.100.7"));
	/* A name that was not set, and text that is not an address. */
	CHECK(!hosts_match(h, "other.example", "198.51.100.7"));
	CHECK(!hosts_match(h, "pbx.carrier.example", "pbx.carrier.example"));
	CHECK(!hosts_match(h, "pbx.carrier.example", ""));

	/* Set again without it: forgotten at once, no new query for the
	 * name kept. */
	CHECK_EQ(hosts_set(h, names + 1, 1), 0);
	CHECK(!hosts_match(h, "pbx.carrier.example", "198.51.100.7"));
	run_ms(100);
	CHECK_EQ(srv.queries, 4);
	CHECK(hosts_match(h, "v6only.example", "2001:db8::66"));
	mem_deref(h);
	mem_deref(srv.us);
	return 0;
}

TEST(unknown_name_matches_nothing)
{
	struct dns_srv srv;
	struct hosts *h = NULL;
	const char *names[] = {"nowhere.example"};

	CHECK_EQ(dns_srv_start(&srv), 0);
	CHECK_EQ(hosts_for(&h, &srv), 0);
	CHECK_EQ(hosts_set(h, names, 1), 0);
	run_ms(300);
	CHECK_EQ(srv.queries, 2);
	CHECK(!hosts_match(h, "nowhere.example", "198.51.100.7"));
	CHECK(!hosts_match(h, "nowhere.example", "127.0.0.1"));
	mem_deref(h);
	mem_deref(srv.us);
	return 0;
}

TEST(servfail_matches_nothing)
{
	struct dns_srv srv;
	struct hosts *h = NULL;
	const char *names[] = {"pbx.carrier.example"};

	CHECK_EQ(dns_srv_start(&srv), 0);
	srv.servfail = true;
	CHECK_EQ(hosts_for(&h, &srv), 0);
	CHECK_EQ(hosts_set(h, names, 1), 0);
	run_ms(300);
	CHECK(srv.queries >= 2);
	CHECK(!hosts_match(h, "pbx.carrier.example", "198.51.100.7"));
	mem_deref(h);
	mem_deref(srv.us);
	return 0;
}

TEST(localhost_without_dns)
{
	struct dns_srv srv;
	struct hosts *h = NULL;
	const char *names[] = {"localhost"};

	CHECK_EQ(dns_srv_start(&srv), 0);
	CHECK_EQ(hosts_for(&h, &srv), 0);
	CHECK_EQ(hosts_set(h, names, 1), 0);
	CHECK(hosts_match(h, "localhost", "127.0.0.1"));
	CHECK(hosts_match(h, "LOCALHOST", "::1"));
	CHECK(!hosts_match(h, "localhost", "127.0.0.2"));
	run_ms(100);
	CHECK_EQ(srv.queries, 0);
	mem_deref(h);
	mem_deref(srv.us);
	return 0;
}

TEST(bad_arguments)
{
	struct hosts *h = NULL;

	CHECK_EQ(hosts_alloc(NULL, NULL), EINVAL);
	CHECK(hosts_alloc(&h, "not an address") != 0);
	CHECK(h == NULL);
	CHECK_EQ(hosts_set(NULL, NULL, 0), EINVAL);
	CHECK(!hosts_match(NULL, "localhost", "127.0.0.1"));
	return 0;
}

int main(void)
{
	if (libre_init())
		return 1;
	log_setup(LOGL_ERROR, LOG_FORMAT_TEXT, stderr);
	tmr_init(&stop_tmr);
	RUN(resolved_names_match_their_addresses);
	RUN(unknown_name_matches_nothing);
	RUN(servfail_matches_nothing);
	RUN(localhost_without_dns);
	RUN(bad_arguments);
	libre_close();
	TEST_EXIT();
}
