#!/usr/bin/env bash
# The LLM brain's tool calls end to end: a SIPp caller says a sentence every
# 9.5 s to the pipeline agent, whose STT, LLM and TTS are one OpenAI
# stand-in (tests/integration/standins/openai.mjs, run by serve.mjs), the
# LLM's replies scripted with tool calls in OpenAI's streaming format:
# - tools_transfer_refused: the model calls transfer_call; the worker asks
#   the server ("transfer" in the agent protocol), the server REFERs the
#   caller (scenarios/uac_refer_refuse_stay.xml), whose phone reports the
#   target busy (NOTIFY 486): the model is told {"ok":false,"error":"486
#   Busy Here"}, its refusal is heard, and the call goes on;
# - tools_bad_call: a call to a tool that does not exist and one whose
#   arguments are not JSON go back to the model as errors, and its next
#   words are heard; the call goes on;
# - tools_end_call_bye: the model says goodbye and calls end_call: the
#   goodbye is played to its end, then the server sends BYE;
# - tools_transfer_ok: on a second call (scenarios/uac_refer_accept.xml)
#   the model calls transfer_call and the target rings 6 s before it
#   answers, longer than the worker's 5 s wait for the server: the server's
#   "accepted" keeps the tool waiting, the 200 completes the transfer, and
#   the server hangs up the caller's leg (BYE);
# - tools_providers_labelled: each turn line names the stages' providers
#   (stt, brain, tts), and GET /metrics has the stage histograms labelled
#   with them.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox node curl jq

KEYS="devkey: tools-test-secret-0123456789abcdef"
FIXTURE=$VG_ROOT/tests/fixtures/call_me_back.wav
TRANSFER_TO=sip:desk@example.com
REFUSAL="I am sorry, I cannot put you through right now."
OOPS="Sorry, something went wrong on my side."
GOODBYE="Goodbye, and thank you for calling."

vg_standins_start '{}' openai
OA_URL=$(vg_standin_url openai)
OA_LOG=$VG_STANDIN_DIR/openai.jsonl

# The LLM's answers, one per completion, in order: a turn with a tool call
# takes two.
curl -sf -d @- "${OA_URL%/v1}/__standin/script" >/dev/null <<EOF || vg_abort "cannot script the stand-in"
{"replies": [
  {"tools": [{"name": "transfer_call", "arguments": {"reason": "the caller asked for a person"}}]},
  {"text": "$REFUSAL"},
  {"tools": [{"name": "book_a_table", "arguments": {}}, {"name": "transfer_call", "arguments": "{not json"}]},
  {"text": "$OOPS"},
  {"text": "$GOODBYE", "tools": [{"name": "end_call", "arguments": {}}]},
  {"tools": [{"name": "transfer_call", "arguments": {"reason": "the second caller asked for a person"}}]}
]}
EOF

# The chat requests the stand-in got, one JSON object a line.
chats() {
	jq -c 'select(.path == "/v1/chat/completions")' "$OA_LOG"
}

case_tools_call() {
	vg_need_server || return 1
	# the sentence, then silence: sipp loops it, a turn every 9.5 s
	sox -D "$FIXTURE" -r 8000 -c 1 "$VG_CDIR/said.wav" pad 0.5 7 &&
		vg_wav_to_g711 "$VG_CDIR/said.wav" "$VG_CDIR/audio.ul" || return 1
	SIPP_TIMEOUT=60 vg_sipp tools uac_refer_refuse_stay.xml -s agent \
		-key caller +15550007878 -key xhdr_name X-Voxgate-Test \
		-key xhdr_value 1 || {
		vg_reason "no BYE from the server after end_call: $(vg_sipp_why tools)"
		return 1
	}
	SIPP_ANSWER_AT=$(vg_sipp_log tools answer_at)
	SIPP_BYE_AT=$(vg_sipp_log tools bye_at)
	SIPP_REFER_TO=$(vg_sipp_log tools refer_to)
	vg_wait_event agent_hangup 5 || return 1
	[ "$(vg_events turn | wc -l)" -ge 3 ] || {
		vg_reason "$(vg_events turn | wc -l) turns, want 3"
		return 1
	}
}

