#!/usr/bin/env bash
# Agent pipeline benchmarks (part "d" of bench/run.sh; see bench/README.md).
# The server runs the pipeline agent with its embedded providers and a pool
# of workers; callers are tests/tools/line_echo processes on SIPp calls,
# saying tests/fixtures/call_me_back.wav at fixed intervals and measuring
# on the wire what they hear back.
#
#   d1 voice-to-voice: TURNS turns over CALLS calls; the server's figure
#      (end of speech → first reply packet sent) and the caller's (end of
#      its speech → first reply packet received), p50 and p95
#   d2 barge-in: the caller starts again while the reply plays; the
#      agent's sound stops X ms after the caller's first speech packet, on
#      the wire, p50 and p95
#   d3 load: N concurrent agents (one worker each), all talking: CPU and
#      memory per agent and voice-to-voice at each N
#   d4 one worker, many calls: a single worker with agent_capacity DENSITY;
#      its threads (/proc/PID/task) and PSS idle, with 1 call and with
#      DENSITY calls, and voice to voice meanwhile
#   d5 voice to voice per provider set (BENCH_AGENT_PROVIDERS, see
#      provider_args: embedded, openai, openai-llm; deepgram, deepgram-llm,
#      openai-realtime, elevenlabs, cartesia, realtime once voxgate has
#      them), one call of TURNS5 turns, with the stand-ins answering in
#      realistic time, idle and beside a busy neighbour (a nice 0 loop on
#      one core; BENCH_AGENT_NEIGHBOURS="idle busy")
#
# Environment: BENCH_QUICK=1, BENCH_AGENT_TURNS (50), BENCH_AGENT_LEVELS
# ("1 2 4 6 8 4s 6s 8s": agents; "s" spreads the callers' sentences over
# the interval instead of all at once), BENCH_AGENT_SECS (40),
# BENCH_AGENT_DENSITY (4: calls of the one worker in d4), BENCH_AGENT_TURNS5
# (30; quick 8), BENCH_AGENT_PROVIDERS, BENCH_AGENT_NEIGHBOURS,
# BENCH_AGENT_AUTOGROUP_NICE (d5: the server's session's nice, see README),
# BENCH_AGENT_PARTS ("d1 d2 d3 d4 d5": which to run),
# BENCH_OUT_AGENT (markdown to append to), VOXGATE_BIN (build/voxgate).
set -u
cd "$(dirname "$0")/.." || exit 1
export VOXGATE_BIN=${VOXGATE_BIN:-$PWD/build/voxgate}
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. tests/integration/lib.sh

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	TURNS=${BENCH_AGENT_TURNS:-10}
	LEVELS=${BENCH_AGENT_LEVELS:-1 2}
	SECS=${BENCH_AGENT_SECS:-20}
else
	TURNS=${BENCH_AGENT_TURNS:-50}
	LEVELS=${BENCH_AGENT_LEVELS:-1 2 4 6 8 4s 6s 8s}
	SECS=${BENCH_AGENT_SECS:-40}
fi
OUT=${BENCH_OUT_AGENT:-/dev/stdout}
KEYS="bench: $(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
FIXTURE=$VG_ROOT/tests/fixtures/call_me_back.wav
EVERY=7 # seconds between the caller's sentences: sentence, reply, pause

log() { echo "[bench-agent $(date +%T)] $*" >&2; }
PARTS=" ${BENCH_AGENT_PARTS:-d1 d2 d3 d4 d5} "
want() { [[ "$PARTS" == *" $1 "* ]]; }

vg_build_tool line_echo || vg_abort "cannot build line_echo"
vg_wav_to_g711 "$FIXTURE" "$VG_TMP/speech.ul" || vg_abort "sox failed"

# pct P < numbers: the P-th percentile (nearest rank)
pct() {
	sort -n | awk -v p="$1" '{ v[NR] = $1 } END {
		if (!NR) { print "n/a"; exit }
		k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; print v[k] }'
}

