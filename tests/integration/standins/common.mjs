// What the provider stand-ins share: listening on 127.0.0.1 (plain or TLS),
// the log of what they received with secrets left out, fault selection,
// pacing, and the audio they make and measure (G.711 mu-law, 16-bit PCM).
//
// Faults, selected per test with `standin.fault = {...}` (or the `fault`
// option), each applying to the next `count` connections or requests
// (default: all of them until the test changes it):
//   {kind: 'auth'}              refuse as for a wrong key, whatever key came
//   {kind: 'status', status}    the provider's HTTP error (on the request or
//                               the WebSocket upgrade) with its error JSON
//   {kind: 'stall'}             accept (and upgrade) but never answer
//   {kind: 'drop', after}       destroy the socket, no close frame, once
//                               `after` results or audio chunks went out
//   {kind: 'trickle', chunkMs}  answer, but each chunk `chunkMs` apart
//   {kind: 'error'}             the provider's in-band error where it has one
// A wrong key sent by the client is refused the same way as {kind:'auth'}.
//
// Timing, `standin.timing` (or the `timing` option), in milliseconds:
// firstMs before the first result or audio, chunkMs between chunks.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

// `ws` comes from the node tests' packages (tests/integration/node), which
// this folder's modules are not under.
const nodeRequire = createRequire(new URL('../node/package.json', import.meta.url));
export const { WebSocket, WebSocketServer } = nodeRequire('ws');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A self-signed certificate for 127.0.0.1, made once per process. The
// providers' own SDKs (openai, @cartesia/cartesia-js) always dial wss://,
// so a stand-in they test listens with TLS and the test passes `ca`.
let cert = null;
export function selfSigned() {
  if (cert) return cert;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-tls-'));
  const key = path.join(dir, 'key.pem');
  const crt = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  cert = { key: fs.readFileSync(key), cert: fs.readFileSync(crt) };
  fs.rmSync(dir, { recursive: true, force: true });
  return cert;
}

// An HTTP(S) server on 127.0.0.1 with a random port (or opts.port).
// Resolves to {server, port, scheme: 'http'|'https', close()}.
export async function listen(handler, opts = {}) {
  const tls = opts.tls === true ? selfSigned() : opts.tls;
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    server,
    port,
    scheme: tls ? 'https' : 'http',
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// Headers as the log keeps them: those that carry keys (the named ones,
// and always Authorization, the providers' key headers and the
// subprotocols browsers pass keys in) replaced by "<redacted>" so a log
// can be printed, the rest as they came.
const SECRET_HEADERS = ['authorization', 'x-api-key', 'xi-api-key', 'api-key', 'sec-websocket-protocol'];
export function safeHeaders(headers, secret = []) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k] = secret.includes(k) || SECRET_HEADERS.includes(k) ? '<redacted>' : v;
  return out;
}

// A query string as the log keeps it, secret parameters redacted.
export function safeQuery(url, secret = []) {
  const out = {};
  for (const [k, v] of url.searchParams) {
    const val = secret.includes(k) ? '<redacted>' : v;
    if (k in out) out[k] = [].concat(out[k], val);
    else out[k] = val;
  }
  return out;
}

// The fault and timing controls every stand-in carries. take() returns the
// fault that applies to a new connection or request (spending one of its
// count) or null.
export function controls(opts = {}) {
  const c = {
    fault: opts.fault ?? null,
    timing: { firstMs: 0, chunkMs: 0, ...(opts.timing ?? {}) },
    take() {
      const f = c.fault;
      if (!f) return null;
      if (f.count !== undefined) {
        if (f.count <= 0) return null;
        f.count -= 1;
      }
      return f;
    },
    // pacing for one connection: the timing as it is when it is used (a
    // test may change it mid-connection), chunkMs from a trickle fault
    pace(f) {
      return new Proxy({}, { get: (_, k) => (k === 'chunkMs' && f?.kind === 'trickle' ? f.chunkMs ?? 500 : c.timing[k]) });
    },
  };
  return c;
}

// An in-memory log (and, with `file`, one JSON line each). `quiet` (for
// benchmarks holding hundreds of calls) leaves out the messages in and
// out, keeping connections, faults and what tests assert on.
export function recorder(file, quiet = false) {
  const log = [];
  return {
    log,
    keep(entry) {
      const e = { at: Date.now(), ...entry };
      if (quiet && (e.kind === 'in' || e.kind === 'out')) return e;
      log.push(e);
      if (file) fs.appendFileSync(file, `${JSON.stringify(e)}\n`);
      return e;
    },
  };
}

export const newId = (prefix) => `${prefix}${crypto.randomBytes(8).toString('hex')}`;
export const uuid = () => crypto.randomUUID();

// G.711 mu-law (ITU-T G.711), as telephone lines carry it.
const ULAW_DECODE = new Int16Array(256);
for (let i = 0; i < 256; i++) {
  const u = ~i & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  ULAW_DECODE[i] = u & 0x80 ? 0x84 - t : t - 0x84;
}
export const ulawDecode = (b) => ULAW_DECODE[b];

export function ulawEncode(sample) {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, sample));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; exp--, mask >>= 1);
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

