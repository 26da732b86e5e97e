#!/usr/bin/env bash
# A transfer honoured by a real phone: baresip A calls the server (the
# default route puts it in a room as sip_caller) and speaks; the API's
# TransferSIPParticipant (curl with a `voxgate token create --admin
# --sip-call` token) REFERs it to baresip B (answermode=auto). Case
# baresip_transfer checks that
# - the API answers 200 `completed` with sip_status 200, once B answered,
# - the server's leg ends as transferred (call_end by=server
#   reason=transferred),
# - B received A's speech: A called it itself, as the REFER asked
#   (normalised cross-correlation of A's source and B's dec.wav > 0.5).
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need baresip sox soxi espeak-ng curl jq
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

KEYS="devkey: transfer-test-secret-0123456789abcdef"

case_baresip_transfer() {
	local a=$VG_CDIR/a b=$VG_CDIR/b src=$VG_CDIR/mic.wav quiet=$VG_CDIR/quiet.wav
	local b_port joined room token reply i b_pid a_pid
	vg_need_server || return 1
	# A speaks the sentence three times over its 16 s (once before the
	# transfer, twice to B); B says nothing
	sox -D "$VG_SPEECH" "$src" repeat 2 pad 0 8 || return 1
	sox -D -n -r 8000 -c 1 -b 16 "$quiet" trim 0 20 || return 1
	vg_baresip_config "$b" "$quiet" || return 1
	b_port=$VG_BS_SIP_PORT
	echo "<sip:desk@127.0.0.1:$b_port>;regint=0;answermode=auto;audio_codecs=PCMU" >"$b/accounts"
	(cd "$b" && exec timeout -k 2 30 baresip -f "$b" -t 20 </dev/null >"$b/baresip.log" 2>&1) &
	b_pid=$!
	vg_track "$b_pid"
	vg_baresip_config "$a" "$src" || return 1
	(cd "$a" && exec timeout -k 2 30 baresip -f "$a" \
		-e "/dial sip:desk@127.0.0.1:$VG_SIP_PORT" -t 16 </dev/null >"$a/baresip.log" 2>&1) &
	a_pid=$!
	vg_track "$a_pid"

	vg_wait_event established 10 || return 1
	joined=$(vg_events participant_joined | tail -n 1)
	room=$(vg_jfield "$joined" room)
	[ -n "$room" ] || {
		vg_reason "no room for the call: $joined"
		return 1
	}
	sleep 2 # A's first sentence, echoed
	token=$("$VG_BIN" token create --keys "$KEYS" --room "$room" --no-join \
		--admin --sip-call) || {
		vg_reason "voxgate token create failed"
		return 1
	}
	reply=$(curl -s -m 20 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d "{\"room_name\":\"$room\",\"participant_identity\":\"sip_caller\",\"transfer_to\":\"sip:desk@127.0.0.1:$b_port\"}" \
		"http://127.0.0.1:$VG_HTTP_PORT/twirp/livekit.SIP/TransferSIPParticipant")
	jq -e '.status == "completed" and .sip_status == "200" and (.transfer_id | test("^STR_"))' \
		<<<"$reply" >/dev/null || {
		vg_reason "TransferSIPParticipant answered: $reply"
		return 1
	}
	vg_call_end_check server 5 || return 1
	[ "$(vg_jfield "$VG_CALL_END" reason)" = transferred ] || {
		vg_reason "call_end: $VG_CALL_END"
		return 1
	}
	for ((i = 0; i < 250; i++)); do
		kill -0 "$a_pid" 2>/dev/null || kill -0 "$b_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'Call established' "$b/baresip.log" || {
		vg_reason "B never established a call: $(grep -i -m 3 'call\|refer' "$b/baresip.log" | tr '\n' ' ')"
		return 1
	}
	vg_baresip_recordings "$b"
	[ -s "$VG_BS_DEC" ] || {
		vg_reason "B recorded nothing received"
		return 1
	}
	vg_xcorr "$VG_SPEECH" "$VG_BS_DEC" || return 1
	vg_fcmp "$VG_CORR" ">" 0.5 || {
		vg_reason "B did not hear A's speech: corr=$VG_CORR"
		return 1
	}
	echo "# B heard A after the transfer: corr=$VG_CORR"
}

vg_pick_port_into VG_HTTP_PORT 1
if vg_server_start --http_port "$VG_HTTP_PORT" --keys "$KEYS" --default_route true; then
	vg_case baresip_transfer case_baresip_transfer
	vg_server_stop_case clean_exit
else
	vg_skip_cases "server: $VG_REASON" baresip_transfer clean_exit
fi

vg_finish
