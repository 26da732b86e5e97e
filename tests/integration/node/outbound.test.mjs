// Outbound calls: SipClient.createSipParticipant through an outbound trunk
// to SIPp playing the callee (tests/integration/scenarios/uas_*.xml). The
// callee's media goes to an RTP peer in this file, which talks to the
// room's agent (the echo agent) and hears it back, and sees our DTMF. After
// every case the server must have no call left (/metrics).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { AccessToken, RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { AudioStream, Room, RoomEvent, dispose } from '@livekit/rtc-node';
import { JobType, RoomAgentDispatch, SIPMediaEncryption, SIPTransport } from '@livekit/protocol';
import { WebSocketServer } from 'ws';
import {
  API_KEY,
  API_SECRET,
  SCENARIOS,
  describeError,
  pickPorts,
  signJwt,
  sleep,
  startServer,
  tmpDir,
  twirp,
  run,
  waitUntil,
} from './helpers.mjs';
import { loud, rms, windowShare } from './phone.mjs';
import { RtcAgent, StubWorker } from './lkworker.mjs';

const TMP = tmpDir();
let uasCount = 0;
const uasKids = new Set();

// A SIPp callee on its own port: resolves {code, received, logs, why}.
function uas(scenario, keys = {}, { timeoutS = 25, port: fixedPort, calls = 1 } = {}) {
  const label = `uas${++uasCount}`;
  const files = {
    messages: path.join(TMP, `${label}.messages.log`),
    logs: path.join(TMP, `${label}.logs.log`),
    errors: path.join(TMP, `${label}.errors.log`),
  };
  const ready = (async () => {
    const port = fixedPort ?? (await pickPorts(1));
    const mp = await pickPorts(4, { tcp: false });
    const args = [
      '-sf', path.join(SCENARIOS, scenario),
      '-i', '127.0.0.1',
      '-p', String(port),
      '-mi', '127.0.0.1',
      '-mp', String(mp),
      '-m', String(calls),
      '-nostdin',
      '-timeout', `${timeoutS}s`,
      '-timeout_error',
      '-trace_msg', '-message_file', files.messages,
      '-trace_logs', '-log_file', files.logs,
      '-trace_err', '-error_file', files.errors,
    ];
    for (const [k, v] of Object.entries(keys)) args.push('-key', k, String(v));
    const child = spawn('sipp', args, { cwd: TMP, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    uasKids.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const done = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        uasKids.delete(child);
        const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
        const messages = read(files.messages);
        const received = [];
        const re = /message received[^\n]*\n+\s*(?:SIP\/2\.0 (\d{3})|([A-Z]+) \S+ SIP\/2\.0)/g;
        let m;
        while ((m = re.exec(messages))) received.push(m[1] ?? m[2]);
        const errors = read(files.errors).split('\n').filter((l) => l && !l.includes('The following events')).join(' ').slice(0, 300);
        resolve({ code, signal, messages, received, logs: read(files.logs), why: `sipp ${scenario} exit ${code}${signal ? ` ${signal}` : ''}; received [${received.join(' ')}]; ${errors} ${code ? out.slice(-300) : ''}` });
      });
    });
    // SIPp binds its port before it reads the scenario's first message.
    await sleep(300);
    return { port, done, kill: () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } } };
  })();
  return ready;
}

// ---- an RTP peer: the callee's media end --------------------------------

function ulawEncode(sample) {
  const BIAS = 0x84;
  let sign = 0;
  if (sample < 0) { sign = 0x80; sample = -sample; }
  if (sample > 32635) sample = 32635;
  sample += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (sample & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (sample >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

function ulawDecode(u) {
  u = ~u & 0xff;
  const sign = u & 0x80;
  const exp = (u >> 4) & 7;
  const mant = u & 0x0f;
  const s = ((mant << 3) + 0x84) << exp;
  return sign ? 0x84 - s : s - 0x84;
}

// G.711 A-law (as Sun's g711.c): for a callee that answers PCMA.
function alawEncode(sample) {
  const ends = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let v = sample >> 3;
  let mask = 0xd5;
  if (v < 0) { mask = 0x55; v = -v - 1; }
  const seg = ends.findIndex((e) => v <= e);
  if (seg < 0) return 0x7f ^ mask;
  return ((seg << 4) | ((seg < 2 ? v >> 1 : v >> seg) & 0x0f)) ^ mask;
}

async function rtpPeer() {
  const port = (await pickPorts(2, { tcp: false }));
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(port, '127.0.0.1', r));
  const got = [];
  sock.on('message', (b) => {
    if (b.length < 12) return;
    got.push({ at: Date.now(), pt: b[1] & 0x7f, marker: !!(b[1] & 0x80), ts: b.readUInt32BE(4), payload: b.subarray(12) });
  });
  let timer = null;
  return {
    port,
    got,
    // sends a tone (440 Hz unless told) to 127.0.0.1:dst for ms
    stream(dst, ms, hz = 440, pt = 0) {
      let seq = 1, ts = 0, n = 0;
      const total = Math.round(ms / 20);
      return new Promise((resolve) => {
        timer = setInterval(() => {
          const b = Buffer.alloc(172);
          b[0] = 0x80; b[1] = pt; b.writeUInt16BE(seq++ & 0xffff, 2); b.writeUInt32BE(ts >>> 0, 4); b.writeUInt32BE(0x1234abcd, 8);
          for (let i = 0; i < 160; i++) b[12 + i] = (pt === 8 ? alawEncode : ulawEncode)(Math.round(8000 * Math.sin((2 * Math.PI * hz * (ts + i)) / 8000)));
          ts += 160;
          sock.send(b, dst, '127.0.0.1');
          if (++n >= total) { clearInterval(timer); timer = null; resolve(); }
        }, 20);
      });
    },
    close() { if (timer) clearInterval(timer); sock.close(); },
  };
}

// Energy of the audio packets (PT 0) received: how many carry a tone.
function loudPackets(got, since = 0) {
  return got.filter((p) => p.pt === 0 && p.at >= since).filter((p) => {
    let e = 0;
    for (const u of p.payload) e += Math.abs(ulawDecode(u));
    return e / p.payload.length > 1000;
  }).length;
}

// ---- the server ---------------------------------------------------------

let server, sip, rooms;
const trunkFor = new Map();

async function trunk(address, opts = {}) {
  const t = await sip.createSipOutboundTrunk(`t-${address}`, address, ['+15550001111'], opts);
  return t.sipTrunkId;
}

async function outboundCalls() {
  const r = await fetch(`${server.url}/metrics`);
  const m = (await r.text()).match(/voxgate_sip_calls\{direction="outbound"\} (\d+)/);
  return m ? Number(m[1]) : -1;
}

async function noCallLeft(what) {
  await waitUntil(async () => (await outboundCalls()) === 0, { timeoutMs: 8000, what: `${what}: no outbound call left` });
}

// Resolves once identity has left room (GetParticipant says 404).
async function left(roomClient, room, identity) {
  await waitUntil(async () => {
    try {
      await roomClient.getParticipant(room, identity);
      return false;
    } catch (e) {
      return e.status === 404;
    }
  }, { what: `${identity} left ${room}` });
}

async function expectSipError(p, { code, sipCode, msg }) {
  let err = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'the request must fail');
  assert.equal(err.code, code, describeError(err));
  if (sipCode !== undefined) assert.equal(err.metadata?.sip_status_code, String(sipCode), describeError(err));
  if (msg) assert.match(err.message, msg, describeError(err));
  return err;
}

// The digest response uas_407.xml expects (its nonce is fixed).
function digest(user, pass, uri) {
  const md5 = (x) => createHash('md5').update(x).digest('hex');
  return md5(`${md5(`${user}:voxtest:${pass}`)}:voxnonce:${md5(`INVITE:${uri}`)}`);
}

const callEvents = (callId, name) => server.events(name).filter((e) => e.call_id === callId);

before(async () => {
  server = await startServer({ args: ['--max_call_duration', '60s'] });
  sip = new SipClient(server.url, API_KEY, API_SECRET);
  rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
});

after(async () => {
  for (const c of uasKids) { try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ } }
  if (server) await server.stop();
  await dispose().catch(() => {});
});

