# shellcheck shell=bash
# Benchmark (e) of bench/run.sh, sourced by it (its helpers and variables):
# WebRTC participants driven by build/tools/rtc_client, a LiveKit client in
# C on voxgate's own ICE, DTLS and SRTP code (not libwebrtc, which costs
# about 13 % of a core per client; see tests/integration/README.md).
#
#   (e1) join: WebSocket open → subscriber connection connected, over
#        sequential joins into the room of one streaming SIPp call
#   (e2) cost: SIPp calls as (a) places them, each with one client that
#        publishes Opus and subscribes to its caller; CPU and RSS of the
#        server without the clients and with them, per participant, and
#        tick_late from the server's stats line
#   (e3) latency added by voxgate each way: rtc_client --phone is the SIP
#        caller (plain RTP) and the WebRTC client in one process, matching
#        packets by payload
#
# Environment: BENCH_WEBRTC_JOINS (200), BENCH_WEBRTC_CALLS (200),
# BENCH_WEBRTC_SECS (window, 30), BENCH_WEBRTC_LAT_SECS (60); quick mode
# 50, 50, 10, 20.
# shellcheck disable=SC2034 # RESULTS_E and CMDS_E are read by run.sh

WR_KEY=benchkey
WR_SECRET=bench-webrtc-secret-0123456789abcdef
if [ "$QUICK" = 1 ]; then
	WR_JOINS=${BENCH_WEBRTC_JOINS:-50}
	WR_CALLS=${BENCH_WEBRTC_CALLS:-50}
	WR_SECS=${BENCH_WEBRTC_SECS:-10}
	WR_LAT_SECS=${BENCH_WEBRTC_LAT_SECS:-20}
else
	WR_JOINS=${BENCH_WEBRTC_JOINS:-200}
	WR_CALLS=${BENCH_WEBRTC_CALLS:-200}
	WR_SECS=${BENCH_WEBRTC_SECS:-30}
	WR_LAT_SECS=${BENCH_WEBRTC_LAT_SECS:-60}
fi
WR_JITTER=0-100 # the server's default jitter_buffer, given explicitly
RTCC=build/tools/rtc_client
RESULTS_E=()
CMDS_E=()

# The server with its HTTP port and a key: start_server's, plus these. At
# SIGTERM it ends the calls still up after 2 s.
wr_start() { # wr_start NAME
	# Two ports a call and one a connection: 1200 hold 200 of each. A
	# smaller range, looked for in steps of 100 from 20000: the tests of a
	# busy machine take ports at random up there.
	local RTP_LEN=$((WR_CALLS * 4 + 400)) RTP_FROM=20000 RTP_STEP=100
	WR_HTTP=$(pick_base 25400 1) || return 1
	start_server "$1" --http_port "$WR_HTTP" --keys "$WR_KEY:$WR_SECRET" \
		--log_level info --drain_timeout 2s --jitter_buffer "$WR_JITTER"
}

# Stops the server (which hangs up the calls) and then the callers.
wr_stop() {
	local p
	stop_server
	for p in "${WR_SIPP[@]}"; do
		finish_sipp "$p" 10
	done
	WR_SIPP=()
}

# wr_calls NAME N HOLD_S: N streaming SIPp calls at RAMP_CPS, one sipp
# per PER_SIPP; pids in WR_SIPP.
wr_calls() {
	local name=$1 n=$2 hold_ms=$(($3 * 1000)) k i ni sport mport rate cmd
	k=$(((n + PER_SIPP - 1) / PER_SIPP))
	rate=$(awk -v r="$RAMP_CPS" -v k="$k" 'BEGIN { printf "%d", r / k }')
	WR_SIPP=()
	for i in $(seq 0 $((k - 1))); do
		ni=$((n / k + (i < n % k ? 1 : 0)))
		sport=$(pick_base $((25070 + i)) 1) || return 1
		mport=$(pick_base $((24000 + 100 * i)) 4) || return 1
		cmd="sipp 127.0.0.1:$SIP_PORT -sf $ROOT/bench/sipp/uac_pcmu_stream.xml -i 127.0.0.1 -p $sport -mi 127.0.0.1 -mp $mport -r $rate -l $ni -m $ni -d $hold_ms -timeout $((hold_ms / 1000 + 90))s -aa -nostdin -trace_err -error_file $RUN/$name.sipp$i.err"
		(cd "$RUN" && exec $cmd) >"$RUN/$name.sipp$i.out" 2>&1 &
		WR_SIPP+=($!)
		track $!
		CMDS_E+=("(cd RUNDIR && $cmd)")
	done
}

