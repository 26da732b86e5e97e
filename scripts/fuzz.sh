#!/usr/bin/env bash
# Runs libFuzzer targets (build/fuzz/fuzz_<name>, built by `make fuzz`) for
# FUZZ_SECONDS each, one after the other, from their seeds in
# tests/fuzz/corpus/<name>/. Prints "ok fuzz_<name>" with what the run
# reached, or "FAIL fuzz_<name>: ..." with the input that failed.
#
#   scripts/fuzz.sh [name...]   (default: every target built)
#
# Environment:
#   FUZZ_SECONDS    time per target (default 60)
#   FUZZ_CORPUS     where new inputs are kept, per target (default
#                   build/fuzz/corpus, so a later run goes on from there);
#                   "none" keeps them in a temporary directory, removed after
#   FUZZ_ARTIFACTS  where a failing input and the run's log go (default
#                   build/fuzz/crashes)
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang
#                   (default 10)
set -u
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
corpus_root=${FUZZ_CORPUS:-build/fuzz/corpus}
artifacts=${FUZZ_ARTIFACTS:-build/fuzz/crashes}
timeout_s=${FUZZ_TIMEOUT:-10}

if [ $# -eq 0 ]; then
	set -- $(ls build/fuzz/fuzz_* 2>/dev/null | sed 's|.*/fuzz_||')
fi
mkdir -p "$artifacts"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/voxgate-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failed=0
for name in "$@"; do
	bin=build/fuzz/fuzz_$name
	seeds=tests/fuzz/corpus/$name
	log=$artifacts/fuzz_$name.log
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz_$name: $bin is not built (make fuzz)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$corpus_root" = none ]; then
		corpus=$tmp/$name
	else
		corpus=$corpus_root/$name
	fi
	mkdir -p "$corpus"
	dirs=("$corpus")
	[ -d "$seeds" ] && dirs+=("$seeds")
	# Words the mutations may insert: the target's own, or JSON's for
	# the targets that read JSON.
	dict=tests/fuzz/$name.dict
	case $name in
	mstream | proto | telnyx | token | llm) [ -f "$dict" ] || dict=tests/fuzz/json.dict ;;
	esac
	opts=()
	[ -f "$dict" ] && opts+=(-dict="$dict")
	rm -f "$artifacts/fuzz_$name"-*
	# The first directory receives new inputs; the seeds are only read.
	# Leaks stay on: every harness frees what it takes.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
		"$bin" -max_total_time="$seconds" -timeout="$timeout_s" \
		-rss_limit_mb=2048 -print_final_stats=1 "${opts[@]}" \
		-artifact_prefix="$artifacts/fuzz_$name-" "${dirs[@]}" \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	units=$(ls "$corpus" | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "ok fuzz_$name"
		echo "# fuzz_$name: ${runs:-?} runs in ${seconds} s, ${eps:-?} exec/s, cov ${cov:-?} ft ${ft:-?}, corpus $units"
		continue
	fi
	failed=$((failed + 1))
	input=$(ls -t "$artifacts/fuzz_$name"-* 2>/dev/null | head -1)
	what=$(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*check failed)' "$log")
	echo "FAIL fuzz_$name: ${what:-exit $rc} (input: ${input:-none}, log: $log)"
	grep -E '^ +#[0-9]+ ' "$log" | head -8 | sed 's/^/    /'
done
exit $((failed > 0))
