// LiveKit's room signalling (/rtc) driven as the SDKs drive it: a WebSocket
// of binary SignalRequest / SignalResponse frames, encoded and decoded with
// @livekit/protocol, the SDKs' own generated code. Tokens are minted with
// livekit-server-sdk's AccessToken; the phone caller is a SIPp call; the
// backend side is RoomServiceClient.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { AccessToken, RoomServiceClient, SipClient } from 'livekit-server-sdk';
import {
  SignalRequest,
  SignalResponse,
  ParticipantInfo_Kind,
  DisconnectReason,
  RequestResponse_Reason,
} from '@livekit/protocol';
import { startServer, sipp, waitUntil, sleep, API_KEY, API_SECRET, signJwt } from './helpers.mjs';

const CALLER = '+15557654321';
const NUMBER = '+15550001111';

async function token(identity, room, opts = {}) {
  const at = new AccessToken(opts.key ?? API_KEY, opts.secret ?? API_SECRET, {
    identity,
    name: opts.name,
    metadata: opts.metadata,
    attributes: opts.attributes,
    ttl: opts.ttl ?? '10m',
  });
  if (opts.kind) at.kind = opts.kind;
  at.addGrant({ roomJoin: opts.roomJoin ?? true, room, canUpdateOwnMetadata: opts.canUpdateOwnMetadata ?? true, hidden: opts.hidden });
  return at.toJwt();
}

