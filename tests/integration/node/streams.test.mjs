// Media Streams, the way in without SIP: a WebSocket client that follows
// Twilio's documented sequence (connected, start, media every 20 ms, dtmf,
// stop) talks with the pipeline agent: it hears the greeting, says a
// sentence (espeak-ng's, as a phone carries it) and hears the reply; it
// talks over the reply and receives "clear". The stream is a participant
// of room pstn-<CallSid>. Then Telnyx's dialect with its streaming token,
// and what forged requests and malformed frames get. Last, the LLM brain
// on a stream: transfer_call has no SIP dialog to REFER, the server says
// so, and the model's refusal is heard while the call goes on.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { RoomServiceClient } from 'livekit-server-sdk';
import { startServer, waitUntil, run, sleep, tmpDir, ROOT, API_KEY, API_SECRET } from './helpers.mjs';
import { startOpenAIStandIn } from '../standins/openai.mjs';

const TOKEN = 'twilio-stream-test-token-0123456789';
const PUBLIC = 'https://gw.example.com';
const TELNYX_TOKEN = 'telnyx-stream-token-abc';
const CALLER = '+15559990001';
const CALLED = '+15559990002';

const sign = (url, params = {}) =>
  createHmac('sha1', TOKEN)
    .update(url + Object.keys(params).sort().map((k) => k + params[k]).join(''))
    .digest('base64');

