// The provider stand-ins (tests/integration/standins/) driven by the
// providers' own clients where npm has one: LiveKit's Deepgram and
// ElevenLabs plugins, the openai SDK (REST and Realtime), @cartesia/
// cartesia-js. What those clients accept from a stand-in is what they
// accept from the service, so a stand-in that passes here speaks the
// service's format; the same stand-ins then answer voxgate's own clients
// in the end-to-end tests. Where the official clients do not go (mu-law
// into Deepgram, ElevenLabs' single-context stream-input, the Realtime
// beta format, the raw error bodies) a plain `ws` client checks the
// documented messages.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { initializeLogger, APIStatusError } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import { DeepgramClient } from '@deepgram/sdk';
import * as elevenlabs from '@livekit/agents-plugin-elevenlabs';
import * as openaiPlugin from '@livekit/agents-plugin-openai';
import { AudioFrame } from '@livekit/rtc-node';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { WebSocket, encodeSamples, pieces, selfSigned, sleep, toneSamples, ulawDecode } from '../standins/common.mjs';
import { startDeepgramStandIn } from '../standins/deepgram.mjs';
import { startRealtimeStandIn } from '../standins/realtime.mjs';
import { startElevenLabsStandIn } from '../standins/elevenlabs.mjs';
import { startCartesiaStandIn } from '../standins/cartesia.mjs';
import { startOpenAIStandIn, SPEECH_RATE, TONE_MS } from '../standins/openai.mjs';

// cartesia-js's ESM build looks for `ws` with require(), which ESM lacks
// (internal/lib/tts/ws.mjs); its CommonJS build finds it
const require = createRequire(import.meta.url);
const { Cartesia } = require('@cartesia/cartesia-js');
const { TTSWS } = require('@cartesia/cartesia-js/resources/tts/ws');

initializeLogger({ pretty: false, level: 'fatal' });

