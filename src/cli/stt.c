/*
 * voxgate stt FILE.wav: transcribes a recording the way a call's audio is
 * transcribed (8 kHz, 20 ms frames), to check the recogniser and measure
 * its speed on real audio.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>

#include "core/clock.h"
#include "speech/stt.h"
#include "cli/cli.h"
#include "cli/opt.h"
#include "media/wav.h"

#define RATE  8000
#define FRAME (RATE / 50)

/* Room for a partial or final transcript: a minute of speech or more. */
#define TEXT_MAX 4096

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: voxgate stt FILE.wav [options]\n"
	    "\n"
	    "Transcribes FILE (any PCM WAV; taken as 8 kHz mono, as a\n"
	    "phone line carries it) with the recogniser the agents use,\n"
	    "fed in 20 ms frames as a call feeds it, and prints the final\n"
	    "transcript on one line: lower case, empty when nothing was\n"
	    "recognised. The whole file is one utterance. stderr gets one\n"
	    "line with the audio's duration, the decoding time, the\n"
	    "real-time factor (decoding time / duration) and the time the\n"
	    "model took to load.\n"
	    "\n"
	    "  --partials     also print each new partial transcript as\n"
	    "                 it appears (every 200 ms of audio at most),\n"
	    "                 as \"partial: TEXT\", before the final one\n"
	    "  --hmm DIR      pocketsphinx acoustic model directory\n"
	    "  --lm FILE      language model (ARPA, DMP or binary)\n"
	    "  --dict FILE    pronunciation dictionary\n"
	    "\n"
	    "The model defaults to Debian's US English one (package\n"
	    "pocketsphinx-en-us, /usr/share/pocketsphinx/model/en-us).\n"
	    "Options take --name value or --name=value.\n"
	    "Exit 0, 1 when decoding fails or the output cannot be\n"
	    "written, 2 on bad usage, a file that is not a readable WAV or\n"
	    "a model that cannot be loaded.\n");
}

struct stt_args {
	struct stt_params prm;
	const char *path;
	bool partials;
};

/* Returns 0, EALREADY after --help, or EINVAL having said why. */
static int parse(struct stt_args *a, int argc, char **argv)
{
	const struct cli_opt opts[] = {
	    {"partials", CLI_OPT_FLAG, &a->partials},
	    {"hmm", CLI_OPT_STRING, &a->prm.hmm},
	    {"lm", CLI_OPT_STRING, &a->prm.lm},
	    {"dict", CLI_OPT_STRING, &a->prm.dict},
	};
	const char **const args[] = {&a->path};
	const struct cli_opt_cmd cmd = {
	    .name = "stt",
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
		fprintf(stderr, "voxgate stt: no FILE.wav (voxgate stt "
		                "--help)\n");
		err = EINVAL;
	}
	return err;
}

/* Feeds pcm as 20 ms frames, printing partials when asked; the final
 * transcript goes to text. */
static int transcribe(struct stt *s, const int16_t *pcm, size_t samples,
                      bool partials, char *text)
{
	char partial[TEXT_MAX];
	int err;

	err = stt_begin(s);
	for (size_t at = 0; !err && at < samples; at += FRAME) {
		size_t n = samples - at < FRAME ? samples - at : FRAME;
		bool changed = false;

		err = stt_feed(s, pcm + at, n, partials ? partial : NULL,
		               sizeof(partial), &changed);
		if (!err && changed) {
			printf("partial: %s\n", partial);
			fflush(stdout);
		}
	}
	if (!err)
		err = stt_end(s, text, TEXT_MAX);
	return err;
}

int cli_stt(int argc, char **argv)
{
	struct stt_args a = {0};
	struct stt_model *m = NULL;
	struct stt *s = NULL;
	int16_t *pcm = NULL;
	size_t samples = 0;
	const char *why = NULL;
	char text[TEXT_MAX];
	double t0, t1, t2, dur;
	int err, rc = 1;

	err = parse(&a, argc, argv);
	if (err)
		return err == EALREADY ? 0 : 2;
	err = wav_load(a.path, RATE, &pcm, &samples, &why);
	if (err) {
		fprintf(stderr, "voxgate stt: %s: %s\n", a.path,
		        why ? why : strerror(err));
		return 2;
	}
	t0 = clock_mono_us() / 1e6;
	err = stt_model_load(&m, &a.prm, &why);
	if (err) {
		fprintf(stderr, "voxgate stt: %s\n", why ? why : strerror(err));
		free(pcm);
		return err == EINVAL ? 2 : 1;
	}
	err = stt_alloc(&s, m);
	if (err) {
		fprintf(stderr, "voxgate stt: cannot make a decoder: %s\n",
		        strerror(err));
		goto out;
	}
	t1 = clock_mono_us() / 1e6;
	err = transcribe(s, pcm, samples, a.partials, text);
	t2 = clock_mono_us() / 1e6;
	if (err) {
		fprintf(stderr, "voxgate stt: decoding failed: %s\n",
		        strerror(err));
		goto out;
	}
	printf("%s\n", text);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "voxgate stt: cannot write the output\n");
		goto out;
	}
	dur = (double)samples / RATE;
	fprintf(stderr,
	        "audio %.2f s, decoding %.3f s, real-time factor %.3f "
	        "(model load %.3f s)\n",
	        dur, t2 - t1, dur > 0 ? (t2 - t1) / dur : 0.0, t1 - t0);
	rc = 0;
out:
	mem_deref(s);
	mem_deref(m);
	free(pcm);
	return rc;
}
