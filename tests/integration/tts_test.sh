#!/usr/bin/env bash
# voxgate tts: the WAV it writes is what soxi (sox) says it is, at the
# asked rate, as long as the text takes to say; "-" writes it to stdout;
# both providers work; bad usage and unwritable outputs exit 2 with one
# line on stderr, missing voice data exits 1 with one line. No server.
# Cases: tts_writes_wav, tts_out_rate_16k, tts_stdout, tts_flite,
# tts_help, tts_bad_usage, tts_unwritable, tts_no_voice_data.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need soxi sox
[ -x "$VG_BIN" ] || vg_abort "missing $VG_BIN (make build/asan/voxgate)"

TEXT="Thank you for calling, your appointment is confirmed for Tuesday."

# run_tts ARGS...: runs voxgate tts in VG_CDIR; VG_RC, out and err files.
run_tts() {
	(cd "$VG_CDIR" && exec timeout 60 "$VG_BIN" tts "$@" \
		>"$VG_CDIR/stdout" 2>"$VG_CDIR/stderr")
	VG_RC=$?
}

# expect_wav FILE RATE MIN_S MAX_S: a 16-bit mono WAV at RATE lasting
# MIN_S..MAX_S seconds; its duration goes to VG_DUR.
expect_wav() {
	local f=$1 rate=$2 lo=$3 hi=$4 r='' c='' b=''
	if ! { r=$(soxi -r "$f" 2>&1) && c=$(soxi -c "$f" 2>&1) &&
		b=$(soxi -b "$f" 2>&1) && VG_DUR=$(soxi -D "$f" 2>&1); }; then
		vg_reason "soxi cannot read $f: $r $c $b $VG_DUR"
		return 1
	fi
	if [ "$r" != "$rate" ] || [ "$c" != 1 ] || [ "$b" != 16 ]; then
		vg_reason "$f: rate $r channels $c bits $b, want $rate 1 16"
		return 1
	fi
	if vg_fcmp "$VG_DUR" "<" "$lo" || vg_fcmp "$VG_DUR" ">" "$hi"; then
		vg_reason "$f: $VG_DUR s, want $lo..$hi"
		return 1
	fi
}

# expect_figures: exit 0 and one stderr line with the timings.
expect_figures() {
	if [ "$VG_RC" != 0 ]; then
		vg_reason "exit $VG_RC: $(head -c 300 "$VG_CDIR/stderr")"
		return 1
	fi
	if [ "$(wc -l <"$VG_CDIR/stderr")" != 1 ] ||
		! grep -qE '^voxgate tts: first_chunk_ms=[0-9.]+ synth_ms=[0-9.]+ audio_s=[0-9.]+ rtf=[0-9.]+' \
			"$VG_CDIR/stderr"; then
		vg_reason "stderr: $(head -c 300 "$VG_CDIR/stderr")"
		return 1
	fi
}

# expect_error CODE ARGS...: exits CODE with exactly one line on
# stderr (a sanitizer report or a crash would add more) and no stdout.
expect_error() {
	local code=$1
	shift
	run_tts "$@"
	if [ "$VG_RC" != "$code" ] || [ "$(wc -l <"$VG_CDIR/stderr")" != 1 ] ||
		[ -s "$VG_CDIR/stdout" ]; then
		vg_reason "tts $* exited $VG_RC with stderr: $(head -c 300 "$VG_CDIR/stderr")"
		return 1
	fi
}

case_tts_writes_wav() {
	run_tts "$TEXT" out.wav
	expect_figures || return 1
	# Eleven words at 175 a minute.
	expect_wav "$VG_CDIR/out.wav" 8000 2 8
}

case_tts_out_rate_16k() {
	local d8
	run_tts "$TEXT" out8.wav
	expect_figures || return 1
	expect_wav "$VG_CDIR/out8.wav" 8000 2 8 || return 1
	d8=$VG_DUR
	run_tts "$TEXT" out16.wav --out_rate 16000
	expect_figures || return 1
	expect_wav "$VG_CDIR/out16.wav" 16000 2 8 || return 1
	if vg_fcmp "$VG_DUR" "<" "$(awk -v d="$d8" 'BEGIN { print d * 0.95 }')" ||
		vg_fcmp "$VG_DUR" ">" "$(awk -v d="$d8" 'BEGIN { print d * 1.05 }')"; then
		vg_reason "16 kHz lasts $VG_DUR s, 8 kHz $d8 s"
		return 1
	fi
}

