#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pocketsphinx.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/fe.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>
#include <speex/speex_resampler.h>
#include <re.h>
#include "speech/stt.h"

#define STT_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define STT_HMM       STT_MODEL_DIR "/en-us"
#define STT_LM        STT_MODEL_DIR "/en-us.lm.bin"
#define STT_DICT      STT_MODEL_DIR "/cmudict-en-us.dict"

#define STT_RATE 8000
/* The en-us acoustic model was trained on 16 kHz audio. */
#define STT_MODEL_RATE 16000

/* Flat over the telephone band; at any quality the decoder's CPU dwarfs
 * the resampler's. */
#define STT_RESAMPLE_QUALITY 4

/* Input resampled per ps_process_raw call: 60 ms. */
#define STT_BLOCK 480

/* A partial hypothesis every 200 ms of audio: a word takes longer than
 * that to say, so asking more often mostly repeats the last one (asking
 * every 20 ms cost no measurable CPU). */
#define STT_PARTIAL_SAMPLES (STT_RATE / 5)

/* A reason: two paths and pocketsphinx's message. */
#define STT_WHY_MAX  1024
#define PS_ERROR_MAX 256

/*
 * pocketsphinx's settings for telephone speech: the HMMs and words searched
 * per frame are capped (its defaults search far more for no better
 * result) and its noise removal, tuned for wideband microphones, is off.
 * The accuracy and CPU behind the choice are in bench/README.md, "Speech
 * to text settings".
 */
#define STT_ARGS                                                               \
	"-mmap", "yes", "-remove_noise", "no", "-maxhmmpf", "10000",           \
	    "-maxwpf", "5"

/*
 * The cepstral mean each turn starts from, with Debian's en-us model: the
 * mean of telephone-band speech resampled to 16 kHz, measured over 40 other
 * sentences in 4 espeak-ng voices with the settings above. The model's own
 * (feat.params' -cmninit, which beats the command line) is a wideband one
 * that pocketsphinx adapts only after seconds of speech, so a decoder's
 * first turn came out as nonsense. Restored at every turn: a decoder gives
 * the same transcript for the same audio whatever it heard before.
 */
static const float stt_cmn_phone[] = {53.82f, 33.42f, -43.28f, 43.90f, -26.36f,
                                      -3.28f, 7.98f,  -36.33f, 20.81f, -16.16f,
                                      0.08f,  9.05f,  -18.16f};
#define STT_CEPLEN (sizeof(stt_cmn_phone) / sizeof(stt_cmn_phone[0]))

struct stt_model {
	/* Held around every pocketsphinx call on the model's decoders: they
	 * share the language model, whose scoring cache is not thread-safe,
	 * and the settings, whose reference count is not atomic. */
	pthread_mutex_t lock;
	bool lock_ready; /* lock was initialised: the destructor destroys it */
	cmd_ln_t *config;
	logmath_t *lmath;    /* the language model's, must outlive it */
	ngram_model_t *lm;   /* each decoder's search holds a reference */
	ps_decoder_t *spare; /* built by stt_model_load, for stt_alloc */
	bool phone_cmn;      /* Debian's en-us: start from stt_cmn_phone */
};

