#!/usr/bin/env bash
# SRTP with SDES keys (RFC 4568) on inbound calls, by each trunk's
# mediaEncryption, with baresip (its srtp module) and SIPp as callers.
# Trunks and rules are made through the Twirp API with curl. Cases:
# - api_media_encryption: a trunk's mediaEncryption given as a number is
#   stored and returned as LiveKit's name, in snake_case too; an unknown
#   value is refused (invalid_argument) and nothing is stored;
# - require_srtp_baresip: a REQUIRE trunk, baresip with mediaenc=srtp-mand:
#   answered with SRTP (the media line says the suite), what baresip hears
#   is its own speech (vg_xcorr), and the captured RTP payloads both ways
#   are not the speech (they do not correlate with it);
# - allow_plain_baresip: an ALLOW trunk and a plain baresip: plain RTP, the
#   captured echo is the speech;
# - require_plain_488: a plain PCMU offer (SIPp) to the REQUIRE trunk gets
#   488 with Warning 302 "SRTP required";
# - disable_savp_488: an RTP/SAVP offer with a key to a DISABLE trunk gets
#   488 with Warning 302 "SRTP not enabled";
# - srtp_bad_auth: a SIPp call keyed with SDES that sends plain RTP: every
#   packet fails authentication; the call stays up until the caller's BYE,
#   call_end counts them (srtp_auth_fail), nothing is logged per packet,
#   and /metrics adds them up;
# - srtp_some_bad: bench/rtp_load as an SRTP caller (--srtp 80) that
#   damages one packet in ten after protecting it (--corrupt 10): about a
#   tenth counted in srtp_auth_fail, the rest echoed (every echo
#   authenticates at rtp_load), the call ended by its BYE.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need baresip sipp curl sox soxi espeak-ng dumpcap tshark perl
[ -f /usr/lib/baresip/modules/srtp.so ] ||
	vg_abort "baresip's srtp module is missing (/usr/lib/baresip/modules/srtp.so)"
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
make -s -C "$VG_ROOT" build/bench/rtp_load >"$VG_TMP/make-rtp_load.log" 2>&1 ||
	vg_abort "cannot build build/bench/rtp_load: $(tail -3 "$VG_TMP/make-rtp_load.log")"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

KEY=srtpkey
SECRET="srtp-test-secret-at-least-32-chars-long"
N_REQUIRE=+15550100001
N_ALLOW=+15550100002
N_DISABLE=+15550100003
CALL_SECS=5

# twirp METHOD JSON: POST to the SIP service; the body goes to VG_TW_OUT,
# the status to VG_TW_CODE.
twirp() {
	local out=$VG_CDIR/twirp.out
	VG_TW_CODE=$(curl -s -o "$out" -w '%{http_code}' --max-time 5 \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-d "$2" "http://127.0.0.1:$VG_HTTP_PORT/twirp/livekit.SIP/$1")
	VG_TW_OUT=$(cat "$out" 2>/dev/null)
}

# trunk_and_rule NUMBER ENCRYPTION ROOM: an inbound trunk for NUMBER and a
# direct rule to ROOM through it.
trunk_and_rule() {
	local id
	twirp CreateSIPInboundTrunk \
		"{\"trunk\":{\"name\":\"$3\",\"numbers\":[\"$1\"],\"mediaEncryption\":\"$2\"}}"
	id=$(grep -o -E '"(sipTrunkId|sip_trunk_id)" *: *"[^"]*"' <<<"$VG_TW_OUT" |
		sed 's/.*: *"//; s/"$//')
	if [ "$VG_TW_CODE" != 200 ] || [ -z "$id" ]; then
		echo "trunk for $1: $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
	twirp CreateSIPDispatchRule \
		"{\"rule\":{\"dispatchRuleDirect\":{\"roomName\":\"$3\"}},\"trunkIds\":[\"$id\"]}"
	[ "$VG_TW_CODE" = 200 ] || {
		echo "rule for $1: $VG_TW_CODE $VG_TW_OUT"
		return 1
	}
}

