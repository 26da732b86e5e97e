// The built-in agent speaking through a streaming TTS WebSocket
// (tts_provider elevenlabs or cartesia), each against its stand-in
// (tests/integration/standins/elevenlabs.mjs, cartesia.mjs), which speaks a
// tone of msPerChar ms per character. The STT is the OpenAI stand-in (a
// scripted transcript), the brain an LLM stand-in here that streams a
// reply of three sentences, a piece every PIECE_MS. Used by
// elevenlabs.test.mjs and cartesia.test.mjs:
// - the greeting and a reply are the provider's tone, as long as their
//   text says, the first audio heard before the last was sent; the reply's
//   clauses reach the provider one by one while the LLM still writes;
// - barge-in: the reply stops, the provider's socket stays (Cartesia: the
//   context is cancelled; ElevenLabs: its contexts, already closed, run
//   out unheard), and no clause of the cut reply is sent after it;
// - faults, each on a new call's socket: refused key, socket dropped
//   mid-greeting, stall past tts_timeout, the provider's error message:
//   a tts_failed line, the embedded voice's apology, then a turn in the
//   provider's voice (the call goes on);
// - the provider refusing the upgrade with 503 (overloaded) while a call
//   goes on: the greeting and a turn's reply apologised for in the
//   embedded voice, the turn line saying the voice failed, the socket
//   tried again with a growing backoff, and once the provider takes it
//   again the next reply is in its voice;
// - a call whose socket stalls does not delay another call's greeting on
//   the same worker;
// - no key in the log.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, waitUntil, sleep, tmpDir, run } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { startOpenAIStandIn, TRANSCRIPT } from '../standins/openai.mjs';

const NUMBER = '+15550008002';
const STT_KEY = 'sk-stt-stream-key-1a2b3c4d5e';
const GREETING = 'Hello from the streaming voice.';
const WORDS = 'What are your opening hours?';
const REPLY = ['Our hours', ' are nine to five', ' on weekdays.', ' On Saturdays', ' we open at ten', ' and close at two.', ' Anything else', ' I can help with today?'];
const PIECE_MS = 150;
const MS_PER_CHAR = 30;

