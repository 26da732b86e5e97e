#!/usr/bin/env bash
# make demo: install what is needed, build, start the server and place a real
# phone call to it with baresip. The caller says a sentence made by espeak-ng;
# the server's echo agent sends it back; we record what the caller hears,
# compare it with what was said and tell the story. Runs as root on a fresh
# Debian 12 (scripts/deps.sh installs the packages). Everything runs on
# 127.0.0.1 on free ports; the server is stopped at the end. The recordings
# stay in build/demo/.
set -u
cd "$(dirname "$0")/.." || exit 1

step() {
	printf '\n==> %s\n' "$*"
}

say() {
	printf '    %s\n' "$*"
}

die() {
	printf '\ndemo: %s\n' "$*" >&2
	exit 1
}

step "Installing dependencies (scripts/deps.sh)"
bash scripts/deps.sh || die "scripts/deps.sh failed"

step "Building (make)"
make || die "make failed"
make -s build/tools/xcorr || die "building build/tools/xcorr failed"

# The integration-test helpers: free ports, server start/stop, baresip,
# capture, cross-correlation. They clean up everything at exit.
export VOXGATE_BIN=$PWD/build/voxgate
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. tests/integration/lib.sh

OUT=$VG_ROOT/build/demo
SENTENCE="Hello, this is a phone call to voxgate. Everything I say travels \
over SIP and RTP to the server, and the echo agent sends it straight back."

step "Starting the server"
vg_server_start || die "the server did not start: $VG_REASON
$(tail -n 20 "$VG_SERVER_LOG" 2>/dev/null)"
say "build/voxgate serve --sip_host 127.0.0.1 --sip_port $VG_SIP_PORT (agent audio-echo)"
say "listening on udp+tcp 127.0.0.1:$VG_SIP_PORT (JSON log: build/demo/server.log)"

step "Making the caller's voice"
mkdir -p "$OUT"
vg_make_speech "$OUT/said.wav" "$SENTENCE" || die "$VG_REASON"
speech_s=$(soxi -D "$OUT/said.wav")
say "espeak-ng: \"$SENTENCE\""
say "$(printf '%.1f' "$speech_s") s of speech, 8 kHz mono (build/demo/said.wav)"
# baresip hangs up when its microphone file ends: pad with silence
sox -D "$OUT/said.wav" "$VG_TMP/mic.wav" pad 0 5 || die "sox failed"
call_s=$(awk -v s="$speech_s" 'BEGIN { printf "%d", s + 2.999 }')

step "Placing the call"
dir=$VG_TMP/caller
vg_baresip_config "$dir" "$VG_TMP/mic.wav" || die "no free ports for baresip"
uri="sip:echo@127.0.0.1:$VG_SIP_PORT"
say "caller: baresip as sip:caller@127.0.0.1:$VG_BS_SIP_PORT, microphone = the speech above"
say "dialling $uri; baresip hangs up after $call_s s"
captured=0
if command -v dumpcap >/dev/null 2>&1 &&
	vg_capture_start "$VG_TMP/rtp.pcapng" \
		"udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" 2>/dev/null; then
	captured=1
fi
vg_baresip_dial "$dir" "$uri" "$call_s"
bs_rc=$VG_RC
[ "$captured" = 1 ] && vg_capture_stop

VG_MARK=0
inv=$(vg_events invite | tail -n 1)
media=$(vg_events media | tail -n 1)
end=$(vg_events call_end | tail -n 1)
[ -n "$inv" ] || die "the server never saw the INVITE (baresip exit $bs_rc)
$(tail -n 20 "$dir/baresip.log")"
say "call placed: the server got an INVITE from $(vg_jfield "$inv" from) over $(vg_jfield "$inv" transport)"
if vg_log_has_event answered && grep -q 'Call established' "$dir/baresip.log"; then
	say "answered: 200 OK, codec $(vg_jfield "$media" codec); baresip says \"Call established\""
else
	die "the call was not answered (baresip exit $bs_rc)
$(tail -n 20 "$dir/baresip.log")"
fi
if [ -n "$end" ]; then
	say "hung up by the $(vg_jfield "$end" by) after $(awk -v ms="$(vg_jfield "$end" duration_ms)" 'BEGIN { printf "%.1f", ms / 1000 }') s: $(vg_jfield "$end" packets_in) RTP packets in, $(vg_jfield "$end" packets_out) out"
fi

step "What the caller heard"
vg_baresip_recordings "$dir"
[ -s "$VG_BS_DEC" ] || die "baresip recorded nothing received"
cp "$VG_BS_DEC" "$OUT/heard.wav"
heard_s=$(soxi -D "$OUT/heard.wav")
say "$(printf '%.1f' "$heard_s") s of echo received (build/demo/heard.wav)"
if vg_xcorr -w 500 -m 1000 "$OUT/said.wav" "$OUT/heard.wav"; then
	if vg_fcmp "$VG_CORR" ">" 0.5; then
		say "it is the caller's own voice: correlation $VG_CORR with what was said"
	else
		say "it does NOT sound like what was said: correlation only $VG_CORR"
	fi
fi
if [ "$captured" = 1 ] &&
	vg_rtp_timeline "$VG_TMP/rtp.pcapng" "$VG_BS_RTP_LO" "$VG_BS_RTP_HI" \
		"$VG_TMP/tx.ul" "$VG_TMP/rx.ul" &&
	vg_xcorr -w 500 -m 1000 "$VG_TMP/tx.ul" "$VG_TMP/rx.ul"; then
	say "round trip through the server: the echo follows the voice by $VG_LAG_MS ms on the wire (correlation $VG_CORR)"
fi

step "Stopping the server"
stopped=0
vg_server_stop && stopped=1
cp "$VG_SERVER_LOG" "$OUT/server.log" 2>/dev/null
if [ "$stopped" = 1 ]; then
	stats=$(vg_events stats | tail -n 1)
	say "SIGTERM: the server drained and exited 0 ($(vg_jfield "$stats" calls) call, jitter-buffer residence p50 $(awk -v us="$(vg_jfield "$stats" residence_p50_us)" 'BEGIN { printf "%.0f", us / 1000 }') ms)"
else
	die "stopping the server: $VG_REASON"
fi
printf '\nDemo done. Listen: build/demo/said.wav (said) and build/demo/heard.wav (heard).\n'
