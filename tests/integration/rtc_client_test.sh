#!/usr/bin/env bash
# WebRTC clients by the dozen and by the hundred, and hostile ones, with
# build/tools/rtc_client (a LiveKit client in C on voxgate's own ICE, DTLS
# and SRTP code; not libwebrtc) against the ASan server and a SIPp call
# streaming audio into its room (default_route: the call's own room, read
# from the server's "routed" event).
#
# Cases: twenty_clients_hear_caller (20 clients join the call's room at
# once, each receives the caller's PCMU, no ClientHello is dropped);
# wrong_ice_password (never answered: leave JOIN_FAILURE after 10 s);
# wrong_fingerprint (voxgate's DTLS refuses it: leave MEDIA_FAILURE,
# rtc_pc_failed); bad_srtp_tags (dropped and counted, the publisher goes
# on); garbage_datagrams (junk of every kind to both ports, counted, the
# client goes on); others_undisturbed (three clients in the room all along
# heard the caller without a gap and the two publishers' Opus, the
# counters are on /metrics);
# signal_flood_300 (300 WebSocket joins at once from one address: the 44
# over max_connections_per_address refused on accept, the rest joined
# and left cleanly, /healthz answered meanwhile); clean_exit.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox curl ss
vg_build_tool rtc_client || vg_abort "cannot build build/tools/rtc_client"

KEY=devkey
SECRET=rtc-client-test-secret-0123456789abcdef
RTCC=$VG_TOOLS/rtc_client
ROOM=
STEADY_PID=

# rtcc OUT ARGS...: runs rtc_client against the server; its report goes
# to OUT, its last line (the JSON totals) to VG_JSON.
rtcc() {
	local out=$1
	shift
	timeout -k 2 90 "$RTCC" -p "$VG_HTTP_PORT" -k "$KEY" -s "$SECRET" "$@" \
		>"$out" 2>"$out.err"
	VG_RC=$?
	VG_JSON=$(grep '^{' "$out" | tail -n 1)
	[ -n "$VG_JSON" ] || {
		vg_reason "rtc_client printed no totals (exit $VG_RC): $(tail -c 300 "$out.err")"
		return 1
	}
	echo "# $VG_CASE: $VG_JSON"
}

# jnum KEY: a number from VG_JSON.
jnum() {
	vg_jfield "$VG_JSON" "$1"
}

healthz() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --interface "${1:-127.0.0.1}" \
		"http://127.0.0.1:$VG_HTTP_PORT/healthz")
	[ "$code" = 200 ] || {
		vg_reason "/healthz answered $code"
		return 1
	}
}

# closed_lines PREFIX KIND: the server's webrtc_pc_closed lines of the
# clients whose identity starts with PREFIX, kind sub or pub.
closed_lines() {
	grep '"event":"webrtc_pc_closed"' "$VG_SERVER_LOG" |
		grep -E "\"pc\":\"[^\"]*/$1-[0-9]+/$2\"" || true
}

# A call streaming the caller's audio for 90 s, in its own room.
start_call() {
	local mp
	sox -n -r 8000 -c 1 -e u-law -t raw "$VG_TMP/audio.ul" \
		synth 5 sine 440 vol 0.5 || return 1
	cp "$VG_TMP/audio.ul" "$VG_CDIR/audio.ul"
	vg_pick_port_into mp 4 || return 1
	SIPP_MP=$mp SIPP_TIMEOUT=120 vg_sipp_bg caller uac_echo_pcmu.xml -d 90000
	vg_wait_event routed 10 || return 1
	ROOM=$(vg_jfield "$(vg_events routed | tail -n 1)" room)
	[ -n "$ROOM" ] || {
		vg_reason "no room in the routed event"
		return 1
	}
	sleep 1 # its first packets
	echo "# the caller is in room $ROOM"
}

