#!/usr/bin/env bash
# Mid-call SDP changes with SIPp. Cases:
#  hold_unhold: re-INVITE a=sendonly -> 200 with a=recvonly and no audio
#    back while held; re-INVITE a=sendrecv -> 200 without a hold direction and
#    the echo resumes.
#  late_offer: INVITE without SDP -> 200 carries an offer (with PCMU), the ACK
#    carries the answer, and the echo of the streamed audio comes back.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox espeak-ng dumpcap tshark perl
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

case_hold_unhold() {
	local mp sp rc pcap t_hold t_resume t_end held after
	vg_need_server || return 1
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || return 1
	vg_pick_port_into mp 4 || return 1
	vg_pick_port_into sp 1 || return 1
	pcap=$VG_CDIR/hold.pcapng
	vg_capture_start "$pcap" \
		"udp dst port $mp or (udp src port $VG_SIP_PORT and udp dst port $sp)" ||
		return 1
	# three phases of 1.5 s: talking, held, talking again
	SIPP_MP=$mp SIPP_PORT=$sp vg_sipp hold uac_reinvite_hold.xml -d 1500
	rc=$VG_RC
	vg_capture_stop
	# sipp goes on after a failed SDP check, so look at the RTP anyway
	if [ "$rc" -ne 0 ]; then
		hold_rtp "$pcap" "$mp" || true
		vg_reason "$(vg_sipp_why hold)${held:+ (RTP back while held: $held packets, after resume: $after)}"
		return 1
	fi
	echo "# hold: answer $(vg_sipp_log hold hold_dir); resume: $(vg_sipp_log hold resume_m)"
	hold_rtp "$pcap" "$mp" || return 1
	echo "# hold: $held RTP packets back while held, $after after resuming"
	if [ "$held" -gt 3 ]; then
		vg_reason "server kept sending RTP while the call was on hold (answered recvonly): $held packets in $(awk -v a="$t_hold" -v b="$t_resume" 'BEGIN{printf "%.1f", b-a}') s"
		return 1
	fi
	if [ "$after" -lt 25 ]; then
		vg_reason "echo did not resume after unhold: $after RTP packets in the last phase"
		return 1
	fi
	vg_call_end_check caller
}

# hold_rtp PCAP MEDIA_PORT: sets held / after, the RTP packets sent back to
# MEDIA_PORT while on hold (from 200 ms after the 200 to the hold re-INVITE
# to the 200 to the resume) and after the resume (from 300 ms after it to the
# BYE), and t_hold / t_resume / t_end.
hold_rtp() {
	local pcap=$1 mp=$2
	held=
	after=
	# times of the 200s to the re-INVITEs (CSeq 2 = hold, 3 = resume)
	t_hold=$(timeout 60 tshark -r "$pcap" -d "udp.port==$VG_SIP_PORT,sip" \
		-Y "sip.Status-Code == 200 && sip.CSeq.seq == 2 && sip.CSeq.method == \"INVITE\"" \
		-T fields -e frame.time_epoch 2>/dev/null | head -n 1)
	t_resume=$(timeout 60 tshark -r "$pcap" -d "udp.port==$VG_SIP_PORT,sip" \
		-Y "sip.Status-Code == 200 && sip.CSeq.seq == 3 && sip.CSeq.method == \"INVITE\"" \
		-T fields -e frame.time_epoch 2>/dev/null | head -n 1)
	t_end=$(timeout 60 tshark -r "$pcap" -d "udp.port==$VG_SIP_PORT,sip" \
		-Y "sip.CSeq.method == \"BYE\"" \
		-T fields -e frame.time_epoch 2>/dev/null | head -n 1)
	if [ -z "$t_hold" ] || [ -z "$t_resume" ] || [ -z "$t_end" ]; then
		vg_reason "capture lacks the 200s to the re-INVITEs or the BYE's 200 (hold='$t_hold' resume='$t_resume' end='$t_end')"
		return 1
	fi
	# RTP back to sipp: while held (from 200 ms after the hold 200 to the
	# resume 200) and after the resume (from 300 ms after it to the end).
	read -r held after < <(timeout 60 tshark -r "$pcap" -d "udp.port==$mp,rtp" \
		-Y "rtp && udp.dstport == $mp" -T fields -e frame.time_epoch 2>/dev/null |
		awk -v h="$t_hold" -v r="$t_resume" -v e="$t_end" '
			$1 > h + 0.2 && $1 < r { held++ }
			$1 > r + 0.3 && $1 < e { after++ }
			END { print held + 0, after + 0 }')
}

case_late_offer() {
	local mp rc
	vg_need_server || return 1
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || return 1
	vg_pick_port_into mp 4 || return 1
	vg_capture_start "$VG_CDIR/late.pcapng" "udp port $mp" || return 1
	SIPP_MP=$mp vg_sipp late uac_late_offer.xml -d 3000
	rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "$(vg_sipp_why late)"
		return 1
	fi
	echo "# late offer: server offered '$(vg_sipp_log late offer_mline)'"
	vg_check_echo "$VG_CDIR/late.pcapng" "$mp" "$VG_CDIR/audio.ul" 0 100 0.9 ||
		return 1
	vg_call_end_check caller
}

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case hold_unhold case_hold_unhold
vg_case late_offer case_late_offer
vg_server_stop_case clean_exit
vg_finish
