#!/usr/bin/env bash
# Registration with Debian's kamailio as registrar and proxy on loopback
# (digest auth against a fixed password, no database, the registrar's
# max_expires 4 s so refreshes come quickly). The first server registers a
# sip: entry and an outbound trunk; the second holds the failing ones.
# Cases: registers (register_ok, /metrics up=1, an OPTIONS to the AOR
# through kamailio answered by voxgate), call_via_aor (a SIPp caller dials
# the AOR at kamailio and hears the echo agent; the call is logged with
# registration=), call_via_trunk (the same for the outbound trunk's
# number, routed by the inbound trunk and rule that name it to their
# room), refresh (re-registered before the 4 s run out, twice),
# trunk_reload (an outbound trunk id registers its first number, and the
# new number after UpdateSIPOutboundTrunk), unregister (SIGTERM: REGISTER
# with expires=0 before the exit, the AOR then unknown to kamailio),
# wrong_password (at most 3 REGISTERs an attempt, register_failed code=401,
# retried after ~1 s then ~2 s), forbidden (a registrar answering 403 is
# retried and reported), down_then_up (no registrar over TCP: register_down
# and up=0; the registrar started later is registered with within the next
# backoff step).
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need kamailio sipp curl jq sox espeak-ng dumpcap tshark perl
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

KEY=regkey
SECRET=regsecret-0123456789-0123456789-0123
PASSWORD=secret
AOR_USER=+15550100

# kam_start NAME PORT [-A SYMBOL]: kamailio on 127.0.0.1:PORT (UDP and
# TCP) in its own process group; its log (every request it gets, one
# "kam_req" line each) in $VG_TMP/NAME.log. -A FORBID answers every
# REGISTER 403, -A NOAUTH takes REGISTERs without credentials.
kam_start() {
	local name=$1 port=$2 i cfg=$VG_TMP/$1.cfg
	shift 2
	cat >"$cfg" <<EOF
#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:$port
listen=tcp:127.0.0.1:$port
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("registrar", "max_expires", 4)
modparam("registrar", "default_expires", 4)

request_route {
	xlog("L_NOTICE", "kam_req \$rm \$ru src=\$si:\$sp auth=\$hdr(Authorization) contact=\$hdr(Contact)\n");
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) { t_relay(); exit; }
	if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
	if (is_method("REGISTER")) {
#!ifdef FORBID
		sl_send_reply("403", "Forbidden"); exit;
#!endif
#!ifndef NOAUTH
		if (!pv_auth_check("\$fd", "$PASSWORD", "0", "0")) { auth_challenge("\$fd", "0"); exit; }
#!endif
		if (!save("location")) sl_reply_error();
		exit;
	}
	if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
	t_relay();
}
EOF
	kamailio -c -f "$cfg" "$@" >"$VG_TMP/$name.check" 2>&1 || {
		vg_reason "kamailio -c: $(tail -n 3 "$VG_TMP/$name.check" | tr '\n' ' ')"
		return 1
	}
	setsid kamailio -f "$cfg" -DD -E "$@" </dev/null >"$VG_TMP/$name.log" 2>&1 &
	eval "KAM_PID_$name=$!"
	vg_track $!
	for ((i = 0; i < 50; i++)); do
		ss -Hlnu "( sport = :$port )" | grep -q . &&
			ss -Hltn "( sport = :$port )" | grep -q . && return 0
		sleep 0.1
	done
	vg_reason "kamailio $name did not listen on $port"
	return 1
}

# kam_registers NAME SRC_PORT: REGISTERs kamailio NAME got from our port,
# as "total fresh" (fresh: without credentials, an attempt's first).
kam_registers() {
	local lines
	lines=$(grep "kam_req REGISTER .* src=127.0.0.1:$2 " "$VG_TMP/$1.log")
	echo "$(grep -c . <<<"$lines") $(grep -c 'auth=<null>' <<<"$lines")"
}

metrics() {
	curl -s --max-time 3 "http://127.0.0.1:$HTTP_PORT/metrics"
}

# metric_is NAME AOR VALUE
metric_is() {
	local line
	line=$(metrics | grep -F "voxgate_sip_registration_$1{aor=\"$2\"}")
	[ "${line##* }" = "$3" ] || {
		vg_reason "/metrics: want $1{aor=\"$2\"} $3, have: ${line:-nothing}"
		return 1
	}
}

# options_to_aor LABEL SCENARIO USER: an OPTIONS to USER at kamailio A.
options_to_aor() {
	VG_SIP_PORT=$KAM_A vg_sipp "$1" "$2" -s "$3" -timeout 5s || {
		vg_reason "OPTIONS to $3 via kamailio: $(vg_sipp_why "$1")"
		return 1
	}
}