case_tools_transfer_refused() {
	local t req line result
	vg_need_server || return 1
	vg_whole_log
	line=$(vg_events agent_transfer | head -n 1)
	[ -n "$line" ] || {
		vg_reason "the server was never asked to transfer"
		return 1
	}
	[ "$(vg_events agent_transfer | wc -l)" -eq 1 ] || {
		vg_reason "the server was asked $(vg_events agent_transfer | wc -l) times, want once (the malformed call must not reach it)"
		return 1
	}
	if [ "$(vg_jfield "$line" to)" != "$TRANSFER_TO" ] || [ "$(vg_jfield "$line" ok)" != true ] ||
		[ "$(vg_jfield "$line" why)" != "the caller asked for a person" ]; then
		vg_reason "agent_transfer: $line"
		return 1
	fi
	[ "$SIPP_REFER_TO" = "$TRANSFER_TO" ] || {
		vg_reason "the caller's REFER named ${SIPP_REFER_TO:-nothing}, want $TRANSFER_TO"
		return 1
	}
	result=$(vg_events transfer_done | head -n 1)
	if [ "$(vg_jfield "$result" ok)" != false ] || [ "$(vg_jfield "$result" code)" != 486 ]; then
		vg_reason "transfer_done: $result"
		return 1
	fi
	t=$(vg_turn 1)
	if [ "$(vg_jfield "$t" reply)" != "$REFUSAL" ] || [ "$(vg_jfield "$t" interrupted)" != false ]; then
		vg_reason "the refusal was not heard whole: $t"
		return 1
	fi
	# the model was told, as OpenAI expects: its call, then the answer
	req=$(chats | sed -n 2p)
	jq -e '.messages[-2].role == "assistant" and .messages[-2].tool_calls[0].function.name == "transfer_call"
		and .messages[-1].role == "tool" and .messages[-1].tool_call_id == .messages[-2].tool_calls[0].id
		and (.messages[-1].content | fromjson | .ok == false and .error == "486 Busy Here")
		and ([.tools[].function.name] | sort == ["end_call", "transfer_call"])' <<<"$req" >/dev/null || {
		vg_reason "the second completion's request: $(cut -c 1-600 <<<"$req")"
		return 1
	}
}

case_tools_transfer_ok() {
	local result took
	vg_need_server || return 1
	sox -D "$FIXTURE" -r 8000 -c 1 "$VG_CDIR/said.wav" pad 0.5 7 &&
		vg_wav_to_g711 "$VG_CDIR/said.wav" "$VG_CDIR/audio.ul" || return 1
	SIPP_TIMEOUT=40 vg_sipp xfer uac_refer_accept.xml -s agent \
		-key caller +15550007979 -key xhdr_name X-Voxgate-Test \
		-key xhdr_value 1 -key notify_gap 6000 || {
		vg_reason "the transferred caller: $(vg_sipp_why xfer)"
		return 1
	}
	[ "$(vg_sipp_log xfer refer_to)" = "$TRANSFER_TO" ] || {
		vg_reason "the REFER named $(vg_sipp_log xfer refer_to)"
		return 1
	}
	vg_wait_event transfer_done 5 || return 1
	result=$(vg_events transfer_done | tail -n 1)
	took=$(vg_jfield "$result" after_ms)
	if [ "$(vg_jfield "$result" ok)" != true ] || [ "$(vg_jfield "$result" code)" != 200 ] ||
		[ "${took:-0}" -lt 5500 ]; then
		vg_reason "transfer_done: $result"
		return 1
	fi
	# the worker heard "accepted" and waited past its 5 s for the outcome
	vg_log_has_event agent_transfer_accepted || {
		vg_reason "no agent_transfer_accepted: the worker was not told the target rings"
		return 1
	}
	if vg_events agent_transfer_result | grep -q 'no answer in time'; then
		vg_reason "the worker gave up before the outcome: $(vg_events agent_transfer_result | tail -n 1)"
		return 1
	fi
	echo "# transferred after $took ms of ringing"
}

