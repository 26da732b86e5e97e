// The agent speaking through ElevenLabs' multi-context WebSocket, against
// its stand-in (tts_streaming.mjs has the cases).
import assert from 'node:assert/strict';
import { startElevenLabsStandIn } from '../standins/elevenlabs.mjs';
import { streamingSuite } from './tts_streaming.mjs';

// the clause messages: {text, context_id, flush} after the context's " "
const clauses = (tts, t0) => tts.of('in').filter((e) => e.at >= t0 && typeof e.msg?.text === 'string' && e.msg.text.trim() && e.msg.flush);

streamingSuite({
  name: 'elevenlabs',
  start: startElevenLabsStandIn,
  key: 'eleven-stream-key-7c6b5a4d3e',
  env: 'ELEVEN_API_KEY',
  toneHz: 440,
  checkConnect(c) {
    assert.equal(c.path, '/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/multi-stream-input');
    assert.equal(c.query.model_id, 'eleven_flash_v2_5');
    assert.equal(c.query.output_format, 'ulaw_8000');
    assert.equal(c.authOk, true);
  },
  texts: (tts, t0) => clauses(tts, t0).map((e) => e.msg.text.trim()),
  textTimes: (tts, t0) => clauses(tts, t0).map((e) => e.at),
  // A context per clause, closed as soon as its text is in: the barge-in
  // sends nothing; the cut reply's contexts run out (their isFinal comes)
  // and the next reply's are new ones.
  cancelled(tts, t0, bargeIn) {
    const cutCtx = new Set(clauses(tts, t0).filter((e) => e.at < bargeIn).map((e) => e.msg.context_id));
    assert.ok(cutCtx.size >= 2, `the cut reply's contexts: ${[...cutCtx]}`);
    for (const ctx of cutCtx) {
      const opened = tts.of('in').filter((e) => e.msg?.context_id === ctx);
      assert.deepEqual(opened.map((e) => (e.msg.close_context ? 'close' : e.msg.text === ' ' ? 'open' : 'text')), ['open', 'text', 'close'], `context ${ctx}`);
      assert.ok(opened.every((e) => e.at < bargeIn), `context ${ctx}: nothing sent after the barge-in`);
      assert.ok(tts.of('out').some((e) => e.contextId === ctx && e.isFinal === true), `context ${ctx} ran out`);
    }
    const later = clauses(tts, bargeIn);
    assert.ok(later.length && later.every((e) => !cutCtx.has(e.msg.context_id)), 'the next reply has contexts of its own');
  },
});
