#!/usr/bin/env bash
# The agent pipeline end to end: voxgate serve with --agent pipeline starts
# its pool of agent workers; baresip calls in, says a sentence made by
# espeak-ng and records what it hears.
# - conversation: the worker registers; the caller's sentence comes back as
#   the echo bot's reply: the turn's transcript holds the key words, and
#   baresip's recording of the reply, transcribed by `voxgate stt`, too;
#   voice-to-voice is logged and lands in GET /metrics;
# - barge_in: the caller talks over the greeting; on the wire, the agent's
#   audio stops within 450 ms of the caller's first speech packet (the
#   target is 150 ms: a benchmark figure; a test asserts a looser bound),
#   and the server logs the barge-in with what was heard;
# - line_echo: a line that sends the agent's voice back 120 ms later at
#   -10 dB (tests/tools/line_echo) never barges in over a whole
#   conversation: the greeting and the reply to the caller's sentence play
#   to their ends;
# - llm_reply / llm_error / llm_malformed: the LLM brain against a local
#   stand-in that speaks OpenAI's streaming format (tests/integration/
#   standins/llm.mjs): the reply streams into the call, the request holds
#   the system prompt and the caller's words; a 500 or a broken stream
#   makes the agent apologise, and the next call works;
# - worker_stalled: a worker that never answers (SIGSTOP): the offer times
#   out, the caller hears the busy message, and the server hangs up;
# - dtmf: keys the caller presses (RFC 4733) reach the agent as a turn;
# - no_worker: with no worker to take the call, the caller hears the busy
#   message and the server hangs up (BYE);
# - worker_dies: killing the worker mid-call ends that call cleanly (BYE)
#   and the pool starts a new worker;
# - worker_env: a pool worker gets its token and the agent's settings, but
#   none of the server's secrets (the API secret from its flags or from
#   LIVEKIT_* variables, other variables of its environment) and none of
#   its open files and sockets.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need baresip sox soxi espeak-ng dumpcap tshark curl node
vg_build_tool line_echo || vg_abort "cannot build build/tools/line_echo"

KEYS="devkey: agent-test-secret-0123456789abcdef"
FIXTURE=$VG_ROOT/tests/fixtures/call_me_back.wav

# agent_server_start [flags]: the server with the pipeline agent, its HTTP
# API on a free port (VG_HTTP_PORT) and one worker; waits until the worker
# has registered.
agent_server_start() {
	vg_pick_port_into VG_HTTP_PORT 1 || return 1
	vg_server_start --agent pipeline --http_port "$VG_HTTP_PORT" \
		--keys "$KEYS" --agent_workers 1 --tts_voice en-us+klatt3 "$@" ||
		return 1
	vg_wait_event agent_worker_registered 30
}

# mic FILE SILENCE_S: the caller's microphone: SILENCE_S of silence, the
# fixture sentence, then silence until the call ends.
mic() {
	sox -D -n -r 8000 -c 1 -b 16 "$VG_CDIR/lead.wav" trim 0 "$2" &&
		sox -D "$VG_CDIR/lead.wav" "$FIXTURE" "$1" pad 0 12
}

