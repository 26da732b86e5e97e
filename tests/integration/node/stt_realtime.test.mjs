// The built-in agent on OpenAI's Realtime transcription (stt_provider
// openai-realtime) through the Realtime stand-in: see stt_streaming.mjs.

import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir } from './helpers.mjs';
import { suite, HEARD } from './stt_streaming.mjs';
import { startRealtimeStandIn } from '../standins/realtime.mjs';

suite('openai-realtime', {
  key: 'sk-rt-stream-key-0123456789abcdef',
  start() {
    return startRealtimeStandIn({ key: this.key, transcript: HEARD, log: path.join(tmpDir(), 'realtime-stt.jsonl') });
  },
  url: (s) => s.url,
  script: (s, texts) => s.transcripts.splice(0, s.transcripts.length, ...texts),
  ends: (s, from) => s.of('in').filter((e) => e.type === 'input_audio_buffer.commit' && e.at >= from).length,
  // mu-law: a byte a sample
  audioSecs: (s, from) => s.of('in').filter((e) => e.type === 'input_audio_buffer.append' && e.at >= from).reduce((n, e) => n + e.bytes, 0) / 8000,
  busy: /Rate limit reached/,
  refusal: /invalid_api_key|Incorrect API key/,
  checkConnect(c) {
    assert.equal(c.path, '/v1/realtime');
    assert.equal(c.query.intent, 'transcription');
    assert.equal(c.beta, false);
  },
  checkTurn(s) {
    const up = s.of('in').find((e) => e.type === 'session.update');
    assert.ok(up, 'session.update');
    const sess = up.event.session;
    assert.equal(sess.type, 'transcription');
    assert.equal(sess.audio.input.format.type, 'audio/pcmu');
    assert.equal(sess.audio.input.turn_detection, null);
    assert.equal(sess.audio.input.transcription.model, 'gpt-4o-transcribe');
    assert.equal(sess.audio.input.transcription.language, 'en');
    const appended = s.of('in').filter((e) => e.type === 'input_audio_buffer.append');
    // 100 ms of mu-law (800 bytes) at most per append; the stand-in counts
    // bytes from the base64's length, padding included (800 -> 801)
    assert.ok(appended.length > 10 && appended.every((e) => e.bytes > 0 && e.bytes <= 801), `appends: ${JSON.stringify(appended.map((e) => e.bytes))}`);
    assert.ok(s.of('in').some((e) => e.type === 'input_audio_buffer.commit'), 'commit');
    const done = s.of('transcribed');
    assert.equal(done.at(-1).transcript, HEARD);
    assert.ok(s.of('committed').at(-1).ms >= 1000, `the utterance's audio: ${s.of('committed').at(-1).ms} ms`);
  },
});
