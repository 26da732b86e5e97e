// Shared helpers for the node tests of voxgate's LiveKit-compatible API.
//
// Each test file starts its own server (build/asan/voxgate, or $VOXGATE_BIN)
// on 127.0.0.1 with free random ports and a fresh SQLite file, talks to it
// with livekit-server-sdk as a backend would, drives calls with SIPp, and
// stops it with SIGTERM (exit code 0 and no sanitizer report expected).
//
// Everything started here is killed when the test process exits. Temporary
// files live in one directory per test file, removed at exit unless the
// file had failures (then copied to build/test-logs/livekit-node/) or
// VG_KEEP=1.

import { spawn, execFile } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createSocket } from 'node:dgram';
import { createServer as createTcpServer } from 'node:net';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.VOXGATE_BIN
  ? path.resolve(ROOT, process.env.VOXGATE_BIN)
  : path.join(ROOT, 'build/asan/voxgate');
export const SCENARIOS = path.join(ROOT, 'tests/integration/scenarios');

export const API_KEY = 'devkey';
export const API_SECRET = 'voxgate-node-tests-secret-0123456789abcdef';

// The shortuuid alphabet LiveKit draws room suffixes from.
export const GUID_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
export const GUID12 = `[${GUID_ALPHABET}]{12}`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A sleep that does not keep the process alive (for timeouts raced
// against something else).
const idleSleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());

// ==== temporary directory and process bookkeeping ====

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'voxgate-node-'));
const children = new Set(); // ChildProcess objects that lead their own group

export function tmpDir() {
  return TMP;
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killGroup(child, sig = 'SIGKILL') {
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}

process.on('exit', () => {
  for (const c of children) killGroup(c);
  const failed = process.exitCode && process.exitCode !== 0;
  if (process.env.VG_KEEP === '1') {
    process.stdout.write(`# artifacts kept in ${TMP}\n`);
    return;
  }
  const base = path.basename(process.argv[1] || 'node', '.test.mjs');
  const dest = path.join(ROOT, 'build/test-logs/livekit-node', `${base}-artifacts`);
  if (!failed) {
    fs.rmSync(dest, { recursive: true, force: true }); // stale, from an earlier run
  } else {
    try {
      fs.rmSync(dest, { recursive: true, force: true });
      fs.mkdirSync(dest, { recursive: true });
      fs.cpSync(TMP, dest, { recursive: true });
      process.stdout.write(`# artifacts copied to ${dest}\n`);
    } catch {
      /* best effort */
    }
  }
  fs.rmSync(TMP, { recursive: true, force: true });
});

// ==== ports ====

// Ports come from 20000-32000, as in tests/integration/lib.sh: below the
// Linux ephemeral range and above the server's default RTP range.
const PORT_LO = 20000;
const PORT_HI = 32000;
const usedPorts = new Set();

// The test files run side by side, each in its own process: a port one of
// them handed out (a server's RTP range, which it binds only when a call
// comes) must not look free to another. Each port handed out is claimed
// with a file created exclusively, holding the claimer's pid; a claim whose
// process is gone is taken over.
const PORT_DIR = path.join(os.tmpdir(), 'voxgate-test-ports');
const claimed = [];

function claimPort(port) {
  const f = path.join(PORT_DIR, String(port));
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(f, String(process.pid), { flag: 'wx' });
      claimed.push(f);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const owner = Number.parseInt(fs.readFileSync(f, 'utf8'), 10);
    if (owner === process.pid) return false;
    try {
      process.kill(owner, 0);
      return false;
    } catch (e) {
      if (e.code !== 'ESRCH') return false;
      fs.rmSync(f, { force: true });
    }
  }
  return false;
}

process.on('exit', () => {
  for (const f of claimed) fs.rmSync(f, { force: true });
});

