#!/usr/bin/env bash
# Agent density (part "n" of bench/run.sh; see bench/README.md): N
# concurrent agent calls in one worker, speech on provider stand-ins that
# answer in realistic time, SIPp callers talking a third of the time.
#
#   n1 density: for each N in LEVELS, one server with one worker of
#      agent_capacity N; N SIPp callers (bench/sipp/uac_agent_talk.xml)
#      loop 5 s of silence and a 2.5 s sentence for HOLD s after the last
#      call is up. Over a steady window: late frames and ticks (the
#      server's stats line), voice to voice p50/p95 (the server's
#      agent_speaking events: last voiced packet in -> first reply packet
#      out) and the same less the stand-ins' own delays, CPU and RSS per
#      call of the worker and of the server, failed calls (SIPp), turns
#      that failed (turn lines with an error), calls refused (agent_busy).
#
# The stand-ins (tests/integration/standins/serve.mjs) answer after
# STT_MS (transcript, from the request; Deepgram's live final, STT_MS
# after the end of the speech it heard, as a streaming recogniser keeps
# up with the audio), LLM_MS (first token; the reply's 7 words follow
# 10 ms apart) and TTS_MS (first audio); their delays are set at start
# through the stand-ins' timing option.
#
# Environment: BENCH_QUICK=1, BENCH_DENSITY_LEVELS ("50 200 500"; quick
# "20"), BENCH_DENSITY_HOLD (60 s; quick 30), BENCH_DENSITY_CPS (calls/s
# while ramping up, 20), BENCH_DENSITY_KIND (the kinds of call, run one
# after the other; default "deepgram realtime net". net: stt and tts
# openai, brain llm; net-stt: stt openai, espeak-ng; embedded:
# pocketsphinx, espeak-ng; deepgram: Deepgram's live stt, tts openai;
# each with the LLM brain; realtime: the Realtime brain; see kind_args),
# BENCH_DENSITY_STOP_WINDOW_MS (240, below), BENCH_DENSITY_NICE (10: the load
# generators' nice), BENCH_OUT_DENSITY (markdown to append to),
# VOXGATE_BIN (build/voxgate).
set -u
cd "$(dirname "$0")/.." || exit 1
export VOXGATE_BIN=${VOXGATE_BIN:-$PWD/build/voxgate}
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. tests/integration/lib.sh

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	LEVELS=${BENCH_DENSITY_LEVELS:-20}
	HOLD=${BENCH_DENSITY_HOLD:-30}
else
	LEVELS=${BENCH_DENSITY_LEVELS:-50 200 500}
	HOLD=${BENCH_DENSITY_HOLD:-60}
fi
CPS=${BENCH_DENSITY_CPS:-20}
# The kinds of call, one after the other: a streaming recogniser, the
# Realtime brain, the OpenAI-compatible (batch) recogniser.
KINDS=${BENCH_DENSITY_KIND:-deepgram realtime net}
KIND=
NICE=${BENCH_DENSITY_NICE:-10}
OUT=${BENCH_OUT_DENSITY:-/dev/stdout}
STT_MS=150
LLM_MS=300
LLM_WORDS=7 # "We are open from nine to five.": one clause, 7 pieces
LLM_GAP_MS=10
TTS_MS=150
# What the stand-ins themselves take before the reply's first audio (the
# transcript, the first token, the rest of the first clause, the first
# audio, as the kind uses them; kind_args) is subtracted from voice to
# voice.
STANDIN_MS=0
# The VAD's stop window as it runs from the last voiced packet, where
# voice to voice starts: vad_stop_secs, the server's 0.25 s, is 12
# unvoiced frames after it (vad_stop_frames; 13 before 0918ffc:
# BENCH_DENSITY_STOP_WINDOW_MS=260 for such a build). The transcript is
# due at its end (the final pass runs ahead of it), so what is left of
# voice to voice beyond the window and the stand-ins' delays after the
# transcript (AFTER_MS) is voxgate's own.
STOP_MS=${BENCH_DENSITY_STOP_WINDOW_MS:-240}
AFTER_MS=0
SILENCE_S=5 # of the caller's loop, before its sentence
WARM=10     # s after the last call is up before the window
TCK=$(getconf CLK_TCK)
KEYS="bench: $(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
FIXTURE=$VG_ROOT/tests/fixtures/call_me_back.wav
RESULTS=()
PROBLEMS=()