case_twenty_clients_hear_caller() {
	local n lines bad
	start_call || return 1
	rtcc "$VG_CDIR/twenty.out" -r "$ROOM" -n 20 -d 5 --prefix twenty || return 1
	if [ "$(jnum connected)" != 20 ] || [ "$(jnum "done")" != 20 ]; then
		vg_reason "not every client connected and left: $VG_JSON"
		return 1
	fi
	if [ "$(jnum clients_with_audio)" != 20 ]; then
		vg_reason "not every client received the caller's audio: $VG_JSON"
		return 1
	fi
	# 5 s of PCMU is 250 packets; every client must have most of them,
	# as PT 0, none lost.
	bad=$(grep '^client ' "$VG_CDIR/twenty.out" |
		grep -v -E '\[ssrc=[0-9a-f]+ pt=0 packets=(1[5-9][0-9]|2[0-9][0-9]) lost=0 wrong_pt=0' || true)
	if [ -n "$bad" ]; then
		vg_reason "a client heard too little of the caller or lost some: $(head -c 400 <<<"$bad")"
		return 1
	fi
	vg_wait_event webrtc_pc_closed 5 || return 1
	sleep 0.5
	lines=$(closed_lines twenty sub)
	n=$(grep -c . <<<"$lines")
	[ "$n" = 20 ] || {
		vg_reason "$n webrtc_pc_closed lines for the 20 subscriber connections"
		return 1
	}
	# A ClientHello that beat the answer to the media thread used to be
	# dropped (early) and cost a 500 ms retransmission.
	bad=$(grep -v '"early":0,' <<<"$lines" || true)
	[ -z "$bad" ] || {
		vg_reason "a subscriber connection dropped early DTLS: $(head -c 400 <<<"$bad")"
		return 1
	}
}

start_steady() {
	"$RTCC" -p "$VG_HTTP_PORT" -k "$KEY" -s "$SECRET" -r "$ROOM" -n 3 -d 30 \
		--prefix steady >"$VG_TMP/steady.out" 2>"$VG_TMP/steady.err" &
	STEADY_PID=$!
	vg_track "$STEADY_PID"
}

case_wrong_ice_password() {
	local line
	rtcc "$VG_CDIR/wpwd.out" -r "$ROOM" -n 1 -d 2 --join-timeout 15 \
		--wrong-ice-pwd --prefix wpwd
	case $(jnum leave_reasons) in
	JOIN_FAILURE:1) ;;
	*)
		vg_reason "expected leave JOIN_FAILURE: $VG_JSON"
		return 1
		;;
	esac
	grep -q 'ice_answers=0 ' "$VG_CDIR/wpwd.out" || {
		vg_reason "a check signed with the wrong password was answered: $(grep '^client' "$VG_CDIR/wpwd.out")"
		return 1
	}
	vg_log_has_event rtc_connect_timeout || {
		vg_reason "no rtc_connect_timeout logged"
		return 1
	}
	sleep 0.5
	line=$(closed_lines wpwd sub)
	if [ "$(vg_jfield "$line" stun_in)" != 0 ] ||
		[ "$(vg_jfield "$line" stun_bad_integrity)" -lt 10 ]; then
		vg_reason "the refused checks are not counted: $line"
		return 1
	fi
}

case_wrong_fingerprint() {
	local ev
	rtcc "$VG_CDIR/wfp.out" -r "$ROOM" -n 1 -d 2 --wrong-fingerprint \
		--prefix wfp
	[ "$(jnum leave_reasons)" = MEDIA_FAILURE:1 ] || {
		vg_reason "expected leave MEDIA_FAILURE: $VG_JSON"
		return 1
	}
	vg_wait_event rtc_pc_failed 3 || return 1
	ev=$(vg_events rtc_pc_failed | grep '"identity":"wfp-0"' | tail -n 1)
	case $ev in
	*"does not match the fingerprint"*) ;;
	*)
		vg_reason "rtc_pc_failed does not say why: $ev"
		return 1
		;;
	esac
}

