#!/usr/bin/env bash
# SIP over TLS with baresip as the caller (SIPp has no TLS). The test makes
# its certificate (openssl, CN and subjectAltName 127.0.0.1) with the key in
# a file of its own, the case that goes through the memfd. Cases:
# tls_garbage (three connections to the TLS port: 4 KB of random bytes, a
# plaintext OPTIONS, and a ClientHello's first bytes then nothing, held
# open; the server stays up and an OPTIONS over UDP still gets 200),
# inbound_tls (baresip, trusting the certificate, dials over TLS while the
# stalled connection is still open: the INVITE arrives over TLS, the call is
# answered and what baresip hears is what it said, cross-correlation
# > 0.5; a capture of the TLS port holds a TLS handshake and no plaintext
# SIP), outbound_tls (an outbound trunk over TLS to a baresip callee
# listening on TLS, CreateSIPParticipant by curl with a `voxgate token` JWT:
# answered, the callee's recording is the echo of its speech, its TLS port
# carried a handshake and no plaintext SIP), outbound_srtp (the same with a
# REQUIRE trunk and a callee that insists on SRTP: keyed with SDES, the echo
# heard, the RTP payloads on the wire not the speech), bad_key (a key that
# does not match the certificate, an unreadable
# certificate, a key without a certificate, a registration over TLS without
# a certificate: the server does not start, exit code 2, and the message
# names the setting and the file).
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need baresip openssl sox soxi espeak-ng dumpcap tshark perl curl jq
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

CALL_SECS=5
CALLEE_SECS=7
CERT=$VG_TMP/cert.pem
KEY=$VG_TMP/key.pem
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$KEY" -out "$CERT" \
	>"$VG_TMP/openssl.log" 2>&1 || vg_abort "openssl req failed"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other \
	-keyout "$VG_TMP/other.key" -out "$VG_TMP/other.pem" \
	>>"$VG_TMP/openssl.log" 2>&1 || vg_abort "openssl req failed"

# the callee's certificate: baresip reads the chain and the key from one
# file (voxgate does not verify a trunk's certificate: libre 1.1.0)
cat "$CERT" "$KEY" >"$VG_TMP/callee.pem"

API_KEY=tlskey
API_SECRET="tls-test-secret-at-least-32-chars-long"
vg_pick_port_into TLS_PORT 1 || vg_abort "no port"
vg_pick_port_into VG_HTTP_PORT 1 || vg_abort "no port"
vg_server_start --sip_tls_cert "$CERT" --sip_tls_key "$KEY" \
	--sip_tls_port "$TLS_PORT" --http_port "$VG_HTTP_PORT" \
	--keys "$API_KEY: $API_SECRET" || vg_abort "server did not start: $VG_REASON"
TOKEN=$("$VG_BIN" token create --api-key "$API_KEY" --api-secret "$API_SECRET" \
	--sip-admin --sip-call --ttl 1h 2>/dev/null) || vg_abort "token create failed"

# twirp METHOD JSON: POST to the SIP service; the body goes to VG_TW_OUT,
# the status to VG_TW_CODE.
twirp() {
	local out=$VG_CDIR/twirp.out
	VG_TW_CODE=$(curl -s -o "$out" -w '%{http_code}' --max-time 20 \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-d "$2" "http://127.0.0.1:$VG_HTTP_PORT/twirp/livekit.SIP/$1")
	VG_TW_OUT=$(cat "$out" 2>/dev/null)
}

# Held open across the cases: the stalled handshake.
STALLED=

case_tls_garbage() {
	local line
	VG_MARK=0
	line=$(vg_events listening)
	[ "$(vg_jfield "$line" transports)" = udp,tcp,tls ] &&
		[ "$(vg_jfield "$line" tls_port)" = "$TLS_PORT" ] || {
		vg_reason "listening does not name the TLS transport: $line"
		return 1
	}
	vg_mark
	# random bytes, then a plaintext request: each on its own connection
	(exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT" &&
		head -c 4096 /dev/urandom >&3 && sleep 0.5) 2>/dev/null
	(exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT" &&
		printf 'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: g1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' >&3 &&
		timeout 1 cat <&3 >"$VG_CDIR/plain.out") 2>/dev/null
	if grep -q 'SIP/2.0' "$VG_CDIR/plain.out" 2>/dev/null; then
		vg_reason "a plaintext OPTIONS on the TLS port was answered in plaintext"
		return 1
	fi
	# a handshake record's header and the start of a ClientHello, then
	# nothing, the connection held open by a sleeping process
	(exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT" &&
		printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&3 &&
		exec sleep 30) 2>/dev/null &
	STALLED=$!
	vg_track "$STALLED"
	sleep 0.5
	vg_server_alive || {
		vg_reason "the server died"
		return 1
	}
	vg_sipp options options.xml || {
		vg_reason "OPTIONS over UDP after the garbage: $(vg_sipp_why options)"
		return 1
	}
}

