#!/usr/bin/env bash
# voxgate benchmarks; see bench/README.md. Run by `make bench` after the
# release build of build/voxgate, build/bench/* and build/tools/*.
#
#   (a) calls: concurrent SIPp callers streaming PCMU at 100/250/500/1000
#   (b) setup: call set-up rate without media (INVITE/200/ACK/BYE)
#   (c) ratio: CPU per packet of the server's media path vs bench/udp_echo,
#       plain RTP and SRTP (SDES, AES_CM_128_HMAC_SHA1_80 and _32)
#   (d) agent: voice-to-voice, barge-in and load of the agent pipeline
#       (bench/agent.sh, appended to the report)
#   (e) webrtc: join time, CPU and memory per WebRTC participant, latency
#       added each way (bench/webrtc.sh, with build/tools/rtc_client)
#   (v) vad: the VAD against Silero on the labelled set (bench/vad_bench.sh,
#       appended to the report)
#   (n) density: hundreds of agent calls in one worker with the speech
#       providers' stand-ins answering in realistic time (bench/density.sh,
#       appended to the report)
#   (f) outbound: CreateSIPParticipant set-up rate through the API to a SIPp
#       callee (bench/out_load.mjs, bench/sipp/uas_answer_hold.xml); not in
#       the default set: BENCH_ONLY=f
#
# Environment:
#   BENCH_QUICK=1          short runs, small counts (a few minutes)
#   BENCH_ONLY="a b c d e v n f" run only some of the benchmarks
#   BENCH_RATIO_SRTP="80 32"  the SRTP suites of (c)'s server rows ("" = plain only)
#   BENCH_TARGET=stand-in  SIPp's built-in UAS with -rtp_echo instead of
#                          voxgate (to check this script, not to measure)
#   BENCH_LEVELS="100 250 500 1000"  BENCH_HOLD=60  BENCH_RAMP_CPS=200
#   BENCH_SETUP_RATES="200 500 800"  BENCH_SETUP_SECS=15
#   BENCH_SUSTAIN="500:40"           one more set-up run, RATE:SECONDS, longer
#                                    than SIP's 32 s transaction lifetime ("" = none)
#   BENCH_RATIO_STREAMS=500          BENCH_RATIO_SECS=30
#   BENCH_WEBRTC_JOINS=200 BENCH_WEBRTC_CALLS=200 BENCH_WEBRTC_SECS=30
#   BENCH_WEBRTC_LAT_SECS=60
#   BENCH_OUT_RATES="100 200 300" BENCH_OUT_SECS=15 BENCH_OUT_MODE=sdk|fetch
#   BENCH_OUT_TRANSPORT=udp|tcp
#   BENCH_OUT_SUSTAIN=200:40 (RATE:SECONDS, "" = none)
#   BENCH_OUT_ALSO="300:sdk:tcp 300:fetch:udp" (more runs, RATE:DRIVER:SIP)
#   BENCH_OUT=bench/results/latest.md
#   VOXGATE=build/voxgate
# Raw logs go to build/bench/run-<time>/. Exit status 0 when every
# benchmark ran (whatever the figures), 1 when something could not run.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

QUICK=${BENCH_QUICK:-0}
TARGET=${BENCH_TARGET:-voxgate}
VOXGATE=${VOXGATE:-build/voxgate}
OUT=${BENCH_OUT:-bench/results/latest.md}
ONLY=${BENCH_ONLY:-a b c d e v n}
if [ "$QUICK" = 1 ]; then
	LEVELS=${BENCH_LEVELS:-50 200}
	HOLD=${BENCH_HOLD:-10}
	SETUP_RATES=${BENCH_SETUP_RATES:-200 500}
	SETUP_SECS=${BENCH_SETUP_SECS:-5}
	SUSTAIN=${BENCH_SUSTAIN-}
	RATIO_STREAMS=${BENCH_RATIO_STREAMS:-200}
	RATIO_SECS=${BENCH_RATIO_SECS:-8}
else
	LEVELS=${BENCH_LEVELS:-100 250 500 1000}
	HOLD=${BENCH_HOLD:-60}
	SETUP_RATES=${BENCH_SETUP_RATES:-200 500 800}
	SETUP_SECS=${BENCH_SETUP_SECS:-15}
	SUSTAIN=${BENCH_SUSTAIN-500:40}
	RATIO_STREAMS=${BENCH_RATIO_STREAMS:-500}
	RATIO_SECS=${BENCH_RATIO_SECS:-30}
fi
OUT_RATES=${BENCH_OUT_RATES:-$([ "$QUICK" = 1 ] && echo "100 200" || echo "100 200 300")}
OUT_SECS=${BENCH_OUT_SECS:-$([ "$QUICK" = 1 ] && echo 5 || echo 15)}
OUT_SUSTAIN=${BENCH_OUT_SUSTAIN-$([ "$QUICK" = 1 ] || echo 200:40)}
OUT_MODE=${BENCH_OUT_MODE:-sdk}
OUT_TRANSPORT=${BENCH_OUT_TRANSPORT:-udp}
OUT_ALSO=${BENCH_OUT_ALSO-$([ "$QUICK" = 1 ] || echo "300:sdk:tcp 300:fetch:udp")}
RAMP_CPS=${BENCH_RAMP_CPS:-200}
WARM=3              # seconds after the last call is placed before measuring
PER_SIPP=500        # streaming calls one sipp process drives comfortably
DRAIN_WAIT=40       # seconds allowed for the server to exit after SIGTERM
TCK=$(getconf CLK_TCK)

RUN=build/bench/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN" "$(dirname "$OUT")"
RUN=$ROOT/$RUN
ulimit -n "$(ulimit -Hn)" 2>/dev/null

log() { echo "[bench $(date +%T)] $*" >&2; }

# ---- process bookkeeping: everything started here is killed on exit ----
PIDS=()
track() { PIDS+=("$1"); }
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
	done
	sleep 0.5
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

alive() { kill -0 "$1" 2>/dev/null; }

