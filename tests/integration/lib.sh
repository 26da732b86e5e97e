# shellcheck shell=bash
# Variables set here (VG_*) are read by the scripts that source this file.
# shellcheck disable=SC2034
# Shared helpers for the integration tests. Source it from a *_test.sh script:
#
#   . "$(dirname "$0")/lib.sh"
#   vg_server_start --media_timeout 2s || vg_abort "server did not start"
#   vg_case options case_options   # prints "ok options" or "FAIL options: ..."
#   vg_server_stop_case clean_exit # SIGTERM; exit code 0 expected
#   vg_finish                      # exits 1 if any case failed
#
# A case is a shell function that returns 0 on success, or sets VG_REASON
# (with vg_reason) and returns non-zero. vg_case prints exactly one line per
# case and, on failure, the tails of the logs the case produced.
#
# Everything a test starts is registered with vg_track and killed by the EXIT
# trap; temporary files live in VG_TMP, which is removed at exit (copied to
# build/test-logs/<script>-artifacts/ when something failed, or kept in
# place when VG_KEEP=1). Every wait has a timeout.
#
# Environment: VOXGATE_BIN (default build/asan/voxgate), VG_KEEP=1,
# VG_VERBOSE=1 (echo sipp/server command lines), VG_LOG_DIR (where failed
# artifacts go, default build/test-logs).

set -u

VG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VG_BIN=${VOXGATE_BIN:-$VG_ROOT/build/asan/voxgate}
VG_SCEN=$VG_ROOT/tests/integration/scenarios
VG_TOOLS=$VG_ROOT/build/tools
VG_NAME=$(basename "$0" .sh)
VG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/voxgate-$VG_NAME.XXXXXX")
VG_FAILED=0
VG_REASON=
VG_PIDS=()
VG_USED_PORTS=" "
VG_SERVER_PID=
VG_SERVER_LOG=
VG_SERVER_N=0
VG_SIP_PORT=
VG_CASE=
VG_CDIR=$VG_TMP
VG_MARK=0

# ASan: report leaks at exit, keep going into a non-zero exit code.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# Ports handed out come from below the Linux ephemeral range (32768+) and
# above the server's default RTP range (10000-20000).
VG_PORT_LO=20000
VG_PORT_HI=32000

# ==== process bookkeeping ====

vg_track() {
	VG_PIDS+=("$1")
}

