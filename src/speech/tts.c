#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <espeak-ng/espeak_ng.h>
#include <flite/flite.h>
#include <speex/speex_resampler.h>
/* of libre, only its mem objects */
#include <re_types.h>
#include <re_mem.h>
#include "core/utf8.h"
#include "speech/tts.h"

/* Audio goes out every 50 ms of it, not when a sentence is done; 50 ms
 * is as small as espeak-ng's synchronous mode goes, and both providers
 * make that much in well under a millisecond. */
#define TTS_CHUNK_MS 50

/* Quality 4, measured from 22050 Hz to 8000 Hz: flat to 3.4 kHz, the top
 * of the telephone band (quality 3 already loses 1 dB there), more than
 * 85 dB down from 4.4 kHz, so fricatives do not fold back as aliases, for
 * under 1 ms of CPU per second of audio. Higher qualities only sharpen the
 * band edge the telephone line cuts anyway. */
#define TTS_RESAMPLE_QUALITY 4

/* Leading samples quieter than this (-42 dBFS) are silence and are not
 * sent: espeak-ng starts with 12 ms of zeros, flite's kal with 230 ms of
 * low-level noise, both straight on the caller's wait for a reply. */
#define TTS_SILENCE 256

/* Resampler output per handler call: 64 ms at 16 kHz. */
#define TTS_OUT_CAP 1024

#define TTS_VOICE_MAX 64

_Static_assert(sizeof(short) == sizeof(int16_t), "espeak-ng and flite "
                                                 "samples are int16_t");

/* One synthesis in progress: where a provider's callback sends audio. */
struct run {
	struct tts *t;
	tts_chunk_h *h;
	void *arg;
	bool started; /* past the leading silence */
	bool cancelled;
	int err; /* the resampler failed */
};

struct provider {
	const char *name;
	const char *default_voice;
	/* Held while the library is loaded, a voice checked, or a text
	 * synthesised: the libraries keep their settings and the text in
	 * progress in globals. */
	pthread_mutex_t lock;
	bool tried; /* load has run; it runs once per process */
	int load_err;
	const char *load_why;
	uint32_t rate; /* its voices' sample rate, once loaded */
	int (*load)(struct provider *pv);
	/* Whether text may hold this character; NULL: any. */
	bool (*keep)(uint32_t cp);
	int (*voice_check)(const char *voice);
	int (*synth)(const struct tts *t, const char *text, struct run *r);
};

struct tts {
	struct provider *pv;
	char voice[TTS_VOICE_MAX];
	unsigned rate_wpm, pitch;
	uint32_t out_rate;
	/* NULL when the voice's rate is out_rate. Used with pv->lock held,
	 * like the library. */
	SpeexResamplerState *rs;
	int16_t out[TTS_OUT_CAP];
};

/* Hands in (at the voice's rate) to the handler, resampled to out_rate.
 * Returns false once the handler has asked to stop. */
static bool feed(struct run *r, const int16_t *in, size_t n)
{
	struct tts *t = r->t;

	if (r->cancelled || r->err)
		return false;
	if (!r->started) {
		size_t i = 0;

		while (i < n && abs(in[i]) < TTS_SILENCE)
			i++;
		if (i == n)
			return true;
		r->started = true;
		in += i;
		n -= i;
	}
	if (!t->rs) {
		r->cancelled = !r->h(in, n, r->arg);
		return !r->cancelled;
	}
	while (n) {
		spx_uint32_t in_len = n > TTS_OUT_CAP ? TTS_OUT_CAP : n;
		spx_uint32_t out_len = TTS_OUT_CAP;

		if (speex_resampler_process_int(t->rs, 0, in, &in_len, t->out,
		                                &out_len) !=
		    RESAMPLER_ERR_SUCCESS) {
			r->err = EIO;
			return false;
		}
		if (!in_len && !out_len)
			break;
		in += in_len;
		n -= in_len;
		if (out_len && !r->h(t->out, out_len, r->arg)) {
			r->cancelled = true;
			return false;
		}
	}
	return true;
}

/* The resampler holds back its filter's length of audio: push silence
 * through so the last sound comes out, then make it ready for the next
 * text. */
