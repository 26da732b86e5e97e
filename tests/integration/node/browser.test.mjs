// A web page with LiveKit's browser SDK (livekit-client, its UMD bundle) in
// Debian's Chromium, headless, driven by puppeteer-core, joins a phone
// call's room: it hears the caller's 440 Hz tone (PCMU, as the phone sent
// it) through an AnalyserNode, and the caller hears the 1 kHz
// OscillatorNode the page publishes (Opus, decoded and mixed into the call).
// Then, with a LiveKit agent in the room (a worker's job joined on
// @livekit/rtc-node with the assignment's token), the page hears the
// caller and the agent, the agent hears the page, and the caller both.
// The page is about:blank, whose origin is null: every answer it reads
// from voxgate needs CORS, and livekit-client falls back from /rtc/v1 to
// /rtc only when /rtc/v1/validate says 404 with Access-Control-Allow-Origin.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccessToken, RoomServiceClient, SipClient } from 'livekit-server-sdk';
import puppeteer from 'puppeteer-core';
import { Room, RoomEvent, dispose } from '@livekit/rtc-node';
import { startServer, waitUntil, sleep, API_KEY, API_SECRET } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { StubWorker } from './lkworker.mjs';
import { listen, publishTone } from './rtcpeer.mjs';

const NUMBER = '+15550005555';
const ROOM = 'browser-room';
const CHROMIUM = process.env.VG_CHROMIUM ?? '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const UMD = path.join(HERE, 'node_modules/livekit-client/dist/livekit-client.umd.js');

async function token(identity) {
  const at = new AccessToken(API_KEY, API_SECRET, { identity, ttl: '10m' });
  at.addGrant({ roomJoin: true, room: ROOM, canPublish: true, canSubscribe: true });
  return at.toJwt();
}

// The errors the page logs that a test need not fail on: those of the v1
// attempt (the refused WebSocket, the 404 of its validate fetch).
function expectedError(l) {
  if (/^WebSocket connection to 'ws:\/\/[^']*\/rtc\/v1\?[^']*' failed/.test(l.text)) return true;
  let at = '';
  try {
    at = new URL(l.url).pathname;
  } catch {
    /* no URL */
  }
  return /^Failed to load resource: the server responded with a status of 404/.test(l.text) && at === '/rtc/v1/validate';
}

