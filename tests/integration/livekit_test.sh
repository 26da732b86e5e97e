#!/usr/bin/env bash
# The LiveKit-compatible API driven by the real livekit-server-sdk: runs the
# node tests in tests/integration/node/ (node --test, TAP reporter) against
# build/asan/voxgate (or $VOXGATE_BIN) and turns their TAP into one line
# per leaf test: "ok <file>/<suite>/<test>" or "FAIL <name>: <reason>",
# followed on failure by "#" lines with the details. A suite whose hook
# failed without any of its tests failing is reported as a FAIL of its own.
#
# Nothing is skipped silently: without node or the SDK every test file is
# reported as a FAIL. Exits non-zero when anything failed.
#
# Environment: VOXGATE_BIN, VG_KEEP=1 (keep the tests' temp dirs),
# VG_NODE_CONCURRENCY (test files run at once, default 3: most of their
# time is calls in real time, about a quarter of a core in all; at 4 the
# stock AgentSession's reply once came short),
# VG_NODE_TIMEOUT (seconds for the whole run, default 540).

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
NODE_DIR=tests/integration/node
LOGDIR=$ROOT/build/test-logs
mkdir -p "$LOGDIR"
TAP=$LOGDIR/livekit-node.tap

export VOXGATE_BIN=${VOXGATE_BIN:-$ROOT/build/asan/voxgate}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

files=()
for f in "$NODE_DIR"/*.test.mjs; do
	[ -f "$f" ] && files+=("$f")
done

# fail_all REASON: one FAIL line per test file (nothing could run).
fail_all() {
	local f
	if [ ${#files[@]} -eq 0 ]; then
		echo "FAIL livekit_node: $1"
	fi
	for f in "${files[@]}"; do
		echo "FAIL $(basename "$f" .test.mjs): $1"
	done
	exit 1
}

[ ${#files[@]} -gt 0 ] || fail_all "no test files in $NODE_DIR"
command -v node >/dev/null 2>&1 || fail_all "node is not installed (scripts/deps.sh installs it)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
if [ -z "$node_major" ] || [ "$node_major" -lt 20 ]; then
	fail_all "node 20 or later needed, found $(node --version 2>&1)"
fi
if [ ! -f "$NODE_DIR/node_modules/livekit-server-sdk/package.json" ]; then
	fail_all "livekit-server-sdk is not installed in $NODE_DIR/node_modules (scripts/deps.sh runs npm ci there)"
fi
if ! (cd "$NODE_DIR" && node --input-type=module -e "await import('livekit-server-sdk'); await import('@livekit/protocol');") \
	>"$LOGDIR/livekit-node-import.log" 2>&1; then
	fail_all "livekit-server-sdk does not load: $(head -c 300 "$LOGDIR/livekit-node-import.log" | tr '\n' ' ')"
fi
[ -x "$VOXGATE_BIN" ] || echo "# $VOXGATE_BIN is not built: every test will fail"

start=$SECONDS
timeout -k 5 "${VG_NODE_TIMEOUT:-540}" node --test --test-reporter=tap \
	--test-concurrency="${VG_NODE_CONCURRENCY:-3}" "$NODE_DIR/" >"$TAP" 2>"$TAP.stderr"
node_rc=$?
echo "# node --test exited with $node_rc after $((SECONDS - start)) s (TAP in $TAP)"
case $node_rc in
124 | 137) echo "# node --test was killed after ${VG_NODE_TIMEOUT:-540} s" ;;
esac

# TAP (node's reporter: 4 spaces per nesting level, YAML blocks after each
# result) to ok/FAIL lines.
node --input-type=module - "$TAP" "$node_rc" <<'EOF'
import fs from 'node:fs';
import path from 'node:path';

const [tapFile, rcArg] = process.argv.slice(2);
const nodeRc = Number(rcArg);
const lines = fs.readFileSync(tapFile, 'utf8').split('\n');

const clean = (s) => s.trim().replace(/\s+/g, '_');

// YAML block starting at lines[i] ("---"); returns {fields, end}.
function readYaml(i, indent) {
  const fields = {};
  let j = i + 1;
  while (j < lines.length && lines[j].trim() !== '...') {
    const m = lines[j].match(/^(\s*)([A-Za-z_]+): ?(.*)$/);
    if (m && m[1].length === indent + 2) {
      const key = m[2];
      let val = m[3];
      if (val === '|-' || val === '|' || val === '>-') {
        const block = [];
        let k = j + 1;
        while (k < lines.length && lines[k].trim() !== '...' &&
               (lines[k].trim() === '' || lines[k].match(/^\s*/)[0].length > indent + 2)) {
          block.push(lines[k].slice(indent + 4));
          k++;
        }
        fields[key] = block.join('\n').trim();
        j = k;
        continue;
      }
      if (val.startsWith("'") && val.endsWith("'")) val = val.slice(1, -1).replace(/''/g, "'");
      else if (val.startsWith('"') && val.endsWith('"')) {
        try { val = JSON.parse(val); } catch { /* keep */ }
      }
      fields[key] = val;
    }
    j++;
  }
  return { fields, end: j };
}

