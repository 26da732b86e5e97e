/*
 * Registration with a registrar (a carrier or a PBX), so that calls to an
 * address of record reach voxgate without a static address: each binding
 * registers, refreshes before expiry, comes back after failures with our
 * own backoff and unregisters on shutdown.
 *
 * What registers comes from the `registrations` setting: `sip:` entries
 * (regclient_parse_list) and outbound trunk ids (regclient_trunk_entry,
 * read from the store). Those are pure and free of libre types; the
 * bindings themselves run on libre's sipreg (regclient.c), on the
 * signalling thread.
 */
#ifndef VOXGATE_SIP_REGCLIENT_H
#define VOXGATE_SIP_REGCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sip;
struct sa;
struct mbuf;
struct store;
struct regclient;

#define REGCLIENT_MAX      16  /* entries in registrations */
#define REGCLIENT_EXPIRES  600 /* asked for when the entry says nothing */
#define REGCLIENT_USER_MAX 64

/* One address of record to register. */
struct regclient_entry {
	char aor[300];       /* sip:user@host[:port]: To, From, the label */
	char registrar[300]; /* sip:host[:port][;transport=tcp|tls] */
	char user[REGCLIENT_USER_MAX + 1]; /* the AOR's user, our Contact's */
	char auth_user[128];               /* "" = no credentials */
	char auth_pass[128];
	char trunk_id[32]; /* the outbound trunk it came from, or "" */
	uint32_t expires;  /* seconds asked for */
};

/* One item of the `registrations` setting: an outbound trunk id (ST_...)
 * resolved later from the store, or a sip: entry parsed here. */
struct regclient_item {
	char trunk_id[32]; /* "" for a sip: entry */
	struct regclient_entry e;
};

/*
 * Parses the comma-separated `registrations` setting into items (at most
 * max). Each is an outbound trunk id `ST_...` or
 * `sip:user@host[:port][;transport=udp|tcp|tls][;expires=N]`; the sip:
 * entries take password as their digest password, with the AOR's user as
 * the digest user (none when password is ""). EINVAL with *why (a static
 * string) on the first bad item, its number in *bad (1 for the first).
 */
int regclient_parse_list(const char *v, const char *password,
                         struct regclient_item *items, size_t max,
                         size_t *nitems, size_t *bad, const char **why);

/* One sip: entry (as above), n bytes at s. */
int regclient_parse_uri(const char *s, size_t n, const char *password,
                        struct regclient_entry *e, const char **why);

/*
 * The entry of a stored outbound trunk: `sip:<first number>@<address>`,
 * registered at the address with the trunk's transport and digest
 * credentials. ENOENT when there is no such outbound trunk; EINVAL with
 * *why when the trunk cannot register (no number, a bad address).
 */
int regclient_trunk_entry(struct store *st, const char *id,
                          struct regclient_entry *e, const char **why);

/* Whether the entry registers over TLS. */
bool regclient_entry_tls(const struct regclient_entry *e);

/* ---- the bindings (regclient.c) ----------------------------------------- */

struct regclient_params {
	struct sip *sip;             /* borrowed */
	uint32_t first_retry_ms;     /* backoff after the first failure */
	uint32_t max_retry_ms;       /* its ceiling */
	uint32_t attempt_timeout_ms; /* a REGISTER nobody answers */
};

typedef void(regclient_done_h)(void *arg);

/* A libre mem object; mem_deref drops every binding (a registered one
 * sends its unregister, which a closing sip stack may cut short). */
int regclient_alloc(struct regclient **rcp, const struct regclient_params *prm);

/* The bindings become exactly v: unchanged entries keep running, removed
 * or changed ones unregister, new ones register at once. */
int regclient_set(struct regclient *rc, const struct regclient_entry *v,
                  size_t n);

/* Unregisters every binding; doneh runs once all have been answered or
 * given up, or after timeout_ms, and at once when nothing is registered.
 * Bindings do not come back afterwards. */
void regclient_shutdown(struct regclient *rc, uint32_t timeout_ms,
                        regclient_done_h *doneh, void *arg);

/* The AOR of the binding whose registrar sent a request from src to our
 * Contact user ruri_user, or NULL. */
const char *regclient_match(const struct regclient *rc, const struct sa *src,
                            const char *ruri_user);

/* voxgate_sip_registration_{up,failures_total,expires_seconds}{aor}. */
int regclient_metrics(const struct regclient *rc, struct mbuf *mb);

#endif