case_conversation() {
	local dir=$VG_CDIR/caller pcap=$VG_CDIR/rtp.pcapng
	local turn transcript heard v2v metrics seg
	vg_need_server || return 1
	mic "$VG_CDIR/mic.wav" 4 || return 1
	vg_baresip_config "$dir" "$VG_CDIR/mic.wav" || return 1
	vg_capture_start "$pcap" "udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" ||
		return 1
	vg_baresip_dial "$dir" "sip:agent@127.0.0.1:$VG_SIP_PORT" 12
	vg_capture_stop
	vg_wait_event turn 10 || return 1
	turn=$(vg_events turn | head -n 1)
	transcript=$(vg_jfield "$turn" transcript)
	case $transcript in
	*tomorrow*morning*) ;;
	*)
		vg_reason "turn transcript \"$transcript\" lacks the key words: $turn"
		return 1
		;;
	esac
	v2v=$(vg_jfield "$(vg_events agent_speaking | tail -n 1)" voice_to_voice_ms)
	if [ -z "$v2v" ] || [ "$v2v" -lt 0 ] || [ "$v2v" -gt 3000 ]; then
		vg_reason "voice_to_voice_ms \"$v2v\" not within 0-3000"
		return 1
	fi
	# What the caller heard, on its time line (the pauses kept), then
	# the last thing said in it (the reply, after the greeting)
	vg_rtp_timeline "$pcap" "$VG_BS_RTP_LO" "$VG_BS_RTP_HI" \
		"$VG_CDIR/tx.ul" "$VG_CDIR/rx.ul" || return 1
	sox -D -t ul -r 8000 -c 1 "$VG_CDIR/rx.ul" -b 16 "$VG_CDIR/rx.wav" ||
		return 1
	seg=$("$VG_BIN" vad "$VG_CDIR/rx.wav" 2>"$VG_CDIR/vad.log" | tail -n 1)
	if [ -z "$seg" ]; then
		vg_reason "voxgate vad found no speech in what the caller heard"
		return 1
	fi
	# shellcheck disable=SC2086 # "start end"
	set -- $seg
	sox -D "$VG_CDIR/rx.wav" "$VG_CDIR/reply.wav" trim "$1" \
		"=$(awk -v e="$2" 'BEGIN { print e + 0.3 }')" || return 1
	heard=$("$VG_BIN" stt "$VG_CDIR/reply.wav" 2>"$VG_CDIR/stt.log")
	case $heard in
	*tomorrow*) ;;
	*)
		vg_reason "the reply the caller heard reads \"$heard\", not the caller's words"
		return 1
		;;
	esac
	metrics=$(curl -sf "http://127.0.0.1:$VG_HTTP_PORT/metrics") || {
		vg_reason "GET /metrics failed"
		return 1
	}
	if ! grep -Eq '^voxgate_voice_to_voice_seconds_count\{stt="pocketsphinx",brain="echo",tts="espeak-ng"\} [1-9]' <<<"$metrics"; then
		vg_reason "no voice-to-voice figure labelled with the worker's providers in /metrics"
		return 1
	fi
	case $turn in
	*'"stt":"pocketsphinx"'*'"brain":"echo"'*'"tts":"espeak-ng"'*) ;;
	*)
		vg_reason "the turn line does not name the stages' providers: $turn"
		return 1
		;;
	esac
}

# The caller's first speech packet, and the agent's last packet before its
# audio stops, from the capture of the caller's RTP port.
case_barge_in() {
	local dir=$VG_CDIR/caller pcap=$VG_CDIR/rtp.pcapng ev heard speech_t stop_t
	vg_need_server || return 1
	# the greeting is long; the caller speaks 1.5 s into it
	mic "$VG_CDIR/mic.wav" 1.5 || return 1
	vg_baresip_config "$dir" "$VG_CDIR/mic.wav" || return 1
	vg_capture_start "$pcap" "udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" ||
		return 1
	vg_baresip_dial "$dir" "sip:agent@127.0.0.1:$VG_SIP_PORT" 6
	vg_capture_stop
	vg_wait_event barge_in 5 || return 1
	ev=$(vg_events barge_in | head -n 1)
	heard=$(vg_jfield "$ev" heard_ms)
	if [ -z "$heard" ] || [ "$heard" -lt 500 ] || [ "$heard" -gt 4000 ]; then
		vg_reason "barge_in heard_ms \"$heard\" not about 1.5 s: $ev"
		return 1
	fi
	# caller → server packets carrying speech (|sample| well above
	# silence), and server → caller packets; times in ms
	speech_t=$(first_speech_ms "$pcap" src) || return 1
	stop_t=$(last_agent_before_gap_ms "$pcap" "$speech_t") || return 1
	if [ $((stop_t - speech_t)) -gt 450 ]; then
		vg_reason "the agent's audio went on $((stop_t - speech_t)) ms after the caller began to speak"
		return 1
	fi
}

# first_speech_ms PCAP: the capture time of the first RTP packet the caller
# sent whose payload is not silence (u-law bytes far from 0xff/0x7f).
first_speech_ms() {
	tshark -r "$1" -d "udp.port==$VG_BS_RTP_LO,rtp" -Y "rtp && udp.srcport == $VG_BS_RTP_LO" \
		-T fields -e frame.time_relative -e rtp.payload 2>/dev/null |
		perl -ne 'my ($t, $p) = split; my $n = 0;
			for my $b (map hex, $p =~ /(..)/g) { my $m = $b & 0x7f; $n++ if $m < 0x50 }
			if ($n > 20) { printf "%d\n", $t * 1000; exit }'
}

