/*
 * srtpx_bench: what SRTP costs per 172-byte RTP packet (12-byte header,
 * 160 bytes of PCMU), for each profile: srtpx_protect_rtp on one context,
 * srtpx_unprotect_rtp of the same packet on its peer, in batches, timed
 * apart. The same packets through libsrtp2 (what libwebrtc uses; Debian's
 * is built on NSS) and libre's own SRTP (re_srtp.h) for comparison.
 *
 *   srtpx_bench [-n PACKETS] [-t THREADS]
 *
 * Prints a markdown table: CPU µs per protect, per unprotect and per
 * pair, wall µs per pair, and the malloc/calloc/realloc calls per packet (counted by this
 * program's own malloc, which hands on to glibc's; single thread only).
 * With -t, every thread runs its own pair of contexts at once and the
 * table shows each thread's figures: a lock shared inside the libraries
 * would show as CPU (spinning) or wall time (waiting) above the figures
 * of one thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <re.h>
#include <srtp2/srtp.h>

#include "webrtc/srtpx.h"

#define BATCH   1000
#define PKT     172
#define PKT_CAP (PKT + SRTPX_MAX_TRAILER)

/* Allocation counter: glibc lets a program replace malloc and friends. */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void free(void *p);

static atomic_ulong allocs;

void *malloc(size_t n)
{
	atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}

static const struct {
	enum srtpx_profile p;
	enum srtp_suite re_suite;
	srtp_profile_t lib;
} profiles[] = {
    {SRTPX_AEAD_AES_128_GCM, SRTP_AES_128_GCM, srtp_profile_aead_aes_128_gcm},
    {SRTPX_AES_CM_128_HMAC_SHA1_80, SRTP_AES_CM_128_HMAC_SHA1_80,
     srtp_profile_aes128_cm_sha1_80},
    {SRTPX_AES_CM_128_HMAC_SHA1_32, SRTP_AES_CM_128_HMAC_SHA1_32,
     srtp_profile_aes128_cm_sha1_32},
};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static const uint8_t key_a[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                  9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t salt_a[14] = {21, 22, 23, 24, 25, 26, 27,
                                   28, 29, 30, 31, 32, 33, 34};

struct result {
	double prot_us, unprot_us; /* CPU per packet */
	double prot_al, unprot_al; /* allocations per packet */
	double wall_us;            /* wall time per pair */
	unsigned long failed;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static void make_rtp(uint8_t *b, uint32_t i)
{
	uint16_t seq = (uint16_t)i;
	uint32_t ts = i * 160;

	b[0] = 0x80;
	b[1] = 0;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	b[4] = (uint8_t)(ts >> 24);
	b[5] = (uint8_t)(ts >> 16);
	b[6] = (uint8_t)(ts >> 8);
	b[7] = (uint8_t)ts;
	memcpy(b + 8, "\x12\x34\x56\x78", 4);
	memset(b + 12, 0xff, PKT - 12);
}

/* The packets of one batch, 4-byte aligned; one set per thread. */
typedef uint32_t packet_buf[PKT_CAP / 4 + 1];
static __thread packet_buf *bufs;

static int run_srtpx(enum srtpx_profile p, unsigned long n, struct result *r)
{
	struct srtpx_keys k = {key_a, srtpx_key_len(p), salt_a,
	                       srtpx_salt_len(p)};
	struct srtpx_prm prm = {p, k, k, 0};
	struct srtpx tx = {0}, rx = {0};
	size_t len[BATCH];
	double t_prot = 0, t_unprot = 0, t0;
	unsigned long a_prot = 0, a_unprot = 0, a0;
	uint32_t seq = 0;

	double wall = 0, w0;

	if (srtpx_init(&tx, &prm, NULL) || srtpx_init(&rx, &prm, NULL))
		return EPROTO;
	memset(r, 0, sizeof(*r));
	for (unsigned long done = 0; done < n; done += BATCH) {
		for (int i = 0; i < BATCH; i++) {
			make_rtp((uint8_t *)bufs[i], seq++);
			len[i] = PKT;
		}
		w0 = clock_s(CLOCK_MONOTONIC);
		a0 = atomic_load(&allocs);
		t0 = cpu_s();
		for (int i = 0; i < BATCH; i++)
			r->failed += srtpx_protect_rtp(&tx, (uint8_t *)bufs[i],
			                               &len[i], PKT_CAP) != 0;
		t_prot += cpu_s() - t0;
		a_prot += atomic_load(&allocs) - a0;
		a0 = atomic_load(&allocs);
		t0 = cpu_s();
		for (int i = 0; i < BATCH; i++)
			r->failed += srtpx_unprotect_rtp(
			                 &rx, (uint8_t *)bufs[i], &len[i]) != 0;
		t_unprot += cpu_s() - t0;
		a_unprot += atomic_load(&allocs) - a0;
		wall += clock_s(CLOCK_MONOTONIC) - w0;
	}
	n = (n + BATCH - 1) / BATCH * BATCH;
	r->prot_us = t_prot * 1e6 / (double)n;
	r->unprot_us = t_unprot * 1e6 / (double)n;
	r->prot_al = (double)a_prot / (double)n;
	r->unprot_al = (double)a_unprot / (double)n;
	r->wall_us = wall * 1e6 / (double)n;
	srtpx_reset(&tx);
	srtpx_reset(&rx);
	return 0;
}

static int run_libre(enum srtp_suite suite, enum srtpx_profile p,
                     unsigned long n, struct result *r)
{
	uint8_t ks[30];
	struct srtp *tx = NULL, *rx = NULL;
	struct mbuf *mb[BATCH];
	double t_prot = 0, t_unprot = 0, t0;
	unsigned long a_prot = 0, a_unprot = 0, a0;
	size_t kl = srtpx_key_len(p), sl = srtpx_salt_len(p);
	uint32_t seq = 0;
	double wall = 0, w0;
	int err;

	memcpy(ks, key_a, kl);
	memcpy(ks + kl, salt_a, sl);
	err = srtp_alloc(&tx, suite, ks, kl + sl, 0);
	err |= srtp_alloc(&rx, suite, ks, kl + sl, 0);
	for (int i = 0; i < BATCH; i++)
		mb[i] = mbuf_alloc(PKT_CAP);
	memset(r, 0, sizeof(*r));
	for (unsigned long done = 0; !err && done < n; done += BATCH) {
		for (int i = 0; i < BATCH; i++) {
			make_rtp(mb[i]->buf, seq++);
			mb[i]->pos = 0;
			mb[i]->end = PKT;
		}
		w0 = clock_s(CLOCK_MONOTONIC);
		a0 = atomic_load(&allocs);
		t0 = cpu_s();
		for (int i = 0; i < BATCH; i++) {
			mb[i]->pos = 0;
			r->failed += srtp_encrypt(tx, mb[i]) != 0;
		}
		t_prot += cpu_s() - t0;
		a_prot += atomic_load(&allocs) - a0;
		a0 = atomic_load(&allocs);
		t0 = cpu_s();
		for (int i = 0; i < BATCH; i++) {
			mb[i]->pos = 0;
			r->failed += srtp_decrypt(rx, mb[i]) != 0;
		}
		t_unprot += cpu_s() - t0;
		a_unprot += atomic_load(&allocs) - a0;
		wall += clock_s(CLOCK_MONOTONIC) - w0;
	}
	for (int i = 0; i < BATCH; i++)
		mem_deref(mb[i]);
	mem_deref(tx);
	mem_deref(rx);
	if (err)
		return err;
	n = (n + BATCH - 1) / BATCH * BATCH;
	r->prot_us = t_prot * 1e6 / (double)n;
	r->unprot_us = t_unprot * 1e6 / (double)n;
	r->prot_al = (double)a_prot / (double)n;
	r->unprot_al = (double)a_unprot / (double)n;
	r->wall_us = wall * 1e6 / (double)n;
	return 0;
}

static int libsrtp2_session(srtp_t *sp, srtp_profile_t lib,
                            enum srtpx_profile p, bool inbound)
{
	uint8_t ks[30];
	srtp_policy_t pol;

	memset(&pol, 0, sizeof(pol));
	if (srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, lib) ||
	    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, lib))
		return EPROTO;
	memcpy(ks, key_a, srtpx_key_len(p));
	memcpy(ks + srtpx_key_len(p), salt_a, srtpx_salt_len(p));
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.key = ks;
	pol.window_size = 128;
	return srtp_create(sp, &pol) == srtp_err_status_ok ? 0 : EPROTO;
}

