/*
 * vad_eval SETDIR SPLIT [--raw] [vad options]: runs voxgate's VAD over
 * every clip of one split of the set bench/vadset.c writes, as a call's
 * media thread runs it (bridge.c: the echo guard first, fed what the agent
 * sent, then the VAD), and prints one line per clip for bench/vad_score.py:
 *
 *   name  audio_s  cpu_s  segments  cancels
 *
 * segments is "-" or comma-separated begin:end:onset:start (seconds):
 * begin is where the onset frame that led to START begins, end where the
 * last voiced frame before STOP ends, onset when that onset frame was
 * known (its end: the bridge pauses the agent then), start when START
 * came. cpu_s is the thread's CPU time inside vad_process alone. cancels
 * counts the onsets that came to nothing (CANCEL): each paused a talking
 * agent for a moment.
 *
 * --raw leaves the echo guard out. --guarded DIR writes each clip that has
 * a reference (the echo-only clips) as the echo guard passed it on, to
 * DIR/NAME.wav, so that Silero can be run behind the same guard
 * (bench/vad_bench.sh). The VAD settings are the server's
 * defaults (the vad_* config keys as config_load gives them), or
 * --start_secs, --stop_secs, --min_volume, --confidence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>

#include "agent/echo_guard.h"
#include "core/config.h"
#include "media/wav.h"
#include "speech/vad.h"

#define RATE  8000
#define FRAME 160

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_clip(const char *dir, const char *name, const char *wav,
                    const char *ref, const struct vad_params *prm, bool raw,
                    const char *guarded)
{
	char path[1024];
	int16_t *pcm = NULL, *rpcm = NULL;
	size_t n = 0, rn = 0, frames;
	const char *why = NULL;
	struct echo_guard *eg = NULL;
	struct vad *v = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, wav);
	err = wav_load(path, RATE, &pcm, &n, &why);
	if (!err && strcmp(ref, "-")) {
		snprintf(path, sizeof(path), "%s/%s", dir, ref);
		err = wav_load(path, RATE, &rpcm, &rn, &why);
	}
	if (err) {
		fprintf(stderr, "vad_eval: %s: %s\n", path,
		        why ? why : strerror(err));
		free(pcm);
		return err;
	}
	frames = n / FRAME;
	err = echo_guard_alloc(&eg);
	if (!err)
		err = vad_alloc(&v, prm, RATE);
	if (err) {
		fprintf(stderr, "vad_eval: %s\n", strerror(err));
		goto out;
	}

	/* The echo guard runs first, over the whole clip, so that the time
	 * taken is the VAD's alone. */
	if (!raw)
		for (size_t k = 0; k < frames; k++) {
			const int16_t *r = NULL;

			echo_guard_in(eg, pcm + k * FRAME);
			if (rpcm && (k + 1) * FRAME <= rn) {
				r = rpcm + k * FRAME;
				bool any = false;
				for (size_t i = 0; i < FRAME && !any; i++)
					any = r[i] != 0;
				if (!any)
					r = NULL;
			}
			echo_guard_out(eg, r);
		}
	if (!raw && guarded && rpcm) {
		snprintf(path, sizeof(path), "%s/%s.wav", guarded, name);
		err = wav_save(path, pcm, frames * FRAME, RATE);
		if (err) {
			fprintf(stderr, "vad_eval: %s: %s\n", path,
			        strerror(err));
			goto out;
		}
	}

	struct vad_frame *out = calloc(frames ? frames : 1, sizeof(*out));
	if (!out) {
		err = ENOMEM;
		goto out;
	}
	double t0 = cpu_now();
	for (size_t k = 0; k < frames; k++)
		vad_process(v, pcm + k * FRAME, FRAME, &out[k]);
	double cpu = cpu_now() - t0;

	printf("%s\t%.3f\t%.6f\t", name, (double)n / RATE, cpu);
	long onset = -1, start = -1, last_voiced = -1;
	int segs = 0, cancels = 0;
	for (size_t k = 0; k < frames; k++) {
		const struct vad_frame *f = &out[k];
		bool close = false;

		if (f->voiced)
			last_voiced = (long)k;
		if (f->event == VAD_EVENT_ONSET)
			onset = (long)k;
		else if (f->event == VAD_EVENT_CANCEL) {
			onset = -1;
			cancels++;
		}
		if (f->event == VAD_EVENT_START) {
			if (onset < 0)
				onset = (long)k;
			start = (long)k;
		}
		if (f->event == VAD_EVENT_STOP)
			close = true;
		else if (f->speaking && k + 1 == frames)
			close = true;
		if (close && start >= 0) {
			printf("%s%.2f:%.2f:%.2f:%.2f", segs++ ? "," : "",
			       onset * 0.02, (last_voiced + 1) * 0.02,
			       (onset + 1) * 0.02, (start + 1) * 0.02);
			onset = start = -1;
		}
	}
	printf("%s\t%d\n", segs ? "" : "-", cancels);
	free(out);