case_bad_srtp_tags() {
	local line fails in
	rtcc "$VG_CDIR/badsrtp.out" -r "$ROOM" -n 1 -d 4 --publish \
		--bad-srtp 2 --prefix badsrtp || return 1
	if [ "$(jnum "done")" != 1 ] || [ "$(jnum tx_bad_tag)" -lt 80 ]; then
		vg_reason "the publisher did not go on to the end: $VG_JSON"
		return 1
	fi
	sleep 0.5
	line=$(closed_lines badsrtp pub)
	fails=$(vg_jfield "$line" srtp_auth_fail)
	in=$(vg_jfield "$line" rtp_in)
	# All of them, but for the odd one in flight as the client left.
	if [ "${fails:-0}" -lt $(($(jnum tx_bad_tag) - 2)) ] ||
		[ "${fails:-0}" -gt "$(jnum tx_bad_tag)" ] || [ "${in:-0}" -lt 80 ]; then
		vg_reason "sent $(jnum tx_bad_tag) damaged of $(jnum tx_packets); the server counted: $line"
		return 1
	fi
}

case_garbage_datagrams() {
	local sub pub f
	rtcc "$VG_CDIR/junk.out" -r "$ROOM" -n 1 -d 4 --publish --garbage 200 \
		--prefix junk || return 1
	if [ "$(jnum "done")" != 1 ] || [ "$(jnum clients_with_audio)" != 1 ] ||
		[ "$(jnum rx_lost)" != 0 ] || [ "$(jnum junk_sent)" -lt 1000 ]; then
		vg_reason "the client did not go on undisturbed: $VG_JSON"
		return 1
	fi
	sleep 0.5
	sub=$(closed_lines junk sub)
	pub=$(closed_lines junk pub)
	for f in stun_refused srtp_auth_fail malformed wrong_source; do
		if [ "$(vg_jfield "$sub" "$f")" -lt 10 ] ||
			[ "$(vg_jfield "$pub" "$f")" -lt 10 ]; then
			vg_reason "junk not counted as $f: $sub / $pub"
			return 1
		fi
	done
	[ "$(vg_jfield "$pub" rtp_in)" -ge 150 ] || {
		vg_reason "the publisher's audio did not get through: $pub"
		return 1
	}
}

case_others_undisturbed() {
	local metrics bad v n
	vg_wait_pid "$STEADY_PID" 40 || {
		vg_reason "the steady clients did not end"
		return 1
	}
	VG_JSON=$(grep '^{' "$VG_TMP/steady.out" | tail -n 1)
	cp "$VG_TMP/steady.out" "$VG_CDIR/"
	echo "# $VG_CASE: $VG_JSON"
	if [ "$(vg_jfield "$VG_JSON" "done")" != 3 ]; then
		vg_reason "the clients in the room all along were disturbed: $VG_JSON"
		return 1
	fi
	# 30 s of the caller: 1500 packets each, none lost. (The tracks the
	# hostile publishers sent them have the gaps of what was dropped.)
	bad=$(grep '^client ' "$VG_TMP/steady.out" |
		grep -v -E 'pt=0 packets=1[45][0-9][0-9] lost=0 wrong_pt=0' || true)
	[ -z "$bad" ] || {
		vg_reason "a steady client missed the caller's audio: $(head -c 400 <<<"$bad")"
		return 1
	}
	# The two publishers' Opus (4 s each, half of badsrtp's dropped) came
	# to each of them as a track of its own, PT 111.
	bad=$(grep '^client ' "$VG_TMP/steady.out" | while read -r line; do
		n=$(grep -o -E 'pt=111 packets=[0-9]+' <<<"$line" |
			awk -F= '$3 >= 80' | grep -c .)
		[ "$n" -ge 2 ] || echo "$line"
	done)
	[ -z "$bad" ] || {
		vg_reason "a steady client did not receive both publishers' Opus: $(head -c 600 <<<"$bad")"
		return 1
	}
	healthz || return 1
	metrics=$(curl -s "http://127.0.0.1:$VG_HTTP_PORT/metrics")
	for v in 'voxgate_webrtc_dropped_total{reason="srtp_auth_fail"}' \
		'voxgate_webrtc_stun_total{result="bad_integrity"}' \
		'voxgate_webrtc_dropped_total{reason="malformed"}' \
		'voxgate_webrtc_closed_total{up="yes"}'; do
		n=$(grep -F "$v" <<<"$metrics" | awk '{print $2}')
		if [ -z "$n" ] || [ "$n" -le 0 ]; then
			vg_reason "/metrics: $v missing or 0"
			return 1
		fi
	done
}