static int run_libsrtp2(srtp_profile_t lib, enum srtpx_profile p,
                        unsigned long n, struct result *r)
{
	srtp_t tx = NULL, rx = NULL;
	int len[BATCH];
	double t_prot = 0, t_unprot = 0, t0;
	unsigned long a_prot = 0, a_unprot = 0, a0;
	uint32_t seq = 0;
	double wall = 0, w0;
	int err;

	err = libsrtp2_session(&tx, lib, p, false);
	if (!err)
		err = libsrtp2_session(&rx, lib, p, true);
	memset(r, 0, sizeof(*r));
	for (unsigned long done = 0; !err && done < n; done += BATCH) {
		for (int i = 0; i < BATCH; i++) {
			make_rtp((uint8_t *)bufs[i], seq++);
			len[i] = PKT;
		}
		w0 = clock_s(CLOCK_MONOTONIC);
		a0 = atomic_load(&allocs);
		t0 = cpu_s();
		for (int i = 0; i < BATCH; i++)
			r->failed += srtp_protect(tx, bufs[i], &len[i]) !=
			             srtp_err_status_ok;
		t_prot += cpu_s() - t0;
		a_prot += atomic_load(&allocs) - a0;
		a0 = atomic_load(&allocs);
		t0 = cpu_s();
		for (int i = 0; i < BATCH; i++)
			r->failed += srtp_unprotect(rx, bufs[i], &len[i]) !=
			             srtp_err_status_ok;
		t_unprot += cpu_s() - t0;
		a_unprot += atomic_load(&allocs) - a0;
		wall += clock_s(CLOCK_MONOTONIC) - w0;
	}
	if (tx)
		srtp_dealloc(tx);
	if (rx)
		srtp_dealloc(rx);
	if (err)
		return err;
	n = (n + BATCH - 1) / BATCH * BATCH;
	r->prot_us = t_prot * 1e6 / (double)n;
	r->unprot_us = t_unprot * 1e6 / (double)n;
	r->prot_al = (double)a_prot / (double)n;
	r->unprot_al = (double)a_unprot / (double)n;
	r->wall_us = wall * 1e6 / (double)n;
	return 0;
}

