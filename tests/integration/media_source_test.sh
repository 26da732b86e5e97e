#!/usr/bin/env bash
# Where the media goes and whom it is taken from, with SIPp as the caller and
# a third party on the same host.
# - race_latch: between the 200 and the ACK, a third party sends the
#   server's RTP port a run of packets in sequence, from a port that is not
#   the one in the caller's SDP; the caller, streaming from its SDP address
#   after that, still gets its audio back (captured and cross-correlated, as
#   in media_echo_test.sh), and the call ends with the caller's BYE.
# A second server plays a greeting on answer:
# - no_ack_nothing_sent: an INVITE whose SDP names a port that is not the
#   caller's, its 200 never ACKed (as a forged INVITE's would not be):
#   nothing reaches that port or the one above it (RTCP) in 6 s, then the
#   caller's BYE ends the call.
# - greeting_after_ack: a caller that sends no RTP hears the greeting from
#   its first word once it has ACKed (the speech fixture, lag within 25 ms).
# - refused_addresses: c= multicast, broadcast or unspecified: 488.
# Cases: race_latch, no_ack_nothing_sent, greeting_after_ack,
# refused_addresses.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need sipp sox espeak-ng dumpcap tshark perl
vg_build_tool xcorr || vg_abort "cannot build build/tools/xcorr"
vg_speech_fixture || vg_abort "fixture: $VG_REASON"

# race.pl PORT: five RTP packets (PCMU, one SSRC, numbered in sequence) to
# 127.0.0.1:PORT from one socket, 20 ms apart.
write_racer() {
	cat >"$VG_CDIR/race.pl" <<'PERL'
use strict;
use IO::Socket::INET;
use Time::HiRes qw(usleep);
my $port = shift or die "usage: race.pl PORT\n";
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'udp')
	or die "socket: $!\n";
for my $i (0 .. 4) {
	$s->send(pack('CCnNN', 0x80, 0, 4000 + $i, 160 * $i, 0x0badf00d) .
		("\x55" x 160));
	usleep(20000);
}
PERL
}

case_race_latch() {
	local mp rc port
	vg_need_server || return 1
	write_racer
	vg_wav_to_g711 "$VG_SPEECH" "$VG_CDIR/audio.ul" || {
		vg_reason "sox failed"
		return 1
	}
	vg_pick_port_into mp 4 || return 1
	vg_capture_start "$VG_CDIR/race.pcapng" "udp port $mp" || return 1
	SIPP_MP=$mp vg_sipp race uac_echo_race.xml -d 3000
	rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "$(vg_sipp_why race)"
		return 1
	fi
	port=$(vg_sipp_log race server_port)
	echo "# race: the third party raced to the server's RTP port $port"
	vg_check_echo "$VG_CDIR/race.pcapng" "$mp" "$VG_CDIR/audio.ul" 0 100 0.9 ||
		return 1
	vg_call_end_check caller
}

case_no_ack_nothing_sent() {
	local victim rc n
	vg_need_server || return 1
	vg_pick_port_into victim 2 || return 1
	vg_capture_start "$VG_CDIR/victim.pcapng" \
		"udp dst port $victim or udp dst port $((victim + 1))" || return 1
	vg_sipp noack uac_no_ack.xml -key victim "$victim" -d 6000
	rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "$(vg_sipp_why noack)"
		return 1
	fi
	n=$(timeout 60 tshark -r "$VG_CDIR/victim.pcapng" -T fields \
		-e frame.number 2>/dev/null | grep -c .)
	if [ "$n" -ne 0 ]; then
		vg_reason "$n packets went to 127.0.0.1:$victim-$((victim + 1)), named by an INVITE whose 200 was never ACKed"
		return 1
	fi
	vg_call_end_check caller
}

case_greeting_after_ack() {
	local mp rc
	vg_need_server || return 1
	vg_pick_port_into mp 4 || return 1
	vg_capture_start "$VG_CDIR/greet.pcapng" "udp port $mp" || return 1
	SIPP_MP=$mp vg_sipp greet uac_silent_bye.xml -d 2000
	rc=$VG_RC
	vg_capture_stop
	if [ "$rc" -ne 0 ]; then
		vg_reason "$(vg_sipp_why greet)"
		return 1
	fi
	vg_rtp_extract "$VG_CDIR/greet.pcapng" "$mp" "$VG_CDIR/greet.ul"
	if [ "$VG_RTP_COUNT" -lt 80 ]; then
		vg_reason "only $VG_RTP_COUNT RTP packets of greeting in 2 s (want >= 80)"
		return 1
	fi
	sox -D -t ul -r 8000 -c 1 "$VG_CDIR/greet.ul" -b 16 -e signed-integer \
		"$VG_CDIR/greet.wav" || {
		vg_reason "sox could not decode the greeting"
		return 1
	}
	vg_xcorr -w 500 -m 1000 "$VG_SPEECH" "$VG_CDIR/greet.wav" || return 1
	echo "# greeting: $VG_RTP_COUNT packets, lag_ms=$VG_LAG_MS corr=$VG_CORR against the greeting's start"
	if ! vg_fcmp "$VG_CORR" ">=" 0.9 || vg_fcmp "$VG_LAG_MS" "<" -25 ||
		vg_fcmp "$VG_LAG_MS" ">" 25; then
		vg_reason "the greeting heard is not the greeting from its start: lag_ms=$VG_LAG_MS corr=$VG_CORR"
		return 1
	fi
	vg_call_end_check caller
}

case_refused_addresses() {
	local addr
	vg_need_server || return 1
	for addr in 224.0.0.1 239.255.255.250 255.255.255.255 0.0.0.0; do
		vg_sipp "refused-$addr" uac_sdp_addr_refused.xml -key addr "$addr" || {
			vg_reason "c=IN IP4 $addr: $(vg_sipp_why "refused-$addr")"
			return 1
		}
	done
}

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case race_latch case_race_latch
vg_server_stop_case clean_exit

vg_server_start --greeting "$VG_SPEECH" ||
	vg_abort "server with a greeting did not start: $VG_REASON"
vg_case no_ack_nothing_sent case_no_ack_nothing_sent
vg_case greeting_after_ack case_greeting_after_ack
vg_case refused_addresses case_refused_addresses
vg_server_stop_case clean_exit_greeting

# The races and reflections against the release server (VG_RELEASE_BIN).
VG_BIN=${VG_RELEASE_BIN:-$VG_ROOT/build/voxgate}
vg_server_start || vg_abort "release server did not start: $VG_REASON"
vg_case release_race_latch case_race_latch
vg_server_stop_case release_clean_exit_race
vg_server_start --greeting "$VG_SPEECH" ||
	vg_abort "release server did not start: $VG_REASON"
vg_case release_no_ack_nothing_sent case_no_ack_nothing_sent
vg_case release_refused_addresses case_refused_addresses
vg_server_stop_case release_clean_exit
vg_finish
