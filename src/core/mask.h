/*
 * Keys out of what the log shows: servers quote the key they refused, or
 * the request that carried it, in their error bodies and close reasons.
 */
#ifndef VOXGATE_CORE_MASK_H
#define VOXGATE_CORE_MASK_H

/* Every occurrence of key (when it has 4 bytes or more), and any token
 * that looks like one (sk-... but for its first 3 characters), in s
 * becomes '*'s; the length of s is kept. */
void mask_key(char *s, const char *key);

/* The same for a reason told on one log line: control characters become
 * spaces first. */
void mask_line(char *s, const char *key);

#endif
