#!/usr/bin/env bash
# Server-side hang-ups: no RTP for media_timeout, and max_call_duration with
# audio flowing. In both, sipp must receive the server's BYE in time and
# answer it 200. Cases: media_timeout, max_call_duration.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox espeak-ng

# bye_window LABEL MIN_MS MAX_MS: the BYE came MIN..MAX ms after the ACK.
bye_window() {
	local ack bye d
	ack=$(vg_sipp_log "$1" ack_at)
	bye=$(vg_sipp_log "$1" bye_at)
	if [ -z "$ack" ] || [ -z "$bye" ]; then
		vg_reason "sipp did not log ack_at/bye_at"
		return 1
	fi
	d=$((bye - ack))
	echo "# $VG_CASE: BYE $d ms after the ACK"
	if [ "$d" -lt "$2" ] || [ "$d" -gt "$3" ]; then
		vg_reason "server BYE came $d ms after the ACK, want $2-$3 ms"
		return 1
	fi
}

case_media_timeout() {
	vg_need_server || return 1
	vg_sipp silent uac_silent_wait_bye.xml || {
		vg_reason "no BYE answered: $(vg_sipp_why silent)"
		return 1
	}
	bye_window silent 1500 5000 || return 1
	vg_call_end_check server
}

case_max_call_duration() {
	local pin
	vg_need_server || return 1
	vg_speech_fixture || return 1
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || return 1
	vg_sipp stream uac_stream_wait_bye.xml || {
		vg_reason "no BYE answered: $(vg_sipp_why stream)"
		return 1
	}
	bye_window stream 1500 5000 || return 1
	vg_call_end_check server || return 1
	pin=$(vg_jfield "$VG_CALL_END" packets_in)
	if [ "${pin:-0}" -lt 50 ]; then
		vg_reason "server counted packets_in=$pin, so audio was not flowing: $VG_CALL_END"
		return 1
	fi
}

if vg_server_start --media_timeout 2s; then
	vg_case media_timeout case_media_timeout
	vg_server_stop_case clean_exit_media_timeout
else
	vg_skip_cases "server did not start: $VG_REASON" media_timeout
fi

# media_timeout stays long, so only max_call_duration can end the call.
if vg_server_start --max_call_duration 2s --media_timeout 30s; then
	vg_case max_call_duration case_max_call_duration
	vg_server_stop_case clean_exit_max_duration
else
	vg_skip_cases "server did not start: $VG_REASON" max_call_duration
fi
vg_finish
