/*
 * The host names trunks list in allowedAddresses, kept resolved: each is
 * looked up (A and AAAA, libre's DNS client on the signalling thread's
 * loop) when the trunks are loaded, and again when its records expire, so
 * matching an INVITE only reads what is known and never waits on DNS.
 * A name matches nothing until its first answer comes. "localhost" is
 * 127.0.0.1 and ::1 (RFC 6761 6.3), without DNS.
 *
 * Free of libre types so dispatch.c (built on jansson) can use it.
 * Signalling thread only.
 */
#ifndef VOXGATE_SIP_HOSTS_H
#define VOXGATE_SIP_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

struct hosts;

/* nameserver: "address:port" for DNS, or NULL for resolv.conf's (127.0.0.1
 * without one). A libre mem object: mem_deref stops every lookup. */
int hosts_alloc(struct hosts **hp, const char *nameserver);

/* Keeps exactly these names resolved: new ones are looked up now, the
 * others are forgotten. Names are compared without regard to case. */
int hosts_set(struct hosts *h, const char *const *names, size_t n);

/* Did the last answer for name hold ip (an IPv4 or IPv6 address as
 * text)? false for a name not set, not answered yet, or whose answer has
 * expired (its TTL and 5 minutes of failed refreshes). */
bool hosts_match(const struct hosts *h, const char *name, const char *ip);

#endif
