// A SIPp call and LiveKit's Node SDK (@livekit/rtc-node) in one room, each
// a peer of its own: SIPp plays a pcap written here (a 440 Hz tone as PCMU
// and, every few seconds, a key as RFC 4733 events, payload type 100 as
// its offer says) and keeps nothing it receives, so what voxgate sends to
// the caller is captured on loopback with dumpcap and read with tshark.
// The SDK hears the caller's tone and its keys (sip_dtmf); the caller's
// RTP carries the 1 kHz tone the SDK publishes and the keys it sends, as
// events of the offer's payload type with their end marked.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AccessToken, RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { Room, RoomEvent, dispose } from '@livekit/rtc-node';
import path from 'node:path';
import {
  startServer,
  sipp,
  pickPorts,
  tmpDir,
  writeRtpPcap,
  startCapture,
  capturedRtp,
  waitUntil,
  sleep,
  API_KEY,
  API_SECRET,
} from './helpers.mjs';
import { ulawEncode, ulawDecode, toneShare, concatPcm } from './phone.mjs';
import { listen, publishTone } from './rtcpeer.mjs';

const NUMBER = '+15550005555';
const ROOM = 'sipp-room';
const CALLER_HZ = 440;
const LISTENER_HZ = 1000;
const EVENT_PT = 100; // telephone-event in lk_uac_pcap_wait_bye.xml's offer
const KEYS = '0123456789*#ABCD';
const CALLER_KEYS = '5#'; // pressed in turn
const KEY_EVERY_MS = 2000;

async function token(identity) {
  const at = new AccessToken(API_KEY, API_SECRET, { identity, ttl: '10m' });
  at.addGrant({ roomJoin: true, room: ROOM });
  return at.toJwt();
}

function rtpPacket({ pt, marker = false, seq, ts, ssrc }, payload) {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  payload.copy(b, 12);
  return b;
}

// What the caller says, as one RTP stream of 20 ms packets: the tone, and
// every KEY_EVERY_MS the next of CALLER_KEYS as a telephone event in its
// place, five packets as it lasts (100 ms) and three marking its end.
function callerPcap(file, seconds) {
  const packets = [];
  const ssrc = 0x1e55a1d5;
  const step = (2 * Math.PI * CALLER_HZ) / 8000;
  let seq = 1;
  let ts = 0;
  let phase = 0;
  let pressed = 0;
  for (let i = 0; i < seconds * 50; ) {
    if (i > 0 && i % (KEY_EVERY_MS / 20) === 0) {
      const code = KEYS.indexOf(CALLER_KEYS[pressed++ % CALLER_KEYS.length]);
      for (let k = 0; k < 8; k++) {
        const ev = Buffer.alloc(4);
        ev[0] = code;
        ev[1] = (k >= 5 ? 0x80 : 0) | 10; // end bit, volume
        ev.writeUInt16BE(Math.min(160 * (k + 1), 800), 2);
        packets.push({ atMs: (i + k) * 20, rtp: rtpPacket({ pt: EVENT_PT, marker: k === 0, seq: seq++, ts, ssrc }, ev) });
      }
      i += 8;
      ts += 8 * 160;
      phase += 8 * 160 * step;
      continue;
    }
    const pcmu = Buffer.alloc(160);
    for (let j = 0; j < 160; j++, phase += step) pcmu[j] = ulawEncode(Math.round(8000 * Math.sin(phase)));
    packets.push({ atMs: i * 20, rtp: rtpPacket({ pt: 0, marker: i === 0, seq: seq++, ts, ssrc }, pcmu) });
    i++;
    ts += 160;
  }
  writeRtpPcap(file, packets);
}

// The PCMU packets' audio, decoded, one after the other.
const decoded = (pkts) => concatPcm(pkts.map((p) => Int16Array.from(p.payload, ulawDecode)));

