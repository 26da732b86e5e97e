#!/usr/bin/env bash
# brain: realtime's function calls end to end: a SIPp caller says a sentence
# every 9.5 s to the pipeline agent, whose brain is the OpenAI Realtime
# stand-in (tests/integration/standins/realtime.mjs, run by serve.mjs), its
# responses scripted with function calls as the Realtime API sends them
# (a function_call item, response.function_call_arguments.done):
# - rt_tools_offered: the session offers end_call and transfer_call
#   (transfer_to is set) as functions;
# - rt_transfer_refused: the model calls transfer_call; the worker asks the
#   server ("transfer" in the agent protocol), the server REFERs the caller
#   (scenarios/uac_refer_refuse_stay.xml), whose phone reports the target
#   busy (NOTIFY 486); the model gets "486 Busy Here" as the call's
#   function_call_output, is asked again (response.create) and its refusal
#   is heard; the call goes on;
# - rt_end_call_bye: the model says goodbye and calls end_call: the goodbye
#   is played to its end, then the server sends BYE.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox node curl jq

KEYS="devkey: rt-tools-test-secret-0123456789abcdef"
FIXTURE=$VG_ROOT/tests/fixtures/call_me_back.wav
TRANSFER_TO=sip:desk@example.com
WHY="the caller asked for a person"
REFUSAL="I am sorry, I cannot put you through right now."
GOODBYE="Goodbye, and thank you for calling."
KEY="sk-rt-tools-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

vg_standins_start "$(jq -nc --arg k "$KEY" '{realtime: {key: $k}}')" realtime
RT_URL=$(vg_standin_url realtime)
RT_LOG=$VG_STANDIN_DIR/realtime.jsonl

# The model's responses, in order: a turn with a function call takes two
# (the call, then the words after its result).
jq -nc --arg why "$WHY" --arg refusal "$REFUSAL" --arg bye "$GOODBYE" '{replies: [
  {tools: [{name: "transfer_call", arguments: {reason: $why}}]},
  {text: $refusal, audioMs: 2500, toneHz: 500},
  {text: $bye, audioMs: 2000, toneHz: 500, tools: [{name: "end_call", arguments: {}}]}
]}' | curl -sf -d @- "${RT_URL%/v1}/__standin/script" >/dev/null ||
	vg_abort "cannot script the stand-in"

# The client events the stand-in got of a type, one JSON object a line.
client_events() {
	jq -c --arg t "$1" 'select(.kind == "in" and .type == $t) | .event' "$RT_LOG"
}

case_rt_tools_call() {
	vg_need_server || return 1
	# the sentence, then silence: sipp loops it, a turn every 9.5 s
	sox -D "$FIXTURE" -r 8000 -c 1 "$VG_CDIR/said.wav" pad 0.5 7 &&
		vg_wav_to_g711 "$VG_CDIR/said.wav" "$VG_CDIR/audio.ul" || return 1
	SIPP_TIMEOUT=45 vg_sipp rttools uac_refer_refuse_stay.xml -s agent \
		-key caller +15550007979 -key xhdr_name X-Voxgate-Test \
		-key xhdr_value 1 || {
		vg_reason "no BYE from the server after end_call: $(vg_sipp_why rttools)"
		return 1
	}
	SIPP_ANSWER_AT=$(vg_sipp_log rttools answer_at)
	SIPP_BYE_AT=$(vg_sipp_log rttools bye_at)
	vg_wait_event agent_hangup 5 || return 1
	[ "$(vg_events turn | wc -l)" -ge 2 ] || {
		vg_reason "$(vg_events turn | wc -l) turns, want 2"
		return 1
	}
}

case_rt_tools_offered() {
	local upd
	upd=$(client_events session.update | head -n 1)
	jq -e '[.session.tools[] | select(.type == "function") | .name] == ["end_call", "transfer_call"]
		and (.session.tools[1].parameters.type == "object")' <<<"$upd" >/dev/null || {
		vg_reason "session.update's tools: $(jq -c '.session.tools' <<<"$upd" | cut -c 1-400)"
		return 1
	}
}