struct stt {
	struct stt_model *m;
	ps_decoder_t *ps;
	SpeexResamplerState *rs;
	mfcc_t *cmn; /* the mean each turn starts from */
	size_t ncmn;
	bool in_utt;
	size_t since; /* samples fed since the last partial */
	/* the last partial and the one being made, tidied */
	char *prev, *cur;
	size_t cap; /* of prev and cur */
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static _Thread_local char stt_why[STT_WHY_MAX];
/* pocketsphinx's last error on this thread, without its source location */
static _Thread_local char ps_error[PS_ERROR_MAX];

/* pocketsphinx logs every step of loading and decoding to stderr; only
 * its errors are kept, for the reasons given to the caller. */
static void ps_log(void *arg, err_lvl_t lvl, const char *fmt, ...)
{
	char *msg, *at;
	size_t len;
	va_list ap;

	(void)arg;
	if (lvl < ERR_ERROR)
		return;
	va_start(ap, fmt);
	vsnprintf(ps_error, sizeof(ps_error), fmt, ap);
	va_end(ap);
	/* ERROR: "file.c", line 42: the message */
	msg = ps_error;
	at = strstr(msg, "\", line ");
	if (at && (at = strstr(at, ": ")))
		msg = at + 2;
	/* one line, printable: some messages quote bytes of a broken file */
	len = 0;
	for (char *p = msg; *p; p++) {
		bool keep = isgraph((unsigned char)*p);

		if (keep || (len && ps_error[len - 1] != ' '))
			ps_error[len++] = keep ? *p : ' ';
	}
	while (len && ps_error[len - 1] == ' ')
		len--;
	ps_error[len] = '\0';
	/* exit() follows an E_FATAL: say why while there is a chance */
	if (lvl == ERR_FATAL)
		fprintf(stderr, "voxgate: stt: pocketsphinx: %s\n", ps_error);
}

static void log_setup(void)
{
	/* The settings table goes straight to the log file, not through the
	 * callback. */
	err_set_logfp(NULL);
	err_set_callback(ps_log, NULL);
}

/* Sets *why to "what path: reason" and returns EINVAL. */
static int bad(const char **why, const char *what, const char *path,
               const char *reason)
{
	snprintf(stt_why, sizeof(stt_why), "%s %s: %s", what, path, reason);
	if (why)
		*why = stt_why;
	return EINVAL;
}

/* Checked before pocketsphinx sees the path: its complaint would not say
 * which file is missing or why. */
static int check_path(const char *what, const char *path, bool dir,
                      const char **why)
{
	struct stat st;

	if (stat(path, &st) || access(path, R_OK))
		return bad(why, what, path, strerror(errno));
	if (dir && !S_ISDIR(st.st_mode))
		return bad(why, what, path, "not a directory");
	if (!dir && !S_ISREG(st.st_mode))
		return bad(why, what, path, "not a file");
	return 0;
}

static int check_paths(const char *hmm, const char *lm, const char *dict,
                       const char **why)
{
	char mdef[4096];
	struct stat st;
	int err;

	err = check_path("acoustic model", hmm, true, why);
	if (err)
		return err;
	if ((size_t)snprintf(mdef, sizeof(mdef), "%s/mdef", hmm) >=
	    sizeof(mdef))
		return bad(why, "acoustic model", hmm, "path too long");
	if (stat(mdef, &st) || !S_ISREG(st.st_mode))
		return bad(why, "acoustic model", hmm,
		           "no mdef file: not a pocketsphinx model directory");
	err = check_path("language model", lm, false, why);
	if (!err)
		err = check_path("dictionary", dict, false, why);
	return err;
}

/* A decoder searching the model's language model; m->lock held. */
static ps_decoder_t *decoder_new(struct stt_model *m)
{
	ps_decoder_t *ps = ps_init(m->config);

	if (!ps)
		return NULL;
	if (ps_set_lm(ps, "lm", m->lm) < 0 || ps_set_search(ps, "lm") < 0) {
		ps_free(ps);
		return NULL;
	}
	return ps;
}

static void stt_model_destructor(void *arg)
{
	struct stt_model *m = arg;

	if (m->spare)
		ps_free(m->spare);
	if (m->lm)
		ngram_model_free(m->lm);
	if (m->lmath)
		logmath_free(m->lmath);
	if (m->config)
		cmd_ln_free_r(m->config);
	if (m->lock_ready)
		pthread_mutex_destroy(&m->lock);
}

int stt_model_load(struct stt_model **mp, const struct stt_params *prm,
                   const char **why)
{
	const char *hmm = prm && prm->hmm ? prm->hmm : STT_HMM;
	const char *lm = prm && prm->lm ? prm->lm : STT_LM;
	const char *dict = prm && prm->dict ? prm->dict : STT_DICT;
	struct stt_model *m;
	int err;

	if (why)
		*why = NULL;
	if (!mp)
		return EINVAL;
	pthread_once(&log_once, log_setup);
	err = check_paths(hmm, lm, dict, why);
	if (err)
		return err;
	m = mem_zalloc(sizeof(*m), stt_model_destructor);
	if (!m)
		return ENOMEM;
	err = pthread_mutex_init(&m->lock, NULL);
	if (err) {
		mem_deref(m);
		return err;
	}
	m->lock_ready = true;
	m->phone_cmn = !strcmp(hmm, STT_HMM);
	ps_error[0] = '\0';
	m->config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-dict",
	                        dict, STT_ARGS, NULL);
	if (!m->config) {
		err = EIO;
		goto out;
	}
	m->lmath =
	    logmath_init(cmd_ln_float32_r(m->config, "-logbase"), 0, FALSE);
	if (!m->lmath) {
		err = ENOMEM;
		goto out;
	}
	m->lm = ngram_model_read(m->config, lm, NGRAM_AUTO, m->lmath);
	if (!m->lm) {
		/* pocketsphinx's reason is about the last format it tried */
		err = bad(why, "language model", lm,
		          "not a language model pocketsphinx reads (ARPA, "
		          "DMP or binary)");
		goto out;
	}
	ps_error[0] = '\0';
	m->spare = decoder_new(m);
	if (!m->spare) {
		snprintf(stt_why, sizeof(stt_why),
		         "acoustic model %s or dictionary %s: %s", hmm, dict,
		         ps_error[0] ? ps_error
		                     : "pocketsphinx cannot load them");
		if (why)
			*why = stt_why;
		err = EINVAL;
		goto out;
	}
	*mp = m;
	return 0;
out:
	mem_deref(m);
	return err;
}