describe('livekit-client in Chromium', { timeout: 120000 }, () => {
  let server;
  let rooms;
  let phone;
  let browser;
  let page;
  const consoleLines = []; // {type, url, text}
  const pageErrors = [];
  const sockets = []; // WebSocket URLs the page opened, in order
  const responses = []; // {url, status, acao}

  // page.evaluate, with what the page warned about added to a failure
  async function inPage(fn, ...args) {
    try {
      return await page.evaluate(fn, ...args);
    } catch (e) {
      const said = consoleLines.filter((l) => l.type === 'error' || l.type === 'warn').map((l) => `${l.type}: ${l.text.slice(0, 200)}`);
      e.message += `\nthe page's console:\n${[...said, ...pageErrors].slice(-10).join('\n')}`;
      throw e;
    }
  }

  before(async () => {
    // no built-in agent: what the phone hears comes from the page alone
    server = await startServer({ emptyTimeout: '30s', departureTimeout: '30s', agent: 'none' });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('browser-trunk', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: ROOM }, { trunkIds: [trunk.sipTrunkId] });

    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is not installed (scripts/deps.sh installs chromium)`);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 20000,
      protocolTimeout: 30000,
      args: [
        '--no-sandbox',
        '--autoplay-policy=no-user-gesture-required',
        '--use-fake-ui-for-media-stream',
        '--disable-gpu',
      ],
    });
    page = await browser.newPage();
    // livekit-client logs a context object after its text; Chromium
    // quotes whole URLs, tokens and all
    page.on('console', (m) =>
      consoleLines.push({
        type: m.type(),
        url: m.location()?.url,
        text: m.text().replace(/( \[object Object\])+$/, '').replace(/access_token=[\w.-]+/g, 'access_token=<jwt>'),
      }),
    );
    page.on('pageerror', (e) => pageErrors.push(String(e?.message ?? e)));
    page.on('response', (r) => responses.push({ url: r.url(), status: r.status(), acao: r.headers()['access-control-allow-origin'] }));
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketCreated', (e) => sockets.push(e.url));
    await page.addScriptTag({ content: fs.readFileSync(UMD, 'utf8') });
    assert.equal(await page.evaluate(() => location.origin), 'null');
    assert.equal(await page.evaluate(() => typeof LivekitClient?.Room), 'function');
    await page.evaluate(() => {
      const { Room, RoomEvent, Track, LocalAudioTrack } = LivekitClient;
      const bounded = (p, ms, what) =>
        Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms))]);
      window.contexts = []; // kept so that they keep running
      // Joins a new window.room; the audio tracks it subscribes to go to
      // window.tracks by identity. Resolves with the time connect() took.
      window.join = async (url, jwt) => {
        const room = new Room({ adaptiveStream: false, dynacast: false });
        window.room = room;
        window.tracks = new Map();
        window.trackAdded = () => {};
        room.on(RoomEvent.TrackSubscribed, (track, _pub, p) => {
          if (track.kind !== Track.Kind.Audio) return;
          window.tracks.set(p.identity, track);
          window.trackAdded();
        });
        const t0 = performance.now();
        await bounded(room.connect(url, jwt), 15000, 'room.connect');
        return performance.now() - t0;
      };
      // Listens 1.5 s to the track of the first participant whose identity
      // matches the pattern (waiting up to 8 s for it): its loudest
      // frequency and its last samples.
      window.hear = async (pattern) => {
        const re = new RegExp(pattern);
        const find = () => [...window.tracks].find(([id]) => re.test(id))?.[1];
        const track =
          find() ??
          (await bounded(
            new Promise((resolve) => (window.trackAdded = () => find() && resolve(find()))),
            8000,
            `TrackSubscribed for ${pattern}`,
          ));
        // A remote track feeds Web Audio only while a media element plays it.
        const el = track.attach();
        el.muted = true;
        const ctx = new AudioContext();
        await ctx.resume();
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 16384;
        analyser.smoothingTimeConstant = 0;
        ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack])).connect(analyser);
        window.contexts.push(ctx);
        await new Promise((r) => setTimeout(r, 1500));
        const freq = new Float32Array(analyser.frequencyBinCount);
        analyser.getFloatFrequencyData(freq);
        let peak = 1;
        for (let i = 1; i < freq.length; i++) if (freq[i] > freq[peak]) peak = i;
        const pcm = new Float32Array(analyser.fftSize);
        analyser.getFloatTimeDomainData(pcm);
        return {
          rate: ctx.sampleRate,
          peakHz: (peak * ctx.sampleRate) / analyser.fftSize,
          peakDb: freq[peak],
          pcm: Array.from(pcm, (x) => Math.round(x * 32767)),
          remote: [...window.room.remoteParticipants.values()].map((p) => ({ identity: p.identity, kind: p.kind })),
        };
      };
      // Publishes an OscillatorNode at hz as the microphone.
      window.publishTone = async (hz) => {
        const ctx = new AudioContext({ sampleRate: 48000 });
        await ctx.resume();
        const osc = ctx.createOscillator();
        osc.frequency.value = hz;
        const gain = ctx.createGain();
        gain.gain.value = 0.25;
        const dest = ctx.createMediaStreamDestination();
        osc.connect(gain).connect(dest);
        osc.start();
        window.contexts.push(ctx);
        const track = new LocalAudioTrack(dest.stream.getAudioTracks()[0], undefined, true);
        const t0 = performance.now();
        const p = await bounded(
          window.room.localParticipant.publishTrack(track, { source: Track.Source.Microphone, name: 'tone' }),
          12000,
          'publishTrack',
        );
        return { sid: p.trackSid, ms: performance.now() - t0, mime: p.mimeType };
      };
    });
  });

  after(async () => {
    if (consoleLines.length || pageErrors.length) {
      process.stdout.write(`the page's console:\n`);
      for (const l of consoleLines) process.stdout.write(`  ${l.type}: ${l.text.slice(0, 300)}\n`);
      for (const e of pageErrors) process.stdout.write(`  pageerror: ${e.slice(0, 300)}\n`);
    }
    if (browser) {
      const closed = await Promise.race([
        browser.close().then(
          () => true,
          () => false,
        ),
        new Promise((r) => setTimeout(r, 10000, false).unref()),
      ]);
      if (!closed) browser.process()?.kill('SIGKILL');
    }
    phone?.close();
    await dispose().catch(() => {});
    if (server && !server.exited) await server.stop();
  });

  test('the page joins over /rtc after /rtc/v1 answers 404, and hears the caller', async () => {
    phone = new Phone(server, { number: NUMBER, toneHz: 440 });
    await phone.call();
    await waitUntil(async () => (await rooms.listParticipants(ROOM)).some((p) => p.kind === 3), {
      what: 'the caller in the room',
    });
    const url = `ws://127.0.0.1:${server.httpPort}`;
    const connectMs = await inPage((url, jwt) => window.join(url, jwt), url, await token('browser'));
    const joined = { connectMs, ...(await inPage(() => window.hear('^sip_'))) };
    process.stdout.write(`connected in ${Math.round(joined.connectMs)} ms; peak ${joined.peakHz.toFixed(1)} Hz at ${joined.peakDb.toFixed(1)} dB\n`);
    assert.ok(joined.connectMs < 5000, `connected in ${joined.connectMs} ms`);
    assert.ok(Math.abs(joined.peakHz - 440) < 10, `the loudest frequency the page heard is ${joined.peakHz} Hz`);
    assert.ok(joined.peakDb > -50, `the tone is heard at ${joined.peakDb} dB`);
    const share = toneShare(joined.pcm, joined.rate, 440);
    assert.ok(share > 0.5, `440 Hz is ${(share * 100).toFixed(1)} % of what the page heard`);
    assert.ok(joined.remote.some((p) => p.identity.startsWith('sip_') && p.kind === 3), `the caller, kind SIP: ${JSON.stringify(joined.remote)}`);

    // v1 first, refused; then /rtc, with the token in the query
    const v1 = sockets.findIndex((u) => new URL(u).pathname === '/rtc/v1');
    const v0 = sockets.findIndex((u) => new URL(u).pathname === '/rtc');
    assert.ok(v1 >= 0 && v0 > v1, `the page tried /rtc/v1 and then /rtc: ${sockets.map((u) => new URL(u).pathname)}`);
    const validate = responses.find((r) => new URL(r.url).pathname === '/rtc/v1/validate');
    assert.ok(validate, 'the page asked /rtc/v1/validate');
    assert.equal(validate.status, 404);
    assert.equal(validate.acao, '*');
    assert.ok(new URL(sockets[v0]).searchParams.get('access_token'), 'token in the query');
    assert.ok(
      consoleLines.some((l) => /Initial connection failed: v1 RTC path not found/.test(l.text)),
      'livekit-client said it falls back',
    );
    const j = server.events('rtc_joined').filter((e) => e.identity === 'browser');
    assert.equal(j.length, 1, 'one rtc_joined for the page');
    assert.ok(server.events('rtc_connected').some((e) => e.identity === 'browser' && e.pc === 'subscriber'), 'subscriber PC connected');
  });

  test('the caller hears what the page publishes', async () => {
    assert.equal(await page.evaluate(() => window.room?.state), 'connected', 'the page is in the room');
    const earlier = phone.heardSince(Date.now() - 1000);
    assert.ok(toneShare(earlier, 8000, 1000) < 0.05, `1 kHz before publishing: ${toneShare(earlier, 8000, 1000)}`);
    const pub = await inPage(() => window.publishTone(1000));
    process.stdout.write(`published ${pub.sid} (${pub.mime}) in ${Math.round(pub.ms)} ms\n`);
    assert.match(pub.sid, /^TR_/);
    assert.equal(pub.mime, 'audio/opus');
    await waitUntil(async () => (await rooms.getParticipant(ROOM, 'browser')).tracks.length === 1, { what: 'track published' });
    await waitUntil(() => server.events('rtc_connected').some((e) => e.identity === 'browser' && e.pc === 'publisher'), {
      what: 'publisher PC connected',
    });
    await sleep(1500);
    const t1 = Date.now();
    await sleep(1500);
    const heard = phone.heardSince(t1);
    assert.ok(heard.length > 8000, `the phone heard ${heard.length} samples`);
    const share = toneShare(heard, 8000, 1000);
    process.stdout.write(`1 kHz is ${(share * 100).toFixed(1)} % of what the phone heard\n`);
    assert.ok(share > 0.8, `1 kHz is ${(share * 100).toFixed(1)} % of what the phone heard`);
    assert.ok(server.events('rtc_track_subscribed').some((e) => e.identity === 'browser'), 'the page was told its track is heard');
  });

  test('the page leaves, the call goes on without it, and the page said nothing unexpected', async () => {
    assert.equal(await page.evaluate(() => window.room?.state), 'connected', 'the page is in the room');
    await page.evaluate(() => Promise.race([window.room.disconnect(), new Promise((r) => setTimeout(r, 5000))]));
    await waitUntil(async () => !(await rooms.listParticipants(ROOM)).some((p) => p.identity === 'browser'), {
      what: 'the page gone from the room',
    });
    assert.ok(server.events('rtc_leave').some((e) => e.identity === 'browser'), 'leave received');
    const t = Date.now();
    await sleep(500);
    const later = phone.heardSince(t);
    assert.ok(toneShare(later, 8000, 1000) < 0.05, `the phone still hears 1 kHz: ${toneShare(later, 8000, 1000)}`);
    assert.ok((await rooms.listParticipants(ROOM)).some((p) => p.kind === 3), 'the caller is still in the room');
    assert.ok(!phone.byeFromServer, 'the call was not ended');
    await phone.hangup();
    const unexpected = [
      ...consoleLines.filter((l) => l.type === 'error' && !expectedError(l)).map((l) => l.text),
      ...pageErrors,
    ];
    assert.deepEqual(unexpected, [], 'errors on the page');
  });
  test('with a LiveKit agent in the room, the page hears the caller and the agent, and both hear the page', async () => {
    const fromLine = consoleLines.length;
    const fromError = pageErrors.length;
    // A worker registered without a name takes the rooms with no explicit
    // agent; its job's agent joins with the assignment's token (kind AGENT),
    // on LiveKit's Node SDK, as a LiveKit agent does.
    const worker = await StubWorker.connect(server, { agentName: '' });
    const agent = new Room();
    const agentTracks = new Map();
    agent.on(RoomEvent.TrackSubscribed, (track, _pub, p) => agentTracks.set(p.identity, track));
    let tone = null;
    phone = new Phone(server, { number: NUMBER, toneHz: 440 });
    try {
      const calling = phone.call();
      const req = await worker.next('availability', { timeoutMs: 10000 });
      worker.accept(req.job, { identity: 'agent-browser', name: 'Agent' });
      const asg = await worker.next('assignment');
      await calling;
      const url = `ws://127.0.0.1:${server.httpPort}`;
      await agent.connect(url, asg.token, { autoSubscribe: true, dynacast: false });
      tone = publishTone(agent, 700);
      await tone.published;
      await waitUntil(async () => (await rooms.getParticipant(ROOM, 'agent-browser')).tracks.length === 1, { what: "the agent's track published" });

      await inPage((url, jwt) => window.join(url, jwt), url, await token('browser'));
      const caller = await inPage(() => window.hear('^sip_'));
      const fromAgent = await inPage(() => window.hear('^agent-browser$'));
      process.stdout.write(`the page heard the caller at ${caller.peakHz.toFixed(1)} Hz, the agent at ${fromAgent.peakHz.toFixed(1)} Hz\n`);
      assert.ok(Math.abs(caller.peakHz - 440) < 10, `the loudest frequency of the caller's track is ${caller.peakHz} Hz`);
      assert.ok(Math.abs(fromAgent.peakHz - 700) < 10, `the loudest frequency of the agent's track is ${fromAgent.peakHz} Hz`);
      assert.ok(fromAgent.peakDb > -50, `the agent is heard at ${fromAgent.peakDb} dB`);
      const share = toneShare(fromAgent.pcm, fromAgent.rate, 700);
      assert.ok(share > 0.5, `700 Hz is ${(share * 100).toFixed(1)} % of what the page heard from the agent`);
      assert.ok(
        fromAgent.remote.some((p) => p.identity === 'agent-browser' && p.kind === 4),
        `the agent, kind AGENT: ${JSON.stringify(fromAgent.remote)}`,
      );

      const pub = await inPage(() => window.publishTone(1000));
      assert.equal(pub.mime, 'audio/opus');
      const track = await waitUntil(() => agentTracks.get('browser'), { timeoutMs: 10000, what: "the page's track at the agent" });
      await sleep(1000);
      const t1 = Date.now();
      const pcm = await listen(track, 1500);
      assert.ok(pcm.length > 48000, `the agent heard ${pcm.length} samples of the page`);
      const atAgent = toneShare(pcm, 48000, 1000);
      assert.ok(atAgent > 0.5, `1 kHz is ${(atAgent * 100).toFixed(1)} % of what the agent heard from the page`);
      const heard = phone.heardSince(t1);
      assert.ok(heard.length > 8000, `the phone heard ${heard.length} samples`);
      const agentShare = toneShare(heard, 8000, 700);
      const pageShare = toneShare(heard, 8000, 1000);
      process.stdout.write(`the phone: 700 Hz ${(agentShare * 100).toFixed(1)} %, 1 kHz ${(pageShare * 100).toFixed(1)} %\n`);
      assert.ok(agentShare > 0.15, `700 Hz (the agent) is ${(agentShare * 100).toFixed(1)} % of what the phone heard`);
      assert.ok(pageShare > 0.15, `1 kHz (the page) is ${(pageShare * 100).toFixed(1)} % of what the phone heard`);
    } finally {
      await tone?.stop();
      await agent.disconnect().catch(() => {});
      await worker.close();
      await page.evaluate(() => Promise.race([window.room?.disconnect(), new Promise((r) => setTimeout(r, 5000))]));
      await phone.hangup();
    }
    const unexpected = [
      ...consoleLines.slice(fromLine).filter((l) => l.type === 'error' && !expectedError(l)).map((l) => l.text),
      ...pageErrors.slice(fromError),
    ];
    assert.deepEqual(unexpected, [], 'errors on the page');
  });
});