// A WebSocket client that keeps what it receives: next(pred) waits for a
// message matching pred (JSON parsed), closed resolves to {code, reason}.
function client(url, options = {}) {
  const ws = new WebSocket(url, options);
  const msgs = [];
  const waiters = [];
  ws.on('message', (d, bin) => {
    const m = bin ? d : JSON.parse(d.toString());
    m.__at = Date.now();
    msgs.push(m);
    for (const w of [...waiters]) if (w.pred(m)) w.resolve(m);
  });
  const opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body })));
    });
    ws.on('error', reject);
  });
  opened.catch(() => {});
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));
  return {
    ws,
    msgs,
    opened,
    closed,
    send: (o) => ws.send(typeof o === 'string' || Buffer.isBuffer(o) ? o : JSON.stringify(o)),
    next(pred, ms = 3000, what = 'a message') {
      const found = msgs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (m) => (clearTimeout(t), waiters.splice(waiters.indexOf(w), 1), resolve(m)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no ${what} in ${ms} ms; got ${JSON.stringify(msgs.map((x) => x.type ?? (Buffer.isBuffer(x) ? 'binary' : Object.keys(x))))}`));
        }, ms);
        waiters.push(w);
      });
    },
  };
}

// mu-law 8 kHz: lead ms of silence, a tone of speech ms, tail ms of silence
const ulawUtterance = (lead, speech, tail) =>
  Buffer.concat([Buffer.alloc(lead * 8, 0xff), encodeSamples(toneSamples(300, speech, 8000), 'mulaw'), Buffer.alloc(tail * 8, 0xff)]);

// sends buf in 20 ms pieces in real time; resolves to the time the last
// piece went
async function realtime(send, buf, bytesPer20ms = 160) {
  let at = 0;
  for (const p of pieces(buf, bytesPer20ms)) {
    send(p);
    at = Date.now();
    await sleep(20);
  }
  return at;
}

describe('deepgram', () => {
  let dg;
  before(async () => {
    dg = await startDeepgramStandIn({ transcripts: [] });
  });
  after(() => dg?.stop());

  // the LiveKit plugin: 16 kHz linear16 frames, 100 ms each
  async function pluginRun(key, { frames = 25, maxRetry = 0 } = {}) {
    const stt = new deepgram.STT({ apiKey: key, baseUrl: dg.url, sampleRate: 16000, endpointing: 100 });
    const errors = [];
    stt.on('error', (e) => errors.push(e.error));
    const s = stt.stream({ connOptions: { maxRetry, retryIntervalMs: 50, timeoutMs: 2000 } });
    const rate = 16000;
    const audio = new Int16Array((rate * frames) / 10);
    const tone = toneSamples(300, 1000, rate);
    audio.set(tone.subarray(0, Math.max(0, Math.min(tone.length, audio.length - rate * 0.3))), Math.min(audio.length, rate * 0.3));
    const feed = (async () => {
      for (let off = 0; off < audio.length; off += 1600) {
        s.pushFrame(new AudioFrame(audio.slice(off, off + 1600), rate, 1, 1600));
        await sleep(20);
      }
      s.endInput();
    })();
    const events = [];
    try {
      for await (const ev of s) events.push(ev);
    } catch (e) {
      errors.push(e);
    }
    await feed;
    return { events, errors };
  }

  test('the LiveKit Deepgram plugin gets the scripted transcript, with speech start and end', async () => {
    dg.script.push('Hello there, how are you?');
    const before = dg.log.length;
    const { events, errors } = await pluginRun(dg.key);
    assert.deepEqual(errors, []);
    const types = events.map((e) => e.type).filter((t) => t !== deepgram.STT && t !== 4); // 4: usage
    const S = { start: 0, interim: 1, final: 2, end: 3 };
    assert.equal(types[0], S.start, `events ${types}`);
    const final = events.find((e) => e.type === S.final);
    assert.equal(final?.alternatives[0].text, 'Hello there, how are you?');
    assert.ok(events.some((e) => e.type === S.interim), 'interim results');
    assert.ok(types.indexOf(S.end) > types.indexOf(S.final), 'end of speech after the final');
    const conn = dg.log.slice(before).find((e) => e.kind === 'connect');
    assert.equal(conn.authOk, true);
    assert.equal(conn.headers.authorization, '<redacted>');
    assert.equal(conn.query.encoding, 'linear16');
    assert.equal(conn.query.sample_rate, '16000');
    assert.ok(dg.log.slice(before).some((e) => e.kind === 'in' && e.type === 'CloseStream'), 'CloseStream recorded');
  });

  test("Deepgram's own SDK (@deepgram/sdk listen.v1) with mu-law 8 kHz and the issue's parameters: results, UtteranceEnd, Metadata; a wrong key fails the open", async () => {
    dg.script.push('Hello from the SDK.');
    const sdkClient = (key) => new DeepgramClient({ apiKey: key, environment: { base: dg.httpURL, production: dg.url, agent: dg.url, agentRest: dg.httpURL } });
    const params = { model: 'nova-3', language: 'en', encoding: 'mulaw', sample_rate: 8000, channels: 1, interim_results: 'true', endpointing: 150, utterance_end_ms: 1000, vad_events: 'true', punctuate: 'true', smart_format: 'true' };
    const conn = await sdkClient(dg.key).listen.v1.connect(params);
    const got = [];
    conn.on('message', (d) => got.push(d));
    conn.connect();
    await conn.waitForOpen();
    await realtime((p) => conn.sendMedia(p), ulawUtterance(200, 600, 1400));
    conn.sendCloseStream({ type: 'CloseStream' });
    const t0 = Date.now();
    while (!got.some((m) => m.type === 'Metadata') && Date.now() - t0 < 3000) await sleep(20);
    const types = got.map((m) => m.type);
    assert.deepEqual([...new Set(types)], ['SpeechStarted', 'Results', 'UtteranceEnd', 'Metadata'], `types ${types}`);
    const final = got.find((m) => m.type === 'Results' && m.is_final);
    assert.equal(final.channel.alternatives[0].transcript, 'Hello from the SDK.');
    assert.equal(final.speech_final, true);
    const q = dg.of('connect').at(-1).query;
    assert.deepEqual([q.encoding, q.sample_rate, q.endpointing, q.utterance_end_ms, q.vad_events], ['mulaw', '8000', '150', '1000', 'true']);
    const bad = await sdkClient('wrong').listen.v1.connect(params);
    bad.on('error', () => {});
    bad.connect();
    await assert.rejects(bad.waitForOpen(), (e) => /401/.test(e.message));
  });

  test('mu-law in real time: SpeechStarted, interims, the final endpointing ms after the speech, UtteranceEnd, Finalize, CloseStream', async () => {
    dg.script.push('What are your opening hours?', 'Thank you.');
    dg.timing.finalMs = 50;
    try {
      const c = client(`${dg.url}/v1/listen?model=nova-3&language=en&encoding=mulaw&sample_rate=8000&channels=1&interim_results=true&endpointing=200&utterance_end_ms=1000&vad_events=true&punctuate=true&smart_format=true`, { headers: { Authorization: `Token ${dg.key}` } });
      await c.opened;
      const spoke = await realtime((p) => c.send(p), ulawUtterance(300, 1000, 0));
      const endSent = spoke + 20;
      await realtime((p) => c.send(p), Buffer.alloc(1600 * 8, 0xff)); // 1.6 s of silence
      const started = await c.next((m) => m.type === 'SpeechStarted');
      assert.ok(Math.abs(started.timestamp - 0.3) < 0.05, `SpeechStarted at ${started.timestamp}`);
      const interim = await c.next((m) => m.type === 'Results' && !m.is_final);
      assert.ok(interim.channel.alternatives[0].transcript.length > 0);
      const final = await c.next((m) => m.type === 'Results' && m.is_final);
      assert.equal(final.speech_final, true);
      assert.equal(final.channel.alternatives[0].transcript, 'What are your opening hours?');
      assert.equal(final.channel.alternatives[0].words.length, 5);
      assert.ok(Math.abs(final.start - 0.3) < 0.05 && Math.abs(final.duration - 1.0) < 0.05, `start ${final.start} duration ${final.duration}`);
      const late = final.__at - endSent;
      assert.ok(late >= 200 && late < 500, `final ${late} ms after the speech (endpointing 200 + 50)`);
      const ue = await c.next((m) => m.type === 'UtteranceEnd', 3000);
      assert.ok(Math.abs(ue.last_word_end - 1.3) < 0.05, `last_word_end ${ue.last_word_end}`);
      // a second utterance cut short by Finalize
      await realtime((p) => c.send(p), encodeSamples(toneSamples(300, 400, 8000), 'mulaw'));
      c.send({ type: 'Finalize' });
      const fin = await c.next((m) => m.type === 'Results' && m.from_finalize);
      assert.equal(fin.is_final, true);
      assert.equal(fin.channel.alternatives[0].transcript, 'Thank you.');
      c.send({ type: 'KeepAlive' });
      c.send({ type: 'CloseStream' });
      const meta = await c.next((m) => m.type === 'Metadata');
      assert.ok(meta.request_id && meta.duration > 3, `duration ${meta.duration}`);
      assert.equal((await c.closed).code, 1000);
      assert.ok(dg.log.some((e) => e.kind === 'in' && e.type === 'KeepAlive'));
    } finally {
      dg.timing.finalMs = 0;
    }
  });

  test('a wrong key: 401 with INVALID_AUTH before the upgrade; the plugin reports APIStatusError 401', async () => {
    const c = client(`${dg.url}/v1/listen?encoding=mulaw&sample_rate=8000`, { headers: { Authorization: 'Token not-the-key' } });
    const e = await c.opened.then(() => null, (x) => x);
    assert.equal(e?.status, 401);
    assert.equal(JSON.parse(e.body).err_code, 'INVALID_AUTH');
    assert.equal(e.headers['dg-error'], 'Invalid credentials.');
    assert.equal(dg.of('connect').at(-1).authOk, false);
    const { errors } = await pluginRun('not-the-key', { frames: 3 });
    assert.ok(errors.some((x) => x instanceof APIStatusError && x.statusCode === 401), `errors: ${errors.map((x) => x?.message)}`);
  });

  test("the browsers' way: the key in Sec-WebSocket-Protocol \"token, KEY\", redacted in the log", async () => {
    const ok = new WebSocket(`${dg.url}/v1/listen?encoding=mulaw&sample_rate=8000`, ['token', dg.key]);
    await new Promise((resolve, reject) => {
      ok.on('open', resolve);
      ok.on('error', reject);
    });
    assert.equal(ok.protocol, 'token');
    const conn = dg.of('connect').at(-1);
    assert.equal(conn.authOk, true);
    assert.equal(conn.headers['sec-websocket-protocol'], '<redacted>');
    assert.ok(!JSON.stringify(dg.log).includes(dg.key), 'the key is not in the log');
    ok.close();
  });

  test('fault status 503 and 429: the plugin reports the status; the body is Deepgram error JSON', async () => {
    dg.fault = { kind: 'status', status: 503 };
    try {
      const { errors } = await pluginRun(dg.key, { frames: 3 });
      assert.ok(errors.some((x) => x instanceof APIStatusError && x.statusCode === 503), `errors: ${errors.map((x) => x?.message)}`);
      dg.fault = { kind: 'status', status: 429 };
      const c = client(`${dg.url}/v1/listen?encoding=mulaw&sample_rate=8000`, { headers: { Authorization: `Token ${dg.key}` } });
      const e = await c.opened.then(() => null, (x) => x);
      assert.equal(e?.status, 429);
      assert.equal(JSON.parse(e.body).err_code, 'TOO_MANY_REQUESTS');
    } finally {
      dg.fault = null;
    }
  });

  test('fault stall: upgraded, audio taken, nothing answered', async () => {
    dg.fault = { kind: 'stall', count: 1 };
    dg.script.push('never said');
    const c = client(`${dg.url}/v1/listen?encoding=mulaw&sample_rate=8000&vad_events=true&endpointing=100`, { headers: { Authorization: `Token ${dg.key}` } });
    await c.opened;
    await realtime((p) => c.send(p), ulawUtterance(100, 500, 400), 800);
    await sleep(300);
    assert.equal(c.msgs.length, 0);
    c.ws.close();
    dg.script.length = 0;
  });

  // (the plugin is left out here: after an unexpected close it waits for
  // a message that never comes instead of reconnecting, a plugin matter)
  test('fault drop mid-utterance: the socket dies without a close frame; the next connection works', async () => {
    dg.fault = { kind: 'drop', after: 1, count: 1 }; // right after SpeechStarted
    dg.script.push('lost', 'Hello again.');
    const c = client(`${dg.url}/v1/listen?encoding=mulaw&sample_rate=8000&vad_events=true`, { headers: { Authorization: `Token ${dg.key}` } });
    await c.opened;
    realtime((p) => c.ws.readyState === 1 && c.send(p), ulawUtterance(100, 600, 200), 800);
    const closed = await c.closed;
    assert.equal(closed.code, 1006, 'no close frame');
    assert.equal(c.msgs.length, 1);
    assert.equal(c.msgs[0].type, 'SpeechStarted');
    assert.equal(dg.of('dropped').length, 1);
    const again = client(`${dg.url}/v1/listen?encoding=mulaw&sample_rate=8000&endpointing=100`, { headers: { Authorization: `Token ${dg.key}` } });
    await again.opened;
    await realtime((p) => again.send(p), ulawUtterance(100, 600, 300), 800);
    assert.equal((await again.next((m) => m.type === 'Results' && m.is_final)).channel.alternatives[0].transcript, 'Hello again.');
    again.ws.close();
  });

  test('timing finalAfterSpeechMs: the final is ready that long after the last voiced audio arrived, sent at once when asked later, when ready when asked sooner', async () => {
    const live = await startDeepgramStandIn({ transcripts: ['First part.', 'Second part.'], timing: { finalAfterSpeechMs: 300 } });
    try {
      const c = client(`${live.url}/v1/listen?encoding=mulaw&sample_rate=8000&endpointing=false`, { headers: { Authorization: `Token ${live.key}` } });
      await c.opened;
      // asked 100 ms after the speech: the final comes 300 ms after it
      let voicedAt = await realtime((p) => c.send(p), ulawUtterance(100, 600, 0));
      await sleep(100);
      c.send(JSON.stringify({ type: 'Finalize' }));
      let fin = await c.next((m) => m.type === 'Results' && m.is_final && m.from_finalize);
      assert.equal(fin.channel.alternatives[0].transcript, 'First part.');
      assert.ok(fin.__at - voicedAt >= 280 && fin.__at - voicedAt < 600, `the first final ${fin.__at - voicedAt} ms after the speech`);
      // asked 500 ms after it: at once
      voicedAt = await realtime((p) => c.send(p), ulawUtterance(100, 600, 0));
      await sleep(500);
      const asked = Date.now();
      c.send(JSON.stringify({ type: 'Finalize' }));
      fin = await c.next((m) => m.type === 'Results' && m.is_final && m.from_finalize && m.__at >= asked);
      assert.equal(fin.channel.alternatives[0].transcript, 'Second part.');
      assert.ok(fin.__at - asked < 200, `asked late, the final took ${fin.__at - asked} ms`);
      c.ws.close();
    } finally {
      await live.stop();
    }
  });

  test('fault trickle: results come chunkMs apart; idle for idleMs closes with 1011 NET-0001', async () => {
    const slow = await startDeepgramStandIn({ transcripts: ['one two three four five six'], idleMs: 3000, fault: { kind: 'trickle', chunkMs: 300 }, timing: { interimMs: 500 } });
    try {
      const c = client(`${slow.url}/v1/listen?encoding=mulaw&sample_rate=8000&interim_results=true&vad_events=true&endpointing=100`, { headers: { Authorization: `Token ${slow.key}` } });
      await c.opened;
      const t0 = Date.now();
      c.send(ulawUtterance(100, 1500, 300)); // at once: the results queue behind the pacing
      await c.next((m) => m.type === 'Results' && m.is_final, 8000);
      const at = c.msgs.map((m) => m.__at);
      for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= 280, `gap ${at[i] - at[i - 1]} ms`);
      assert.ok(c.msgs.length >= 4 && Date.now() - t0 >= 900);
      const closed = await c.closed;
      assert.equal(closed.code, 1011);
      assert.match(closed.reason, /^NET-0001/);
    } finally {
      await slow.stop();
    }
  });
});

describe('openai realtime', () => {
  let rt;
  before(async () => {
    rt = await startRealtimeStandIn({ tls: true, transcript: '' });
  });
  after(() => rt?.stop());
  const ca = () => selfSigned().cert;
  const sdk = (key = rt.key) => {
    const c = new OpenAI({ apiKey: key, baseURL: rt.url });
    const ws = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca: ca() } }, c);
    const events = [];
    const errors = [];
    ws.on('event', (e) => events.push({ ...e, __at: Date.now() }));
    ws.on('error', (e) => errors.push(e));
    const closed = new Promise((r) => ws.socket.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    const next = async (type, ms = 3000) => {
      const t0 = Date.now();
      for (;;) {
        const e = events.find((x) => x.type === type);
        if (e) return e;
        if (Date.now() - t0 > ms) throw new Error(`no ${type} in ${ms} ms; got ${events.map((x) => x.type)}`);
        await sleep(10);
      }
    };
    return { ws, events, errors, closed, next };
  };
  const beta = (extra = {}) => client(`${rt.url.replace(/^http/, 'ws')}/realtime?model=gpt-4o-realtime-preview`, { ca: ca(), headers: { Authorization: `Bearer ${rt.key}`, 'OpenAI-Beta': 'realtime=v1', ...extra } });

  test('the openai SDK (GA format): caller speech in, input transcript, audio and an end_call tool call back', async () => {
    rt.replies.push({ text: 'Goodbye, have a nice day.', audioMs: 800, tools: [{ name: 'end_call', arguments: { reason: 'caller said goodbye' } }] });
    rt.transcripts.push('That is all, bye.');
    const c = sdk();
    await c.next('session.created');
    c.ws.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['audio'], instructions: 'Be brief.', tools: [{ type: 'function', name: 'end_call', description: 'hang up', parameters: { type: 'object', properties: {} } }], audio: { input: { format: { type: 'audio/pcmu' }, transcription: { model: 'whisper-1' }, turn_detection: { type: 'server_vad', silence_duration_ms: 300 } }, output: { format: { type: 'audio/pcmu' }, voice: 'alloy' } } } });
    const upd = await c.next('session.updated');
    assert.equal(upd.session.audio.output.format.type, 'audio/pcmu');
    await realtime((p) => c.ws.send({ type: 'input_audio_buffer.append', audio: p.toString('base64') }), ulawUtterance(200, 800, 600), 800);
    const stopped = await c.next('input_audio_buffer.speech_stopped');
    assert.ok(Math.abs(stopped.audio_end_ms - 1000) <= 20, `speech stopped at ${stopped.audio_end_ms} ms`);
    const tr = await c.next('conversation.item.input_audio_transcription.completed');
    assert.equal(tr.transcript, 'That is all, bye.');
    const done = await c.next('response.done');
    assert.equal(done.response.status, 'completed');
    const audio = Buffer.concat(c.events.filter((e) => e.type === 'response.output_audio.delta').map((e) => Buffer.from(e.delta, 'base64')));
    assert.equal(audio.length, 800 * 8, 'mu-law 8 kHz for 800 ms');
    const rms = Math.sqrt(audio.reduce((s, b) => s + ulawDecode(b) ** 2, 0) / audio.length);
    assert.ok(rms > 1000, `a tone, rms ${rms}`);
    const said = c.events.filter((e) => e.type === 'response.output_audio_transcript.delta').map((e) => e.delta).join('');
    assert.equal(said, 'Goodbye, have a nice day.');
    const call = await c.next('response.function_call_arguments.done');
    assert.equal(call.name, 'end_call');
    assert.deepEqual(JSON.parse(call.arguments), { reason: 'caller said goodbye' });
    assert.deepEqual(done.response.output.map((o) => o.type), ['message', 'function_call']);
    assert.ok(done.response.usage.total_tokens > 0);
    assert.deepEqual(c.errors, []);
    // the call's output is taken; one for a call never made is refused
    const outs = rt.of('tool_output').length;
    c.ws.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: '{"ok":true}' } });
    c.ws.send({ type: 'conversation.item.create', event_id: 'ev_out_2', item: { type: 'function_call_output', call_id: 'call_never_made', output: '{}' } });
    const refusal = () => rt.of('out').find((e) => e.type === 'error' && e.error?.event_id === 'ev_out_2');
    for (let i = 0; i < 300 && !refusal(); i++) await sleep(10);
    assert.equal(refusal()?.error.param, 'item.call_id', 'an output for a call never made refused');
    assert.deepEqual(rt.of('tool_output').slice(outs).map((o) => [o.call_id, o.output]), [[call.call_id, '{"ok":true}']]);
    const conn = rt.of('connect').at(-1);
    assert.equal(conn.authOk, true);
    assert.equal(conn.beta, false);
    assert.equal(conn.query.model, 'gpt-realtime');
    c.ws.close();
  });

  test('the LiveKit OpenAI plugin (GA, ws://, pcm16 24 kHz): audio, text and a tool call; interrupt and truncate as after a barge-in', async () => {
    const plain = await startRealtimeStandIn({ replies: [{ text: 'Goodbye.', audioMs: 300, tools: [{ name: 'end_call', arguments: { reason: 'bye' } }] }, { text: 'one two three four five six seven eight', audioMs: 1600 }] });
    const model = new openaiPlugin.realtime.RealtimeModel({ apiKey: plain.key, baseURL: plain.url, model: 'gpt-realtime', voice: 'alloy', turnDetection: null });
    const session = model.session();
    try {
      const gen = await session.generateReply();
      const fns = (async () => {
        const out = [];
        for await (const f of gen.functionStream) out.push(f);
        return out;
      })();
      let samples = 0;
      let text = '';
      for await (const msg of gen.messageStream) {
        const t = (async () => {
          for await (const x of msg.textStream) text += x;
        })();
        for await (const f of msg.audioStream) {
          assert.equal(f.sampleRate, 24000);
          samples += f.samplesPerChannel;
        }
        await t;
      }
      assert.equal(samples, 24000 * 0.3);
      assert.equal(text, 'Goodbye.');
      const calls = await fns;
      assert.deepEqual(calls.map((f) => [f.name, JSON.parse(f.args)]), [['end_call', { reason: 'bye' }]]);
      const upd = plain.log.find((e) => e.kind === 'in' && e.type === 'session.update').event.session;
      assert.equal(upd.type, 'realtime');
      assert.deepEqual(upd.audio.output.format, { type: 'audio/pcm', rate: 24000 });
      // the second reply is cut after 300 ms of audio, as a barge-in would
      plain.timing.chunkMs = 50;
      const g2 = await session.generateReply();
      let id = null;
      let ms = 0;
      for await (const msg of g2.messageStream) {
        id = msg.messageId;
        for await (const f of msg.audioStream) {
          ms += f.samplesPerChannel / 24;
          if (ms >= 300) break;
        }
        break;
      }
      await session.interrupt();
      await session.truncate({ messageId: id, audioEndMs: 300 });
      const t0 = Date.now();
      while ((!plain.truncates.length || plain.of('response_done').length < 2) && Date.now() - t0 < 2000) await sleep(20);
      assert.deepEqual(plain.truncates.map((t) => [t.item_id, t.audio_end_ms, t.heard]), [[id, 300, 'one ']]);
      assert.deepEqual(plain.of('response_done').map((e) => e.status), ['completed', 'cancelled']);
    } finally {
      await session.close();
      await plain.stop();
    }
  });

  test('beta format, g711_ulaw, no server VAD: commit, response, barge-in cancel and truncate; the history keeps what was heard', async () => {
    rt.replies.push({ text: 'one two three four five six seven eight', audioMs: 1600 });
    rt.transcripts.push('Tell me a long story.');
    const c = beta();
    await c.opened;
    await c.next((m) => m.type === 'session.created');
    c.send({ type: 'session.update', session: { input_audio_format: 'g711_ulaw', output_audio_format: 'g711_ulaw', turn_detection: null, voice: 'alloy', instructions: 'x', input_audio_transcription: { model: 'whisper-1' }, tools: [] } });
    await c.next((m) => m.type === 'session.updated');
    c.send({ type: 'input_audio_buffer.append', audio: ulawUtterance(0, 500, 0).toString('base64') });
    c.send({ type: 'input_audio_buffer.commit', event_id: 'ev1' });
    const created = await c.next((m) => m.type === 'conversation.item.created' && m.item.role === 'user');
    assert.equal((await c.next((m) => m.type === 'conversation.item.input_audio_transcription.completed')).transcript, 'Tell me a long story.');
    assert.ok(!c.msgs.some((m) => m.type === 'input_audio_buffer.speech_started'), 'no VAD events with turn_detection null');
    rt.timing.chunkMs = 50;
    c.send({ type: 'response.create' });
    const item = await c.next((m) => m.type === 'response.output_item.added');
    await c.next((m) => m.type === 'response.audio.delta');
    await sleep(180);
    c.send({ type: 'response.cancel' });
    const done = await c.next((m) => m.type === 'response.done');
    rt.timing.chunkMs = 0;
    assert.equal(done.response.status, 'cancelled');
    assert.equal(done.response.status_details.reason, 'client_cancelled');
    const got = c.msgs.filter((m) => m.type === 'response.audio.delta').length;
    assert.ok(got >= 2 && got < 16, `${got} deltas before the cancel`);
    c.send({ type: 'conversation.item.truncate', item_id: item.item.id, content_index: 0, audio_end_ms: 400 });
    const tr = await c.next((m) => m.type === 'conversation.item.truncated');
    assert.equal(tr.audio_end_ms, 400);
    const t = rt.truncates.at(-1);
    assert.equal(t.item_id, item.item.id);
    assert.equal(t.heard, 'one two ');
    const h = rt.history();
    assert.equal(h[0].id, created.item.id);
    const a = h.find((x) => x.id === item.item.id);
    assert.equal(a.truncated_ms, 400);
    assert.equal(a.content[0].transcript, '', 'the unheard transcript is deleted');
    // truncating past what was sent is refused
    c.send({ type: 'conversation.item.truncate', item_id: item.item.id, content_index: 0, audio_end_ms: 99999, event_id: 'ev9' });
    const err = await c.next((m) => m.type === 'error');
    assert.equal(err.error.type, 'invalid_request_error');
    assert.equal(err.error.event_id, 'ev9');
    c.ws.close();
  });

  test('transcription sessions: beta (?intent=transcription, g711_ulaw) and GA (the openai SDK, session.type transcription) transcribe and never respond', async () => {
    rt.transcripts.push('I would like to book a table.', 'For two people.');
    const c = client(`${rt.url.replace(/^http/, 'ws')}/realtime?intent=transcription`, { ca: ca(), headers: { Authorization: `Bearer ${rt.key}`, 'OpenAI-Beta': 'realtime=v1' } });
    await c.opened;
    await c.next((m) => m.type === 'transcription_session.created');
    c.send({ type: 'transcription_session.update', session: { input_audio_format: 'g711_ulaw', input_audio_transcription: { model: 'gpt-4o-transcribe', language: 'en' }, turn_detection: { type: 'server_vad', silence_duration_ms: 300 } } });
    assert.equal((await c.next((m) => m.type === 'transcription_session.updated')).session.input_audio_format, 'g711_ulaw');
    await realtime((p) => c.send({ type: 'input_audio_buffer.append', audio: p.toString('base64') }), ulawUtterance(100, 600, 500), 800);
    const done = await c.next((m) => m.type === 'conversation.item.input_audio_transcription.completed');
    assert.equal(done.transcript, 'I would like to book a table.');
    const deltas = c.msgs.filter((m) => m.type === 'conversation.item.input_audio_transcription.delta');
    assert.ok(deltas.length > 1);
    assert.equal(deltas.map((m) => m.delta).join(''), done.transcript);
    assert.ok(['input_audio_buffer.speech_started', 'input_audio_buffer.speech_stopped', 'input_audio_buffer.committed', 'conversation.item.created'].every((t) => c.msgs.some((m) => m.type === t)));
    c.send({ type: 'response.create', event_id: 'r1' });
    await c.next((m) => m.type === 'error' && m.error.event_id === 'r1');
    assert.ok(!c.msgs.some((m) => m.type === 'response.created'), 'no response in a transcription session');
    c.ws.close();
    const g = sdk();
    await g.next('session.created');
    g.ws.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcmu' }, transcription: { model: 'gpt-4o-transcribe', language: 'en' }, turn_detection: { type: 'server_vad', silence_duration_ms: 300 } } } } });
    assert.equal((await g.next('session.updated')).session.type, 'transcription');
    await realtime((p) => g.ws.send({ type: 'input_audio_buffer.append', audio: p.toString('base64') }), ulawUtterance(100, 600, 500), 800);
    assert.equal((await g.next('conversation.item.input_audio_transcription.completed')).transcript, 'For two people.');
    await sleep(100);
    assert.ok(!g.events.some((e) => e.type === 'response.created'));
    assert.deepEqual(g.errors, []);
    g.ws.close();
  });

  test("the LiveKit OpenAI plugin's realtime STT (?intent=transcription, GA, pcm16 24 kHz) gets interim and final transcripts", async () => {
    const plain = await startRealtimeStandIn({ transcripts: ['Realtime transcription works.'] });
    try {
      const stt = new openaiPlugin.STT({ apiKey: plain.key, baseURL: plain.url, useRealtime: true, model: 'gpt-4o-transcribe', language: 'en' });
      const errors = [];
      stt.on('error', (e) => errors.push(e.error));
      const st = stt.stream();
      const rate = 24000;
      const audio = new Int16Array(rate * 2.5);
      audio.set(toneSamples(300, 800, rate), rate * 0.3);
      const feed = (async () => {
        for (let off = 0; off < audio.length; off += 2400) {
          st.pushFrame(new AudioFrame(audio.slice(off, off + 2400), rate, 1, 2400));
          await sleep(20);
        }
        await sleep(300);
        st.endInput();
      })();
      const events = [];
      for await (const ev of st) events.push(ev);
      await feed;
      assert.deepEqual(errors, []);
      const final = events.find((e) => e.type === 2);
      assert.equal(final?.alternatives[0].text, 'Realtime transcription works.');
      assert.ok(events.filter((e) => e.type === 1).length >= 2, 'interim transcripts from the deltas');
      const conn = plain.of('connect')[0];
      assert.equal(conn.query.intent, 'transcription');
      const upd = plain.log.find((e) => e.kind === 'in' && e.type === 'session.update').event.session;
      assert.equal(upd.type, 'transcription');
      assert.equal(upd.audio.input.transcription.model, 'gpt-4o-transcribe');
    } finally {
      await plain.stop();
    }
  });

  test('errors have the documented shape: cancel with none active, an empty commit, an unknown event, a second response', async () => {
    const c = beta();
    await c.opened;
    await c.next((m) => m.type === 'session.created');
    c.send({ type: 'response.cancel', event_id: 'e1' });
    const e1 = await c.next((m) => m.type === 'error' && m.error.event_id === 'e1');
    assert.equal(e1.error.code, 'response_cancel_not_active');
    c.send({ type: 'input_audio_buffer.commit', event_id: 'e2' });
    assert.equal((await c.next((m) => m.type === 'error' && m.error.event_id === 'e2')).error.code, 'input_audio_buffer_commit_empty');
    c.send({ type: 'no.such.event', event_id: 'e3' });
    const e3 = await c.next((m) => m.type === 'error' && m.error.event_id === 'e3');
    assert.equal(e3.error.code, 'invalid_value');
    assert.equal(e3.error.param, 'type');
    rt.timing.chunkMs = 30;
    c.send({ type: 'response.create' });
    c.send({ type: 'response.create', event_id: 'e4' });
    assert.equal((await c.next((m) => m.type === 'error' && m.error.event_id === 'e4')).error.code, 'conversation_already_has_active_response');
    await c.next((m) => m.type === 'response.done', 5000);
    rt.timing.chunkMs = 0;
    c.ws.close();
  });

  test('server VAD barge-in: speech during a response cancels it (turn_detected)', async () => {
    rt.replies.push({ text: 'a long answer that goes on', audioMs: 2000 });
    const c = beta();
    await c.opened;
    c.send({ type: 'session.update', session: { input_audio_format: 'g711_ulaw', output_audio_format: 'g711_ulaw', turn_detection: { type: 'server_vad', silence_duration_ms: 200 } } });
    await c.next((m) => m.type === 'session.updated');
    rt.timing.chunkMs = 100;
    try {
      c.send({ type: 'response.create' });
      await c.next((m) => m.type === 'response.audio.delta');
      c.send({ type: 'input_audio_buffer.append', audio: ulawUtterance(0, 200, 0).toString('base64') });
      await c.next((m) => m.type === 'input_audio_buffer.speech_started');
      const done = await c.next((m) => m.type === 'response.done');
      assert.equal(done.response.status, 'cancelled');
      assert.equal(done.response.status_details.reason, 'turn_detected');
    } finally {
      rt.timing.chunkMs = 0;
    }
    c.ws.close();
  });

  test('GA: a session.update without session.type is refused as the service refuses it', async () => {
    const c = sdk();
    await c.next('session.created');
    c.ws.send({ type: 'session.update', event_id: 'u1', session: { instructions: 'x' } });
    await c.next('error');
    assert.equal(c.errors[0]?.error?.code, 'missing_required_parameter');
    assert.equal(c.errors[0]?.error?.param, 'session.type');
    c.ws.close();
  });

  test('a wrong key: the SDK gets invalid_api_key, the socket closes with 3000', async () => {
    const c = sdk('sk-wrong');
    const closed = await c.closed;
    assert.equal(closed.code, 3000);
    assert.equal(closed.reason, 'invalid_request_error.invalid_api_key');
    assert.equal(c.errors[0]?.error?.code, 'invalid_api_key');
    assert.equal(c.events.filter((e) => e.type === 'session.created').length, 0);
    assert.equal(rt.of('connect').at(-1).authOk, false);
  });

  test('fault status 503 on the upgrade: the SDK reports it; the body is OpenAI error JSON', async () => {
    rt.fault = { kind: 'status', status: 503, count: 2 };
    const s = sdk();
    await s.closed;
    assert.match(s.errors[0]?.message ?? '', /503/);
    const c = beta();
    const e = await c.opened.then(() => null, (x) => x);
    assert.equal(e?.status, 503);
    assert.equal(JSON.parse(e.body).error.type, 'server_error');
    rt.fault = null;
  });

  test('fault stall: upgraded but silent; drop: the socket dies after the first audio; error: response failed', async () => {
    rt.fault = { kind: 'stall', count: 1 };
    const s = beta();
    await s.opened;
    await sleep(300);
    assert.equal(s.msgs.length, 0, 'no session.created');
    s.ws.close();
    rt.fault = { kind: 'drop', after: 1, count: 1 };
    const d = beta();
    await d.next((m) => m.type === 'session.created');
    d.send({ type: 'response.create' });
    assert.equal((await d.closed).code, 1006);
    assert.equal(d.msgs.filter((m) => m.type === 'response.audio.delta').length, 1);
    rt.fault = { kind: 'error', count: 1 };
    const e = beta();
    await e.next((m) => m.type === 'session.created');
    e.send({ type: 'response.create' });
    const err = await e.next((m) => m.type === 'error');
    assert.equal(err.error.type, 'server_error');
    const done = await e.next((m) => m.type === 'response.done');
    assert.equal(done.response.status, 'failed');
    e.ws.close();
  });

  test('timing: firstMs before the first audio, trickle spaces the deltas', async () => {
    rt.timing.firstMs = 300;
    rt.fault = { kind: 'trickle', chunkMs: 150, count: 1 };
    try {
      const c = beta();
      await c.next((m) => m.type === 'session.created');
      c.send({ type: 'response.create' });
      const created = await c.next((m) => m.type === 'response.created');
      const first = await c.next((m) => m.type === 'response.audio.delta');
      assert.ok(first.__at - created.__at >= 280, `first audio after ${first.__at - created.__at} ms`);
      const second = await c.next((m) => m.type === 'response.audio.delta' && m !== first);
      assert.ok(second.__at - first.__at >= 130, `next after ${second.__at - first.__at} ms`);
      c.ws.close();
    } finally {
      rt.timing.firstMs = 0;
      rt.fault = null;
    }
  });
});

describe('elevenlabs', () => {
  let el;
  before(async () => {
    el = await startElevenLabsStandIn({ msPerChar: 40 });
  });
  after(() => el?.stop());
  const url = (voice, q) => `${el.url.replace(/^http/, 'ws')}/v1/text-to-speech/${voice}/stream-input?${q}`;

  async function pluginSay(key, text, connOptions = { maxRetry: 0, retryIntervalMs: 50, timeoutMs: 3000 }) {
    const tts = new elevenlabs.TTS({ apiKey: key, baseURL: `${el.url}/v1`, encoding: 'pcm_16000', voiceId: 'voice-a', model: 'eleven_flash_v2_5' });
    const errors = [];
    tts.on('error', (e) => errors.push(e.error));
    const s = tts.stream({ connOptions });
    s.pushText(text);
    s.flush();
    s.endInput();
    let samples = 0;
    try {
      for await (const ev of s) if (ev.frame) samples += ev.frame.samplesPerChannel;
    } catch (e) {
      errors.push(e);
    }
    await tts.close();
    return { samples, errors };
  }

  test('the LiveKit ElevenLabs plugin (multi-stream-input) gets audio for its text', async () => {
    const before = el.log.length;
    const text = 'Hello there. How are you today?';
    const { samples, errors } = await pluginSay(el.key, text);
    assert.deepEqual(errors, []);
    const ms = (samples / 16000) * 1000;
    assert.ok(ms >= text.length * 40 * 0.9, `${ms} ms of audio for ${text.length} characters`);
    const mine = el.log.slice(before);
    const conn = mine.find((e) => e.kind === 'connect');
    assert.match(conn.path, /^\/v1\/text-to-speech\/voice-a\/multi-stream-input$/);
    assert.equal(conn.query.output_format, 'pcm_16000');
    assert.equal(conn.query.model_id, 'eleven_flash_v2_5');
    assert.equal(conn.authOk, true);
    assert.equal(conn.headers['xi-api-key'], '<redacted>');
    assert.ok(mine.some((e) => e.kind === 'in' && e.msg.close_context), 'close_context');
  });

  test('stream-input, ulaw_8000: first message, text chunks, flush, end of input; audio with alignment, isFinal, close 1000', async () => {
    const c = client(url('voice-b', 'model_id=eleven_flash_v2_5&output_format=ulaw_8000&inactivity_timeout=20'), { headers: { 'xi-api-key': el.key } });
    await c.opened;
    c.send({ text: ' ', voice_settings: { stability: 0.5, similarity_boost: 0.8 }, generation_config: { chunk_length_schedule: [50] } });
    c.send({ text: 'Good morning, ' });
    await sleep(100);
    assert.equal(c.msgs.length, 0, 'nothing spoken before a sentence ends or a flush');
    c.send({ text: 'this is voxgate', try_trigger_generation: true });
    const a = await c.next((m) => m.audio);
    assert.ok(a.normalizedAlignment.chars.length > 0 && a.normalizedAlignment.charStartTimesMs.length === a.normalizedAlignment.chars.length);
    c.send({ text: ' speaking.', flush: true });
    c.send({ text: '' });
    const fin = await c.next((m) => m.isFinal === true);
    assert.equal(fin.audio, undefined);
    assert.equal((await c.closed).code, 1000);
    const audio = Buffer.concat(c.msgs.filter((m) => m.audio).map((m) => Buffer.from(m.audio, 'base64')));
    const chars = 'Good morning, this is voxgate speaking.'.length;
    assert.ok(Math.abs(audio.length / 8 - chars * 40) <= 200, `${audio.length / 8} ms of mu-law for ${chars} characters`);
  });

  test('the key in the first message (xi_api_key) is taken and never logged', async () => {
    const c = client(url('voice-c', 'output_format=ulaw_8000'));
    await c.opened;
    c.send({ text: ' ', xi_api_key: el.key });
    c.send({ text: 'Hi.' });
    c.send({ text: '' });
    await c.next((m) => m.isFinal === true);
    assert.ok(!JSON.stringify(el.log).includes(el.key), 'the key is not in the log');
    assert.equal(el.of('connect').at(-1).authOk, true);
  });

  test('a wrong key closes with 1008 "Invalid API key"; the plugin reports the closed socket', async () => {
    const c = client(url('voice-d', 'output_format=ulaw_8000'), { headers: { 'xi-api-key': 'wrong' } });
    await c.opened;
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, 'Invalid API key');
    const { samples, errors } = await pluginSay('wrong', 'Hello.');
    assert.equal(samples, 0);
    assert.ok(errors.length > 0, 'the plugin reports an error');
  });

  test('fault error: after the first audio, the service\'s {message, error, code} and a close with that code', async () => {
    el.fault = { kind: 'error', count: 1 };
    const murl = `${el.url.replace(/^http/, 'ws')}/v1/text-to-speech/v/multi-stream-input?output_format=ulaw_8000`;
    const c = client(murl, { headers: { 'xi-api-key': el.key } });
    await c.opened;
    c.send({ text: ' ', context_id: 'c1' });
    c.send({ text: 'A sentence long enough for several chunks. ', context_id: 'c1', flush: true });
    const { __at, ...e } = await c.next((m) => m.error);
    assert.deepEqual(e, { message: 'An internal server error occurred.', error: 'internal_server_error', code: 1011 });
    assert.equal(c.msgs.filter((m) => m.audio).length, 1, 'one chunk before the error');
    assert.equal((await c.closed).code, 1011);
    el.fault = null;
  });

  test('fault status 401/429/500 on the upgrade with {"detail":{status, message}}; stall; drop; trickle; inactivity', async () => {
    for (const st of [401, 429, 500]) {
      el.fault = { kind: 'status', status: st, count: 1 };
      const c = client(url('v', 'output_format=ulaw_8000'), { headers: { 'xi-api-key': el.key } });
      const e = await c.opened.then(() => null, (x) => x);
      assert.equal(e?.status, st);
      assert.ok(JSON.parse(e.body).detail.status);
    }
    el.fault = { kind: 'stall', count: 1 };
    const s = client(url('v', 'output_format=ulaw_8000'), { headers: { 'xi-api-key': el.key } });
    await s.opened;
    s.send({ text: ' ' });
    s.send({ text: 'Hello.', flush: true });
    await sleep(300);
    assert.equal(s.msgs.length, 0);
    s.ws.close();
    el.fault = { kind: 'drop', after: 2, count: 1 };
    const d = client(url('v', 'output_format=ulaw_8000'), { headers: { 'xi-api-key': el.key } });
    await d.opened;
    d.send({ text: ' ' });
    d.send({ text: 'A sentence long enough for several chunks.', flush: true });
    assert.equal((await d.closed).code, 1006);
    assert.equal(d.msgs.length, 2);
    el.fault = { kind: 'trickle', chunkMs: 150, count: 1 };
    const t = client(url('v', 'output_format=ulaw_8000&inactivity_timeout=1'), { headers: { 'xi-api-key': el.key } });
    await t.opened;
    t.send({ text: ' ' });
    t.send({ text: 'Slowly now.', flush: true });
    await t.next((m) => m.audio);
    const second = await t.next((m) => m.audio && m !== t.msgs[0]);
    assert.ok(second.__at - t.msgs[0].__at >= 130);
    const closed = await t.closed; // no text for 1 s
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /Have not received a new text input within the timeout of 1 seconds/);
    el.fault = null;
  });
});

describe('cartesia', () => {
  let cs;
  before(async () => {
    cs = await startCartesiaStandIn({ tls: true, msPerChar: 40 });
  });
  after(() => cs?.stop());
  const connect = async (key = cs.key) => {
    const ws = new TTSWS(new Cartesia({ apiKey: key, baseURL: cs.url, maxRetries: 0 }), { ca: selfSigned().cert });
    const errors = [];
    ws.on('error', (e) => errors.push(e));
    await ws.connect();
    return { ws, errors };
  };
  const fmt = { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 };
  const ctxOpts = { model_id: 'sonic-2', voice: { mode: 'id', id: 'voice-1' }, output_format: fmt, add_timestamps: true };

  test('@cartesia/cartesia-js: a context with continuations gets mu-law chunks, timestamps and done', async () => {
    const { ws, errors } = await connect();
    const ctx = ws.context(ctxOpts);
    await ctx.push({ transcript: 'Hello there, ' });
    await ctx.push({ transcript: 'how are you?' });
    await ctx.no_more_inputs();
    let bytes = 0;
    const types = [];
    for await (const ev of ctx.receive({ timeout: 5000 })) {
      types.push(ev.type);
      if (ev.type === 'chunk') {
        bytes += ev.audio.length;
        assert.equal(ev.context_id, ctx.contextId);
      }
    }
    assert.equal(types.at(-1), 'done');
    assert.ok(types.includes('timestamps'));
    assert.equal(bytes, ('Hello there, '.length + 'how are you?'.length) * 40 * 8);
    assert.deepEqual(errors, []);
    const conn = cs.of('connect').at(-1);
    assert.equal(conn.authOk, true);
    assert.ok(conn.version, 'Cartesia-Version sent');
    assert.equal(conn.headers.authorization, '<redacted>');
    const sent = cs.of('in').filter((e) => e.msg.context_id === ctx.contextId);
    assert.deepEqual(sent.map((e) => e.msg.continue), [true, true, false]);
    ws.close({ code: 1000, reason: 'done' });
  });

  test('cancel stops a context; a finished context refuses more input with an error event', async () => {
    cs.timing.chunkMs = 50;
    const { ws } = await connect();
    const ctx = ws.context(ctxOpts);
    await ctx.send({ transcript: 'A long sentence that takes a while to say out loud.', continue: false });
    await sleep(120);
    await ctx.cancel();
    const n = cs.of('out').filter((e) => e.context_id === ctx.contextId && e.type === 'chunk').length;
    await sleep(300);
    const m = cs.of('out').filter((e) => e.context_id === ctx.contextId && e.type === 'chunk').length;
    assert.ok(m <= n + 1 && m < 20, `chunks before ${n}, after ${m}`);
    cs.timing.chunkMs = 0;
    const c2 = ws.context(ctxOpts);
    await c2.send({ transcript: 'Done.', continue: false });
    for await (const ev of c2.receive({ timeout: 3000 })) void ev;
    const errs = [];
    ws.on('error', (e) => errs.push(e));
    await c2.send({ transcript: 'More?', continue: false });
    await sleep(200);
    const err = cs.of('out').filter((e) => e.type === 'error').at(-1);
    assert.equal(err.status_code, 400);
    ws.close({ code: 1000, reason: 'done' });
  });

  test('a wrong key and status faults: refused before the upgrade with the HTTP error object', async () => {
    await assert.rejects(connect('wrong'), (e) => /401/.test(e.message));
    assert.equal(cs.of('connect').at(-1).authOk, false);
    cs.fault = { kind: 'status', status: 429, count: 1 };
    const c = client(`${cs.url.replace(/^http/, 'ws')}/tts/websocket?cartesia_version=2025-04-16`, { ca: selfSigned().cert, headers: { 'X-API-Key': cs.key } });
    const e = await c.opened.then(() => null, (x) => x);
    assert.equal(e?.status, 429);
    const body = JSON.parse(e.body);
    assert.equal(body.error_code, 'concurrency_limited');
    assert.ok(body.title && body.message && body.request_id);
  });

  test('fault error: an error event that the SDK throws from receive(); stall; drop; trickle', async () => {
    cs.fault = { kind: 'error', count: 1 };
    let { ws } = await connect();
    let ctx = ws.context(ctxOpts);
    await ctx.send({ transcript: 'This will fail half way through.', continue: false });
    await assert.rejects(async () => {
      for await (const ev of ctx.receive({ timeout: 3000 })) void ev;
    }, /internal server error/i);
    ws.close({ code: 1000, reason: 'x' });
    cs.fault = { kind: 'stall', count: 1 };
    ({ ws } = await connect());
    ctx = ws.context(ctxOpts);
    await ctx.send({ transcript: 'Anyone there?', continue: false });
    await assert.rejects(async () => {
      for await (const ev of ctx.receive({ timeout: 400 })) void ev;
    }, /timed out|timeout/i);
    ws.close({ code: 1000, reason: 'x' });
    cs.fault = { kind: 'drop', after: 1, count: 1 };
    ({ ws } = await connect());
    const closed = new Promise((r) => ws.socket.on('close', (code) => r(code)));
    ctx = ws.context(ctxOpts);
    await ctx.send({ transcript: 'Dropped after the first chunk.', continue: false });
    assert.equal(await closed, 1006);
    cs.fault = { kind: 'trickle', chunkMs: 120, count: 1 };
    ({ ws } = await connect());
    ctx = ws.context({ ...ctxOpts, add_timestamps: false });
    await ctx.send({ transcript: 'Slow and steady.', continue: false });
    const at = [];
    for await (const ev of ctx.receive({ timeout: 5000 })) if (ev.type === 'chunk') at.push(Date.now());
    for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= 100, `gap ${at[i] - at[i - 1]}`);
    ws.close({ code: 1000, reason: 'x' });
    cs.fault = null;
  });
});

describe('openai rest', () => {
  let oa;
  before(async () => {
    oa = await startOpenAIStandIn({ key: 'sk-standin' });
  });
  after(() => oa?.close());
  const sdk = (o = {}) => new OpenAI({ apiKey: 'sk-standin', baseURL: oa.url, maxRetries: 0, ...o });
  const wav = () => {
    const pcm = encodeSamples(toneSamples(300, 500, 8000), 'linear16');
    const h = Buffer.alloc(44);
    h.write('RIFF', 0);
    h.writeUInt32LE(36 + pcm.length, 4);
    h.write('WAVEfmt ', 8);
    h.writeUInt32LE(16, 16);
    h.writeUInt16LE(1, 20);
    h.writeUInt16LE(1, 22);
    h.writeUInt32LE(8000, 24);
    h.writeUInt32LE(16000, 28);
    h.writeUInt16LE(2, 32);
    h.writeUInt16LE(16, 34);
    h.write('data', 36);
    h.writeUInt32LE(pcm.length, 40);
    return new File([Buffer.concat([h, pcm])], 'utt.wav', { type: 'audio/wav' });
  };

  test('the openai SDK: transcriptions as json, verbose_json and text; the fields are recorded', async () => {
    const o = sdk();
    oa.transcripts.push('first', 'second', 'third');
    assert.equal((await o.audio.transcriptions.create({ file: wav(), model: 'whisper-1', language: 'en' })).text, 'first');
    const v = await o.audio.transcriptions.create({ file: wav(), model: 'whisper-1', response_format: 'verbose_json' });
    assert.equal(v.text, 'second');
    assert.ok(Math.abs(v.duration - 0.5) < 0.01 && v.segments.length === 1);
    assert.equal((await o.audio.transcriptions.create({ file: wav(), model: 'whisper-1', response_format: 'text' })).trim(), 'third');
    const r = oa.to('/v1/audio/transcriptions');
    assert.equal(r[0].language, 'en');
    assert.equal(r[0].wav.rate, 8000);
    assert.deepEqual(r.map((x) => x.response_format), ['json', 'verbose_json', 'text']);
    assert.ok(r.every((x) => x.authOk && x.headers.authorization === '<redacted>'));
  });

  test('the openai SDK: speech streamed as pcm (24 kHz s16le) and wav; speed shortens it', async () => {
    oa.timing.chunkMs = 20;
    try {
      const res = await sdk().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello.', response_format: 'pcm' });
      const parts = [];
      for await (const p of res.body) parts.push(Buffer.from(p));
      assert.ok(parts.length > 1, 'streamed in chunks');
      assert.equal(Buffer.concat(parts).length, (SPEECH_RATE * TONE_MS) / 1000 * 2);
      const w = Buffer.from(await (await sdk().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hi.', response_format: 'wav', speed: 2 })).arrayBuffer());
      assert.equal(w.toString('latin1', 0, 4), 'RIFF');
      assert.equal(w.readUInt32LE(24), SPEECH_RATE);
      assert.equal(w.length - 44, (SPEECH_RATE * TONE_MS) / 1000);
      await assert.rejects(sdk().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'pcm', speed: 9 }), (e) => e.status === 400);
    } finally {
      oa.timing.chunkMs = 0;
    }
  });

  test('the openai SDK: a streamed chat reply with a tool call', async () => {
    oa.replies.push({ text: 'Transferring you now.', tools: [{ name: 'transfer_call', arguments: { to: 'sales' } }] });
    const stream = await sdk().chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'sales please' }], tools: [{ type: 'function', function: { name: 'transfer_call', parameters: { type: 'object', properties: { to: { type: 'string' } } } } }] });
    let text = '';
    const calls = [];
    let finish = null;
    for await (const ch of stream) {
      const d = ch.choices[0]?.delta ?? {};
      text += d.content ?? '';
      for (const tc of d.tool_calls ?? []) {
        calls[tc.index] ??= { name: '', arguments: '' };
        calls[tc.index].name += tc.function?.name ?? '';
        calls[tc.index].arguments += tc.function?.arguments ?? '';
      }
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, 'Transferring you now.');
    assert.equal(calls[0].name, 'transfer_call');
    assert.deepEqual(JSON.parse(calls[0].arguments), { to: 'sales' });
    assert.equal(finish, 'tool_calls');
    assert.equal(oa.to('/v1/chat/completions').at(-1).tools[0].function.name, 'transfer_call');
  });

  test('faults through the SDK: wrong key 401, 429, 500, stall (timeout), drop (mid-stream), trickle', async () => {
    await assert.rejects(sdk({ apiKey: 'sk-wrong' }).audio.transcriptions.create({ file: wav(), model: 'whisper-1' }), (e) => e.status === 401 && e.code === 'invalid_api_key');
    oa.fault = { kind: 'status', status: 429, count: 1 };
    await assert.rejects(sdk().audio.transcriptions.create({ file: wav(), model: 'whisper-1' }), (e) => e instanceof OpenAI.RateLimitError && e.code === 'rate_limit_exceeded');
    oa.fault = { kind: 'status', status: 500, count: 1 };
    await assert.rejects(sdk().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'pcm' }), (e) => e instanceof OpenAI.InternalServerError && e.error?.type === 'server_error');
    oa.fault = { kind: 'stall', count: 1 };
    await assert.rejects(sdk({ timeout: 400 }).audio.transcriptions.create({ file: wav(), model: 'whisper-1' }), (e) => e instanceof OpenAI.APIConnectionTimeoutError);
    oa.fault = { kind: 'drop', after: 2, count: 1 };
    await assert.rejects(async () => {
      const res = await sdk().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'pcm' });
      for await (const p of res.body) void p;
    });
    oa.fault = { kind: 'drop', after: 2, count: 1 };
    await assert.rejects(async () => {
      for await (const ch of await sdk().chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] })) void ch;
    });
    oa.fault = { kind: 'trickle', chunkMs: 100, count: 1 };
    oa.timing.firstMs = 200;
    try {
      const t0 = Date.now();
      const res = await sdk().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'pcm' });
      const at = [];
      for await (const p of res.body) at.push(Date.now() - t0);
      assert.ok(at[0] >= 190, `first audio after ${at[0]} ms`);
      assert.ok(at.at(-1) - at[0] >= 300, `spread over ${at.at(-1) - at[0]} ms`);
    } finally {
      oa.timing.firstMs = 0;
      oa.fault = null;
    }
  });
});

describe('serve.mjs', () => {
  test('a process of stand-ins for bash: the URLs on one line, faults and the log through /__standin/', async () => {
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [new URL('../standins/serve.mjs', import.meta.url).pathname, '--options', '{"deepgram":{"transcript":"From bash."}}', 'deepgram', 'openai', 'realtime', 'elevenlabs', 'cartesia'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise((resolve, reject) => {
        let buf = '';
        p.stdout.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) resolve(buf.split('\n')[0]);
        });
        p.on('exit', (code) => reject(new Error(`serve.mjs exited ${code}`)));
      });
      const s = JSON.parse(line);
      assert.deepEqual(Object.keys(s), ['deepgram', 'openai', 'realtime', 'elevenlabs', 'cartesia']);
      assert.match(s.openai.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      assert.match(s.deepgram.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
      const ctl = `http://127.0.0.1:${s.deepgram.port}/__standin`;
      const r = await fetch(`${ctl}/fault`, { method: 'POST', body: JSON.stringify({ kind: 'status', status: 500, count: 1 }) });
      assert.equal(r.status, 200);
      const c = client(`${s.deepgram.url}/v1/listen?encoding=mulaw&sample_rate=8000`, { headers: { Authorization: `Token ${s.deepgram.key}` } });
      assert.equal((await c.opened.then(() => null, (x) => x))?.status, 500);
      const ok = client(`${s.deepgram.url}/v1/listen?encoding=mulaw&sample_rate=8000&endpointing=100`, { headers: { Authorization: `Token ${s.deepgram.key}` } });
      await ok.opened;
      await realtime((p) => ok.send(p), ulawUtterance(100, 400, 300), 800);
      assert.equal((await ok.next((m) => m.type === 'Results' && m.is_final)).channel.alternatives[0].transcript, 'From bash.');
      ok.ws.close();
      const log = await (await fetch(`${ctl}/log`)).json();
      assert.deepEqual(log.filter((e) => e.kind === 'connect').map((e) => e.refused ?? 'ok'), [500, 'ok']);
      await fetch(`http://127.0.0.1:${s.openai.port}/__standin/timing`, { method: 'POST', body: JSON.stringify({ paths: { '/v1/models': { firstMs: 0 } } }) });
      const oaLog = await (await fetch(`http://127.0.0.1:${s.openai.port}/__standin/log`)).json();
      assert.deepEqual(oaLog, []);
    } finally {
      p.kill('SIGTERM');
    }
  });
});
