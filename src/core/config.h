/*
 * Configuration: defaults < YAML file (--config) < VOXGATE_<KEY> environment
 * variables < --key value flags. Every key is known to all three sources.
 */
#ifndef VOXGATE_CORE_CONFIG_H
#define VOXGATE_CORE_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include "core/log.h"

struct config {
	char config_file[PATH_MAX]; /* "" when none was given */
	char sip_host[64];          /* listen address, default 0.0.0.0 */
	uint16_t sip_port;          /* UDP and TCP, default 5060 */
	uint16_t rtp_port_min;      /* rtp_port_range, default 10000-20000 */
	uint16_t rtp_port_max;
	char external_ip[64];          /* "" = derive from the listen address */
	uint32_t media_timeout_ms;     /* default 15 s */
	uint32_t max_call_duration_ms; /* default 24 h */
	uint32_t jitter_min_ms;        /* jitter_buffer, default 40-60 ms */
	uint32_t jitter_max_ms;
	enum log_format log_format; /* text */
	enum log_level log_level;   /* info */
	char greeting[PATH_MAX];    /* WAV played on answer, "" = none */
	char agent[32];             /* default "audio-echo" */
	uint32_t answer_delay_ms;   /* ringing time before 200 OK, default 0 */
	uint32_t drain_timeout_ms;  /* after SIGTERM, default 30 s */
	uint32_t media_threads;     /* 0 = one per CPU */
};

/*
 * Fills cfg from all sources. argv holds the arguments after the
 * subcommand. Returns 0, or EINVAL with a one-line message naming the key
 * and the problem in err. Returns EALREADY when --help was asked for (the
 * help has then been printed to stdout).
 */
int config_load(struct config *cfg, int argc, char *const argv[], char *err,
                size_t errsz);

void config_print_help(FILE *out);

#endif