case_api_media_encryption() {
	twirp CreateSIPInboundTrunk \
		'{"trunk":{"name":"n","numbers":["+15550109999"],"mediaEncryption":2}}'
	# (Twirp answers curl, which sends no Accept, with protobuf's
	# original field names.)
	if [ "$VG_TW_CODE" != 200 ] ||
		! grep -q -E '"(mediaEncryption|media_encryption)" *: *"SIP_MEDIA_ENCRYPT_REQUIRE"' <<<"$VG_TW_OUT"; then
		vg_reason "a number was not stored as the name: $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
	twirp CreateSIPOutboundTrunk \
		'{"trunk":{"name":"o","address":"sip.example.com","numbers":["+15550108888"],"mediaEncryption":"SIP_MEDIA_ENCRYPT_ALLOW"}}'
	if [ "$VG_TW_CODE" != 200 ] || [[ $VG_TW_OUT != *SIP_MEDIA_ENCRYPT_ALLOW* ]]; then
		vg_reason "outbound trunk: $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
	twirp CreateSIPInboundTrunk \
		'{"trunk":{"name":"s","numbers":["+15550106666"],"media_encryption":"SIP_MEDIA_ENCRYPT_ALLOW"}}'
	if [ "$VG_TW_CODE" != 200 ] || [[ $VG_TW_OUT != *SIP_MEDIA_ENCRYPT_ALLOW* ]]; then
		vg_reason "snake_case media_encryption: $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
	twirp CreateSIPInboundTrunk \
		'{"trunk":{"name":"bad","numbers":["+15550107777"],"mediaEncryption":"SIP_MEDIA_ENCRYPT_REQUIRED"}}'
	if [ "$VG_TW_CODE" != 400 ] || [[ $VG_TW_OUT != *invalid_argument* ]]; then
		vg_reason "an unknown value was not refused: $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
	twirp ListSIPInboundTrunk '{}'
	if [[ $VG_TW_OUT == *15550107777* ]]; then
		vg_reason "the refused trunk was stored: $VG_TW_OUT"
		return 1
	fi
}

# bs_call DIR NUMBER MEDIAENC: baresip (mediaenc "" for plain) dials
# NUMBER with speech, capturing its RTP to DIR/rtp.pcapng.
bs_call() {
	local dir=$1 src=$1.mic.wav
	sox -D "$VG_SPEECH" "$src" pad 0 "$CALL_SECS" || return 1
	vg_baresip_config "$dir" "$src" || return 1
	if [ -n "$3" ]; then
		echo "module			srtp.so" >>"$dir/config"
		echo "<sip:caller@127.0.0.1:$VG_BS_SIP_PORT>;regint=0;audio_codecs=PCMU;mediaenc=$3" \
			>"$dir/accounts"
	fi
	BS_SRC=$src
	vg_capture_start "$dir/rtp.pcapng" \
		"udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" || return 1
	vg_baresip_dial "$dir" "sip:$2@127.0.0.1:$VG_SIP_PORT" "$CALL_SECS"
	local rc=$VG_RC
	vg_capture_stop
	[ "$rc" -eq 0 ] || {
		vg_reason "baresip exited with $rc"
		return 1
	}
	grep -q 'Call established' "$dir/baresip.log" || {
		vg_reason "baresip never logged 'Call established'"
		return 1
	}
	vg_call_end_check caller 5
}

# heard_own_speech DIR: what baresip recorded is its speech.
heard_own_speech() {
	vg_baresip_recordings "$1"
	[ -s "$VG_BS_DEC" ] || {
		vg_reason "baresip recorded nothing received"
		return 1
	}
	vg_xcorr -w 500 -m 1000 "$BS_SRC" "$VG_BS_DEC" || return 1
	echo "# $VG_CASE: baresip heard lag_ms=$VG_LAG_MS corr=$VG_CORR"
	vg_fcmp "$VG_CORR" ">" 0.5 || {
		vg_reason "what baresip heard is not its speech: corr=$VG_CORR"
		return 1
	}
}

# wire_corr DIR: the captured payloads both ways, as u-law on baresip's
# time line, against the speech: WIRE_TX (baresip's) and WIRE_RX (ours).
wire_corr() {
	vg_rtp_timeline "$1/rtp.pcapng" "$VG_BS_RTP_LO" "$VG_BS_RTP_HI" \
		"$1/wire-tx.ul" "$1/wire-rx.ul" || return 1
	if ! sox -D -t ul -r 8000 -c 1 "$1/wire-tx.ul" -b 16 -e signed-integer "$1/wire-tx.wav" ||
		! sox -D -t ul -r 8000 -c 1 "$1/wire-rx.ul" -b 16 -e signed-integer "$1/wire-rx.wav"; then
		vg_reason "sox could not read the captured payloads"
		return 1
	fi
	vg_xcorr -w 500 -m 1000 "$BS_SRC" "$1/wire-tx.wav" || return 1
	WIRE_TX=$VG_CORR
	vg_xcorr -w 500 -m 1000 "$BS_SRC" "$1/wire-rx.wav" || return 1
	WIRE_RX=$VG_CORR
	echo "# $VG_CASE: $VG_TX_COUNT packets out, $VG_RX_COUNT back; payloads against the speech: out corr=$WIRE_TX, back corr=$WIRE_RX"
}