api() {
	curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' \
		"http://127.0.0.1:$HTTP_PORT/twirp/livekit.SIP/$1" -d "$2"
}

vg_pick_port_into KAM_A 1 || vg_abort "no port"
vg_pick_port_into KAM_B 1 || vg_abort "no port"
vg_pick_port_into KAM_C 1 || vg_abort "no port"
vg_pick_port_into HTTP_PORT 1 || vg_abort "no port"
AOR=sip:$AOR_USER@127.0.0.1:$KAM_A
TOKEN=$("$VG_BIN" token create --api-key "$KEY" --api-secret "$SECRET" \
	--sip-admin --ttl 1h 2>/dev/null) || vg_abort "token create failed"

kam_start kam_a "$KAM_A" || vg_abort "$VG_REASON"

# The outbound trunk is made through the API of a first run, so that its
# id can go in the setting of the server the cases use (same db).
vg_server_start --http_port "$HTTP_PORT" --keys "$KEY: $SECRET" \
	--db "$VG_TMP/reg.db" || vg_abort "server did not start: $VG_REASON"
TRUNK=$(api CreateSIPOutboundTrunk "{\"trunk\":{\"name\":\"reg\",\"address\":\"127.0.0.1:$KAM_A\",\"numbers\":[\"+15550300\"],\"authUsername\":\"+15550300\",\"authPassword\":\"$PASSWORD\"}}" |
	jq -r '.sip_trunk_id // .sipTrunkId // empty')
[ -n "$TRUNK" ] || vg_abort "CreateSIPOutboundTrunk failed"
vg_server_stop || vg_abort "first run: $VG_REASON"

vg_server_start --http_port "$HTTP_PORT" --keys "$KEY: $SECRET" \
	--db "$VG_TMP/reg.db" --registrations "$AOR, $TRUNK" \
	--registration_password "$PASSWORD" ||
	vg_abort "server did not start: $VG_REASON"
SERVER_SIP_PORT=$VG_SIP_PORT

case_registers() {
	vg_whole_log
	vg_wait_event register_ok 5 || return 1
	if [[ $(vg_events register_ok) != *"aor=$AOR"* && $(vg_events register_ok) != *"\"aor\":\"$AOR\""* ]]; then
		vg_reason "register_ok is not for $AOR: $(vg_events register_ok | head -n 1)"
		return 1
	fi
	metric_is up "$AOR" 1 || return 1
	metric_is expires_seconds "$AOR" 4 || return 1
	metric_is failures_total "$AOR" 0 || return 1
	# the password never reaches the log
	if grep -q -- "$PASSWORD" "$VG_SERVER_LOG"; then
		vg_reason "the registration password is in the server log"
		return 1
	fi
	options_to_aor opt options.xml "$AOR_USER"
}

# call_aor USER AOR: a SIPp caller dials USER at kamailio A and hears the
# echo agent (the speech back, captured); the caller ends the call, which
# is logged with registration=AOR.
call_aor() {
	local mp rc line
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || {
		vg_reason "sox failed"
		return 1
	}
	vg_pick_port_into mp 4 || return 1
	vg_capture_start "$VG_CDIR/aor.pcapng" "udp port $mp" || return 1
	VG_SIP_PORT=$KAM_A SIPP_MP=$mp vg_sipp aor uac_echo_pcmu.xml \
		-s "$1" -d 3000
	rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "$(vg_sipp_why aor)"
		return 1
	fi
	vg_check_echo "$VG_CDIR/aor.pcapng" "$mp" "$VG_CDIR/audio.ul" 0 100 0.9 ||
		return 1
	vg_call_end_check caller || return 1
	line=$(vg_events registered_call | head -n 1)
	[ "$(vg_jfield "$line" registration)" = "$2" ] || {
		vg_reason "the call is not logged with registration=$2: ${line:-no registered_call event}"
		return 1
	}
}

case_call_via_aor() {
	local line
	call_aor "$AOR_USER" "$AOR" || return 1
	line=$(vg_events invite | head -n 1)
	[[ $(vg_jfield "$line" to) == *"$AOR_USER@"* ]] || {
		vg_reason "the INVITE's Request-URI does not carry the number: $line"
		return 1
	}
}