start() { # start WORKERS [flags]
	local workers=$1
	shift
	vg_pick_port_into HTTP_PORT 1 || return 1
	vg_server_start --agent pipeline --http_port "$HTTP_PORT" --keys "$KEYS" \
		--agent_workers "$workers" --log_level info "$@" || return 1
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(vg_events agent_worker_registered | wc -l)" -ge "$workers" ] &&
			return 0
		sleep 0.1
	done
	vg_reason "only $(vg_events agent_worker_registered | wc -l) of $workers workers registered"
	return 1
}

# calls N SECONDS EVERY AT [SPREAD]: N concurrent calls, each caller
# speaking from AT s every EVERY s; with SPREAD=1 the callers' first
# sentences are spread evenly over EVERY, as independent calls would be
# (otherwise they all speak at once, the worst case); their reports go to
# $VG_TMP/calls.$k.out.
calls() {
	local n=$1 secs=$2 every=$3 at=$4 spread=${5:-0} k port pids=() a
	for ((k = 0; k < n; k++)); do
		vg_pick_port_into port 1 || return 1
		a=$at
		[ "$spread" = 1 ] && a=$(awk -v a="$at" -v k="$k" -v n="$n" -v e="$every" \
			'BEGIN { printf "%.2f", a + k * e / n }')
		"$VG_TOOLS/line_echo" -p "$port" -g 0 -s "$VG_TMP/speech.ul" \
			-a "$a" -r "$every" -t "$secs" >"$VG_TMP/calls.$k.out" 2>&1 &
		pids+=($!)
		vg_track "$!"
		VG_CDIR=$VG_TMP SIPP_TIMEOUT=$((secs + 20)) vg_sipp_bg "call$k" \
			lk_uac_line.xml -s agent -d "$((secs * 1000 + 500))" \
			-key caller "+1555000$((1000 + k))" -key echo_port "$port" \
			-key xhdr_name X-Voxgate-Test -key xhdr_value 1
		pids+=("$VG_BG_PID")
		sleep 0.1
	done
	for k in "${pids[@]}"; do
		vg_wait_pid "$k" "$((secs + 30))" || vg_kill_pid "$k"
	done
}

server_v2v() { vg_events agent_speaking | sed -n -E 's/.*"voice_to_voice_ms":([0-9]+).*/\1/p'; }
wire() { cat "$VG_TMP"/calls.*.out 2>/dev/null | sed -n -E "s/^$1 n=[0-9]+ ms=(-?[0-9]+)/\1/p"; }