function tryBind(kind, port) {
  return new Promise((resolve) => {
    if (kind === 'tcp') {
      const s = createTcpServer();
      s.once('error', () => resolve(false));
      s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
    } else {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind({ port, address: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
    }
  });
}

// pickPorts(count, {tcp}): the first of `count` consecutive ports (even) that
// are free for UDP (and TCP when tcp is true) and were not handed out before
// in this process or claimed by another test process.
export async function pickPorts(count = 1, { tcp = true } = {}) {
  for (let attempt = 0; attempt < 200; attempt++) {
    let base = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO - count));
    base &= ~1;
    let ok = true;
    for (let p = base; p < base + count; p++) {
      if (usedPorts.has(p)) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const checks = [];
    for (let p = base; p < base + count; p++) {
      checks.push(tryBind('udp', p));
      if (tcp) checks.push(tryBind('tcp', p));
    }
    if (!(await Promise.all(checks)).every(Boolean)) continue;
    fs.mkdirSync(PORT_DIR, { recursive: true });
    let p = base;
    while (p < base + count && claimPort(p)) p++;
    for (let q = base; q < base + count; q++) usedPorts.add(q);
    if (p < base + count) continue;
    return base;
  }
  throw new Error(`no free range of ${count} ports`);
}

export const pickPort = () => pickPorts(1);

// ==== the server ====

let serverCount = 0;

function tail(text, lines = 30) {
  return text.split('\n').filter(Boolean).slice(-lines).join('\n');
}

// startServer({db, defaultRoute, webhookUrls, emptyTimeout, args}): starts
// `voxgate serve` and resolves once the "listening" event is logged and
// GET /healthz answers 200. Returns a handle: url, httpPort, sipPort, db,
// log() (stderr so far), logTail(), events(name), stop().
export async function startServer(opts = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`server binary ${BIN} not built`);
  const n = ++serverCount;
  const db = opts.db ?? path.join(TMP, `voxgate.${n}.db`);
  const sipPort = await pickPorts(1);
  const httpPort = await pickPorts(1);
  const rtpBase = await pickPorts(60, { tcp: false });
  const args = [
    'serve',
    '--sip_host', '127.0.0.1',
    '--sip_port', String(sipPort),
    '--rtp_port_range', `${rtpBase}-${rtpBase + 59}`,
    '--http_port', String(httpPort),
    '--db', db,
    '--keys', `${API_KEY}: ${API_SECRET}`,
    '--empty_timeout', opts.emptyTimeout ?? '1s',
    '--departure_timeout', opts.departureTimeout ?? '1s',
    '--default_route', opts.defaultRoute ? 'true' : 'false',
    '--drain_timeout', '3s',
    '--log_format', 'json',
    '--log_level', 'debug',
    '--agent', opts.agent ?? 'audio-echo',
  ];
  if (opts.webhookUrls && opts.webhookUrls.length) {
    args.push('--webhook_urls', opts.webhookUrls.join(','));
  }
  if (opts.args) args.push(...opts.args);

  const logFile = path.join(TMP, `server.${n}.log`);
  const logFd = fs.openSync(logFile, 'a');
  fs.writeSync(logFd, `# ${BIN} ${args.join(' ')}\n`);
  const env = {
    ...process.env,
    ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1',
    UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1',
  };
  // the server reads these too; a stray value must not change the tests
  delete env.LIVEKIT_API_KEY;
  delete env.LIVEKIT_API_SECRET;
  delete env.LIVEKIT_KEYS;
  for (const k of Object.keys(env)) if (k.startsWith('VOXGATE_') && k !== 'VOXGATE_BIN') delete env[k];
  Object.assign(env, opts.env ?? {});

  const child = track(
    spawn(BIN, args, { cwd: TMP, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    log += d;
    fs.writeSync(logFd, d);
  });
  child.stdout.on('data', (d) => fs.writeSync(logFd, d));
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const closePromise = new Promise((resolve) => child.once('close', resolve));
  child.once('close', () => {
    try {
      fs.closeSync(logFd);
    } catch {
      /* closed */
    }
  });

  const server = {
    n,
    child,
    pid: child.pid,
    db,
    sipPort,
    httpPort,
    url: `http://127.0.0.1:${httpPort}`,
    logFile,
    log: () => log,
    logTail: (lines = 30) => tail(log, lines),
    // the JSON log lines whose "event" is name
    events(name) {
      const out = [];
      for (const line of log.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const o = JSON.parse(line);
          if (!name || o.event === name) out.push(o);
        } catch {
          /* not JSON */
        }
      }
      return out;
    },
    get exited() {
      return exited;
    },
    // stop(): SIGTERM, wait up to timeoutMs; throws unless the exit code is
    // 0 and the log has no sanitizer report.
    async stop(timeoutMs = 10000) {
      if (exited) throw new Error(`server already exited (${JSON.stringify(exited)}) before SIGTERM\n${tail(log)}`);
      child.kill('SIGTERM');
      const res = await Promise.race([exitPromise, idleSleep(timeoutMs).then(() => null)]);
      if (!res) {
        killGroup(child);
        throw new Error(`server still running ${timeoutMs} ms after SIGTERM\n${tail(log)}`);
      }
      await Promise.race([closePromise, idleSleep(2000)]);
      const san = log.match(/ERROR: (Address|Leak)Sanitizer.*|runtime error:.*|SUMMARY: .*/);
      if (res.code !== 0) {
        throw new Error(`server exited with code ${res.code} signal ${res.signal}${san ? ` (${san[0]})` : ''}\n${tail(log)}`);
      }
      if (san) throw new Error(`sanitizer report in server log: ${san[0]}\n${tail(log)}`);
      return res;
    },
    // kill(): no checks, for cleanup after a failure
    kill() {
      if (!exited) killGroup(child);
    },
  };

  const deadline = Date.now() + 15000;
  while (!/"event" *: *"listening"/.test(log)) {
    if (exited) throw new Error(`server exited (${JSON.stringify(exited)}) before listening:\n${tail(log)}`);
    if (Date.now() > deadline) {
      server.kill();
      throw new Error(`no "listening" event within 15 s:\n${tail(log)}`);
    }
    await sleep(50);
  }
  let last = '';
  while (true) {
    if (exited) throw new Error(`server exited (${JSON.stringify(exited)}) before /healthz said 200:\n${tail(log)}`);
    try {
      const r = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) });
      last = `HTTP ${r.status}`;
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch (e) {
      last = String(e.cause?.code ?? e.message);
    }
    if (Date.now() > deadline) {
      server.kill();
      throw new Error(`GET /healthz did not answer 200 within 15 s (last: ${last}):\n${tail(log)}`);
    }
    await sleep(50);
  }
  return server;
}