static void drain(struct run *r)
{
	static const int16_t zeros[256];
	struct tts *t = r->t;

	if (!t->rs)
		return;
	if (r->started && !r->cancelled) {
		spx_uint32_t left = speex_resampler_get_input_latency(t->rs);

		while (left) {
			spx_uint32_t in_len = left < 256 ? left : 256;
			spx_uint32_t out_len = TTS_OUT_CAP;

			if (speex_resampler_process_int(
			        t->rs, 0, zeros, &in_len, t->out, &out_len) !=
			    RESAMPLER_ERR_SUCCESS) {
				r->err = EIO;
				break;
			}
			if (!in_len)
				break;
			left -= in_len;
			if (out_len && !r->h(t->out, out_len, r->arg)) {
				r->cancelled = true;
				break;
			}
		}
	}
	if (speex_resampler_reset_mem(t->rs) != RESAMPLER_ERR_SUCCESS ||
	    speex_resampler_skip_zeros(t->rs) != RESAMPLER_ERR_SUCCESS)
		r->err = EIO;
}

/* ---- espeak-ng ---------------------------------------------------------- */

/* All under espeak_ng_p.lock. The settings last given to the library, so a
 * text in the same voice as the one before costs no reload. */
static struct run *espeak_run;
static char espeak_voice[TTS_VOICE_MAX];
static unsigned espeak_wpm, espeak_pitch;
static char espeak_why[200];

static int espeak_err(espeak_ng_STATUS st)
{
	return (st & ENS_GROUP_MASK) == ENS_GROUP_ERRNO && st ? (int)st : EIO;
}

static int espeak_chunk(short *wav, int n, espeak_EVENT *events)
{
	(void)events;
	if (!espeak_run)
		return 1;
	if (wav && n > 0 && !feed(espeak_run, wav, (size_t)n))
		return 1;
	return espeak_run->cancelled;
}

static int espeak_load(struct provider *pv)
{
	espeak_ng_ERROR_CONTEXT ctx = NULL;
	espeak_ng_STATUS st;
	int rate;

	/* NULL: ESPEAK_DATA_PATH, else the library's own path, which is
	 * where Debian's espeak-ng-data is. */
	espeak_ng_InitializePath(NULL);
	st = espeak_ng_Initialize(&ctx);
	if (st == ENS_OK)
		st = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS,
		                                TTS_CHUNK_MS, NULL);
	if (st != ENS_OK) {
		char msg[128];

		espeak_ng_GetStatusCodeMessage(st, msg, sizeof(msg));
		espeak_ng_ClearErrorContext(&ctx);
		snprintf(espeak_why, sizeof(espeak_why),
		         "espeak-ng cannot start (is espeak-ng-data "
		         "installed?): %s",
		         msg);
		pv->load_why = espeak_why;
		return espeak_err(st);
	}
	rate = espeak_ng_GetSampleRate();
	if (rate <= 0) {
		pv->load_why = "espeak-ng has no sample rate";
		return EIO;
	}
	pv->rate = (uint32_t)rate;
	espeak_SetSynthCallback(espeak_chunk);
	return 0;
}

static int espeak_set_voice(const char *voice)
{
	espeak_ng_STATUS st;

	if (!strcmp(voice, espeak_voice))
		return 0;
	espeak_voice[0] = '\0';
	st = espeak_ng_SetVoiceByName(voice);
	if (st != ENS_OK)
		return st == ENS_VOICE_NOT_FOUND ? EINVAL : espeak_err(st);
	snprintf(espeak_voice, sizeof(espeak_voice), "%s", voice);
	/* A voice brings its own rate and pitch. */
	espeak_wpm = espeak_pitch = 0;
	return 0;
}

/*
 * The scripts espeak-ng 1.51 (Debian 12) was found to read without fault:
 * random text from each, fuzzed under AddressSanitizer with en-us and with
 * the script's own voice. Others make it read freed memory even in an
 * English voice (Indic digits, Hangul), so they are read as spaces.
 */
