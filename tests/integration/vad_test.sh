#!/usr/bin/env bash
# voxgate vad on real speech: two espeak-ng sentences, trimmed so their
# extents are known, laid out as 0.5 s silence, sentence, 1.0 s silence,
# sentence, 0.5 s silence at 8 kHz. The command must find exactly two
# segments within 0.15 s of the sentences, clean, under white noise and
# through G.711; noise alone is no speech; bad input is one line and exit 2.
# No server needed.
# Cases: vad_clean_speech, vad_noisy_speech, vad_ulaw_speech, vad_no_speech,
# vad_frames, vad_help, vad_bad_input.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sox soxi espeak-ng
[ -x "$VG_BIN" ] || vg_abort "$VG_BIN not built (make build/asan/voxgate)"

TOL=0.15
FIX=$VG_TMP/fixture
CLEAN=$FIX/clean.wav
NOISY=$FIX/noisy.wav
TRUTH=

# Trims a sentence to where its sound starts and ends (1% of full scale).
TRIM=(silence 1 0.005 1% reverse silence 1 0.005 1% reverse)

make_fixture() {
	local d1 d2
	mkdir -p "$FIX"
	vg_make_speech "$FIX/s1.wav" "Good morning I am calling about my order" \
		"${TRIM[@]}" || return 1
	vg_make_speech "$FIX/s2.wav" "We would like a table for nine" \
		"${TRIM[@]}" || return 1
	sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$FIX/gap05.wav" \
		trim 0 0.5 || return 1
	sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$FIX/gap10.wav" \
		trim 0 1.0 || return 1
	sox -D "$FIX/gap05.wav" "$FIX/s1.wav" "$FIX/gap10.wav" "$FIX/s2.wav" \
		"$FIX/gap05.wav" "$CLEAN" || return 1
	d1=$(soxi -D "$FIX/s1.wav") && d2=$(soxi -D "$FIX/s2.wav") || return 1
	TRUTH=$(awk -v a="$d1" -v b="$d2" \
		'BEGIN { printf "%.3f %.3f %.3f %.3f", 0.5, 0.5 + a, 1.5 + a, 1.5 + a + b }')
	# white noise about 45 dB under full scale, 20 dB under the speech;
	# -R: the same noise every run
	sox -D -R -n -r 8000 -c 1 -b 16 -e signed-integer "$FIX/noise.wav" \
		synth "$(soxi -D "$CLEAN")" whitenoise vol 0.01 || return 1
	sox -D -m -v 1 "$CLEAN" -v 1 "$FIX/noise.wav" "$NOISY"
}

make_fixture || vg_abort "fixture: ${VG_REASON:-sox failed}"
echo "# sentences at $TRUTH s"

# run_vad ARGS...: runs voxgate vad; VG_RC, $VG_CDIR/out, $VG_CDIR/err.
run_vad() {
	"$VG_BIN" vad "$@" >"$VG_CDIR/out" 2>"$VG_CDIR/err"
	VG_RC=$?
}

