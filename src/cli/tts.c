/*
 * voxgate tts "text" OUT.wav: synthesises text as a call would hear it and
 * prints how fast the synthesiser was, to hear and measure the voices.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>

#include "core/clock.h"
#include "speech/tts.h"
#include "cli/cli.h"
#include "cli/opt.h"
#include "media/wav.h"

static void usage(FILE *out)
{
	struct tts_params d;

	tts_params_default(&d);
	fprintf(out,
	        "usage: voxgate tts TEXT OUT.wav [options]\n"
	        "\n"
	        "Synthesises TEXT (plain UTF-8 text) with the embedded\n"
	        "text-to-speech that agents use and writes it to OUT.wav,\n"
	        "16-bit mono; OUT.wav \"-\" writes the WAV to stdout. Prints\n"
	        "one line on stderr: the time to the first chunk of audio,\n"
	        "the whole synthesis time, the audio's duration and the\n"
	        "real-time factor (synthesis time / duration).\n"
	        "\n"
	        "  --provider P     espeak-ng or flite (default %s)\n"
	        "  --voice V        the provider's voice (default: en-us for\n"
	        "                   espeak-ng, see espeak-ng --voices; kal,\n"
	        "                   also called en-us, for flite)\n"
	        "  --rate_wpm N     speaking rate, 80-450 words a minute\n"
	        "                   (default %u)\n"
	        "  --pitch N        0-100 (default %u)\n"
	        "  --out_rate HZ    sample rate written, 8000-48000 (default\n"
	        "                   %u)\n"
	        "\n"
	        "Options take --name value or --name=value, '-' or '_'.\n"
	        "Exit 0, 1 when synthesis fails, 2 on bad usage or an output\n"
	        "that cannot be written.\n",
	        d.provider, d.rate_wpm, d.pitch, d.out_rate);
}

struct tts_args {
	struct tts_params prm;
	const char *text, *out;
};

/* Returns 0, EALREADY after --help, or EINVAL having said why. The ranges
 * are left to tts_alloc, which names the setting out of them. */
static int parse(struct tts_args *a, int argc, char **argv)
{
	/* out_rate is a uint32_t, which need not be an unsigned */
	unsigned out_rate = a->prm.out_rate;
	const struct cli_opt opts[] = {
	    {"provider", CLI_OPT_STRING, &a->prm.provider},
	    {"voice", CLI_OPT_STRING, &a->prm.voice},
	    {"rate_wpm", CLI_OPT_UNSIGNED, &a->prm.rate_wpm},
	    {"pitch", CLI_OPT_UNSIGNED, &a->prm.pitch},
	    {"out_rate", CLI_OPT_UNSIGNED, &out_rate},
	};
	const char **const args[] = {&a->text, &a->out};
	const struct cli_opt_cmd cmd = {
	    .name = "tts",
	    .opts = opts,
	    .nopts = sizeof(opts) / sizeof(*opts),
	    .args = args,
	    .nargs = 2,
	    .args_what = "TEXT and OUT.wav",
	};
	int err = cli_opt_parse(&cmd, argc, argv);

	if (err == EALREADY)
		usage(stdout);
	if (err)
		return err;
	a->prm.out_rate = out_rate;
	if (!a->text || !a->out) {
		fprintf(stderr, "voxgate tts: needs TEXT and OUT.wav (voxgate "
		                "tts --help)\n");
		return EINVAL;
	}
	if (!a->text[0]) {
		fprintf(stderr, "voxgate tts: TEXT is empty\n");
		return EINVAL;
	}
	return 0;
}

/* The audio as it comes, and when its first chunk came. */
struct take {
	int16_t *pcm;
	size_t n, cap;
	double t0, first_ms;
	bool oom;
};

static bool take_chunk(const int16_t *pcm, size_t n, void *arg)
{
	struct take *tk = arg;

	if (tk->first_ms < 0)
		tk->first_ms = clock_mono_us() / 1e3 - tk->t0;
	if (tk->n + n > tk->cap) {
		size_t cap = tk->cap ? tk->cap : 16384;
		int16_t *p;

		while (cap < tk->n + n)
			cap *= 2;
		p = realloc(tk->pcm, cap * sizeof(*p));
		if (!p) {
			tk->oom = true;
			return false;
		}
		tk->pcm = p;
		tk->cap = cap;
	}
	memcpy(tk->pcm + tk->n, pcm, n * sizeof(*pcm));
	tk->n += n;
	return true;
}

/* wav_save writes files by name; for stdout the WAV is made in a private
 * directory and copied out. */
static int save_stdout(const int16_t *pcm, size_t n, uint32_t rate)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], buf[65536];
	FILE *f;
	size_t got;
	int err;

	snprintf(dir, sizeof(dir), "%s/voxgate-tts-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return errno;
	snprintf(path, sizeof(path), "%s/out.wav", dir);
	err = wav_save(path, pcm, n, rate);
	f = err ? NULL : fopen(path, "rb");
	if (!err && !f)
		err = errno;
	while (f && (got = fread(buf, 1, sizeof(buf), f)) > 0)
		if (fwrite(buf, 1, got, stdout) != got) {
			err = EIO;
			break;
		}
	if (f && ferror(f) && !err)
		err = EIO;
	if (f)
		fclose(f);
	if (fflush(stdout) && !err)
		err = errno;
	unlink(path);
	rmdir(dir);
	return err;
}

int cli_tts(int argc, char **argv)
{
	struct tts_args a = {0};
	struct take tk = {.first_ms = -1};
	struct tts *t = NULL;
	const char *why = NULL;
	double t_load, synth_ms, audio_s;
	int err;

	tts_params_default(&a.prm);
	err = parse(&a, argc, argv);
	if (err)
		return err == EALREADY ? 0 : 2;
	if (!strcmp(a.out, "-") && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "voxgate tts: not writing a WAV to a "
		                "terminal\n");
		return 2;
	}

	t_load = clock_mono_us() / 1e3;
	err = tts_alloc(&t, &a.prm, &why);
	t_load = clock_mono_us() / 1e3 - t_load;
	if (err) {
		fprintf(stderr, "voxgate tts: %s\n", why ? why : strerror(err));
		return err == EINVAL ? 2 : 1;
	}
	tk.t0 = clock_mono_us() / 1e3;
	err = tts_synth(t, a.text, take_chunk, &tk);
	synth_ms = clock_mono_us() / 1e3 - tk.t0;
	mem_deref(t);
	if (err) {
		fprintf(stderr, "voxgate tts: synthesis failed: %s\n",
		        strerror(tk.oom ? ENOMEM : err));
		free(tk.pcm);
		return 1;
	}

	if (!strcmp(a.out, "-"))
		err = save_stdout(tk.pcm, tk.n, a.prm.out_rate);
	else
		err = wav_save(a.out, tk.pcm, tk.n, a.prm.out_rate);
	free(tk.pcm);
	if (err) {
		fprintf(stderr, "voxgate tts: %s: cannot write: %s\n",
		        !strcmp(a.out, "-") ? "stdout" : a.out, strerror(err));
		return 2;
	}
	if (!tk.n) {
		fprintf(stderr, "voxgate tts: no audio, nothing to say\n");
		return 0;
	}
	audio_s = (double)tk.n / a.prm.out_rate;
	fprintf(stderr,
	        "voxgate tts: first_chunk_ms=%.2f synth_ms=%.2f "
	        "audio_s=%.3f rtf=%.4f load_ms=%.1f\n",
	        tk.first_ms, synth_ms, audio_s, synth_ms / 1000 / audio_s,
	        t_load);
	return 0;
}
