/*
 * Digest auth of the trunks that have credentials (RFC 2617, qop=auth).
 * The INVITE is challenged with a 407; the credentials are checked against
 * the trunk's, the nonce against our key and its age, the digest uri
 * against the Request-URI, and each nonce count is taken once.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sip/sipua_int.h"
#include "core/log.h"

#define NONCE_TTL_S 300
/* Nonces whose use is remembered at once; past this the oldest is
 * forgotten and every nonce issued up to it counts as stale. */
#define NONCE_USES_MAX 65536

/* A nonce is its issue time, a random salt and a MAC over both
 * (8 + 8 + 16 hex digits), so any nonce we issued can be checked, and
 * aged out, without keeping state per challenge; the salt makes each
 * challenge's nonce its own, which single use (nonce_take) needs. */
#define NONCE_LEN 32

static void nonce_make(const struct sipua_nonces *n, const char *ts_salt,
                       char *out, size_t sz)
{
	uint8_t mac[20];

	hmac_sha1(n->key, sizeof(n->key), (const uint8_t *)ts_salt, 16, mac,
	          sizeof(mac));
	snprintf(out, sz, "%.16s%02x%02x%02x%02x%02x%02x%02x%02x", ts_salt,
	         mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mac[6],
	         mac[7]);
}

static void nonce_new(const struct sipua_nonces *n, char *out, size_t sz)
{
	char ts_salt[17];

	snprintf(ts_salt, sizeof(ts_salt), "%08x%08x", (uint32_t)time(NULL),
	         rand_u32());
	nonce_make(n, ts_salt, out, sz);
}

/* The issue time of a nonce of NONCE_LEN characters. */
static uint32_t nonce_time(const struct pl *nonce)
{
	const struct pl ts = {nonce->p, 8};

	return pl_x32(&ts);
}

/* 0 valid, ESTALE expired, EBADMSG not ours. */
static int nonce_check(const struct sipua_nonces *n, const struct pl *nonce)
{
	char want[NONCE_LEN + 1], ts_salt[17];
	uint32_t t;
	time_t now = time(NULL);

	if (nonce->l != NONCE_LEN)
		return EBADMSG;
	memcpy(ts_salt, nonce->p, 16);
	ts_salt[16] = '\0';
	nonce_make(n, ts_salt, want, sizeof(want));
	if (pl_strcmp(nonce, want))
		return EBADMSG;
	t = nonce_time(nonce);
	if ((uint32_t)now - t > NONCE_TTL_S || t <= n->floor)
		return ESTALE;
	return 0;
}

/* One nonce answered with valid credentials. */
struct nonce_use {
	struct le le; /* n->uses, in order of first use */
	struct le he; /* n->ht */
	char nonce[NONCE_LEN + 1];
	uint32_t t;  /* issued (from the nonce itself) */
	uint32_t nc; /* highest nonce count taken; 0 = used without qop */
};

static void nonce_use_destructor(void *arg)
{
	struct nonce_use *u = arg;

	list_unlink(&u->le);
	hash_unlink(&u->he);
}

static bool nonce_cmp(struct le *le, void *arg)
{
	const struct nonce_use *u = le->data;

	return !pl_strcmp(arg, u->nonce);
}

/* 8 hex digits, as RFC 2617 writes nc; 0 when it is not that. */
static uint32_t nc_value(const struct pl *nc)
{
	/* libre's pl_x32 gives 0 for any character that is not hex */
	return nc->l == 8 ? pl_x32(nc) : 0;
}

/*
 * Takes a nonce for a response already checked: 0, or EALREADY when this
 * nonce was used before with the same or a higher nc (or, without qop, at
 * all). Remembered until the nonce expires.
 */
static int nonce_take(struct sipua_nonces *n, const struct pl *nonce,
                      uint32_t nc)
{
	uint32_t now = (uint32_t)time(NULL);
	struct nonce_use *u;
	struct le *le;

	/* The oldest go first: expired, or past the bound. */
	while ((le = list_head(&n->uses))) {
		u = le->data;
		if (now - u->t <= NONCE_TTL_S && n->nuses < NONCE_USES_MAX)
			break;
		if (now - u->t <= NONCE_TTL_S && u->t > n->floor)
			n->floor = u->t;
		mem_deref(u);
		n->nuses--;
	}
	u = list_ledata(
	    hash_lookup(n->ht, hash_joaat_pl(nonce), nonce_cmp, (void *)nonce));
	if (u) {
		if (!nc || nc <= u->nc)
			return EALREADY;
		u->nc = nc;
		return 0;
	}
	u = mem_zalloc(sizeof(*u), nonce_use_destructor);
	if (!u)
		return ENOMEM;
	pl_strcpy(nonce, u->nonce, sizeof(u->nonce));
	u->t = nonce_time(nonce);
	u->nc = nc;
	list_append(&n->uses, &u->le, u);
	hash_append(n->ht, hash_joaat_pl(nonce), &u->he, u);
	n->nuses++;
	return 0;
}