# vg_kill_pid PID [GRACE_S]: SIGTERM, wait up to GRACE_S (default 3), SIGKILL.
# When PID leads its own process group (the server runs under setsid, and
# timeout(1) makes one for sipp and baresip), the whole group is signalled,
# so no grandchild outlives the test.
vg_kill_pid() {
	local pid=$1 grace=${2:-3} i target pgid
	pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
	target=$pid
	[ "$pgid" = "$pid" ] && target=-$pid
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "$target" 2>/dev/null
		for ((i = 0; i < grace * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL -- "$target" 2>/dev/null
			sleep 0.1
		fi
	fi
	# leftovers of the group once its leader is gone
	[ "$target" = "$pid" ] || kill -KILL -- "$target" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# vg_wait_pid PID TIMEOUT_S: waits for a child to exit; sets VG_RC to its exit
# code. Returns 1 (child left running) on timeout.
vg_wait_pid() {
	local pid=$1 timeout=$2 i
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		VG_RC=
		return 1
	fi
	wait "$pid" 2>/dev/null
	VG_RC=$?
	return 0
}

vg_cleanup() {
	local pid dest
	for pid in "${VG_PIDS[@]}"; do
		vg_kill_pid "$pid" 2
	done
	if [ "${VG_KEEP:-0}" = 1 ]; then
		echo "# artifacts kept in $VG_TMP"
		return
	fi
	if [ "$VG_FAILED" -ne 0 ]; then
		dest=$VG_ROOT/${VG_LOG_DIR:-build/test-logs}/$VG_NAME-artifacts
		rm -rf "$dest"
		mkdir -p "$dest" && cp -r "$VG_TMP"/. "$dest"/ 2>/dev/null &&
			echo "# artifacts copied to $dest"
	fi
	rm -rf "$VG_TMP"
}
trap vg_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# ==== ports ====

# vg_busy_ports: " p1 p2 ... " - every local UDP/TCP port in use right now
# (listening or connected), from one ss call.
vg_busy_ports() {
	printf ' '
	ss -Hantu 2>/dev/null | awk '{ n = split($5, a, ":"); printf "%s ", a[n] }'
}

# vg_pick_port [COUNT]: prints the first of COUNT consecutive free ports
# (even, so it can serve as an RTP port), never one handed out before in this
# script. Random, so concurrent test runs rarely even try the same ports.
vg_pick_port() {
	local count=${1:-1} try base p ok busy
	busy=$(vg_busy_ports)
	for ((try = 0; try < 200; try++)); do
		base=$(((RANDOM << 15 | RANDOM) % (VG_PORT_HI - VG_PORT_LO - count)))
		base=$(((VG_PORT_LO + base) & ~1))
		ok=1
		for ((p = base; p < base + count; p++)); do
			if [[ $VG_USED_PORTS == *" $p "* || $busy == *" $p "* ]]; then
				ok=0
				break
			fi
		done
		if [ "$ok" = 1 ]; then
			echo "$base"
			return 0
		fi
	done
	echo "vg_pick_port: no free range of $count ports" >&2
	return 1
}

# Command substitution runs in a subshell, so the "used" list would be lost:
# callers use this form instead: vg_pick_port_into VAR [COUNT].
vg_pick_port_into() {
	local __v=$1 __p
	__p=$(vg_pick_port "${2:-1}") || return 1
	local __i
	for ((__i = __p; __i < __p + ${2:-1}; __i++)); do
		VG_USED_PORTS+="$__i "
	done
	printf -v "$__v" '%s' "$__p"
}

# ==== results ====

vg_reason() {
	VG_REASON=$*
}

vg_dump_logs() {
	local f
	if [ -n "$VG_SERVER_LOG" ] && [ -f "$VG_SERVER_LOG" ]; then
		echo "--- server log ($VG_SERVER_LOG), last 40 lines:"
		tail -n 40 "$VG_SERVER_LOG" | sed 's/^/    /'
	fi
	if [ -z "$VG_CASE" ] || [ ! -d "$VG_CDIR" ] || [ "$VG_CDIR" = "$VG_TMP" ]; then
		echo "---"
		return 0
	fi
	for f in "$VG_CDIR"/*; do
		[ -s "$f" ] || continue
		case $f in
		*.errors.log | *.logs.log | *baresip.log | *.dumpcap.log)
			echo "--- $(basename "$f"), last 25 lines:"
			tail -n 25 "$f" | sed 's/^/    /'
			;;
		*.out)
			# sipp's screen: only when sipp left no error log
			[ -s "${f%.out}.errors.log" ] && continue
			echo "--- $(basename "$f"), last 12 lines:"
			tail -n 12 "$f" | sed 's/^/    /'
			;;
		esac
	done
	echo "---"
}

# vg_fail_line NAME REASON: reports one failed check outside of vg_case.
vg_fail_line() {
	echo "FAIL $1: $2"
	VG_FAILED=1
	vg_dump_logs
}

# vg_case NAME FUNCTION [ARGS...]: runs one test case.
vg_case() {
	local name=$1 fn=$2 rc start=$SECONDS
	shift 2
	VG_CASE=$name
	VG_CDIR=$VG_TMP/$name
	VG_REASON=
	mkdir -p "$VG_CDIR"
	vg_mark
	"$fn" "$@"
	rc=$?
	if [ "$rc" -eq 0 ] && [ -n "$VG_SERVER_PID" ] &&
		! kill -0 "$VG_SERVER_PID" 2>/dev/null; then
		rc=1
		VG_REASON="server process died during the case"
	fi
	if [ "$rc" -eq 0 ]; then
		echo "ok $name"
	else
		echo "FAIL $name: ${VG_REASON:-case returned $rc}"
		VG_FAILED=1
		vg_dump_logs
	fi
	[ "${VG_VERBOSE:-0}" = 1 ] && echo "# $name took $((SECONDS - start)) s"
	VG_CASE=
	VG_CDIR=$VG_TMP
	return 0
}

# vg_skip_cases REASON NAME...: reports cases that could not run as failed.
vg_skip_cases() {
	local reason=$1 n
	shift
	for n in "$@"; do
		echo "FAIL $n: $reason"
	done
	VG_FAILED=1
}

vg_finish() {
	exit "$VG_FAILED"
}

# vg_abort REASON: a setup step failed; one FAIL line, logs, exit 1.
vg_abort() {
	vg_fail_line "$VG_NAME" "$1"
	exit 1
}

# ==== tools ====

vg_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || vg_abort "missing program: $c"
	done
}

# vg_build_tool NAME: builds build/tools/NAME if needed (make rule).
vg_build_tool() {
	[ -x "$VG_TOOLS/$1" ] && [ "$VG_TOOLS/$1" -nt "$VG_ROOT/tests/tools/$1.c" ] &&
		return 0
	make -s -C "$VG_ROOT" "build/tools/$1" >"$VG_TMP/make-$1.log" 2>&1 || {
		cat "$VG_TMP/make-$1.log"
		return 1
	}
}

# vg_xcorr [xcorr args] REF TEST: runs xcorr; sets VG_LAG_MS and VG_CORR.
vg_xcorr() {
	local out
	VG_LAG_MS=
	VG_CORR=
	out=$("$VG_TOOLS/xcorr" "$@" 2>&1) || {
		vg_reason "xcorr failed: $out"
		return 1
	}
	VG_LAG_MS=$(sed -n 's/.*lag_ms=\([-0-9.]*\).*/\1/p' <<<"$out")
	VG_CORR=$(sed -n 's/.*corr=\([-0-9.]*\).*/\1/p' <<<"$out")
	if [ -z "$VG_LAG_MS" ] || [ -z "$VG_CORR" ]; then
		vg_reason "xcorr printed: $out"
		return 1
	fi
}

# vg_fcmp A OP B: floating point comparison (OP one of < <= > >=).
vg_fcmp() {
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		if (op == "<") r = a < b; else if (op == "<=") r = a <= b;
		else if (op == ">") r = a > b; else r = a >= b;
		exit !r }'
}

# ==== audio fixtures ====

# vg_make_speech OUT.wav "TEXT" [sox effects...]: espeak-ng speech as 8 kHz
# mono 16-bit WAV. Deterministic: sox -D (no dither).
vg_make_speech() {
	local out=$1 text=$2 raw
	shift 2
	raw=$(mktemp "$VG_TMP/espeak.XXXXXX")
	espeak-ng -v en-us -s 160 -w "$raw" "$text" >/dev/null 2>&1 || {
		vg_reason "espeak-ng failed"
		rm -f "$raw"
		return 1
	}
	sox -D -t wav "$raw" -r 8000 -c 1 -b 16 -e signed-integer "$out" "$@" || {
		vg_reason "sox failed making $out"
		rm -f "$raw"
		return 1
	}
	rm -f "$raw"
}

# vg_wav_to_g711 IN.wav OUT.{ul,al}: raw G.711 for sipp rtp_stream.
vg_wav_to_g711() {
	local enc=u-law
	[[ $2 == *.al ]] && enc=a-law
	sox -D "$1" -r 8000 -c 1 -e "$enc" -t raw "$2"
}

# vg_speech_fixture: $VG_TMP/speech.wav, about 7 s of espeak-ng speech
# (8 kHz S16 mono), made once per script. Path in VG_SPEECH.
VG_SPEECH=$VG_TMP/speech.wav
vg_speech_fixture() {
	[ -s "$VG_SPEECH" ] && return 0
	vg_make_speech "$VG_SPEECH" \
		"Hello, you are talking to the voice gateway. This sentence \
comes back to you as an echo, one two three four five."
}

# vg_check_echo PCAP PORT SENT PT MIN_PACKETS MIN_CORR: PCAP holds both
# directions of the caller's RTP on PORT (capture filter "udp port PORT",
# started before the call). The RTP sent back to PORT must have payload type
# PT only and at least MIN_PACKETS packets; placed on the caller's time line
# (vg_rtp_timeline) and decoded with sox, it must correlate with SENT (the
# raw .ul/.al or .wav the caller streamed from its start) at MIN_CORR or
# better (median over 500 ms windows, so a dropped frame costs one window),
# lagging it by 0-400 ms. Sets VG_RTP_COUNT, VG_RTP_PTS, VG_LAG_MS
# (the echo delay on the wire) and VG_CORR.
vg_check_echo() {
	local pcap=$1 port=$2 sent=$3 pt=$4 min_pkts=$5 min_corr=$6 enc=ul
	[ "$pt" = 8 ] && enc=al
	vg_rtp_extract "$pcap" "$port" "$pcap.rx-concat.$enc"
	if [ "$VG_RTP_COUNT" -lt "$min_pkts" ]; then
		vg_reason "only $VG_RTP_COUNT RTP packets came back to port $port (want >= $min_pkts)"
		return 1
	fi
	if [ "$VG_RTP_PTS" != "$pt" ]; then
		vg_reason "RTP back to port $port had payload types '$VG_RTP_PTS', want '$pt'"
		return 1
	fi
	vg_rtp_timeline "$pcap" "$port" "$port" "$pcap.tx.$enc" "$pcap.rx.$enc" ||
		return 1
	sox -D -t "$enc" -r 8000 -c 1 "$pcap.rx.$enc" -b 16 -e signed-integer \
		"$pcap.rx.wav" || {
		vg_reason "sox could not decode the received payload"
		return 1
	}
	vg_xcorr -w 500 -m 1000 "$sent" "$pcap.rx.wav" || return 1
	echo "# $VG_CASE: $VG_RTP_COUNT packets back, PT $VG_RTP_PTS, echo delay lag_ms=$VG_LAG_MS corr=$VG_CORR"
	if ! vg_fcmp "$VG_CORR" ">=" "$min_corr"; then
		vg_reason "returned audio does not match what was sent: corr=$VG_CORR (want >= $min_corr), lag_ms=$VG_LAG_MS, $VG_RTP_COUNT packets"
		return 1
	fi
	if vg_fcmp "$VG_LAG_MS" "<" -5 || vg_fcmp "$VG_LAG_MS" ">" 400; then
		vg_reason "echo delay $VG_LAG_MS ms, want 0-400 ms"
		return 1
	fi
}

# vg_call_end_check BY [TIMEOUT_S]: waits for the call_end event since the
# mark and checks its "by" field. The event line goes to VG_CALL_END.
vg_call_end_check() {
	local by
	vg_wait_event call_end "${2:-3}" || return 1
	VG_CALL_END=$(vg_events call_end | tail -n 1)
	by=$(vg_jfield "$VG_CALL_END" by)
	if [ "$by" != "$1" ]; then
		vg_reason "call_end by=$by (want $1): $VG_CALL_END"
		return 1
	fi
}

# ==== the server ====

# vg_server_start [--key value ...]: starts $VG_BIN serve on 127.0.0.1 with a
# free SIP port (UDP+TCP), a free RTP range and the audio-echo agent (unless
# given), JSON logs to VG_SERVER_LOG;
# waits up to 10 s for the "listening" event.
# shellcheck disable=SC2120 # the flags are optional
vg_server_start() {
	local rtp_base i
	VG_REASON=
	if [ ! -x "$VG_BIN" ]; then
		vg_reason "server binary $VG_BIN not built"
		return 1
	fi
	vg_pick_port_into VG_SIP_PORT 1 || return 1
	vg_pick_port_into rtp_base 200 || return 1
	VG_SERVER_N=$((VG_SERVER_N + 1))
	VG_SERVER_LOG=$VG_TMP/server.$VG_SERVER_N.log
	VG_SERVER_ARGS=(serve --sip_host 127.0.0.1 --sip_port "$VG_SIP_PORT"
		--rtp_port_range "$rtp_base-$((rtp_base + 199))"
		--log_format json --log_level debug
		--http_port 0 --db "$VG_TMP/voxgate.$VG_SERVER_N.db"
		--agent audio-echo "$@")
	[ "${VG_VERBOSE:-0}" = 1 ] && echo "# $VG_BIN ${VG_SERVER_ARGS[*]}"
	# own process group (setsid), so cleanup can signal all of it
	setsid "$VG_BIN" "${VG_SERVER_ARGS[@]}" </dev/null \
		>"$VG_SERVER_LOG.stdout" 2>"$VG_SERVER_LOG" &
	VG_SERVER_PID=$!
	vg_track "$VG_SERVER_PID"
	VG_MARK=0
	for ((i = 0; i < 100; i++)); do
		if vg_log_has_event listening; then
			return 0
		fi
		if ! kill -0 "$VG_SERVER_PID" 2>/dev/null; then
			wait "$VG_SERVER_PID"
			vg_reason "server exited with $? before listening: $(head -c 300 "$VG_SERVER_LOG" | tr '\n' ' ')"
			VG_SERVER_PID=
			return 1
		fi
		sleep 0.1
	done
	vg_reason "no \"listening\" event within 10 s"
	vg_kill_pid "$VG_SERVER_PID"
	VG_SERVER_PID=
	return 1
}

# vg_server_stop: SIGTERM, wait (VG_STOP_TIMEOUT s, default 10), expect
# exit code 0 and no sanitizer report.
vg_server_stop() {
	local pid=$VG_SERVER_PID timeout=${VG_STOP_TIMEOUT:-10}
	VG_REASON=
	if [ -z "$pid" ]; then
		vg_reason "server not running"
		return 1
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		vg_reason "server already exited (code $?) before SIGTERM"
		VG_SERVER_PID=
		return 1
	fi
	kill -TERM "$pid"
	vg_server_wait_exit "$timeout"
}

# vg_server_stop_case NAME: vg_server_stop reported as a case of its own
# ("ok NAME" when the server exits 0 with no sanitizer report).
vg_server_stop_case() {
	VG_CASE=$1
	if vg_server_stop; then
		echo "ok $1"
	else
		echo "FAIL $1: $VG_REASON"
		VG_FAILED=1
		vg_dump_logs
	fi
	VG_CASE=
}

# vg_server_wait_exit TIMEOUT_S: waits for the server (already signalled)
# to exit with code 0.
vg_server_wait_exit() {
	local pid=$VG_SERVER_PID
	if ! vg_wait_pid "$pid" "$1"; then
		vg_reason "server still running $1 s after SIGTERM"
		vg_kill_pid "$pid" 1
		VG_SERVER_PID=
		return 1
	fi
	VG_SERVER_PID=
	if [ "$VG_RC" -ne 0 ]; then
		vg_reason "server exited with code $VG_RC$(vg_sanitizer_summary)"
		return 1
	fi
	if grep -q -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$VG_SERVER_LOG"; then
		vg_reason "sanitizer report in server log$(vg_sanitizer_summary)"
		return 1
	fi
	return 0
}

vg_sanitizer_summary() {
	local s
	s=$(grep -m1 -E 'SUMMARY: |runtime error:' "$VG_SERVER_LOG" 2>/dev/null)
	[ -n "$s" ] && printf ' (%s)' "$s"
}

vg_server_alive() {
	[ -n "$VG_SERVER_PID" ] && kill -0 "$VG_SERVER_PID" 2>/dev/null
}

vg_need_server() {
	vg_server_alive && return 0
	vg_reason "server is not running"
	return 1
}

# ==== server log (JSON lines) ====

# vg_mark: later event lookups only see log lines written after this point.
vg_mark() {
	if [ -n "$VG_SERVER_LOG" ] && [ -f "$VG_SERVER_LOG" ]; then
		VG_MARK=$(wc -l <"$VG_SERVER_LOG")
	else
		VG_MARK=0
	fi
}

# vg_events EVENT: prints the log lines since the mark with "event":"EVENT".
vg_events() {
	[ -f "$VG_SERVER_LOG" ] || return 0
	tail -n +"$((VG_MARK + 1))" "$VG_SERVER_LOG" |
		grep -E "\"event\" *: *\"$1\"" || true
}

vg_log_has_event() {
	[ -n "$(vg_events "$1")" ]
}

# vg_wait_event EVENT TIMEOUT_S: waits for an event line since the mark.
vg_wait_event() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		vg_log_has_event "$1" && return 0
		sleep 0.1
	done
	vg_reason "no \"$1\" event in the server log within $2 s"
	return 1
}

# vg_jfield LINE KEY: the value of a top-level JSON string/number field.
vg_jfield() {
	sed -n -E "s/.*\"$2\" *: *(\"([^\"\\\\]*)\"|([-0-9.eE+]+|true|false|null)).*/\2\3/p" <<<"$1" |
		head -n 1
}

# vg_whole_log: the checks that follow read the whole server log, not the
# lines since their case began.
vg_whole_log() {
	VG_MARK=0
}

# vg_turn N: the Nth turn line (from 1) since the mark.
vg_turn() {
	vg_events turn | sed -n "${1}p"
}

# vg_goodbye_heard N GOODBYE: the agent's end_call: turn N's reply was
# GOODBYE, heard whole, and the agent hung up ("dialog ended") only after
# that turn was reported, i.e. once the goodbye had been played. Reads the
# whole server log.
vg_goodbye_heard() {
	local t turn_at hang_at end_at
	t=$(VG_MARK=0 vg_turn "$1")
	if [ "$(vg_jfield "$t" reply)" != "$2" ] || [ "$(vg_jfield "$t" interrupted)" != false ]; then
		vg_reason "the goodbye was not heard whole: $t"
		return 1
	fi
	turn_at=$(grep -nE '"event" *: *"turn"' "$VG_SERVER_LOG" | sed -n "${1}p" | cut -d: -f1)
	hang_at=$(grep -nE '"event" *: *"agent_hangup"' "$VG_SERVER_LOG" | head -n 1 | cut -d: -f1)
	if [ -z "$turn_at" ] || [ -z "$hang_at" ] || [ "$hang_at" -lt "$turn_at" ]; then
		vg_reason "the hangup (line $hang_at) came before the goodbye was played (line $turn_at)"
		return 1
	fi
	end_at=$(grep -E '"event" *: *"agent_hangup"' "$VG_SERVER_LOG" | head -n 1)
	[ "$(vg_jfield "$end_at" reason)" = "dialog ended" ] || {
		vg_reason "agent_hangup: $end_at"
		return 1
	}
}

# ==== speech provider stand-ins ====

# vg_standins_start OPTIONS_JSON NAME...: the stand-ins of standins/serve.mjs
# (deepgram, openai, realtime, elevenlabs, cartesia) on loopback, each
# one's log in $VG_STANDIN_DIR/NAME.jsonl; aborts the script when one does
# not come up. vg_standin_url NAME: the base URL it serves on.
vg_standins_start() {
	local opts=$1 i n
	shift
	VG_STANDIN_DIR=$VG_TMP/standins
	mkdir -p "$VG_STANDIN_DIR"
	node "$VG_ROOT/tests/integration/standins/serve.mjs" --log "$VG_STANDIN_DIR" \
		--options "$opts" "$@" >"$VG_TMP/standins.out" 2>"$VG_TMP/standins.err" &
	vg_track $!
	for ((i = 0; i < 100; i++)); do
		[ -s "$VG_TMP/standins.out" ] && break
		sleep 0.1
	done
	for n in "$@"; do
		[ -n "$(vg_standin_url "$n")" ] ||
			vg_abort "the $n stand-in did not start: $(head -c 300 "$VG_TMP/standins.err")"
	done
}

vg_standin_url() {
	head -n 1 "$VG_TMP/standins.out" 2>/dev/null |
		jq -r --arg n "$1" '.[$n].url // empty'
}

# ==== sipp ====

# vg_sipp_cmd LABEL SCENARIO [sipp args...]: builds VG_SIPP_CMD, one call
# (-m 1) from sipp to the server, with logs LABEL.{errors,messages,logs}.log
# in VG_CDIR. Uses SIPP_PORT / SIPP_MP when set, else picks free ones.
vg_sipp_cmd() {
	local label=$1 scen=$2 port=${SIPP_PORT:-} mp=${SIPP_MP:-}
	shift 2
	[ -n "$port" ] || vg_pick_port_into port 1 || return 1
	[ -n "$mp" ] || vg_pick_port_into mp 4 || return 1
	[[ $scen == /* ]] || scen=$VG_SCEN/$scen
	VG_SIPP_CMD=(timeout -k 2 "$((${SIPP_TIMEOUT:-20} + 5))"
		sipp "127.0.0.1:$VG_SIP_PORT" -sf "$scen" -i 127.0.0.1
		-s echo -p "$port" -mi 127.0.0.1 -mp "$mp" -m 1 -nostdin
		-timeout "${SIPP_TIMEOUT:-20}s" -timeout_error
		-trace_err -error_file "$VG_CDIR/$label.errors.log"
		-trace_msg -message_file "$VG_CDIR/$label.messages.log"
		-trace_logs -log_file "$VG_CDIR/$label.logs.log" "$@")
	[ "${VG_VERBOSE:-0}" = 1 ] && echo "# ${VG_SIPP_CMD[*]}"
	return 0
}

# vg_sipp LABEL SCENARIO [sipp args...]: runs sipp (see vg_sipp_cmd) in
# VG_CDIR, so rtp_stream files are found there; its screen goes to
# LABEL.out. Sets VG_RC and VG_SIPP_RC; returns the exit code.
vg_sipp() {
	local label=$1
	vg_sipp_cmd "$@" || return 1
	(cd "$VG_CDIR" && exec "${VG_SIPP_CMD[@]}" >"$VG_CDIR/$label.out" 2>&1)
	VG_RC=$?
	VG_SIPP_RC=$VG_RC
	return "$VG_RC"
}

# vg_sipp_bg LABEL SCENARIO [args]: like vg_sipp, in the background. The pid
# (of timeout(1), which leads sipp's process group) goes to VG_BG_PID;
# collect it with vg_wait_pid, then set VG_SIPP_RC=$VG_RC for vg_sipp_why.
vg_sipp_bg() {
	local label=$1
	vg_sipp_cmd "$@" || return 1
	(cd "$VG_CDIR" && exec "${VG_SIPP_CMD[@]}" >"$VG_CDIR/$label.out" 2>&1) &
	VG_BG_PID=$!
	vg_track "$VG_BG_PID"
}

# vg_sipp_why LABEL: a one-line summary of why a sipp run failed.
vg_sipp_why() {
	local label=$1 f=$VG_CDIR/$1.errors.log msg=
	if [ -s "$f" ]; then
		# drop the header and the timestamps, join the (multi-line) events
		msg=$(grep -v 'The following events occurred' "$f" |
			sed -E 's/^[0-9-]+\t[0-9:.]+\t[0-9.]+: //' |
			tr -s '\r\n\t' '   ' | cut -c 1-400)
	fi
	if [ -z "$msg" ]; then
		msg=$(grep -m 3 -i -E 'error|unable|cannot|failed' \
			"$VG_CDIR/$label.out" 2>/dev/null | tr '\n' ' ' | cut -c 1-300)
	fi
	case $VG_SIPP_RC in
	124 | 137) msg="sipp killed by the test's timeout; $msg" ;;
	esac
	echo "sipp exit $VG_SIPP_RC: ${msg:-no error log}"
}

# vg_sipp_log LABEL KEY: value logged by a scenario <log message="KEY=..."/>.
vg_sipp_log() {
	sed -n "s/^$2=//p" "$VG_CDIR/$1.logs.log" 2>/dev/null | tail -n 1 | tr -d '\r'
}

# ==== packet capture ====

# vg_capture_start FILE FILTER: dumpcap on lo with a capture filter; waits
# until it is capturing (5 s). Pid in VG_CAP_PID.
vg_capture_start() {
	local file=$1 filter=$2 i
	dumpcap -i lo -f "$filter" -w "$file" -q -a duration:60 \
		>"$file.dumpcap.log" 2>&1 &
	VG_CAP_PID=$!
	vg_track "$VG_CAP_PID"
	for ((i = 0; i < 50; i++)); do
		grep -q 'Capturing on' "$file.dumpcap.log" 2>/dev/null && return 0
		if ! kill -0 "$VG_CAP_PID" 2>/dev/null; then
			vg_reason "dumpcap failed: $(tr '\n' ' ' <"$file.dumpcap.log")"
			return 1
		fi
		sleep 0.1
	done
	vg_reason "dumpcap did not start capturing within 5 s"
	return 1
}

vg_capture_stop() {
	sleep 0.2 # let the last packets in flight land
	kill -INT "$VG_CAP_PID" 2>/dev/null
	vg_wait_pid "$VG_CAP_PID" 5 || vg_kill_pid "$VG_CAP_PID" 1
}

# vg_rtp_extract PCAP DST_PORT OUT.raw: concatenates the payloads of the RTP
# packets sent to DST_PORT (in capture order) into OUT.raw; VG_RTP_PTS gets
# the distinct payload types seen and VG_RTP_COUNT the packet count.
vg_rtp_extract() {
	local pcap=$1 port=$2 out=$3 fields
	fields=$(timeout 60 tshark -r "$pcap" -d "udp.port==$port,rtp" \
		-Y "rtp && udp.dstport == $port" \
		-T fields -e rtp.p_type -e rtp.payload 2>/dev/null)
	VG_RTP_COUNT=$(grep -c . <<<"$fields")
	VG_RTP_PTS=$(cut -f1 <<<"$fields" | grep . | sort -un | tr '\n' ' ')
	VG_RTP_PTS=${VG_RTP_PTS% }
	cut -f2 <<<"$fields" |
		perl -ne 's/[^0-9a-fA-F]//g; print pack("H*", $_)' >"$out"
}

# vg_rtp_timeline PCAP LO HI TX RX: puts the two directions of a G.711 RTP
# stream in PCAP on one time line (8000 samples a second from the first
# packet either way): packets from a UDP port in LO..HI go to TX, packets to
# a port in LO..HI go to RX (raw u-law or A-law as the payload type says;
# gaps are silence). Within a stream, a packet sits at its RTP timestamp; the
# stream as a whole sits at the median of (arrival time - RTP time) over its
# packets, so capture jitter does not chop the audio. xcorr TX RX then gives
# the delay on the wire. Sets VG_TX_COUNT / VG_RX_COUNT.
vg_rtp_timeline() {
	local pcap=$1 lo=$2 hi=$3 tx=$4 rx=$5 counts
	counts=$(timeout 60 tshark -r "$pcap" -d "udp.port==$lo-$hi,rtp" \
		-Y "rtp && (rtp.p_type == 0 || rtp.p_type == 8)" -T fields \
		-e frame.time_epoch -e udp.srcport -e udp.dstport -e rtp.p_type \
		-e rtp.timestamp -e rtp.payload 2>/dev/null |
		perl -e '
		my ($lo, $hi, $txf, $rxf) = @ARGV;
		my ($t0, %pk);
		my $fill = "\xff";
		while (<STDIN>) {
			chomp;
			my ($t, $sp, $dp, $pt, $ts, $hex) = split /\t/;
			next unless defined $hex;
			$hex =~ s/[^0-9a-fA-F]//g;
			$fill = $pt == 8 ? "\xd5" : "\xff";
			$t0 = $t unless defined $t0;
			my $k = ($sp >= $lo && $sp <= $hi) ? "tx"
			      : ($dp >= $lo && $dp <= $hi) ? "rx" : next;
			push @{$pk{$k}}, [($t - $t0) * 8000, $ts, pack("H*", $hex)];
		}
		my @n;
		for ([$txf, "tx"], [$rxf, "rx"]) {
			my ($file, $k) = @$_;
			my @p = @{$pk{$k} // []};
			my $buf = "";
			if (@p) {
				my $ts0 = $p[0][1];
				my @rel = map { ($_->[1] - $ts0) % 4294967296 } @p;
				my @d = sort { $a <=> $b }
					map { $p[$_][0] - $rel[$_] } 0 .. $#p;
				my $anchor = $d[int(@d / 2)];
				$anchor = 0 if $anchor < 0;
				for my $i (0 .. $#p) {
					my $off = int($anchor + $rel[$i] + 0.5);
					my $b = $p[$i][2];
					$buf .= $fill x ($off - length $buf)
						if length $buf < $off;
					substr($buf, $off, length $b) = $b;
				}
			}
			open(my $f, ">", $file) or die "$file: $!";
			binmode $f;
			print $f $buf;
			close $f;
			push @n, scalar @p;
		}
		print "@n\n";
		' "$lo" "$hi" "$tx" "$rx")
	read -r VG_TX_COUNT VG_RX_COUNT <<<"$counts"
	[ -n "${VG_RX_COUNT:-}" ] || {
		vg_reason "could not read RTP from $pcap"
		return 1
	}
}

# ==== baresip ====

# vg_baresip_config DIR SOURCE.wav: a config dir for a headless baresip
# caller (PCMU only) whose microphone is SOURCE.wav (8 kHz S16 mono; baresip
# hangs up when it ends, so pad it) and whose sndfile module records
# DIR/rec/dump-*-enc.wav (sent) and -dec.wav (received; each file starts at
# its first frame, so the two are not aligned in time). Picks its SIP port
# (VG_BS_SIP_PORT) and RTP ports (VG_BS_RTP_LO..VG_BS_RTP_HI).
vg_baresip_config() {
	local dir=$1 src=$2
	mkdir -p "$dir/rec"
	vg_pick_port_into VG_BS_SIP_PORT 1 || return 1
	vg_pick_port_into VG_BS_RTP_LO 10 || return 1
	# shellcheck disable=SC2153 # set by vg_pick_port_into
	VG_BS_RTP_HI=$((VG_BS_RTP_LO + 9))
	cat >"$dir/config" <<EOF
poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:$VG_BS_SIP_PORT
rtp_ports		$VG_BS_RTP_LO-$VG_BS_RTP_HI
audio_player		alsa,null
audio_source		aufile,$src
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			alsa.so
module			sndfile.so
module_tmp		account.so
module_app		menu.so
snd_path		$dir/rec
EOF
	echo "<sip:caller@127.0.0.1:$VG_BS_SIP_PORT>;regint=0;audio_codecs=PCMU" \
		>"$dir/accounts"
}

# vg_baresip_dial DIR URI SECONDS: runs baresip from DIR (made by
# vg_baresip_config), dials URI and quits (BYE) SECONDS after it starts.
# Log: DIR/baresip.log. Sets VG_RC to baresip's exit code.
vg_baresip_dial() {
	local dir=$1 uri=$2 secs=$3
	(cd "$dir" && exec timeout -k 2 "$((secs + 10))" baresip -f "$dir" \
		-e "/dial $uri" -t "$secs" </dev/null >"$dir/baresip.log" 2>&1)
	VG_RC=$?
	return "$VG_RC"
}

# vg_baresip_recordings DIR: sets VG_BS_ENC / VG_BS_DEC to the sndfile
# recordings (sent / received), empty when missing.
vg_baresip_recordings() {
	VG_BS_ENC=$(find "$1/rec" -name 'dump-*-enc.wav' 2>/dev/null | sort | tail -n 1)
	VG_BS_DEC=$(find "$1/rec" -name 'dump-*-dec.wav' 2>/dev/null | sort | tail -n 1)
}