# Waits up to $2 s for pid $1 to exit; returns its exit code, or 124.
wait_exit() {
	local pid=$1 deadline=$((SECONDS + $2))
	while alive "$pid" && [ $SECONDS -lt $deadline ]; do
		sleep 0.2
	done
	if alive "$pid"; then
		return 124
	fi
	wait "$pid" 2>/dev/null
}

# Waits up to $2 s for sipp pid $1 to end by itself; then stops it (SIGTERM
# twice: the first only stops new calls, then SIGKILL). Sets SIPP_RC to its
# exit code or "hung"; SIPp writes its final CSV line when it quits.
finish_sipp() {
	wait_exit "$1" "$2"
	SIPP_RC=$?
	[ "$SIPP_RC" != 124 ] && return 0
	SIPP_RC=hung
	kill -TERM "$1" 2>/dev/null
	sleep 1
	kill -TERM "$1" 2>/dev/null
	wait_exit "$1" 5 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# UDP receive-buffer drops on the whole host (/proc/net/snmp RcvbufErrors).
udp_drops() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

# ---- small readers ----
cpu_ticks() { # utime+stime of a process, in clock ticks
	local f
	f=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	set -- $f
	echo $((${12} + ${13}))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
json_get() { # json_get 'JSON' key  (flat objects; strings unquoted)
	grep -o "\"$2\":[^,}]*" <<<"$1" | head -1 | cut -d: -f2- | tr -d '"'
}
fmt() { awk -v x="$1" 'BEGIN { if (x == "" || x == "n/a") print "n/a"; else printf "%.1f", x }'; }
ratio() { awk -v a="$1" -v b="$2" -v f="%.${3:-1}f" 'BEGIN { if (b == 0 || a == "" || b == "") print "n/a"; else printf f, a / b }'; }
# Value of column NAME in the last data line of a sipp -trace_stat CSV.
csv_col() {
	awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		{ last = $c } END { print (c && last != "") ? last : 0 }' "$1" 2>/dev/null
}
hms_ms() { # sipp "HH:MM:SS:uuuuuu" → milliseconds
	awk -F: -v x="$1" 'BEGIN { n = split(x, a, ":"); if (n < 4) { print "n/a"; exit }
		printf "%.2f", (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 + a[4] / 1000 }'
}

# ---- ports ----
USED_PORTS=""
refresh_ports() { USED_PORTS=$(ss -Hltuan 2>/dev/null | awk '{ n = split($5, a, ":"); print a[n] }' | sort -un); }
range_free() { # range_free LO HI
	local p
	for p in $USED_PORTS; do
		[ "$p" -ge "$1" ] && [ "$p" -le "$2" ] && return 1
	done
	return 0
}
# pick_base BASE LEN [STEP] → the first free range of LEN ports at BASE,
# BASE+STEP, ... (STEP defaults to LEN, ten tries; a smaller STEP tries
# every start up to 32768).
pick_base() {
	local b=$1 step=${3:-$2} k tries=10
	[ -n "${3:-}" ] && tries=$(((32768 - $1 - $2) / $3 + 1))
	refresh_ports
	for ((k = 0; k < tries; k++)); do
		[ $((b + $2 - 1)) -gt 65535 ] && break # past the last port
		if range_free "$b" $((b + $2 - 1)); then
			echo "$b"
			return 0
		fi
		b=$((b + step))
	done
	log "no free port range of $2 from $1"
	return 1
}

# ---- test audio: espeak-ng → raw μ-law (sipp sends the file byte for byte)
make_audio() {
	[ -s "$RUN/prompt.ul" ] && return 0
	espeak-ng -v en-us -w "$RUN/prompt.wav" \
		"Hello, this is a load test call for the voice gateway. I would like to book a table for two people tonight, please." &&
		sox -D "$RUN/prompt.wav" -r 8000 -c 1 -e u-law -t raw "$RUN/prompt.ul"
}

# ---- the server (or the stand-in) ----
SRV_PID=""
SRV_LOG=""
SIP_PORT=""
RTP_LO=""
RTP_HI=""
SRV_CMD=""
start_server() { # start_server NAME [EXTRA FLAGS...]
	local name=$1
	shift
	SIP_PORT=$(pick_base 25060 1) || return 1
	RTP_LO=$(pick_base "${RTP_FROM:-26000}" "${RTP_LEN:-4000}" ${RTP_STEP:+"$RTP_STEP"}) || return 1
	RTP_HI=$((RTP_LO + ${RTP_LEN:-4000} - 1))
	SRV_LOG=$RUN/$name.server.log
	if [ "$TARGET" = stand-in ]; then
		SRV_CMD="sipp -sn uas -i 127.0.0.1 -p $SIP_PORT -mi 127.0.0.1 -mp $RTP_LO -rtp_echo -aa -nostdin"
		(cd "$RUN" && exec $SRV_CMD) >"$SRV_LOG" 2>&1 &
	else
		SRV_CMD="$VOXGATE serve --sip_host 127.0.0.1 --sip_port $SIP_PORT --rtp_port_range $RTP_LO-$RTP_HI --log_format json --http_port 0 --db $RUN/$name.db --agent audio-echo $*"
		$SRV_CMD 2>"$SRV_LOG" >/dev/null &
	fi
	SRV_PID=$!
	track "$SRV_PID"
	local i
	for i in $(seq 1 100); do
		if ! alive "$SRV_PID"; then
			log "$name: server exited at start:"
			tail -5 "$SRV_LOG" >&2
			return 1
		fi
		if [ "$TARGET" = stand-in ]; then
			ss -Hluan | grep -q "127.0.0.1:$SIP_PORT " && return 0
		else
			grep -q '"event":"listening"' "$SRV_LOG" && return 0
		fi
		sleep 0.1
	done
	log "$name: server did not report listening in 10 s"
	return 1
}

# Stops the server; sets SRV_RC, SRV_EXIT_S and SRV_STATS (the stats line).
stop_server() {
	local t0=$SECONDS
	SRV_STATS=""
	kill -TERM "$SRV_PID" 2>/dev/null
	if [ "$TARGET" = stand-in ]; then
		sleep 0.3
		kill -TERM "$SRV_PID" 2>/dev/null # sipp: second TERM quits
		wait_exit "$SRV_PID" 5
		SRV_RC=$?
		[ "$SRV_RC" = 124 ] && kill -KILL "$SRV_PID" 2>/dev/null
		SRV_RC=0
	else
		wait_exit "$SRV_PID" "$DRAIN_WAIT"
		SRV_RC=$?
		if [ "$SRV_RC" = 124 ]; then
			log "server did not exit ${DRAIN_WAIT} s after SIGTERM; killing it"
			kill -KILL "$SRV_PID" 2>/dev/null
			wait "$SRV_PID" 2>/dev/null
			SRV_RC="killed"
		fi
		SRV_STATS=$(grep '"event":"stats"' "$SRV_LOG" | tail -1)
	fi
	SRV_EXIT_S=$((SECONDS - t0))
}

stat_field() { # from the server's stats line, or n/a
	local v
	v=$(json_get "$SRV_STATS" "$1")
	echo "${v:-n/a}"
}

# Warnings and errors in a server log: "W warn / E error".
log_problems() {
	local w e
	w=$(grep -c '"level":"warn"' "$1" 2>/dev/null)
	e=$(grep -c '"level":"error"' "$1" 2>/dev/null)
	echo "${w:-0} warn / ${e:-0} error"
}

RESULTS_A=()
RESULTS_B=()
RESULTS_C=()
RESULTS_E=()
RESULTS_F=()
CMDS_F=()
CMDS_A=()
CMDS_B=()
CMDS_C=()
PROBLEMS=()
STATUS=0

# ---- (a) concurrent streaming calls ----
bench_calls() {
	local n=$1 name=calls-$1
	local k=$(((n + PER_SIPP - 1) / PER_SIPP))
	local ramp_s hold_ms rate i
	ramp_s=$(awk -v n="$n" -v r="$RAMP_CPS" 'BEGIN { printf "%.1f", n / r }')
	hold_ms=$(awk -v r="$ramp_s" -v w="$WARM" -v h="$HOLD" 'BEGIN { printf "%d", (r + w + h + 2) * 1000 }')
	rate=$(awk -v r="$RAMP_CPS" -v k="$k" 'BEGIN { printf "%d", r / k }')
	log "$name: $n calls, $k sipp, ramp ${ramp_s} s, hold ${HOLD} s"
	start_server "$name" || {
		PROBLEMS+=("$name: server did not start")
		STATUS=1
		return
	}
	local rss0 cpu0 cpu1 t0 t1 sp_pids=() sp_csv=() sp_cmd
	rss0=$(rss_kb "$SRV_PID")
	CMDS_A+=("$SRV_CMD")
	for i in $(seq 0 $((k - 1))); do
		local ni=$((n / k + (i < n % k ? 1 : 0)))
		local sport mport
		sport=$(pick_base $((25070 + i)) 1) || return
		mport=$(pick_base $((24000 + 100 * i)) 4) || return
		sp_csv+=("$RUN/$name.sipp$i.csv")
		sp_cmd="sipp 127.0.0.1:$SIP_PORT -sf $ROOT/bench/sipp/uac_pcmu_stream.xml -i 127.0.0.1 -p $sport -mi 127.0.0.1 -mp $mport -r $rate -l $ni -m $ni -d $hold_ms -timeout $((hold_ms / 1000 + 90))s -aa -nostdin -trace_err -error_file $RUN/$name.sipp$i.err -trace_stat -stf ${sp_csv[$i]} -fd 1"
		(cd "$RUN" && exec $sp_cmd) >"$RUN/$name.sipp$i.out" 2>&1 &
		sp_pids+=($!)
		track $!
		CMDS_A+=("(cd RUNDIR && $sp_cmd)  # RUNDIR holds prompt.ul")
	done
	# steady window: every call placed, WARM s later, for HOLD s
	sleep "$(awk -v r="$ramp_s" -v w="$WARM" 'BEGIN { print r + w }')"
	local up=0 answered="n/a" srv_calls
	for i in "${!sp_csv[@]}"; do
		up=$((up + $(csv_col "${sp_csv[$i]}" 'CurrentCall')))
	done
	[ "$TARGET" = voxgate ] && answered=$(grep -c '"event":"answered"' "$SRV_LOG")
	cpu0=$(cpu_ticks "$SRV_PID")
	t0=$(date +%s.%N)
	local rss_peak=$rss0 r
	for _ in $(seq 1 "$HOLD"); do
		sleep 1
		r=$(rss_kb "$SRV_PID")
		[ "${r:-0}" -gt "$rss_peak" ] && rss_peak=$r
	done
	cpu1=$(cpu_ticks "$SRV_PID")
	t1=$(date +%s.%N)
	srv_calls=$(alive "$SRV_PID" && echo up || echo DIED)
	local ok=0 failed=0 retrans=0 rcs="" ended
	for i in "${!sp_pids[@]}"; do
		# its calls end about 2 s after the window (+ the ramp's spread)
		finish_sipp "${sp_pids[$i]}" 40
		rcs="${rcs:+$rcs }$SIPP_RC"
		if [ "$SIPP_RC" = hung ]; then
			ended=n/a
			[ "$TARGET" = voxgate ] && ended=$(grep -c '"event":"call_end"' "$SRV_LOG")
			log "$name: sipp$i had not exited 40 s after its calls were due to end (server had ended $ended of $n calls); stopped it"
			PROBLEMS+=("$name: sipp$i (load generator) did not exit 40 s after its last call was due to end; the server had logged call_end for $ended of $n calls by then. Stopped with SIGTERM; its final CSV counts are used.")
		fi
		ok=$((ok + $(csv_col "${sp_csv[$i]}" 'SuccessfulCall(C)')))
		failed=$((failed + $(csv_col "${sp_csv[$i]}" 'FailedCall(C)')))
		retrans=$((retrans + $(csv_col "${sp_csv[$i]}" 'Retransmissions(C)')))
	done
	stop_server
	local win cpu_pct us_pkt
	win=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	cpu_pct=$(awk -v c=$((cpu1 - cpu0)) -v t="$TCK" -v w="$win" 'BEGIN { printf "%.1f", 100 * c / t / w }')
	us_pkt=$(awk -v c=$((cpu1 - cpu0)) -v t="$TCK" -v w="$win" -v n="$n" 'BEGIN { printf "%.2f", 1e6 * c / t / (n * 50 * w) }')
	local rss_call
	rss_call=$(awk -v a="$rss0" -v b="$rss_peak" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
	RESULTS_A+=("| $n | $k | $up / $answered | $ok | $failed | $retrans | $cpu_pct | $us_pkt | $(fmt "$(ratio "$rss0" 1024)") | $(fmt "$(ratio "$rss_peak" 1024)") | $rss_call | $(stat_field late) | $(stat_field lost) | $(stat_field tick_late) | $(stat_field residence_p50_us) | $(stat_field residence_p99_us) | $SRV_RC / ${SRV_EXIT_S} s | $(log_problems "$SRV_LOG") |")
	log "$name: up $up, ok $ok, failed $failed, cpu $cpu_pct %, rss/call $rss_call KB, sipp rc $rcs, server $srv_calls rc $SRV_RC"
	[ "$failed" -gt 0 ] && PROBLEMS+=("$name: $failed calls failed (sipp rc $rcs; errors in $RUN/$name.sipp*.err)")
	[ "$srv_calls" = DIED ] && PROBLEMS+=("$name: the server died during the run (log $SRV_LOG)")
	[ "$TARGET" = voxgate ] && [ -z "$SRV_STATS" ] && PROBLEMS+=("$name: no stats line in the server log (exit $SRV_RC)")
	[ "$TARGET" = voxgate ] && [ "$SRV_RC" != 0 ] && PROBLEMS+=("$name: server exit status $SRV_RC after SIGTERM")
	return 0
}

# ---- (b) call set-up rate, no media ----
bench_setup() { # bench_setup RATE SECONDS
	local r=$1 secs=$2 name=setup-$1-${2}s
	local m=$((r * secs))
	log "$name: $m calls at $r cps"
	start_server "$name" || {
		PROBLEMS+=("$name: server did not start")
		STATUS=1
		return
	}
	CMDS_B+=("$SRV_CMD")
	local sport mport csv=$RUN/$name.csv cmd
	sport=$(pick_base 25070 1) || return
	mport=$(pick_base 24000 4) || return
	cmd="sipp 127.0.0.1:$SIP_PORT -sf $ROOT/bench/sipp/uac_setup.xml -i 127.0.0.1 -p $sport -mi 127.0.0.1 -mp $mport -r $r -l 5000 -m $m -timeout $((secs + 60))s -aa -nostdin -trace_err -error_file $RUN/$name.err -trace_stat -stf $csv -fd 1"
	CMDS_B+=("$cmd")
	local cpu0 cpu1 t0 t1 pid rc drops0 drops1 open_at_term by_server
	cpu0=$(cpu_ticks "$SRV_PID")
	drops0=$(udp_drops)
	t0=$(date +%s.%N)
	(cd "$RUN" && exec $cmd) >"$RUN/$name.sipp.out" 2>&1 &
	pid=$!
	track $pid
	finish_sipp $pid $((secs + 60))
	rc=$SIPP_RC
	t1=$(date +%s.%N)
	cpu1=$(cpu_ticks "$SRV_PID")
	drops1=$(udp_drops)
	stop_server
	open_at_term=n/a
	by_server=n/a
	if [ "$TARGET" = voxgate ]; then
		open_at_term=$(grep '"event":"draining"' "$SRV_LOG" | head -1)
		open_at_term=$(json_get "$open_at_term" calls)
		by_server=$(grep '"event":"call_end"' "$SRV_LOG" | grep -c '"by":"server"')
	fi
	local ok failed retrans el cps cpu_pct rt
	ok=$(csv_col "$csv" 'SuccessfulCall(C)')
	failed=$(csv_col "$csv" 'FailedCall(C)')
	retrans=$(csv_col "$csv" 'Retransmissions(C)')
	rt=$(hms_ms "$(csv_col "$csv" 'ResponseTime1(C)')")
	[ "$rt" = 0.00 ] && rt="< 1" # SIPp measures response times in ms
	el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	cps=$(awk -v n="$ok" -v e="$el" 'BEGIN { printf "%.0f", n / e }')
	cpu_pct=$(awk -v c=$((cpu1 - cpu0)) -v t="$TCK" -v w="$el" 'BEGIN { printf "%.1f", 100 * c / t / w }')
	RESULTS_B+=("| $r | $secs | $m | $ok | $failed | $retrans | $el | $cps | $rt | $cpu_pct | ${open_at_term:-n/a} | $by_server | $((drops1 - drops0)) | $SRV_RC / ${SRV_EXIT_S} s | $(log_problems "$SRV_LOG") |")
	log "$name: ok $ok failed $failed in $el s = $cps cps, server cpu $cpu_pct %, sipp rc $rc"
	[ "$failed" -gt 0 ] && PROBLEMS+=("$name: $failed calls failed, $retrans retransmissions (sipp rc $rc; $RUN/$name.err)")
	[ "$rc" = hung ] && PROBLEMS+=("$name: sipp did not finish its $m calls within $((secs + 60)) s; stopped")
	if [ "$cps" -lt $((r * 95 / 100)) ] || [ "$retrans" -gt 0 ]; then
		PROBLEMS+=("$name: the server did not keep up: $cps of $r calls/s achieved, $retrans SIP retransmissions, INVITE→200 avg $rt ms, $((drops1 - drops0)) UDP receive-buffer drops on the host")
	fi
	[ "${open_at_term:-0}" != 0 ] && [ "$open_at_term" != n/a ] &&
		PROBLEMS+=("$name: $open_at_term calls were still open in the server at SIGTERM although SIPp had finished every call ($by_server calls ended by the server, see media_timeout in $RUN/$name.server.log)")
	[ "$TARGET" = voxgate ] && [ "$SRV_RC" != 0 ] && PROBLEMS+=("$name: server exit status $SRV_RC after SIGTERM")
	return 0
}

# ---- (f) outbound call set-up rate through the API ----
# CreateSIPParticipant at RATE calls/s (bench/out_load.mjs, waitUntilAnswered)
# through an outbound trunk to SIPp answering (bench/sipp/uas_answer_hold.xml:
# 200, 1 s held, the callee's BYE). Each call is a room, a participant, a
# media session and an echo agent. The driver's CPU is measured beside the
# server's: a driver near one core is driver-bound, not server-bound.
OUT_KEY=bench
OUT_SECRET=voxgate-bench-secret-0123456789abcdef
bench_outbound() { # bench_outbound RATE SECONDS [MODE [TRANSPORT]]
	local r=$1 secs=$2 mode=${3:-$OUT_MODE} tp=${4:-$OUT_TRANSPORT}
	local name=out-$1-${2}s-$mode-$tp
	local hport
	hport=$(pick_base 28080 1) || return
	log "$name: $((r * secs)) CreateSIPParticipant at $r/s ($mode)"
	# ~1.3 s per call (1 s held, then the media's end) at 300/s: 800 ports
	# in use; a small range fits between the ports others hold.
	RTP_LEN=1600 RTP_STEP=200 LIVEKIT_API_KEY=$OUT_KEY LIVEKIT_API_SECRET=$OUT_SECRET \
		start_server "$name" --http_port "$hport" --empty_timeout 1s --departure_timeout 1s || {
		PROBLEMS+=("$name: server did not start")
		STATUS=1
		return
	}
	CMDS_F+=("LIVEKIT_API_KEY=$OUT_KEY LIVEKIT_API_SECRET=... $SRV_CMD --http_port $hport --empty_timeout 1s --departure_timeout 1s")
	local sport mport csv=$RUN/$name.csv uas_cmd tok trunk
	sport=$(pick_base 25170 1) || return
	mport=$(pick_base 24100 4) || return
	uas_cmd="sipp -t $([ "$tp" = tcp ] && echo t1 || echo u1) -sf $ROOT/bench/sipp/uas_answer_hold.xml -i 127.0.0.1 -p $sport -mi 127.0.0.1 -mp $mport -l 5000 -nostdin -trace_err -error_file $RUN/$name.uas.err -trace_stat -stf $csv -fd 1"
	CMDS_F+=("$uas_cmd")
	(cd "$RUN" && exec $uas_cmd) >"$RUN/$name.uas.out" 2>&1 &
	local upid=$!
	track $upid
	tok=$(LIVEKIT_API_KEY=$OUT_KEY LIVEKIT_API_SECRET=$OUT_SECRET "$VOXGATE" token create --sip-admin --ttl 10m 2>/dev/null)
	trunk=$(curl -s -H "Authorization: Bearer $tok" -H 'content-type: application/json' \
		"http://127.0.0.1:$hport/twirp/livekit.SIP/CreateSIPOutboundTrunk" \
		-d "{\"trunk\":{\"name\":\"bench\",\"address\":\"127.0.0.1:$sport\",\"numbers\":[\"+15550001111\"],\"transport\":\"SIP_TRANSPORT_${tp^^}\"}}" |
		grep -o '"sip_trunk_id":"[^"]*"' | cut -d'"' -f4)
	if [ -z "$trunk" ]; then
		PROBLEMS+=("$name: the outbound trunk could not be created")
		STATUS=1
		kill "$upid" 2>/dev/null
		stop_server
		return
	fi
	local drv="node bench/out_load.mjs --url http://127.0.0.1:$hport --key $OUT_KEY --secret ... --trunk $trunk --rate $r --secs $secs --mode $mode"
	CMDS_F+=("$drv")
	local cpu0 cpu1 t0 t1 res ucpu0 ucpu1 drops0 drops1 sdrops
	drops0=$(udp_drops)
	cpu0=$(cpu_ticks "$SRV_PID")
	ucpu0=$(cpu_ticks "$upid")
	t0=$(date +%s.%N)
	res=$(node bench/out_load.mjs --url "http://127.0.0.1:$hport" --key "$OUT_KEY" --secret "$OUT_SECRET" \
		--trunk "$trunk" --rate "$r" --secs "$secs" --mode "$mode" 2>"$RUN/$name.driver.err" | tail -1)
	t1=$(date +%s.%N)
	cpu1=$(cpu_ticks "$SRV_PID")
	ucpu1=$(cpu_ticks "$upid")
	drops1=$(udp_drops)
	# the server's own SIP socket (the /proc/net/udp drops column)
	sdrops=$(awk -v p="$(printf '%04X' "$SIP_PORT")" 'NR > 1 && $2 ~ (":" p "$") { print $NF }' /proc/net/udp | head -1)
	echo "$res" >"$RUN/$name.driver.json"
	sleep 2 # the last calls' BYEs
	kill -TERM "$upid" 2>/dev/null
	sleep 0.5
	kill -TERM "$upid" 2>/dev/null
	wait_exit "$upid" 5 || kill -KILL "$upid" 2>/dev/null
	local left
	left=$(curl -s "http://127.0.0.1:$hport/metrics" | awk '/^voxgate_sip_calls\{direction="outbound"\}/ {print $2}')
	stop_server
	local el cpu_pct ucpu_pct placed ok failed fails p50 p99 cps dcpu retrans
	el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	cpu_pct=$(awk -v c=$((cpu1 - cpu0)) -v t="$TCK" -v w="$el" 'BEGIN { printf "%.1f", 100 * c / t / w }')
	ucpu_pct=$(awk -v c=$((ucpu1 - ucpu0)) -v t="$TCK" -v w="$el" 'BEGIN { printf "%.1f", 100 * c / t / w }')
	placed=$(json_get "$res" placed)
	ok=$(json_get "$res" ok)
	failed=$(json_get "$res" failed_total)
	fails=$(grep -o '"failed":{[^}]*}' <<<"$res" | cut -d: -f2-)
	p50=$(json_get "$res" lat_p50_ms)
	p99=$(json_get "$res" lat_p99_ms)
	cps=$(json_get "$res" achieved_cps)
	dcpu=$(json_get "$res" driver_cpu_pct)
	retrans=$(csv_col "$csv" 'Retransmissions(C)')
	RESULTS_F+=("| $r | $secs | $mode | $tp | ${placed:-n/a} | ${ok:-n/a} | ${failed:-n/a} ${fails:+$fails} | ${cps:-n/a} | ${p50:-n/a} / ${p99:-n/a} | $cpu_pct | ${dcpu:-n/a} | $ucpu_pct | ${retrans:-n/a} | ${sdrops:-n/a} / $((drops1 - drops0)) | ${left:-n/a} | $SRV_RC / ${SRV_EXIT_S} s | $(log_problems "$SRV_LOG") |")
	log "$name: placed $placed ok $ok failed $failed, $cps cps, API p50/p99 $p50/$p99 ms; CPU server $cpu_pct %, driver $dcpu %, sipp $ucpu_pct %"
	[ "${failed:-1}" != 0 ] && PROBLEMS+=("$name: ${failed:-?} CreateSIPParticipant failed $fails ($RUN/$name.driver.err, $RUN/$name.server.log)")
	[ -n "$left" ] && [ "$left" != 0 ] && PROBLEMS+=("$name: $left outbound calls still up after the driver finished")
	[ "$SRV_RC" != 0 ] && PROBLEMS+=("$name: server exit status $SRV_RC after SIGTERM")
	return 0
}

# ---- (c) CPU per packet: udp_echo vs the server, same generator ----
RATIO_ECHO_US=""
RATIO_DROPS=0
bench_ratio_echo() {
	local n=$RATIO_STREAMS base pid out cmd
	base=$(pick_base 20000 "$n") || return
	log "ratio: udp_echo, $n streams, ${RATIO_SECS} s"
	build/bench/udp_echo -p "$base-$((base + n - 1))" >"$RUN/ratio.udp_echo.out" 2>&1 &
	pid=$!
	track $pid
	sleep 0.3
	grep -q listening "$RUN/ratio.udp_echo.out" || {
		PROBLEMS+=("udp_echo did not start: $(cat "$RUN/ratio.udp_echo.out")")
		STATUS=1
		return
	}
	cmd="build/bench/rtp_load -n $n -d $RATIO_SECS --echo 127.0.0.1:$base --watch-pid PID"
	CMDS_C+=("build/bench/udp_echo -p $base-$((base + n - 1))" "$cmd")
	RATIO_DROPS=$(udp_drops)
	out=$(build/bench/rtp_load -n "$n" -d "$RATIO_SECS" --echo "127.0.0.1:$base" \
		--watch-pid "$pid" 2>"$RUN/ratio.echo.rtp_load.err")
	RATIO_DROPS=$(($(udp_drops) - RATIO_DROPS))
	echo "$out" >"$RUN/ratio.echo.rtp_load.json"
	kill -TERM $pid
	wait_exit $pid 5
	RATIO_ECHO_US=$(json_get "$out" target_cpu_us_per_packet)
	ratio_row udp_echo "$out" "1.00" "" ""
}

# An ALLOW trunk for rtp_load's calls (To: echo) with a rule giving each
# call a room of its own, as the default route does: the plain and the
# SRTP rows go the same way, and the offer alone says which it is.
BENCH_SECRET=bench-ratio-secret-of-at-least-32-chars
ratio_trunk() { # ratio_trunk HTTP_PORT
	local tok id url="http://127.0.0.1:$1/twirp/livekit.SIP"
	tok=$("$VOXGATE" token create --api-key bench --api-secret "$BENCH_SECRET" \
		--sip-admin --ttl 1h 2>/dev/null) || return 1
	id=$(curl -s --max-time 5 -H "Authorization: Bearer $tok" \
		-H 'Content-Type: application/json' \
		-d '{"trunk":{"name":"bench","numbers":["echo"],"mediaEncryption":"SIP_MEDIA_ENCRYPT_ALLOW"}}' \
		"$url/CreateSIPInboundTrunk" |
		grep -o -E '"(sipTrunkId|sip_trunk_id)" *: *"[^"]*"' | sed 's/.*: *"//; s/"$//')
	[ -n "$id" ] || return 1
	curl -s -f -o /dev/null --max-time 5 -H "Authorization: Bearer $tok" \
		-H 'Content-Type: application/json' \
		-d "{\"rule\":{\"dispatchRuleIndividual\":{\"roomPrefix\":\"bench\"}},\"trunkIds\":[\"$id\"]}" \
		"$url/CreateSIPDispatchRule"
}

RATIO_PLAIN_US=""
bench_ratio_server() { # bench_ratio_server LABEL [80|32: SRTP with that suite]
	local label=$1 srtp=${2:-} n=$RATIO_STREAMS out cmd http=0 opt=""
	log "ratio: server media path ${srtp:+(SRTP $srtp) }, $n calls, ${RATIO_SECS} s"
	if [ "$TARGET" = voxgate ]; then
		http=$(pick_base 24000 1) || return
	fi
	VOXGATE_KEYS="bench: $BENCH_SECRET" start_server "ratio$srtp" --http_port "$http" || {
		PROBLEMS+=("ratio: server did not start")
		STATUS=1
		return
	}
	if [ "$TARGET" = voxgate ] && ! ratio_trunk "$http"; then
		PROBLEMS+=("ratio: the bench trunk could not be made through the API")
		STATUS=1
		stop_server
		return
	fi
	[ -n "$srtp" ] && opt="--srtp $srtp"
	cmd="build/bench/rtp_load -n $n -d $RATIO_SECS --sip 127.0.0.1:$SIP_PORT --cps $RAMP_CPS $opt --watch-pid PID"
	CMDS_C+=("VOXGATE_KEYS='bench: SECRET' $SRV_CMD" "(an ALLOW trunk for 'echo', an individual rule: ratio_trunk in bench/run.sh)" "$cmd")
	RATIO_DROPS=$(udp_drops)
	# shellcheck disable=SC2086 # opt is empty or two words
	out=$(build/bench/rtp_load -n "$n" -d "$RATIO_SECS" --sip "127.0.0.1:$SIP_PORT" \
		--cps "$RAMP_CPS" $opt --watch-pid "$SRV_PID" 2>"$RUN/ratio$srtp.server.rtp_load.err")
	RATIO_DROPS=$(($(udp_drops) - RATIO_DROPS))
	echo "$out" >"$RUN/ratio$srtp.server.rtp_load.json"
	stop_server
	local us
	us=$(json_get "$out" target_cpu_us_per_packet)
	[ -z "$srtp" ] && RATIO_PLAIN_US=$us
	ratio_row "$label" "$out" "$(ratio "$us" "$RATIO_ECHO_US" 2)" \
		"$(stat_field residence_p50_us)" "$(stat_field residence_p99_us)" \
		"$(ratio "$us" "$RATIO_PLAIN_US" 2)" "$(stat_field late)"
	[ "$(json_get "$out" calls_failed)" != 0 ] &&
		PROBLEMS+=("ratio$srtp: $(json_get "$out" calls_failed) calls failed ($RUN/ratio$srtp.server.rtp_load.err)")
	[ "$(json_get "$out" echoed)" = 0 ] &&
		PROBLEMS+=("ratio$srtp: no marked packet came back from the server (unmatched $(json_get "$out" unmatched), rx $(json_get "$out" rx_total))")
	if [ -n "$srtp" ]; then
		[ "$(json_get "$out" srtp_fail)" != 0 ] &&
			PROBLEMS+=("ratio$srtp: $(json_get "$out" srtp_fail) echoes failed SRTP authentication")
		[ "$(stat_field late)" != 0 ] &&
			PROBLEMS+=("ratio$srtp: $(stat_field late) packets late in the server with SRTP (target 0)")
		awk -v a="$us" -v b="$RATIO_PLAIN_US" 'BEGIN { exit !(b > 0 && a / b > 1.25) }' &&
			PROBLEMS+=("ratio$srtp: SRTP costs $(ratio "$us" "$RATIO_PLAIN_US" 2) × the plain server's µs/pkt (target ≤ 1.25)")
	fi
	return 0
}

ratio_row() { # ratio_row NAME JSON RATIO RES50 RES99 [× PLAIN LATE]
	local j=$2
	RESULTS_C+=("| $1 | $(json_get "$j" streams) | $(json_get "$j" calls_failed) | $(json_get "$j" window_s) | $(json_get "$j" sent) | $(json_get "$j" echoed) | $(json_get "$j" lost) | $(json_get "$j" unmatched) | $(json_get "$j" rtt_p50_us) / $(json_get "$j" rtt_p99_us) / $(json_get "$j" rtt_max_us) | ${4:-–} / ${5:-–} | ${7:-–} | $(json_get "$j" target_cpu_pct) | $(json_get "$j" target_cpu_us_per_packet) | $3 | ${6:-–} | $RATIO_DROPS |")
}

# ---- main ----
for b in build/bench/udp_echo build/bench/rtp_load; do
	[ -x "$b" ] || {
		log "$b missing: run make bench"
		exit 1
	}
done
command -v sipp >/dev/null || {
	log "sipp missing (apt-get install sip-tester)"
	exit 1
}
if [ "$TARGET" = voxgate ] && [ ! -x "$VOXGATE" ]; then
	log "$VOXGATE missing: run make"
	exit 1
fi
make_audio || {
	log "could not make the test audio (espeak-ng, sox)"
	exit 1
}
log "mode $([ "$QUICK" = 1 ] && echo quick || echo full), target $TARGET, logs in $RUN"
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T_START=$SECONDS

case " $ONLY " in *" a "*)
	for n in $LEVELS; do bench_calls "$n"; done
	;;
esac
case " $ONLY " in *" b "*)
	for r in $SETUP_RATES; do bench_setup "$r" "$SETUP_SECS"; done
	[ -n "$SUSTAIN" ] && bench_setup "${SUSTAIN%%:*}" "${SUSTAIN##*:}"
	;;
esac
case " $ONLY " in *" f "*)
	for r in $OUT_RATES; do bench_outbound "$r" "$OUT_SECS"; done
	[ -n "$OUT_SUSTAIN" ] && bench_outbound "${OUT_SUSTAIN%%:*}" "${OUT_SUSTAIN##*:}"
	for x in $OUT_ALSO; do
		IFS=: read -r xr xm xt <<<"$x"
		bench_outbound "$xr" "$OUT_SECS" "$xm" "$xt"
	done
	;;
