// External bots: a dispatch rule whose roomConfig.agents[0].agentName is a
// ws:// URL (made with the real SipClient and @livekit/protocol's
// RoomConfiguration) has voxgate open a Twilio Media Streams WebSocket to
// that bot for each call, as a Pipecat bot with its Twilio serializer
// expects: connected, start with the call's ids and parameters, the
// caller's audio every 20 ms, dtmf, stop. The bot here is a node
// WebSocketServer: it plays audio to the caller, sets marks and clears, and
// hangs up by closing its socket. A bot nobody answers for ends the call.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import { SipClient } from 'livekit-server-sdk';
import { RoomAgentDispatch, RoomConfiguration } from '@livekit/protocol';
import { startServer, sipp, runSipp, waitUntil, pickPort, sleep, API_KEY, API_SECRET, describeError } from './helpers.mjs';

const BOT_NUMBER = '+15550007001';
const DTMF_NUMBER = '+15550007002';
const PIN_NUMBER = '+15550007003';
const DOWN_NUMBER = '+15550007004';
const BAD_NUMBER = '+15550007005';
const CALLER = '+15552227777';

function ulawToLinear(u) {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function linearToUlaw(s) {
  let sign = 0;
  if (s < 0) {
    sign = 0x80;
    s = -s;
  }
  s = Math.min(s, 32635) + 0x84;
  let e = 7;
  for (let mask = 0x4000; (s & mask) === 0 && e > 0; mask >>= 1) e--;
  return ~(sign | (e << 4) | ((s >> (e + 3)) & 0x0f)) & 0xff;
}

function rms(buf) {
  let e = 0;
  for (const b of buf) e += ulawToLinear(b) ** 2;
  return Math.sqrt(e / Math.max(1, buf.length));
}

// ms of a 1 kHz tone as mu-law
function toneUlaw(ms) {
  const buf = Buffer.alloc(ms * 8);
  for (let i = 0; i < buf.length; i++) buf[i] = linearToUlaw(Math.round(6000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)));
  return buf;
}

const agentsFor = (url) => new RoomConfiguration({ agents: [new RoomAgentDispatch({ agentName: url })] });

// One WebSocket voxgate opened: every frame it sent, parsed, with its
// arrival time; how it closed.
class BotConn {
  constructor(ws, req) {
    this.ws = ws;
    this.url = req.url;
    this.userAgent = req.headers['user-agent'];
    this.frames = [];
    this.closed = null;
    this.waiters = new Set();
    ws.on('message', (data, isBinary) => {
      let m;
      try {
        m = isBinary ? { binary: true } : JSON.parse(String(data));
      } catch {
        m = { unparsed: String(data) };
      }
      this.frames.push({ at: Date.now(), m });
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { at: Date.now(), code, reason: String(reason) };
      this.notify();
    });
  }

  notify() {
    for (const w of this.waiters) w();
  }

