#!/usr/bin/env bash
# Retrains the VAD's model, src/speech/vad_model.h (see src/speech/vad.c,
# DESIGN, and bench/vad_train.c): writes the labelled set when it is
# missing or older than its generator, learns on its train split, calibrates
# on dev (never reads test), and writes the weights as C. Deterministic:
# fixed seeds, one thread, so the same build writes the same file. About
# 3 minutes on one idle core (10 with the machine busy). Then `make` and
# `bash bench/vad_bench.sh`.
#
# The committed model was calibrated with --threshold 0.25, chosen on the
# dev split: the output threshold that the default vad_confidence (0.7)
# stands for. Tried there in the first round: 0.10 (the best frame F2),
# 0.16, 0.25 and 0.35 (the best frame F1); 0.25 started on no non-speech
# clip of dev. In the second round (the pitch-held feature, onsets weighted
# up, the guard's gaps) 0.25 still starts on none of dev's 24 non-speech
# clips, but its onset p90 on dev is 120 ms clean and 106 ms at 5 dB
# (flite's kal, a third of dev's clean clips and never in train, starts
# words quietly); vad_eval --confidence 0.65 (a threshold of 0.21) brings
# dev to 40 / 40 / 78 / 90 ms, still with no false start, for 0.011 of F1
# at 5 dB on dev (0.957 to 0.946) and more segments running on through
# the pauses in noise. It was kept at 0.25: on test both meet the targets
# (bench/README.md, "VAD").
# Other arguments go to vad_train (--epochs N, --threshold T,
# --onset-weight W, --gaps SHARE, --nonspeech-weight W, --subsample K).
#
# Environment: VAD_SET (build/vadset).
set -eu
cd "$(dirname "$0")/.."
SET=${VAD_SET:-build/vadset}

make -s -j2 build/bench/vadset build/bench/vad_train >/dev/null
if [ ! -f "$SET/manifest.tsv" ] || [ build/bench/vadset -nt "$SET/manifest.tsv" ]; then
	echo "vad_train: writing the set into $SET" >&2
	rm -rf "$SET"
	build/bench/vadset "$SET"
fi
build/bench/vad_train "$SET" build/vad_model_new.h --threshold 0.25 "$@"
clang-format -i build/vad_model_new.h
mv build/vad_model_new.h src/speech/vad_model.h
echo "vad_train: wrote src/speech/vad_model.h" >&2
