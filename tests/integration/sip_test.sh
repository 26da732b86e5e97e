#!/usr/bin/env bash
# SIP signalling with SIPp: OPTIONS, codec choice in the caller's order,
# rejections (488 no common codec, 400 bad SDP) and CANCEL before answer.
# Cases: options, order_pcma_first, order_pcmu_first, no_common_codec,
# bad_sdp, cancel_before_answer (a second server with --answer_delay 5s).
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp

case_options() {
	vg_need_server || return 1
	vg_sipp options options.xml || {
		vg_reason "OPTIONS: $(vg_sipp_why options)"
		return 1
	}
}

# order FMTS WANT_PT: offer "FMTS", the answer must list WANT_PT first.
order() {
	local pt
	vg_need_server || return 1
	vg_sipp order uac_offer_order.xml -key fmts "$1" -d 200 || {
		vg_reason "offer '$1': $(vg_sipp_why order)"
		return 1
	}
	pt=$(vg_sipp_log order answer_pt)
	if [ "$pt" != "$2" ]; then
		vg_reason "offer 'm=audio ... RTP/AVP $1': answer '$(vg_sipp_log order answer_mline)' starts with PT '$pt', want $2"
		return 1
	fi
	vg_call_end_check caller
}

case_order_pcma_first() {
	order "8 0" 8
}

case_order_pcmu_first() {
	order "0 8" 0
}

case_no_common_codec() {
	vg_need_server || return 1
	vg_sipp g729 uac_no_common_codec.xml || {
		vg_reason "G.729-only offer: $(vg_sipp_why g729)"
		return 1
	}
}

case_bad_sdp() {
	vg_need_server || return 1
	vg_sipp badsdp uac_bad_sdp.xml || {
		vg_reason "garbage SDP: $(vg_sipp_why badsdp)"
		return 1
	}
}

case_cancel_before_answer() {
	local t0 t1
	vg_need_server || return 1
	vg_sipp cancel uac_cancel.xml || {
		vg_reason "$(vg_sipp_why cancel)"
		return 1
	}
	t0=$(vg_sipp_log cancel cancel_at)
	t1=$(vg_sipp_log cancel got487_at)
	echo "# cancel: 487 came $((t1 - t0)) ms after the CANCEL was sent"
	if [ $((t1 - t0)) -gt 2000 ]; then
		vg_reason "487 came $((t1 - t0)) ms after the CANCEL (want < 2000)"
		return 1
	fi
	vg_call_end_check cancel
}

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case options case_options
vg_case order_pcma_first case_order_pcma_first
vg_case order_pcmu_first case_order_pcmu_first
vg_case no_common_codec case_no_common_codec
vg_case bad_sdp case_bad_sdp
vg_server_stop_case clean_exit

if vg_server_start --answer_delay 5s; then
	vg_case cancel_before_answer case_cancel_before_answer
	vg_server_stop_case clean_exit_after_cancel
else
	vg_skip_cases "server did not start: $VG_REASON" cancel_before_answer
fi
vg_finish
