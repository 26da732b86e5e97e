/*
 * Logging: one line per event, text (default) or JSON.
 *
 * A line is an event name plus fields written as `key=value` or
 * `key="value with spaces"`; the JSON form turns each field into a member,
 * so call sites write one format string for both. Safe from any thread: a
 * line is formatted on the stack and written with a single call.
 */
#ifndef VOXGATE_CORE_LOG_H
#define VOXGATE_CORE_LOG_H

#include <stdio.h>

enum log_level {
	LOGL_DEBUG = 0,
	LOGL_INFO,
	LOGL_WARN,
	LOGL_ERROR,
};

enum log_format {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON,
};

/* out is borrowed; NULL means stderr. Call before any other thread logs. */
void log_setup(enum log_level min, enum log_format format, FILE *out);

/* call_id may be NULL for events not tied to a call. fields is a printf
 * format producing `k=v k="v v"` pairs; it may be NULL. Keys, '=', the
 * quotes and the spaces between fields must be the format's own: what a
 * conversion renders is always part of one value in the JSON form. */
void log_event(enum log_level level, const char *call_id, const char *event,
               const char *fields, ...) __attribute__((format(printf, 4, 5)));

/* Copies in into out with " and \ escaped, for a `k="%s"` field whose
 * value may hold quotes (a transcript, an LLM's reply); cut to fit. */
const char *log_quote(char *out, size_t sz, const char *in);

int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

#endif
