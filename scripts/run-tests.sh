#!/usr/bin/env bash
# Runs every unit test binary and integration test script; each prints
# "ok <name>" or "FAIL <name>: ..." per case. A program that exits non-zero
# without a FAIL line (a crash, a sanitizer report) counts as one failure.
# Ends with one line: "N passed, N failed".
#
#   scripts/run-tests.sh [test ...]
#
# With arguments, runs only those (unit test binaries and integration
# scripts).
#
# Two lanes run side by side (VG_TEST_JOBS=2, the default):
# - the integration scripts that place calls, measure delays or load the
#   machine, one at a time, in the order below (livekit_test.sh last, so
#   that it has the machine once the other lane is done);
# - under nice, the unit tests (CPU-light: most of their time is real-time
#   audio), the offline command-line scripts and the short fuzz runs, whose
#   CPU the first lane takes back whenever it needs it.
# Each test's lines are kept until it ends, then printed together with its
# time, so that the two lanes never interleave. VG_TEST_JOBS=1 runs
# everything one after the other, as the first lane.
#
# Environment: VG_LOG_DIR (where the logs go, default build/test-logs),
# VG_TEST_JOBS (1 or 2), VG_SIDE_NICE (the second lane's niceness, 10).
set -u
cd "$(dirname "$0")/.." || exit 1

logdir=${VG_LOG_DIR:-build/test-logs}
jobs=${VG_TEST_JOBS:-2}
side_nice=${VG_SIDE_NICE:-10}
mkdir -p "$logdir"
state=$(mktemp -d "${TMPDIR:-/tmp}/voxgate-tests.XXXXXX")
trap 'rm -rf "$state"' EXIT
: >"$state/results"

# Scripts that need neither a call nor precise timing: they go beside the
# integration lane, with the unit tests.
side_scripts=" fuzz_test.sh layout_test.sh tools_test.sh vad_test.sh stt_test.sh tts_test.sh "
# Unit tests that time a socket's silence on the wall clock: niced beside
# the integration scripts, their loop may stall past it.
main_units=" wsc_test "

now() { date +%s.%N; }

# run_one NAME CMD...: runs CMD with its output in NAME's log; prints its
# ok/FAIL lines, then its time, in one write; appends "name ok fail secs"
# to the results.
run_one() {
	local name t0 rc ok fail secs log out
	name=$(basename "$1")
	shift
	log="$logdir/$name.log"
	t0=$(now)
	"$@" >"$log" 2>&1
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
	ok=$(grep -c '^ok ' "$log")
	fail=$(grep -c '^FAIL ' "$log")
	out=$(grep -E '^(ok|FAIL) ' "$log" | sed "s|^|  [$name] |")
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
		out+=$'\n'"  [$name] FAIL exited with $rc (see $log)"
		[ -s "$log" ] && out+=$'\n'$(tail -20 "$log" | sed 's/^/      /')
	fi
	out+=$'\n'"  [$name] done in $secs s"
	{
		flock 9
		printf '%s\n' "${out#$'\n'}"
		echo "$name $ok $fail $secs" >>"$state/results"
	} 9>>"$state/lock"
}

run_test() {
	local t=$1 nice_cmd=()
	[ "${2:-}" = side ] && nice_cmd=(nice -n "$side_nice")
	case $t in
	*.sh) [ -f "$t" ] && run_one "$t" "${nice_cmd[@]}" bash "$t" ;;
	*) [ -x "$t" ] && run_one "$t" "${nice_cmd[@]}" "$t" ;;
	esac
}

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=(build/asan/tests/*_test tests/integration/*_test.sh)
fi

main=()
side=()
last=()
for t in "${tests[@]}"; do
	case $t in
	*/livekit_test.sh) last+=("$t") ;;
	*.sh)
		if [ "$jobs" -gt 1 ] && [[ $side_scripts == *" $(basename "$t") "* ]]; then
			side+=("$t")
		else
			main+=("$t")
		fi
		;;
	*)
		if [ "$jobs" -gt 1 ] && [[ $main_units != *" $(basename "$t") "* ]]; then
			side+=("$t")
		else
			main+=("$t")
		fi
		;;
	esac
done
main+=(${last[@]+"${last[@]}"})

start=$(now)
side_pid=
if [ ${#side[@]} -gt 0 ]; then
	(for t in "${side[@]}"; do run_test "$t" side; done) &
	side_pid=$!
	trap 'kill "$side_pid" 2>/dev/null; rm -rf "$state"' EXIT
fi
for t in ${main[@]+"${main[@]}"}; do
	run_test "$t"
done
[ -n "$side_pid" ] && wait "$side_pid"
trap 'rm -rf "$state"' EXIT

passed=$(awk '{ s += $2 } END { print s + 0 }' "$state/results")
failed=$(awk '{ s += $3 } END { print s + 0 }' "$state/results")
failed_names=$(awk '$3 > 0 { printf "%s%s", n++ ? " " : "", $1 }' "$state/results")
# every test's time, longest first, for the time budget (README)
sort -k4,4nr "$state/results" | awk '{ print $1, $4 }' >"$logdir/times.txt"
echo "  tests took $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s" \
	"(each test's seconds in $logdir/times.txt)"
if [ -n "$failed_names" ]; then
	echo "failures in: $failed_names (logs in $logdir)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
