// The built-in agent with OpenAI-compatible speech providers: stt_provider
// and tts_provider openai, each pointed at its own OpenAI stand-in
// (tests/integration/standins/openai.mjs), the echo brain between. A phone
// (phone.mjs) calls; the greeting and every reply are the TTS stand-in's
// 600 Hz tone; the caller says a sentence rendered by espeak-ng, the STT
// stand-in gets it as an 8 kHz WAV and answers its scripted transcript,
// which the echo brain says back. Then, on the same call, one fault at a
// time, each followed by the call going on:
// - the TTS provider refuses the key (401): the agent apologises in the
//   embedded voice (speech, not the tone);
// - the STT provider answers 500: the agent asks the caller to say it
//   again, in the network voice (the tone);
// - the STT provider stalls past stt_timeout: the same;
// - the TTS provider drops its socket mid-stream: the caller heard the
//   start of the tone, then the embedded voice's apology;
// - the TTS provider stalls past tts_timeout: the embedded apology;
// - another server whose worker has the wrong TTS key: the greeting is
//   refused and the embedded voice apologises;
// - another server with tts_format wav and a TTS stand-in that answers
//   WAV at 16 kHz, as a Piper server does: the greeting and the reply are
//   the tone at its pitch (the header's rate used), streamed.
// The keys are never in the server's log nor in /metrics.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitUntil, sleep, tmpDir, run, stageMetrics, STAGES } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { startOpenAIStandIn, TRANSCRIPT, TONE_HZ } from '../standins/openai.mjs';

const NUMBER = '+15550008001';
const STT_KEY = 'sk-stt-test-key-8f3a1c9e7b';
const TTS_KEY = 'sk-tts-test-key-4d2e6b0a5c';
const GREETING = 'Hello from the network voice.';
const WORDS = 'What are your opening hours?';