describe('a SIPp call and rtc-node in one room', { timeout: 120000 }, () => {
  let server;
  let rooms;
  let call;
  let mediaPort; // SIPp's RTP port: what voxgate sends it is captured there
  let room;
  const keys = []; // sip_dtmf at the SDK: {code, digit, from}

  before(async () => {
    server = await startServer({ emptyTimeout: '30s', departureTimeout: '30s', agent: 'none' });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('sipp-trunk', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: ROOM }, { trunkIds: [trunk.sipTrunkId] });
    callerPcap(path.join(tmpDir(), 'caller.pcap'), 90);
    mediaPort = await pickPorts(4, { tcp: false });
    call = sipp(server, 'lk_uac_pcap_wait_bye.xml', { label: 'caller', service: NUMBER, mediaPort, timeoutS: 100 });
    await waitUntil(async () => (await rooms.listParticipants(ROOM)).some((p) => p.kind === 3), {
      timeoutMs: 10000,
      what: 'the SIPp caller in the room',
    });
  });

  after(async () => {
    await room?.disconnect().catch(() => {});
    call?.kill();
    await dispose().catch(() => {});
    if (server && !server.exited) await server.stop();
  });

  test("rtc-node joins the call's room and hears the caller's tone", async () => {
    room = new Room();
    room.on(RoomEvent.DtmfReceived, (code, digit, p) => keys.push({ code, digit, from: p?.identity }));
    const subscribed = new Promise((resolve) =>
      room.on(RoomEvent.TrackSubscribed, (track, _pub, p) => {
        if (p.identity.startsWith('sip_')) resolve(track);
      }),
    );
    await room.connect(`ws://127.0.0.1:${server.httpPort}`, await token('listener'), { autoSubscribe: true, dynacast: false });
    const track = await Promise.race([subscribed, sleep(8000).then(() => null)]);
    assert.ok(track, 'TrackSubscribed for the caller');
    const pcm = await listen(track, 1500);
    assert.ok(pcm.length > 48000, `heard ${pcm.length} samples`);
    const share = toneShare(pcm, 48000, CALLER_HZ);
    assert.ok(share > 0.5, `${CALLER_HZ} Hz is ${(share * 100).toFixed(1)} % of what the SDK heard`);
  });

  test('the caller receives the tone rtc-node publishes (PCMU on its captured RTP)', async () => {
    const cap = await startCapture(`udp dst port ${mediaPort}`, 'to-caller-tone');
    let tone;
    let file;
    const t0 = Date.now();
    let t1;
    let t2;
    try {
      await sleep(1000);
      tone = publishTone(room, LISTENER_HZ);
      await tone.published;
      await sleep(1500);
      t1 = Date.now();
      await sleep(1500);
      t2 = Date.now();
    } finally {
      await tone?.stop();
      file = await cap.stop();
    }
    const pkts = await capturedRtp(file, mediaPort);
    const pts = [...new Set(pkts.map((p) => p.pt))];
    assert.deepEqual(pts, [0], `payload types sent to the caller: ${pts}`);
    const before = decoded(pkts.filter((p) => p.at >= t0 && p.at < t0 + 1000));
    const during = pkts.filter((p) => p.at >= t1 && p.at < t2);
    assert.ok(during.length >= 50, `${during.length} packets to the caller in 1.5 s of the tone`);
    const heard = decoded(during);
    const was = toneShare(before, 8000, LISTENER_HZ);
    assert.ok(
      was < 0.05,
      `${LISTENER_HZ} Hz is ${(was * 100).toFixed(1)} % of the ${before.length} samples the caller got before the SDK published`,
    );
    const share = toneShare(heard, 8000, LISTENER_HZ);
    assert.ok(share > 0.5, `${LISTENER_HZ} Hz is ${(share * 100).toFixed(1)} % of what the caller got while the SDK published`);
  });

  test("the caller's keys reach rtc-node as sip_dtmf, each once", async () => {
    // A press followed by the next one of the cycle, whatever was heard first.
    const pair = () => keys.some((k, i) => k.digit === CALLER_KEYS[0] && keys[i + 1]?.digit === CALLER_KEYS[1]);
    await waitUntil(pair, { timeoutMs: 3 * KEY_EVERY_MS + 2000, what: `${CALLER_KEYS} at the SDK` }).catch((e) =>
      assert.fail(`${e.message}; got ${JSON.stringify(keys)}`),
    );
    for (const [i, k] of keys.entries()) {
      assert.ok(CALLER_KEYS.includes(k.digit), `a key the caller pressed: ${JSON.stringify(k)}`);
      assert.equal(k.code, KEYS.indexOf(k.digit), `code of ${k.digit}`);
      assert.match(k.from ?? '', /^sip_/, 'sent by the caller');
      if (i > 0) assert.notEqual(k.digit, keys[i - 1].digit, `each press once: ${keys.map((x) => x.digit).join('')}`);
    }
  });

  test('sip_dtmf from rtc-node reaches the caller as RFC 4733 events (captured)', async () => {
    const cap = await startCapture(`udp dst port ${mediaPort}`, 'to-caller-dtmf');
    let file;
    const t0 = Date.now();
    try {
      await room.localParticipant.publishDtmf(7, '7');
      await sleep(300);
      await room.localParticipant.publishDtmf(11, '#');
      await sleep(1500);
    } finally {
      file = await cap.stop();
    }
    const pkts = (await capturedRtp(file, mediaPort)).filter((p) => p.at >= t0);
    const pts = [...new Set(pkts.map((p) => p.pt))];
    assert.ok(
      pts.every((pt) => pt === 0 || pt === EVENT_PT),
      `payload types sent to the caller: ${pts} (PCMU and the offer's telephone-event only)`,
    );
    // One event per timestamp, in the order they began.
    const events = new Map();
    for (const p of pkts.filter((x) => x.pt === EVENT_PT)) {
      assert.ok(p.payload.length >= 4, `an event payload of ${p.payload.length} bytes`);
      if (!events.has(p.ts)) events.set(p.ts, []);
      events.get(p.ts).push(p.payload);
    }
    const digits = [...events.values()].map((ev) => {
      const codes = new Set(ev.map((e) => e[0]));
      assert.equal(codes.size, 1, `one key per event: ${[...codes]}`);
      assert.ok(
        ev.some((e) => (e[1] & 0x80) !== 0),
        `the end of ${KEYS[ev[0][0]]} is marked`,
      );
      return KEYS[ev[0][0]];
    });
    assert.equal(digits.join(''), '7#', `events to the caller: ${digits.join('')}`);
  });

  test('DeleteRoom hangs up the SIPp caller', async () => {
    await room.disconnect();
    room = null;
    await rooms.deleteRoom(ROOM);
    const res = await call.done;
    assert.equal(res.code, 0, res.why);
    assert.ok(res.received.includes('BYE'), res.why);
  });
});