case_inbound_tls() {
	local dir=$VG_CDIR/caller src=$VG_CDIR/mic.wav pcap=$VG_CDIR/tls.pcapng
	local line dec_s
	vg_need_server || return 1
	sox -D "$VG_SPEECH" "$src" pad 0 "$CALL_SECS" || return 1
	vg_baresip_config "$dir" "$src" || return 1
	echo "sip_cafile		$CERT" >>"$dir/config"
	echo "<sip:caller@127.0.0.1;transport=tls>;regint=0;audio_codecs=PCMU" \
		>"$dir/accounts"
	vg_capture_start "$pcap" "tcp port $TLS_PORT" || return 1
	vg_baresip_dial "$dir" "sip:+15550100@127.0.0.1:$TLS_PORT" "$CALL_SECS"
	local rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ] || ! grep -q 'Call established' "$dir/baresip.log"; then
		vg_reason "baresip exited with $rc, call established: $(grep -c 'Call established' "$dir/baresip.log")"
		return 1
	fi
	line=$(vg_events invite | head -n 1)
	[ "$(vg_jfield "$line" transport)" = TLS ] || {
		vg_reason "the INVITE did not come over TLS: $line"
		return 1
	}
	vg_call_end_check caller 5 || return 1
	vg_baresip_recordings "$dir"
	[ -s "$VG_BS_DEC" ] || {
		vg_reason "baresip recorded nothing received"
		return 1
	}
	dec_s=$(soxi -D "$VG_BS_DEC")
	vg_xcorr -w 500 -m 1000 "$src" "$VG_BS_DEC" || return 1
	echo "# $VG_CASE: received $dec_s s, source vs dec.wav corr=$VG_CORR lag_ms=$VG_LAG_MS"
	vg_fcmp "$VG_CORR" ">" 0.5 || {
		vg_reason "what baresip heard does not match what it said: corr=$VG_CORR"
		return 1
	}
	# the port carried a TLS handshake, and no SIP in the clear
	no_plain_sip "$pcap" "$TLS_PORT"
}

# callee_tls DIR MEDIAENC: a baresip callee (answermode=auto) listening on
# TLS at 127.0.0.1:CALLEE_TLS (its SIP port + 1), speaking the sentence
# (CALLEE_SRC); MEDIAENC "" is plain RTP, else baresip's mediaenc (srtp-mand).
# It runs in the background (CALLEE_PID) until it quits (BYE) after
# CALLEE_SECS.
callee_tls() {
	local dir=$1 acc i
	CALLEE_SRC=$dir.mic.wav
	sox -D "$VG_SPEECH" "$CALLEE_SRC" pad 0 "$CALL_SECS" || return 1
	vg_baresip_config "$dir" "$CALLEE_SRC" || return 1
	CALLEE_TLS=$((VG_BS_SIP_PORT + 1))
	echo "sip_certificate		$VG_TMP/callee.pem" >>"$dir/config"
	acc="<sip:desk@127.0.0.1:$CALLEE_TLS;transport=tls>;regint=0;answermode=auto;audio_codecs=PCMU"
	if [ -n "$2" ]; then
		echo "module			srtp.so" >>"$dir/config"
		acc="$acc;mediaenc=$2"
	fi
	echo "$acc" >"$dir/accounts"
	(cd "$dir" && exec timeout -k 2 $((CALLEE_SECS + 10)) baresip -f "$dir" \
		-t "$CALLEE_SECS" \
		</dev/null >"$dir/baresip.log" 2>&1) &
	CALLEE_PID=$!
	vg_track "$CALLEE_PID"
	for ((i = 0; i < 50; i++)); do
		grep -q 'baresip is ready' "$dir/baresip.log" 2>/dev/null && return 0
		sleep 0.1
	done
	vg_reason "the baresip callee did not start: $(tail -c 300 "$dir/baresip.log")"
	return 1
}