out:
	mem_deref(v);
	mem_deref(eg);
	free(pcm);
	free(rpcm);
	return err;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct vad_params prm;
	const char *why = NULL;
	char *const noargs[] = {NULL};
	char path[1024], line[2048];
	const char *guarded = NULL;
	bool raw = false;
	FILE *m;
	int err;

	if (argc < 3) {
		fprintf(stderr,
		        "usage: vad_eval SETDIR SPLIT [--raw] "
		        "[--guarded DIR] [--start_secs S] [--stop_secs S] "
		        "[--min_volume V] [--confidence C]\n");
		return 2;
	}
	memset(&cfg, 0, sizeof(cfg));
	err = config_load(&cfg, 0, noargs, &why);
	if (err) {
		fprintf(stderr, "vad_eval: config: %s\n", why ? why : "");
		return 1;
	}
	prm.start_secs = cfg.vad_start_secs;
	prm.stop_secs = cfg.vad_stop_secs;
	prm.min_volume = cfg.vad_min_volume;
	prm.confidence = cfg.vad_confidence;
	for (int i = 3; i < argc; i++) {
		double *d = NULL;

		if (!strcmp(argv[i], "--raw")) {
			raw = true;
			continue;
		}
		if (!strcmp(argv[i], "--guarded") && i + 1 < argc) {
			guarded = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--start_secs"))
			d = &prm.start_secs;
		else if (!strcmp(argv[i], "--stop_secs"))
			d = &prm.stop_secs;
		else if (!strcmp(argv[i], "--min_volume"))
			d = &prm.min_volume;
		else if (!strcmp(argv[i], "--confidence"))
			d = &prm.confidence;
		if (!d || i + 1 >= argc) {
			fprintf(stderr, "vad_eval: bad option %s\n", argv[i]);
			return 2;
		}
		*d = atof(argv[++i]);
	}
	fprintf(stderr,
	        "vad_eval: start_secs %g stop_secs %g min_volume %g "
	        "confidence %g%s\n",
	        prm.start_secs, prm.stop_secs, prm.min_volume, prm.confidence,
	        raw ? " (no echo guard)" : "");

	snprintf(path, sizeof(path), "%s/manifest.tsv", argv[1]);
	m = fopen(path, "r");
	if (!m) {
		fprintf(stderr, "vad_eval: cannot read %s\n", path);
		return 1;
	}
	while (fgets(line, sizeof(line), m)) {
		char *f[8], *save = NULL, *p = line;
		int nf = 0;

		line[strcspn(line, "\n")] = 0;
		while (nf < 8 && (f[nf] = strtok_r(p, "\t", &save)))
			nf++, p = NULL;
		if (nf != 8 || strcmp(f[0], argv[2]))
			continue;
		if (run_clip(argv[1], f[1], f[5], f[7], &prm, raw, guarded))
			return 1;
	}
	fclose(m);
	return fflush(stdout) ? 1 : 0;
}