struct job {
	pthread_t thread;
	size_t profile;
	unsigned long n;
	struct result r;
	int err;
};

static void *job_main(void *arg)
{
	struct job *j = arg;

	bufs = malloc(BATCH * sizeof(packet_buf));
	if (!bufs) {
		j->err = ENOMEM;
		return NULL;
	}
	j->err = run_srtpx(profiles[j->profile].p, j->n, &j->r);
	free(bufs);
	return NULL;
}

static void row(const char *impl, enum srtpx_profile p, const struct result *r,
                bool allocs_valid)
{
	printf("| %s | %s | %.2f | %.2f | %.2f | %.2f |", srtpx_profile_name(p),
	       impl, r->prot_us, r->unprot_us, r->prot_us + r->unprot_us,
	       r->wall_us);
	if (allocs_valid)
		printf(" %.2f / %.2f |", r->prot_al, r->unprot_al);
	else
		printf(" - |");
	if (r->failed)
		printf(" (%lu failed)", r->failed);
	printf("\n");
}

int main(int argc, char **argv)
{
	unsigned long n = 200000;
	unsigned threads = 1;
	int c;

	while ((c = getopt(argc, argv, "n:t:")) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: srtpx_bench [-n PACKETS] "
			                "[-t THREADS]\n");
			return 2;
		}
	}
	if (n < BATCH || threads < 1 || threads > 64) {
		fprintf(stderr, "srtpx_bench: -n at least %d, -t 1..64\n",
		        BATCH);
		return 2;
	}
	if (srtpx_global_init() || srtp_init() != srtp_err_status_ok) {
		fprintf(stderr, "srtpx_bench: OpenSSL or libsrtp2 failed to "
		                "start\n");
		return 1;
	}
	printf("%lu packets of %d bytes per profile and thread, %u "
	       "thread(s); CPU µs per packet\n\n",
	       n, PKT, threads);
	printf("| profile | library | protect | unprotect | both | both, "
	       "wall | allocations per protect / unprotect |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NPROFILES; i++) {
		struct job jobs[64];

		/* a warm-up run: the caches */
		jobs[0] = (struct job){.profile = i, .n = n / 10 + BATCH};
		job_main(&jobs[0]);
		for (unsigned t = 0; t < threads; t++) {
			jobs[t] = (struct job){.profile = i, .n = n};
			if (pthread_create(&jobs[t].thread, NULL, job_main,
			                   &jobs[t]))
				return 1;
		}
		for (unsigned t = 0; t < threads; t++) {
			pthread_join(jobs[t].thread, NULL);
			if (jobs[t].err) {
				fprintf(stderr, "srtpx_bench: %s failed\n",
				        srtpx_profile_name(profiles[i].p));
				return 1;
			}
			row(threads > 1 ? "srtpx (OpenSSL), per thread"
			                : "srtpx (OpenSSL)",
			    profiles[i].p, &jobs[t].r, threads == 1);
		}
	}
	if (threads > 1)
		return 0;
	bufs = malloc(BATCH * sizeof(packet_buf));
	if (!bufs)
		return 1;
	for (size_t i = 0; i < NPROFILES; i++) {
		struct result r;

		/* a warm-up run first: NSS and the caches */
		run_libsrtp2(profiles[i].lib, profiles[i].p, n / 10 + BATCH,
		             &r);
		if (run_libsrtp2(profiles[i].lib, profiles[i].p, n, &r)) {
			fprintf(stderr, "srtpx_bench: libsrtp2 %s failed\n",
			        srtpx_profile_name(profiles[i].p));
			return 1;
		}
		row("libsrtp2 2.5 (NSS)", profiles[i].p, &r, true);
	}
	free(bufs);
	for (size_t i = 0; i < NPROFILES; i++) {
		struct result r;

		run_libre(profiles[i].re_suite, profiles[i].p, n / 10 + BATCH,
		          &r);
		if (run_libre(profiles[i].re_suite, profiles[i].p, n, &r)) {
			fprintf(stderr, "srtpx_bench: libre %s failed\n",
			        srtpx_profile_name(profiles[i].p));
			return 1;
		}
		row("libre (re_srtp.h)", profiles[i].p, &r, true);
	}
	return 0;
}
