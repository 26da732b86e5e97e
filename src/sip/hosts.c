/*
 * DESIGN. Why resolve ahead rather than per call: an INVITE is routed
 * synchronously on the signalling thread, which must never block, and a
 * lookup per INVITE would also let anyone who can send INVITEs make us
 * send DNS queries. So each name is looked up when the trunks are loaded
 * (A and AAAA at once), and again when the shortest TTL of its answer
 * runs out (kept within 30 s to 1 h, so a zero TTL cannot make us query
 * in a loop and a long one still gets checked). A refresh that fails is
 * retried every 30 s while the last answer stays good for 5 more minutes,
 * so a resolver hiccup does not turn a carrier away; a name DNS says does
 * not exist (or has no address) matches nothing from then on.
 *
 * libre's client asks DNS only: it does not read /etc/hosts, hence the
 * one name it cannot answer, localhost, is answered here.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "sip/hosts.h"
#include "core/log.h"

#define HOSTS_ADDR_MAX 16
#define TTL_MIN_S      30
#define TTL_MAX_S      3600
#define RETRY_S        30
#define GRACE_S        300
#define NS_MAX         4

struct hosts {
	struct dnsc *dnsc;
	struct list names;
};

struct hname {
	struct le le;
	struct hosts *h; /* borrowed: the hosts own their names */
	char *name;
	struct sa addr[HOSTS_ADDR_MAX];
	size_t naddr;
	uint64_t good_until; /* tmr_jiffies(); 0 = no answer yet */
	bool forever;        /* localhost */
	bool answered;       /* DNS has answered once */
	bool failing;        /* the last lookups got no answer */
	bool keep;           /* still listed (hosts_set) */
	struct tmr tmr;
	/* The lookup under way: both answers are gathered before the
	 * addresses above are replaced. */
	struct dns_query *q4, *q6;
	unsigned pending;
	struct sa next[HOSTS_ADDR_MAX];
	size_t nnext;
	int64_t ttl;
	bool failed; /* an error, not an answer, for A or AAAA */
};

static void lookup(void *arg);

static void hname_destructor(void *arg)
{
	struct hname *hn = arg;

	tmr_cancel(&hn->tmr);
	list_unlink(&hn->le);
	mem_deref(hn->q4);
	mem_deref(hn->q6);
	mem_deref(hn->name);
}

static void hosts_destructor(void *arg)
{
	struct hosts *h = arg;

	list_flush(&h->names);
	mem_deref(h->dnsc);
}

static bool add_rr(struct dnsrr *rr, void *arg)
{
	struct hname *hn = arg;
	struct sa *sa;

	if (hn->nnext >= HOSTS_ADDR_MAX)
		return true;
	sa = &hn->next[hn->nnext];
	if (rr->type == DNS_TYPE_A)
		sa_set_in(sa, rr->rdata.a.addr, 0);
	else if (rr->type == DNS_TYPE_AAAA)
		sa_set_in6(sa, rr->rdata.aaaa.addr, 0);
	else
		return false;
	hn->nnext++;
	if (rr->ttl < hn->ttl)
		hn->ttl = rr->ttl;
	return false;
}

static bool same_addrs(const struct hname *hn)
{
	if (hn->naddr != hn->nnext)
		return false;
	for (size_t i = 0; i < hn->naddr; i++) {
		if (!sa_cmp(&hn->addr[i], &hn->next[i], SA_ADDR))
			return false;
	}
	return true;
}

static void lookup_done(struct hname *hn)
{
	int64_t ttl = hn->ttl;
	uint64_t now = tmr_jiffies();

	if (!hn->nnext && hn->failed) {
		/* Said once per outage, not at every retry. */
		if (!hn->failing)
			log_event(
			    LOGL_WARN, NULL, "allowed_host_unresolved",
			    "name=%s retry_s=%u still_good_s=%llu", hn->name,
			    RETRY_S,
			    (unsigned long long)(hn->good_until > now
			                             ? (hn->good_until - now) /
			                                   1000
			                             : 0));
		hn->failing = true;
		tmr_start(&hn->tmr, RETRY_S * 1000, lookup, hn);
		return;
	}
	hn->failing = false;
	if (!hn->nnext) {
		if (hn->naddr || !hn->answered)
			log_event(
			    LOGL_WARN, NULL, "allowed_host_unknown",
			    "name=%s reason=\"DNS has no address for it\"",
			    hn->name);
		hn->answered = true;
		hn->naddr = 0;
		hn->good_until = 0;
		tmr_start(&hn->tmr, GRACE_S * 1000, lookup, hn);
		return;
	}
	if (ttl < TTL_MIN_S)
		ttl = TTL_MIN_S;
	if (ttl > TTL_MAX_S)
		ttl = TTL_MAX_S;
	if (!hn->answered || !same_addrs(hn))
		log_event(LOGL_INFO, NULL, "allowed_host_resolved",
		          "name=%s addresses=%zu ttl_s=%lld", hn->name,
		          hn->nnext, (long long)ttl);
	hn->answered = true;
	memcpy(hn->addr, hn->next, hn->nnext * sizeof(hn->next[0]));
	hn->naddr = hn->nnext;
	hn->good_until = now + (uint64_t)(ttl + GRACE_S) * 1000;
	tmr_start(&hn->tmr, (uint64_t)ttl * 1000, lookup, hn);
}

