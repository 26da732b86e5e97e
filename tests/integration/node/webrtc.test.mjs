// A phone call and LiveKit's own Node SDK (@livekit/rtc-node, the Rust
// engine LiveKit's agents run on) in one room, over WebRTC: the SDK hears
// the caller's tone (PCMU forwarded as it came), stops receiving it when it
// unsubscribes and hears it again when it subscribes again; the caller
// hears the tone the SDK publishes (its Opus, decoded and mixed into the
// call); a second client hears that Opus as it was published. Between two
// clients: data packets, byte streams and RPC. The phone is phone.mjs,
// whose RTP is captured and measured here.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AccessToken, RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { Room, RoomEvent, RpcError, dispose } from '@livekit/rtc-node';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, waitUntil, sleep, API_KEY, API_SECRET } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { listen, publishTone } from './rtcpeer.mjs';

const NUMBER = '+15550004444';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOM = 'web-room';

async function token(identity, room = ROOM) {
  const at = new AccessToken(API_KEY, API_SECRET, { identity, ttl: '10m' });
  at.addGrant({ roomJoin: true, room, canUpdateOwnMetadata: true });
  return at.toJwt();
}

describe('WebRTC with rtc-node', { timeout: 90000 }, () => {
  let server;
  let rooms;
  let phone;
  let room;

  before(async () => {
    server = await startServer({ emptyTimeout: '30s', departureTimeout: '30s' });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('web-trunk', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: ROOM }, { trunkIds: [trunk.sipTrunkId] });
  });

  after(async () => {
    await room?.disconnect().catch(() => {});
    phone?.close();
    await dispose().catch(() => {});
    if (server && !server.exited) await server.stop();
  });

  test('the SDK joins the call and hears the caller', async () => {
    phone = new Phone(server, { number: NUMBER, toneHz: 440 });
    await phone.call();
    await waitUntil(async () => (await rooms.listParticipants(ROOM)).some((p) => p.kind === 3), {
      what: 'the caller in the room',
    });
    room = new Room();
    const subscribed = new Promise((resolve) =>
      room.on(RoomEvent.TrackSubscribed, (track, _pub, p) => {
        if (p.identity.startsWith('sip_')) resolve(track);
      }),
    );
    const t0 = Date.now();
    await room.connect(`ws://127.0.0.1:${server.httpPort}`, await token('listener'), { autoSubscribe: true, dynacast: false });
    const joinMs = Date.now() - t0;
    assert.ok(joinMs < 5000, `connected in ${joinMs} ms`);
    const track = await Promise.race([subscribed, sleep(8000).then(() => null)]);
    assert.ok(track, 'TrackSubscribed for the caller');
    const pcm = await listen(track, 1500);
    assert.ok(pcm.length > 48000, `heard ${pcm.length} samples`);
    const share = toneShare(pcm, 48000, 440);
    assert.ok(share > 0.5, `440 Hz is ${(share * 100).toFixed(1)} % of what the SDK heard`);
    const connected = server.events('rtc_connected').filter((e) => e.identity === 'listener');
    assert.ok(connected.length >= 1, 'rtc_connected logged');
  });

  test('UpdateSubscription: unsubscribed, the caller is no longer sent; subscribed again, heard again', async () => {
    const caller = [...room.remoteParticipants.values()].find((p) => p.identity.startsWith('sip_'));
    const pub = [...caller.trackPublications.values()][0];
    // Datagrams in on the subscriber connection, as libwebrtc counts them
    // at its transport (the SDK drops a track's own stats as it
    // unsubscribes): the caller's 50 a second, or a few of STUN and SCTP.
    const received = async () => {
      const t = (await room.getRtcStats()).subscriberStats.find((x) => x.stats.case === 'transport');
      return Number(t.stats.value.transport.packetsReceived);
    };
    const rate = async (ms) => {
      const n0 = await received();
      await sleep(ms);
      return ((await received()) - n0) / (ms / 1000);
    };
    const inCall = async (identity, event) =>
      new Promise((resolve) => {
        const h = (track, _pub, p) => {
          if (p.identity !== identity) return;
          room.off(event, h);
          resolve(track);
        };
        room.on(event, h);
      });
    const before = await rate(1000);
    assert.ok(before > 40, `${before} datagrams a second while subscribed`);

    const unsubscribed = inCall(caller.identity, RoomEvent.TrackUnsubscribed);
    pub.setSubscribed(false);
    assert.ok(await Promise.race([unsubscribed, sleep(8000).then(() => null)]), 'TrackUnsubscribed');
    await waitUntil(() => server.events('rtc_subscription').some((e) => e.identity === 'listener' && e.subscribe === 'no'), {
      what: 'the unsubscription at the server',
    });
    // The server stops sending at once and offers the connection again
    // without the track.
    await sleep(300);
    const during = await rate(1500);
    assert.ok(during < 10, `${during} datagrams a second while unsubscribed`);

    const subscribed = inCall(caller.identity, RoomEvent.TrackSubscribed);
    pub.setSubscribed(true);
    const track = await Promise.race([subscribed, sleep(8000).then(() => null)]);
    assert.ok(track, 'TrackSubscribed again');
    const pcm = await listen(track, 1500);
    assert.ok(pcm.length > 48000, `heard ${pcm.length} samples`);
    const share = toneShare(pcm, 48000, 440);
    assert.ok(share > 0.5, `440 Hz is ${(share * 100).toFixed(1)} % of what the SDK heard after subscribing again`);
    const after = await rate(1000);
    assert.ok(after > 40, `${after} datagrams a second once subscribed again`);
  });

  test('the caller hears what the SDK publishes', async () => {
    const before = phone.heardSince(Date.now() - 1000);
    assert.ok(toneShare(before, 8000, 1000) < 0.05, `1 kHz before publishing: ${toneShare(before, 8000, 1000)}`);
    const tone = publishTone(room, 1000);
    await tone.published;
    await waitUntil(async () => (await rooms.getParticipant(ROOM, 'listener')).tracks.length === 1, { what: 'track published' });
    await sleep(1500);
    const t1 = Date.now();
    await sleep(1500);
    const heard = phone.heardSince(t1);
    await tone.stop();
    assert.ok(heard.length > 8000, `the phone heard ${heard.length} samples`);
    const share = toneShare(heard, 8000, 1000);
    assert.ok(share > 0.2, `1 kHz is ${(share * 100).toFixed(1)} % of what the phone heard`);
    assert.ok(server.events('rtc_track_subscribed').some((e) => e.identity === 'listener'), 'the publisher was told its track is heard');
  });

  test("another client hears a client's Opus as it was published, and so does the caller", async () => {
    // listener (room) subscribes to speaker's track; the caller hears it too
    const speaker = new Room();
    const subscribed = new Promise((resolve) => {
      const h = (track, _pub, p) => {
        if (p.identity !== 'speaker') return;
        room.off(RoomEvent.TrackSubscribed, h);
        resolve(track);
      };
      room.on(RoomEvent.TrackSubscribed, h);
    });
    await speaker.connect(`ws://127.0.0.1:${server.httpPort}`, await token('speaker'), { autoSubscribe: true, dynacast: false });
    const tone = publishTone(speaker, 700);
    try {
      await tone.published;
      const track = await Promise.race([subscribed, sleep(10000).then(() => null)]);
      assert.ok(track, "TrackSubscribed for speaker's track at listener");
      await sleep(500);
      const t1 = Date.now();
      const pcm = await listen(track, 1500);
      assert.ok(pcm.length > 48000, `listener heard ${pcm.length} samples of speaker`);
      const share = toneShare(pcm, 48000, 700);
      assert.ok(share > 0.5, `700 Hz is ${(share * 100).toFixed(1)} % of what listener heard from speaker`);
      const heard = phone.heardSince(t1);
      assert.ok(heard.length > 8000, `the phone heard ${heard.length} samples`);
      const atPhone = toneShare(heard, 8000, 700);
      assert.ok(atPhone > 0.2, `700 Hz is ${(atPhone * 100).toFixed(1)} % of what the phone heard`);
    } finally {
      await tone.stop();
      await speaker.disconnect();
    }
    await waitUntil(async () => !(await rooms.listParticipants(ROOM)).some((p) => p.identity === 'speaker'), {
      what: 'speaker gone',
    });
  });

  test('data packets reach the other clients, stamped with their sender, and only those named', async () => {
    const other = new Room();
    const got = [];
    other.on(RoomEvent.DataReceived, (payload, p, kind, topic) =>
      got.push({ text: Buffer.from(payload).toString(), from: p?.identity, topic }),
    );
    await other.connect(`ws://127.0.0.1:${server.httpPort}`, await token('other'), { autoSubscribe: true, dynacast: false });
    try {
      await waitUntil(() => server.events('rtc_data_up').some((e) => e.identity === 'other' && e.pc === 'subscriber'), {
        what: 'the data channels to other',
      });
      const enc = (t) => new TextEncoder().encode(t);
      await room.localParticipant.publishData(enc('to all'), { reliable: true, topic: 'greet' });
      await room.localParticipant.publishData(enc('lossy one'), { reliable: false });
      await room.localParticipant.publishData(enc('not for you'), { reliable: true, destination_identities: ['nobody'] });
      await room.localParticipant.publishData(enc('for other'), { reliable: true, destination_identities: ['other'] });
      await waitUntil(() => got.some((g) => g.text === 'for other'), { timeoutMs: 10000, what: 'the named packet' });
      await sleep(300);
      const texts = got.map((g) => g.text);
      assert.ok(texts.includes('to all'), JSON.stringify(got));
      assert.ok(!texts.includes('not for you'), JSON.stringify(got));
      const first = got.find((g) => g.text === 'to all');
      assert.equal(first.from, 'listener');
      assert.equal(first.topic, 'greet');
      const m = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(m, /voxgate_rtc_data_total\{event="routed"\} [1-9]/);
    } finally {
      await other.disconnect();
    }
  });

  test('a reliable packet sent while its receiver is still joining reaches it once its channels open', async () => {
    const late = new Room();
    const got = [];
    late.on(RoomEvent.DataReceived, (payload, p) => got.push({ text: Buffer.from(payload).toString(), from: p?.identity }));
    const enc = (t) => new TextEncoder().encode(t);
    let upBefore = null;
    const sent = new Promise((resolve, reject) => {
      const h = (p) => {
        if (p.identity !== 'late') return;
        room.off(RoomEvent.ParticipantConnected, h);
        // Whether its channels were open when this went out: the log says.
        upBefore = server.events('rtc_data_up').some((e) => e.identity === 'late' && e.pc === 'subscriber');
        room.localParticipant
          .publishData(enc('while you joined'), { reliable: true, destination_identities: ['late'] })
          .then(resolve, reject);
      };
      room.on(RoomEvent.ParticipantConnected, h);
    });
    await late.connect(`ws://127.0.0.1:${server.httpPort}`, await token('late'), { autoSubscribe: true, dynacast: false });
    try {
      await Promise.race([sent, sleep(8000).then(() => assert.fail('the joiner was never announced'))]);
      await waitUntil(() => got.some((g) => g.text === 'while you joined'), { timeoutMs: 10000, what: 'the packet sent while joining' });
      assert.equal(got.find((g) => g.text === 'while you joined').from, 'listener');
      if (!upBefore) {
        const up = server.events('rtc_data_up').find((e) => e.identity === 'late' && e.pc === 'subscriber');
        assert.ok(Number(up.held) >= 1, `held for the joiner: ${JSON.stringify(up)}`);
      }
    } finally {
      await late.disconnect();
    }
  });

  // Two clients of their own: alice sends, bob receives.
  async function pair() {
    const alice = new Room();
    const bob = new Room();
    await bob.connect(`ws://127.0.0.1:${server.httpPort}`, await token('bob'), { autoSubscribe: true, dynacast: false });
    await alice.connect(`ws://127.0.0.1:${server.httpPort}`, await token('alice'), { autoSubscribe: true, dynacast: false });
    await waitUntil(
      () => ['alice', 'bob'].every((id) => server.events('rtc_data_up').some((e) => e.identity === id && e.pc === 'subscriber')),
      { what: 'the data channels to alice and bob' },
    );
    await waitUntil(() => alice.remoteParticipants.has('bob') && bob.remoteParticipants.has('alice'), { what: 'alice and bob see each other' });
    return {
      alice,
      bob,
      async leave() {
        await Promise.all([alice.disconnect(), bob.disconnect()]);
      },
    };
  }

  test('a byte stream from one client reaches the other whole', async () => {
    const { alice, bob, leave } = await pair();
    try {
      const blob = randomBytes(100 * 1024 + 123); // several chunks, incompressible
      const got = new Promise((resolve, reject) =>
        bob.registerByteStreamHandler('files', (reader, from) =>
          reader.readAll().then((chunks) => resolve({ chunks, from: from.identity, info: reader.info }), reject),
        ),
      );
      const w = await alice.localParticipant.streamBytes({
        name: 'blob.bin',
        topic: 'files',
        mimeType: 'application/octet-stream',
        totalSize: blob.length,
        destinationIdentities: ['bob'],
      });
      for (let o = 0; o < blob.length; o += 30000) await w.write(blob.subarray(o, o + 30000));
      await w.close();
      const r = await Promise.race([got, sleep(10000).then(() => assert.fail('bob received no byte stream'))]);
      const whole = Buffer.concat(r.chunks.map((c) => Buffer.from(c)));
      assert.equal(whole.length, blob.length, 'as many bytes as sent');
      assert.ok(whole.equals(blob), 'the bytes as sent');
      assert.equal(r.from, 'alice');
      assert.equal(r.info.name, 'blob.bin');
      assert.equal(r.info.topic, 'files');
      assert.equal(r.info.totalSize, blob.length);
    } finally {
      await leave();
    }
  });

  test('RPC between clients: the response returns, and so do an error thrown and an unknown method', async () => {
    const { alice, bob, leave } = await pair();
    try {
      const calls = [];
      bob.localParticipant.registerRpcMethod('add', async (d) => {
        calls.push(d);
        const { a, b } = JSON.parse(d.payload);
        return JSON.stringify({ sum: a + b });
      });
      bob.localParticipant.registerRpcMethod('refuse', async () => {
        throw new RpcError(4242, 'not today', 'some detail');
      });
      const res = await alice.localParticipant.performRpc({
        destinationIdentity: 'bob',
        method: 'add',
        payload: JSON.stringify({ a: 2, b: 40 }),
      });
      assert.deepEqual(JSON.parse(res), { sum: 42 });
      assert.equal(calls.length, 1);
      assert.equal(calls[0].callerIdentity, 'alice');

      const refused = await alice.localParticipant
        .performRpc({ destinationIdentity: 'bob', method: 'refuse', payload: '' })
        .then(() => null, (e) => e);
      assert.ok(refused instanceof RpcError, `an RpcError: ${refused}`);
      assert.equal(refused.code, 4242);
      assert.equal(refused.message, 'not today');
      assert.equal(refused.data, 'some detail');

      const unknown = await alice.localParticipant
        .performRpc({ destinationIdentity: 'bob', method: 'no-such-method', payload: '' })
        .then(() => null, (e) => e);
      assert.ok(unknown instanceof RpcError, `an RpcError: ${unknown}`);
      assert.equal(unknown.code, RpcError.ErrorCode.UNSUPPORTED_METHOD);
    } finally {
      await leave();
    }
  });

  test('keys the caller presses reach the client as sip_dtmf', async () => {
    const got = [];
    const h = (code, digit, p) => got.push({ code, digit, from: p?.identity });
    room.on(RoomEvent.DtmfReceived, h);
    try {
      phone.sendDtmf('5');
      await sleep(200);
      phone.sendDtmf('#');
      await waitUntil(() => got.length >= 2, { timeoutMs: 5000, what: `two keys (got ${JSON.stringify(got)})` });
      assert.deepEqual(
        got.map((g) => [g.code, g.digit]),
        [
          [5, '5'],
          [11, '#'],
        ],
      );
      assert.match(got[0].from, /^sip_/);
    } finally {
      room.off(RoomEvent.DtmfReceived, h);
    }
  });

  test('sip_dtmf from a client is played to the caller as RFC 4733 events', async () => {
    await room.localParticipant.publishDtmf(7, '7');
    await room.localParticipant.publishDtmf(11, '#');
    await waitUntil(() => phone.keysHeard().length >= 2, { timeoutMs: 5000, what: `keys at the phone (${phone.keysHeard()})` });
    assert.equal(phone.keysHeard(), '7#');
    assert.ok(phone.dtmfHeard.some((e) => e.end), 'end of event marked');
  });

  test('a client that vanishes without leave is removed, and participant_left follows', { timeout: 40000 }, async () => {
    const child = spawn(process.execPath, [path.join(HERE, 'tools/rtc_join.mjs'), `ws://127.0.0.1:${server.httpPort}`, await token('vanisher')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      await waitUntil(() => out.includes('connected'), { timeoutMs: 10000, what: 'the child connected' });
      assert.ok((await rooms.listParticipants(ROOM)).some((p) => p.identity === 'vanisher'));
      // Frozen: no ping, no leave, no ICE consent.
      process.kill(child.pid, 'SIGSTOP');
      const t0 = Date.now();
      await waitUntil(async () => !(await rooms.listParticipants(ROOM)).some((p) => p.identity === 'vanisher'), {
        timeoutMs: 25000,
        intervalMs: 500,
        what: 'vanisher removed',
      });
      const took = Date.now() - t0;
      assert.ok(took > 10000, `removed after ${took} ms, before the ping timeout`);
      assert.ok(server.events('rtc_timeout').some((e) => e.identity === 'vanisher'), 'rtc_timeout logged');
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('leaving ends the connections and the caller goes on', async () => {
    await room.disconnect();
    room = null;
    await waitUntil(async () => !(await rooms.listParticipants(ROOM)).some((p) => p.identity === 'listener'), {
      what: 'listener gone',
    });
    const t = Date.now();
    await sleep(500);
    assert.ok(phone.heardSince(t).length > 0, 'the call still has audio');
    await phone.hangup();
  });
});
