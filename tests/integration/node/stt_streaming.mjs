// The built-in agent on a streaming recogniser, for stt_deepgram.test.mjs
// (stt_provider deepgram on the Deepgram stand-in,
// tests/integration/standins/deepgram.mjs) and stt_realtime.test.mjs
// (openai-realtime on the Realtime stand-in's transcription sessions,
// realtime.mjs): the echo brain, and the OpenAI stand-in as the voice
// (its 600 Hz tone; what it was asked to say is what the caller hears).
// A phone (phone.mjs) calls and says an espeak-ng sentence; the stand-in
// "hears" it by its energy and answers its scripted transcript, which the
// agent says back. Each provider, on one call:
// - the socket opens with the call, before the caller speaks, with the
//   documented query / session, and carries the turn (one socket for the
//   whole call);
// - (Deepgram) a long silence: KeepAlive keeps the socket past the
//   stand-in's idle close;
// - the socket is cut mid-utterance: the agent apologises, the socket
//   comes back, and the next turn goes through it;
// - a new socket that stalls: no final within stt_timeout, the apology,
//   and a new socket for the next turn;
// - hang-up: Deepgram gets CloseStream, the socket closes with 1000;
// then another call whose caller pauses mid-sentence, past the point
// where the turn is ended early but short of the stop window, and goes
// on: one turn whose transcript has both parts (the early segment's and
// the rest's), two ends on the socket (the pause's and the turn's), and
// the turn's audio sent once (what the socket carried is the turn with
// its pre-roll and stop window, not the turn and its start again);
// then another call while the provider refuses the key: the turn is
// apologised for, the log tells the provider's refusal, the key masked;
// then another while it refuses the upgrade with 429 (too many requests):
// the turn is apologised for and its line says the recogniser failed, the
// socket is tried again with a growing backoff, and once the provider
// takes it the next turn on the same call goes through.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitUntil, sleep, tmpDir, run, stageMetrics, STAGES } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { startOpenAIStandIn, TONE_HZ } from '../standins/openai.mjs';

const WORDS = 'What are your opening hours?';
export const HEARD = 'When do you open tomorrow?';
// the paused sentence, and what the stand-ins "hear" of its parts
const FIRST = 'I would like to book a table for two';
const REST = 'around nine tonight';
export const FIRST_HEARD = 'I would like a table for two';
export const REST_HEARD = 'around nine tonight.';
// The VAD hears 150 ms of silence between these as 8 unvoiced frames
// (`voxgate vad --frames`): past the early end, SPEC_LEAD_MIN_MS before
// STOP (the 7th frame), short of STOP (the 250 ms stop window's 12-13
// frames); the rest starts on a vowel, so the voice comes back at once.
// A loaded line can only lengthen the run (late packets are unvoiced).
const PAUSE_MS = 150;
const TTS_KEY = 'sk-tts-stream-key-1a2b3c4d5e';
const APOLOGY = /did not catch that/;

