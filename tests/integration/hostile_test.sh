#!/usr/bin/env bash
# Hostile input from anyone on the network: each case sends what an
# attacker would and checks that the server refuses it, says why in its log,
# and keeps serving. Runs against the ASan server and the release server
# (VG_HOSTILE_BINS overrides the list).
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need node curl ss

WSRAW=$VG_ROOT/tests/integration/tools/wsraw.mjs
FLOOD=$VG_ROOT/tests/integration/tools/tcpflood.mjs
TELNYX_TOKEN=stream-secret-1
KEY=devkey
SECRET=0123456789abcdef0123456789abcdef

# A masked binary frame whose 64-bit length is near 2^64: libre 1.1.0's
# decoder wraps 4 + len and unmasks past its buffer.
HUGE_FRAME=82ffffffffffffffffff0102030400000000
# The same with the top bit clear, but far above any limit.
BIG_FRAME=827f00000001000000000102030400000000

healthz() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$VG_HTTP_PORT/healthz")
	[ "$code" = 200 ] || {
		vg_reason "server no longer answers /healthz (got $code)"
		return 1
	}
}

# ws_send PATH HEX [HEADERS...]: VG_WS_OUT gets wsraw's line.
ws_send() {
	VG_WS_OUT=$(node "$WSRAW" "$VG_HTTP_PORT" "$@" 2>&1) || {
		vg_reason "could not connect: $VG_WS_OUT"
		return 1
	}
	echo "# $VG_CASE: $VG_WS_OUT"
}

expect_closed() {
	case "$VG_WS_OUT" in
	"status=101 closed=yes"*) ;;
	*)
		vg_reason "expected the server to close the upgraded socket: $VG_WS_OUT"
		return 1
		;;
	esac
	healthz
}

case_ws_huge_length_stream() {
	ws_send /telnyx/stream "$HUGE_FRAME" \
		"x-telnyx-streaming-auth-token: $TELNYX_TOKEN" || return 1
	expect_closed || return 1
	vg_wait_event websocket_refused 3
}

case_ws_big_length_stream() {
	ws_send /telnyx/stream "$BIG_FRAME" \
		"x-telnyx-streaming-auth-token: $TELNYX_TOKEN" || return 1
	expect_closed
}

case_ws_huge_length_agent() {
	local tok
	tok=$("$VG_BIN" token create --api-key "$KEY" --api-secret "$SECRET" \
		--agent --ttl 1h 2>/dev/null) || {
		vg_reason "token create failed"
		return 1
	}
	ws_send /agent "$HUGE_FRAME" "Authorization: Bearer $tok" || return 1
	expect_closed
}

