/*
 * Speech to text: Debian's model loads and bad paths are refused with a
 * reason and without pocketsphinx's chatter on stderr; the fixtures'
 * sentences (tests/fixtures, espeak-ng at 8 kHz) come out with their key
 * words; silence gives nothing; a decoder gives the same transcript for
 * the same audio whatever it decoded before and however the audio is cut
 * into chunks; partials and transcripts are tidy and cut at a word; a
 * model of one's own works, its words in any case.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>

#include "speech/stt.h"
#include "media/wav.h"

#include "test.h"

#define FRAME    160
#define TEXT_MAX 1024

#define CALL_ME_BACK "tests/fixtures/call_me_back.wav"
#define CANCEL_ORDER "tests/fixtures/cancel_order.wav"

static struct stt_model *model;

/* Sends stderr to a temporary file, to see what a call wrote there. */
struct capture {
	FILE *f;
	int saved;
};

static int capture_start(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	if (!c->f)
		return errno;
	c->saved = dup(2);
	if (c->saved < 0 || dup2(fileno(c->f), 2) < 0) {
		fclose(c->f);
		return errno;
	}
	return 0;
}

/* Restores stderr; returns how many bytes were written to it. */
static long capture_end(struct capture *c)
{
	long n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	n = ftell(c->f);
	fclose(c->f);
	return n;
}

struct audio {
	int16_t *pcm;
	size_t n;
};

static int load(const char *path, struct audio *a)
{
	const char *why = NULL;
	int err = wav_load(path, 8000, &a->pcm, &a->n, &why);

	if (err)
		printf("# %s: %s (run from the repository root)\n", path,
		       why ? why : strerror(err));
	return err;
}

/* Lower case words separated by single spaces, no fillers or marks. */
static bool tidy(const char *t)
{
	for (size_t i = 0; t[i]; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == ' ' ? i == 0 || t[i + 1] == ' ' || !t[i + 1]
		             : isupper(c) || strchr("<>[]()\t\n", c))
			return false;
	}
	return true;
}