media_srtp() {
	local line
	line=$(vg_events media | tail -n 1)
	vg_jfield "$line" srtp
}

case_require_srtp_baresip() {
	local dir=$VG_CDIR/caller srtp
	bs_call "$dir" "$N_REQUIRE" srtp-mand || return 1
	srtp=$(media_srtp)
	[[ $srtp == AES_CM_128_HMAC_SHA1_* ]] || {
		vg_reason "the call's media is not SRTP: srtp=$srtp"
		return 1
	}
	echo "# $VG_CASE: suite $srtp"
	# Every RTP packet authenticates. baresip sends two RTCP packets in
	# the clear (an APP "PINGPONG" before its SRTP is keyed, its closing
	# BYE after): those two, and only those, are refused.
	if [ "$(vg_jfield "$VG_CALL_END" packets_in)" -lt 240 ] ||
		[ "$(vg_jfield "$VG_CALL_END" srtp_auth_fail)" -gt 1 ] ||
		[ "$(vg_jfield "$VG_CALL_END" srtp_other)" -gt 1 ]; then
		vg_reason "packets failed authentication: $VG_CALL_END"
		return 1
	fi
	heard_own_speech "$dir" || return 1
	wire_corr "$dir" || return 1
	[ "$VG_RX_COUNT" -ge 150 ] || {
		vg_reason "only $VG_RX_COUNT packets back"
		return 1
	}
	if vg_fcmp "$WIRE_TX" ">" 0.2 || vg_fcmp "$WIRE_RX" ">" 0.2; then
		vg_reason "the RTP payloads on the wire are the speech in the clear (out $WIRE_TX, back $WIRE_RX)"
		return 1
	fi
}

case_allow_plain_baresip() {
	local dir=$VG_CDIR/caller srtp
	bs_call "$dir" "$N_ALLOW" "" || return 1
	srtp=$(media_srtp)
	[ "$srtp" = off ] || {
		vg_reason "a plain caller's media is srtp=$srtp"
		return 1
	}
	heard_own_speech "$dir" || return 1
	wire_corr "$dir" || return 1
	# The control of the case above: in the clear, the echo is the speech.
	vg_fcmp "$WIRE_RX" ">" 0.5 || {
		vg_reason "the plain echo on the wire is not the speech: corr=$WIRE_RX"
		return 1
	}
}

# refused LABEL NUMBER PROTO XATTR WANT: SIPp's offer gets 488 whose
# Warning has WANT.
refused() {
	local warn
	vg_sipp "$1" uac_srtp_expect_488.xml -s "$2" -key proto "$3" \
		-key xattr "$4" || {
		vg_reason "$(vg_sipp_why "$1")"
		return 1
	}
	warn=$(vg_sipp_log "$1" warning)
	echo "# $VG_CASE: Warning:$warn"
	[[ $warn == *"$5"* ]] || {
		vg_reason "Warning '$warn', want '$5'"
		return 1
	}
	vg_wait_event srtp_refused 3
}

case_require_plain_488() {
	refused plain "$N_REQUIRE" RTP/AVP sendrecv '302 voxgate "SRTP required"'
}

case_disable_savp_488() {
	refused savp "$N_DISABLE" RTP/SAVP \
		"crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR" \
		'302 voxgate "SRTP not enabled"'
}

# The server's count of SRTP packets refused for their tag so far.
auth_fail_metric() {
	curl -s --max-time 5 "http://127.0.0.1:$VG_HTTP_PORT/metrics" |
		sed -n 's/^voxgate_sip_srtp_dropped_total{reason="auth_fail"} //p'
}

