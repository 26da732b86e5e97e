#!/usr/bin/env bash
# Runs every unit test binary and integration test script; each prints
# "ok <name>" or "FAIL <name>: ..." per case. A program that exits non-zero
# without a FAIL line (a crash, a sanitizer report) counts as one failure.
# Ends with one line: "N passed, N failed".
#
#   scripts/run-tests.sh [test ...]
#
# With arguments, runs only those (unit test binaries and integration
# scripts). VG_LOG_DIR: where the logs go (default build/test-logs).
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failed_names=()
logdir=${VG_LOG_DIR:-build/test-logs}
mkdir -p "$logdir"

run_one() {
	local name=$1
	shift
	local log="$logdir/$(basename "$name").log"
	local start=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	local ok fail
	ok=$(grep -c '^ok ' "$log")
	fail=$(grep -c '^FAIL ' "$log")
	grep -E '^(ok|FAIL) ' "$log" | sed "s|^|  [$(basename "$name")] |"
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "  [$(basename "$name")] FAIL exited with $rc (see $log)"
		fail=1
		tail -20 "$log" | sed 's/^/      /'
	fi
	passed=$((passed + ok))
	failed=$((failed + fail))
	[ "$fail" -gt 0 ] && failed_names+=("$(basename "$name")")
	echo "  [$(basename "$name")] done in $((SECONDS - start)) s"
}

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=(build/asan/tests/*_test tests/integration/*_test.sh)
fi
for t in "${tests[@]}"; do
	case $t in
	*.sh) [ -f "$t" ] && run_one "$t" bash "$t" ;;
	*) [ -x "$t" ] && run_one "$t" "$t" ;;
	esac
done

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failures in: ${failed_names[*]} (logs in $logdir)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