# dial_out ENCRYPTION: an outbound trunk over TLS to the callee with that
# mediaEncryption, and a CreateSIPParticipant that waits for the answer
# (into room out-$VG_CASE).
dial_out() {
	local id
	twirp CreateSIPOutboundTrunk \
		"{\"trunk\":{\"name\":\"$VG_CASE\",\"address\":\"127.0.0.1:$CALLEE_TLS\",\"transport\":\"SIP_TRANSPORT_TLS\",\"numbers\":[\"+15550001111\"],\"mediaEncryption\":\"$1\"}}"
	id=$(jq -r '.sip_trunk_id // .sipTrunkId // empty' <<<"$VG_TW_OUT" 2>/dev/null)
	if [ "$VG_TW_CODE" != 200 ] || [ -z "$id" ]; then
		vg_reason "CreateSIPOutboundTrunk: $VG_TW_CODE $VG_TW_OUT"
		return 1
	fi
	twirp CreateSIPParticipant \
		"{\"sip_trunk_id\":\"$id\",\"sip_call_to\":\"desk\",\"room_name\":\"out-$VG_CASE\",\"participant_identity\":\"desk\",\"wait_until_answered\":true}"
	[ "$VG_TW_CODE" = 200 ] || {
		vg_reason "CreateSIPParticipant: $VG_TW_CODE $VG_TW_OUT"
		return 1
	}
}

# callee_heard_echo DIR: the callee quit, its call ended by its BYE, and
# what it recorded is the echo agent's return of its own speech.
callee_heard_echo() {
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$CALLEE_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'Call established' "$1/baresip.log" || {
		vg_reason "the callee never established the call: $(grep -i -m 3 'call\|tls\|error' "$1/baresip.log" | tr '\n' ' ')"
		return 1
	}
	vg_call_end_check callee 5 || return 1
	vg_baresip_recordings "$1"
	[ -s "$VG_BS_DEC" ] || {
		vg_reason "the callee recorded nothing received"
		return 1
	}
	vg_xcorr -w 500 -m 1000 "$CALLEE_SRC" "$VG_BS_DEC" || return 1
	echo "# $VG_CASE: the callee heard $(soxi -D "$VG_BS_DEC") s, its speech vs dec.wav corr=$VG_CORR lag_ms=$VG_LAG_MS"
	vg_fcmp "$VG_CORR" ">" 0.5 || {
		vg_reason "what the callee heard is not the echo of what it said: corr=$VG_CORR"
		return 1
	}
}

# no_plain_sip PCAP PORT: the capture of PORT holds a TLS handshake and no
# SIP in the clear.
no_plain_sip() {
	local plain
	[ "$(tshark -r "$1" -d "tcp.port==$2,tls" -Y tls.handshake.type==1 2>/dev/null | grep -c .)" -ge 1 ] || {
		vg_reason "no TLS ClientHello in the capture of port $2"
		return 1
	}
	tshark -r "$1" -T fields -e tcp.payload 2>/dev/null |
		perl -ne 's/[^0-9a-fA-F]//g; print pack("H*", $_)' >"$VG_CDIR/tls.bytes"
	[ "$(stat -c %s "$VG_CDIR/tls.bytes")" -ge 1000 ] || {
		vg_reason "the capture of port $2 holds only $(stat -c %s "$VG_CDIR/tls.bytes") bytes"
		return 1
	}
	plain=$(grep -a -c -E 'INVITE sip:|SIP/2\.0 200|CSeq:' "$VG_CDIR/tls.bytes")
	[ "$plain" = 0 ] || {
		vg_reason "$plain plaintext SIP lines crossed port $2"
		return 1
	}
}

# captured_echo_call DIR PCAP FILTER ENCRYPTION: dials the callee in DIR
# on a trunk with that media encryption while capturing FILTER into PCAP,
# and waits for the callee to hear its echo.
captured_echo_call() {
	local rc
	vg_capture_start "$2" "$3" || return 1
	dial_out "$4" || {
		vg_capture_stop
		return 1
	}
	callee_heard_echo "$1"
	rc=$?
	vg_capture_stop
	return "$rc"
}

case_outbound_tls() {
	local dir=$VG_CDIR/callee pcap=$VG_CDIR/tls.pcapng line
	vg_need_server || return 1
	callee_tls "$dir" "" || return 1
	captured_echo_call "$dir" "$pcap" "tcp port $CALLEE_TLS" \
		SIP_MEDIA_ENCRYPT_DISABLE || return 1
	line=$(vg_events dial | head -n 1)
	[ "$(vg_jfield "$line" transport)" = tls ] || {
		vg_reason "the call was not dialled over TLS: $line"
		return 1
	}
	line=$(vg_events media | tail -n 1)
	[ "$(vg_jfield "$line" srtp)" = off ] || {
		vg_reason "a DISABLE trunk's media: $line"
		return 1
	}
	no_plain_sip "$pcap" "$CALLEE_TLS"
}

