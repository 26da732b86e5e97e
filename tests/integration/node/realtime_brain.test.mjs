// The built-in agent with brain realtime: OpenAI's Realtime model as speech
// to speech, pointed at its stand-in (tests/integration/standins/
// realtime.mjs), which answers each response with a tone (its `replies`,
// then REALTIME_REPLY at 500 Hz) and transcribes each committed turn as
// REALTIME_TRANSCRIPT. A phone (phone.mjs) calls and hears the tone; the
// caller's words are espeak-ng's.
// - the session: mu-law both ways, turn detection off, the system prompt,
//   input transcription on; the greeting said by the model;
// - a turn: the caller's audio appended and committed, the reply's tone
//   heard, the turn's log line with the caller's words and the reply's,
//   naming no recogniser or voice (stt and tts "none"), and /metrics'
//   stage histograms labelled so;
// - barge-in: the caller talks over a long reply: response.cancel, then
//   conversation.item.truncate to what the caller heard (checked against
//   the tone the phone heard), the model's history holding only that;
// - faults, each on a call of its own and each followed by a turn that
//   works: the key refused (error event, close 3000), the socket dropped
//   mid-reply (the new session told the call so far), a stall past
//   realtime_timeout, an error event mid-reply.
//   The embedded voice (speech, not the tone) says the greeting or the
//   apology, and the call goes on;
// - the upgrade refused with 429 while a call goes on: the embedded voice
//   greets and apologises for the turn, whose line says the model failed,
//   the socket is tried again with a growing backoff, and once it is
//   taken the next turn is the model's.
// The key is never in the server's log nor in /metrics.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitUntil, sleep, tmpDir, run, stageMetrics, STAGES } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { startRealtimeStandIn, REALTIME_REPLY, REALTIME_TRANSCRIPT } from '../standins/realtime.mjs';

const NUMBER = '+15550008101';
const KEY = 'sk-rt-test-key-7c1d9e3a5b';
const GREETING = 'Hello, this is the front desk.';
const PROMPT = 'You answer the phone of a small hotel.';
const WORDS = 'What are your opening hours?';
const TONE = REALTIME_REPLY.toneHz;