// Worker w takes the job it is offered for room, for its agent of that
// name, and the job's agent (identity) joins the room: {job, rtc}.
async function takeJob(w, agentName, room, identity) {
  const req = await w.next('availability');
  assert.equal(req.job.type, JobType.JT_ROOM);
  assert.equal(req.job.agentName, agentName);
  assert.equal(req.job.room.name, room);
  w.accept(req.job, { identity });
  const asg = await w.next('assignment');
  assert.equal(asg.job.id, req.job.id);
  const rtc = new RtcAgent(server, asg.token);
  try {
    await rtc.opened();
    await rtc.next('join');
  } catch (e) {
    rtc.close();
    throw e;
  }
  return { job: req.job, rtc };
}

// The callee hangs up (uas_answer_bye.xml: BYE 3 s after the answer): the
// worker w's job is terminated, and other, a worker of another name, was
// never asked.
async function jobEndsWithCallee(callee, w, job, other) {
  const res = await callee.done;
  assert.equal(res.code, 0, res.why);
  const term = await w.next('termination', { timeoutMs: 5000 });
  assert.equal(term.jobId, job.id);
  assert.equal(other.count('availability'), 0, 'a worker of another name was not asked');
}

describe('outbound calls answered', () => {
  test('answered: sip.* attributes, the agent echoes the callee, BYE on RemoveParticipant', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer.xml', { rtp_port: rtp.port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const info = await sip.createSipParticipant(id, '+15552220001', 'out-answer', {
        waitUntilAnswered: true,
        participantIdentity: 'callee1',
        participantName: 'Callee',
        participantAttributes: { team: 'a', 'sip.callStatus': 'forged' },
        headers: { 'X-Voxgate-Dial': 'hello' },
      });
      assert.equal(info.participantIdentity, 'callee1');
      assert.equal(info.roomName, 'out-answer');
      assert.match(info.participantId, /^PA_/);
      assert.match(info.sipCallId, /^SCL_/);
      const p = await rooms.getParticipant('out-answer', 'callee1');
      const a = p.attributes;
      assert.equal(a['sip.callStatus'], 'active');
      assert.equal(a['sip.callID'], info.sipCallId);
      assert.equal(a['sip.phoneNumber'], '+15552220001');
      assert.equal(a['sip.trunkPhoneNumber'], '+15550001111');
      assert.equal(a['sip.trunkID'], id);
      assert.equal(a['sip.hostname'], `127.0.0.1:${callee.port}`);
      assert.equal(a.team, 'a');
      assert.ok(a['sip.callIDFull'], 'sip.callIDFull set');
      // the remote side's tag, as LiveKit's: the callee's To tag (uas_answer.xml)
      assert.match(a['sip.callTag'] ?? '', /^\d+SIPpTag011$/, `sip.callTag in ${JSON.stringify(a)}`);
      const callId = a['sip.callIDFull'];
      assert.equal(callEvents(callId, 'ringing').length, 1, 'ringing logged once');
      const media = await waitUntil(() => callEvents(callId, 'media')[0], { what: 'media event' });
      // the callee talks, the echo agent answers into the call
      const start = Date.now();
      await rtp.stream(media.local_port, 2000);
      await sleep(500);
      const loud = loudPackets(rtp.got, start);
      assert.ok(loud >= 50, `the agent's echo heard by the callee: ${loud} loud packets of ${rtp.got.length}`);
      await rooms.removeParticipant('out-answer', 'callee1');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.ok(res.received.includes('BYE'), res.why);
      assert.match(res.logs, /xdial= ?hello/, 'the request header reached the INVITE');
      assert.match(res.messages, new RegExp(`SIP/2\\.0 200 OK[^]*?\\nTo: [^\\n]*;tag=${a['sip.callTag']}\\r?\\n`), 'sip.callTag is the tag of the 200 OK');
      await noCallLeft('answered');
      const end = callEvents(callId, 'call_end')[0];
      assert.equal(end.direction, 'outbound');
      assert.ok(end.packets_in >= 80, `packets_in ${end.packets_in}`);
    } finally {
      callee.kill();
      rtp.close();
    }
  });

  test('BYE from the callee ends the call; the participant leaves', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer_bye.xml', { rtp_port: rtp.port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const info = await sip.createSipParticipant(id, '+15552220002', 'out-bye', { waitUntilAnswered: true });
      assert.equal(info.participantIdentity, 'sip-participant'); // Node's default
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      await left(rooms, 'out-bye', 'sip-participant');
      await noCallLeft('callee BYE');
      const end = server.events('call_end').find((e) => e.reason === 'BYE' && e.by === 'callee');
      assert.ok(end, 'call_end by=callee reason=BYE');
    } finally {
      callee.kill();
      rtp.close();
    }
  });

  test('our BYE challenged after the call is gone: answered from the trunk\'s credentials', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_bye_challenged.xml', { rtp_port: rtp.port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`, { authUsername: 'alice', authPassword: 's3cret' });
      await sip.createSipParticipant(id, '+15552220004', 'out-byeauth', { waitUntilAnswered: true, participantIdentity: 'b' });
      await rooms.removeParticipant('out-byeauth', 'b');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.match(res.logs, /bye_again auth=Digest/, res.why);
      assert.ok(!server.exited, 'the server is still up');
    } finally {
      callee.kill();
      rtp.close();
    }
  });

  test('a room made for an external bot (CreateRoom agents[0] a ws:// URL): the bot gets the callee', async () => {
    const botPort = await pickPorts(1);
    const wss = new WebSocketServer({ host: '127.0.0.1', port: botPort });
    const frames = [];
    wss.on('connection', (ws, req) => {
      frames.push({ path: req.url });
      ws.on('message', (d) => { try { frames.push(JSON.parse(String(d))); } catch { /* binary */ } });
    });
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer.xml', { rtp_port: rtp.port });
    try {
      await rooms.createRoom({ name: 'out-bot', agents: [new RoomAgentDispatch({ agentName: `WS://127.0.0.1:${botPort}/bot` })] });
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await sip.createSipParticipant(id, '+15552220005', 'out-bot', { waitUntilAnswered: true, participantIdentity: 'bc' });
      const media = await waitUntil(() => server.events('media').find((e) => server.events('dial').some((d) => d.room === 'out-bot' && d.call_id === e.call_id)), { what: 'media' });
      const streaming = rtp.stream(media.local_port, 1000);
      await waitUntil(() => frames.filter((f) => f.event === 'media').length >= 20, { timeoutMs: 5000, what: 'the callee\'s audio at the bot' });
      await streaming;
      assert.equal(frames[0].path, '/bot');
      assert.ok(frames.some((f) => f.event === 'start'), JSON.stringify(frames.slice(0, 3)));
      assert.equal(server.events('dial').find((d) => d.room === 'out-bot').agent, `ws://127.0.0.1:${botPort}/bot`);
      await rooms.removeParticipant('out-bot', 'bc');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      await waitUntil(() => frames.some((f) => f.event === 'stop'), { what: 'stop at the bot' });
    } finally {
      callee.kill();
      rtp.close();
      wss.close();
    }
  });

  test('a room whose agent is a LiveKit worker (CreateRoom agents[0].agentName): the worker gets the job, its agent meets the callee, the job ends with the call', async () => {
    const w = await StubWorker.connect(server, { agentName: 'dialer' });
    const other = await StubWorker.connect(server, { agentName: 'someone-else' });
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer_bye.xml', { rtp_port: rtp.port });
    let rtc = null;
    try {
      await rooms.createRoom({ name: 'out-lk', emptyTimeout: 30, agents: [new RoomAgentDispatch({ agentName: 'dialer', metadata: '{"campaign":"reminders"}' })] });
      let job;
      ({ job, rtc } = await takeJob(w, 'dialer', 'out-lk', 'agent-dialer'));
      assert.equal(job.metadata, '{"campaign":"reminders"}');
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const info = await sip.createSipParticipant(id, '+15552220006', 'out-lk', { waitUntilAnswered: true, participantIdentity: 'lkc' });
      const dial = server.events('dial').find((e) => e.room === 'out-lk');
      const started = await waitUntil(() => callEvents(dial.call_id, 'agent_started')[0], { what: 'agent_started' });
      assert.equal(started.agent, 'livekit', 'the call is the worker\'s');
      // the job's agent sees the callee join its room
      await waitUntil(() => rtc.msgs.some((m) => m.case === 'update' && m.value.participants.some((p) => p.identity === 'lkc')), { what: 'the callee in a participant update to the job\'s agent' });
      assert.equal(info.participantIdentity, 'lkc');
      await jobEndsWithCallee(callee, w, job, other);
    } finally {
      rtc?.close();
      callee.kill();
      rtp.close();
      await Promise.all([w.close(), other.close()]);
    }
  });

  test('a room that names no agent (made by the call itself): a LiveKit worker registered with no name gets the job, a named one is not asked', async () => {
    const w = await StubWorker.connect(server, { agentName: '' });
    const named = await StubWorker.connect(server, { agentName: 'dialer' });
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer_bye.xml', { rtp_port: rtp.port });
    let rtc = null;
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const dialing = sip.createSipParticipant(id, '+15552220007', 'out-lk-auto', { waitUntilAnswered: true, participantIdentity: 'lka' });
      let job;
      ({ job, rtc } = await takeJob(w, '', 'out-lk-auto', 'agent-auto'));
      const info = await dialing;
      assert.equal(info.participantIdentity, 'lka');
      const dial = server.events('dial').find((e) => e.room === 'out-lk-auto');
      const started = await waitUntil(() => callEvents(dial.call_id, 'agent_started')[0], { what: 'agent_started' });
      assert.equal(started.agent, 'livekit', 'the call is the worker\'s');
      // the job's agent meets the callee: in its join, or in an update
      const sees = (m) =>
        (m.case === 'join' && m.value.otherParticipants.some((p) => p.identity === 'lka')) ||
        (m.case === 'update' && m.value.participants.some((p) => p.identity === 'lka'));
      await waitUntil(() => rtc.msgs.some(sees), { what: 'the callee seen by the job\'s agent' });
      await jobEndsWithCallee(callee, w, job, named);
    } finally {
      rtc?.close();
      callee.kill();
      rtp.close();
      await Promise.all([w.close(), named.close()]);
    }
  });

  // The server places a burst one call per turn of its loop, after the
  // answers waiting in its SIP socket: every request is still dialed and
  // answered, each INVITE once (none waited past T1 for its responses to be
  // read), with or without waiting.
  test('a burst of requests at once: every call placed and answered, no INVITE sent twice', async () => {
    const n = 24;
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer_bye.xml', { rtp_port: rtp.port }, { calls: n, timeoutS: 30 });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const res = await Promise.allSettled(Array.from({ length: n }, (_, i) =>
        sip.createSipParticipant(id, `+155522201${String(i).padStart(2, '0')}`, `out-burst-${i}`, { waitUntilAnswered: i % 2 === 0, participantIdentity: `b${i}` })));
      const failed = res.filter((r) => r.status === 'rejected').map((r) => describeError(r.reason));
      assert.deepEqual(failed, []);
      res.forEach((r, i) => assert.equal(r.value.roomName, `out-burst-${i}`));
      await waitUntil(() => server.events('answered').filter((e) => e.call_id && server.events('dial').some((d) => d.call_id === e.call_id && d.room.startsWith('out-burst-'))).length === n, { timeoutMs: 10000, what: `${n} calls answered` });
      const done = await callee.done;
      assert.equal(done.code, 0, done.why);
      assert.equal(done.received.filter((m) => m === 'INVITE').length, n, done.why);
      await noCallLeft('burst');
    } finally {
      callee.kill();
      rtp.close();
    }
  });

  for (const [scen, hdr] of [['uas_407.xml', 'Proxy-Authenticate'], ['uas_401.xml', 'WWW-Authenticate']]) {
    test(`digest: ${hdr} challenge answered with the trunk's credentials`, async () => {
      const rtp = await rtpPeer();
      const port = await pickPorts(1);
      const callee = await uas(scen, { rtp_port: rtp.port, user: 'alice', pass: 's3cret', resp: digest('alice', 's3cret', `sip:+15552220003@127.0.0.1:${port}`) }, { port });
      try {
        const id = await trunk(`127.0.0.1:${callee.port}`, { authUsername: 'alice', authPassword: 's3cret' });
        const room = `out-auth-${scen.slice(4, 7)}`;
        await sip.createSipParticipant(id, '+15552220003', room, { waitUntilAnswered: true, participantIdentity: 'c' });
        await rooms.removeParticipant(room, 'c');
        const res = await callee.done;
        assert.equal(res.code, 0, res.why);
        assert.match(res.logs, /second_invite authok=true/, res.why);
        await noCallLeft('digest');
      } finally {
        callee.kill();
        rtp.close();
      }
    });
  }
});