static bool espeak_keeps(uint32_t cp)
{
	static const struct {
		uint32_t lo, hi;
	} safe[] = {
	    {0x20, 0x24f},    /* Latin, Latin-1, Latin Extended-A and B */
	    {0x370, 0x4ff},   /* Greek, Cyrillic */
	    {0x590, 0x6ff},   /* Hebrew, Arabic */
	    {0x1e00, 0x1fff}, /* Latin Extended Additional, Greek Extended */
	    {0x2000, 0x214f}, /* punctuation, currency, letterlike symbols */
	    {0x3000, 0x30ff}, /* CJK punctuation, kana */
	    {0x4e00, 0x9fff}, /* CJK ideographs */
	    {0xff00, 0xffef}, /* full-width forms */
	};

	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (cp >= safe[i].lo && cp <= safe[i].hi)
			return true;
	return false;
}

static int espeak_check(const char *voice)
{
	return espeak_set_voice(voice);
}

static int espeak_synth(const struct tts *t, const char *text, struct run *r)
{
	espeak_ng_STATUS st;
	int err;

	err = espeak_set_voice(t->voice);
	if (err)
		return err == EINVAL ? EIO : err;
	if (espeak_wpm != t->rate_wpm) {
		st = espeak_ng_SetParameter(espeakRATE, (int)t->rate_wpm, 0);
		if (st != ENS_OK)
			return espeak_err(st);
		espeak_wpm = t->rate_wpm;
	}
	if (espeak_pitch != t->pitch) {
		st = espeak_ng_SetParameter(espeakPITCH, (int)t->pitch, 0);
		if (st != ENS_OK)
			return espeak_err(st);
		espeak_pitch = t->pitch;
	}
	espeak_run = r;
	/* Plain UTF-8: no espeakSSML, no espeakPHONEMES, so "<...>" and
	 * "[[...]]" in a text are read, not obeyed. */
	st = espeak_ng_Synthesize(text, strlen(text) + 1, 0, POS_CHARACTER, 0,
	                          espeakCHARS_UTF8, NULL, NULL);
	espeak_run = NULL;
	if (st == ENS_SPEECH_STOPPED && r->cancelled)
		return 0;
	return st == ENS_OK ? 0 : espeak_err(st);
}

/* ---- flite -------------------------------------------------------------- */

/* libflite_cmu_us_kal ships no header. */
cst_voice *register_cmu_us_kal(const char *voxdir);

/* Set once by flite_load, then used under flite_p.lock. */
static cst_voice *flite_kal;
static cst_audio_streaming_info *flite_asi;
static float flite_stretch, flite_f0;

static int flite_chunk(const cst_wave *w, int start, int size, int last,
                       cst_audio_streaming_info *asi)
{
	struct run *r = asi->userdata;

	(void)last;
	if (!r)
		return CST_AUDIO_STREAM_STOP;
	if (size > 0 && !feed(r, w->samples + start, (size_t)size))
		return CST_AUDIO_STREAM_STOP;
	return r->cancelled ? CST_AUDIO_STREAM_STOP : CST_AUDIO_STREAM_CONT;
}

static int flite_load(struct provider *pv)
{
	int rate;

	flite_init();
	flite_kal = register_cmu_us_kal(NULL);
	if (!flite_kal) {
		pv->load_why = "flite cannot load its voice";
		return EIO;
	}
	rate = flite_get_param_int(flite_kal->features, "sample_rate", 0);
	flite_asi = rate > 0 ? new_audio_streaming_info() : NULL;
	if (!flite_asi) {
		pv->load_why = "flite cannot stream its voice";
		return EIO;
	}
	pv->rate = (uint32_t)rate;
	flite_stretch = flite_get_param_float(flite_kal->features,
	                                      "duration_stretch", 1.0f);
	flite_f0 = flite_get_param_float(flite_kal->features,
	                                 "int_f0_target_mean", 100.0f);
	flite_asi->asc = flite_chunk;
	flite_asi->min_buffsize = (int)(pv->rate * TTS_CHUNK_MS / 1000);
	/* The voice's features own flite_asi from here. */
	flite_feat_set(flite_kal->features, "streaming_info",
	               audio_streaming_info_val(flite_asi));
	return 0;
}