proc_cpu_s() { # total CPU seconds of the server and its workers
	local total=0 p
	for p in "$VG_SERVER_PID" $(pgrep -P "$VG_SERVER_PID"); do
		total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

worker_mem() { # PSS and RSS of the workers, MB (total)
	local pss=0 rss=0 p
	for p in $(pgrep -P "$VG_SERVER_PID"); do
		pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
		rss=$((rss + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$((pss / 1024)) $((rss / 1024))"
}

{
	echo
	echo "## Agent pipeline ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
	echo
}>>"$OUT"

# ---- d1: voice to voice ----------------------------------------------------
if want d1; then
	C=2
	per_call=$(((TURNS + C - 1) / C))
	secs=$((4 + per_call * EVERY))
	log "d1: $TURNS turns over $C calls ($secs s)"
	rm -f "$VG_TMP"/calls.*.out
	if start "$C"; then
		vg_mark
		calls "$C" "$secs" "$EVERY" 4
		sv=$(server_v2v)
		wv=$(wire reply)
		{
			echo "### Voice to voice, $(echo "$sv" | grep -c .) turns"
			echo
			echo "| measured | p50 ms | p95 ms | turns |"
			echo "|---|---|---|---|"
			echo "| server: end of speech (last voiced packet in) → first reply packet out | $(pct 50 <<<"$sv") | $(pct 95 <<<"$sv") | $(echo "$sv" | grep -c .) |"
			echo "| caller: end of its speech → first reply packet heard, on the wire | $(pct 50 <<<"$wv") | $(pct 95 <<<"$wv") | $(echo "$wv" | grep -c .) |"
			echo
		} >>"$OUT"
		vg_server_stop
	else
		log "d1 could not run: $VG_REASON"
	fi
fi

# ---- d2: barge-in ----------------------------------------------------------
# The reply ("You said: ..." about 3 s) starts about 0.5 s after the caller's
# sentence (2.5 s) ends; speaking again 4 s after the last start lands in it.
if want d2; then
	log "d2: barge-in"
	rm -f "$VG_TMP"/calls.*.out
	if start 2; then
		vg_mark
		calls 2 "$((QUICK == 1 ? 20 : 44))" 4 4
		bw=$(wire barge)
		bs=$(vg_events barge_in | sed -n -E 's/.*"reaction_ms":(-?[0-9]+).*/\1/p')
		{
			echo "### Barge-in reaction, $(echo "$bw" | grep -c .) times"
			echo
			echo "| measured | p50 ms | p95 ms | max ms |"
			echo "|---|---|---|---|"
			echo "| caller, on the wire: its first speech packet → the agent's last sound packet | $(pct 50 <<<"$bw") | $(pct 95 <<<"$bw") | $(pct 100 <<<"$bw") |"
			echo "| server: voiced onset packet in → last agent packet out | $(pct 50 <<<"$bs") | $(pct 95 <<<"$bs") | $(pct 100 <<<"$bs") |"
			echo
		} >>"$OUT"
		vg_server_stop
	else
		log "d2 could not run: $VG_REASON"
	fi
fi

# ---- d3: concurrent agents -------------------------------------------------
if want d3; then
	{
		echo "### Concurrent agents, each caller talking every $EVERY s for $SECS s"
		echo
		echo "Rows \"together\": all callers speak at the same moments (the worst case); rows"
		echo "\"spread\": their sentences are spread evenly over the $EVERY s, as independent calls are."
		echo
		echo "| agents | callers | CPU, % of one core (server + workers) | per agent | worker PSS MB per agent | RSS MB per agent | v2v p50 ms | v2v p95 ms | turns | busy |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
	} >>"$OUT"
	for run in $LEVELS; do
		n=${run%s}
		spread=0
		[ "$n" != "$run" ] && spread=1
		log "d3: $n agents$([ "$spread" = 1 ] && echo ", spread")"
		rm -f "$VG_TMP"/calls.*.out
		if ! start "$n"; then
			log "d3 $n could not run: $VG_REASON"
			continue
		fi
		vg_mark
		c0=$(proc_cpu_s)
		t0=$(date +%s.%N)
		( calls "$n" "$SECS" "$EVERY" 4 "$spread" ) &
		cpid=$!
		sleep $((SECS / 2))
		mem=$(worker_mem)
		wait "$cpid"
		c1=$(proc_cpu_s)
		t1=$(date +%s.%N)
		sv=$(server_v2v)
		read -r pss rss <<<"$mem"
		cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) * 100 }')
		echo "| $n | $([ "$spread" = 1 ] && echo spread || echo together) | $cpu | $((cpu / n)) | $((pss / n)) | $((rss / n)) | $(pct 50 <<<"$sv") | $(pct 95 <<<"$sv") | $(echo "$sv" | grep -c .) | $(vg_events agent_busy | wc -l) |" >>"$OUT"
		vg_server_stop
	done
	echo >>"$OUT"
fi

# ---- d4: one worker, many calls ---------------------------------------------
if want d4; then
	DENSITY=${BENCH_AGENT_DENSITY:-4}
	tasks() { find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
	pss_mb() { awk '/^Pss:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
	log "d4: one worker, $DENSITY calls"
	if start 1 --agent_capacity "$DENSITY"; then
		wpid=$(pgrep -P "$VG_SERVER_PID" | head -1)
		{
			echo "### One worker, up to $DENSITY calls (agent_capacity $DENSITY)"
			echo
			echo "| calls | worker threads | worker PSS MB | v2v p50 ms | v2v p95 ms | turns |"
			echo "|---|---|---|---|---|---|"
			echo "| 0 | $(tasks "$wpid") | $(pss_mb "$wpid") | | | |"
		} >>"$OUT"
		for n in 1 "$DENSITY"; do
			rm -f "$VG_TMP"/calls.*.out
			vg_mark
			( calls "$n" 24 "$EVERY" 2 1 ) &
			cpid=$!
			sleep 12
			th=$(tasks "$wpid")
			mem=$(pss_mb "$wpid")
			wait "$cpid"
			sv=$(server_v2v)
			echo "| $n | $th | $mem | $(pct 50 <<<"$sv") | $(pct 95 <<<"$sv") | $(echo "$sv" | grep -c .) |" >>"$OUT"
		done
		echo >>"$OUT"
		vg_server_stop
	else
		log "d4 could not run: $VG_REASON"
	fi
fi

# ---- d5: voice to voice per provider, idle and beside a busy neighbour ------
# One call, TURNS5 turns, for each provider set (provider_args) and each
# neighbour: "idle" (whatever else runs on the machine) or "busy" (this
# bench keeps one core busy with a nice 0 loop of its own). The stand-ins
# answer after their realistic delays (STT final 150 ms, first token
# 300 ms, first audio 150 ms); the server's figure less those delays is
# what voxgate adds, its VAD's stop window included.
STT_MS=150
LLM_MS=300
TTS_MS=150
LLM_CLAUSE_MS=$((LLM_MS + 6 * 10)) # the stand-in's 7 words, 10 ms apart
SI_KEY="sk-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# provider_args NAME: the server's flags for a provider set (PV_ARGS), the
# stand-ins it needs (PV_STANDINS) with their timing (PV_OPTS, serve.mjs's
# --options) and the delay they add before the reply's first audio
# (PV_DELAY, ms). A provider merged later is one more case here and one
# more name in BENCH_AGENT_PROVIDERS.
provider_args() {
	local t_stt t_tts t_llm
	t_stt="\"/v1/audio/transcriptions\":{\"firstMs\":$STT_MS}"
	t_tts="\"/v1/audio/speech\":{\"firstMs\":$TTS_MS}"
	t_llm="\"/v1/chat/completions\":{\"firstMs\":$LLM_MS,\"chunkMs\":10}"
	PV_ARGS=()
	PV_STANDINS=""
	PV_OPTS="{}"
	PV_DELAY=0
	local oa_stt=(--stt_provider openai --stt_url "@openai" --stt_api_key "$SI_KEY")
	local oa_tts=(--tts_provider openai --tts_url "@openai" --tts_api_key "$SI_KEY")
	case $1 in
	embedded) ;;
	openai) # OpenAI-compatible STT and TTS, the echo brain
		PV_ARGS=("${oa_stt[@]}" "${oa_tts[@]}")
		PV_STANDINS="openai"
		PV_OPTS="{\"openai\":{\"key\":\"$SI_KEY\",\"timing\":{\"paths\":{$t_stt,$t_tts}}}}"
		PV_DELAY=$((STT_MS + TTS_MS))
		;;
	openai-llm) # the same with the LLM brain on the stand-in
		PV_ARGS=("${oa_stt[@]}" "${oa_tts[@]}" --llm_base_url "@openai" --llm_api_key "$SI_KEY")
		PV_STANDINS="openai"
		PV_OPTS="{\"openai\":{\"key\":\"$SI_KEY\",\"timing\":{\"paths\":{$t_stt,$t_tts,$t_llm}}}}"
		PV_DELAY=$((STT_MS + LLM_CLAUSE_MS + TTS_MS))
		;;
	deepgram) # Deepgram live STT (its final STT_MS after the end of speech), OpenAI-compatible TTS
		PV_ARGS=(--stt_provider deepgram --stt_url "@deepgram" --stt_api_key "$SI_KEY" "${oa_tts[@]}")
		PV_STANDINS="deepgram openai"
		PV_OPTS="{\"deepgram\":{\"key\":\"$SI_KEY\",\"timing\":{\"finalAfterSpeechMs\":$STT_MS}},\"openai\":{\"key\":\"$SI_KEY\",\"timing\":{\"paths\":{$t_tts}}}}"
		PV_DELAY=$((STT_MS + TTS_MS))
		;;
	deepgram-llm) # the same with the LLM brain (preemptive_generation asks it before STOP)
		PV_ARGS=(--stt_provider deepgram --stt_url "@deepgram" --stt_api_key "$SI_KEY" "${oa_tts[@]}" --llm_base_url "@openai" --llm_api_key "$SI_KEY")
		PV_STANDINS="deepgram openai"
		PV_OPTS="{\"deepgram\":{\"key\":\"$SI_KEY\",\"timing\":{\"finalAfterSpeechMs\":$STT_MS}},\"openai\":{\"key\":\"$SI_KEY\",\"timing\":{\"paths\":{$t_tts,$t_llm}}}}"
		PV_DELAY=$((STT_MS + LLM_CLAUSE_MS + TTS_MS))
		;;
	openai-realtime) # OpenAI Realtime transcription, OpenAI-compatible TTS
		PV_ARGS=(--stt_provider openai-realtime --stt_url "@realtime" --stt_api_key "$SI_KEY" "${oa_tts[@]}")
		PV_STANDINS="realtime openai"
		PV_OPTS="{\"realtime\":{\"key\":\"$SI_KEY\",\"timing\":{\"transcriptMs\":$STT_MS}},\"openai\":{\"key\":\"$SI_KEY\",\"timing\":{\"paths\":{$t_tts}}}}"
		PV_DELAY=$((STT_MS + TTS_MS))
		;;
	elevenlabs | cartesia) # OpenAI-compatible STT, streaming TTS
		PV_ARGS=("${oa_stt[@]}" --tts_provider "$1" --tts_url "@$1" --tts_api_key "$SI_KEY")
		PV_STANDINS="openai $1"
		PV_OPTS="{\"openai\":{\"key\":\"$SI_KEY\",\"timing\":{\"paths\":{$t_stt}}},\"$1\":{\"key\":\"$SI_KEY\",\"timing\":{\"firstMs\":$TTS_MS}}}"
		PV_DELAY=$((STT_MS + TTS_MS))
		;;
	realtime) # speech to speech: the Realtime brain
		PV_ARGS=(--brain realtime --realtime_url "@realtime" --realtime_api_key "$SI_KEY")
		PV_STANDINS="realtime"
		PV_OPTS="{\"realtime\":{\"key\":\"$SI_KEY\",\"timing\":{\"firstMs\":$((LLM_MS + TTS_MS))}}}"
		PV_DELAY=$((LLM_MS + TTS_MS))
		;;
	*)
		return 1
		;;
	esac
}