case_srtp_bad_auth() {
	local lines fails before after
	before=$(auth_fail_metric)
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || return 1
	vg_sipp garbage uac_srtp_garbage.xml -s "$N_REQUIRE" -d 4000 || {
		vg_reason "$(vg_sipp_why garbage)"
		return 1
	}
	vg_call_end_check caller 5 || return 1
	fails=$(vg_jfield "$VG_CALL_END" srtp_auth_fail)
	echo "# $VG_CASE: srtp_auth_fail=$fails ($(vg_sipp_log garbage answer_crypto | cut -c 1-40)...)"
	if [ "${fails:-0}" -lt 150 ] || [ "$fails" -gt 260 ]; then
		vg_reason "srtp_auth_fail=$fails, want about 200 (4 s of packets): $VG_CALL_END"
		return 1
	fi
	[ "$(vg_jfield "$VG_CALL_END" packets_in)" = 0 ] || {
		vg_reason "unauthenticated packets were taken: $VG_CALL_END"
		return 1
	}
	# Counters, not a line per packet.
	lines=$(tail -n +"$((VG_MARK + 1))" "$VG_SERVER_LOG" | wc -l)
	[ "$lines" -lt 60 ] || {
		vg_reason "$lines log lines for one call"
		return 1
	}
	after=$(auth_fail_metric)
	if [ -z "$before" ] || [ "$((after - before))" != "$fails" ]; then
		vg_reason "/metrics went from '$before' to '$after', not by $fails"
		return 1
	fi
}

case_srtp_some_bad() {
	local out sent echoed fails
	out=$("$VG_ROOT/build/bench/rtp_load" -n 1 -d 4 -w 1 \
		--sip "127.0.0.1:$VG_SIP_PORT" --srtp 80 --corrupt 10 \
		2>"$VG_CDIR/rtp_load.err") || {
		vg_reason "rtp_load failed: $out $(tail -3 "$VG_CDIR/rtp_load.err")"
		return 1
	}
	echo "# $VG_CASE: $out"
	sent=$(sed -n 's/.*"sent":\([0-9]*\).*/\1/p' <<<"$out")
	echoed=$(sed -n 's/.*"echoed":\([0-9]*\).*/\1/p' <<<"$out")
	if [[ $out != *'"srtp_fail":0,'* ]] || [[ $out != *'"calls_ok":1,'* ]]; then
		vg_reason "the call or its echoes failed: $out"
		return 1
	fi
	# One in ten never reaches the agent, and the packet after each gap
	# comes back blended with the fill-in over its first samples (packet
	# loss concealment), no longer the bytes sent: about 80 % match.
	if [ "${sent:-0}" -lt 150 ] || [ "$((echoed * 100))" -lt "$((sent * 70))" ] ||
		[ "$((echoed * 100))" -gt "$((sent * 90))" ]; then
		vg_reason "echoed $echoed of $sent, want 70-90 %"
		return 1
	fi
	vg_call_end_check caller 5 || return 1
	fails=$(vg_jfield "$VG_CALL_END" srtp_auth_fail)
	# The whole call: warm-up, window and drain, about 300 packets.
	if [ "${fails:-0}" -lt 20 ] || [ "$fails" -gt 40 ]; then
		vg_reason "srtp_auth_fail=$fails, want a tenth of the call's packets: $VG_CALL_END"
		return 1
	fi
}

vg_pick_port_into VG_HTTP_PORT 1 || vg_abort "no free port"
vg_server_start --http_port "$VG_HTTP_PORT" --keys "$KEY: $SECRET" ||
	vg_abort "server did not start: $VG_REASON"
TOKEN=$("$VG_BIN" token create --api-key "$KEY" --api-secret "$SECRET" \
	--sip-admin --ttl 1h 2>/dev/null) || vg_abort "token create failed"
VG_CDIR=$VG_TMP
out=$(trunk_and_rule "$N_REQUIRE" SIP_MEDIA_ENCRYPT_REQUIRE srtp-require &&
	trunk_and_rule "$N_ALLOW" SIP_MEDIA_ENCRYPT_ALLOW srtp-allow &&
	trunk_and_rule "$N_DISABLE" SIP_MEDIA_ENCRYPT_DISABLE srtp-disable &&
	trunk_and_rule echo SIP_MEDIA_ENCRYPT_REQUIRE srtp-load) ||
	vg_abort "API set-up failed: $out"

vg_case api_media_encryption case_api_media_encryption
vg_case require_srtp_baresip case_require_srtp_baresip
vg_case allow_plain_baresip case_allow_plain_baresip
vg_case require_plain_488 case_require_plain_488
vg_case disable_savp_488 case_disable_savp_488
vg_case srtp_bad_auth case_srtp_bad_auth
vg_case srtp_some_bad case_srtp_some_bad
vg_server_stop_case clean_exit
vg_finish