esac
case " $ONLY " in *" c "*)
	bench_ratio_echo
	bench_ratio_server "$TARGET"
	if [ "$TARGET" = voxgate ]; then
		for s in ${BENCH_RATIO_SRTP-80 32}; do
			bench_ratio_server "voxgate SRTP _$s" "$s"
		done
	fi
	;;
esac
case " $ONLY " in *" e "*)
	# shellcheck source=bench/webrtc.sh
	. bench/webrtc.sh
	bench_webrtc
	;;
esac

# ---- report ----
{
	echo "# voxgate benchmark results (raw, written by bench/run.sh)"
	echo
	echo "- date: $START, took $((SECONDS - T_START)) s"
	echo "- mode: $([ "$QUICK" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full); target: $TARGET"
	echo "- host: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr), $(sipp -v 2>/dev/null | grep -o 'SIPp v[0-9.]*' | head -1)"
	echo "- voxgate: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (+ uncommitted src changes)'), $VOXGATE"
	echo "- raw logs: ${RUN#"$ROOT"/}/"
	if [ ${#RESULTS_A[@]} -gt 0 ]; then
		echo
		echo "## (a) Concurrent streaming calls (hold ${HOLD} s each)"
		echo
		echo "SIPp callers stream looping PCMU (espeak-ng prompt, raw μ-law, rtp_stream) to the echo agent."
		echo "Window: from ${WARM} s after the last call was placed, for ${HOLD} s. CPU is % of one core over the"
		echo "window; µs/pkt is server CPU per offered packet (calls × 50/s). RSS/call = (peak VmRSS in the window"
		echo "− VmRSS before the first call) / calls. late … residence come from the server's final \`stats\` line."
		echo
		echo "| calls | sipp | up (sipp / answered) | ok | failed | retrans | CPU % | µs/pkt | RSS before MB | RSS peak MB | RSS/call KB | late | lost | tick_late | residence p50 µs | p99 µs | exit / time | log |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		printf '%s\n' "${RESULTS_A[@]}"
		echo
		echo "Commands (RUNDIR = the raw log dir, ports picked free at run time):"
		echo '```'
		printf '%s\n' "${CMDS_A[@]}"
		echo '```'
	fi
	if [ ${#RESULTS_B[@]} -gt 0 ]; then
		echo
		echo "## (b) Call set-up rate, no media"
		echo
		echo "INVITE (PCMU offer) → 100/180 → 200 → ACK → BYE → 200, no RTP. Achieved = successful calls / wall time"
		echo "of the sipp run. INVITE→200 is SIPp's ResponseTime1 average. Target ≥ 500 calls/s with 0 failures,"
		echo "also in the longer run (s > 32: SIP transactions live 32 s, so only then does the server hold its steady-state load)."
		echo "\"open at SIGTERM\" = calls the server still held when SIPp had finished (from its \`draining\` event); they should be 0."
		echo
		echo "| offered cps | s | calls | ok | failed | retrans | wall s | achieved cps | INVITE→200 avg ms | server CPU % | open at SIGTERM | ended by server | UDP rcvbuf drops (host) | exit / time | log |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		printf '%s\n' "${RESULTS_B[@]}"
		echo
		echo "Commands:"
		echo '```'
		printf '%s\n' "${CMDS_B[@]}"
		echo '```'
	fi
	if [ ${#RESULTS_C[@]} -gt 0 ]; then
		echo
		echo "## (c) CPU per packet: server media path vs udp_echo (physical limit)"
		echo
		echo "Same generator (bench/rtp_load: $RATIO_STREAMS streams × 50 packets/s of 172-byte RTP, ${RATIO_SECS} s window)."
		echo "udp_echo: one socket per stream, recvmmsg/sendmmsg, no processing. Server: one SIP call per stream,"
		echo "echo agent. µs/pkt = target CPU (utime+stime, /proc) over the window / packets offered in it."
		echo "RTT = generator send → echo received (includes the server's jitter buffer); residence and late from the server's stats."
		echo "The server rows route through an ALLOW trunk; the SRTP rows offer RTP/SAVP with an SDES key, and rtp_load protects what"
		echo "it sends and unprotects the echo (srtpx): the server unprotects each packet and protects its echo, so"
		echo "(SRTP − plain) µs/pkt ÷ 2 is its cost per SRTP operation. Target: SRTP ≤ 1.25 × plain, 0 late."
		echo
		echo "| target | streams | failed calls | window s | sent | echoed | lost | unmatched | RTT p50 / p99 / max µs | residence p50 / p99 µs | late | CPU % | µs/pkt | × udp_echo | × plain server | UDP rcvbuf drops (host) |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		printf '%s\n' "${RESULTS_C[@]}"
		echo
		echo "Commands (PID = the target's pid):"
		echo '```'
		printf '%s\n' "${CMDS_C[@]}"
		echo '```'
	fi
	if [ ${#RESULTS_F[@]} -gt 0 ]; then
		echo
		echo "## (f) Outbound call set-up through the API"
		echo
		echo "bench/out_load.mjs: CreateSIPParticipant with waitUntilAnswered at a fixed rate (token bucket, ≤ 400 waiting),"
		echo "each call its own room, through an outbound trunk to SIPp (bench/sipp/uas_answer_hold.xml: 100, 180, 200,"
		echo "ACK, 1 s held, the callee's BYE; no RTP). Achieved = answered calls / the driver's wall time. API latency ="
		echo "request → reply (after the 200 and our ACK). CPU is % of one core over the driver's run: server, driver"
		echo "(node; sdk = livekit-server-sdk signing a JWT per call, fetch = one token a second) and SIPp."
		echo "Target ≥ 200 calls/s, 0 failed. A driver near 100 % is the bottleneck, not the server."
		echo
		echo "| rate/s | s | driver | SIP | placed | ok | failed | achieved cps | API p50 / p99 ms | server CPU % | driver CPU % | SIPp CPU % | SIP retrans | UDP drops (server's SIP socket / host) | calls left | exit / time | log |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		printf '%s\n' "${RESULTS_F[@]}"
		echo
		echo "Commands:"
		echo '```'
		printf '%s\n' "${CMDS_F[@]}"
		echo '```'
	fi
	if [ ${#RESULTS_E[@]} -gt 0 ]; then
		echo
		echo "## (e) WebRTC"
		echo
		echo "build/tools/rtc_client: a LiveKit WebRTC client in C on voxgate's own ICE/DTLS/SRTP code (not libwebrtc)."
		echo "Join: WebSocket open → subscriber connection connected (SRTP keyed), sequential joins into a call's room."
		echo "Cost: the server's CPU (utime+stime, /proc) and peak RSS over a ${WR_SECS} s window with the calls alone, then"
		echo "with one participant per call; the difference per participant. Latency: one process is the phone (plain RTP)"
		echo "and the client; phone → WebRTC by payload, WebRTC → phone by Opus bursts (includes the jitter buffer and the 20 ms tick)."
		echo
		echo "| what | load | outcome | figures | target |"
		echo "|---|---|---|---|---|"
		printf '%s\n' "${RESULTS_E[@]}"
		echo
		echo "Commands:"
		echo '```'
		printf '%s\n' "${CMDS_E[@]}"
		echo '```'
	fi
	echo
	echo "## Problems seen"
	echo
	if [ ${#PROBLEMS[@]} -eq 0 ]; then
		echo "none"
	else
		printf -- '- %s\n' "${PROBLEMS[@]}"
	fi
} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
case " $ONLY " in *" d "*)
	BENCH_OUT_AGENT=$(realpath "$OUT") VOXGATE_BIN=$(realpath "$VOXGATE") \
		bash bench/agent.sh || STATUS=1
	;;
esac
case " $ONLY " in *" v "*)
	BENCH_OUT_VAD=$(realpath "$OUT") bash bench/vad_bench.sh || STATUS=1
	;;
esac
case " $ONLY " in *" n "*)
	BENCH_OUT_DENSITY=$(realpath "$OUT") VOXGATE_BIN=$(realpath "$VOXGATE") \
		bash bench/density.sh || STATUS=1
	;;
esac
cp "$OUT" "$RUN/results.md"
log "results in $OUT"
exit $STATUS