SI_PID=
standins_up() { # standins_up: PV_STANDINS with PV_OPTS; "@name" in PV_ARGS becomes its URL
	[ -n "$PV_STANDINS" ] || return 0
	local out=$VG_TMP/standins.$RANDOM.json i n url
	# shellcheck disable=SC2086
	node tests/integration/standins/serve.mjs --options "$PV_OPTS" $PV_STANDINS \
		>"$out" 2>"$out.err" &
	SI_PID=$!
	vg_track "$SI_PID"
	for ((i = 0; i < 100; i++)); do
		[ -s "$out" ] && break
		sleep 0.1
	done
	for i in "${!PV_ARGS[@]}"; do
		[[ ${PV_ARGS[$i]} == @* ]] || continue
		n=${PV_ARGS[$i]#@}
		url=$(sed -n -E "s/.*\"$n\":\{\"url\":\"([^\"]*)\".*/\1/p" "$out")
		[ -n "$url" ] || {
			log "stand-in $n did not start: $(head -c 300 "$out.err")"
			return 1
		}
		PV_ARGS[$i]=$url
	done
}
standins_down() {
	[ -n "$SI_PID" ] && vg_kill_pid "$SI_PID"
	SI_PID=
}

HOG_PID=
hog_start() { # one core kept busy at nice 0, as a neighbour's process would
	nice -n 0 bash -c 'while :; do :; done' &
	HOG_PID=$!
	vg_track "$HOG_PID"
}
hog_stop() {
	[ -n "$HOG_PID" ] && kill "$HOG_PID" 2>/dev/null && wait "$HOG_PID" 2>/dev/null
	HOG_PID=
}

if want d5; then
	TURNS5=${BENCH_AGENT_TURNS5:-$([ "$QUICK" = 1 ] && echo 8 || echo 30)}
	PROVIDERS=${BENCH_AGENT_PROVIDERS:-embedded openai openai-llm}
	NEIGHBOURS=${BENCH_AGENT_NEIGHBOURS:-idle busy}
	secs=$((4 + TURNS5 * EVERY))
	{
		echo "### Voice to voice per provider, one call, $TURNS5 turns, idle and beside a busy neighbour"
		echo
		echo "Stand-ins: STT final ${STT_MS} ms after the request (Deepgram: after its endpoint), first token ${LLM_MS} ms"
		echo "(+ 60 ms for the clause's other words), first audio ${TTS_MS} ms. \"busy\": a nice 0 busy loop on one core."
		echo "server: last voiced packet in → first reply packet out (agent_speaking); caller: on the wire (line_echo)."
		echo
		echo "| providers | neighbour | turns | server p50 / p95 ms | caller p50 / p95 ms | stand-ins ms | server − stand-ins p50 / p95 ms | stt_ms p50 / p95 | load avg |"
		echo "|---|---|---|---|---|---|---|---|---|"
	} >>"$OUT"
	for pv in $PROVIDERS; do
		for nb in $NEIGHBOURS; do
			if ! provider_args "$pv"; then
				log "d5: unknown provider set $pv"
				echo "| $pv | $nb | unknown provider set | | | | | | |" >>"$OUT"
				continue
			fi
			log "d5: $pv, $nb, $TURNS5 turns"
			rm -f "$VG_TMP"/calls.*.out
			if ! standins_up || ! start 1 "${PV_ARGS[@]}"; then
				log "d5 $pv could not run: $VG_REASON"
				echo "| $pv | $nb | could not run: ${VG_REASON:-stand-ins} | | | | | | |" >>"$OUT"
				standins_down
				continue
			fi
			# The session's scheduling weight (autogroup), to see what the
			# scheduler gives the call path: BENCH_AGENT_AUTOGROUP_NICE=-5
			# (negative needs CAP_SYS_NICE).
			[ -n "${BENCH_AGENT_AUTOGROUP_NICE:-}" ] &&
				echo "$BENCH_AGENT_AUTOGROUP_NICE" >"/proc/$VG_SERVER_PID/autogroup"
			[ "$nb" = busy ] && hog_start
			vg_mark
			calls 1 "$secs" "$EVERY" 4
			la=$(cut -d' ' -f1 /proc/loadavg)
			hog_stop
			sv=$(server_v2v)
			wv=$(wire reply)
			st=$(vg_events turn | sed -n -E 's/.*"stt_ms":(-?[0-9]+).*/\1/p')
			net=$(awk -v d="$PV_DELAY" '{ print $1 - d }' <<<"$sv")
			echo "| $pv | $nb | $(echo "$sv" | grep -c .) | $(pct 50 <<<"$sv") / $(pct 95 <<<"$sv") | $(pct 50 <<<"$wv") / $(pct 95 <<<"$wv") | $PV_DELAY | $(pct 50 <<<"$net") / $(pct 95 <<<"$net") | $(pct 50 <<<"$st") / $(pct 95 <<<"$st") | $la |" >>"$OUT"
			cp "$VG_SERVER_LOG" "$VG_TMP/d5-$pv-$nb.server.log" 2>/dev/null
			vg_server_stop
			standins_down
		done
	done
	echo >>"$OUT"
fi
vg_finish
