// The built-in agent on Deepgram's live speech to text (stt_provider
// deepgram) through the Deepgram stand-in: see stt_streaming.mjs.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, waitUntil, tmpDir } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { suite, utterance, HEARD } from './stt_streaming.mjs';
import { startDeepgramStandIn } from '../standins/deepgram.mjs';
import { startOpenAIStandIn, REPLY, TONE_HZ } from '../standins/openai.mjs';

suite('deepgram', {
  key: 'dg-stream-key-0123456789abcdef',
  idleMs: 4000,
  keepalive: true,
  start() {
    return startDeepgramStandIn({ key: this.key, transcript: HEARD, idleMs: this.idleMs, log: path.join(tmpDir(), 'deepgram.jsonl') });
  },
  url: (s) => s.httpURL,
  script: (s, texts) => s.script.splice(0, s.script.length, ...texts),
  ends: (s, from) => s.of('in').filter((e) => e.type === 'Finalize' && e.at >= from).length,
  // the audio the socket carried by the turn's last Finalize (the call's
  // own socket: nothing before the turn)
  audioSecs: (s, from) => s.of('in').filter((e) => e.type === 'Finalize' && e.at >= from).at(-1).t,
  busy: /Too many requests/,
  refusal: /Invalid credentials/,
  checkConnect(c) {
    assert.equal(c.path, '/v1/listen');
    assert.equal(c.query.encoding, 'mulaw');
    assert.equal(c.query.sample_rate, '8000');
    assert.equal(c.query.channels, '1');
    assert.equal(c.query.interim_results, 'true');
    assert.equal(c.query.model, 'nova-3');
    assert.equal(c.query.language, 'en');
    assert.ok(Number(c.query.endpointing) > 0, `endpointing ${c.query.endpointing}`);
    assert.ok(Number(c.query.utterance_end_ms) >= 1000, `utterance_end_ms ${c.query.utterance_end_ms}`);
  },
  checkTurn(s) {
    const fin = s.of('in').filter((e) => e.type === 'Finalize');
    assert.ok(fin.length >= 1, 'Finalize at the end of the turn');
    const out = s.of('out').filter((e) => e.type === 'Results');
    assert.ok(out.some((e) => e.is_final === false), 'interim results came');
    assert.ok(out.some((e) => e.is_final && e.transcript === HEARD), 'the final');
  },
});


// Preemptive generation (preemptive_generation, on by default) with the
// LLM brain: the stand-ins answer in the density benchmark's time (the
// final 150 ms after the speech, the first token 300 ms after the
// request, the first audio 150 ms after its), so the final is in before
// the VAD's STOP (240 ms after the speech). The LLM is asked then, and
// its reply is not voiced or played before STOP.
describe('preemptive generation on deepgram with the LLM brain', { timeout: 120000 }, () => {
  const KEY = 'dg-preempt-key-0123456789abcdef';
  const OA_KEY = 'sk-preempt-key-1a2b3c4d5e6f';
  let server;
  let stt;
  let oa;
  let phone;

  before(async () => {
    stt = await startDeepgramStandIn({ key: KEY, transcript: HEARD, timing: { finalAfterSpeechMs: 150 }, log: path.join(tmpDir(), 'deepgram-preempt.jsonl') });
    oa = await startOpenAIStandIn({
      key: OA_KEY,
      timing: { paths: { '/v1/chat/completions': { firstMs: 300 }, '/v1/audio/speech': { firstMs: 150 } } },
      log: path.join(tmpDir(), 'openai-preempt.jsonl'),
    });
    server = await startServer({
      agent: 'pipeline',
      defaultRoute: true,
      args: [
        '--agent_workers', '1',
        '--brain', 'llm',
        '--llm_base_url', oa.baseURL,
        '--llm_api_key', OA_KEY,
        '--greeting_text', 'Hello.',
        '--stt_provider', 'deepgram',
        '--stt_url', stt.httpURL,
        '--stt_api_key', KEY,
        '--stt_language', 'en',
        '--tts_provider', 'openai',
        '--tts_url', oa.baseURL,
        '--tts_api_key', OA_KEY,
      ],
    });
    await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
  });

  after(async () => {
    try {
      if (phone) await phone.hangup().catch(() => {});
      await stt?.stop();
      await oa?.close();
    } finally {
      if (server && !server.exited) await server.stop();
    }
  });

  test('the LLM is asked before STOP; the reply is voiced and played after it', async () => {
    const words = await utterance();
    phone = new Phone(server, { number: '+15550008104', toneHz: 0 });
    const t0 = Date.now();
    await phone.call();
    await waitUntil(() => oa.to('/v1/audio/speech').length > 0, { timeoutMs: 15000, what: 'the greeting' });
    await waitUntil(() => phone.heard.some((h) => h.at >= t0 && toneShare(h.pcm, 8000, TONE_HZ) > 0.5), { timeoutMs: 15000, what: 'the greeting heard' });
    await waitUntil(() => Date.now() - phone.heard.filter((h) => toneShare(h.pcm, 8000, TONE_HZ) > 0.5).at(-1).at > 800, { timeoutMs: 20000, what: 'the greeting ends' });
    const n = server.events('turn').length;
    const spoken = await phone.say(words);
    const t = await waitUntil(() => server.events('turn')[n], { timeoutMs: 15000, what: 'the turn' });
    assert.equal(t.transcript, HEARD);
    assert.equal(t.reply, REPLY);
    assert.equal(t.error, '');
    assert.equal(t.preemptive, 'used');
    const stop = server.events('vad').find((e) => e.vad === 'stop' && Date.parse(e.ts) >= spoken.start);
    assert.ok(stop, 'the server\'s STOP');
    const stopAt = Date.parse(stop.ts);
    const chats = oa.to('/v1/chat/completions').filter((r) => r.at >= spoken.start);
    assert.equal(chats.length, 1, 'one request for the turn');
    assert.equal(chats[0].messages.at(-1).content, HEARD);
    const voiced = oa.to('/v1/audio/speech').filter((r) => r.at >= spoken.start);
    const played = phone.heard.find((h) => h.at >= spoken.start && toneShare(h.pcm, 8000, TONE_HZ) > 0.5);
    const speaking = server.events('agent_speaking').at(-1);
    console.log(`# chat asked ${stopAt - chats[0].at} ms before STOP; voiced ${voiced[0].at - stopAt} ms and heard ${played.at - stopAt} ms after it; voice to voice ${speaking.voice_to_voice_ms} ms`);
    assert.ok(chats[0].at < stopAt, `the LLM asked ${chats[0].at - stopAt} ms after STOP`);
    assert.ok(voiced.length >= 1 && voiced[0].at >= stopAt, 'the reply voiced before STOP');
    assert.ok(played.at >= stopAt, 'the reply played before STOP');
    const metrics = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.match(metrics, /^voxgate_agent_preemptive_total\{outcome="used"\} 1$/m);
    assert.match(metrics, /^voxgate_agent_preemptive_total\{outcome="discarded"\} 0$/m);
  });
});