/* kal is US English, so "en-us" and its espeak-ng variants ("en-us+klatt3",
 * the agent's default) name it too: one voice setting then works with
 * either provider. */
static int flite_check(const char *voice)
{
	return strcmp(voice, "kal") && strcmp(voice, "en-us") &&
	               strncmp(voice, "en-us+", 6)
	           ? EINVAL
	           : 0;
}

static int flite_synth(const struct tts *t, const char *text, struct run *r)
{
	cst_features *f = flite_kal->features;
	cst_tokenstream *ts;

	/* The voice's own pace counts as 175 words a minute, and pitch 50
	 * as its own mean F0: each 50 steps is an octave. */
	flite_feat_set_float(f, "duration_stretch",
	                     flite_stretch * 175.0f / (float)t->rate_wpm);
	flite_feat_set_float(f, "int_f0_target_mean",
	                     flite_f0 *
	                         exp2f(((float)t->pitch - 50.0f) / 50.0f));
	/* A token stream, not flite_text_to_speech: that makes the whole
	 * text one utterance, so nothing would stream until all of it had
	 * been through the front end. This way each sentence streams as it
	 * is made and a stop ends the text, not just the sentence. Plain
	 * text: flite reads SSML only through its ssml functions. */
	ts = ts_open_string(
	    text, flite_get_param_string(f, "text_whitespace", NULL),
	    flite_get_param_string(f, "text_singlecharsymbols", NULL),
	    flite_get_param_string(f, "text_prepunctuation", NULL),
	    flite_get_param_string(f, "text_postpunctuation", NULL));
	if (!ts)
		return ENOMEM;
	flite_asi->userdata = r;
	/* Closes ts. "none": the audio leaves only through flite_chunk. */
	flite_ts_to_speech(ts, flite_kal, "none");
	flite_asi->userdata = NULL;
	return 0;
}

/* ---- common ------------------------------------------------------------- */

static struct provider espeak_ng_p = {
    .name = "espeak-ng",
    .default_voice = "en-us",
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .load = espeak_load,
    .keep = espeak_keeps,
    .voice_check = espeak_check,
    .synth = espeak_synth,
};

static struct provider flite_p = {
    .name = "flite",
    .default_voice = "kal",
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .load = flite_load,
    .voice_check = flite_check,
    .synth = flite_synth,
};

/* The first is the default. */
static struct provider *const providers[] = {&espeak_ng_p, &flite_p};

void tts_params_default(struct tts_params *p)
{
	*p = (struct tts_params){
	    .provider = "espeak-ng",
	    .voice = NULL,
	    .rate_wpm = 175,
	    .pitch = 50,
	    .out_rate = 8000,
	};
}

/* Voice names go to the library's file lookup: letters, digits and
 * "+-_." only, so a name cannot be a path. */
