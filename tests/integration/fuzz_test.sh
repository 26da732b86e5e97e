#!/usr/bin/env bash
# Every libFuzzer target (tests/fuzz, built into build/fuzz by `make test`)
# for a few seconds from its seeds in tests/fuzz/corpus/<name>/: the seeds
# (real frames, real SDPs, past crashes) must all pass, and a short run
# must find nothing new. One case per target, "ok fuzz_<name>" or
# "FAIL fuzz_<name>: ..."; a failing input and the run's log are kept in
# build/test-logs/fuzz/. New inputs a run finds are not kept: `make fuzz`
# is for fuzzing at length.
#
# VG_FUZZ_SECONDS: time per target (default 2; libFuzzer stops on the
# next whole second after it, so a target takes about 3 s here).
set -u
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${VG_FUZZ_SECONDS:-2} FUZZ_CORPUS=none \
	FUZZ_ARTIFACTS=${VG_LOG_DIR:-build/test-logs}/fuzz exec scripts/fuzz.sh