# The outbound trunk's own number, registered from the trunk: an inbound
# trunk that lists the number and a rule that sends it to its own room
# route it, as they would any inbound call, and the agent answers there.
case_call_via_trunk() {
	local rc line in_trunk rule room=reg-trunk-room
	local aor=sip:+15550300@127.0.0.1:$KAM_A
	in_trunk=$(api CreateSIPInboundTrunk '{"trunk":{"name":"reg-in","numbers":["+15550300"]}}' |
		jq -r '.sip_trunk_id // .sipTrunkId // empty')
	[ -n "$in_trunk" ] || {
		vg_reason "CreateSIPInboundTrunk failed"
		return 1
	}
	rule=$(api CreateSIPDispatchRule "{\"rule\":{\"dispatchRuleDirect\":{\"roomName\":\"$room\"}},\"trunkIds\":[\"$in_trunk\"]}" |
		jq -r '.sip_dispatch_rule_id // .sipDispatchRuleId // empty')
	[ -n "$rule" ] || {
		vg_reason "CreateSIPDispatchRule failed"
		return 1
	}
	metric_is up "$aor" 1 && call_aor +15550300 "$aor"
	rc=$?
	api DeleteSIPDispatchRule "{\"sip_dispatch_rule_id\":\"$rule\"}" >/dev/null
	api DeleteSIPTrunk "{\"sip_trunk_id\":\"$in_trunk\"}" >/dev/null
	[ "$rc" -eq 0 ] || return 1
	line=$(vg_events routed | head -n 1)
	if [ "$(vg_jfield "$line" trunk)" != "$in_trunk" ] ||
		[ "$(vg_jfield "$line" rule)" != "$rule" ] ||
		[ "$(vg_jfield "$line" room)" != "$room" ]; then
		vg_reason "not routed by trunk $in_trunk and rule $rule to $room: ${line:-no routed event}"
		return 1
	fi
}

# Counted over the whole log: refreshes come every 3.2 s (80 % of the
# 4 s granted), so a window that starts with the case may hold only one.
# Three since the start (the first and two refreshes) within 10 s of the
# case's start, whatever the phase.
case_refresh() {
	local i n
	vg_whole_log
	for ((i = 0; i < 100; i++)); do
		n=$(vg_events register_ok | grep -c -F "$AOR")
		[ "$n" -ge 3 ] && break
		sleep 0.1
	done
	[ "$n" -ge 3 ] || {
		vg_reason "$n register_ok for $AOR since the start (max_expires 4 s: want 3, a refresh every 3.2 s)"
		return 1
	}
	metric_is up "$AOR" 1 || return 1
	options_to_aor opt options.xml "$AOR_USER"
}

case_trunk_reload() {
	local old=sip:+15550300@127.0.0.1:$KAM_A new=sip:+15550301@127.0.0.1:$KAM_A out
	vg_whole_log
	metric_is up "$old" 1 || return 1
	vg_mark
	out=$(api UpdateSIPOutboundTrunk "{\"sip_trunk_id\":\"$TRUNK\",\"update\":{\"numbers\":{\"set\":[\"+15550301\"]}}}")
	[[ $out == *+15550301* ]] || {
		vg_reason "UpdateSIPOutboundTrunk: $out"
		return 1
	}
	vg_wait_event unregistered 5 || return 1
	for ((i = 0; i < 50; i++)); do
		vg_events register_ok | grep -q -F "$new" && break
		sleep 0.1
	done
	vg_events register_ok | grep -q -F "$new" || {
		vg_reason "no register_ok for $new after the trunk's number changed"
		return 1
	}
	[[ $(vg_events unregistered) == *"$old"* ]] || {
		vg_reason "the trunk's old number was not unregistered: $(vg_events unregistered)"
		return 1
	}
	metric_is up "$new" 1 || return 1
	! metrics | grep -q -F "aor=\"$old\"" || {
		vg_reason "/metrics still shows $old"
		return 1
	}
}

case_unregister() {
	local before
	before=$(grep -c 'expires=0' "$VG_TMP/kam_a.log")
	vg_server_stop || return 1
	[ "$(grep -c 'expires=0' "$VG_TMP/kam_a.log")" -gt "$before" ] || {
		vg_reason "kamailio saw no REGISTER with expires=0 before the exit"
		return 1
	}
	grep -q '"event":"unregistered".*'"$AOR_USER" "$VG_SERVER_LOG" ||
		grep -q "unregistered.*$AOR_USER" "$VG_SERVER_LOG" || {
		vg_reason "no unregistered event for $AOR"
		return 1
	}
	options_to_aor opt404 options_expect_404.xml "$AOR_USER"
}

vg_case registers case_registers
vg_case call_via_aor case_call_via_aor
vg_case call_via_trunk case_call_via_trunk
vg_case refresh case_refresh
vg_case trunk_reload case_trunk_reload
vg_case unregister case_unregister