// ==== webhook receiver ====

// startWebhookReceiver({respond}): a node:http server on 127.0.0.1 that
// keeps every POST: {path, body (raw string), auth, contentType,
// userAgent, at, status}. It answers 200, or what respond(n) returns for the
// n-th request (0-based): {status, delayMs}. Only requests answered 2xx
// count as received; the others go to `refused`. waitFor(pred, timeoutMs)
// resolves with the list once pred(list) is true.
export async function startWebhookReceiver({ respond } = {}) {
  const received = [];
  const refused = [];
  const waiters = new Set();
  let count = 0;
  const srv = createHttpServer((req, res) => {
    const n = count++;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const how = (respond && respond(n)) || {};
      const status = how.status ?? 200;
      if (how.delayMs) await sleep(how.delayMs);
      const entry = {
        method: req.method,
        path: req.url,
        body: Buffer.concat(chunks).toString('utf8'),
        auth: req.headers.authorization,
        contentType: req.headers['content-type'],
        userAgent: req.headers['user-agent'],
        at: Date.now(),
        status,
      };
      (status >= 200 && status < 300 ? received : refused).push(entry);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'try again');
      for (const w of waiters) w();
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = srv.address().port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    received,
    refused,
    // parsed bodies (those that parse)
    events() {
      return received.map((r) => {
        try {
          return { ...r, json: JSON.parse(r.body) };
        } catch {
          return { ...r, json: null };
        }
      });
    },
    waitFor(pred, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(received)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(received);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`webhook receiver: condition not met within ${timeoutMs} ms; got ${received.length} requests: ` +
            received.map((r) => { try { return JSON.parse(r.body).event; } catch { return '?'; } }).join(', ')));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() {
      return new Promise((resolve) => {
        srv.closeAllConnections?.();
        srv.close(() => resolve());
      });
    },
  };
}