# last_agent_before_gap_ms PCAP T: the time the agent fell silent for
# 100 ms or more at or after T (ms): the last server → caller packet with
# sound before that gap, or T itself when the agent was already between
# words then.
last_agent_before_gap_ms() {
	tshark -r "$1" -d "udp.port==$VG_BS_RTP_LO,rtp" -Y "rtp && udp.dstport == $VG_BS_RTP_LO" \
		-T fields -e frame.time_relative -e rtp.payload 2>/dev/null |
		perl -se 'my $last; while (<>) { my ($t, $p) = split; $t *= 1000;
			my $n = 0; for my $b (map hex, $p =~ /(..)/g) { $n++ if ($b & 0x7f) < 0x60 }
			next if $n < 10;
			if (defined $last && $t > $since && $t - $last > 100) { last }
			$last = $t }
			$last = $since if !defined $last || $last < $since;
			printf "%d\n", $last' -- -since="$2"
}

case_line_echo() {
	local port out barges
	vg_need_server || return 1
	vg_pick_port_into port 1 || return 1
	vg_wav_to_g711 "$FIXTURE" "$VG_CDIR/speech.ul" || return 1
	"$VG_TOOLS/line_echo" -p "$port" -d 120 -g 0.3 -s "$VG_CDIR/speech.ul" \
		-a 6 -t 13 >"$VG_CDIR/line_echo.out" 2>&1 &
	local echo_pid=$!
	vg_track "$echo_pid"
	SIPP_TIMEOUT=30 vg_sipp line lk_uac_line.xml -s agent -d 13000 \
		-key caller +15550004321 -key echo_port "$port" \
		-key xhdr_name X-Voxgate-Test -key xhdr_value 1 || {
		vg_reason "sipp: $(vg_sipp_why line)"
		return 1
	}
	vg_wait_pid "$echo_pid" 5
	out=$(cat "$VG_CDIR/line_echo.out")
	barges=$(vg_events barge_in | wc -l)
	if [ "$barges" -ne 0 ]; then
		vg_reason "the agent's own echo barged in $barges times: $(vg_events barge_in | head -n 1)"
		return 1
	fi
	vg_log_has_event turn || {
		vg_reason "the caller's sentence was not answered ($out)"
		return 1
	}
	case $out in
	*"received=0 "*)
		vg_reason "the line got no audio from the agent: $out"
		return 1
		;;
	esac
}

# llm_call LABEL: a SIPp call saying the fixture sentence, then listening
# (sipp loops its audio: the silence after the sentence is the listening).
llm_call() {
	sox -D "$FIXTURE" "$VG_CDIR/said.wav" pad 0.5 11 &&
		vg_wav_to_g711 "$VG_CDIR/said.wav" "$VG_CDIR/audio.ul" || return 1
	vg_sipp "$1" lk_uac_bye.xml -s agent -d 10000 -key caller +15550007777 \
		-key xhdr_name X-Voxgate-Test -key xhdr_value 1 || {
		vg_reason "sipp: $(vg_sipp_why "$1")"
		return 1
	}
	vg_wait_event turn 5 || return 1
	LLM_TURN=$(vg_events turn | head -n 1)
}

case_llm_reply() {
	local reply req
	vg_need_server || return 1
	echo reply >"$LLM_MODE"
	: >"$LLM_LOG"
	llm_call llm_reply || return 1
	reply=$(vg_jfield "$LLM_TURN" reply)
	case $reply in
	*"Our hours are nine to five."*) ;;
	*)
		vg_reason "the turn's reply is not the LLM's: $LLM_TURN"
		return 1
		;;
	esac
	req=$(head -n 1 "$LLM_LOG")
	case $req in
	*'"stream":true'*'You are the test agent.'*tomorrow*) ;;
	*'You are the test agent.'*'"stream":true'*) ;;
	*)
		vg_reason "the LLM request lacks the stream flag, the system prompt or the caller's words: $req"
		return 1
		;;
	esac
}

case_llm_fault() { # MODE
	local reply err
	vg_need_server || return 1
	echo "$1" >"$LLM_MODE"
	llm_call "llm_$1" || return 1
	reply=$(vg_jfield "$LLM_TURN" reply)
	err=$(vg_jfield "$LLM_TURN" error)
	case $reply in
	*Sorry*) ;;
	*)
		vg_reason "no apology after an LLM $1: $LLM_TURN"
		return 1
		;;
	esac
	[ -n "$err" ] || {
		vg_reason "the turn does not say what went wrong: $LLM_TURN"
		return 1
	}
}