describe('outbound calls that fail', { concurrency: true }, () => {
  for (const [scen, code, sipCode, re] of [
    ['uas_busy.xml', 'resource_exhausted', 486, /486 Busy Here/],
    ['uas_not_found.xml', 'not_found', 404, /404 Not Found/],
    ['uas_forbidden.xml', 'permission_denied', 403, /403 Forbidden/],
    ['uas_decline.xml', 'permission_denied', 603, /603 Decline/],
    ['uas_503.xml', 'failed_precondition', 503, /503 Service Unavailable/],
  ]) {
    test(`${sipCode} → ${code}`, async () => {
      const callee = await uas(scen);
      try {
        const id = await trunk(`127.0.0.1:${callee.port}`);
        const room = `out-fail-${sipCode}`;
        await expectSipError(sip.createSipParticipant(id, '+15552220010', room, { waitUntilAnswered: true }), { code, sipCode, msg: re });
        const res = await callee.done;
        assert.equal(res.code, 0, res.why);
        const left = server.events('participant_left').find((e) => e.room === room);
        assert.equal(left?.reason, 'SIP_TRUNK_FAILURE');
      } finally {
        callee.kill();
      }
    });
  }

  test('no answer: CANCEL at the ringing timeout, deadline_exceeded, sip.callStatus hangup', async () => {
    const callee = await uas('uas_no_answer.xml');
    let ear = null;
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await rooms.createRoom({ name: 'out-noanswer', emptyTimeout: 30 });
      ear = await listener('out-noanswer', 'n');
      const t0 = Date.now();
      const p = sip.createSipParticipant(id, '+15552220020', 'out-noanswer', { waitUntilAnswered: true, ringingTimeout: 2, participantIdentity: 'n' });
      // while it rings, the participant says so
      await waitUntil(async () => (await rooms.getParticipant('out-noanswer', 'n')).attributes['sip.callStatus'] === 'ringing', { what: 'sip.callStatus ringing' });
      await expectSipError(p, { code: 'deadline_exceeded' });
      const took = Date.now() - t0;
      assert.ok(took >= 1900 && took < 3500, `answered after ${took} ms`);
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.ok(res.received.includes('CANCEL'), res.why);
      // the room saw it ring, then hang up, before the callee left
      await waitUntil(() => ear.statuses.at(-1) === 'hangup', { what: `sip.callStatus hangup (saw ${ear.statuses.join(' ')})` });
      assert.deepEqual(ear.statuses.slice(-2), ['ringing', 'hangup']);
    } finally {
      await ear?.close();
      callee.kill();
    }
  });

  test('wrong password: challenged twice → permission_denied', async () => {
    const port = await pickPorts(1);
    const callee = await uas('uas_407.xml', { rtp_port: 9, resp: digest('alice', 's3cret', `sip:+15552220030@127.0.0.1:${port}`) }, { port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`, { authUsername: 'alice', authPassword: 'wrong' });
      await expectSipError(sip.createSipParticipant(id, '+15552220030', 'out-wrongpw', { waitUntilAnswered: true }), { code: 'permission_denied', sipCode: 407 });
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.match(res.logs, /second_invite authok=false/, res.why);
    } finally {
      callee.kill();
    }
  });

  test('challenged with no credentials on the trunk → permission_denied', async () => {
    const callee = await uas('uas_401.xml', { rtp_port: 9, user: 'alice', pass: 's3cret' });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await expectSipError(sip.createSipParticipant(id, '+15552220031', 'out-nocreds', { waitUntilAnswered: true }), { code: 'permission_denied', sipCode: 401 });
      callee.kill();
    } finally {
      callee.kill();
    }
  });

  test('an answer with no common codec: ACK then BYE, failed_precondition 488', async () => {
    const callee = await uas('uas_answer_bad_sdp.xml', { rtp_port: 9 });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await expectSipError(sip.createSipParticipant(id, '+15552220040', 'out-badsdp', { waitUntilAnswered: true }), { code: 'failed_precondition', sipCode: 488, msg: /no common codec/ });
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.deepEqual(res.received.filter((x) => x === 'ACK' || x === 'BYE'), ['ACK', 'BYE'], res.why);
    } finally {
      callee.kill();
    }
  });

  // SRTP required (the trunk's mediaEncryption, or the request's on a trunk
  // that does not ask for it) and a callee whose answer has no key: our
  // offer is RTP/SAVP with a=crypto, its answer plain RTP/AVP.
  for (const [what, trunkEnc, reqEnc, room] of [
    ['a REQUIRE trunk', SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE, undefined, 'out-srtp-trunk'],
    ['a request asking REQUIRE on an ALLOW trunk', SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW, SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE, 'out-srtp-req'],
  ]) {
    test(`${what}, a plain answer: ACK then BYE, failed_precondition 488 saying SRTP is required`, async () => {
      const callee = await uas('uas_answer.xml', { rtp_port: 9 });
      try {
        const id = await trunk(`127.0.0.1:${callee.port}`, { mediaEncryption: trunkEnc });
        const err = await expectSipError(sip.createSipParticipant(id, '+15552220041', room, { waitUntilAnswered: true, participantIdentity: 'plain', media: reqEnc === undefined ? undefined : { encryption: reqEnc } }), { code: 'failed_precondition', sipCode: 488, msg: /488 SRTP required \(answer: no a=crypto\)/ });
        assert.equal(err.metadata?.sip_status, 'SRTP required (answer: no a=crypto)', describeError(err));
        const dial = server.events('dial').find((e) => e.room === room);
        assert.equal(callEvents(dial.call_id, 'srtp_refused').length, 1, 'srtp_refused logged');
        assert.equal(callEvents(dial.call_id, 'media').length, 0, 'no media started');
        const res = await callee.done;
        assert.equal(res.code, 0, res.why);
        assert.deepEqual(res.received.filter((x) => x === 'ACK' || x === 'BYE'), ['ACK', 'BYE'], res.why);
        assert.match(res.messages, /m=audio \d+ RTP\/SAVP [^\n]*\n(?:[^\n]*\n)*?a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/, 'the offer was SRTP');
      } finally {
        callee.kill();
      }
    });
  }

  test('TCP to a closed port: unavailable, connection refused, at once', async () => {
    const [closed] = [await pickPorts(1)];
    const id = await trunk(`127.0.0.1:${closed}`, { transport: SIPTransport.SIP_TRANSPORT_TCP });
    const t0 = Date.now();
    await expectSipError(sip.createSipParticipant(id, '+15552220050', 'out-tcp', { waitUntilAnswered: true }), { code: 'unavailable', msg: /connection refused/ });
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });

  test('UDP to a silent address: deadline_exceeded at the ringing timeout', async () => {
    const callee = await uas('uas_no_answer_silent.xml');
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await expectSipError(sip.createSipParticipant(id, '+15552220051', 'out-silent', { waitUntilAnswered: true, ringingTimeout: 2 }), { code: 'deadline_exceeded' });
    } finally {
      callee.kill();
    }
  });

  test('a host name that does not resolve: unavailable', async () => {
    const id = await trunk('no-such-host.invalid');
    await expectSipError(sip.createSipParticipant(id, '+15552220052', 'out-nohost', { waitUntilAnswered: true, ringingTimeout: 5 }), { code: 'unavailable', msg: /no-such-host\.invalid/ });
    const dial = server.events('dial').find((e) => e.to === 'sip:+15552220052@no-such-host.invalid');
    assert.ok(dial, 'the INVITE was tried through DNS, not refused before');
  });
});

describe('requests refused before anything is sent', { concurrency: true }, () => {
  test('a trunk that does not exist: not_found', async () => {
    await expectSipError(sip.createSipParticipant('ST_nope', '+15552220060', 'out-x'), { code: 'not_found', msg: /requested sip trunk does not exist/ });
  });

  test('malformed numbers and fields: invalid_argument', async () => {
    const id = await trunk('127.0.0.1:9');
    for (const n of ['sip:+1555@evil.example', '+1555;transport=tcp', '+1555\r\nX-Evil: 1', '+1555 666', 'x'.repeat(65), '']) {
      await expectSipError(sip.createSipParticipant(id, n, 'out-bad'), { code: 'invalid_argument' });
    }
    await expectSipError(sip.createSipParticipant(id, '+1555', 'out-bad', { dtmf: '12x' }), { code: 'invalid_argument', msg: /dtmf/ });
    await expectSipError(sip.createSipParticipant(id, '+1555', 'out-bad', { headers: { 'X-A': 'a\r\nVia: x' } }), { code: 'invalid_argument' });
    await expectSipError(sip.createSipParticipant(id, '+1555', 'out-bad', { headers: { Contact: '<sip:x@y>' } }), { code: 'invalid_argument' });
    await expectSipError(sip.createSipParticipant(id, '+1555', ''), { code: 'invalid_argument' });
    const r = await twirp(server, 'SIP', 'CreateSIPParticipant', { sip_trunk_id: id, sip_call_to: '+1555', room_name: 'out-bad', ringing_timeout: '-3s' }, { token: signJwt({ iss: API_KEY, exp: Math.floor(Date.now() / 1000) + 60, sip: { call: true } }) });
    assert.equal(r.json?.code, 'invalid_argument', r.text);
    assert.equal(server.events('dial').filter((e) => e.room === 'out-bad').length, 0, 'nothing dialled');
  });

  test('no sip.call grant: unauthenticated', async () => {
    const id = await trunk('127.0.0.1:9');
    const tok = signJwt({ iss: API_KEY, exp: Math.floor(Date.now() / 1000) + 60, sip: { admin: true } });
    const r = await twirp(server, 'SIP', 'CreateSIPParticipant', { sip_trunk_id: id, sip_call_to: '+1555', room_name: 'out-grant' }, { token: tok });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json?.code, 'unauthenticated');
  });

  test('a TLS trunk without sip_tls_cert: failed_precondition', async () => {
    const id = await trunk('127.0.0.1:9', { transport: SIPTransport.SIP_TRANSPORT_TLS });
    await expectSipError(sip.createSipParticipant(id, '+1555', 'out-tls'), { code: 'failed_precondition', msg: /TLS is not configured/ });
  });
});

describe('a call while it rings', () => {
  test('duplicate identity: already_exists; DeleteRoom cancels the ringing call and the waiting request hears it', async () => {
    const callee = await uas('uas_no_answer.xml');
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const first = sip.createSipParticipant(id, '+15552220070', 'out-dup', { waitUntilAnswered: true, ringingTimeout: 20, participantIdentity: 'dup' });
      first.catch(() => {});
      await waitUntil(async () => (await rooms.getParticipant('out-dup', 'dup')).attributes['sip.callStatus'] === 'ringing', { what: 'first call ringing' });
      await expectSipError(sip.createSipParticipant(id, '+15552220071', 'out-dup', { participantIdentity: 'dup' }), { code: 'already_exists' });
      assert.equal(await outboundCalls(), 1, 'the refused one sent nothing');
      const t0 = Date.now();
      await rooms.deleteRoom('out-dup');
      await expectSipError(first, { code: 'canceled' });
      assert.ok(Date.now() - t0 < 2000);
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.ok(res.received.includes('CANCEL'), res.why);
      await noCallLeft('deleted room');
    } finally {
      callee.kill();
    }
  });

  test('without waitUntilAnswered the reply comes at once, the call goes on', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer.xml', { rtp_port: rtp.port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const info = await sip.createSipParticipant(id, '+15552220080', 'out-nowait', { participantIdentity: 'nw' });
      assert.equal(info.participantIdentity, 'nw');
      await waitUntil(async () => (await rooms.getParticipant('out-nowait', 'nw')).attributes['sip.callStatus'] === 'active', { what: 'active' });
      await rooms.deleteRoom('out-nowait');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.ok(res.received.includes('BYE'), res.why);
      await noCallLeft('no wait');
    } finally {
      callee.kill();
      rtp.close();
    }
  });
});

describe('early media, DTMF, limits, races', { concurrency: true }, () => {
  test('183 with SDP: the callee is heard in the room before the answer, the agent starts only at the answer', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_early_media.xml', { rtp_port: rtp.port });
    let ear = null;
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      // a WebRTC listener in the room before the dial
      await rooms.createRoom({ name: 'out-early', emptyTimeout: 30 });
      ear = await listener('out-early', 'e');
      const p = sip.createSipParticipant(id, '+15552220090', 'out-early', { waitUntilAnswered: true, participantIdentity: 'e', playDialtone: true });
      p.catch(() => {});
      const early = await waitUntil(() => server.events('early_media').find((e) => e.code === 183 && server.events('dial').some((d) => d.call_id === e.call_id && d.room === 'out-early')), { what: 'early_media event' });
      const callId = early.call_id;
      const media = callEvents(callId, 'media')[0];
      assert.ok(media, 'media started on the 183');
      // the callee's early audio: 1 kHz, apart from the ringback's 440 + 480 Hz
      const streaming = rtp.stream(media.local_port, 3500, 1000);
      await p;
      const answeredAt = Date.parse(callEvents(callId, 'answered')[0].ts);
      await streaming;
      await sleep(300);
      const firstRtp = callEvents(callId, 'first_rtp')[0];
      assert.ok(firstRtp && Date.parse(firstRtp.ts) < answeredAt, 'the callee was heard before the answer');
      // the room heard the callee's 1 kHz before the 200 OK
      await ear.subscribed;
      const heardEarly = concat(loud(ear.frames.filter((f) => f.at > Date.parse(firstRtp.ts) + 200 && f.at < answeredAt)));
      assert.ok(heardEarly.length >= 8000 * 0.8, `the room heard ${heardEarly.length / 8} ms of the callee before the answer (${ear.frames.length} frames in all)`);
      const share = windowShare(heardEarly, [1000]);
      assert.ok(share > 0.9, `1 kHz is ${(share * 100).toFixed(1)} % of what the room heard before the answer`);
      const before = loudPackets(rtp.got.filter((x) => x.at < answeredAt - 100));
      const afterLoud = loudPackets(rtp.got, answeredAt + 300);
      assert.equal(before, 0, 'no agent talked before the answer');
      assert.ok(afterLoud >= 30, `the agent echoes once answered: ${afterLoud} loud packets`);
      assert.equal(callEvents(callId, 'dialtone').length, 1, 'playDialtone: the ringback started');
      assert.equal((await rooms.getParticipant('out-early', 'e')).attributes['sip.callStatus'], 'active');
      await rooms.deleteRoom('out-early');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
    } finally {
      await ear?.close();
      callee.kill();
      rtp.close();
    }
  });

  test("dtmf '12w#' is sent once answered, with a pause of half a second at the w", async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer.xml', { rtp_port: rtp.port });
    let ear = null;
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await rooms.createRoom({ name: 'out-dtmf', emptyTimeout: 30 });
      ear = await listener('out-dtmf', 'd');
      await sip.createSipParticipant(id, '+15552220091', 'out-dtmf', { waitUntilAnswered: true, participantIdentity: 'd', dtmf: '12w#' });
      await waitUntil(async () => (await rooms.getParticipant('out-dtmf', 'd')).attributes['sip.callStatus'] === 'active', { timeoutMs: 5000, what: 'automation, then active' });
      // automation while the keys go, then active
      await waitUntil(() => ear.statuses.at(-1) === 'active', { what: `active at the listener (saw ${ear.statuses.join(' ')})` });
      assert.deepEqual(ear.statuses.slice(-2), ['automation', 'active']);
      await waitUntil(() => rtp.got.filter((x) => x.pt === 101).length >= 24, { timeoutMs: 4000, what: 'three keys as RFC 4733 events' });
      // one event per key: its first packet (new RTP timestamp), its last (E bit)
      // (the end packet is sent three times, RFC 4733 2.5.1.4)
      const keys = [];
      for (const x of rtp.got.filter((y) => y.pt === 101)) {
        const end = (x.payload[1] & 0x80) !== 0;
        let k = keys.find((y) => y.ts === x.ts);
        if (!k) keys.push((k = { ts: x.ts, code: x.payload[0], start: x.at, end: 0 }));
        if (end && !k.end) k.end = x.at;
      }
      assert.deepEqual(keys.map((k) => k.code), [1, 2, 11], JSON.stringify(keys));
      const gap = keys[2].start - keys[1].end;
      assert.ok(gap >= 450, `pause at the w: ${gap} ms`);
      assert.ok(keys[1].start - keys[0].end < 300, 'keys before the w go together');
      await rooms.deleteRoom('out-dtmf');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
    } finally {
      await ear?.close();
      callee.kill();
      rtp.close();
    }
  });

  test('maxCallDuration: our BYE when it runs out', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer.xml', { rtp_port: rtp.port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      const t0 = Date.now();
      await sip.createSipParticipant(id, '+15552220092', 'out-max', { waitUntilAnswered: true, maxCallDuration: 2 });
      const res = await callee.done;
      const took = Date.now() - t0;
      assert.equal(res.code, 0, res.why);
      assert.ok(res.received.includes('BYE'), res.why);
      assert.ok(took >= 1900 && took < 4000, `BYE after ${took} ms`);
      assert.ok(server.events('max_duration').length >= 1);
    } finally {
      callee.kill();
      rtp.close();
    }
  });

  test('a 200 that crosses our CANCEL is ACKed and BYE\'d; the request already has its answer', async () => {
    const callee = await uas('uas_late_answer.xml', { rtp_port: 9 });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await expectSipError(sip.createSipParticipant(id, '+15552220093', 'out-late', { waitUntilAnswered: true, ringingTimeout: 2 }), { code: 'deadline_exceeded' });
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.deepEqual(res.received.filter((x) => ['CANCEL', 'ACK', 'BYE'].includes(x)), ['CANCEL', 'ACK', 'BYE'], res.why);
      const dial = server.events('dial').find((e) => e.room === 'out-late');
      assert.equal(callEvents(dial.call_id, 'call_end')[0]?.reason, 'ringing timeout');
    } finally {
      callee.kill();
    }
  });
});

describe('an outbound call goes on as an inbound one', { concurrency: true }, () => {
  test('the callee holds (re-INVITE sendonly) and resumes: our answers say recvonly then sendrecv, the echo stops and comes back, sip.callStatus stays active', async () => {
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer_reinvite.xml', { rtp_port: rtp.port });
    try {
      const id = await trunk(`127.0.0.1:${callee.port}`);
      await sip.createSipParticipant(id, '+15552220100', 'out-hold', { waitUntilAnswered: true, participantIdentity: 'h' });
      const dial = server.events('dial').find((e) => e.room === 'out-hold');
      const media = await waitUntil(() => callEvents(dial.call_id, 'media')[0], { what: 'media event' });
      // the callee talks all along: 2 s, on hold 2 s, resumed
      const streaming = rtp.stream(media.local_port, 6500);
      const hold = await waitUntil(() => callEvents(dial.call_id, 'reinvite')[0], { timeoutMs: 5000, what: 'the hold re-INVITE' });
      assert.equal(hold.direction, 'recvonly');
      await sleep(500);
      assert.equal((await rooms.getParticipant('out-hold', 'h')).attributes['sip.callStatus'], 'active', 'active while held');
      const resume = await waitUntil(() => callEvents(dial.call_id, 'reinvite')[1], { timeoutMs: 5000, what: 'the resume re-INVITE' });
      assert.equal(resume.direction, 'sendrecv');
      await streaming;
      await sleep(300);
      assert.equal((await rooms.getParticipant('out-hold', 'h')).attributes['sip.callStatus'], 'active', 'active once resumed');
      const heldAt = Date.parse(hold.ts), resumedAt = Date.parse(resume.ts);
      const answeredAt = Date.parse(callEvents(dial.call_id, 'answered')[0].ts);
      const before = loudPackets(rtp.got.filter((x) => x.at > answeredAt + 300 && x.at < heldAt));
      const held = rtp.got.filter((x) => x.at > heldAt + 200 && x.at < resumedAt).length;
      const after = loudPackets(rtp.got, resumedAt + 300);
      assert.ok(before >= 40, `the echo before the hold: ${before} loud packets`);
      assert.ok(held <= 3, `nothing sent to the held callee: ${held} packets`);
      assert.ok(after >= 40, `the echo resumed: ${after} loud packets`);
      assert.equal(callEvents(dial.call_id, 'call_end').length, 0, 'the call goes on');
      await rooms.removeParticipant('out-hold', 'h');
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.match(res.logs, /hold_dir=a=recvonly/, res.why);
      assert.deepEqual(res.received.filter((x) => x === 'BYE'), ['BYE'], res.why);
    } finally {
      callee.kill();
      rtp.close();
    }
  });

  test('a callee that goes silent: our BYE at media_timeout, sip.callStatus hangup, the record says so', async () => {
    const own = await startServer({ args: ['--media_timeout', '2s'] });
    const ownSip = new SipClient(own.url, API_KEY, API_SECRET);
    const ownRooms = new RoomServiceClient(own.url, API_KEY, API_SECRET);
    const rtp = await rtpPeer();
    const callee = await uas('uas_answer.xml', { rtp_port: rtp.port });
    let ear = null;
    try {
      const t = await ownSip.createSipOutboundTrunk('t', `127.0.0.1:${callee.port}`, ['+15550001111']);
      await ownRooms.createRoom({ name: 'out-silent-media', emptyTimeout: 30 });
      ear = await listener('out-silent-media', 's', own);
      await ownSip.createSipParticipant(t.sipTrunkId, '+15552220101', 'out-silent-media', { waitUntilAnswered: true, participantIdentity: 's' });
      const dial = own.events('dial').find((e) => e.room === 'out-silent-media');
      const answeredAt = Date.parse(own.events('answered').find((e) => e.call_id === dial.call_id).ts);
      // the callee says nothing: our BYE
      const res = await callee.done;
      assert.equal(res.code, 0, res.why);
      assert.ok(res.received.includes('BYE'), res.why);
      const timeout = own.events('media_timeout').find((e) => e.call_id === dial.call_id);
      assert.ok(timeout, 'media_timeout logged');
      const after = Date.parse(timeout.ts) - answeredAt;
      assert.ok(after >= 1900 && after < 6000, `media timeout ${after} ms after the answer`);
      const end = await waitUntil(() => own.events('call_end').find((e) => e.call_id === dial.call_id), { what: 'call_end' });
      assert.equal(end.direction, 'outbound');
      assert.equal(end.by, 'server');
      assert.equal(end.reason, 'media timeout');
      await waitUntil(() => ear.statuses.at(-1) === 'hangup', { what: `sip.callStatus hangup (saw ${ear.statuses.join(' ')})` });
      assert.deepEqual(ear.statuses.slice(-2), ['active', 'hangup']);
      await left(ownRooms, 'out-silent-media', 's');
      const r = await run('sqlite3', ['-json', own.db, "SELECT json FROM calls WHERE json_extract(json, '$.room') = 'out-silent-media'"]);
      assert.equal(r.code, 0, r.stderr);
      const rec = JSON.parse(JSON.parse(r.stdout)[0].json);
      assert.equal(rec.status, 'hangup', JSON.stringify(rec));
      assert.equal(rec.endReason, 'media timeout', JSON.stringify(rec));
    } finally {
      await ear?.close();
      callee.kill();
      rtp.close();
      await own.stop();
    }
  });
});

// ---- the dial tone in the room --------------------------------------------

// A WebRTC listener (LiveKit's rtc-node) in the room: every 10 ms frame it
// hears the callee's track, with when it came, and each sip.callStatus the
// callee's participant reports (statuses, as they change).
async function listener(roomName, identity, srv = server) {
  const at = new AccessToken(API_KEY, API_SECRET, { identity: `ear-${roomName}`, ttl: '5m' });
  at.addGrant({ roomJoin: true, room: roomName });
  const room = new Room();
  const frames = [];
  const statuses = [];
  const note = (p) => {
    const s = p.attributes?.['sip.callStatus'];
    if (p.identity === identity && s && statuses.at(-1) !== s) statuses.push(s);
  };
  room.on(RoomEvent.ParticipantConnected, note);
  room.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => note(p));
  let reading = true;
  const subscribed = new Promise((resolve) => room.on(RoomEvent.TrackSubscribed, (track, _pub, p) => {
    if (p.identity !== identity) return;
    resolve();
    (async () => {
      const reader = new AudioStream(track, 8000, 1).getReader();
      while (reading) {
        const { value, done } = await reader.read();
        if (done) break;
        frames.push({ at: Date.now(), pcm: Int16Array.from(value.data) });
      }
      reader.releaseLock();
    })().catch(() => {});
  }));
  await room.connect(`ws://127.0.0.1:${srv.httpPort}`, await at.toJwt(), { autoSubscribe: true, dynacast: false });
  for (const p of room.remoteParticipants.values()) note(p);
  return {
    frames,
    statuses,
    subscribed,
    async close() { reading = false; await room.disconnect().catch(() => {}); },
  };
}

const concat = (frames) => {
  const out = new Int16Array(frames.reduce((n, f) => n + f.pcm.length, 0));
  let o = 0;
  for (const f of frames) { out.set(f.pcm, o); o += f.pcm.length; }
  return out;
};

describe('play_dialtone: the room hears a ringback while the callee rings', { concurrency: true }, () => {
  // The callee rings 3 s, answers, then sends 1 kHz: the listener joined
  // the room before the dial hears 440 + 480 Hz (2 s on, then off) while
  // it rings when playDialtone is set, nothing without it, and the callee
  // (not the tone) once answered. With the tone the callee answers PCMA,
  // the other law than the room's track was made with before the answer.
  for (const dialtone of [true, false]) {
    test(dialtone ? 'playDialtone: 440 + 480 Hz until the answer, then the callee' : 'without playDialtone: no tone while it rings', async () => {
      const roomName = dialtone ? 'out-tone' : 'out-notone';
      const rtp = await rtpPeer();
      const pt = dialtone ? 8 : 0;
      const callee = await uas('uas_ring_answer.xml', { rtp_port: rtp.port, codec: pt, codec_name: dialtone ? 'PCMA' : 'PCMU' });
      let ear = null;
      try {
        const id = await trunk(`127.0.0.1:${callee.port}`);
        await rooms.createRoom({ name: roomName, emptyTimeout: 30 });
        ear = await listener(roomName, 'ringing');
        const t0 = Date.now();
        await sip.createSipParticipant(id, dialtone ? '+15552220095' : '+15552220096', roomName, { waitUntilAnswered: true, participantIdentity: 'ringing', playDialtone: dialtone });
        const dial = server.events('dial').find((e) => e.room === roomName);
        const answeredAt = Date.parse(callEvents(dial.call_id, 'answered')[0].ts);
        assert.ok(answeredAt - t0 >= 2500, `rang ${answeredAt - t0} ms`);
        const media = callEvents(dial.call_id, 'media').at(-1);
        assert.equal(media.codec, dialtone ? 'PCMA' : 'PCMU');
        const talking = rtp.stream(media.local_port, 2000, 1000, pt);
        await talking;
        await sleep(300);
        const ringing = ear.frames.filter((f) => f.at < answeredAt);
        const answered = ear.frames.filter((f) => f.at > answeredAt + 400);
        if (dialtone) {
          await ear.subscribed;
          const tone = concat(loud(ringing));
          assert.ok(tone.length >= 8000 * 0.8, `heard ${tone.length / 8} ms of tone while it rang (${ringing.length} frames)`);
          const share = windowShare(tone, [440, 480]);
          assert.ok(share > 0.8, `440 + 480 Hz are ${(share * 100).toFixed(1)} % of the tone`);
          // the cadence: 2 s on, then off until the answer at 3 s
          assert.ok(tone.length <= 8000 * 2.2, `heard ${tone.length / 8} ms of tone: 2 s on, 4 s off`);
          assert.equal(callEvents(dial.call_id, 'dialtone').length, 1);
        } else {
          assert.equal(loud(ringing).length, 0, `no tone while it rang: ${loud(ringing).length} loud frames`);
          assert.equal(callEvents(dial.call_id, 'dialtone').length, 0);
        }
        const after = concat(loud(answered));
        assert.ok(after.length >= 8000, `the callee heard in the room once answered: ${after.length / 8} ms`);
        // a clean 1 kHz at the level sent (8000 peak): the other law read
        // as the track's would be loud and full of harmonics
        assert.ok(windowShare(after, [1000]) > 0.99, `1 kHz is ${(windowShare(after, [1000]) * 100).toFixed(2)} %`);
        assert.ok(rms(after) > 4500 && rms(after) < 7000, `the callee's level: rms ${rms(after).toFixed(0)}`);
        const rb = windowShare(after, [440, 480]);
        assert.ok(rb < 0.05, `no ringback once answered: ${(rb * 100).toFixed(1)} %`);
        await rooms.deleteRoom(roomName);
        const res = await callee.done;
        assert.equal(res.code, 0, res.why);
        const end = await waitUntil(() => callEvents(dial.call_id, 'call_end')[0], { what: 'call_end' });
        assert.ok(end.packets_in >= 80, `packets_in ${end.packets_in}`);
      } finally {
        await ear?.close();
        callee.kill();
        rtp.close();
      }
    });
  }
});

describe('shutdown while it rings', () => {
  test('SIGTERM: the ringing call is cancelled, the waiting request answered, the server exits cleanly', async () => {
    const own = await startServer({});
    const ownSip = new SipClient(own.url, API_KEY, API_SECRET);
    const callee = await uas('uas_no_answer.xml');
    try {
      const t = await ownSip.createSipOutboundTrunk('t', `127.0.0.1:${callee.port}`, ['+15550001111']);
      const p = ownSip.createSipParticipant(t.sipTrunkId, '+15552220094', 'out-term', { waitUntilAnswered: true, ringingTimeout: 20 });
      p.catch(() => {});
      await waitUntil(() => own.events('ringing').length === 1, { what: 'ringing' });
      await own.stop();
      await expectSipError(p, { code: 'canceled' });
      // SIPp got the CANCEL; its ACK to the 487 has no one left to come from
      await waitUntil(() => fs.existsSync(path.join(TMP, `uas${uasCount}.messages.log`)) && /CANCEL sip:/.test(fs.readFileSync(path.join(TMP, `uas${uasCount}.messages.log`), 'utf8')), { what: 'CANCEL seen by SIPp' });
    } finally {
      callee.kill();
      own.kill();
    }
  });
});

describe('afterwards', () => {
  test('no outbound call left behind by any case', async () => {
    await noCallLeft('all cases');
    const r = await fetch(`${server.url}/metrics`);
    assert.match(await r.text(), /voxgate_sip_calls\{direction="inbound"\} 0/);
  });

  test('the call records: every call ended, with its outcome', async () => {
    const q = async (sql) => {
      const r = await run('sqlite3', ['-json', server.db, sql]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim() ? JSON.parse(r.stdout) : [];
    };
    const rec = async (room) => (await q(`SELECT json FROM calls WHERE json_extract(json, '$.room') = '${room}'`)).map((x) => JSON.parse(x.json));
    const open = await q("SELECT json FROM calls WHERE json_extract(json, '$.status') IN ('dialing', 'ringing', 'active')");
    assert.equal(open.length, 0, JSON.stringify(open));
    const [answered] = await rec('out-answer');
    assert.equal(answered.status, 'hangup', JSON.stringify(answered));
    assert.ok(answered.activeAt > 0 && answered.endedAt >= answered.activeAt);
    assert.match(answered.trunkId, /^ST_/);
    assert.equal(answered.participantIdentity, 'callee1');
    const [busy] = await rec('out-fail-486');
    assert.equal(busy.status, 'failed');
    assert.equal(busy.sipStatusCode, 486);
    const [noanswer] = await rec('out-noanswer');
    assert.equal(noanswer.status, 'failed');
    assert.equal(noanswer.sipStatusCode, 487);
    assert.equal(noanswer.endReason, 'ringing timeout');
  });

  test("the SIP UDP socket's receive buffer is above the kernel's default", () => {
    // a burst of a trunk's answers must not overflow it (bench (f))
    const e = server.events('sip_udp_rcvbuf')[0];
    assert.ok(e && e.bytes > 212992, JSON.stringify(e));
  });
});