# The second server: a wrong password at A, a registrar that answers 403
# (B), and none at all at C over TCP until down_then_up starts it.
kam_start kam_b "$KAM_B" -A FORBID || vg_abort "$VG_REASON"
FAIL_AOR=sip:+15550200@127.0.0.1:$KAM_A
FORBID_AOR=sip:+15550201@127.0.0.1:$KAM_B
DOWN_AOR=sip:+15550202@127.0.0.1:$KAM_C
vg_server_start --http_port "$HTTP_PORT" \
	--registrations "$FAIL_AOR,$FORBID_AOR,$DOWN_AOR;transport=tcp" \
	--registration_password wrong ||
	vg_abort "server did not start: $VG_REASON"
START=$SECONDS

case_wrong_password() {
	local i n regs total fresh retries
	vg_whole_log
	for ((i = 0; i < 60; i++)); do
		n=$(vg_events register_failed | grep -c -F "$FAIL_AOR")
		[ "$n" -ge 3 ] && break
		sleep 0.1
	done
	[ "$n" -ge 3 ] || {
		vg_reason "$n register_failed for $FAIL_AOR within 6 s (want 3: retried)"
		return 1
	}
	regs=$(kam_registers kam_a "$VG_SIP_PORT")
	read -r total fresh <<<"$regs"
	echo "# $VG_CASE: $total REGISTERs in $fresh attempts"
	if [ "$fresh" -lt 3 ] || [ "$total" -gt $((3 * fresh)) ]; then
		vg_reason "$total REGISTERs in $fresh attempts (want at most 3 each)"
		return 1
	fi
	retries=$(vg_events register_failed | grep -F "$FAIL_AOR" |
		sed -n 's/.*"retry_in_ms":\([0-9]*\).*/\1/p' | head -n 2 | tr '\n' ' ')
	read -r r1 r2 <<<"$retries"
	# backoff: 0.5-1 s after the first failure, 1-2 s after the second
	if [ -z "${r2:-}" ] || [ "$r1" -lt 500 ] || [ "$r1" -gt 1000 ] ||
		[ "$r2" -lt 1000 ] || [ "$r2" -gt 2000 ]; then
		vg_reason "retry_in_ms were '$retries' (want 500-1000, then 1000-2000)"
		return 1
	fi
	[[ $(vg_events register_failed | grep -F "$FAIL_AOR" | head -n 1) == *'"code":401'* ]] || {
		vg_reason "register_failed: $(vg_events register_failed | head -n 1)"
		return 1
	}
	metric_is up "$FAIL_AOR" 0 || return 1
	n=$(metrics | grep -F "failures_total{aor=\"$FAIL_AOR\"}")
	[ "${n##* }" -ge 3 ] || {
		vg_reason "/metrics failures: $n"
		return 1
	}
}

case_forbidden() {
	local n total fresh
	vg_whole_log
	n=$(vg_events register_failed | grep -F "$FORBID_AOR" | grep -c '"code":403')
	[ "$n" -ge 2 ] || {
		vg_reason "$n register_failed code=403 for $FORBID_AOR (want it retried)"
		return 1
	}
	read -r total fresh <<<"$(kam_registers kam_b "$VG_SIP_PORT")"
	[ "$total" = "$fresh" ] || {
		vg_reason "a 403 was answered with credentials: $total REGISTERs in $fresh attempts"
		return 1
	}
	metric_is up "$FORBID_AOR" 0
}

case_down_then_up() {
	local i n
	vg_whole_log
	n=$(vg_events register_down | grep -c -F "$DOWN_AOR")
	[ "$n" -ge 2 ] || {
		vg_reason "$n register_down for $DOWN_AOR (want it retried)"
		return 1
	}
	metric_is up "$DOWN_AOR" 0 || return 1
	# at least 3 s after the start, so that it was down for a while
	while [ $((SECONDS - START)) -lt 3 ]; do sleep 0.2; done
	vg_mark
	kam_start kam_c "$KAM_C" -A NOAUTH || return 1
	# the backoff step after 3-4 failures is at most 8 s
	vg_wait_event register_ok 10 || return 1
	[[ $(vg_events register_ok) == *"$DOWN_AOR"* ]] || {
		vg_reason "register_ok is not for $DOWN_AOR: $(vg_events register_ok)"
		return 1
	}
	metric_is up "$DOWN_AOR" 1
}

vg_case wrong_password case_wrong_password
vg_case forbidden case_forbidden
vg_case down_then_up case_down_then_up
vg_server_stop_case clean_exit

vg_finish