// ==== audio for SIPp's rtp_stream ====

function linearToUlaw(sample) {
  const BIAS = 0x84;
  const CLIP = 32635;
  let sign = 0;
  if (sample < 0) {
    sign = 0x80;
    sample = -sample;
  }
  if (sample > CLIP) sample = CLIP;
  sample += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (sample & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (sample >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

// audio.ul in the temp dir: 2 s of raw u-law (a 440 Hz tone, half a second
// on, half off), which sipp sends byte for byte and loops.
export function audioFixture() {
  const file = path.join(TMP, 'audio.ul');
  if (!fs.existsSync(file)) {
    const buf = Buffer.alloc(16000);
    for (let i = 0; i < buf.length; i++) {
      const on = Math.floor(i / 4000) % 2 === 0;
      const s = on ? Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)) : 0;
      buf[i] = linearToUlaw(s);
    }
    fs.writeFileSync(file, buf);
  }
  return file;
}

// writeRtpPcap(file, packets): a pcap of RTP packets ({atMs, rtp}: when it
// is sent, from the first, and the whole RTP packet) for SIPp's
// play_pcap_audio, which sends each UDP payload to the call's media address
// from its -mp port, as far apart as the records. Ethernet, IPv4 and UDP
// headers as it reads them; the addresses in them are not used.
export function writeRtpPcap(file, packets) {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4); // version 2.4
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16); // snap length
  head.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts = [head];
  for (const { atMs, rtp } of packets) {
    const frame = Buffer.alloc(14 + 20 + 8 + rtp.length);
    frame.writeUInt16BE(0x0800, 12); // IPv4
    const ip = 14;
    frame[ip] = 0x45;
    frame.writeUInt16BE(20 + 8 + rtp.length, ip + 2);
    frame[ip + 8] = 64; // TTL
    frame[ip + 9] = 17; // UDP
    frame.writeUInt32BE(0x7f000001, ip + 12);
    frame.writeUInt32BE(0x7f000001, ip + 16);
    const udp = ip + 20;
    frame.writeUInt16BE(40000, udp);
    frame.writeUInt16BE(40002, udp + 2);
    frame.writeUInt16BE(8 + rtp.length, udp + 4);
    rtp.copy(frame, udp + 8);
    const us = 1e6 + Math.round(atMs * 1000);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(us / 1e6), 0);
    rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}

// ==== packet capture ====

let captureCount = 0;

