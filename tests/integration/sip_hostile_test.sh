#!/usr/bin/env bash
# Hostile SIP input with SIPp: what anyone can send without credentials must
# end the call cleanly and leave the server running. Cases:
#  bad_answer_empty, bad_answer_garbage, bad_answer_no_codec: an INVITE
#    without SDP (the 200 carries our offer), then an ACK whose answer is
#    empty, not SDP, or offers no codec we have. The server ends the dialog
#    with a BYE (call_end by=server) and keeps going; each is sent three
#    times, as heap damage shows on a later call.
#  refused_calls_recorded: INVITEs refused after routing (488 no common
#    codec, 400 malformed SDP) leave call records closed as failed with the
#    SIP code, none ringing, and no room of theirs still open.
#  refused_no_ports: with one RTP port pair, held by a call, a second
#    INVITE gets 503; its record is closed as failed with 503, its room is
#    not left open, and the first call goes on to its BYE.
#  history_max_rows: the same file opened again with --history_max_rows 2
#    keeps the two newest call records (history_pruned logged).
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sqlite3

# bad_answer BODY WHY: three calls whose ACK carries BODY; each must get our
# BYE, and the log must say WHY (the bad_answer event's reason).
bad_answer() {
	local body=$1 why=$2 i ends reason n
	vg_need_server || return 1
	for i in 1 2 3; do
		vg_sipp "ack$i" uac_late_offer_bad_answer.xml -key ack_body "$body" \
			-timeout 10s || {
			vg_reason "call $i: $(vg_sipp_why "ack$i")"
			return 1
		}
		vg_need_server || {
			vg_reason "server died after call $i"
			return 1
		}
	done
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ends=$(vg_events call_end | wc -l)
		[ "$ends" -ge 3 ] && break
		sleep 0.2
	done
	if [ "$ends" -ne 3 ]; then
		vg_reason "$ends call_end events for 3 calls"
		return 1
	fi
	reason=$(vg_jfield "$(vg_events call_end | tail -n 1)" reason)
	if [ "$reason" != "bad SDP answer in ACK" ]; then
		vg_reason "call_end reason \"$reason\", want \"bad SDP answer in ACK\""
		return 1
	fi
	n=$(vg_events bad_answer | grep -c "\"reason\":\"$why\"")
	[ "$n" -eq 3 ] || {
		vg_reason "want 3 bad_answer events saying \"$why\", got $n: $(vg_events bad_answer | tail -n 1)"
		return 1
	}
}

case_bad_answer_empty() {
	bad_answer "" "no SDP answer"
}

case_bad_answer_garbage() {
	bad_answer $'this is not a session description\r\n%%% m=audio x' \
		"malformed SDP"
}

case_bad_answer_no_codec() {
	local body
	printf -v body '%s\r\n' v=0 'o=x 1 1 IN IP4 127.0.0.1' s=- \
		'c=IN IP4 127.0.0.1' 't=0 0' 'm=audio 27000 RTP/AVP 18' \
		'a=rtpmap:18 G729/8000'
	bad_answer "$body" "no common codec"
}

# sql QUERY [N]: runs QUERY on server N's database (the first by default).
sql() {
	sqlite3 "$VG_TMP/voxgate.${2:-1}.db" "$1"
}

# refused_rooms_open [N]: "count: names" of the rooms of refused calls
# (records failed) still open in server N's store, "0: " when none. The
# default route gives every call a room of its own.
refused_rooms_open() {
	sql "SELECT count(*) || ': ' || ifnull(group_concat(r.name, ' '), '')
	     FROM rooms r JOIN calls c ON r.name = json_extract(c.json, '$.room')
	     WHERE json_extract(c.json, '$.status') = 'failed'
	       AND r.finished_at = 0" "${1:-1}"
}

