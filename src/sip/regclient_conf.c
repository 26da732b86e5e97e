/*
 * What registers (regclient.h): the entries of the `registrations` setting
 * and the outbound trunks they name. Everything here is checked to a
 * grammar narrower than RFC 3261's, so that what reaches a REGISTER, a log
 * line or a metrics label needs no escaping: no quotes, spaces, angle
 * brackets or escapes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "sip/regclient.h"
#include "store/store.h"

#define HOST_MAX 253

static bool user_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || strchr("+*._~-", c);
}

/* 1-64 bytes of digits, letters and + * . _ ~ - */
static bool user_ok(const char *s, size_t n)
{
	if (!n || n > REGCLIENT_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!user_char(s[i]))
			return false;
	return true;
}

/* host[:port]: a name or IPv4 address of letters, digits, dots and
 * hyphens, or a bracketed IPv6 address; the port 1-65535. */
static bool hostport_ok(const char *s, size_t n)
{
	size_t h = 0;

	if (!n)
		return false;
	if (s[0] == '[') {
		for (h = 1; h < n && s[h] != ']'; h++)
			if (!strchr("0123456789abcdefABCDEF:.", s[h]))
				return false;
		if (h >= n || h < 3)
			return false;
		h++; /* past ']' */
	} else {
		for (; h < n && s[h] != ':'; h++) {
			char c = s[h];

			if (!((c >= '0' && c <= '9') ||
			      (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || c == '.' || c == '-'))
				return false;
		}
		if (!h || h > HOST_MAX || s[0] == '-' || s[0] == '.')
			return false;
	}
	if (h == n)
		return true;
	if (s[h] != ':' || n - h - 1 < 1 || n - h - 1 > 5)
		return false;
	unsigned port = 0;

	for (size_t i = h + 1; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* The registrar's URI and the AOR from their checked parts. */
static int entry_fill(struct regclient_entry *e, const char *user, size_t ulen,
                      const char *hp, size_t hlen, const char *tp,
                      const char **why)
{
	int n;

	n = snprintf(e->aor, sizeof(e->aor), "sip:%.*s@%.*s", (int)ulen, user,
	             (int)hlen, hp);
	if (n < 0 || (size_t)n >= sizeof(e->aor)) {
		*why = "the address of record is too long";
		return EINVAL;
	}
	n = snprintf(e->registrar, sizeof(e->registrar), "sip:%.*s%s%s",
	             (int)hlen, hp, strcmp(tp, "udp") ? ";transport=" : "",
	             strcmp(tp, "udp") ? tp : "");
	if (n < 0 || (size_t)n >= sizeof(e->registrar)) {
		*why = "the registrar's address is too long";
		return EINVAL;
	}
	memcpy(e->user, user, ulen);
	e->user[ulen] = '\0';
	return 0;
}

static int param_parse(const char *p, size_t n, const char **tp,
                       uint32_t *expires, const char **why)
{
	if (n > 10 && !strncasecmp(p, "transport=", 10)) {
		const char *v = p + 10;
		size_t vn = n - 10;

		if (*tp) {
			*why = "names its transport twice";
			return EINVAL;
		}
		if (vn == 3 && !strncasecmp(v, "udp", 3))
			*tp = "udp";
		else if (vn == 3 && !strncasecmp(v, "tcp", 3))
			*tp = "tcp";
		else if (vn == 3 && !strncasecmp(v, "tls", 3))
			*tp = "tls";
		else {
			*why = "has a transport other than udp, tcp or tls";
			return EINVAL;
		}
		return 0;
	}
	if (n > 8 && !strncasecmp(p, "expires=", 8)) {
		uint32_t x = 0;

		if (*expires) {
			*why = "names its expiry twice";
			return EINVAL;
		}
		if (n - 8 > 5) {
			*why = "has an expires outside 1-86400";
			return EINVAL;
		}
		for (size_t i = 8; i < n; i++) {
			if (p[i] < '0' || p[i] > '9') {
				*why = "has an expires that is not a number";
				return EINVAL;
			}
			x = x * 10 + (uint32_t)(p[i] - '0');
		}
		if (!x || x > 86400) {
			*why = "has an expires outside 1-86400";
			return EINVAL;
		}
		*expires = x;
		return 0;
	}
	*why = "has a parameter other than transport and expires";
	return EINVAL;
}

int regclient_parse_uri(const char *s, size_t n, const char *password,
                        struct regclient_entry *e, const char **why)
{
	const char *user, *hp, *tp = NULL, *at;
	size_t ulen, hlen, plen = password ? strlen(password) : 0;
	uint32_t expires = 0;
	int err;

	memset(e, 0, sizeof(*e));
	if (n < 4 || strncasecmp(s, "sip:", 4)) {
		*why = "is neither sip:user@host nor an outbound trunk id "
		       "(ST_...)";
		return EINVAL;
	}
	s += 4;
	n -= 4;
	at = memchr(s, '@', n);
	if (!at) {
		*why = "has no user@ (the number to register)";
		return EINVAL;
	}
	user = s;
	ulen = (size_t)(at - s);
	if (!user_ok(user, ulen)) {
		*why = "has a user that is not 1-64 digits, letters or "
		       "+*._~-";
		return EINVAL;
	}
	hp = at + 1;
	n -= ulen + 1;
	hlen = 0;
	while (hlen < n && hp[hlen] != ';')
		hlen++;
	if (!hostport_ok(hp, hlen)) {
		*why = "has no valid host[:port] after the @";
		return EINVAL;
	}
	for (size_t i = hlen; i < n;) {
		size_t j = i + 1;

		while (j < n && hp[j] != ';')
			j++;
		err = param_parse(hp + i + 1, j - i - 1, &tp, &expires, why);
		if (err)
			return err;
		i = j;
	}
	if (plen >= sizeof(e->auth_pass)) {
		*why = "registration_password is longer than 127 bytes";
		return EINVAL;
	}
	err = entry_fill(e, user, ulen, hp, hlen, tp ? tp : "udp", why);
	if (err)
		return err;
	if (plen) {
		memcpy(e->auth_user, user, ulen);
		e->auth_user[ulen] = '\0';
		memcpy(e->auth_pass, password, plen);
	}
	e->expires = expires ? expires : REGCLIENT_EXPIRES;
	return 0;
}

static bool trunk_id_ok(const char *s, size_t n)
{
	if (n < 4 || n >= sizeof(((struct regclient_item *)0)->trunk_id) ||
	    strncmp(s, "ST_", 3))
		return false;
	for (size_t i = 3; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

int regclient_parse_list(const char *v, const char *password,
                         struct regclient_item *items, size_t max,
                         size_t *nitems, size_t *bad, const char **why)
{
	size_t k = 0, no = 0;
	int err;

	*nitems = 0;
	*bad = 0;
	while (v && *v) {
		size_t n = strcspn(v, ",");
		const char *s = v;

		v += n;
		if (*v == ',')
			v++;
		while (n && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		no++;
		if (!n)
			continue;
		if (k == max) {
			*bad = no;
			*why = "one entry too many (16 at most)";
			return EINVAL;
		}
		memset(&items[k], 0, sizeof(items[k]));
		if (n >= 3 && !strncmp(s, "ST_", 3)) {
			if (!trunk_id_ok(s, n)) {
				*bad = no;
				*why = "is not an outbound trunk id (ST_ and "
				       "letters or digits)";
				return EINVAL;
			}
			memcpy(items[k].trunk_id, s, n);
		} else {
			err = regclient_parse_uri(s, n, password, &items[k].e,
			                          why);
			if (err) {
				*bad = no;
				return err;
			}
		}
		k++;
	}
	*nitems = k;
	return 0;
}

bool regclient_entry_tls(const struct regclient_entry *e)
{
	return strstr(e->registrar, ";transport=tls") != NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

int regclient_trunk_entry(struct store *st, const char *id,
                          struct regclient_entry *e, const char **why)
{
	enum store_trunk_kind kind;
	json_t *t = NULL;
	const char *addr, *num, *tr, *tp = "udp", *au, *ap;
	int err;

	memset(e, 0, sizeof(*e));
	err = store_trunk_get(st, id, &kind, &t);
	if (err == ENOENT || (!err && kind != STORE_TRUNK_OUTBOUND)) {
		json_decref(t);
		*why = "no such outbound trunk";
		return ENOENT;
	}
	if (err) {
		*why = "the store cannot be read";
		return err;
	}
	addr = jstr(t, "address");
	num =
	    json_string_value(json_array_get(json_object_get(t, "numbers"), 0));
	tr = jstr(t, "transport");
	au = jstr(t, "authUsername");
	ap = jstr(t, "authPassword");
	err = EINVAL;
	if (!num || !user_ok(num, strlen(num)))
		*why = "its first number is not 1-64 digits, letters or +*._~-";
	else if (!hostport_ok(addr, strlen(addr)))
		*why = "its address is not host[:port]";
	else if (strlen(au) >= sizeof(e->auth_user) ||
	         strlen(ap) >= sizeof(e->auth_pass))
		*why = "its credentials are longer than 127 bytes";
	else
		err = 0;
	if (!err) {
		if (!strcmp(tr, "SIP_TRANSPORT_TCP"))
			tp = "tcp";
		else if (!strcmp(tr, "SIP_TRANSPORT_TLS"))
			tp = "tls";
		err = entry_fill(e, num, strlen(num), addr, strlen(addr), tp,
		                 why);
	}
	if (!err) {
		/* LiveKit's trunks name one user for digest: authUsername,
		 * and the password with it. */
		if (*ap) {
			snprintf(e->auth_user, sizeof(e->auth_user), "%s",
			         *au ? au : num);
			snprintf(e->auth_pass, sizeof(e->auth_pass), "%s", ap);
		}
		snprintf(e->trunk_id, sizeof(e->trunk_id), "%s", id);
		e->expires = REGCLIENT_EXPIRES;
	}
	json_decref(t);
	return err;
}