// A signalling client: connect(), next(case) for the next message of a
// kind, send(case, value), and everything received kept in order.
class Client {
  constructor(server, jwt, { header = false, query = '' } = {}) {
    this.msgs = [];
    this.waiters = [];
    const url = `ws://127.0.0.1:${server.httpPort}/rtc?${header ? '' : `access_token=${jwt}&`}auto_subscribe=1&sdk=node&protocol=16${query}`;
    this.ws = new WebSocket(url, header ? { headers: { Authorization: `Bearer ${jwt}` } } : {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    this.ws.on('message', (data, isBinary) => {
      const m = isBinary ? SignalResponse.fromBinary(new Uint8Array(data)) : { message: { case: 'text', value: String(data) } };
      this.msgs.push(m.message);
      this.wake();
    });
    this.ws.on('error', () => {});
  }

  opened() {
    return new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body, headers: res.headers })));
      });
      this.ws.once('error', reject);
    });
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  // The next message of kind c after index from (default: any seen so far
  // counts once); resolves with its value.
  async next(c, { timeoutMs = 5000, where = () => true } = {}) {
    const deadline = Date.now() + timeoutMs;
    this.seen ??= new Set();
    while (true) {
      for (let i = 0; i < this.msgs.length; i++) {
        const m = this.msgs[i];
        if (m.case === c && !this.seen.has(i) && where(m.value)) {
          this.seen.add(i);
          return m.value;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${c} within ${timeoutMs} ms; got [${this.msgs.map((m) => m.case).join(' ')}]`);
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
  }

  send(c, value) {
    this.ws.send(new SignalRequest({ message: { case: c, value } }).toBinary());
  }

  close() {
    this.ws.terminate();
  }
}

async function join(server, identity, room, opts = {}) {
  const c = new Client(server, await token(identity, room, opts), opts);
  await c.opened();
  const jr = await c.next('join');
  return { c, jr };
}

describe('rtc signalling', { timeout: 90000 }, () => {
  let server;
  let rooms;

  before(async () => {
    server = await startServer({ defaultRoute: true, emptyTimeout: '30s', departureTimeout: '30s' });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('rtc-trunk', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'phone-room' }, { trunkIds: [trunk.sipTrunkId] });
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('the join response is the first frame and describes the room', async () => {
    const { c, jr } = await join(server, 'alice', 'sig-room', { name: 'Alice', metadata: 'a-meta', attributes: { team: 'blue' } });
    assert.equal(c.msgs[0].case, 'join', 'first frame');
    assert.match(jr.room.sid, /^RM_/);
    assert.equal(jr.room.name, 'sig-room');
    assert.match(jr.participant.sid, /^PA_/);
    assert.equal(jr.participant.identity, 'alice');
    assert.equal(jr.participant.name, 'Alice');
    assert.equal(jr.participant.metadata, 'a-meta');
    assert.equal(jr.participant.attributes.team, 'blue');
    assert.equal(jr.participant.kind, ParticipantInfo_Kind.STANDARD);
    assert.ok(jr.participant.permission.canPublish && jr.participant.permission.canSubscribe);
    assert.equal(jr.subscriberPrimary, true);
    assert.equal(jr.fastPublish, false);
    assert.ok(jr.pingInterval > 0 && jr.pingTimeout > jr.pingInterval, `ping ${jr.pingInterval}/${jr.pingTimeout}`);
    assert.ok(jr.serverInfo && jr.serverInfo.protocol > 0);
    assert.deepEqual(jr.otherParticipants, []);
    c.send('leave', {});
    await c.closed;
  });

  test('a second participant is announced, sees the first, and its leave is announced', async () => {
    const a = await join(server, 'a1', 'pair-room', { header: true });
    const b = await join(server, 'b1', 'pair-room');
    assert.deepEqual(b.jr.otherParticipants.map((p) => p.identity), ['a1']);
    const up = await a.c.next('update', { where: (u) => u.participants.some((p) => p.identity === 'b1') });
    assert.equal(up.participants[0].state, 2 /* ACTIVE */);
    const parts = await rooms.listParticipants('pair-room');
    assert.deepEqual(parts.map((p) => p.identity).sort(), ['a1', 'b1']);
    b.c.send('leave', { reason: DisconnectReason.CLIENT_INITIATED });
    const gone = await a.c.next('update', { where: (u) => u.participants.some((p) => p.identity === 'b1' && p.state === 3) });
    assert.ok(gone);
    const closed = await b.c.closed;
    assert.equal(closed.code, 1000);
    a.c.close();
    await waitUntil(async () => (await rooms.listParticipants('pair-room')).length === 0, { what: 'a1 removed after its socket dropped' });
    assert.ok(server.events('rtc_disconnected').some((e) => e.identity === 'a1'));
  });

  test('ping and ping_req are answered', async () => {
    const { c } = await join(server, 'pinger', 'ping-room');
    c.send('ping', 12345n);
    const pong = await c.next('pong');
    assert.ok(pong > 1700000000000n, `pong ${pong}`);
    c.send('pingReq', { timestamp: 777n, rtt: 3n });
    const pr = await c.next('pongResp');
    assert.equal(pr.lastPingTimestamp, 777n);
    assert.ok(pr.timestamp > 1700000000000n);
    c.close();
  });

  test('metadata and attributes updates answer with request_response and reach the others', async () => {
    const a = await join(server, 'watcher', 'meta-room');
    const b = await join(server, 'agent-x', 'meta-room', { kind: 'agent' });
    assert.equal(b.jr.participant.kind, ParticipantInfo_Kind.AGENT);
    b.c.send('updateMetadata', { metadata: 'm2', name: 'Agent X', attributes: { 'lk.agent.state': 'listening' }, requestId: 7 });
    const rr = await b.c.next('requestResponse');
    assert.equal(rr.requestId, 7);
    assert.equal(rr.reason, RequestResponse_Reason.OK);
    const up = await a.c.next('update', { where: (u) => u.participants.some((p) => p.identity === 'agent-x' && p.metadata === 'm2') });
    const p = up.participants.find((x) => x.identity === 'agent-x');
    assert.equal(p.name, 'Agent X');
    assert.equal(p.attributes['lk.agent.state'], 'listening');
    assert.equal(p.kind, ParticipantInfo_Kind.AGENT);
    // the server's view agrees
    const got = await rooms.getParticipant('meta-room', 'agent-x');
    assert.equal(got.attributes['lk.agent.state'], 'listening');
    // deleting an attribute with an empty value
    b.c.send('updateMetadata', { attributes: { 'lk.agent.state': '' }, requestId: 8 });
    assert.equal((await b.c.next('requestResponse')).requestId, 8);
    assert.equal((await rooms.getParticipant('meta-room', 'agent-x')).attributes['lk.agent.state'], undefined);
    a.c.close();
    b.c.close();
  });

  test('without canUpdateOwnMetadata the update is refused with NOT_ALLOWED', async () => {
    const { c } = await join(server, 'mute-meta', 'meta2-room', { canUpdateOwnMetadata: false });
    c.send('updateMetadata', { metadata: 'nope', requestId: 3 });
    const rr = await c.next('requestResponse');
    assert.equal(rr.reason, RequestResponse_Reason.NOT_ALLOWED);
    assert.equal((await rooms.getParticipant('meta2-room', 'mute-meta')).metadata, '');
    c.close();
  });

  test('the phone caller is in the join response with its track, and RemoveParticipant sends leave', async () => {
    const call = sipp(server, 'lk_uac_wait_bye.xml', { label: 'rtc-call', service: NUMBER, caller: CALLER, timeoutS: 30 });
    try {
      const caller = await waitUntil(async () => (await rooms.listParticipants('phone-room')).find((p) => p.kind === 3 /* SIP */), {
        timeoutMs: 10000,
        what: 'the caller in phone-room',
      });
      const { c, jr } = await join(server, 'listener', 'phone-room');
      const sipp_ = jr.otherParticipants.find((p) => p.identity === caller.identity);
      assert.ok(sipp_, `others: ${jr.otherParticipants.map((p) => p.identity)}`);
      assert.equal(sipp_.kind, ParticipantInfo_Kind.SIP);
      assert.equal(sipp_.tracks.length, 1);
      assert.match(sipp_.tracks[0].sid, /^TR_/);
      assert.equal(sipp_.tracks[0].mimeType, 'audio/PCMU');
      assert.ok(sipp_.attributes['sip.phoneNumber'].includes('5557654321'), JSON.stringify(sipp_.attributes));
      // attributes changing on the call reach the client
      await rooms.removeParticipant('phone-room', 'listener');
      const leave = await c.next('leave');
      assert.equal(leave.canReconnect, false);
      assert.equal(leave.reason, DisconnectReason.PARTICIPANT_REMOVED);
      await c.closed;
      // DeleteRoom: the caller hangs up; a client in the room gets leave
      const d = await join(server, 'doomed', 'phone-room');
      await rooms.deleteRoom('phone-room');
      const l2 = await d.c.next('leave');
      assert.equal(l2.reason, DisconnectReason.ROOM_DELETED);
      const res = await call.done;
      assert.ok(res.code === 0, res.why);
    } finally {
      call.kill();
    }
  });

  test('a second join with the same identity replaces the first', async () => {
    const first = await join(server, 'twin', 'dup-room');
    const second = await join(server, 'twin', 'dup-room');
    const leave = await first.c.next('leave');
    assert.equal(leave.reason, DisconnectReason.DUPLICATE_IDENTITY);
    const parts = await rooms.listParticipants('dup-room');
    assert.equal(parts.length, 1);
    assert.equal(parts[0].sid, second.jr.participant.sid);
    second.c.close();
  });

  test('refusals before the upgrade: status, plain-text reason, and /rtc/validate agreeing', async () => {
    const cases = [
      ['no token', '', 401, /no permissions/],
      ['bad signature', `access_token=${await token('x', 'r', { secret: 'wrong-secret-wrong-secret-wrong-secret' })}`, 401, /./],
      ['expired', `access_token=${signJwt({ iss: API_KEY, sub: 'x', exp: 1000, video: { roomJoin: true, room: 'r' } })}`, 401, /./],
      ['no roomJoin', `access_token=${await token('x', 'r', { roomJoin: false })}`, 401, /no permissions/],
      ['no room', `access_token=${await token('x', undefined)}`, 400, /no room name/],
    ];
    for (const [what, q, status, re] of cases) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/rtc?${q}`);
      const res = await new Promise((resolve) => {
        ws.once('unexpected-response', (_r, r) => {
          let body = '';
          r.on('data', (d) => (body += d));
          r.on('end', () => resolve({ status: r.statusCode, body, cors: r.headers['access-control-allow-origin'] }));
        });
        ws.once('open', () => resolve({ status: 101 }));
        ws.on('error', () => {});
      });
      assert.equal(res.status, status, `${what}: ${res.body}`);
      assert.match(res.body, re, what);
      const v = await fetch(`${server.url}/rtc/validate?${q}`);
      assert.equal(v.status, status, `${what}: validate`);
      assert.equal(v.headers.get('access-control-allow-origin'), '*', `${what}: CORS`);
      assert.equal(await v.text(), res.body, `${what}: validate text`);
    }
    const ok = await fetch(`${server.url}/rtc/validate?access_token=${await token('v', 'valid-room')}`);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'success');
  });

  test('/rtc/v1 and /rtc/v1/validate answer 404 with CORS, so clients fall back', async () => {
    for (const p of ['/rtc/v1', '/rtc/v1/validate']) {
      const r = await fetch(`${server.url}${p}?access_token=${await token('v1', 'v1-room')}`);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers.get('access-control-allow-origin'), '*', p);
      assert.doesNotMatch(await r.text(), /requested room does not exist/, p);
    }
  });

  test('a frame that is not a SignalRequest closes with 1007, a text frame with 1003', async () => {
    const a = await join(server, 'garbage', 'bad-room');
    a.c.ws.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), { binary: true });
    assert.equal((await a.c.closed).code, 1007);
    const b = await join(server, 'texter', 'bad-room');
    b.c.ws.send('{"ping":"1"}');
    assert.equal((await b.c.closed).code, 1003);
    await waitUntil(async () => (await rooms.listParticipants('bad-room')).length === 0, { what: 'both removed' });
    // the server is still serving
    const c = await join(server, 'after', 'bad-room');
    c.c.close();
  });

  test('a join whose peer connection never comes up is closed after 10 s', { timeout: 30000 }, async () => {
    const { c } = await join(server, 'stalled', 'quiet-room');
    const offer = await c.next('offer');
    assert.match(offer.sdp, /a=ice-lite/);
    const t0 = Date.now();
    // pings keep the signalling alive; no answer, so no connection
    const pinger = setInterval(() => c.send('pingReq', { timestamp: BigInt(Date.now()) }), 2000);
    try {
      const leave = await c.next('leave', { timeoutMs: 15000 });
      const took = Date.now() - t0;
      assert.equal(leave.reason, DisconnectReason.JOIN_FAILURE);
      assert.ok(took >= 9000 && took < 14000, `closed after ${took} ms`);
    } finally {
      clearInterval(pinger);
    }
    assert.equal((await rooms.listParticipants('quiet-room')).length, 0);
  });

  test('metrics count the signalling', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /voxgate_rtc_signal_total\{event="joined"\} [1-9]/);
    assert.match(text, /voxgate_rtc_signal_total\{event="refused"\} [1-9]/);
    assert.match(text, /voxgate_rtc_signal_total\{event="malformed"\} [1-9]/);
  });
});