static bool voice_name_ok(const char *v)
{
	size_t n = strlen(v);

	if (!n || n >= TTS_VOICE_MAX || v[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int params_check(const struct tts_params *prm, struct provider **pvp,
                        const char **voicep, const char **why)
{
	const char *voice;
	struct provider *pv;

	pv = prm->provider ? NULL : providers[0];
	for (size_t i = 0; !pv && i < sizeof(providers) / sizeof(*providers);
	     i++)
		if (!strcmp(prm->provider, providers[i]->name))
			pv = providers[i];
	if (!pv) {
		*why = "unknown provider (espeak-ng or flite)";
		return EINVAL;
	}
	voice = prm->voice ? prm->voice : pv->default_voice;
	if (!voice_name_ok(voice)) {
		*why = "bad voice name";
		return EINVAL;
	}
	if (prm->rate_wpm < 80 || prm->rate_wpm > 450) {
		*why = "rate_wpm must be 80-450";
		return EINVAL;
	}
	if (prm->pitch > 100) {
		*why = "pitch must be 0-100";
		return EINVAL;
	}
	if (prm->out_rate < 8000 || prm->out_rate > 48000) {
		*why = "out_rate must be 8000-48000 Hz";
		return EINVAL;
	}
	*pvp = pv;
	*voicep = voice;
	return 0;
}

static void tts_destructor(void *arg)
{
	struct tts *t = arg;

	if (t->rs)
		speex_resampler_destroy(t->rs);
}

int tts_alloc(struct tts **tp, const struct tts_params *prm, const char **why)
{
	const char *reason = NULL, *voice = NULL;
	struct provider *pv = NULL;
	struct tts *t = NULL;
	int err, rerr = 0;

	if (!tp || !prm) {
		reason = "no parameters";
		err = EINVAL;
		goto out;
	}
	err = params_check(prm, &pv, &voice, &reason);
	if (err)
		goto out;

	err = pthread_mutex_lock(&pv->lock);
	if (err)
		goto out;
	if (!pv->tried) {
		pv->load_err = pv->load(pv);
		pv->tried = true;
	}
	err = pv->load_err;
	if (err)
		reason = pv->load_why;
	else {
		err = pv->voice_check(voice);
		if (err == EINVAL)
			reason = "unknown voice (espeak-ng --voices lists "
			         "espeak-ng's; flite has kal, or en-us)";
	}
	pthread_mutex_unlock(&pv->lock);
	if (err)
		goto out;

	t = mem_zalloc(sizeof(*t), tts_destructor);
	if (!t) {
		err = ENOMEM;
		goto out;
	}
	t->pv = pv;
	snprintf(t->voice, sizeof(t->voice), "%s", voice);
	t->rate_wpm = prm->rate_wpm;
	t->pitch = prm->pitch;
	t->out_rate = prm->out_rate;
	if (pv->rate != prm->out_rate) {
		t->rs = speex_resampler_init(1, pv->rate, prm->out_rate,
		                             TTS_RESAMPLE_QUALITY, &rerr);
		if (!t->rs) {
			mem_deref(t);
			reason = "cannot resample to out_rate";
			err = rerr == RESAMPLER_ERR_ALLOC_FAILED ? ENOMEM
			                                         : EINVAL;
			goto out;
		}
		/* Without this the audio starts with the filter's delay
		 * of silence. */
		if (speex_resampler_skip_zeros(t->rs) !=
		    RESAMPLER_ERR_SUCCESS) {
			mem_deref(t);
			reason = "cannot resample to out_rate";
			err = EINVAL;
			goto out;
		}
	}
	*tp = t;
out:
	if (err && why)
		*why = reason ? reason : strerror(err);
	return err;
}

/*
 * A copy of text the library can take whatever it held: malformed UTF-8,
 * control characters (C0, DEL, C1) and what the provider does not keep
 * become spaces, byte for byte. *outp is NULL when there is nothing but
 * spaces; otherwise the caller frees it.
 */
static int text_clean(const char *text, bool (*keep)(uint32_t cp), char **outp)
{
	size_t n = strlen(text), i = 0;
	bool words = false;
	char *out;

	*outp = NULL;
	out = malloc(n + 1);
	if (!out)
		return ENOMEM;
	while (i < n) {
		uint32_t cp = 0;
		size_t len = utf8_next(text + i, n - i, &cp);

		if (!len || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    (keep && !keep(cp))) {
			memset(out + i, ' ', len ? len : 1);
			i += len ? len : 1;
			continue;
		}
		words = words || cp != ' ';
		memcpy(out + i, text + i, len);
		i += len;
	}
	out[n] = '\0';
	if (!words) {
		free(out);
		return 0;
	}
	*outp = out;
	return 0;
}

int tts_synth(struct tts *t, const char *text, tts_chunk_h *h, void *arg)
{
	struct run r = {.t = t, .h = h, .arg = arg};
	char *clean = NULL;
	int err;

	if (!t || !text || !h)
		return EINVAL;
	err = text_clean(text, t->pv->keep, &clean);
	if (err || !clean)
		return err;
	err = pthread_mutex_lock(&t->pv->lock);
	if (err) {
		free(clean);
		return err;
	}
	err = t->pv->synth(t, clean, &r);
	drain(&r);
	pthread_mutex_unlock(&t->pv->lock);
	free(clean);
	if (r.cancelled)
		return ECANCELED;
	return r.err ? r.err : err;
}