case_worker_stalled() {
	local pid
	vg_need_server || return 1
	pid=$(vg_jfield "$(grep agent_worker_started "$VG_SERVER_LOG" | tail -n 1)" pid)
	[ -n "$pid" ] && kill -STOP "$pid" || {
		vg_reason "no worker pid to stop"
		return 1
	}
	vg_wav_to_g711 "$FIXTURE" "$VG_CDIR/audio.ul" || return 1
	vg_sipp stalled lk_uac_wait_bye.xml -s agent -key caller +15550001234 \
		-key xhdr_name X-Voxgate-Test -key xhdr_value 1
	local rc=$?
	kill -CONT "$pid"
	[ "$rc" -eq 0 ] || {
		vg_reason "sipp did not get the server's BYE: $(vg_sipp_why stalled)"
		return 1
	}
	vg_log_has_event agent_offer_timeout || {
		vg_reason "no agent_offer_timeout in the log"
		return 1
	}
	vg_log_has_event agent_busy || {
		vg_reason "the caller was not told (no agent_busy)"
		return 1
	}
	vg_call_end_check agent 3
}

case_dtmf() {
	local turns
	vg_need_server || return 1
	# SIPp keys 1 2 3 4 # half a second apart, then waits; the call is
	# ended by sipp's own timeout, which is fine here
	SIPP_TIMEOUT=8 vg_sipp keys lk_uac_pin.xml -s agent -key caller +15550008888 \
		-key xhdr_name X-Voxgate-Test -key xhdr_value 1
	vg_wait_event turn 5 || return 1
	turns=$(vg_events turn)
	# A turn of keys is logged by their count: the keys never are.
	case $turns in
	*'"dtmf_keys":'[1-9]*) ;;
	*)
		vg_reason "no turn of the caller's keys: $(head -n 1 <<<"$turns")"
		return 1
		;;
	esac
	if tail -n +"$((VG_MARK + 1))" "$VG_SERVER_LOG" | grep -q 'DTMF'; then
		vg_reason "the keys in the log: $(grep -m 1 'DTMF' "$VG_SERVER_LOG")"
		return 1
	fi
}

case_no_worker() {
	vg_need_server || return 1
	vg_wav_to_g711 "$FIXTURE" "$VG_CDIR/audio.ul" || return 1
	vg_sipp busy lk_uac_wait_bye.xml -s agent -key caller +15550001234 \
		-key xhdr_name X-Voxgate-Test -key xhdr_value 1 || {
		vg_reason "sipp did not get the server's BYE: $(vg_sipp_why busy)"
		return 1
	}
	vg_wait_event agent_busy 2 || return 1
	vg_call_end_check agent 3
}

case_worker_env() {
	local pid env fd link server_fds=" " secret
	vg_need_server || return 1
	pid=$(vg_jfield "$(grep agent_worker_started "$VG_SERVER_LOG" | tail -n 1)" pid)
	if [ -z "$pid" ] || [ ! -r "/proc/$pid/environ" ]; then
		vg_reason "no worker process to look at (pid \"$pid\")"
		return 1
	fi
	env=$(tr '\0' '\n' <"/proc/$pid/environ")
	grep -q '^VOXGATE_AGENT_TOKEN=eyJ' <<<"$env" || {
		vg_reason "the worker has no VOXGATE_AGENT_TOKEN"
		return 1
	}
	for secret in "${KEYS#*: }" "$ENV_API_SECRET" "$ENV_OTHER_SECRET"; do
		if grep -qF -- "$secret" <<<"$env" ||
			tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$secret"; then
			vg_reason "the worker was given a secret of the server: $(grep -F -- "$secret" <<<"$env" | cut -c 1-40)"
			return 1
		fi
	done
	for fd in "/proc/$VG_SERVER_PID/fd/"*; do
		server_fds+="$(readlink "$fd") "
	done
	# stdin, stdout and stderr are shared on purpose (the worker logs
	# where the server does); an anon_inode's name says nothing of whose
	# it is
	for fd in "/proc/$pid/fd/"*; do
		case ${fd##*/} in 0 | 1 | 2) continue ;; esac
		link=$(readlink "$fd") || continue
		case $link in
		*.db | *.db-wal | *.db-shm)
			vg_reason "the worker holds the server's database open: $fd -> $link"
			return 1
			;;
		socket:* | pipe:*)
			if [[ $server_fds == *" $link "* ]]; then
				vg_reason "the worker holds the server's $link ($fd)"
				return 1
			fi
			;;
		esac
	done
}

