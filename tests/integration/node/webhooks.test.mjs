// Webhooks during one call and its end, received by a node:http server and
// checked with livekit-server-sdk's WebhookReceiver as a backend's webhook
// controller checks them.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RoomServiceClient, SipClient, WebhookReceiver } from 'livekit-server-sdk';
import {
  startServer,
  startWebhookReceiver,
  sipp,
  waitUntil,
  pickPort,
  API_KEY,
  API_SECRET,
  GUID12,
} from './helpers.mjs';

const NUMBER = '+15550001111';
const CALLER = '+15556667777';
const IDENTITY = `sip_${CALLER}`;
const EXPECTED = [
  'room_started',
  'participant_joined',
  'track_published',
  'track_unpublished',
  'participant_left',
  'room_finished',
];

describe('webhooks', { timeout: 60000 }, () => {
  let server;
  let hook;
  let roomName;
  let events = []; // the receiver's requests for the call's room: {body, auth, json, ...}
  let all = [];
  let callError;
  const startedAt = Math.floor(Date.now() / 1000);

  before(async () => {
    hook = await startWebhookReceiver();
    server = await startServer({ webhookUrls: [hook.url], emptyTimeout: '1s' });
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('hooks', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'hook' }, { trunkIds: [trunk.sipTrunkId] });

    // one call: 3 s of audio, then the caller hangs up
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'hookcall', service: NUMBER, caller: CALLER, durationMs: 3000, timeoutS: 15 });
    try {
      const room = await Promise.race([
        waitUntil(async () => (await rooms.listRooms()).find((r) => r.name.startsWith('hook_')), {
          timeoutMs: 8000,
          what: 'the call\'s room in ListRooms',
        }),
        call.done.then((r) => {
          throw new Error(`sipp ended before the room showed up: ${r.why}`);
        }),
      ]);
      roomName = room.name;
      const res = await call.done;
      if (res.code !== 0) callError = `the call failed: ${res.why}`;
    } catch (e) {
      callError = e.message;
      call.kill();
    }
    if (roomName) {
      // room_finished comes once the room has been empty for empty_timeout
      try {
        await hook.waitFor(
          (rs) => rs.some((r) => {
            try {
              const j = JSON.parse(r.body);
              return j.event === 'room_finished' && j.room?.name === roomName;
            } catch {
              return false;
            }
          }),
          12000,
        );
      } catch (e) {
        callError = callError ?? e.message;
      }
    }
    all = hook.events();
    events = all.filter((e) => e.json?.room?.name === roomName);
  });

  after(async () => {
    if (server && !server.exited) server.kill();
    await hook?.close();
  });

  const summary = () => all.map((e) => `${e.json?.event ?? '?'}(${e.json?.room?.name ?? '-'})`).join(', ');

  test('the call happened', () => {
    assert.equal(callError, undefined, callError);
    assert.match(roomName ?? '', new RegExp(`^hook_\\${CALLER}_${GUID12}$`), 'room name');
  });

  test('events for the room arrive in order: room_started .. room_finished', () => {
    assert.deepEqual(events.map((e) => e.json?.event), EXPECTED, `received: ${summary()}`);
  });

  test('every webhook is accepted by WebhookReceiver.receive', async () => {
    assert.ok(all.length > 0, 'no webhook received');
    const receiver = new WebhookReceiver(API_KEY, API_SECRET);
    for (const e of all) {
      let ev;
      try {
        ev = await receiver.receive(e.body, e.auth);
      } catch (err) {
        assert.fail(`${e.json?.event ?? 'webhook'} rejected: ${err.code ?? ''} ${err.message}; Authorization=${JSON.stringify(e.auth)}; body=${e.body.slice(0, 300)}`);
      }
      assert.equal(ev.event, e.json.event);
    }
  });

  test('a body altered by one byte is rejected', async () => {
    assert.ok(all.length > 0, 'no webhook received');
    const receiver = new WebhookReceiver(API_KEY, API_SECRET);
    for (const e of all) {
      const i = e.body.indexOf(e.json.event); // change a letter of the event name
      const altered = e.body.slice(0, i) + (e.body[i] === 'x' ? 'y' : 'x') + e.body.slice(i + 1);
      assert.equal(altered.length, e.body.length);
      await assert.rejects(receiver.receive(altered, e.auth), /sha256/, `${e.json.event}: altered body accepted`);
    }
  });

  test('a receiver with another secret rejects them', async () => {
    assert.ok(all.length > 0, 'no webhook received');
    const receiver = new WebhookReceiver(API_KEY, 'another-secret-another-secret-0123456789');
    await assert.rejects(receiver.receive(all[0].body, all[0].auth));
  });

  test('each event has id EV_<12> and createdAt (unix seconds as a string)', () => {
    assert.ok(all.length > 0, 'no webhook received');
    const seen = new Set();
    const now = Math.floor(Date.now() / 1000);
    for (const e of all) {
      const j = e.json;
      assert.match(j.id ?? '', /^EV_[0-9A-Za-z]{12}$/, `id of ${j.event}: ${e.body.slice(0, 200)}`);
      assert.ok(!seen.has(j.id), `id ${j.id} used twice`);
      seen.add(j.id);
      assert.equal(typeof j.createdAt, 'string', `createdAt of ${j.event} is a string (int64 in protojson): ${JSON.stringify(j.createdAt)}`);
      assert.match(j.createdAt, /^\d+$/);
      const t = Number(j.createdAt);
      assert.ok(t >= startedAt - 5 && t <= now + 5, `createdAt ${t} is unix seconds between ${startedAt} and ${now}`);
    }
  });

  test('requests are signed as LiveKit signs them (raw JWT, webhook+json)', () => {
    assert.ok(all.length > 0, 'no webhook received');
    for (const e of all) {
      assert.equal(e.method, 'POST');
      assert.equal(e.contentType, 'application/webhook+json', `Content-Type of ${e.json?.event}`);
      assert.ok(e.auth && !e.auth.startsWith('Bearer '), `Authorization is a bare JWT: ${e.auth}`);
      const claims = JSON.parse(Buffer.from(e.auth.split('.')[1], 'base64url').toString());
      assert.equal(claims.iss, API_KEY, 'iss');
      assert.ok(claims.sha256, 'sha256 claim');
      assert.ok(claims.exp > Date.now() / 1000, 'exp in the future');
    }
  });

  test('payloads: room, SIP participant and audio track', () => {
    const by = Object.fromEntries(events.map((e) => [e.json.event, e.json]));
    for (const name of EXPECTED) assert.ok(by[name], `${name} missing; received: ${summary()}`);
    const sid = by.room_started.room?.sid;
    assert.match(sid ?? '', /^RM_[0-9A-Za-z]{12}$/, 'room sid');
    assert.equal(by.room_finished.room?.sid, sid, 'same room sid at the end');
    const p = by.participant_joined.participant;
    assert.equal(p?.identity, IDENTITY, 'participant identity');
    assert.equal(p?.kind, 'SIP', 'participant kind');
    assert.match(p?.sid ?? '', /^PA_[0-9A-Za-z]{12}$/, 'participant sid');
    assert.equal(p?.attributes?.['sip.phoneNumber'], CALLER);
    assert.match(p?.attributes?.['sip.callID'] ?? '', /^SCL_/);
    assert.equal(by.participant_left.participant?.identity, IDENTITY);
    for (const name of ['track_published', 'track_unpublished']) {
      const ev = by[name];
      assert.match(ev.track?.sid ?? '', /^TR_[0-9A-Za-z]{12}$/, `${name} track sid`);
      assert.equal(ev.participant?.identity, IDENTITY, `${name} participant`);
    }
    assert.equal(by.track_published.track.type, 'AUDIO', 'track type');
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});

