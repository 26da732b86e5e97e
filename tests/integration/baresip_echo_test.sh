#!/usr/bin/env bash
# baresip as a real caller: it dials the server, speaks espeak-ng speech as
# its microphone and records what it hears. Case baresip_echo checks that
# - the call is established and ends by baresip's BYE,
# - what baresip received is the speech it sent (normalised
#   cross-correlation of its source and its dec.wav recording > 0.5, median
#   over 500 ms windows so a dropped frame does not spoil the rest),
# - the echo lags the speech by MIN-400 ms on the wire (captured RTP in both
#   directions, each placed by RTP timestamp on a common time line); MIN is
#   VG_MIN_ECHO_DELAY_MS, default 0. On this clean line the adaptive jitter
#   buffer holds each packet until the next 20 ms read, so the echo comes
#   back 0-20 ms late: too close to a bare reflection to tell them apart.
# The recordings cannot show the delay themselves: baresip's sndfile starts
# each file at its first frame, so source and dec.wav line up at lag 0
# whatever the delay. (Against `sipp -rtp_echo`, an echo with no buffering,
# both the recording lag and the wire lag measure 0 ms.)
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need baresip sox soxi espeak-ng dumpcap tshark perl
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

CALL_SECS=5
MIN_DELAY_MS=${VG_MIN_ECHO_DELAY_MS:-0}
MAX_DELAY_MS=400

case_baresip_echo() {
	local dir=$VG_CDIR/caller src=$VG_CDIR/mic.wav pcap=$VG_CDIR/rtp.pcapng
	local dec_s wire_lag wire_corr
	vg_need_server || return 1
	# speech, then silence so the file outlasts the call
	sox -D "$VG_SPEECH" "$src" pad 0 "$CALL_SECS" || return 1
	vg_baresip_config "$dir" "$src" || return 1
	vg_capture_start "$pcap" "udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" ||
		return 1
	vg_baresip_dial "$dir" "sip:echo@127.0.0.1:$VG_SIP_PORT" "$CALL_SECS"
	local rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "baresip exited with $rc"
		return 1
	fi
	if ! grep -q 'Call established' "$dir/baresip.log"; then
		vg_reason "baresip never logged 'Call established'"
		return 1
	fi
	vg_call_end_check caller 5 || return 1

	vg_baresip_recordings "$dir"
	if [ ! -s "$VG_BS_DEC" ]; then
		vg_reason "baresip recorded nothing received (no dump-*-dec.wav)"
		return 1
	fi
	dec_s=$(soxi -D "$VG_BS_DEC")
	if vg_fcmp "$dec_s" "<" 3; then
		vg_reason "baresip received only $dec_s s of audio in a $CALL_SECS s call"
		return 1
	fi
	vg_xcorr -w 500 -m 1000 "$src" "$VG_BS_DEC" || return 1
	echo "# baresip_echo: received $dec_s s; source vs dec.wav: lag_ms=$VG_LAG_MS corr=$VG_CORR"
	if ! vg_fcmp "$VG_CORR" ">" 0.5; then
		vg_reason "what baresip heard does not match what it said: corr=$VG_CORR lag_ms=$VG_LAG_MS"
		return 1
	fi

	vg_rtp_timeline "$pcap" "$VG_BS_RTP_LO" "$VG_BS_RTP_HI" \
		"$VG_CDIR/wire-tx.ul" "$VG_CDIR/wire-rx.ul" || return 1
	vg_xcorr -w 500 -m 1000 "$VG_CDIR/wire-tx.ul" "$VG_CDIR/wire-rx.ul" ||
		return 1
	wire_lag=$VG_LAG_MS
	wire_corr=$VG_CORR
	echo "# baresip_echo: on the wire $VG_TX_COUNT packets out, $VG_RX_COUNT back; echo delay lag_ms=$wire_lag corr=$wire_corr"
	if ! vg_fcmp "$wire_corr" ">" 0.5; then
		vg_reason "echo on the wire does not match the speech: corr=$wire_corr lag_ms=$wire_lag"
		return 1
	fi
	if vg_fcmp "$wire_lag" "<" "$MIN_DELAY_MS" ||
		vg_fcmp "$wire_lag" ">" "$MAX_DELAY_MS"; then
		vg_reason "echo delay $wire_lag ms on the wire, want $MIN_DELAY_MS-$MAX_DELAY_MS ms (jitter buffer)"
		return 1
	fi
}

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case baresip_echo case_baresip_echo
vg_server_stop_case clean_exit
vg_finish