# 1100 idle connections to SIP/TCP from five addresses (220 each, under
# the per-address cap): the HTTP API must go on answering while they are
# held, and connections that never send anything are closed after
# connection_silent_timeout (5 s).
case_idle_flood() {
	local out pid i
	node "$FLOOD" 127.0.0.1 "$VG_SIP_PORT" 1100 8000 "" \
		127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6 \
		>"$VG_CDIR/flood.out" 2>&1 &
	pid=$!
	vg_track "$pid"
	for ((i = 0; i < 50; i++)); do
		[ "$(ss -Htn state established "( dport = :$VG_SIP_PORT )" | wc -l)" -ge 1100 ] && break
		sleep 0.1
	done
	healthz || return 1
	vg_wait_pid "$pid" 20 || {
		vg_reason "the flood did not end"
		return 1
	}
	out=$(cat "$VG_CDIR/flood.out")
	echo "# $VG_CASE: $out"
	[[ $out == *opened=1100* ]] || {
		vg_reason "not all 1100 connections were accepted: $out"
		return 1
	}
	local closed=${out##*closed_by_server=}
	closed=${closed%% *}
	[ "$closed" -ge 1000 ] || {
		vg_reason "silent connections were not closed after 5 s: $out"
		return 1
	}
	vg_wait_event connections_limited 3
}

# 300 connections from one address that speak (SIP keep-alives): the
# ones over max_connections_per_address (256) are closed on accept.
case_per_address_cap() {
	local out closed
	out=$(node "$FLOOD" 127.0.0.1 "$VG_SIP_PORT" 300 2000 '\r\n\r\n' \
		127.0.0.7 2>&1)
	echo "# $VG_CASE: $out"
	closed=${out##*closed_by_server=}
	closed=${closed%% *}
	if [ "$closed" -lt 40 ] || [ "$closed" -gt 60 ]; then
		vg_reason "expected the 44 over the cap closed: $out"
		return 1
	fi
	healthz || return 1
	vg_wait_event connections_limited 3 || return 1
	[ "$(vg_jfield "$(vg_events connections_limited | tail -n 1)" refused_per_address)" -ge 40 ] || {
		vg_reason "connections_limited does not count them: $(vg_events connections_limited)"
		return 1
	}
}

# libre listens with a backlog of 5: a burst of connections would be
# refused by the kernel before the loop could take them.
case_listen_backlog() {
	local port q
	for port in "$VG_HTTP_PORT" "$VG_SIP_PORT"; do
		q=$(ss -Hltn "( sport = :$port )" | awk '{print $3}' | head -n 1)
		echo "# $VG_CASE: port $port backlog ${q:-none}"
		[ "${q:-0}" -ge 1024 ] || {
			vg_reason "listen backlog on port $port is ${q:-none}, want 1024"
			return 1
		}
	done
}

# twirp METHOD JSON: POST to the SIP service with a SIP admin token; the
# body goes to VG_TW_OUT, the status to VG_TW_CODE.
twirp() {
	local out=$VG_CDIR/twirp.out tok
	tok=$("$VG_BIN" token create --api-key "$KEY" --api-secret "$SECRET" \
		--sip-admin --ttl 1h 2>/dev/null) || {
		vg_reason "token create failed"
		return 1
	}
	VG_TW_CODE=$(curl -s -o "$out" -w '%{http_code}' --max-time 5 \
		-H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
		-d "$2" "http://127.0.0.1:$VG_HTTP_PORT/twirp/livekit.SIP/$1")
	VG_TW_OUT=$(cat "$out" 2>/dev/null)
	echo "# $VG_CASE: $1 $VG_TW_CODE $VG_TW_OUT"
}

# twirp_expect METHOD JSON CODE TWIRP_CODE
twirp_expect() {
	twirp "$1" "$2" || return 1
	if [ "$VG_TW_CODE" != "$3" ] || [[ $VG_TW_OUT != *"\"code\":\"$4\""* ]]; then
		vg_reason "$1 $2: HTTP $VG_TW_CODE $VG_TW_OUT, want $3 $4"
		return 1
	fi
}

# twirp_id METHOD JSON KEY SNAKE_KEY: VG_TW_ID gets the reply's KEY (or
# SNAKE_KEY), after a 200.
twirp_id() {
	twirp "$1" "$2" || return 1
	VG_TW_ID=$(grep -o -E "\"($3|$4)\" *: *\"[^\"]*\"" <<<"$VG_TW_OUT" |
		sed 's/.*: *"//; s/"$//' | head -n 1)
	if [ "$VG_TW_CODE" != 200 ] || [ -z "$VG_TW_ID" ]; then
		vg_reason "$1: HTTP $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
}

# A ListUpdate whose set holds a number and whose remove a string: the
# remove step once compared a NULL string (a crash). Refused whole.
case_list_update_not_strings() {
	local trunk rule bad='{"set":[1],"remove":["x"]}'
	twirp_id CreateSIPInboundTrunk \
		'{"trunk":{"name":"hostile","numbers":["+15550190001"]}}' \
		sipTrunkId sip_trunk_id || return 1
	trunk=$VG_TW_ID
	twirp_id CreateSIPDispatchRule \
		"{\"rule\":{\"dispatchRuleDirect\":{\"roomName\":\"hostile\"}},\"trunkIds\":[\"$trunk\"]}" \
		sipDispatchRuleId sip_dispatch_rule_id || return 1
	rule=$VG_TW_ID
	twirp_expect UpdateSIPDispatchRule \
		"{\"sipDispatchRuleId\":\"$rule\",\"update\":{\"trunkIds\":$bad}}" \
		400 invalid_argument || return 1
	twirp_expect UpdateSIPInboundTrunk \
		"{\"sipTrunkId\":\"$trunk\",\"update\":{\"numbers\":$bad}}" \
		400 invalid_argument || return 1
	healthz || return 1
	# nothing was applied
	twirp GetSIPInboundTrunk "{\"sipTrunkId\":\"$trunk\"}" || return 1
	[[ $VG_TW_OUT == *'"+15550190001"'* && $VG_TW_OUT != *'"x"'* ]] || {
		vg_reason "the trunk changed: $VG_TW_OUT"
		return 1
	}
}

# An empty id names no trunk: not_found, as LiveKit answers (it was 500).
case_get_trunk_empty_id() {
	twirp_expect GetSIPInboundTrunk '{"sipTrunkId":""}' 404 not_found ||
		return 1
	healthz
}

# /metrics with an agent that has no hub to report (it was 500): a server
# of its own, with audio-echo.
case_metrics_audio_echo() {
	local code
	vg_server_start --http_port "$VG_HTTP_PORT" --agent audio-echo ||
		return 1
	code=$(curl -s -o "$VG_CDIR/metrics.out" -w '%{http_code}' \
		--max-time 5 "http://127.0.0.1:$VG_HTTP_PORT/metrics")
	[ "$code" = 200 ] || {
		vg_reason "GET /metrics with agent audio-echo: HTTP $code $(head -c 200 "$VG_CDIR/metrics.out")"
		return 1
	}
	grep -q '^# TYPE ' "$VG_CDIR/metrics.out" || {
		vg_reason "GET /metrics: no Prometheus text: $(head -c 200 "$VG_CDIR/metrics.out")"
		return 1
	}
	vg_server_stop
}

run_all() {
	vg_pick_port_into VG_HTTP_PORT 1 || vg_abort "no free port"
	VG_TAG=$1
	vg_server_start --http_port "$VG_HTTP_PORT" --keys "$KEY: $SECRET" \
		--agent pipeline --agent_workers 0 \
		--telnyx_stream_token "$TELNYX_TOKEN" ||
		vg_abort "server did not start: $VG_REASON"
	vg_case "${VG_TAG}ws_huge_length_stream" case_ws_huge_length_stream
	vg_case "${VG_TAG}ws_big_length_stream" case_ws_big_length_stream
	vg_case "${VG_TAG}ws_huge_length_agent" case_ws_huge_length_agent
	vg_case "${VG_TAG}listen_backlog" case_listen_backlog
	vg_case "${VG_TAG}idle_flood" case_idle_flood
	vg_case "${VG_TAG}per_address_cap" case_per_address_cap
	vg_case "${VG_TAG}list_update_not_strings" case_list_update_not_strings
	vg_case "${VG_TAG}get_trunk_empty_id" case_get_trunk_empty_id
	vg_server_stop_case "${VG_TAG}clean_exit"
	vg_case "${VG_TAG}metrics_audio_echo" case_metrics_audio_echo
}

for bin in ${VG_HOSTILE_BINS:-$VG_ROOT/build/asan/voxgate $VG_ROOT/build/voxgate}; do
	[ -x "$bin" ] || vg_abort "server binary $bin not built"
	VG_BIN=$bin
	case "$bin" in
	*/asan/*) run_all "" ;;
	*) run_all "release_" ;;
	esac
done
vg_finish