# A REQUIRE trunk to a callee that insists on SRTP, over TLS as a carrier
# would: keyed with SDES, the echo heard, and the RTP payloads on the wire
# (both ways) not the speech in the clear.
case_outbound_srtp() {
	local dir=$VG_CDIR/callee pcap=$VG_CDIR/rtp.pcapng line srtp tx rx
	vg_need_server || return 1
	[ -f /usr/lib/baresip/modules/srtp.so ] || {
		vg_reason "baresip's srtp module is missing"
		return 1
	}
	callee_tls "$dir" srtp-mand || return 1
	captured_echo_call "$dir" "$pcap" \
		"udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" \
		SIP_MEDIA_ENCRYPT_REQUIRE || return 1
	line=$(vg_events media | tail -n 1)
	srtp=$(vg_jfield "$line" srtp)
	[[ $srtp == AES_CM_128_HMAC_SHA1_* ]] || {
		vg_reason "the call's media is not SRTP: $line"
		return 1
	}
	if [ "$(vg_jfield "$VG_CALL_END" packets_in)" -lt 200 ] ||
		[ "$(vg_jfield "$VG_CALL_END" srtp_auth_fail)" -gt 1 ]; then
		vg_reason "packets failed authentication: $VG_CALL_END"
		return 1
	fi
	vg_rtp_timeline "$pcap" "$VG_BS_RTP_LO" "$VG_BS_RTP_HI" \
		"$VG_CDIR/wire-tx.ul" "$VG_CDIR/wire-rx.ul" || return 1
	if ! sox -D -t ul -r 8000 -c 1 "$VG_CDIR/wire-tx.ul" -b 16 -e signed-integer "$VG_CDIR/wire-tx.wav" ||
		! sox -D -t ul -r 8000 -c 1 "$VG_CDIR/wire-rx.ul" -b 16 -e signed-integer "$VG_CDIR/wire-rx.wav"; then
		vg_reason "sox could not read the captured payloads"
		return 1
	fi
	vg_xcorr -w 500 -m 1000 "$CALLEE_SRC" "$VG_CDIR/wire-tx.wav" || return 1
	tx=$VG_CORR
	vg_xcorr -w 500 -m 1000 "$CALLEE_SRC" "$VG_CDIR/wire-rx.wav" || return 1
	rx=$VG_CORR
	echo "# $VG_CASE: suite $srtp; $VG_TX_COUNT packets from the callee, $VG_RX_COUNT to it; payloads vs the speech: from corr=$tx, to corr=$rx"
	[ "$VG_RX_COUNT" -ge 150 ] || {
		vg_reason "only $VG_RX_COUNT packets to the callee"
		return 1
	}
	if vg_fcmp "$tx" ">" 0.2 || vg_fcmp "$rx" ">" 0.2; then
		vg_reason "the RTP payloads on the wire are the speech in the clear (from $tx, to $rx)"
		return 1
	fi
}

# start_fails REASON_REGEX ARGS...: the server must exit 2 at once with a
# message matching REASON_REGEX.
start_fails() {
	local want=$1 out rc
	shift
	out=$(timeout 10 "$VG_BIN" serve --sip_host 127.0.0.1 --http_port 0 \
		--db "$VG_CDIR/x.db" --agent audio-echo "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" != 2 ] || ! grep -q -E "$want" <<<"$out"; then
		vg_reason "with $*: exit $rc, said: $(head -c 300 <<<"$out")"
		return 1
	fi
}

case_bad_key() {
	start_fails "sip_tls_key: does not match .* \\($VG_TMP/other.key\\)" \
		--sip_tls_cert "$CERT" --sip_tls_key "$VG_TMP/other.key" || return 1
	start_fails "sip_tls_cert: no such file \\($VG_TMP/missing.pem\\)" \
		--sip_tls_cert "$VG_TMP/missing.pem" || return 1
	start_fails "sip_tls_key: not set, and sip_tls_cert holds no PEM private key .* \\($CERT\\)" \
		--sip_tls_cert "$CERT" || return 1
	start_fails "sip_tls_key: set without sip_tls_cert" \
		--sip_tls_key "$KEY" || return 1
	start_fails "registrations: entry 1 is over TLS, which needs sip_tls_cert" \
		--registrations "sip:+15550100@127.0.0.1:5061;transport=tls"
}

vg_case tls_garbage case_tls_garbage
vg_case inbound_tls case_inbound_tls
vg_case outbound_tls case_outbound_tls
vg_case outbound_srtp case_outbound_srtp
vg_case bad_key case_bad_key
[ -n "$STALLED" ] && vg_kill_pid "$STALLED" 1
vg_server_stop_case clean_exit

vg_finish
