#!/usr/bin/env bash
# Graceful shutdown: SIGTERM while a call is up. A new INVITE gets 503,
# GET /healthz answers 503 (a load balancer stops sending), the call in
# progress keeps its echo until the caller's BYE, then the server exits 0.
# Case: sigterm_drain.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox espeak-ng curl

case_sigterm_drain() {
	local pid rc ce pin pout health
	vg_need_server || return 1
	vg_speech_fixture || return 1
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || return 1
	# call A: streams for 4 s, then hangs up
	vg_sipp_bg callA uac_echo_pcmu.xml -d 4000 || return 1
	pid=$VG_BG_PID
	vg_wait_event established 5 || vg_wait_event answered 1 || {
		vg_reason "call A was not answered: $VG_REASON"
		return 1
	}
	sleep 1
	health=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$VG_HTTP_PORT/healthz")
	if [ "$health" != 200 ]; then
		vg_reason "GET /healthz before SIGTERM: $health, not 200"
		return 1
	fi
	kill -TERM "$VG_SERVER_PID"
	vg_wait_event draining 3 || return 1
	# draining: the health check tells a load balancer to stop sending
	health=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$VG_HTTP_PORT/healthz")
	if [ "$health" != "draining 503" ]; then
		vg_reason "GET /healthz while draining: \"$health\", not \"draining 503\""
		return 1
	fi
	# call B, while draining: must be refused with 503
	vg_sipp callB uac_expect_503.xml || {
		vg_reason "INVITE while draining: $(vg_sipp_why callB)"
		return 1
	}
	if ! vg_wait_pid "$pid" 15; then
		vg_reason "call A (sipp) still running 15 s after it started"
		return 1
	fi
	rc=$VG_RC
	if [ "$rc" -ne 0 ]; then
		VG_SIPP_RC=$rc # read by vg_sipp_why
		vg_reason "call A failed during the drain: $(vg_sipp_why callA)"
		return 1
	fi
	ce=$(vg_events call_end | head -n 1)
	if [ "$(vg_jfield "$ce" by)" != caller ]; then
		vg_reason "call A did not end by the caller's BYE: $ce"
		return 1
	fi
	# 4 s of audio in, most of it echoed, including after the SIGTERM
	pin=$(vg_jfield "$ce" packets_in)
	pout=$(vg_jfield "$ce" packets_out)
	echo "# sigterm_drain: call A packets_in=$pin packets_out=$pout"
	if [ "${pout:-0}" -lt 150 ]; then
		vg_reason "call A got only packets_out=$pout echoed packets (in=$pin): media stopped at SIGTERM?"
		return 1
	fi
	vg_server_wait_exit 10 || return 1
	vg_log_has_event stats || {
		vg_reason "no \"stats\" event at exit"
		return 1
	}
}

vg_pick_port_into VG_HTTP_PORT 1 || vg_abort "no free port for the HTTP API"
vg_server_start --drain_timeout 20s --http_port "$VG_HTTP_PORT" ||
	vg_abort "server did not start: $VG_REASON"
vg_case sigterm_drain case_sigterm_drain
vg_finish
