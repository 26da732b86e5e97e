#!/usr/bin/env bash
# Each network speech provider end to end, baresip as the caller: the
# pipeline agent on the providers' stand-ins (tests/integration/standins/,
# run by serve.mjs), one call per case. The caller says the fixture
# sentence; the stand-in recogniser "hears" it and returns the scripted
# transcript, the echo brain says it back, and the voice stand-in speaks
# it as a tone of its own frequency. What the caller heard (baresip's
# recording of what it received) must carry that tone, and the turn line
# the transcript and the providers' names.
# - stt_deepgram: Deepgram's live WebSocket, OpenAI-compatible voice;
# - stt_openai_realtime: OpenAI Realtime transcription, the same voice;
# - tts_elevenlabs, tts_cartesia: OpenAI-compatible recogniser, the
#   streaming voice;
# - brain_realtime: the Realtime model hears and answers (its tone), and
#   the turn line carries its transcript and reply.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need baresip sox node curl jq

KEYS="devkey: providers-test-secret-0123456789abcdef"
FIXTURE=$VG_ROOT/tests/fixtures/call_me_back.wav
SAID="Call me back tomorrow morning."
KEY="sk-providers-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

OPTS=$(jq -nc --arg k "$KEY" --arg s "$SAID" '{
	openai: {key: $k, transcript: $s},
	deepgram: {key: $k, transcript: $s},
	realtime: {key: $k, transcript: $s},
	elevenlabs: {key: $k},
	cartesia: {key: $k}}')
vg_standins_start "$OPTS" openai deepgram realtime elevenlabs cartesia
url() { vg_standin_url "$1"; }

# agent_call [server flags]: a server with the pipeline agent on
# the given providers, one baresip call of 16 s (the sentence 4 s in),
# then: the turn line (TURN), and the dominant frequency of what the
# caller heard with its silences cut (HEARD_HZ) and how long that was
# (HEARD_S).
agent_call() {
	local dir=$VG_CDIR/caller voiced=$VG_CDIR/voiced.wav stat
	vg_pick_port_into VG_HTTP_PORT 1 || return 1
	vg_server_start --agent pipeline --http_port "$VG_HTTP_PORT" \
		--keys "$KEYS" --agent_workers 1 --vad_stop_secs 0.6 "$@" ||
		return 1
	vg_wait_event agent_worker_registered 30 || return 1
	sox -D -n -r 8000 -c 1 -b 16 "$VG_CDIR/lead.wav" trim 0 4 &&
		sox -D "$VG_CDIR/lead.wav" "$FIXTURE" "$VG_CDIR/mic.wav" pad 0 14 ||
		return 1
	vg_baresip_config "$dir" "$VG_CDIR/mic.wav" || return 1
	vg_baresip_dial "$dir" "sip:agent@127.0.0.1:$VG_SIP_PORT" 16
	vg_wait_event turn 10 || {
		vg_reason "no turn line: $(vg_events agent_ | tail -n 3 | tr '\n' ' ')"
		return 1
	}
	TURN=$(vg_events turn | head -n 1)
	vg_baresip_recordings "$dir"
	[ -n "$VG_BS_DEC" ] || {
		vg_reason "baresip recorded nothing it received"
		return 1
	}
	# silence out (the stand-ins' tones are steady, far above 1 %)
	sox -D "$VG_BS_DEC" -r 8000 -c 1 "$voiced" \
		silence -l 1 0.02 1% -1 0.02 1% || return 1
	stat=$(sox "$voiced" -n stat 2>&1)
	HEARD_HZ=$(awk '/Rough[ \t]+frequency/ { print $3 }' <<<"$stat")
	HEARD_S=$(awk '/Length \(seconds\)/ { print $3 }' <<<"$stat")
	vg_server_stop || return 1
	HEARD_HZ=${HEARD_HZ:-0}
	HEARD_S=${HEARD_S:-0}
}

# heard_tone HZ: what the caller heard was mostly that tone, for at least
# a second (the greeting and the reply).
heard_tone() {
	[ "${VG_VERBOSE:-0}" = 1 ] && echo "# heard ${HEARD_S} s at about ${HEARD_HZ} Hz"
	awk -v f="$HEARD_HZ" -v s="$HEARD_S" -v w="$1" \
		'BEGIN { exit !(s >= 1 && f > w * 0.9 && f < w * 1.1) }' || {
		vg_reason "the caller heard ${HEARD_S} s at about ${HEARD_HZ} Hz, want the voice's $1 Hz"
		return 1
	}
}

# turn_is TRANSCRIPT STT BRAIN TTS
turn_is() {
	local got
	got=$(vg_jfield "$TURN" transcript)
	[ "$got" = "$1" ] || {
		vg_reason "transcript \"$got\", want \"$1\": $TURN"
		return 1
	}
	case $TURN in
	*"\"stt\":\"$2\""*"\"brain\":\"$3\""*"\"tts\":\"$4\""*) ;;
	*)
		vg_reason "the turn line does not name stt=$2 brain=$3 tts=$4: $TURN"
		return 1
		;;
	esac
	[ -z "$(vg_jfield "$TURN" error)" ] || {
		vg_reason "the turn failed: $TURN"
		return 1
	}
}

OA_TTS=(--tts_provider openai --tts_url "$(url openai)" --tts_api_key "$KEY")
OA_STT=(--stt_provider openai --stt_url "$(url openai)" --stt_api_key "$KEY")

case_stt_deepgram() {
	agent_call --stt_provider deepgram --stt_url "$(url deepgram)" \
		--stt_api_key "$KEY" "${OA_TTS[@]}" || return 1
	turn_is "$SAID" deepgram echo openai && heard_tone 600
}

case_stt_openai_realtime() {
	agent_call --stt_provider openai-realtime \
		--stt_url "$(url realtime)" --stt_api_key "$KEY" "${OA_TTS[@]}" ||
		return 1
	turn_is "$SAID" openai-realtime echo openai && heard_tone 600
}

case_tts_elevenlabs() {
	agent_call "${OA_STT[@]}" --tts_provider elevenlabs \
		--tts_url "$(url elevenlabs)" --tts_api_key "$KEY" || return 1
	turn_is "$SAID" openai echo elevenlabs && heard_tone 440
}

case_tts_cartesia() {
	agent_call "${OA_STT[@]}" --tts_provider cartesia \
		--tts_url "$(url cartesia)" --tts_api_key "$KEY" || return 1
	turn_is "$SAID" openai echo cartesia && heard_tone 520
}

case_brain_realtime() {
	local reply
	agent_call --brain realtime --realtime_url "$(url realtime)" \
		--realtime_api_key "$KEY" || return 1
	turn_is "$SAID" none realtime none || return 1
	reply=$(vg_jfield "$TURN" reply)
	[ "$reply" = "We are open from nine to five." ] || {
		vg_reason "the turn's reply \"$reply\" is not the model's: $TURN"
		return 1
	}
	heard_tone 500
}

vg_case stt_deepgram case_stt_deepgram
vg_case stt_openai_realtime case_stt_openai_realtime
vg_case tts_elevenlabs case_tts_elevenlabs
vg_case tts_cartesia case_tts_cartesia
vg_case brain_realtime case_brain_realtime
vg_finish
