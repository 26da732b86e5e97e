#!/usr/bin/env bash
# Media path with SIPp as the caller: the codec the answer picks and the audio
# that comes back. sipp streams espeak-ng speech (raw G.711 via rtp_stream);
# dumpcap records the RTP on sipp's media port; the payload sent back is
# decoded with sox and cross-correlated with what was sent (xcorr), which
# also gives the echo delay.
# Cases: pcmu_echo, pcma_echo, tcp_call.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox espeak-ng dumpcap tshark perl
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

# An exact echo correlates at 1.000, unrelated audio at about 0.05. The
# check uses the median over 500 ms windows: on a starved machine the server
# drops a few late frames (seen: 4 of 150 with 7 test scripts and a benchmark
# on 2 cores), which would spoil a single whole-call alignment.
MIN_CORR=0.9

# echo_call LABEL SCENARIO EXT PT [sipp args]: one 3 s streaming call with a
# capture of the RTP coming back; checks the payload type and the audio.
echo_call() {
	local label=$1 scen=$2 ext=$3 pt=$4 mp rc
	shift 4
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.$ext" || {
		vg_reason "sox failed"
		return 1
	}
	vg_pick_port_into mp 4 || return 1
	vg_capture_start "$VG_CDIR/$label.pcapng" "udp port $mp" || return 1
	SIPP_MP=$mp vg_sipp "$label" "$scen" -d 3000 "$@"
	rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "$(vg_sipp_why "$label")"
		return 1
	fi
	# 3 s of audio is 150 packets; allow for the jitter buffer and loss.
	vg_check_echo "$VG_CDIR/$label.pcapng" "$mp" "$VG_CDIR/audio.$ext" \
		"$pt" 100 "$MIN_CORR" || return 1
	vg_call_end_check caller
}

case_pcmu_echo() {
	vg_need_server || return 1
	echo_call pcmu uac_echo_pcmu.xml ul 0 || return 1
	echo "# answer: $(vg_sipp_log pcmu answer_mline) / $(vg_sipp_log pcmu answer_te)"
}

case_pcma_echo() {
	vg_need_server || return 1
	echo_call pcma uac_echo_pcma.xml al 8 || return 1
	echo "# answer: $(vg_sipp_log pcma answer_mline)"
}

case_tcp_call() {
	local inv tr
	vg_need_server || return 1
	echo_call tcp uac_echo_pcmu.xml ul 0 -t t1 || return 1
	inv=$(vg_events invite | tail -n 1)
	tr=$(vg_jfield "$inv" transport)
	if [ "${tr,,}" != tcp ]; then
		vg_reason "server logged transport '$tr' for the call, want tcp: $inv"
		return 1
	fi
}

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case pcmu_echo case_pcmu_echo
vg_case pcma_echo case_pcma_echo
vg_case tcp_call case_tcp_call
vg_server_stop_case clean_exit
vg_finish