log() { echo "[bench-density $(date +%T)] $*" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null

pct() { # pct P < numbers: the P-th percentile (nearest rank)
	sort -n | awk -v p="$1" '{ v[NR] = $1 } END {
		if (!NR) { print "n/a"; exit }
		k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; print v[k] }'
}
less() { # less MS < numbers: each less MS
	awk -v d="$1" '{ print $1 - d }'
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
csv_col() { # csv_col FILE COLUMN: the last row's value of a SIPp stat column
	awk -F';' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
		{ last = $k } END { print (last == "" ? 0 : last) + 0 }' "$1" 2>/dev/null
}

# The server's settings for each kind of call. A provider merged later is
# one more case here and one more name for the stand-ins.
kind_args() {
	local llm=(--llm_base_url "$OA_URL" --llm_api_key "$OA_KEY")
	local stt=(--stt_provider openai --stt_url "$OA_URL" --stt_api_key "$OA_KEY")
	local tts=(--tts_provider openai --tts_url "$OA_URL" --tts_api_key "$OA_KEY")
	local clause=$((LLM_MS + (LLM_WORDS - 1) * LLM_GAP_MS))
	STANDINS="openai"
	case $1 in
	net) # all on the network: OpenAI-compatible STT and TTS, the LLM
		KIND_ARGS=("${stt[@]}" "${tts[@]}" "${llm[@]}")
		STANDIN_MS=$((STT_MS + clause + TTS_MS))
		AFTER_MS=$((clause + TTS_MS))
		;;
	net-stt) # network STT, espeak-ng on the worker's engine pool
		KIND_ARGS=("${stt[@]}" "${llm[@]}")
		STANDIN_MS=$((STT_MS + clause))
		AFTER_MS=$clause
		;;
	embedded) # pocketsphinx and espeak-ng on the engine pool
		KIND_ARGS=("${llm[@]}")
		STANDIN_MS=$clause
		AFTER_MS=$clause
		;;
	deepgram) # Deepgram's live STT (one socket a call), OpenAI-compatible TTS, the LLM
		KIND_ARGS=(--stt_provider deepgram --stt_url "$DG_URL" --stt_api_key "$OA_KEY" "${tts[@]}" "${llm[@]}")
		STANDINS="deepgram openai"
		STANDIN_MS=$((STT_MS + clause + TTS_MS))
		AFTER_MS=$((clause + TTS_MS))
		;;
	realtime) # speech to speech: the Realtime brain, one socket a call
		KIND_ARGS=(--brain realtime --realtime_url "$RT_URL" --realtime_api_key "$OA_KEY")
		STANDINS="realtime"
		STANDIN_MS=$((LLM_MS + TTS_MS))
		AFTER_MS=$STANDIN_MS
		;;
	*)
		log "unknown BENCH_DENSITY_KIND $1"
		return 1
		;;
	esac
}

STANDIN_PID=
standins_start() {
	local opts
	# The Realtime model answers with its first audio after the first
	# token's and the first audio's delays together. Deepgram's final is
	# ready STT_MS after the speech it heard ended, and comes when asked
	# for (the turn's Finalize) if it is ready by then.
	opts=$(printf '{"openai":{"key":"%s","timing":{"paths":{"/v1/audio/transcriptions":{"firstMs":%d},"/v1/chat/completions":{"firstMs":%d,"chunkMs":%d},"/v1/audio/speech":{"firstMs":%d}}}},"realtime":{"key":"%s","timing":{"firstMs":%d}},"deepgram":{"key":"%s","timing":{"finalAfterSpeechMs":%d}}}' \
		"$OA_KEY" "$STT_MS" "$LLM_MS" "$LLM_GAP_MS" "$TTS_MS" "$OA_KEY" $((LLM_MS + TTS_MS)) "$OA_KEY" "$STT_MS")
	nice -n "$NICE" node tests/integration/standins/serve.mjs --options "$opts" openai realtime deepgram \
		>"$VG_TMP/standins.json" 2>"$VG_TMP/standins.err" &
	STANDIN_PID=$!
	vg_track "$STANDIN_PID"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$VG_TMP/standins.json" ] && break
		sleep 0.1
	done
	OA_URL=$(sed -n -E 's/.*"openai":\{"url":"([^"]*)".*/\1/p' "$VG_TMP/standins.json")
	RT_URL=$(sed -n -E 's/.*"realtime":\{"url":"([^"]*)".*/\1/p' "$VG_TMP/standins.json")
	DG_URL=$(sed -n -E 's/.*"deepgram":\{"url":"([^"]*)".*/\1/p' "$VG_TMP/standins.json")
	[ -n "$OA_URL" ] && [ -n "$RT_URL" ] && [ -n "$DG_URL" ] || {
		log "stand-ins did not start: $(cat "$VG_TMP/standins.err")"
		return 1
	}
}