case_refused_calls_recorded() {
	local n ringing codes rooms open
	vg_need_server || return 1
	for n in 1 2; do
		vg_sipp "g729_$n" uac_no_common_codec.xml || {
			vg_reason "G.729-only offer: $(vg_sipp_why "g729_$n")"
			return 1
		}
		vg_sipp "badsdp_$n" uac_bad_sdp.xml || {
			vg_reason "garbage SDP: $(vg_sipp_why "badsdp_$n")"
			return 1
		}
	done
	ringing=$(sql "SELECT count(*) FROM calls WHERE json_extract(json, '$.status') = 'ringing'")
	if [ "$ringing" != 0 ]; then
		vg_reason "$ringing call records still ringing after refused INVITEs: $(sql "SELECT json FROM calls WHERE json_extract(json, '$.status') = 'ringing' LIMIT 1")"
		return 1
	fi
	codes=$(sql "SELECT json_extract(json, '$.sipStatusCode') || ':' || json_extract(json, '$.endReason') FROM calls WHERE json_extract(json, '$.status') = 'failed' AND json_extract(json, '$.endedAt') > 0 AND json_extract(json, '$.endedBy') = 'server' ORDER BY rowid" | sort | uniq -c | tr -s ' \n' ' ')
	if [ "$codes" != " 2 400:Malformed SDP 2 488:Not Acceptable Here " ]; then
		vg_reason "failed records: '$codes' (want 2 x 400 Malformed SDP, 2 x 488)"
		return 1
	fi
	rooms=$(sql "SELECT count(*) FROM calls WHERE json_extract(json, '$.status') = 'failed' AND json_extract(json, '$.room') != ''")
	if [ "$rooms" != 4 ]; then
		vg_reason "$rooms of the 4 refused calls' records name their room"
		return 1
	fi
	open=$(refused_rooms_open)
	if [ "$open" != "0: " ]; then
		vg_reason "rooms of refused calls still open: $open"
		return 1
	fi
}

case_refused_no_ports() {
	local rtp pid codes open n
	vg_pick_port_into rtp 2 || return 1
	vg_server_start --rtp_port_range "$rtp-$((rtp + 1))" || return 1
	n=$VG_SERVER_N
	# the first call takes the only pair, and holds it 3 s
	vg_sipp_bg holder uac_silent_bye.xml -d 3000
	pid=$VG_BG_PID
	vg_wait_event answered 5 || {
		vg_reason "the first call was not answered: $VG_REASON"
		return 1
	}
	vg_sipp noports uac_expect_503.xml || {
		vg_reason "INVITE with no ports left: $(vg_sipp_why noports)"
		return 1
	}
	if ! vg_wait_pid "$pid" 15; then
		vg_reason "the first call (sipp) still running 15 s after it started"
		return 1
	fi
	if [ "$VG_RC" -ne 0 ]; then
		VG_SIPP_RC=$VG_RC
		vg_reason "the first call failed: $(vg_sipp_why holder)"
		return 1
	fi
	codes=$(sql "SELECT json_extract(json, '$.status') || ':' || ifnull(json_extract(json, '$.sipStatusCode'), '') || ':' || json_extract(json, '$.endReason') FROM calls" "$n" | sort | tr '\n' ' ')
	if [ "$codes" != "failed:503:No media ports available hangup::BYE " ]; then
		vg_reason "call records: '$codes' (want the first hung up, the second failed 503)"
		return 1
	fi
	open=$(refused_rooms_open "$n")
	if [ "$open" != "0: " ]; then
		vg_reason "room of the refused call still open: $open"
		return 1
	fi
	vg_server_stop || return 1
}

case_history_max_rows() {
	local n total
	total=$(sql "SELECT count(*) FROM calls")
	if [ "${total:-0}" -lt 6 ]; then
		vg_reason "only ${total:-0} call records to prune"
		return 1
	fi
	vg_server_start --db "$VG_TMP/voxgate.1.db" --history_max_rows 2 || return 1
	vg_wait_event history_pruned 5 || return 1
	n=$(vg_jfield "$(vg_events history_pruned)" calls)
	if [ "$n" != "$((total - 2))" ]; then
		vg_reason "history_pruned calls=$n, want $((total - 2)): $(vg_events history_pruned)"
		return 1
	fi
	n=$(sql "SELECT count(*) FROM calls")
	[ "$n" = 2 ] || {
		vg_reason "$n call records left, want 2"
		return 1
	}
	vg_server_stop || return 1
}

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case bad_answer_empty case_bad_answer_empty
vg_case bad_answer_garbage case_bad_answer_garbage
vg_case bad_answer_no_codec case_bad_answer_no_codec
vg_case refused_calls_recorded case_refused_calls_recorded
vg_server_stop_case clean_exit
vg_case history_max_rows case_history_max_rows
vg_case refused_no_ports case_refused_no_ports

# The same hostile calls against the release server (VG_RELEASE_BIN),
# which has no sanitizer: what a caller sees must be the same.
VG_BIN=${VG_RELEASE_BIN:-$VG_ROOT/build/voxgate}
vg_server_start || vg_abort "release server did not start: $VG_REASON"
vg_case release_bad_answer_empty case_bad_answer_empty
vg_case release_bad_answer_garbage case_bad_answer_garbage
vg_case release_bad_answer_no_codec case_bad_answer_no_codec
vg_server_stop_case release_clean_exit
vg_case release_refused_no_ports case_refused_no_ports
vg_finish
