// The agent speaking through Cartesia's WebSocket, against its stand-in
// (tts_streaming.mjs has the cases).
import assert from 'node:assert/strict';
import { startCartesiaStandIn } from '../standins/cartesia.mjs';
import { streamingSuite } from './tts_streaming.mjs';

// the clause messages: {transcript, continue: true}, each followed by a
// flush
const clauses = (tts, t0) => tts.of('in').filter((e) => e.at >= t0 && e.msg?.transcript?.trim());

streamingSuite({
  name: 'cartesia',
  start: startCartesiaStandIn,
  key: 'cartesia-stream-key-3e4d5c6b7a',
  env: 'CARTESIA_API_KEY',
  toneHz: 520,
  checkConnect(c) {
    assert.equal(c.path, '/tts/websocket');
    assert.equal(c.version, '2025-04-16');
    assert.equal(c.authOk, true);
  },
  texts(tts, t0) {
    const cl = clauses(tts, t0);
    for (const e of cl) {
      assert.equal(e.msg.model_id, 'sonic-2');
      assert.deepEqual(e.msg.voice, { mode: 'id', id: 'a0e99841-438c-4a64-b679-ae501e7d6091' });
      assert.deepEqual(e.msg.output_format, { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 });
      assert.equal(e.msg.continue, true);
    }
    return cl.map((e) => e.msg.transcript.trim());
  },
  textTimes: (tts, t0) => clauses(tts, t0).map((e) => e.at),
  // A context per reply: the barge-in cancels it, and the stand-in sends
  // none of its audio after that.
  cancelled(tts, t0, bargeIn) {
    const cancel = tts.of('in').find((e) => e.at >= t0 && e.msg?.cancel === true);
    assert.ok(cancel, 'a cancel message');
    assert.ok(cancel.at <= bargeIn, 'the cancel no later than the barge-in line');
    const ctx = new Set(clauses(tts, t0).filter((e) => e.at < cancel.at).map((e) => e.msg.context_id));
    assert.equal(ctx.size, 1, `one context for the reply: ${[...ctx]}`);
    const [id] = ctx;
    assert.deepEqual(cancel.msg, { context_id: id, cancel: true });
    const after = tts.of('out').filter((e) => e.context_id === id && e.type === 'chunk' && e.at > cancel.at + 100);
    assert.equal(after.length, 0, 'audio of the cancelled context after the cancel');
    const later = clauses(tts, cancel.at);
    assert.ok(later.length && later.every((e) => e.msg.context_id !== id), 'the next reply has a context of its own');
  },
});