// G.711 A-law decoding, for completeness of the encodings providers take.
export function alawDecode(a) {
  let v = a ^ 0x55;
  const sign = v & 0x80;
  const exp = (v & 0x70) >> 4;
  let mant = v & 0x0f;
  mant = exp === 0 ? (mant << 4) + 8 : ((mant << 4) + 0x108) << (exp - 1);
  return sign ? mant : -mant;
}

// Samples of an encoded buffer as Int16 values: 'mulaw', 'alaw', 'linear16'.
export function decodeSamples(buf, encoding) {
  if (encoding === 'mulaw') return Int16Array.from(buf, ulawDecode);
  if (encoding === 'alaw') return Int16Array.from(buf, alawDecode);
  const n = Math.floor(buf.length / 2);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(2 * i);
  return out;
}

// A tone (with 10 ms ramps so it starts and stops without a click) as
// Int16 samples.
export function toneSamples(hz, ms, rate, level = 8000) {
  const n = Math.round((rate * ms) / 1000);
  const ramp = rate / 100;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.min(1, i / ramp, (n - 1 - i) / ramp);
    out[i] = Math.round(level * g * Math.sin((2 * Math.PI * hz * i) / rate));
  }
  return out;
}

// A tone already encoded, kept: hundreds of calls at once ask for the same
// few, and making one costs a pass over every sample.
const toneCache = new Map();
export function toneAudio(hz, ms, rate, encoding) {
  const k = `${hz}/${ms}/${rate}/${encoding}`;
  let b = toneCache.get(k);
  if (!b) {
    b = encodeSamples(toneSamples(hz, ms, rate), encoding);
    if (toneCache.size > 256) toneCache.clear();
    toneCache.set(k, b);
  }
  return b;
}

// Int16 samples in a provider's output encoding: 'mulaw', 'linear16'
// (s16le), 'f32le'.
export function encodeSamples(samples, encoding) {
  if (encoding === 'mulaw') return Buffer.from(Array.from(samples, ulawEncode));
  if (encoding === 'f32le') {
    const b = Buffer.alloc(samples.length * 4);
    samples.forEach((s, i) => b.writeFloatLE(s / 32768, 4 * i));
    return b;
  }
  const b = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => b.writeInt16LE(s, 2 * i));
  return b;
}

// Energy of Int16 samples in dBFS (-inf for silence).
export function dbfs(samples) {
  if (!samples.length) return -Infinity;
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  return rms > 0 ? 20 * Math.log10(rms / 32768) : -Infinity;
}

// Splits a buffer into pieces of `size` bytes.
export function pieces(buf, size) {
  const out = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, Math.min(buf.length, i + size)));
  return out;
}

// Sends `chunks` through send(chunk, i) with the pacing: firstMs before the
// first, chunkMs between them; stops early when alive() turns false or
// send returns false. Resolves to the number sent.
export async function paced(chunks, pace, send, alive = () => true) {
  if (pace.firstMs > 0) await sleep(pace.firstMs);
  let i = 0;
  for (const c of chunks) {
    if (!alive()) break;
    if (i > 0 && pace.chunkMs > 0) await sleep(pace.chunkMs);
    if (!alive()) break;
    if (send(c, i) === false) break;
    i++;
  }
  return i;
}

// The stand-ins' control path, for tests that drive them from another
// process (serve.mjs): on the stand-in's own port,
//   GET  /__standin/log                the log as JSON
//   POST /__standin/fault    {kind,...} or null
//   POST /__standin/timing   {firstMs, chunkMs, ...} merged into the timing
//   POST /__standin/script   {transcripts:[...], replies:[...]} appended
// Returns true when it answered the request.
export function control(req, res, api) {
  const url = new URL(req.url, 'http://x');
  if (!url.pathname.startsWith('/__standin/')) return false;
  const what = url.pathname.slice('/__standin/'.length);
  const answer = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && what === 'log') {
    answer(200, api.log);
    return true;
  }
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    let j;
    try {
      j = body ? JSON.parse(body) : null;
    } catch {
      return answer(400, { error: 'not JSON' });
    }
    if (req.method !== 'POST') return answer(405, { error: 'POST' });
    if (what === 'fault') api.fault = j;
    else if (what === 'timing') Object.assign(api.timing, j ?? {});
    else if (what === 'script') {
      for (const [k, v] of Object.entries(j ?? {})) {
        if (!Array.isArray(api[k]) || !Array.isArray(v)) return answer(400, { error: `no list ${k}` });
        api[k].push(...v);
      }
    } else return answer(404, { error: `no ${what}` });
    answer(200, { fault: api.fault, timing: api.timing });
  });
  return true;
}

// Cuts a WebSocket's connection without a close frame, as a provider
// whose socket dies does, once what was already sent has gone out.
export function cut(ws) {
  const s = ws._socket;
  if (!s) return;
  s.end();
  setTimeout(() => s.destroy(), 100).unref();
}

// Answers an HTTP request or refuses a WebSocket upgrade with a status and
// a JSON body. `socket` is the upgrade's raw socket when there is one.
export function refuse(res, socket, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/plain' : 'application/json';
  if (socket) {
    const head = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`, `Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(text)}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
    socket.end(`${head.join('\r\n')}\r\n\r\n${text}`);
    return;
  }
  res.writeHead(status, { 'content-type': type, ...headers });
  res.end(text);
}