async function utterance() {
  const wav = path.join(tmpDir(), 'tts-stream-words.wav');
  const raw = path.join(tmpDir(), 'tts-stream-words.s16');
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

// An OpenAI-compatible chat-completions stand-in streaming REPLY a piece
// every PIECE_MS; each request's start and end times are kept.
async function startLLM() {
  const requests = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      const r = { start: Date.now(), end: null };
      requests.push(r);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const p of REPLY) {
        if (res.destroyed) return;
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: p } }] })}\n\n`);
        await sleep(PIECE_MS);
      }
      r.end = Date.now();
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, requests, close: () => new Promise((r) => server.close(r)) };
}

const rms = (pcm) => {
  let e = 0;
  for (const x of pcm) e += x * x;
  return pcm.length ? Math.sqrt(e / pcm.length) : 0;
};

// p: {name, start (the stand-in's start function), key, env (its key
// variable), toneHz, texts(standin, t0) (the clause texts it was given
// after t0, in order), cancelled(standin, t0) (what a barge-in after t0
// left in its log)}
export function streamingSuite(p) {
  describe(`the agent on ${p.name}'s streaming TTS`, { timeout: 200000 }, () => {
    let server;
    let stt;
    let tts;
    let llm;
    let words;
    const phones = [];

    const loud = (ph, t0) => ph.heard.filter((h) => h.at >= t0 && h.pcm.length >= 80 && rms(h.pcm) > 500);
    const toneFrames = (ph, t0) => loud(ph, t0).filter((h) => toneShare(h.pcm, 8000, p.toneHz) > 0.5);
    const speechFrames = (ph, t0) => loud(ph, t0).filter((h) => toneShare(h.pcm, 8000, p.toneHz) < 0.2);
    const quiet = async (ph, t0, what, ms = 800) => {
      await waitUntil(() => loud(ph, t0).length > 0, { timeoutMs: 15000, what: `${what}: the agent speaks` });
      await waitUntil(() => Date.now() - loud(ph, t0).at(-1).at > ms, { timeoutMs: 30000, what: `${what}: the agent ends` });
    };
    const turns = () => server.events('turn');
    const call = async () => {
      const ph = new Phone(server, { number: NUMBER, toneHz: 0 });
      phones.push(ph);
      const t0 = Date.now();
      await ph.call();
      return { ph, t0 };
    };
    // the call goes on: the next reply starts in the provider's voice
    const turnWorks = async (ph, what) => {
      const spoken = await ph.say(words);
      await waitUntil(() => toneFrames(ph, spoken.end).length * 20 >= 600, { timeoutMs: 15000, what: `${what}: the reply in the provider's voice` });
    };
    // a new call whose socket meets fault: the greeting fails, the embedded
    // voice apologises, and the call goes on
    const faultCall = async (fault, check) => {
      const failed = server.events('tts_failed').length;
      tts.fault = { ...fault, count: 1 };
      const { ph, t0 } = await call();
      const line = await waitUntil(() => server.events('tts_failed')[failed], { timeoutMs: 15000, what: 'a tts_failed line' });
      assert.equal(line.provider, p.name);
      assert.equal(line.stage, 'tts');
      await waitUntil(() => speechFrames(ph, t0).length * 20 >= 1000, { timeoutMs: 15000, what: 'the embedded apology' });
      await quiet(ph, t0, 'the apology');
      check(line, ph, t0);
      await turnWorks(ph, 'after the fault');
      await ph.hangup().catch(() => {});
    };

    before(async () => {
      words = await utterance();
      stt = await startOpenAIStandIn({ key: STT_KEY, log: path.join(tmpDir(), `${p.name}-stt.jsonl`) });
      tts = await p.start({ key: p.key, msPerChar: MS_PER_CHAR, timing: { chunkMs: 80 }, log: path.join(tmpDir(), `${p.name}-tts.jsonl`) });
      llm = await startLLM();
      server = await startServer({
        agent: 'pipeline',
        defaultRoute: true,
        env: { [p.env]: p.key },
        args: [
          '--agent_workers', '1',
          '--brain', 'llm',
          '--llm_base_url', llm.url,
          '--greeting_text', GREETING,
          '--stt_provider', 'openai',
          '--stt_url', stt.baseURL,
          '--stt_api_key', STT_KEY,
          '--stt_timeout', '3s',
          '--tts_provider', p.name,
          '--tts_url', tts.url,
          '--tts_timeout', '1500ms',
          // a node timer late under load leaves a gap in the caller's
          // RTP: the default 0.25 s would end the turn inside the sentence
          '--vad_stop_secs', '0.6',
        ],
      });
      await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
    });

    after(async () => {
      try {
        for (const ph of phones) await ph.hangup().catch(() => {});
        await stt?.close();
        await tts?.stop();
        await llm?.close();
      } finally {
        if (server && !server.exited) await server.stop();
      }
    });

    test('the greeting and a reply are the provider\'s voice, streamed clause by clause as the LLM writes', async () => {
      const { ph, t0 } = await call();
      await quiet(ph, t0, 'greeting');
      const conn = tts.of('connect');
      assert.equal(conn.length, 1, `one socket for the call: ${JSON.stringify(conn)}`);
      p.checkConnect(conn[0]);
      assert.deepEqual(p.texts(tts, t0), [GREETING]);
      const greet = toneFrames(ph, t0).length * 20;
      const want = (GREETING.length + 1) * MS_PER_CHAR;
      assert.ok(greet >= want * 0.8 && greet <= want * 1.25, `the greeting's tone: ${greet} ms heard, ${want} ms said`);

      const spoken = await ph.say(words);
      const turn = await waitUntil(() => turns()[0], { timeoutMs: 20000, what: 'the first turn' });
      await quiet(ph, spoken.end, 'reply');
      assert.equal(turn.transcript, TRANSCRIPT);
      assert.equal(turn.interrupted, 'false', `the reply was not cut: ${JSON.stringify(turn)}`);
      assert.equal(turn.reply, REPLY.join(''));
      assert.equal(turn.error, '');
      assert.ok(Number(turn.tts_ms) >= 0 && Number(turn.tts_ms) < 1000, `tts_ms ${turn.tts_ms}`);
      // each clause given as it was complete, the first long before the
      // LLM's reply was
      const given = p.texts(tts, spoken.end);
      assert.equal(given.join(' ').replace(/\s+/g, ' ').trim(), REPLY.join('').trim());
      assert.ok(given.length >= 3, `clauses: ${JSON.stringify(given)}`);
      const req = llm.requests.at(-1);
      const firstIn = p.textTimes(tts, spoken.end)[0];
      assert.ok(firstIn < req.end - 2 * PIECE_MS, `the first clause reached the provider ${req.end - firstIn} ms before the LLM's end`);
      // all of it heard, the first audio before the stand-in sent the last
      const heard = toneFrames(ph, spoken.end);
      const want2 = (REPLY.join('').trim().length + given.length) * MS_PER_CHAR;
      assert.ok(heard.length * 20 >= want2 * 0.8 && heard.length * 20 <= want2 * 1.25, `the reply's tone: ${heard.length * 20} ms heard, ${want2} ms said`);
      const lastOut = tts.of('out').filter((e) => e.bytes).at(-1).at;
      assert.ok(heard[0].at < lastOut - 1000, `first audio heard ${lastOut - heard[0].at} ms before the last was sent`);
      assert.equal(tts.of('connect').length, 1, 'the same socket');

      // barge-in: the caller talks over the next reply
      const n = turns().length;
      const sp2 = await ph.say(words);
      await waitUntil(() => toneFrames(ph, sp2.end).length * 20 >= 600, { timeoutMs: 15000, what: 'the second reply heard' });
      const bi = server.events('barge_in').length;
      const cut = Date.now();
      const sp3 = ph.say(words);
      await waitUntil(() => server.events('barge_in').length > bi, { timeoutMs: 10000, intervalMs: 20, what: 'a barge_in line' });
      const tbi = Date.now();
      const t2 = await waitUntil(() => turns()[n], { timeoutMs: 10000, what: 'the cut turn' });
      assert.equal(t2.interrupted, 'true');
      const over = await sp3;
      // nothing more of the cut reply is heard: quiet until the caller's
      // words are over and the agent answers them
      const late = toneFrames(ph, tbi + 400).filter((h) => h.at < over.end);
      assert.equal(late.length, 0, `${late.length * 20} ms of the cut reply heard after the barge-in`);
      const t3 = await waitUntil(() => turns()[n + 1], { timeoutMs: 20000, what: 'the turn after the barge-in' });
      assert.equal(t3.error, '');
      await quiet(ph, over.end, 'the reply after the barge-in');
      assert.ok(toneFrames(ph, over.end).length * 20 >= 3000, 'the reply after the barge-in heard');
      p.cancelled(tts, sp2.end, tbi);
      assert.equal(tts.of('connect').length, 1, 'barge-in kept the socket');
      await ph.hangup();
    });

    test('refused key: the embedded voice apologises for the greeting; the call goes on', async () => {
      await faultCall({ kind: 'auth' }, (line, ph, t0) => {
        assert.match(line.error, /key/i);
        // Cartesia refuses the upgrade; ElevenLabs closes the socket
        assert.equal(Number(line.status), p.name === 'cartesia' ? 401 : 0);
        assert.equal(toneFrames(ph, t0).length, 0, 'nothing in the provider\'s voice');
      });
    });

    test('socket dropped mid-greeting: its start heard, then the apology; the call goes on', async () => {
      await faultCall({ kind: 'drop', after: 4 }, (line, ph, t0) => {
        assert.ok(Number(line.audio_bytes) > 0, `audio before the drop: ${line.audio_bytes}`);
        const tone = toneFrames(ph, t0).length * 20;
        assert.ok(tone >= 60 && tone < 600, `the start of the greeting heard: ${tone} ms`);
      });
    });

    test('stall past tts_timeout: the apology; the call goes on', async () => {
      await faultCall({ kind: 'stall' }, (line) => {
        assert.match(line.error, /no audio within 1500 ms/);
        assert.ok(Number(line.elapsed_ms) >= 1400 && Number(line.elapsed_ms) < 3500, `elapsed ${line.elapsed_ms} ms`);
      });
    });

    test('the provider\'s error message: the apology; the call goes on', async () => {
      await faultCall({ kind: 'error' }, (line) => {
        assert.match(line.error, /internal_server_error|internal server error/i);
      });
    });

    test('the upgrade refused with 503: apologies, the turn line says so, retries with backoff; the call goes on once it is taken', async () => {
      const failed = server.events('tts_failed').length;
      const conns = tts.of('connect').length;
      const refused = () => tts.of('connect').slice(conns).filter((c) => c.refused === 503);
      tts.fault = { kind: 'status', status: 503 };
      let ph;
      try {
        const c = await call();
        ph = c.ph;
        const greet = await waitUntil(() => server.events('tts_failed')[failed], { timeoutMs: 15000, what: 'the greeting\'s tts_failed' });
        assert.equal(greet.provider, p.name);
        assert.equal(Number(greet.status), 503);
        await waitUntil(() => speechFrames(ph, c.t0).length * 20 >= 1000, { timeoutMs: 15000, what: 'the embedded apology for the greeting' });
        await quiet(ph, c.t0, 'the apology');
        assert.equal(toneFrames(ph, c.t0).length, 0, 'nothing in the provider\'s voice');
        // tried again and again, each wait longer (a jittered doubling:
        // the third wait is at least twice the first)
        await waitUntil(() => refused().length >= 4, { timeoutMs: 10000, what: 'the socket tried again' });
        const at = refused().map((e) => e.at);
        const gaps = at.slice(1).map((t, i) => t - at[i]);
        assert.ok(gaps[2] > gaps[0] && gaps.every((g) => g <= 8000 * 1.5), `the backoff grows: ${gaps}`);
        // a turn while it refuses: its reply apologised for, the turn
        // line says the voice failed
        const n = turns().length;
        const spoken = await ph.say(words);
        const t = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
        assert.match(t.error, /^tts: /);
        assert.equal(t.tts, p.name);
        const line = server.events('tts_failed').at(-1);
        assert.equal(Number(line.status), 503);
        assert.match(line.error, /503|internal server error/i);
        await waitUntil(() => speechFrames(ph, spoken.end).length * 20 >= 1000, { timeoutMs: 15000, what: 'the embedded apology for the reply' });
        await quiet(ph, spoken.end, 'the apology');
        assert.equal(toneFrames(ph, spoken.end).length, 0, 'nothing in the provider\'s voice');
        // the provider takes the socket again: the call goes on in its voice
        tts.fault = null;
        const before = tts.of('connect').length;
        await waitUntil(() => tts.of('connect').slice(before).some((e) => !e.refused), { timeoutMs: 10000, what: 'a socket taken' });
        await turnWorks(ph, 'after the refusals');
      } finally {
        tts.fault = null;
        await ph?.hangup().catch(() => {});
      }
    });

    test('one call\'s stalled provider socket does not delay another call', async () => {
      const failed = server.events('tts_failed').length;
      const conns = tts.of('connect').length;
      tts.fault = { kind: 'stall', count: 1 };
      const a = await call();
      await waitUntil(() => tts.of('connect').length > conns, { what: 'the first call\'s socket' });
      const b = await call();
      // the second call's greeting is heard at once, in the provider's
      // voice, while the first waits out its tts_timeout
      await waitUntil(() => toneFrames(b.ph, b.t0).length * 20 >= 600, { timeoutMs: 5000, what: 'the second call\'s greeting' });
      const first = toneFrames(b.ph, b.t0)[0].at;
      assert.ok(first - b.t0 < 1200, `the second call's greeting ${first - b.t0} ms after its call`);
      const line = await waitUntil(() => server.events('tts_failed')[failed], { timeoutMs: 10000, what: 'the first call\'s tts_failed' });
      assert.match(line.error, /no audio within 1500 ms/);
      assert.equal(server.events('tts_failed').length, failed + 1, 'only the stalled call failed');
      assert.equal(toneFrames(a.ph, a.t0).length, 0, 'the stalled call heard nothing of the provider');
      await waitUntil(() => speechFrames(a.ph, a.t0).length * 20 >= 1000, { timeoutMs: 15000, what: 'the first call\'s apology' });
      await a.ph.hangup().catch(() => {});
      await b.ph.hangup().catch(() => {});
    });

    test('no key in the log', async () => {
      const log = server.log();
      for (const k of [p.key, STT_KEY]) assert.ok(!log.includes(k), 'a key in the server\'s log');
    });
  });
}