case_worker_dies() {
	local pid
	vg_need_server || return 1
	vg_wav_to_g711 "$FIXTURE" "$VG_CDIR/audio.ul" || return 1
	vg_sipp_bg dies lk_uac_wait_bye.xml -s agent -key caller +15550001234 \
		-key xhdr_name X-Voxgate-Test -key xhdr_value 1
	vg_wait_event agent_dispatched 10 || return 1
	pid=$(vg_jfield "$(grep agent_worker_started "$VG_SERVER_LOG" | tail -n 1)" pid)
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || {
		vg_reason "no worker pid to kill"
		return 1
	}
	vg_wait_event agent_worker_lost 5 || return 1
	vg_call_end_check agent 5 || return 1
	vg_wait_pid "$VG_BG_PID" 10 || {
		vg_reason "sipp still running after the call ended"
		return 1
	}
	vg_wait_event agent_worker_registered 30
}

# Secrets in the server's environment, which its workers must not get.
ENV_API_SECRET=env-api-secret-for-the-server-only-0123
ENV_OTHER_SECRET=unrelated-secret-of-the-deployment-4567
if LIVEKIT_API_KEY=envkey LIVEKIT_API_SECRET=$ENV_API_SECRET \
	VG_TEST_DEPLOYMENT_SECRET=$ENV_OTHER_SECRET agent_server_start; then
	vg_case conversation case_conversation
	vg_case barge_in case_barge_in
	vg_case dtmf case_dtmf
	vg_case worker_env case_worker_env
	vg_case worker_dies case_worker_dies
	vg_server_stop_case clean_exit
else
	vg_skip_cases "server: $VG_REASON" conversation barge_in dtmf \
		worker_env worker_dies clean_exit
fi

# The echo case counts every barge-in as the echo's. The fixture sentence
# pauses for about the default stop window before "morning", and a reply
# to its first half can start before "morning" does: the caller's own
# voice then barges in, rightly. A longer window keeps the sentence one
# turn, so that only the echo could barge in.
if agent_server_start --vad_stop_secs 0.6; then
	vg_case line_echo case_line_echo
	vg_server_stop_case clean_exit_echo
else
	vg_skip_cases "server: $VG_REASON" line_echo clean_exit_echo
fi

LLM_MODE=$VG_TMP/llm.mode
LLM_LOG=$VG_TMP/llm.log
echo reply >"$LLM_MODE"
vg_pick_port_into LLM_PORT 1
node "$VG_ROOT/tests/integration/standins/llm.mjs" "$LLM_PORT" "$LLM_MODE" \
	"$LLM_LOG" >"$VG_TMP/llm.out" 2>&1 &
vg_track $!
if agent_server_start --brain llm --llm_base_url "http://127.0.0.1:$LLM_PORT/v1" \
	--llm_model standin --system_prompt "You are the test agent." \
	--greeting_text ""; then
	vg_case llm_reply case_llm_reply
	vg_case llm_error case_llm_fault error
	vg_case llm_malformed case_llm_fault malformed
	vg_case llm_after_faults case_llm_reply
	vg_server_stop_case clean_exit_llm
else
	vg_skip_cases "server: $VG_REASON" llm_reply llm_error llm_malformed \
		llm_after_faults clean_exit_llm
fi

if agent_server_start --agent_dispatch_timeout 1s --agent_queue 0; then
	vg_case worker_stalled case_worker_stalled
	vg_server_stop_case clean_exit_stalled
else
	vg_skip_cases "server: $VG_REASON" worker_stalled clean_exit_stalled
fi

vg_pick_port_into VG_HTTP_PORT 1
if vg_server_start --agent pipeline --keys "$KEYS" --agent_workers 0 \
	--http_port "$VG_HTTP_PORT" --agent_queue 0; then
	vg_case no_worker case_no_worker
	vg_server_stop_case clean_exit_no_worker
else
	vg_skip_cases "server: $VG_REASON" no_worker clean_exit_no_worker
fi

vg_finish
