#!/usr/bin/env bash
# make demo: install what is needed, build, start the server with the agent
# pipeline and its embedded defaults, and place a real phone call to it with
# baresip. The caller says a sentence made by espeak-ng; the agent (VAD,
# pocketsphinx, the echo bot, espeak-ng) answers; we capture what the caller
# hears, transcribe it and print the conversation with its latencies. Runs as root on a fresh
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

# The integration-test helpers: free ports, server start/stop, baresip,
# capture, cross-correlation. They clean up everything at exit.
export VOXGATE_BIN=$PWD/build/voxgate
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. tests/integration/lib.sh

OUT=$VG_ROOT/build/demo
SENTENCE="Please call me back tomorrow morning."
KEYS="demo: $(head -c 18 /dev/urandom | base64 | tr -d '/+=')"

step "Starting the server with the agent pipeline"
vg_pick_port_into http_port 1 || die "no free port for the HTTP API"
vg_server_start --agent pipeline --http_port "$http_port" --keys "$KEYS" \
	--agent_workers 1 || die "the server did not start: $VG_REASON
$(tail -n 20 "$VG_SERVER_LOG" 2>/dev/null)"
say "build/voxgate serve --agent pipeline: SIP on 127.0.0.1:$VG_SIP_PORT, HTTP on 127.0.0.1:$http_port"
say "embedded defaults: our VAD, pocketsphinx (en-us), the echo bot, espeak-ng"
vg_wait_event agent_worker_registered 30 ||
	die "no agent worker registered: $(tail -n 5 "$VG_SERVER_LOG")"
say "an agent worker (voxgate agent) started, loaded its models and registered"

step "Making the caller's voice"
mkdir -p "$OUT"
espeak-ng -v en-us+klatt3 -s 160 -w "$VG_TMP/said22.wav" "$SENTENCE" &&
	sox -D "$VG_TMP/said22.wav" -r 8000 -c 1 -b 16 "$OUT/said.wav" ||
	die "espeak-ng or sox failed"
say "espeak-ng: \"$SENTENCE\" ($(printf '%.1f' "$(soxi -D "$OUT/said.wav")") s)"
# the greeting plays first; the caller speaks after it, then listens
sox -D -n -r 8000 -c 1 -b 16 "$VG_TMP/lead.wav" trim 0 4 &&
	sox -D "$VG_TMP/lead.wav" "$OUT/said.wav" "$VG_TMP/mic.wav" pad 0 8 ||
	die "sox failed"

step "Placing the call"
dir=$VG_TMP/caller
vg_baresip_config "$dir" "$VG_TMP/mic.wav" || die "no free ports for baresip"
uri="sip:agent@127.0.0.1:$VG_SIP_PORT"
say "caller: baresip dials $uri; it listens 4 s, says the sentence, listens again"
vg_capture_start "$VG_TMP/rtp.pcapng" "udp portrange $VG_BS_RTP_LO-$VG_BS_RTP_HI" ||
	die "cannot capture: $VG_REASON"
vg_baresip_dial "$dir" "$uri" 12
bs_rc=$VG_RC
vg_capture_stop

VG_MARK=0
grep -q 'Call established' "$dir/baresip.log" ||
	die "the call was not answered (baresip exit $bs_rc)
$(tail -n 20 "$dir/baresip.log")"
turn=$(vg_events turn | head -n 1)
speaking=$(vg_events agent_speaking | tail -n 1)
[ -n "$turn" ] || die "the agent did not answer; server log: build/demo/server.log"

step "The conversation"
say "agent : Hello! Say something, and I will say it back."
say "caller: $SENTENCE"
say "         the agent heard: \"$(vg_jfield "$turn" transcript)\""
say "agent : $(vg_jfield "$turn" reply)"
vg_rtp_timeline "$VG_TMP/rtp.pcapng" "$VG_BS_RTP_LO" "$VG_BS_RTP_HI" \
	"$VG_TMP/tx.ul" "$VG_TMP/rx.ul" &&
	sox -D -t ul -r 8000 -c 1 "$VG_TMP/rx.ul" -b 16 "$OUT/heard.wav" ||
	die "cannot read the captured RTP"
seg=$(build/voxgate vad "$OUT/heard.wav" 2>/dev/null | tail -n 1)
if [ -n "$seg" ]; then
	read -r from to <<<"$seg"
	sox -V1 -D "$OUT/heard.wav" "$VG_TMP/reply.wav" trim "$from" "=$(awk -v e="$to" 'BEGIN { print e + 0.3 }')" &&
		say "         the caller heard (voxgate stt): \"$(build/voxgate stt "$VG_TMP/reply.wav" 2>/dev/null)\""
fi

step "Latencies of that turn"
say "end of speech -> STT final        $(vg_jfield "$turn" stt_ms) ms"
say "end of speech -> first reply text $(vg_jfield "$turn" llm_ms) ms"
say "end of speech -> first TTS audio  $(vg_jfield "$turn" tts_ms) ms"
say "end of speech -> first RTP packet $(vg_jfield "$speaking" voice_to_voice_ms) ms (voice to voice)"
barge=$(vg_events barge_in | head -n 1)
[ -n "$barge" ] && say "barge-in: the caller talked over the agent after $(vg_jfield "$barge" heard_ms) ms; it stopped in $(vg_jfield "$barge" reaction_ms) ms"
curl -sf "http://127.0.0.1:$http_port/metrics" >"$OUT/metrics.txt" &&
	say "Prometheus figures: build/demo/metrics.txt (GET /metrics)"

step "Stopping the server"
vg_server_stop || die "stopping the server: $VG_REASON"
cp "$VG_SERVER_LOG" "$OUT/server.log" 2>/dev/null
say "SIGTERM: the server drained, stopped its worker and exited 0"
printf '\nDemo done. Listen: build/demo/said.wav (the caller) and build/demo/heard.wav (what the caller heard).\n'