export async function utterance(text = WORDS, name = 'words') {
  const wav = path.join(tmpDir(), `streaming-${name}.wav`);
  const raw = path.join(tmpDir(), `streaming-${name}.s16`);
  let r = await run('espeak-ng', ['-w', wav, text]);
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
const loud = (phone, t0) => phone.heard.filter((h) => h.at >= t0 && h.pcm.length >= 80 && rms(h.pcm) > 500);
const toneFrames = (phone, t0) => loud(phone, t0).filter((h) => toneShare(h.pcm, 8000, TONE_HZ) > 0.5);

// One provider's run: opts.start() starts its stand-in, opts.args its
// settings; the checks that differ are in opts.
export function suite(name, opts) {
  describe(`the agent on ${name}`, { timeout: 240000 }, () => {
    let server;
    let stt;
    let tts;
    let phone;
    let words;
    let paused; // FIRST, PAUSE_MS of silence, REST

    const turns = () => server.events('turn');
    const asked = (t0) => tts.to('/v1/audio/speech').filter((r) => r.at >= t0).map((r) => r.input).join(' ');
    const quiet = async (p, t0, what) => {
      await waitUntil(() => loud(p, t0).length > 0, { timeoutMs: 15000, what: `${what}: the agent speaks` });
      await waitUntil(() => Date.now() - loud(p, t0).at(-1).at > 800, { timeoutMs: 20000, what: `${what}: the agent ends` });
    };
    // a turn: the phone says the words; resolves with the turn's log line
    // once the agent has answered and gone quiet
    const turn = async (p = phone, during, pcm = words) => {
      const n = turns().length;
      const saying = p.say(pcm);
      if (during) await during();
      const spoken = await saying;
      const t = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
      await quiet(p, spoken.end, 'the answer');
      return { t, spoken };
    };
    const connects = () => stt.of('connect');
    const opened = () => stt.of('connect').filter((c) => !c.refused);

    before(async () => {
      words = await utterance();
      const first = await utterance(FIRST, 'first');
      const rest = await utterance(REST, 'rest');
      paused = new Int16Array(first.length + PAUSE_MS * 8 + rest.length);
      paused.set(first);
      paused.set(rest, first.length + PAUSE_MS * 8);
      stt = await opts.start();
      tts = await startOpenAIStandIn({ key: TTS_KEY, log: path.join(tmpDir(), `${name}-tts.jsonl`) });
      server = await startServer({
        agent: 'pipeline',
        defaultRoute: true,
        args: [
          '--agent_workers', '1',
          '--brain', 'echo',
          '--greeting_text', 'Hello.',
          '--stt_provider', name,
          '--stt_url', opts.url(stt),
          '--stt_api_key', opts.key,
          '--stt_language', 'en',
          '--stt_timeout', '2s',
          '--tts_provider', 'openai',
          '--tts_url', tts.baseURL,
          '--tts_api_key', TTS_KEY,
        ],
      });
      await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
    });

    after(async () => {
      try {
        if (phone) await phone.hangup().catch(() => {});
        await stt?.stop();
        await tts?.close();
      } finally {
        if (server && !server.exited) await server.stop();
      }
    });

    test('the socket opens with the call; the caller\'s words come back through it', async () => {
      phone = new Phone(server, { number: '+15550008101', toneHz: 0 });
      const t0 = Date.now();
      await phone.call();
      const c = await waitUntil(() => connects()[0], { timeoutMs: 10000, what: 'the socket at the call\'s start' });
      await quiet(phone, t0, 'greeting');
      assert.equal(c.authOk, true);
      opts.checkConnect(c);
      const { t, spoken } = await turn();
      assert.equal(t.transcript, HEARD);
      assert.equal(t.reply, `You said: ${HEARD}`);
      assert.equal(t.error, '');
      assert.ok(Number(t.stt_ms) >= 0 && Number(t.stt_ms) < 1500, `stt_ms ${t.stt_ms}`);
      assert.match(asked(spoken.end), new RegExp(`You said: ${HEARD.replace('?', '\\?')}`));
      assert.ok(toneFrames(phone, spoken.end).length * 20 >= 1000, 'the answer heard');
      opts.checkTurn(stt);
      assert.equal(connects().length, 1, 'one socket for the call');
      assert.ok(c.at < spoken.start, 'the socket was open before the caller spoke');
      // a second turn on the same socket
      const second = await turn();
      assert.equal(second.t.transcript, HEARD);
      assert.equal(connects().length, 1, 'still one socket');
      // the turn line names the streaming recogniser, and /metrics has
      // every stage's figure labelled with it, no other recogniser's
      assert.equal(second.t.stt, name);
      assert.equal(second.t.brain, 'echo');
      assert.equal(second.t.tts, 'openai');
      const mt = await stageMetrics(server, { stt: name, brain: 'echo', tts: 'openai' });
      for (const h of STAGES) assert.ok(mt[h].count >= 2 && mt[h].buckets, `${h} labelled stt="${name}": ${mt[h].count}`);
      assert.doesNotMatch(mt.text, new RegExp(`_seconds_count\\{stt="(?!${name}")`));
    });

    if (opts.keepalive)
      test('a long silence: KeepAlive keeps the socket past the provider\'s idle close', async () => {
        const t0 = Date.now();
        await sleep(opts.idleMs * 2 + 1000);
        assert.equal(stt.of('idle_timeout').length, 0, 'the stand-in closed the idle socket');
        const kept = stt.of('in').filter((e) => e.type === 'KeepAlive' && e.at >= t0);
        assert.ok(kept.length >= 2, `KeepAlive messages: ${kept.length}`);
        assert.equal(connects().length, 1, 'the same socket');
        const { t } = await turn();
        assert.equal(t.transcript, HEARD);
      });

    test('the socket is cut mid-utterance: the apology, then the next turn through a new socket', async () => {
      const before = connects().length;
      const { t, spoken } = await turn(phone, async () => {
        await sleep(700);
        stt.cut();
      });
      assert.match(t.error, /^stt: /);
      assert.match(asked(spoken.start), APOLOGY);
      const line = server.events('stt_failed').at(-1);
      assert.equal(line.provider, name);
      await waitUntil(() => opened().length > before, { timeoutMs: 5000, what: 'a new socket' });
      const lost = server.events('stt_socket').filter((e) => e.state === 'lost');
      assert.ok(lost.length >= 1 && Number(lost.at(-1).retry_ms) <= 250, `the backoff: ${JSON.stringify(lost.at(-1))}`);
      const next = await turn();
      assert.equal(next.t.transcript, HEARD);
      assert.equal(next.t.error, '');
    });

    test('a socket that stalls: no final within stt_timeout, the apology, and a new socket', async () => {
      stt.fault = { kind: 'stall', count: 1 };
      const before = opened().length;
      stt.cut();
      await waitUntil(() => opened().length > before, { timeoutMs: 5000, what: 'the stalling socket' });
      await sleep(300);
      const { t, spoken } = await turn();
      assert.match(t.error, /^stt: /);
      assert.match(asked(spoken.start), APOLOGY);
      const line = server.events('stt_failed').filter((e) => /timed out/.test(e.error) && Number(e.elapsed_ms) > 0).at(-1);
      assert.ok(line, 'an stt_failed line for the turn that timed out');
      assert.ok(Number(line.elapsed_ms) >= 1900 && Number(line.elapsed_ms) < 4000, `elapsed ${line.elapsed_ms} ms`);
      await waitUntil(() => opened().length > before + 1, { timeoutMs: 5000, what: 'a socket after the stall' });
      const next = await turn();
      assert.equal(next.t.transcript, HEARD);
    });

    test('hang-up: the socket says goodbye and closes', async () => {
      await phone.hangup();
      phone = null;
      const closed = await waitUntil(() => stt.of('close').find((e) => e.code === 1000), { timeoutMs: 5000, what: 'the socket closed with 1000' });
      assert.ok(closed);
      if (opts.keepalive) {
        const bye = stt.of('in').filter((e) => e.type === 'CloseStream');
        assert.equal(bye.length, 1, 'one CloseStream');
        assert.ok(bye[0].at <= closed.at);
      }
    });

    test('a pause mid-sentence past the early end, then the rest: one turn with both parts, its audio sent once', async () => {
      const p3 = new Phone(server, { number: '+15550008103', toneHz: 0 });
      try {
        const t0 = Date.now();
        await p3.call();
        await quiet(p3, t0, 'greeting');
        opts.script(stt, [FIRST_HEARD, REST_HEARD]);
        const n = turns().length;
        const from = Date.now();
        const { t } = await turn(p3, undefined, paused);
        assert.equal(turns().length, n + 1, `one turn: ${JSON.stringify(turns().slice(n))}`);
        assert.equal(t.error, '');
        assert.equal(t.transcript, `${FIRST_HEARD} ${REST_HEARD}`);
        assert.equal(t.reply, `You said: ${FIRST_HEARD} ${REST_HEARD}`);
        assert.equal(opts.ends(stt, from), 2, 'the turn ended early in the pause, and at STOP');
        const said = paused.length / 8000;
        const sent = opts.audioSecs(stt, from);
        // the turn, its 300 ms of pre-roll and the stop window: sent again
        // from its start, it would be more than a second over
        assert.ok(sent >= said && sent < said + 0.9, `${sent.toFixed(2)} s of audio on the socket for ${said.toFixed(2)} s said`);
      } finally {
        opts.script(stt, []);
        await p3.hangup().catch(() => {});
      }
    });

    test('the provider refuses the key: the turn is apologised for, the refusal logged, the key masked', async () => {
      stt.fault = { kind: 'auth' };
      const p2 = new Phone(server, { number: '+15550008102', toneHz: 0 });
      try {
        const t0 = Date.now();
        const n = server.events('stt_socket').length;
        await p2.call();
        await quiet(p2, t0, 'greeting');
        await waitUntil(() => server.events('stt_socket').slice(n).some((e) => e.state === 'lost'), { timeoutMs: 10000, what: 'the refusal' });
        const { t, spoken } = await turn(p2);
        assert.match(t.error, /^stt: /);
        assert.match(asked(spoken.start), APOLOGY);
        const line = server.events('stt_failed').at(-1);
        assert.equal(Number(line.status), 401);
        assert.match(line.error, opts.refusal);
        const refusals = server.events('stt_socket').slice(n).filter((e) => e.state === 'lost');
        assert.match(refusals[0].reason, opts.refusal);
        assert.equal(Number(refusals[0].status), 401);
        // bounded, growing backoff while it refuses
        const lost = server.events('stt_socket').slice(n).filter((e) => e.state === 'lost').map((e) => Number(e.retry_ms));
        assert.ok(lost.length >= 2 && lost.every((ms) => ms <= 15000), `retries ${lost}`);
        assert.ok(Math.max(...lost) > 250, `the backoff grows: ${lost}`);
      } finally {
        stt.fault = null;
        await p2.hangup().catch(() => {});
      }
      await sleep(200);
      const log = server.log();
      for (const k of [opts.key, TTS_KEY, opts.key.slice(4)]) assert.ok(!log.includes(k), 'a key in the log');
    });

    test('the upgrade refused with 429: the apology, the turn line says so, retries with backoff; the call goes on once it is taken', async () => {
      stt.fault = { kind: 'status', status: 429 };
      const p4 = new Phone(server, { number: '+15550008104', toneHz: 0 });
      try {
        const t0 = Date.now();
        const n = server.events('stt_socket').length;
        const lost = () => server.events('stt_socket').slice(n).filter((e) => e.state === 'lost');
        await p4.call();
        await quiet(p4, t0, 'greeting');
        await waitUntil(() => lost().length >= 2, { timeoutMs: 10000, what: 'the refusals' });
        assert.equal(Number(lost()[0].status), 429);
        assert.match(lost()[0].reason, opts.busy);
        const { t, spoken } = await turn(p4);
        assert.match(t.error, /^stt: /);
        assert.equal(t.stt, name);
        assert.match(asked(spoken.start), APOLOGY);
        const line = server.events('stt_failed').at(-1);
        assert.equal(line.provider, name);
        assert.equal(Number(line.status), 429);
        assert.match(line.error, opts.busy);
        // bounded, growing backoff while it refuses
        const waits = lost().map((e) => Number(e.retry_ms));
        assert.ok(waits.length >= 3 && waits.every((ms) => ms <= 15000), `retries ${waits}`);
        assert.ok(Math.max(...waits) >= 2 * waits[0], `the backoff grows: ${waits}`);
        // the provider takes the socket again: the next turn goes through
        stt.fault = null;
        const before = opened().length;
        await waitUntil(() => opened().length > before, { timeoutMs: 20000, what: 'a socket taken' });
        const next = await turn(p4);
        assert.equal(next.t.transcript, HEARD);
        assert.equal(next.t.error, '');
      } finally {
        stt.fault = null;
        await p4.hangup().catch(() => {});
      }
    });
  });
}

