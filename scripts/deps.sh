#!/usr/bin/env bash
# Installs everything voxgate needs to build, test, benchmark and run its demo on
# Debian 12. Idempotent: apt-get update runs only when a package is missing.
set -euo pipefail

packages=(
	build-essential pkg-config clang clang-format
	libclang-rt-dev # libFuzzer and the sanitizer runtimes for clang
	libre-dev libyaml-dev libspandsp-dev libspeexdsp-dev libopus-dev
	libjwt-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libssl-dev
	libsrtp2-dev
	libusrsctp-dev # SCTP for WebRTC data channels (src/webrtc/sctp.c)
	sqlite3
	libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us libespeak-ng-dev
	flite1-dev
	protobuf-c-compiler libprotobuf-c-dev # LiveKit's protobuf wire format (src/livekit)
	sip-tester baresip-core espeak-ng sox tshark curl
	valgrind procps iproute2
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing packages (${missing[*]}); run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "deps.sh: all packages present"
fi

# Node.js runs the tests that drive our LiveKit-compatible API with the real
# livekit-server-sdk; Debian's own nodejs will do where none is installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends nodejs npm
fi

node_dir="$(dirname "$0")/../tests/integration/node"
if [ ! -d "$node_dir/node_modules/livekit-server-sdk" ]; then
	(cd "$node_dir" && npm ci --no-audit --no-fund)
fi
