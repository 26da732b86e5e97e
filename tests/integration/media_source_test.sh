#!/usr/bin/env bash
# Where the media goes and whom it is taken from, with SIPp as the caller and
# a third party on the same host.
# - race_latch: between the 200 and the ACK, a third party sends the
#   server's RTP port a run of packets in sequence, from a port that is not
#   the one in the caller's SDP; the caller, streaming from its SDP address
#   after that, still gets its audio back (captured and cross-correlated, as
#   in media_echo_test.sh), and the call ends with the caller's BYE.
# Cases: race_latch.
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

vg_server_start || vg_abort "server did not start: $VG_REASON"
vg_case race_latch case_race_latch
vg_server_stop_case clean_exit
vg_finish