function ulawToLinear(u) {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function rms(buf) {
  let e = 0;
  for (const b of buf) {
    const s = ulawToLinear(b);
    e += s * s;
  }
  return Math.sqrt(e / Math.max(1, buf.length));
}

// The caller's sentence as raw u-law, made once.
let speech;
async function speechUlaw() {
  if (speech) return speech;
  const out = path.join(tmpDir(), 'speech.ul');
  const r = await run('sox', ['-D', path.join(ROOT, 'tests/fixtures/call_me_back.wav'), '-t', 'raw', '-e', 'u-law', '-r', '8000', '-c', '1', out]);
  assert.equal(r.code, 0, `sox: ${r.stderr}`);
  speech = fs.readFileSync(out);
  return speech;
}

// A carrier's end of one stream: it sends a 20 ms frame every 20 ms (line
// silence, or what say() queued) and keeps what comes back.
class Caller {
  constructor(ws, { dialect = 'twilio', streamSid, callSid }) {
    this.ws = ws;
    this.dialect = dialect;
    this.streamSid = streamSid;
    this.callSid = callSid;
    this.queue = [];
    this.got = []; // {at, frame: Buffer} of media
    this.events = []; // every other frame, parsed
    this.seq = 1;
    this.chunk = 0;
    this.t0 = Date.now();
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.event === 'media') this.got.push({ at: Date.now(), frame: Buffer.from(m.media.payload, 'base64') });
      else this.events.push({ at: Date.now(), m });
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  send(o) {
    this.ws.send(JSON.stringify(o));
  }

  startMedia() {
    const silence = Buffer.alloc(160, 0xff);
    this.timer = setInterval(() => {
      const frame = this.queue.length ? this.queue.shift() : silence;
      this.chunk++;
      const media = { track: 'inbound', chunk: String(this.chunk), timestamp: String(this.chunk * 20), payload: frame.toString('base64') };
      if (this.dialect === 'twilio') this.send({ event: 'media', sequenceNumber: String(++this.seq), media, streamSid: this.streamSid });
      else this.send({ event: 'media', sequence_number: String(++this.seq), media, stream_id: this.streamSid });
    }, 20);
  }

  say(ulaw) {
    for (let i = 0; i + 160 <= ulaw.length; i += 160) this.queue.push(ulaw.subarray(i, i + 160));
  }

  stopMedia() {
    clearInterval(this.timer);
  }

  // ms of agent audio with sound received after t
  soundAfter(t) {
    return this.got.filter((g) => g.at >= t && rms(g.frame) > 300).length * 20;
  }
}

// Twilio's connected and start frames for a call, then media.
function twilioStart(c) {
  c.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  c.send({
    event: 'start',
    sequenceNumber: '1',
    start: {
      accountSid: 'AC1',
      streamSid: c.streamSid,
      callSid: c.callSid,
      tracks: ['inbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters: { From: CALLER, To: CALLED },
    },
    streamSid: c.streamSid,
  });
  c.startMedia();
}

function connect(server, p, headers) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}${p}`, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

describe('Twilio Media Streams', { timeout: 120000 }, () => {
  let server;
  let rooms;

  before(async () => {
    server = await startServer({
      agent: 'pipeline',
      args: [
        '--agent_workers', '1',
        '--tts_voice', 'en-us+klatt3',
        '--twilio_auth_token', TOKEN,
        '--public_url', PUBLIC,
        '--twilio_answer', 'stream',
        '--telnyx_stream_token', TELNYX_TOKEN,
      ],
    });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
  });
  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('/voice answers <Connect><Stream> with the numbers as parameters', async () => {
    const params = { CallSid: 'CA11111111111111111111111111111111', From: CALLER, To: CALLED, AccountSid: 'AC1' };
    const r = await fetch(`${server.url}/voice`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': sign(`${PUBLIC}/voice`, params) },
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(r.status, 200);
    assert.equal(
      await r.text(),
      '<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://gw.example.com/twilio/stream">' +
        `<Parameter name="From" value="${CALLER}"/><Parameter name="To" value="${CALLED}"/></Stream></Connect></Response>`,
    );
  });

  test('a stream talks with the agent, and talking over it brings clear', async () => {
    const callSid = 'CA22222222222222222222222222222222';
    const streamSid = 'MZ22222222222222222222222222222222';
    const ws = await connect(server, '/twilio/stream', { 'X-Twilio-Signature': sign(`wss://gw.example.com/twilio/stream`) });
    const c = new Caller(ws, { streamSid, callSid });
    try {
      twilioStart(c);

      const p = await waitUntil(
        async () => (await rooms.listParticipants(`pstn-${callSid}`).catch(() => [])).find((x) => x.identity === `sip_${CALLER}`),
        { what: `sip_${CALLER} in room pstn-${callSid}` },
      );
      assert.equal(p.attributes['sip.twilio.callSid'], callSid);

      // The greeting, then quiet.
      await waitUntil(() => c.soundAfter(0) >= 1000, { timeoutMs: 15000, what: 'a second of greeting' });
      await waitUntil(() => c.got.length && Date.now() - c.got[c.got.length - 1].at > 600, { timeoutMs: 15000, what: 'the greeting to end' });

      // The sentence, and the reply to it.
      const said = Date.now();
      c.say(await speechUlaw());
      await waitUntil(() => c.soundAfter(said + 2000) >= 600, { timeoutMs: 10000, what: 'the reply' });

      // Talk over the reply: the agent stops and the carrier is told to
      // drop what it holds.
      c.say(await speechUlaw());
      const clear = await waitUntil(() => c.events.find((e) => e.m.event === 'clear'), { timeoutMs: 10000, what: 'a clear frame' });
      assert.deepEqual(clear.m, { event: 'clear', streamSid });
      await waitUntil(() => server.events('barge_in').length > 0, { what: 'a barge_in line' });
      // The turn is told once its reply was cut: what the caller heard.
      const turn = await waitUntil(() => server.events('turn')[0], { what: 'the first turn' });
      assert.match(turn.transcript, /tomorrow|call|back/, `transcript "${turn.transcript}"`);
      assert.equal(turn.interrupted, 'true');

      // DTMF becomes a turn of its own, logged by its count of keys: the
      // keys (a card number) and the reply that reads them back are not.
      c.send({ event: 'dtmf', streamSid, sequenceNumber: String(++c.seq), dtmf: { track: 'inbound_track', digit: '7' } });
      const keys = await waitUntil(() => server.events('turn').find((t) => t.dtmf_keys === 1), { timeoutMs: 15000, what: 'the DTMF turn' });
      assert.equal(keys.transcript, '');
      assert.equal(keys.reply, '');
      assert.ok(!server.log().includes('DTMF'), `keys in the log: ${server.log().split('\n').find((l) => l.includes('DTMF'))}`);

      c.send({ event: 'stop', sequenceNumber: String(++c.seq), stop: { accountSid: 'AC1', callSid }, streamSid });
      const closed = await c.closed;
      assert.equal(closed.code, 1000);
      await waitUntil(async () => !(await rooms.listParticipants(`pstn-${callSid}`).catch(() => [])).length, { what: 'the participant gone' });
      const ended = await waitUntil(() => server.events('stream_ended')[0], { what: 'stream_ended' });
      assert.equal(ended.reason, 'stop');
    } finally {
      c.stopMedia();
      ws.terminate();
    }
  });

  test('a forged or unsigned WebSocket request gets 403', async () => {
    await assert.rejects(connect(server, '/twilio/stream', { 'X-Twilio-Signature': sign('wss://elsewhere.example.com/twilio/stream') }), (e) => e.status === 403);
    await assert.rejects(connect(server, '/twilio/stream', {}), (e) => e.status === 403);
  });

  test('a malformed frame closes the stream with a reason', async () => {
    const ws = await connect(server, '/twilio/stream', { 'X-Twilio-Signature': sign(`wss://gw.example.com/twilio/stream`) });
    const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    ws.send('{"event":"media","media":{"payload":"***"}}');
    const r = await closed;
    assert.equal(r.code, 1007);
    assert.ok(r.reason.length > 0, 'a reason');
  });

  test('Telnyx: the streaming token, PCMA, and clear without a stream id', async () => {
    // no token, or a wrong one, in the request: no WebSocket at all
    for (const headers of [{}, { 'x-telnyx-streaming-auth-token': 'wrong' }]) {
      await assert.rejects(connect(server, '/telnyx/stream', headers), (e) => e.status === 403);
    }
    // the request's token, then another one in "connected": one guess, closed with 1008
    const bad = await connect(server, '/telnyx/stream', { 'x-telnyx-streaming-auth-token': TELNYX_TOKEN });
    const badClosed = new Promise((resolve) => bad.once('close', (code) => resolve(code)));
    bad.send(JSON.stringify({ event: 'connected', version: '1.0.0', 'x-telnyx-streaming-auth-token': 'guess-1' }));
    bad.send(JSON.stringify({ event: 'connected', version: '1.0.0', 'x-telnyx-streaming-auth-token': 'guess-2' }));
    assert.equal(await badClosed, 1008);

    const ccid = 'v3:telnyx-stream-call';
    const ws = await connect(server, '/telnyx/stream', { 'x-telnyx-streaming-auth-token': TELNYX_TOKEN });
    const c = new Caller(ws, { dialect: 'telnyx', streamSid: 'S1' });
    try {
      c.send({ event: 'connected', version: '1.0.0' });
      c.send({
        event: 'start',
        sequence_number: '1',
        stream_id: 'S1',
        start: { call_control_id: ccid, from: CALLER, to: CALLED, media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } },
      });
      c.startMedia();
      const p = await waitUntil(
        async () => (await rooms.listParticipants(`pstn-${ccid}`).catch(() => [])).find((x) => x.identity === `sip_${CALLER}`),
        { what: `the Telnyx caller in pstn-${ccid}` },
      );
      assert.equal(p.attributes['sip.telnyx.callControlID'], ccid);
      await waitUntil(() => c.soundAfter(0) >= 600, { timeoutMs: 15000, what: 'the greeting' });
      const media = c.got[0];
      assert.equal(media.frame.length, 160);
      c.say(await speechUlaw());
      const clear = await waitUntil(() => c.events.find((e) => e.m.event === 'clear'), { timeoutMs: 10000, what: 'a clear frame' });
      assert.deepEqual(clear.m, { event: 'clear' });
      c.send({ event: 'stop', sequence_number: '9', stop: { call_control_id: ccid }, stream_id: 'S1' });
      assert.equal((await c.closed).code, 1000);
    } finally {
      c.stopMedia();
      ws.terminate();
    }
  });
});