async function utterance() {
  const wav = path.join(tmpDir(), 'realtime-words.wav');
  const raw = path.join(tmpDir(), 'realtime-words.s16');
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
const loud = (phone, t0, t1 = Infinity) => phone.heard.filter((h) => h.at >= t0 && h.at < t1 && h.pcm.length >= 80 && rms(h.pcm) > 500);
const toneMs = (phone, t0, t1) => loud(phone, t0, t1).filter((h) => toneShare(h.pcm, 8000, TONE) > 0.5).length * 20;
const speechMs = (phone, t0, t1) => loud(phone, t0, t1).filter((h) => toneShare(h.pcm, 8000, TONE) < 0.2).length * 20;

describe('the agent with brain realtime', { timeout: 240000 }, () => {
  let server;
  let rt;
  let words;
  const phones = [];

  const turns = () => server.events('turn');
  const quiet = async (phone, t0, what) => {
    await waitUntil(() => loud(phone, t0).length > 0, { timeoutMs: 15000, what: `${what}: the agent speaks` });
    await waitUntil(() => Date.now() - loud(phone, t0).at(-1).at > 800, { timeoutMs: 20000, what: `${what}: the agent ends` });
  };
  const call = async () => {
    const phone = new Phone(server, { number: NUMBER, toneHz: 0 });
    phones.push(phone);
    const t0 = Date.now();
    await phone.call();
    return { phone, t0 };
  };
  const hangup = async (phone) => {
    await phone.hangup().catch(() => {});
  };
  // a turn after a fault: the model answers it in its voice
  const turnWorks = async (phone, what) => {
    const n = turns().length;
    const spoken = await phone.say(words);
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: `${what}: the turn` });
    await quiet(phone, spoken.end, `${what}: reply`);
    assert.equal(turn.error, '', `${what}: ${turn.error}`);
    assert.equal(turn.reply, REALTIME_REPLY.text);
    assert.ok(toneMs(phone, spoken.end) >= 1000, `${what}: the reply's tone heard: ${toneMs(phone, spoken.end)} ms`);
  };

  before(async () => {
    words = await utterance();
    rt = await startRealtimeStandIn({ key: KEY, log: path.join(tmpDir(), 'realtime.jsonl') });
    server = await startServer({
      agent: 'pipeline',
      defaultRoute: true,
      args: [
        '--agent_workers', '1',
        '--brain', 'realtime',
        '--greeting_text', GREETING,
        '--system_prompt', PROMPT,
        '--realtime_url', rt.url,
        '--realtime_api_key', KEY,
        '--realtime_voice', 'marin',
        '--realtime_timeout', '1500ms',
      ],
    });
    await waitUntil(() => server.events('agent_worker_registered').length > 0, { timeoutMs: 30000, what: 'an agent worker' });
  });

  after(async () => {
    try {
      for (const p of phones) await hangup(p);
      await rt?.stop();
    } finally {
      if (server && !server.exited) await server.stop();
    }
  });

  test('a settings error: an unknown brain is refused at start, naming realtime', async () => {
    const r = await run(process.env.VOXGATE_BIN, ['agent', '--agent_server', 'ws://127.0.0.1:9/agent', '--agent_token', 'x', '--brain', 'realtme']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /brain: "realtme" is not echo, script, llm or realtime/);
  });

  test('the session, the greeting by the model, a turn answered in its voice with the words in the log', async () => {
    rt.replies.push({ text: GREETING, audioMs: 1500, toneHz: TONE });
    const { phone, t0 } = await call();
    await quiet(phone, t0, 'greeting');
    const conn = rt.of('connect').at(-1);
    assert.equal(conn.authOk, true);
    assert.equal(conn.beta, false, 'the GA format');
    assert.equal(conn.query.model, 'gpt-realtime-2.1');
    const sess = rt.sessions.at(-1).session();
    assert.equal(sess.audio.input.format.type, 'audio/pcmu');
    assert.equal(sess.audio.output.format.type, 'audio/pcmu');
    assert.equal(sess.audio.input.turn_detection, null);
    assert.ok(sess.audio.input.transcription?.model, 'input transcription on');
    assert.equal(sess.audio.output.voice, 'marin');
    assert.equal(sess.instructions, PROMPT);
    assert.deepEqual(sess.tools.map((t) => t.name), ['end_call']);
    const creates = rt.of('in').filter((e) => e.type === 'response.create');
    assert.match(creates[0].event.response?.instructions ?? '', new RegExp(GREETING));
    assert.ok(toneMs(phone, t0) >= 1000, `the greeting's tone: ${toneMs(phone, t0)} ms`);

    const n = turns().length;
    const appendsBefore = rt.of('in').filter((e) => e.type === 'input_audio_buffer.append').length;
    const spoken = await phone.say(words);
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(phone, spoken.end, 'reply');
    const appends = rt.of('in').filter((e) => e.type === 'input_audio_buffer.append').slice(appendsBefore);
    assert.ok(appends.length >= 5, `the caller's audio appended as it came: ${appends.length} appends`);
    const committed = rt.of('committed').at(-1);
    const secs = words.length / 8000;
    assert.ok(committed.ms >= secs * 1000 && committed.ms < secs * 1000 + 1500, `committed ${committed.ms} ms of ${secs * 1000} ms said (with the pre-roll)`);
    assert.equal(committed.bytes, committed.ms * 8, 'mu-law: a byte a sample');
    assert.equal(turn.transcript, REALTIME_TRANSCRIPT);
    assert.equal(turn.reply, REALTIME_REPLY.text);
    assert.equal(String(turn.interrupted), 'false');
    assert.equal(turn.error, '');
    assert.ok(Number(turn.stt_ms) >= 0 && Number(turn.stt_ms) < 2000, `stt_ms ${turn.stt_ms}`);
    assert.ok(Number(turn.llm_ms) >= 0 && Number(turn.llm_ms) < 2000, `llm_ms (first audio) ${turn.llm_ms}`);
    assert.ok(Number(turn.tts_ms) >= Number(turn.llm_ms), `tts_ms ${turn.tts_ms}`);
    assert.ok(Number(turn.voice_to_voice_ms) > 0, `voice_to_voice_ms ${turn.voice_to_voice_ms}`);
    // the model heard and spoke: no recogniser or voice of the settings
    // did those stages, and /metrics labels every stage's figure so
    assert.equal(turn.stt, 'none');
    assert.equal(turn.brain, 'realtime');
    assert.equal(turn.tts, 'none');
    const mt = await stageMetrics(server, { stt: 'none', brain: 'realtime', tts: 'none' });
    for (const h of STAGES) assert.ok(mt[h].count >= 1 && mt[h].buckets, `${h} labelled {stt="none",brain="realtime",tts="none"}: ${mt[h].count}\n${mt.text.split('\n').filter((l) => l.includes('_count')).join('\n')}`);
    assert.doesNotMatch(mt.text, /_seconds_count\{stt="(?!none",brain="realtime",tts="none")/);
    assert.ok(toneMs(phone, spoken.end) >= 1200, `the reply's tone heard: ${toneMs(phone, spoken.end)} ms`);
    const hist = rt.history();
    assert.deepEqual(hist.filter((i) => i.role === 'user').map((i) => i.content[0].transcript), [REALTIME_TRANSCRIPT]);
    await hangup(phone);
  });

  test('barge-in: the response is cancelled and its item truncated to what the caller heard', async () => {
    const { phone, t0 } = await call();
    await quiet(phone, t0, 'greeting');
    rt.replies.push({ text: 'Our rooms are on three floors, with a view of the lake from most of them, and breakfast is served from seven.', audioMs: 8000, toneHz: TONE });
    // the reply streams in real time: it is still coming when it is cut
    rt.timing.chunkMs = 90;
    const n = turns().length;
    const spoken = await phone.say(words);
    // the reply plays for a while, then the caller talks over it
    await waitUntil(() => toneMs(phone, spoken.end) >= 1500, { timeoutMs: 10000, what: 'the long reply plays' });
    const cut = await phone.say(words);
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the cut turn' });
    assert.equal(String(turn.interrupted), 'true');
    const tr = await waitUntil(() => rt.truncates[0], { timeoutMs: 5000, what: 'a truncate' });
    const heard = toneMs(phone, spoken.end, cut.start + 600);
    assert.ok(Math.abs(tr.audio_end_ms - heard) <= 500, `audio_end_ms ${tr.audio_end_ms} vs ${heard} ms of tone the phone heard`);
    assert.ok(tr.audio_end_ms < tr.sent_ms, `truncated before the end of what was sent (${tr.sent_ms} ms)`);
    assert.equal(tr.content_index, 0);
    assert.ok(rt.of('in').some((e) => e.type === 'response.cancel'), 'response.cancel sent');
    const item = rt.history().find((i) => i.id === tr.item_id);
    assert.equal(item.truncated_ms, tr.audio_end_ms);
    assert.ok(tr.heard.length > 0 && tr.heard.length < tr.full_text.length, `the words heard: "${tr.heard}"`);
    // the turn's log line says what was heard, the model was told as much
    assert.ok(turn.reply.length > 0 && tr.full_text.startsWith(turn.reply.replace(/\s+$/, '')), `reply "${turn.reply}"`);
    // the cut-in turn is answered
    const next = await waitUntil(() => turns()[n + 1], { timeoutMs: 15000, what: 'the next turn' });
    assert.equal(next.reply, REALTIME_REPLY.text);
    rt.timing.chunkMs = 0;
    await hangup(phone);
  });

  test('the key refused (error event, close 3000): the embedded voice greets, the socket comes back, the call goes on', async () => {
    rt.fault = { kind: 'auth', count: 1 };
    const { phone, t0 } = await call();
    const line = await waitUntil(() => server.events('realtime_failed').at(-1), { timeoutMs: 10000, what: 'a realtime_failed line' });
    assert.match(line.error, /invalid_api_key/);
    await waitUntil(() => server.events('realtime_disconnected').some((e) => Number(e.code) === 3000), { timeoutMs: 5000, what: 'the close 3000' });
    await quiet(phone, t0, 'embedded greeting');
    assert.ok(toneMs(phone, t0) < 100, `nothing from the model: ${toneMs(phone, t0)} ms of tone`);
    assert.ok(speechMs(phone, t0) >= 800, `the embedded greeting heard: ${speechMs(phone, t0)} ms`);
    await turnWorks(phone, 'after the refusal');
    await hangup(phone);
  });

  test('the socket dropped mid-reply: what was heard, then the embedded apology; the call goes on', async () => {
    // the greeting's 15 deltas pass, the reply's third is the last
    rt.fault = { kind: 'drop', after: 18, count: 1 };
    const { phone, t0 } = await call();
    await quiet(phone, t0, 'greeting');
    const n = turns().length;
    const spoken = await phone.say(words);
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(phone, spoken.end, 'apology');
    assert.match(turn.error, /^realtime: connection lost/);
    const tone = toneMs(phone, spoken.end);
    assert.ok(tone >= 100 && tone < 1000, `the start of the reply heard: ${tone} ms`);
    assert.ok(speechMs(phone, spoken.end) >= 1000, `the embedded apology: ${speechMs(phone, spoken.end)} ms`);
    await turnWorks(phone, 'after the drop');
    // the new session was told the call so far: the greeting, the
    // caller's words, what was heard of the cut reply and the apology
    const hist = rt.history();
    const text = (role, type) => hist.filter((i) => i.role === role && i.content?.[0]?.type === type).map((i) => i.content[0].text);
    assert.deepEqual(text('user', 'input_text'), [REALTIME_TRANSCRIPT]);
    const told = text('assistant', 'output_text');
    assert.equal(told[0], REALTIME_REPLY.text);
    assert.match(told[1] ?? '', /Sorry, I had a problem answering that/);
    await hangup(phone);
  });

  test('a stall past realtime_timeout: the embedded voice greets, the stalled socket is made again, the call goes on', async () => {
    rt.fault = { kind: 'stall', count: 1 };
    const { phone, t0 } = await call();
    const line = await waitUntil(() => server.events('realtime_failed').find((e) => /no audio within 1500 ms/.test(e.error) && e.call_id), { timeoutMs: 10000, what: 'a timeout' });
    assert.ok(Number(line.elapsed_ms) >= 1400 && Number(line.elapsed_ms) < 3000, `elapsed ${line.elapsed_ms}`);
    await quiet(phone, t0, 'embedded greeting');
    assert.ok(speechMs(phone, t0) >= 800, 'the embedded greeting');
    await turnWorks(phone, 'after the stall');
    await hangup(phone);
  });

  test('the upgrade refused with 429: the embedded voice greets and apologises, the turn line says so, retries with backoff; the call goes on once it is taken', async () => {
    rt.fault = { kind: 'status', status: 429 };
    const n0 = server.events('realtime_disconnected').length;
    const refused = () => server.events('realtime_disconnected').slice(n0).filter((e) => Number(e.status) === 429);
    try {
      const { phone, t0 } = await call();
      await waitUntil(() => refused().length >= 1, { timeoutMs: 10000, what: 'the refusal' });
      assert.match(refused()[0].error, /Rate limit reached/);
      await quiet(phone, t0, 'embedded greeting');
      assert.ok(toneMs(phone, t0) < 100, `nothing from the model: ${toneMs(phone, t0)} ms of tone`);
      assert.ok(speechMs(phone, t0) >= 800, `the embedded greeting heard: ${speechMs(phone, t0)} ms`);
      // a turn while it refuses: apologised for, the turn line says so
      const n = turns().length;
      const spoken = await phone.say(words);
      const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
      await quiet(phone, spoken.end, 'apology');
      assert.match(turn.error, /^realtime: /);
      assert.equal(turn.brain, 'realtime');
      assert.ok(toneMs(phone, spoken.end) < 100, `nothing from the model: ${toneMs(phone, spoken.end)} ms of tone`);
      assert.ok(speechMs(phone, spoken.end) >= 800, `the embedded apology: ${speechMs(phone, spoken.end)} ms`);
      // bounded, growing backoff while it refuses
      const waits = refused().map((e) => Number(e.retry_ms));
      assert.ok(waits.length >= 3 && waits.every((ms) => ms <= 15000), `retries ${waits}`);
      assert.ok(Math.max(...waits) >= 2 * waits[0], `the backoff grows: ${waits}`);
      // the model takes the socket again: the call goes on in its voice
      rt.fault = null;
      const before = server.events('realtime_connected').length;
      await waitUntil(() => server.events('realtime_connected').length > before, { timeoutMs: 20000, what: 'a socket taken' });
      await turnWorks(phone, 'after the refusals');
      await hangup(phone);
    } finally {
      rt.fault = null;
    }
  });

  test('error events mid-reply: the embedded voice greets and apologises, and the call goes on', async () => {
    // every response of the next socket fails after its first delta
    rt.fault = { kind: 'error', count: 1 };
    const { phone, t0 } = await call();
    await quiet(phone, t0, 'greeting');
    const line = await waitUntil(() => server.events('realtime_failed').at(-1), { what: 'a realtime_failed line' });
    assert.match(line.error, /server_error|response failed/);
    assert.ok(speechMs(phone, t0) >= 800, 'the embedded greeting');
    const n = turns().length;
    const spoken = await phone.say(words);
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the turn' });
    await quiet(phone, spoken.end, 'apology');
    assert.match(turn.error, /^realtime: (server_error|response failed)/);
    assert.ok(speechMs(phone, spoken.end) >= 1000, 'the embedded apology');
    assert.ok(toneMs(phone, spoken.end) < 400, `at most the reply's first delta: ${toneMs(phone, spoken.end)} ms`);
    assert.ok(!phone.byeFromServer, 'the call goes on');
    await hangup(phone);
  });

  test('keys pressed reach the model as the caller\'s words', async () => {
    const { phone, t0 } = await call();
    await quiet(phone, t0, 'greeting');
    const n = turns().length;
    const t1 = Date.now();
    phone.sendDtmf('4');
    const turn = await waitUntil(() => turns()[n], { timeoutMs: 15000, what: 'the keys\' turn' });
    // The log counts the keys and never says them (nor the reply, which
    // may read them back).
    assert.equal(turn.dtmf_keys, 1);
    assert.equal(turn.transcript, '');
    assert.equal(turn.reply, '');
    assert.ok(!server.log().includes('DTMF'), 'no keys in the log');
    const said = rt.history().filter((i) => i.role === 'user' && i.content?.[0]?.type === 'input_text');
    assert.equal(said.at(-1)?.content[0].text, 'DTMF: 4');
    assert.ok(toneMs(phone, t1) >= 1000, 'the reply heard');
    await hangup(phone);
  });

  test('end_call: the model\'s goodbye is played, then the call ends with a BYE', async () => {
    const { phone, t0 } = await call();
    await quiet(phone, t0, 'greeting');
    rt.replies.push({ text: 'Goodbye, and thank you for calling.', audioMs: 1200, toneHz: TONE, tools: [{ name: 'end_call', arguments: {} }] });
    const spoken = await phone.say(words);
    await waitUntil(() => phone.byeFromServer, { timeoutMs: 15000, what: 'the BYE' });
    assert.ok(toneMs(phone, spoken.end) >= 1000, `the goodbye heard before the BYE: ${toneMs(phone, spoken.end)} ms`);
    const out = rt.of('in').filter((e) => e.type === 'conversation.item.create' && e.event.item?.type === 'function_call_output');
    assert.ok(out.length >= 1, 'the call answered');
    assert.ok(server.events('realtime_call').some((e) => e.name === 'end_call'));
    await hangup(phone);
  });

  test('no key in the log or /metrics', async () => {
    await sleep(200);
    const log = server.log();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const k of [KEY, KEY.slice(3)]) {
      assert.ok(!log.includes(k), 'the key in the server log');
      assert.ok(!metrics.includes(k), 'the key in /metrics');
    }
  });
});