/* Whether text holds word as a whole word. */
static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p++)
		if ((p == text || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

struct run {
	size_t chunk;     /* samples per stt_feed */
	size_t psz;       /* partial buffer size; 0: no partials */
	unsigned changes; /* partials reported */
	bool bad_partial; /* one was untidy, too long or unchanged */
	char text[TEXT_MAX];
};

/* One utterance of audio a, fed chunk by chunk; the transcript in r->text. */
static int transcribe(struct stt *s, const struct audio *a, struct run *r,
                      size_t sz)
{
	char partial[TEXT_MAX], last[TEXT_MAX] = "";
	int err = stt_begin(s);

	for (size_t at = 0; !err && at < a->n; at += r->chunk) {
		size_t n = a->n - at < r->chunk ? a->n - at : r->chunk;
		bool changed = true;

		err = stt_feed(s, a->pcm + at, n, r->psz ? partial : NULL,
		               r->psz, &changed);
		if (err || !changed)
			continue;
		r->changes++;
		/* a partial cut to fit may repeat the last one */
		if (!r->psz || strlen(partial) >= r->psz || !tidy(partial) ||
		    (r->psz == TEXT_MAX && !strcmp(partial, last)))
			r->bad_partial = true;
		strcpy(last, partial);
	}
	return err ? err : stt_end(s, r->text, sz);
}

TEST(model_loads_defaults)
{
	struct stt_params prm = {0};
	const char *why = "unset";
	struct capture c;
	int err;

	CHECK_EQ(capture_start(&c), 0);
	err = stt_model_load(&model, &prm, &why);
	CHECK_EQ(capture_end(&c), 0);
	CHECK_EQ(err, 0);
	CHECK(model != NULL);
	CHECK(why == NULL);
	return 0;
}

/* Loading with prm must fail with EINVAL, a reason holding want, and
 * nothing on stderr. */
static int refused(const struct stt_params *prm, const char *want)
{
	struct stt_model *m = NULL;
	const char *why = NULL;
	struct capture c;
	long noise;
	int err;

	if (capture_start(&c))
		return 1;
	err = stt_model_load(&m, prm, &why);
	noise = capture_end(&c);
	if (err != EINVAL || m || !why || !strstr(why, want) || noise) {
		printf("# err %d, why \"%s\", %ld bytes on stderr\n", err,
		       why ? why : "(null)", noise);
		mem_deref(m);
		return 1;
	}
	return 0;
}

TEST(model_bad_paths)
{
	const struct stt_params missing = {.hmm = "/nonexistent/en-us"};
	const struct stt_params not_model = {.hmm = "tests/fixtures"};
	const struct stt_params text_lm = {.lm = "tests/fixtures/README.md"};
	const struct stt_params dir_dict = {.dict = "tests"};
	const char *why = NULL;

	CHECK_EQ(refused(&missing, "acoustic model /nonexistent/en-us: No "
	                           "such file"),
	         0);
	CHECK_EQ(refused(&not_model, "no mdef file"), 0);
	CHECK_EQ(refused(&text_lm, "language model tests/fixtures/README.md: "
	                           "not a language model"),
	         0);
	CHECK_EQ(refused(&dir_dict, "dictionary tests: not a file"), 0);
	CHECK_EQ(stt_model_load(NULL, NULL, &why), EINVAL);
	return 0;
}

TEST(transcribes_speech)
{
	struct audio a = {0}, b = {0};
	struct run ra = {.chunk = FRAME, .psz = TEXT_MAX};
	struct run rb = {.chunk = FRAME, .psz = TEXT_MAX};
	struct stt *s = NULL;

	CHECK(model != NULL);
	CHECK_EQ(load(CALL_ME_BACK, &a), 0);
	CHECK_EQ(load(CANCEL_ORDER, &b), 0);
	CHECK_EQ(stt_alloc(&s, model), 0);
	CHECK_EQ(transcribe(s, &a, &ra, sizeof(ra.text)), 0);
	CHECK_EQ(transcribe(s, &b, &rb, sizeof(rb.text)), 0);
	mem_deref(s);
	free(a.pcm);
	free(b.pcm);
	printf("# \"%s\", \"%s\"; %u and %u partials\n", ra.text, rb.text,
	       ra.changes, rb.changes);
	CHECK(has_word(ra.text, "call") && has_word(ra.text, "back") &&
	      has_word(ra.text, "tomorrow") && has_word(ra.text, "morning"));
	CHECK(has_word(rb.text, "cancel") && has_word(rb.text, "order"));
	CHECK(tidy(ra.text) && tidy(rb.text));
	/* 2.5 s of speech: the words come in as partials on the way */
	CHECK(ra.changes >= 3 && rb.changes >= 3);
	CHECK(!ra.bad_partial && !rb.bad_partial);
	return 0;
}

TEST(silence_gives_nothing)
{
	struct audio a = {.n = 2 * 8000};
	struct run r = {.chunk = FRAME, .psz = TEXT_MAX};
	struct stt *s = NULL;

	CHECK(model != NULL);
	a.pcm = calloc(a.n, sizeof(*a.pcm));
	CHECK(a.pcm != NULL);
	CHECK_EQ(stt_alloc(&s, model), 0);
	CHECK_EQ(transcribe(s, &a, &r, sizeof(r.text)), 0);
	mem_deref(s);
	free(a.pcm);
	CHECK_STR(r.text, "");
	CHECK_EQ(r.changes, 0);
	return 0;
}

/* The same decoder, one sentence after another and after a turn dropped
 * halfway: what came before changes nothing. */
TEST(decoder_reusable)
{
	struct audio a = {0}, b = {0};
	struct run first = {.chunk = FRAME}, other = {.chunk = FRAME};
	struct run again = {.chunk = FRAME}, after_drop = {.chunk = FRAME};
	struct stt *s = NULL;
	int err;

	CHECK(model != NULL);
	CHECK_EQ(load(CALL_ME_BACK, &a), 0);
	CHECK_EQ(load(CANCEL_ORDER, &b), 0);
	CHECK_EQ(stt_alloc(&s, model), 0);
	err = transcribe(s, &a, &first, TEXT_MAX);
	if (!err)
		err = transcribe(s, &b, &other, TEXT_MAX);
	if (!err)
		err = transcribe(s, &a, &again, TEXT_MAX);
	if (!err)
		err = stt_begin(s);
	if (!err)
		err = stt_feed(s, b.pcm, b.n / 2, NULL, 0, NULL);
	if (!err)
		err = transcribe(s, &a, &after_drop, TEXT_MAX);
	mem_deref(s);
	free(a.pcm);
	free(b.pcm);
	CHECK_EQ(err, 0);
	CHECK(first.text[0] != '\0');
	CHECK(strcmp(first.text, other.text) != 0);
	CHECK_STR(again.text, first.text);
	CHECK_STR(after_drop.text, first.text);
	return 0;
}

TEST(any_chunk_size)
{
	static const size_t chunks[] = {1, 7, 333, 4000, 1000000};
	struct audio a = {0};
	struct run ref = {.chunk = FRAME, .psz = TEXT_MAX};
	struct stt *s = NULL;
	int err;

	CHECK(model != NULL);
	CHECK_EQ(load(CALL_ME_BACK, &a), 0);
	CHECK_EQ(stt_alloc(&s, model), 0);
	err = transcribe(s, &a, &ref, TEXT_MAX);
	for (size_t i = 0; !err && i < sizeof(chunks) / sizeof(chunks[0]);
	     i++) {
		struct run r = {.chunk = chunks[i],
		                .psz = i % 2 ? TEXT_MAX : 0};

		err = transcribe(s, &a, &r, TEXT_MAX);
		if (!err && strcmp(r.text, ref.text)) {
			printf("# %zu-sample chunks: \"%s\", 20 ms frames: "
			       "\"%s\"\n",
			       chunks[i], r.text, ref.text);
			err = EPROTO;
		}
	}
	mem_deref(s);
	free(a.pcm);
	CHECK_EQ(err, 0);
	CHECK(ref.text[0] != '\0');
	return 0;
}

/* A transcript or partial that does not fit is cut after the last whole
 * word that does. */
TEST(cut_at_word)
{
	/* 0: just enough room for all of it */
	static const size_t sizes[] = {1, 2, 6, 7, 8, 12, 20, 0};
	struct audio a = {0};
	struct run full = {.chunk = FRAME};
	struct run narrow = {.chunk = FRAME, .psz = 12};
	struct stt *s = NULL;
	size_t len;
	int err;

	CHECK(model != NULL);
	CHECK_EQ(load(CALL_ME_BACK, &a), 0);
	CHECK_EQ(stt_alloc(&s, model), 0);
	err = transcribe(s, &a, &full, TEXT_MAX);
	len = strlen(full.text);
	for (size_t i = 0; !err && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t sz = sizes[i] ? sizes[i] : len + 1;
		struct run r = {.chunk = FRAME};
		size_t got, next;

		err = transcribe(s, &a, &r, sz);
		got = strlen(r.text);
		next = got + (got ? 1 : 0);
		next += strcspn(full.text + next, " ");
		if (!err && (got >= sz || strncmp(r.text, full.text, got) ||
		             (got && full.text[got] && full.text[got] != ' ') ||
		             (got < len && next < sz))) {
			printf("# size %zu: \"%s\" of \"%s\"\n", sz, r.text,
			       full.text);
			err = EPROTO;
		}
	}
	if (!err)
		err = transcribe(s, &a, &narrow, TEXT_MAX);
	mem_deref(s);
	free(a.pcm);
	CHECK_EQ(err, 0);
	CHECK(len > 12);
	CHECK(narrow.changes > 0);
	CHECK(!narrow.bad_partial);
	return 0;
}

/* A dictionary and language model of our own, with their words in upper
 * case: the transcript comes out in lower case all the same. */
TEST(own_model_upper_case)
{
	static const char dict[] = "PLEASE P L IY Z\n"
	                           "CALL K AO L\n"
	                           "ME M IY\n"
	                           "BACK B AE K\n"
	                           "TOMORROW T AH M AA R OW\n"
	                           "MORNING M AO R N IH NG\n"
	                           "CANCEL K AE N S AH L\n"
	                           "ORDER AO R D ER\n";
	static const char lm[] = "\\data\\\n"
	                         "ngram 1=10\n"
	                         "ngram 2=7\n"
	                         "\n\\1-grams:\n"
	                         "-0.9 </s> 0.0\n"
	                         "-99 <s> -0.3\n"
	                         "-1.0 PLEASE -0.3\n"
	                         "-1.0 CALL -0.3\n"
	                         "-1.0 ME -0.3\n"
	                         "-1.0 BACK -0.3\n"
	                         "-1.0 TOMORROW -0.3\n"
	                         "-1.0 MORNING -0.3\n"
	                         "-1.0 CANCEL -0.3\n"
	                         "-1.0 ORDER -0.3\n"
	                         "\n\\2-grams:\n"
	                         "-0.1 <s> PLEASE\n"
	                         "-0.1 PLEASE CALL\n"
	                         "-0.1 CALL ME\n"
	                         "-0.1 ME BACK\n"
	                         "-0.1 BACK TOMORROW\n"
	                         "-0.1 TOMORROW MORNING\n"
	                         "-0.1 MORNING </s>\n"
	                         "\n\\end\\\n";
	char dir[] = "/tmp/stt_test.XXXXXX", dpath[64], lpath[64];
	struct stt_params prm = {.lm = lpath, .dict = dpath};
	struct audio a = {0};
	struct run r = {.chunk = FRAME, .psz = TEXT_MAX};
	struct stt_model *m = NULL;
	struct stt *s = NULL;
	const char *why = NULL;
	FILE *f;
	int err;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(dpath, sizeof(dpath), "%s/words.dict", dir);
	snprintf(lpath, sizeof(lpath), "%s/words.lm", dir);
	f = fopen(dpath, "w");
	CHECK(f && fputs(dict, f) >= 0 && !fclose(f));
	f = fopen(lpath, "w");
	CHECK(f && fputs(lm, f) >= 0 && !fclose(f));
	err = stt_model_load(&m, &prm, &why);
	if (!err)
		err = stt_alloc(&s, m);
	if (!err)
		err = load(CALL_ME_BACK, &a);
	if (!err)
		err = transcribe(s, &a, &r, TEXT_MAX);
	mem_deref(s);
	mem_deref(m);
	free(a.pcm);
	unlink(dpath);
	unlink(lpath);
	rmdir(dir);
	if (why)
		printf("# %s\n", why);
	CHECK_EQ(err, 0);
	CHECK_STR(r.text, "please call me back tomorrow morning");
	CHECK(r.changes > 0 && !r.bad_partial);
	return 0;
}

TEST(misuse)
{
	int16_t pcm[FRAME] = {0};
	char text[16], partial[16];
	bool changed = true;
	struct stt *s = NULL;

	CHECK(model != NULL);
	CHECK_EQ(stt_alloc(NULL, model), EINVAL);
	CHECK_EQ(stt_alloc(&s, NULL), EINVAL);
	CHECK(s == NULL);
	CHECK_EQ(stt_alloc(&s, model), 0);
	CHECK_EQ(stt_feed(s, pcm, FRAME, partial, sizeof(partial), &changed),
	         EINVAL);
	CHECK(!changed);
	CHECK_EQ(stt_end(s, text, sizeof(text)), EINVAL);
	CHECK_EQ(stt_begin(s), 0);
	CHECK_EQ(stt_feed(s, pcm, FRAME, partial, 0, &changed), EINVAL);
	CHECK_EQ(stt_feed(s, pcm, FRAME, partial, sizeof(partial), NULL),
	         EINVAL);
	CHECK_EQ(stt_feed(s, NULL, FRAME, NULL, 0, NULL), EINVAL);
	CHECK_EQ(stt_feed(s, NULL, 0, NULL, 0, NULL), 0);
	CHECK_EQ(stt_end(s, text, 0), EINVAL);
	CHECK_EQ(stt_end(s, text, sizeof(text)), 0);
	CHECK_EQ(stt_end(s, text, sizeof(text)), EINVAL);
	CHECK_EQ(stt_begin(NULL), EINVAL);
	mem_deref(s);
	mem_deref(NULL);
	mem_deref(NULL);
	return 0;
}

int main(void)
{
	RUN(model_loads_defaults);
	RUN(model_bad_paths);
	RUN(transcribes_speech);
	RUN(silence_gives_nothing);
	RUN(decoder_reusable);
	RUN(any_chunk_size);
	RUN(cut_at_word);
	RUN(own_model_upper_case);
	RUN(misuse);
	mem_deref(model);
	TEST_EXIT();
}
