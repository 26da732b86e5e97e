#!/usr/bin/env bash
# Installs everything voxgate needs to build, test, benchmark and run its demo on
# Debian 12. Idempotent: apt-get update runs only when a package is missing.
set -euo pipefail

packages=(
	build-essential pkg-config clang clang-format
	libclang-rt-dev # libFuzzer and the sanitizer runtimes for clang
	libre-dev libyaml-dev libspandsp-dev libspeexdsp-dev libopus-dev
	libjwt-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libssl-dev
	libsrtp2-dev # only the reference srtpx's unit test and benchmark check against
	libusrsctp-dev # SCTP for WebRTC data channels (src/webrtc/sctp*.c)
	sqlite3
	libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us libespeak-ng-dev
	flite1-dev
	protobuf-c-compiler libprotobuf-c-dev # LiveKit's protobuf wire format (src/livekit)
	sip-tester baresip-core espeak-ng sox tshark curl
	kamailio # registrar and proxy of register_test.sh (SIP registration)
	jq # the JSON the integration tests read (llm_tools_test.sh, providers_test.sh)
	chromium # livekit-client in a browser (tests/integration/node/browser.test.mjs)
	openssl ca-certificates # test certificates (wsc_test); the CAs a wss provider is verified against
	python3 # the VAD benchmark's scoring (bench/vad_score.py)
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

# The node tests' packages, exactly as package-lock.json pins them: npm ci
# runs when node_modules is missing, lacks a package the lockfile lists or
# holds another version of one (the lockfile changed since the install).
# Optional packages (another platform's binaries) may be absent.
node_dir="$(dirname "$0")/../tests/integration/node"
stale=$(cd "$node_dir" && node -e '
const fs = require("fs");
let lock;
try { lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")); } catch (e) { console.log("package-lock.json unreadable"); process.exit(0); }
for (const [p, e] of Object.entries(lock.packages || {})) {
  if (!p.startsWith("node_modules/") || e.optional || e.dev || e.link) continue;
  let v;
  try { v = JSON.parse(fs.readFileSync(p + "/package.json", "utf8")).version; } catch { v = null; }
  if (v !== e.version) { console.log(`${p.slice(13)} ${v ?? "missing"}, the lockfile has ${e.version}`); break; }
}')
if [ -n "$stale" ]; then
	echo "deps.sh: npm ci in tests/integration/node ($stale)"
	# onnxruntime-node (@livekit/agents) would download its runtime at
	# install; the CPU one is in its package already.
	(cd "$node_dir" && ONNXRUNTIME_NODE_INSTALL=skip \
		ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund)
fi
