#!/usr/bin/env bash
# voxgate stt on speech made at test time: two espeak-ng sentences in
# Klatt voices (the ones pocketsphinx's US English model recognises best)
# at 8 kHz must come out with their key words, clean and through G.711
# u-law; --partials must print partials before the final line;
# silence gives an empty line; --help works; bad input is one line on
# stderr and exit 2. No server needed.
# Cases: stt_speech, stt_ulaw_speech, stt_partials, stt_silence, stt_help,
# stt_bad_input.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sox espeak-ng
[ -x "$VG_BIN" ] || vg_abort "$VG_BIN not built (make build/asan/voxgate)"

FIX=$VG_TMP/fixture
DOCTOR=$FIX/doctor.wav
CALL=$FIX/call.wav

# speech VOICE WPM TEXT OUT.wav: espeak-ng at 8 kHz mono 16-bit, no dither.
speech() {
	espeak-ng -v "$1" -s "$2" -w "$FIX/raw.wav" "$3" >/dev/null 2>&1 ||
		return 1
	sox -D "$FIX/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$4"
}

make_fixture() {
	mkdir -p "$FIX"
	speech en-us+klatt3 160 "i need to speak to a doctor" "$DOCTOR" &&
		speech en-us+klatt2 170 "please call me back tomorrow morning" \
			"$CALL"
}

make_fixture || vg_abort "fixture: espeak-ng or sox failed"

# run_stt ARGS...: runs voxgate stt; VG_RC, $VG_CDIR/out, $VG_CDIR/err.
run_stt() {
	"$VG_BIN" stt "$@" >"$VG_CDIR/out" 2>"$VG_CDIR/err"
	VG_RC=$?
}

# expect_words FILE WORD...: exit 0, one line on stdout holding every
# WORD, and on stderr the one line of figures.
expect_words() {
	local f=$1 text w
	shift
	run_stt "$f"
	if [ "$VG_RC" -ne 0 ]; then
		vg_reason "exit $VG_RC, stderr: $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
	if [ "$(wc -l <"$VG_CDIR/out")" -ne 1 ]; then
		vg_reason "want one line on stdout, got: $(head -c 300 "$VG_CDIR/out")"
		return 1
	fi
	text=$(cat "$VG_CDIR/out")
	for w in "$@"; do
		if [[ " $text " != *" $w "* ]]; then
			vg_reason "\"$w\" missing from \"$text\""
			return 1
		fi
	done
	if [ "$(wc -l <"$VG_CDIR/err")" -ne 1 ] ||
		! grep -q -E '^audio [0-9.]+ s, decoding [0-9.]+ s, real-time factor [0-9.]+' \
			"$VG_CDIR/err"; then
		vg_reason "stderr is not the line of figures: $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
	echo "# $(basename "$f"): \"$text\"; $(cat "$VG_CDIR/err")"
}

case_speech() {
	expect_words "$DOCTOR" speak doctor || return 1
	expect_words "$CALL" call back tomorrow
}

# What a PCMU call carries: encoded to u-law and back.
case_ulaw_speech() {
	local f
	for f in "$DOCTOR" "$CALL"; do
		sox -D "$f" -e u-law -t raw "$VG_CDIR/line.ul" &&
			sox -D -t raw -r 8000 -c 1 -e u-law "$VG_CDIR/line.ul" \
				-b 16 -e signed-integer "$VG_CDIR/$(basename "$f")" ||
			return 1
	done
	expect_words "$VG_CDIR/doctor.wav" speak doctor || return 1
	expect_words "$VG_CDIR/call.wav" call back tomorrow
}

case_partials() {
	local n last
	run_stt --partials "$DOCTOR"
	if [ "$VG_RC" -ne 0 ]; then
		vg_reason "exit $VG_RC, stderr: $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
	n=$(grep -c '^partial: ' "$VG_CDIR/out")
	last=$(tail -n 1 "$VG_CDIR/out")
	if [ "$n" -lt 1 ] || [ "$(wc -l <"$VG_CDIR/out")" -ne $((n + 1)) ] ||
		[[ $last == partial:* ]]; then
		vg_reason "want partial lines then the final one, got: $(tr '\n' '|' <"$VG_CDIR/out")"
		return 1
	fi
	if [[ " $last " != *" speak "* ]] || [[ " $last " != *" doctor "* ]]; then
		vg_reason "words missing from the final line: $(tr '\n' '|' <"$VG_CDIR/out")"
		return 1
	fi
	echo "# $n partials: $(head -n "$n" "$VG_CDIR/out" | sed 's/^partial: //' | tr '\n' '|')"
}

case_silence() {
	sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$VG_CDIR/quiet.wav" \
		trim 0 2 || return 1
	run_stt --partials "$VG_CDIR/quiet.wav"
	if [ "$VG_RC" -ne 0 ] || [ "$(cat "$VG_CDIR/out")" != "" ] ||
		[ "$(wc -l <"$VG_CDIR/out")" -ne 1 ]; then
		vg_reason "exit $VG_RC, stdout: $(tr '\n' '|' <"$VG_CDIR/out")"
		return 1
	fi
}

case_help() {
	run_stt --help
	if [ "$VG_RC" -ne 0 ] || ! grep -q '^usage: voxgate stt' "$VG_CDIR/out" ||
		[ -s "$VG_CDIR/err" ]; then
		vg_reason "exit $VG_RC, stdout: $(head -c 200 "$VG_CDIR/out")"
		return 1
	fi
}

# expect_usage WHAT ARGS...: exit 2, nothing on stdout, one line on stderr.
expect_usage() {
	local what=$1
	shift
	run_stt "$@"
	if [ "$VG_RC" -ne 2 ] || [ -s "$VG_CDIR/out" ] ||
		[ "$(wc -l <"$VG_CDIR/err")" -ne 1 ]; then
		vg_reason "$what: exit $VG_RC, stderr: $(head -c 300 "$VG_CDIR/err")"
		return 1
	fi
}

case_bad_input() {
	echo "not audio" >"$VG_CDIR/text.wav"
	expect_usage "missing file" "$VG_CDIR/missing.wav" || return 1
	expect_usage "not a WAV" "$VG_CDIR/text.wav" || return 1
	expect_usage "no file" || return 1
	expect_usage "two files" "$DOCTOR" "$CALL" || return 1
	expect_usage "unknown option" --bogus "$DOCTOR" || return 1
	expect_usage "option without its value" "$DOCTOR" --hmm || return 1
	expect_usage "no acoustic model" --hmm "$VG_CDIR/none" "$DOCTOR" ||
		return 1
	expect_usage "not a language model" --lm "$VG_CDIR/text.wav" \
		"$DOCTOR" || return 1
	expect_usage "no dictionary" --dict="$VG_CDIR/none.dict" "$DOCTOR"
}

vg_case stt_speech case_speech
vg_case stt_ulaw_speech case_ulaw_speech
vg_case stt_partials case_partials
vg_case stt_silence case_silence
vg_case stt_help case_help
vg_case stt_bad_input case_bad_input
vg_finish