int sipua_nonces_init(struct sipua_nonces *n)
{
	rand_bytes(n->key, sizeof(n->key));
	list_init(&n->uses);
	return hash_alloc(&n->ht, 4096);
}

void sipua_nonces_reset(struct sipua_nonces *n)
{
	/* The uses first: each unlinks itself from the table. */
	list_flush(&n->uses);
	n->ht = mem_deref(n->ht);
	n->nuses = 0;
}

static void challenge(struct sipua *ua, const struct sip_msg *msg,
                      const char *realm, bool stale)
{
	char nonce[NONCE_LEN + 1], cid[128];

	nonce_new(&ua->nonces, nonce, sizeof(nonce));
	sipua_pl_copy(cid, sizeof(cid), &msg->callid);
	log_event(LOGL_INFO, cid, "auth_challenge", "realm=%s stale=%s", realm,
	          stale ? "true" : "false");
	/* qop=auth makes clients count their uses of a nonce (nc), so a
	 * response captured on the way can be told from a new one. */
	(void)sip_treplyf(NULL, NULL, ua->sip, msg, false, 407,
	                  "Proxy Authentication Required",
	                  "Proxy-Authenticate: Digest realm=\"%s\", "
	                  "nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s\r\n"
	                  "Content-Length: 0\r\n\r\n",
	                  realm, nonce, stale ? ", stale=true" : "");
}

bool sipua_authorized(struct sipua *ua, const struct sip_msg *msg,
                      const struct dispatch_auth *auth)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_PROXY_AUTHORIZATION);
	struct httpauth_digest_resp resp;
	uint8_t ha1[16];
	char *a1 = NULL;
	int err;

	if (!h) {
		challenge(ua, msg, auth->realm, false);
		return false;
	}
	if (httpauth_digest_response_decode(&resp, &h->val)) {
		sipua_reply_reject(ua, msg, 401, "Bad credentials");
		return false;
	}
	err = nonce_check(&ua->nonces, &resp.nonce);
	if (err) {
		challenge(ua, msg, auth->realm, err == ESTALE);
		return false;
	}
	if (pl_strcmp(&resp.username, auth->username) ||
	    pl_strcmp(&resp.realm, auth->realm)) {
		sipua_reply_reject(ua, msg, 401, "Unauthorized");
		return false;
	}
	/* The response covers the uri it names: it must be this request's,
	 * or one captured for another could be sent here (RFC 2617 3.2.2.5). */
	if (pl_cmp(&resp.uri, &msg->ruri)) {
		log_event(LOGL_WARN, NULL, "auth_refused",
		          "reason=\"digest uri is not the Request-URI\" "
		          "src=%s",
		          sipua_addr_fmt(&msg->src).s);
		sipua_reply_reject(ua, msg, 400, "Digest uri does not match");
		return false;
	}
	if (pl_isset(&resp.qop) &&
	    (pl_strcasecmp(&resp.qop, "auth") || !nc_value(&resp.nc) ||
	     !pl_isset(&resp.cnonce))) {
		sipua_reply_reject(ua, msg, 401, "Bad credentials");
		return false;
	}
	if (re_sdprintf(&a1, "%s:%s:%s", auth->username, auth->realm,
	                auth->password)) {
		sipua_reply_reject(ua, msg, 500, "Out of memory");
		return false;
	}
	md5((const uint8_t *)a1, strlen(a1), ha1);
	mem_deref(a1);
	if (httpauth_digest_response_auth(&resp, &msg->met, ha1)) {
		sipua_reply_reject(ua, msg, 401, "Unauthorized");
		return false;
	}
	err = nonce_take(&ua->nonces, &resp.nonce,
	                 pl_isset(&resp.qop) ? nc_value(&resp.nc) : 0);
	if (err == EALREADY) {
		char cid[128];

		sipua_pl_copy(cid, sizeof(cid), &msg->callid);
		log_event(LOGL_WARN, cid, "auth_replay",
		          "src=%s nc=%.*s reason=\"%s\"",
		          sipua_addr_fmt(&msg->src).s, (int)resp.nc.l,
		          resp.nc.p,
		          pl_isset(&resp.qop)
		              ? "nonce count not above the last one taken"
		              : "nonce used before");
		challenge(ua, msg, auth->realm, true);
		return false;
	}
	if (err) {
		sipua_reply_reject(ua, msg, 500, "Out of memory");
		return false;
	}
	return true;
}