describe('transfer_call on a Media Streams call', { timeout: 120000 }, () => {
  const TRANSFER_TO = 'sip:desk@example.com';
  const REFUSAL = 'I am sorry, I cannot put you through right now.';
  const UNAVAILABLE = 'transfers are not available on this call';
  let server;
  let oa;

  before(async () => {
    // STT, LLM and TTS on one OpenAI stand-in: the first reply calls
    // transfer_call, the second is the model's word after its answer
    oa = await startOpenAIStandIn({
      transcript: 'Put me through to a person, please.',
      replies: [{ tools: [{ name: 'transfer_call', arguments: { reason: 'the caller asked for a person' } }] }, { text: REFUSAL }],
    });
    server = await startServer({
      agent: 'pipeline',
      args: [
        '--agent_workers', '1',
        '--twilio_auth_token', TOKEN,
        '--public_url', PUBLIC,
        '--twilio_answer', 'stream',
        '--brain', 'llm',
        '--llm_base_url', oa.baseURL,
        '--llm_api_key', 'sk-stream-tools',
        '--stt_provider', 'openai',
        '--stt_url', oa.baseURL,
        '--stt_api_key', 'sk-stream-tools',
        '--tts_provider', 'openai',
        '--tts_url', oa.baseURL,
        '--tts_api_key', 'sk-stream-tools',
        '--transfer_to', TRANSFER_TO,
        '--vad_stop_secs', '0.6',
      ],
    });
    await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
  });
  after(async () => {
    try {
      await oa?.close();
    } finally {
      if (server && !server.exited) await server.stop();
    }
  });

  test('no SIP dialog to REFER: the server refuses, the model is told, its refusal is heard, and the call goes on', async () => {
    const ws = await connect(server, '/twilio/stream', { 'X-Twilio-Signature': sign(`wss://gw.example.com/twilio/stream`) });
    const c = new Caller(ws, { streamSid: 'MZ33333333333333333333333333333333', callSid: 'CA33333333333333333333333333333333' });
    try {
      twilioStart(c);
      await waitUntil(() => c.soundAfter(0) >= 600, { timeoutMs: 15000, what: 'the greeting' });
      await waitUntil(() => Date.now() - c.got.filter((g) => rms(g.frame) > 300).at(-1).at > 600, { timeoutMs: 15000, what: 'the greeting to end' });

      const said = Date.now();
      c.say(await speechUlaw());
      const asked = await waitUntil(() => server.events('agent_transfer')[0], { timeoutMs: 15000, what: 'the worker asking for the transfer' });
      assert.equal(asked.to, TRANSFER_TO);
      assert.equal(asked.why, 'the caller asked for a person');
      assert.equal(asked.ok, 'false');
      assert.equal(asked.reason, UNAVAILABLE);
      // the model gets its call's answer as OpenAI expects, then speaks
      const chats = await waitUntil(() => (oa.to('/v1/chat/completions').length >= 2 ? oa.to('/v1/chat/completions') : null), { timeoutMs: 10000, what: 'the second completion' });
      const m = chats[1].messages;
      assert.equal(m.at(-2).role, 'assistant');
      assert.equal(m.at(-2).tool_calls[0].function.name, 'transfer_call');
      assert.equal(m.at(-1).role, 'tool');
      assert.equal(m.at(-1).tool_call_id, m.at(-2).tool_calls[0].id);
      assert.deepEqual(JSON.parse(m.at(-1).content), { ok: false, error: UNAVAILABLE });
      const turn = await waitUntil(() => server.events('turn')[0], { timeoutMs: 15000, what: 'the turn' });
      assert.equal(turn.reply, REFUSAL);
      assert.equal(turn.interrupted, 'false');
      assert.ok(oa.to('/v1/audio/speech').some((r) => r.input === REFUSAL), 'the refusal was said');
      await waitUntil(() => c.soundAfter(said + 1000) >= 600, { timeoutMs: 10000, what: 'the refusal heard' });
      // the call goes on: no transfer, no hang-up, the stream still open
      await sleep(500);
      assert.equal(server.events('transfer_done').length, 0);
      assert.equal(server.events('agent_hangup').length, 0);
      assert.equal(server.events('stream_ended').length, 0);
      assert.equal(ws.readyState, WebSocket.OPEN);
      c.send({ event: 'stop', sequenceNumber: String(++c.seq), stop: { accountSid: 'AC1', callSid: c.callSid }, streamSid: c.streamSid });
      assert.equal((await c.closed).code, 1000);
    } finally {
      c.stopMedia();
      ws.terminate();
    }
  });
});