# expect_segments FILE: exit 0, nothing on stderr, and exactly the two
# sentences as segments, each bound within TOL.
expect_segments() {
	local segs why
	run_vad "$1"
	if [ "$VG_RC" -ne 0 ] || [ -s "$VG_CDIR/err" ]; then
		vg_reason "exit $VG_RC, stderr: $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
	segs=$(tr '\n' ' ' <"$VG_CDIR/out")
	why=$(awk -v truth="$TRUTH" -v tol="$TOL" '
		{ n++; if (NF != 2) bad = bad " line " n " has " NF " fields;";
		  got[2 * n - 1] = $1; got[2 * n] = $2 }
		END {
			if (n != 2) { print "want 2 segments, got " n; exit }
			split(truth, t, " ")
			for (i = 1; i <= 4; i++) {
				d = got[i] - t[i]
				if (d < -tol || d > tol)
					bad = bad sprintf(" bound %d: %s vs %.3f;", i, got[i], t[i])
			}
			if (bad != "") print bad
		}' "$VG_CDIR/out")
	if [ -n "$why" ]; then
		vg_reason "segments \"$segs\", sentences at $TRUTH:$why"
		return 1
	fi
	echo "# $VG_CASE: $segs"
}

case_vad_clean_speech() {
	expect_segments "$CLEAN"
}

case_vad_noisy_speech() {
	expect_segments "$NOISY"
}

# The noisy file as it arrives from a PCMU call.
case_vad_ulaw_speech() {
	vg_wav_to_g711 "$NOISY" "$VG_CDIR/noisy.ul" || return 1
	sox -D -t ul -r 8000 -c 1 "$VG_CDIR/noisy.ul" -b 16 -e signed-integer \
		"$VG_CDIR/noisy.wav" || return 1
	expect_segments "$VG_CDIR/noisy.wav"
}

# Line noise alone, louder than the speech's noise, at 16 kHz stereo
# (wav_load converts it): no segment, exit 0.
case_vad_no_speech() {
	local f=$VG_CDIR/noise.wav
	sox -D -R -n -r 16000 -c 2 -b 16 -e signed-integer "$f" \
		synth 4 whitenoise vol 0.1 || return 1
	run_vad "$f"
	if [ "$VG_RC" -ne 0 ] || [ -s "$VG_CDIR/out" ] || [ -s "$VG_CDIR/err" ]; then
		vg_reason "exit $VG_RC, stdout \"$(head -c 200 "$VG_CDIR/out")\", stderr \"$(head -c 200 "$VG_CDIR/err")\""
		return 1
	fi
}

# --frames: one "t confidence volume voiced" line per whole 20 ms frame,
# in order, besides the same two segments.
case_vad_frames() {
	local samples want why
	run_vad "$CLEAN" --frames
	if [ "$VG_RC" -ne 0 ] || [ -s "$VG_CDIR/err" ]; then
		vg_reason "exit $VG_RC, stderr: $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
	samples=$(soxi -s "$CLEAN") || return 1
	want=$((samples / 160))
	why=$(awk -v want="$want" '
		NF == 4 {
			d = $1 - k * 0.02
			if (d * d > 1e-6)
				bad = bad " frame " k " at t=" $1 ";"
			if ($2 < 0 || $2 > 1 || $3 < 0 || $3 > 1 || ($4 != 0 && $4 != 1))
				bad = bad " frame " k ": " $0 ";"
			k++; v += $4; next
		}
		NF == 2 { s++; next }
		{ bad = bad " stray line: " $0 ";" }
		END {
			if (k != want) bad = bad " " k " frames, want " want ";"
			if (s != 2) bad = bad " " s " segments, want 2;"
			if (v < 50) bad = bad " only " v " voiced frames;"
			print bad
		}' "$VG_CDIR/out")
	if [ -n "${why// /}" ]; then
		vg_reason "--frames:$why"
		return 1
	fi
}

case_vad_help() {
	run_vad --help
	if [ "$VG_RC" -ne 0 ] || ! grep -q 'usage: voxgate vad' "$VG_CDIR/out"; then
		vg_reason "--help: exit $VG_RC, stdout \"$(head -c 200 "$VG_CDIR/out")\""
		return 1
	fi
	if ! grep -q -- '--stop_secs' "$VG_CDIR/out"; then
		vg_reason "--help does not list --stop_secs"
		return 1
	fi
}

# expect_usage_error ARGS...: exit 2 and exactly one line on stderr.
expect_usage_error() {
	local lines
	run_vad "$@"
	lines=$(wc -l <"$VG_CDIR/err")
	if [ "$VG_RC" -ne 2 ] || [ "$lines" -ne 1 ]; then
		vg_reason "vad $*: exit $VG_RC (want 2), $lines stderr lines (want 1): $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
}

case_vad_bad_input() {
	printf 'this is not audio\n' >"$VG_CDIR/text.wav"
	printf 'RIFFxxxxWAVEjunk' >"$VG_CDIR/broken.wav"
	expect_usage_error "$VG_CDIR/missing.wav" || return 1
	expect_usage_error "$VG_CDIR/text.wav" || return 1
	expect_usage_error "$VG_CDIR/broken.wav" || return 1
	expect_usage_error || return 1
	expect_usage_error "$CLEAN" "$CLEAN" || return 1
	expect_usage_error "$CLEAN" --bogus || return 1
	expect_usage_error "$CLEAN" --min_volume 2 || return 1
	expect_usage_error "$CLEAN" --start-secs=abc || return 1
	expect_usage_error "$CLEAN" --confidence
}

vg_case vad_clean_speech case_vad_clean_speech
vg_case vad_noisy_speech case_vad_noisy_speech
vg_case vad_ulaw_speech case_vad_ulaw_speech
vg_case vad_no_speech case_vad_no_speech
vg_case vad_frames case_vad_frames
vg_case vad_help case_vad_help
vg_case vad_bad_input case_vad_bad_input
vg_finish