static void stt_destructor(void *arg)
{
	struct stt *s = arg;

	if (s->ps) {
		pthread_mutex_lock(&s->m->lock);
		ps_free(s->ps);
		pthread_mutex_unlock(&s->m->lock);
	}
	if (s->rs)
		speex_resampler_destroy(s->rs);
	free(s->cmn);
	free(s->prev);
	free(s->cur);
}

int stt_alloc(struct stt **sp, struct stt_model *m)
{
	struct stt *s;
	cmn_t *cmn;
	int err;

	if (!sp || !m)
		return EINVAL;
	s = mem_zalloc(sizeof(*s), stt_destructor);
	if (!s)
		return ENOMEM;
	s->m = m;
	s->rs = speex_resampler_init(1, STT_RATE, STT_MODEL_RATE,
	                             STT_RESAMPLE_QUALITY, &err);
	if (!s->rs) {
		mem_deref(s);
		return ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	if (m->spare) {
		s->ps = m->spare;
		m->spare = NULL;
	} else {
		s->ps = decoder_new(m);
	}
	cmn = s->ps ? ps_get_feat(s->ps)->cmn_struct : NULL;
	if (cmn) {
		s->ncmn = (size_t)cmn->veclen;
		s->cmn = calloc(s->ncmn, sizeof(*s->cmn));
		if (s->cmn)
			cmn_live_get(cmn, s->cmn);
	}
	pthread_mutex_unlock(&m->lock);
	if (!s->ps || !s->cmn) {
		err = s->ps ? ENOMEM : EIO;
		mem_deref(s);
		return err;
	}
	if (m->phone_cmn && s->ncmn == STT_CEPLEN) {
		for (size_t i = 0; i < STT_CEPLEN; i++)
			s->cmn[i] = FLOAT2MFCC(stt_cmn_phone[i]);
	}
	*sp = s;
	return 0;
}

int stt_begin(struct stt *s)
{
	int rc;

	if (!s)
		return EINVAL;
	speex_resampler_reset_mem(s->rs);
	/* no leading zeros: the first sample in is the first sample out */
	speex_resampler_skip_zeros(s->rs);
	s->since = 0;
	if (s->prev)
		s->prev[0] = '\0';
	pthread_mutex_lock(&s->m->lock);
	if (s->in_utt)
		ps_end_utt(s->ps);
	cmn_live_set(ps_get_feat(s->ps)->cmn_struct, s->cmn);
	rc = ps_start_utt(s->ps);
	pthread_mutex_unlock(&s->m->lock);
	s->in_utt = rc >= 0;
	return rc < 0 ? EIO : 0;
}

/* Resamples n samples into the decoder; m->lock held. */
static int decode(struct stt *s, const int16_t *pcm, size_t n)
{
	spx_int16_t out[2 * STT_BLOCK + 64];

	while (n) {
		spx_uint32_t in = n < STT_BLOCK ? (spx_uint32_t)n : STT_BLOCK;
		spx_uint32_t got = sizeof(out) / sizeof(out[0]);

		if (speex_resampler_process_int(s->rs, 0, pcm, &in, out,
		                                &got) !=
		        RESAMPLER_ERR_SUCCESS ||
		    !in)
			return EIO;
		if (got && ps_process_raw(s->ps, out, got, FALSE, FALSE) < 0)
			return EIO;
		pcm += in;
		n -= in;
	}
	return 0;
}

/* Copies whole words of src (tidied: single spaces) that fit in sz. */
static void copy_words(char *dst, size_t sz, const char *src)
{
	size_t len = strlen(src);

	if (len >= sz) {
		len = sz - 1;
		while (len && src[len] != ' ')
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Makes s->cur the hypothesis in lower case: a dictionary may spell its
 * words in any case. pocketsphinx's hypothesis has single spaces between
 * words and leaves out fillers (<sil>, [NOISE]) and the marks of alternate
 * pronunciations ("read(2)"). Returns ENOMEM when s->cur cannot hold it.
 */
static int tidy(struct stt *s, const char *hyp)
{
	size_t len = hyp ? strlen(hyp) : 0;

	if (len + 1 > s->cap) {
		char *prev = realloc(s->prev, len + 1), *cur;

		if (!prev)
			return ENOMEM;
		if (!s->cap)
			prev[0] = '\0';
		s->prev = prev;
		cur = realloc(s->cur, len + 1);
		if (!cur)
			return ENOMEM;
		s->cur = cur;
		s->cap = len + 1;
	}
	for (size_t i = 0; i < len; i++)
		s->cur[i] = (char)tolower((unsigned char)hyp[i]);
	s->cur[len] = '\0';
	return 0;
}

int stt_feed(struct stt *s, const int16_t *pcm, size_t n, char *partial,
             size_t psz, bool *changed)
{
	char *swap;
	bool want;
	int err;

	if (changed)
		*changed = false;
	if (!s || (!pcm && n) || (partial && (!psz || !changed)))
		return EINVAL;
	if (!s->in_utt)
		return EINVAL;
	s->since += n;
	want = partial && s->since >= STT_PARTIAL_SAMPLES;
	pthread_mutex_lock(&s->m->lock);
	err = decode(s, pcm, n);
	if (!err && want) {
		/* copied before the lock goes: the string is the decoder's */
		err = tidy(s, ps_get_hyp(s->ps, NULL));
	}
	pthread_mutex_unlock(&s->m->lock);
	if (err || !want)
		return err;
	s->since = 0;
	if (!strcmp(s->cur, s->prev))
		return 0;
	copy_words(partial, psz, s->cur);
	*changed = true;
	swap = s->prev;
	s->prev = s->cur;
	s->cur = swap;
	return 0;
}

int stt_end(struct stt *s, char *text, size_t sz)
{
	static const int16_t zeros[STT_BLOCK];
	spx_uint32_t tail;
	int err = 0;

	if (!s || !text || !sz || !s->in_utt)
		return EINVAL;
	s->in_utt = false;
	/* push the resampler's last few ms out with silence */
	tail = (spx_uint32_t)speex_resampler_get_input_latency(s->rs);
	if (tail > STT_BLOCK)
		tail = STT_BLOCK;
	pthread_mutex_lock(&s->m->lock);
	err = decode(s, zeros, tail);
	if (ps_end_utt(s->ps) < 0 && !err)
		err = EIO;
	if (!err)
		err = tidy(s, ps_get_hyp(s->ps, NULL));
	pthread_mutex_unlock(&s->m->lock);
	if (err) {
		text[0] = '\0';
		return err;
	}
	copy_words(text, sz, s->cur);
	return 0;
}
