#!/usr/bin/env bash
# The VAD benchmark (part "v" of bench/run.sh; see bench/README.md, "VAD").
# Writes the labelled set with build/bench/vadset (bench/vadset.c) when it
# is missing or older than the generator, runs Silero as LiveKit ships it
# (bench/vad_silero.mjs) and voxgate's VAD as a call runs it
# (build/bench/vad_eval: echo guard then VAD; "ours-raw" without the echo
# guard) over one split, and scores both (bench/vad_score.py). Silero runs
# a second time over the echo-only clips as voxgate's echo guard passes
# them on ("silero+guard"), so that each detector is measured both ways:
# alone, and behind the guard a call puts in front of the VAD.
#
# Environment: VAD_SET (build/vadset), VAD_SPLIT (test; tune on train or
# dev only), BENCH_OUT_VAD (markdown to append to; default
# bench/results/vad-latest.md, replaced).
set -eu
cd "$(dirname "$0")/.."
SET=${VAD_SET:-build/vadset}
SPLIT=${VAD_SPLIT:-test}
OUT=${BENCH_OUT_VAD:-}

make -s -j2 build/bench/vadset build/bench/vad_eval >/dev/null
if [ ! -f "$SET/manifest.tsv" ] || [ build/bench/vadset -nt "$SET/manifest.tsv" ]; then
	echo "vad_bench: writing the set into $SET" >&2
	rm -rf "$SET"
	build/bench/vadset "$SET"
fi
echo "vad_bench: silero on $SPLIT" >&2
node bench/vad_silero.mjs "$SET" "$SPLIT" >"$SET/silero-$SPLIT.tsv"
echo "vad_bench: voxgate on $SPLIT" >&2
rm -rf "$SET/guarded-$SPLIT"
mkdir -p "$SET/guarded-$SPLIT"
build/bench/vad_eval "$SET" "$SPLIT" --guarded "$SET/guarded-$SPLIT" >"$SET/ours-$SPLIT.tsv"
build/bench/vad_eval "$SET" "$SPLIT" --raw >"$SET/ours-raw-$SPLIT.tsv"
echo "vad_bench: silero behind the echo guard on $SPLIT" >&2
node bench/vad_silero.mjs "$SET" "$SPLIT" "$SET/guarded-$SPLIT" >"$SET/silero-guard-echo-$SPLIT.tsv"
# the other clips have no reference: the guard passes them untouched
awk -F'\t' 'NR == FNR { g[$1] = $0; next } ($1 in g) { print g[$1]; next } { print }' \
	"$SET/silero-guard-echo-$SPLIT.tsv" "$SET/silero-$SPLIT.tsv" >"$SET/silero-guard-$SPLIT.tsv"

report() {
	echo "## (v) VAD: voxgate against Silero (bench/vad_bench.sh)"
	echo
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores."
	echo
	python3 bench/vad_score.py "$SET" "$SPLIT" \
		"silero=$SET/silero-$SPLIT.tsv" "ours=$SET/ours-$SPLIT.tsv" \
		"ours-raw=$SET/ours-raw-$SPLIT.tsv" \
		"silero+guard=$SET/silero-guard-$SPLIT.tsv"
	echo
	echo '```'
	echo "build/bench/vadset $SET"
	echo "node bench/vad_silero.mjs $SET $SPLIT"
	echo "build/bench/vad_eval $SET $SPLIT --guarded $SET/guarded-$SPLIT"
	echo "build/bench/vad_eval $SET $SPLIT --raw"
	echo "node bench/vad_silero.mjs $SET $SPLIT $SET/guarded-$SPLIT"
	echo "python3 bench/vad_score.py $SET $SPLIT silero=... ours=... ours-raw=... silero+guard=..."
	echo '```'
}
if [ -n "$OUT" ]; then
	{ echo; report; } >>"$OUT"
else
	mkdir -p bench/results
	report >bench/results/vad-latest.md.tmp
	mv bench/results/vad-latest.md.tmp bench/results/vad-latest.md
	cat bench/results/vad-latest.md
fi
