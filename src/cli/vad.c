/*
 * voxgate vad FILE.wav: runs the call VAD over a recording and prints the
 * speech segments it finds, to check and tune it on real audio.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>

#include "speech/vad.h"
#include "cli/cli.h"
#include "cli/opt.h"
#include "media/wav.h"

#define RATE  8000
#define FRAME (RATE / 50)

static void usage(FILE *out)
{
	struct vad_params d;

	vad_params_default(&d);
	fprintf(out,
	        "usage: voxgate vad FILE.wav [options]\n"
	        "\n"
	        "Runs the voice activity detector that calls use over FILE\n"
	        "(any PCM WAV; taken as 8 kHz mono, as a phone line carries\n"
	        "it) and prints one line per speech segment, \"start end\" in\n"
	        "seconds: start is the first voiced frame of the onset that\n"
	        "led to START, end is when the last voiced frame before STOP\n"
	        "ended. A segment still open at the end of the file ends at\n"
	        "its last voiced frame. No speech prints nothing.\n"
	        "\n"
	        "  --start_secs S   voiced this long before START (default "
	        "%g)\n"
	        "  --stop_secs S    unvoiced this long before STOP (default "
	        "%g)\n"
	        "  --min_volume V   loudness a voiced frame needs, 0..1\n"
	        "                   (default %g, about -50 dBFS)\n"
	        "  --confidence C   speech likelihood a voiced frame needs,\n"
	        "                   0..1 (default %g)\n"
	        "  --frames         also print every 20 ms frame: \"t "
	        "confidence\n"
	        "                   volume voiced\" (voiced is 0 or 1)\n"
	        "\n"
	        "Options take --name value or --name=value, '-' or '_'.\n"
	        "Exit 0, 1 when the output cannot be written, 2 on bad usage\n"
	        "or a file that is not a readable WAV.\n",
	        d.start_secs, d.stop_secs, d.min_volume, d.confidence);
}

struct vad_args {
	struct vad_params prm;
	const char *path;
	bool frames;
};

/* Returns 0, EALREADY after --help, or EINVAL having said why. */
static int parse(struct vad_args *a, int argc, char **argv)
{
	/* vad_alloc's ranges, checked here too to name the option that is
	 * out of them */
	const struct cli_opt opts[] = {
	    {"start_secs", CLI_OPT_DOUBLE, &a->prm.start_secs, 0, 10},
	    {"stop_secs", CLI_OPT_DOUBLE, &a->prm.stop_secs, 0, 10},
	    {"min_volume", CLI_OPT_DOUBLE, &a->prm.min_volume, 0, 1},
	    {"confidence", CLI_OPT_DOUBLE, &a->prm.confidence, 0, 1},
	    {"frames", CLI_OPT_FLAG, &a->frames},
	};
	const char **const args[] = {&a->path};
	const struct cli_opt_cmd cmd = {
	    .name = "vad",
	    .opts = opts,
	    .nopts = sizeof(opts) / sizeof(*opts),
	    .args = args,
	    .nargs = 1,
	    .args_what = "one file",
	};
	int err = cli_opt_parse(&cmd, argc, argv);

	if (err == EALREADY)
		usage(stdout);
	else if (!err && !a->path) {
		fprintf(stderr, "voxgate vad: no FILE.wav (voxgate vad "
		                "--help)\n");
		err = EINVAL;
	}
	return err;
}

int cli_vad(int argc, char **argv)
{
	struct vad_args a = {0};
	struct vad *v = NULL;
	int16_t *pcm = NULL;
	size_t samples = 0;
	const char *why = NULL;
	long onset = -1, last_voiced = -1;
	int err;

	vad_params_default(&a.prm);
	err = parse(&a, argc, argv);
	if (err)
		return err == EALREADY ? 0 : 2;
	err = vad_alloc(&v, &a.prm, RATE);
	if (err) {
		fprintf(stderr, "voxgate vad: %s\n", strerror(err));
		return 1;
	}
	err = wav_load(a.path, RATE, &pcm, &samples, &why);
	if (err) {
		fprintf(stderr, "voxgate vad: %s: %s\n", a.path,
		        why ? why : strerror(err));
		mem_deref(v);
		return 2;
	}

	/* frame k covers [k, k + 1) * 20 ms; a short tail is left out */
	for (size_t k = 0; (k + 1) * FRAME <= samples; k++) {
		struct vad_frame f;

		vad_process(v, pcm + k * FRAME, FRAME, &f);
		if (a.frames)
			printf("%.2f %.3f %.3f %d\n", k * 0.02, f.confidence,
			       f.volume, f.voiced);
		if (f.voiced)
			last_voiced = (long)k;
		if (f.event == VAD_EVENT_ONSET ||
		    (f.event == VAD_EVENT_START && onset < 0))
			onset = (long)k;
		else if (f.event == VAD_EVENT_CANCEL)
			onset = -1;
		if (f.event == VAD_EVENT_STOP) {
			printf("%.2f %.2f\n", onset * 0.02,
			       (last_voiced + 1) * 0.02);
			onset = -1;
		} else if (f.speaking && (k + 2) * FRAME > samples) {
			printf("%.2f %.2f\n", onset * 0.02,
			       (last_voiced + 1) * 0.02);
		}
	}
	free(pcm);
	mem_deref(v);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "voxgate vad: cannot write the output\n");
		return 1;
	}
	return 0;
}