case_tools_bad_call() {
	local t req
	vg_need_server || return 1
	vg_whole_log
	t=$(vg_turn 2)
	[ "$(vg_jfield "$t" reply)" = "$OOPS" ] || {
		vg_reason "the model's words after the bad calls were not heard: $t"
		return 1
	}
	req=$(chats | sed -n 4p)
	jq -e '[.messages[] | select(.role == "tool") | .content] | .[-2:] as $r
		| ($r[0] | test("no tool of that name")) and ($r[1] | test("not a JSON object"))' <<<"$req" >/dev/null || {
		vg_reason "the errors did not go back to the model: $(cut -c 1-600 <<<"$req")"
		return 1
	}
}

case_tools_end_call_bye() {
	local answer bye
	vg_need_server || return 1
	vg_goodbye_heard 3 "$GOODBYE" || return 1
	answer=$SIPP_ANSWER_AT
	bye=$SIPP_BYE_AT
	if [ -z "$answer" ] || [ -z "$bye" ] || [ $((bye - answer)) -le 20000 ]; then
		vg_reason "BYE at ${bye:-?}, the answer at ${answer:-?}: not after the third turn"
		return 1
	fi
	echo "# BYE $((bye - answer)) ms after the answer"
}

case_tools_providers_labelled() {
	local t metrics n h
	vg_need_server || return 1
	vg_whole_log
	for n in 1 2 3; do
		t=$(vg_turn "$n")
		case $t in
		*'"stt":"openai"'*'"brain":"llm"'*'"tts":"openai"'*) ;;
		*)
			vg_reason "turn $n does not name its providers: $t"
			return 1
			;;
		esac
	done
	metrics=$(curl -sf "http://127.0.0.1:$VG_HTTP_PORT/metrics") || {
		vg_reason "GET /metrics failed"
		return 1
	}
	for h in voxgate_stt_final_seconds voxgate_llm_first_token_seconds \
		voxgate_tts_first_audio_seconds voxgate_voice_to_voice_seconds; do
		if ! grep -Eq "^${h}_count\\{stt=\"openai\",brain=\"llm\",tts=\"openai\"\\} [1-9]" <<<"$metrics" ||
			! grep -Fq "${h}_bucket{stt=\"openai\",brain=\"llm\",tts=\"openai\",le=\"0.5\"}" <<<"$metrics"; then
			vg_reason "$h is not labelled with the call's providers: $(grep "^$h" <<<"$metrics" | head -n 3 | tr '\n' ' ')"
			return 1
		fi
	done
}

vg_pick_port_into VG_HTTP_PORT 1
if vg_server_start --agent pipeline --http_port "$VG_HTTP_PORT" \
	--keys "$KEYS" --agent_workers 1 --greeting_text "" \
	--vad_stop_secs 0.6 --brain llm --llm_base_url "$OA_URL" \
	--llm_api_key sk-tools-test --llm_model gpt-4o-mini \
	--stt_provider openai --stt_url "$OA_URL" --stt_api_key sk-tools-test \
	--tts_provider openai --tts_url "$OA_URL" --tts_api_key sk-tools-test \
	--transfer_to "$TRANSFER_TO" &&
	vg_wait_event agent_worker_registered 30; then
	vg_case tools_call case_tools_call
	vg_case tools_transfer_refused case_tools_transfer_refused
	vg_case tools_bad_call case_tools_bad_call
	vg_case tools_end_call_bye case_tools_end_call_bye
	vg_case tools_providers_labelled case_tools_providers_labelled
	vg_case tools_transfer_ok case_tools_transfer_ok
	vg_server_stop_case clean_exit
else
	vg_skip_cases "server: $VG_REASON" tools_call tools_transfer_refused \
		tools_bad_call tools_end_call_bye tools_providers_labelled \
		tools_transfer_ok clean_exit
fi

vg_finish