static void answer(struct hname *hn, int err, const struct dnshdr *hdr,
                   struct list *ansl, uint16_t type)
{
	/* An answer without the name, or with NXDOMAIN, is an answer;
	 * a timeout or SERVFAIL is not. */
	if (err || !hdr ||
	    (hdr->rcode != DNS_RCODE_OK && hdr->rcode != DNS_RCODE_NAME_ERR))
		hn->failed = true;
	else
		(void)dns_rrlist_apply(ansl, NULL, type, DNS_CLASS_IN, false,
		                       add_rr, hn);
	if (--hn->pending == 0)
		lookup_done(hn);
}

/* libre has cleared q4/q6 before these run and frees the query after. */
static void answer4(int err, const struct dnshdr *hdr, struct list *ansl,
                    struct list *authl, struct list *addl, void *arg)
{
	(void)authl;
	(void)addl;
	answer(arg, err, hdr, ansl, DNS_TYPE_A);
}

static void answer6(int err, const struct dnshdr *hdr, struct list *ansl,
                    struct list *authl, struct list *addl, void *arg)
{
	(void)authl;
	(void)addl;
	answer(arg, err, hdr, ansl, DNS_TYPE_AAAA);
}

static void lookup(void *arg)
{
	struct hname *hn = arg;
	int err;

	hn->q4 = mem_deref(hn->q4);
	hn->q6 = mem_deref(hn->q6);
	hn->nnext = 0;
	hn->ttl = TTL_MAX_S;
	hn->failed = false;
	hn->pending = 2;
	err = dnsc_query(&hn->q4, hn->h->dnsc, hn->name, DNS_TYPE_A,
	                 DNS_CLASS_IN, true, answer4, hn);
	if (err) {
		hn->failed = true;
		hn->pending--;
	}
	err = dnsc_query(&hn->q6, hn->h->dnsc, hn->name, DNS_TYPE_AAAA,
	                 DNS_CLASS_IN, true, answer6, hn);
	if (err) {
		hn->failed = true;
		hn->pending--;
	}
	/* Neither query could be sent: the retry timer takes over. */
	if (!hn->pending)
		lookup_done(hn);
}

static struct hname *find(const struct hosts *h, const char *name)
{
	size_t n = strlen(name);

	/* "pbx.example." is "pbx.example" */
	if (n && name[n - 1] == '.')
		n--;
	for (struct le *le = list_head(&h->names); le; le = le->next) {
		struct hname *hn = le->data;

		if (strlen(hn->name) == n && !strncasecmp(hn->name, name, n))
			return hn;
	}
	return NULL;
}

static int hname_add(struct hosts *h, const char *name)
{
	struct hname *hn;
	size_t n = strlen(name);
	int err;

	if (n && name[n - 1] == '.')
		n--;
	if (!n)
		return 0;
	hn = mem_zalloc(sizeof(*hn), hname_destructor);
	if (!hn)
		return ENOMEM;
	hn->h = h;
	hn->keep = true;
	tmr_init(&hn->tmr);
	err = re_sdprintf(&hn->name, "%b", name, n);
	if (err) {
		mem_deref(hn);
		return err;
	}
	list_append(&h->names, &hn->le, hn);
	if (!str_casecmp(hn->name, "localhost")) {
		sa_set_str(&hn->addr[0], "127.0.0.1", 0);
		sa_set_str(&hn->addr[1], "::1", 0);
		hn->naddr = 2;
		hn->forever = true;
		return 0;
	}
	/* Looked up from the loop, not from within the API request that
	 * changed the trunks. */
	tmr_start(&hn->tmr, 0, lookup, hn);
	return 0;
}

int hosts_set(struct hosts *h, const char *const *names, size_t n)
{
	struct le *le;
	int err = 0;

	if (!h || (n && !names))
		return EINVAL;
	for (le = list_head(&h->names); le; le = le->next)
		((struct hname *)le->data)->keep = false;
	for (size_t i = 0; i < n && !err; i++) {
		struct hname *hn = names[i] ? find(h, names[i]) : NULL;

		if (hn)
			hn->keep = true;
		else if (names[i])
			err = hname_add(h, names[i]);
	}
	for (le = list_head(&h->names); le;) {
		struct hname *hn = le->data;

		le = le->next;
		if (!hn->keep)
			mem_deref(hn);
	}
	return err;
}

bool hosts_match(const struct hosts *h, const char *name, const char *ip)
{
	const struct hname *hn;
	struct sa sa;

	if (!h || !name || !ip || sa_set_str(&sa, ip, 0))
		return false;
	hn = find(h, name);
	if (!hn || (!hn->forever && tmr_jiffies() >= hn->good_until))
		return false;
	for (size_t i = 0; i < hn->naddr; i++) {
		if (sa_cmp(&hn->addr[i], &sa, SA_ADDR))
			return true;
	}
	return false;
}

int hosts_alloc(struct hosts **hp, const char *nameserver)
{
	struct hosts *h;
	struct sa ns[NS_MAX];
	uint32_t nns = NS_MAX;
	char domain[64] = "";
	int err;

	if (!hp)
		return EINVAL;
	if (nameserver) {
		err = sa_decode(&ns[0], nameserver, strlen(nameserver));
		if (err)
			return err;
		nns = 1;
	} else if (dns_srv_get(domain, sizeof(domain), ns, &nns) || !nns) {
		/* libre wants a server even when none is configured. */
		err = sa_set_str(&ns[0], "127.0.0.1", DNS_PORT);
		if (err)
			return err;
		nns = 1;
	}
	h = mem_zalloc(sizeof(*h), hosts_destructor);
	if (!h)
		return ENOMEM;
	list_init(&h->names);
	err = dnsc_alloc(&h->dnsc, NULL, ns, nns);
	if (err)
		mem_deref(h);
	else
		*hp = h;
	return err;
}