# level N: one run of N calls.
level() {
	local n=$1 rtp sport mport csv wpid
	log "n1: $n calls, $HOLD s"
	vg_pick_port_into rtp $((2 * n + 40)) || return 1
	vg_pick_port_into HTTP_PORT 1 || return 1
	vg_server_start --agent pipeline --http_port "$HTTP_PORT" --agent_workers 1 --agent_capacity "$n" \
		--keys "$KEYS" --log_level info --rtp_port_range "$rtp-$((rtp + 2 * n + 39))" \
		"${KIND_ARGS[@]}" || {
		PROBLEMS+=("$n calls: server did not start: $VG_REASON")
		return 1
	}
	local i
	for ((i = 0; i < 300; i++)); do
		[ -n "$(vg_events agent_worker_registered)" ] && break
		sleep 0.1
	done
	wpid=$(pgrep -P "$VG_SERVER_PID" | head -1)
	[ -n "$wpid" ] || {
		PROBLEMS+=("$n calls: no worker process")
		vg_server_stop
		return 1
	}
	sleep 1
	local w_rss0 s_rss0
	w_rss0=$(rss_kb "$wpid")
	s_rss0=$(rss_kb "$VG_SERVER_PID")
	vg_pick_port_into sport 1 || return 1
	vg_pick_port_into mport 4 || return 1
	csv=$VG_TMP/density-$n.csv
	local ramp_s=$(((n + CPS - 1) / CPS)) hold_ms
	hold_ms=$(((ramp_s + WARM + HOLD + 2) * 1000))
	local cmd="sipp 127.0.0.1:$VG_SIP_PORT -sf $VG_ROOT/bench/sipp/uac_agent_talk.xml -s agent -i 127.0.0.1 -p $sport -mi 127.0.0.1 -mp $mport -r $CPS -l $n -m $n -d $hold_ms -timeout $((hold_ms / 1000 + 60))s -aa -nostdin -trace_err -error_file $VG_TMP/density-$n.err -trace_stat -stf $csv -fd 1"
	CMDS+=("nice -n $NICE $cmd  # in a directory holding talk.ul")
	(cd "$VG_TMP" && exec nice -n "$NICE" $cmd) >"$VG_TMP/density-$n.sipp.out" 2>&1 &
	local spid=$!
	vg_track "$spid"
	sleep $((ramp_s + WARM))
	local up answered
	up=$(csv_col "$csv" CurrentCall)
	answered=$(vg_events answered | wc -l)
	vg_mark
	local wc0 sc0 gc0 nc0 t0 w_peak=0 s_peak=0 r
	wc0=$(ticks "$wpid")
	sc0=$(ticks "$VG_SERVER_PID")
	gc0=$(ticks "$spid")
	nc0=$(ticks "$STANDIN_PID")
	t0=$(date +%s.%N)
	for ((i = 0; i < HOLD; i++)); do
		sleep 1
		r=$(rss_kb "$wpid")
		[ "${r:-0}" -gt "$w_peak" ] && w_peak=$r
		r=$(rss_kb "$VG_SERVER_PID")
		[ "${r:-0}" -gt "$s_peak" ] && s_peak=$r
	done
	local wc1 sc1 gc1 nc1 t1 win
	wc1=$(ticks "$wpid")
	sc1=$(ticks "$VG_SERVER_PID")
	gc1=$(ticks "$spid")
	nc1=$(ticks "$STANDIN_PID")
	t1=$(date +%s.%N)
	win=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	local v2v turns tl stt llm tts errs
	v2v=$(vg_events agent_speaking | sed -n -E 's/.*"voice_to_voice_ms":(-?[0-9]+).*/\1/p')
	# Each v2v in two: the caller's last voiced packet to the VAD's STOP
	# (the window and how late it came), and STOP to the first reply
	# packet (the worker, the stand-ins, the way back).
	local eot reply
	eot=$(vg_events agent_speaking | sed -n -E 's/.*"end_of_turn_ms":(-?[0-9]+).*/\1/p')
	reply=$(vg_events agent_speaking | sed -n -E 's/.*"voice_to_voice_ms":(-?[0-9]+),"end_of_turn_ms":(-?[0-9]+).*/\1 \2/p' | awk '{ print $1 - $2 }')
	tl=$(vg_events turn)
	turns=$(grep -c . <<<"$tl")
	stt=$(sed -n -E 's/.*"stt_ms":(-?[0-9]+).*/\1/p' <<<"$tl")
	llm=$(sed -n -E 's/.*"llm_ms":(-?[0-9]+).*/\1/p' <<<"$tl")
	tts=$(sed -n -E 's/.*"tts_ms":(-?[0-9]+).*/\1/p' <<<"$tl")
	errs=$(grep -c '"error":"[^"]' <<<"$tl")
	local busy
	busy=$(vg_events agent_busy | wc -l)
	vg_wait_pid "$spid" $((hold_ms / 1000 + 90)) || vg_kill_pid "$spid"
	local ok failed
	ok=$(csv_col "$csv" 'SuccessfulCall(C)')
	failed=$(csv_col "$csv" 'FailedCall(C)')
	VG_STOP_TIMEOUT=40 vg_server_stop
	local stats late tick_late
	stats=$(grep '"event":"stats"' "$VG_SERVER_LOG" | tail -1)
	late=$(vg_jfield "$stats" late)
	tick_late=$(vg_jfield "$stats" tick_late)
	local pc
	pc() { awk -v c="$1" -v t="$TCK" -v w="$win" -v n="$2" 'BEGIN { printf "%.2f", 100 * c / t / w / n }'; }
	RESULTS+=("| $n | $up / $answered | $ok | $failed | $busy | ${late:-n/a} | ${tick_late:-n/a} | $turns | $errs | $(pct 50 <<<"$v2v") / $(pct 95 <<<"$v2v") | $(less "$STANDIN_MS" <<<"$v2v" | pct 50) / $(less "$STANDIN_MS" <<<"$v2v" | pct 95) | $(less $((STOP_MS + AFTER_MS)) <<<"$v2v" | pct 50) / $(less $((STOP_MS + AFTER_MS)) <<<"$v2v" | pct 95) | $(pct 50 <<<"$eot") / $(pct 95 <<<"$eot") | $(pct 50 <<<"$reply") / $(pct 95 <<<"$reply") | $(pct 50 <<<"$stt") / $(pct 50 <<<"$llm") / $(pct 50 <<<"$tts") | $(pc $((wc1 - wc0)) 1) / $(pc $((wc1 - wc0)) "$n") | $(pc $((sc1 - sc0)) 1) / $(pc $((sc1 - sc0)) "$n") | $((w_rss0 / 1024)) / $((w_peak / 1024)) / $(((w_peak - w_rss0) / n)) | $((s_rss0 / 1024)) / $((s_peak / 1024)) / $(((s_peak - s_rss0) / n)) | $(pc $((gc1 - gc0)) 1) / $(pc $((nc1 - nc0)) 1) |")
	log "n1 $n: up $up, failed $failed, late $late tick_late $tick_late, v2v p50/p95 $(pct 50 <<<"$v2v")/$(pct 95 <<<"$v2v") over $turns turns, worker rss $w_rss0 -> $w_peak KB"
	[ "${failed:-0}" -gt 0 ] && PROBLEMS+=("$n calls: $failed calls failed (SIPp; $VG_TMP/density-$n.err)")
	[ "${late:-0}" != 0 ] || [ "${tick_late:-0}" != 0 ] &&
		PROBLEMS+=("$n calls: late $late, tick_late $tick_late")
	[ "$errs" -gt 0 ] && PROBLEMS+=("$n calls: $errs turns with an error: $(grep '"error":"[^"]' <<<"$tl" | head -2)")
	cp "$VG_SERVER_LOG" "$VG_TMP/density-$n.server.log" 2>/dev/null
	return 0
}

command -v sipp >/dev/null || vg_abort "sipp missing"
[ -x "$VOXGATE_BIN" ] || vg_abort "$VOXGATE_BIN missing: run make"
# The caller's loop: SILENCE_S of silence (the agent's greeting and
# replies fall in it), then the sentence.
vg_wav_to_g711 "$FIXTURE" "$VG_TMP/speech.ul" || vg_abort "sox failed"
{
	head -c $((SILENCE_S * 8000)) /dev/zero | tr '\0' '\377'
	cat "$VG_TMP/speech.ul"
} >"$VG_TMP/talk.ul"
TALK_S=$(awk -v b="$(stat -c %s "$VG_TMP/talk.ul")" 'BEGIN { printf "%.1f", b / 8000 }')
OA_KEY="sk-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
standins_start || vg_abort "stand-ins"
report() {
	echo
	echo "## Agent density ($START, $(nproc) cores, load average before $LOAD0)"
	echo
	if [ "$KIND" = deepgram ]; then
		echo "Kind \`$KIND\` (stand-ins: $STANDINS; STT final ${STT_MS} ms after the end of speech (Deepgram's finalAfterSpeechMs), first token ${LLM_MS} ms,"
	elif [ "$KIND" = realtime ]; then
		echo "Kind \`$KIND\` (stand-ins: $STANDINS; the model's first audio $((LLM_MS + TTS_MS)) ms after the turn is committed,"
	else
		echo "Kind \`$KIND\` (stand-ins: $STANDINS; STT final ${STT_MS} ms after the request, first token ${LLM_MS} ms,"
	fi
	echo "$LLM_WORDS words ${LLM_GAP_MS} ms apart, first audio ${TTS_MS} ms: ${STANDIN_MS} ms of their own before the first"
	echo "reply audio in the stages this kind puts on them, ${AFTER_MS} ms of it after the transcript). One worker, agent_capacity N. Callers: SIPp looping ${SILENCE_S} s of silence and a 2.5 s"
	echo "sentence (${TALK_S} s), ramped at ${CPS} calls/s; window of ${HOLD} s from ${WARM} s after the last call."
	echo "v2v: the server's agent_speaking (last voiced packet in → first reply packet out), over the window."
	echo "stt/llm/tts: the turn lines' stt_ms, llm_ms, tts_ms (from the end of speech, p50). The stop window:"
	echo "vad_stop_secs 0.25 s, ${STOP_MS} ms of silence after the last voiced packet (whole frames), during which the final pass runs ahead (the STT's delay hides in it)."
	echo "CPU: % of one core, total / per call. RSS: MB before the first call / peak in the window / KB per call."
	echo "Load generators: SIPp and the stand-ins (node), % of one core, nice $NICE. The machine is shared."
	echo
	echo "| calls | up (sipp / answered) | ok | failed | busy | late | tick_late | turns | turn errors | v2v p50 / p95 ms | v2v − stand-ins p50 / p95 ms | v2v − stop window − stand-ins after the transcript p50 / p95 ms | last voiced → STOP p50 / p95 ms | STOP → reply p50 / p95 ms | stt / llm / tts ms | worker CPU % / per call | server CPU % / per call | worker RSS MB / MB / KB per call | server RSS MB / MB / KB per call | sipp / stand-ins CPU % |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${RESULTS[@]}"
	echo
	echo "Commands (the server's: $VOXGATE_BIN ${VG_SERVER_ARGS[*]}):"
	echo '```'
	printf '%s\n' "${CMDS[@]}"
	echo '```'
	if [ ${#PROBLEMS[@]} -gt 0 ]; then
		echo
		printf -- '- %s\n' "${PROBLEMS[@]}"
	fi
}
for KIND in $KINDS; do
	RESULTS=()
	PROBLEMS=()
	CMDS=()
	START=$(date -u +%Y-%m-%dT%H:%MZ)
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	kind_args "$KIND" || vg_abort "kind"
	for n in $LEVELS; do level "$n"; done
	report >>"$OUT"
done
vg_finish
