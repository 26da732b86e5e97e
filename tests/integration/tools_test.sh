#!/usr/bin/env bash
# The measuring tool the other tests rely on: build/tools/xcorr must find a
# known delay, tell speech from noise, and read every input format it claims
# (WAV, raw s16le, raw u-law, raw A-law). No server needed.
# Cases: xcorr_known_delay, xcorr_negative_delay, xcorr_unrelated,
# xcorr_g711_raw, xcorr_windowed_drops, xcorr_rejects_bad_input.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sox espeak-ng
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

# expect LAG_MIN LAG_MAX CORR_MIN CORR_MAX [xcorr args]
expect() {
	local lo=$1 hi=$2 cmin=$3 cmax=$4
	shift 4
	vg_xcorr "$@" || return 1
	if vg_fcmp "$VG_LAG_MS" "<" "$lo" || vg_fcmp "$VG_LAG_MS" ">" "$hi" ||
		vg_fcmp "$VG_CORR" "<" "$cmin" || vg_fcmp "$VG_CORR" ">" "$cmax"; then
		vg_reason "xcorr $* gave lag_ms=$VG_LAG_MS corr=$VG_CORR, want lag $lo..$hi corr $cmin..$cmax"
		return 1
	fi
}

case_xcorr_known_delay() {
	sox -D "$VG_SPEECH" "$VG_CDIR/late.wav" pad 0.1234 0 || return 1
	expect 123.2 123.5 0.999 1.0 "$VG_SPEECH" "$VG_CDIR/late.wav"
}

case_xcorr_negative_delay() {
	sox -D "$VG_SPEECH" "$VG_CDIR/early.wav" trim 0.25 || return 1
	expect -250.1 -249.9 0.999 1.0 "$VG_SPEECH" "$VG_CDIR/early.wav"
}

case_xcorr_unrelated() {
	sox -D -n -r 8000 -c 1 -b 16 "$VG_CDIR/noise.wav" synth 5 whitenoise \
		vol 0.3 || return 1
	expect -2000 2000 -1 0.2 "$VG_SPEECH" "$VG_CDIR/noise.wav"
}

case_xcorr_g711_raw() {
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/s.ul" || return 1
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/s.al" || return 1
	sox -D "$VG_SPEECH" -t raw -e signed-integer -b 16 "$VG_CDIR/s.raw" pad 0.04 0 ||
		return 1
	expect -0.1 0.1 0.99 1.0 "$VG_CDIR/s.ul" "$VG_SPEECH" || return 1
	expect -0.1 0.1 0.99 1.0 "$VG_CDIR/s.al" "$VG_CDIR/s.ul" || return 1
	expect 39.9 40.1 0.99 1.0 "$VG_SPEECH" "$VG_CDIR/s.raw"
}

# Four 20 ms frames cut out of the speech: one whole-file alignment fits
# only part of it, the windowed median (-w) still sees a copy.
case_xcorr_windowed_drops() {
	local f=$VG_CDIR/cut.wav
	sox -D "$VG_SPEECH" "$f" trim 0 0.5 : trim 0.02 1.2 : trim 0.02 1.4 : \
		trim 0.02 1.0 : trim 0.02 || return 1
	expect -100 100 0 0.8 "$VG_SPEECH" "$f" || return 1
	expect -100 100 0.99 1.0 -w 500 "$VG_SPEECH" "$f" || return 1
	sox -D -n -r 8000 -c 1 -b 16 "$VG_CDIR/noise.wav" synth 5 whitenoise \
		vol 0.3 || return 1
	expect -2000 2000 -1 0.2 -w 500 "$VG_SPEECH" "$VG_CDIR/noise.wav"
}

case_xcorr_rejects_bad_input() {
	local out
	printf 'RIFFxxxxWAVEjunk' >"$VG_CDIR/bad.wav"
	if out=$("$VG_TOOLS/xcorr" "$VG_SPEECH" "$VG_CDIR/bad.wav" 2>&1); then
		vg_reason "xcorr accepted a broken WAV: $out"
		return 1
	fi
	if out=$("$VG_TOOLS/xcorr" "$VG_SPEECH" "$VG_CDIR/missing.wav" 2>&1); then
		vg_reason "xcorr accepted a missing file: $out"
		return 1
	fi
}

vg_case xcorr_known_delay case_xcorr_known_delay
vg_case xcorr_negative_delay case_xcorr_negative_delay
vg_case xcorr_unrelated case_xcorr_unrelated
vg_case xcorr_g711_raw case_xcorr_g711_raw
vg_case xcorr_windowed_drops case_xcorr_windowed_drops
vg_case xcorr_rejects_bad_input case_xcorr_rejects_bad_input
vg_finish
