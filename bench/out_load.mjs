// (f) outbound call set-up rate through the API: CreateSIPParticipant at a
// fixed rate (a token bucket, at most --inflight waiting), each with
// waitUntilAnswered, against a voxgate whose outbound trunk points at SIPp
// answering (bench/sipp/uas_answer_hold.xml). Prints one JSON line:
// placed, ok, failed (by code), API latency p50/p99/max (request → reply
// after the callee's 200 and our ACK), achieved calls/s, and the driver's
// own CPU (to tell a driver-bound run from a server-bound one).
//
//   node bench/out_load.mjs --url http://127.0.0.1:PORT --key K --secret S
//        --trunk ST_... --rate 200 --secs 15 [--inflight 400] [--mode sdk|fetch]
//
// sdk: livekit-server-sdk's SipClient (one JWT signed per call, as a backend
// does); fetch: the same Twirp body with one token minted per second.
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/integration/node/package.json'));
const { SipClient } = await import(require.resolve('livekit-server-sdk'));

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const rate = Number(opt.rate ?? 200);
const secs = Number(opt.secs ?? 15);
const inflightMax = Number(opt.inflight ?? 400);
const mode = opt.mode ?? 'sdk';
const total = Math.round(rate * secs);
const sip = new SipClient(opt.url, opt.key, opt.secret, { requestTimeout: 60 });

const b64 = (x) => Buffer.from(x).toString('base64url');
let tok = null, tokAt = 0;
function token() {
  const now = Date.now();
  if (!tok || now - tokAt > 1000) {
    const h = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const p = b64(JSON.stringify({ iss: opt.key, nbf: Math.floor(now / 1000) - 5, exp: Math.floor(now / 1000) + 600, sip: { call: true } }));
    tok = `${h}.${p}.${createHmac('sha256', opt.secret).update(`${h}.${p}`).digest('base64url')}`;
    tokAt = now;
  }
  return tok;
}

async function place(i) {
  const room = `bench-${i}`;
  if (mode === 'fetch') {
    const r = await fetch(`${opt.url}/twirp/livekit.SIP/CreateSIPParticipant`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}` },
      body: JSON.stringify({ sip_trunk_id: opt.trunk, sip_call_to: `+1555${i}`, room_name: room, participant_identity: 'callee', wait_until_answered: true, ringing_timeout: '10s' }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status !== 200) throw Object.assign(new Error(body.msg ?? `HTTP ${r.status}`), { code: body.code ?? `http_${r.status}` });
    return;
  }
  await sip.createSipParticipant(opt.trunk, `+1555${i}`, room, { participantIdentity: 'callee', waitUntilAnswered: true, ringingTimeout: 10 });
}

const lat = [];
const failed = {};
let placed = 0, ok = 0, inflight = 0, skipped = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let lastDone = t0;

await new Promise((resolve) => {
  const tick = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (placed + skipped < due) {
      if (inflight >= inflightMax) {
        skipped++; // the bucket overflows: counted, never queued
        continue;
      }
      const i = placed++;
      inflight++;
      const s = performance.now();
      place(i).then(
        () => { ok++; lat.push(performance.now() - s); },
        (e) => { const c = e.code ?? (e.cause?.code ? `${e.name}:${e.cause.code}` : e.name) ?? 'error'; failed[c] = (failed[c] ?? 0) + 1; },
      ).finally(() => {
        inflight--;
        lastDone = performance.now();
        if (placed + skipped >= total && inflight === 0) { clearInterval(tick); resolve(); }
      });
    }
    if (placed + skipped >= total && inflight === 0) { clearInterval(tick); resolve(); }
  }, 5);
});

const wall = (lastDone - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1) : null);
console.log(JSON.stringify({
  mode, rate, secs, placed, ok, skipped, failed, failed_total: Object.values(failed).reduce((a, b) => a + b, 0),
  wall_s: Number(wall.toFixed(2)), achieved_cps: Number((ok / wall).toFixed(1)),
  lat_p50_ms: q(0.5), lat_p99_ms: q(0.99), lat_max_ms: lat.length ? lat[lat.length - 1].toFixed(1) : null,
  driver_cpu_pct: Number((((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(1)),
}));