// startCapture(filter, label): dumpcap on lo with a capture filter, into
// <label>.pcapng in the temp dir; resolves once it is capturing. stop()
// ends it and resolves with the file.
export async function startCapture(filter, label = `capture${++captureCount}`) {
  const file = path.join(TMP, `${label}.pcapng`);
  const child = track(
    spawn('dumpcap', ['-i', 'lo', '-f', filter, '-w', file, '-q', '-a', 'duration:120'], {
      cwd: TMP,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let exited = null;
  const exit = new Promise((resolve) => {
    child.once('error', (e) => resolve((exited = { error: e.message })));
    child.once('close', (code, signal) => resolve((exited = { code, signal })));
  });
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 5000;
  while (!out.includes('Capturing on')) {
    if (exited) throw new Error(`dumpcap ended before capturing (${JSON.stringify(exited)}): ${out.trim()}`);
    if (Date.now() > deadline) {
      killGroup(child);
      throw new Error(`dumpcap did not capture within 5 s: ${out.trim()}`);
    }
    await sleep(50);
  }
  return {
    file,
    async stop() {
      await sleep(200); // the last packets in flight land
      if (!exited) child.kill('SIGINT');
      const res = await Promise.race([exit, idleSleep(5000).then(() => null)]);
      fs.writeFileSync(`${file}.log`, out);
      if (!res) {
        killGroup(child);
        throw new Error(`dumpcap still running 5 s after SIGINT: ${out.trim()}`);
      }
      return file;
    },
  };
}

// capturedRtp(file, port): the RTP packets of a capture that were sent to
// port, in order: {at (ms since the epoch), pt, seq, ts, payload}.
export async function capturedRtp(file, port) {
  const r = await run(
    'tshark',
    ['-r', file, '-d', `udp.port==${port},rtp`, '-Y', `rtp && udp.dstport == ${port}`, '-T', 'fields',
      '-e', 'frame.time_epoch', '-e', 'rtp.p_type', '-e', 'rtp.seq', '-e', 'rtp.timestamp', '-e', 'rtp.payload'],
    { timeout: 60000, maxBuffer: 64 << 20 },
  );
  if (r.code !== 0) throw new Error(`tshark -r ${file} failed (${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, pt, seq, ts, hex = ''] = line.split('\t');
      return {
        at: Number(at) * 1000,
        pt: Number(pt),
        seq: Number(seq),
        ts: Number(ts),
        payload: Buffer.from(hex.replace(/[^0-9a-fA-F]/g, ''), 'hex'),
      };
    });
}

// ==== SIPp ====

let sippCount = 0;

function readIf(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

// What sipp received, in order: status codes ("407") and request methods
// ("BYE"), from its -trace_msg file.
function receivedFromMessages(text) {
  const out = [];
  const re = /message received[^\n]*\n+\s*(?:SIP\/2\.0 (\d{3})|([A-Z]+) \S+ SIP\/2\.0)/g;
  let m;
  while ((m = re.exec(text))) out.push(m[1] ?? m[2]);
  return out;
}

// sipp(server, scenario, opts): one call (-m 1) from SIPp to the server.
// opts: service (To user / request URI user, default "service"), caller
// (From user, -key caller), header: [name, value] (-key xhdr_name/xhdr_value,
// default X-Voxgate-Test: 1), durationMs (-d), mediaPort (-mp, the first
// of 4 ports from pickPorts; picked here when not given), args (more sipp
// flags), timeoutS (sipp -timeout, default 20; the process is killed 5 s
// later), label. Returns {pid, done, kill()}; done resolves with {code, signal,
// out, errors, messages, logs, received, why}.
export function sipp(server, scenario, opts = {}) {
  const label = opts.label ?? `sipp${++sippCount}`;
  const timeoutS = opts.timeoutS ?? 20;
  const scen = path.isAbsolute(scenario) ? scenario : path.join(SCENARIOS, scenario);
  audioFixture();
  const files = {
    errors: path.join(TMP, `${label}.errors.log`),
    messages: path.join(TMP, `${label}.messages.log`),
    logs: path.join(TMP, `${label}.logs.log`),
  };
  const [hdrName, hdrValue] = opts.header ?? ['X-Voxgate-Test', '1'];
  const started = (async () => {
    const port = await pickPorts(1);
    const mp = opts.mediaPort ?? (await pickPorts(4, { tcp: false }));
    const args = [
      `127.0.0.1:${server.sipPort}`,
      '-sf', scen,
      '-i', '127.0.0.1',
      '-p', String(port),
      '-mi', '127.0.0.1',
      '-mp', String(mp),
      '-s', opts.service ?? 'service',
      '-key', 'caller', opts.caller ?? '+15552223333',
      '-key', 'xhdr_name', hdrName,
      '-key', 'xhdr_value', hdrValue,
      '-m', '1',
      '-nostdin',
      '-timeout', `${timeoutS}s`,
      '-timeout_error',
      '-trace_err', '-error_file', files.errors,
      '-trace_msg', '-message_file', files.messages,
      '-trace_logs', '-log_file', files.logs,
    ];
    if (opts.durationMs !== undefined) args.push('-d', String(opts.durationMs));
    if (opts.args) args.push(...opts.args);
    fs.writeFileSync(path.join(TMP, `${label}.cmd`), `sipp ${args.join(' ')}\n`);
    return spawn('sipp', args, { cwd: TMP, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  })();

  let child;
  let out = '';
  const done = started.then(
    (c) =>
      new Promise((resolve) => {
        child = track(c);
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        let killedByTimer = false;
        const timer = setTimeout(() => {
          killedByTimer = true;
          killGroup(c);
        }, (timeoutS + 5) * 1000);
        c.once('error', (e) => {
          clearTimeout(timer);
          resolve({ code: -1, signal: null, out: String(e), errors: '', messages: '', logs: '', received: [], why: `could not run sipp: ${e.message}` });
        });
        c.once('close', (code, signal) => {
          clearTimeout(timer);
          fs.writeFileSync(path.join(TMP, `${label}.out`), out);
          const errors = readIf(files.errors);
          const messages = readIf(files.messages);
          const res = {
            code,
            signal,
            out,
            errors,
            messages,
            logs: readIf(files.logs),
            received: receivedFromMessages(messages),
          };
          const err = errors
            .split('\n')
            .filter((l) => l && !l.includes('The following events occurred'))
            .map((l) => l.replace(/^[0-9-]+\t[0-9:.]+\t[0-9.]+: /, ''))
            .join(' ')
            .replace(/\s+/g, ' ')
            .slice(0, 400);
          res.why = `sipp exit ${code}${signal ? ` (${signal})` : ''}${killedByTimer ? ' killed by the test timeout' : ''}; ` +
            `received [${res.received.join(' ')}]${err ? `; ${err}` : ''}`;
          resolve(res);
        });
      }),
    (e) => ({ code: -1, signal: null, out: '', errors: '', messages: '', logs: '', received: [], why: `could not start sipp: ${e.message}` }),
  );
  return {
    label,
    done,
    kill() {
      if (child) killGroup(child);
    },
  };
}

// runSipp(...): sipp() and wait for it.
export function runSipp(server, scenario, opts = {}) {
  return sipp(server, scenario, opts).done;
}

// ==== polling ====

// waitUntil(fn, {timeoutMs, intervalMs, what}): calls the async fn until it
// returns a truthy value, which is returned. The last error or value goes in
// the timeout message.
// The per-stage histograms of GET /metrics, labelled by the providers
// that did the stages.
export const STAGES = ['voxgate_stt_final_seconds', 'voxgate_llm_first_token_seconds', 'voxgate_tts_first_audio_seconds', 'voxgate_voice_to_voice_seconds'];

// For one set of labels ({stt, brain, tts}): each stage's count and
// whether its buckets carry the labels too; text is the whole page.
export async function stageMetrics(server, { stt, brain, tts }) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const labels = `stt="${stt}",brain="${brain}",tts="${tts}"`;
  const out = { text };
  for (const h of STAGES) {
    const line = text.split('\n').find((l) => l.startsWith(`${h}_count{${labels}} `));
    out[h] = { count: line ? Number(line.split(' ')[1]) : 0, buckets: text.includes(`${h}_bucket{${labels},le="+Inf"}`) };
  }
  return out;
}

export async function waitUntil(fn, { timeoutMs = 8000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (true) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `${last.name}: ${last.message}` : JSON.stringify(last, bigintSafe);
      throw new Error(`${what}: not met within ${timeoutMs} ms (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

export function bigintSafe(_k, v) {
  return typeof v === 'bigint' ? v.toString() : v;
}

// ==== raw Twirp and tokens ====

// twirp(server, service, method, body, {token, contentType, headers, method}):
// a raw request; resolves {status, contentType, text, json}.
export async function twirp(server, service, method, body, opts = {}) {
  const headers = { ...(opts.headers ?? {}) };
  if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  const r = await fetch(`${server.url}/twirp/livekit.${service}/${method}`, {
    method: opts.httpMethod ?? 'POST',
    headers,
    body: (opts.httpMethod ?? 'POST') === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body ?? {}),
    signal: AbortSignal.timeout(5000),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, contentType: r.headers.get('content-type'), text, json };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// signJwt(claims, secret, header): an HS256 JWT built by hand.
export function signJwt(claims, secret = API_SECRET, header = { alg: 'HS256', typ: 'JWT' }) {
  const h = b64url(JSON.stringify(header));
  const p = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  return `${h}.${p}.${b64url(sig)}`;
}

// run(cmd, args): {code, stdout, stderr}, never rejects.
export function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10000, ...opts }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, error: err });
    });
  });
}

// A short description of a thrown SDK error, for assertion messages.
export function describeError(e) {
  if (!e) return String(e);
  return `${e.name} status=${e.status} code=${e.code} message=${JSON.stringify(e.message)}`;
}