const stack = [];        // open subtests: {name, level, hasChildren}
const results = [];      // {name, ok, leaf, level, reason, details, failureType, directive}
let diag = [];           // top-level "# " lines since the last top-level result

for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  let m;
  if (/^# (?!Subtest: )/.test(line)) diag.push(line.slice(2));
  if ((m = line.match(/^(\s*)# Subtest: (.*)$/))) {
    const level = m[1].length / 4;
    while (stack.length && stack[stack.length - 1].level >= level) stack.pop();
    if (stack.length) stack[stack.length - 1].hasChildren = true;
    stack.push({ name: m[2], level, hasChildren: false });
    continue;
  }
  if ((m = line.match(/^(\s*)(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b(.*))?$/))) {
    const level = m[1].length / 4;
    while (stack.length && stack[stack.length - 1].level > level) stack.pop();
    const me = stack.length && stack[stack.length - 1].level === level ? stack.pop() : { name: m[3], hasChildren: false };
    let fields = {};
    if (lines[i + 1] !== undefined && lines[i + 1].trim() === '---') {
      const y = readYaml(i + 1, m[1].length);
      fields = y.fields;
      i = y.end;
    }
    const names = [...stack.map((s) => s.name), me.name];
    // a file that failed outside of any test (load error, crash) is reported
    // under its path, with what it printed
    if (names.length === 1 && /\.m?js$/.test(names[0])) {
      names[0] = path.basename(names[0]).replace(/\.test\.m?js$/, '');
      if (m[2] !== 'ok') {
        const errLine = diag.find((l) => /\b[A-Z]\w*Error\b/.test(l));
        fields.error = `test file failed (exit ${fields.exitCode ?? '?'}${fields.signal && fields.signal !== '~' ? `, ${fields.signal}` : ''})` +
          `${errLine ? `: ${errLine.trim()}` : ''}\n${diag.slice(-20).join('\n')}`;
      }
    }
    if (level === 0) diag = [];
    results.push({
      name: names.map(clean).join('/'),
      ok: m[2] === 'ok' && !m[4],
      leaf: !me.hasChildren,
      level,
      reason: m[4] ? `${m[4] === 'SKIP' ? 'skipped' : 'marked todo'}${m[5] ? `:${m[5]}` : ''} (nothing may be skipped)` : fields.error ?? '',
      failureType: fields.failureType,
      location: fields.location,
      directive: m[4],
    });
  }
}

// Tests cancelled because their suite's hook failed: take the suite's reason.
for (let k = 0; k < results.length; k++) {
  const r = results[k];
  if (r.ok || r.leaf || r.failureType !== 'hookFailed') continue;
  for (let c = k - 1; c >= 0 && results[c].level > r.level; c--) {
    const ch = results[c];
    if (!ch.ok && ch.failureType === 'cancelledByParent') {
      ch.reason = `suite hook failed: ${r.reason}`;
      ch.inherited = true;
    }
  }
}

let failed = 0;
let passed = 0;
const out = [];
for (let k = 0; k < results.length; k++) {
  const r = results[k];
  if (!r.leaf) {
    if (r.ok) continue;
    // a failed suite with no failed test under it (after hook, ...)
    let childFailed = false;
    for (let c = k - 1; c >= 0 && results[c].level > r.level; c--) if (!results[c].ok) childFailed = true;
    if (childFailed) continue;
  }
  if (r.ok) {
    out.push(`ok ${r.name}`);
    passed++;
    continue;
  }
  failed++;
  const text = (r.reason || r.failureType || 'failed').split('\n');
  const first = text.find((l) => l.trim()) ?? 'failed';
  out.push(`FAIL ${r.name}: ${first.trim()}`);
  const rest = text.slice(text.indexOf(first) + 1).filter((l) => l.trim());
  for (const l of rest.slice(0, 30)) out.push(`#     ${l}`);
  if (rest.length > 30) out.push(`#     ... ${rest.length - 30} more lines in the TAP file`);
  if (r.location && !r.inherited) out.push(`#     at ${r.location}`);
}
// diagnostics the test files printed at top level (artifact paths, summary)
for (const l of lines) {
  const a = l.match(/^\s*# (?:\\?# )?(artifacts (?:copied to|kept in) .*)$/);
  if (a) out.push(`# ${a[1]}`);
  else if (/^# (tests|pass|fail|cancelled|skipped|todo|duration_ms)\b/.test(l)) out.push(l);
}
if (results.length === 0) {
  out.push(`FAIL livekit_node: no test results in the TAP output (node exited ${nodeRc})`);
  failed++;
} else if (nodeRc !== 0 && failed === 0) {
  out.push(`FAIL livekit_node: node --test exited with ${nodeRc} although every test passed`);
  failed++;
}
console.log(out.join('\n'));
process.exit(failed ? 1 : 0);
EOF
conv_rc=$?
if [ "$conv_rc" -ne 0 ] && [ "$conv_rc" -ne 1 ]; then
	echo "FAIL livekit_node: the TAP converter failed (exit $conv_rc); TAP in $TAP"
	exit 1
fi
if [ -s "$TAP.stderr" ]; then
	echo "# node --test stderr (last 10 lines):"
	tail -n 10 "$TAP.stderr" | sed 's/^/#   /'
fi
exit "$conv_rc"