async function utterance() {
  const wav = path.join(tmpDir(), 'providers-words.wav');
  const raw = path.join(tmpDir(), 'providers-words.s16');
  let r = await run('espeak-ng', ['-w', wav, WORDS]);
  assert.equal(r.code, 0, `espeak-ng: ${r.stderr}`);
  r = await run('sox', [wav, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw', raw]);
  assert.equal(r.code, 0, `sox: ${r.stderr}`);
  const buf = fs.readFileSync(raw);
  const pcm = new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
  let a = 0;
  let b = pcm.length;
  while (a < b && Math.abs(pcm[a]) < 300) a++;
  while (b > a && Math.abs(pcm[b - 1]) < 300) b--;
  return Int16Array.from(pcm.subarray(a, b));
}

const rms = (pcm) => {
  let e = 0;
  for (const x of pcm) e += x * x;
  return pcm.length ? Math.sqrt(e / pcm.length) : 0;
};
// frames heard after t0 with sound, split into the stand-in's tone and the
// rest (speech)
const loud = (phone, t0) => phone.heard.filter((h) => h.at >= t0 && h.pcm.length >= 80 && rms(h.pcm) > 500);
const toneFrames = (phone, t0) => loud(phone, t0).filter((h) => toneShare(h.pcm, 8000, TONE_HZ) > 0.5);
const speechFrames = (phone, t0) => loud(phone, t0).filter((h) => toneShare(h.pcm, 8000, TONE_HZ) < 0.2);

describe('the agent on OpenAI-compatible STT and TTS', { timeout: 180000 }, () => {
  let server;
  let stt;
  let tts;
  let phone;
  let words;

  // Waits until the agent has said something after t0 and then been quiet
  // for 800 ms.
  const quiet = async (t0, what) => {
    await waitUntil(() => loud(phone, t0).length > 0, { timeoutMs: 15000, what: `${what}: the agent speaks` });
    await waitUntil(() => Date.now() - loud(phone, t0).at(-1).at > 800, { timeoutMs: 20000, what: `${what}: the agent ends` });
  };
  const turns = () => server.events('turn');
  const say = async () => phone.say(words);
  // what the network voice was asked to say after t0, all clauses
  // a worker on the echo brain, the STT stand-in and the TTS one at url
  const providers = (url) => [
    '--agent_workers', '1',
    '--brain', 'echo',
    '--greeting_text', GREETING,
    '--stt_provider', 'openai',
    '--stt_url', stt.baseURL,
    '--stt_api_key', STT_KEY,
    '--tts_provider', 'openai',
    '--tts_url', url,
    '--tts_api_key', TTS_KEY,
  ];
  const asked = (t0) => tts.to('/v1/audio/speech').filter((r) => r.at >= t0).map((r) => r.input).join(' ');

  before(async () => {
    words = await utterance();
    stt = await startOpenAIStandIn({ key: STT_KEY, log: path.join(tmpDir(), 'openai-stt.jsonl') });
    // the speech in pieces of 100 ms, 40 ms apart: a drop is mid-stream
    tts = await startOpenAIStandIn({ key: TTS_KEY, toneMs: 1500, timing: { chunkMs: 40 }, log: path.join(tmpDir(), 'openai-tts.jsonl') });
    server = await startServer({
      agent: 'pipeline',
      defaultRoute: true,
      args: [
        ...providers(tts.baseURL),
        '--stt_language', 'en',
        '--stt_timeout', '2s',
        '--tts_model', 'tts-1',
        '--tts_voice', 'nova',
        '--tts_timeout', '1500ms',
      ],
    });
    await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
  });

  after(async () => {
    try {
      if (phone) await phone.hangup().catch(() => {});
      await stt?.close();
      await tts?.close();
    } finally {
      if (server && !server.exited) await server.stop();
    }
  });

  test('a settings error: an unknown provider is refused at start, naming those that exist', async () => {
    const bin = process.env.VOXGATE_BIN;
    const r = await run(bin, ['agent', '--agent_server', 'ws://127.0.0.1:9/agent', '--agent_token', 'x', '--stt_provider', 'deepgramm']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /stt_provider: "deepgramm" is not a speech to text provider voxgate has \(pocketsphinx, openai, deepgram, openai-realtime\)/);
  });

  test('the greeting and the reply are the network voice; the caller\'s words reach the brain through the network recogniser', async () => {
    phone = new Phone(server, { number: NUMBER, toneHz: 0 });
    const t0 = Date.now();
    await phone.call();
    await quiet(t0, 'greeting');
    const greet = tts.to('/v1/audio/speech')[0];
    assert.ok(greet, 'a speech request');
    assert.equal(greet.input, GREETING);
    assert.equal(greet.model, 'tts-1');
    assert.equal(greet.voice, 'nova');
    assert.equal(greet.response_format, 'pcm');
    assert.equal(greet.authOk, true);
    assert.ok(toneFrames(phone, t0).length * 20 >= 1000, `the greeting's tone heard: ${toneFrames(phone, t0).length * 20} ms`);

    const spoken = await say();
    const turn = await waitUntil(() => turns()[0], { timeoutMs: 15000, what: 'the first turn' });
    await quiet(spoken.end, 'reply');
    const tr = stt.to('/v1/audio/transcriptions');
    assert.equal(tr.length, 1, `one transcription request: ${JSON.stringify(tr)}`);
    assert.equal(tr[0].authOk, true);
    assert.equal(tr[0].model, 'whisper-1');
    assert.equal(tr[0].response_format, 'json');
    assert.equal(tr[0].language, 'en');
    assert.equal(tr[0].wav?.rate, 8000);
    assert.ok(tr[0].wav.seconds >= 1 && tr[0].wav.seconds < 6, `the utterance's audio: ${tr[0].wav.seconds} s`);
    assert.ok(tr[0].wav.rms > 300, `the utterance is speech: rms ${tr[0].wav.rms}`);
    assert.equal(turn.transcript, TRANSCRIPT);
    assert.equal(turn.reply, `You said: ${TRANSCRIPT}`);
    assert.ok(Number(turn.stt_ms) >= 0 && Number(turn.stt_ms) < 2000, `stt_ms ${turn.stt_ms}`);
    assert.ok(Number(turn.tts_ms) >= 0 && Number(turn.tts_ms) < 3000, `tts_ms ${turn.tts_ms}`);
    // the reply's clauses, each a request
    const said = tts.to('/v1/audio/speech').filter((r) => r.at >= spoken.end);
    assert.equal(said.map((r) => r.input).join(' '), `You said: ${TRANSCRIPT}`);
    const reply = said[0];
    const heard = toneFrames(phone, spoken.end);
    assert.ok(heard.length * 20 >= 1000, `the reply's tone heard: ${heard.length * 20} ms`);
    // streamed: the first audio played before the stand-in sent the last
    // chunk (1.5 s of tone in 15 chunks 40 ms apart)
    assert.ok(heard[0].at - reply.at < 560, `first audio ${heard[0].at - reply.at} ms after the request`);
  });

  test('TTS refuses the key: the embedded voice apologises, and the call goes on', async () => {
    tts.fault = { kind: 'auth', count: 1 };
    const n = turns().length;
    const spoken = await say();
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(spoken.end, 'apology');
    assert.match(turn.error, /^tts: /);
    const line = await waitUntil(() => server.events('tts_failed').at(-1), { what: 'a tts_failed line' });
    assert.equal(Number(line.status), 401);
    assert.equal(line.stage, 'tts');
    assert.match(line.error, /Incorrect API key/);
    assert.equal(toneFrames(phone, spoken.end).length, 0, 'no tone: the network voice said nothing');
    assert.ok(speechFrames(phone, spoken.end).length * 20 >= 1000, `the embedded apology heard: ${speechFrames(phone, spoken.end).length * 20} ms`);
  });

  test('STT answers 500: the agent asks again in the network voice, and the call goes on', async () => {
    stt.fault = { kind: 'status', status: 500, count: 1 };
    const n = turns().length;
    const spoken = await say();
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(spoken.end, 'apology');
    assert.match(turn.error, /^stt: /);
    const line = server.events('stt_failed').at(-1);
    assert.equal(Number(line.status), 500);
    assert.match(line.error, /HTTP 500: The server had an error/);
    assert.match(asked(spoken.end), /did not catch that/);
    assert.ok(toneFrames(phone, spoken.end).length * 20 >= 1000, 'the apology in the network voice');
  });

  test('STT stalls past stt_timeout: the agent asks again, and the call goes on', async () => {
    stt.fault = { kind: 'stall', count: 1 };
    const n = turns().length;
    const spoken = await say();
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(spoken.end, 'apology');
    assert.match(turn.error, /^stt: /);
    const line = server.events('stt_failed').at(-1);
    assert.match(line.error, /timed out/);
    assert.ok(Number(line.elapsed_ms) >= 1900 && Number(line.elapsed_ms) < 4000, `elapsed ${line.elapsed_ms} ms`);
    assert.match(asked(spoken.end), /did not catch that/);
  });

  test('TTS drops mid-stream: the start was heard, then the embedded apology, and the call goes on', async () => {
    tts.fault = { kind: 'drop', after: 4, count: 1 };
    const n = turns().length;
    const spoken = await say();
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(spoken.end, 'apology');
    assert.match(turn.error, /^tts: /);
    const line = server.events('tts_failed').at(-1);
    assert.equal(Number(line.status), 200);
    assert.match(line.error, /Protocol error|closed|transfer/i);
    assert.ok(Number(line.audio_bytes) > 0, `audio came before the drop: ${line.audio_bytes}`);
    const tone = toneFrames(phone, spoken.end).length * 20;
    assert.ok(tone >= 100 && tone < 1000, `the start of the tone heard: ${tone} ms`);
    assert.ok(speechFrames(phone, spoken.end).length * 20 >= 1000, 'the embedded apology heard');
  });

  test('TTS stalls past tts_timeout: the embedded apology, and the call goes on', async () => {
    tts.fault = { kind: 'stall', count: 1 };
    const n = turns().length;
    const spoken = await say();
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(spoken.end, 'apology');
    assert.match(turn.error, /^tts: /);
    const line = server.events('tts_failed').at(-1);
    assert.ok(Number(line.elapsed_ms) >= 1400 && Number(line.elapsed_ms) < 3000, `elapsed ${line.elapsed_ms} ms`);
    assert.ok(speechFrames(phone, spoken.end).length * 20 >= 1000, 'the embedded apology heard');
  });

  test('a worker given the wrong TTS key: the greeting is refused and the embedded voice apologises', async () => {
    const WRONG = 'sk-wrong-tts-key-9e8d7c6b5a';
    const other = await startServer({
      agent: 'pipeline',
      defaultRoute: true,
      args: [
        '--agent_workers', '1',
        '--greeting_text', GREETING,
        '--tts_provider', 'openai',
        '--tts_url', tts.baseURL,
        '--tts_api_key', WRONG,
      ],
    });
    const p2 = new Phone(other, { number: NUMBER, toneHz: 0 });
    try {
      await waitUntil(() => other.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
      const before = tts.to('/v1/audio/speech').length;
      const t0 = Date.now();
      await p2.call();
      const line = await waitUntil(() => other.events('tts_failed')[0], { timeoutMs: 15000, what: 'a tts_failed line' });
      assert.equal(Number(line.status), 401);
      await waitUntil(() => speechFrames(p2, t0).length * 20 >= 1000, { timeoutMs: 15000, what: 'the embedded apology' });
      assert.equal(toneFrames(p2, t0).length, 0, 'nothing from the network voice');
      const refused = tts.to('/v1/audio/speech').slice(before);
      assert.ok(refused.length >= 1 && refused.every((r) => r.refused === 401 && r.authOk === false), JSON.stringify(refused));
      assert.ok(!other.log().includes(WRONG) && !other.log().includes(WRONG.slice(3)), 'the key in the log');
    } finally {
      await p2.hangup().catch(() => {});
      if (!other.exited) await other.stop();
    }
  });

  test('tts_format wav, a server answering WAV at 16 kHz: the caller hears the tone at its pitch, streamed; the turn line is right', async () => {
    const piper = await startOpenAIStandIn({ key: TTS_KEY, toneMs: 1500, wavRate: 16000, timing: { chunkMs: 80 } });
    const other = await startServer({
      agent: 'pipeline',
      defaultRoute: true,
      args: [...providers(piper.baseURL), '--tts_format', 'wav'],
    });
    const p2 = new Phone(other, { number: NUMBER, toneHz: 0 });
    const loud2 = (t0) => p2.heard.filter((h) => h.at >= t0 && h.pcm.length >= 80 && rms(h.pcm) > 500);
    const tone2 = (t0) => loud2(t0).filter((h) => toneShare(h.pcm, 8000, TONE_HZ) > 0.5);
    const quiet2 = async (t0, what) => {
      await waitUntil(() => loud2(t0).length > 0, { timeoutMs: 15000, what: `${what}: the agent speaks` });
      await waitUntil(() => Date.now() - loud2(t0).at(-1).at > 800, { timeoutMs: 20000, what: `${what}: the agent ends` });
    };
    try {
      await waitUntil(() => other.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
      const t0 = Date.now();
      await p2.call();
      await quiet2(t0, 'greeting');
      const greet = piper.to('/v1/audio/speech')[0];
      assert.equal(greet?.response_format, 'wav');
      assert.equal(greet.input, GREETING);
      // 1.5 s of 600 Hz at 16 kHz; taken for 24 kHz it would be 900 Hz
      assert.ok(tone2(t0).length * 20 >= 1000, `the greeting's tone heard: ${tone2(t0).length * 20} ms`);

      const spoken = await p2.say(words);
      const turn = await waitUntil(() => other.events('turn')[0], { timeoutMs: 15000, what: 'the turn' });
      await quiet2(spoken.end, 'reply');
      assert.equal(turn.transcript, TRANSCRIPT);
      assert.equal(turn.reply, `You said: ${TRANSCRIPT}`);
      assert.equal(turn.error, '');
      assert.equal(turn.tts, 'openai');
      assert.ok(Number(turn.tts_ms) >= 0 && Number(turn.tts_ms) < 3000, `tts_ms ${turn.tts_ms}`);
      const said = piper.to('/v1/audio/speech').filter((r) => r.at >= spoken.end);
      assert.ok(said.length >= 1 && said.every((r) => r.response_format === 'wav'), JSON.stringify(said));
      const heard = tone2(spoken.end);
      assert.ok(heard.length * 20 >= 1000, `the reply's tone heard: ${heard.length * 20} ms`);
      // streamed: the first audio before the last of 1.5 s in 150 ms
      // chunks 80 ms apart was sent (720 ms after the request)
      assert.ok(heard[0].at - said[0].at < 560, `first audio ${heard[0].at - said[0].at} ms after the request`);
      assert.equal(other.events('tts_failed').length, 0);
    } finally {
      await p2.hangup().catch(() => {});
      if (!other.exited) await other.stop();
      await piper.close();
    }
  });

  test('after the faults a turn works as before; no key in the log or /metrics', async () => {
    const n = turns().length;
    const spoken = await say();
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(spoken.end, 'reply');
    assert.equal(turn.transcript, TRANSCRIPT);
    assert.equal(turn.error, '');
    assert.ok(toneFrames(phone, spoken.end).length * 20 >= 1000, 'the reply in the network voice');
    // the stages' providers, in the turn line and as the histograms' labels
    assert.equal(turn.stt, 'openai');
    assert.equal(turn.brain, 'echo');
    assert.equal(turn.tts, 'openai');
    await sleep(200);
    const log = server.log();
    const mt = await stageMetrics(server, { stt: 'openai', brain: 'echo', tts: 'openai' });
    const metrics = mt.text;
    // every stage's figure, the echo brain's (it writes at once) too, and
    // no other label set (each series comes from a provider that did the
    // stage)
    for (const h of STAGES) assert.ok(mt[h].count >= 1 && mt[h].buckets, `${h} labelled {stt="openai",brain="echo",tts="openai"} in /metrics:\n${metrics.split('\n').filter((l) => l.startsWith(h)).join('\n')}`);
    assert.doesNotMatch(metrics, /_seconds_count\{stt="(?!openai")/);
    for (const k of [STT_KEY, TTS_KEY, STT_KEY.slice(3), TTS_KEY.slice(3)]) {
      assert.ok(!log.includes(k), `a key in the server's log`);
      assert.ok(!metrics.includes(k), `a key in /metrics`);
    }
  });
});