case_tts_stdout() {
	mkdir -p "$VG_CDIR/tmp"
	TMPDIR=$VG_CDIR/tmp run_tts "$TEXT" - --rate-wpm=200
	expect_figures || return 1
	expect_wav "$VG_CDIR/stdout" 8000 1.5 7 || return 1
	# Nothing left behind where the WAV was made.
	if [ -n "$(find "$VG_CDIR/tmp" -mindepth 1)" ]; then
		vg_reason "left in TMPDIR: $(find "$VG_CDIR/tmp" -mindepth 1 -printf '%f ')"
		return 1
	fi
}

case_tts_flite() {
	run_tts "$TEXT" flite.wav --provider flite --pitch 60
	expect_figures || return 1
	expect_wav "$VG_CDIR/flite.wav" 8000 2 8
}

case_tts_help() {
	run_tts --help
	if [ "$VG_RC" != 0 ] || ! grep -q '^usage: voxgate tts' "$VG_CDIR/stdout" ||
		! grep -q -- '--out_rate' "$VG_CDIR/stdout"; then
		vg_reason "--help exited $VG_RC: $(head -c 200 "$VG_CDIR/stdout")"
		return 1
	fi
}

case_tts_bad_usage() {
	expect_error 2 "$TEXT" out.wav --pitch loud || return 1
	expect_error 2 "$TEXT" out.wav --pitch 101 || return 1
	expect_error 2 "$TEXT" out.wav --rate_wpm -5 || return 1
	expect_error 2 "$TEXT" out.wav --out_rate || return 1
	expect_error 2 "$TEXT" out.wav --out_rate 4000 || return 1
	expect_error 2 "$TEXT" out.wav --voice xx-none || return 1
	expect_error 2 "$TEXT" out.wav --voice ../../etc/passwd || return 1
	expect_error 2 "$TEXT" out.wav --provider festival || return 1
	expect_error 2 "$TEXT" out.wav --loud || return 1
	expect_error 2 "$TEXT" || return 1
	expect_error 2 "" out.wav || return 1
	expect_error 2 "$TEXT" out.wav extra || return 1
	if [ -e "$VG_CDIR/out.wav" ]; then
		vg_reason "a WAV was written despite bad usage"
		return 1
	fi
}

# No partial file either: nothing but what was there before is left in
# the directory.
case_tts_unwritable() {
	mkdir -p "$VG_CDIR/dir.wav"
	expect_error 2 "$TEXT" "$VG_CDIR/missing/out.wav" || return 1
	expect_error 2 "$TEXT" "$VG_CDIR/dir.wav" || return 1
	expect_error 2 "$TEXT" /proc/voxgate-out.wav || return 1
	if [ "$(find "$VG_CDIR" -mindepth 1 -not -name stdout -not -name stderr \
		-not -name dir.wav | wc -l)" != 0 ]; then
		vg_reason "left behind: $(find "$VG_CDIR" -mindepth 1 -printf '%f ')"
		return 1
	fi
}

# espeak-ng pointed at a data directory that has no voices in it.
case_tts_no_voice_data() {
	mkdir -p "$VG_CDIR/no-data"
	ESPEAK_DATA_PATH=$VG_CDIR/no-data expect_error 1 "$TEXT" out.wav || return 1
	if ! grep -q 'espeak-ng' "$VG_CDIR/stderr"; then
		vg_reason "stderr: $(cat "$VG_CDIR/stderr")"
		return 1
	fi
}

vg_case tts_writes_wav case_tts_writes_wav
vg_case tts_out_rate_16k case_tts_out_rate_16k
vg_case tts_stdout case_tts_stdout
vg_case tts_flite case_tts_flite
vg_case tts_help case_tts_help
vg_case tts_bad_usage case_tts_bad_usage
vg_case tts_unwritable case_tts_unwritable
vg_case tts_no_voice_data case_tts_no_voice_data
vg_finish