case_rt_transfer_refused() {
	local t line call out
	vg_need_server || return 1
	vg_whole_log
	line=$(vg_events agent_transfer | head -n 1)
	[ -n "$line" ] || {
		vg_reason "the server was never asked to transfer"
		return 1
	}
	if [ "$(vg_events agent_transfer | wc -l)" -ne 1 ] ||
		[ "$(vg_jfield "$line" to)" != "$TRANSFER_TO" ] ||
		[ "$(vg_jfield "$line" ok)" != true ] ||
		[ "$(vg_jfield "$line" why)" != "$WHY" ]; then
		vg_reason "agent_transfer, want one to $TRANSFER_TO: $(vg_events agent_transfer | tr '\n' ' ')"
		return 1
	fi
	t=$(vg_turn 1)
	if [ "$(vg_jfield "$t" reply)" != "$REFUSAL" ] ||
		[ "$(vg_jfield "$t" interrupted)" != false ] ||
		[ -n "$(vg_jfield "$t" error)" ]; then
		vg_reason "the refusal was not heard whole: $t"
		return 1
	fi
	case $t in
	*'"brain":"realtime"'*) ;;
	*)
		vg_reason "the turn does not name brain realtime: $t"
		return 1
		;;
	esac
	# the model was told, as the Realtime API expects: the call's output
	# (the stand-in refuses one for a call it did not make), then a new
	# response
	call=$(jq -c 'select(.kind == "out" and .type == "response.function_call_arguments.done")' "$RT_LOG" | head -n 1)
	out=$(jq -c 'select(.kind == "tool_output")' "$RT_LOG" | head -n 1)
	[ -n "$out" ] || {
		vg_reason "no function_call_output: $(jq -c 'select(.kind == "out" and .type == "error")' "$RT_LOG" | head -n 2 | tr '\n' ' ')"
		return 1
	}
	jq -e '.output | fromjson | .ok == false and .error == "486 Busy Here"' <<<"$out" >/dev/null || {
		vg_reason "the call's output: $out"
		return 1
	}
	[ -n "$call" ] || {
		vg_reason "the stand-in sent no function call"
		return 1
	}
	jq -e -s '(map(select(.kind == "tool_output")) | .[0].at) as $o
		| [.[] | select(.kind == "in" and .type == "response.create" and .at >= $o)] | length >= 1' \
		"$RT_LOG" >/dev/null || {
		vg_reason "no response.create after the call's output"
		return 1
	}
	[ "$(jq -c 'select(.kind == "out" and .type == "error")' "$RT_LOG" | wc -l)" -eq 0 ] || {
		vg_reason "the stand-in refused events: $(jq -c 'select(.kind == "out" and .type == "error") | .error' "$RT_LOG" | head -n 3 | tr '\n' ' ')"
		return 1
	}
}

case_rt_end_call_bye() {
	local answer bye
	vg_need_server || return 1
	vg_goodbye_heard 2 "$GOODBYE" || return 1
	[ "$(jq -c 'select(.kind == "tool_output")' "$RT_LOG" | wc -l)" -eq 2 ] || {
		vg_reason "want the outputs of both calls: $(jq -c 'select(.kind == "tool_output")' "$RT_LOG" | tr '\n' ' ')"
		return 1
	}
	answer=$SIPP_ANSWER_AT
	bye=$SIPP_BYE_AT
	if [ -z "$answer" ] || [ -z "$bye" ] || [ $((bye - answer)) -le 10000 ]; then
		vg_reason "BYE at ${bye:-?}, the answer at ${answer:-?}: not after the second turn"
		return 1
	fi
	echo "# BYE $((bye - answer)) ms after the answer"
}

case_rt_no_key_logged() {
	vg_need_server || return 1
	! grep -qF "${KEY#sk-}" "$VG_SERVER_LOG" || {
		vg_reason "the key is in the server log"
		return 1
	}
}

vg_pick_port_into VG_HTTP_PORT 1
if vg_server_start --agent pipeline --http_port "$VG_HTTP_PORT" \
	--keys "$KEYS" --agent_workers 1 --greeting_text "" \
	--vad_stop_secs 0.6 --brain realtime --realtime_url "$RT_URL" \
	--realtime_api_key "$KEY" --transfer_to "$TRANSFER_TO" &&
	vg_wait_event agent_worker_registered 30; then
	vg_case rt_tools_call case_rt_tools_call
	vg_case rt_tools_offered case_rt_tools_offered
	vg_case rt_transfer_refused case_rt_transfer_refused
	vg_case rt_end_call_bye case_rt_end_call_bye
	vg_case rt_no_key_logged case_rt_no_key_logged
	vg_server_stop_case clean_exit
else
	vg_skip_cases "server: $VG_REASON" rt_tools_call rt_tools_offered \
		rt_transfer_refused rt_end_call_bye rt_no_key_logged clean_exit
fi

vg_finish
