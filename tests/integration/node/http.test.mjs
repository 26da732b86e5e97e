// The HTTP server's own paths beside Twirp: GET /healthz and GET /metrics
// on a server whose agent is audio-echo (no agent workers, so no agent
// figures), which Prometheus scrapes like any other.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers.mjs';

describe('http', { timeout: 30000 }, () => {
  let server;

  before(async () => {
    server = await startServer({ agent: 'audio-echo' });
  });

  after(() => {
    if (server && !server.exited) server.kill();
  });

  test('GET /healthz answers 200 once the server is ready', async () => {
    const r = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200, await r.text());
  });

  test('GET /metrics answers 200 in the Prometheus text format with the audio-echo agent', async () => {
    const r = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await r.text();
    assert.equal(r.status, 200, `HTTP ${r.status}: ${text}`);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/, 'Content-Type');
    // every line is a comment or a sample, and no agent figures appear
    for (const line of text.split('\n').filter(Boolean)) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .*|\w+(\{[^}]*\})? [-+0-9.eE]+|\w+(\{[^}]*\})? [+-]Inf)$/, `not Prometheus text: ${line}`);
    }
    assert.doesNotMatch(text, /voxgate_agent_workers/, 'no agent worker gauges without workers');
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});
