// The built-in agent on Deepgram's live speech to text (stt_provider
// deepgram) through the Deepgram stand-in: see stt_streaming.mjs.

import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir } from './helpers.mjs';
import { suite, HEARD } from './stt_streaming.mjs';
import { startDeepgramStandIn } from '../standins/deepgram.mjs';

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