case_signal_flood_300() {
	local pid i joined failed refused left n line
	"$RTCC" -p "$VG_HTTP_PORT" -k "$KEY" -s "$SECRET" -r flood-room \
		-n 300 -d 4 --signal-only --prefix flood \
		>"$VG_CDIR/flood.out" 2>"$VG_CDIR/flood.err" &
	pid=$!
	vg_track "$pid"
	for ((i = 0; i < 50; i++)); do
		[ "$(ss -Htn state established "( dport = :$VG_HTTP_PORT )" | wc -l)" -ge 250 ] && break
		sleep 0.1
	done
	# From another address: 127.0.0.1 is at its cap.
	healthz 127.0.0.2 || return 1
	vg_wait_pid "$pid" 40 || {
		vg_reason "rtc_client did not end"
		return 1
	}
	VG_JSON=$(grep '^{' "$VG_CDIR/flood.out" | tail -n 1)
	echo "# $VG_CASE: $VG_JSON"
	joined=$(jnum joined)
	failed=$(jnum failed)
	refused=$(grep -c '^client .*closed before the upgrade' "$VG_CDIR/flood.out")
	if [ "$joined" -lt 200 ] || [ $((joined + failed)) != 300 ] ||
		[ "$refused" != "$failed" ]; then
		vg_reason "expected the joins under the cap to succeed and the rest refused on accept: $VG_JSON ($refused refused before the upgrade)"
		return 1
	fi
	# Each connections_limited line counts the refusals since the last one.
	vg_wait_event connections_limited 3 || return 1
	for ((i = 0; i < 30; i++)); do
		n=0
		while read -r line; do
			n=$((n + $(vg_jfield "$line" refused_per_address)))
		done < <(vg_events connections_limited)
		[ "$n" -ge "$failed" ] && break
		sleep 0.1
	done
	[ "$n" -ge "$failed" ] || {
		vg_reason "connections_limited counts $n refusals, not $failed: $(vg_events connections_limited)"
		return 1
	}
	for ((i = 0; i < 50; i++)); do
		n=$(curl -s "http://127.0.0.1:$VG_HTTP_PORT/metrics" |
			awk '$1 == "voxgate_rtc_sessions" {print $2}')
		[ "$n" = 0 ] && break
		sleep 0.1
	done
	sleep 0.5 # the connections' STOPPED events
	left=$(vg_events rtc_leave | grep -c '"identity":"flood-')
	if [ "$n" != 0 ] || [ "$left" != "$joined" ]; then
		vg_reason "sessions did not all close cleanly: $n still open, $left leaves for $joined joined"
		return 1
	fi
	[ "$(closed_lines flood sub | grep -c .)" = "$joined" ] || {
		vg_reason "$(closed_lines flood sub | grep -c .) subscriber connections closed for $joined joined"
		return 1
	}
	healthz
}

vg_pick_port_into VG_HTTP_PORT 1 || vg_abort "no free port"
RTP_BASE=
vg_pick_port_into RTP_BASE 800 || vg_abort "no free port range"
# drain_timeout: the call is still up at the end; SIGTERM ends it.
vg_server_start --http_port "$VG_HTTP_PORT" --keys "$KEY: $SECRET" \
	--rtp_port_range "$RTP_BASE-$((RTP_BASE + 799))" --drain_timeout 2s ||
	vg_abort "server did not start: $VG_REASON"
vg_case twenty_clients_hear_caller case_twenty_clients_hear_caller
if [ -n "$ROOM" ]; then
	start_steady
	sleep 1
	vg_case wrong_ice_password case_wrong_ice_password
	vg_case wrong_fingerprint case_wrong_fingerprint
	vg_case bad_srtp_tags case_bad_srtp_tags
	vg_case garbage_datagrams case_garbage_datagrams
	vg_case others_undisturbed case_others_undisturbed
else
	vg_skip_cases "no call to join" wrong_ice_password wrong_fingerprint \
		bad_srtp_tags garbage_datagrams others_undisturbed
fi
vg_case signal_flood_300 case_signal_flood_300
vg_server_stop_case clean_exit
vg_finish