# wr_rooms FILE N: the rooms of the calls routed so far (default_route puts
# each in its own), waiting up to 30 s for N of them.
wr_rooms() {
	local i
	for i in $(seq 1 300); do
		[ "$(grep -c '"event":"routed"' "$SRV_LOG")" -ge "$2" ] && break
		sleep 0.1
	done
	grep '"event":"routed"' "$SRV_LOG" | grep -o '"room":"[^"]*"' |
		cut -d'"' -f4 | head -n "$2" >"$1"
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# ---- (e1) join time ----
bench_webrtc_join() {
	local name=webrtc-join out cmd
	log "$name: $WR_JOINS sequential joins"
	wr_start "$name" || {
		PROBLEMS+=("$name: server did not start")
		STATUS=1
		return
	}
	CMDS_E+=("$SRV_CMD")
	wr_calls "$name" 1 $((WR_JOINS / 5 + 60)) || return
	wr_rooms "$RUN/$name.rooms" 1 || {
		PROBLEMS+=("$name: the call was not routed")
		wr_stop
		return
	}
	sleep 1
	cmd="$RTCC -p $WR_HTTP -k $WR_KEY -s $WR_SECRET --rooms $RUN/$name.rooms -n $WR_JOINS --sequential -d 0 --quiet"
	CMDS_E+=("$cmd")
	out=$($cmd 2>"$RUN/$name.rtcc.err" | tail -n 1)
	echo "$out" >"$RUN/$name.rtcc.json"
	wr_stop
	RESULTS_E+=("| join (sequential) | $WR_JOINS clients | $(json_get "$out" connected) connected, $(json_get "$out" failed) failed | p50 $(json_get "$out" join_ms_p50) ms, p99 $(json_get "$out" join_ms_p99) ms, max $(json_get "$out" join_ms_max) ms | target p50 ≤ 50 ms |")
	log "$name: $out"
	[ "$(json_get "$out" connected)" = "$WR_JOINS" ] ||
		PROBLEMS+=("$name: $(json_get "$out" connected) of $WR_JOINS joins connected ($(json_get "$out" first_failure))")
}

# ---- (e2) cost per participant ----
bench_webrtc_cost() {
	local n=$WR_CALLS name=webrtc-cost ramp_s hold_s
	local cpu0 cpu1 t0 t1 rss0 rss1 r i up pid cmd out ccpu0 ccpu1
	ramp_s=$(awk -v n="$n" -v r="$RAMP_CPS" 'BEGIN { printf "%d", n / r + 1 }')
	# calls: ramp, base window, clients' ramp (50/s), window, margin
	hold_s=$((ramp_s + WARM + WR_SECS + n / 50 + 2 * WARM + WR_SECS + 20))
	log "$name: $n calls, each with one WebRTC participant, windows of ${WR_SECS} s"
	wr_start "$name" || {
		PROBLEMS+=("$name: server did not start")
		STATUS=1
		return
	}
	CMDS_E+=("$SRV_CMD")
	wr_calls "$name" "$n" "$hold_s" || return
	sleep $((ramp_s + WARM))
	wr_rooms "$RUN/$name.rooms" "$n" || {
		PROBLEMS+=("$name: only $(wc -l <"$RUN/$name.rooms") of $n calls routed")
		wr_stop
		return
	}
	# without the clients
	cpu0=$(cpu_ticks "$SRV_PID")
	t0=$(date +%s.%N)
	rss0=0
	for _ in $(seq 1 "$WR_SECS"); do
		sleep 1
		r=$(rss_kb "$SRV_PID")
		[ "${r:-0}" -gt "$rss0" ] && rss0=$r
	done
	cpu1=$(cpu_ticks "$SRV_PID")
	t1=$(date +%s.%N)
	local base_pct
	base_pct=$(awk -v c=$((cpu1 - cpu0)) -v t="$TCK" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", 100 * c / t / (b - a) }')
	# with them: each publishes Opus and hears its caller
	cmd="$RTCC -p $WR_HTTP -k $WR_KEY -s $WR_SECRET --rooms $RUN/$name.rooms -n $n --publish --ramp 50 -d $((WR_SECS + 2 * WARM + 5)) --quiet"
	CMDS_E+=("$cmd")
	$cmd >"$RUN/$name.rtcc.out" 2>"$RUN/$name.rtcc.err" &
	pid=$!
	track $pid
	for i in $(seq 1 $((n / 5 + 300))); do
		up=$(grep -c '"event":"rtc_connected"' "$SRV_LOG")
		[ "$up" -ge $((2 * n)) ] && break
		alive "$pid" || break
		sleep 0.2
	done
	sleep "$WARM"
	cpu0=$(cpu_ticks "$SRV_PID")
	ccpu0=$(cpu_ticks "$pid")
	t0=$(date +%s.%N)
	rss1=0
	for _ in $(seq 1 "$WR_SECS"); do
		sleep 1
		r=$(rss_kb "$SRV_PID")
		[ "${r:-0}" -gt "$rss1" ] && rss1=$r
	done
	cpu1=$(cpu_ticks "$SRV_PID")
	ccpu1=$(cpu_ticks "$pid")
	t1=$(date +%s.%N)
	# The machine is shared: what else ran shows here.
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	wait_exit "$pid" 60
	out=$(grep '^{' "$RUN/$name.rtcc.out" | tail -n 1)
	wr_stop
	local with_pct per_pct per_kb
	with_pct=$(awk -v c=$((cpu1 - cpu0)) -v t="$TCK" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", 100 * c / t / (b - a) }')
	per_pct=$(awk -v a="$base_pct" -v b="$with_pct" -v n="$n" 'BEGIN { printf "%.3f", (b - a) / n }')
	per_kb=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
	local client_pct
	client_pct=$(awk -v c=$((ccpu1 - ccpu0)) -v t="$TCK" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * c / t / (b - a) }')
	RESULTS_E+=("| cost | $n calls + $n participants (each publishes Opus, hears its caller) | $(json_get "$out" connected) connected, rx $(json_get "$out" rx_packets) lost $(json_get "$out" rx_lost), tx $(json_get "$out" tx_packets); tick_late $(stat_field tick_late), late $(stat_field late); host load average $load | server CPU $base_pct % → $with_pct % of a core: **$per_pct % per participant**; RSS $(fmt "$(ratio "$rss0" 1024)") → $(fmt "$(ratio "$rss1" 1024)") MB: **$per_kb KiB per participant**; rtc_client itself $client_pct % | targets ≤ 0.5 %, ≤ 256 KiB, 0 late ticks |")
	log "$name: cpu $base_pct → $with_pct %, $per_pct % and $per_kb KiB per participant, tick_late $(stat_field tick_late); $out"
	[ "$(json_get "$out" connected)" = "$n" ] ||
		PROBLEMS+=("$name: $(json_get "$out" connected) of $n participants connected ($(json_get "$out" first_failure))")
	[ "$(stat_field tick_late)" = 0 ] ||
		PROBLEMS+=("$name: tick_late $(stat_field tick_late) in the server's stats line")
}

# ---- (e3) latency added by voxgate ----
bench_webrtc_latency() {
	local name=webrtc-latency tok tid cmd out jmin
	log "$name: one phone and one WebRTC client, ${WR_LAT_SECS} s"
	wr_start "$name" || {
		PROBLEMS+=("$name: server did not start")
		STATUS=1
		return
	}
	CMDS_E+=("$SRV_CMD")
	# A trunk and a direct rule: the phone's number goes to a known room.
	tok=$($VOXGATE token create --api-key "$WR_KEY" --api-secret "$WR_SECRET" --sip-admin) &&
		tid=$(curl -s -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
			-d '{"trunk":{"name":"latency","numbers":["+15550009999"]}}' \
			"http://127.0.0.1:$WR_HTTP/twirp/livekit.SIP/CreateSIPInboundTrunk" |
			grep -o '"sip_trunk_id":"[^"]*"' | cut -d'"' -f4) &&
		curl -s -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
			-d "{\"rule\":{\"dispatchRuleDirect\":{\"roomName\":\"latency\"}},\"trunkIds\":[\"$tid\"]}" \
			"http://127.0.0.1:$WR_HTTP/twirp/livekit.SIP/CreateSIPDispatchRule" >/dev/null
	[ -n "$tid" ] || {
		PROBLEMS+=("$name: could not create the trunk and rule")
		stop_server
		return
	}
	jmin=${WR_JITTER%%-*}
	cmd="$RTCC -p $WR_HTTP -k $WR_KEY -s $WR_SECRET -r latency -n 1 -d $WR_LAT_SECS --phone 127.0.0.1:$SIP_PORT --number +15550009999 --jitter-min-ms ${jmin:-0}"
	CMDS_E+=("$cmd")
	$cmd >"$RUN/$name.rtcc.out" 2>"$RUN/$name.rtcc.err"
	out=$(grep '^latency ' "$RUN/$name.rtcc.out" | tail -n 1)
	out=${out#latency }
	stop_server
	RESULTS_E+=("| phone → WebRTC | caller RTP sent → its payload out of the subscriber's SRTP, $(json_get "$out" to_webrtc_n) packets | p50 $(json_get "$out" to_webrtc_p50_ms) ms, p99 $(json_get "$out" to_webrtc_p99_ms) ms, max $(json_get "$out" to_webrtc_max_ms) ms | (loopback, both ends in one process) | target p99 ≤ 5 ms |")
	RESULTS_E+=("| WebRTC → phone | Opus burst sent → first loud PCMU packet at the phone, $(json_get "$out" to_phone_n) bursts | p50 $(json_get "$out" to_phone_p50_ms) ms, p99 $(json_get "$out" to_phone_p99_ms) ms, max $(json_get "$out" to_phone_max_ms) ms | beyond the jitter minimum ($(json_get "$out" jitter_min_ms) ms) and one 20 ms tick: p50 $(json_get "$out" to_phone_beyond_p50_ms) ms, p99 **$(json_get "$out" to_phone_beyond_p99_ms) ms**; onset $(json_get "$out" onset_in_packet_p50_ms) ms into its packet (Opus and resampler delay) | target p99 ≤ 5 ms beyond |")
	log "$name: $out"
	[ -n "$(json_get "$out" to_phone_n)" ] && [ "$(json_get "$out" to_phone_n)" != 0 ] ||
		PROBLEMS+=("$name: no measurement ($(tail -c 300 "$RUN/$name.rtcc.err"))")
}

bench_webrtc() {
	[ -x "$RTCC" ] || {
		PROBLEMS+=("webrtc: $RTCC missing: run make bench")
		STATUS=1
		return
	}
	bench_webrtc_join
	bench_webrtc_cost
	bench_webrtc_latency
}