// Delivery runs per receiver: one that is down, one that is slow and one
// that refuses once must not delay the call or the other receivers.
describe('webhooks with receivers down, slow and refusing', { timeout: 60000 }, () => {
  let server;
  let good;
  let slow;
  let flaky;
  let roomName;
  let setupMs;
  let callError;
  const caller = '+15556668888';

  const forRoom = (list) =>
    list
      .map((r) => {
        try {
          return { ...r, json: JSON.parse(r.body) };
        } catch {
          return { ...r, json: null };
        }
      })
      .filter((e) => e.json?.room?.name === roomName);
  const finished = (list) => forRoom(list).some((e) => e.json.event === 'room_finished');

  before(async () => {
    good = await startWebhookReceiver();
    slow = await startWebhookReceiver({ respond: (n) => (n === 0 ? { delayMs: 2500 } : {}) });
    flaky = await startWebhookReceiver({ respond: (n) => (n === 0 ? { status: 503 } : {}) });
    const deadPort = await pickPort(); // nothing listens there
    server = await startServer({
      webhookUrls: [`http://127.0.0.1:${deadPort}/hook`, slow.url, flaky.url, good.url],
      emptyTimeout: '1s',
    });
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('hooks', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'hook' }, { trunkIds: [trunk.sipTrunkId] });
    const t0 = Date.now();
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'hookcall2', service: NUMBER, caller, durationMs: 2000, timeoutS: 15 });
    try {
      const room = await Promise.race([
        waitUntil(async () => {
          const ps = (await rooms.listRooms()).find((r) => r.name.startsWith('hook_'));
          if (!ps) return null;
          const parts = await rooms.listParticipants(ps.name);
          return parts.some((p) => p.attributes['sip.callStatus'] === 'active') ? ps : null;
        }, { timeoutMs: 8000, intervalMs: 50, what: 'the call active in its room' }),
        call.done.then((r) => {
          throw new Error(`sipp ended before the call was up: ${r.why}`);
        }),
      ]);
      setupMs = Date.now() - t0;
      roomName = room.name;
      const res = await call.done;
      if (res.code !== 0) callError = `the call failed: ${res.why}`;
      await good.waitFor(finished, 12000);
      await flaky.waitFor(finished, 12000);
      await slow.waitFor(finished, 12000);
    } catch (e) {
      callError = callError ?? e.message;
      call.kill();
    }
  });

  after(async () => {
    if (server && !server.exited) server.kill();
    await Promise.all([good?.close(), slow?.close(), flaky?.close()]);
  });

  const names = (rcv) => forRoom(rcv.received).map((e) => e.json.event);

  test('the call is up promptly and every receiver that answers gets room_finished', () => {
    assert.equal(callError, undefined, `${callError}; good: ${names(good)}; slow: ${names(slow)}; flaky: ${names(flaky)}`);
    assert.ok(setupMs < 3000, `INVITE to active participant took ${setupMs} ms`);
  });

  test('the healthy receiver gets the six events in order', () => {
    assert.deepEqual(names(good), EXPECTED);
  });

  test('the slow receiver holds up nobody else and still gets every event in order', () => {
    assert.deepEqual(names(slow), EXPECTED);
    const goodJoined = forRoom(good.received).find((e) => e.json.event === 'participant_joined');
    const slowStarted = forRoom(slow.received).find((e) => e.json.event === 'room_started');
    assert.ok(goodJoined && slowStarted, 'events present');
    assert.ok(goodJoined.at < slowStarted.at,
      `the healthy receiver got participant_joined (${goodJoined.at}) before the slow one finished taking room_started (${slowStarted.at})`);
  });

  test('the receiver that answered 503 gets the event again, then the rest in order', () => {
    assert.equal(flaky.refused.length, 1, 'one refused request');
    assert.deepEqual(names(flaky), EXPECTED);
    const refusedId = JSON.parse(flaky.refused[0].body).id;
    const first = forRoom(flaky.received)[0];
    assert.equal(first?.json.id, refusedId, 'the refused event was sent again (same id)');
    assert.ok(first.at - flaky.refused[0].at >= 500, `retried after a backoff (${first.at - flaky.refused[0].at} ms)`);
  });

  test('the server exits 0 on SIGTERM with a receiver still down', async () => {
    await server.stop();
  });
});