  // resolves with fn(this) once it is truthy
  until(fn, what, timeoutMs = 8000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = fn(this);
        if (!v) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(v);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`bot: ${what} not seen within ${timeoutMs} ms; got ${this.events().join(' ')}${this.closed ? ` closed ${this.closed.code}` : ''}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  events() {
    return [...new Set(this.frames.map((f) => f.m.event ?? '?'))];
  }

  of(event) {
    return this.frames.filter((f) => f.m.event === event);
  }

  send(o) {
    this.ws.send(typeof o === 'string' ? o : JSON.stringify(o));
  }

  // audio to play, in 20 ms media frames as Pipecat sends them
  play(streamSid, ulaw) {
    for (let i = 0; i < ulaw.length; i += 160) {
      this.send({ event: 'media', streamSid, media: { payload: ulaw.subarray(i, i + 160).toString('base64') } });
    }
  }
}

describe('external bots over Twilio Media Streams', { timeout: 90000 }, () => {
  let server;
  let sip;
  let wss;
  let botUrl;
  const conns = [];
  const connWaiters = new Set();

  // the n-th connection (0-based), once it is there
  const connection = (n, timeoutMs = 8000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (conns.length <= n) return false;
        connWaiters.delete(check);
        clearTimeout(timer);
        resolve(conns[n]);
        return true;
      };
      const timer = setTimeout(() => {
        connWaiters.delete(check);
        reject(new Error(`no connection #${n + 1} to the bot within ${timeoutMs} ms\n${server.logTail()}`));
      }, timeoutMs);
      if (!check()) connWaiters.add(check);
    });

  async function trunkAndRule(number, rule, url) {
    const trunk = await sip.createSipInboundTrunk(`bot ${number}`, [number]);
    return sip.createSipDispatchRule(rule, { trunkIds: [trunk.sipTrunkId], roomConfig: agentsFor(url) });
  }

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', (ws, req) => {
      conns.push(new BotConn(ws, req));
      for (const w of connWaiters) w();
    });
    botUrl = `ws://127.0.0.1:${wss.address().port}/bot`;
    server = await startServer({ defaultRoute: false });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
  });

  after(async () => {
    for (const c of wss?.clients ?? []) c.terminate();
    wss?.close();
    if (server && !server.exited) await server.stop();
  });

  test('a rule names its bot by a ws:// URL in roomConfig.agents; a bad one is refused', async () => {
    const rule = await trunkAndRule(BOT_NUMBER, { type: 'individual', roomPrefix: 'bot' }, botUrl);
    assert.equal(rule.roomConfig?.agents?.[0]?.agentName, botUrl, 'the rule keeps the URL');
    const listed = (await sip.listSipDispatchRule()).find((r) => r.sipDispatchRuleId === rule.sipDispatchRuleId);
    assert.equal(listed?.roomConfig?.agents?.[0]?.agentName, botUrl, 'ListSIPDispatchRule shows it');
    const refused = (e) => {
      assert.equal(e.code, 'invalid_argument', describeError(e));
      assert.match(e.message, /agentName/, describeError(e));
      return true;
    };
    listed.roomConfig = agentsFor('wss://');
    await assert.rejects(sip.updateSipDispatchRule(listed.sipDispatchRuleId, listed), refused, 'UpdateSIPDispatchRule checks it too');
    const kept = (await sip.listSipDispatchRule()).find((r) => r.sipDispatchRuleId === rule.sipDispatchRuleId);
    assert.equal(kept.roomConfig?.agents?.[0]?.agentName, botUrl, 'the refused update changed nothing');

    const trunk = await sip.createSipInboundTrunk('bad bot', [BAD_NUMBER]);
    await assert.rejects(
      sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'bad' }, { trunkIds: [trunk.sipTrunkId], roomConfig: agentsFor('ws://bad host/bot') }),
      refused,
    );
  });

  test('the bot gets connected, start and the caller\'s audio; plays, marks, clears and hangs up', async () => {
    const call = sipp(server, 'lk_uac_wait_bye.xml', { label: 'bot-call', service: BOT_NUMBER, caller: CALLER, timeoutS: 25 });
    try {
      const bot = await Promise.race([
        connection(0),
        call.done.then((r) => {
          throw new Error(`sipp ended before the bot was called: ${r.why}`);
        }),
      ]);
      assert.equal(bot.url, '/bot', 'the URL\'s path');
      assert.equal(bot.userAgent, 'voxgate');

      // connected, then start, as Twilio sends them
      await bot.until((b) => b.of('start').length, 'start');
      const [first, second] = bot.frames.map((f) => f.m);
      assert.deepEqual(first, { event: 'connected', protocol: 'Call', version: '1.0.0' });
      assert.equal(second.event, 'start');
      const start = second.start;
      assert.equal(second.sequenceNumber, '1');
      assert.match(start.streamSid, /^MZ[0-9a-f]{32}$/);
      assert.equal(second.streamSid, start.streamSid);
      assert.match(start.accountSid, /^AC[0-9a-f]{32}$/);
      assert.deepEqual(start.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
      assert.deepEqual(start.tracks, ['inbound']);
      const routed = server.events('routed').at(-1);
      assert.equal(start.callSid, routed.call_id, 'callSid is the call\'s id in the logs');
      assert.equal(routed.agent, botUrl, 'the routed line names the bot');
      assert.equal(start.customParameters.From, CALLER);
      assert.equal(start.customParameters.To, BOT_NUMBER);
      assert.match(start.customParameters.Room, /^bot_/);
      assert.equal(start.customParameters.Participant, `sip_${CALLER}`);
      const sid = start.streamSid;

      // the caller's audio: numbered 20 ms frames carrying SIPp's tone
      const media = await bot.until((b) => (b.of('media').length >= 100 ? b.of('media') : null), '100 media frames', 10000);
      media.slice(0, 100).forEach((f, i) => {
        const m = f.m;
        assert.equal(m.streamSid, sid);
        assert.equal(m.sequenceNumber, String(i + 2), 'sequence numbers follow start');
        assert.equal(m.media.chunk, String(i + 1));
        assert.equal(m.media.timestamp, String(i * 20));
        assert.equal(m.media.track, 'inbound');
        assert.equal(Buffer.from(m.media.payload, 'base64').length, 160);
      });
      const span = media[99].at - media[49].at;
      assert.ok(span > 800 && span < 1300, `50 frames in ${span} ms, about one every 20 ms`);
      const levels = media.slice(0, 100).map((f) => rms(Buffer.from(f.m.media.payload, 'base64')));
      const loud = levels.filter((l) => l > 3000).length;
      const quiet = levels.filter((l) => l < 100).length;
      assert.ok(loud >= 30 && quiet >= 20, `the tone, half on, half off: ${loud} loud and ${quiet} quiet frames`);

      // malformed frames are skipped, not fatal
      bot.send('not JSON');
      bot.send({ event: 'media', streamSid: sid, media: {} });
      bot.send({ event: 'something-new', streamSid: sid });

      // 1 s of audio, then a mark: it comes back once that has played
      bot.play(sid, toneUlaw(1000));
      const marked = Date.now();
      bot.send({ event: 'mark', streamSid: sid, mark: { name: 'greeting-done' } });
      const m1 = await bot.until((b) => b.of('mark')[0], 'the first mark back', 5000);
      const took = m1.at - marked;
      assert.ok(took >= 900 && took < 2000, `mark back ${took} ms after 1 s of audio`);
      assert.equal(m1.m.streamSid, sid);
      assert.deepEqual(m1.m.mark, { name: 'greeting-done' });
      assert.match(m1.m.sequenceNumber, /^\d+$/);

      // 5 s more and a mark; clear after 200 ms returns the mark at once
      bot.play(sid, toneUlaw(5000));
      bot.send({ event: 'mark', streamSid: sid, mark: { name: 'long-answer' } });
      await sleep(200);
      const cleared = Date.now();
      bot.send({ event: 'clear', streamSid: sid });
      const m2 = await bot.until((b) => b.of('mark')[1], 'the second mark back', 3000);
      assert.deepEqual(m2.m.mark, { name: 'long-answer' });
      assert.ok(m2.at - cleared < 500, `mark back ${m2.at - cleared} ms after clear`);
      assert.equal(server.events('bot_bad_frame').length, 2, 'two bad frames logged');

      // the bot hangs up by closing its socket: the caller gets a BYE
      await sleep(300);
      const closedAt = Date.now();
      bot.ws.close(1000, 'goodbye');
      const res = await call.done;
      assert.equal(res.code, 0, `sipp waits for the BYE: ${res.why}`);
      assert.ok(res.received.includes('BYE'), `sipp received ${res.received.join(' ')}`);
      assert.ok(Date.now() - closedAt < 3000, 'the BYE follows the close at once');

      const end = await waitUntil(() => server.events('call_end').find((e) => e.call_id === start.callSid), { what: 'call_end' });
      assert.equal(end.by, 'agent');
      assert.equal(end.reason, 'bot closed the stream');
      const ended = await waitUntil(() => server.events('bot_ended').find((e) => e.call_id === start.callSid), { what: 'bot_ended' });
      assert.equal(ended.reason, 'bot closed the stream');
      assert.equal(ended.stream, sid);
      assert.equal(ended.frames_from_bot, 50 + 250, 'every media frame the bot sent');
      assert.ok(ended.played_ms >= 1100 && ended.played_ms <= 1800, `played_ms ${ended.played_ms}: the 1 s and what ran before the clear`);
      assert.ok(ended.cleared_ms >= 4000, `cleared_ms ${ended.cleared_ms}`);
      assert.equal(ended.marks, 2);
      assert.equal(ended.marks_returned, 2);
      assert.equal(ended.clears, 1);
      assert.equal(ended.bad_frames, 2);
      assert.ok(ended.frames_to_bot >= 100, `frames_to_bot ${ended.frames_to_bot}`);
      assert.equal(ended.dropped_to_bot, 0);
      assert.equal(ended.dropped_from_bot_ms, 0);
      // what the caller was sent is what the bot played, frame for frame
      assert.ok(Math.abs(end.packets_out - ended.played_ms / 20) <= 2, `packets_out ${end.packets_out} for played_ms ${ended.played_ms}`);
      assert.ok(end.packets_in > 100, `packets_in ${end.packets_in}`);
    } finally {
      call.kill();
    }
  });

  test('the caller\'s keys reach the bot as dtmf; the caller hanging up sends stop', async () => {
    await trunkAndRule(DTMF_NUMBER, { type: 'direct', roomName: 'dtmf-room' }, `${botUrl}?leg=dtmf`);
    const n = conns.length;
    const call = sipp(server, 'lk_uac_pin.xml', { label: 'bot-dtmf', service: DTMF_NUMBER, caller: CALLER, timeoutS: 20 });
    try {
      const bot = await connection(n);
      assert.equal(bot.url, '/bot?leg=dtmf', 'the query goes along');
      const digits = await bot.until((b) => (b.of('dtmf').length >= 5 ? b.of('dtmf') : null), 'five dtmf frames', 8000);
      assert.deepEqual(digits.map((f) => f.m.dtmf.digit), ['1', '2', '3', '4', '#']);
      const sid = bot.of('start')[0].m.start.streamSid;
      for (const f of digits) {
        assert.equal(f.m.streamSid, sid);
        assert.equal(f.m.dtmf.track, 'inbound_track');
      }
      bot.ws.close();
      const res = await call.done;
      assert.equal(res.code, 0, `sipp gets a BYE: ${res.why}`);
    } finally {
      call.kill();
    }

    // the caller hangs up: stop, then the socket closes
    const m = conns.length;
    const res = await runSipp(server, 'lk_uac_bye.xml', { label: 'bot-bye', service: BOT_NUMBER, caller: CALLER, durationMs: 1500 });
    assert.equal(res.code, 0, `sipp hangs up: ${res.why}`);
    const bot = await connection(m);
    await bot.until((b) => b.closed, 'the socket closing');
    const start = bot.of('start')[0].m;
    const stop = bot.frames.at(-1).m;
    assert.equal(stop.event, 'stop', `the last frame: ${JSON.stringify(stop)}`);
    assert.equal(stop.streamSid, start.streamSid);
    assert.deepEqual(stop.stop, { accountSid: start.start.accountSid, callSid: start.start.callSid });
    const before = bot.frames.at(-2).m;
    assert.equal(Number(stop.sequenceNumber), Number(before.sequenceNumber) + 1);
    assert.equal(bot.closed.code, 1000);
    const ended = await waitUntil(() => server.events('bot_ended').find((e) => e.call_id === start.start.callSid), { what: 'bot_ended' });
    assert.equal(ended.reason, 'call ended');
    const end = server.events('call_end').find((e) => e.call_id === start.start.callSid);
    assert.equal(end.by, 'caller');
  });

  test('with a PIN, the bot takes the call once the PIN is right', async () => {
    await trunkAndRule(PIN_NUMBER, { type: 'direct', roomName: 'vault', pin: '1234' }, botUrl);
    const n = conns.length;
    const call = sipp(server, 'lk_uac_pin.xml', { label: 'bot-pin', service: PIN_NUMBER, caller: CALLER, timeoutS: 20 });
    try {
      const bot = await connection(n);
      await bot.until((b) => b.of('start').length, 'start');
      assert.ok(server.events('pin_accepted').length >= 1, 'the PIN came first');
      assert.equal(bot.of('dtmf').length, 0, 'the PIN is not the bot\'s');
      bot.ws.close();
      const res = await call.done;
      assert.equal(res.code, 0, `sipp gets a BYE: ${res.why}`);
    } finally {
      call.kill();
    }
  });

  test('a bot nobody answers for: the call is answered, then hung up with the reason', async () => {
    const port = await pickPort();
    const url = `ws://127.0.0.1:${port}/nobody`;
    await trunkAndRule(DOWN_NUMBER, { type: 'individual', roomPrefix: 'down' }, url);
    const t0 = Date.now();
    const res = await runSipp(server, 'lk_uac_quick_bye.xml', { label: 'bot-down', service: DOWN_NUMBER, caller: CALLER, timeoutS: 15 });
    assert.equal(res.code, 0, `sipp gets a BYE: ${res.why}`);
    assert.deepEqual(res.received.filter((r) => r === '200' || r === 'BYE'), ['200', 'BYE']);
    assert.ok(Date.now() - t0 < 5000, `hung up after ${Date.now() - t0} ms`);
    const failed = server.events('bot_connect_failed').at(-1);
    assert.equal(failed?.url, url);
    assert.match(failed.reason, /^bot unreachable: Connection refused$/);
    const end = await waitUntil(() => server.events('call_end').find((e) => e.call_id === failed.call_id), { what: 'call_end' });
    assert.equal(end.by, 'agent');
    assert.equal(end.reason, 'bot unreachable: Connection refused');
  });
});
